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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unix_ms_is_the_wall_clock),
		cmocka_unit_test(test_now_ms_is_monotonic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
