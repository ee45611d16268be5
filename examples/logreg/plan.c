/* Binary logistic regression as a fedc training plan (see README.md).
 *
 * Parameters: "weight" [1, n_features], "bias" [1], "feature_mean" and
 * "feature_std" [n_features], float32.
 * Training: mini-batch SGD on the binary cross-entropy, optionally with the
 * FedProx proximal term mu/2 * ||theta - theta_start||^2.
 *
 * Federated standardization: features are standardized by prepare() with
 * feature_mean and feature_std, which travel with the weights. In the first
 * round they are unset (std 0) and each node fills them from its own training
 * rows; the researcher then averages them weighted by sample count (the
 * exact global mean, and a pooled estimate of the spread), so from the second
 * round on every node scales its features the same way and the averaged
 * weights mean the same thing everywhere. param_roles marks them BUFFER:
 * statistics, not weights, so every aggregator (FedAdam's server step, the
 * median, Krum ...) gives them that weighted average and nothing else.
 *
 * Built against fedc/plan.h alone; uses only libc and libm, never opens a
 * file or a socket. Every entry point checks its arguments and returns -1
 * on bad input instead of crashing. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/plan.h"

/* fedc_plan_error() and fedc_plan_last_error(): why create() refused. */
FEDC_PLAN_ERRORS;

#define LOGREG_MAX_FEATURES (1u << 24) /* keeps weight arrays and indices sane */
#define LOGREG_MAX_SAMPLES ((size_t)UINT32_MAX)
#define INIT_SCALE 0.01                /* initial weights in [-0.01, 0.01) */
#define STD_EPS 1e-12                  /* below this a feature is constant */

struct logreg {
	uint32_t n_features;
	float *weight;         /* n_features */
	float bias[1];
	float *weight_start;   /* FedProx reference: weights when train() began */
	float bias_start;
	double *grad;          /* n_features, one mini-batch gradient */
	float *mean;           /* n_features: standardization, federated */
	float *std;            /* n_features: all 0 until the first prepare() */
	struct fedc_tensor tensors[4];
};

/* ------------------------------------------------------------------ */
/* Deterministic PRNG: splitmix64, seeded by the node and round.        */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1) from the top 53 bits. */
static double rand_unit(uint64_t *state)
{
	return (double)(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in [0, n) without modulo bias (rejection sampling). */
static uint64_t rand_below(uint64_t *state, uint64_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t r;

	do
		r = splitmix64(state);
	while (r >= limit);
	return r % n;
}

static void shuffle(uint32_t *idx, size_t n, uint64_t *state)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)rand_below(state, i);
		uint32_t tmp = idx[i - 1];

		idx[i - 1] = idx[j];
		idx[j] = tmp;
	}
}

/* ------------------------------------------------------------------ */
/* Math                                                                 */

/* Split by sign so that exp() never overflows. */
static double sigmoid(double z)
{
	double e;

	if (z >= 0)
		return 1.0 / (1.0 + exp(-z));
	e = exp(z);
	return e / (1.0 + e);
}

/* Binary cross-entropy from the logit, stable for large |z|:
 * log(1 + e^z) - y z. */
static double bce_from_logit(double z, double y)
{
	double softplus = z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));

	return softplus - y * z;
}

static double logit(const struct logreg *m, const float *x)
{
	double z = m->bias[0];

	for (uint32_t f = 0; f < m->n_features; f++)
		z += (double)m->weight[f] * (double)x[f];
	return z;
}

/* ------------------------------------------------------------------ */
/* Argument and data checks                                             */

/* Reads a model argument that must be an integer in [lo, hi]. Returns 0 if
 * absent (leaving *out), 1 if read, -1 if present but bad or repeated. */
static int arg_uint(const struct fedc_args *args, const char *name, double lo, double hi, uint32_t *out)
{
	int found = 0;

	for (size_t i = 0; i < args->count; i++) {
		double v = args->items[i].value;

		if (!args->items[i].name || strcmp(args->items[i].name, name) != 0)
			continue;
		if (found || !(v >= lo && v <= hi) || v != floor(v)) {
			fedc_plan_error(found ? "[model] %s is given twice" : "[model] %s = %.17g: must be a whole number from %.0f to %.0f",
					name, v, lo, hi);
			return -1;
		}
		*out = (uint32_t)v;
		found = 1;
	}
	return found;
}

