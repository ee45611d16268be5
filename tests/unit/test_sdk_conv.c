/* Plan SDK: gradients of the CNN layers (convolution 2-D and 3-D on both
 * paths, pooling, batch norm, dropout), the segmentation losses and a whole
 * sequential model, against central finite differences of the float
 * forward pass, summed in double. The objective is L = sum r * y for a
 * fixed random r, so dL/dy = r. No ReLU inside these checks: a step must
 * never cross a kink. Max-pooling inputs are spaced apart by more than two
 * steps so that a step never changes which value is the maximum. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "fedc/nn.h"

#define EPS 1e-2f
#define ATOL 2e-3
#define RTOL 1e-2

typedef double (*objective_fn)(void *ctx);

static void check_grad(float *param, size_t n, const float *analytic, objective_fn f, void *ctx, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		float saved = param[i], up = saved + EPS, down = saved - EPS;
		double lp, lm, num;

		param[i] = up;
		lp = f(ctx);
		param[i] = down;
		lm = f(ctx);
		param[i] = saved;
		num = (lp - lm) / ((double)up - (double)down);
		if (fabs(num - analytic[i]) > ATOL + RTOL * fabs(num))
			fail_msg("%s[%zu]: analytic %.6g, numeric %.6g", what, i, (double)analytic[i], num);
	}
}

static void fill_uniform(struct fedc_mat *m, struct fedc_rng *rng, double lo, double hi)
{
	for (size_t i = 0; i < fedc_mat_len(m); i++)
		m->data[i] = (float)(lo + (hi - lo) * fedc_rng_uniform(rng));
}

static double weighted_sum(const struct fedc_mat *y, const struct fedc_mat *r)
{
	double s = 0.0;

	for (size_t i = 0; i < fedc_mat_len(y); i++)
		s += (double)y->data[i] * r->data[i];
	return s;
}

static void mat(struct fedc_mat *m, size_t rows, size_t cols)
{
	assert_int_equal(fedc_mat_init(m, rows, cols), 0);
}

/* ------------------------------------------------------------------ */
/* Convolution                                                         */

struct conv_ctx {
	struct fedc_conv conv;
	struct fedc_mat x, w, b, y, r;
};

static double conv_objective(void *p)
{
	struct conv_ctx *c = p;

	assert_int_equal(fedc_conv_forward(&c->conv, &c->x, &c->w, &c->b, FEDC_ACT_NONE, &c->y), 0);
	return weighted_sum(&c->y, &c->r);
}

static void check_conv(const struct fedc_vol *in, size_t out_c, const struct fedc_window *win, bool direct)
{
	struct conv_ctx c;
	struct fedc_mat dw, db, dx, dy;
	struct fedc_rng rng;
	const size_t n = 2;
	char what[96];

	memset(&c, 0, sizeof(c));
	assert_int_equal(fedc_conv_init(&c.conv, in, out_c, win), 0);
	c.conv.direct = direct;
	assert_int_equal(fedc_conv_reserve(&c.conv, n), 0);
	size_t taps = in->c * win->k[0] * win->k[1] * win->k[2], len_out = fedc_vol_len(&c.conv.out);
	mat(&c.x, n, fedc_vol_len(in)), mat(&c.w, out_c, taps), mat(&c.b, 1, out_c);
	mat(&c.y, n, len_out), mat(&c.r, n, len_out);
	mat(&dw, out_c, taps), mat(&db, 1, out_c), mat(&dx, n, fedc_vol_len(in)), mat(&dy, n, len_out);
	fedc_rng_seed(&rng, 5);
	fill_uniform(&c.x, &rng, -1, 1), fill_uniform(&c.w, &rng, -1, 1);
	fill_uniform(&c.b, &rng, -0.5, 0.5), fill_uniform(&c.r, &rng, -1, 1);
	conv_objective(&c);
	assert_int_equal(fedc_mat_copy(&dy, &c.r), 0);
	assert_int_equal(fedc_conv_backward(&c.conv, &c.x, &c.w, &c.y, FEDC_ACT_NONE, &dy, &dw, &db, &dx), 0);
	snprintf(what, sizeof(what), "%s k%zu s%zu p%zu dweight", direct ? "direct" : "im2col", win->k[2],
		 win->stride[2], win->pad[2]);
	check_grad(c.w.data, fedc_mat_len(&c.w), dw.data, conv_objective, &c, what);
	check_grad(c.b.data, fedc_mat_len(&c.b), db.data, conv_objective, &c, "dbias");
	check_grad(c.x.data, fedc_mat_len(&c.x), dx.data, conv_objective, &c, "dx");
	fedc_conv_release(&c.conv);
	fedc_mat_release(&c.x), fedc_mat_release(&c.w), fedc_mat_release(&c.b), fedc_mat_release(&c.y);
	fedc_mat_release(&c.r), fedc_mat_release(&dw), fedc_mat_release(&db), fedc_mat_release(&dx);
	fedc_mat_release(&dy);
}

