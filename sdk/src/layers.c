/* Dense layers and activations. The products go to CBLAS; what is left is
 * element-wise, done in one pass each (bias and activation fused). */
#include <math.h>

#include "fedc/nn/err.h"
#include "fedc/nn/layers.h"

static bool same_shape(const struct fedc_mat *a, const struct fedc_mat *b)
{
	return a->rows == b->rows && a->cols == b->cols;
}

/* Split by sign so that expf never overflows. */
static inline float sigmoidf(float z)
{
	float e;

	if (z >= 0.0f)
		return 1.0f / (1.0f + expf(-z));
	e = expf(z);
	return e / (1.0f + e);
}

void fedc_dense_init(struct fedc_mat *weight, struct fedc_mat *bias, enum fedc_init init, struct fedc_rng *rng)
{
	double fan_in = (double)weight->cols, fan_out = (double)weight->rows;
	double limit = init == FEDC_INIT_HE ? sqrt(6.0 / fan_in) : sqrt(6.0 / (fan_in + fan_out));
	size_t n = fedc_mat_len(weight);

	for (size_t i = 0; i < n; i++)
		weight->data[i] = (float)((2.0 * fedc_rng_uniform(rng) - 1.0) * limit);
	fedc_mat_fill(bias, 0.0f);
}

/* y[i][j] = act(y[i][j] + b[j]) in one sweep over y. */
static void bias_act(struct fedc_mat *y, const float *restrict b, enum fedc_act act)
{
	for (size_t i = 0; i < y->rows; i++) {
		float *restrict row = y->data + i * y->cols;

		switch (act) {
		case FEDC_ACT_NONE:
			for (size_t j = 0; j < y->cols; j++)
				row[j] += b[j];
			break;
		case FEDC_ACT_RELU:
			for (size_t j = 0; j < y->cols; j++) {
				float v = row[j] + b[j];

				row[j] = v > 0.0f ? v : 0.0f;
			}
			break;
		case FEDC_ACT_SIGMOID:
			for (size_t j = 0; j < y->cols; j++)
				row[j] = sigmoidf(row[j] + b[j]);
			break;
		}
	}
}

int fedc_dense_forward(const struct fedc_mat *x, const struct fedc_mat *weight, const struct fedc_mat *bias,
		       enum fedc_act act, struct fedc_mat *y)
{
	int rc;

	if (bias->rows != 1 || bias->cols != weight->rows)
		return FEDC_NN_ERR_SHAPE;
	rc = fedc_mat_gemm(1.0f, x, false, weight, true, 0.0f, y);
	if (rc)
		return rc;
	bias_act(y, bias->data, act);
	return FEDC_NN_OK;
}

/* dbias = column sums of dz, row by row so that the inner loop vectorizes. */
static void column_sums(const struct fedc_mat *dz, struct fedc_mat *dbias)
{
	float *restrict sum = dbias->data;

	fedc_mat_fill(dbias, 0.0f);
	for (size_t i = 0; i < dz->rows; i++) {
		const float *restrict row = dz->data + i * dz->cols;

		for (size_t j = 0; j < dz->cols; j++)
			sum[j] += row[j];
	}
}

int fedc_dense_backward(const struct fedc_mat *x, const struct fedc_mat *weight, const struct fedc_mat *y,
			enum fedc_act act, struct fedc_mat *dy, struct fedc_mat *dweight, struct fedc_mat *dbias,
			struct fedc_mat *dx)
{
	int rc;

	if (!same_shape(weight, dweight) || dbias->rows != 1 || dbias->cols != weight->rows)
		return FEDC_NN_ERR_SHAPE;
	rc = fedc_act_backward(act, y, dy, dy);
	if (!rc)
		rc = fedc_mat_gemm(1.0f, dy, true, x, false, 0.0f, dweight);
	if (rc)
		return rc;
	column_sums(dy, dbias);
	if (dx)
		rc = fedc_mat_gemm(1.0f, dy, false, weight, false, 0.0f, dx);
	return rc;
}

int fedc_act_forward(enum fedc_act act, const struct fedc_mat *x, struct fedc_mat *y)
{
	size_t n = fedc_mat_len(x);
	const float *in = x->data;
	float *out = y->data;

	if (!same_shape(x, y))
		return FEDC_NN_ERR_SHAPE;
	for (size_t i = 0; i < n; i++) {
		float v = in[i];

		out[i] = act == FEDC_ACT_RELU ? (v > 0.0f ? v : 0.0f) : act == FEDC_ACT_SIGMOID ? sigmoidf(v) : v;
	}
	return FEDC_NN_OK;
}

int fedc_act_backward(enum fedc_act act, const struct fedc_mat *y, const struct fedc_mat *dy, struct fedc_mat *dx)
{
	size_t n = fedc_mat_len(y);
	/* Locals, so that the compiler need not reload the pointers after each
	 * store (dx may be dy, hence no restrict), and branch-free selects: the
	 * ReLU pattern is random and a branch would mispredict half the time. */
	const float *yv = y->data, *g = dy->data;
	float *out = dx->data;

	if (!same_shape(y, dy) || !same_shape(y, dx))
		return FEDC_NN_ERR_SHAPE;
	switch (act) {
	case FEDC_ACT_NONE:
		if (out != g)
			fedc_mat_copy(dx, dy);
		break;
	case FEDC_ACT_RELU: /* y > 0 exactly where the input was > 0 */
		for (size_t i = 0; i < n; i++) {
			float gi = g[i];

			out[i] = yv[i] > 0.0f ? gi : 0.0f;
		}
		break;
	case FEDC_ACT_SIGMOID:
		for (size_t i = 0; i < n; i++)
			out[i] = g[i] * yv[i] * (1.0f - yv[i]);
		break;
	}
	return FEDC_NN_OK;
}

int fedc_softmax_forward(const struct fedc_mat *x, struct fedc_mat *y)
{
	if (!same_shape(x, y))
		return FEDC_NN_ERR_SHAPE;
	for (size_t i = 0; i < x->rows; i++) {
		const float *in = x->data + i * x->cols;
		float *out = y->data + i * y->cols;
		float max = in[0], sum = 0.0f;

		for (size_t j = 1; j < x->cols; j++)
			max = in[j] > max ? in[j] : max;
		for (size_t j = 0; j < x->cols; j++) {
			out[j] = expf(in[j] - max);
			sum += out[j];
		}
		for (size_t j = 0; j < x->cols; j++)
			out[j] /= sum;
	}
	return FEDC_NN_OK;
}

int fedc_softmax_backward(const struct fedc_mat *y, const struct fedc_mat *dy, struct fedc_mat *dx)
{
	if (!same_shape(y, dy) || !same_shape(y, dx))
		return FEDC_NN_ERR_SHAPE;
	for (size_t i = 0; i < y->rows; i++) {
		const float *p = y->data + i * y->cols, *g = dy->data + i * y->cols;
		float *out = dx->data + i * y->cols;
		double dot = 0.0;

		for (size_t j = 0; j < y->cols; j++)
			dot += (double)g[j] * p[j];
		for (size_t j = 0; j < y->cols; j++)
			out[j] = p[j] * (g[j] - (float)dot);
	}
	return FEDC_NN_OK;
}
