/* The channel policy: who may send what, once, and only signed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fedc/channel.h"
#include "fedc/hash.h"

#define NODE_TOPIC "fedc/f/node/n1"
#define REPLY_TOPIC "fedc/f/researcher/r1"
#define STATUS_TOPIC "fedc/f/status/n1"

struct fixture {
	char dir[64];
	struct fedc_channel researcher, node, other_node, open;
};

static void write_pem(EVP_PKEY *key, const char *path, bool private_part)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(private_part ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(f, key),
			 1);
	fclose(f);
}

/* dir/<id>/signing.key, dir/<id>/trusted/, and <id>.pub in each of `trusted_by`. */
static void make_participant(const char *dir, const char *id, const char *const *trusted_by)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char path[256];

	assert_non_null(key);
	snprintf(path, sizeof(path), "%s/%s", dir, id);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/trusted", dir, id);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/signing.key", dir, id);
	write_pem(key, path, true);
	for (; trusted_by && *trusted_by; trusted_by++) {
		snprintf(path, sizeof(path), "%s/%s/trusted/%s.pub", dir, *trusted_by, id);
		write_pem(key, path, false);
	}
	EVP_PKEY_free(key);
}

static void open_channel(struct fixture *fx, struct fedc_channel *ch, const char *id)
{
	char key[256], trusted[256];

	snprintf(key, sizeof(key), "%s/%s/signing.key", fx->dir, id);
	snprintf(trusted, sizeof(trusted), "%s/%s/trusted", fx->dir, id);
	assert_int_equal(fedc_channel_init(ch, id, key, trusted, 300, false), FEDC_OK);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	const char *const by_nodes[] = { "n1", "n2", NULL }, *const by_researcher[] = { "r1", NULL };

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/fedc-test-channel-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	make_participant(fx->dir, "r1", NULL);
	make_participant(fx->dir, "n1", NULL);
	make_participant(fx->dir, "n2", NULL);
	/* now that every trusted/ exists, hand out the public keys */
	make_participant(fx->dir, "r1", by_nodes);
	make_participant(fx->dir, "n1", by_researcher);
	make_participant(fx->dir, "n2", by_researcher);
	open_channel(fx, &fx->researcher, "r1");
	open_channel(fx, &fx->node, "n1");
	open_channel(fx, &fx->other_node, "n2");
	assert_int_equal(fedc_channel_init(&fx->open, "n1", NULL, NULL, 300, true), FEDC_OK);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	fedc_channel_free(&fx->researcher);
	fedc_channel_free(&fx->node);
	fedc_channel_free(&fx->other_node);
	fedc_channel_free(&fx->open);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static struct fedc_msg *ping_from(const char *researcher)
{
	struct fedc_msg *m = fedc_msg_new(FEDC_CMD_PING);

	snprintf(m->researcher_id, sizeof(m->researcher_id), "%s", researcher);
	fedc_msg_set(m, FEDC_F_RESEARCHER_ID);
	return m;
}

static enum fedc_err deliver(struct fedc_channel *to, const char *topic, const void *buf, size_t len)
{
	struct fedc_msg *got = calloc(1, sizeof(*got));
	struct fedc_origin origin;
	enum fedc_err rc = fedc_channel_accept(to, topic, buf, len, got, &origin);

	fedc_msg_free(got); /* also what a refused message decoded to */
	return rc;
}

static void test_signed_command_accepted_once(void **state)
{
	struct fixture *fx = *state;
	struct fedc_msg *ping = ping_from("r1"), *got = calloc(1, sizeof(*got));
	struct fedc_origin origin;
	void *buf;
	size_t len;

	assert_int_equal(fedc_channel_wrap(&fx->researcher, NODE_TOPIC, ping, &buf, &len), FEDC_OK);
	assert_int_equal(fedc_channel_accept(&fx->node, NODE_TOPIC, buf, len, got, &origin), FEDC_OK);
	assert_true(origin.is_signed);
	assert_string_equal(origin.signer, "r1");
	assert_int_equal(got->command, FEDC_CMD_PING);
	assert_string_equal(got->request_id, ping->request_id);
	/* the same bytes again: a replay */
	assert_int_equal(deliver(&fx->node, NODE_TOPIC, buf, len), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "replayed"));
	free(buf);
	free(got);
	fedc_msg_free(ping);
}

