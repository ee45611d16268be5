/* DP-SGD: per-sample clipping by the norms of one backward pass, Gaussian
 * noise, and the accountant. See fedc/nn/dpsgd.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/dp.h"
#include "fedc/nn/dpsgd.h"
#include "fedc/nn/err.h"

/* The noise has a stream of its own, apart from the batcher's (which the
 * training seed seeds as it is): "dpsgd-ns" in ASCII. */
#define NOISE_STREAM 0x64707367642d6e73ull

int fedc_dpsgd_check(const struct fedc_dpsgd_cfg *cfg)
{
	if (!cfg) {
		fedc_plan_error("dpsgd: no configuration");
		return FEDC_NN_ERR_INVAL;
	}
	if (!isfinite(cfg->clip_norm) || !(cfg->clip_norm > 0)) {
		fedc_plan_error("dpsgd: clip_norm = %g: must be finite and > 0", cfg->clip_norm);
		return FEDC_NN_ERR_INVAL;
	}
	if (!isfinite(cfg->noise_multiplier) || !(cfg->noise_multiplier >= 0)) {
		fedc_plan_error("dpsgd: noise_multiplier = %g: must be finite and >= 0", cfg->noise_multiplier);
		return FEDC_NN_ERR_INVAL;
	}
	if (cfg->sampling != FEDC_DPSGD_POISSON && cfg->sampling != FEDC_DPSGD_SHUFFLE) {
		fedc_plan_error("dpsgd: unknown sampling %d (FEDC_DPSGD_POISSON or FEDC_DPSGD_SHUFFLE)",
				(int)cfg->sampling);
		return FEDC_NN_ERR_INVAL;
	}
	if (!(cfg->delta > 0 && cfg->delta < 1)) {
		fedc_plan_error("dpsgd: delta = %g: must be in (0, 1)", cfg->delta);
		return FEDC_NN_ERR_INVAL;
	}
	return FEDC_NN_OK;
}

