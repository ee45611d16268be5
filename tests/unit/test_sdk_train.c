/* Plan SDK: the training loop (accuracy on separable problems, seeded
 * determinism, reporting, FedProx, SCAFFOLD, bad input) and the example
 * MLP plan built on it, loaded as the node loads it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/nn.h"

#define MLP_PLAN_PATH FEDC_PLAN_DIR "/mlp.so"

struct dataset {
	struct fedc_data d;
	float *x, *y;
};

/* n points uniform in [-1, 1]^2; label 1 where x0 x1 > 0 (XOR: no line
 * separates it, one hidden layer does). Points within 0.05 of an axis are
 * pushed off it so that the classes have a margin. */
static void xor_data(struct dataset *s, size_t n, uint64_t seed)
{
	struct fedc_rng rng;

	fedc_rng_seed(&rng, seed);
	s->x = malloc(n * 2 * sizeof(float));
	s->y = malloc(n * sizeof(float));
	assert_non_null(s->x), assert_non_null(s->y);
	for (size_t i = 0; i < n; i++) {
		for (size_t f = 0; f < 2; f++) {
			float v = (float)(2 * fedc_rng_uniform(&rng) - 1);

			s->x[2 * i + f] = fabsf(v) < 0.05f ? copysignf(0.05f, v) + v : v;
		}
		s->y[i] = s->x[2 * i] * s->x[2 * i + 1] > 0 ? 1.0f : 0.0f;
	}
	s->d = (struct fedc_data){ .n_samples = n, .n_features = 2, .x = s->x, .y = s->y, .n_classes = 2 };
}

static void free_data(struct dataset *s)
{
	free(s->x), free(s->y);
}

static void small_net(struct fedc_net *net, size_t n_out, uint64_t seed)
{
	struct fedc_net_cfg cfg = { .n_inputs = 2, .n_layers = 2, .sizes = { 16, n_out },
				    .hidden_act = FEDC_ACT_RELU, .init = FEDC_INIT_HE, .seed = seed };

	assert_int_equal(fedc_net_init(net, &cfg), 0);
}

static void test_mlp_learns_xor(void **state)
{
	struct dataset train, test;
	struct fedc_net net;
	struct fedc_train_args args = { .lr = 0.01, .epochs = 40, .batch_size = 32, .seed = 3, .optimizer = "adam" };
	struct fedc_train_cfg cfg = { .args = &args, .loss = FEDC_LOSS_SOFTMAX_CE };
	struct fedc_metrics m;

	xor_data(&train, 2000, 1), xor_data(&test, 500, 2);
	small_net(&net, 2, 7);
	assert_int_equal(fedc_net_evaluate(&net, &test.d, FEDC_LOSS_SOFTMAX_CE, &m), 0);
	assert_true(fedc_metrics_get(&m, "accuracy") < 0.8);
	assert_int_equal(fedc_net_train(&net, &train.d, &cfg, &m), 0);
	assert_true(fedc_metrics_get(&m, "accuracy") > 0.95);
	assert_float_equal(fedc_metrics_get(&m, "num_updates"), 40 * 63, 0);
	assert_int_equal(fedc_net_evaluate(&net, &test.d, FEDC_LOSS_SOFTMAX_CE, &m), 0);
	assert_true(fedc_metrics_get(&m, "accuracy") > 0.95);
	assert_true(fedc_metrics_get(&m, "loss") < 0.2);
	fedc_net_release(&net);
	free_data(&train), free_data(&test);
}

/* The same problem with one logit and the binary cross-entropy, plain SGD. */
static void test_bce_learns_xor(void **state)
{
	struct dataset train;
	struct fedc_net net;
	struct fedc_train_args args = { .lr = 0.5, .epochs = 60, .batch_size = 16, .seed = 4 };
	struct fedc_train_cfg cfg = { .args = &args, .loss = FEDC_LOSS_BCE };
	struct fedc_metrics m;

	xor_data(&train, 1000, 5);
	small_net(&net, 1, 8);
	assert_int_equal(fedc_net_train(&net, &train.d, &cfg, &m), 0);
	assert_true(fedc_metrics_get(&m, "accuracy") > 0.95);
	fedc_net_release(&net);
	free_data(&train);
}

