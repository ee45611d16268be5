/* fedc-shard-idx: splits an IDX image set (MNIST, Fashion-MNIST) into N
 * shards, one per node, written as IDX pairs that
 * `fedc-node dataset add --type idx` accepts.
 *
 *   fedc-shard-idx --images FILE --labels FILE --shards N --out DIR
 *                  [--split iid|noniid] [--seed S] [--major-share P]
 *                  [--samples M] [--prefix NAME] [--plain]
 *
 * The input is read (and checked) by the node's own IDX reader
 * (node/dataset_idx.c through fedc_node_core), so a file this tool accepts
 * is one a node accepts, and its errors are the node's. The scheme, the seed
 * and the output names are documented in examples/mlp/README.md
 * ("Sharding"); keep the two in step.
 *
 * Randomness: one stream of the SDK's fedc_rng (xoshiro256**, the same
 * numbers on every machine) seeded with --seed, consumed in this order:
 *   1. one Fisher-Yates shuffle of all row indices; the first M rows of it
 *      are the subset used (M = --samples, default all), in that order;
 *   2. iid: shard k takes subset positions [floor(kM/N), floor((k+1)M/N));
 *      noniid: shard k's two classes are 2k mod C and 2k+1 mod C; class c's
 *      rows (in subset order) are dealt to the shards in proportion to
 *      w[k][c] = P/2 for the shard's two classes and (1-P)/(C-2) for the
 *      others (largest-remainder rounding, ties to the lower shard), then
 *      each shard's rows are shuffled, shard 0 first.
 * The same input, options and seed give the same files, byte for byte (zlib
 * writes gzip headers without a time stamp).
 *
 * Exit status: 0 done, 1 the input or an output failed, 2 bad usage. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "dataset_idx.h"
#include "fedc/err.h"
#include "fedc/nn/rng.h"

#define SHARD_MAX 1024         /* shards */
#define SHARD_MAX_CLASSES 256  /* IDX labels are bytes */
#define SHARD_MAX_DIMS 7       /* dimensions of one image (IDX: 8 with the count) */

enum split { SPLIT_IID, SPLIT_NONIID };

struct shard_opts {
	const char *images, *labels, *out_dir, *prefix;
	uint32_t n_shards;
	enum split split;
	uint64_t seed;
	double major_share;
	uint64_t samples; /* 0: all */
	bool plain;
};

/* One shard: indices into the loaded set. */
struct shard {
	uint32_t *rows;
	size_t n, cap;
};

static const char *prog = "fedc-shard-idx";

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fedc-shard-idx --images FILE --labels FILE --shards N --out DIR\n"
		"                      [--split iid|noniid] [--seed S] [--major-share P]\n"
		"                      [--samples M] [--prefix NAME] [--plain]\n"
		"\n"
		"Splits an IDX image set (plain or gzip'd) into N shards written as\n"
		"DIR/NAME-<k>-images-idx<d>-ubyte.gz and DIR/NAME-<k>-labels-idx1-ubyte.gz\n"
		"(k = 0 .. N-1, NAME defaults to \"shard\"; no .gz and uncompressed with --plain).\n"
		"\n"
		"  --split iid      seeded shuffle, equal shares (default)\n"
		"  --split noniid   shard k holds mostly classes 2k and 2k+1 (mod the number of\n"
		"                   classes): a share P of its rows on a balanced set, the rest\n"
		"                   spread evenly over the other classes\n"
		"  --major-share P  P for --split noniid, 0 < P <= 1 (default 0.85)\n"
		"  --seed S         seeds every shuffle (default 0); same seed, same files\n"
		"  --samples M      use a seeded random subset of M images (default all)\n"
		"\n"
		"See examples/mlp/README.md, \"Sharding\".\n");
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* 0 on success, 2 (usage) with a message on stderr otherwise. */
static int parse_args(int argc, char **argv, struct shard_opts *o)
{
	static const struct option longopts[] = {
		{ "images", required_argument, NULL, 'i' }, { "labels", required_argument, NULL, 'l' },
		{ "shards", required_argument, NULL, 'n' }, { "out", required_argument, NULL, 'o' },
		{ "split", required_argument, NULL, 's' },  { "seed", required_argument, NULL, 'S' },
		{ "major-share", required_argument, NULL, 'p' }, { "samples", required_argument, NULL, 'm' },
		{ "prefix", required_argument, NULL, 'P' }, { "plain", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	uint64_t v;
	char *end;
	int c;

	*o = (struct shard_opts){ .prefix = "shard", .major_share = 0.85 };
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': o->images = optarg; break;
		case 'l': o->labels = optarg; break;
		case 'o': o->out_dir = optarg; break;
		case 'P': o->prefix = optarg; break;
		case 'r': o->plain = true; break;
		case 'n':
			if (!parse_u64(optarg, SHARD_MAX, &v) || v == 0) {
				fprintf(stderr, "%s: --shards \"%s\": give a whole number from 1 to %d\n", prog, optarg,
					SHARD_MAX);
				return 2;
			}
			o->n_shards = (uint32_t)v;
			break;
		case 's':
			if (strcmp(optarg, "iid") == 0) {
				o->split = SPLIT_IID;
			} else if (strcmp(optarg, "noniid") == 0) {
				o->split = SPLIT_NONIID;
			} else {
				fprintf(stderr, "%s: --split \"%s\": give iid or noniid\n", prog, optarg);
				return 2;
			}
			break;
		case 'S':
			if (!parse_u64(optarg, UINT64_MAX, &o->seed)) {
				fprintf(stderr, "%s: --seed \"%s\": give a whole number from 0 to 2^64-1\n", prog,
					optarg);
				return 2;
			}
			break;
		case 'p':
			errno = 0;
			o->major_share = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->major_share > 0 && o->major_share <= 1)) {
				fprintf(stderr, "%s: --major-share \"%s\": give a number in (0, 1]\n", prog, optarg);
				return 2;
			}
			break;
		case 'm':
			if (!parse_u64(optarg, UINT32_MAX, &o->samples) || o->samples == 0) {
				fprintf(stderr, "%s: --samples \"%s\": give a whole number from 1 to %" PRIu32 "\n",
					prog, optarg, UINT32_MAX);
				return 2;
			}
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog, argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!o->images || !o->labels || !o->out_dir || !o->n_shards) {
		fprintf(stderr, "%s: --images, --labels, --shards and --out are required\n", prog);
		usage(stderr);
		return 2;
	}
	/* The prefix becomes part of a file name in DIR: no directories, no dot files. */
	if (!o->prefix[0] || strchr(o->prefix, '/') || o->prefix[0] == '.' || strlen(o->prefix) > 100) {
		fprintf(stderr, "%s: --prefix \"%s\": give a plain file-name prefix (no '/', not starting with '.')\n",
			prog, o->prefix);
		return 2;
	}
	return 0;
}

