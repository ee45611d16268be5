/* Convolution over batches of volumes (an image is a volume of depth 1) as
 * im2col and one product for the whole batch:
 *
 *   cols [K, n*P]   K = C * k0*k1*k2 taps, P = output positions per sample,
 *                   column i*P + p is sample i's position p
 *   tmp  [O, n*P] = weight [O, K] x cols
 *   y[i][o][p]    = act(tmp[o][i*P + p] + bias[o])   (blocks of P floats)
 *
 * One large product keeps OpenBLAS in its efficient regime where a product
 * per sample would be dozens of small calls, and the reordering from tmp to
 * NCDHW moves whole rows of P floats. Backward reuses cols: the weight
 * gradient needs it, then it holds dL/dcols, scattered back by col2im.
 * Two shapes run direct instead: thin first layers (c->direct, "wide"
 * planes) and 16 output channels (c->vec16, a position's channels in one
 * vector), which keeps the product only for the input gradient. */
#include <string.h>

#include "fedc/nn/conv.h"
#include "fedc/nn/err.h"

#define VEC 16 /* output channels in one vector of the vec16 path */

int fedc_window_out(const struct fedc_window *win, const struct fedc_vol *in, size_t channels,
		    struct fedc_vol *out)
{
	const size_t ext[3] = { in->d, in->h, in->w };
	size_t o[3];

	if (!win || channels == 0 || fedc_vol_len(in) == 0)
		return FEDC_NN_ERR_SHAPE;
	for (int a = 0; a < 3; a++) {
		if (win->k[a] == 0 || win->stride[a] == 0 || win->pad[a] >= win->k[a] ||
		    ext[a] + 2 * win->pad[a] < win->k[a])
			return FEDC_NN_ERR_SHAPE;
		o[a] = (ext[a] + 2 * win->pad[a] - win->k[a]) / win->stride[a] + 1;
	}
	*out = (struct fedc_vol){ channels, o[0], o[1], o[2] };
	return FEDC_NN_OK;
}

static size_t taps(const struct fedc_conv *c)
{
	return c->in.c * c->win.k[0] * c->win.k[1] * c->win.k[2];
}

static size_t positions(const struct fedc_vol *v)
{
	return v->d * v->h * v->w;
}

/* Stride 1 and no padding: the direct path can run over "wide" output
 * planes, laid out with the input's row length (and plane size), where
 * every tap is one contiguous sweep (below). */
static bool is_wide(const struct fedc_conv *c)
{
	const struct fedc_window *w = &c->win;

	return w->stride[0] == 1 && w->stride[1] == 1 && w->stride[2] == 1 && w->pad[0] == 0 && w->pad[1] == 0 &&
	       w->pad[2] == 0;
}

int fedc_conv_init(struct fedc_conv *c, const struct fedc_vol *in, size_t out_channels, const struct fedc_window *win)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->in = *in;
	c->win = *win;
	rc = fedc_window_out(win, in, out_channels, &c->out);
	/* Direct when output rows fill SIMD registers and the product would be
	 * thin: NIID-Bench's first conv (1 -> 6 channels, 24-wide rows) runs
	 * 2-3x faster so, its second (6 -> 16, 8-wide rows) faster by im2col. */
	c->direct = !rc && c->out.w >= 16 && c->out.c * c->in.c <= 64;
	c->vec16 = !rc && !c->direct && c->out.c == VEC && is_wide(c) && c->in.d == 1 && c->win.k[0] == 1;
	return rc;
}

void fedc_conv_release(struct fedc_conv *c)
{
	fedc_mat_release(&c->cols);
	fedc_mat_release(&c->tmp);
	fedc_mat_release(&c->aux);
	c->capacity = 0;
}

int fedc_conv_reserve(struct fedc_conv *c, size_t rows)
{
	size_t p = positions(&c->out);
	int rc;

	if (rows <= c->capacity)
		return FEDC_NN_OK;
	fedc_conv_release(c);
	if (rows > SIZE_MAX / p)
		return FEDC_NN_ERR_NOMEM;
	if (c->direct && is_wide(c)) /* one output plane at the input's row length */
		rc = fedc_mat_init(&c->tmp, 1, c->out.d * c->in.h * c->in.w);
	else if (c->direct) /* partial sums: a row per (out channel, tap) */
		rc = fedc_mat_init(&c->tmp, c->out.c * taps(c), c->out.w);
	else
		rc = fedc_mat_init(&c->cols, taps(c), rows * p);
	if (!rc && !c->direct)
		rc = fedc_mat_init(&c->tmp, c->out.c, rows * p);
	if (!rc && c->vec16 && !c->direct)
		rc = fedc_mat_init(&c->aux, 1, (taps(c) + p) * VEC);
	if (rc)
		fedc_conv_release(c);
	else
		c->capacity = rows;
	return rc;
}

