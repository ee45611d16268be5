/* Fault injection: a 20-round experiment on 5 nodes while the broker, the
 * repository and two nodes are killed (SIGKILL) and restarted at random
 * moments. The experiment must complete; every round's history must account
 * for every selected node (answered, or failed with a reason); and no
 * process may crash: the researcher exits 0, and every process still
 * running at the end stops cleanly on SIGTERM.
 *
 * The moments come from a seeded generator: FEDC_FAULT_SEED=N reproduces a
 * run (the seed used is printed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define N_NODES 5
#define ROUNDS 20

static struct harness H;

enum fault { FAULT_BROKER, FAULT_REPOSITORY, FAULT_NODE_A, FAULT_NODE_B, N_FAULTS };

struct event {
	enum fault what;
	int at_ms;       /* after the researcher starts */
	int down_ms;     /* how long it stays dead */
	size_t node;     /* for node faults */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* xorshift64*: small, seeded, the same on every machine */
static uint64_t rng_state;

static uint64_t next_random(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static int uniform(int lo, int hi)
{
	return lo + (int)(next_random() % (uint64_t)(hi - lo + 1));
}

static int setup(void **state)
{
	char csv[512], id[32];

	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < N_NODES; i++) {
		snprintf(csv, sizeof(csv), "%s/site-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "site-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, i * 100, 100) ||
		    harness_add_node(&H, id, csv, "bc", harness_plan("fixtures/identity")) != (int)i ||
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

/* Four faults, each at a random moment of the run's first ~8 s (about the
 * length of an undisturbed run), each down for 0.3-2 s; two distinct nodes. */
static void plan_events(struct event *ev)
{
	size_t a = (size_t)uniform(0, N_NODES - 1), b = (size_t)uniform(0, N_NODES - 2);

	if (b >= a)
		b++;
	for (int i = 0; i < N_FAULTS; i++) {
		ev[i].what = (enum fault)i;
		ev[i].at_ms = uniform(500, 8000);
		ev[i].down_ms = uniform(300, 2000);
		ev[i].node = i == FAULT_NODE_A ? a : b;
	}
}

static const char *fault_name(const struct event *e)
{
	static char name[80];

	switch (e->what) {
	case FAULT_BROKER:
		return "broker";
	case FAULT_REPOSITORY:
		return "repository";
	default:
		snprintf(name, sizeof(name), "node %s", H.nodes[e->node].id);
		return name;
	}
}

static void kill_it(const struct event *e)
{
	struct harness_proc *p = e->what == FAULT_BROKER ? &H.broker
				 : e->what == FAULT_REPOSITORY ? &H.repo
							       : &H.nodes[e->node].proc;

	harness_stop(p, SIGKILL, 5000);
}

static void restart_it(const struct event *e)
{
	int rc = e->what == FAULT_BROKER ? harness_start_broker(&H)
		 : e->what == FAULT_REPOSITORY ? harness_start_repository(&H)
					       : harness_spawn_node(&H, e->node); /* it waits for the broker itself */

	if (rc != 0)
		fail_msg("could not restart the %s", fault_name(e));
}

/* Without reaping it: its exit status is read at the end. */
static bool researcher_ended(pid_t pid)
{
	siginfo_t info = { 0 };

	return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

/* Runs the schedule while the researcher runs: each fault's kill, then its
 * restart, in time order (a kill and a restart are two steps). */
static void run_schedule(const struct event *ev, int64_t t0, pid_t researcher)
{
	bool killed[N_FAULTS] = { false }, restarted[N_FAULTS] = { false };

	for (;;) {
		int next = -1;
		int64_t next_at = INT64_MAX;

		for (int i = 0; i < N_FAULTS; i++) {
			int64_t at = restarted[i] ? INT64_MAX : t0 + ev[i].at_ms + (killed[i] ? ev[i].down_ms : 0);

			if (at < next_at) {
				next_at = at;
				next = i;
			}
		}
		if (next < 0)
			return;
		while (now_ms() < next_at)
			usleep(10000);
		if (!killed[next] && researcher_ended(researcher))
			fprintf(stderr, "note: the researcher ended before the %s fault\n", fault_name(&ev[next]));
		if (!killed[next]) {
			fprintf(stderr, "t=%5.1f s  kill %s\n", (double)(now_ms() - t0) / 1000, fault_name(&ev[next]));
			kill_it(&ev[next]);
			killed[next] = true;
		} else {
			fprintf(stderr, "t=%5.1f s  restart %s\n", (double)(now_ms() - t0) / 1000, fault_name(&ev[next]));
			restart_it(&ev[next]);
			restarted[next] = true;
		}
	}
}

static bool json_str(const char *line, const char *key, char *out, size_t cap)
{
	char pattern[64];
	const char *p, *end;

	snprintf(pattern, sizeof(pattern), "\"%s\":\"", key);
	p = strstr(line, pattern);
	if (!p)
		return false;
	p += strlen(pattern);
	end = strchr(p, '"');
	if (!end || (size_t)(end - p) >= cap)
		return false;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return true;
}

/* Every round line follows the node lines of that attempt: as many as it
 * selected, each answered or failed with a reason. Returns the rounds seen. */
static int check_history(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[8192], status[64], reason[1024];
	int nodes = 0, answered = 0, rounds_done = 0, last_round = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "\"kind\":\"evaluate\""))
			continue; /* the final evaluation is not a training round */
		if (strstr(line, "\"type\":\"node\"")) {
			assert_true(json_str(line, "status", status, sizeof(status)));
			assert_true(json_str(line, "reason", reason, sizeof(reason)));
			if (strcmp(status, "answered") == 0)
				answered++;
			else if (!reason[0])
				fail_msg("a node failed without a reason: %s", line);
			nodes++;
		} else if (strstr(line, "\"type\":\"round\"")) {
			if (harness_json_int(line, "selected") != nodes || harness_json_int(line, "answered") != answered)
				fail_msg("round %d accounts for %d node(s), %d answered; its line says: %s",
					 harness_json_int(line, "round"), nodes, answered, line);
			last_round = harness_json_int(line, "round");
			rounds_done++;
			nodes = answered = 0;
		}
	}
	fclose(f);
	assert_int_equal(nodes, 0); /* no node line left without its round */
	assert_int_equal(last_round, ROUNDS);
	return rounds_done;
}

