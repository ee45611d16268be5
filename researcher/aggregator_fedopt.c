/* Server optimizers of Reddi et al. 2021, "Adaptive Federated Optimization"
 * (Algorithm 2): FedAdagrad, FedYogi, FedAdam. Per coordinate, with
 * x the global parameters sent and ybar the sample-weighted mean of the
 * nodes' parameters (the pseudo-gradient is x - ybar = -delta):
 *
 *   delta = ybar - x
 *   m     = beta1 m + (1 - beta1) delta
 *   v     = v + delta^2                                        (FedAdagrad)
 *   v     = v - (1 - beta2) delta^2 sign(v - delta^2)          (FedYogi)
 *   v     = beta2 v + (1 - beta2) delta^2                      (FedAdam)
 *   x     = x + server_lr m / (sqrt(v) + tau)
 *
 * starting from m = 0 and v = tau^2 (the paper asks v_-1 >= tau^2), without
 * bias correction, as in the paper. Arithmetic is in double; m and v are
 * rounded to float32 once per round and the new x uses the rounded values,
 * so the saved state (float32) is all a resumed run needs to continue bit
 * for bit. */
#include "aggregator_internal.h"

#include <math.h>
#include <stdlib.h>

enum fedopt_kind { FEDOPT_ADAGRAD, FEDOPT_YOGI, FEDOPT_ADAM };

enum { VEC_M, VEC_V };

struct fedopt_round {
	float *x;             /* the global parameters */
	float *m_new, *v_new; /* the next state, moved in by commit */
};

static enum fedc_err fedopt_begin(struct aggregator *agg, const struct fedc_params *global)
{
	struct fedopt_round *r = calloc(1, sizeof(*r));
	enum fedc_err rc;

	if (!r)
		return FEDC_ERR_NOMEM;
	agg->round = r;
	rc = aggregator__plain_layouts(agg, global);
	if (!rc)
		rc = aggregator__alloc(agg->model.n_elements, sizeof(float), &r->x);
	/* untouched until the result is written: no resident pages before */
	if (!rc)
		rc = aggregator__alloc(agg->model.n_elements, sizeof(float), &r->m_new);
	if (!rc)
		rc = aggregator__alloc(agg->model.n_elements, sizeof(float), &r->v_new);
	if (!rc)
		aggregator__flatten(&agg->model, fedc_params_tensors(global), r->x);
	return rc;
}

static void fedopt_init_state(struct aggregator *agg, const struct fedc_params *global)
{
	const float v0 = (float)(agg->opts.tau * agg->opts.tau);
	float *v = agg->state.vecs[VEC_V];

	(void)global;
	for (uint64_t j = 0; j < agg->state.layout.n_elements; j++)
		v[j] = v0; /* m stays at 0 from calloc */
}

static double sign(double a)
{
	return (double)((a > 0) - (a < 0));
}

static double second_moment(enum fedopt_kind kind, double v, double d2, double beta2)
{
	switch (kind) {
	case FEDOPT_ADAGRAD:
		return v + d2;
	case FEDOPT_YOGI:
		return v - (1.0 - beta2) * d2 * sign(v - d2);
	case FEDOPT_ADAM:
		break;
	}
	return beta2 * v + (1.0 - beta2) * d2;
}

/* x and the state stay as they are: a retried write computes the same. */
static void fedopt_block(struct aggregator *agg, enum fedopt_kind kind, size_t t, uint64_t first, size_t n,
			 const double *sums, float *dst)
{
	const struct fedopt_round *r = agg->round;
	const struct aggregator_options *o = &agg->opts;
	const float *m = agg->state.vecs[VEC_M], *v = agg->state.vecs[VEC_V];
	const uint64_t at = agg->model.offsets[t] + first;
	const double total = agg->share_total;

	for (size_t q = 0; q < n; q++) {
		const uint64_t j = at + q;
		const double delta = sums[q] / total - (double)r->x[j];

		r->m_new[j] = (float)(o->beta1 * (double)m[j] + (1.0 - o->beta1) * delta);
		r->v_new[j] = (float)second_moment(kind, (double)v[j], delta * delta, o->beta2);
		dst[q] = (float)((double)r->x[j] +
				 o->server_lr * (double)r->m_new[j] / (sqrt((double)r->v_new[j]) + o->tau));
	}
}

static void fedadagrad_block(struct aggregator *agg, size_t t, uint64_t first, size_t n, const double *sums,
			     float *dst)
{
	fedopt_block(agg, FEDOPT_ADAGRAD, t, first, n, sums, dst);
}

static void fedyogi_block(struct aggregator *agg, size_t t, uint64_t first, size_t n, const double *sums,
			  float *dst)
{
	fedopt_block(agg, FEDOPT_YOGI, t, first, n, sums, dst);
}

static void fedadam_block(struct aggregator *agg, size_t t, uint64_t first, size_t n, const double *sums,
			  float *dst)
{
	fedopt_block(agg, FEDOPT_ADAM, t, first, n, sums, dst);
}

/* Swaps the new moments in; the old ones go with the round. */
static void fedopt_commit(struct aggregator *agg)
{
	struct fedopt_round *r = agg->round;
	float *old_m = agg->state.vecs[VEC_M], *old_v = agg->state.vecs[VEC_V];

	agg->state.vecs[VEC_M] = r->m_new;
	agg->state.vecs[VEC_V] = r->v_new;
	r->m_new = old_m;
	r->v_new = old_v;
}

static void fedopt_release(struct aggregator *agg)
{
	struct fedopt_round *r = agg->round;

	free(r->x);
	free(r->m_new);
	free(r->v_new);
	free(r);
}

#define FEDOPT_OPS(op_name, block_fn)                                                                    \
	{                                                                                                   \
		.name = op_name, .secure_sum = AGG_SUM_WEIGHTED, .n_state_vecs = 2,                          \
		.state_prefixes = { "m.", "v." }, .begin = fedopt_begin, .init_state = fedopt_init_state,    \
		.compute_block = block_fn, .commit = fedopt_commit,                                                \
		.release_round = fedopt_release,                                                             \
	}

const struct agg_ops aggregator__fedadagrad_ops = FEDOPT_OPS("fedadagrad", fedadagrad_block);
const struct agg_ops aggregator__fedyogi_ops = FEDOPT_OPS("fedyogi", fedyogi_block);
const struct agg_ops aggregator__fedadam_ops = FEDOPT_OPS("fedadam", fedadam_block);
