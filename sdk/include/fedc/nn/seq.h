/* A sequential model: a list of layers (conv.h, norm.h, dense layers of
 * layers.h) built from a small spec, its parameters in a paramset, trained
 * and evaluated by the SDK's loop (train.h) like fedc_net.
 *
 * Parameters are named after the layer's position in the spec:
 * "conv0.weight" [O, I*k0*k1*k2] (ABI shape [O, I, kH, kW], or
 * [O, I, kD, kH, kW] for a 3-D kernel), "conv0.bias" [O], "dense6.weight"
 * [out, in], "dense6.bias" [out], "bn1.weight", "bn1.bias" [C] (trainable,
 * role WEIGHT), "bn1.running_mean", "bn1.running_var" [C] (not trainable,
 * role BUFFER). A batch-norm layer with `local` set (FedBN, Li et al. 2021)
 * marks all four LOCAL: they stay on each node between rounds.
 *
 * Activations and gradients live in buffers sized once for the largest
 * batch (fedc_seq_reserve), so a training step allocates nothing. A model
 * must not be moved in memory after fedc_seq_init(). */
#ifndef FEDC_NN_SEQ_H
#define FEDC_NN_SEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/plan.h"
#include "fedc/nn/augment.h"
#include "fedc/nn/conv.h"
#include "fedc/nn/layers.h"
#include "fedc/nn/loss.h"
#include "fedc/nn/norm.h"
#include "fedc/nn/paramset.h"
#include "fedc/nn/train.h"

#define FEDC_SEQ_MAX_LAYERS 32

enum fedc_layer_kind {
	FEDC_LAYER_CONV = 1,       /* units output channels, window win, then act */
	FEDC_LAYER_POOL,           /* pool (max or average) over win */
	FEDC_LAYER_GLOBAL_AVGPOOL, /* [C, D, H, W] -> [C, 1, 1, 1] */
	FEDC_LAYER_BATCHNORM,      /* per channel, then act; momentum, eps, local */
	FEDC_LAYER_DROPOUT,        /* rate */
	FEDC_LAYER_FLATTEN,        /* [C, D, H, W] -> [C*D*H*W, 1, 1, 1] (the same floats) */
	FEDC_LAYER_DENSE,          /* units outputs from the flattened input, then act */
	FEDC_LAYER_ACT,            /* act alone */
};

struct fedc_layer_spec {
	enum fedc_layer_kind kind;
	size_t units;
	struct fedc_window win;
	enum fedc_pool_kind pool;
	enum fedc_act act;
	double rate;          /* DROPOUT: in [0, 1) */
	double momentum, eps; /* BATCHNORM: 0 means torch's 0.1 and 1e-5 */
	bool local;           /* BATCHNORM: FedBN, the layer's tensors are LOCAL */
};

