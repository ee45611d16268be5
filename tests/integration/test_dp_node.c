/* Node-level differential privacy on a real stack (docs/privacy.md):
 * Mosquitto, fedc-repository and three fedc-node daemons with the
 * breast-cancer data. hospital-1's policy asks for a noise multiplier of at
 * least 2; hospital-2 rounds its counts to 100. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/dp.h"
#include "harness.h"

static struct harness H;
static const size_t shares[3][2] = { { 0, 100 }, { 100, 180 }, { 280, 289 } };
static char output[1 << 16];

static int append(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	char csv[512], id[32];

	(void)state;
	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(csv, sizeof(csv), "%s/hospital-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "hospital-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, shares[i][0],
				      shares[i][1]))
			return -1;
		if (harness_add_node(&H, id, csv, "breast-cancer", harness_plan("logreg")) != (int)i)
			return -1;
	}
	if (append(H.nodes[1].config, "\n[privacy]\nmin_noise_multiplier = 2\nmax_delta = 1e-4\n") ||
	    append(H.nodes[2].config, "\n[privacy]\ncount_rounding = 100\n"))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		if (harness_start_node(&H, i) != 0)
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

static int run_researcher(const char *exp)
{
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };

	return harness_run(&H, argv, 300, output, sizeof(output));
}

static void write_experiment(const char *name, unsigned rounds, unsigned min_nodes, const char *privacy,
			     char *path, size_t cap)
{
	char extra[512];

	snprintf(path, cap, "%s/%s.ini", H.dir, name);
	snprintf(extra, sizeof(extra), "\n[privacy]\n%s\n", privacy);
	assert_int_equal(harness_write_experiment(&H, path, harness_plan("logreg"), "breast-cancer", rounds, min_nodes,
						  60, "n_features = 30", extra),
			 0);
}

/* The "epsilon": values of history.jsonl's round records, in order. */
static size_t history_epsilons(const char *exp, double *eps, size_t cap)
{
	char path[600], line[8192];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s-out/history.jsonl", exp);
	f = fopen(path, "r");
	assert_non_null(f);
	while (n < cap && fgets(line, sizeof(line), f)) {
		const char *e = strstr(line, "\"epsilon\":");

		if (strstr(line, "\"type\":\"round\"") && strstr(line, "\"kind\":\"train\"") && e)
			eps[n++] = strtod(e + strlen("\"epsilon\":"), NULL);
	}
	fclose(f);
	return n;
}

static void test_dp_run_reports_growing_epsilon(void **state)
{
	char exp[512], path[600];
	double eps[16], ref;
	size_t n;
	int rc;

	(void)state;
	write_experiment("dp", 3, 3, "dp = node\ndp_clip = 1.0\ndp_noise_multiplier = 3\ndp_delta = 1e-5", exp,
			 sizeof(exp));
	rc = run_researcher(exp);
	if (rc != 0)
		fail_msg("%s", output);
	assert_non_null(strstr(output, "round    3/3"));
	assert_non_null(strstr(output, "nodes 3/3"));
	assert_non_null(strstr(output, "  privacy: epsilon "));
	assert_non_null(strstr(output, "privacy: node-level DP, epsilon "));
	assert_non_null(strstr(output, "final evaluation"));
	n = history_epsilons(exp, eps, 16);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		/* q = 1: every node trains every round */
		assert_int_equal(fedc_dp_epsilon(1.0, 3.0, i + 1, 1e-5, &ref, NULL), FEDC_OK);
		assert_true(fabs(eps[i] - ref) < 1e-6 * ref);
		if (i)
			assert_true(eps[i] > eps[i - 1]);
	}
	/* each node reports its own figure, and hospital-2 its counts rounded to 100 */
	snprintf(path, sizeof(path), "%s-out/history.jsonl", exp);
	assert_true(harness_file_contains(path, "\"dp_epsilon\":"));
	snprintf(path, sizeof(path), "%s-out/nodes.csv", exp);
	assert_true(harness_file_contains(path, ",hospital-2,"));
	{
		char line[4096];
		FILE *f = fopen(path, "r");
		bool seen = false;

		assert_non_null(f);
		while (fgets(line, sizeof(line), f)) {
			/* round,kind,node_id,dataset_id,status,n_samples,n_test,... */
			char *p = strstr(line, ",hospital-2,");
			unsigned long n_samples, n_test;

			if (!p || !strstr(line, ",answered,"))
				continue;
			p = strstr(p, ",answered,") + strlen(",answered,");
			assert_int_equal(sscanf(p, "%lu,%lu", &n_samples, &n_test), 2);
			assert_int_equal(n_samples % 100, 0);
			assert_int_equal(n_test % 100, 0);
			assert_true(n_samples > 0 && n_test > 0);
			seen = true;
		}
		fclose(f);
		assert_true(seen);
	}
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

