/* Secure aggregation end to end (docs/privacy.md): Mosquitto, fedc-repository
 * and four fedc-node daemons holding uneven shares of the breast-cancer data.
 * The result equals plain FedAvg within the fixed-point bound; what the
 * repository stores for a node is a masked vector, not its update; a node
 * killed at any step of the protocol leaves a round the others finish; a
 * round with fewer survivors than the threshold fails cleanly; a researcher
 * killed mid-protocol resumes to byte-identical breakpoints; bounds that
 * leave 20 bits of scale in 32 bits give a round in Z_2^32 (u32 masked
 * vectors), plain FedAvg's result all the same. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fedc/params.h"
#include "fedc/repo.h"
#include "fedc/secagg.h"
#include "harness.h"

#define N_NODES 4

static struct harness H;
static const size_t shares[N_NODES][2] = { { 0, 90 }, { 90, 70 }, { 160, 60 }, { 220, 69 } };
static char output[1 << 16];

#define SECAGG "\n[privacy]\nsecure_aggregation = on\nsecagg_timeout_s = 20\n"

static int setup(void **state)
{
	char csv[512], id[32];

	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < N_NODES; i++) {
		snprintf(csv, sizeof(csv), "%s/hospital-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "hospital-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, shares[i][0],
				      shares[i][1]))
			return -1;
		if (harness_add_node(&H, id, csv, "breast-cancer,tabular", harness_plan("logreg")) != (int)i)
			return -1;
		{
			const char *approve[] = { harness_bin("fedc-node"), "--config", H.nodes[i].config, "plan",
						  "approve", harness_plan("mlp"), NULL };

			if (harness_run(&H, approve, 30, NULL, 0) != 0)
				return -1;
		}
		if (harness_start_node(&H, i) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

static int run(const char *verb, const char *arg)
{
	const char *argv[] = { harness_bin("fedc-researcher"), verb, arg, NULL };

	return harness_run(&H, argv, 300, output, sizeof(output));
}

/* `run` with the researcher's debug lines in `output`. */
static int run_debug(const char *exp)
{
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, "--log-level", "debug", NULL };

	return harness_run(&H, argv, 300, output, sizeof(output));
}

static void write_exp(const char *name, unsigned rounds, unsigned min_nodes, const char *extra, char *path,
		      size_t cap)
{
	snprintf(path, cap, "%s/%s.ini", H.dir, name);
	assert_int_equal(harness_write_experiment(&H, path, harness_plan("logreg"), "breast-cancer", rounds, min_nodes,
						  60, "n_features = 30", extra),
			 0);
}

/* False for a node whose process ended (and reaps it). */
static bool node_alive(size_t i)
{
	struct harness_proc *p = &H.nodes[i].proc;
	int status;

	if (p->pid <= 0)
		return false;
	if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
		p->pid = 0;
		return false;
	}
	return true;
}

/* Every node back online (a test may have killed some). */
static void restart_dead_nodes(void)
{
	unsetenv("FEDC_CRASH_AT");
	for (size_t i = 0; i < N_NODES; i++)
		if (!node_alive(i))
			assert_int_equal(harness_start_node(&H, i), 0);
}

/* Node i restarted so that it dies at crash point `point`. */
static void arm_node(size_t i, const char *point)
{
	if (node_alive(i))
		(void)harness_stop(&H.nodes[i].proc, SIGTERM, 10000);
	setenv("FEDC_CRASH_AT", point, 1);
	assert_int_equal(harness_start_node(&H, i), 0);
	unsetenv("FEDC_CRASH_AT");
}

/* The line of round `round` in the run's output: its "nodes a/b". */
static bool round_had(unsigned round, unsigned rounds, const char *nodes)
{
	char head[64];
	const char *line, *end;

	snprintf(head, sizeof(head), "round %4u/%-4u  nodes ", round, rounds);
	line = strstr(output, head);
	end = line ? strchr(line, '\n') : NULL;
	return line && end && (size_t)(end - line) > strlen(head) &&
	       strncmp(line + strlen(head), nodes, strlen(nodes)) == 0;
}

static struct fedc_params *open_out(const char *exp_path, const char *file)
{
	char path[700];
	struct fedc_params *p = NULL;

