/* The plan process's side of an assessment: plan_assess.h. */
#include "plan_assess.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/buf.h"
#include "fedc/fs.h"
#include "fedc/message.h"
#include "fedc/rng.h"
#include "plan_robust.h"

#define CHUNK_ROWS 4096 /* predict() is called on this many rows at a time */

static int fail(char *why, size_t cap, bool *final, bool is_final, const char *text, const char *said)
{
	snprintf(why, cap, "%s%s%s", text, said && said[0] ? ": " : "", said ? said : "");
	*final = is_final;
	return 1;
}

static const char *plan_said(const struct fedc_plan *plan)
{
	const char *s = plan->abi_version >= 2 && plan->last_error ? plan->last_error() : NULL;

	return s ? s : "";
}

/* ---- predict ---- */

static int write_rows(const struct fedc_data *d, size_t first, size_t n, const float *out, size_t width, int fd,
		      float *row)
{
	for (size_t i = 0; i < n; i++) {
		row[0] = d->y[first + i];
		memcpy(row + 1, out + i * width, width * sizeof(float));
		if (fedc_write_all(fd, row, (width + 1) * sizeof(float), "the predictions") != FEDC_OK)
			return 1;
	}
	return 0;
}

static int predict(const struct fedc_plan *plan, void *model, struct fedc_data *d, int fd, char *why, size_t cap,
		   bool *final)
{
	size_t width = fedc_plan_output_width(d);
	float *out = NULL, *row = NULL;
	struct { char magic[8]; uint64_t rows; uint32_t width, n_classes; } head;
	int code = 0;

	if (plan->abi_version < 4 || !plan->predict)
		return fail(why, cap, final, true,
			    "the plan has no predict() (plan ABI 4): add one and `.predict = ...` to its "
			    "FEDC_PLAN_DEFINE (docs/plan-api.md, \"predict\")", NULL);
	if (d->label_width > 1)
		return fail(why, cap, final, true,
			    "predict takes one target per row; this dataset has a mask per sample (segmentation)", NULL);
	memcpy(head.magic, PLAN_ASSESS_MAGIC, 8);
	head.rows = d->n_samples;
	head.width = (uint32_t)width;
	head.n_classes = d->n_classes;
	if (fedc_write_all(fd, &head, sizeof(head), "the predictions") != FEDC_OK)
		return fail(why, cap, final, false, "cannot write the predictions", NULL);
	out = malloc(CHUNK_ROWS * width * sizeof(float));
	row = malloc((width + 1) * sizeof(float));
	if (!out || !row)
		code = fail(why, cap, final, false, "out of memory for the predictions", NULL);
	for (size_t first = 0; !code && first < d->n_samples; first += CHUNK_ROWS) {
		struct fedc_data chunk = *d;

		chunk.n_samples = d->n_samples - first < CHUNK_ROWS ? d->n_samples - first : CHUNK_ROWS;
		chunk.x = d->x + first * d->n_features;
		chunk.y = d->y + first;
		if (plan->predict(model, &chunk, out, width) != 0)
			code = fail(why, cap, final, false, "the plan's predict() failed", plan_said(plan));
		else if (write_rows(d, first, chunk.n_samples, out, width, fd, row))
			code = fail(why, cap, final, false, "cannot write the predictions", NULL);
	}
	free(out);
	free(row);
	return code;
}

/* ---- explain ---- */

static bool lower_is_better(const char *metric)
{
	size_t n = strlen(metric);

	return (n >= 4 && strcmp(metric + n - 4, "loss") == 0) || strcmp(metric, "mse") == 0 ||
	       strcmp(metric, "mae") == 0 || strcmp(metric, "rmse") == 0;
}

static int metric_of(const struct fedc_plan *plan, void *model, const struct fedc_data *d, const char *metric,
		     double *value, char *why, size_t cap, bool *final)
{
	struct fedc_metrics m = { 0 };

	if (plan->evaluate(model, d, &m) != 0)
		return fail(why, cap, final, false, "the plan's evaluate() failed while explaining", plan_said(plan));
	for (size_t i = 0; i < m.count && i < FEDC_PLAN_MAX_METRICS; i++) {
		if (strncmp(m.items[i].name, metric, FEDC_PLAN_METRIC_NAME_LEN) == 0 && isfinite(m.items[i].value)) {
			*value = m.items[i].value;
			return 0;
		}
	}
	return fail(why, cap, final, true, "the plan's evaluate() reports no finite value of the metric asked for "
		    "(explain --metric NAME: one of the metrics the run's rounds show)", metric);
}

/* Column k of every row, shuffled (Fisher-Yates) in place. */
static void shuffle_column(struct fedc_data *d, size_t k, struct fedc_rng *rng)
{
	for (size_t i = d->n_samples; i > 1; i--) {
		size_t j = (size_t)fedc_rng_below(rng, i);
		float t = d->x[(i - 1) * d->n_features + k];

		d->x[(i - 1) * d->n_features + k] = d->x[j * d->n_features + k];
		d->x[j * d->n_features + k] = t;
	}
}

