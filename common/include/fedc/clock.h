/* The monotonic clock every deadline in fedc is measured on. */
#ifndef FEDC_CLOCK_H
#define FEDC_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC: only differences mean something. */
int64_t fedc_now_ms(void);

#endif
