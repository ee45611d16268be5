/* float32 matrices on aligned memory; products through CBLAS (OpenBLAS). */
#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/nn/err.h"
#include "fedc/nn/mat.h"

int fedc_mat_init(struct fedc_mat *m, size_t rows, size_t cols)
{
	size_t bytes;

	*m = (struct fedc_mat){ 0, 0, NULL };
	if (rows == 0 || cols == 0 || cols > (SIZE_MAX - FEDC_MAT_ALIGN) / sizeof(float) / rows)
		return FEDC_NN_ERR_INVAL;
	/* aligned_alloc wants a multiple of the alignment. */
	bytes = (rows * cols * sizeof(float) + FEDC_MAT_ALIGN - 1) / FEDC_MAT_ALIGN * FEDC_MAT_ALIGN;
	m->data = aligned_alloc(FEDC_MAT_ALIGN, bytes);
	if (!m->data)
		return FEDC_NN_ERR_NOMEM;
	memset(m->data, 0, bytes);
	m->rows = rows;
	m->cols = cols;
	return FEDC_NN_OK;
}

void fedc_mat_release(struct fedc_mat *m)
{
	free(m->data);
	*m = (struct fedc_mat){ 0, 0, NULL };
}

void fedc_mat_fill(struct fedc_mat *m, float value)
{
	size_t n = fedc_mat_len(m);
	float *d = m->data;

	for (size_t i = 0; i < n; i++)
		d[i] = value;
}

int fedc_mat_copy(struct fedc_mat *dst, const struct fedc_mat *src)
{
	if (dst->rows != src->rows || dst->cols != src->cols)
		return FEDC_NN_ERR_SHAPE;
	if (dst->data != src->data)
		memcpy(dst->data, src->data, fedc_mat_len(src) * sizeof(float));
	return FEDC_NN_OK;
}

int fedc_mat_axpy(float alpha, const struct fedc_mat *x, struct fedc_mat *y)
{
	size_t n = fedc_mat_len(x);
	const float *xv = x->data;
	float *yv = y->data;

	if (x->rows != y->rows || x->cols != y->cols)
		return FEDC_NN_ERR_SHAPE;
	for (size_t i = 0; i < n; i++)
		yv[i] += alpha * xv[i];
	return FEDC_NN_OK;
}

int fedc_mat_gemm(float alpha, const struct fedc_mat *a, bool trans_a, const struct fedc_mat *b, bool trans_b,
		  float beta, struct fedc_mat *c)
{
	size_t m = trans_a ? a->cols : a->rows, k = trans_a ? a->rows : a->cols;
	size_t kb = trans_b ? b->cols : b->rows, n = trans_b ? b->rows : b->cols;

	if (k != kb || c->rows != m || c->cols != n)
		return FEDC_NN_ERR_SHAPE;
	if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || a->cols > INT32_MAX || b->cols > INT32_MAX)
		return FEDC_NN_ERR_SHAPE; /* CBLAS takes int dimensions */
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
		    (int)m, (int)n, (int)k, alpha, a->data, (int)a->cols, b->data, (int)b->cols, beta, c->data,
		    (int)c->cols);
	return FEDC_NN_OK;
}

void fedc_nn_set_threads(int n)
{
	if (n > 0)
		openblas_set_num_threads(n);
}

const char *fedc_nn_blas_core(void)
{
	return openblas_get_corename();
}
