/* Bad input against real processes: raw payloads published with
 * mosquitto_pub to a running node's topic (the node logs them, replies
 * `error` where it can tell who asked, and keeps serving), and config files
 * with missing or malformed keys (a message naming file, line and key). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/message.h"
#include "fedc/uuid.h"
#include "fedc/fs.h"
#include "harness.h"

static struct harness H;
static char output[1 << 14];

static int setup(void **state)
{
	char csv[512];

	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	snprintf(csv, sizeof(csv), "%s/data.csv", H.dir);
	if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, 0, 50) ||
	    harness_add_node(&H, "target", csv, "breast-cancer", NULL) != 0 || harness_start_node(&H, 0) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

/* Publishes bytes to the node's topic with the real mosquitto_pub, over TLS
 * with the test researcher's credentials. */
static void mosquitto_pub(const void *bytes, size_t len)
{
	char path[512], port[16], topic[128], ca[512], cert[512], key[512], pw_file[512], pw[256], client_id[96];
	const char *argv[] = { "/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", port, "--cafile", ca, "--cert", cert,
			       "--key", key, "-u", H.researcher_id, "-P", pw, "-i", client_id, "-q", "1", "-t", topic,
			       "-f", path, NULL };
	FILE *f;

	/* the broker takes only client ids of the connecting user */
	snprintf(client_id, sizeof(client_id), "%s:bad-input", H.researcher_id);

	snprintf(path, sizeof(path), "%s/payload.bin", H.dir);
	snprintf(port, sizeof(port), "%d", H.broker_port);
	snprintf(topic, sizeof(topic), "fedc/%s/node/target", H.federation);
	snprintf(ca, sizeof(ca), "%s/ca.pem", H.researcher_dir);
	snprintf(cert, sizeof(cert), "%s/client.pem", H.researcher_dir);
	snprintf(key, sizeof(key), "%s/client.key", H.researcher_dir);
	snprintf(pw_file, sizeof(pw_file), "%s/broker.password", H.researcher_dir);
	assert_int_equal(fedc_read_secret(pw_file, pw, sizeof(pw)), FEDC_OK);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(harness_run(&H, argv, 10, NULL, 0), 0);
}

/* Publishes `bytes` as a message body, signed by the test researcher: the
 * node trusts the signature and then meets the bad body. */
static void publish_raw(const void *bytes, size_t len)
{
	char topic[128];
	void *env = NULL;
	size_t env_len = 0;

	snprintf(topic, sizeof(topic), "fedc/%s/node/target", H.federation);
	assert_int_equal(fedc_envelope_seal(H.channel.signer, topic, bytes, len, fedc_unix_ms(), &env, &env_len),
			 FEDC_OK);
	mosquitto_pub(env, env_len);
	free(env);
}

/* Packs a map of string keys to string values (NULL value: an integer 7). */
static void publish_map(const char *const *kv, size_t pairs)
{
	msgpack_sbuffer buf;
	msgpack_packer pk;

	msgpack_sbuffer_init(&buf);
	msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, pairs);
	for (size_t i = 0; i < pairs; i++) {
		msgpack_pack_str_with_body(&pk, kv[2 * i], strlen(kv[2 * i]));
		if (kv[2 * i + 1])
			msgpack_pack_str_with_body(&pk, kv[2 * i + 1], strlen(kv[2 * i + 1]));
		else
			msgpack_pack_int(&pk, 7);
	}
	publish_raw(buf.data, buf.size);
	msgpack_sbuffer_destroy(&buf);
}

/* The next reply on the test researcher's topic, decoded. */
static struct fedc_msg *next_reply(int timeout_ms)
{
	struct fedc_msg *msg = calloc(1, sizeof(*msg));
	void *payload = NULL;
	size_t len = 0;

	assert_non_null(msg);
	if (harness_next_reply(&H, timeout_ms, &payload, &len) != 0) {
		free(msg);
		return NULL;
	}
	assert_int_equal(fedc_msg_decode(payload, len, msg), FEDC_OK);
	free(payload);
	return msg;
}

