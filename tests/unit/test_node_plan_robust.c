/* The node's robustness stage (node/plan_robust.c): its arguments as
 * outside input, the plans it refuses, and FGSM and PGD on the logreg
 * example plan trained on the breast-cancer data, loaded as the node loads
 * it (dlopen of the built shared object). */
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
#include "plan_robust.h"

#define LOGREG_PATH FEDC_PLAN_DIR "/logreg.so"
#define MLP_PATH FEDC_PLAN_DIR "/mlp.so"
#define MESSY_PATH FEDC_PLAN_DIR "/messy-csv.so"
#define ABI2_PATH FEDC_PLAN_DIR "/fixtures/abi2.so"
#define DATA_PATH FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv"
#define N_FEATURES 30
#define RESULT_MAX (64 * 1024)

struct fixture {
	void *so;
	const struct fedc_plan *plan;
	void *model;
	struct fedc_data test; /* prepared: standardized by the plan */
};

static struct fixture fx;

static const struct fedc_arg model_items[] = { { "n_features", N_FEATURES } };
static const struct fedc_args model_args = { model_items, 1 };

/* ------------------------------------------------------------------ */
/* Arguments                                                            */

static void expect_refused(const char *text, const char *detail)
{
	struct fedc_robust_args a;

	assert_int_equal(fedc_robust_args_parse(text, &a), FEDC_ERR_INVAL);
	if (!strstr(fedc_last_error(), detail))
		fail_msg("args \"%s\": detail \"%s\" lacks \"%s\"", text, fedc_last_error(), detail);
}

static void test_args_defaults(void **state)
{
	struct fedc_robust_args a;

	(void)state;
	assert_int_equal(fedc_robust_args_parse(NULL, &a), FEDC_OK);
	assert_true(a.attack[FEDC_ROBUST_FGSM] && a.attack[FEDC_ROBUST_PGD]);
	assert_int_equal(a.n_epsilons, 3);
	assert_true(a.epsilons[0] == 0.01 && a.epsilons[1] == 0.05 && a.epsilons[2] == 0.1);
	assert_int_equal(a.pgd_steps, 10);
	assert_true(a.pgd_step_size == 0.0);
	assert_false(a.has_clip_min || a.has_clip_max);
	assert_int_equal(fedc_robust_args_parse("\n  \n", &a), FEDC_OK);
}

static void test_args_all_keys(void **state)
{
	struct fedc_robust_args a;

	(void)state;
	assert_int_equal(fedc_robust_args_parse(" attacks = pgd \n"
						 "epsilons=0, 0.5 ,2\r\n"
						 "\n"
						 "pgd_steps = 40\n"
						 "pgd_step_size = 0.01\n"
						 "clip_min = 0\n"
						 "clip_max = 1\n",
						 &a),
			 FEDC_OK);
	assert_false(a.attack[FEDC_ROBUST_FGSM]);
	assert_true(a.attack[FEDC_ROBUST_PGD]);
	assert_int_equal(a.n_epsilons, 3);
	assert_true(a.epsilons[0] == 0.0 && a.epsilons[1] == 0.5 && a.epsilons[2] == 2.0);
	assert_int_equal(a.pgd_steps, 40);
	assert_true(a.pgd_step_size == 0.01);
	assert_true(a.has_clip_min && a.clip_min == 0.0 && a.has_clip_max && a.clip_max == 1.0);
}

static void test_args_bad_key_and_lines(void **state)
{
	char big[FEDC_ROBUST_MAX_ARGS_LEN + 2];

	(void)state;
	expect_refused("epsilon = 0.1", "unknown key \"epsilon\"");
	expect_refused("epsilons = 0.1\nattacks", "line 2");
	expect_refused("pgd_steps = 5\npgd_steps = 6", "pgd_steps is given twice");
	expect_refused("attacks = fgsm, cw", "unknown attack \"cw\"");
	expect_refused("attacks = pgd, pgd", "pgd is listed twice");
	expect_refused("attacks = ", "attacks is empty");
	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_refused(big, "exceed");
}

