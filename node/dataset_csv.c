/* CSV datasets: the part of dataset.h's inspect and load that reads them.
 * dataset.c dispatches here on ds->type "csv". The format and the header
 * detection rule are documented in docs/node-admin.md ("CSV files"); keep the
 * two in step.
 *
 * One reader serves every pass. It reads the file through a fixed buffer,
 * feeds every byte to an optional SHA-256 context, and hands out one line at a
 * time (CR LF or LF, at most CSV_MAX_LINE bytes). The header is decided from
 * the first two lines of the same pass, so the digest always covers exactly
 * the bytes that were checked or loaded. */
#include "dataset_csv.h"

#include <errno.h>
#include <inttypes.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/buf.h"
#include "fedc/config.h"
#include "fedc/hash.h"


#define CSV_MAX_LINE (1u << 20)    /* bytes in one line, without its end */
#define CSV_READ_CHUNK (64u << 10) /* read(2) size */
#define CSV_MAX_CLASS 65535u       /* largest class index */
#define CSV_MAX_COUNTS_BYTES ((CSV_MAX_CLASS + 1) * sizeof(uint64_t)) /* rows per class */
#define CSV_SHOWN_CELL 40          /* bytes of a bad cell quoted in a message */

enum hdr_mode { HDR_COUNTS, HDR_NAMES, HDR_NONE, HDR_AUTO };
static const char *const hdr_names[] = { "counts", "names", "none", "auto" };

/* ---- line reader ---------------------------------------------------------- */

struct csv_reader {
	int fd;
	const char *path;
	struct fedc_hash *hash; /* NULL, or fed every byte read */
	char *buf;
	size_t buf_len, buf_pos;
	bool eof;
	struct fedc_buf text; /* the line's bytes as read, at most CSV_MAX_LINE */
	char *line;           /* current line in text, NUL-terminated, CR LF stripped */
	size_t line_len;
	unsigned long lineno;
};

static enum fedc_err reader_init(struct csv_reader *r, int fd, const char *path, struct fedc_hash *hash)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->path = path;
	r->hash = hash;
	fedc_buf_init(&r->text, CSV_MAX_LINE);
	r->buf = malloc(CSV_READ_CHUNK);
	return r->buf ? FEDC_OK : FEDC_ERR_NOMEM;
}

static void reader_free(struct csv_reader *r)
{
	free(r->buf);
	fedc_buf_free(&r->text);
}

static enum fedc_err reader_fill(struct csv_reader *r)
{
	ssize_t n;

	do
		n = read(r->fd, r->buf, CSV_READ_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fedc_fail(FEDC_ERR_IO, "%s: read failed: %s", r->path, strerror(errno));
	r->buf_len = (size_t)n;
	r->buf_pos = 0;
	if (n == 0)
		r->eof = true;
	if (n > 0 && r->hash)
		return fedc_hash_update(r->hash, r->buf, (size_t)n);
	return FEDC_OK;
}

/* Appends to the current line, failing (before allocating) past the cap. */
static enum fedc_err line_append(struct csv_reader *r, const char *p, size_t n)
{
	enum fedc_err rc = fedc_buf_append(&r->text, p, n);

	if (rc == FEDC_ERR_TOO_BIG)
		return fedc_fail(rc, "%s: line %lu: longer than %u bytes", r->path, r->lineno + 1, CSV_MAX_LINE);
	return rc;
}

/* Points r->line at the text read, stripped of its line end and of a UTF-8
 * byte order mark on line 1 (spreadsheets write one), and refuses NUL bytes,
 * which no text cell contains. */
static enum fedc_err line_finish(struct csv_reader *r)
{
	r->line = r->text.data;
	r->line_len = r->text.len;
	if (r->line_len && r->line[r->line_len - 1] == '\r')
		r->line_len--;
	r->line[r->line_len] = '\0';
	if (memchr(r->line, '\0', r->line_len))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu: contains a NUL byte (not a text file?)", r->path,
				 r->lineno);
	if (r->lineno == 1 && r->line_len >= 3 && memcmp(r->line, "\xEF\xBB\xBF", 3) == 0) {
		memmove(r->line, r->line + 3, r->line_len - 2);
		r->line_len -= 3;
	}
	return FEDC_OK;
}

