/* Buffers and local tensors (fedc/plan.h, param_roles): the one place where
 * every aggregator treats them alike.
 *
 * A buffer (batch-norm running statistics, a feature mean) or a local tensor
 * (FedBN's per-site layers) is not a trained weight: a server optimizer's
 * step, a robust selection, a norm bound or a control variate has no meaning
 * for it. Whatever the method, such a tensor ends at the average of the
 * nodes' values weighted by their shares (sample counts, capped by
 * max_weight where the method takes it), summed in double in node-id order
 * and rounded once: bit for bit what FedAvg gives. The method still runs
 * over the whole vector (its loops stay simple and fast); around it:
 *
 *   before compute  the averages are taken from the updates (or the secure
 *                   sum) and the state vectors' values over these tensors
 *                   are saved;
 *   after compute   the averages replace the method's values in the
 *                   result, and the state tensors the result carries (the
 *                   out tensors past the model: SCAFFOLD's c) get the saved
 *                   state back (a streamed method's blocks take them as they
 *                   are written: aggregator__roles_values);
 *   after commit    the state vectors get the saved values back: moments
 *                   and control variates over these tensors stay at their
 *                   first values, round after round.
 *
 * Under secure aggregation the averages come out of the sum: weighted for
 * the weighted methods, plain (sum / count) for SCAFFOLD, whose sum has
 * every weight 1 (docs/privacy.md). */
#include "aggregator_internal.h"

#include <stdlib.h>
#include <string.h>

#include "fedc/plan.h"

enum fedc_err aggregator__set_roles(struct aggregator *agg, const uint8_t *roles, size_t count)
{
	uint8_t *copy = NULL;

	if (!agg || (count && !roles))
		return FEDC_ERR_INVAL;
	if (agg->in_round)
		return fedc_fail(FEDC_ERR_INVAL, "%s: tensor roles are set between rounds", agg->ops->name);
	for (size_t i = 0; i < count; i++) {
		if (roles[i] > FEDC_PARAM_LOCAL)
			return fedc_fail(FEDC_ERR_INVAL, "tensor %zu has role %u; known roles are 0 (weight), 1 "
					 "(buffer) and 2 (local)", i, roles[i]);
	}
	if (count) {
		copy = malloc(count);
		if (!copy)
			return FEDC_ERR_NOMEM;
		memcpy(copy, roles, count);
	}
	free(agg->roles);
	agg->roles = copy;
	agg->n_roles = count;
	return FEDC_OK;
}

enum fedc_err aggregator__check_roles(const struct aggregator *agg)
{
	if (agg->n_roles && agg->n_roles != agg->model.count)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: the plan gives roles for %zu tensors, the global parameters "
				 "hold %zu model tensors", agg->ops->name, agg->n_roles, agg->model.count);
	return FEDC_OK;
}

static bool averaged(const struct aggregator *agg, size_t i)
{
	return agg->n_roles && agg->roles[i] != FEDC_PARAM_WEIGHT;
}

bool aggregator__is_weight(const struct aggregator *agg, size_t i)
{
	return !averaged(agg, i);
}

/* Values of the model's averaged tensors, one after the other. */
static uint64_t averaged_values(const struct aggregator *agg)
{
	uint64_t n = 0;

	for (size_t i = 0; i < agg->model.count; i++)
		n += averaged(agg, i) ? fedc_tensor_elements(&agg->model.tensors[i]) : 0;
	return n;
}

/* Tensor i's average into dst: the same additions in the same order as
 * aggregator__sum_updates, then one division and one rounding. */
static void average_tensor(const struct aggregator *agg, size_t i, float *dst)
{
	const uint64_t n = fedc_tensor_elements(&agg->model.tensors[i]), at = agg->update_layout.offsets[i];
	const bool plain_sum = agg->ops->secure_sum == AGG_SUM_PLAIN;

	for (uint64_t j = 0; j < n; j++) {
		double sum = 0.0, total = agg->share_total;

		if (agg->secure_sum) {
			sum = agg->secure_sum[at + j];
			total = plain_sum ? (double)agg->secure_count : (double)agg->secure_weight;
		}
		for (size_t k = 0; !agg->secure_sum && k < agg->n_updates; k++) {
			const float *x = fedc_params_tensors(agg->updates[k].params)[i].data;

			sum += agg->updates[k].share * (double)x[j];
		}
		dst[j] = (float)(sum / total);
	}
}

