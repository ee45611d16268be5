/* What an input gradient costs against one training step, for the plan
 * SDK's MLP (784-128-10) and NIID-Bench's simple CNN on 28x28 images, on
 * random rows (timing does not depend on the values). The robustness stage
 * makes one such pass per FGSM epsilon and pgd_steps per PGD epsilon over
 * the test rows (docs/researcher-guide.md, "Robustness under attack").
 *
 *   build/bin/bench_input_grad [rows=64] [repeats=200]
 *
 * Prints ms per call and the ratio; nothing here is a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedc/nn.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void add(struct fedc_seq_cfg *c, struct fedc_layer_spec l)
{
	c->layers[c->n_layers++] = l;
}

static void mlp(struct fedc_seq_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->input = (struct fedc_vol){ 784, 1, 1, 1 };
	c->seed = 1;
	add(c, fedc_layer_dense(128, FEDC_ACT_RELU));
	add(c, fedc_layer_dense(10, FEDC_ACT_NONE));
}

static void cnn(struct fedc_seq_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->input = (struct fedc_vol){ 1, 1, 28, 28 };
	c->seed = 1;
	add(c, fedc_layer_conv2d(6, 5, 1, 0, FEDC_ACT_RELU));
	add(c, fedc_layer_maxpool2d(2, 2));
	add(c, fedc_layer_conv2d(16, 5, 1, 0, FEDC_ACT_RELU));
	add(c, fedc_layer_maxpool2d(2, 2));
	add(c, fedc_layer_flatten());
	add(c, fedc_layer_dense(120, FEDC_ACT_RELU));
	add(c, fedc_layer_dense(84, FEDC_ACT_RELU));
	add(c, fedc_layer_dense(10, FEDC_ACT_NONE));
}

static int run(const char *name, const struct fedc_seq_cfg *cfg, size_t rows, int repeats)
{
	struct fedc_seq *s = malloc(sizeof(*s));
	struct fedc_data d = { .n_samples = rows, .n_features = 784, .n_classes = 10 };
	struct fedc_rng rng;
	float *grad = malloc(rows * 784 * sizeof(float));
	double t0, step_s, grad_s, loss;
	int rc;

	d.x = malloc(rows * 784 * sizeof(float));
	d.y = malloc(rows * sizeof(float));
	if (!s || !grad || !d.x || !d.y || fedc_seq_init(s, cfg))
		return 1;
	fedc_rng_seed(&rng, 7);
	for (size_t i = 0; i < rows * 784; i++)
		d.x[i] = (float)fedc_rng_uniform(&rng);
	for (size_t i = 0; i < rows; i++)
		d.y[i] = (float)fedc_rng_below(&rng, 10);
	struct fedc_mat x = fedc_mat_view(d.x, rows, 784);
	fedc_seq_set_training(s, true);
	rc = fedc_seq_step(s, FEDC_LOSS_SOFTMAX_CE, &x, d.y, &loss, NULL); /* warm: buffers sized */
	t0 = now_s();
	for (int r = 0; !rc && r < repeats; r++)
		rc = fedc_seq_step(s, FEDC_LOSS_SOFTMAX_CE, &x, d.y, &loss, NULL);
	step_s = (now_s() - t0) / repeats;
	if (!rc)
		rc = fedc_seq_input_gradient(s, &d, FEDC_LOSS_SOFTMAX_CE, grad);
	t0 = now_s();
	for (int r = 0; !rc && r < repeats; r++)
		rc = fedc_seq_input_gradient(s, &d, FEDC_LOSS_SOFTMAX_CE, grad);
	grad_s = (now_s() - t0) / repeats;
	if (!rc)
		printf("%-4s %zu rows: training step (forward, backward, no optimizer) %.3f ms, input gradient %.3f ms, "
		       "ratio %.2f\n",
		       name, rows, step_s * 1e3, grad_s * 1e3, grad_s / step_s);
	fedc_seq_release(s);
	free(s);
	free(grad);
	free(d.x);
	free(d.y);
	return rc != 0;
}

int main(int argc, char **argv)
{
	struct fedc_seq_cfg cfg;
	size_t rows = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
	int repeats = argc > 2 ? atoi(argv[2]) : 200, rc;

	if (rows == 0 || rows > 1u << 16 || repeats <= 0) {
		fprintf(stderr, "usage: bench_input_grad [rows 1..65536] [repeats > 0]\n");
		return 2;
	}
	fedc_nn_set_threads(1);
	mlp(&cfg);
	rc = run("mlp", &cfg, rows, repeats);
	cnn(&cfg);
	return rc | run("cnn", &cfg, rows, repeats);
}
