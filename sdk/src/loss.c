/* Losses, averaged over the batch, with their gradients. Sums go in double:
 * a batch loss is a sum of thousands of small terms. */
#include <math.h>

#include "fedc/nn/err.h"
#include "fedc/nn/loss.h"

static bool dz_ok(const struct fedc_mat *z, const struct fedc_mat *dz)
{
	return !dz || (dz->rows == z->rows && dz->cols == z->cols);
}

static bool class_ok(float y, size_t k)
{
	return y >= 0.0f && y < (float)k && y == floorf(y);
}

/* One row of the fused softmax cross-entropy; returns its loss. dz may be z:
 * the label's logit is read before anything is written. */
static double ce_row(const float *z, size_t k, size_t label, float *dz, float scale)
{
	float max = z[0], sum = 0.0f, zl = z[label];

	for (size_t j = 1; j < k; j++)
		max = z[j] > max ? z[j] : max;
	if (dz) {
		for (size_t j = 0; j < k; j++) {
			dz[j] = expf(z[j] - max);
			sum += dz[j];
		}
		for (size_t j = 0; j < k; j++)
			dz[j] *= scale / sum;
		dz[label] -= scale;
	} else {
		for (size_t j = 0; j < k; j++)
			sum += expf(z[j] - max);
	}
	return log((double)sum) - (double)(zl - max);
}

int fedc_loss_softmax_ce(const struct fedc_mat *z, const float *y, double *loss, struct fedc_mat *dz)
{
	double total = 0.0;
	float scale = 1.0f / (float)z->rows;

	if (!dz_ok(z, dz) || z->rows == 0)
		return FEDC_NN_ERR_SHAPE;
	for (size_t i = 0; i < z->rows; i++) {
		if (!class_ok(y[i], z->cols))
			return FEDC_NN_ERR_DATA;
		total += ce_row(z->data + i * z->cols, z->cols, (size_t)y[i], dz ? dz->data + i * z->cols : NULL,
				scale);
	}
	*loss = total / (double)z->rows;
	return FEDC_NN_OK;
}

int fedc_loss_bce(const struct fedc_mat *z, const float *y, double *loss, struct fedc_mat *dz)
{
	size_t n = fedc_mat_len(z);
	float scale = 1.0f / (float)n;
	double total = 0.0;

	if (!dz_ok(z, dz) || n == 0)
		return FEDC_NN_ERR_SHAPE;
	for (size_t i = 0; i < n; i++) {
		double v = z->data[i], t = y[i];

		if (!(t >= 0.0 && t <= 1.0))
			return FEDC_NN_ERR_DATA;
		/* log(1 + e^v) - t v, written so that exp() only sees -|v|. */
		total += (v > 0 ? v : 0.0) - t * v + log1p(exp(-fabs(v)));
		if (dz) {
			double e = exp(-fabs(v)), s = v >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);

			dz->data[i] = (float)(s - t) * scale;
		}
	}
	*loss = total / (double)n;
	return FEDC_NN_OK;
}

int fedc_loss_mse(const struct fedc_mat *z, const float *y, double *loss, struct fedc_mat *dz)
{
	size_t n = fedc_mat_len(z);
	float scale = 2.0f / (float)n;
	double total = 0.0;

	if (!dz_ok(z, dz) || n == 0)
		return FEDC_NN_ERR_SHAPE;
	for (size_t i = 0; i < n; i++) {
		float d = z->data[i] - y[i];

		total += (double)d * d;
		if (dz)
			dz->data[i] = d * scale;
	}
	*loss = total / (double)n;
	return FEDC_NN_OK;
}

int fedc_loss(enum fedc_loss kind, const struct fedc_mat *z, const float *y, double *loss, struct fedc_mat *dz)
{
	switch (kind) {
	case FEDC_LOSS_SOFTMAX_CE: return fedc_loss_softmax_ce(z, y, loss, dz);
	case FEDC_LOSS_BCE: return fedc_loss_bce(z, y, loss, dz);
	case FEDC_LOSS_MSE: return fedc_loss_mse(z, y, loss, dz);
	case FEDC_LOSS_VOXEL_CE:
	case FEDC_LOSS_DICE: break; /* they need the class count: fedc_loss_k */
	}
	return FEDC_NN_ERR_INVAL;
}

int fedc_loss_k(enum fedc_loss kind, const struct fedc_mat *z, size_t classes, const float *y, double *loss,
		struct fedc_mat *dz)
{
	if (kind == FEDC_LOSS_VOXEL_CE)
		return fedc_loss_voxel_ce(z, classes, y, loss, dz);
	if (kind == FEDC_LOSS_DICE)
		return fedc_loss_dice(z, classes, y, loss, dz);
	return fedc_loss(kind, z, y, loss, dz);
}

static size_t argmax(const float *v, size_t k)
{
	size_t best = 0;

	for (size_t j = 1; j < k; j++)
		best = v[j] > v[best] ? j : best;
	return best;
}

size_t fedc_loss_correct(enum fedc_loss kind, const struct fedc_mat *z, const float *y)
{
	size_t correct = 0;

	for (size_t i = 0; i < z->rows; i++) {
		const float *row = z->data + i * z->cols;

		if (kind == FEDC_LOSS_SOFTMAX_CE)
			correct += (float)argmax(row, z->cols) == y[i];
		else if (kind == FEDC_LOSS_BCE && z->cols == 1)
			correct += (row[0] >= 0.0f) == (y[i] >= 0.5f);
	}
	return correct;
}

int fedc_loss_check_targets(enum fedc_loss kind, const float *y, size_t n, size_t k)
{
	if (!y)
		return FEDC_NN_ERR_DATA;
	for (size_t i = 0; i < n; i++) {
		bool ok = kind == FEDC_LOSS_SOFTMAX_CE || fedc_loss_is_segmentation(kind) ? class_ok(y[i], k)
			: kind == FEDC_LOSS_BCE	       ? y[i] >= 0.0f && y[i] <= 1.0f
						       : isfinite(y[i]);

		if (!ok)
			return FEDC_NN_ERR_DATA;
	}
	return FEDC_NN_OK;
}