static void test_conv2d_grad_strides_and_padding(void **state)
{
	struct fedc_vol in = { 2, 1, 7, 6 };

	for (size_t stride = 1; stride <= 2; stride++) {
		for (size_t pad = 0; pad <= 2; pad++) {
			struct fedc_window w = fedc_window_2d(3, stride, pad);

			check_conv(&in, 3, &w, false);
			check_conv(&in, 3, &w, true);
		}
	}
}

static void test_conv2d_grad_5x5(void **state)
{
	struct fedc_vol in = { 1, 1, 9, 9 };
	struct fedc_window w = fedc_window_2d(5, 1, 0);

	check_conv(&in, 2, &w, false);
	check_conv(&in, 2, &w, true);
}

static void test_conv3d_grad(void **state)
{
	struct fedc_vol in = { 2, 4, 5, 4 };

	for (size_t stride = 1; stride <= 2; stride++) {
		for (size_t pad = 0; pad <= 1; pad++) {
			struct fedc_window w = fedc_window_3d(3, stride, pad);

			check_conv(&in, 2, &w, false);
			check_conv(&in, 2, &w, true);
		}
	}
}

/* Sixteen output channels, stride 1, no padding: the vec16 path (a full block
 * of 8 positions per output row, then rows of 11 = 8 + a remainder of 3),
 * its gradients checked, and its ReLU outputs those of im2col. */
static void test_conv2d_grad_vec16(void **state)
{
	struct fedc_vol narrow = { 3, 1, 9, 12 }, wide = { 2, 1, 7, 15 };
	struct fedc_window w5 = fedc_window_2d(5, 1, 0);
	struct fedc_conv a, b;
	struct fedc_mat x, w, bias, ya, yb;
	struct fedc_rng rng;

	check_conv(&narrow, 16, &w5, false);
	check_conv(&wide, 16, &w5, false);
	assert_int_equal(fedc_conv_init(&a, &wide, 16, &w5), 0);
	assert_int_equal(fedc_conv_init(&b, &wide, 16, &w5), 0);
	assert_true(a.vec16);
	b.vec16 = false;
	assert_int_equal(fedc_conv_reserve(&a, 3), 0);
	assert_int_equal(fedc_conv_reserve(&b, 3), 0);
	mat(&x, 3, fedc_vol_len(&wide)), mat(&w, 16, 50), mat(&bias, 1, 16);
	mat(&ya, 3, fedc_vol_len(&a.out)), mat(&yb, 3, fedc_vol_len(&b.out));
	fedc_rng_seed(&rng, 10);
	fill_uniform(&x, &rng, -1, 1), fill_uniform(&w, &rng, -1, 1), fill_uniform(&bias, &rng, -1, 1);
	assert_int_equal(fedc_conv_forward(&a, &x, &w, &bias, FEDC_ACT_RELU, &ya), 0);
	assert_int_equal(fedc_conv_forward(&b, &x, &w, &bias, FEDC_ACT_RELU, &yb), 0);
	for (size_t i = 0; i < fedc_mat_len(&ya); i++)
		assert_float_equal(ya.data[i], yb.data[i], 1e-5);
	fedc_conv_release(&a), fedc_conv_release(&b);
	fedc_mat_release(&x), fedc_mat_release(&w), fedc_mat_release(&bias), fedc_mat_release(&ya);
	fedc_mat_release(&yb);
}

