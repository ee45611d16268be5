/* A round's secure aggregation, as the experiment loop drives it
 * (docs/privacy.md, "Secure aggregation"): the train requests carry the
 * fixed-point encoding; each node's `keys` arrive while it trains; once
 * every node still in the round has sent them (or secagg_timeout_s passed)
 * each gets its neighbours' keys (`keyset`), then likewise its share of the
 * others' encrypted shares; the masked vectors are fetched and added up as
 * the replies come; the survivors are asked for the shares that remove the
 * masks; the aggregator gets the sum.
 *
 * Every step message carries the request_id of the node's `train`, so a
 * retried round (fresh request ids) never mixes with an earlier attempt. */
#include "job_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/crash.h"
#include "fedc/log.h"
#include "fedc/secagg.h"
#include "fedc/secagg_wire.h"

bool job__secagg_on(const struct job *j, bool evaluate_only)
{
	return j->exp->privacy.secure_aggregation && !evaluate_only;
}

/* Every node weighs the same when the method wants a plain sum or DP is on
 * (the sum's sensitivity is then dp_clip). */
static bool weighted_sum(const struct job *j)
{
	bool weighted = false;

	(void)aggregator__secure_sum_kind(j->exp->aggregator, &weighted);
	return weighted && j->exp->privacy.dp == EXPERIMENT_DP_OFF;
}

/* The 32-bit ring is used when its scale keeps at least this many bits:
 * a resolution of 2^-20 (about 1e-6) of the value * weight unit. */
#define RING32_MIN_SCALE 20u

/* The largest weight a selected node can claim: its registered row count
 * (nodes round counts up, never down, so it bounds the training count), at
 * least 1, and never above [privacy] secagg_weight_max. */
static uint64_t weight_bound(const struct job *j, uint64_t configured)
{
	uint64_t most = 1;

	for (size_t i = 0; i < j->n_parts; i++)
		if (j->parts[i].selected && j->parts[i].n_samples > most)
			most = j->parts[i].n_samples;
	return most < configured ? most : configured;
}

static size_t reachable(const struct job *j)
{
	size_t n = 0;

	for (size_t i = 0; i < j->n_parts; i++)
		n += j->parts[i].selected && session__online(&j->session, j->parts[i].node_id);
	return n;
}

enum fedc_err job__secagg_plan(struct job *j, uint32_t round)
{
	const struct experiment_privacy *pv = &j->exp->privacy;
	size_t n = reachable(j);
	struct job_secagg_plan *plan = &j->secagg_plan;
	uint32_t parties, scale64 = 0, scale32 = 0;
	enum fedc_err rc;

	memset(plan, 0, sizeof(*plan));
	if (n > FEDC_SECAGG_MAX_NEIGHBOURS + 1 && pv->secagg_neighbours == 0)
		return fedc_fail(FEDC_ERR_CONFIG, "[privacy] secure aggregation over %zu nodes: set secagg_neighbours "
				 "(at most %d) so that each node masks with a few others (SecAgg+)", n,
				 FEDC_SECAGG_MAX_NEIGHBOURS);
	plan->weight_max = weighted_sum(j) ? weight_bound(j, (uint64_t)pv->secagg_weight_max) : 1;
	plan->value_max = pv->secagg_value_max;
	plan->neighbours = (uint32_t)pv->secagg_neighbours;
	plan->threshold = pv->secagg_threshold ? (uint32_t)pv->secagg_threshold
					       : secagg_round__default_threshold(n, plan->neighbours);
	parties = (uint32_t)(n ? n : 1);
	rc = fedc_secagg_choose_scale(parties, plan->weight_max, plan->value_max, &scale64);
	if (rc)
		return fedc_fail(FEDC_ERR_CONFIG, "round %u: [privacy] secure aggregation: %s", round, fedc_last_error());
	/* Half the bytes to mask, hash, send and add when the values' range
	 * allows it (docs/privacy.md, "Parameters"): a scale of RING32_MIN_SCALE
	 * bits or more in 32 bits, and the weights' sum (the last element) below
	 * 2^31. */
	plan->ring_bits = 64;
	plan->scale_bits = scale64;
	if ((uint64_t)parties * plan->weight_max < (UINT64_C(1) << 31) &&
	    fedc_secagg_choose_scale_32(parties, plan->weight_max, plan->value_max, &scale32) == FEDC_OK &&
	    scale32 >= RING32_MIN_SCALE) {
		plan->ring_bits = 32;
		plan->scale_bits = scale32;
	} else {
		fedc_clear_error();
	}
	fedc_debug("round %u: secure aggregation in %u bits, scale 2^-%u (64 bits would give 2^-%u; 32 bits when "
		   "the scale is %u or more): %u parties, weight_max %" PRIu64 ", value_max %g",
		   round, plan->ring_bits, plan->scale_bits, scale64, RING32_MIN_SCALE, parties, plan->weight_max,
		   plan->value_max);
	return FEDC_OK;
}

