/* node/analytics*.c: the filter parser, the query text, the statistics and
 * the policy (min_count, bounds, epsilon, noise scales) over a small table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "analytics_filter.h"
#include "analytics_query.h"

static const char *const sexes[] = { "F", "M" };
static const struct analytics_col cols[] = {
	{ "age", 0, false, 0, NULL },
	{ "bmi", 1, false, 0, NULL },
	{ "sex", 2, true, 2, sexes },
	{ "label", 3, false, 0, NULL },
};
#define N_COLS (sizeof(cols) / sizeof(cols[0]))

static bool matches(const char *filter, float age, float bmi, float sex, float label)
{
	struct analytics_filter f;
	const float row[4] = { age, bmi, sex, label };

	assert_int_equal(analytics_filter__parse(filter, cols, N_COLS, &f), FEDC_OK);
	return analytics_filter__match(&f, row);
}

static void test_filter_comparisons_and_categories(void **state)
{
	(void)state;
	assert_true(matches("age > 50 and sex == \"F\"", 51, 20, 0, 0));
	assert_false(matches("age > 50 and sex == \"F\"", 51, 20, 1, 0));
	assert_false(matches("age > 50 and sex == \"F\"", 50, 20, 0, 0));
	assert_true(matches("age >= 50", 50, 0, 0, 0));
	assert_true(matches("age != 3 and bmi <= 20.5 and bmi < 21", 4, 20.5f, 0, 0));
	assert_true(matches("", 1, 1, 1, 1));
	assert_true(matches("   ", 1, 1, 1, 1));
}

/* `and` binds tighter than `or`; `not` and parentheses as written. */
static void test_filter_precedence(void **state)
{
	(void)state;
	assert_true(matches("age < 10 or age > 50 and bmi > 30", 5, 0, 0, 0));
	assert_false(matches("(age < 10 or age > 50) and bmi > 30", 5, 0, 0, 0));
	assert_true(matches("not age < 10", 10, 0, 0, 0));
	assert_false(matches("not (age < 10 or label == 1)", 20, 0, 0, 1));
	assert_true(matches("not not label == 1", 0, 0, 0, 1));
}

/* A missing cell fails its comparison, whichever way it is written. */
static void test_filter_missing_cell_never_matches(void **state)
{
	(void)state;
	assert_false(matches("age > 0", NAN, 0, 0, 0));
	assert_false(matches("age <= 0", NAN, 0, 0, 0));
	assert_false(matches("sex == \"F\"", 1, 1, NAN, 0));
	assert_true(matches("not age > 0", NAN, 0, 0, 0));
}

/* A value written in decimal compares as the float the row holds. */
static void test_filter_compares_as_float(void **state)
{
	(void)state;
	assert_true(matches("bmi == 17.99", 0, 17.99f, 0, 0));
}

static void expect_error(const char *filter, const char *needle)
{
	struct analytics_filter f;

	assert_int_equal(analytics_filter__parse(filter, cols, N_COLS, &f), FEDC_ERR_INVAL);
	if (!strstr(fedc_last_error(), needle))
		fail_msg("filter %s: \"%s\" does not say \"%s\"", filter, fedc_last_error(), needle);
	assert_int_equal(f.n_nodes, 0);
}

static void test_filter_errors_say_what_to_change(void **state)
{
	char deep[128] = "", many[2048] = "age > 1";

	(void)state;
	expect_error("weight > 3", "unknown column \"weight\"");
	expect_error("weight > 3", "age, bmi, sex, label");
	expect_error("age > 50 and and bmi < 3", "at character 14: expected a column name");
	expect_error("age >", "expected a finite number");
	expect_error("age = 5", "expected a comparison");
	expect_error("age > 5 bmi < 3", "join comparisons with `and` or `or`");
	expect_error("(age > 5", "expected `)`");
	expect_error("sex == \"X\"", "no category \"X\"");
	expect_error("sex == 1", "categorical: compare it with a quoted category, e.g. sex == \"F\"");
	expect_error("age == \"F\"", "numeric: compare it with a number");
	expect_error("sex == \"F", "not closed");
	expect_error("age > 1e999", "finite number");
	for (int i = 0; i < 20; i++)
		strcat(deep, "(");
	strcat(deep, "age > 1");
	expect_error(deep, "nested too deep");
	for (int i = 0; i < 70; i++)
		strcat(many, " or age > 1");
	expect_error(many, "at most");
}

