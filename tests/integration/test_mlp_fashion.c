/* The Fashion-MNIST example (examples/mlp/): the shard tool fedc-shard-idx on
 * small synthetic IDX sets (shares, determinism, bad input, shards a real
 * node accepts), and a short federated run of the MLP plan on a subset of
 * Fashion-MNIST across five real nodes, scored by the nodes and by
 * fedc-eval-idx on the t10k test set. The run is skipped when the Debian
 * package dataset-fashion-mnist is not installed (FEDC_FASHION_MNIST_DIR
 * names another directory holding the four .gz files). */
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
#define SYN_ROWS 2
#define SYN_COLS 3

static struct harness H;
static char output[1 << 17];

/* ---- synthetic IDX sets ------------------------------------------------- */

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* n images of 2x3 whose first two pixels spell the row number (so that a
 * shard's rows can be traced back), labels row % n_classes. */
static void write_synthetic(const char *images, const char *labels, uint32_t n, uint32_t n_classes)
{
	FILE *fi = fopen(images, "wb"), *fl = fopen(labels, "wb");
	unsigned char h[16] = { 0, 0, 8, 3 }, px[SYN_ROWS * SYN_COLS];

	assert_non_null(fi);
	assert_non_null(fl);
	put_be32(h + 4, n);
	put_be32(h + 8, SYN_ROWS);
	put_be32(h + 12, SYN_COLS);
	assert_int_equal(fwrite(h, 1, 16, fi), 16);
	h[3] = 1;
	assert_int_equal(fwrite(h, 1, 8, fl), 8);
	for (uint32_t i = 0; i < n; i++) {
		unsigned char label = (unsigned char)(i % n_classes);

		memset(px, 200, sizeof(px));
		px[0] = (unsigned char)(i & 0xff);
		px[1] = (unsigned char)(i >> 8);
		assert_int_equal(fwrite(px, 1, sizeof(px), fi), sizeof(px));
		assert_int_equal(fwrite(&label, 1, 1, fl), 1);
	}
	assert_int_equal(fclose(fi), 0);
	assert_int_equal(fclose(fl), 0);
}

/* A plain shard written by fedc-shard-idx: rows (from the pixels) and labels. */
struct shard_read {
	uint32_t n;
	uint32_t rows[4096];
	unsigned char labels[4096];
};

static void read_shard(const char *dir, const char *prefix, int k, struct shard_read *s)
{
	char path[600];
	unsigned char h[16], px[SYN_ROWS * SYN_COLS];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s-%d-images-idx3-ubyte", dir, prefix, k);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(h, 1, 16, f), 16);
	assert_memory_equal(h, ((unsigned char[]){ 0, 0, 8, 3 }), 4);
	s->n = get_be32(h + 4);
	assert_true(s->n <= 4096);
	assert_int_equal(get_be32(h + 8), SYN_ROWS);
	assert_int_equal(get_be32(h + 12), SYN_COLS);
	for (uint32_t i = 0; i < s->n; i++) {
		assert_int_equal(fread(px, 1, sizeof(px), f), sizeof(px));
		s->rows[i] = px[0] | (uint32_t)px[1] << 8;
		assert_int_equal(px[5], 200); /* pixel / 255 * 255 comes back exact */
	}
	assert_int_equal(fread(px, 1, 1, f), 0);
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s-%d-labels-idx1-ubyte", dir, prefix, k);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(h, 1, 8, f), 8);
	assert_memory_equal(h, ((unsigned char[]){ 0, 0, 8, 1 }), 4);
	assert_int_equal(get_be32(h + 4), s->n);
	assert_int_equal(fread(s->labels, 1, s->n, f), s->n);
	fclose(f);
}

static int shard_tool(const char *args)
{
	char cmd[2048];
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

static bool same_file(const char *a, const char *b)
{
	char cmd[1400];

	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

static int setup(void **state)
{
	char img[512], lbl[512];

	if (harness_init(&H))
		return -1;
	snprintf(img, sizeof(img), "%s/syn-images", H.dir);
	snprintf(lbl, sizeof(lbl), "%s/syn-labels", H.dir);
	write_synthetic(img, lbl, 1000, 10);
	return 0;
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

/* IID: equal shares (differing by at most one), every row exactly once,
 * labels travelling with their rows, and the same files for the same seed. */
static void test_shard_iid(void **state)
{
	static struct shard_read s;
	static bool seen[1000];
	char args[1024], dir[600], a[600], b[600];
	uint32_t total = 0;

	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --shards 3 --out %s/iid --plain "
		 "--seed 5", H.dir, H.dir, H.dir);
	assert_int_equal(shard_tool(args), 0);
	assert_non_null(strstr(output, "shard-2  334 images"));
	snprintf(dir, sizeof(dir), "%s/iid", H.dir);
	for (int k = 0; k < 3; k++) {
		read_shard(dir, "shard", k, &s);
		assert_true(s.n == 333 || s.n == 334);
		for (uint32_t i = 0; i < s.n; i++) {
			assert_true(s.rows[i] < 1000);
			assert_false(seen[s.rows[i]]);
			seen[s.rows[i]] = true;
			assert_int_equal(s.labels[i], s.rows[i] % 10);
		}
		total += s.n;
	}
	assert_int_equal(total, 1000);
	/* Same seed, same bytes; another seed, another order. */
	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --shards 3 --out %s/iid2 --plain "
		 "--seed 5", H.dir, H.dir, H.dir);
	assert_int_equal(shard_tool(args), 0);
	snprintf(a, sizeof(a), "%s/iid/shard-1-images-idx3-ubyte", H.dir);
	snprintf(b, sizeof(b), "%s/iid2/shard-1-images-idx3-ubyte", H.dir);
	assert_true(same_file(a, b));
	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --shards 3 --out %s/iid2 --plain "
		 "--seed 6", H.dir, H.dir, H.dir);
	assert_int_equal(shard_tool(args), 0);
	assert_false(same_file(a, b));
}

/* Non-IID, 10 balanced classes, 5 shards, major share 0.8: shard k holds 80
 * rows of each of classes 2k and 2k+1 and 5 of each other class. */
static void test_shard_noniid(void **state)
{
	static struct shard_read s;
	char args[1024], dir[600];
	uint32_t counts[10];

	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --shards 5 --out %s/noniid "
		 "--split noniid --major-share 0.8 --plain --prefix n", H.dir, H.dir, H.dir);
	assert_int_equal(shard_tool(args), 0);
	assert_non_null(strstr(output, "n-0  200 images  top-2 classes 80.0%"));
	snprintf(dir, sizeof(dir), "%s/noniid", H.dir);
	for (int k = 0; k < 5; k++) {
		read_shard(dir, "n", k, &s);
		assert_int_equal(s.n, 200);
		memset(counts, 0, sizeof(counts));
		for (uint32_t i = 0; i < s.n; i++) {
			assert_int_equal(s.labels[i], s.rows[i] % 10);
			counts[s.labels[i]]++;
		}
		for (int c = 0; c < 10; c++)
			assert_int_equal(counts[c], c / 2 == k ? 80 : 5);
	}
}

