/* The whole stack on RabbitMQ's MQTT plugin instead of Mosquitto
 * (docs/deployment.md, "Clustered broker: RabbitMQ"): a real rabbitmq-server
 * started once for the program on the files `fedc-admin init --broker
 * rabbitmq` wrote, fedc-repository and three node daemons, unchanged.
 *
 * It runs the demo experiment over TLS, then checks that the permissions
 * fedc-admin wrote refuse what the Mosquitto ACL refuses: a node publishing
 * or subscribing outside its topics, a wrong password, a client without a
 * certificate, a message larger than the protocol's largest. The attacks use
 * mosquitto_pub and mosquitto_sub, clients that are not fedc's, holding a
 * node's real credentials. RabbitMQ missing fails the test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "fedc/message.h"
#include "fedc/mqtt.h"
#include "harness.h"

static struct harness H;
static char output[1 << 16];
static const size_t shares[3][2] = { { 0, 100 }, { 100, 180 }, { 280, 289 } };

static int setup(void **state)
{
	char csv[512], id[32];

	if (harness_init_broker(&H, HARNESS_RABBITMQ) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(csv, sizeof(csv), "%s/hospital-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "hospital-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, shares[i][0],
				      shares[i][1]) ||
		    harness_add_node(&H, id, csv, "breast-cancer,tabular", harness_plan("logreg")) != (int)i ||
		    harness_start_node(&H, i) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

/* ---- a client that is not fedc's --------------------------------------------- */

struct creds {
	const char *bundle_kind; /* "nodes" or "researchers" */
	const char *user;
	const char *password;    /* NULL: the bundle's own */
	bool no_cert;
	const char *cert, *key;  /* NULL: the bundle's own */
};

/* `prog` (mosquitto_pub or mosquitto_sub) as `c`, client id `client_id`,
 * QoS 1, then `extra` (NULL-terminated). Its exit code; output in `output`. */
