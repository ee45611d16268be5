/* The reports of predict, explain and robust, from the combined node
 * results (assess.h): printed, and written as DIR/predict.json,
 * DIR/explain.json, DIR/explain.svg, DIR/robust.json and DIR/robust.svg. */
#include "assess.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/buf.h"
#include "fedc/fs.h"
#include "fedc/num.h"
#include "robust_report.h"

#define REPORT_MAX (4u << 20)
#define MAX_CLASSES 1000
#define MAX_FEATURES 512 /* node/plan_assess.h */

static uint32_t text_u32(const struct assess_result *r, const char *name, uint32_t max)
{
	const struct assess_value *v = assess_result__get(r, name);
	uint64_t u = 0;

	if (!v || v->kind != ASSESS_TEXT || fedc_num_parse_u64(v->text, 0, max, &u) != FEDC_OK)
		return 0;
	return (uint32_t)u;
}

/* The count named "PREFIX.A.B". */
static uint64_t cell(const struct assess_result *r, const char *prefix, uint32_t a, uint32_t b)
{
	char name[ASSESS_NAME_MAX + 1];

	snprintf(name, sizeof(name), "%s.%" PRIu32 ".%" PRIu32, prefix, a, b);
	return assess_result__count(r, name);
}

/* One-vs-rest AUC of `c` from the score histograms, ties within a bin
 * counted half; *bound: the most the exact AUC can differ from it,
 * sum_b pos_b neg_b / (2 P N) (pairs that share a bin are the only ones
 * whose order the histogram does not know). NAN without both kinds of row. */
static double auc_of(const struct assess_result *r, uint32_t c, uint32_t bins, double *bound)
{
	double pos_total = 0, neg_total = 0, neg_below = 0, area = 0, tied = 0;

	for (uint32_t b = 0; b < bins; b++) {
		pos_total += (double)cell(r, "pos", c, b);
		neg_total += (double)cell(r, "neg", c, b);
	}
	for (uint32_t b = 0; b < bins; b++) {
		double p = (double)cell(r, "pos", c, b);
		double n = (double)cell(r, "neg", c, b);

		area += p * (neg_below + n / 2);
		tied += p * n;
		neg_below += n;
	}
	if (pos_total == 0 || neg_total == 0) {
		*bound = NAN;
		return NAN;
	}
	*bound = tied / (2 * pos_total * neg_total);
	return area / (pos_total * neg_total);
}

static void json_string(struct fedc_buf *js, const char *s)
{
	fedc_ignore(fedc_buf_printf(js, "\""));
	for (; *s; s++)
		fedc_ignore(*s == '"' || *s == '\\' ? fedc_buf_printf(js, "\\%c", *s) : fedc_buf_printf(js, "%c", *s));
	fedc_ignore(fedc_buf_printf(js, "\""));
}

static void print_nodes(const struct assess_node *nodes, size_t n, const char *text, FILE *out, struct fedc_buf *js)
{
	fedc_ignore(fedc_buf_printf(js, "  \"nodes\": ["));
	for (size_t i = 0; i < n; i++) {
		const struct assess_value *v = assess_result__get(&nodes[i].result, text);
		uint64_t rows = assess_result__count(&nodes[i].result, "rows");

		fprintf(out, "node %s dataset %s: %" PRIu64 " rows%s%s\n", nodes[i].node_id, nodes[i].dataset_id,
			rows ? rows : nodes[i].n_test, v && v->kind == ASSESS_TEXT ? ", " : "",
			v && v->kind == ASSESS_TEXT ? v->text : "");
		fedc_ignore(fedc_buf_printf(js, "%s\n    {\"node\": \"%s\", \"dataset\": \"%s\", \"rows\": %" PRIu64,
					    i ? "," : "", nodes[i].node_id, nodes[i].dataset_id,
					    rows ? rows : nodes[i].n_test));
		if (v && v->kind == ASSESS_TEXT) {
			fedc_ignore(fedc_buf_printf(js, ", \"%s\": ", text));
			json_string(js, v->text);
		}
		fedc_ignore(fedc_buf_printf(js, "}"));
	}
	fedc_ignore(fedc_buf_printf(js, "\n  ]"));
}