/* Reads the next line into r->line; *got is false at the end of the file. */
static enum fedc_err reader_next(struct csv_reader *r, bool *got)
{
	bool any = false;
	enum fedc_err rc = FEDC_OK;

	*got = false;
	fedc_buf_reset(&r->text);
	while (!rc) {
		char *start, *nl;
		size_t take;

		if (r->buf_pos == r->buf_len) {
			if (r->eof)
				break;
			rc = reader_fill(r);
			continue;
		}
		start = r->buf + r->buf_pos;
		nl = memchr(start, '\n', r->buf_len - r->buf_pos);
		take = nl ? (size_t)(nl - start) : r->buf_len - r->buf_pos;
		rc = line_append(r, start, take);
		r->buf_pos += take + (nl ? 1 : 0);
		any = true;
		if (nl)
			break;
	}
	if (rc || !any)
		return rc;
	r->lineno++;
	rc = line_finish(r);
	*got = !rc;
	return rc;
}

/* ---- cells ---------------------------------------------------------------- */

/* Cells are split at every comma (no quoting: data cells are numbers) and
 * trimmed of spaces and tabs. */
struct cells {
	char *p, *end;
	bool done;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool cells_next(struct cells *it, char **s, size_t *len)
{
	char *comma, *e;

	if (it->done)
		return false;
	comma = memchr(it->p, ',', (size_t)(it->end - it->p));
	e = comma ? comma : it->end;
	*s = it->p;
	while (*s < e && is_blank(**s))
		(*s)++;
	while (e > *s && is_blank(e[-1]))
		e--;
	*len = (size_t)(e - *s);
	if (comma)
		it->p = comma + 1;
	else
		it->done = true;
	return true;
}

static uint32_t count_cells(const char *line, size_t len)
{
	uint32_t n = 1;

	for (const char *p = line; (p = memchr(p, ',', len - (size_t)(p - line))) != NULL; p++)
		n++;
	return n;
}

static bool is_blank_line(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!is_blank(line[i]))
			return false;
	}
	return true;
}

enum num_kind { NUM_OK, NUM_EMPTY, NUM_NOT_NUMBER, NUM_NOT_FINITE, NUM_RANGE };

/* Parses cell [s, s+len) completely. The cell is NUL-terminated in place for
 * strtod/strtof and restored: s[len] is a comma, a blank or the line's NUL.
 * The decimal point is '.': the node never calls setlocale(LC_NUMERIC). */
static enum num_kind parse_number(char *s, size_t len, bool single, double *out)
{
	char saved = s[len];
	char *end = NULL;
	double v;

	if (len == 0)
		return NUM_EMPTY;
	s[len] = '\0';
	errno = 0;
	v = single ? (double)strtof(s, &end) : strtod(s, &end);
	s[len] = saved;
	if (end != s + len)
		return NUM_NOT_NUMBER;
	if (isinf(v) && errno == ERANGE)
		return NUM_RANGE;
	if (!isfinite(v))
		return NUM_NOT_FINITE;
	*out = v;
	return NUM_OK;
}

/* Decimal digits only, as in a counts header; the value through
 * fedc_parse_int (the cell is not NUL-terminated: copied first). */
static bool parse_count(const char *s, size_t len, uint64_t *out)
{
	char digits[24];
	int64_t v;

	if (len == 0 || len >= sizeof(digits))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	memcpy(digits, s, len);
	digits[len] = '\0';
	if (!fedc_parse_int(digits, 0, INT64_MAX, &v))
		return false;
	*out = (uint64_t)v;
	return true;
}

/* A copy of a bad cell fit for a one-line message: bounded, printable. */
static void show_cell(const char *s, size_t len, char out[CSV_SHOWN_CELL + 4])
{
	size_t n = len > CSV_SHOWN_CELL ? CSV_SHOWN_CELL : len;

	for (size_t i = 0; i < n; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) || (s[i] & 0x80) ? s[i] : '?';
	if (n < len)
		memcpy(out + n, "...", 4);
	else
		out[n] = '\0';
}

