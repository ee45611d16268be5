/* The node daemon: connects to the broker, announces itself (retained
 * `status` online, last will offline), answers fast requests on the main
 * thread and queues `train` for the round worker. SIGINT/SIGTERM stop it
 * cleanly: the round in flight is answered with an error, the database is
 * closed, the status goes offline, exit 0. */
#include "daemon.h"

#include "blas_env.h"
#include "capabilities.h"
#include "analytics_request.h"
#include "confine.h"
#include "plan_cgroup.h"

#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/crash.h"
#include "fedc/fs.h"
#include "fedc/hash.h"
#include "fedc/limits.h"
#include "fedc/log.h"
#include "fedc/uuid.h"
#include "plan_digest.h"
#include "plan_store.h"
#include "preflight.h"
#include "node_metrics.h"
#include "refusal_limit.h"
#include "restart_guard.h"
#include "round.h"
#include "round_privacy.h"
#include "secagg_client.h"

static struct fedc_mqtt *volatile signal_target;
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

/* SIGINT, SIGTERM: stop. SIGHUP: read trusted_keys_dir again. The main
 * loop does the work; the handler only wakes it. */
static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
	if (signal_target)
		fedc_mqtt_wake(signal_target);
}

enum fedc_err daemon__send(struct node_daemon *d, const struct fedc_msg *msg)
{
	char topic[FEDC_MAX_TOPIC_LEN + 1];
	enum fedc_err rc = fedc_topic_researcher(topic, d->cfg->federation, msg->researcher_id);

	if (!rc)
		rc = fedc_channel_publish(&d->channel, d->mqtt, topic, msg, false);
	if (rc)
		fedc_error("cannot send %s to %s: %s", fedc_cmd_name(msg->command), msg->researcher_id,
			   fedc_last_error());
	return rc;
}

size_t daemon__inline_params_max(const struct node_daemon *d)
{
	/* Before the connection (the first online status, built before it):
	 * what a connection made on this machine will carry. */
	return d->mqtt ? fedc_mqtt_max_inline_params(d->mqtt) : fedc_mqtt_expected_max_inline_params();
}

enum fedc_err daemon__send_error(struct node_daemon *d, const struct fedc_msg *request, enum fedc_err code,
				 const char *fmt, ...)
{
	struct fedc_msg *reply = fedc_msg_reply(request, FEDC_CMD_ERROR, d->cfg->node_id);
	enum fedc_err rc;
	va_list ap;

	if (!reply)
		return FEDC_ERR_NOMEM;
	snprintf(reply->error_code, sizeof(reply->error_code), "%s", fedc_strerror(code));
	va_start(ap, fmt);
	vsnprintf(reply->message, sizeof(reply->message), fmt, ap);
	va_end(ap);
	fedc_msg_set(reply, FEDC_F_ERROR_CODE);
	fedc_msg_set(reply, FEDC_F_MESSAGE);
	if (request->command == FEDC_CMD_TRAIN) {
		snprintf(reply->job_id, sizeof(reply->job_id), "%s", request->job_id);
		reply->round = request->round;
		fedc_msg_set(reply, FEDC_F_JOB_ID);
		fedc_msg_set(reply, FEDC_F_ROUND);
	}
	rc = daemon__send(d, reply);
	fedc_msg_free(reply);
	return rc;
}

enum fedc_err daemon__fetch_plan(struct node_daemon *d, struct fedc_repo *repo, const char *digest,
				 struct plan_store_memo *memo, char *path, size_t cap)
{
	return plan_store__fetch(d->plans_dir, repo, digest, (uint64_t)d->cfg->max_blob_mb << 20, memo, path, cap);
}

/* ---- fast requests ---- */

/* The record's shape ("30", "28x28", "1x28x28") goes out as it is when it
 * is one the protocol carries (a token of digits and 'x'), else not at all:
 * a record written by another version must not break the whole reply. */
static void describe_shape(const char *shape, char *out, size_t cap)
{
	size_t len = strlen(shape);

	out[0] = '\0';
	if (len > 0 && len < cap && strspn(shape, "0123456789x") == len)
		memcpy(out, shape, len + 1);
}

