/* The live view of a round (see progress.h). */
#include "progress.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fedc/limits.h"

#define REDRAW_EVERY_MS 100     /* terminal: at most ten redraws a second */
#define PLAIN_EVERY_MS 1000     /* plain lines: at most one per node a second */
#define DEFAULT_WIDTH 100

enum node_state { NODE_TRAINING, NODE_ANSWERED, NODE_FAILED };

struct progress_node {
	char id[FEDC_MAX_ID_LEN + 1];
	enum node_state state;
	bool has_value;
	char name[FEDC_MAX_NAME_LEN + 1];
	double value;
	uint64_t iteration;
	uint32_t epoch;
	int64_t last_plain_ms;
};

struct progress {
	FILE *out;
	bool tty;
	uint32_t round, rounds;
	struct progress_node *nodes;
	size_t n;
	int64_t last_draw_ms;
	bool drawn;
	double epsilon; /* NaN: DP off */
};

bool progress__is_tty(FILE *out)
{
	return isatty(fileno(out)) == 1;
}

enum fedc_err progress__new(FILE *out, bool tty, struct progress **out_progress)
{
	struct progress *pg = calloc(1, sizeof(*pg));

	*out_progress = NULL;
	if (!pg)
		return FEDC_ERR_NOMEM;
	pg->out = out;
	pg->tty = tty;
	pg->epsilon = NAN;
	*out_progress = pg;
	return FEDC_OK;
}

void progress__set_epsilon(struct progress *pg, double epsilon)
{
	if (pg)
		pg->epsilon = epsilon;
}

void progress__free(struct progress *pg)
{
	if (!pg)
		return;
	progress__round_end(pg);
	free(pg->nodes);
	free(pg);
}

enum fedc_err progress__round_begin(struct progress *pg, uint32_t round, uint32_t rounds,
				    const char *const *node_ids, size_t n)
{
	struct progress_node *nodes = calloc(n ? n : 1, sizeof(*nodes));

	if (!nodes)
		return FEDC_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		snprintf(nodes[i].id, sizeof(nodes[i].id), "%s", node_ids[i]);
	free(pg->nodes);
	pg->nodes = nodes;
	pg->n = n;
	pg->round = round;
	pg->rounds = rounds;
	pg->last_draw_ms = 0;
	return FEDC_OK;
}

static struct progress_node *find(struct progress *pg, const char *node_id)
{
	for (size_t i = 0; i < pg->n; i++) {
		if (strcmp(pg->nodes[i].id, node_id) == 0)
			return &pg->nodes[i];
	}
	return NULL;
}

static int terminal_width(const struct progress *pg)
{
	struct winsize ws;

	if (ioctl(fileno(pg->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return DEFAULT_WIDTH;
}

/* Appends to `line` what fits; returns false once it is full. */
static bool append(char *line, size_t cap, size_t *used, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static bool append(char *line, size_t cap, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= cap - 1)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(line + *used, cap - *used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *used) {
		*used = cap - 1;
		return false;
	}
	*used += (size_t)n;
	return true;
}

/* "round 3/10", or "final evaluation" for the round after the last one. */
static const char *label(const struct progress *pg, char *buf, size_t cap)
{
	if (pg->round > pg->rounds)
		return "final evaluation";
	if (isnan(pg->epsilon))
		snprintf(buf, cap, "round %" PRIu32 "/%" PRIu32, pg->round, pg->rounds);
	else
		snprintf(buf, cap, "round %" PRIu32 "/%" PRIu32 " (epsilon %.3f)", pg->round, pg->rounds, pg->epsilon);
	return buf;
}

/* "round 3/10  training 2  answered 1  failed 0 | h-0 loss 0.3102 e1 i120 ..."
 * cut to the terminal's width. */
static void redraw(struct progress *pg)
{
	size_t counts[3] = { 0, 0, 0 }, used = 0, cap = (size_t)terminal_width(pg);
	char line[512], what[64];

	if (cap >= sizeof(line))
		cap = sizeof(line) - 1;
	for (size_t i = 0; i < pg->n; i++)
		counts[pg->nodes[i].state]++;
	append(line, cap, &used, "%s  training %zu  answered %zu  failed %zu |", label(pg, what, sizeof(what)),
	       counts[NODE_TRAINING], counts[NODE_ANSWERED], counts[NODE_FAILED]);
	for (size_t i = 0; i < pg->n; i++) {
		const struct progress_node *nd = &pg->nodes[i];

		if (nd->state != NODE_TRAINING || !nd->has_value)
			continue;
		if (!append(line, cap, &used, " %s %s %.4f e%" PRIu32 " i%" PRIu64, nd->id, nd->name, nd->value,
			    nd->epoch, nd->iteration))
			break;
	}
	fprintf(pg->out, "\r\033[K%.*s", (int)used, line);
	fflush(pg->out);
	pg->drawn = true;
}

static void maybe_redraw(struct progress *pg, int64_t now_ms, bool force)
{
	if (!pg->tty || (!force && now_ms - pg->last_draw_ms < REDRAW_EVERY_MS))
		return;
	pg->last_draw_ms = now_ms;
	redraw(pg);
}

void progress__scalar(struct progress *pg, int64_t now_ms, const char *node_id, const char *name, double value,
		      uint64_t iteration, uint32_t epoch)
{
	struct progress_node *nd = find(pg, node_id);

	if (!nd)
		return;
	nd->has_value = true;
	snprintf(nd->name, sizeof(nd->name), "%s", name);
	nd->value = value;
	nd->iteration = iteration;
	nd->epoch = epoch;
	if (pg->tty) {
		maybe_redraw(pg, now_ms, false);
		return;
	}
	if (nd->last_plain_ms && now_ms - nd->last_plain_ms < PLAIN_EVERY_MS)
		return;
	nd->last_plain_ms = now_ms;
	if (pg->round > pg->rounds)
		fprintf(pg->out, "  live  final evaluation");
	else
		fprintf(pg->out, "  live  round %" PRIu32, pg->round);
	if (pg->round <= pg->rounds && !isnan(pg->epsilon)) /* node-level DP */
		fprintf(pg->out, " (epsilon %.3f)", pg->epsilon);
	fprintf(pg->out, "  node %s  %s %.4f  epoch %" PRIu32 "  iteration %" PRIu64 "\n", nd->id, nd->name, nd->value,
		nd->epoch, nd->iteration);
	fflush(pg->out);
}

static void set_state(struct progress *pg, int64_t now_ms, const char *node_id, enum node_state state)
{
	struct progress_node *nd = find(pg, node_id);

	if (!nd)
		return;
	nd->state = state;
	maybe_redraw(pg, now_ms, true);
}

void progress__answered(struct progress *pg, int64_t now_ms, const char *node_id)
{
	set_state(pg, now_ms, node_id, NODE_ANSWERED);
}

void progress__failed(struct progress *pg, int64_t now_ms, const char *node_id)
{
	set_state(pg, now_ms, node_id, NODE_FAILED);
}

void progress__round_end(struct progress *pg)
{
	if (pg->tty && pg->drawn) {
		fputs("\r\033[K", pg->out);
		fflush(pg->out);
	}
	pg->drawn = false;
}
