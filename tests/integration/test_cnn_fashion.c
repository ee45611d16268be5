/* The NIID-Bench experiments of examples/cnn/ and their centralized
 * baseline, cut down to seconds (docs/learning-quality.md): NIID-Bench's
 * simple CNN (cnn.so) trained by real nodes on parties that fedc-partition
 * made from a seeded 6000-image subset of Fashion-MNIST, scored on all of
 * t10k by fedc-eval-idx, against fedc-centralized training the same plan on
 * the same 6000 images for as many epochs. A CNN or a partition that does not
 * learn stays near chance (0.1) and fails the floors. Skipped when the
 * Debian package dataset-fashion-mnist (which scripts/setup.sh installs) is
 * not there (FEDC_FASHION_MNIST_DIR names another directory with the four
 * .gz files). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define SAMPLES 6000 /* training images, split among the nodes or trained on centrally */
#define ROUNDS 3     /* of one local epoch; the centralized run trains ROUNDS epochs */
/* Floors on t10k accuracy (chance is 0.1), measured on a 2-core machine at
 * 0.79 (centralized), 0.72 to 0.73 (3 nodes IID) and 0.47 / 0.64 (FedProx /
 * SCAFFOLD on Dirichlet parties): margins for other BLAS kernels' rounding,
 * never for a model that does not learn. */
#define FLOOR 0.70
#define DIR_FLOOR 0.40
/* Federated IID within this of centralized after as many epochs: after 3
 * rounds FedAvg trails by 7 points (each node takes 32 steps a round from
 * the average); the full-size runs end within 1 (docs/learning-quality.md). */
#define PARITY 0.10

static struct harness H;
static char output[1 << 17];
static char data_dir[512], t10k_img[600], t10k_lbl[600];
static double centralized_accuracy = -1;
static bool have_data;

static double number_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? atof(p + strlen(key)) : -1;
}