/* Both paths compute the same function. */
static void test_conv_paths_agree(void **state)
{
	struct fedc_vol in = { 3, 1, 10, 9 };
	struct fedc_window win = fedc_window_2d(3, 2, 1);
	struct fedc_conv a, b;
	struct fedc_mat x, w, bias, ya, yb;
	struct fedc_rng rng;

	assert_int_equal(fedc_conv_init(&a, &in, 4, &win), 0);
	assert_int_equal(fedc_conv_init(&b, &in, 4, &win), 0);
	a.direct = false, b.direct = true;
	assert_int_equal(fedc_conv_reserve(&a, 3), 0);
	assert_int_equal(fedc_conv_reserve(&b, 3), 0);
	mat(&x, 3, fedc_vol_len(&in)), mat(&w, 4, 27), mat(&bias, 1, 4);
	mat(&ya, 3, fedc_vol_len(&a.out)), mat(&yb, 3, fedc_vol_len(&b.out));
	fedc_rng_seed(&rng, 9);
	fill_uniform(&x, &rng, -1, 1), fill_uniform(&w, &rng, -1, 1), fill_uniform(&bias, &rng, -1, 1);
	assert_int_equal(fedc_conv_forward(&a, &x, &w, &bias, FEDC_ACT_RELU, &ya), 0);
	assert_int_equal(fedc_conv_forward(&b, &x, &w, &bias, FEDC_ACT_RELU, &yb), 0);
	for (size_t i = 0; i < fedc_mat_len(&ya); i++)
		assert_float_equal(ya.data[i], yb.data[i], 1e-5);
	fedc_conv_release(&a), fedc_conv_release(&b);
	fedc_mat_release(&x), fedc_mat_release(&w), fedc_mat_release(&bias), fedc_mat_release(&ya);
	fedc_mat_release(&yb);
}

/* A first layer skips its input gradient; its weight gradient is the same
 * either way (the direct path then sums a row of five taps at once). */
static void test_conv_first_layer_weight_grad(void **state)
{
	struct fedc_vol in = { 2, 1, 9, 9 };
	struct fedc_window win = fedc_window_2d(5, 1, 0);
	struct fedc_conv c;
	struct fedc_mat x, w, b, y, dy, dw1, dw2, db, dx;
	struct fedc_rng rng;

	for (int direct = 0; direct < 2; direct++) {
		assert_int_equal(fedc_conv_init(&c, &in, 3, &win), 0);
		c.direct = direct;
		assert_int_equal(fedc_conv_reserve(&c, 2), 0);
		mat(&x, 2, 162), mat(&w, 3, 50), mat(&b, 1, 3), mat(&y, 2, 75), mat(&dy, 2, 75);
		mat(&dw1, 3, 50), mat(&dw2, 3, 50), mat(&db, 1, 3), mat(&dx, 2, 162);
		fedc_rng_seed(&rng, 21);
		fill_uniform(&x, &rng, -1, 1), fill_uniform(&w, &rng, -1, 1);
		assert_int_equal(fedc_conv_forward(&c, &x, &w, &b, FEDC_ACT_NONE, &y), 0);
		fill_uniform(&dy, &rng, -1, 1);
		assert_int_equal(fedc_conv_backward(&c, &x, &w, &y, FEDC_ACT_NONE, &dy, &dw1, &db, &dx), 0);
		/* one backward per forward: im2col's buffer then holds dL/dcols */
		assert_int_equal(fedc_conv_forward(&c, &x, &w, &b, FEDC_ACT_NONE, &y), 0);
		assert_int_equal(fedc_conv_backward(&c, &x, &w, &y, FEDC_ACT_NONE, &dy, &dw2, &db, NULL), 0);
		for (size_t i = 0; i < 150; i++)
			assert_float_equal(dw1.data[i], dw2.data[i], 1e-4);
		fedc_conv_release(&c);
		fedc_mat_release(&x), fedc_mat_release(&w), fedc_mat_release(&b), fedc_mat_release(&y);
		fedc_mat_release(&dy), fedc_mat_release(&dw1), fedc_mat_release(&dw2), fedc_mat_release(&db);
		fedc_mat_release(&dx);
	}
}

