/* fedc-admin end to end: the real binary provisions a federation in a fresh
 * directory; the files are checked with OpenSSL, and the real mosquitto is
 * started on that configuration to prove that it accepts the password
 * hashes, the certificates and the ACL, and refuses what it must.
 *
 * The tests share one federation (nodes a, b, researcher r) made by the
 * group setup, and run in the order listed in main(): the broker test comes
 * last because it enrols node c to check the SIGHUP reload. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fedc/config.h"
#include "fedc/hash.h"
#include "fedc/limits.h"
#include "fedc/sign.h"
#include "../test_argv.h"

#define ADMIN FEDC_BIN_DIR "/fedc-admin"
#define MOSQUITTO "/usr/sbin/mosquitto"
#define MOSQUITTO_SUB "/usr/bin/mosquitto_sub"
#define MOSQUITTO_PUB "/usr/bin/mosquitto_pub"
/* mosquitto_sub block-buffers stdout into a pipe: stdbuf makes it line-buffered. */
#define STDBUF "/usr/bin/stdbuf"
#define FED "hosp"
#define WAIT_MS 5000

struct fixture {
	char root[PATH_MAX]; /* mkdtemp: the federation, command output, broker log */
	char fed[PATH_MAX];  /* root/fed */
	int port;            /* broker */
	pid_t broker;
};

struct result {
	int status; /* exit status, or -1 if killed */
	char out[16384], err[16384];
};

/* ---- helpers ----------------------------------------------------------------- */

static void join(char *out, const char *a, const char *b)
{
	assert_true((size_t)snprintf(out, PATH_MAX, "%s/%s", a, b) < PATH_MAX);
}

static void rmtree(const char *path)
{
	char child[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
			    (size_t)snprintf(child, sizeof(child), "%s/%s", path, e->d_name) < sizeof(child))
				rmtree(child);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

/* Whole small file as a string; NULL if unreadable. Caller frees. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
		}
	}
	fclose(f);
	return buf;
}

static char *slurp_in(const char *dir, const char *name)
{
	char path[PATH_MAX];

	join(path, dir, name);
	return slurp(path);
}

static void read_into(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, cap - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* Runs argv (NULL-terminated) to completion, capturing stdout and stderr. */
#define RUN_TIMEOUT_S 60

/* Waits for `pid` at most RUN_TIMEOUT_S: a client stuck on the broker (a
 * mosquitto_pub has no timeout of its own) then fails the test with its
 * stderr rather than hanging it until ctest's timeout, which says nothing.
 * False (the child killed and reaped, *status 0) when it did not end. */
static bool wait_bounded(pid_t pid, int *status)
{
	struct timespec pause = { 0, 10 * 1000000L };

	for (long waited_ms = 0; waited_ms < RUN_TIMEOUT_S * 1000L; waited_ms += 10) {
		pid_t got = waitpid(pid, status, WNOHANG);

		assert_true(got == 0 || got == pid);
		if (got == pid)
			return true;
		nanosleep(&pause, NULL);
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, status, 0), pid);
	*status = 0;
	return false;
}

static void run(const struct fixture *fx, const char *const *argv, struct result *r)
{
	char out[PATH_MAX], err[PATH_MAX];
	char **exec_argv = test_argv_dup(argv);
	int status;
	pid_t pid;

	assert_non_null(exec_argv);
	join(out, fx->root, "cmd.out");
	join(err, fx->root, "cmd.err");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600), e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		execv(exec_argv[0], exec_argv);
		_exit(127);
	}
	test_argv_free(exec_argv);
	r->status = wait_bounded(pid, &status) ? (WIFEXITED(status) ? WEXITSTATUS(status) : -1) : -1;
	read_into(out, r->out, sizeof(r->out));
	read_into(err, r->err, sizeof(r->err));
	if (r->status == -1 && !WIFSIGNALED(status))
		fail_msg("%s did not end within %d s (killed); its stderr: %s", argv[0], RUN_TIMEOUT_S, r->err);
}

/* fedc-admin with up to five arguments (NULL-terminated). */
static void admin(const struct fixture *fx, struct result *r, ...)
{
	const char *argv[8] = { ADMIN };
	va_list ap;
	int n = 1;

	va_start(ap, r);
	while (n < 7 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	run(fx, argv, r);
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void bundle_dir(const struct fixture *fx, const char *id, char *out)
{
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "%s/%s", strcmp(id, "r") ? "nodes" : "researchers", id);
	join(out, fx->fed, rel);
}

/* A digest of the whole federation tree (names, modes, contents), to prove
 * that a refused command changed nothing. */
static void tree_digest(const char *path, struct fedc_hash *h)
{
	struct dirent **names = NULL;
	char child[PATH_MAX];
	struct stat st;
	char *data;
	int n;

	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(fedc_hash_update(h, path, strlen(path) + 1), FEDC_OK);
	assert_int_equal(fedc_hash_update(h, &st.st_mode, sizeof(st.st_mode)), FEDC_OK);
	if (!S_ISDIR(st.st_mode)) {
		data = slurp(path);
		assert_non_null(data);
		assert_int_equal(fedc_hash_update(h, data, strlen(data)), FEDC_OK);
		free(data);
		return;
	}
	n = scandir(path, &names, NULL, alphasort);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
			join(child, path, names[i]->d_name);
			tree_digest(child, h);
		}
		free(names[i]);
	}
	free(names);
}

static void fed_digest(const struct fixture *fx, char *hex)
{
	struct fedc_hash *h = NULL;

	assert_int_equal(fedc_hash_new(FEDC_HASH_SHA256, &h), FEDC_OK);
	tree_digest(fx->fed, h);
	assert_int_equal(fedc_hash_final(h, hex), FEDC_OK);
	fedc_hash_free(h);
}

/* ---- group setup: one federation ------------------------------------------------ */

static int make_federation(struct fixture *fx)
{
	char bport[16], rport[16];
	struct result *r = malloc(sizeof(*r));
	int ok = r != NULL;

	fx->port = free_port();
	snprintf(bport, sizeof(bport), "%d", fx->port);
	snprintf(rport, sizeof(rport), "%d", free_port());
	ok = ok && fx->port > 0;
	if (ok)
		admin(fx, r, "init", fx->fed, "--federation", FED, "--broker-port", bport, "--repository-port", rport,
		      NULL);
	ok = ok && r->status == 0;
	if (ok)
		admin(fx, r, "add-node", fx->fed, "a", NULL);
	ok = ok && r->status == 0;
	if (ok)
		admin(fx, r, "add-node", fx->fed, "b", NULL);
	ok = ok && r->status == 0;
	if (ok)
		admin(fx, r, "add-researcher", fx->fed, "r", NULL);
	ok = ok && r->status == 0;
	if (!ok && r)
		fprintf(stderr, "provisioning failed: %s%s\n", r->out, r->err);
	free(r);
	return ok ? 0 : -1;
}

static int group_teardown(void **state)
{
	struct fixture *fx = *state;

	if (fx) {
		rmtree(fx->root);
		free(fx);
	}
	return 0;
}

static int group_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	*state = fx;
	if (!fx)
		return -1;
	snprintf(fx->root, sizeof(fx->root), "/tmp/fedc-test-admin-XXXXXX");
	if (!mkdtemp(fx->root)) {
		free(fx);
		*state = NULL;
		return -1;
	}
	/* cmocka skips the group teardown when the setup fails: clean up here. */
	if ((size_t)snprintf(fx->fed, sizeof(fx->fed), "%s/fed", fx->root) >= sizeof(fx->fed) ||
	    make_federation(fx) != 0) {
		group_teardown(state);
		*state = NULL;
		return -1;
	}
	return 0;
}

/* ---- files and modes ------------------------------------------------------------ */

static void assert_mode(const char *dir, const char *name, mode_t want)
{
	char path[PATH_MAX];
	struct stat st;

	join(path, dir, name);
	if (stat(path, &st) != 0)
		fail_msg("%s: %s", path, strerror(errno));
	if ((st.st_mode & 07777) != want)
		fail_msg("%s: mode %o, expected %o", path, (unsigned)(st.st_mode & 07777), (unsigned)want);
}

/* The broker's size limits follow the protocol's: the largest message
 * (parameters inline up to 8 MiB) passes, and what it queues for one client
 * is capped in bytes as the clients' own receive queues are. */