static void test_query_parse(void **state)
{
	struct analytics_query *q = malloc(sizeof(*q));

	(void)state;
	assert_non_null(q);
	assert_int_equal(analytics_query__parse("columns=age,bmi\nfilter=age > 3\ngroup_by=sex\n"
						"bins.age=0,10,20\nbounds.bmi=10,60\nepsilon=0.5\n", q),
			 FEDC_OK);
	assert_int_equal(q->n_columns, 2);
	assert_string_equal(q->columns[1].name, "bmi");
	assert_int_equal(q->columns[0].n_edges, 3);
	assert_true(q->columns[1].has_bounds && q->columns[1].lo == 10 && q->columns[1].hi == 60);
	assert_string_equal(q->filter, "age > 3");
	assert_string_equal(q->group_by, "sex");
	assert_true(q->has_epsilon && q->epsilon == 0.5);

	assert_int_equal(analytics_query__parse("filter=age > 3\n", q), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "no columns"));
	assert_int_equal(analytics_query__parse("columns=age\nbins.age=10,5\n", q), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "must increase"));
	assert_int_equal(analytics_query__parse("columns=age\nbins.bmi=1,5\n", q), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "not in `columns`"));
	assert_int_equal(analytics_query__parse("columns=age\nbounds.age=5,5\n", q), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "LO < HI"));
	assert_int_equal(analytics_query__parse("columns=age\nepsilon=0\n", q), FEDC_ERR_INVAL);
	assert_int_equal(analytics_query__parse("columns=age\nlimit=3\n", q), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "unknown query key \"limit\""));
	assert_int_equal(analytics_query__parse("columns=age\nno equals sign\n", q), FEDC_ERR_INVAL);
	free(q);
}

/* ---- statistics over a table ---- */

/* age, bmi (one missing), sex; the label is the class (0/1). */
static float x[8][3] = {
	{ 30, 20, 0 }, { 40, 22, 1 }, { 50, NAN, 0 }, { 60, 30, 1 },
	{ 70, 26, 0 }, { 80, 24, 0 }, { 20, 18, 1 }, { 90, 28, 0 },
};
static float y[8] = { 0, 1, 0, 1, 1, 0, 0, 1 };
static const struct fedc_column table_cols[] = {
	{ "age", FEDC_COLUMN_NUMERIC, 0, NULL, 0 },
	{ "bmi", FEDC_COLUMN_NUMERIC, 0, NULL, 1 },
	{ "sex", FEDC_COLUMN_CATEGORICAL, 2, sexes, 0 },
};
static const struct fedc_table_schema schema = { 3, table_cols };
static const struct fedc_data data = { 8, 3, &x[0][0], y, 2, 0, { 0 }, 1, &schema };

static struct analytics_query *query(const char *text)
{
	struct analytics_query *q = malloc(sizeof(*q));

	assert_non_null(q);
	if (analytics_query__parse(text, q) != FEDC_OK)
		fail_msg("%s: %s", text, fedc_last_error());
	return q;
}

static const struct analytics_policy exact = { 1, ANALYTICS_NOISE_NONE, 1, 10, 1e-6, "" };

static void test_compute_exact_groups(void **state)
{
	struct analytics_query *q = query("columns=age,bmi\ngroup_by=sex\nbins.age=0,50,100\n");
	struct analytics_result r;
	const struct analytics_cell *f_age, *f_bmi;

	(void)state;
	assert_int_equal(analytics__compute(&data, q, &exact, &r), FEDC_OK);
	assert_int_equal(r.n_groups, 2);
	assert_string_equal(r.group_names[0], "F");
	f_age = &r.cells[0];
	f_bmi = &r.cells[1];
	/* F: ages 30 50 70 80 90; bmi 20 (missing) 26 24 28 */
	assert_true(f_age->count == 5 && f_age->sum == 320 && f_age->sumsq == 900 + 2500 + 4900 + 6400 + 8100);
	assert_true(f_age->min == 30 && f_age->max == 90);
	assert_true(f_age->bins[0] == 1 && f_age->bins[1] == 4); /* [0,50) and [50,100] */
	assert_true(f_bmi->count == 4 && f_bmi->sum == 98);
	assert_true(r.cells[2].count == 3 && r.cells[2].sum == 120); /* M ages 40 60 20 */
	assert_true(r.epsilon == 0 && r.scales[0].count == 0);
	analytics__result_free(&r);
	free(q);
}

