/* The rows of a CSV file, read through libcsv's callback parser (Debian
 * libcsv-dev; RFC 4180): quoted cells may hold commas, doubled quotes and
 * line ends; blanks around an unquoted cell are dropped; every line end is
 * reported, so an empty line arrives as a row of no cells. The rules a
 * dataset adds on top (header, widths, numbers) are dataset_csv.c's.
 *
 * The file is read through a fixed buffer, every byte fed to an optional
 * hash, and handed to libcsv one physical line at a time, so that each row
 * is known by the line it starts on and no line grows past CSV_MAX_LINE
 * before libcsv buffers it. */
#ifndef FEDC_NODE_CSV_ROWS_H
#define FEDC_NODE_CSV_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/buf.h"
#include "fedc/err.h"
#include "fedc/hash.h"

#define CSV_MAX_LINE (1u << 20)          /* bytes in one line, without its end */
#define CSV_MAX_ROW (4u * CSV_MAX_LINE)  /* bytes in one row (quoted cells may span lines) */
#define CSV_MAX_CELLS (CSV_MAX_LINE / 2) /* cells in one row */

struct csv_cell {
	size_t off, len;
};

/* One row: cell i is text + cell[i].off, cell[i].len bytes, NUL-terminated
 * (a cell holds no NUL: a file with one is refused). */
struct csv_row {
	uint32_t n;
	unsigned long line; /* the line the row starts on, from 1 */
	char *text;
	const struct csv_cell *cell;
};

static inline char *csv_rows__cell(const struct csv_row *row, uint32_t i, size_t *len)
{
	*len = row->cell[i].len;
	return row->text + row->cell[i].off;
}

/* Called once per row, in order; its row is valid during the call only. A
 * failure stops the reading and is returned by csv_rows__read. */
typedef enum fedc_err (*csv_row_fn)(void *ctx, const struct csv_row *row);

/* Reads the file `fd` (named `path` in messages) from offset 0 to its end,
 * feeding every byte to `hash` (may be NULL) and every row to `fn`. A UTF-8
 * byte order mark at the start is skipped; the LF of a CR LF is not a row.
 * FEDC_ERR_IO (read or seek), FEDC_ERR_MALFORMED (a NUL byte, bad quoting,
 * a quote never closed: the detail names the line), FEDC_ERR_TOO_BIG (a line
 * over CSV_MAX_LINE, a row over CSV_MAX_ROW or CSV_MAX_CELLS),
 * FEDC_ERR_NOMEM, or what `fn` returned. */
FEDC_NODISCARD
enum fedc_err csv_rows__read(int fd, const char *path, struct fedc_hash *hash, csv_row_fn fn, void *ctx);

/* The same rules over `len` bytes of `text` already in memory (a file read
 * and hashed by its caller): every row to `fn`; the errors of
 * csv_rows__read but FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err csv_rows__parse(const char *text, size_t len, const char *path, csv_row_fn fn, void *ctx);

/* A row kept past its callback (a header, until the next row decides it). */
struct csv_saved_row {
	struct fedc_buf text, cells;
	struct csv_row row;
	bool have;
};

FEDC_NODISCARD
enum fedc_err csv_rows__save(struct csv_saved_row *s, const struct csv_row *row);
void csv_rows__free_saved(struct csv_saved_row *s);

#endif