static void test_broker_size_limits(void **state)
{
	struct fixture *fx = *state;
	char *conf = slurp_in(fx->fed, "broker/mosquitto.conf");
	char line[64];

	assert_non_null(conf);
	snprintf(line, sizeof(line), "\nmax_packet_size %u\n",
		 (unsigned)(FEDC_ENVELOPE_MAX_BYTES + FEDC_MAX_TOPIC_LEN + 64u));
	assert_non_null(strstr(conf, line));
	assert_non_null(strstr(conf, "\nmax_packet_size 8450688\n")); /* the figure docs/protocol.md gives */
	snprintf(line, sizeof(line), "\nmax_queued_bytes %u\n", (unsigned)FEDC_MQTT_QUEUE_MAX_BYTES);
	assert_non_null(strstr(conf, line));
	free(conf);
}

static void test_layout_and_modes(void **state)
{
	static const char *const bundle_secrets[] = { "client.key", "broker.password", "repository.token",
						      "signing.key" };
	static const char *const ids[] = { "a", "b", "r" };
	struct fixture *fx = *state;
	char dir[PATH_MAX];

	assert_mode(fx->fed, "ca", 0700);
	assert_mode(fx->fed, "ca/ca.key", 0600);
	assert_mode(fx->fed, "ca/ca.pem", 0644);
	assert_mode(fx->fed, "broker", 0700);
	assert_mode(fx->fed, "broker/server.key", 0600);
	assert_mode(fx->fed, "broker/passwd", 0600);
	assert_mode(fx->fed, "broker/acl", 0644);
	assert_mode(fx->fed, "broker/mosquitto.conf", 0644);
	assert_mode(fx->fed, "repository", 0700);
	assert_mode(fx->fed, "repository/server.key", 0600);
	assert_mode(fx->fed, "repository/tokens", 0600);
	assert_mode(fx->fed, "repository/repository.ini", 0644);
	assert_mode(fx->fed, "federation.ini", 0644);
	for (size_t i = 0; i < 3; i++) {
		bundle_dir(fx, ids[i], dir);
		assert_mode(dir, ".", 0700);
		for (size_t j = 0; j < 4; j++)
			assert_mode(dir, bundle_secrets[j], 0600);
		assert_mode(dir, "client.pem", 0644);
		assert_mode(dir, "ca.pem", 0644);
		assert_mode(dir, "signing.pub", 0644);
		assert_mode(dir, strcmp(ids[i], "r") ? "node.ini" : "network.ini", 0644);
		assert_mode(dir, "trusted", 0700);
		if (strcmp(ids[i], "r"))
			assert_mode(dir, "peers", 0700);
	}
}

/* The ini files name the right endpoints and files (read with libfedc's reader). */
static void test_bundle_ini(void **state)
{
	struct fixture *fx = *state;
	char dir[PATH_MAX], path[PATH_MAX], want[64];
	struct fedc_config *cfg = NULL;
	const char *v;

	snprintf(want, sizeof(want), "ssl://127.0.0.1:%d", fx->port);
	bundle_dir(fx, "a", dir);
	join(path, dir, "node.ini");
	assert_int_equal(fedc_config_load(path, &cfg), FEDC_OK);
	assert_int_equal(fedc_config_str(cfg, "node", "id", true, NULL, &v), FEDC_OK);
	assert_string_equal(v, "a");
	assert_int_equal(fedc_config_str(cfg, "node", "federation", true, NULL, &v), FEDC_OK);
	assert_string_equal(v, FED);
	assert_int_equal(fedc_config_str(cfg, "broker", "url", true, NULL, &v), FEDC_OK);
	assert_string_equal(v, want);
	assert_int_equal(fedc_config_str(cfg, "broker", "password_file", true, NULL, &v), FEDC_OK);
	assert_string_equal(v, "broker.password");
	assert_int_equal(fedc_config_str(cfg, "repository", "token_file", true, NULL, &v), FEDC_OK);
	assert_string_equal(v, "repository.token");
	assert_int_equal(fedc_config_str(cfg, "security", "trusted_keys_dir", true, NULL, &v), FEDC_OK);
	assert_string_equal(v, "trusted");
	assert_int_equal(fedc_config_str(cfg, "security", "peer_keys_dir", true, NULL, &v), FEDC_OK);
	assert_string_equal(v, "peers");
	fedc_config_free(cfg);

	bundle_dir(fx, "r", dir);
	join(path, dir, "network.ini");
	assert_int_equal(fedc_config_load(path, &cfg), FEDC_OK);
	assert_int_equal(fedc_config_str(cfg, "network", "researcher_id", true, NULL, &v), FEDC_OK);
	assert_string_equal(v, "r");
	assert_int_equal(fedc_config_str(cfg, "network", "broker_url", true, NULL, &v), FEDC_OK);
	assert_string_equal(v, want);
	assert_int_equal(fedc_config_str(cfg, "network", "repository_token_file", true, NULL, &v), FEDC_OK);
	assert_string_equal(v, "repository.token");
	fedc_config_free(cfg);
}

/* ---- certificates ------------------------------------------------------------------ */

static X509 *load_cert(const char *dir, const char *name)
{
	char path[PATH_MAX];
	X509 *cert;
	FILE *f;

	join(path, dir, name);
	f = fopen(path, "r");
	assert_non_null(f);
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(cert);
	return cert;
}

/* X509_verify_cert against the CA alone, for an SSL client or server. */
static int verify(X509 *ca, X509 *cert, int purpose)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	assert_non_null(store);
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, cert, NULL), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
	ok = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

static void assert_cn(X509 *cert, const char *want)
{
	char cn[128];

	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) > 0);
	assert_string_equal(cn, want);
}

static void test_ca(void **state)
{
	struct fixture *fx = *state;
	char dir[PATH_MAX];
	X509 *ca;
	int crit = -1;
	BASIC_CONSTRAINTS *bc;

	join(dir, fx->fed, "ca");
	ca = load_cert(dir, "ca.pem");
	assert_int_equal(X509_check_ca(ca), 1);
	bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(ca)), EVP_PKEY_EC);
	assert_int_equal(ASN1_STRING_length(X509_get0_serialNumber(ca)), 16);
	/* Ten years, give or take the backdating and leap days. */
	assert_true(X509_cmp_time(X509_get0_notAfter(ca), &(time_t){ time(NULL) + 3640L * 86400 }) > 0);
	X509_free(ca);
}

static void check_server(X509 *ca, const char *dir, const char *cn)
{
	X509 *cert = load_cert(dir, "server.pem");

	assert_int_equal(verify(ca, cert, X509_PURPOSE_SSL_SERVER), 1);
	assert_int_equal(verify(ca, cert, X509_PURPOSE_SSL_CLIENT), 0); /* serverAuth only */
	assert_cn(cert, cn);
	assert_true(X509_get_extended_key_usage(cert) & XKU_SSL_SERVER);
	assert_int_equal(X509_check_host(cert, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ca(cert), 0);
	assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(cert)), EVP_PKEY_EC);
	assert_int_equal(ASN1_STRING_length(X509_get0_serialNumber(cert)), 16);
	X509_free(cert);
}

static void check_client(X509 *ca, const struct fixture *fx, const char *id)
{
	char dir[PATH_MAX];
	X509 *cert;

	bundle_dir(fx, id, dir);
	cert = load_cert(dir, "client.pem");
	assert_int_equal(verify(ca, cert, X509_PURPOSE_SSL_CLIENT), 1);
	assert_int_equal(verify(ca, cert, X509_PURPOSE_SSL_SERVER), 0); /* clientAuth only */
	assert_cn(cert, id);
	assert_true(X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT);
	X509_free(cert);
	/* The bundle's ca.pem is the federation's CA. */
	cert = load_cert(dir, "ca.pem");
	assert_int_equal(X509_cmp(cert, ca), 0);
	X509_free(cert);
}

static void test_certificates(void **state)
{
	struct fixture *fx = *state;
	char dir[PATH_MAX];
	X509 *ca;

	join(dir, fx->fed, "ca");
	ca = load_cert(dir, "ca.pem");
	join(dir, fx->fed, "broker");
	check_server(ca, dir, "fedc-broker");
	join(dir, fx->fed, "repository");
	check_server(ca, dir, "fedc-repository");
	check_client(ca, fx, "a");
	check_client(ca, fx, "b");
	check_client(ca, fx, "r");
	X509_free(ca);
}

