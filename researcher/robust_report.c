/* Robustness results as a table and an SVG plot (robust_report.h). The
 * names are read like any text from outside: each part checked, epsilons
 * parsed whole, sizes capped. */
#include "robust_report.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/buf.h"
#include "fedc/fs.h"
#include "fedc/num.h"

#define PREFIX "robust."
#define CLEAN "clean"
#define MAX_COLUMNS 32
#define SVG_MAX (1u << 20)
#define PLOT_W 520.0
#define PLOT_H 340.0
#define MARGIN 60.0
#define LEGEND_H 18.0

static const char *const colors[] = { "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b" };

/* An attack's name: 1 to 15 of [a-z0-9_-] ("clean" included). */
static bool attack_ok(const char *s, size_t len)
{
	if (len == 0 || len >= ROBUST_REPORT_ATTACK_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* A metric's name: 1 to 63 printable characters, none of them a blank,
 * the first a letter or '_' (so that "0.1.5x" cannot read as eps 0.1.5). */
static bool metric_ok(const char *s)
{
	size_t len = strnlen(s, ROBUST_REPORT_METRIC_LEN);

	if (len == 0 || len >= ROBUST_REPORT_METRIC_LEN || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	}
	return true;
}

/* The epsilon at the start of "<eps>.<metric>": the longest text before a
 * '.' that is a whole number ("0.05.accuracy" is 0.05, "2.loss" is 2,
 * "1e-05.auc" 1e-05), finite and not negative. Returns where the metric
 * starts, or NULL. */
static const char *parse_eps(const char *s, double *eps)
{
	char num[32];
	const char *metric = NULL;

	for (const char *dot = strchr(s, '.'); dot; dot = strchr(dot + 1, '.')) {
		size_t len = (size_t)(dot - s);
		double v;

		if (len == 0 || len >= sizeof(num))
			continue;
		memcpy(num, s, len);
		num[len] = '\0';
		if (num[0] >= '0' && num[0] <= '9' && fedc_parse_double(num, &v) && v >= 0.0) {
			*eps = v;
			metric = dot + 1;
		}
	}
	return metric;
}

/* "<attack>.<eps>.<metric>" or "clean.<metric>" (after the prefix) into e. */
static bool parse_name(const char *rest, struct robust_entry *e)
{
	const char *dot = strchr(rest, '.'), *metric;
	size_t len = dot ? (size_t)(dot - rest) : 0;

	if (!dot || !attack_ok(rest, len))
		return false;
	memcpy(e->attack, rest, len);
	e->attack[len] = '\0';
	if (strcmp(e->attack, CLEAN) == 0) {
		e->eps = 0.0;
		metric = dot + 1;
	} else {
		metric = parse_eps(dot + 1, &e->eps);
		if (!metric)
			return false;
	}
	if (!metric_ok(metric))
		return false;
	snprintf(e->metric, sizeof(e->metric), "%s", metric);
	return true;
}

static bool same_entry(const struct robust_entry *a, const struct robust_entry *b)
{
	return strcmp(a->attack, b->attack) == 0 && a->eps == b->eps && strcmp(a->metric, b->metric) == 0;
}

enum fedc_err robust_report__add(struct robust_report *r, const char *name, double value, bool *taken)
{
	struct robust_entry e;

	if (taken)
		*taken = false;
	if (!name || strncmp(name, PREFIX, strlen(PREFIX)) != 0)
		return FEDC_OK;
	memset(&e, 0, sizeof(e));
	if (!parse_name(name + strlen(PREFIX), &e))
		return fedc_fail(FEDC_ERR_MALFORMED,
				 "robustness result \"%.100s\": expected robust.clean.<metric> or "
				 "robust.<attack>.<epsilon>.<metric>",
				 name);
	if (!isfinite(value))
		return fedc_fail(FEDC_ERR_MALFORMED, "robustness result %.100s: the value is not finite", name);
	for (size_t i = 0; i < r->n; i++) {
		if (same_entry(&r->items[i], &e))
			return fedc_fail(FEDC_ERR_MALFORMED, "robustness result %.100s is given twice", name);
	}
	if (r->n == ROBUST_REPORT_MAX_ENTRIES)
		return fedc_fail(FEDC_ERR_TOO_BIG, "more than %d robustness results", ROBUST_REPORT_MAX_ENTRIES);
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 32;
		struct robust_entry *grown = realloc(r->items, cap * sizeof(*grown));

		if (!grown)
			return FEDC_ERR_NOMEM;
		r->items = grown;
		r->cap = cap;
	}
	e.value = value;
	r->items[r->n++] = e;
	if (taken)
		*taken = true;
	return FEDC_OK;
}

void robust_report__free(struct robust_report *r)
{
	free(r->items);
	*r = (struct robust_report)ROBUST_REPORT_INIT;
}

/* Clean first, then attacks by name, epsilons ascending. */
static int row_order(const struct robust_entry *a, const struct robust_entry *b)
{
	bool ca = strcmp(a->attack, CLEAN) == 0, cb = strcmp(b->attack, CLEAN) == 0;
	int c = ca != cb ? (ca ? -1 : 1) : strcmp(a->attack, b->attack);

	return c ? c : (a->eps > b->eps) - (a->eps < b->eps);
}

/* The rows: indices of one entry per distinct (attack, eps), sorted. */
static size_t collect_rows(const struct robust_report *r, size_t *rows)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++) {
		size_t k = 0;

		while (k < n && row_order(&r->items[rows[k]], &r->items[i]) != 0)
			k++;
		if (k == n)
			rows[n++] = i;
	}
	for (size_t i = 1; i < n; i++) { /* insertion sort: a few dozen rows */
		size_t v = rows[i], k = i;

		for (; k > 0 && row_order(&r->items[rows[k - 1]], &r->items[v]) > 0; k--)
			rows[k] = rows[k - 1];
		rows[k] = v;
	}
	return n;
}

