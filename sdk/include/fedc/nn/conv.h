/* Convolution and pooling over batches of images (NCHW) and volumes (NCDHW).
 *
 * A batch is a struct fedc_mat [n, C*D*H*W]: one row per sample, channels
 * first, as the node lays out a struct fedc_data with a sample_shape. An
 * image is a volume of depth 1, so one code path serves 2-D and 3-D: a 2-D
 * window has k[0] = stride[0] = 1 and pad[0] = 0.
 *
 * Each layer is a small struct holding its geometry and the buffers its
 * passes need, sized once by *_reserve() for the largest batch, so that a
 * forward or backward pass allocates nothing. Every pass checks shapes and
 * returns 0 or FEDC_NN_ERR_SHAPE (a batch larger than reserved is a shape
 * error too). A layer must not be moved in memory while it holds buffers. */
#ifndef FEDC_NN_CONV_H
#define FEDC_NN_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/nn/layers.h"
#include "fedc/nn/mat.h"
#include "fedc/nn/rng.h"

/* One sample's shape: channels, depth, height, width (d = 1 for an image;
 * h = w = d = 1 for a plain vector of c features). */
struct fedc_vol {
	size_t c, d, h, w;
};

static inline size_t fedc_vol_len(const struct fedc_vol *v)
{
	return v->c * v->d * v->h * v->w;
}

/* A sliding window per spatial axis, [0] depth, [1] height, [2] width:
 * kernel size, stride and zero padding on both sides. */
struct fedc_window {
	size_t k[3], stride[3], pad[3];
};

/* The 2-D window k x k, stride s, padding p (depth 1). */
static inline struct fedc_window fedc_window_2d(size_t k, size_t s, size_t p)
{
	struct fedc_window w = { { 1, k, k }, { 1, s, s }, { 0, p, p } };
	return w;
}
/* The cubic 3-D window k^3, stride s, padding p. */
static inline struct fedc_window fedc_window_3d(size_t k, size_t s, size_t p)
{
	struct fedc_window w = { { k, k, k }, { s, s, s }, { p, p, p } };
	return w;
}

/* The output shape of sliding `win` over `in`, with `channels` channels:
 * (in + 2 pad - k) / stride + 1 per axis. Returns 0, or FEDC_NN_ERR_SHAPE
 * when a size or stride is zero, a padding is not smaller than its kernel,
 * or the window does not fit. */
int fedc_window_out(const struct fedc_window *win, const struct fedc_vol *in, size_t channels,
		    struct fedc_vol *out);

/* ---- convolution ----
 * weight [out.c, in.c * k0 * k1 * k2] (torch's [O, I, kD, kH, kW] or
 * [O, I, kH, kW] flattened after O), bias [1, out.c]. Computed either as
 * im2col of the whole batch and one cblas_sgemm, or directly (rows of
 * output updated by rows of input: no im2col buffer), which is faster when
 * the product would be thin (few channels) and output rows are long. */
struct fedc_conv {
	struct fedc_vol in, out;
	struct fedc_window win;
	bool direct;          /* fedc_conv_init picks it from the shape; may be changed before reserving */
	size_t capacity;      /* rows (samples) the buffers hold */
	struct fedc_mat cols; /* im2col: of the last forward batch, kept for backward */
	struct fedc_mat tmp;  /* im2col: the product, sample-major; direct: weight-gradient partial sums */
	/* Sixteen output channels, stride 1, no padding, 2-D (NIID-Bench's
	 * second conv): forward and weight gradient run direct with the 16
	 * channels of a position in one vector (aux: the weights tap-major
	 * [K][16], one sample's dz position-major [P][16]); only the input
	 * gradient goes through the product and col2im. Set by fedc_conv_init. */
	bool vec16;
	struct fedc_mat aux;
};

/* Sets the geometry (no buffers yet). Returns 0 or FEDC_NN_ERR_SHAPE. */
int fedc_conv_init(struct fedc_conv *c, const struct fedc_vol *in, size_t out_channels, const struct fedc_window *win);
/* Makes the buffers hold at least `rows` samples: 0 or FEDC_NN_ERR_NOMEM. */
int fedc_conv_reserve(struct fedc_conv *c, size_t rows);
void fedc_conv_release(struct fedc_conv *c);
/* Seeded initialisation of weight (fan-in in.c * kernel volume, `init` as
 * for dense layers) and bias (zero). */
void fedc_conv_init_params(const struct fedc_conv *c, struct fedc_mat *weight, struct fedc_mat *bias,
			   enum fedc_init init, struct fedc_rng *rng);
/* y [n, len(out)] = act(conv(x [n, len(in)]) + bias). */
int fedc_conv_forward(struct fedc_conv *c, const struct fedc_mat *x, const struct fedc_mat *weight,
		      const struct fedc_mat *bias, enum fedc_act act, struct fedc_mat *y);
/* Backward after fedc_conv_forward(x) gave y, once per forward pass (the
 * im2col buffer is reused for dL/dcols): dy holds dL/dy and is overwritten
 * with dL/d(pre-activation); dweight and dbias are overwritten; dx (NULL
 * for a first layer) gets dL/dx. */
int fedc_conv_backward(struct fedc_conv *c, const struct fedc_mat *x, const struct fedc_mat *weight,
		       const struct fedc_mat *y, enum fedc_act act, struct fedc_mat *dy, struct fedc_mat *dweight,
		       struct fedc_mat *dbias, struct fedc_mat *dx);

/* ---- pooling ---- */
enum fedc_pool_kind {
	FEDC_POOL_MAX = 0, /* padding never wins (it is -inf) */
	FEDC_POOL_AVG,     /* divides by the whole window, padding included (torch's default) */
};

struct fedc_pool {
	enum fedc_pool_kind kind;
	struct fedc_vol in, out; /* out.c == in.c */
	struct fedc_window win;
	size_t capacity;
	uint32_t *argmax; /* MAX: [capacity * len(out)] input offset of each maximum */
};

int fedc_pool_init(struct fedc_pool *p, enum fedc_pool_kind kind, const struct fedc_vol *in,
		   const struct fedc_window *win);
/* Global average pooling: the window is the whole input, out is [C,1,1,1]. */
int fedc_pool_init_global(struct fedc_pool *p, const struct fedc_vol *in);
int fedc_pool_reserve(struct fedc_pool *p, size_t rows);
void fedc_pool_release(struct fedc_pool *p);
int fedc_pool_forward(struct fedc_pool *p, const struct fedc_mat *x, struct fedc_mat *y);
/* dx = dL/dx from dy = dL/dy (overwritten, not accumulated). */
int fedc_pool_backward(struct fedc_pool *p, const struct fedc_mat *dy, struct fedc_mat *dx);

#endif