/* --host puts the federation's address in the servers' SAN: IP or DNS. */
static void test_host_san(void **state)
{
	static const char *const hosts[] = { "10.1.2.3", "broker.example.org" };
	struct fixture *fx = *state;
	char dir[PATH_MAX], sub[PATH_MAX];
	struct result *r = malloc(sizeof(*r));
	X509 *cert;

	assert_non_null(r);
	for (int i = 0; i < 2; i++) {
		snprintf(sub, sizeof(sub), "host%d", i);
		join(dir, fx->root, sub);
		admin(fx, r, "init", dir, "--host", hosts[i], "--days", "30", NULL);
		assert_int_equal(r->status, 0);
		join(sub, dir, "repository");
		cert = load_cert(sub, "server.pem");
		if (i == 0)
			assert_int_equal(X509_check_ip_asc(cert, hosts[i], 0), 1);
		else
			assert_int_equal(X509_check_host(cert, hosts[i], 0, 0, NULL), 1);
		assert_int_equal(X509_check_host(cert, "localhost", 0, 0, NULL), 1);
		/* --days 30: expires within 31 days. */
		assert_true(X509_cmp_time(X509_get0_notAfter(cert), &(time_t){ time(NULL) + 31L * 86400 }) < 0);
		X509_free(cert);
		rmtree(dir);
	}
	free(r);
}

/* ---- tokens, passwords, signing keys ----------------------------------------------- */

static void assert_hex64_file(const char *dir, const char *name, char *out)
{
	char *s = slurp_in(dir, name);

	assert_non_null(s);
	assert_int_equal(strlen(s), 64); /* no newline */
	assert_true(fedc_hex_valid(s, 64));
	strcpy(out, s);
	free(s);
}

static void test_tokens(void **state)
{
	static const char *const ids[] = { "a", "b", "r" };
	struct fixture *fx = *state;
	char dir[PATH_MAX], token[65], digest[65], line[256], *tokens = slurp_in(fx->fed, "repository/tokens");
	int lines = 0;

	assert_non_null(tokens);
	for (char *p = tokens; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
		if (*p != '#' && *p != '\n')
			lines++;
	assert_int_equal(lines, 3);
	for (size_t i = 0; i < 3; i++) {
		bundle_dir(fx, ids[i], dir);
		assert_hex64_file(dir, "repository.token", token);
		assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, token, 64, digest), FEDC_OK);
		snprintf(line, sizeof(line), "\n%s %s %s\n", strcmp(ids[i], "r") ? "node" : "researcher", ids[i],
			 digest);
		if (!strstr(tokens, line))
			fail_msg("tokens has no line \"%s\":\n%s", line + 1, tokens);
		assert_null(strstr(tokens, token)); /* the token itself never */
	}
	free(tokens);
}

/* passwd lines are mosquitto 2.0's PBKDF2-SHA512 format, recomputed here
 * from each bundle's password (the broker test proves mosquitto agrees). */
static void test_passwd_format(void **state)
{
	static const char *const ids[] = { "a", "b", "r" };
	struct fixture *fx = *state;
	char dir[PATH_MAX], password[65], prefix[16], salt64[32], hash64[128], want64[128];
	unsigned char salt[32], hash[64];
	char *passwd = slurp_in(fx->fed, "broker/passwd"), *line;

	assert_non_null(passwd);
	for (size_t i = 0; i < 3; i++) {
		bundle_dir(fx, ids[i], dir);
		assert_hex64_file(dir, "broker.password", password);
		snprintf(prefix, sizeof(prefix), "%s:$7$101$", ids[i]);
		line = strstr(passwd, prefix);
		assert_non_null(line);
		assert_true(line == passwd || line[-1] == '\n');
		assert_int_equal(sscanf(line + strlen(prefix), "%31[^$]$%127[^\n]", salt64, hash64), 2);
		assert_int_equal(EVP_DecodeBlock(salt, (unsigned char *)salt64, (int)strlen(salt64)), 12);
		assert_int_equal(PKCS5_PBKDF2_HMAC(password, 64, salt, 12, 101, EVP_sha512(), 64, hash), 1);
		EVP_EncodeBlock((unsigned char *)want64, hash, 64);
		assert_string_equal(hash64, want64);
	}
	free(passwd);
}

static void test_acl(void **state)
{
	struct fixture *fx = *state;
	char *acl = slurp_in(fx->fed, "broker/acl");

	assert_non_null(acl);
	assert_non_null(strstr(acl, "\nuser a\ntopic read fedc/" FED "/nodes\ntopic read fedc/" FED "/node/a\n"
				    "topic write fedc/" FED "/researcher/+\ntopic write fedc/" FED "/status/a\n"));
	assert_non_null(strstr(acl, "\nuser b\n"));
	assert_non_null(strstr(acl, "\nuser r\ntopic write fedc/" FED "/nodes\ntopic write fedc/" FED "/node/+\n"
				    "topic read fedc/" FED "/researcher/r\ntopic read fedc/" FED "/status/+\n"));
	free(acl);
}

static EVP_PKEY *load_key(const char *dir, const char *name, bool private)
{
	char path[PATH_MAX];
	EVP_PKEY *key;
	FILE *f;

	join(path, dir, name);
	f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	key = private ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(key);
	assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_ED25519);
	return key;
}

/* Signs with signer's signing.key, verifies with verifier's trusted/<signer>.pub. */
static int sign_verify(const struct fixture *fx, const char *signer, const char *verifier, const char *trusted)
{
	static const unsigned char msg[] = "plan digest 0123";
	unsigned char sig[64];
	size_t siglen = sizeof(sig);
	char sdir[PATH_MAX], vdir[PATH_MAX], name[64];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY *priv, *pub;
	int ok;

	bundle_dir(fx, signer, sdir);
	bundle_dir(fx, verifier, vdir);
	snprintf(name, sizeof(name), "trusted/%s.pub", trusted);
	priv = load_key(sdir, "signing.key", true);
	pub = load_key(vdir, name, false);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, priv), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, msg, sizeof(msg)), 1);
	EVP_MD_CTX_reset(ctx);
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub), 1);
	ok = EVP_DigestVerify(ctx, sig, siglen, msg, sizeof(msg));
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	return ok;
}

static void test_signing_keys(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(sign_verify(fx, "a", "r", "a"), 1);
	assert_int_equal(sign_verify(fx, "b", "r", "b"), 1);
	assert_int_equal(sign_verify(fx, "r", "a", "r"), 1);
	assert_int_equal(sign_verify(fx, "r", "b", "r"), 1);
	/* a's signature does not pass as b's. */
	assert_int_equal(sign_verify(fx, "a", "r", "b"), 0);
}

/* ---- bad usage ------------------------------------------------------------------------ */

/* Runs fedc-admin, expects `status` and `msg` on stderr, and an unchanged tree. */
static void refused(const struct fixture *fx, int status, const char *msg, const char *a1, const char *a2,
		    const char *a3)
{
	char before[65], after[65];
	struct result *r = malloc(sizeof(*r));

	assert_non_null(r);
	fed_digest(fx, before);
	admin(fx, r, a1, a2, a3, NULL);
	if (r->status != status || !strstr(r->err, msg))
		fail_msg("fedc-admin %s %s %s: status %d, stderr \"%s\"; expected %d and \"%s\"", a1, a2 ? a2 : "",
			 a3 ? a3 : "", r->status, r->err, status, msg);
	assert_string_equal(r->out, "");
	fed_digest(fx, after);
	assert_string_equal(before, after);
	free(r);
}

static void test_bad_usage(void **state)
{
	struct fixture *fx = *state;
	char long_id[66], leftover[PATH_MAX], missing[PATH_MAX];

	memset(long_id, 'x', 65);
	long_id[65] = '\0';
	refused(fx, 2, "unknown command", "frobnicate", fx->fed, NULL);
	refused(fx, 2, "expected DIR ID", "add-node", fx->fed, NULL);
	refused(fx, 2, "bad id", "add-node", fx->fed, "a/b");
	refused(fx, 2, "bad id", "add-node", fx->fed, "");
	refused(fx, 2, "bad id", "add-researcher", fx->fed, long_id);
	refused(fx, 2, "unknown option -x", "add-node", fx->fed, "-x");
	refused(fx, 2, "bad id", "add-node", fx->fed, ".x");
	refused(fx, 1, "already a node", "add-node", fx->fed, "a");
	refused(fx, 1, "already a node", "add-researcher", fx->fed, "b");
	refused(fx, 1, "already a researcher", "add-node", fx->fed, "r");
	refused(fx, 1, "already holds a federation", "init", fx->fed, NULL);
	refused(fx, 2, "expected DIR", "init", NULL, NULL);
	refused(fx, 2, "unknown option --bogus", "init", fx->fed, "--bogus");
	refused(fx, 2, "unknown option --bogus", "list", fx->fed, "--bogus");
	refused(fx, 2, "--days needs a value", "init", fx->fed, "--days");
	join(missing, fx->root, "nowhere");
	refused(fx, 1, "No such file", "add-node", missing, "z");
	refused(fx, 1, "No such file", "list", missing, NULL);
	assert_false(access(missing, F_OK) == 0);
	/* An empty directory is no federation. */
	assert_int_equal(mkdir(missing, 0700), 0);
	refused(fx, 1, "no federation.ini", "add-researcher", missing, "z");
	rmdir(missing);
	/* A bundle left by an interrupted add is not overwritten. */
	join(leftover, fx->fed, "nodes/z");
	assert_int_equal(mkdir(leftover, 0700), 0);
	refused(fx, 1, "not registered", "add-node", fx->fed, "z");
	rmdir(leftover);
}