static int client(const char *prog, const struct creds *c, const char *client_id, int timeout_s,
		  const char *const *extra)
{
	char bundle[512], ca[600], cert[600], key[600], pwfile[600], password[256], port[16];
	const char *argv[40];
	size_t n = 0;

	snprintf(bundle, sizeof(bundle), "%s/%s/%s", H.fed_dir, c->bundle_kind, c->user);
	snprintf(ca, sizeof(ca), "%s/ca.pem", bundle);
	snprintf(cert, sizeof(cert), "%s/client.pem", bundle);
	snprintf(key, sizeof(key), "%s/client.key", bundle);
	snprintf(pwfile, sizeof(pwfile), "%s/broker.password", bundle);
	snprintf(port, sizeof(port), "%d", H.broker_port);
	assert_int_equal(fedc_read_secret(pwfile, password, sizeof(password)), FEDC_OK);
	argv[n++] = prog;
	argv[n++] = "-h";
	argv[n++] = "127.0.0.1";
	argv[n++] = "-p";
	argv[n++] = port;
	argv[n++] = "--cafile";
	argv[n++] = ca;
	if (!c->no_cert) {
		argv[n++] = "--cert";
		argv[n++] = c->cert ? c->cert : cert;
		argv[n++] = "--key";
		argv[n++] = c->key ? c->key : key;
	}
	argv[n++] = "-u";
	argv[n++] = c->user;
	argv[n++] = "-P";
	argv[n++] = c->password ? c->password : password;
	argv[n++] = "-i";
	argv[n++] = client_id;
	argv[n++] = "-q";
	argv[n++] = "1";
	for (size_t i = 0; extra[i] && n < sizeof(argv) / sizeof(argv[0]) - 1; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	return harness_run(&H, argv, timeout_s, output, sizeof(output));
}

static const struct creds node0 = { "nodes", "hospital-0", NULL, false, NULL, NULL };
static const struct creds researcher = { "researchers", "test-researcher", NULL, false, NULL, NULL };

static int publish(const struct creds *c, const char *client_id, const char *topic, const char *text, bool retain)
{
	const char *extra[] = { "-t", topic, "-m", text, retain ? "-r" : NULL, NULL };

	return client(FEDC_MOSQUITTO_PUB, c, client_id, 20, extra);
}

/* mosquitto_sub as node hospital-0 on `topic`: one message or 3 s. */
static int subscribe_as_node0(const char *topic)
{
	const char *extra[] = { "-t", topic, "-C", "1", "-W", "3", NULL };

	return client(FEDC_MOSQUITTO_SUB, &node0, "hospital-0:sub", 10, extra);
}

/* A fresh connection with the credentials of `c` (client id "USER:probe"),
 * subscribed to `topic`. */
static struct fedc_mqtt *listener(const struct creds *c, const char *topic)
{
	const char *subs[] = { topic };
	char bundle[512], client_id[128];
	struct fedc_mqtt *m = NULL;

	snprintf(bundle, sizeof(bundle), "%s/%s/%s", H.fed_dir, c->bundle_kind, c->user);
	snprintf(client_id, sizeof(client_id), "%s:probe", c->user);
	assert_int_equal(harness_connect_as(&H, bundle, c->user, client_id, subs, 1, &m), 0);
	return m;
}

/* Messages `m` receives within `ms` whose payload starts with `text` (NULL:
 * any) and is at least `min_len` bytes. */
static int count_messages(struct fedc_mqtt *m, int ms, const char *text, size_t min_len)
{
	struct fedc_mqtt_message *msg = NULL;
	int n = 0;

	while (fedc_mqtt_next(m, ms, &msg) == FEDC_OK) {
		if (msg->len >= min_len && (!text || (msg->len >= strlen(text) &&
						      !memcmp(msg->payload, text, strlen(text)))))
			n++;
		fedc_mqtt_message_free(msg);
		msg = NULL;
	}
	return n;
}

static void topic_of(char *out, const char *kind, const char *id)
{
	snprintf(out, FEDC_MAX_TOPIC_LEN + 1, "fedc/%s/%s%s%s", H.federation, kind, id ? "/" : "", id ? id : "");
}

/* ---- the tests ------------------------------------------------------------------ */

static void test_demo_experiment_over_tls(void **state)
{
	char exp[512], history[600];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	int rc;

	snprintf(exp, sizeof(exp), "%s/logreg.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "breast-cancer", 10, 3, 60,
						  "n_features = 30", NULL),
			 0);
	rc = harness_run(&H, argv, 300, output, sizeof(output));
	if (rc != 0)
		fprintf(stderr, "%s\n", output);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(output, "round   10/10"));
	assert_non_null(strstr(output, "nodes 3/3"));
	assert_non_null(strstr(output, "  live  round 1  node hospital-0  loss "));
	assert_true(harness_final_accuracy(output) >= 0.93);
	snprintf(history, sizeof(history), "%s-out/history.jsonl", exp);
	assert_true(harness_file_contains(history, "hospital-2"));
}

/* `fedc-researcher nodes` finds every node though no retained status reaches
 * its "status/+" subscription on RabbitMQ: each counts as online once it
 * answers. */
static void test_nodes_listed(void **state)
{
	char exp[512];
	const char *argv[] = { harness_bin("fedc-researcher"), "nodes", "--network", exp, "--timeout", "3", NULL };

	snprintf(exp, sizeof(exp), "%s/logreg.ini", H.dir);
	assert_int_equal(harness_run(&H, argv, 60, output, sizeof(output)), 0);
	assert_non_null(strstr(output, "federation test: 3 node(s) online"));
	for (size_t i = 0; i < 3; i++)
		assert_non_null(strstr(output, H.nodes[i].id));
}

