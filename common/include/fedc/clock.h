/* The clocks: the monotonic one every deadline in fedc is measured on, and
 * the wall clock of envelope stamps. */
#ifndef FEDC_CLOCK_H
#define FEDC_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds of CLOCK_MONOTONIC: only differences mean something. */
int64_t fedc_now_ms(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): envelope stamps and
 * the replay window, which must agree between machines. */
int64_t fedc_unix_ms(void);

/* Moves `t` on by `ms` (>= 0) milliseconds, its nanoseconds kept under a
 * second: the deadline of a pthread_cond_timedwait(), from clock_gettime()
 * on the clock the condition variable waits on. */
void fedc_timespec_add_ms(struct timespec *t, int64_t ms);

#endif
