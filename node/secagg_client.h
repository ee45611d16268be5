/* A node's side of secure aggregation (docs/privacy.md, "Secure aggregation"):
 * one session per `train` request that asks for it.
 *
 *   begin()      the round worker, on `train`: fresh X25519 key pairs and
 *                self-mask seed; the signed keys to send (`keys`).
 *   on_keyset()  the daemon's thread, on `secagg` keyset: checks every
 *                neighbour's key signature against the peers' keyring, splits
 *                the seed and the mask key (Shamir, t of the neighbourhood),
 *                encrypts a share for each neighbour (`shares` reply).
 *   on_shares()  the daemon's thread: decrypts the shares the researcher
 *                forwards; their senders are the nodes this one masks with.
 *   mask()       the round worker, after training: waits for the shares,
 *                encodes the update in fixed point with its weight, adds the
 *                masks, writes the masked vector as a parameter file.
 *   on_unmask()  the daemon's thread: answers once per session with the
 *                shares asked for: b of a survivor or s of a dropped node,
 *                never both for the same node.
 *
 * The session lives until the next begin() or an abort; a session's
 * secrets are wiped when it ends. Thread-safe: one mutex. */
#ifndef FEDC_NODE_SECAGG_CLIENT_H
#define FEDC_NODE_SECAGG_CLIENT_H

#include <stdint.h>

#include "fedc/err.h"
#include "fedc/message.h"
#include "fedc/sign.h"

struct secagg_client;

/* `node_id`, `signer` and `peer_keys_dir` are borrowed for the client's
 * life. The other nodes' keys are read from `peer_keys_dir` (NULL or "":
 * every keyset is refused, saying peer_keys_dir is missing), and read again
 * when a keyset names a node whose key is not known yet, so that a node
 * enrolled after this one started needs no restart. FEDC_ERR_CONFIG for a
 * directory that cannot be read. */
FEDC_NODISCARD
enum fedc_err secagg_client__new(const char *node_id, const struct fedc_signer *signer, const char *peer_keys_dir,
				 struct secagg_client **out);
void secagg_client__free(struct secagg_client *c);
/* Reads peer_keys_dir again (SIGHUP); on failure the keys in use stay. */
void secagg_client__reload_peers(struct secagg_client *c);

/* Starts the session of `train` request `req` (which has secure_aggregation
 * true) and builds the `secagg-reply` keys message into *keys (caller frees). */
FEDC_NODISCARD
enum fedc_err secagg_client__begin(struct secagg_client *c, const struct fedc_msg *req, struct fedc_msg **keys);
/* Handles a `secagg` request. *reply (may stay NULL) is what to send back.
 * FEDC_ERR_MALFORMED / FEDC_ERR_AUTH / FEDC_ERR_INVAL with a reason for a
 * request that does not fit the session (the caller answers `error`). */
FEDC_NODISCARD
enum fedc_err secagg_client__handle(struct secagg_client *c, const struct fedc_msg *req, struct fedc_msg **reply);
/* A `train` of the same researcher and job with another request id came
 * in (a retried round, a resumed researcher): a session still waiting for
 * its shares will not get them, so it ends now rather than hold the round
 * worker. Called on the daemon's thread before the train is queued. */
void secagg_client__preempt(struct secagg_client *c, const struct fedc_msg *train);
/* Masks the update in `update_fd` (a parameter file of f32 tensors) with
 * weight `weight` and writes the masked vector as a parameter file (one
 * tensor "secagg.masked", u64 or, when the request's secagg_ring_bits is 32,
 * u32); *out_fd is that file, a memfd the client keeps
 * and rewrites each round (the caller reads it, never closes it). Waits up
 * to `timeout_ms` for the shares. FEDC_ERR_TIMEOUT, FEDC_ERR_INTERRUPTED
 * (aborted by the researcher), FEDC_ERR_INVAL (a value over the bound).
 * `cancel` (may be NULL) is polled while waiting. The round worker's only. */
FEDC_NODISCARD
enum fedc_err secagg_client__mask(struct secagg_client *c, const struct fedc_msg *req, int update_fd,
				  uint64_t weight, int64_t timeout_ms, const volatile int *cancel, int *out_fd);

#endif