/* A gzip'd shard is a dataset a node registers. */
static void test_shard_gzip_accepted_by_node(void **state)
{
	char args[1024], img[600], lbl[600], cfg[600], file[600];
	int rc;

	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --shards 2 --out %s/gz --split "
		 "noniid --samples 500 --seed 9", H.dir, H.dir, H.dir);
	assert_int_equal(shard_tool(args), 0);
	snprintf(img, sizeof(img), "%s/gz/shard-1-images-idx3-ubyte.gz", H.dir);
	snprintf(lbl, sizeof(lbl), "%s/gz/shard-1-labels-idx1-ubyte.gz", H.dir);
	snprintf(cfg, sizeof(cfg), "%s/gz-node.ini", H.dir);
	snprintf(file, sizeof(file), "%s/gz/shard-1-images-idx3-ubyte", H.dir);
	assert_int_not_equal(access(file, F_OK), 0); /* compressed unless --plain */
	{
		const char *init[] = { harness_bin("fedc-node"), "--config", cfg, "init", "--id", "gz-node",
				       "--data-dir", "gz-node-data", NULL };
		const char *add[] = { harness_bin("fedc-node"), "--config", cfg, "dataset", "add", "--type", "idx",
				      "--name", "shard-1", "--tags", "fashion", "--file", img, "--labels", lbl, NULL };

		assert_int_equal(harness_run(&H, init, 30, NULL, 0), 0);
		rc = harness_run(&H, add, 30, output, sizeof(output));
		if (rc)
			fprintf(stderr, "%s\n", output);
		assert_int_equal(rc, 0);
		assert_non_null(strstr(output, "images of 2x3 (6 features)"));
	}
}

