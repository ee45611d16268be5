/* The researcher's MQTT session. */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedc/clock.h"
#include "fedc/log.h"
#include "fedc/uuid.h"

int64_t session__now_ms(void)
{
	return fedc_now_ms();
}

static struct session_node *find_node(struct session *s, const char *id, bool add)
{
	for (size_t i = 0; i < s->n_nodes; i++) {
		if (strcmp(s->nodes[i].id, id) == 0)
			return &s->nodes[i];
	}
	if (!add || s->n_nodes >= SESSION_MAX_NODES)
		return NULL;
	snprintf(s->nodes[s->n_nodes].id, sizeof(s->nodes[0].id), "%s", id);
	return &s->nodes[s->n_nodes++];
}

bool session__online(const struct session *s, const char *node_id)
{
	for (size_t i = 0; i < s->n_nodes; i++) {
		if (strcmp(s->nodes[i].id, node_id) == 0)
			return s->nodes[i].online;
	}
	return false;
}

size_t session__online_count(const struct session *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_nodes; i++)
		n += s->nodes[i].online;
	return n;
}

/* The nodes a status says are online: those a broadcast should hear from.
 * (Nodes known only by their replies would end a gather at its first.) */
static size_t online_by_status(const struct session *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_nodes; i++)
		n += s->nodes[i].online && s->nodes[i].status_known;
	return n;
}

/* What the node said, less the "refused request: " the node puts first. */
/* How a node words a request it turned away (node/daemon.c). */
#define REFUSED_PREFIX "refused request: "

static const char *reason_of(const struct fedc_msg *error)
{
	if (strncmp(error->message, REFUSED_PREFIX, sizeof(REFUSED_PREFIX) - 1) == 0)
		return error->message + sizeof(REFUSED_PREFIX) - 1;
	return error->message[0] ? error->message : error->error_code;
}

/* Inserts `id` into the list "a, b, c" in order (the order replies arrived
 * in says nothing), once; a full list ends with " ..." and takes no more.
 * Returns false when `id` was there already. */
static bool add_node_id(char *list, size_t cap, const char *id)
{
	size_t used = strlen(list), len = strlen(id), at = 0;
	char token[FEDC_MAX_ID_LEN + 1];
	int order = 1;

	while (at < used) {
		const char *end = strstr(list + at, ", ");
		size_t n = end ? (size_t)(end - (list + at)) : used - at;

		snprintf(token, sizeof(token), "%.*s", (int)n, list + at);
		order = strcmp(id, token);
		if (order <= 0)
			break;
		at += n + (end ? 2 : 0);
	}
	if (order == 0)
		return false;
	if (strstr(list, " ...") || used + len + 2 + 5 >= cap) {
		if (!strstr(list, " ..."))
			snprintf(list + used, cap - used, " ...");
		return true;
	}
	if (at >= used) {
		snprintf(list + used, cap - used, "%s%s", used ? ", " : "", id);
		return true;
	}
	memmove(list + at + len + 2, list + at, used - at + 1);
	memcpy(list + at, id, len);
	memcpy(list + at + len, ", ", 2);
	return true;
}

void session__note_refusal(struct session *s, const struct fedc_msg *error)
{
	const char *reason = reason_of(error);
	struct session_refusal *r = NULL;

	s->n_refused++;
	fedc_info("node %s answered error: %s", error->node_id, reason);
	for (size_t i = 0; i < s->n_refusals && !r; i++) {
		if (strcmp(s->refusals[i].reason, reason) == 0)
			r = &s->refusals[i];
	}
	if (!r) {
		if (s->n_refusals >= SESSION_MAX_REASONS) {
			s->n_unkept++;
			return;
		}
		r = &s->refusals[s->n_refusals++];
		memset(r, 0, sizeof(*r));
		snprintf(r->reason, sizeof(r->reason), "%s", reason);
		/* the request itself was turned away, or it was taken and failed */
		r->refused = strncmp(error->message, REFUSED_PREFIX, sizeof(REFUSED_PREFIX) - 1) == 0 ||
			     strcmp(error->error_code, "auth") == 0;
	}
	if (add_node_id(r->nodes, sizeof(r->nodes), error->node_id))
		r->n_nodes++; /* the same node again (a retried round) is told once */
}

/* What to do about a reason, where fedc knows it. */
static void print_hint(const struct session *s, const char *reason, FILE *out)
{
	const char *rid = s->exp ? s->exp->researcher_id : "";

	if (strstr(reason, "whose key is not trusted here"))
		fprintf(out,
			"  (these nodes do not trust this researcher's signing key yet: their operator copies\n"
			"  DIR/keys/%s.pub, made by fedc-admin add-researcher DIR %s, into the node's\n"
			"  trusted keys directory as %s.pub and sends fedc-node SIGHUP; docs/provisioning.md,\n"
			"  \"Adding a hospital later\")\n",
			rid, rid, rid);
}