/* ---- layout: header mode, width, label ------------------------------------ */

struct csv_layout {
	enum hdr_mode mode;
	uint32_t n_cols;          /* cells on every data line */
	uint32_t label_col;       /* 0-based */
	bool regression;
	uint64_t claimed_rows;    /* counts header: the row count it states */
	uint32_t n_class_names;   /* counts header: class names after the counts */
	char width_from[80];      /* why n_cols, for messages */
};

static enum fedc_err parse_mode(const char *name, enum hdr_mode *out)
{
	if (!name)
		name = "auto";
	for (int i = HDR_COUNTS; i <= HDR_AUTO; i++) {
		if (strcmp(name, hdr_names[i]) == 0) {
			*out = (enum hdr_mode)i;
			return FEDC_OK;
		}
	}
	return fedc_fail(FEDC_ERR_INVAL, "header mode \"%s\": expected auto, counts, names or none", name);
}

/* True if any cell of `line` is not a number (an empty cell is not). */
static bool any_non_numeric(char *line, size_t len, uint32_t skip)
{
	struct cells it = { line, line + len, false };
	uint32_t col = 0;
	char *s;
	size_t n;
	double v;

	while (cells_next(&it, &s, &n)) {
		if (col++ >= skip && parse_number(s, n, false, &v) != NUM_OK)
			return true;
	}
	return false;
}

/* Reads "n_rows,n_features[,class names...]" from line 1. With `strict`
 * false it only answers whether the line has that shape. */
static enum fedc_err parse_counts(const char *path, char *line, size_t len, bool strict,
				  struct csv_layout *lay)
{
	struct cells it = { line, line + len, false };
	uint64_t rows = 0, features = 0;
	char *s;
	size_t n;
	char shown[CSV_SHOWN_CELL + 4];
	uint32_t n_cells = count_cells(line, len);

	cells_next(&it, &s, &n);
	if (!parse_count(s, n, &rows)) {
		show_cell(s, n, shown);
		return strict ? fedc_fail(FEDC_ERR_MALFORMED,
					  "%s: line 1, column 1: \"%s\" is not a row count (a counts header is"
					  " n_rows,n_features,class names...)", path, shown)
			      : FEDC_ERR_MALFORMED;
	}
	if (!cells_next(&it, &s, &n))
		return strict ? fedc_fail(FEDC_ERR_MALFORMED, "%s: line 1, column 2: missing: a counts header is"
					  " n_rows,n_features,class names...", path)
			      : FEDC_ERR_MALFORMED;
	if (!parse_count(s, n, &features) || features == 0 || features >= CSV_MAX_LINE / 2) {
		show_cell(s, n, shown);
		return strict ? fedc_fail(FEDC_ERR_MALFORMED,
					  "%s: line 1, column 2: \"%s\" is not a feature count (a counts header is"
					  " n_rows,n_features,class names...)", path, shown)
			      : FEDC_ERR_MALFORMED;
	}
	lay->mode = HDR_COUNTS;
	lay->claimed_rows = rows;
	lay->n_cols = (uint32_t)features + 1;
	lay->n_class_names = n_cells - 2;
	snprintf(lay->width_from, sizeof(lay->width_from), "line 1 declares %u features plus the label",
		 (unsigned)features);
	return FEDC_OK;
}

/* The "auto" rule (docs/node-admin.md):
 *  1. counts, if the first two cells of line 1 are unsigned integers, line 2
 *     has exactly n_features + 1 cells, and line 1 is either narrower than
 *     that or has a non-numeric cell after the counts (class names);
 *  2. names, if any cell of line 1 is not a number;
 *  3. none otherwise: line 1 is data.
 * An all-numeric line 1 as wide as the data is data, never a header. */
static enum hdr_mode detect(const char *path, char *line1, size_t len1, char *line2, size_t len2)
{
	struct csv_layout probe = { 0 };
	uint32_t n1 = count_cells(line1, len1);

