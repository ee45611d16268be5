/* Node sampling: seeded, reproducible from a saved state, uniform enough,
 * and never fewer than the minimum. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "selection.h"

static void test_xoshiro_reference_values(void **state)
{
	/* xoshiro256** from the state {1, 2, 3, 4}: the first outputs of the
	 * reference implementation (Blackman and Vigna). */
	struct fedc_rng r = { { 1, 2, 3, 4 } };

	assert_int_equal(fedc_rng_next(&r), 11520);
	assert_int_equal(fedc_rng_next(&r), 0);
	assert_int_equal(fedc_rng_next(&r), 1509978240);
	assert_int_equal(fedc_rng_next(&r), 1215971899390074240ull);
}

static void test_sample_size_and_order(void **state)
{
	struct fedc_rng r;
	size_t idx[10];

	fedc_rng_seed(&r, 7);
	for (size_t i = 0; i < 10; i++)
		idx[i] = i;
	assert_int_equal(selection__sample(&r, 0.3, 1, idx, 10), 3);
	assert_true(idx[0] < idx[1] && idx[1] < idx[2]);
	for (size_t i = 0; i < 10; i++)
		idx[i] = i;
	assert_int_equal(selection__sample(&r, 0.01, 4, idx, 10), 4); /* never under min_nodes */
	assert_int_equal(selection__sample(&r, 0.5, 20, idx, 10), 10); /* nor over what there is */
	assert_int_equal(selection__sample(&r, 1.0, 1, idx, 10), 10);
	assert_int_equal(selection__sample(&r, 0.5, 1, idx, 0), 0);
}

static void test_resumed_state_samples_the_same(void **state)
{
	struct fedc_rng a, saved;
	size_t first[8], second[8];

	fedc_rng_seed(&a, 42);
	for (int round = 0; round < 5; round++) {
		size_t idx[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };

		selection__sample(&a, 0.5, 1, idx, 8);
	}
	saved = a; /* what a breakpoint after round 5 keeps */
	for (size_t i = 0; i < 8; i++)
		first[i] = second[i] = i;
	selection__sample(&a, 0.5, 1, first, 8);
	selection__sample(&saved, 0.5, 1, second, 8);
	assert_memory_equal(first, second, 4 * sizeof(size_t));
}

static void test_every_node_gets_its_share(void **state)
{
	size_t picked[6] = { 0 };
	struct fedc_rng r;

	fedc_rng_seed(&r, 1);
	for (int round = 0; round < 6000; round++) {
		size_t idx[6] = { 0, 1, 2, 3, 4, 5 };
		size_t k = selection__sample(&r, 0.5, 1, idx, 6);

		for (size_t i = 0; i < k; i++)
			picked[idx[i]]++;
	}
	/* each is picked in half the rounds: 3000, within 5 % */
	for (size_t i = 0; i < 6; i++)
		assert_true(picked[i] > 2850 && picked[i] < 3150);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xoshiro_reference_values),
		cmocka_unit_test(test_sample_size_and_order),
		cmocka_unit_test(test_resumed_state_samples_the_same),
		cmocka_unit_test(test_every_node_gets_its_share),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
