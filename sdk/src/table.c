/* Imputation and one-hot encoding of a table's columns (fedc/nn/table.h). */
#include "fedc/nn/table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/nn/err.h"

#define TABLE_MAX_CATEGORIES 65536u
#define TABLE_LIST_SHOWN 120 /* bytes of a category list quoted in a message */

_Static_assert(sizeof(struct fedc_table_fitted) == 3 * sizeof(float), "fitted statistics are 3 floats");

static bool is_categorical(const struct fedc_table_col *c)
{
	return c->categories != NULL;
}

static size_t list_len(const char *const *list)
{
	size_t n = 0;

	while (list && list[n])
		n++;
	return n;
}

/* The plan's index of `s` in a column's list, or -1. */
static long list_index(const struct fedc_table_col *c, const char *s)
{
	for (size_t i = 0; c->categories[i]; i++) {
		if (strcmp(c->categories[i], s) == 0)
			return (long)i;
	}
	return -1;
}

/* "F, M" for a message, cut with "..." past TABLE_LIST_SHOWN bytes. */
static void format_list(const struct fedc_table_col *c, char *out, size_t cap)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; c->categories[i] && used < cap; i++) {
		int n = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", c->categories[i]);

		if (n < 0 || (size_t)n >= cap - used || used + (size_t)n > TABLE_LIST_SHOWN) {
			snprintf(out + used, cap - used, "%s...", i ? ", " : "");
			return;
		}
		used += (size_t)n;
	}
}

/* ---- the spec ---- */

static int check_categories(const struct fedc_table_col *c)
{
	size_t n = list_len(c->categories);

	if (n == 0 || n > TABLE_MAX_CATEGORIES) {
		fedc_plan_error("column \"%s\": a category list needs 1 to %u entries", c->name, TABLE_MAX_CATEGORIES);
		return FEDC_NN_ERR_INVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!c->categories[i][0] || list_index(c, c->categories[i]) != (long)i) {
			fedc_plan_error("column \"%s\": category \"%s\" is empty or listed twice", c->name,
					c->categories[i]);
			return FEDC_NN_ERR_INVAL;
		}
	}
	return FEDC_NN_OK;
}

static int check_impute(const struct fedc_table_col *c)
{
	bool cat = is_categorical(c);

	if (c->impute < FEDC_IMPUTE_NONE || c->impute > FEDC_IMPUTE_CONSTANT) {
		fedc_plan_error("column \"%s\": unknown imputation %d", c->name, (int)c->impute);
		return FEDC_NN_ERR_INVAL;
	}
	if (cat && (c->impute == FEDC_IMPUTE_MEAN || c->impute == FEDC_IMPUTE_MEDIAN)) {
		fedc_plan_error("column \"%s\": a categorical column has no mean or median (most frequent or a"
				" constant category)", c->name);
		return FEDC_NN_ERR_INVAL;
	}
	if (cat && c->impute == FEDC_IMPUTE_CONSTANT &&
	    (!c->constant_category || list_index(c, c->constant_category) < 0)) {
		fedc_plan_error("column \"%s\": the constant category must be one of its list", c->name);
		return FEDC_NN_ERR_INVAL;
	}
	if (!cat && c->impute == FEDC_IMPUTE_CONSTANT && !isfinite((float)c->constant)) {
		fedc_plan_error("column \"%s\": the constant %g is not a finite float", c->name, c->constant);
		return FEDC_NN_ERR_INVAL;
	}
	if (cat && c->standardize) {
		fedc_plan_error("column \"%s\": a categorical column is one-hot encoded, not standardized", c->name);
		return FEDC_NN_ERR_INVAL;
	}
	return FEDC_NN_OK;
}

static int check_col(const struct fedc_table_col *cols, size_t i)
{
	const struct fedc_table_col *c = &cols[i];
	int rc;

	if (!c->name || !c->name[0]) {
		fedc_plan_error("table column %zu has no name", i);
		return FEDC_NN_ERR_INVAL;
	}
	for (size_t j = 0; j < i; j++) {
		if (strcmp(cols[j].name, c->name) == 0) {
			fedc_plan_error("column \"%s\" is named twice in the plan", c->name);
			return FEDC_NN_ERR_INVAL;
		}
	}
	rc = is_categorical(c) ? check_categories(c) : FEDC_NN_OK;
	return rc ? rc : check_impute(c);
}

