/* Signed messages: every MQTT payload travels in an envelope signed with the
 * sender's Ed25519 key (OpenSSL), so that a receiver knows who sent it, that
 * nobody changed it, that it was meant for the topic it arrived on, and that
 * it is not a replay.
 *
 * The envelope is a msgpack map (docs/protocol.md, "Signed envelope"):
 *   v       1
 *   signer  the sender's participant id (node or researcher id)
 *   ts      sender's wall clock, milliseconds since the Unix epoch
 *   nonce   32 lower-case hex digits, fresh for every envelope
 *   body    bin: the message itself (fedc_msg_encode)
 *   sig     bin(64): Ed25519 over
 *           "fedc-envelope-v1" 0 topic 0 signer 0 ts(8 bytes, big-endian) nonce 0 body
 * Binding the topic stops a command for one node being replayed to another.
 *
 * Version 2 (v 2) may carry an attachment beside the body, a parameter file
 * of at most FEDC_MAX_INLINE_PARAMS bytes (docs/protocol.md, "Signed
 * envelope"), with two more fields, both present or both absent:
 *   att         bin: the attached bytes
 *   att_sha256  bin(32): their SHA-256
 * and the signature covers the attachment through its digest:
 *   "fedc-envelope-v2" 0 topic 0 signer 0 ts(8 BE) nonce 0
 *   present(1 byte: 1, or 0 without attachment) sha256(32 bytes; zeros without) body
 * so that the signature hashes only the small body, and a receiver hashes the
 * attached bytes once, which also checks them against the digest the sender
 * names for them (SHA-256 is collision resistant: bytes that hash to the
 * signed digest are the bytes that were signed).
 *
 * Version 3 (v 3) is version 2 authenticated by a per-job session
 * (fedc/session_key.h) instead of the signer's Ed25519 key: no `sig`, but
 *   sid  bin(16): the session, as both sides derived it
 *   mac  bin(32): HMAC-SHA256 with the sender's direction key over
 *        "fedc-envelope-v3" 0 topic 0 signer 0 ts(8 BE) nonce 0 sid(16 bytes)
 *        present(1 byte) sha256(32 bytes; zeros without) body
 * The receiver finds the session by (signer, sid) through a lookup its owner
 * provides; the signer must still be in its keyring. Stamp and nonce are
 * checked as for the others (fedc_replay_check).
 *
 * Keys are PEM files: private keys PKCS#8 ("BEGIN PRIVATE KEY"), public keys
 * SubjectPublicKeyInfo ("BEGIN PUBLIC KEY"), as fedc-admin writes them. A
 * keyring is a directory of trusted public keys named <participant id>.pub. */
#ifndef FEDC_SIGN_H
#define FEDC_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/clock.h" /* fedc_unix_ms: the stamps above */
#include "fedc/err.h"
#include "fedc/id.h"
#include "fedc/limits.h"
#include "fedc/session_key.h"

#define FEDC_NONCE_HEXLEN 32
#define FEDC_SHA256_BYTES 32
/* An envelope adds at most this much to its body and attachment, which
 * together are at most FEDC_MAX_MESSAGE_BYTES (ids are capped): 209 bytes
 * for version 1, 47 more for v2's two attachment fields, and v3 10 fewer
 * than v2 (sid and mac instead of sig). */
#define FEDC_ENVELOPE_OVERHEAD 320
#define FEDC_ENVELOPE_MAX_BYTES (FEDC_MAX_MESSAGE_BYTES + FEDC_ENVELOPE_OVERHEAD)

struct fedc_signer;       /* one participant's private key and id */
struct fedc_keyring;      /* the public keys a participant trusts, by id */
struct fedc_replay_guard; /* the nonces seen recently */

/* Loads the private key at `key_path` for participant `id`. FEDC_ERR_IO
 * (unreadable), FEDC_ERR_CONFIG (not an Ed25519 private key), FEDC_ERR_INVAL. */
