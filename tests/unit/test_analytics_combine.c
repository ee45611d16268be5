/* researcher/analytics_*.c: QUERY.ini, combining the nodes' partials (the
 * combined figures are those of the pooled rows), and refusing a bad one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analytics.h"

static struct analytics_request *request_from(const char *text, enum fedc_err want)
{
	char path[] = "/tmp/fedc-analytics-XXXXXX";
	int fd = mkstemp(path);
	struct analytics_request *r = malloc(sizeof(*r));
	enum fedc_err rc;

	assert_true(fd >= 0 && r);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	rc = analytics__read_request(path, r);
	unlink(path);
	if (rc != want)
		fail_msg("%s: %s", text, fedc_last_error());
	return r;
}

static void test_read_request_builds_the_query(void **state)
{
	struct analytics_request *r = request_from("[analytics]\ndataset_tags = bc, adults\ncolumns = age, bmi\n"
						   "statistics = count, mean, histogram\nfilter = age > 50 and sex == \"F\"\n"
						   "bins.age = 0, 50, 100\nepsilon = 0.5\nquantiles = 0.5\n", FEDC_OK);

	(void)state;
	assert_string_equal(r->tags, "bc, adults");
	assert_int_equal(r->stats, STAT_COUNT | STAT_MEAN | STAT_HISTOGRAM);
	assert_int_equal(r->n_columns, 2);
	assert_int_equal(r->columns[0].n_edges, 3);
	assert_int_equal(r->n_quantiles, 1);
	assert_string_equal(r->wire, "columns=age,bmi\nrelease=count,sum\nfilter=age > 50 and sex == \"F\"\n"
				     "bins.age=0, 50, 100\nepsilon=0.5\n");
	free(r);
}

/* Only the figures the statistics need go out: a count alone asks for no
 * sum and no histogram, the variance for sums of squares too. */
static void test_read_request_releases_what_is_needed(void **state)
{
	struct analytics_request *r = request_from("[analytics]\ndataset_tags = t\ncolumns = a\nstatistics = count\n"
						   "bins.a = 0, 1\n", FEDC_OK);

	(void)state;
	assert_string_equal(r->wire, "columns=a\nrelease=count\n");
	assert_int_equal(r->columns[0].n_edges, 0);
	free(r);
	r = request_from("[analytics]\ndataset_tags = t\ncolumns = a\nstatistics = std\n", FEDC_OK);
	assert_string_equal(r->wire, "columns=a\nrelease=count,sum,sumsq\n");
	free(r);
}

static void expect_refusal(const char *text, const char *needle)
{
	struct analytics_request *r = request_from(text, FEDC_ERR_CONFIG);

	if (!strstr(fedc_last_error(), needle))
		fail_msg("\"%s\" does not say \"%s\"", fedc_last_error(), needle);
	free(r);
}

static void test_read_request_refusals(void **state)
{
	(void)state;
	expect_refusal("[network]\n", "no [analytics] section");
	expect_refusal("[analytics]\ncolumns = a\n", "dataset_tags: required");
	expect_refusal("[analytics]\ndataset_tags = t\n", "columns: required");
	expect_refusal("[analytics]\ndataset_tags = t\ncolumns = a\nstatistics = median\n", "give some of count");
	expect_refusal("[analytics]\ndataset_tags = t\ncolumns = a\nlimit = 3\n", "limit: unknown key");
	expect_refusal("[analytics]\ndataset_tags = t\ncolumns = a\nbins.b = 1, 2\n", "not in `columns`");
	expect_refusal("[analytics]\ndataset_tags = t\ncolumns = a\nstatistics = histogram\n", "give the bins");
	expect_refusal("[analytics]\ndataset_tags = t\ncolumns = a\nquantiles = 1.5\n", "between 0 and 1");
}

static struct analytics_request two_columns(void)
{
	struct analytics_request r;

	memset(&r, 0, sizeof(r));
	r.stats = STAT_COUNT | STAT_MEAN | STAT_VAR | STAT_MIN | STAT_MAX | STAT_HISTOGRAM;
	r.n_columns = 2;
	strcpy(r.columns[0].name, "c0");
	r.columns[0].n_edges = 3;
	r.columns[0].edges[1] = 10;
	r.columns[0].edges[2] = 20;
	strcpy(r.columns[1].name, "c3");
	return r;
}

static void combine(struct analytics_combined *c, const char *node, const char *text, enum fedc_err want)
{
	enum fedc_err rc = analytics__combine(c, node, "ds", (const uint8_t *)text, strlen(text));

	if (rc != want)
		fail_msg("%s: %s", node, fedc_last_error());
}

