/* Binary logistic regression for node-level differential privacy, as a fedc
 * training plan on the SDK (see README.md): examples/logreg's model with each
 * node's standardization kept on the node.
 *
 * Why not examples/logreg itself: its feature_mean and feature_std travel in
 * the parameters (federated standardization). In the first round they move
 * from 0 to the breast-cancer features' means and spreads -- a change of L2
 * norm about 1300, against 0.1 to 2 for the weights -- and node-level DP
 * clips the change of every tensor together: clipped to any dp_clip that
 * suits the weights, the statistics are lost, and the features are then
 * scaled by noise. Here prepare() standardizes each view with the mean and
 * spread of the node's own training rows, every round; they never leave the
 * node, so everything the node sends is the clipped, noisy change of the
 * weights (docs/privacy.md).
 *
 * Model arguments ([model]): n_features (required), n_classes (2 only).
 * Parameters: "dense0.weight" [1, n_features], "dense0.bias" [1], float32;
 * weights start uniform in [-0.01, 0.01) from the create seed, bias 0.
 * Training: the SDK's loop on the binary cross-entropy, mini-batches
 * reshuffled every pass from the round's seed, optimizer "sgd" (default),
 * "sgdm" or "adam", FedProx when fedprox_mu > 0; SCAFFOLD is refused (not
 * declared). */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "fedc/nn.h"

#define LOGREG_MAX_FEATURES (1u << 24)
#define INIT_SCALE 0.01 /* initial weights in [-0.01, 0.01), as examples/logreg */
#define STD_EPS 1e-12   /* below this a feature is constant */

static const char *const known_args[] = { "n_features", "n_classes", NULL };

struct model {
	struct fedc_net net; /* dense0 */
};

static void model_destroy(void *p)
{
	struct model *m = p;

	if (!m)
		return;
	fedc_net_release(&m->net);
	free(m);
}

static int read_args(const struct fedc_args *args, uint32_t *n_features)
{
	uint32_t n_classes = 2;
	int rc;

	if (fedc_args_check(args, known_args))
		return FEDC_NN_ERR_INVAL;
	rc = fedc_arg_uint(args, "n_features", 1, LOGREG_MAX_FEATURES, n_features);
	if (rc == 0)
		fedc_plan_error("[model] n_features is required");
	if (rc != 1)
		return FEDC_NN_ERR_INVAL;
	/* Binary only: a multinomial model would need a [n_classes, n_features] weight. */
	if (fedc_arg_uint(args, "n_classes", 2, 2, &n_classes) < 0)
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
	rc = read_args(model_args, &n_features);
	if (!rc)
		rc = fedc_net_init(&m->net, &(struct fedc_net_cfg){ .n_inputs = n_features, .n_layers = 1,
								    .sizes = { 1 }, .seed = seed });
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

/* ------------------------------------------------------------------ */
/* prepare: the node's own standardization                              */

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

/* Both views with the training view's statistics, computed afresh each
 * round (prepare runs before every train and evaluate) and kept here. */
static int model_prepare(void *p, struct fedc_data *train, struct fedc_data *test)
{
	struct model *m = p;
	double *mean = NULL, *std = NULL;
	size_t nf;
	int rc = FEDC_NN_ERR_DATA;

	if (!m || !view_ok(m, train))
		goto out;
	/* The test view may be empty (a node keeping no test share). */
	if (test && test->n_samples && !view_ok(m, test))
		goto out;
	nf = train->n_features;
	rc = FEDC_NN_ERR_NOMEM;
	mean = malloc(nf * sizeof(*mean));
	std = malloc(nf * sizeof(*std));
	if (!mean || !std)
		goto out;
	feature_stats(train, mean, std);
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
/* train and evaluate: the SDK's loop                                  */

static int model_train(void *p, const struct fedc_data *train, const struct fedc_train_args *args,
		       const struct fedc_reporter *reporter, struct fedc_metrics *out)
{
	struct model *m = p;
	struct fedc_train_cfg cfg = {
		.args = args,
		.loss = FEDC_LOSS_BCE,
		.reporter = reporter,
		.report_every = 0, /* once per pass */
	};

	return m && args ? fedc_net_train(&m->net, train, &cfg, out) : FEDC_NN_ERR_INVAL;
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
	.name = "private",
	.create = model_create,
	.prepare = model_prepare,
	.get_params = model_get_params,
	.set_params = model_set_params,
	.train = model_train,
	.evaluate = model_evaluate,
	.destroy = model_destroy,
	.last_error = fedc_plan_last_error,
	.input_gradient = model_input_gradient,
	.predict = model_predict);
