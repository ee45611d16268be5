/* Signed commands on a real stack (TLS broker with ACL, HTTPS repository,
 * a node that trusts the test researcher's key): a `train` captured off the
 * wire during a real experiment and replayed -- also after the node
 * restarts, and after a machine restart that took the node's record of it --
 * is refused; so is one forged with another key, one stamped an hour ago,
 * and an unsigned one. None of them runs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct harness H;
static struct fedc_mqtt *wiretap;     /* connected with the node's own credentials */
static void *captured;                /* the train as it crossed the broker */
static size_t captured_len;
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
	harness_cleanup(&H);
	return 0;
}

/* True if what the wiretap saw is a train. The harness trusts nodes' keys,
 * not researchers': the envelope is only read here, not verified. */
static bool is_train(const struct fedc_mqtt_message *m)
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
	return train;
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

	snprintf(exp, sizeof(exp), "%s/one.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "breast-cancer", 1, 1, 60,
						  "n_features = 30", NULL),
			 0);
	assert_int_equal(harness_run(&H, argv, 120, out, sizeof(out)), 0);
	while (!captured && fedc_mqtt_next(wiretap, 2000, &m) == FEDC_OK) {
		if (is_train(m)) {
			captured = malloc(m->len);
			memcpy(captured, m->payload, m->len);
			captured_len = m->len;
		}
		fedc_mqtt_message_free(m);
	}
	assert_non_null(captured);
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

static void test_replay_refused_after_node_restart(void **state)
{
	assert_non_null(captured);
	assert_int_equal(harness_stop(&H.nodes[0].proc, SIGTERM, 10000), 0);
	assert_int_equal(harness_start_node(&H, 0), 0);
	inject(captured, captured_len);
	expect_refused("replayed");
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
		cmocka_unit_test(test_replayed_train_refused),
		cmocka_unit_test(test_replay_refused_after_node_restart),
		cmocka_unit_test(test_replay_refused_after_machine_restart),
		cmocka_unit_test(test_train_forged_with_another_key_refused),
		cmocka_unit_test(test_stale_train_refused),
		cmocka_unit_test(test_unsigned_command_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
