/* The broker's side of a federation: mosquitto.conf, the password file and
 * the ACL (docs/provisioning.md). Written for mosquitto 2.0 (Debian 2.0.11).
 * A federation made with `init --broker rabbitmq` gets RabbitMQ's files
 * instead (broker_rabbitmq.c): the admin__broker_* functions below that
 * change credentials or permissions serve both.
 *
 * The password file uses mosquitto 2.0's own format, so that no
 * mosquitto_passwd run is needed: "user:$7$ITER$SALT$HASH", where HASH is
 * PBKDF2-HMAC-SHA512(password, SALT, ITER) of 64 bytes and SALT 12 random
 * bytes, both in standard base64 (mosquitto's password_mosq.c, pw__hash()
 * with pw_sha512_pbkdf2 = 7, SALT_LEN 12, PW_DEFAULT_ITERATIONS 101). */
#include "admin.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "fedc/fs.h"
#include "fedc/limits.h"
#include "fedc/sign.h"

#define PW_SALT_LEN 12
#define PW_HASH_LEN 64
/* mosquitto_passwd's default: the passwords are 256-bit random strings, so
 * brute force is out of reach whatever the count. */
#define PW_ITERATIONS 101

enum fedc_err admin__broker_passwd_line(const char *id, const char *password, struct fedc_buf *out)
{
	unsigned char salt[PW_SALT_LEN], hash[PW_HASH_LEN];
	char salt64[4 * ((PW_SALT_LEN + 2) / 3) + 1], hash64[4 * ((PW_HASH_LEN + 2) / 3) + 1];
	enum fedc_err rc;

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return admin__ssl_fail(FEDC_ERR_IO, "random salt");
	if (!PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof(salt), PW_ITERATIONS, EVP_sha512(),
			       sizeof(hash), hash))
		return admin__ssl_fail(FEDC_ERR_IO, "PBKDF2");
	EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)hash64, hash, sizeof(hash));
	rc = fedc_buf_printf(out, "%s:$7$%d$%s$%s\n", id, PW_ITERATIONS, salt64, hash64);
	OPENSSL_cleanse(hash, sizeof(hash));
	return rc;
}

/* True if `line` is the entry of user `id` ("id:..."). */
static bool line_is_user(const char *line, size_t len, const char *id)
{
	size_t n = strlen(id);

	return len > n && line[n] == ':' && !memcmp(line, id, n);
}

static bool line_is_one_of(const char *line, size_t len, const char *const *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (line_is_user(line, len, ids[i]))
			return true;
	}
	return false;
}

/* Keeps every other user's line verbatim: a retried add-* after a crash
 * must not leave two lines for one user. A NULL `passwords` drops the
 * users' lines. One rewrite for all `n` users (add-nodes). */
static enum fedc_err replace_passwords(const struct admin_fed *fed, const char *const *ids,
				       const char *const *passwords, size_t n)
{
	struct fedc_buf old = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES),
			out = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	char path[PATH_MAX];
	enum fedc_err rc;

	rc = admin__path(path, fed->dir, "broker/passwd");
	if (!rc) {
		rc = admin__read_file(path, ADMIN_MAX_LIST_BYTES, &old);
		if (rc == FEDC_ERR_NOT_FOUND)
			rc = FEDC_OK;
	}
	for (const char *p = old.data; !rc && p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len > 0 && !line_is_one_of(p, len, ids, n)) {
			rc = fedc_buf_append(&out, p, len);
			if (!rc)
				rc = fedc_buf_append(&out, "\n", 1);
		}
		p += nl ? len + 1 : len;
	}
	for (size_t i = 0; !rc && passwords && i < n; i++)
		rc = admin__broker_passwd_line(ids[i], passwords[i], &out);
	if (!rc)
		rc = admin__write_secret(path, out.data ? out.data : "", out.len);
	fedc_buf_free(&old);
	fedc_buf_free(&out);
	return rc;
}

enum fedc_err admin__broker_set_password(const struct admin_fed *fed, const char *id, const char *password)
{
	return admin__broker_set_passwords(fed, &id, &password, 1);
}

/* RabbitMQ's users file is rewritten per user: add-nodes on RabbitMQ stays
 * O(N^2) in file writes, which its test sizes afford. */
enum fedc_err admin__broker_set_passwords(const struct admin_fed *fed, const char *const *ids,
					  const char *const *passwords, size_t n)
{
	enum fedc_err rc = FEDC_OK;

	if (fed->broker != ADMIN_BROKER_RABBITMQ)
		return replace_passwords(fed, ids, passwords, n);
	for (size_t i = 0; !rc && i < n; i++)
		rc = admin__rabbit_set_password(fed, ids[i], passwords[i]);
	return rc;
}