int fedc_table_init(struct fedc_table *t, const struct fedc_table_col *cols, size_t n_cols)
{
	int rc = FEDC_NN_OK;

	memset(t, 0, sizeof(*t));
	if (!cols || n_cols == 0) {
		fedc_plan_error("a table spec needs at least one column");
		return FEDC_NN_ERR_INVAL;
	}
	for (size_t i = 0; !rc && i < n_cols; i++) {
		rc = check_col(cols, i);
		t->width += is_categorical(&cols[i]) ? list_len(cols[i].categories) : 1;
	}
	if (rc)
		return rc;
	t->cols = cols;
	t->n_cols = n_cols;
	t->fit = calloc(n_cols, sizeof(*t->fit));
	t->feature = calloc(n_cols, sizeof(*t->feature));
	t->cat_map = calloc(n_cols, sizeof(*t->cat_map));
	return t->fit && t->feature && t->cat_map ? FEDC_NN_OK : FEDC_NN_ERR_NOMEM;
}

static void drop_maps(struct fedc_table *t)
{
	for (size_t i = 0; t->cat_map && i < t->n_cols; i++) {
		free(t->cat_map[i]);
		t->cat_map[i] = NULL;
	}
}

void fedc_table_release(struct fedc_table *t)
{
	drop_maps(t);
	free(t->cat_map);
	free(t->feature);
	free(t->fit);
	memset(t, 0, sizeof(*t));
}

size_t fedc_table_width(const struct fedc_table *t)
{
	return t->width;
}

/* ---- binding the spec to a view's schema ---- */

/* The view's column of that name: its schema's, or "c<K>" for a table
 * without one (every feature numeric, complete, unnamed). */
static const struct fedc_column *find_column(const struct fedc_data *v, const char *name, size_t *feature,
					     struct fedc_column *plain)
{
	const struct fedc_table_schema *s = v->schema;
	char want[32];

	if (s) {
		for (uint32_t j = 0; j < s->n_columns && s->n_columns <= v->n_features; j++) {
			if (s->columns[j].name && strcmp(s->columns[j].name, name) == 0) {
				*feature = v->n_features - s->n_columns + j;
				return &s->columns[j];
			}
		}
		return NULL;
	}
	for (size_t j = 0; j < v->n_features; j++) {
		snprintf(want, sizeof(want), "c%zu", j);
		if (strcmp(want, name) == 0) {
			*plain = (struct fedc_column){ .name = name, .type = FEDC_COLUMN_NUMERIC };
			*feature = j;
			return plain;
		}
	}
	return NULL;
}

static int no_such_column(const struct fedc_data *v, const char *name)
{
	char names[TABLE_LIST_SHOWN + 8] = "";
	size_t used = 0;
	uint32_t n = v->schema ? v->schema->n_columns : 0;

	for (uint32_t j = 0; j < n && used < TABLE_LIST_SHOWN; j++) {
		int k = snprintf(names + used, sizeof(names) - used, "%s%s", j ? ", " : "", v->schema->columns[j].name);

		used = k < 0 || (size_t)k >= sizeof(names) - used ? sizeof(names) : used + (size_t)k;
	}
	if (used >= TABLE_LIST_SHOWN)
		memcpy(names + TABLE_LIST_SHOWN, "...", 4);
	if (v->schema)
		fedc_plan_error("column \"%s\": the data has no such column (it has %s)", name, names);
	else
		fedc_plan_error("column \"%s\": the data has no such column (its %zu columns are unnamed: c0 ...)", name,
				v->n_features);
	return FEDC_NN_ERR_DATA;
}

static const char *type_word(uint32_t type)
{
	return type == FEDC_COLUMN_NUMERIC ? "numeric" : type == FEDC_COLUMN_CATEGORICAL ? "categorical" : "text";
}

/* The plan's index of each of the data's categories; any the list lacks
 * fails, naming it. */
