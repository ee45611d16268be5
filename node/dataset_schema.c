/* A table's columns: gathered at registration, stored as text, parsed back
 * for a load. The format is described in dataset_schema.h. */
#include "dataset_schema.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fedc/buf.h"
#include "fedc/config.h"

#define SCHEMA_MAGIC "fedc-schema 1 "

static const char *const type_names[] = { "?", "numeric", "categorical", "text" };

const char *dataset_schema__type_name(uint32_t type)
{
	return type >= 1 && type <= 3 ? type_names[type] : type_names[0];
}

bool dataset_schema__is_missing(const char *cell, size_t len)
{
	return len == 0 || (len == 2 && strncasecmp(cell, "NA", 2) == 0) ||
	       (len == 3 && strncasecmp(cell, "NaN", 3) == 0);
}

/* ---- builder ---- */

enum fedc_err dataset_schema__builder_init(struct schema_builder *b, uint32_t n_columns)
{
	b->n_columns = n_columns;
	b->cols = calloc(n_columns ? n_columns : 1, sizeof(*b->cols));
	return b->cols ? FEDC_OK : FEDC_ERR_NOMEM;
}

static void drop_values(struct schema_col *c)
{
	for (uint32_t i = 0; i < c->n_values; i++)
		free(c->values[i]);
	free(c->values);
	c->values = NULL;
	c->n_values = 0;
}

void dataset_schema__builder_free(struct schema_builder *b)
{
	for (uint32_t i = 0; b->cols && i < b->n_columns; i++) {
		free(b->cols[i].name);
		drop_values(&b->cols[i]);
	}
	free(b->cols);
	b->cols = NULL;
	b->n_columns = 0;
}

enum fedc_err dataset_schema__name(struct schema_builder *b, uint32_t col, const char *name, size_t len)
{
	char *copy = strndup(name, len);

	if (!copy)
		return FEDC_ERR_NOMEM;
	free(b->cols[col].name);
	b->cols[col].name = copy;
	b->named = true;
	return FEDC_OK;
}

/* Binary search in the sorted distinct values: the slot of `cell`, *found
 * when it is there. */
