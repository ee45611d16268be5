/* The SDK's random numbers: the project's one generator (fedc/rng.h),
 * compiled into the SDK's archive. */
#ifndef FEDC_NN_RNG_H
#define FEDC_NN_RNG_H

#include "fedc/rng.h"

#endif