enum fedc_err admin__broker_drop_password(const struct admin_fed *fed, const char *id)
{
	if (fed->broker == ADMIN_BROKER_RABBITMQ)
		return admin__rabbit_set_password(fed, id, NULL);
	return replace_passwords(fed, &id, NULL, 1);
}

const char *admin__broker_name(enum admin_broker broker)
{
	return broker == ADMIN_BROKER_RABBITMQ ? "rabbitmq" : "mosquitto";
}

bool admin__broker_parse(const char *name, enum admin_broker *out)
{
	if (!strcmp(name, "mosquitto"))
		*out = ADMIN_BROKER_MOSQUITTO;
	else if (!strcmp(name, "rabbitmq"))
		*out = ADMIN_BROKER_RABBITMQ;
	else
		return false;
	return true;
}

/* The topics of docs/protocol.md, each participant confined to its own. */
static enum fedc_err acl_block(struct fedc_buf *b, const char *fed, const struct admin_participant *p)
{
	const char *id = p->id;

	if (p->role == ADMIN_ROLE_NODE)
		return fedc_buf_printf(b,
					 "# node %s\nuser %s\n"
					 "topic read fedc/%s/nodes\n"
					 "topic read fedc/%s/node/%s\n"
					 "topic write fedc/%s/researcher/+\n"
					 "topic write fedc/%s/status/%s\n\n",
					 id, id, fed, fed, id, fed, fed, id);
	return fedc_buf_printf(b,
				 "# researcher %s\nuser %s\n"
				 "topic write fedc/%s/nodes\n"
				 "topic write fedc/%s/node/+\n"
				 "topic read fedc/%s/researcher/%s\n"
				 "topic read fedc/%s/status/+\n\n",
				 id, id, fed, fed, fed, id, fed);
}

enum fedc_err admin__broker_write_acl(const struct admin_fed *fed, const struct admin_registry *reg)
{
	struct fedc_buf b = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	char path[PATH_MAX];
	enum fedc_err rc;

	if (fed->broker == ADMIN_BROKER_RABBITMQ)
		return admin__rabbit_write_definitions(fed, reg);
	rc = fedc_buf_printf(&b,
			       "# mosquitto ACL of federation %s, generated by fedc-admin from\n"
			       "# repository/tokens on every add, revoke and remove: do not edit.\n"
			       "# A user without a block below may do nothing.\n\n",
			       fed->name);
	for (size_t i = 0; !rc && i < reg->n; i++)
		rc = acl_block(&b, fed->name, &reg->v[i]);
	if (!rc)
		rc = admin__path(path, fed->dir, "broker/acl");
	if (!rc)
		rc = fedc_write_atomic(path, b.data, b.len);
	fedc_buf_free(&b);
	return rc;
}

/* mosquitto started as root drops to the `user` of its configuration
 * ("mosquitto" by default) BEFORE it reads the password file, and reads it
 * again on SIGHUP: that user must be able to read this directory's 0600
 * files, so it is the user who made them. Started by that user itself,
 * mosquitto ignores the line. */
static enum fedc_err user_line(struct fedc_buf *b)
{
	struct passwd *pw = getpwuid(geteuid());

	if (!pw || !fedc_id_valid(pw->pw_name))
		return fedc_buf_printf(b, "# no user name for uid %u: run mosquitto as that uid\n",
					 (unsigned)geteuid());
	return fedc_buf_printf(b,
				 "# Owner of these files: mosquitto started as root becomes this user before\n"
				 "# it reads passwd (and again on SIGHUP); it must be able to read them.\n"
				 "user %s\n",
				 pw->pw_name);
}

/* The largest MQTT packet of the protocol: one signed message (envelope) at its cap, its topic
 * at its cap, and the fixed header and properties. The broker drops a client
 * that sends more (mosquitto's max_packet_size). */
#define BROKER_MAX_PACKET (FEDC_ENVELOPE_MAX_BYTES + FEDC_MAX_TOPIC_LEN + 64)

/* Messages mosquitto queues for one client: two per participant the
 * federation may hold (a status and a reply each). */
#define BROKER_MAX_QUEUED (2u * ADMIN_MAX_PARTICIPANTS)

enum fedc_err admin__broker_plugin_path(char *out, size_t cap)
{
	char exe[PATH_MAX], guess[PATH_MAX + 64];
	const char *env = getenv("FEDC_BROKER_PLUGIN");
	ssize_t n;

