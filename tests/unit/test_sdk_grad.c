/* Plan SDK: every layer's and loss's gradient against central finite
 * differences of the float forward pass, summed in double. Steps of 1e-2
 * keep float rounding well below the tolerance; ReLU inputs are kept away
 * from its kink so that a step never crosses it. */
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

/* Compares analytic[i] with the central difference of f in param[i]. */
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

/* Keeps values at least 0.1 away from 0, for ReLU. */
static void away_from_zero(struct fedc_mat *m)
{
	for (size_t i = 0; i < fedc_mat_len(m); i++) {
		if (fabsf(m->data[i]) < 0.1f)
			m->data[i] = m->data[i] < 0 ? -0.1f - m->data[i] : 0.1f + m->data[i];
	}
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
/* Dense layer: L = sum r * act(x W^T + b)                              */

struct dense_ctx {
	struct fedc_mat x, w, b, y, r;
	enum fedc_act act;
};

static double dense_objective(void *p)
{
	struct dense_ctx *c = p;

	assert_int_equal(fedc_dense_forward(&c->x, &c->w, &c->b, c->act, &c->y), 0);
	return weighted_sum(&c->y, &c->r);
}

static void check_dense(enum fedc_act act)
{
	struct dense_ctx c = { .act = act };
	struct fedc_mat dw, db, dx, dy;
	struct fedc_rng rng;
	const size_t n = 3, in = 4, out = 5;

	mat(&c.x, n, in), mat(&c.w, out, in), mat(&c.b, 1, out), mat(&c.y, n, out), mat(&c.r, n, out);
	mat(&dw, out, in), mat(&db, 1, out), mat(&dx, n, in), mat(&dy, n, out);
	/* For ReLU, the first seed whose pre-activations all keep clear of the
	 * kink: a step of EPS in x or W (|x|, |W| <= 1) moves one by at most
	 * EPS; ask for 8 EPS of margin. */
	for (uint64_t seed = 7;; seed++) {
		bool clear = true;

		assert_true(seed < 1000);
		fedc_rng_seed(&rng, seed);
		fill_uniform(&c.x, &rng, -1, 1), fill_uniform(&c.w, &rng, -1, 1);
		fill_uniform(&c.b, &rng, -0.5, 0.5), fill_uniform(&c.r, &rng, -1, 1);
		assert_int_equal(fedc_dense_forward(&c.x, &c.w, &c.b, FEDC_ACT_NONE, &c.y), 0);
		for (size_t i = 0; i < n * out; i++)
			clear = clear && fabsf(c.y.data[i]) > 8 * EPS;
		if (clear || act != FEDC_ACT_RELU)
			break;
	}
	dense_objective(&c);
	assert_int_equal(fedc_mat_copy(&dy, &c.r), 0);
	assert_int_equal(fedc_dense_backward(&c.x, &c.w, &c.y, act, &dy, &dw, &db, &dx), 0);
	check_grad(c.w.data, fedc_mat_len(&c.w), dw.data, dense_objective, &c, "dweight");
	check_grad(c.b.data, fedc_mat_len(&c.b), db.data, dense_objective, &c, "dbias");
	check_grad(c.x.data, fedc_mat_len(&c.x), dx.data, dense_objective, &c, "dx");
	fedc_mat_release(&c.x), fedc_mat_release(&c.w), fedc_mat_release(&c.b), fedc_mat_release(&c.y);
	fedc_mat_release(&c.r), fedc_mat_release(&dw), fedc_mat_release(&db), fedc_mat_release(&dx);
	fedc_mat_release(&dy);
}

static void test_dense_linear_grad(void **state)
{
	check_dense(FEDC_ACT_NONE);
}

static void test_dense_relu_grad(void **state)
{
	check_dense(FEDC_ACT_RELU);
}

static void test_dense_sigmoid_grad(void **state)
{
	check_dense(FEDC_ACT_SIGMOID);
}

static void test_dense_no_input_grad(void **state)
{
	struct fedc_mat x, w, b, y, dw, db;

	mat(&x, 2, 3), mat(&w, 4, 3), mat(&b, 1, 4), mat(&y, 2, 4), mat(&dw, 4, 3), mat(&db, 1, 4);
	fedc_mat_fill(&x, 1.0f);
	assert_int_equal(fedc_dense_forward(&x, &w, &b, FEDC_ACT_NONE, &y), 0);
	fedc_mat_fill(&y, 1.0f); /* reused as dy */
	assert_int_equal(fedc_dense_backward(&x, &w, &y, FEDC_ACT_NONE, &y, &dw, &db, NULL), 0);
	assert_float_equal(db.data[0], 2.0f, 1e-6);
	assert_int_equal(fedc_dense_backward(&x, &w, &y, FEDC_ACT_NONE, &y, &db, &dw, NULL), FEDC_NN_ERR_SHAPE);
	fedc_mat_release(&x), fedc_mat_release(&w), fedc_mat_release(&b), fedc_mat_release(&y);
	fedc_mat_release(&dw), fedc_mat_release(&db);
}

/* ------------------------------------------------------------------ */
/* Activations and softmax alone: L = sum r * f(x)                      */

struct act_ctx {
	struct fedc_mat x, y, r;
	int kind; /* enum fedc_act, or -1 for softmax */
};

static double act_objective(void *p)
{
	struct act_ctx *c = p;

	if (c->kind < 0)
		assert_int_equal(fedc_softmax_forward(&c->x, &c->y), 0);
	else
		assert_int_equal(fedc_act_forward((enum fedc_act)c->kind, &c->x, &c->y), 0);
	return weighted_sum(&c->y, &c->r);
}

static void check_act(int kind, const char *what)
{
	struct act_ctx c = { .kind = kind };
	struct fedc_mat dx;
	struct fedc_rng rng;

	fedc_rng_seed(&rng, 11);
	mat(&c.x, 4, 6), mat(&c.y, 4, 6), mat(&c.r, 4, 6), mat(&dx, 4, 6);
	fill_uniform(&c.x, &rng, -3, 3), fill_uniform(&c.r, &rng, -1, 1);
	away_from_zero(&c.x);
	act_objective(&c);
	if (kind < 0)
		assert_int_equal(fedc_softmax_backward(&c.y, &c.r, &dx), 0);
	else
		assert_int_equal(fedc_act_backward((enum fedc_act)kind, &c.y, &c.r, &dx), 0);
	check_grad(c.x.data, fedc_mat_len(&c.x), dx.data, act_objective, &c, what);
	fedc_mat_release(&c.x), fedc_mat_release(&c.y), fedc_mat_release(&c.r), fedc_mat_release(&dx);
}

static void test_relu_grad(void **state)
{
	check_act(FEDC_ACT_RELU, "relu");
}

static void test_sigmoid_grad(void **state)
{
	check_act(FEDC_ACT_SIGMOID, "sigmoid");
}

static void test_softmax_grad(void **state)
{
	check_act(-1, "softmax");
}

/* ------------------------------------------------------------------ */
/* Losses                                                               */

struct loss_ctx {
	enum fedc_loss kind;
	struct fedc_mat z;
	const float *y;
};

static double loss_objective(void *p)
{
	struct loss_ctx *c = p;
	double l;

	assert_int_equal(fedc_loss(c->kind, &c->z, c->y, &l, NULL), 0);
	return l;
}

static void check_loss(enum fedc_loss kind, size_t n, size_t k, const float *y, const char *what)
{
	struct loss_ctx c = { .kind = kind, .y = y };
	struct fedc_mat dz;
	struct fedc_rng rng;
	double l1, l2;

	fedc_rng_seed(&rng, 3);
	mat(&c.z, n, k), mat(&dz, n, k);
	fill_uniform(&c.z, &rng, -2, 2);
	assert_int_equal(fedc_loss(kind, &c.z, y, &l1, &dz), 0);
	l2 = loss_objective(&c);
	assert_true(l1 == l2); /* asking for the gradient does not change the loss */
	check_grad(c.z.data, fedc_mat_len(&c.z), dz.data, loss_objective, &c, what);
	fedc_mat_release(&c.z), fedc_mat_release(&dz);
}

static void test_softmax_ce_grad(void **state)
{
	const float y[5] = { 0, 3, 1, 2, 3 };

	check_loss(FEDC_LOSS_SOFTMAX_CE, 5, 4, y, "softmax_ce");
}

static void test_bce_grad(void **state)
{
	const float y[6] = { 0, 1, 1, 0, 0.25f, 1 };

	check_loss(FEDC_LOSS_BCE, 6, 1, y, "bce");
}

static void test_mse_grad(void **state)
{
	const float y[6] = { 0.5f, -1, 2, 0, 1.5f, -0.25f };

	check_loss(FEDC_LOSS_MSE, 3, 2, y, "mse");
}

/* Huge logits: the fused forms never overflow and keep exact values. */
static void test_losses_stable_for_large_logits(void **state)
{
	float zv[4] = { 1000.0f, -1000.0f, 0.0f, 0.0f }, ce_y[2] = { 1, 0 }, bce_y[4] = { 0, 1, 1, 0 };
	struct fedc_mat z = fedc_mat_view(zv, 2, 2), dz;
	double l;

	mat(&dz, 2, 2);
	/* Row 0 puts everything on class 0 but the label is 1: loss 2000. */
	assert_int_equal(fedc_loss_softmax_ce(&z, ce_y, &l, &dz), 0);
	assert_float_equal(l, (2000.0 + log(2.0)) / 2, 1e-6);
	assert_float_equal(dz.data[0], 0.5, 1e-6);
	assert_float_equal(dz.data[1], -0.5, 1e-6);
	z = fedc_mat_view(zv, 4, 1);
	dz.rows = 4, dz.cols = 1; /* same memory, the BCE's shape */
	assert_int_equal(fedc_loss_bce(&z, bce_y, &l, &dz), 0);
	assert_float_equal(dz.data[0], 0.25, 1e-6);  /* (sigmoid(1000) - 0) / 4 */
	assert_float_equal(dz.data[1], -0.25, 1e-6); /* (sigmoid(-1000) - 1) / 4 */
	assert_true(isfinite(l));
	assert_float_equal(l, (1000.0 + 1000.0 + 2 * log(2.0)) / 4, 1e-6);
	fedc_mat_release(&dz);
}

static void test_loss_rejects_bad_targets(void **state)
{
	float zv[4] = { 0 }, bad_class[2] = { 0, 2 }, fractional[2] = { 0, 0.5f }, bad_bce[4] = { 0, 1, 2, 0 };
	struct fedc_mat z = fedc_mat_view(zv, 2, 2);
	double l;

	assert_int_equal(fedc_loss_softmax_ce(&z, bad_class, &l, NULL), FEDC_NN_ERR_DATA);
	assert_int_equal(fedc_loss_softmax_ce(&z, fractional, &l, NULL), FEDC_NN_ERR_DATA);
	z = fedc_mat_view(zv, 4, 1);
	assert_int_equal(fedc_loss_bce(&z, bad_bce, &l, NULL), FEDC_NN_ERR_DATA);
	assert_int_equal(fedc_loss_check_targets(FEDC_LOSS_SOFTMAX_CE, bad_class, 2, 2), FEDC_NN_ERR_DATA);
	assert_int_equal(fedc_loss_check_targets(FEDC_LOSS_SOFTMAX_CE, bad_class, 2, 3), 0);
}

/* ------------------------------------------------------------------ */
/* FedProx term and a whole network                                     */

struct prox_ctx {
	struct fedc_paramset p, anchor;
	double mu;
};

static double prox_objective(void *c)
{
	struct prox_ctx *x = c;

	return fedc_fedprox(&x->p, &x->anchor, x->mu, false);
}

static void test_fedprox_grad(void **state)
{
	struct prox_ctx c = { .mu = 0.7 };
	struct fedc_rng rng;

	fedc_rng_seed(&rng, 5);
	assert_int_equal(fedc_paramset_add(&c.p, "w", 3, 4, 2, true, NULL), 0);
	assert_int_equal(fedc_paramset_add(&c.p, "b", 1, 4, 1, true, NULL), 0);
	assert_int_equal(fedc_paramset_init_like(&c.anchor, &c.p), 0);
	for (size_t k = 0; k < 2; k++) {
		fill_uniform(&c.p.items[k].value, &rng, -1, 1);
		fill_uniform(&c.anchor.items[k].value, &rng, -1, 1);
	}
	fedc_paramset_zero_grad(&c.p);
	fedc_fedprox(&c.p, &c.anchor, c.mu, true);
	for (size_t k = 0; k < 2; k++)
		check_grad(c.p.items[k].value.data, fedc_mat_len(&c.p.items[k].value), c.p.items[k].grad.data,
			   prox_objective, &c, c.p.items[k].name);
	fedc_paramset_release(&c.p), fedc_paramset_release(&c.anchor);
}

struct net_ctx {
	struct fedc_net net;
	struct fedc_mat x;
	const float *y;
};

static double net_objective(void *p)
{
	struct net_ctx *c = p;
	struct fedc_mat out;
	double l;

	assert_int_equal(fedc_net_forward(&c->net, &c->x, &out), 0);
	assert_int_equal(fedc_loss(FEDC_LOSS_SOFTMAX_CE, &out, c->y, &l, NULL), 0);
	return l;
}

static void check_net(enum fedc_act act)
{
	const float y[4] = { 2, 0, 1, 2 };
	struct fedc_net_cfg cfg = { .n_inputs = 5, .n_layers = 3, .sizes = { 6, 4, 3 }, .hidden_act = act,
				    .init = FEDC_INIT_XAVIER, .seed = 99 };
	struct net_ctx c = { .y = y };
	struct fedc_rng rng;
	double loss;

	fedc_rng_seed(&rng, 17);
	assert_int_equal(fedc_net_init(&c.net, &cfg), 0);
	mat(&c.x, 4, 5);
	fill_uniform(&c.x, &rng, -1, 1);
	for (size_t k = 0; k < c.net.params.count; k++) /* non-zero biases */
		fill_uniform(&c.net.params.items[k].value, &rng, -1, 1);
	assert_int_equal(fedc_net_step(&c.net, FEDC_LOSS_SOFTMAX_CE, &c.x, y, &loss, NULL), 0);
	for (size_t k = 0; k < c.net.params.count; k++) {
		struct fedc_param *p = &c.net.params.items[k];

		check_grad(p->value.data, fedc_mat_len(&p->value), p->grad.data, net_objective, &c, p->name);
	}
	fedc_net_release(&c.net);
	fedc_mat_release(&c.x);
}

/* ReLU nets can put a pre-activation near the kink; sigmoid is smooth. */
static void test_net_sigmoid_grad(void **state)
{
	check_net(FEDC_ACT_SIGMOID);
}

static void test_net_relu_grad(void **state)
{
	check_net(FEDC_ACT_RELU);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dense_linear_grad),
		cmocka_unit_test(test_dense_relu_grad),
		cmocka_unit_test(test_dense_sigmoid_grad),
		cmocka_unit_test(test_dense_no_input_grad),
		cmocka_unit_test(test_relu_grad),
		cmocka_unit_test(test_sigmoid_grad),
		cmocka_unit_test(test_softmax_grad),
		cmocka_unit_test(test_softmax_ce_grad),
		cmocka_unit_test(test_bce_grad),
		cmocka_unit_test(test_mse_grad),
		cmocka_unit_test(test_losses_stable_for_large_logits),
		cmocka_unit_test(test_loss_rejects_bad_targets),
		cmocka_unit_test(test_fedprox_grad),
		cmocka_unit_test(test_net_sigmoid_grad),
		cmocka_unit_test(test_net_relu_grad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
