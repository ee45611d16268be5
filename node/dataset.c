/* Datasets: inspection at registration, loading for a round. This file
 * holds what every format shares and dispatches on ds->type: CSV to
 * dataset_csv.c, IDX image sets to dataset_idx.c. */
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

static bool is_idx(const char *type)
{
	return type && strcmp(type, "idx") == 0;
}

static enum fedc_err check_type(const char *type)
{
	if (type && strcmp(type, "csv") != 0 && !is_idx(type))
		return fedc_fail(FEDC_ERR_UNSUPPORTED, "dataset type \"%s\" is not supported (csv or idx)", type);
	return FEDC_OK;
}

enum fedc_err dataset__inspect(struct node_dataset *ds, const struct dataset_options *opts)
{
	static const struct dataset_options defaults = { "csv", "auto", -1, false };
	enum fedc_err rc;

	if (!opts)
		opts = &defaults;
	rc = check_type(opts->type);
	if (rc)
		return rc;
	return is_idx(opts->type) ? dataset_idx__inspect(ds) : dataset_csv__inspect(ds, opts);
}

enum fedc_err dataset__load(const struct node_dataset *ds, struct fedc_data *out)
{
	enum fedc_err rc = check_type(ds->type);

	memset(out, 0, sizeof(*out));
	if (rc)
		return rc;
	return is_idx(ds->type) ? dataset_idx__load(ds, out) : dataset_csv__load(ds, out);
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