/* The node's dp_epsilon of hospital-0's last train record in history.jsonl. */
static double node_epsilon(const char *exp, uint32_t round)
{
	char path[600], line[8192], want[64];
	double eps = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s-out/history.jsonl", exp);
	snprintf(want, sizeof(want), "\"round\":%u,\"kind\":\"train\",\"node_id\":\"hospital-0\"", round);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		const char *e = strstr(line, "\"dp_epsilon\":");

		if (strstr(line, want) && e)
			eps = strtod(e + strlen("\"dp_epsilon\":"), NULL);
	}
	fclose(f);
	return eps;
}

/* The noise is keyed by the node's secret and the round: a resumed run asks
 * the same rounds again and gets the same bytes, and the nodes do not count
 * those rounds twice. */
static void test_resume_is_bit_for_bit_and_counted_once(void **state)
{
	static char first[1 << 16], second[1 << 16];
	char exp[512], out[600], bp[700];
	const char *resume[] = { harness_bin("fedc-researcher"), "resume", out, "--round", "1", NULL };
	size_t n1, n2;
	double ref;

	(void)state;
	write_experiment("resume", 3, 3, "dp = node\ndp_noise_multiplier = 3", exp, sizeof(exp));
	if (run_researcher(exp) != 0)
		fail_msg("%s", output);
	snprintf(out, sizeof(out), "%s-out", exp);
	snprintf(bp, sizeof(bp), "%s/breakpoints/round-000003/global.params", out);
	n1 = read_file(bp, first, sizeof(first));
	assert_true(n1 > 0 && n1 < sizeof(first));
	if (harness_run(&H, resume, 300, output, sizeof(output)) != 0)
		fail_msg("%s", output);
	n2 = read_file(bp, second, sizeof(second));
	assert_int_equal(n1, n2);
	assert_memory_equal(first, second, n1);
	/* rounds 2 and 3 ran twice on each node; its figure is still that of 3 rounds */
	assert_int_equal(fedc_dp_epsilon(1.0, 3.0, 3, 1e-5, &ref, NULL), FEDC_OK);
	assert_true(fabs(node_epsilon(exp, 3) - ref) < 1e-9 * ref);
}

static void test_epsilon_max_stops_cleanly(void **state)
{
	char exp[512], privacy[256], bp[700];
	double e2, e3, eps[16];
	int rc;

	(void)state;
	assert_int_equal(fedc_dp_epsilon(1.0, 3.0, 2, 1e-5, &e2, NULL), FEDC_OK);
	assert_int_equal(fedc_dp_epsilon(1.0, 3.0, 3, 1e-5, &e3, NULL), FEDC_OK);
	snprintf(privacy, sizeof(privacy), "dp = node\ndp_noise_multiplier = 3\nepsilon_max = %.6f", (e2 + e3) / 2);
	write_experiment("budget", 10, 3, privacy, exp, sizeof(exp));
	rc = run_researcher(exp);
	if (rc != 0)
		fail_msg("%s", output);
	if (!strstr(output, "the budget stops the experiment at round 3, epsilon "))
		fail_msg("%s", output);
	assert_non_null(strstr(output, "round    2/10"));
	assert_null(strstr(output, "round    3/10"));
	assert_non_null(strstr(output, "final evaluation   nodes 3/3"));
	assert_non_null(strstr(output, "stopped by epsilon_max"));
	assert_int_equal(history_epsilons(exp, eps, 16), 2);
	assert_true(eps[1] <= (e2 + e3) / 2);
	/* the breakpoint of the last round run is there to resume from */
	snprintf(bp, sizeof(bp), "%s-out/breakpoints/round-0002", exp);
	if (access(bp, F_OK) != 0) {
		snprintf(bp, sizeof(bp), "%s-out/breakpoints", exp);
		assert_int_equal(access(bp, F_OK), 0);
	}
}

/* breakpoint_every = 5: round 2, the last the budget lets run, had only a
 * pending breakpoint; the stop saves it (round 1 has none). */