void fedc_conv_init_params(const struct fedc_conv *c, struct fedc_mat *weight, struct fedc_mat *bias,
			   enum fedc_init init, struct fedc_rng *rng)
{
	/* fedc_dense_init reads fan-in from weight->cols = taps and fan-out
	 * from rows = O; torch's fan-out for a conv is O * kernel volume. */
	fedc_dense_init(weight, bias, init, rng);
}

/* The output indices o along one axis whose input coordinate o*s - p + t
 * falls inside [0, ext): [*lo, *hi). */
static void valid_range(size_t ext, size_t out, size_t s, size_t p, size_t t, size_t *lo, size_t *hi)
{
	size_t l = 0, h;

	if (p > t)
		l = (p - t + s - 1) / s;
	/* o*s + t - p <= ext - 1  <=>  o <= (ext - 1 + p - t) / s */
	h = ext - 1 + p >= t ? (ext - 1 + p - t) / s + 1 : 0;
	*lo = l < out ? l : out;
	*hi = h < out ? h : out;
	if (*hi < *lo)
		*hi = *lo;
}

/* One tap (channel ch, offsets t0 t1 t2) of one sample: its row of cols. */
static void im2col_tap(const struct fedc_conv *c, const float *x, size_t ch, const size_t t[3], float *row)
{
	const struct fedc_vol *in = &c->in, *out = &c->out;
	const struct fedc_window *w = &c->win;
	size_t lo0, hi0, lo1, hi1, lo2, hi2;

	valid_range(in->d, out->d, w->stride[0], w->pad[0], t[0], &lo0, &hi0);
	valid_range(in->h, out->h, w->stride[1], w->pad[1], t[1], &lo1, &hi1);
	valid_range(in->w, out->w, w->stride[2], w->pad[2], t[2], &lo2, &hi2);
	for (size_t od = 0; od < out->d; od++) {
		for (size_t oh = 0; oh < out->h; oh++) {
			float *dst = row + (od * out->h + oh) * out->w;
			const float *src;

			/* Plain loops rather than memset/memcpy: rows are short
			 * (8 floats in NIID-Bench's second conv), a libc call per
			 * row costs more than the copy. */
			if (od < lo0 || od >= hi0 || oh < lo1 || oh >= hi1) {
				for (size_t ow = 0; ow < out->w; ow++)
					dst[ow] = 0.0f;
				continue;
			}
			src = x + ((ch * in->d + od * w->stride[0] + t[0] - w->pad[0]) * in->h + oh * w->stride[1] + t[1] -
				   w->pad[1]) * in->w + t[2] - w->pad[2];
			/* src[ow * stride] is inside for ow in [lo2, hi2) */
			for (size_t ow = 0; ow < lo2; ow++)
				dst[ow] = 0.0f;
			if (w->stride[2] == 1)
				for (size_t ow = lo2; ow < hi2; ow++)
					dst[ow] = src[ow];
			else
				for (size_t ow = lo2; ow < hi2; ow++)
					dst[ow] = src[ow * w->stride[2]];
			for (size_t ow = hi2; ow < out->w; ow++)
				dst[ow] = 0.0f;
		}
	}
}

/* The adjoint of im2col_tap: adds the row back into dx. */
static void col2im_tap(const struct fedc_conv *c, const float *row, size_t ch, const size_t t[3], float *dx)
{
	const struct fedc_vol *in = &c->in, *out = &c->out;
	const struct fedc_window *w = &c->win;
	size_t lo0, hi0, lo1, hi1, lo2, hi2;

	valid_range(in->d, out->d, w->stride[0], w->pad[0], t[0], &lo0, &hi0);
	valid_range(in->h, out->h, w->stride[1], w->pad[1], t[1], &lo1, &hi1);
	valid_range(in->w, out->w, w->stride[2], w->pad[2], t[2], &lo2, &hi2);
	for (size_t od = lo0; od < hi0; od++) {
		for (size_t oh = lo1; oh < hi1; oh++) {
			const float *src = row + (od * out->h + oh) * out->w;
			float *dst = dx + ((ch * in->d + od * w->stride[0] + t[0] - w->pad[0]) * in->h + oh * w->stride[1] +
					   t[1] - w->pad[1]) * in->w + t[2] - w->pad[2];

			for (size_t ow = lo2; ow < hi2; ow++)
				dst[ow * w->stride[2]] += src[ow];
		}
	}
}

