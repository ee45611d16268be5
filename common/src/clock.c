/* The clocks (fedc/clock.h). */
#include "fedc/clock.h"

int64_t fedc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fedc_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fedc_timespec_add_ms(struct timespec *t, int64_t ms)
{
	int64_t ns = (int64_t)t->tv_nsec + (ms % 1000) * 1000000;

	t->tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
	t->tv_nsec = (long)(ns % 1000000000);
}
