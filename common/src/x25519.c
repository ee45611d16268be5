/* X25519 agreement (x25519_internal.h). */
#include "x25519_internal.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

static enum fedc_err setup_failed(enum fedc_err code, const char *who)
{
	unsigned long e = ERR_get_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return fedc_fail(code, "%s: cannot set up X25519%s%s", who, why ? ": " : "", why ? why : "");
}

enum fedc_err fedc__x25519_shared(EVP_PKEY *mine, const uint8_t peer[FEDC_X25519_BYTES],
				  uint8_t shared[FEDC_X25519_BYTES], const char *who, const char *what)
{
	static const uint8_t zero[FEDC_X25519_BYTES];
	size_t shared_len = FEDC_X25519_BYTES;
	EVP_PKEY *peer_key = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, FEDC_X25519_BYTES);
	EVP_PKEY_CTX *ctx = peer_key ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
	enum fedc_err rc = FEDC_OK;

	if (!ctx) {
		rc = setup_failed(FEDC_ERR_NOMEM, who);
		goto out;
	}
	if (EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, peer_key) != 1) {
		rc = setup_failed(FEDC_ERR_IO, who);
		goto out;
	}
	/* OpenSSL refuses an all-zero result itself; the compare holds
	 * whatever the library version does. */
	if (EVP_PKEY_derive(ctx, shared, &shared_len) != 1 || shared_len != FEDC_X25519_BYTES ||
	    CRYPTO_memcmp(shared, zero, sizeof(zero)) == 0) {
		ERR_clear_error();
		rc = fedc_fail(FEDC_ERR_INVAL, "%s: the peer's %s is a low-order point", who, what);
	}
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer_key);
	return rc;
}