static void test_node_publish_outside_its_topics_refused(void **state)
{
	char command1[FEDC_MAX_TOPIC_LEN + 1], status1[FEDC_MAX_TOPIC_LEN + 1], nodes[FEDC_MAX_TOPIC_LEN + 1],
		reply[FEDC_MAX_TOPIC_LEN + 1];
	const struct creds node1 = { "nodes", "hospital-1", NULL, false, NULL, NULL };
	struct fedc_mqtt *as_node1, *as_researcher;

	topic_of(command1, "node", "hospital-1");
	topic_of(status1, "status", "hospital-1");
	topic_of(nodes, "nodes", NULL);
	topic_of(reply, "researcher", H.researcher_id);
	as_node1 = listener(&node1, command1);
	as_researcher = listener(&researcher, status1);
	assert_int_equal(count_messages(as_researcher, 500, NULL, 0), 1); /* hospital-1's retained status */
	/* A command to another node, a forged status, a broadcast: each
	 * publish closes the connection (RabbitMQ sends no refusal code). */
	assert_int_not_equal(publish(&node0, "hospital-0:a", command1, "forged", false), 0);
	assert_int_not_equal(publish(&node0, "hospital-0:b", status1, "forged", true), 0);
	assert_int_not_equal(publish(&node0, "hospital-0:c", nodes, "forged", false), 0);
	/* a retained message on a topic of no researcher, which RabbitMQ would keep */
	assert_int_not_equal(publish(&node0, "hospital-0:e", "fedc/test/researcher/nobody", "forged", true), 0);
	assert_true(harness_file_contains(H.broker.log, "access to topic 'fedc.test.node.hospital-1' in exchange "
							"'amq.topic' in vhost 'test' refused for user 'hospital-0'"));
	assert_int_equal(count_messages(as_node1, 1000, "forged", 0), 0);
	assert_int_equal(count_messages(as_researcher, 500, "forged", 0), 0);
	fedc_mqtt_close(as_researcher, NULL, 0);
	/* what a node may do goes through: a reply to the researcher */
	as_researcher = listener(&researcher, reply);
	assert_int_equal(publish(&node0, "hospital-0:d", reply, "reply", false), 0);
	assert_int_equal(count_messages(as_researcher, 2000, "reply", 0), 1);
	fedc_mqtt_close(as_researcher, NULL, 0);
	fedc_mqtt_close(as_node1, NULL, 0);
}

static void test_node_subscribe_outside_its_topics_refused(void **state)
{
	char command0[FEDC_MAX_TOPIC_LEN + 1], command1[FEDC_MAX_TOPIC_LEN + 1], status_all[FEDC_MAX_TOPIC_LEN + 1],
		reply[FEDC_MAX_TOPIC_LEN + 1], everything[FEDC_MAX_TOPIC_LEN + 1];

	topic_of(command0, "node", "hospital-0");
	topic_of(command1, "node", "hospital-1");
	topic_of(status_all, "status", "+");
	topic_of(reply, "researcher", H.researcher_id);
	snprintf(everything, sizeof(everything), "fedc/%s/#", H.federation);
	/* Retained messages wait on each topic, so an allowed subscription gets
	 * one at once (the nodes' daemons refuse these unsigned ones). */
	assert_int_equal(publish(&researcher, "test-researcher:r0", command0, "retained-0", true), 0);
	assert_int_equal(publish(&researcher, "test-researcher:r1", command1, "retained-1", true), 0);
	assert_int_equal(subscribe_as_node0(command0), 0);
	assert_non_null(strstr(output, "retained-0"));
	/* another node's commands, every status, the researcher's replies, all */
	assert_int_not_equal(subscribe_as_node0(command1), 0);
	assert_null(strstr(output, "retained-1"));
	assert_int_not_equal(subscribe_as_node0(status_all), 0);
	assert_null(strstr(output, "online"));
	assert_int_not_equal(subscribe_as_node0(reply), 0);
	assert_int_not_equal(subscribe_as_node0(everything), 0);
	assert_null(strstr(output, "retained"));
	assert_true(harness_file_contains(H.broker.log, "access to topic 'fedc.test.#' in exchange 'amq.topic' in "
							"vhost 'test' refused for user 'hospital-0'"));
	/* clear the retained messages */
	assert_int_equal(publish(&researcher, "test-researcher:r0", command0, "", true), 0);
	assert_int_equal(publish(&researcher, "test-researcher:r1", command1, "", true), 0);
}

