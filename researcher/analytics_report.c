/* The combined results as a table, CSV and JSON (analytics.h). One row per
 * group and column; the statistics asked for, in a fixed order. */
#include "analytics.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "fedc/fs.h"

/* One named value of a total, for the three writers. */
struct stat_value {
	const char *name;
	double value;
};

/* The values of `t` the request asked for (histogram bins and quantiles
 * apart); returns how many. NAN where there is none (min and max withheld
 * under noise, a variance of one row). */
static size_t stat_values(const struct analytics_request *req, const struct analytics_total *t,
			  struct stat_value *out)
{
	double var = analytics__variance(t);
	size_t n = 0;

	if (req->stats & STAT_COUNT)
		out[n++] = (struct stat_value){ "count", t->count };
	if (req->stats & STAT_SUM)
		out[n++] = (struct stat_value){ "sum", t->has_sum && t->n_nodes ? t->sum : NAN };
	if (req->stats & STAT_MEAN)
		out[n++] = (struct stat_value){ "mean", analytics__mean(t) };
	if (req->stats & STAT_VAR)
		out[n++] = (struct stat_value){ "variance", var };
	if (req->stats & STAT_STD)
		out[n++] = (struct stat_value){ "std", sqrt(var) };
	if (req->stats & STAT_MIN)
		out[n++] = (struct stat_value){ "min", t->has_minmax && t->n_nodes ? t->min : NAN };
	if (req->stats & STAT_MAX)
		out[n++] = (struct stat_value){ "max", t->has_minmax && t->n_nodes ? t->max : NAN };
	return n;
}

static bool noisy(const struct analytics_total *t)
{
	return t->var_count > 0;
}

void analytics__print_table(const struct analytics_combined *c, FILE *out)
{
	const struct analytics_request *req = c->req;
	struct stat_value v[8];
	size_t n = 0;

	for (size_t i = 0; i < c->n_nodes; i++)
		fprintf(out, "node %-20s dataset %s  noise %s, epsilon %g spent, %g left\n", c->nodes[i].node_id,
			c->nodes[i].dataset_id, c->nodes[i].noise, c->nodes[i].epsilon, c->nodes[i].remaining);
	if (c->n_totals)
		n = stat_values(req, &c->totals[0], v);
	fprintf(out, "%-16s %-16s %5s", "group", "column", "nodes");
	for (size_t k = 0; k < n; k++)
		fprintf(out, " %14s", v[k].name);
	fprintf(out, "\n");
	for (size_t i = 0; i < c->n_totals; i++) {
		const struct analytics_total *t = &c->totals[i];
		const struct analytics_request_col *col = &req->columns[t->column];

		stat_values(req, t, v);
		fprintf(out, "%-16s %-16s %5u", t->group, col->name, t->n_nodes);
		for (size_t k = 0; k < n; k++) {
			if (isnan(v[k].value))
				fprintf(out, " %14s", "-");
			else
				fprintf(out, " %14.6g", v[k].value);
		}
		if (t->n_suppressed)
			fprintf(out, "  (suppressed at %u node(s): fewer rows than their minimum count)", t->n_suppressed);
		if (noisy(t))
			fprintf(out, "  (noise sd: count %.3g, sum %.3g)", sqrt(t->var_count), sqrt(t->var_sum));
		fprintf(out, "\n");
		if (t->n_nodes == 0)
			continue;
		for (uint32_t b = 0; (req->stats & STAT_HISTOGRAM) && b + 1 < col->n_edges; b++)
			fprintf(out, "%37s[%g, %g%s %12.6g\n", "", col->edges[b], col->edges[b + 1],
				b + 2 == col->n_edges ? "]" : ")", t->bins[b]);
		for (uint32_t q = 0; (req->stats & STAT_QUANTILES) && col->n_edges && q < req->n_quantiles; q++)
			fprintf(out, "%37squantile %-6g %12.6g\n", "", req->quantiles[q],
				analytics__quantile(t, col, req->quantiles[q]));
	}
}

