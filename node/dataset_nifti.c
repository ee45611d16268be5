/* Medical volumes: subjects, the demographics join, labels, resampling,
 * inspect and load (dataset_nifti.h). One volume is read by
 * dataset_nifti_volume.c, the table by dataset_nifti_table.c. */
#include "dataset_nifti.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataset_folder.h"
#include "dataset_nifti_table.h"
#include "fedc/num.h"

#define NO_INDEX SIZE_MAX

/* The kind's options, as given at registration and kept in ds->options. */
struct nifti_opts {
	char modality[64];          /* the image file: <subject>/<modality>.nii[.gz] */
	char mask[64];              /* labels from this modality's volume, or "" */
	char label_column[128];     /* labels from this table column, or "" */
	char subject_column[128];   /* the table's subject id column; "" = the first */
	char features[512];         /* numeric table columns appended, comma-separated */
	uint32_t d, h, w;           /* 0: the first volume's size */
	bool resize;                /* --size given */
	bool zscore;                /* normalize each image volume */
	struct timespec listed_at;
};

struct subject {
	const char *name;           /* into the listing: up to the first '/' */
	size_t name_len;
	size_t image, mask;         /* listing indices, NO_INDEX for none */
	size_t row;                 /* table row, NO_INDEX for none */
};

struct nifti_set {
	struct folder_listing listing;
	struct fedc_buf table_text;
	struct nifti_table table;
	bool has_table;
	struct subject *subjects;
	size_t n_subjects;
	uint32_t subject_col, label_col;
	uint32_t feature_cols[NIFTI_MAX_FEATURES];
	uint32_t n_feature_cols;
	uint64_t skipped_rows;
	char digest[FEDC_HASH_MAX_HEXLEN + 1];
};

/* ---- options ---- */

