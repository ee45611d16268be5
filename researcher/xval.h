/* Cross-site validation (docs/researcher-guide.md, "Cross-site validation"):
 * every node of a run evaluates, on its test rows, the global model and each
 * node's own model of the last round. The rows of the matrix are the models,
 * its columns the nodes' test rows, its cells every metric the plan's
 * evaluate() reports.
 *
 * Files in the run's output directory DIR:
 *   local/<node>.params  a node's update of the last training round (its
 *                        locally trained parameters), kept with
 *                        [training] cross_site_validation = true
 *   local/index.json     the run's nodes, the job, and each kept file's
 *                        SHA-256 (null: that node sent no usable update)
 *   xval.json            the last matrix (also a {"type":"xval"} record
 *                        appended to history.jsonl)
 *   xval.svg             the matrix as heatmaps, one per metric */
#ifndef FEDC_RESEARCHER_XVAL_H
#define FEDC_RESEARCHER_XVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fedc/err.h"
#include "fedc/hash.h"
#include "fedc/limits.h"
#include "fedc/message.h"
#include "fedc/uuid.h"

#define XVAL_INDEX "local/index.json"
#define XVAL_INDEX_MAX (4u << 20) /* bytes of local/index.json read at most */
#define XVAL_MAX_NODES 1024       /* as JOB_MAX_PARTICIPANTS */

/* One node of the run, as local/index.json lists it. */
struct xval_node {
	char node_id[FEDC_MAX_ID_LEN + 1];
	char dataset_id[FEDC_MAX_ID_LEN + 1];
	uint64_t n_samples;
	char digest[FEDC_SHA256_HEXLEN + 1]; /* of local/<node>.params; "": no local model */
	char reason[FEDC_MAX_TEXT_LEN + 1];  /* why there is none */
};

struct xval_index {
	char job_id[FEDC_UUID_STRLEN + 1];
	uint32_t round;       /* the training round the local models come from */
	size_t n;
	struct xval_node *nodes; /* n, owned: free with xval__index_free */
};

/* Parses the text of local/index.json. FEDC_ERR_MALFORMED with what is wrong
 * in the detail (`origin` names the file there); FEDC_ERR_NOMEM. On success
 * free *out with xval__index_free. Bad ids, digests and counts are refused:
 * the ids become file names. */
FEDC_NODISCARD
enum fedc_err xval__index_parse(const char *text, size_t len, const char *origin, struct xval_index *out);
void xval__index_free(struct xval_index *ix);

/* One cell: model `row` evaluated on node `col`'s test rows. */
struct xval_cell {
	bool ok;
	uint64_t n_test;
	uint32_t n_metrics;
	struct fedc_msg_kv metrics[FEDC_MAX_METRICS];
	char status[16];                     /* history status word ("answered", "offline" ...) */
	char reason[FEDC_MAX_TEXT_LEN + 1];  /* why the cell is empty */
};

struct xval_matrix {
	char job_id[FEDC_UUID_STRLEN + 1];
	uint32_t round;       /* of the local models */
	size_t n_models, n_nodes;
	/* row 0 is the global model; row r > 0 the local model of models[r] */
	char (*models)[FEDC_MAX_ID_LEN + 1];
	char (*model_digests)[FEDC_SHA256_HEXLEN + 1];
	char (*nodes)[FEDC_MAX_ID_LEN + 1];
	struct xval_cell *cells; /* n_models * n_nodes, row by row */
};

/* Room for `n_models` rows and `n_nodes` columns, cells empty. FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err xval__matrix_new(size_t n_models, size_t n_nodes, struct xval_matrix *m);
void xval__matrix_free(struct xval_matrix *m);
struct xval_cell *xval__cell(const struct xval_matrix *m, size_t row, size_t col);

/* ---- the report (xval_report.c) ---- */

/* Prints one table per metric (rows: models, columns: nodes) and, below,
 * every empty cell's reason, once per distinct reason and column. */
void xval__print(const struct xval_matrix *m, FILE *out);
/* Writes DIR/xval.json (atomically), appends the same object to the
 * history (through `h`, the run's open history, or NULL: DIR/history.jsonl)
 * and draws DIR/xval.svg. FEDC_ERR_IO, FEDC_ERR_NOMEM. */
struct history;
FEDC_NODISCARD
enum fedc_err xval__write(const struct xval_matrix *m, const char *dir, struct history *h);

/* ---- the stage (xval.c) ---- */

struct job;
/* After the run's last training round `round`: copies every answered node's
 * update (downloaded and digest-checked by the fetcher) to
 * DIR/local/<node>.params, checks the copy's SHA-256 against the node's
 * reply, and writes local/index.json listing every node of the run.
 * FEDC_ERR_IO, FEDC_ERR_DIGEST, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err xval__keep_locals(struct job *j, uint32_t round);

/* Runs the validation on a job whose session and repository are open and
 * whose participants are the columns: for each model (global.params, then
 * each kept local model) an evaluate_only round of every participant. A node
 * that fails leaves its cell empty with the reason. Then prints and writes
 * the report. FEDC_ERR_INTERRUPTED, FEDC_ERR_DIGEST (a kept file changed),
 * errors of the repository and of writing. */
FEDC_NODISCARD
enum fedc_err xval__stage(struct job *j);

/* The stage at the end of `run`: xval__stage, whose failure (other than an
 * interruption) is told on stderr with how to try again, without failing
 * the run, whose training is done. FEDC_OK or FEDC_ERR_INTERRUPTED. */
FEDC_NODISCARD
enum fedc_err xval__after_run(struct job *j);

/* `fedc-researcher xval DIR [--network FILE]`: the stage again for the
 * finished run in DIR, with the experiment and network files its breakpoint
 * names (or `network`). Returns the exit code: 0, 1 failed (said on stderr),
 * 130 interrupted. */
int xval__command(const char *dir, const char *network);

#endif
