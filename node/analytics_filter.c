/* Recursive descent over the filter grammar of analytics_filter.h. */
#include "analytics_filter.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *text;
	size_t pos;
	uint32_t depth;
	const struct analytics_col *cols;
	size_t n_cols;
	struct analytics_filter *out;
};

static enum fedc_err syntax(const struct parser *p, const char *what)
{
	return fedc_fail(FEDC_ERR_INVAL, "filter \"%s\": at character %zu: %s", p->text, p->pos + 1, what);
}

static void skip_blanks(struct parser *p)
{
	while (p->text[p->pos] == ' ' || p->text[p->pos] == '\t')
		p->pos++;
}

/* True (and consumed) when the next word is exactly `kw`. */
static bool keyword(struct parser *p, const char *kw)
{
	size_t len = strlen(kw);
	char next;

	skip_blanks(p);
	if (strncmp(p->text + p->pos, kw, len) != 0)
		return false;
	next = p->text[p->pos + len];
	if (isalnum((unsigned char)next) || next == '_' || next == '.')
		return false;
	p->pos += len;
	return true;
}

static enum fedc_err add_node(struct parser *p, struct filter_node node, int16_t *index)
{
	if (p->out->n_nodes >= ANALYTICS_FILTER_MAX_NODES)
		return syntax(p, "too many terms: a filter holds at most 64 comparisons and operators");
	p->out->nodes[p->out->n_nodes] = node;
	*index = (int16_t)p->out->n_nodes++;
	return FEDC_OK;
}

static enum fedc_err parse_expr(struct parser *p, int16_t *index);

static const struct analytics_col *find_col(const struct parser *p, const char *name, size_t len)
{
	for (size_t i = 0; i < p->n_cols; i++) {
		if (strlen(p->cols[i].name) == len && memcmp(p->cols[i].name, name, len) == 0)
			return &p->cols[i];
	}
	return NULL;
}

static enum fedc_err unknown_col(const struct parser *p, const char *name, size_t len)
{
	char known[256] = "";
	size_t used = 0;

	for (size_t i = 0; i < p->n_cols && used + 40 < sizeof(known); i++)
		used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "", p->cols[i].name);
	if (used + 40 >= sizeof(known))
		snprintf(known + used, sizeof(known) - used, ", ...");
	return fedc_fail(FEDC_ERR_INVAL, "filter \"%s\": unknown column \"%.*s\": name one of the dataset's columns (%s)",
			 p->text, (int)len, name, known);
}

static enum fedc_err parse_op(struct parser *p, enum filter_op *op)
{
	static const struct { const char *s; enum filter_op op; } ops[] = {
		{ "==", FOP_EQ }, { "!=", FOP_NE }, { "<=", FOP_LE }, { ">=", FOP_GE }, { "<", FOP_LT }, { ">", FOP_GT },
	};

	skip_blanks(p);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t len = strlen(ops[i].s);

		if (strncmp(p->text + p->pos, ops[i].s, len) == 0) {
			p->pos += len;
			*op = ops[i].op;
			return FEDC_OK;
		}
	}
	return syntax(p, "expected a comparison: ==, !=, <, <=, > or >=");
}

/* A quoted category of a categorical column, as its index. */
static enum fedc_err parse_category(struct parser *p, const struct analytics_col *col, double *value)
{
	const char *start = p->text + p->pos + 1;
	const char *end = strchr(start, '"');
	size_t len;

	if (!end)
		return syntax(p, "a quoted value is not closed: end it with \"");
	len = (size_t)(end - start);
	if (!col->categorical)
		return fedc_fail(FEDC_ERR_INVAL, "filter \"%s\": column %s is numeric: compare it with a number, "
				 "not \"%.*s\"", p->text, col->name, (int)len, start);
	for (uint32_t i = 0; i < col->n_categories; i++) {
		if (strlen(col->categories[i]) == len && memcmp(col->categories[i], start, len) == 0) {
			*value = (double)i;
			p->pos = (size_t)(end - p->text) + 1;
			return FEDC_OK;
		}
	}
	return fedc_fail(FEDC_ERR_INVAL, "filter \"%s\": column %s has no category \"%.*s\": use one it has "
			 "(fedc-node dataset show lists them)", p->text, col->name, (int)len, start);
}

static enum fedc_err parse_value(struct parser *p, const struct analytics_col *col, double *value)
{
	char *end = NULL;

	skip_blanks(p);
	if (p->text[p->pos] == '"')
		return parse_category(p, col, value);
	if (col->categorical)
		return fedc_fail(FEDC_ERR_INVAL, "filter \"%s\": column %s is categorical: compare it with a quoted "
				 "category, e.g. %s == \"%s\"", p->text, col->name, col->name,
				 col->n_categories ? col->categories[0] : "value");
	errno = 0;
	*value = strtod(p->text + p->pos, &end);
	*value = (double)(float)*value; /* rows hold floats: compare as one */
	if (end == p->text + p->pos || errno == ERANGE || !isfinite(*value))
		return syntax(p, "expected a finite number or a quoted category");
	p->pos = (size_t)(end - p->text);
	return FEDC_OK;
}