static bool name_ok(const char *s)
{
	return s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static enum fedc_err parse_opts(const char *options, struct nifti_opts *o)
{
	char value[64];
	uint32_t dims[3];

	memset(o, 0, sizeof(*o));
	o->zscore = true;
	if (!dataset_folder__option(options, "modality", o->modality, sizeof(o->modality)) || !name_ok(o->modality))
		return fedc_fail(FEDC_ERR_INVAL, "--type nifti needs --modality NAME (the file <subject>/NAME.nii.gz; "
				 "no '/')");
	(void)dataset_folder__option(options, "mask", o->mask, sizeof(o->mask));
	(void)dataset_folder__option(options, "label_column", o->label_column, sizeof(o->label_column));
	(void)dataset_folder__option(options, "subject_column", o->subject_column, sizeof(o->subject_column));
	(void)dataset_folder__option(options, "features", o->features, sizeof(o->features));
	if (!o->mask[0] == !o->label_column[0])
		return fedc_fail(FEDC_ERR_INVAL, "--type nifti needs one of --label-column NAME (a demographics column) "
				 "and --mask MODALITY (a segmentation volume)");
	if (o->mask[0] && (!name_ok(o->mask) || strcmp(o->mask, o->modality) == 0))
		return fedc_fail(FEDC_ERR_INVAL, "--mask \"%s\": another modality of the subject folders", o->mask);
	if (dataset_folder__option(options, "size", value, sizeof(value))) {
		if (!dataset_folder__parse_dims(value, 3, 4096, dims) ||
		    (uint64_t)dims[0] * dims[1] * dims[2] > NIFTI_MAX_VOXELS)
			return fedc_fail(FEDC_ERR_INVAL, "--size \"%s\": expected DEPTHxHEIGHTxWIDTH, e.g. 64x64x64, at "
					 "most %u voxels", value, NIFTI_MAX_VOXELS);
		o->d = dims[0];
		o->h = dims[1];
		o->w = dims[2];
		o->resize = true;
	}
	if (dataset_folder__option(options, "normalize", value, sizeof(value))) {
		if (strcmp(value, "zscore") != 0 && strcmp(value, "none") != 0)
			return fedc_fail(FEDC_ERR_INVAL, "--normalize \"%s\": expected zscore (each volume to mean 0, "
					 "deviation 1; the default) or none", value);
		o->zscore = strcmp(value, "zscore") == 0;
	}
	if (dataset_folder__option(options, "listed_at", value, sizeof(value)) &&
	    !dataset_folder__parse_time(value, &o->listed_at))
		return fedc_fail(FEDC_ERR_INVAL, "volume options: listed_at \"%s\" is not a time", value);
	return FEDC_OK;
}

static bool format_opts(const struct nifti_opts *o, uint64_t skipped, char *out, size_t cap)
{
	char at[32];
	int n;

	dataset_folder__format_time(o->listed_at, at, sizeof(at));
	n = snprintf(out, cap, "modality=%s;%s=%s;subject_column=%s;size=%ux%ux%u;resize=%s;normalize=%s;features=%s;"
		     "skipped_rows=%" PRIu64 ";listed_at=%s", o->modality, o->mask[0] ? "mask" : "label_column",
		     o->mask[0] ? o->mask : o->label_column, o->subject_column, o->d, o->h, o->w,
		     o->resize ? "yes" : "no", o->zscore ? "zscore" : "none", o->features, skipped, at);
	return n > 0 && (size_t)n < cap;
}

/* ---- the folder and the table ---- */

/* Reads the table (first) and every file, feeding the digest. */
static enum fedc_err hash_all(const struct node_dataset *ds, struct nifti_set *s)
{
	struct fedc_buf bytes = FEDC_BUF_INIT(NIFTI_MAX_FILE_BYTES);
	struct fedc_hash *h = NULL;
	enum fedc_err rc = fedc_hash_new(FEDC_HASH_SHA256, &h);

	fedc_buf_init(&s->table_text, NIFTI_MAX_TABLE_BYTES);
	if (!rc && ds->labels_path[0])
		rc = dataset_folder__read_extra(ds->labels_path, NIFTI_MAX_TABLE_BYTES, h, &s->table_text);
	for (size_t i = 0; !rc && i < s->listing.n; i++)
		rc = dataset_folder__read(ds->path, &s->listing.files[i], NIFTI_MAX_FILE_BYTES, h, &bytes);
	if (!rc)
		rc = fedc_hash_final(h, s->digest);
	fedc_hash_free(h);
	fedc_buf_free(&bytes);
	return rc;
}

static int by_rel(const void *key, const void *file)
{
	return strcmp(key, ((const struct folder_file *)file)->rel);
}

/* The listing index of <subject>/<modality>.nii.gz or .nii; NO_INDEX if
 * neither, FEDC_ERR_MALFORMED if both. */
static enum fedc_err find_volume(const struct node_dataset *ds, const struct nifti_set *s, const struct subject *sub,
				 const char *modality, size_t *out)
{
	static const char *const ext[] = { ".nii.gz", ".nii" };
	size_t found[2];

	for (int e = 0; e < 2; e++) {
		char rel[NODE_PATH_MAX];
		const struct folder_file *hit;

		snprintf(rel, sizeof(rel), "%.*s/%s%s", (int)sub->name_len, sub->name, modality, ext[e]);
		hit = bsearch(rel, s->listing.files, s->listing.n, sizeof(*s->listing.files), by_rel);
		found[e] = hit ? (size_t)(hit - s->listing.files) : NO_INDEX;
	}
	if (found[0] != NO_INDEX && found[1] != NO_INDEX)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s/%.*s: both %s.nii.gz and %s.nii; keep one", ds->path,
				 (int)sub->name_len, sub->name, modality, modality);
	*out = found[0] != NO_INDEX ? found[0] : found[1];
	if (*out == NO_INDEX)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s/%.*s: no %s.nii.gz or %s.nii; every subject folder holds the "
				 "modality", ds->path, (int)sub->name_len, sub->name, modality, modality);
	return FEDC_OK;
}

/* Subjects are the sub-folders holding files, in byte-wise order (the
 * listing's: a folder's files are contiguous in it). Files at the top
 * (the table itself, a README) are no subjects. */
static enum fedc_err find_subjects(const struct node_dataset *ds, const struct nifti_opts *o, struct nifti_set *s)
{
	enum fedc_err rc = FEDC_OK;

