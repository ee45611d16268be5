/* The live status file of a run: the writer (see status.h). */
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "fedc/log.h"
#include "job_internal.h"
#include "json_kv.h"
#include "privacy.h"

/* While rounds run, at most one write a second: each write is a new file
 * renamed over the last (a new inode, the old one freed), and at many short
 * rounds a second three writes a round were the researcher's largest file
 * cost (docs/benchmarks.md, "Central CPU per node-round"). So the requests
 * going out are written at once (the round and its nodes at work), the
 * other changes of a round at most a second apart: one that comes sooner
 * waits (dirty) until job__collect wakes for status__due_ms, the next
 * round's requests, or the run's end. */
#define WRITE_EVERY_MS 1000

struct job_status {
	char path[EXP_PATH_MAX + 32];
	char tmp[EXP_PATH_MAX + 32];
	const char *phase;
	uint32_t round;
	bool evaluating, sent;
	double started_at, round_started_at;
	double seconds_sum;       /* training rounds run by this process */
	uint32_t rounds_timed;
	json_t *last_round;       /* null until a round ended */
	json_t *last_by_node;     /* node id -> {"round", "metrics", "global_metrics"} */
	json_t *best;             /* keep_best, or null */
	int64_t last_write_ms;
	bool dirty;               /* a change not yet written */
	bool warned;
};

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum fedc_err status__new(const struct job *j, struct job_status **out)
{
	struct job_status *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return FEDC_ERR_NOMEM;
	snprintf(s->path, sizeof(s->path), "%s/" STATUS_FILE, j->exp->output_dir);
	snprintf(s->tmp, sizeof(s->tmp), "%s/." STATUS_FILE ".tmp", j->exp->output_dir);
	s->phase = "starting";
	s->round = j->first_round > 0 ? j->first_round - 1 : 0;
	s->started_at = wall_now();
	s->last_round = json_null();
	s->best = json_null();
	s->last_by_node = json_object();
	if (!s->last_by_node) {
		status__free(s);
		return FEDC_ERR_NOMEM;
	}
	*out = s;
	return FEDC_OK;
}

void status__free(struct job_status *s)
{
	if (!s)
		return;
	json_decref(s->last_round);
	json_decref(s->last_by_node);
	json_decref(s->best);
	free(s);
}

/* What a participant is doing this round, in the words of status.h. */
static const char *node_state(const struct job_status *s, const struct participant *p)
{
	if (!p->selected)
		return "not selected";
	if (!s->sent)
		return "selected";
	switch (p->state) {
	case PART_WAITING:
		return "training";
	case PART_FETCHING:
	case PART_ANSWERED:
		return "replied";
	case PART_FAILED:
		return p->status && strcmp(p->status, "offline") == 0 ? "dropped" : "failed";
	case PART_IDLE: /* strategy = cyclic: a node of the chain before its turn */
		return p->step ? "queued" : "not selected";
	default:
		return "not selected";
	}
}

static json_t *nodes_json(const struct job_status *s, const struct job *j)
{
	json_t *nodes = json_array();

	for (size_t i = 0; nodes && i < j->n_parts; i++) {
		const struct participant *p = &j->parts[i];
		json_t *last = json_object_get(s->last_by_node, p->node_id);
		bool this_round = s->sent && p->selected;

		json_array_append_new(nodes, json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "node_id", p->node_id,
						       "dataset_id", p->dataset_id, "state", node_state(s, p),
						       "status", this_round && p->status ? p->status : "",
						       "reason", this_round ? p->reason : "", "last",
						       last ? last : json_null()));
	}
	return nodes;
}

static json_t *document(const struct job_status *s, const struct job *j, const char *state, const char *message)
{
	const struct experiment *exp = j->exp;
	json_t *doc = json_pack("{s:i, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:f, s:f, s:f}", "format",
				STATUS_FORMAT, "job_id", j->job_id, "pid", (json_int_t)getpid(), "experiment",
				exp->path ? exp->path : "", "output_dir", j->shown_dir[0] ? j->shown_dir : exp->output_dir,
				"state", state, "message", message, "phase", s->phase, "round", (json_int_t)s->round,
				"rounds", (json_int_t)exp->rounds, "started_at", s->started_at, "round_started_at",
				s->round_started_at, "updated_at", wall_now());

	if (!doc)
		return NULL;
	json_object_set_new(doc, "rounds_timed", json_integer(s->rounds_timed));
	json_object_set_new(doc, "mean_round_s",
			    s->rounds_timed ? json_real(s->seconds_sum / s->rounds_timed) : json_null());
	json_object_set_new(doc, "epsilon", privacy__dp_on(exp) ? json_kv__number(j->epsilon) : json_null());
	json_object_set_new(doc, "delta", privacy__dp_on(exp) ? json_real(exp->privacy.dp_delta) : json_null());
	json_object_set(doc, "best", s->best);
	json_object_set(doc, "last_round", s->last_round);
	json_object_set_new(doc, "nodes", nodes_json(s, j));
	return doc;
}

