/* End-to-end experiments on a real stack: Mosquitto, fedc-repository and three
 * fedc-node daemons holding uneven shares of the breast-cancer data. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;
static const size_t shares[3][2] = { { 0, 100 }, { 100, 180 }, { 280, 289 } };
static char output[1 << 16];

static int approve(size_t node, const char *plan)
{
	const char *argv[] = { harness_bin("fedc-node"), "--config", H.nodes[node].config, "plan", "approve",
			       plan, NULL };

	return harness_run(&H, argv, 30, NULL, 0);
}

static int setup(void **state)
{
	char csv[512], id[32];

	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(csv, sizeof(csv), "%s/hospital-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "hospital-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, shares[i][0],
				      shares[i][1]))
			return -1;
		if (harness_add_node(&H, id, csv, "breast-cancer,tabular", harness_plan("logreg")) != (int)i)
			return -1;
		if (approve(i, harness_plan("fixtures/identity")) != 0 || harness_start_node(&H, i) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

static int run_researcher(const char *exp)
{
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };

	return harness_run(&H, argv, 300, output, sizeof(output));
}

static void test_logreg_three_hospitals(void **state)
{
	char exp[512], history[600];
	int rc;

	snprintf(exp, sizeof(exp), "%s/logreg.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "breast-cancer", 10, 3, 60,
						  "n_features = 30", NULL),
			 0);
	rc = run_researcher(exp);
	if (rc != 0)
		fprintf(stderr, "%s\n", output);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(output, "round   10/10"));
	assert_non_null(strstr(output, "nodes 3/3"));
	/* The nodes' streamed losses show as live lines (stdout is not a terminal). */
	assert_non_null(strstr(output, "  live  round 1  node hospital-0  loss "));
	assert_true(harness_final_accuracy(output) >= 0.93);
	snprintf(history, sizeof(history), "%s-out/history.jsonl", exp);
	assert_true(harness_file_contains(history, "\"type\":\"round\""));
	assert_true(harness_file_contains(history, "hospital-2"));
	snprintf(history, sizeof(history), "%s-out/global.params", exp);
	assert_int_equal(access(history, R_OK), 0);
}

static void test_search_no_match_fails_fast(void **state)
{
	char exp[512];
	time_t t0 = time(NULL);

	snprintf(exp, sizeof(exp), "%s/nomatch.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "no-such-tag", 1, 1, 60,
						  "n_features = 30", NULL),
			 0);
	assert_int_equal(run_researcher(exp), 1);
	assert_non_null(strstr(output, "found 0 node(s) with a dataset tagged no-such-tag (3 answered the search)"));
	/* what to type to see what exists */
	assert_non_null(strstr(output, "fedc-researcher search --tags no-such-tag --network "));
	assert_non_null(strstr(output, "fedc-researcher nodes --network "));
	/* every online node answered the search (with zero datasets): no waiting out the timeout */
	assert_true(time(NULL) - t0 < 5);
}

static void test_train_unapproved_plan(void **state)
{
	char exp[512];

	snprintf(exp, sizeof(exp), "%s/unapproved.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/crash"), "breast-cancer", 1, 1, 60,
						  "", NULL),
			 0);
	assert_int_equal(run_researcher(exp), 1);
	assert_non_null(strstr(output, "plan-not-approved"));
	assert_non_null(strstr(output, "fedc-node plan approve"));
}

static void test_train_crashing_plan(void **state)
{
	char exp[512];

	for (size_t i = 0; i < 3; i++)
		assert_int_equal(approve(i, harness_plan("fixtures/crash")), 0);
	snprintf(exp, sizeof(exp), "%s/crash.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/crash"), "breast-cancer", 1, 1, 60,
						  "", NULL),
			 0);
	assert_int_equal(run_researcher(exp), 1);
	/* the failed round says so, and why, rather than "train loss nan" */
	if (!strstr(output, "round    1/1     failed: 0 of 3 node(s) sent a usable update, min_nodes is 1  ") ||
	    !strstr(output, " s\n  node hospital-0 error: plan-failed: "))
		fail_msg("%s", output);
	assert_null(strstr(output, "nan"));
	/* and, as the run fails, each reason once with its nodes, retries or not */
	if (!strstr(output, "nodes hospital-0, hospital-1, hospital-2 failed: the plan "))
		fail_msg("%s", output);
#ifdef __SANITIZE_ADDRESS__
	/* ASan's own SIGSEGV handler reports the crash and exits 1 */
	assert_non_null(strstr(output, "the plan exited with code"));
#else
	assert_non_null(strstr(output, "segmentation fault"));
#endif
	/* the daemons survived: a real experiment still runs */
	snprintf(exp, sizeof(exp), "%s/after-crash.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "breast-cancer", 2, 3, 60,
						  "n_features = 30", NULL),
			 0);
	assert_int_equal(run_researcher(exp), 0);
}

/* A node killed mid-round: its last will marks it offline and the round
 * finishes with the two others, long before the round deadline. */