	s->subjects = calloc(s->listing.n ? s->listing.n : 1, sizeof(*s->subjects));
	if (!s->subjects)
		return FEDC_ERR_NOMEM;
	for (size_t i = 0; i < s->listing.n; i++) {
		const char *rel = s->listing.files[i].rel, *slash = strchr(rel, '/');
		struct subject *last = s->n_subjects ? &s->subjects[s->n_subjects - 1] : NULL;

		if (!slash || (last && last->name_len == (size_t)(slash - rel) && !memcmp(last->name, rel, last->name_len)))
			continue;
		s->subjects[s->n_subjects++] = (struct subject){ rel, (size_t)(slash - rel), NO_INDEX, NO_INDEX, NO_INDEX };
	}
	if (s->n_subjects == 0)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: no subject folders (DIR/<subject>/%s.nii.gz)", ds->path, o->modality);
	for (size_t i = 0; !rc && i < s->n_subjects; i++) {
		rc = find_volume(ds, s, &s->subjects[i], o->modality, &s->subjects[i].image);
		if (!rc && o->mask[0])
			rc = find_volume(ds, s, &s->subjects[i], o->mask, &s->subjects[i].mask);
	}
	return rc;
}

static enum fedc_err find_columns(const struct nifti_opts *o, struct nifti_set *s)
{
	char list[sizeof(o->features)];
	enum fedc_err rc = FEDC_OK;

	s->subject_col = 0;
	if (o->subject_column[0])
		rc = nifti_table__column(&s->table, o->subject_column, "--subject-column", &s->subject_col);
	if (!rc && o->label_column[0])
		rc = nifti_table__column(&s->table, o->label_column, "--label-column", &s->label_col);
	memcpy(list, o->features, sizeof(list));
	for (char *name = list, *next; !rc && name && *name; name = next) {
		next = strchr(name, ',');
		if (next)
			*next++ = '\0';
		if (s->n_feature_cols == NIFTI_MAX_FEATURES)
			rc = fedc_fail(FEDC_ERR_TOO_BIG, "--features: at most %d columns", NIFTI_MAX_FEATURES);
		else
			rc = nifti_table__column(&s->table, name, "--features", &s->feature_cols[s->n_feature_cols++]);
	}
	return rc;
}

/* Each subject gets its table row; a subject without one is refused, a row
 * without a subject folder is skipped and counted. */
static enum fedc_err join(const struct node_dataset *ds, struct nifti_set *s)
{
	const struct nifti_table *t = &s->table;
	bool *used = calloc(t->n_rows ? t->n_rows : 1, sizeof(*used));
	enum fedc_err rc = used ? FEDC_OK : FEDC_ERR_NOMEM;

	for (size_t i = 0; !rc && i < s->n_subjects; i++) {
		struct subject *sub = &s->subjects[i];

		for (size_t r = 0; !rc && r < t->n_rows; r++) {
			const char *id = t->rows[r][s->subject_col];

			if (strlen(id) != sub->name_len || memcmp(id, sub->name, sub->name_len) != 0)
				continue;
			if (sub->row != NO_INDEX)
				rc = fedc_fail(FEDC_ERR_MALFORMED, "%s:%zu: subject \"%s\" has a row already (line %zu)",
					       t->path, t->lines[r], id, t->lines[sub->row]);
			sub->row = r;
			used[r] = true;
		}
		if (!rc && sub->row == NO_INDEX)
			rc = fedc_fail(FEDC_ERR_MALFORMED, "%s/%.*s: subject \"%.*s\" has no row in %s (column \"%s\")",
				       ds->path, (int)sub->name_len, sub->name, (int)sub->name_len, sub->name, t->path,
				       t->header[s->subject_col]);
	}
	for (size_t r = 0; !rc && r < t->n_rows; r++)
		s->skipped_rows += !used[r];
	free(used);
	return rc;
}

/* Lists the folder and reads every file once, for the digest. */
static enum fedc_err list_and_hash(const struct node_dataset *ds, struct nifti_set *s)
{
	enum fedc_err rc = dataset_folder__list(ds->path, &s->listing);

	return rc ? rc : hash_all(ds, s);
}

/* Subjects, the table, its columns and the join, from a listed set. */
static enum fedc_err open_set(const struct node_dataset *ds, const struct nifti_opts *o, struct nifti_set *s)
{
	enum fedc_err rc;

	s->has_table = ds->labels_path[0] != '\0';
	if (!s->has_table && (o->label_column[0] || o->features[0] || o->subject_column[0]))
		return fedc_fail(FEDC_ERR_INVAL, "--label-column, --features and --subject-column need --demographics FILE");
	rc = find_subjects(ds, o, s);
	if (!rc && s->has_table)
		rc = nifti_table__parse(s->table_text.data ? s->table_text.data : "", s->table_text.len, ds->labels_path,
					&s->table);
	if (!rc && s->has_table)
		rc = find_columns(o, s);
	if (!rc && s->has_table)
		rc = join(ds, s);
	return rc;
}