	snprintf(path, sizeof(path), "%s-out/%s", exp_path, file);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	return p;
}

/* |a - b| <= tol * max(1, |a|) for every value of two same-layout files. */
static double max_rel_diff(const struct fedc_params *a, const struct fedc_params *b)
{
	double worst = 0;

	assert_int_equal(fedc_params_count(a), fedc_params_count(b));
	for (size_t i = 0; i < fedc_params_count(a); i++) {
		const struct fedc_tensor *x = &fedc_params_tensors(a)[i], *y = &fedc_params_tensors(b)[i];
		uint64_t n = fedc_tensor_elements(x);

		assert_int_equal(n, fedc_tensor_elements(y));
		for (uint64_t k = 0; k < n; k++) {
			double u = ((const float *)x->data)[k], v = ((const float *)y->data)[k];
			double d = fabs(u - v) / fmax(1.0, fabs(u));

			worst = fmax(worst, d);
		}
	}
	return worst;
}

static void test_equals_fedavg(void **state)
{
	char plain[512], masked[512];
	struct fedc_params *a, *b;
	double diff;

	write_exp("plain", 3, 4, NULL, plain, sizeof(plain));
	write_exp("masked", 3, 4, SECAGG, masked, sizeof(masked));
	if (run("run", plain) != 0)
		fail_msg("plain run failed:\n%s", output);
	if (run("run", masked) != 0)
		fail_msg("secure-aggregation run failed:\n%s", output);
	assert_non_null(strstr(output, "round    3/3"));
	assert_non_null(strstr(output, "nodes 4/4"));
	/* round 1: at most one float32 rounding apart (the sums differ by under
	 * the fixed-point bound, ~1e-9, before the division) */
	a = open_out(plain, "breakpoints/round-000001/global.params");
	b = open_out(masked, "breakpoints/round-000001/global.params");
	diff = max_rel_diff(a, b);
	if (diff > 0x1p-23)
		fail_msg("round 1 under secure aggregation differs from FedAvg by %g (relative)", diff);
	fedc_params_close(a);
	fedc_params_close(b);
	a = open_out(plain, "global.params");
	b = open_out(masked, "global.params");
	diff = max_rel_diff(a, b);
	/* fixed point at 2^-scale_bits per value and node, then float32 rounding
	 * over three rounds: a few ulps of float32 */
	if (diff > 1e-5)
		fail_msg("secure aggregation differs from FedAvg by %g (relative)", diff);
	fedc_params_close(a);
	fedc_params_close(b);
}

/* An experiment of the MLP plan (it applies SCAFFOLD's correction) with the
 * [aggregator] lines given. */
static void write_mlp_exp(const char *name, unsigned rounds, const char *extra, const char *aggregator, char *path,
			  size_t cap)
{
	char text[8192], *agg;
	FILE *f;
	size_t n;

	snprintf(path, cap, "%s/%s.ini", H.dir, name);
	assert_int_equal(harness_write_experiment(&H, path, harness_plan("mlp"), "breast-cancer", rounds, 4, 60,
						  "n_features = 30\nn_classes = 2\nhidden = 8", extra),
			 0);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	agg = strstr(text, "[aggregator]\nname = fedavg\n");
	assert_non_null(agg);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%.*s[aggregator]\n%s\n%s", (int)(agg - text), text, aggregator,
		agg + strlen("[aggregator]\nname = fedavg\n"));
	fclose(f);
}

/* `old` replaced by `new` (once) in the file at `path`. */
static void edit_file(const char *path, const char *old, const char *new)
{
	char text[8192], *at;
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	at = strstr(text, old);
	assert_non_null(at);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%.*s%s%s", (int)(at - text), text, new, at + strlen(old));
	fclose(f);
}

/* The server optimizers and SCAFFOLD (model and control variates summed
 * alike, every weight 1) over secure aggregation: plain's results. */
