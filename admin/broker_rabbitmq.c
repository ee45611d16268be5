/* The broker's side of a federation whose broker is RabbitMQ's MQTT plugin
 * (fedc-admin init --broker rabbitmq; docs/deployment.md, "Clustered broker:
 * RabbitMQ"). Written for RabbitMQ 3.10 (Debian 3.10.8):
 *
 *   DIR/broker/rabbitmq.conf     the node's configuration (RABBITMQ_CONFIG_FILE)
 *   DIR/broker/advanced.config   the TLS options, with the CRL (RABBITMQ_ADVANCED_CONFIG_FILE)
 *   DIR/broker/crls/HASH.r0      the CRL, where Erlang's ssl_crl_hash_dir finds it
 *   DIR/broker/enabled_plugins   "[rabbitmq_mqtt]." (RABBITMQ_ENABLED_PLUGINS_FILE)
 *   DIR/broker/definitions.json  users, the vhost, permissions and topic
 *                                permissions; loaded at boot and by
 *                                `rabbitmqctl import_definitions`
 *   DIR/broker/users             "ID HASH" per participant (0600): the hashes
 *                                definitions.json is regenerated from, since
 *                                fedc-admin keeps no password
 *
 * How the Mosquitto ACL maps onto RabbitMQ (the tests check both brokers
 * refuse the same things): the MQTT plugin turns a topic into an AMQP routing
 * key on the amq.topic exchange by replacing '/' with '.' and '+' with '*'
 * (rabbit_mqtt_util:to_amqp/1, 3.10), and checks every publish (write) and
 * subscribe (read, with the subscription's pattern as key) against the
 * user's topic permission regexes. A user with no topic permission on an
 * exchange may do anything there, so every user gets one. The plugin does
 * not turn '.' into anything: an id or federation name holding '.' would
 * become two levels and come back to subscribers with '/' in its place, so
 * such names are refused in a RabbitMQ federation (federation.c).
 *
 * Each client also declares, binds and consumes its own subscription queues
 * "mqtt-subscription-<client id>qos0|1": the ordinary permissions allow the
 * queues of the client ids the user owns ("ID" and "ID:...", the Mosquitto
 * plugin's rule) and amq.topic, nothing else. */
#include "admin.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "fedc/fs.h"
#include "fedc/sign.h"

/* rabbit_password_hashing_sha256: base64(salt || SHA-256(salt || password)),
 * with a 4-byte salt (rabbit_password:hash/2). One round is enough for
 * passwords that are 256-bit random strings. */
#define RABBIT_SALT_LEN 4
#define RABBIT_HASH_RAW (RABBIT_SALT_LEN + 32)
#define RABBIT_HASH_B64 ADMIN_RABBIT_HASH_B64
_Static_assert(RABBIT_HASH_B64 == 4 * ((RABBIT_HASH_RAW + 2) / 3), "base64 of salt and SHA-256");

/* The largest message of the protocol, as for mosquitto's max_packet_size
 * (broker.c); RabbitMQ 3.10 caps the body only (max_message_size). */
#define RABBIT_MAX_MESSAGE (FEDC_ENVELOPE_MAX_BYTES + 1024)

enum fedc_err admin__rabbit_hash(const char *password, char out[RABBIT_HASH_B64 + 1])
{
	unsigned char raw[RABBIT_HASH_RAW];
	unsigned int len = 32;
	EVP_MD_CTX *ctx = NULL;
	enum fedc_err rc = FEDC_OK;

	if (RAND_bytes(raw, RABBIT_SALT_LEN) != 1)
		return admin__ssl_fail(FEDC_ERR_IO, "random salt");
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, raw, RABBIT_SALT_LEN) != 1 ||
	    EVP_DigestUpdate(ctx, password, strlen(password)) != 1 ||
	    EVP_DigestFinal_ex(ctx, raw + RABBIT_SALT_LEN, &len) != 1)
		rc = admin__ssl_fail(FEDC_ERR_IO, "SHA-256");
	if (!rc)
		EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw));
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

/* ---- the users file ------------------------------------------------------- */

/* DIR/broker/users into *text ("ID HASH" lines; an absent file is empty). */
static enum fedc_err read_users(const struct admin_fed *fed, struct fedc_buf *text)
{
	char path[PATH_MAX];
	enum fedc_err rc = admin__path(path, fed->dir, "broker/users");

	if (!rc)
		rc = admin__read_file(path, ADMIN_MAX_LIST_BYTES, text);
	if (rc == FEDC_ERR_NOT_FOUND) {
		fedc_clear_error();
		rc = fedc_buf_append(text, "", 0);
	}
	return rc;
}

