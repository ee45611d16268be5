/* The channel's security policy (see fedc/channel.h). */
#include "fedc/channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/hash.h"

enum fedc_err fedc_channel_init(struct fedc_channel *ch, const char *own_id, const char *key_path,
				const char *trusted_dir, int64_t skew_s, bool allow_unsigned)
{
	enum fedc_err rc = FEDC_OK;

	memset(ch, 0, sizeof(*ch));
	ch->allow_unsigned = allow_unsigned;
	if (key_path && key_path[0])
		rc = fedc_signer_load(own_id, key_path, &ch->signer);
	if (!rc && trusted_dir && trusted_dir[0])
		rc = fedc_keyring_load_dir(trusted_dir, &ch->trusted);
	if (!rc && ch->trusted)
		rc = fedc_replay_guard_new(skew_s * 1000, FEDC_REPLAY_CAPACITY, &ch->guard);
	if (rc)
		fedc_channel_free(ch);
	return rc;
}

void fedc_channel_free(struct fedc_channel *ch)
{
	fedc_signer_free(ch->signer);
	fedc_keyring_free(ch->trusted);
	fedc_replay_guard_free(ch->guard);
	memset(ch, 0, sizeof(*ch));
}

/* Version 2 (version 3 with a session): the body without `params`, which
 * ride as the attachment under the digest the message already names (so
 * nothing is hashed here). */
static enum fedc_err wrap_attached(const struct fedc_channel *ch, const char *topic, const struct fedc_msg *msg,
				   const struct fedc_session *session, void **out, size_t *out_len)
{
	struct fedc_attachment att = { .data = msg->params, .len = msg->params_len };
	bool with_att = fedc_msg_has(msg, FEDC_F_PARAMS);
	void *body = NULL;
	size_t body_len = 0;
	enum fedc_err rc;

	if (with_att && (!fedc_msg_has(msg, FEDC_F_PARAMS_DIGEST) || !fedc_hex_decode(msg->params_digest, att.sha256, FEDC_SHA256_BYTES)))
		return fedc_fail(FEDC_ERR_INVAL, "%s: params go only with params_digest, a SHA-256 in hex",
				 fedc_cmd_name(msg->command));
	rc = fedc_msg_encode_without_params(msg, &body, &body_len);
	if (!rc && session)
		rc = fedc_envelope_seal_v3(fedc_signer_id(ch->signer), session, topic, body, body_len,
					   with_att ? &att : NULL, fedc_unix_ms(), out, out_len);
	else if (!rc)
		rc = fedc_envelope_seal_v2(ch->signer, topic, body, body_len, with_att ? &att : NULL, fedc_unix_ms(),
					   out, out_len);
	free(body);
	return rc;
}

enum fedc_err fedc_channel_wrap(const struct fedc_channel *ch, const char *topic, const struct fedc_msg *msg,
				void **out, size_t *out_len)
{
	void *body = NULL;
	size_t body_len = 0;
	enum fedc_err rc;

	if (msg->via_session)
		return fedc_channel_wrap_session(ch, topic, msg, &msg->session, out, out_len);
	if (msg->params_attached && ch->signer)
		return wrap_attached(ch, topic, msg, NULL, out, out_len);
	rc = fedc_msg_encode(msg, &body, &body_len);
	if (rc || !ch->signer) {
		*out = rc ? NULL : body;
		*out_len = rc ? 0 : body_len;
		return rc;
	}
	rc = fedc_envelope_seal(ch->signer, topic, body, body_len, fedc_unix_ms(), out, out_len);
	free(body);
	return rc;
}

/* Only train and train-reply travel under a session (docs/protocol.md,
 * "Envelope version 3"); everything else stays signed. */
static bool session_command(enum fedc_cmd cmd)
{
	return cmd == FEDC_CMD_TRAIN || cmd == FEDC_CMD_TRAIN_REPLY;
}

