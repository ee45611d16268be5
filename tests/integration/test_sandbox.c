/* The plan sandbox against a real stack: one node with tight limits runs
 * each misbehaving fixture plan (tests/fixtures/plans/). Each must cost one
 * `error` reply that says what happened, and the node must keep serving: an
 * identity-plan round succeeds after every one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fedc/plan.h"
#include "harness.h"

/* Small enough to keep the slow cases short; timeout > CPU limit, so that a
 * spinning plan meets the CPU limit first and a sleeping one the deadline. */
#define TRAIN_TIMEOUT_S 8
#define CPU_SECONDS 2
#define MEMORY_MB 256

static struct harness H;
static char output[1 << 16];

static const char *const fixtures[] = { "identity", "crash", "loop", "hog", "net", "forker",
					"writer", "exiter", "killer", "ctor", "threads", "liar", "future_node",
					"picky", "snoop" };

static int setup(void **state)
{
	return harness_start_sandbox_node(&H, "sandbox", TRAIN_TIMEOUT_S, CPU_SECONDS, MEMORY_MB, fixtures,
					  sizeof(fixtures) / sizeof(fixtures[0]));
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

/* One round of fixture `name` on the node; the researcher's exit code. */
static int run_fixture(const char *name, const char *model_section)
{
	char exp[512], plan[64];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };

	snprintf(plan, sizeof(plan), "fixtures/%s", name);
	snprintf(exp, sizeof(exp), "%s/%s.ini", H.dir, name);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan(plan), "sandbox", 1, 1, 60,
						  model_section ? model_section : "", NULL),
			 0);
	return harness_run(&H, argv, 120, output, sizeof(output));
}

/* The daemon is alive and still trains: an identity round succeeds. */
static void assert_node_serves(void)
{
	assert_int_equal(waitpid(H.nodes[0].proc.pid, NULL, WNOHANG), 0);
	if (run_fixture("identity", NULL) != 0)
		fail_msg("the node no longer trains:\n%s", output);
}

/* A round of `name` fails with an error that contains `needle`. */
static void expect_refused(const char *name, const char *model_section, const char *needle)
{
	int rc = run_fixture(name, model_section);

	if (rc != 1 || !strstr(output, needle))
		fail_msg("plan %s: exit %d, expected an error containing \"%s\":\n%s", name, rc, needle, output);
	assert_node_serves();
}

static void test_plan_with_threads_runs(void **state)
{
	if (run_fixture("threads", NULL) != 0)
		fail_msg("a plan with threads failed:\n%s", output);
}

static void test_plan_segfault(void **state)
{
#ifdef __SANITIZE_ADDRESS__
	/* ASan's own SIGSEGV handler reports the crash and exits 1 */
	expect_refused("crash", NULL, "the plan exited with code 1");
#else
	expect_refused("crash", NULL, "the plan crashed: segmentation fault");
#endif
}

static void test_plan_spins_forever(void **state)
{
	expect_refused("loop", NULL, "the plan used up its CPU time limit of 2 s");
}

static void test_plan_sleeps_forever(void **state)
{
	expect_refused("loop", "sleep = 1", "the plan did not finish within 8 s and was killed");
}

static void test_plan_allocates_without_end(void **state)
{
	expect_refused("hog", NULL, "the plan exceeded its memory limit of 256 MB");
}

static void test_plan_opens_socket(void **state)
{
	expect_refused("net", NULL, "sandbox: the plan called socket() (network access), which training plans may not do");
}

static void test_plan_constructor_opens_socket(void **state)
{
	expect_refused("ctor", NULL, "sandbox: the plan called socket() (network access)");
}

static void test_plan_forks(void **state)
{
	expect_refused("forker", NULL, "sandbox: the plan called clone() (creating a process, as fork() and system() do)");
}

static void test_plan_writes_file(void **state)
{
	char model[64], probe[128];
	int tag = (int)getpid();

	snprintf(probe, sizeof(probe), "/tmp/fedc-sandbox-probe-%d", tag);
	(void)unlink(probe);
	snprintf(model, sizeof(model), "tag = %d", tag);
	expect_refused("writer", model, "sandbox: the plan called openat() (opening a file for writing)");
	assert_int_not_equal(access(probe, F_OK), 0);
}

static void test_plan_calls_exit(void **state)
{
	expect_refused("exiter", NULL, "the plan exited with code 3 before finishing its round");
}

static void test_plan_kills_node(void **state)
{
	expect_refused("killer", NULL, "sandbox: the plan called kill() (acting on another process)");
}