/* The hash of `id` in the users text, copied into out[RABBIT_HASH_B64 + 1];
 * FEDC_ERR_NOT_FOUND if the user has no line. */
static enum fedc_err find_hash(const char *users, const char *id, char *out)
{
	size_t n = strlen(id);

	for (const char *p = users; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len == n + 1 + RABBIT_HASH_B64 && p[n] == ' ' && !memcmp(p, id, n)) {
			memcpy(out, p + n + 1, RABBIT_HASH_B64);
			out[RABBIT_HASH_B64] = '\0';
			return FEDC_OK;
		}
		p += nl ? len + 1 : len;
	}
	return FEDC_ERR_NOT_FOUND;
}

/* Rewrites DIR/broker/users with every other user's line and, if `password`
 * is given, a fresh hash of it for `id`. */
static enum fedc_err replace_user(const struct admin_fed *fed, const char *id, const char *password)
{
	struct fedc_buf old = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES),
			out = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	char path[PATH_MAX], hash[RABBIT_HASH_B64 + 1];
	size_t n = strlen(id);
	enum fedc_err rc = read_users(fed, &old);

	for (const char *p = old.data; !rc && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len > 0 && !(len > n && p[n] == ' ' && !memcmp(p, id, n)))
			rc = fedc_buf_printf(&out, "%.*s\n", (int)len, p);
		p += nl ? len + 1 : len;
	}
	if (!rc && password) {
		rc = admin__rabbit_hash(password, hash);
		if (!rc)
			rc = fedc_buf_printf(&out, "%s %s\n", id, hash);
	}
	if (!rc)
		rc = admin__path(path, fed->dir, "broker/users");
	if (!rc)
		rc = admin__write_secret(path, out.data ? out.data : "", out.len);
	OPENSSL_cleanse(hash, sizeof(hash));
	fedc_buf_free(&old);
	fedc_buf_free(&out);
	return rc;
}

/* ---- definitions.json ------------------------------------------------------ */

/* `s`, an id or federation name (fedc_id_valid: A-Z a-z 0-9 . _ -), as a
 * literal inside a PCRE inside a JSON string: '.' (refused in a RabbitMQ
 * federation, escaped all the same) is written \\. (read from JSON: \.), the
 * others stand for themselves. */
static enum fedc_err append_literal(struct fedc_buf *b, const char *s)
{
	enum fedc_err rc = FEDC_OK;

	for (; !rc && *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
			     c == '-';

		rc = plain ? fedc_buf_append(b, s, 1) : fedc_buf_printf(b, "\\\\%c", c);
	}
	return rc;
}

/* "(id1|id2|...)" of the participants of `reg` in `role`, each literal. */
static enum fedc_err append_ids(struct fedc_buf *b, const struct admin_registry *reg, enum admin_role role)
{
	enum fedc_err rc = fedc_buf_append(b, "(", 1);
	bool first = true;

	for (size_t i = 0; !rc && i < reg->n; i++) {
		if (reg->v[i].role != role)
			continue;
		rc = first ? FEDC_OK : fedc_buf_append(b, "|", 1);
		if (!rc)
			rc = append_literal(b, reg->v[i].id);
		first = false;
	}
	return rc ? rc : fedc_buf_append(b, ")", 1);
}

/* Appends `fmt` with each '@' replaced by the literal `fed`, each '%' by the
 * literal `id` (both through append_literal) and each '~' by the ids of
 * `reg` in role `others` (append_ids; `reg` may be NULL if `fmt` has no
 * '~'). The fixed parts of the patterns are written with JSON's doubled
 * backslashes. */
static enum fedc_err append_pattern(struct fedc_buf *b, const char *fmt, const char *fed, const char *id,
				    const struct admin_registry *reg, enum admin_role others)
{
	enum fedc_err rc = FEDC_OK;

	for (const char *p = fmt; !rc && *p; p++) {
		if (*p == '@')
			rc = append_literal(b, fed);
		else if (*p == '%')
			rc = append_literal(b, id);
		else if (*p == '~')
			rc = append_ids(b, reg, others);
		else
			rc = fedc_buf_append(b, p, 1);
	}
	return rc;
}

static bool has_role(const struct admin_registry *reg, enum admin_role role)
{
	for (size_t i = 0; i < reg->n; i++)
		if (reg->v[i].role == role)
			return true;
	return false;
}

/* The queues of the client ids user @ owns ("@" and "@:..."). */
#define OWN_QUEUES "mqtt-subscription-@(:.*)?qos[01]"

