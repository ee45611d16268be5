/* Max and average pooling over batches of volumes, and global average
 * pooling (an average window over the whole input). Max pooling records
 * where each maximum came from, so that backward is a scatter. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/nn/conv.h"
#include "fedc/nn/err.h"

int fedc_pool_init(struct fedc_pool *p, enum fedc_pool_kind kind, const struct fedc_vol *in,
		   const struct fedc_window *win)
{
	memset(p, 0, sizeof(*p));
	if (kind != FEDC_POOL_MAX && kind != FEDC_POOL_AVG)
		return FEDC_NN_ERR_INVAL;
	p->kind = kind;
	p->in = *in;
	p->win = *win;
	return fedc_window_out(win, in, in->c, &p->out);
}

int fedc_pool_init_global(struct fedc_pool *p, const struct fedc_vol *in)
{
	struct fedc_window w = { { in->d, in->h, in->w }, { 1, 1, 1 }, { 0, 0, 0 } };

	return fedc_pool_init(p, FEDC_POOL_AVG, in, &w);
}

void fedc_pool_release(struct fedc_pool *p)
{
	free(p->argmax);
	p->argmax = NULL;
	p->capacity = 0;
}

int fedc_pool_reserve(struct fedc_pool *p, size_t rows)
{
	size_t len = fedc_vol_len(&p->out);

	if (rows <= p->capacity)
		return FEDC_NN_OK;
	if (p->kind == FEDC_POOL_MAX) {
		uint32_t *a;

		if (fedc_vol_len(&p->in) > UINT32_MAX || rows > SIZE_MAX / sizeof(*a) / len)
			return FEDC_NN_ERR_NOMEM;
		a = malloc(rows * len * sizeof(*a));
		if (!a)
			return FEDC_NN_ERR_NOMEM;
		free(p->argmax);
		p->argmax = a;
	}
	p->capacity = rows;
	return FEDC_NN_OK;
}

static bool batch_ok(const struct fedc_pool *p, const struct fedc_mat *m, const struct fedc_vol *v, size_t n)
{
	return m->rows == n && m->cols == fedc_vol_len(v) && n > 0 && n <= p->capacity;
}

/* The window of output (od, oh, ow) clipped to the input: [lo[a], hi[a]). */
static void window_of(const struct fedc_pool *p, const size_t o[3], size_t lo[3], size_t hi[3])
{
	const size_t ext[3] = { p->in.d, p->in.h, p->in.w };

	for (int a = 0; a < 3; a++) {
		size_t start = o[a] * p->win.stride[a], end = start + p->win.k[a]; /* in padded coordinates */

		lo[a] = start > p->win.pad[a] ? start - p->win.pad[a] : 0;
		hi[a] = end - p->win.pad[a] < ext[a] ? end - p->win.pad[a] : ext[a];
	}
}

/* One channel of one sample: x and y point at that channel's volume. */
static void pool_channel(const struct fedc_pool *p, const float *x, float *y, uint32_t *arg, size_t base)
{
	float inv = 1.0f / (float)(p->win.k[0] * p->win.k[1] * p->win.k[2]);
	size_t o[3], lo[3], hi[3], k = 0;

	for (o[0] = 0; o[0] < p->out.d; o[0]++) {
		for (o[1] = 0; o[1] < p->out.h; o[1]++) {
			for (o[2] = 0; o[2] < p->out.w; o[2]++, k++) {
				float best = -INFINITY, sum = 0.0f;
				size_t at = 0;

				window_of(p, o, lo, hi);
				for (size_t d = lo[0]; d < hi[0]; d++) {
					for (size_t h = lo[1]; h < hi[1]; h++) {
						const float *row = x + (d * p->in.h + h) * p->in.w;

						for (size_t w = lo[2]; w < hi[2]; w++) {
							sum += row[w];
							if (row[w] > best || at == 0) {
								best = row[w];
								at = (size_t)(row + w - x) + 1; /* +1: 0 means none yet */
							}
						}
					}
				}
				if (p->kind == FEDC_POOL_MAX) {
					y[k] = best;
					arg[k] = (uint32_t)(base + at - 1);
				} else {
					y[k] = sum * inv;
				}
			}
		}
	}
}

/* The common case, a 2-D max window without padding (depth window 1):
 * every window lies inside its plane, so no clipping, and the planes of all
 * samples and channels (and depth slices) are walked as one sequence. */
