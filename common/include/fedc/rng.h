/* Seeded pseudo-random numbers: xoshiro256** seeded through splitmix64.
 * Same seed, same stream on every machine: initialisation and shuffling use
 * only integer arithmetic and exact float scaling, no libm. One generator for
 * the whole project: the researcher samples nodes with it (its state goes
 * into breakpoints), and the plan SDK compiles the same file into its
 * archive (fedc/nn/rng.h), since plans depend on nothing of libfedc. */
#ifndef FEDC_RNG_H
#define FEDC_RNG_H

#include <stddef.h>
#include <stdint.h>

struct fedc_rng {
	uint64_t s[4];
};

void fedc_rng_seed(struct fedc_rng *r, uint64_t seed);
uint64_t fedc_rng_next(struct fedc_rng *r);
/* Uniform in [0, 1), 53 bits. */
double fedc_rng_uniform(struct fedc_rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t fedc_rng_below(struct fedc_rng *r, uint64_t n);
/* Fisher-Yates shuffle of idx[0..n). */
void fedc_rng_shuffle(struct fedc_rng *r, uint32_t *idx, size_t n);

#endif
