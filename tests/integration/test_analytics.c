/* Federated analytics on a real stack (docs/researcher-guide.md, "Federated
 * analytics"): Mosquitto, fedc-repository and three fedc-node daemons, each
 * with a part of the breast-cancer data. Without noise the combined results
 * must equal the same statistics computed here on the pooled rows; with
 * Laplace noise they must lie within the noise the nodes state, and the
 * nodes' budgets must refuse what would pass them. Bad queries must say what
 * to change. */
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

#define N_NODES 3
#define N_ROWS 569
#define N_FEATURES 30

static struct harness H;
static const size_t shares[N_NODES][2] = { { 0, 200 }, { 200, 200 }, { 400, 169 } };
static char output[1 << 16];
static float rows[N_ROWS][N_FEATURES + 1]; /* features, then the label */

static int append(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

/* The pooled data, read as the node reads it: floats. */
static int read_pooled(void)
{
	FILE *f = fopen(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", "r");
	char line[4096];
	size_t r = 0;

	if (!f || !fgets(line, sizeof(line), f))
		return -1;
	while (r < N_ROWS && fgets(line, sizeof(line), f)) {
		char *p = line;

		for (size_t c = 0; c <= N_FEATURES; c++) {
			rows[r][c] = strtof(p, &p);
			p += *p == ',';
		}
		r++;
	}
	fclose(f);
	return r == N_ROWS ? 0 : -1;
}

static const char *policy_exact = "\n[analytics]\nenabled = true\nnoise = none\nmin_count = 5\n";
static const char *policy_noisy = "\n[analytics]\nenabled = true\nnoise = laplace\nmin_count = 5\n"
				  "max_epsilon_per_query = 1\nbudget = 1.5\nbounds = c0:0:30\n";

/* Writes node i's config as the harness made it plus `policy`. */
static int set_policy(size_t i, const char *policy)
{
	static char base[N_NODES][8192];
	FILE *f;

	if (!base[i][0]) {
		f = fopen(H.nodes[i].config, "r");
		if (!f || fread(base[i], 1, sizeof(base[i]) - 1, f) == 0)
			return -1;
		fclose(f);
	}
	f = fopen(H.nodes[i].config, "w");
	if (!f)
		return -1;
	fputs(base[i], f);
	fclose(f);
	return append(H.nodes[i].config, policy);
}

static int restart_nodes(const char *policy)
{
	for (size_t i = 0; i < N_NODES; i++) {
		if (H.nodes[i].proc.pid > 0 && harness_stop(&H.nodes[i].proc, 15, 10000) < 0)
			return -1;
		if (set_policy(i, policy) || harness_start_node(&H, i) != 0)
			return -1;
	}
	return 0;
}

static int setup(void **state)
{
	char csv[512], id[32];

	(void)state;
	if (read_pooled() || harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < N_NODES; i++) {
		snprintf(csv, sizeof(csv), "%s/hospital-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "hospital-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, shares[i][0],
				      shares[i][1]) ||
		    harness_add_node(&H, id, csv, "breast-cancer", harness_plan("logreg")) != (int)i)
			return -1;
	}
	return restart_nodes(policy_exact);
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

/* Writes QUERY.ini ([analytics] `body` and the network) and runs the
 * researcher on it; its exit code, its output in `output`. */
static int run_query(const char *name, const char *body)
{
	char path[512], outdir[512];
	const char *argv[] = { harness_bin("fedc-researcher"), "analytics", path, "--output", outdir, NULL };
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.ini", H.dir, name);
	snprintf(outdir, sizeof(outdir), "%s/%s", H.dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[analytics]\ndataset_tags = breast-cancer\n%s\n%s", body, harness_network_section(&H));
	fclose(f);
	int code = harness_run(&H, argv, 60, output, sizeof(output));

	print_message("%s: exit %d\n%s", name, code, output); /* shown when a test fails */
	return code;
}

static json_t *load_json(const char *name)
{
	char path[512];
	json_error_t err;
	json_t *doc;

	snprintf(path, sizeof(path), "%s/%s/analytics.json", H.dir, name);
	doc = json_load_file(path, 0, &err);
	if (!doc)
		fail_msg("%s: %s", path, err.text);
	return doc;
}

/* The cell of `group` and `column` in analytics.json. */
static json_t *cell(json_t *doc, const char *group, const char *column)
{
	json_t *cells = json_object_get(doc, "cells"), *c;
	size_t i;

	json_array_foreach(cells, i, c) {
		if (strcmp(json_string_value(json_object_get(c, "group")), group) == 0 &&
		    strcmp(json_string_value(json_object_get(c, "column")), column) == 0)
			return c;
	}
	fail_msg("no cell %s/%s in analytics.json", group, column);
	return NULL;
}

static double num(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	assert_true(json_is_number(v));
	return json_number_value(v);
}

struct pooled {
	double count, sum, sumsq, min, max, bins[8];
	long double mean, m2; /* two-pass, in long double: the reference */
};

/* The pooled statistics of column `col` over rows with label `label` and
 * c1 > 15 (the query's filter), histogram over `edges`. */
static struct pooled pooled_stats(size_t col, int label, const double *edges, size_t n_edges)
{
	struct pooled p = { 0 };

	for (int pass = 0; pass < 2; pass++) {
		for (size_t r = 0; r < N_ROWS; r++) {
			double v = rows[r][col];

			if (!(rows[r][1] > 15.0f) || rows[r][N_FEATURES] != (float)label)
				continue;
			if (pass == 1) {
				p.m2 += ((long double)v - p.mean) * ((long double)v - p.mean);
				continue;
			}
			p.min = p.count == 0 || v < p.min ? v : p.min;
			p.max = p.count == 0 || v > p.max ? v : p.max;
			p.count++;
			p.sum += v;
			p.sumsq += v * v;
			for (size_t b = 0; b + 1 < n_edges; b++) {
				if (v >= edges[b] && (v < edges[b + 1] || (b + 2 == n_edges && v == edges[b + 1]))) {
					p.bins[b]++;
					break;
				}
			}
		}
		if (pass == 0)
			p.mean = (long double)p.sum / p.count;
	}
	return p;
}

static void assert_close(double got, double want, double rel, const char *what)
{
	if (!(fabs(got - want) <= rel * fmax(1.0, fabs(want))))
		fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

static const char exact_query[] = "columns = c0, c3\n"
				  "statistics = count, sum, mean, variance, std, min, max, histogram, quantiles\n"
				  "filter = c1 > 15 and (label == 0 or label == 1)\n"
				  "group_by = label\n"
				  "bins.c0 = 5, 10, 15, 20, 25, 30\n";

/* Without noise: every combined figure is the pooled one. */
static void test_exact_equals_pooled(void **state)
{
	static const double edges[] = { 5, 10, 15, 20, 25, 30 };
	json_t *doc;

	(void)state;
	assert_int_equal(run_query("exact", exact_query), 0);
	doc = load_json("exact");
	for (int label = 0; label < 2; label++) {
		char group[8];

		snprintf(group, sizeof(group), "%d", label);
		for (size_t k = 0; k < 2; k++) {
			size_t col = k == 0 ? 0 : 3;
			struct pooled p = pooled_stats(col, label, edges, col == 0 ? 6 : 0);
			json_t *c = cell(doc, group, col == 0 ? "c0" : "c3");
			double var = (double)(p.m2 / (p.count - 1));

			assert_int_equal((int)num(c, "nodes"), N_NODES);
			assert_true(num(c, "count") == p.count);
			assert_close(num(c, "sum"), p.sum, 1e-12, "sum");
			assert_close(num(c, "mean"), (double)p.mean, 1e-12, "mean");
			assert_close(num(c, "variance"), var, 1e-9, "variance");
			assert_close(num(c, "std"), sqrt(var), 1e-9, "std");
			assert_true(num(c, "min") == p.min);
			assert_true(num(c, "max") == p.max);
			if (col == 0) {
				json_t *counts = json_object_get(json_object_get(c, "histogram"), "counts");

				assert_int_equal(json_array_size(counts), 5);
				for (size_t b = 0; b < 5; b++)
					assert_true(json_number_value(json_array_get(counts, b)) == p.bins[b]);
			}
		}
	}
	json_decref(doc);
	assert_non_null(strstr(output, "wrote "));
	assert_non_null(strstr(output, "quantile"));
}

static void test_unknown_column(void **state)
{
	(void)state;
	assert_int_not_equal(run_query("unknown", "columns = c0, radius\n"), 0);
	assert_non_null(strstr(output, "no column \"radius\""));
	assert_non_null(strstr(output, "c0"));
}

static void test_filter_syntax_error(void **state)
{
	(void)state;
	assert_int_not_equal(run_query("syntax", "columns = c0\nfilter = c1 > 15 and and c2 < 3\n"), 0);
	assert_non_null(strstr(output, "at character"));
	assert_non_null(strstr(output, "expected a column name"));
}

/* Few rows have a radius above 24: some nodes hold fewer than their minimum
 * count (5), and say so rather than fail. */
static void test_below_min_count_is_suppressed(void **state)
{
	size_t suppressed = 0;
	json_t *doc, *c;

	(void)state;
	assert_int_equal(run_query("small", "columns = c0\nfilter = c0 > 24\n"), 0);
	assert_non_null(strstr(output, "suppressed at"));
	doc = load_json("small");
	c = cell(doc, "*", "c0");
	suppressed = (size_t)num(c, "suppressed_at");
	assert_true(suppressed >= 1);
	assert_int_equal((size_t)num(c, "nodes") + suppressed, N_NODES);
	json_decref(doc);
}

/* An experiment file with [analytics] (`fedc-researcher run`): `body` is
 * the section's lines; `training` false leaves out [experiment] and the
 * rest, leaving a query with its network. Runs it into H.dir/NAME-out: the
 * exit code, the output in `output`. */
static int run_experiment(const char *name, bool training, const char *body)
{
	char path[512], extra[2048], outdir[560];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", path, training ? NULL : "--output", outdir, NULL };
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.ini", H.dir, name);
	snprintf(outdir, sizeof(outdir), "%s-out", path);
	snprintf(extra, sizeof(extra), "\n[analytics]\n%s\n", body);
	if (training) {
		assert_int_equal(harness_write_experiment(&H, path, harness_plan("logreg"), "breast-cancer", 1, N_NODES,
							  60, "n_features = 30", extra),
				 0);
	} else {
		f = fopen(path, "w");
		assert_non_null(f);
		fprintf(f, "%s\n%s", extra, harness_network_section(&H));
		fclose(f);
	}
	int code = harness_run(&H, argv, 180, output, sizeof(output));

	print_message("%s: exit %d\n%s", name, code, output);
	return code;
}

static bool exists(const char *name, const char *file)
{
	char path[700];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s.ini-out%s%s", H.dir, name, file[0] ? "/" : "", file);
	return stat(path, &st) == 0;
}

/* [analytics] beside [experiment]: the query first, its results in the
 * run's output directory (and its archive), then the training. */
static void test_experiment_runs_analytics_before_training(void **state)
{
	const char *at, *round;
	char dir[600], tarball[700], listing[4096];
	const char *pack[] = { harness_bin("fedc-researcher"), "archive", dir, "--output", tarball, NULL };
	const char *list[] = { "/bin/tar", "tzf", tarball, NULL };
	json_t *doc;

	(void)state;
	assert_int_equal(run_experiment("both", true, "dataset_tags = breast-cancer\ncolumns = c0\n"
						      "statistics = count, mean\n"), 0);
	at = strstr(output, "analytics before training");
	round = strstr(output, "round    1/1");
	assert_non_null(at);
	assert_non_null(round);
	assert_true(at < round);
	assert_true(exists("both", "global.params"));
	doc = load_json("both.ini-out");
	assert_true(num(cell(doc, "*", "c0"), "count") == N_ROWS);
	json_decref(doc);
	assert_true(exists("both", "analytics.csv"));

	snprintf(dir, sizeof(dir), "%s/both.ini-out", H.dir);
	snprintf(tarball, sizeof(tarball), "%s/both.tar.gz", H.dir);
	assert_int_equal(harness_run(&H, pack, 60, output, sizeof(output)), 0);
	assert_int_equal(harness_run(&H, list, 60, listing, sizeof(listing)), 0);
	assert_non_null(strstr(listing, "both.ini-out/analytics.json\n"));
	assert_non_null(strstr(listing, "both.ini-out/analytics.csv\n"));

	/* run again without [analytics]: the earlier step's results go */
	snprintf(dir, sizeof(dir), "%s/both.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, dir, harness_plan("logreg"), "breast-cancer", 1, N_NODES, 60,
						  "n_features = 30", NULL),
			 0);
	{
		const char *again[] = { harness_bin("fedc-researcher"), "run", dir, NULL };

		assert_int_equal(harness_run(&H, again, 180, output, sizeof(output)), 0);
	}
	assert_true(exists("both", "global.params"));
	assert_false(exists("both", "analytics.json"));
	assert_false(exists("both", "analytics.csv"));
}

/* [analytics] and [network] alone: `run` runs the query, nothing else. */
static void test_experiment_of_analytics_alone(void **state)
{
	json_t *doc;

	(void)state;
	assert_int_equal(run_experiment("alone", false, "dataset_tags = breast-cancer\ncolumns = c3\n"), 0);
	assert_null(strstr(output, "round "));
	doc = load_json("alone.ini-out");
	assert_true(num(cell(doc, "*", "c3"), "count") == N_ROWS);
	json_decref(doc);
}

/* Bad [analytics] in an experiment: refused before anything runs (no
 * output directory), naming the key; a query the nodes refuse stops the run
 * before training. */
static void test_experiment_with_bad_analytics(void **state)
{
	(void)state;
	assert_int_equal(run_experiment("typo", true, "dataset_tags = breast-cancer\ncolumns = c0\nstatistic = mean\n"), 2);
	assert_non_null(strstr(output, "[analytics] statistic: unknown key: the keys are dataset_tags"));
	assert_false(exists("typo", ""));

	assert_int_equal(run_experiment("nocols", true, "dataset_tags = breast-cancer\n"), 2);
	assert_non_null(strstr(output, "columns"));
	assert_false(exists("nocols", ""));

	assert_int_equal(run_experiment("elsewhere", true, "dataset_tags = breast-cancer\ncolumns = c0\n"
							   "output_dir = somewhere\n"), 2);
	assert_non_null(strstr(output, "[analytics] output_dir: with [experiment] the results go to the run's output "
				      "directory"));
	assert_false(exists("elsewhere", ""));

	{ /* training sections without [experiment]: not silently a query */
		char path[512];
		const char *argv[] = { harness_bin("fedc-researcher"), "run", path, NULL };
		FILE *f;

		snprintf(path, sizeof(path), "%s/headless.ini", H.dir);
		f = fopen(path, "w");
		assert_non_null(f);
		fprintf(f, "[analytics]\ndataset_tags = breast-cancer\ncolumns = c0\n[training]\nlr = 0.1\n%s",
			harness_network_section(&H));
		fclose(f);
		assert_int_equal(harness_run(&H, argv, 60, output, sizeof(output)), 2);
		assert_non_null(strstr(output, "[training] but no [experiment]: add [experiment]"));
	}

	assert_int_equal(run_experiment("radius", true, "dataset_tags = breast-cancer\ncolumns = radius\n"), 1);
	assert_non_null(strstr(output, "no column \"radius\""));
	assert_non_null(strstr(output, "the [analytics] step failed, so training did not start"));
	assert_false(exists("radius", "global.params"));
}

/* With Laplace noise: within 20 standard deviations the nodes state (a
 * chance below 1e-12 per figure), not exact, and the budget kept. */
static void test_noisy_within_bounds_and_budget(void **state)
{
	static const double edges[] = { 5, 10, 15, 20, 25, 30 };
	struct pooled p = pooled_stats(0, 1, edges, 6);
	json_t *doc, *c, *sd, *nodes;

	(void)state;
	assert_int_equal(restart_nodes(policy_noisy), 0);
	assert_int_not_equal(run_query("nobounds", "columns = c0, c3\nepsilon = 1\n"), 0);
	assert_non_null(strstr(output, "column c3 has no bounds"));
	assert_int_not_equal(run_query("greedy", "columns = c0\nepsilon = 2\n"), 0);
	assert_non_null(strstr(output, "at most 1 per query"));

	assert_int_equal(run_query("noisy", "columns = c0\nstatistics = count, sum, mean, histogram\n"
					    "filter = c1 > 15\ngroup_by = label\nepsilon = 1\n"
					    "bins.c0 = 5, 10, 15, 20, 25, 30\n"), 0);
	doc = load_json("noisy");
	c = cell(doc, "1", "c0");
	sd = json_object_get(c, "noise_sd");
	assert_true(num(sd, "count") > 0 && num(sd, "sum") > num(sd, "count"));
	assert_true(fabs(num(c, "count") - p.count) <= 20 * num(sd, "count"));
	assert_true(fabs(num(c, "sum") - p.sum) <= 20 * num(sd, "sum"));
	assert_true(num(c, "count") != p.count || num(c, "sum") != p.sum);
	for (size_t b = 0; b < 5; b++)
		assert_true(fabs(json_number_value(json_array_get(
				      json_object_get(json_object_get(c, "histogram"), "counts"), b)) - p.bins[b]) <=
			    20 * num(sd, "bin"));
	nodes = json_object_get(doc, "nodes");
	assert_int_equal(json_array_size(nodes), N_NODES);
	assert_true(fabs(num(json_array_get(nodes, 0), "budget_left") - 0.5) < 1e-9);
	json_decref(doc);

	/* 0.5 left of 1.5: a second query of 1 is refused, naming what is left. */
	assert_int_not_equal(run_query("over", "columns = c0\nepsilon = 1\n"), 0);
	assert_non_null(strstr(output, "has 0.5 of its analytics budget of 1.5 left"));
	/* ... and it did not spend anything: 0.5 still goes. */
	assert_int_equal(run_query("last", "columns = c0\nepsilon = 0.5\n"), 0);
	/* The budget is the node's, in its database: a restart does not reset it. */
	assert_int_equal(restart_nodes(policy_noisy), 0);
	assert_int_not_equal(run_query("spent", "columns = c0\nepsilon = 0.1\n"), 0);
	assert_non_null(strstr(output, "has spent all of its analytics budget (epsilon 1.5)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_equals_pooled),
		cmocka_unit_test(test_unknown_column),
		cmocka_unit_test(test_filter_syntax_error),
		cmocka_unit_test(test_below_min_count_is_suppressed),
		cmocka_unit_test(test_experiment_runs_analytics_before_training),
		cmocka_unit_test(test_experiment_of_analytics_alone),
		cmocka_unit_test(test_experiment_with_bad_analytics),
		cmocka_unit_test(test_noisy_within_bounds_and_budget),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
