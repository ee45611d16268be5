/* The rows of a CSV file through libcsv (csv_rows.h). */
#include "csv_rows.h"

#include <csv.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lazy/lazy_require.h"

#define CSV_READ_CHUNK (64u << 10) /* read(2) size, and libcsv's growth step */

/* ---- saved rows ---- */

enum fedc_err csv_rows__save(struct csv_saved_row *s, const struct csv_row *row)
{
	enum fedc_err rc;

	fedc_buf_init(&s->text, SIZE_MAX);
	fedc_buf_init(&s->cells, SIZE_MAX);
	rc = fedc_buf_append(&s->text, row->text, row->n ? row->cell[row->n - 1].off + row->cell[row->n - 1].len + 1 : 0);
	if (!rc)
		rc = fedc_buf_append(&s->cells, row->cell, row->n * sizeof(*row->cell));
	if (rc)
		return rc;
	s->row = (struct csv_row){ row->n, row->line, s->text.data, (const struct csv_cell *)(void *)s->cells.data };
	s->have = true;
	return FEDC_OK;
}

void csv_rows__free_saved(struct csv_saved_row *s)
{
	fedc_buf_free(&s->text);
	fedc_buf_free(&s->cells);
	memset(s, 0, sizeof(*s));
}

/* ---- the reader ---- */

struct csv_reader {
	int fd;
	const char *path;
	struct fedc_hash *hash;  /* NULL, or fed every byte read */
	struct csv_parser parser;
	bool parser_ready;
	char *buf;
	unsigned long lineno;    /* the line being fed, from 1 */
	size_t line_len;         /* its bytes so far, without the LF */
	size_t row_bytes;        /* bytes fed since the last row ended */
	unsigned long row_start; /* line the row being gathered starts on; 0 between rows */
	int prev_end;            /* the character that ended the last row */
	struct fedc_buf text;    /* the row's cells, each NUL-terminated */
	struct fedc_buf cells;   /* struct csv_cell per cell */
	csv_row_fn on_row;
	void *ctx;
	enum fedc_err rc;        /* the first failure, also from a callback */
};

static void note_row_start(struct csv_reader *r)
{
	if (!r->row_start)
		r->row_start = r->lineno;
}

/* libcsv's field callback: appends the cell to the row being gathered. */
static void on_cell(void *s, size_t len, void *ctx)
{
	struct csv_reader *r = ctx;
	struct csv_cell ref = { r->text.len, len };
	enum fedc_err rc;

	if (r->rc)
		return;
	note_row_start(r);
	if (r->cells.len / sizeof(ref) >= CSV_MAX_CELLS) {
		r->rc = fedc_fail(FEDC_ERR_TOO_BIG, "%s: line %lu: more than %u cells in a row", r->path, r->row_start,
				  CSV_MAX_CELLS);
		return;
	}
	/* CSV_APPEND_NULL: libcsv ends every cell with a NUL, taken along. */
	rc = s ? fedc_buf_append(&r->text, s, len + 1) : fedc_buf_append(&r->text, "", 1);
	if (!rc)
		rc = fedc_buf_append(&r->cells, &ref, sizeof(ref));
	r->rc = rc;
}

/* libcsv's row callback (`end` is the CR or LF that ended it, -1 at the
 * end of the file). Every line end is reported (CSV_REPALL_NL), so the LF
 * of a CR LF pair arrives as an empty row of its own and is dropped here. */
static void on_row_end(int end, void *ctx)
{
	struct csv_reader *r = ctx;
	struct csv_row row;
	int prev = r->prev_end;

	r->prev_end = end;
	if (r->rc)
		return;
	note_row_start(r);
	row = (struct csv_row){ (uint32_t)(r->cells.len / sizeof(struct csv_cell)), r->row_start,
				r->text.data ? r->text.data : (char *)"", (const struct csv_cell *)(void *)r->cells.data };
	if (!(row.n == 0 && end == '\n' && prev == '\r'))
		r->rc = r->on_row(r->ctx, &row);
	fedc_buf_reset(&r->text);
	fedc_buf_reset(&r->cells);
	r->row_start = 0;
	r->row_bytes = 0;
}

static enum fedc_err parse_error(struct csv_reader *r)
{
	int err = csv_error(&r->parser);

	if (err == CSV_EPARSE)
		return fedc_fail(FEDC_ERR_MALFORMED,
				 "%s: line %lu: a quote inside an unquoted cell, or text after a closing quote; a cell"
				 " with quotes is written whole in quotes, its quotes doubled (\"5\"\" screen\")",
				 r->path, r->lineno);
	if (err == CSV_ENOMEM)
		return FEDC_ERR_NOMEM;
	return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu: %s", r->path, r->lineno, csv_strerror(err));
}

/* Checks one piece of a line (the LF included, if any) and parses it. */
static enum fedc_err feed_piece(struct csv_reader *r, const char *p, size_t take, bool ends_line)
{
	size_t content = take - (ends_line ? 1 : 0);