static void test_unsigned_refused_unless_allowed(void **state)
{
	struct fixture *fx = *state;
	struct fedc_msg *ping = ping_from("r1");
	void *buf;
	size_t len;

	assert_int_equal(fedc_msg_encode(ping, &buf, &len), FEDC_OK);
	assert_int_equal(deliver(&fx->node, NODE_TOPIC, buf, len), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "unsigned"));
	assert_int_equal(deliver(&fx->open, NODE_TOPIC, buf, len), FEDC_OK);
	free(buf);
	fedc_msg_free(ping);
}

static void test_sender_must_be_signer(void **state)
{
	struct fixture *fx = *state;
	struct fedc_msg *ping = ping_from("someone-else"), *pong;
	void *buf;
	size_t len;

	/* r1 signs a command in another researcher's name */
	assert_int_equal(fedc_channel_wrap(&fx->researcher, NODE_TOPIC, ping, &buf, &len), FEDC_OK);
	assert_int_equal(deliver(&fx->node, NODE_TOPIC, buf, len), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "signed by \"r1\""));
	free(buf);
	/* node n2 answers in node n1's name */
	pong = fedc_msg_reply(ping, FEDC_CMD_PONG, "n1");
	snprintf(pong->researcher_id, sizeof(pong->researcher_id), "r1");
	assert_int_equal(fedc_channel_wrap(&fx->other_node, REPLY_TOPIC, pong, &buf, &len), FEDC_OK);
	assert_int_equal(deliver(&fx->researcher, REPLY_TOPIC, buf, len), FEDC_ERR_AUTH);
	free(buf);
	/* n1 itself is believed */
	assert_int_equal(fedc_channel_wrap(&fx->node, REPLY_TOPIC, pong, &buf, &len), FEDC_OK);
	assert_int_equal(deliver(&fx->researcher, REPLY_TOPIC, buf, len), FEDC_OK);
	free(buf);
	fedc_msg_free(pong);
	fedc_msg_free(ping);
}

/* A retained status is delivered again on every subscription: it is not a replay. */
static void test_status_may_arrive_twice(void **state)
{
	struct fixture *fx = *state;
	struct fedc_msg *status = fedc_msg_new(FEDC_CMD_STATUS);
	void *buf;
	size_t len;

	snprintf(status->node_id, sizeof(status->node_id), "n1");
	snprintf(status->state, sizeof(status->state), "online");
	fedc_msg_set(status, FEDC_F_NODE_ID);
	fedc_msg_set(status, FEDC_F_STATE);
	assert_int_equal(fedc_channel_wrap(&fx->node, STATUS_TOPIC, status, &buf, &len), FEDC_OK);
	assert_int_equal(deliver(&fx->researcher, STATUS_TOPIC, buf, len), FEDC_OK);
	assert_int_equal(deliver(&fx->researcher, STATUS_TOPIC, buf, len), FEDC_OK);
	/* but not on another node's status topic */
	assert_int_equal(deliver(&fx->researcher, "fedc/f/status/n2", buf, len), FEDC_ERR_AUTH);
	free(buf);
	fedc_msg_free(status);
}

static void test_signed_but_malformed_body(void **state)
{
	struct fixture *fx = *state;
	struct fedc_msg *got = calloc(1, sizeof(*got));
	struct fedc_origin origin;
	void *buf;
	size_t len;

	assert_int_equal(fedc_envelope_seal(fx->researcher.signer, NODE_TOPIC, "junk", 4, fedc_unix_ms(), &buf, &len),
			 FEDC_OK);
	assert_int_equal(fedc_channel_accept(&fx->node, NODE_TOPIC, buf, len, got, &origin), FEDC_ERR_MALFORMED);
	assert_int_equal(origin.body_len, 4);
	free(buf);
	free(got);
}

/* ---- parameters as a version-2 envelope's attachment ---- */

/* A train-reply from n1 to r1 carrying `len` bytes of parameters, named by
 * the SHA-256 of `named` (the same bytes, or others to lie). */
