/* Robust aggregators, coordinate by coordinate over all updates (Yin et al.
 * 2018, "Byzantine-Robust Distributed Learning"): the median, and the mean
 * after trimming floor(beta * n) values from each end. Sample counts are
 * ignored: a node claiming many samples must not outvote the others.
 *
 * They need every update's value at each coordinate, so the updates stay
 * mapped (never copied whole): a block of coordinates is gathered from each
 * mapping into a scratch of BLOCK x n values, each row sorted, reduced. The
 * sort makes the result independent of the update order. */
#include "aggregator_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 256 /* coordinates gathered at a time: scratch is BLOCK x n floats */

/* A total order: -0 before +0, so that even the sign of a zero result does
 * not depend on the input order (values are finite: add() checked). */
static int compare_floats(const void *pa, const void *pb)
{
	const float a = *(const float *)pa, b = *(const float *)pb;

	if (a < b)
		return -1;
	if (a > b)
		return 1;
	return (signbit(b) != 0) - (signbit(a) != 0);
}

/* Mean of the sorted row v[k .. n-k-1]: the middle after trimming k from
 * each end, summed in sorted order. */
static float trimmed(const float *v, size_t n, size_t k)
{
	double sum = 0;

	for (size_t i = k; i < n - k; i++)
		sum += (double)v[i];
	return (float)(sum / (double)(n - 2 * k));
}

static float median(const float *v, size_t n)
{
	if (n % 2)
		return v[n / 2];
	return (float)(((double)v[n / 2 - 1] + (double)v[n / 2]) / 2.0);
}

/* How many values trimmed mean drops from each end of n. beta < 0.5 keeps
 * at least one; the nudge keeps a decimal beta from flooring one short
 * (0.29 * 100 is 28.999999999999996 in double). */
static size_t trim_count(double beta, size_t n)
{
	size_t k = (size_t)floor(beta * (double)n + 1e-9);

	return 2 * k < n ? k : (n - 1) / 2;
}

struct robust_round {
	float *out;
	float *scratch;
};

static enum fedc_err robust_begin(struct aggregator *agg, const struct fedc_params *global)
{
	return aggregator__plain_layouts(agg, global);
}

/* Gathers coordinates [j0, j0 + len) of tensor i, one row per coordinate. */
static void gather(const struct aggregator *agg, size_t i, uint64_t j0, size_t len, float *scratch)
{
	const size_t n = agg->n_updates;

	for (size_t u = 0; u < n; u++) {
		const float *x = (const float *)fedc_params_tensors(agg->updates[u].params)[i].data + j0;

		for (size_t b = 0; b < len; b++)
			scratch[b * n + u] = x[b];
	}
}

static void reduce_tensor(const struct aggregator *agg, size_t i, bool is_median, float *scratch, float *out)
{
	const size_t n = agg->n_updates, k = trim_count(agg->opts.beta, n);
	const uint64_t total = fedc_tensor_elements(&agg->model.tensors[i]);

	for (uint64_t j0 = 0; j0 < total; j0 += BLOCK) {
		const size_t len = total - j0 < BLOCK ? (size_t)(total - j0) : BLOCK;

		gather(agg, i, j0, len, scratch);
		for (size_t b = 0; b < len; b++) {
			float *row = scratch + b * n;

			qsort(row, n, sizeof(*row), compare_floats);
			out[j0 + b] = is_median ? median(row, n) : trimmed(row, n, k);
		}
	}
}

static enum fedc_err robust_compute(struct aggregator *agg, bool is_median, float **result)
{
	/* A failed compute may be retried: keep what an earlier try allocated. */
	struct robust_round *r = agg->round ? agg->round : calloc(1, sizeof(*r));
	enum fedc_err rc;

	if (!r)
		return FEDC_ERR_NOMEM;
	agg->round = r;
	rc = r->out ? FEDC_OK : aggregator__alloc(agg->model.n_elements, sizeof(float), &r->out);
	if (!rc && !r->scratch)
		rc = aggregator__alloc((uint64_t)BLOCK * agg->n_updates, sizeof(float), &r->scratch);
	if (rc)
		return rc;
	for (size_t i = 0; i < agg->model.count; i++)
		reduce_tensor(agg, i, is_median, r->scratch, r->out + agg->model.offsets[i]);
	free(r->scratch);
	r->scratch = NULL;
	*result = r->out;
	return FEDC_OK;
}

static enum fedc_err median_compute(struct aggregator *agg, float **result)
{
	return robust_compute(agg, true, result);
}

static enum fedc_err trimmed_mean_compute(struct aggregator *agg, float **result)
{
	return robust_compute(agg, false, result);
}

static void robust_release(struct aggregator *agg)
{
	struct robust_round *r = agg->round;

	free(r->out);
	free(r->scratch);
	free(r);
}

const struct agg_ops aggregator__median_ops = {
	.name = "median",
	.begin = robust_begin,
	.compute = median_compute,
	.release_round = robust_release,
};

const struct agg_ops aggregator__trimmed_mean_ops = {
	.name = "trimmed_mean",
	.begin = robust_begin,
	.compute = trimmed_mean_compute,
	.release_round = robust_release,
};
