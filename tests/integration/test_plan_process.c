/* The plan process a node keeps between the rounds of a job, against a real
 * stack: one node trains tests/fixtures/plans/process.c, which reports its
 * process id and how many rounds that process has trained. The same process
 * must serve every round of a job, stopped (SIGSTOP) in between; another job
 * gets another one; a crash costs one round and the next starts afresh; and
 * a process idle for [limits] plan_process_idle_s is ended. The process keeps
 * the memory a round freed for the next, rather than faulting in fresh pages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define IDLE_S 2
#define IDLE_TEXT "2"
#define MAX_ROUNDS 16

static struct harness H;
static char output[1 << 16];

/* One node line of the history: the round and what the plan reported. */
struct node_round {
	int round;
	bool answered;
	int process, calls;
	int scratch_resident_pct; /* with the model argument scratch_mb, else 0 */
};

static int setup(void **state)
{
	char csv[512];

	(void)state;
	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	snprintf(csv, sizeof(csv), "%s/site.csv", H.dir);
	if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, 0, 60) ||
	    harness_add_node(&H, "site", csv, "process", harness_plan("fixtures/process")) != 0 ||
	    harness_node_limits(&H, 0, "train_timeout_s = 60\nplan_process_idle_s = " IDLE_TEXT "\n") != 0)
		return -1;
	return harness_start_node(&H, 0);
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

/* Runs a job of `rounds` rounds; fills the node lines of its history. */
static int run_job(const char *name, unsigned rounds, const char *model, struct node_round *lines, size_t *n)
{
	char exp[512], history[600], line[8192];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	FILE *f;
	int rc;

	snprintf(exp, sizeof(exp), "%s/%s.ini", H.dir, name);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/process"), "process", rounds, 1, 60,
						  model, "round_retries = 3\nfinal_evaluation = false\n"),
			 0);
	rc = harness_run(&H, argv, 120, output, sizeof(output));
	snprintf(history, sizeof(history), "%s-out/history.jsonl", exp);
	f = fopen(history, "r");
	assert_non_null(f);
	*n = 0;
	while (fgets(line, sizeof(line), f) && *n < MAX_ROUNDS) {
		if (!strstr(line, "\"node_id\""))
			continue;
		lines[*n] = (struct node_round){ harness_json_int(line, "round"), strstr(line, "\"answered\"") != NULL,
						 harness_json_int(line, "process"), harness_json_int(line, "calls"),
						 harness_json_int(line, "scratch_resident_pct") };
		(*n)++;
	}
	fclose(f);
	return rc;
}

/* The first character of the state field of /proc/PID/stat, or 0. */
static char process_state(int pid)
{
	char path[64], text[512], *close_paren;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	close_paren = strrchr(text, ')');
	return close_paren && close_paren[1] == ' ' ? close_paren[2] : 0;
}

/* How many children the node daemon has (any of its threads may fork), and
 * the pid of the first in *first (may be NULL). */
static int node_children_of(int *first)
{
	pid_t kid = 0;
	size_t n = harness_children_of(H.nodes[0].proc.pid, &kid, 1);

	if (first && n)
		*first = (int)kid;
	return (int)n;
}

static int node_children(void)
{
	return node_children_of(NULL);
}

/* The plan process the node keeps (its only child), seen from outside: the
 * plan itself sees only its own PID namespace. */
static int plan_process_pid(void)
{
	int pid = 0;

	return node_children_of(&pid) == 1 ? pid : 0;
}

static void test_one_process_serves_a_job(void **state)
{
	struct node_round lines[MAX_ROUNDS];
	size_t n = 0;

	(void)state;
	if (run_job("kept", 4, "", lines, &n) != 0)
		fail_msg("the job failed:\n%s", output);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		assert_true(lines[i].answered);
		assert_int_equal(lines[i].round, (int)i + 1);
		assert_int_equal(lines[i].process, lines[0].process);
		assert_int_equal(lines[i].calls, (int)i + 1);
	}
	/* Between rounds it waits stopped: it can do nothing until the next. */
	assert_int_equal(process_state(plan_process_pid()), 'T');
	assert_int_equal(node_children(), 1);
}

static void test_another_job_gets_another_process(void **state)
{
	struct node_round a[MAX_ROUNDS], b[MAX_ROUNDS];
	size_t na = 0, nb = 0;

	int first_pid;

	(void)state;
	if (run_job("first", 2, "", a, &na) != 0)
		fail_msg("a job failed:\n%s", output);
	first_pid = plan_process_pid();
	assert_int_not_equal(first_pid, 0);
	if (run_job("second", 2, "", b, &nb) != 0)
		fail_msg("a job failed:\n%s", output);
	assert_int_equal(na, 2);
	assert_int_equal(nb, 2);
	assert_int_not_equal(a[0].process, b[0].process);
	assert_int_equal(b[0].calls, 1);
	/* The first job's process is gone, not left stopped beside the new one. */
	assert_int_equal(process_state(first_pid), 0);
	assert_int_equal(node_children(), 1);
}

