/* xoshiro256** (Blackman and Vigna), seeded with splitmix64 as its authors
 * recommend, so that any 64-bit seed, 0 included, gives a good state. */
#include "fedc/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void fedc_rng_seed(struct fedc_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

uint64_t fedc_rng_next(struct fedc_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double fedc_rng_uniform(struct fedc_rng *r)
{
	return (double)(fedc_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t fedc_rng_below(struct fedc_rng *r, uint64_t n)
{
	/* Reject the top partial block so that every residue is equally likely. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;

	do
		x = fedc_rng_next(r);
	while (x >= limit);
	return x % n;
}

void fedc_rng_shuffle(struct fedc_rng *r, uint32_t *idx, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)fedc_rng_below(r, i);
		uint32_t t = idx[i - 1];

		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}
