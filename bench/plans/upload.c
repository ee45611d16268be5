/* Benchmark plan for bench_round --upload: the identity plan
 * (tests/fixtures/plans/identity.c) plus a small step, so that every node
 * really uploads its update. With the identity plan itself the update has
 * the global parameters' digest and the node's HEAD finds it stored (no
 * PUT); here train() adds d in [1e-6, 2e-6) to every value, d drawn from
 * the clock, so each node's update differs from the global and from every
 * other node's (identical updates would be stored once: content
 * addressing). Model argument: n_params (float32 count, default 10). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedc/plan.h"

struct upload {
	struct fedc_tensor tensor;
	float *values;
	uint64_t n;
};

static int create(const struct fedc_args *args, uint64_t seed, void **out)
{
	struct upload *m = calloc(1, sizeof(*m));
	double n = 10;

	for (size_t i = 0; i < args->count; i++) {
		if (strcmp(args->items[i].name, "n_params") == 0)
			n = args->items[i].value;
	}
	if (!m || n < 1 || n > 1e9) {
		free(m);
		return -1;
	}
	m->n = (uint64_t)n;
	m->values = calloc(m->n, sizeof(float));
	if (!m->values) {
		free(m);
		return -1;
	}
	for (uint64_t i = 0; i < m->n; i++) /* values in [0, 1), as the identity plan's */
		m->values[i] = (float)((uint32_t)(seed + i) & 127u) * (1.0f / 128.0f);
	m->tensor.name = "values";
	m->tensor.dtype = FEDC_DTYPE_F32;
	m->tensor.ndim = 1;
	m->tensor.shape[0] = m->n;
	m->tensor.data = m->values;
	*out = m;
	return 0;
}

static int get_params(void *model, const struct fedc_tensor **tensors, size_t *count)
{
	struct upload *m = model;

	*tensors = &m->tensor;
	*count = 1;
	return 0;
}

static int set_params(void *model, const struct fedc_tensor *tensors, size_t count)
{
	struct upload *m = model;

	if (count != 1 || tensors[0].ndim != 1 || tensors[0].shape[0] != m->n || tensors[0].dtype != FEDC_DTYPE_F32)
		return -1;
	memcpy(m->values, tensors[0].data, m->n * sizeof(float));
	return 0;
}

static int train(void *model, const struct fedc_data *data, const struct fedc_train_args *args,
		 const struct fedc_reporter *reporter, struct fedc_metrics *out)
{
	struct upload *m = model;
	struct timespec ts;
	float step;

	(void)data;
	(void)args;
	(void)reporter;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* the vDSO: no system call for the sandbox to refuse */
	step = 1e-6f * (1.0f + (float)(ts.tv_nsec % 1000000) * 1e-6f);
	for (uint64_t i = 0; i < m->n; i++)
		m->values[i] += step;
	out->count = 1;
	strcpy(out->items[0].name, "loss");
	out->items[0].value = 0;
	return 0;
}

static int evaluate(void *model, const struct fedc_data *data, struct fedc_metrics *out)
{
	(void)model;
	(void)data;
	out->count = 1;
	strcpy(out->items[0].name, "accuracy");
	out->items[0].value = 0;
	return 0;
}

static void destroy(void *model)
{
	struct upload *m = model;

	free(m->values);
	free(m);
}

FEDC_PLAN_DEFINE(
	.name = "upload",
	.create = create,
	.get_params = get_params,
	.set_params = set_params,
	.train = train,
	.evaluate = evaluate,
	.destroy = destroy);
