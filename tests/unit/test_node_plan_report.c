/* The plan process's report (node/plan_report.h): what a good round says is
 * read back exactly, and each way a hostile plan could bend the report
 * (a negative or second sample count, more rows than the dataset has,
 * non-finite values, bad names, repeated metrics, long lines, NUL bytes,
 * unknown kinds, `done` out of place) is refused with a reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_report.h"

#define ROWS 100

static int n_scalars;
static char last_scalar[FEDC_PLAN_METRIC_NAME_LEN];

static void count_scalar(void *ctx, const char *name, double value, uint64_t iteration, uint32_t epoch)
{
	(void)ctx;
	(void)value;
	(void)iteration;
	(void)epoch;
	n_scalars++;
	snprintf(last_scalar, sizeof(last_scalar), "%s", name);
}

/* Feeds `text` whole; the parser's result. */
static enum fedc_err feed(struct plan_report *r, const char *text)
{
	plan_report__init(r, ROWS, count_scalar, NULL);
	n_scalars = 0;
	return plan_report__feed(r, text, strlen(text), NULL);
}

/* `text` must be refused with a violation that contains `needle`. */
static void expect_refused(const char *text, const char *needle)
{
	struct plan_report r;

	if (feed(&r, text) != FEDC_ERR_MALFORMED)
		fail_msg("accepted: \"%s\"", text);
	if (!strstr(r.violation, needle))
		fail_msg("\"%s\": violation \"%s\" does not say \"%s\"", text, r.violation, needle);
	assert_false(r.done);
}

static void test_report_good_round(void **state)
{
	const char *text = "samples 80 20\nglobal loss 0.69314718055994529\nscalar loss 0.5 10 1\n"
			   "local loss 0.25\nlocal test_accuracy 0.9\ndone\nsamples 1 1\n";
	struct plan_report r;
	size_t used = 0;

	(void)state;
	plan_report__init(&r, ROWS, count_scalar, NULL);
	n_scalars = 0;
	assert_int_equal(plan_report__feed(&r, text, strlen(text), &used), FEDC_OK);
	assert_true(r.done);
	assert_int_equal(used, strstr(text, "done\n") + 5 - text); /* what follows `done` is left */
	assert_int_equal(r.n_train, 80);
	assert_int_equal(r.n_test, 20);
	assert_int_equal(r.global_metrics.count, 1);
	assert_string_equal(r.global_metrics.items[0].name, "loss");
	assert_true(r.global_metrics.items[0].value == 0.69314718055994529);
	assert_int_equal(r.local_metrics.count, 2);
	assert_string_equal(r.local_metrics.items[1].name, "test_accuracy");
	assert_int_equal(n_scalars, 1);
	assert_string_equal(last_scalar, "loss");
	assert_string_equal(r.violation, "");
}

static void test_report_lines_split_across_reads(void **state)
{
	const char *parts[] = { "sam", "ples 3 ", "1\nloc", "al loss 1e-3\n", "do", "ne\n" };
	struct plan_report r;

	(void)state;
	plan_report__init(&r, 4, NULL, NULL);
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		assert_int_equal(plan_report__feed(&r, parts[i], strlen(parts[i]), NULL), FEDC_OK);
	assert_true(r.done);
	assert_int_equal(r.n_train + r.n_test, 4);
	assert_true(r.local_metrics.items[0].value == 1e-3);
}

static void test_report_negative_samples(void **state)
{
	(void)state;
	expect_refused("samples -1 5\ndone\n", "whole numbers");
	expect_refused("samples 5 -0\ndone\n", "whole numbers");
	expect_refused("samples +5 0\ndone\n", "whole numbers");
	expect_refused("samples 18446744073709551615 0\ndone\n", "whole numbers");
	expect_refused("samples 5x 0\ndone\n", "whole numbers");
}

static void test_report_second_samples_line(void **state)
{
	(void)state;
	expect_refused("samples 80 20\nsamples 100 0\ndone\n", "a second `samples` line");
}

static void test_report_more_rows_than_dataset(void **state)
{
	(void)state;
	expect_refused("samples 101 0\ndone\n", "from 0 to the dataset's 100 rows");
	expect_refused("samples 60 41\ndone\n", "more than the dataset's 100");
}

static void test_report_samples_wrong_arity(void **state)
{
	(void)state;
	expect_refused("samples 80\ndone\n", "two counts");
	expect_refused("samples 80 10 10\ndone\n", "two counts");
}

static void test_report_nonfinite_value(void **state)
{
	(void)state;
	expect_refused("samples 1 1\nglobal loss nan\n", "not a finite number");
	expect_refused("samples 1 1\nlocal loss inf\n", "not a finite number");
	expect_refused("samples 1 1\nlocal loss 1e999\n", "not a finite number");
	expect_refused("samples 1 1\nlocal loss 0x1p3\n", "not a finite number");
	expect_refused("samples 1 1\nlocal loss 1.5kg\n", "not a finite number");
	expect_refused("samples 1 1\nscalar loss -inf 1 1\n", "not a finite number");
}

static void test_report_bad_metric_name(void **state)
{
	char line[256];

	(void)state;
	expect_refused("samples 1 1\nlocal lo$s 1\n", "metric name");
	expect_refused("samples 1 1\nscalar ../x 1 1 1\n", "`scalar` name");
	snprintf(line, sizeof(line), "samples 1 1\nlocal %064d 1\n", 7); /* 64 characters: one too many */
	expect_refused(line, "");
}