/* Only known model arguments, so that a typo ("n_feature") fails loudly. */
static bool args_known(const struct fedc_args *args)
{
	for (size_t i = 0; i < args->count; i++) {
		const char *n = args->items[i].name;

		if (!n || (strcmp(n, "n_features") != 0 && strcmp(n, "n_classes") != 0)) {
			fedc_plan_error("unknown [model] key \"%.64s\" (this plan takes n_features, n_classes)",
					n ? n : "(none)");
			return false;
		}
	}
	return true;
}

/* A view the model can read: right width, memory present, labels 0 or 1. */
static bool data_ok(const struct logreg *m, const struct fedc_data *d, bool need_labels)
{
	if (!d || d->n_features != m->n_features || d->n_samples == 0 || d->n_samples > LOGREG_MAX_SAMPLES ||
	    !d->x || (need_labels && !d->y))
		return false;
	for (size_t i = 0; need_labels && i < d->n_samples; i++) {
		if (d->y[i] != 0.0f && d->y[i] != 1.0f)
			return false;
	}
	return true;
}

static void metric_set(struct fedc_metrics *out, const char *name, double value)
{
	struct fedc_metric *item;

	if (out->count >= FEDC_PLAN_MAX_METRICS)
		return;
	item = &out->items[out->count++];
	memset(item->name, 0, sizeof(item->name));
	strncpy(item->name, name, sizeof(item->name) - 1);
	item->value = value;
}

/* ------------------------------------------------------------------ */
/* create / destroy / parameters                                        */

static void logreg_destroy(void *model)
{
	struct logreg *m = model;

	if (!m)
		return;
	free(m->weight);
	free(m->weight_start);
	free(m->mean);
	free(m->std);
	free(m->grad);
	free(m);
}

static void describe_tensors(struct logreg *m)
{
	m->tensors[0] = (struct fedc_tensor){
		.name = "weight", .dtype = FEDC_DTYPE_F32, .ndim = 2, .shape = { 1, m->n_features },
		.data = m->weight,
	};
	m->tensors[1] = (struct fedc_tensor){
		.name = "bias", .dtype = FEDC_DTYPE_F32, .ndim = 1, .shape = { 1 }, .data = m->bias,
	};
	m->tensors[2] = (struct fedc_tensor){
		.name = "feature_mean", .dtype = FEDC_DTYPE_F32, .ndim = 1, .shape = { m->n_features },
		.data = m->mean,
	};
	m->tensors[3] = (struct fedc_tensor){
		.name = "feature_std", .dtype = FEDC_DTYPE_F32, .ndim = 1, .shape = { m->n_features },
		.data = m->std,
	};
}

static int logreg_create(const struct fedc_args *model_args, uint64_t seed, void **model)
{
	struct fedc_args none = { NULL, 0 };
	const struct fedc_args *args = model_args ? model_args : &none;
	struct logreg *m = NULL;
	uint32_t n_features = 0, n_classes = 2;
	uint64_t state = seed;
	int found;

	if (!model)
		return -1;
	*model = NULL;
	if ((args->count && !args->items) || !args_known(args))
		return -1;
	found = arg_uint(args, "n_features", 1, LOGREG_MAX_FEATURES, &n_features);
	if (found == 0)
		fedc_plan_error("[model] n_features is required");
	if (found != 1)
		return -1;
	/* Binary only: a multinomial model would need a [n_classes, n_features] weight. */
	if (arg_uint(args, "n_classes", 2, 2, &n_classes) < 0)
		return -1;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -1;
	m->n_features = n_features;
	m->weight = calloc(n_features, sizeof(*m->weight));
	m->weight_start = calloc(n_features, sizeof(*m->weight_start));
	m->grad = calloc(n_features, sizeof(*m->grad));
	m->mean = calloc(n_features, sizeof(*m->mean));
	m->std = calloc(n_features, sizeof(*m->std));
	if (!m->weight || !m->weight_start || !m->grad || !m->mean || !m->std) {
		logreg_destroy(m);
		return -1;
	}
	/* Small seeded values: same seed, same model on every node. */
	for (uint32_t f = 0; f < n_features; f++)
		m->weight[f] = (float)((2.0 * rand_unit(&state) - 1.0) * INIT_SCALE);
	m->bias[0] = 0.0f;
	describe_tensors(m);
	*model = m;
	return 0;
}