	if (env && env[0]) {
		snprintf(guess, sizeof(guess), "%s", env);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0)
			return fedc_fail(FEDC_ERR_IO, "cannot find fedc-admin's own path: %s", strerror(errno));
		exe[n] = '\0';
		snprintf(guess, sizeof(guess), "%s/../lib/fedc/fedc_broker_plugin.so", dirname(exe));
	}
	if (!realpath(guess, out) || strlen(out) >= cap)
		return fedc_fail(FEDC_ERR_NOT_FOUND,
				 "the broker plugin is not at %s (build or install fedc_broker_plugin, or name it "
				 "in FEDC_BROKER_PLUGIN)",
				 guess);
	if (strpbrk(out, " \t\n"))
		return fedc_fail(FEDC_ERR_CONFIG, "the broker plugin's path %s holds blanks (mosquitto.conf splits "
				 "lines at blanks)", out);
	return FEDC_OK;
}

enum fedc_err admin__broker_write_conf(const struct admin_fed *fed)
{
	const char *d = fed->dir;
	struct fedc_buf b = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	char path[PATH_MAX], plugin[PATH_MAX];
	enum fedc_err rc;

	rc = admin__broker_plugin_path(plugin, sizeof(plugin));
	if (!rc)
		rc = fedc_buf_printf(&b,
		"# mosquitto 2.0 configuration of federation %s, written by fedc-admin init.\n"
		"# Start: mosquitto -c %s/broker/mosquitto.conf\n"
		"# After fedc-admin add-node/add-researcher/rotate/revoke/remove, send SIGHUP\n"
		"# to reload passwd, acl and the CRL (docs/provisioning.md).\n\n",
		fed->name, d);
	if (!rc)
		rc = user_line(&b);
	if (!rc)
		rc = fedc_buf_printf(&b,
		"per_listener_settings false\n"
		"allow_anonymous false\n"
		"password_file %s/broker/passwd\n"
		"acl_file %s/broker/acl\n"
		"# Binds client ids to user names and retained messages to their owner's\n"
		"# status topic (docs/security.md).\n"
		"plugin %s\n"
		"# The protocol's largest signed message, its topic and headers.\n"
		"max_packet_size %u\n"
		"persistence false\n"
		"# Small MQTT messages: without this a request/reply waits on Nagle.\n"
		"set_tcp_nodelay true\n"
		"# A researcher gets every node's retained status when it subscribes and a\n"
		"# reply from each node to a search: two messages per node in one burst.\n"
		"# mosquitto's default queue (1000 per client) drops the rest silently.\n"
		"max_queued_messages %u\n"
		"# And at most this many bytes queued for one client, as the clients' own\n"
		"# receive queues: with parameters inline up to 8 MiB a message, the count\n"
		"# alone would let one client's queue grow to gigabytes.\n"
		"max_queued_bytes %u\n"
		"# No cap on connections: each node holds one (the descriptor limit is the\n"
		"# service's: LimitNOFILE=, docs/deployment.md).\n"
		"max_connections -1\n\n"
		"log_dest stderr\n"
		"log_type error\n"
		"log_type warning\n"
		"log_type notice\n"
		"log_type information\n"
		"log_timestamp true\n"
		"connection_messages true\n\n"
		"listener %d %s\n"
		"cafile %s/ca/ca.pem\n"
		"# Revoked client certificates (fedc-admin rotate, revoke, remove).\n"
		"crlfile %s/ca/crl.pem\n"
		"certfile %s/broker/server.pem\n"
		"keyfile %s/broker/server.key\n"
		"require_certificate true\n"
		"use_identity_as_username false\n"
		"tls_version tlsv1.2\n",
		d, d, plugin, (unsigned)BROKER_MAX_PACKET, (unsigned)BROKER_MAX_QUEUED, (unsigned)FEDC_MQTT_QUEUE_MAX_BYTES,
		fed->broker_port, fed->host, d, d, d, d);
	if (!rc)
		rc = admin__path(path, d, "broker/mosquitto.conf");
	if (!rc)
		rc = fedc_write_atomic(path, b.data, b.len);
	fedc_buf_free(&b);
	return rc;
}

enum fedc_err admin__broker_init_files(const struct admin_fed *fed)
{
	struct admin_registry empty = { 0 };
	char path[PATH_MAX];
	enum fedc_err rc;

	if (fed->broker == ADMIN_BROKER_RABBITMQ) {
		rc = admin__rabbit_write_conf(fed);
		if (!rc)
			rc = admin__path(path, fed->dir, "broker/users");
	} else {
		rc = admin__broker_write_conf(fed);
		if (!rc)
			rc = admin__path(path, fed->dir, "broker/passwd");
	}
	if (!rc)
		rc = admin__write_secret(path, "", 0);
	if (!rc)
		rc = admin__broker_write_acl(fed, &empty);
	return rc;
}
