/* Binary logistic regression trained with DP-SGD, as a fedc training plan on
 * the SDK (see README.md): examples/logreg with sample-level differential
 * privacy. What changed from examples/logreg is only what DP-SGD needs: the
 * training loop is the SDK's (fedc_net_train with a struct fedc_dpsgd_cfg),
 * which clips each row's gradient, adds Gaussian noise and reports
 * "dp_epsilon"; the model is an SDK net of one dense layer.
 *
 * Model arguments ([model]): n_features (required), n_classes (2 only),
 * dp_clip (clip norm C, default 1.0), dp_noise (noise multiplier sigma,
 * default 1.0), dp_delta (the delta of dp_epsilon, default 1e-5).
 *
 * The noise's seed. The SDK seeds its noise and its Poisson draws from the
 * training seed args->seed, which the plan uses as it is. The node mixes a
 * secret of its own into that seed ([privacy] secret_training_seed, on by
 * default): the researcher, who knows the experiment's seed, the round and
 * the node's id, still cannot draw the same noise and subtract it from the
 * update, nor tell which rows took part; and since the secret is fixed, a
 * resumed experiment repeats bit for bit. A node configured with
 * secret_training_seed = false gives no such guarantee: its seed is
 * mix(seed, round, node id), which the researcher can compute.
 * Parameters: "dense0.weight" [1, n_features], "dense0.bias" [1], and
 * "feature_mean", "feature_std" [n_features] (not trained), float32.
 * Training: BCE, Poisson sampling at q = batch_size / rows, optimizer "sgd"
 * (default), "sgdm" or "adam", FedProx when fedprox_mu > 0; SCAFFOLD is
 * refused (not declared: the node refuses such an experiment).
 *
 * Federated standardization as in examples/logreg: prepare() fills
 * feature_mean and feature_std from the node's training rows in the first
 * round, FedAvg averages them. Those statistics are NOT covered by DP-SGD's
 * guarantee (README.md, "Privacy"). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/nn.h"

#define LOGREG_MAX_FEATURES (1u << 24)
#define INIT_SCALE 0.01 /* initial weights in [-0.01, 0.01), as examples/logreg */
#define STD_EPS 1e-12   /* below this a feature is constant */

static const char *const known_args[] = { "n_features", "n_classes", "dp_clip", "dp_noise", "dp_delta", NULL };

struct model {
	struct fedc_net net; /* dense0 and, after it, feature_mean and feature_std */
	size_t mean, std;    /* their indices in net.params */
	struct fedc_dpsgd_cfg dp;
};

static void model_destroy(void *p)
{
	struct model *m = p;

	if (!m)
		return;
	fedc_net_release(&m->net);
	free(m);
}

/* [model]: n_features and the DP-SGD settings. */
static int read_args(const struct fedc_args *args, uint32_t *n_features, struct fedc_dpsgd_cfg *dp)
{
	uint32_t n_classes = 2;
	int rc;

	*dp = (struct fedc_dpsgd_cfg){ .clip_norm = 1.0, .noise_multiplier = 1.0, .sampling = FEDC_DPSGD_POISSON,
				       .delta = 1e-5 };
	if (fedc_args_check(args, known_args))
		return FEDC_NN_ERR_INVAL;
	rc = fedc_arg_uint(args, "n_features", 1, LOGREG_MAX_FEATURES, n_features);
	if (rc == 0)
		fedc_plan_error("[model] n_features is required");
	if (rc != 1)
		return FEDC_NN_ERR_INVAL;
	/* Binary only: a multinomial model would need a [n_classes, n_features] weight. */
	if (fedc_arg_uint(args, "n_classes", 2, 2, &n_classes) < 0 ||
	    fedc_arg_double(args, "dp_clip", 1e-6, 1e6, &dp->clip_norm) < 0 ||
	    fedc_arg_double(args, "dp_noise", 0.0, 1e6, &dp->noise_multiplier) < 0 ||
	    fedc_arg_double(args, "dp_delta", 1e-300, 0.5, &dp->delta) < 0)
		return FEDC_NN_ERR_INVAL;
	return FEDC_NN_OK;
}