static void test_node_killed_mid_round(void **state)
{
	char exp[512];
	struct harness_proc researcher = { 0 };
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	time_t t0;
	int status;

	snprintf(exp, sizeof(exp), "%s/killed.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/identity"), "breast-cancer", 1, 2,
						  60, "n_params = 1000\nsleep_ms = 3000", NULL),
			 0);
	t0 = time(NULL);
	assert_int_equal(harness_spawn(&H, &researcher, "researcher-killed", argv), 0);
	sleep(2);
	kill(H.nodes[2].proc.pid, SIGKILL);
	waitpid(H.nodes[2].proc.pid, &status, 0);
	H.nodes[2].proc.pid = 0;
	status = harness_stop(&researcher, 0, 30000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(time(NULL) - t0 < 20);
	assert_true(harness_file_contains(researcher.log, "nodes 2/3"));
	assert_true(harness_file_contains(researcher.log, "offline"));
}

/* A run into the output directory of a finished run of another experiment
 * is refused (the two histories would mix) unless --force; a run of the same
 * experiment replaces its previous output, saying so. `resume` of a finished
 * run says it is complete. */
static void test_output_dir_of_another_run(void **state)
{
	char exp[512], other[512], out[600], bp[700];
	const char *run_other[] = { harness_bin("fedc-researcher"), "run", other, "--output", out, NULL, NULL };
	const char *resume[] = { harness_bin("fedc-researcher"), "resume", out, NULL };

	/* (hospital-2 was killed by the test before: two nodes remain) */
	snprintf(exp, sizeof(exp), "%s/twice.ini", H.dir);
	snprintf(other, sizeof(other), "%s/other.ini", H.dir);
	snprintf(out, sizeof(out), "%s-out", exp);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/identity"), "breast-cancer", 2, 2,
						  60, "n_params = 10", NULL),
			 0);
	assert_int_equal(harness_write_experiment(&H, other, harness_plan("fixtures/identity"), "breast-cancer", 1, 2,
						  60, "n_params = 10", NULL),
			 0);
	if (run_researcher(exp) != 0)
		fail_msg("%s", output);
	/* resume of a finished run: nothing to do, and it says so */
	assert_int_equal(harness_run(&H, resume, 60, output, sizeof(output)), 0);
	if (!strstr(output, "is complete: all 2 round(s) ran"))
		fail_msg("%s", output);
	/* another experiment into the same directory: refused, nothing touched */
	assert_int_equal(harness_run(&H, run_other, 120, output, sizeof(output)), 1);
	if (!strstr(output, "holds the output of a run of another experiment (its breakpoints reach round 2)") ||
	    !strstr(output, "--force") || !strstr(output, "fedc-researcher resume "))
		fail_msg("%s", output);
	snprintf(bp, sizeof(bp), "%s/breakpoints/round-000002", out);
	assert_int_equal(access(bp, F_OK), 0);
	/* --force: the old breakpoints go, the new run's are the only ones */
	run_other[5] = "--force";
	assert_int_equal(harness_run(&H, run_other, 120, output, sizeof(output)), 0);
	assert_int_equal(access(bp, F_OK), -1);
	assert_int_equal(harness_run(&H, resume, 60, output, sizeof(output)), 0);
	assert_non_null(strstr(output, "is complete: all 1 round(s) ran"));
	/* the same experiment again: its previous output is replaced, and it says so */
	run_other[5] = NULL;
	assert_int_equal(harness_run(&H, run_other, 120, output, sizeof(output)), 0);
	assert_non_null(strstr(output, "replacing the output of the previous run (its breakpoints reached round 1)"));
}

/* `done:` names the output directory as an absolute, clean path, however
 * --output spelled it. */
static void test_done_paths_are_clean(void **state)
{
	char exp[512], given[700], want[2 * PATH_MAX + 128], real[PATH_MAX];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, "--output", given, NULL };
	const char *done;

	snprintf(exp, sizeof(exp), "%s/clean.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/identity"), "breast-cancer", 1, 1,
						  60, "n_params = 10", NULL),
			 0);
	snprintf(given, sizeof(given), "%s/./clean//out/", H.dir);
	if (harness_run(&H, argv, 120, output, sizeof(output)) != 0)
		fail_msg("%s", output);
	assert_non_null(realpath(H.dir, real));
	snprintf(want, sizeof(want), "done: final parameters in %s/clean/out/global.params, history in "
		 "%s/clean/out/history.jsonl\n", real, real);
	done = strstr(output, "done: ");
	if (!done || strcmp(done, want) != 0)
		fail_msg("expected \"%s\" in:\n%s", want, output);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logreg_three_hospitals),
		cmocka_unit_test(test_search_no_match_fails_fast),
		cmocka_unit_test(test_train_unapproved_plan),
		cmocka_unit_test(test_train_crashing_plan),
		cmocka_unit_test(test_node_killed_mid_round),
		cmocka_unit_test(test_output_dir_of_another_run),
		cmocka_unit_test(test_done_paths_are_clean),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