static void test_conv_shape_errors(void **state)
{
	struct fedc_vol in = { 1, 1, 4, 4 }, out;
	struct fedc_window big = fedc_window_2d(5, 1, 0), pad_k = fedc_window_2d(3, 1, 3), zero = fedc_window_2d(3, 0, 0);
	struct fedc_conv c;
	struct fedc_mat x, w, b, y;

	assert_int_equal(fedc_window_out(&big, &in, 1, &out), FEDC_NN_ERR_SHAPE);
	assert_int_equal(fedc_window_out(&pad_k, &in, 1, &out), FEDC_NN_ERR_SHAPE);
	assert_int_equal(fedc_window_out(&zero, &in, 1, &out), FEDC_NN_ERR_SHAPE);
	big = fedc_window_2d(3, 1, 0);
	assert_int_equal(fedc_conv_init(&c, &in, 2, &big), 0);
	assert_int_equal(fedc_conv_reserve(&c, 1), 0);
	mat(&x, 2, 16), mat(&w, 2, 9), mat(&b, 1, 2), mat(&y, 2, 8);
	/* two samples, reserved for one */
	assert_int_equal(fedc_conv_forward(&c, &x, &w, &b, FEDC_ACT_NONE, &y), FEDC_NN_ERR_SHAPE);
	assert_int_equal(fedc_conv_reserve(&c, 2), 0);
	assert_int_equal(fedc_conv_forward(&c, &x, &w, &b, FEDC_ACT_NONE, &y), 0);
	assert_int_equal(fedc_conv_forward(&c, &x, &b, &w, FEDC_ACT_NONE, &y), FEDC_NN_ERR_SHAPE);
	fedc_conv_release(&c);
	fedc_mat_release(&x), fedc_mat_release(&w), fedc_mat_release(&b), fedc_mat_release(&y);
}

/* ------------------------------------------------------------------ */
/* Pooling                                                             */

struct pool_ctx {
	struct fedc_pool pool;
	struct fedc_mat x, y, r;
};

static double pool_objective(void *p)
{
	struct pool_ctx *c = p;

	assert_int_equal(fedc_pool_forward(&c->pool, &c->x, &c->y), 0);
	return weighted_sum(&c->y, &c->r);
}

/* Values 0.05 apart in a shuffled order: no ties, and a step of EPS
 * never reorders two of them. */
