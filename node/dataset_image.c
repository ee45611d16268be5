/* Image folders: labels, sizes, normalization, inspect and load
 * (dataset_image.h). Decoding is in dataset_image_decode.c. */
#include "dataset_image.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dataset_folder.h"
#include "fedc/num.h"

#define IMAGE_MAX_CLASSES 65536u

/* The kind's options, as given at registration and as kept in ds->options. */
struct image_opts {
	uint32_t height, width;   /* 0 x 0: the first image's size */
	uint32_t channels;        /* 1 or 3 */
	bool unit;                /* normalize to [0, 1] only */
	float mean[3], std[3];    /* else (v / 255 - mean) / std per channel */
	char normalize[192];      /* as given: "unit" or "MEAN,STD,..." */
	struct timespec listed_at; /* when the folder was registered (names changes) */
};

/* A folder's samples: which listed file is which sample, with its label. */
struct image_set {
	struct folder_listing listing;
	int64_t *label_of;        /* per listed file: its class, or -1 (the manifest itself) */
	size_t n_samples;
	uint32_t n_classes;
	struct fedc_buf manifest; /* the manifest's bytes, "" without one */
	struct fedc_hash *hash;
};

/* ---- options ---- */

static enum fedc_err parse_normalize(const char *text, struct image_opts *o)
{
	float v[6];
	uint32_t n = 0;
	const char *p = text;

	snprintf(o->normalize, sizeof(o->normalize), "%s", text);
	o->unit = strcmp(text, "unit") == 0;
	if (o->unit)
		return FEDC_OK;
	while (n < 6) {
		char *end = NULL;
		double d = strtod(p, &end);

		if (end == p || !isfinite(d) || (*end != ',' && *end != '\0'))
			break;
		v[n++] = (float)d;
		if (*end == '\0') {
			p = end;
			break;
		}
		p = end + 1;
	}
	if (*p != '\0' || (n != 2 && n != 2 * o->channels))
		return fedc_fail(FEDC_ERR_INVAL, "--normalize \"%s\": expected unit, MEAN,STD, or %u means then %u standard"
				 " deviations (one per channel)", text, o->channels, o->channels);
	for (uint32_t c = 0; c < o->channels; c++) {
		o->mean[c] = n == 2 ? v[0] : v[c];
		o->std[c] = n == 2 ? v[1] : v[o->channels + c];
		if (!(o->std[c] > 0))
			return fedc_fail(FEDC_ERR_INVAL, "--normalize \"%s\": a standard deviation must be above 0", text);
	}
	return FEDC_OK;
}

static enum fedc_err parse_opts(const char *options, struct image_opts *o)
{
	char value[192];
	uint32_t dims[2];
	int64_t n;

	memset(o, 0, sizeof(*o));
	o->channels = 1;
	if (dataset_folder__option(options, "channels", value, sizeof(value))) {
		if (!fedc_parse_int(value, 1, 3, &n) || n == 2)
			return fedc_fail(FEDC_ERR_INVAL, "--channels \"%s\": expected 1 (grey) or 3 (colour)", value);
		o->channels = (uint32_t)n;
	}
	if (dataset_folder__option(options, "size", value, sizeof(value))) {
		if (!dataset_folder__parse_dims(value, 2, IMAGE_MAX_SIDE, dims) ||
		    (uint64_t)dims[0] * dims[1] > IMAGE_MAX_PIXELS)
			return fedc_fail(FEDC_ERR_INVAL, "--size \"%s\": expected HEIGHTxWIDTH, e.g. 28x28, each from 1 to %u",
					 value, IMAGE_MAX_SIDE);
		o->height = dims[0];
		o->width = dims[1];
	}
	if (dataset_folder__option(options, "listed_at", value, sizeof(value)) &&
	    !dataset_folder__parse_time(value, &o->listed_at))
		return fedc_fail(FEDC_ERR_INVAL, "image options: listed_at \"%s\" is not a time", value);
	if (!dataset_folder__option(options, "normalize", value, sizeof(value)))
		snprintf(value, sizeof(value), "unit");
	return parse_normalize(value, o);
}

static bool format_opts(const struct image_opts *o, bool manifest, char *out, size_t cap)
{
	char at[32];
	int n;

	dataset_folder__format_time(o->listed_at, at, sizeof(at));
	n = snprintf(out, cap, "size=%ux%u;channels=%u;normalize=%s;labels=%s;listed_at=%s", o->height, o->width,
		     o->channels, o->normalize, manifest ? "manifest" : "folders", at);

	return n > 0 && (size_t)n < cap;
}

