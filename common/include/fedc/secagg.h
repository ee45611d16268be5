/* Secure aggregation primitives (SecAgg, Bonawitz et al., CCS 2017; SecAgg+,
 * Bell et al., CCS 2020): fixed-point encoding in Z_2^64 or Z_2^32, X25519 key
 * agreement, PRG masks, Shamir secret sharing over GF(2^8), authenticated
 * encryption of shares, and the SecAgg+ communication graph. The protocol
 * that uses them lives in node/ and researcher/; docs/privacy.md, "Secure
 * aggregation primitives", says what each one is and why.
 *
 * Secrets (private keys, seeds, agreed keys, shares) are caller memory: these
 * functions never keep a copy, and wipe their own temporaries. */
#ifndef FEDC_SECAGG_H
#define FEDC_SECAGG_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

#define FEDC_SECAGG_KEY_BYTES 32   /* X25519 keys, seeds, agreed keys */
#define FEDC_SECAGG_TAG_BYTES 16   /* AES-256-GCM tag */
#define FEDC_SECAGG_MAX_SHARES 255 /* Shamir over GF(2^8): x = 1..255 */
#define FEDC_SECAGG_MAX_SCALE 52u  /* largest scale_bits */

/* ------------------------------------------------------------------ */
/* Fixed point in Z_2^64                                              */

/* A value v of a node with weight w (its sample count, or 1) is encoded as
 * llround(w * v * 2^scale_bits) mod 2^64, computed exactly (no double rounding
 * of w * v, even for weights above 2^53); sums wrap mod 2^64 and decode as a
 * signed int64 times 2^-scale_bits.
 *
 * fedc_secagg_choose_scale: the largest scale_bits in 0..52 such that
 * parties * weight_max * value_max * 2^scale_bits < 2^62 (a margin of 2 bits
 * below the sign bit), decided exactly (integer arithmetic, no rounding).
 * The sum of `parties` encodings of |v| <= value_max with w <= weight_max then
 * stays below 2^62 + parties / 2 < 2^63 in magnitude: it decodes without
 * wrapping. Returns FEDC_ERR_INVAL with a detail when even scale 0 does not
 * fit (the researcher refuses the round before it starts), or for
 * parties == 0, weight_max == 0, value_max not finite or <= 0. */
FEDC_NODISCARD
enum fedc_err fedc_secagg_choose_scale(uint32_t parties, uint64_t weight_max, double value_max,
				       uint32_t *scale_bits);

/* out[i] = encode(weight * x[i]), i in 0..n-1 (out may not alias x).
 * Returns FEDC_ERR_INVAL with the index in the detail if some x[i] is not
 * finite or |x[i]| > value_max; FEDC_ERR_INVAL if scale_bits > 52 or if
 * weight * value_max * 2^scale_bits >= 2^62 (one term alone would not fit).
 * Checking weight <= weight_max (the value given to choose_scale) is the
 * caller's job. On failure out is partly written. weight 0 encodes zeros. */
FEDC_NODISCARD
enum fedc_err fedc_secagg_encode(const float *x, size_t n, uint64_t weight, double value_max, uint32_t scale_bits,
				 uint64_t *out);

/* out[i] = (double)(int64_t)sum[i] * 2^-scale_bits. Conversion rules: sum[i]
 * is read as two's complement (values >= 2^63 are negative: sum[i] - 2^64);
 * that int64 is converted to the nearest double (ties to even; exact when its
 * magnitude is below 2^53); the multiplication by the power of two is then
 * exact. scale_bits above 52 is treated as 52. */
void fedc_secagg_decode(const uint64_t *sum, size_t n, uint32_t scale_bits, double *out);

/* ------------------------------------------------------------------ */
/* Fixed point in Z_2^32                                              */

/* The same encoding in a ring of 32 bits, for updates whose range allows it:
 * half the bytes to mask, hash, send and add. Everything is as above with
 * 2^30 in place of 2^62 and int32 in place of int64:
 *
 * fedc_secagg_choose_scale_32: the largest scale_bits in 0..52 with
 * parties * weight_max * value_max * 2^scale_bits < 2^30, decided exactly;
 * the sum of `parties` encodings then stays below 2^30 + parties / 2 < 2^31
 * in magnitude. FEDC_ERR_INVAL (with a detail) when even scale 0 does not
 * fit, and for the same bad arguments as fedc_secagg_choose_scale.
 *
 * fedc_secagg_encode_32: out[i] = round(weight * x[i] * 2^scale_bits) mod
 * 2^32, exact for any weight (the same rounding as fedc_secagg_encode: the
 * low 32 bits of its result). FEDC_ERR_INVAL as fedc_secagg_encode, and when
 * weight * value_max * 2^scale_bits >= 2^30.
 *
 * fedc_secagg_decode_32: out[i] = (int32_t)sum[i] * 2^-scale_bits (two's
 * complement; always exact in a double). scale_bits above 52 counts as 52.
 *
 * fedc_secagg_error_bound applies unchanged. */
