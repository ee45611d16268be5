/* Checks at start (preflight.h). */
#include "preflight.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/log.h"

/* Opens `path` for reading; the detail names `what` (the config key). */
static enum fedc_err open_file(const char *what, const char *path, FILE **out)
{
	struct stat st;

	*out = NULL;
	if (stat(path, &st) != 0)
		return fedc_fail(FEDC_ERR_IO, "%s %s: %s", what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fedc_fail(FEDC_ERR_CONFIG, "%s %s: not a regular file", what, path);
	*out = fopen(path, "r");
	if (!*out)
		return fedc_fail(FEDC_ERR_IO, "%s %s: %s", what, path, strerror(errno));
	return FEDC_OK;
}

/* A private key readable by group or others: refused (docs/node-admin.md). */
static enum fedc_err private_mode(const char *what, const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return fedc_fail(FEDC_ERR_IO, "%s %s: %s", what, path, strerror(errno));
	if (st.st_mode & 077)
		return fedc_fail(FEDC_ERR_CONFIG, "%s %s is a private key readable by %s (mode %03o): any local "
				 "user could act as this node; make it readable by its owner only: chmod 600 %s",
				 what, path, (st.st_mode & 007) ? "others" : "its group",
				 (unsigned)(st.st_mode & 0777), path);
	return FEDC_OK;
}

/* At least one PEM certificate. `first` (may be NULL) receives the first. */
static enum fedc_err read_certs(const char *what, const char *path, X509 **first)
{
	FILE *f = NULL;
	X509 *cert = NULL;
	enum fedc_err rc = open_file(what, path, &f);

	if (rc)
		return rc;
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!cert)
		return fedc_fail(FEDC_ERR_CONFIG, "%s %s: no PEM certificate in it (a garbled, truncated or wrong "
				 "file?)", what, path);
	if (first)
		*first = cert;
	else
		X509_free(cert);
	return FEDC_OK;
}

static enum fedc_err read_private_key(const char *what, const char *path, EVP_PKEY **out)
{
	FILE *f = NULL;
	enum fedc_err rc = private_mode(what, path);

	if (!rc)
		rc = open_file(what, path, &f);
	if (rc)
		return rc;
	*out = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!*out)
		return fedc_fail(FEDC_ERR_CONFIG, "%s %s: no PEM private key in it (a garbled, truncated or wrong "
				 "file?)", what, path);
	return FEDC_OK;
}

/* A certificate issued to someone else is most likely another bundle's file. */
static void warn_foreign_cert(const struct node_config *cfg, X509 *cert)
{
	char cn[256] = "";
	X509_NAME *subject = X509_get_subject_name(cert);

	if (subject && X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof(cn)) > 0 &&
	    strcmp(cn, cfg->node_id) != 0)
		fedc_warn("[broker] cert_file %s was issued to \"%s\", not to this node \"%s\": another participant's "
			  "bundle?", cfg->broker_cert_file, cn, cfg->node_id);
}

static enum fedc_err check_broker_tls(const struct node_config *cfg)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	bool tls = strncmp(cfg->broker_url, "ssl://", 6) == 0 || strncmp(cfg->broker_url, "mqtts://", 8) == 0;
	enum fedc_err rc = FEDC_OK;

	if (tls && !cfg->broker_ca_file[0])
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [broker] url %s uses TLS but [broker] ca_file is not set",
				 cfg->path, cfg->broker_url);
	if (cfg->broker_ca_file[0])
		rc = read_certs("[broker] ca_file", cfg->broker_ca_file, NULL);
	if (!rc && (cfg->broker_cert_file[0] != 0) != (cfg->broker_key_file[0] != 0))
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [broker] cert_file and key_file go together: set both or neither",
			       cfg->path);
	if (rc || !cfg->broker_cert_file[0])
		return rc;
	rc = read_certs("[broker] cert_file", cfg->broker_cert_file, &cert);
	if (!rc)
		rc = read_private_key("[broker] key_file", cfg->broker_key_file, &key);
	if (!rc && X509_check_private_key(cert, key) != 1)
		rc = fedc_fail(FEDC_ERR_CONFIG, "[broker] key_file %s is not the key of the certificate in cert_file %s",
			       cfg->broker_key_file, cfg->broker_cert_file);
	if (!rc)
		warn_foreign_cert(cfg, cert);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* signing.key -> signing.pub beside it; false if the name has no ".key". */
