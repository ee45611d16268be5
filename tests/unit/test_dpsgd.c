/* Plan SDK: DP-SGD (fedc/nn/dpsgd.h) and its place in the training loop:
 * per-sample gradients against batches of one, clipping, the noise's
 * spread, Poisson sampling, the dp_epsilon metric, refusals, and the
 * logreg-dpsgd example plan loaded as the node loads it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/dp.h"
#include "fedc/nn.h"

#define PLAN_PATH FEDC_PLAN_DIR "/logreg-dpsgd.so"
#define DATA_PATH FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv"

/* cmocka's assert_float_equal compares floats: this compares doubles. */
#define assert_close(a, b, tol) close_((a), (b), (tol), #a, __FILE__, __LINE__)
static void close_(double a, double b, double tol, const char *what, const char *file, int line)
{
	if (fabs(a - b) <= tol)
		return;
	print_error("%s = %.17g, want %.17g within %g\n", what, a, b, tol);
	_fail(file, line);
}

struct dataset {
	struct fedc_data d;
	float *x, *y;
};

/* n rows of nf features uniform in [-scale, scale]; targets from `label`. */
static void random_data(struct dataset *s, size_t n, size_t nf, double scale, uint32_t classes, uint64_t seed)
{
	struct fedc_rng rng;

	fedc_rng_seed(&rng, seed);
	s->x = malloc(n * nf * sizeof(float));
	s->y = malloc(n * sizeof(float));
	assert_non_null(s->x), assert_non_null(s->y);
	for (size_t i = 0; i < n * nf; i++)
		s->x[i] = (float)((2 * fedc_rng_uniform(&rng) - 1) * scale);
	for (size_t i = 0; i < n; i++)
		s->y[i] = classes ? (float)fedc_rng_below(&rng, classes) : (float)(2 * fedc_rng_uniform(&rng) - 1);
	s->d = (struct fedc_data){ .n_samples = n, .n_features = nf, .x = s->x, .y = s->y, .n_classes = classes };
}

static void free_data(struct dataset *s)
{
	free(s->x), free(s->y);
}

static void net_make(struct fedc_net *net, size_t n_in, size_t n_layers, const size_t *sizes, enum fedc_act act,
		     uint64_t seed)
{
	struct fedc_net_cfg cfg = { .n_inputs = n_in, .n_layers = n_layers, .hidden_act = act,
				    .init = FEDC_INIT_XAVIER, .seed = seed };

	memcpy(cfg.sizes, sizes, n_layers * sizeof(sizes[0]));
	assert_int_equal(fedc_net_init(net, &cfg), 0);
}

/* |a - b| <= tol max(1, |b|) for every coordinate of every gradient. */
static void assert_grads_close(const struct fedc_paramset *a, const struct fedc_paramset *b, double tol)
{
	assert_int_equal(a->count, b->count);
	for (size_t k = 0; k < a->count; k++) {
		const struct fedc_mat *ga = &a->items[k].grad, *gb = &b->items[k].grad;

		assert_int_equal(fedc_mat_len(ga), fedc_mat_len(gb));
		for (size_t i = 0; i < fedc_mat_len(ga); i++) {
			double x = ga->data[i], y = gb->data[i];

			if (fabs(x - y) > tol * fmax(1.0, fabs(y)))
				fail_msg("%s[%zu]: %.9g vs %.9g", a->items[k].name, i, x, y);
		}
	}
}

static double grad_sumsq(const struct fedc_paramset *p)
{
	double s = 0.0;

	for (size_t k = 0; k < p->count; k++) {
		for (size_t i = 0; i < fedc_mat_len(&p->items[k].grad); i++)
			s += (double)p->items[k].grad.data[i] * p->items[k].grad.data[i];
	}
	return s;
}

/* Every row's per-sample gradient (from one backward pass of the batch)
 * against fedc_net_step on that row alone, the plain way; and the norms. */
