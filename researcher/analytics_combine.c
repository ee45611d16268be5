/* Combining the nodes' partial results (analytics.h). A node's `result` is
 * outside bytes: it is parsed whole into a scratch list first, so that a
 * bad one adds nothing. */
#include "analytics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/num.h"

#define MAX_FIELDS 10
#define MAX_LINE 8192

struct parsed_cell {
	char group[ANALYTICS_NAME_LEN];
	uint32_t column;
	bool suppressed, has_minmax, has_sum, has_sumsq;
	double count, sum, sumsq, min, max;
	double bins[ANALYTICS_MAX_BIN_EDGES - 1];
};

struct parsed {
	char noise[16];
	double epsilon, remaining;
	double sd[ANALYTICS_MAX_COLS][4];   /* count, sum, sumsq, bin */
	uint32_t n_scales;
	size_t n_cells;
	struct parsed_cell *cells;
};

static enum fedc_err malformed(uint32_t line, const char *what)
{
	return fedc_fail(FEDC_ERR_MALFORMED, "analytics result, line %u: %s", line, what);
}

static bool parse_name(const char *s, char *out)
{
	size_t len = strlen(s);

	if (!len || len >= ANALYTICS_NAME_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	}
	memcpy(out, s, len + 1);
	return true;
}

/* Splits at tabs in place; the number of fields. */
static size_t split(char *line, char **fields)
{
	size_t n = 0;

	for (char *p = line;; p++) {
		if (n < MAX_FIELDS)
			fields[n] = p;
		n++;
		p = strchr(p, '\t');
		if (!p)
			break;
		*p = '\0';
	}
	return n;
}

static int column_index(const struct analytics_request *req, const char *name)
{
	for (uint32_t c = 0; c < req->n_columns; c++) {
		if (strcmp(req->columns[c].name, name) == 0)
			return (int)c;
	}
	return -1;
}

static enum fedc_err parse_bins(const char *s, const struct analytics_request_col *col, double *bins, uint32_t line)
{
	uint32_t want = col->n_edges ? col->n_edges - 1 : 0, n = 0;
	char buf[MAX_LINE], *save = NULL;

	if (strcmp(s, "-") == 0)
		return want ? malformed(line, "histogram missing") : FEDC_OK;
	if (strlen(s) >= sizeof(buf))
		return malformed(line, "histogram too long");
	strcpy(buf, s);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n >= want || !fedc_parse_double(t, &bins[n]))
			return malformed(line, "histogram: not one number per asked bin");
		n++;
	}
	return n == want ? FEDC_OK : malformed(line, "histogram: not one number per asked bin");
}

static enum fedc_err parse_cell(const struct analytics_request *req, char **f, size_t n, bool suppressed,
				struct parsed_cell *cell, uint32_t line)
{
	int col;

	memset(cell, 0, sizeof(*cell));
	if (n != (suppressed ? 4u : 9u))
		return malformed(line, suppressed ? "a suppressed cell has 4 fields" : "a cell has 9 fields");
	col = column_index(req, f[2]);
	if (!parse_name(f[1], cell->group) || col < 0)
		return malformed(line, "a group name, or a column that was not asked for");
	cell->column = (uint32_t)col;
	cell->suppressed = suppressed;
	if (suppressed)
		return FEDC_OK;
	cell->has_sum = strcmp(f[4], "-") != 0;
	cell->has_sumsq = strcmp(f[5], "-") != 0;
	if (!fedc_parse_double(f[3], &cell->count) || (cell->has_sum && !fedc_parse_double(f[4], &cell->sum)) ||
	    (cell->has_sumsq && !fedc_parse_double(f[5], &cell->sumsq)))
		return malformed(line, "count, sum or sum of squares is not a finite number (or - for one not released)");
	cell->has_minmax = strcmp(f[6], "-") != 0 || strcmp(f[7], "-") != 0;
	if (cell->has_minmax && (!fedc_parse_double(f[6], &cell->min) || !fedc_parse_double(f[7], &cell->max)))
		return malformed(line, "min or max is not a finite number");
	return parse_bins(f[8], &req->columns[col], cell->bins, line);
}

static enum fedc_err parse_line(const struct analytics_request *req, char *text, struct parsed *p, uint32_t line)
{
	char *f[MAX_FIELDS];
	size_t n = split(text, f);

