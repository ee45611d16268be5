/* fedc-admin init --broker rabbitmq (admin/broker_rabbitmq.c): the files it
 * writes for RabbitMQ 3.10 and keeps current on add, rotate and revoke. The
 * fedc-admin binary is run in a temporary directory; definitions.json is
 * read with jansson, each password hash is recomputed from the bundle's
 * password, and each permission regex is tried on routing keys with POSIX
 * extended regexes (the patterns use only what PCRE and ERE agree on).
 * integration.test_rabbitmq proves a real RabbitMQ takes these files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "../test_argv.h"

#define ADMIN FEDC_BIN_DIR "/fedc-admin"
#define FED "hosp"

static char root[PATH_MAX], fed[PATH_MAX + 8];
static char out[16384], err[16384];

static void read_into(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, cap - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* fedc-admin with its arguments (NULL-terminated); its exit status, with
 * stdout in `out` and stderr in `err`. */
static int admin(const char *first, ...)
{
	const char *argv[16] = { ADMIN, first };
	char opath[PATH_MAX + 16], epath[PATH_MAX + 16];
	char **copy;
	va_list ap;
	int n = 2, status = -1;
	pid_t pid;

	va_start(ap, first);
	while (n < 15 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	snprintf(opath, sizeof(opath), "%s/cmd.out", root);
	snprintf(epath, sizeof(epath), "%s/cmd.err", root);
	copy = test_argv_dup(argv);
	assert_non_null(copy);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600), e = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		execv(copy[0], copy);
		_exit(127);
	}
	test_argv_free(copy);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	read_into(opath, out, sizeof(out));
	read_into(epath, err, sizeof(err));
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void path_in(char *p, const char *name)
{
	assert_true((size_t)snprintf(p, PATH_MAX, "%s/%s", fed, name) < PATH_MAX);
}

static char *slurp_in(const char *name)
{
	static char buf[1 << 16];
	char p[PATH_MAX];

	path_in(p, name);
	buf[0] = '\0';
	read_into(p, buf, sizeof(buf));
	return buf;
}

static void assert_mode(const char *name, mode_t mode)
{
	char p[PATH_MAX];
	struct stat st;

	path_in(p, name);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, mode);
}

static bool exists(const char *name)
{
	char p[PATH_MAX];

	path_in(p, name);
	return access(p, F_OK) == 0;
}

static json_t *definitions(void)
{
	char p[PATH_MAX];
	json_error_t e;
	json_t *j;

	path_in(p, "broker/definitions.json");
	j = json_load_file(p, 0, &e);
	if (!j)
		fail_msg("definitions.json: %s at line %d", e.text, e.line);
	return j;
}

/* The entry of `array` whose `key` is `name`, or NULL. */
static json_t *entry(json_t *defs, const char *array, const char *key, const char *name)
{
	json_t *a = json_object_get(defs, array), *v;
	size_t i;

	assert_true(json_is_array(a));
	json_array_foreach(a, i, v) {
		if (!strcmp(json_string_value(json_object_get(v, key)), name))
			return v;
	}
	return NULL;
}

static const char *field(json_t *obj, const char *name)
{
	const char *s = json_string_value(json_object_get(obj, name));

	assert_non_null(s);
	return s;
}

