/* Fuzz target: the node's reader of the plan process's report
 * (node/plan_report.h), the bytes a hostile plan can write to its pipe.
 *
 * Input: 1 byte that picks the dataset's row count (0 to 255), then the
 * report's bytes. They are fed three ways that must agree: whole, one byte
 * at a time (a pipe may cut anywhere), and line by line through
 * plan_report__line(). A report that ends in `done` must hold what the node
 * then trusts: one sample count that fits the dataset, finite metrics under
 * valid names, each name once, at most FEDC_PLAN_MAX_METRICS of a kind, and
 * printable error text; a refused one says why. */
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "plan_report.h"

static void check_metrics(const struct fedc_metrics *m)
{
	fuzz_require(m->count <= FEDC_PLAN_MAX_METRICS, "at most FEDC_PLAN_MAX_METRICS metrics of a kind");
	for (size_t i = 0; i < m->count; i++) {
		const char *name = m->items[i].name;

		fuzz_require(plan_report__name_ok(name, strnlen(name, FEDC_PLAN_METRIC_NAME_LEN)),
			     "a metric name follows the name rule");
		fuzz_require(isfinite(m->items[i].value), "a metric value is finite");
		for (size_t j = 0; j < i; j++)
			fuzz_require(strcmp(m->items[j].name, name) != 0, "a metric name appears once per kind");
	}
}

static void check_report(const struct plan_report *r, enum fedc_err rc)
{
	fuzz_require(rc == FEDC_OK || rc == FEDC_ERR_MALFORMED, "the parser returns OK or MALFORMED");
	fuzz_require((rc != FEDC_OK) == (r->violation[0] != '\0'), "a refusal, and only a refusal, says why");
	fuzz_require(!(rc && r->done), "a refused report is never done");
	for (const char *p = r->error; *p; p++)
		fuzz_require(*p >= 0x20 && *p < 0x7f, "error text is printable ASCII");
	fuzz_require(!r->final || r->error[0], "a `refused` round has its text");
	if (!r->done)
		return;
	fuzz_require(r->has_samples, "a done round reported its samples");
	fuzz_require(r->n_train <= r->max_rows && r->n_test <= r->max_rows &&
		     r->n_train + r->n_test <= r->max_rows, "the sample counts fit the dataset");
	fuzz_require(r->error[0] == '\0', "a done round has no error line");
	check_metrics(&r->global_metrics);
	check_metrics(&r->local_metrics);
}

static void require_same(const struct plan_report *a, const struct plan_report *b, const char *what)
{
	fuzz_require(a->done == b->done && a->has_samples == b->has_samples && a->n_train == b->n_train &&
		     a->n_test == b->n_test && a->final == b->final && strcmp(a->error, b->error) == 0 &&
		     strcmp(a->violation, b->violation) == 0 &&
		     a->global_metrics.count == b->global_metrics.count &&
		     a->local_metrics.count == b->local_metrics.count,
		     what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct plan_report whole, bytewise, lines;
	const char *text = (const char *)data + 1;
	enum fedc_err rc, rc_bytes = FEDC_OK, rc_lines = FEDC_OK;
	size_t n, used = 0;

	if (size < 1)
		return 0;
	n = size - 1;
	plan_report__init(&whole, data[0], NULL, NULL);
	plan_report__init(&bytewise, data[0], NULL, NULL);
	plan_report__init(&lines, data[0], NULL, NULL);

	rc = plan_report__feed(&whole, text, n, &used);
	check_report(&whole, rc);
	fuzz_require(used <= n, "feed takes no more than it was given");
	if (whole.done)
		fuzz_require(used > 0 && text[used - 1] == '\n', "feed stops right after the `done` line");

	for (size_t i = 0; i < n && !rc_bytes && !bytewise.done; i++)
		rc_bytes = plan_report__feed(&bytewise, text + i, 1, NULL);
	check_report(&bytewise, rc_bytes);
	fuzz_require(rc_bytes == rc, "byte by byte agrees with whole");
	require_same(&whole, &bytewise, "byte by byte gives the same report");

	/* Complete lines only: a partial last line is not taken yet. A line
	 * over the cap is refused by feed as it grows, by line() once whole:
	 * the two agree on the verdict for such input only at its end. */
	for (size_t start = 0; start < n && !rc_lines && !lines.done;) {
		const char *nl = memchr(text + start, '\n', n - start);
		size_t len;

		if (!nl)
			break;
		len = (size_t)(nl - (text + start));
		rc_lines = plan_report__line(&lines, text + start, len);
		start += len + 1;
	}
	check_report(&lines, rc_lines);
	if (rc == FEDC_OK || !strstr(whole.violation, "longer than"))
		require_same(&whole, &lines, "line by line gives the same report as feed");
	return 0;
}
