/* One rogue node of five (docs/security.md, "Rogue nodes"): the real stack,
 * five fedc-node daemons on breast-cancer shards, the rogue fixture plan
 * (tests/fixtures/plans/rogue.c: logreg, with the node holding the largest
 * shard sending x + s (y - x) instead of its trained y). FedAvg lets the
 * attack through; multi-Krum, the median and norm-bounded FedAvg keep the
 * accuracy. A node's report cannot claim more rows than its dataset has
 * (node/plan_report.c), so the node claiming 18446744073709551000 samples
 * is played by this test itself: a provisioned node's credentials and key,
 * its search and train replies written here, signed as a daemon signs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "harness_scripted.h"

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

/* Writes H.dir/<name>.ini: the rogue plan on the breast-cancer nodes,
 * `rounds` rounds, with extra [experiment] and [model] lines and the
 * [aggregator] lines `aggregator`. */
static void write_experiment(char *exp, size_t cap, const char *name, unsigned rounds, const char *experiment,
			     const char *model, const char *aggregator)
{
	FILE *f;

	snprintf(exp, cap, "%s/%s.ini", H.dir, name);
	f = fopen(exp, "w");
	assert_non_null(f);
	fprintf(f,
		"[experiment]\nname = %s\ntags = breast-cancer\nplan = %s\nrounds = %u\nmin_nodes = 5\n"
		"round_timeout_s = 60\ndiscovery_timeout_s = 5\nseed = 7\noutput_dir = %s-out\n%s\n"
		"[model]\nn_features = 30\n%s\n[training]\nlr = 0.1\nepochs = 2\nbatch_size = 32\ntest_ratio = 0.2\n"
		"[aggregator]\n%s\n%s",
		name, harness_plan("fixtures/rogue"), rounds, exp, experiment, model, aggregator,
		harness_network_section(&H));
	assert_int_equal(fclose(f), 0);
}

/* Runs 6 rounds of the rogue plan with `attack_scale` (the rogue off when
 * `rogue` is false) and the [aggregator] lines `aggregator`; returns the
 * final evaluation's accuracy. */
static double run(const char *name, bool rogue, double attack_scale, const char *aggregator)
{
	char exp[512], model[128];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", "--log-level", "info", exp, NULL };
	const char *line, *acc;
	int rc;

	snprintf(model, sizeof(model), "attack_scale = %g\nrogue_min_rows = %d", attack_scale,
		 rogue ? ROGUE_MIN_ROWS : 0);
	write_experiment(exp, sizeof(exp), name, 6, "", model, aggregator);
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

/* ---- the node that lies about its sample count ---- */

#define LIAR "liar"
#define LIAR_ROWS 50
#define LIAR_CLAIM 18446744073709551000ull

/* Answers `search` with a dataset of LIAR_ROWS rows and `train` with an
 * update (the global parameters it was sent, already in the repository)
 * that claims LIAR_CLAIM training samples. */
static bool liar_answer(void *ctx, const struct fedc_msg *req, struct fedc_msg *reply)
{
	(void)ctx;
	if (req->command == FEDC_CMD_SEARCH) {
		harness_scripted_dataset(reply, "liar-data", LIAR_ROWS);
		return true;
	}
	harness_scripted_train_fields(req, reply);
	snprintf(reply->params_digest, sizeof(reply->params_digest), "%s", req->params_digest);
	reply->n_samples = LIAR_CLAIM;
	reply->n_test = 10;
	return true;
}

/* The researcher refuses the claim for the round, with the reason in its
 * history, and the round goes on with the five honest nodes. */
static void test_claim_above_registered_rows_refused(void **state)
{
	char exp[512], history[600], line[8192], log_line[1024];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	struct harness_scripted_node liar;
	struct harness_proc researcher = { 0 };
	bool refused = false;
	int status, rounds = 0;
	FILE *f;

	(void)state;
	assert_int_equal(harness_add_node(&H, LIAR, NULL, NULL, NULL), 5);
	assert_int_equal(harness_scripted_connect(&H, &liar, LIAR), 0);
	write_experiment(exp, sizeof(exp), "liar", 2, "final_evaluation = false", "", "method = fedavg");
	assert_int_equal(harness_spawn(&H, &researcher, "researcher-liar", argv), 0);
	/* Play the node until the researcher is done. */
	status = harness_scripted_serve(&liar, researcher.pid, 120, liar_answer, NULL);
	if (status == -1)
		(void)harness_stop(&researcher, SIGTERM, 5000); /* out of time: fails below */
	harness_scripted_close(&liar);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { /* what the researcher said */
		f = fopen(researcher.log, "r");
		while (f && fgets(log_line, sizeof(log_line), f))
			fputs(log_line, stderr);
		if (f)
			fclose(f);
		fail_msg("the researcher did not finish cleanly (status %d)", status);
	}
	snprintf(history, sizeof(history), "%s-out/history.jsonl", exp);
	f = fopen(history, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "\"type\":\"round\"") && harness_json_int(line, "answered") == 5)
			rounds++;
		if (!strstr(line, "\"node_id\":\"" LIAR "\""))
			continue;
		if (!strstr(line, "\"status\":\"rejected\"") ||
		    !strstr(line, "it claims 18446744073709551000 training samples, more than the 50 rows of the "
				  "dataset it offered in search"))
			fail_msg("the liar's round record: %s", line);
		refused = true;
	}
	fclose(f);
	assert_true(refused);
	assert_int_equal(rounds, 2); /* each round aggregated the five others */
}

/* ---- attacks through the update ---- */

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
		cmocka_unit_test(test_claim_above_registered_rows_refused), /* last: the liar stays provisioned */
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
