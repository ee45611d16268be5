/* Loading and checking the HTTPS certificate and key (see tls.h). OpenSSL
 * only checks them here; libmicrohttpd serves them through GnuTLS. */
#include "tls.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/log.h"
#include "textfile.h"

#define PEM_FILE_MAX ((size_t)1 << 20)

/* An encrypted key would make OpenSSL prompt on the terminal: refuse. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static X509 *parse_cert(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, no_passphrase, NULL) : NULL;

	BIO_free(bio);
	return x;
}

static EVP_PKEY *parse_key(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;

	BIO_free(bio);
	return k;
}

/* Says in the log which certificate is served, and warns when it expired. */
static void describe(const char *cert_file, X509 *x)
{
	char subject[256];

	X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		fedc_warn("tls_cert_file %s (%s) has expired: clients will refuse it", cert_file, subject);
	else
		fedc_info("TLS certificate %s: %s", cert_file, subject);
}

static enum fedc_err check_pair(const char *cert_file, const char *key_file, const struct tls_pem *pem)
{
	enum fedc_err rc = FEDC_OK;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;

	cert = parse_cert(pem->cert);
	if (!cert) {
		rc = fedc_fail(FEDC_ERR_CONFIG, "tls_cert_file %s: no PEM certificate in it", cert_file);
		goto out;
	}
	key = parse_key(pem->key);
	if (!key) {
		rc = fedc_fail(FEDC_ERR_CONFIG,
			       "tls_key_file %s: no PEM private key in it (encrypted keys are not supported)",
			       key_file);
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		rc = fedc_fail(FEDC_ERR_CONFIG, "tls_key_file %s is not the key of tls_cert_file %s",
			       key_file, cert_file);
		goto out;
	}
	describe(cert_file, cert);
out:
	ERR_clear_error(); /* nothing of this belongs to a later OpenSSL call */
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

enum fedc_err tls__load(const char *cert_file, const char *key_file, struct tls_pem *out)
{
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	rc = textfile__read("tls_cert_file", cert_file, PEM_FILE_MAX, &out->cert);
	if (!rc)
		rc = textfile__read("tls_key_file", key_file, PEM_FILE_MAX, &out->key);
	if (!rc)
		rc = check_pair(cert_file, key_file, out);
	return rc;
}

void tls__free(struct tls_pem *pem)
{
	if (pem->key)
		OPENSSL_cleanse(pem->key, strlen(pem->key));
	free(pem->key);
	free(pem->cert);
	pem->key = NULL;
	pem->cert = NULL;
}
