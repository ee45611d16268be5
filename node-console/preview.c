/* Dataset previews (see preview.h). */
#include "preview.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <png.h>

#include "csv_rows.h"
#include "dataset.h"
#include "dataset_folder.h"
#include "dataset_image.h"
#include "dataset_nifti.h"
#include "fedc/hash.h"

/* ---- the first rows of a CSV file ---- */

struct rows_ctx {
	preview_row_fn fn;
	void *ctx;
	size_t seen;
};

static enum fedc_err on_row(void *ctx, const struct csv_row *row)
{
	struct rows_ctx *x = ctx;
	const char *cells[PREVIEW_COLS];
	uint32_t n = row->n < PREVIEW_COLS ? row->n : PREVIEW_COLS;
	enum fedc_err rc;

	for (uint32_t i = 0; i < n; i++) {
		size_t len;

		cells[i] = csv_rows__cell(row, i, &len);
	}
	rc = x->fn(x->ctx, row->n, n, cells);
	/* Enough: FEDC_ERR_INTERRUPTED stops csv_rows__read, which hands it
	 * back; preview__rows turns it into success. */
	if (!rc && ++x->seen == PREVIEW_ROWS)
		rc = FEDC_ERR_INTERRUPTED;
	return rc;
}

enum fedc_err preview__rows(const struct node_dataset *ds, preview_row_fn fn, void *ctx)
{
	struct rows_ctx x = { fn, ctx, 0 };
	enum fedc_err rc;
	int fd = -1;