static int logreg_get_params(void *model, const struct fedc_tensor **tensors, size_t *count)
{
	struct logreg *m = model;

	if (!m || !tensors || !count)
		return -1;
	describe_tensors(m);
	*tensors = m->tensors;
	*count = 4;
	return 0;
}

static bool same_layout(const struct fedc_tensor *a, const struct fedc_tensor *b)
{
	if (a->dtype != b->dtype || a->ndim != b->ndim || a->ndim > FEDC_PLAN_MAX_DIMS)
		return false;
	for (uint32_t d = 0; d < a->ndim; d++) {
		if (a->shape[d] != b->shape[d])
			return false;
	}
	return true;
}

static int tensor_index(const struct logreg *m, const char *name)
{
	for (int k = 0; k < 4; k++) {
		if (strcmp(name, m->tensors[k].name) == 0)
			return k;
	}
	return -1;
}

/* Accepts the four tensors in any order, each exactly once; copies nothing
 * unless all match. */
static int logreg_set_params(void *model, const struct fedc_tensor *tensors, size_t count)
{
	struct logreg *m = model;
	const struct fedc_tensor *found[4] = { NULL, NULL, NULL, NULL };

	if (!m || !tensors || count != 4)
		return -1;
	describe_tensors(m);
	for (size_t i = 0; i < count; i++) {
		const struct fedc_tensor *t = &tensors[i];
		int k;

		if (!t->name || !t->data)
			return -1;
		k = tensor_index(m, t->name);
		if (k < 0 || found[k] || !same_layout(t, &m->tensors[k]))
			return -1;
		found[k] = t;
	}
	memcpy(m->weight, found[0]->data, (size_t)m->n_features * sizeof(float));
	memcpy(m->bias, found[1]->data, sizeof(float));
	memcpy(m->mean, found[2]->data, (size_t)m->n_features * sizeof(float));
	memcpy(m->std, found[3]->data, (size_t)m->n_features * sizeof(float));
	return 0;
}

/* weight and bias are trained; feature_mean and feature_std are statistics
 * of the nodes' rows (BUFFER: averaged by sample count, never moved by a
 * server optimizer). */
static int logreg_param_roles(void *model, uint8_t *roles, size_t count)
{
	if (!model || !roles || count != 4)
		return -1;
	roles[0] = FEDC_PARAM_WEIGHT;
	roles[1] = FEDC_PARAM_WEIGHT;
	roles[2] = FEDC_PARAM_BUFFER;
	roles[3] = FEDC_PARAM_BUFFER;
	return 0;
}

/* ------------------------------------------------------------------ */
/* prepare: standardization                                             */

/* Mean and standard deviation of each feature over `d` (two passes in
 * double for accuracy). A constant feature gets std 1: it is only centred. */
static void feature_stats(const struct fedc_data *d, double *mean, double *std)
{
	size_t nf = d->n_features;

	for (size_t f = 0; f < nf; f++)
		mean[f] = std[f] = 0.0;
	for (size_t i = 0; i < d->n_samples; i++) {
		for (size_t f = 0; f < nf; f++)
			mean[f] += d->x[i * nf + f];
	}
	for (size_t f = 0; f < nf; f++)
		mean[f] /= (double)d->n_samples;
	for (size_t i = 0; i < d->n_samples; i++) {
		for (size_t f = 0; f < nf; f++) {
			double dev = d->x[i * nf + f] - mean[f];

			std[f] += dev * dev;
		}
	}
	for (size_t f = 0; f < nf; f++) {
		std[f] = sqrt(std[f] / (double)d->n_samples);
		if (!(std[f] > STD_EPS))
			std[f] = 1.0;
	}
}