/* Replaces status.json by rename (readers never see half a document); not
 * fsync'd: it is a view of the run, rebuilt at the next event. */
static void write_now(struct job_status *s, const struct job *j, const char *state, const char *message)
{
	json_t *doc = document(s, j, state, message);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	int fd = -1;
	enum fedc_err rc = text ? FEDC_OK : FEDC_ERR_NOMEM;

	if (!rc) {
		fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		rc = fd < 0 ? fedc_fail(FEDC_ERR_IO, "cannot create %s: %s", s->tmp, strerror(errno))
			    : fedc_write_all(fd, text, strlen(text), s->tmp);
	}
	if (fd >= 0 && close(fd) != 0 && !rc)
		rc = fedc_fail(FEDC_ERR_IO, "cannot write %s: %s", s->tmp, strerror(errno));
	if (!rc && rename(s->tmp, s->path) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot rename %s: %s", s->tmp, strerror(errno));
	if (rc && !s->warned) { /* once: the run matters more than its view */
		fedc_warn("status file: %s", rc == FEDC_ERR_NOMEM ? "out of memory" : fedc_last_error());
		s->warned = true;
	}
	s->last_write_ms = session__now_ms();
	s->dirty = false;
	free(text);
	json_decref(doc);
}

static void write_running(struct job_status *s, const struct job *j)
{
	write_now(s, j, "running", "");
}

int64_t status__due_ms(const struct job_status *s)
{
	return s && s->dirty ? s->last_write_ms + WRITE_EVERY_MS : INT64_MAX;
}

void status__flush_due(struct job_status *s, const struct job *j)
{
	if (s && s->dirty && session__now_ms() >= status__due_ms(s))
		write_running(s, j);
}

/* A change while rounds run: written now if the last write is a second old,
 * else when due. */
static void write_soon(struct job_status *s, const struct job *j)
{
	s->dirty = true;
	status__flush_due(s, j);
}

void status__phase(struct job_status *s, const struct job *j, const char *phase)
{
	if (!s)
		return;
	s->phase = phase;
	write_running(s, j);
}

void status__round_begin(struct job_status *s, const struct job *j, uint32_t round, bool evaluate_only)
{
	if (!s)
		return;
	s->phase = evaluate_only ? "evaluate" : "train";
	s->round = round;
	s->evaluating = evaluate_only;
	s->sent = false;
	s->round_started_at = wall_now();
	write_soon(s, j);
}

void status__requests_sent(struct job_status *s, const struct job *j)
{
	if (!s)
		return;
	s->sent = true;
	write_running(s, j); /* now: one write a round shows each round's nodes at work */
}

void status__node_changed(struct job_status *s, const struct job *j)
{
	if (s)
		write_soon(s, j);
}

/* Keeps each answered node's metrics of this round as its "last". */
static void keep_node_metrics(struct job_status *s, const struct job *j, uint32_t round)
{
	for (size_t i = 0; i < j->n_parts; i++) {
		const struct participant *p = &j->parts[i];
		const struct fedc_msg *r = p->reply;

		if (p->state != PART_ANSWERED || !r)
			continue;
		json_object_set_new(s->last_by_node, p->node_id,
				    json_pack("{s:I, s:s, s:o, s:o}", "round", (json_int_t)round, "kind",
					      s->evaluating ? "evaluate" : "train", "metrics",
					      json_kv__object(r->metrics, r->n_metrics), "global_metrics",
					      json_kv__object(r->global_metrics, r->n_global_metrics)));
	}
}

void status__round_end(struct job_status *s, const struct job *j, const struct round_record *rr, double metric_value)
{
	if (!s)
		return;
	if (!s->evaluating) {
		s->seconds_sum += rr->seconds;
		s->rounds_timed++;
	}
	keep_node_metrics(s, j, rr->round);
	json_decref(s->last_round);
	s->last_round = json_pack("{s:I, s:s, s:I, s:I, s:o, s:o, s:o, s:s, s:o, s:f}", "round", (json_int_t)rr->round,
				  "kind", rr->kind, "selected", (json_int_t)rr->selected, "answered",
				  (json_int_t)rr->answered, "train_loss", json_kv__number(rr->train_loss), "global_loss",
				  json_kv__number(rr->global_loss), "global_accuracy", json_kv__number(rr->global_accuracy),
				  "metric", j->exp->test_metric, "metric_value", json_kv__number(metric_value), "seconds",
				  rr->seconds);
	if (!s->last_round)
		s->last_round = json_null();
	write_soon(s, j);
}

void status__best(struct job_status *s, const char *metric, uint32_t round, double value)
{
	if (!s)
		return;
	json_decref(s->best);
	s->best = json_pack("{s:s, s:I, s:o}", "metric", metric, "round", (json_int_t)round, "value",
			    json_kv__number(value));
	if (!s->best)
		s->best = json_null();
}

void status__end(struct job_status *s, const struct job *j, const char *state, const char *message)
{
	if (!s)
		return;
	s->phase = "done";
	write_now(s, j, state, message);
}
