/* The node's secret training seed ([privacy] secret_training_seed,
 * docs/node-admin.md) on a real stack: Mosquitto, fedc-repository and one
 * fedc-node "solo" holding the whole breast-cancer CSV, training
 * examples/logreg-dpsgd (Poisson sampling and Gaussian noise, both drawn from
 * args->seed) for one round. With one node FedAvg's result is the node's
 * update itself, so the global parameters after round 1 are what the node
 * trained.
 *
 * - Key on (the default): the same experiment run twice gives bit-identical
 *   global parameters (the node's secret is fixed), also after a restart of
 *   the daemon; and fedc-centralized, which knows everything the researcher
 *   knows (the experiment, its seed, the node's id and, here, all the data),
 *   does not reproduce the round.
 * - Key off: the node trains differently from the same node with the key on,
 *   and fedc-centralized --node-id solo repeats its round bit for bit: the
 *   seed is then mix(seed, round, node id), the researcher's to compute. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/params.h"
#include "harness.h"

#define MODEL "n_features = 30\ndp_clip = 1.0\ndp_noise = 1.0\ndp_delta = 1e-5"

static struct harness H;
static char csv[512];
static char output[1 << 16];

static int setup(void **state)
{
	(void)state;
	snprintf(csv, sizeof(csv), "%s/examples/data/breast_cancer.csv", FEDC_SOURCE_DIR);
	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	/* No [privacy] section: the key is on by default. */
	if (harness_add_node(&H, "solo", csv, "breast-cancer", harness_plan("logreg-dpsgd")) != 0 ||
	    harness_start_node(&H, 0) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

/* Replaces the first `old` in node 0's config by `new`. */
static void edit_config(const char *old, const char *new)
{
	static char text[1 << 16];
	FILE *f = fopen(H.nodes[0].config, "r");
	size_t n;
	char *at;

	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	at = strstr(text, old);
	assert_non_null(at);
	f = fopen(H.nodes[0].config, "w");
	assert_non_null(f);
	fprintf(f, "%.*s%s%s", (int)(at - text), text, new, at + strlen(old));
	assert_int_equal(fclose(f), 0);
}

static void restart_node(void)
{
	assert_int_not_equal(harness_stop(&H.nodes[0].proc, SIGTERM, 15000), -1);
	assert_int_equal(harness_start_node(&H, 0), 0);
}

/* Runs a one-round experiment `name`; `exp` gets its path. */
static void run(const char *name, char *exp, size_t cap)
{
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	int rc;

	snprintf(exp, cap, "%s/%s.ini", H.dir, name);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg-dpsgd"), "breast-cancer", 1, 1, 60,
						  MODEL, NULL),
			 0);
	rc = harness_run(&H, argv, 120, output, sizeof(output));
	if (rc != 0)
		fail_msg("%s", output);
	assert_non_null(strstr(output, "final evaluation"));
}

/* Whether the global parameters after round 1 of two runs are equal, value
 * for value (the files also carry each job's own metadata). */
static bool same_globals(const char *exp_a, const char *exp_b)
{
	char path[2][700];
	struct fedc_params *p[2] = { NULL, NULL };
	bool same;

	snprintf(path[0], sizeof(path[0]), "%s-out/breakpoints/round-000001/global.params", exp_a);
	snprintf(path[1], sizeof(path[1]), "%s-out/breakpoints/round-000001/global.params", exp_b);
	assert_int_equal(fedc_params_open(path[0], &p[0]), FEDC_OK);
	assert_int_equal(fedc_params_open(path[1], &p[1]), FEDC_OK);
	assert_int_equal(fedc_params_count(p[0]), 4); /* dense0.weight, dense0.bias, feature_mean, feature_std */
	same = fedc_params_count(p[0]) == fedc_params_count(p[1]);
	for (size_t i = 0; same && i < fedc_params_count(p[0]); i++) {
		const struct fedc_tensor *a = &fedc_params_tensors(p[0])[i];
		const struct fedc_tensor *b = fedc_params_find(p[1], a->name);

		same = b && fedc_tensor_same_layout(a, b) &&
		       memcmp(a->data, b->data, fedc_tensor_elements(a) * fedc_dtype_size(a->dtype)) == 0;
	}
	fedc_params_close(p[0]);
	fedc_params_close(p[1]);
	return same;
}

/* The "loss" of the final evaluation in the history of `exp` (the global
 * parameters on the node's test rows), or NaN. */
static double final_loss(const char *exp)
{
	static char line[1 << 20];
	char path[600];
	FILE *f;
	double v = NAN;

	snprintf(path, sizeof(path), "%s-out/history.jsonl", exp);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		const char *m = strstr(line, "\"global_metrics\":");
		const char *at = m ? strstr(m, "\"loss\":") : NULL;

		if (strstr(line, "\"type\":\"node\"") && strstr(line, "\"kind\":\"evaluate\"") && at)
			v = strtod(at + strlen("\"loss\":"), NULL);
	}
	fclose(f);
	return v;
}

/* fedc-centralized --node-id solo on the experiment: its "test loss", the
 * round trained with the seed anyone can compute from the experiment. */
static double centralized_loss(const char *exp)
{
	const char *argv[] = { harness_bin("fedc-centralized"), "--node-id", "solo", exp, csv, NULL };
	const char *at;
	int rc;

	output[0] = '\n';
	rc = harness_run(&H, argv, 120, output + 1, sizeof(output) - 1);
	if (rc != 0)
		fail_msg("%s", output);
	at = strstr(output, "\ntest loss ");
	assert_non_null(at);
	return strtod(at + strlen("\ntest loss "), NULL);
}

static void test_secret_training_seed(void **state)
{
	char on1[512], on2[512], off1[512], off2[512], on3[512];
	double outside, loss_on, loss_off;

	(void)state;
	/* Key on: repeats bit for bit, and the outside cannot reproduce it. */
	run("on-1", on1, sizeof(on1));
	run("on-2", on2, sizeof(on2));
	assert_true(same_globals(on1, on2));
	outside = centralized_loss(on1);
	loss_on = final_loss(on1);
	fprintf(stderr, "  key on:  node test loss %.17g, fedc-centralized %.17g\n", loss_on, outside);
	assert_true(isfinite(loss_on) && isfinite(outside));
	assert_true(loss_on != outside);

	/* Key off: another round than with the key, and the one fedc-centralized
	 * computes, to the last bit. */
	assert_int_equal(harness_node_limits(&H, 0, "train_timeout_s = 60\n[privacy]\nsecret_training_seed = false\n"),
			 0);
	restart_node();
	run("off-1", off1, sizeof(off1));
	run("off-2", off2, sizeof(off2));
	assert_true(same_globals(off1, off2));
	assert_false(same_globals(on1, off1));
	loss_off = final_loss(off1);
	fprintf(stderr, "  key off: node test loss %.17g, fedc-centralized %.17g\n", loss_off, outside);
	assert_true(loss_off == outside);

	/* On again after a restart: the secret, hence the round, is the same. */
	edit_config("secret_training_seed = false", "secret_training_seed = true");
	restart_node();
	run("on-3", on3, sizeof(on3));
	assert_true(same_globals(on1, on3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_training_seed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