/* Counts go out rounded to [privacy] count_rounding (privacy.h). */
static void describe_dataset(const struct node_config *cfg, const struct node_dataset *ds,
			     struct fedc_msg_dataset *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->dataset_id, sizeof(out->dataset_id), "%s", ds->id);
	snprintf(out->name, sizeof(out->name), "%s", ds->name);
	snprintf(out->type, sizeof(out->type), "%s", ds->type);
	out->n_tags = ds->n_tags;
	for (uint32_t i = 0; i < ds->n_tags && i < FEDC_MAX_TAGS; i++)
		snprintf(out->tags[i], sizeof(out->tags[i]), "%s", ds->tags[i]);
	out->n_samples = privacy__round_count(ds->n_samples, cfg->count_rounding > 1 ? (uint64_t)cfg->count_rounding : 1);
	out->n_features = ds->n_features;
	out->n_classes = ds->n_classes;
	describe_shape(ds->shape, out->shape, sizeof(out->shape));
}

static enum fedc_err reply_datasets(struct node_daemon *d, const struct fedc_msg *req)
{
	bool search = req->command == FEDC_CMD_SEARCH;
	struct fedc_msg *reply = fedc_msg_reply(req, search ? FEDC_CMD_SEARCH_REPLY : FEDC_CMD_LIST_REPLY,
						d->cfg->node_id);
	struct node_dataset *found = NULL;
	size_t n = 0, offered = 0;
	enum fedc_err rc;

	if (!reply)
		return FEDC_ERR_NOMEM;
	rc = search ? db__dataset_search(d->db, req->tags, req->n_tags, &found, &n)
		    : db__dataset_list(d->db, &found, &n);
	if (rc) {
		rc = daemon__send_error(d, req, rc, "cannot read datasets: %s", fedc_last_error());
		goto out;
	}
	/* Always a reply, even with no match: the researcher must not wait for
	 * it. A test set is not offered: it is the test rows of its dataset. */
	for (size_t i = 0; i < n; i++)
		offered += !found[i].test_of[0];
	rc = fedc_msg_datasets_alloc(reply, (uint32_t)(offered < FEDC_MAX_DATASETS ? offered : FEDC_MAX_DATASETS));
	if (rc)
		goto out;
	for (size_t i = 0, j = 0; i < n && j < reply->n_datasets; i++) {
		if (!found[i].test_of[0])
			describe_dataset(d->cfg, &found[i], &reply->datasets[j++]);
	}
	fedc_msg_set(reply, FEDC_F_DATASETS);
	capabilities__describe(d->cfg, found, n, daemon__inline_params_max(d), reply);
	rc = daemon__send(d, reply);
out:
	free(found);
	fedc_msg_free(reply);
	return rc;
}

/* Takes ownership of `req`. */
/* A secure-aggregation step: quick (a few key agreements and AES-GCM
 * seals per neighbour), so on this thread, which the round worker does not
 * block: it may be training while the keys and shares go round. */
static void handle_secagg(struct node_daemon *d, const struct fedc_msg *req)
{
	struct fedc_msg *reply = NULL;
	enum fedc_err rc = secagg_client__handle(d->secagg, req, &reply);

	if (rc) {
		fedc_warn("secure aggregation, job %s round %" PRIu64 ", step %s: %s", req->job_id, req->round,
			  req->secagg_step, fedc_last_error());
		fedc_ignore(daemon__send_error(d, req, rc, "secure aggregation, step %s: %s", req->secagg_step,
					       fedc_last_error()));
	} else if (reply) {
		fedc_ignore(daemon__send(d, reply)); /* a failed send is logged; the researcher's step deadline covers it */
		fedc_crash_point(strcmp(req->secagg_step, "keyset") == 0 ? "secagg-shares" : "secagg-unmask");
	}
	fedc_msg_free(reply);
}