FEDC_NODISCARD
enum fedc_err fedc_secagg_choose_scale_32(uint32_t parties, uint64_t weight_max, double value_max,
					  uint32_t *scale_bits);
FEDC_NODISCARD
enum fedc_err fedc_secagg_encode_32(const float *x, size_t n, uint64_t weight, double value_max,
				    uint32_t scale_bits, uint32_t *out);
void fedc_secagg_decode_32(const uint32_t *sum, size_t n, uint32_t scale_bits, double *out);

/* The bound on |decoded sum - exact weighted sum| per element for `parties`
 * encoders: parties * 0.5 * 2^-scale_bits (each encoding rounds by at most
 * half a unit). The decode's int64 -> double conversion adds at most half an
 * ulp of the result when the integer sum exceeds 2^53 in magnitude. */
double fedc_secagg_error_bound(uint32_t parties, uint32_t scale_bits);

/* ------------------------------------------------------------------ */
/* Key agreement (X25519, OpenSSL EVP_PKEY_X25519)                    */

/* A fresh key pair from the OpenSSL DRBG. FEDC_ERR_NOMEM or FEDC_ERR_IO (an
 * OpenSSL failure, with a detail). */
FEDC_NODISCARD
enum fedc_err fedc_secagg_keypair(uint8_t sk[32], uint8_t pk[32]);

/* Shared secret X25519(sk, peer_pk) put through HKDF-SHA256 (empty salt) with
 * `info` (the caller puts job, round, purpose, and both node ids in canonical
 * order in it) -> out[32]. FEDC_ERR_INVAL for a low-order peer key (all-zero
 * shared secret); FEDC_ERR_NOMEM, FEDC_ERR_IO. Symmetric:
 * agree(a_sk, B_pk) == agree(b_sk, A_pk). out is wiped on failure. */
FEDC_NODISCARD
enum fedc_err fedc_secagg_agree(const uint8_t sk[32], const uint8_t peer_pk[32], const void *info, size_t info_len,
				uint8_t out[32]);

/* ------------------------------------------------------------------ */
/* Masks                                                              */

/* v[i] += PRG(seed)[i] (sign > 0) or v[i] -= PRG(seed)[i] (sign < 0), mod 2^64,
 * i in 0..n-1.
 * PRG(seed): AES-128-CTR keyed with the first 16 bytes of
 * HKDF-SHA256(ikm = seed, salt = empty, info = "fedc secagg prg"), initial
 * counter block all zero (the whole 16-byte block is a big-endian counter),
 * keystream read as little-endian uint64 words: word i is keystream bytes
 * 8i .. 8i+7. AES rather than ChaCha20: with AES-NI/VAES it measured faster
 * here (docs/privacy.md has the figures). Chunked through a fixed scratch
 * buffer on the stack: no allocation at all.
 * FEDC_ERR_INVAL for sign 0 or a NULL v with n > 0; FEDC_ERR_NOMEM, FEDC_ERR_IO
 * (OpenSSL). On failure v is partly masked: discard it. */
FEDC_NODISCARD
enum fedc_err fedc_secagg_mask(uint64_t *v, size_t n, const uint8_t seed[32], int sign);

/* Same keystream as fedc_secagg_mask, from element `offset` on (so masks can be
 * applied block by block while streaming a file).
 * fedc_secagg_mask(v, n, s, sg) == mask_at(v, n, 0, s, sg). FEDC_ERR_INVAL if
 * offset + n overflows 2^64. */
FEDC_NODISCARD
enum fedc_err fedc_secagg_mask_at(uint64_t *v, size_t n, uint64_t offset, const uint8_t seed[32], int sign);

/* The same masks in Z_2^32: v[i] +-= PRG(seed)[i] mod 2^32, with the same
 * keystream read as little-endian uint32 words (word i is keystream bytes
 * 4i .. 4i+3; so the 32-bit mask of a seed is not a truncation of its 64-bit
 * mask but the same bytes cut in two). mask_at_32 starts at element
 * `offset`. Same errors as fedc_secagg_mask / fedc_secagg_mask_at. */
FEDC_NODISCARD
enum fedc_err fedc_secagg_mask_32(uint32_t *v, size_t n, const uint8_t seed[32], int sign);
FEDC_NODISCARD
enum fedc_err fedc_secagg_mask_at_32(uint32_t *v, size_t n, uint64_t offset, const uint8_t seed[32], int sign);

/* ------------------------------------------------------------------ */
/* Shamir secret sharing                                              */

