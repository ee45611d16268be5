/* Plan SDK: a table's imputation and one-hot encoding (fedc/nn/table.h).
 * Every expected value is worked out by hand in the comment beside it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/nn.h"
#include "fedc/nn/table.h"

/* A node's view: columns "age" (numeric), "sex" (categorical, the node's
 * sorted list F, M), "band" (categorical: large, medium, small), "note"
 * (text). 6 rows; N = missing. */
static const char *const node_sexes[] = { "F", "M" };
static const char *const node_bands[] = { "large", "medium", "small" };
static const struct fedc_column node_cols[] = {
	{ .name = "age", .type = FEDC_COLUMN_NUMERIC, .n_missing = 2 },
	{ .name = "sex", .type = FEDC_COLUMN_CATEGORICAL, .n_categories = 2, .categories = node_sexes, .n_missing = 1 },
	{ .name = "band", .type = FEDC_COLUMN_CATEGORICAL, .n_categories = 3, .categories = node_bands, .n_missing = 1 },
	{ .name = "note", .type = FEDC_COLUMN_TEXT, .n_missing = 0 },
};
static const struct fedc_table_schema node_schema = { 4, node_cols };
#define N NAN
static float node_x[6 * 4] = {
	/* age  sex  band  note */
	40, 0, 2, N, /* F small */
	N,  1, 0, N, /* M large */
	10, 1, 1, N, /* M medium */
	30, N, 2, N, /* ? small */
	20, 0, N, N, /* F ? */
	N,  1, 2, N, /* M small */
};
static float node_y[6] = { 0, 1, 0, 1, 0, 1 };

static struct fedc_data node_view(void)
{
	return (struct fedc_data){ .n_samples = 6, .n_features = 4, .x = node_x, .y = node_y, .n_classes = 2,
				   .schema = &node_schema };
}

/* The experiment's lists: in their own order, not the node's. */
static const char *const sexes[] = { "M", "F", NULL };
static const char *const bands[] = { "small", "medium", "large", NULL };

static void expect_row(const struct fedc_data *enc, size_t r, const float *want, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		float got = enc->x[r * enc->n_features + j];

		if (fabsf(got - want[j]) > 1e-6f)
			fail_msg("row %zu input %zu: got %g, want %g", r, j, got, want[j]);
	}
}

/* age median of {10, 20, 30, 40} (an even count) = 25; sex most frequent:
 * M 3, F 2 -> M, plan index 0; band constant "medium". */
static void test_median_most_frequent_constant(void **state)
{
	const struct fedc_table_col spec[] = {
		{ .name = "age", .impute = FEDC_IMPUTE_MEDIAN },
		{ .name = "sex", .impute = FEDC_IMPUTE_MOST_FREQUENT, .categories = sexes },
		{ .name = "band", .impute = FEDC_IMPUTE_CONSTANT, .constant_category = "medium", .categories = bands },
	};
	struct fedc_table t;
	struct fedc_data v = node_view(), enc;

	(void)state;
	assert_int_equal(fedc_table_init(&t, spec, 3), 0);
	assert_int_equal(fedc_table_width(&t), 1 + 2 + 3);
	assert_int_equal(fedc_table_fit(&t, &v), 0);
	assert_int_equal(fedc_table_encode(&t, &v, &enc), 0);
	assert_int_equal(enc.n_samples, 6);
	assert_int_equal(enc.n_features, 6);
	assert_ptr_equal(enc.y, node_y);
	assert_null(enc.schema);
	/*            age  M  F  small medium large */
	expect_row(&enc, 0, (const float[]){ 40, 0, 1, 1, 0, 0 }, 6);
	expect_row(&enc, 1, (const float[]){ 25, 1, 0, 0, 0, 1 }, 6);
	expect_row(&enc, 2, (const float[]){ 10, 1, 0, 0, 1, 0 }, 6);
	expect_row(&enc, 3, (const float[]){ 30, 1, 0, 1, 0, 0 }, 6); /* sex missing: M */
	expect_row(&enc, 4, (const float[]){ 20, 0, 1, 0, 1, 0 }, 6); /* band missing: medium */
	fedc_table_data_free(&enc);
	assert_null(enc.x);
	fedc_table_release(&t);
}

