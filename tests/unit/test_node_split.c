/* Train and test rows (node/split.c): every row lands in exactly one view,
 * the same seed gives the same rows, a stratified split keeps each class's
 * share in both views, and a random one is the split nodes always made. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "split.h"

/* n rows, one feature = the row's index, labels by `counts` (class 0 first),
 * interleaved so that a prefix is not one class. */
static void make_data(struct fedc_data *d, const size_t *counts, uint32_t k)
{
	size_t n = 0, left[8];

	for (uint32_t c = 0; c < k; c++)
		n += counts[c];
	memcpy(left, counts, k * sizeof(*left));
	*d = (struct fedc_data){
		.n_samples = n, .n_features = 1, .x = malloc(n * sizeof(float)), .y = malloc(n * sizeof(float)), .n_classes = k
	};
	assert_non_null(d->x);
	assert_non_null(d->y);
	for (size_t i = 0, c = 0; i < n; c = (c + 1) % k) {
		if (!left[c])
			continue;
		left[c]--;
		d->x[i] = (float)i;
		d->y[i] = (float)c;
		i++;
	}
}

static void free_data(struct fedc_data *d)
{
	free(d->x);
	free(d->y);
}

static void count(const struct fedc_data *d, size_t *per_class)
{
	memset(per_class, 0, 8 * sizeof(*per_class));
	for (size_t i = 0; i < d->n_samples; i++)
		per_class[(size_t)d->y[i]]++;
}

/* Every row once, in one view, with its own label. */
static void check_partition(const struct fedc_data *all, const struct fedc_data *train, const struct fedc_data *test)
{
	char *seen = calloc(all->n_samples, 1);

	assert_non_null(seen);
	assert_int_equal(train->n_samples + test->n_samples, all->n_samples);
	for (int v = 0; v < 2; v++) {
		const struct fedc_data *d = v ? test : train;

		for (size_t i = 0; i < d->n_samples; i++) {
			size_t row = (size_t)d->x[i];

			assert_true(row < all->n_samples);
			assert_int_equal(seen[row], 0);
			seen[row] = 1;
			assert_true(d->y[i] == all->y[row]);
		}
	}
	free(seen);
}

static void test_stratified_keeps_class_shares(void **state)
{
	static const size_t counts[3] = { 700, 200, 100 };
	struct fedc_data all, train, test;
	size_t in_test[8], in_train[8];

	(void)state;
	make_data(&all, counts, 3);
	for (uint64_t seed = 1; seed <= 20; seed++) {
		assert_int_equal(split__rows(&all, 0.2, seed, true, &train, &test), FEDC_OK);
		check_partition(&all, &train, &test);
		count(&test, in_test);
		count(&train, in_train);
		/* 20 % of each class, exactly here (the shares divide evenly) */
		assert_int_equal(in_test[0], 140);
		assert_int_equal(in_test[1], 40);
		assert_int_equal(in_test[2], 20);
		assert_int_equal(in_train[0], 560);
		assert_int_equal(in_train[1], 160);
		assert_int_equal(in_train[2], 80);
		free_data(&train);
		free_data(&test);
	}
	free_data(&all);
}

/* Shares that do not divide evenly: each class within one row of its share,
 * the total the random split's, and a class of one row stays in train. */
static void test_stratified_rounding(void **state)
{
	static const size_t counts[4] = { 51, 33, 15, 1 };
	struct fedc_data all, train, test;
	size_t in_test[8];

	(void)state;
	make_data(&all, counts, 4);
	assert_int_equal(split__rows(&all, 0.25, 7, true, &train, &test), FEDC_OK);
	check_partition(&all, &train, &test);
	assert_int_equal(test.n_samples, split__n_test(100, 0.25));
	count(&test, in_test);
	for (int c = 0; c < 4; c++) {
		double share = (double)counts[c] * 0.25;

		assert_true((double)in_test[c] >= share - 1 && (double)in_test[c] <= share + 1);
	}
	assert_int_equal(in_test[3], 0);
	free_data(&train);
	free_data(&test);
	free_data(&all);
}

