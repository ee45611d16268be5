/* The CNN example with batch norm (examples/cnn/, [model] batch_norm = 1):
 * its running statistics are BUFFER tensors, so every aggregator averages
 * them by sample count and no server optimizer steps them. Three real nodes
 * hold IID parties of Fashion-MNIST (fedc-partition); the same short run
 * under FedAvg, FedAdam, FedYogi and FedAdagrad must each reach FedAvg's
 * accuracy on all of t10k (within TOLERANCE), and the parameters refuse to
 * load into the model without batch norm. Before buffers had a role, a
 * server optimizer moved running variances like weights (issue #17). Needs
 * the Debian package dataset-fashion-mnist (FEDC_FASHION_MNIST_DIR names
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
#define SAMPLES 6000   /* training images, split among three nodes */
#define ROUNDS 10      /* of one local epoch */
#define FLOOR 0.65     /* FedAvg on t10k; a model that does not learn scores 0.1 */
#define TOLERANCE 0.03 /* a server optimizer against FedAvg */
#define MODEL "[model]\nbatch_norm = 1\nmomentum = 0.9\n"
#define MODEL_ARGS "batch_norm=1,momentum=0.9"

static struct harness H;
static char output[1 << 17];
static char data_dir[512], t10k_img[600], t10k_lbl[600];

/* The server optimizers' [aggregator] lines, with server steps for a small
 * CNN (FedOpt, Reddi et al. 2021, tunes them per task): with beta2 0.99 and
 * a small tau the first step moves each weight by about server_lr, and
 * Adagrad's steps shrink as its squares add up, so it takes a larger one. */
static const char *const methods[] = {
	"method = fedadam\nserver_lr = 0.03",
	"method = fedyogi\nserver_lr = 0.03",
	"method = fedadagrad\nserver_lr = 0.1",
};

static double number_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? atof(p + strlen(key)) : -1;
}

