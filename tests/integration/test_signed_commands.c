/* Signed commands on a real stack (TLS broker with ACL, HTTPS repository,
 * a node that trusts the test researcher's key): a `train` captured off the
 * wire during a real experiment and replayed -- also after the node
 * restarts, and after a machine restart that took the node's record of it --
 * is refused; so is one forged with another key, one stamped an hour ago,
 * and an unsigned one. None of them runs.
 *
 * Per-job sessions (docs/security.md, "Signed messages"): from round 2 the
 * trains travel MAC'd (envelope v3); one captured and replayed, or with a
 * forged MAC, is refused; a node restarted mid-experiment makes the
 * researcher agree anew without losing a round; a researcher whose key the
 * node drops (SIGHUP) does not go on through its session. */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct harness H;
static struct fedc_mqtt *wiretap;     /* connected with the node's own credentials */
static void *captured;                /* the train as it crossed the broker */
static size_t captured_len;
static void *captured_v3;             /* a later train, MAC'd under the run's session */
static size_t captured_v3_len;
static char node_topic[FEDC_MAX_TOPIC_LEN + 1];

/* A second connection as the node (the ACL lets it read its own topic):
 * what a passive attacker on the node's side would see. */
static int connect_wiretap(void)
{
	const char *subs[] = { node_topic };
	char bundle[512];

	snprintf(bundle, sizeof(bundle), "%s/nodes/n1", H.fed_dir);
	return harness_connect_as(&H, bundle, "n1", "n1:wiretap", subs, 1, &wiretap);
}

static int setup(void **state)
{
	char csv[512];

	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	snprintf(csv, sizeof(csv), "%s/n1.csv", H.dir);
	if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, 0, 200) ||
	    harness_add_node(&H, "n1", csv, "breast-cancer", harness_plan("logreg")) != 0 ||
	    harness_start_node(&H, 0) != 0)
		return -1;
	if (fedc_topic_node(node_topic, H.federation, "n1") != FEDC_OK)
		return -1;
	return connect_wiretap();
}

static int teardown(void **state)
{
	fedc_mqtt_close(wiretap, NULL, 0);
	free(captured);
	free(captured_v3);
	harness_cleanup(&H);
	return 0;
}

/* The envelope version of what the wiretap saw if it is a train, else 0.
 * The harness trusts nodes' keys, not researchers': the envelope is only
 * read here, not verified. */
static unsigned train_version(const struct fedc_mqtt_message *m)
{
	struct fedc_envelope env;
	struct fedc_msg msg;
	bool train;

	/* Refused (an untrusted signer) but parsed: env.body is what is read. */
	fedc_ignore(fedc_envelope_open(H.channel.trusted, m->topic, m->payload, m->len, &env));
	memset(&msg, 0, sizeof(msg));
	train = env.body && fedc_msg_decode(env.body, env.body_len, &msg) == FEDC_OK &&
		msg.command == FEDC_CMD_TRAIN;
	fedc_msg_clear(&msg); /* a train may own its inline parameters */
	return train ? env.version : 0;
}

static void *copy_of(const struct fedc_mqtt_message *m, size_t *len)
{
	void *copy = malloc(m->len);

	assert_non_null(copy);
	memcpy(copy, m->payload, m->len);
	*len = m->len;
	return copy;
}