/* Regression: y = 2 x0 - x1 + 0.5 with a linear net (one layer) and MSE. */
static void test_mse_fits_line(void **state)
{
	struct dataset s;
	struct fedc_net net;
	struct fedc_net_cfg nc = { .n_inputs = 2, .n_layers = 1, .sizes = { 1 }, .init = FEDC_INIT_XAVIER, .seed = 1 };
	struct fedc_train_args args = { .lr = 0.1, .epochs = 50, .batch_size = 10, .seed = 4, .optimizer = "sgdm" };
	struct fedc_train_cfg cfg = { .args = &args, .loss = FEDC_LOSS_MSE };
	struct fedc_metrics m;

	xor_data(&s, 200, 6);
	for (size_t i = 0; i < 200; i++)
		s.y[i] = 2 * s.x[2 * i] - s.x[2 * i + 1] + 0.5f;
	assert_int_equal(fedc_net_init(&net, &nc), 0);
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), 0);
	assert_true(fedc_metrics_get(&m, "loss") < 1e-6);
	assert_true(isnan(fedc_metrics_get(&m, "accuracy")));
	assert_float_equal(net.params.items[0].value.data[0], 2.0, 1e-3);
	assert_float_equal(net.params.items[1].value.data[0], 0.5, 1e-3);
	fedc_net_release(&net);
	free_data(&s);
}

static void train_copy(uint64_t init_seed, uint64_t data_seed, struct fedc_paramset *out)
{
	struct dataset s;
	struct fedc_net net;
	struct fedc_train_args args = { .lr = 0.1, .num_updates = 50, .batch_size = 8, .seed = data_seed };
	struct fedc_train_cfg cfg = { .args = &args, .loss = FEDC_LOSS_SOFTMAX_CE };
	struct fedc_metrics m;

	xor_data(&s, 100, 9);
	small_net(&net, 2, init_seed);
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), 0);
	assert_float_equal(fedc_metrics_get(&m, "num_updates"), 50, 0);
	memset(out, 0, sizeof(*out));
	assert_int_equal(fedc_paramset_init_like(out, &net.params), 0);
	assert_int_equal(fedc_paramset_copy(out, &net.params), 0);
	fedc_net_release(&net);
	free_data(&s);
}

static bool same_values(const struct fedc_paramset *a, const struct fedc_paramset *b)
{
	for (size_t k = 0; k < a->count; k++) {
		if (memcmp(a->items[k].value.data, b->items[k].value.data,
			   fedc_mat_len(&a->items[k].value) * sizeof(float)) != 0)
			return false;
	}
	return true;
}

static void test_training_is_seeded(void **state)
{
	struct fedc_paramset a, b, c, d;

	train_copy(1, 2, &a), train_copy(1, 2, &b), train_copy(1, 3, &c), train_copy(2, 2, &d);
	assert_true(same_values(&a, &b));
	assert_false(same_values(&a, &c)); /* other shuffle */
	assert_false(same_values(&a, &d)); /* other initialisation */
	fedc_paramset_release(&a), fedc_paramset_release(&b);
	fedc_paramset_release(&c), fedc_paramset_release(&d);
}

struct reports {
	int calls;
	uint64_t last_iteration;
	uint32_t last_epoch;
};

static void on_scalar(void *ctx, const char *name, double value, uint64_t iteration, uint32_t epoch)
{
	struct reports *r = ctx;

	assert_string_equal(name, "loss");
	assert_true(isfinite(value));
	assert_true(iteration > r->last_iteration);
	r->calls++;
	r->last_iteration = iteration;
	r->last_epoch = epoch;
}

/* 100 rows, batch 10: 10 steps a pass, 3 passes. Once per pass by default;
 * every 4 steps (4, 8 ... 28) plus the last (30) when asked. */