static struct fedc_msg *reply_with_params(const uint8_t *params, size_t len, const uint8_t *named, bool attached)
{
	static const enum fedc_field fields[] = {
		FEDC_F_RESEARCHER_ID, FEDC_F_NODE_ID, FEDC_F_JOB_ID, FEDC_F_ROUND, FEDC_F_DATASET_ID,
		FEDC_F_N_SAMPLES, FEDC_F_N_TEST, FEDC_F_METRICS, FEDC_F_GLOBAL_METRICS, FEDC_F_DOWNLOAD_S,
		FEDC_F_TRAIN_S, FEDC_F_UPLOAD_S, FEDC_F_PARAMS_DIGEST,
	};
	struct fedc_msg *m = fedc_msg_new(FEDC_CMD_TRAIN_REPLY);

	snprintf(m->researcher_id, sizeof(m->researcher_id), "r1");
	snprintf(m->node_id, sizeof(m->node_id), "n1");
	snprintf(m->job_id, sizeof(m->job_id), "00000000-0000-4000-8000-000000000001");
	snprintf(m->dataset_id, sizeof(m->dataset_id), "d1");
	m->round = 1;
	m->n_samples = 10;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		fedc_msg_set(m, fields[i]);
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, named, len, m->params_digest), FEDC_OK);
	if (params)
		assert_int_equal(fedc_msg_set_params(m, params, len), FEDC_OK);
	m->params_attached = attached;
	return m;
}

static void fill(uint8_t *data, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(seed + i * 13);
}

/* Sent attached, the params arrive in msg->params, marked as checked, and
 * the signed body is only the rest of the message. */
static void test_attached_params_arrive_checked(void **state)
{
	struct fixture *fx = *state;
	uint8_t params[5000];
	struct fedc_msg *reply, *got = calloc(1, sizeof(*got));
	struct fedc_origin origin;
	void *buf;
	size_t len;

	fill(params, sizeof(params), 1);
	reply = reply_with_params(params, sizeof(params), params, true);
	assert_int_equal(fedc_channel_wrap(&fx->node, REPLY_TOPIC, reply, &buf, &len), FEDC_OK);
	assert_int_equal(fedc_channel_accept(&fx->researcher, REPLY_TOPIC, buf, len, got, &origin), FEDC_OK);
	assert_int_equal(origin.envelope_version, 2);
	assert_true(origin.has_att);
	assert_true(origin.body_len < 1000);
	assert_true(got->params_attached);
	assert_true(fedc_msg_has(got, FEDC_F_PARAMS));
	assert_int_equal(got->params_len, sizeof(params));
	assert_memory_equal(got->params, params, sizeof(params));
	assert_string_equal(got->params_digest, reply->params_digest);
	free(buf);
	fedc_msg_free(got);
	fedc_msg_free(reply);
}

/* Not attached (v1), the params ride in the body: the consumer checks them. */
static void test_params_in_v1_body_not_marked(void **state)
{
	struct fixture *fx = *state;
	uint8_t params[100];
	struct fedc_msg *reply, *got = calloc(1, sizeof(*got));
	struct fedc_origin origin;
	void *buf;
	size_t len;

	fill(params, sizeof(params), 2);
	reply = reply_with_params(params, sizeof(params), params, false);
	assert_int_equal(fedc_channel_wrap(&fx->node, REPLY_TOPIC, reply, &buf, &len), FEDC_OK);
	assert_int_equal(fedc_channel_accept(&fx->researcher, REPLY_TOPIC, buf, len, got, &origin), FEDC_OK);
	assert_int_equal(origin.envelope_version, 1);
	assert_false(got->params_attached);
	assert_int_equal(got->params_len, sizeof(params));
	free(buf);
	fedc_msg_free(got);
	/* no signer (a closed test network): a plain message, params inside */
	reply->params_attached = true;
	got = calloc(1, sizeof(*got));
	assert_int_equal(fedc_channel_wrap(&fx->open, REPLY_TOPIC, reply, &buf, &len), FEDC_OK);
	assert_int_equal(fedc_channel_accept(&fx->open, REPLY_TOPIC, buf, len, got, &origin), FEDC_OK);
	assert_int_equal(origin.envelope_version, 0);
	assert_false(got->params_attached);
	assert_int_equal(got->params_len, sizeof(params));
	free(buf);
	fedc_msg_free(got);
	fedc_msg_free(reply);
}