static enum fedc_err parse_comparison(struct parser *p, int16_t *index)
{
	struct filter_node node = { .left = -1, .right = -1 };
	const struct analytics_col *col;
	size_t start, len;
	enum fedc_err rc;

	skip_blanks(p);
	start = p->pos;
	while (isalnum((unsigned char)p->text[p->pos]) || p->text[p->pos] == '_' || p->text[p->pos] == '.')
		p->pos++;
	len = p->pos - start;
	if (len == 0 || (len == 3 && (memcmp(p->text + start, "and", 3) == 0 || memcmp(p->text + start, "not", 3) == 0)) ||
	    (len == 2 && memcmp(p->text + start, "or", 2) == 0)) {
		p->pos = start;
		return syntax(p, "expected a column name, `not` or `(`");
	}
	col = find_col(p, p->text + start, len);
	if (!col)
		return unknown_col(p, p->text + start, len);
	node.column = col->index;
	rc = parse_op(p, &node.op);
	if (!rc)
		rc = parse_value(p, col, &node.value);
	if (!rc)
		rc = add_node(p, node, index);
	return rc;
}

static enum fedc_err parse_unary(struct parser *p, int16_t *index)
{
	struct filter_node node = { .op = FOP_NOT, .right = -1 };
	enum fedc_err rc;

	if (++p->depth > ANALYTICS_FILTER_MAX_DEPTH)
		return syntax(p, "nested too deep: at most 16 levels of `not` and parentheses");
	skip_blanks(p);
	if (keyword(p, "not")) {
		rc = parse_unary(p, &node.left);
		if (!rc)
			rc = add_node(p, node, index);
	} else if (p->text[p->pos] == '(') {
		p->pos++;
		rc = parse_expr(p, index);
		skip_blanks(p);
		if (!rc && p->text[p->pos] != ')')
			rc = syntax(p, "expected `)`, `and` or `or`");
		if (!rc)
			p->pos++;
	} else {
		rc = parse_comparison(p, index);
	}
	p->depth--;
	return rc;
}

/* One level of `and` (conj) or `or` (expr): operands joined by `kw`. */
static enum fedc_err parse_chain(struct parser *p, const char *kw, enum filter_op op, int16_t *index)
{
	enum fedc_err rc = op == FOP_AND ? parse_unary(p, index) : parse_chain(p, "and", FOP_AND, index);

	while (!rc && keyword(p, kw)) {
		struct filter_node node = { .op = op, .left = *index };

		rc = op == FOP_AND ? parse_unary(p, &node.right) : parse_chain(p, "and", FOP_AND, &node.right);
		if (!rc)
			rc = add_node(p, node, index);
	}
	return rc;
}

static enum fedc_err parse_expr(struct parser *p, int16_t *index)
{
	return parse_chain(p, "or", FOP_OR, index);
}

enum fedc_err analytics_filter__parse(const char *text, const struct analytics_col *cols, size_t n_cols,
				      struct analytics_filter *out)
{
	struct parser p = { .text = text, .cols = cols, .n_cols = n_cols, .out = out };
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	if (strlen(text) > ANALYTICS_FILTER_MAX)
		return fedc_fail(FEDC_ERR_INVAL, "filter: %zu characters, at most %d: shorten it", strlen(text),
				 ANALYTICS_FILTER_MAX);
	skip_blanks(&p);
	if (!text[p.pos]) {
		out->nodes[0].op = FOP_TRUE;
		out->n_nodes = 1;
		return FEDC_OK;
	}
	rc = parse_expr(&p, &out->root);
	skip_blanks(&p);
	if (!rc && text[p.pos])
		rc = syntax(&p, "unexpected text: join comparisons with `and` or `or`, quote categories with \"");
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

static bool eval(const struct analytics_filter *f, int16_t i, const float *row)
{
	const struct filter_node *n = &f->nodes[i];
	double v;

	switch (n->op) {
	case FOP_TRUE:
		return true;
	case FOP_AND:
		return eval(f, n->left, row) && eval(f, n->right, row);
	case FOP_OR:
		return eval(f, n->left, row) || eval(f, n->right, row);
	case FOP_NOT:
		return !eval(f, n->left, row);
	default:
		break;
	}
	v = row[n->column];
	if (isnan(v))
		return false;
	switch (n->op) {
	case FOP_EQ: return v == n->value;
	case FOP_NE: return v != n->value;
	case FOP_LT: return v < n->value;
	case FOP_LE: return v <= n->value;
	case FOP_GT: return v > n->value;
	case FOP_GE: return v >= n->value;
	default: return false;
	}
}

bool analytics_filter__match(const struct analytics_filter *f, const float *row)
{
	return f->n_nodes == 0 || eval(f, f->root, row);
}