#define HEAD "fedc-analytics\t1\nnoise\tnone\t0\t10\nscale\tc0\t0\t0\t0\t0\nscale\tc3\t0\t0\t0\t0\n"

/* Node a holds 1 2 3 (c0), node b 4 5 and 15; pooled: 1 2 3 4 5 15. */
static void test_combine_equals_pooled(void **state)
{
	struct analytics_request r = two_columns();
	struct analytics_combined c;
	const struct analytics_total *t;
	double pooled[] = { 1, 2, 3, 4, 5, 15 }, mean = 30.0 / 6, m2 = 0;

	(void)state;
	for (size_t i = 0; i < 6; i++)
		m2 += (pooled[i] - mean) * (pooled[i] - mean);
	assert_int_equal(analytics__combined_init(&c, &r), FEDC_OK);
	combine(&c, "a", HEAD "cell\t*\tc0\t3\t6\t14\t1\t3\t3,0\n", FEDC_OK);
	combine(&c, "b", HEAD "cell\t*\tc0\t3\t24\t266\t4\t15\t2,1\nsuppressed\t*\tc3\tfew\n", FEDC_OK);
	analytics__combined_sort(&c);
	assert_int_equal(c.n_totals, 2);
	t = &c.totals[0];
	assert_true(t->count == 6 && t->sum == 30 && t->min == 1 && t->max == 15);
	assert_true(analytics__mean(t) == mean);
	assert_true(fabs(analytics__variance(t) - m2 / 5) < 1e-12);
	assert_true(t->bins[0] == 5 && t->bins[1] == 1);
	/* the median of the histogram: 3 of 5 in [0,10) */
	assert_true(fabs(analytics__quantile(t, &r.columns[0], 0.5) - 6) < 1e-12);
	assert_true(c.totals[1].n_suppressed == 1 && c.totals[1].n_nodes == 0);
	assert_true(isnan(analytics__mean(&c.totals[1])));
	analytics__combined_free(&c);
}

/* A node that did not release the sum (not asked for): no mean. */
static void test_combine_without_sum(void **state)
{
	struct analytics_request r = two_columns();
	struct analytics_combined c;

	(void)state;
	assert_int_equal(analytics__combined_init(&c, &r), FEDC_OK);
	combine(&c, "a", HEAD "cell\t*\tc3\t3\t-\t-\t1\t3\t-\n", FEDC_OK);
	assert_true(c.totals[0].count == 3 && !c.totals[0].has_sum);
	assert_true(isnan(analytics__mean(&c.totals[0])) && isnan(analytics__variance(&c.totals[0])));
	analytics__combined_free(&c);
}

static void test_combine_refuses_bad_result(void **state)
{
	struct analytics_request r = two_columns();
	struct analytics_combined c;

	(void)state;
	assert_int_equal(analytics__combined_init(&c, &r), FEDC_OK);
	combine(&c, "x", "fedc-analytics\t2\n", FEDC_ERR_MALFORMED);
	combine(&c, "x", HEAD "cell\t*\tc9\t3\t6\t14\t1\t3\t-\n", FEDC_ERR_MALFORMED);
	combine(&c, "x", HEAD "cell\t*\tc0\t3\t6\t14\t1\t3\t3\n", FEDC_ERR_MALFORMED);   /* one bin of two */
	combine(&c, "x", HEAD "cell\t*\tc0\tnan\t6\t14\t1\t3\t3,0\n", FEDC_ERR_MALFORMED);
	combine(&c, "x", HEAD "cell\t*\tc0\t3\t6\t14\t1\t3\t3,0", FEDC_ERR_MALFORMED);    /* no newline */
	combine(&c, "x", "fedc-analytics\t1\nnoise\tnone\t0\t10\n", FEDC_ERR_MALFORMED);  /* no scales */
	combine(&c, "x", HEAD "cell\t*\tc0\t3\t6\t14\t1\t3\t3,0\ncell\t*\tc3\t3\n", FEDC_ERR_MALFORMED);
	assert_int_equal(c.n_nodes, 0);
	for (size_t i = 0; i < c.n_totals; i++)
		assert_true(c.totals[i].n_nodes == 0);
	analytics__combined_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_request_builds_the_query),
		cmocka_unit_test(test_read_request_refusals),
		cmocka_unit_test(test_read_request_releases_what_is_needed),
		cmocka_unit_test(test_combine_equals_pooled),
		cmocka_unit_test(test_combine_without_sum),
		cmocka_unit_test(test_combine_refuses_bad_result),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