static int map_categories(struct fedc_table *t, size_t i, const struct fedc_column *dc)
{
	const struct fedc_table_col *c = &t->cols[i];
	uint32_t *map = malloc((dc->n_categories ? dc->n_categories : 1) * sizeof(*map));
	char list[TABLE_LIST_SHOWN + 8];

	if (!map)
		return FEDC_NN_ERR_NOMEM;
	for (uint32_t k = 0; k < dc->n_categories; k++) {
		long at = list_index(c, dc->categories[k]);

		if (at < 0) {
			format_list(c, list, sizeof(list));
			fedc_plan_error("column \"%s\": category \"%s\" is not in the experiment's list (%s)", c->name,
					dc->categories[k], list);
			free(map);
			return FEDC_NN_ERR_DATA;
		}
		map[k] = (uint32_t)at;
	}
	t->cat_map[i] = map;
	return FEDC_NN_OK;
}

/* Finds every column of the spec in `v` and checks its type. */
static int bind(struct fedc_table *t, const struct fedc_data *v)
{
	int rc = FEDC_NN_OK;

	drop_maps(t);
	if (!v || (v->n_samples && !v->x)) {
		fedc_plan_error("table: no data view");
		return FEDC_NN_ERR_DATA;
	}
	for (size_t i = 0; !rc && i < t->n_cols; i++) {
		const struct fedc_table_col *c = &t->cols[i];
		struct fedc_column plain;
		const struct fedc_column *dc = find_column(v, c->name, &t->feature[i], &plain);
		uint32_t want = is_categorical(c) ? FEDC_COLUMN_CATEGORICAL : FEDC_COLUMN_NUMERIC;

		if (!dc)
			return no_such_column(v, c->name);
		if (dc->type != want) {
			fedc_plan_error("column \"%s\": the plan reads it as %s, the data's column is %s%s", c->name,
					type_word(want), type_word(dc->type),
					dc->type == FEDC_COLUMN_TEXT ? " (too many distinct values to be categories)" : "");
			return FEDC_NN_ERR_DATA;
		}
		if (want == FEDC_COLUMN_CATEGORICAL)
			rc = map_categories(t, i, dc);
	}
	return rc;
}

/* ---- fitting ---- */

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

/* The most frequent of sorted values; a tie goes to the smallest. */
static float mode_of_sorted(const float *v, size_t n)
{
	float best = v[0];
	size_t best_run = 0;

	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j < n && v[j] == v[i])
			j++;
		if (j - i > best_run) {
			best_run = j - i;
			best = v[i];
		}
		i = j;
	}
	return best;
}

/* The present values of feature `f` of `v`, sorted; *n of them. */
static int present_values(const struct fedc_data *v, size_t f, float **out, size_t *n)
{
	float *vals = malloc((v->n_samples ? v->n_samples : 1) * sizeof(float));

	*n = 0;
	if (!vals)
		return FEDC_NN_ERR_NOMEM;
	for (size_t r = 0; r < v->n_samples; r++) {
		float x = v->x[r * v->n_features + f];

		if (!isnan(x))
			vals[(*n)++] = x;
	}
	qsort(vals, *n, sizeof(float), cmp_float);
	*out = vals;
	return FEDC_NN_OK;
}

static float numeric_fill(const struct fedc_table_col *c, const float *sorted, size_t n)
{
	double sum = 0;

	switch (c->impute) {
	case FEDC_IMPUTE_MEAN:
		for (size_t i = 0; i < n; i++)
			sum += sorted[i];
		return (float)(sum / (double)n);
	case FEDC_IMPUTE_MEDIAN:
		return n % 2 ? sorted[n / 2] : (float)(((double)sorted[n / 2 - 1] + sorted[n / 2]) / 2);
	case FEDC_IMPUTE_MOST_FREQUENT:
		return mode_of_sorted(sorted, n);
	case FEDC_IMPUTE_CONSTANT:
		return (float)c->constant;
	default:
		return NAN;
	}
}

