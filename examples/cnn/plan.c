/* NIID-Bench's simple CNN (Li et al. 2022, "Federated Learning on Non-IID
 * Data Silos") as a fedc training plan, on the SDK's sequential model:
 *   conv 6@5x5, ReLU, maxpool 2, conv 16@5x5, ReLU, maxpool 2,
 *   fc 120, ReLU, fc 84, ReLU, fc n_classes
 * with an optional batch norm after each conv (FedBN keeps it local).
 * examples/cnn/README.md lists the [model] arguments. For Fashion-MNIST the
 * node feeds x = pixel / 255 with sample_shape [1, 28, 28]. */
#include <stdlib.h>
#include <string.h>

#include "fedc/nn.h"

struct cnn {
	struct fedc_seq seq; /* first: the SDK's fedc_seq_* entry points take the model as a struct fedc_seq */
	double momentum;     /* 0: the [training] optimizer decides */
	double weight_decay;
};

static const char *const known_args[] = { "channels", "height", "width", "n_classes", "conv1", "conv2", "fc1",
					  "fc2", "batch_norm", "fedbn", "dropout", "momentum", "weight_decay",
					  "crop_pad", "hflip", "rotate", "threads", NULL };

struct cnn_args {
	uint32_t channels, height, width, n_classes, conv1, conv2, fc1, fc2, batch_norm, fedbn, crop_pad, hflip,
		threads;
	double dropout, momentum, weight_decay, rotate;
};

static int read_args(const struct fedc_args *args, struct cnn_args *a)
{
	*a = (struct cnn_args){ .channels = 1, .height = 28, .width = 28, .n_classes = 10, .conv1 = 6,
				.conv2 = 16, .fc1 = 120, .fc2 = 84, .threads = 1 };
	if (fedc_args_check(args, known_args) || fedc_arg_uint(args, "channels", 1, 64, &a->channels) < 0 ||
	    fedc_arg_uint(args, "height", 16, 4096, &a->height) < 0 ||
	    fedc_arg_uint(args, "width", 16, 4096, &a->width) < 0 ||
	    fedc_arg_uint(args, "n_classes", 2, 1u << 16, &a->n_classes) < 0 ||
	    fedc_arg_uint(args, "conv1", 1, 1024, &a->conv1) < 0 || fedc_arg_uint(args, "conv2", 1, 1024, &a->conv2) < 0 ||
	    fedc_arg_uint(args, "fc1", 1, 1u << 16, &a->fc1) < 0 || fedc_arg_uint(args, "fc2", 1, 1u << 16, &a->fc2) < 0 ||
	    fedc_arg_uint(args, "batch_norm", 0, 1, &a->batch_norm) < 0 ||
	    fedc_arg_uint(args, "fedbn", 0, 1, &a->fedbn) < 0 || fedc_arg_double(args, "dropout", 0, 0.9, &a->dropout) < 0 ||
	    fedc_arg_double(args, "momentum", 0, 0.999, &a->momentum) < 0 ||
	    fedc_arg_double(args, "weight_decay", 0, 1, &a->weight_decay) < 0 ||
	    fedc_arg_uint(args, "crop_pad", 0, 8, &a->crop_pad) < 0 || fedc_arg_uint(args, "hflip", 0, 1, &a->hflip) < 0 ||
	    fedc_arg_double(args, "rotate", 0, 180, &a->rotate) < 0 ||
	    fedc_arg_uint(args, "threads", 1, 64, &a->threads) < 0)
		return FEDC_NN_ERR_INVAL;
	if (a->fedbn)
		a->batch_norm = 1; /* FedBN is batch norm kept local */
	return FEDC_NN_OK;
}

static void add(struct fedc_seq_cfg *c, struct fedc_layer_spec l)
{
	c->layers[c->n_layers++] = l;
}

/* conv [-> batch norm] -> ReLU -> maxpool, the ReLU fused into the last of the first two. */
static void conv_block(struct fedc_seq_cfg *c, const struct cnn_args *a, uint32_t out)
{
	if (a->batch_norm) {
		add(c, fedc_layer_conv2d(out, 5, 1, 0, FEDC_ACT_NONE));
		add(c, fedc_layer_batchnorm(FEDC_ACT_RELU, a->fedbn != 0));
	} else {
		add(c, fedc_layer_conv2d(out, 5, 1, 0, FEDC_ACT_RELU));
	}
	add(c, fedc_layer_maxpool2d(2, 2));
}

static void spec_from_args(const struct cnn_args *a, uint64_t seed, struct fedc_seq_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->input = (struct fedc_vol){ a->channels, 1, a->height, a->width };
	c->seed = seed;
	c->augment = (struct fedc_augment_cfg){ a->crop_pad, a->hflip != 0, a->rotate };
	conv_block(c, a, a->conv1);
	conv_block(c, a, a->conv2);
	add(c, fedc_layer_flatten());
	add(c, fedc_layer_dense(a->fc1, FEDC_ACT_RELU));
	if (a->dropout > 0)
		add(c, fedc_layer_dropout(a->dropout));
	add(c, fedc_layer_dense(a->fc2, FEDC_ACT_RELU));
	if (a->dropout > 0)
		add(c, fedc_layer_dropout(a->dropout));
	add(c, fedc_layer_dense(a->n_classes, FEDC_ACT_NONE));
}