void session__print_refusals(struct session *s, FILE *out)
{
	for (size_t i = 0; i < s->n_refusals; i++) {
		const struct session_refusal *r = &s->refusals[i];

		fprintf(out, "node%s %s %s: %s\n", r->n_nodes > 1 ? "s" : "", r->nodes,
			r->refused ? "refused" : "failed", r->reason);
		print_hint(s, r->reason, out);
	}
	if (s->n_unkept)
		fprintf(out, "%zu more error(s) from nodes for other reasons (--log-level info lists them)\n",
			s->n_unkept);
	s->n_refusals = 0;
	s->n_refused = 0;
	s->n_unkept = 0;
}

const char *session__network_file(const struct experiment *exp)
{
	return exp->network_path[0] ? exp->network_path : exp->path;
}

bool session__print_unreachable(FILE *out, enum fedc_err rc, const struct experiment *exp)
{
	if (rc != FEDC_ERR_NET && rc != FEDC_ERR_MQTT)
		return false;
	fprintf(out, "cannot reach the broker or the repository named in the [network] section of %s:\n"
		     "are they running, and is that the federation's network file?\n",
		session__network_file(exp));
	return true;
}

static void record_status(struct session *s, const struct fedc_msg *msg)
{
	struct session_node *node = find_node(s, msg->node_id, true);
	bool online = strcmp(msg->state, "online") == 0;

	if (!node)
		return;
	if (node->online != online)
		fedc_debug("node %s is %s", msg->node_id, msg->state);
	node->online = online;
	node->status_known = true;
}

/* A signed reply shows its node is up, which is all a researcher learns of
 * it when the broker kept its retained status back (struct session_node). */
static void record_reply(struct session *s, const struct fedc_msg *msg)
{
	struct session_node *node = find_node(s, msg->node_id, true);

	if (node && !node->status_known)
		node->online = true;
}

/* Accepts a decoded message if it is a status, or a reply meant for us. */
static bool accept(struct session *s, const struct fedc_mqtt_message *m, const struct fedc_msg *msg)
{
	if (msg->command == FEDC_CMD_STATUS) {
		record_status(s, msg);
		return true;
	}
	if (strcmp(m->topic, s->reply_topic) != 0) {
		fedc_warn("ignoring %s on %s", fedc_cmd_name(msg->command), m->topic);
		return false;
	}
	if (!fedc_msg_has(msg, FEDC_F_NODE_ID)) {
		fedc_warn("ignoring %s without a node id", fedc_cmd_name(msg->command));
		return false;
	}
	record_reply(s, msg);
	return true;
}

enum fedc_err session__next(struct session *s, int64_t deadline_ms, struct fedc_msg **out)
{
	*out = NULL;
	for (;;) {
		struct fedc_mqtt_message *m = NULL;
		int64_t left = deadline_ms - session__now_ms();
		struct fedc_msg *msg;
		struct fedc_origin origin;
		enum fedc_err rc;

		rc = fedc_mqtt_next(s->mqtt, left > 0 ? (int)(left > 3600000 ? 3600000 : left) : 0, &m);
		if (rc)
			return rc;
		msg = calloc(1, sizeof(*msg));
		if (!msg) {
			fedc_mqtt_message_free(m);
			return FEDC_ERR_NOMEM;
		}
		rc = fedc_channel_accept(&s->channel, m->topic, m->payload, m->len, msg, &origin);
		if (rc) {
			fedc_warn("rejected a %zu-byte message on %s%s%s: %s", m->len, m->topic,
				  origin.signer[0] ? " signed by " : "", origin.signer, fedc_last_error());
		} else if (accept(s, m, msg)) {
			fedc_mqtt_message_free(m);
			*out = msg;
			return FEDC_OK;
		}
		fedc_msg_free(msg);
		fedc_mqtt_message_free(m);
	}
}

void session__interrupt(struct session *s)
{
	if (s->mqtt)
		fedc_mqtt_wake(s->mqtt);
}

enum fedc_err session__send(struct session *s, const char *node_id, const struct fedc_msg *msg)
{
	char topic[FEDC_MAX_TOPIC_LEN + 1];
	enum fedc_err rc;

	if (node_id)
		rc = fedc_topic_node(topic, s->exp->federation, node_id);
	else
		rc = fedc_topic_nodes(topic, s->exp->federation);
	if (!rc)
		rc = fedc_channel_publish(&s->channel, s->mqtt, topic, msg, false);
	return rc;
}

/* Retained statuses follow the SUBACK closely; read them before the first
 * request so that "every online node answered" can end a wait early. They
 * come in one burst: the wait ends SETTLE_QUIET_MS after the last one (at
 * once, then, for a federation with no node online), and SETTLE_MAX_MS after
 * it began in any case. Statuses still on their way then are read while the
 * replies are awaited: the broker sends them before any reply to a request
 * sent after the subscription. */
#define SETTLE_QUIET_MS 30
#define SETTLE_MAX_MS 150