/* Spec constructors, for readable model lists. */
static inline struct fedc_layer_spec fedc_layer_conv2d(size_t out, size_t k, size_t stride, size_t pad,
							 enum fedc_act act)
{
	struct fedc_layer_spec l = { .kind = FEDC_LAYER_CONV, .units = out, .win = fedc_window_2d(k, stride, pad),
				     .act = act };
	return l;
}
static inline struct fedc_layer_spec fedc_layer_conv3d(size_t out, size_t k, size_t stride, size_t pad,
							 enum fedc_act act)
{
	struct fedc_layer_spec l = { .kind = FEDC_LAYER_CONV, .units = out, .win = fedc_window_3d(k, stride, pad),
				     .act = act };
	return l;
}
static inline struct fedc_layer_spec fedc_layer_pool(enum fedc_pool_kind kind, struct fedc_window win)
{
	struct fedc_layer_spec l = { .kind = FEDC_LAYER_POOL, .pool = kind, .win = win };
	return l;
}
static inline struct fedc_layer_spec fedc_layer_maxpool2d(size_t k, size_t stride)
{
	return fedc_layer_pool(FEDC_POOL_MAX, fedc_window_2d(k, stride, 0));
}
static inline struct fedc_layer_spec fedc_layer_avgpool2d(size_t k, size_t stride)
{
	return fedc_layer_pool(FEDC_POOL_AVG, fedc_window_2d(k, stride, 0));
}
static inline struct fedc_layer_spec fedc_layer_maxpool3d(size_t k, size_t stride)
{
	return fedc_layer_pool(FEDC_POOL_MAX, fedc_window_3d(k, stride, 0));
}
static inline struct fedc_layer_spec fedc_layer_global_avgpool(void)
{
	struct fedc_layer_spec l = { .kind = FEDC_LAYER_GLOBAL_AVGPOOL };
	return l;
}
static inline struct fedc_layer_spec fedc_layer_batchnorm(enum fedc_act act, bool local)
{
	struct fedc_layer_spec l = { .kind = FEDC_LAYER_BATCHNORM, .act = act, .local = local };
	return l;
}
static inline struct fedc_layer_spec fedc_layer_dropout(double rate)
{
	struct fedc_layer_spec l = { .kind = FEDC_LAYER_DROPOUT, .rate = rate };
	return l;
}
static inline struct fedc_layer_spec fedc_layer_flatten(void)
{
	struct fedc_layer_spec l = { .kind = FEDC_LAYER_FLATTEN };
	return l;
}
static inline struct fedc_layer_spec fedc_layer_dense(size_t units, enum fedc_act act)
{
	struct fedc_layer_spec l = { .kind = FEDC_LAYER_DENSE, .units = units, .act = act };
	return l;
}
static inline struct fedc_layer_spec fedc_layer_act(enum fedc_act act)
{
	struct fedc_layer_spec l = { .kind = FEDC_LAYER_ACT, .act = act };
	return l;
}

struct fedc_seq_cfg {
	struct fedc_vol input; /* one sample: [C, D, H, W], D = 1 for images */
	size_t n_layers;
	struct fedc_layer_spec layers[FEDC_SEQ_MAX_LAYERS];
	/* Initialisation: conv and dense weights He-uniform when a ReLU follows
	 * (the layer's own act, or that of the batch norm / act layer right
	 * after it), Xavier-uniform otherwise; biases zero. */
	uint64_t seed;
	struct fedc_augment_cfg augment; /* training batches only; all zero: off */
};

#define FEDC_SEQ_MAX_THREADS 8

struct fedc_seq_layer {
	struct fedc_layer_spec spec;
	struct fedc_vol in, out;
	size_t weight, bias, running_mean, running_var; /* indices in params, where the kind has them */
	struct fedc_conv conv;
	struct fedc_pool pool;
	struct fedc_batchnorm bn;
	struct fedc_dropout drop;
	struct fedc_mat out_buf; /* [capacity, len(out)] outputs */
	struct fedc_mat delta;   /* [capacity, len(out)] dL/d(out) */
};

struct fedc_seq {
	struct fedc_seq_cfg cfg;
	struct fedc_paramset params;
	struct fedc_seq_layer layers[FEDC_SEQ_MAX_LAYERS];
	bool training;            /* batch statistics and dropout (fedc_seq_set_training) */
	size_t capacity;          /* rows the buffers hold */
	struct fedc_rng rng;      /* dropout masks and augmentation */
	struct fedc_mat augmented; /* [capacity, len(input)] when augmentation is on */
	/* fedc_seq_set_threads: batch rows split across `threads` threads, the
	 * first part on the caller's, part i > 0 on workers[i - 1] (replicas
	 * with their own buffers and gradients, made on first use). */
	unsigned threads;
	struct fedc_seq *workers[FEDC_SEQ_MAX_THREADS - 1];
};

/* Builds and initialises the model. Returns 0, FEDC_NN_ERR_INVAL (a bad
 * spec: said with fedc_plan_error(), naming the layer), FEDC_NN_ERR_SHAPE
 * (a window that does not fit its input, also said), FEDC_NN_ERR_FULL (over
 * FEDC_PARAMSET_MAX tensors) or NOMEM; on failure the model is released. */