static void test_epsilon_max_saves_pending_breakpoint(void **state)
{
	char exp[512], privacy[256], bp[700];
	double e2, e3;

	(void)state;
	assert_int_equal(fedc_dp_epsilon(1.0, 3.0, 2, 1e-5, &e2, NULL), FEDC_OK);
	assert_int_equal(fedc_dp_epsilon(1.0, 3.0, 3, 1e-5, &e3, NULL), FEDC_OK);
	snprintf(privacy, sizeof(privacy),
		 "dp = node\ndp_noise_multiplier = 3\nepsilon_max = %.6f\n[experiment]\nbreakpoint_every = 5",
		 (e2 + e3) / 2);
	write_experiment("budget-every", 10, 3, privacy, exp, sizeof(exp));
	if (run_researcher(exp) != 0)
		fail_msg("%s", output);
	assert_non_null(strstr(output, "stopped by epsilon_max"));
	snprintf(bp, sizeof(bp), "%s-out/breakpoints/round-000002/breakpoint.json", exp);
	assert_int_equal(access(bp, R_OK), 0);
	snprintf(bp, sizeof(bp), "%s-out/breakpoints/round-000001", exp);
	assert_int_not_equal(access(bp, F_OK), 0);
}

static void test_node_policy_refusal_shown(void **state)
{
	char exp[512];
	int rc;

	(void)state;
	write_experiment("weak", 1, 2, "dp = node\ndp_noise_multiplier = 1.0", exp, sizeof(exp));
	rc = run_researcher(exp);
	if (rc != 0)
		fail_msg("%s", output);
	assert_non_null(strstr(output, "nodes 2/3"));
	if (!strstr(output, "node hospital-1 error: privacy-policy: dp_noise 1 below this node's "
			    "min_noise_multiplier 2"))
		fail_msg("%s", output);
	/* with min_nodes 3, the refusal is for good: no retry, the reason given */
	write_experiment("weak3", 1, 3, "dp = node\ndp_noise_multiplier = 1.0", exp, sizeof(exp));
	assert_int_equal(run_researcher(exp), 1);
	assert_non_null(strstr(output, "min_noise_multiplier 2"));
	assert_null(strstr(output, "retrying"));
}

static void test_run_refuses_dp_with_krum(void **state)
{
	char exp[512];

	(void)state;
	write_experiment("krum", 1, 1, "dp = node", exp, sizeof(exp));
	/* [aggregator] comes last but for [network]: a second section of the same name is not allowed, so edit */
	{
		char text[16384];
		FILE *f = fopen(exp, "r");
		size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
		char *at;

		assert_non_null(f);
		fclose(f);
		text[n] = '\0';
		at = strstr(text, "name = fedavg");
		assert_non_null(at);
		f = fopen(exp, "w");
		assert_non_null(f);
		fprintf(f, "%.*sname = krum%s", (int)(at - text), text, at + strlen("name = fedavg"));
		fclose(f);
	}
	assert_int_equal(run_researcher(exp), 1);
	assert_non_null(strstr(output, "dp = node does not go with [aggregator] method = krum"));
}

static void test_search_shows_rounded_counts(void **state)
{
	char net[512];
	const char *argv[] = { harness_bin("fedc-researcher"), "search", "--tags", "breast-cancer", "--network", net,
			       NULL };
	const char *line;

	(void)state;
	snprintf(net, sizeof(net), "%s/network.ini", H.dir);
	{
		FILE *f = fopen(net, "w");

		assert_non_null(f);
		fputs(harness_network_section(&H), f);
		fclose(f);
	}
	assert_int_equal(harness_run(&H, argv, 60, output, sizeof(output)), 0);
	/* hospital-2 holds 289 rows and tells 300; the others their exact counts */
	line = strstr(output, "hospital-2");
	if (!line || !strstr(line, "     300 samples"))
		fail_msg("%s", output);
	assert_non_null(strstr(output, "     180 samples"));
	assert_null(strstr(output, "289 samples"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dp_run_reports_growing_epsilon),
		cmocka_unit_test(test_resume_is_bit_for_bit_and_counted_once),
		cmocka_unit_test(test_epsilon_max_stops_cleanly),
		cmocka_unit_test(test_epsilon_max_saves_pending_breakpoint),
		cmocka_unit_test(test_node_policy_refusal_shown),
		cmocka_unit_test(test_run_refuses_dp_with_krum),
		cmocka_unit_test(test_search_shows_rounded_counts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
