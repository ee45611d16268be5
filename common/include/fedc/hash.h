/* Content digests through OpenSSL EVP, as lower-case hex strings.
 * SHA-256 is the repository's address; the others serve plan approval. */
#ifndef FEDC_HASH_H
#define FEDC_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

enum fedc_hash_alg {
	FEDC_HASH_SHA256,
	FEDC_HASH_SHA512,
	FEDC_HASH_SHA3_256,
	FEDC_HASH_BLAKE2B_512,
};

#define FEDC_SHA256_HEXLEN 64
#define FEDC_HASH_MAX_HEXLEN 128

struct fedc_hash; /* opaque streaming context */

/* Name used in configs and messages: "sha256", "sha512", "sha3-256", "blake2b-512". */
const char *fedc_hash_alg_name(enum fedc_hash_alg alg);
/* Returns FEDC_OK or FEDC_ERR_INVAL for an unknown name. */
FEDC_NODISCARD
enum fedc_err fedc_hash_alg_parse(const char *name, enum fedc_hash_alg *out);
/* Hex length of a digest of `alg` (64 or 128). */
size_t fedc_hash_hexlen(enum fedc_hash_alg alg);

/* Streaming: new, update any number of times, final (writes hex + NUL into
 * `hex`, which must hold fedc_hash_hexlen()+1 bytes), free. new returns
 * FEDC_ERR_NOMEM; update/final return FEDC_ERR_IO on an OpenSSL failure. */
FEDC_NODISCARD
enum fedc_err fedc_hash_new(enum fedc_hash_alg alg, struct fedc_hash **out);
FEDC_NODISCARD
enum fedc_err fedc_hash_update(struct fedc_hash *h, const void *data, size_t len);
FEDC_NODISCARD
enum fedc_err fedc_hash_final(struct fedc_hash *h, char *hex);
void fedc_hash_free(struct fedc_hash *h);

/* One-shot digests of a buffer, a file (streamed) or an open fd (read from
 * offset 0, streamed). File errors return FEDC_ERR_IO with a detail. */
FEDC_NODISCARD
enum fedc_err fedc_hash_buffer(enum fedc_hash_alg alg, const void *data, size_t len, char *hex);
FEDC_NODISCARD
enum fedc_err fedc_hash_file(enum fedc_hash_alg alg, const char *path, char *hex);
FEDC_NODISCARD
enum fedc_err fedc_hash_fd(enum fedc_hash_alg alg, int fd, char *hex);

/* True if `s` is exactly `hexlen` lower-case hex digits. */
bool fedc_hex_valid(const char *s, size_t hexlen);
/* `n` bytes as 2n lower-case hex digits and a NUL (hex holds 2n + 1). */
void fedc_hex_encode(const uint8_t *raw, size_t n, char *hex);
/* The 2n lower-case hex digits of `hex` (and nothing after them) as `n`
 * bytes; false, with `raw` undefined, for anything else. */
bool fedc_hex_decode(const char *hex, uint8_t *raw, size_t n);

/* HKDF-SHA256 (RFC 5869): out_len bytes from the key material `ikm`, with
 * `salt` (NULL or empty: none) and `info` (may be empty). The one key
 * derivation of fedc: secure aggregation's keys and masks, a node's DP
 * noise and training-seed keys. FEDC_ERR_INVAL for info over
 * FEDC_HKDF_INFO_MAX (OpenSSL 3.0 refuses a longer one), FEDC_ERR_NOMEM,
 * FEDC_ERR_IO (OpenSSL, with a detail); `out` is wiped on failure. */
#define FEDC_HKDF_INFO_MAX 1024u
FEDC_NODISCARD
enum fedc_err fedc_hkdf_sha256(const void *salt, size_t salt_len, const void *ikm, size_t ikm_len, const void *info,
			       size_t info_len, uint8_t *out, size_t out_len);

#endif
