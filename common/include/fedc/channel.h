/* The message channel's security policy, shared by node and researcher:
 * messages go out sealed in a signed envelope (fedc/sign.h) and come in
 * verified, fresh, never seen before, and sent by the participant they name.
 *
 *   outgoing  fedc_msg -> encode -> seal with own key -> MQTT
 *   incoming  MQTT -> open: signature by a trusted key, for this topic
 *                  -> decode -> the signer is the message's sender
 *                     (node_id for what nodes send, researcher_id otherwise)
 *                  -> fresh and not replayed (except `status`: it is
 *                     retained and delivered again on every subscription;
 *                     only its owner may publish it, by the broker's ACL)
 *
 * A message with `params_attached` goes out in a version-2 envelope, its
 * `params` as the envelope's attachment (fedc/sign.h): the signature covers
 * them through params_digest, which the sender already knows, and the
 * receiver hashes them once, in fedc_envelope_open. Only a peer that opens
 * version 2 may be sent one (the node's `envelope` capability, fedc/caps.h;
 * a node answers v2 only to a request that came so). Coming in, a v2
 * message gets `params_attached` set and its params from the attachment,
 * which must hash to the params_digest of the message (else
 * FEDC_ERR_MALFORMED); params inside a v2 body are refused.
 *
 * A train or train-reply may go out under a per-job session instead
 * (fedc_channel_wrap_session): an envelope version 3, MAC'd with the
 * session's key (fedc/session_key.h), with version 2's attachment rules.
 * Coming in, the channel finds the session through `sessions`, a lookup its
 * owner provides (the channel keeps no sessions itself); a v3 message must
 * be a train or train-reply of the session's job (and carries no
 * session_kx); it gets `via_session` and a copy of the session, so that the
 * answer built from it goes back under the same session. A message with
 * `via_session` goes out so from fedc_channel_wrap. One the lookup does not
 * know is refused with FEDC_ERR_NOT_FOUND and origin->unknown_session set,
 * so that the owner can answer `unknown-session` and the peer agree anew.
 *
 * With `allow_unsigned` (closed test networks only), plain unsigned messages
 * are accepted too, and nothing is sealed if there is no signer. */
#ifndef FEDC_CHANNEL_H
#define FEDC_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/message.h"
#include "fedc/mqtt.h"
#include "fedc/sign.h"

#define FEDC_DEFAULT_CLOCK_SKEW_S 300
#define FEDC_REPLAY_CAPACITY (1u << 16)

struct fedc_channel {
	struct fedc_signer *signer;      /* NULL: publish plain messages */
	struct fedc_keyring *trusted;    /* whose signatures are accepted */
	struct fedc_replay_guard *guard; /* required when trusted is set */
	bool allow_unsigned;
	struct fedc_session_lookup sessions; /* set by the owner; zero: v3 refused */
};

/* Where an accepted (or refused) message came from. */
struct fedc_origin {
	bool is_signed;
	unsigned envelope_version; /* 0: unsigned; 1, 2 or 3 */
	char signer[FEDC_MAX_ID_LEN + 1];
	char nonce[FEDC_NONCE_HEXLEN + 1];
	int64_t ts_ms;
	/* The message bytes inside the envelope (or the payload itself when
	 * unsigned), also on refusal: enough to say who claimed to send it. */
	const uint8_t *body;
	size_t body_len;
	/* Version 2: the attachment, pointing into the payload like body, and
	 * its SHA-256 (checked against the signed digest). */
	bool has_att;
	const uint8_t *att;
	size_t att_len;
	uint8_t att_sha256[FEDC_SHA256_BYTES];
	/* Version 3: the session it named, and (accepted) the owner's session
	 * that authenticated it; unknown_session if the lookup had none. */
	uint8_t sid[FEDC_SESSION_ID_BYTES];
	const struct fedc_session *session;
	bool unknown_session;
};

/* Loads the signer (when key_path is non-empty) and the keyring (when
 * trusted_dir is non-empty) and makes the replay guard, with a window of
 * skew_s seconds. FEDC_ERR_CONFIG / FEDC_ERR_IO naming the file at fault. */
FEDC_NODISCARD
enum fedc_err fedc_channel_init(struct fedc_channel *ch, const char *own_id, const char *key_path,
				const char *trusted_dir, int64_t skew_s, bool allow_unsigned);
void fedc_channel_free(struct fedc_channel *ch);

/* Encodes `msg`, seals it for `topic` when there is a signer (version 2 when
 * msg->params_attached; FEDC_ERR_INVAL then if params come without a hex
 * params_digest): *out (caller frees). */
FEDC_NODISCARD
enum fedc_err fedc_channel_wrap(const struct fedc_channel *ch, const char *topic, const struct fedc_msg *msg,
				void **out, size_t *out_len);
/* fedc_channel_wrap under `session` (NULL: as fedc_channel_wrap): a version-3
 * envelope, params as its attachment. FEDC_ERR_INVAL for a message other than
 * train or train-reply, or of another job than the session's, or a channel
 * without a signer. */
FEDC_NODISCARD
enum fedc_err fedc_channel_wrap_session(const struct fedc_channel *ch, const char *topic, const struct fedc_msg *msg,
					const struct fedc_session *session, void **out, size_t *out_len);
/* fedc_channel_wrap_session, then publishes at QoS 1. */
FEDC_NODISCARD
enum fedc_err fedc_channel_publish_session(const struct fedc_channel *ch, struct fedc_mqtt *m, const char *topic,
					   const struct fedc_msg *msg, const struct fedc_session *session, bool retained);
/* fedc_channel_wrap, then publishes at QoS 1. */
FEDC_NODISCARD
enum fedc_err fedc_channel_publish(const struct fedc_channel *ch, struct fedc_mqtt *m, const char *topic,
				   const struct fedc_msg *msg, bool retained);

/* Applies the policy to `payload` received on `topic` and decodes it into
 * `msg`. FEDC_ERR_AUTH (unsigned where signatures are required, unknown or
 * bad signature or MAC, sender mismatch, stale, replayed, a v3 message not
 * of its session's job), FEDC_ERR_NOT_FOUND (v3: unknown session),
 * FEDC_ERR_MALFORMED, and
 * the errors of fedc_msg_decode; the detail says why. `origin` is filled as
 * far as the payload could be read. `msg` owns what was decoded (params
 * among it) whatever the result: free it with fedc_msg_free or clear it
 * with fedc_msg_clear. Not thread-safe (the replay guard): call from one
 * thread. */
FEDC_NODISCARD
enum fedc_err fedc_channel_accept(struct fedc_channel *ch, const char *topic, const void *payload, size_t len,
				  struct fedc_msg *msg, struct fedc_origin *origin);

#endif