static void dispatch(struct node_daemon *d, struct fedc_msg *req)
{
	struct fedc_msg *reply;

	switch (req->command) {
	case FEDC_CMD_PING:
		reply = fedc_msg_reply(req, FEDC_CMD_PONG, d->cfg->node_id);
		if (reply) /* a failed send is logged by daemon__send; the researcher's timeout covers it */
			fedc_ignore(daemon__send(d, reply));
		fedc_msg_free(reply);
		break;
	case FEDC_CMD_SEARCH:
	case FEDC_CMD_LIST:
		(void)reply_datasets(d, req);
		break;
	case FEDC_CMD_APPROVAL:
	case FEDC_CMD_PLAN_STATUS:
		/* They may download a plan: never on this thread, which must
		 * keep answering pings meanwhile. */
		/* A duplicate is logged by round__submit; either way it owns req. */
		fedc_ignore(round__submit(d->plan_worker, req));
		return; /* the worker owns it now */
	case FEDC_CMD_TRAIN:
		secagg_client__preempt(d->secagg, req);
		fedc_ignore(round__submit(d->worker, req)); /* as above */
		return; /* the worker owns it now */
	case FEDC_CMD_SECAGG:
		handle_secagg(d, req);
		break;
	case FEDC_CMD_ANALYTICS:
		/* On this thread: one pass over a CSV the node already reads at
		 * registration, no plan code. */
		analytics__answer(d, req);
		break;
	default:
		fedc_warn("ignoring %s from %s: not a request a node answers", fedc_cmd_name(req->command),
			  req->node_id[0] ? req->node_id : req->researcher_id);
		/* Best effort: daemon__send logs a reply it cannot send. */
		fedc_ignore(daemon__send_error(d, req, FEDC_ERR_UNSUPPORTED, "a node does not answer `%s`",
					       fedc_cmd_name(req->command)));
		break;
	}
	fedc_msg_free(req);
}

/* Looks for a string field in a decoded msgpack map; false if absent or too long. */
static bool map_string(const msgpack_object *map, const char *key, char *out, size_t cap)
{
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != strlen(key) ||
		    memcmp(kv->key.via.str.ptr, key, kv->key.via.str.size) != 0)
			continue;
		if (kv->val.type != MSGPACK_OBJECT_STR || kv->val.via.str.size >= cap)
			return false;
		memcpy(out, kv->val.via.str.ptr, kv->val.via.str.size);
		out[kv->val.via.str.size] = '\0';
		return true;
	}
	return false;
}

/* A request that failed validation or authentication still gets an `error`
 * reply, so that its researcher can show why, when its claimed sender and
 * request id can be read and are valid, when a signed one names its signer
 * as its researcher (a reply is never aimed at someone else), and within
 * the limit of refusal_limit.h; otherwise it is only logged. */
static void reply_to_refused(struct node_daemon *d, const struct fedc_origin *origin, enum fedc_err code,
			     const char *why)
{
	/* a session this node does not hold: the researcher agrees anew */
	const char *code_name = origin->unknown_session ? FEDC_SESSION_UNKNOWN_CODE : fedc_strerror(code);
	msgpack_unpacked up;
	struct fedc_msg *reply = NULL;
	char researcher[FEDC_MAX_ID_LEN + 1], request_id[FEDC_UUID_STRLEN + 1];
	char topic[FEDC_MAX_TOPIC_LEN + 1];
	const void *payload = origin->body;
	size_t len = origin->body_len;
	bool untrusted;

	node_metrics__command_refused(code);
	if (len > FEDC_MAX_MESSAGE_BYTES || fedc_msgpack_check(payload, len) != FEDC_OK)
		return; /* msgpack-c would allocate what a bad header declares */
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, payload, len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    up.data.type != MSGPACK_OBJECT_MAP || !map_string(&up.data, "researcher_id", researcher, sizeof(researcher)) ||
	    !map_string(&up.data, "request_id", request_id, sizeof(request_id)) || !fedc_uuid_valid(request_id) ||
	    fedc_topic_researcher(topic, d->cfg->federation, researcher) != FEDC_OK)
		goto out;
	if (origin->is_signed && strcmp(researcher, origin->signer) != 0)
		goto out;
	if (!refusal_limit__allow(&d->refusals, origin->signer, fedc_unix_ms())) {
		fedc_debug("no reply to the refused request %s: replies to %s are rate-limited", request_id,
			   origin->signer[0] ? origin->signer : "unsigned requests");
		goto out;
	}
	reply = fedc_msg_new(FEDC_CMD_ERROR);
	if (!reply)
		goto out;
	untrusted = origin->is_signed && d->channel.trusted && !fedc_keyring_has(d->channel.trusted, origin->signer);
	snprintf(reply->request_id, sizeof(reply->request_id), "%s", request_id);
	snprintf(reply->researcher_id, sizeof(reply->researcher_id), "%s", researcher);
	snprintf(reply->node_id, sizeof(reply->node_id), "%s", d->cfg->node_id);
	snprintf(reply->error_code, sizeof(reply->error_code), "%s", code_name);
	snprintf(reply->message, sizeof(reply->message), "%s request: %s%s",
		 code == FEDC_ERR_AUTH || origin->unknown_session ? "refused" : "malformed", why,
		 untrusted ? "; this node's operator must add your public key to its trusted_keys_dir "
			     "(fedc-admin add-researcher does) and send the node SIGHUP"
			   : "");
	fedc_msg_set(reply, FEDC_F_RESEARCHER_ID);
	fedc_msg_set(reply, FEDC_F_NODE_ID);
	fedc_msg_set(reply, FEDC_F_ERROR_CODE);
	fedc_msg_set(reply, FEDC_F_MESSAGE);
	fedc_ignore(daemon__send(d, reply)); /* a failed send is logged by daemon__send */
