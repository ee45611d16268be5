/* SecAgg masks (fedc/secagg.h): a seed expanded by AES-128-CTR into uint64
 * (or uint32) words that are added to (or subtracted from) a vector mod 2^64
 * (or 2^32).
 *
 * The keystream is produced a chunk at a time into a stack buffer the size of
 * a fraction of L1 (16 KiB) by encrypting a constant zero buffer, then added
 * word by word: no allocation, and the vector is read and written once.
 * Element i of the stream is keystream bytes 8i .. 8i+7 (4i .. 4i+3 for
 * uint32 words), so element `offset` lies in AES block offset / 2 (offset /
 * 4): mask_at starts the counter there and drops the words of that block
 * before it. */
#include "fedc/secagg.h"

#include "fedc/hash.h"

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* Keystream words are read as they lie in memory: little-endian. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "secagg masks read the keystream as little-endian words; a big-endian host needs byte swapping here"
#endif

#define CHUNK_WORDS 2048u /* 16 KiB of keystream per EVP call */
#define PRG_INFO "fedc secagg prg"

static const uint8_t zeros[CHUNK_WORDS * sizeof(uint64_t)];


static void add_words(uint64_t *restrict v, const uint64_t *restrict ks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] += ks[i];
}

static void sub_words(uint64_t *restrict v, const uint64_t *restrict ks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] -= ks[i];
}

static void add_words_32(uint32_t *restrict v, const uint32_t *restrict ks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] += ks[i];
}

static void sub_words_32(uint32_t *restrict v, const uint32_t *restrict ks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] -= ks[i];
}

/* One chunk of keystream, read as either word size. */
union keystream {
	uint64_t w64[CHUNK_WORDS];
	uint32_t w32[2 * CHUNK_WORDS];
	uint8_t bytes[CHUNK_WORDS * sizeof(uint64_t)];
};

/* Masks v64 (words of 8 bytes) or v32 (words of 4 bytes), whichever is not
 * NULL (both NULL: n is 0). */
static enum fedc_err mask_at(uint64_t *v64, uint32_t *v32, size_t n, uint64_t offset, const uint8_t seed[32],
			     int sign)
{
	union keystream ks;
	const size_t word = v32 ? sizeof(uint32_t) : sizeof(uint64_t);
	const size_t per_block = 16 / word; /* words per AES block */
	const size_t chunk = sizeof(ks) / word;
	uint8_t key[16], iv[16] = { 0 };
	uint64_t block = offset / per_block;
	size_t skip = (size_t)(offset % per_block);
	EVP_CIPHER_CTX *ctx = NULL;
	enum fedc_err rc = FEDC_OK;

	if (sign == 0 || !seed || (n && !v64 && !v32))
		return fedc_fail(FEDC_ERR_INVAL, "secagg mask: %s", sign == 0 ? "sign 0" : "NULL vector or seed");
	if (n > UINT64_MAX - offset)
		return fedc_fail(FEDC_ERR_INVAL, "secagg mask: offset %llu + %zu elements overflows",
				 (unsigned long long)offset, n);
	if (n == 0)
		return FEDC_OK;
	rc = fedc_hkdf_sha256(NULL, 0, seed, FEDC_SECAGG_KEY_BYTES, PRG_INFO, strlen(PRG_INFO), key, sizeof(key));
	if (rc)
		goto out;
	for (int i = 0; i < 8; i++) /* big-endian counter in the low 8 bytes; block < 2^63 */
		iv[15 - i] = (uint8_t)(block >> (8 * i));
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx) {
		rc = fedc_fail(FEDC_ERR_NOMEM, "secagg mask: cannot allocate a cipher context");
		goto out;
	}
	if (EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), NULL, key, iv) != 1) {
		rc = fedc_fail(FEDC_ERR_IO, "secagg mask: AES-128-CTR set-up failed");
		goto out;
	}
	while (n) {
		size_t words = n + skip < chunk ? n + skip : chunk;
		size_t use = words - skip;
		int outl = 0;

		if (EVP_EncryptUpdate(ctx, ks.bytes, &outl, zeros, (int)(words * word)) != 1 ||
		    (size_t)outl != words * word) {
			rc = fedc_fail(FEDC_ERR_IO, "secagg mask: AES-128-CTR failed");
			goto out;
		}
		if (v32 && sign > 0)
			add_words_32(v32, ks.w32 + skip, use);
		else if (v32)
			sub_words_32(v32, ks.w32 + skip, use);
		else if (sign > 0)
			add_words(v64, ks.w64 + skip, use);
		else
			sub_words(v64, ks.w64 + skip, use);
		if (v32)
			v32 += use;
		else
			v64 += use;
		n -= use;
		skip = 0;
	}
out:
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(&ks, sizeof(ks));
	return rc;
}

enum fedc_err fedc_secagg_mask_at(uint64_t *v, size_t n, uint64_t offset, const uint8_t seed[32], int sign)
{
	return mask_at(v, NULL, n, offset, seed, sign);
}

enum fedc_err fedc_secagg_mask(uint64_t *v, size_t n, const uint8_t seed[32], int sign)
{
	return mask_at(v, NULL, n, 0, seed, sign);
}

enum fedc_err fedc_secagg_mask_at_32(uint32_t *v, size_t n, uint64_t offset, const uint8_t seed[32], int sign)
{
	return mask_at(NULL, v, n, offset, seed, sign);
}

enum fedc_err fedc_secagg_mask_32(uint32_t *v, size_t n, const uint8_t seed[32], int sign)
{
	return mask_at(NULL, v, n, 0, seed, sign);
}
