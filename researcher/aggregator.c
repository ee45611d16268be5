/* Aggregators behind one ops table. Each round: begin() fixes the layout
 * from the global parameters, add() takes the updates in canonical order,
 * finish() writes the result. The layout (names, shapes, element offsets)
 * is shared by every algorithm; what an algorithm keeps between add() calls
 * lives behind `state`. finish() may be retried after a failed write; the
 * round then takes no more updates until the next begin().
 *
 * Only FedAvg is implemented. FedProx needs nothing more on this side (its
 * proximal term is in the plan); SCAFFOLD, server optimizers (FedAdam,
 * FedYogi) and robust ones (median, trimmed mean) get their own ops entry
 * and state, and are selected by name in aggregator__new(). */
#include "aggregator.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/limits.h"

/* The parameter layout of a round, copied from the global parameters so
 * that the caller may close them after begin(). */
struct agg_layout {
	size_t count;
	struct fedc_tensor *tensors; /* data == NULL; names point into `names` */
	uint64_t *offsets;           /* element offset of each tensor in a flat vector */
	uint64_t n_elements;         /* all tensors together */
	char *names;
};

struct aggregator;

struct agg_ops {
	const char *name;
	/* Allocates the round's state for agg->layout (called after any
	 * earlier state was released). */
	enum fedc_err (*begin)(struct aggregator *agg);
	/* Takes an update already checked against the layout and for finite values. */
	enum fedc_err (*add)(struct aggregator *agg, const struct fedc_params *update, uint64_t weight);
	enum fedc_err (*finish)(struct aggregator *agg, const char *out_path);
	void (*release)(struct aggregator *agg);
};

struct aggregator {
	const struct agg_ops *ops;
	bool in_round;
	struct agg_layout layout;
	void *state;
};

/* ------------------------------------------------------------------ */
/* Layout                                                             */

static void layout_free(struct agg_layout *l)
{
	free(l->tensors);
	free(l->offsets);
	free(l->names);
	memset(l, 0, sizeof(*l));
}

static enum fedc_err layout_copy(struct agg_layout *l, const struct fedc_params *global)
{
	const struct fedc_tensor *src = fedc_params_tensors(global);
	size_t count = fedc_params_count(global);
	size_t names_len = 0, at = 0;

	for (size_t i = 0; i < count; i++)
		names_len += strlen(src[i].name) + 1;
	l->tensors = calloc(count ? count : 1, sizeof(*l->tensors));
	l->offsets = calloc(count ? count : 1, sizeof(*l->offsets));
	l->names = malloc(names_len ? names_len : 1);
	if (!l->tensors || !l->offsets || !l->names)
		return FEDC_ERR_NOMEM;
	l->count = count;
	for (size_t i = 0; i < count; i++) {
		size_t n = strlen(src[i].name) + 1;

		memcpy(l->names + at, src[i].name, n);
		l->tensors[i] = src[i];
		l->tensors[i].name = l->names + at;
		l->tensors[i].data = NULL;
		l->offsets[i] = l->n_elements;
		/* A validated file caps this sum at FEDC_MAX_PARAMS_BYTES / 4. */
		l->n_elements += fedc_tensor_elements(&src[i]);
		at += n;
	}
	return FEDC_OK;
}

/* Checks that `update` has the round's layout and only finite values,
 * before anything of it is accumulated. */
static enum fedc_err layout_check(const struct agg_layout *l, const struct fedc_params *update)
{
	const struct fedc_tensor *t = fedc_params_tensors(update);
	size_t count = fedc_params_count(update);