/* Every tap (row of cols) of every one of n samples, in row order: with x,
 * im2col copies the input into cols; with dx instead, col2im adds cols back
 * into the input gradient, which it zeroes first. */
static void walk_taps(const struct fedc_conv *c, size_t n, float *cols, const float *x, float *dx)
{
	size_t np = positions(&c->out), len = fedc_vol_len(&c->in), r = 0;

	if (dx)
		memset(dx, 0, n * len * sizeof(float));
	for (size_t ch = 0; ch < c->in.c; ch++) {
		for (size_t t0 = 0; t0 < c->win.k[0]; t0++) {
			for (size_t t1 = 0; t1 < c->win.k[1]; t1++) {
				for (size_t t2 = 0; t2 < c->win.k[2]; t2++, r++) {
					const size_t t[3] = { t0, t1, t2 };

					for (size_t i = 0; i < n; i++) {
						float *row = cols + (r * n + i) * np;

						if (x)
							im2col_tap(c, x + i * len, ch, t, row);
						else
							col2im_tap(c, row, ch, t, dx + i * len);
					}
				}
			}
		}
	}
}

/* ---- the direct path ----
 * Every (out channel o, in channel ch, tap t) pairs output rows with input
 * rows: y[o] row += w * x[ch] row shifted by the tap. The row ranges that
 * stay inside the input come from valid_range, as in im2col. */
struct tap_rows {
	size_t lo[3], hi[3];
};

static void tap_rows_of(const struct fedc_conv *c, const size_t t[3], struct tap_rows *r)
{
	const size_t ext[3] = { c->in.d, c->in.h, c->in.w }, out[3] = { c->out.d, c->out.h, c->out.w };

	for (int a = 0; a < 3; a++)
		valid_range(ext[a], out[a], c->win.stride[a], c->win.pad[a], t[a], &r->lo[a], &r->hi[a]);
}

/* The input row that output row (od, oh) of tap t reads in channel ch,
 * shifted so that element ow sits at [ow * stride]. */
static size_t in_row(const struct fedc_conv *c, size_t ch, size_t od, size_t oh, const size_t t[3])
{
	const struct fedc_window *w = &c->win;

	return ((ch * c->in.d + od * w->stride[0] + t[0] - w->pad[0]) * c->in.h + oh * w->stride[1] + t[1] -
		w->pad[1]) * c->in.w + t[2] - w->pad[2];
}

/* Which of the three row operations a tap applies. */
enum row_op { ROW_FORWARD, ROW_WGRAD, ROW_XGRAD };

/* The direct path's loops are compiled for AVX-512 and AVX2 as well as the
 * baseline, picked at load time (GCC and clang target_clones, an ifunc):
 * the SDK is built for any x86-64, and these loops are where the time goes
 * when the product is thin. The clones sit on the outer walk, so that the
 * row loops inline into each. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__SANITIZE_ADDRESS__)
#define SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SIMD_CLONES
#endif

/* One tap of one sample between out-channel plane `yo` (y or dz) and
 * in-channel ch of `xi` (x or dx). Unit strides get their own loops: they
 * vectorize. */
static inline __attribute__((always_inline)) void tap_apply(const struct fedc_conv *c, enum row_op op, size_t ch, const size_t t[3], float w,
		      const float *xi, float *dxi, float *yo, const float *go, float *acc)
{
	struct tap_rows r;
	size_t s = c->win.stride[2], ow_n = c->out.w;

	tap_rows_of(c, t, &r);
	for (size_t od = r.lo[0]; od < r.hi[0]; od++) {
		for (size_t oh = r.lo[1]; oh < r.hi[1]; oh++) {
			size_t in_at = in_row(c, ch, od, oh, t), out_at = (od * c->out.h + oh) * ow_n;

			if (op == ROW_FORWARD) {
				const float *restrict src = xi + in_at;
				float *restrict dst = yo + out_at;

				if (s == 1)
					for (size_t ow = r.lo[2]; ow < r.hi[2]; ow++)
						dst[ow] += w * src[ow];
				else
					for (size_t ow = r.lo[2]; ow < r.hi[2]; ow++)
						dst[ow] += w * src[ow * s];
			} else if (op == ROW_WGRAD) {
				const float *restrict src = xi + in_at, *restrict g = go + out_at;

				if (s == 1)
					for (size_t ow = r.lo[2]; ow < r.hi[2]; ow++)
						acc[ow] += g[ow] * src[ow];
				else
					for (size_t ow = r.lo[2]; ow < r.hi[2]; ow++)
						acc[ow] += g[ow] * src[ow * s];
			} else {
				const float *restrict g = go + out_at;
				float *restrict dst = dxi + in_at;

				if (s == 1)
					for (size_t ow = r.lo[2]; ow < r.hi[2]; ow++)
						dst[ow] += w * g[ow];
				else
					for (size_t ow = r.lo[2]; ow < r.hi[2]; ow++)
						dst[ow * s] += w * g[ow];
			}
		}
	}
}