/* --help, -h and `help` at every level print the usage to stdout and exit 0,
 * without a federation directory. */
static void test_help_at_every_level(void **state)
{
	static const char *const cmds[] = { "init", "add-node", "add-researcher", "list" };
	struct fixture *fx = *state;
	struct result *r = malloc(sizeof(*r));
	char want[64];

	assert_non_null(r);
	for (const char *const *h = (const char *const[]){ "--help", "-h", "help", NULL }; *h; h++) {
		admin(fx, r, *h, NULL);
		assert_int_equal(r->status, 0);
		assert_string_equal(r->err, "");
		assert_non_null(strstr(r->out, "usage: fedc-admin COMMAND"));
		for (size_t i = 0; i < 4; i++)
			assert_non_null(strstr(r->out, cmds[i]));
	}
	for (size_t i = 0; i < 4; i++) {
		snprintf(want, sizeof(want), "usage: fedc-admin %s DIR", cmds[i]);
		for (const char *const *h = (const char *const[]){ "--help", "-h", NULL }; *h; h++) {
			admin(fx, r, cmds[i], *h, NULL);
			if (r->status != 0 || !strstr(r->out, want) || r->err[0])
				fail_msg("fedc-admin %s %s: status %d, stdout \"%s\", stderr \"%s\"", cmds[i], *h,
					 r->status, r->out, r->err);
		}
		admin(fx, r, "help", cmds[i], NULL);
		assert_int_equal(r->status, 0);
		assert_non_null(strstr(r->out, want));
	}
	/* the options of init, from its table, with their ranges */
	admin(fx, r, "init", "--help", NULL);
	assert_non_null(strstr(r->out, "--broker-port P"));
	assert_non_null(strstr(r->out, "(1..65535)"));
	/* --help wins over a missing DIR or ID: nothing is needed to read it */
	admin(fx, r, "add-node", "/nonexistent", "--help", NULL);
	assert_int_equal(r->status, 0);
	free(r);
}

/* A wrong flag or number: one line naming the flag, then the command's usage,
 * on stderr; exit 2. */
static void test_bad_flags_and_numbers(void **state)
{
	struct fixture *fx = *state;
	struct result *r = malloc(sizeof(*r));
	char dir[PATH_MAX];
	static const char *const cases[][3] = {
		{ "--broker-port", "4294967297", "--broker-port: expected an integer in 1..65535, got \"4294967297\"" },
		{ "--broker-port", "70000", "--broker-port: expected an integer in 1..65535, got \"70000\"" },
		{ "--repository-port", "-1", "--repository-port: expected an integer in 1..65535, got \"-1\"" },
		{ "--repository-port", "8443x", "--repository-port: expected an integer in 1..65535, got \"8443x\"" },
		{ "--days", "99999999999999999999", "--days: expected an integer in 1..3650" },
		{ "--days", "", "--days: expected an integer in 1..3650, got \"\"" },
	};

	assert_non_null(r);
	join(dir, fx->root, "badflags");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		admin(fx, r, "init", dir, cases[i][0], cases[i][1], NULL);
		if (r->status != 2 || !strstr(r->err, cases[i][2]) || !strstr(r->err, "usage: fedc-admin init DIR"))
			fail_msg("init %s %s: status %d, stderr \"%s\"", cases[i][0], cases[i][1], r->status, r->err);
		assert_string_equal(r->out, "");
	}
	admin(fx, r, "add-researcher", "--nope", dir, "x", NULL);
	assert_int_equal(r->status, 2);
	assert_non_null(strstr(r->err, "unknown option --nope"));
	assert_non_null(strstr(r->err, "usage: fedc-admin add-researcher DIR ID"));
	assert_false(access(dir, F_OK) == 0);
	free(r);
}

static void test_bad_init_options(void **state)
{
	struct fixture *fx = *state;
	char dir[PATH_MAX];
	struct result *r = malloc(sizeof(*r));

	assert_non_null(r);
	join(dir, fx->root, "badinit");
	admin(fx, r, "init", dir, "--federation", "bad/name", NULL);
	assert_int_equal(r->status, 2);
	assert_non_null(strstr(r->err, "bad federation name"));
	admin(fx, r, "init", dir, "--broker-port", "70000", NULL);
	assert_int_equal(r->status, 2);
	admin(fx, r, "init", dir, "--days", "0", NULL);
	assert_int_equal(r->status, 2);
	admin(fx, r, "init", dir, "--host", "a b", NULL);
	assert_int_equal(r->status, 2);
	/* Refused before anything was made. */
	assert_false(access(dir, F_OK) == 0);
	free(r);
}

static void test_list(void **state)
{
	struct fixture *fx = *state;
	struct result *r = malloc(sizeof(*r));

	assert_non_null(r);
	admin(fx, r, "list", fx->fed, NULL);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "federation " FED));
	assert_non_null(strstr(r->out, "\nnode       a\nnode       b\nresearcher r\n"));
	free(r);
}

/* ---- the real broker ---------------------------------------------------------------- */

/* A child process, killed with its parent if the test process dies. */
static pid_t spawn(const char *const *argv, int out_fd)
{
	char **exec_argv = test_argv_dup(argv);
	pid_t pid;

	assert_non_null(exec_argv);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(null, 0);
		dup2(out_fd, 1);
		dup2(out_fd, 2);
		execv(exec_argv[0], exec_argv);
		_exit(127);
	}
	test_argv_free(exec_argv);
	return pid;
}

static void stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

static bool port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int broker_setup(void **state)
{
	struct fixture *fx = *state;
	char conf[PATH_MAX], log[PATH_MAX];
	const char *argv[] = { MOSQUITTO, "-c", conf, NULL };
	int fd;

	if (access(MOSQUITTO, X_OK) != 0 || access(MOSQUITTO_SUB, X_OK) != 0 || access(MOSQUITTO_PUB, X_OK) != 0 ||
	    access(STDBUF, X_OK) != 0)
		return 0; /* the test skips */
	join(conf, fx->fed, "broker/mosquitto.conf");
	join(log, fx->root, "broker.log");
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd < 0)
		return -1;
	fx->broker = spawn(argv, fd);
	close(fd);
	for (int i = 0; i < WAIT_MS / 20 && !port_open(fx->port); i++)
		sleep_ms(20);
	return 0;
}

static int broker_teardown(void **state)
{
	struct fixture *fx = *state;

	stop(&fx->broker);
	return 0;
}

/* The TLS and credential options of one participant for mosquitto_pub/sub. */
struct creds {
	char port[8], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], user[FEDC_MAX_ID_LEN + 1], password[65];
};

static void creds_of(const struct fixture *fx, const char *id, struct creds *c)
{
	char dir[PATH_MAX];

	bundle_dir(fx, id, dir);
	snprintf(c->port, sizeof(c->port), "%d", fx->port);
	join(c->ca, dir, "ca.pem");
	join(c->cert, dir, "client.pem");
	join(c->key, dir, "client.key");
	snprintf(c->user, sizeof(c->user), "%s", id);
	assert_hex64_file(dir, "broker.password", c->password);
}

/* Fills argv with a mosquitto client command; `extra` (NULL-terminated) ends it. */
/* The client id is "<user>:<n>", a new n each time: the broker's plugin takes
 * only client ids of the connecting user (docs/security.md). */
