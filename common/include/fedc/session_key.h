/* Per-job session keys between a researcher and a node (issue #19, docs/
 * security.md "Signed messages", docs/protocol.md "Envelope version 3").
 *
 * Agreement: each side makes one ephemeral X25519 key pair (in memory only)
 * and sends its public half, `session_kx`, in a message it SIGNS with its
 * Ed25519 identity (the researcher in a `train`, the node in the
 * `train-reply` to it), so that the agreed keys are as authentic as the
 * signatures. Both then derive, with fedc_hkdf_sha256:
 *   ikm  = the X25519 shared secret (refused if all zero: a low-order point)
 *   salt = r_kx || n_kx (the researcher's public key first)
 *   info = "fedc-session-v1" 0 researcher_id 0 node_id 0 job_id
 *   64 bytes = k_researcher_to_node || k_node_to_researcher
 * and name the session sid = the first 16 bytes of SHA-256(r_kx || n_kx).
 * One key per direction: a message cannot be reflected back to its sender.
 *
 * Use: an envelope version 3 (fedc/sign.h) carries sid and an HMAC-SHA256
 * (fedc_session_mac) with the sender's direction key instead of an Ed25519
 * signature. Keys are wiped (OPENSSL_cleanse) when a session is dropped.
 *
 * fedc_session_table: a receiver's sessions, bounded, least recently used
 * evicted first, keyed by (peer id, sid). */
#ifndef FEDC_SESSION_KEY_H
#define FEDC_SESSION_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/limits.h"

#define FEDC_SESSION_KX_BYTES 32  /* an X25519 public key */
#define FEDC_SESSION_ID_BYTES 16  /* sid */
#define FEDC_SESSION_KEY_BYTES 32 /* one direction's HMAC-SHA256 key */
#define FEDC_SESSION_MAC_BYTES 32 /* HMAC-SHA256 */
#define FEDC_SESSION_JOB_ID_MAX 64 /* longest job id bound to a session */
/* The error_code a node answers to a version-3 envelope whose session it
 * does not hold (restarted, evicted, dropped on SIGHUP): the researcher then
 * sends that round's train again, signed, with a fresh session_kx. */
#define FEDC_SESSION_UNKNOWN_CODE "unknown-session"

/* One side's ephemeral X25519 key pair. */
struct fedc_session_kx;

/* A fresh key pair. FEDC_ERR_NOMEM, FEDC_ERR_IO (OpenSSL, with a detail). */
FEDC_NODISCARD
enum fedc_err fedc_session_kx_new(struct fedc_session_kx **out);
/* Its public half, what travels as `session_kx`. */
const uint8_t *fedc_session_kx_public(const struct fedc_session_kx *kx);
/* Frees the pair; OpenSSL wipes the private key. NULL is fine. */
void fedc_session_kx_free(struct fedc_session_kx *kx);

enum fedc_session_role { FEDC_SESSION_RESEARCHER, FEDC_SESSION_NODE };

/* An agreed session, seen from one side. */
struct fedc_session {
	uint8_t sid[FEDC_SESSION_ID_BYTES];
	uint8_t send_key[FEDC_SESSION_KEY_BYTES]; /* this side's direction */
	uint8_t recv_key[FEDC_SESSION_KEY_BYTES]; /* the peer's direction */
	char job_id[FEDC_SESSION_JOB_ID_MAX + 1];  /* the one job it serves */
};

/* Derives the session above for `role`, from this side's pair `mine` and the
 * peer's public key. researcher_id, node_id (participant ids) and job_id
 * (at most FEDC_SESSION_JOB_ID_MAX characters) are bound into the keys.
 * FEDC_ERR_INVAL (NULL or over-long argument; a peer key that is a
 * low-order point, i.e. an all-zero shared secret), FEDC_ERR_NOMEM,
 * FEDC_ERR_IO (OpenSSL). *out is wiped on failure. */
FEDC_NODISCARD
enum fedc_err fedc_session_derive(const struct fedc_session_kx *mine, const uint8_t peer_kx[FEDC_SESSION_KX_BYTES],
				  enum fedc_session_role role, const char *researcher_id, const char *node_id,
				  const char *job_id, struct fedc_session *out);

/* Wipes the keys of `s` (and everything else in it). */
void fedc_session_wipe(struct fedc_session *s);

/* HMAC-SHA256 of `len` bytes with a direction key. FEDC_ERR_IO (OpenSSL). */
FEDC_NODISCARD
enum fedc_err fedc_session_mac(const uint8_t key[FEDC_SESSION_KEY_BYTES], const void *data, size_t len,
			       uint8_t mac[FEDC_SESSION_MAC_BYTES]);

/* ---- a bounded table of sessions, by (peer id, sid) ---- */

struct fedc_session_table;

/* A table of at most `capacity` (1..65536) sessions. FEDC_ERR_INVAL,
 * FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err fedc_session_table_new(size_t capacity, struct fedc_session_table **out);
/* Wipes every session and frees the table. NULL is fine. */
void fedc_session_table_free(struct fedc_session_table *t);
/* Copies `s` in for peer `peer_id` (a participant id); a full table first
 * evicts (and wipes) its least recently used session. The same (peer, sid)
 * again replaces the old entry. FEDC_ERR_INVAL. */
FEDC_NODISCARD
enum fedc_err fedc_session_table_put(struct fedc_session_table *t, const char *peer_id, const struct fedc_session *s);
/* The session of (peer_id, sid), marked as just used; NULL if there is none.
 * The pointer is good until the next put, drop or free. */
const struct fedc_session *fedc_session_table_find(struct fedc_session_table *t, const char *peer_id,
						   const uint8_t sid[FEDC_SESSION_ID_BYTES]);
/* Wipes and forgets every session of `peer_id` (NULL: of everyone). Returns
 * how many were dropped. */
size_t fedc_session_table_drop(struct fedc_session_table *t, const char *peer_id);
size_t fedc_session_table_count(const struct fedc_session_table *t);

#endif