/* t-of-n over GF(2^8) (AES polynomial x^8+x^4+x^3+x+1), byte by byte,
 * constant-time field arithmetic (no tables, no secret-dependent branches).
 * split: shares[k*len .. (k+1)*len) is the share for x = k + 1, k in 0..n-1;
 * the t-1 random coefficients of each byte's polynomial come from RAND_bytes
 * and are wiped after use. 2 <= t <= n <= 255 else FEDC_ERR_INVAL; FEDC_ERR_IO
 * if the DRBG fails. shares must hold n * len bytes. */
FEDC_NODISCARD
enum fedc_err fedc_secagg_shamir_split(const uint8_t *secret, size_t len, unsigned t, unsigned n, uint8_t *shares);

/* combine: from t (or more) shares with distinct nonzero x's (xs[j] is the x of
 * shares[j], each share len bytes): Lagrange interpolation at 0, over all
 * `count` shares. With fewer than t shares the result is unrelated to the
 * secret (and nothing can tell: check the secret some other way).
 * FEDC_ERR_INVAL for a duplicate or zero x, or count < 2. */
FEDC_NODISCARD
enum fedc_err fedc_secagg_shamir_combine(const uint8_t *xs, const uint8_t *const *shares, unsigned count, size_t len,
					 uint8_t *secret);

/* The same with the private key set up once (setting one up computes its
 * public key: a scalar multiplication as dear as the agreement itself), for
 * a party that agrees with many peers. out2 (may be NULL) gets a second key
 * from the same shared secret under info2: one X25519 for the two
 * directions of a pair. The handle is freed with fedc_secagg_private_free
 * (OpenSSL wipes the key). FEDC_ERR_NOMEM, FEDC_ERR_IO, FEDC_ERR_INVAL. */
struct fedc_secagg_private;
FEDC_NODISCARD
enum fedc_err fedc_secagg_private_new(const uint8_t sk[32], struct fedc_secagg_private **out);
void fedc_secagg_private_free(struct fedc_secagg_private *p);
FEDC_NODISCARD
enum fedc_err fedc_secagg_agree_with(const struct fedc_secagg_private *me, const uint8_t peer_pk[32],
				     const void *info, size_t info_len, uint8_t out[32],
				     const void *info2, size_t info2_len, uint8_t out2[32]);

/* ------------------------------------------------------------------ */
/* Authenticated encryption of shares                                 */

/* AES-256-GCM with `key` (from fedc_secagg_agree), `aad` bound in. The nonce is
 * 96 zero bits: safe because each key encrypts exactly one message (the agree
 * info names the round, the purpose and both parties, so a key is never
 * reused); a caller that would seal twice under one key must derive a second
 * key instead. out gets len + FEDC_SECAGG_TAG_BYTES bytes (ciphertext, then
 * tag). FEDC_ERR_NOMEM, FEDC_ERR_IO (OpenSSL). */
FEDC_NODISCARD
enum fedc_err fedc_secagg_seal(const uint8_t key[32], const void *aad, size_t aad_len, const void *in, size_t len,
			       uint8_t *out);

/* The reverse: out gets len - FEDC_SECAGG_TAG_BYTES bytes. FEDC_ERR_AUTH if the
 * tag does not verify (wrong key, changed ciphertext, tag or aad), and out is
 * then wiped; FEDC_ERR_MALFORMED if len < FEDC_SECAGG_TAG_BYTES. */
FEDC_NODISCARD
enum fedc_err fedc_secagg_open(const uint8_t key[32], const void *aad, size_t aad_len, const uint8_t *in, size_t len,
			       uint8_t *out);

/* ------------------------------------------------------------------ */
/* SecAgg+ communication graph                                        */

/* The neighbours of party `index` among `n` parties (sorted by the caller), a
 * Harary-like graph: the `k` (even, >= 2) nearest parties on a ring whose order
 * is a permutation of 0..n-1 drawn from `graph_seed` (8 bytes, the round's
 * seed): k/2 on each side. When k >= n - 1 everyone is everyone's neighbour.
 * Writes min(k, n - 1) indices (ascending) to out and their count to *count
 * (out must hold k entries). Symmetric: j in N(i) iff i in N(j).
 * An odd k counts as k - 1; n == 0, k < 2 or index >= n give no neighbours.
 * The permutation is a keyed Feistel network over the smallest even power of
 * two >= n with cycle walking, so a party finds its place without building
 * the whole ring (no allocation, O(k) work). The seed is public: the graph
 * needs to be random, not secret. */
void fedc_secagg_neighbours(uint32_t n, uint32_t k, uint64_t graph_seed, uint32_t index, uint32_t *out,
			    uint32_t *count);

#endif