/* age mean of {40, 10, 30, 20} = 25, then standardized: the imputed column
 * is 40 25 10 30 20 25, mean 25, variance (225+0+225+25+25+0)/6 = 500/6,
 * deviation 9.1287; row 0 = 15 / 9.1287 = 1.6432. */
static void test_mean_and_standardize(void **state)
{
	const struct fedc_table_col spec[] = { { .name = "age", .impute = FEDC_IMPUTE_MEAN, .standardize = true } };
	struct fedc_table t;
	struct fedc_data v = node_view(), enc;
	size_t n;
	const float *stats;

	(void)state;
	assert_int_equal(fedc_table_init(&t, spec, 1), 0);
	assert_int_equal(fedc_table_fit(&t, &v), 0);
	stats = fedc_table_stats(&t, &n);
	assert_int_equal(n, 3);
	assert_true(fabs((double)(stats[0]) - (25.0)) < 1e-6);
	assert_true(fabs((double)(stats[1]) - (25.0)) < 1e-6);
	assert_true(fabs((double)(stats[2]) - (sqrt(500.0 / 6.0))) < 1e-5);
	assert_int_equal(fedc_table_encode(&t, &v, &enc), 0);
	assert_true(fabs((double)(enc.x[0]) - (15.0 / sqrt(500.0 / 6.0))) < 1e-5);
	assert_true(fabs((double)(enc.x[1]) - (0.0)) < 1e-6);
	fedc_table_data_free(&enc);
	fedc_table_release(&t);
}

/* Most frequent numeric value, with a tie: {3, 1, 3, 1, 2} has 1 and 3
 * twice each: the smaller, 1. An odd count's median is the middle: 2. */
static void test_most_frequent_tie_and_odd_median(void **state)
{
	static float x[6] = { 3, 1, 3, N, 1, 2 };
	static float y[6] = { 0 };
	static const struct fedc_column col = { .name = "k", .type = FEDC_COLUMN_NUMERIC, .n_missing = 1 };
	static const struct fedc_table_schema schema = { 1, &col };
	struct fedc_data v = { .n_samples = 6, .n_features = 1, .x = x, .y = y, .n_classes = 2, .schema = &schema };
	const struct fedc_table_col mode[] = { { .name = "k", .impute = FEDC_IMPUTE_MOST_FREQUENT } };
	const struct fedc_table_col median[] = { { .name = "k", .impute = FEDC_IMPUTE_MEDIAN } };
	struct fedc_table t;
	struct fedc_data enc;

	(void)state;
	assert_int_equal(fedc_table_init(&t, mode, 1), 0);
	assert_int_equal(fedc_table_fit(&t, &v), 0);
	assert_int_equal(fedc_table_encode(&t, &v, &enc), 0);
	assert_true(enc.x[3] == 1.0f);
	fedc_table_data_free(&enc);
	fedc_table_release(&t);
	assert_int_equal(fedc_table_init(&t, median, 1), 0);
	assert_int_equal(fedc_table_fit(&t, &v), 0);
	assert_int_equal(fedc_table_encode(&t, &v, &enc), 0);
	assert_true(enc.x[3] == 2.0f);
	fedc_table_data_free(&enc);
	fedc_table_release(&t);
}

/* A tie between categories goes to the one first in the plan's list: with
 * rows F, M (one each) and the list (M, F), M. */
