/* The contents of the secure-aggregation steps (the `data` of `secagg` and
 * `secagg-reply`, docs/privacy.md "Messages") and the bytes that the nodes'
 * key signatures and share encryptions bind.
 *
 * Every step's data is one msgpack array of entries, each entry an array:
 *   keys    (node -> researcher)  [[node_id, c_pk, s_pk, sig]]          one entry
 *   keyset  (researcher -> node)  [[node_id, c_pk, s_pk, sig], ...]     its neighbours
 *   shares  (both ways)           [[node_id, sealed], ...]              to (node) / from (researcher)
 *   unmask  (researcher -> node)  [[node_id, kind], ...]                kind 0: b share, 1: s share
 *   unmask  (node -> researcher)  [[node_id, kind, x, share], ...]
 *   abort   (researcher -> node)  []
 * Keys and shares are bin 32, signatures bin 64, a sealed share bin 81
 * (x, the b share and the s share, 65 bytes, and the AES-GCM tag). Decoders
 * read through the bounds-checked cursor and refuse anything else with
 * FEDC_ERR_MALFORMED naming the entry; they fill caller-sized arrays and
 * never allocate from a count the peer sends. */
#ifndef FEDC_SECAGG_WIRE_H
#define FEDC_SECAGG_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/buf.h"
#include "fedc/err.h"
#include "fedc/limits.h"
#include "fedc/uuid.h"

#define FEDC_SECAGG_PK_BYTES 32
#define FEDC_SECAGG_SIG_BYTES 64
#define FEDC_SECAGG_SHARE_PLAIN 65 /* x (1 byte), the b share (32), the s share (32) */
#define FEDC_SECAGG_SEALED_BYTES (FEDC_SECAGG_SHARE_PLAIN + 16)
/* A node's neighbourhood, itself included, is at most 255 (Shamir x = 1..255). */
#define FEDC_SECAGG_MAX_NEIGHBOURS 254
#define FEDC_SECAGG_KIND_B 0 /* the share of a survivor's self-mask seed */
#define FEDC_SECAGG_KIND_S 1 /* the share of a dropped node's mask key */

struct fedc_secagg_keys {
	char node_id[FEDC_MAX_ID_LEN + 1];
	uint8_t c_pk[FEDC_SECAGG_PK_BYTES]; /* X25519: encrypts the shares sent to this node */
	uint8_t s_pk[FEDC_SECAGG_PK_BYTES]; /* X25519: agrees the pairwise masks */
	uint8_t sig[FEDC_SECAGG_SIG_BYTES]; /* Ed25519 of fedc_secagg_keys_signed() by node_id */
};

struct fedc_secagg_sealed {
	char node_id[FEDC_MAX_ID_LEN + 1]; /* the recipient (node -> researcher) or the sender */
	uint8_t ct[FEDC_SECAGG_SEALED_BYTES];
};

struct fedc_secagg_share {
	char node_id[FEDC_MAX_ID_LEN + 1]; /* whose secret */
	uint8_t kind;                      /* FEDC_SECAGG_KIND_B or _S */
	uint8_t x;                         /* Shamir x of the share (1..255); 0 in a request */
	uint8_t share[FEDC_SECAGG_PK_BYTES];
};

/* Encoders: append one step's data to `out` (FEDC_ERR_TOO_BIG past
 * FEDC_MAX_SECAGG_DATA, FEDC_ERR_NOMEM). */
FEDC_NODISCARD
enum fedc_err fedc_secagg_put_keys(struct fedc_buf *out, const struct fedc_secagg_keys *k, size_t n);
FEDC_NODISCARD
enum fedc_err fedc_secagg_put_sealed(struct fedc_buf *out, const struct fedc_secagg_sealed *s, size_t n);
/* Requests (`with_share` false) carry node_id and kind; replies all four. */
FEDC_NODISCARD
enum fedc_err fedc_secagg_put_shares(struct fedc_buf *out, const struct fedc_secagg_share *s, size_t n,
				     bool with_share);

/* Decoders: at most `cap` entries into out[], their number in *n.
 * FEDC_ERR_MALFORMED (detail names the entry and what is wrong), including
 * more entries than `cap`, an id that fedc_id_valid refuses, a kind other
 * than 0 or 1, x = 0 in a reply. */
FEDC_NODISCARD
enum fedc_err fedc_secagg_get_keys(const void *data, size_t len, struct fedc_secagg_keys *out, size_t cap,
				   size_t *n);
FEDC_NODISCARD
enum fedc_err fedc_secagg_get_sealed(const void *data, size_t len, struct fedc_secagg_sealed *out, size_t cap,
				     size_t *n);
FEDC_NODISCARD
enum fedc_err fedc_secagg_get_shares(const void *data, size_t len, struct fedc_secagg_share *out, size_t cap,
				     size_t *n, bool with_share);

/* The bytes a node signs over its keys: a context string, job_id, round
 * (8 bytes big-endian), the id's length and bytes, c_pk, s_pk. `out` needs
 * FEDC_SECAGG_SIGNED_MAX bytes; returns the length used. */
#define FEDC_SECAGG_SIGNED_MAX (32 + FEDC_UUID_STRLEN + 8 + 1 + FEDC_MAX_ID_LEN + 2 * FEDC_SECAGG_PK_BYTES)
size_t fedc_secagg_keys_signed(const char *job_id, uint64_t round, const struct fedc_secagg_keys *k,
			       uint8_t out[FEDC_SECAGG_SIGNED_MAX]);
/* The context (HKDF info, AES-GCM associated data) of a secret that two
 * nodes share in one round: `purpose`, job_id, round, then the two ids,
 * length-prefixed, in the order given (callers order them: sender first for
 * a share's encryption, bytewise smaller first for a pairwise mask).
 * Returns the length used of out (FEDC_SECAGG_CONTEXT_MAX bytes). */
#define FEDC_SECAGG_CONTEXT_MAX (32 + FEDC_UUID_STRLEN + 8 + 2 * (1 + FEDC_MAX_ID_LEN))
size_t fedc_secagg_context(const char *purpose, const char *job_id, uint64_t round, const char *a, const char *b,
			   uint8_t out[FEDC_SECAGG_CONTEXT_MAX]);

#endif
