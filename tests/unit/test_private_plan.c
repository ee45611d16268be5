/* The examples/private plan, loaded as the node loads it (dlopen of the built
 * shared object): what it sends is the weights alone, and each node
 * standardizes its features with its own training statistics (the reason it
 * exists: examples/private/README.md). Synthetic data in the features' raw
 * scale of the breast-cancer set (values in the hundreds). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/plan.h"

#define PLAN_PATH FEDC_PLAN_DIR "/private.so"
#define NF 3

static void *so;
static const struct fedc_plan *plan;

static const struct fedc_arg model_items[] = { { "n_features", NF } };
static const struct fedc_args model_args = { model_items, 1 };

static int setup(void **state)
{
	(void)state;
	so = dlopen(PLAN_PATH, RTLD_NOW | RTLD_LOCAL);
	plan = so ? dlsym(so, FEDC_PLAN_SYMBOL) : NULL;
	return plan ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (so)
		dlclose(so);
	return 0;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double uniform(uint64_t *s)
{
	return (double)(splitmix64(s) >> 11) / 9007199254740992.0;
}

/* n rows: feature f is offset[f] + scale[f] * u with u uniform in [-1, 1);
 * the label is 1 when the u's of features 0 and 1 sum above 0 (feature 2 is
 * noise), so a model that standardizes separates them. */