static void test_shard_bad_input(void **state)
{
	char args[2048], two[300], text[300];
	FILE *f;

	/* usage errors: 2 */
	assert_int_equal(shard_tool("--images a --labels b --shards 0 --out x"), 2);
	assert_non_null(strstr(output, "--shards \"0\""));
	assert_int_equal(shard_tool("--images a --labels b --shards 2 --out x --split sorted"), 2);
	assert_non_null(strstr(output, "give iid or noniid"));
	assert_int_equal(shard_tool("--images a --labels b --shards 2 --out x --major-share 1.5"), 2);
	assert_int_equal(shard_tool("--images a --labels b --out x"), 2);
	assert_non_null(strstr(output, "required"));
	assert_int_equal(shard_tool("--images a --labels b --shards 2 --out x --prefix ../up"), 2);
	/* bad files: 1, with the file named */
	snprintf(args, sizeof(args), "--images %s/missing --labels %s/syn-labels --shards 2 --out %s/bad", H.dir, H.dir,
		 H.dir);
	assert_int_equal(shard_tool(args), 1);
	assert_non_null(strstr(output, "missing"));
	snprintf(text, sizeof(text), "%s/text.csv", H.dir);
	f = fopen(text, "w");
	assert_non_null(f);
	fputs("1,2,3\n4,5,6\n", f);
	fclose(f);
	snprintf(args, sizeof(args), "--images %s --labels %s/syn-labels --shards 2 --out %s/bad", text, H.dir, H.dir);
	assert_int_equal(shard_tool(args), 1);
	assert_non_null(strstr(output, "not an IDX file"));
	snprintf(args, sizeof(args), "--images %s/syn-labels --labels %s/syn-images --shards 2 --out %s/bad", H.dir,
		 H.dir, H.dir);
	assert_int_equal(shard_tool(args), 1);
	assert_non_null(strstr(output, "swapped"));
	/* what the set cannot give */
	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --shards 2 --samples 1001 --out "
		 "%s/bad", H.dir, H.dir, H.dir);
	assert_int_equal(shard_tool(args), 1);
	assert_non_null(strstr(output, "holds only 1000 images"));
	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --shards 11 --samples 10 --out "
		 "%s/bad", H.dir, H.dir, H.dir);
	assert_int_equal(shard_tool(args), 1);
	assert_non_null(strstr(output, "more shards than"));
	snprintf(two, sizeof(two), "%s/two", H.dir);
	{
		char img[320], lbl[320];

		snprintf(img, sizeof(img), "%s-images", two);
		snprintf(lbl, sizeof(lbl), "%s-labels", two);
		write_synthetic(img, lbl, 20, 2);
		snprintf(args, sizeof(args), "--images %s --labels %s --shards 2 --split noniid --out %s/bad", img, lbl,
			 H.dir);
	}
	assert_int_equal(shard_tool(args), 1);
	assert_non_null(strstr(output, "at least 3 classes"));
	/* nothing half-written was left behind */
	snprintf(args, sizeof(args), "%s/bad", H.dir);
	assert_int_not_equal(access(strcat(args, "/shard-0-images-idx3-ubyte.gz"), F_OK), 0);
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
	snprintf(args, sizeof(args), "--images %s --labels %s --shards 5 --samples 10000 --seed 42 --out %s/fashion",
		 img, lbl, H.dir);
	assert_int_equal(shard_tool(args), 0);
	for (int i = 0; i < 5; i++) {
		size_t node;

		snprintf(id, sizeof(id), "node-%d", i);
		snprintf(img, sizeof(img), "%s/fashion/shard-%d-images-idx3-ubyte.gz", H.dir, i);
		snprintf(lbl, sizeof(lbl), "%s/fashion/shard-%d-labels-idx1-ubyte.gz", H.dir, i);
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
		cmocka_unit_test(test_shard_iid),
		cmocka_unit_test(test_shard_noniid),
		cmocka_unit_test(test_shard_gzip_accepted_by_node),
		cmocka_unit_test(test_shard_bad_input),
		cmocka_unit_test(test_mlp_fashion_short),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
