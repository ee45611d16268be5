/* Plan SDK: input gradients (fedc/nn/input_grad.h) against central finite
 * differences of what evaluate() reports (its mean loss times the rows),
 * for dense, conv2d, max and average pooling, and batch norm in evaluation
 * mode; that they leave parameters, statistics, gradients and the mode as
 * they were; that chunking rows changes nothing; and their refusals. The
 * tolerances are relative: a wrong sign, a missing layer or a training-mode
 * batch norm would be off by far more. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/nn.h"

#define EPS 1e-2f
#define ATOL 2e-3
#define RTOL 1e-2

/* The model under test, its view and loss: objective() is what the input
 * gradient differentiates. */
struct ctx {
	struct fedc_net *net; /* one of net and seq */
	struct fedc_seq *seq;
	struct fedc_data *d;
	enum fedc_loss loss;
};

static double objective(const struct ctx *c)
{
	struct fedc_metrics m = { 0 };
	int rc = c->net ? fedc_net_evaluate(c->net, c->d, c->loss, &m) : fedc_seq_evaluate(c->seq, c->d, c->loss, &m);

	assert_int_equal(rc, 0);
	return fedc_metrics_get(&m, "loss") * (double)c->d->n_samples;
}

static int input_gradient(const struct ctx *c, float *grad)
{
	return c->net ? fedc_net_input_gradient(c->net, c->d, c->loss, grad)
		      : fedc_seq_input_gradient(c->seq, c->d, c->loss, grad);
}

/* The analytic gradient of every input against its central difference. */
static void check_against_differences(const struct ctx *c, const char *what)
{
	size_t len = c->d->n_samples * c->d->n_features;
	float *grad = malloc(len * sizeof(*grad));
	double largest = 0.0;

	assert_non_null(grad);
	assert_int_equal(input_gradient(c, grad), 0);
	for (size_t i = 0; i < len; i++) {
		float saved = c->d->x[i], up = saved + EPS, down = saved - EPS;
		double lp, lm, num;

		c->d->x[i] = up;
		lp = objective(c);
		c->d->x[i] = down;
		lm = objective(c);
		c->d->x[i] = saved;
		num = (lp - lm) / ((double)up - (double)down);
		largest = fabs(num) > largest ? fabs(num) : largest;
		if (fabs(num - grad[i]) > ATOL + RTOL * fabs(num))
			fail_msg("%s: d/dx[%zu]: analytic %.6g, numeric %.6g", what, i, (double)grad[i], num);
	}
	/* A gradient that is zero everywhere would pass vacuously. */
	assert_true(largest > 0.05);
	free(grad);
}

/* x uniform in [lo, hi), y a class in [0, classes) (0 or 1 for BCE, a real
 * for MSE when classes is 0). */
static void fill_view(struct fedc_data *d, size_t n, size_t nf, uint32_t classes, uint64_t seed, double lo,
		      double hi)
{
	struct fedc_rng rng;

	fedc_rng_seed(&rng, seed);
	*d = (struct fedc_data){ .n_samples = n, .n_features = nf, .n_classes = classes };
	d->x = malloc(n * nf * sizeof(float));
	d->y = malloc(n * sizeof(float));
	assert_non_null(d->x);
	assert_non_null(d->y);
	for (size_t i = 0; i < n * nf; i++)
		d->x[i] = (float)(lo + (hi - lo) * fedc_rng_uniform(&rng));
	for (size_t i = 0; i < n; i++)
		d->y[i] = classes ? (float)fedc_rng_below(&rng, classes) : (float)(fedc_rng_uniform(&rng) * 2.0 - 1.0);
}

static void free_view(struct fedc_data *d)
{
	free(d->x);
	free(d->y);
}

static void add(struct fedc_seq_cfg *c, struct fedc_layer_spec l)
{
	c->layers[c->n_layers++] = l;
}

static struct fedc_seq *new_seq(const struct fedc_seq_cfg *cfg)
{
	struct fedc_seq *s = malloc(sizeof(*s));

	assert_non_null(s);
	assert_int_equal(fedc_seq_init(s, cfg), 0);
	return s;
}