/* The metric names in the order first met, at most MAX_COLUMNS. */
static size_t collect_columns(const struct robust_report *r, const char **cols)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++) {
		size_t k = 0;

		while (k < n && strcmp(cols[k], r->items[i].metric) != 0)
			k++;
		if (k == n && n < MAX_COLUMNS)
			cols[n++] = r->items[i].metric;
	}
	return n;
}

static const struct robust_entry *find(const struct robust_report *r, const char *attack, double eps,
				       const char *metric)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct robust_entry *e = &r->items[i];

		if (e->eps == eps && strcmp(e->attack, attack) == 0 && strcmp(e->metric, metric) == 0)
			return e;
	}
	return NULL;
}

void robust_report__print_table(const struct robust_report *r, FILE *out)
{
	size_t *rows = r->n ? malloc(r->n * sizeof(*rows)) : NULL, n_rows;
	const char *cols[MAX_COLUMNS];
	size_t n_cols = collect_columns(r, cols);

	if (r->n && !rows) {
		fputs("(no memory for the robustness table)\n", out);
		return;
	}
	n_rows = rows ? collect_rows(r, rows) : 0;
	fprintf(out, "%-8s %-10s", "attack", "epsilon");
	for (size_t c = 0; c < n_cols; c++)
		fprintf(out, " %-12s", cols[c]);
	fputc('\n', out);
	for (size_t i = 0; i < n_rows; i++) {
		const struct robust_entry *row = &r->items[rows[i]];

		fprintf(out, "%-8s %-10g", row->attack, row->eps);
		for (size_t c = 0; c < n_cols; c++) {
			const struct robust_entry *e = find(r, row->attack, row->eps, cols[c]);

			if (e)
				fprintf(out, " %-12.6g", e->value);
			else
				fprintf(out, " %-12s", "-");
		}
		fputc('\n', out);
	}
	free(rows);
}

/* ---- the plot ---- */

struct frame {
	double x_hi, y_lo, y_hi; /* x from 0 */
};

static double px(const struct frame *f, double eps)
{
	return MARGIN + eps / f->x_hi * PLOT_W;
}

static double py(const struct frame *f, double v)
{
	return MARGIN + PLOT_H - (v - f->y_lo) / (f->y_hi - f->y_lo) * PLOT_H;
}