void job__secagg_fill_train(const struct job *j, struct fedc_msg *m)
{
	const struct job_secagg_plan *plan = &j->secagg_plan;

	m->secagg = true;
	m->secagg_scale_bits = plan->scale_bits;
	m->secagg_value_max = plan->value_max;
	m->secagg_weight_max = plan->weight_max;
	m->secagg_threshold = plan->threshold;
	m->secagg_neighbours = plan->neighbours;
	for (enum fedc_field f = FEDC_F_SECAGG; f <= FEDC_F_SECAGG_NEIGHBOURS; f++)
		fedc_msg_set(m, f);
	/* Absent means 64: sent only for 32, so that nodes that predate the
	 * field still take 64-bit rounds. */
	if (plan->ring_bits == 32) {
		m->secagg_ring_bits = 32;
		fedc_msg_set(m, FEDC_F_SECAGG_RING_BITS);
	}
}

/* The graph is the researcher's to choose: seeded by the job and round, so
 * that a rerun of the round draws the same one. */
static uint64_t graph_seed(const struct job *j, uint32_t round)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = j->job_id; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	return h ^ ((uint64_t)round * 0x9e3779b97f4a7c15ull);
}

enum fedc_err job__secagg_begin(struct job *j, uint32_t round)
{
	const char *ids[JOB_MAX_PARTICIPANTS];
	size_t n = 0;
	struct secagg_round_cfg cfg = {
		.job_id = j->job_id,
		.round = round,
		.threshold = j->secagg_plan.threshold,
		.neighbours = j->secagg_plan.neighbours,
		.scale_bits = j->secagg_plan.scale_bits,
		.ring_bits = j->secagg_plan.ring_bits,
		.n_values = aggregator__update_values(j->agg),
		.graph_seed = graph_seed(j, round),
		.keys = j->session.channel.trusted,
	};

	for (size_t i = 0; i < j->n_parts; i++)
		if (j->parts[i].state == PART_WAITING)
			ids[n++] = j->parts[i].node_id;
	if (cfg.n_values + 1 > j->secagg_sum_cap) {
		uint64_t *grown = cfg.n_values < SIZE_MAX / sizeof(uint64_t) - 1
					  ? realloc(j->secagg_sum, ((size_t)cfg.n_values + 1) * sizeof(uint64_t))
					  : NULL;

		if (!grown)
			return fedc_fail(FEDC_ERR_NOMEM, "out of memory for the masked sum of %" PRIu64 " values",
					 cfg.n_values + 1);
		j->secagg_sum = grown;
		j->secagg_sum_cap = (size_t)cfg.n_values + 1;
	}
	cfg.sum = j->secagg_sum;
	secagg_round__free(j->secagg);
	j->secagg = NULL;
	j->secagg_round = round;
	j->secagg_deadline = session__now_ms() + j->exp->privacy.secagg_timeout_s * 1000;
	return secagg_round__new(&cfg, ids, n, &j->secagg);
}

void job__secagg_end(struct job *j)
{
	secagg_round__free(j->secagg);
	j->secagg = NULL;
}

static enum fedc_err send_step(struct job *j, const struct participant *p, const char *step,
			       const struct fedc_buf *data)
{
	struct fedc_msg *m = fedc_msg_new(FEDC_CMD_SECAGG);
	enum fedc_err rc;

	if (!m)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for a secure-aggregation step");
	memcpy(m->request_id, p->request_id, sizeof(m->request_id)); /* the train's: see the top */
	snprintf(m->researcher_id, sizeof(m->researcher_id), "%s", j->exp->researcher_id);
	snprintf(m->job_id, sizeof(m->job_id), "%s", j->job_id);
	m->round = j->secagg_round;
	snprintf(m->secagg_step, sizeof(m->secagg_step), "%s", step);
	fedc_msg_set(m, FEDC_F_RESEARCHER_ID);
	fedc_msg_set(m, FEDC_F_JOB_ID);
	fedc_msg_set(m, FEDC_F_ROUND);
	fedc_msg_set(m, FEDC_F_SECAGG_STEP);
	rc = fedc_msg_set_secagg_data(m, data ? data->data : NULL, data ? data->len : 0);
	if (!rc)
		rc = session__send(&j->session, p->node_id, m);
	fedc_msg_free(m);
	return rc;
}

