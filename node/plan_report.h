/* The plan process's report, read by the node: hostile input. The plan runs
 * inside that process, and a plan can write to the report pipe as well as
 * the runner can, so nothing in a report is believed until it has passed
 * this parser. The format (one line each, fields separated by one space,
 * each line ended by '\n', at most PLAN_REPORT_LINE_MAX bytes before it):
 *
 *   samples <n_train> <n_test>            exactly once per round, before done
 *   global <metric> <value>               the received parameters on the test rows
 *   local <metric> <value>                after training
 *   scalar <name> <value> <iteration> <epoch>   streamed while training
 *   error <text>                          the round failed (at most one
 *                                         `error` or `refused` line)
 *   refused <text>                        the plan refused what the job asked
 *                                         (ABI, [model] arguments, parameters'
 *                                         layout): the same round would fail
 *                                         the same way, so it is not retried
 *   done                                  the round is over
 *
 * Counts are decimal integers without a sign; n_train + n_test may not
 * exceed the dataset's rows (they become the FedAvg weight). Values are
 * finite decimal numbers. Names are 1 to FEDC_PLAN_METRIC_NAME_LEN - 1 of
 * [A-Za-z0-9_.-], each metric name at most once per kind and at most
 * FEDC_PLAN_MAX_METRICS of a kind. Error text is kept with control
 * characters and bytes outside ASCII replaced by '?'. Anything
 * else (an unknown kind, a second `samples`, a NUL byte, a line too long,
 * `done` without `samples` or after `error`/`refused`) breaks the protocol: the round
 * is refused with the reason in `violation`. docs/plan-api.md "The report". */
#ifndef FEDC_NODE_PLAN_REPORT_H
#define FEDC_NODE_PLAN_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/plan.h"

#define PLAN_REPORT_LINE_MAX 1024 /* bytes of one line, without its '\n' */

struct plan_report {
	/* Set by plan_report__init. */
	uint64_t max_rows; /* the dataset's rows */
	void (*on_scalar)(void *ctx, const char *name, double value, uint64_t iteration, uint32_t epoch);
	void *ctx;

	/* What the report said so far. */
	bool has_samples, done;
	uint64_t n_train, n_test;
	struct fedc_metrics global_metrics, local_metrics;
	char error[512];     /* the text of an `error` or `refused` line, "" if none */
	bool final;          /* it was `refused`: a retry would fail the same way */
	char violation[256]; /* why the report was refused, "" while it is not */

	/* The line being assembled by plan_report__feed. */
	char line[PLAN_REPORT_LINE_MAX + 1];
	size_t line_len;
};

/* Starts a round's report. `on_scalar` (may be NULL) is called for each
 * valid `scalar` line, with `ctx`. */
void plan_report__init(struct plan_report *r, uint64_t max_rows,
		       void (*on_scalar)(void *ctx, const char *name, double value, uint64_t iteration,
					 uint32_t epoch),
		       void *ctx);

/* Takes one line (`len` bytes, without its '\n'; need not be
 * NUL-terminated). FEDC_OK, or FEDC_ERR_MALFORMED with r->violation saying
 * why; a report once refused stays refused. Nothing may follow `done`. */
FEDC_NODISCARD
enum fedc_err plan_report__line(struct plan_report *r, const char *line, size_t len);

/* Takes bytes as they come from the pipe, split into lines at '\n'. Stops
 * at `done` and sets *used to the bytes taken (what follows belongs to no
 * round). FEDC_OK, or FEDC_ERR_MALFORMED with r->violation set. */
FEDC_NODISCARD
enum fedc_err plan_report__feed(struct plan_report *r, const char *data, size_t n, size_t *used);

/* Whether `name` may travel as a metric or scalar name: 1 to
 * FEDC_PLAN_METRIC_NAME_LEN - 1 characters of [A-Za-z0-9_.-]. */
bool plan_report__name_ok(const char *name, size_t len);

#endif
