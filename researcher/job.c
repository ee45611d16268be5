/* The experiment loop. A round: send `train` to every participant, wait until
 * each answered, failed (error reply, went offline) or the round deadline
 * passed, while the updates download and are checked on the fetcher's
 * threads as replies arrive, then aggregate what arrived -- in node-id order,
 * so arrival order never changes the result -- if at least min_nodes
 * answered. With strategy = cyclic a training round is a chain of such
 * rounds of one node each instead (job_cyclic.c). */
#include "job.h"
#include "job_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aggregator.h"
#include "breakpoint.h"
#include "fetcher.h"
#include "fedc/caps.h"
#include "fedc/crash.h"
#include "fedc/fs.h"
#include "fedc/hash.h"
#include "fedc/inline_params.h"
#include "fedc/limits.h"
#include "fedc/log.h"
#include "fedc/mqtt.h"
#include "fedc/params.h"
#include "fedc/repo.h"
#include "fedc/uuid.h"
#include "history.h"
#include "initial_params.h"
#include "job_cyclic.h"
#include "plan_build.h"
#include "privacy.h"
#include "progress.h"
#include "run_control.h"
#include "selection.h"
#include "session.h"
#include "status.h"
#include "xval.h"


static struct session *volatile signal_session;
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
	if (signal_session)
		session__interrupt(signal_session);
}

static double now_s(void)
{
	return (double)session__now_ms() / 1000.0;
}

/* ---- discovery ---- */

static int compare_parts(const void *a, const void *b)
{
	return strcmp(((const struct participant *)a)->node_id, ((const struct participant *)b)->node_id);
}

/* With [experiment] nodes, only the listed nodes take part. */
static bool listed(const struct experiment *exp, const char *node_id)
{
	for (uint32_t i = 0; i < exp->n_nodes; i++) {
		if (strcmp(exp->nodes[i], node_id) == 0)
			return true;
	}
	return exp->n_nodes == 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* The largest parameter file that goes to and comes from this node inline:
 * our own limit ([network] inline_params_max, and what our connection
 * carries), or the node's if smaller; 0 for a node that does not advertise
 * inline parameters (an earlier version refuses the field). */
static uint64_t inline_limit(const struct job *j, const struct fedc_msg *reply)
{
	uint64_t own = min_u64((uint64_t)j->exp->inline_params_max, fedc_mqtt_max_inline_params(j->session.mqtt));
	double cap = 0;

	if (!fedc_msg_has(reply, FEDC_F_CAPABILITIES) ||
	    !fedc_msg_kv_get(reply->capabilities, reply->n_capabilities, FEDC_CAP_INLINE_PARAMS, &cap) || !(cap > 0))
		return 0;
	if (cap > (double)FEDC_MAX_INLINE_PARAMS)
		cap = FEDC_MAX_INLINE_PARAMS;
	return min_u64((uint64_t)cap, own);
}

/* A round's inline replies must fit in the receive queues together, ours
 * and the broker's for us (FEDC_MQTT_QUEUE_MAX_BYTES each; past it a
 * message is dropped): with many nodes each gets its share of them. */
static void share_inline_limits(struct job *j)
{
	uint64_t share;

	if (j->n_parts == 0)
		return;
	share = fedc_inline_params_fit(FEDC_MQTT_QUEUE_MAX_BYTES / j->n_parts); /* less the rest of each message */
	for (size_t i = 0; i < j->n_parts; i++)
		j->parts[i].inline_max = min_u64(j->parts[i].inline_max, share);
}

/* The newest envelope version a node opens (an earlier version refuses
 * later ones): 1 when it does not say. */
static double envelope_version(const struct fedc_msg *reply)
{
	double version = 0;

	return fedc_msg_has(reply, FEDC_F_CAPABILITIES) &&
		       fedc_msg_kv_get(reply->capabilities, reply->n_capabilities, FEDC_CAP_ENVELOPE, &version)
		       ? version
		       : 1;
}

static void add_participant(struct job *j, const struct fedc_msg *reply)
{
	struct participant *p;

	for (size_t i = 0; i < j->n_parts; i++) {
		if (strcmp(j->parts[i].node_id, reply->node_id) == 0)
			return; /* a duplicate delivery */
	}
	if (reply->n_datasets == 0 || j->n_parts >= JOB_MAX_PARTICIPANTS || !listed(j->exp, reply->node_id))
		return;
	if (!selection__admits(&j->exp->require, reply, stdout)) {
		j->n_unfit++;
		return;
	}
	if (reply->n_datasets > 1)
		fedc_info("node %s offers %u matching datasets; using %s", reply->node_id, reply->n_datasets,
			  reply->datasets[0].name);
	p = &j->parts[j->n_parts++];
	memset(p, 0, sizeof(*p));
	snprintf(p->node_id, sizeof(p->node_id), "%s", reply->node_id);
	snprintf(p->dataset_id, sizeof(p->dataset_id), "%s", reply->datasets[0].dataset_id);
	p->n_samples = reply->datasets[0].n_samples;
	p->inline_max = inline_limit(j, reply);
	p->envelope_v2 = envelope_version(reply) >= 2;
	p->envelope_v3 = envelope_version(reply) >= 3;
}

/* An `error` reply was noted by the session: it is told after the search. */
static void on_search_reply(void *ctx, struct fedc_msg *reply)
{
	if (reply->command == FEDC_CMD_SEARCH_REPLY)
		add_participant(ctx, reply);
	fedc_msg_free(reply);
}

/* "t1,t2": the tags the experiment searched for. */
static void tag_list(const struct experiment *exp, char *out, size_t cap)
{
	size_t used = 0;

	out[0] = '\0';
	for (uint32_t i = 0; i < exp->n_tags && used < cap; i++)
		used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "," : "", exp->tags[i]);
}

/* Broadcasts `search` and collects replies until every online node answered
 * or the discovery timeout passes. */
static enum fedc_err discover(struct job *j)
{
	const struct experiment *exp = j->exp;
	struct fedc_msg *req = fedc_msg_new(FEDC_CMD_SEARCH);
	char tags[FEDC_MAX_TAGS * (FEDC_MAX_TAG_LEN + 1) + 1];
	const char *network;
	size_t replies = 0, refused;
	enum fedc_err rc;

	if (!req)
		return FEDC_ERR_NOMEM;
	snprintf(req->researcher_id, sizeof(req->researcher_id), "%s", exp->researcher_id);
	fedc_msg_set(req, FEDC_F_RESEARCHER_ID);
	memcpy(req->tags, exp->tags, sizeof(exp->tags));
	req->n_tags = exp->n_tags;
	fedc_msg_set(req, FEDC_F_TAGS);
	rc = session__gather(&j->session, req, FEDC_CMD_SEARCH_REPLY,
			     session__now_ms() + exp->discovery_timeout_s * 1000, on_search_reply, j, &replies);
	fedc_msg_free(req);
	if (rc)
		return rc;
	refused = j->session.n_refused;
	session__print_refusals(&j->session, stdout);
	qsort(j->parts, j->n_parts, sizeof(j->parts[0]), compare_parts);
	share_inline_limits(j);
	if (j->n_parts >= exp->min_nodes)
		return FEDC_OK;
	tag_list(exp, tags, sizeof(tags));
	if (j->n_unfit > 0)
		return fedc_fail(FEDC_ERR_NOT_FOUND,
				 "%zu node(s) with a dataset tagged %s meet [nodes] require (%zu left out by it: see "
				 "above); min_nodes is %u. Loosen require, or see what the nodes advertise: "
				 "fedc-researcher nodes --network %s",
				 j->n_parts, tags, j->n_unfit, exp->min_nodes, session__network_file(exp));
	if (refused > 0)
		return fedc_fail(FEDC_ERR_NOT_FOUND,
				 "found %zu node(s) with a dataset tagged %s (%zu answered the search, %zu of them "
				 "refused it: see above); min_nodes is %u",
				 j->n_parts, tags, replies, refused, exp->min_nodes);
	network = session__network_file(exp);
	return fedc_fail(FEDC_ERR_NOT_FOUND,
			 "found %zu node(s) with a dataset tagged %s (%zu answered the search); min_nodes is %u.\n"
			 "To see which nodes hold what: fedc-researcher search --tags %s --network %s\n"
			 "(or every dataset and its tags: fedc-researcher nodes --network %s)",
			 j->n_parts, tags, replies, exp->min_nodes, tags, network, network);
}

/* ---- one round ---- */

static size_t count_selected(const struct job *j);

