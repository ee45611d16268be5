/* Training throughput of the plan SDK's sequential model: samples per second
 * for one epoch of NIID-Bench's simple CNN (conv 6@5x5, maxpool 2, conv
 * 16@5x5, maxpool 2, fc 120, fc 84, fc 10, ReLU; "cnn-bn" with a batch norm
 * after each conv) on 28x28 images, batch 64, plain SGD (lr 0.05), with 1
 * and 2 threads (fedc_seq_set_threads: the batch split across threads, one
 * OpenBLAS thread each; cnn-bn is not split, batch norm needing the whole
 * batch's statistics, so it runs on one thread). bench/torch_cnn.py does the
 * same in PyTorch; bench/cnn_vs_torch.sh runs both and prints the ratios.
 *
 * Data: Fashion-MNIST from --data DIR (default
 * /usr/share/datasets/fashion-mnist) when its gzip'd IDX files are there,
 * x = pixel / 255, so that the test accuracy printed alongside shows the
 * fast path also learns; otherwise 60000 synthetic images (fedc_rng seed
 * 42) with random labels.
 *
 * Output, one line per configuration:
 *   cnn <model> threads=<t> batch=64 samples_per_s=<median of epochs> accuracy=<test or nan>
 * Usage: bench_cnn_train [--data DIR] [--epochs N] [--threads 1,2] [--models cnn,cnn-bn]
 *        bench_cnn_train --core   (prints the OpenBLAS kernel in use) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "fedc/nn.h"

#define N_TRAIN 60000
#define N_TEST 10000
#define SIDE 28
#define N_FEATURES (SIDE * SIDE)
#define N_CLASSES 10
#define BATCH 64
#define LR 0.05

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Reads a gzip'd IDX file: skips its header, fills `bytes` bytes. 0 or -1. */
static int read_idx(const char *dir, const char *name, size_t header_len, unsigned char *out, size_t bytes)
{
	char path[4096];
	unsigned char header[16];
	gzFile f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = gzopen(path, "rb");
	if (!f)
		return -1;
	ok = gzread(f, header, (unsigned)header_len) == (int)header_len && gzread(f, out, (unsigned)bytes) == (int)bytes;
	gzclose(f);
	return ok ? 0 : -1;
}

static int load_split(const char *dir, const char *images, const char *labels, struct fedc_data *d)
{
	size_t n = d->n_samples, px = n * N_FEATURES;
	unsigned char *raw = malloc(px);
	int rc = raw ? read_idx(dir, images, 16, raw, px) : -1;

	for (size_t i = 0; !rc && i < px; i++)
		d->x[i] = (float)raw[i] / 255.0f;
	if (!rc)
		rc = read_idx(dir, labels, 8, raw, n);
	for (size_t i = 0; !rc && i < n; i++)
		d->y[i] = (float)raw[i];
	free(raw);
	return rc;
}

static void synthesize(struct fedc_data *d, uint64_t seed)
{
	struct fedc_rng rng;

	fedc_rng_seed(&rng, seed);
	for (size_t i = 0; i < d->n_samples * N_FEATURES; i++)
		d->x[i] = (float)fedc_rng_uniform(&rng);
	for (size_t i = 0; i < d->n_samples; i++)
		d->y[i] = (float)fedc_rng_below(&rng, N_CLASSES);
}

