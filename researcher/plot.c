/* Learning curves as SVG (see plot.h). Two panels: losses (the sample-weighted
 * training loss, the loss of the model sent, and each node's training loss)
 * and the accuracy of the model sent, per round. */
#include "plot.h"

#include "fedc/buf.h"
#include "fedc/fs.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SERIES 40            /* curves per panel; more nodes are left out */
#define MAX_COLS 32
#define PANEL_W 460.0
#define PANEL_H 320.0
#define MARGIN 56.0
#define MAX_POINTS (2u << 20)    /* points per curve: a row per round (1,000,000 at most) and its retries */

struct point {
	double x, y;
};

struct series {
	char name[80];
	const char *color;
	bool thin;
	struct fedc_buf points; /* struct point[n], at most MAX_POINTS */
	size_t n;
};

static const struct point *points_of(const struct series *s)
{
	return (const struct point *)(const void *)s->points.data;
}

struct panel {
	const char *title;
	struct series series[MAX_SERIES];
	size_t n;
};

/* ---- reading the history CSV files ---- */

struct csv_row {
	char *cols[MAX_COLS];
	size_t n;
};

/* Splits `line` in place at commas (the history files quote only their last
 * column, `reason`, which is never read here). */
static void split(char *line, struct csv_row *row)
{
	char *p = line;

	line[strcspn(line, "\r\n")] = '\0';
	row->n = 0;
	while (row->n < MAX_COLS) {
		row->cols[row->n++] = p;
		p = strchr(p, ',');
		if (!p)
			break;
		*p++ = '\0';
	}
}

static int column(const struct csv_row *header, const char *name)
{
	for (size_t i = 0; i < header->n; i++) {
		if (strcmp(header->cols[i], name) == 0)
			return (int)i;
	}
	return -1;
}

/* "nan" and "" (a missing value) read as NaN: the curve has a gap there. */
static bool parse_value(const char *text, double *out)
{
	char *end;

	if (!text[0] || strcmp(text, "nan") == 0 || strcmp(text, "-nan") == 0) {
		*out = NAN;
		return true;
	}
	errno = 0;
	*out = strtod(text, &end);
	return errno == 0 && *end == '\0';
}

static enum fedc_err add_point(struct series *s, double x, double y, const char *path)
{
	void *at;
	enum fedc_err rc = fedc_buf_extend(&s->points, sizeof(struct point), &at);

	if (rc == FEDC_ERR_TOO_BIG)
		return fedc_fail(rc, "%s: more than %u rounds for the curve \"%s\"", path, MAX_POINTS, s->name);
	if (rc)
		return rc;
	*(struct point *)at = (struct point){ x, y };
	s->n++;
	return FEDC_OK;
}

static struct series *series_for(struct panel *p, const char *name, const char *color, bool thin)
{
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->series[i].name, name) == 0)
			return &p->series[i];
	}
	if (p->n == MAX_SERIES)
		return NULL;
	snprintf(p->series[p->n].name, sizeof(p->series[0].name), "%s", name);
	p->series[p->n].color = color;
	p->series[p->n].thin = thin;
	fedc_buf_init(&p->series[p->n].points, (size_t)MAX_POINTS * sizeof(struct point));
	return &p->series[p->n++];
}

/* Reads `dir/name` row by row; `each` gets the header and every row of kind
 * `train` (final evaluation rows are not rounds). */
typedef enum fedc_err (*row_fn)(void *ctx, const struct csv_row *header, const struct csv_row *row,
				const char *path, unsigned line);

