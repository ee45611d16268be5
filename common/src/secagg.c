/* Secure aggregation primitives (fedc/secagg.h): fixed-point encoding, X25519
 * key agreement, AES-256-GCM for shares, the SecAgg+ graph. Masks are in
 * secagg_mask.c, Shamir sharing in secagg_shamir.c. docs/privacy.md, "Secure
 * aggregation primitives", gives the parameters and references. */
#include "fedc/secagg.h"

#include "fedc/hash.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include "x25519_internal.h"

/* ------------------------------------------------------------------ */
/* Fixed point                                                        */

#define FAST_WEIGHT_MAX (UINT64_C(1) << 29) /* w * float mantissa (24 bits) fits a double's 53 */

static unsigned bitlen64(uint64_t x)
{
	return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

static unsigned bitlen128(unsigned __int128 x)
{
	uint64_t hi = (uint64_t)(x >> 64);

	return hi ? 64u + bitlen64(hi) : bitlen64((uint64_t)x);
}

/* The largest scale in 0..52 with
 * parties * weight_max * value_max * 2^s < 2^(ring_bits - 2). */
static enum fedc_err choose_scale(uint32_t parties, uint64_t weight_max, double value_max, unsigned ring_bits,
				  uint32_t *scale_bits)
{
	unsigned __int128 pw, lo, hi;
	uint64_t m;
	unsigned bits;
	long smax;
	int e = 0;

	if (!scale_bits)
		return fedc_fail(FEDC_ERR_INVAL, "secagg scale: NULL output");
	if (parties == 0 || weight_max == 0 || !isfinite(value_max) || value_max <= 0)
		return fedc_fail(FEDC_ERR_INVAL,
				 "secagg scale: need parties > 0, weight_max > 0 and a finite value_max > 0 "
				 "(got %u, %llu, %g)",
				 parties, (unsigned long long)weight_max, value_max);
	/* Exactly: value_max = m * 2^(e - 53) with m a 53-bit integer, so the
	 * condition parties * weight_max * value_max * 2^s < 2^L (L = ring_bits
	 * - 2) reads P = parties * weight_max * m < 2^(L + 53 - e - s), i.e.
	 * bitlen(P) <= L + 53 - e - s. P has up to 32 + 64 + 53 bits: it is held
	 * as hi * 2^64 + lo. */
	m = (uint64_t)ldexp(frexp(value_max, &e), 53);
	pw = (unsigned __int128)parties * weight_max;
	lo = (unsigned __int128)(uint64_t)pw * m;
	hi = (unsigned __int128)(uint64_t)(pw >> 64) * m + (lo >> 64);
	bits = hi ? 64u + bitlen128(hi) : bitlen64((uint64_t)lo);
	smax = (long)ring_bits - 2 + 53 - (long)e - (long)bits;
	if (smax < 0)
		return fedc_fail(FEDC_ERR_INVAL,
				 "secagg scale: %u parties x weight %llu x |value| %g reach 2^%u even at scale 0: "
				 "the sum would not fit in %u bits",
				 parties, (unsigned long long)weight_max, value_max, ring_bits - 2, ring_bits);
	*scale_bits = smax > (long)FEDC_SECAGG_MAX_SCALE ? FEDC_SECAGG_MAX_SCALE : (uint32_t)smax;
	return FEDC_OK;
}

enum fedc_err fedc_secagg_choose_scale(uint32_t parties, uint64_t weight_max, double value_max,
				       uint32_t *scale_bits)
{
	return choose_scale(parties, weight_max, value_max, 64, scale_bits);
}

enum fedc_err fedc_secagg_choose_scale_32(uint32_t parties, uint64_t weight_max, double value_max,
					  uint32_t *scale_bits)
{
	return choose_scale(parties, weight_max, value_max, 32, scale_bits);
}

/* llround(weight * |x| * 2^scale) computed exactly for any 64-bit weight:
 * |x| = mant * 2^(ex - 24) with mant < 2^24, so the product is an integer
 * below 2^88 times a power of two. Rounds half away from zero, as llround.
 * The caller has checked that the result stays below 2^63. */
static uint64_t encode_exact(uint64_t weight, float ax, uint32_t scale)
{
	int ex = 0;
	uint32_t mant = (uint32_t)ldexpf(frexpf(ax, &ex), 24);
	unsigned __int128 p = (unsigned __int128)weight * mant;
	int sh = ex - 24 + (int)scale;

	if (sh >= 0)
		return (uint64_t)(p << sh);
	if (-sh >= 128)
		return 0;
	return (uint64_t)((p + ((unsigned __int128)1 << (-sh - 1))) >> (-sh));
}

/* Encodes into out64 (ring 64) or out32 (ring 32: the low 32 bits of the
 * same integer, which is below 2^30 in magnitude). `limit` is 2^(ring - 2). */
static enum fedc_err encode(const float *x, size_t n, uint64_t weight, double value_max, uint32_t scale_bits,
			    double limit, uint64_t *out64, uint32_t *out32)
{
	double two_s;

	if (n && (!x || !(out64 || out32)))
		return fedc_fail(FEDC_ERR_INVAL, "secagg encode: NULL input or output");
	if (scale_bits > FEDC_SECAGG_MAX_SCALE)
		return fedc_fail(FEDC_ERR_INVAL, "secagg encode: scale_bits %u (at most %u)", scale_bits,
				 FEDC_SECAGG_MAX_SCALE);
	if (!(value_max > 0) || !isfinite(value_max))
		return fedc_fail(FEDC_ERR_INVAL, "secagg encode: value_max %g is not a finite positive number",
				 value_max);
	two_s = ldexp(1.0, (int)scale_bits);
	/* One term alone must stay below the limit, so that nothing below overflows. */
	if ((double)weight * value_max * two_s >= limit)
		return fedc_fail(FEDC_ERR_INVAL,
				 "secagg encode: weight %llu x value_max %g x 2^%u does not fit below 2^%d",
				 (unsigned long long)weight, value_max, scale_bits, ilogb(limit));
	if (weight <= FAST_WEIGHT_MAX) {
		/* weight * x is exact in a double (24 + 29 bits) and the power of
		 * two is exact too: llround sees the true product. */
		double w = (double)weight * two_s;

		for (size_t i = 0; i < n; i++) {
			double xi = (double)x[i];
			uint64_t q;

			if (!(fabs(xi) <= value_max)) /* also catches NaN */
				return fedc_fail(FEDC_ERR_INVAL, "secagg encode: element %zu (%g) is %s", i, xi,
						 isfinite(xi) ? "beyond value_max" : "not finite");
			q = (uint64_t)llround(w * xi);
			if (out64)
				out64[i] = q;
			else
				out32[i] = (uint32_t)q;
		}
		return FEDC_OK;
	}
	for (size_t i = 0; i < n; i++) {
		double xi = (double)x[i];
		uint64_t q;

		if (!(fabs(xi) <= value_max))
			return fedc_fail(FEDC_ERR_INVAL, "secagg encode: element %zu (%g) is %s", i, xi,
					 isfinite(xi) ? "beyond value_max" : "not finite");
		q = encode_exact(weight, fabsf(x[i]), scale_bits);
		q = signbit(x[i]) ? 0 - q : q;
		if (out64)
			out64[i] = q;
		else
			out32[i] = (uint32_t)q;
	}
	return FEDC_OK;
}

enum fedc_err fedc_secagg_encode(const float *x, size_t n, uint64_t weight, double value_max, uint32_t scale_bits,
				 uint64_t *out)
{
	return encode(x, n, weight, value_max, scale_bits, 0x1p62, out, NULL);
}

enum fedc_err fedc_secagg_encode_32(const float *x, size_t n, uint64_t weight, double value_max,
				    uint32_t scale_bits, uint32_t *out)
{
	return encode(x, n, weight, value_max, scale_bits, 0x1p30, NULL, out);
}

static double inverse_scale(uint32_t scale_bits)
{
	return ldexp(1.0, -(int)(scale_bits > FEDC_SECAGG_MAX_SCALE ? FEDC_SECAGG_MAX_SCALE : scale_bits));
}

void fedc_secagg_decode(const uint64_t *sum, size_t n, uint32_t scale_bits, double *out)
{
	double inv = inverse_scale(scale_bits);

	for (size_t i = 0; i < n; i++) {
		uint64_t u = sum[i];
		/* Two's complement without an implementation-defined conversion. */
		int64_t s = u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;

		out[i] = (double)s * inv;
	}
}

void fedc_secagg_decode_32(const uint32_t *sum, size_t n, uint32_t scale_bits, double *out)
{
	double inv = inverse_scale(scale_bits);

	for (size_t i = 0; i < n; i++) {
		uint32_t u = sum[i];
		int32_t s = u <= (uint32_t)INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;

		out[i] = (double)s * inv;
	}
}

double fedc_secagg_error_bound(uint32_t parties, uint32_t scale_bits)
{
	return (double)parties * 0.5 * ldexp(1.0, -(int)scale_bits);
}

/* ------------------------------------------------------------------ */
/* X25519                                                             */

static enum fedc_err ossl_fail(enum fedc_err code, const char *what)
{
	unsigned long e = ERR_get_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return fedc_fail(code, "secagg: %s%s%s", what, why ? ": " : "", why ? why : "");
}

enum fedc_err fedc_secagg_keypair(uint8_t sk[32], uint8_t pk[32])
{
	EVP_PKEY *key = NULL;
	size_t sk_len = FEDC_SECAGG_KEY_BYTES, pk_len = FEDC_SECAGG_KEY_BYTES;
	enum fedc_err rc = FEDC_OK;

	if (!sk || !pk)
		return fedc_fail(FEDC_ERR_INVAL, "secagg keypair: NULL output");
	key = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	if (!key) {
		rc = ossl_fail(FEDC_ERR_IO, "X25519 key generation failed");
		goto out;
	}
	if (EVP_PKEY_get_raw_private_key(key, sk, &sk_len) != 1 || EVP_PKEY_get_raw_public_key(key, pk, &pk_len) != 1 ||
	    sk_len != FEDC_SECAGG_KEY_BYTES || pk_len != FEDC_SECAGG_KEY_BYTES) {
		OPENSSL_cleanse(sk, FEDC_SECAGG_KEY_BYTES);
		rc = ossl_fail(FEDC_ERR_IO, "cannot read the X25519 key");
	}
out:
	EVP_PKEY_free(key);
	return rc;
}

struct fedc_secagg_private {
	EVP_PKEY *key;
};

enum fedc_err fedc_secagg_private_new(const uint8_t sk[32], struct fedc_secagg_private **out)
{
	struct fedc_secagg_private *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for an X25519 key");
	/* this computes the public key (a scalar multiplication): once per key */
	p->key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, FEDC_SECAGG_KEY_BYTES);
	if (!p->key) {
		free(p);
		return ossl_fail(FEDC_ERR_NOMEM, "cannot set up X25519");
	}
	*out = p;
	return FEDC_OK;
}