/* Round 2 of each process crashes: every crash costs one attempt, and the
 * retry runs in a fresh process, so the job still completes. */
static void test_crash_ends_the_process(void **state)
{
	struct node_round lines[MAX_ROUNDS];
	size_t n = 0, failed = 0;
	int last_process = 0;

	(void)state;
	if (run_job("crashing", 3, "crash_on_call = 2", lines, &n) != 0)
		fail_msg("the job did not recover from the crashes:\n%s", output);
	for (size_t i = 0; i < n; i++) {
		if (!lines[i].answered) {
			failed++;
			continue;
		}
		assert_int_not_equal(lines[i].process, 0);
		if (last_process && lines[i].calls == 1)
			assert_int_not_equal(lines[i].process, last_process);
		last_process = lines[i].process;
	}
	assert_int_equal(failed, 2); /* rounds 2 and 3 each crashed once */
	assert_int_equal(n, 5);
	assert_non_null(strstr(output, "the plan"));
}

static void test_idle_process_ends(void **state)
{
	struct node_round lines[MAX_ROUNDS];
	size_t n = 0;

	(void)state;
	int pid;

	if (run_job("idle", 1, "", lines, &n) != 0)
		fail_msg("the job failed:\n%s", output);
	pid = plan_process_pid();
	assert_int_equal(process_state(pid), 'T');
	for (int i = 0; i < (IDLE_S + 3) * 10 && process_state(pid) != 0; i++)
		usleep(100 * 1000);
	assert_int_equal(process_state(pid), 0);
	assert_int_equal(node_children(), 0);
}

/* A round's 64 MiB, freed at its end, are still the process's in the next
 * round: resident before the plan writes them. glibc would have served them
 * with mmap and unmapped them at free, so every round faulted fresh pages in
 * (at P=1e8 the largest single cost of a round: docs/benchmarks.md). */
static void test_memory_kept_between_rounds(void **state)
{
	struct node_round lines[MAX_ROUNDS];
	size_t n = 0;

	(void)state;
	if (run_job("heap", 3, "scratch_mb = 64", lines, &n) != 0)
		fail_msg("the job failed:\n%s", output);
	assert_int_equal(n, 3);
	assert_int_equal(lines[2].process, lines[0].process);
	if (lines[0].scratch_resident_pct < 0 || lines[0].scratch_resident_pct > 1)
		fail_msg("round 1 found %d%% of fresh memory resident", lines[0].scratch_resident_pct);
#ifdef __SANITIZE_ADDRESS__
	/* ASan's allocator serves the plan process, not glibc's: it maps large
	 * blocks itself and ignores mallopt, so only the rounds' running is checked. */
	for (size_t i = 1; i < n; i++)
		assert_true(lines[i].scratch_resident_pct >= 0);
#else
	for (size_t i = 1; i < n; i++) {
		if (lines[i].scratch_resident_pct < 99)
			fail_msg("round %zu found %d%% of the memory round %zu freed", i + 1,
				 lines[i].scratch_resident_pct, i);
	}
#endif
}

/* What `fedc-node __run-plan ARGS` reports on fd 4 (here its stdout). */
static void run_runner(const char *args, char *out, size_t cap)
{
	char cmd[1024];
	size_t n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s __run-plan --plan=%s/no-such-plan.so --data=%s/no-such-data.csv %s 4>&1 3</dev/null",
		 harness_bin("fedc-node"), H.dir, H.dir, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (n + 1 < cap && fgets(out + n, (int)(cap - n), p))
		n += strlen(out + n);
	out[n] = '\0';
	(void)pclose(p);
}

/* The plan process reads its numbers with fedc_parse_int: one that is not a
 * whole number in its field's range is refused, never cut or wrapped (atoi
 * took "1x" as 1, and 2^32 + 1 epochs became 1). Seeds take all 64 bits,
 * written as signed numbers. */
static void test_runner_refuses_bad_numbers(void **state)
{
	static const char *const bad[] = { "--label-column=1x", "--label-column=-2", "--n-classes=-1",
					   "--epochs=4294967297", "--batch-size=1e3",
					   "--n-samples=9223372036854775808", "--seed=18446744073709551615" };
	char out[2048];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_runner(bad[i], out, sizeof(out));
		if (!strstr(out, "error bad runner argument for option"))
			fail_msg("%s was not refused:\n%s", bad[i], out);
	}
	run_runner("--label-column=-1 --epochs=4294967295 --seed=-1 --split-seed=9223372036854775807", out,
		   sizeof(out));
	if (!strstr(out, "error cannot load the dataset"))
		fail_msg("good numbers were refused:\n%s", out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_process_serves_a_job),
		cmocka_unit_test(test_another_job_gets_another_process),
		cmocka_unit_test(test_crash_ends_the_process),
		cmocka_unit_test(test_idle_process_ends),
		cmocka_unit_test(test_memory_kept_between_rounds),
		cmocka_unit_test(test_runner_refuses_bad_numbers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
