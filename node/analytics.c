/* Statistics of a query over a loaded dataset, under the node's policy
 * (analytics.h). */
#include "analytics.h"

#include <inttypes.h>
#include <math.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "privacy.h"

#define LABEL_NAME "label"

bool analytics__noise_parse(const char *name, enum analytics_noise *out)
{
	static const char *const names[] = { "none", "laplace", "gaussian" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (enum analytics_noise)i;
			return true;
		}
	}
	return false;
}

static const char *noise_name(enum analytics_noise n)
{
	return n == ANALYTICS_NOISE_LAPLACE ? "laplace" : n == ANALYTICS_NOISE_GAUSSIAN ? "gaussian" : "none";
}

/* ---- columns ---- */

void analytics__columns_free(struct analytics_col *cols, size_t n_cols, char **names)
{
	for (size_t i = 0; names && i < n_cols; i++)
		free(names[i]);
	free(names);
	free(cols);
}

enum fedc_err analytics__columns(const struct fedc_data *data, struct analytics_col **cols, size_t *n_cols,
				 char ***names)
{
	size_t n = data->n_features + 1;
	size_t first_table = data->schema ? data->n_features - data->schema->n_columns : data->n_features;
	struct analytics_col *c = calloc(n, sizeof(*c));
	char **own = calloc(n, sizeof(*own));
	bool ok = c && own;

	*cols = NULL;
	*names = NULL;
	*n_cols = 0;
	for (size_t i = 0; ok && i < data->n_features; i++) {
		const struct fedc_column *sc = i >= first_table ? &data->schema->columns[i - first_table] : NULL;

		c[i].index = (uint32_t)i;
		if (sc) {
			c[i].name = sc->name;
			c[i].categorical = sc->type == FEDC_COLUMN_CATEGORICAL;
			c[i].n_categories = sc->n_categories;
			c[i].categories = sc->categories;
			continue;
		}
		own[i] = malloc(24);
		ok = own[i] != NULL;
		if (ok)
			snprintf(own[i], 24, "c%zu", i);
		c[i].name = own[i];
	}
	if (!ok) {
		analytics__columns_free(c, n, own);
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for the dataset's column names");
	}
	c[n - 1].name = LABEL_NAME;
	c[n - 1].index = (uint32_t)data->n_features;
	*cols = c;
	*names = own;
	*n_cols = n;
	return FEDC_OK;
}

static const struct analytics_col *find_col(const struct analytics_col *cols, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(cols[i].name, name) == 0)
			return &cols[i];
	}
	return NULL;
}

static enum fedc_err unknown_column(const char *what, const char *name, const struct analytics_col *cols, size_t n)
{
	char known[320] = "";
	size_t used = 0;

	for (size_t i = 0; i < n && used < sizeof(known); i++) {
		if (used + strlen(cols[i].name) + 8 >= sizeof(known) && i + 1 < n) {
			snprintf(known + used, sizeof(known) - used, ", ..., %s", cols[n - 1].name);
			break;
		}
		used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "", cols[i].name);
	}
	return fedc_fail(FEDC_ERR_INVAL, "%s: the dataset has no column \"%s\": name one of its columns (%s)", what,
			 name, known);
}

/* ---- groups ---- */

static void free_groups(struct analytics_result *r)
{
	for (uint32_t g = 0; r->group_names && g < r->n_groups; g++)
		free(r->group_names[g]);
	free(r->group_names);
	r->group_names = NULL;
}

static enum fedc_err set_groups(struct analytics_result *r, const struct fedc_data *data,
				const struct analytics_col *by)
{
	uint32_t n = !by ? 1 : by->categorical ? by->n_categories : data->n_classes;

	r->group_names = calloc(n ? n : 1, sizeof(*r->group_names));
	if (!r->group_names)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for the groups");
	r->n_groups = n;
	for (uint32_t g = 0; g < n; g++) {
		char label[24];
		const char *name = !by ? "*" : by->categorical ? by->categories[g] : label;

		snprintf(label, sizeof(label), "%" PRIu32, g);
		r->group_names[g] = strdup(name);
		if (!r->group_names[g])
			return fedc_fail(FEDC_ERR_NOMEM, "out of memory for the groups");
		for (char *p = r->group_names[g]; *p; p++) /* the reply is tab-separated lines */
			if (*p == '\t' || *p == '\n' || *p == '\r')
				*p = ' ';
	}
	return FEDC_OK;
}

/* The row's group, or -1 when its group_by cell is missing or out of range. */
static int64_t group_of(const struct analytics_col *by, uint32_t n_groups, const float *row)
{
	float v;

	if (!by)
		return 0;
	v = row[by->index];
	if (isnan(v) || v < 0 || v >= (float)n_groups || v != floorf(v))
		return -1;
	return (int64_t)v;
}

