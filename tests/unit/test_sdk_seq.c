/* Plan SDK: the sequential model (fedc/nn/seq.h) -- its parameters, roles,
 * refusals, training and evaluation through the SDK's loop, augmentation,
 * segmentation -- and the example plan examples/cnn through the ABI. */
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

#define CNN_PLAN_PATH FEDC_PLAN_DIR "/cnn.so"

static void add(struct fedc_seq_cfg *c, struct fedc_layer_spec l)
{
	c->layers[c->n_layers++] = l;
}

/* NIID-Bench's simple CNN on 28x28 images, with or without batch norm. */
static void simple_cnn(struct fedc_seq_cfg *c, bool bn, bool fedbn)
{
	memset(c, 0, sizeof(*c));
	c->input = (struct fedc_vol){ 1, 1, 28, 28 };
	c->seed = 1;
	for (int block = 0; block < 2; block++) {
		add(c, fedc_layer_conv2d(block ? 16 : 6, 5, 1, 0, bn ? FEDC_ACT_NONE : FEDC_ACT_RELU));
		if (bn)
			add(c, fedc_layer_batchnorm(FEDC_ACT_RELU, fedbn));
		add(c, fedc_layer_maxpool2d(2, 2));
	}
	add(c, fedc_layer_flatten());
	add(c, fedc_layer_dense(120, FEDC_ACT_RELU));
	add(c, fedc_layer_dense(84, FEDC_ACT_RELU));
	add(c, fedc_layer_dense(10, FEDC_ACT_NONE));
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

static void test_simple_cnn_params(void **state)
{
	struct fedc_seq_cfg cfg;
	struct fedc_seq *s;
	const struct fedc_tensor *t;
	size_t n, total = 0;
	uint8_t roles[16];

	simple_cnn(&cfg, false, false);
	s = new_seq(&cfg);
	assert_int_equal(fedc_seq_get_params(s, &t, &n), 0);
	assert_int_equal(n, 10);
	assert_string_equal(t[0].name, "conv0.weight");
	assert_int_equal(t[0].ndim, 4);
	assert_int_equal(t[0].shape[0], 6), assert_int_equal(t[0].shape[1], 1);
	assert_int_equal(t[0].shape[2], 5), assert_int_equal(t[0].shape[3], 5);
	assert_string_equal(t[2].name, "conv2.weight");
	assert_int_equal(t[2].shape[1], 6);
	assert_string_equal(t[4].name, "dense5.weight");
	assert_int_equal(t[4].shape[0], 120), assert_int_equal(t[4].shape[1], 256);
	assert_string_equal(t[9].name, "dense7.bias");
	for (size_t i = 0; i < n; i++) {
		size_t len = 1;

		for (uint32_t d = 0; d < t[i].ndim; d++)
			len *= t[i].shape[d];
		total += len;
	}
	assert_int_equal(total, 44426);
	assert_int_equal(fedc_seq_outputs(s), 10);
	assert_int_equal(fedc_seq_param_roles(s, roles, n), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(roles[i], FEDC_PARAM_WEIGHT);
	assert_int_equal(fedc_seq_param_roles(s, roles, n - 1), FEDC_NN_ERR_SHAPE);
	/* set_params round trip: a second model takes the first's values */
	struct fedc_seq *other;

	cfg.seed = 2;
	other = new_seq(&cfg);
	assert_int_equal(fedc_seq_set_params(other, t, n), 0);
	assert_memory_equal(other->params.items[0].value.data, s->params.items[0].value.data, 150 * sizeof(float));
	free_seq(other);
	free_seq(s);
}

static void test_batchnorm_roles(void **state)
{
	struct fedc_seq_cfg cfg;
	struct fedc_seq *s;
	uint8_t roles[32];
	size_t n;

	simple_cnn(&cfg, true, false);
	s = new_seq(&cfg);
	n = s->params.count;
	assert_int_equal(n, 18);
	assert_int_equal(fedc_seq_param_roles(s, roles, n), 0);
	assert_string_equal(s->params.items[2].name, "bn1.weight");
	assert_int_equal(roles[2], FEDC_PARAM_WEIGHT);
	assert_string_equal(s->params.items[4].name, "bn1.running_mean");
	assert_int_equal(roles[4], FEDC_PARAM_BUFFER);
	assert_int_equal(roles[5], FEDC_PARAM_BUFFER);
	assert_false(s->params.items[5].trainable);
	assert_float_equal(s->params.items[5].value.data[0], 1.0f, 0); /* running_var starts at 1 */
	free_seq(s);
	simple_cnn(&cfg, true, true); /* FedBN: everything of the batch norms is local */
	s = new_seq(&cfg);
	assert_int_equal(fedc_seq_param_roles(s, roles, n), 0);
	for (size_t i = 0; i < n; i++) {
		bool bn = strncmp(s->params.items[i].name, "bn", 2) == 0;

		assert_int_equal(roles[i], bn ? FEDC_PARAM_LOCAL : FEDC_PARAM_WEIGHT);
	}
	free_seq(s);
}

static void test_bad_specs_refused(void **state)
{
	struct fedc_seq_cfg cfg;
	struct fedc_seq *s = malloc(sizeof(*s));

	assert_non_null(s);
	simple_cnn(&cfg, false, false);
	cfg.input.h = cfg.input.w = 12; /* the second conv no longer fits */
	assert_int_equal(fedc_seq_init(s, &cfg), FEDC_NN_ERR_SHAPE);
	assert_non_null(strstr(fedc_plan_last_error(), "layer 2 (conv)"));
	simple_cnn(&cfg, false, false);
	cfg.layers[5] = fedc_layer_dense(0, FEDC_ACT_RELU);
	assert_int_equal(fedc_seq_init(s, &cfg), FEDC_NN_ERR_INVAL);
	assert_non_null(strstr(fedc_plan_last_error(), "layer 5 (dense)"));
	simple_cnn(&cfg, false, false);
	cfg.layers[cfg.n_layers++] = fedc_layer_dropout(1.0);
	assert_int_equal(fedc_seq_init(s, &cfg), FEDC_NN_ERR_INVAL);
	assert_non_null(strstr(fedc_plan_last_error(), "dropout"));
	simple_cnn(&cfg, false, false);
	cfg.n_layers = 0;
	assert_int_equal(fedc_seq_init(s, &cfg), FEDC_NN_ERR_INVAL);
	free(s);
}

/* Images of 2 classes: a bright 3x3 square in the left or the right half. */
struct images {
	struct fedc_data d;
	float *x, *y;
};

static void square_images(struct images *im, size_t n, size_t side, uint64_t seed)
{
	struct fedc_rng rng;

	fedc_rng_seed(&rng, seed);
	im->x = calloc(n * side * side, sizeof(float));
	im->y = malloc(n * sizeof(float));
	assert_non_null(im->x), assert_non_null(im->y);
	for (size_t i = 0; i < n; i++) {
		size_t cls = (size_t)fedc_rng_below(&rng, 2), half = side / 2;
		size_t r = (size_t)fedc_rng_below(&rng, side - 2), c = cls * half + (size_t)fedc_rng_below(&rng, half - 2);

		for (size_t a = 0; a < 3; a++)
			for (size_t b = 0; b < 3; b++)
				im->x[i * side * side + (r + a) * side + c + b] = 1.0f;
		for (size_t k = 0; k < side * side; k++)
			im->x[i * side * side + k] += 0.1f * (float)fedc_rng_uniform(&rng);
		im->y[i] = (float)cls;
	}
	im->d = (struct fedc_data){ .n_samples = n, .n_features = side * side, .x = im->x, .y = im->y, .n_classes = 2,
				    .sample_ndim = 3, .sample_shape = { 1, side, side } };
}

static void free_images(struct images *im)
{
	free(im->x), free(im->y);
}

static void small_cnn(struct fedc_seq_cfg *c, bool bn)
{
	memset(c, 0, sizeof(*c));
	c->input = (struct fedc_vol){ 1, 1, 12, 12 };
	c->seed = 3;
	add(c, fedc_layer_conv2d(4, 3, 1, 1, bn ? FEDC_ACT_NONE : FEDC_ACT_RELU));
	if (bn)
		add(c, fedc_layer_batchnorm(FEDC_ACT_RELU, false));
	add(c, fedc_layer_maxpool2d(2, 2));
	add(c, fedc_layer_conv2d(8, 3, 2, 1, FEDC_ACT_RELU));
	add(c, fedc_layer_flatten());
	add(c, fedc_layer_dropout(0.1));
	add(c, fedc_layer_dense(2, FEDC_ACT_NONE));
}

static void test_cnn_learns_and_reports_clinical_metrics(void **state)
{
	struct fedc_train_args args = { .lr = 0.05, .epochs = 8, .batch_size = 32, .seed = 7, .optimizer = "sgdm" };
	struct fedc_train_cfg tc = { .args = &args, .loss = FEDC_LOSS_SOFTMAX_CE };
	struct fedc_seq_cfg cfg;
	struct images train, test;
	struct fedc_metrics m;
	struct fedc_seq *s;

	square_images(&train, 600, 12, 1), square_images(&test, 300, 12, 2);
	small_cnn(&cfg, true);
	s = new_seq(&cfg);
	assert_int_equal(fedc_seq_train(s, &train.d, &tc, &m), 0);
	assert_false(s->training); /* back in evaluation mode */
	assert_true(fedc_metrics_get(&m, "num_updates") == 8 * 19);
	assert_int_equal(fedc_seq_evaluate(s, &test.d, FEDC_LOSS_SOFTMAX_CE, &m), 0);
	assert_true(fedc_metrics_get(&m, "accuracy") > 0.95);
	assert_true(fedc_metrics_get(&m, "auc") > 0.98);
	assert_true(fedc_metrics_get(&m, "f1") > 0.95);
	assert_true(fedc_metrics_get(&m, "sensitivity") > 0.9);
	assert_true(fedc_metrics_get(&m, "specificity") > 0.9);
	/* the running statistics moved */
	assert_true(s->params.items[4].value.data[0] != 0.0f);
	free_seq(s);
	free_images(&train), free_images(&test);
}

/* Same seed, same parameters, dropout and augmentation included. */
static void test_training_is_seeded(void **state)
{
	struct fedc_train_args args = { .lr = 0.05, .num_updates = 20, .batch_size = 16, .seed = 3 };
	struct fedc_train_cfg tc = { .args = &args, .loss = FEDC_LOSS_SOFTMAX_CE };
	struct fedc_seq_cfg cfg;
	struct images train;
	struct fedc_metrics m;
	struct fedc_seq *a, *b;

	square_images(&train, 100, 12, 4);
	small_cnn(&cfg, true);
	cfg.augment = (struct fedc_augment_cfg){ 2, true, 10.0 };
	a = new_seq(&cfg), b = new_seq(&cfg);
	assert_int_equal(fedc_seq_train(a, &train.d, &tc, &m), 0);
	assert_int_equal(fedc_seq_train(b, &train.d, &tc, &m), 0);
	for (size_t k = 0; k < a->params.count; k++)
		assert_memory_equal(a->params.items[k].value.data, b->params.items[k].value.data,
				    fedc_mat_len(&a->params.items[k].value) * sizeof(float));
	args.seed = 4;
	assert_int_equal(fedc_seq_train(b, &train.d, &tc, &m), 0);
	assert_int_equal(fedc_seq_train(a, &train.d, &tc, &m), 0);
	free_seq(a), free_seq(b);
	free_images(&train);
}

/* One training step of a fresh model set to `threads` on a fixed random batch
 * of `rows` images: fills *loss and *correct, returns the model. */
static struct fedc_seq *step_with_threads(const struct fedc_seq_cfg *cfg, unsigned threads, size_t rows,
					  double *loss, size_t *correct)
{
	struct fedc_seq *s = new_seq(cfg);
	struct fedc_mat x;
	float *y = malloc(rows * sizeof(*y));
	struct fedc_rng r;

	assert_non_null(y);
	assert_int_equal(fedc_mat_init(&x, rows, fedc_seq_inputs(s)), 0);
	fedc_rng_seed(&r, 11);
	for (size_t e = 0; e < fedc_mat_len(&x); e++)
		x.data[e] = (float)fedc_rng_uniform(&r);
	for (size_t i = 0; i < rows; i++)
		y[i] = (float)fedc_rng_below(&r, 10);
	fedc_seq_set_threads(s, threads);
	fedc_seq_set_training(s, true);
	assert_int_equal(fedc_seq_step(s, FEDC_LOSS_SOFTMAX_CE, &x, y, loss, correct), 0);
	fedc_mat_release(&x);
	free(y);
	return s;
}

/* Each gradient of b within tol of a's (relative to the tensor's largest). */
static void assert_grads_near(const struct fedc_seq *a, const struct fedc_seq *b, double tol)
{
	for (size_t k = 0; k < a->params.count; k++) {
		const struct fedc_mat *ga = &a->params.items[k].grad, *gb = &b->params.items[k].grad;
		double top = 1e-12;

		for (size_t e = 0; e < fedc_mat_len(ga); e++)
			top = fmax(top, fabs(ga->data[e]));
		for (size_t e = 0; e < fedc_mat_len(ga); e++)
			assert_true(fabs(ga->data[e] - gb->data[e]) <= tol * top);
	}
}

static void assert_grads_equal(const struct fedc_seq *a, const struct fedc_seq *b)
{
	for (size_t k = 0; k < a->params.count; k++)
		assert_memory_equal(a->params.items[k].grad.data, b->params.items[k].grad.data,
				    fedc_mat_len(&a->params.items[k].grad) * sizeof(float));
}

/* A batch split across 2 or 3 threads (37 rows: unequal parts) gives the
 * one-thread gradient and loss up to rounding, and the same bits run after
 * run; a batch-norm model is not split (its statistics are the batch's). */
static void test_split_step_matches_one_thread(void **state)
{
	struct fedc_seq_cfg cfg, bn;
	struct fedc_seq *one, *two, *two_again, *three;
	double l1, l2, l2b, l3;
	size_t c1, c2, c2b, c3;

	simple_cnn(&cfg, false, false);
	one = step_with_threads(&cfg, 1, 37, &l1, &c1);
	two = step_with_threads(&cfg, 2, 37, &l2, &c2);
	two_again = step_with_threads(&cfg, 2, 37, &l2b, &c2b);
	three = step_with_threads(&cfg, 3, 37, &l3, &c3);
	assert_non_null(two->workers[0]);
	assert_non_null(three->workers[1]);
	assert_true(fabs(l1 - l2) < 1e-5 && fabs(l1 - l3) < 1e-5);
	assert_int_equal(c1, c2), assert_int_equal(c1, c3);
	assert_grads_near(one, two, 1e-4);
	assert_grads_near(one, three, 1e-4);
	assert_true(l2 == l2b), assert_int_equal(c2, c2b);
	assert_grads_equal(two, two_again);
	free_seq(one), free_seq(two), free_seq(two_again), free_seq(three);

	simple_cnn(&bn, true, false);
	one = step_with_threads(&bn, 1, 37, &l1, &c1);
	two = step_with_threads(&bn, 2, 37, &l2, &c2);
	assert_null(two->workers[0]);
	assert_true(l1 == l2);
	assert_grads_equal(one, two);
	free_seq(one), free_seq(two);
}

static void test_data_mismatch_refused(void **state)
{
	struct fedc_train_args args = { .lr = 0.05, .epochs = 1, .batch_size = 16 };
	struct fedc_train_cfg tc = { .args = &args, .loss = FEDC_LOSS_SOFTMAX_CE };
	struct fedc_dpsgd_cfg dp = { .clip_norm = 1, .noise_multiplier = 1, .delta = 1e-5 };
	struct fedc_seq_cfg cfg;
	struct images train;
	struct fedc_metrics m;
	struct fedc_seq *s;

	square_images(&train, 50, 12, 5);
	small_cnn(&cfg, false);
	s = new_seq(&cfg);
	train.d.sample_shape[0] = 3, train.d.sample_shape[1] = 2; /* [3, 2, 24]: same count, other shape */
	train.d.sample_shape[2] = 24;
	assert_int_equal(fedc_seq_train(s, &train.d, &tc, &m), FEDC_NN_ERR_DATA);
	assert_non_null(strstr(fedc_plan_last_error(), "input shape"));
	train.d.sample_ndim = 0; /* a plain row of the right length is taken */
	train.d.n_features = 100;
	assert_int_equal(fedc_seq_evaluate(s, &train.d, FEDC_LOSS_SOFTMAX_CE, &m), FEDC_NN_ERR_DATA);
	train.d.n_features = 144;
	tc.dpsgd = &dp;
	assert_int_equal(fedc_seq_train(s, &train.d, &tc, &m), FEDC_NN_ERR_INVAL);
	assert_non_null(strstr(fedc_plan_last_error(), "dpsgd"));
	free_seq(s);
	free_images(&train);
}

/* Flips and shifts move whole pixels: each augmented image is the original,
 * mirrored or not, shifted by at most crop_pad with zeros coming in. */
static void test_augment_flip_and_shift_exact(void **state)
{
	struct fedc_vol v = { 2, 1, 5, 6 };
	struct fedc_augment_cfg cfg = { 1, true, 0.0 };
	struct fedc_mat x, y;
	struct fedc_rng rng;
	size_t len = fedc_vol_len(&v), matched = 0;

	assert_int_equal(fedc_mat_init(&x, 20, len), 0);
	assert_int_equal(fedc_mat_init(&y, 20, len), 0);
	for (size_t i = 0; i < 20 * len; i++)
		x.data[i] = (float)(i % 97) + 1.0f;
	fedc_rng_seed(&rng, 2);
	assert_int_equal(fedc_augment_batch(&cfg, &v, &x, &y, &rng), 0);
	for (size_t i = 0; i < 20; i++) {
		bool found = false;

		for (int flip = 0; flip < 2 && !found; flip++) {
			for (long dy = -1; dy <= 1 && !found; dy++) {
				for (long dx = -1; dx <= 1 && !found; dx++) {
					bool same = true;

					for (size_t k = 0; k < len && same; k++) {
						size_t plane = k / 30, r = (k % 30) / 6, c = k % 6;
						long sr = (long)r - dy, sc0 = (long)c - dx;
						long sc = flip ? 5 - sc0 : sc0;
						float want = sr < 0 || sr >= 5 || sc < 0 || sc >= 6
								     ? 0.0f
								     : x.data[i * len + plane * 30 + (size_t)sr * 6 + (size_t)sc];

						same = y.data[i * len + k] == want;
					}
					found = same;
				}
			}
		}
		matched += found;
	}
	assert_int_equal(matched, 20);
	cfg.crop_pad = 5; /* not below the height */
	assert_int_equal(fedc_augment_batch(&cfg, &v, &x, &y, &rng), FEDC_NN_ERR_INVAL);
	cfg = (struct fedc_augment_cfg){ 0, false, 200.0 };
	assert_int_equal(fedc_augment_batch(&cfg, &v, &x, &y, &rng), FEDC_NN_ERR_INVAL);
	assert_int_equal(fedc_augment_batch(&cfg, &v, &x, &x, &rng), FEDC_NN_ERR_SHAPE);
	fedc_mat_release(&x), fedc_mat_release(&y);
}

/* A rotation by a small angle keeps an image's mass roughly and moves it. */
static void test_augment_rotation(void **state)
{
	struct fedc_vol v = { 1, 1, 9, 9 };
	struct fedc_augment_cfg cfg = { 0, false, 30.0 };
	struct fedc_mat x, y;
	struct fedc_rng rng;
	double in = 0.0, out = 0.0, moved = 0.0;

	assert_int_equal(fedc_mat_init(&x, 1, 81), 0);
	assert_int_equal(fedc_mat_init(&y, 1, 81), 0);
	for (size_t r = 2; r < 7; r++)
		x.data[r * 9 + 4] = 1.0f; /* a vertical bar through the centre */
	fedc_rng_seed(&rng, 6);
	assert_int_equal(fedc_augment_batch(&cfg, &v, &x, &y, &rng), 0);
	for (size_t k = 0; k < 81; k++) {
		in += x.data[k], out += y.data[k];
		moved += fabsf(x.data[k] - y.data[k]);
	}
	assert_float_equal(y.data[40], 1.0f, 1e-6); /* the centre stays */
	assert_true(fabs(in - out) < 1.0);
	assert_true(moved > 0.1);
	fedc_mat_release(&x), fedc_mat_release(&y);
}

/* Segmentation: a fully convolutional model learns to mark bright voxels
 * of a volume (label_width > 1), with Dice loss, and reports "dice". */
static void test_segmentation_with_dice(void **state)
{
	const size_t n = 64, side = 6, vox = side * side * side;
	struct fedc_train_args args = { .lr = 0.5, .epochs = 40, .batch_size = 16, .seed = 2, .optimizer = "sgdm" };
	struct fedc_train_cfg tc = { .args = &args, .loss = FEDC_LOSS_DICE };
	struct fedc_seq_cfg cfg = { .input = { 1, side, side, side }, .n_layers = 2, .seed = 4 };
	struct fedc_data d;
	struct fedc_metrics m;
	struct fedc_rng rng;
	float *x = malloc(n * vox * sizeof(float)), *y = malloc(n * vox * sizeof(float));
	struct fedc_seq *s;

	assert_non_null(x), assert_non_null(y);
	fedc_rng_seed(&rng, 1);
	for (size_t i = 0; i < n * vox; i++) {
		y[i] = (float)(fedc_rng_uniform(&rng) < 0.3);
		x[i] = y[i] + 0.3f * (float)fedc_rng_uniform(&rng);
	}
	d = (struct fedc_data){ .n_samples = n, .n_features = vox, .x = x, .y = y, .n_classes = 2,
				.sample_ndim = 4, .sample_shape = { 1, side, side, side }, .label_width = vox };
	cfg.layers[0] = fedc_layer_conv3d(4, 3, 1, 1, FEDC_ACT_RELU);
	cfg.layers[1] = fedc_layer_conv3d(2, 1, 1, 0, FEDC_ACT_NONE);
	s = new_seq(&cfg);
	assert_int_equal(fedc_seq_train(s, &d, &tc, &m), 0);
	assert_true(isnan(fedc_metrics_get(&m, "accuracy")));
	assert_int_equal(fedc_seq_evaluate(s, &d, FEDC_LOSS_DICE, &m), 0);
	assert_true(fedc_metrics_get(&m, "dice") > 0.9);
	assert_int_equal(fedc_seq_evaluate(s, &d, FEDC_LOSS_VOXEL_CE, &m), 0);
	assert_true(fedc_metrics_get(&m, "dice") > 0.9);
	d.label_width = 1; /* one target per row cannot be a mask */
	assert_int_equal(fedc_seq_evaluate(s, &d, FEDC_LOSS_DICE, &m), FEDC_NN_ERR_SHAPE);
	free_seq(s);
	free(x), free(y);
}

/* ------------------------------------------------------------------ */
/* examples/cnn through the ABI                                        */

static const struct fedc_plan *load_cnn(void **so)
{
	const struct fedc_plan *plan;

	*so = dlopen(CNN_PLAN_PATH, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(*so);
	plan = dlsym(*so, FEDC_PLAN_SYMBOL);
	assert_non_null(plan);
	assert_int_equal(plan->abi_version, FEDC_PLAN_ABI_VERSION);
	assert_non_null(plan->param_roles);
	return plan;
}

static void test_cnn_plan_round(void **state)
{
	const struct fedc_arg items[] = { { "height", 16 }, { "width", 16 }, { "n_classes", 2 },
					  { "fedbn", 1 },   { "momentum", 0.9 }, { "crop_pad", 1 } };
	const struct fedc_args margs = { items, 6 };
	struct fedc_train_args args = { .lr = 0.02, .epochs = 6, .batch_size = 32, .seed = 5, .optimizer = "sgd" };
	struct images train, test;
	const struct fedc_tensor *t;
	struct fedc_metrics m;
	uint8_t roles[32];
	size_t n;
	void *so, *model;
	const struct fedc_plan *plan = load_cnn(&so);

	square_images(&train, 600, 16, 1), square_images(&test, 200, 16, 2);
	assert_int_equal(plan->create(&margs, 11, &model), 0);
	assert_int_equal(plan->get_params(model, &t, &n), 0);
	assert_int_equal(n, 18);
	assert_int_equal(plan->param_roles(model, roles, n), 0);
	assert_string_equal(t[3].name, "bn1.bias");
	assert_int_equal(roles[3], FEDC_PARAM_LOCAL);
	assert_int_equal(roles[0], FEDC_PARAM_WEIGHT);
	assert_int_equal(plan->train(model, &train.d, &args, NULL, &m), 0);
	assert_int_equal(plan->evaluate(model, &test.d, &m), 0);
	assert_true(fedc_metrics_get(&m, "accuracy") > 0.9);
	assert_true(fedc_metrics_get(&m, "auc") > 0.9);
	args.optimizer = "adam"; /* [model] momentum is for SGD */
	assert_true(plan->train(model, &train.d, &args, NULL, &m) < 0);
	assert_non_null(strstr(plan->last_error(), "momentum"));
	plan->destroy(model);
	dlclose(so);
	free_images(&train), free_images(&test);
}

static void test_cnn_plan_rejects_bad_args(void **state)
{
	const struct fedc_arg typo[] = { { "batchnorm", 1 } }, small[] = { { "height", 8 } },
			      frac[] = { { "conv1", 2.5 } }, rot[] = { { "rotate", 400 } };
	const struct fedc_args cases[] = { { typo, 1 }, { small, 1 }, { frac, 1 }, { rot, 1 } };
	void *so, *model = NULL;
	const struct fedc_plan *plan = load_cnn(&so);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(plan->create(&cases[i], 1, &model) < 0);
		assert_null(model);
		assert_true(strlen(plan->last_error()) > 0);
	}
	assert_int_equal(plan->create(NULL, 1, &model), 0); /* defaults: Fashion-MNIST */
	plan->destroy(model);
	dlclose(so);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_cnn_params),
		cmocka_unit_test(test_batchnorm_roles),
		cmocka_unit_test(test_bad_specs_refused),
		cmocka_unit_test(test_cnn_learns_and_reports_clinical_metrics),
		cmocka_unit_test(test_training_is_seeded),
		cmocka_unit_test(test_split_step_matches_one_thread),
		cmocka_unit_test(test_data_mismatch_refused),
		cmocka_unit_test(test_augment_flip_and_shift_exact),
		cmocka_unit_test(test_augment_rotation),
		cmocka_unit_test(test_segmentation_with_dice),
		cmocka_unit_test(test_cnn_plan_round),
		cmocka_unit_test(test_cnn_plan_rejects_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
