/* Nodes advertise what they can do (docs/protocol.md, "Capabilities"), and
 * [nodes] require chooses nodes by it, on a real stack: Mosquitto,
 * fedc-repository and two fedc-node daemons with breast-cancer rows.
 * "roomy" lets a plan run 600 s a round; "strict" 60 s, and its privacy
 * policy caps epsilon at 10 and asks for at least 200 training rows. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedc/caps.h"
#include "fedc/plan.h"
#include "harness.h"

static struct harness H;
static char output[1 << 16];
static char network[512];
static double roomy_runtime = -1; /* max_runtime_s in roomy's retained status */
static double roomy_inline = -1;  /* inline_params in it */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int append(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

/* Reads the observer until roomy's online status, keeping what it
 * advertises about its round limit. */
static int wait_roomy_status(void)
{
	int64_t deadline = now_ms() + 20000;
	struct fedc_msg *msg = calloc(1, sizeof(*msg));
	int found = -1;

	while (msg && found != 0 && now_ms() < deadline) {
		struct fedc_mqtt_message *m = NULL;
		struct fedc_origin origin;

		if (fedc_mqtt_next(H.observer, (int)(deadline - now_ms()), &m) != FEDC_OK)
			break;
		if (fedc_channel_accept(&H.channel, m->topic, m->payload, m->len, msg, &origin) == FEDC_OK &&
		    msg->command == FEDC_CMD_STATUS && strcmp(msg->node_id, "roomy") == 0 &&
		    strcmp(msg->state, "online") == 0) {
			found = 0;
			if (!fedc_msg_has(msg, FEDC_F_CAPABILITIES) ||
			    !fedc_msg_kv_get(msg->capabilities, msg->n_capabilities, FEDC_CAP_MAX_RUNTIME_S,
					     &roomy_runtime) ||
			    !fedc_msg_kv_get(msg->capabilities, msg->n_capabilities, FEDC_CAP_INLINE_PARAMS,
					     &roomy_inline) ||
			    msg->n_dataset_kinds != 1 || strcmp(msg->dataset_kinds[0], "csv") != 0 || !msg->sdk_version[0])
				roomy_runtime = -1;
		}
		fedc_msg_clear(msg);
		fedc_mqtt_message_free(m);
	}
	free(msg);
	return found;
}

static int setup(void **state)
{
	static const char *const ids[] = { "roomy", "strict" };
	char csv[512];

	(void)state;
	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < 2; i++) {
		snprintf(csv, sizeof(csv), "%s/%s.csv", H.dir, ids[i]);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, i * 200, 200) ||
		    harness_add_node(&H, ids[i], csv, "breast-cancer", harness_plan("logreg")) != (int)i)
			return -1;
	}
	if (harness_node_limits(&H, 0, "train_timeout_s = 600\n") ||
	    append(H.nodes[1].config, "\n[privacy]\nmax_epsilon = 10\nmin_samples = 200\n"))
		return -1;
	if (harness_spawn_node(&H, 0) || wait_roomy_status() || harness_start_node(&H, 1))
		return -1;
	snprintf(network, sizeof(network), "%s/network.ini", H.dir);
	return harness_write_experiment(&H, network, harness_plan("logreg"), "breast-cancer", 1, 1, 30,
					"n_features = 30", NULL);
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

static int researcher(const char *a, const char *b, const char *c)
{
	const char *argv[] = { harness_bin("fedc-researcher"), a, b, c, NULL };

	return harness_run(&H, argv, 120, output, sizeof(output));
}

/* The row of `node` in the capabilities table, copied into `row`. */
static void capability_row(const char *node, char *row, size_t cap)
{
	const char *table = strstr(output, "\ncapabilities "), *at, *end;
	char start[80];

	if (!table)
		fail_msg("no capabilities table in:\n%s", output);
	snprintf(start, sizeof(start), "\n%s ", node);
	at = strstr(table, start);
	if (!at)
		fail_msg("no row for %s in:\n%s", node, output);
	at++;
	end = strchr(at, '\n');
	snprintf(row, cap, "%.*s", (int)(end ? end - at : (long)strlen(at)), at);
}

static void test_status_carries_capabilities(void **state)
{
	(void)state;
	assert_true(roomy_runtime == 600);
}

/* The online status is built before the node connects, yet it announces
 * what the connection then carries, as the node's replies do once
 * connected: on a machine whose net.core.wmem_max lets the MQTT sockets
 * hold 8 MiB messages, up to 8 MiB inline, not the default 256 KiB (which
 * it announced before). */