FEDC_NODISCARD
enum fedc_err fedc_signer_load(const char *id, const char *key_path, struct fedc_signer **out);
const char *fedc_signer_id(const struct fedc_signer *s);
void fedc_signer_free(struct fedc_signer *s);

/* Loads every <id>.pub of `dir` (other files are ignored). A file that is not
 * an Ed25519 public key, or a bad id in a name, is FEDC_ERR_CONFIG naming the
 * file. An empty directory gives an empty keyring. */
FEDC_NODISCARD
enum fedc_err fedc_keyring_load_dir(const char *dir, struct fedc_keyring **out);
size_t fedc_keyring_size(const struct fedc_keyring *k);
bool fedc_keyring_has(const struct fedc_keyring *k, const char *id);
void fedc_keyring_free(struct fedc_keyring *k);

#define FEDC_SIGNATURE_BYTES 64

/* Detached Ed25519 signatures over caller-framed bytes, for what a message
 * relays from a third party (secure aggregation's keys, docs/privacy.md):
 * the caller puts a context string that no other use shares first in `data`.
 * fedc_sign: FEDC_ERR_INVAL if OpenSSL refuses. fedc_keyring_verify:
 * FEDC_ERR_NOT_FOUND if `k` has no key for `id`, FEDC_ERR_AUTH if the
 * signature does not verify. */
FEDC_NODISCARD
enum fedc_err fedc_sign(const struct fedc_signer *s, const void *data, size_t len, uint8_t sig[FEDC_SIGNATURE_BYTES]);
FEDC_NODISCARD
enum fedc_err fedc_keyring_verify(const struct fedc_keyring *k, const char *id, const void *data, size_t len,
				  const uint8_t sig[FEDC_SIGNATURE_BYTES]);

/* Wraps `body` for `topic`, signed by `s`, stamped `now_unix_ms`. The caller
 * frees *out. FEDC_ERR_TOO_BIG (body over FEDC_MAX_MESSAGE_BYTES),
 * FEDC_ERR_NOMEM, FEDC_ERR_INVAL. */
FEDC_NODISCARD
enum fedc_err fedc_envelope_seal(const struct fedc_signer *s, const char *topic, const void *body,
				 size_t body_len, int64_t now_unix_ms, void **out, size_t *out_len);

/* A parameter file to attach: `sha256` must be the digest of the `len`
 * bytes at `data` (the sender knows it already; a wrong one makes every
 * receiver refuse the envelope). */
struct fedc_attachment {
	const void *data;
	size_t len;
	uint8_t sha256[FEDC_SHA256_BYTES];
};

/* fedc_envelope_seal, version 2: `att` (NULL: none) rides beside the body,
 * signed through its digest. FEDC_ERR_TOO_BIG (attachment over
 * FEDC_MAX_INLINE_PARAMS, or body and attachment together over
 * FEDC_MAX_MESSAGE_BYTES), FEDC_ERR_NOMEM, FEDC_ERR_INVAL. Only a receiver
 * that opens version 2 (fedc_envelope_open here) takes it. */
FEDC_NODISCARD
enum fedc_err fedc_envelope_seal_v2(const struct fedc_signer *s, const char *topic, const void *body,
				    size_t body_len, const struct fedc_attachment *att, int64_t now_unix_ms,
				    void **out, size_t *out_len);

/* fedc_envelope_seal_v2 authenticated by `session` (its send key) instead of
 * a signature: version 3, sent as `sender_id` (a participant id). Same codes
 * as fedc_envelope_seal_v2; FEDC_ERR_IO if the MAC fails. Only a receiver
 * that holds the session opens it (fedc_envelope_open_sessions). */
FEDC_NODISCARD
enum fedc_err fedc_envelope_seal_v3(const char *sender_id, const struct fedc_session *session, const char *topic,
				    const void *body, size_t body_len, const struct fedc_attachment *att,
				    int64_t now_unix_ms, void **out, size_t *out_len);