	if (line2 && parse_counts(path, line1, len1, false, &probe) == FEDC_OK &&
	    count_cells(line2, len2) == probe.n_cols &&
	    (n1 < probe.n_cols || any_non_numeric(line1, len1, 2)))
		return HDR_COUNTS;
	if (any_non_numeric(line1, len1, 0))
		return HDR_NAMES;
	return HDR_NONE;
}

static enum fedc_err decide_layout(const char *path, const struct dataset_options *opts, char *line1,
				   size_t len1, char *line2, size_t len2, struct csv_layout *lay)
{
	enum hdr_mode mode = HDR_AUTO;
	enum fedc_err rc = parse_mode(opts->header, &mode);

	if (rc)
		return rc;
	if (mode == HDR_AUTO)
		mode = detect(path, line1, len1, line2, len2);
	lay->mode = mode;
	lay->regression = opts->regression;
	if (mode == HDR_COUNTS) {
		rc = parse_counts(path, line1, len1, true, lay);
		if (rc)
			return rc;
	} else {
		lay->n_cols = count_cells(line1, len1);
		snprintf(lay->width_from, sizeof(lay->width_from), "as on line 1");
	}
	if (lay->n_cols < 2)
		return fedc_fail(FEDC_ERR_MALFORMED,
				 "%s: line 1: a single column; a dataset needs at least one feature and the label"
				 " (are the cells separated by commas?)", path);
	if (opts->label_column < -1 || opts->label_column >= (int64_t)lay->n_cols)
		return fedc_fail(FEDC_ERR_INVAL, "%s: label column %d does not exist: lines have %u columns"
				 " (0 to %u, or -1 for the last)", path, opts->label_column, lay->n_cols,
				 lay->n_cols - 1);
	lay->label_col = opts->label_column < 0 ? lay->n_cols - 1 : (uint32_t)opts->label_column;
	return FEDC_OK;
}

/* ---- rows ----------------------------------------------------------------- */

struct csv_scan {
	const char *path;
	struct csv_layout lay;
	struct fedc_data *fill;   /* NULL on a checking pass */
	uint64_t cap_rows;        /* rows allocated in fill */
	uint64_t n_rows;
	uint32_t max_label;
	struct fedc_buf counts;   /* checking pass: uint64_t rows per class, max_label + 1 of them */
	unsigned long blank_line; /* an empty line not yet followed by data */
};

/* Counts one row of class `label` (at most CSV_MAX_CLASS, so the array stays
 * under 512 KiB whatever the file: CSV_MAX_COUNTS_BYTES). */
static enum fedc_err count_label(struct csv_scan *sc, uint32_t label)
{
	size_t have = sc->counts.len / sizeof(uint64_t);
	void *more;

	if (label >= have) {
		enum fedc_err rc = fedc_buf_extend(&sc->counts, (label + 1 - have) * sizeof(uint64_t), &more);

		if (rc == FEDC_ERR_TOO_BIG)
			return fedc_fail(rc, "%s: class %u: more classes than %u", sc->path, label, CSV_MAX_CLASS + 1);
		if (rc)
			return rc;
	}
	((uint64_t *)(void *)sc->counts.data)[label]++;
	return FEDC_OK;
}

static enum fedc_err cell_fail(const struct csv_scan *sc, unsigned long line, uint32_t col, enum num_kind kind,
			       const char *s, size_t len)
{
	char shown[CSV_SHOWN_CELL + 4];

	show_cell(s, len, shown);
	switch (kind) {
	case NUM_EMPTY:
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu, column %u: empty cell", sc->path, line, col);
	case NUM_NOT_FINITE:
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu, column %u: \"%s\" is not a finite number",
				 sc->path, line, col, shown);
	case NUM_RANGE:
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu, column %u: \"%s\" is out of the range of a"
				 " 32-bit float", sc->path, line, col, shown);
	default:
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu, column %u: \"%s\" is not a number", sc->path,
				 line, col, shown);
	}
}