out:
	fedc_msg_free(reply);
	msgpack_unpacked_destroy(&up);
}

/* A signed request is run once: its nonce is stored before it is acted on,
 * so that a replay is refused even after a restart. A request MAC'd under a
 * session (envelope v3) is not stored: the channel's replay guard has seen
 * its nonce, and a session lives in this process's memory only, so after a
 * restart, a SIGHUP or its eviction no replay of it verifies at all
 * (docs/security.md, "Per-job sessions"). Storing it would cost a write per
 * round and protect nothing. */
static enum fedc_err remember_request(struct node_daemon *d, const struct fedc_origin *origin)
{
	int64_t window_ms = d->cfg->max_clock_skew_s * 1000;

	if (!origin->is_signed || origin->envelope_version == 3)
		return FEDC_OK;
	if (origin->ts_ms < d->not_before_ms)
		return fedc_fail(FEDC_ERR_AUTH, "stamped before this machine restarted: a replay cannot be ruled "
						"out (the record of accepted commands may have lost its last entries); "
						"send it again");
	return db__request_remember(d->db, origin->signer, origin->nonce, origin->ts_ms,
				    fedc_unix_ms() - window_ms);
}

/* The node's sessions, for the channel (fedc_session_lookup). */
static const struct fedc_session *find_session(void *ctx, const char *signer, const uint8_t sid[FEDC_SESSION_ID_BYTES])
{
	struct node_daemon *d = ctx;

	return fedc_session_table_find(d->sessions, signer, sid);
}

/* A train SIGNED by its researcher that offers `session_kx` (docs/protocol.md,
 * "Envelope version 3"): the node makes its own ephemeral key, derives the
 * session for this researcher and job, keeps it, and puts its own public key
 * in req->session_kx, which the reply then carries (signed). Only a signed
 * offer counts: an unsigned one (allow_unsigned_commands) would let anyone
 * agree a session in the researcher's name. On failure the reply carries no
 * key, and the researcher goes on signing. */
static void agree_session(struct node_daemon *d, struct fedc_msg *req, const struct fedc_origin *origin)
{
	struct fedc_session_kx *kx = NULL;
	struct fedc_session s;
	enum fedc_err rc;

	if (req->command != FEDC_CMD_TRAIN || !fedc_msg_has(req, FEDC_F_SESSION_KX))
		return;
	if (!d->sessions || !origin->is_signed || origin->envelope_version >= 3) {
		fedc_msg_unset(req, FEDC_F_SESSION_KX); /* not from a signed offer: nothing to answer */
		return;
	}
	memset(&s, 0, sizeof(s));
	rc = fedc_session_kx_new(&kx);
	if (!rc)
		rc = fedc_session_derive(kx, req->session_kx, FEDC_SESSION_NODE, req->researcher_id, d->cfg->node_id,
					 req->job_id, &s);
	if (!rc)
		rc = fedc_session_table_put(d->sessions, req->researcher_id, &s);
	if (!rc) {
		memcpy(req->session_kx, fedc_session_kx_public(kx), FEDC_SESSION_KX_BYTES);
	} else {
		fedc_warn("no session with %s for job %s (train and reply stay signed): %s", req->researcher_id,
			  req->job_id, fedc_last_error());
		fedc_msg_unset(req, FEDC_F_SESSION_KX);
	}
	fedc_session_wipe(&s);
	fedc_session_kx_free(kx);
}