static void test_most_frequent_category_tie(void **state)
{
	static float x[3] = { 0, 1, N };
	static float y[3] = { 0 };
	static const struct fedc_column col = { .name = "sex", .type = FEDC_COLUMN_CATEGORICAL, .n_categories = 2,
						.categories = node_sexes, .n_missing = 1 };
	static const struct fedc_table_schema schema = { 1, &col };
	struct fedc_data v = { .n_samples = 3, .n_features = 1, .x = x, .y = y, .n_classes = 2, .schema = &schema };
	const struct fedc_table_col spec[] = { { .name = "sex", .impute = FEDC_IMPUTE_MOST_FREQUENT, .categories = sexes } };
	struct fedc_table t;
	struct fedc_data enc;

	(void)state;
	assert_int_equal(fedc_table_init(&t, spec, 1), 0);
	assert_int_equal(fedc_table_fit(&t, &v), 0);
	assert_int_equal(fedc_table_encode(&t, &v, &enc), 0);
	expect_row(&enc, 2, (const float[]){ 1, 0 }, 2);
	fedc_table_data_free(&enc);
	fedc_table_release(&t);
}

/* Fit on the training view, encode another whose node-sorted categories
 * differ (a test set registered apart): the plan's list decides. */
static void test_encode_view_with_its_own_categories(void **state)
{
	static const char *const other_bands[] = { "medium", "small" };
	static float x[2] = { 1, 0 };
	static float y[2] = { 0 };
	static const struct fedc_column col = { .name = "band", .type = FEDC_COLUMN_CATEGORICAL, .n_categories = 2,
						.categories = other_bands };
	static const struct fedc_table_schema schema = { 1, &col };
	struct fedc_data test = { .n_samples = 2, .n_features = 1, .x = x, .y = y, .n_classes = 2, .schema = &schema };
	const struct fedc_table_col spec[] = { { .name = "band", .impute = FEDC_IMPUTE_MOST_FREQUENT, .categories = bands } };
	struct fedc_table t;
	struct fedc_data v = node_view(), enc;

	(void)state;
	assert_int_equal(fedc_table_init(&t, spec, 1), 0);
	assert_int_equal(fedc_table_fit(&t, &v), 0);
	assert_int_equal(fedc_table_encode(&t, &test, &enc), 0);
	expect_row(&enc, 0, (const float[]){ 1, 0, 0 }, 3); /* small */
	expect_row(&enc, 1, (const float[]){ 0, 1, 0 }, 3); /* medium */
	fedc_table_data_free(&enc);
	fedc_table_release(&t);
}

/* A table without a schema (all numeric, complete, unnamed): c<K>. */
static void test_plain_table_by_position(void **state)
{
	static float x[4] = { 1, 2, 3, 4 };
	static float y[2] = { 0, 1 };
	struct fedc_data v = { .n_samples = 2, .n_features = 2, .x = x, .y = y, .n_classes = 2 };
	const struct fedc_table_col spec[] = { { .name = "c1" }, { .name = "c0" } };
	const struct fedc_table_col bad[] = { { .name = "age" } };
	struct fedc_table t;
	struct fedc_data enc;

	(void)state;
	assert_int_equal(fedc_table_init(&t, spec, 2), 0);
	assert_int_equal(fedc_table_fit(&t, &v), 0);
	assert_int_equal(fedc_table_encode(&t, &v, &enc), 0);
	expect_row(&enc, 1, (const float[]){ 4, 3 }, 2);
	fedc_table_data_free(&enc);
	fedc_table_release(&t);
	assert_int_equal(fedc_table_init(&t, bad, 1), 0);
	assert_int_equal(fedc_table_fit(&t, &v), FEDC_NN_ERR_DATA);
	assert_non_null(strstr(fedc_plan_last_error(), "column \"age\": the data has no such column (its 2 columns"));
	fedc_table_release(&t);
}

static void expect_fit_fails(const struct fedc_table_col *spec, const char *message)
{
	struct fedc_table t;
	struct fedc_data v = node_view();

	assert_int_equal(fedc_table_init(&t, spec, 1), 0);
	assert_int_equal(fedc_table_fit(&t, &v), FEDC_NN_ERR_DATA);
	if (!strstr(fedc_plan_last_error(), message))
		fail_msg("got \"%s\", want \"%s\"", fedc_plan_last_error(), message);
	fedc_table_release(&t);
}

