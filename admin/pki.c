/* The federation's certificates and keys, through OpenSSL 3.
 *
 * One CA (EC P-256, ten years) signs every server and client certificate.
 * Serials are 16 random bytes, so two certificates never share one even when
 * made on different machines from a copied CA. Certificates start one hour in
 * the past: a hospital's clock that lags the admin's must not reject them. */
#include "admin.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define BACKDATE_SECONDS 3600L

enum fedc_err admin__ssl_fail(enum fedc_err code, const char *what)
{
	unsigned long e = ERR_get_error();
	char msg[256] = "unknown OpenSSL error";

	if (e)
		ERR_error_string_n(e, msg, sizeof(msg));
	ERR_clear_error();
	return fedc_fail(code, "%s: %s", what, msg);
}

static enum fedc_err set_serial(X509 *cert)
{
	unsigned char raw[16];
	enum fedc_err rc = FEDC_OK;
	BIGNUM *bn = NULL;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return admin__ssl_fail(FEDC_ERR_IO, "random serial");
	/* Positive (top bit clear) and never zero (a bit set), as RFC 5280 asks. */
	raw[0] = (unsigned char)((raw[0] & 0x7f) | 0x40);
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
		rc = admin__ssl_fail(FEDC_ERR_NOMEM, "certificate serial");
	BN_free(bn);
	return rc;
}

static enum fedc_err set_name(X509 *cert, const char *org, const char *unit, const char *cn)
{
	X509_NAME *name = X509_get_subject_name(cert);

	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)org, -1, -1, 0) ||
	    (unit && !X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)unit, -1, -1, 0)) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0))
		return admin__ssl_fail(FEDC_ERR_INVAL, "certificate subject");
	return FEDC_OK;
}

static enum fedc_err set_validity(X509 *cert, int days)
{
	if (!X509_time_adj_ex(X509_getm_notBefore(cert), 0, -BACKDATE_SECONDS, NULL) ||
	    !X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL))
		return admin__ssl_fail(FEDC_ERR_INVAL, "certificate validity");
	return FEDC_OK;
}

/* Adds one extension in openssl.cnf syntax ("critical,CA:TRUE"). */
static enum fedc_err add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	enum fedc_err rc = FEDC_OK;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext || !X509_add_ext(cert, ext, -1))
		rc = admin__ssl_fail(FEDC_ERR_INVAL, OBJ_nid2sn(nid));
	X509_EXTENSION_free(ext);
	return rc;
}

/* Version, serial, subject, issuer, validity and public key of a new certificate. */
static enum fedc_err new_cert(EVP_PKEY *key, X509 *issuer, const char *org, const char *unit, const char *cn,
			      int days, X509 **out)
{
	enum fedc_err rc;
	X509 *cert = X509_new();

	if (!cert)
		return admin__ssl_fail(FEDC_ERR_NOMEM, "new certificate");
	if (!X509_set_version(cert, 2) || !X509_set_pubkey(cert, key)) {
		rc = admin__ssl_fail(FEDC_ERR_INVAL, "certificate");
		goto out;
	}
	rc = set_serial(cert);
	if (!rc)
		rc = set_name(cert, org, unit, cn);
	if (!rc && !X509_set_issuer_name(cert, X509_get_subject_name(issuer ? issuer : cert)))
		rc = admin__ssl_fail(FEDC_ERR_INVAL, "certificate issuer");
	if (!rc)
		rc = set_validity(cert, days);
out:
	if (rc)
		X509_free(cert);
	else
		*out = cert;
	return rc;
}

static enum fedc_err ec_key(EVP_PKEY **key)
{
	*key = EVP_EC_gen("P-256");
	return *key ? FEDC_OK : admin__ssl_fail(FEDC_ERR_IO, "EC P-256 key generation");
}

enum fedc_err admin__pki_ed25519(EVP_PKEY **key)
{
	*key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return *key ? FEDC_OK : admin__ssl_fail(FEDC_ERR_IO, "Ed25519 key generation");
}

enum fedc_err admin__pki_make_ca(const char *org, EVP_PKEY **key, X509 **cert)
{
	enum fedc_err rc;