static void handle_payload(struct node_daemon *d, const struct fedc_mqtt_message *m)
{
	struct fedc_msg *req = calloc(1, sizeof(*req));
	struct fedc_origin origin;
	enum fedc_err rc;

	if (!req) {
		fedc_error("out of memory: message on %s dropped", m->topic);
		return;
	}
	rc = fedc_channel_accept(&d->channel, m->topic, m->payload, m->len, req, &origin);
	if (!rc)
		rc = remember_request(d, &origin);
	if (rc) {
		char why[512];

		snprintf(why, sizeof(why), "%s", fedc_last_error());
		fedc_warn("rejected a %zu-byte message on %s%s%s: %s: %s", m->len, m->topic,
			  origin.signer[0] ? " signed by " : "", origin.signer, fedc_strerror(rc), why);
		reply_to_refused(d, &origin, rc == FEDC_ERR_EXISTS ? FEDC_ERR_AUTH : rc, why);
		fedc_msg_free(req);
		return;
	}
	fedc_debug("%s %s from %s", fedc_cmd_name(req->command), req->request_id, req->researcher_id);
	agree_session(d, req, &origin);
	dispatch(d, req);
}

/* ---- lifecycle ---- */

static enum fedc_err make_dirs(struct node_daemon *d)
{
	enum fedc_err rc = plan_store__open(d->cfg->data_dir, d->plans_dir, sizeof(d->plans_dir));

	if (rc)
		return rc;
	if ((size_t)snprintf(d->scaffold_dir, sizeof(d->scaffold_dir), "%s/scaffold", d->cfg->data_dir) >=
	    sizeof(d->scaffold_dir))
		return fedc_fail(FEDC_ERR_CONFIG, "data_dir path too long");
	if (mkdir(d->scaffold_dir, 0700) != 0 && errno != EEXIST)
		return fedc_fail(FEDC_ERR_IO, "cannot create %s: %s", d->scaffold_dir, strerror(errno));
	return FEDC_OK;
}

/* The online status carries the node's capabilities, with the kinds of the
 * datasets registered when it connected; a database that cannot be read
 * leaves the kinds out rather than keep the node offline. */
static void describe_status_capabilities(const struct node_daemon *d, struct fedc_msg *msg)
{
	struct node_dataset *all = NULL;
	size_t n = 0;

	if (db__dataset_list(d->db, &all, &n) != FEDC_OK) {
		fedc_warn("status: cannot list datasets: %s", fedc_last_error());
		n = 0;
	}
	capabilities__describe(d->cfg, all, n, daemon__inline_params_max(d), msg);
	free(all);
}

static enum fedc_err status_payload(const struct node_daemon *d, const char *topic, const char *state,
				    void **buf, size_t *len)
{
	const struct node_config *cfg = d->cfg;
	struct fedc_msg *msg = fedc_msg_new(FEDC_CMD_STATUS);
	enum fedc_err rc;

	if (!msg)
		return FEDC_ERR_NOMEM;
	snprintf(msg->node_id, sizeof(msg->node_id), "%s", cfg->node_id);
	snprintf(msg->state, sizeof(msg->state), "%s", state);
	fedc_msg_set(msg, FEDC_F_NODE_ID);
	fedc_msg_set(msg, FEDC_F_STATE);
	if (strcmp(state, "online") == 0)
		describe_status_capabilities(d, msg);
	rc = fedc_channel_wrap(&d->channel, topic, msg, buf, len);
	fedc_msg_free(msg);
	return rc;
}

struct status_payloads {
	void *online, *offline;
	size_t online_len, offline_len;
};

#define BROKER_ATTEMPT_S 5

static enum fedc_err connect_broker(struct node_daemon *d, struct status_payloads *st)
{
	const struct node_config *cfg = d->cfg;
	char broadcast[FEDC_MAX_TOPIC_LEN + 1], own[FEDC_MAX_TOPIC_LEN + 1], status[FEDC_MAX_TOPIC_LEN + 1];
	const char *subs[] = { broadcast, own };
	char client_id[FEDC_MAX_ID_LEN + 16];
	struct fedc_mqtt_options opts = { 0 };
	enum fedc_err rc;

