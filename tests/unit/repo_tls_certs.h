/* Test helper shared by test_repo.c and test_repository_server.c: a small
 * PKI made in the test with OpenSSL, so that no fixture key ever expires or
 * leaks: an EC P-256 CA, and server certificates it signs for any list of
 * subject alternative names ("IP:127.0.0.1,DNS:localhost").
 *
 * Header-only (static functions), like repo_server_harness.h; include it
 * after that one. Files land in a directory the caller removes. */
#ifndef FEDC_TEST_REPO_TLS_CERTS_H
#define FEDC_TEST_REPO_TLS_CERTS_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define PKI_FN __attribute__((unused)) static

struct test_pki {
	EVP_PKEY *ca_key;
	X509 *ca_cert;
	char ca_path[PATH_MAX]; /* the CA certificate, PEM */
};

/* Adds extension `nid` = `value` (openssl.cnf syntax) to `cert`. */
PKI_FN bool pki_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	bool ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return false;
	ok = X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

/* A certificate for `key` named CN=`cn`, valid from an hour ago for a day,
 * signed by `issuer_key` (`issuer` NULL: self-signed). `san` NULL: a CA. */
PKI_FN X509 *pki_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		      const char *san, long serial)
{
	X509 *x = X509_new();
	X509_NAME *name;
	bool ok;

	if (!x)
		return NULL;
	name = X509_get_subject_name(x);
	ok = X509_set_version(x, 2) == 1 && ASN1_INTEGER_set(X509_get_serialNumber(x), serial) == 1 &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -3600) && X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
	     X509_set_pubkey(x, key) == 1 &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) == 1 &&
	     X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1;
	if (!issuer)
		issuer = x;
	if (ok && !san)
		ok = pki_add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE") &&
		     pki_add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign") &&
		     pki_add_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (ok && san)
		ok = pki_add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") &&
		     pki_add_ext(x, issuer, NID_key_usage, "critical,digitalSignature") &&
		     pki_add_ext(x, issuer, NID_ext_key_usage, "serverAuth") &&
		     pki_add_ext(x, issuer, NID_subject_alt_name, san) &&
		     pki_add_ext(x, issuer, NID_authority_key_identifier, "keyid");
	if (ok)
		ok = X509_sign(x, issuer_key, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

PKI_FN bool pki_write_cert(const char *path, X509 *cert)
{
	FILE *f = fopen(path, "w");
	bool ok;

	if (!f)
		return false;
	ok = PEM_write_X509(f, cert) == 1;
	return fclose(f) == 0 && ok;
}

PKI_FN bool pki_write_key(const char *path, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");
	bool ok;

	if (!f)
		return false;
	ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
	return fclose(f) == 0 && ok;
}

PKI_FN void pki_free(struct test_pki *pki)
{
	EVP_PKEY_free(pki->ca_key);
	X509_free(pki->ca_cert);
	memset(pki, 0, sizeof(*pki));
}

/* A fresh CA; its certificate goes to <dir>/<name>.pem. Returns 0 or -1. */
PKI_FN int pki_make_ca(struct test_pki *pki, const char *dir, const char *name)
{
	memset(pki, 0, sizeof(*pki));
	snprintf(pki->ca_path, sizeof(pki->ca_path), "%.4000s/%.64s.pem", dir, name);
	pki->ca_key = EVP_EC_gen("P-256");
	if (pki->ca_key)
		pki->ca_cert = pki_cert(pki->ca_key, name, NULL, pki->ca_key, NULL, 1);
	if (!pki->ca_cert || !pki_write_cert(pki->ca_path, pki->ca_cert)) {
		pki_free(pki);
		return -1;
	}
	return 0;
}

/* A server key and certificate signed by the CA, for names `san`, written to
 * <dir>/<name>.pem and <dir>/<name>.key (paths in cert_path, key_path, each
 * PATH_MAX). Returns 0 or -1. */
PKI_FN int pki_make_server(struct test_pki *pki, const char *dir, const char *name, const char *san,
			   char *cert_path, char *key_path)
{
	static long serial = 100;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = NULL;
	int rc = -1;

	snprintf(cert_path, PATH_MAX, "%.4000s/%.64s.pem", dir, name);
	snprintf(key_path, PATH_MAX, "%.4000s/%.64s.key", dir, name);
	if (key)
		cert = pki_cert(key, name, pki->ca_cert, pki->ca_key, san, serial++);
	if (cert && pki_write_cert(cert_path, cert) && pki_write_key(key_path, key))
		rc = 0;
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

#endif