static void check_per_sample(size_t n_in, size_t n_layers, const size_t *sizes, enum fedc_act act,
			     enum fedc_loss loss, uint32_t classes)
{
	const size_t n = 7;
	struct fedc_net a, per, plain;
	struct fedc_dpsgd dp;
	struct fedc_dpsgd_cfg dc = { .clip_norm = 1.0, .noise_multiplier = 1.0, .delta = 1e-5 };
	struct dataset s;
	struct fedc_mat x;
	double l, l1;

	random_data(&s, n, n_in, 2.0, classes, 11);
	if (loss == FEDC_LOSS_BCE)
		for (size_t i = 0; i < n; i++)
			s.y[i] = (float)(i % 2);
	net_make(&a, n_in, n_layers, sizes, act, 5);
	net_make(&per, n_in, n_layers, sizes, act, 5);
	net_make(&plain, n_in, n_layers, sizes, act, 5);
	assert_int_equal(fedc_dpsgd_init(&dp, &dc, 1), 0);
	x = fedc_mat_view(s.x, n, n_in);
	assert_int_equal(fedc_dpsgd_per_sample(&dp, &a, loss, &x, s.y, &l, NULL), 0);
	for (size_t r = 0; r < n; r++) {
		struct fedc_mat xr = fedc_mat_view(s.x + r * n_in, 1, n_in);
		double g2;

		assert_int_equal(fedc_dpsgd_sample_grad(&a, &x, r, &per.params), 0);
		assert_int_equal(fedc_net_step(&plain, loss, &xr, s.y + r, &l1, NULL), 0);
		assert_grads_close(&per.params, &plain.params, 1e-5);
		g2 = grad_sumsq(&plain.params);
		assert_true(g2 > 1e-8); /* a real gradient, not two zeros */
		assert_close(dp.norm2[r], g2, 1e-5 * g2);
	}
	fedc_dpsgd_release(&dp);
	fedc_net_release(&a), fedc_net_release(&per), fedc_net_release(&plain);
	free_data(&s);
}

static void test_per_sample_grads_mlp(void **state)
{
	const size_t sizes[] = { 6, 3 };

	check_per_sample(4, 2, sizes, FEDC_ACT_RELU, FEDC_LOSS_SOFTMAX_CE, 3);
	check_per_sample(4, 2, sizes, FEDC_ACT_SIGMOID, FEDC_LOSS_SOFTMAX_CE, 3);
}

static void test_per_sample_grads_logreg(void **state)
{
	const size_t one[] = { 1 }, deep[] = { 5, 4, 1 };

	check_per_sample(9, 1, one, FEDC_ACT_NONE, FEDC_LOSS_BCE, 2);
	check_per_sample(9, 1, one, FEDC_ACT_NONE, FEDC_LOSS_MSE, 0);
	check_per_sample(3, 3, deep, FEDC_ACT_RELU, FEDC_LOSS_BCE, 2);
}

/* Noise 0 and a clip no gradient reaches: DP-SGD's gradient is the batch's
 * mean gradient, and training under shuffling follows plain training. */
