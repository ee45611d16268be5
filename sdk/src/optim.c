/* SGD with momentum and Adam, as torch.optim defines them, so that a plan
 * ported from PyTorch keeps its hyper-parameters. */
#include <math.h>
#include <string.h>

#include "fedc/nn/err.h"
#include "fedc/nn/optim.h"

void fedc_optim_defaults(struct fedc_optim_cfg *cfg, enum fedc_optim_kind kind, double lr)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->kind = kind;
	cfg->lr = lr;
	cfg->beta1 = 0.9;
	cfg->beta2 = 0.999;
	cfg->eps = 1e-8;
}

int fedc_optim_from_args(struct fedc_optim_cfg *cfg, const struct fedc_train_args *args)
{
	const char *name = args ? args->optimizer : NULL;

	if (!args || !isfinite(args->lr) || args->lr <= 0)
		return FEDC_NN_ERR_INVAL;
	if (!name || !*name || strcmp(name, "sgd") == 0) {
		fedc_optim_defaults(cfg, FEDC_OPTIM_SGD, args->lr);
	} else if (strcmp(name, "sgdm") == 0) {
		fedc_optim_defaults(cfg, FEDC_OPTIM_SGD, args->lr);
		cfg->momentum = 0.9;
	} else if (strcmp(name, "adam") == 0) {
		fedc_optim_defaults(cfg, FEDC_OPTIM_ADAM, args->lr);
	} else {
		return FEDC_NN_ERR_INVAL;
	}
	return FEDC_NN_OK;
}

static bool cfg_ok(const struct fedc_optim_cfg *c)
{
	bool common = isfinite(c->lr) && c->lr > 0 && isfinite(c->weight_decay) && c->weight_decay >= 0;

	if (c->kind == FEDC_OPTIM_SGD)
		return common && c->momentum >= 0 && c->momentum < 1;
	return common && c->kind == FEDC_OPTIM_ADAM && c->beta1 >= 0 && c->beta1 < 1 && c->beta2 >= 0 &&
	       c->beta2 < 1 && c->eps > 0;
}

int fedc_optim_init(struct fedc_optim *o, const struct fedc_optim_cfg *cfg, const struct fedc_paramset *params)
{
	int rc = FEDC_NN_OK;

	memset(o, 0, sizeof(*o));
	if (!cfg_ok(cfg))
		return FEDC_NN_ERR_INVAL;
	o->cfg = *cfg;
	/* Plain SGD keeps no state. */
	if (cfg->kind == FEDC_OPTIM_ADAM || cfg->momentum > 0)
		rc = fedc_paramset_init_like(&o->m, params);
	if (!rc && cfg->kind == FEDC_OPTIM_ADAM)
		rc = fedc_paramset_init_like(&o->v, params);
	if (rc)
		fedc_optim_release(o);
	return rc;
}

void fedc_optim_release(struct fedc_optim *o)
{
	fedc_paramset_release(&o->m);
	fedc_paramset_release(&o->v);
}

/* The SCAFFOLD correction c - c_i of tensor k, or NULL. */
static const float *correction(const struct fedc_grad_terms *t, size_t k)
{
	return t && t->correction ? t->correction->items[k].value.data : NULL;
}

/* Whether the optimizer keeps state (momentum, Adam's moments): then the
 * SCAFFOLD correction is applied to the weights after the step, as
 * NIID-Bench and the paper's y <- y - lr (g - c_i + c) do, rather than fed
 * through the state, where momentum would scale it by 1 / (1 - momentum)
 * and SCAFFOLD's control-variate update (which assumes plain SGD) would
 * then diverge. Plain SGD adds it to the gradient (the same step). */
static bool corrects_after_step(const struct fedc_optim *o)
{
	return o->cfg.kind == FEDC_OPTIM_ADAM || o->m.count > 0;
}