static enum fedc_err read_csv(const char *dir, const char *name, row_fn each, void *ctx)
{
	char path[4200], header_line[1024], line[8192];
	struct csv_row header, row;
	enum fedc_err rc = FEDC_OK;
	unsigned n = 1;
	FILE *f;
	int kind;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return fedc_fail(FEDC_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	if (!fgets(header_line, sizeof(header_line), f)) {
		fclose(f);
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: empty (not a fedc history file)", path);
	}
	split(header_line, &header);
	kind = column(&header, "kind");
	if (kind < 0 || column(&header, "round") != 0)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s:1: not a fedc history file (no round and kind columns)", path);
	while (!rc && fgets(line, sizeof(line), f)) {
		n++;
		split(line, &row);
		if (row.n < header.n - (column(&header, "reason") >= 0))
			rc = fedc_fail(FEDC_ERR_MALFORMED, "%s:%u: %zu columns, the header has %zu", path, n, row.n,
				       header.n);
		else if (strcmp(row.cols[kind], "train") == 0)
			rc = each(ctx, &header, &row, path, n);
	}
	fclose(f);
	return rc;
}

static enum fedc_err read_point(struct series *s, const struct csv_row *header, const struct csv_row *row,
				const char *col, const char *path, unsigned line)
{
	int c = column(header, col);
	double x, y;

	if (!s)
		return FEDC_OK;
	if (c < 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: no %s column", path, col);
	if (!parse_value(row->cols[0], &x) || isnan(x) || !parse_value(row->cols[c], &y))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s:%u: %s: not a number", path, line, col);
	return add_point(s, x, y, path);
}

struct curves {
	struct panel loss, accuracy;
	size_t rounds;
};

static enum fedc_err on_round(void *ctx, const struct csv_row *header, const struct csv_row *row, const char *path,
			      unsigned line)
{
	struct curves *c = ctx;
	enum fedc_err rc;

	c->rounds++;
	rc = read_point(series_for(&c->loss, "training loss (weighted mean)", "#1f77b4", false), header, row,
			"train_loss", path, line);
	if (!rc)
		rc = read_point(series_for(&c->loss, "loss of the model sent", "#d62728", false), header, row,
				"global_loss", path, line);
	if (!rc)
		rc = read_point(series_for(&c->accuracy, "accuracy of the model sent", "#2ca02c", false), header,
				row, "global_accuracy", path, line);
	return rc;
}

static enum fedc_err on_node(void *ctx, const struct csv_row *header, const struct csv_row *row, const char *path,
			     unsigned line)
{
	struct curves *c = ctx;
	int node = column(header, "node_id");
	char name[80];

	if (node < 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: no node_id column", path);
	snprintf(name, sizeof(name), "node %.60s", row->cols[node]);
	return read_point(series_for(&c->loss, name, "#999999", true), header, row, "train_loss", path, line);
}

/* ---- drawing ---- */

struct range {
	double lo, hi;
};

static void widen(struct range *r, const struct panel *p, bool x)
{
	for (size_t i = 0; i < p->n; i++) {
		for (size_t k = 0; k < p->series[i].n; k++) {
			const struct point *pt = &points_of(&p->series[i])[k];
			double v = x ? pt->x : pt->y;

			if (isfinite(v)) {
				r->lo = fmin(r->lo, v);
				r->hi = fmax(r->hi, v);
			}
		}
	}
}

/* A tick step of 1, 2 or 5 times a power of ten giving about five ticks. */
static double tick_step(struct range r)
{
	double span = r.hi - r.lo > 0 ? r.hi - r.lo : 1, raw = span / 5, mag = pow(10, floor(log10(raw)));

	return raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
}

static void draw_axes(FILE *f, double ox, struct range xr, struct range yr, const char *title)
{
	double sx = PANEL_W / (xr.hi - xr.lo), sy = PANEL_H / (yr.hi - yr.lo), step;

	fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#333'/>\n", ox, MARGIN,
		PANEL_W, PANEL_H);
	fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='middle' font-size='15'>", ox + PANEL_W / 2, MARGIN - 12);
	xml_text(f, title);
	fputs("</text>\n", f);
	step = tick_step(yr);
	for (double v = ceil(yr.lo / step) * step; v <= yr.hi + step * 1e-9; v += step) {
		double y = MARGIN + PANEL_H - (v - yr.lo) * sy;

		fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>", ox, y, ox + PANEL_W, y);
		/* v is a sum of steps: snap what is 0 up to rounding to 0, not "-0" */
		fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='end' font-size='11'>%g</text>\n", ox - 4, y + 4,
			fabs(v) < step * 1e-9 ? 0.0 : v);
	}
	step = fmax(1, round(tick_step(xr)));
	for (double v = ceil(xr.lo / step) * step; v <= xr.hi + 1e-9; v += step)
		fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='middle' font-size='11'>%g</text>\n",
			ox + (v - xr.lo) * sx, MARGIN + PANEL_H + 16, v);
	fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='middle' font-size='12'>round</text>\n", ox + PANEL_W / 2,
		MARGIN + PANEL_H + 34);
}

/* One <path>; a round without a value lifts the pen (a gap, not a drop to 0). */
static void draw_series(FILE *f, double ox, struct range xr, struct range yr, const struct series *s)
{
	double sx = PANEL_W / (xr.hi - xr.lo), sy = PANEL_H / (yr.hi - yr.lo);
	const struct point *pt = points_of(s);
	bool started = false, pen_down = false;

	for (size_t k = 0; k < s->n; k++) {
		if (!isfinite(pt[k].y)) {
			pen_down = false;
			continue;
		}
		if (!started)
			fputs("<path d='", f);
		fprintf(f, "%s%.1f,%.1f", pen_down ? " L" : started ? " M" : "M", ox + (pt[k].x - xr.lo) * sx,
			MARGIN + PANEL_H - (pt[k].y - yr.lo) * sy);
		started = pen_down = true;
	}
	if (started)
		fprintf(f, "' fill='none' stroke='%s' stroke-width='%s'/>\n", s->color, s->thin ? "1" : "2.5");
}

