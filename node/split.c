/* Train and test rows (split.h). */
#include "split.h"

#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

size_t split__n_test(size_t n, double test_ratio)
{
	size_t n_test = (size_t)((double)n * test_ratio);

	if (test_ratio > 0 && n_test == 0 && n > 1)
		n_test = 1;
	if (n_test >= n)
		n_test = n ? n - 1 : 0;
	return n_test;
}

/* Targets per row (label_width 0 reads as 1). */
static size_t width_of(const struct fedc_data *d)
{
	return d->label_width ? d->label_width : 1;
}

/* A view of `rows` rows shaped like `src` (features, classes, sample shape,
 * targets per row, schema), both arrays allocated (one extra element: an
 * empty view is not NULL). */
static enum fedc_err alloc_view(struct fedc_data *v, size_t rows, const struct fedc_data *src)
{
	size_t f = src->n_features, w = width_of(src);

	*v = (struct fedc_data){ .n_samples = rows,
				 .n_features = f,
				 .x = malloc(rows * f * sizeof(float) + 1),
				 .y = malloc(rows * w * sizeof(float) + 1),
				 .n_classes = src->n_classes,
				 .sample_ndim = src->sample_ndim,
				 .label_width = src->label_width,
				 .schema = src->schema };
	memcpy(v->sample_shape, src->sample_shape, sizeof(v->sample_shape));
	return v->x && v->y ? FEDC_OK : FEDC_ERR_NOMEM;
}

static void free_view(struct fedc_data *v)
{
	free(v->x);
	free(v->y);
	memset(v, 0, sizeof(*v));
}

/* Marks the test rows of a stratified split in `is_test` (indexed by
 * position in the permutation). */
static enum fedc_err mark_stratified(const struct fedc_data *all, const size_t *perm, size_t n_test, bool *is_test)
{
	uint32_t k = all->n_classes;
	size_t n = all->n_samples;
	uint64_t *rows = calloc(k, sizeof(*rows)), *quota = calloc(k, sizeof(*quota)), *rem = calloc(k, sizeof(*rem));
	size_t given = 0;
	enum fedc_err rc = rows && quota && rem ? FEDC_OK : FEDC_ERR_NOMEM;

	for (size_t i = 0; !rc && i < n; i++) {
		float y = all->y[i];

		if (y >= 0 && y < (float)k)
			rows[(size_t)y]++;
	}
	for (uint32_t c = 0; !rc && c < k; c++) {
		quota[c] = rows[c] * n_test / n;
		rem[c] = rows[c] * n_test % n;
		given += quota[c];
	}
	/* The rows left over go to the largest remainders (lower class first). */
	while (!rc && given < n_test) {
		uint32_t best = 0;
		bool any = false;

		for (uint32_t c = 0; c < k; c++) {
			if (quota[c] < rows[c] && (!any || rem[c] > rem[best])) {
				best = c;
				any = true;
			}
		}
		if (!any)
			break; /* rows without a valid class: the rest stays in train */
		quota[best]++;
		rem[best] = 0;
		given++;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		float y = all->y[perm[i]];

		if (y >= 0 && y < (float)k && quota[(size_t)y] > 0) {
			quota[(size_t)y]--;
			is_test[i] = true;
		}
	}
	free(rows);
	free(quota);
	free(rem);
	return rc;
}

enum fedc_err split__rows(const struct fedc_data *all, double test_ratio, uint64_t seed, bool stratified,
			  struct fedc_data *train, struct fedc_data *test)
{
	size_t n = all->n_samples, f = all->n_features, w = width_of(all), at_test = 0, at_train = 0;
	size_t n_test = split__n_test(n, test_ratio);
	size_t *perm = malloc((n ? n : 1) * sizeof(*perm));
	bool *is_test = calloc(n ? n : 1, sizeof(*is_test));
	enum fedc_err rc = perm && is_test ? FEDC_OK : FEDC_ERR_NOMEM;

	memset(train, 0, sizeof(*train));
	memset(test, 0, sizeof(*test));
	for (size_t i = 0; !rc && i < n; i++)
		perm[i] = i;
	for (size_t i = n; !rc && i > 1; i--) {
		size_t j = (size_t)(splitmix64(&seed) % i);
		size_t tmp = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = tmp;
	}
	/* Stratified by the one class of a row; a mask's voxels have no one class. */
	if (!rc && stratified && all->n_classes > 0 && w == 1) {
		rc = mark_stratified(all, perm, n_test, is_test);
	} else {
		for (size_t i = 0; !rc && i < n_test; i++)
			is_test[i] = true;
	}
	/* Counted again: a stratified split may hold fewer (rows without a class). */
	n_test = 0;
	for (size_t i = 0; !rc && i < n; i++)
		n_test += is_test[i];
	if (!rc)
		rc = alloc_view(train, n - n_test, all);
	if (!rc)
		rc = alloc_view(test, n_test, all);
	for (size_t i = 0; !rc && i < n; i++) {
		struct fedc_data *dst = is_test[i] ? test : train;
		size_t row = is_test[i] ? at_test++ : at_train++;

		memcpy(dst->x + row * f, all->x + perm[i] * f, f * sizeof(float));
		memcpy(dst->y + row * w, all->y + perm[i] * w, w * sizeof(float));
	}
	if (rc) {
		free_view(train);
		free_view(test);
	}
	free(perm);
	free(is_test);
	return rc;
}

enum fedc_err split__copy(const struct fedc_data *src, struct fedc_data *dst)
{
	enum fedc_err rc = alloc_view(dst, src->n_samples, src);

	if (!rc) {
		memcpy(dst->x, src->x, src->n_samples * src->n_features * sizeof(float));
		memcpy(dst->y, src->y, src->n_samples * width_of(src) * sizeof(float));
	} else {
		free_view(dst);
	}
	return rc;
}
