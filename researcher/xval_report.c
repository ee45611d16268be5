/* The cross-site validation matrix told (xval.h): tables on stdout,
 * xval.json, a history record, and heatmaps in xval.svg. */
#include "xval.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "best.h"
#include "fedc/fs.h"
#include "history.h"
#include "plot.h"

#define XVAL_MAX_METRIC_NAMES (FEDC_MAX_METRICS * 4)
#define LABEL_MAX (FEDC_MAX_ID_LEN + 16)

/* The metric names of the matrix, in the order they first appear. */
struct metric_names {
	size_t n;
	const char *name[XVAL_MAX_METRIC_NAMES];
};

static void collect_names(const struct xval_matrix *m, struct metric_names *out)
{
	out->n = 0;
	for (size_t i = 0; i < m->n_models * m->n_nodes; i++) {
		const struct xval_cell *c = &m->cells[i];

		for (uint32_t k = 0; c->ok && k < c->n_metrics; k++) {
			size_t s = 0;

			while (s < out->n && strcmp(out->name[s], c->metrics[k].name) != 0)
				s++;
			if (s == out->n && out->n < XVAL_MAX_METRIC_NAMES)
				out->name[out->n++] = c->metrics[k].name;
		}
	}
}

static double value_of(const struct xval_cell *c, const char *name)
{
	double v;

	return c->ok && fedc_msg_kv_get(c->metrics, c->n_metrics, name, &v) ? v : NAN;
}

static void row_label(const struct xval_matrix *m, size_t row, char *out, size_t cap)
{
	snprintf(out, cap, row ? "local %s" : "%s", m->models[row]);
}

/* ---- the tables ---- */

static void print_table(const struct xval_matrix *m, const char *metric, FILE *out)
{
	char label[LABEL_MAX];

	fprintf(out, "\ncross-site validation: %s (rows: models; columns: the nodes whose test rows scored them)\n",
		metric);
	fprintf(out, "%-24s", "model");
	for (size_t c = 0; c < m->n_nodes; c++)
		fprintf(out, " %14.14s", m->nodes[c]);
	fputc('\n', out);
	for (size_t row = 0; row < m->n_models; row++) {
		row_label(m, row, label, sizeof(label));
		fprintf(out, "%-24.24s", label);
		for (size_t c = 0; c < m->n_nodes; c++) {
			double v = value_of(xval__cell(m, row, c), metric);

			if (isfinite(v))
				fprintf(out, " %14.4f", v);
			else
				fprintf(out, " %14s", "-");
		}
		fputc('\n', out);
	}
}

/* Each column's empty cells, once per distinct reason. */
static void print_reasons(const struct xval_matrix *m, FILE *out)
{
	for (size_t c = 0; c < m->n_nodes; c++) {
		for (size_t row = 0; row < m->n_models; row++) {
			const struct xval_cell *cell = xval__cell(m, row, c);
			size_t same = 0, seen = 0;

			if (cell->ok)
				continue;
			for (size_t r = 0; r < m->n_models; r++) {
				const struct xval_cell *o = xval__cell(m, r, c);
				bool match = !o->ok && strcmp(o->reason, cell->reason) == 0;

				same += match;
				seen += match && r < row;
			}
			if (seen)
				continue; /* told with its first row */
			fprintf(out, "  node %s: %s: %s (%zu of %zu model(s))\n", m->nodes[c], cell->status, cell->reason,
				same, m->n_models);
		}
	}
}

void xval__print(const struct xval_matrix *m, FILE *out)
{
	struct metric_names names;

	collect_names(m, &names);
	if (names.n == 0)
		fprintf(out, "\ncross-site validation: no node reported a metric\n");
	for (size_t i = 0; i < names.n; i++)
		print_table(m, names.name[i], out);
	print_reasons(m, out);
	fflush(out);
}

/* ---- xval.json and the history record ---- */

static json_t *metrics_json(const struct xval_cell *c)
{
	json_t *obj = json_object();

	for (uint32_t k = 0; obj && k < c->n_metrics; k++)
		json_object_set_new(obj, c->metrics[k].name,
				    isfinite(c->metrics[k].value) ? json_real(c->metrics[k].value) : json_null());
	return obj;
}

static json_t *cell_json(const struct xval_matrix *m, size_t row, size_t col)
{
	const struct xval_cell *c = xval__cell(m, row, col);
	json_t *obj = json_pack("{s:s, s:s, s:s, s:s}", "model", row ? "local" : "global", "model_node",
				row ? m->models[row] : "", "node_id", m->nodes[col], "status", c->status);

	if (obj && c->ok) {
		json_object_set_new(obj, "n_test", json_integer((json_int_t)c->n_test));
		json_object_set_new(obj, "metrics", metrics_json(c));
	} else if (obj) {
		json_object_set_new(obj, "reason", json_string(c->reason));
	}
	return obj;
}

