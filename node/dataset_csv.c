/* CSV datasets: the part of dataset.h's inspect and load that reads them.
 * dataset.c dispatches here on ds->type "csv". The format, the header
 * detection rule and the column rules are documented in docs/node-admin.md
 * ("CSV files"); keep the two in step.
 *
 * Every pass reads the file's rows through csv_rows.h (libcsv, hashing every
 * byte). The header is decided from the first two rows of the same pass, so
 * the digest always covers exactly the bytes that were checked or loaded.
 *
 * Registration (inspect) also gathers the columns' schema (dataset_schema.h):
 * a feature cell is missing ("", NA, NaN), a number, or text; a column with
 * text is categorical (or text past SCHEMA_MAX_CATEGORIES distinct values).
 * A load fills missing cells with NAN and categorical cells with their index
 * in the column's sorted categories. A table whose columns are all numeric,
 * without gaps and without names, has no schema (data->schema NULL). */
#include "dataset_csv.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv_rows.h"
#include "dataset_schema.h"
#include "fedc/buf.h"
#include "fedc/config.h"
#include "fedc/hash.h"

#define CSV_MAX_CLASS 65535u              /* largest class index */
#define CSV_MAX_COUNTS_BYTES ((CSV_MAX_CLASS + 1) * sizeof(uint64_t)) /* rows per class */
#define CSV_SHOWN_CELL 40                 /* bytes of a bad cell quoted in a message */

enum hdr_mode { HDR_COUNTS, HDR_NAMES, HDR_NONE, HDR_AUTO };
static const char *const hdr_names[] = { "counts", "names", "none", "auto" };

/* ---- cells ----------------------------------------------------------------- */

enum num_kind { NUM_OK, NUM_EMPTY, NUM_NOT_NUMBER, NUM_NOT_FINITE, NUM_RANGE };

/* Parses a whole NUL-terminated cell of `len` bytes. The decimal point is
 * '.': the node never calls setlocale(LC_NUMERIC). */
static enum num_kind parse_number(const char *s, size_t len, bool single, double *out)
{
	char *end = NULL;
	double v;

	if (len == 0)
		return NUM_EMPTY;
	errno = 0;
	v = single ? (double)strtof(s, &end) : strtod(s, &end);
	if (end != s + len)
		return NUM_NOT_NUMBER;
	if (isinf(v) && errno == ERANGE)
		return NUM_RANGE;
	if (!isfinite(v))
		return NUM_NOT_FINITE;
	*out = v;
	return NUM_OK;
}

