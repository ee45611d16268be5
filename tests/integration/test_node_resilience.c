/* A node a hospital can leave running: it survives a broker restart without
 * being restarted itself, answers the round in flight with an `error` when
 * stopped with SIGTERM and exits 0, and shares its sqlite file with the admin
 * CLI -- concurrent writes without "database is locked", and a kill -9 in
 * the middle of writes leaves a database that opens with every committed row;
 * a plan download that stalls does not stall its answers to pings.
 * Real Mosquitto, repository server and node daemons. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fedc/message.h"
#include "fedc/repo.h"
#include "harness.h"

enum { STEADY, DOOMED, BUSY };

static struct harness H;
static char output[1 << 16];
static char full_csv[512];

static int setup(void **state)
{
	static const char *const ids[] = { "steady", "doomed", "busy" };
	char csv[512];

	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(csv, sizeof(csv), "%s/%s.csv", H.dir, ids[i]);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, i * 100, 100) ||
		    harness_add_node(&H, ids[i], csv, ids[i], harness_plan("fixtures/identity")) != (int)i ||
		    harness_start_node(&H, i) != 0)
			return -1;
	}
	snprintf(full_csv, sizeof(full_csv), "%s/full.csv", H.dir);
	return harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", full_csv, 0, 569);
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

/* Discards whatever the observer has queued (replies to earlier runs,
 * statuses), so that a test reads only its own messages. */
static void drain_observer(void)
{
	void *payload = NULL;
	size_t len = 0;

	while (harness_next_reply(&H, 200, &payload, &len) == 0) {
		free(payload);
		payload = NULL;
	}
}

static void write_identity_experiment(const char *path, const char *tags, unsigned rounds, const char *model)
{
	assert_int_equal(harness_write_experiment(&H, path, harness_plan("fixtures/identity"), tags, rounds, 1, 60,
						  model, NULL),
			 0);
}

static int run_identity(const char *tags, unsigned rounds)
{
	char exp[512];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };

	snprintf(exp, sizeof(exp), "%s/%s-%u.ini", H.dir, tags, rounds);
	write_identity_experiment(exp, tags, rounds, "n_params = 100");
	return harness_run(&H, argv, 120, output, sizeof(output));
}

static int node_cli(size_t node, char *out, size_t cap, const char *a, const char *b, const char *c,
		    const char *d)
{
	const char *argv[] = { harness_bin("fedc-node"), "--config", H.nodes[node].config, a, b,
			       c, d, NULL };

	return harness_run(&H, argv, 60, out, cap);
}

static bool wait_for_log(const char *path, const char *needle, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 50) {
		if (harness_file_contains(path, needle))
			return true;
		usleep(50000);
	}
	return false;
}

/* Broker stopped for 8 s and started again on the same port: the node
 * reconnects by itself within a few seconds (Paho's retry interval is
 * capped at 2 s; with 16 s it took 5.8 s here, 30-40 s after longer
 * outages), republishes its retained `online`, and the next experiment
 * runs. */
static void test_broker_restart(void **state)
{
	pid_t node_pid = H.nodes[STEADY].proc.pid;
	int64_t t0;

	assert_int_equal(run_identity("steady", 2), 0);
	assert_int_not_equal(harness_stop(&H.broker, SIGTERM, 5000), -1);
	drain_observer();
	sleep(8); /* the node notices the loss and its retries back off */
	assert_int_equal(harness_start_broker(&H), 0);
	t0 = fedc_unix_ms();
	/* Mosquitto runs without persistence: this `online` is a new one. */
	assert_int_equal(harness_wait_online(&H, "steady", 60000), 0);
	if (fedc_unix_ms() - t0 > 4000)
		fail_msg("the node took %.1f s to come back after the broker restarted",
			 (double)(fedc_unix_ms() - t0) / 1000);
	assert_int_equal(H.nodes[STEADY].proc.pid, node_pid);
	assert_int_equal(kill(node_pid, 0), 0);
	assert_true(harness_file_contains(H.nodes[STEADY].proc.log, "reconnecting"));
	if (run_identity("steady", 2) != 0)
		fail_msg("experiment after the broker restart failed:\n%s", output);
}