enum fedc_err fedc_channel_wrap_session(const struct fedc_channel *ch, const char *topic, const struct fedc_msg *msg,
					const struct fedc_session *session, void **out, size_t *out_len)
{
	if (!session)
		return fedc_channel_wrap(ch, topic, msg, out, out_len);
	if (!ch->signer)
		return fedc_fail(FEDC_ERR_INVAL, "a session needs a signing participant (this one has no key)");
	if (!session_command(msg->command))
		return fedc_fail(FEDC_ERR_INVAL, "%s does not travel under a session: only train and train-reply do",
				 fedc_cmd_name(msg->command));
	if (!fedc_msg_has(msg, FEDC_F_JOB_ID) || strcmp(msg->job_id, session->job_id) != 0)
		return fedc_fail(FEDC_ERR_INVAL, "%s of job %s under the session of job %s", fedc_cmd_name(msg->command),
				 msg->job_id, session->job_id);
	return wrap_attached(ch, topic, msg, session, out, out_len);
}

enum fedc_err fedc_channel_publish_session(const struct fedc_channel *ch, struct fedc_mqtt *m, const char *topic,
					   const struct fedc_msg *msg, const struct fedc_session *session, bool retained)
{
	void *buf = NULL;
	size_t len = 0;
	enum fedc_err rc = fedc_channel_wrap_session(ch, topic, msg, session, &buf, &len);

	if (!rc)
		rc = fedc_mqtt_publish(m, topic, buf, len, retained);
	free(buf);
	return rc;
}

enum fedc_err fedc_channel_publish(const struct fedc_channel *ch, struct fedc_mqtt *m, const char *topic,
				   const struct fedc_msg *msg, bool retained)
{
	void *buf = NULL;
	size_t len = 0;
	enum fedc_err rc = fedc_channel_wrap(ch, topic, msg, &buf, &len);

	if (!rc)
		rc = fedc_mqtt_publish(m, topic, buf, len, retained);
	free(buf);
	return rc;
}

/* Opens a sealed payload; `origin` keeps what it could read. */
static enum fedc_err open_sealed(struct fedc_channel *ch, const char *topic, const void *payload, size_t len,
				 struct fedc_origin *origin)
{
	struct fedc_envelope env;
	enum fedc_err rc;

	if (!ch->trusted)
		return fedc_fail(FEDC_ERR_AUTH, "signed message, but this participant trusts no keys "
				 "(set trusted_keys_dir)");
	rc = fedc_envelope_open_sessions(ch->trusted, ch->sessions.find ? &ch->sessions : NULL, topic, payload, len,
					 &env);
	origin->is_signed = true;
	origin->session = env.session;
	origin->unknown_session = rc == FEDC_ERR_NOT_FOUND;
	memcpy(origin->sid, env.sid, sizeof(origin->sid));
	snprintf(origin->signer, sizeof(origin->signer), "%s", env.signer);
	snprintf(origin->nonce, sizeof(origin->nonce), "%s", env.nonce);
	origin->ts_ms = env.ts_ms;
	origin->envelope_version = env.version;
	origin->has_att = env.has_att;
	origin->att = env.att;
	origin->att_len = env.att_len;
	memcpy(origin->att_sha256, env.att_sha256, sizeof(origin->att_sha256));
	if (env.body) {
		origin->body = env.body;
		origin->body_len = env.body_len;
	}
	return rc;
}

/* The signer must be who the message says sent it. */
static enum fedc_err check_sender(const struct fedc_msg *msg, const struct fedc_origin *origin)
{
	const char *claimed = fedc_cmd_from_node(msg->command) ? msg->node_id : msg->researcher_id;

	if (strcmp(claimed, origin->signer) != 0)
		return fedc_fail(FEDC_ERR_AUTH, "%s names %s \"%s\" but is signed by \"%s\"",
				 fedc_cmd_name(msg->command),
				 fedc_cmd_from_node(msg->command) ? "node" : "researcher", claimed, origin->signer);
	return FEDC_OK;
}