	rc = fedc_topic_nodes(broadcast, cfg->federation);
	if (!rc)
		rc = fedc_topic_node(own, cfg->federation, cfg->node_id);
	if (!rc)
		rc = fedc_topic_status(status, cfg->federation, cfg->node_id);
	if (!rc)
		rc = status_payload(d, status, "online", &st->online, &st->online_len);
	if (!rc)
		rc = status_payload(d, status, "offline", &st->offline, &st->offline_len);
	if (rc)
		return rc;
	/* The broker takes a client id only from its own user (the plugin
	 * fedc-admin configures; docs/security.md): the user name itself. */
	snprintf(client_id, sizeof(client_id), "%s", cfg->broker_username[0] ? cfg->broker_username : cfg->node_id);
	opts.url = cfg->broker_url;
	opts.client_id = client_id;
	opts.username = cfg->broker_username[0] ? cfg->broker_username : NULL;
	opts.password = d->broker_password[0] ? d->broker_password : NULL;
	opts.ca_file = cfg->broker_ca_file;
	opts.cert_file = cfg->broker_cert_file;
	opts.key_file = cfg->broker_key_file;
	opts.subscriptions = subs;
	opts.n_subscriptions = 2;
	opts.status_topic = status;
	opts.will_payload = st->offline;
	opts.will_len = st->offline_len;
	opts.online_payload = st->online;
	opts.online_len = st->online_len;
	/* A node started before its broker (or while it is down) waits for it
	 * as long as it takes, and says so, with the URL and the last reason,
	 * every attempt of BROKER_ATTEMPT_S. SIGINT/SIGTERM end the wait. */
	opts.connect_timeout_s = BROKER_ATTEMPT_S;
	for (unsigned attempt = 1;; attempt++) {
		rc = fedc_mqtt_connect(&opts, &d->mqtt);
		if (rc != FEDC_ERR_TIMEOUT && rc != FEDC_ERR_AUTH)
			return rc;
		if (stop_requested)
			return fedc_fail(FEDC_ERR_INTERRUPTED, "stopped while waiting for the broker at %s", cfg->broker_url);
		fedc_warn("waiting for the broker at %s (%u s so far; %s); still trying", cfg->broker_url,
			  attempt * BROKER_ATTEMPT_S, fedc_last_error());
	}
}

/* SIGHUP: the researchers' keys are read again from trusted_keys_dir, so a
 * researcher added with fedc-admin is trusted without a restart. Only the
 * main thread reads the keyring (fedc_channel_accept), so it is swapped here
 * with no lock. A directory that no longer loads keeps the keys in use. */
static void reload_trusted_keys(struct node_daemon *d)
{
	const struct node_config *cfg = d->cfg;
	struct fedc_keyring *fresh = NULL;
	size_t before;

	if (!cfg->trusted_keys_dir[0] || !d->channel.trusted) {
		fedc_info("SIGHUP: no trusted_keys_dir in %s: nothing to reload", cfg->path);
		return;
	}
	if (fedc_keyring_load_dir(cfg->trusted_keys_dir, &fresh) != FEDC_OK) {
		fedc_error("SIGHUP: cannot reload the trusted keys, the %zu in use are kept: %s",
			   fedc_keyring_size(d->channel.trusted), fedc_last_error());
		return;
	}
	before = fedc_keyring_size(d->channel.trusted);
	fedc_keyring_free(d->channel.trusted);
	d->channel.trusted = fresh;
	fedc_info("SIGHUP: trusted keys reloaded from %s: %zu (were %zu)", cfg->trusted_keys_dir,
		  fedc_keyring_size(fresh), before);
	/* A revoked researcher must not go on through a session MAC: every
	 * session goes (the next train of a researcher still trusted is signed
	 * and agrees a new one). The channel also refuses a v3 envelope whose
	 * signer is no longer in the keyring. */
	fedc_info("SIGHUP: %zu researcher session(s) dropped", fedc_session_table_drop(d->sessions, NULL));
}