/* ---- labels ---- */

static bool is_image_name(const char *rel)
{
	const char *dot = strrchr(rel, '.');

	return dot && (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
}

/* The manifest, when it sits inside the folder, is no sample. */
static bool is_manifest(const struct node_dataset *ds, const char *rel)
{
	size_t n = strlen(ds->path);

	return ds->labels_path[0] && strncmp(ds->labels_path, ds->path, n) == 0 && ds->labels_path[n] == '/' &&
	       strcmp(ds->labels_path + n + 1, rel) == 0;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sub-folder labels: the k-th class folder (byte-wise order) is class k.
 * A folder's files are contiguous in the sorted listing. */
static enum fedc_err label_by_folder(const struct node_dataset *ds, struct image_set *s)
{
	char **classes = calloc(IMAGE_MAX_CLASSES, sizeof(*classes));
	uint32_t k = 0;
	enum fedc_err rc = classes ? FEDC_OK : FEDC_ERR_NOMEM;

	for (size_t i = 0; !rc && i < s->listing.n; i++) {
		const char *rel = s->listing.files[i].rel, *slash = strchr(rel, '/');

		if (!slash || strchr(slash + 1, '/'))
			rc = fedc_fail(FEDC_ERR_MALFORMED, "%s/%s: with labels from sub-folders every image sits in one "
				       "class folder (DIR/CLASS/FILE); move it, or give --manifest FILE", ds->path, rel);
		else if (k > 0 && strncmp(classes[k - 1], rel, (size_t)(slash - rel)) == 0 &&
			 classes[k - 1][slash - rel] == '\0')
			continue;
		else if (k == IMAGE_MAX_CLASSES)
			rc = fedc_fail(FEDC_ERR_TOO_BIG, "%s: more than %u class folders", ds->path, IMAGE_MAX_CLASSES);
		else if (!(classes[k++] = strndup(rel, (size_t)(slash - rel))))
			rc = FEDC_ERR_NOMEM;
	}
	if (!rc)
		qsort(classes, k, sizeof(*classes), by_string);
	for (size_t i = 0; !rc && i < s->listing.n; i++) {
		char name[NODE_PATH_MAX];
		const char *key = name, *rel = s->listing.files[i].rel;
		char **hit;

		snprintf(name, sizeof(name), "%.*s", (int)(strchr(rel, '/') - rel), rel);
		hit = bsearch(&key, classes, k, sizeof(*classes), by_string);
		s->label_of[i] = hit ? hit - classes : -1;
	}
	s->n_classes = k;
	for (uint32_t c = 0; classes && c < k; c++)
		free(classes[c]);
	free(classes);
	return rc;
}

struct manifest_row {
	char *file;
	int64_t label;
	bool used;
};

static int by_file(const void *a, const void *b)
{
	return strcmp(((const struct manifest_row *)a)->file, ((const struct manifest_row *)b)->file);
}

/* One line "file,label" into `row`; false for a header-like line (label not
 * a number), which only the first line may be. */
static enum fedc_err parse_manifest_line(const struct node_dataset *ds, char *line, size_t lineno,
					 struct manifest_row *row, bool *header)
{
	char *comma = strchr(line, ',');

	*header = false;
	if (!comma || strchr(comma + 1, ',') || comma == line)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s:%zu: expected \"file,label\"", ds->labels_path, lineno);
	*comma = '\0';
	if (!fedc_parse_int(comma + 1, 0, IMAGE_MAX_CLASSES - 1, &row->label)) {
		if (lineno == 1) {
			*header = true;
			return FEDC_OK;
		}
		return fedc_fail(FEDC_ERR_MALFORMED, "%s:%zu: label \"%s\": expected a class index from 0 to %u",
				 ds->labels_path, lineno, comma + 1, IMAGE_MAX_CLASSES - 1);
	}
	row->file = line;
	return FEDC_OK;
}

static enum fedc_err read_manifest(const struct node_dataset *ds, char *text, struct manifest_row **rows_out,
				   size_t *n_out)
{
	struct fedc_buf rows = FEDC_BUF_INIT((size_t)FOLDER_MAX_FILES * sizeof(struct manifest_row));
	size_t lineno = 0;
	enum fedc_err rc = FEDC_OK;

	for (char *line = text, *next; !rc && line && *line; line = next) {
		struct manifest_row row = { 0 }, *at = NULL;
		size_t len;
		bool header;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		len = strlen(line);
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len == 0)
			continue;
		rc = parse_manifest_line(ds, line, lineno, &row, &header);
		if (!rc && !header && !(rc = fedc_buf_extend(&rows, sizeof(row), (void **)&at)))
			*at = row;
	}
	*rows_out = (struct manifest_row *)rows.data;
	*n_out = rows.len / sizeof(struct manifest_row);
	if (!rc && *n_out == 0)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: no \"file,label\" rows", ds->labels_path);
	if (!rc)
		qsort(*rows_out, *n_out, sizeof(**rows_out), by_file);
	for (size_t i = 1; !rc && i < *n_out; i++) {
		if (strcmp((*rows_out)[i - 1].file, (*rows_out)[i].file) == 0)
			rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: \"%s\" is listed twice", ds->labels_path, (*rows_out)[i].file);
	}
	return rc;
}

