/* Aggregators that bound what one node can do to the model (docs/security.md,
 * "Rogue nodes"):
 *
 * Krum and multi-Krum (Blanchard et al. 2017, "Machine Learning with
 * Adversaries: Byzantine Tolerant Gradient Descent"): each update is scored
 * by the sum of its squared distances to its n - f - 2 closest other
 * updates; Krum takes the best scored update, multi-Krum the plain mean of
 * the m best. An update far from the crowd (a flipped sign, a scaled step)
 * scores badly and is left out whatever sample count it claims.
 *
 * Norm-bounded FedAvg (Sun et al. 2019, "Can You Really Backdoor Federated
 * Learning?"): each update's change from the global parameters is clipped to
 * L2 norm clip_norm, then the changes are averaged with the FedAvg weights
 * (capped by max_weight) and added to the global parameters. A scaled update
 * moves the model no further than an honest one.
 *
 * Determinism: updates come sorted by node id; distances and sums run in
 * that order in double, ties between equal scores go to the node first in
 * node-id order, so arrival order never changes the result. */
#include "aggregator_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/log.h"

struct krum_round {
	float *out;
	float *global; /* normbounded: the parameters the nodes were sent */
};

static enum fedc_err krum_begin(struct aggregator *agg, const struct fedc_params *global)
{
	return aggregator__plain_layouts(agg, global);
}

static enum fedc_err normbounded_begin(struct aggregator *agg, const struct fedc_params *global)
{
	struct krum_round *r = NULL;
	enum fedc_err rc = aggregator__plain_layouts(agg, global);

	if (rc)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return FEDC_ERR_NOMEM;
	agg->round = r;
	rc = aggregator__alloc(agg->model.n_elements, sizeof(float), &r->global);
	if (!rc)
		aggregator__flatten(&agg->model, fedc_params_tensors(global), r->global);
	return rc;
}

/* The round's own state, made on the first compute (a failed compute may be
 * retried: what an earlier try allocated is kept). */
static enum fedc_err round_out(struct aggregator *agg, struct krum_round **out)
{
	struct krum_round *r = agg->round ? agg->round : calloc(1, sizeof(*r));

	if (!r)
		return FEDC_ERR_NOMEM;
	agg->round = r;
	*out = r;
	return r->out ? FEDC_OK : aggregator__alloc(agg->model.n_elements, sizeof(float), &r->out);
}

/* Over the weights only: buffers and local tensors do not choose (their
 * values are averaged apart, aggregator_roles.c). */
static double squared_distance(const struct aggregator *agg, size_t a, size_t b)
{
	double sum = 0;

	for (size_t i = 0; i < agg->model.count; i++) {
		const float *x = fedc_params_tensors(agg->updates[a].params)[i].data;
		const float *y = fedc_params_tensors(agg->updates[b].params)[i].data;
		const uint64_t n = aggregator__is_weight(agg, i) ? fedc_tensor_elements(&agg->model.tensors[i]) : 0;

		for (uint64_t j = 0; j < n; j++) {
			const double d = (double)x[j] - (double)y[j];

			sum += d * d;
		}
	}
	return sum;
}

static int compare_doubles(const void *pa, const void *pb)
{
	const double a = *(const double *)pa, b = *(const double *)pb;

	return (a > b) - (a < b);
}

/* How many neighbours score an update: n - f - 2, at least 1 (with fewer
 * than f + 3 updates the paper's bound does not hold; the closest one still
 * tells an outlier from the crowd), at most n - 1. */
static size_t neighbours(size_t n, uint64_t f)
{
	if (n < 2)
		return 0;
	if ((uint64_t)n < f + 3)
		return 1;
	return n - (size_t)f - 2;
}

/* score[a] = the sum of a's `k` smallest squared distances to the others.
 * dist is n x n scratch, row scratch n. */
static void krum_scores(const struct aggregator *agg, double *dist, double *row, double *score)
{
	const size_t n = agg->n_updates, k = neighbours(n, (uint64_t)agg->opts.f);

	for (size_t a = 0; a < n; a++) {
		dist[a * n + a] = 0;
		for (size_t b = a + 1; b < n; b++)
			dist[a * n + b] = dist[b * n + a] = squared_distance(agg, a, b);
	}
	for (size_t a = 0; a < n; a++) {
		size_t m = 0;

		for (size_t b = 0; b < n; b++) {
			if (b != a)
				row[m++] = dist[a * n + b];
		}
		qsort(row, m, sizeof(*row), compare_doubles);
		score[a] = 0;
		for (size_t t = 0; t < k; t++)
			score[a] += row[t];
	}
}

/* Marks the `m` best scored updates in keep[] (ties: the earlier node id). */
static void krum_select(const double *score, size_t n, size_t m, bool *keep)
{
	memset(keep, 0, n * sizeof(*keep));
	for (size_t t = 0; t < m; t++) {
		size_t best = n;

		for (size_t a = 0; a < n; a++) {
			if (!keep[a] && (best == n || score[a] < score[best]))
				best = a;
		}
		keep[best] = true;
	}
}

/* The plain mean of the kept updates, in node-id order. */
static void mean_of_kept(const struct aggregator *agg, const bool *keep, size_t m, float *out)
{
	for (size_t i = 0; i < agg->model.count; i++) {
		const uint64_t n = fedc_tensor_elements(&agg->model.tensors[i]);
		float *o = out + agg->model.offsets[i];

		for (uint64_t j = 0; j < n; j++) {
			double sum = 0;

			for (size_t a = 0; a < agg->n_updates; a++) {
				if (keep[a])
					sum += (double)((const float *)fedc_params_tensors(agg->updates[a].params)[i].data)[j];
			}
			o[j] = (float)(sum / (double)m);
		}
	}
}