	*key = NULL;
	*cert = NULL;
	rc = ec_key(key);
	if (!rc)
		rc = new_cert(*key, NULL, org, NULL, "fedc CA", ADMIN_CA_DAYS, cert);
	if (!rc)
		rc = add_ext(*cert, *cert, NID_basic_constraints, "critical,CA:TRUE");
	if (!rc)
		rc = add_ext(*cert, *cert, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (!rc)
		rc = add_ext(*cert, *cert, NID_subject_key_identifier, "hash");
	if (!rc && !X509_sign(*cert, *key, EVP_sha256()))
		rc = admin__ssl_fail(FEDC_ERR_IO, "signing the CA certificate");
	if (rc) {
		X509_free(*cert);
		EVP_PKEY_free(*key);
		*cert = NULL;
		*key = NULL;
	}
	return rc;
}

/* "DNS:localhost,IP:127.0.0.1" and the federation's host unless it is one of those. */
static void server_san(const char *host, char *san, size_t cap)
{
	bool v6;

	snprintf(san, cap, "DNS:localhost,IP:127.0.0.1");
	if (!host || !strcmp(host, "localhost") || !strcmp(host, "127.0.0.1"))
		return;
	snprintf(san + strlen(san), cap - strlen(san), ",%s:%s", admin__host_is_ip(host, &v6) ? "IP" : "DNS", host);
}

static enum fedc_err leaf_extensions(X509 *cert, X509 *ca_cert, const struct admin_cert_req *req)
{
	char san[64 + 2 * ADMIN_MAX_HOST_LEN];
	bool server = req->kind == ADMIN_CERT_SERVER;
	enum fedc_err rc;

	rc = add_ext(cert, ca_cert, NID_basic_constraints, "critical,CA:FALSE");
	if (!rc)
		rc = add_ext(cert, ca_cert, NID_key_usage, "critical,digitalSignature");
	if (!rc)
		rc = add_ext(cert, ca_cert, NID_ext_key_usage, server ? "serverAuth" : "clientAuth");
	if (!rc)
		rc = add_ext(cert, ca_cert, NID_subject_key_identifier, "hash");
	if (!rc)
		rc = add_ext(cert, ca_cert, NID_authority_key_identifier, "keyid:always");
	if (!rc && server) {
		server_san(req->host, san, sizeof(san));
		rc = add_ext(cert, ca_cert, NID_subject_alt_name, san);
	}
	return rc;
}

enum fedc_err admin__pki_issue(EVP_PKEY *ca_key, X509 *ca_cert, const struct admin_cert_req *req,
			       EVP_PKEY **key, X509 **cert)
{
	enum fedc_err rc;

	*key = NULL;
	*cert = NULL;
	rc = ec_key(key);
	if (!rc)
		rc = new_cert(*key, ca_cert, req->org, req->unit, req->cn, req->days, cert);
	if (!rc)
		rc = leaf_extensions(*cert, ca_cert, req);
	if (!rc && !X509_sign(*cert, ca_key, EVP_sha256()))
		rc = admin__ssl_fail(FEDC_ERR_IO, "signing a certificate");
	if (rc) {
		X509_free(*cert);
		EVP_PKEY_free(*key);
		*cert = NULL;
		*key = NULL;
	}
	return rc;
}

enum fedc_err admin__pki_load_ca(const struct admin_fed *fed, EVP_PKEY **key, X509 **cert)
{
	char path[PATH_MAX];
	enum fedc_err rc;
	FILE *f;

	*key = NULL;
	*cert = NULL;
	rc = admin__path(path, fed->dir, "ca/ca.key");
	if (!rc && !(f = fopen(path, "r")))
		rc = fedc_fail(FEDC_ERR_IO, "cannot open %s (the CA key is needed to add participants)", path);
	if (!rc) {
		*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		if (!*key)
			rc = admin__ssl_fail(FEDC_ERR_MALFORMED, path);
	}
	if (!rc)
		rc = admin__path(path, fed->dir, "ca/ca.pem");
	if (!rc && !(f = fopen(path, "r")))
		rc = fedc_fail(FEDC_ERR_IO, "cannot open %s", path);
	if (!rc) {
		*cert = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
		if (!*cert)
			rc = admin__ssl_fail(FEDC_ERR_MALFORMED, path);
	}
	if (!rc && X509_check_private_key(*cert, *key) != 1)
		rc = admin__ssl_fail(FEDC_ERR_MALFORMED, "ca/ca.key does not match ca/ca.pem");
	if (rc) {
		EVP_PKEY_free(*key);
		X509_free(*cert);
		*key = NULL;
		*cert = NULL;
	}
	return rc;
}

/* Drains a memory BIO into `out`. */
static enum fedc_err bio_take(BIO *bio, struct fedc_buf *out)
{
	char *data;
	long len = BIO_get_mem_data(bio, &data);

	if (len <= 0)
		return fedc_fail(FEDC_ERR_IO, "empty PEM output");
	return fedc_buf_append(out, data, (size_t)len);
}

enum fedc_err admin__pem_cert(X509 *cert, struct fedc_buf *out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	enum fedc_err rc;

	if (!bio)
		return admin__ssl_fail(FEDC_ERR_NOMEM, "BIO");
	rc = PEM_write_bio_X509(bio, cert) ? bio_take(bio, out) : admin__ssl_fail(FEDC_ERR_IO, "PEM certificate");
	BIO_free(bio);
	return rc;
}

/* A secure-memory BIO: it wipes the key's PEM text when freed. */
enum fedc_err admin__pem_key(EVP_PKEY *key, struct fedc_buf *out)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	enum fedc_err rc;

