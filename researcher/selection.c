/* Node sampling (see selection.h). */
#include "selection.h"

#include <math.h>
#include <stdlib.h>

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void rng__seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

uint64_t rng__next(struct rng *r)
{
	uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t rng__below(struct rng *r, uint64_t n)
{
	/* Rejects the top partial block of the 2^64 range: every residue equally likely. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;

	do
		x = rng__next(r);
	while (x >= limit);
	return x % n;
}

static int ascending(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return (x > y) - (x < y);
}

size_t selection__sample(struct rng *r, double fraction, size_t min_count, size_t *idx, size_t n)
{
	size_t k;

	if (fraction >= 1.0 || n == 0)
		return n;
	k = (size_t)ceil(fraction * (double)n);
	k = k < min_count ? min_count : k;
	k = k > n ? n : k;
	/* A partial Fisher-Yates shuffle: the first k are a uniform sample. */
	for (size_t i = 0; i < k; i++) {
		size_t j = i + (size_t)rng__below(r, n - i), t = idx[i];

		idx[i] = idx[j];
		idx[j] = t;
	}
	qsort(idx, k, sizeof(idx[0]), ascending);
	return k;
}
