/* Plan SDK: predict() (plan ABI 4) -- fedc_net_predict, fedc_seq_predict
 * through fedc_model_predict -- and the example plans' predict functions,
 * loaded as the node loads them: probabilities that sum to 1 and whose
 * argmax scores exactly the accuracy evaluate() reports (also through
 * batch norm and dropout, in evaluation mode); regression values
 * equal to the forward pass; a wrong width and a segmentation target
 * refused. */
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

struct dataset {
	struct fedc_data d;
	float *x, *y;
};

/* n points in [-1, 1]^2, label 1 where x0 + 0.5 x1 > 0.1, some noise. */
static void line_data(struct dataset *s, size_t n, uint64_t seed)
{
	struct fedc_rng rng;

	fedc_rng_seed(&rng, seed);
	s->x = malloc(n * 2 * sizeof(float));
	s->y = malloc(n * sizeof(float));
	assert_non_null(s->x), assert_non_null(s->y);
	for (size_t i = 0; i < n; i++) {
		s->x[2 * i] = (float)(2 * fedc_rng_uniform(&rng) - 1);
		s->x[2 * i + 1] = (float)(2 * fedc_rng_uniform(&rng) - 1);
		s->y[i] = s->x[2 * i] + 0.5f * s->x[2 * i + 1] > 0.1f ? 1.0f : 0.0f;
		if (fedc_rng_uniform(&rng) < 0.1)
			s->y[i] = 1.0f - s->y[i];
	}
	s->d = (struct fedc_data){ .n_samples = n, .n_features = 2, .x = s->x, .y = s->y, .n_classes = 2 };
}

static void free_data(struct dataset *s)
{
	free(s->x), free(s->y);
}

/* The accuracy of the argmax of `p` (width per row, first of equals). */
static double argmax_accuracy(const float *p, size_t width, const struct fedc_data *d)
{
	size_t correct = 0;

	for (size_t i = 0; i < d->n_samples; i++) {
		size_t best = 0;
		double total = 0;

		for (size_t k = 0; k < width; k++) {
			total += p[i * width + k];
			assert_true(p[i * width + k] >= 0 && p[i * width + k] <= 1);
			if (p[i * width + k] > p[i * width + best])
				best = k;
		}
		assert_true(fabs(total - 1) < 1e-5);
		correct += best == (size_t)d->y[i];
	}
	return (double)correct / (double)d->n_samples;
}

static void trained_net(struct fedc_net *net, size_t n_out, enum fedc_loss loss, const struct fedc_data *d)
{
	struct fedc_net_cfg cfg = { .n_inputs = 2, .n_layers = 2, .sizes = { 8, n_out },
				    .hidden_act = FEDC_ACT_RELU, .init = FEDC_INIT_HE, .seed = 3 };
	struct fedc_train_args args = { .lr = 0.1, .epochs = 3, .batch_size = 32, .seed = 1 };
	struct fedc_train_cfg tc = { .args = &args, .loss = loss };
	struct fedc_metrics m;

	assert_int_equal(fedc_net_init(net, &cfg), 0);
	assert_int_equal(fedc_net_train(net, d, &tc, &m), 0);
}

static void test_softmax_predict_agrees_with_evaluate(void **state)
{
	struct dataset s;
	struct fedc_net net;
	struct fedc_metrics m;
	float *p;

	(void)state;
	line_data(&s, 3000, 1); /* more than one evaluation chunk of 1024 rows */
	trained_net(&net, 2, FEDC_LOSS_SOFTMAX_CE, &s.d);
	p = malloc(s.d.n_samples * 2 * sizeof(float));
	assert_int_equal(fedc_net_predict(&net, &s.d, FEDC_LOSS_SOFTMAX_CE, p, fedc_plan_output_width(&s.d)), 0);
	assert_int_equal(fedc_net_evaluate(&net, &s.d, FEDC_LOSS_SOFTMAX_CE, &m), 0);
	assert_true(fedc_metrics_get(&m, "accuracy") > 0.7);
	assert_true(argmax_accuracy(p, 2, &s.d) == fedc_metrics_get(&m, "accuracy"));
	assert_true(fedc_net_predict(&net, &s.d, FEDC_LOSS_SOFTMAX_CE, p, 3) < 0);
	free(p);
	fedc_net_release(&net);
	free_data(&s);
}

static void test_bce_predict_gives_two_columns(void **state)
{
	struct dataset s;
	struct fedc_net net;
	struct fedc_metrics m;
	float *p;

	(void)state;
	line_data(&s, 500, 2);
	trained_net(&net, 1, FEDC_LOSS_BCE, &s.d);
	p = malloc(s.d.n_samples * 2 * sizeof(float));
	assert_int_equal(fedc_net_predict(&net, &s.d, FEDC_LOSS_BCE, p, 2), 0);
	assert_int_equal(fedc_net_evaluate(&net, &s.d, FEDC_LOSS_BCE, &m), 0);
	assert_true(argmax_accuracy(p, 2, &s.d) == fedc_metrics_get(&m, "accuracy"));
	assert_true(fedc_net_predict(&net, &s.d, FEDC_LOSS_BCE, p, 1) < 0);
	free(p);
	fedc_net_release(&net);
	free_data(&s);
}