/* Two independent standard normals (Marsaglia's polar method). */
static void gaussian_pair(struct fedc_rng *r, double *a, double *b)
{
	double u, v, s, f;

	do {
		u = 2.0 * fedc_rng_uniform(r) - 1.0;
		v = 2.0 * fedc_rng_uniform(r) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	f = sqrt(-2.0 * log(s) / s);
	*a = u * f;
	*b = v * f;
}

double fedc_dpsgd_gaussian(struct fedc_rng *r)
{
	double a, b;

	gaussian_pair(r, &a, &b);
	return a;
}

int fedc_dpsgd_init(struct fedc_dpsgd *dp, const struct fedc_dpsgd_cfg *cfg, uint64_t seed)
{
	int rc;

	memset(dp, 0, sizeof(*dp));
	rc = fedc_dpsgd_check(cfg);
	if (rc)
		return rc;
	dp->cfg = *cfg;
	fedc_rng_seed(&dp->noise, seed ^ NOISE_STREAM);
	return FEDC_NN_OK;
}

void fedc_dpsgd_release(struct fedc_dpsgd *dp)
{
	free(dp->norm2);
	free(dp->scale);
	dp->norm2 = NULL;
	dp->scale = NULL;
	dp->capacity = 0;
}

static int reserve(struct fedc_dpsgd *dp, size_t rows)
{
	double *norm2;
	float *scale;

	if (rows <= dp->capacity)
		return FEDC_NN_OK;
	norm2 = malloc(rows * sizeof(*norm2));
	scale = malloc(rows * sizeof(*scale));
	if (!norm2 || !scale) {
		free(norm2);
		free(scale);
		return FEDC_NN_ERR_NOMEM;
	}
	fedc_dpsgd_release(dp);
	dp->norm2 = norm2;
	dp->scale = scale;
	dp->capacity = rows;
	return FEDC_NN_OK;
}

static enum fedc_act layer_act(const struct fedc_net *net, size_t i)
{
	return i + 1 < net->cfg.n_layers ? net->cfg.hidden_act : FEDC_ACT_NONE;
}

/* The input of layer i for the first n rows: x, or the previous layer's output. */
static struct fedc_mat layer_input(const struct fedc_net *net, const struct fedc_mat *x, size_t i, size_t n)
{
	return i ? fedc_mat_top(&net->layers[i - 1].out, n) : *x;
}

static double row_sumsq(const float *v, size_t n)
{
	double s = 0.0;

	for (size_t j = 0; j < n; j++)
		s += (double)v[j] * v[j];
	return s;
}

int fedc_dpsgd_per_sample(struct fedc_dpsgd *dp, struct fedc_net *net, enum fedc_loss loss_kind,
			  const struct fedc_mat *x, const float *y, double *loss, size_t *correct)
{
	size_t n = x->rows, last;
	struct fedc_mat out, dz;
	int rc;

	if (!dp || !net || !x || n == 0 || !loss)
		return FEDC_NN_ERR_SHAPE;
	last = net->cfg.n_layers - 1;
	rc = reserve(dp, n);
	if (!rc)
		rc = fedc_net_forward(net, x, &out);
	if (rc)
		return rc;
	if (correct)
		*correct = fedc_loss_correct(loss_kind, &out, y);
	dz = fedc_mat_top(&net->layers[last].delta, n);
	rc = fedc_loss(loss_kind, &out, y, loss, &dz);
	if (rc)
		return rc;
	/* The loss is the batch mean, so its gradient is each row's own
	 * gradient over n: undo the mean. */
	for (size_t i = 0, len = fedc_mat_len(&dz); i < len; i++)
		dz.data[i] *= (float)n;
	memset(dp->norm2, 0, n * sizeof(*dp->norm2));
	for (size_t i = last + 1; !rc && i-- > 0;) {
		const struct fedc_param *w = &net->params.items[net->layers[i].weight];
		const struct fedc_param *b = &net->params.items[net->layers[i].bias];
		struct fedc_mat in = layer_input(net, x, i, n), yv = fedc_mat_top(&net->layers[i].out, n);

		dz = fedc_mat_top(&net->layers[i].delta, n);
		rc = fedc_act_backward(layer_act(net, i), &yv, &dz, &dz);
		/* |dz_s a_s^T|^2 = |dz_s|^2 |a_s|^2, and the bias adds |dz_s|^2. */
		for (size_t s = 0; !rc && s < n; s++) {
			double g2 = row_sumsq(dz.data + s * dz.cols, dz.cols);
			double a2 = w->trainable ? row_sumsq(in.data + s * in.cols, in.cols) : 0.0;

			dp->norm2[s] += g2 * (a2 + (b->trainable ? 1.0 : 0.0));
		}
		if (!rc && i > 0) {
			struct fedc_mat dx = fedc_mat_top(&net->layers[i - 1].delta, n);

			rc = fedc_mat_gemm(1.0f, &dz, false, &w->value, false, 0.0f, &dx);
		}
	}
	return rc;
}

int fedc_dpsgd_sample_grad(const struct fedc_net *net, const struct fedc_mat *x, size_t s,
			   struct fedc_paramset *out)
{
	if (!net || !x || !out || s >= x->rows || s >= net->capacity || !fedc_paramset_same_layout(&net->params, out))
		return FEDC_NN_ERR_SHAPE;
	for (size_t i = 0; i < net->cfg.n_layers; i++) {
		struct fedc_mat in = layer_input(net, x, i, x->rows);
		const struct fedc_mat *dz = &net->layers[i].delta;
		const float *g = dz->data + s * dz->cols, *a = in.data + s * in.cols;
		struct fedc_mat *gw = &out->items[net->layers[i].weight].grad;
		struct fedc_mat *gb = &out->items[net->layers[i].bias].grad;

		if (!gw->data || !gb->data)
			return FEDC_NN_ERR_SHAPE; /* out's tensors must have gradients */
		for (size_t r = 0; r < dz->cols; r++) {
			for (size_t c = 0; c < in.cols; c++)
				gw->data[r * in.cols + c] = g[r] * a[c];
			gb->data[r] = g[r];
		}
	}
	return FEDC_NN_OK;
}

/* grad = (grad + N(0, std^2)) / divisor per coordinate, the noise in pairs. */
static void add_noise(struct fedc_rng *r, float *g, size_t n, double std, double divisor)
{
	double inv = 1.0 / divisor, a, b;
	size_t i = 0;

	if (std == 0.0) {
		for (; i < n; i++)
			g[i] = (float)((double)g[i] * inv);
		return;
	}
	for (; i + 1 < n; i += 2) {
		gaussian_pair(r, &a, &b);
		g[i] = (float)(((double)g[i] + std * a) * inv);
		g[i + 1] = (float)(((double)g[i + 1] + std * b) * inv);
	}
	if (i < n)
		g[i] = (float)(((double)g[i] + std * fedc_dpsgd_gaussian(r)) * inv);
}

/* dz's rows scaled by the clip factors, then the weight gradient dz^T a and
 * the bias gradient (column sums of dz): the clipped per-sample gradients,
 * summed. */
static int clipped_sums(struct fedc_dpsgd *dp, struct fedc_net *net, const struct fedc_mat *x)
{
	size_t n = x->rows;
	double c = dp->cfg.clip_norm;
	int rc = FEDC_NN_OK;

	for (size_t s = 0; s < n; s++) {
		double norm = sqrt(dp->norm2[s]);

		dp->scale[s] = norm > c ? (float)(c / norm) : 1.0f;
	}
	for (size_t i = 0; !rc && i < net->cfg.n_layers; i++) {
		struct fedc_param *w = &net->params.items[net->layers[i].weight];
		struct fedc_param *b = &net->params.items[net->layers[i].bias];
		struct fedc_mat in = layer_input(net, x, i, n), dz = fedc_mat_top(&net->layers[i].delta, n);

		for (size_t s = 0; s < n; s++) {
			float *row = dz.data + s * dz.cols, f = dp->scale[s];

			for (size_t j = 0; j < dz.cols; j++)
				row[j] *= f;
		}
		if (w->trainable)
			rc = fedc_mat_gemm(1.0f, &dz, true, &in, false, 0.0f, &w->grad);
		if (!rc && b->trainable) {
			float *sum = b->grad.data;

			fedc_mat_fill(&b->grad, 0.0f);
			for (size_t s = 0; s < n; s++) {
				const float *row = dz.data + s * dz.cols;

				for (size_t j = 0; j < dz.cols; j++)
					sum[j] += row[j];
			}
		}
	}
	return rc;
}

int fedc_dpsgd_grad(struct fedc_dpsgd *dp, struct fedc_net *net, enum fedc_loss loss_kind, const struct fedc_mat *x,
		    const float *y, double expected_batch, double *loss, size_t *correct)
{
	double std;
	int rc = FEDC_NN_OK;

	if (!dp || !net || !x || !loss || !(expected_batch > 0) || !isfinite(expected_batch))
		return FEDC_NN_ERR_INVAL;
	if (x->rows) {
		rc = fedc_dpsgd_per_sample(dp, net, loss_kind, x, y, loss, correct);
		if (!rc)
			rc = clipped_sums(dp, net, x);
	} else {
		*loss = 0.0;
		if (correct)
			*correct = 0;
		fedc_paramset_zero_grad(&net->params);
	}
	if (rc)
		return rc;
	std = dp->cfg.noise_multiplier * dp->cfg.clip_norm;
	for (size_t k = 0; k < net->params.count; k++) {
		struct fedc_param *p = &net->params.items[k];

		if (p->trainable)
			add_noise(&dp->noise, p->grad.data, fedc_mat_len(&p->grad), std, expected_batch);
	}
	return FEDC_NN_OK;
}

int fedc_dpsgd_epsilon(const struct fedc_dpsgd_cfg *cfg, double q, uint64_t steps, double *epsilon)
{
	if (!cfg || !epsilon || fedc_dp_epsilon(q, cfg->noise_multiplier, steps, cfg->delta, epsilon, NULL) != FEDC_OK) {
		fedc_plan_error("dpsgd: no epsilon for sampling rate %g, noise multiplier %g, delta %g", q,
				cfg ? cfg->noise_multiplier : NAN, cfg ? cfg->delta : NAN);
		return FEDC_NN_ERR_INVAL;
	}
	return FEDC_NN_OK;
}
