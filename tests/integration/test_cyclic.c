/* strategy = cyclic on the real stack (Mosquitto, repository server, three
 * node daemons; logistic regression on the breast-cancer data split over
 * them): the chain reaches an accuracy comparable to FedAvg's on the same
 * data, its turns go to the nodes in node-id order or in the per-round
 * shuffled order the seed gives, a researcher killed mid-chain resumes to
 * the bytes of an uninterrupted run, and a node killed during its turn is
 * skipped with the reason while the chain goes on -- unless too few nodes
 * are left to train, and the round fails back to its starting model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/rng.h"
#include "harness.h"

#define N_NODES 3
#define SEED 7 /* harness_write_experiment's */

static struct harness H;
static char output[1 << 16];
static const size_t rows[N_NODES][2] = { { 0, 190 }, { 190, 190 }, { 380, 189 } };

/* One node record of a training round, in history order. */
struct turn {
	unsigned round, step;
	char node_id[32], status[32], reason[512];
};

static int setup(void **state)
{
	char csv[512], id[32];

	(void)state;
	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < N_NODES; i++) {
		snprintf(csv, sizeof(csv), "%s/site-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "site-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, rows[i][0], rows[i][1]) ||
		    harness_add_node(&H, id, csv, "bc", harness_plan("logreg")) != (int)i || harness_start_node(&H, i))
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

/* Writes experiment `name` (output in dir/name.ini-out) with `extra` lines
 * in [experiment]. */
static void write_logreg(const char *name, unsigned rounds, unsigned min_nodes, const char *extra, char *path,
			 size_t cap)
{
	snprintf(path, cap, "%s/%s.ini", H.dir, name);
	assert_int_equal(harness_write_experiment(&H, path, harness_plan("logreg"), "bc", rounds, min_nodes, 60,
						  "n_features = 30", extra),
			 0);
}

static int researcher(const char *cmd, const char *arg)
{
	const char *argv[] = { harness_bin("fedc-researcher"), cmd, arg, NULL };

	return harness_run(&H, argv, 300, output, sizeof(output));
}

static void run_ok(const char *exp)
{
	if (researcher("run", exp) != 0)
		fail_msg("fedc-researcher run %s failed:\n%s", exp, output);
}

static void history_path(const char *exp, char *path, size_t cap)
{
	snprintf(path, cap, "%s-out/history.jsonl", exp);
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* The training turns of the run of `exp`, in the order history.jsonl has
 * them; their count. */
static size_t read_turns(const char *exp, struct turn *out, size_t cap)
{
	char path[600], line[1 << 14];
	FILE *f;
	size_t n = 0;

	history_path(exp, path, sizeof(path));
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		json_t *o = json_loads(line, 0, NULL);

		assert_non_null(o);
		if (strcmp(str(o, "type"), "node") == 0 && strcmp(str(o, "kind"), "train") == 0 && n < cap) {
			out[n].round = (unsigned)json_integer_value(json_object_get(o, "round"));
			out[n].step = (unsigned)json_integer_value(json_object_get(o, "step"));
			snprintf(out[n].node_id, sizeof(out[n].node_id), "%s", str(o, "node_id"));
			snprintf(out[n].status, sizeof(out[n].status), "%s", str(o, "status"));
			snprintf(out[n].reason, sizeof(out[n].reason), "%s", str(o, "reason"));
			n++;
		}
		json_decref(o);
	}
	fclose(f);
	return n;
}

/* The final evaluation's sample-weighted accuracy of the run of `exp`. */
static double final_accuracy(const char *exp)
{
	char path[600], line[1 << 14];
	FILE *f;
	double acc = -1;

	history_path(exp, path, sizeof(path));
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		json_t *o = json_loads(line, 0, NULL);

		if (o && strcmp(str(o, "type"), "round") == 0 && strcmp(str(o, "kind"), "evaluate") == 0)
			acc = json_number_value(json_object_get(o, "global_accuracy"));
		json_decref(o);
	}
	fclose(f);
	return acc;
}

/* The chain order the researcher must use in `round`: the node ids sorted,
 * permuted as job_cyclic__order documents (a generator seeded from the
 * seed and the round alone). */
static void expected_order(unsigned round, bool shuffled, uint32_t idx[N_NODES])
{
	struct fedc_rng rng;

	for (uint32_t i = 0; i < N_NODES; i++)
		idx[i] = i;
	if (!shuffled)
		return;
	fedc_rng_seed(&rng, SEED ^ ((uint64_t)round * 0x9E3779B97F4A7C15ULL));
	fedc_rng_shuffle(&rng, idx, N_NODES);
}

