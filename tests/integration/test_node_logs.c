/* Per-node round logs (researcher/node_log.h) and the node listings, on a
 * real stack: Mosquitto, fedc-repository and three fedc-node daemons with
 * breast-cancer rows; site-0 and site-1 approved the logreg plan, site-2 did
 * not, so it refuses every round. `nodes --json` with no node started, then
 * with all three; `search` with the capabilities of what it lists; a run's
 * OUTPUT_DIR/nodes/<node>.jsonl with each round and site-2's reason; resume
 * from round 1 leaving each round once; the archive holding the logs with
 * their digests, and the archive of a run without logs (an older run). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fedc/hash.h"
#include "fedc/plan.h"
#include "harness.h"

#define N_NODES 3

static struct harness H;
static char output[1 << 16];
static char network[512], exp_path[512], out_dir[560];
static bool started;

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
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, i * 180, 180) ||
		    harness_add_node(&H, id, csv, "bc", i < 2 ? harness_plan("logreg") : NULL) != (int)i)
			return -1;
	}
	snprintf(network, sizeof(network), "%s/network.ini", H.dir);
	snprintf(exp_path, sizeof(exp_path), "%s/logged.ini", H.dir);
	snprintf(out_dir, sizeof(out_dir), "%s-out", exp_path);
	if (harness_write_experiment(&H, network, harness_plan("logreg"), "bc", 1, 1, 30, "n_features = 30", NULL))
		return -1;
	return harness_write_experiment(&H, exp_path, harness_plan("logreg"), "bc", 2, 2, 60, "n_features = 30", NULL);
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

static void start_nodes(void)
{
	for (size_t i = 0; !started && i < N_NODES; i++)
		assert_int_equal(harness_start_node(&H, i), 0);
	started = true;
}

static int researcher(const char *const *args)
{
	const char *argv[8] = { harness_bin("fedc-researcher") };

	for (size_t i = 0; args[i] && i + 2 < sizeof(argv) / sizeof(argv[0]); i++)
		argv[i + 1] = args[i];
	int code = harness_run(&H, argv, 180, output, sizeof(output));

	print_message("%s %s: exit %d\n%s", args[0], args[1] ? args[1] : "", code, output);
	return code;
}

/* The JSON document in the output (stderr's lines may come first). */
static json_t *output_json(void)
{
	const char *at = strchr(output, '{');
	json_error_t err;
	json_t *doc = at ? json_loads(at, JSON_DISABLE_EOF_CHECK, &err) : NULL;

	if (!doc)
		fail_msg("no JSON document in:\n%s", output);
	return doc;
}

static void test_nodes_json_with_no_nodes(void **state)
{
	json_t *doc;

	(void)state;
	assert_int_equal(researcher((const char *[]){ "nodes", "--network", network, "--json", "--timeout", "2", NULL }), 0);
	doc = output_json();
	assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 0);
	assert_int_equal(json_integer_value(json_object_get(doc, "online")), 0);
	assert_non_null(strstr(output, "no node of federation"));
	json_decref(doc);
}

static const json_t *node_entry(const json_t *doc, const char *id)
{
	const json_t *n;
	size_t i;

	json_array_foreach(json_object_get(doc, "nodes"), i, n) {
		if (strcmp(json_string_value(json_object_get(n, "node_id")), id) == 0)
			return n;
	}
	fail_msg("no node %s in:\n%s", id, output);
	return NULL;
}

