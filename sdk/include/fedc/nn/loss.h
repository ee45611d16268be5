/* Losses on a batch of outputs z [n, k], averaged over the batch like
 * PyTorch's defaults, with their gradient with respect to z.
 *
 * Targets are floats, one per row for the classification losses (what a
 * struct fedc_data holds). Each function stores the mean loss in *loss and,
 * if dz is not NULL, d(mean loss)/dz in dz (same shape as z; dz may be z).
 * Returns 0, FEDC_NN_ERR_SHAPE or FEDC_NN_ERR_DATA (a target outside its
 * range). */
#ifndef FEDC_NN_LOSS_H
#define FEDC_NN_LOSS_H

#include <stddef.h>

#include "fedc/nn/mat.h"

enum fedc_loss {
	FEDC_LOSS_SOFTMAX_CE = 0, /* z: logits [n, classes]; y: class index per row */
	FEDC_LOSS_BCE,            /* z: logits [n, 1]; y: 0 or 1 (any value in [0, 1]) per row */
	FEDC_LOSS_MSE,            /* z: [n, k]; y: n*k values, row-major */
	/* Segmentation: z [n, K*V], per sample K class channels of V voxels
	 * each (channels first, as a conv layer's output); y [n, V], a class
	 * index per voxel (struct fedc_data's label_width V). */
	FEDC_LOSS_VOXEL_CE,       /* softmax cross-entropy per voxel, mean over the n*V voxels */
	FEDC_LOSS_DICE,           /* soft Dice: 1 - mean over classes of the batch's Dice, below */
};

/* Cross-entropy of softmax(z), fused: log-sum-exp with the row maximum
 * subtracted, gradient (softmax(z) - onehot(y)) / n. */
int fedc_loss_softmax_ce(const struct fedc_mat *z, const float *y, double *loss, struct fedc_mat *dz);
/* Binary cross-entropy from logits, stable for any |z|:
 * max(z,0) - y z + log1p(exp(-|z|)), mean over the n*k elements (y holds
 * n*k targets); gradient (sigmoid(z) - y) / (n k). */
int fedc_loss_bce(const struct fedc_mat *z, const float *y, double *loss, struct fedc_mat *dz);
/* Mean squared error over all n*k elements; gradient 2 (z - y) / (n k). */
int fedc_loss_mse(const struct fedc_mat *z, const float *y, double *loss, struct fedc_mat *dz);
/* The segmentation losses take 2 to FEDC_SEG_MAX_CLASSES classes
 * (FEDC_NN_ERR_SHAPE otherwise). */
#define FEDC_SEG_MAX_CLASSES 256
/* Per-voxel softmax cross-entropy over `classes` channels (z->cols =
 * classes * V); gradient (softmax - onehot) / (n V). */
int fedc_loss_voxel_ce(const struct fedc_mat *z, size_t classes, const float *y, double *loss, struct fedc_mat *dz);
/* Soft Dice (Milletari et al. 2016) of p = softmax over the `classes`
 * channels: per class c over the whole batch,
 *   D_c = (2 sum p_c g_c + s) / (sum p_c + sum g_c + s), s = FEDC_DICE_SMOOTH,
 * g_c the one-hot truth, and loss = 1 - mean_c D_c. The smoothing keeps a
 * class absent from the batch from dividing by zero (its D_c is 1 when
 * nothing is predicted for it). */
#define FEDC_DICE_SMOOTH 1e-5
int fedc_loss_dice(const struct fedc_mat *z, size_t classes, const float *y, double *loss, struct fedc_mat *dz);
/* Dispatches on kind; `classes` matters to the segmentation losses only
 * (the others take z->cols). */
int fedc_loss_k(enum fedc_loss kind, const struct fedc_mat *z, size_t classes, const float *y, double *loss,
		struct fedc_mat *dz);
/* Dispatches on kind, for the losses with one target per row. */
int fedc_loss(enum fedc_loss kind, const struct fedc_mat *z, const float *y, double *loss, struct fedc_mat *dz);
static inline int fedc_loss_is_segmentation(enum fedc_loss kind)
{
	return kind == FEDC_LOSS_VOXEL_CE || kind == FEDC_LOSS_DICE;
}

/* Rows whose prediction is right: argmax == y (softmax CE), (z >= 0) == (y
 * >= 0.5) (BCE); 0 for MSE and the segmentation losses, which report no
 * accuracy (segmentation reports Dice: fedc/nn/metrics.h). */
size_t fedc_loss_correct(enum fedc_loss kind, const struct fedc_mat *z, const float *y);

/* Checks n targets for `kind` with k outputs before a long run: class
 * indices integral in [0, k), BCE targets in [0, 1], MSE targets finite.
 * For the segmentation losses n counts voxels and k classes. Returns 0 or
 * FEDC_NN_ERR_DATA. */
int fedc_loss_check_targets(enum fedc_loss kind, const float *y, size_t n, size_t k);

#endif