/* Decimal digits only, as in a counts header. */
static bool parse_count(const char *s, size_t len, uint64_t *out)
{
	int64_t v;

	if (len == 0 || len >= 24 || strspn(s, "0123456789") != len)
		return false;
	if (!fedc_parse_int(s, 0, INT64_MAX, &v))
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

/* ---- label classes (--label-classes) -------------------------------------- */

#define CSV_OPTION_LABEL_CLASSES "label_classes="
#define CSV_MAX_LABEL_NAMES 256

/* A text label's classes, in order (class k = name[k]), from the record's
 * options "label_classes=B,M" (`fedc-node dataset add --label-classes`). */
struct label_names {
	char text[NODE_OPTIONS_BUF];
	const char *name[CSV_MAX_LABEL_NAMES];
	uint32_t n;
};

/* The value of "label_classes=" in "key=value;..." options, or NULL. */
static const char *find_label_classes(const char *options, size_t *len)
{
	size_t key = strlen(CSV_OPTION_LABEL_CLASSES);

	for (const char *p = options; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
		if (strncmp(p, CSV_OPTION_LABEL_CLASSES, key) == 0) {
			*len = strcspn(p + key, ";");
			return p + key;
		}
	}
	return NULL;
}

/* *out->n is 0 when the options name no classes. The names are non-empty,
 * distinct, at most CSV_MAX_LABEL_NAMES. FEDC_ERR_INVAL naming the list. */
static enum fedc_err read_label_names(const char *options, struct label_names *out)
{
	size_t len = 0;
	const char *list = find_label_classes(options, &len);
	char *p;

	out->n = 0;
	if (!list)
		return FEDC_OK;
	if (len >= sizeof(out->text))
		return fedc_fail(FEDC_ERR_INVAL, "label classes: list too long");
	memcpy(out->text, list, len);
	out->text[len] = '\0';
	for (p = out->text; p;) {
		char *comma = strchr(p, ',');

		if (comma)
			*comma = '\0';
		if (!p[0] || out->n == CSV_MAX_LABEL_NAMES)
			return fedc_fail(FEDC_ERR_INVAL, "label classes \"%.*s\": 1 to %u names, none empty", (int)len, list,
					 CSV_MAX_LABEL_NAMES);
		for (uint32_t k = 0; k < out->n; k++) {
			if (strcmp(out->name[k], p) == 0)
				return fedc_fail(FEDC_ERR_INVAL, "label classes \"%.*s\": \"%s\" is named twice", (int)len,
						 list, p);
		}
		out->name[out->n++] = p;
		p = comma ? comma + 1 : NULL;
	}
	return FEDC_OK;
}

/* ---- layout: header mode, width, label ------------------------------------ */

struct csv_layout {
	enum hdr_mode mode;
	uint32_t n_cols;          /* cells on every data row */
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

/* True if a cell of `row` from `skip` on is text: neither a number nor a
 * missing cell. */
static bool any_text(const struct csv_row *row, uint32_t skip)
{
	for (uint32_t i = skip; i < row->n; i++) {
		size_t n;
		const char *s = csv_rows__cell(row, i, &n);
		double v;

		if (!dataset_schema__is_missing(s, n) && parse_number(s, n, false, &v) != NUM_OK)
			return true;
	}
	return false;
}

static enum fedc_err counts_fail(const char *path, bool strict, int col, const char *what, const char *s, size_t n)
{
	char shown[CSV_SHOWN_CELL + 4];

	if (!strict)
		return FEDC_ERR_MALFORMED;
	if (!s)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line 1, column %d: missing: a counts header is"
				 " n_rows,n_features,class names...", path, col);
	show_cell(s, n, shown);
	return fedc_fail(FEDC_ERR_MALFORMED, "%s: line 1, column %d: \"%s\" is not a %s (a counts header is"
			 " n_rows,n_features,class names...)", path, col, shown, what);
}

/* Reads "n_rows,n_features[,class names...]" from row 1. With `strict`
 * false it only answers whether the row has that shape. */
static enum fedc_err parse_counts(const char *path, const struct csv_row *row, bool strict, struct csv_layout *lay)
{
	uint64_t rows = 0, features = 0;
	size_t n = 0;
	const char *s = row->n ? csv_rows__cell(row, 0, &n) : "";

	if (!parse_count(s, n, &rows))
		return counts_fail(path, strict, 1, "row count", s, n);
	if (row->n < 2)
		return counts_fail(path, strict, 2, NULL, NULL, 0);
	s = csv_rows__cell(row, 1, &n);
	if (!parse_count(s, n, &features) || features == 0 || features >= CSV_MAX_CELLS)
		return counts_fail(path, strict, 2, "feature count", s, n);
	lay->mode = HDR_COUNTS;
	lay->claimed_rows = rows;
	lay->n_cols = (uint32_t)features + 1;
	lay->n_class_names = row->n - 2;
	snprintf(lay->width_from, sizeof(lay->width_from), "line 1 declares %u features plus the label",
		 (unsigned)features);
	return FEDC_OK;
}

/* The "auto" rule (docs/node-admin.md):
 *  1. counts, if the first two cells of row 1 are unsigned integers, row 2
 *     has exactly n_features + 1 cells, and row 1 is either narrower than
 *     that or has a text cell after the counts (class names);
 *  2. names, if a cell of row 1 is text (not a number, not a missing cell);
 *  3. none otherwise: row 1 is data.
 * An all-numeric row 1 as wide as the data is data, never a header. */
static enum hdr_mode detect(const char *path, const struct csv_row *row1, const struct csv_row *row2)
{
	struct csv_layout probe = { 0 };

	if (row2 && parse_counts(path, row1, false, &probe) == FEDC_OK && row2->n == probe.n_cols &&
	    (row1->n < probe.n_cols || any_text(row1, 2)))
		return HDR_COUNTS;
	if (any_text(row1, 0))
		return HDR_NAMES;
	return HDR_NONE;
}

static enum fedc_err decide_layout(const char *path, const struct dataset_options *opts, const struct csv_row *row1,
				   const struct csv_row *row2, struct csv_layout *lay)
{
	enum hdr_mode mode = HDR_AUTO;
	enum fedc_err rc = parse_mode(opts->header, &mode);

	if (rc)
		return rc;
	if (mode == HDR_AUTO)
		mode = detect(path, row1, row2);
	lay->mode = mode;
	lay->regression = opts->regression;
	if (mode == HDR_COUNTS) {
		rc = parse_counts(path, row1, true, lay);
		if (rc)
			return rc;
	} else {
		lay->n_cols = row1->n;
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

/* ---- the scan of rows -------------------------------------------------------- */

struct csv_scan {
	const char *path;
	const struct dataset_options *opts;
	struct csv_layout lay;
	struct csv_saved_row row1;        /* until the layout is decided */
	const struct label_names *classes; /* a text label's classes; NULL for a numeric label */
	bool decided;
	uint64_t n_rows;
	uint32_t max_label;
	unsigned long blank_line;     /* an empty line not yet followed by data */
	/* Registration: rows per class and the columns' schema. */
	struct fedc_buf counts;       /* uint64_t rows per class, max_label + 1 of them */
	struct schema_builder *schema_out;
	/* A load: the buffers to fill, sized from the registration, and the
	 * registered schema (NULL: every feature must be a number). */
	struct fedc_data *fill;
	uint64_t cap_rows;
	const struct fedc_table_schema *schema;
	bool needs_schema;            /* a plain load met a missing or text cell */
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

/* A text label (--label-classes): its class is its place in the list. */
static enum fedc_err take_label_name(struct csv_scan *sc, unsigned long line, uint32_t col, const char *s,
				     size_t len, float *y)
{
	char shown[CSV_SHOWN_CELL + 4];

	for (uint32_t k = 0; k < sc->classes->n; k++) {
		if (strcmp(sc->classes->name[k], s) != 0)
			continue;
		if (!sc->fill) {
			enum fedc_err rc = count_label(sc, k);

			if (rc)
				return rc;
		}
		if (y)
			*y = (float)k;
		return FEDC_OK;
	}
	show_cell(s, len, shown);
	return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu, column %u: label \"%s\" is not one of the classes given"
			 " with --label-classes (%s...)", sc->path, line, col, shown, sc->classes->name[0]);
}

static enum fedc_err take_label(struct csv_scan *sc, unsigned long line, uint32_t col, const char *s, size_t len,
				float *y)
{
	char shown[CSV_SHOWN_CELL + 4];
	double v = 0;
	enum num_kind kind = parse_number(s, len, false, &v);

	if (dataset_schema__is_missing(s, len))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu, column %u: the label is missing (every row needs"
				 " its label; remove the row or fill it in)", sc->path, line, col);
	if (sc->classes)
		return take_label_name(sc, line, col, s, len, y);
	if (kind == NUM_NOT_NUMBER && !sc->lay.regression) {
		show_cell(s, len, shown);
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu, column %u: label \"%s\" is not a class index; a"
				 " label written as text is registered with --label-classes NAME0,NAME1,...", sc->path,
				 line, col, shown);
	}
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

/* Registration: a feature cell is missing, a finite number, or text. A
 * number that is not finite or does not fit a float is refused: it is a
 * numeric column's broken value, not a category. */
static enum fedc_err observe_feature(struct csv_scan *sc, unsigned long line, uint32_t col, uint32_t feature,
				     const char *s, size_t len)
{
	bool missing = dataset_schema__is_missing(s, len);
	enum num_kind kind = NUM_EMPTY;
	double v;

	if (!missing) {
		kind = parse_number(s, len, true, &v);
		if (kind == NUM_NOT_FINITE || kind == NUM_RANGE)
			return cell_fail(sc, line, col, kind, s, len);
	}
	return dataset_schema__observe(sc->schema_out, feature, s, len, missing, kind == NUM_OK);
}

/* A load: the value the plan sees for a feature cell, by the column's type
 * as registered. A cell that no longer fits it means the file changed. */
static enum fedc_err load_feature(struct csv_scan *sc, uint32_t feature, const char *s, size_t len, float *x)
{
	const struct fedc_column *c = sc->schema ? &sc->schema->columns[feature] : NULL;
	bool missing = dataset_schema__is_missing(s, len);
	double v = 0;
	int64_t k;

	if (!c) {
		if (missing || parse_number(s, len, true, &v) != NUM_OK) {
			sc->needs_schema = true;
			return FEDC_ERR_MALFORMED;
		}
		*x = (float)v;
		return FEDC_OK;
	}
	if (missing || c->type == FEDC_COLUMN_TEXT) {
		*x = NAN;
		return FEDC_OK;
	}
	if (c->type == FEDC_COLUMN_NUMERIC && parse_number(s, len, true, &v) == NUM_OK) {
		*x = (float)v;
		return FEDC_OK;
	}
	if (c->type == FEDC_COLUMN_CATEGORICAL && (k = dataset_schema__category_index(c, s)) >= 0) {
		*x = (float)k;
		return FEDC_OK;
	}
	return fedc_fail(FEDC_ERR_DIGEST, "%s: column \"%s\" holds a value it did not hold at registration", sc->path,
			 c->name);
}

static enum fedc_err check_width(const struct csv_scan *sc, const struct csv_row *row)
{
	uint32_t n = row->n;

	if (n < sc->lay.n_cols)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu, column %u: missing cell: the row has %u columns,"
				 " expected %u (%s)", sc->path, row->line, n + 1, n, sc->lay.n_cols, sc->lay.width_from);
	if (n > sc->lay.n_cols)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu, column %u: extra cell: the row has %u columns,"
				 " expected %u (%s)", sc->path, row->line, sc->lay.n_cols + 1, n, sc->lay.n_cols,
				 sc->lay.width_from);
	return FEDC_OK;
}

/* Checks one data row; registration gathers its columns, a load stores it. */
static enum fedc_err take_row(struct csv_scan *sc, const struct csv_row *row)
{
	float *x = NULL, *y = NULL;
	uint32_t feature = 0;
	enum fedc_err rc = check_width(sc, row);

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
	for (uint32_t col = 0; !rc && col < row->n; col++) {
		size_t n;
		const char *s = csv_rows__cell(row, col, &n);

		if (col == sc->lay.label_col)
			rc = take_label(sc, row->line, col + 1, s, n, y);
		else if (x)
			rc = load_feature(sc, feature++, s, n, x++);
		else
			rc = observe_feature(sc, row->line, col + 1, feature++, s, n);
	}
	if (!rc)
		sc->n_rows++;
	return rc;
}

/* Empty lines are allowed only at the end of the file (editors add them). */
static enum fedc_err take_data(struct csv_scan *sc, const struct csv_row *row)
{
	if (row->n == 0) {
		if (!sc->blank_line)
			sc->blank_line = row->line;
		return FEDC_OK;
	}
	if (sc->blank_line)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line %lu: empty line inside the data (only trailing empty"
				 " lines are allowed)", sc->path, sc->blank_line);
	return take_row(sc, row);
}

/* Column names from a names header (the label's excluded), "c<K>" for an
 * empty one; two columns of one name are refused: a plan names columns. */
static enum fedc_err name_columns(struct csv_scan *sc, const struct csv_row *row1)
{
	enum fedc_err rc = FEDC_OK;
	uint32_t feature = 0;

	for (uint32_t col = 0; !rc && col < row1->n; col++) {
		size_t n;
		const char *s = csv_rows__cell(row1, col, &n);

		if (col == sc->lay.label_col || n == 0) {
			feature += col != sc->lay.label_col;
			continue;
		}
		for (uint32_t other = 0; other < col; other++) {
			size_t on;
			const char *o = csv_rows__cell(row1, other, &on);

			if (on == n && memcmp(o, s, n) == 0)
				return fedc_fail(FEDC_ERR_MALFORMED, "%s: line 1, columns %u and %u: both are named"
						 " \"%.*s\"; a plan names its columns: give each its own name", sc->path,
						 other + 1, col + 1, (int)(n > CSV_SHOWN_CELL ? CSV_SHOWN_CELL : n), s);
		}
		rc = dataset_schema__name(sc->schema_out, feature++, s, n);
	}
	return rc;
}

/* Once rows 1 and 2 are known (row 2 NULL for a one-line file): the layout,
 * the column names, then the data among them. */
static enum fedc_err start_data(struct csv_scan *sc, const struct csv_row *row1, const struct csv_row *row2)
{
	enum fedc_err rc = decide_layout(sc->path, sc->opts, row1, row2, &sc->lay);

	sc->decided = true;
	if (!rc && sc->classes && sc->lay.regression)
		rc = fedc_fail(FEDC_ERR_INVAL, "--label-classes names classes: a regression target has none");
	if (!rc && sc->classes)
		sc->lay.n_class_names = sc->classes->n;
	if (!rc && sc->schema_out)
		rc = dataset_schema__builder_init(sc->schema_out, sc->lay.n_cols - 1);
	if (!rc && sc->schema_out && sc->lay.mode == HDR_NAMES)
		rc = name_columns(sc, row1);
	if (!rc && sc->lay.mode == HDR_NONE)
		rc = take_data(sc, row1);
	if (!rc && row2)
		rc = take_data(sc, row2);
	return rc;
}

/* The reader's row callback. Row 1 must be the first line; a file of
 * nothing but empty lines is reported as empty rather than as a bad first
 * line. */
static enum fedc_err on_row(void *ctx, const struct csv_row *row)
{
	struct csv_scan *sc = ctx;

	if (sc->decided)
		return take_data(sc, row);
	if (!sc->row1.have && row->n == 0) {
		if (!sc->blank_line)
			sc->blank_line = row->line;
		return FEDC_OK;
	}
	if (!sc->row1.have && sc->blank_line)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: line 1: empty line (a CSV file starts with its header or"
				 " its first row)", sc->path);
	if (!sc->row1.have)
		return csv_rows__save(&sc->row1, row);
	return start_data(sc, &sc->row1.row, row);
}

static enum fedc_err end_of_rows(struct csv_scan *sc)
{
	enum fedc_err rc = FEDC_OK;

	if (!sc->row1.have)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: empty file%s", sc->path,
				 sc->blank_line ? " (only empty lines)" : "");
	if (!sc->decided)
		rc = start_data(sc, &sc->row1.row, NULL);
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

/* One pass over the file from offset 0. */
static enum fedc_err scan_file(int fd, const char *path, const struct dataset_options *opts,
			       struct fedc_hash *hash, struct csv_scan *sc)
{
	enum fedc_err rc;

	sc->path = path;
	sc->opts = opts;
	rc = csv_rows__read(fd, path, hash, on_row, sc);
	if (!rc)
		rc = end_of_rows(sc);
	csv_rows__free_saved(&sc->row1);
	return rc;
}

/* ---- registration ------------------------------------------------------------ */

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

/* The record's text label classes (its options), for a scan. */
static enum fedc_err use_label_names(const struct node_dataset *ds, struct label_names *names, struct csv_scan *sc)
{
	enum fedc_err rc = read_label_names(ds->options, names);

	sc->classes = !rc && names->n ? names : NULL;
	return rc;
}

/* Reads the file at `path` as at registration: layout, label counts and the
 * schema's text (into schema[cap]), hashed into digest. */
static enum fedc_err inspect_file(const char *path, const struct dataset_options *opts, struct csv_scan *sc,
				  char *schema, size_t cap, char digest[FEDC_HASH_MAX_HEXLEN + 1])
{
	struct schema_builder builder = { 0 };
	struct fedc_hash *hash = NULL;
	int fd = -1;
	enum fedc_err rc;

	sc->schema_out = &builder;
	rc = dataset__open_regular(path, &fd);
	if (!rc)
		rc = fedc_hash_new(FEDC_HASH_SHA256, &hash);
	if (!rc)
		rc = scan_file(fd, path, opts, hash, sc);
	if (!rc)
		rc = fedc_hash_final(hash, digest);
	if (!rc)
		rc = dataset_schema__serialize(&builder, schema, cap);
	dataset_schema__builder_free(&builder);
	sc->schema_out = NULL;
	fedc_hash_free(hash);
	if (fd >= 0)
		close(fd);
	return rc;
}

enum fedc_err dataset_csv__inspect(struct node_dataset *ds, const struct dataset_options *opts)
{
	struct csv_scan sc = { .counts = FEDC_BUF_INIT(CSV_MAX_COUNTS_BYTES) };
	char digest[FEDC_HASH_MAX_HEXLEN + 1];
	char *schema = malloc(sizeof(ds->schema));
	struct label_names *names = malloc(sizeof(*names));
	enum fedc_err rc = schema && names ? FEDC_OK : FEDC_ERR_NOMEM;

	if (!rc)
		rc = use_label_names(ds, names, &sc);
	if (!rc)
		rc = inspect_file(ds->path, opts, &sc, schema, sizeof(ds->schema), digest);
	if (rc)
		goto out;
	/* The caller's record changes only on success. */
	set_text(ds->type, sizeof(ds->type), "csv");
	set_text(ds->header, sizeof(ds->header), hdr_names[sc.lay.mode]);
	set_text(ds->digest, sizeof(ds->digest), digest);
	memcpy(ds->schema, schema, sizeof(ds->schema));
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
	free(names);
	free(schema);
	fedc_buf_free(&sc.counts);
	return rc;
}

/* ---- load -------------------------------------------------------------------- */

static enum fedc_err changed_since_registration(const struct node_dataset *ds, const char *now)
{
	char why[80];

	snprintf(why, sizeof(why), "SHA-256 now %.12s..., was %.12s...", now, ds->digest);
	return dataset__changed(ds, ds->path, why);
}

static struct dataset_options load_options(const struct node_dataset *ds)
{
	return (struct dataset_options){ ds->type, ds->header, ds->label_column, ds->n_classes == 0 };
}

/* One filling pass: the buffers are sized from the registered shape (the
 * node's own database), filled while the bytes are hashed, and kept only if
 * the digest is still the registered one. take_row() stops a file that grew
 * or changed width before it can overrun the buffers. *needs_schema: the
 * pass had no schema and met a cell that needs one. */
static enum fedc_err fill_pass(const struct node_dataset *ds, const struct fedc_table_schema *schema,
			       struct fedc_data *out, bool *needs_schema)
{
	struct dataset_options opts = load_options(ds);
	struct csv_scan fill = { .counts = FEDC_BUF_INIT(CSV_MAX_COUNTS_BYTES) };
	struct fedc_hash *hash = NULL;
	char digest[FEDC_HASH_MAX_HEXLEN + 1] = "?";
	struct label_names *names = malloc(sizeof(*names));
	int fd = -1;
	enum fedc_err rc = names ? dataset__alloc_data(out, ds->n_samples, ds->n_features) : FEDC_ERR_NOMEM;

	if (!rc)
		rc = use_label_names(ds, names, &fill);
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
	fill.schema = schema;
	rc = scan_file(fd, ds->path, &opts, hash, &fill);
	*needs_schema = fill.needs_schema;
	if (!rc)
		rc = fedc_hash_final(hash, digest);
	if (rc == FEDC_ERR_DIGEST || (!rc && (fill.n_rows != ds->n_samples || strcmp(digest, ds->digest) != 0)))
		rc = changed_since_registration(ds, digest);
out:
	if (rc)
		dataset__free_data(out);
	free(names);
	fedc_buf_free(&fill.counts);
	fedc_hash_free(hash);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* The schema of a record that does not carry it (the plan's process gets
 * the record without it): found again in the file, whose digest must still
 * be the registered one, so it is the schema registration found. *out is
 * NULL for a table that has none, which is a change of the file when the
 * caller met a cell that needs one (`required`). */
static enum fedc_err derive_schema(const struct node_dataset *ds, bool required, struct fedc_table_schema **out)
{
	struct dataset_options opts = load_options(ds);
	struct csv_scan sc = { .counts = FEDC_BUF_INIT(CSV_MAX_COUNTS_BYTES) };
	char digest[FEDC_HASH_MAX_HEXLEN + 1];
	char *text = malloc(NODE_SCHEMA_BUF);
	struct label_names *names = malloc(sizeof(*names));
	enum fedc_err rc = text && names ? FEDC_OK : FEDC_ERR_NOMEM;

	if (!rc)
		rc = use_label_names(ds, names, &sc);
	if (!rc)
		rc = inspect_file(ds->path, &opts, &sc, text, NODE_SCHEMA_BUF, digest);
	*out = NULL;
	if (!rc && (strcmp(digest, ds->digest) != 0 || (required && !text[0])))
		rc = changed_since_registration(ds, digest);
	if (!rc && text[0])
		rc = dataset_schema__parse(text, (uint32_t)ds->n_features, out);
	free(names);
	free(text);
	fedc_buf_free(&sc.counts);
	return rc;
}

enum fedc_err dataset_csv__load(const struct node_dataset *ds, struct fedc_data *out)
{
	struct fedc_table_schema *schema = NULL;
	bool needs_schema = false;
	enum fedc_err rc = FEDC_OK;

	memset(out, 0, sizeof(*out));
	if (strcmp(ds->header, "auto") == 0) /* registration stores the mode it found */
		return fedc_fail(FEDC_ERR_INVAL, "dataset \"%s\": header mode not resolved", ds->name);
	if (ds->n_features == 0 || ds->n_features > CSV_MAX_CELLS)
		return fedc_fail(FEDC_ERR_INVAL, "dataset \"%s\": %" PRIu64 " features", ds->name, ds->n_features);
	if (ds->schema[0])
		rc = dataset_schema__parse(ds->schema, (uint32_t)ds->n_features, &schema);
	else if (strcmp(ds->header, "names") == 0) /* its names make a schema */
		rc = derive_schema(ds, false, &schema);
	if (!rc)
		rc = fill_pass(ds, schema, out, &needs_schema);
	if (rc && needs_schema && !schema) {
		fedc_clear_error();
		rc = derive_schema(ds, true, &schema);
		if (!rc)
			rc = fill_pass(ds, schema, out, &needs_schema);
	}
	if (rc)
		dataset_schema__free(schema);
	else
		out->schema = schema;
	return rc;
}