/* The plan writes lines of its own into the report: the node's parser
 * (node/plan_report.c) refuses the round, names the broken rule, and the
 * node trains on. */
static void test_plan_lies_in_report(void **state)
{
	expect_refused("liar", NULL, "the plan broke the report protocol (a second `samples` line)");
	expect_refused("liar", "lie = 2", "the plan broke the report protocol (`samples` counts must be whole numbers");
	expect_refused("liar", "lie = 3", "the plan broke the report protocol (`local loss` is not a finite number)");
	expect_refused("liar", "lie = 4", "the plan broke the report protocol (`samples` counts must be whole numbers "
					  "from 0 to the dataset's 60 rows)");
}

/* A plan built for a newer ABI than this tree's: the researcher refuses it
 * before any round, and a node (when the researcher is newer than it)
 * refuses it with the versions named, and trains on. */
static void test_plan_of_newer_abi(void **state)
{
	char node_says[128], researcher_says[128];

	snprintf(node_says, sizeof(node_says), "plan built for ABI %u, this node supports up to %u",
		 FEDC_PLAN_ABI_VERSION + 1, FEDC_PLAN_ABI_VERSION);
	snprintf(researcher_says, sizeof(researcher_says), "plan built for ABI %u, this researcher supports up to %u",
		 FEDC_PLAN_ABI_VERSION + 1, FEDC_PLAN_ABI_VERSION);
	if (run_fixture("future_node", NULL) != 1 || !strstr(output, node_says) || strstr(output, "retrying") ||
	    !strstr(output, "not retried"))
		fail_msg("the node's ABI refusal was not shown, or retried:\n%s", output);
	assert_node_serves();
	if (run_fixture("future", NULL) != 1 || !strstr(output, researcher_says))
		fail_msg("the researcher ran a plan of a newer ABI:\n%s", output);
}

/* A plan that says why it fails (fedc_plan_error()): the researcher shows
 * the reason, naming a refused [model] key; a prepare() refusal reaches it
 * through the node's error reply and is not retried; a failed train() is. */
static void test_plan_errors_name_their_cause(void **state)
{
	if (run_fixture("picky", "hiden = 3") != 1 ||
	    !strstr(output, "the plan's create() refused the [model] arguments") ||
	    !strstr(output, "unknown [model] key \"hiden\""))
		fail_msg("a bad [model] key was not named:\n%s", output);
	if (run_fixture("picky", "refuse_prepare = 1") != 1 ||
	    !strstr(output, "invalid-argument: the plan's prepare() refused this round: prepare: this plan needs 12 "
			    "features, the node's data has") ||
	    strstr(output, "retrying") || !strstr(output, "not retried: 1 node(s) refused the round"))
		fail_msg("a prepare() refusal was not shown, or retried:\n%s", output);
	assert_node_serves();
	if (run_fixture("picky", "fail_train = 1") != 1 ||
	    !strstr(output, "plan-failed: the plan's train() failed: train: the loss diverged at step 3") ||
	    !strstr(output, "retrying (1 of"))
		fail_msg("a failed train() was not shown, or not retried:\n%s", output);
	assert_node_serves();
}

/* The node's bundle (signing key, broker password, repository token, TLS
 * key) sits a few folders from the dataset; a plan that finds it could send
 * it out in its parameters. It finds nothing: its mount namespace holds only
 * the system, its plan and its data. */
static void test_plan_reads_node_secrets(void **state)
{
	char key[600];

	snprintf(key, sizeof(key), "%s/nodes/site/signing.key", H.fed_dir);
	assert_int_equal(access(key, R_OK), 0); /* it is there to be found */
	expect_refused("snoop", NULL, "train");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_with_threads_runs),
		cmocka_unit_test(test_plan_segfault),
		cmocka_unit_test(test_plan_spins_forever),
		cmocka_unit_test(test_plan_sleeps_forever),
		cmocka_unit_test(test_plan_allocates_without_end),
		cmocka_unit_test(test_plan_opens_socket),
		cmocka_unit_test(test_plan_constructor_opens_socket),
		cmocka_unit_test(test_plan_forks),
		cmocka_unit_test(test_plan_writes_file),
		cmocka_unit_test(test_plan_calls_exit),
		cmocka_unit_test(test_plan_kills_node),
		cmocka_unit_test(test_plan_lies_in_report),
		cmocka_unit_test(test_plan_of_newer_abi),
		cmocka_unit_test(test_plan_errors_name_their_cause),
		cmocka_unit_test(test_plan_reads_node_secrets),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