/* An opened envelope. `body` and `att` point into the payload given to open. */
struct fedc_envelope {
	unsigned version; /* 1, 2 or 3 */
	char signer[FEDC_MAX_ID_LEN + 1];
	char nonce[FEDC_NONCE_HEXLEN + 1];
	int64_t ts_ms;
	const uint8_t *body;
	size_t body_len;
	bool has_att;     /* v2 with an attachment: */
	const uint8_t *att;
	size_t att_len;
	uint8_t att_sha256[FEDC_SHA256_BYTES]; /* hashed by open, equal to the signed digest */
	uint8_t sid[FEDC_SESSION_ID_BYTES];    /* v3: the session it names */
	const struct fedc_session *session;    /* v3, opened: the session whose MAC
						* matched (the lookup's pointer); the
						* caller checks its job_id */
};

/* How a receiver finds a v3 envelope's session: `find` returns the session
 * that `signer` holds with this receiver under `sid`, or NULL. It runs inside
 * fedc_envelope_open_sessions only. */
struct fedc_session_lookup {
	const struct fedc_session *(*find)(void *ctx, const char *signer, const uint8_t sid[FEDC_SESSION_ID_BYTES]);
	void *ctx;
};

/* True if `payload` is shaped like an envelope (a map with "sig" and "body"),
 * whether or not it verifies: tells a plain message from a sealed one. */
bool fedc_envelope_detect(const void *payload, size_t len);

/* Parses the envelope in `payload` (version 1 or 2; version 3 is
 * FEDC_ERR_NOT_FOUND here, see fedc_envelope_open_sessions) and checks its signature
 * against the key of its signer in `trusted`, for `topic`, then (v2) that the
 * attachment hashes to the digest the signature covers. FEDC_ERR_MALFORMED
 * (not an envelope, a field missing, of the wrong type or out of range:
 * *out holds what could be read), FEDC_ERR_AUTH (unknown signer, bad
 * signature, attachment that does not match: out->signer and out->body are
 * set, so that the caller can say who claimed to send what). */
FEDC_NODISCARD
enum fedc_err fedc_envelope_open(const struct fedc_keyring *trusted, const char *topic, const void *payload,
				 size_t len, struct fedc_envelope *out);
/* fedc_envelope_open that also opens version 3 through `sessions` (NULL:
 * none, as fedc_envelope_open). A v3 envelope whose (signer, sid) the lookup
 * does not know is FEDC_ERR_NOT_FOUND, distinct from a bad MAC
 * (FEDC_ERR_AUTH), so that the receiver can ask for a new agreement. */
FEDC_NODISCARD
enum fedc_err fedc_envelope_open_sessions(const struct fedc_keyring *trusted, const struct fedc_session_lookup *sessions,
					  const char *topic, const void *payload, size_t len, struct fedc_envelope *out);

/* Replay protection: an envelope is accepted once, and only while its stamp
 * is within `window_ms` of the receiver's clock (either way: clocks drift).
 * The guard remembers accepted nonces for as long as their stamp could still
 * pass, at most `capacity` of them. */
FEDC_NODISCARD
enum fedc_err fedc_replay_guard_new(int64_t window_ms, size_t capacity, struct fedc_replay_guard **out);
void fedc_replay_guard_free(struct fedc_replay_guard *g);
/* FEDC_OK and remembers the nonce; FEDC_ERR_AUTH (stale: says by how much;
 * replayed: nonce already seen), FEDC_ERR_TOO_BIG (guard full of live
 * nonces: a flood). */
FEDC_NODISCARD
enum fedc_err fedc_replay_check(struct fedc_replay_guard *g, const char *signer, const char *nonce,
				int64_t ts_ms, int64_t now_unix_ms);
/* Remembers a nonce accepted earlier (reloaded from storage after a restart). */
void fedc_replay_remember(struct fedc_replay_guard *g, const char *signer, const char *nonce, int64_t ts_ms,
			  int64_t now_unix_ms);



#endif