/* A CSV field: quoted, with quotes doubled. */
static void csv_text(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_row(FILE *f, const struct analytics_total *t, const char *col, const char *stat, double v)
{
	csv_text(f, t->group);
	fputc(',', f);
	csv_text(f, col);
	fprintf(f, ",%s,", stat);
	if (!isnan(v))
		fprintf(f, "%.17g", v);
	fprintf(f, ",%u,%u\n", t->n_nodes, t->n_suppressed);
}

static enum fedc_err close_file(FILE *f, const char *path)
{
	bool bad = ferror(f) != 0;

	if (fclose(f) != 0 || bad)
		return fedc_fail(FEDC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	return FEDC_OK;
}

/* Long form: group, column, statistic, value, nodes, suppressed_at. */
enum fedc_err analytics__write_csv(const struct analytics_combined *c, const char *path)
{
	const struct analytics_request *req = c->req;
	FILE *f = fopen(path, "w");

	if (!f)
		return fedc_fail(FEDC_ERR_IO, "cannot create %s: %s", path, strerror(errno));
	fprintf(f, "group,column,statistic,value,nodes,suppressed_at\n");
	for (size_t i = 0; i < c->n_totals; i++) {
		const struct analytics_total *t = &c->totals[i];
		const struct analytics_request_col *col = &req->columns[t->column];
		struct stat_value v[8];
		size_t n = stat_values(req, t, v);
		char name[96];

		for (size_t k = 0; k < n; k++)
			csv_row(f, t, col->name, v[k].name, v[k].value);
		for (uint32_t b = 0; (req->stats & STAT_HISTOGRAM) && b + 1 < col->n_edges; b++) {
			snprintf(name, sizeof(name), "\"bin[%g,%g%s\"", col->edges[b], col->edges[b + 1],
				 b + 2 == col->n_edges ? "]" : ")");
			csv_row(f, t, col->name, name, t->bins[b]);
		}
		for (uint32_t q = 0; (req->stats & STAT_QUANTILES) && col->n_edges && q < req->n_quantiles; q++) {
			snprintf(name, sizeof(name), "quantile_%g", req->quantiles[q]);
			csv_row(f, t, col->name, name, analytics__quantile(t, col, req->quantiles[q]));
		}
	}
	return close_file(f, path);
}

/* A JSON string; names come from nodes, so every control byte is escaped. */
static void json_text(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_number(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fprintf(f, "null");
	else
		fprintf(f, "%.17g", v);
}

static void json_total(FILE *f, const struct analytics_request *req, const struct analytics_total *t)
{
	const struct analytics_request_col *col = &req->columns[t->column];
	struct stat_value v[8];
	size_t n = stat_values(req, t, v);

	fprintf(f, "    {\"group\": ");
	json_text(f, t->group);
	fprintf(f, ", \"column\": ");
	json_text(f, col->name);
	fprintf(f, ", \"nodes\": %u, \"suppressed_at\": %u", t->n_nodes, t->n_suppressed);
	for (size_t k = 0; k < n; k++) {
		fprintf(f, ", \"%s\": ", v[k].name);
		json_number(f, v[k].value);
	}
	fprintf(f, ", \"noise_sd\": {\"count\": %.17g, \"sum\": %.17g, \"sumsq\": %.17g, \"bin\": %.17g}",
		sqrt(t->var_count), sqrt(t->var_sum), sqrt(t->var_sumsq), sqrt(t->var_bin));
	if ((req->stats & STAT_HISTOGRAM) && col->n_edges) {
		fprintf(f, ", \"histogram\": {\"edges\": [");
		for (uint32_t b = 0; b < col->n_edges; b++)
			fprintf(f, "%s%.17g", b ? ", " : "", col->edges[b]);
		fprintf(f, "], \"counts\": [");
		for (uint32_t b = 0; b + 1 < col->n_edges; b++)
			fprintf(f, "%s%.17g", b ? ", " : "", t->bins[b]);
		fprintf(f, "]}");
	}
	if ((req->stats & STAT_QUANTILES) && col->n_edges) {
		fprintf(f, ", \"quantiles\": {");
		for (uint32_t q = 0; q < req->n_quantiles; q++) {
			fprintf(f, "%s\"%g\": ", q ? ", " : "", req->quantiles[q]);
			json_number(f, analytics__quantile(t, col, req->quantiles[q]));
		}
		fprintf(f, "}");
	}
	fprintf(f, "}");
}

enum fedc_err analytics__write_json(const struct analytics_combined *c, const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return fedc_fail(FEDC_ERR_IO, "cannot create %s: %s", path, strerror(errno));
	fprintf(f, "{\n  \"nodes\": [\n");
	for (size_t i = 0; i < c->n_nodes; i++) {
		fprintf(f, "    {\"node\": ");
		json_text(f, c->nodes[i].node_id);
		fprintf(f, ", \"dataset\": ");
		json_text(f, c->nodes[i].dataset_id);
		fprintf(f, ", \"noise\": ");
		json_text(f, c->nodes[i].noise);
		fprintf(f, ", \"epsilon\": %.17g, \"budget_left\": %.17g}%s\n", c->nodes[i].epsilon,
			c->nodes[i].remaining, i + 1 < c->n_nodes ? "," : "");
	}
	fprintf(f, "  ],\n  \"cells\": [\n");
	for (size_t i = 0; i < c->n_totals; i++) {
		json_total(f, c->req, &c->totals[i]);
		fprintf(f, "%s\n", i + 1 < c->n_totals ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	return close_file(f, path);
}