void fedc_secagg_private_free(struct fedc_secagg_private *p)
{
	if (!p)
		return;
	EVP_PKEY_free(p->key); /* OpenSSL wipes the private key */
	free(p);
}

/* The raw X25519 shared secret (x25519_internal.h). */
static enum fedc_err dh(const struct fedc_secagg_private *me, const uint8_t peer_pk[32],
			uint8_t shared[FEDC_SECAGG_KEY_BYTES])
{
	return fedc__x25519_shared(me->key, peer_pk, shared, "secagg agree", "public key");
}

enum fedc_err fedc_secagg_agree_with(const struct fedc_secagg_private *me, const uint8_t peer_pk[32],
				     const void *info, size_t info_len, uint8_t out[32],
				     const void *info2, size_t info2_len, uint8_t out2[32])
{
	uint8_t shared[FEDC_SECAGG_KEY_BYTES];
	enum fedc_err rc;

	if (!me || !peer_pk || !out || (info_len && !info) || (out2 && info2_len && !info2))
		return fedc_fail(FEDC_ERR_INVAL, "secagg agree: NULL argument");
	rc = dh(me, peer_pk, shared);
	if (!rc)
		rc = fedc_hkdf_sha256(NULL, 0, shared, sizeof(shared), info, info_len, out, FEDC_SECAGG_KEY_BYTES);
	if (!rc && out2)
		rc = fedc_hkdf_sha256(NULL, 0, shared, sizeof(shared), info2, info2_len, out2, FEDC_SECAGG_KEY_BYTES);
	if (rc) {
		OPENSSL_cleanse(out, FEDC_SECAGG_KEY_BYTES);
		if (out2)
			OPENSSL_cleanse(out2, FEDC_SECAGG_KEY_BYTES);
	}
	OPENSSL_cleanse(shared, sizeof(shared));
	return rc;
}