static void init_fed(void)
{
	snprintf(root, sizeof(root), "/tmp/fedc-test-admin-rabbit-XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(fed, sizeof(fed), "%s/fed", root);
}

static int setup(void **state)
{
	init_fed();
	return admin("init", fed, "--federation", FED, "--broker", "rabbitmq", "--broker-port", "18883",
		     "--repository-port", "18443", NULL) == 0
		       ? 0
		       : -1;
}

static int teardown(void **state)
{
	char *argv[] = { "/bin/rm", "-rf", root, NULL };
	pid_t pid = fork();

	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return 0;
}

/* ---- the checks -------------------------------------------------------------- */

/* The hash of `user` in definitions.json is base64(salt || SHA-256(salt ||
 * password)) of the password in its bundle. */
static void assert_hash_of(json_t *defs, const char *bundle, const char *user)
{
	unsigned char raw[64], digest[SHA256_DIGEST_LENGTH];
	char pwpath[PATH_MAX], password[128];
	json_t *u = entry(defs, "users", "name", user);
	const char *hash;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned len = 0;

	assert_non_null(u);
	assert_string_equal(field(u, "hashing_algorithm"), "rabbit_password_hashing_sha256");
	hash = field(u, "password_hash");
	assert_int_equal(strlen(hash), 48);
	assert_int_equal(EVP_DecodeBlock(raw, (const unsigned char *)hash, 48), 36);
	snprintf(pwpath, sizeof(pwpath), "%s/broker.password", bundle);
	read_into(pwpath, password, sizeof(password));
	password[strcspn(password, "\n")] = '\0';
	assert_int_equal(strlen(password), 64);
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, raw, 4), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, password, strlen(password)), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, digest, &len), 1);
	EVP_MD_CTX_free(ctx);
	assert_memory_equal(digest, raw + 4, sizeof(digest));
}

static bool matches(const char *pattern, const char *subject)
{
	regex_t re;
	int rc;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	rc = regexec(&re, subject, 0, NULL, 0);
	regfree(&re);
	return rc == 0;
}

/* Each subject, then true (allowed) or false; NULL ends. */
static void assert_pattern(const char *pattern, ...)
{
	va_list ap;
	const char *subject;

	va_start(ap, pattern);
	while ((subject = va_arg(ap, const char *)) != NULL) {
		bool want = va_arg(ap, int);

		if (matches(pattern, subject) != want)
			fail_msg("pattern %s %s \"%s\"", pattern, want ? "refuses" : "allows", subject);
	}
	va_end(ap);
}

/* broker/crls/HASH.r0 is ca/crl.pem, HASH being OpenSSL's hash of the CA's
 * subject (what `openssl x509 -hash` prints, and Erlang's ssl_crl_hash_dir
 * looks for). */
static void assert_crl_copied(void)
{
	char p[PATH_MAX], name[64], *crl;
	unsigned long hash;
	FILE *f;
	X509 *ca;

	path_in(p, "ca/ca.pem");
	f = fopen(p, "r");
	assert_non_null(f);
	ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(ca);
	hash = X509_NAME_hash_ex(X509_get_subject_name(ca), NULL, NULL, NULL);
	X509_free(ca);
	crl = strdup(slurp_in("ca/crl.pem"));
	assert_non_null(crl);
	assert_non_null(strstr(crl, "BEGIN X509 CRL"));
	snprintf(name, sizeof(name), "broker/crls/%08lx.r0", hash);
	assert_mode(name, 0644);
	assert_string_equal(slurp_in(name), crl);
	free(crl);
}

static void add_participants(void)
{
	assert_int_equal(admin("add-node", fed, "n1", NULL), 0);
	assert_non_null(strstr(out, "rabbitmqctl import_definitions"));
	assert_int_equal(admin("add-node", fed, "n2", NULL), 0);
	assert_int_equal(admin("add-researcher", fed, "r1", NULL), 0);
}