/* Parameters inline (docs/protocol.md): the global model rides in the
 * request when the node takes it and it is small enough, and the node may
 * answer its update inline up to the same size -- except under secure
 * aggregation, whose masked updates keep the repository path. To a node
 * that opens them the request goes in a version-2 envelope, the parameters
 * as its attachment, signed through the digest computed once per round (so
 * neither side hashes them again), and the node answers the same way. */
static enum fedc_err fill_inline(const struct job *j, const struct participant *p, bool evaluate_only,
				 struct fedc_msg *m)
{
	m->params_attached = p->envelope_v2;
	/* Our connection's limit again, not only the one at discovery: a
	 * reconnection may have lost its fixed send buffer (then the request
	 * names the global in the repository instead). */
	if (j->global_inline && p->inline_max >= j->global_inline_len &&
	    j->global_inline_len <= fedc_mqtt_max_inline_params(j->session.mqtt) &&
	    strcmp(j->global_inline_digest, m->params_digest) == 0) {
		/* Borrowed, not copied: the request is sealed and freed before the
		 * next global replaces these bytes (up to 8 MiB, once per node). */
		enum fedc_err rc = fedc_msg_borrow_params(m, j->global_inline, j->global_inline_len);

		if (rc)
			return rc;
	}
	if (!evaluate_only && p->inline_max > 0 && !m->secagg) {
		m->inline_params_max = p->inline_max;
		fedc_msg_set(m, FEDC_F_INLINE_PARAMS_MAX);
	}
	return FEDC_OK;
}

/* Per-job sessions (docs/protocol.md, "Envelope version 3"): to a node that
 * opens version 3, the train goes MAC'd under the session agreed with it,
 * or, before there is one, signed with this run's session_kx. */
static enum fedc_err fill_session(const struct job *j, const struct participant *p, struct fedc_msg *m)
{
	if (!p->envelope_v3 || !j->kx)
		return FEDC_OK;
	if (!p->has_session)
		return fedc_msg_set_session_kx(m, fedc_session_kx_public(j->kx));
	m->via_session = true;
	m->session = p->session;
	return FEDC_OK;
}

/* A signed train-reply carrying the node's session_kx: the session with it,
 * for the next trains of this run. A failed agreement (a low-order key) only
 * means that the trains stay signed. */
static void learn_session(struct job *j, struct participant *p, const struct fedc_msg *reply)
{
	struct fedc_session s;

	if (!fedc_msg_has(reply, FEDC_F_SESSION_KX) || reply->via_session || !p->envelope_v3 || !j->kx)
		return;
	if (fedc_session_derive(j->kx, reply->session_kx, FEDC_SESSION_RESEARCHER, j->exp->researcher_id,
				p->node_id, j->job_id, &s) != FEDC_OK) {
		fedc_warn("node %s: no session (its trains stay signed): %s", p->node_id, fedc_last_error());
		return;
	}
	fedc_session_wipe(&p->session);
	p->session = s;
	p->has_session = true;
	fedc_session_wipe(&s);
}

/* The researcher's sessions, for the channel (fedc_session_lookup). */
static const struct fedc_session *find_session(void *ctx, const char *signer, const uint8_t sid[FEDC_SESSION_ID_BYTES])
{
	const struct job *j = ctx;

	for (size_t i = 0; i < j->n_parts; i++) {
		const struct participant *p = &j->parts[i];

		if (p->has_session && strcmp(p->node_id, signer) == 0 &&
		    memcmp(p->session.sid, sid, FEDC_SESSION_ID_BYTES) == 0)
			return &p->session;
	}
	return NULL;
}

FEDC_NODISCARD
static enum fedc_err fill_train(const struct job *j, const struct participant *p, uint32_t round,
				bool evaluate_only, struct fedc_msg *m)
{
	const struct experiment *exp = j->exp;
	static const enum fedc_field fields[] = {
		FEDC_F_JOB_ID, FEDC_F_ROUND, FEDC_F_DATASET_ID, FEDC_F_PLAN_DIGEST, FEDC_F_PARAMS_DIGEST,
		FEDC_F_EVALUATE_ONLY, FEDC_F_TEST_ON_GLOBAL, FEDC_F_TEST_ON_LOCAL,
	};
	enum fedc_err rc;

	experiment__fill_train(exp, m);
	snprintf(m->job_id, sizeof(m->job_id), "%s", j->job_id);
	m->round = round;
	snprintf(m->dataset_id, sizeof(m->dataset_id), "%s", p->dataset_id);
	snprintf(m->plan_digest, sizeof(m->plan_digest), "%s", j->plan_digest);
	snprintf(m->params_digest, sizeof(m->params_digest), "%s", j->global_digest);
	m->evaluate_only = evaluate_only;
	m->test_on_global = exp->test_on_global;
	m->test_on_local = exp->test_on_local;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		fedc_msg_set(m, fields[i]);
	privacy__fill_train(exp, count_selected(j), evaluate_only, m);
	if (job__secagg_on(j, evaluate_only))
		job__secagg_fill_train(j, m);
	rc = fill_inline(j, p, evaluate_only, m);
	if (!rc)
		rc = fill_session(j, p, m);
	return rc;
}