static void test_reporter_throttled(void **state)
{
	struct dataset s;
	struct fedc_net net;
	struct fedc_train_args args = { .lr = 0.1, .epochs = 3, .batch_size = 10, .seed = 1 };
	struct reports r = { 0 };
	struct fedc_reporter rep = { &r, on_scalar };
	struct fedc_train_cfg cfg = { .args = &args, .loss = FEDC_LOSS_SOFTMAX_CE, .reporter = &rep };
	struct fedc_metrics m;

	xor_data(&s, 100, 1);
	small_net(&net, 2, 1);
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), 0);
	assert_int_equal(r.calls, 3);
	assert_int_equal(r.last_epoch, 3);
	r = (struct reports){ 0 };
	cfg.report_every = 4;
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), 0);
	assert_int_equal(r.calls, 8);
	assert_int_equal(r.last_iteration, 30);
	r = (struct reports){ 0 };
	cfg.report_min_interval_s = 3600; /* the first and the last only */
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), 0);
	assert_int_equal(r.calls, 2);
	fedc_net_release(&net);
	free_data(&s);
}

/* A strong proximal term keeps the weights near where the round started. */
static void test_fedprox_pulls_to_start(void **state)
{
	struct dataset s;
	struct fedc_net free_net, prox_net;
	struct fedc_paramset start = { 0 };
	struct fedc_train_args args = { .lr = 0.05, .epochs = 5, .batch_size = 10, .seed = 1 };
	struct fedc_train_cfg cfg = { .args = &args, .loss = FEDC_LOSS_SOFTMAX_CE };
	struct fedc_metrics m;
	double moved_free, moved_prox;

	xor_data(&s, 200, 1);
	small_net(&free_net, 2, 1), small_net(&prox_net, 2, 1);
	assert_int_equal(fedc_paramset_init_like(&start, &free_net.params), 0);
	assert_int_equal(fedc_paramset_copy(&start, &free_net.params), 0);
	assert_int_equal(fedc_net_train(&free_net, &s.d, &cfg, &m), 0);
	args.fedprox_mu = 10.0;
	assert_int_equal(fedc_net_train(&prox_net, &s.d, &cfg, &m), 0);
	/* fedc_fedprox with mu 2 is ||w - start||^2. */
	moved_free = fedc_fedprox(&free_net.params, &start, 2.0, false);
	moved_prox = fedc_fedprox(&prox_net.params, &start, 2.0, false);
	assert_true(moved_prox < moved_free / 10);
	fedc_net_release(&free_net), fedc_net_release(&prox_net);
	fedc_paramset_release(&start);
	free_data(&s);
}