/* Routing keys ('/' became '.'): @ is the federation, % the participant, and
 * ~ the alternation of the ids of the other role. A node reads the broadcast
 * topic and its own, writes its own status and to the researchers; a
 * researcher the other way round. '*' may stand for a level in a
 * subscription ("status/+"), '#' nowhere.
 *
 * Writes name the other role's ids one by one where the Mosquitto ACL has
 * "+": RabbitMQ keeps a retained message on any topic its publisher may
 * write (nothing like fedc's Mosquitto plugin limits that), so a node can
 * leave at most one message per researcher there, not one per made-up
 * topic. A role with no member yet leaves its branch out. */
static const char *const topic_write[] = {
	[ADMIN_ROLE_NODE] = "^fedc\\\\.@\\\\.(status\\\\.%|researcher\\\\.~)$",
	[ADMIN_ROLE_RESEARCHER] = "^fedc\\\\.@\\\\.(nodes|node\\\\.~)$",
};
static const char *const topic_write_alone[] = {
	[ADMIN_ROLE_NODE] = "^fedc\\\\.@\\\\.(status\\\\.%)$",
	[ADMIN_ROLE_RESEARCHER] = "^fedc\\\\.@\\\\.(nodes)$",
};
static const char *const topic_read[] = {
	[ADMIN_ROLE_NODE] = "^fedc\\\\.@\\\\.(nodes|node\\\\.%)$",
	[ADMIN_ROLE_RESEARCHER] = "^fedc\\\\.@\\\\.(researcher\\\\.%|status\\\\.[^.#]+)$",
};

static enum fedc_err user_entry(struct fedc_buf *b, const char *id, const char *hash, bool first)
{
	return fedc_buf_printf(b,
			       "%s\n    {\"name\": \"%s\", \"password_hash\": \"%s\",\n"
			       "     \"hashing_algorithm\": \"rabbit_password_hashing_sha256\", \"tags\": []}",
			       first ? "" : ",", id, hash);
}

static enum fedc_err permission_entry(struct fedc_buf *b, const char *vhost, const char *id, bool first)
{
	enum fedc_err rc = fedc_buf_printf(b, "%s\n    {\"user\": \"%s\", \"vhost\": \"%s\", \"configure\": \"^",
					   first ? "" : ",", id, vhost);

	if (!rc)
		rc = append_pattern(b, OWN_QUEUES, id, id, NULL, ADMIN_ROLE_NODE);
	if (!rc)
		rc = fedc_buf_printf(b, "$\",\n     \"write\": \"^(amq\\\\.topic|");
	if (!rc)
		rc = append_pattern(b, OWN_QUEUES, id, id, NULL, ADMIN_ROLE_NODE);
	if (!rc)
		rc = fedc_buf_printf(b, ")$\", \"read\": \"^(amq\\\\.topic|");
	if (!rc)
		rc = append_pattern(b, OWN_QUEUES, id, id, NULL, ADMIN_ROLE_NODE);
	if (!rc)
		rc = fedc_buf_printf(b, ")$\"}");
	return rc;
}

static enum fedc_err topic_entry(struct fedc_buf *b, const char *fed, const char *vhost,
				 const struct admin_registry *reg, const struct admin_participant *p, bool first)
{
	enum admin_role others = p->role == ADMIN_ROLE_NODE ? ADMIN_ROLE_RESEARCHER : ADMIN_ROLE_NODE;
	const char *write = has_role(reg, others) ? topic_write[p->role] : topic_write_alone[p->role];
	enum fedc_err rc = fedc_buf_printf(b,
					   "%s\n    {\"user\": \"%s\", \"vhost\": \"%s\", \"exchange\": \"amq.topic\",\n"
					   "     \"write\": \"",
					   first ? "" : ",", p->id, vhost);

	if (!rc)
		rc = append_pattern(b, write, fed, p->id, reg, others);
	if (!rc)
		rc = fedc_buf_printf(b, "\", \"read\": \"");
	if (!rc)
		rc = append_pattern(b, topic_read[p->role], fed, p->id, reg, others);
	if (!rc)
		rc = fedc_buf_printf(b, "\"}");
	return rc;
}

/* One JSON array of definitions.json ("users", "permissions" or
 * "topic_permissions") over the participants that have a hash. */
enum section { SEC_USERS, SEC_PERMISSIONS, SEC_TOPICS };