static int alloc_data(struct fedc_data *d, size_t n)
{
	*d = (struct fedc_data){ .n_samples = n, .n_features = N_FEATURES, .n_classes = N_CLASSES, .sample_ndim = 3,
				 .sample_shape = { 1, SIDE, SIDE } };
	d->x = malloc(n * N_FEATURES * sizeof(float));
	d->y = malloc(n * sizeof(float));
	return d->x && d->y ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void add(struct fedc_seq_cfg *c, struct fedc_layer_spec l)
{
	c->layers[c->n_layers++] = l;
}

/* The simple CNN, as examples/cnn/plan.c builds it. */
static void simple_cnn(struct fedc_seq_cfg *c, bool bn)
{
	memset(c, 0, sizeof(*c));
	c->input = (struct fedc_vol){ 1, 1, SIDE, SIDE };
	c->seed = 1;
	for (int block = 0; block < 2; block++) {
		add(c, fedc_layer_conv2d(block ? 16 : 6, 5, 1, 0, bn ? FEDC_ACT_NONE : FEDC_ACT_RELU));
		if (bn)
			add(c, fedc_layer_batchnorm(FEDC_ACT_RELU, false));
		add(c, fedc_layer_maxpool2d(2, 2));
	}
	add(c, fedc_layer_flatten());
	add(c, fedc_layer_dense(120, FEDC_ACT_RELU));
	add(c, fedc_layer_dense(84, FEDC_ACT_RELU));
	add(c, fedc_layer_dense(N_CLASSES, FEDC_ACT_NONE));
}

/* Trains `epochs` epochs, timing each; prints the median throughput. */
static int bench_one(const char *model, int threads, int epochs, const struct fedc_data *train,
		     const struct fedc_data *test)
{
	struct fedc_train_args args = { .lr = LR, .epochs = 1, .batch_size = BATCH, .optimizer = "sgd" };
	struct fedc_train_cfg tc = { .args = &args, .loss = FEDC_LOSS_SOFTMAX_CE };
	struct fedc_seq_cfg cfg;
	struct fedc_metrics m;
	struct fedc_seq *seq = malloc(sizeof(*seq));
	double rate[64];
	int rc = seq ? 0 : FEDC_NN_ERR_NOMEM;

	simple_cnn(&cfg, strcmp(model, "cnn-bn") == 0);
	fedc_nn_set_threads(threads);
	if (!rc)
		rc = fedc_seq_init(seq, &cfg);
	if (!rc)
		fedc_seq_set_threads(seq, (unsigned)threads);
	for (int e = 0; !rc && e < epochs; e++) {
		double t0 = now_s();

		args.seed = (uint64_t)e;
		rc = fedc_seq_train(seq, train, &tc, &m);
		rate[e] = (double)train->n_samples / (now_s() - t0);
	}
	if (!rc && test)
		rc = fedc_seq_evaluate(seq, test, FEDC_LOSS_SOFTMAX_CE, &m);
	if (!rc) {
		qsort(rate, (size_t)epochs, sizeof(rate[0]), cmp_double);
		printf("cnn %s threads=%d batch=%d samples_per_s=%.0f accuracy=%.4f\n", model, threads, BATCH,
		       rate[epochs / 2], test ? fedc_metrics_get(&m, "accuracy") : NAN);
		fflush(stdout);
	} else {
		fprintf(stderr, "bench_cnn_train: %s: %s %s\n", model, fedc_nn_strerror(rc), fedc_plan_last_error());
	}
	if (seq)
		fedc_seq_release(seq);
	free(seq);
	return rc;
}

/* Runs every model of the comma-separated list for one thread count. */
static int bench_models(const char *models, int threads, int epochs, const struct fedc_data *train,
			const struct fedc_data *test)
{
	char name[32];
	int rc = 0;

	for (const char *p = models; !rc && *p;) {
		size_t len = strcspn(p, ",");

		if (len == 0 || len >= sizeof(name) || (strncmp(p, "cnn", len) != 0 && strncmp(p, "cnn-bn", len) != 0) ||
		    (len != 3 && len != 6)) {
			fprintf(stderr, "bench_cnn_train: bad --models list \"%s\" (cnn, cnn-bn)\n", models);
			return 2;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		rc = bench_one(name, threads, epochs, train, test);
		p += len + (p[len] == ',');
	}
	return rc;
}

int main(int argc, char **argv)
{
	const char *dir = "/usr/share/datasets/fashion-mnist", *thread_list = "1,2", *models = "cnn,cnn-bn";
	struct fedc_data train, test;
	int epochs = 3, rc = 0;
	bool real;

	if (argc == 2 && strcmp(argv[1], "--core") == 0) { /* for bench/cnn_vs_torch.sh */
		printf("%s\n", fedc_nn_blas_core());
		return 0;
	}
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--data") == 0)
			dir = argv[i + 1];
		else if (strcmp(argv[i], "--epochs") == 0)
			epochs = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--threads") == 0)
			thread_list = argv[i + 1];
		else if (strcmp(argv[i], "--models") == 0)
			models = argv[i + 1];
	}
	if (epochs < 1 || epochs > 64 || alloc_data(&train, N_TRAIN) || alloc_data(&test, N_TEST)) {
		fprintf(stderr, "usage: bench_cnn_train [--data DIR] [--epochs 1..64] [--threads 1,2] "
				"[--models cnn,cnn-bn]\n");
		return 2;
	}
	real = load_split(dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", &train) == 0 &&
	       load_split(dir, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", &test) == 0;
	if (!real)
		synthesize(&train, 42);
	printf("# data: %s, %d epochs per configuration, median reported, OpenBLAS core %s\n",
	       real ? dir : "synthetic (seed 42)", epochs, fedc_nn_blas_core());
	for (const char *t = thread_list; !rc && *t;) {
		char *end;
		long threads = strtol(t, &end, 10);

		if (end == t || threads < 1 || threads > 64) {
			fprintf(stderr, "bench_cnn_train: bad --threads list \"%s\"\n", thread_list);
			rc = 2;
			break;
		}
		rc = bench_models(models, (int)threads, epochs, &train, real ? &test : NULL);
		t = *end == ',' ? end + 1 : end;
	}
	free(train.x), free(train.y), free(test.x), free(test.y);
	return rc ? 1 : 0;
}