static int write_file(const char *dir, const char *name, const struct fedc_buf *b, FILE *out)
{
	char path[4200];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    fedc_write_atomic(path, b->data ? b->data : "", b->len) != FEDC_OK) {
		fprintf(stderr, "fedc-researcher: cannot write %s/%s: %s\n", dir, name, fedc_last_error());
		return 1;
	}
	fprintf(out, "wrote %s\n", path);
	return 0;
}

/* JSON numbers: NAN and infinities as null. */
static void json_num(struct fedc_buf *js, const char *key, double v)
{
	if (isfinite(v))
		fedc_ignore(fedc_buf_printf(js, ",\n  \"%s\": %.10g", key, v));
	else
		fedc_ignore(fedc_buf_printf(js, ",\n  \"%s\": null", key));
}

static void regression_report(const struct assess_result *t, uint64_t rows, FILE *out, struct fedc_buf *js)
{
	double sse = assess_result__real(t, "sq_err", NAN), sae = assess_result__real(t, "abs_err", NAN);
	double sy = assess_result__real(t, "y", NAN), sy2 = assess_result__real(t, "y2", NAN);
	double sst = sy2 - sy * sy / (double)rows;

	fprintf(out, "rows %" PRIu64 ": MSE %.6g, MAE %.6g, R2 %.4f\n", rows, sse / (double)rows, sae / (double)rows,
		sst > 0 ? 1 - sse / sst : NAN);
	json_num(js, "mse", sse / (double)rows);
	json_num(js, "mae", sae / (double)rows);
	json_num(js, "r2", sst > 0 ? 1 - sse / sst : NAN);
}

static void confusion(const struct assess_result *t, uint32_t classes, FILE *out, struct fedc_buf *js)
{
	fprintf(out, "confusion matrix (rows: true class, columns: predicted)\n");
	fedc_ignore(fedc_buf_printf(js, ",\n  \"confusion\": ["));
	for (uint32_t a = 0; a < classes; a++) {
		fprintf(out, "  %3" PRIu32 ":", a);
		fedc_ignore(fedc_buf_printf(js, "%s[", a ? ", " : ""));
		for (uint32_t b = 0; b < classes; b++) {
			uint64_t v = cell(t, "cm", a, b);

			fprintf(out, " %8" PRIu64, v);
			fedc_ignore(fedc_buf_printf(js, "%s%" PRIu64, b ? ", " : "", v));
		}
		fprintf(out, "\n");
		fedc_ignore(fedc_buf_printf(js, "]"));
	}
	fedc_ignore(fedc_buf_printf(js, "]"));
}

static void class_scores(const struct assess_result *t, uint32_t classes, uint64_t rows, FILE *out,
			 struct fedc_buf *js)
{
	double correct = 0, f1_sum = 0;

	fprintf(out, "class  precision  recall  F1\n");
	for (uint32_t c = 0; c < classes; c++) {
		double tp = (double)cell(t, "cm", c, c), col = 0, row = 0, p, r, f1;

		for (uint32_t k = 0; k < classes; k++) {
			col += (double)cell(t, "cm", k, c);
			row += (double)cell(t, "cm", c, k);
		}
		p = col > 0 ? tp / col : 0;
		r = row > 0 ? tp / row : 0;
		f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
		correct += tp;
		f1_sum += f1;
		fprintf(out, "%5" PRIu32 "  %9.4f  %6.4f  %.4f\n", c, p, r, f1);
	}
	fprintf(out, "accuracy %.4f, macro F1 %.4f\n", correct / (double)rows, f1_sum / classes);
	json_num(js, "accuracy", correct / (double)rows);
	json_num(js, "macro_f1", f1_sum / classes);
}

/* The reliability diagram: for each calibration bin holding rows, the share
 * right against the mean confidence (a calibrated model sits on the
 * diagonal), as bars 1 bin wide over [0, 1]. */