/* Walks (sample, out channel, in channel, tap) for one row operation. */
SIMD_CLONES static void direct_walk(const struct fedc_conv *c, enum row_op op, size_t n, const float *weight, const float *x,
			float *dx, float *y, const float *g)
{
	size_t len_in = fedc_vol_len(&c->in), len_out = fedc_vol_len(&c->out), p = positions(&c->out);
	size_t k = taps(c);

	for (size_t i = 0; i < n; i++) {
		for (size_t o = 0; o < c->out.c; o++) {
			size_t r = 0;

			for (size_t ch = 0; ch < c->in.c; ch++) {
				for (size_t t0 = 0; t0 < c->win.k[0]; t0++) {
					for (size_t t1 = 0; t1 < c->win.k[1]; t1++) {
						for (size_t t2 = 0; t2 < c->win.k[2]; t2++, r++) {
							const size_t t[3] = { t0, t1, t2 };
							float *acc = c->tmp.data + (o * k + r) * c->out.w;

							tap_apply(c, op, ch, t, weight[o * k + r], x ? x + i * len_in : NULL,
								  dx ? dx + i * len_in : NULL,
								  y ? y + i * len_out + o * p : NULL,
								  g ? g + i * len_out + o * p : NULL, acc);
						}
					}
				}
			}
		}
	}
}

/* ---- the wide direct path (stride 1, no padding) ----
 * Output (od, oh, ow) sits at od*H*W + oh*W + ow of a wide plane: the
 * input's layout. Then tap (t0, t1, t2) reads input offset
 * t0*H*W + t1*W + t2 further on, for every position at once, and a tap is
 * one contiguous sweep of `span` floats: the positions between the last
 * valid output and the end of each input row are computed and dropped
 * (forward) or held at zero (backward). span ends at the last valid output,
 * so no sweep reads past its input plane. */
static size_t wide_span(const struct fedc_conv *c)
{
	size_t hw = c->in.h * c->in.w;

	return (c->out.d - 1) * hw + (c->out.h - 1) * c->in.w + c->out.w;
}

static size_t tap_offset(const struct fedc_conv *c, size_t t0, size_t t1, size_t t2)
{
	return (t0 * c->in.h + t1) * c->in.w + t2;
}

/* Wide plane <-> compact output plane of channel o. */
static void wide_to_out(const struct fedc_conv *c, const float *wide, float *out)
{
	for (size_t od = 0; od < c->out.d; od++)
		for (size_t oh = 0; oh < c->out.h; oh++)
			memcpy(out + (od * c->out.h + oh) * c->out.w, wide + (od * c->in.h + oh) * c->in.w,
			       c->out.w * sizeof(float));
}

static void out_to_wide(const struct fedc_conv *c, const float *out, float *wide)
{
	memset(wide, 0, wide_span(c) * sizeof(float));
	for (size_t od = 0; od < c->out.d; od++)
		for (size_t oh = 0; oh < c->out.h; oh++)
			memcpy(wide + (od * c->in.h + oh) * c->in.w, out + (od * c->out.h + oh) * c->out.w,
			       c->out.w * sizeof(float));
}

/* sum a[k] b[k] over n floats, in 16 float lanes (they vectorize without
 * reassociating the compiler's way), the lanes summed in double. */
static inline __attribute__((always_inline)) double dot_lanes(const float *restrict a, const float *restrict b,
							     size_t n)
{
	float lane[16] = { 0 };
	double sum = 0.0;
	size_t k = 0;

	for (; k + 16 <= n; k += 16)
		for (size_t j = 0; j < 16; j++)
			lane[j] += a[k + j] * b[k + j];
	for (; k < n; k++)
		lane[k % 16] += a[k] * b[k];
	for (size_t j = 0; j < 16; j++)
		sum += lane[j];
	return sum;
}

/* Five consecutive taps along a row, the common 5-wide kernel: forward
 * (dw NULL) acc[q] += sum_t w[t] src[q + t], or the five weight gradients
 * dw[t] += sum_q acc[q] src[q + t] (acc holding the wide dz), with one load
 * of acc per position instead of five. */
