/* Integration-test harness: starts the real components -- Mosquitto, the
 * repository server, node daemons -- on free loopback ports in a temporary
 * directory, runs the real CLIs, and stops everything afterwards, also when a
 * test fails (children die with the test process: PR_SET_PDEATHSIG).
 * Set FEDC_KEEP_TEST_DIR=1 to keep the directory and its logs. */
#ifndef FEDC_TEST_HARNESS_H
#define FEDC_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "fedc/channel.h"
#include "fedc/message.h"
#include "fedc/mqtt.h"
#include "fedc/repo.h"

/* Nodes one harness can run: the 1000-node bench (issue #19) and some room. */
#define HARNESS_MAX_NODES 1100

/* The MQTT broker the stack runs on: Mosquitto with fedc's plugin (the
 * default), or RabbitMQ's MQTT plugin (harness_rabbitmq.c), both configured
 * by fedc-admin. */
enum harness_broker { HARNESS_MOSQUITTO, HARNESS_RABBITMQ };

struct harness_proc {
	pid_t pid;
	char name[64];
	char log[512];
};

struct harness_node {
	char id[64];
	char config[512];
	struct harness_proc proc;
};

/* Flags harness_start_repository adds to fedc-repository's command line, at most. */
#define HARNESS_REPOSITORY_FLAGS 4

/* The stack runs as in production: a federation provisioned by fedc-admin
 * in dir/fed (CA, TLS broker with passwords and ACL, HTTPS repository with
 * per-participant tokens), every message signed. The test researcher's
 * bundle is dir/fed/researchers/<researcher_id>; each node's, dir/fed/nodes/<id>. */
struct harness {
	char dir[256];
	char fed_dir[300];        /* dir/fed: what fedc-admin made */
	char researcher_dir[400]; /* the test researcher's bundle */
	char federation[32];
	int broker_port;
	char broker_url[64];      /* ssl://127.0.0.1:<port> */
	int repo_port;
	char repo_url[64];        /* https://127.0.0.1:<port> */
	struct harness_proc broker, repo;
	struct harness_node *nodes; /* n_nodes of them, grown by harness_add_node */
	size_t n_nodes, cap_nodes;
	struct fedc_mqtt *observer; /* subscribed to status/+ and the test researcher's topic */
	struct fedc_channel channel; /* the test researcher's keys: signs sends, checks replies */
	char researcher_id[32];
	enum harness_broker broker_kind;
	/* More flags for fedc-repository (NULL-terminated; e.g.
	 * "--downloads-at-once", "1"), set before harness_start_repository. */
	const char *repository_flags[HARNESS_REPOSITORY_FLAGS + 1];
	/* RabbitMQ only: its own epmd and Erlang node, on free ports. */
	struct harness_proc epmd;
	int epmd_port, dist_port;
	char rabbit_node[64];
};

/* Creates the temporary directory and provisions the federation (fedc-admin
 * init, add-researcher). 0 on success. */
int harness_init(struct harness *h);
/* The same on the broker `kind` (fedc-admin init --broker ...). */
int harness_init_broker(struct harness *h, enum harness_broker kind);
/* Stops every process, closes the observer, removes the directory. */
void harness_cleanup(struct harness *h);

/* Starts the broker (Mosquitto, or RabbitMQ and its epmd) and waits until it
 * takes clients; called again after harness_stop(&h->broker, ...), it
 * restarts it on the same port. */
int harness_start_broker(struct harness *h);
/* Starts the repository server (store in dir/store); called again after
 * harness_stop(&h->repo, ...), it restarts it on the same port. */
int harness_start_repository(struct harness *h);
/* fedc-repository's command line: `config`, then h->repository_flags. */
#define HARNESS_REPOSITORY_ARGV (3 + HARNESS_REPOSITORY_FLAGS + 1)
void harness_repository_argv(const struct harness *h, const char *config, const char *argv[HARNESS_REPOSITORY_ARGV]);
/* Connects the observer client (after the broker): statuses and the
 * researcher's replies. */
int harness_connect_observer(struct harness *h);
/* The same for statuses only, for benchmarks that never read replies. */
int harness_connect_status_observer(struct harness *h);
/* Connects to the broker with the credentials of the bundle in `bundle`
 * (user name `user`), subscribed to `subs`. 0 on success. */
int harness_connect_as(struct harness *h, const char *bundle, const char *user, const char *client_id,
		       const char *const *subs, size_t n_subs, struct fedc_mqtt **out);

/* Provisions node `id` (fedc-admin add-node; the running broker and
 * repository reload their credentials), registers `csv` with `tags` through
 * the CLI and, if `plan` is given, approves it; does not start the daemon.
 * Returns the index. */
int harness_add_node(struct harness *h, const char *id, const char *csv, const char *tags, const char *plan);
/* Provisions `n` nodes "<prefix>-0000" ... at once (fedc-admin add-nodes:
 * one change, whatever n), registers `csv` with `tags` in each and approves
 * `plan` (both may be NULL), running up to `parallel` node CLIs at a time;
 * log level `log_level`; does not start them. Returns the index of the
 * first, or -1 after saying why on stderr. */
int harness_add_nodes(struct harness *h, const char *prefix, size_t n, const char *csv, const char *tags,
		      const char *plan, const char *log_level, unsigned parallel);