static void reliability_svg(const struct assess_result *t, uint32_t bins, struct fedc_buf *svg)
{
	const double x0 = 50, y0 = 350, side = 300;

	fedc_ignore(fedc_buf_printf(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"400\" "
				    "font-family=\"sans-serif\" font-size=\"11\">\n"
				    "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#888\"/>\n"
				    "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#888\" stroke-dasharray=\"4\"/>\n",
				    x0, y0 - side, side, side, x0, y0, x0 + side, y0 - side));
	for (uint32_t b = 0; b < bins; b++) {
		char name[ASSESS_NAME_MAX + 1];
		double n, ok, conf;

		snprintf(name, sizeof(name), "cal.%" PRIu32, b);
		n = (double)assess_result__count(t, name);
		if (n == 0)
			continue;
		snprintf(name, sizeof(name), "ok.%" PRIu32, b);
		ok = (double)assess_result__count(t, name) / n;
		snprintf(name, sizeof(name), "conf.%" PRIu32, b);
		conf = assess_result__real(t, name, 0) / n;
		fedc_ignore(fedc_buf_printf(svg, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
					    "fill=\"#4878a8\"><title>%.0f rows, confidence %.3f, right %.3f</title></rect>\n",
					    x0 + side * b / bins, y0 - side * ok, side / bins, side * ok, n, conf, ok));
	}
	fedc_ignore(fedc_buf_printf(svg, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">confidence (top "
				    "probability)</text>\n<text x=\"15\" y=\"%g\" transform=\"rotate(-90 15 %g)\" "
				    "text-anchor=\"middle\">share right</text>\n</svg>\n",
				    x0 + side / 2, y0 + 30, y0 - side / 2, y0 - side / 2));
}

static void auc_and_calibration(const struct assess_result *t, uint32_t classes, uint32_t bins, uint64_t rows,
				FILE *out, struct fedc_buf *js)
{
	double auc = 0, bound = 0, ece = 0;
	uint32_t counted = 0;

	/* Binary: the AUC of class 1. More classes: the mean over classes of each
	 * one against the rest. */
	for (uint32_t c = classes == 2 ? 1 : 0; c < classes; c++) {
		double b, a = auc_of(t, c, bins, &b);

		if (isfinite(a)) {
			auc += a;
			bound += b;
			counted++;
		}
	}
	auc = counted ? auc / counted : NAN;
	bound = counted ? bound / counted : NAN;
	for (uint32_t b = 0; b < bins; b++) {
		char ok[ASSESS_NAME_MAX + 1], conf[ASSESS_NAME_MAX + 1];

		snprintf(ok, sizeof(ok), "ok.%" PRIu32, b);
		snprintf(conf, sizeof(conf), "conf.%" PRIu32, b);
		ece += fabs((double)assess_result__count(t, ok) - assess_result__real(t, conf, 0));
	}
	ece /= (double)rows;
	fprintf(out, "AUC%s %.4f (histogram of %" PRIu32 " bins: within %.4f of the exact AUC)\n",
		classes > 2 ? " (one-vs-rest, macro)" : "", auc, bins, bound);
	fprintf(out, "expected calibration error %.4f (%" PRIu32 " bins)\n", ece, bins);
	json_num(js, "auc", auc);
	json_num(js, "auc_bound", bound);
	json_num(js, "ece", ece);
}

int assess_report__predict(const char *dir, const struct assess_node *nodes, size_t n,
			   const struct assess_result *total, FILE *out)
{
	uint32_t classes = text_u32(total, "classes", MAX_CLASSES), bins = text_u32(total, "bins", 1000);
	uint64_t rows = assess_result__count(total, "rows");
	struct fedc_buf js;
	int code;

	if (rows == 0) {
		fprintf(stderr, "fedc-researcher: predict: the nodes predicted no row\n");
		return 1;
	}
	fedc_buf_init(&js, REPORT_MAX);
	fedc_ignore(fedc_buf_printf(&js, "{\n  \"rows\": %" PRIu64, rows));
	fprintf(out, "predictions on %" PRIu64 " rows of %zu dataset(s)\n", rows, n);
	if (classes >= 2) {
		confusion(total, classes, out, &js);
		class_scores(total, classes, rows, out, &js);
		auc_and_calibration(total, classes, bins ? bins : 1, rows, out, &js);
	} else {
		regression_report(total, rows, out, &js);
	}
	fedc_ignore(fedc_buf_printf(&js, ",\n"));
	print_nodes(nodes, n, "predictions", out, &js);
	fedc_ignore(fedc_buf_printf(&js, "\n}\n"));
	code = write_file(dir, "predict.json", &js, out);
	if (classes >= 2) {
		struct fedc_buf svg;

		fedc_buf_init(&svg, REPORT_MAX);
		reliability_svg(total, bins ? bins : 1, &svg);
		code |= write_file(dir, "reliability.svg", &svg, out);
		fedc_buf_free(&svg);
	}
	fedc_buf_free(&js);
	return code;
}