static void test_unknown_category(void **state)
{
	static const char *const only_female[] = { "F", NULL };
	static const char *const xy[] = { "F", "X", NULL };
	const struct fedc_table_col spec[] = { { .name = "sex", .impute = FEDC_IMPUTE_MOST_FREQUENT, .categories = only_female } };
	const struct fedc_table_col spec2[] = { { .name = "sex", .impute = FEDC_IMPUTE_MOST_FREQUENT, .categories = xy } };

	(void)state;
	expect_fit_fails(spec, "column \"sex\": category \"M\" is not in the experiment's list (F)");
	expect_fit_fails(spec2, "column \"sex\": category \"M\" is not in the experiment's list (F, X)");
}

static void test_missing_column_and_type_mismatch(void **state)
{
	const struct fedc_table_col missing[] = { { .name = "weight", .impute = FEDC_IMPUTE_MEAN } };
	const struct fedc_table_col as_numeric[] = { { .name = "sex", .impute = FEDC_IMPUTE_MEAN } };
	const struct fedc_table_col as_categorical[] = { { .name = "age", .categories = sexes } };
	const struct fedc_table_col text[] = { { .name = "note", .categories = sexes } };

	(void)state;
	expect_fit_fails(missing, "column \"weight\": the data has no such column (it has age, sex, band, note)");
	expect_fit_fails(as_numeric, "column \"sex\": the plan reads it as numeric, the data's column is categorical");
	expect_fit_fails(as_categorical, "column \"age\": the plan reads it as categorical, the data's column is numeric");
	expect_fit_fails(text, "column \"note\": the plan reads it as categorical, the data's column is text");
}

static void test_missing_cell_without_imputation(void **state)
{
	const struct fedc_table_col spec[] = { { .name = "age" } };
	struct fedc_table t;
	struct fedc_data v = node_view(), enc;

	(void)state;
	assert_int_equal(fedc_table_init(&t, spec, 1), 0);
	assert_int_equal(fedc_table_fit(&t, &v), 0);
	assert_int_equal(fedc_table_encode(&t, &v, &enc), FEDC_NN_ERR_DATA);
	assert_non_null(strstr(fedc_plan_last_error(), "column \"age\": row 1 has a missing cell"));
	assert_null(enc.x);
	fedc_table_release(&t);
}

static void test_no_value_to_impute_from(void **state)
{
	static float x[2] = { N, N };
	static float y[2] = { 0 };
	static const struct fedc_column col = { .name = "k", .type = FEDC_COLUMN_NUMERIC, .n_missing = 2 };
	static const struct fedc_table_schema schema = { 1, &col };
	struct fedc_data v = { .n_samples = 2, .n_features = 1, .x = x, .y = y, .n_classes = 2, .schema = &schema };
	const struct fedc_table_col spec[] = { { .name = "k", .impute = FEDC_IMPUTE_MEDIAN } };
	const struct fedc_table_col constant[] = { { .name = "k", .impute = FEDC_IMPUTE_CONSTANT, .constant = -1 } };
	struct fedc_table t;
	struct fedc_data enc;

	(void)state;
	assert_int_equal(fedc_table_init(&t, spec, 1), 0);
	assert_int_equal(fedc_table_fit(&t, &v), FEDC_NN_ERR_DATA);
	assert_non_null(strstr(fedc_plan_last_error(), "no value in the 2 training rows"));
	assert_int_equal(fedc_table_encode(&t, &v, &enc), FEDC_NN_ERR_INVAL); /* not fitted */
	fedc_table_release(&t);
	assert_int_equal(fedc_table_init(&t, constant, 1), 0);
	assert_int_equal(fedc_table_fit(&t, &v), 0);
	assert_int_equal(fedc_table_encode(&t, &v, &enc), 0);
	assert_true(enc.x[0] == -1.0f && enc.x[1] == -1.0f);
	fedc_table_data_free(&enc);
	fedc_table_release(&t);
}

static void expect_bad_spec(const struct fedc_table_col *spec, size_t n, const char *message)
{
	struct fedc_table t;

	assert_int_equal(fedc_table_init(&t, spec, n), FEDC_NN_ERR_INVAL);
	if (!strstr(fedc_plan_last_error(), message))
		fail_msg("got \"%s\", want \"%s\"", fedc_plan_last_error(), message);
	fedc_table_release(&t);
}