static int cnn_create(const struct fedc_args *model_args, uint64_t seed, void **model)
{
	struct fedc_seq_cfg cfg;
	struct cnn_args a;
	struct cnn *m;
	int rc;

	if (!model)
		return FEDC_NN_ERR_INVAL;
	*model = NULL;
	rc = read_args(model_args, &a);
	if (rc)
		return rc;
	spec_from_args(&a, seed, &cfg);
	m = malloc(sizeof(*m));
	if (!m)
		return FEDC_NN_ERR_NOMEM;
	rc = fedc_seq_init(&m->seq, &cfg);
	if (rc) {
		free(m);
		return rc;
	}
	m->momentum = a.momentum;
	m->weight_decay = a.weight_decay;
	/* Each batch split across the threads (one OpenBLAS thread each); a
	 * model with batch norm, dropout or augmentation cannot be split
	 * (seq.h): OpenBLAS gets the threads instead. */
	if (a.batch_norm || a.dropout > 0 || a.crop_pad || a.hflip || a.rotate > 0)
		fedc_nn_set_threads((int)a.threads);
	else
		fedc_seq_set_threads(&m->seq, a.threads);
	*model = m;
	return FEDC_NN_OK;
}

/* The [training] optimizer, with [model] momentum and weight_decay on top. */
static int optim_cfg(const struct cnn *m, const struct fedc_train_args *args, struct fedc_optim_cfg *oc)
{
	int rc = fedc_optim_from_args(oc, args);

	if (rc)
		return rc;
	if (m->momentum > 0 && oc->kind != FEDC_OPTIM_SGD) {
		fedc_plan_error("[model] momentum applies to SGD: set [training] optimizer = sgd, or drop momentum");
		return FEDC_NN_ERR_INVAL;
	}
	if (m->momentum > 0)
		oc->momentum = m->momentum;
	oc->weight_decay = m->weight_decay;
	return FEDC_NN_OK;
}

static int cnn_train(void *model, const struct fedc_data *train, const struct fedc_train_args *args,
		     const struct fedc_reporter *reporter, struct fedc_metrics *out)
{
	struct cnn *m = model;
	struct fedc_optim_cfg oc;
	struct fedc_train_cfg cfg = {
		.args = args,
		.loss = FEDC_LOSS_SOFTMAX_CE,
		.optim = &oc,
		.reporter = reporter,
		.report_every = 100,
		.report_min_interval_s = 0.5,
	};
	int rc;

	if (!m || !args)
		return FEDC_NN_ERR_INVAL;
	rc = optim_cfg(m, args, &oc);
	return rc ? rc : fedc_seq_train(&m->seq, train, &cfg, out);
}

static int cnn_evaluate(void *model, const struct fedc_data *test, struct fedc_metrics *out)
{
	struct cnn *m = model;

	return m ? fedc_seq_evaluate(&m->seq, test, FEDC_LOSS_SOFTMAX_CE, out) : FEDC_NN_ERR_INVAL;
}

static void cnn_destroy(void *model)
{
	struct cnn *m = model;

	if (m)
		fedc_seq_release(&m->seq);
	free(m);
}

/* d(loss)/dx for the node's robustness stage (FGSM, PGD), in evaluation mode. */
static int cnn_input_gradient(void *model, const struct fedc_data *data, float *grad)
{
	struct cnn *m = model;

	return m ? fedc_seq_input_gradient(&m->seq, data, FEDC_LOSS_SOFTMAX_CE, grad) : FEDC_NN_ERR_INVAL;
}

/* Each row's class probabilities (ABI 4): the softmax of the logits. */
static int cnn_predict(void *model, const struct fedc_data *data, float *out, size_t width)
{
	struct cnn *m = model;

	return m ? fedc_seq_predict(&m->seq, data, FEDC_LOSS_SOFTMAX_CE, out, width) : FEDC_NN_ERR_INVAL;
}

FEDC_PLAN_DEFINE(
	.name = "cnn",
	.create = cnn_create,
	.prepare = NULL, /* x arrives scaled to [0, 1] */
	.get_params = fedc_seq_get_params,
	.set_params = fedc_seq_set_params,
	.train = cnn_train,
	.evaluate = cnn_evaluate,
	.destroy = cnn_destroy,
	.last_error = fedc_plan_last_error,
	.param_roles = fedc_seq_param_roles,
	.input_gradient = cnn_input_gradient,
	.predict = cnn_predict);

/* The SDK's training loop applies the node's SCAFFOLD correction. */
FEDC_PLAN_FEATURES(FEDC_PLAN_FEATURE_SCAFFOLD);