/* v2 without params: still v2, nothing attached; a node answers so. */
static void test_attached_without_params(void **state)
{
	struct fixture *fx = *state;
	uint8_t params[10];
	struct fedc_msg *reply, *got = calloc(1, sizeof(*got));
	struct fedc_origin origin;
	void *buf;
	size_t len;

	fill(params, sizeof(params), 3);
	reply = reply_with_params(NULL, sizeof(params), params, true);
	assert_int_equal(fedc_channel_wrap(&fx->node, REPLY_TOPIC, reply, &buf, &len), FEDC_OK);
	assert_int_equal(fedc_channel_accept(&fx->researcher, REPLY_TOPIC, buf, len, got, &origin), FEDC_OK);
	assert_int_equal(origin.envelope_version, 2);
	assert_false(origin.has_att);
	assert_true(got->params_attached);
	assert_false(fedc_msg_has(got, FEDC_F_PARAMS));
	free(buf);
	fedc_msg_free(got);
	fedc_msg_free(reply);
}

/* A body whose params_digest is not the attachment's digest. Through
 * fedc_channel_wrap the envelope signs the digest the body names, so the
 * attachment does not open; sealed by hand with the attachment's true
 * digest, the signature holds and the channel refuses the mismatch. */
static void test_attached_digest_differs_refused(void **state)
{
	struct fixture *fx = *state;
	uint8_t params[300], other[300];
	struct fedc_attachment att = { .data = params, .len = sizeof(params) };
	struct fedc_msg *reply;
	void *buf, *body;
	size_t len, body_len;

	fill(params, sizeof(params), 4);
	fill(other, sizeof(other), 5);
	reply = reply_with_params(params, sizeof(params), other, true);
	assert_int_equal(fedc_channel_wrap(&fx->node, REPLY_TOPIC, reply, &buf, &len), FEDC_OK);
	assert_int_equal(deliver(&fx->researcher, REPLY_TOPIC, buf, len), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "attachment"));
	free(buf);
	assert_int_equal(EVP_Digest(params, sizeof(params), att.sha256, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(fedc_msg_encode_without_params(reply, &body, &body_len), FEDC_OK);
	assert_int_equal(fedc_envelope_seal_v2(fx->node.signer, REPLY_TOPIC, body, body_len, &att, fedc_unix_ms(), &buf,
					       &len),
			 FEDC_OK);
	assert_int_equal(deliver(&fx->researcher, REPLY_TOPIC, buf, len), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "params_digest"));
	free(buf);
	free(body);
	fedc_msg_free(reply);
}

/* Sealed by hand: params inside a v2 body, and an attachment on a command
 * that carries no parameters. */
static void test_v2_misplaced_params_refused(void **state)
{
	struct fixture *fx = *state;
	uint8_t params[64];
	struct fedc_attachment att = { .data = params, .len = sizeof(params) };
	struct fedc_msg *reply, *ping = ping_from("r1");
	void *body, *buf;
	size_t body_len, len;

	fill(params, sizeof(params), 6);
	reply = reply_with_params(params, sizeof(params), params, false);
	assert_int_equal(fedc_msg_encode(reply, &body, &body_len), FEDC_OK);
	assert_int_equal(fedc_envelope_seal_v2(fx->node.signer, REPLY_TOPIC, body, body_len, NULL, fedc_unix_ms(), &buf,
					       &len),
			 FEDC_OK);
	assert_int_equal(deliver(&fx->researcher, REPLY_TOPIC, buf, len), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "attachment"));
	free(buf);
	free(body);
	assert_int_equal(EVP_Digest(params, sizeof(params), att.sha256, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(fedc_msg_encode(ping, &body, &body_len), FEDC_OK);
	assert_int_equal(fedc_envelope_seal_v2(fx->researcher.signer, NODE_TOPIC, body, body_len, &att, fedc_unix_ms(),
					       &buf, &len),
			 FEDC_OK);
	assert_int_equal(deliver(&fx->node, NODE_TOPIC, buf, len), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "carries no parameters"));
	free(buf);
	free(body);
	fedc_msg_free(reply);
	fedc_msg_free(ping);
}

/* ---- train and train-reply under a per-job session (envelope v3) ---- */

#define JOB "00000000-0000-4000-8000-000000000001"

struct sessions {
	struct fedc_session_kx *r, *n;
	struct fedc_session rs, ns; /* r1's view, n1's view */
};

