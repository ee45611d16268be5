/* Linear regression as a fedc training plan, on the SDK (see README.md).
 *
 * Model arguments ([model]): n_features (required).
 * Parameters: dense0.weight [1, n_features] and dense0.bias [1], float32
 * (an SDK net of one dense layer with no activation: y = w·x + b).
 * Training: mean squared error, optimizer "sgd" (default), "sgdm" or
 * "adam", FedProx when fedprox_mu > 0, SCAFFOLD when the node asks.
 * Metrics: train() gives "loss" (= "mse", over the last pass), evaluate()
 * gives "loss" and "mse" (the same number, so that the researcher's "loss"
 * columns are the MSE) and "r2", the coefficient of determination
 * 1 - SSE / SST on the rows it is handed. There is no "accuracy".
 *
 * No prepare(): features are used as they come, so they should be on
 * comparable scales (examples/linreg/make_data.c draws them from N(0, 1));
 * examples/logreg shows federated standardization for data that is not. */
#include <math.h>
#include <stdlib.h>

#include "fedc/nn.h"

static const char *const known_args[] = { "n_features", NULL };

static int linreg_create(const struct fedc_args *model_args, uint64_t seed, void **model)
{
	uint32_t n_features = 0;
	struct fedc_net *net = NULL;
	int rc;

	if (!model)
		return FEDC_NN_ERR_INVAL;
	*model = NULL;
	if (fedc_args_check(model_args, known_args))
		return FEDC_NN_ERR_INVAL;
	rc = fedc_arg_uint(model_args, "n_features", 1, 1u << 24, &n_features);
	if (rc == 0)
		fedc_plan_error("[model] n_features is required");
	if (rc != 1)
		return FEDC_NN_ERR_INVAL;
	net = malloc(sizeof(*net));
	if (!net)
		return FEDC_NN_ERR_NOMEM;
	/* One layer: the output layer is linear, so this is w·x + b. Xavier
	 * keeps the first predictions small whatever n_features is. */
	rc = fedc_net_init(net, &(struct fedc_net_cfg){ .n_inputs = n_features, .n_layers = 1, .sizes = { 1 },
							.init = FEDC_INIT_XAVIER, .seed = seed });
	if (rc) {
		free(net);
		return rc;
	}
	/* A [batch, n] x [n, 1] product gains nothing from threads, and one
	 * thread keeps the sums in one order: the same result on every run. */
	fedc_nn_set_threads(1);
	*model = net;
	return FEDC_NN_OK;
}

static int linreg_get_params(void *model, const struct fedc_tensor **tensors, size_t *count)
{
	struct fedc_net *net = model;

	return net ? fedc_paramset_get(&net->params, tensors, count) : FEDC_NN_ERR_INVAL;
}

static int linreg_set_params(void *model, const struct fedc_tensor *tensors, size_t count)
{
	struct fedc_net *net = model;

	return net ? fedc_paramset_set(&net->params, tensors, count) : FEDC_NN_ERR_INVAL;
}

static int linreg_train(void *model, const struct fedc_data *train, const struct fedc_train_args *args,
			const struct fedc_reporter *reporter, struct fedc_metrics *out)
{
	struct fedc_train_cfg cfg = {
		.args = args,
		.loss = FEDC_LOSS_MSE,
		.reporter = reporter,
		.report_every = 0, /* once per pass */
	};
	int rc;

	if (!model)
		return FEDC_NN_ERR_INVAL;
	rc = fedc_net_train(model, train, &cfg, out);
	if (!rc)
		fedc_metrics_put(out, "mse", fedc_metrics_get(out, "loss"));
	return rc;
}

/* Total sum of squares of the targets around their mean (two passes in
 * double: the one-pass formula loses digits when the mean is large). */
static double total_sum_of_squares(const struct fedc_data *d)
{
	double mean = 0.0, sst = 0.0;

	for (size_t i = 0; i < d->n_samples; i++)
		mean += d->y[i];
	mean /= (double)d->n_samples;
	for (size_t i = 0; i < d->n_samples; i++) {
		double dev = d->y[i] - mean;

		sst += dev * dev;
	}
	return sst;
}

static int linreg_evaluate(void *model, const struct fedc_data *test, struct fedc_metrics *out)
{
	double mse, sst;
	int rc;

	if (!model || !out)
		return FEDC_NN_ERR_INVAL;
	rc = fedc_net_evaluate(model, test, FEDC_LOSS_MSE, out); /* checks the view and its targets */
	if (rc)
		return rc;
	mse = fedc_metrics_get(out, "loss");
	fedc_metrics_put(out, "mse", mse);
	/* SSE = n * MSE (one output per row). R² is undefined for a constant
	 * target: then it is left out rather than reported as NaN. */
	sst = total_sum_of_squares(test);
	if (sst > 0.0 && isfinite(sst))
		fedc_metrics_put(out, "r2", 1.0 - mse * (double)test->n_samples / sst);
	return FEDC_NN_OK;
}

static void linreg_destroy(void *model)
{
	if (model)
		fedc_net_release(model);
	free(model);
}

/* d(squared error)/dx for the node's robustness stage (FGSM, PGD). */
static int linreg_input_gradient(void *model, const struct fedc_data *data, float *grad)
{
	return model ? fedc_net_input_gradient(model, data, FEDC_LOSS_MSE, grad) : FEDC_NN_ERR_INVAL;
}

/* Each row's predicted value (ABI 4). */
static int linreg_predict(void *model, const struct fedc_data *data, float *out, size_t width)
{
	return model ? fedc_net_predict(model, data, FEDC_LOSS_MSE, out, width) : FEDC_NN_ERR_INVAL;
}

FEDC_PLAN_DEFINE(
	.name = "linreg",
	.create = linreg_create,
	.prepare = NULL, /* features used as they come */
	.get_params = linreg_get_params,
	.set_params = linreg_set_params,
	.train = linreg_train,
	.evaluate = linreg_evaluate,
	.destroy = linreg_destroy,
	.last_error = fedc_plan_last_error,
	.input_gradient = linreg_input_gradient,
	.predict = linreg_predict);

/* The SDK's training loop applies the node's SCAFFOLD correction. */
FEDC_PLAN_FEATURES(FEDC_PLAN_FEATURE_SCAFFOLD);