	if (!bio)
		return admin__ssl_fail(FEDC_ERR_NOMEM, "BIO");
	rc = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) ? bio_take(bio, out)
									   : admin__ssl_fail(FEDC_ERR_IO, "PEM private key");
	BIO_free(bio);
	return rc;
}

enum fedc_err admin__pem_pub(EVP_PKEY *key, struct fedc_buf *out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	enum fedc_err rc;

	if (!bio)
		return admin__ssl_fail(FEDC_ERR_NOMEM, "BIO");
	rc = PEM_write_bio_PUBKEY(bio, key) ? bio_take(bio, out) : admin__ssl_fail(FEDC_ERR_IO, "PEM public key");
	BIO_free(bio);
	return rc;
}

enum fedc_err admin__pki_serial_of(const char *path, char *out, size_t cap)
{
	enum fedc_err rc = FEDC_OK;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	X509 *cert = NULL;
	FILE *f = fopen(path, "r");

	if (!f)
		return fedc_fail(FEDC_ERR_NOT_FOUND, "cannot open %s", path);
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!cert) {
		rc = admin__ssl_fail(FEDC_ERR_MALFORMED, path);
		goto out;
	}
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	hex = bn ? BN_bn2hex(bn) : NULL;
	if (!hex)
		rc = admin__ssl_fail(FEDC_ERR_NOMEM, "certificate serial");
	else if ((size_t)snprintf(out, cap, "%s", hex) >= cap)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: serial too long", path);
out:
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(cert);
	return rc;
}

/* One revoked entry: serial (hex) and date. */
static enum fedc_err crl_add(X509_CRL *crl, const char *serial, long when)
{
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_INTEGER *num = NULL;
	ASN1_TIME *t = NULL;
	BIGNUM *bn = NULL;
	enum fedc_err rc = FEDC_OK;

	if (!r || !BN_hex2bn(&bn, serial) || !(num = BN_to_ASN1_INTEGER(bn, NULL)) ||
	    !(t = ASN1_TIME_set(NULL, (time_t)when)) || !X509_REVOKED_set_serialNumber(r, num) ||
	    !X509_REVOKED_set_revocationDate(r, t) || !X509_CRL_add0_revoked(crl, r))
		rc = admin__ssl_fail(FEDC_ERR_NOMEM, "CRL entry");
	else
		r = NULL; /* the CRL owns it */
	X509_REVOKED_free(r);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	BN_free(bn);
	return rc;
}

/* Version 2, the CA as issuer, lastUpdate an hour back (as certificates
 * are), nextUpdate the CA's own end: OpenSSL refuses every certificate once
 * a CRL it checks has expired, and a federation's CRL changes only when
 * fedc-admin revokes. */
enum fedc_err admin__pki_crl(EVP_PKEY *ca_key, X509 *ca_cert, const char *const *serials, const long *times,
			     size_t n, struct fedc_buf *out)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *last = NULL;
	BIO *bio = NULL;
	enum fedc_err rc = FEDC_OK;

	if (!crl || !X509_CRL_set_version(crl, 1) || !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca_cert)) ||
	    !(last = X509_time_adj_ex(NULL, 0, -BACKDATE_SECONDS, NULL)) || !X509_CRL_set1_lastUpdate(crl, last) ||
	    !X509_CRL_set1_nextUpdate(crl, X509_get0_notAfter(ca_cert))) {
		rc = admin__ssl_fail(FEDC_ERR_NOMEM, "CRL");
		goto out;
	}
	for (size_t i = 0; !rc && i < n; i++)
		rc = crl_add(crl, serials[i], times[i]);
	if (rc)
		goto out;
	if (!X509_CRL_sort(crl) || !X509_CRL_sign(crl, ca_key, EVP_sha256())) {
		rc = admin__ssl_fail(FEDC_ERR_IO, "signing the CRL");
		goto out;
	}
	bio = BIO_new(BIO_s_mem());
	if (!bio)
		rc = admin__ssl_fail(FEDC_ERR_NOMEM, "BIO");
	else
		rc = PEM_write_bio_X509_CRL(bio, crl) ? bio_take(bio, out) : admin__ssl_fail(FEDC_ERR_IO, "PEM CRL");
out:
	BIO_free(bio);
	ASN1_TIME_free(last);
	X509_CRL_free(crl);
	return rc;
}