static void test_status_inline_params_as_the_connection_carries(void **state)
{
	const char *argv[] = { harness_bin("fedc-researcher"), "nodes", "--network", network, "--json", NULL };
	const char *at, *next, *field = "\"inline_params\": ";
	double replied;

	(void)state;
	assert_int_equal(harness_run(&H, argv, 120, output, sizeof(output)), 0);
	at = strstr(output, "\"node_id\": \"roomy\"");
	assert_non_null(at);
	next = strstr(at + 1, "\"node_id\"");
	at = strstr(at, field);
	if (!at || (next && at > next))
		fail_msg("no inline_params for roomy in:\n%s", output);
	replied = strtod(at + strlen(field), NULL);
	fprintf(stderr, "roomy: inline_params %.0f in its online status, %.0f in its reply\n", roomy_inline, replied);
	assert_true(replied > 0);
	assert_true(roomy_inline == replied);
}

static void test_nodes_shows_both_nodes_capabilities(void **state)
{
	char roomy[512], strict[512];

	(void)state;
	assert_int_equal(researcher("nodes", "--network", network), 0);
	capability_row("roomy", roomy, sizeof(roomy));
	capability_row("strict", strict, sizeof(strict));
	/* abi, then cores and memory (this machine's: not checked), runtime */
	{
		char abi[16];

		snprintf(abi, sizeof(abi), "   %u ", FEDC_PLAN_ABI_VERSION);
		assert_non_null(strstr(roomy, abi));
	}
	assert_non_null(strstr(roomy, "       600 "));
	assert_non_null(strstr(strict, "        60 "));
	assert_non_null(strstr(roomy, " csv "));
	assert_null(strstr(roomy, "epsilon"));
	if (!strstr(strict, "epsilon <= 10, samples >= 200"))
		fail_msg("strict's privacy policy missing from: %s", strict);
}

static int run_requiring(const char *name, const char *require)
{
	char exp[512], extra[512];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };

	snprintf(exp, sizeof(exp), "%s/%s.ini", H.dir, name);
	snprintf(extra, sizeof(extra), "\n[nodes]\nrequire = %s\n", require);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "breast-cancer", 1, 1, 60,
						  "n_features = 30", extra),
			 0);
	return harness_run(&H, argv, 300, output, sizeof(output));
}

static void test_require_selects_the_node_that_meets_it(void **state)
{
	(void)state;
	if (run_requiring("roomy-only", "max_runtime_s >= 300, abi >= 3, cores >= 1, dataset_kind = csv") != 0)
		fail_msg("%s", output);
	if (!strstr(output, "node strict left out by [nodes] require: max_runtime_s is 60, needs max_runtime_s >= 300"))
		fail_msg("no reason for strict in:\n%s", output);
	assert_null(strstr(output, "node roomy left out"));
	assert_non_null(strstr(output, "round    1/1     nodes 1/1"));
}

static void test_require_no_node_meets_says_so(void **state)
{
	(void)state;
	assert_int_not_equal(run_requiring("none", "max_runtime_s >= 300, max_epsilon != 0"), 0);
	assert_non_null(strstr(output, "node roomy left out by [nodes] require: max_epsilon is 0, needs max_epsilon != 0"));
	assert_non_null(strstr(output, "node strict left out by [nodes] require: max_runtime_s is 60"));
	if (!strstr(output, "0 node(s) with a dataset tagged breast-cancer meet [nodes] require (2 left out by it"))
		fail_msg("%s", output);
	assert_null(strstr(output, "round    1/1"));
}

static void test_require_bad_expression_is_refused(void **state)
{
	(void)state;
	assert_int_not_equal(run_requiring("bad", "corse >= 4"), 0);
	if (!strstr(output, "[nodes] require: \"corse >= 4\": unknown capability \"corse\""))
		fail_msg("%s", output);
	assert_null(strstr(output, "left out"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_carries_capabilities),
		cmocka_unit_test(test_status_inline_params_as_the_connection_carries),
		cmocka_unit_test(test_nodes_shows_both_nodes_capabilities),
		cmocka_unit_test(test_require_selects_the_node_that_meets_it),
		cmocka_unit_test(test_require_no_node_meets_says_so),
		cmocka_unit_test(test_require_bad_expression_is_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