/* How many lines of the file at `path` hold `needle`. */
static int count_lines(const char *path, const char *needle)
{
	char line[4096];
	FILE *f = fopen(path, "r");
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* Waits for the next reply to the test researcher: its command and message. */
static enum fedc_cmd next_reply(int timeout_ms, char *message, size_t cap)
{
	struct fedc_msg *msg = calloc(1, sizeof(*msg));
	void *payload = NULL;
	size_t len = 0;
	enum fedc_cmd cmd = FEDC_CMD_NONE;

	if (harness_next_reply(&H, timeout_ms, &payload, &len) == 0 && fedc_msg_decode(payload, len, msg) == FEDC_OK) {
		cmd = msg->command;
		if (message)
			snprintf(message, cap, "%.*s", (int)cap - 1, msg->message);
	}
	free(payload);
	fedc_msg_free(msg);
	return cmd;
}

/* Publishes bytes as they are onto the node's topic, with the researcher's
 * credentials (the ACL lets only researchers write there). */
static void inject(const void *bytes, size_t len)
{
	assert_int_equal(fedc_mqtt_publish(H.observer, node_topic, bytes, len, false), FEDC_OK);
}

/* The node answers `error` naming `why`, and no train-reply follows. */
static void expect_refused(const char *why)
{
	char message[1024] = "";
	enum fedc_cmd cmd = next_reply(10000, message, sizeof(message));

	assert_int_equal(cmd, FEDC_CMD_ERROR);
	if (!strstr(message, why))
		fail_msg("error \"%s\" lacks \"%s\"", message, why);
	assert_int_equal(next_reply(3000, NULL, 0), FEDC_CMD_NONE);
}

static void test_experiment_runs_signed_and_train_is_captured(void **state)
{
	char exp[512], out[8192];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	struct fedc_mqtt_message *m = NULL;

	int v3_rounds = count_lines(H.nodes[0].proc.log, "envelope v3");

	snprintf(exp, sizeof(exp), "%s/one.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "breast-cancer", 3, 1, 60,
						  "n_features = 30", NULL),
			 0);
	assert_int_equal(harness_run(&H, argv, 120, out, sizeof(out)), 0);
	while ((!captured || !captured_v3) && fedc_mqtt_next(wiretap, 2000, &m) == FEDC_OK) {
		unsigned version = train_version(m);

		if (version && version < 3 && !captured)
			captured = copy_of(m, &captured_len);
		else if (version == 3 && !captured_v3)
			captured_v3 = copy_of(m, &captured_v3_len);
		fedc_mqtt_message_free(m);
	}
	assert_non_null(captured);
	assert_non_null(captured_v3);
	/* round 1 signed, agreeing the session; rounds 2 and 3 and the final
	 * evaluation under it */
	assert_int_equal(count_lines(H.nodes[0].proc.log, "envelope v3") - v3_rounds, 3);
	/* drain what the experiment sent us meanwhile */
	while (next_reply(500, NULL, 0) != FEDC_CMD_NONE)
		;
}

static void test_replayed_train_refused(void **state)
{
	assert_non_null(captured);
	inject(captured, captured_len);
	expect_refused("replayed");
}

/* Whether the node's record of accepted commands (seen_requests) holds the
 * nonce of the envelope in `payload`. */