static enum fedc_err open_secagg(struct node_daemon *d)
{
	enum fedc_err rc = secagg_client__new(d->cfg->node_id, d->channel.signer, d->cfg->peer_keys_dir, &d->secagg);

	return rc ? fedc_fail(rc, "%s: %s", d->cfg->path, fedc_last_error()) : FEDC_OK;
}

static void serve(struct node_daemon *d)
{
	while (!stop_requested) {
		struct fedc_mqtt_message *m = NULL;
		enum fedc_err rc;

		if (reload_requested) {
			reload_requested = 0;
			reload_trusted_keys(d);
			secagg_client__reload_peers(d->secagg);
		}
		rc = fedc_mqtt_next(d->mqtt, -1, &m);

		if (rc == FEDC_ERR_INTERRUPTED)
			continue;
		if (rc)
			break;
		handle_payload(d, m);
		fedc_mqtt_message_free(m);
	}
}

static void install_signals(void)
{
	struct sigaction sa = { 0 };

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

enum fedc_err daemon__repo_new(const struct node_daemon *d, struct fedc_repo **out)
{
	const struct node_config *cfg = d->cfg;
	enum fedc_err rc = fedc_repo_new(cfg->repository_url, d->repository_token, cfg->repository_timeout_s, out);

	if (!rc && cfg->repository_ca_file[0])
		rc = fedc_repo_set_ca_file(*out, cfg->repository_ca_file);
	if (rc && *out) {
		fedc_repo_free(*out);
		*out = NULL;
	}
	return rc;
}

/* Passwords and tokens live in their own files (mode 0600), read once here. */
static enum fedc_err read_secrets(struct node_daemon *d)
{
	const struct node_config *cfg = d->cfg;
	enum fedc_err rc = FEDC_OK;

	snprintf(d->repository_token, sizeof(d->repository_token), "%s", cfg->repository_token);
	if (cfg->broker_password_file[0])
		rc = fedc_read_secret(cfg->broker_password_file, d->broker_password, sizeof(d->broker_password));
	if (!rc && cfg->repository_token_file[0])
		rc = fedc_read_secret(cfg->repository_token_file, d->repository_token, sizeof(d->repository_token));
	if (!rc)
		rc = round_privacy__load_secret(cfg, d->dp_secret, sizeof(d->dp_secret), &d->dp_secret_len);
	/* Derived once: the secret, hence the key, is fixed for the node's life. */
	if (!rc && cfg->secret_training_seed)
		rc = privacy__train_seed_key(d->dp_secret, d->dp_secret_len, &d->train_seed_key);
	return rc;
}

static void remember_stored(void *ctx, const char *signer, const char *nonce, int64_t ts_ms)
{
	fedc_replay_remember(ctx, signer, nonce, ts_ms, fedc_unix_ms());
}

/* Sessions a node keeps at once: one per researcher's job run in progress;
 * past that the least recently used goes (its researcher agrees anew). */
#define NODE_SESSIONS 256

/* Signatures: the node signs what it sends with its key and accepts only
 * commands signed by the researchers of trusted_keys_dir. Without that
 * directory it would accept nothing, unless told to run unsigned. With both
 * keys, per-job sessions too (agree_session). */
static enum fedc_err open_channel(struct node_daemon *d)
{
	const struct node_config *cfg = d->cfg;
	enum fedc_err rc;

	if (!cfg->trusted_keys_dir[0] && !cfg->allow_unsigned_commands)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [security] trusted_keys_dir is not set, so no researcher could "
				 "command this node: point it at the researchers' public keys (fedc-admin makes "
				 "it), or set allow_unsigned_commands = true on a closed test network", cfg->path);
	rc = fedc_channel_init(&d->channel, cfg->node_id, cfg->signing_key, cfg->trusted_keys_dir,
			       cfg->max_clock_skew_s, cfg->allow_unsigned_commands);
	if (rc)
		return fedc_fail(rc, "%s: %s", cfg->path, fedc_last_error());
	if (cfg->allow_unsigned_commands)
		fedc_warn("SECURITY: allow_unsigned_commands = true in %s: anyone who can publish on this node's "
			  "topics can command it", cfg->path);
	if (!d->channel.signer)
		fedc_warn("SECURITY: no [security] signing_key in %s: replies go out unsigned", cfg->path);
	if (d->channel.trusted && fedc_keyring_size(d->channel.trusted) == 0)
		fedc_warn("%s holds no <researcher>.pub key: every command will be refused", cfg->trusted_keys_dir);
	if (d->channel.signer && d->channel.trusted) {
		rc = fedc_session_table_new(NODE_SESSIONS, &d->sessions);
		if (rc)
			return rc;
		d->channel.sessions = (struct fedc_session_lookup){ find_session, d };
	}
	if (d->channel.guard)
		rc = db__request_each(d->db, fedc_unix_ms() - cfg->max_clock_skew_s * 1000, remember_stored,
				      d->channel.guard);
	return rc;
}

