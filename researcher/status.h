/* The live state of a run, for `fedc-researcher status DIR` in another shell.
 *
 * The running researcher keeps OUTPUT_DIR/status.json current: rewritten
 * whole (a temporary file renamed over it, so a reader sees the old or the
 * new document, never a mix) at each round's start and end, when the run
 * ends, and in between as nodes answer or fail, at most once a second. It
 * is a view, not a record: not fsync'd (history.jsonl and the breakpoints
 * are the records), and a failure to write it is logged, never fatal.
 *
 * The document (format 1):
 *   {"format": 1, "job_id", "pid", "experiment", "output_dir",
 *    "state": "running" | "finished" | "failed" | "stopped" | "interrupted",
 *    "message": why it failed or stopped ("" else),
 *    "phase": "starting" | "discovery" | "train" | "evaluate" | "done",
 *    "round", "rounds", "started_at", "round_started_at", "updated_at"
 *    (seconds since the epoch), "rounds_timed" and "mean_round_s" (the
 *    training rounds this process ran), "epsilon" (node-level DP; null when
 *    off), "delta", "best" (keep_best: {"metric", "round", "value"} or null),
 *    "last_round": {"round", "kind", "selected", "answered", "train_loss",
 *    "global_loss", "global_accuracy", "metric", "metric_value", "seconds"}
 *    or null,
 *    "nodes": [{"node_id", "dataset_id", "state", "status", "reason",
 *               "last": {"round", "metrics", "global_metrics"} or null}]}
 * A node's state this round: "not selected", "selected" (before the request
 * went), "training", "replied", "failed" (status: error, timeout, rejected;
 * reason says why) or "dropped" (offline). Numbers that are not known are
 * null. A reader (status_show.c) takes fields by name and ignores others. */
#ifndef FEDC_RESEARCHER_STATUS_H
#define FEDC_RESEARCHER_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "fedc/err.h"

#define STATUS_FILE "status.json"
#define STATUS_FORMAT 1

struct job;
struct round_record;
struct job_status;

/* ---- the writer (the running researcher) ---- */

/* For the job `j` (its exp, job_id and first_round set) in exp->output_dir.
 * FEDC_ERR_NOMEM; nothing is written yet. */
FEDC_NODISCARD
enum fedc_err status__new(const struct job *j, struct job_status **out);
void status__free(struct job_status *s);
/* The phase changed (discovery, or the nodes became known). Writes now. */
void status__phase(struct job_status *s, const struct job *j, const char *phase);
/* While rounds run, the calls below that say "soon" write now if the last
 * write is a second old, else leave the change for status__flush_due (or
 * the next write). */
/* A round starts: its nodes are selected, no request has gone. Soon. */
void status__round_begin(struct job_status *s, const struct job *j, uint32_t round, bool evaluate_only);
/* The train requests went out. Writes now. */
void status__requests_sent(struct job_status *s, const struct job *j);
/* A node answered or failed. Soon. */
void status__node_changed(struct job_status *s, const struct job *j);
/* The round ended: its figures and each answered node's metrics. Soon. */
void status__round_end(struct job_status *s, const struct job *j, const struct round_record *rr, double metric_value);
/* When a change left for later is due (session__now_ms clock), INT64_MAX
 * when none is: a waiting loop wakes then for status__flush_due. */
int64_t status__due_ms(const struct job_status *s);
/* Writes a change left for later if it is due. */
void status__flush_due(struct job_status *s, const struct job *j);
/* keep_best: the best global model so far. */
void status__best(struct job_status *s, const char *metric, uint32_t round, double value);
/* The run ends in `state` ("finished", "failed", "stopped", "interrupted")
 * with `message` ("" or why). Writes now. */
void status__end(struct job_status *s, const struct job *j, const char *state, const char *message);

/* ---- the reader (`fedc-researcher status DIR`) ---- */

/* Prints the state of the run in `output_dir`: as text, or with `json` the
 * status document with "live", "condition" ("running", "finished", "failed",
 * "stopped", "interrupted" or "killed": the document says running but no
 * researcher holds the directory), "elapsed_s" and "eta_s" added. Returns the
 * exit code: 0 shown, 1 no status to show (the message says why). */
int status__show(const char *output_dir, bool json);
/* The same from the document's bytes `text` (len), read as outside input:
 * whether a researcher holds the directory (`live`, `pid`) and the time
 * (`now`, seconds since the epoch) given; the report on `out` (control
 * characters of the document's text shown as '?'), complaints on `err`.
 * tests/fuzz/fuzz_status.c feeds it. */
int status__print(const char *text, size_t len, const char *output_dir, bool live, pid_t pid, double now, bool json,
		  FILE *out, FILE *err);

#endif