static void test_init_writes_rabbitmq_files(void **state)
{
	char *conf, line[PATH_MAX + 128];
	json_t *defs;

	assert_true(exists("broker/rabbitmq.conf") && exists("broker/enabled_plugins") &&
		    exists("broker/advanced.config"));
	assert_false(exists("broker/mosquitto.conf") || exists("broker/passwd") || exists("broker/acl"));
	assert_mode("broker/definitions.json", 0600);
	assert_mode("broker/users", 0600);
	assert_mode("broker/rabbitmq.conf", 0644);
	assert_string_equal(slurp_in("broker/enabled_plugins"), "[rabbitmq_mqtt].\n");
	assert_non_null(strstr(slurp_in("federation.ini"), "\nbroker = rabbitmq\n"));
	conf = slurp_in("broker/rabbitmq.conf");
	static const char *const lines[] = {
		"\nlisteners.tcp = none\n", "\nmqtt.listeners.tcp = none\n",
		"\nmqtt.listeners.ssl.default = 127.0.0.1:18883\n", "\nmqtt.allow_anonymous = false\n",
		"\nmqtt.vhost = " FED "\n", "\nmqtt.exchange = amq.topic\n", "\nmax_message_size = ",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (!strstr(conf, lines[i]))
			fail_msg("rabbitmq.conf lacks %s", lines[i] + 1);
	snprintf(line, sizeof(line), "\nload_definitions = %s/broker/definitions.json\n", fed);
	assert_non_null(strstr(conf, line));
	assert_null(strstr(conf, "\nssl_options.")); /* advanced.config's would replace them */
	conf = slurp_in("broker/advanced.config");
	snprintf(line, sizeof(line), "{cacertfile, \"%s/ca/ca.pem\"}", fed);
	assert_non_null(strstr(conf, line));
	snprintf(line, sizeof(line), "{crl_cache, {ssl_crl_hash_dir, {internal, [{dir, \"%s/broker/crls\"}]}}}", fed);
	assert_non_null(strstr(conf, line));
	assert_non_null(strstr(conf, "{verify, verify_peer}"));
	assert_non_null(strstr(conf, "{fail_if_no_peer_cert, true}"));
	assert_non_null(strstr(conf, "{crl_check, peer}"));
	assert_crl_copied();
	defs = definitions();
	assert_non_null(entry(defs, "vhosts", "name", FED));
	assert_int_equal(json_array_size(json_object_get(defs, "users")), 0);
	assert_int_equal(json_array_size(json_object_get(defs, "topic_permissions")), 0);
	json_decref(defs);
	assert_non_null(strstr(out, "RABBITMQ_CONFIG_FILE="));
}

static void test_users_hashes_from_bundle_passwords(void **state)
{
	char bundle[PATH_MAX];
	json_t *defs;

	add_participants();
	defs = definitions();
	assert_int_equal(json_array_size(json_object_get(defs, "users")), 3);
	path_in(bundle, "nodes/n1");
	assert_hash_of(defs, bundle, "n1");
	path_in(bundle, "researchers/r1");
	assert_hash_of(defs, bundle, "r1");
	json_decref(defs);
}

static void test_node_topic_permissions_are_the_acl(void **state)
{
	json_t *defs = definitions(), *t = entry(defs, "topic_permissions", "user", "n1");

	assert_non_null(t);
	assert_string_equal(field(t, "vhost"), FED);
	assert_string_equal(field(t, "exchange"), "amq.topic");
	/* writes: an enrolled researcher's topic and its own status; nothing else */
	assert_pattern(field(t, "write"), "fedc.hosp.researcher.r1", true, "fedc.hosp.status.n1", true,
		       "fedc.hosp.status.n2", false, "fedc.hosp.node.n2", false, "fedc.hosp.node.n1", false,
		       "fedc.hosp.nodes", false, "fedc.hosp.researcher.*", false, "fedc.hosp.researcher.#", false,
		       "fedc.hosp.researcher.r1.x", false, "fedc.other.researcher.r1", false,
		       "fedc.hosp.status.n1x", false, "xfedc.hosp.status.n1", false, "fedcxhosp.status.n1", false,
		       /* only enrolled researchers: a retained message per made-up topic is refused */
		       "fedc.hosp.researcher.r2", false, "fedc.hosp.researcher.r1x", false, NULL);
	/* reads (subscriptions, '+' became '*'): the broadcast and its own topic */
	assert_pattern(field(t, "read"), "fedc.hosp.nodes", true, "fedc.hosp.node.n1", true, "fedc.hosp.node.n2",
		       false, "fedc.hosp.node.*", false, "fedc.hosp.#", false, "fedc.hosp.status.*", false,
		       "fedc.hosp.researcher.r1", false, "fedc.hosp.node.n1.x", false, NULL);
	json_decref(defs);
}

static void test_researcher_topic_permissions_are_the_acl(void **state)
{
	json_t *defs = definitions(), *t = entry(defs, "topic_permissions", "user", "r1");

	assert_non_null(t);
	assert_pattern(field(t, "write"), "fedc.hosp.nodes", true, "fedc.hosp.node.n1", true, "fedc.hosp.node.*",
		       false, "fedc.hosp.node.#", false, "fedc.hosp.researcher.r1", false, "fedc.hosp.status.r1",
		       false, "fedc.hosp.node.n1.x", false, "fedc.hosp.node.n9", false, "fedc.hosp.node.n1x", false, NULL);
	assert_pattern(field(t, "read"), "fedc.hosp.researcher.r1", true, "fedc.hosp.status.*", true,
		       "fedc.hosp.status.n1", true, "fedc.hosp.status.#", false, "fedc.hosp.researcher.r2", false,
		       "fedc.hosp.researcher.*", false, "fedc.hosp.nodes", false, "fedc.hosp.#", false, NULL);
	json_decref(defs);
}

/* The queues of the client ids the user owns ("n1", "n1:..."), and amq.topic. */
static void test_queue_permissions_follow_client_ids(void **state)
{
	json_t *defs = definitions(), *p = entry(defs, "permissions", "user", "n1");
	const char *allowed[] = { "mqtt-subscription-n1qos1", "mqtt-subscription-n1qos0",
				  "mqtt-subscription-n1:probeqos1" };
	const char *refused[] = { "mqtt-subscription-n2qos1", "mqtt-subscription-n1xqos1",
				  "mqtt-subscription-r1:n1qos1", "mqtt-subscription-n1qos1qos1x", "amq.direct" };

	assert_non_null(p);
	assert_string_equal(field(p, "vhost"), FED);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		assert_true(matches(field(p, "configure"), allowed[i]));
		assert_true(matches(field(p, "read"), allowed[i]));
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_false(matches(field(p, "configure"), refused[i]));
		assert_false(matches(field(p, "write"), refused[i]));
		assert_false(matches(field(p, "read"), refused[i]));
	}
	assert_true(matches(field(p, "write"), "amq.topic"));
	assert_false(matches(field(p, "write"), "amqxtopic"));
	assert_false(matches(field(p, "configure"), "amq.topic"));
	json_decref(defs);
}

