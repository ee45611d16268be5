/* fedc-make-image-folders: writes part of an IDX image set (MNIST,
 * Fashion-MNIST) as PNG files in class folders, one folder per node, the
 * layout `fedc-node dataset add --type images` reads:
 *
 *   fedc-make-image-folders --images FILE --labels FILE --out DIR
 *                           [--nodes N] [--per-node M] [--first K]
 *
 * Node k (from 0) gets rows [K + k*M, K + (k+1)*M) of the set, written as
 * DIR/node<k>/<label>/<row>.png (8-bit grey, the IDX pixels unchanged;
 * <row> zero-padded to 5 digits). Labels are single digits, so the
 * byte-wise order of the class folders is the label order. Defaults: N 2,
 * M 2000, K 0. The input is read by the node's own IDX reader.
 *
 * Exit status: 0 done, 1 the input or an output failed, 2 bad usage. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <png.h>

#include "dataset_idx.h"
#include "fedc/num.h"

struct make_opts {
	const char *images, *labels, *out;
	uint64_t nodes, per_node, first;
};

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "fedc-make-image-folders: %s\n", why);
	fprintf(stderr, "usage: fedc-make-image-folders --images FILE --labels FILE --out DIR [--nodes N] "
			"[--per-node M] [--first K]\n");
	return 2;
}

static int parse(int argc, char **argv, struct make_opts *o)
{
	static const struct option options[] = {
		{ "images", required_argument, NULL, 'i' }, { "labels", required_argument, NULL, 'l' },
		{ "out", required_argument, NULL, 'o' },    { "nodes", required_argument, NULL, 'n' },
		{ "per-node", required_argument, NULL, 'm' }, { "first", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	*o = (struct make_opts){ .nodes = 2, .per_node = 2000 };
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		enum fedc_err rc = FEDC_OK;

		switch (opt) {
		case 'i': o->images = optarg; break;
		case 'l': o->labels = optarg; break;
		case 'o': o->out = optarg; break;
		case 'n': rc = fedc_num_arg_u64("--nodes", optarg, 1, 64, &o->nodes); break;
		case 'm': rc = fedc_num_arg_u64("--per-node", optarg, 1, 1000000, &o->per_node); break;
		case 'f': rc = fedc_num_arg_u64("--first", optarg, 0, 100000000, &o->first); break;
		default: return usage(NULL);
		}
		if (rc)
			return usage(fedc_last_error());
	}
	if (optind != argc || !o->images || !o->labels || !o->out)
		return usage("--images, --labels and --out are required");
	return -1;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "fedc-make-image-folders: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

static int write_png(const char *path, const float *x, uint32_t side)
{
	uint8_t pixels[256 * 256];
	png_image img;

	for (uint32_t i = 0; i < side * side; i++)
		pixels[i] = (uint8_t)(x[i] * 255.0f + 0.5f); /* the reader gave pixel / 255 */
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = side;
	img.height = side;
	img.format = PNG_FORMAT_GRAY;
	if (!png_image_write_to_file(&img, path, 0, pixels, 0, NULL)) {
		fprintf(stderr, "fedc-make-image-folders: %s: %s\n", path, img.message);
		return 1;
	}
	return 0;
}

static int write_node(const struct make_opts *o, const struct fedc_data *d, uint32_t side, uint64_t k)
{
	char dir[4096], path[4200];
	int code = 0;

	snprintf(dir, sizeof(dir), "%s/node%" PRIu64, o->out, k);
	code = make_dir(dir);
	for (uint64_t r = o->first + k * o->per_node; !code && r < o->first + (k + 1) * o->per_node; r++) {
		unsigned label = (unsigned)d->y[r];

		snprintf(path, sizeof(path), "%s/%u", dir, label);
		code = make_dir(path);
		snprintf(path, sizeof(path), "%s/%u/%05" PRIu64 ".png", dir, label, r);
		if (!code)
			code = write_png(path, d->x + r * d->n_features, side);
	}
	return code;
}

int main(int argc, char **argv)
{
	struct make_opts o;
	struct node_dataset *ds = calloc(1, sizeof(*ds));
	struct fedc_data data = { 0 };
	uint32_t side = 0;
	int code = parse(argc, argv, &o);

	if (code >= 0 || !ds)
		goto out;
	code = 1;
	if (dataset_idx__read_files("input", o.images, o.labels, ds, &data) != FEDC_OK) {
		fprintf(stderr, "fedc-make-image-folders: %s\n", fedc_last_error());
		goto out;
	}
	while ((uint64_t)side * side < data.n_features)
		side++;
	if ((uint64_t)side * side != data.n_features || side > 256 || data.n_classes > 10 ||
	    o.first + o.nodes * o.per_node > data.n_samples) {
		fprintf(stderr, "fedc-make-image-folders: the set has %zu square images of %zu pixels and %u classes; "
				"this tool needs at most 256x256 pixels, 10 classes and %" PRIu64 " images\n",
			data.n_samples, data.n_features, data.n_classes, o.first + o.nodes * o.per_node);
		goto out;
	}
	code = make_dir(o.out);
	for (uint64_t k = 0; !code && k < o.nodes; k++)
		code = write_node(&o, &data, side, k);
	if (!code)
		printf("wrote %" PRIu64 " nodes of %" PRIu64 " PNG images (%ux%u) under %s\n", o.nodes, o.per_node, side,
		       side, o.out);
out:
	dataset__free_data(&data);
	free(ds);
	return code;
}
