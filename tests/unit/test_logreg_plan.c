/* The logreg example plan, loaded as the node loads it (dlopen of the built
 * shared object), trained centrally on the breast-cancer data set. */
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

#include "dataset.h"
#include "fedc/plan.h"

#define PLAN_PATH FEDC_PLAN_DIR "/logreg.so"
#define DATA_PATH FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv"
#define N_FEATURES 30

struct fixture {
	void *so;
	const struct fedc_plan *plan;
	struct fedc_data all;
};

static struct fixture fx;

static const struct fedc_arg model_items[] = { { "n_features", N_FEATURES } };
static const struct fedc_args model_args = { model_items, 1 };

/* ------------------------------------------------------------------ */
/* Data: the node's own loader, then a seeded 80/20 split              */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void alloc_view(struct fedc_data *d, size_t n)
{
	d->n_samples = n;
	d->n_features = fx.all.n_features;
	d->n_classes = fx.all.n_classes;
	d->x = malloc(n * d->n_features * sizeof(float) + 1);
	d->y = malloc(n * sizeof(float) + 1);
	assert_non_null(d->x);
	assert_non_null(d->y);
}

static void copy_row(struct fedc_data *dst, size_t to, size_t from)
{
	size_t nf = fx.all.n_features;

	memcpy(dst->x + to * nf, fx.all.x + from * nf, nf * sizeof(float));
	dst->y[to] = fx.all.y[from];
}

/* Fresh copies every time: prepare() standardizes its views in place. */
static void split(uint64_t seed, struct fedc_data *train, struct fedc_data *test)
{
	size_t n = fx.all.n_samples, n_test = n / 5;
	size_t *idx = malloc(n * sizeof(*idx));

	assert_non_null(idx);
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(splitmix64(&seed) % i), t = idx[i - 1];

		idx[i - 1] = idx[j];
		idx[j] = t;
	}
	alloc_view(test, n_test);
	alloc_view(train, n - n_test);
	for (size_t i = 0; i < n_test; i++)
		copy_row(test, i, idx[i]);
	for (size_t i = n_test; i < n; i++)
		copy_row(train, i - n_test, idx[i]);
	free(idx);
}

static void free_view(struct fedc_data *d)
{
	free(d->x);
	free(d->y);
	memset(d, 0, sizeof(*d));
}

static double metric(const struct fedc_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->count; i++) {
		if (strcmp(m->items[i].name, name) == 0)
			return m->items[i].value;
	}
	fail_msg("metric \"%s\" missing", name);
	return NAN;
}

static struct fedc_train_args reference_args(uint64_t seed)
{
	struct fedc_train_args a = { .lr = 0.1, .epochs = 50, .batch_size = 32, .seed = seed, .optimizer = "sgd" };

	return a;
}

struct scalar_log {
	size_t calls;
	uint32_t last_epoch;
	uint64_t last_iteration;
	double last_value;
};

static void on_scalar(void *ctx, const char *name, double value, uint64_t iteration, uint32_t epoch)
{
	struct scalar_log *log = ctx;

	assert_string_equal(name, "loss");
	log->calls++;
	log->last_epoch = epoch;
	log->last_iteration = iteration;
	log->last_value = value;
}

static void *new_model(uint64_t seed)
{
	void *model = NULL;

	assert_int_equal(fx.plan->create(&model_args, seed, &model), 0);
	assert_non_null(model);
	return model;
}

/* ------------------------------------------------------------------ */

