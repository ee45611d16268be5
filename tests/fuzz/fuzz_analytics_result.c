/* Fuzz target: the researcher's reader of a node's analytics partials (the
 * `result` of `analytics-reply`, researcher/analytics_combine.c), outside
 * bytes from any node of the federation.
 *
 * The input is combined twice into totals for a fixed request (columns c0
 * with bins 0,10,20 and c3 without). Properties: a refused input changes no
 * total and names a reason; an accepted one adds at most one node to each
 * total, whose figures stay finite; accepting the same input twice doubles
 * every count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "fuzz.h"

static void check_totals(const struct analytics_combined *c)
{
	for (size_t i = 0; i < c->n_totals; i++) {
		const struct analytics_total *t = &c->totals[i];

		fuzz_require(t->column < c->req->n_columns, "a total of an asked column");
		fuzz_require(isfinite(t->count) && isfinite(t->var_count) && t->var_count >= 0, "finite figures");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct analytics_request req;
	struct analytics_combined c;
	size_t before;
	double first = 0;

	if (!req.n_columns) {
		req.n_columns = 2;
		strcpy(req.columns[0].name, "c0");
		req.columns[0].n_edges = 3;
		req.columns[0].edges[1] = 10;
		req.columns[0].edges[2] = 20;
		strcpy(req.columns[1].name, "c3");
	}
	fuzz_require(analytics__combined_init(&c, &req) == FEDC_OK, "memory");
	if (analytics__combine(&c, "node-a", "ds", data, size) != FEDC_OK) {
		fuzz_require(fedc_last_error()[0] != '\0', "a refusal says why");
		fuzz_require(c.n_nodes == 0, "a refused result adds no node");
		for (size_t i = 0; i < c.n_totals; i++)
			fuzz_require(c.totals[i].n_nodes == 0 && c.totals[i].n_suppressed == 0,
				     "a refused result adds nothing");
		analytics__combined_free(&c);
		return 0;
	}
	check_totals(&c);
	before = c.n_totals;
	for (size_t i = 0; i < c.n_totals; i++)
		first += c.totals[i].count;
	fuzz_require(analytics__combine(&c, "node-b", "ds", data, size) == FEDC_OK, "the same result is accepted again");
	fuzz_require(c.n_totals == before, "the same cells");
	{
		double second = 0;

		for (size_t i = 0; i < c.n_totals; i++)
			second += c.totals[i].count;
		fuzz_require(second == 2 * first || (isinf(second) && isinf(2 * first)), "counts add up");
	}
	check_totals(&c);
	analytics__combined_free(&c);
	return 0;
}