static void free_seq(struct fedc_seq *s)
{
	fedc_seq_release(s);
	free(s);
}

static void test_net_softmax_ce(void **state)
{
	struct fedc_net_cfg cfg = { .n_inputs = 5, .n_layers = 3, .sizes = { 6, 4, 3 }, .hidden_act = FEDC_ACT_SIGMOID,
				    .init = FEDC_INIT_XAVIER, .seed = 3 };
	struct fedc_net net;
	struct fedc_data d;
	struct ctx c = { .net = &net, .d = &d, .loss = FEDC_LOSS_SOFTMAX_CE };

	(void)state;
	assert_int_equal(fedc_net_init(&net, &cfg), 0);
	/* Xavier weights are small: scale them so that the gradients are not. */
	for (size_t k = 0; k < net.params.count; k++)
		for (size_t e = 0; e < fedc_mat_len(&net.params.items[k].value); e++)
			net.params.items[k].value.data[e] *= 3.0f;
	fill_view(&d, 4, 5, 3, 11, -1.0, 1.0);
	check_against_differences(&c, "net softmax");
	free_view(&d);
	fedc_net_release(&net);
}

static void test_net_bce_and_mse(void **state)
{
	struct fedc_net_cfg cfg = { .n_inputs = 4, .n_layers = 1, .sizes = { 1 }, .init = FEDC_INIT_XAVIER, .seed = 5 };
	struct fedc_net net;
	struct fedc_data d;
	struct ctx c = { .net = &net, .d = &d, .loss = FEDC_LOSS_BCE };
	float *w;

	(void)state;
	assert_int_equal(fedc_net_init(&net, &cfg), 0);
	w = net.params.items[0].value.data;
	w[0] = 1.5f, w[1] = -2.0f, w[2] = 0.7f, w[3] = 0.0f;
	fill_view(&d, 5, 4, 2, 12, -1.0, 1.0);
	check_against_differences(&c, "net bce");
	free_view(&d);
	fill_view(&d, 5, 4, 0, 13, -1.0, 1.0);
	c.loss = FEDC_LOSS_MSE;
	check_against_differences(&c, "net mse");
	free_view(&d);
	fedc_net_release(&net);
}

static void test_seq_conv2d(void **state)
{
	struct fedc_seq_cfg cfg = { .input = { 2, 1, 6, 6 }, .seed = 7 };
	struct fedc_seq *s;
	struct fedc_data d;
	struct ctx c = { .d = &d, .loss = FEDC_LOSS_SOFTMAX_CE };

	(void)state;
	add(&cfg, fedc_layer_conv2d(3, 3, 1, 1, FEDC_ACT_SIGMOID));
	add(&cfg, fedc_layer_conv2d(4, 3, 2, 0, FEDC_ACT_NONE));
	add(&cfg, fedc_layer_flatten());
	add(&cfg, fedc_layer_dense(3, FEDC_ACT_NONE));
	s = c.seq = new_seq(&cfg);
	fill_view(&d, 3, 72, 3, 14, -1.0, 1.0);
	d.sample_ndim = 3, d.sample_shape[0] = 2, d.sample_shape[1] = 6, d.sample_shape[2] = 6;
	check_against_differences(&c, "conv2d");
	free_view(&d);
	free_seq(s);
}

/* Inputs 0.1 apart, shuffled: a step of EPS never changes which wins a
 * max-pooling window. */
static void spaced_inputs(struct fedc_data *d, uint64_t seed)
{
	struct fedc_rng rng;
	size_t len = d->n_samples * d->n_features;

	fedc_rng_seed(&rng, seed);
	for (size_t i = 0; i < len; i++)
		d->x[i] = 0.1f * (float)i - 0.05f * (float)len;
	for (size_t i = len; i > 1; i--) {
		size_t j = (size_t)fedc_rng_below(&rng, i);
		float t = d->x[i - 1];

		d->x[i - 1] = d->x[j];
		d->x[j] = t;
	}
}

