/* Console passwords: scrypt (OpenSSL EVP_KDF "SCRYPT"), stored as one text
 *
 *   scrypt$<log2 N>$<r>$<p>$<salt, 32 hex>$<key, 64 hex>
 *
 * so that the cost can be raised later without invalidating stored hashes:
 * each hash is checked with the parameters it carries. The defaults (N = 2^15,
 * r = 8, p = 1: 32 MiB and about 0.1 s per hash) are OWASP's scrypt minimum
 * raised one step. docs/node-console.md, "Accounts". */
#ifndef FEDC_CONSOLE_KDF_H
#define FEDC_CONSOLE_KDF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

#define KDF_LOG2_N 15
#define KDF_R 8
#define KDF_P 1
#define KDF_SALT_BYTES 16
#define KDF_KEY_BYTES 32
#define KDF_HASH_BUF 160          /* the stored text and its NUL */
#define KDF_PASSWORD_MIN 10       /* bytes; shorter ones are refused at `user add` */
#define KDF_PASSWORD_MAX 1024

/* Hashes `password` with a fresh random salt into `out` (KDF_HASH_BUF).
 * FEDC_ERR_INVAL (password too long), FEDC_ERR_NOMEM, FEDC_ERR_IO (OpenSSL
 * failed, detail recorded). */
FEDC_NODISCARD
enum fedc_err kdf__hash(const char *password, char out[KDF_HASH_BUF]);

/* True when `password` matches `stored`; the keys are compared in constant
 * time. A malformed stored text, or parameters out of the accepted range
 * (log2 N 10..20, r 1..32, p 1..16: an attacker who wrote the database
 * must not make a login take minutes), give false. */
bool kdf__verify(const char *password, const char *stored);

#endif