/* x from 0 to the largest epsilon; y [0, 1] for a metric within it
 * (accuracy), else the values' range padded by 5 %. */
static struct frame frame_of(const struct robust_report *r, const char *metric)
{
	struct frame f = { 0.0, INFINITY, -INFINITY };

	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->items[i].metric, metric) != 0)
			continue;
		f.x_hi = fmax(f.x_hi, r->items[i].eps);
		f.y_lo = fmin(f.y_lo, r->items[i].value);
		f.y_hi = fmax(f.y_hi, r->items[i].value);
	}
	f.x_hi = f.x_hi > 0 ? f.x_hi : 1.0;
	if (f.y_lo >= 0.0 && f.y_hi <= 1.0)
		return (struct frame){ f.x_hi, 0.0, 1.0 };
	if (f.y_hi - f.y_lo < 1e-12)
		return (struct frame){ f.x_hi, f.y_lo - 0.5, f.y_hi + 0.5 };
	return (struct frame){ f.x_hi, f.y_lo - 0.05 * (f.y_hi - f.y_lo), f.y_hi + 0.05 * (f.y_hi - f.y_lo) };
}

static enum fedc_err put_escaped(struct fedc_buf *b, const char *s)
{
	enum fedc_err rc = FEDC_OK;

	for (; !rc && *s; s++) {
		if (*s == '<')
			rc = fedc_buf_printf(b, "&lt;");
		else if (*s == '>')
			rc = fedc_buf_printf(b, "&gt;");
		else if (*s == '&')
			rc = fedc_buf_printf(b, "&amp;");
		else if (*s == '\'')
			rc = fedc_buf_printf(b, "&apos;");
		else
			rc = fedc_buf_append(b, s, 1);
	}
	return rc;
}

static enum fedc_err put_axes(struct fedc_buf *b, const struct frame *f, const char *metric)
{
	enum fedc_err rc = fedc_buf_printf(b, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' "
					      "stroke='#333'/>\n", MARGIN, MARGIN, PLOT_W, PLOT_H);

	for (int k = 0; !rc && k <= 4; k++) {
		double v = f->y_lo + (f->y_hi - f->y_lo) * k / 4.0, e = f->x_hi * k / 4.0;

		rc = fedc_buf_printf(b, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>"
					"<text x='%.1f' y='%.1f' text-anchor='end' font-size='11'>%.3g</text>"
					"<text x='%.1f' y='%.1f' text-anchor='middle' font-size='11'>%.3g</text>\n",
				     MARGIN, py(f, v), MARGIN + PLOT_W, py(f, v), MARGIN - 4, py(f, v) + 4, v, px(f, e),
				     MARGIN + PLOT_H + 16, e);
	}
	if (!rc)
		rc = fedc_buf_printf(b, "<text x='%.1f' y='%.1f' text-anchor='middle' font-size='12'>epsilon "
					"(L-infinity)</text>\n<text x='%.1f' y='%.1f' text-anchor='middle' "
					"font-size='15'>",
				     MARGIN + PLOT_W / 2, MARGIN + PLOT_H + 34, MARGIN + PLOT_W / 2, MARGIN - 14);
	if (!rc)
		rc = put_escaped(b, metric);
	return rc ? rc : fedc_buf_printf(b, " under attack</text>\n");
}

/* One attack's curve: from the clean value at 0 (unless the attack has its
 * own epsilon 0), then its epsilons ascending. */
