/* The demographics table of a NIfTI set (dataset_nifti_table.h). */
#include "dataset_nifti_table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Splits `line` in place at commas into cells[]; false when more than
 * `cap` cells. */
static bool split_line(char *line, char **cells, uint32_t cap, uint32_t *n)
{
	*n = 0;
	for (char *p = line;;) {
		char *comma = strchr(p, ',');

		if (*n == cap)
			return false;
		if (comma)
			*comma = '\0';
		cells[(*n)++] = trim(p);
		if (!comma)
			return true;
		p = comma + 1;
	}
}

static enum fedc_err add_row(struct nifti_table *t, char *line, size_t lineno)
{
	char **cells = malloc(t->n_columns * sizeof(*cells));
	char ***grown;
	size_t *lines;
	uint32_t n = 0;

	if (!cells)
		return FEDC_ERR_NOMEM;
	if (!split_line(line, cells, t->n_columns, &n) || n != t->n_columns) {
		free(cells);
		return fedc_fail(FEDC_ERR_MALFORMED, "%s:%zu: %s cells, the header has %u", t->path, lineno,
				 n == t->n_columns ? "more" : "fewer", t->n_columns);
	}
	if (t->n_rows == NIFTI_TABLE_MAX_ROWS) {
		free(cells);
		return fedc_fail(FEDC_ERR_TOO_BIG, "%s: more than %u rows", t->path, NIFTI_TABLE_MAX_ROWS);
	}
	grown = realloc(t->rows, (t->n_rows + 1) * sizeof(*t->rows));
	if (!grown) {
		free(cells);
		return FEDC_ERR_NOMEM;
	}
	t->rows = grown;
	t->rows[t->n_rows] = cells;
	lines = realloc(t->lines, (t->n_rows + 1) * sizeof(*t->lines));
	if (!lines) {
		free(cells);
		return FEDC_ERR_NOMEM;
	}
	t->lines = lines;
	t->lines[t->n_rows++] = lineno;
	return FEDC_OK;
}

enum fedc_err nifti_table__parse(char *text, const char *path, struct nifti_table *t)
{
	size_t lineno = 0;
	enum fedc_err rc = FEDC_OK;

	memset(t, 0, sizeof(*t));
	t->path = path;
	if (strchr(text, '"'))
		return fedc_fail(FEDC_ERR_UNSUPPORTED, "%s: quoted cells are not supported; write the table without "
				 "quotes (no commas inside cells)", path);
	for (char *line = text, *next; !rc && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (trim(line)[0] == '\0')
			continue;
		if (t->n_columns == 0) {
			uint32_t n = 0;

			if (!split_line(line, t->header, NIFTI_TABLE_MAX_COLUMNS, &n))
				rc = fedc_fail(FEDC_ERR_TOO_BIG, "%s:%zu: more than %d columns", path, lineno,
					       NIFTI_TABLE_MAX_COLUMNS);
			t->n_columns = n;
			for (uint32_t c = 0; !rc && c < n; c++) {
				if (!t->header[c][0])
					rc = fedc_fail(FEDC_ERR_MALFORMED, "%s:%zu: column %u has no name (the first line "
						       "names the columns)", path, lineno, c + 1);
			}
		} else {
			rc = add_row(t, line, lineno);
		}
	}
	if (!rc && t->n_columns == 0)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: empty; the first line names the columns", path);
	return rc;
}

void nifti_table__free(struct nifti_table *t)
{
	for (size_t r = 0; t && r < t->n_rows; r++)
		free(t->rows[r]);
	if (t) {
		free(t->rows);
		free(t->lines);
		memset(t, 0, sizeof(*t));
	}
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
