/* A dataset registered as the test set of another (`fedc-node dataset add
 * --test-of`): a round on the dataset trains on all of its rows and tests on
 * the whole test set, instead of holding out test_ratio of its rows; the
 * test set is not offered to searches, and a `train` naming it is refused. Also: plans run with one BLAS thread
 * unless the operator chose. Real node, broker, repository and researcher. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct harness H;
static char output[1 << 16];

static int node_cli(const char *const *args)
{
	const char *argv[16] = { harness_bin("fedc-node"), "--config", H.nodes[0].config };
	int argc = 3;

	for (; *args && argc < 15; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;
	return harness_run(&H, argv, 60, output, sizeof(output));
}

/* Runs `rounds` rounds of `plan` on the dataset tagged ts-tag; the path of
 * its history.jsonl goes to `history`. */
static void run_experiment(const char *name, const char *plan, unsigned rounds, char *history, size_t cap)
{
	char exp[512];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };

	snprintf(exp, sizeof(exp), "%s/%s.ini", H.dir, name);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan(plan), "ts-tag", rounds, 1, 60, "n_params = 10",
						  NULL),
			 0);
	if (harness_run(&H, argv, 120, output, sizeof(output)) != 0)
		fail_msg("experiment %s failed:\n%s", name, output);
	snprintf(history, cap, "%s-out/history.jsonl", exp);
}

static int setup(void **state)
{
	char train_csv[512], test_csv[512];

	(void)state;
	unsetenv("OPENBLAS_NUM_THREADS"); /* the node's default is what test_plans_get_one_blas_thread checks */
	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	snprintf(train_csv, sizeof(train_csv), "%s/train.csv", H.dir);
	snprintf(test_csv, sizeof(test_csv), "%s/held-out.csv", H.dir);
	if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", train_csv, 0, 100) ||
	    harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", test_csv, 100, 40) ||
	    harness_add_node(&H, "site", train_csv, "ts-tag", harness_plan("fixtures/identity")) != 0)
		return -1;
	if (node_cli((const char *const[]){ "dataset", "add", "--name", "held-out", "--file", test_csv, "--test-of",
					    "site", NULL }) != 0) {
		fprintf(stderr, "dataset add --test-of failed:\n%s\n", output);
		return -1;
	}
	return harness_start_node(&H, 0);
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

static void test_registered_test_set_is_the_test_rows(void **state)
{
	char history[600], line[4096];
	int nodes = 0;
	FILE *f;

	(void)state;
	assert_int_equal(node_cli((const char *const[]){ "dataset", "show", "site", NULL }), 0);
	assert_non_null(strstr(output, "test set:     held-out"));
	run_experiment("ts", "fixtures/identity", 2, history, sizeof(history));
	/* the search found the dataset, not its test set */
	assert_non_null(strstr(output, "nodes 1/1"));
	f = fopen(history, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "\"type\":\"node\"") || !strstr(line, "\"n_test\""))
			continue;
		if (harness_json_int(line, "n_samples") != 100 || harness_json_int(line, "n_test") != 40)
			fail_msg("expected 100 train and 40 test rows: %s", line);
		nodes++;
	}
	fclose(f);
	assert_true(nodes >= 2);
}

/* Plans run with one BLAS thread on a node unless the operator chose
 * (OPENBLAS_NUM_THREADS): the blas_env fixture reports what it got. */
static void test_plans_get_one_blas_thread(void **state)
{
	char history[600];

	(void)state;
	assert_int_equal(node_cli((const char *const[]){ "plan", "approve", harness_plan("fixtures/blas_env"), NULL }),
			 0);
	run_experiment("blas", "fixtures/blas_env", 1, history, sizeof(history));
	if (!harness_file_contains(history, "\"blas_threads\":1"))
		fail_msg("the plan did not run with OPENBLAS_NUM_THREADS=1 (see %s)", history);
}

/* A `train` that names the test set itself is refused with the reason. */
static void test_train_on_test_set_refused(void **state)
{
	static const char zeros[] = "0000000000000000000000000000000000000000000000000000000000000000";
	struct fedc_msg *msg = fedc_msg_new(FEDC_CMD_TRAIN), *reply = calloc(1, sizeof(*reply));
	static const enum fedc_field fields[] = {
		FEDC_F_PLAN_DIGEST, FEDC_F_JOB_ID, FEDC_F_ROUND, FEDC_F_DATASET_ID, FEDC_F_PARAMS_DIGEST,
		FEDC_F_MODEL_ARGS, FEDC_F_LR, FEDC_F_EPOCHS, FEDC_F_NUM_UPDATES, FEDC_F_BATCH_SIZE,
		FEDC_F_SEED, FEDC_F_TEST_RATIO, FEDC_F_FEDPROX_MU, FEDC_F_OPTIMIZER,
	};
	const char *id;
	void *payload = NULL;
	size_t len = 0;

	(void)state;
	assert_non_null(msg);
	assert_non_null(reply);
	assert_int_equal(node_cli((const char *const[]){ "dataset", "show", "held-out", NULL }), 0);
	id = strstr(output, "id:           ");
	assert_non_null(id);
	snprintf(msg->dataset_id, sizeof(msg->dataset_id), "%.36s", id + strlen("id:           "));
	snprintf(msg->plan_digest, sizeof(msg->plan_digest), "%s", zeros);
	snprintf(msg->params_digest, sizeof(msg->params_digest), "%s", zeros);
	snprintf(msg->job_id, sizeof(msg->job_id), "0b9a7c1e-0000-4000-8000-000000000001");
	snprintf(msg->optimizer, sizeof(msg->optimizer), "sgd");
	msg->round = 1;
	msg->lr = 0.1;
	msg->epochs = 1;
	msg->batch_size = 8;
	msg->test_ratio = 0.2;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		fedc_msg_set(msg, fields[i]);
	while (harness_next_reply(&H, 200, &payload, &len) == 0) /* earlier tests' leftovers */
		free(payload);
	assert_int_equal(harness_send(&H, "site", msg), 0);
	assert_int_equal(harness_next_reply(&H, 10000, &payload, &len), 0);
	assert_int_equal(fedc_msg_decode(payload, len, reply), FEDC_OK);
	assert_int_equal(reply->command, FEDC_CMD_ERROR);
	if (!strstr(reply->message, "registered as the test set of dataset"))
		fail_msg("unexpected error: %s", reply->message);
	free(payload);
	fedc_msg_free(reply);
	fedc_msg_free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registered_test_set_is_the_test_rows),
		cmocka_unit_test(test_plans_get_one_blas_thread),
		cmocka_unit_test(test_train_on_test_set_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