static enum fedc_err label_by_manifest(const struct node_dataset *ds, struct image_set *s)
{
	struct manifest_row *rows = NULL;
	size_t n = 0;
	int64_t top = -1;
	enum fedc_err rc = read_manifest(ds, s->manifest.data, &rows, &n);

	for (size_t i = 0; !rc && i < s->listing.n; i++) {
		struct manifest_row key = { .file = s->listing.files[i].rel }, *hit;

		if (is_manifest(ds, key.file))
			continue;
		hit = bsearch(&key, rows, n, sizeof(*rows), by_file);
		if (!hit)
			rc = fedc_fail(FEDC_ERR_MALFORMED, "%s/%s: not in the manifest %s; add a row for it or move it out of"
				       " the folder", ds->path, key.file, ds->labels_path);
		else {
			hit->used = true;
			s->label_of[i] = hit->label;
			top = hit->label > top ? hit->label : top;
		}
	}
	for (size_t i = 0; !rc && i < n; i++) {
		if (!rows[i].used)
			rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: \"%s\" is no file in %s (paths are relative to the folder)",
				       ds->labels_path, rows[i].file, ds->path);
	}
	s->n_classes = (uint32_t)(top + 1);
	free(rows);
	return rc;
}

/* Lists the folder, reads the manifest (hashing it first) and labels every
 * listed file; refuses a file that is not an image. */
static enum fedc_err open_set(const struct node_dataset *ds, struct image_set *s)
{
	enum fedc_err rc = dataset_folder__list(ds->path, &s->listing);

	fedc_buf_init(&s->manifest, IMAGE_MAX_MANIFEST_BYTES);
	if (!rc)
		rc = fedc_hash_new(FEDC_HASH_SHA256, &s->hash);
	if (!rc && ds->labels_path[0])
		rc = dataset_folder__read_extra(ds->labels_path, IMAGE_MAX_MANIFEST_BYTES, s->hash, &s->manifest);
	if (!rc && s->listing.n == 0)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: no images in the folder", ds->path);
	if (!rc && !(s->label_of = calloc(s->listing.n, sizeof(*s->label_of))))
		rc = FEDC_ERR_NOMEM;
	for (size_t i = 0; !rc && i < s->listing.n; i++) {
		const char *rel = s->listing.files[i].rel;

		if (!is_image_name(rel) && !is_manifest(ds, rel))
			rc = fedc_fail(FEDC_ERR_MALFORMED, "%s/%s: not an image (.png, .jpg, .jpeg); move it out of the "
				       "folder", ds->path, rel);
		s->label_of[i] = -1;
	}
	if (!rc)
		rc = ds->labels_path[0] ? label_by_manifest(ds, s) : label_by_folder(ds, s);
	for (size_t i = 0; !rc && i < s->listing.n; i++)
		s->n_samples += s->label_of[i] >= 0;
	return rc;
}

static void close_set(struct image_set *s)
{
	dataset_folder__free(&s->listing);
	fedc_buf_free(&s->manifest);
	fedc_hash_free(s->hash);
	free(s->label_of);
	memset(s, 0, sizeof(*s));
}

/* ---- pixels into features ---- */

/* Bilinear, pixel centres aligned (as PIL and OpenCV resize), then
 * normalized, into dst[c][y][x]. The same size copies exactly. */