static void test_rotate_and_revoke_regenerate_definitions(void **state)
{
	char bundle[PATH_MAX], before[64];
	json_t *defs = definitions();

	snprintf(before, sizeof(before), "%s", field(entry(defs, "users", "name", "n1"), "password_hash"));
	json_decref(defs);
	char crl_before[8192];

	snprintf(crl_before, sizeof(crl_before), "%s", slurp_in("ca/crl.pem"));
	assert_int_equal(admin("rotate", fed, "n1", NULL), 0);
	assert_non_null(strstr(out, "rabbitmqctl import_definitions"));
	assert_string_not_equal(slurp_in("ca/crl.pem"), crl_before); /* the old certificate on it */
	assert_crl_copied();
	defs = definitions();
	assert_string_not_equal(field(entry(defs, "users", "name", "n1"), "password_hash"), before);
	path_in(bundle, "nodes/n1");
	assert_hash_of(defs, bundle, "n1");
	json_decref(defs);
	assert_int_equal(admin("revoke", fed, "n2", NULL), 0);
	assert_non_null(strstr(out, "rabbitmqctl delete_user n2"));
	defs = definitions();
	assert_null(entry(defs, "users", "name", "n2"));
	assert_null(entry(defs, "permissions", "user", "n2"));
	assert_null(entry(defs, "topic_permissions", "user", "n2"));
	assert_non_null(entry(defs, "users", "name", "n1"));
	json_decref(defs);
	assert_null(strstr(slurp_in("broker/users"), "n2 "));
	/* a researcher enrolled now may be written to by the nodes already there */
	assert_int_equal(admin("add-researcher", fed, "r2", NULL), 0);
	defs = definitions();
	assert_pattern(field(entry(defs, "topic_permissions", "user", "n1"), "write"), "fedc.hosp.researcher.r2", true,
		       "fedc.hosp.researcher.r1", true, NULL);
	assert_pattern(field(entry(defs, "topic_permissions", "user", "r2"), "write"), "fedc.hosp.node.n1", true,
		       "fedc.hosp.node.n2", false, NULL);
	json_decref(defs);
	assert_int_equal(admin("list", fed, NULL), 0);
	assert_non_null(strstr(out, "(rabbitmq)"));
}