static void client_argv(const char *prog, const struct creds *c, const char **argv, const char *const *extra)
{
	static char ids[16][96];
	static unsigned next_id;
	char *id = ids[next_id % 16];
	const char *base[] = { prog, "-h", "127.0.0.1", "-p", c->port, "--cafile", c->ca, "--cert", c->cert,
			       "--key", c->key, "-u", c->user, "-P", c->password, "-q", "1", "-i", id };
	size_t n = 0;

	snprintf(id, sizeof(ids[0]), "%s:%u", c->user, next_id++);

	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		argv[n++] = base[i];
	while (*extra)
		argv[n++] = *extra++;
	argv[n] = NULL;
}

static int publish(const struct fixture *fx, const struct creds *c, const char *topic, const char *msg,
		   struct result *r)
{
	const char *extra[] = { "-t", topic, "-m", msg, NULL }, *argv[32];

	client_argv(MOSQUITTO_PUB, c, argv, extra);
	run(fx, argv, r);
	return r->status;
}

struct sub {
	pid_t pid;
	int fd; /* read end of its stdout+stderr */
};

/* Reads one line of the subscriber's output within WAIT_MS; false on timeout/EOF. */
static bool sub_line(struct sub *s, char *line, size_t cap)
{
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	size_t n = 0;
	char ch;

	while (n + 1 < cap) {
		if (poll(&p, 1, WAIT_MS) <= 0 || read(s->fd, &ch, 1) != 1)
			return false;
		if (ch == '\n')
			break;
		line[n++] = ch;
	}
	line[n] = '\0';
	return true;
}

/* Starts mosquitto_sub (-d for the "Subscribed" line, -v for topics, -C 1)
 * on up to two topics and waits until the broker has answered SUBSCRIBE. */
static void subscribe(const struct creds *c, const char *t1, const char *t2, struct sub *s)
{
	const char *extra[] = { "-d", "-v", "-C", "1", "-W", "15", "-t", t1, t2 ? "-t" : NULL, t2, NULL };
	const char *argv[40] = { STDBUF, "-oL" };
	char line[1024];
	int p[2];

	client_argv(MOSQUITTO_SUB, c, argv + 2, extra);
	assert_int_equal(pipe(p), 0);
	s->pid = spawn(argv, p[1]);
	close(p[1]);
	s->fd = p[0];
	line[0] = '\0';
	do {
		if (!sub_line(s, line, sizeof(line)))
			fail_msg("%s never subscribed to %s (last output: \"%s\")", c->user, t1, line);
	} while (strncmp(line, "Subscribed (mid:", 16) != 0);
}

/* The first message the subscriber prints ("topic payload"), skipping -d lines. */
static void first_message(struct sub *s, char *line, size_t cap)
{
	do {
		if (!sub_line(s, line, cap))
			fail_msg("no message arrived");
	} while (!strncmp(line, "Client ", 7));
}

static void sub_close(struct sub *s)
{
	stop(&s->pid);
	close(s->fd);
}

/* Delivery and its refusal, each proved by order: the forbidden message is
 * sent first, an allowed one second, and the subscriber's FIRST message must
 * be the allowed one. No sleeps, no timeouts on the success path. */
static void check_acl_delivery(const struct fixture *fx, struct result *r)
{
	struct creds a, b, rr;
	struct sub sa, sb, sr;
	char line[1024];

	creds_of(fx, "a", &a);
	creds_of(fx, "b", &b);
	creds_of(fx, "r", &rr);
	/* a subscribes to its own topic and to b's: mosquitto 2.0.11 grants the
	 * SUBSCRIBE but its read check drops every message of node/b for a. */
	subscribe(&a, "fedc/" FED "/node/b", "fedc/" FED "/node/a", &sa);
	subscribe(&b, "fedc/" FED "/node/b", NULL, &sb);
	subscribe(&rr, "fedc/" FED "/status/+", NULL, &sr);

	assert_int_equal(publish(fx, &rr, "fedc/" FED "/node/b", "for-b", r), 0);
	assert_int_equal(publish(fx, &rr, "fedc/" FED "/node/a", "for-a", r), 0);
	first_message(&sa, line, sizeof(line));
	assert_string_equal(line, "fedc/" FED "/node/a for-a");
	first_message(&sb, line, sizeof(line));
	assert_string_equal(line, "fedc/" FED "/node/b for-b");

	/* a forges b's status: accepted at the protocol level (PUBACK), never delivered. */
	assert_int_equal(publish(fx, &a, "fedc/" FED "/status/b", "forged", r), 0);
	assert_int_equal(publish(fx, &a, "fedc/" FED "/status/a", "online", r), 0);
	first_message(&sr, line, sizeof(line));
	assert_string_equal(line, "fedc/" FED "/status/a online");
	sub_close(&sa);
	sub_close(&sb);
	sub_close(&sr);
}

static void check_refused_connections(const struct fixture *fx, struct result *r)
{
	const char *topic = "fedc/" FED "/status/a";
	const char *plain[] = { MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", NULL, "-u", "a", "-P", NULL, "-t", topic,
				"-m", "x", NULL };
	const char *nocert[] = { MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", NULL, "--cafile", NULL, "-u", "a", "-P",
				 NULL, "-t", topic, "-m", "x", NULL };
	struct creds a, bad;

	creds_of(fx, "a", &a);
	bad = a;
	strcpy(bad.password, "0000000000000000000000000000000000000000000000000000000000000000");
	assert_int_not_equal(publish(fx, &bad, topic, "x", r), 0);
	assert_non_null(strstr(r->err, "not authorised"));
	bad = a;
	strcpy(bad.user, "mallory"); /* a's certificate and password, unknown user */
	assert_int_not_equal(publish(fx, &bad, topic, "x", r), 0);
	assert_non_null(strstr(r->err, "not authorised"));
	bad = a;
	strcpy(bad.user, "b"); /* a's password is not b's */
	assert_int_not_equal(publish(fx, &bad, topic, "x", r), 0);
	assert_non_null(strstr(r->err, "not authorised"));
	nocert[4] = a.port;
	nocert[6] = a.ca;
	nocert[10] = a.password;
	run(fx, nocert, r);
	assert_int_not_equal(r->status, 0);
	plain[4] = a.port;
	plain[8] = a.password;
	run(fx, plain, r);
	assert_int_not_equal(r->status, 0);
	/* The same command with a's real credentials works. */
	assert_int_equal(publish(fx, &a, topic, "x", r), 0);
}

/* add-node while the broker runs: refused until SIGHUP, accepted after. */
static void check_reload(struct fixture *fx, struct result *r)
{
	const char *topic = "fedc/" FED "/status/c";
	struct creds c;
	int status = -1;

	admin(fx, r, "add-node", fx->fed, "c", NULL);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "SIGHUP"));
	creds_of(fx, "c", &c);
	assert_int_not_equal(publish(fx, &c, topic, "x", r), 0);
	assert_int_equal(kill(fx->broker, SIGHUP), 0);
	for (int i = 0; i < 50 && status != 0; i++) {
		status = publish(fx, &c, topic, "x", r);
		if (status)
			sleep_ms(50);
	}
	assert_int_equal(status, 0);
}

static void test_broker(void **state)
{
	struct fixture *fx = *state;
	struct result *r;

	if (fx->broker <= 0) /* mosquitto is a required component (scripts/setup.sh) */
		fail_msg("the broker did not start");
	if (!port_open(fx->port)) {
		char log[PATH_MAX], *text;

		join(log, fx->root, "broker.log");
		text = slurp(log);
		fail_msg("mosquitto did not start:\n%s", text ? text : "(no log)");
	}
	r = malloc(sizeof(*r));
	assert_non_null(r);
	check_acl_delivery(fx, r);
	check_refused_connections(fx, r);
	check_reload(fx, r);
	free(r);
}

/* ---- rotate, revoke, remove --------------------------------------------------- */

static void copy_file(const char *src, const char *dst)
{
	char *data = slurp(src);
	FILE *f;

	assert_non_null(data);
	f = fopen(dst, "w");
	assert_non_null(f);
	assert_int_equal(fputs(data, f) < 0, 0);
	assert_int_equal(fclose(f), 0);
	free(data);
}

/* A copy of the broker credentials of `id` as they are now, under root/old-ID. */
static void keep_old_creds(const struct fixture *fx, const char *id, struct creds *old)
{
	char dir[PATH_MAX], name[64], keep[PATH_MAX], src[PATH_MAX];

	creds_of(fx, id, old);
	snprintf(name, sizeof(name), "old-%s", id);
	join(keep, fx->root, name);
	assert_int_equal(mkdir(keep, 0700), 0);
	bundle_dir(fx, id, dir);
	join(old->cert, keep, "client.pem");
	join(old->key, keep, "client.key");
	join(src, dir, "client.pem");
	copy_file(src, old->cert);
	join(src, dir, "client.key");
	copy_file(src, old->key);
}