static void feature_name(const struct fedc_data *d, size_t k, char *name, size_t cap)
{
	const struct fedc_table_schema *s = d->schema;
	size_t first = d->n_features - (s ? s->n_columns : 0);

	if (s && k >= first && s->columns[k - first].name) {
		snprintf(name, cap, "%s", s->columns[k - first].name);
		for (char *p = name; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				*p = '?';
	} else {
		snprintf(name, cap, "x%zu", k);
	}
}

static int explain(const struct plan_assess_args *a, const struct fedc_plan *plan, void *model, struct fedc_data *d,
		   int fd, char *why, size_t cap, bool *final)
{
	double base, sign = lower_is_better(a->metric) ? -1.0 : 1.0;
	float *column = NULL;
	struct fedc_buf text;
	struct fedc_rng rng;
	int code;

	if (d->n_features > PLAN_ASSESS_MAX_FEATURES || d->sample_ndim > 0)
		return fail(why, cap, final, true, "explain permutes table columns: this dataset has too many features "
			    "(images or volumes; at most 512)", NULL);
	if (d->n_samples < 2)
		return fail(why, cap, final, true, "explain needs at least 2 test rows (raise the experiment's test_ratio)",
			    NULL);
	fedc_buf_init(&text, 64u * 1024u);
	fedc_rng_seed(&rng, a->seed);
	code = metric_of(plan, model, d, a->metric, &base, why, cap, final);
	if (!code && fedc_buf_printf(&text, "base %.17g\n", base) != FEDC_OK)
		code = fail(why, cap, final, false, "out of memory", NULL);
	column = malloc(d->n_samples * sizeof(float));
	if (!code && !column)
		code = fail(why, cap, final, false, "out of memory", NULL);
	for (size_t k = 0; !code && k < d->n_features; k++) {
		double sum = 0, v = 0;
		char name[FEDC_PLAN_METRIC_NAME_LEN];

		for (size_t i = 0; i < d->n_samples; i++)
			column[i] = d->x[i * d->n_features + k];
		for (uint32_t r = 0; !code && r < a->repeats; r++) {
			shuffle_column(d, k, &rng);
			code = metric_of(plan, model, d, a->metric, &v, why, cap, final);
			sum += base - v; /* differences: a column that changes nothing gives exactly 0 */
		}
		for (size_t i = 0; i < d->n_samples; i++)
			d->x[i * d->n_features + k] = column[i];
		feature_name(d, k, name, sizeof(name));
		if (!code && fedc_buf_printf(&text, "feature %zu %.17g %s\n", k, sign * sum / a->repeats,
					     name) != FEDC_OK)
			code = fail(why, cap, final, false, "out of memory", NULL);
	}
	if (!code && text.len && fedc_write_all(fd, text.data, text.len, "the importances") != FEDC_OK)
		code = fail(why, cap, final, false, "cannot write the importances", NULL);
	free(column);
	fedc_buf_free(&text);
	return code;
}

/* ---- robust ---- */

/* The lines go into a buffer of what a reply holds (the node checks them
 * again, assess.h), then into the memfd. A refusal that the same request
 * meets again -- no input_gradient(), arguments, a result too big -- is
 * final. */
static int robust(const struct plan_assess_args *a, const struct fedc_plan *plan, void *model,
		  const struct fedc_data *d, int fd, char *why, size_t cap, bool *final)
{
	struct fedc_buf text;
	enum fedc_err rc;
	int code = 0;

	fedc_buf_init(&text, FEDC_MAX_ASSESS_RESULT);
	rc = plan_robust__run(plan, model, d, a->args, &text);
	if (rc)
		code = fail(why, cap, final,
			    rc == FEDC_ERR_UNSUPPORTED || rc == FEDC_ERR_INVAL || rc == FEDC_ERR_TOO_BIG,
			    fedc_last_error(), NULL);
	else if (text.len && fedc_write_all(fd, text.data, text.len, "the robust results") != FEDC_OK)
		code = fail(why, cap, final, false, "cannot write the robust results", NULL);
	fedc_buf_free(&text);
	return code;
}

int plan_assess__run(const struct plan_assess_args *a, const struct fedc_plan *plan, void *model,
		     struct fedc_data *data, int out_fd, char *why, size_t cap, bool *final)
{
	*final = false;
	if (strcmp(a->kind, "predict") == 0)
		return predict(plan, model, data, out_fd, why, cap, final);
	if (strcmp(a->kind, "explain") == 0)
		return explain(a, plan, model, data, out_fd, why, cap, final);
	if (strcmp(a->kind, "robust") == 0)
		return robust(a, plan, model, data, out_fd, why, cap, final);
	return fail(why, cap, final, true, "unknown assessment", a->kind);
}