static bool is_plain_2d_max(const struct fedc_pool *p)
{
	const struct fedc_window *w = &p->win;

	return p->kind == FEDC_POOL_MAX && w->k[0] == 1 && w->stride[0] == 1 && w->pad[0] == 0 && w->pad[1] == 0 &&
	       w->pad[2] == 0;
}

static void max_2d_planes(const struct fedc_pool *p, const float *x, float *y, uint32_t *arg, size_t planes)
{
	size_t in_w = p->in.w, kh = p->win.k[1], kw = p->win.k[2], sh = p->win.stride[1], sw = p->win.stride[2];
	size_t in_plane = p->in.h * in_w, out_plane = p->out.h * p->out.w;

	for (size_t pl = 0; pl < planes; pl++) {
		const float *xp = x + pl * in_plane;
		size_t base = (pl % (p->in.c * p->in.d)) * in_plane; /* offset within its sample */
		size_t k = pl * out_plane;

		for (size_t oh = 0; oh < p->out.h; oh++) {
			for (size_t ow = 0; ow < p->out.w; ow++, k++) {
				size_t at = oh * sh * in_w + ow * sw;
				float best = xp[at];

				for (size_t a = 0; a < kh; a++) {
					const float *row = xp + (oh * sh + a) * in_w + ow * sw;

					for (size_t b = 0; b < kw; b++) {
						if (row[b] > best) {
							best = row[b];
							at = (oh * sh + a) * in_w + ow * sw + b;
						}
					}
				}
				y[k] = best;
				arg[k] = (uint32_t)(base + at);
			}
		}
	}
}

int fedc_pool_forward(struct fedc_pool *p, const struct fedc_mat *x, struct fedc_mat *y)
{
	size_t n = x->rows, in_sp = p->in.d * p->in.h * p->in.w, out_sp = p->out.d * p->out.h * p->out.w;

	if (!batch_ok(p, x, &p->in, n) || !batch_ok(p, y, &p->out, n))
		return FEDC_NN_ERR_SHAPE;
	if (is_plain_2d_max(p)) {
		max_2d_planes(p, x->data, y->data, p->argmax, n * p->in.c * p->in.d);
		return FEDC_NN_OK;
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t ch = 0; ch < p->in.c; ch++) {
			size_t k = i * y->cols + ch * out_sp;

			pool_channel(p, x->data + i * x->cols + ch * in_sp, y->data + k, p->argmax ? p->argmax + k : NULL,
				     ch * in_sp);
		}
	}
	return FEDC_NN_OK;
}

/* Average pooling's adjoint on one channel: each dy spread over its window. */
static void avg_back_channel(const struct fedc_pool *p, const float *dy, float *dx)
{
	float inv = 1.0f / (float)(p->win.k[0] * p->win.k[1] * p->win.k[2]);
	size_t o[3], lo[3], hi[3], k = 0;

	for (o[0] = 0; o[0] < p->out.d; o[0]++) {
		for (o[1] = 0; o[1] < p->out.h; o[1]++) {
			for (o[2] = 0; o[2] < p->out.w; o[2]++, k++) {
				float g = dy[k] * inv;

				window_of(p, o, lo, hi);
				for (size_t d = lo[0]; d < hi[0]; d++)
					for (size_t h = lo[1]; h < hi[1]; h++)
						for (size_t w = lo[2]; w < hi[2]; w++)
							dx[(d * p->in.h + h) * p->in.w + w] += g;
			}
		}
	}
}

int fedc_pool_backward(struct fedc_pool *p, const struct fedc_mat *dy, struct fedc_mat *dx)
{
	size_t n = dy->rows, in_sp = p->in.d * p->in.h * p->in.w, out_sp = p->out.d * p->out.h * p->out.w;

	if (!batch_ok(p, dy, &p->out, n) || !batch_ok(p, dx, &p->in, n))
		return FEDC_NN_ERR_SHAPE;
	fedc_mat_fill(dx, 0.0f);
	for (size_t i = 0; i < n; i++) {
		const float *g = dy->data + i * dy->cols;
		float *d = dx->data + i * dx->cols;

		if (p->kind == FEDC_POOL_MAX) {
			const uint32_t *arg = p->argmax + i * dy->cols;

			for (size_t k = 0; k < dy->cols; k++)
				d[arg[k]] += g[k];
			continue;
		}
		for (size_t ch = 0; ch < p->in.c; ch++)
			avg_back_channel(p, g + ch * out_sp, d + ch * in_sp);
	}
	return FEDC_NN_OK;
}
