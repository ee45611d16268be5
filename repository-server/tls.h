/* The HTTPS identity of fedc-repository: a PEM certificate (chain) and its
 * private key, read and checked before the listener starts so that a wrong
 * file is reported by name rather than as a failed start of libmicrohttpd. */
#ifndef FEDC_REPOSITORY_TLS_H
#define FEDC_REPOSITORY_TLS_H

#include "fedc/err.h"

/* GnuTLS priorities of the listener: TLS 1.2 and 1.3 only. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct tls_pem {
	char *cert; /* NUL-terminated PEM text */
	char *key;
};

/* Reads both files. FEDC_ERR_CONFIG (cannot read, not PEM, no certificate,
 * encrypted key, key does not belong to the certificate: the detail names
 * the file), FEDC_ERR_NOMEM. The caller releases
 * *out with tls__free(), also on failure. A certificate past its end date is
 * accepted with a warning in the log (clients will refuse it). */
FEDC_NODISCARD
enum fedc_err tls__load(const char *cert_file, const char *key_file, struct tls_pem *out);

/* Frees both texts, wiping the key first. */
void tls__free(struct tls_pem *pem);

#endif
