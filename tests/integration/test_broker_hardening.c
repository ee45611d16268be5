/* The broker that fedc-admin configures cannot be used by one participant
 * against another (docs/security.md, "The broker"): a client id belongs to
 * its user, retained messages only go on the publisher's own status topic,
 * and a message larger than the protocol's largest is dropped. Each attack
 * is made with mosquitto_pub, a client that is not fedc's, holding a node's
 * real credentials. Real Mosquitto (with fedc's plugin), repository and
 * node daemons. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "fedc/message.h"
#include "fedc/mqtt.h"
#include "fedc/sign.h"
#include "harness.h"

static struct harness H;
static char output[1 << 14];
static char researcher_topic[FEDC_MAX_TOPIC_LEN + 1];

static int setup(void **state)
{
	static const char *const ids[] = { "alpha", "beta" };
	char csv[512];

	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < 2; i++) {
		snprintf(csv, sizeof(csv), "%s/%s.csv", H.dir, ids[i]);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, i * 100, 100) ||
		    harness_add_node(&H, ids[i], csv, ids[i], NULL) != (int)i || harness_start_node(&H, i) != 0)
			return -1;
	}
	return fedc_topic_researcher(researcher_topic, H.federation, H.researcher_id) == FEDC_OK ? 0 : -1;
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

/* mosquitto_pub with node alpha's certificate and password, as client id
 * `client_id`, sending `file` (or "-m hello") to `topic`. Its exit code. */