static enum fedc_err append_section(struct fedc_buf *b, const struct admin_fed *fed,
				    const struct admin_registry *reg, const char *users, enum section sec)
{
	static const char *const names[] = { "users", "permissions", "topic_permissions" };
	char hash[RABBIT_HASH_B64 + 1];
	bool first = true;
	enum fedc_err rc = fedc_buf_printf(b, ",\n  \"%s\": [", names[sec]);

	for (size_t i = 0; !rc && i < reg->n; i++) {
		const struct admin_participant *p = &reg->v[i];

		/* A participant without a users line (that file lost or
		 * edited) is left out: without a hash it could not log in. */
		if (find_hash(users, p->id, hash) != FEDC_OK)
			continue;
		if (sec == SEC_USERS)
			rc = user_entry(b, p->id, hash, first);
		else if (sec == SEC_PERMISSIONS)
			rc = permission_entry(b, fed->name, p->id, first);
		else
			rc = topic_entry(b, fed->name, fed->name, reg, p, first);
		first = false;
	}
	OPENSSL_cleanse(hash, sizeof(hash));
	if (!rc)
		rc = fedc_buf_printf(b, "%s]", first ? "" : "\n  ");
	return rc;
}

enum fedc_err admin__rabbit_write_definitions(const struct admin_fed *fed, const struct admin_registry *reg)
{
	struct fedc_buf users = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES),
			b = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	char path[PATH_MAX];
	enum fedc_err rc = read_users(fed, &users);

	/* JSON has no comments: the notice is a member RabbitMQ ignores. */
	if (!rc)
		rc = fedc_buf_printf(&b,
				     "{\n  \"fedc\": \"RabbitMQ definitions of federation %s, generated by fedc-admin "
				     "on every add, rotate, revoke and remove: do not edit. Load: rabbitmqctl "
				     "import_definitions %s/broker/definitions.json\",\n"
				     "  \"vhosts\": [{\"name\": \"%s\"}]",
				     fed->name, fed->dir, fed->name);
	for (int sec = SEC_USERS; !rc && sec <= SEC_TOPICS; sec++)
		rc = append_section(&b, fed, reg, users.data, (enum section)sec);
	if (!rc)
		rc = fedc_buf_printf(&b, "\n}\n");
	if (!rc)
		rc = admin__path(path, fed->dir, "broker/definitions.json");
	if (!rc)
		rc = admin__write_secret(path, b.data, b.len);
	fedc_buf_free(&users);
	fedc_buf_free(&b);
	return rc;
}

/* After a password changed outside add (rotate): definitions.json from the
 * registry on disk. */
static enum fedc_err rewrite_definitions(const struct admin_fed *fed)
{
	struct admin_registry reg = { 0 };
	enum fedc_err rc = admin__registry_load(fed, &reg);

	if (!rc)
		rc = admin__rabbit_write_definitions(fed, &reg);
	admin__registry_free(&reg);
	return rc;
}

enum fedc_err admin__rabbit_set_password(const struct admin_fed *fed, const char *id, const char *password)
{
	enum fedc_err rc = replace_user(fed, id, password);

	return rc ? rc : rewrite_definitions(fed);
}

/* ---- rabbitmq.conf and enabled_plugins ------------------------------------- */

/* The MQTT listener: on the federation's host if it is an IPv4 address (as
 * mosquitto's listener line), else on every interface: a clustered broker's
 * host is usually a load balancer's name, not this machine's. */
static enum fedc_err listener_line(struct fedc_buf *b, const struct admin_fed *fed)
{
	bool v6 = false;

	if (admin__host_is_ip(fed->host, &v6) && !v6)
		return fedc_buf_printf(b, "mqtt.listeners.ssl.default = %s:%d\n", fed->host, fed->broker_port);
	return fedc_buf_printf(b, "# %s is not an IPv4 address: listen on every interface.\n"
				  "mqtt.listeners.ssl.default = %d\n",
			       fed->host, fed->broker_port);
}

/* RabbitMQ's TLS options for every TLS listener (rabbit.ssl_options), as
 * Erlang terms. The client's certificate must chain to the CA and not be on
 * the CRL: crl_check peer with ssl_crl_hash_dir reads DIR/broker/crls/ at
 * each handshake, so a rewritten CRL counts from the next connection on. */
static enum fedc_err write_advanced_config(const struct admin_fed *fed)
{
	const char *d = fed->dir;
	struct fedc_buf b = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	char path[PATH_MAX];
	enum fedc_err rc;