/* Starts nodes [first, first + n) together and waits until all are online
 * (their retained statuses), for up to `timeout_ms`; -1 after naming on
 * stderr the nodes that are not. */
int harness_start_nodes(struct harness *h, size_t first, size_t n, int timeout_ms);
/* Starts node `i` and waits (up to 20 s) until its retained status is online. */
int harness_start_node(struct harness *h, size_t i);
/* Starts node `i` without waiting for it. */
int harness_spawn_node(struct harness *h, size_t i);
/* Reads the observer's messages until node `id`'s status is online. */
int harness_wait_online(struct harness *h, const char *id, int timeout_ms);
/* The same for any state ("offline": its last will, or its goodbye). */
int harness_wait_status(struct harness *h, const char *id, const char *state, int timeout_ms);
/* Sends `sig` and waits up to `timeout_ms` for the process, then SIGKILL.
 * Returns the exit status as waitpid gives it, or -1. */
int harness_stop(struct harness_proc *p, int sig, int timeout_ms);

/* Runs a command to completion (killed after timeout_s), output (stdout and
 * stderr) to `out` (may be NULL). Returns the exit code, or -1 / 128+signal. */
int harness_run(struct harness *h, const char *const argv[], int timeout_s, char *out, size_t cap);
/* Starts a command in the background, output to a log file in the dir.
 * argv is copied (tests/test_argv.h): the caller's may be const. */
int harness_spawn(struct harness *h, struct harness_proc *p, const char *name, const char *const argv[]);

/* Writes rows [first, first+count) of the breast-cancer CSV to `dst` with a
 * matching "counts" header. */
int harness_split_csv(const char *src, const char *dst, size_t first, size_t count);

/* Writes an experiment file for this stack; `extra` lines are appended to
 * [experiment] (may be NULL). */
int harness_write_experiment(struct harness *h, const char *path, const char *plan, const char *tags,
			     unsigned rounds, unsigned min_nodes, unsigned timeout_s, const char *model_section,
			     const char *extra);

/* The stack with one node "site" for the sandbox tests: 60 breast-cancer
 * rows tagged `tags`, the limits given, and the fixture plans `fixtures`
 * (names under tests/fixtures/plans/) approved; started and online. 0 on
 * success. */
int harness_start_sandbox_node(struct harness *h, const char *tags, int train_timeout_s, int cpu_seconds,
			       int memory_mb, const char *const *fixtures, size_t n_fixtures);

/* Replaces the `[limits]` line the harness writes into node i's config
 * (train_timeout_s = 60) by `lines` (full lines, each ending in \n). */
int harness_node_limits(struct harness *h, size_t i, const char *lines);
/* The test accuracy of the "final evaluation" line in a researcher's
 * output (`fedc-researcher run`), or -1 if there is none. */
double harness_final_accuracy(const char *output);
/* The integer after "key": in one line of JSON (history.jsonl), or -1. */
int harness_json_int(const char *line, const char *key);
/* The children of process `pid` (of any of its threads, from
 * /proc/PID/task/TID/children): how many there are, the first `cap` of
 * them in `out` (may be NULL). 0 if the process is gone. */
size_t harness_children_of(pid_t pid, pid_t *out, size_t cap);

/* Publishes `msg` to node `node_id`'s topic as the test researcher (sets
 * researcher_id), signed. 0 on success. */
int harness_send(struct harness *h, const char *node_id, struct fedc_msg *msg);
/* Waits for the next message on the test researcher's topic (observer) and
 * hands over its body, once its signature by a provisioned node checks out
 * (an unsigned or badly signed reply fails the wait). */
int harness_next_reply(struct harness *h, int timeout_ms, void **payload, size_t *len);
/* Waits for the next message on the test researcher's topic, as received. */
int harness_next_raw(struct harness *h, int timeout_ms, void **payload, size_t *len);

/* The [network] section of an experiment file for the test researcher:
 * broker and repository URLs, TLS files, credentials, keys. */
const char *harness_network_section(struct harness *h);
/* A repository client with the test researcher's token and the CA. */
int harness_repo_new(struct harness *h, struct fedc_repo **out);
/* The same with the token and CA of the bundle in directory `bundle`. */
int harness_repo_as(struct harness *h, const char *bundle, struct fedc_repo **out);
/* Reloads the test researcher's keys and trusted/ from its bundle (after
 * fedc-admin rotate, revoke or remove changed them). 0 on success. */
int harness_reload_trust(struct harness *h);
/* Makes the broker and the repository re-read their credentials (SIGHUP;
 * RabbitMQ: rabbitmqctl import_definitions). */
void harness_reload_credentials(struct harness *h);
/* RabbitMQ only: rabbitmqctl -n <the test's node> `args` (NULL-terminated),
 * output in `out`. Its exit code. */
int harness_rabbitmqctl(struct harness *h, const char *const *args, char *out, size_t cap);

/* Paths of built things. */
const char *harness_bin(const char *name);   /* FEDC_BIN_DIR/name */
const char *harness_plan(const char *name);  /* FEDC_PLAN_DIR/name.so */
bool harness_file_contains(const char *path, const char *needle);
/* Both files can be read and hold the same bytes. */
bool harness_same_file(const char *a, const char *b);
/* Lines of `path` past its first `from` bytes that contain `needle` (0 when
 * it cannot be read); a line is read in pieces of up to 4095 bytes. */
size_t harness_lines_containing(const char *path, long from, const char *needle);

#endif