static inline __attribute__((always_inline)) void tap_row5(const float *restrict src, const float *w,
							   float *restrict acc, float *dw, size_t span)
{
	float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4];
	float l0[16] = { 0 }, l1[16] = { 0 }, l2[16] = { 0 }, l3[16] = { 0 }, l4[16] = { 0 };
	double d[5] = { 0 };
	size_t q = 0;

	if (!dw) {
		for (q = 0; q < span; q++)
			acc[q] += w0 * src[q] + w1 * src[q + 1] + w2 * src[q + 2] + w3 * src[q + 3] + w4 * src[q + 4];
		return;
	}
	for (; q + 16 <= span; q += 16) {
		for (size_t j = 0; j < 16; j++) {
			float a = acc[q + j];

			l0[j] += a * src[q + j], l1[j] += a * src[q + j + 1], l2[j] += a * src[q + j + 2];
			l3[j] += a * src[q + j + 3], l4[j] += a * src[q + j + 4];
		}
	}
	for (; q < span; q++) {
		for (size_t t = 0; t < 5; t++)
			d[t] += (double)acc[q] * src[q + t];
	}
	for (size_t j = 0; j < 16; j++)
		d[0] += l0[j], d[1] += l1[j], d[2] += l2[j], d[3] += l3[j], d[4] += l4[j];
	for (size_t t = 0; t < 5; t++)
		dw[t] += (float)d[t];
}

/* Forward (g NULL: x and weight give y) or backward (g: dz; this sample's
 * weight gradient added to dw, each term summed in double, and its input
 * gradient added to dx when not NULL) of one sample. */
SIMD_CLONES static void wide_sample(const struct fedc_conv *c, const float *x, const float *weight,
				    const float *bias, float *y, const float *g, float *dw, float *dx, float *wide)
{
	size_t plane = c->in.d * c->in.h * c->in.w, span = wide_span(c), k = taps(c), p = positions(&c->out);

	for (size_t o = 0; o < c->out.c; o++) {
		size_t r = 0;

		if (g)
			out_to_wide(c, g + o * p, wide);
		else
			for (size_t q = 0; q < span; q++)
				wide[q] = bias[o];
		for (size_t ch = 0; ch < c->in.c; ch++) {
			for (size_t t0 = 0; t0 < c->win.k[0]; t0++) {
				for (size_t t1 = 0; t1 < c->win.k[1]; t1++) {
					for (size_t t2 = 0; t2 < c->win.k[2]; t2++, r++) {
						size_t off = ch * plane + tap_offset(c, t0, t1, t2);
						const float *restrict src = x + off;
						float *restrict acc = wide;
						float w = weight[o * k + r];

						if (c->win.k[2] == 5 && (!g || !dx)) {
							/* a row of 5 taps at once: 1 pass over acc, not 5 */
							tap_row5(src, weight + o * k + r, acc, g ? dw + o * k + r : NULL, span);
							t2 += 4, r += 4;
							continue;
						}
						if (!g) {
							for (size_t q = 0; q < span; q++)
								acc[q] += w * src[q];
							continue;
						}
						dw[o * k + r] += (float)dot_lanes(wide, src, span);
						if (dx) {
							float *restrict dst = dx + off;

							for (size_t q = 0; q < span; q++)
								dst[q] += w * wide[q];
						}
					}
				}
			}
		}
		if (!g)
			wide_to_out(c, wide, y + o * p);
	}
}

static void wide_forward(struct fedc_conv *c, const struct fedc_mat *x, const struct fedc_mat *weight,
			 const struct fedc_mat *bias, struct fedc_mat *y)
{
	for (size_t i = 0; i < x->rows; i++)
		wide_sample(c, x->data + i * x->cols, weight->data, bias->data, y->data + i * y->cols, NULL, NULL, NULL,
			    c->tmp.data);
}

static void wide_backward(struct fedc_conv *c, const struct fedc_mat *x, const struct fedc_mat *weight,
			  const struct fedc_mat *dz, struct fedc_mat *dweight, struct fedc_mat *dx)
{
	fedc_mat_fill(dweight, 0.0f);
	if (dx)
		fedc_mat_fill(dx, 0.0f);
	for (size_t i = 0; i < dz->rows; i++)
		wide_sample(c, x->data + i * x->cols, weight->data, NULL, NULL, dz->data + i * dz->cols, dweight->data,
			    dx ? dx->data + i * dx->cols : NULL, c->tmp.data);
}

static void direct_forward(const struct fedc_conv *c, const struct fedc_mat *x, const struct fedc_mat *weight,
			   const struct fedc_mat *bias, struct fedc_mat *y)
{
	size_t p = positions(&c->out);

	for (size_t i = 0; i < x->rows; i++) {
		for (size_t o = 0; o < c->out.c; o++) {
			float *dst = y->data + i * y->cols + o * p;

			for (size_t k = 0; k < p; k++)
				dst[k] = bias->data[o];
		}
	}
	direct_walk(c, ROW_FORWARD, x->rows, weight->data, x->data, NULL, y->data, NULL);
}

