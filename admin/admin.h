/* fedc-admin internals: the files of a federation (docs/provisioning.md).
 *
 * Functions return enum fedc_err and record a detail with fedc_fail(); what
 * they hand back through out-parameters belongs to the caller. */
#ifndef FEDC_ADMIN_H
#define FEDC_ADMIN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fedc/buf.h"
#include "fedc/err.h"
#include "fedc/id.h"
#include "fedc/limits.h"

#define ADMIN_DEFAULT_FEDERATION "default"
#define ADMIN_DEFAULT_HOST "127.0.0.1"
#define ADMIN_DEFAULT_BROKER_PORT 8883
#define ADMIN_DEFAULT_REPOSITORY_PORT 8443
#define ADMIN_DEFAULT_DAYS 825
/* The CA lives ten years; no leaf may outlive it. */
#define ADMIN_CA_DAYS 3650
#define ADMIN_MAX_HOST_LEN 253
/* Server-side lists (tokens, passwd) are ours, but read back from disk: cap them. */
#define ADMIN_MAX_LIST_BYTES (16u << 20)
#define ADMIN_MAX_PARTICIPANTS 100000

/* Text fedc-admin builds (configs, PEM, lists read back) is a struct fedc_buf
 * (fedc/buf.h), secret (wiped when let go: it may hold keys and tokens) and
 * capped at ADMIN_MAX_LIST_BYTES: FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES). */

/* ---- files.c ------------------------------------------------------------ */

/* Joins `a` "/" `b` into out[PATH_MAX]; FEDC_ERR_INVAL if too long. */
FEDC_NODISCARD
enum fedc_err admin__path(char *out, const char *a, const char *b);
/* Like fedc_write_atomic() but the file is 0600 from its creation on
 * (fedc_write_atomic leaves 0644), so a secret is never readable by others,
 * not even for an instant. FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err admin__write_secret(const char *path, const void *data, size_t len);
/* Whole file into *out, an empty buffer whose limit becomes `max`
 * (NUL-terminated, caller frees with fedc_buf_free);
 * FEDC_ERR_NOT_FOUND if absent, FEDC_ERR_TOO_BIG past `max`, FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err admin__read_file(const char *path, size_t max, struct fedc_buf *out);
/* Atomic copy of a small public file (0644). */
FEDC_NODISCARD
enum fedc_err admin__copy_public(const char *src, const char *dst);
/* Puts public file `src` at `dst` (replaced atomically) as a hard link of
 * `src`, or where the file system refuses one (another device, too many
 * links) as a copy. Not durable on its own: the caller runs admin__sync(dir)
 * before its commit. Every bundle holds the keys of every other participant
 * (trusted/, peers/): that is N^2 files for N nodes, and one fsync'd copy
 * each took 1.7 s per add-node at N = 100 (docs/provisioning.md). A link
 * costs one directory entry and no fsync. A later atomic replacement of
 * `src` (rotate) gives it a new inode and leaves the links on the old one,
 * so the bundles keep what they were given until shared again. FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err admin__link_public(const char *src, const char *dst);
/* Replaces `path` with `len` bytes (mode `mode` from its creation on) by a
 * temporary file renamed over it, without fsync: for the steps of a command
 * that runs admin__sync before its commit. FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err admin__write_staged(const char *path, const void *data, size_t len, mode_t mode);
/* Flushes everything written to the file system that holds `dir` (syncfs):
 * the one durability point of a fan-out of admin__link_public. FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err admin__sync(const char *dir);
/* Removes a directory tree made by fedc-admin (regular files and
 * directories only); best effort, for cleaning up a failed step. */
void admin__rmtree(const char *path);
/* Takes an exclusive lock on directory `dir` so that two fedc-admin runs
 * never interleave their updates. *fd is closed by the caller to release. */
FEDC_NODISCARD
enum fedc_err admin__lock(const char *dir, int *fd);
/* `nbytes` random bytes as lower-case hex into hex[2*nbytes+1]. FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err admin__random_hex(char *hex, size_t nbytes);
bool admin__exists(const char *path);

/* ---- federation.c ------------------------------------------------------- */