static void close_set(struct nifti_set *s)
{
	dataset_folder__free(&s->listing);
	nifti_table__free(&s->table);
	fedc_buf_free(&s->table_text);
	free(s->subjects);
	memset(s, 0, sizeof(*s));
}

/* ---- volumes into rows ---- */

/* Source coordinate of a destination voxel, pixel centres aligned, clamped. */
static float src_at(uint32_t i, uint32_t n_src, uint32_t n_dst)
{
	float f = ((float)i + 0.5f) * (float)n_src / (float)n_dst - 0.5f;

	return fminf(fmaxf(f, 0.0f), (float)(n_src - 1));
}

static float at3(const struct nifti_volume *v, uint32_t z, uint32_t y, uint32_t x)
{
	return v->voxels[((size_t)z * v->h + y) * v->w + x];
}

/* Trilinear (images) or nearest (masks) into dst[D][H][W]. */
static void resample(const struct nifti_volume *v, uint32_t D, uint32_t H, uint32_t W, bool nearest, float *dst)
{
	for (uint32_t z = 0; z < D; z++) {
		float fz = src_at(z, v->d, D);
		uint32_t z0 = (uint32_t)fz, z1 = z0 + 1 < v->d ? z0 + 1 : z0;
		float wz = fz - (float)z0;

		for (uint32_t y = 0; y < H; y++) {
			float fy = src_at(y, v->h, H);
			uint32_t y0 = (uint32_t)fy, y1 = y0 + 1 < v->h ? y0 + 1 : y0;
			float wy = fy - (float)y0;

			for (uint32_t x = 0; x < W; x++) {
				float fx = src_at(x, v->w, W);
				uint32_t x0 = (uint32_t)fx, x1 = x0 + 1 < v->w ? x0 + 1 : x0;
				float wx = fx - (float)x0, out;

				if (nearest) {
					out = at3(v, wz < 0.5f ? z0 : z1, wy < 0.5f ? y0 : y1, wx < 0.5f ? x0 : x1);
				} else {
					float c00 = at3(v, z0, y0, x0) * (1 - wx) + at3(v, z0, y0, x1) * wx;
					float c01 = at3(v, z0, y1, x0) * (1 - wx) + at3(v, z0, y1, x1) * wx;
					float c10 = at3(v, z1, y0, x0) * (1 - wx) + at3(v, z1, y0, x1) * wx;
					float c11 = at3(v, z1, y1, x0) * (1 - wx) + at3(v, z1, y1, x1) * wx;

					out = (c00 * (1 - wy) + c01 * wy) * (1 - wz) + (c10 * (1 - wy) + c11 * wy) * wz;
				}
				dst[((size_t)z * H + y) * W + x] = out;
			}
		}
	}
}

/* Each volume to mean 0 and deviation 1 (a constant one to 0). */
static void zscore(float *v, size_t n)
{
	double sum = 0, sq = 0, mean, sd;

	for (size_t i = 0; i < n; i++)
		sum += v[i];
	mean = sum / (double)n;
	for (size_t i = 0; i < n; i++)
		sq += (v[i] - mean) * (v[i] - mean);
	sd = sqrt(sq / (double)n);
	for (size_t i = 0; i < n; i++)
		v[i] = (float)(sd > 0 ? (v[i] - mean) / sd : 0);
}

static enum fedc_err read_listed(const struct node_dataset *ds, const struct nifti_set *s, size_t file,
				 struct nifti_volume *v)
{
	char path[NODE_PATH_MAX + 8];

	snprintf(path, sizeof(path), "%s/%s", ds->path, s->listing.files[file].rel);
	return dataset_nifti__read_volume(path, path, v);
}

/* The first volume sets the size when none was given; later ones must have
 * it then. A mask must have its image's size. */