static void add_nodes(void)
{
	char cmd[4200], id[32], img[700], lbl[700];
	FILE *p;
	size_t n;
	int status;

	snprintf(cmd, sizeof(cmd),
		 "%s --images %s/train-images-idx3-ubyte.gz --labels %s/train-labels-idx1-ubyte.gz --samples %d "
		 "--seed 42 --out %s/iid --parties 3 2>&1",
		 harness_bin("fedc-partition"), data_dir, data_dir, SAMPLES, H.dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(output, 1, sizeof(output) - 1, p);
	output[n] = '\0';
	status = pclose(p);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s: %s", cmd, output);
	for (int i = 0; i < 3; i++) {
		int rc;

		snprintf(id, sizeof(id), "node-%d", i);
		snprintf(img, sizeof(img), "%s/iid/party-%d-images-idx3-ubyte.gz", H.dir, i);
		snprintf(lbl, sizeof(lbl), "%s/iid/party-%d-labels-idx1-ubyte.gz", H.dir, i);
		rc = harness_add_node(&H, id, NULL, NULL, harness_plan("cnn"));
		assert_true(rc >= 0);
		{
			const char *add[] = { harness_bin("fedc-node"), "--config", H.nodes[rc].config, "dataset",
					      "add", "--type", "idx", "--name", id, "--tags", "fashion-mnist", "--file",
					      img, "--labels", lbl, NULL };

			if (harness_run(&H, add, 60, output, sizeof(output)))
				fail_msg("dataset add %s: %s", img, output);
		}
		/* The same training seeds every run, so that the comparison is
		 * of the methods, not of the nodes' secret seeds. */
		assert_int_equal(harness_node_limits(&H, (size_t)rc,
						     "train_timeout_s = 300\n[privacy]\nsecret_training_seed = false\n"),
				 0);
		assert_int_equal(harness_start_node(&H, (size_t)rc), 0);
	}
}

/* Runs the batch-norm CNN under `aggregator` (its [aggregator] lines) and
 * returns fedc-eval-idx's accuracy of the final model on all of t10k. */
static double run_t10k(const char *name, const char *aggregator)
{
	char exp[600], params[700];
	FILE *f;
	int rc;

	snprintf(exp, sizeof(exp), "%s/%s.ini", H.dir, name);
	f = fopen(exp, "w");
	assert_non_null(f);
	fprintf(f,
		"[experiment]\nname = %s\ntags = fashion-mnist\nplan = %s\nrounds = %d\nmin_nodes = 3\n"
		"round_timeout_s = 300\ndiscovery_timeout_s = 10\nseed = 0\noutput_dir = %s/%s-out\n"
		"final_evaluation = false\n" MODEL
		"[training]\nlr = 0.01\noptimizer = sgd\nepochs = 1\nbatch_size = 64\ntest_ratio = 0\n"
		"[aggregator]\n%s\n%s",
		name, harness_plan("cnn"), ROUNDS, H.dir, name, aggregator, harness_network_section(&H));
	assert_int_equal(fclose(f), 0);
	{
		const char *run[] = { harness_bin("fedc-researcher"), "run", exp, NULL };

		rc = harness_run(&H, run, 600, output, sizeof(output));
	}
	if (rc)
		fail_msg("%s: exit %d\n%s", name, rc, output);
	snprintf(params, sizeof(params), "%s/%s-out/global.params", H.dir, name);
	{
		const char *eval[] = { harness_bin("fedc-eval-idx"), "--plan", harness_plan("cnn"), "--params", params,
				       "--images", t10k_img, "--labels", t10k_lbl, "--model", MODEL_ARGS, NULL };

		if (harness_run(&H, eval, 120, output, sizeof(output)))
			fail_msg("fedc-eval-idx %s: %s", name, output);
	}
	assert_non_null(strstr(output, "images 10000  accuracy "));
	return number_after(output, "images 10000  accuracy ");
}

static void test_server_optimizers_reach_fedavg(void **state)
{
	double fedavg, acc;

	(void)state;
	assert_int_equal(harness_start_broker(&H), 0);
	assert_int_equal(harness_start_repository(&H), 0);
	assert_int_equal(harness_connect_observer(&H), 0);
	add_nodes();
	fedavg = run_t10k("fedavg", "method = fedavg");
	fprintf(stderr, "batch-norm CNN, fedavg: t10k accuracy %.4f\n", fedavg);
	assert_true(fedavg >= FLOOR);
	for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
		char name[32];

		snprintf(name, sizeof(name), "opt%zu", m);
		acc = run_t10k(name, methods[m]);
		fprintf(stderr, "batch-norm CNN, %.*s: t10k accuracy %.4f\n", (int)strcspn(methods[m], "\n"), methods[m],
			acc);
		if (acc < fedavg - TOLERANCE)
			fail_msg("%s: t10k accuracy %.4f, FedAvg's %.4f", methods[m], acc, fedavg);
	}
	/* The same parameters for a model without batch norm are refused. */
	{
		char params[700];

		snprintf(params, sizeof(params), "%s/fedavg-out/global.params", H.dir);
		const char *eval[] = { harness_bin("fedc-eval-idx"), "--plan", harness_plan("cnn"), "--params", params,
				       "--images", t10k_img, "--labels", t10k_lbl, NULL };

		assert_int_equal(harness_run(&H, eval, 60, output, sizeof(output)), 1);
		assert_non_null(strstr(output, "refused these parameters"));
	}
}

static int setup(void **state)
{
	const char *dir = getenv("FEDC_FASHION_MNIST_DIR");

	(void)state;
	snprintf(data_dir, sizeof(data_dir), "%s", dir ? dir : FASHION_DIR);
	snprintf(t10k_img, sizeof(t10k_img), "%s/t10k-images-idx3-ubyte.gz", data_dir);
	snprintf(t10k_lbl, sizeof(t10k_lbl), "%s/t10k-labels-idx1-ubyte.gz", data_dir);
	if (access(t10k_img, R_OK) || access(t10k_lbl, R_OK)) {
		fprintf(stderr, "Fashion-MNIST is not in %s (apt-get install dataset-fashion-mnist)\n", data_dir);
		return -1;
	}
	return harness_init(&H) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_optimizers_reach_fedavg),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
