/* strategy = cyclic (job_cyclic.h). A turn is a parallel round of one node:
 * the same train request, reply handling, fetch and check of the update,
 * and aggregation (FedAvg of a single update is that update, rounded
 * through double exactly), so that every check the parallel rounds make
 * holds for each turn too. */
#include "job_cyclic.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "aggregator.h"
#include "experiment.h"
#include "fedc/fs.h"
#include "fedc/rng.h"
#include "job_internal.h"
#include "progress.h"
#include "status.h"

/* What each refused aggregator would need that a chain does not have. */
static const char *aggregator_misfit(const char *method)
{
	if (strcmp(method, "fedavg") == 0 || strcmp(method, "fedprox") == 0)
		return NULL;
	if (strcmp(method, "scaffold") == 0)
		return "SCAFFOLD's control variates correct the drift between nodes training the same model at once";
	if (strncmp(method, "fedad", 5) == 0 || strcmp(method, "fedyogi") == 0)
		return "a server optimizer steps along the average change of the updates of a round";
	return "a robust aggregator judges the updates of a round against each other";
}

enum fedc_err job_cyclic__check(const struct experiment *exp, const char *path)
{
	const char *misfit;

	if (!exp->cyclic)
		return FEDC_OK;
	if (exp->privacy.secure_aggregation)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [experiment] strategy = cyclic does not go with [privacy] "
						  "secure_aggregation = on: a chain hands each node's model on whole, "
						  "there is no sum to hide it in. Set secure_aggregation = false, or "
						  "strategy = parallel", path);
	if (exp->privacy.dp == EXPERIMENT_DP_NODE)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [experiment] strategy = cyclic does not go with [privacy] dp = "
						  "node: its accountant takes a round as one average of the clipped, "
						  "noised updates of a sample of nodes, while in a chain each node's change "
						  "reaches the model whole, so the epsilon it reported would not hold. Set "
						  "dp = off, or strategy = parallel", path);
	if (exp->keep_best[0])
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [experiment] strategy = cyclic does not go with [training] "
						  "keep_best: the nodes of a chain each score the model they received, not "
						  "one global model. Remove keep_best (the final evaluation scores the "
						  "final model on every node), or set strategy = parallel", path);
	misfit = aggregator_misfit(exp->aggregator);
	if (misfit)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [experiment] strategy = cyclic does not go with [aggregator] "
						  "method = %s: %s, and a chain has one model at a time. Use method = "
						  "fedavg (or fedprox), or strategy = parallel", path, exp->aggregator, misfit);
	return FEDC_OK;
}

void job_cyclic__order(uint64_t seed, uint32_t round, bool shuffled, uint32_t *idx, size_t n)
{
	struct fedc_rng rng;

	if (!shuffled)
		return;
	/* Not the job's sampling generator: its state depends on the rounds
	 * before, this order only on (seed, round). */
	fedc_rng_seed(&rng, seed ^ ((uint64_t)round * 0x9E3779B97F4A7C15ULL));
	fedc_rng_shuffle(&rng, idx, n);
}

/* The round's chain: the selected participants in their order, each reset
 * and waiting for its turn (idle until then). */
static void build_chain(struct job *j, uint32_t round)
{
	j->chain_len = 0;
	for (size_t i = 0; i < j->n_parts; i++) {
		if (j->parts[i].selected)
			j->chain[j->chain_len++] = (uint32_t)i;
	}
	job_cyclic__order(j->exp->seed, round, j->exp->cyclic_shuffled, j->chain, j->chain_len);
	for (size_t k = 0; k < j->chain_len; k++) {
		struct participant *p = &j->parts[j->chain[k]];

		job__reset_part(p);
		p->state = PART_IDLE;
		p->status = "queued";
		p->step = (uint32_t)k + 1;
	}
}

/* One node's turn: it trains the current model; if its update is good, that
 * is the model now (written to global.params and uploaded). */
static enum fedc_err take_turn(struct job *j, struct participant *p, uint32_t round)
{
	enum fedc_err rc = job__begin_aggregation(j);

	if (!rc)
		rc = job__send_train(j, p, round, false);
	if (!rc)
		rc = job__collect(j, false);
	job__take_all_fetched(j); /* also after a failure: no fetch outlives its turn */
	if (!rc && p->state == PART_ANSWERED) {
		fedc_drop_cached(j->global_path);
		rc = aggregator__finish(j->agg, j->global_path);
	}
	aggregator__end_round(j->agg);
	if (!rc && p->state == PART_ANSWERED)
		rc = job__upload_global(j);
	return rc;
}

/* A failed turn: the reason says where the chain went on from. */
static void skip(struct job *j, struct participant *p, const struct participant *last)
{
	size_t used = strlen(p->reason);

	if (last)
		snprintf(p->reason + used, sizeof(p->reason) - used,
			 "; skipped: the chain went on from the model of step %u (node %s)", last->step, last->node_id);
	else
		snprintf(p->reason + used, sizeof(p->reason) - used,
			 "; skipped: the chain went on from the round's starting model");
	progress__failed(j->progress, session__now_ms(), p->node_id);
	status__node_changed(j->status, j);
}

void job_cyclic__print_chain(const struct job *j)
{
	printf("  chain:");
	for (size_t k = 0; k < j->chain_len; k++)
		printf("%s%s", k ? " -> " : " ", j->parts[j->chain[k]].node_id);
	printf("\n");
}

/* With min_nodes > 1 a round can fail after some turns changed the model:
 * its starting model is kept aside to go back to (with min_nodes = 1 a
 * failed round changed nothing). */
static enum fedc_err keep_start(const struct job *j, char *path, size_t cap)
{
	if (j->exp->min_nodes <= 1) {
		path[0] = '\0';
		return FEDC_OK;
	}
	if ((size_t)snprintf(path, cap, "%s/round-start.params", j->updates_dir) >= cap)
		return fedc_fail(FEDC_ERR_INVAL, "path too long: %s/round-start.params", j->updates_dir);
	return fedc_copy_atomic(j->global_path, path, 0644);
}

static enum fedc_err run_chain(struct job *j, uint32_t round, size_t *trained)
{
	const struct participant *last = NULL;
	enum fedc_err rc = FEDC_OK;

	for (size_t k = 0; k < j->chain_len && !rc; k++) {
		struct participant *p = &j->parts[j->chain[k]];

		rc = take_turn(j, p, round);
		if (!rc && p->state == PART_ANSWERED) {
			last = p;
			++*trained;
		} else if (!rc) {
			skip(j, p, last);
		}
	}
	return rc;
}

enum fedc_err job_cyclic__round(struct job *j, uint32_t round, size_t *trained)
{
	char start[sizeof(j->updates_dir) + 32], start_digest[sizeof(j->global_digest)];
	enum fedc_err rc;

	*trained = 0;
	start[0] = '\0';
	build_chain(j, round);
	memcpy(start_digest, j->global_digest, sizeof(start_digest));
	status__requests_sent(j->status, j);
	rc = keep_start(j, start, sizeof(start));
	if (!rc)
		rc = run_chain(j, round, trained);
	if (!rc && *trained > 0 && *trained < j->exp->min_nodes) {
		rc = fedc_copy_atomic(start, j->global_path, 0644);
		memcpy(j->global_digest, start_digest, sizeof(start_digest));
	}
	if (start[0])
		(void)unlink(start);
	return rc;
}
