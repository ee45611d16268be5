/* The robustness stage end to end (researcher/assess.h kind robust,
 * node/assess.h, node/plan_robust.h): a real run of the logreg example over
 * breast-cancer data split across three node daemons (real Mosquitto and
 * repository), with a [robustness] section, so `run` ends with the stage.
 *   The stage after `run`: its table in the run's output, robust.json and
 *   robust.svg written.
 *   `fedc-researcher robust`: clean accuracy equal to the run's final
 *   global test accuracy (the same rows, weighted by the same n_test),
 *   accuracy at eps 0.5 below clean, PGD equal to FGSM (a linear model:
 *   the gradient's sign never changes).
 *   Refusals before anything is sent: --epsilons -1, --attacks foo,
 *   --pgd-steps 0. A plan of ABI 3 (no input_gradient) refused by the
 *   nodes naming input_gradient; its [robustness] stage fails without
 *   failing its run, and says how to try again. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct harness H;
static char output[1 << 16];
static const size_t rows[3][2] = { { 0, 200 }, { 200, 200 }, { 400, 169 } };
static char run_dir[600];

/* Rows [first, first + count) of the breast-cancer CSV, under its header
 * with the count replaced. */
static int write_split(const char *dst, size_t first, size_t count)
{
	FILE *in = fopen(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", "r"), *out = fopen(dst, "w");
	char line[8192];
	size_t row = 0;
	int rc = -1;

	if (!in || !out || !fgets(line, sizeof(line), in))
		goto out;
	fprintf(out, "%zu%s", count, strchr(line, ','));
	while (fgets(line, sizeof(line), in)) {
		if (row >= first && row < first + count)
			fputs(line, out);
		row++;
	}
	rc = 0;
out:
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		rc = -1;
	return rc;
}

static int approve(size_t node, const char *plan)
{
	const char *argv[] = { harness_bin("fedc-node"), "--config", H.nodes[node].config, "plan", "approve", plan,
			       NULL };

	return harness_run(&H, argv, 30, output, sizeof(output));
}

static int researcher(const char *const *args)
{
	const char *argv[16] = { harness_bin("fedc-researcher") };

	for (size_t i = 0; args[i] && i < 14; i++)
		argv[i + 1] = args[i];
	return harness_run(&H, argv, 300, output, sizeof(output));
}

static char run_output[1 << 16]; /* what `run` printed, the stage included */

static int setup(void **state)
{
	char csv[512], id[32], exp[512];

	(void)state;
	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(csv, sizeof(csv), "%s/site-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "site-%zu", i);
		if (write_split(csv, rows[i][0], rows[i][1]) ||
		    harness_add_node(&H, id, csv, "bc", harness_plan("logreg")) != (int)i ||
		    approve(i, harness_plan("fixtures/abi3")) != 0 || harness_start_node(&H, i))
			return -1;
	}
	snprintf(exp, sizeof(exp), "%s/logreg.ini", H.dir);
	snprintf(run_dir, sizeof(run_dir), "%s-out", exp);
	if (harness_write_experiment(&H, exp, harness_plan("logreg"), "bc", 3, 3, 60, "n_features = 30",
				     "\n[robustness]\nattacks = fgsm\nepsilons = 0.05, 0.5\n") ||
	    researcher((const char *[]){ "run", exp, NULL }) != 0) {
		fprintf(stderr, "run failed: %s\n", output);
		return -1;
	}
	snprintf(run_output, sizeof(run_output), "%s", output);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

static json_t *load_json(const char *dir, const char *name)
{
	char path[700];
	json_t *doc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	doc = json_load_file(path, 0, NULL);
	assert_non_null(doc);
	return doc;
}

/* The value of `metric` under `attack` at `eps` in robust.json, or NAN. */
static double result(const json_t *doc, const char *attack, double eps, const char *metric)
{
	size_t i;
	json_t *item;

	json_array_foreach(json_object_get(doc, "results"), i, item) {
		if (strcmp(json_string_value(json_object_get(item, "attack")), attack) == 0 &&
		    json_number_value(json_object_get(item, "epsilon")) == eps &&
		    strcmp(json_string_value(json_object_get(item, "metric")), metric) == 0)
			return json_number_value(json_object_get(item, "value"));
	}
	return NAN;
}

/* global_accuracy of the final evaluation in the run's history.jsonl. */
static double final_accuracy(void)
{
	char path[700], line[1 << 14];
	double acc = NAN;
	FILE *f;

	snprintf(path, sizeof(path), "%s/history.jsonl", run_dir);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		json_t *rec = json_loads(line, 0, NULL);
		const char *kind = rec ? json_string_value(json_object_get(rec, "kind")) : NULL;

		if (kind && strcmp(kind, "evaluate") == 0 && json_object_get(rec, "global_accuracy"))
			acc = json_number_value(json_object_get(rec, "global_accuracy"));
		json_decref(rec);
	}
	fclose(f);
	return acc;
}

static void test_run_ends_with_the_stage(void **state)
{
	json_t *doc;
	char svg[700];

	(void)state;
	assert_non_null(strstr(run_output, "robustness stage"));
	assert_non_null(strstr(run_output, "fgsm"));
	assert_non_null(strstr(run_output, "robust.json"));
	doc = load_json(run_dir, "robust.json");
	assert_true(isfinite(result(doc, "clean", 0, "accuracy")));
	assert_true(isfinite(result(doc, "fgsm", 0.5, "accuracy")));
	assert_true(isnan(result(doc, "pgd", 0.5, "accuracy"))); /* attacks = fgsm only */
	assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 3);
	json_decref(doc);
	snprintf(svg, sizeof(svg), "%s/robust.svg", run_dir);
	assert_true(harness_file_contains(svg, "<svg"));
}