static void test_no_noise_no_clip_is_plain(void **state)
{
	const size_t sizes[] = { 8, 3 };
	struct fedc_dpsgd_cfg dc = { .clip_norm = 1e9, .noise_multiplier = 0.0, .sampling = FEDC_DPSGD_SHUFFLE,
				     .delta = 1e-5 };
	struct fedc_train_args args = { .lr = 0.1, .num_updates = 12, .batch_size = 16, .seed = 3 };
	struct fedc_train_cfg plain_cfg = { .args = &args, .loss = FEDC_LOSS_SOFTMAX_CE };
	struct fedc_train_cfg dp_cfg = { .args = &args, .loss = FEDC_LOSS_SOFTMAX_CE, .dpsgd = &dc };
	struct fedc_net a, b;
	struct fedc_dpsgd dp;
	struct fedc_metrics ma, mb;
	struct dataset s;
	struct fedc_mat x;
	double la, lb;
	size_t ca, cb;

	random_data(&s, 64, 5, 1.0, 3, 21);
	net_make(&a, 5, 2, sizes, FEDC_ACT_RELU, 9);
	net_make(&b, 5, 2, sizes, FEDC_ACT_RELU, 9);
	/* One batch: the gradients. */
	x = fedc_mat_view(s.x, 16, 5);
	assert_int_equal(fedc_dpsgd_init(&dp, &dc, 1), 0);
	assert_int_equal(fedc_net_step(&a, FEDC_LOSS_SOFTMAX_CE, &x, s.y, &la, &ca), 0);
	assert_int_equal(fedc_dpsgd_grad(&dp, &b, FEDC_LOSS_SOFTMAX_CE, &x, s.y, 16.0, &lb, &cb), 0);
	assert_grads_close(&b.params, &a.params, 1e-5);
	assert_close(la, lb, 1e-12);
	assert_int_equal(ca, cb);
	fedc_dpsgd_release(&dp);
	/* Twelve steps of training (batches of 16 of 64 rows: all full). */
	assert_int_equal(fedc_net_train(&a, &s.d, &plain_cfg, &ma), 0);
	assert_int_equal(fedc_net_train(&b, &s.d, &dp_cfg, &mb), 0);
	for (size_t k = 0; k < a.params.count; k++) {
		for (size_t i = 0; i < fedc_mat_len(&a.params.items[k].value); i++)
			assert_close(a.params.items[k].value.data[i], b.params.items[k].value.data[i], 1e-5);
	}
	assert_close(fedc_metrics_get(&ma, "loss"), fedc_metrics_get(&mb, "loss"), 1e-5);
	assert_true(isnan(fedc_metrics_get(&ma, "dp_epsilon")));
	assert_true(isinf(fedc_metrics_get(&mb, "dp_epsilon"))); /* no noise: no privacy */
	fedc_net_release(&a), fedc_net_release(&b);
	free_data(&s);
}

/* Linear regression from zero weights: rows with x = 0, y = 0 have a zero
 * gradient; row 0 (huge x and y) a huge one. One step of plain SGD moves the
 * parameters by exactly lr C / batch: row 0 clipped to C, over the batch. */
static void test_clip_bounds_each_row(void **state)
{
	const size_t one[] = { 1 }, nf = 6, batch = 4;
	struct fedc_dpsgd_cfg dc = { .clip_norm = 0.5, .noise_multiplier = 0.0, .sampling = FEDC_DPSGD_SHUFFLE,
				     .delta = 1e-5 };
	struct fedc_train_args args = { .lr = 0.1, .num_updates = 1, .batch_size = (uint32_t)batch, .seed = 1 };
	struct fedc_train_cfg cfg = { .args = &args, .loss = FEDC_LOSS_MSE, .dpsgd = &dc };
	struct fedc_metrics m;
	struct fedc_net net;
	struct dataset s;
	double moved;

	for (int all_huge = 0; all_huge < 2; all_huge++) {
		random_data(&s, batch, nf, 1.0, 0, 2);
		for (size_t r = 0; r < batch; r++) {
			for (size_t f = 0; f < nf; f++)
				s.x[r * nf + f] = r == 0 || all_huge ? (float)(1e4 * (double)(f + r + 1)) : 0.0f;
			s.y[r] = r == 0 || all_huge ? 1e6f : 0.0f;
		}
		net_make(&net, nf, 1, one, FEDC_ACT_NONE, 1);
		for (size_t k = 0; k < net.params.count; k++)
			fedc_mat_fill(&net.params.items[k].value, 0.0f);
		assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), 0);
		moved = 0.0;
		for (size_t k = 0; k < net.params.count; k++) {
			for (size_t i = 0; i < fedc_mat_len(&net.params.items[k].value); i++)
				moved += (double)net.params.items[k].value.data[i] * net.params.items[k].value.data[i];
		}
		moved = sqrt(moved);
		if (!all_huge) /* one row: exactly lr C / batch */
			assert_close(moved, args.lr * dc.clip_norm / (double)batch, 1e-6);
		else /* four rows, each at most C, in different directions */
			assert_true(moved <= args.lr * dc.clip_norm + 1e-7 && moved > args.lr * dc.clip_norm / (double)batch);
		fedc_net_release(&net);
		free_data(&s);
	}
}