/* SIGTERM while a plan trains: the researcher gets an `error` for that
 * round, the node closes its database and exits 0. */
static void test_sigterm_mid_round(void **state)
{
	struct harness_proc researcher = { 0 };
	char exp[512], listing[4096];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	int status;

	snprintf(exp, sizeof(exp), "%s/experiment-doomed.ini", H.dir);
	/* no retry: the round fails for want of its only node, and the run ends */
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/identity"), "doomed", 1, 1, 60,
						  "n_params = 100\nsleep_ms = 60000", "round_retries = 0"),
			 0);
	assert_int_equal(harness_spawn(&H, &researcher, "researcher-doomed", argv), 0);
	assert_true(wait_for_log(H.nodes[DOOMED].proc.log, "starts for researcher", 30000));
	usleep(500000); /* the plan is sleeping in train() now */
	status = harness_stop(&H.nodes[DOOMED].proc, SIGTERM, 15000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_not_equal(harness_stop(&researcher, 0, 30000), -1);
	if (!harness_file_contains(researcher.log, "shutting down"))
		fail_msg("the researcher did not report the node's shutdown; see %s", researcher.log);
	assert_true(harness_file_contains(H.nodes[DOOMED].proc.log, "stopping"));
	assert_int_equal(node_cli(DOOMED, listing, sizeof(listing), "dataset", "list", NULL, NULL), 0);
	assert_non_null(strstr(listing, "doomed"));
}

/* Uploads `n` distinct small blobs (stand-ins for plans a researcher asks
 * nodes to register) and returns their digests. */
static void upload_blobs(size_t n, char digests[][FEDC_SHA256_HEXLEN + 1])
{
	struct fedc_repo *repo = NULL;
	char path[512];

	assert_int_equal(harness_repo_new(&H, &repo), 0);
	for (size_t i = 0; i < n; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/blob-%zu", H.dir, i);
		f = fopen(path, "w");
		assert_non_null(f);
		fprintf(f, "not really a plan, number %zu\n", i);
		assert_int_equal(fclose(f), 0);
		assert_int_equal(fedc_repo_put_file(repo, path, NULL, digests[i], NULL), FEDC_OK);
	}
	fedc_repo_free(repo);
}

static void send_approval(const char *digest, size_t i)
{
	struct fedc_msg *msg = fedc_msg_new(FEDC_CMD_APPROVAL);

	assert_non_null(msg);
	snprintf(msg->plan_digest, sizeof(msg->plan_digest), "%s", digest);
	snprintf(msg->plan_name, sizeof(msg->plan_name), "plan-%zu", i);
	fedc_msg_set(msg, FEDC_F_PLAN_DIGEST);
	fedc_msg_set(msg, FEDC_F_PLAN_NAME);
	assert_int_equal(harness_send(&H, "busy", msg), 0);
	fedc_msg_free(msg);
}

/* Waits for `n` approval replies, each `pending`. */
static void expect_pending_replies(size_t n)
{
	struct fedc_msg *msg = calloc(1, sizeof(*msg));
	size_t seen = 0;

	assert_non_null(msg);
	while (seen < n) {
		void *payload = NULL;
		size_t len = 0;

		if (harness_next_reply(&H, 20000, &payload, &len) != 0)
			fail_msg("only %zu of %zu approval replies arrived", seen, n);
		assert_int_equal(fedc_msg_decode(payload, len, msg), FEDC_OK);
		free(payload);
		if (msg->command == FEDC_CMD_ERROR)
			fail_msg("the daemon failed an approval: %s", msg->message);
		if (msg->command == FEDC_CMD_APPROVAL_REPLY) {
			assert_string_equal(msg->plan_status, "pending");
			seen++;
		}
	}
	free(msg);
}

