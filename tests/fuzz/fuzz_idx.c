/* Fuzz target: the node's IDX image-set reader (node/dataset_idx.h).
 *
 * Input layout: 2 bytes, big-endian, say how many of the following bytes
 * are the images file (clamped to what is there); the rest is the labels
 * file. Each pair is tried twice: as given, and with both files gzip'd
 * (compressed here), through the registration (inspect) and, when that
 * passes, the load. Gzip must be transparent: both tries must reach the
 * same verdict and the same shape, counts and labels. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dataset_idx.h"
#include "fuzz.h"

/* What one try learnt, to compare the raw and the gzip'd one. */
struct outcome {
	enum fedc_err rc;
	uint64_t n_samples, n_features;
	uint32_t n_classes;
	char shape[NODE_SHAPE_BUF];
	char label_counts[NODE_LABEL_COUNTS_BUF];
};

/* gzip (not zlib) framing, as `gzip` writes it; *out is malloc'd. */
static void gzip_bytes(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	z_stream zs;
	size_t cap;

	memset(&zs, 0, sizeof(zs));
	fuzz_require(deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK,
		     "deflateInit2 failed");
	cap = deflateBound(&zs, (uLong)len);
	*out = malloc(cap);
	fuzz_require(*out != NULL, "out of memory");
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = *out;
	zs.avail_out = (uInt)cap;
	fuzz_require(deflate(&zs, Z_FINISH) == Z_STREAM_END, "deflate failed");
	*out_len = cap - zs.avail_out;
	deflateEnd(&zs);
}

static void check_loaded(const struct node_dataset *ds, const struct fedc_data *data)
{
	fuzz_require(data->n_samples == ds->n_samples && data->n_features == ds->n_features,
		     "load must give the registered shape");
	for (size_t i = 0; i < data->n_samples * data->n_features; i++)
		fuzz_require(data->x[i] >= 0.0f && data->x[i] <= 1.0f, "pixels must scale into [0, 1]");
	for (size_t i = 0; i < data->n_samples; i++)
		fuzz_require(data->y[i] >= 0.0f && data->y[i] < (float)ds->n_classes,
			     "labels must be below n_classes");
}

static void try_pair(const char *images, const char *labels, struct outcome *out)
{
	static struct node_dataset ds; /* 12 KiB: kept off the stack */
	struct fedc_data data;

	memset(&ds, 0, sizeof(ds));
	memset(out, 0, sizeof(*out));
	snprintf(ds.name, sizeof(ds.name), "fuzz");
	snprintf(ds.path, sizeof(ds.path), "%s", images);
	snprintf(ds.labels_path, sizeof(ds.labels_path), "%s", labels);
	out->rc = dataset_idx__inspect(&ds);
	if (out->rc != FEDC_OK)
		return;
	fuzz_require(ds.n_samples > 0 && ds.n_features > 0 && ds.n_classes > 0 && ds.n_classes <= 256,
		     "an inspected set has images, pixels and 1 to 256 classes");
	out->n_samples = ds.n_samples;
	out->n_features = ds.n_features;
	out->n_classes = ds.n_classes;
	memcpy(out->shape, ds.shape, sizeof(out->shape));
	memcpy(out->label_counts, ds.label_counts, sizeof(out->label_counts));
	fuzz_require(dataset_idx__load(&ds, &data) == FEDC_OK, "a pair that inspects must load");
	check_loaded(&ds, &data);
	dataset__free_data(&data);
}

static bool same_outcome(const struct outcome *a, const struct outcome *b)
{
	return a->rc == b->rc && a->n_samples == b->n_samples && a->n_features == b->n_features &&
	       a->n_classes == b->n_classes && strcmp(a->shape, b->shape) == 0 &&
	       strcmp(a->label_counts, b->label_counts) == 0;
}

static bool looks_gzip(const uint8_t *p, size_t len)
{
	return len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char images[PATH_MAX], labels[PATH_MAX];
	struct outcome raw, gz;
	uint8_t *zi = NULL, *zl = NULL;
	size_t split, zi_len = 0, zl_len = 0;

	if (size < 2)
		return 0;
	split = (size_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;
	if (split > size)
		split = size;
	fuzz_write_file("images", data, split, images);
	fuzz_write_file("labels", data + split, size - split, labels);
	try_pair(images, labels, &raw);

	gzip_bytes(data, split, &zi, &zi_len);
	gzip_bytes(data + split, size - split, &zl, &zl_len);
	fuzz_write_file("images.gz", zi, zi_len, images);
	fuzz_write_file("labels.gz", zl, zl_len, labels);
	try_pair(images, labels, &gz);
	free(zi);
	free(zl);
	/* A part that is already gzip is read as gzip "raw"; once more
	 * compressed it is not the same set, so there is nothing to compare. */
	if (!looks_gzip(data, split) && !looks_gzip(data + split, size - split))
		fuzz_require(same_outcome(&raw, &gz), "gzip'd files must read as the plain ones");
	return 0;
}
