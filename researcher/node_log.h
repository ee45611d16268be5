/* Per-node round logs: what each node returned, round by round, kept in
 * OUTPUT_DIR/nodes/<node id>.jsonl (docs/researcher-guide.md, "Archiving a
 * run"). One JSON object per line and round the node was selected for:
 *
 *   {"round": 3, "kind": "train", "node_id": "n1", "dataset_id": "...",
 *    "state": "ok" | "failed" | "refused", "status": "answered" | "error" |
 *    "offline" | "timeout" | "rejected", "reason": "...", "step": 2,
 *    "n_samples": ..., "n_test": ..., "metrics": {...}, "global_metrics": {...},
 *    "download_s": ..., "train_s": ..., "upload_s": ..., "params_digest": "...",
 *    "scalars": [{"name": "loss", "iteration": 10, "epoch": 1, "value": 0.3}]}
 *
 * "refused": the node answered with an error (its reason is the node's own
 * message); "failed": no usable answer (offline, timeout, an update the
 * researcher rejected). The reply fields are there when the node replied;
 * "step" only in a cyclic round; "scalars" only when the node streamed some
 * (at most NODE_LOG_MAX_SCALARS per round over all nodes: the rest are
 * counted in "scalars_dropped"). The final evaluation is round rounds + 1.
 * `fedc-researcher archive` puts the files in the archive. */
#ifndef FEDC_RESEARCHER_NODE_LOG_H
#define FEDC_RESEARCHER_NODE_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "history.h"

#define NODE_LOG_DIR "nodes"
#define NODE_LOG_MAX_SCALARS 4096
#define NODE_LOG_LINE_MAX ((size_t)1 << 20) /* longest record a resume reads back */
#define NODE_LOG_MAX_BYTES ((size_t)1 << 32) /* largest log a resume rewrites */

struct node_log; /* opaque */

/* A new run in `output_dir`: creates OUTPUT_DIR/nodes and removes the logs
 * an earlier run left there. FEDC_ERR_IO, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err node_log__open(const char *output_dir, struct node_log **out);
/* A run resumed after `round`: each log keeps only its records of rounds up
 * to `round` (later ones are run again), then the logs are appended to.
 * FEDC_ERR_IO, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err node_log__reopen(const char *output_dir, uint32_t round, struct node_log **out);
/* What a resume keeps of one log's `text` (len bytes, read from the output
 * directory, so possibly damaged): the whole lines, in order, that parse as
 * JSON objects with an integer "round" up to `last`, appended to `out`. A
 * last line without its newline (cut by a crash) goes. FEDC_ERR_TOO_BIG /
 * FEDC_ERR_NOMEM from the buffer. */
struct fedc_buf;
FEDC_NODISCARD
enum fedc_err node_log__keep(const char *text, size_t len, uint32_t last, struct fedc_buf *out);
/* A scalar a node streamed during the current round; kept for its record. */
void node_log__scalar(struct node_log *log, const char *node_id, const char *name, double value,
		      uint64_t iteration, uint64_t epoch);
/* Appends the round's record of one node (rec->node_id is an id that
 * fedc_id_valid accepted: a safe file name). FEDC_ERR_IO, FEDC_ERR_INVAL
 * for any other node id. */
FEDC_NODISCARD
enum fedc_err node_log__record(struct node_log *log, const struct node_record *rec);
/* The round's records are all written: forgets its scalars. */
void node_log__round_done(struct node_log *log);
void node_log__close(struct node_log *log);

#endif