static void settle_statuses(struct session *s)
{
	int64_t deadline = session__now_ms() + SETTLE_MAX_MS;
	struct fedc_msg *msg = NULL;

	for (;;) {
		int64_t quiet = session__now_ms() + SETTLE_QUIET_MS;

		if (session__next(s, quiet < deadline ? quiet : deadline, &msg) != FEDC_OK)
			break;
		if (msg->command != FEDC_CMD_STATUS)
			fedc_debug("early %s from %s dropped", fedc_cmd_name(msg->command), msg->node_id);
		fedc_msg_free(msg);
	}
}

/* The researcher signs every command and believes only replies signed by the
 * nodes of trusted_keys_dir, unless told to run unsigned. */
static enum fedc_err open_channel(struct session *s, const struct experiment *exp)
{
	const char *where = exp->network_path[0] ? exp->network_path : exp->path;
	enum fedc_err rc;

	if (!exp->allow_unsigned && (!exp->signing_key[0] || !exp->trusted_keys_dir[0]))
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [network] signing_key and trusted_keys_dir are required (nodes "
				 "refuse unsigned commands; fedc-admin makes both), or set allow_unsigned = true on a "
				 "closed test network", where);
	rc = fedc_channel_init(&s->channel, exp->researcher_id, exp->signing_key, exp->trusted_keys_dir,
			       exp->max_clock_skew_s, exp->allow_unsigned);
	if (rc)
		return fedc_fail(rc, "%s: %s", where, fedc_last_error());
	if (exp->allow_unsigned)
		fedc_warn("SECURITY: allow_unsigned = true in %s: unsigned replies are believed", where);
	return FEDC_OK;
}

enum fedc_err session__open(struct session *s, const struct experiment *exp)
{
	char status_all[FEDC_MAX_TOPIC_LEN + 1], client_id[FEDC_MAX_ID_LEN + 48], uuid[FEDC_UUID_STRLEN + 1];
	const char *subs[] = { s->reply_topic, status_all };
	struct fedc_mqtt_options opts = { 0 };
	enum fedc_err rc;

	memset(s, 0, sizeof(*s));
	s->exp = exp;
	rc = fedc_topic_researcher(s->reply_topic, exp->federation, exp->researcher_id);
	if (!rc)
		rc = fedc_topic_nodes(s->nodes_topic, exp->federation);
	if (!rc)
		rc = fedc_topic_status_all(status_all, exp->federation);
	if (!rc)
		rc = open_channel(s, exp);
	if (rc)
		return rc;
	fedc_uuid_new(uuid);
	/* "<user>:<random>": the broker takes a client id only from its own user
	 * (docs/security.md), and several sessions of one researcher may run. */
	snprintf(client_id, sizeof(client_id), "%s:%.8s",
		 exp->broker_username[0] ? exp->broker_username : exp->researcher_id, uuid);
	opts.url = exp->broker_url;
	opts.client_id = client_id;
	opts.subscriptions = subs;
	opts.n_subscriptions = 2;
	opts.connect_timeout_s = 10;
	opts.fail_fast_on_refusal = true;
	opts.username = exp->broker_username[0] ? exp->broker_username : NULL;
	opts.password = exp->broker_password[0] ? exp->broker_password : NULL;
	opts.ca_file = exp->broker_ca_file;
	opts.cert_file = exp->broker_cert_file;
	opts.key_file = exp->broker_key_file;
	rc = fedc_mqtt_connect(&opts, &s->mqtt);
	if (rc) {
		fedc_channel_free(&s->channel);
		return rc;
	}
	settle_statuses(s);
	return FEDC_OK;
}

void session__close(struct session *s)
{
	fedc_mqtt_close(s->mqtt, NULL, 0);
	s->mqtt = NULL;
	fedc_channel_free(&s->channel);
}

enum fedc_err session__gather(struct session *s, const struct fedc_msg *req, enum fedc_cmd reply_cmd,
			      int64_t deadline_ms, session_reply_fn on_reply, void *ctx, size_t *replies)
{
	enum fedc_err rc = session__send(s, NULL, req);

	*replies = 0;
	while (!rc) {
		struct fedc_msg *msg = NULL;

		/* Every online node has answered: a node that comes online later
		 * missed the broadcast anyway, so waiting longer gains nothing.
		 * Knowing no status (RabbitMQ), the wait runs to its deadline. */
		if (*replies > 0 && online_by_status(s) > 0 && *replies >= online_by_status(s))
			break;
		rc = session__next(s, deadline_ms, &msg);
		if (rc)
			break;
		if ((msg->command == reply_cmd || msg->command == FEDC_CMD_ERROR) &&
		    strcmp(msg->request_id, req->request_id) == 0) {
			(*replies)++;
			if (msg->command == FEDC_CMD_ERROR)
				session__note_refusal(s, msg);
			on_reply(ctx, msg);
		} else {
			fedc_msg_free(msg);
		}
	}
	return rc == FEDC_ERR_TIMEOUT ? FEDC_OK : rc;
}