	if (strcmp(ds->type, "csv") != 0)
		return FEDC_ERR_UNSUPPORTED;
	rc = dataset__open_regular(ds->path, &fd);
	if (!rc)
		rc = csv_rows__read(fd, ds->path, NULL, on_row, &x);
	if (rc == FEDC_ERR_INTERRUPTED && x.seen == PREVIEW_ROWS)
		rc = FEDC_OK;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- which files the pictures come from ---- */

static bool is_image_file(const char *rel)
{
	const char *dot = strrchr(rel, '.');

	return dot && (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
}

/* <subject>/<modality>.nii or .nii.gz, one level down. */
static bool is_volume_file(const char *rel, const char *modality)
{
	const char *slash = strchr(rel, '/');
	size_t mlen = strlen(modality);

	if (!slash || slash == rel || strchr(slash + 1, '/') || strncmp(slash + 1, modality, mlen) != 0)
		return false;
	return strcmp(slash + 1 + mlen, ".nii") == 0 || strcmp(slash + 1 + mlen, ".nii.gz") == 0;
}

/* The listing of ds->path and the indices of the pictures' files in it. */
static enum fedc_err pick(const struct node_dataset *ds, struct folder_listing *l, size_t idx[PREVIEW_IMAGES],
			  size_t *n)
{
	char modality[64] = "";
	bool volumes = strcmp(ds->type, "nifti") == 0;
	enum fedc_err rc;

	*n = 0;
	if (!volumes && strcmp(ds->type, "images") != 0)
		return FEDC_OK;
	if (volumes && !dataset_folder__option(ds->options, "modality", modality, sizeof(modality)))
		return fedc_fail(FEDC_ERR_MALFORMED, "dataset %s: its options name no modality", ds->name);
	rc = dataset_folder__list(ds->path, l);
	for (size_t i = 0; !rc && i < l->n && *n < PREVIEW_IMAGES; i++)
		if (volumes ? is_volume_file(l->files[i].rel, modality) : is_image_file(l->files[i].rel))
			idx[(*n)++] = i;
	return rc;
}

enum fedc_err preview__sources(const struct node_dataset *ds, char names[PREVIEW_IMAGES][NODE_PATH_MAX], size_t *n)
{
	struct folder_listing l = { 0 };
	size_t idx[PREVIEW_IMAGES];
	enum fedc_err rc = pick(ds, &l, idx, n);

	for (size_t i = 0; !rc && i < *n; i++)
		snprintf(names[i], NODE_PATH_MAX, "%s", l.files[idx[i]].rel);
	if (rc)
		*n = 0;
	dataset_folder__free(&l);
	return rc;
}

/* ---- pictures ---- */

/* 8-bit pixels, `channels` (1 or 3) per pixel, row-major. */
struct picture {
	uint32_t w, h, channels;
	uint8_t *px;
};

/* Nearest-pixel scaling down to PREVIEW_SIDE; a smaller picture is kept. */
static enum fedc_err shrink(struct picture *p)
{
	uint32_t side = p->w > p->h ? p->w : p->h, w, h;
	uint8_t *out;

	if (side <= PREVIEW_SIDE)
		return FEDC_OK;
	w = (uint32_t)((uint64_t)p->w * PREVIEW_SIDE / side);
	h = (uint32_t)((uint64_t)p->h * PREVIEW_SIDE / side);
	w = w ? w : 1;
	h = h ? h : 1;
	out = malloc((size_t)w * h * p->channels);
	if (!out)
		return FEDC_ERR_NOMEM;
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			memcpy(out + ((size_t)y * w + x) * p->channels,
			       p->px + (((size_t)y * p->h / h) * p->w + (size_t)x * p->w / w) * p->channels, p->channels);
	free(p->px);
	p->px = out;
	p->w = w;
	p->h = h;
	return FEDC_OK;
}

static enum fedc_err encode_png(const struct picture *p, struct fedc_buf *png)
{
	png_image img = { .version = PNG_IMAGE_VERSION, .width = p->w, .height = p->h,
			  .format = p->channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY };
	png_alloc_size_t size = 0;
	void *bytes = NULL;
	enum fedc_err rc = FEDC_OK;

	/* First the size, then the bytes (libpng's simplified API). */
	if (!png_image_write_to_memory(&img, NULL, &size, 0, p->px, 0, NULL))
		rc = fedc_fail(FEDC_ERR_NOMEM, "PNG: %s", img.message);
	if (!rc && !(bytes = malloc(size)))
		rc = FEDC_ERR_NOMEM;
	if (!rc && !png_image_write_to_memory(&img, bytes, &size, 0, p->px, 0, NULL))
		rc = fedc_fail(FEDC_ERR_NOMEM, "PNG: %s", img.message);
	fedc_buf_reset(png);
	if (!rc)
		rc = fedc_buf_append(png, bytes, size);
	png_image_free(&img);
	free(bytes);
	return rc;
}

static enum fedc_err image_picture(const struct node_dataset *ds, const struct folder_file *f, struct picture *p)
{
	struct fedc_buf bytes = FEDC_BUF_INIT(IMAGE_MAX_FILE_BYTES);
	struct fedc_hash *h = NULL; /* dataset_folder__read feeds one; a preview checks no digest */
	struct image_pixels px = { 0 };
	char channels[8] = "1";
	enum fedc_err rc = fedc_hash_new(FEDC_HASH_SHA256, &h);

	(void)dataset_folder__option(ds->options, "channels", channels, sizeof(channels));
	if (!rc)
		rc = dataset_folder__read(ds->path, f, IMAGE_MAX_FILE_BYTES, h, &bytes);
	if (!rc)
		rc = dataset_image__decode(bytes.data, bytes.len, f->rel, strcmp(channels, "3") == 0 ? 3 : 1, &px);
	if (!rc)
		*p = (struct picture){ px.width, px.height, px.channels, px.pixels };
	fedc_hash_free(h);
	fedc_buf_free(&bytes);
	return rc;
}

/* The middle axial slice, y upwards, stretched to 0..255. */
static enum fedc_err volume_picture(const struct node_dataset *ds, const struct folder_file *f, struct picture *p)
{
	struct nifti_volume v = { 0 };
	char full[NODE_PATH_MAX];
	const float *slice;
	float lo = INFINITY, hi = -INFINITY;
	enum fedc_err rc = FEDC_OK;

	if ((size_t)snprintf(full, sizeof(full), "%s/%s", ds->path, f->rel) >= sizeof(full))
		return fedc_fail(FEDC_ERR_TOO_BIG, "%s/%s: path too long", ds->path, f->rel);
	rc = dataset_nifti__read_volume(full, f->rel, &v);
	if (rc)
		return rc;
	slice = v.voxels + (size_t)(v.d / 2) * v.h * v.w;
	for (size_t i = 0; i < (size_t)v.h * v.w; i++) {
		lo = slice[i] < lo ? slice[i] : lo;
		hi = slice[i] > hi ? slice[i] : hi;
	}
	p->px = malloc((size_t)v.h * v.w);
	if (!p->px)
		rc = FEDC_ERR_NOMEM;
	for (uint32_t y = 0; !rc && y < v.h; y++)
		for (uint32_t x = 0; x < v.w; x++) {
			float s = slice[(size_t)y * v.w + x];

			p->px[(size_t)(v.h - 1 - y) * v.w + x] = hi > lo ? (uint8_t)lrintf((s - lo) / (hi - lo) * 255.0f) : 0;
		}
	if (!rc)
		*p = (struct picture){ v.w, v.h, 1, p->px };
	free(v.voxels);
	return rc;
}

enum fedc_err preview__png(const struct node_dataset *ds, size_t index, struct fedc_buf *png)
{
	struct folder_listing l = { 0 };
	struct picture p = { 0 };
	size_t idx[PREVIEW_IMAGES], n = 0;
	enum fedc_err rc = pick(ds, &l, idx, &n);

	if (!rc && index >= n)
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "dataset %s has no picture %zu", ds->name, index);
	if (!rc)
		rc = strcmp(ds->type, "nifti") == 0 ? volume_picture(ds, &l.files[idx[index]], &p)
						     : image_picture(ds, &l.files[idx[index]], &p);
	if (!rc)
		rc = shrink(&p);
	if (!rc)
		rc = encode_png(&p, png);
	free(p.px);
	dataset_folder__free(&l);
	return rc;
}
