/* Batch normalization and dropout over batches laid out as in conv.h
 * ([n, C*D*H*W], channels first; a plain [n, F] batch is C = F, D=H=W=1).
 *
 * Both behave differently in training and in evaluation, chosen per call
 * by `training`, as torch's module.train() / .eval() do. */
#ifndef FEDC_NN_NORM_H
#define FEDC_NN_NORM_H

#include <stdbool.h>
#include <stddef.h>

#include "fedc/nn/conv.h"
#include "fedc/nn/layers.h"
#include "fedc/nn/mat.h"
#include "fedc/nn/rng.h"

/* Batch normalization per channel (torch.nn.BatchNorm1d/2d/3d):
 * y = act(weight * (x - mean) / sqrt(var + eps) + bias).
 * Training: mean and biased var over the batch and every position, and the
 * running statistics move by `momentum`: r = (1 - momentum) r + momentum b,
 * with the unbiased batch variance for running_var (as torch). Evaluation:
 * the running statistics. weight, bias, running_mean, running_var are each
 * [1, C]; running_var starts at 1, weight at 1, the others at 0. */
struct fedc_batchnorm {
	struct fedc_vol vol;
	double momentum, eps;
	size_t capacity;
	struct fedc_mat xhat;  /* [capacity, len(vol)] normalized input of the last training pass */
	struct fedc_mat stats; /* [2, C]: that pass's mean and 1/sqrt(var + eps) */
};

/* momentum in (0, 1], eps > 0. Returns 0 or FEDC_NN_ERR_INVAL. */
int fedc_batchnorm_init(struct fedc_batchnorm *b, const struct fedc_vol *vol, double momentum, double eps);
int fedc_batchnorm_reserve(struct fedc_batchnorm *b, size_t rows);
void fedc_batchnorm_release(struct fedc_batchnorm *b);
/* Fills the four tensors with their starting values. */
void fedc_batchnorm_init_params(struct fedc_mat *weight, struct fedc_mat *bias, struct fedc_mat *running_mean,
				struct fedc_mat *running_var);
/* Training updates running_mean and running_var in place. y may be x.
 * A training batch needs more than one value per channel (n * D*H*W > 1),
 * else FEDC_NN_ERR_SHAPE, as torch refuses it. */
int fedc_batchnorm_forward(struct fedc_batchnorm *b, bool training, const struct fedc_mat *x,
			   const struct fedc_mat *weight, const struct fedc_mat *bias, struct fedc_mat *running_mean,
			   struct fedc_mat *running_var, enum fedc_act act, struct fedc_mat *y);
/* Backward of a training pass (batch statistics) that gave y: dy holds
 * dL/dy and is overwritten with dL/d(pre-activation); dweight, dbias
 * overwritten; dx (may be dy, may be NULL) gets dL/dx. */
int fedc_batchnorm_backward(struct fedc_batchnorm *b, const struct fedc_mat *weight, const struct fedc_mat *y,
			    enum fedc_act act, struct fedc_mat *dy, struct fedc_mat *dweight, struct fedc_mat *dbias,
			    struct fedc_mat *dx);

/* Inverted dropout: in training each value is zeroed with probability p and
 * the rest scaled by 1 / (1 - p), drawn from rng; in evaluation y = x. */
struct fedc_dropout {
	double p;        /* [0, 1) */
	size_t len;      /* values per sample */
	size_t capacity;
	struct fedc_mat mask; /* [capacity, len]: 0 or 1/(1-p) of the last training pass */
};

int fedc_dropout_init(struct fedc_dropout *d, size_t len, double p);
int fedc_dropout_reserve(struct fedc_dropout *d, size_t rows);
void fedc_dropout_release(struct fedc_dropout *d);
/* y may be x. */
int fedc_dropout_forward(struct fedc_dropout *d, bool training, struct fedc_rng *rng, const struct fedc_mat *x,
			 struct fedc_mat *y);
/* dx = dy * mask of the last training pass; dx may be dy. */
int fedc_dropout_backward(struct fedc_dropout *d, const struct fedc_mat *dy, struct fedc_mat *dx);

#endif