static enum fedc_err put_curve(struct fedc_buf *b, const struct frame *f, const struct robust_report *r,
			       const size_t *rows, size_t n_rows, const char *attack, const char *metric,
			       const char *color, size_t legend_row)
{
	const struct robust_entry *clean = find(r, CLEAN, 0.0, metric);
	bool started = false;
	enum fedc_err rc = FEDC_OK;

	if (clean && !find(r, attack, 0.0, metric)) {
		rc = fedc_buf_printf(b, "<path d='M%.1f,%.1f", px(f, 0.0), py(f, clean->value));
		started = true;
	}
	for (size_t i = 0; !rc && i < n_rows; i++) {
		const struct robust_entry *row = &r->items[rows[i]], *e;

		if (strcmp(row->attack, attack) != 0 || !(e = find(r, attack, row->eps, metric)))
			continue;
		rc = fedc_buf_printf(b, "%s%.1f,%.1f", started ? " L" : "<path d='M", px(f, e->eps), py(f, e->value));
		if (!rc)
			started = true;
	}
	if (!rc && started)
		rc = fedc_buf_printf(b, "' fill='none' stroke='%s' stroke-width='2.5'/>\n", color);
	if (!rc)
		rc = fedc_buf_printf(b, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s' stroke-width='2'/>"
					"<text x='%.1f' y='%.1f' font-size='12'>",
				     MARGIN + 8, MARGIN + PLOT_H + 52 + LEGEND_H * (double)legend_row, MARGIN + 28,
				     MARGIN + PLOT_H + 52 + LEGEND_H * (double)legend_row, color, MARGIN + 34,
				     MARGIN + PLOT_H + 56 + LEGEND_H * (double)legend_row);
	if (!rc)
		rc = put_escaped(b, attack);
	return rc ? rc : fedc_buf_printf(b, "</text>\n");
}

/* The curves of every attack that has a value of `metric` (rows are sorted
 * by attack: each attack's rows are together); *drawn counts them. */
static enum fedc_err put_curves(struct fedc_buf *b, const struct frame *f, const struct robust_report *r,
				const size_t *rows, size_t n_rows, const char *metric, size_t *drawn)
{
	const char *last = CLEAN; /* never drawn as an attack */
	enum fedc_err rc = FEDC_OK;

	*drawn = 0;
	for (size_t i = 0; !rc && i < n_rows; i++) {
		const struct robust_entry *row = &r->items[rows[i]];

		if (strcmp(row->attack, last) == 0 || !find(r, row->attack, row->eps, metric))
			continue;
		rc = put_curve(b, f, r, rows, n_rows, row->attack, metric, colors[*drawn % 6], *drawn);
		last = row->attack;
		++*drawn;
	}
	return rc;
}

static enum fedc_err put_clean_line(struct fedc_buf *b, const struct frame *f, const struct robust_report *r,
				    const char *metric)
{
	const struct robust_entry *clean = find(r, CLEAN, 0.0, metric);

	if (!clean)
		return FEDC_OK;
	return fedc_buf_printf(b, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#555' "
				  "stroke-dasharray='6,4'/><text x='%.1f' y='%.1f' text-anchor='end' "
				  "font-size='11' fill='#555'>clean %.4g</text>\n",
			       MARGIN, py(f, clean->value), MARGIN + PLOT_W, py(f, clean->value), MARGIN + PLOT_W - 4,
			       py(f, clean->value) - 4, clean->value);
}

enum fedc_err robust_report__write_svg(const struct robust_report *r, const char *metric, const char *path)
{
	struct fedc_buf b = FEDC_BUF_INIT(SVG_MAX);
	size_t *rows = r->n ? malloc(r->n * sizeof(*rows)) : NULL, n_rows, drawn = 0;
	struct frame f = frame_of(r, metric);
	enum fedc_err rc = r->n && !rows ? FEDC_ERR_NOMEM : FEDC_OK;

	n_rows = rows ? collect_rows(r, rows) : 0;
	if (!rc)
		rc = fedc_buf_printf(&b, "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' "
					 "width='%.0f' height='%.0f' font-family='sans-serif'>\n<rect width='100%%' "
					 "height='100%%' fill='white'/>\n",
				     PLOT_W + 2 * MARGIN, PLOT_H + 2 * MARGIN + LEGEND_H * 4);
	if (!rc)
		rc = put_axes(&b, &f, metric);
	if (!rc)
		rc = put_clean_line(&b, &f, r, metric);
	if (!rc)
		rc = put_curves(&b, &f, r, rows, n_rows, metric, &drawn);
	if (!rc && drawn == 0)
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "no robustness result of metric \"%.64s\" under an attack to plot",
			       metric);
	if (!rc)
		rc = fedc_buf_printf(&b, "</svg>\n");
	if (!rc)
		rc = fedc_write_atomic(path, b.data, b.len);
	free(rows);
	fedc_buf_free(&b);
	return rc;
}