/* The MQTT broker a federation's broker/ directory is written for. */
enum admin_broker { ADMIN_BROKER_MOSQUITTO, ADMIN_BROKER_RABBITMQ };

struct admin_fed {
	char dir[PATH_MAX]; /* absolute */
	char name[FEDC_MAX_FED_LEN + 1];
	char host[ADMIN_MAX_HOST_LEN + 1];
	int broker_port, repository_port, days;
	enum admin_broker broker; /* federation.ini's broker; mosquitto if absent */
};

enum admin_role { ADMIN_ROLE_NODE, ADMIN_ROLE_RESEARCHER };

/* "node" or "researcher". */
const char *admin__role_name(enum admin_role role);
/* Ids and federation names follow fedc_id_valid() (fedc/id.h). */
/* A host name or IP address for URLs, SANs and the broker's listener. */
bool admin__host_valid(const char *s);
/* True (and family in *v6) if `s` is an IPv4 or IPv6 address. */
bool admin__host_is_ip(const char *s, bool *v6);

/* Creates the federation in fed->dir (made absolute here). FEDC_ERR_EXISTS if
 * it already holds a federation.ini, FEDC_ERR_INVAL, FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err admin__init(struct admin_fed *fed);
/* Reads DIR/federation.ini into *fed. FEDC_ERR_NOT_FOUND, FEDC_ERR_CONFIG. */
FEDC_NODISCARD
enum fedc_err admin__load(const char *dir, struct admin_fed *fed);
/* Adds a participant: its bundle, passwd, acl, tokens, trusted and peer keys.
 * FEDC_ERR_EXISTS if the id is taken, FEDC_ERR_IO, ... */
FEDC_NODISCARD
enum fedc_err admin__add(const struct admin_fed *fed, enum admin_role role, const char *id);
/* Adds `n` participants of one role as one change: every id is checked
 * first (FEDC_ERR_INVAL, FEDC_ERR_EXISTS, also for an id given twice, and
 * nothing is changed then), then the bundles are made and the keys shared,
 * and passwd, acl and the registry (the commit) are each written once, so
 * enrolling N nodes costs O(N) file rewrites, not O(N^2). A crash before
 * the commit leaves bundles that are not registered: remove them and run
 * it again (the message of the rerun names them). */
FEDC_NODISCARD
enum fedc_err admin__add_many(const struct admin_fed *fed, enum admin_role role, const char *const *ids, size_t n);
/* Gives participant `id` a new TLS key and certificate (the old one goes on
 * the CRL), broker password, repository token and signing key; rewrites
 * those files of its bundle (node.ini, trusted/, peers/ and data stay) and
 * shares the new public key. FEDC_ERR_NOT_FOUND if `id` is not enrolled. */
FEDC_NODISCARD
enum fedc_err admin__rotate(const struct admin_fed *fed, const char *id);
/* Revokes participant `id`: its certificates go on the CRL, its passwd
 * line, ACL block and token go, its public key leaves the other bundles'
 * trusted/ (and, for a node, the other nodes' peers/). `remove` also deletes its bundle, DIR/keys/ID.pub and
 * DIR/certs/ID.pem and keeps no record; without it DIR/revoked records it
 * (its id cannot be enrolled again until removed). FEDC_ERR_NOT_FOUND. */
FEDC_NODISCARD
enum fedc_err admin__revoke(const struct admin_fed *fed, const char *id, bool remove);

/* ---- registry.c: the tokens file, the list of participants --------------- */

struct admin_participant {
	enum admin_role role;
	char id[FEDC_MAX_ID_LEN + 1];
	char digest[65]; /* SHA-256 hex of the repository token */
};

struct admin_registry {
	struct admin_participant *v; /* n entries, kept in mem */
	size_t n;
	struct fedc_buf mem;         /* capped at ADMIN_MAX_PARTICIPANTS entries */
};

/* Reads DIR/repository/tokens (an absent file is an empty registry).
 * FEDC_ERR_MALFORMED names the line. Free with admin__registry_free. */