static enum fedc_err fit(const struct node_dataset *ds, const struct nifti_set *s, size_t file,
			 const struct nifti_volume *v, struct nifti_opts *o)
{
	if (o->d == 0) {
		o->d = v->d;
		o->h = v->h;
		o->w = v->w;
	}
	if (o->resize || (v->d == o->d && v->h == o->h && v->w == o->w))
		return FEDC_OK;
	return fedc_fail(FEDC_ERR_MALFORMED, "%s/%s: %ux%ux%u voxels (DxHxW), the first volume has %ux%ux%u; give --size "
			 "DxHxW to resample every volume to one size", ds->path, s->listing.files[file].rel, v->d, v->h,
			 v->w, o->d, o->h, o->w);
}

static enum fedc_err mask_classes(const struct node_dataset *ds, const struct nifti_set *s, size_t file,
				  const float *y, size_t n, uint32_t *n_classes)
{
	for (size_t i = 0; i < n; i++) {
		if (!(y[i] >= 0) || y[i] >= (float)NIFTI_MAX_CLASSES || y[i] != floorf(y[i]))
			return fedc_fail(FEDC_ERR_MALFORMED, "%s/%s: voxel %zu of the mask is %g; a mask holds class "
					 "indices from 0 to %u", ds->path, s->listing.files[file].rel, i, (double)y[i],
					 NIFTI_MAX_CLASSES - 1);
		if ((uint32_t)y[i] + 1 > *n_classes)
			*n_classes = (uint32_t)y[i] + 1;
	}
	return FEDC_OK;
}

static enum fedc_err table_label(const struct nifti_set *s, const struct subject *sub, float *y, uint32_t *n_classes)
{
	const struct nifti_table *t = &s->table;
	int64_t label;

	if (!fedc_parse_int(t->rows[sub->row][s->label_col], 0, NIFTI_MAX_CLASSES - 1, &label))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s:%zu: label \"%s\" (column \"%s\"): expected a class index from 0 "
				 "to %u", t->path, t->lines[sub->row], t->rows[sub->row][s->label_col],
				 t->header[s->label_col], NIFTI_MAX_CLASSES - 1);
	*y = (float)label;
	if ((uint32_t)label + 1 > *n_classes)
		*n_classes = (uint32_t)label + 1;
	return FEDC_OK;
}

/* The row of subject i: its image (resampled, normalized), its features,
 * its target(s). out->x and y are allocated at the first subject, once the
 * size is known. */
static enum fedc_err read_subject(const struct node_dataset *ds, const struct nifti_set *s, size_t i,
				  struct nifti_opts *o, struct fedc_data *out)
{
	const struct subject *sub = &s->subjects[i];
	struct nifti_volume v = { 0 }, m = { 0 };
	size_t voxels, width;
	enum fedc_err rc = read_listed(ds, s, sub->image, &v);

	if (!rc)
		rc = fit(ds, s, sub->image, &v, o);
	if (!rc && o->mask[0])
		rc = read_listed(ds, s, sub->mask, &m);
	if (!rc && o->mask[0] && (m.d != v.d || m.h != v.h || m.w != v.w))
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s/%s: %ux%ux%u voxels, its image has %ux%ux%u", ds->path,
			       s->listing.files[sub->mask].rel, m.d, m.h, m.w, v.d, v.h, v.w);
	voxels = (size_t)o->d * o->h * o->w;
	width = o->mask[0] ? voxels : 1;
	if (!rc && !out->x) {
		out->n_features = voxels + s->n_feature_cols;
		out->label_width = width;
		rc = dataset__alloc_data(out, s->n_subjects, out->n_features);
		if (!rc && width > 1) {
			free(out->y);
			out->y = s->n_subjects <= SIZE_MAX / sizeof(float) / width ? malloc(s->n_subjects * width *
											    sizeof(float))
										  : NULL;
			rc = out->y ? FEDC_OK : FEDC_ERR_NOMEM;
		}
	}
	if (!rc) {
		float *row = out->x + i * out->n_features;

		resample(&v, o->d, o->h, o->w, false, row);
		if (o->zscore)
			zscore(row, voxels);
		for (uint32_t f = 0; !rc && f < s->n_feature_cols; f++) {
			double value = 0;

			rc = nifti_table__number(&s->table, sub->row, s->feature_cols[f], &value);
			row[voxels + f] = (float)value;
		}
	}
	if (!rc && o->mask[0]) {
		resample(&m, o->d, o->h, o->w, true, out->y + i * width);
		rc = mask_classes(ds, s, sub->mask, out->y + i * width, width, &out->n_classes);
	} else if (!rc) {
		rc = table_label(s, sub, &out->y[i], &out->n_classes);
	}
	free(v.voxels);
	free(m.voxels);
	return rc;
}

