/* Cross-site validation's pieces that need no federation (researcher/xval.h):
 * the reader of local/index.json, which a forged or damaged file must not
 * get past (its ids become file names), and the report: tables with empty
 * cells and their reasons, xval.json, the history record, the heatmaps. */
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
#include <unistd.h>

#include "fedc/err.h"
#include "xval.h"

#define JOB "f269ac85-b151-4bd7-84bc-f4e3510a4dfd"
#define DIGEST "e5a0266b59f0623a1bb54f05a8b2aff0e2a05f334fdfbae58be175310e5d22a2"

static enum fedc_err parse(const char *text, struct xval_index *ix)
{
	return xval__index_parse(text, strlen(text), "index.json", ix);
}

static void test_index_two_nodes(void **state)
{
	struct xval_index ix;

	(void)state;
	assert_int_equal(parse("{\"job_id\":\"" JOB "\",\"round\":3,\"nodes\":[{\"node_id\":\"site-0\",\"dataset_id\":"
			       "\"ds-0\",\"n_samples\":80,\"digest\":\"" DIGEST "\",\"reason\":\"\"},{\"node_id\":"
			       "\"site-1\",\"dataset_id\":\"ds-1\",\"n_samples\":7,\"digest\":null,\"reason\":\"gone\"}]}",
			       &ix),
			 FEDC_OK);
	assert_string_equal(ix.job_id, JOB);
	assert_int_equal(ix.round, 3);
	assert_int_equal(ix.n, 2);
	assert_string_equal(ix.nodes[0].digest, DIGEST);
	assert_int_equal(ix.nodes[0].n_samples, 80);
	assert_string_equal(ix.nodes[1].digest, "");
	assert_string_equal(ix.nodes[1].reason, "gone");
	xval__index_free(&ix);
}

static void expect_malformed(const char *text, const char *detail)
{
	struct xval_index ix;

	assert_int_equal(parse(text, &ix), FEDC_ERR_MALFORMED);
	assert_null(ix.nodes);
	if (!strstr(fedc_last_error(), detail))
		fail_msg("\"%s\" does not say \"%s\"", fedc_last_error(), detail);
}

#define NODE(id, digest) "{\"node_id\":\"" id "\",\"dataset_id\":\"d\",\"n_samples\":1,\"digest\":" digest "}"
#define INDEX(nodes) "{\"job_id\":\"" JOB "\",\"round\":1,\"nodes\":[" nodes "]}"

static void test_index_path_in_node_id(void **state)
{
	(void)state;
	expect_malformed(INDEX(NODE("../x", "null")), "is not a node / dataset id");
	expect_malformed(INDEX(NODE("a/b", "null")), "is not a node / dataset id");
}

static void test_index_node_twice(void **state)
{
	(void)state;
	expect_malformed(INDEX(NODE("a", "null") "," NODE("a", "null")), "listed twice");
}

static void test_index_bad_digest(void **state)
{
	(void)state;
	expect_malformed(INDEX(NODE("a", "\"E5A0\"")), "digest");
	expect_malformed(INDEX(NODE("a", "7")), "\"digest\" must be a string");
}

static void test_index_wrong_types(void **state)
{
	(void)state;
	expect_malformed("{\"job_id\":\"x\",\"round\":1,\"nodes\":[]}", "job_id");
	expect_malformed("{\"job_id\":\"" JOB "\",\"round\":-1,\"nodes\":[]}", "round");
	expect_malformed("{\"job_id\":\"" JOB "\",\"round\":1,\"nodes\":{}}", "array");
	expect_malformed(INDEX("{\"node_id\":\"a\",\"dataset_id\":\"d\",\"n_samples\":-3,\"digest\":null}"),
			 "n_samples");
	expect_malformed(INDEX("3"), "not an object");
	expect_malformed("{\"job_id\":\"" JOB, "index.json");
}

static void test_index_too_large(void **state)
{
	struct xval_index ix;
	char *big = malloc(XVAL_INDEX_MAX + 2);

	(void)state;
	assert_non_null(big);
	memset(big, ' ', XVAL_INDEX_MAX + 1);
	big[XVAL_INDEX_MAX + 1] = '\0';
	assert_int_equal(xval__index_parse(big, XVAL_INDEX_MAX + 1, "index.json", &ix), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "larger"));
	free(big);
}