static void test_wrong_password_or_no_certificate_refused(void **state)
{
	char reply[FEDC_MAX_TOPIC_LEN + 1], other_password[256], path[600];
	const struct creds wrong = { "nodes", "hospital-0", "0123456789abcdef", false, NULL, NULL };
	const struct creds swapped = { "nodes", "hospital-0", other_password, false, NULL, NULL };
	const struct creds other = { "nodes", "hospital-1", NULL, false, NULL, NULL };
	const struct creds no_cert = { "nodes", "hospital-0", NULL, true, NULL, NULL };
	const char *extra[] = { "-t", reply, "-m", "x", NULL };

	topic_of(reply, "researcher", H.researcher_id);
	snprintf(path, sizeof(path), "%s/nodes/hospital-1/broker.password", H.fed_dir);
	assert_int_equal(fedc_read_secret(path, other_password, sizeof(other_password)), FEDC_OK);
	assert_int_not_equal(client(FEDC_MOSQUITTO_PUB, &wrong, "hospital-0:w", 20, extra), 0);
	assert_non_null(strstr(output, "bad user name or password"));
	/* hospital-1's password is not hospital-0's; with its own name it works */
	assert_int_not_equal(client(FEDC_MOSQUITTO_PUB, &swapped, "hospital-0:s", 20, extra), 0);
	assert_int_equal(client(FEDC_MOSQUITTO_PUB, &other, "hospital-1:ok", 20, extra), 0);
	/* TLS without a client certificate: the handshake fails */
	assert_int_not_equal(client(FEDC_MOSQUITTO_PUB, &no_cert, "hospital-0:n", 20, extra), 0);
}

static void test_oversized_message_dropped(void **state)
{
	char reply[FEDC_MAX_TOPIC_LEN + 1], file[512], said[96];
	static char blob[FEDC_ENVELOPE_MAX_BYTES + 64 * 1024]; /* over max_message_size */
	const char *extra[] = { "-t", reply, "-f", file, NULL };
	struct fedc_mqtt *late;

	topic_of(reply, "researcher", H.researcher_id);
	late = listener(&researcher, reply);
	memset(blob, 'b', sizeof(blob));
	snprintf(file, sizeof(file), "%s/big.bin", H.dir);
	assert_int_equal(fedc_write_atomic(file, blob, sizeof(blob)), FEDC_OK);
	/* RabbitMQ closes the publisher's channel and never acknowledges:
	 * mosquitto_pub waits until it is killed */
	assert_int_not_equal(client(FEDC_MOSQUITTO_PUB, &node0, "hospital-0:big", 3, extra), 0);
	assert_int_equal(count_messages(late, 1000, NULL, sizeof(blob)), 0);
	snprintf(said, sizeof(said), "message size %zu is larger than configured max size", sizeof(blob));
	assert_true(harness_file_contains(H.broker.log, said));
	/* a message of the protocol's size goes through */
	assert_int_equal(fedc_write_atomic(file, blob, 30000), FEDC_OK);
	assert_int_equal(client(FEDC_MOSQUITTO_PUB, &node0, "hospital-0:small", 20, extra), 0);
	assert_int_equal(count_messages(late, 2000, NULL, 30000), 1);
	fedc_mqtt_close(late, NULL, 0);
}

/* The node's last will (retained, QoS 1) is what says it died. */
static void test_last_will_says_offline(void **state)
{
	harness_stop(&H.nodes[2].proc, SIGKILL, 5000);
	assert_int_equal(harness_wait_status(&H, "hospital-2", "offline", 60000), 0);
}

static void copy_file(const char *from, const char *to)
{
	char text[8192];
	FILE *f = fopen(from, "r");
	size_t n = f ? fread(text, 1, sizeof(text), f) : 0;

	assert_non_null(f);
	fclose(f);
	assert_int_equal(fedc_write_atomic(to, text, n), FEDC_OK);
}

/* fedc-admin rotate puts the old certificate on the CRL, which RabbitMQ reads
 * from broker/crls/ at each handshake (advanced.config): the old certificate
 * with the new password fails the handshake, the new one logs in. On the
 * node killed above, whose bundle nothing uses any more. */
