/* Integration-test harness (see harness.h). */
#define _GNU_SOURCE
#include "harness.h"
#include "harness_private.h"
#include "../test_argv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "fedc/log.h"
#include "fedc/message.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *harness_bin(const char *name)
{
	static char path[8][512];
	static int next;
	char *p = path[next++ % 8];

	snprintf(p, 512, "%s/%s", FEDC_BIN_DIR, name);
	return p;
}

const char *harness_plan(const char *name)
{
	static char path[8][512];
	static int next;
	char *p = path[next++ % 8];

	snprintf(p, 512, "%s/%s.so", FEDC_PLAN_DIR, name);
	return p;
}

/* A port that binds now, below the kernel's ephemeral range: one in that
 * range can be taken by any outgoing connection (a fuzzer or another test
 * opening thousands) before the server binds it. */
int harness__free_port(void)
{
	static unsigned seed;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	int lo = 32768, hi = 60999;

	if (f) {
		if (fscanf(f, "%d %d", &lo, &hi) != 2 || lo <= 21000)
			lo = 32768;
		fclose(f);
	}
	/* Not getpid() ^ time: two tests that ctest starts one after the other
	 * (pid n at an even millisecond t, pid n + 1 at t + 1) got the same
	 * seed, hence the same ports, and one talked to the other's servers. */
	if (!seed && getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = (unsigned)getpid() * 2654435761u ^ (unsigned)now_ms();
	for (int tries = 0; tries < 1000; tries++) {
		int port = 20000 + (int)((unsigned)rand_r(&seed) % (unsigned)(lo - 20000));
		struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
					    .sin_port = htons((uint16_t)port) };
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;

		if (fd >= 0)
			close(fd);
		if (ok)
			return port;
	}
	return -1;
}