static void test_seq_pooling(void **state)
{
	static const enum fedc_pool_kind kinds[] = { FEDC_POOL_MAX, FEDC_POOL_AVG };

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct fedc_seq_cfg cfg = { .input = { 2, 1, 4, 4 }, .seed = 8 };
		struct fedc_data d;
		struct ctx c = { .d = &d, .loss = FEDC_LOSS_SOFTMAX_CE };

		add(&cfg, fedc_layer_pool(kinds[k], fedc_window_2d(2, 2, 0)));
		add(&cfg, fedc_layer_flatten());
		add(&cfg, fedc_layer_dense(3, FEDC_ACT_NONE));
		c.seq = new_seq(&cfg);
		fill_view(&d, 2, 32, 3, 15, 0.0, 1.0);
		spaced_inputs(&d, 16);
		check_against_differences(&c, k ? "avgpool" : "maxpool");
		free_view(&d);
		free_seq(c.seq);
	}
}

/* Batch norm with statistics far from a fresh layer's, dropout after it:
 * in evaluation mode both are fixed maps. */
static struct fedc_seq *bn_model(void)
{
	struct fedc_seq_cfg cfg = { .input = { 2, 1, 5, 5 }, .seed = 9 };
	struct fedc_seq *s;
	struct fedc_param *p;

	add(&cfg, fedc_layer_conv2d(3, 3, 1, 0, FEDC_ACT_NONE));
	add(&cfg, fedc_layer_batchnorm(FEDC_ACT_SIGMOID, false));
	add(&cfg, fedc_layer_dropout(0.5));
	add(&cfg, fedc_layer_flatten());
	add(&cfg, fedc_layer_dense(3, FEDC_ACT_NONE));
	s = new_seq(&cfg);
	p = s->params.items;
	for (size_t ch = 0; ch < 3; ch++) {
		p[s->layers[1].weight].value.data[ch] = 1.5f + 0.5f * (float)ch;
		p[s->layers[1].bias].value.data[ch] = 0.1f * (float)ch;
		p[s->layers[1].running_mean].value.data[ch] = 0.3f - 0.2f * (float)ch;
		p[s->layers[1].running_var].value.data[ch] = 0.25f + (float)ch;
	}
	return s;
}

static void test_seq_batchnorm_eval(void **state)
{
	struct fedc_data d;
	struct ctx c = { .d = &d, .loss = FEDC_LOSS_SOFTMAX_CE };

	(void)state;
	c.seq = bn_model();
	fill_view(&d, 3, 50, 3, 17, -1.0, 1.0);
	d.sample_ndim = 3, d.sample_shape[0] = 2, d.sample_shape[1] = 5, d.sample_shape[2] = 5;
	check_against_differences(&c, "batchnorm");
	free_view(&d);
	free_seq(c.seq);
}

/* Every value and gradient of the paramset, in one flat copy. */
static float *snapshot(const struct fedc_paramset *ps, size_t *len)
{
	size_t total = 0, at = 0;
	float *copy;

	for (size_t k = 0; k < ps->count; k++)
		total += 2 * fedc_mat_len(&ps->items[k].value);
	copy = malloc(total * sizeof(*copy));
	assert_non_null(copy);
	for (size_t k = 0; k < ps->count; k++) {
		size_t n = fedc_mat_len(&ps->items[k].value);

		memcpy(copy + at, ps->items[k].value.data, n * sizeof(float));
		at += n;
		if (ps->items[k].grad.data)
			memcpy(copy + at, ps->items[k].grad.data, n * sizeof(float));
		else
			memset(copy + at, 0, n * sizeof(float));
		at += n;
	}
	*len = total;
	return copy;
}