/* The next reply of type `want`, others skipped; its time of arrival in ms
 * since `t0_ms`, or -1 if none came within `timeout_ms`. */
static int64_t wait_reply(enum fedc_cmd want, int timeout_ms, int64_t t0_ms, char status[FEDC_SHORT_BUF])
{
	struct fedc_msg *msg = calloc(1, sizeof(*msg));
	int64_t at = -1;

	assert_non_null(msg);
	while (at < 0 && fedc_unix_ms() - t0_ms < timeout_ms) {
		void *payload = NULL;
		size_t len = 0;

		if (harness_next_reply(&H, 500, &payload, &len) != 0)
			continue;
		assert_int_equal(fedc_msg_decode(payload, len, msg), FEDC_OK);
		free(payload);
		if (msg->command == FEDC_CMD_ERROR)
			fail_msg("the node answered an error: %s", msg->message);
		if (msg->command == want) {
			at = fedc_unix_ms() - t0_ms;
			if (status)
				memcpy(status, msg->plan_status, sizeof(msg->plan_status));
		}
	}
	free(msg);
	return at;
}

/* A plan download that stalls (the repository frozen with SIGSTOP: the
 * kernel still accepts the connection, nothing answers) must not stall the
 * node: `approval` runs on the plan worker, and a ping sent meanwhile is
 * answered at once. The approval completes once the repository resumes. */
