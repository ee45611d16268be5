/* The Fashion-MNIST example (examples/mlp/): a short federated run of the
 * MLP plan on a subset of Fashion-MNIST split by fedc-partition across five
 * real nodes, scored by the nodes and by fedc-eval-idx on the t10k test set
 * (fedc-partition itself: test_partition.c). The run fails, naming the
 * package, when the Debian package dataset-fashion-mnist is not installed
 * (FEDC_FASHION_MNIST_DIR names another directory holding the four .gz
 * files). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fedc/params.h"
#include "harness.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static struct harness H;
static char output[1 << 17];

/* Runs fedc-partition with `args`; its output in `output`, its exit status back. */
static int partition_tool(const char *args)
{
	char cmd[4200];
	FILE *p;
	size_t n;
	int status;

	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", harness_bin("fedc-partition"), args);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(output, 1, sizeof(output) - 1, p);
	output[n] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int setup(void **state)
{
	return harness_init(&H) ? -1 : 0;
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

/* ---- a short federated run on Fashion-MNIST ----------------------------- */

static double number_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? atof(p + strlen(key)) : -1;
}

/* Five nodes with IID shards of a 10000-image subset (2000 each), 3 rounds
 * of one epoch: the nodes' held-out rows and the t10k set both put the
 * final model far above chance (0.1). */
static void test_mlp_fashion_short(void **state)
{
	const char *data = getenv("FEDC_FASHION_MNIST_DIR") ? getenv("FEDC_FASHION_MNIST_DIR") : FASHION_DIR;
	char args[2048], exp[600], out[600], id[32], img[600], lbl[600], params[700], t10k_img[600], t10k_lbl[600];
	FILE *f;
	int rc;

	snprintf(t10k_img, sizeof(t10k_img), "%s/t10k-images-idx3-ubyte.gz", data);
	snprintf(t10k_lbl, sizeof(t10k_lbl), "%s/t10k-labels-idx1-ubyte.gz", data);
	snprintf(img, sizeof(img), "%s/train-images-idx3-ubyte.gz", data);
	snprintf(lbl, sizeof(lbl), "%s/train-labels-idx1-ubyte.gz", data);
	if (access(img, R_OK) || access(lbl, R_OK) || access(t10k_img, R_OK) || access(t10k_lbl, R_OK)) {
		fail_msg("Fashion-MNIST is not in %s (Debian package dataset-fashion-mnist, which scripts/setup.sh "
			 "installs)", data);
	}
	assert_int_equal(harness_start_broker(&H), 0);
	assert_int_equal(harness_start_repository(&H), 0);
	assert_int_equal(harness_connect_observer(&H), 0);
	snprintf(args, sizeof(args), "--images %s --labels %s --parties 5 --samples 10000 --seed 42 --out %s/fashion",
		 img, lbl, H.dir);
	assert_int_equal(partition_tool(args), 0);
	for (int i = 0; i < 5; i++) {
		size_t node;

		snprintf(id, sizeof(id), "node-%d", i);
		snprintf(img, sizeof(img), "%s/fashion/party-%d-images-idx3-ubyte.gz", H.dir, i);
		snprintf(lbl, sizeof(lbl), "%s/fashion/party-%d-labels-idx1-ubyte.gz", H.dir, i);
		rc = harness_add_node(&H, id, NULL, NULL, harness_plan("mlp"));
		assert_true(rc >= 0);
		node = (size_t)rc;
		{
			const char *add[] = { harness_bin("fedc-node"), "--config", H.nodes[node].config, "dataset",
					      "add", "--type", "idx", "--name", id, "--tags", "fashion-mnist", "--file",
					      img, "--labels", lbl, NULL };

			rc = harness_run(&H, add, 60, output, sizeof(output));
			if (rc)
				fprintf(stderr, "%s\n", output);
			assert_int_equal(rc, 0);
		}
		assert_int_equal(harness_start_node(&H, node), 0);
	}
	snprintf(exp, sizeof(exp), "%s/fashion.ini", H.dir);
	snprintf(out, sizeof(out), "%s/fashion-out", H.dir);
	f = fopen(exp, "w");
	assert_non_null(f);
	fprintf(f,
		"[experiment]\nname = fashion-short\ntags = fashion-mnist\nplan = %s\nrounds = 3\nmin_nodes = 5\n"
		"round_timeout_s = 120\ndiscovery_timeout_s = 10\nseed = 42\noutput_dir = %s\n"
		"[model]\nn_features = 784\nn_classes = 10\nhidden = 128\n"
		"[training]\nlr = 0.1\nepochs = 1\nbatch_size = 64\ntest_ratio = 0.1\n"
		"[aggregator]\nmethod = fedavg\n%s",
		harness_plan("mlp"), out, harness_network_section(&H));
	assert_int_equal(fclose(f), 0);
	{
		const char *run[] = { harness_bin("fedc-researcher"), "run", exp, NULL };

		rc = harness_run(&H, run, 300, output, sizeof(output));
	}
	if (rc)
		fprintf(stderr, "%s\n", output);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(output, "round    3/3 "));
	assert_non_null(strstr(output, "nodes 5/5"));
	{
		const char *final = strstr(output, "final evaluation");
		double acc = final ? number_after(final, "test accuracy ") : -1;

		fprintf(stderr, "nodes' held-out rows: accuracy %.4f\n", acc);
		assert_true(acc >= 0.6);
	}
	snprintf(params, sizeof(params), "%s/global.params", out);
	{
		const char *eval[] = { harness_bin("fedc-eval-idx"), "--plan", harness_plan("mlp"),
				       "--params", params, "--images", t10k_img, "--labels", t10k_lbl, "--model",
				       "n_features=784,n_classes=10,hidden=128", NULL };
		double acc;

		rc = harness_run(&H, eval, 60, output, sizeof(output));
		if (rc)
			fprintf(stderr, "%s\n", output);
		assert_int_equal(rc, 0);
		assert_non_null(strstr(output, "images 10000  accuracy "));
		acc = number_after(output, "images 10000  accuracy ");
		fprintf(stderr, "t10k: accuracy %.4f\n", acc);
		assert_true(acc >= 0.6);
		assert_non_null(strstr(output, "class 9  images 1000  accuracy "));
	}
	/* The same first round under secure aggregation gives the plain round's
	 * parameters within the fixed-point bound: at most one float32 rounding
	 * apart (the sums differ by under 1e-9 before the division). */
	{
		char secure[600], plain_round1[700], secure_params[700];
		const char *run[] = { harness_bin("fedc-researcher"), "run", secure, NULL };
		struct fedc_params *a = NULL, *b = NULL;
		size_t differ = 0;

		snprintf(secure, sizeof(secure), "%s/fashion-secagg.ini", H.dir);
		f = fopen(secure, "w");
		assert_non_null(f);
		fprintf(f,
			"[experiment]\nname = fashion-secagg\ntags = fashion-mnist\nplan = %s\nrounds = 1\nmin_nodes = 5\n"
			"round_timeout_s = 120\ndiscovery_timeout_s = 10\nseed = 42\noutput_dir = %s-out\n"
			"final_evaluation = false\n[privacy]\nsecure_aggregation = on\n"
			"[model]\nn_features = 784\nn_classes = 10\nhidden = 128\n"
			"[training]\nlr = 0.1\nepochs = 1\nbatch_size = 64\ntest_ratio = 0.1\n"
			"[aggregator]\nmethod = fedavg\n%s",
			harness_plan("mlp"), secure, harness_network_section(&H));
		assert_int_equal(fclose(f), 0);
		rc = harness_run(&H, run, 300, output, sizeof(output));
		if (rc)
			fprintf(stderr, "%s\n", output);
		assert_int_equal(rc, 0);
		snprintf(plain_round1, sizeof(plain_round1), "%s/breakpoints/round-000001/global.params", out);
		snprintf(secure_params, sizeof(secure_params), "%s-out/global.params", secure);
		assert_int_equal(fedc_params_open(plain_round1, &a), FEDC_OK);
		assert_int_equal(fedc_params_open(secure_params, &b), FEDC_OK);
		assert_int_equal(fedc_params_count(a), fedc_params_count(b));
		for (size_t t = 0; t < fedc_params_count(a); t++) {
			const float *x = fedc_params_tensors(a)[t].data, *y = fedc_params_tensors(b)[t].data;
			uint64_t n = fedc_tensor_elements(&fedc_params_tensors(a)[t]);

			assert_int_equal(n, fedc_tensor_elements(&fedc_params_tensors(b)[t]));
			for (uint64_t k = 0; k < n; k++) {
				double d = fabs((double)x[k] - (double)y[k]);

				assert_true(d <= fabs((double)x[k]) * 0x1p-23 + 1e-9);
				differ += x[k] != y[k];
			}
		}
		fprintf(stderr, "secure aggregation: %zu values one rounding away from plain FedAvg, the rest equal\n",
			differ);
		fedc_params_close(a);
		fedc_params_close(b);
	}
	/* Parameters of another shape are refused with a reason. */
	{
		const char *eval[] = { harness_bin("fedc-eval-idx"), "--plan", harness_plan("mlp"),
				       "--params", params, "--images", t10k_img, "--labels", t10k_lbl, "--model", "hidden=64", NULL };

		assert_int_equal(harness_run(&H, eval, 60, output, sizeof(output)), 1);
		assert_non_null(strstr(output, "refused these parameters"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mlp_fashion_short),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