	if (r->line_len + content > CSV_MAX_LINE)
		return fedc_fail(FEDC_ERR_TOO_BIG, "%s: line %lu: longer than %u bytes", r->path, r->lineno,
				 CSV_MAX_LINE);
	if (memchr(p, '\0', content))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu: contains a NUL byte (not a text file?)", r->path,
				 r->lineno);
	r->line_len += content;
	r->row_bytes += take;
	if (r->row_bytes > CSV_MAX_ROW)
		return fedc_fail(FEDC_ERR_TOO_BIG, "%s: line %lu: the row that starts there is longer than %u bytes"
				 " (a quoted cell not closed?)", r->path, r->row_start ? r->row_start : r->lineno,
				 CSV_MAX_ROW);
	if (csv_parse(&r->parser, p, take, on_cell, on_row_end, r) != take && !r->rc)
		r->rc = parse_error(r);
	if (ends_line) {
		r->lineno++;
		r->line_len = 0;
	}
	return r->rc;
}

static enum fedc_err feed(struct csv_reader *r, const char *p, size_t n)
{
	enum fedc_err rc = FEDC_OK;

	while (n && !rc) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) + 1 : n;

		rc = feed_piece(r, p, take, nl != NULL);
		p += take;
		n -= take;
	}
	return rc;
}

static enum fedc_err read_chunk(struct csv_reader *r, size_t *got)
{
	ssize_t n;

	do
		n = read(r->fd, r->buf, CSV_READ_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fedc_fail(FEDC_ERR_IO, "%s: read failed: %s", r->path, strerror(errno));
	*got = (size_t)n;
	if (n > 0 && r->hash)
		return fedc_hash_update(r->hash, r->buf, (size_t)n);
	return FEDC_OK;
}

/* The end of the file: the last row if it has no line end, and a quote
 * still open. */
static enum fedc_err finish(struct csv_reader *r)
{
	if (csv_fini(&r->parser, on_cell, on_row_end, r) != 0 && !r->rc)
		r->rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu: a quoted cell is not closed at the end of the"
				  " file", r->path, r->row_start ? r->row_start : r->lineno);
	return r->rc;
}

/* Reads the whole file from its start, handing each row to on_row. A UTF-8
 * byte order mark at the start (spreadsheets write one) is skipped. */
static enum fedc_err read_rows(struct csv_reader *r)
{
	enum fedc_err rc = FEDC_OK;
	bool first = true;
	size_t got = 1;

	if (lseek(r->fd, 0, SEEK_SET) != 0)
		return fedc_fail(FEDC_ERR_IO, "%s: seek failed: %s", r->path, strerror(errno));
	while (!rc) {
		size_t skip = 0;

		rc = read_chunk(r, &got);
		if (rc || got == 0)
			break;
		if (first && got >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0)
			skip = 3;
		first = false;
		rc = feed(r, r->buf + skip, got - skip);
	}
	return rc ? rc : finish(r);
}

static enum fedc_err reader_init(struct csv_reader *r, int fd, const char *path, struct fedc_hash *hash,
				 csv_row_fn on_row, void *ctx)
{
	enum fedc_err rc;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->path = path;
	r->hash = hash;
	r->lineno = 1;
	r->prev_end = -1;
	r->on_row = on_row;
	r->ctx = ctx;
	fedc_buf_init(&r->text, CSV_MAX_ROW + CSV_MAX_CELLS);
	fedc_buf_init(&r->cells, (size_t)CSV_MAX_CELLS * sizeof(struct csv_cell));
	rc = lazy__require(LAZY_CSV);
	if (rc)
		return rc;
	if (csv_init(&r->parser, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL | CSV_APPEND_NULL) != 0)
		return FEDC_ERR_NOMEM;
	r->parser_ready = true;
	csv_set_blk_size(&r->parser, CSV_READ_CHUNK); /* libcsv grows its cell buffer by this much */
	r->buf = malloc(CSV_READ_CHUNK);
	return r->buf ? FEDC_OK : FEDC_ERR_NOMEM;
}

static void reader_free(struct csv_reader *r)
{
	if (r->parser_ready)
		csv_free(&r->parser);
	free(r->buf);
	fedc_buf_free(&r->text);
	fedc_buf_free(&r->cells);
}

enum fedc_err csv_rows__parse(const char *text, size_t len, const char *path, csv_row_fn fn, void *ctx)
{
	struct csv_reader r;
	enum fedc_err rc = reader_init(&r, -1, path, NULL, fn, ctx);

	if (!rc && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
		text += 3;
		len -= 3;
	}
	if (!rc)
		rc = feed(&r, text, len);
	if (!rc)
		rc = finish(&r);
	reader_free(&r);
	return rc;
}

enum fedc_err csv_rows__read(int fd, const char *path, struct fedc_hash *hash, csv_row_fn fn, void *ctx)
{
	struct csv_reader r;
	enum fedc_err rc = reader_init(&r, fd, path, hash, fn, ctx);

	if (!rc)
		rc = read_rows(&r);
	reader_free(&r);
	return rc;
}