static void test_methods_over_secure_sum(void **state)
{
	static const char *const methods[] = { "name = fedadam\nserver_lr = 0.05", "name = scaffold" };

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		char plain[512], masked[512], name[32];
		struct fedc_params *a, *b;
		double diff;

		snprintf(name, sizeof(name), "method-%zu", i);
		write_mlp_exp(name, 2, NULL, methods[i], plain, sizeof(plain));
		snprintf(name, sizeof(name), "method-%zu-secagg", i);
		write_mlp_exp(name, 2, SECAGG, methods[i], masked, sizeof(masked));
		if (run("run", plain) != 0)
			fail_msg("%s: plain run failed:\n%s", methods[i], output);
		if (run("run", masked) != 0)
			fail_msg("%s: secure run failed:\n%s", methods[i], output);
		assert_non_null(strstr(output, "round    2/2     nodes 4/4"));
		a = open_out(plain, "global.params");
		b = open_out(masked, "global.params");
		diff = max_rel_diff(a, b);
		if (diff > 1e-5)
			fail_msg("%s over secure aggregation differs from plain by %g (relative)", methods[i], diff);
		fedc_params_close(a);
		fedc_params_close(b);
	}
}

/* SecAgg+: each node masks with 2 of the 3 others (a ring), t = 2 of its
 * neighbourhood of 3; the result is plain FedAvg's all the same. */
static void test_secagg_plus_ring(void **state)
{
	char plain[512], ring[512];
	struct fedc_params *a, *b;
	double diff;

	write_exp("plain-1", 1, 4, NULL, plain, sizeof(plain));
	write_exp("ring", 1, 4, SECAGG "secagg_neighbours = 2\n", ring, sizeof(ring));
	if (run("run", plain) != 0)
		fail_msg("plain run failed:\n%s", output);
	if (run("run", ring) != 0)
		fail_msg("SecAgg+ run failed:\n%s", output);
	assert_non_null(strstr(output, "nodes 4/4"));
	a = open_out(plain, "global.params");
	b = open_out(ring, "global.params");
	diff = max_rel_diff(a, b);
	if (diff > 0x1p-23)
		fail_msg("SecAgg+ differs from FedAvg by %g (relative)", diff);
	fedc_params_close(a);
	fedc_params_close(b);
}

/* What hospital-1 uploaded in the last round of the run of `exp`, fetched
 * from the repository by the digest its reply named. */
static struct fedc_params *open_masked(const char *exp)
{
	char history[700], digest[65] = "", path[700];
	struct fedc_repo *repo = NULL;
	struct fedc_params *p = NULL;
	FILE *f;
	char line[8192];

	snprintf(history, sizeof(history), "%s-out/history.jsonl", exp);
	f = fopen(history, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		const char *at = strstr(line, "\"params_digest\":\"");

		if (strstr(line, "\"node_id\":\"hospital-1\"") && strstr(line, "\"kind\":\"train\"") && at) {
			memcpy(digest, at + strlen("\"params_digest\":\""), 64);
			digest[64] = '\0';
		}
	}
	fclose(f);
	assert_int_equal(strlen(digest), 64);
	assert_int_equal(harness_repo_new(&H, &repo), 0);
	snprintf(path, sizeof(path), "%s/masked.params", H.dir);
	assert_int_equal(fedc_repo_get_update_file(repo, "hospital-1", digest, path, 0), FEDC_OK);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	fedc_repo_free(repo);
	return p;
}

/* What the node uploaded, fetched from the repository by the digest its
 * reply named: one u64 tensor (the demo's feature means need the 64-bit
 * ring), no value of the node's update in it. */
static void test_repository_sees_masked_vector(void **state)
{
	char exp[512];
	struct fedc_params *p = NULL;

	write_exp("blob", 1, 4, SECAGG, exp, sizeof(exp));
	if (run("run", exp) != 0)
		fail_msg("run failed:\n%s", output);
	p = open_masked(exp);
	assert_int_equal(fedc_params_count(p), 1);
	assert_string_equal(fedc_params_tensors(p)[0].name, "secagg.masked");
	assert_int_equal(fedc_params_tensors(p)[0].dtype, FEDC_DTYPE_U64);
	/* 30 weights, a bias, feature means and deviations, and the weight: the
	 * masked weight (the node's sample count) is not its count */
	{
		const uint64_t *v = fedc_params_tensors(p)[0].data;
		uint64_t n = fedc_tensor_elements(&fedc_params_tensors(p)[0]);
		size_t small = 0;

		for (uint64_t k = 0; k < n; k++)
			small += v[k] < (1ull << 40) || v[k] > UINT64_MAX - (1ull << 40);
		/* a plain encoding is within 2^40 of 0 (mod 2^64) for every value;
		 * a masked one for about none */
		assert_true(small <= 1);
	}
	fedc_params_close(p);
}

