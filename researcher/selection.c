/* Node sampling (see selection.h). */
#include "selection.h"

#include <math.h>
#include <stdlib.h>

static int ascending(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return (x > y) - (x < y);
}

size_t selection__count(double fraction, size_t min_count, size_t n)
{
	size_t k;

	if (fraction >= 1.0 || n == 0)
		return n;
	k = (size_t)ceil(fraction * (double)n);
	k = k < min_count ? min_count : k;
	return k > n ? n : k;
}

size_t selection__sample(struct fedc_rng *r, double fraction, size_t min_count, size_t *idx, size_t n)
{
	size_t k = selection__count(fraction, min_count, n);

	/* With fraction < 1 the draws happen even when k == n: the generator's
	 * state goes into breakpoints, so what it consumes must not change. */
	if (fraction >= 1.0 || n == 0)
		return n;
	/* A partial Fisher-Yates shuffle: the first k are a uniform sample. */
	for (size_t i = 0; i < k; i++) {
		size_t j = i + (size_t)fedc_rng_below(r, n - i), t = idx[i];

		idx[i] = idx[j];
		idx[j] = t;
	}
	qsort(idx, k, sizeof(idx[0]), ascending);
	return k;
}

bool selection__admits(const struct require *req, const struct fedc_msg *reply, FILE *out)
{
	char why[512];

	if (require__met(req, reply, why, sizeof(why)))
		return true;
	fprintf(out, "node %s left out by [nodes] require: %s\n", reply->node_id, why);
	return false;
}