/* X509_verify_cert of `cert` against the CA and the federation's CRL. */
static int verify_with_crl(const struct fixture *fx, X509 *cert)
{
	char path[PATH_MAX];
	X509 *ca;
	X509_CRL *crl;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	FILE *f;
	int ok;

	join(path, fx->fed, "ca");
	ca = load_cert(path, "ca.pem");
	join(path, fx->fed, "ca/crl.pem");
	f = fopen(path, "r");
	assert_non_null(f);
	crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(crl);
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_add_crl(store, crl), 1);
	assert_int_equal(X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, cert, NULL), 1);
	ok = X509_verify_cert(ctx);
	if (ok != 1)
		ok = -X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_CRL_free(crl);
	X509_free(ca);
	return ok;
}

/* Tries `c` until the broker (after SIGHUP) gives the expected answer. */
static int publish_until(const struct fixture *fx, const struct creds *c, bool want_ok, struct result *r)
{
	char topic[128];
	int status = -1;

	snprintf(topic, sizeof(topic), "fedc/" FED "/status/%s", c->user);
	for (int i = 0; i < 50; i++) {
		status = publish(fx, c, topic, "x", r);
		if ((status == 0) == want_ok)
			break;
		sleep_ms(50);
	}
	return status;
}

/* rotate a: new certificate, password, token and signing key in a's bundle;
 * after SIGHUP the old password and the old certificate (even with the new
 * password: only the CRL refuses it) are refused, the new ones work. */
static void check_rotate(struct fixture *fx, struct result *r)
{
	char dir[PATH_MAX], rdir[PATH_MAX], token[65], digest[65], line[256];
	char *old_ini, *ini, *old_pub, *pub, *trusted, *tokens;
	struct creds old, now, mixed;
	X509 *old_cert, *new_cert;

	bundle_dir(fx, "a", dir);
	bundle_dir(fx, "r", rdir);
	keep_old_creds(fx, "a", &old);
	old_ini = slurp_in(dir, "node.ini");
	old_pub = slurp_in(dir, "signing.pub");
	old_cert = load_cert(dir, "client.pem");
	assert_int_equal(verify_with_crl(fx, old_cert), 1);

	admin(fx, r, "rotate", fx->fed, "a", NULL);
	if (r->status != 0)
		fail_msg("rotate: %s%s", r->out, r->err);
	assert_non_null(strstr(r->out, "kill -HUP"));
	creds_of(fx, "a", &now);
	assert_string_not_equal(now.password, old.password);
	ini = slurp_in(dir, "node.ini");
	assert_string_equal(ini, old_ini); /* the ini (and data) stay */
	pub = slurp_in(dir, "signing.pub");
	assert_string_not_equal(pub, old_pub);
	trusted = slurp_in(rdir, "trusted/a.pub"); /* the researcher trusts the new key */
	assert_string_equal(trusted, pub);
	free(trusted);
	trusted = slurp_in(fx->fed, "keys/a.pub");
	assert_string_equal(trusted, pub);
	assert_hex64_file(dir, "repository.token", token);
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, token, 64, digest), FEDC_OK);
	tokens = slurp_in(fx->fed, "repository/tokens");
	snprintf(line, sizeof(line), "\nnode a %s\n", digest);
	assert_non_null(strstr(tokens, line));
	/* the old certificate is revoked, the new one valid */
	new_cert = load_cert(dir, "client.pem");
	assert_int_equal(verify_with_crl(fx, old_cert), -X509_V_ERR_CERT_REVOKED);
	assert_int_equal(verify_with_crl(fx, new_cert), 1);

	assert_int_equal(kill(fx->broker, SIGHUP), 0);
	assert_int_equal(publish_until(fx, &now, true, r), 0);
	assert_int_not_equal(publish_until(fx, &old, false, r), 0);
	mixed = old;
	strcpy(mixed.password, now.password);
	assert_int_not_equal(publish_until(fx, &mixed, false, r), 0);
	creds_of(fx, "b", &mixed); /* the others go on */
	assert_int_equal(publish_until(fx, &mixed, true, r), 0);
	free(old_ini);
	free(ini);
	free(old_pub);
	free(pub);
	free(trusted);
	free(tokens);
	X509_free(old_cert);
	X509_free(new_cert);
}

/* revoke b: password, ACL block, token and trusted key go, the bundle and a
 * record stay; the id cannot come back until removed. */
static void check_revoke(struct fixture *fx, struct result *r)
{
	char dir[PATH_MAX], rdir[PATH_MAX], path[PATH_MAX];
	char *passwd, *acl, *tokens;
	struct creds b, a;
	X509 *cert;

	bundle_dir(fx, "b", dir);
	bundle_dir(fx, "r", rdir);
	creds_of(fx, "b", &b);
	cert = load_cert(dir, "client.pem");
	admin(fx, r, "revoke", fx->fed, "b", NULL);
	if (r->status != 0)
		fail_msg("revoke: %s%s", r->out, r->err);
	passwd = slurp_in(fx->fed, "broker/passwd");
	acl = slurp_in(fx->fed, "broker/acl");
	tokens = slurp_in(fx->fed, "repository/tokens");
	assert_null(strstr(passwd, "\nb:"));
	assert_int_not_equal(strncmp(passwd, "b:", 2), 0);
	assert_non_null(strstr(passwd, "a:"));
	assert_null(strstr(acl, "user b\n"));
	assert_non_null(strstr(acl, "user a\n"));
	assert_null(strstr(tokens, "node b "));
	join(path, rdir, "trusted/b.pub");
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(dir, F_OK), 0); /* the bundle stays */
	assert_int_equal(verify_with_crl(fx, cert), -X509_V_ERR_CERT_REVOKED);
	admin(fx, r, "list", fx->fed, NULL);
	assert_non_null(strstr(r->out, "node       b (revoked)\n"));
	admin(fx, r, "add-node", fx->fed, "b", NULL);
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->err, "revoked"));
	admin(fx, r, "revoke", fx->fed, "b", NULL);
	assert_int_equal(r->status, 1);

	assert_int_equal(kill(fx->broker, SIGHUP), 0);
	assert_int_not_equal(publish_until(fx, &b, false, r), 0);
	creds_of(fx, "a", &a);
	assert_int_equal(publish_until(fx, &a, true, r), 0);
	free(passwd);
	free(acl);
	free(tokens);
	X509_free(cert);
}

/* remove c (enrolled by the broker test) and the revoked b: bundles, keys and
 * records go; b's certificate stays revoked; the id b can be enrolled anew. */
static void check_remove(struct fixture *fx, struct result *r)
{
	char dir[PATH_MAX], path[PATH_MAX];
	X509 *cert;

	bundle_dir(fx, "b", dir);
	cert = load_cert(dir, "client.pem");
	admin(fx, r, "remove", fx->fed, "c", NULL);
	if (r->status != 0)
		fail_msg("remove: %s%s", r->out, r->err);
	bundle_dir(fx, "c", dir);
	assert_int_equal(access(dir, F_OK), -1);
	join(path, fx->fed, "keys/c.pub");
	assert_int_equal(access(path, F_OK), -1);
	admin(fx, r, "remove", fx->fed, "b", NULL);
	assert_int_equal(r->status, 0);
	bundle_dir(fx, "b", dir);
	assert_int_equal(access(dir, F_OK), -1);
	admin(fx, r, "list", fx->fed, NULL);
	assert_null(strstr(r->out, "node       b"));
	assert_null(strstr(r->out, "node       c"));
	assert_non_null(strstr(r->out, "node       a\n"));
	assert_int_equal(verify_with_crl(fx, cert), -X509_V_ERR_CERT_REVOKED);
	admin(fx, r, "remove", fx->fed, "nobody", NULL);
	assert_int_equal(r->status, 1);
	admin(fx, r, "rotate", fx->fed, "c", NULL);
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->err, "not a participant"));
	admin(fx, r, "add-node", fx->fed, "b", NULL);
	assert_int_equal(r->status, 0);
	X509_free(cert);
}