static void test_nodes_json_lists_datasets_and_capabilities(void **state)
{
	json_t *doc;

	(void)state;
	start_nodes();
	assert_int_equal(researcher((const char *[]){ "nodes", "--network", network, "--json", NULL }), 0);
	doc = output_json();
	assert_int_equal(json_array_size(json_object_get(doc, "nodes")), N_NODES);
	for (size_t i = 0; i < N_NODES; i++) {
		char id[32];
		const json_t *n, *d, *caps;

		snprintf(id, sizeof(id), "site-%zu", i);
		n = node_entry(doc, id);
		assert_true(json_is_true(json_object_get(n, "answered")));
		d = json_array_get(json_object_get(n, "datasets"), 0);
		assert_int_equal(json_integer_value(json_object_get(d, "n_samples")), 180);
		assert_string_equal(json_string_value(json_array_get(json_object_get(d, "tags"), 0)), "bc");
		assert_string_equal(json_string_value(json_object_get(d, "type")), "csv");
		caps = json_object_get(n, "capabilities");
		assert_true(json_is_object(caps));
		assert_true(json_number_value(json_object_get(caps, "abi")) == FEDC_PLAN_ABI_VERSION);
		assert_true(json_number_value(json_object_get(caps, "cores")) >= 1);
		assert_string_equal(json_string_value(json_array_get(json_object_get(n, "dataset_kinds"), 0)), "csv");
	}
	json_decref(doc);
}

static void test_search_prints_capabilities(void **state)
{
	(void)state;
	start_nodes();
	assert_int_equal(researcher((const char *[]){ "search", "--network", network, "--tags", "bc", NULL }), 0);
	assert_non_null(strstr(output, "3 of 3 node(s) hold datasets tagged bc"));
	assert_non_null(strstr(output, "\ncapabilities "));
	for (size_t i = 0; i < N_NODES; i++) {
		char row[64];

		snprintf(row, sizeof(row), "\nsite-%zu %*s", i, 18, "");
		if (!strstr(strstr(output, "\ncapabilities "), row))
			fail_msg("no capabilities row for site-%zu", i);
	}
	assert_int_equal(researcher((const char *[]){ "search", "--network", network, "--tags", "nothing", NULL }), 0);
	assert_null(strstr(output, "\ncapabilities "));
}

/* The records of a node log: their rounds, states and reasons in order. */
struct record {
	long round;
	char state[16], kind[16], reason[512];
	bool has_metrics;
};

static size_t read_log(const char *node, struct record *out, size_t cap)
{
	char path[700], line[1 << 14];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/nodes/%s.jsonl", out_dir, node);
	f = fopen(path, "r");
	if (!f)
		fail_msg("no %s", path);
	while (n < cap && fgets(line, sizeof(line), f)) {
		json_t *rec = json_loads(line, 0, NULL);

		assert_non_null(rec);
		out[n].round = (long)json_integer_value(json_object_get(rec, "round"));
		snprintf(out[n].state, sizeof(out[n].state), "%s", json_string_value(json_object_get(rec, "state")));
		snprintf(out[n].kind, sizeof(out[n].kind), "%s", json_string_value(json_object_get(rec, "kind")));
		snprintf(out[n].reason, sizeof(out[n].reason), "%s", json_string_value(json_object_get(rec, "reason")));
		out[n].has_metrics = json_is_object(json_object_get(rec, "metrics")) &&
				     json_is_number(json_object_get(rec, "n_samples"));
		json_decref(rec);
		n++;
	}
	fclose(f);
	return n;
}

/* site-0 and site-1: rounds 1 and 2 trained, 3 the final evaluation, each
 * once and ok; site-2 refused, with the node's reason. */
static void assert_logs_of_the_run(void)
{
	struct record r[8];
	size_t n;

	for (int i = 0; i < 2; i++) {
		char id[16];

		snprintf(id, sizeof(id), "site-%d", i);
		n = read_log(id, r, 8);
		assert_int_equal(n, 3);
		for (size_t k = 0; k < n; k++) {
			assert_int_equal(r[k].round, (long)k + 1);
			assert_string_equal(r[k].state, "ok");
			assert_string_equal(r[k].kind, k < 2 ? "train" : "evaluate");
			assert_string_equal(r[k].reason, "");
			assert_true(r[k].has_metrics);
		}
	}
	n = read_log("site-2", r, 8);
	assert_true(n >= 1);
	assert_int_equal(r[0].round, 1);
	assert_string_equal(r[0].state, "refused");
	if (!strstr(r[0].reason, "is not approved on node site-2"))
		fail_msg("site-2's reason: %s", r[0].reason);
	for (size_t k = 1; k < n; k++)
		assert_true(r[k].round > r[k - 1].round);
}

