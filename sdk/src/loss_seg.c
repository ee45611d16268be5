/* Segmentation losses over per-voxel class logits: z [n, K*V], channel c
 * of sample i at z[i][c*V + v] (channels first, as a conv layer writes
 * them), y [n, V] class indices. Softmax runs across the K channels of one
 * voxel, a stride of V apart. Sums go in double. */
#include <math.h>

#include "fedc/nn/err.h"
#include "fedc/nn/loss.h"

static bool shapes_ok(const struct fedc_mat *z, size_t classes, const float *y, const struct fedc_mat *dz)
{
	return z && y && classes >= 2 && classes <= FEDC_SEG_MAX_CLASSES && z->cols % classes == 0 && z->cols > 0 &&
	       (!dz || (dz->rows == z->rows && dz->cols == z->cols));
}

static bool label_ok(float y, size_t k)
{
	return y >= 0.0f && y < (float)k && y == floorf(y);
}

/* p[c*ps] = softmax over the K channels of one voxel at z[c*zs]; p may be
 * z (with the same stride). */
static void voxel_softmax(const float *z, size_t k, size_t zs, float *p, size_t ps)
{
	float max = z[0], sum = 0.0f;

	for (size_t c = 1; c < k; c++)
		max = z[c * zs] > max ? z[c * zs] : max;
	for (size_t c = 0; c < k; c++) {
		p[c * ps] = expf(z[c * zs] - max);
		sum += p[c * ps];
	}
	for (size_t c = 0; c < k; c++)
		p[c * ps] /= sum;
}

int fedc_loss_voxel_ce(const struct fedc_mat *z, size_t classes, const float *y, double *loss, struct fedc_mat *dz)
{
	size_t v_len, n_vox;
	double total = 0.0;

	if (!shapes_ok(z, classes, y, dz))
		return FEDC_NN_ERR_SHAPE;
	v_len = z->cols / classes;
	n_vox = z->rows * v_len;
	for (size_t i = 0; i < z->rows; i++) {
		const float *zi = z->data + i * z->cols;
		float *di = dz ? dz->data + i * z->cols : NULL;

		for (size_t v = 0; v < v_len; v++) {
			float label = y[i * v_len + v], max = zi[v], sum = 0.0f;
			size_t l;

			if (!label_ok(label, classes))
				return FEDC_NN_ERR_DATA;
			l = (size_t)label;
			for (size_t c = 1; c < classes; c++)
				max = zi[c * v_len + v] > max ? zi[c * v_len + v] : max;
			for (size_t c = 0; c < classes; c++)
				sum += expf(zi[c * v_len + v] - max);
			total += log((double)sum) - (double)(zi[l * v_len + v] - max);
			if (!di)
				continue;
			voxel_softmax(zi + v, classes, v_len, di + v, v_len);
			for (size_t c = 0; c < classes; c++)
				di[c * v_len + v] /= (float)n_vox;
			di[l * v_len + v] -= 1.0f / (float)n_vox;
		}
	}
	*loss = total / (double)n_vox;
	return FEDC_NN_OK;
}

/* Per class c over the batch: inter = sum p_c g_c, mass = sum p_c + sum g_c.
 * p (the softmax) is written to dz when it is not NULL. */
static int dice_sums(const struct fedc_mat *z, size_t classes, const float *y, struct fedc_mat *dz,
		     double *inter, double *mass)
{
	size_t v_len = z->cols / classes;
	float p[FEDC_SEG_MAX_CLASSES];

	for (size_t c = 0; c < classes; c++)
		inter[c] = mass[c] = 0.0;
	for (size_t i = 0; i < z->rows; i++) {
		const float *zi = z->data + i * z->cols;
		float *di = dz ? dz->data + i * z->cols : NULL;

		for (size_t v = 0; v < v_len; v++) {
			float label = y[i * v_len + v];

			if (!label_ok(label, classes))
				return FEDC_NN_ERR_DATA;
			if (di)
				voxel_softmax(zi + v, classes, v_len, di + v, v_len);
			else
				voxel_softmax(zi + v, classes, v_len, p, 1);
			for (size_t c = 0; c < classes; c++) {
				double pc = di ? di[c * v_len + v] : p[c];

				mass[c] += pc;
				if ((size_t)label == c) {
					inter[c] += pc;
					mass[c] += 1.0;
				}
			}
		}
	}
	return FEDC_NN_OK;
}

int fedc_loss_dice(const struct fedc_mat *z, size_t classes, const float *y, double *loss, struct fedc_mat *dz)
{
	const double s = FEDC_DICE_SMOOTH;
	double inter[FEDC_SEG_MAX_CLASSES], mass[FEDC_SEG_MAX_CLASSES];
	double dice_sum = 0.0;
	size_t v_len;
	int rc;

	if (!shapes_ok(z, classes, y, dz))
		return FEDC_NN_ERR_SHAPE;
	v_len = z->cols / classes;
	rc = dice_sums(z, classes, y, dz, inter, mass);
	if (rc)
		return rc;
	for (size_t c = 0; c < classes; c++)
		dice_sum += (2.0 * inter[c] + s) / (mass[c] + s);
	*loss = 1.0 - dice_sum / (double)classes;
	if (!dz)
		return FEDC_NN_OK;
	/* dL/dp_c = -(2 g_c (mass + s) - (2 inter + s)) / (K (mass + s)^2),
	 * then through the softmax of each voxel: dz_c = p_c (dp_c - sum_k dp_k p_k). */
	for (size_t i = 0; i < z->rows; i++) {
		float *di = dz->data + i * z->cols;

		for (size_t v = 0; v < v_len; v++) {
			size_t l = (size_t)y[i * v_len + v];
			double dp[FEDC_SEG_MAX_CLASSES], dot = 0.0;

			for (size_t c = 0; c < classes; c++) {
				double m = mass[c] + s;

				dp[c] = -((c == l ? 2.0 * m : 0.0) - (2.0 * inter[c] + s)) / ((double)classes * m * m);
				dot += dp[c] * di[c * v_len + v];
			}
			for (size_t c = 0; c < classes; c++)
				di[c * v_len + v] = (float)(di[c * v_len + v] * (dp[c] - dot));
		}
	}
	return FEDC_NN_OK;
}