int fedc_seq_init(struct fedc_seq *s, const struct fedc_seq_cfg *cfg);
void fedc_seq_release(struct fedc_seq *s);
/* Features per row of the input, and outputs per row. */
size_t fedc_seq_inputs(const struct fedc_seq *s);
size_t fedc_seq_outputs(const struct fedc_seq *s);
/* The shape of one sample's output (classes are its channels). */
struct fedc_vol fedc_seq_output_vol(const struct fedc_seq *s);
/* Makes the buffers hold at least `rows` samples. */
int fedc_seq_reserve(struct fedc_seq *s, size_t rows);
/* Threads for fedc_seq_step (1 to FEDC_SEQ_MAX_THREADS; others read as 1).
 * With t > 1 each step splits the batch into t contiguous parts, runs forward
 * and backward of each on its own thread and replica of the model, and sums
 * the gradients weighted by part size in a fixed order: the result depends
 * on t, never on thread timing. OpenBLAS is set to 1 thread then (process-
 * wide, fedc_nn_set_threads), each part's products running on its own
 * thread. Models with batch norm, dropout or augmentation, and the
 * segmentation losses, keep one thread (their batch statistics and draws
 * would change with the split); so do batches of fewer than 2t rows. */
void fedc_seq_set_threads(struct fedc_seq *s, unsigned threads);
/* Training mode (batch-norm batch statistics, dropout, augmentation in
 * fedc_seq_step) or evaluation mode (running statistics, no dropout).
 * A new model is in evaluation mode. */
void fedc_seq_set_training(struct fedc_seq *s, bool training);
/* Reseeds the dropout and augmentation draws. */
void fedc_seq_seed(struct fedc_seq *s, uint64_t seed);
/* Forward pass of x [n, inputs]; *out gets a view of the outputs
 * [n, outputs], valid until the next pass. */
int fedc_seq_forward(struct fedc_seq *s, const struct fedc_mat *x, struct fedc_mat *out);
/* Backward after fedc_seq_forward(x) in training mode: dout [n, outputs]
 * is dL/d(out) (may be the last layer's delta buffer). Fills every grad. */
int fedc_seq_backward(struct fedc_seq *s, const struct fedc_mat *x, const struct fedc_mat *dout);
/* Forward (augmenting x first when training and cfg.augment is on), loss
 * and backward of one batch: *loss the mean loss, *correct (may be NULL)
 * the rows predicted right. y holds label_width targets per row for the
 * segmentation losses, one otherwise. */
int fedc_seq_step(struct fedc_seq *s, enum fedc_loss loss, const struct fedc_mat *x, const float *y,
		  double *loss_out, size_t *correct);

/* The view fits the model: n_features == inputs and, when the view has a
 * sample shape, it is the model's input shape ([C,H,W] matches D = 1).
 * Returns 0 or FEDC_NN_ERR_DATA, said with fedc_plan_error(). */
int fedc_seq_check_data(const struct fedc_seq *s, const struct fedc_data *d);
/* Trains in training mode with the loop of train.h (fedc_model_train): same
 * cfg and metrics as fedc_net_train; dropout and augmentation are seeded
 * from args->seed. DP-SGD (cfg->dpsgd) is refused: FEDC_NN_ERR_INVAL. */
int fedc_seq_train(struct fedc_seq *s, const struct fedc_data *d, const struct fedc_train_cfg *cfg,
		   struct fedc_metrics *out);
/* Evaluates in evaluation mode: "loss", and "accuracy" plus the clinical
 * figures of fedc_model_evaluate (AUC, F1, sensitivity, specificity; Dice
 * for segmentation). */
int fedc_seq_evaluate(struct fedc_seq *s, const struct fedc_data *d, enum fedc_loss loss,
		      struct fedc_metrics *out);
/* A plan's predict() (ABI 4) over s: fedc_model_predict (train.h), in
 * evaluation mode (no dropout, batch norm from its running statistics). */
int fedc_seq_predict(struct fedc_seq *s, const struct fedc_data *d, enum fedc_loss loss, float *out, size_t width);
/* The generic model of train.h over s. */
struct fedc_model fedc_seq_model(struct fedc_seq *s);

/* Plan entry points for a plan whose model pointer is the struct fedc_seq
 * itself: .get_params = fedc_seq_get_params, .set_params =
 * fedc_seq_set_params, .param_roles = fedc_seq_param_roles. */
int fedc_seq_get_params(void *model, const struct fedc_tensor **tensors, size_t *count);
int fedc_seq_set_params(void *model, const struct fedc_tensor *tensors, size_t count);
int fedc_seq_param_roles(void *model, uint8_t *roles, size_t count);

#endif