/* Leaves `p` out of the round and tells it so (best effort: a node that
 * misses the abort gives up waiting by itself). */
static void drop(struct job *j, struct participant *p, const char *status, const char *why)
{
	if (p->state == PART_WAITING)
		job__fail_part(j, p, status, "secure aggregation: %s", why);
	fedc_ignore(send_step(j, p, "abort", NULL));
}

static void send_or_drop(struct job *j, struct participant *p, const char *step, enum fedc_err rc,
			 const struct fedc_buf *data)
{
	if (!rc)
		rc = send_step(j, p, step, data);
	if (rc)
		drop(j, p, "error", fedc_last_error());
}

/* One step the researcher closes (keys, then shares): who did it, what the
 * next message holds, its name, and what a node that did not is told. */
struct closing_step {
	enum fedc_err (*close)(struct secagg_round *r, size_t min);
	bool (*done)(const struct secagg_round *r, const char *node_id);
	enum fedc_err (*data_for)(const struct secagg_round *r, const char *node_id, struct fedc_buf *out);
	const char *next; /* the step sent to those who did it */
	const char *late; /* the reason given to those who did not */
};

static const struct closing_step keys_step = { secagg_round__close_keys, secagg_round__has_keys,
					       secagg_round__keyset_for, "keyset",
					       "no keys within secagg_timeout_s" };
static const struct closing_step shares_step = { secagg_round__close_shares, secagg_round__has_shares,
						 secagg_round__shares_for, "shares",
						 "no shares within secagg_timeout_s" };

/* Closes the step: every node still waiting that did it gets the next
 * message, the others leave (all leave when too few did it). */
static void close_step(struct job *j, const struct closing_step *step)
{
	enum fedc_err rc = step->close(j->secagg, j->exp->min_nodes);

	fedc_debug("round %u: secure aggregation: %s out", j->secagg_round, step->next);
	for (size_t i = 0; i < j->n_parts; i++) {
		struct participant *p = &j->parts[i];
		struct fedc_buf data = FEDC_BUF_INIT(FEDC_MAX_SECAGG_DATA);

		if (p->state != PART_WAITING)
			continue;
		if (rc)
			drop(j, p, "error", fedc_last_error());
		else if (!step->done(j->secagg, p->node_id))
			drop(j, p, "timeout", step->late);
		else
			send_or_drop(j, p, step->next, step->data_for(j->secagg, p->node_id, &data), &data);
		fedc_buf_free(&data);
	}
	j->secagg_deadline = session__now_ms() + j->exp->privacy.secagg_timeout_s * 1000;
}

/* Whether every node still waiting has done the step the round is at. */
static bool step_complete(const struct job *j, bool (*done)(const struct secagg_round *, const char *))
{
	for (size_t i = 0; i < j->n_parts; i++)
		if (j->parts[i].state == PART_WAITING && !done(j->secagg, j->parts[i].node_id))
			return false;
	return true;
}

void job__secagg_advance(struct job *j, bool timed_out)
{
	if (!j->secagg)
		return;
	if (!secagg_round__keys_closed(j->secagg)) {
		if (timed_out || step_complete(j, secagg_round__has_keys)) {
			close_step(j, &keys_step);
			fedc_crash_point("secagg-keysets");
		}
	} else if (!secagg_round__shares_closed(j->secagg)) {
		if (timed_out || step_complete(j, secagg_round__has_shares))
			close_step(j, &shares_step);
	}
}

int64_t job__secagg_deadline(const struct job *j)
{
	if (!j->secagg || secagg_round__shares_closed(j->secagg))
		return INT64_MAX;
	return j->secagg_deadline;
}