/* Every round of `turns` went to the three nodes in the expected order, and
 * each trained. The number of rounds whose order was not node-id order. */
static unsigned assert_order(const struct turn *turns, size_t n, unsigned rounds, bool shuffled)
{
	unsigned unsorted = 0;

	assert_int_equal(n, (size_t)rounds * N_NODES);
	for (unsigned r = 1; r <= rounds; r++) {
		uint32_t idx[N_NODES];

		expected_order(r, shuffled, idx);
		for (unsigned k = 0; k < N_NODES; k++) {
			const struct turn *t = &turns[(r - 1) * N_NODES + k];
			char want[32];

			snprintf(want, sizeof(want), "site-%u", idx[k]);
			assert_int_equal(t->round, r);
			assert_int_equal(t->step, k + 1);
			if (strcmp(t->node_id, want) != 0)
				fail_msg("round %u step %u went to %s, not %s", r, k + 1, t->node_id, want);
			assert_string_equal(t->status, "answered");
			unsorted += idx[k] != k && k == 0;
		}
	}
	return unsorted;
}

static void test_cyclic_sorted_order_and_accuracy_like_fedavg(void **state)
{
	char fedavg[512], cyclic[512];
	struct turn turns[64];
	double acc_fedavg, acc_cyclic;

	(void)state;
	write_logreg("fedavg", 5, N_NODES, NULL, fedavg, sizeof(fedavg));
	write_logreg("cyclic", 5, N_NODES, "strategy = cyclic", cyclic, sizeof(cyclic));
	run_ok(fedavg);
	run_ok(cyclic);
	assert_order(turns, read_turns(cyclic, turns, 64), 5, false);
	acc_fedavg = final_accuracy(fedavg);
	acc_cyclic = final_accuracy(cyclic);
	print_message("final test accuracy after 5 rounds: fedavg %.4f, cyclic %.4f\n", acc_fedavg, acc_cyclic);
	assert_true(acc_fedavg > 0.85);
	if (acc_cyclic < acc_fedavg - 0.05)
		fail_msg("cyclic reached %.4f, fedavg %.4f", acc_cyclic, acc_fedavg);
}

static void test_cyclic_shuffled_order_follows_the_seed(void **state)
{
	char exp[512];
	struct turn turns[64];

	(void)state;
	write_logreg("shuffled", 4, N_NODES, "strategy = cyclic\ncyclic_order = shuffled", exp, sizeof(exp));
	run_ok(exp);
	/* seed 7 draws another first node than site-0 in some of the 4 rounds */
	assert_true(assert_order(turns, read_turns(exp, turns, 64), 4, true) > 0);
}

static void test_cyclic_resume_mid_chain_is_bit_for_bit(void **state)
{
	/* round-reply:5: in round 2, after its second turn's reply (3 per
	 * round); breakpoint-write:3: half-way through round 2's breakpoint. */
	static const char *const points[] = { "round-reply:5", "breakpoint-write:3" };
	char reference[512], exp[512], ref_params[600], params[600];

	(void)state;
	write_logreg("cyc-reference", 3, 1, "strategy = cyclic\ncyclic_order = shuffled", reference, sizeof(reference));
	run_ok(reference);
	snprintf(ref_params, sizeof(ref_params), "%s-out/global.params", reference);
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		char name[32], out_dir[560];
		int rc;

		snprintf(name, sizeof(name), "cyc-crash-%zu", i);
		write_logreg(name, 3, 1, "strategy = cyclic\ncyclic_order = shuffled", exp, sizeof(exp));
		setenv("FEDC_CRASH_AT", points[i], 1);
		rc = researcher("run", exp);
		unsetenv("FEDC_CRASH_AT");
		if (rc != 128 + SIGKILL)
			fail_msg("the run with FEDC_CRASH_AT=%s was not killed:\n%s", points[i], output);
		snprintf(out_dir, sizeof(out_dir), "%s-out", exp);
		if (researcher("resume", out_dir) != 0)
			fail_msg("resume after %s failed:\n%s", points[i], output);
		assert_non_null(strstr(output, "resuming at round 2"));
		snprintf(params, sizeof(params), "%s/global.params", out_dir);
		if (!harness_same_file(ref_params, params))
			fail_msg("after a crash at %s, %s differs from %s", points[i], params, ref_params);
	}
}

