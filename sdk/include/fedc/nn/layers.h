/* Dense layers and activations: forward and backward passes on matrices.
 *
 * Shapes: x [n, in], weight [out, in] (as torch.nn.Linear), bias [1, out],
 * y [n, out]. Every function checks shapes and returns 0 or
 * FEDC_NN_ERR_SHAPE. Where a comment allows it, output and input may be the
 * same matrix (in place). */
#ifndef FEDC_NN_LAYERS_H
#define FEDC_NN_LAYERS_H

#include "fedc/nn/mat.h"
#include "fedc/nn/rng.h"

enum fedc_act {
	FEDC_ACT_NONE = 0,
	FEDC_ACT_RELU,
	FEDC_ACT_SIGMOID,
};

enum fedc_init {
	FEDC_INIT_HE = 0, /* U(+-sqrt(6/in)): variance 2/in, for ReLU */
	FEDC_INIT_XAVIER, /* U(+-sqrt(6/(in+out))): for sigmoid, tanh, linear */
};

/* Seeded initialisation: weight from `init`, bias zero. Uniform rather than
 * normal draws so that no libm call can make two machines disagree. */
void fedc_dense_init(struct fedc_mat *weight, struct fedc_mat *bias, enum fedc_init init, struct fedc_rng *rng);

/* y = act(x weight^T + bias); bias and activation are applied in one pass
 * over y, right after the product. */
int fedc_dense_forward(const struct fedc_mat *x, const struct fedc_mat *weight, const struct fedc_mat *bias,
		       enum fedc_act act, struct fedc_mat *y);

/* Backward through act and the dense product. On entry dy holds dL/dy (y is
 * the forward output, after act); it is overwritten with dL/dz (before act),
 * which saves a buffer. Then dweight = dz^T x, dbias = column sums of dz and,
 * unless dx is NULL (the first layer needs no input gradient), dx = dz weight.
 * Gradients are overwritten, not accumulated. */
int fedc_dense_backward(const struct fedc_mat *x, const struct fedc_mat *weight, const struct fedc_mat *y,
			enum fedc_act act, struct fedc_mat *dy, struct fedc_mat *dweight, struct fedc_mat *dbias,
			struct fedc_mat *dx);

/* Element-wise activations; y may be x. */
int fedc_act_forward(enum fedc_act act, const struct fedc_mat *x, struct fedc_mat *y);
/* dx = dy * act'(.), written from the forward *output* y; dx may be dy. */
int fedc_act_backward(enum fedc_act act, const struct fedc_mat *y, const struct fedc_mat *dy, struct fedc_mat *dx);

/* Row-wise softmax, stable (the row maximum is subtracted); y may be x. */
int fedc_softmax_forward(const struct fedc_mat *x, struct fedc_mat *y);
/* dx_ij = y_ij (dy_ij - sum_k dy_ik y_ik) from the forward output y; dx may be dy. */
int fedc_softmax_backward(const struct fedc_mat *y, const struct fedc_mat *dy, struct fedc_mat *dx);

#endif