static void standardize(struct fedc_data *d, const double *mean, const double *std)
{
	size_t nf = d->n_features;

	for (size_t i = 0; i < d->n_samples; i++) {
		for (size_t f = 0; f < nf; f++)
			d->x[i * nf + f] = (float)((d->x[i * nf + f] - mean[f]) / std[f]);
	}
}

/* True before any node filled the statistics (all std 0). */
static bool stats_unset(const struct logreg *m)
{
	for (uint32_t f = 0; f < m->n_features; f++) {
		if (m->std[f] != 0.0f)
			return false;
	}
	return true;
}

static int logreg_prepare(void *model, struct fedc_data *train, struct fedc_data *test)
{
	struct logreg *m = model;
	double *mean = NULL, *std = NULL;
	int ret = -1;

	if (!m || !data_ok(m, train, false))
		goto out;
	/* The test view may be empty (a node keeping no test share). */
	if (test && test->n_samples && !data_ok(m, test, false))
		goto out;
	mean = malloc(m->n_features * sizeof(*mean));
	std = malloc(m->n_features * sizeof(*std));
	if (!mean || !std)
		goto out;
	if (stats_unset(m)) {
		/* First round: this node's own statistics, averaged by FedAvg after. */
		feature_stats(train, mean, std);
		for (uint32_t f = 0; f < m->n_features; f++) {
			m->mean[f] = (float)mean[f];
			m->std[f] = (float)std[f];
		}
	}
	for (uint32_t f = 0; f < m->n_features; f++) {
		mean[f] = m->mean[f];
		std[f] = m->std[f] > STD_EPS ? m->std[f] : 1.0;
	}
	standardize(train, mean, std);
	if (test && test->n_samples)
		standardize(test, mean, std);
	ret = 0;
out:
	free(mean);
	free(std);
	return ret;
}

/* ------------------------------------------------------------------ */
/* train                                                                */

static bool train_args_ok(const struct fedc_train_args *a)
{
	if (!a || !isfinite(a->lr) || a->lr <= 0 || a->batch_size == 0)
		return false;
	if (a->epochs == 0 && a->num_updates == 0)
		return false;
	if (!isfinite(a->fedprox_mu) || a->fedprox_mu < 0)
		return false;
	return !a->optimizer || !*a->optimizer || strcmp(a->optimizer, "sgd") == 0;
}

/* One SGD step on samples idx[0..n): returns the summed loss of the batch
 * (before the step), so that the epoch loss is the mean of what was seen. */
static double sgd_step(struct logreg *m, const struct fedc_data *d, const uint32_t *idx, size_t n,
		       const struct fedc_train_args *a)
{
	double grad_b = 0.0, loss = 0.0;
	const double lr = a->lr, mu = a->fedprox_mu;

	memset(m->grad, 0, m->n_features * sizeof(*m->grad));
	for (size_t k = 0; k < n; k++) {
		const float *x = d->x + (size_t)idx[k] * d->n_features;
		double y = d->y[idx[k]];
		double z = logit(m, x);
		double g = sigmoid(z) - y; /* d(BCE)/dz */

		loss += bce_from_logit(z, y);
		for (uint32_t f = 0; f < m->n_features; f++)
			m->grad[f] += g * (double)x[f];
		grad_b += g;
	}
	for (uint32_t f = 0; f < m->n_features; f++) {
		double g = m->grad[f] / (double)n;

		if (mu > 0)
			g += mu * ((double)m->weight[f] - (double)m->weight_start[f]);
		m->weight[f] = (float)((double)m->weight[f] - lr * g);
	}
	grad_b /= (double)n;
	if (mu > 0)
		grad_b += mu * ((double)m->bias[0] - (double)m->bias_start);
	m->bias[0] = (float)((double)m->bias[0] - lr * grad_b);
	return loss;
}