static void test_bad_specs(void **state)
{
	static const char *const twice[] = { "F", "F", NULL };
	static const char *const empty[] = { NULL };

	(void)state;
	expect_bad_spec(NULL, 0, "at least one column");
	expect_bad_spec((const struct fedc_table_col[]){ { .name = "" } }, 1, "has no name");
	expect_bad_spec((const struct fedc_table_col[]){ { .name = "a" }, { .name = "a" } }, 2, "named twice");
	expect_bad_spec((const struct fedc_table_col[]){ { .name = "s", .categories = twice } }, 1, "listed twice");
	expect_bad_spec((const struct fedc_table_col[]){ { .name = "s", .categories = empty } }, 1, "1 to 65536");
	expect_bad_spec((const struct fedc_table_col[]){ { .name = "s", .categories = sexes, .impute = FEDC_IMPUTE_MEAN } },
			1, "no mean or median");
	expect_bad_spec((const struct fedc_table_col[]){ { .name = "s", .categories = sexes, .impute = FEDC_IMPUTE_CONSTANT,
							   .constant_category = "X" } }, 1, "must be one of its list");
	expect_bad_spec((const struct fedc_table_col[]){ { .name = "a", .impute = FEDC_IMPUTE_CONSTANT, .constant = 1e40 } },
			1, "not a finite float");
	expect_bad_spec((const struct fedc_table_col[]){ { .name = "s", .categories = sexes, .standardize = true } }, 1,
			"not standardized");
	expect_bad_spec((const struct fedc_table_col[]){ { .name = "a", .impute = (enum fedc_table_impute)9 } }, 1,
			"unknown imputation");
}

/* Statistics set back from elsewhere are checked: a category fill indexes
 * the one-hot row. */
static void test_set_stats(void **state)
{
	const struct fedc_table_col spec[] = {
		{ .name = "age", .impute = FEDC_IMPUTE_MEAN },
		{ .name = "sex", .impute = FEDC_IMPUTE_MOST_FREQUENT, .categories = sexes },
	};
	struct fedc_table t;
	struct fedc_data v = node_view(), enc;

	(void)state;
	assert_int_equal(fedc_table_init(&t, spec, 2), 0);
	assert_int_equal(fedc_table_set_stats(&t, (const float[]){ 7, 0, 1, 2, 0, 1 }, 6), FEDC_NN_ERR_INVAL);
	assert_int_equal(fedc_table_set_stats(&t, (const float[]){ 7, 0, 1, 1, 0, 0 }, 6), FEDC_NN_ERR_INVAL);
	assert_int_equal(fedc_table_set_stats(&t, (const float[]){ 7, 0, 1, 1, 0, 1 }, 5), FEDC_NN_ERR_INVAL);
	assert_int_equal(fedc_table_set_stats(&t, (const float[]){ 7, 0, 1, 1, 0, 1 }, 6), 0);
	assert_int_equal(fedc_table_encode(&t, &v, &enc), 0);
	expect_row(&enc, 1, (const float[]){ 7, 1, 0 }, 3); /* age filled with 7 */
	expect_row(&enc, 3, (const float[]){ 30, 0, 1 }, 3); /* sex filled with F */
	fedc_table_data_free(&enc);
	fedc_table_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_median_most_frequent_constant),
		cmocka_unit_test(test_mean_and_standardize),
		cmocka_unit_test(test_most_frequent_tie_and_odd_median),
		cmocka_unit_test(test_most_frequent_category_tie),
		cmocka_unit_test(test_encode_view_with_its_own_categories),
		cmocka_unit_test(test_plain_table_by_position),
		cmocka_unit_test(test_unknown_category),
		cmocka_unit_test(test_missing_column_and_type_mismatch),
		cmocka_unit_test(test_missing_cell_without_imputation),
		cmocka_unit_test(test_no_value_to_impute_from),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_set_stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
