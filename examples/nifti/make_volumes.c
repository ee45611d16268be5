/* fedc-make-volumes: writes synthetic brain-like volumes for the NIfTI
 * example, in the layout `fedc-node dataset add --type nifti` reads:
 *
 *   fedc-make-volumes --out DIR [--nodes N] [--subjects S] [--side L] [--seed K]
 *
 * For node k (from 0): DIR/node<k>/sub-<k><NNN>/T1.nii.gz (float32, L^3
 * voxels: smooth background and noise, plus, for class 1, a bright
 * Gaussian blob at a random place) and seg.nii.gz (uint8: 1 inside the
 * blob, 0 elsewhere; all 0 for class 0), and DIR/node<k>-demographics.csv
 * with columns subject,age,sex,label (label 1 = has the blob; age and sex
 * drawn at random, sex 0/1), plus two rows of subjects without a folder.
 * Classes alternate (subject i has class i % 2). Defaults: N 2, S 40, L 16,
 * K 1. The same options give the same files.
 *
 * Exit status: 0 done, 1 an output failed, 2 bad usage. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nifti2_io.h>

#include "fedc/num.h"

struct make_opts {
	const char *out;
	uint64_t nodes, subjects, side, seed;
};

static uint64_t rng_state;

static double uniform(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "fedc-make-volumes: %s\n", why);
	fprintf(stderr, "usage: fedc-make-volumes --out DIR [--nodes N] [--subjects S] [--side L] [--seed K]\n");
	return 2;
}

static int parse(int argc, char **argv, struct make_opts *o)
{
	static const struct option options[] = {
		{ "out", required_argument, NULL, 'o' },  { "nodes", required_argument, NULL, 'n' },
		{ "subjects", required_argument, NULL, 's' }, { "side", required_argument, NULL, 'l' },
		{ "seed", required_argument, NULL, 'k' }, { NULL, 0, NULL, 0 },
	};
	int opt;

	*o = (struct make_opts){ .nodes = 2, .subjects = 40, .side = 16, .seed = 1 };
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		enum fedc_err rc = FEDC_OK;

		switch (opt) {
		case 'o': o->out = optarg; break;
		case 'n': rc = fedc_num_arg_u64("--nodes", optarg, 1, 16, &o->nodes); break;
		case 's': rc = fedc_num_arg_u64("--subjects", optarg, 2, 999, &o->subjects); break;
		case 'l': rc = fedc_num_arg_u64("--side", optarg, 4, 128, &o->side); break;
		case 'k': rc = fedc_num_arg_u64("--seed", optarg, 0, UINT32_MAX, &o->seed); break;
		default: return usage(NULL);
		}
		if (rc)
			return usage(fedc_last_error());
	}
	if (optind != argc || !o->out)
		return usage("--out is required");
	return -1;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "fedc-make-volumes: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

/* Writes `nim` (owned, freed here) as `path`. */
static int write_nim(nifti_image *nim, const char *path)
{
	int code = 0;

	if (!nim)
		return 1;
	if (nifti_set_filenames(nim, path, 0, 1) != 0) {
		fprintf(stderr, "fedc-make-volumes: %s: cannot name the file\n", path);
		code = 1;
	} else {
		nifti_image_write(nim);
	}
	nifti_image_free(nim);
	return code;
}

/* The volume and its mask for one subject: a blob of radius L/5 when
 * `blob`, centred at random in the middle half of the volume. */
static int write_subject(const char *dir, uint32_t side, int blob)
{
	const int64_t dims[8] = { 3, side, side, side, 1, 1, 1, 1 };
	nifti_image *img = nifti_make_new_nim(dims, DT_FLOAT32, 1), *seg = nifti_make_new_nim(dims, DT_UINT8, 1);
	double c[3], r = side / 5.0;
	char path[4200];
	int code;

	if (!img || !seg) {
		nifti_image_free(img);
		nifti_image_free(seg);
		return 1;
	}
	for (int a = 0; a < 3; a++)
		c[a] = side * (0.3 + 0.4 * uniform());
	for (uint32_t z = 0, i = 0; z < side; z++) {
		for (uint32_t y = 0; y < side; y++) {
			for (uint32_t x = 0; x < side; x++, i++) {
				double d2 = (x - c[0]) * (x - c[0]) + (y - c[1]) * (y - c[1]) + (z - c[2]) * (z - c[2]);
				double v = 100 + 20 * sin(x * 0.3) + 10 * cos(y * 0.2 + z * 0.1) + 15 * (uniform() - 0.5);

				if (blob)
					v += 80 * exp(-d2 / (2 * r * r));
				((float *)img->data)[i] = (float)v;
				((uint8_t *)seg->data)[i] = (uint8_t)(blob && d2 <= r * r);
			}
		}
	}
	snprintf(path, sizeof(path), "%s/T1.nii.gz", dir);
	code = write_nim(img, path);
	snprintf(path, sizeof(path), "%s/seg.nii.gz", dir);
	code |= write_nim(seg, path);
	return code;
}

static int write_node(const struct make_opts *o, uint64_t k)
{
	char dir[4096], sub[4160], csv[4160];
	FILE *f;
	int code;

	snprintf(dir, sizeof(dir), "%s/node%" PRIu64, o->out, k);
	snprintf(csv, sizeof(csv), "%s/node%" PRIu64 "-demographics.csv", o->out, k);
	code = make_dir(dir);
	f = code ? NULL : fopen(csv, "w");
	if (!f)
		return 1;
	fprintf(f, "subject,age,sex,label\n");
	for (uint64_t i = 0; !code && i < o->subjects + 2; i++) {
		int blob = (int)(i % 2);

		/* the last two rows: subjects without a folder (not imaged) */
		fprintf(f, "sub-%" PRIu64 "%03" PRIu64 ",%d,%d,%d\n", k, i, 20 + (int)(60 * uniform()), uniform() < 0.5,
			blob);
		if (i >= o->subjects)
			continue;
		snprintf(sub, sizeof(sub), "%s/sub-%" PRIu64 "%03" PRIu64, dir, k, i);
		code = make_dir(sub);
		if (!code)
			code = write_subject(sub, (uint32_t)o->side, blob);
	}
	if (fclose(f) != 0)
		code = 1;
	return code;
}

int main(int argc, char **argv)
{
	struct make_opts o;
	int code = parse(argc, argv, &o);

	if (code >= 0)
		return code;
	rng_state = o.seed;
	code = make_dir(o.out);
	for (uint64_t k = 0; !code && k < o.nodes; k++)
		code = write_node(&o, k);
	if (!code)
		printf("wrote %" PRIu64 " nodes of %" PRIu64 " subjects (%" PRIu64 "^3 voxels, T1 and seg) under %s\n",
		       o.nodes, o.subjects, o.side, o.out);
	return code;
}