/* Zero gradients everywhere: what comes out is the noise over the batch.
 * Its spread over 20001 coordinates is sigma C / batch within 3%, its mean
 * 0, 68.3% of it within one standard deviation (a Gaussian, not a uniform);
 * the same seed gives the same noise, a new step new noise. */
static void test_noise_spread(void **state)
{
	const size_t one[] = { 1 }, nf = 20000, n = 8;
	const double sigma = 1.5, clip = 2.0, want = sigma * clip / (double)n;
	struct fedc_dpsgd_cfg dc = { .clip_norm = clip, .noise_multiplier = sigma, .delta = 1e-5 };
	struct fedc_net net;
	struct fedc_dpsgd dp, again;
	float *x = calloc(n * nf, sizeof(float)), y[8] = { 0 }, first;
	struct fedc_mat xm = fedc_mat_view(x, n, nf);
	double loss, sum = 0.0, sumsq = 0.0, sd, mean;
	size_t within = 0, count;

	assert_non_null(x);
	net_make(&net, nf, 1, one, FEDC_ACT_NONE, 1);
	for (size_t k = 0; k < net.params.count; k++)
		fedc_mat_fill(&net.params.items[k].value, 0.0f);
	assert_int_equal(fedc_dpsgd_init(&dp, &dc, 77), 0);
	assert_int_equal(fedc_dpsgd_grad(&dp, &net, FEDC_LOSS_MSE, &xm, y, (double)n, &loss, NULL), 0);
	assert_close(loss, 0.0, 0.0);
	count = nf + 1;
	for (size_t k = 0; k < net.params.count; k++) {
		for (size_t i = 0; i < fedc_mat_len(&net.params.items[k].grad); i++) {
			double g = net.params.items[k].grad.data[i];

			sum += g, sumsq += g * g;
		}
	}
	mean = sum / (double)count;
	sd = sqrt(sumsq / (double)count - mean * mean);
	assert_true(fabs(sd - want) < 0.03 * want);
	assert_true(fabs(mean) < 4 * want / sqrt((double)count));
	for (size_t i = 0; i < nf; i++)
		within += fabs(net.params.items[0].grad.data[i]) < want;
	assert_true(fabs((double)within / (double)nf - 0.6827) < 0.015);
	/* Seeded: the same seed gives the same noise; the next step other noise. */
	first = net.params.items[0].grad.data[0];
	assert_int_equal(fedc_dpsgd_init(&again, &dc, 77), 0);
	assert_int_equal(fedc_dpsgd_grad(&again, &net, FEDC_LOSS_MSE, &xm, y, (double)n, &loss, NULL), 0);
	assert_true(net.params.items[0].grad.data[0] == first);
	assert_int_equal(fedc_dpsgd_grad(&again, &net, FEDC_LOSS_MSE, &xm, y, (double)n, &loss, NULL), 0);
	assert_true(net.params.items[0].grad.data[0] != first);
	fedc_dpsgd_release(&again);
	assert_int_equal(fedc_dpsgd_init(&again, &dc, 78), 0); /* another training seed, other noise */
	assert_int_equal(fedc_dpsgd_grad(&again, &net, FEDC_LOSS_MSE, &xm, y, (double)n, &loss, NULL), 0);
	assert_true(net.params.items[0].grad.data[0] != first);
	/* An empty batch (a Poisson draw can be): the noise alone. */
	xm.rows = 0;
	assert_int_equal(fedc_dpsgd_grad(&again, &net, FEDC_LOSS_MSE, &xm, y, (double)n, &loss, NULL), 0);
	assert_true(net.params.items[0].grad.data[0] != 0.0f && fabs(net.params.items[0].grad.data[0]) < 8 * want);
	fedc_dpsgd_release(&dp), fedc_dpsgd_release(&again);
	fedc_net_release(&net);
	free(x);
}