static void test_compute_filter_label_and_min_count(void **state)
{
	struct analytics_query *q = query("columns=age\nfilter=age >= 40 and sex == \"F\"\ngroup_by=label\n");
	struct analytics_policy p = exact;
	struct analytics_result r;

	(void)state;
	p.min_count = 2;
	assert_int_equal(analytics__compute(&data, q, &p, &r), FEDC_OK);
	/* F and age >= 40: 50 (0), 70 (1), 80 (0), 90 (1) */
	assert_int_equal(r.n_groups, 2);
	assert_true(r.cells[0].count == 2 && r.cells[0].sum == 130 && !r.cells[0].suppressed);
	p.min_count = 3;
	analytics__result_free(&r);
	assert_int_equal(analytics__compute(&data, q, &p, &r), FEDC_OK);
	assert_true(r.cells[0].suppressed && r.cells[1].suppressed);
	analytics__result_free(&r);
	free(q);
}

static void expect_compute_error(const char *text, const struct analytics_policy *p, enum fedc_err code,
				 const char *needle)
{
	struct analytics_query *q = query(text);
	struct analytics_result r;

	assert_int_equal(analytics__compute(&data, q, p, &r), code);
	if (!strstr(fedc_last_error(), needle))
		fail_msg("%s: \"%s\" does not say \"%s\"", text, fedc_last_error(), needle);
	analytics__result_free(&r);
	free(q);
}

static void test_compute_refusals(void **state)
{
	struct analytics_policy noisy = { 1, ANALYTICS_NOISE_LAPLACE, 1, 10, 1e-6, "age:0:100" };

	(void)state;
	expect_compute_error("columns=weight\n", &exact, FEDC_ERR_INVAL, "no column \"weight\"");
	expect_compute_error("columns=sex\n", &exact, FEDC_ERR_INVAL, "categorical, it has no mean");
	expect_compute_error("columns=age\ngroup_by=bmi\n", &exact, FEDC_ERR_INVAL, "not a categorical column");
	expect_compute_error("columns=age\nfilter=age >> 3\n", &exact, FEDC_ERR_INVAL, "at character");
	expect_compute_error("columns=age,bmi\n", &noisy, FEDC_ERR_INVAL, "column bmi has no bounds");
	expect_compute_error("columns=age\nepsilon=1.5\n", &noisy, FEDC_ERR_PRIVACY, "at most 1 per query");
}

/* Under noise: the node's bounds win, values are clipped, min and max are
 * withheld, epsilon is shared equally by every released value. */
static void test_compute_noise_plan(void **state)
{
	struct analytics_policy noisy = { 1, ANALYTICS_NOISE_LAPLACE, 1, 10, 1e-6, "sex:0:1, age : 0 : 60" };
	struct analytics_query *q = query("columns=age,bmi\nbounds.age=0,1000\nbounds.bmi=0,40\nbins.bmi=0,20,40\n"
					  "epsilon=0.7\n");
	struct analytics_result r;
	double eps_each = 0.7 / 7; /* age: count, sum, sumsq; bmi: the same and its histogram */

	(void)state;
	if (analytics__compute(&data, q, &noisy, &r) != FEDC_OK)
		fail_msg("%s", fedc_last_error());
	assert_true(r.epsilon == 0.7);
	assert_true(r.scales[0].hi == 60 && r.scales[1].hi == 40);
	assert_true(fabs(r.cells[0].sum - (30 + 40 + 50 + 60 + 60 + 60 + 20 + 60)) < 1e-9); /* clipped at 60 */
	assert_true(fabs(r.scales[0].count - sqrt(2.0) / eps_each) < 1e-9);
	assert_true(fabs(r.scales[0].sum - 60 * sqrt(2.0) / eps_each) < 1e-9);
	assert_true(fabs(r.scales[1].sumsq - 1600 * sqrt(2.0) / eps_each) < 1e-9);
	assert_int_equal(analytics__add_noise(&r), FEDC_OK);
	{
		struct fedc_buf text = FEDC_BUF_INIT(FEDC_MAX_ANALYTICS_RESULT);

		assert_int_equal(analytics__format(&r, &text), FEDC_OK);
		assert_non_null(strstr(text.data, "noise\tlaplace\t0.69999999999999996\t"));
		assert_non_null(strstr(text.data, "\t-\t-\t")); /* min and max withheld */
		fedc_buf_free(&text);
	}
	analytics__result_free(&r);
	free(q);
}