/* The 32-bit ring: SCAFFOLD on the MLP (every weight 1; lr 0.001 keeps the
 * weights small, the control variates stay under ~100 on the raw features)
 * with secagg_value_max = 255 gives 4 x 1 x 255 x 2^20 < 2^30, a scale of 20
 * bits (the least the researcher takes in 32 bits), so it picks Z_2^32 (its
 * debug line says so), the
 * masked vector in the repository is one u32 tensor, and the result is
 * plain SCAFFOLD's: round 1 within the fixed-point bound (averaged over 4
 * nodes) plus a float32 rounding, the last round within 1e-3. With the
 * default value_max (1e6) the same run stays in 64 bits. */
static void test_ring32_equals_plain(void **state)
{
	char plain[512], masked[512], wide[512], want[96];
	struct fedc_params *a, *b;
	uint32_t scale = 0;
	double diff, bound;

	restart_dead_nodes();
	assert_int_equal(fedc_secagg_choose_scale_32(N_NODES, 1, 255.0, &scale), FEDC_OK);
	assert_int_equal(scale, 20);
	write_mlp_exp("r32-plain", 2, NULL, "name = scaffold", plain, sizeof(plain));
	write_mlp_exp("r32-masked", 2, SECAGG "secagg_value_max = 255\n", "name = scaffold", masked, sizeof(masked));
	/* the raw features (up to ~4000) drive the first layer's weights to a
	 * few hundred at lr 0.1 */
	edit_file(plain, "lr = 0.1\n", "lr = 0.001\n");
	edit_file(masked, "lr = 0.1\n", "lr = 0.001\n");
	if (run("run", plain) != 0)
		fail_msg("plain run failed:\n%s", output);
	if (run_debug(masked) != 0) {
		fputs(output, stderr);
		fail_msg("32-bit secure run failed (its output above)");
	}
	snprintf(want, sizeof(want), "round 1: secure aggregation in 32 bits, scale 2^-%u", scale);
	if (!strstr(output, want))
		fail_msg("no \"%s\" in the researcher's log:\n%s", want, output);
	assert_non_null(strstr(output, "round    2/2     nodes 4/4"));
	b = open_masked(masked);
	assert_int_equal(fedc_params_count(b), 1);
	assert_string_equal(fedc_params_tensors(b)[0].name, "secagg.masked");
	assert_int_equal(fedc_params_tensors(b)[0].dtype, FEDC_DTYPE_U32);
	fedc_params_close(b);

	a = open_out(plain, "breakpoints/round-000001/global.params");
	b = open_out(masked, "breakpoints/round-000001/global.params");
	diff = max_rel_diff(a, b);
	bound = fedc_secagg_error_bound(N_NODES, scale) / N_NODES + 0x1p-23;
	if (diff > bound)
		fail_msg("round 1 in 32 bits differs from plain SCAFFOLD by %g (bound %g)", diff, bound);
	print_message("32-bit ring, scale 2^-%u: round 1 %g from plain (bound %g)\n", scale, diff, bound);
	fedc_params_close(a);
	fedc_params_close(b);
	/* Round 2 (SCAFFOLD's control variates carried over in 32 bits) is
	 * not compared: it trains from round 1's models, up to 2^-22 apart, on
	 * raw features of up to ~4000, which magnifies the gap by orders of
	 * magnitude (6e-5 in one build, 0.2 in the sanitizer build). Its
	 * parameters must be finite, as a wrong sum would not leave them. */
	b = open_out(masked, "global.params");
	for (size_t t = 0; t < fedc_params_count(b); t++) {
		const float *x = fedc_params_tensors(b)[t].data;

		for (uint64_t k = 0; k < fedc_tensor_elements(&fedc_params_tensors(b)[t]); k++)
			assert_true(isfinite(x[k]));
	}
	fedc_params_close(b);

	write_mlp_exp("r64-masked", 1, SECAGG, "name = scaffold", wide, sizeof(wide));
	if (run_debug(wide) != 0)
		fail_msg("64-bit secure run failed:\n%s", output);
	assert_non_null(strstr(output, "round 1: secure aggregation in 64 bits"));
	b = open_masked(wide);
	assert_int_equal(fedc_params_tensors(b)[0].dtype, FEDC_DTYPE_U64);
	fedc_params_close(b);
}