static int logreg_train(void *model, const struct fedc_data *train, const struct fedc_train_args *args,
			const struct fedc_reporter *reporter, struct fedc_metrics *out)
{
	struct logreg *m = model;
	uint32_t *idx = NULL;
	uint64_t state, steps = 0, max_steps;
	double epoch_loss = 0.0, last_loss = NAN;
	size_t n, pos = 0, seen = 0;
	uint32_t epoch = 0;
	int ret = -1;

	if (!m || !out || !train_args_ok(args) || !data_ok(m, train, true))
		goto out;
	out->count = 0;
	n = train->n_samples;
	idx = malloc(n * sizeof(*idx));
	if (!idx)
		goto out;
	for (size_t i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	state = args->seed;
	/* FedProx pulls towards the parameters this round started from. */
	memcpy(m->weight_start, m->weight, m->n_features * sizeof(float));
	m->bias_start = m->bias[0];
	/* num_updates > 0 counts mini-batch steps; otherwise whole epochs. */
	max_steps = args->num_updates ? args->num_updates
				      : (uint64_t)args->epochs * ((n + args->batch_size - 1) / args->batch_size);
	shuffle(idx, n, &state);
	while (steps < max_steps) {
		size_t b = n - pos < args->batch_size ? n - pos : args->batch_size;

		epoch_loss += sgd_step(m, train, idx + pos, b, args);
		seen += b;
		pos += b;
		steps++;
		if (pos == n || steps == max_steps) {
			last_loss = epoch_loss / (double)seen;
			if (reporter && reporter->scalar)
				reporter->scalar(reporter->ctx, "loss", last_loss, steps, epoch + 1);
		}
		if (pos == n) { /* end of a pass: reshuffle */
			epoch++;
			pos = seen = 0;
			epoch_loss = 0.0;
			shuffle(idx, n, &state);
		}
	}
	metric_set(out, "loss", last_loss);
	ret = isfinite(last_loss) ? 0 : -1;
out:
	free(idx);
	return ret;
}

/* ------------------------------------------------------------------ */
/* evaluate                                                             */

static int logreg_evaluate(void *model, const struct fedc_data *test, struct fedc_metrics *out)
{
	struct logreg *m = model;
	double loss = 0.0;
	size_t correct = 0;

	if (!m || !out || !data_ok(m, test, true))
		return -1;
	out->count = 0;
	for (size_t i = 0; i < test->n_samples; i++) {
		double z = logit(m, test->x + i * test->n_features);
		double y = test->y[i];

		loss += bce_from_logit(z, y);
		correct += (z >= 0.0) == (y == 1.0); /* p >= 0.5 <=> z >= 0 */
	}
	metric_set(out, "loss", loss / (double)test->n_samples);
	metric_set(out, "accuracy", (double)correct / (double)test->n_samples);
	return 0;
}

/* ------------------------------------------------------------------ */
/* input_gradient: for the node's robustness stage                      */

/* d(BCE)/dx of each row, in the standardized space prepare() made: the
 * loss log(1 + e^z) - y z with z = w.x + b has gradient (sigmoid(z) - y) w. */
static int logreg_input_gradient(void *model, const struct fedc_data *data, float *grad)
{
	struct logreg *m = model;

	if (!m || !grad || !data_ok(m, data, true))
		return -1;
	for (size_t i = 0; i < data->n_samples; i++) {
		const float *x = data->x + i * data->n_features;
		double g = sigmoid(logit(m, x)) - (double)data->y[i];
		float *out = grad + i * data->n_features;

		for (uint32_t f = 0; f < m->n_features; f++)
			out[f] = (float)(g * (double)m->weight[f]);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* predict                                                              */

/* Each row's class probabilities: 1 - p, p (ABI 4, docs/plan-api.md). */
static int logreg_predict(void *model, const struct fedc_data *data, float *out, size_t width)
{
	struct logreg *m = model;

	if (!m || !out || width != 2 || !data_ok(m, data, false))
		return -1;
	for (size_t i = 0; i < data->n_samples; i++) {
		double p = sigmoid(logit(m, data->x + i * data->n_features));

		out[2 * i] = (float)(1.0 - p);
		out[2 * i + 1] = (float)p;
	}
	return 0;
}

FEDC_PLAN_DEFINE(
	.name = "logreg",
	.create = logreg_create,
	.prepare = logreg_prepare,
	.get_params = logreg_get_params,
	.set_params = logreg_set_params,
	.train = logreg_train,
	.evaluate = logreg_evaluate,
	.destroy = logreg_destroy,
	.last_error = fedc_plan_last_error,
	.param_roles = logreg_param_roles,
	.input_gradient = logreg_input_gradient,
	.predict = logreg_predict);
