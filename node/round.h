/* The node's workers: each one thread that runs the requests queued to it
 * one at a time, in arrival order, with its own database and repository
 * handles, while the main thread keeps answering fast requests. The round
 * worker runs `train`; the plan worker `approval` and
 * `training-plan-status`, which may download a plan (plan_requests.h). */
#ifndef FEDC_NODE_ROUND_H
#define FEDC_NODE_ROUND_H

#include "daemon.h"

/* The seeds of a round, all from the experiment seed so that a run is
 * reproducible: the held-out rows depend on the seed and the data's digest
 * (the same rows in every round), the shuffling also on the round and the
 * node. The daemon XORs a key of its own into the training seed unless
 * `[privacy] secret_training_seed = false` (node/privacy.h): then only a tool
 * run with that setting reproduces a node's round. Exported for those tools. */
uint64_t round__split_seed(uint64_t seed, const char *data_digest);
uint64_t round__train_seed(uint64_t seed, uint64_t round, const char *node_id);

/* Starts the round worker's (or the plan worker's) thread. FEDC_ERR_DB,
 * FEDC_ERR_NOMEM, or the repository client's errors. */
FEDC_NODISCARD
enum fedc_err round__start(struct node_daemon *d, struct round_worker **out);
FEDC_NODISCARD
enum fedc_err round__start_plan_worker(struct node_daemon *d, struct round_worker **out);

/* Queues a request for the worker (takes ownership of `msg`). A request id already
 * seen is dropped (MQTT QoS 1 may deliver twice) and FEDC_ERR_EXISTS returned. */
FEDC_NODISCARD
enum fedc_err round__submit(struct round_worker *w, struct fedc_msg *msg);

/* Cancels the round in flight (its researcher gets an `error`), answers the
 * queued requests with an `error`, and joins the thread. NULL: nothing. */
void round__stop(struct round_worker *w);

#endif