static void test_rotate_revoke_remove(void **state)
{
	struct fixture *fx = *state;
	struct result *r;

	if (fx->broker <= 0) /* mosquitto is a required component (scripts/setup.sh) */
		fail_msg("the broker did not start");
	assert_true(port_open(fx->port));
	r = malloc(sizeof(*r));
	assert_non_null(r);
	check_rotate(fx, r);
	check_revoke(fx, r);
	check_remove(fx, r);
	free(r);
}

/* ---- peers/: the other nodes' keys in a node's bundle ---------------------------- */

/* Each of these tests has its own federation (nodes x, y, z and researcher
 * r, no broker), made by peers_setup in place of the group's. */
static int peers_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct result *r = malloc(sizeof(*r));
	static const char *const nodes[] = { "x", "y", "z" };
	int ok = fx && r;

	if (ok) {
		snprintf(fx->root, sizeof(fx->root), "/tmp/fedc-test-admin-peers-XXXXXX");
		ok = mkdtemp(fx->root) != NULL;
	}
	ok = ok && (size_t)snprintf(fx->fed, sizeof(fx->fed), "%s/fed", fx->root) < sizeof(fx->fed);
	if (ok) {
		admin(fx, r, "init", fx->fed, "--federation", FED, NULL);
		ok = r->status == 0;
	}
	for (size_t i = 0; ok && i < 3; i++) {
		admin(fx, r, "add-node", fx->fed, nodes[i], NULL);
		ok = r->status == 0;
	}
	if (ok) {
		admin(fx, r, "add-researcher", fx->fed, "r", NULL);
		ok = r->status == 0;
	}
	if (!ok && r)
		fprintf(stderr, "provisioning failed: %s%s\n", r->out, r->err);
	free(r);
	if (!ok && fx) {
		if (fx->root[0] == '/')
			rmtree(fx->root);
		free(fx);
		fx = NULL;
	}
	*state = fx;
	return ok ? 0 : -1;
}

static int peers_teardown(void **state)
{
	struct fixture *fx = *state;

	if (fx) {
		rmtree(fx->root);
		free(fx);
	}
	return 0;
}

/* The names in DIR/sub, sorted and joined by spaces ("" if empty); NULL if
 * the directory does not exist. Caller frees. */
static char *names_in(const char *dir, const char *sub)
{
	struct dirent **names = NULL;
	char path[PATH_MAX], *out;
	size_t len = 0;
	int n;

	join(path, dir, sub);
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0)
		return NULL;
	out = calloc(1, (size_t)n * (NAME_MAX + 1) + 1);
	assert_non_null(out);
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, ".."))
			len += (size_t)sprintf(out + len, "%s%s", len ? " " : "", names[i]->d_name);
		free(names[i]);
	}
	free(names);
	return out;
}

/* Node `id`'s peers/ holds exactly `want` ("x.pub z.pub"), each byte-equal to
 * DIR/keys/N.pub, and its trusted/ only the researcher's key. */
static void assert_peers(const struct fixture *fx, const char *id, const char *want)
{
	char dir[PATH_MAX], list[256], name[64], *got, *save = NULL, *tok, *mine, *kept;

	bundle_dir(fx, id, dir);
	got = names_in(dir, "peers");
	if (!got)
		fail_msg("%s has no peers/", dir);
	if (strcmp(got, want) != 0)
		fail_msg("%s/peers holds \"%s\", expected \"%s\"", dir, got, want);
	free(got);
	snprintf(list, sizeof(list), "%s", want);
	for (tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		snprintf(name, sizeof(name), "peers/%s", tok);
		mine = slurp_in(dir, name);
		snprintf(name, sizeof(name), "keys/%s", tok);
		kept = slurp_in(fx->fed, name);
		assert_non_null(mine);
		assert_non_null(kept);
		assert_string_equal(mine, kept);
		free(mine);
		free(kept);
	}
	got = names_in(dir, "trusted");
	assert_non_null(got);
	assert_string_equal(got, "r.pub"); /* never a node's key: a node obeys only researchers */
	free(got);
}

/* Signs with signer's signing.key and verifies with `verifier`'s peers/<signer>.pub. */
static int peer_verifies(const struct fixture *fx, const char *signer, const char *verifier)
{
	static const unsigned char msg[] = "ephemeral key 0123";
	unsigned char sig[64];
	size_t siglen = sizeof(sig);
	char sdir[PATH_MAX], vdir[PATH_MAX], name[64];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY *priv, *pub;
	int ok;

	assert_non_null(ctx);
	bundle_dir(fx, signer, sdir);
	bundle_dir(fx, verifier, vdir);
	snprintf(name, sizeof(name), "peers/%s.pub", signer);
	priv = load_key(sdir, "signing.key", true);
	pub = load_key(vdir, name, false);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, priv), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, msg, sizeof(msg)), 1);
	EVP_MD_CTX_reset(ctx);
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub), 1);
	ok = EVP_DigestVerify(ctx, sig, siglen, msg, sizeof(msg));
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	return ok;
}

/* After add-node x, y, z: each node's peers/ holds the other two keys, its
 * node.ini says so, and the researcher's bundle is as before: trusted/ with
 * the nodes' keys, no peers/, no peer_keys_dir. */
static void test_peers_after_add(void **state)
{
	struct fixture *fx = *state;
	char dir[PATH_MAX], path[PATH_MAX], *got;
	struct fedc_config *cfg = NULL;
	const char *v;

	assert_peers(fx, "x", "y.pub z.pub");
	assert_peers(fx, "y", "x.pub z.pub");
	assert_peers(fx, "z", "x.pub y.pub");
	assert_int_equal(peer_verifies(fx, "y", "x"), 1);
	assert_int_equal(peer_verifies(fx, "x", "z"), 1);
	bundle_dir(fx, "z", dir);
	join(path, dir, "node.ini");
	assert_int_equal(fedc_config_load(path, &cfg), FEDC_OK);
	assert_int_equal(fedc_config_str(cfg, "security", "peer_keys_dir", true, NULL, &v), FEDC_OK);
	assert_string_equal(v, "peers");
	fedc_config_free(cfg);

	bundle_dir(fx, "r", dir);
	got = names_in(dir, "peers");
	assert_null(got);
	got = names_in(dir, "trusted");
	assert_non_null(got);
	assert_string_equal(got, "x.pub y.pub z.pub");
	free(got);
	got = slurp_in(dir, "network.ini");
	assert_non_null(got);
	assert_null(strstr(got, "peer"));
	free(got);
}

/* rotate y: its new key replaces peers/y.pub in x and z; a researcher's
 * rotation leaves every peers/ alone. */
static void test_peers_after_rotate(void **state)
{
	struct fixture *fx = *state;
	struct result *r = malloc(sizeof(*r));
	char xdir[PATH_MAX], ydir[PATH_MAX], *old, *now, *in_x, *x_before, *x_after;

	assert_non_null(r);
	bundle_dir(fx, "x", xdir);
	bundle_dir(fx, "y", ydir);
	old = slurp_in(xdir, "peers/y.pub");
	assert_non_null(old);
	admin(fx, r, "rotate", fx->fed, "y", NULL);
	if (r->status != 0)
		fail_msg("rotate: %s%s", r->out, r->err);
	assert_non_null(strstr(r->out, "peers/y.pub"));
	now = slurp_in(ydir, "signing.pub");
	in_x = slurp_in(xdir, "peers/y.pub");
	assert_non_null(now);
	assert_non_null(in_x);
	assert_string_not_equal(now, old);
	assert_string_equal(in_x, now);
	assert_peers(fx, "x", "y.pub z.pub");
	assert_peers(fx, "z", "x.pub y.pub");
	assert_peers(fx, "y", "x.pub z.pub"); /* its own peers/ stays */
	assert_int_equal(peer_verifies(fx, "y", "z"), 1);

	x_before = slurp_in(xdir, "peers/z.pub");
	admin(fx, r, "rotate", fx->fed, "r", NULL);
	if (r->status != 0)
		fail_msg("rotate: %s%s", r->out, r->err);
	x_after = slurp_in(xdir, "peers/z.pub");
	assert_string_equal(x_after, x_before);
	assert_peers(fx, "x", "y.pub z.pub");
	free(old);
	free(now);
	free(in_x);
	free(x_before);
	free(x_after);
	free(r);
}

/* revoke y: peers/y.pub leaves x and z; remove z: peers/z.pub leaves x; a
 * node added afterwards gets only the nodes still enrolled. */