static void test_run_writes_node_logs(void **state)
{
	(void)state;
	start_nodes();
	assert_int_equal(researcher((const char *[]){ "run", exp_path, NULL }), 0);
	assert_logs_of_the_run();
}

/* Resumed after round 1: the records of round 2 and the final evaluation
 * are run again, and each is in the logs once. */
static void test_resume_keeps_each_round_once(void **state)
{
	(void)state;
	start_nodes();
	assert_int_equal(researcher((const char *[]){ "resume", out_dir, "--round", "1", NULL }), 0);
	assert_logs_of_the_run();
}

static size_t check_manifest(const char *unpacked, size_t *n_logs)
{
	char path[2048], line[1024], hex[FEDC_SHA256_HEXLEN + 1];
	size_t n = 0;
	FILE *f;

	*n_logs = 0;
	snprintf(path, sizeof(path), "%s/MANIFEST", unpacked);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		assert_true(strlen(line) > FEDC_SHA256_HEXLEN + 2);
		snprintf(path, sizeof(path), "%s/%s", unpacked, line + FEDC_SHA256_HEXLEN + 2);
		assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, path, hex), FEDC_OK);
		if (memcmp(hex, line, FEDC_SHA256_HEXLEN) != 0)
			fail_msg("MANIFEST: %s does not match", path);
		*n_logs += strncmp(line + FEDC_SHA256_HEXLEN + 2, "nodes/", 6) == 0;
		n++;
	}
	fclose(f);
	return n;
}

/* Archives the run into `name`.tar.gz, unpacks it into H.dir/`name`. */
static void archive_and_unpack(const char *name, char *unpacked, size_t cap)
{
	char tarball[600];
	const char *untar[] = { "/bin/tar", "xzf", tarball, "-C", unpacked, "--strip-components=1", NULL };

	snprintf(tarball, sizeof(tarball), "%s/%s.tar.gz", H.dir, name);
	snprintf(unpacked, cap, "%s/%s", H.dir, name);
	assert_int_equal(researcher((const char *[]){ "archive", out_dir, "--output", tarball, NULL }), 0);
	assert_int_equal(mkdir(unpacked, 0755), 0);
	assert_int_equal(harness_run(&H, untar, 60, NULL, 0), 0);
}

static void test_archive_holds_node_logs(void **state)
{
	char unpacked[600], path[700];
	size_t n_logs = 0;

	(void)state;
	archive_and_unpack("with-logs", unpacked, sizeof(unpacked));
	assert_null(strstr(output, "no per-node round logs"));
	assert_true(check_manifest(unpacked, &n_logs) > 3);
	assert_int_equal(n_logs, 3);
	snprintf(path, sizeof(path), "%s/nodes/site-2.jsonl", unpacked);
	assert_true(harness_file_contains(path, "\"state\":\"refused\""));
	assert_true(harness_file_contains(path, "is not approved on node site-2"));
}

/* A run of a fedc before node logs: archived, saying they are not there. */
static void test_archive_of_run_without_node_logs(void **state)
{
	char unpacked[600], path[700];
	const char *rm[] = { "/bin/rm", "-r", path, NULL };
	size_t n_logs = 1;
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/nodes", out_dir);
	assert_int_equal(harness_run(&H, rm, 30, NULL, 0), 0);
	archive_and_unpack("without-logs", unpacked, sizeof(unpacked));
	assert_non_null(strstr(output, "has no per-node round logs"));
	assert_true(check_manifest(unpacked, &n_logs) > 3);
	assert_int_equal(n_logs, 0);
	snprintf(path, sizeof(path), "%s/nodes", unpacked);
	assert_int_not_equal(stat(path, &st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodes_json_with_no_nodes),
		cmocka_unit_test(test_nodes_json_lists_datasets_and_capabilities),
		cmocka_unit_test(test_search_prints_capabilities),
		cmocka_unit_test(test_run_writes_node_logs),
		cmocka_unit_test(test_resume_keeps_each_round_once),
		cmocka_unit_test(test_archive_holds_node_logs),
		cmocka_unit_test(test_archive_of_run_without_node_logs),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
