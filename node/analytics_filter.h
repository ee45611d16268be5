/* The row filter of an analytics query (docs/researcher-guide.md,
 * "Federated analytics"): comparisons of a column with a number or, for a
 * categorical column, a quoted category, joined by `and`, `or`, `not` and
 * parentheses, e.g. `c0 > 15 and (label == 1 or not c3 <= 500)`.
 *
 * Grammar (`and` binds tighter than `or`):
 *   expr := conj ("or" conj)*      conj := unary ("and" unary)*
 *   unary := "not" unary | "(" expr ")" | NAME OP VALUE
 *   OP := == != < <= > >=          VALUE := NUMBER | "TEXT"
 * The text comes from the researcher: parsing is bounded (ANALYTICS_FILTER_MAX
 * bytes, ANALYTICS_FILTER_MAX_NODES terms, nesting ANALYTICS_FILTER_MAX_DEPTH)
 * and every failure names the offending position and what to write instead.
 * A missing cell (NAN) makes its comparison false. */
#ifndef FEDC_NODE_ANALYTICS_FILTER_H
#define FEDC_NODE_ANALYTICS_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

#define ANALYTICS_FILTER_MAX 512
#define ANALYTICS_FILTER_MAX_NODES 64
#define ANALYTICS_FILTER_MAX_DEPTH 16

/* A column the filter may name: `index` into the row's values; a
 * categorical one resolves a quoted category to its index with `category`. */
struct analytics_col {
	const char *name;
	uint32_t index;
	bool categorical;
	uint32_t n_categories;
	const char *const *categories; /* sorted by strcmp */
};

enum filter_op { FOP_EQ, FOP_NE, FOP_LT, FOP_LE, FOP_GT, FOP_GE, FOP_AND, FOP_OR, FOP_NOT, FOP_TRUE };

struct filter_node {
	enum filter_op op;
	uint32_t column;   /* comparisons: the row index to read */
	double value;      /* comparisons: the number (a category's index) */
	int16_t left, right; /* AND, OR: operands; NOT: left */
};

struct analytics_filter {
	struct filter_node nodes[ANALYTICS_FILTER_MAX_NODES];
	uint32_t n_nodes;
	int16_t root;
};

/* Parses `text` ("" or only blanks: every row passes) against the columns
 * cols[0..n_cols). FEDC_ERR_INVAL with a detail naming the position and the
 * fix: a syntax error, an unknown column (the known ones listed), a quoted
 * value for a numeric column or a category the column does not have, a
 * number for a categorical column, too long or too deep. */
FEDC_NODISCARD
enum fedc_err analytics_filter__parse(const char *text, const struct analytics_col *cols, size_t n_cols,
				      struct analytics_filter *out);

/* True when the row (its values, NAN for missing) passes. */
bool analytics_filter__match(const struct analytics_filter *f, const float *row);

#endif