/* Mean and deviation of the column after imputation. */
static void fit_scale(const float *sorted, size_t n, size_t n_missing, float fill, struct fedc_table_fitted *f)
{
	double sum = fill * (double)n_missing, sq = 0, mean, var;
	size_t total = n + n_missing;

	for (size_t i = 0; i < n; i++)
		sum += sorted[i];
	mean = total ? sum / (double)total : 0;
	for (size_t i = 0; i < n; i++)
		sq += (sorted[i] - mean) * (sorted[i] - mean);
	sq += (fill - mean) * (fill - mean) * (double)n_missing;
	var = total ? sq / (double)total : 0;
	f->mean = (float)mean;
	f->std = var > 1e-12 ? (float)sqrt(var) : 1.0f;
}

static int fit_numeric(struct fedc_table *t, size_t i, const struct fedc_data *train)
{
	const struct fedc_table_col *c = &t->cols[i];
	struct fedc_table_fitted *f = &t->fit[i];
	float *sorted = NULL;
	size_t n = 0;
	int rc = present_values(train, t->feature[i], &sorted, &n);

	if (rc)
		return rc;
	*f = (struct fedc_table_fitted){ .fill = NAN, .mean = 0, .std = 1 };
	if (n == 0 && c->impute != FEDC_IMPUTE_NONE && c->impute != FEDC_IMPUTE_CONSTANT) {
		fedc_plan_error("column \"%s\": no value in the %zu training rows to impute from", c->name,
				train->n_samples);
		rc = FEDC_NN_ERR_DATA;
	} else {
		f->fill = numeric_fill(c, sorted, n);
		if (c->standardize)
			fit_scale(sorted, n, c->impute == FEDC_IMPUTE_NONE ? 0 : train->n_samples - n, f->fill, f);
	}
	free(sorted);
	return rc;
}

/* Most frequent category in the plan's terms; a tie goes to the one first
 * in the plan's list. */
static int fit_categorical(struct fedc_table *t, size_t i, const struct fedc_data *train)
{
	const struct fedc_table_col *c = &t->cols[i];
	const struct fedc_column *dc = NULL;
	size_t n_list = list_len(c->categories), best = 0, f = t->feature[i];
	uint64_t *counts;

	t->fit[i] = (struct fedc_table_fitted){ .fill = NAN, .mean = 0, .std = 1 };
	if (c->impute == FEDC_IMPUTE_CONSTANT)
		t->fit[i].fill = (float)list_index(c, c->constant_category);
	if (c->impute != FEDC_IMPUTE_MOST_FREQUENT)
		return FEDC_NN_OK;
	dc = &train->schema->columns[f - (train->n_features - train->schema->n_columns)];
	counts = calloc(n_list, sizeof(*counts));
	if (!counts)
		return FEDC_NN_ERR_NOMEM;
	for (size_t r = 0; r < train->n_samples; r++) {
		float x = train->x[r * train->n_features + f];

		if (!isnan(x) && x >= 0 && x < (float)dc->n_categories)
			counts[t->cat_map[i][(uint32_t)x]]++;
	}
	for (size_t k = 1; k < n_list; k++)
		best = counts[k] > counts[best] ? k : best;
	if (counts[best] == 0) {
		fedc_plan_error("column \"%s\": no value in the %zu training rows to impute from", c->name,
				train->n_samples);
		free(counts);
		return FEDC_NN_ERR_DATA;
	}
	t->fit[i].fill = (float)best;
	free(counts);
	return FEDC_NN_OK;
}

int fedc_table_fit(struct fedc_table *t, const struct fedc_data *train)
{
	int rc = t->n_cols ? bind(t, train) : FEDC_NN_ERR_INVAL;

	t->fitted = false;
	for (size_t i = 0; !rc && i < t->n_cols; i++)
		rc = is_categorical(&t->cols[i]) ? fit_categorical(t, i, train) : fit_numeric(t, i, train);
	t->fitted = rc == FEDC_NN_OK;
	return rc;
}

/* ---- encoding ---- */

static int missing_without_imputation(const struct fedc_table_col *c, size_t row)
{
	fedc_plan_error("column \"%s\": row %zu has a missing cell and the plan gives the column no imputation",
			c->name, row);
	return FEDC_NN_ERR_DATA;
}