/* Two models on two nodes; node b failed for both. */
static void fill(struct xval_matrix *m)
{
	assert_int_equal(xval__matrix_new(2, 2, m), FEDC_OK);
	snprintf(m->job_id, sizeof(m->job_id), JOB);
	m->round = 4;
	snprintf(m->models[0], sizeof(m->models[0]), "global");
	snprintf(m->models[1], sizeof(m->models[1]), "a");
	snprintf(m->nodes[0], sizeof(m->nodes[0]), "a");
	snprintf(m->nodes[1], sizeof(m->nodes[1]), "b");
	for (size_t r = 0; r < 2; r++) {
		struct xval_cell *ok = xval__cell(m, r, 0), *bad = xval__cell(m, r, 1);

		ok->ok = true;
		ok->n_test = 10;
		ok->n_metrics = 2;
		ok->metrics[0] = (struct fedc_msg_kv){ "loss", 0.25 + (double)r };
		ok->metrics[1] = (struct fedc_msg_kv){ "accuracy", 0.5 };
		snprintf(ok->status, sizeof(ok->status), "answered");
		snprintf(bad->status, sizeof(bad->status), "timeout");
		snprintf(bad->reason, sizeof(bad->reason), "no reply within round_timeout_s = 5 s");
	}
}

static void test_print_empty_cells(void **state)
{
	struct xval_matrix m;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	fill(&m);
	xval__print(&m, f);
	fclose(f);
	assert_non_null(strstr(text, "cross-site validation: loss"));
	assert_non_null(strstr(text, "cross-site validation: accuracy"));
	assert_non_null(strstr(text, "local a"));
	assert_non_null(strstr(text, "1.2500"));
	/* one line for both models' empty cells of node b */
	assert_non_null(strstr(text, "node b: timeout: no reply within round_timeout_s = 5 s (2 of 2 model(s))"));
	assert_null(strstr(strstr(text, "(2 of 2") + 1, "node b:"));
	free(text);
	xval__matrix_free(&m);
}

static void test_write_report(void **state)
{
	char dir[] = "/tmp/test_xval.XXXXXX", path[128], line[1 << 14];
	struct xval_matrix m;
	json_t *doc;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fill(&m);
	/* history.jsonl belongs to the run: xval does not create one */
	assert_int_equal(xval__write(&m, dir, NULL), FEDC_ERR_IO);
	snprintf(path, sizeof(path), "%s/history.jsonl", dir);
	f = fopen(path, "w");
	fputs("{\"type\":\"round\"}\n", f);
	fclose(f);
	assert_int_equal(xval__write(&m, dir, NULL), FEDC_OK);
	f = fopen(path, "r");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	doc = json_loads(line, 0, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "type")), "xval");
	assert_int_equal(json_array_size(json_object_get(doc, "cells")), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(doc, "cells"), 1), "reason")),
			    "no reply within round_timeout_s = 5 s");
	json_decref(doc);
	snprintf(path, sizeof(path), "%s/xval.json", dir);
	doc = json_load_file(path, 0, NULL);
	assert_non_null(doc);
	assert_true(json_real_value(json_object_get(
			    json_object_get(json_array_get(json_object_get(doc, "cells"), 2), "metrics"), "loss")) == 1.25);
	json_decref(doc);
	snprintf(path, sizeof(path), "%s/xval.svg", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_true(fread(line, 1, sizeof(line) - 1, f) > 0);
	fclose(f);
	assert_non_null(strstr(line, "<svg"));
	assert_non_null(strstr(line, "local a"));
	assert_non_null(strstr(line, "fill='#bbb'")); /* the empty cells */
	unlink(path);
	snprintf(path, sizeof(path), "%s/xval.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/history.jsonl", dir);
	unlink(path);
	rmdir(dir);
	xval__matrix_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index_two_nodes),	  cmocka_unit_test(test_index_path_in_node_id),
		cmocka_unit_test(test_index_node_twice),  cmocka_unit_test(test_index_bad_digest),
		cmocka_unit_test(test_index_wrong_types), cmocka_unit_test(test_index_too_large),
		cmocka_unit_test(test_print_empty_cells), cmocka_unit_test(test_write_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