/* "28x28" -> {28, 28}. The node wrote it, so it parses; checked anyway. */
static bool parse_shape(const char *shape, uint32_t *dims, uint32_t *ndim)
{
	const char *p = shape;
	uint64_t v;
	char *end;

	*ndim = 0;
	while (*p) {
		if (*ndim == SHARD_MAX_DIMS || *p < '0' || *p > '9')
			return false;
		v = strtoull(p, &end, 10);
		if (v == 0 || v > UINT32_MAX || (*end && *end != 'x'))
			return false;
		dims[(*ndim)++] = (uint32_t)v;
		p = *end ? end + 1 : end;
	}
	return *ndim > 0;
}

static int shard_push(struct shard *s, uint32_t row)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint32_t *rows = realloc(s->rows, cap * sizeof(*rows));

		if (!rows)
			return -1;
		s->rows = rows;
		s->cap = cap;
	}
	s->rows[s->n++] = row;
	return 0;
}

/* Splits `count` rows among the shards in proportion to weights[k]
 * (largest remainder, ties to the lower shard): quota[k]. */
static void apportion(size_t count, const double *weights, uint32_t n, size_t *quota)
{
	double total = 0, frac[SHARD_MAX];
	size_t given = 0;

	for (uint32_t k = 0; k < n; k++)
		total += weights[k];
	for (uint32_t k = 0; k < n; k++) {
		double exact = total > 0 ? (double)count * weights[k] / total : 0;

		quota[k] = (size_t)floor(exact);
		frac[k] = exact - (double)quota[k];
		given += quota[k];
	}
	while (given < count) {
		uint32_t best = 0;

		for (uint32_t k = 1; k < n; k++)
			if (frac[k] > frac[best])
				best = k;
		quota[best]++;
		frac[best] = -1;
		given++;
	}
}

/* Deals the subset subset[0..m) to the shards (see the top of the file). */
static int deal(const struct shard_opts *o, const struct fedc_data *d, const uint32_t *subset, size_t m,
		struct fedc_rng *rng, struct shard *shards)
{
	uint32_t n = o->n_shards, n_classes = d->n_classes;
	size_t quota[SHARD_MAX];
	double weights[SHARD_MAX];
	size_t *class_n = NULL, *class_next = NULL;
	uint32_t **class_rows = NULL;
	int rc = -1;