static void resample(const struct image_pixels *p, const struct image_opts *o, float *dst)
{
	uint32_t H = o->height, W = o->width, C = o->channels;
	float sy = (float)p->height / (float)H, sx = (float)p->width / (float)W;

	for (uint32_t y = 0; y < H; y++) {
		float fy = fminf(fmaxf(((float)y + 0.5f) * sy - 0.5f, 0.0f), (float)(p->height - 1));
		uint32_t y0 = (uint32_t)fy, y1 = y0 + 1 < p->height ? y0 + 1 : y0;
		float wy = fy - (float)y0;

		for (uint32_t x = 0; x < W; x++) {
			float fx = fminf(fmaxf(((float)x + 0.5f) * sx - 0.5f, 0.0f), (float)(p->width - 1));
			uint32_t x0 = (uint32_t)fx, x1 = x0 + 1 < p->width ? x0 + 1 : x0;
			float wx = fx - (float)x0;

			for (uint32_t c = 0; c < C; c++) {
				const uint8_t *px = p->pixels;
				size_t row0 = (size_t)y0 * p->width, row1 = (size_t)y1 * p->width;
				float top = (1 - wx) * px[(row0 + x0) * C + c] + wx * px[(row0 + x1) * C + c];
				float bottom = (1 - wx) * px[(row1 + x0) * C + c] + wx * px[(row1 + x1) * C + c];
				float v = ((1 - wy) * top + wy * bottom) / 255.0f;

				if (!o->unit)
					v = (v - o->mean[c]) / o->std[c];
				dst[((size_t)c * H + y) * W + x] = v;
			}
		}
	}
}

/* The first image sets the size when none was given; later ones must
 * match it then. */
static enum fedc_err fit_size(const struct node_dataset *ds, const char *rel, const struct image_pixels *p,
			      struct image_opts *o, bool resize)
{
	if (o->height == 0) {
		o->height = p->height;
		o->width = p->width;
		return FEDC_OK;
	}
	if (resize || (p->height == o->height && p->width == o->width))
		return FEDC_OK;
	return fedc_fail(FEDC_ERR_MALFORMED, "%s/%s: %ux%u pixels, the first image has %ux%u; give --size HxW to "
			 "resize every image to one size", ds->path, rel, p->height, p->width, o->height, o->width);
}

/* Reads every listed file (feeding the digest), decodes and places each
 * sample. `keep_going` (at load): after a failure the files are still read
 * to the end, so that the digest can tell a changed folder from the first
 * error. Returns the first error. */
static enum fedc_err read_samples(const struct node_dataset *ds, struct image_set *s, struct image_opts *o,
				  bool resize, bool keep_going, struct fedc_data *out)
{
	struct fedc_buf bytes = FEDC_BUF_INIT(IMAGE_MAX_FILE_BYTES);
	size_t row = 0;
	enum fedc_err rc = FEDC_OK, first = FEDC_OK;

	for (size_t i = 0; i < s->listing.n && (!first || keep_going); i++) {
		const struct folder_file *f = &s->listing.files[i];
		struct image_pixels px = { 0 };

		rc = dataset_folder__read(ds->path, f, IMAGE_MAX_FILE_BYTES, s->hash, &bytes);
		if (!rc && !first && s->label_of[i] >= 0) {
			char name[NODE_PATH_MAX + 8];

			snprintf(name, sizeof(name), "%s/%s", ds->path, f->rel);
			rc = dataset_image__decode(bytes.data, bytes.len, name, o->channels, &px);
			if (!rc)
				rc = fit_size(ds, f->rel, &px, o, resize);
			if (!rc && !out->x) {
				out->n_features = (size_t)o->channels * o->height * o->width;
				rc = dataset__alloc_data(out, s->n_samples, out->n_features);
			}
			if (!rc) {
				resample(&px, o, out->x + row * out->n_features);
				out->y[row++] = (float)s->label_of[i];
			}
			free(px.pixels);
		}
		if (rc && !first)
			first = rc;
	}
	fedc_buf_free(&bytes);
	return first;
}

static void fill_data(const struct image_set *s, const struct image_opts *o, struct fedc_data *out)
{
	out->n_samples = s->n_samples;
	out->n_features = (size_t)o->channels * o->height * o->width;
	out->n_classes = s->n_classes;
	out->sample_ndim = 3;
	out->sample_shape[0] = o->channels;
	out->sample_shape[1] = o->height;
	out->sample_shape[2] = o->width;
	out->label_width = 1;
}

/* ---- inspect and load ---- */

