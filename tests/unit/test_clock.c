/* The clocks (fedc/clock.h): the wall clock of envelope stamps agrees with
 * time(), and the monotonic clock of deadlines never goes back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <time.h>

#include "fedc/clock.h"

/* glibc's time() reads the coarse clock, which lags CLOCK_REALTIME by up
 * to a scheduler tick, so a second's slack either side (CI once saw a
 * millisecond past the second time() still reported). */
static void test_unix_ms_is_the_wall_clock(void **state)
{
	int64_t before = ((int64_t)time(NULL) - 1) * 1000;
	int64_t now = fedc_unix_ms();
	int64_t after = ((int64_t)time(NULL) + 2) * 1000;

	assert_true(now >= before && now <= after);
}

static void test_now_ms_is_monotonic(void **state)
{
	int64_t last = fedc_now_ms();
	struct timespec pause = { 0, 2000000 };

	for (int i = 0; i < 100; i++) {
		int64_t t = fedc_now_ms();

		assert_true(t >= last);
		last = t;
	}
	nanosleep(&pause, NULL);
	assert_true(fedc_now_ms() >= last + 2);
}

/* A deadline's nanoseconds stay under a second, whatever they carry. */
static void test_timespec_add_ms_carries_into_seconds(void **state)
{
	struct timespec t = { 10, 999000000 };

	(void)state;
	fedc_timespec_add_ms(&t, 1);
	assert_int_equal(t.tv_sec, 11);
	assert_int_equal(t.tv_nsec, 0);
	fedc_timespec_add_ms(&t, 2500);
	assert_int_equal(t.tv_sec, 13);
	assert_int_equal(t.tv_nsec, 500000000);
	fedc_timespec_add_ms(&t, 0);
	assert_int_equal(t.tv_sec, 13);
	assert_int_equal(t.tv_nsec, 500000000);
	t = (struct timespec){ 0, 999999999 };
	fedc_timespec_add_ms(&t, 999);
	assert_int_equal(t.tv_sec, 1);
	assert_int_equal(t.tv_nsec, 998999999);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unix_ms_is_the_wall_clock),
		cmocka_unit_test(test_now_ms_is_monotonic),
		cmocka_unit_test(test_timespec_add_ms_carries_into_seconds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