static enum fedc_err take_label(struct csv_scan *sc, unsigned long line, uint32_t col, char *s, size_t len,
				float *y)
{
	char shown[CSV_SHOWN_CELL + 4];
	double v = 0;
	enum num_kind kind = parse_number(s, len, false, &v);

	if (kind == NUM_OK && sc->lay.regression && fabs(v) > FLT_MAX)
		kind = NUM_RANGE;
	if (kind != NUM_OK)
		return cell_fail(sc, line, col, kind, s, len);
	if (!sc->lay.regression) {
		if (v < 0 || v > CSV_MAX_CLASS || v != floor(v)) {
			show_cell(s, len, shown);
			return fedc_fail(FEDC_ERR_MALFORMED,
					 "%s: line %lu, column %u: label \"%s\" is not a class index (an integer from 0"
					 " to %u); for a real-valued target register with --regression",
					 sc->path, line, col, shown, CSV_MAX_CLASS);
		}
		if (sc->lay.n_class_names && v >= sc->lay.n_class_names)
			return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu, column %u: label %u, but line 1 names only"
					 " %u classes", sc->path, line, col, (unsigned)v, sc->lay.n_class_names);
		if ((uint32_t)v > sc->max_label)
			sc->max_label = (uint32_t)v;
		if (!sc->fill) {
			enum fedc_err rc = count_label(sc, (uint32_t)v);

			if (rc)
				return rc;
		}
	}
	if (y)
		*y = (float)v;
	return FEDC_OK;
}

static enum fedc_err check_width(const struct csv_scan *sc, unsigned long line, const char *s, size_t len)
{
	uint32_t n = count_cells(s, len);

	if (n < sc->lay.n_cols)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu, column %u: missing cell: the row has %u columns,"
				 " expected %u (%s)", sc->path, line, n + 1, n, sc->lay.n_cols, sc->lay.width_from);
	if (n > sc->lay.n_cols)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu, column %u: extra cell: the row has %u columns,"
				 " expected %u (%s)", sc->path, line, sc->lay.n_cols + 1, n, sc->lay.n_cols,
				 sc->lay.width_from);
	return FEDC_OK;
}

/* Checks one data line and, on a filling pass, stores it. */
static enum fedc_err take_row(struct csv_scan *sc, unsigned long line, char *s, size_t len)
{
	struct cells it = { s, s + len, false };
	float *x = NULL, *y = NULL;
	uint32_t col = 0;
	char *cell;
	size_t n;
	enum fedc_err rc = check_width(sc, line, s, len);

	if (rc)
		return rc;
	if (sc->fill) {
		/* The buffers are sized from the registration: a file that grew or
		 * changed width must stop here, before its digest is known. */
		if (sc->n_rows >= sc->cap_rows || sc->lay.n_cols - 1 != sc->fill->n_features)
			return fedc_fail(FEDC_ERR_DIGEST, "%s: rows or columns differ from the registration", sc->path);
		x = sc->fill->x + sc->n_rows * (sc->lay.n_cols - 1);
		y = sc->fill->y + sc->n_rows;
	}
	while (!rc && cells_next(&it, &cell, &n)) {
		double v;
		enum num_kind kind;

		col++;
		if (col - 1 == sc->lay.label_col) {
			rc = take_label(sc, line, col, cell, n, y);
			continue;
		}
		kind = parse_number(cell, n, true, &v);
		if (kind != NUM_OK)
			rc = cell_fail(sc, line, col, kind, cell, n);
		else if (x)
			*x++ = (float)v;
	}
	if (!rc)
		sc->n_rows++;
	return rc;
}

/* Empty lines are allowed only at the end of the file (editors add them). */
static enum fedc_err take_line(struct csv_scan *sc, unsigned long line, char *s, size_t len)
{
	if (is_blank_line(s, len)) {
		if (!sc->blank_line)
			sc->blank_line = line;
		return FEDC_OK;
	}
	if (sc->blank_line)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu: empty line inside the data (only trailing empty"
				 " lines are allowed)", sc->path, sc->blank_line);
	return take_row(sc, line, s, len);
}

