/* The CNN example (examples/cnn/): a short federated run of NIID-Bench's
 * simple CNN, with batch norm (its running statistics are BUFFER tensors)
 * and SGD momentum from [model], on a subset of Fashion-MNIST across three
 * real nodes, scored by the nodes and by fedc-eval-idx on t10k. Needs the
 * Debian package dataset-fashion-mnist (FEDC_FASHION_MNIST_DIR names
 * another directory holding the four .gz files). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define MODEL "batch_norm = 1\nmomentum = 0.9\n"
#define MODEL_ARGS "batch_norm=1,momentum=0.9"

static struct harness H;
static char output[1 << 17];

static int shard_tool(const char *args)
{
	char cmd[4096];
	FILE *p;
	size_t n;
	int status;

	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", harness_bin("fedc-shard-idx"), args);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(output, 1, sizeof(output) - 1, p);
	output[n] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static double number_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? atof(p + strlen(key)) : -1;
}

static void add_nodes(const char *data, int n)
{
	char args[2048], id[32], img[600], lbl[600];
	int rc;

	snprintf(img, sizeof(img), "%s/train-images-idx3-ubyte.gz", data);
	snprintf(lbl, sizeof(lbl), "%s/train-labels-idx1-ubyte.gz", data);
	snprintf(args, sizeof(args), "--images %s --labels %s --shards %d --samples 6000 --seed 42 --out %s/fashion",
		 img, lbl, n, H.dir);
	assert_int_equal(shard_tool(args), 0);
	for (int i = 0; i < n; i++) {
		size_t node;

		snprintf(id, sizeof(id), "node-%d", i);
		snprintf(img, sizeof(img), "%s/fashion/shard-%d-images-idx3-ubyte.gz", H.dir, i);
		snprintf(lbl, sizeof(lbl), "%s/fashion/shard-%d-labels-idx1-ubyte.gz", H.dir, i);
		rc = harness_add_node(&H, id, NULL, NULL, harness_plan("cnn"));
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
}

/* Three nodes with IID shards of 2000 images, 2 rounds of one epoch: both
 * the nodes' held-out rows and t10k put the model far above chance (0.1). */
static void test_cnn_fashion_short(void **state)
{
	const char *data = getenv("FEDC_FASHION_MNIST_DIR") ? getenv("FEDC_FASHION_MNIST_DIR") : FASHION_DIR;
	char exp[600], out[600], params[700], t10k_img[600], t10k_lbl[600];
	FILE *f;
	int rc;

	snprintf(t10k_img, sizeof(t10k_img), "%s/t10k-images-idx3-ubyte.gz", data);
	snprintf(t10k_lbl, sizeof(t10k_lbl), "%s/t10k-labels-idx1-ubyte.gz", data);
	if (access(t10k_img, R_OK) || access(t10k_lbl, R_OK))
		fail_msg("Fashion-MNIST is not in %s (Debian package dataset-fashion-mnist)", data);
	assert_int_equal(harness_start_broker(&H), 0);
	assert_int_equal(harness_start_repository(&H), 0);
	assert_int_equal(harness_connect_observer(&H), 0);
	add_nodes(data, 3);
	snprintf(exp, sizeof(exp), "%s/cnn.ini", H.dir);
	snprintf(out, sizeof(out), "%s/cnn-out", H.dir);
	f = fopen(exp, "w");
	assert_non_null(f);
	fprintf(f,
		"[experiment]\nname = cnn-short\ntags = fashion-mnist\nplan = %s\nrounds = 2\nmin_nodes = 3\n"
		"round_timeout_s = 300\ndiscovery_timeout_s = 10\nseed = 42\noutput_dir = %s\n"
		"[model]\n" MODEL "[training]\nlr = 0.05\nepochs = 1\nbatch_size = 64\ntest_ratio = 0.1\n"
		"[aggregator]\nmethod = fedavg\n%s",
		harness_plan("cnn"), out, harness_network_section(&H));
	assert_int_equal(fclose(f), 0);
	{
		const char *run[] = { harness_bin("fedc-researcher"), "run", exp, NULL };

		rc = harness_run(&H, run, 500, output, sizeof(output));
	}
	if (rc)
		fprintf(stderr, "%s\n", output);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(output, "round    2/2 "));
	{
		const char *final = strstr(output, "final evaluation");
		double acc = final ? number_after(final, "test accuracy ") : -1;

		fprintf(stderr, "nodes' held-out rows: accuracy %.4f\n", acc);
		assert_true(acc >= 0.6);
	}
	snprintf(params, sizeof(params), "%s/global.params", out);
	{
		const char *eval[] = { harness_bin("fedc-eval-idx"), "--plan", harness_plan("cnn"), "--params", params,
				       "--images", t10k_img, "--labels", t10k_lbl, "--model", MODEL_ARGS, NULL };
		double acc;

		rc = harness_run(&H, eval, 120, output, sizeof(output));
		if (rc)
			fprintf(stderr, "%s\n", output);
		assert_int_equal(rc, 0);
		acc = number_after(output, "images 10000  accuracy ");
		fprintf(stderr, "t10k: accuracy %.4f\n", acc);
		assert_true(acc >= 0.6);
	}
	/* The same parameters for a model without batch norm are refused. */
	{
		const char *eval[] = { harness_bin("fedc-eval-idx"), "--plan", harness_plan("cnn"), "--params", params,
				       "--images", t10k_img, "--labels", t10k_lbl, NULL };

		assert_int_equal(harness_run(&H, eval, 60, output, sizeof(output)), 1);
		assert_non_null(strstr(output, "refused these parameters"));
	}
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cnn_fashion_short),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
