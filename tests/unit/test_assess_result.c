/* researcher/assess_result.c: a node's assessment lines decoded, refused
 * when malformed (each case by name), and combined over nodes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assess.h"
#include "assess_result.h"
#include "fedc/message.h"

static enum fedc_err decode(const char *text, struct assess_result *r)
{
	return assess_result__decode(text, strlen(text), r);
}

static void refused(const char *text, const char *why)
{
	struct assess_result r;

	assert_int_equal(decode(text, &r), FEDC_ERR_MALFORMED);
	if (!strstr(fedc_last_error(), why))
		fail_msg("\"%s\": \"%s\" does not say \"%s\"", text, fedc_last_error(), why);
	assess_result__free(&r);
}

static void test_decode_each_kind(void **state)
{
	struct assess_result r;

	(void)state;
	assert_int_equal(decode("count rows 569\nsum sq_err 1.5\nmean base 0.25\ntext predictions /d/p x.csv\n", &r),
			 FEDC_OK);
	assert_int_equal(r.n, 4);
	assert_int_equal(assess_result__count(&r, "rows"), 569);
	assert_true(assess_result__real(&r, "sq_err", 0) == 1.5);
	assert_true(assess_result__real(&r, "base", 0) == 0.25);
	assert_string_equal(assess_result__get(&r, "predictions")->text, "/d/p x.csv");
	assert_null(assess_result__get(&r, "absent"));
	assess_result__free(&r);
	assert_int_equal(decode("", &r), FEDC_OK);
	assert_int_equal(r.n, 0);
	assess_result__free(&r);
}

static void test_decode_bad_number(void **state)
{
	(void)state;
	refused("count rows 12x\n", "not a whole number");
	refused("count rows -1\n", "not a whole number");
	refused("count rows 1.5\n", "not a whole number");
	refused("sum a nan\n", "not a finite number");
	refused("mean a inf\n", "not a finite number");
	refused("sum a \n", "no number");
	refused("count rows 184467440737095516160\n", "not a whole number");
}

static void test_decode_unknown_kind(void **state)
{
	(void)state;
	refused("median rows 1\n", "unknown kind");
	refused("counts rows 1\n", "unknown kind");
	refused("cou rows 1\n", "unknown kind");
	refused("rows\n", "unknown kind");
}

static void test_decode_bad_name(void **state)
{
	(void)state;
	refused("count  1\n", "name");
	refused("count a/b 1\n", "name");
	refused("count rows\n", "name");
	refused("count aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1\n", "name");
	refused("text t caf\xc3\xa9\n", "not printable");
	refused("text t \n", "text empty");
}

static void test_decode_duplicate(void **state)
{
	(void)state;
	refused("count rows 1\ncount rows 2\n", "given twice");
	refused("count rows 1\nsum rows 2\n", "given twice");
}

static void test_decode_unterminated_line(void **state)
{
	struct assess_result r;
	static const char nul[] = "count rows 1\ncount x\0 2\n";

	(void)state;
	refused("count rows 1", "not ended by a newline");
	assert_int_equal(assess_result__decode(nul, sizeof(nul) - 1, &r), FEDC_ERR_MALFORMED);
	assess_result__free(&r);
}

static void test_decode_too_many_lines(void **state)
{
	size_t cap = (ASSESS_MAX_LINES + 1) * 12, used = 0;
	char *text = malloc(cap);
	struct assess_result r;

	(void)state;
	for (int i = 0; i <= ASSESS_MAX_LINES; i++)
		used += (size_t)snprintf(text + used, cap - used, "sum %x 1\n", i);
	assert_true(used <= FEDC_MAX_ASSESS_RESULT);
	assert_int_equal(assess_result__decode(text, used, &r), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "more than"));
	assess_result__free(&r);
	free(text);
}

static void test_decode_over_the_bound(void **state)
{
	char *text = malloc(FEDC_MAX_ASSESS_RESULT + 1);
	struct assess_result r;

	(void)state;
	memset(text, '\n', FEDC_MAX_ASSESS_RESULT + 1);
	assert_int_equal(assess_result__decode(text, FEDC_MAX_ASSESS_RESULT + 1, &r), FEDC_ERR_TOO_BIG);
	assess_result__free(&r);
	free(text);
}

static void test_combine_sums_counts_weights_means(void **state)
{
	struct assess_result a, b, total = { 0 };

	(void)state;
	assert_int_equal(decode("count cm.0.0 3\nsum err 1.5\nmean base 0.5\ntext predictions a.csv\n", &a), FEDC_OK);
	assert_int_equal(decode("count cm.0.0 4\ncount cm.1.1 2\nsum err 2\nmean base 0.8\ntext predictions b.csv\n", &b),
			 FEDC_OK);
	assert_int_equal(assess_result__add(&total, &a, 10), FEDC_OK);
	assert_int_equal(assess_result__add(&total, &b, 30), FEDC_OK);
	assess_result__finish(&total);
	assert_int_equal(assess_result__count(&total, "cm.0.0"), 7);
	assert_int_equal(assess_result__count(&total, "cm.1.1"), 2);
	assert_true(fabs(assess_result__real(&total, "err", 0) - 3.5) < 1e-12);
	assert_true(fabs(assess_result__real(&total, "base", 0) - (0.5 * 10 + 0.8 * 30) / 40) < 1e-12);
	assert_string_equal(assess_result__get(&total, "predictions")->text, "a.csv");
	assess_result__free(&total);
	assess_result__free(&a);
	assess_result__free(&b);
}

static void test_combine_kind_clash(void **state)
{
	struct assess_result a, b, total = { 0 };

	(void)state;
	assert_int_equal(decode("count x 3\n", &a), FEDC_OK);
	assert_int_equal(decode("sum x 3\n", &b), FEDC_OK);
	assert_int_equal(assess_result__add(&total, &a, 1), FEDC_OK);
	assert_int_equal(assess_result__add(&total, &b, 1), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "a count at one node and a sum at another"));
	assess_result__free(&total);
	assess_result__free(&a);
	assess_result__free(&b);
}

static void test_combine_mean_without_test_rows(void **state)
{
	struct assess_result a, total = { 0 };

	(void)state;
	assert_int_equal(decode("mean base 0.5\ncount big 18446744073709551615\n", &a), FEDC_OK);
	assert_int_equal(assess_result__add(&total, &a, 0), FEDC_OK);
	assert_int_equal(assess_result__add(&total, &a, 0), FEDC_OK);
	assess_result__finish(&total);
	assert_true(isnan(assess_result__real(&total, "base", 0)));
	assert_true(assess_result__count(&total, "big") == UINT64_MAX); /* saturates, never wraps */
	assess_result__free(&total);
	assess_result__free(&a);
}

