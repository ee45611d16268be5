/* The `query` text of an analytics request (analytics_query.h). */
#include "analytics_query.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads up to `max` comma-separated finite numbers. */
static enum fedc_err parse_numbers(const char *what, const char *text, double *out, uint32_t max, uint32_t *n)
{
	const char *p = text;

	*n = 0;
	for (;;) {
		char *end = NULL;
		double v;

		errno = 0;
		v = strtod(p, &end);
		if (end == p || errno == ERANGE || !isfinite(v))
			return fedc_fail(FEDC_ERR_INVAL, "%s = %s: not a list of finite numbers separated by commas", what,
					 text);
		if (*n >= max)
			return fedc_fail(FEDC_ERR_INVAL, "%s: more than %u numbers", what, max);
		out[(*n)++] = v;
		while (*end == ' ')
			end++;
		if (!*end)
			return FEDC_OK;
		if (*end != ',')
			return fedc_fail(FEDC_ERR_INVAL, "%s = %s: separate the numbers with commas", what, text);
		p = end + 1;
	}
}

enum fedc_err analytics_query__parse_range(const char *what, const char *text, double *lo, double *hi)
{
	double v[2];
	uint32_t n = 0;
	enum fedc_err rc = parse_numbers(what, text, v, 2, &n);

	if (!rc && (n != 2 || !(v[0] < v[1])))
		rc = fedc_fail(FEDC_ERR_INVAL, "%s = %s: give LO,HI with LO < HI", what, text);
	if (!rc) {
		*lo = v[0];
		*hi = v[1];
	}
	return rc;
}

static struct analytics_column_query *find_column(struct analytics_query *q, const char *name)
{
	for (uint32_t i = 0; i < q->n_columns; i++) {
		if (strcmp(q->columns[i].name, name) == 0)
			return &q->columns[i];
	}
	return NULL;
}

static enum fedc_err set_name(char *dst, const char *what, const char *value)
{
	if (strlen(value) > ANALYTICS_NAME_MAX || !*value)
		return fedc_fail(FEDC_ERR_INVAL, "%s: a column name of 1 to %d characters", what, ANALYTICS_NAME_MAX);
	strcpy(dst, value);
	return FEDC_OK;
}

static enum fedc_err parse_columns(struct analytics_query *q, const char *value)
{
	char buf[ANALYTICS_QUERY_MAX], *save = NULL;
	enum fedc_err rc = FEDC_OK;

	snprintf(buf, sizeof(buf), "%s", value);
	for (char *t = strtok_r(buf, ", ", &save); t && !rc; t = strtok_r(NULL, ", ", &save)) {
		if (find_column(q, t))
			continue;
		if (q->n_columns >= ANALYTICS_MAX_COLUMNS)
			return fedc_fail(FEDC_ERR_INVAL, "columns: at most %d columns in one query", ANALYTICS_MAX_COLUMNS);
		rc = set_name(q->columns[q->n_columns].name, "columns", t);
		q->n_columns += !rc;
	}
	return rc;
}

/* bins.COL and bounds.COL name a column of `columns` (given before). */
static enum fedc_err parse_per_column(struct analytics_query *q, const char *key, const char *value)
{
	bool bins = strncmp(key, "bins.", 5) == 0;
	const char *name = strchr(key, '.') + 1;
	struct analytics_column_query *c = find_column(q, name);
	enum fedc_err rc;

	if (!c)
		return fedc_fail(FEDC_ERR_INVAL, "%s: column %s is not in `columns`: list it there first", key, name);
	if (!bins)
		rc = analytics_query__parse_range(key, value, &c->lo, &c->hi), c->has_bounds = !rc;
	else
		rc = parse_numbers(key, value, c->edges, ANALYTICS_MAX_EDGES, &c->n_edges);
	for (uint32_t i = 1; bins && !rc && i < c->n_edges; i++) {
		if (!(c->edges[i - 1] < c->edges[i]))
			rc = fedc_fail(FEDC_ERR_INVAL, "%s = %s: the edges must increase", key, value);
	}
	if (bins && !rc && c->n_edges < 2)
		rc = fedc_fail(FEDC_ERR_INVAL, "%s = %s: give at least two edges (one bin)", key, value);
	return rc;
}

static enum fedc_err parse_release(struct analytics_query *q, const char *value)
{
	char buf[ANALYTICS_QUERY_MAX], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", value);
	q->release_sum = q->release_sumsq = false;
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		if (strcmp(t, "sum") == 0)
			q->release_sum = true;
		else if (strcmp(t, "sumsq") == 0)
			q->release_sumsq = true;
		else if (strcmp(t, "count") != 0)
			return fedc_fail(FEDC_ERR_INVAL, "release = %s: list some of count, sum, sumsq", value);
	}
	return FEDC_OK;
}

static enum fedc_err parse_line(struct analytics_query *q, const char *key, const char *value)
{
	if (strcmp(key, "release") == 0)
		return parse_release(q, value);
	if (strcmp(key, "columns") == 0)
		return parse_columns(q, value);
	if (strcmp(key, "filter") == 0) {
		if (strlen(value) > ANALYTICS_FILTER_MAX)
			return fedc_fail(FEDC_ERR_INVAL, "filter: at most %d characters", ANALYTICS_FILTER_MAX);
		strcpy(q->filter, value);
		return FEDC_OK;
	}
	if (strcmp(key, "group_by") == 0)
		return set_name(q->group_by, "group_by", value);
	if (strcmp(key, "epsilon") == 0) {
		uint32_t n = 0;
		enum fedc_err rc = parse_numbers("epsilon", value, &q->epsilon, 1, &n);

		if (!rc && !(q->epsilon > 0))
			rc = fedc_fail(FEDC_ERR_INVAL, "epsilon = %s: give a number above 0", value);
		q->has_epsilon = !rc;
		return rc;
	}
	if (strncmp(key, "bins.", 5) == 0 || strncmp(key, "bounds.", 7) == 0)
		return parse_per_column(q, key, value);
	return fedc_fail(FEDC_ERR_INVAL, "unknown query key \"%s\": use columns, filter, group_by, epsilon, "
			 "release, bins.COLUMN or bounds.COLUMN", key);
}

enum fedc_err analytics_query__parse(const char *text, struct analytics_query *out)
{
	char line[ANALYTICS_QUERY_MAX];
	const char *p = text;
	enum fedc_err rc = FEDC_OK;

	memset(out, 0, sizeof(*out));
	out->release_sum = out->release_sumsq = true;
	if (strlen(text) >= ANALYTICS_QUERY_MAX)
		return fedc_fail(FEDC_ERR_INVAL, "query: over %d bytes", ANALYTICS_QUERY_MAX - 1);
	while (*p && !rc) {
		size_t len = strcspn(p, "\n");
		char *eq;

		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (p[len] == '\n');
		if (!len)
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			rc = fedc_fail(FEDC_ERR_INVAL, "query line \"%s\": write key=value", line);
			break;
		}
		*eq = '\0';
		rc = parse_line(out, line, eq + 1);
	}
	if (!rc && out->n_columns == 0)
		rc = fedc_fail(FEDC_ERR_INVAL, "query: no columns: give `columns = NAME, ...`");
	return rc;
}