static bool port_open(int port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				    .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

int harness__wait_port(int port, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	while (now_ms() < deadline) {
		if (port_open(port))
			return 0;
		usleep(20000);
	}
	return -1;
}

static int write_text(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int write_text(const char *path, const char *fmt, ...)
{
	FILE *f = fopen(path, "w");
	va_list ap;

	if (!f)
		return -1;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	return fclose(f) == 0 ? 0 : -1;
}

/* Runs fedc-admin with `args` (NULL-terminated, after the program name). */
static int admin(struct harness *h, const char *const *args)
{
	const char *argv[16] = { harness_bin("fedc-admin") };
	char out[4096];
	size_t n = 1;
	int rc;

	for (; args[n - 1] && n < 15; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	rc = harness_run(h, argv, 60, out, sizeof(out));
	if (rc != 0)
		fprintf(stderr, "fedc-admin %s failed (%d): %s\n", args[0], rc, out);
	return rc == 0 ? 0 : -1;
}

/* The test researcher's keys: sign what the harness sends, check replies.
 * Reloaded after each add-node, which puts the node's key in its bundle. */
static int load_channel(struct harness *h)
{
	char key[512], trusted[512];

	fedc_channel_free(&h->channel);
	snprintf(key, sizeof(key), "%s/signing.key", h->researcher_dir);
	snprintf(trusted, sizeof(trusted), "%s/trusted", h->researcher_dir);
	return fedc_channel_init(&h->channel, h->researcher_id, key, trusted, 300, false) == FEDC_OK ? 0 : -1;
}

static int provision(struct harness *h)
{
	char broker_port[16], repo_port[16];
	const char *init[12] = { "init", h->fed_dir, "--federation", h->federation, "--broker-port", broker_port,
				 "--repository-port", repo_port, NULL };
	const char *researcher[] = { "add-researcher", h->fed_dir, h->researcher_id, NULL };
	size_t n = 0;

	while (init[n])
		n++;
	if (h->broker_kind == HARNESS_RABBITMQ) {
		init[n++] = "--broker";
		init[n++] = "rabbitmq";
	}

	h->broker_port = harness__free_port();
	do
		h->repo_port = harness__free_port();
	while (h->repo_port == h->broker_port);
	snprintf(broker_port, sizeof(broker_port), "%d", h->broker_port);
	snprintf(repo_port, sizeof(repo_port), "%d", h->repo_port);
	snprintf(h->broker_url, sizeof(h->broker_url), "ssl://127.0.0.1:%d", h->broker_port);
	snprintf(h->repo_url, sizeof(h->repo_url), "https://127.0.0.1:%d", h->repo_port);
	snprintf(h->fed_dir, sizeof(h->fed_dir), "%s/fed", h->dir);
	snprintf(h->researcher_dir, sizeof(h->researcher_dir), "%s/researchers/%s", h->fed_dir, h->researcher_id);
	if (admin(h, init) || admin(h, researcher))
		return -1;
	return load_channel(h);
}

int harness_init(struct harness *h)
{
	return harness_init_broker(h, HARNESS_MOSQUITTO);
}

int harness_init_broker(struct harness *h, enum harness_broker kind)
{
	const char *tmp = getenv("TMPDIR");

	memset(h, 0, sizeof(*h));
	h->broker_kind = kind;
	/* TMPDIR as mkdtemp(1) takes it: bench_round on a tmpfs measures the
	 * stack without this machine's ext4 (docs/benchmarks.md) */
	snprintf(h->dir, sizeof(h->dir), "%s/fedc-test-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
	if (!mkdtemp(h->dir))
		return -1;
	chmod(h->dir, 0755);
	snprintf(h->federation, sizeof(h->federation), "test");
	snprintf(h->researcher_id, sizeof(h->researcher_id), "test-researcher");
	fedc_log_init("harness", FEDC_LOG_WARN, 2);
	signal(SIGPIPE, SIG_IGN);
	return provision(h);
}

int harness_spawn(struct harness *h, struct harness_proc *p, const char *name, const char *const argv[])
{
	return harness__spawn_env(h, p, name, argv, NULL);
}

int harness__spawn_env(struct harness *h, struct harness_proc *p, const char *name, const char *const argv[],
		       char *const env[])
{
	char **copy = test_argv_dup(argv);
	pid_t pid;

	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->log, sizeof(p->log), "%s/%s.log", h->dir, name);
	pid = copy ? fork() : -1;
	if (pid < 0) {
		test_argv_free(copy);
		return -1;
	}
	if (pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		/* Whatever happens to the test, its servers go with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		for (size_t i = 0; env && env[i]; i++)
			putenv(env[i]);
		execv(copy[0], copy);
		_exit(127);
	}
	test_argv_free(copy);
	p->pid = pid;
	return 0;
}

int harness_stop(struct harness_proc *p, int sig, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int status = -1;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	while (now_ms() < deadline) {
		pid_t w = waitpid(p->pid, &status, WNOHANG);

		if (w == p->pid) {
			p->pid = 0;
			return status;
		}
		usleep(10000);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	p->pid = 0;
	return -1;
}

int harness_run(struct harness *h, const char *const argv[], int timeout_s, char *out, size_t cap)
{
	return harness__run_env(h, argv, NULL, timeout_s, out, cap);
}

int harness__run_env(struct harness *h, const char *const argv[], char *const env[], int timeout_s, char *out,
		     size_t cap)
{
	struct harness_proc p = { 0 };
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	char name[64];
	static int counter;
	int status = -1;

	snprintf(name, sizeof(name), "run-%d", ++counter);
	if (harness__spawn_env(h, &p, name, argv, env) != 0)
		return -1;
	for (;;) {
		pid_t w = waitpid(p.pid, &status, WNOHANG);

		if (w == p.pid)
			break;
		if (now_ms() > deadline) {
			kill(p.pid, SIGKILL);
			waitpid(p.pid, &status, 0);
			status = -1;
			break;
		}
		usleep(10000);
	}
	if (out && cap) {
		FILE *f = fopen(p.log, "r");
		size_t n = f ? fread(out, 1, cap - 1, f) : 0;

		out[n] = '\0';
		if (f)
			fclose(f);
	}
	if (status == -1)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Copies `src` to `dst` and appends `extra`. */
static int copy_with(const char *src, const char *dst, const char *extra)
{
	FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
	char buf[4096];
	size_t n;
	int rc = in && out ? 0 : -1;

	while (!rc && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		rc = fwrite(buf, 1, n, out) == n ? 0 : -1;
	if (!rc && fputs(extra, out) < 0)
		rc = -1;
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		rc = -1;
	return rc;
}

int harness_start_broker(struct harness *h)
{
	char conf[512], provisioned[512];
	const char *argv[] = { FEDC_MOSQUITTO, "-c", conf, NULL };

	if (h->broker_kind == HARNESS_RABBITMQ)
		return harness__rabbit_start(h);

	/* fedc-admin's config as it is: its queue depth (max_queued_messages)
	 * is what the many-node tests need too. */
	snprintf(provisioned, sizeof(provisioned), "%s/broker/mosquitto.conf", h->fed_dir);
	snprintf(conf, sizeof(conf), "%s/mosquitto.conf", h->dir);
	if (copy_with(provisioned, conf, "") != 0)
		return -1;
	if (harness_spawn(h, &h->broker, "mosquitto", argv) != 0)
		return -1;
	return harness__wait_port(h->broker_port, 10000);
}

void harness_repository_argv(const struct harness *h, const char *config, const char *argv[HARNESS_REPOSITORY_ARGV])
{
	size_t n = 0;

	argv[n++] = harness_bin("fedc-repository");
	argv[n++] = "--config";
	argv[n++] = config;
	for (size_t i = 0; i < HARNESS_REPOSITORY_FLAGS && h->repository_flags[i]; i++)
		argv[n++] = h->repository_flags[i];
	argv[n] = NULL;
}

int harness_start_repository(struct harness *h)
{
	char config[512];
	const char *argv[HARNESS_REPOSITORY_ARGV];

	snprintf(config, sizeof(config), "%s/repository/repository.ini", h->fed_dir);
	harness_repository_argv(h, config, argv);
	if (harness_spawn(h, &h->repo, "repository", argv) != 0)
		return -1;
	return harness__wait_port(h->repo_port, 10000);
}

size_t harness_lines_containing(const char *path, long from, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	size_t n = 0;

	if (f && fseek(f, from, SEEK_SET) != 0) {
		fclose(f);
		return 0;
	}
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

/* Sends SIGHUP to `p` until its log shows a reload (a new line holding
 * `mark`) begun after the call, so after the files it re-reads were
 * written. Mosquitto 2.0 clears its reload flag after reloading: a SIGHUP
 * that arrives during a reload is lost (scripts/lib.sh, reload_and_wait). */
static void reload_and_wait(const struct harness_proc *p, const char *mark)
{
	struct stat st;
	long from = stat(p->log, &st) == 0 ? (long)st.st_size : 0; /* only what is logged from now on */

	for (int tries = 0; tries < 5; tries++) {
		int64_t deadline = now_ms() + 2000;

		kill(p->pid, SIGHUP);
		while (now_ms() < deadline) {
			if (harness_lines_containing(p->log, from, mark) > 0)
				return;
			usleep(10000);
		}
	}
	fprintf(stderr, "harness: %s did not reload after 5 SIGHUPs (no new \"%s\" in %s)\n", p->name, mark,
		p->log);
}

void harness_reload_credentials(struct harness *h)
{
	if (h->broker.pid > 0 && h->broker_kind == HARNESS_RABBITMQ)
		(void)harness__rabbit_import_definitions(h);
	else if (h->broker.pid > 0)
		reload_and_wait(&h->broker, "Reloading config");
	if (h->repo.pid > 0)
		reload_and_wait(&h->repo, "SIGHUP: re-read");
}

int harness_connect_as(struct harness *h, const char *bundle, const char *user, const char *client_id,
		       const char *const *subs, size_t n_subs, struct fedc_mqtt **out)
{
	char ca[512], cert[512], key[512], password_file[512], password[256];
	struct fedc_mqtt_options opts = { 0 };

	snprintf(ca, sizeof(ca), "%s/ca.pem", bundle);
	snprintf(cert, sizeof(cert), "%s/client.pem", bundle);
	snprintf(key, sizeof(key), "%s/client.key", bundle);
	snprintf(password_file, sizeof(password_file), "%s/broker.password", bundle);
	if (fedc_read_secret(password_file, password, sizeof(password)) != FEDC_OK)
		return -1;
	opts.url = h->broker_url;
	opts.client_id = client_id;
	opts.username = user;
	opts.password = password;
	opts.ca_file = ca;
	opts.cert_file = cert;
	opts.key_file = key;
	opts.fail_fast_on_refusal = true;
	opts.subscriptions = subs;
	opts.n_subscriptions = n_subs;
	opts.connect_timeout_s = 10;
	return fedc_mqtt_connect(&opts, out) == FEDC_OK ? 0 : -1;
}

/* The broker takes a client id only as "<user>" or "<user>:..." (the
 * fedc plugin, docs/security.md). */
static const char *observer_client_id(const struct harness *h)
{
	static char id[FEDC_MAX_ID_LEN + 32];

	snprintf(id, sizeof(id), "%s:test-observer", h->researcher_id);
	return id;
}

int harness_connect_observer(struct harness *h)
{
	char status_all[FEDC_MAX_TOPIC_LEN + 1], reply[FEDC_MAX_TOPIC_LEN + 1];
	const char *subs[] = { status_all, reply };

	if (fedc_topic_status_all(status_all, h->federation) != FEDC_OK ||
	    fedc_topic_researcher(reply, h->federation, h->researcher_id) != FEDC_OK)
		return -1;
	return harness_connect_as(h, h->researcher_dir, h->researcher_id, observer_client_id(h), subs, 2, &h->observer);
}

int harness_connect_status_observer(struct harness *h)
{
	char status_all[FEDC_MAX_TOPIC_LEN + 1];
	const char *subs[] = { status_all };

	if (fedc_topic_status_all(status_all, h->federation) != FEDC_OK)
		return -1;
	return harness_connect_as(h, h->researcher_dir, h->researcher_id, observer_client_id(h), subs, 1, &h->observer);
}

const char *harness_network_section(struct harness *h)
{
	static char text[4096];
	const char *r = h->researcher_dir;

	snprintf(text, sizeof(text),
		 "[network]\nfederation = %s\nresearcher_id = %s\nbroker_url = %s\nbroker_ca_file = %s/ca.pem\n"
		 "broker_cert_file = %s/client.pem\nbroker_key_file = %s/client.key\nbroker_username = %s\n"
		 "broker_password_file = %s/broker.password\nrepository_url = %s\nrepository_ca_file = %s/ca.pem\n"
		 "repository_token_file = %s/repository.token\nsigning_key = %s/signing.key\n"
		 "trusted_keys_dir = %s/trusted\n",
		 h->federation, h->researcher_id, h->broker_url, r, r, r, h->researcher_id, r, h->repo_url, r, r, r, r);
	return text;
}

int harness_repo_as(struct harness *h, const char *bundle, struct fedc_repo **out)
{
	char path[512], token[256], ca[512];

	snprintf(path, sizeof(path), "%s/repository.token", bundle);
	snprintf(ca, sizeof(ca), "%s/ca.pem", bundle);
	if (fedc_read_secret(path, token, sizeof(token)) != FEDC_OK ||
	    fedc_repo_new(h->repo_url, token, 30, out) != FEDC_OK)
		return -1;
	if (fedc_repo_set_ca_file(*out, ca) != FEDC_OK) {
		fedc_repo_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int harness_reload_trust(struct harness *h)
{
	return load_channel(h);
}

int harness_repo_new(struct harness *h, struct fedc_repo **out)
{
	return harness_repo_as(h, h->researcher_dir, out);
}

/* Room for one more node in h->nodes; -1 past HARNESS_MAX_NODES (said). */
static int reserve_node(struct harness *h)
{
	struct harness_node *grown;
	size_t cap = h->cap_nodes ? h->cap_nodes * 2 : 16;

	if (h->n_nodes >= HARNESS_MAX_NODES) {
		fprintf(stderr, "harness: at most %d nodes\n", HARNESS_MAX_NODES);
		return -1;
	}
	if (h->n_nodes < h->cap_nodes)
		return 0;
	grown = realloc(h->nodes, cap * sizeof(*grown));
	if (!grown)
		return -1;
	memset(grown + h->cap_nodes, 0, (cap - h->cap_nodes) * sizeof(*grown));
	h->nodes = grown;
	h->cap_nodes = cap;
	return 0;
}

int harness_add_node(struct harness *h, const char *id, const char *csv, const char *tags, const char *plan)
{
	struct harness_node *n;
	char out[4096];
	int rc;

	if (reserve_node(h) != 0)
		return -1;
	n = &h->nodes[h->n_nodes];
	snprintf(n->id, sizeof(n->id), "%s", id);
	char config[sizeof(n->config)]; /* built aside: n lives inside h */
	const char *add[] = { "add-node", h->fed_dir, id, NULL };
	FILE *f;

	snprintf(config, sizeof(config), "%s/nodes/%s/node.ini", h->fed_dir, id);
	memcpy(n->config, config, sizeof(config));
	if (admin(h, add) != 0 || load_channel(h) != 0)
		return -1;
	harness_reload_credentials(h);
	f = fopen(n->config, "a");
	if (!f || fputs("[limits]\ntrain_timeout_s = 60\n[log]\nlevel = debug\n", f) < 0 || fclose(f) != 0)
		return -1;
	if (csv) {
		const char *argv[] = { harness_bin("fedc-node"), "--config", n->config, "dataset", "add", "--name",
				       id, "--tags", tags, "--file", csv, NULL };

		rc = harness_run(h, argv, 30, out, sizeof(out));
		if (rc != 0) {
			fprintf(stderr, "dataset add failed (%d): %s\n", rc, out);
			return -1;
		}
	}
	if (plan) {
		const char *argv[] = { harness_bin("fedc-node"), "--config", n->config, "plan", "approve",
				       plan, NULL };

		rc = harness_run(h, argv, 30, out, sizeof(out));
		if (rc != 0) {
			fprintf(stderr, "plan approve failed (%d): %s\n", rc, out);
			return -1;
		}
	}
	return (int)h->n_nodes++;
}

/* ---- many nodes at once (the 1000-node bench) ---- */

/* The node CLI step `step` (0: dataset add, 1: plan approve) of node i,
 * spawned; 1 when the node has no such step, -1 on failure. */
static int spawn_cli_step(struct harness *h, size_t i, int step, const char *csv, const char *tags,
			  const char *plan, struct harness_proc *p)
{
	struct harness_node *n = &h->nodes[i];
	char name[96];

	snprintf(name, sizeof(name), "cli-%s-%d", n->id, step);
	if (step == 0 && csv) {
		const char *argv[] = { harness_bin("fedc-node"), "--config", n->config, "dataset", "add", "--name",
				       n->id, "--tags", tags, "--file", csv, NULL };

		return harness_spawn(h, p, name, argv);
	}
	if (step == 1 && plan) {
		const char *argv[] = { harness_bin("fedc-node"), "--config", n->config, "plan", "approve", plan, NULL };

		return harness_spawn(h, p, name, argv);
	}
	return 1;
}

struct cli_slot {
	struct harness_proc proc;
	size_t node;
	int step;
};

/* Starts the next step of the slot's node, or of the next node (*next);
 * false when there is nothing left to start. -1 in *rc on failure. */
static bool start_next_step(struct harness *h, struct cli_slot *s, size_t *next, size_t end, const char *csv,
			    const char *tags, const char *plan, int *rc)
{
	for (;;) {
		int r;

		if (s->step >= 2) {
			if (*next >= end)
				return false;
			s->node = (*next)++;
			s->step = 0;
		}
		r = spawn_cli_step(h, s->node, s->step++, csv, tags, plan, &s->proc);
		if (r < 0)
			*rc = -1;
		if (r <= 0)
			return r == 0;
	}
}

/* Registers the dataset and approves the plan of nodes [first, end),
 * `parallel` nodes at a time (each node's two steps in order: they share
 * its database). */
static int run_node_clis(struct harness *h, size_t first, size_t end, const char *csv, const char *tags,
			 const char *plan, unsigned parallel)
{
	struct cli_slot *slots = calloc(parallel, sizeof(*slots));
	size_t next = first, running = 0;
	int rc = slots ? 0 : -1;

	for (unsigned k = 0; !rc && k < parallel; k++) {
		slots[k].step = 2;
		running += start_next_step(h, &slots[k], &next, end, csv, tags, plan, &rc);
	}
	/* Each slot's own pid, not waitpid(-1): that could reap a running
	 * daemon of the harness. */
	while (running > 0) {
		bool reaped = false;

		for (unsigned k = 0; k < parallel; k++) {
			int status;

			if (slots[k].proc.pid <= 0 || waitpid(slots[k].proc.pid, &status, WNOHANG) != slots[k].proc.pid)
				continue;
			reaped = true;
			slots[k].proc.pid = 0;
			running--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				fprintf(stderr, "harness: %s failed, see %s\n", slots[k].proc.name, slots[k].proc.log);
				rc = -1;
			}
			if (!rc)
				running += start_next_step(h, &slots[k], &next, end, csv, tags, plan, &rc);
		}
		if (!reaped)
			usleep(2000);
	}
	free(slots);
	return rc;
}

int harness_add_nodes(struct harness *h, const char *prefix, size_t n, const char *csv, const char *tags,
		      const char *plan, const char *log_level, unsigned parallel)
{
	char list[512], out[4096];
	const char *add[] = { harness_bin("fedc-admin"), "add-nodes", h->fed_dir, list, NULL };
	size_t first = h->n_nodes;
	FILE *f;
	int rc;

	snprintf(list, sizeof(list), "%s/%s.ids", h->dir, prefix);
	f = fopen(list, "w");
	for (size_t i = 0; f && i < n; i++)
		fprintf(f, "%s-%04zu\n", prefix, first + i);
	if (!f || fclose(f) != 0)
		return -1;
	rc = harness_run(h, add, 1800, out, sizeof(out));
	if (rc != 0) {
		fprintf(stderr, "fedc-admin add-nodes failed (%d): %s\n", rc, out);
		return -1;
	}
	if (load_channel(h) != 0)
		return -1;
	harness_reload_credentials(h);
	for (size_t i = 0; i < n; i++) {
		struct harness_node *node;

		if (reserve_node(h) != 0)
			return -1;
		node = &h->nodes[h->n_nodes];
		memset(node, 0, sizeof(*node));
		snprintf(node->id, sizeof(node->id), "%s-%04zu", prefix, first + i);
		snprintf(node->config, sizeof(node->config), "%s/nodes/%s/node.ini", h->fed_dir, node->id);
		f = fopen(node->config, "a");
		if (!f || fprintf(f, "[limits]\ntrain_timeout_s = 60\n[log]\nlevel = %s\n", log_level) < 0 ||
		    fclose(f) != 0)
			return -1;
		h->n_nodes++;
	}
	if (run_node_clis(h, first, first + n, csv, tags, plan, parallel ? parallel : 1) != 0)
		return -1;
	return (int)first;
}

/* The index in [first, first + n) of the node called `id`, or n. */
static size_t node_index(const struct harness *h, size_t first, size_t n, const char *id)
{
	for (size_t i = first; i < first + n; i++) {
		if (strcmp(h->nodes[i].id, id) == 0)
			return i - first;
	}
	return n;
}

int harness_start_nodes(struct harness *h, size_t first, size_t n, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	bool *online = calloc(n ? n : 1, sizeof(*online));
	struct fedc_msg *msg = calloc(1, sizeof(*msg));
	size_t up = 0;

	for (size_t i = first; online && msg && i < first + n; i++) {
		if (harness_spawn_node(h, i) != 0)
			goto out;
	}
	while (online && msg && up < n && now_ms() < deadline) {
		struct fedc_mqtt_message *m = NULL;
		struct fedc_origin origin;
		size_t k;

		if (fedc_mqtt_next(h->observer, (int)(deadline - now_ms()), &m) != FEDC_OK)
			break;
		if (fedc_channel_accept(&h->channel, m->topic, m->payload, m->len, msg, &origin) == FEDC_OK &&
		    msg->command == FEDC_CMD_STATUS && strcmp(msg->state, "online") == 0 &&
		    (k = node_index(h, first, n, msg->node_id)) < n && !online[k]) {
			online[k] = true;
			up++;
		}
		fedc_msg_clear(msg);
		fedc_mqtt_message_free(m);
	}
	for (size_t k = 0; online && up < n && k < n; k++) {
		if (!online[k])
			fprintf(stderr, "harness: node %s is not online after %d ms, see %s\n", h->nodes[first + k].id,
				timeout_ms, h->nodes[first + k].proc.log);
	}
out:
	free(msg);
	free(online);
	return online && up == n ? 0 : -1;
}

int harness_wait_status(struct harness *h, const char *id, const char *state, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct fedc_msg *msg = calloc(1, sizeof(*msg));
	int found = -1;

	while (msg && found != 0 && now_ms() < deadline) {
		struct fedc_mqtt_message *m = NULL;

		if (fedc_mqtt_next(h->observer, (int)(deadline - now_ms()), &m) != FEDC_OK)
			break;
		struct fedc_origin origin;

		if (fedc_channel_accept(&h->channel, m->topic, m->payload, m->len, msg, &origin) == FEDC_OK &&
		    msg->command == FEDC_CMD_STATUS && strcmp(msg->node_id, id) == 0 &&
		    strcmp(msg->state, state) == 0)
			found = 0;
		fedc_msg_clear(msg); /* a search reply's datasets are allocated */
		fedc_mqtt_message_free(m);
	}
	free(msg);
	return found;
}

int harness_start_sandbox_node(struct harness *h, const char *tags, int train_timeout_s, int cpu_seconds,
			       int memory_mb, const char *const *fixtures, size_t n_fixtures)
{
	char csv[512], limits[128];

	snprintf(limits, sizeof(limits), "train_timeout_s = %d\ncpu_seconds = %d\nmemory_mb = %d\n", train_timeout_s,
		 cpu_seconds, memory_mb);
	if (harness_init(h) || harness_start_broker(h) || harness_start_repository(h) || harness_connect_observer(h))
		return -1;
	snprintf(csv, sizeof(csv), "%s/site.csv", h->dir);
	if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, 0, 60) ||
	    harness_add_node(h, "site", csv, tags, NULL) != 0 || harness_node_limits(h, 0, limits) != 0)
		return -1;
	for (size_t i = 0; i < n_fixtures; i++) {
		char name[64];
		const char *argv[] = { harness_bin("fedc-node"), "--config", h->nodes[0].config, "plan", "approve",
				       NULL, NULL };

		snprintf(name, sizeof(name), "fixtures/%s", fixtures[i]);
		argv[5] = harness_plan(name);
		if (harness_run(h, argv, 30, NULL, 0) != 0)
			return -1;
	}
	return harness_start_node(h, 0);
}

int harness_wait_online(struct harness *h, const char *id, int timeout_ms)
{
	return harness_wait_status(h, id, "online", timeout_ms);
}

int harness_spawn_node(struct harness *h, size_t i)
{
	struct harness_node *n = &h->nodes[i];
	const char *argv[] = { harness_bin("fedc-node"), "--config", n->config, "start", NULL };

	return harness_spawn(h, &n->proc, n->id, argv);
}

int harness_start_node(struct harness *h, size_t i)
{
	if (harness_spawn_node(h, i) != 0)
		return -1;
	return harness_wait_online(h, h->nodes[i].id, 20000);
}

int harness_send(struct harness *h, const char *node_id, struct fedc_msg *msg)
{
	char topic[FEDC_MAX_TOPIC_LEN + 1];

	snprintf(msg->researcher_id, sizeof(msg->researcher_id), "%s", h->researcher_id);
	fedc_msg_set(msg, FEDC_F_RESEARCHER_ID);
	if (fedc_topic_node(topic, h->federation, node_id) != FEDC_OK)
		return -1;
	return fedc_channel_publish(&h->channel, h->observer, topic, msg, false) == FEDC_OK ? 0 : -1;
}

int harness_next_reply(struct harness *h, int timeout_ms, void **payload, size_t *len)
{
	int64_t deadline = now_ms() + timeout_ms;
	char reply[FEDC_MAX_TOPIC_LEN + 1];
	struct fedc_envelope env;
	void *raw = NULL;
	size_t raw_len = 0;
	int rc = fedc_topic_researcher(reply, h->federation, h->researcher_id) == FEDC_OK ? 0 : -1;
	enum fedc_err opened = FEDC_ERR_NOT_FOUND;

	/* A version-3 reply is MAC'd under a session of the real researcher
	 * (fedc-researcher run), which this observer does not hold: not for it. */
	while (!rc && opened == FEDC_ERR_NOT_FOUND) {
		int64_t left = deadline - now_ms();

		free(raw);
		raw = NULL;
		rc = left > 0 ? harness_next_raw(h, (int)left, &raw, &raw_len) : -1;
		if (!rc)
			opened = fedc_envelope_open(h->channel.trusted, reply, raw, raw_len, &env);
	}
	if (!rc && opened != FEDC_OK) {
		fprintf(stderr, "reply refused: %s\n", fedc_last_error());
		rc = -1;
	}
	if (!rc) {
		*payload = malloc(env.body_len ? env.body_len : 1);
		memcpy(*payload, env.body, env.body_len);
		*len = env.body_len;
	}
	free(raw);
	return rc;
}

int harness_next_raw(struct harness *h, int timeout_ms, void **payload, size_t *len)
{
	int64_t deadline = now_ms() + timeout_ms;
	char reply[FEDC_MAX_TOPIC_LEN + 1];

	if (fedc_topic_researcher(reply, h->federation, h->researcher_id) != FEDC_OK)
		return -1;
	while (now_ms() < deadline) {
		struct fedc_mqtt_message *m = NULL;

		if (fedc_mqtt_next(h->observer, (int)(deadline - now_ms()), &m) != FEDC_OK)
			return -1;
		if (strcmp(m->topic, reply) == 0) {
			*payload = malloc(m->len ? m->len : 1);
			memcpy(*payload, m->payload, m->len);
			*len = m->len;
			fedc_mqtt_message_free(m);
			return 0;
		}
		fedc_mqtt_message_free(m);
	}
	return -1;
}

int harness_split_csv(const char *src, const char *dst, size_t first, size_t count)
{
	FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
	char line[8192];
	size_t row = 0, written = 0;
	int rc = -1;

	if (!in || !out || !fgets(line, sizeof(line), in))
		goto out;
	/* "569,30,malignant,benign" -> "<count>,30,malignant,benign" */
	fprintf(out, "%zu%s", count, strchr(line, ','));
	while (fgets(line, sizeof(line), in)) {
		if (row >= first && row < first + count) {
			fputs(line, out);
			written++;
		}
		row++;
	}
	rc = written == count ? 0 : -1;
out:
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		rc = -1;
	return rc;
}

int harness_write_experiment(struct harness *h, const char *path, const char *plan, const char *tags,
			     unsigned rounds, unsigned min_nodes, unsigned timeout_s, const char *model_section,
			     const char *extra)
{
	return write_text(path,
			  "[experiment]\nname = test\ntags = %s\nplan = %s\nrounds = %u\nmin_nodes = %u\n"
			  "round_timeout_s = %u\ndiscovery_timeout_s = 5\nseed = 7\noutput_dir = %s-out\n%s\n"
			  "[model]\n%s\n[training]\nlr = 0.1\nepochs = 5\nbatch_size = 32\ntest_ratio = 0.2\n"
			  "[aggregator]\nname = fedavg\n%s",
			  tags, plan, rounds, min_nodes, timeout_s, path, extra ? extra : "", model_section,
			  harness_network_section(h));
}

int harness_node_limits(struct harness *h, size_t i, const char *lines)
{
	const char *old = "train_timeout_s = 60\n";
	char *text = calloc(1, 65536);
	FILE *f = text ? fopen(h->nodes[i].config, "r") : NULL;
	size_t n = f ? fread(text, 1, 65535, f) : 0;
	char *at;
	int rc = -1;

	if (f)
		fclose(f);
	at = text && n ? strstr(text, old) : NULL;
	f = at ? fopen(h->nodes[i].config, "w") : NULL;
	if (f) {
		fprintf(f, "%.*s%s%s", (int)(at - text), text, lines, at + strlen(old));
		rc = fclose(f) == 0 ? 0 : -1;
	}
	free(text);
	return rc;
}

double harness_final_accuracy(const char *output)
{
	const char *line = strstr(output, "final evaluation");
	const char *acc = line ? strstr(line, "test accuracy ") : NULL;

	return acc ? atof(acc + strlen("test accuracy ")) : -1;
}

int harness_json_int(const char *line, const char *key)
{
	char pattern[64];
	const char *p;

	snprintf(pattern, sizeof(pattern), "\"%s\":", key);
	p = strstr(line, pattern);
	return p ? atoi(p + strlen(pattern)) : -1;
}

size_t harness_children_of(pid_t pid, pid_t *out, size_t cap)
{
	char path[320], text[1024];
	size_t count = 0;
	struct dirent *e;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	while (dir && (e = readdir(dir))) {
		char *save = NULL;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)pid, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		for (char *tok = fgets(text, sizeof(text), f) ? strtok_r(text, " \n", &save) : NULL; tok;
		     tok = strtok_r(NULL, " \n", &save)) {
			if (out && count < cap)
				out[count] = (pid_t)atoi(tok);
			count++;
		}
		fclose(f);
	}
	if (dir)
		closedir(dir);
	return count;
}

bool harness_file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;
	bool found;

	if (!f)
		return false;
	buf = calloc(1, 1 << 22);
	n = buf ? fread(buf, 1, (1 << 22) - 1, f) : 0;
	fclose(f);
	found = buf && n && strstr(buf, needle);
	free(buf);
	return found;
}

bool harness_same_file(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	char x[65536], y[65536];
	bool same = fa && fb;

	while (same) {
		size_t na = fread(x, 1, sizeof(x), fa), nb = fread(y, 1, sizeof(y), fb);

		same = na == nb && memcmp(x, y, na) == 0;
		if (na < sizeof(x))
			break;
	}
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return same;
}

void harness_cleanup(struct harness *h)
{
	const char *keep = getenv("FEDC_KEEP_TEST_DIR");
	char *argv[] = { "/bin/rm", "-rf", h->dir, NULL };

	/* All at once: a thousand nodes stopped one after the other would
	 * take minutes. */
	for (size_t i = 0; i < h->n_nodes; i++) {
		if (h->nodes[i].proc.pid > 0)
			kill(h->nodes[i].proc.pid, SIGTERM);
	}
	for (size_t i = 0; i < h->n_nodes; i++)
		harness_stop(&h->nodes[i].proc, SIGTERM, 5000);
	harness_stop(&h->repo, SIGTERM, 5000);
	fedc_mqtt_close(h->observer, NULL, 0);
	h->observer = NULL;
	fedc_channel_free(&h->channel);
	harness_stop(&h->broker, SIGTERM, 10000);
	harness_stop(&h->epmd, SIGTERM, 5000); /* RabbitMQ's, after it */
	free(h->nodes);
	h->nodes = NULL;
	h->n_nodes = h->cap_nodes = 0;
	if (keep && keep[0] == '1') {
		fprintf(stderr, "kept test directory %s\n", h->dir);
		return;
	}
	if (h->dir[0]) {
		pid_t pid = fork();

		if (pid == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
}
