/* What the experiment loop's files share (job.c, job_secagg.c): the job
 * and its participants. Private to the researcher. */
#ifndef FEDC_RESEARCHER_JOB_INTERNAL_H
#define FEDC_RESEARCHER_JOB_INTERNAL_H

#include <stdbool.h>
#include <limits.h>
#include <stdint.h>

#include "aggregator.h"
#include "best.h"
#include "breakpoint.h"
#include "experiment.h"
#include "fedc/message.h"
#include "fedc/params.h"
#include "fedc/repo.h"
#include "fedc/rng.h"
#include "fedc/uuid.h"
#include "fetcher.h"
#include "history.h"
#include "node_log.h"
#include "progress.h"
#include "secagg_round.h"
#include "session.h"

#define JOB_MAX_PARTICIPANTS 1024

/* IDLE: not selected this round (node sampling). FETCHING: replied; its
 * update is on its way. */
enum part_state { PART_IDLE, PART_WAITING, PART_FETCHING, PART_ANSWERED, PART_FAILED };

struct participant {
	char node_id[FEDC_MAX_ID_LEN + 1];
	char dataset_id[FEDC_MAX_ID_LEN + 1];
	uint64_t n_samples;
	/* this round */
	bool selected;
	char request_id[FEDC_UUID_STRLEN + 1];
	enum part_state state;
	const char *status; /* history status word */
	char reason[FEDC_MAX_TEXT_LEN + 1];
	struct fedc_msg *reply;
	uint32_t step;      /* strategy = cyclic: its turn in the round's chain, from 1; 0 otherwise */
	uint64_t inline_max; /* largest parameter file sent to it and taken from it inline; 0: repository only */
	bool envelope_v2;    /* it opens version-2 envelopes: its train requests go so */
	bool envelope_v3;    /* it opens version 3: it is offered a per-job session */
	/* The session agreed with it in this run (fedc/session_key.h): while
	 * has_session, its train and train-reply travel MAC'd (envelope v3). */
	bool has_session;
	struct fedc_session session;
	uint32_t round;      /* of the train last sent to it (sent again on unknown-session) */
	char update_path[EXP_PATH_MAX + 2 * FEDC_MAX_ID_LEN + 64];
};

struct job_secagg_plan {
	uint32_t scale_bits, threshold, neighbours;
	uint32_t ring_bits; /* 32 or 64 */
	uint64_t weight_max;
	double value_max;
};

struct job {
	const struct experiment *exp;
	struct session session;
	/* This run's ephemeral X25519 key pair, offered to every node that opens
	 * version-3 envelopes (session_kx in train); memory only. */
	struct fedc_session_kx *kx;
	struct fedc_repo *repo;
	struct fetcher *fetcher; /* downloads and checks updates */
	struct history *history;
	struct node_log *node_log; /* OUTPUT_DIR/nodes/<node>.jsonl */
	struct aggregator *agg;
	char job_id[FEDC_UUID_STRLEN + 1];
	char plan_digest[FEDC_SHA256_HEXLEN + 1];
	char global_path[EXP_PATH_MAX + 64];
	char global_digest[FEDC_SHA256_HEXLEN + 1];
	/* global.params as job__upload_global last read it, when it is small
	 * enough to ride inside train (docs/protocol.md, "Parameters inline");
	 * used only while global_digest still names it */
	uint8_t *global_inline;
	size_t global_inline_len;
	char global_inline_digest[FEDC_SHA256_HEXLEN + 1];
	bool global_upload_pending; /* global_inline not yet in the repository (job.c keep_global) */
	char updates_dir[EXP_PATH_MAX + 64];
	struct participant parts[JOB_MAX_PARTICIPANTS];
	size_t n_parts;
	uint32_t chain[JOB_MAX_PARTICIPANTS]; /* strategy = cyclic: this round's chain, indices into parts */
	size_t chain_len;                     /* 0: the round is not a chain */
	size_t n_unfit;                       /* nodes [nodes] require left out (selection__admits) */
	struct progress *progress; /* the live view of the round */
	struct fedc_rng rng;       /* node sampling; saved in breakpoints */
	struct breakpoint inputs;  /* what every breakpoint repeats: the files the run was started from */
	uint32_t first_round;      /* 1, or the round after the breakpoint resumed from */
	uint32_t pending_breakpoint; /* breakpoint_every > 1: the last round run, its breakpoint not saved; 0: none */
	char agg_state_path[EXP_PATH_MAX + 64];
	bool resumed;              /* by job__resume: failures are continued with resume too */
	bool disk_full;            /* an update could not be written: ENOSPC */
	char shown_dir[PATH_MAX];  /* output_dir as told to the user: absolute, clean (no a/./b, no //) */
	uint8_t roles[FEDC_MAX_TENSORS]; /* the plan's param_roles per model tensor; saved in breakpoints */
	size_t n_roles;
	struct job_status *status; /* OUTPUT_DIR/status.json (status.h) */
	struct best_model best;    /* keep_best (best.h); saved in breakpoints */
	bool stopped;              /* by `fedc-researcher stop` (run_control.h) ... */
	uint32_t stopped_after;    /* ... before the round after this one */
	double epsilon;            /* node-level DP: the accountant's figure after the last round run; NaN when off */
	uint32_t budget_stop;      /* the round the privacy budget stopped the run before, or 0 */
	/* secure aggregation (job_secagg.c), this round */
	struct job_secagg_plan secagg_plan; /* what the train requests carry */
	struct secagg_round *secagg;        /* NULL: the round is plain */
	uint32_t secagg_round;
	int64_t secagg_deadline;            /* of the key or share step */
	char secagg_failure[FEDC_MAX_TEXT_LEN + 1]; /* why the sum could not be had, or "" */
	uint64_t *secagg_sum;               /* the masked sum's room, kept across rounds */
	size_t secagg_sum_cap;
};

