/* float32 matrices: rows x cols, row-major, and their products through CBLAS.
 *
 * A matrix that fedc_mat_init() allocated owns its memory (64-byte aligned,
 * for the SIMD kernels of OpenBLAS and of the compiler); a view made with
 * fedc_mat_view() or fedc_mat_top() points into memory owned elsewhere and
 * must not be released. */
#ifndef FEDC_NN_MAT_H
#define FEDC_NN_MAT_H

#include <stdbool.h>
#include <stddef.h>

#define FEDC_MAT_ALIGN 64

struct fedc_mat {
	size_t rows, cols;
	float *data;
};

/* Allocates a zero-filled rows x cols matrix. Returns 0, FEDC_NN_ERR_INVAL
 * (a zero or overflowing size) or FEDC_NN_ERR_NOMEM. On failure *m is empty. */
int fedc_mat_init(struct fedc_mat *m, size_t rows, size_t cols);
/* Frees an owned matrix and empties it; a no-op on an empty one. */
void fedc_mat_release(struct fedc_mat *m);

static inline size_t fedc_mat_len(const struct fedc_mat *m)
{
	return m->rows * m->cols;
}
/* A view of memory owned elsewhere (e.g. rows of a struct fedc_data). */
static inline struct fedc_mat fedc_mat_view(float *data, size_t rows, size_t cols)
{
	struct fedc_mat v = { rows, cols, data };
	return v;
}
/* A view of the first `rows` rows of m (rows <= m->rows). */
static inline struct fedc_mat fedc_mat_top(const struct fedc_mat *m, size_t rows)
{
	struct fedc_mat v = { rows, m->cols, m->data };
	return v;
}

void fedc_mat_fill(struct fedc_mat *m, float value);
/* Copies src into dst; FEDC_NN_ERR_SHAPE if their shapes differ. */
int fedc_mat_copy(struct fedc_mat *dst, const struct fedc_mat *src);
/* y += alpha * x (same shapes). */
int fedc_mat_axpy(float alpha, const struct fedc_mat *x, struct fedc_mat *y);
/* c = alpha * op(a) * op(b) + beta * c, op transposes when its flag is set
 * (cblas_sgemm). Returns 0 or FEDC_NN_ERR_SHAPE. */
int fedc_mat_gemm(float alpha, const struct fedc_mat *a, bool trans_a, const struct fedc_mat *b, bool trans_b,
		  float beta, struct fedc_mat *c);

/* Threads OpenBLAS may use for one product (0 leaves its default, which
 * is every core). Process-wide. */
void fedc_nn_set_threads(int n);
/* The CPU kernel OpenBLAS chose, e.g. "SkylakeX". OpenBLAS 0.3.21 falls back
 * to "Prescott" (SSE3, 3-5x slower) on CPUs newer than it knows: set
 * OPENBLAS_CORETYPE (e.g. SkylakeX, Haswell) in the environment then. */
const char *fedc_nn_blas_core(void);

#endif