/* c == c_i changes nothing; otherwise c_i+ and delta_c follow option II. */
static void test_scaffold_control_variates(void **state)
{
	struct dataset s;
	struct fedc_net plain, net;
	struct fedc_paramset c = { 0 }, ci = { 0 }, ci0 = { 0 }, dc = { 0 }, global = { 0 }, dx = { 0 };
	struct fedc_scaffold sc = { &c, &ci, &dc };
	struct fedc_train_args args = { .lr = 0.05, .num_updates = 25, .batch_size = 10, .seed = 1 };
	struct fedc_train_cfg cfg = { .args = &args, .loss = FEDC_LOSS_SOFTMAX_CE };
	struct fedc_metrics m;
	struct fedc_rng rng;

	xor_data(&s, 100, 1);
	small_net(&plain, 2, 1), small_net(&net, 2, 1);
	fedc_paramset_init_like(&c, &net.params), fedc_paramset_init_like(&ci, &net.params);
	fedc_paramset_init_like(&ci0, &net.params), fedc_paramset_init_like(&dc, &net.params);
	fedc_paramset_init_like(&global, &net.params), fedc_paramset_init_like(&dx, &net.params);
	assert_int_equal(fedc_paramset_copy(&global, &net.params), 0);
	assert_int_equal(fedc_net_train(&plain, &s.d, &cfg, &m), 0);
	cfg.scaffold = &sc;
	cfg.delta_x = &dx;
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), 0); /* c = c_i = 0 */
	assert_true(same_values(&plain.params, &net.params));

	fedc_rng_seed(&rng, 3);
	for (size_t k = 0; k < c.count; k++) {
		for (size_t i = 0; i < fedc_mat_len(&c.items[k].value); i++) {
			c.items[k].value.data[i] = (float)(fedc_rng_uniform(&rng) - 0.5);
			ci.items[k].value.data[i] = (float)(fedc_rng_uniform(&rng) - 0.5);
		}
	}
	fedc_paramset_copy(&ci0, &ci);
	assert_int_equal(fedc_paramset_copy(&net.params, &global), 0);
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), 0);
	assert_false(same_values(&plain.params, &net.params));
	for (size_t k = 0; k < c.count; k++) {
		for (size_t i = 0; i < fedc_mat_len(&c.items[k].value); i++) {
			double xg = global.items[k].value.data[i], xl = net.params.items[k].value.data[i];
			double want = ci0.items[k].value.data[i] - c.items[k].value.data[i] + (xg - xl) / (25 * 0.05);

			assert_float_equal(ci.items[k].value.data[i], want, 1e-4);
			assert_float_equal(dc.items[k].value.data[i], want - ci0.items[k].value.data[i], 1e-4);
			assert_float_equal(dx.items[k].value.data[i], (float)(xl - xg), 1e-6f);
		}
	}
	fedc_net_release(&plain), fedc_net_release(&net);
	fedc_paramset_release(&c), fedc_paramset_release(&ci), fedc_paramset_release(&ci0);
	fedc_paramset_release(&dc), fedc_paramset_release(&global), fedc_paramset_release(&dx);
	free_data(&s);
}

static void test_train_rejects_bad_input(void **state)
{
	struct dataset s;
	struct fedc_net net;
	struct fedc_train_args args = { .lr = 0.1, .epochs = 1, .batch_size = 10, .seed = 1 };
	struct fedc_train_cfg cfg = { .args = &args, .loss = FEDC_LOSS_SOFTMAX_CE };
	struct fedc_metrics m;

	xor_data(&s, 50, 1);
	small_net(&net, 2, 1);
	s.d.n_features = 3;
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), FEDC_NN_ERR_DATA);
	s.d.n_features = 2;
	s.y[7] = 2.0f; /* class 2 of 2 */
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), FEDC_NN_ERR_DATA);
	assert_int_equal(fedc_net_evaluate(&net, &s.d, FEDC_LOSS_SOFTMAX_CE, &m), FEDC_NN_ERR_DATA);
	s.y[7] = 1.0f;
	args.batch_size = 0;
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), FEDC_NN_ERR_INVAL);
	args.batch_size = 10, args.epochs = 0;
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), FEDC_NN_ERR_INVAL);
	args.epochs = 1, args.optimizer = "lbfgs";
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), FEDC_NN_ERR_INVAL);
	args.optimizer = NULL;
	cfg.loss = FEDC_LOSS_BCE; /* two outputs, one target */
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), FEDC_NN_ERR_SHAPE);
	fedc_net_release(&net);
	free_data(&s);
}

static void test_train_reports_divergence(void **state)
{
	struct dataset s;
	struct fedc_net net;
	struct fedc_net_cfg nc = { .n_inputs = 2, .n_layers = 1, .sizes = { 1 }, .seed = 1 };
	struct fedc_train_args args = { .lr = 1e30, .epochs = 5, .batch_size = 10, .seed = 1 };
	struct fedc_train_cfg cfg = { .args = &args, .loss = FEDC_LOSS_MSE };
	struct fedc_metrics m;

	xor_data(&s, 50, 1);
	assert_int_equal(fedc_net_init(&net, &nc), 0);
	assert_int_equal(fedc_net_train(&net, &s.d, &cfg, &m), FEDC_NN_ERR_DIVERGED);
	fedc_net_release(&net);
	free_data(&s);
}

