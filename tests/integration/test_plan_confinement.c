/* Plans confined by kernel mechanisms (docs/security.md, "How a plan runs"
 * and "The limits"): one node with tight limits runs a hostile plan for each
 * way out that a deny list and a resident-memory watch left open. Each
 * attempt fails, the round costs one `error`, and the node keeps serving:
 * an identity round succeeds after every one. The last test plants what a
 * killed daemon would leave (a plan process in its cgroup) and checks that
 * the node, starting, ends it. Real Mosquitto, repository and node daemon. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TRAIN_TIMEOUT_S 10
#define CPU_SECONDS 3
#define MEMORY_MB 256

static struct harness H;
static char output[1 << 16];

static const char *const fixtures[] = { "identity", "memfd", "shm",      "threadbomb",
					"orphan",   "chmod", "truncate", "newcalls" };

static int setup(void **state)
{
	return harness_start_sandbox_node(&H, "walls", TRAIN_TIMEOUT_S, CPU_SECONDS, MEMORY_MB, fixtures,
					  sizeof(fixtures) / sizeof(fixtures[0]));
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

static int run_fixture(const char *name)
{
	char exp[512], plan[64];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };

	snprintf(plan, sizeof(plan), "fixtures/%s", name);
	snprintf(exp, sizeof(exp), "%s/%s.ini", H.dir, name);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan(plan), "walls", 1, 1, 60, "",
						  "round_retries = 0"),
			 0);
	return harness_run(&H, argv, 120, output, sizeof(output));
}

static void assert_node_serves(void)
{
	assert_int_equal(waitpid(H.nodes[0].proc.pid, NULL, WNOHANG), 0);
	if (run_fixture("identity") != 0)
		fail_msg("the node no longer trains:\n%s", output);
}

/* The round of `name` fails, saying `needle`; the node serves on. */
static void expect_refused(const char *name, const char *needle)
{
	int rc = run_fixture(name);

	if (rc != 1 || !strstr(output, needle))
		fail_msg("plan %s: exit %d, expected an error containing \"%s\":\n%s", name, rc, needle, output);
	assert_node_serves();
}

static void test_memfd_outside_the_memory_limit(void **state)
{
	expect_refused("memfd", "memfd_create()");
}

/* No segment outlives the plan process (the host's IPC namespace holds
 * none of its keys). */
static void test_sysv_shared_memory(void **state)
{
	char text[1 << 14];
	FILE *f;
	size_t n;

	expect_refused("shm", "shmget()");
	f = fopen("/proc/sysvipc/shm", "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	assert_null(strstr(text, "4275851264")); /* 0xfedc5000 */
}

/* The pids cgroup stops it at 256 tasks: train() fails (or, under the
 * sanitizers, whose thread starts are slow, the CPU limit comes first). */
static void test_thread_bomb(void **state)
{
	expect_refused("threadbomb", "the plan");
}

static void test_pdeathsig_cleared(void **state)
{
	expect_refused("orphan", "prctl()");
}

static void test_fchmodat2_on_the_signing_key(void **state)
{
	char key[600];
	struct stat sb;

	snprintf(key, sizeof(key), "%s/nodes/site/signing.key", H.fed_dir);
	expect_refused("chmod", "fchmodat2()");
	assert_int_equal(stat(key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_ftruncate_of_the_log(void **state)
{
	expect_refused("truncate", "ftruncate()");
	/* what the node logged at its start is still there */
	assert_true(harness_file_contains(H.nodes[0].proc.log, "sandbox: "));
}

static void test_new_system_calls(void **state)
{
#ifdef __SANITIZE_ADDRESS__
	/* Sanitizer builds allow what is not trapped (seccomp_policy.c): their
	 * runtimes make calls a release build never does. The release suite
	 * (CI's first stage) checks the allow list. */
	skip();
#else
	expect_refused("newcalls", "train");
#endif
}

/* "<node id>.<FNV-1a of the data dir, 8 hex>", as node/plan_cgroup.c names
 * this node's plan cgroups. */
static void node_tag(const char *data_dir, char *out, size_t cap)
{
	uint32_t h = 2166136261u;

	for (const char *c = data_dir; *c; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	snprintf(out, cap, "site.%08" PRIx32, h);
}

/* The daemon's memory cgroup folder (v1, as on this test machine) or its v2
 * folder; "" when neither is writable (the node then has no plan cgroups). */
static void cgroup_base(char *out, size_t cap)
{
	char line[PATH_MAX + 64];
	FILE *f = fopen("/proc/self/cgroup", "r");

	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		char *path = strrchr(line, ':');

		if (!strstr(line, ":memory:") || !path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		snprintf(out, cap, "/sys/fs/cgroup/memory%s", strcmp(path + 1, "/") == 0 ? "" : path + 1);
	}
	if (f)
		fclose(f);
}

/* A plan process a killed daemon left behind is killed when the node starts
 * again. */
static void test_leftover_plan_process_reaped(void **state)
{
	char base[PATH_MAX], tag[128], dir[PATH_MAX + 200], procs[PATH_MAX + 220], pidtext[32], data_dir[600];
	pid_t orphan;
	FILE *f;
	int status;

	cgroup_base(base, sizeof(base));
	if (!base[0] || access(base, W_OK) != 0)
		fail_msg("no writable memory cgroup here: this test needs the one the node uses");
	/* node.ini says data_dir = data, relative to its own folder */
	snprintf(data_dir, sizeof(data_dir), "%s/nodes/site/data", H.fed_dir);
	node_tag(data_dir, tag, sizeof(tag));
	snprintf(dir, sizeof(dir), "%s/fedc-plan.%s.999999", base, tag);
	assert_true(mkdir(dir, 0755) == 0 || errno == EEXIST);
	orphan = fork();
	if (orphan == 0) {
		for (;;)
			pause();
	}
	assert_true(orphan > 0);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	f = fopen(procs, "w");
	assert_non_null(f);
	snprintf(pidtext, sizeof(pidtext), "%d", (int)orphan);
	assert_true(fputs(pidtext, f) >= 0);
	assert_int_equal(fclose(f), 0);

	/* the node dies the hard way and starts again */
	assert_int_not_equal(harness_stop(&H.nodes[0].proc, SIGKILL, 5000), -1);
	assert_int_equal(harness_start_node(&H, 0), 0);
	assert_int_equal(waitpid(orphan, &status, 0), orphan);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_not_equal(access(dir, F_OK), 0);
	assert_node_serves();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memfd_outside_the_memory_limit),
		cmocka_unit_test(test_sysv_shared_memory),
		cmocka_unit_test(test_thread_bomb),
		cmocka_unit_test(test_pdeathsig_cleared),
		cmocka_unit_test(test_fchmodat2_on_the_signing_key),
		cmocka_unit_test(test_ftruncate_of_the_log),
		cmocka_unit_test(test_new_system_calls),
		cmocka_unit_test(test_leftover_plan_process_reaped),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
