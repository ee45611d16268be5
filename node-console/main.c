/* fedc-node-console: the node's web console for the data steward.
 * Runs until SIGINT or SIGTERM; SIGHUP re-reads its certificate.
 *
 *   fedc-node-console [--config FILE] serve
 *   fedc-node-console [--config FILE] user add NAME     (password on stdin)
 *   fedc-node-console [--config FILE] user remove NAME
 *   fedc-node-console [--config FILE] user list
 *
 * The config is the node's (node.ini, its [console] section); the config
 * file defaults to $FEDC_NODE_CONFIG, then ./node.ini. docs/node-console.md. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "console.h"
#include "console_metrics.h"
#include "fedc/log.h"
#include "kdf.h"
#include "server.h"
#include "tls.h"

#define PROG "fedc-node-console"

static const char usage_text[] =
	"usage: " PROG " [--config FILE] serve\n"
	"       " PROG " [--config FILE] user add NAME      (the password is read from stdin)\n"
	"       " PROG " [--config FILE] user remove NAME\n"
	"       " PROG " [--config FILE] user list\n"
	"The config file is the node's: --config, else $FEDC_NODE_CONFIG, else ./node.ini.\n"
	"serve runs until SIGINT or SIGTERM; SIGHUP re-reads [console] tls_cert_file, tls_key_file\n"
	"and session_idle_s.\n"
	"[console] metrics_listen = HOST:PORT serves Prometheus metrics there (plain HTTP).\n"
	"See docs/node-console.md.\n";

static int fail(const char *what)
{
	fprintf(stderr, PROG ": %s: %s\n", what, fedc_last_error()[0] ? fedc_last_error() : "failed");
	return 1;
}

/* A user name: 1 to 64 of A-Z a-z 0-9 . _ @ -. */
static bool name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > SESSION_USER_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("._@-", *p)))
			return false;
	return true;
}

/* One line from stdin, without its newline, at most KDF_PASSWORD_MAX bytes. */
static bool read_password(char *out, size_t cap)
{
	size_t len;

	if (!fgets(out, (int)cap, stdin))
		return false;
	len = strcspn(out, "\r\n");
	if (len == strlen(out) && !feof(stdin))
		return false; /* longer than the buffer */
	out[len] = '\0';
	return true;
}

static int user_add(struct store *st, const char *name)
{
	char password[KDF_PASSWORD_MAX + 2], hash[KDF_HASH_BUF];
	int code = 1;

	if (!read_password(password, sizeof(password))) {
		fprintf(stderr, PROG ": user add: give the password as one line on stdin (at most %d bytes)\n",
			KDF_PASSWORD_MAX);
		goto out;
	}
	if (strlen(password) < KDF_PASSWORD_MIN) {
		fprintf(stderr, PROG ": user add: the password is shorter than %d characters\n", KDF_PASSWORD_MIN);
		goto out;
	}
	if (kdf__hash(password, hash) || store__user_add(st, name, hash, (int64_t)time(NULL))) {
		code = fail("user add");
		goto out;
	}
	if (store__audit(st, (int64_t)time(NULL), "-", "command line", "user-add", name, ""))
		fail("audit log");
	fprintf(stderr, PROG ": user add: \"%s\" can log in\n", name);
	code = 0;
out:
	OPENSSL_cleanse(password, sizeof(password));
	return code;
}

static enum fedc_err print_user(void *ctx, const char *const *col, int n)
{
	(void)ctx;
	(void)n;
	printf("%s\n", col[0]);
	return FEDC_OK;
}

static int user_command(struct console *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (strcmp(sub, "list") == 0 && argc == 2)
		return store__each(c->store, STORE_USERS, print_user, NULL) ? fail("user list") : 0;
	if (argc != 3 || (strcmp(sub, "add") != 0 && strcmp(sub, "remove") != 0)) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (!name_ok(argv[2])) {
		fprintf(stderr, PROG ": user %s: \"%s\": a name is 1 to %d of A-Z a-z 0-9 . _ @ -\n", sub, argv[2],
			SESSION_USER_MAX);
		return 2;
	}
	if (strcmp(sub, "add") == 0)
		return user_add(c->store, argv[2]);
	if (store__user_remove(c->store, argv[2]))
		return fail("user remove");
	if (store__audit(c->store, (int64_t)time(NULL), "-", "command line", "user-remove", argv[2], ""))
		fail("audit log");
	return 0;
}