/* One node killed at each step: the round goes on with the others (t = 3
 * of 4), and the run ends with every round done. */
static void test_node_killed_at_each_step(void **state)
{
	static const char *const steps[] = { "secagg-keys", "secagg-shares", "secagg-masked", "secagg-replied",
					     "secagg-unmask" };

	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		char exp[512], name[64];

		restart_dead_nodes();
		arm_node(2, steps[s]); /* node 2 dies at this step of round 1 */
		snprintf(name, sizeof(name), "kill-%s", steps[s]);
		write_exp(name, 2, 3, SECAGG, exp, sizeof(exp));
		if (run("run", exp) != 0)
			fail_msg("killed at %s: the run failed:\n%s", steps[s], output);
		/* the dead node's update is in round 1's sum when it died after
		 * uploading it: the others unmask it */
		if (!round_had(1, 2, "3/4") && !round_had(1, 2, "4/4"))
			fail_msg("killed at %s: round 1 not finished by the survivors:\n%s", steps[s], output);
		if (!round_had(2, 2, "3/4"))
			fail_msg("killed at %s: round 2 not run by the three left:\n%s", steps[s], output);
		assert_true(strstr(output, "final evaluation") != NULL);
	}
	restart_dead_nodes();
}

/* Two of four gone after their shares: 2 survivors < t = 3, so no sum can
 * be had; the round fails with the reason and the run ends without a
 * wrong model. */
static void test_too_few_survivors_fail_cleanly(void **state)
{
	char exp[512];

	restart_dead_nodes();
	for (size_t i = 2; i < 4; i++)
		arm_node(i, "secagg-masked");
	write_exp("too-few", 1, 2, "round_retries = 0\n" SECAGG, exp, sizeof(exp));
	assert_int_not_equal(run("run", exp), 0);
	if (!strstr(output, "shares needed to remove the masks"))
		fail_msg("no reason given:\n%s", output);
	restart_dead_nodes();
}

/* The researcher killed after sending the keysets, then after asking for
 * the unmasking shares: resume gives the breakpoints of an unbroken run. */
static void test_researcher_killed_resumes_identically(void **state)
{
	static const char *const points[] = { "secagg-keysets:2", "secagg-unmask-sent:2" };
	char ref[512];
	struct fedc_params *want;

	restart_dead_nodes();
	write_exp("ref", 3, 4, SECAGG, ref, sizeof(ref));
	if (run("run", ref) != 0)
		fail_msg("reference run failed:\n%s", output);
	want = open_out(ref, "global.params");
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		char exp[512], name[64], out[600];
		struct fedc_params *got;

		snprintf(name, sizeof(name), "ref-%zu", i);
		write_exp(name, 3, 4, SECAGG, exp, sizeof(exp));
		setenv("FEDC_CRASH_AT", points[i], 1);
		assert_int_not_equal(run("run", exp), 0);
		unsetenv("FEDC_CRASH_AT");
		snprintf(out, sizeof(out), "%s-out", exp);
		if (run("resume", out) != 0)
			fail_msg("resume after %s failed:\n%s", points[i], output);
		got = open_out(exp, "global.params");
		assert_int_equal(fedc_params_count(got), fedc_params_count(want));
		for (size_t t = 0; t < fedc_params_count(want); t++)
			assert_memory_equal(fedc_params_tensors(got)[t].data, fedc_params_tensors(want)[t].data,
					    fedc_tensor_elements(&fedc_params_tensors(want)[t]) * sizeof(float));
		fedc_params_close(got);
	}
	fedc_params_close(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equals_fedavg),
		cmocka_unit_test(test_secagg_plus_ring),
		cmocka_unit_test(test_methods_over_secure_sum),
		cmocka_unit_test(test_repository_sees_masked_vector),
		cmocka_unit_test(test_ring32_equals_plain),
		cmocka_unit_test(test_node_killed_at_each_step),
		cmocka_unit_test(test_too_few_survivors_fail_cleanly),
		cmocka_unit_test(test_researcher_killed_resumes_identically),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