/* dweight from the partial sums of every (o, tap) row; dx when asked. */
static void direct_backward(struct fedc_conv *c, const struct fedc_mat *x, const struct fedc_mat *weight,
			    const struct fedc_mat *dz, struct fedc_mat *dweight, struct fedc_mat *dx)
{
	fedc_mat_fill(&c->tmp, 0.0f);
	direct_walk(c, ROW_WGRAD, dz->rows, weight->data, x->data, NULL, NULL, dz->data);
	for (size_t r = 0; r < c->tmp.rows; r++) {
		const float *acc = c->tmp.data + r * c->tmp.cols;
		double sum = 0.0;

		for (size_t k = 0; k < c->tmp.cols; k++)
			sum += acc[k];
		dweight->data[r] = (float)sum;
	}
	if (dx) {
		fedc_mat_fill(dx, 0.0f);
		direct_walk(c, ROW_XGRAD, dz->rows, weight->data, NULL, dx->data, NULL, dz->data);
	}
}

/* ---- the vec16 path (c->vec16) ----
 * Output channels o = 0..15 of one position form one vector (a zmm register,
 * two ymm): forward accumulates, for a block of 8 positions of an output row,
 * tap by tap wt[tap][0..15] * x at the tap, bias and ReLU fused into the
 * NCHW store; the weight gradient accumulates dz[pos][0..15] * x at the tap
 * over 8 positions in 8 independent sums. Taps are ordered as weight's
 * columns (channel, row, column), as im2col's. */
#define BLOCK 8

/* Sixteen floats as one value (GCC and clang vector extensions): a zmm
 * register in the AVX-512 clone, two ymm in the AVX2 one, four xmm in the
 * baseline; v16u is the same at any float's alignment, for loads. */
typedef float v16 __attribute__((vector_size(VEC * sizeof(float))));
typedef float v16u __attribute__((vector_size(VEC * sizeof(float)), aligned(sizeof(float))));

static inline __attribute__((always_inline)) void vec16_block(const float *restrict x, size_t in_w, size_t in_plane,
							      size_t n_ch, size_t kh, size_t kw,
							      const float *restrict wt, size_t nb, v16 acc[BLOCK])
{
	for (size_t ch = 0; ch < n_ch; ch++)
		for (size_t th = 0; th < kh; th++)
			for (size_t tw = 0; tw < kw; tw++) {
				v16 w = *(const v16u *)(wt + ((ch * kh + th) * kw + tw) * VEC);
				const float *restrict xr = x + ch * in_plane + th * in_w + tw;

				for (size_t b = 0; b < nb; b++)
					acc[b] += w * xr[b];
			}
}

/* One sample: y [16][OH*OW] = act(conv(x) + bias), ReLU or none. */
static SIMD_CLONES void vec16_forward_sample(const struct fedc_conv *c, const float *restrict x,
					     const float *restrict wt, const float *restrict bias, bool relu,
					     float *restrict y)
{
	size_t in_w = c->in.w, plane = c->in.h * c->in.w, oh_n = c->out.h, ow_n = c->out.w, p = oh_n * ow_n;
	v16 b0 = *(const v16u *)bias;

	for (size_t oh = 0; oh < oh_n; oh++) {
		for (size_t ow = 0; ow < ow_n; ow += BLOCK) {
			size_t nb = ow_n - ow < BLOCK ? ow_n - ow : BLOCK;
			const float *xb = x + oh * in_w + ow;
			v16 acc[BLOCK];

			for (size_t b = 0; b < BLOCK; b++)
				acc[b] = b0;
			if (nb == BLOCK) /* constant trip counts: the sums stay in registers */
				vec16_block(xb, in_w, plane, c->in.c, c->win.k[1], c->win.k[2], wt, BLOCK, acc);
			else
				vec16_block(xb, in_w, plane, c->in.c, c->win.k[1], c->win.k[2], wt, nb, acc);
			for (size_t b = 0; b < nb; b++)
				for (size_t o = 0; o < VEC; o++)
					y[o * p + oh * ow_n + ow + b] = relu && acc[b][o] < 0.0f ? 0.0f : acc[b][o];
		}
	}
}