/* SIGHUP (systemctl reload): node.ini is read again for the certificate and
 * key (a renewed certificate) and session_idle_s; the server restarts on
 * the same address with them, and the sessions, kept in this process,
 * survive. A config or a certificate that does not load keeps what is in
 * use. listen, port and the node's own keys need a restart. False only when
 * no server could be started again at all. */
static bool reload(struct console *c, struct tls_pem *pem, struct console_server **srv)
{
	struct node_config fresh = { 0 };
	struct tls_pem next = { 0 };
	struct console_server *started = NULL;
	bool ok = true;

	if (node_config__load(c->cli.cfg.path, &fresh) != FEDC_OK) {
		fedc_error("SIGHUP: %s; the certificate in use is kept", fedc_last_error());
		return true;
	}
	if (!fresh.console_tls_cert_file || !fresh.console_tls_key_file ||
	    tls__load(fresh.console_tls_cert_file, fresh.console_tls_key_file, &next) != FEDC_OK) {
		fedc_error("SIGHUP: %s: [console] tls_cert_file and tls_key_file: %s; the certificate in use is kept",
			   fresh.path, fresh.console_tls_cert_file ? fedc_last_error() : "not set");
		goto out;
	}
	server__stop(*srv);
	*srv = NULL;
	if (server__start(c, &next, &started) == FEDC_OK) {
		tls__free(pem);
		*pem = next;
		next = (struct tls_pem){ 0 };
		*srv = started;
		c->sessions.idle_s = fresh.console_session_idle_s;
		fedc_info("SIGHUP: certificate %s reloaded; sessions end after %llds idle", fresh.console_tls_cert_file,
			  (long long)fresh.console_session_idle_s);
	} else {
		fedc_error("SIGHUP: %s; serving again with the certificate in use", fedc_last_error());
		ok = server__start(c, pem, srv) == FEDC_OK;
	}
out:
	tls__free(&next);
	node_config__free(&fresh);
	return ok;
}

static int serve(struct console *c)
{
	struct tls_pem pem = { 0 };
	struct console_server *srv = NULL;
	struct console_metrics_server *metrics = NULL;
	const struct node_config *cfg = &c->cli.cfg;
	sigset_t set;
	int sig, code = 1;

	if (!cfg->console_tls_cert_file || !cfg->console_tls_cert_file[0] || !cfg->console_tls_key_file ||
	    !cfg->console_tls_key_file[0]) {
		fprintf(stderr, PROG ": serve: %s: set [console] tls_cert_file and tls_key_file (the console speaks"
			" HTTPS only)\n", cfg->path);
		return 2;
	}
	/* Signals are taken by this thread alone, in sigwait: block them before
	 * the server's thread starts, which inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (tls__load(cfg->console_tls_cert_file, cfg->console_tls_key_file, &pem) ||
	    console_metrics__start(cfg, &metrics) || server__start(c, &pem, &srv)) {
		code = fail("serve");
		goto out;
	}
	fedc_info("serving https://%s:%lld/", cfg->console_listen, (long long)cfg->console_port);
	while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
		if (!reload(c, &pem, &srv)) {
			fail("serve");
			goto out;
		}
	}
	fedc_info("stopping (signal %d)", sig);
	code = 0;
out:
	server__stop(srv);
	console_metrics__stop(metrics);
	tls__free(&pem);
	return code;
}

static int run(const char *config_path, int argc, char **argv)
{
	struct console c = { .cli = { .config_path = config_path } };
	int code;

	if (cli__open_db(&c.cli, &c.db)) /* loads node.ini, migrates the schema */
		return fail(config_path);
	if (store__open(c.cli.cfg.db_path, &c.store)) {
		code = fail(c.cli.cfg.db_path);
		goto out;
	}
	fedc_log_init("console", c.cli.cfg.log_level, dup(2));
	sessions__init(&c.sessions, c.cli.cfg.console_session_idle_s);
	if (strcmp(argv[0], "serve") == 0 && argc == 1)
		code = serve(&c);
	else if (strcmp(argv[0], "user") == 0)
		code = user_command(&c, argc, argv);
	else {
		fputs(usage_text, stderr);
		code = 2;
	}
out:
	store__close(c.store);
	db__close(c.db);
	if (c.cli.loaded)
		node_config__free(&c.cli.cfg);
	return code;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *config = getenv("FEDC_NODE_CONFIG");
	int opt;

	if (!config || !config[0])
		config = "node.ini";
	while ((opt = getopt_long(argc, argv, "+c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	/* `COMMAND --help` needs no config (man pages are made from it). */
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
	}
	return run(config, argc - optind, argv + optind);
}