/* ---- bounds and noise scales ---- */

/* The node's declared range of `name` from "COL:LO:HI, ...". */
static enum fedc_err policy_bounds(const char *bounds, const char *name, bool *found, double *lo, double *hi)
{
	const char *p = bounds ? bounds : "";

	*found = false;
	while (*p) {
		size_t len;
		char item[256], *colon, *range;

		p += strspn(p, " ,");
		len = strcspn(p, ",");
		if (!len)
			break;
		if (len >= sizeof(item))
			return fedc_fail(FEDC_ERR_CONFIG, "[analytics] bounds: an entry over %zu characters", sizeof(item));
		memcpy(item, p, len);
		item[len] = '\0';
		p += len;
		colon = strchr(item, ':');
		range = colon ? strchr(colon + 1, ':') : NULL;
		if (!range)
			return fedc_fail(FEDC_ERR_CONFIG, "[analytics] bounds: \"%s\": write COLUMN:LO:HI", item);
		*colon = '\0';
		*range = ',';
		for (char *end = colon; end > item && end[-1] == ' ';)
			*--end = '\0';
		if (strcmp(item, name) == 0) {
			*found = true;
			return analytics_query__parse_range("[analytics] bounds", colon + 1, lo, hi);
		}
	}
	return FEDC_OK;
}

/* The standard deviations of the noise on one column's values. */
static void set_scale(struct analytics_scale *s, const struct analytics_policy *p, double eps_each)
{
	double m = fmax(fabs(s->lo), fabs(s->hi));
	double factor = p->noise == ANALYTICS_NOISE_LAPLACE ? sqrt(2.0) / eps_each /* Laplace b = sens/eps */
							    : sqrt(2.0 * log(1.25 / p->delta)) / eps_each;

	s->count = factor;
	s->bin = factor;
	s->sum = m * factor;
	s->sumsq = m * m * factor;
}

/* Epsilon and per-column scales, or the refusal saying what to change. */
static enum fedc_err plan_noise(struct analytics_result *r, const struct analytics_policy *p)
{
	const struct analytics_query *q = r->query;
	uint32_t releases = 0;

	r->noise = p->noise;
	if (p->noise == ANALYTICS_NOISE_NONE)
		return FEDC_OK;
	if (q->has_epsilon && q->epsilon > p->max_epsilon * (1 + 1e-12))
		return fedc_fail(FEDC_ERR_PRIVACY, "epsilon = %g: this node allows at most %g per query "
				 "([analytics] max_epsilon_per_query): ask for epsilon <= %g",
				 q->epsilon, p->max_epsilon, p->max_epsilon);
	r->epsilon = q->has_epsilon ? q->epsilon : p->max_epsilon;
	for (uint32_t c = 0; c < q->n_columns; c++) {
		struct analytics_scale *s = &r->scales[c];
		bool found = false;
		enum fedc_err rc = policy_bounds(p->bounds, q->columns[c].name, &found, &s->lo, &s->hi);

		if (rc)
			return rc;
		if (!found && !q->columns[c].has_bounds)
			return fedc_fail(FEDC_ERR_INVAL, "column %s has no bounds and this node adds noise: add "
					 "`bounds.%s = LO,HI` to the query (values are clipped to them)",
					 q->columns[c].name, q->columns[c].name);
		if (!found) {
			s->lo = q->columns[c].lo;
			s->hi = q->columns[c].hi;
		}
		releases += 1u + q->release_sum + q->release_sumsq + (q->columns[c].n_edges > 0);
	}
	for (uint32_t c = 0; c < q->n_columns; c++) {
		set_scale(&r->scales[c], p, r->epsilon / releases);
		r->scales[c].sum *= q->release_sum;
		r->scales[c].sumsq *= q->release_sumsq;
		r->scales[c].bin *= q->columns[c].n_edges > 0;
	}
	return FEDC_OK;
}

/* ---- computing ---- */

static void add_value(struct analytics_cell *cell, const struct analytics_column_query *cq, double v)
{
	cell->count += 1;
	cell->sum += v;
	cell->sumsq += v * v;
	cell->min = cell->count == 1 || v < cell->min ? v : cell->min;
	cell->max = cell->count == 1 || v > cell->max ? v : cell->max;
	/* Bins are [e_i, e_i+1), the last one closed; values outside fall in none. */
	for (uint32_t b = 0; b + 1 < cq->n_edges; b++) {
		bool last = b + 2 == cq->n_edges;

		if (v >= cq->edges[b] && (v < cq->edges[b + 1] || (last && v == cq->edges[b + 1]))) {
			cell->bins[b] += 1;
			break;
		}
	}
}

