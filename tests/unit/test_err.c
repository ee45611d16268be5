/* The error detail: a new detail may wrap the previous one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fedc/err.h"

static void test_wrapping_the_previous_detail(void **state)
{
	assert_int_equal(fedc_fail(FEDC_ERR_IO, "cannot read %s", "a.csv"), FEDC_ERR_IO);
	assert_int_equal(fedc_fail(FEDC_ERR_IO, "%s; the run stops", fedc_last_error()), FEDC_ERR_IO);
	assert_string_equal(fedc_last_error(), "cannot read a.csv; the run stops");
	assert_int_equal(fedc_fail(FEDC_ERR_NOT_FOUND, "dataset d: %s", fedc_last_error()), FEDC_ERR_NOT_FOUND);
	assert_string_equal(fedc_last_error(), "dataset d: cannot read a.csv; the run stops");
}

static void test_names(void **state)
{
	assert_string_equal(fedc_strerror(FEDC_ERR_DIGEST), "digest-mismatch");
	assert_string_equal(fedc_strerror((enum fedc_err)999), "unknown-error");
	fedc_clear_error();
	assert_string_equal(fedc_last_error(), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrapping_the_previous_detail),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
