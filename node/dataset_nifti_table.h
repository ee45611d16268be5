/* The demographics table of a NIfTI set (dataset_nifti.h): a CSV file
 * whose first line names the columns, one row per subject, read by libcsv
 * as dataset CSV files are (csv_rows.h: quoted cells, blanks around
 * unquoted ones dropped); blank lines are skipped. Private to
 * dataset_nifti*.c. */
#ifndef FEDC_NODE_DATASET_NIFTI_TABLE_H
#define FEDC_NODE_DATASET_NIFTI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

#define NIFTI_TABLE_MAX_COLUMNS 256
#define NIFTI_TABLE_MAX_ROWS 1000000u

struct nifti_table {
	const char *path;                          /* for messages */
	uint32_t n_columns;
	char *header[NIFTI_TABLE_MAX_COLUMNS];     /* owned copies */
	char ***rows;                              /* rows[r][c], owned copies */
	size_t *lines;                             /* rows[r]'s line number */
	size_t n_rows;
};

/* Parses the `len` bytes of `text` (the file as read and hashed by the
 * caller). FEDC_ERR_MALFORMED naming the line: a row of another width, a
 * column without a name, no header, bad quoting; FEDC_ERR_TOO_BIG;
 * FEDC_ERR_NOMEM. Free with nifti_table__free, also after a failure. */
FEDC_NODISCARD
enum fedc_err nifti_table__parse(const char *text, size_t len, const char *path, struct nifti_table *t);
void nifti_table__free(struct nifti_table *t);

/* The index of the column `name`; FEDC_ERR_INVAL naming `flag` otherwise. */
FEDC_NODISCARD
enum fedc_err nifti_table__column(const struct nifti_table *t, const char *name, const char *flag, uint32_t *out);

/* A cell as a finite number; FEDC_ERR_MALFORMED naming line and column. */
FEDC_NODISCARD
enum fedc_err nifti_table__number(const struct nifti_table *t, size_t row, uint32_t column, double *out);

#endif