/* ------------------------------------------------------------------ */
/* The example plan examples/mlp, through the ABI                       */

static const struct fedc_plan *load_mlp(void **so)
{
	const struct fedc_plan *plan;

	*so = dlopen(MLP_PLAN_PATH, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(*so);
	plan = dlsym(*so, FEDC_PLAN_SYMBOL);
	assert_non_null(plan);
	assert_int_equal(plan->abi_version, FEDC_PLAN_ABI_VERSION);
	return plan;
}

static void test_mlp_plan_round(void **state)
{
	const struct fedc_arg items[] = { { "n_features", 2 }, { "n_classes", 2 }, { "hidden", 16 }, { "hidden2", 8 } };
	const struct fedc_args margs = { items, 4 };
	struct fedc_train_args args = { .lr = 0.01, .epochs = 30, .batch_size = 32, .seed = 5, .optimizer = "adam" };
	struct dataset train, test;
	const struct fedc_tensor *t;
	struct fedc_metrics m;
	size_t n;
	void *so, *model, *other;
	const struct fedc_plan *plan = load_mlp(&so);

	xor_data(&train, 2000, 1), xor_data(&test, 500, 2);
	assert_int_equal(plan->create(&margs, 11, &model), 0);
	assert_int_equal(plan->get_params(model, &t, &n), 0);
	assert_int_equal(n, 6);
	assert_string_equal(t[0].name, "dense0.weight");
	assert_int_equal(t[0].shape[0], 16), assert_int_equal(t[0].shape[1], 2);
	assert_string_equal(t[5].name, "dense2.bias");
	assert_int_equal(plan->train(model, &train.d, &args, NULL, &m), 0);
	assert_int_equal(plan->evaluate(model, &test.d, &m), 0);
	assert_true(fedc_metrics_get(&m, "accuracy") > 0.95);
	/* A fresh model given the trained parameters predicts the same. */
	assert_int_equal(plan->create(&margs, 12, &other), 0);
	assert_int_equal(plan->get_params(model, &t, &n), 0);
	assert_int_equal(plan->set_params(other, t, n), 0);
	assert_int_equal(plan->evaluate(other, &test.d, &m), 0);
	assert_true(fedc_metrics_get(&m, "accuracy") > 0.95);
	assert_int_equal(plan->set_params(other, t, n - 1), FEDC_NN_ERR_SHAPE);
	plan->destroy(model), plan->destroy(other);
	dlclose(so);
	free_data(&train), free_data(&test);
}

static void test_mlp_plan_rejects_bad_args(void **state)
{
	const struct fedc_arg typo[] = { { "hiden", 16 } }, gap[] = { { "hidden3", 8 } },
			      big[] = { { "n_classes", 1 } }, frac[] = { { "hidden", 2.5 } };
	const struct fedc_args cases[] = { { typo, 1 }, { gap, 1 }, { big, 1 }, { frac, 1 } };
	void *so, *model = NULL;
	const struct fedc_plan *plan = load_mlp(&so);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(plan->create(&cases[i], 1, &model) < 0);
		assert_null(model);
	}
	assert_int_equal(plan->create(NULL, 1, &model), 0); /* defaults: 784-128-10 */
	plan->destroy(model);
	dlclose(so);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mlp_learns_xor),
		cmocka_unit_test(test_bce_learns_xor),
		cmocka_unit_test(test_mse_fits_line),
		cmocka_unit_test(test_training_is_seeded),
		cmocka_unit_test(test_reporter_throttled),
		cmocka_unit_test(test_fedprox_pulls_to_start),
		cmocka_unit_test(test_scaffold_control_variates),
		cmocka_unit_test(test_train_rejects_bad_input),
		cmocka_unit_test(test_train_reports_divergence),
		cmocka_unit_test(test_mlp_plan_round),
		cmocka_unit_test(test_mlp_plan_rejects_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