static void draw_panel(FILE *f, double ox, const struct panel *p, struct range xr, struct range yr)
{
	draw_axes(f, ox, xr, yr, p->title);
	for (size_t i = p->n; i-- > 0;) /* thin node curves first, under the means */
		draw_series(f, ox, xr, yr, &p->series[i]);
	for (size_t i = 0, row = 0; i < p->n; i++) {
		if (p->series[i].thin && i > 0 && p->series[i - 1].thin)
			continue; /* one legend entry for all node curves */
		fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s' stroke-width='2'/>", ox + 8,
			MARGIN + PANEL_H + 52 + 16.0 * (double)row, ox + 28, MARGIN + PANEL_H + 52 + 16.0 * (double)row,
			p->series[i].color);
		fprintf(f, "<text x='%.1f' y='%.1f' font-size='12'>", ox + 34, MARGIN + PANEL_H + 56 + 16.0 * (double)row);
		xml_text(f, p->series[i].thin ? "training loss of each node" : p->series[i].name);
		fputs("</text>\n", f);
		row++;
	}
}

/* Data ranges padded so that no curve sits on the frame; a flat curve gets
 * a unit-wide band. */
static struct range padded(struct range r)
{
	double pad;

	if (!(r.hi >= r.lo))
		return (struct range){ 0, 1 };
	pad = r.hi > r.lo ? (r.hi - r.lo) * 0.05 : 0.5;
	return (struct range){ r.lo - pad, r.hi + pad };
}

/* Writes the SVG through a fedc_atomic_file: a reader never sees half a
 * picture, and a failure leaves the old file and no temporary one. */
static enum fedc_err write_svg(const struct curves *c, const char *path)
{
	struct range xr = { INFINITY, -INFINITY }, lr = { INFINITY, -INFINITY }, ar = { 0, 1 };
	double width = 2 * PANEL_W + 3 * MARGIN + 20, height = PANEL_H + 2 * MARGIN + 16.0 * 4;
	struct fedc_atomic_file af;
	enum fedc_err rc;
	FILE *f = NULL;
	int fd;

	widen(&xr, &c->loss, true);
	widen(&lr, &c->loss, false);
	widen(&ar, &c->accuracy, false);
	xr = xr.hi > xr.lo ? xr : (struct range){ xr.lo - 1, xr.lo + 1 };
	rc = fedc_atomic_begin(&af, path, 0644);
	if (rc)
		return rc;
	/* stdio on a second descriptor: fclose() must not close af.fd, which
	 * commit still needs */
	fd = dup(af.fd);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		rc = fedc_fail(FEDC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fprintf(f, "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' "
		   "height='%.0f' font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
		width, height);
	draw_panel(f, MARGIN, &c->loss, xr, padded(lr));
	draw_panel(f, 2 * MARGIN + PANEL_W + 20, &c->accuracy, xr, padded(ar));
	fputs("</svg>\n", f);
	if (ferror(f) | fclose(f)) /* both: fclose flushes, and must run */
		rc = fedc_fail(FEDC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
out:
	if (rc) {
		fedc_atomic_abort(&af);
		return rc;
	}
	return fedc_atomic_commit(&af);
}

static void free_panel(struct panel *p)
{
	for (size_t i = 0; i < p->n; i++)
		fedc_buf_free(&p->series[i].points);
}

enum fedc_err plot__render(const char *dir, const char *out_path)
{
	struct curves *c = calloc(1, sizeof(*c));
	enum fedc_err rc;

	if (!c)
		return FEDC_ERR_NOMEM;
	c->loss.title = "loss";
	c->accuracy.title = "accuracy of the model sent (nodes' test rows)";
	rc = read_csv(dir, "rounds.csv", on_round, c);
	if (!rc)
		rc = read_csv(dir, "nodes.csv", on_node, c);
	if (!rc && c->rounds == 0)
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "%s/rounds.csv: no training round to plot yet", dir);
	if (!rc)
		rc = write_svg(c, out_path);
	free_panel(&c->loss);
	free_panel(&c->accuracy);
	free(c);
	return rc;
}

/* ---- heatmaps ---- */

#define CELL_W 92.0
#define CELL_H 30.0
#define LABEL_W 170.0
#define MAP_GAP 70.0

/* Light (the map's worst) to dark blue (its best), as t runs 0 to 1. */
static void cell_colour(double t, char *out, size_t cap)
{
	int r = (int)lround(239 - t * (239 - 8)), g = (int)lround(243 - t * (243 - 69)),
	    b = (int)lround(255 - t * (255 - 148));

	snprintf(out, cap, "#%02x%02x%02x", r, g, b);
}

static struct range finite_range(const struct plot_heatmap *h)
{
	struct range r = { INFINITY, -INFINITY };