	if (count != l->count)
		return fedc_fail(FEDC_ERR_MALFORMED, "update has %zu tensors, the global parameters %zu", count,
				 l->count);
	for (size_t i = 0; i < count; i++) {
		if (!fedc_tensor_same_layout(&t[i], &l->tensors[i]))
			return fedc_fail(FEDC_ERR_MALFORMED,
					 "update tensor %zu \"%s\" differs from global tensor \"%s\" "
					 "(name, dtype, shape or order)",
					 i, t[i].name, l->tensors[i].name);
	}
	for (size_t i = 0; i < count; i++) {
		const float *x = t[i].data;
		uint64_t n = fedc_tensor_elements(&t[i]);

		for (uint64_t j = 0; j < n; j++) {
			if (!isfinite(x[j]))
				return fedc_fail(FEDC_ERR_MALFORMED, "update tensor \"%s\" holds %s at index %llu",
						 t[i].name, isnan(x[j]) ? "NaN" : "an infinity",
						 (unsigned long long)j);
		}
	}
	return FEDC_OK;
}

/* ------------------------------------------------------------------ */
/* FedAvg: sum of n_samples * update in double, divided at the end.    */

struct fedavg_state {
	double *acc;           /* layout.n_elements; holds the float32 result once converted */
	uint64_t total_weight; /* sum of n_samples: exact */
	size_t n_updates;
	bool converted;        /* finish() ran: acc now holds floats, add() is over */
};

static enum fedc_err fedavg_begin(struct aggregator *agg)
{
	struct fedavg_state *s = calloc(1, sizeof(*s));

	if (!s)
		return FEDC_ERR_NOMEM;
	agg->state = s;
	if (agg->layout.n_elements > SIZE_MAX / sizeof(double))
		return fedc_fail(FEDC_ERR_TOO_BIG, "model of %llu values does not fit in memory",
				 (unsigned long long)agg->layout.n_elements);
	s->acc = calloc(agg->layout.n_elements ? (size_t)agg->layout.n_elements : 1, sizeof(double));
	if (!s->acc)
		return fedc_fail(FEDC_ERR_NOMEM, "no memory for an accumulator of %llu values",
				 (unsigned long long)agg->layout.n_elements);
	return FEDC_OK;
}

static enum fedc_err fedavg_add(struct aggregator *agg, const struct fedc_params *update, uint64_t weight)
{
	struct fedavg_state *s = agg->state;
	const struct fedc_tensor *t = fedc_params_tensors(update);
	const double w = (double)weight;

	if (s->converted)
		return fedc_fail(FEDC_ERR_INVAL, "fedavg: add() after finish(); begin a new round");
	if (weight > UINT64_MAX - s->total_weight)
		return fedc_fail(FEDC_ERR_INVAL, "fedavg: sample counts overflow");
	for (size_t i = 0; i < agg->layout.count; i++) {
		const float *x = t[i].data;
		double *acc = s->acc + agg->layout.offsets[i];
		uint64_t n = fedc_tensor_elements(&t[i]);

		for (uint64_t j = 0; j < n; j++)
			acc[j] += w * (double)x[j];
	}
	s->total_weight += weight;
	s->n_updates++;
	return FEDC_OK;
}

/* Turns the accumulator into the float32 average in place: float j goes to
 * bytes 4j..4j+3, which only overlap doubles already read (indices <= j/2),
 * so no second buffer is needed and memory stays at the accumulator's size.
 * Byte access through memcpy keeps this clear of type-based aliasing. */
static void fedavg_convert(struct fedavg_state *s, uint64_t n)
{
	unsigned char *bytes = (unsigned char *)s->acc;
	const double total = (double)s->total_weight;

	for (uint64_t j = 0; j < n; j++) {
		double sum;
		float avg;

		memcpy(&sum, bytes + j * sizeof(double), sizeof(sum));
		avg = (float)(sum / total);
		memcpy(bytes + j * sizeof(float), &avg, sizeof(avg));
	}
	s->converted = true;
}

/* Streams the tensors (pointing into the converted accumulator) to the file.
 * The result stays in place, so a failed write can be retried. */