static void test_report_repeated_metric(void **state)
{
	(void)state;
	expect_refused("samples 1 1\nlocal loss 1\nlocal loss 0.1\ndone\n", "a second `local loss` line");
	expect_refused("samples 1 1\nglobal accuracy 1\nglobal accuracy 0\n", "a second `global accuracy`");
}

static void test_report_too_many_metrics(void **state)
{
	char text[2048];
	size_t n = 0;

	(void)state;
	n += (size_t)snprintf(text + n, sizeof(text) - n, "samples 1 1\n");
	for (int i = 0; i <= FEDC_PLAN_MAX_METRICS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "local m%d 1\n", i);
	expect_refused(text, "more than 16 `local` metrics");
}

static void test_report_line_too_long(void **state)
{
	char *text = malloc(PLAN_REPORT_LINE_MAX + 64);

	(void)state;
	assert_non_null(text);
	memset(text, 'x', PLAN_REPORT_LINE_MAX + 8);
	memcpy(text, "error ", 6);
	strcpy(text + PLAN_REPORT_LINE_MAX + 8, "\n");
	expect_refused(text, "longer than 1024 bytes");
	free(text);
}

static void test_report_nul_byte(void **state)
{
	struct plan_report r;
	static const char text[] = "samples 1 1\nlocal loss\0 1\n";

	(void)state;
	plan_report__init(&r, ROWS, NULL, NULL);
	assert_int_equal(plan_report__feed(&r, text, sizeof(text) - 1, NULL), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(r.violation, "NUL byte"));
}

static void test_report_unknown_kind(void **state)
{
	(void)state;
	expect_refused("samples 1 1\nweight 1000000\n", "unknown line kind `weight`");
	expect_refused("\n", "single spaces");
	expect_refused("samples  1 1\n", "single spaces");
	expect_refused("samples 1 1 \n", "single spaces");
	expect_refused("samples\t1\t1\n", "unknown line kind");
}

static void test_report_done_out_of_place(void **state)
{
	struct plan_report r;

	(void)state;
	expect_refused("done\n", "`done` before any `samples`");
	expect_refused("samples 1 1\ndone now\n", "`done` takes nothing");
	expect_refused("samples 1 1\nerror the plan failed\ndone\n", "`done` after an `error`");
	plan_report__init(&r, ROWS, NULL, NULL);
	assert_int_equal(plan_report__line(&r, "samples 1 1", 11), FEDC_OK);
	assert_int_equal(plan_report__line(&r, "done", 4), FEDC_OK);
	assert_int_equal(plan_report__line(&r, "samples 1 1", 11), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(r.violation, "after `done`"));
}

static void test_report_error_lines(void **state)
{
	struct plan_report r;

	(void)state;
	assert_int_equal(feed(&r, "samples 1 1\nerror bad \x1b[31mcolour\xc3\xa9\n"), FEDC_OK);
	assert_string_equal(r.error, "bad ?[31mcolour??");
	assert_false(r.done);
	assert_false(r.final);
	expect_refused("error one\nerror two\n", "a second `error` or `refused` line");
	expect_refused("refused one\nerror two\n", "a second `error` or `refused` line");
	expect_refused("error\n", "without text");
	expect_refused("refused\n", "without text");
	expect_refused("samples 1 1\nrefused no\ndone\n", "`done` after an `error` or `refused` line");
}

/* `refused`: the plan refused what the job asked; the node must tell the
 * researcher that a retry would meet the same refusal. */
static void test_report_refused_is_final(void **state)
{
	struct plan_report r;

	(void)state;
	assert_int_equal(feed(&r, "samples 1 1\nrefused the plan's prepare() refused this round: bad data\n"), FEDC_OK);
	assert_true(r.final);
	assert_string_equal(r.error, "the plan's prepare() refused this round: bad data");
	assert_false(r.done);
}

static void test_report_bad_scalar(void **state)
{
	(void)state;
	expect_refused("scalar loss 1 -1 0\n", "bad iteration or epoch");
	expect_refused("scalar loss 1 1 4294967296\n", "bad iteration or epoch");
	expect_refused("scalar loss 1 1\n", "a `scalar` line needs");
}

static void test_report_refusal_sticks(void **state)
{
	struct plan_report r;

	(void)state;
	assert_int_equal(feed(&r, "bogus\n"), FEDC_ERR_MALFORMED);
	assert_int_equal(plan_report__feed(&r, "samples 1 1\ndone\n", 18, NULL), FEDC_ERR_MALFORMED);
	assert_false(r.done);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_good_round),
		cmocka_unit_test(test_report_lines_split_across_reads),
		cmocka_unit_test(test_report_negative_samples),
		cmocka_unit_test(test_report_second_samples_line),
		cmocka_unit_test(test_report_more_rows_than_dataset),
		cmocka_unit_test(test_report_samples_wrong_arity),
		cmocka_unit_test(test_report_nonfinite_value),
		cmocka_unit_test(test_report_bad_metric_name),
		cmocka_unit_test(test_report_repeated_metric),
		cmocka_unit_test(test_report_too_many_metrics),
		cmocka_unit_test(test_report_line_too_long),
		cmocka_unit_test(test_report_nul_byte),
		cmocka_unit_test(test_report_unknown_kind),
		cmocka_unit_test(test_report_done_out_of_place),
		cmocka_unit_test(test_report_error_lines),
		cmocka_unit_test(test_report_refused_is_final),
		cmocka_unit_test(test_report_bad_scalar),
		cmocka_unit_test(test_report_refusal_sticks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