static void test_args_bad_numbers(void **state)
{
	(void)state;
	expect_refused("epsilons = 0.1, abc", "\"abc\" is not a number");
	expect_refused("epsilons = 0.1x", "is not a number");
	expect_refused("epsilons = nan", "is not a number");
	expect_refused("epsilons = -0.1", "must be from 0");
	expect_refused("epsilons = 1e7", "must be from 0");
	expect_refused("epsilons = 0.1, 0.10", "listed twice");
	expect_refused("epsilons = ,", "epsilons is empty");
	expect_refused("epsilons = 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "at most 16");
	expect_refused("pgd_steps = 0", "pgd_steps");
	expect_refused("pgd_steps = 1001", "pgd_steps");
	expect_refused("pgd_steps = 2.5", "pgd_steps");
	expect_refused("pgd_steps = 99999999999999999999", "pgd_steps");
	expect_refused("pgd_step_size = 0", "above 0");
	expect_refused("pgd_step_size = -1", "above 0");
	expect_refused("clip_min = low", "not a number");
	expect_refused("clip_min = 1\nclip_max = 1", "clip_min 1 must be below clip_max 1");
}

/* ------------------------------------------------------------------ */
/* Plans that cannot give input gradients                               */

static void expect_unsupported(const char *path, const char *detail)
{
	void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	const struct fedc_plan *plan;
	struct fedc_buf out = FEDC_BUF_INIT(RESULT_MAX);

	assert_non_null(so);
	plan = dlsym(so, FEDC_PLAN_SYMBOL);
	assert_non_null(plan);
	assert_int_equal(plan_robust__run(plan, NULL, &fx.test, NULL, &out), FEDC_ERR_UNSUPPORTED);
	if (!strstr(fedc_last_error(), detail))
		fail_msg("%s: detail \"%s\" lacks \"%s\"", path, fedc_last_error(), detail);
	assert_int_equal(out.len, 0);
	fedc_buf_free(&out);
	dlclose(so);
}

static void test_old_abi_unsupported(void **state)
{
	(void)state;
	expect_unsupported(ABI2_PATH, "built for ABI 2, input gradients came with ABI 4");
}

static void test_no_input_gradient_unsupported(void **state)
{
	(void)state;
	expect_unsupported(MESSY_PATH, "set .input_gradient");
}

static void test_empty_test_set_refused(void **state)
{
	struct fedc_data empty = fx.test;
	struct fedc_buf out = FEDC_BUF_INIT(RESULT_MAX);

	(void)state;
	empty.n_samples = 0;
	assert_int_equal(plan_robust__run(fx.plan, fx.model, &empty, NULL, &out), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "test set is empty"));
	fedc_buf_free(&out);
}

/* A call of the plan that fails ends the stage with FEDC_ERR_PLAN, saying
 * which call (a label the logreg plan refuses: 2). */