/* Writes column i of row r at *out; advances it. */
static int encode_cell(const struct fedc_table *t, size_t i, const struct fedc_data *v, size_t r, float **out)
{
	const struct fedc_table_col *c = &t->cols[i];
	const struct fedc_table_fitted *f = &t->fit[i];
	float x = v->x[r * v->n_features + t->feature[i]];

	if (isnan(x) && isnan(f->fill))
		return missing_without_imputation(c, r);
	if (!is_categorical(c)) {
		*(*out)++ = ((isnan(x) ? f->fill : x) - f->mean) / f->std;
		return FEDC_NN_OK;
	}
	{
		size_t n_list = list_len(c->categories), k;
		const struct fedc_column *dc =
			&v->schema->columns[t->feature[i] - (v->n_features - v->schema->n_columns)];

		if (!isnan(x) && (x < 0 || x >= (float)dc->n_categories || x != floorf(x))) {
			fedc_plan_error("column \"%s\": row %zu holds %g, not a category index", c->name, r, x);
			return FEDC_NN_ERR_DATA;
		}
		k = isnan(x) ? (size_t)f->fill : t->cat_map[i][(uint32_t)x];
		memset(*out, 0, n_list * sizeof(float));
		(*out)[k] = 1.0f;
		*out += n_list;
	}
	return FEDC_NN_OK;
}

int fedc_table_encode(struct fedc_table *t, const struct fedc_data *view, struct fedc_data *out)
{
	int rc;
	float *at;

	memset(out, 0, sizeof(*out));
	if (!t->fitted) {
		fedc_plan_error("table: encode before fit (call fedc_table_fit in prepare())");
		return FEDC_NN_ERR_INVAL;
	}
	rc = bind(t, view);
	if (rc)
		return rc;
	if (view->n_samples > SIZE_MAX / sizeof(float) / t->width)
		return FEDC_NN_ERR_NOMEM;
	out->x = malloc((view->n_samples ? view->n_samples : 1) * t->width * sizeof(float));
	if (!out->x)
		return FEDC_NN_ERR_NOMEM;
	at = out->x;
	for (size_t r = 0; !rc && r < view->n_samples; r++) {
		for (size_t i = 0; !rc && i < t->n_cols; i++)
			rc = encode_cell(t, i, view, r, &at);
	}
	if (rc) {
		fedc_table_data_free(out);
		return rc;
	}
	out->n_samples = view->n_samples;
	out->n_features = t->width;
	out->y = view->y;
	out->n_classes = view->n_classes;
	out->label_width = view->label_width;
	return FEDC_NN_OK;
}

void fedc_table_data_free(struct fedc_data *out)
{
	free(out->x);
	memset(out, 0, sizeof(*out));
}

const float *fedc_table_stats(const struct fedc_table *t, size_t *count)
{
	*count = t->fitted ? 3 * t->n_cols : 0;
	return t->fitted ? (const float *)(const void *)t->fit : NULL;
}

/* Values from elsewhere (a parameter file) are checked before use: a
 * category fill indexes the one-hot row. */
static bool stats_valid(const struct fedc_table *t, const float *v)
{
	for (size_t i = 0; i < t->n_cols; i++) {
		float fill = v[3 * i], mean = v[3 * i + 1], std = v[3 * i + 2];
		size_t n_list = list_len(t->cols[i].categories);

		if (!isfinite(mean) || !isfinite(std) || std <= 0 || isinf(fill))
			return false;
		if (is_categorical(&t->cols[i]) && !isnan(fill) && (fill < 0 || fill >= (float)n_list || fill != floorf(fill)))
			return false;
	}
	return true;
}

int fedc_table_set_stats(struct fedc_table *t, const float *values, size_t count)
{
	if (!t->fit || count != 3 * t->n_cols || !stats_valid(t, values)) {
		fedc_plan_error("table: %zu statistics that do not fit the table's %zu columns", count, t->n_cols);
		return FEDC_NN_ERR_INVAL;
	}
	memcpy(t->fit, values, count * sizeof(float));
	t->fitted = true;
	return FEDC_NN_OK;
}