FEDC_NODISCARD
enum fedc_err admin__registry_load(const struct admin_fed *fed, struct admin_registry *reg);
void admin__registry_free(struct admin_registry *reg);
/* Adds to a registry from admin__registry_load: FEDC_ERR_TOO_BIG past
 * ADMIN_MAX_PARTICIPANTS, FEDC_ERR_NOMEM. */
const struct admin_participant *admin__registry_find(const struct admin_registry *reg, const char *id);
/* The same, to change the entry in place. */
struct admin_participant *admin__registry_find_mut(struct admin_registry *reg, const char *id);
FEDC_NODISCARD
enum fedc_err admin__registry_add(struct admin_registry *reg, enum admin_role role, const char *id,
				  const char *digest);
/* Rewrites DIR/repository/tokens from `reg`. */
FEDC_NODISCARD
enum fedc_err admin__registry_save(const struct admin_fed *fed, const struct admin_registry *reg);

/* Drops `id` from the registry (no-op if absent). */
void admin__registry_remove(struct admin_registry *reg, const char *id);

/* ---- revoke.c: revoked certificates, the CRL, revoked participants ------- */

/* Puts the certificates of `id` that DIR knows (DIR/certs/ID.pem and its
 * bundle's client.pem) on DIR/ca/revoked and rewrites DIR/ca/crl.pem.
 * Prints a warning if it finds none. */
FEDC_NODISCARD
enum fedc_err admin__crl_revoke_certs_of(const struct admin_fed *fed, enum admin_role role, const char *id);
/* Writes DIR/ca/crl.pem from DIR/ca/revoked (absent: an empty CRL), signed
 * by the CA, valid as long as the CA. */
FEDC_NODISCARD
enum fedc_err admin__crl_write(const struct admin_fed *fed);
/* True (and the role in *role) if DIR/revoked records `id`. */
FEDC_NODISCARD
enum fedc_err admin__revoked_find(const struct admin_fed *fed, const char *id, bool *found, enum admin_role *role);
/* "ROLE ID (revoked)" per record of DIR/revoked, to `out`. */
FEDC_NODISCARD
enum fedc_err admin__revoked_print(const struct admin_fed *fed, FILE *out);

/* ---- broker.c: the broker's files, for whichever broker fed->broker names ---- */

/* "mosquitto" or "rabbitmq". */
const char *admin__broker_name(enum admin_broker broker);
/* Parses a broker name; false if unknown. */
bool admin__broker_parse(const char *name, enum admin_broker *out);
/* The files of a new federation's broker with no participant:
 * mosquitto.conf, passwd and acl; or rabbitmq.conf, enabled_plugins, users
 * and definitions.json. */
FEDC_NODISCARD
enum fedc_err admin__broker_init_files(const struct admin_fed *fed);
/* Writes DIR/broker/mosquitto.conf. */
FEDC_NODISCARD
enum fedc_err admin__broker_write_conf(const struct admin_fed *fed);
/* The absolute path of fedc_broker_plugin.so: $FEDC_BROKER_PLUGIN, or
 * ../lib/fedc/ from fedc-admin's own directory (build tree and install
 * alike). FEDC_ERR_NOT_FOUND naming where it looked. */
FEDC_NODISCARD
enum fedc_err admin__broker_plugin_path(char *out, size_t cap);
/* Sets the passwd entry of `id` (replacing any earlier line of that user);
 * for RabbitMQ its users line, and definitions.json from the registry on disk. */
FEDC_NODISCARD
enum fedc_err admin__broker_set_password(const struct admin_fed *fed, const char *id, const char *password);
/* The same for `n` users in one rewrite of the file (add-nodes). */
FEDC_NODISCARD
enum fedc_err admin__broker_set_passwords(const struct admin_fed *fed, const char *const *ids,
					  const char *const *passwords, size_t n);