static void test_mse_predict_is_the_forward_pass(void **state)
{
	struct dataset s;
	struct fedc_net net;
	struct fedc_mat x, z;
	float p[100];

	(void)state;
	line_data(&s, 100, 3);
	s.d.n_classes = 0;
	trained_net(&net, 1, FEDC_LOSS_MSE, &s.d);
	assert_int_equal(fedc_net_predict(&net, &s.d, FEDC_LOSS_MSE, p, 1), 0);
	assert_int_equal(fedc_net_reserve(&net, 100), 0);
	x = (struct fedc_mat){ .rows = 100, .cols = 2, .data = s.x };
	assert_int_equal(fedc_net_forward(&net, &x, &z), 0);
	for (size_t i = 0; i < 100; i++)
		assert_true(p[i] == z.data[i]);
	fedc_net_release(&net);
	free_data(&s);
}

/* A sequential model with batch norm and dropout: predict runs in
 * evaluation mode (no dropout mask, running statistics), so it scores what
 * evaluate scores, twice the same. */
static void test_seq_predict_in_evaluation_mode(void **state)
{
	struct fedc_seq_cfg cfg = { .input = { 2, 1, 1, 1 }, .n_layers = 4, .seed = 9 };
	struct fedc_train_args args = { .lr = 0.05, .epochs = 3, .batch_size = 32, .seed = 2 };
	struct fedc_train_cfg tc = { .args = &args, .loss = FEDC_LOSS_SOFTMAX_CE };
	struct fedc_seq seq;
	struct fedc_metrics m;
	struct dataset s;
	float *p, *q;

	(void)state;
	cfg.layers[0] = fedc_layer_dense(16, FEDC_ACT_NONE);
	cfg.layers[1] = fedc_layer_batchnorm(FEDC_ACT_RELU, false);
	cfg.layers[2] = fedc_layer_dropout(0.5);
	cfg.layers[3] = fedc_layer_dense(2, FEDC_ACT_NONE);
	line_data(&s, 1500, 6);
	assert_int_equal(fedc_seq_init(&seq, &cfg), 0);
	assert_int_equal(fedc_seq_train(&seq, &s.d, &tc, &m), 0);
	p = malloc(s.d.n_samples * 2 * sizeof(float));
	q = malloc(s.d.n_samples * 2 * sizeof(float));
	assert_int_equal(fedc_seq_predict(&seq, &s.d, FEDC_LOSS_SOFTMAX_CE, p, 2), 0);
	assert_int_equal(fedc_seq_predict(&seq, &s.d, FEDC_LOSS_SOFTMAX_CE, q, 2), 0);
	assert_memory_equal(p, q, s.d.n_samples * 2 * sizeof(float));
	assert_int_equal(fedc_seq_evaluate(&seq, &s.d, FEDC_LOSS_SOFTMAX_CE, &m), 0);
	assert_true(fedc_metrics_get(&m, "accuracy") > 0.7);
	assert_true(argmax_accuracy(p, 2, &s.d) == fedc_metrics_get(&m, "accuracy"));
	free(p);
	free(q);
	fedc_seq_release(&seq);
	free_data(&s);
}

static void test_predict_refuses_segmentation(void **state)
{
	struct dataset s;
	struct fedc_net net;
	float p[400];

	(void)state;
	line_data(&s, 100, 4);
	trained_net(&net, 2, FEDC_LOSS_SOFTMAX_CE, &s.d);
	s.d.label_width = 2;
	assert_true(fedc_net_predict(&net, &s.d, FEDC_LOSS_SOFTMAX_CE, p, 4) < 0);
	assert_non_null(strstr(fedc_plan_last_error(), "segmentation"));
	fedc_net_release(&net);
	free_data(&s);
}

/* An example plan loaded as the node loads it: create, prepare, train,
 * then predict against evaluate. */
static void plan_predicts(const char *name, const struct fedc_args *margs, struct dataset *s)
{
	char path[512];
	void *so, *model = NULL;
	const struct fedc_plan *plan;
	struct fedc_train_args args = { .lr = 0.1, .epochs = 3, .batch_size = 32, .seed = 1, .optimizer = "sgd" };
	struct fedc_metrics m = { 0 };
	float *p = malloc(s->d.n_samples * 2 * sizeof(float));

	snprintf(path, sizeof(path), FEDC_PLAN_DIR "/%s.so", name);
	so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(so);
	plan = dlsym(so, FEDC_PLAN_SYMBOL);
	assert_non_null(plan);
	assert_int_equal(plan->abi_version, FEDC_PLAN_ABI_VERSION);
	assert_non_null(plan->predict);
	assert_int_equal(plan->create(margs, 5, &model), 0);
	assert_true(!plan->prepare || plan->prepare(model, &s->d, NULL) == 0);
	assert_int_equal(plan->train(model, &s->d, &args, NULL, &m), 0);
	assert_int_equal(plan->evaluate(model, &s->d, &m), 0);
	assert_int_equal(plan->predict(model, &s->d, p, fedc_plan_output_width(&s->d)), 0);
	for (size_t i = 0; i < m.count; i++)
		if (strcmp(m.items[i].name, "accuracy") == 0)
			assert_true(argmax_accuracy(p, 2, &s->d) == m.items[i].value);
	plan->destroy(model);
	dlclose(so);
	free(p);
}

static void test_example_plans_predict(void **state)
{
	struct fedc_arg two = { "n_features", 2 };
	struct fedc_args logreg_args = { &two, 1 };
	struct dataset s;

	(void)state;
	line_data(&s, 400, 5);
	plan_predicts("logreg", &logreg_args, &s);
	free_data(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_softmax_predict_agrees_with_evaluate),
		cmocka_unit_test(test_bce_predict_gives_two_columns),
		cmocka_unit_test(test_mse_predict_is_the_forward_pass),
		cmocka_unit_test(test_seq_predict_in_evaluation_mode),
		cmocka_unit_test(test_predict_refuses_segmentation),
		cmocka_unit_test(test_example_plans_predict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