static enum fedc_err fedavg_finish(struct aggregator *agg, const char *out_path)
{
	struct fedavg_state *s = agg->state;
	const struct agg_layout *l = &agg->layout;
	struct fedc_tensor *out = NULL;
	const float *values;
	enum fedc_err rc;

	if (s->n_updates == 0)
		return fedc_fail(FEDC_ERR_INVAL, "fedavg: no update to aggregate");
	out = calloc(l->count ? l->count : 1, sizeof(*out));
	if (!out) {
		rc = FEDC_ERR_NOMEM;
		goto out;
	}
	if (!s->converted)
		fedavg_convert(s, l->n_elements);
	values = (const float *)(const void *)s->acc;
	for (size_t i = 0; i < l->count; i++) {
		out[i] = l->tensors[i];
		out[i].data = values + l->offsets[i];
	}
	rc = fedc_params_write_file(out_path, out, l->count);
out:
	free(out);
	return rc;
}

static void fedavg_release(struct aggregator *agg)
{
	struct fedavg_state *s = agg->state;

	if (s)
		free(s->acc);
	free(s);
	agg->state = NULL;
}

static const struct agg_ops fedavg_ops = {
	.name = "fedavg",
	.begin = fedavg_begin,
	.add = fedavg_add,
	.finish = fedavg_finish,
	.release = fedavg_release,
};

/* ------------------------------------------------------------------ */
/* Dispatch                                                           */

static const struct agg_ops *const all_ops[] = { &fedavg_ops };

#define N_OPS (sizeof(all_ops) / sizeof(all_ops[0]))

static void end_round(struct aggregator *agg)
{
	if (agg->state)
		agg->ops->release(agg);
	layout_free(&agg->layout);
	agg->in_round = false;
}

enum fedc_err aggregator__new(const char *name, struct aggregator **out)
{
	const struct agg_ops *ops = NULL;

	if (!out)
		return FEDC_ERR_INVAL;
	*out = NULL;
	for (size_t i = 0; name && i < N_OPS; i++) {
		if (strcmp(name, all_ops[i]->name) == 0)
			ops = all_ops[i];
	}
	if (!ops)
		return fedc_fail(FEDC_ERR_CONFIG, "unknown aggregator \"%s\" (known: fedavg)", name ? name : "");
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return FEDC_ERR_NOMEM;
	(*out)->ops = ops;
	return FEDC_OK;
}

void aggregator__free(struct aggregator *agg)
{
	if (!agg)
		return;
	end_round(agg);
	free(agg);
}

enum fedc_err aggregator__begin(struct aggregator *agg, const struct fedc_params *global)
{
	enum fedc_err rc;

	if (!agg || !global)
		return FEDC_ERR_INVAL;
	end_round(agg);
	rc = layout_copy(&agg->layout, global);
	if (rc == FEDC_OK)
		rc = agg->ops->begin(agg);
	if (rc) {
		end_round(agg);
		return rc;
	}
	agg->in_round = true;
	return FEDC_OK;
}

enum fedc_err aggregator__add(struct aggregator *agg, const struct fedc_params *update, uint64_t n_samples)
{
	enum fedc_err rc;

	if (!agg || !update)
		return FEDC_ERR_INVAL;
	if (!agg->in_round)
		return fedc_fail(FEDC_ERR_INVAL, "%s: add() before begin()", agg->ops->name);
	if (n_samples == 0)
		return fedc_fail(FEDC_ERR_INVAL, "%s: an update with 0 training samples", agg->ops->name);
	rc = layout_check(&agg->layout, update);
	if (rc)
		return rc;
	return agg->ops->add(agg, update, n_samples);
}

enum fedc_err aggregator__finish(struct aggregator *agg, const char *out_path)
{
	if (!agg || !out_path)
		return FEDC_ERR_INVAL;
	if (!agg->in_round)
		return fedc_fail(FEDC_ERR_INVAL, "%s: finish() before begin()", agg->ops->name);
	return agg->ops->finish(agg, out_path);
}
