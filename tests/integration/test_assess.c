/* Using the final model at the nodes (researcher/assess.h, node/assess.h):
 * `fedc-researcher predict` and `explain` after a real run of the logreg
 * example over breast-cancer data split across three node daemons (real
 * Mosquitto and repository). Every row carries an extra constant column
 * (column 30), which no model can use.
 *   predict: the pooled confusion matrix equals the one this test counts
 *   from the three nodes' prediction files (mode 0600), it covers every row
 *   of the datasets, and the AUC is within its stated histogram bound of the
 *   exact AUC computed here from the files.
 *   explain: the top feature is a known-important one (mean concave points,
 *   or one of the worst_* columns), and the constant column's importance is 0.
 *   Refusals: a tag nobody holds, a plan of ABI 3 (no predict()), bad
 *   --repeats. */
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
#include <sys/stat.h>

#include "harness.h"

#define N_FEATURES 31 /* 30 measurements and the constant column */
#define CONSTANT_COLUMN 30

static struct harness H;
static char output[1 << 16];
static const size_t rows[3][2] = { { 0, 200 }, { 200, 200 }, { 400, 169 } };
static char run_dir[600];

/* Rows [first, first + count) of the breast-cancer CSV, with a constant
 * column before the label. */
static int write_split(const char *dst, size_t first, size_t count)
{
	FILE *in = fopen(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", "r"), *out = fopen(dst, "w");
	char line[8192];
	size_t row = 0;
	int rc = -1;

	if (!in || !out || !fgets(line, sizeof(line), in))
		goto out;
	fprintf(out, "%zu,%d,malignant,benign\n", count, N_FEATURES);
	while (fgets(line, sizeof(line), in)) {
		char *label = strrchr(line, ',');

		if (row >= first && row < first + count && label) {
			*label = '\0';
			fprintf(out, "%s,1.5,%s", line, label + 1);
		}
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
	const char *argv[12] = { harness_bin("fedc-researcher") };

	for (size_t i = 0; args[i] && i < 10; i++)
		argv[i + 1] = args[i];
	return harness_run(&H, argv, 180, output, sizeof(output));
}

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
	if (harness_write_experiment(&H, exp, harness_plan("logreg"), "bc", 3, 3, 60, "n_features = 31", NULL) ||
	    researcher((const char *[]){ "run", exp, NULL }) != 0) {
		fprintf(stderr, "run failed: %s\n", output);
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

static json_t *load_json(const char *name)
{
	char path[700];
	json_t *doc;

	snprintf(path, sizeof(path), "%s/%s", run_dir, name);
	doc = json_load_file(path, 0, NULL);
	assert_non_null(doc);
	return doc;
}

struct scored {
	float p;
	int label;
};

/* Reads one node's predictions file into the confusion matrix and the
 * list of (probability of class 1, label); returns its rows. */
static size_t read_predictions(const char *path, uint64_t cm[2][2], struct scored *all, size_t at)
{
	FILE *f = fopen(path, "r");
	char line[512];
	struct stat st;
	size_t n = 0;

	assert_non_null(f);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "row,label,predicted,p0,p1\n");
	while (fgets(line, sizeof(line), f)) {
		unsigned long row;
		float label, p0, p1;
		unsigned predicted;

		assert_int_equal(sscanf(line, "%lu,%g,%u,%g,%g", &row, &label, &predicted, &p0, &p1), 5);
		assert_int_equal(row, n);
		assert_true(fabsf(p0 + p1 - 1.0f) < 1e-3f);
		assert_int_equal(predicted, p1 > p0 ? 1u : 0u);
		cm[(int)label][predicted]++;
		all[at + n].p = p1;
		all[at + n].label = (int)label;
		n++;
	}
	fclose(f);
	return n;
}

/* The exact AUC of class 1: the share of (positive, negative) pairs ordered
 * right, ties counted half. */
static double exact_auc(const struct scored *s, size_t n)
{
	double good = 0, pairs = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			if (s[i].label == 1 && s[j].label == 0) {
				good += s[i].p > s[j].p ? 1 : s[i].p == s[j].p ? 0.5 : 0;
				pairs++;
			}
	return good / pairs;
}

static void test_predict_pools_what_the_nodes_wrote(void **state)
{
	uint64_t cm[2][2] = { { 0 } };
	struct scored *all = calloc(569, sizeof(*all));
	json_t *doc, *node;
	size_t total = 0, i;
	double auc, bound;

	(void)state;
	assert_int_equal(researcher((const char *[]){ "predict", run_dir, "--dataset-tags", "bc", NULL }), 0);
	assert_non_null(strstr(output, "confusion matrix"));
	doc = load_json("predict.json");
	assert_int_equal(json_integer_value(json_object_get(doc, "rows")), 569);
	assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 3);
	json_array_foreach(json_object_get(doc, "nodes"), i, node) {
		size_t n = read_predictions(json_string_value(json_object_get(node, "predictions")), cm, all, total);

		assert_int_equal(n, rows[i][1]);
		assert_int_equal(json_integer_value(json_object_get(node, "rows")), n);
		total += n;
	}
	assert_int_equal(total, 569);
	for (size_t t = 0; t < 2; t++)
		for (size_t p = 0; p < 2; p++)
			assert_int_equal(json_integer_value(json_array_get(json_array_get(json_object_get(doc, "confusion"), t), p)),
					 cm[t][p]);
	assert_true((double)(cm[0][0] + cm[1][1]) / 569 > 0.9); /* a trained model, not a constant */
	auc = json_real_value(json_object_get(doc, "auc"));
	bound = json_real_value(json_object_get(doc, "auc_bound"));
	assert_true(bound >= 0 && bound < 0.05);
	assert_true(fabs(auc - exact_auc(all, total)) <= bound + 1e-9);
	assert_true(json_real_value(json_object_get(doc, "ece")) >= 0);
	json_decref(doc);
	free(all);
	snprintf(output, sizeof(output), "%s/reliability.svg", run_dir);
	assert_true(harness_file_contains(output, "share right"));
}

static void test_explain_finds_the_known_features(void **state)
{
	json_t *doc, *first, *item;
	size_t i;
	long top;
	bool constant_seen = false;

	(void)state;
	assert_int_equal(researcher((const char *[]){ "explain", run_dir, "--repeats", "10", "--metric", "loss", NULL }), 0);
	doc = load_json("explain.json");
	assert_int_equal(json_array_size(json_object_get(doc, "importance")), N_FEATURES);
	first = json_array_get(json_object_get(doc, "importance"), 0);
	top = (long)json_integer_value(json_object_get(first, "column"));
	assert_true(top == 7 || (top >= 20 && top <= 29));
	assert_true(json_real_value(json_object_get(first, "importance")) > 0);
	json_array_foreach(json_object_get(doc, "importance"), i, item) {
		if (json_integer_value(json_object_get(item, "column")) == CONSTANT_COLUMN) {
			assert_true(json_number_value(json_object_get(item, "importance")) == 0.0);
			assert_string_equal(json_string_value(json_object_get(item, "feature")), "x30");
			constant_seen = true;
		}
	}
	assert_true(constant_seen);
	json_decref(doc);
	snprintf(output, sizeof(output), "%s/explain.svg", run_dir);
	assert_true(harness_file_contains(output, "<svg"));
}

static void test_predict_on_a_tag_nobody_holds(void **state)
{
	(void)state;
	assert_int_equal(researcher((const char *[]){ "predict", run_dir, "--dataset-tags", "nobody", NULL }), 1);
	assert_non_null(strstr(output, "no node holds a dataset tagged nobody"));
}

static void test_explain_bad_repeats(void **state)
{
	(void)state;
	assert_int_not_equal(researcher((const char *[]){ "explain", run_dir, "--repeats", "0", NULL }), 0);
	assert_non_null(strstr(output, "--repeats"));
	assert_int_not_equal(researcher((const char *[]){ "explain", run_dir, "--repeats", "x", NULL }), 0);
}

static void test_predict_with_a_plan_without_predict(void **state)
{
	char exp[512], dir[600];

	(void)state;
	snprintf(exp, sizeof(exp), "%s/abi3.ini", H.dir);
	snprintf(dir, sizeof(dir), "%s-out", exp);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/abi3"), "bc", 1, 3, 60, "", NULL),
			 0);
	assert_int_equal(researcher((const char *[]){ "run", exp, NULL }), 0);
	assert_int_equal(researcher((const char *[]){ "predict", dir, NULL }), 1);
	assert_non_null(strstr(output, "has no predict()"));
}

static void test_predict_missing_run(void **state)
{
	(void)state;
	assert_int_equal(researcher((const char *[]){ "predict", H.dir, NULL }), 1);
	assert_non_null(strstr(output, "holds no finished round"));
	assert_int_equal(researcher((const char *[]){ "predict", run_dir, "--best", NULL }), 1);
	assert_non_null(strstr(output, "keep_best"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_predict_pools_what_the_nodes_wrote),
		cmocka_unit_test(test_explain_finds_the_known_features),
		cmocka_unit_test(test_predict_on_a_tag_nobody_holds),
		cmocka_unit_test(test_explain_bad_repeats),
		cmocka_unit_test(test_predict_with_a_plan_without_predict),
		cmocka_unit_test(test_predict_missing_run),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