/* sqlite's page cache starts with a bulk allocation per connection (20
 * pages, about 87 KB); the daemon holds up to three connections (its own,
 * and the round and plan workers' from their first request) to a database
 * of a few pages. Without
 * the bulk allocation each page is allocated when it is read: 0.13 MB less
 * RSS for an idle node (docs/benchmarks.md, "Idle node RSS"). It must run
 * before sqlite's first use; it fails only if sqlite is already initialised,
 * and then changes nothing. */
static void configure_sqlite(void)
{
	if (sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0) != SQLITE_OK)
		fedc_warn("sqlite already initialised: page cache left as it is");
}

int daemon__run(const struct node_config *cfg)
{
	struct node_daemon d = { .cfg = cfg };
	struct status_payloads st = { 0 };
	struct node_metrics_server *metrics = NULL;
	enum fedc_err rc;

	install_signals();
	configure_sqlite(); /* before any connection */
	blas_env__choose();
	(void)confine__probe(); /* before any thread: it forks a test child */
	(void)plan_cgroup__setup(cfg->node_id, cfg->data_dir); /* and kills what a previous run left */
	if (cfg->allow_unapproved_plans)
		fedc_warn("SECURITY: allow_unapproved_plans = true in %s: this node runs ANY training plan it is "
			  "sent, approved or not", cfg->path);
	/* The operator's files first: a mistake there is reported now, not as
	 * silent retries or as an online node that refuses every command. */
	rc = preflight__files(cfg);
	if (!rc)
		rc = make_dirs(&d);
	if (!rc)
		rc = preflight__database(cfg->db_path);
	if (!rc)
		rc = restart_guard__not_before(cfg->data_dir, fedc_unix_ms(), &d.not_before_ms);
	if (!rc)
		rc = db__open(cfg->db_path, &d.db);
	if (!rc)
		rc = read_secrets(&d);
	if (!rc)
		rc = open_channel(&d);
	if (!rc)
		rc = open_secagg(&d);
	if (!rc)
		rc = connect_broker(&d, &st);
	if (!rc) {
		signal_target = d.mqtt;
		rc = round__start(&d, &d.worker);
	}
	if (!rc)
		rc = round__start_plan_worker(&d, &d.plan_worker);
	if (!rc)
		rc = node_metrics__start(cfg, d.mqtt, &metrics);
	if (rc) {
		fedc_error("cannot start: %s: %s", fedc_strerror(rc), fedc_last_error());
		goto out;
	}
	fedc_info("node %s serving federation %s (broker %s, repository %s)", cfg->node_id, cfg->federation,
		  cfg->broker_url, cfg->repository_url);
	serve(&d);
	fedc_info("stopping");
out:
	node_metrics__stop(metrics); /* before the broker connection it reports on */
	round__stop(d.plan_worker);
	round__stop(d.worker);
	signal_target = NULL;
	fedc_mqtt_close(d.mqtt, st.offline, st.offline_len);
	secagg_client__free(d.secagg);
	db__close(d.db);
	fedc_channel_free(&d.channel);
	fedc_session_table_free(d.sessions);
	explicit_bzero(d.broker_password, sizeof(d.broker_password));
	explicit_bzero(d.repository_token, sizeof(d.repository_token));
	explicit_bzero(d.dp_secret, sizeof(d.dp_secret));
	explicit_bzero(&d.train_seed_key, sizeof(d.train_seed_key));
	free(st.online);
	free(st.offline);
	return rc ? 1 : 0;
}
