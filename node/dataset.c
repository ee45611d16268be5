/* Datasets: inspection at registration, loading for a round. This file
 * holds what every format shares and dispatches on ds->type (kinds[]): CSV
 * to dataset_csv.c, IDX image sets to dataset_idx.c, image folders to
 * dataset_image.c, NIfTI volumes to dataset_nifti.c. */
#include "dataset.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset_csv.h"
#include "dataset_idx.h"
#include "dataset_schema.h"
#include "dataset_image.h"
#include "dataset_nifti.h"
#include "fedc/config.h"

/* ---- public --------------------------------------------------------------- */

enum fedc_err dataset__open_regular(const char *path, int *fd_out)
{
	struct stat st;
	int fd;

	*fd_out = -1;
	if (!path || !path[0])
		return fedc_fail(FEDC_ERR_INVAL, "dataset has no file path");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fedc_fail(FEDC_ERR_IO, "%s: not a regular file", path);
	}
	*fd_out = fd;
	return FEDC_OK;
}

static enum fedc_err inspect_csv(struct node_dataset *ds, const struct dataset_options *opts)
{
	return dataset_csv__inspect(ds, opts);
}

static enum fedc_err inspect_idx(struct node_dataset *ds, const struct dataset_options *opts)
{
	(void)opts;
	return dataset_idx__inspect(ds);
}

static enum fedc_err inspect_images(struct node_dataset *ds, const struct dataset_options *opts)
{
	char given[NODE_OPTIONS_BUF];

	(void)opts;
	memcpy(given, ds->options, sizeof(given));
	given[sizeof(given) - 1] = '\0';
	return dataset_image__inspect(ds, given);
}

static enum fedc_err inspect_nifti(struct node_dataset *ds, const struct dataset_options *opts)
{
	char given[NODE_OPTIONS_BUF];

	(void)opts;
	memcpy(given, ds->options, sizeof(given));
	given[sizeof(given) - 1] = '\0';
	return dataset_nifti__inspect(ds, given);
}

/* The kinds of dataset, each with its reader (docs/node-admin.md). */
static const struct kind {
	const char *type;
	enum fedc_err (*inspect)(struct node_dataset *ds, const struct dataset_options *opts);
	enum fedc_err (*load)(const struct node_dataset *ds, struct fedc_data *out);
} kinds[] = {
	{ "csv", inspect_csv, dataset_csv__load },
	{ "idx", inspect_idx, dataset_idx__load },
	{ "images", inspect_images, dataset_image__load },
	{ "nifti", inspect_nifti, dataset_nifti__load },
};

/* NULL type: CSV (records from before types were kept). */
static enum fedc_err find_kind(const char *type, const struct kind **out)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (!type || strcmp(type, kinds[i].type) == 0) {
			*out = &kinds[i];
			return FEDC_OK;
		}
	}
	return fedc_fail(FEDC_ERR_UNSUPPORTED, "dataset type \"%s\" is not supported (csv, idx, images or nifti)", type);
}

enum fedc_err dataset__inspect(struct node_dataset *ds, const struct dataset_options *opts)
{
	static const struct dataset_options defaults = { "csv", "auto", -1, false };
	const struct kind *kind = NULL;
	enum fedc_err rc;

	if (!opts)
		opts = &defaults;
	rc = find_kind(opts->type, &kind);
	return rc ? rc : kind->inspect(ds, opts);
}

enum fedc_err dataset__load(const struct node_dataset *ds, struct fedc_data *out)
{
	const struct kind *kind = NULL;
	enum fedc_err rc = find_kind(ds->type, &kind);

	memset(out, 0, sizeof(*out));
	return rc ? rc : kind->load(ds, out);
}

bool dataset__format_label_counts(const uint64_t *counts, uint32_t n, char *out, size_t cap)
{
	size_t used = 0;

	out[0] = '\0';
	for (uint32_t c = 0; c < n; c++) {
		int len = snprintf(out + used, cap - used, "%s%" PRIu64, c ? "," : "", counts[c]);

		if (len < 0 || (size_t)len >= cap - used) {
			out[0] = '\0';
			return false;
		}
		used += (size_t)len;
	}
	return true;
}

bool dataset__parse_label_counts(const char *text, uint64_t *counts, uint32_t n)
{
	const char *p = text;

	for (uint32_t c = 0; c < n; c++) {
		size_t len = strspn(p, "0123456789");
		char digits[24];
		int64_t v;

		/* digits only (no sign, no blank), then "," or, after the last, the end */
		if (len == 0 || len >= sizeof(digits) || p[len] != (c + 1 < n ? ',' : '\0'))
			return false;
		memcpy(digits, p, len);
		digits[len] = '\0';
		if (!fedc_parse_int(digits, 0, INT64_MAX, &v))
			return false;
		counts[c] = (uint64_t)v;
		p += len + (c + 1 < n);
	}
	return n > 0;
}

enum fedc_err dataset__changed(const struct node_dataset *ds, const char *path, const char *why)
{
	return fedc_fail(FEDC_ERR_DIGEST,
			 "%s%sthe file%s changed since dataset \"%s\" was registered (%s); if the change is intended,"
			 " register it again: fedc-node dataset remove %s, then fedc-node dataset add",
			 path ? path : "", path ? ": " : "", path ? "" : "s", ds->name, why, ds->name);
}

enum fedc_err dataset__alloc_data(struct fedc_data *out, uint64_t rows, uint64_t features)
{
	if (rows == 0 || features == 0 || rows > SIZE_MAX / sizeof(float) / features)
		return fedc_fail(FEDC_ERR_TOO_BIG, "dataset of %llu x %llu values does not fit in memory",
				 (unsigned long long)rows, (unsigned long long)features);
	out->x = malloc((size_t)(rows * features) * sizeof(float));
	out->y = malloc((size_t)rows * sizeof(float));
	if (!out->x || !out->y)
		return FEDC_ERR_NOMEM;
	return FEDC_OK;
}

void dataset__free_data(struct fedc_data *data)
{
	if (!data)
		return;
	free(data->x);
	free(data->y);
	dataset_schema__free(data->schema);
	memset(data, 0, sizeof(*data));
}