/* The predict report from pooled lines: the AUC from the histograms and its
 * bound (pairs sharing a bin count half), accuracy, ECE, predict.json. */
static double report_auc(const char *lines, double *bound)
{
	char dir[] = "/tmp/fedc-assess-report-XXXXXX", path[128], json[4096], cmd[160];
	struct assess_node node = { .node_id = "n", .dataset_id = "d", .n_test = 4 };
	struct assess_result total = { 0 };
	FILE *f, *out = fopen("/dev/null", "w");
	double auc = -1;
	size_t n;
	char *at;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(decode(lines, &node.result), FEDC_OK);
	assert_int_equal(assess_result__add(&total, &node.result, node.n_test), FEDC_OK);
	assess_result__finish(&total);
	assert_int_equal(assess_report__predict(dir, &node, 1, &total, out), 0);
	snprintf(path, sizeof(path), "%s/predict.json", dir);
	assert_non_null(f = fopen(path, "r"));
	n = fread(json, 1, sizeof(json) - 1, f);
	json[n] = '\0';
	fclose(f);
	fclose(out);
	if ((at = strstr(json, "\"auc\": ")))
		auc = strtod(at + 7, NULL);
	*bound = (at = strstr(json, "\"auc_bound\": ")) ? strtod(at + 13, NULL) : -1;
	assert_non_null(strstr(json, "\"rows\": 4"));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	assess_result__free(&total);
	assess_result__free(&node.result);
	return auc;
}

static void test_report_auc_within_its_bound(void **state)
{
	double bound;
	/* two positives at 0.95, two negatives at 0.05 (class 1's histogram) */
	const char *apart = "count rows 4\ntext bins 10\ntext classes 2\ncount cm.0.0 2\ncount cm.1.1 2\n"
			    "count pos.1.9 2\ncount neg.1.0 2\ncount pos.0.9 2\ncount neg.0.0 2\n"
			    "count cal.9 4\nsum conf.9 3.8\ncount ok.9 4\n";
	/* every score in one bin: the order is unknown, 0.5 +- 0.5 */
	const char *together = "count rows 4\ntext bins 10\ntext classes 2\ncount cm.0.0 2\ncount cm.1.0 2\n"
			       "count pos.1.5 2\ncount neg.1.5 2\ncount cal.5 4\nsum conf.5 2.2\ncount ok.5 2\n";

	(void)state;
	assert_true(report_auc(apart, &bound) == 1.0);
	assert_true(bound == 0.0);
	assert_true(report_auc(together, &bound) == 0.5);
	assert_true(bound == 0.5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_each_kind),
		cmocka_unit_test(test_decode_bad_number),
		cmocka_unit_test(test_decode_unknown_kind),
		cmocka_unit_test(test_decode_bad_name),
		cmocka_unit_test(test_decode_duplicate),
		cmocka_unit_test(test_decode_unterminated_line),
		cmocka_unit_test(test_decode_too_many_lines),
		cmocka_unit_test(test_decode_over_the_bound),
		cmocka_unit_test(test_combine_sums_counts_weights_means),
		cmocka_unit_test(test_combine_kind_clash),
		cmocka_unit_test(test_combine_mean_without_test_rows),
		cmocka_unit_test(test_report_auc_within_its_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