enum fedc_err fedc_secagg_agree(const uint8_t sk[32], const uint8_t peer_pk[32], const void *info, size_t info_len,
				uint8_t out[32])
{
	struct fedc_secagg_private *me = NULL;
	enum fedc_err rc;

	if (!sk || !peer_pk || !out || (info_len && !info))
		return fedc_fail(FEDC_ERR_INVAL, "secagg agree: NULL argument");
	rc = fedc_secagg_private_new(sk, &me);
	if (!rc)
		rc = fedc_secagg_agree_with(me, peer_pk, info, info_len, out, NULL, 0, NULL);
	else
		OPENSSL_cleanse(out, FEDC_SECAGG_KEY_BYTES);
	fedc_secagg_private_free(me);
	return rc;
}

/* ------------------------------------------------------------------ */
/* AES-256-GCM                                                        */

#define GCM_PIECE ((size_t)1 << 30) /* EVP lengths are int */

static bool gcm_aad(EVP_CIPHER_CTX *ctx, const uint8_t *aad, size_t len)
{
	int outl = 0;

	while (len) {
		size_t piece = len < GCM_PIECE ? len : GCM_PIECE;

		if (EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)piece) != 1)
			return false;
		aad += piece;
		len -= piece;
	}
	return true;
}

static bool gcm_data(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
	int outl = 0;

	while (len) {
		size_t piece = len < GCM_PIECE ? len : GCM_PIECE;

		if (EVP_CipherUpdate(ctx, out, &outl, in, (int)piece) != 1 || (size_t)outl != piece)
			return false;
		in += piece;
		out += piece;
		len -= piece;
	}
	return true;
}