static void test_ping_answered_during_slow_plan_download(void **state)
{
	struct fedc_repo *repo = NULL;
	struct fedc_msg *msg;
	char path[512], digest[FEDC_SHA256_HEXLEN + 1], status[FEDC_SHORT_BUF] = "";
	int64_t t0, pong_ms;
	FILE *f;

	drain_observer();
	snprintf(path, sizeof(path), "%s/slow-plan", H.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("a plan whose download stalls\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(harness_repo_new(&H, &repo), 0);
	assert_int_equal(fedc_repo_put_file(repo, path, NULL, digest, NULL), FEDC_OK);
	fedc_repo_free(repo);

	assert_int_equal(kill(H.repo.pid, SIGSTOP), 0);
	msg = fedc_msg_new(FEDC_CMD_APPROVAL);
	assert_non_null(msg);
	snprintf(msg->plan_digest, sizeof(msg->plan_digest), "%s", digest);
	snprintf(msg->plan_name, sizeof(msg->plan_name), "slow");
	fedc_msg_set(msg, FEDC_F_PLAN_DIGEST);
	fedc_msg_set(msg, FEDC_F_PLAN_NAME);
	assert_int_equal(harness_send(&H, "steady", msg), 0);
	fedc_msg_free(msg);
	usleep(500 * 1000); /* the node is now waiting on the repository */

	t0 = fedc_unix_ms();
	msg = fedc_msg_new(FEDC_CMD_PING);
	assert_non_null(msg);
	assert_int_equal(harness_send(&H, "steady", msg), 0);
	fedc_msg_free(msg);
	pong_ms = wait_reply(FEDC_CMD_PONG, 3000, t0, NULL);
	assert_int_equal(kill(H.repo.pid, SIGCONT), 0);
	if (pong_ms < 0)
		fail_msg("no pong within 3 s while a plan download stalled");
	assert_true(wait_reply(FEDC_CMD_APPROVAL_REPLY, 20000, fedc_unix_ms(), status) >= 0);
	assert_string_equal(status, "pending");
}

#define CONCURRENT_ROUNDS 20

/* The daemon registers plans (its writes) while the admin CLI adds and
 * removes datasets (its writes) on the same sqlite file. */
static void test_concurrent_cli_and_daemon(void **state)
{
	char digests[CONCURRENT_ROUNDS][FEDC_SHA256_HEXLEN + 1], name[32], out[8192];

	drain_observer();
	upload_blobs(CONCURRENT_ROUNDS, digests);
	for (size_t i = 0; i < CONCURRENT_ROUNDS; i++) {
		send_approval(digests[i], i);
		snprintf(name, sizeof(name), "extra-%zu", i);
		const char *add[] = { harness_bin("fedc-node"), "--config", H.nodes[BUSY].config, "dataset", "add",
				      "--name", name, "--tags", "extra", "--file", full_csv, NULL };

		if (harness_run(&H, add, 60, out, sizeof(out)) != 0)
			fail_msg("dataset add %s failed while the daemon wrote: %s", name, out);
		if (i % 2 && node_cli(BUSY, out, sizeof(out), "dataset", "remove", name, NULL) != 0)
			fail_msg("dataset remove %s failed while the daemon wrote: %s", name, out);
	}
	expect_pending_replies(CONCURRENT_ROUNDS);
	assert_int_equal(node_cli(BUSY, out, sizeof(out), "plan", "list", NULL, NULL), 0);
	for (size_t i = 0; i < CONCURRENT_ROUNDS; i++) {
		if (!strstr(out, digests[i]))
			fail_msg("plan %s registered by the daemon is not listed:\n%s", digests[i], out);
	}
	assert_false(harness_file_contains(H.nodes[BUSY].proc.log, "locked"));
}

/* Starts `dataset add NAME` and kills it with SIGKILL after `delay_us`.
 * Returns true if it had finished (and so committed) before the kill. */
static bool add_then_kill(const char *name, useconds_t delay_us)
{
	struct harness_proc p = { 0 };
	const char *argv[] = { harness_bin("fedc-node"), "--config", H.nodes[BUSY].config, "dataset", "add", "--name",
			       name, "--tags", "killed", "--file", full_csv, NULL };
	int status;

	assert_int_equal(harness_spawn(&H, &p, "killed-cli", argv), 0);
	usleep(delay_us);
	status = harness_stop(&p, SIGKILL, 5000);
	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* kill -9 of the CLI at random moments of `dataset add`, then of the daemon
 * while it registers plans: the database opens and holds every committed row. */
static void test_kill9_mid_write(void **state)
{
	char digests[8][FEDC_SHA256_HEXLEN + 1], name[32], out[1 << 15];
	bool committed[40];
	unsigned seed = 20261123, n_committed = 0;

	for (size_t i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "killed-%zu", i);
		committed[i] = add_then_kill(name, (useconds_t)(rand_r(&seed) % 25000));
		n_committed += committed[i];
	}
	assert_int_equal(node_cli(BUSY, out, sizeof(out), "dataset", "list", NULL, NULL), 0);
	for (size_t i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "killed-%zu ", i);
		if (committed[i] && !strstr(out, name))
			fail_msg("dataset %s committed but missing after kill -9 of later writers:\n%s", name, out);
	}
	print_message("%u of 40 `dataset add` finished before their kill -9\n", n_committed);

	/* The daemon itself killed while it registers plans. */
	drain_observer();
	upload_blobs(8, digests);
	for (size_t i = 0; i < 8; i++)
		send_approval(digests[i], 100 + i);
	usleep(30000);
	harness_stop(&H.nodes[BUSY].proc, SIGKILL, 5000);
	assert_int_equal(node_cli(BUSY, out, sizeof(out), "plan", "list", NULL, NULL), 0);
	assert_int_equal(harness_start_node(&H, BUSY), 0);
	assert_int_equal(node_cli(BUSY, out, sizeof(out), "dataset", "list", NULL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_broker_restart),
		cmocka_unit_test(test_ping_answered_during_slow_plan_download),
		cmocka_unit_test(test_sigterm_mid_round),
		cmocka_unit_test(test_concurrent_cli_and_daemon),
		cmocka_unit_test(test_kill9_mid_write),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
