/* One rogue node of five (docs/security.md, "Rogue nodes"): the real stack,
 * five fedc-node daemons on breast-cancer shards, the rogue fixture plan
 * (tests/fixtures/plans/rogue.c: logreg, with the node holding the largest
 * shard sending x + s (y - x) instead of its trained y). FedAvg lets the
 * attack through; multi-Krum, the median and norm-bounded FedAvg keep the
 * accuracy. (A wrong sample count is refused before aggregation:
 * tests/unit/test_aggregator.c, test_claim_checked_against_search; the node's
 * report cannot claim more rows than its dataset has, node/plan_report.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct harness H;
static char output[1 << 18];

/* Honest hospital-0..3: 100 rows each (80 to train); the rogue hospital-4:
 * 120 rows (96 to train), the largest FedAvg weight. */
#define ROGUE_MIN_ROWS 90

static int setup(void **state)
{
	char csv[512], id[32];

	(void)state;
	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < 5; i++) {
		snprintf(csv, sizeof(csv), "%s/hospital-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "hospital-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, 100 * i,
				      i < 4 ? 100 : 120) ||
		    harness_add_node(&H, id, csv, "breast-cancer", harness_plan("fixtures/rogue")) != (int)i ||
		    harness_start_node(&H, i) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

/* Runs 6 rounds of the rogue plan with `attack_scale` (the rogue off when
 * `rogue` is false) and the [aggregator] lines `aggregator`; returns the
 * final evaluation's accuracy. */
static double run(const char *name, bool rogue, double attack_scale, const char *aggregator)
{
	char exp[512], *argv[] = { (char *)harness_bin("fedc-researcher"), "run", "--log-level", "info", exp, NULL };
	const char *line, *acc;
	FILE *f;
	int rc;

	snprintf(exp, sizeof(exp), "%s/%s.ini", H.dir, name);
	f = fopen(exp, "w");
	assert_non_null(f);
	fprintf(f,
		"[experiment]\nname = %s\ntags = breast-cancer\nplan = %s\nrounds = 6\nmin_nodes = 5\n"
		"round_timeout_s = 60\ndiscovery_timeout_s = 5\nseed = 7\noutput_dir = %s-out\n"
		"[model]\nn_features = 30\nattack_scale = %g\nrogue_min_rows = %d\n"
		"[training]\nlr = 0.1\nepochs = 2\nbatch_size = 32\ntest_ratio = 0.2\n"
		"[aggregator]\n%s\n%s",
		name, harness_plan("fixtures/rogue"), exp, attack_scale, rogue ? ROGUE_MIN_ROWS : 0, aggregator,
		harness_network_section(&H));
	assert_int_equal(fclose(f), 0);
	rc = harness_run(&H, argv, 120, output, sizeof(output));
	if (rc != 0)
		fprintf(stderr, "%s\n", output);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(output, "round    6/6"));
	line = strstr(output, "final evaluation");
	acc = line ? strstr(line, "test accuracy ") : NULL;
	assert_non_null(acc);
	fprintf(stderr, "%s: accuracy %s", name, acc + strlen("test accuracy "));
	return atof(acc + strlen("test accuracy "));
}

/* The same stack without the attack: the plan learns; with it, FedAvg
 * follows the rogue (a flipped step 100 times the size of an honest one
 * from the node with the largest weight). */
static void test_fedavg_follows_the_rogue(void **state)
{
	(void)state;
	assert_true(run("honest", false, 1, "method = fedavg") >= 0.9);
	assert_true(run("fedavg-flip100", true, -100, "method = fedavg") < 0.7);
}

/* True if every line of the last run's log that scores hospital-4 says
 * that it was left out (and there is at least one). */
static bool rogue_left_out(const char *method)
{
	char needle[64];
	const char *p = output;
	int lines = 0;

	snprintf(needle, sizeof(needle), "%s: node hospital-4 score", method);
	while ((p = strstr(p, needle))) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len < 8 || strncmp(p + len - 8, "left out", 8) != 0)
			return false;
		lines++;
		p += len;
	}
	return lines > 0;
}

/* multi-Krum (f = 1) leaves the rogue out every round, flipped or scaled. */
static void test_multikrum_holds(void **state)
{
	(void)state;
	assert_true(run("multikrum-flip", true, -1, "method = multikrum\nf = 1") >= 0.9);
	assert_true(rogue_left_out("multikrum"));
	assert_true(run("multikrum-scale", true, 100, "method = multikrum\nf = 1") >= 0.9);
	assert_true(rogue_left_out("multikrum"));
}

static void test_median_holds(void **state)
{
	(void)state;
	assert_true(run("median-flip100", true, -100, "method = median") >= 0.9);
}

/* The rogue's change is clipped to clip_norm like any other, so it moves
 * the model no further than an honest node. An honest round here changes
 * the weights by a norm of 0.44-0.50 (seen with clip_norm = 1e-4, which logs
 * every change); clip_norm = 1 lets the flipped rogue pull at twice that
 * (accuracy 0.89 after 6 rounds), 0.5 bounds it near an honest step. */
static void test_normbounded_holds(void **state)
{
	(void)state;
	assert_true(run("normbounded-flip100", true, -100, "method = normbounded\nclip_norm = 0.5") >= 0.9);
	assert_non_null(strstr(output, "normbounded: node hospital-4's change of norm"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fedavg_follows_the_rogue),
		cmocka_unit_test(test_multikrum_holds),
		cmocka_unit_test(test_median_holds),
		cmocka_unit_test(test_normbounded_holds),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