/* A context keyed with `key` and the zero nonce, for encryption (enc 1) or
 * decryption (0). */
static enum fedc_err gcm_begin(const uint8_t key[32], int enc, EVP_CIPHER_CTX **out)
{
	static const uint8_t nonce[12]; /* one message per key: docs in fedc/secagg.h */
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	*out = NULL;
	if (!ctx)
		return fedc_fail(FEDC_ERR_NOMEM, "secagg: cannot allocate a cipher context");
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, enc) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return ossl_fail(FEDC_ERR_IO, "AES-256-GCM set-up failed");
	}
	*out = ctx;
	return FEDC_OK;
}

enum fedc_err fedc_secagg_seal(const uint8_t key[32], const void *aad, size_t aad_len, const void *in, size_t len,
			       uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = NULL;
	int outl = 0;
	enum fedc_err rc;

	if (!key || !out || (aad_len && !aad) || (len && !in) || len > SIZE_MAX - FEDC_SECAGG_TAG_BYTES)
		return fedc_fail(FEDC_ERR_INVAL, "secagg seal: bad argument");
	rc = gcm_begin(key, 1, &ctx);
	if (rc)
		goto out;
	if (!gcm_aad(ctx, aad, aad_len) || !gcm_data(ctx, out, in, len) || EVP_EncryptFinal_ex(ctx, out + len, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, FEDC_SECAGG_TAG_BYTES, out + len) != 1)
		rc = ossl_fail(FEDC_ERR_IO, "AES-256-GCM encryption failed");
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

enum fedc_err fedc_secagg_open(const uint8_t key[32], const void *aad, size_t aad_len, const uint8_t *in, size_t len,
			       uint8_t *out)
{
	uint8_t tag[FEDC_SECAGG_TAG_BYTES];
	EVP_CIPHER_CTX *ctx = NULL;
	size_t plain;
	int outl = 0;
	enum fedc_err rc;

	if (!key || !in || (aad_len && !aad))
		return fedc_fail(FEDC_ERR_INVAL, "secagg open: bad argument");
	if (len < FEDC_SECAGG_TAG_BYTES)
		return fedc_fail(FEDC_ERR_MALFORMED, "secagg open: %zu bytes, shorter than the %d-byte tag", len,
				 FEDC_SECAGG_TAG_BYTES);
	plain = len - FEDC_SECAGG_TAG_BYTES;
	if (plain && !out)
		return fedc_fail(FEDC_ERR_INVAL, "secagg open: NULL output");
	memcpy(tag, in + plain, sizeof(tag));
	rc = gcm_begin(key, 0, &ctx);
	if (rc)
		goto out;
	if (!gcm_aad(ctx, aad, aad_len) || !gcm_data(ctx, out, in, plain) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, FEDC_SECAGG_TAG_BYTES, tag) != 1) {
		rc = ossl_fail(FEDC_ERR_IO, "AES-256-GCM decryption failed");
		goto out;
	}
	if (EVP_DecryptFinal_ex(ctx, tag, &outl) != 1) {
		ERR_clear_error();
		rc = fedc_fail(FEDC_ERR_AUTH, "secagg open: the message does not verify (wrong key, aad or bytes)");
	}
out:
	if (rc && plain && out)
		OPENSSL_cleanse(out, plain); /* never hand out unverified plaintext */
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* ------------------------------------------------------------------ */
/* SecAgg+ graph                                                      */

#define FEISTEL_ROUNDS 6

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

struct feistel {
	uint64_t seed;
	unsigned half; /* bits per half */
	uint32_t mask;
	uint32_t n;
};

static uint32_t feistel_f(const struct feistel *f, unsigned round, uint32_t x)
{
	uint64_t in = ((uint64_t)round << 32 | x) + 0x9e3779b97f4a7c15ull;

	return (uint32_t)mix64(f->seed ^ mix64(in)) & f->mask;
}

/* A permutation of [0, 2^(2 half)), then walked until it lands below n: a
 * permutation of [0, n). */
static uint32_t feistel_fwd(const struct feistel *f, uint32_t v)
{
	do {
		uint32_t l = v >> f->half, r = v & f->mask;

		for (unsigned i = 0; i < FEISTEL_ROUNDS; i++) {
			uint32_t t = l ^ feistel_f(f, i, r);

			l = r;
			r = t;
		}
		v = l << f->half | r;
	} while (v >= f->n);
	return v;
}

static uint32_t feistel_inv(const struct feistel *f, uint32_t v)
{
	do {
		uint32_t l = v >> f->half, r = v & f->mask;

		for (unsigned i = FEISTEL_ROUNDS; i-- > 0;) {
			uint32_t t = r ^ feistel_f(f, i, l);

			r = l;
			l = t;
		}
		v = l << f->half | r;
	} while (v >= f->n);
	return v;
}

void fedc_secagg_neighbours(uint32_t n, uint32_t k, uint64_t graph_seed, uint32_t index, uint32_t *out,
			    uint32_t *count)
{
	struct feistel f = { .seed = mix64(graph_seed ^ 0x5ecaa66ull), .n = n };
	uint32_t c = 0, pos;

	k &= ~1u;
	if (!count)
		return;
	*count = 0;
	if (!out || n < 2 || k < 2 || index >= n)
		return;
	if (k >= n - 1) {
		for (uint32_t j = 0; j < n; j++) {
			if (j != index)
				out[c++] = j;
		}
		*count = c;
		return;
	}
	/* Smallest even bit count 2 half >= 2 with 2^(2 half) >= n: the walk
	 * then takes fewer than 4 steps on average. */
	f.half = 1;
	while (f.half < 16 && ((uint64_t)1 << (2 * f.half)) < n)
		f.half++;
	f.mask = (uint32_t)(((uint64_t)1 << f.half) - 1);
	pos = feistel_inv(&f, index);
	for (uint32_t d = 1; d <= k / 2; d++) {
		out[c++] = feistel_fwd(&f, (uint32_t)(((uint64_t)pos + d) % n));
		out[c++] = feistel_fwd(&f, (uint32_t)(((uint64_t)pos + n - d) % n));
	}
	for (uint32_t i = 1; i < c; i++) { /* insertion sort: k is small */
		uint32_t v = out[i], j = i;

		for (; j > 0 && out[j - 1] > v; j--)
			out[j] = out[j - 1];
		out[j] = v;
	}
	*count = c;
}