static void test_experiment_survives_faults(void **state)
{
	const char *seed_env = getenv("FEDC_FAULT_SEED");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : 20261124;
	char exp[512], history[600], out[600];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	struct harness_proc researcher = { 0 };
	struct event ev[N_FAULTS];
	int status = -1, attempts;
	int64_t t0;

	rng_state = seed ? seed : 1;
	fprintf(stderr, "fault injection seed %llu (FEDC_FAULT_SEED to replay)\n", (unsigned long long)seed);
	plan_events(ev);
	snprintf(exp, sizeof(exp), "%s/faults.ini", H.dir);
	/* Rounds of ~0.3 s; a node that vanishes is seen offline at once (its
	 * last will), one that misses a lost message times out after 10 s; a
	 * round short of 3 updates is retried. */
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/identity"), "bc", ROUNDS, 3, 10,
						  "n_params = 1000\nsleep_ms = 250", "round_retries = 10\n"),
			 0);
	assert_int_equal(harness_spawn(&H, &researcher, "researcher", argv), 0);
	t0 = now_ms();
	run_schedule(ev, t0, researcher.pid);
	while (waitpid(researcher.pid, &status, WNOHANG) == 0 && now_ms() - t0 < 300000)
		usleep(50000);
	snprintf(out, sizeof(out), "%s", researcher.log);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "tail -n 40 %s >&2", out);
		(void)!system(cmd);
		fail_msg("the researcher did not complete (status %d)", status);
	}
	assert_true(harness_file_contains(out, "round   20/20"));
	snprintf(history, sizeof(history), "%s-out/history.jsonl", exp);
	attempts = check_history(history);
	fprintf(stderr, "completed in %.1f s: %d round attempts for %d rounds\n", (double)(now_ms() - t0) / 1000,
		attempts, ROUNDS);
	/* Nothing crashed: everything still running stops cleanly. */
	for (size_t i = 0; i < N_NODES; i++) {
		status = harness_stop(&H.nodes[i].proc, SIGTERM, 10000);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("node %s ended with status %d", H.nodes[i].id, status);
		assert_false(harness_file_contains(H.nodes[i].proc.log, "AddressSanitizer"));
		assert_false(harness_file_contains(H.nodes[i].proc.log, "runtime error"));
	}
	status = harness_stop(&H.repo, SIGTERM, 10000);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_false(harness_file_contains(out, "AddressSanitizer"));
	assert_false(harness_file_contains(out, "runtime error"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_experiment_survives_faults),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