/* The query's columns as row indexes; numeric ones only. */
static enum fedc_err resolve_columns(const struct analytics_query *q, const struct analytics_col *cols, size_t n,
				     uint32_t *index)
{
	for (uint32_t c = 0; c < q->n_columns; c++) {
		const struct analytics_col *col = find_col(cols, n, q->columns[c].name);

		if (!col)
			return unknown_column("columns", q->columns[c].name, cols, n);
		if (col->categorical)
			return fedc_fail(FEDC_ERR_INVAL, "columns: %s is categorical, it has no mean: group by it "
					 "(group_by = %s) or filter on it instead", col->name, col->name);
		index[c] = col->index;
	}
	return FEDC_OK;
}

static enum fedc_err resolve_group(const struct analytics_query *q, const struct fedc_data *data,
				   const struct analytics_col *cols, size_t n, const struct analytics_col **by)
{
	*by = NULL;
	if (!q->group_by[0])
		return FEDC_OK;
	*by = find_col(cols, n, q->group_by);
	if (!*by)
		return unknown_column("group_by", q->group_by, cols, n);
	if (!(*by)->categorical && !(strcmp(q->group_by, LABEL_NAME) == 0 && data->n_classes > 0))
		return fedc_fail(FEDC_ERR_INVAL, "group_by = %s: not a categorical column: group by a categorical "
				 "one or by label (of a classification dataset)", q->group_by);
	return FEDC_OK;
}

static void accumulate(struct analytics_result *r, const struct fedc_data *data, const struct analytics_filter *f,
		       const struct analytics_col *by, const uint32_t *index, float *row)
{
	const struct analytics_query *q = r->query;

	for (size_t i = 0; i < data->n_samples; i++) {
		int64_t g;

		memcpy(row, data->x + i * data->n_features, data->n_features * sizeof(*row));
		row[data->n_features] = data->y[i * (data->label_width ? data->label_width : 1)];
		if (!analytics_filter__match(f, row) || (g = group_of(by, r->n_groups, row)) < 0)
			continue;
		for (uint32_t c = 0; c < q->n_columns; c++) {
			double v = row[index[c]];

			if (isnan(v))
				continue;
			if (r->noise != ANALYTICS_NOISE_NONE)
				v = fmin(fmax(v, r->scales[c].lo), r->scales[c].hi);
			add_value(&r->cells[(size_t)g * q->n_columns + c], &q->columns[c], v);
		}
	}
}

void analytics__result_free(struct analytics_result *r)
{
	free_groups(r);
	free(r->cells);
	r->cells = NULL;
}

enum fedc_err analytics__compute(const struct fedc_data *data, const struct analytics_query *q,
				 const struct analytics_policy *p, struct analytics_result *out)
{
	struct analytics_col *cols = NULL;
	char **names = NULL;
	size_t n_cols = 0;
	const struct analytics_col *by = NULL;
	uint32_t index[ANALYTICS_MAX_COLUMNS];
	struct analytics_filter *filter = malloc(sizeof(*filter));
	float *row = malloc((data->n_features + 1) * sizeof(*row));
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	out->query = q;
	rc = filter && row ? analytics__columns(data, &cols, &n_cols, &names)
			   : fedc_fail(FEDC_ERR_NOMEM, "out of memory for the query");
	if (!rc)
		rc = resolve_columns(q, cols, n_cols, index);
	if (!rc)
		rc = resolve_group(q, data, cols, n_cols, &by);
	if (!rc)
		rc = analytics_filter__parse(q->filter, cols, n_cols, filter);
	if (!rc)
		rc = plan_noise(out, p);
	if (!rc)
		rc = set_groups(out, data, by);
	if (!rc) {
		out->cells = calloc((size_t)out->n_groups * q->n_columns + 1, sizeof(*out->cells));
		if (!out->cells)
			rc = fedc_fail(FEDC_ERR_NOMEM, "out of memory for %" PRIu32 " groups", out->n_groups);
	}
	if (!rc) {
		accumulate(out, data, filter, by, index, row);
		for (size_t i = 0; i < (size_t)out->n_groups * q->n_columns; i++)
			out->cells[i].suppressed = out->cells[i].count < (double)p->min_count;
	}
	analytics__columns_free(cols, n_cols, names);
	free(filter);
	free(row);
	return rc;
}

/* ---- noise ---- */

/* One draw of standard deviation `sd`: Gaussian, or Laplace as the
 * difference of two exponentials, each (N1^2 + N2^2) / 2 of two normals. */
static double draw(enum analytics_noise kind, double sd, const double *normals)
{
	if (kind == ANALYTICS_NOISE_GAUSSIAN)
		return sd * normals[0];
	return sd / sqrt(2.0) *
	       ((normals[0] * normals[0] + normals[1] * normals[1]) - (normals[2] * normals[2] + normals[3] * normals[3])) /
	       2.0;
}