static void agree(struct sessions *s, const char *job)
{
	assert_int_equal(fedc_session_kx_new(&s->r), FEDC_OK);
	assert_int_equal(fedc_session_kx_new(&s->n), FEDC_OK);
	assert_int_equal(fedc_session_derive(s->r, fedc_session_kx_public(s->n), FEDC_SESSION_RESEARCHER, "r1", "n1", job,
					     &s->rs),
			 FEDC_OK);
	assert_int_equal(fedc_session_derive(s->n, fedc_session_kx_public(s->r), FEDC_SESSION_NODE, "r1", "n1", job,
					     &s->ns),
			 FEDC_OK);
}

static void sessions_free(struct sessions *s)
{
	fedc_session_kx_free(s->r);
	fedc_session_kx_free(s->n);
}

/* The researcher's lookup: its one session, with n1. */
static const struct fedc_session *find_n1(void *ctx, const char *signer, const uint8_t sid[FEDC_SESSION_ID_BYTES])
{
	const struct fedc_session *s = ctx;

	return strcmp(signer, "n1") == 0 && memcmp(sid, s->sid, FEDC_SESSION_ID_BYTES) == 0 ? s : NULL;
}

/* The node's lookup: its one session, with r1. */
static const struct fedc_session *find_r1(void *ctx, const char *signer, const uint8_t sid[FEDC_SESSION_ID_BYTES])
{
	const struct fedc_session *s = ctx;

	return strcmp(signer, "r1") == 0 && memcmp(sid, s->sid, FEDC_SESSION_ID_BYTES) == 0 ? s : NULL;
}

/* A train-reply under the session arrives as v3, params attached and
 * checked, once; the researcher's own session is handed back. */
static void test_session_reply_accepted_once(void **state)
{
	struct fixture *fx = *state;
	struct sessions s;
	uint8_t params[3000];
	struct fedc_msg *reply, *got = calloc(1, sizeof(*got));
	struct fedc_origin origin;
	void *buf;
	size_t len;

	agree(&s, JOB);
	fx->researcher.sessions = (struct fedc_session_lookup){ find_n1, &s.rs };
	fill(params, sizeof(params), 3);
	reply = reply_with_params(params, sizeof(params), params, true);
	assert_int_equal(fedc_channel_wrap_session(&fx->node, REPLY_TOPIC, reply, &s.ns, &buf, &len), FEDC_OK);
	assert_int_equal(fedc_channel_accept(&fx->researcher, REPLY_TOPIC, buf, len, got, &origin), FEDC_OK);
	assert_int_equal(origin.envelope_version, 3);
	assert_ptr_equal(origin.session, &s.rs);
	assert_string_equal(origin.signer, "n1");
	assert_true(got->params_attached);
	assert_int_equal(got->params_len, sizeof(params));
	assert_memory_equal(got->params, params, sizeof(params));
	/* the message holds a copy of the session: what is built from it goes
	 * back under the same session */
	assert_true(got->via_session);
	assert_memory_equal(got->session.sid, s.rs.sid, FEDC_SESSION_ID_BYTES);
	assert_memory_equal(got->session.send_key, s.rs.send_key, FEDC_SESSION_KEY_BYTES);
	assert_int_equal(deliver(&fx->researcher, REPLY_TOPIC, buf, len), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "replayed"));
	/* sent to another researcher's topic: the MAC covers the topic */
	assert_int_equal(deliver(&fx->researcher, "fedc/f/researcher/r2", buf, len), FEDC_ERR_AUTH);
	free(buf);
	fedc_msg_free(got);
	/* via_session: fedc_channel_wrap seals under the message's session */
	reply->via_session = true;
	reply->session = s.ns;
	got = calloc(1, sizeof(*got));
	assert_int_equal(fedc_channel_wrap(&fx->node, REPLY_TOPIC, reply, &buf, &len), FEDC_OK);
	assert_int_equal(fedc_channel_accept(&fx->researcher, REPLY_TOPIC, buf, len, got, &origin), FEDC_OK);
	assert_int_equal(origin.envelope_version, 3);
	free(buf);
	fedc_msg_free(got);
	fedc_msg_free(reply);
	sessions_free(&s);
}

/* A receiver without the session: a distinct refusal, so that the owner can
 * answer `unknown-session`. */