/* Marks `p` failed with a history status word and a reason. */
void job__fail_part(struct job *j, struct participant *p, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The round loop's steps, which job_cyclic.c runs one node at a time. */
void job__reset_part(struct participant *p);
/* Sends `p` its train request (the global parameters j->global_digest,
 * inline when they fit; otherwise uploaded first if they are not in the
 * repository yet); fails `p` (not the call) when it is offline or the send
 * fails. FEDC_ERR_NOMEM, or the upload's error. */
FEDC_NODISCARD
enum fedc_err job__send_train(struct job *j, struct participant *p, uint32_t round, bool evaluate_only);
/* Waits for every participant's outcome, or the round deadline
 * (round_timeout_s from now). */
FEDC_NODISCARD
enum fedc_err job__collect(struct job *j, bool evaluate_only);
/* Before the requests go out, so that fetched updates are checked against
 * the global parameters as they arrive (begin() keeps what it needs of them). */
FEDC_NODISCARD
enum fedc_err job__begin_aggregation(struct job *j);
/* Waits for the updates still on their way and gives them to the aggregator. */
void job__take_all_fetched(struct job *j);
/* Uploads global.params to the repository; sets j->global_digest. The
 * repository stays the record of every global model (breakpoints, resumed
 * and cyclic runs, nodes without inline parameters); a small one is also
 * kept in memory for the train requests to carry. */
FEDC_NODISCARD
enum fedc_err job__upload_global(struct job *j);
/* An event that comes after the round's replies were collected (while the
 * masks are removed): secure-aggregation answers are taken, the rest dropped. */
void job__handle_late(struct job *j, struct fedc_msg *msg);

/* ---- secure aggregation (job_secagg.c) ---- */

/* True when this round goes through secure aggregation. */
bool job__secagg_on(const struct job *j, bool evaluate_only);
/* Before the train requests: the encoding and threshold for the nodes
 * selected. FEDC_ERR_CONFIG when the bounds do not fit 64 bits. */
FEDC_NODISCARD
enum fedc_err job__secagg_plan(struct job *j, uint32_t round);
void job__secagg_fill_train(const struct job *j, struct fedc_msg *m);
/* After the train requests: the round's state over the nodes they reached. */
FEDC_NODISCARD
enum fedc_err job__secagg_begin(struct job *j, uint32_t round);
void job__secagg_end(struct job *j);
/* Moves to the next step once every node still in the round is done with
 * this one, or `timed_out` (the step's deadline passed). */
void job__secagg_advance(struct job *j, bool timed_out);
/* The current step's deadline (INT64_MAX once the shares went out). */
int64_t job__secagg_deadline(const struct job *j);
void job__secagg_on_reply(struct job *j, struct participant *p, const struct fedc_msg *msg);
/* fetcher check (ctx: the struct secagg_round). */
FEDC_NODISCARD
enum fedc_err job__secagg_check_masked(void *ctx, const struct fedc_params *update);
FEDC_NODISCARD
enum fedc_err job__secagg_accept_reply(const struct job *j, const struct participant *p, const struct fedc_msg *msg);
FEDC_NODISCARD
enum fedc_err job__secagg_add(struct job *j, const struct participant *p, struct fedc_params *masked);
/* After collecting: unmask and give the aggregator the sum; *added is the
 * number of nodes in it (0: the round failed, why in j->secagg_failure). */
FEDC_NODISCARD
enum fedc_err job__secagg_finish(struct job *j, size_t *added);

#endif