	if (line == 1)
		return n == 2 && strcmp(f[0], "fedc-analytics") == 0 && strcmp(f[1], "1") == 0
			       ? FEDC_OK
			       : malformed(line, "not \"fedc-analytics 1\"");
	if (strcmp(f[0], "noise") == 0) {
		if (n != 4 || strlen(f[1]) >= sizeof(p->noise) || !fedc_parse_double(f[2], &p->epsilon) ||
		    !fedc_parse_double(f[3], &p->remaining))
			return malformed(line, "noise KIND EPSILON REMAINING");
		strcpy(p->noise, f[1]);
		return FEDC_OK;
	}
	if (strcmp(f[0], "scale") == 0) {
		if (n != 6 || p->n_scales >= req->n_columns || column_index(req, f[1]) != (int)p->n_scales)
			return malformed(line, "scale lines: one per asked column, in order");
		for (int k = 0; k < 4; k++) {
			if (!fedc_parse_double(f[2 + k], &p->sd[p->n_scales][k]) || p->sd[p->n_scales][k] < 0)
				return malformed(line, "a noise scale is not a finite number >= 0");
		}
		p->n_scales++;
		return FEDC_OK;
	}
	if (strcmp(f[0], "cell") == 0 || strcmp(f[0], "suppressed") == 0) {
		if (p->n_cells >= ANALYTICS_MAX_CELLS)
			return fedc_fail(FEDC_ERR_TOO_BIG, "analytics result: more than %d cells", ANALYTICS_MAX_CELLS);
		return parse_cell(req, f, n < MAX_FIELDS ? n : MAX_FIELDS + 1, f[0][0] == 's', &p->cells[p->n_cells++],
				  line);
	}
	return malformed(line, "unknown line");
}

static enum fedc_err parse_result(const struct analytics_request *req, const uint8_t *text, size_t len,
				  struct parsed *p)
{
	char line[MAX_LINE];
	size_t pos = 0;
	uint32_t number = 0;
	enum fedc_err rc = FEDC_OK;

	if (memchr(text, '\0', len))
		return malformed(0, "a NUL byte");
	while (!rc && pos < len) {
		const uint8_t *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;

		if (!nl)
			return malformed(number + 1, "not ended by a newline");
		if (l >= sizeof(line))
			return malformed(number + 1, "too long");
		memcpy(line, text + pos, l);
		line[l] = '\0';
		pos += l + 1;
		rc = parse_line(req, line, p, ++number);
	}
	if (!rc && (number == 0 || !p->noise[0] || p->n_scales != req->n_columns))
		rc = malformed(number, "the header, noise or scale lines are missing");
	return rc;
}

static struct analytics_total *total_for(struct analytics_combined *c, const struct parsed_cell *cell)
{
	struct analytics_total *t;

	for (size_t i = 0; i < c->n_totals; i++) {
		t = &c->totals[i];
		if (t->column == cell->column && strcmp(t->group, cell->group) == 0)
			return t;
	}
	if (c->n_totals >= ANALYTICS_MAX_CELLS)
		return NULL;
	t = &c->totals[c->n_totals++];
	memset(t, 0, sizeof(*t));
	strcpy(t->group, cell->group);
	t->column = cell->column;
	t->has_minmax = t->has_sum = t->has_sumsq = true;
	return t;
}

static void add_cell(struct analytics_total *t, const struct parsed_cell *cell, const double *sd, uint32_t n_bins)
{
	if (cell->suppressed) {
		t->n_suppressed++;
		return;
	}
	t->min = t->n_nodes == 0 || cell->min < t->min ? cell->min : t->min;
	t->max = t->n_nodes == 0 || cell->max > t->max ? cell->max : t->max;
	t->has_minmax = t->has_minmax && cell->has_minmax;
	t->has_sum = t->has_sum && cell->has_sum;
	t->has_sumsq = t->has_sumsq && cell->has_sumsq;
	t->n_nodes++;
	t->count += cell->count;
	t->sum += cell->sum;
	t->sumsq += cell->sumsq;
	for (uint32_t b = 0; b < n_bins; b++)
		t->bins[b] += cell->bins[b];
	t->var_count += sd[0] * sd[0];
	t->var_sum += sd[1] * sd[1];
	t->var_sumsq += sd[2] * sd[2];
	t->var_bin += sd[3] * sd[3];
}