/* Each batch's size and rows; checks the gathered rows are those listed. */
static size_t draw(struct fedc_batcher *b, const struct fedc_data *d)
{
	struct fedc_mat x;
	const float *y;
	size_t n = 0;

	assert_int_equal(fedc_batcher_draw(b, &x, &y, &n, NULL), 0);
	assert_int_equal(x.rows, n);
	assert_int_equal(b->drawn, n);
	for (size_t k = 0; k < n; k++) {
		size_t row = b->order[k];

		assert_true(k == 0 || b->order[k - 1] < row);
		assert_memory_equal(x.data + k * d->n_features, d->x + row * d->n_features,
				    d->n_features * sizeof(float));
		assert_true(y[k] == d->y[row]);
	}
	return n;
}

static void test_poisson_sampling(void **state)
{
	const size_t n = 1000, bs = 50, steps = 2000;
	const double q = (double)bs / (double)n;
	struct fedc_batcher a, b, c;
	struct dataset s;
	double sum = 0.0, sumsq = 0.0, mean, var;
	size_t lo = SIZE_MAX, hi = 0, row0 = 0, differ = 0;

	random_data(&s, n, 3, 1.0, 2, 4);
	assert_int_equal(fedc_batcher_init_poisson(&a, &s.d, bs, 99), 0);
	assert_int_equal(fedc_batcher_init_poisson(&b, &s.d, bs, 99), 0);
	assert_int_equal(fedc_batcher_init_poisson(&c, &s.d, bs, 100), 0);
	assert_close(fedc_batcher_rate(&a), q, 1e-15);
	for (size_t t = 0; t < steps; t++) {
		size_t k = draw(&a, &s.d), kb = draw(&b, &s.d), kc = draw(&c, &s.d);

		assert_int_equal(k, kb); /* same seed, same batches */
		assert_memory_equal(a.order, b.order, k * sizeof(*a.order));
		differ += kc != k || memcmp(a.order, c.order, k * sizeof(*a.order)) != 0;
		sum += (double)k, sumsq += (double)k * (double)k;
		lo = k < lo ? k : lo, hi = k > hi ? k : hi;
		row0 += k && a.order[0] == 0;
	}
	mean = sum / (double)steps;
	var = sumsq / (double)steps - mean * mean;
	assert_true(fabs(mean - q * (double)n) < 0.03 * q * (double)n);
	/* Binomial(n, q): variance n q (1 - q) = 47.5, not 0 as with fixed batches */
	assert_true(fabs(var - (double)n * q * (1 - q)) < 0.15 * (double)n * q * (1 - q));
	assert_true(hi - lo > 20);
	assert_true(differ > steps * 9 / 10);
	/* Row 0 takes part in about q of the batches (sd of the count: 9.7). */
	assert_true(fabs((double)row0 - q * (double)steps) < 50);
	/* Passes: ceil(1000 / 50) = 20 draws each. */
	assert_int_equal(a.epoch, steps / 20);
	/* A draw larger than the buffers grows them, and the rows still match. */
	a.capacity = 1;
	assert_true(draw(&a, &s.d) > 1);
	assert_true(a.capacity >= a.drawn);
	fedc_batcher_release(&a), fedc_batcher_release(&b), fedc_batcher_release(&c);
	free_data(&s);
}

/* The metric is the accountant's epsilon for q = batch / rows, the steps
 * taken and delta: 0.01, 1.1, 10000, 1e-5 gives 5.63 (Opacus; docs/privacy.md). */