	for (size_t i = 0; i < h->n_rows * h->n_cols; i++) {
		if (isfinite(h->values[i])) {
			r.lo = fmin(r.lo, h->values[i]);
			r.hi = fmax(r.hi, h->values[i]);
		}
	}
	return r;
}

static void draw_cell(FILE *f, double x, double y, double v, struct range r, bool lower_better)
{
	char colour[8];
	double t;

	if (!isfinite(v)) {
		fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='#bbb' stroke='white'/>"
			   "<text x='%.1f' y='%.1f' text-anchor='middle' font-size='12'>-</text>\n",
			x, y, CELL_W, CELL_H, x + CELL_W / 2, y + CELL_H / 2 + 4);
		return;
	}
	t = r.hi > r.lo ? (v - r.lo) / (r.hi - r.lo) : 1.0;
	if (lower_better)
		t = 1.0 - t;
	cell_colour(t, colour, sizeof(colour));
	fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s' stroke='white'/>"
		   "<text x='%.1f' y='%.1f' text-anchor='middle' font-size='12' fill='%s'>%.4g</text>\n",
		x, y, CELL_W, CELL_H, colour, x + CELL_W / 2, y + CELL_H / 2 + 4, t > 0.55 ? "white" : "black", v);
}

/* One map with its top-left corner at y0; returns its height. */
static double draw_heatmap(FILE *f, const struct plot_heatmap *h, double y0)
{
	struct range r = finite_range(h);
	double top = y0 + 40;

	fprintf(f, "<text x='%.1f' y='%.1f' font-size='15'>", MARGIN, y0 + 14);
	xml_text(f, h->title);
	fputs("</text>\n", f);
	for (size_t c = 0; c < h->n_cols; c++) {
		fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='middle' font-size='12'>",
			MARGIN + LABEL_W + CELL_W * ((double)c + 0.5), top - 6);
		xml_text(f, h->col_labels[c]);
		fputs("</text>\n", f);
	}
	for (size_t row = 0; row < h->n_rows; row++) {
		double y = top + CELL_H * (double)row;

		fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='end' font-size='12'>", MARGIN + LABEL_W - 8,
			y + CELL_H / 2 + 4);
		xml_text(f, h->row_labels[row]);
		fputs("</text>\n", f);
		for (size_t c = 0; c < h->n_cols; c++)
			draw_cell(f, MARGIN + LABEL_W + CELL_W * (double)c, y, h->values[row * h->n_cols + c], r,
				  h->lower_better);
	}
	return 40 + CELL_H * (double)h->n_rows;
}

enum fedc_err plot__heatmaps(const char *out_path, const struct plot_heatmap *maps, size_t n, const char *caption)
{
	double width = 2 * MARGIN + LABEL_W, height = MARGIN + 40, y = MARGIN;
	struct fedc_atomic_file af;
	enum fedc_err rc;
	FILE *f = NULL;
	int fd;

	if (n == 0)
		return fedc_fail(FEDC_ERR_INVAL, "%s: no values to draw", out_path);
	for (size_t i = 0; i < n; i++) {
		width = fmax(width, 2 * MARGIN + LABEL_W + CELL_W * (double)maps[i].n_cols);
		height += 40 + CELL_H * (double)maps[i].n_rows + MAP_GAP;
	}
	rc = fedc_atomic_begin(&af, out_path, 0644);
	if (rc)
		return rc;
	fd = dup(af.fd); /* as write_svg */
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		rc = fedc_fail(FEDC_ERR_IO, "cannot write %s: %s", out_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		fedc_atomic_abort(&af);
		return rc;
	}
	fprintf(f, "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' "
		   "height='%.0f' font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
		width, height);
	for (size_t i = 0; i < n; i++)
		y += draw_heatmap(f, &maps[i], y) + MAP_GAP;
	fprintf(f, "<text x='%.1f' y='%.1f' font-size='12'>", MARGIN, y - MAP_GAP + 24);
	xml_text(f, caption);
	fputs("</text>\n</svg>\n", f);
	if (ferror(f) | fclose(f))
		rc = fedc_fail(FEDC_ERR_IO, "cannot write %s: %s", out_path, strerror(errno));
	if (rc) {
		fedc_atomic_abort(&af);
		return rc;
	}
	return fedc_atomic_commit(&af);
}