enum fedc_err analytics__combine(struct analytics_combined *c, const char *node_id, const char *dataset_id,
				 const uint8_t *text, size_t len)
{
	struct parsed *p = calloc(1, sizeof(*p));
	enum fedc_err rc = FEDC_OK;

	if (p)
		p->cells = calloc(ANALYTICS_MAX_CELLS, sizeof(*p->cells));
	if (!p || !p->cells)
		rc = fedc_fail(FEDC_ERR_NOMEM, "out of memory for a node's analytics result");
	if (!rc && c->n_nodes >= sizeof(c->nodes) / sizeof(c->nodes[0]))
		rc = fedc_fail(FEDC_ERR_TOO_BIG, "more than 64 nodes answered");
	if (!rc)
		rc = parse_result(c->req, text, len, p);
	for (size_t i = 0; !rc && i < p->n_cells; i++) {
		if (!total_for(c, &p->cells[i]))
			rc = fedc_fail(FEDC_ERR_TOO_BIG, "more than %d group and column cells", ANALYTICS_MAX_CELLS);
	}
	for (size_t i = 0; !rc && i < p->n_cells; i++) {
		const struct analytics_request_col *col = &c->req->columns[p->cells[i].column];

		add_cell(total_for(c, &p->cells[i]), &p->cells[i], p->sd[p->cells[i].column],
			 col->n_edges ? col->n_edges - 1 : 0);
	}
	if (!rc) {
		struct analytics_node_info *n = &c->nodes[c->n_nodes++];

		snprintf(n->node_id, sizeof(n->node_id), "%s", node_id);
		snprintf(n->dataset_id, sizeof(n->dataset_id), "%s", dataset_id);
		snprintf(n->noise, sizeof(n->noise), "%s", p->noise);
		n->epsilon = p->epsilon;
		n->remaining = p->remaining;
	}
	if (p)
		free(p->cells);
	free(p);
	return rc;
}

enum fedc_err analytics__combined_init(struct analytics_combined *c, const struct analytics_request *req)
{
	memset(c, 0, sizeof(*c));
	c->req = req;
	c->totals = calloc(ANALYTICS_MAX_CELLS, sizeof(*c->totals));
	return c->totals ? FEDC_OK : fedc_fail(FEDC_ERR_NOMEM, "out of memory for the combined results");
}

void analytics__combined_free(struct analytics_combined *c)
{
	free(c->totals);
	c->totals = NULL;
}

double analytics__mean(const struct analytics_total *t)
{
	return t->count > 0 && t->has_sum && t->n_nodes ? t->sum / t->count : NAN;
}

double analytics__variance(const struct analytics_total *t)
{
	double v;

	if (!(t->count > 1) || !t->has_sum || !t->has_sumsq || !t->n_nodes)
		return NAN;
	v = (t->sumsq - t->sum * t->sum / t->count) / (t->count - 1);
	return v < 0 ? 0 : v; /* noise (or rounding) can push it below */
}

double analytics__quantile(const struct analytics_total *t, const struct analytics_request_col *col, double q)
{
	uint32_t n_bins = col->n_edges ? col->n_edges - 1 : 0;
	double total = 0, target, seen = 0;

	for (uint32_t b = 0; b < n_bins; b++)
		total += t->bins[b] > 0 ? t->bins[b] : 0; /* a noisy bin below 0 holds nothing */
	if (!(total > 0))
		return NAN;
	target = q * total;
	for (uint32_t b = 0; b < n_bins; b++) {
		double in = t->bins[b] > 0 ? t->bins[b] : 0;

		if (in > 0 && seen + in >= target)
			return col->edges[b] + (col->edges[b + 1] - col->edges[b]) * (target - seen) / in;
		seen += in;
	}
	return col->edges[n_bins];
}

static int by_group_column(const void *a, const void *b)
{
	const struct analytics_total *x = a, *y = b;
	int g = strcmp(x->group, y->group);

	return g ? g : (x->column > y->column) - (x->column < y->column);
}

static int by_node(const void *a, const void *b)
{
	return strcmp(((const struct analytics_node_info *)a)->node_id, ((const struct analytics_node_info *)b)->node_id);
}

void analytics__combined_sort(struct analytics_combined *c)
{
	qsort(c->totals, c->n_totals, sizeof(*c->totals), by_group_column);
	qsort(c->nodes, c->n_nodes, sizeof(*c->nodes), by_node);
}
