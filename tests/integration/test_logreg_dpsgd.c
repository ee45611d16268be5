/* examples/logreg-dpsgd end to end on a real stack: Mosquitto, fedc-repository
 * and three fedc-node daemons holding uneven shares of the breast-cancer data,
 * the plan training with DP-SGD (clip 1, noise 1, Poisson sampling). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;
static const size_t shares[3][2] = { { 0, 100 }, { 100, 180 }, { 280, 289 } };
static char output[1 << 16];

static int setup(void **state)
{
	char csv[512], id[32];

	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(csv, sizeof(csv), "%s/hospital-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "hospital-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, shares[i][0],
				      shares[i][1]))
			return -1;
		if (harness_add_node(&H, id, csv, "breast-cancer", harness_plan("logreg-dpsgd")) != (int)i ||
		    harness_start_node(&H, i) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

/* Five rounds learn the task despite the noise, and every node's training
 * metrics in the history carry its round's dp_epsilon. */
static void test_logreg_dpsgd_three_hospitals(void **state)
{
	char exp[512], history[600];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	int rc;

	snprintf(exp, sizeof(exp), "%s/logreg-dpsgd.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg-dpsgd"), "breast-cancer", 5, 3, 60,
						  "n_features = 30\ndp_clip = 1.0\ndp_noise = 1.0\ndp_delta = 1e-5",
						  NULL),
			 0);
	rc = harness_run(&H, argv, 300, output, sizeof(output));
	if (rc != 0)
		fprintf(stderr, "%s\n", output);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(output, "round    5/5"));
	assert_non_null(strstr(output, "nodes 3/3"));
	fprintf(stderr, "logreg-dpsgd: final test accuracy %.3f\n", harness_final_accuracy(output));
	assert_true(harness_final_accuracy(output) >= 0.88);
	snprintf(history, sizeof(history), "%s-out/history.jsonl", exp);
	assert_true(harness_file_contains(history, "\"dp_epsilon\":"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logreg_dpsgd_three_hospitals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