static void test_robust_against_the_final_evaluation(void **state)
{
	double clean, final = final_accuracy();
	json_t *doc;

	(void)state;
	assert_int_equal(researcher((const char *[]){ "robust", run_dir, "--attacks", "fgsm,pgd", "--epsilons",
						      "0.1,0.5", "--pgd-steps", "5", NULL }),
			 0);
	assert_non_null(strstr(output, "attack"));
	assert_non_null(strstr(output, "node site-0 dataset"));
	doc = load_json(run_dir, "robust.json");
	clean = result(doc, "clean", 0, "accuracy");
	/* the same test rows and weights as the final evaluation: equal up to the
	 * order of one weighted sum's additions */
	assert_true(isfinite(final));
	assert_true(fabs(clean - final) <= 1e-12);
	assert_true(clean > 0.9);
	assert_true(result(doc, "fgsm", 0.5, "accuracy") < clean);
	assert_true(result(doc, "fgsm", 0.1, "accuracy") <= clean);
	/* logistic regression: PGD finds what FGSM finds */
	assert_true(result(doc, "pgd", 0.5, "accuracy") == result(doc, "fgsm", 0.5, "accuracy"));
	assert_true(result(doc, "pgd", 0.1, "accuracy") == result(doc, "fgsm", 0.1, "accuracy"));
	assert_true(isfinite(result(doc, "pgd", 0.5, "loss")));
	json_decref(doc);
}

static void test_robust_bad_arguments(void **state)
{
	(void)state;
	assert_int_equal(researcher((const char *[]){ "robust", run_dir, "--epsilons", "-1", NULL }), 2);
	assert_non_null(strstr(output, "epsilons: -1 must be from 0"));
	assert_int_equal(researcher((const char *[]){ "robust", run_dir, "--attacks", "foo", NULL }), 2);
	assert_non_null(strstr(output, "unknown attack \"foo\""));
	assert_int_equal(researcher((const char *[]){ "robust", run_dir, "--pgd-steps", "0", NULL }), 2);
	assert_non_null(strstr(output, "pgd_steps"));
	assert_int_equal(researcher((const char *[]){ "robust", run_dir, "--clip", "1", NULL }), 2);
	assert_non_null(strstr(output, "--clip"));
	/* refused before anything was sent: no node log says robust */
	assert_null(strstr(output, "node site-0"));
}

static void test_robust_bad_section(void **state)
{
	char exp[512];

	(void)state;
	snprintf(exp, sizeof(exp), "%s/bad-section.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "bc", 1, 3, 60, "n_features = 30",
						  "\n[robustness]\nepsilons = 0.1\nsteps = 3\n"),
			 0);
	assert_int_equal(researcher((const char *[]){ "run", exp, NULL }), 2);
	assert_non_null(strstr(output, "steps"));
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "bc", 1, 3, 60, "n_features = 30",
						  "\n[robustness]\nepsilons = 0.1, -0.5\n"),
			 0);
	assert_int_equal(researcher((const char *[]){ "run", exp, NULL }), 2);
	assert_non_null(strstr(output, "[robustness]"));
	assert_non_null(strstr(output, "epsilons"));
}

static void test_robust_with_a_plan_without_input_gradient(void **state)
{
	char exp[512], dir[600];

	(void)state;
	snprintf(exp, sizeof(exp), "%s/abi3.ini", H.dir);
	snprintf(dir, sizeof(dir), "%s-out", exp);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/abi3"), "bc", 1, 3, 60, "",
						  "\n[robustness]\nepsilons = 0.1\n"),
			 0);
	/* the stage fails, the run does not */
	assert_int_equal(researcher((const char *[]){ "run", exp, NULL }), 0);
	assert_non_null(strstr(output, "input_gradient"));
	assert_non_null(strstr(output, "the robustness stage failed"));
	assert_non_null(strstr(output, "fedc-researcher robust"));
	assert_int_equal(researcher((const char *[]){ "robust", dir, NULL }), 1);
	assert_non_null(strstr(output, "input_gradient"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_ends_with_the_stage),
		cmocka_unit_test(test_robust_against_the_final_evaluation),
		cmocka_unit_test(test_robust_bad_arguments),
		cmocka_unit_test(test_robust_bad_section),
		cmocka_unit_test(test_robust_with_a_plan_without_input_gradient),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