/* multi-Krum's m: the option (0: n - f), within 1 .. n. */
static size_t kept_count(const struct aggregator *agg, bool multi)
{
	const size_t n = agg->n_updates;
	const uint64_t f = (uint64_t)agg->opts.f, m = (uint64_t)agg->opts.m;
	uint64_t want;

	if (!multi)
		return 1;
	want = m ? m : ((uint64_t)n > f ? (uint64_t)n - f : 1);
	return want > n ? n : (size_t)want;
}

static void log_kept(const struct aggregator *agg, const bool *keep, const double *score)
{
	for (size_t a = 0; a < agg->n_updates; a++)
		fedc_info("%s: node %s score %.6g %s", agg->ops->name, agg->updates[a].node_id, score[a],
			  keep[a] ? "kept" : "left out");
}

static enum fedc_err krum_compute_common(struct aggregator *agg, bool multi, float **result)
{
	const size_t n = agg->n_updates, m = kept_count(agg, multi);
	struct krum_round *r = NULL;
	double *dist = NULL, *row = NULL, *score = NULL;
	bool *keep = NULL;
	enum fedc_err rc = round_out(agg, &r);

	if (!rc)
		rc = aggregator__alloc((uint64_t)n * n, sizeof(double), &dist);
	if (!rc)
		rc = aggregator__alloc(n, sizeof(double), &row);
	if (!rc)
		rc = aggregator__alloc(n, sizeof(double), &score);
	if (!rc)
		rc = aggregator__alloc(n, sizeof(bool), &keep);
	if (rc)
		goto out;
	krum_scores(agg, dist, row, score);
	krum_select(score, n, m, keep);
	log_kept(agg, keep, score);
	mean_of_kept(agg, keep, m, r->out);
	*result = r->out;
out:
	free(dist);
	free(row);
	free(score);
	free(keep);
	return rc;
}

static enum fedc_err krum_compute(struct aggregator *agg, float **result)
{
	return krum_compute_common(agg, false, result);
}

static enum fedc_err multikrum_compute(struct aggregator *agg, float **result)
{
	return krum_compute_common(agg, true, result);
}

/* ||update - global|| over the weights (as squared_distance), in double. */
static double change_norm(const struct aggregator *agg, size_t a, const float *global)
{
	double sum = 0;

	for (size_t i = 0; i < agg->model.count; i++) {
		const float *x = fedc_params_tensors(agg->updates[a].params)[i].data;
		const float *g = global + agg->model.offsets[i];
		const uint64_t n = aggregator__is_weight(agg, i) ? fedc_tensor_elements(&agg->model.tensors[i]) : 0;

		for (uint64_t j = 0; j < n; j++) {
			const double d = (double)x[j] - (double)g[j];

			sum += d * d;
		}
	}
	return sqrt(sum);
}

/* global + sum_a share_a * clip_a * (x_a - global) / sum_a share_a, with
 * clip_a = min(1, C / ||x_a - global||). */
static enum fedc_err normbounded_compute(struct aggregator *agg, float **result)
{
	struct krum_round *r = NULL;
	const float *g;
	double *acc = NULL, *factor = NULL;
	enum fedc_err rc = round_out(agg, &r);

	if (!rc)
		rc = aggregator__alloc(agg->model.n_elements, sizeof(double), &acc);
	if (!rc)
		rc = aggregator__alloc(agg->n_updates, sizeof(double), &factor);
	if (rc)
		goto out;
	g = r->global;
	for (size_t a = 0; a < agg->n_updates; a++) {
		const double norm = change_norm(agg, a, g);
		const double clip = norm > agg->opts.clip_norm ? agg->opts.clip_norm / norm : 1.0;

		factor[a] = agg->updates[a].share * clip;
		if (clip < 1.0)
			fedc_info("normbounded: node %s's change of norm %.6g clipped to %g", agg->updates[a].node_id,
				  norm, agg->opts.clip_norm);
	}
	for (size_t a = 0; a < agg->n_updates; a++) {
		for (size_t i = 0; i < agg->model.count; i++) {
			const float *x = fedc_params_tensors(agg->updates[a].params)[i].data;
			const uint64_t off = agg->model.offsets[i], n = fedc_tensor_elements(&agg->model.tensors[i]);

			for (uint64_t j = 0; j < n; j++)
				acc[off + j] += factor[a] * ((double)x[j] - (double)g[off + j]);
		}
	}
	for (uint64_t j = 0; j < agg->model.n_elements; j++)
		r->out[j] = (float)((double)g[j] + acc[j] / agg->share_total);
	*result = r->out;
out:
	free(acc);
	free(factor);
	return rc;
}

static void krum_release(struct aggregator *agg)
{
	struct krum_round *r = agg->round;

	free(r->out);
	free(r->global);
	free(r);
}

const struct agg_ops aggregator__krum_ops = {
	.name = "krum",
	.begin = krum_begin,
	.compute = krum_compute,
	.release_round = krum_release,
};

const struct agg_ops aggregator__multikrum_ops = {
	.name = "multikrum",
	.begin = krum_begin,
	.compute = multikrum_compute,
	.release_round = krum_release,
};

const struct agg_ops aggregator__normbounded_ops = {
	.name = "normbounded",
	.begin = normbounded_begin,
	.compute = normbounded_compute,
	.release_round = krum_release,
};
