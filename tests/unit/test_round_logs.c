/* Per-node round logs (researcher/node_log.h): one JSON line per record in
 * nodes/<node>.jsonl with the node's state, reason and scalars; a new run
 * drops an earlier run's logs; a resume keeps only the rounds up to its
 * breakpoint, a line a crash cut short included in what goes; a node id that
 * is not a file name is refused. The logs of a real run: tests/integration/
 * test_node_logs.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node_log.h"

static char dir[] = "/tmp/fedc-test-node-log-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *read_log(const char *node)
{
	static char text[1 << 20];
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/nodes/%s.jsonl", dir, node);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static void record(struct node_log *log, uint32_t round, const char *node, const char *status, const char *reason)
{
	struct node_record rec = { round, "train", node, "ds-1", status, reason, NULL, 0 };

	assert_int_equal(node_log__record(log, &rec), FEDC_OK);
}

static void test_records_state_reason_and_scalars(void **state)
{
	struct node_log *log = NULL;
	const char *text;

	(void)state;
	assert_int_equal(node_log__open(dir, &log), FEDC_OK);
	node_log__scalar(log, "a", "loss", 0.5, 10, 1);
	node_log__scalar(log, "b", "loss", 0.7, 10, 1);
	record(log, 1, "a", "answered", "");
	record(log, 1, "b", "error", "plan-not-approved: no");
	record(log, 1, "c", "timeout", "no answer in 60 s");
	node_log__round_done(log);
	record(log, 2, "a", "answered", "");
	node_log__close(log);

	text = read_log("a");
	assert_non_null(text);
	assert_non_null(strstr(text, "{\"round\":1,"));
	assert_non_null(strstr(text, "\"state\":\"ok\""));
	assert_non_null(strstr(text, "\"scalars\":[{\"name\":\"loss\",\"iteration\":10,\"epoch\":1,\"value\":0.5}]"));
	assert_non_null(strstr(text, "{\"round\":2,"));
	assert_int_equal(strstr(strstr(text, "{\"round\":2,"), "scalars") == NULL, 1); /* forgotten after round 1 */
	text = read_log("b");
	assert_non_null(strstr(text, "\"state\":\"refused\""));
	assert_non_null(strstr(text, "\"reason\":\"plan-not-approved: no\""));
	text = read_log("c");
	assert_non_null(strstr(text, "\"state\":\"failed\",\"status\":\"timeout\""));
}

static void test_resume_keeps_rounds_up_to_the_breakpoint(void **state)
{
	struct node_log *log = NULL;
	char path[256];
	const char *text;
	FILE *f;

	(void)state;
	assert_int_equal(node_log__open(dir, &log), FEDC_OK);
	for (uint32_t r = 1; r <= 3; r++)
		record(log, r, "a", "answered", "");
	node_log__close(log);
	snprintf(path, sizeof(path), "%s/nodes/a.jsonl", dir);
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("{\"round\":1,\"kind\":\"tr", f); /* cut short by a crash */
	fclose(f);

	assert_int_equal(node_log__reopen(dir, 2, &log), FEDC_OK);
	record(log, 3, "a", "answered", "");
	node_log__close(log);
	text = read_log("a");
	assert_non_null(strstr(text, "{\"round\":1,"));
	assert_non_null(strstr(text, "{\"round\":2,"));
	assert_non_null(strstr(text, "{\"round\":3,"));
	assert_null(strstr(strstr(text, "{\"round\":3,"), "\n{")); /* round 3 once, and last */
	assert_null(strstr(text, "\"tr\n"));
}

static void test_new_run_drops_old_logs(void **state)
{
	struct node_log *log = NULL;

	(void)state;
	assert_non_null(read_log("a"));
	assert_int_equal(node_log__open(dir, &log), FEDC_OK);
	node_log__close(log);
	assert_null(read_log("a"));
}

static void test_node_id_not_a_file_name(void **state)
{
	struct node_log *log = NULL;
	struct node_record rec = { 1, "train", "../escape", "", "answered", "", NULL, 0 };

	(void)state;
	assert_int_equal(node_log__open(dir, &log), FEDC_OK);
	assert_int_equal(node_log__record(log, &rec), FEDC_ERR_INVAL);
	rec.node_id = ".hidden";
	assert_int_equal(node_log__record(log, &rec), FEDC_ERR_INVAL);
	node_log__close(log);
	assert_int_equal(access("/tmp/escape.jsonl", F_OK) != 0, 1);
}

static void test_scalars_past_the_cap_are_counted(void **state)
{
	struct node_log *log = NULL;
	const char *text;

	(void)state;
	assert_int_equal(node_log__open(dir, &log), FEDC_OK);
	for (size_t i = 0; i < NODE_LOG_MAX_SCALARS + 3; i++)
		node_log__scalar(log, "a", "loss", 1.0, i, 0);
	record(log, 1, "a", "answered", "");
	node_log__close(log);
	text = read_log("a");
	assert_non_null(strstr(text, "\"scalars_dropped\":3"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_state_reason_and_scalars),
		cmocka_unit_test(test_resume_keeps_rounds_up_to_the_breakpoint),
		cmocka_unit_test(test_new_run_drops_old_logs),
		cmocka_unit_test(test_node_id_not_a_file_name),
		cmocka_unit_test(test_scalars_past_the_cap_are_counted),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