static int model_create(const struct fedc_args *model_args, uint64_t seed, void **out)
{
	uint32_t n_features = 0;
	struct model *m = NULL;
	struct fedc_param *w;
	struct fedc_rng rng;
	int rc;

	if (!out)
		return FEDC_NN_ERR_INVAL;
	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return FEDC_NN_ERR_NOMEM;
	rc = read_args(model_args, &n_features, &m->dp);
	if (!rc)
		rc = fedc_net_init(&m->net, &(struct fedc_net_cfg){ .n_inputs = n_features, .n_layers = 1,
								    .sizes = { 1 }, .seed = seed });
	if (!rc)
		rc = fedc_paramset_add(&m->net.params, "feature_mean", 1, n_features, 1, false, &m->mean);
	if (!rc)
		rc = fedc_paramset_add(&m->net.params, "feature_std", 1, n_features, 1, false, &m->std);
	if (rc) {
		model_destroy(m);
		return rc;
	}
	/* Small seeded values: same seed, same model on every node. */
	fedc_rng_seed(&rng, seed);
	w = &m->net.params.items[m->net.layers[0].weight];
	for (size_t f = 0; f < n_features; f++)
		w->value.data[f] = (float)((2.0 * fedc_rng_uniform(&rng) - 1.0) * INIT_SCALE);
	/* A [batch, n] x [n, 1] product gains nothing from threads, and one
	 * thread keeps the sums in one order: the same result on every run. */
	fedc_nn_set_threads(1);
	*out = m;
	return FEDC_NN_OK;
}

static int model_get_params(void *p, const struct fedc_tensor **tensors, size_t *count)
{
	struct model *m = p;

	return m ? fedc_paramset_get(&m->net.params, tensors, count) : FEDC_NN_ERR_INVAL;
}

static int model_set_params(void *p, const struct fedc_tensor *tensors, size_t count)
{
	struct model *m = p;

	return m ? fedc_paramset_set(&m->net.params, tensors, count) : FEDC_NN_ERR_INVAL;
}

/* dense0 is trained; feature_mean and feature_std are statistics of the
 * nodes' rows (BUFFER: averaged by sample count, never moved by a server
 * optimizer). Under node-level DP they stay inside the clipped, noised
 * change the node sends (docs/privacy.md). */
static int model_param_roles(void *p, uint8_t *roles, size_t count)
{
	struct model *m = p;

	if (!m || !roles || count != m->net.params.count)
		return FEDC_NN_ERR_INVAL;
	for (size_t i = 0; i < count; i++)
		roles[i] = i == m->mean || i == m->std ? FEDC_PARAM_BUFFER : FEDC_PARAM_WEIGHT;
	return FEDC_NN_OK;
}

/* ------------------------------------------------------------------ */
/* prepare: standardization (as examples/logreg)                       */

static bool view_ok(const struct model *m, const struct fedc_data *d)
{
	return d && d->x && d->n_samples && d->n_features == m->net.cfg.n_inputs;
}

/* Mean and standard deviation of each feature over `d` (two passes in
 * double for accuracy). A constant feature gets std 1: it is only centred. */
static void feature_stats(const struct fedc_data *d, double *mean, double *std)
{
	size_t nf = d->n_features;

	for (size_t f = 0; f < nf; f++)
		mean[f] = std[f] = 0.0;
	for (size_t i = 0; i < d->n_samples; i++) {
		for (size_t f = 0; f < nf; f++)
			mean[f] += d->x[i * nf + f];
	}
	for (size_t f = 0; f < nf; f++)
		mean[f] /= (double)d->n_samples;
	for (size_t i = 0; i < d->n_samples; i++) {
		for (size_t f = 0; f < nf; f++) {
			double dev = d->x[i * nf + f] - mean[f];

			std[f] += dev * dev;
		}
	}
	for (size_t f = 0; f < nf; f++) {
		std[f] = sqrt(std[f] / (double)d->n_samples);
		if (!(std[f] > STD_EPS))
			std[f] = 1.0;
	}
}

