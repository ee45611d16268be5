/* A multi-layer perceptron classifier as a fedc training plan, on the SDK.
 *
 * Model arguments ([model]): n_features (784), n_classes (10), hidden (128),
 * hidden2 and hidden3 (0 = no such layer), threads (1: BLAS threads).
 * For Fashion-MNIST the node feeds x = pixel / 255, n x 784, y = label.
 * Parameters: dense<i>.weight [out, in] and dense<i>.bias [out], float32.
 * Training: softmax cross-entropy, optimizer "sgd", "sgdm" or "adam",
 * FedProx when fedprox_mu > 0. */
#include <stdlib.h>

#include "fedc/nn.h"

static const char *const known_args[] = { "n_features", "n_classes", "hidden", "hidden2", "hidden3", "threads",
					  NULL };

/* Reads the [model] section into a net configuration. */
static int read_args(const struct fedc_args *args, uint64_t seed, struct fedc_net_cfg *cfg, uint32_t *threads)
{
	static const char *const hidden[] = { "hidden", "hidden2", "hidden3" };
	uint32_t n_features = 784, n_classes = 10, size;
	int rc = fedc_args_check(args, known_args);

	*cfg = (struct fedc_net_cfg){ .hidden_act = FEDC_ACT_RELU, .init = FEDC_INIT_HE, .seed = seed };
	if (rc || fedc_arg_uint(args, "n_features", 1, 1u << 24, &n_features) < 0 ||
	    fedc_arg_uint(args, "n_classes", 2, 1u << 16, &n_classes) < 0 ||
	    fedc_arg_uint(args, "threads", 1, 64, threads) < 0)
		return FEDC_NN_ERR_INVAL;
	cfg->n_inputs = n_features;
	for (size_t i = 0; i < 3; i++) {
		size = i == 0 ? 128 : 0;
		if (fedc_arg_uint(args, hidden[i], 0, 1u << 16, &size) < 0)
			return FEDC_NN_ERR_INVAL;
		if (size && cfg->n_layers < i) { /* hidden3 without hidden2: a gap */
			fedc_plan_error("[model] %s is set but %s is not", hidden[i], hidden[i - 1]);
			return FEDC_NN_ERR_INVAL;
		}
		if (size)
			cfg->sizes[cfg->n_layers++] = size;
	}
	cfg->sizes[cfg->n_layers++] = n_classes;
	return FEDC_NN_OK;
}

static int mlp_create(const struct fedc_args *model_args, uint64_t seed, void **model)
{
	struct fedc_net_cfg cfg;
	struct fedc_net *net = NULL;
	uint32_t threads = 1;
	int rc;

	if (!model)
		return FEDC_NN_ERR_INVAL;
	*model = NULL;
	rc = read_args(model_args, seed, &cfg, &threads);
	if (rc)
		return rc;
	net = malloc(sizeof(*net));
	if (!net)
		return FEDC_NN_ERR_NOMEM;
	rc = fedc_net_init(net, &cfg);
	if (rc) {
		free(net);
		return rc;
	}
	fedc_nn_set_threads((int)threads);
	*model = net;
	return FEDC_NN_OK;
}

static int mlp_get_params(void *model, const struct fedc_tensor **tensors, size_t *count)
{
	struct fedc_net *net = model;

	return net ? fedc_paramset_get(&net->params, tensors, count) : FEDC_NN_ERR_INVAL;
}

static int mlp_set_params(void *model, const struct fedc_tensor *tensors, size_t count)
{
	struct fedc_net *net = model;

	return net ? fedc_paramset_set(&net->params, tensors, count) : FEDC_NN_ERR_INVAL;
}

static int mlp_train(void *model, const struct fedc_data *train, const struct fedc_train_args *args,
		     const struct fedc_reporter *reporter, struct fedc_metrics *out)
{
	struct fedc_train_cfg cfg = {
		.args = args,
		.loss = FEDC_LOSS_SOFTMAX_CE,
		.reporter = reporter,
		.report_every = 100,
		.report_min_interval_s = 0.5,
	};

	return model ? fedc_net_train(model, train, &cfg, out) : FEDC_NN_ERR_INVAL;
}

static int mlp_evaluate(void *model, const struct fedc_data *test, struct fedc_metrics *out)
{
	return model ? fedc_net_evaluate(model, test, FEDC_LOSS_SOFTMAX_CE, out) : FEDC_NN_ERR_INVAL;
}

static void mlp_destroy(void *model)
{
	if (model)
		fedc_net_release(model);
	free(model);
}

/* d(loss)/dx for the node's robustness stage (FGSM, PGD). */
static int mlp_input_gradient(void *model, const struct fedc_data *data, float *grad)
{
	return model ? fedc_net_input_gradient(model, data, FEDC_LOSS_SOFTMAX_CE, grad) : FEDC_NN_ERR_INVAL;
}

/* Each row's class probabilities (ABI 4): the softmax of the logits. */
static int mlp_predict(void *model, const struct fedc_data *data, float *out, size_t width)
{
	return model ? fedc_net_predict(model, data, FEDC_LOSS_SOFTMAX_CE, out, width) : FEDC_NN_ERR_INVAL;
}

FEDC_PLAN_DEFINE(
	.name = "mlp",
	.create = mlp_create,
	.prepare = NULL, /* x arrives scaled to [0, 1] */
	.get_params = mlp_get_params,
	.set_params = mlp_set_params,
	.train = mlp_train,
	.evaluate = mlp_evaluate,
	.destroy = mlp_destroy,
	.last_error = fedc_plan_last_error,
	.input_gradient = mlp_input_gradient,
	.predict = mlp_predict);

/* The SDK's training loop applies the node's SCAFFOLD correction. */
FEDC_PLAN_FEATURES(FEDC_PLAN_FEATURE_SCAFFOLD);
