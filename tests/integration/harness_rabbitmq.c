/* The harness's RabbitMQ: a broker node of its own, started from Debian's
 * rabbitmq-server on the files `fedc-admin init --broker rabbitmq` wrote
 * (rabbitmq.conf, advanced.config, enabled_plugins, definitions.json, crls/), with everything else
 * in the test directory: its Erlang node name, cookie (HOME), database,
 * logs, distribution port and an epmd of its own on a free port (a system
 * epmd or broker on the default ports is never touched).
 *
 * RABBITMQ_ALLOW_INPUT makes the start script exec the Erlang VM rather than
 * run it as a child, so h->broker.pid is the VM itself: PR_SET_PDEATHSIG
 * (harness_spawn) reaches it and SIGTERM stops it cleanly; "-noinput" keeps
 * it off the test's stdin. */
#define _GNU_SOURCE
#include "harness_private.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ENV_VARS 18

/* Erlang takes 10-15 s to boot the broker on this machine kind. */
#define RABBIT_START_TIMEOUT_MS 90000

/* The environment of rabbitmq-server and rabbitmqctl for this test's node. */
struct rabbit_env {
	char text[ENV_VARS][640];
	char *v[ENV_VARS + 1];
};

static void env_set(struct rabbit_env *e, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void env_set(struct rabbit_env *e, size_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->text[*n], sizeof(e->text[*n]), fmt, ap);
	va_end(ap);
	e->v[*n] = e->text[*n];
	e->v[++*n] = NULL;
}

static void rabbit_env(struct harness *h, struct rabbit_env *e)
{
	char dir[400];
	size_t n = 0;

	snprintf(dir, sizeof(dir), "%s/rabbit", h->dir);
	env_set(e, &n, "HOME=%s/home", dir); /* the Erlang cookie */
	env_set(e, &n, "RABBITMQ_NODENAME=%s", h->rabbit_node);
	env_set(e, &n, "RABBITMQ_MNESIA_BASE=%s/mnesia", dir);
	env_set(e, &n, "RABBITMQ_LOG_BASE=%s/log", dir);
	env_set(e, &n, "RABBITMQ_LOGS=-"); /* to the harness's log file */
	env_set(e, &n, "RABBITMQ_PID_FILE=%s/pid", dir);
	env_set(e, &n, "RABBITMQ_CONF_ENV_FILE=%s/rabbitmq-env.conf", dir);
	env_set(e, &n, "RABBITMQ_ADVANCED_CONFIG_FILE=%s/broker/advanced.config", h->fed_dir);
	env_set(e, &n, "RABBITMQ_CONFIG_FILE=%s/broker/rabbitmq.conf", h->fed_dir);
	env_set(e, &n, "RABBITMQ_ENABLED_PLUGINS_FILE=%s/broker/enabled_plugins", h->fed_dir);
	env_set(e, &n, "RABBITMQ_DIST_PORT=%d", h->dist_port);
	env_set(e, &n, "ERL_EPMD_PORT=%d", h->epmd_port);
	env_set(e, &n, "RABBITMQ_ALLOW_INPUT=1");
	env_set(e, &n, "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-noinput");
}

/* The test's own directories, and an empty rabbitmq-env.conf so that the
 * system's /etc/rabbitmq/rabbitmq-env.conf is not read. */
static int make_dirs(struct harness *h)
{
	static const char *const subs[] = { "rabbit", "rabbit/home", "rabbit/mnesia", "rabbit/log" };
	char path[512];
	FILE *f;

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", h->dir, subs[i]);
		if (mkdir(path, 0700) != 0 && access(path, F_OK) != 0)
			return -1;
	}
	snprintf(path, sizeof(path), "%s/rabbit/rabbitmq-env.conf", h->dir);
	f = fopen(path, "w");
	return f && fclose(f) == 0 ? 0 : -1;
}

/* Ports and node name, once: a restart keeps them (and the database). */
static int pick_ports(struct harness *h)
{
	if (h->epmd_port)
		return 0;
	h->epmd_port = harness__free_port();
	do
		h->dist_port = harness__free_port();
	while (h->dist_port == h->epmd_port);
	snprintf(h->rabbit_node, sizeof(h->rabbit_node), "fedc-test-%d@localhost", h->broker_port);
	return h->epmd_port > 0 && h->dist_port > 0 ? 0 : -1;
}

static int start_epmd(struct harness *h)
{
	char port[16];
	const char *argv[] = { FEDC_EPMD, "-port", port, NULL };

	if (h->epmd.pid > 0)
		return 0;
	snprintf(port, sizeof(port), "%d", h->epmd_port);
	if (harness_spawn(h, &h->epmd, "epmd", argv) != 0)
		return -1;
	return harness__wait_port(h->epmd_port, 10000);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The broker logs this line after its definitions are loaded and its
 * listeners started: only then do the users exist. The log is appended
 * to across restarts, so the count of such lines is what tells. */
static int count_startups(const char *log)
{
	static const char needle[] = "Server startup complete";
	char line[4096];
	FILE *f = fopen(log, "r");
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

static int wait_started(struct harness *h, int before)
{
	int64_t deadline = now_ms() + RABBIT_START_TIMEOUT_MS;

	while (now_ms() < deadline) {
		if (count_startups(h->broker.log) > before)
			return harness__wait_port(h->broker_port, 5000);
		if (kill(h->broker.pid, 0) != 0) {
			fprintf(stderr, "rabbitmq-server exited during start-up: see %s\n", h->broker.log);
			return -1;
		}
		usleep(100000);
	}
	fprintf(stderr, "rabbitmq-server did not start within %d s: see %s\n", RABBIT_START_TIMEOUT_MS / 1000,
		h->broker.log);
	return -1;
}

int harness__rabbit_start(struct harness *h)
{
	const char *argv[] = { FEDC_RABBITMQ_BIN_DIR "/rabbitmq-server", NULL };
	struct rabbit_env env;
	char log[600];
	int before;

	if (access(argv[0], X_OK) != 0 || access(FEDC_EPMD, X_OK) != 0) {
		fprintf(stderr, "RabbitMQ is not installed (%s, %s): apt-get install rabbitmq-server "
				"(scripts/setup.sh installs it)\n", argv[0], FEDC_EPMD);
		return -1;
	}
	if (make_dirs(h) || pick_ports(h) || start_epmd(h))
		return -1;
	rabbit_env(h, &env);
	snprintf(log, sizeof(log), "%s/rabbitmq.log", h->dir);
	before = count_startups(log);
	if (harness__spawn_env(h, &h->broker, "rabbitmq", argv, env.v) != 0)
		return -1;
	return wait_started(h, before);
}

int harness_rabbitmqctl(struct harness *h, const char *const *args, char *out, size_t cap)
{
	const char *argv[16] = { FEDC_RABBITMQ_BIN_DIR "/rabbitmqctl", "-n", h->rabbit_node };
	struct rabbit_env env;
	size_t n = 3;

	for (size_t i = 0; args[i] && n < sizeof(argv) / sizeof(argv[0]) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	rabbit_env(h, &env);
	return harness__run_env(h, argv, env.v, 60, out, cap);
}

int harness__rabbit_import_definitions(struct harness *h)
{
	char file[512], out[4096];
	const char *args[] = { "import_definitions", file, NULL };
	int rc;

	snprintf(file, sizeof(file), "%s/broker/definitions.json", h->fed_dir);
	rc = harness_rabbitmqctl(h, args, out, sizeof(out));
	if (rc != 0)
		fprintf(stderr, "rabbitmqctl import_definitions failed (%d): %s\n", rc, out);
	return rc == 0 ? 0 : -1;
}