static bool node_stored_nonce(const void *payload, size_t len)
{
	char path[700];
	struct fedc_envelope env;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	bool found;

	/* parsed only for its nonce: a v3 envelope does not open without its session */
	fedc_ignore(fedc_envelope_open(H.channel.trusted, node_topic, payload, len, &env));
	assert_int_equal(strlen(env.nonce), FEDC_NONCE_HEXLEN);
	snprintf(path, sizeof(path), "%s/nodes/n1/data/node.db", H.fed_dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM seen_requests WHERE nonce = ?1", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_bind_text(st, 1, env.nonce, -1, SQLITE_STATIC), SQLITE_OK);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return found;
}

/* The signed train's nonce is kept on disk, for replays after a restart; a
 * MAC'd train's is not: its session dies with the process, and with it any
 * replay of the train (the next tests). */
static void test_only_signed_nonces_stored(void **state)
{
	assert_non_null(captured);
	assert_non_null(captured_v3);
	assert_true(node_stored_nonce(captured, captured_len));
	assert_false(node_stored_nonce(captured_v3, captured_v3_len));
}

/* A MAC'd train captured and replayed: the session still holds, the nonce
 * was seen. */
static void test_replayed_v3_train_refused(void **state)
{
	assert_non_null(captured_v3);
	inject(captured_v3, captured_v3_len);
	expect_refused("replayed");
}

/* Any change to a MAC'd train -- here one bit of its MAC -- is refused. */
static void test_v3_train_with_forged_mac_refused(void **state)
{
	static const uint8_t mac_key[] = { 0xa3, 'm', 'a', 'c', 0xc4, 0x20 };
	uint8_t *forged = malloc(captured_v3_len), *mac;

	assert_non_null(forged);
	memcpy(forged, captured_v3, captured_v3_len);
	mac = memmem(forged, captured_v3_len, mac_key, sizeof(mac_key));
	assert_non_null(mac);
	mac[sizeof(mac_key) + 5] ^= 0x10;
	inject(forged, captured_v3_len);
	expect_refused("bad MAC");
	free(forged);
}

/* Runs `exp` in the background; returns when the node has run `v3_more`
 * more rounds under a session, then calls `meanwhile`, then waits for the
 * researcher: its exit status, its log in `log`. */
static int run_and_meanwhile(const char *exp, int v3_more, void (*meanwhile)(void), char *log, size_t cap)
{
	const char *argv[] = { harness_bin("fedc-researcher"), "run", "--log-level", "info", exp, NULL };
	int v3 = count_lines(H.nodes[0].proc.log, "envelope v3"), status = -1;
	struct harness_proc researcher;
	FILE *f;
	size_t n;

	assert_int_equal(harness_spawn(&H, &researcher, "researcher-bg", argv), 0);
	for (int i = 0; i < 1200 && count_lines(H.nodes[0].proc.log, "envelope v3") < v3 + v3_more; i++)
		usleep(25 * 1000);
	meanwhile();
	for (int i = 0; i < 2400 && waitpid(researcher.pid, &status, WNOHANG) == 0; i++)
		usleep(50 * 1000);
	f = fopen(researcher.log, "r");
	assert_non_null(f);
	n = fread(log, 1, cap - 1, f);
	log[n] = '\0';
	fclose(f);
	unlink(researcher.log); /* the next run's log starts empty */
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void restart_node(void)
{
	assert_int_equal(harness_stop(&H.nodes[0].proc, SIGTERM, 10000), 0);
	assert_int_equal(harness_start_node(&H, 0), 0);
}

/* The node restarts (and forgets its sessions) during an experiment: its
 * next MAC'd train is answered unknown-session, the researcher sends that
 * round again signed, agrees a new session, and every round completes. */
static void test_node_restart_mid_experiment_keeps_every_round(void **state)
{
	static char log[1 << 16];
	char exp[512];

	snprintf(exp, sizeof(exp), "%s/long.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "breast-cancer", 40, 1, 60,
						  "n_features = 30", "round_retries = 20\n"),
			 0);
	if (run_and_meanwhile(exp, 1, restart_node, log, sizeof(log)) != 0)
		fail_msg("the researcher failed:\n%s", log);
	if (!strstr(log, "no longer holds its session") || !strstr(log, "round   40/40"))
		fail_msg("no renewed session, or a round missing:\n%s", log);
}

static char node_key[600], node_key_aside[640];
static int rounds_done_at_revocation;

/* The node's operator revokes the researcher: her key out, SIGHUP. */
static void revoke_researcher(void)
{
	rounds_done_at_revocation = count_lines(H.nodes[0].proc.log, " done for ");
	assert_int_equal(rename(node_key, node_key_aside), 0);
	assert_int_equal(kill(H.nodes[0].proc.pid, SIGHUP), 0);
}

/* A researcher revoked mid-experiment does not go on through the session
 * agreed before: her next MAC'd train is refused (her key is not trusted),
 * the node runs no round for her after the SIGHUP. Her key back, SIGHUP:
 * she is served again. */
static void test_revoked_researcher_stops_mid_session(void **state)
{
	static char log[1 << 16];
	enum fedc_cmd cmd = FEDC_CMD_NONE;
	char exp[512];

	snprintf(node_key, sizeof(node_key), "%s/nodes/n1/trusted/%s.pub", H.fed_dir, H.researcher_id);
	snprintf(node_key_aside, sizeof(node_key_aside), "%s.revoked", node_key);
	assert_int_equal(access(node_key, R_OK), 0);
	snprintf(exp, sizeof(exp), "%s/revoked.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "breast-cancer", 40, 1, 60,
						  "n_features = 30", NULL),
			 0);
	if (run_and_meanwhile(exp, 1, revoke_researcher, log, sizeof(log)) == 0)
		fail_msg("the revoked researcher's run succeeded:\n%s", log);
	if (!strstr(log, "not trusted"))
		fail_msg("the refusal does not say why:\n%s", log);
	assert_true(count_lines(H.nodes[0].proc.log, "session(s) dropped") >= 1);
	/* at most the round the node had accepted before the SIGHUP finished */
	assert_in_range(count_lines(H.nodes[0].proc.log, " done for ") - rounds_done_at_revocation, 0, 1);
	assert_int_equal(rename(node_key_aside, node_key), 0);
	assert_int_equal(kill(H.nodes[0].proc.pid, SIGHUP), 0);
	/* served again (the SIGHUP is handled before the node's next message),
	 * once the replies her run left are drained */
	while (next_reply(500, NULL, 0) != FEDC_CMD_NONE)
		;
	for (int i = 0; i < 10 && cmd != FEDC_CMD_PONG; i++) {
		struct fedc_msg *ping = fedc_msg_new(FEDC_CMD_PING);

		assert_int_equal(harness_send(&H, "n1", ping), 0);
		cmd = next_reply(2000, NULL, 0);
		fedc_msg_free(ping);
	}
	assert_int_equal(cmd, FEDC_CMD_PONG);
}

