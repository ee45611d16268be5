/* The demographics table of a NIfTI set (dataset_nifti_table.h). */
#include "dataset_nifti_table.h"

#include "csv_rows.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies a row's cells into `out` (n strings, each malloc'd). */
static enum fedc_err copy_cells(const struct csv_row *row, char **out)
{
	for (uint32_t c = 0; c < row->n; c++) {
		size_t len;
		const char *cell = csv_rows__cell(row, c, &len);

		out[c] = strndup(cell, len);
		if (!out[c])
			return FEDC_ERR_NOMEM;
	}
	return FEDC_OK;
}

static enum fedc_err add_header(struct nifti_table *t, const struct csv_row *row)
{
	enum fedc_err rc;

	if (row->n > NIFTI_TABLE_MAX_COLUMNS)
		return fedc_fail(FEDC_ERR_TOO_BIG, "%s:%lu: more than %d columns", t->path, row->line,
				 NIFTI_TABLE_MAX_COLUMNS);
	t->n_columns = row->n;
	rc = copy_cells(row, t->header);
	for (uint32_t c = 0; !rc && c < row->n; c++) {
		if (!t->header[c][0])
			rc = fedc_fail(FEDC_ERR_MALFORMED, "%s:%lu: column %u has no name (the first line names the "
				       "columns)", t->path, row->line, c + 1);
	}
	return rc;
}

static enum fedc_err add_row(struct nifti_table *t, const struct csv_row *row)
{
	char **cells, ***grown;
	size_t *lines;

	if (row->n != t->n_columns)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s:%lu: %u cells, the header has %u", t->path, row->line, row->n,
				 t->n_columns);
	if (t->n_rows == NIFTI_TABLE_MAX_ROWS)
		return fedc_fail(FEDC_ERR_TOO_BIG, "%s: more than %u rows", t->path, NIFTI_TABLE_MAX_ROWS);
	grown = realloc(t->rows, (t->n_rows + 1) * sizeof(*t->rows));
	if (!grown)
		return FEDC_ERR_NOMEM;
	t->rows = grown;
	lines = realloc(t->lines, (t->n_rows + 1) * sizeof(*t->lines));
	if (!lines)
		return FEDC_ERR_NOMEM;
	t->lines = lines;
	cells = calloc(t->n_columns, sizeof(*cells));
	if (!cells)
		return FEDC_ERR_NOMEM;
	t->rows[t->n_rows] = cells;
	t->lines[t->n_rows++] = row->line; /* counted before the copy: nifti_table__free frees a partial row */
	return copy_cells(row, cells);
}

/* csv_rows' callback: the first non-empty row names the columns. */
static enum fedc_err on_row(void *ctx, const struct csv_row *row)
{
	struct nifti_table *t = ctx;
	size_t len = 0;

	if (row->n == 0 || (row->n == 1 && (csv_rows__cell(row, 0, &len), len == 0)))
		return FEDC_OK; /* a blank line */
	return t->n_columns == 0 ? add_header(t, row) : add_row(t, row);
}

enum fedc_err nifti_table__parse(const char *text, size_t len, const char *path, struct nifti_table *t)
{
	enum fedc_err rc;

	memset(t, 0, sizeof(*t));
	t->path = path;
	rc = csv_rows__parse(text, len, path, on_row, t);
	if (!rc && t->n_columns == 0)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: empty; the first line names the columns", path);
	return rc;
}

void nifti_table__free(struct nifti_table *t)
{
	if (!t)
		return;
	for (size_t r = 0; r < t->n_rows; r++) {
		for (uint32_t c = 0; t->rows[r] && c < t->n_columns; c++)
			free(t->rows[r][c]);
		free(t->rows[r]);
	}
	for (uint32_t c = 0; c < t->n_columns && c < NIFTI_TABLE_MAX_COLUMNS; c++)
		free(t->header[c]);
	free(t->rows);
	free(t->lines);
	memset(t, 0, sizeof(*t));
}

enum fedc_err nifti_table__column(const struct nifti_table *t, const char *name, const char *flag, uint32_t *out)
{
	for (uint32_t c = 0; c < t->n_columns; c++) {
		if (strcmp(t->header[c], name) == 0) {
			*out = c;
			return FEDC_OK;
		}
	}
	return fedc_fail(FEDC_ERR_INVAL, "%s \"%s\": %s has no such column", flag, name, t->path);
}

enum fedc_err nifti_table__number(const struct nifti_table *t, size_t row, uint32_t column, double *out)
{
	const char *cell = t->rows[row][column];
	char *end = NULL;

	*out = strtod(cell, &end);
	if (!cell[0] || *end || !isfinite(*out))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s:%zu: column \"%s\" holds \"%s\", not a number", t->path,
				 t->lines[row], t->header[column], cell);
	return FEDC_OK;
}