static void test_peers_after_revoke_and_remove(void **state)
{
	struct fixture *fx = *state;
	struct result *r = malloc(sizeof(*r));

	assert_non_null(r);
	admin(fx, r, "revoke", fx->fed, "y", NULL);
	if (r->status != 0)
		fail_msg("revoke: %s%s", r->out, r->err);
	assert_peers(fx, "x", "z.pub");
	assert_peers(fx, "z", "x.pub");
	admin(fx, r, "remove", fx->fed, "z", NULL);
	if (r->status != 0)
		fail_msg("remove: %s%s", r->out, r->err);
	assert_peers(fx, "x", "");
	admin(fx, r, "add-node", fx->fed, "w", NULL);
	if (r->status != 0)
		fail_msg("add-node: %s%s", r->out, r->err);
	assert_peers(fx, "w", "x.pub"); /* not the revoked y */
	assert_peers(fx, "x", "w.pub");
	admin(fx, r, "remove", fx->fed, "y", NULL); /* revoked earlier: nothing else changes */
	assert_int_equal(r->status, 0);
	assert_peers(fx, "x", "w.pub");
	free(r);
}

/* A node bundle deleted after it shipped: add, rotate and revoke of another
 * node name the peers/ file to deliver or delete by hand, and go on with the
 * bundles still there. */
static void test_peers_bundle_gone_warns(void **state)
{
	struct fixture *fx = *state;
	struct result *r = malloc(sizeof(*r));
	char zdir[PATH_MAX];

	assert_non_null(r);
	bundle_dir(fx, "z", zdir);
	rmtree(zdir);
	admin(fx, r, "add-node", fx->fed, "w", NULL);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->err, "warning"));
	assert_non_null(strstr(r->err, "give z the key"));
	assert_non_null(strstr(r->err, "as peers/w.pub by hand"));
	assert_peers(fx, "x", "w.pub y.pub z.pub");
	assert_peers(fx, "w", "x.pub y.pub z.pub");
	admin(fx, r, "rotate", fx->fed, "x", NULL);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->err, "as peers/x.pub by hand"));
	assert_peers(fx, "w", "x.pub y.pub z.pub");
	admin(fx, r, "revoke", fx->fed, "y", NULL);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->err, "delete peers/y.pub from z's copy by hand"));
	assert_peers(fx, "x", "w.pub z.pub");
	assert_peers(fx, "w", "x.pub z.pub");
	free(r);
}

/* ---- add-nodes: many nodes in one change ------------------------------------------ */

/* Writes `text` to ROOT/name and gives its path. */
static void write_list(const struct fixture *fx, const char *name, const char *text, char *path)
{
	FILE *f;

	join(path, fx->root, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* add-nodes p1 p2 p3 (comments, blank lines and blanks around ids in the
 * list) on top of x, y, z: every node's peers/ holds every other node's
 * key, the researcher trusts all six, passwd has one line per user. */
/* A bundle's ca.pem holds the CA certificate but is not a link to the
 * federation's own file: an edit in place of one must not change the other. */
static void assert_ca_is_own_copy(struct fixture *fx, const char *id)
{
	char dir[PATH_MAX], mine[PATH_MAX + 16], ca[PATH_MAX + 16];
	struct stat a, b;

	bundle_dir(fx, id, dir);
	snprintf(mine, sizeof(mine), "%s/ca.pem", dir);
	snprintf(ca, sizeof(ca), "%s/ca/ca.pem", fx->fed);
	assert_int_equal(stat(mine, &a), 0);
	assert_int_equal(stat(ca, &b), 0);
	assert_false(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
	assert_int_equal(a.st_size, b.st_size);
}

static void test_add_nodes_batch(void **state)
{
	struct fixture *fx = *state;
	struct result *r = malloc(sizeof(*r));
	char list[PATH_MAX], dir[PATH_MAX], *got, *passwd;

	assert_non_null(r);
	write_list(fx, "ids", "# three more hospitals\n  p1 \n\np2\r\np3", list);
	admin(fx, r, "add-nodes", fx->fed, list, NULL);
	if (r->status != 0)
		fail_msg("add-nodes: %s%s", r->out, r->err);
	assert_non_null(strstr(r->out, "3 nodes added"));
	assert_peers(fx, "p1", "p2.pub p3.pub x.pub y.pub z.pub");
	assert_peers(fx, "p3", "p1.pub p2.pub x.pub y.pub z.pub");
	assert_peers(fx, "x", "p1.pub p2.pub p3.pub y.pub z.pub");
	assert_int_equal(peer_verifies(fx, "p2", "x"), 1);
	assert_int_equal(peer_verifies(fx, "x", "p3"), 1);
	assert_ca_is_own_copy(fx, "p2");
	bundle_dir(fx, "r", dir);
	got = names_in(dir, "trusted");
	assert_non_null(got);
	assert_string_equal(got, "p1.pub p2.pub p3.pub x.pub y.pub z.pub");
	free(got);
	passwd = slurp_in(fx->fed, "broker/passwd");
	assert_non_null(passwd);
	for (const char *const *id = (const char *const[]){ "p1:", "p2:", "p3:", "x:", "r:", NULL }; *id; id++) {
		char *at = strstr(passwd, *id);

		if (!at || (at != passwd && at[-1] != '\n') || strstr(at + 1, *id))
			fail_msg("passwd should hold one line for %s:\n%s", *id, passwd);
	}
	free(passwd);
	/* the batch went through the one commit: list shows them */
	admin(fx, r, "list", fx->fed, NULL);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "7 participant(s)"));
	free(r);
}

/* A list with one bad, taken or repeated id, or none at all, is refused
 * and the federation is left exactly as it was. */
static void test_add_nodes_refused_changes_nothing(void **state)
{
	static const struct {
		const char *text;
		int status;
		const char *why;
	} cases[] = {
		{ "q1\nq2\nq1\n", 1, "\"q1\" is given twice" },
		{ "q1\nx\n", 1, "\"x\" is already a node" },
		{ "q1\n\n-bad\n", 2, "line 3: bad id \"-bad\"" },
		{ "q1\nhas space\n", 2, "line 2: bad id" },
		{ "# only a comment\n\n", 2, "holds no id" },
	};
	struct fixture *fx = *state;
	struct result *r = malloc(sizeof(*r));
	char before[FEDC_SHA256_HEXLEN + 1], after[FEDC_SHA256_HEXLEN + 1], list[PATH_MAX];

	assert_non_null(r);
	fed_digest(fx, before);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_list(fx, "ids", cases[i].text, list);
		admin(fx, r, "add-nodes", fx->fed, list, NULL);
		if (r->status != cases[i].status || !strstr(r->err, cases[i].why))
			fail_msg("list %zu: want exit %d and \"%s\", got %d: %s", i, cases[i].status, cases[i].why,
				 r->status, r->err);
		fed_digest(fx, after);
		assert_string_equal(before, after);
	}
	join(list, fx->root, "no-such-list");
	admin(fx, r, "add-nodes", fx->fed, list, NULL);
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->err, "no-such-list"));
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_and_modes),
		cmocka_unit_test(test_broker_size_limits),
		cmocka_unit_test(test_bundle_ini),
		cmocka_unit_test(test_ca),
		cmocka_unit_test(test_certificates),
		cmocka_unit_test(test_host_san),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_passwd_format),
		cmocka_unit_test(test_acl),
		cmocka_unit_test(test_signing_keys),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_bad_usage),
		cmocka_unit_test(test_bad_init_options),
		cmocka_unit_test(test_help_at_every_level),
		cmocka_unit_test(test_bad_flags_and_numbers),
		/* Last: it adds node c. */
		cmocka_unit_test_setup_teardown(test_broker, broker_setup, broker_teardown),
		/* After it: it rotates a, revokes b, removes c and b. */
		cmocka_unit_test_setup_teardown(test_rotate_revoke_remove, broker_setup, broker_teardown),
		/* Each on a federation of its own (nodes x, y, z, researcher r). */
		cmocka_unit_test_setup_teardown(test_peers_after_add, peers_setup, peers_teardown),
		cmocka_unit_test_setup_teardown(test_peers_after_rotate, peers_setup, peers_teardown),
		cmocka_unit_test_setup_teardown(test_peers_after_revoke_and_remove, peers_setup, peers_teardown),
		cmocka_unit_test_setup_teardown(test_peers_bundle_gone_warns, peers_setup, peers_teardown),
		cmocka_unit_test_setup_teardown(test_add_nodes_batch, peers_setup, peers_teardown),
		cmocka_unit_test_setup_teardown(test_add_nodes_refused_changes_nothing, peers_setup, peers_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
