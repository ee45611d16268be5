/* Cross-site validation on the real stack (Mosquitto, repository server,
 * three node daemons holding differently sized shares of the breast-cancer
 * data, logistic regression): with [training] cross_site_validation = true
 * the run keeps each node's model of the last round and has every node
 * evaluate the global model and each local model. The global row equals the
 * final evaluation node by node, exactly; the diagonal (node i's model on
 * node i's test rows) equals the test metrics node i reported for its
 * trained model in the last round, exactly; off the diagonal the figures
 * differ. `fedc-researcher xval DIR` with a node stopped leaves that node's
 * column empty with the reason; secure aggregation is refused, at load and
 * by `xval` on such a run. */
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

#include "harness.h"

#define N_NODES 3
#define ROUNDS 3

static struct harness H;
static char output[1 << 16];
static const size_t rows[N_NODES][2] = { { 0, 80 }, { 80, 200 }, { 280, 289 } };
static char xval_exp[600]; /* the run test_run_xval made */

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

/* Experiment `name` (output in dir/name.ini-out) with `training` lines added
 * to [training] and `extra` to [experiment]. */
static void write_exp(const char *name, const char *training, const char *extra, char *path, size_t cap)
{
	char *text = calloc(1, 1 << 16), *at;
	FILE *f;
	size_t len;

	assert_non_null(text);
	snprintf(path, cap, "%s/%s.ini", H.dir, name);
	assert_int_equal(harness_write_experiment(&H, path, harness_plan("logreg"), "bc", ROUNDS, 2, 60,
						  "n_features = 30", extra),
			 0);
	f = fopen(path, "r");
	assert_non_null(f);
	len = fread(text, 1, (1 << 16) - 1, f);
	fclose(f);
	text[len] = '\0';
	at = strstr(text, "[training]\n");
	assert_non_null(at);
	at += strlen("[training]\n");
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%.*s%s%s", (int)(at - text), text, training, at);
	assert_int_equal(fclose(f), 0);
	free(text);
}

static int researcher(const char *cmd, const char *arg)
{
	const char *argv[] = { harness_bin("fedc-researcher"), cmd, arg, NULL };

	return harness_run(&H, argv, 300, output, sizeof(output));
}

static json_t *load_json(const char *path)
{
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err);

	if (!root)
		fail_msg("%s: %s", path, err.text);
	return root;
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static double num(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_number(v))
		fail_msg("no number \"%s\"", key);
	return json_number_value(v);
}

/* The history record of `node` of kind `kind` in round `round` (owned). */
static json_t *node_record(const char *out_dir, const char *kind, unsigned round, const char *node)
{
	char path[700], line[1 << 14];
	json_t *found = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/history.jsonl", out_dir);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		json_t *o = json_loads(line, 0, NULL);

		assert_non_null(o);
		if (strcmp(str(o, "type"), "node") == 0 && strcmp(str(o, "kind"), kind) == 0 &&
		    json_integer_value(json_object_get(o, "round")) == round && strcmp(str(o, "node_id"), node) == 0) {
			json_decref(found);
			found = json_incref(o);
		}
		json_decref(o);
	}
	fclose(f);
	if (!found)
		fail_msg("no %s record of %s in round %u", kind, node, round);
	return found;
}

/* The cell of xval.json for model `model_node` ("" global) on `node`. */
static json_t *cell(json_t *xval, const char *model_node, const char *node)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(xval, "cells"), i, c) {
		if (strcmp(str(c, "model_node"), model_node) == 0 && strcmp(str(c, "node_id"), node) == 0)
			return c;
	}
	fail_msg("no cell for model \"%s\" on %s", model_node, node);
	return NULL;
}