static void vfail_part(struct participant *p, const char *status, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vfail_part(struct participant *p, const char *status, const char *fmt, va_list ap)
{
	p->state = PART_FAILED;
	p->status = status;
	vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
}

static void fail_part(struct participant *p, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_part(struct participant *p, const char *status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_part(p, status, fmt, ap);
	va_end(ap);
}

/* fail_part, and the live view told (job_secagg.c's steps fail nodes
 * outside handle_event, which otherwise tells it). */
void job__fail_part(struct job *j, struct participant *p, const char *status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_part(p, status, fmt, ap);
	va_end(ap);
	progress__failed(j->progress, session__now_ms(), p->node_id);
	status__node_changed(j->status, j);
}

static void reset_part(struct participant *p)
{
	fedc_msg_free(p->reply);
	p->reply = NULL;
	p->state = PART_WAITING;
	p->status = "waiting";
	p->reason[0] = '\0';
	p->update_path[0] = '\0';
	p->request_id[0] = '\0';
}

/* Marks who trains this round: everyone (offline nodes then fail as
 * "offline" and are tried again next round), or with fraction < 1 a seeded
 * sample of the nodes online now. The final evaluation asks everyone. */
static void select_participants(struct job *j, bool evaluate_only)
{
	size_t idx[JOB_MAX_PARTICIPANTS], n = 0, k;

	j->chain_len = 0;
	for (size_t i = 0; i < j->n_parts; i++) {
		j->parts[i].selected = evaluate_only || j->exp->fraction >= 1.0;
		j->parts[i].step = 0;
		if (session__online(&j->session, j->parts[i].node_id))
			idx[n++] = i;
	}
	if (evaluate_only || j->exp->fraction >= 1.0)
		return;
	k = selection__sample(&j->rng, j->exp->fraction, j->exp->min_nodes, idx, n);
	for (size_t i = 0; i < k; i++)
		j->parts[idx[i]].selected = true;
}

static size_t count_selected(const struct job *j)
{
	size_t n = 0;

	for (size_t i = 0; i < j->n_parts; i++)
		n += j->parts[i].selected;
	return n;
}

void job__reset_part(struct participant *p)
{
	reset_part(p);
}

static enum fedc_err global_for_repository_path(struct job *j, const struct fedc_msg *train);

enum fedc_err job__send_train(struct job *j, struct participant *p, uint32_t round, bool evaluate_only)
{
	struct fedc_msg *m = fedc_msg_new(FEDC_CMD_TRAIN);
	enum fedc_err rc;

	reset_part(p);
	if (!m)
		return FEDC_ERR_NOMEM;
	rc = fill_train(j, p, round, evaluate_only, m);
	if (rc) {
		fedc_msg_free(m);
		return rc;
	}
	snprintf(p->request_id, sizeof(p->request_id), "%s", m->request_id);
	p->round = round;
	if (!session__online(&j->session, p->node_id)) {
		fail_part(p, "offline", "node is offline");
		fedc_msg_free(m);
		return FEDC_OK;
	}
	rc = global_for_repository_path(j, m);
	if (rc) {
		fedc_msg_free(m);
		return rc;
	}
	rc = session__send(&j->session, p->node_id, m);
	if (rc)
		fail_part(p, "error", "cannot send train: %s", fedc_last_error());
	fedc_msg_free(m);
	return FEDC_OK;
}

static enum fedc_err send_requests(struct job *j, uint32_t round, bool evaluate_only)
{
	for (size_t i = 0; i < j->n_parts; i++) {
		struct participant *p = &j->parts[i];
		enum fedc_err rc;

		if (!p->selected) {
			reset_part(p);
			p->state = PART_IDLE;
			continue;
		}
		rc = job__send_train(j, p, round, evaluate_only);
		if (rc)
			return rc;
	}
	return FEDC_OK;
}

static struct participant *find_by_request(struct job *j, const char *request_id)
{
	for (size_t i = 0; i < j->n_parts; i++) {
		if (strcmp(j->parts[i].request_id, request_id) == 0)
			return &j->parts[i];
	}
	return NULL;
}

/* Where `node_id`'s update is kept: one file per node, rewritten each round
 * (creating and removing files each round costs more than writing them) and
 * removed at the end of the run. */
static enum fedc_err update_path_of(const struct job *j, const char *node_id, char *path, size_t cap)
{
	if ((size_t)snprintf(path, cap, "%s/%s.params", j->updates_dir, node_id) >= cap)
		return fedc_fail(FEDC_ERR_INVAL, "update path too long");
	return FEDC_OK;
}

/* Runs on a fetcher thread. */
static enum fedc_err check_update(void *agg, const struct fedc_params *update)
{
	return aggregator__check_update(agg, update);
}

/* Hands the reply's update to the fetcher: downloaded from the repository,
 * or (carried inline) checked against its digest on a fetcher thread, so the
 * aggregator takes both the same way. An inline update is written out only
 * when cross-site validation keeps the last round's updates (xval.h). An inline
 * update larger than the request allowed (none under secure aggregation)
 * is refused. */
static enum fedc_err fetch_update(struct job *j, struct participant *p, struct fedc_msg *msg)
{
	size_t tag = (size_t)(p - j->parts), len = 0;
	uint64_t allowed = j->secagg ? 0 : p->inline_max;
	fetch_check_fn check = j->secagg ? job__secagg_check_masked : check_update;
	void *ctx = j->secagg ? (void *)j->secagg : (void *)j->agg;
	uint8_t *bytes;

	if (!fedc_msg_has(msg, FEDC_F_PARAMS))
		return fetcher__submit(j->fetcher, tag, p->node_id, msg->params_digest, p->update_path, check, ctx);
	if (msg->params_len > allowed)
		return fedc_fail(FEDC_ERR_TOO_BIG, "its update came inline with %" PRIu32 " bytes; at most %" PRIu64
				 " were allowed (network.inline_params_max, the node's inline_params capability; none "
				 "under secure aggregation)", msg->params_len, allowed);
	bytes = fedc_msg_take_params(msg, &len); /* the reply is kept for the round: not its bytes */
	return fetcher__submit_inline(j->fetcher, tag, p->node_id, msg->params_digest, bytes, len,
				      msg->params_attached, j->exp->cross_site ? p->update_path : NULL, check, ctx);
}

/* A train-reply: its update is fetched now, while other nodes still train.
 * Updates are scratch files, read once by the aggregator: a crash redoes the
 * round, so they are not fsynced. */
static void on_train_reply(struct job *j, struct participant *p, struct fedc_msg *msg, bool evaluate_only)
{
	enum fedc_err rc;

	if (strcmp(msg->node_id, p->node_id) != 0 || strcmp(msg->job_id, j->job_id) != 0) {
		fedc_warn("reply for %s came from %s for job %s: ignored", p->node_id, msg->node_id, msg->job_id);
		fedc_msg_free(msg);
		return;
	}
	p->reply = msg;
	learn_session(j, p, msg);
	if (!evaluate_only) {
		if (!fedc_msg_has(msg, FEDC_F_PARAMS_DIGEST)) {
			fail_part(p, "rejected", "reply without an update");
			return;
		}
		/* Its weight in the aggregate: no more rows than it offered in
		 * search (docs/security.md, "Rogue nodes"). With secure
		 * aggregation the weight is inside the masked vector. */
		if (j->secagg ? job__secagg_accept_reply(j, p, msg) != FEDC_OK
			      : aggregator__check_claim(msg->n_samples, p->n_samples) != FEDC_OK) {
			fail_part(p, "rejected", "%s", fedc_last_error());
			return;
		}
		char path[sizeof(p->update_path)]; /* built aside: p lives inside j */

		if (update_path_of(j, p->node_id, path, sizeof(path)) != FEDC_OK) {
			fail_part(p, "error", "%s", fedc_last_error());
			return;
		}
		memcpy(p->update_path, path, sizeof(path));
		rc = fetch_update(j, p, msg);
		if (rc == FEDC_ERR_TOO_BIG) {
			fail_part(p, "rejected", "%s", fedc_last_error());
			p->update_path[0] = '\0';
			return;
		}
		if (rc) {
			fail_part(p, "error", "cannot fetch its update: %s", fedc_strerror(rc));
			p->update_path[0] = '\0';
			return;
		}
		p->state = PART_FETCHING;
		return;
	}
	p->state = PART_ANSWERED;
	p->status = "answered";
}

/* Tells the live view what became of `p`. */
static void show_outcome(struct job *j, const struct participant *p)
{
	if (p->state == PART_ANSWERED || p->state == PART_FETCHING)
		progress__answered(j->progress, session__now_ms(), p->node_id);
	else if (p->state == PART_FAILED)
		progress__failed(j->progress, session__now_ms(), p->node_id);
	status__node_changed(j->status, j);
}

/* The next train to `p` goes signed and agrees a new session. Also after a
 * timeout: the node may have lost the session and its unknown-session
 * answer may have been held back by its refusal limit (docs/security.md),
 * and a MAC'd train would then time out round after round. */
static void forget_session(struct participant *p)
{
	p->has_session = false;
	fedc_session_wipe(&p->session);
}

/* The node does not hold the session any more (it restarted, evicted it, or
 * reloaded its keys): forget it and send this round's train again at once,
 * signed with session_kx, so that no round is lost. False if this was not
 * that case. */
static bool renew_session(struct job *j, struct participant *p, const struct fedc_msg *error, bool evaluate_only)
{
	if (!p->has_session || strcmp(error->error_code, FEDC_SESSION_UNKNOWN_CODE) != 0)
		return false;
	fedc_info("node %s no longer holds its session: round %" PRIu32 " sent again, signed", p->node_id, p->round);
	forget_session(p);
	if (job__send_train(j, p, p->round, evaluate_only) != FEDC_OK)
		fail_part(p, "error", "cannot send train again: %s", fedc_last_error());
	return true;
}

static void handle_event(struct job *j, struct fedc_msg *msg, bool evaluate_only)
{
	struct participant *p;

	if (msg->command == FEDC_CMD_STATUS) {
		for (size_t i = 0; i < j->n_parts; i++) {
			p = &j->parts[i];
			if (p->state == PART_WAITING && strcmp(p->node_id, msg->node_id) == 0 &&
			    strcmp(msg->state, "online") != 0) {
				fail_part(p, "offline", "node went offline during the round");
				show_outcome(j, p);
			}
		}
		fedc_msg_free(msg);
		return;
	}
	p = find_by_request(j, msg->request_id);
	if (p && msg->command == FEDC_CMD_SECAGG_REPLY) {
		if (strcmp(msg->node_id, p->node_id) == 0)
			job__secagg_on_reply(j, p, msg);
		fedc_msg_free(msg);
		return;
	}
	if (!p || p->state != PART_WAITING) {
		fedc_info("late or unknown %s from %s (request %s) ignored", fedc_cmd_name(msg->command), msg->node_id,
			  msg->request_id);
		fedc_msg_free(msg);
		return;
	}
	if (msg->command == FEDC_CMD_SCALAR) {
		progress__scalar(j->progress, session__now_ms(), p->node_id, msg->name, msg->value, msg->iteration,
				 msg->epoch > UINT32_MAX ? UINT32_MAX : (uint32_t)msg->epoch);
		node_log__scalar(j->node_log, p->node_id, msg->name, msg->value, msg->iteration, msg->epoch);
		fedc_msg_free(msg);
	} else if (msg->command == FEDC_CMD_ERROR && renew_session(j, p, msg, evaluate_only)) {
		fedc_msg_free(msg);
	} else if (msg->command == FEDC_CMD_ERROR) {
		session__note_refusal(&j->session, msg); /* told once per reason if the run fails */
		fail_part(p, "error", "%s: %s", msg->error_code, msg->message);
		show_outcome(j, p);
		fedc_msg_free(msg);
	} else if (msg->command == FEDC_CMD_TRAIN_REPLY) {
		fedc_debug("train-reply from %s", p->node_id);
		on_train_reply(j, p, msg, evaluate_only);
		show_outcome(j, p);
		fedc_crash_point("round-reply");
	} else {
		fedc_warn("unexpected %s from %s ignored", fedc_cmd_name(msg->command), msg->node_id);
		fedc_msg_free(msg);
	}
}

void job__handle_late(struct job *j, struct fedc_msg *msg)
{
	struct participant *p = find_by_request(j, msg->request_id);

	if (p && msg->command == FEDC_CMD_SECAGG_REPLY && strcmp(msg->node_id, p->node_id) == 0)
		job__secagg_on_reply(j, p, msg);
	else if (p && msg->command == FEDC_CMD_ERROR)
		fedc_warn("node %s: %s: %s", p->node_id, msg->error_code, msg->message);
	fedc_msg_free(msg);
}

static size_t count_state(const struct job *j, enum part_state state)
{
	size_t n = 0;

	for (size_t i = 0; i < j->n_parts; i++)
		n += j->parts[i].state == state;
	return n;
}

enum fedc_err job__collect(struct job *j, bool evaluate_only)
{
	int64_t deadline = session__now_ms() + j->exp->round_timeout_s * 1000;

	while (count_state(j, PART_WAITING) > 0) {
		struct fedc_msg *msg = NULL;
		int64_t step = job__secagg_deadline(j), until = step < deadline ? step : deadline;
		int64_t status_due = status__due_ms(j->status);
		enum fedc_err rc = session__next(&j->session, status_due < until ? status_due : until, &msg);

		status__flush_due(j->status, j); /* a change left for later (status.h) */
		if (rc == FEDC_ERR_TIMEOUT && session__now_ms() < until)
			continue; /* woken for the status file */
		if (rc == FEDC_ERR_TIMEOUT && step < deadline) {
			job__secagg_advance(j, true); /* a step's deadline: go on without the late */
			continue;
		}
		if (rc == FEDC_ERR_TIMEOUT)
			break;
		if (rc)
			return rc;
		handle_event(j, msg, evaluate_only);
		job__secagg_advance(j, false);
	}
	for (size_t i = 0; i < j->n_parts; i++) {
		if (j->parts[i].state == PART_WAITING) {
			fail_part(&j->parts[i], "timeout", "no reply within round_timeout_s = %" PRId64 " s",
				  j->exp->round_timeout_s);
			forget_session(&j->parts[i]);
		}
	}
	return FEDC_OK;
}

/* ---- aggregation ---- */

enum fedc_err job__begin_aggregation(struct job *j)
{
	struct fedc_params *global = NULL;
	enum fedc_err rc = fedc_params_open(j->global_path, &global);

	if (!rc)
		rc = aggregator__begin(j->agg, global, (uint32_t)j->n_parts);
	fedc_params_close(global);
	return rc;
}

/* One fetched update: into the aggregator, or the node failed. */
static void take_fetched(struct job *j, struct fetch_result *r)
{
	struct participant *p = &j->parts[r->tag];

	if (!r->rc) {
		r->rc = j->secagg ? job__secagg_add(j, p, r->update)
				  : aggregator__add_checked(j->agg, p->node_id, r->update,
							    privacy__weight(j->exp, p->reply->n_samples));
		r->refused = r->rc != FEDC_OK;
		if (r->rc)
			snprintf(r->error, sizeof(r->error), "%s", fedc_last_error());
	}
	if (r->rc) {
		if (strstr(r->error, strerror(ENOSPC)))
			j->disk_full = true; /* this disk, not the node's: the run's end says what to do */
		fail_part(p, r->refused ? "rejected" : "error", "%s: %s",
			  r->refused ? "its update was refused" : "cannot fetch its update", r->error);
		p->update_path[0] = '\0';
		show_outcome(j, p);
		return;
	}
	p->state = PART_ANSWERED;
	p->status = "answered";
}

void job__take_all_fetched(struct job *j)
{
	struct fetch_result r;

	while (fetcher__next(j->fetcher, &r))
		take_fetched(j, &r);
}

/* The answered updates are in the aggregator, which folds them in node-id
 * order. The last round's global parameters stay on disk in their
 * breakpoint, but nothing reads them again: dropping them from the page
 * cache first lets the new file take their pages rather than fresh ones
 * (in a VM a fresh page can cost a fault in the host: 4 MB were written
 * in 10 ms on fresh pages and in under 1.5 ms on reused ones). */
static enum fedc_err aggregate(struct job *j, size_t *added)
{
	enum fedc_err rc;

	*added = count_state(j, PART_ANSWERED);
	if (j->secagg && *added >= j->exp->min_nodes) {
		rc = job__secagg_finish(j, added);
		if (rc)
			return rc;
	}
	if (*added < j->exp->min_nodes)
		return FEDC_OK;
	fedc_drop_cached(j->global_path);
	return aggregator__finish(j->agg, j->global_path);
}

/* ---- reporting ---- */

struct round_means {
	double train_loss, global_loss, global_accuracy;
};

static double weighted(const struct job *j, bool global, const char *name)
{
	double sum = 0, weight = 0, v;

	for (size_t i = 0; i < j->n_parts; i++) {
		const struct fedc_msg *r = j->parts[i].reply;
		double w;

		if (!r || j->parts[i].state != PART_ANSWERED)
			continue;
		/* with secure aggregation the training counts stay hidden: equal weights */
		w = (double)(global ? r->n_test : r->n_samples ? r->n_samples : 1);
		if (global ? !fedc_msg_kv_get(r->global_metrics, r->n_global_metrics, name, &v)
			   : !fedc_msg_kv_get(r->metrics, r->n_metrics, name, &v))
			continue;
		sum += w * v;
		weight += w;
	}
	return weight > 0 ? sum / weight : NAN;
}

/* Records the round in the history files and prints its line, then one line
 * per node that failed. `failed`: too few updates to aggregate. */
static void record_round(struct job *j, uint32_t round, bool evaluate_only, bool failed, double seconds)
{
	const char *kind = evaluate_only ? "evaluate" : "train";
	const char *metric = j->exp->test_metric; /* the one the researcher chose to watch */
	struct round_record rr = { round, kind, (uint32_t)count_selected(j), (uint32_t)count_state(j, PART_ANSWERED),
				   weighted(j, false, "loss"), weighted(j, true, "loss"),
				   weighted(j, true, "accuracy"), seconds, evaluate_only ? "" : j->global_digest,
				   evaluate_only ? NAN : j->epsilon };

	progress__round_end(j->progress);
	status__round_end(j->status, j, &rr, weighted(j, true, metric));
	if (evaluate_only && rr.answered == 0)
		printf("final evaluation   failed: none of the %u node(s) answered\n", rr.selected);
	else if (evaluate_only)
		printf("final evaluation   nodes %u/%u  test loss %.4f  test %s %.4f\n", rr.answered, rr.selected,
		       rr.global_loss, metric, weighted(j, true, metric));
	else if (failed && j->secagg_failure[0])
		printf("round %4u/%-4u  failed: %s  %.2f s\n", round, j->exp->rounds, j->secagg_failure, seconds);
	else if (failed) /* no aggregate, so no loss to show: say why instead */
		printf("round %4u/%-4u  failed: %u of %u node(s) sent a usable update, min_nodes is %u  %.2f s\n",
		       round, j->exp->rounds, rr.answered, rr.selected, j->exp->min_nodes, seconds);
	else
		printf("round %4u/%-4u  nodes %u/%u  train loss %.4f  %s of the model sent %.4f  %.2f s\n", round,
		       j->exp->rounds, rr.answered, rr.selected, rr.train_loss, metric, weighted(j, true, metric),
		       seconds);
	if (!evaluate_only && j->chain_len)
		job_cyclic__print_chain(j);
	if (!evaluate_only && privacy__dp_on(j->exp))
		printf("  privacy: epsilon %.4f (delta %g) after %u round(s)\n", j->epsilon, j->exp->privacy.dp_delta, round);
	/* A cyclic round is told in the order its chain ran (the steps). */
	for (size_t k = 0; k < (j->chain_len ? j->chain_len : j->n_parts); k++) {
		const struct participant *p = &j->parts[j->chain_len ? j->chain[k] : k];
		struct node_record nr = { round, kind, p->node_id, p->dataset_id, p->status, p->reason, p->reply,
					  p->step };

		if (!p->selected)
			continue;
		if (history__node(j->history, &nr)) /* a record for people: the run goes on */
			fedc_warn("history: %s", fedc_last_error());
		if (node_log__record(j->node_log, &nr)) /* as history */
			fedc_warn("node log: %s", fedc_last_error());
		if (p->state == PART_FAILED)
			printf("  node %s %s: %s\n", p->node_id, p->status, p->reason);
	}
	if (history__round(j->history, &rr)) /* as above */
		fedc_warn("history: %s", fedc_last_error());
	node_log__round_done(j->node_log);
	fflush(stdout);
}

/* keep_best: the model the nodes scored this round -- the one after the
 * round before, or after the last round for the final evaluation -- becomes
 * best.params when it beats the best so far (best.h). */
static enum fedc_err keep_best(struct job *j, uint32_t round, bool evaluate_only)
{
	const struct experiment *exp = j->exp;
	double value = weighted(j, true, exp->keep_best);
	uint32_t model_round = !evaluate_only ? round - 1 : j->budget_stop ? j->budget_stop - 1 : exp->rounds;
	enum fedc_err rc;

	if (!exp->keep_best[0] || !best__improves(exp->keep_best, value, &j->best))
		return FEDC_OK;
	rc = best__install(exp->output_dir, model_round);
	if (rc)
		return rc;
	j->best = (struct best_model){ true, model_round, value };
	status__best(j->status, exp->keep_best, model_round, value);
	if (history__best(j->history, round, exp->keep_best, model_round, value)) /* as record_round */
		fedc_warn("history: %s", fedc_last_error());
	return FEDC_OK;
}

/* keep_best: best.params as the breakpoint knew it (a run killed later may
 * have replaced it with a model of a round to be run again); none if it
 * knew none. */
static enum fedc_err restore_best(struct job *j)
{
	char path[EXP_PATH_MAX + 32];

	if (j->best.have)
		return best__install(j->exp->output_dir, j->best.round);
	snprintf(path, sizeof(path), "%s/" BEST_FILE, j->exp->output_dir);
	if (unlink(path) != 0 && errno != ENOENT)
		return fedc_fail(FEDC_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
	return FEDC_OK;
}

/* ---- the experiment ---- */

/* Reads global.params into j->global_inline when it is small enough to ride
 * inline (hashing it once, here); otherwise forgets the last one. */
static enum fedc_err keep_global_inline(struct job *j)
{
	int fd = open(j->global_path, O_RDONLY | O_CLOEXEC);
	enum fedc_err rc;

	free(j->global_inline);
	j->global_inline = NULL;
	j->global_inline_len = 0;
	j->global_inline_digest[0] = '\0';
	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "%s: %s", j->global_path, strerror(errno));
	rc = j->exp->inline_params_max > 0
		     ? fedc_inline_params_read_fd(fd, (size_t)j->exp->inline_params_max, &j->global_inline,
						  &j->global_inline_len, j->global_inline_digest)
		     : FEDC_ERR_TOO_BIG;
	close(fd);
	return rc == FEDC_ERR_TOO_BIG ? FEDC_OK : rc;
}

/* PUTs global.params (its digest already known when it is kept inline). */
static enum fedc_err put_global(struct job *j)
{
	enum fedc_err rc = fedc_repo_put_file(j->repo, j->global_path,
					      j->global_inline ? j->global_inline_digest : NULL, j->global_digest, NULL);

	if (rc)
		return fedc_fail(rc, "cannot upload the global parameters: %s", fedc_last_error());
	j->global_upload_pending = false;
	return FEDC_OK;
}

enum fedc_err job__upload_global(struct job *j)
{
	enum fedc_err rc = keep_global_inline(j);

	return rc ? rc : put_global(j);
}

/* After a parallel round's aggregate: a global small enough to ride inline
 * is uploaded only once a request needs it through the repository
 * (job__send_train), which with nodes that all take it inline is never --
 * the breakpoint keeps it on disk, and a resumed run uploads it. A larger
 * one goes up now. Either way global_digest names it. */
static enum fedc_err keep_global(struct job *j)
{
	enum fedc_err rc = keep_global_inline(j);

	if (rc || !j->global_inline)
		return rc ? rc : put_global(j);
	memcpy(j->global_digest, j->global_inline_digest, sizeof(j->global_digest));
	j->global_upload_pending = true;
	return FEDC_OK;
}

/* A request that names the global parameters without carrying them (a node
 * without inline parameters, a threshold under the file's size): they must be
 * in the repository first. */
static enum fedc_err global_for_repository_path(struct job *j, const struct fedc_msg *train)
{
	if (fedc_msg_has(train, FEDC_F_PARAMS) || !j->global_upload_pending ||
	    strcmp(train->params_digest, j->global_inline_digest) != 0)
		return FEDC_OK;
	return put_global(j);
}

static enum fedc_err begin_progress(struct job *j, uint32_t round)
{
	const char *ids[JOB_MAX_PARTICIPANTS];
	size_t n = 0;

	for (size_t i = 0; i < j->n_parts; i++) {
		if (j->parts[i].selected)
			ids[n++] = j->parts[i].node_id;
	}
	progress__set_epsilon(j->progress, j->epsilon);
	return progress__round_begin(j->progress, round, j->exp->rounds, ids, n);
}

/* Every selected node trains (or evaluates) the global model at once; their
 * updates are aggregated. *added: the updates aggregated. */
static enum fedc_err parallel_round(struct job *j, uint32_t round, bool evaluate_only, size_t *added)
{
	enum fedc_err rc = FEDC_OK;

	if (!evaluate_only)
		rc = job__begin_aggregation(j);
	if (!rc && job__secagg_on(j, evaluate_only))
		rc = job__secagg_plan(j, round);
	if (!rc)
		rc = send_requests(j, round, evaluate_only);
	status__requests_sent(j->status, j);
	if (!rc && job__secagg_on(j, evaluate_only))
		rc = job__secagg_begin(j, round);
	if (!rc)
		rc = job__collect(j, evaluate_only);
	job__take_all_fetched(j); /* also after a failure: no fetch outlives its round */
	if (!rc && !evaluate_only)
		rc = aggregate(j, added);
	job__secagg_end(j);
	aggregator__end_round(j->agg); /* no update stays mapped: the next round rewrites their files */
	return rc;
}

static enum fedc_err run_round(struct job *j, uint32_t round, bool evaluate_only)
{
	double t0 = now_s();
	size_t added = 0;
	enum fedc_err rc;

	select_participants(j, evaluate_only);
	status__round_begin(j->status, j, round, evaluate_only);
	if (!evaluate_only && privacy__dp_on(j->exp) &&
	    privacy__epsilon(j->exp, privacy__sampling_rate(j->exp, j->n_parts), round, &j->epsilon) != FEDC_OK)
		j->epsilon = NAN;
	j->secagg_failure[0] = '\0';
	rc = begin_progress(j, round);
	if (!rc && !evaluate_only && j->exp->cyclic)
		rc = job_cyclic__round(j, round, &added); /* it uploads each step's model */
	else if (!rc)
		rc = parallel_round(j, round, evaluate_only, &added);
	if (rc)
		return rc;
	if (!evaluate_only && !j->exp->cyclic && added >= j->exp->min_nodes)
		rc = keep_global(j);
	record_round(j, round, evaluate_only, !evaluate_only && added < j->exp->min_nodes, now_s() - t0);
	if (!rc)
		rc = keep_best(j, round, evaluate_only);
	if (rc)
		return rc;
	if (!evaluate_only && added < j->exp->min_nodes)
		return fedc_fail(FEDC_ERR_NOT_FOUND, "round %u: %zu update(s) usable, min_nodes is %u", round, added,
				 j->exp->min_nodes);
	return FEDC_OK;
}

/* ---- breakpoints ---- */

static enum fedc_err digest_of(const char *path, char *hex)
{
	if (!path[0]) {
		hex[0] = '\0';
		return FEDC_OK;
	}
	if (fedc_hash_file(FEDC_HASH_SHA256, path, hex) != FEDC_OK)
		return fedc_fail(FEDC_ERR_IO, "cannot read %s: %s", path, fedc_last_error());
	return FEDC_OK;
}

/* The experiment and network files as absolute paths and their digests:
 * once per run, then repeated in every breakpoint. */
static enum fedc_err identify_inputs(struct job *j)
{
	const struct experiment *exp = j->exp;
	struct breakpoint *in = &j->inputs;
	enum fedc_err rc;

	if (!realpath(exp->path, in->experiment_path) ||
	    (exp->network_path[0] && !realpath(exp->network_path, in->network_path)))
		return fedc_fail(FEDC_ERR_IO, "cannot resolve the experiment or network file path: %s", strerror(errno));
	rc = digest_of(in->experiment_path, in->experiment_digest);
	if (!rc)
		rc = digest_of(in->network_path, in->network_digest);
	return rc;
}

/* Everything needed to continue after `round`, saved atomically. */
static enum fedc_err save_breakpoint(struct job *j, uint32_t round)
{
	const struct experiment *exp = j->exp;
	struct breakpoint *bp = calloc(1, sizeof(*bp));
	enum fedc_err rc;

	if (!bp)
		return FEDC_ERR_NOMEM;
	*bp = j->inputs;
	bp->round = round;
	bp->rounds = exp->rounds;
	memcpy(bp->job_id, j->job_id, sizeof(bp->job_id));
	memcpy(bp->plan_digest, j->plan_digest, sizeof(bp->plan_digest));
	memcpy(bp->global_digest, j->global_digest, sizeof(bp->global_digest));
	memcpy(bp->rng, j->rng.s, sizeof(bp->rng));
	memcpy(bp->roles, j->roles, j->n_roles);
	bp->n_roles = j->n_roles;
	bp->best = j->best;
	rc = history__sync(j->history, bp->history_sizes);
	if (!rc)
		rc = aggregator__save_state(j->agg, j->agg_state_path);
	if (!rc)
		rc = digest_of(j->agg_state_path, bp->aggregator_digest);
	bp->has_aggregator_state = true;
	if (!rc)
		rc = breakpoint__save(exp->output_dir, bp, j->global_path, j->agg_state_path);
	free(bp);
	if (rc)
		return fedc_fail(rc, "cannot save the breakpoint of round %u: %s", round, fedc_last_error());
	return FEDC_OK;
}

/* breakpoint_every = k: the breakpoint of a round that is a multiple of k,
 * or the last, is saved now; another is only pending, saved if the run
 * stops before the next round (save_pending_breakpoint). Either way now or
 * never: the next round moves the sampling RNG, the aggregator's state and
 * the history files on. A run killed between saved breakpoints resumes from
 * the last one and trains the rounds after it again (the same bits). */
static enum fedc_err after_round(struct job *j, uint32_t round)
{
	if (round % j->exp->breakpoint_every != 0 && round != j->exp->rounds) {
		j->pending_breakpoint = round;
		return FEDC_OK;
	}
	j->pending_breakpoint = 0;
	return save_breakpoint(j, round);
}

/* The pending breakpoint, when the run stops between rounds. */
static enum fedc_err save_pending_breakpoint(struct job *j)
{
	uint32_t round = j->pending_breakpoint;

	j->pending_breakpoint = 0;
	return round ? save_breakpoint(j, round) : FEDC_OK;
}

/* ---- the experiment ---- */

static enum fedc_err open_outputs(struct job *j)
{
	const struct experiment *exp = j->exp;
	enum fedc_err rc;

	snprintf(j->global_path, sizeof(j->global_path), "%s/global.params", exp->output_dir);
	snprintf(j->updates_dir, sizeof(j->updates_dir), "%s/updates", exp->output_dir);
	snprintf(j->agg_state_path, sizeof(j->agg_state_path), "%s/aggregator.state", exp->output_dir);
	rc = identify_inputs(j);
	if (!rc)
		rc = progress__new(stdout, progress__is_tty(stdout), &j->progress);
	if (!rc)
		rc = fedc_mkdir_p(j->updates_dir, 0755);
	if (!rc && !realpath(exp->output_dir, j->shown_dir))
		snprintf(j->shown_dir, sizeof(j->shown_dir), "%s", exp->output_dir);
	if (!rc)
		rc = status__new(j, &j->status);
	if (!rc && j->best.have) /* resumed */
		status__best(j->status, exp->keep_best, j->best.round, j->best.value);
	status__phase(j->status, j, "starting");
	if (!rc)
		rc = aggregator__new(exp->aggregator, &exp->aggregator_options, &j->agg);
	if (!rc)
		rc = experiment__repo_new(exp, &j->repo);
	if (!rc)
		rc = fetcher__new(exp, FETCHER_THREADS, &j->fetcher);
	return rc;
}

static enum fedc_err upload_plan(struct job *j, const char *expected)
{
	enum fedc_err rc = fedc_repo_put_file(j->repo, j->exp->plan_path, NULL, j->plan_digest, NULL);

	if (rc)
		return fedc_fail(rc, "cannot upload the plan %s: %s", j->exp->plan_path, fedc_last_error());
	if (expected && strcmp(expected, j->plan_digest) != 0)
		return fedc_fail(FEDC_ERR_DIGEST, "the plan %s changed since the breakpoint (SHA-256 %.12s..., was "
						  "%.12s...); a resumed run must train the same plan",
				 j->exp->plan_path, j->plan_digest, expected);
	return FEDC_OK;
}

static enum fedc_err prepare(struct job *j)
{
	const struct experiment *exp = j->exp;
	enum fedc_err rc;

	fedc_uuid_new(j->job_id);
	fedc_rng_seed(&j->rng, exp->seed);
	j->first_round = 1;
	j->epsilon = privacy__dp_on(exp) ? 0 : NAN;
	rc = privacy__check_experiment(exp); /* before anything is sent */
	if (!rc)
		rc = job_cyclic__check(exp, exp->path);
	if (!rc)
		rc = open_outputs(j);
	if (!rc)
		rc = restore_best(j); /* none yet: an earlier run's best.params goes */
	if (!rc)
		rc = history__open(exp->output_dir, &j->history);
	if (!rc)
		rc = node_log__open(exp->output_dir, &j->node_log);
	if (!rc)
		rc = initial__params(exp, j->global_path, j->roles, &j->n_roles);
	if (!rc)
		rc = aggregator__set_roles(j->agg, j->roles, j->n_roles);
	if (!rc)
		rc = upload_plan(j, NULL);
	if (!rc)
		rc = job__upload_global(j);
	if (!rc)
		rc = save_breakpoint(j, 0); /* a crash in round 1 resumes from here */
	return rc;
}

static void print_job(const struct job *j)
{
	printf("job %s: %zu node(s), plan %.12s, %u round(s)", j->job_id, j->n_parts, j->plan_digest, j->exp->rounds);
	if (j->first_round > 1)
		printf(", resuming at round %u", j->first_round);
	printf("\n");
	for (size_t i = 0; i < j->n_parts; i++)
		printf("  node %s  dataset %s  %" PRIu64 " samples\n", j->parts[i].node_id, j->parts[i].dataset_id,
		       j->parts[i].n_samples);
}

/* Before retry `attempt`: pause (1, 2, 4 ... 32 s, at most the round
 * timeout) so that a brief outage -- the repository or the broker
 * restarting -- is not met by every retry at once, then wait (up to the
 * round timeout) until enough nodes are online. */
static enum fedc_err wait_for_nodes(struct job *j, uint32_t attempt)
{
	int64_t timeout_ms = j->exp->round_timeout_s * 1000;
	int64_t pause_ms = (int64_t)1000 << (attempt > 6 ? 5 : attempt - 1);
	int64_t earliest = session__now_ms() + (pause_ms < timeout_ms ? pause_ms : timeout_ms);
	int64_t deadline = session__now_ms() + timeout_ms;

	for (;;) {
		size_t online = 0;
		struct fedc_msg *msg = NULL;
		enum fedc_err rc;

		for (size_t i = 0; i < j->n_parts; i++)
			online += session__online(&j->session, j->parts[i].node_id);
		if (online >= j->exp->min_nodes && session__now_ms() >= earliest)
			return FEDC_OK;
		rc = session__next(&j->session, online >= j->exp->min_nodes ? earliest : deadline, &msg);
		if (rc == FEDC_ERR_TIMEOUT && online < j->exp->min_nodes)
			return FEDC_OK; /* the retry will say who is missing */
		if (rc && rc != FEDC_ERR_TIMEOUT)
			return rc;
		fedc_msg_free(msg); /* statuses were recorded; late replies are of no use */
	}
}

/* Nodes whose error reply says "invalid-argument": the node (its plan)
 * refused what the round asks -- a plan of a newer ABI, its [model]
 * arguments, prepare() on its data -- and would refuse a retry the same way
 * (docs/plan-api.md, "Errors"). Their count; *first is the first one. */
static size_t refused_for_good(const struct job *j, const struct participant **first)
{
	const char *code = fedc_strerror(FEDC_ERR_INVAL), *policy = fedc_strerror(FEDC_ERR_PRIVACY);
	size_t n = 0, len = strlen(code), plen = strlen(policy);

	for (size_t i = 0; i < j->n_parts; i++) {
		const struct participant *p = &j->parts[i];

		/* A node's privacy policy refuses a retry the same way. */
		if (p->state != PART_FAILED || !((strncmp(p->reason, code, len) == 0 && p->reason[len] == ':') ||
						 (strncmp(p->reason, policy, plen) == 0 && p->reason[plen] == ':')))
			continue;
		if (n++ == 0)
			*first = p;
	}
	return n;
}

/* One round, tried again (same round number, same seeds) up to
 * round_retries times while too few updates arrive -- unless the nodes
 * that refused it for good leave too few to reach min_nodes. */
static enum fedc_err run_round_with_retries(struct job *j, uint32_t round)
{
	const struct experiment *exp = j->exp;
	const struct participant *refused = NULL;
	enum fedc_err rc;
	size_t n_refused;

	for (uint32_t attempt = 1;; attempt++) {
		rc = run_round(j, round, false);
		if (rc != FEDC_ERR_NOT_FOUND || interrupted)
			return rc;
		n_refused = refused_for_good(j, &refused);
		if (n_refused && j->n_parts - n_refused < exp->min_nodes)
			return fedc_fail(FEDC_ERR_PLAN, "%s; not retried: %zu node(s) refused the round for a reason a retry "
					 "would meet again (node %s: %s). Fix the plan or the experiment file and "
					 "run it again",
					 fedc_last_error(), n_refused, refused->node_id, refused->reason);
		if (attempt > exp->round_retries)
			return fedc_fail(rc, "%s, %u time(s); the experiment stops. Its breakpoint after round %u is in "
					     "%s/breakpoints: once enough nodes are back, continue with\n"
					     "  fedc-researcher resume %s",
					 fedc_last_error(), attempt, round - 1, exp->output_dir, exp->output_dir);
		printf("%s; retrying (%u of %u)\n", fedc_last_error(), attempt, exp->round_retries);
		fflush(stdout);
		rc = wait_for_nodes(j, attempt);
		if (rc)
			return rc;
	}
}

/* Node-level DP with a budget: stops the run before the round that would
 * take epsilon past epsilon_max, as if it had been the last (the breakpoint
 * of the round before is saved; the final evaluation runs). */
static enum fedc_err budget_check(struct job *j, uint32_t round)
{
	const struct experiment *exp = j->exp;
	double q = privacy__sampling_rate(exp, j->n_parts), after = NAN, before = 0;
	bool stops = false;
	enum fedc_err rc = privacy__budget_stops(exp, q, round, &stops, &after);

	if (rc || !stops)
		return rc;
	rc = privacy__epsilon(exp, q, round - 1, &before);
	if (rc)
		return rc;
	j->budget_stop = round;
	j->epsilon = before;
	printf("privacy budget: round %u would take epsilon to %.4f, past epsilon_max %g; the budget stops the "
	       "experiment at round %u, epsilon %.4f (delta %g, q %.4g) after %u round(s)\n",
	       round, after, exp->privacy.epsilon_max, round, before, exp->privacy.dp_delta, q, round - 1);
	fflush(stdout);
	return FEDC_OK;
}

static enum fedc_err run_all(struct job *j)
{
	const struct experiment *exp = j->exp;
	uint32_t last;
	enum fedc_err rc;

	rc = session__open(&j->session, exp);
	if (!rc && j->session.channel.signer && j->session.channel.trusted) {
		rc = fedc_session_kx_new(&j->kx);
		j->session.channel.sessions = (struct fedc_session_lookup){ find_session, j };
	}
	if (rc)
		return rc;
	signal_session = &j->session;
	status__phase(j->status, j, "discovery");
	rc = discover(j);
	if (rc)
		return rc;
	print_job(j);
	for (uint32_t round = j->first_round; !rc && round <= exp->rounds; round++) {
		if (run_control__stop_requested(exp->output_dir)) { /* its breakpoint is saved */
			j->stopped = true;
			j->stopped_after = round - 1;
			return save_pending_breakpoint(j);
		}
		rc = budget_check(j, round);
		if (!rc && j->budget_stop)
			rc = save_pending_breakpoint(j);
		if (rc || j->budget_stop)
			break;
		rc = run_round_with_retries(j, round);
		if (!rc)
			rc = after_round(j, round);
	}
	/* cross_site_validation: the last round's updates are still on disk */
	last = j->budget_stop ? j->budget_stop - 1 : exp->rounds;
	if (!rc && exp->cross_site && last >= j->first_round)
		rc = xval__keep_locals(j, last);
	if (!rc && exp->final_evaluation)
		rc = run_round(j, exp->rounds + 1, true);
	if (!rc && exp->cross_site)
		rc = xval__after_run(j);
	return rc;
}

static void cleanup(struct job *j)
{
	signal_session = NULL;
	fetcher__free(j->fetcher); /* first: its threads use the aggregator */
	job__secagg_end(j);
	free(j->secagg_sum);
	j->secagg_sum = NULL;
	free(j->global_inline);
	j->global_inline = NULL;
	session__close(&j->session);
	fedc_session_kx_free(j->kx);
	j->kx = NULL;
	for (size_t i = 0; i < j->n_parts; i++) {
		char path[sizeof(j->parts[i].update_path)];

		j->parts[i].has_session = false;
		fedc_session_wipe(&j->parts[i].session);
		reset_part(&j->parts[i]);
		if (update_path_of(j, j->parts[i].node_id, path, sizeof(path)) == FEDC_OK)
			(void)unlink(path);
	}
	(void)rmdir(j->updates_dir);
	aggregator__free(j->agg);
	history__close(j->history);
	node_log__close(j->node_log);
	fedc_repo_free(j->repo);
	progress__free(j->progress);
	status__free(j->status);
	run_control__end(j->exp->output_dir);
}

static void install_signals(void)
{
	struct sigaction sa = { 0 };

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* What the user can do about a failure that is not the nodes' doing. */
static void print_next_step(const struct job *j, enum fedc_err rc, const char *why)
{
	const struct experiment *exp = j->exp;
	const char *dir = j->shown_dir[0] ? j->shown_dir : exp->output_dir;
	uint32_t latest;

	if (j->disk_full || strstr(why, strerror(ENOSPC))) {
		if (breakpoint__latest(dir, &latest) == FEDC_OK)
			fprintf(stderr, "the disk is full: free some space, then continue from the breakpoint after "
					"round %u with\n  fedc-researcher resume %s\n", latest, dir);
		else
			fprintf(stderr, "the disk is full: free some space, then start again with\n"
					"  fedc-researcher run %s --output %s\n", exp->path, dir);
	} else if (session__print_unreachable(stderr, rc, exp)) {
		if (j->resumed)
			fprintf(stderr, "once they are reachable, continue with\n  fedc-researcher resume %s\n", dir);
		else
			fprintf(stderr, "Give another with\n  fedc-researcher run %s --network NETWORK.ini\n",
				exp->path);
	}
}

/* `fedc-researcher stop` asked, and the run stopped before a round. */
static int stopped(struct job *j)
{
	char why[128];

	snprintf(why, sizeof(why), "by fedc-researcher stop, after round %u (its breakpoint is saved)",
		 j->stopped_after);
	status__end(j->status, j, "stopped", why);
	printf("stopped %s; continue with: fedc-researcher resume %s\n", why, j->shown_dir);
	return 3;
}

/* Runs the rounds of a prepared job and says how it ended. */
static int finish(struct job *j, enum fedc_err rc)
{
	const struct experiment *exp = j->exp;

	if (!rc)
		rc = run_all(j);
	if (rc == FEDC_ERR_INTERRUPTED || interrupted) {
		status__end(j->status, j, "interrupted", "SIGINT or SIGTERM");
		fprintf(stderr, "fedc-researcher: interrupted; continue with: fedc-researcher resume %s\n",
			exp->output_dir);
		return 130;
	}
	if (rc) {
		char why[FEDC_MAX_TEXT_LEN * 2];

		snprintf(why, sizeof(why), "%s", fedc_last_error()); /* printing refusals may log */
		status__end(j->status, j, "failed", why);
		session__print_refusals(&j->session, stdout);
		fflush(stdout);
		fprintf(stderr, "fedc-researcher: %s: %s\n", fedc_strerror(rc), why);
		print_next_step(j, rc, why);
		return 1;
	}
	if (j->stopped)
		return stopped(j);
	if (privacy__dp_on(exp))
		printf("privacy: node-level DP, epsilon %.4f at delta %g after %u round(s) (noise multiplier %g, clip %g, "
		       "q %.4g)%s\n",
		       isnan(j->epsilon) ? 0.0 : j->epsilon, exp->privacy.dp_delta,
		       j->budget_stop ? j->budget_stop - 1 : exp->rounds, exp->privacy.dp_noise_multiplier,
		       exp->privacy.dp_clip, privacy__sampling_rate(exp, j->n_parts),
		       j->budget_stop ? "; stopped by epsilon_max" : "");
	status__end(j->status, j, "finished", "");
	if (j->best.have)
		printf("best model: the one after round %u, %s %.4f, in %s/" BEST_FILE "\n", j->best.round,
		       exp->keep_best, j->best.value, j->shown_dir);
	else if (exp->keep_best[0])
		printf("best model: none (no node reported %s for a global model)\n", exp->keep_best);
	printf("done: final parameters in %s/global.params, history in %s/history.jsonl\n", j->shown_dir,
	       j->shown_dir);
	return 0;
}

/* Whether the run whose latest breakpoint is round `latest` in the output
 * directory was a run of this same experiment file. A breakpoint that cannot
 * be read counts as another experiment's. */
static bool same_experiment(const struct experiment *exp, uint32_t latest)
{
	struct breakpoint *bp = calloc(1, sizeof(*bp));
	char dir[BREAKPOINT_PATH_MAX], path[PATH_MAX];
	bool same = bp && realpath(exp->path, path) &&
		    breakpoint__load(exp->output_dir, latest, bp, dir, sizeof(dir)) == FEDC_OK &&
		    strcmp(bp->experiment_path, path) == 0;

	free(bp);
	fedc_clear_error();
	return same;
}

enum fedc_err job__claim_output(const struct experiment *exp, bool force)
{
	uint32_t latest;

	/* A combination `run` refuses leaves an earlier run's output alone. */
	if (privacy__check_experiment(exp) != FEDC_OK || job_cyclic__check(exp, exp->path) != FEDC_OK)
		return FEDC_ERR_CONFIG;
	if (breakpoint__latest(exp->output_dir, &latest) != FEDC_OK) {
		fedc_clear_error();
		return breakpoint__remove_all(exp->output_dir); /* at most a half-built one */
	}
	if (latest > 0 && !force && !same_experiment(exp, latest))
		return fedc_fail(FEDC_ERR_EXISTS,
				 "%s holds the output of a run of another experiment (its breakpoints reach round %u); "
				 "continue that run with\n  fedc-researcher resume %s\nor give this one another "
				 "directory with --output DIR, or replace that run's output with --force",
				 exp->output_dir, latest, exp->output_dir);
	if (latest > 0)
		printf("%s: replacing the output of the previous run (its breakpoints reached round %u)\n",
		       exp->output_dir, latest);
	return breakpoint__remove_all(exp->output_dir);
}

int job__run(const struct experiment *exp)
{
	struct job *j = calloc(1, sizeof(*j));
	int code;

	if (!j)
		return 1;
	j->exp = exp;
	install_signals();
	code = finish(j, prepare(j));
	cleanup(j);
	free(j);
	return code;
}

/* ---- resuming ---- */

/* The experiment as the breakpoint saw it: same files, same content. */
static enum fedc_err load_experiment(const struct breakpoint *bp, const char *output_dir, struct experiment *exp)
{
	char digest[FEDC_SHA256_HEXLEN + 1];
	enum fedc_err rc = experiment__load(bp->experiment_path, bp->network_path[0] ? bp->network_path : NULL, exp);

	if (rc)
		return rc;
	rc = digest_of(bp->experiment_path, digest);
	if (!rc && strcmp(digest, bp->experiment_digest) != 0)
		return fedc_fail(FEDC_ERR_DIGEST, "%s changed since the breakpoint; a resumed run needs the same "
						  "experiment (start a new run to change it)", bp->experiment_path);
	if (!rc)
		rc = digest_of(bp->network_path, digest);
	if (!rc && strcmp(digest, bp->network_digest) != 0)
		return fedc_fail(FEDC_ERR_DIGEST, "%s changed since the breakpoint", bp->network_path);
	if (!rc)
		rc = fedc_config_set_string(&exp->output_dir, output_dir);
	return rc;
}

/* Puts the breakpoint's global parameters back as output_dir/global.params,
 * replaced atomically: a failure leaves the old file and no temporary one. */
static enum fedc_err restore_global(struct job *j, const char *bp_dir)
{
	char src[BREAKPOINT_PATH_MAX + 32];

	if ((size_t)snprintf(src, sizeof(src), "%s/global.params", bp_dir) >= sizeof(src))
		return fedc_fail(FEDC_ERR_INVAL, "breakpoint path too long: %s", bp_dir);
	return fedc_copy_atomic(src, j->global_path, 0644);
}

static enum fedc_err prepare_resume(struct job *j, const struct breakpoint *bp, const char *bp_dir)
{
	char state[BREAKPOINT_PATH_MAX + 32];
	enum fedc_err rc;

	memcpy(j->job_id, bp->job_id, sizeof(j->job_id));
	memcpy(j->global_digest, bp->global_digest, sizeof(j->global_digest));
	memcpy(j->rng.s, bp->rng, sizeof(j->rng.s));
	j->first_round = bp->round + 1;
	memcpy(j->roles, bp->roles, bp->n_roles);
	j->n_roles = bp->n_roles; /* 0 from a format 1 breakpoint: all weights, as that run had */
	j->best = bp->best;
	j->epsilon = privacy__dp_on(j->exp) ? 0 : NAN;
	snprintf(state, sizeof(state), "%s/aggregator.state", bp_dir);
	rc = privacy__check_experiment(j->exp);
	if (!rc)
		rc = open_outputs(j);
	if (!rc && bp->has_aggregator_state)
		rc = aggregator__load_state(j->agg, state);
	if (!rc)
		rc = aggregator__set_roles(j->agg, j->roles, j->n_roles);
	if (!rc)
		rc = history__reopen(j->exp->output_dir, bp->history_sizes, &j->history);
	if (!rc)
		rc = node_log__reopen(j->exp->output_dir, bp->round, &j->node_log);
	if (!rc)
		rc = restore_global(j, bp_dir);
	if (!rc)
		rc = restore_best(j);
	if (!rc)
		rc = upload_plan(j, bp->plan_digest);
	if (!rc)
		rc = job__upload_global(j);
	return rc;
}

/* Loads the breakpoint to resume from: `round`, or the latest. */
static enum fedc_err find_breakpoint(const char *output_dir, int64_t round, struct breakpoint *bp, char *bp_dir,
				     size_t cap)
{
	uint32_t latest = 0;
	enum fedc_err rc = breakpoint__latest(output_dir, &latest);

	if (rc)
		return rc;
	if (round >= 0)
		return breakpoint__load(output_dir, (uint32_t)round, bp, bp_dir, cap);
	rc = breakpoint__load(output_dir, latest, bp, bp_dir, cap);
	if (rc && latest > 0)
		return fedc_fail(rc, "%s\nthe latest breakpoint (round %u) is unusable; resume from the one before with "
				     "--round %u", fedc_last_error(), latest, latest - 1);
	return rc;
}

int job__resume(const char *output_dir, int64_t round)
{
	struct breakpoint *bp = calloc(1, sizeof(*bp));
	struct experiment *exp = calloc(1, sizeof(*exp));
	struct job *j = calloc(1, sizeof(*j));
	char bp_dir[BREAKPOINT_PATH_MAX];
	enum fedc_err rc = bp && exp && j ? FEDC_OK : FEDC_ERR_NOMEM;
	int code = 1;

	if (!rc)
		rc = find_breakpoint(output_dir, round, bp, bp_dir, sizeof(bp_dir));
	if (rc == FEDC_ERR_NOT_FOUND && round < 0)
		rc = fedc_fail(rc, "%s\nnothing to resume: start the experiment with\n"
				   "  fedc-researcher run EXPERIMENT.ini --output %s",
			       fedc_last_error(), output_dir);
	if (!rc && round < 0 && bp->round >= bp->rounds) {
		printf("the experiment in %s is complete: all %u round(s) ran; its final parameters are in "
		       "%s/global.params\n(to resume from an earlier round: --round N; to train again: "
		       "fedc-researcher run)\n",
		       output_dir, bp->rounds, output_dir);
		code = 0;
		goto out;
	}
	if (!rc)
		rc = load_experiment(bp, output_dir, exp);
	if (!rc)
		rc = plan_build__prepare(exp, true); /* the digest check follows */
	if (rc) {
		fprintf(stderr, "fedc-researcher: resume: %s\n", fedc_last_error());
	} else {
		j->exp = exp;
		j->resumed = true;
		install_signals();
		code = finish(j, prepare_resume(j, bp, bp_dir));
		cleanup(j);
	}
out:
	free(j);
	experiment__free(exp);
	free(exp);
	free(bp);
	return code;
}