/* Removes the passwd (or users) entry of `id` (none: no change). */
FEDC_NODISCARD
enum fedc_err admin__broker_drop_password(const struct admin_fed *fed, const char *id);
/* Regenerates DIR/broker/acl (RabbitMQ: definitions.json) from the registry. */
FEDC_NODISCARD
enum fedc_err admin__broker_write_acl(const struct admin_fed *fed, const struct admin_registry *reg);
/* One mosquitto 2.0 password-file line "id:$7$101$salt$hash\n" into *out. */
FEDC_NODISCARD
enum fedc_err admin__broker_passwd_line(const char *id, const char *password, struct fedc_buf *out);

/* ---- broker_rabbitmq.c: RabbitMQ 3.10's MQTT plugin -------------------------- */

/* Bytes of a rabbit_password_hashing_sha256 hash in base64. */
#define ADMIN_RABBIT_HASH_B64 48
/* base64(salt || SHA-256(salt || password)) with a random 4-byte salt: the
 * password_hash RabbitMQ's definitions take with rabbit_password_hashing_sha256. */
FEDC_NODISCARD
enum fedc_err admin__rabbit_hash(const char *password, char out[ADMIN_RABBIT_HASH_B64 + 1]);
/* DIR/broker/rabbitmq.conf, DIR/broker/advanced.config (the TLS options,
 * with the CRL) and DIR/broker/enabled_plugins. FEDC_ERR_INVAL if DIR holds
 * '"' or '\\' (advanced.config names files in Erlang strings). */
FEDC_NODISCARD
enum fedc_err admin__rabbit_write_conf(const struct admin_fed *fed);
/* Copies the CRL (`pem`, signed by `ca_cert`) to DIR/broker/crls/HASH.r0,
 * HASH being OpenSSL's hash of the CA's name: the directory Erlang's
 * ssl_crl_hash_dir reads at every TLS handshake. */
FEDC_NODISCARD
enum fedc_err admin__rabbit_write_crl(const struct admin_fed *fed, X509 *ca_cert, const struct fedc_buf *pem);
/* Replaces the DIR/broker/users line of `id` by a hash of `password` (NULL:
 * drops it), then rewrites definitions.json from the registry on disk. */
FEDC_NODISCARD
enum fedc_err admin__rabbit_set_password(const struct admin_fed *fed, const char *id, const char *password);
/* DIR/broker/definitions.json (0600: it holds password hashes): the vhost
 * named after the federation, and for each participant of `reg` with a line
 * in DIR/broker/users its user, permissions and topic permissions. */
FEDC_NODISCARD
enum fedc_err admin__rabbit_write_definitions(const struct admin_fed *fed, const struct admin_registry *reg);

/* ---- repository.c ------------------------------------------------------- */

FEDC_NODISCARD
enum fedc_err admin__repository_write_ini(const struct admin_fed *fed);

/* ---- s3_policy.c ---------------------------------------------------------- */

/* Appends to `out` the bucket policy (JSON) that gives the participants of
 * `reg`, as S3 users named by their ids, the repository's access to bucket
 * `bucket` (docs/repository.md, "S3 backend"). FEDC_ERR_INVAL (bucket name),
 * FEDC_ERR_NOT_FOUND (no participants), FEDC_ERR_NOMEM, FEDC_ERR_TOO_BIG. */
FEDC_NODISCARD
enum fedc_err admin__s3_policy(const struct admin_registry *reg, const char *bucket, struct fedc_buf *out);

/* ---- pki.c ------------------------------------------------------------------ */

enum admin_cert_kind { ADMIN_CERT_SERVER, ADMIN_CERT_CLIENT };

struct admin_cert_req {
	enum admin_cert_kind kind;
	const char *cn;
	const char *org;  /* the federation name */
	const char *unit; /* role of a client ("node", "researcher"), or NULL */
	const char *host; /* extra SAN of a server certificate, or NULL */
	int days;
};

/* A fresh self-signed CA (EC P-256, ADMIN_CA_DAYS). Caller frees both. */
FEDC_NODISCARD
enum fedc_err admin__pki_make_ca(const char *org, EVP_PKEY **key, X509 **cert);
/* A fresh EC P-256 key and its certificate signed by the CA. */
FEDC_NODISCARD
enum fedc_err admin__pki_issue(EVP_PKEY *ca_key, X509 *ca_cert, const struct admin_cert_req *req,
			       EVP_PKEY **key, X509 **cert);
