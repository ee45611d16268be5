/* A federation larger than the limits that used to break it (issue #19,
 * "A thousand nodes"), at a size the suite can afford: 160 node daemons,
 * each with its own identity from one `fedc-admin add-nodes`, on TLS to
 * the broker and the repository.
 *
 * What each case guards:
 *   - the repository took 128 connections at once and every node keeps one
 *     between rounds: past 128 nodes some timed out in their TLS handshake
 *     and a round got fewer updates than nodes (300 nodes: 124);
 *   - the broker's default queue of 1000 messages per client dropped
 *     statuses and replies past 500 nodes (here: the researcher must see
 *     every node's status and every reply);
 *   - the harness itself stopped at 64 nodes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Above the old 128 connection slots, with room: 160 nodes. */
#define N_NODES 160
#define START_BATCH 40

static struct harness H;
static char network[512];

static int setup(void **state)
{
	char csv[512];

	(void)state;
	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	snprintf(csv, sizeof(csv), "%s/site.csv", H.dir);
	if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, 0, 60) != 0 ||
	    harness_add_nodes(&H, "site", N_NODES, csv, "many", harness_plan("fixtures/identity"), "info", 4) != 0)
		return -1;
	for (size_t i = 0; i < N_NODES; i += START_BATCH) {
		if (harness_start_nodes(&H, i, START_BATCH, 120000) != 0)
			return -1;
	}
	snprintf(network, sizeof(network), "%s/researchers/%s/network.ini", H.fed_dir, H.researcher_id);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

static size_t occurrences(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *at = strstr(text, needle); at; at = strstr(at + 1, needle))
		n++;
	return n;
}

/* Every node is online to a fresh session and answers `nodes`. */
static void test_nodes_command_hears_every_node(void **state)
{
	static char out[1 << 18];
	const char *argv[] = { harness_bin("fedc-researcher"), "nodes", "--network", network, NULL };
	char online[64];

	(void)state;
	assert_int_equal(harness_run(&H, argv, 60, out, sizeof(out)), 0);
	snprintf(online, sizeof(online), "%d node(s) online", N_NODES);
	if (!strstr(out, online) || occurrences(out, " dataset(s)") != N_NODES || strstr(out, "did not answer"))
		fail_msg("want %d nodes online, each listing its datasets; got:\n%.2000s", N_NODES, out);
}

/* Counts the history's node lines with status "answered" in round `round`. */
static int answered_in_round(const char *history, int round)
{
	FILE *f = fopen(history, "r");
	static char line[1 << 16];
	int answered = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "\"type\":\"round\"") && harness_json_int(line, "round") == round)
			answered = harness_json_int(line, "answered");
	}
	fclose(f);
	return answered;
}

/* Two rounds in which every node downloads the global parameters from the
 * repository and answers: none is left out by a connection limit. */
static void test_round_over_every_node(void **state)
{
	char exp[512], history[600];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	static char out[1 << 16];

	(void)state;
	snprintf(exp, sizeof(exp), "%s/many.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/identity"), "many", 2, N_NODES, 120,
						  "n_params = 10000", "final_evaluation = false\n"),
			 0);
	if (harness_run(&H, argv, 400, out, sizeof(out)) != 0)
		fail_msg("fedc-researcher run failed:\n%s", out + (strlen(out) > 4000 ? strlen(out) - 4000 : 0));
	snprintf(history, sizeof(history), "%s-out/history.jsonl", exp);
	assert_int_equal(answered_in_round(history, 1), N_NODES);
	assert_int_equal(answered_in_round(history, 2), N_NODES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodes_command_hears_every_node),
		cmocka_unit_test(test_round_over_every_node),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