/* Reads the first non-empty line; line 1 must be it, but a file of nothing
 * but empty lines is reported as empty rather than as a bad first line. */
static enum fedc_err first_line(struct csv_reader *r, const char *path)
{
	bool got = false;
	enum fedc_err rc = reader_next(r, &got);

	if (!rc && !got)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: empty file", path);
	if (rc || !is_blank_line(r->line, r->line_len))
		return rc;
	while (!rc) {
		rc = reader_next(r, &got);
		if (!rc && !got)
			return fedc_fail(FEDC_ERR_MALFORMED, "%s: empty file (only empty lines)", path);
		if (!rc && !is_blank_line(r->line, r->line_len))
			return fedc_fail(FEDC_ERR_MALFORMED, "%s: line 1: empty line (a CSV file starts with its"
					 " header or its first row)", path);
	}
	return rc;
}

static enum fedc_err scan_tail(struct csv_scan *sc, struct csv_reader *r)
{
	enum fedc_err rc = FEDC_OK;
	bool got = true;

	while (!rc) {
		rc = reader_next(r, &got);
		if (rc || !got)
			break;
		rc = take_line(sc, r->lineno, r->line, r->line_len);
	}
	if (rc)
		return rc;
	if (sc->n_rows == 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line 1 is a header (%s) and no data rows follow", sc->path,
				 hdr_names[sc->lay.mode]);
	if (sc->lay.mode == HDR_COUNTS && sc->lay.claimed_rows != sc->n_rows)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line 1, column 1: the header says %llu rows, the file has"
				 " %llu", sc->path, (unsigned long long)sc->lay.claimed_rows,
				 (unsigned long long)sc->n_rows);
	return FEDC_OK;
}

/* One pass over the file from offset 0: decides the layout from lines 1 and
 * 2, then checks (and on a filling pass stores) every row. */
static enum fedc_err scan_file(int fd, const char *path, const struct dataset_options *opts,
			       struct fedc_hash *hash, struct csv_scan *sc)
{
	struct csv_reader r;
	char *line1 = NULL, *line2 = NULL;
	size_t len1 = 0, len2 = 0;
	bool got2 = false;
	enum fedc_err rc;

	sc->path = path;
	if (lseek(fd, 0, SEEK_SET) != 0)
		return fedc_fail(FEDC_ERR_IO, "%s: seek failed: %s", path, strerror(errno));
	rc = reader_init(&r, fd, path, hash);
	if (!rc)
		rc = first_line(&r, path);
	if (rc)
		goto out;
	len1 = r.line_len;
	line1 = strdup(r.line);
	rc = line1 ? reader_next(&r, &got2) : FEDC_ERR_NOMEM;
	if (!rc && got2) {
		len2 = r.line_len;
		line2 = strdup(r.line);
		if (!line2)
			rc = FEDC_ERR_NOMEM;
	}
	if (!rc)
		rc = decide_layout(path, opts, line1, len1, line2, len2, &sc->lay);
	if (!rc && sc->lay.mode == HDR_NONE)
		rc = take_line(sc, 1, line1, len1);
	if (!rc && line2)
		rc = take_line(sc, 2, line2, len2);
	if (!rc)
		rc = scan_tail(sc, &r);
out:
	free(line1);
	free(line2);
	reader_free(&r);
	return rc;
}

/* Rows per class, or "" for regression or a list too long to keep. */
static void set_label_counts(struct node_dataset *ds, const struct csv_scan *sc)
{
	uint64_t *all = NULL;

	ds->label_counts[0] = '\0';
	if (ds->n_classes == 0)
		return;
	all = calloc(ds->n_classes, sizeof(*all));
	if (!all)
		return; /* only a display aid: dataset show counts them again */
	/* A counts header may name classes above the largest label seen. */
	if (sc->counts.len)
		memcpy(all, sc->counts.data, sc->counts.len);
	(void)dataset__format_label_counts(all, ds->n_classes, ds->label_counts, sizeof(ds->label_counts));
	free(all);
}