static void standardize(struct fedc_data *d, const double *mean, const double *std)
{
	size_t nf = d->n_features;

	for (size_t i = 0; i < d->n_samples; i++) {
		for (size_t f = 0; f < nf; f++)
			d->x[i * nf + f] = (float)((d->x[i * nf + f] - mean[f]) / std[f]);
	}
}

/* True before any node filled the statistics (all std 0). */
static bool stats_unset(const float *std, size_t nf)
{
	for (size_t f = 0; f < nf; f++) {
		if (std[f] != 0.0f)
			return false;
	}
	return true;
}

static int model_prepare(void *p, struct fedc_data *train, struct fedc_data *test)
{
	struct model *m = p;
	double *mean = NULL, *std = NULL;
	float *fm, *fs;
	size_t nf;
	int rc = FEDC_NN_ERR_DATA;

	if (!m || !view_ok(m, train))
		goto out;
	/* The test view may be empty (a node keeping no test share). */
	if (test && test->n_samples && !view_ok(m, test))
		goto out;
	nf = train->n_features;
	fm = m->net.params.items[m->mean].value.data;
	fs = m->net.params.items[m->std].value.data;
	rc = FEDC_NN_ERR_NOMEM;
	mean = malloc(nf * sizeof(*mean));
	std = malloc(nf * sizeof(*std));
	if (!mean || !std)
		goto out;
	if (stats_unset(fs, nf)) {
		/* First round: this node's own statistics, averaged by FedAvg after. */
		feature_stats(train, mean, std);
		for (size_t f = 0; f < nf; f++) {
			fm[f] = (float)mean[f];
			fs[f] = (float)std[f];
		}
	}
	for (size_t f = 0; f < nf; f++) {
		mean[f] = fm[f];
		std[f] = fs[f] > STD_EPS ? fs[f] : 1.0;
	}
	standardize(train, mean, std);
	if (test && test->n_samples)
		standardize(test, mean, std);
	rc = FEDC_NN_OK;
out:
	free(mean);
	free(std);
	return rc;
}

/* ------------------------------------------------------------------ */
/* train and evaluate: the SDK's loop, with DP-SGD                      */

static int model_train(void *p, const struct fedc_data *train, const struct fedc_train_args *args,
		       const struct fedc_reporter *reporter, struct fedc_metrics *out)
{
	struct model *m = p;
	/* args->seed as the node gives it: its secret is already in (see the top). */
	struct fedc_train_cfg cfg = {
		.args = args,
		.loss = FEDC_LOSS_BCE,
		.reporter = reporter,
		.report_every = 0, /* once per pass */
		.dpsgd = m ? &m->dp : NULL,
	};

	if (!m || !args)
		return FEDC_NN_ERR_INVAL;
	return fedc_net_train(&m->net, train, &cfg, out);
}

static int model_evaluate(void *p, const struct fedc_data *test, struct fedc_metrics *out)
{
	struct model *m = p;

	return m ? fedc_net_evaluate(&m->net, test, FEDC_LOSS_BCE, out) : FEDC_NN_ERR_INVAL;
}

/* d(BCE)/dx of the standardized inputs, for the node's robustness stage. */
static int model_input_gradient(void *p, const struct fedc_data *data, float *grad)
{
	struct model *m = p;

	return m ? fedc_net_input_gradient(&m->net, data, FEDC_LOSS_BCE, grad) : FEDC_NN_ERR_INVAL;
}

/* Each row's class probabilities (ABI 4): 1 - p, p of the sigmoid. */
static int model_predict(void *p, const struct fedc_data *data, float *out, size_t width)
{
	struct model *m = p;

	return m ? fedc_net_predict(&m->net, data, FEDC_LOSS_BCE, out, width) : FEDC_NN_ERR_INVAL;
}

FEDC_PLAN_DEFINE(
	.name = "logreg-dpsgd",
	.create = model_create,
	.prepare = model_prepare,
	.get_params = model_get_params,
	.set_params = model_set_params,
	.train = model_train,
	.evaluate = model_evaluate,
	.destroy = model_destroy,
	.last_error = fedc_plan_last_error,
	.param_roles = model_param_roles,
	.input_gradient = model_input_gradient,
	.predict = model_predict);