FEDC_NODISCARD
enum fedc_err admin__pki_ed25519(EVP_PKEY **key);
/* Loads DIR/ca/ca.key and DIR/ca/ca.pem. */
FEDC_NODISCARD
enum fedc_err admin__pki_load_ca(const struct admin_fed *fed, EVP_PKEY **key, X509 **cert);
/* PEM text: certificate, private key (PKCS#8, unencrypted), public key (SPKI). */
FEDC_NODISCARD
enum fedc_err admin__pem_cert(X509 *cert, struct fedc_buf *out);
FEDC_NODISCARD
enum fedc_err admin__pem_key(EVP_PKEY *key, struct fedc_buf *out);
FEDC_NODISCARD
enum fedc_err admin__pem_pub(EVP_PKEY *key, struct fedc_buf *out);
/* The serial of the certificate in PEM file `path` as upper-case hex into
 * out[cap]. FEDC_ERR_NOT_FOUND if absent, FEDC_ERR_MALFORMED. */
FEDC_NODISCARD
enum fedc_err admin__pki_serial_of(const char *path, char *out, size_t cap);
/* A CRL signed by the CA listing `serials` (n upper-case hex serials, with
 * their revocation times in unix seconds), as PEM into *out. */
FEDC_NODISCARD
enum fedc_err admin__pki_crl(EVP_PKEY *ca_key, X509 *ca_cert, const char *const *serials, const long *times,
			     size_t n, struct fedc_buf *out);
/* Records the OpenSSL error queue's first entry with `what`; returns `code`. */
FEDC_NODISCARD
enum fedc_err admin__ssl_fail(enum fedc_err code, const char *what);

/* ---- bundle.c ------------------------------------------------------------------ */

struct admin_secrets {
	char broker_password[65];
	char repository_token[65];
};

/* Builds the bundle of `id` under DIR/nodes/ or DIR/researchers/ (staged, then
 * renamed into place) and hands back its secrets for the server side.
 * trusted/ gets the keys of every participant of the other role in `reg`; a
 * node's bundle also gets peers/ with the keys of every other node in `reg`
 * (never in trusted/: a node must not obey another node). */
FEDC_NODISCARD
enum fedc_err admin__bundle_create(const struct admin_fed *fed, const struct admin_registry *reg,
				   enum admin_role role, const char *id, struct admin_secrets *secrets);
/* Like admin__bundle_create, but for an enrolled participant: if its bundle
 * exists, only its credential files (client.pem, client.key,
 * broker.password, repository.token, signing.key, signing.pub) are replaced,
 * each atomically; its ini, trusted/, peers/ and data stay. */
FEDC_NODISCARD
enum fedc_err admin__bundle_renew(const struct admin_fed *fed, const struct admin_registry *reg,
				  enum admin_role role, const char *id, struct admin_secrets *secrets);
/* Deletes trusted/ID.pub from every bundle of the other role and, if `role`
 * is a node, peers/ID.pub from every other node's bundle. A bundle that is
 * gone gets a warning on stderr naming what to delete by hand. */
FEDC_NODISCARD
enum fedc_err admin__bundle_unshare_key(const struct admin_fed *fed, const struct admin_registry *reg,
					enum admin_role role, const char *id);
/* Copies DIR/keys/ID.pub into trusted/ of every participant of the other
 * role and, if `role` is a node, into peers/ of every other node (`id`
 * itself may be in `reg`: it is skipped). A bundle that is gone gets a
 * warning on stderr naming the key to deliver by hand. */
FEDC_NODISCARD
enum fedc_err admin__bundle_share_key(const struct admin_fed *fed, const struct admin_registry *reg,
				      enum admin_role role, const char *id);
/* "DIR/nodes/ID" or "DIR/researchers/ID". */
FEDC_NODISCARD
enum fedc_err admin__bundle_dir(const struct admin_fed *fed, enum admin_role role, const char *id, char *out);

#endif