static void make_view(struct fedc_data *d, size_t n, uint64_t seed, const double *offset, const double *scale)
{
	memset(d, 0, sizeof(*d)); /* the ABI 3 fields (label_width ...) too: the SDK reads them */
	d->n_samples = n;
	d->n_features = NF;
	d->n_classes = 2;
	d->x = malloc(n * NF * sizeof(float));
	d->y = malloc(n * sizeof(float));
	assert_non_null(d->x);
	assert_non_null(d->y);
	for (size_t i = 0; i < n; i++) {
		double u[NF];

		for (size_t f = 0; f < NF; f++) {
			u[f] = 2.0 * uniform(&seed) - 1.0;
			d->x[i * NF + f] = (float)(offset[f] + scale[f] * u[f]);
		}
		d->y[i] = u[0] + u[1] > 0 ? 1.0f : 0.0f;
	}
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

static void *new_model(uint64_t seed)
{
	void *model = NULL;

	assert_int_equal(plan->create(&model_args, seed, &model), 0);
	assert_non_null(model);
	return model;
}

/* The weights and the bias, nothing else: no statistics of the node's data
 * go out with the update (examples/logreg's feature_mean and feature_std). */
static void test_params_are_the_weights_alone(void **state)
{
	const struct fedc_tensor *t = NULL;
	size_t n = 0;
	void *model = new_model(42);

	(void)state;
	assert_string_equal(plan->name, "private");
	assert_int_equal(plan->get_params(model, &t, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(t[0].name, "dense0.weight");
	assert_int_equal(t[0].ndim, 2);
	assert_int_equal(t[0].shape[0], 1);
	assert_int_equal(t[0].shape[1], NF);
	assert_string_equal(t[1].name, "dense0.bias");
	assert_int_equal(t[1].ndim, 1);
	assert_int_equal(t[1].shape[0], 1);
	for (size_t f = 0; f < NF; f++) {
		float w = ((const float *)t[0].data)[f];

		assert_true(w >= -0.01f && w < 0.01f && w != 0.0f);
	}
	assert_true(((const float *)t[1].data)[0] == 0.0f);
	plan->destroy(model);
}

/* prepare() scales both views with the training view's own mean and spread,
 * and leaves the parameters as they were: two nodes whose data sit at other
 * scales each get standardized features from the same model. */
static void test_prepare_standardizes_with_own_statistics(void **state)
{
	static const double offset[2][NF] = { { 500, 20, -3 }, { 900, 5, 40 } };
	static const double scale[2][NF] = { { 300, 4, 1 }, { 50, 10, 7 } };
	const struct fedc_tensor *t = NULL;
	float before[NF + 1], after[NF + 1];
	size_t n = 0;
	void *model = new_model(1);

	(void)state;
	assert_int_equal(plan->get_params(model, &t, &n), 0);
	memcpy(before, t[0].data, NF * sizeof(float));
	before[NF] = ((const float *)t[1].data)[0];
	for (int node = 0; node < 2; node++) {
		struct fedc_data train, test;

		make_view(&train, 400, 10u + (uint64_t)node, offset[node], scale[node]);
		make_view(&test, 100, 20u + (uint64_t)node, offset[node], scale[node]);
		assert_int_equal(plan->prepare(model, &train, &test), 0);
		for (size_t f = 0; f < NF; f++) {
			double mean = 0, var = 0, test_mean = 0;

			for (size_t i = 0; i < train.n_samples; i++)
				mean += train.x[i * NF + f];
			mean /= (double)train.n_samples;
			for (size_t i = 0; i < train.n_samples; i++)
				var += (train.x[i * NF + f] - mean) * (train.x[i * NF + f] - mean);
			var /= (double)train.n_samples;
			for (size_t i = 0; i < test.n_samples; i++)
				test_mean += test.x[i * NF + f];
			test_mean /= (double)test.n_samples;
			assert_true(fabs(mean) < 1e-4);
			assert_true(fabs(var - 1.0) < 1e-3);
			/* the test view with the training view's statistics: near 0, not exactly */
			assert_true(fabs(test_mean) < 0.5);
		}
		free_view(&train);
		free_view(&test);
	}
	assert_int_equal(plan->get_params(model, &t, &n), 0);
	memcpy(after, t[0].data, NF * sizeof(float));
	after[NF] = ((const float *)t[1].data)[0];
	assert_memory_equal(before, after, sizeof(before));
	plan->destroy(model);
}

/* Features in the hundreds train as well as standardized ones. */
static void test_train_on_raw_scale(void **state)
{
	static const double offset[NF] = { 650, 90, 0.1 };
	static const double scale[NF] = { 350, 30, 0.05 };
	struct fedc_train_args args = { .lr = 0.1, .epochs = 5, .batch_size = 32, .seed = 7, .optimizer = "sgd" };
	struct fedc_metrics tm = { 0 }, em = { 0 };
	struct fedc_data train, test;
	void *model = new_model(3);

	(void)state;
	make_view(&train, 400, 1, offset, scale);
	make_view(&test, 200, 2, offset, scale);
	assert_int_equal(plan->prepare(model, &train, &test), 0);
	assert_int_equal(plan->train(model, &train, &args, NULL, &tm), 0);
	assert_int_equal(plan->evaluate(model, &test, &em), 0);
	print_message("train loss %.4f, test accuracy %.4f\n", metric(&tm, "loss"), metric(&em, "accuracy"));
	assert_true(metric(&em, "accuracy") >= 0.9);
	assert_true(metric(&tm, "loss") < 0.5);
	free_view(&train);
	free_view(&test);
	plan->destroy(model);
}

static void test_create_rejects_bad_args(void **state)
{
	static const struct fedc_arg three_classes[] = { { "n_features", NF }, { "n_classes", 3 } };
	static const struct fedc_arg unknown[] = { { "n_features", NF }, { "dp_clip", 1 } };
	static const struct fedc_arg none[] = { { "n_classes", 2 } };
	const struct fedc_args bad[] = { { three_classes, 2 }, { unknown, 2 }, { none, 1 } };
	void *model = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(plan->create(&bad[i], 1, &model), 0);
		assert_null(model);
		assert_non_null(plan->last_error());
		assert_true(strlen(plan->last_error()) > 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params_are_the_weights_alone),
		cmocka_unit_test(test_prepare_standardizes_with_own_statistics),
		cmocka_unit_test(test_train_on_raw_scale),
		cmocka_unit_test(test_create_rejects_bad_args),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
