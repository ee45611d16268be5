/* The experiment's history, written as it happens (flushed after each
 * record) in forms tools read:
 *   history.jsonl  one JSON object per line: {"type": "node", ...} per node
 *                  and round (a chain's in chain order, with "step"),
 *                  {"type": "round", ...} per round, and with
 *                  keep_best {"type": "best", ...} when the best model changes,
 *                  and {"type": "xval", ...} per cross-site validation (xval.h)
 *   rounds.csv     one row per round
 *   nodes.csv      one row per node and round */
#ifndef FEDC_RESEARCHER_HISTORY_H
#define FEDC_RESEARCHER_HISTORY_H

#include <stdint.h>

#include "fedc/err.h"
#include "fedc/message.h"

#define HISTORY_FILES 3 /* history.jsonl, rounds.csv, nodes.csv */

struct history; /* opaque */

struct node_record {
	uint32_t round;            /* the final evaluation is rounds + 1 */
	const char *kind;          /* "train" or "evaluate" */
	const char *node_id;
	const char *dataset_id;
	const char *status;        /* "answered", "error", "offline", "timeout", "rejected" */
	const char *reason;        /* why it failed, "" when answered */
	const struct fedc_msg *reply; /* the train-reply, NULL if none */
	uint32_t step;             /* strategy = cyclic: its turn in the round's chain, from 1; 0: not a chain */
};

struct round_record {
	uint32_t round;
	const char *kind;
	uint32_t selected, answered;
	double train_loss;         /* sample-weighted mean, NaN if none */
	double global_loss;        /* of the parameters sent, on the nodes' test rows */
	double global_accuracy;
	double seconds;
	const char *params_digest; /* the new global parameters ("" for evaluate) */
	double epsilon;            /* node-level DP: the experiment's epsilon after the round; NaN when off */
};

/* Creates (truncating) the three files in `dir`. FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err history__open(const char *dir, struct history **out);
/* Continues the files in `dir` from a breakpoint: cuts each back to the
 * length the breakpoint recorded (dropping records of rounds after it),
 * then appends. FEDC_ERR_IO if a file is missing or shorter. */
FEDC_NODISCARD
enum fedc_err history__reopen(const char *dir, const uint64_t sizes[HISTORY_FILES], struct history **out);
/* Flushes and fsyncs the files; gives their lengths (for a breakpoint). */
FEDC_NODISCARD
enum fedc_err history__sync(struct history *h, uint64_t sizes[HISTORY_FILES]);
/* A node's record of a round, buffered: the round's record, which follows
 * its nodes' (job.c), hands them all to the kernel at once (one write per
 * file a round rather than two per node). */
FEDC_NODISCARD
enum fedc_err history__node(struct history *h, const struct node_record *rec);
/* The round's record; flushes it and the nodes' records before it. */
FEDC_NODISCARD
enum fedc_err history__round(struct history *h, const struct round_record *rec);
/* keep_best: the model after round `model_round` is the best so far on
 * `metric`, with `value`; scored in round `round` (the final evaluation:
 * rounds + 1). history.jsonl only. FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err history__best(struct history *h, uint32_t round, const char *metric, uint32_t model_round,
			    double value);
/* Appends `json`, one JSON object on one line (no newline), to
 * history.jsonl: through `h` while the run has it open, else (h NULL: a
 * command after the run) to `dir`/history.jsonl, which must exist.
 * FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err history__append(struct history *h, const char *dir, const char *json);
void history__close(struct history *h);

#endif