/* A version-2 message takes its params from the attachment alone, and only
 * under the digest its signed body names: the signature covered that digest,
 * fedc_envelope_open hashed the attached bytes to it, so they need no other
 * check (msg->params_attached says so to the consumers). */
static enum fedc_err adopt_attachment(struct fedc_msg *msg, const struct fedc_origin *origin)
{
	char hex[2 * FEDC_SHA256_BYTES + 1];
	const char *name = fedc_cmd_name(msg->command);

	if (origin->envelope_version < 2)
		return FEDC_OK;
	if (fedc_msg_has(msg, FEDC_F_PARAMS))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: in a version-%u envelope params travel as its attachment, "
				 "not in the message", name, origin->envelope_version);
	msg->params_attached = true;
	if (!origin->has_att)
		return FEDC_OK;
	if (msg->command != FEDC_CMD_TRAIN && msg->command != FEDC_CMD_TRAIN_REPLY)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s carries no parameters, but its envelope has an attachment",
				 name);
	fedc_hex_encode(origin->att_sha256, FEDC_SHA256_BYTES, hex);
	if (!fedc_msg_has(msg, FEDC_F_PARAMS_DIGEST) || strcmp(hex, msg->params_digest) != 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: the attachment hashes to %s, not to the params_digest %s "
				 "the message names", name, hex,
				 fedc_msg_has(msg, FEDC_F_PARAMS_DIGEST) ? msg->params_digest : "(none)");
	return fedc_msg_set_params(msg, origin->att, origin->att_len);
}

/* Version 3: only train and train-reply, and only of the job whose session
 * authenticated them (a session's keys serve one job). */
static enum fedc_err check_session(struct fedc_msg *msg, const struct fedc_origin *origin)
{
	if (origin->envelope_version != 3)
		return FEDC_OK;
	if (!session_command(msg->command))
		return fedc_fail(FEDC_ERR_AUTH, "%s came under a session: only train and train-reply may",
				 fedc_cmd_name(msg->command));
	if (!fedc_msg_has(msg, FEDC_F_JOB_ID) || strcmp(msg->job_id, origin->session->job_id) != 0)
		return fedc_fail(FEDC_ERR_AUTH, "%s of job %s came under the session of job %s",
				 fedc_cmd_name(msg->command), fedc_msg_has(msg, FEDC_F_JOB_ID) ? msg->job_id : "(none)",
				 origin->session->job_id);
	if (fedc_msg_has(msg, FEDC_F_SESSION_KX))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: session_kx travels only in a signed message, not under a "
				 "session", fedc_cmd_name(msg->command));
	msg->via_session = true; /* the answer goes under the same session */
	msg->session = *origin->session;
	return FEDC_OK;
}

enum fedc_err fedc_channel_accept(struct fedc_channel *ch, const char *topic, const void *payload, size_t len,
				  struct fedc_msg *msg, struct fedc_origin *origin)
{
	enum fedc_err rc;

	memset(origin, 0, sizeof(*origin));
	origin->body = payload;
	origin->body_len = len;
	if (fedc_envelope_detect(payload, len)) {
		rc = open_sealed(ch, topic, payload, len, origin);
	} else if (ch->allow_unsigned) {
		rc = FEDC_OK;
	} else {
		rc = fedc_fail(FEDC_ERR_AUTH, "unsigned message refused: every message must be signed by a "
				 "trusted key");
	}
	if (rc)
		return rc;
	rc = fedc_msg_decode(origin->body, origin->body_len, msg);
	if (!rc && origin->is_signed)
		rc = check_sender(msg, origin);
	if (!rc && origin->is_signed)
		rc = check_session(msg, origin);
	if (!rc && origin->is_signed)
		rc = adopt_attachment(msg, origin);
	if (!rc && origin->is_signed && msg->command != FEDC_CMD_STATUS)
		rc = fedc_replay_check(ch->guard, origin->signer, origin->nonce, origin->ts_ms, fedc_unix_ms());
	return rc;
}
