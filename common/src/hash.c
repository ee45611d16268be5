/* Digests through OpenSSL EVP (SHA-NI where the CPU has it). */
#include "fedc/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fedc_hash {
	EVP_MD_CTX *ctx;
	enum fedc_hash_alg alg;
};

static const struct {
	const char *name;
	const char *evp_name;
	size_t hexlen;
} hash_algs[] = {
	[FEDC_HASH_SHA256] = { "sha256", "SHA256", 64 },
	[FEDC_HASH_SHA512] = { "sha512", "SHA512", 128 },
	[FEDC_HASH_SHA3_256] = { "sha3-256", "SHA3-256", 64 },
	[FEDC_HASH_BLAKE2B_512] = { "blake2b-512", "BLAKE2B-512", 128 },
};

#define N_ALGS (sizeof(hash_algs) / sizeof(hash_algs[0]))

const char *fedc_hash_alg_name(enum fedc_hash_alg alg)
{
	return (unsigned)alg < N_ALGS ? hash_algs[alg].name : "unknown";
}

enum fedc_err fedc_hash_alg_parse(const char *name, enum fedc_hash_alg *out)
{
	for (size_t i = 0; i < N_ALGS; i++) {
		if (strcmp(name, hash_algs[i].name) == 0) {
			*out = (enum fedc_hash_alg)i;
			return FEDC_OK;
		}
	}
	return fedc_fail(FEDC_ERR_INVAL,
			 "unknown digest algorithm \"%s\" (sha256, sha512, sha3-256, blake2b-512)", name);
}

size_t fedc_hash_hexlen(enum fedc_hash_alg alg)
{
	return (unsigned)alg < N_ALGS ? hash_algs[alg].hexlen : 0;
}

enum fedc_err fedc_hash_new(enum fedc_hash_alg alg, struct fedc_hash **out)
{
	struct fedc_hash *h = NULL;
	const EVP_MD *md;

	*out = NULL;
	if ((unsigned)alg >= N_ALGS)
		return FEDC_ERR_INVAL;
	md = EVP_get_digestbyname(hash_algs[alg].evp_name);
	if (!md)
		return fedc_fail(FEDC_ERR_UNSUPPORTED, "OpenSSL lacks %s", hash_algs[alg].name);
	h = calloc(1, sizeof(*h));
	if (!h)
		return FEDC_ERR_NOMEM;
	h->alg = alg;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, md, NULL) != 1) {
		fedc_hash_free(h);
		return FEDC_ERR_NOMEM;
	}
	*out = h;
	return FEDC_OK;
}

enum fedc_err fedc_hash_update(struct fedc_hash *h, const void *data, size_t len)
{
	if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
		return fedc_fail(FEDC_ERR_IO, "digest update failed");
	return FEDC_OK;
}

enum fedc_err fedc_hash_final(struct fedc_hash *h, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1)
		return fedc_fail(FEDC_ERR_IO, "digest final failed");
	fedc_hex_encode(md, len, hex);
	return FEDC_OK;
}

void fedc_hash_free(struct fedc_hash *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

enum fedc_err fedc_hash_buffer(enum fedc_hash_alg alg, const void *data, size_t len, char *hex)
{
	struct fedc_hash *h = NULL;
	enum fedc_err rc;

	rc = fedc_hash_new(alg, &h);
	if (rc)
		goto out;
	rc = fedc_hash_update(h, data, len);
	if (rc)
		goto out;
	rc = fedc_hash_final(h, hex);
out:
	fedc_hash_free(h);
	return rc;
}

/* Reads `fd` from offset 0 to its end with pread, so the caller's file offset
 * is left alone. */
static enum fedc_err hash_fd_stream(struct fedc_hash *h, int fd)
{
	enum { CHUNK = 1 << 20 };
	unsigned char *buf = malloc(CHUNK);
	enum fedc_err rc = FEDC_OK;
	off_t off = 0;

	if (!buf)
		return FEDC_ERR_NOMEM;
	for (;;) {
		ssize_t n = pread(fd, buf, CHUNK, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fedc_fail(FEDC_ERR_IO, "read failed: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		rc = fedc_hash_update(h, buf, (size_t)n);
		if (rc)
			break;
		off += n;
	}
	free(buf);
	return rc;
}

enum fedc_err fedc_hash_fd(enum fedc_hash_alg alg, int fd, char *hex)
{
	struct fedc_hash *h = NULL;
	enum fedc_err rc;

	rc = fedc_hash_new(alg, &h);
	if (rc)
		goto out;
	rc = hash_fd_stream(h, fd);
	if (rc)
		goto out;
	rc = fedc_hash_final(h, hex);
out:
	fedc_hash_free(h);
	return rc;
}

enum fedc_err fedc_hash_file(enum fedc_hash_alg alg, const char *path, char *hex)
{
	enum fedc_err rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "%s: %s", path, strerror(errno));
	rc = fedc_hash_fd(alg, fd, hex);
	if (rc == FEDC_ERR_IO)
		rc = fedc_fail(rc, "%s: read failed", path);
	close(fd);
	return rc;
}

bool fedc_hex_valid(const char *s, size_t hexlen)
{
	size_t i;

	if (!s)
		return false;
	for (i = 0; i < hexlen; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[i] == '\0';
}

void fedc_hex_encode(const uint8_t *raw, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[raw[i] >> 4];
		hex[2 * i + 1] = digits[raw[i] & 15];
	}
	hex[2 * n] = '\0';
}

static int hex_digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool fedc_hex_decode(const char *hex, uint8_t *raw, size_t n)
{
	if (!fedc_hex_valid(hex, 2 * n))
		return false;
	for (size_t i = 0; i < n; i++)
		raw[i] = (uint8_t)(hex_digit_value(hex[2 * i]) << 4 | hex_digit_value(hex[2 * i + 1]));
	return true;
}

enum fedc_err fedc_hkdf_sha256(const void *salt, size_t salt_len, const void *ikm, size_t ikm_len, const void *info,
			       size_t info_len, uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5];
	size_t np = 0;
	enum fedc_err rc = FEDC_OK;

	if (info_len > FEDC_HKDF_INFO_MAX)
		return fedc_fail(FEDC_ERR_INVAL, "key derivation info of %zu bytes (at most %u)", info_len,
				 FEDC_HKDF_INFO_MAX);
	kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	if (!kctx) {
		rc = fedc_fail(FEDC_ERR_NOMEM, "cannot set up HKDF-SHA256");
		goto out;
	}
	/* OSSL_PARAM takes non-const pointers; OpenSSL only reads these. */
	params[np++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)(uintptr_t) "SHA256", 0);
	params[np++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)(uintptr_t)ikm, ikm_len);
	if (salt_len)
		params[np++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)(uintptr_t)salt,
								 salt_len);
	if (info_len)
		params[np++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)(uintptr_t)info,
								 info_len);
	params[np] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, out_len, params) != 1) {
		rc = fedc_fail(FEDC_ERR_IO, "HKDF-SHA256 failed: %s", ERR_reason_error_string(ERR_get_error()));
		OPENSSL_cleanse(out, out_len);
	}
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}