/* A store emptied, so that site-1 uploads its update (the repository client
 * skips a blob the store holds, and an earlier test made the same one). */
static void empty_repository(void)
{
	char store[512];
	const char *argv[] = { "/bin/rm", "-rf", store, NULL };

	snprintf(store, sizeof(store), "%s/repository/store", H.fed_dir);
	assert_int_not_equal(harness_stop(&H.repo, SIGTERM, 5000), -1);
	assert_int_equal(harness_run(&H, argv, 30, NULL, 0), 0);
	assert_int_equal(harness_start_repository(&H), 0);
}

/* site-1 dies (SIGKILL, by its crash point) half-way through uploading its
 * update in round 1: the chain skips it and site-2 trains site-0's model;
 * in round 2 it is offline and skipped again. Last: it leaves site-1 dead. */
static void test_cyclic_skips_a_node_killed_mid_chain(void **state)
{
	char exp[512];
	struct turn turns[64];
	size_t n;

	(void)state;
	assert_int_not_equal(harness_stop(&H.nodes[1].proc, SIGTERM, 15000), -1);
	setenv("FEDC_CRASH_AT", "upload-body", 1);
	assert_int_equal(harness_start_node(&H, 1), 0);
	unsetenv("FEDC_CRASH_AT");
	write_logreg("killed", 2, 1, "strategy = cyclic", exp, sizeof(exp));
	empty_repository();
	run_ok(exp);
	n = read_turns(exp, turns, 64);
	assert_int_equal(n, 6);
	assert_string_equal(turns[0].node_id, "site-0");
	assert_string_equal(turns[0].status, "answered");
	assert_string_equal(turns[1].node_id, "site-1");
	assert_string_not_equal(turns[1].status, "answered");
	if (!strstr(turns[1].reason, "skipped: the chain went on from the model of step 1 (node site-0)"))
		fail_msg("round 1, site-1: %s: %s", turns[1].status, turns[1].reason);
	assert_string_equal(turns[2].node_id, "site-2");
	assert_string_equal(turns[2].status, "answered");
	assert_string_equal(turns[4].node_id, "site-1");
	assert_string_equal(turns[4].status, "offline");
	assert_non_null(strstr(turns[4].reason, "skipped: the chain went on from the model of step 1 (node site-0)"));
	assert_string_equal(turns[5].status, "answered");
	assert_non_null(strstr(output, "node site-1 offline: node is offline; skipped"));
	assert_non_null(strstr(output, "  chain: site-0 -> site-1 -> site-2\n"));
	assert_true(final_accuracy(exp) > 0.8);
}

/* site-1 dies again during its turn, now with min_nodes = 3: two nodes
 * trained, too few, so the round failed, and global.params is the model it
 * started from (the breakpoint of round 0), not site-2's. */
static void test_cyclic_round_with_too_few_goes_back_to_its_start(void **state)
{
	char exp[512], params[600], start[600];

	(void)state;
	assert_int_not_equal(harness_stop(&H.nodes[1].proc, SIGTERM, 15000), -1); /* reaped */
	setenv("FEDC_CRASH_AT", "upload-body", 1);
	assert_int_equal(harness_start_node(&H, 1), 0);
	unsetenv("FEDC_CRASH_AT");
	write_logreg("too-few", 2, N_NODES, "strategy = cyclic\nround_retries = 0", exp, sizeof(exp));
	empty_repository();
	if (researcher("run", exp) != 1)
		fail_msg("the run with 2 of 3 nodes trained did not fail:\n%s", output);
	assert_non_null(strstr(output, "round 1: 2 update(s) usable, min_nodes is 3"));
	snprintf(params, sizeof(params), "%s-out/global.params", exp);
	snprintf(start, sizeof(start), "%s-out/breakpoints/round-000000/global.params", exp);
	if (!harness_same_file(start, params))
		fail_msg("%s is not the round's starting model %s", params, start);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cyclic_sorted_order_and_accuracy_like_fedavg),
		cmocka_unit_test(test_cyclic_shuffled_order_follows_the_seed),
		cmocka_unit_test(test_cyclic_resume_mid_chain_is_bit_for_bit),
		cmocka_unit_test(test_cyclic_skips_a_node_killed_mid_chain),
		cmocka_unit_test(test_cyclic_round_with_too_few_goes_back_to_its_start),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
