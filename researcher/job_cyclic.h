/* strategy = cyclic: sequential (round-robin) training. Within a round the
 * model passes from node to node -- the first trains the global model, the
 * second what the first returned, ... -- and the last good node's model is
 * the round's result. The order is the node ids sorted, or with
 * cyclic_order = shuffled a permutation drawn per round from the
 * experiment's seed and the round number, so that a resumed run draws the
 * same. A node that fails its turn is skipped (its history record says why)
 * and the chain goes on from the last good model. Private to the
 * researcher. */
#ifndef FEDC_RESEARCHER_JOB_CYCLIC_H
#define FEDC_RESEARCHER_JOB_CYCLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

struct experiment;
struct job;

/* Refuses what a chain cannot honour (job.c asks before a run starts), with the reason and what to change:
 * secure aggregation, node-level DP, keep_best, and aggregators other than
 * fedavg / fedprox (server optimizers, SCAFFOLD, robust aggregators).
 * `path` names the experiment file in the message. FEDC_ERR_CONFIG; FEDC_OK
 * when the experiment is not cyclic. */
FEDC_NODISCARD
enum fedc_err job_cyclic__check(const struct experiment *exp, const char *path);

/* Puts idx[0..n) -- participant indices in node-id order -- in the chain
 * order of `round`: unchanged, or when `shuffled` permuted by a generator
 * seeded from `seed` and `round` alone (the same for the same pair, in any
 * run). */
void job_cyclic__order(uint64_t seed, uint32_t round, bool shuffled, uint32_t *idx, size_t n);

/* Runs training round `round` of `j` as a chain over its selected nodes:
 * each turn reuses the job's train request, reply, fetch and aggregation
 * path for one node, and uploads the model it leaves (j->global_path and
 * j->global_digest follow the chain). *trained: the nodes that trained;
 * when fewer than min_nodes, global.params and its digest are the round's
 * starting ones again (the round failed; a retry starts from there). Fails
 * only for what stops the run (the session, the disk, the repository). */
FEDC_NODISCARD
enum fedc_err job_cyclic__round(struct job *j, uint32_t round, size_t *trained);

/* Prints the round's chain ("  chain: a -> b -> c") under its round line. */
void job_cyclic__print_chain(const struct job *j);

#endif