static uint32_t find_value(const struct schema_col *c, const char *cell, bool *found)
{
	uint32_t lo = 0, hi = c->n_values;

	*found = false;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(c->values[mid], cell);

		if (cmp == 0) {
			*found = true;
			return mid;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Adds a distinct value; past the limit the column has "many" values and
 * keeps none (it can only be numeric or text from then on). */
static enum fedc_err add_value(struct schema_col *c, const char *cell, size_t len)
{
	bool found;
	uint32_t at;
	char *copy;

	if (c->many)
		return FEDC_OK;
	if (len > SCHEMA_MAX_VALUE_LEN || memchr(cell, '\0', len)) {
		c->many = true;
		drop_values(c);
		return FEDC_OK;
	}
	if (!c->values && !(c->values = calloc(SCHEMA_MAX_CATEGORIES, sizeof(char *))))
		return FEDC_ERR_NOMEM;
	at = find_value(c, cell, &found);
	if (found)
		return FEDC_OK;
	if (c->n_values == SCHEMA_MAX_CATEGORIES) {
		c->many = true;
		drop_values(c);
		return FEDC_OK;
	}
	if (!(copy = strndup(cell, len)))
		return FEDC_ERR_NOMEM;
	memmove(c->values + at + 1, c->values + at, (c->n_values - at) * sizeof(char *));
	c->values[at] = copy;
	c->n_values++;
	return FEDC_OK;
}

enum fedc_err dataset_schema__observe(struct schema_builder *b, uint32_t col, const char *cell, size_t len,
				      bool missing, bool is_number)
{
	struct schema_col *c = &b->cols[col];

	if (missing) {
		c->n_missing++;
		return FEDC_OK;
	}
	if (!is_number)
		c->non_numeric = true;
	return add_value(c, cell, len);
}

static uint32_t col_type(const struct schema_col *c)
{
	if (!c->non_numeric)
		return FEDC_COLUMN_NUMERIC;
	return c->many ? FEDC_COLUMN_TEXT : FEDC_COLUMN_CATEGORICAL;
}

bool dataset_schema__plain(const struct schema_builder *b)
{
	if (b->named)
		return false;
	for (uint32_t i = 0; i < b->n_columns; i++) {
		if (b->cols[i].non_numeric || b->cols[i].n_missing)
			return false;
	}
	return true;
}

/* ---- serializing ---- */

static bool must_escape(unsigned char ch)
{
	return ch < 0x20 || ch == 0x7f || ch == '%';
}

static enum fedc_err put_escaped(struct fedc_buf *out, const char *s)
{
	enum fedc_err rc = FEDC_OK;

	for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++)
		rc = must_escape(*p) ? fedc_buf_printf(out, "%%%02X", *p) : fedc_buf_append(out, p, 1);
	return rc;
}

static enum fedc_err put_column(struct fedc_buf *out, const struct schema_col *c, uint32_t k)
{
	uint32_t type = col_type(c);
	enum fedc_err rc = fedc_buf_printf(out, "%s\t%" PRIu64 "\t", type_names[type], c->n_missing);

	if (!rc && c->name)
		rc = put_escaped(out, c->name);
	else if (!rc)
		rc = fedc_buf_printf(out, "c%" PRIu32, k);
	for (uint32_t i = 0; !rc && type == FEDC_COLUMN_CATEGORICAL && i < c->n_values; i++) {
		rc = fedc_buf_append(out, "\t", 1);
		if (!rc)
			rc = put_escaped(out, c->values[i]);
	}
	if (!rc)
		rc = fedc_buf_append(out, "\n", 1);
	return rc;
}

/* The column whose categories take the most room, for the message. */
static uint32_t widest_column(const struct schema_builder *b)
{
	uint32_t best = 0;
	size_t best_len = 0;

	for (uint32_t i = 0; i < b->n_columns; i++) {
		size_t len = 0;

		for (uint32_t v = 0; col_type(&b->cols[i]) == FEDC_COLUMN_CATEGORICAL && v < b->cols[i].n_values; v++)
			len += strlen(b->cols[i].values[v]) + 1;
		if (len > best_len) {
			best = i;
			best_len = len;
		}
	}
	return best;
}

enum fedc_err dataset_schema__serialize(const struct schema_builder *b, char *out, size_t cap)
{
	struct fedc_buf text = FEDC_BUF_INIT(cap ? cap - 1 : 0);
	enum fedc_err rc = FEDC_OK;

	out[0] = '\0';
	if (dataset_schema__plain(b))
		return FEDC_OK;
	rc = fedc_buf_printf(&text, SCHEMA_MAGIC "%" PRIu32 "\n", b->n_columns);
	for (uint32_t i = 0; !rc && i < b->n_columns; i++)
		rc = put_column(&text, &b->cols[i], i);
	if (rc == FEDC_ERR_TOO_BIG) {
		const struct schema_col *w = &b->cols[widest_column(b)];

		rc = fedc_fail(FEDC_ERR_TOO_BIG,
			       "the columns' description (names and categories) does not fit the node's %zu-byte record;"
			       " column \"%s\" has %" PRIu32 " categories: shorten its values or drop the column",
			       cap, w->name ? w->name : "?", w->n_values);
	}
	if (!rc)
		memcpy(out, text.data, text.len + 1);
	fedc_buf_free(&text);
	return rc;
}

/* ---- parsing ---- */

struct schema_reader {
	const char *p, *end;
	char *strings; /* where unescaped strings go, inside the allocation */
	unsigned line;
};

static enum fedc_err bad(const struct schema_reader *r, const char *what)
{
	return fedc_fail(FEDC_ERR_MALFORMED, "stored dataset schema, line %u: %s (register the dataset again)",
			 r->line, what);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads one field up to a tab or a newline (not consumed), unescaped into
 * r->strings; *at points at it. */
static enum fedc_err read_string(struct schema_reader *r, const char **at)
{
	char *dst = r->strings;

	*at = dst;
	while (r->p < r->end && *r->p != '\t' && *r->p != '\n') {
		if (*r->p == '%') {
			int hi = r->end - r->p > 2 ? hex_digit(r->p[1]) : -1;
			int lo = hi >= 0 ? hex_digit(r->p[2]) : -1;

			if (lo < 0 || (hi << 4 | lo) == 0)
				return bad(r, "a bad %XX escape");
			*dst++ = (char)(hi << 4 | lo);
			r->p += 3;
		} else {
			*dst++ = *r->p++;
		}
	}
	*dst++ = '\0';
	r->strings = dst;
	return FEDC_OK;
}

static enum fedc_err read_tab(struct schema_reader *r)
{
	if (r->p >= r->end || *r->p != '\t')
		return bad(r, "a field is missing");
	r->p++;
	return FEDC_OK;
}

static enum fedc_err read_type(struct schema_reader *r, uint32_t *type)
{
	for (uint32_t t = 1; t <= 3; t++) {
		size_t n = strlen(type_names[t]);

		if ((size_t)(r->end - r->p) > n && memcmp(r->p, type_names[t], n) == 0 && r->p[n] == '\t') {
			*type = t;
			r->p += n;
			return FEDC_OK;
		}
	}
	return bad(r, "the type is not numeric, categorical or text");
}

static enum fedc_err read_count(struct schema_reader *r, uint64_t *out)
{
	char digits[24];
	size_t n = 0;
	int64_t v;

	while (r->p + n < r->end && r->p[n] >= '0' && r->p[n] <= '9' && n < sizeof(digits) - 1)
		n++;
	memcpy(digits, r->p, n);
	digits[n] = '\0';
	if (n == 0 || !fedc_parse_int(digits, 0, INT64_MAX, &v))
		return bad(r, "the missing count is not a number");
	r->p += n;
	*out = (uint64_t)v;
	return FEDC_OK;
}

/* One column line; its categories' pointers go at *slots (advanced). */
static enum fedc_err read_column(struct schema_reader *r, struct fedc_column *c, const char ***slots,
				 const char **slots_end)
{
	const char **first = *slots;
	enum fedc_err rc = read_type(r, &c->type);

	if (!rc)
		rc = read_tab(r);
	if (!rc)
		rc = read_count(r, &c->n_missing);
	if (!rc)
		rc = read_tab(r);
	if (!rc)
		rc = read_string(r, &c->name);
	if (!rc && !c->name[0])
		rc = bad(r, "a column without a name");
	while (!rc && r->p < r->end && *r->p == '\t') {
		r->p++;
		if (*slots == slots_end || *slots - first == SCHEMA_MAX_CATEGORIES)
			return bad(r, "too many categories");
		rc = read_string(r, *slots);
		if (!rc && *slots > first && strcmp((*slots)[-1], **slots) >= 0)
			rc = bad(r, "categories not in strictly increasing order");
		(*slots)++;
	}
	if (!rc && (r->p >= r->end || *r->p != '\n'))
		rc = bad(r, "the line does not end");
	if (rc)
		return rc;
	r->p++;
	c->n_categories = (uint32_t)(*slots - first);
	c->categories = first;
	if ((c->type == FEDC_COLUMN_CATEGORICAL) != (c->n_categories > 0))
		return bad(r, "categories go with a categorical column, and only with one");
	return FEDC_OK;
}

static enum fedc_err read_header(struct schema_reader *r, uint32_t n_columns)
{
	char want[48];
	int n = snprintf(want, sizeof(want), SCHEMA_MAGIC "%" PRIu32 "\n", n_columns);

	if ((size_t)(r->end - r->p) < (size_t)n || memcmp(r->p, want, (size_t)n) != 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "stored dataset schema: not a schema of %" PRIu32
				 " columns (register the dataset again)", n_columns);
	r->p += n;
	r->line = 2;
	return FEDC_OK;
}

/* Upper bound of the categories in the text: its tabs. */
static size_t count_tabs(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == '\t';
	return n;
}

enum fedc_err dataset_schema__parse(const char *text, uint32_t n_columns, struct fedc_table_schema **out)
{
	size_t len = strlen(text), n_slots = count_tabs(text, len) + 1;
	size_t head = sizeof(struct fedc_table_schema) + (size_t)n_columns * sizeof(struct fedc_column);
	struct schema_reader r = { text, text + len, NULL, 1 };
	struct fedc_table_schema *s;
	struct fedc_column *cols;
	const char **slots, **slots_end;
	enum fedc_err rc;

	*out = NULL;
	if (n_columns == 0 || n_columns > len)
		return fedc_fail(FEDC_ERR_MALFORMED, "stored dataset schema: %" PRIu32 " columns cannot be"
				 " described in %zu bytes", n_columns, len);
	/* One block: the struct, the columns, category pointers, then the
	 * strings (unescaped, each no longer than its text plus a NUL). */
	s = malloc(head + n_slots * sizeof(char *) + len + 1);
	if (!s)
		return FEDC_ERR_NOMEM;
	cols = (struct fedc_column *)(void *)(s + 1);
	slots = (const char **)(void *)((char *)s + head);
	slots_end = slots + n_slots;
	r.strings = (char *)slots_end;
	rc = read_header(&r, n_columns);
	for (uint32_t i = 0; !rc && i < n_columns; i++, r.line++)
		rc = read_column(&r, &cols[i], &slots, slots_end);
	if (!rc && r.p != r.end)
		rc = bad(&r, "more columns than the dataset has");
	if (rc) {
		free(s);
		return rc;
	}
	s->n_columns = n_columns;
	s->columns = cols;
	*out = s;
	return FEDC_OK;
}

void dataset_schema__free(const struct fedc_table_schema *schema)
{
	free((void *)(uintptr_t)schema);
}

int64_t dataset_schema__category_index(const struct fedc_column *col, const char *cell)
{
	uint32_t lo = 0, hi = col->n_categories;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(col->categories[mid], cell);

		if (cmp == 0)
			return mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}