static void test_dp_epsilon_metric(void **state)
{
	const size_t one[] = { 1 };
	struct fedc_dpsgd_cfg dc = { .clip_norm = 1.0, .noise_multiplier = 1.1, .delta = 1e-5 };
	struct fedc_train_args args = { .lr = 0.05, .num_updates = 10000, .batch_size = 1, .seed = 8 };
	struct fedc_train_cfg cfg = { .args = &args, .loss = FEDC_LOSS_BCE, .dpsgd = &dc };
	struct fedc_metrics m;
	struct fedc_net net;
	struct dataset s;
	double want;

	random_data(&s, 100, 3, 1.0, 2, 6);
	net_make(&net, 3, 1, one, FEDC_ACT_NONE, 2);
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), 0);
	assert_close(fedc_metrics_get(&m, "num_updates"), 10000, 0);
	assert_int_equal(fedc_dp_epsilon(0.01, 1.1, 10000, 1e-5, &want, NULL), FEDC_OK);
	assert_close(fedc_metrics_get(&m, "dp_epsilon"), want, 1e-12);
	assert_close(want, 5.63, 0.01);
	/* Epochs: 3 passes of ceil(100 / 20) = 5 steps at q = 0.2, sigma 1.1. */
	args = (struct fedc_train_args){ .lr = 0.05, .epochs = 3, .batch_size = 20, .seed = 8 };
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), 0);
	assert_close(fedc_metrics_get(&m, "num_updates"), 15, 0);
	assert_int_equal(fedc_dp_epsilon(0.2, 1.1, 15, 1e-5, &want, NULL), FEDC_OK);
	assert_close(fedc_metrics_get(&m, "dp_epsilon"), want, 1e-12);
	fedc_net_release(&net);
	free_data(&s);
}

/* Same seed, same run bit for bit (noise and batches); another seed differs. */
static void test_dpsgd_training_is_seeded(void **state)
{
	const size_t sizes[] = { 4, 2 };
	struct fedc_dpsgd_cfg dc = { .clip_norm = 1.0, .noise_multiplier = 1.0, .delta = 1e-5 };
	struct fedc_train_args args = { .lr = 0.1, .epochs = 2, .batch_size = 8, .seed = 1 };
	struct fedc_train_cfg cfg = { .args = &args, .loss = FEDC_LOSS_SOFTMAX_CE, .dpsgd = &dc };
	struct fedc_net net[3];
	struct fedc_metrics m;
	struct dataset s;

	random_data(&s, 80, 3, 1.0, 2, 7);
	for (int i = 0; i < 3; i++) {
		net_make(&net[i], 3, 2, sizes, FEDC_ACT_RELU, 3);
		args.seed = i < 2 ? 1 : 2;
		assert_int_equal(fedc_net_train(&net[i], &s.d, &cfg, &m), 0);
	}
	for (size_t k = 0; k < net[0].params.count; k++) {
		size_t bytes = fedc_mat_len(&net[0].params.items[k].value) * sizeof(float);

		assert_memory_equal(net[0].params.items[k].value.data, net[1].params.items[k].value.data, bytes);
		assert_memory_not_equal(net[0].params.items[k].value.data, net[2].params.items[k].value.data, bytes);
	}
	for (int i = 0; i < 3; i++)
		fedc_net_release(&net[i]);
	free_data(&s);
}