static size_t count_lines_with(const char *path, const char *needle)
{
	char line[1 << 16];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void test_run_xval(void **state)
{
	char out_dir[700], path[800], node[3][16];
	json_t *xval;

	(void)state;
	write_exp("xval", "cross_site_validation = true\n", NULL, xval_exp, sizeof(xval_exp));
	if (researcher("run", xval_exp) != 0)
		fail_msg("run failed:\n%s", output);
	assert_non_null(strstr(output, "cross-site validation: accuracy"));
	snprintf(out_dir, sizeof(out_dir), "%s-out", xval_exp);
	snprintf(path, sizeof(path), "%s/xval.json", out_dir);
	xval = load_json(path);
	assert_int_equal(json_array_size(json_object_get(xval, "models")), 1 + N_NODES);
	assert_int_equal(json_array_size(json_object_get(xval, "cells")), (1 + N_NODES) * N_NODES);
	for (size_t i = 0; i < N_NODES; i++)
		snprintf(node[i], sizeof(node[i]), "site-%zu", i);
	for (size_t k = 0; k < N_NODES; k++) {
		/* the global row: the final evaluation's figures, bit for bit */
		json_t *final = node_record(out_dir, "evaluate", ROUNDS + 1, node[k]);
		json_t *g = json_object_get(cell(xval, "", node[k]), "metrics");

		assert_true(json_equal(g, json_object_get(final, "global_metrics")));
		json_decref(final);
		/* the diagonal: what node k reported for its trained model */
		json_t *last = node_record(out_dir, "train", ROUNDS, node[k]);
		json_t *own = json_object_get(cell(xval, node[k], node[k]), "metrics");
		json_t *reported = json_object_get(last, "metrics");

		assert_true(num(own, "loss") == num(reported, "test_loss"));
		assert_true(num(own, "accuracy") == num(reported, "test_accuracy"));
		/* off the diagonal: another node's model scores otherwise here */
		for (size_t i = 0; i < N_NODES; i++) {
			if (i != k)
				assert_true(num(json_object_get(cell(xval, node[i], node[k]), "metrics"), "loss") !=
					    num(own, "loss"));
		}
		json_decref(last);
	}
	json_decref(xval);
	snprintf(path, sizeof(path), "%s/history.jsonl", out_dir);
	assert_int_equal(count_lines_with(path, "\"type\":\"xval\""), 1);
	snprintf(path, sizeof(path), "%s/xval.svg", out_dir);
	assert_true(harness_file_contains(path, "<svg"));
	assert_true(harness_file_contains(path, "local site-1"));
	snprintf(path, sizeof(path), "%s/local/index.json", out_dir);
	assert_true(harness_file_contains(path, "\"digest\": \""));
}

static void test_secagg_refused(void **state)
{
	char exp[600];

	(void)state;
	write_exp("both", "cross_site_validation = true\n", "\n[privacy]\nsecure_aggregation = on\n", exp,
		  sizeof(exp));
	assert_int_equal(researcher("run", exp), 2);
	assert_non_null(strstr(output, "cross_site_validation = true does not go with [privacy] secure_aggregation"));
	/* a secure-aggregation run has no local models to validate */
	write_exp("secagg", "", "\n[privacy]\nsecure_aggregation = on\nsecagg_timeout_s = 20\n", exp, sizeof(exp));
	if (researcher("run", exp) != 0)
		fail_msg("run failed:\n%s", output);
	strcat(exp, "-out");
	assert_int_equal(researcher("xval", exp), 1);
	assert_non_null(strstr(output, "used secure aggregation"));
	assert_non_null(strstr(output, "no node's own model to validate"));
}

static void test_xval_without_local_models(void **state)
{
	char exp[600];

	(void)state;
	write_exp("plain", "", NULL, exp, sizeof(exp));
	if (researcher("run", exp) != 0)
		fail_msg("run failed:\n%s", output);
	strcat(exp, "-out");
	assert_int_equal(researcher("xval", exp), 1);
	assert_non_null(strstr(output, "cross_site_validation = true"));
	assert_int_equal(researcher("xval", H.dir), 1); /* no run at all */
	assert_non_null(strstr(output, "holds no run"));
	assert_int_equal(researcher("xval", "/nonexistent/out"), 1);
	assert_non_null(strstr(output, "no such directory"));
}

/* Again after the run, with site-2 stopped: its column is empty, with the
 * reason; its model is still scored by the others. */
static void test_xval_node_stopped(void **state)
{
	char out_dir[700], path[800];
	json_t *xval;

	(void)state;
	assert_true(xval_exp[0]);
	assert_true(harness_stop(&H.nodes[2].proc, SIGTERM, 10000) >= 0);
	assert_int_equal(harness_wait_status(&H, "site-2", "offline", 10000), 0);
	snprintf(out_dir, sizeof(out_dir), "%s-out", xval_exp);
	if (researcher("xval", out_dir) != 0)
		fail_msg("xval failed:\n%s", output);
	assert_non_null(strstr(output, "node site-2: offline: node is offline (4 of 4 model(s))"));
	snprintf(path, sizeof(path), "%s/xval.json", out_dir);
	xval = load_json(path);
	for (size_t row = 0; row <= N_NODES; row++) {
		char model[16];

		snprintf(model, sizeof(model), row ? "site-%zu" : "", row - 1);
		assert_string_equal(str(cell(xval, model, "site-2"), "status"), "offline");
		assert_string_equal(str(cell(xval, model, "site-2"), "reason"), "node is offline");
		assert_null(json_object_get(cell(xval, model, "site-2"), "metrics"));
		assert_non_null(json_object_get(cell(xval, model, "site-0"), "metrics"));
		assert_non_null(json_object_get(cell(xval, model, "site-1"), "metrics"));
	}
	json_decref(xval);
	snprintf(path, sizeof(path), "%s/history.jsonl", out_dir);
	assert_int_equal(count_lines_with(path, "\"type\":\"xval\""), 2);
	/* a kept model that changed is refused, not validated */
	snprintf(path, sizeof(path), "%s/local/site-0.params", out_dir);
	{
		FILE *f = fopen(path, "r+b");

		assert_non_null(f);
		int c;

		assert_int_equal(fseek(f, -1, SEEK_END), 0);
		c = fgetc(f);
		assert_int_equal(fseek(f, -1, SEEK_END), 0);
		fputc(c ^ 0xff, f);
		assert_int_equal(fclose(f), 0);
	}
	assert_int_equal(researcher("xval", out_dir), 1);
	assert_non_null(strstr(output, "changed since the run kept it"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_xval),
		cmocka_unit_test(test_secagg_refused),
		cmocka_unit_test(test_xval_without_local_models),
		cmocka_unit_test(test_xval_node_stopped),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