/* dwt[tap][0..15] += sum over positions of dzt[pos][0..15] * x at the tap. */
static SIMD_CLONES void vec16_weight_grad_sample(const struct fedc_conv *c, const float *restrict x,
						 const float *restrict dzt, float *restrict dwt)
{
	size_t in_w = c->in.w, plane = c->in.h * c->in.w, oh_n = c->out.h, ow_n = c->out.w;
	size_t kh = c->win.k[1], kw = c->win.k[2];

	for (size_t ch = 0; ch < c->in.c; ch++)
		for (size_t th = 0; th < kh; th++)
			for (size_t tw = 0; tw < kw; tw++) {
				v16 acc[BLOCK] = { { 0 } }, sum = { 0 };
				float *restrict dw = dwt + ((ch * kh + th) * kw + tw) * VEC;

				for (size_t oh = 0; oh < oh_n; oh++) {
					const float *restrict xr = x + ch * plane + (oh + th) * in_w + tw;
					const float *restrict dr = dzt + oh * ow_n * VEC;
					size_t ow = 0;

					for (; ow + BLOCK <= ow_n; ow += BLOCK)
						for (size_t b = 0; b < BLOCK; b++)
							acc[b] += *(const v16u *)(dr + (ow + b) * VEC) * xr[ow + b];
					for (; ow < ow_n; ow++)
						acc[0] += *(const v16u *)(dr + ow * VEC) * xr[ow];
				}
				for (size_t b = 0; b < BLOCK; b++)
					sum += acc[b];
				*(v16u *)dw += sum;
			}
}

/* dst [cols][rows] = src [rows][cols] transposed. */
static void transpose(const float *restrict src, size_t rows, size_t cols, float *restrict dst)
{
	for (size_t r = 0; r < rows; r++)
		for (size_t k = 0; k < cols; k++)
			dst[k * rows + r] = src[r * cols + k];
}

static void vec16_forward(struct fedc_conv *c, const struct fedc_mat *x, const struct fedc_mat *weight,
			  const struct fedc_mat *bias, bool relu, struct fedc_mat *y)
{
	float *wt = c->aux.data;

	transpose(weight->data, VEC, taps(c), wt);
	for (size_t i = 0; i < x->rows; i++)
		vec16_forward_sample(c, x->data + i * x->cols, wt, bias->data, relu, y->data + i * y->cols);
}

/* dz (dL/d pre-activation) reordered channel-major into tmp for the input
 * gradient's product; the weight gradient direct, sample by sample. */
static int vec16_backward(struct fedc_conv *c, const struct fedc_mat *x, const struct fedc_mat *weight,
			  const struct fedc_mat *dz, struct fedc_mat *dweight, struct fedc_mat *dx)
{
	size_t n = dz->rows, p = positions(&c->out), k = taps(c);
	float *dwt = c->aux.data, *dzt = c->aux.data + k * VEC;
	struct fedc_mat cols = fedc_mat_view(c->cols.data, k, n * p);
	struct fedc_mat tmp = fedc_mat_view(c->tmp.data, VEC, n * p);
	int rc = FEDC_NN_OK;

	memset(dwt, 0, k * VEC * sizeof(float));
	for (size_t i = 0; i < n; i++) {
		transpose(dz->data + i * dz->cols, VEC, p, dzt);
		vec16_weight_grad_sample(c, x->data + i * x->cols, dzt, dwt);
	}
	transpose(dwt, k, VEC, dweight->data);
	if (!dx)
		return rc;
	for (size_t o = 0; o < VEC; o++) {
		for (size_t i = 0; i < n; i++)
			memcpy(tmp.data + o * n * p + i * p, dz->data + i * dz->cols + o * p, p * sizeof(float));
	}
	rc = fedc_mat_gemm(1.0f, weight, true, &tmp, false, 0.0f, &cols); /* dL/dcols */
	if (!rc)
		walk_taps(c, n, cols.data, NULL, dx->data);
	return rc;
}

static bool params_ok(const struct fedc_conv *c, const struct fedc_mat *weight, const struct fedc_mat *bias)
{
	return weight->rows == c->out.c && weight->cols == taps(c) && bias->rows == 1 && bias->cols == c->out.c;
}

static bool batch_ok(const struct fedc_conv *c, const struct fedc_mat *m, const struct fedc_vol *v, size_t n)
{
	return m->rows == n && m->cols == fedc_vol_len(v) && n > 0 && n <= c->capacity;
}