/* `release` leaves figures out: they go out as "-", take no noise and no
 * share of the epsilon. */
static void test_release_only_count(void **state)
{
	struct analytics_policy noisy = { 1, ANALYTICS_NOISE_LAPLACE, 1, 10, 1e-6, "age:0:100" };
	struct analytics_query *q = query("columns=age\nrelease=count\nepsilon=0.5\n");
	struct analytics_result r;
	struct fedc_buf text = FEDC_BUF_INIT(FEDC_MAX_ANALYTICS_RESULT);

	(void)state;
	assert_int_equal(analytics__compute(&data, q, &noisy, &r), FEDC_OK);
	assert_true(fabs(r.scales[0].count - sqrt(2.0) / 0.5) < 1e-9); /* the whole epsilon on the count */
	assert_true(r.scales[0].sum == 0 && r.scales[0].sumsq == 0);
	assert_int_equal(analytics__add_noise(&r), FEDC_OK);
	assert_int_equal(analytics__format(&r, &text), FEDC_OK);
	assert_non_null(strstr(text.data, "\t-\t-\t-\t-\t-\n")); /* sum, sumsq, min, max, bins */
	fedc_buf_free(&text);
	analytics__result_free(&r);
	assert_int_equal(analytics_query__parse("columns=age\nrelease=count,mean\n", q), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "some of count, sum, sumsq"));
	free(q);
}

/* The noise has the standard deviation it states: 4000 Laplace draws of sd
 * 1 (each count of 4000 cells) give a sample sd within 10% (a miss has a
 * chance far below 1e-9) and a mean near 0. */
static void test_noise_has_stated_sd(void **state)
{
	for (int kind = ANALYTICS_NOISE_LAPLACE; kind <= ANALYTICS_NOISE_GAUSSIAN; kind++) {
		struct analytics_query *q = query("columns=age\n");
		struct analytics_result r = { 0 };
		double sum = 0, sumsq = 0;
		const size_t n = 4000;
		const double dn = 4000;

		(void)state;
		r.query = q;
		r.noise = (enum analytics_noise)kind;
		r.n_groups = (uint32_t)n;
		r.cells = calloc(n, sizeof(*r.cells));
		assert_non_null(r.cells);
		r.scales[0].count = 1;
		assert_int_equal(analytics__add_noise(&r), FEDC_OK);
		for (size_t i = 0; i < n; i++) {
			sum += r.cells[i].count;
			sumsq += r.cells[i].count * r.cells[i].count;
			assert_true(r.cells[i].sum == 0); /* sd 0: no noise */
		}
		assert_true(fabs(sum / dn) < 0.1);
		assert_true(fabs(sqrt(sumsq / dn) - 1) < 0.1);
		analytics__result_free(&r);
		free(q);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_comparisons_and_categories),
		cmocka_unit_test(test_filter_precedence),
		cmocka_unit_test(test_filter_missing_cell_never_matches),
		cmocka_unit_test(test_filter_compares_as_float),
		cmocka_unit_test(test_filter_errors_say_what_to_change),
		cmocka_unit_test(test_query_parse),
		cmocka_unit_test(test_compute_exact_groups),
		cmocka_unit_test(test_compute_filter_label_and_min_count),
		cmocka_unit_test(test_compute_refusals),
		cmocka_unit_test(test_compute_noise_plan),
		cmocka_unit_test(test_release_only_count),
		cmocka_unit_test(test_noise_has_stated_sd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
