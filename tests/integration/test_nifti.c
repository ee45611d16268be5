/* The NIfTI example (examples/nifti/): fedc-make-volumes writes synthetic
 * 16x16x16 volumes (class 1 has a bright blob), masks and demographics
 * tables for two nodes. Through the real stack (broker, repository, node
 * daemons with confined plan processes):
 *   - the demographics-labelled folders train the dense MLP over the
 *     flattened 1x16x16x16 volumes to well above chance;
 *   - the mask-labelled folder registers with shape 1x16x16x16 and one
 *     class per voxel, and a plan built for ABI 2 is refused it, naming the
 *     4096 targets per sample (label_width) that only ABI 3 plans read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct harness H;
static char output[1 << 17];
static char researcher[600];

static int setup(void **state)
{
	char out[600];
	const char *make[] = { NULL, "--out", out, "--nodes", "2", "--subjects", "40", "--side", "16", NULL };

	(void)state;
	if (harness_init(&H))
		return -1;
	snprintf(researcher, sizeof(researcher), "%s", harness_bin("fedc-researcher"));
	snprintf(out, sizeof(out), "%s/volumes", H.dir);
	make[0] = harness_bin("fedc-make-volumes");
	if (harness_run(&H, make, 120, output, sizeof(output)) != 0 || !strstr(output, "wrote 2 nodes of 40 subjects")) {
		fprintf(stderr, "%s\n", output);
		return -1;
	}
	if (harness_start_broker(&H) || harness_start_repository(&H) || harness_connect_observer(&H))
		return -1;
	return 0;
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

/* A node holding node<k>'s folder, registered with `extra` options (up to
 * four words), approving `plan`. */
static size_t add_node(const char *id, int k, const char *tags, const char *plan, const char *const extra[4])
{
	char path[600], table[600];
	int rc = harness_add_node(&H, id, NULL, NULL, plan);
	size_t node;

	assert_true(rc >= 0);
	node = (size_t)rc;
	snprintf(path, sizeof(path), "%s/volumes/node%d", H.dir, k);
	snprintf(table, sizeof(table), "%s/volumes/node%d-demographics.csv", H.dir, k);
	{
		const char *add[] = { harness_bin("fedc-node"), "--config", H.nodes[node].config, "dataset", "add",
				      "--type", "nifti", "--name", id, "--tags", tags, "--path", path, "--modality", "T1",
				      "--demographics", table, extra[0], extra[1], extra[2], extra[3], NULL };

		rc = harness_run(&H, add, 120, output, sizeof(output));
		if (rc)
			fprintf(stderr, "%s\n", output);
		assert_int_equal(rc, 0);
	}
	return node;
}

static int run_experiment(const char *name, const char *plan, const char *tags, int n_nodes, const char *model,
			  const char *training)
{
	char exp[600], out[600];
	const char *run[] = { researcher, "run", exp, NULL };
	FILE *f;

	snprintf(exp, sizeof(exp), "%s/%s.ini", H.dir, name);
	snprintf(out, sizeof(out), "%s/%s-out", H.dir, name);
	f = fopen(exp, "w");
	assert_non_null(f);
	fprintf(f,
		"[experiment]\nname = %s\ntags = %s\nplan = %s\nrounds = 5\nmin_nodes = %d\nround_timeout_s = 120\n"
		"discovery_timeout_s = 10\nseed = 42\noutput_dir = %s\n[model]\n%s\n[training]\n%s\n"
		"[aggregator]\nmethod = fedavg\n%s",
		name, tags, plan, n_nodes, out, model, training, harness_network_section(&H));
	assert_int_equal(fclose(f), 0);
	return harness_run(&H, run, 300, output, sizeof(output));
}