/* Runs fedc-partition on the training set with `args` into H.dir/OUT. */
static void partition(const char *out, const char *args)
{
	char cmd[4200];
	FILE *p;
	size_t n;
	int status;

	snprintf(cmd, sizeof(cmd),
		 "%s --images %s/train-images-idx3-ubyte.gz --labels %s/train-labels-idx1-ubyte.gz --samples %d "
		 "--seed 42 --out %s/%s %s 2>&1",
		 harness_bin("fedc-partition"), data_dir, data_dir, SAMPLES, H.dir, out, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(output, 1, sizeof(output) - 1, p);
	output[n] = '\0';
	status = pclose(p);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s: %s", cmd, output);
}

/* fedc-eval-idx's accuracy of `params` on all of t10k. */
static double t10k_accuracy(const char *params)
{
	const char *eval[] = { harness_bin("fedc-eval-idx"), "--plan", harness_plan("cnn"), "--params", params,
			       "--images", t10k_img, "--labels", t10k_lbl, NULL };

	if (harness_run(&H, eval, 120, output, sizeof(output)))
		fail_msg("fedc-eval-idx: %s", output);
	assert_non_null(strstr(output, "images 10000  accuracy "));
	return number_after(output, "images 10000  accuracy ");
}

/* NIID-Bench's optimizer (SGD lr 0.01, momentum 0.9), as in
 * examples/cnn/experiment-fedavg.ini; SCAFFOLD's is plain SGD at lr 0.1
 * (examples/cnn/experiment-scaffold.ini says why). */
#define SGDM "lr = 0.01\noptimizer = sgdm"
#define SGD_SCAFFOLD "lr = 0.1\noptimizer = sgd"

/* An experiment file as examples/cnn/experiment-*.ini (batch 64, weight
 * decay 1e-5, test_ratio 0), for `rounds` of one epoch with `optimizer`. */
static void write_experiment(FILE *f, const char *name, const char *tags, const char *aggregator,
			     const char *optimizer, int rounds, int min_nodes)
{
	fprintf(f,
		"[experiment]\nname = %s\ntags = %s\nplan = %s\nrounds = %d\nmin_nodes = %d\n"
		"round_timeout_s = 300\ndiscovery_timeout_s = 10\nseed = 0\noutput_dir = %s/%s-out\n"
		"final_evaluation = false\n"
		"[model]\nweight_decay = 0.00001\n"
		"[training]\n%s\nepochs = 1\nbatch_size = 64\ntest_ratio = 0\n"
		"[aggregator]\n%s\n%s",
		name, tags, harness_plan("cnn"), rounds, min_nodes, H.dir, name, optimizer, aggregator,
		harness_network_section(&H));
}

static int setup(void **state)
{
	const char *dir = getenv("FEDC_FASHION_MNIST_DIR");
	char img[600], lbl[600];

	snprintf(data_dir, sizeof(data_dir), "%s", dir ? dir : FASHION_DIR);
	snprintf(t10k_img, sizeof(t10k_img), "%s/t10k-images-idx3-ubyte.gz", data_dir);
	snprintf(t10k_lbl, sizeof(t10k_lbl), "%s/t10k-labels-idx1-ubyte.gz", data_dir);
	snprintf(img, sizeof(img), "%s/train-images-idx3-ubyte.gz", data_dir);
	snprintf(lbl, sizeof(lbl), "%s/train-labels-idx1-ubyte.gz", data_dir);
	have_data = !access(img, R_OK) && !access(lbl, R_OK) && !access(t10k_img, R_OK) && !access(t10k_lbl, R_OK);
	if (!have_data) /* a required component: scripts/setup.sh installs it */
		fprintf(stderr, "Fashion-MNIST is not in %s (Debian package dataset-fashion-mnist)\n", data_dir);
	return harness_init(&H) ? -1 : 0;
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

/* Centralized: the 6000 images (fedc-partition's one party of them: the
 * same rows the federated parties share out, as both take the first 6000 of
 * the same seeded shuffle) for ROUNDS epochs, tested on all of t10k through
 * --test; the trained parameters scored by fedc-eval-idx agree. */
static void test_cnn_centralized(void **state)
{
	char exp[600], img[600], lbl[600], params[600];
	FILE *f;

	if (!have_data)
		fail_msg("Fashion-MNIST is missing: apt-get install dataset-fashion-mnist");
	partition("all", "--parties 1");
	snprintf(exp, sizeof(exp), "%s/centralized.ini", H.dir);
	f = fopen(exp, "w");
	assert_non_null(f);
	write_experiment(f, "centralized", "fashion-mnist", "method = fedavg", SGDM, ROUNDS, 1);
	assert_int_equal(fclose(f), 0);
	snprintf(img, sizeof(img), "%s/all/party-0-images-idx3-ubyte.gz", H.dir);
	snprintf(lbl, sizeof(lbl), "%s/all/party-0-labels-idx1-ubyte.gz", H.dir);
	snprintf(params, sizeof(params), "%s/centralized.params", H.dir);
	{
		const char *run[] = { harness_bin("fedc-centralized"), "--type", "idx", "--labels", lbl, "--test",
				      t10k_img, "--test-labels", t10k_lbl, "--output", params, exp, img, NULL };

		if (harness_run(&H, run, 300, output, sizeof(output)))
			fail_msg("fedc-centralized: %s", output);
	}
	assert_non_null(strstr(output, "samples 6000 10000"));
	centralized_accuracy = number_after(output, "test accuracy ");
	fprintf(stderr, "centralized, %d images, %d epochs: t10k accuracy %.4f\n", SAMPLES, ROUNDS,
		centralized_accuracy);
	assert_true(centralized_accuracy >= FLOOR);
	assert_true(number_after(output, "initial accuracy ") < 0.3); /* it learned, not started there */
	assert_true(t10k_accuracy(params) > centralized_accuracy - 1e-6);
	assert_true(t10k_accuracy(params) < centralized_accuracy + 1e-6);
}

/* Starts `n` nodes DIR-i, node i holding DIR/party-i tagged DIR. */
static void start_nodes(const char *dir, int n)
{
	char id[32], img[600], lbl[600];
	int rc;

	for (int i = 0; i < n; i++) {
		size_t node;

		snprintf(id, sizeof(id), "%s-%d", dir, i);
		snprintf(img, sizeof(img), "%s/%s/party-%d-images-idx3-ubyte.gz", H.dir, dir, i);
		snprintf(lbl, sizeof(lbl), "%s/%s/party-%d-labels-idx1-ubyte.gz", H.dir, dir, i);
		rc = harness_add_node(&H, id, NULL, NULL, harness_plan("cnn"));
		assert_true(rc >= 0);
		node = (size_t)rc;
		{
			const char *add[] = { harness_bin("fedc-node"), "--config", H.nodes[node].config, "dataset",
					      "add", "--type", "idx", "--name", id, "--tags", dir, "--file",
					      img, "--labels", lbl, NULL };

			if (harness_run(&H, add, 60, output, sizeof(output)))
				fail_msg("dataset add: %s", output);
		}
		/* The same training seeds every run: the floors are for the
		 * model, not for the nodes' secret seeds (which move a short
		 * run by a few points). */
		assert_int_equal(harness_node_limits(&H, node,
						     "train_timeout_s = 300\n[privacy]\nsecret_training_seed = false\n"),
				 0);
		assert_int_equal(harness_start_node(&H, node), 0);
	}
}

/* Runs an experiment over the nodes tagged `tags`; returns its
 * global.params' t10k accuracy. */
static double federate(const char *name, const char *tags, const char *aggregator, const char *optimizer,
		       int rounds, int n_nodes)
{
	char exp[600], params[700], round_line[64];
	FILE *f;

	snprintf(exp, sizeof(exp), "%s/%s.ini", H.dir, name);
	f = fopen(exp, "w");
	assert_non_null(f);
	write_experiment(f, name, tags, aggregator, optimizer, rounds, n_nodes);
	assert_int_equal(fclose(f), 0);
	{
		const char *run[] = { harness_bin("fedc-researcher"), "run", exp, NULL };

		if (harness_run(&H, run, 600, output, sizeof(output)))
			fail_msg("%s: %s", name, output);
	}
	snprintf(round_line, sizeof(round_line), "round    %d/%d ", rounds, rounds);
	assert_non_null(strstr(output, round_line));
	snprintf(params, sizeof(params), "%s/%s-out/global.params", H.dir, name);
	return t10k_accuracy(params);
}

/* Three nodes on IID parties of the 6000 images, FedAvg, ROUNDS rounds of
 * one epoch: above the floor and within PARITY of the centralized run. */
static void test_cnn_federated_iid(void **state)
{
	double acc;

	if (!have_data)
		fail_msg("Fashion-MNIST is missing: apt-get install dataset-fashion-mnist");
	assert_true(centralized_accuracy >= 0); /* test_cnn_centralized ran first */
	assert_int_equal(harness_start_broker(&H), 0);
	assert_int_equal(harness_start_repository(&H), 0);
	assert_int_equal(harness_connect_observer(&H), 0);
	partition("homo", "--parties 3 --split iid");
	start_nodes("homo", 3);
	acc = federate("homo-fedavg", "homo", "method = fedavg", SGDM, ROUNDS, 3);
	fprintf(stderr, "3 nodes IID, FedAvg, %d rounds of 1 epoch: t10k accuracy %.4f (centralized %.4f)\n", ROUNDS,
		acc, centralized_accuracy);
	assert_true(acc >= FLOOR);
	assert_true(acc >= centralized_accuracy - PARITY);
}

/* Three more nodes on Dirichlet(0.5) parties of the same images: FedProx
 * and SCAFFOLD, NIID-Bench's two remedies, both learn. */
static void test_cnn_federated_dirichlet(void **state)
{
	double prox, scaffold;

	if (!have_data)
		fail_msg("Fashion-MNIST is missing: apt-get install dataset-fashion-mnist");
	partition("dir", "--parties 3 --split dirichlet --beta 0.5");
	start_nodes("dir", 3);
	prox = federate("dir-fedprox", "dir", "method = fedprox\nmu = 0.01", SGDM, ROUNDS, 3);
	scaffold = federate("dir-scaffold", "dir", "method = scaffold", SGD_SCAFFOLD, ROUNDS, 3);
	fprintf(stderr, "3 nodes Dirichlet 0.5, %d rounds of 1 epoch: t10k accuracy FedProx %.4f, SCAFFOLD %.4f\n",
		ROUNDS, prox, scaffold);
	assert_true(prox >= DIR_FLOOR);
	assert_true(scaffold >= DIR_FLOOR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cnn_centralized),
		cmocka_unit_test(test_cnn_federated_iid),
		cmocka_unit_test(test_cnn_federated_dirichlet),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