/* g += wd w + mu (w - anchor) (+ correction, for plain SGD), in one sweep. */
static void add_terms(const struct fedc_optim *o, const struct fedc_grad_terms *t, size_t k,
		      const float *restrict w, float *restrict g, size_t n)
{
	float wd = (float)o->cfg.weight_decay, mu = t ? (float)t->prox_mu : 0.0f;
	const float *restrict a = mu > 0 && t->anchor ? t->anchor->items[k].value.data : NULL;
	const float *restrict c = corrects_after_step(o) ? NULL : correction(t, k);

	if (wd > 0) {
		for (size_t i = 0; i < n; i++)
			g[i] += wd * w[i];
	}
	if (a) {
		for (size_t i = 0; i < n; i++)
			g[i] += mu * (w[i] - a[i]);
	}
	if (c) {
		for (size_t i = 0; i < n; i++)
			g[i] += c[i];
	}
}

/* Parameters, gradients and state are distinct buffers: restrict lets the
 * loops vectorize without alias checks. */
static void sgd(const struct fedc_optim *o, float *restrict w, const float *restrict g, float *restrict v, size_t n)
{
	float lr = (float)o->cfg.lr, mom = (float)o->cfg.momentum;

	if (!v) {
		for (size_t i = 0; i < n; i++)
			w[i] -= lr * g[i];
		return;
	}
	for (size_t i = 0; i < n; i++) {
		v[i] = mom * v[i] + g[i];
		w[i] -= lr * v[i];
	}
}

static void adam(const struct fedc_optim *o, float *restrict w, const float *restrict g, float *restrict m,
		 float *restrict v, size_t n)
{
	double b1 = o->cfg.beta1, b2 = o->cfg.beta2;
	double bc1 = 1.0 - pow(b1, (double)o->t), bc2 = 1.0 - pow(b2, (double)o->t);
	float step = (float)(o->cfg.lr / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2)), eps = (float)o->cfg.eps;
	/* 1 - beta rounded once from double: 1.0f - 0.999f is off by 5e-5. */
	float fb1 = (float)b1, fb2 = (float)b2, rb1 = (float)(1.0 - b1), rb2 = (float)(1.0 - b2);

	for (size_t i = 0; i < n; i++) {
		m[i] = fb1 * m[i] + rb1 * g[i];
		v[i] = fb2 * v[i] + rb2 * g[i] * g[i];
		w[i] -= step * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
	}
}

void fedc_optim_step(struct fedc_optim *o, struct fedc_paramset *params, const struct fedc_grad_terms *terms)
{
	o->t++;
	for (size_t k = 0; k < params->count; k++) {
		struct fedc_param *it = &params->items[k];
		size_t n = fedc_mat_len(&it->value);
		float *m = o->m.count ? o->m.items[k].value.data : NULL;

		if (!it->trainable)
			continue;
		add_terms(o, terms, k, it->value.data, it->grad.data, n);
		if (o->cfg.kind == FEDC_OPTIM_ADAM)
			adam(o, it->value.data, it->grad.data, m, o->v.items[k].value.data, n);
		else
			sgd(o, it->value.data, it->grad.data, m, n);
		if (corrects_after_step(o) && correction(terms, k)) {
			const float *c = correction(terms, k);
			float lr = (float)o->cfg.lr;

			for (size_t i = 0; i < n; i++)
				it->value.data[i] -= lr * c[i];
		}
	}
}

double fedc_fedprox(struct fedc_paramset *params, const struct fedc_paramset *anchor, double mu, bool add_grad)
{
	double penalty = 0.0;

	for (size_t k = 0; k < params->count; k++) {
		struct fedc_param *it = &params->items[k];
		const float *a = anchor->items[k].value.data;
		size_t n = fedc_mat_len(&it->value);

		if (!it->trainable)
			continue;
		for (size_t i = 0; i < n; i++) {
			double d = (double)it->value.data[i] - a[i];

			penalty += d * d;
			if (add_grad)
				it->grad.data[i] += (float)(mu * d);
		}
	}
	return 0.5 * mu * penalty;
}
