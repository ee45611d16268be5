/* Integers from text (fedc/num.h): one parser refuses overflow, signs where
 * none is allowed, trailing or leading junk, empty strings and values out of
 * bounds, and never wraps ("4294967297" is not 1). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fedc/config.h" /* fedc_parse_int stays reachable through config.h */
#include "fedc/num.h"

static void test_parse_i64_accepts_whole_numbers(void **state)
{
	int64_t v = 0;

	assert_int_equal(fedc_num_parse_i64("0", INT64_MIN, INT64_MAX, &v), FEDC_OK);
	assert_int_equal(v, 0);
	assert_int_equal(fedc_num_parse_i64("-17", -100, 100, &v), FEDC_OK);
	assert_int_equal(v, -17);
	assert_int_equal(fedc_num_parse_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v), FEDC_OK);
	assert_true(v == INT64_MAX);
	assert_int_equal(fedc_num_parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), FEDC_OK);
	assert_true(v == INT64_MIN);
	assert_int_equal(fedc_num_parse_i64("007", 0, 10, &v), FEDC_OK);
	assert_int_equal(v, 7);
}

static void test_parse_i64_overflow(void **state)
{
	int64_t v = 5;

	assert_int_equal(fedc_num_parse_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v), FEDC_ERR_INVAL);
	assert_int_equal(fedc_num_parse_i64("-9223372036854775809", INT64_MIN, INT64_MAX, &v), FEDC_ERR_INVAL);
	assert_int_equal(fedc_num_parse_i64("99999999999999999999999", INT64_MIN, INT64_MAX, &v),
			 FEDC_ERR_INVAL);
	assert_int_equal(v, 5); /* untouched on failure */
}

static void test_parse_junk_and_empty(void **state)
{
	static const char *const bad[] = {"", "-", "+", "+5", " 5", "5 ", "5a", "0x10", "1e3", "1.0",
					  "--5", "5\n", "\t5"};
	int64_t v;
	uint64_t u;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fedc_num_parse_i64(bad[i], INT64_MIN, INT64_MAX, &v), FEDC_ERR_INVAL);
		assert_int_equal(fedc_num_parse_u64(bad[i], 0, UINT64_MAX, &u), FEDC_ERR_INVAL);
		assert_false(fedc_parse_int(bad[i], INT64_MIN, INT64_MAX, &v));
	}
	assert_int_equal(fedc_num_parse_i64(NULL, 0, 1, &v), FEDC_ERR_INVAL);
	assert_int_equal(fedc_num_parse_u64(NULL, 0, 1, &u), FEDC_ERR_INVAL);
}

static void test_parse_bounds(void **state)
{
	int64_t v;
	uint64_t u;

	assert_int_equal(fedc_num_parse_i64("1", 1, 86400, &v), FEDC_OK);
	assert_int_equal(fedc_num_parse_i64("86400", 1, 86400, &v), FEDC_OK);
	assert_int_equal(fedc_num_parse_i64("0", 1, 86400, &v), FEDC_ERR_INVAL);
	assert_int_equal(fedc_num_parse_i64("86401", 1, 86400, &v), FEDC_ERR_INVAL);
	assert_int_equal(fedc_num_parse_i64("-1", 0, 10, &v), FEDC_ERR_INVAL);
	assert_int_equal(fedc_num_parse_u64("9", 10, 20, &u), FEDC_ERR_INVAL);
	assert_int_equal(fedc_num_parse_u64("21", 10, 20, &u), FEDC_ERR_INVAL);
	assert_true(fedc_parse_int("65535", 1, 65535, &v));
	assert_false(fedc_parse_int("65536", 1, 65535, &v));
}

static void test_parse_u64_sign_and_overflow(void **state)
{
	uint64_t u = 3;

	assert_int_equal(fedc_num_parse_u64("18446744073709551615", 0, UINT64_MAX, &u), FEDC_OK);
	assert_true(u == UINT64_MAX);
	/* strtoull would give UINT64_MAX and 1 for these */
	assert_int_equal(fedc_num_parse_u64("-1", 0, UINT64_MAX, &u), FEDC_ERR_INVAL);
	assert_int_equal(fedc_num_parse_u64("-18446744073709551615", 0, UINT64_MAX, &u), FEDC_ERR_INVAL);
	assert_int_equal(fedc_num_parse_u64("18446744073709551616", 0, UINT64_MAX, &u), FEDC_ERR_INVAL);
	assert_true(u == UINT64_MAX);
}

/* The case of the review: a 32-bit cast of 2^32 + 1 made one second. */
static void test_arg_names_the_flag(void **state)
{
	int64_t v = 0;
	uint64_t u = 0;

	assert_int_equal(fedc_num_arg_i64("--timeout", "4294967297", 1, 86400, &v), FEDC_ERR_INVAL);
	assert_string_equal(fedc_last_error(), "--timeout: expected an integer in 1..86400, got \"4294967297\"");
	assert_int_equal(v, 0);
	assert_int_equal(fedc_num_arg_u64("[round] size", "12k", 0, 100, &u), FEDC_ERR_INVAL);
	assert_string_equal(fedc_last_error(), "[round] size: expected an integer in 0..100, got \"12k\"");
	assert_int_equal(fedc_num_arg_i64("--timeout", "60", 1, 86400, &v), FEDC_OK);
	assert_int_equal(v, 60);
	assert_int_equal(fedc_num_arg_u64("--rounds", "3", 1, 100, &u), FEDC_OK);
	assert_int_equal(u, 3);
}

/* Whole strings as finite doubles, nothing more. */
static void test_parse_double(void **state)
{
	double v = 7;

	(void)state;
	assert_true(fedc_parse_double("0.25", &v));
	assert_true(v == 0.25);
	assert_true(fedc_parse_double("-1e-3", &v));
	assert_true(v == -1e-3);
	v = 7;
	assert_false(fedc_parse_double("", &v));
	assert_false(fedc_parse_double("1.5x", &v));
	assert_false(fedc_parse_double("1e999", &v));
	assert_false(fedc_parse_double("nan", &v));
	assert_false(fedc_parse_double("inf", &v));
	assert_false(fedc_parse_double(NULL, &v));
	assert_true(v == 7); /* untouched on failure */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_i64_accepts_whole_numbers),
		cmocka_unit_test(test_parse_i64_overflow),
		cmocka_unit_test(test_parse_junk_and_empty),
		cmocka_unit_test(test_parse_bounds),
		cmocka_unit_test(test_parse_u64_sign_and_overflow),
		cmocka_unit_test(test_arg_names_the_flag),
		cmocka_unit_test(test_parse_double),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