/* A valid ping still gets its pong: the node kept serving. */
static void assert_still_serving(void)
{
	struct fedc_msg *ping = fedc_msg_new(FEDC_CMD_PING), *reply;
	void *buf = NULL;
	size_t len = 0;

	snprintf(ping->researcher_id, sizeof(ping->researcher_id), "%s", H.researcher_id);
	fedc_msg_set(ping, FEDC_F_RESEARCHER_ID);
	assert_int_equal(fedc_msg_encode(ping, &buf, &len), FEDC_OK);
	publish_raw(buf, len);
	reply = next_reply(5000);
	assert_non_null(reply);
	assert_int_equal(reply->command, FEDC_CMD_PONG);
	assert_string_equal(reply->request_id, ping->request_id);
	fedc_msg_free(reply);
	fedc_msg_free(ping);
	free(buf);
}

static void expect_error_reply(const char *request_id, const char *needle)
{
	struct fedc_msg *reply = next_reply(5000);

	assert_non_null(reply);
	assert_int_equal(reply->command, FEDC_CMD_ERROR);
	assert_string_equal(reply->request_id, request_id);
	assert_string_equal(reply->error_code, "malformed");
	if (!strstr(reply->message, needle))
		fail_msg("error message \"%s\" lacks \"%s\"", reply->message, needle);
	fedc_msg_free(reply);
}

/* Garbage that is not even an envelope: refused before anything reads it. */
static void test_unsigned_garbage(void **state)
{
	mosquitto_pub("hello, node", 11);
	assert_still_serving();
}

static void test_payload_not_msgpack(void **state)
{
	publish_raw("hello, node", 11);
	assert_still_serving();
}

static void test_payload_not_a_map(void **state)
{
	static const unsigned char array[] = { 0x93, 0x01, 0x02, 0x03 };

	publish_raw(array, sizeof(array));
	assert_still_serving();
}

static void test_payload_missing_command(void **state)
{
	char id[FEDC_UUID_STRLEN + 1];
	const char *kv[] = { "researcher_id", H.researcher_id, "request_id", id };

	fedc_uuid_new(id);
	publish_map(kv, 2);
	expect_error_reply(id, "command");
	assert_still_serving();
}

static void test_payload_unknown_command(void **state)
{
	char id[FEDC_UUID_STRLEN + 1];
	const char *kv[] = { "researcher_id", H.researcher_id, "request_id", id, "command", "explode",
			     "protocol_version", NULL };

	fedc_uuid_new(id);
	publish_map(kv, 4);
	expect_error_reply(id, "explode");
	assert_still_serving();
}

static void test_payload_wrong_type(void **state)
{
	char id[FEDC_UUID_STRLEN + 1];
	const char *kv[] = { "researcher_id", H.researcher_id, "request_id", id, "command", "ping",
			     "protocol_version", "one" };

	fedc_uuid_new(id);
	publish_map(kv, 4);
	expect_error_reply(id, "protocol_version");
	assert_still_serving();
}