static void test_model_left_as_it_was(void **state)
{
	struct fedc_seq *s = bn_model();
	struct fedc_data d;
	float *before, *after, *grad;
	size_t len, len2;

	(void)state;
	fill_view(&d, 4, 50, 3, 18, -1.0, 1.0);
	grad = malloc(4 * 50 * sizeof(*grad));
	assert_non_null(grad);
	for (size_t k = 0; k < s->params.count; k++) /* gradients a training step left */
		if (s->params.items[k].grad.data)
			fedc_mat_fill(&s->params.items[k].grad, 0.25f);
	fedc_seq_set_training(s, true);
	before = snapshot(&s->params, &len);
	assert_int_equal(fedc_seq_input_gradient(s, &d, FEDC_LOSS_SOFTMAX_CE, grad), 0);
	after = snapshot(&s->params, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(before, after, len * sizeof(float));
	assert_true(s->training);
	free(before);
	free(after);
	free(grad);
	free_view(&d);
	free_seq(s);
}

/* 300 rows go through in two chunks; each row's gradient is its own. */
static void test_rows_independent_across_chunks(void **state)
{
	struct fedc_seq_cfg cfg = { .input = { 6, 1, 1, 1 }, .seed = 10 };
	struct fedc_data d, one;
	float *all, row[6];

	(void)state;
	add(&cfg, fedc_layer_dense(5, FEDC_ACT_SIGMOID));
	add(&cfg, fedc_layer_dense(3, FEDC_ACT_NONE));
	struct fedc_seq *s = new_seq(&cfg);
	fill_view(&d, 300, 6, 3, 19, -1.0, 1.0);
	all = malloc(300 * 6 * sizeof(*all));
	assert_non_null(all);
	assert_int_equal(fedc_seq_input_gradient(s, &d, FEDC_LOSS_SOFTMAX_CE, all), 0);
	for (size_t i = 0; i < 300; i += 37) {
		one = d;
		one.n_samples = 1;
		one.x = d.x + i * 6;
		one.y = d.y + i;
		assert_int_equal(fedc_seq_input_gradient(s, &one, FEDC_LOSS_SOFTMAX_CE, row), 0);
		for (size_t f = 0; f < 6; f++)
			assert_true(fabsf(row[f] - all[i * 6 + f]) <= 1e-5f + 1e-4f * fabsf(row[f]));
	}
	free(all);
	free_view(&d);
	free_seq(s);
}

static void test_bad_views_refused(void **state)
{
	struct fedc_net_cfg cfg = { .n_inputs = 4, .n_layers = 1, .sizes = { 3 }, .seed = 1 };
	struct fedc_net net;
	struct fedc_data d;
	float grad[5 * 4];

	(void)state;
	assert_int_equal(fedc_net_init(&net, &cfg), 0);
	fill_view(&d, 5, 4, 3, 20, -1.0, 1.0);
	assert_int_equal(fedc_net_input_gradient(&net, &d, FEDC_LOSS_SOFTMAX_CE, NULL), FEDC_NN_ERR_INVAL);
	assert_int_equal(fedc_net_input_gradient(NULL, &d, FEDC_LOSS_SOFTMAX_CE, grad), FEDC_NN_ERR_INVAL);
	d.n_features = 3;
	assert_int_equal(fedc_net_input_gradient(&net, &d, FEDC_LOSS_SOFTMAX_CE, grad), FEDC_NN_ERR_DATA);
	assert_non_null(strstr(fedc_plan_last_error(), "4"));
	d.n_features = 4;
	d.y[2] = 3.0f; /* class 3 of 3 */
	assert_int_equal(fedc_net_input_gradient(&net, &d, FEDC_LOSS_SOFTMAX_CE, grad), FEDC_NN_ERR_DATA);
	d.y[2] = 1.0f;
	assert_int_equal(fedc_net_input_gradient(&net, &d, FEDC_LOSS_BCE, grad), FEDC_NN_ERR_DATA); /* 3 outputs */
	d.n_samples = 0;
	assert_int_equal(fedc_net_input_gradient(&net, &d, FEDC_LOSS_SOFTMAX_CE, grad), FEDC_NN_ERR_DATA);
	free_view(&d);
	fedc_net_release(&net);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_softmax_ce),
		cmocka_unit_test(test_net_bce_and_mse),
		cmocka_unit_test(test_seq_conv2d),
		cmocka_unit_test(test_seq_pooling),
		cmocka_unit_test(test_seq_batchnorm_eval),
		cmocka_unit_test(test_model_left_as_it_was),
		cmocka_unit_test(test_rows_independent_across_chunks),
		cmocka_unit_test(test_bad_views_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