static void test_replay_refused_after_node_restart(void **state)
{
	assert_non_null(captured);
	assert_int_equal(harness_stop(&H.nodes[0].proc, SIGTERM, 10000), 0);
	assert_int_equal(harness_start_node(&H, 0), 0);
	inject(captured, captured_len);
	expect_refused("replayed");
	/* the MAC'd one left no record, and needs none: its session is gone */
	inject(captured_v3, captured_v3_len);
	expect_refused("unknown session");
}

/* A power loss can take the node's last records of accepted commands (they
 * are committed without an fsync). Simulated here: the records deleted and
 * another boot id kept in the node's data_dir. The replay is refused all the
 * same, as stamped before the machine restarted, and a fresh command is
 * served. */
static void test_replay_refused_after_machine_restart(void **state)
{
	char data_dir[600], path[700];
	sqlite3 *db = NULL;
	FILE *f;

	assert_non_null(captured);
	assert_int_equal(harness_stop(&H.nodes[0].proc, SIGTERM, 10000), 0);
	snprintf(data_dir, sizeof(data_dir), "%s/nodes/n1/data", H.fed_dir);
	snprintf(path, sizeof(path), "%s/node.db", data_dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM seen_requests", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db) > 0, 1);
	sqlite3_close(db);
	snprintf(path, sizeof(path), "%s/boot_id", data_dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("00000000-0000-0000-0000-000000000000\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(harness_start_node(&H, 0), 0);
	inject(captured, captured_len);
	expect_refused("stamped before this machine restarted");
	struct fedc_msg *ping = fedc_msg_new(FEDC_CMD_PING);

	assert_int_equal(harness_send(&H, "n1", ping), 0);
	assert_int_equal(next_reply(5000, NULL, 0), FEDC_CMD_PONG);
	fedc_msg_free(ping);
}

/* The captured train's body, sealed again by `signer` at `ts`. */
static void reseal_and_inject(const struct fedc_signer *signer, int64_t ts)
{
	struct fedc_envelope env;
	void *forged = NULL;
	size_t len = 0;

	/* open without checking: only to take the body out */
	fedc_ignore(fedc_envelope_open(H.channel.trusted, node_topic, captured, captured_len, &env));
	assert_non_null(env.body);
	assert_int_equal(fedc_envelope_seal(signer, node_topic, env.body, env.body_len, ts, &forged, &len), FEDC_OK);
	inject(forged, len);
	free(forged);
}

static void test_train_forged_with_another_key_refused(void **state)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct fedc_signer *mallory = NULL;
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/mallory.key", H.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	EVP_PKEY_free(key);
	/* claims to be the trusted researcher */
	assert_int_equal(fedc_signer_load(H.researcher_id, path, &mallory), FEDC_OK);
	reseal_and_inject(mallory, fedc_unix_ms());
	expect_refused("bad signature");
	fedc_signer_free(mallory);
}

static void test_stale_train_refused(void **state)
{
	reseal_and_inject(H.channel.signer, fedc_unix_ms() - 3600 * 1000);
	expect_refused("stale");
}

static void test_unsigned_command_refused(void **state)
{
	struct fedc_msg *ping = fedc_msg_new(FEDC_CMD_PING);
	void *buf = NULL;
	size_t len = 0;

	snprintf(ping->researcher_id, sizeof(ping->researcher_id), "%s", H.researcher_id);
	fedc_msg_set(ping, FEDC_F_RESEARCHER_ID);
	assert_int_equal(fedc_msg_encode(ping, &buf, &len), FEDC_OK);
	inject(buf, len);
	expect_refused("unsigned");
	free(buf);
	fedc_msg_free(ping);
	/* and a signed ping still gets its pong */
	ping = fedc_msg_new(FEDC_CMD_PING);
	assert_int_equal(harness_send(&H, "n1", ping), 0);
	assert_int_equal(next_reply(5000, NULL, 0), FEDC_CMD_PONG);
	fedc_msg_free(ping);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_experiment_runs_signed_and_train_is_captured),
		cmocka_unit_test(test_only_signed_nonces_stored),
		cmocka_unit_test(test_replayed_train_refused),
		cmocka_unit_test(test_replayed_v3_train_refused),
		cmocka_unit_test(test_v3_train_with_forged_mac_refused),
		cmocka_unit_test(test_node_restart_mid_experiment_keeps_every_round),
		cmocka_unit_test(test_revoked_researcher_stops_mid_session),
		cmocka_unit_test(test_replay_refused_after_node_restart),
		cmocka_unit_test(test_replay_refused_after_machine_restart),
		cmocka_unit_test(test_train_forged_with_another_key_refused),
		cmocka_unit_test(test_stale_train_refused),
		cmocka_unit_test(test_unsigned_command_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