int fedc_conv_forward(struct fedc_conv *c, const struct fedc_mat *x, const struct fedc_mat *weight,
		      const struct fedc_mat *bias, enum fedc_act act, struct fedc_mat *y)
{
	size_t n = x->rows, p = positions(&c->out), o_n = c->out.c;
	struct fedc_mat cols, tmp;
	int rc;

	if (!params_ok(c, weight, bias) || !batch_ok(c, x, &c->in, n) || !batch_ok(c, y, &c->out, n))
		return FEDC_NN_ERR_SHAPE;
	if (c->direct) {
		if (is_wide(c))
			wide_forward(c, x, weight, bias, y);
		else
			direct_forward(c, x, weight, bias, y);
		return act == FEDC_ACT_NONE ? FEDC_NN_OK : fedc_act_forward(act, y, y);
	}
	if (c->vec16) {
		vec16_forward(c, x, weight, bias, act == FEDC_ACT_RELU, y);
		return act == FEDC_ACT_RELU || act == FEDC_ACT_NONE ? FEDC_NN_OK : fedc_act_forward(act, y, y);
	}
	cols = fedc_mat_view(c->cols.data, taps(c), n * p);
	tmp = fedc_mat_view(c->tmp.data, o_n, n * p);
	walk_taps(c, n, cols.data, x->data, NULL);
	rc = fedc_mat_gemm(1.0f, weight, false, &cols, false, 0.0f, &tmp);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		for (size_t o = 0; o < o_n; o++) {
			const float *restrict src = tmp.data + o * n * p + i * p;
			float *restrict dst = y->data + i * y->cols + o * p;
			float b = bias->data[o];

			if (act == FEDC_ACT_RELU)
				for (size_t k = 0; k < p; k++)
					dst[k] = src[k] + b > 0.0f ? src[k] + b : 0.0f;
			else
				for (size_t k = 0; k < p; k++)
					dst[k] = src[k] + b;
		}
	}
	return act == FEDC_ACT_SIGMOID ? fedc_act_forward(act, y, y) : FEDC_NN_OK;
}

/* dbias[o] = sum of dz over the batch and the positions of channel o. */
static void bias_grad(const struct fedc_conv *c, const struct fedc_mat *dz, struct fedc_mat *dbias)
{
	size_t p = positions(&c->out);

	for (size_t o = 0; o < c->out.c; o++) {
		double sum = 0.0;

		for (size_t i = 0; i < dz->rows; i++) {
			const float *g = dz->data + i * dz->cols + o * p;
			float s = 0.0f;

			for (size_t k = 0; k < p; k++)
				s += g[k];
			sum += s;
		}
		dbias->data[o] = (float)sum;
	}
}

/* im2col's backward: dz reordered sample-major into tmp, then two products. */
static int im2col_backward(struct fedc_conv *c, const struct fedc_mat *weight, const struct fedc_mat *dz,
			   struct fedc_mat *dweight, struct fedc_mat *dx)
{
	size_t n = dz->rows, p = positions(&c->out), o_n = c->out.c;
	struct fedc_mat cols = fedc_mat_view(c->cols.data, taps(c), n * p);
	struct fedc_mat tmp = fedc_mat_view(c->tmp.data, o_n, n * p);
	int rc;

	for (size_t o = 0; o < o_n; o++) {
		for (size_t i = 0; i < n; i++)
			memcpy(tmp.data + o * n * p + i * p, dz->data + i * dz->cols + o * p, p * sizeof(float));
	}
	rc = fedc_mat_gemm(1.0f, &tmp, false, &cols, true, 0.0f, dweight);
	if (rc || !dx)
		return rc;
	rc = fedc_mat_gemm(1.0f, weight, true, &tmp, false, 0.0f, &cols); /* cols now holds dL/dcols */
	if (!rc)
		walk_taps(c, n, cols.data, NULL, dx->data);
	return rc;
}

int fedc_conv_backward(struct fedc_conv *c, const struct fedc_mat *x, const struct fedc_mat *weight,
		       const struct fedc_mat *y, enum fedc_act act, struct fedc_mat *dy, struct fedc_mat *dweight,
		       struct fedc_mat *dbias, struct fedc_mat *dx)
{
	size_t n = y->rows;
	int rc;

	if (!params_ok(c, weight, dbias) || dweight->rows != weight->rows || dweight->cols != weight->cols ||
	    !batch_ok(c, x, &c->in, n) || !batch_ok(c, y, &c->out, n) || !batch_ok(c, dy, &c->out, n) ||
	    (dx && !batch_ok(c, dx, &c->in, n)))
		return FEDC_NN_ERR_SHAPE;
	rc = fedc_act_backward(act, y, dy, dy);
	if (rc)
		return rc;
	bias_grad(c, dy, dbias);
	if (c->vec16 && !c->direct)
		return vec16_backward(c, x, weight, dy, dweight, dx);
	if (!c->direct)
		return im2col_backward(c, weight, dy, dweight, dx);
	if (is_wide(c))
		wide_backward(c, x, weight, dy, dweight, dx);
	else
		direct_backward(c, x, weight, dy, dweight, dx);
	return FEDC_NN_OK;
}