static enum fedc_err noise_value(struct privacy_noise *src, enum analytics_noise kind, double sd, double *value)
{
	double normals[4];
	enum fedc_err rc = privacy__noise_fill(src, normals, 4);

	if (!rc)
		*value += draw(kind, sd, normals);
	return rc;
}

enum fedc_err analytics__add_noise(struct analytics_result *r)
{
	uint8_t key[PRIVACY_KEY_LEN];
	struct privacy_noise *src = NULL;
	enum fedc_err rc = FEDC_OK;
	const struct analytics_query *q = r->query;

	if (r->noise == ANALYTICS_NOISE_NONE)
		return FEDC_OK;
	if (RAND_bytes(key, sizeof(key)) != 1)
		return fedc_fail(FEDC_ERR_IO, "cannot draw the analytics noise key (OpenSSL)");
	rc = privacy__noise_new(key, &src);
	for (size_t i = 0; !rc && i < (size_t)r->n_groups * q->n_columns; i++) {
		struct analytics_cell *cell = &r->cells[i];
		const struct analytics_scale *s = &r->scales[i % q->n_columns];

		rc = noise_value(src, r->noise, s->count, &cell->count);
		if (!rc && q->release_sum)
			rc = noise_value(src, r->noise, s->sum, &cell->sum);
		if (!rc && q->release_sumsq)
			rc = noise_value(src, r->noise, s->sumsq, &cell->sumsq);
		for (uint32_t b = 0; !rc && b + 1 < q->columns[i % q->n_columns].n_edges; b++)
			rc = noise_value(src, r->noise, s->bin, &cell->bins[b]);
	}
	privacy__noise_free(src);
	memset(key, 0, sizeof(key));
	return rc;
}

/* ---- the reply ---- */

static enum fedc_err format_cell(const struct analytics_result *r, uint32_t g, uint32_t c, struct fedc_buf *out)
{
	const struct analytics_cell *cell = &r->cells[(size_t)g * r->query->n_columns + c];
	const struct analytics_column_query *cq = &r->query->columns[c];
	bool noisy = r->noise != ANALYTICS_NOISE_NONE;
	enum fedc_err rc;

	if (cell->suppressed)
		return fedc_buf_printf(out, "suppressed\t%s\t%s\tfewer rows than this node's minimum count\n",
				       r->group_names[g], cq->name);
	rc = fedc_buf_printf(out, "cell\t%s\t%s\t%.17g", r->group_names[g], cq->name, cell->count);
	if (!rc)
		rc = r->query->release_sum ? fedc_buf_printf(out, "\t%.17g", cell->sum) : fedc_buf_printf(out, "\t-");
	if (!rc)
		rc = r->query->release_sumsq ? fedc_buf_printf(out, "\t%.17g", cell->sumsq) : fedc_buf_printf(out, "\t-");
	if (!rc && noisy)
		rc = fedc_buf_printf(out, "\t-\t-\t");
	else if (!rc)
		rc = fedc_buf_printf(out, "\t%.17g\t%.17g\t", cell->min, cell->max);
	for (uint32_t b = 0; !rc && b + 1 < cq->n_edges; b++)
		rc = fedc_buf_printf(out, "%s%.17g", b ? "," : "", cell->bins[b]);
	if (!rc)
		rc = fedc_buf_printf(out, "%s\n", cq->n_edges ? "" : "-");
	return rc;
}

enum fedc_err analytics__format(const struct analytics_result *r, struct fedc_buf *out)
{
	const struct analytics_query *q = r->query;
	enum fedc_err rc = fedc_buf_printf(out, "fedc-analytics\t1\nnoise\t%s\t%.17g\t%.17g\n", noise_name(r->noise),
					   r->epsilon, r->remaining);

	for (uint32_t c = 0; !rc && c < q->n_columns; c++) {
		const struct analytics_scale *s = &r->scales[c];

		rc = fedc_buf_printf(out, "scale\t%s\t%.17g\t%.17g\t%.17g\t%.17g\n", q->columns[c].name, s->count, s->sum,
				     s->sumsq, s->bin);
	}
	for (uint32_t g = 0; !rc && g < r->n_groups; g++) {
		for (uint32_t c = 0; !rc && c < q->n_columns; c++)
			rc = format_cell(r, g, c, out);
	}
	if (rc == FEDC_ERR_TOO_BIG)
		rc = fedc_fail(FEDC_ERR_TOO_BIG, "the results pass %u bytes: ask for fewer columns, groups or bins",
			       FEDC_MAX_ANALYTICS_RESULT);
	return rc;
}