static void test_session_unknown_refused(void **state)
{
	struct fixture *fx = *state;
	struct sessions s, other;
	struct fedc_msg *reply, *got = calloc(1, sizeof(*got));
	struct fedc_origin origin;
	uint8_t params[10];
	void *buf;
	size_t len;

	agree(&s, JOB);
	agree(&other, JOB);
	fill(params, sizeof(params), 4);
	reply = reply_with_params(params, sizeof(params), params, true);
	assert_int_equal(fedc_channel_wrap_session(&fx->node, REPLY_TOPIC, reply, &s.ns, &buf, &len), FEDC_OK);
	assert_int_equal(fedc_channel_accept(&fx->researcher, REPLY_TOPIC, buf, len, got, &origin), FEDC_ERR_NOT_FOUND);
	assert_true(origin.unknown_session);
	assert_memory_equal(origin.sid, s.ns.sid, FEDC_SESSION_ID_BYTES);
	fedc_msg_clear(got);
	/* it holds another session (a restart agreed anew): still unknown */
	fx->researcher.sessions = (struct fedc_session_lookup){ find_n1, &other.rs };
	assert_int_equal(fedc_channel_accept(&fx->researcher, REPLY_TOPIC, buf, len, got, &origin), FEDC_ERR_NOT_FOUND);
	free(buf);
	fedc_msg_free(got);
	fedc_msg_free(reply);
	sessions_free(&s);
	sessions_free(&other);
}

/* A session serves one job and only train and train-reply: the sender
 * refuses anything else, and so does the receiver. */
static void test_session_job_and_command_bound(void **state)
{
	struct fixture *fx = *state;
	struct sessions s;
	struct fedc_session other_job;
	struct fedc_msg *reply, *ping = ping_from("r1");
	uint8_t params[10];
	void *buf = NULL, *body = NULL;
	size_t len, body_len;

	agree(&s, JOB);
	fill(params, sizeof(params), 5);
	reply = reply_with_params(params, sizeof(params), params, true);
	assert_int_equal(fedc_channel_wrap_session(&fx->researcher, NODE_TOPIC, ping, &s.rs, &buf, &len), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "only train and train-reply"));
	snprintf(reply->job_id, sizeof(reply->job_id), "00000000-0000-4000-8000-000000000002");
	assert_int_equal(fedc_channel_wrap_session(&fx->node, REPLY_TOPIC, reply, &s.ns, &buf, &len), FEDC_ERR_INVAL);
	assert_null(buf);
	/* the receiver holds this session for another job: refused */
	other_job = s.rs;
	snprintf(other_job.job_id, sizeof(other_job.job_id), "00000000-0000-4000-8000-000000000003");
	fx->researcher.sessions = (struct fedc_session_lookup){ find_n1, &other_job };
	snprintf(reply->job_id, sizeof(reply->job_id), JOB);
	assert_int_equal(fedc_channel_wrap_session(&fx->node, REPLY_TOPIC, reply, &s.ns, &buf, &len), FEDC_OK);
	assert_int_equal(deliver(&fx->researcher, REPLY_TOPIC, buf, len), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "under the session of job"));
	free(buf);
	/* a ping MAC'd by hand under the session: refused for what it is */
	assert_int_equal(fedc_msg_encode(ping, &body, &body_len), FEDC_OK);
	assert_int_equal(fedc_envelope_seal_v3("r1", &s.rs, NODE_TOPIC, body, body_len, NULL, fedc_unix_ms(), &buf, &len),
			 FEDC_OK);
	fx->node.sessions = (struct fedc_session_lookup){ find_r1, &s.ns };
	assert_int_equal(deliver(&fx->node, NODE_TOPIC, buf, len), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "only train and train-reply may"));
	free(buf);
	free(body);
	fedc_msg_free(ping);
	fedc_msg_free(reply);
	sessions_free(&s);
}

static void test_missing_key_files(void **state)
{
	struct fixture *fx = *state;
	struct fedc_channel ch;
	char trusted[256];

	snprintf(trusted, sizeof(trusted), "%s/nowhere", fx->dir);
	assert_int_equal(fedc_channel_init(&ch, "n1", NULL, trusted, 300, false), FEDC_ERR_IO);
	assert_int_equal(fedc_channel_init(&ch, "n1", "/nonexistent.key", NULL, 300, false), FEDC_ERR_IO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_signed_command_accepted_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsigned_refused_unless_allowed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sender_must_be_signer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_may_arrive_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signed_but_malformed_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_key_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attached_params_arrive_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_params_in_v1_body_not_marked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attached_without_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attached_digest_differs_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_misplaced_params_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_reply_accepted_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_unknown_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_job_and_command_bound, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
