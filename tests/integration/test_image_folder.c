/* The image-folder example (examples/image-folder/): fedc-make-image-folders
 * writes Fashion-MNIST as PNG class folders for two nodes, each node
 * registers its folder (`dataset add --type images`), and a short federated
 * run of the dense MLP plan over the flattened 1x28x28 images trains through
 * the real stack: broker, repository, node daemons whose plan processes see
 * the folder through their confined root. A file changed afterwards is
 * refused by name. Needs the Debian package dataset-fashion-mnist
 * (FEDC_FASHION_MNIST_DIR names another directory). */
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

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define PER_NODE 1500

static struct harness H;
static char output[1 << 17];

static int setup(void **state)
{
	(void)state;
	return harness_init(&H);
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

static double number_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? atof(p + strlen(key)) : -1;
}

static void run_ok(const char *const argv[], int timeout_s)
{
	int rc = harness_run(&H, argv, timeout_s, output, sizeof(output));

	if (rc)
		fprintf(stderr, "%s\n", output);
	assert_int_equal(rc, 0);
}

static void make_folders(void)
{
	const char *data = getenv("FEDC_FASHION_MNIST_DIR") ? getenv("FEDC_FASHION_MNIST_DIR") : FASHION_DIR;
	char img[600], lbl[600], out[600], per[16];
	const char *argv[] = { harness_bin("fedc-make-image-folders"), "--images", img, "--labels", lbl, "--out", out,
			       "--nodes", "2", "--per-node", per, NULL };

	snprintf(img, sizeof(img), "%s/train-images-idx3-ubyte.gz", data);
	snprintf(lbl, sizeof(lbl), "%s/train-labels-idx1-ubyte.gz", data);
	snprintf(out, sizeof(out), "%s/folders", H.dir);
	snprintf(per, sizeof(per), "%d", PER_NODE);
	if (access(img, R_OK) || access(lbl, R_OK))
		fail_msg("Fashion-MNIST is not in %s (Debian package dataset-fashion-mnist, which scripts/setup.sh "
			 "installs)", data);
	run_ok(argv, 120);
	assert_non_null(strstr(output, "wrote 2 nodes of 1500 PNG images (28x28)"));
}

static size_t add_node(int k)
{
	char id[32], path[600];
	int rc;
	size_t node;

	snprintf(id, sizeof(id), "img-%d", k);
	snprintf(path, sizeof(path), "%s/folders/node%d", H.dir, k);
	rc = harness_add_node(&H, id, NULL, NULL, harness_plan("mlp"));
	assert_true(rc >= 0);
	node = (size_t)rc;
	{
		const char *add[] = { harness_bin("fedc-node"), "--config", H.nodes[node].config, "dataset", "add",
				      "--type", "images", "--name", id, "--tags", "fashion-images", "--path", path, NULL };
		const char *show[] = { harness_bin("fedc-node"), "--config", H.nodes[node].config, "dataset", "show",
				       id, NULL };

		run_ok(add, 120);
		assert_non_null(strstr(output, "1500 images of 1x28x28 (784 features), 10 classes"));
		run_ok(show, 60);
		assert_non_null(strstr(output, "type:         images"));
		assert_non_null(strstr(output, "shape:        1x28x28"));
		assert_non_null(strstr(output, "options:      size=28x28;channels=1;normalize=unit;labels=folders;"));
	}
	return node;
}

/* Two nodes, 5 rounds of one epoch on 1500 images each: the nodes'
 * held-out rows put the final model far above chance (0.1). Then a PNG
 * rewritten on node 0 makes `dataset show` refuse the folder naming it. */
static void test_image_folders_train(void **state)
{
	char exp[600], out[600], researcher[600];
	const char *run[] = { researcher, "run", exp, NULL };
	FILE *f;
	int rc;

	(void)state;
	make_folders();
	snprintf(researcher, sizeof(researcher), "%s", harness_bin("fedc-researcher")); /* harness_bin's buffer is reused */
	assert_int_equal(harness_start_broker(&H), 0);
	assert_int_equal(harness_start_repository(&H), 0);
	assert_int_equal(harness_connect_observer(&H), 0);
	for (int k = 0; k < 2; k++)
		assert_int_equal(harness_start_node(&H, add_node(k)), 0);
	snprintf(exp, sizeof(exp), "%s/images.ini", H.dir);
	snprintf(out, sizeof(out), "%s/images-out", H.dir);
	f = fopen(exp, "w");
	assert_non_null(f);
	fprintf(f,
		"[experiment]\nname = image-folders\ntags = fashion-images\nplan = %s\nrounds = 5\nmin_nodes = 2\n"
		"round_timeout_s = 120\ndiscovery_timeout_s = 10\nseed = 42\noutput_dir = %s\n"
		"[model]\nn_features = 784\nn_classes = 10\nhidden = 128\n"
		"[training]\nlr = 0.1\nepochs = 1\nbatch_size = 32\ntest_ratio = 0.1\n"
		"[aggregator]\nmethod = fedavg\n%s",
		harness_plan("mlp"), out, harness_network_section(&H));
	assert_int_equal(fclose(f), 0);
	rc = harness_run(&H, run, 300, output, sizeof(output));
	if (rc)
		fprintf(stderr, "%s\n", output);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(output, "round    5/5 "));
	assert_non_null(strstr(output, "nodes 2/2"));
	{
		const char *final = strstr(output, "final evaluation");
		double acc = final ? number_after(final, "test accuracy ") : -1;

		fprintf(stderr, "image folders, nodes' held-out rows: accuracy %.4f\n", acc);
		if (acc < 0.6)
			fprintf(stderr, "%s\n", output);
		assert_true(acc >= 0.6);
	}
	/* A PNG of node 0 overwritten by one of node 1 after registration:
	 * refused, named. */
	{
		const char *show[] = { harness_bin("fedc-node"), "--config", H.nodes[0].config, "dataset", "show",
				       "img-0", NULL };
		char cmd[1400];

		snprintf(cmd, sizeof(cmd), "d=%s/folders; cp \"$(ls -d $d/node1/3/* | head -1)\" \"$d/node0/3/$(ls $d/node0/3 "
			 "| head -1)\"", H.dir);
		assert_int_equal(system(cmd), 0);
		rc = harness_run(&H, show, 60, output, sizeof(output));
		if (rc == 0 || !strstr(output, "changed or added: 3/"))
			fprintf(stderr, "%s\n", output);
		assert_int_not_equal(rc, 0);
		assert_non_null(strstr(output, "changed or added: 3/"));
		assert_non_null(strstr(output, "register it again"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_folders_train),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