static int setup(void **state)
{
	struct node_dataset ds;

	fx.so = dlopen(PLAN_PATH, RTLD_NOW | RTLD_LOCAL);
	if (!fx.so) {
		fprintf(stderr, "dlopen %s: %s\n", PLAN_PATH, dlerror());
		return -1;
	}
	fx.plan = dlsym(fx.so, FEDC_PLAN_SYMBOL);
	memset(&ds, 0, sizeof(ds));
	snprintf(ds.path, sizeof(ds.path), "%s", DATA_PATH);
	snprintf(ds.name, sizeof(ds.name), "breast-cancer");
	if (dataset__inspect(&ds, NULL) || dataset__load(&ds, &fx.all)) {
		fprintf(stderr, "%s: %s\n", DATA_PATH, fedc_last_error());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	dataset__free_data(&fx.all);
	if (fx.so)
		dlclose(fx.so);
	return 0;
}

static void test_abi_symbol(void **state)
{
	const struct fedc_plan *p = fx.plan;

	assert_non_null(p);
	assert_int_equal(p->abi_version, FEDC_PLAN_ABI_VERSION);
	assert_string_equal(p->name, "logreg");
	assert_non_null(p->create);
	assert_non_null(p->prepare);
	assert_non_null(p->get_params);
	assert_non_null(p->set_params);
	assert_non_null(p->train);
	assert_non_null(p->evaluate);
	assert_non_null(p->destroy);
	/* Hidden visibility: the plan's helpers are not exported. */
	assert_null(dlsym(fx.so, "splitmix64"));
	assert_null(dlsym(fx.so, "logreg_train"));
}

static void test_data_loaded(void **state)
{
	assert_int_equal(fx.all.n_samples, 569);
	assert_int_equal(fx.all.n_features, N_FEATURES);
	assert_int_equal(fx.all.n_classes, 2);
}

/* The FIELD-NOTES reference setup (standardized, SGD lr 0.1, batch 32,
 * 50 epochs, 80/20) gives 0.969 +- 0.013; each split must reach 0.93. */
static void test_train_breast_cancer(void **state)
{
	double sum = 0.0;

	for (uint64_t split_seed = 0; split_seed < 5; split_seed++) {
		struct fedc_data train, test;
		struct fedc_metrics tm = { 0 }, em = { 0 };
		struct scalar_log log = { 0 };
		struct fedc_reporter rep = { &log, on_scalar };
		struct fedc_train_args args = reference_args(100 + split_seed);
		void *model = new_model(7);
		double acc;

		split(split_seed, &train, &test);
		assert_int_equal(fx.plan->prepare(model, &train, &test), 0);
		assert_int_equal(fx.plan->train(model, &train, &args, &rep, &tm), 0);
		assert_int_equal(fx.plan->evaluate(model, &test, &em), 0);
		acc = metric(&em, "accuracy");
		print_message("split %llu: train loss %.4f, test loss %.4f, test accuracy %.4f\n",
			      (unsigned long long)split_seed, metric(&tm, "loss"), metric(&em, "loss"), acc);
		assert_true(acc >= 0.93);
		assert_true(metric(&tm, "loss") < 0.2);
		assert_true(isfinite(metric(&em, "loss")));
		/* One scalar per epoch; iterations count mini-batch steps. */
		assert_int_equal(log.calls, 50);
		assert_int_equal(log.last_epoch, 50);
		assert_int_equal(log.last_iteration, 50 * ((train.n_samples + 31) / 32));
		assert_true(log.last_value == metric(&tm, "loss"));
		sum += acc;
		fx.plan->destroy(model);
		free_view(&train);
		free_view(&test);
	}
	assert_true(sum / 5 >= 0.95);
}

/* Same seeds, same data: the same parameters bit for bit; another
 * shuffling seed gives others. */
static void test_train_deterministic(void **state)
{
	float params[3][N_FEATURES + 1];

	for (int run = 0; run < 3; run++) {
		struct fedc_data train, test;
		struct fedc_metrics m = { 0 };
		struct fedc_train_args args = reference_args(run == 2 ? 43 : 42);
		const struct fedc_tensor *t = NULL;
		size_t count = 0;
		void *model = new_model(3);

		args.epochs = 5;
		split(1, &train, &test);
		assert_int_equal(fx.plan->prepare(model, &train, &test), 0);
		assert_int_equal(fx.plan->train(model, &train, &args, NULL, &m), 0);
		assert_int_equal(fx.plan->get_params(model, &t, &count), 0);
		assert_int_equal(count, 4);
		memcpy(params[run], t[0].data, N_FEATURES * sizeof(float));
		memcpy(params[run] + N_FEATURES, t[1].data, sizeof(float));
		fx.plan->destroy(model);
		free_view(&train);
		free_view(&test);
	}
	assert_memory_equal(params[0], params[1], sizeof(params[0]));
	assert_memory_not_equal(params[0], params[2], sizeof(params[0]));
}

static void test_create_seeded(void **state)
{
	void *a = new_model(1), *b = new_model(1), *c = new_model(2);
	const struct fedc_tensor *ta, *tb, *tc;
	size_t n;

	assert_int_equal(fx.plan->get_params(a, &ta, &n), 0);
	assert_int_equal(fx.plan->get_params(b, &tb, &n), 0);
	assert_int_equal(fx.plan->get_params(c, &tc, &n), 0);
	assert_memory_equal(ta[0].data, tb[0].data, N_FEATURES * sizeof(float));
	assert_memory_not_equal(ta[0].data, tc[0].data, N_FEATURES * sizeof(float));
	fx.plan->destroy(a);
	fx.plan->destroy(b);
	fx.plan->destroy(c);
}

/* feature_mean and feature_std are buffers, weight and bias weights; a
 * count other than the model's four is refused. */
static void test_param_roles(void **state)
{
	static const uint8_t want[4] = { FEDC_PARAM_WEIGHT, FEDC_PARAM_WEIGHT, FEDC_PARAM_BUFFER, FEDC_PARAM_BUFFER };
	void *m = new_model(1);
	const struct fedc_tensor *t;
	uint8_t roles[4];
	size_t n;

	(void)state;
	assert_non_null(fx.plan->param_roles);
	assert_int_equal(fx.plan->get_params(m, &t, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(t[2].name, "feature_mean");
	assert_string_equal(t[3].name, "feature_std");
	assert_int_equal(fx.plan->param_roles(m, roles, n), 0);
	assert_memory_equal(roles, want, sizeof(want));
	assert_int_equal(fx.plan->param_roles(m, roles, 3), -1);
	fx.plan->destroy(m);
}

static void test_params_layout_and_round_trip(void **state)
{
	struct fedc_data train, test;
	struct fedc_metrics m = { 0 }, ma = { 0 }, mb = { 0 };
	struct fedc_train_args args = reference_args(5);
	const struct fedc_tensor *t = NULL, *tb = NULL;
	size_t count = 0;
	void *a = new_model(1), *b = new_model(99);

	assert_int_equal(fx.plan->get_params(a, &t, &count), 0);
	assert_int_equal(count, 4);
	assert_string_equal(t[2].name, "feature_mean");
	assert_int_equal(t[2].shape[0], N_FEATURES);
	assert_string_equal(t[3].name, "feature_std");
	assert_int_equal(t[3].shape[0], N_FEATURES);
	assert_string_equal(t[0].name, "weight");
	assert_int_equal(t[0].dtype, FEDC_DTYPE_F32);
	assert_int_equal(t[0].ndim, 2);
	assert_int_equal(t[0].shape[0], 1);
	assert_int_equal(t[0].shape[1], N_FEATURES);
	assert_string_equal(t[1].name, "bias");
	assert_int_equal(t[1].ndim, 1);
	assert_int_equal(t[1].shape[0], 1);

	args.epochs = 3;
	split(2, &train, &test);
	assert_int_equal(fx.plan->prepare(a, &train, &test), 0);
	assert_int_equal(fx.plan->train(a, &train, &args, NULL, &m), 0);
	assert_int_equal(fx.plan->get_params(a, &t, &count), 0);
	assert_int_equal(fx.plan->set_params(b, t, count), 0);
	assert_int_equal(fx.plan->get_params(b, &tb, &count), 0);
	assert_memory_equal(t[0].data, tb[0].data, N_FEATURES * sizeof(float));
	assert_memory_equal(t[1].data, tb[1].data, sizeof(float));
	assert_int_equal(fx.plan->evaluate(a, &test, &ma), 0);
	assert_int_equal(fx.plan->evaluate(b, &test, &mb), 0);
	assert_true(metric(&ma, "loss") == metric(&mb, "loss"));
	assert_true(metric(&ma, "accuracy") == metric(&mb, "accuracy"));
	fx.plan->destroy(a);
	fx.plan->destroy(b);
	free_view(&train);
	free_view(&test);
}

static void test_set_params_rejects_bad_layout(void **state)
{
	float w[N_FEATURES + 1] = { 0 }, bias[1] = { 0.5f }, mean[N_FEATURES] = { 0 }, std[N_FEATURES] = { 0 };
	struct fedc_tensor good[4] = {
		{ "weight", FEDC_DTYPE_F32, 2, { 1, N_FEATURES }, w },
		{ "bias", FEDC_DTYPE_F32, 1, { 1 }, bias },
		{ "feature_mean", FEDC_DTYPE_F32, 1, { N_FEATURES }, mean },
		{ "feature_std", FEDC_DTYPE_F32, 1, { N_FEATURES }, std },
	};
	struct fedc_tensor t[4];
	const struct fedc_tensor *cur;
	size_t n;
	void *m = new_model(1);

	memcpy(t, good, sizeof(t));
	t[0].shape[1] = N_FEATURES - 1;
	assert_int_equal(fx.plan->set_params(m, t, 4), -1);
	memcpy(t, good, sizeof(t));
	t[0].ndim = 1;
	t[0].shape[0] = N_FEATURES;
	assert_int_equal(fx.plan->set_params(m, t, 4), -1);
	memcpy(t, good, sizeof(t));
	t[1].name = "weight";
	assert_int_equal(fx.plan->set_params(m, t, 4), -1);
	memcpy(t, good, sizeof(t));
	t[1].name = "b";
	assert_int_equal(fx.plan->set_params(m, t, 4), -1);
	memcpy(t, good, sizeof(t));
	t[1].dtype = 2;
	assert_int_equal(fx.plan->set_params(m, t, 4), -1);
	assert_int_equal(fx.plan->set_params(m, good, 1), -1);
	assert_int_equal(fx.plan->set_params(m, NULL, 4), -1);
	/* Nothing was copied by the refused calls. */
	assert_int_equal(fx.plan->get_params(m, &cur, &n), 0);
	assert_true(((const float *)cur[1].data)[0] == 0.0f);
	/* Order does not matter. */
	memcpy(t, good, sizeof(t));
	t[0] = good[1];
	t[1] = good[0];
	assert_int_equal(fx.plan->set_params(m, t, 4), 0);
	assert_int_equal(fx.plan->get_params(m, &cur, &n), 0);
	assert_true(((const float *)cur[1].data)[0] == 0.5f);
	fx.plan->destroy(m);
}

static void test_create_rejects_bad_args(void **state)
{
	static const struct fedc_arg three_classes[] = { { "n_features", 4 }, { "n_classes", 3 } };
	static const struct fedc_arg two_classes[] = { { "n_classes", 2 }, { "n_features", 4 } };
	static const struct fedc_arg zero[] = { { "n_features", 0 } };
	static const struct fedc_arg fraction[] = { { "n_features", 2.5 } };
	static const struct fedc_arg typo[] = { { "n_feature", 4 } };
	static const struct fedc_arg unknown[] = { { "n_features", 4 }, { "hidden", 8 } };
	static const struct fedc_arg twice[] = { { "n_features", 4 }, { "n_features", 4 } };
	struct fedc_args a;
	void *m = NULL;

#define EXPECT_CREATE(items, ret)                                                \
	do {                                                                     \
		a = (struct fedc_args){ items, sizeof(items) / sizeof(items[0]) }; \
		assert_int_equal(fx.plan->create(&a, 1, &m), ret);               \
	} while (0)
	EXPECT_CREATE(three_classes, -1);
	EXPECT_CREATE(zero, -1);
	EXPECT_CREATE(fraction, -1);
	EXPECT_CREATE(typo, -1);
	EXPECT_CREATE(unknown, -1);
	EXPECT_CREATE(twice, -1);
	assert_null(m);
	EXPECT_CREATE(two_classes, 0);
#undef EXPECT_CREATE
	fx.plan->destroy(m);
	assert_int_equal(fx.plan->create(NULL, 1, &m), -1);
	assert_int_equal(fx.plan->create(&model_args, 1, NULL), -1);
	fx.plan->destroy(NULL);
}

static void test_train_rejects_bad_input(void **state)
{
	struct fedc_data train, test, empty = { 0 };
	struct fedc_metrics m = { 0 };
	struct fedc_train_args args = reference_args(1);
	void *model = new_model(1);

	split(3, &train, &test);
	args.batch_size = 0;
	assert_int_equal(fx.plan->train(model, &train, &args, NULL, &m), -1);
	args = reference_args(1);
	args.lr = 0;
	assert_int_equal(fx.plan->train(model, &train, &args, NULL, &m), -1);
	args = reference_args(1);
	args.lr = NAN;
	assert_int_equal(fx.plan->train(model, &train, &args, NULL, &m), -1);
	args = reference_args(1);
	args.epochs = 0;
	assert_int_equal(fx.plan->train(model, &train, &args, NULL, &m), -1);
	args = reference_args(1);
	args.optimizer = "adam";
	assert_int_equal(fx.plan->train(model, &train, &args, NULL, &m), -1);
	args = reference_args(1);
	args.fedprox_mu = -1;
	assert_int_equal(fx.plan->train(model, &train, &args, NULL, &m), -1);
	args = reference_args(1);
	assert_int_equal(fx.plan->train(model, &empty, &args, NULL, &m), -1);
	assert_int_equal(fx.plan->train(model, NULL, &args, NULL, &m), -1);
	assert_int_equal(fx.plan->train(model, &train, NULL, NULL, &m), -1);
	assert_int_equal(fx.plan->train(model, &train, &args, NULL, NULL), -1);
	assert_int_equal(fx.plan->train(NULL, &train, &args, NULL, &m), -1);
	train.n_features = N_FEATURES - 1;
	assert_int_equal(fx.plan->train(model, &train, &args, NULL, &m), -1);
	assert_int_equal(fx.plan->prepare(model, &train, &test), -1);
	train.n_features = N_FEATURES;
	train.y[3] = 2.0f; /* not a binary label */
	assert_int_equal(fx.plan->train(model, &train, &args, NULL, &m), -1);
	assert_int_equal(fx.plan->evaluate(model, &empty, &m), -1);
	assert_int_equal(fx.plan->evaluate(model, NULL, &m), -1);
	assert_int_equal(fx.plan->prepare(model, &empty, &test), -1);
	/* An empty test view is fine for prepare (a node may keep none). */
	train.y[3] = 0.0f;
	assert_int_equal(fx.plan->prepare(model, &train, &empty), 0);
	fx.plan->destroy(model);
	free_view(&train);
	free_view(&test);
}

/* num_updates > 0 counts mini-batch steps instead of epochs. */
static void test_train_num_updates(void **state)
{
	struct fedc_data train, test;
	struct fedc_metrics m = { 0 };
	struct scalar_log log = { 0 };
	struct fedc_reporter rep = { &log, on_scalar };
	struct fedc_train_args args = reference_args(1);
	void *model = new_model(1);
	size_t per_epoch;

	split(4, &train, &test);
	per_epoch = (train.n_samples + 31) / 32;
	args.num_updates = (uint32_t)per_epoch + 3; /* one epoch and 3 steps */
	assert_int_equal(fx.plan->prepare(model, &train, &test), 0);
	assert_int_equal(fx.plan->train(model, &train, &args, &rep, &m), 0);
	assert_int_equal(log.calls, 2);
	assert_int_equal(log.last_iteration, per_epoch + 3);
	assert_int_equal(log.last_epoch, 2);
	assert_true(isfinite(metric(&m, "loss")));
	fx.plan->destroy(model);
	free_view(&train);
	free_view(&test);
}

/* The proximal term keeps the weights closer to where training started. */
static void test_train_fedprox_pulls_to_start(void **state)
{
	double dist[2];

	for (int k = 0; k < 2; k++) {
		struct fedc_data train, test;
		struct fedc_metrics m = { 0 };
		struct fedc_train_args args = reference_args(9);
		const struct fedc_tensor *t;
		size_t n;
		float start[N_FEATURES];
		void *model = new_model(1);

		args.epochs = 5;
		args.fedprox_mu = k ? 1.0 : 0.0;
		split(5, &train, &test);
		assert_int_equal(fx.plan->prepare(model, &train, &test), 0);
		assert_int_equal(fx.plan->get_params(model, &t, &n), 0);
		memcpy(start, t[0].data, sizeof(start));
		assert_int_equal(fx.plan->train(model, &train, &args, NULL, &m), 0);
		assert_int_equal(fx.plan->get_params(model, &t, &n), 0);
		dist[k] = 0.0;
		for (size_t f = 0; f < N_FEATURES; f++) {
			double d = ((const float *)t[0].data)[f] - start[f];

			dist[k] += d * d;
		}
		fx.plan->destroy(model);
		free_view(&train);
		free_view(&test);
	}
	assert_true(dist[1] < dist[0] * 0.5);
}

/* input_gradient() against central differences of evaluate()'s mean loss
 * times the rows, on a trained model (ABI 4): (sigmoid(z) - y) w per row. */
static double summed_loss(void *model, const struct fedc_data *d)
{
	struct fedc_metrics m;

	assert_int_equal(fx.plan->evaluate(model, d, &m), 0);
	return metric(&m, "loss") * (double)d->n_samples;
}

static void test_input_gradient_matches_differences(void **state)
{
	struct fedc_data train, test;
	struct fedc_train_args args = reference_args(7);
	struct fedc_metrics m;
	void *model = new_model(7);
	float *grad;
	double largest = 0.0;

	(void)state;
	assert_non_null(fx.plan->input_gradient);
	split(7, &train, &test);
	assert_int_equal(fx.plan->prepare(model, &train, &test), 0);
	args.epochs = 5;
	assert_int_equal(fx.plan->train(model, &train, &args, NULL, &m), 0);
	test.n_samples = 12; /* 360 inputs are enough */
	grad = malloc(test.n_samples * N_FEATURES * sizeof(*grad));
	assert_non_null(grad);
	assert_int_equal(fx.plan->input_gradient(model, &test, grad), 0);
	for (size_t i = 0; i < test.n_samples * N_FEATURES; i++) {
		float saved = test.x[i];
		double up, down, num;

		test.x[i] = saved + 1e-2f;
		up = summed_loss(model, &test);
		test.x[i] = saved - 1e-2f;
		down = summed_loss(model, &test);
		test.x[i] = saved;
		num = (up - down) / ((double)(saved + 1e-2f) - (double)(saved - 1e-2f));
		largest = fabs(num) > largest ? fabs(num) : largest;
		if (fabs(num - grad[i]) > 1e-4 + 1e-2 * fabs(num))
			fail_msg("d/dx[%zu]: analytic %.6g, numeric %.6g", i, (double)grad[i], num);
	}
	assert_true(largest > 0.01);
	/* A view of the wrong width, or labels not 0/1, is refused. */
	test.n_features = N_FEATURES - 1;
	assert_int_equal(fx.plan->input_gradient(model, &test, grad), -1);
	test.n_features = N_FEATURES;
	assert_int_equal(fx.plan->input_gradient(model, &test, NULL), -1);
	free(grad);
	free_view(&train);
	free_view(&test);
	fx.plan->destroy(model);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abi_symbol),
		cmocka_unit_test(test_data_loaded),
		cmocka_unit_test(test_train_breast_cancer),
		cmocka_unit_test(test_train_deterministic),
		cmocka_unit_test(test_create_seeded),
		cmocka_unit_test(test_param_roles),
		cmocka_unit_test(test_params_layout_and_round_trip),
		cmocka_unit_test(test_set_params_rejects_bad_layout),
		cmocka_unit_test(test_create_rejects_bad_args),
		cmocka_unit_test(test_train_rejects_bad_input),
		cmocka_unit_test(test_train_num_updates),
		cmocka_unit_test(test_train_fedprox_pulls_to_start),
		cmocka_unit_test(test_input_gradient_matches_differences),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