static json_t *matrix_json(const struct xval_matrix *m)
{
	json_t *root = json_pack("{s:s, s:s, s:I, s:[], s:[], s:[]}", "type", "xval", "job_id", m->job_id,
				 "local_round", (json_int_t)m->round, "models", "nodes", "cells");
	json_t *models = json_object_get(root, "models"), *nodes = json_object_get(root, "nodes"),
	       *cells = json_object_get(root, "cells");
	int bad = !root;

	for (size_t r = 0; !bad && r < m->n_models; r++)
		bad |= json_array_append_new(models, json_pack("{s:s, s:s, s:s}", "model", r ? "local" : "global",
							       "model_node", r ? m->models[r] : "", "digest",
							       m->model_digests[r]));
	for (size_t c = 0; !bad && c < m->n_nodes; c++)
		bad |= json_array_append_new(nodes, json_string(m->nodes[c]));
	for (size_t r = 0; !bad && r < m->n_models; r++) {
		for (size_t c = 0; !bad && c < m->n_nodes; c++)
			bad |= json_array_append_new(cells, cell_json(m, r, c));
	}
	if (bad) {
		json_decref(root);
		return NULL;
	}
	return root;
}

static enum fedc_err write_json(const struct xval_matrix *m, const char *dir, struct history *h)
{
	char path[4200];
	json_t *root = matrix_json(m);
	char *pretty = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
	char *line = root ? json_dumps(root, JSON_COMPACT) : NULL;
	enum fedc_err rc = pretty && line ? FEDC_OK : FEDC_ERR_NOMEM;

	snprintf(path, sizeof(path), "%s/xval.json", dir);
	if (!rc)
		rc = fedc_write_atomic(path, pretty, strlen(pretty));
	if (!rc)
		rc = history__append(h, dir, line);
	free(pretty);
	free(line);
	json_decref(root);
	return rc;
}

/* ---- xval.svg ---- */

struct heatmap_room {
	char (*labels)[LABEL_MAX];
	const char **rows, **cols;
	double *values; /* one map's after another */
	struct plot_heatmap maps[XVAL_MAX_METRIC_NAMES];
};

static enum fedc_err fill_maps(const struct xval_matrix *m, const struct metric_names *names, struct heatmap_room *h)
{
	size_t cells = m->n_models * m->n_nodes;

	h->labels = calloc(m->n_models, sizeof(*h->labels));
	h->rows = calloc(m->n_models, sizeof(*h->rows));
	h->cols = calloc(m->n_nodes, sizeof(*h->cols));
	h->values = calloc(cells * names->n, sizeof(*h->values));
	if (!h->labels || !h->rows || !h->cols || !h->values)
		return FEDC_ERR_NOMEM;
	for (size_t r = 0; r < m->n_models; r++) {
		row_label(m, r, h->labels[r], sizeof(h->labels[r]));
		h->rows[r] = h->labels[r];
	}
	for (size_t c = 0; c < m->n_nodes; c++)
		h->cols[c] = m->nodes[c];
	for (size_t i = 0; i < names->n; i++) {
		double *v = h->values + i * cells;

		for (size_t k = 0; k < cells; k++)
			v[k] = value_of(&m->cells[k], names->name[i]);
		h->maps[i] = (struct plot_heatmap){ names->name[i], m->n_models, m->n_nodes, h->rows, h->cols, v,
						    best__minimised(names->name[i]) };
	}
	return FEDC_OK;
}

static enum fedc_err write_svg(const struct xval_matrix *m, const char *dir)
{
	char path[4200];
	struct metric_names names;
	struct heatmap_room h = { 0 };
	enum fedc_err rc;

	collect_names(m, &names);
	if (names.n == 0)
		return FEDC_OK; /* nothing to draw: the tables said so */
	snprintf(path, sizeof(path), "%s/xval.svg", dir);
	rc = fill_maps(m, &names, &h);
	if (!rc)
		rc = plot__heatmaps(path, h.maps, names.n,
				    "cross-site validation: rows are models (global, and each node's own of the last "
				    "round), columns the nodes' test rows; darker is better, grey: no result");
	free(h.labels);
	free(h.rows);
	free(h.cols);
	free(h.values);
	return rc;
}

enum fedc_err xval__write(const struct xval_matrix *m, const char *dir, struct history *h)
{
	enum fedc_err rc = write_json(m, dir, h);

	if (!rc)
		rc = write_svg(m, dir);
	if (!rc)
		printf("cross-site validation: the matrix is in %s/xval.json (and history.jsonl), the heatmaps in "
		       "%s/xval.svg\n", dir, dir);
	return rc;
}
