/* A researcher added after the nodes started: until the nodes are sent
 * SIGHUP they refuse her requests, and tell her why in an `error` reply (at
 * most REFUSAL_SIGNER_BURST replies to a burst, however fast she sends); after SIGHUP they take her key without a restart and her search
 * finds them. Real Mosquitto, repository, node daemons, fedc-admin and
 * fedc-researcher. */
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

#include "fedc/message.h"
#include "harness.h"

#define LATE "late-researcher"
#define FLOOD 30
#define SIGNER_BURST 5 /* REFUSAL_SIGNER_BURST, node/refusal_limit.h */

static struct harness H;
static char output[1 << 16];
static char late_dir[512], late_network[600];

static int setup(void **state)
{
	char csv[512];

	(void)state;
	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < 2; i++) {
		char id[16];

		snprintf(id, sizeof(id), "ward%zu", i + 1);
		snprintf(csv, sizeof(csv), "%s/%s.csv", H.dir, id);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, i * 100, 100) ||
		    harness_add_node(&H, id, csv, "late-tag", NULL) != (int)i || harness_start_node(&H, i) != 0)
			return -1;
	}
	snprintf(late_dir, sizeof(late_dir), "%s/researchers/%s", H.fed_dir, LATE);
	snprintf(late_network, sizeof(late_network), "%s/network.ini", late_dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

static int late_search(void)
{
	const char *argv[] = { harness_bin("fedc-researcher"), "search", "--tags", "late-tag", "--network",
			       late_network, "--timeout", "5", NULL };

	return harness_run(&H, argv, 60, output, sizeof(output));
}

/* Counts the `error` replies on the late researcher's topic within
 * `window_ms`, each checked to come from a node and say why. */
static int count_refusals(struct fedc_mqtt *late, int window_ms)
{
	struct fedc_msg *msg = calloc(1, sizeof(*msg));
	int64_t until = fedc_unix_ms() + window_ms;
	int n = 0;

	assert_non_null(msg);
	while (fedc_unix_ms() < until) {
		struct fedc_mqtt_message *m = NULL;
		struct fedc_envelope env;

		if (fedc_mqtt_next(late, 200, &m) != FEDC_OK)
			continue;
		/* the nodes' replies are signed by their keys: the late bundle trusts them */
		assert_int_equal(fedc_envelope_open(H.channel.trusted, m->topic, m->payload, m->len, &env), FEDC_OK);
		assert_int_equal(fedc_msg_decode(env.body, env.body_len, msg), FEDC_OK);
		fedc_mqtt_message_free(m);
		if (msg->command != FEDC_CMD_ERROR)
			continue;
		if (!strstr(msg->message, "not trusted here") || !strstr(msg->message, "SIGHUP"))
			fail_msg("unexpected error reply: %s", msg->message);
		n++;
	}
	free(msg);
	return n;
}

/* Sends `n` `search` requests signed by the late researcher to ward1. */
static void send_searches(struct fedc_mqtt *late, struct fedc_channel *ch, int n)
{
	char topic[FEDC_MAX_TOPIC_LEN + 1];

	assert_int_equal(fedc_topic_node(topic, H.federation, "ward1"), FEDC_OK);
	for (int i = 0; i < n; i++) {
		struct fedc_msg *msg = fedc_msg_new(FEDC_CMD_SEARCH);

		assert_non_null(msg);
		snprintf(msg->researcher_id, sizeof(msg->researcher_id), "%s", LATE);
		fedc_msg_set(msg, FEDC_F_RESEARCHER_ID);
		snprintf(msg->tags[0], sizeof(msg->tags[0]), "late-tag");
		msg->n_tags = 1;
		fedc_msg_set(msg, FEDC_F_TAGS);
		assert_int_equal(fedc_channel_publish(ch, late, topic, msg, false), FEDC_OK);
		fedc_msg_free(msg);
	}
}

static void test_new_researcher_refused_with_reason_then_trusted_after_sighup(void **state)
{
	const char *add[] = { harness_bin("fedc-admin"), "add-researcher", H.fed_dir, LATE, NULL };
	char reply_topic[FEDC_MAX_TOPIC_LEN + 1], key[600], trusted[600];
	const char *subs[] = { reply_topic };
	struct fedc_channel ch = { 0 };
	struct fedc_mqtt *late = NULL;
	int first, flood;

	(void)state;
	assert_int_equal(harness_run(&H, add, 60, output, sizeof(output)), 0);
	harness_reload_credentials(&H); /* the broker and repository learn her password and token */
	sleep(1);

	/* Before SIGHUP: refused, with a reason, and the flood is not echoed. */
	assert_int_equal(fedc_topic_researcher(reply_topic, H.federation, LATE), FEDC_OK);
	assert_int_equal(harness_connect_as(&H, late_dir, LATE, LATE ":client", subs, 1, &late), 0);
	snprintf(key, sizeof(key), "%s/signing.key", late_dir);
	snprintf(trusted, sizeof(trusted), "%s/trusted", late_dir);
	assert_int_equal(fedc_channel_init(&ch, LATE, key, trusted, 300, false), FEDC_OK);
	send_searches(late, &ch, 1);
	first = count_refusals(late, 3000);
	assert_int_equal(first, 1);
	send_searches(late, &ch, FLOOD);
	flood = count_refusals(late, 3000);
	assert_int_equal(flood, SIGNER_BURST - 1); /* the rest of her bucket, then silence */
	assert_true(harness_file_contains(H.nodes[0].proc.log, "whose key is not trusted here"));
	fedc_mqtt_close(late, NULL, 0);
	fedc_channel_free(&ch);
	/* her search hears refusals, finds nothing (ward1 stays silent: her bucket there is empty) */
	assert_int_equal(late_search(), 0);
	if (!strstr(output, "0 of ") || !strstr(output, "not trusted here"))
		fail_msg("search before SIGHUP:\n%s", output);

	/* SIGHUP: the nodes read trusted_keys_dir again, still the same processes. */
	for (size_t i = 0; i < H.n_nodes; i++) {
		pid_t pid = H.nodes[i].proc.pid;

		assert_int_equal(kill(pid, SIGHUP), 0);
		for (int waited = 0; waited < 5000; waited += 50) {
			if (harness_file_contains(H.nodes[i].proc.log, "trusted keys reloaded"))
				break;
			usleep(50000);
		}
		assert_true(harness_file_contains(H.nodes[i].proc.log, "trusted keys reloaded"));
		assert_int_equal(kill(pid, 0), 0);
	}
	if (late_search() != 0)
		fail_msg("search after SIGHUP failed:\n%s", output);
	if (!strstr(output, "ward1") || !strstr(output, "ward2") || !strstr(output, "2 of 2") ||
	    strstr(output, "not trusted"))
		fail_msg("search after SIGHUP does not find both nodes:\n%s", output);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_researcher_refused_with_reason_then_trusted_after_sighup),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