static void test_dotted_names_refused_for_rabbitmq(void **state)
{
	char other[PATH_MAX + 16];

	assert_int_equal(admin("add-node", fed, "site.a", NULL), 2);
	assert_non_null(strstr(err, "bad id \"site.a\" for federation hosp, whose broker is RabbitMQ: no '.'"));
	assert_false(exists("nodes/site.a"));
	snprintf(other, sizeof(other), "%s/dotted", root);
	assert_int_equal(admin("init", other, "--federation", "a.b", "--broker", "rabbitmq", NULL), 2);
	assert_non_null(strstr(err, "bad federation name \"a.b\" for RabbitMQ"));
	/* advanced.config names files in Erlang strings */
	snprintf(other, sizeof(other), "%s/a\"b", root);
	assert_int_equal(admin("init", other, "--broker", "rabbitmq", NULL), 2);
	assert_non_null(strstr(err, "may not hold '\"'"));
	assert_int_not_equal(access(other, F_OK), 0);
}

/* Replaces `from` by `to` in DIR/federation.ini. */
static void edit_ini(const char *dir, const char *from, const char *to)
{
	char ini[PATH_MAX + 32], text[4096], *at;
	FILE *f;

	snprintf(ini, sizeof(ini), "%s/federation.ini", dir);
	read_into(ini, text, sizeof(text));
	at = strstr(text, from);
	assert_non_null(at);
	f = fopen(ini, "w");
	assert_non_null(f);
	fprintf(f, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	assert_int_equal(fclose(f), 0);
}

static void test_unknown_broker_refused(void **state)
{
	char other[PATH_MAX + 16];

	snprintf(other, sizeof(other), "%s/nats", root);
	assert_int_equal(admin("init", other, "--broker", "nats", NULL), 2);
	assert_non_null(strstr(err, "--broker: expected mosquitto or rabbitmq, got \"nats\""));
	assert_int_not_equal(access(other, F_OK), 0);
	/* a federation.ini naming an unknown broker */
	snprintf(other, sizeof(other), "%s/edited", root);
	assert_int_equal(admin("init", other, NULL), 0);
	edit_ini(other, "broker = mosquitto\n", "broker = nats\n");
	assert_int_equal(admin("add-node", other, "n1", NULL), 1);
	assert_non_null(strstr(err, "broker = nats: expected mosquitto or rabbitmq"));
}

/* A federation.ini from before --broker (no broker key) is a mosquitto one. */
static void test_federation_without_broker_key_is_mosquitto(void **state)
{
	char other[PATH_MAX + 16], acl[PATH_MAX + 32], text[4096];

	snprintf(other, sizeof(other), "%s/old", root);
	assert_int_equal(admin("init", other, NULL), 0);
	edit_ini(other, "broker = mosquitto\n", "");
	assert_int_equal(admin("add-node", other, "site.a", NULL), 0);
	assert_non_null(strstr(out, "kill -HUP <mosquitto pid>"));
	snprintf(acl, sizeof(acl), "%s/broker/acl", other);
	read_into(acl, text, sizeof(text));
	assert_non_null(strstr(text, "user site.a\n"));
}

int main(void)
{
	/* In order: each builds on the federation the previous ones left. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_writes_rabbitmq_files),
		cmocka_unit_test(test_users_hashes_from_bundle_passwords),
		cmocka_unit_test(test_node_topic_permissions_are_the_acl),
		cmocka_unit_test(test_researcher_topic_permissions_are_the_acl),
		cmocka_unit_test(test_queue_permissions_follow_client_ids),
		cmocka_unit_test(test_rotate_and_revoke_regenerate_definitions),
		cmocka_unit_test(test_dotted_names_refused_for_rabbitmq),
		cmocka_unit_test(test_unknown_broker_refused),
		cmocka_unit_test(test_federation_without_broker_key_is_mosquitto),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
