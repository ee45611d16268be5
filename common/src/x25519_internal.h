/* The X25519 agreement that secure aggregation and per-job sessions share. */
#ifndef FEDC_X25519_INTERNAL_H
#define FEDC_X25519_INTERNAL_H

#include <openssl/evp.h>
#include <stdint.h>

#include "fedc/err.h"

#define FEDC_X25519_BYTES 32

/* The raw shared secret of `mine` and the peer's raw public key.
 * FEDC_ERR_INVAL for an all-zero secret (the peer sent a low-order point:
 * the "secret" would be known to anyone), named "<who>: the peer's <what> is
 * a low-order point"; FEDC_ERR_NOMEM / FEDC_ERR_IO if OpenSSL cannot set up. */
enum fedc_err fedc__x25519_shared(EVP_PKEY *mine, const uint8_t peer[FEDC_X25519_BYTES],
				  uint8_t shared[FEDC_X25519_BYTES], const char *who, const char *what);

#endif