	if (o->split == SPLIT_IID) {
		for (uint32_t k = 0; k < n; k++)
			for (size_t i = (size_t)k * m / n; i < (size_t)(k + 1) * m / n; i++)
				if (shard_push(&shards[k], subset[i]))
					return -1;
		return 0;
	}
	class_n = calloc(n_classes, sizeof(*class_n));
	class_next = calloc(n_classes, sizeof(*class_next));
	class_rows = calloc(n_classes, sizeof(*class_rows));
	if (!class_n || !class_next || !class_rows)
		goto out;
	for (size_t i = 0; i < m; i++)
		class_n[(uint32_t)d->y[subset[i]]]++;
	for (uint32_t c = 0; c < n_classes; c++)
		if (class_n[c] && !(class_rows[c] = malloc(class_n[c] * sizeof(uint32_t))))
			goto out;
	for (size_t i = 0; i < m; i++) {
		uint32_t c = (uint32_t)d->y[subset[i]];

		class_rows[c][class_next[c]++] = subset[i];
	}
	for (uint32_t c = 0; c < n_classes; c++) {
		size_t next = 0;

		for (uint32_t k = 0; k < n; k++) {
			bool major = c == (2 * k) % n_classes || c == (2 * k + 1) % n_classes;

			weights[k] = major ? o->major_share / 2 : (1 - o->major_share) / (n_classes - 2);
		}
		apportion(class_n[c], weights, n, quota);
		for (uint32_t k = 0; k < n; k++)
			for (size_t j = 0; j < quota[k]; j++)
				if (shard_push(&shards[k], class_rows[c][next++]))
					goto out;
	}
	for (uint32_t k = 0; k < n; k++)
		fedc_rng_shuffle(rng, shards[k].rows, shards[k].n);
	rc = 0;
out:
	for (uint32_t c = 0; class_rows && c < n_classes; c++)
		free(class_rows[c]);
	free(class_rows);
	free(class_n);
	free(class_next);
	return rc;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Writes one IDX file atomically (temp file in DIR, fsync, rename): a magic
 * for `ndim` dimensions of unsigned bytes, the count and `dims`, then for
 * each row `width` bytes: pixels back from x = pixel / 255, or the label. */
static int write_idx(const char *path, bool plain, const struct fedc_data *d, const struct shard *s,
		     const uint32_t *dims, uint32_t ndim, bool labels)
{
	size_t width = labels ? 1 : d->n_features;
	char tmp[4200];
	unsigned char header[4 + 4 * (SHARD_MAX_DIMS + 1)], *row = malloc(width);
	gzFile gz = NULL;
	int fd = -1, sync_fd = -1, rc = -1, zrc;
	size_t header_len = 4 + 4 * (size_t)(labels ? 1 : ndim + 1);

	snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
	if (!row) {
		fprintf(stderr, "%s: out of memory\n", prog);
		tmp[0] = '\0';
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: cannot create: %s\n", prog, tmp, strerror(errno));
		tmp[0] = '\0';
		goto out;
	}
	errno = 0;
	if ((sync_fd = dup(fd)) < 0 || fchmod(fd, 0644) != 0)
		goto io;
	/* "T": transparent, i.e. plain bytes through the same writer. */
	gz = gzdopen(fd, plain ? "wbT" : "wb6");
	if (!gz)
		goto io;
	fd = -1; /* gzclose closes it */
	gzbuffer(gz, 256u << 10);
	header[0] = header[1] = 0;
	header[2] = 0x08;
	header[3] = (unsigned char)(labels ? 1 : ndim + 1);
	put_be32(header + 4, (uint32_t)s->n);
	for (uint32_t i = 0; !labels && i < ndim; i++)
		put_be32(header + 8 + 4 * i, dims[i]);
	if (gzwrite(gz, header, (unsigned)header_len) != (int)header_len)
		goto io;
	for (size_t r = 0; r < s->n; r++) {
		const float *x = labels ? d->y + s->rows[r] : d->x + (size_t)s->rows[r] * width;

		for (size_t i = 0; i < width; i++)
			row[i] = (unsigned char)lrintf(labels ? x[i] : x[i] * 255.0f);
		if (gzwrite(gz, row, (unsigned)width) != (int)width)
			goto io;
	}
	zrc = gzclose(gz);
	gz = NULL;
	if (zrc != Z_OK || fsync(sync_fd) != 0)
		goto io;
	if (rename(tmp, path) != 0)
		goto io;
	tmp[0] = '\0';
	rc = 0;
	goto out;
io:
	fprintf(stderr, "%s: %s: write failed: %s\n", prog, path, errno ? strerror(errno) : "zlib error");
out:
	if (gz)
		gzclose(gz);
	if (fd >= 0)
		close(fd);
	if (sync_fd >= 0)
		close(sync_fd);
	if (rc && tmp[0])
		unlink(tmp);
	free(row);
	return rc;
}

/* Prints "shard-0  12000 images  classes 0=5100 1=5100 2=225 ..." to stdout. */
static void summary(const struct shard_opts *o, const struct fedc_data *d, const struct shard *s, uint32_t k)
{
	uint64_t counts[SHARD_MAX_CLASSES] = { 0 }, top1 = 0, top2 = 0;

	for (size_t r = 0; r < s->n; r++)
		counts[(uint32_t)d->y[s->rows[r]]]++;
	for (uint32_t c = 0; c < d->n_classes; c++) {
		if (counts[c] > top1) {
			top2 = top1;
			top1 = counts[c];
		} else if (counts[c] > top2) {
			top2 = counts[c];
		}
	}
	printf("%s-%" PRIu32 "  %zu images  top-2 classes %.1f%%  classes", o->prefix, k, s->n,
	       s->n ? 100.0 * (double)(top1 + top2) / (double)s->n : 0.0);
	for (uint32_t c = 0; c < d->n_classes; c++)
		printf(" %" PRIu32 "=%" PRIu64, c, counts[c]);
	printf("\n");
}

int main(int argc, char **argv)
{
	struct shard_opts o;
	struct node_dataset *ds = NULL;
	struct fedc_data data = { 0 };
	struct fedc_rng rng;
	struct shard *shards = NULL;
	uint32_t *perm = NULL, dims[SHARD_MAX_DIMS], ndim = 0;
	char path[4096];
	size_t m;
	enum fedc_err err;
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc;
	rc = 1;
	ds = calloc(1, sizeof(*ds));
	if (!ds)
		goto nomem;
	/* Inspect checks both files and sizes the load; load reads them again
	 * (hashing, as it does for a node) into x = pixel / 255 and y = label. */
	err = dataset_idx__read_files("input", o.images, o.labels, ds, &data);
	if (err) {
		fprintf(stderr, "%s: %s\n", prog, fedc_last_error()[0] ? fedc_last_error() : fedc_strerror(err));
		goto out;
	}
	if (!parse_shape(ds->shape, dims, &ndim)) {
		fprintf(stderr, "%s: %s: unexpected image shape \"%s\"\n", prog, o.images, ds->shape);
		goto out;
	}
	if (ds->n_samples > UINT32_MAX) {
		fprintf(stderr, "%s: %s: more than 2^32-1 images\n", prog, o.images);
		goto out;
	}
	m = o.samples ? (size_t)o.samples : data.n_samples;
	if (m > data.n_samples) {
		fprintf(stderr, "%s: --samples %zu: %s holds only %zu images\n", prog, m, o.images, data.n_samples);
		goto out;
	}
	if (o.n_shards > m) {
		fprintf(stderr, "%s: --shards %" PRIu32 ": more shards than the %zu images to split\n", prog,
			o.n_shards, m);
		goto out;
	}
	if (o.split == SPLIT_NONIID && data.n_classes < 3) {
		fprintf(stderr, "%s: --split noniid needs at least 3 classes; %s has %" PRIu32 "\n", prog, o.labels,
			data.n_classes);
		goto out;
	}
	if (mkdir(o.out_dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "%s: %s: cannot create the directory: %s\n", prog, o.out_dir, strerror(errno));
		goto out;
	}
	perm = malloc(data.n_samples * sizeof(*perm));
	shards = calloc(o.n_shards, sizeof(*shards));
	if (!perm || !shards)
		goto nomem;
	for (size_t i = 0; i < data.n_samples; i++)
		perm[i] = (uint32_t)i;
	fedc_rng_seed(&rng, o.seed);
	fedc_rng_shuffle(&rng, perm, data.n_samples);
	if (deal(&o, &data, perm, m, &rng, shards))
		goto nomem;
	for (uint32_t k = 0; k < o.n_shards; k++) {
		if (shards[k].n == 0) {
			fprintf(stderr, "%s: shard %" PRIu32 " would be empty: too few images (%zu) for %" PRIu32
				" shards with this split\n", prog, k, m, o.n_shards);
			goto out;
		}
	}
	for (uint32_t k = 0; k < o.n_shards; k++) {
		const char *gz = o.plain ? "" : ".gz";

		snprintf(path, sizeof(path), "%s/%s-%" PRIu32 "-images-idx%" PRIu32 "-ubyte%s", o.out_dir, o.prefix, k,
			 ndim + 1, gz);
		if (write_idx(path, o.plain, &data, &shards[k], dims, ndim, false))
			goto out;
		snprintf(path, sizeof(path), "%s/%s-%" PRIu32 "-labels-idx1-ubyte%s", o.out_dir, o.prefix, k, gz);
		if (write_idx(path, o.plain, &data, &shards[k], dims, ndim, true))
			goto out;
		summary(&o, &data, &shards[k], k);
	}
	rc = 0;
	goto out;
nomem:
	fprintf(stderr, "%s: out of memory\n", prog);
out:
	for (uint32_t k = 0; shards && k < o.n_shards; k++)
		free(shards[k].rows);
	free(shards);
	free(perm);
	dataset__free_data(&data);
	free(ds);
	return rc;
}
