/* scrypt password hashes (see kdf.h). */
#include "kdf.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "fedc/hash.h"
#include "fedc/num.h"

/* OpenSSL refuses scrypt above its maxmem (32 MiB by default, exactly the
 * default cost): allow the highest cost kdf__verify accepts. */
#define KDF_MAXMEM ((uint64_t)1 << 30)

static enum fedc_err derive(const char *password, const unsigned char *salt, unsigned log2_n, uint32_t r,
			    uint32_t p, unsigned char key[KDF_KEY_BYTES])
{
	uint64_t n = (uint64_t)1 << log2_n, maxmem = KDF_MAXMEM;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)(uintptr_t)password, strlen(password)),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)(uintptr_t)salt, KDF_SALT_BYTES),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
		OSSL_PARAM_construct_end(),
	};
	enum fedc_err rc = FEDC_OK;

	if (!ctx || EVP_KDF_derive(ctx, key, KDF_KEY_BYTES, params) != 1)
		rc = fedc_fail(FEDC_ERR_IO, "scrypt: %s", ERR_reason_error_string(ERR_get_error()) ?: "OpenSSL failed");
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

/* Exactly 2*n lowercase hex digits, the `len` bytes at `s` (a field of the
 * stored hash, ended by '$' or its NUL). */
static bool from_hex(const char *s, size_t len, unsigned char *out, size_t n)
{
	char hex[2 * (KDF_SALT_BYTES > KDF_KEY_BYTES ? KDF_SALT_BYTES : KDF_KEY_BYTES) + 1];

	if (len != 2 * n || len >= sizeof(hex))
		return false;
	memcpy(hex, s, len);
	hex[len] = '\0';
	return fedc_hex_decode(hex, out, n);
}

enum fedc_err kdf__hash(const char *password, char out[KDF_HASH_BUF])
{
	unsigned char salt[KDF_SALT_BYTES], key[KDF_KEY_BYTES];
	char salt_hex[2 * KDF_SALT_BYTES + 1], key_hex[2 * KDF_KEY_BYTES + 1];
	enum fedc_err rc;

	out[0] = '\0';
	if (strlen(password) > KDF_PASSWORD_MAX)
		return fedc_fail(FEDC_ERR_INVAL, "password longer than %d bytes", KDF_PASSWORD_MAX);
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return fedc_fail(FEDC_ERR_IO, "no random bytes for a salt");
	rc = derive(password, salt, KDF_LOG2_N, KDF_R, KDF_P, key);
	if (!rc) {
		fedc_hex_encode(salt, sizeof(salt), salt_hex);
		fedc_hex_encode(key, sizeof(key), key_hex);
		snprintf(out, KDF_HASH_BUF, "scrypt$%d$%d$%d$%s$%s", KDF_LOG2_N, KDF_R, KDF_P, salt_hex, key_hex);
	}
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* Reads "<digits>$" at *s within [lo, hi]; advances past the '$'. */
static bool read_param(const char **s, int64_t lo, int64_t hi, int64_t *v)
{
	const char *end = strchr(*s, '$');
	char digits[8];
	size_t len = end ? (size_t)(end - *s) : 0;

	if (len == 0 || len >= sizeof(digits))
		return false;
	memcpy(digits, *s, len);
	digits[len] = '\0';
	if (fedc_num_parse_i64(digits, lo, hi, v) != FEDC_OK)
		return false;
	*s = end + 1;
	return true;
}

bool kdf__verify(const char *password, const char *stored)
{
	unsigned char salt[KDF_SALT_BYTES], want[KDF_KEY_BYTES], got[KDF_KEY_BYTES];
	const char *s = stored, *dollar;
	int64_t log2_n, r, p;
	bool ok;

	if (!password || !stored || strlen(password) > KDF_PASSWORD_MAX || strncmp(s, "scrypt$", 7) != 0)
		return false;
	s += 7;
	if (!read_param(&s, 10, 20, &log2_n) || !read_param(&s, 1, 32, &r) || !read_param(&s, 1, 16, &p))
		return false;
	dollar = strchr(s, '$');
	if (!dollar || !from_hex(s, (size_t)(dollar - s), salt, sizeof(salt)) ||
	    !from_hex(dollar + 1, strlen(dollar + 1), want, sizeof(want)))
		return false;
	ok = derive(password, salt, (unsigned)log2_n, (uint32_t)r, (uint32_t)p, got) == FEDC_OK &&
	     CRYPTO_memcmp(got, want, sizeof(got)) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}