static int pub_as_alpha(const char *client_id, const char *topic, const char *file, bool retain)
{
	char bundle[512], ca[600], cert[600], key[600], pwfile[600], password[256], port[16];
	const char *argv[32];
	size_t n = 0;

	snprintf(bundle, sizeof(bundle), "%s/nodes/alpha", H.fed_dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", bundle);
	snprintf(cert, sizeof(cert), "%s/client.pem", bundle);
	snprintf(key, sizeof(key), "%s/client.key", bundle);
	snprintf(pwfile, sizeof(pwfile), "%s/broker.password", bundle);
	snprintf(port, sizeof(port), "%d", H.broker_port);
	assert_int_equal(fedc_read_secret(pwfile, password, sizeof(password)), FEDC_OK);
	argv[n++] = FEDC_MOSQUITTO_PUB;
	argv[n++] = "-h";
	argv[n++] = "127.0.0.1";
	argv[n++] = "-p";
	argv[n++] = port;
	argv[n++] = "--cafile";
	argv[n++] = ca;
	argv[n++] = "--cert";
	argv[n++] = cert;
	argv[n++] = "--key";
	argv[n++] = key;
	argv[n++] = "-u";
	argv[n++] = "alpha";
	argv[n++] = "-P";
	argv[n++] = password;
	argv[n++] = "-i";
	argv[n++] = client_id;
	argv[n++] = "-q";
	argv[n++] = "1";
	argv[n++] = "-t";
	argv[n++] = topic;
	if (file) {
		argv[n++] = "-f";
		argv[n++] = file;
	} else {
		argv[n++] = "-m";
		argv[n++] = "hello";
	}
	if (retain)
		argv[n++] = "-r";
	argv[n] = NULL;
	return harness_run(&H, argv, 20, output, sizeof(output));
}

/* A fresh connection of the test researcher, subscribed to its own topic:
 * what a researcher that starts now receives there. */
static struct fedc_mqtt *late_researcher(const char *suffix)
{
	const char *subs[] = { researcher_topic };
	char client_id[128];
	struct fedc_mqtt *m = NULL;

	snprintf(client_id, sizeof(client_id), "%s:%s", H.researcher_id, suffix);
	assert_int_equal(harness_connect_as(&H, H.researcher_dir, H.researcher_id, client_id, subs, 1, &m), 0);
	return m;
}

/* Messages `m` receives within `ms`, of at least `min_len` bytes. */
static int count_messages(struct fedc_mqtt *m, int ms, size_t min_len)
{
	struct fedc_mqtt_message *msg = NULL;
	int n = 0;

	while (fedc_mqtt_next(m, ms, &msg) == FEDC_OK) {
		if (msg->len >= min_len)
			n++;
		fedc_mqtt_message_free(msg);
		msg = NULL;
	}
	return n;
}

static void expect_pong_from(const char *node)
{
	struct fedc_msg *ping = fedc_msg_new(FEDC_CMD_PING), *reply = calloc(1, sizeof(*reply));
	void *payload = NULL;
	size_t len = 0;
	bool pong = false;

	assert_non_null(ping);
	assert_non_null(reply);
	assert_int_equal(harness_send(&H, node, ping), 0);
	while (!pong && harness_next_reply(&H, 5000, &payload, &len) == 0) {
		pong = fedc_msg_decode(payload, len, reply) == FEDC_OK && reply->command == FEDC_CMD_PONG &&
		       strcmp(reply->node_id, node) == 0;
		fedc_msg_clear(reply);
		free(payload);
		payload = NULL;
	}
	fedc_msg_free(ping);
	free(reply);
	assert_true(pong);
}

static void test_client_id_of_another_node_refused(void **state)
{
	/* Before the plugin, this took over beta's session: beta was
	 * disconnected and its last will ("offline") published. */
	assert_int_not_equal(pub_as_alpha("beta", "fedc/x/status/alpha", NULL, false), 0);
	assert_non_null(strstr(output, "not authorised"));
	assert_int_not_equal(pub_as_alpha("beta:x", "fedc/x/status/alpha", NULL, false), 0);
	assert_int_not_equal(pub_as_alpha("alph", "fedc/x/status/alpha", NULL, false), 0);
	assert_true(harness_file_contains(H.broker.log, "refused client id \"beta\" for user \"alpha\""));
	/* beta never left */
	assert_false(harness_file_contains(H.nodes[1].proc.log, "reconnect"));
	expect_pong_from("beta");
	/* alpha's own client ids are taken */
	assert_int_equal(pub_as_alpha("alpha:probe", researcher_topic, NULL, false), 0);
}

static void test_retained_message_outside_own_status_refused(void **state)
{
	char file[512], status_beta[FEDC_MAX_TOPIC_LEN + 1];
	static char blob[20000];
	struct fedc_mqtt *late;

	memset(blob, 'r', sizeof(blob));
	snprintf(file, sizeof(file), "%s/retained.bin", H.dir);
	assert_int_equal(fedc_write_atomic(file, blob, sizeof(blob)), FEDC_OK);
	assert_int_equal(fedc_topic_status(status_beta, H.federation, "beta"), FEDC_OK);
	pub_as_alpha("alpha:retain", researcher_topic, file, true);
	pub_as_alpha("alpha:retain", status_beta, file, true);
	/* a researcher that connects now finds nothing left on its topic */
	late = late_researcher("late");
	assert_int_equal(count_messages(late, 1000, sizeof(blob)), 0);
	assert_true(harness_file_contains(H.broker.log, "refused a retained message from \"alpha\""));
	fedc_mqtt_close(late, NULL, 0);
}

static void test_oversized_message_dropped(void **state)
{
	char file[512];
	static char blob[FEDC_ENVELOPE_MAX_BYTES + FEDC_MAX_TOPIC_LEN + 4096]; /* over max_packet_size */
	struct fedc_mqtt *late = late_researcher("size");

	memset(blob, 'b', sizeof(blob));
	snprintf(file, sizeof(file), "%s/big.bin", H.dir);
	assert_int_equal(fedc_write_atomic(file, blob, sizeof(blob)), FEDC_OK);
	pub_as_alpha("alpha:big", researcher_topic, file, false);
	assert_int_equal(count_messages(late, 1000, sizeof(blob)), 0);
	/* the subscriber works: a message of the protocol's size arrives */
	assert_int_equal(fedc_write_atomic(file, blob, 30000), FEDC_OK);
	assert_int_equal(pub_as_alpha("alpha:small", researcher_topic, file, false), 0);
	assert_int_equal(count_messages(late, 2000, 30000), 1);
	fedc_mqtt_close(late, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_id_of_another_node_refused),
		cmocka_unit_test(test_retained_message_outside_own_status_refused),
		cmocka_unit_test(test_oversized_message_dropped),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