static void test_rotated_certificate_refused(void **state)
{
	const char *rotate[] = { harness_bin("fedc-admin"), "rotate", H.fed_dir, "hospital-2", NULL };
	char old_cert[512], old_key[512], bundle[512], path[600], reply[FEDC_MAX_TOPIC_LEN + 1];
	const struct creds old = { "nodes", "hospital-2", NULL, false, old_cert, old_key };
	const struct creds renewed = { "nodes", "hospital-2", NULL, false, NULL, NULL };
	const char *extra[] = { "-t", reply, "-m", "x", NULL };

	topic_of(reply, "researcher", H.researcher_id);
	snprintf(bundle, sizeof(bundle), "%s/nodes/hospital-2", H.fed_dir);
	snprintf(old_cert, sizeof(old_cert), "%s/old-client.pem", H.dir);
	snprintf(old_key, sizeof(old_key), "%s/old-client.key", H.dir);
	snprintf(path, sizeof(path), "%s/client.pem", bundle);
	copy_file(path, old_cert);
	snprintf(path, sizeof(path), "%s/client.key", bundle);
	copy_file(path, old_key);
	assert_int_equal(client(FEDC_MOSQUITTO_PUB, &old, "hospital-2:before", 20, extra), 0);
	assert_int_equal(harness_run(&H, rotate, 60, output, sizeof(output)), 0);
	harness_reload_credentials(&H);
	assert_int_not_equal(client(FEDC_MOSQUITTO_PUB, &old, "hospital-2:old", 20, extra), 0);
	assert_true(harness_file_contains(H.broker.log, "Certificate Revoked"));
	assert_int_equal(client(FEDC_MOSQUITTO_PUB, &renewed, "hospital-2:new", 20, extra), 0);
}

/* 0 once `path` holds `needle`, -1 after `ms`. */
static int wait_for_line(const char *path, const char *needle, int ms)
{
	for (int waited = 0; waited < ms; waited += 100) {
		if (harness_file_contains(path, needle))
			return 0;
		usleep(100000);
	}
	return -1;
}

/* fedc-admin revoke, then what it prints for RabbitMQ: import the
 * definitions and delete the user. The revoked node is out: its running
 * daemon loses its connection, and its certificate is on the CRL. */
static void test_revoked_node_locked_out(void **state)
{
	const char *revoke[] = { harness_bin("fedc-admin"), "revoke", H.fed_dir, "hospital-1", NULL };
	const char *list[] = { "list_users", NULL };
	const char *delete_user[] = { "delete_user", "hospital-1", NULL };
	const struct creds node1 = { "nodes", "hospital-1", NULL, false, NULL, NULL };
	char reply[FEDC_MAX_TOPIC_LEN + 1];

	topic_of(reply, "researcher", H.researcher_id);
	assert_int_equal(harness_run(&H, revoke, 60, output, sizeof(output)), 0);
	assert_non_null(strstr(output, "rabbitmqctl delete_user hospital-1"));
	harness_reload_credentials(&H);
	assert_int_equal(harness_rabbitmqctl(&H, delete_user, output, sizeof(output)), 0);
	assert_int_equal(harness_rabbitmqctl(&H, list, output, sizeof(output)), 0);
	assert_null(strstr(output, "hospital-1"));
	assert_non_null(strstr(output, "hospital-0"));
	/* its certificate is on the CRL: refused before its password is read */
	assert_int_not_equal(publish(&node1, "hospital-1:after", reply, "x", false), 0);
	/* delete_user closed the daemon's connection (its last will goes
	 * nowhere: the user is gone), and its reconnections fail */
	assert_int_equal(wait_for_line(H.nodes[1].proc.log, "mqtt: connection to ", 20000), 0);
	assert_int_equal(wait_for_line(H.broker.log, "user 'hospital-1' is deleted", 20000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demo_experiment_over_tls),
		cmocka_unit_test(test_nodes_listed),
		cmocka_unit_test(test_node_publish_outside_its_topics_refused),
		cmocka_unit_test(test_node_subscribe_outside_its_topics_refused),
		cmocka_unit_test(test_wrong_password_or_no_certificate_refused),
		cmocka_unit_test(test_oversized_message_dropped),
		cmocka_unit_test(test_last_will_says_offline),
		cmocka_unit_test(test_rotated_certificate_refused),
		cmocka_unit_test(test_revoked_node_locked_out),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