/* A random split: the same rows for the same seed, others for another. */
static void test_random_split_same_rows_per_seed(void **state)
{
	static const size_t counts[2] = { 90, 10 };
	struct fedc_data all, a_train, a_test, b_train, b_test;

	(void)state;
	make_data(&all, counts, 2);
	assert_int_equal(split__rows(&all, 0.3, 42, false, &a_train, &a_test), FEDC_OK);
	assert_int_equal(split__rows(&all, 0.3, 42, false, &b_train, &b_test), FEDC_OK);
	check_partition(&all, &a_train, &a_test);
	assert_int_equal(a_test.n_samples, 30);
	assert_memory_equal(a_test.x, b_test.x, a_test.n_samples * sizeof(float));
	assert_memory_equal(a_train.x, b_train.x, a_train.n_samples * sizeof(float));
	free_data(&b_train);
	free_data(&b_test);
	assert_int_equal(split__rows(&all, 0.3, 43, false, &b_train, &b_test), FEDC_OK);
	assert_memory_not_equal(a_test.x, b_test.x, a_test.n_samples * sizeof(float));
	free_data(&a_train);
	free_data(&a_test);
	free_data(&b_train);
	free_data(&b_test);
	free_data(&all);
}

/* Regression (no classes): stratified falls back to the random split. */
static void test_stratified_regression_is_random(void **state)
{
	static const size_t counts[1] = { 50 };
	struct fedc_data all, a_train, a_test, b_train, b_test;

	(void)state;
	make_data(&all, counts, 1);
	all.n_classes = 0;
	assert_int_equal(split__rows(&all, 0.2, 5, true, &a_train, &a_test), FEDC_OK);
	assert_int_equal(split__rows(&all, 0.2, 5, false, &b_train, &b_test), FEDC_OK);
	assert_int_equal(a_test.n_samples, 10);
	assert_memory_equal(a_test.x, b_test.x, a_test.n_samples * sizeof(float));
	free_data(&a_train);
	free_data(&a_test);
	free_data(&b_train);
	free_data(&b_test);
	free_data(&all);
}

static void test_n_test_bounds(void **state)
{
	(void)state;
	assert_int_equal(split__n_test(100, 0.2), 20);
	assert_int_equal(split__n_test(3, 0.1), 1);  /* at least one test row */
	assert_int_equal(split__n_test(1, 0.5), 0);  /* one row: it trains */
	assert_int_equal(split__n_test(10, 1.0), 9); /* at least one train row */
	assert_int_equal(split__n_test(10, 0), 0);
}

/* Masks: y holds label_width targets per row, which travel with their row
 * (a row's x and its whole y block stay together); the sample shape and the
 * schema pointer reach both views; a stratified request is split at random
 * (a mask has no one class) and so gives the random split's rows. */
static void test_label_width_rows_travel_whole(void **state)
{
	enum { N = 40, W = 5 };
	static const struct fedc_column col = { "age", FEDC_COLUMN_NUMERIC, 0, NULL, 0 };
	static const struct fedc_table_schema schema = { 1, &col };
	struct fedc_data all = { .n_samples = N, .n_features = 2, .n_classes = 3, .sample_ndim = 4,
				 .sample_shape = { 1, 1, 1, 1 }, .label_width = W, .schema = &schema };
	struct fedc_data train, test, train_s, test_s;

	(void)state;
	all.x = malloc(N * 2 * sizeof(float));
	all.y = malloc(N * W * sizeof(float));
	assert_non_null(all.x);
	assert_non_null(all.y);
	for (size_t i = 0; i < N; i++) {
		all.x[2 * i] = (float)i;
		all.x[2 * i + 1] = 0;
		for (size_t v = 0; v < W; v++)
			all.y[i * W + v] = (float)((i + v) % 3);
	}
	assert_int_equal(split__rows(&all, 0.25, 7, false, &train, &test), FEDC_OK);
	assert_int_equal(split__rows(&all, 0.25, 7, true, &train_s, &test_s), FEDC_OK);
	assert_int_equal(test.n_samples, 10);
	for (int k = 0; k < 2; k++) {
		const struct fedc_data *v = k ? &test : &train;

		assert_int_equal(v->label_width, W);
		assert_int_equal(v->sample_ndim, 4);
		assert_ptr_equal(v->schema, &schema);
		for (size_t r = 0; r < v->n_samples; r++) {
			size_t i = (size_t)v->x[2 * r];

			for (size_t w = 0; w < W; w++)
				assert_true(v->y[r * W + w] == (float)((i + w) % 3));
		}
	}
	assert_memory_equal(test.x, test_s.x, test.n_samples * 2 * sizeof(float));
	free_data(&train);
	free_data(&test);
	free_data(&train_s);
	free_data(&test_s);
	free_data(&all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stratified_keeps_class_shares),
		cmocka_unit_test(test_stratified_rounding),
		cmocka_unit_test(test_random_split_same_rows_per_seed),
		cmocka_unit_test(test_stratified_regression_is_random),
		cmocka_unit_test(test_n_test_bounds),
		cmocka_unit_test(test_label_width_rows_travel_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
