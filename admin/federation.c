/* A federation's directory as a whole: `init` lays it out, `add` enrols a
 * participant (docs/provisioning.md).
 *
 * Crash safety: every file is replaced atomically, and each command writes
 * its commit record last: federation.ini for init, repository/tokens (the
 * list of participants) for add. Every step before the commit can be redone,
 * so a run that died can simply be run again. */
#include "admin.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "fedc/config.h"
#include "fedc/fs.h"
#include "fedc/hash.h"

bool admin__host_is_ip(const char *s, bool *v6)
{
	unsigned char addr[16];

	*v6 = false;
	if (inet_pton(AF_INET, s, addr) == 1)
		return true;
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*v6 = true;
		return true;
	}
	return false;
}

/* An IP address, or a DNS name of letters, digits, '-' and '.'. */
bool admin__host_valid(const char *s)
{
	size_t n = strlen(s);
	bool v6;

	if (admin__host_is_ip(s, &v6))
		return true;
	if (n == 0 || n > ADMIN_MAX_HOST_LEN || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

/* mosquitto.conf holds absolute paths on lines split at blanks. */
static enum fedc_err check_dir_chars(const char *dir)
{
	for (const char *p = dir; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return fedc_fail(FEDC_ERR_INVAL, "%s: a federation directory may not contain blanks or control "
							 "characters (mosquitto.conf names files by absolute path)",
					 dir);
	return FEDC_OK;
}

static enum fedc_err check_settings(const struct admin_fed *fed)
{
	if (!fedc_id_valid(fed->name))
		return fedc_fail(FEDC_ERR_INVAL, "bad federation name \"%s\": 1 to %d of A-Z a-z 0-9 . _ -, "
						 "not starting with '.' or '-'",
				 fed->name, FEDC_MAX_FED_LEN);
	if (!admin__host_valid(fed->host))
		return fedc_fail(FEDC_ERR_INVAL, "bad host \"%s\": an IP address or a DNS name", fed->host);
	if (fed->broker_port < 1 || fed->broker_port > 65535 || fed->repository_port < 1 ||
	    fed->repository_port > 65535)
		return fedc_fail(FEDC_ERR_INVAL, "ports must be in 1..65535");
	if (fed->broker_port == fed->repository_port)
		return fedc_fail(FEDC_ERR_INVAL, "the broker and the repository need different ports");
	if (fed->days < 1 || fed->days > ADMIN_CA_DAYS)
		return fedc_fail(FEDC_ERR_INVAL, "--days must be in 1..%d (the CA's own lifetime)", ADMIN_CA_DAYS);
	if (fed->broker == ADMIN_BROKER_RABBITMQ && strchr(fed->name, '.'))
		return fedc_fail(FEDC_ERR_INVAL, "bad federation name \"%s\" for RabbitMQ: no '.' (its MQTT plugin "
						 "turns topic levels into words of a routing key split at '.')",
				 fed->name);
	return FEDC_OK;
}

/* RabbitMQ's MQTT plugin reads a '.' in a topic as a level separator (see
 * broker_rabbitmq.c): ids with one would be unreachable there. */
static enum fedc_err check_id_for_broker(const struct admin_fed *fed, const char *id)
{
	if (fed->broker == ADMIN_BROKER_RABBITMQ && strchr(id, '.'))
		return fedc_fail(FEDC_ERR_INVAL, "bad id \"%s\" for federation %s, whose broker is RabbitMQ: no '.' "
						 "(its MQTT plugin turns '/' into '.', so a '.' in a topic becomes a "
						 "level); use '-' or '_'", id, fed->name);
	return FEDC_OK;
}

/* ---- init ------------------------------------------------------------------ */

static enum fedc_err write_pem_pair(const char *dir, const char *cert_name, const char *key_name, X509 *cert,
				    EVP_PKEY *key)
{
	struct fedc_buf pem = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES),
			key_pem = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	char path[PATH_MAX];
	enum fedc_err rc;

	rc = admin__pem_cert(cert, &pem);
	if (!rc)
		rc = admin__pem_key(key, &key_pem);
	if (!rc)
		rc = admin__path(path, dir, key_name);
	if (!rc)
		rc = admin__write_secret(path, key_pem.data, key_pem.len);
	if (!rc)
		rc = admin__path(path, dir, cert_name);
	if (!rc)
		rc = fedc_write_atomic(path, pem.data, pem.len);
	fedc_buf_free(&pem);
	fedc_buf_free(&key_pem);
	return rc;
}

/* DIR/<sub>/server.pem and server.key for CN `cn`. */
static enum fedc_err write_server_cert(const struct admin_fed *fed, EVP_PKEY *ca_key, X509 *ca_cert,
				       const char *sub, const char *cn)
{
	struct admin_cert_req req = { .kind = ADMIN_CERT_SERVER, .cn = cn, .org = fed->name,
				      .host = fed->host, .days = fed->days };
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char dir[PATH_MAX];
	enum fedc_err rc;

	rc = admin__path(dir, fed->dir, sub);
	if (!rc)
		rc = admin__pki_issue(ca_key, ca_cert, &req, &key, &cert);
	if (!rc)
		rc = write_pem_pair(dir, "server.pem", "server.key", cert, key);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

static enum fedc_err make_dirs(const struct admin_fed *fed)
{
	static const char *const subs[] = { "ca", "broker", "repository", "repository/store" };
	char path[PATH_MAX];
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; !rc && i < sizeof(subs) / sizeof(subs[0]); i++) {
		rc = admin__path(path, fed->dir, subs[i]);
		if (!rc)
			rc = fedc_mkdir_p(path, 0700);
	}
	return rc;
}

static enum fedc_err make_pki(const struct admin_fed *fed)
{
	EVP_PKEY *ca_key = NULL;
	X509 *ca_cert = NULL;
	char dir[PATH_MAX];
	enum fedc_err rc;

	rc = admin__pki_make_ca(fed->name, &ca_key, &ca_cert);
	if (!rc)
		rc = admin__path(dir, fed->dir, "ca");
	if (!rc)
		rc = write_pem_pair(dir, "ca.pem", "ca.key", ca_cert, ca_key);
	if (!rc)
		rc = write_server_cert(fed, ca_key, ca_cert, "broker", "fedc-broker");
	if (!rc)
		rc = write_server_cert(fed, ca_key, ca_cert, "repository", "fedc-repository");
	EVP_PKEY_free(ca_key);
	X509_free(ca_cert);
	return rc;
}

static enum fedc_err write_federation_ini(const struct admin_fed *fed)
{
	struct fedc_buf b = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	char path[PATH_MAX];
	enum fedc_err rc;

	rc = fedc_buf_printf(&b,
			       "; Federation made by fedc-admin init; read by fedc-admin add-node,\n"
			       "; add-researcher and list. Do not edit: certificates and bundles\n"
			       "; already carry these values.\n"
			       "[federation]\nname = %s\nhost = %s\nbroker_port = %d\nrepository_port = %d\n"
			       "days = %d\nbroker = %s\n",
			       fed->name, fed->host, fed->broker_port, fed->repository_port, fed->days,
			       admin__broker_name(fed->broker));
	if (!rc)
		rc = admin__path(path, fed->dir, "federation.ini");
	if (!rc)
		rc = fedc_write_atomic(path, b.data, b.len);
	fedc_buf_free(&b);
	return rc;
}

/* Makes fed->dir exist and absolute. */
static enum fedc_err make_root(struct admin_fed *fed)
{
	char abs[PATH_MAX];
	enum fedc_err rc = check_dir_chars(fed->dir); /* before anything is made */

	/* advanced.config names files in Erlang strings (broker_rabbitmq.c) */
	if (!rc && fed->broker == ADMIN_BROKER_RABBITMQ && strpbrk(fed->dir, "\"\\"))
		rc = fedc_fail(FEDC_ERR_INVAL, "%s: a RabbitMQ federation's directory may not hold '\"' or '\\'",
			       fed->dir);

	if (!rc)
		rc = fedc_mkdir_p(fed->dir, 0700);
	if (rc)
		return rc;
	if (!realpath(fed->dir, abs))
		return fedc_fail(FEDC_ERR_IO, "%s: %s", fed->dir, strerror(errno));
	snprintf(fed->dir, sizeof(fed->dir), "%s", abs);
	return check_dir_chars(fed->dir);
}

enum fedc_err admin__init(struct admin_fed *fed)
{
	struct admin_registry empty = { 0 }; /* the registry's commit record */
	char path[PATH_MAX];
	enum fedc_err rc;
	int lock = -1;

	rc = check_settings(fed);
	if (!rc)
		rc = make_root(fed);
	if (!rc)
		rc = admin__lock(fed->dir, &lock);
	if (!rc)
		rc = admin__path(path, fed->dir, "federation.ini");
	if (!rc && admin__exists(path))
		rc = fedc_fail(FEDC_ERR_EXISTS, "%s already holds a federation (%s); nothing changed", fed->dir,
			       path);
	if (!rc)
		rc = make_dirs(fed);
	if (!rc)
		rc = make_pki(fed);
	if (!rc)
		rc = admin__crl_write(fed); /* empty: mosquitto's crlfile must exist */
	if (!rc)
		rc = admin__broker_init_files(fed);
	if (!rc)
		rc = admin__repository_write_ini(fed);
	if (!rc)
		rc = admin__registry_save(fed, &empty);
	if (!rc)
		rc = write_federation_ini(fed);
	if (lock >= 0)
		close(lock);
	return rc;
}

/* ---- load ------------------------------------------------------------------ */

static enum fedc_err read_federation_ini(const char *path, struct admin_fed *fed)
{
	struct fedc_config *cfg = NULL;
	const char *name = NULL, *host = NULL, *broker = NULL;
	int64_t bport = 0, rport = 0, days = 0;
	enum fedc_err rc;

	rc = fedc_config_load(path, &cfg);
	if (!rc)
		rc = fedc_config_str(cfg, "federation", "name", true, NULL, &name);
	if (!rc)
		rc = fedc_config_str(cfg, "federation", "host", true, NULL, &host);
	if (!rc)
		rc = fedc_config_int(cfg, "federation", "broker_port", true, 0, 1, 65535, &bport);
	if (!rc)
		rc = fedc_config_int(cfg, "federation", "repository_port", true, 0, 1, 65535, &rport);
	if (!rc)
		rc = fedc_config_int(cfg, "federation", "days", true, 0, 1, ADMIN_CA_DAYS, &days);
	/* Federations made before RabbitMQ support have no broker key. */
	if (!rc)
		rc = fedc_config_str(cfg, "federation", "broker", false, "mosquitto", &broker);
	if (!rc && !admin__broker_parse(broker, &fed->broker))
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: broker = %s: expected mosquitto or rabbitmq", path, broker);
	if (!rc && (strlen(name) >= sizeof(fed->name) || strlen(host) >= sizeof(fed->host)))
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: name or host too long", path);
	if (!rc) {
		snprintf(fed->name, sizeof(fed->name), "%s", name);
		snprintf(fed->host, sizeof(fed->host), "%s", host);
		fed->broker_port = (int)bport;
		fed->repository_port = (int)rport;
		fed->days = (int)days;
		rc = check_settings(fed);
		if (rc)
			rc = fedc_fail(FEDC_ERR_CONFIG, "%s: %s", path, fedc_last_error());
	}
	fedc_config_free(cfg);
	return rc;
}

enum fedc_err admin__load(const char *dir, struct admin_fed *fed)
{
	char abs[PATH_MAX], path[PATH_MAX];
	enum fedc_err rc;

	memset(fed, 0, sizeof(*fed));
	if (!realpath(dir, abs))
		return fedc_fail(errno == ENOENT ? FEDC_ERR_NOT_FOUND : FEDC_ERR_IO, "federation directory %s: %s", dir,
				 strerror(errno));
	snprintf(fed->dir, sizeof(fed->dir), "%s", abs);
	rc = admin__path(path, fed->dir, "federation.ini");
	if (!rc && !admin__exists(path))
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "%s holds no federation (no federation.ini): run fedc-admin init first",
			       fed->dir);
	if (!rc)
		rc = read_federation_ini(path, fed);
	return rc;
}

/* ---- add ------------------------------------------------------------------- */

static int compare_ids(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* FEDC_ERR_EXISTS if an id is in `ids` twice (sorted on a copy: a list may
 * hold 100000). */
static enum fedc_err check_unique(const char *const *ids, size_t n)
{
	const char **sorted = malloc(n * sizeof(*sorted));
	enum fedc_err rc = sorted ? FEDC_OK : FEDC_ERR_NOMEM;

	if (sorted) {
		memcpy(sorted, ids, n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), compare_ids);
	}
	for (size_t i = 1; !rc && i < n; i++) {
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			rc = fedc_fail(FEDC_ERR_EXISTS, "\"%s\" is given twice; nothing changed", sorted[i]);
	}
	free(sorted);
	return rc;
}

/* Whether `id` may be enrolled: valid, not registered, not revoked on
 * record. */
static enum fedc_err check_new(const struct admin_fed *fed, const struct admin_registry *reg, const char *id)
{
	const struct admin_participant *p;
	enum admin_role was;
	bool revoked = false;
	enum fedc_err rc;

	if (!fedc_id_valid(id))
		return fedc_fail(FEDC_ERR_INVAL, "bad id \"%s\": 1 to %d of A-Z a-z 0-9 . _ -, not starting with '.' or '-'",
				 id, FEDC_MAX_ID_LEN);
	rc = check_id_for_broker(fed, id);
	if (rc)
		return rc;
	if ((p = admin__registry_find(reg, id)) != NULL)
		return fedc_fail(FEDC_ERR_EXISTS, "\"%s\" is already a %s of federation %s; nothing changed", id,
				 admin__role_name(p->role), fed->name);
	rc = admin__revoked_find(fed, id, &revoked, &was);
	if (!rc && revoked)
		rc = fedc_fail(FEDC_ERR_EXISTS, "\"%s\" was a %s of federation %s and is revoked: its record stays "
						"until fedc-admin remove %s %s; nothing changed",
			       id, admin__role_name(was), fed->name, fed->dir, id);
	return rc;
}

/* One participant's bundle, its key in the others' bundles and its
 * registry entry (in memory: saved by the caller, last). */
static enum fedc_err enrol_one(const struct admin_fed *fed, struct admin_registry *reg, enum admin_role role,
			       const char *id, struct admin_secrets *s)
{
	char digest[FEDC_SHA256_HEXLEN + 1];
	enum fedc_err rc;

	rc = admin__bundle_create(fed, reg, role, id, s);
	if (!rc)
		rc = fedc_hash_buffer(FEDC_HASH_SHA256, s->repository_token, strlen(s->repository_token), digest);
	if (!rc)
		rc = admin__bundle_share_key(fed, reg, role, id);
	if (!rc)
		rc = admin__registry_add(reg, role, id, digest);
	return rc;
}

/* Bundles and shared keys, then the broker passwords, the ACL, one flush
 * of the shared keys (admin__link_public), then the registry: the commit. */
static enum fedc_err enrol(const struct admin_fed *fed, struct admin_registry *reg, enum admin_role role,
			   const char *const *ids, size_t n, struct admin_secrets *secrets)
{
	const char **passwords = calloc(n, sizeof(*passwords));
	enum fedc_err rc = passwords ? FEDC_OK : FEDC_ERR_NOMEM;

	for (size_t i = 0; !rc && i < n; i++) {
		rc = enrol_one(fed, reg, role, ids[i], &secrets[i]);
		passwords[i] = secrets[i].broker_password;
	}
	if (!rc)
		rc = admin__broker_set_passwords(fed, ids, passwords, n);
	if (!rc)
		rc = admin__broker_write_acl(fed, reg);
	if (!rc)
		rc = admin__sync(fed->dir);
	if (!rc)
		rc = admin__registry_save(fed, reg);
	free(passwords);
	return rc;
}

enum fedc_err admin__add_many(const struct admin_fed *fed, enum admin_role role, const char *const *ids, size_t n)
{
	struct admin_registry reg = { 0 };
	struct admin_secrets *secrets = NULL;
	enum fedc_err rc;
	int lock = -1;

	if (n == 0)
		return fedc_fail(FEDC_ERR_INVAL, "no id given");
	rc = admin__lock(fed->dir, &lock);
	if (!rc)
		rc = admin__registry_load(fed, &reg);
	for (size_t i = 0; !rc && i < n; i++)
		rc = check_new(fed, &reg, ids[i]);
	if (!rc)
		rc = check_unique(ids, n);
	if (!rc && !(secrets = calloc(n, sizeof(*secrets))))
		rc = FEDC_ERR_NOMEM;
	if (!rc)
		rc = enrol(fed, &reg, role, ids, n, secrets);
	if (secrets)
		OPENSSL_cleanse(secrets, n * sizeof(*secrets));
	free(secrets);
	admin__registry_free(&reg);
	if (lock >= 0)
		close(lock);
	return rc;
}

enum fedc_err admin__add(const struct admin_fed *fed, enum admin_role role, const char *id)
{
	return admin__add_many(fed, role, &id, 1);
}

/* ---- rotate ---------------------------------------------------------------- */

/* The old certificates go on the CRL first: a rotation that dies later is
 * run again and never leaves an old certificate valid. Then the new bundle
 * files, the new key in the other bundles, the password, and the registry
 * with the new token's digest: the commit. */
enum fedc_err admin__rotate(const struct admin_fed *fed, const char *id)
{
	struct admin_registry reg = { 0 };
	struct admin_secrets secrets;
	struct admin_participant *p = NULL;
	char digest[FEDC_SHA256_HEXLEN + 1];
	enum fedc_err rc;
	int lock = -1;

	memset(&secrets, 0, sizeof(secrets));
	if (!fedc_id_valid(id))
		return fedc_fail(FEDC_ERR_INVAL, "bad id \"%s\"", id);
	rc = admin__lock(fed->dir, &lock);
	if (!rc)
		rc = admin__registry_load(fed, &reg);
	if (!rc && !(p = admin__registry_find_mut(&reg, id)))
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "\"%s\" is not a participant of federation %s; nothing changed", id,
			       fed->name);
	if (!rc)
		rc = admin__crl_revoke_certs_of(fed, p->role, id);
	if (!rc)
		rc = admin__bundle_renew(fed, &reg, p->role, id, &secrets);
	if (!rc)
		rc = admin__bundle_share_key(fed, &reg, p->role, id);
	if (!rc)
		rc = admin__broker_set_password(fed, id, secrets.broker_password);
	if (!rc)
		rc = fedc_hash_buffer(FEDC_HASH_SHA256, secrets.repository_token, strlen(secrets.repository_token),
				      digest);
	if (!rc)
		rc = admin__sync(fed->dir); /* the shared key (admin__link_public) */
	if (!rc) {
		snprintf(p->digest, sizeof(p->digest), "%s", digest);
		rc = admin__registry_save(fed, &reg);
	}
	OPENSSL_cleanse(&secrets, sizeof(secrets));
	admin__registry_free(&reg);
	if (lock >= 0)
		close(lock);
	return rc;
}