static void test_payload_missing_field(void **state)
{
	char id[FEDC_UUID_STRLEN + 1];
	msgpack_sbuffer buf;
	msgpack_packer pk;

	/* a well-formed search but for its missing "tags" */
	fedc_uuid_new(id);
	msgpack_sbuffer_init(&buf);
	msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	msgpack_pack_str_with_body(&pk, "researcher_id", 13);
	msgpack_pack_str_with_body(&pk, H.researcher_id, strlen(H.researcher_id));
	msgpack_pack_str_with_body(&pk, "request_id", 10);
	msgpack_pack_str_with_body(&pk, id, strlen(id));
	msgpack_pack_str_with_body(&pk, "command", 7);
	msgpack_pack_str_with_body(&pk, "search", 6);
	msgpack_pack_str_with_body(&pk, "protocol_version", 16);
	msgpack_pack_uint64(&pk, FEDC_PROTOCOL_VERSION);
	publish_raw(buf.data, buf.size);
	msgpack_sbuffer_destroy(&buf);
	expect_error_reply(id, "tags");
	assert_still_serving();
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void test_node_config_missing_key(void **state)
{
	char path[512];
	const char *argv[] = { harness_bin("fedc-node"), "--config", path, "dataset", "list", NULL };

	snprintf(path, sizeof(path), "%s/missing.ini", H.dir);
	write_file(path, "[node]\nid = n1\ndata_dir = d\n[repository]\nurl = http://127.0.0.1:1\n");
	assert_int_equal(harness_run(&H, argv, 10, output, sizeof(output)), 2);
	assert_non_null(strstr(output, "missing.ini"));
	assert_non_null(strstr(output, "[broker] url"));
}

static void test_node_config_malformed_value(void **state)
{
	char path[512];
	const char *argv[] = { harness_bin("fedc-node"), "--config", path, "dataset", "list", NULL };

	snprintf(path, sizeof(path), "%s/malformed.ini", H.dir);
	write_file(path, "[node]\nid = n1\ndata_dir = d\n[broker]\nurl = tcp://x:1\n[repository]\nurl = http://x:1\n"
			 "[limits]\ntrain_timeout_s = soon\n");
	assert_int_equal(harness_run(&H, argv, 10, output, sizeof(output)), 2);
	assert_non_null(strstr(output, "malformed.ini:9"));
	assert_non_null(strstr(output, "train_timeout_s"));
}

/* A node that trusts no researcher key would take commands from anyone who
 * reaches the broker: it refuses to start, and says what to do. */
static void test_node_without_trusted_keys_refuses_to_start(void **state)
{
	char path[512];
	const char *argv[] = { harness_bin("fedc-node"), "--config", path, "start", NULL };

	snprintf(path, sizeof(path), "%s/untrusting.ini", H.dir);
	write_file(path, "[node]\nid = n9\ndata_dir = d9\n[broker]\nurl = tcp://127.0.0.1:1\n"
			 "[repository]\nurl = http://127.0.0.1:1\n");
	assert_int_equal(harness_run(&H, argv, 10, output, sizeof(output)), 1);
	assert_non_null(strstr(output, "trusted_keys_dir is not set"));
	assert_non_null(strstr(output, "allow_unsigned_commands"));
}

/* A researcher without keys is stopped before it sends anything. */
static void test_researcher_without_keys_refuses_to_run(void **state)
{
	char path[512];
	const char *argv[] = { harness_bin("fedc-researcher"), "nodes", "--network", path, NULL };

	snprintf(path, sizeof(path), "%s/keyless.ini", H.dir);
	write_file(path, "[network]\nfederation = test\nbroker_url = tcp://127.0.0.1:1\n");
	assert_int_not_equal(harness_run(&H, argv, 10, output, sizeof(output)), 0);
	assert_non_null(strstr(output, "signing_key and trusted_keys_dir are required"));
}

/* A researcher whose broker password is wrong is told so at once. */
static void test_researcher_with_wrong_password_refused(void **state)
{
	char path[512], pw[512], net[8192], *at;
	const char *argv[] = { harness_bin("fedc-researcher"), "nodes", "--network", path, NULL };

	snprintf(pw, sizeof(pw), "%s/wrong.password", H.dir);
	write_file(pw, "not-the-password\n");
	snprintf(net, sizeof(net), "%s", harness_network_section(&H));
	at = strstr(net, "broker_password_file = ");
	assert_non_null(at);
	snprintf(at, sizeof(net) - (size_t)(at - net), "broker_password_file = %s\n%s", pw,
		 strstr(harness_network_section(&H), "repository_url"));
	snprintf(path, sizeof(path), "%s/wrong-password.ini", H.dir);
	write_file(path, net);
	assert_int_not_equal(harness_run(&H, argv, 20, output, sizeof(output)), 0);
	assert_non_null(strstr(output, "refused this client"));
}

static void test_experiment_unknown_key(void **state)
{
	char path[512];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", path, NULL };

	snprintf(path, sizeof(path), "%s/typo.ini", H.dir);
	write_file(path, "[experiment]\ntags = a\nplan = p.so\nrounds = 1\nround_timout_s = 5\n");
	assert_int_equal(harness_run(&H, argv, 10, output, sizeof(output)), 2);
	assert_non_null(strstr(output, "typo.ini:5"));
	assert_non_null(strstr(output, "round_timout_s"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unsigned_garbage),
		cmocka_unit_test(test_payload_not_msgpack),
		cmocka_unit_test(test_payload_not_a_map),
		cmocka_unit_test(test_payload_missing_command),
		cmocka_unit_test(test_payload_unknown_command),
		cmocka_unit_test(test_payload_wrong_type),
		cmocka_unit_test(test_payload_missing_field),
		cmocka_unit_test(test_node_config_missing_key),
		cmocka_unit_test(test_node_config_malformed_value),
		cmocka_unit_test(test_node_without_trusted_keys_refuses_to_start),
		cmocka_unit_test(test_researcher_without_keys_refuses_to_run),
		cmocka_unit_test(test_researcher_with_wrong_password_refused),
		cmocka_unit_test(test_experiment_unknown_key),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