/* ---- explain ---- */

struct importance {
	uint32_t k;
	double value;
	const char *name;
};

static int by_importance(const void *a, const void *b)
{
	const struct importance *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? 1 : -1;
	return x->k < y->k ? -1 : x->k > y->k;
}

static void bar_chart(const struct importance *imp, uint32_t n, struct fedc_buf *svg)
{
	double max = 0;

	for (uint32_t i = 0; i < n; i++)
		max = fabs(imp[i].value) > max ? fabs(imp[i].value) : max;
	fedc_ignore(fedc_buf_printf(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"%u\" "
				    "font-family=\"sans-serif\" font-size=\"11\">\n", 20 * n + 20));
	for (uint32_t i = 0; i < n; i++) {
		double w = max > 0 ? 380 * fabs(imp[i].value) / max : 0;

		fedc_ignore(fedc_buf_printf(svg, "<text x=\"195\" y=\"%u\" text-anchor=\"end\">", 20 * i + 24));
		for (const char *p = imp[i].name; *p; p++)
			fedc_ignore(*p == '<' ? fedc_buf_printf(svg, "&lt;") : *p == '&' ? fedc_buf_printf(svg, "&amp;")
							      : fedc_buf_printf(svg, "%c", *p));
		fedc_ignore(fedc_buf_printf(svg, "</text><rect x=\"200\" y=\"%u\" width=\"%.1f\" height=\"14\" "
					    "fill=\"%s\"/><text x=\"%.1f\" y=\"%u\">%.4g</text>\n",
					    20 * i + 13, w, imp[i].value >= 0 ? "#4878a8" : "#c05040", 205 + w,
					    20 * i + 24, imp[i].value));
	}
	fedc_ignore(fedc_buf_printf(svg, "</svg>\n"));
}

int assess_report__explain(const char *dir, const char *metric, const struct assess_node *nodes, size_t n,
			   const struct assess_result *total, FILE *out)
{
	struct importance *imp = calloc(MAX_FEATURES, sizeof(*imp));
	struct fedc_buf js, svg;
	uint32_t k = 0;
	int code = 1;

	if (!imp)
		return 1;
	for (; k < MAX_FEATURES; k++) {
		char name[ASSESS_NAME_MAX + 1];
		const struct assess_value *v;

		snprintf(name, sizeof(name), "imp.%" PRIu32, k);
		if (!(v = assess_result__get(total, name)))
			break;
		imp[k].k = k;
		imp[k].value = v->value;
		snprintf(name, sizeof(name), "name.%" PRIu32, k);
		v = assess_result__get(total, name);
		imp[k].name = v && v->kind == ASSESS_TEXT ? v->text : "?";
	}
	qsort(imp, k, sizeof(*imp), by_importance);
	fedc_buf_init(&js, REPORT_MAX);
	fedc_buf_init(&svg, REPORT_MAX);
	fprintf(out, "permutation importance (%s on the test rows: %.4f; importance = how much it worsens when the "
		"feature is shuffled)\n", metric, assess_result__real(total, "base", NAN));
	fedc_ignore(fedc_buf_printf(&js, "{\n  \"metric\": \"%s\"", metric));
	json_num(&js, "base", assess_result__real(total, "base", NAN));
	fedc_ignore(fedc_buf_printf(&js, ",\n  \"importance\": ["));
	for (uint32_t i = 0; i < k; i++) {
		fprintf(out, "%3u  %-32s %+.4f\n", i + 1, imp[i].name, imp[i].value);
		fedc_ignore(fedc_buf_printf(&js, "%s\n    {\"feature\": ", i ? "," : ""));
		json_string(&js, imp[i].name);
		fedc_ignore(fedc_buf_printf(&js, ", \"column\": %" PRIu32 ", \"importance\": %.10g}", imp[i].k,
					    isfinite(imp[i].value) ? imp[i].value : 0));
	}
	fedc_ignore(fedc_buf_printf(&js, "\n  ],\n"));
	print_nodes(nodes, n, "", out, &js);
	fedc_ignore(fedc_buf_printf(&js, "\n}\n"));
	bar_chart(imp, k, &svg);
	code = write_file(dir, "explain.json", &js, out) | write_file(dir, "explain.svg", &svg, out);
	fedc_buf_free(&js);
	fedc_buf_free(&svg);
	free(imp);
	return code;
}