static void test_dpsgd_refusals(void **state)
{
	const size_t one[] = { 1 };
	struct fedc_dpsgd_cfg good = { .clip_norm = 1.0, .noise_multiplier = 1.0, .delta = 1e-5 };
	const struct fedc_dpsgd_cfg bad[] = {
		{ .clip_norm = 0.0, .noise_multiplier = 1.0, .delta = 1e-5 },
		{ .clip_norm = NAN, .noise_multiplier = 1.0, .delta = 1e-5 },
		{ .clip_norm = 1.0, .noise_multiplier = -1.0, .delta = 1e-5 },
		{ .clip_norm = 1.0, .noise_multiplier = INFINITY, .delta = 1e-5 },
		{ .clip_norm = 1.0, .noise_multiplier = 1.0, .delta = 0.0 },
		{ .clip_norm = 1.0, .noise_multiplier = 1.0, .delta = 1.0 },
		{ .clip_norm = 1.0, .noise_multiplier = 1.0, .sampling = (enum fedc_dpsgd_sampling)7, .delta = 1e-5 },
	};
	struct fedc_train_args args = { .lr = 0.1, .epochs = 1, .batch_size = 8, .seed = 1 };
	struct fedc_train_cfg cfg = { .args = &args, .loss = FEDC_LOSS_BCE, .dpsgd = &good };
	struct fedc_paramset c, ci;
	struct fedc_scaffold scaffold = { &c, &ci, NULL };
	const struct fedc_tensor *views;
	size_t n_views;
	struct fedc_metrics m;
	struct fedc_net net;
	struct dataset s;

	random_data(&s, 40, 3, 1.0, 2, 7);
	net_make(&net, 3, 1, one, FEDC_ACT_NONE, 3);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.dpsgd = &bad[i];
		fedc_plan_error("%s", "");
		assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), FEDC_NN_ERR_INVAL);
		assert_non_null(strstr(fedc_plan_last_error(), "dpsgd: "));
	}
	cfg.dpsgd = &good;
	memset(&c, 0, sizeof(c)), memset(&ci, 0, sizeof(ci));
	assert_int_equal(fedc_paramset_init_like(&c, &net.params), 0);
	assert_int_equal(fedc_paramset_init_like(&ci, &net.params), 0);
	cfg.scaffold = &scaffold;
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), FEDC_NN_ERR_INVAL);
	assert_non_null(strstr(fedc_plan_last_error(), "SCAFFOLD"));
	cfg.scaffold = NULL;
	/* The node's SCAFFOLD (c - c_i handed in the arguments): refused too. */
	assert_int_equal(fedc_paramset_get(&net.params, &views, &n_views), 0);
	args.scaffold_correction = views, args.n_scaffold_correction = n_views;
	fedc_plan_error("%s", "");
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), FEDC_NN_ERR_INVAL);
	assert_non_null(strstr(fedc_plan_last_error(), "SCAFFOLD"));
	args.scaffold_correction = NULL, args.n_scaffold_correction = 0;
	/* FedProx is post-processing of the noisy gradient: allowed. */
	args.fedprox_mu = 0.1;
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), 0);
	assert_true(fedc_metrics_get(&m, "dp_epsilon") > 0);
	fedc_paramset_release(&c), fedc_paramset_release(&ci);
	fedc_net_release(&net);
	free_data(&s);
}

/* The breast-cancer CSV: a "rows,features,..." header, then features and a
 * 0/1 label per line. */
static void load_breast_cancer(struct dataset *s)
{
	FILE *f = fopen(DATA_PATH, "r");
	unsigned rows = 0, nf = 0;

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%u,%u%*[^\n]", &rows, &nf), 2);
	s->x = malloc((size_t)rows * nf * sizeof(float));
	s->y = malloc(rows * sizeof(float));
	assert_non_null(s->x), assert_non_null(s->y);
	for (size_t r = 0; r < rows; r++) {
		for (size_t j = 0; j < nf; j++)
			assert_int_equal(fscanf(f, " %f,", &s->x[r * nf + j]), 1);
		assert_int_equal(fscanf(f, "%f", &s->y[r]), 1);
	}
	fclose(f);
	s->d = (struct fedc_data){ .n_samples = rows, .n_features = nf, .x = s->x, .y = s->y, .n_classes = 2 };
}

/* The example plan, as the node runs it: create (dp_clip, dp_noise read),
 * prepare, train ten epochs on 455 rows, evaluate on the other 114. */