static void set_text(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src); /* our own short constants: they fit */
}

static enum fedc_err changed_since_registration(const struct node_dataset *ds, const char *now)
{
	char why[80];

	snprintf(why, sizeof(why), "SHA-256 now %.12s..., was %.12s...", now, ds->digest);
	return dataset__changed(ds, ds->path, why);
}


enum fedc_err dataset_csv__inspect(struct node_dataset *ds, const struct dataset_options *opts)
{
	struct csv_scan sc = { .counts = FEDC_BUF_INIT(CSV_MAX_COUNTS_BYTES) };
	struct fedc_hash *hash = NULL;
	char digest[FEDC_HASH_MAX_HEXLEN + 1];
	int fd = -1;
	enum fedc_err rc;

	rc = dataset__open_regular(ds->path, &fd);
	if (!rc)
		rc = fedc_hash_new(FEDC_HASH_SHA256, &hash);
	if (!rc)
		rc = scan_file(fd, ds->path, opts, hash, &sc);
	if (!rc)
		rc = fedc_hash_final(hash, digest);
	if (rc)
		goto out;
	/* The caller's record changes only on success. */
	set_text(ds->type, sizeof(ds->type), "csv");
	set_text(ds->header, sizeof(ds->header), hdr_names[sc.lay.mode]);
	set_text(ds->digest, sizeof(ds->digest), digest);
	ds->label_column = (int32_t)sc.lay.label_col;
	ds->n_samples = sc.n_rows;
	ds->n_features = sc.lay.n_cols - 1;
	ds->labels_path[0] = '\0';
	snprintf(ds->shape, sizeof(ds->shape), "%" PRIu64, ds->n_features);
	if (sc.lay.regression)
		ds->n_classes = 0;
	else
		ds->n_classes = sc.lay.n_class_names ? sc.lay.n_class_names : sc.max_label + 1;
	set_label_counts(ds, &sc);
out:
	fedc_buf_free(&sc.counts);
	fedc_hash_free(hash);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* One pass over the file: the buffers are sized from the registered shape
 * (the node's own database), filled while the bytes are hashed, and handed
 * out only if the digest is still the registered one. take_row() stops a
 * file that grew or changed width before it can overrun the buffers. */
enum fedc_err dataset_csv__load(const struct node_dataset *ds, struct fedc_data *out)
{
	struct dataset_options opts = { ds->type, ds->header, ds->label_column, ds->n_classes == 0 };
	struct csv_scan fill = { .counts = FEDC_BUF_INIT(CSV_MAX_COUNTS_BYTES) };
	struct fedc_hash *hash = NULL;
	char digest[FEDC_HASH_MAX_HEXLEN + 1] = "?";
	int fd = -1;
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	rc = FEDC_OK;
	if (strcmp(ds->header, "auto") == 0) /* registration stores the mode it found */
		rc = fedc_fail(FEDC_ERR_INVAL, "dataset \"%s\": header mode not resolved", ds->name);
	if (!rc)
		rc = dataset__alloc_data(out, ds->n_samples, ds->n_features);
	if (!rc)
		rc = dataset__open_regular(ds->path, &fd);
	if (!rc)
		rc = fedc_hash_new(FEDC_HASH_SHA256, &hash);
	if (rc)
		goto out;
	out->n_samples = (size_t)ds->n_samples;
	out->n_features = (size_t)ds->n_features;
	out->n_classes = ds->n_classes;
	fill.fill = out;
	fill.cap_rows = ds->n_samples;
	rc = scan_file(fd, ds->path, &opts, hash, &fill);
	if (!rc)
		rc = fedc_hash_final(hash, digest);
	if (rc == FEDC_ERR_DIGEST || (!rc && (fill.n_rows != ds->n_samples || strcmp(digest, ds->digest) != 0)))
		rc = changed_since_registration(ds, digest);
out:
	if (rc)
		dataset__free_data(out);
	fedc_hash_free(hash);
	if (fd >= 0)
		close(fd);
	return rc;
}