static bool public_beside(const char *key_path, char *out, size_t cap)
{
	size_t len = strlen(key_path);

	if (len < 5 || strcmp(key_path + len - 4, ".key") != 0 || len >= cap)
		return false;
	memcpy(out, key_path, len - 4);
	memcpy(out + len - 4, ".pub", 5);
	return true;
}

static enum fedc_err check_signing_key(const struct node_config *cfg)
{
	char pub_path[NODE_PATH_MAX];
	EVP_PKEY *key = NULL, *registered = NULL;
	FILE *f = NULL;
	enum fedc_err rc;

	if (!cfg->signing_key[0])
		return FEDC_OK;
	rc = read_private_key("[security] signing_key", cfg->signing_key, &key);
	if (rc || !public_beside(cfg->signing_key, pub_path, sizeof(pub_path)) || access(pub_path, F_OK) != 0)
		goto out;
	rc = open_file("the registered public key", pub_path, &f);
	if (rc)
		goto out;
	registered = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (!registered)
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: not a PEM public key", pub_path);
	else if (EVP_PKEY_eq(key, registered) != 1)
		rc = fedc_fail(FEDC_ERR_CONFIG, "[security] signing_key %s is not this node's key: its public key differs "
				 "from %s, the one registered for node \"%s\" (researchers would refuse every reply); "
				 "use the signing.key of this node's bundle", cfg->signing_key, pub_path, cfg->node_id);
out:
	EVP_PKEY_free(key);
	EVP_PKEY_free(registered);
	return rc;
}

enum fedc_err preflight__files(const struct node_config *cfg)
{
	enum fedc_err rc = check_broker_tls(cfg);

	if (!rc && cfg->repository_ca_file[0])
		rc = read_certs("[repository] ca_file", cfg->repository_ca_file, NULL);
	if (!rc)
		rc = check_signing_key(cfg);
	return rc;
}

enum fedc_err preflight__database(const char *db_path)
{
	sqlite3 *conn = NULL;
	sqlite3_stmt *st = NULL;
	enum fedc_err rc = FEDC_OK;
	const char *result = NULL;

	if (access(db_path, F_OK) != 0)
		return FEDC_OK; /* created by db__open */
	if (sqlite3_open_v2(db_path, &conn, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rc = fedc_fail(FEDC_ERR_DB, "%s: cannot open: %s", db_path, conn ? sqlite3_errmsg(conn) : "no memory");
		goto out;
	}
	sqlite3_busy_timeout(conn, 5000);
	if (sqlite3_db_readonly(conn, "main") == 1) {
		rc = fedc_fail(FEDC_ERR_DB, "%s is read-only for this user: the node could not record a command, a "
				 "plan or a dataset; give the user that runs fedc-node write access to it and to its "
				 "directory", db_path);
		goto out;
	}
	if (sqlite3_prepare_v2(conn, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW || !(result = (const char *)sqlite3_column_text(st, 0)) ||
	    strcmp(result, "ok") != 0) {
		rc = fedc_fail(FEDC_ERR_DB, "%s is damaged (%s): restore it from a backup, or move it away to start "
				 "with an empty one (datasets and plan approvals must then be registered again)",
				 db_path, result ? result : sqlite3_errmsg(conn));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* The directory too: sqlite writes its -wal and -shm files there. */
	if (sqlite3_exec(conn, "BEGIN IMMEDIATE; ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		rc = fedc_fail(FEDC_ERR_DB, "%s cannot be written: %s; give the user that runs fedc-node write access "
				 "to it and to its directory", db_path, sqlite3_errmsg(conn));
out:
	sqlite3_finalize(st);
	sqlite3_close(conn);
	return rc;
}