/* Saved state over tensor i of vector k goes to or comes from `saved`. */
static void swap_state(struct aggregator *agg, size_t i, float *saved, size_t k, bool save)
{
	const struct agg_layout *l = &agg->state.layout;
	float *state = agg->state.vecs[k] + l->offsets[i];
	const size_t bytes = (size_t)fedc_tensor_elements(&l->tensors[i]) * sizeof(float);

	if (save)
		memcpy(saved, state, bytes);
	else
		memcpy(state, saved, bytes);
}

enum fedc_err aggregator__roles_before(struct aggregator *agg)
{
	const uint64_t n = averaged_values(agg);
	const size_t nv = agg->state.ready ? agg->ops->n_state_vecs : 0;
	uint64_t at = 0;
	enum fedc_err rc = FEDC_OK;

	if (n == 0 || agg->roles_avg)
		return FEDC_OK; /* nothing to do, or done by an earlier try */
	rc = aggregator__alloc(n, sizeof(float), &agg->roles_avg);
	for (size_t k = 0; !rc && k < nv; k++)
		rc = aggregator__alloc(n, sizeof(float), &agg->roles_state[k]);
	if (rc) {
		aggregator__roles_free(agg);
		return rc;
	}
	for (size_t i = 0; i < agg->model.count; i++) {
		if (!averaged(agg, i))
			continue;
		average_tensor(agg, i, agg->roles_avg + at);
		for (size_t k = 0; k < nv; k++)
			swap_state(agg, i, agg->roles_state[k] + at, k, true);
		at += fedc_tensor_elements(&agg->model.tensors[i]);
	}
	return FEDC_OK;
}

const float *aggregator__roles_values(const struct aggregator *agg, size_t t)
{
	const size_t count = agg->model.count;
	size_t i, g;
	uint64_t at = 0;

	if (!agg->roles_avg || count == 0)
		return NULL;
	i = t % count;
	g = t / count;
	if (!averaged(agg, i))
		return NULL;
	for (size_t k = 0; k < i; k++)
		at += averaged(agg, k) ? fedc_tensor_elements(&agg->model.tensors[k]) : 0;
	/* Out tensors past the model: group g holds state vector g - 1 over the
	 * model (aggregator_internal.h). */
	if (g == 0)
		return agg->roles_avg + at;
	return g - 1 < AGG_MAX_STATE_VECS && agg->roles_state[g - 1] ? agg->roles_state[g - 1] + at : NULL;
}

void aggregator__roles_after_compute(struct aggregator *agg)
{
	const struct agg_layout *out = &agg->out_layout;

	for (size_t t = 0; agg->roles_avg && t < out->count; t++) {
		const float *fixed = aggregator__roles_values(agg, t);

		if (fixed)
			memcpy(agg->result + out->offsets[t], fixed,
			       (size_t)fedc_tensor_elements(&out->tensors[t]) * sizeof(float));
	}
}

void aggregator__roles_after_commit(struct aggregator *agg)
{
	uint64_t at = 0;

	if (!agg->roles_avg)
		return;
	for (size_t i = 0; i < agg->model.count; i++) {
		if (!averaged(agg, i))
			continue;
		for (size_t k = 0; k < AGG_MAX_STATE_VECS; k++) {
			if (agg->roles_state[k])
				swap_state(agg, i, agg->roles_state[k] + at, k, false);
		}
		at += fedc_tensor_elements(&agg->model.tensors[i]);
	}
}

void aggregator__roles_free(struct aggregator *agg)
{
	free(agg->roles_avg);
	agg->roles_avg = NULL;
	for (size_t k = 0; k < AGG_MAX_STATE_VECS; k++) {
		free(agg->roles_state[k]);
		agg->roles_state[k] = NULL;
	}
}