static void fill_spaced(struct fedc_mat *m, struct fedc_rng *rng)
{
	size_t n = fedc_mat_len(m);
	uint32_t order[4096];

	assert_true(n <= 4096);
	for (size_t i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	fedc_rng_shuffle(rng, order, n);
	for (size_t i = 0; i < n; i++)
		m->data[i] = 0.05f * (float)order[i] - 0.025f * (float)n;
}

static void check_pool(enum fedc_pool_kind kind, const struct fedc_vol *in, const struct fedc_window *win,
		       bool global)
{
	struct pool_ctx c;
	struct fedc_mat dx, dy;
	struct fedc_rng rng;
	const size_t n = 2;
	char what[64];

	memset(&c, 0, sizeof(c));
	if (global)
		assert_int_equal(fedc_pool_init_global(&c.pool, in), 0);
	else
		assert_int_equal(fedc_pool_init(&c.pool, kind, in, win), 0);
	assert_int_equal(fedc_pool_reserve(&c.pool, n), 0);
	size_t len_in = fedc_vol_len(in), len_out = fedc_vol_len(&c.pool.out);
	mat(&c.x, n, len_in), mat(&c.y, n, len_out), mat(&c.r, n, len_out), mat(&dx, n, len_in), mat(&dy, n, len_out);
	fedc_rng_seed(&rng, 3);
	fill_spaced(&c.x, &rng), fill_uniform(&c.r, &rng, -1, 1);
	pool_objective(&c);
	assert_int_equal(fedc_mat_copy(&dy, &c.r), 0);
	assert_int_equal(fedc_pool_backward(&c.pool, &dy, &dx), 0);
	snprintf(what, sizeof(what), "%s k%zu s%zu p%zu dx", kind == FEDC_POOL_MAX ? "max" : "avg",
		 global ? 0 : win->k[2], global ? 0 : win->stride[2], global ? 0 : win->pad[2]);
	check_grad(c.x.data, len_in, dx.data, pool_objective, &c, what);
	fedc_pool_release(&c.pool);
	fedc_mat_release(&c.x), fedc_mat_release(&c.y), fedc_mat_release(&c.r), fedc_mat_release(&dx);
	fedc_mat_release(&dy);
}

static void test_pool2d_grad(void **state)
{
	struct fedc_vol in = { 2, 1, 7, 8 };
	const size_t combos[][3] = { { 2, 2, 0 }, { 2, 1, 0 }, { 3, 2, 1 }, { 3, 1, 1 }, { 3, 3, 0 } };

	for (size_t i = 0; i < sizeof(combos) / sizeof(combos[0]); i++) {
		struct fedc_window w = fedc_window_2d(combos[i][0], combos[i][1], combos[i][2]);

		check_pool(FEDC_POOL_MAX, &in, &w, false);
		check_pool(FEDC_POOL_AVG, &in, &w, false);
	}
}

static void test_pool3d_grad(void **state)
{
	struct fedc_vol in = { 2, 4, 5, 4 };
	struct fedc_window a = fedc_window_3d(2, 2, 0), b = fedc_window_3d(3, 2, 1);

	check_pool(FEDC_POOL_MAX, &in, &a, false);
	check_pool(FEDC_POOL_AVG, &in, &a, false);
	check_pool(FEDC_POOL_MAX, &in, &b, false);
	check_pool(FEDC_POOL_AVG, &in, &b, false);
}

static void test_global_avgpool_grad(void **state)
{
	struct fedc_vol in = { 3, 2, 3, 4 };

	check_pool(FEDC_POOL_AVG, &in, NULL, true);
}

static void test_maxpool_values(void **state)
{
	struct fedc_vol in = { 1, 1, 2, 4 };
	struct fedc_window w = fedc_window_2d(2, 2, 0);
	struct fedc_pool p;
	float xv[8] = { 1, 5, 2, 0, 3, 4, 8, 7 }, yv[2];
	struct fedc_mat x = fedc_mat_view(xv, 1, 8), y = fedc_mat_view(yv, 1, 2);

	assert_int_equal(fedc_pool_init(&p, FEDC_POOL_MAX, &in, &w), 0);
	assert_int_equal(fedc_pool_reserve(&p, 1), 0);
	assert_int_equal(fedc_pool_forward(&p, &x, &y), 0);
	assert_float_equal(yv[0], 5.0f, 0), assert_float_equal(yv[1], 8.0f, 0);
	fedc_pool_release(&p);
}

/* ------------------------------------------------------------------ */
/* Batch norm (training mode: batch statistics)                        */

struct bn_ctx {
	struct fedc_batchnorm bn;
	struct fedc_mat x, w, b, rm, rv, y, r;
};

static double bn_objective(void *p)
{
	struct bn_ctx *c = p;

	assert_int_equal(fedc_batchnorm_forward(&c->bn, true, &c->x, &c->w, &c->b, &c->rm, &c->rv, FEDC_ACT_NONE,
						&c->y),
			 0);
	return weighted_sum(&c->y, &c->r);
}

static void check_bn(const struct fedc_vol *vol, size_t n)
{
	struct bn_ctx c;
	struct fedc_mat dw, db, dx, dy;
	struct fedc_rng rng;
	size_t len = fedc_vol_len(vol);

	memset(&c, 0, sizeof(c));
	assert_int_equal(fedc_batchnorm_init(&c.bn, vol, 0.1, 1e-5), 0);
	assert_int_equal(fedc_batchnorm_reserve(&c.bn, n), 0);
	mat(&c.x, n, len), mat(&c.w, 1, vol->c), mat(&c.b, 1, vol->c), mat(&c.rm, 1, vol->c), mat(&c.rv, 1, vol->c);
	mat(&c.y, n, len), mat(&c.r, n, len), mat(&dw, 1, vol->c), mat(&db, 1, vol->c), mat(&dx, n, len);
	mat(&dy, n, len);
	fedc_batchnorm_init_params(&c.w, &c.b, &c.rm, &c.rv);
	fedc_rng_seed(&rng, 8);
	fill_uniform(&c.x, &rng, -2, 2), fill_uniform(&c.w, &rng, 0.5, 1.5), fill_uniform(&c.b, &rng, -1, 1);
	fill_uniform(&c.r, &rng, -1, 1);
	bn_objective(&c);
	assert_int_equal(fedc_mat_copy(&dy, &c.r), 0);
	assert_int_equal(fedc_batchnorm_backward(&c.bn, &c.w, &c.y, FEDC_ACT_NONE, &dy, &dw, &db, &dx), 0);
	check_grad(c.w.data, vol->c, dw.data, bn_objective, &c, "bn dweight");
	check_grad(c.b.data, vol->c, db.data, bn_objective, &c, "bn dbias");
	check_grad(c.x.data, n * len, dx.data, bn_objective, &c, "bn dx");
	fedc_batchnorm_release(&c.bn);
	fedc_mat_release(&c.x), fedc_mat_release(&c.w), fedc_mat_release(&c.b), fedc_mat_release(&c.rm);
	fedc_mat_release(&c.rv), fedc_mat_release(&c.y), fedc_mat_release(&c.r), fedc_mat_release(&dw);
	fedc_mat_release(&db), fedc_mat_release(&dx), fedc_mat_release(&dy);
}

static void test_batchnorm_grad(void **state)
{
	struct fedc_vol image = { 3, 1, 3, 2 }, flat = { 5, 1, 1, 1 };

	check_bn(&image, 3);
	check_bn(&flat, 6);
}

/* Running statistics as torch moves them, and evaluation uses them. */
static void test_batchnorm_running_stats(void **state)
{
	struct fedc_vol vol = { 1, 1, 1, 2 };
	struct fedc_batchnorm bn;
	float xv[4] = { 1, 2, 3, 6 }, yv[4], w = 1, b = 0, rm = 0, rv = 1;
	struct fedc_mat x = fedc_mat_view(xv, 2, 2), y = fedc_mat_view(yv, 2, 2);
	struct fedc_mat mw = fedc_mat_view(&w, 1, 1), mb = fedc_mat_view(&b, 1, 1);
	struct fedc_mat mrm = fedc_mat_view(&rm, 1, 1), mrv = fedc_mat_view(&rv, 1, 1);

	assert_int_equal(fedc_batchnorm_init(&bn, &vol, 0.1, 1e-5), 0);
	assert_int_equal(fedc_batchnorm_reserve(&bn, 2), 0);
	assert_int_equal(fedc_batchnorm_forward(&bn, true, &x, &mw, &mb, &mrm, &mrv, FEDC_ACT_NONE, &y), 0);
	/* mean 3, unbiased variance (4+1+0+9)/3 */
	assert_float_equal(rm, 0.1f * 3.0f, 1e-6);
	assert_float_equal(rv, 0.9f + 0.1f * 14.0f / 3.0f, 1e-6);
	assert_int_equal(fedc_batchnorm_forward(&bn, false, &x, &mw, &mb, &mrm, &mrv, FEDC_ACT_NONE, &y), 0);
	assert_float_equal(yv[0], (1.0f - rm) / sqrtf(rv + 1e-5f), 1e-5);
	/* a training batch of one value per channel has no variance */
	x = fedc_mat_view(xv, 1, 1);
	vol.w = 1;
	fedc_batchnorm_release(&bn);
	assert_int_equal(fedc_batchnorm_init(&bn, &vol, 0.1, 1e-5), 0);
	assert_int_equal(fedc_batchnorm_reserve(&bn, 1), 0);
	y = fedc_mat_view(yv, 1, 1);
	assert_int_equal(fedc_batchnorm_forward(&bn, true, &x, &mw, &mb, &mrm, &mrv, FEDC_ACT_NONE, &y),
			 FEDC_NN_ERR_SHAPE);
	fedc_batchnorm_release(&bn);
	assert_int_equal(fedc_batchnorm_init(&bn, &vol, 0.0, 1e-5), FEDC_NN_ERR_INVAL);
}

/* ------------------------------------------------------------------ */
/* Dropout                                                             */

static void test_dropout(void **state)
{
	struct fedc_dropout d;
	struct fedc_rng rng;
	struct fedc_mat x, y, dy, dx;
	size_t zeros = 0;

	assert_int_equal(fedc_dropout_init(&d, 100, 0.25), 0);
	assert_int_equal(fedc_dropout_reserve(&d, 40), 0);
	mat(&x, 40, 100), mat(&y, 40, 100), mat(&dy, 40, 100), mat(&dx, 40, 100);
	fedc_mat_fill(&x, 2.0f), fedc_mat_fill(&dy, 1.0f);
	fedc_rng_seed(&rng, 1);
	assert_int_equal(fedc_dropout_forward(&d, true, &rng, &x, &y), 0);
	assert_int_equal(fedc_dropout_backward(&d, &dy, &dx), 0);
	for (size_t i = 0; i < 4000; i++) {
		assert_true(y.data[i] == 0.0f || fabsf(y.data[i] - 2.0f / 0.75f) < 1e-6f);
		assert_float_equal(dx.data[i], y.data[i] / 2.0f, 1e-6);
		zeros += y.data[i] == 0.0f;
	}
	assert_in_range(zeros, 850, 1150); /* 1000 expected, sd 27 */
	assert_int_equal(fedc_dropout_forward(&d, false, &rng, &x, &y), 0);
	for (size_t i = 0; i < 4000; i++)
		assert_float_equal(y.data[i], 2.0f, 0);
	fedc_dropout_release(&d);
	assert_int_equal(fedc_dropout_init(&d, 100, 1.0), FEDC_NN_ERR_INVAL);
	fedc_mat_release(&x), fedc_mat_release(&y), fedc_mat_release(&dy), fedc_mat_release(&dx);
}

/* ------------------------------------------------------------------ */
/* Segmentation losses                                                 */

struct seg_ctx {
	struct fedc_mat z;
	const float *y;
	size_t classes;
	enum fedc_loss kind;
};

static double seg_objective(void *p)
{
	struct seg_ctx *c = p;
	double loss = 0.0;

	assert_int_equal(fedc_loss_k(c->kind, &c->z, c->classes, c->y, &loss, NULL), 0);
	return loss;
}

static void check_seg(enum fedc_loss kind)
{
	/* 2 samples, 3 classes, 4 voxels; class 2 absent from sample 0 */
	const float y[8] = { 0, 1, 1, 0, 2, 1, 0, 2 };
	struct seg_ctx c = { .y = y, .classes = 3, .kind = kind };
	struct fedc_mat dz;
	struct fedc_rng rng;
	double loss;

	mat(&c.z, 2, 12), mat(&dz, 2, 12);
	fedc_rng_seed(&rng, 4);
	fill_uniform(&c.z, &rng, -2, 2);
	assert_int_equal(fedc_loss_k(kind, &c.z, 3, y, &loss, &dz), 0);
	assert_float_equal(loss, seg_objective(&c), 1e-9);
	check_grad(c.z.data, 24, dz.data, seg_objective, &c, kind == FEDC_LOSS_DICE ? "dice dz" : "voxel ce dz");
	fedc_mat_release(&c.z), fedc_mat_release(&dz);
}

static void test_dice_loss_grad(void **state)
{
	check_seg(FEDC_LOSS_DICE);
}

static void test_voxel_ce_grad(void **state)
{
	check_seg(FEDC_LOSS_VOXEL_CE);
}

/* A confident perfect prediction has Dice loss near 0, and a class index
 * out of range is refused. */
static void test_dice_loss_values(void **state)
{
	const float y[4] = { 0, 1, 1, 0 }, bad[4] = { 0, 1, 2, 0 };
	float zv[8] = { 20, -20, -20, 20, -20, 20, 20, -20 }; /* class 0 channel, then class 1 */
	struct fedc_mat z = fedc_mat_view(zv, 1, 8);
	double loss;

	assert_int_equal(fedc_loss_dice(&z, 2, y, &loss, NULL), 0);
	assert_true(loss < 1e-6);
	assert_int_equal(fedc_loss_dice(&z, 2, bad, &loss, NULL), FEDC_NN_ERR_DATA);
	assert_int_equal(fedc_loss_dice(&z, 3, y, &loss, NULL), FEDC_NN_ERR_SHAPE);
	/* all wrong: every class's Dice is about 0 */
	for (size_t i = 0; i < 8; i++)
		zv[i] = -zv[i];
	assert_int_equal(fedc_loss_dice(&z, 2, y, &loss, NULL), 0);
	assert_float_equal(loss, 1.0, 1e-4); /* the smoothing leaves s / (2 + s) per class */
}

/* ------------------------------------------------------------------ */
/* A whole sequential model: every parameter's gradient                */

struct seq_ctx {
	struct fedc_seq seq;
	struct fedc_mat x;
	const float *y;
};

static double seq_objective(void *p)
{
	struct seq_ctx *c = p;
	struct fedc_mat out;
	double loss = 0.0;

	assert_int_equal(fedc_seq_forward(&c->seq, &c->x, &out), 0);
	assert_int_equal(fedc_loss(FEDC_LOSS_SOFTMAX_CE, &out, c->y, &loss, NULL), 0);
	return loss;
}

static void test_seq_model_grad(void **state)
{
	static struct seq_ctx c;
	const float y[3] = { 0, 2, 1 };
	struct fedc_seq_cfg cfg = {
		.input = { 2, 1, 6, 6 },
		.n_layers = 8,
		.layers = { fedc_layer_conv2d(3, 3, 1, 1, FEDC_ACT_NONE), fedc_layer_batchnorm(FEDC_ACT_SIGMOID, false),
			    fedc_layer_pool(FEDC_POOL_AVG, fedc_window_2d(2, 2, 0)),
			    fedc_layer_conv2d(4, 3, 2, 1, FEDC_ACT_SIGMOID), fedc_layer_global_avgpool(),
			    fedc_layer_flatten(), fedc_layer_dense(5, FEDC_ACT_SIGMOID),
			    fedc_layer_dense(3, FEDC_ACT_NONE) },
		.seed = 3,
	};
	struct fedc_rng rng;
	double loss;

	c.y = y;
	assert_int_equal(fedc_seq_init(&c.seq, &cfg), 0);
	fedc_seq_set_training(&c.seq, true);
	mat(&c.x, 3, 72);
	fedc_rng_seed(&rng, 12);
	fill_uniform(&c.x, &rng, -1, 1);
	assert_int_equal(fedc_seq_step(&c.seq, FEDC_LOSS_SOFTMAX_CE, &c.x, y, &loss, NULL), 0);
	assert_float_equal(loss, seq_objective(&c), 1e-6);
	for (size_t k = 0; k < c.seq.params.count; k++) {
		struct fedc_param *p = &c.seq.params.items[k];

		if (p->trainable)
			check_grad(p->value.data, fedc_mat_len(&p->value), p->grad.data, seq_objective, &c, p->name);
	}
	fedc_seq_release(&c.seq);
	fedc_mat_release(&c.x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conv2d_grad_strides_and_padding),
		cmocka_unit_test(test_conv2d_grad_5x5),
		cmocka_unit_test(test_conv3d_grad),
		cmocka_unit_test(test_conv2d_grad_vec16),
		cmocka_unit_test(test_conv_paths_agree),
		cmocka_unit_test(test_conv_first_layer_weight_grad),
		cmocka_unit_test(test_conv_shape_errors),
		cmocka_unit_test(test_pool2d_grad),
		cmocka_unit_test(test_pool3d_grad),
		cmocka_unit_test(test_global_avgpool_grad),
		cmocka_unit_test(test_maxpool_values),
		cmocka_unit_test(test_batchnorm_grad),
		cmocka_unit_test(test_batchnorm_running_stats),
		cmocka_unit_test(test_dropout),
		cmocka_unit_test(test_dice_loss_grad),
		cmocka_unit_test(test_voxel_ce_grad),
		cmocka_unit_test(test_dice_loss_values),
		cmocka_unit_test(test_seq_model_grad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