static void test_logreg_dpsgd_plan(void **state)
{
	const struct fedc_arg items[] = { { "n_features", 30 }, { "dp_clip", 1.0 }, { "dp_noise", 1.0 } };
	const struct fedc_arg bad_items[] = { { "n_features", 30 }, { "dp_noise", -1.0 } };
	const struct fedc_args args = { items, 3 }, bad = { bad_items, 2 };
	struct fedc_train_args ta = { .lr = 0.1, .epochs = 10, .batch_size = 32, .seed = 5 };
	struct fedc_data train, test;
	struct fedc_metrics m;
	struct dataset s;
	void *so = dlopen(PLAN_PATH, RTLD_NOW | RTLD_LOCAL), *model = NULL;
	const struct fedc_plan *plan;
	double want;

	assert_non_null(so);
	plan = dlsym(so, FEDC_PLAN_SYMBOL);
	assert_non_null(plan);
	assert_true(plan->create(&bad, 1, &model) < 0);
	assert_non_null(strstr(plan->last_error(), "dp_noise"));
	load_breast_cancer(&s);
	train = s.d, test = s.d;
	train.n_samples = 455;
	test.n_samples = s.d.n_samples - 455;
	test.x = s.x + 455 * s.d.n_features, test.y = s.y + 455;
	assert_int_equal(plan->create(&args, 1, &model), 0);
	assert_int_equal(plan->prepare(model, &train, &test), 0);
	assert_int_equal(plan->train(model, &train, &ta, NULL, &m), 0);
	assert_close(fedc_metrics_get(&m, "num_updates"), 10 * 15, 0);
	assert_int_equal(fedc_dp_epsilon(32.0 / 455.0, 1.0, 150, 1e-5, &want, NULL), FEDC_OK);
	assert_close(fedc_metrics_get(&m, "dp_epsilon"), want, 1e-12);
	assert_int_equal(plan->evaluate(model, &test, &m), 0);
	assert_true(fedc_metrics_get(&m, "accuracy") > 0.9);
	plan->destroy(model);
	/* The noise's seed is args->seed as the node gives it (the node mixes
	 * its secret in, node/round.c fill_job): two runs with the same seed
	 * repeat bit for bit, another seed trains differently. The plan's old
	 * dp_reproducible switch is gone: an unknown argument now. */
	{
		const struct fedc_arg old_items[] = { { "n_features", 30 }, { "dp_reproducible", 1 } };
		const struct fedc_args old = { old_items, 2 };
		const struct fedc_arg rep_items[] = { { "n_features", 30 } };
		const struct fedc_args rep = { rep_items, 1 };
		const uint64_t seeds[3] = { 5, 5, 6 };
		float w[3][31];

		assert_true(plan->create(&old, 1, &model) < 0);
		assert_non_null(strstr(plan->last_error(), "dp_reproducible"));
		for (int run = 0; run < 3; run++) {
			struct fedc_train_args sa = ta;
			const struct fedc_tensor *t;
			size_t count;

			sa.seed = seeds[run];
			assert_int_equal(plan->create(&rep, 1, &model), 0);
			assert_int_equal(plan->train(model, &train, &sa, NULL, &m), 0); /* rows already standardized */
			assert_int_equal(plan->get_params(model, &t, &count), 0);
			assert_int_equal(count, 4);
			assert_string_equal(t[0].name, "dense0.weight");
			memcpy(w[run], t[0].data, 30 * sizeof(float));
			memcpy(w[run] + 30, t[1].data, sizeof(float));
			plan->destroy(model);
		}
		assert_memory_equal(w[0], w[1], sizeof(w[0]));
		assert_memory_not_equal(w[0], w[2], sizeof(w[0]));
	}
	dlclose(so);
	free_data(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_per_sample_grads_mlp),
		cmocka_unit_test(test_per_sample_grads_logreg),
		cmocka_unit_test(test_no_noise_no_clip_is_plain),
		cmocka_unit_test(test_clip_bounds_each_row),
		cmocka_unit_test(test_noise_spread),
		cmocka_unit_test(test_poisson_sampling),
		cmocka_unit_test(test_dp_epsilon_metric),
		cmocka_unit_test(test_dpsgd_training_is_seeded),
		cmocka_unit_test(test_dpsgd_refusals),
		cmocka_unit_test(test_logreg_dpsgd_plan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