void job__secagg_on_reply(struct job *j, struct participant *p, const struct fedc_msg *msg)
{
	enum fedc_err rc = FEDC_ERR_INVAL;

	if (!j->secagg || strcmp(msg->job_id, j->job_id) != 0 || msg->round != j->secagg_round) {
		fedc_info("secure-aggregation %s from %s for another round ignored", msg->secagg_step, msg->node_id);
		return;
	}
	if (strcmp(msg->secagg_step, "keys") == 0 && p->state == PART_WAITING)
		rc = secagg_round__on_keys(j->secagg, p->node_id, msg->secagg_data, msg->secagg_data_len);
	else if (strcmp(msg->secagg_step, "shares") == 0 && p->state == PART_WAITING)
		rc = secagg_round__on_shares(j->secagg, p->node_id, msg->secagg_data, msg->secagg_data_len);
	else if (strcmp(msg->secagg_step, "unmask") == 0)
		rc = secagg_round__on_unmask(j->secagg, p->node_id, msg->secagg_data, msg->secagg_data_len);
	else
		rc = fedc_fail(FEDC_ERR_INVAL, "step %s out of place", msg->secagg_step);
	if (rc) {
		fedc_warn("secure aggregation: %s from %s refused: %s", msg->secagg_step, p->node_id, fedc_last_error());
		if (p->state == PART_WAITING)
			drop(j, p, "rejected", fedc_last_error());
	}
}

enum fedc_err job__secagg_check_masked(void *ctx, const struct fedc_params *update)
{
	return secagg_round__check_masked(ctx, update);
}

enum fedc_err job__secagg_accept_reply(const struct job *j, const struct participant *p, const struct fedc_msg *msg)
{
	if (!secagg_round__has_shares(j->secagg, p->node_id))
		return fedc_fail(FEDC_ERR_INVAL, "a masked update from a node whose shares were not forwarded");
	if (msg->n_samples != 0)
		return fedc_fail(FEDC_ERR_INVAL, "a sample count beside a masked update (it belongs inside)");
	return FEDC_OK;
}

enum fedc_err job__secagg_add(struct job *j, const struct participant *p, struct fedc_params *masked)
{
	return secagg_round__add_masked(j->secagg, p->node_id, masked);
}

/* Asks the survivors for their shares and waits until the masks can be
 * removed or secagg_timeout_s passes. */
static enum fedc_err unmask(struct job *j)
{
	int64_t deadline = session__now_ms() + j->exp->privacy.secagg_timeout_s * 1000;
	size_t asked = 0;

	for (size_t i = 0; i < j->n_parts; i++) {
		struct participant *p = &j->parts[i];
		struct fedc_buf data = FEDC_BUF_INIT(FEDC_MAX_SECAGG_DATA);
		enum fedc_err rc;

		if (p->state != PART_ANSWERED || !secagg_round__has_masked(j->secagg, p->node_id))
			continue;
		rc = secagg_round__unmask_for(j->secagg, p->node_id, &data);
		if (!rc)
			rc = send_step(j, p, "unmask", &data);
		asked += rc == FEDC_OK;
		fedc_buf_free(&data);
	}
	fedc_crash_point("secagg-unmask-sent");
	fedc_debug("round %u: secure aggregation: %zu masked vectors added, unmask asked", j->secagg_round, asked);
	while (asked && !secagg_round__can_finish(j->secagg)) {
		struct fedc_msg *msg = NULL;
		enum fedc_err rc = session__next(&j->session, deadline, &msg);

		if (rc == FEDC_ERR_TIMEOUT)
			break;
		if (rc)
			return rc;
		job__handle_late(j, msg);
	}
	return FEDC_OK;
}

enum fedc_err job__secagg_finish(struct job *j, size_t *added)
{
	double *sum = NULL;
	uint64_t weight = 0;
	size_t contributors = 0;
	enum fedc_err rc;

	*added = 0;
	if (secagg_round__n_masked(j->secagg) < j->exp->min_nodes)
		return FEDC_OK; /* the round fails as any round with too few updates */
	rc = unmask(j);
	if (rc)
		return rc;
	fedc_debug("round %u: secure aggregation: unmask answers in", j->secagg_round);
	rc = secagg_round__finish(j->secagg, &sum, &weight, &contributors);
	fedc_debug("round %u: secure aggregation: masks removed", j->secagg_round);
	if (!rc)
		rc = aggregator__add_sum(j->agg, sum, weight, contributors);
	if (rc) {
		/* Not the run's failure: the round is retried like one with too few updates. */
		snprintf(j->secagg_failure, sizeof(j->secagg_failure), "%s", fedc_last_error());
		fedc_warn("round %u: %s", j->secagg_round, j->secagg_failure);
		return FEDC_OK;
	}
	*added = contributors;
	return FEDC_OK;
}