static enum fedc_err read_all(const struct node_dataset *ds, const struct nifti_set *s, struct nifti_opts *o,
			      struct fedc_data *out)
{
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; !rc && i < s->n_subjects; i++)
		rc = read_subject(ds, s, i, o, out);
	if (!rc) {
		out->n_samples = s->n_subjects;
		out->sample_ndim = 4;
		out->sample_shape[0] = 1;
		out->sample_shape[1] = o->d;
		out->sample_shape[2] = o->h;
		out->sample_shape[3] = o->w;
	}
	return rc;
}

/* ---- inspect and load ---- */

static enum fedc_err describe(struct node_dataset *ds, const struct nifti_set *s, const struct nifti_opts *o,
			      const struct fedc_data *data)
{
	uint64_t *counts = calloc(data->n_classes ? data->n_classes : 1, sizeof(*counts));
	char options[NODE_OPTIONS_BUF];
	size_t width = data->label_width ? data->label_width : 1;

	if (!counts)
		return FEDC_ERR_NOMEM;
	if (!format_opts(o, s->skipped_rows, options, sizeof(options))) {
		free(counts);
		return fedc_fail(FEDC_ERR_TOO_BIG, "volume options too long to keep (shorten --features)");
	}
	for (size_t i = 0; i < data->n_samples * width; i++)
		counts[(size_t)data->y[i]]++;
	snprintf(ds->type, sizeof(ds->type), "nifti");
	ds->header[0] = '\0';
	ds->label_column = -1;
	snprintf(ds->shape, sizeof(ds->shape), "1x%ux%ux%u", o->d, o->h, o->w);
	memcpy(ds->options, options, sizeof(options));
	ds->n_samples = data->n_samples;
	ds->n_features = data->n_features;
	ds->n_classes = data->n_classes;
	if (!dataset__format_label_counts(counts, data->n_classes, ds->label_counts, sizeof(ds->label_counts)))
		ds->label_counts[0] = '\0';
	snprintf(ds->digest, sizeof(ds->digest), "%s", s->digest);
	free(counts);
	return FEDC_OK;
}

enum fedc_err dataset_nifti__inspect(struct node_dataset *ds, const char *kind_options)
{
	struct nifti_set s = { 0 };
	struct nifti_opts o;
	struct fedc_data data = { 0 };
	enum fedc_err rc = parse_opts(kind_options, &o);

	clock_gettime(CLOCK_REALTIME, &o.listed_at);
	if (!rc)
		rc = list_and_hash(ds, &s);
	if (!rc)
		rc = open_set(ds, &o, &s);
	if (!rc)
		rc = read_all(ds, &s, &o, &data);
	if (!rc && data.n_classes < 1)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: no class labels", ds->path);
	if (!rc)
		rc = describe(ds, &s, &o, &data);
	dataset__free_data(&data);
	close_set(&s);
	return rc;
}

enum fedc_err dataset_nifti__load(const struct node_dataset *ds, struct fedc_data *out)
{
	struct nifti_set s = { 0 };
	struct nifti_opts o;
	enum fedc_err rc = parse_opts(ds->options, &o);

	memset(out, 0, sizeof(*out));
	if (!rc)
		rc = list_and_hash(ds, &s);
	/* The digest first: a changed folder is refused as changed, whatever
	 * else it now breaks. */
	if (!rc && strcmp(s.digest, ds->digest) != 0)
		rc = dataset_folder__changed(ds, &s.listing, ds->labels_path, o.listed_at, s.digest);
	if (!rc)
		rc = open_set(ds, &o, &s);
	if (!rc)
		rc = read_all(ds, &s, &o, out);
	/* libnifti2 reads each volume again by its path, after the hashing: the
	 * shape still checks that second read against the registration. */
	if (!rc && (out->n_samples != ds->n_samples || out->n_features != ds->n_features ||
		    out->n_classes > ds->n_classes))
		rc = fedc_fail(FEDC_ERR_DIGEST, "%s: the folder changed while it was read; try again", ds->path);
	if (!rc)
		out->n_classes = ds->n_classes;
	close_set(&s);
	if (rc)
		dataset__free_data(out);
	return rc;
}