static void test_plan_failure_reported(void **state)
{
	struct fedc_data bad = fx.test;
	struct fedc_buf out = FEDC_BUF_INIT(RESULT_MAX);
	float saved = fx.test.y[3];

	(void)state;
	fx.test.y[3] = 2.0f;
	assert_int_equal(plan_robust__run(fx.plan, fx.model, &bad, NULL, &out), FEDC_ERR_PLAN);
	assert_non_null(strstr(fedc_last_error(), "robust: the plan's evaluate() failed"));
	fx.test.y[3] = saved;
	fedc_buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* Attacks on the trained logreg                                        */

/* The value of result line "mean <name> <value>". */
static double result_value(const struct fedc_buf *b, const char *name)
{
	char key[160];
	const char *at;

	snprintf(key, sizeof(key), "mean %s ", name);
	at = strstr(b->data, key);
	if (!at)
		fail_msg("no line \"%s\" in:\n%s", key, b->data);
	return strtod(at + strlen(key), NULL);
}

static void run_ok(const char *args, struct fedc_buf *out)
{
	if (plan_robust__run(fx.plan, fx.model, &fx.test, args, out) != FEDC_OK)
		fail_msg("plan_robust__run(\"%s\"): %s", args, fedc_last_error());
}

static void test_eps_zero_is_clean(void **state)
{
	struct fedc_buf out = FEDC_BUF_INIT(RESULT_MAX);

	(void)state;
	run_ok("epsilons = 0", &out);
	/* Bit for bit: %.17g round-trips a double. */
	assert_true(result_value(&out, "robust.fgsm.0.accuracy") == result_value(&out, "robust.clean.accuracy"));
	assert_true(result_value(&out, "robust.fgsm.0.loss") == result_value(&out, "robust.clean.loss"));
	assert_true(result_value(&out, "robust.pgd.0.loss") == result_value(&out, "robust.clean.loss"));
	assert_true(result_value(&out, "robust.clean.accuracy") > 0.9);
	fedc_buf_free(&out);
}

static void test_attacks_lower_accuracy(void **state)
{
	struct fedc_buf out = FEDC_BUF_INIT(RESULT_MAX);
	double clean;

	(void)state;
	run_ok("epsilons = 0.1, 0.5", &out);
	print_message("%s", out.data);
	clean = result_value(&out, "robust.clean.accuracy");
	assert_true(result_value(&out, "robust.fgsm.0.1.accuracy") < clean);
	assert_true(result_value(&out, "robust.pgd.0.1.accuracy") < clean);
	assert_true(result_value(&out, "robust.fgsm.0.5.accuracy") < result_value(&out, "robust.fgsm.0.1.accuracy"));
	assert_true(result_value(&out, "robust.pgd.0.1.loss") > result_value(&out, "robust.clean.loss"));
	/* Every line is "mean robust.<...> <number>". */
	for (char *line = out.data; *line;) {
		char *end = strchr(line, '\n');

		assert_non_null(end);
		assert_int_equal(strncmp(line, "mean robust.", 12), 0);
		line = end + 1;
	}
	fedc_buf_free(&out);
}

/* A linear model's loss is monotone along sign(g): PGD with one step of
 * eps is FGSM, bit for bit, on the inputs and the results. */
static void test_pgd_one_step_is_fgsm(void **state)
{
	struct fedc_buf out = FEDC_BUF_INIT(RESULT_MAX);
	struct fedc_robust_args a;
	size_t len = fx.test.n_samples * N_FEATURES;
	struct fedc_data f = fx.test, p = fx.test;
	float *grad = malloc(len * sizeof(float));

	(void)state;
	f.x = malloc(len * sizeof(float));
	p.x = malloc(len * sizeof(float));
	assert_true(grad && f.x && p.x);
	assert_int_equal(fedc_robust_args_parse("epsilons = 0.07\npgd_steps = 1\npgd_step_size = 0.07", &a), 0);
	assert_int_equal(plan_robust__perturb(fx.plan, fx.model, &a, FEDC_ROBUST_FGSM, 0.07, fx.test.x, &f, grad), 0);
	assert_int_equal(plan_robust__perturb(fx.plan, fx.model, &a, FEDC_ROBUST_PGD, 0.07, fx.test.x, &p, grad), 0);
	assert_memory_equal(f.x, p.x, len * sizeof(float));
	assert_memory_not_equal(f.x, fx.test.x, len * sizeof(float));
	run_ok("epsilons = 0.07\npgd_steps = 1\npgd_step_size = 0.07", &out);
	assert_true(result_value(&out, "robust.pgd.0.07.loss") == result_value(&out, "robust.fgsm.0.07.loss"));
	assert_true(result_value(&out, "robust.pgd.0.07.accuracy") ==
		    result_value(&out, "robust.fgsm.0.07.accuracy"));
	free(grad);
	free(f.x);
	free(p.x);
	fedc_buf_free(&out);
}

/* PGD's iterates stay in the ball and the clip range; a clean value
 * outside the range stays where it was. */
static void test_pgd_stays_in_ball_and_range(void **state)
{
	struct fedc_robust_args a;
	size_t len = fx.test.n_samples * N_FEATURES, moved = 0, outside = 0;
	struct fedc_data p = fx.test;
	float *grad = malloc(len * sizeof(float));
	const float eps = 0.3f;

	(void)state;
	p.x = malloc(len * sizeof(float));
	assert_true(grad && p.x);
	assert_int_equal(fedc_robust_args_parse("pgd_steps = 7\npgd_step_size = 0.2\nclip_min = -1\nclip_max = 1", &a),
			 0);
	assert_int_equal(plan_robust__perturb(fx.plan, fx.model, &a, FEDC_ROBUST_PGD, eps, fx.test.x, &p, grad), 0);
	for (size_t k = 0; k < len; k++) {
		float x0 = fx.test.x[k], v = p.x[k];

		assert_true(fabsf(v - x0) <= eps * (1.0f + 1e-6f));
		if (x0 >= -1.0f && x0 <= 1.0f)
			assert_true(v >= -1.0f && v <= 1.0f);
		else if (x0 < -1.0f)
			outside++, assert_true(v >= x0 && v <= 1.0f); /* never pushed further out */
		else
			outside++, assert_true(v <= x0 && v >= -1.0f);
		moved += v != x0;
	}
	assert_true(outside > 0);  /* standardized data: some values beyond +-1 */
	assert_true(moved > len / 2);
	free(grad);
	free(p.x);
}

/* Small batches (one row per input_gradient() call) give the same results. */
static void test_batches_change_nothing(void **state)
{
	struct fedc_buf whole = FEDC_BUF_INIT(RESULT_MAX), rows = FEDC_BUF_INIT(RESULT_MAX);
	struct fedc_robust_args a;

	(void)state;
	assert_int_equal(fedc_robust_args_parse("epsilons = 0.05, 0.2\npgd_steps = 3", &a), 0);
	assert_int_equal(plan_robust__run_with(fx.plan, fx.model, &fx.test, &a, PLAN_ROBUST_BATCH_FLOATS, &whole), 0);
	assert_int_equal(plan_robust__run_with(fx.plan, fx.model, &fx.test, &a, N_FEATURES + 1, &rows), 0);
	assert_string_equal(whole.data, rows.data);
	fedc_buf_free(&whole);
	fedc_buf_free(&rows);
}

static void test_result_cap(void **state)
{
	struct fedc_buf out = FEDC_BUF_INIT(64);

	(void)state;
	assert_int_equal(plan_robust__run(fx.plan, fx.model, &fx.test, NULL, &out), FEDC_ERR_TOO_BIG);
	fedc_buf_free(&out);
}

/* The same stage on an SDK plan (examples/mlp, fedc_net_input_gradient):
 * two classes of 16 pixels in [0, 1], class 1 when the first half is the
 * brighter. Clean accuracy is high, the attacks lower it, and with
 * clip_min = 0, clip_max = 1 no pixel leaves [0, 1]. */
static void test_sdk_plan_mlp(void **state)
{
	static const struct fedc_arg items[] = { { "n_features", 16 }, { "n_classes", 2 }, { "hidden", 16 } };
	static const struct fedc_args margs = { items, 3 };
	struct fedc_train_args targs = { .lr = 0.5, .epochs = 40, .batch_size = 16, .seed = 5, .optimizer = "sgd" };
	struct fedc_data train = { .n_samples = 400, .n_features = 16, .n_classes = 2 };
	struct fedc_data test = { .n_samples = 200, .n_features = 16, .n_classes = 2 };
	struct fedc_buf out = FEDC_BUF_INIT(RESULT_MAX);
	struct fedc_robust_args a;
	struct fedc_metrics m;
	void *so = dlopen(MLP_PATH, RTLD_NOW | RTLD_LOCAL), *model = NULL;
	const struct fedc_plan *plan = so ? dlsym(so, FEDC_PLAN_SYMBOL) : NULL;
	struct fedc_data adv;
	float *grad;
	uint64_t seed = 99;

	(void)state;
	assert_non_null(plan);
	for (struct fedc_data *d = &train; d; d = d == &train ? &test : NULL) {
		d->x = malloc(d->n_samples * 16 * sizeof(float));
		d->y = malloc(d->n_samples * sizeof(float));
		assert_true(d->x && d->y);
		for (size_t i = 0; i < d->n_samples; i++) {
			double diff = 0.0;

			for (size_t j = 0; j < 16; j++) {
				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				d->x[i * 16 + j] = (float)(seed >> 40) / (float)(1u << 24);
				diff += j < 8 ? d->x[i * 16 + j] : -d->x[i * 16 + j];
			}
			d->y[i] = diff > 0.0 ? 1.0f : 0.0f;
		}
	}
	assert_int_equal(plan->create(&margs, 1, &model), 0);
	assert_int_equal(plan->train(model, &train, &targs, NULL, &m), 0);
	if (plan_robust__run(plan, model, &test, "epsilons = 0, 0.1\nclip_min = 0\nclip_max = 1", &out))
		fail_msg("%s", fedc_last_error());
	print_message("%s", out.data);
	assert_true(result_value(&out, "robust.clean.accuracy") > 0.85);
	assert_true(result_value(&out, "robust.fgsm.0.accuracy") == result_value(&out, "robust.clean.accuracy"));
	assert_true(result_value(&out, "robust.fgsm.0.1.accuracy") < result_value(&out, "robust.clean.accuracy"));
	assert_true(result_value(&out, "robust.pgd.0.1.accuracy") < result_value(&out, "robust.clean.accuracy"));
	assert_int_equal(fedc_robust_args_parse("clip_min = 0\nclip_max = 1", &a), 0);
	adv = test;
	adv.x = malloc(200 * 16 * sizeof(float));
	grad = malloc(200 * 16 * sizeof(float));
	assert_true(adv.x && grad);
	assert_int_equal(plan_robust__perturb(plan, model, &a, FEDC_ROBUST_PGD, 0.3, test.x, &adv, grad), 0);
	for (size_t k = 0; k < 200 * 16; k++)
		assert_true(adv.x[k] >= 0.0f && adv.x[k] <= 1.0f && fabsf(adv.x[k] - test.x[k]) <= 0.3f * (1 + 1e-6f));
	free(adv.x);
	free(grad);
	plan->destroy(model);
	free(train.x);
	free(train.y);
	free(test.x);
	free(test.y);
	fedc_buf_free(&out);
	dlclose(so);
}

/* ------------------------------------------------------------------ */

/* Rows of the CSV, every fifth to the test view, the rest to train. */
static void split(const struct fedc_data *all, struct fedc_data *train, struct fedc_data *test)
{
	size_t n_test = (all->n_samples + 4) / 5, nf = all->n_features;

	*train = *all;
	*test = *all;
	test->n_samples = n_test;
	train->n_samples = all->n_samples - n_test;
	test->x = malloc(n_test * nf * sizeof(float));
	test->y = malloc(n_test * sizeof(float));
	train->x = malloc(train->n_samples * nf * sizeof(float));
	train->y = malloc(train->n_samples * sizeof(float));
	assert_true(test->x && test->y && train->x && train->y);
	for (size_t i = 0, a = 0, b = 0; i < all->n_samples; i++) {
		struct fedc_data *to = i % 5 == 0 ? test : train;
		size_t at = i % 5 == 0 ? a++ : b++;

		memcpy(to->x + at * nf, all->x + i * nf, nf * sizeof(float));
		to->y[at] = all->y[i];
	}
}

static int setup(void **state)
{
	struct fedc_train_args args = { .lr = 0.1, .epochs = 30, .batch_size = 32, .seed = 3, .optimizer = "sgd" };
	struct node_dataset ds;
	struct fedc_data all, train;
	struct fedc_metrics m;

	(void)state;
	fx.so = dlopen(LOGREG_PATH, RTLD_NOW | RTLD_LOCAL);
	fx.plan = fx.so ? dlsym(fx.so, FEDC_PLAN_SYMBOL) : NULL;
	memset(&ds, 0, sizeof(ds));
	snprintf(ds.path, sizeof(ds.path), "%s", DATA_PATH);
	snprintf(ds.name, sizeof(ds.name), "breast-cancer");
	if (!fx.plan || dataset__inspect(&ds, NULL) || dataset__load(&ds, &all))
		return -1;
	split(&all, &train, &fx.test);
	dataset__free_data(&all);
	if (fx.plan->create(&model_args, 1, &fx.model) || fx.plan->prepare(fx.model, &train, &fx.test) ||
	    fx.plan->train(fx.model, &train, &args, NULL, &m))
		return -1;
	free(train.x);
	free(train.y);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (fx.model)
		fx.plan->destroy(fx.model);
	free(fx.test.x);
	free(fx.test.y);
	if (fx.so)
		dlclose(fx.so);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_defaults),
		cmocka_unit_test(test_args_all_keys),
		cmocka_unit_test(test_args_bad_key_and_lines),
		cmocka_unit_test(test_args_bad_numbers),
		cmocka_unit_test(test_old_abi_unsupported),
		cmocka_unit_test(test_no_input_gradient_unsupported),
		cmocka_unit_test(test_empty_test_set_refused),
		cmocka_unit_test(test_plan_failure_reported),
		cmocka_unit_test(test_eps_zero_is_clean),
		cmocka_unit_test(test_attacks_lower_accuracy),
		cmocka_unit_test(test_pgd_one_step_is_fgsm),
		cmocka_unit_test(test_pgd_stays_in_ball_and_range),
		cmocka_unit_test(test_batches_change_nothing),
		cmocka_unit_test(test_result_cap),
		cmocka_unit_test(test_sdk_plan_mlp),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
