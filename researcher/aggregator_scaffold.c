/* SCAFFOLD, server side (Karimireddy et al. 2020, Algorithm 1). The server
 * keeps the global control variate c. With S the updates received this
 * round, N the nodes of the experiment (a round may sample fewer), y_i a
 * node's trained parameters and dc_i its control-variate delta c_i+ - c_i:
 *
 *   x = x + server_lr * (1/|S|) sum (y_i - x)
 *   c = c + (|S|/N) * (1/|S|) sum dc_i   = c + (1/N) sum dc_i
 *
 * Plain means, as in the paper: sample counts do not weigh in.
 *
 * Tensor names (docs/researcher-guide.md): the global parameters are the
 * model tensors, then optionally "scaffold.c.<t>" for each model tensor in
 * the same order (absent in the first round: c = 0); an update is the
 * model tensors, then "scaffold.dc.<t>" for each, in the same order. The
 * result written is the new x then the new c, ready to send to the nodes. */
#include "aggregator_internal.h"

#include <stdlib.h>
#include <string.h>

struct scaffold_round {
	size_t n_model;   /* model tensors in the global parameters */
	bool global_has_c;
	float *x;         /* the global model */
	float *c_new;     /* the next control variate, moved in by commit */
};

/* The global parameters: model tensors, then none or one
 * "scaffold.c.<name>" per model tensor, alike and in the same order. */
static enum fedc_err split_global(const struct fedc_params *global, size_t *n_model, bool *has_c)
{
	const struct fedc_tensor *t = fedc_params_tensors(global);
	const size_t count = fedc_params_count(global), plen = strlen(AGG_SCAFFOLD_C_PREFIX);
	size_t k = 0;

	while (k < count && strncmp(t[k].name, AGG_SCAFFOLD_PREFIX, strlen(AGG_SCAFFOLD_PREFIX)) != 0)
		k++;
	*n_model = k;
	*has_c = count > k;
	if (count > k && count - k != k)
		return fedc_fail(FEDC_ERR_MALFORMED,
				 "scaffold: the global parameters hold %zu model tensors, then %zu \"scaffold.\" "
				 "ones; expected none or one \"scaffold.c.<name>\" per model tensor",
				 k, count - k);
	for (size_t i = 0; *has_c && i < k; i++) {
		struct fedc_tensor c = t[k + i];

		c.name += strncmp(c.name, AGG_SCAFFOLD_C_PREFIX, plen) == 0 ? plen : 0;
		if (c.name == t[k + i].name || !fedc_tensor_same_layout(&c, &t[i]))
			return fedc_fail(FEDC_ERR_MALFORMED, "scaffold: global tensor %zu \"%s\" should be \"%s%s\" "
					 "shaped alike", k + i, t[k + i].name, AGG_SCAFFOLD_C_PREFIX, t[i].name);
	}
	return FEDC_OK;
}

static enum fedc_err scaffold_layouts(struct aggregator *agg, const struct fedc_tensor *t, size_t k)
{
	enum fedc_err rc;

	if (2 * k > FEDC_MAX_TENSORS)
		return fedc_fail(FEDC_ERR_TOO_BIG, "scaffold: %zu model tensors and their control variates do not "
				 "fit the %d tensors of a parameter file", k, FEDC_MAX_TENSORS);
	rc = aggregator__layout_of(&agg->model, t, k, "");
	if (!rc)
		rc = aggregator__layout_init(&agg->update_layout, 2 * k);
	if (!rc)
		rc = aggregator__layout_append(&agg->update_layout, &agg->model, "");
	if (!rc)
		rc = aggregator__layout_append(&agg->update_layout, &agg->model, AGG_SCAFFOLD_DC_PREFIX);
	if (!rc)
		rc = aggregator__layout_init(&agg->out_layout, 2 * k);
	if (!rc)
		rc = aggregator__layout_append(&agg->out_layout, &agg->model, "");
	if (!rc)
		rc = aggregator__layout_append(&agg->out_layout, &agg->model, AGG_SCAFFOLD_C_PREFIX);
	return rc;
}

static enum fedc_err scaffold_begin(struct aggregator *agg, const struct fedc_params *global)
{
	struct scaffold_round *r = calloc(1, sizeof(*r));
	enum fedc_err rc;

	if (!r)
		return FEDC_ERR_NOMEM;
	agg->round = r;
	rc = split_global(global, &r->n_model, &r->global_has_c);
	if (!rc)
		rc = scaffold_layouts(agg, fedc_params_tensors(global), r->n_model);
	if (!rc)
		rc = aggregator__alloc(agg->model.n_elements, sizeof(float), &r->x);
	if (!rc)
		rc = aggregator__alloc(agg->model.n_elements, sizeof(float), &r->c_new);
	if (!rc)
		aggregator__flatten(&agg->model, fedc_params_tensors(global), r->x);
	return rc;
}

/* A fresh aggregator takes c from the global parameters when they carry it
 * (a run that continues without the saved state), else starts at 0. */
static void scaffold_init_state(struct aggregator *agg, const struct fedc_params *global)
{
	const struct scaffold_round *r = agg->round;

	if (r->global_has_c)
		aggregator__flatten(&agg->model, fedc_params_tensors(global) + r->n_model, agg->state.vecs[0]);
}

/* Out tensor t < k (the model's count) is x's tensor t, from the sums of
 * the trained y_i; t >= k is c's tensor t - k, from the sums of dc_i. */
static void scaffold_block(struct aggregator *agg, size_t t, uint64_t first, size_t n, const double *sums,
			   float *dst)
{
	const struct scaffold_round *r = agg->round;
	const size_t k = agg->model.count;
	const double n_received = (double)agg->n_contributors, n_nodes = (double)agg->n_nodes;
	const double lr = agg->opts.server_lr;
	const float *c = agg->state.vecs[0];
	const uint64_t at = agg->model.offsets[t < k ? t : t - k] + first;

	for (size_t q = 0; q < n; q++) {
		const uint64_t j = at + q;

		if (t < k) {
			const double x = (double)r->x[j];

			dst[q] = (float)(x + lr * (sums[q] / n_received - x));
		} else {
			/* (|S|/N) * (sum/|S|) is sum/N: one rounding fewer. */
			dst[q] = r->c_new[j] = (float)((double)c[j] + sums[q] / n_nodes);
		}
	}
}

static void scaffold_commit(struct aggregator *agg)
{
	struct scaffold_round *r = agg->round;
	float *old = agg->state.vecs[0];

	agg->state.vecs[0] = r->c_new;
	r->c_new = old;
}

static void scaffold_release(struct aggregator *agg)
{
	struct scaffold_round *r = agg->round;

	free(r->x);
	free(r->c_new);
	free(r);
}

const struct agg_ops aggregator__scaffold_ops = {
	.name = "scaffold",
	.secure_sum = AGG_SUM_PLAIN,
	.n_state_vecs = 1,
	.state_prefixes = { "c." },
	.begin = scaffold_begin,
	.init_state = scaffold_init_state,
	.compute_block = scaffold_block,
	.commit = scaffold_commit,
	.release_round = scaffold_release,
};
