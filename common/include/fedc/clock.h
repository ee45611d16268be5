/* The clocks: the monotonic one every deadline in fedc is measured on, and
 * the wall clock of envelope stamps. */
#ifndef FEDC_CLOCK_H
#define FEDC_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC: only differences mean something. */
int64_t fedc_now_ms(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): envelope stamps and
 * the replay window, which must agree between machines. */
int64_t fedc_unix_ms(void);

#endif