	if (strpbrk(d, "\"\\"))
		return fedc_fail(FEDC_ERR_INVAL, "%s: a RabbitMQ federation's directory may not hold '\"' or '\\' "
						 "(advanced.config names its files in Erlang strings)", d);
	rc = fedc_buf_printf(&b,
		"%% RabbitMQ 3.10 TLS options of federation %s, written by fedc-admin init\n"
		"%% (RABBITMQ_ADVANCED_CONFIG_FILE). They replace every ssl_options.* of\n"
		"%% rabbitmq.conf. crls/ holds the CRL under its issuer's hash; fedc-admin\n"
		"%% rewrites it on rotate, revoke and remove.\n"
		"[{rabbit, [{ssl_options, [\n"
		"    {cacertfile, \"%s/ca/ca.pem\"},\n"
		"    {certfile, \"%s/broker/server.pem\"},\n"
		"    {keyfile, \"%s/broker/server.key\"},\n"
		"    {verify, verify_peer},\n"
		"    {fail_if_no_peer_cert, true},\n"
		"    {versions, ['tlsv1.3', 'tlsv1.2']},\n"
		"    {crl_check, peer},\n"
		"    {crl_cache, {ssl_crl_hash_dir, {internal, [{dir, \"%s/broker/crls\"}]}}}\n"
		"]}]}].\n",
		fed->name, d, d, d, d);
	if (!rc)
		rc = admin__path(path, d, "broker/advanced.config");
	if (!rc)
		rc = fedc_write_atomic(path, b.data, b.len);
	fedc_buf_free(&b);
	return rc;
}

enum fedc_err admin__rabbit_write_crl(const struct admin_fed *fed, X509 *ca_cert, const struct fedc_buf *pem)
{
	char dir[PATH_MAX], name[32], path[PATH_MAX];
	int ok = 0;
	unsigned long hash = X509_NAME_hash_ex(X509_get_subject_name(ca_cert), NULL, NULL, &ok);
	enum fedc_err rc;

	if (!ok)
		return admin__ssl_fail(FEDC_ERR_IO, "hash of the CA's name");
	snprintf(name, sizeof(name), "%08lx.r0", hash);
	rc = admin__path(dir, fed->dir, "broker/crls");
	if (!rc)
		rc = fedc_mkdir_p(dir, 0700);
	if (!rc)
		rc = admin__path(path, dir, name);
	if (!rc)
		rc = fedc_write_atomic(path, pem->data, pem->len);
	return rc;
}

enum fedc_err admin__rabbit_write_conf(const struct admin_fed *fed)
{
	const char *d = fed->dir;
	struct fedc_buf b = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	char path[PATH_MAX];
	enum fedc_err rc;

	rc = fedc_buf_printf(&b,
		"# RabbitMQ 3.10 configuration of federation %s, written by fedc-admin init.\n"
		"# Start with RABBITMQ_CONFIG_FILE=%s/broker/rabbitmq.conf and\n"
		"# RABBITMQ_ENABLED_PLUGINS_FILE=%s/broker/enabled_plugins. After fedc-admin\n"
		"# add-node/add-researcher/rotate: rabbitmqctl import_definitions\n"
		"# %s/broker/definitions.json; after revoke/remove also\n"
		"# rabbitmqctl delete_user ID (docs/deployment.md).\n\n"
		"# MQTT over TLS only: no AMQP and no plain MQTT listener.\n"
		"listeners.tcp = none\n"
		"mqtt.listeners.tcp = none\n",
		fed->name, d, d, d);
	if (!rc)
		rc = listener_line(&b, fed);
	if (!rc)
		rc = fedc_buf_printf(&b,
		"# The TLS options (CA, certificate, client certificates required, the CRL)\n"
		"# are in advanced.config: only there can a CRL be named, and its ssl_options\n"
		"# replace all of these.\n"
		"mqtt.allow_anonymous = false\n"
		"mqtt.ssl_cert_login = false\n"
		"mqtt.vhost = %s\n"
		"mqtt.exchange = amq.topic\n"
		"# Small MQTT messages: without this a request/reply waits on Nagle.\n"
		"mqtt.tcp_listen_options.nodelay = true\n"
		"# The protocol's largest signed message (mosquitto: max_packet_size).\n"
		"max_message_size = %u\n"
		"# Users, the vhost and permissions, made from the registry by fedc-admin.\n"
		"load_definitions = %s/broker/definitions.json\n",
		fed->name, (unsigned)RABBIT_MAX_MESSAGE, d);
	if (!rc)
		rc = admin__path(path, d, "broker/rabbitmq.conf");
	if (!rc)
		rc = fedc_write_atomic(path, b.data, b.len);
	if (!rc)
		rc = write_advanced_config(fed);
	if (!rc)
		rc = admin__path(path, d, "broker/enabled_plugins");
	if (!rc)
		rc = fedc_write_atomic(path, "[rabbitmq_mqtt].\n", strlen("[rabbitmq_mqtt].\n"));
	fedc_buf_free(&b);
	return rc;
}