/* Blob or not, from the demographics' label column, on two nodes. */
static void test_nifti_demographics_train(void **state)
{
	static const char *const extra[4] = { "--label-column", "label", "--split", "stratified" };
	int rc;

	(void)state;
	for (int k = 0; k < 2; k++) {
		char id[16];

		size_t node;

		snprintf(id, sizeof(id), "vol-%d", k);
		node = add_node(id, k, "blobs", harness_plan("mlp"), extra);
		/* The same shuffling every run. (At lr 0.05 one run in seven of
		 * the nodes' secret seeds ended at chance, CI saw 0.5; at 0.01,
		 * eight of eight reached 1.0.) */
		assert_int_equal(harness_node_limits(&H, node, "train_timeout_s = 120\n[privacy]\nsecret_training_seed = false\n"), 0);
		assert_int_equal(harness_start_node(&H, node), 0);
		assert_non_null(strstr(output, "40 subjects' volumes of 1x16x16x16 (4096 features), 2 classes"));
		assert_non_null(strstr(output, "warning: 2 rows of"));
	}
	rc = run_experiment("blobs", harness_plan("mlp"), "blobs", 2, "n_features = 4096\nn_classes = 2\nhidden = 32",
			    "lr = 0.01\nepochs = 3\nbatch_size = 8\ntest_ratio = 0.25");
	if (rc)
		fprintf(stderr, "%s\n", output);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(output, "round    5/5 "));
	{
		const char *final = strstr(output, "final evaluation");
		double acc = final ? number_after(final, "test accuracy ") : -1;

		fprintf(stderr, "nifti blobs, nodes' held-out subjects: accuracy %.4f\n", acc);
		if (acc < 0.8)
			fail_msg("accuracy %.4f below 0.8:\n%s", acc, output);
	}
}

/* The mask as labels: 1x16x16x16, a class per voxel; `dataset show` counts
 * voxels per class; a plan of ABI 2 is refused the data by the plan
 * process, which names the label width. */
static void test_nifti_mask_label_width(void **state)
{
	static const char *const extra[4] = { "--mask", "seg", "--features", "age,sex" };
	size_t node;
	int rc;

	(void)state;
	node = add_node("seg-0", 0, "masks", harness_plan("fixtures/abi2"), extra);
	assert_non_null(strstr(output, "40 subjects' volumes of 1x16x16x16 (4098 features), 2 classes (a class per "
				       "voxel)"));
	{
		const char *show[] = { harness_bin("fedc-node"), "--config", H.nodes[node].config, "dataset", "show",
				       "seg-0", NULL };
		uint64_t zeros, ones;
		const char *counts;

		assert_int_equal(harness_run(&H, show, 60, output, sizeof(output)), 0);
		assert_non_null(strstr(output, "shape:        1x16x16x16"));
		assert_non_null(strstr(output, "options:      modality=T1;mask=seg;"));
		counts = strstr(output, "label counts: 0=");
		assert_non_null(counts);
		assert_int_equal(sscanf(counts, "label counts: 0=%" SCNu64 " 1=%" SCNu64, &zeros, &ones), 2);
		assert_int_equal(zeros + ones, 40 * 4096); /* every voxel of every subject has a class */
		assert_true(ones > 0);
	}
	/* Its test set must take its labels from masks too. */
	{
		char path[600], table[600];
		const char *add[] = { harness_bin("fedc-node"), "--config", H.nodes[node].config, "dataset", "add",
				      "--type", "nifti", "--name", "seg-test", "--path", path, "--modality", "T1",
				      "--demographics", table, "--label-column", "label", "--test-of", "seg-0", NULL };

		snprintf(path, sizeof(path), "%s/volumes/node1", H.dir);
		snprintf(table, sizeof(table), "%s/volumes/node1-demographics.csv", H.dir);
		assert_int_not_equal(harness_run(&H, add, 60, output, sizeof(output)), 0);
		assert_non_null(strstr(output, "labels from a table column here, from a mask there"));
	}
	assert_int_equal(harness_start_node(&H, node), 0);
	rc = run_experiment("masks", harness_plan("fixtures/abi2"), "masks", 1, "n_params = 4", "lr = 0.1\nepochs = 1\n"
			    "batch_size = 8\ntest_ratio = 0.25\n");
	assert_int_not_equal(rc, 0);
	if (!strstr(output, "plan ABI 2, and the dataset has 4096 targets per sample"))
		fprintf(stderr, "%s\n", output);
	assert_non_null(strstr(output, "plan ABI 2, and the dataset has 4096 targets per sample"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nifti_demographics_train),
		cmocka_unit_test(test_nifti_mask_label_width),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
