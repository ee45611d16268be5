/* Fuzz target: the analytics query and its row filter, as the node reads
 * them from a researcher's `analytics` request (node/analytics_query.h,
 * node/analytics_filter.h).
 *
 * The input is parsed as a filter over a fixed table (numeric c0 and c1, a
 * categorical `sex` of F and M, the label), and as a whole query text.
 * Properties: parsing ends (bounded depth and size); a failure leaves an
 * empty filter and names a reason; a parsed filter has at most
 * ANALYTICS_FILTER_MAX_NODES terms whose operands point at earlier terms
 * and whose columns are in the row, and evaluates on rows with missing
 * cells without reading past them; a parsed query has 1 to
 * ANALYTICS_MAX_COLUMNS named columns, increasing bins and bounds LO < HI. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_filter.h"
#include "analytics_query.h"
#include "fedc/err.h"
#include "fuzz.h"

static const char *const sexes[] = { "F", "M" };
static const struct analytics_col cols[] = {
	{ "c0", 0, false, 0, NULL },
	{ "c1", 1, false, 0, NULL },
	{ "sex", 2, true, 2, sexes },
	{ "label", 3, false, 0, NULL },
};

static void check_filter(const struct analytics_filter *f)
{
	static const float rows[][4] = { { 1, 2, 0, 1 }, { -5, 1e30f, 1, 0 }, { NAN, NAN, NAN, NAN }, { 0, 0, 1, 1 } };

	fuzz_require(f->n_nodes >= 1 && f->n_nodes <= ANALYTICS_FILTER_MAX_NODES, "1 to 64 terms");
	fuzz_require(f->root >= 0 && (uint32_t)f->root < f->n_nodes, "the root is a term");
	for (uint32_t i = 0; i < f->n_nodes; i++) {
		const struct filter_node *n = &f->nodes[i];

		if (n->op == FOP_AND || n->op == FOP_OR)
			fuzz_require(n->left >= 0 && n->right >= 0 && (uint32_t)n->left < i && (uint32_t)n->right < i,
				     "operands come before their operator");
		else if (n->op == FOP_NOT)
			fuzz_require(n->left >= 0 && (uint32_t)n->left < i, "the operand comes before `not`");
		else if (n->op != FOP_TRUE)
			fuzz_require(n->column < 4 && isfinite(n->value), "a comparison reads a column of the row");
	}
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++)
		(void)analytics_filter__match(f, rows[r]);
}

static void check_query(const struct analytics_query *q)
{
	fuzz_require(q->n_columns >= 1 && q->n_columns <= ANALYTICS_MAX_COLUMNS, "1 to 32 columns");
	for (uint32_t c = 0; c < q->n_columns; c++) {
		const struct analytics_column_query *col = &q->columns[c];

		fuzz_require(col->name[0] && strlen(col->name) <= ANALYTICS_NAME_MAX, "a named column");
		fuzz_require(col->n_edges == 0 || (col->n_edges >= 2 && col->n_edges <= ANALYTICS_MAX_EDGES),
			     "no bins, or 1 to 64");
		for (uint32_t e = 1; e < col->n_edges; e++)
			fuzz_require(col->edges[e - 1] < col->edges[e], "increasing edges");
		fuzz_require(!col->has_bounds || col->lo < col->hi, "LO < HI");
	}
	fuzz_require(!q->has_epsilon || (q->epsilon > 0 && isfinite(q->epsilon)), "epsilon > 0");
	fuzz_require(strlen(q->filter) <= ANALYTICS_FILTER_MAX, "the filter within its bound");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct analytics_filter *f = malloc(sizeof(*f));
	struct analytics_query *q = malloc(sizeof(*q));

	fuzz_require(text && f && q, "memory");
	memcpy(text, data, size);
	text[size] = '\0'; /* the message's string field: NUL-terminated */
	if (analytics_filter__parse(text, cols, sizeof(cols) / sizeof(cols[0]), f) == FEDC_OK)
		check_filter(f);
	else
		fuzz_require(f->n_nodes == 0 && fedc_last_error()[0], "a refusal says why and keeps nothing");
	if (analytics_query__parse(text, q) == FEDC_OK)
		check_query(q);
	free(text);
	free(f);
	free(q);
	return 0;
}