static enum fedc_err describe(struct node_dataset *ds, const struct image_set *s, const struct image_opts *o,
			      const struct fedc_data *data, const char *digest)
{
	uint64_t *counts = calloc(s->n_classes ? s->n_classes : 1, sizeof(*counts));
	char options[NODE_OPTIONS_BUF];

	if (!counts)
		return FEDC_ERR_NOMEM;
	if (!format_opts(o, ds->labels_path[0] != '\0', options, sizeof(options))) {
		free(counts);
		return fedc_fail(FEDC_ERR_TOO_BIG, "image options too long to keep");
	}
	for (size_t i = 0; i < data->n_samples; i++)
		counts[(size_t)data->y[i]]++;
	snprintf(ds->type, sizeof(ds->type), "images");
	ds->header[0] = '\0';
	ds->label_column = -1;
	snprintf(ds->shape, sizeof(ds->shape), "%ux%ux%u", o->channels, o->height, o->width);
	memcpy(ds->options, options, sizeof(options));
	ds->n_samples = data->n_samples;
	ds->n_features = data->n_features;
	ds->n_classes = s->n_classes;
	if (!dataset__format_label_counts(counts, s->n_classes, ds->label_counts, sizeof(ds->label_counts)))
		ds->label_counts[0] = '\0';
	snprintf(ds->digest, sizeof(ds->digest), "%s", digest);
	free(counts);
	return FEDC_OK;
}

enum fedc_err dataset_image__inspect(struct node_dataset *ds, const char *kind_options)
{
	struct image_set s = { 0 };
	struct image_opts o;
	struct fedc_data data = { 0 };
	char digest[FEDC_HASH_MAX_HEXLEN + 1];
	enum fedc_err rc = parse_opts(kind_options, &o);
	bool resize = o.height != 0;

	clock_gettime(CLOCK_REALTIME, &o.listed_at);
	if (!rc)
		rc = open_set(ds, &s);
	if (!rc && s.n_samples == 0)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: no images in the folder", ds->path);
	if (!rc)
		rc = read_samples(ds, &s, &o, resize, false, &data);
	if (!rc)
		fill_data(&s, &o, &data);
	if (!rc)
		rc = fedc_hash_final(s.hash, digest);
	if (!rc)
		rc = describe(ds, &s, &o, &data, digest);
	dataset__free_data(&data);
	close_set(&s);
	return rc;
}

/* The digest of the folder as it is now, whatever it holds. */
static enum fedc_err digest_now(const struct node_dataset *ds, struct folder_listing *l, char *digest)
{
	struct fedc_buf bytes = FEDC_BUF_INIT(IMAGE_MAX_FILE_BYTES);
	struct fedc_hash *h = NULL;
	enum fedc_err rc = dataset_folder__list(ds->path, l);

	if (!rc)
		rc = fedc_hash_new(FEDC_HASH_SHA256, &h);
	if (!rc && ds->labels_path[0])
		rc = dataset_folder__read_extra(ds->labels_path, IMAGE_MAX_MANIFEST_BYTES, h, &bytes);
	for (size_t i = 0; !rc && i < l->n; i++)
		rc = dataset_folder__read(ds->path, &l->files[i], IMAGE_MAX_FILE_BYTES, h, &bytes);
	if (!rc)
		rc = fedc_hash_final(h, digest);
	fedc_hash_free(h);
	fedc_buf_free(&bytes);
	return rc;
}

/* After a failed load: a folder that no longer has its registered digest
 * is refused as changed, naming what changed; else the error stands. */
static enum fedc_err changed_or(const struct node_dataset *ds, const struct image_opts *o, enum fedc_err rc)
{
	struct folder_listing l = { 0 };
	char digest[FEDC_HASH_MAX_HEXLEN + 1];
	char first[1024];

	snprintf(first, sizeof(first), "%s", fedc_last_error());
	if (digest_now(ds, &l, digest) == FEDC_OK && strcmp(digest, ds->digest) != 0)
		rc = dataset_folder__changed(ds, &l, ds->labels_path, o->listed_at, digest);
	else
		rc = fedc_fail(rc, "%s", first);
	dataset_folder__free(&l);
	return rc;
}

enum fedc_err dataset_image__load(const struct node_dataset *ds, struct fedc_data *out)
{
	struct image_set s = { 0 };
	struct image_opts o;
	char digest[FEDC_HASH_MAX_HEXLEN + 1];
	enum fedc_err rc = parse_opts(ds->options, &o);

	memset(out, 0, sizeof(*out));
	if (rc)
		return rc;
	rc = open_set(ds, &s);
	if (!rc)
		rc = read_samples(ds, &s, &o, true, true, out);
	if (!rc)
		rc = fedc_hash_final(s.hash, digest);
	if (!rc && (strcmp(digest, ds->digest) != 0 || s.n_samples != ds->n_samples))
		rc = dataset_folder__changed(ds, &s.listing, ds->labels_path, o.listed_at, digest);
	else if (rc)
		rc = changed_or(ds, &o, rc);
	if (!rc)
		fill_data(&s, &o, out);
	close_set(&s);
	if (rc)
		dataset__free_data(out);
	return rc;
}