/* ---- robust ---- */

/* The means named robust.* into `rr`; other names are not the stage's. */
static enum fedc_err robust_entries(const struct assess_result *total, struct robust_report *rr)
{
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; !rc && i < total->n; i++) {
		const struct assess_value *v = &total->values[i];

		if (v->kind == ASSESS_MEAN && isfinite(v->value))
			rc = robust_report__add(rr, v->name, v->value, NULL);
	}
	return rc;
}

static void robust_json(const struct robust_report *rr, struct fedc_buf *js)
{
	fedc_ignore(fedc_buf_printf(js, "{\n  \"results\": ["));
	for (size_t i = 0; i < rr->n; i++) {
		const struct robust_entry *e = &rr->items[i];

		fedc_ignore(fedc_buf_printf(js, "%s\n    {\"attack\": ", i ? "," : ""));
		json_string(js, e->attack);
		fedc_ignore(fedc_buf_printf(js, ", \"epsilon\": %.10g, \"metric\": ", e->eps));
		json_string(js, e->metric);
		fedc_ignore(fedc_buf_printf(js, ", \"value\": %.17g}", e->value));
	}
	fedc_ignore(fedc_buf_printf(js, "\n  ],\n"));
}

/* The plotted metric: accuracy, else the first the nodes sent. */
static const char *plotted_metric(const struct robust_report *rr)
{
	for (size_t i = 0; i < rr->n; i++)
		if (strcmp(rr->items[i].metric, "accuracy") == 0)
			return "accuracy";
	return rr->n ? rr->items[0].metric : "accuracy";
}

int assess_report__robust(const char *dir, const struct assess_node *nodes, size_t n,
			  const struct assess_result *total, FILE *out)
{
	struct robust_report rr = ROBUST_REPORT_INIT;
	struct fedc_buf js;
	char svg[4200];
	const char *metric;
	int code = 1;

	fedc_buf_init(&js, REPORT_MAX);
	if (robust_entries(total, &rr) != FEDC_OK || rr.n == 0) {
		fprintf(stderr, "fedc-researcher: robust: %s\n",
			rr.n ? fedc_last_error() : "the nodes sent no robust.* figures");
		goto out;
	}
	metric = plotted_metric(&rr);
	fprintf(out, "robustness on the test rows (weighted by each node's test rows)\n");
	robust_report__print_table(&rr, out);
	robust_json(&rr, &js);
	print_nodes(nodes, n, "", out, &js);
	fedc_ignore(fedc_buf_printf(&js, "\n}\n"));
	code = write_file(dir, "robust.json", &js, out);
	if ((size_t)snprintf(svg, sizeof(svg), "%s/robust.svg", dir) >= sizeof(svg) ||
	    robust_report__write_svg(&rr, metric, svg) != FEDC_OK) {
		fprintf(stderr, "fedc-researcher: cannot write %s/robust.svg: %s\n", dir, fedc_last_error());
		code = 1;
	} else {
		fprintf(out, "wrote %s (%s against epsilon)\n", svg, metric);
	}
out:
	robust_report__free(&rr);
	fedc_buf_free(&js);
	return code;
}
