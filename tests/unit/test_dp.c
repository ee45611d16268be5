/* The RDP accountant (fedc/dp.h) against reference values computed with
 * Opacus's own analysis (tests/fixtures/dp/dp-rdp-reference.csv, from the
 * project's shared data: sampling rate, noise multiplier, steps, delta ->
 * epsilon and best order), and its edge cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "fedc/dp.h"

static void test_orders(void **state)
{
	(void)state;
	assert_float_equal(fedc_dp_order(0), 1.1, 1e-12);
	assert_float_equal(fedc_dp_order(98), 10.9, 1e-12);
	assert_float_equal(fedc_dp_order(99), 12.0, 1e-12);
	assert_float_equal(fedc_dp_order(FEDC_DP_N_ORDERS - 1), 63.0, 1e-12);
}

/* Every row of Opacus's values: epsilon to 1e-5 (the file has six
 * decimals), and the same best order. */
static void test_matches_opacus(void **state)
{
	FILE *f = fopen(FEDC_FIXTURES_DIR "/dp/dp-rdp-reference.csv", "r");
	char line[256];
	int rows = 0;

	(void)state;
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f)); /* header */
	while (fgets(line, sizeof(line), f)) {
		double q, sigma, delta, want, want_order, eps = 0, order = 0;
		unsigned long long steps;

		assert_int_equal(sscanf(line, "%lf,%lf,%llu,%lf,%lf,%lf", &q, &sigma, &steps, &delta, &want, &want_order),
				 6);
		assert_int_equal(fedc_dp_epsilon(q, sigma, steps, delta, &eps, &order), FEDC_OK);
		if (fabs(eps - want) > 1e-5 || fabs(order - want_order) > 1e-9)
			fail_msg("q %g sigma %g steps %llu delta %g: epsilon %.7f at order %g, Opacus %.6f at %g", q, sigma,
				 steps, delta, eps, order, want, want_order);
		rows++;
	}
	fclose(f);
	assert_true(rows >= 12);
}

static void test_edges(void **state)
{
	double eps = 0, order = 0;

	(void)state;
	assert_float_equal(fedc_dp_rdp_step(0, 1.0, 2.0), 0, 0);
	assert_true(isinf(fedc_dp_rdp_step(0.1, 0, 2.0)));
	assert_float_equal(fedc_dp_rdp_step(1.0, 2.0, 3.0), 3.0 / 8.0, 1e-12); /* alpha / (2 sigma^2) */
	/* more noise, less epsilon; more steps, more epsilon */
	assert_int_equal(fedc_dp_epsilon(0.01, 1.0, 1000, 1e-5, &eps, &order), FEDC_OK);
	{
		double more_noise = 0, more_steps = 0;

		assert_int_equal(fedc_dp_epsilon(0.01, 2.0, 1000, 1e-5, &more_noise, NULL), FEDC_OK);
		assert_int_equal(fedc_dp_epsilon(0.01, 1.0, 2000, 1e-5, &more_steps, NULL), FEDC_OK);
		assert_true(more_noise < eps && more_steps > eps);
	}
	assert_int_equal(fedc_dp_epsilon(-0.1, 1.0, 10, 1e-5, &eps, NULL), FEDC_ERR_INVAL);
	assert_int_equal(fedc_dp_epsilon(0.1, -1.0, 10, 1e-5, &eps, NULL), FEDC_ERR_INVAL);
	assert_int_equal(fedc_dp_epsilon(0.1, 1.0, 10, 0, &eps, NULL), FEDC_ERR_INVAL);
	assert_int_equal(fedc_dp_epsilon(0.1, 1.0, 10, NAN, &eps, NULL), FEDC_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_orders),
		cmocka_unit_test(test_matches_opacus),
		cmocka_unit_test(test_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
