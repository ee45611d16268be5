/* fedc-partition (examples/partition/) on small synthetic sets: IID shares,
 * NIID-Bench's Dirichlet label skew, #C classes per party and quantity skew,
 * examples/mlp's "major" split, CSV in and out; every row used once, sizes
 * that add up, the same files for the same seed, parties a real node
 * registers, and bad input refused with the reason. */
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

#define SYN_ROWS 2
#define SYN_COLS 3
#define SHARD_CAP 16384

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

/* A plain party written by fedc-partition: rows (from the pixels) and labels. */
struct shard_read {
	uint32_t n;
	uint32_t rows[SHARD_CAP];
	unsigned char labels[SHARD_CAP];
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
	assert_true(s->n <= SHARD_CAP);
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
static void test_iid(void **state)
{
	static struct shard_read s;
	static bool seen[1000];
	char args[1024], dir[600], a[600], b[600];
	uint32_t total = 0;

	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --parties 3 --out %s/iid --plain "
		 "--seed 5", H.dir, H.dir, H.dir);
	assert_int_equal(partition_tool(args), 0);
	assert_non_null(strstr(output, "party-2  334 rows"));
	snprintf(dir, sizeof(dir), "%s/iid", H.dir);
	for (int k = 0; k < 3; k++) {
		read_shard(dir, "party", k, &s);
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
	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --parties 3 --out %s/iid2 --plain "
		 "--seed 5", H.dir, H.dir, H.dir);
	assert_int_equal(partition_tool(args), 0);
	snprintf(a, sizeof(a), "%s/iid/party-1-images-idx3-ubyte", H.dir);
	snprintf(b, sizeof(b), "%s/iid2/party-1-images-idx3-ubyte", H.dir);
	assert_true(harness_same_file(a, b));
	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --parties 3 --out %s/iid2 --plain "
		 "--seed 6", H.dir, H.dir, H.dir);
	assert_int_equal(partition_tool(args), 0);
	assert_false(harness_same_file(a, b));
}

/* "major", 10 balanced classes, 5 parties, major share 0.8: party k holds 80
 * rows of each of classes 2k and 2k+1 and 5 of each other class. */
static void test_major(void **state)
{
	static struct shard_read s;
	char args[1024], dir[600];
	uint32_t counts[10];

	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --parties 5 --out %s/noniid "
		 "--split major --major-share 0.8 --plain --prefix n", H.dir, H.dir, H.dir);
	assert_int_equal(partition_tool(args), 0);
	assert_non_null(strstr(output, "n-0  200 rows  10 classes  top-2 80.0%"));
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

/* A gzip'd party is a dataset a node registers. */
static void test_gzip_accepted_by_node(void **state)
{
	char args[1024], img[600], lbl[600], cfg[600], file[600];
	int rc;

	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --parties 2 --out %s/gz --split "
		 "major --samples 500 --seed 9", H.dir, H.dir, H.dir);
	assert_int_equal(partition_tool(args), 0);
	snprintf(img, sizeof(img), "%s/gz/party-1-images-idx3-ubyte.gz", H.dir);
	snprintf(lbl, sizeof(lbl), "%s/gz/party-1-labels-idx1-ubyte.gz", H.dir);
	snprintf(cfg, sizeof(cfg), "%s/gz-node.ini", H.dir);
	snprintf(file, sizeof(file), "%s/gz/party-1-images-idx3-ubyte", H.dir);
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

static void test_bad_input(void **state)
{
	char args[2048], two[300], text[300];
	FILE *f;

	/* usage errors: 2 */
	assert_int_equal(partition_tool("--images a --labels b --parties 0 --out x"), 2);
	assert_non_null(strstr(output, "--parties \"0\""));
	assert_int_equal(partition_tool("--images a --labels b --parties 2 --out x --split sorted"), 2);
	assert_non_null(strstr(output, "give iid, dirichlet, classes, quantity or major"));
	assert_int_equal(partition_tool("--images a --labels b --parties 2 --out x --major-share 1.5"), 2);
	assert_int_equal(partition_tool("--images a --labels b --out x"), 2);
	assert_non_null(strstr(output, "required"));
	assert_int_equal(partition_tool("--images a --labels b --parties 2 --out x --prefix ../up"), 2);
	/* bad files: 1, with the file named */
	snprintf(args, sizeof(args), "--images %s/missing --labels %s/syn-labels --parties 2 --out %s/bad", H.dir, H.dir,
		 H.dir);
	assert_int_equal(partition_tool(args), 1);
	assert_non_null(strstr(output, "missing"));
	snprintf(text, sizeof(text), "%s/text.csv", H.dir);
	f = fopen(text, "w");
	assert_non_null(f);
	fputs("1,2,3\n4,5,6\n", f);
	fclose(f);
	snprintf(args, sizeof(args), "--images %s --labels %s/syn-labels --parties 2 --out %s/bad", text, H.dir, H.dir);
	assert_int_equal(partition_tool(args), 1);
	assert_non_null(strstr(output, "not an IDX file"));
	snprintf(args, sizeof(args), "--images %s/syn-labels --labels %s/syn-images --parties 2 --out %s/bad", H.dir,
		 H.dir, H.dir);
	assert_int_equal(partition_tool(args), 1);
	assert_non_null(strstr(output, "swapped"));
	/* what the set cannot give */
	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --parties 2 --samples 1001 --out "
		 "%s/bad", H.dir, H.dir, H.dir);
	assert_int_equal(partition_tool(args), 1);
	assert_non_null(strstr(output, "holds only 1000 rows"));
	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --parties 11 --samples 10 --out "
		 "%s/bad", H.dir, H.dir, H.dir);
	assert_int_equal(partition_tool(args), 1);
	assert_non_null(strstr(output, "more parties than"));
	snprintf(two, sizeof(two), "%s/two", H.dir);
	{
		char img[320], lbl[320];

		snprintf(img, sizeof(img), "%s-images", two);
		snprintf(lbl, sizeof(lbl), "%s-labels", two);
		write_synthetic(img, lbl, 20, 2);
		snprintf(args, sizeof(args), "--images %s --labels %s --parties 2 --split major --out %s/bad", img, lbl,
			 H.dir);
	}
	assert_int_equal(partition_tool(args), 1);
	assert_non_null(strstr(output, "at least 3 classes"));
	/* nothing half-written was left behind */
	snprintf(args, sizeof(args), "%s/bad", H.dir);
	assert_int_not_equal(access(strcat(args, "/party-0-images-idx3-ubyte.gz"), F_OK), 0);
}


/* ---- NIID-Bench's schemes ------------------------------------------------ */

/* Reads the n_parties plain parties DIR/party-<k>-* into counts[k][class]
 * and sizes[k], checking every row of the n-row input is used at most once
 * and keeps its label; returns how many rows were used. */
static uint32_t read_parties(const char *dir, int n_parties, uint32_t n, uint32_t counts[][10], uint32_t *sizes)
{
	static struct shard_read s;
	static bool seen[SHARD_CAP];
	uint32_t total = 0;

	memset(seen, 0, sizeof(seen));
	for (int k = 0; k < n_parties; k++) {
		read_shard(dir, "party", k, &s);
		sizes[k] = s.n;
		memset(counts[k], 0, sizeof(counts[k]));
		for (uint32_t i = 0; i < s.n; i++) {
			assert_true(s.rows[i] < n);
			assert_false(seen[s.rows[i]]);
			seen[s.rows[i]] = true;
			assert_int_equal(s.labels[i], s.rows[i] % 10);
			counts[k][s.labels[i]]++;
		}
		total += s.n;
	}
	return total;
}

static void split_into(const char *out, const char *how)
{
	char args[1024];

	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --out %s/%s --plain %s", H.dir,
		 H.dir, H.dir, out, how);
	if (partition_tool(args) != 0)
		fail_msg("fedc-partition %s: %s", args, output);
}

static bool same_party(const char *a, const char *b, int k)
{
	char pa[600], pb[600];

	snprintf(pa, sizeof(pa), "%s/%s/party-%d-images-idx3-ubyte", H.dir, a, k);
	snprintf(pb, sizeof(pb), "%s/%s/party-%d-images-idx3-ubyte", H.dir, b, k);
	return harness_same_file(pa, pb);
}

/* Dirichlet(0.5) over 5 parties: every row exactly once, and the labels
 * skewed: some party has a class at under a fifth of its IID share and some
 * class makes up more than a third of a party (IID: a tenth). Same seed,
 * same files; another seed, others. */
static void test_dirichlet(void **state)
{
	uint32_t counts[5][10], sizes[5], max_share = 0, min_count = UINT32_MAX;
	char dir[600];

	split_into("dir", "--parties 5 --split dirichlet --beta 0.5 --seed 3");
	snprintf(dir, sizeof(dir), "%s/dir", H.dir);
	assert_int_equal(read_parties(dir, 5, 1000, counts, sizes), 1000);
	for (int k = 0; k < 5; k++) {
		assert_true(sizes[k] >= 10); /* --min-size's default */
		for (int c = 0; c < 10; c++) {
			if (counts[k][c] * 100 / sizes[k] > max_share)
				max_share = counts[k][c] * 100 / sizes[k];
			if (counts[k][c] < min_count)
				min_count = counts[k][c];
		}
	}
	assert_true(max_share > 33);
	assert_true(min_count < 4); /* IID would give 20 */
	split_into("dir-again", "--parties 5 --split dirichlet --beta 0.5 --seed 3");
	split_into("dir-other", "--parties 5 --split dirichlet --beta 0.5 --seed 4");
	for (int k = 0; k < 5; k++)
		assert_true(same_party("dir", "dir-again", k));
	assert_false(same_party("dir", "dir-other", 0));
}

/* A large beta is near IID: every party near 200 rows, 20 of each class. */
static void test_dirichlet_large_beta_near_iid(void **state)
{
	uint32_t counts[5][10], sizes[5];
	char dir[600];

	split_into("dir-iid", "--parties 5 --split dirichlet --beta 10000 --seed 3");
	snprintf(dir, sizeof(dir), "%s/dir-iid", H.dir);
	assert_int_equal(read_parties(dir, 5, 1000, counts, sizes), 1000);
	for (int k = 0; k < 5; k++) {
		assert_in_range(sizes[k], 190, 210);
		for (int c = 0; c < 10; c++)
			assert_in_range(counts[k][c], 17, 23);
	}
}

/* #C=2 over 10 parties: exactly two classes each (party k holds class k),
 * every row exactly once (every class is someone's); #C=3 three classes. */
static void test_classes(void **state)
{
	uint32_t counts[10][10], sizes[10];
	char dir[600];

	for (uint32_t C = 2; C <= 3; C++) {
		char out[32], how[128];

		snprintf(out, sizeof(out), "c%u", C);
		snprintf(how, sizeof(how), "--parties 10 --split classes --classes %u --seed 7", C);
		split_into(out, how);
		snprintf(dir, sizeof(dir), "%s/%s", H.dir, out);
		assert_int_equal(read_parties(dir, 10, 1000, counts, sizes), 1000);
		for (int k = 0; k < 10; k++) {
			uint32_t held = 0;

			for (int c = 0; c < 10; c++)
				held += counts[k][c] > 0;
			assert_int_equal(held, C);
			assert_true(counts[k][k] > 0);
		}
	}
	split_into("c2-again", "--parties 10 --split classes --classes 2 --seed 7");
	for (int k = 0; k < 10; k++)
		assert_true(same_party("c2", "c2-again", k));
}

/* #C=1 over 5 parties: classes 5 to 9 are no party's; their rows are left
 * out and said so. */
static void test_classes_unused(void **state)
{
	uint32_t counts[5][10], sizes[5];
	char dir[600];

	split_into("c1", "--parties 5 --split classes --classes 1 --seed 7");
	assert_non_null(strstr(output, "500 rows of classes no party drew are left out"));
	snprintf(dir, sizeof(dir), "%s/c1", H.dir);
	assert_int_equal(read_parties(dir, 5, 1000, counts, sizes), 500);
	for (int k = 0; k < 5; k++)
		assert_int_equal(counts[k][k], 100);
}

/* Quantity skew: sizes differ widely, each at least --min-size, every row
 * once, and each party's labels as in the whole (10 classes). */
static void test_quantity(void **state)
{
	uint32_t counts[5][10], sizes[5], lo = UINT32_MAX, hi = 0;
	char dir[600];

	split_into("q", "--parties 5 --split quantity --beta 0.5 --min-size 20 --seed 2");
	snprintf(dir, sizeof(dir), "%s/q", H.dir);
	assert_int_equal(read_parties(dir, 5, 1000, counts, sizes), 1000);
	for (int k = 0; k < 5; k++) {
		assert_true(sizes[k] >= 20);
		lo = sizes[k] < lo ? sizes[k] : lo;
		hi = sizes[k] > hi ? sizes[k] : hi;
	}
	assert_true(hi > 2 * lo);
	for (int c = 0; c < 10; c++) /* the largest party holds every class */
		for (int k = 0; k < 5; k++)
			if (sizes[k] == hi)
				assert_true(counts[k][c] > 0);
}

/* Options the data cannot meet: a Dirichlet that never gives every party
 * its minimum, more classes per party than there are. */
static void test_scheme_refusals(void **state)
{
	char args[1024];

	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --out %s/bad --parties 50 --split "
		 "dirichlet --beta 0.01 --min-size 15", H.dir, H.dir, H.dir);
	assert_int_equal(partition_tool(args), 1);
	assert_non_null(strstr(output, "give a larger --beta"));
	snprintf(args, sizeof(args), "--images %s/syn-images --labels %s/syn-labels --out %s/bad --parties 5 --split "
		 "classes --classes 11", H.dir, H.dir, H.dir);
	assert_int_equal(partition_tool(args), 1);
	assert_non_null(strstr(output, "--classes 11: give 1 to 10"));
	assert_int_equal(partition_tool("--images a --labels b --parties 2 --out x --beta 0"), 2);
	assert_non_null(strstr(output, "--beta \"0\""));
	assert_int_equal(partition_tool("--images a --labels b --csv c --parties 2 --out x"), 2);
	assert_non_null(strstr(output, "either --images and --labels (IDX) or --csv"));
	assert_int_equal(partition_tool("--csv c --parties 2 --out x --label-column -2"), 2);
}

/* ---- CSV ------------------------------------------------------------------ */

/* A CSV of n rows "id,id*0.5,label" (label id % 4) under `header`. */
static void write_csv(const char *path, const char *header, int n)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	if (header)
		fprintf(f, "%s\r\n", header);
	for (int i = 0; i < n; i++)
		fprintf(f, "%d, %g,%d\r\n", i, i * 0.5, i % 4);
	assert_int_equal(fclose(f), 0);
}

/* Reads DIR/party-<k>.csv: its first line into header (if non-NULL), the
 * ids of its data lines into seen[] (each once), checking each line is the
 * input's as written. Returns the number of data lines. */
static int read_csv_party(const char *dir, int k, char *header, size_t cap, bool *seen)
{
	char path[700], line[256];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/party-%d.csv", dir, k);
	f = fopen(path, "r");
	assert_non_null(f);
	if (header)
		assert_non_null(fgets(header, (int)cap, f));
	while (fgets(line, sizeof(line), f)) {
		char expect[256];
		int id = atoi(line);

		snprintf(expect, sizeof(expect), "%d, %g,%d\n", id, id * 0.5, id % 4);
		assert_string_equal(line, expect);
		assert_false(seen[id]);
		seen[id] = true;
		n++;
	}
	fclose(f);
	return n;
}

/* A CSV with a names header: each party keeps the header, lines as they
 * were (LF ends), every row once; with a counts header each party's row
 * count is its own; and a party is a dataset a node registers. */
static void test_csv(void **state)
{
	static bool seen[400];
	char in[600], args[1400], dir[600], header[256], cfg[600], file[700];
	int total = 0;

	snprintf(in, sizeof(in), "%s/named.csv", H.dir);
	write_csv(in, "id,half,label", 400);
	snprintf(dir, sizeof(dir), "%s/csv", H.dir);
	snprintf(args, sizeof(args), "--csv %s --parties 4 --split dirichlet --beta 0.5 --seed 1 --out %s", in, dir);
	assert_int_equal(partition_tool(args), 0);
	assert_non_null(strstr(output, "party-3  "));
	for (int k = 0; k < 4; k++) {
		total += read_csv_party(dir, k, header, sizeof(header), seen);
		assert_string_equal(header, "id,half,label\n");
	}
	assert_int_equal(total, 400);

	snprintf(in, sizeof(in), "%s/counts.csv", H.dir);
	write_csv(in, "400,2,a,b,c,d", 400);
	snprintf(dir, sizeof(dir), "%s/csv-counts", H.dir);
	snprintf(args, sizeof(args), "--csv %s --parties 3 --seed 1 --out %s", in, dir);
	assert_int_equal(partition_tool(args), 0);
	memset(seen, 0, sizeof(seen));
	for (int k = 0; k < 3; k++) {
		char expect[64];
		int n = read_csv_party(dir, k, header, sizeof(header), seen);

		snprintf(expect, sizeof(expect), "%d,2,a,b,c,d\n", n);
		assert_string_equal(header, expect);
	}
	snprintf(cfg, sizeof(cfg), "%s/csv-node.ini", H.dir);
	snprintf(file, sizeof(file), "%s/party-2.csv", dir);
	{
		const char *init[] = { harness_bin("fedc-node"), "--config", cfg, "init", "--id", "csv-node",
				       "--data-dir", "csv-node-data", NULL };
		const char *add[] = { harness_bin("fedc-node"), "--config", cfg, "dataset", "add", "--name", "party-2",
				      "--tags", "csv", "--file", file, NULL };

		assert_int_equal(harness_run(&H, init, 30, NULL, 0), 0);
		if (harness_run(&H, add, 30, output, sizeof(output)))
			fail_msg("%s", output);
		assert_non_null(strstr(output, "header counts"));
	}
	/* A CSV the node refuses is refused with the node's reason. */
	snprintf(in, sizeof(in), "%s/ragged.csv", H.dir);
	{
		FILE *f = fopen(in, "w");

		assert_non_null(f);
		fputs("1,2,0\n3,1\n", f);
		assert_int_equal(fclose(f), 0);
	}
	snprintf(args, sizeof(args), "--csv %s --parties 2 --out %s/bad-csv", in, H.dir);
	assert_int_equal(partition_tool(args), 1);
	assert_non_null(strstr(output, "line 2"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iid),
		cmocka_unit_test(test_major),
		cmocka_unit_test(test_gzip_accepted_by_node),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_dirichlet),
		cmocka_unit_test(test_dirichlet_large_beta_near_iid),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_classes_unused),
		cmocka_unit_test(test_quantity),
		cmocka_unit_test(test_scheme_refusals),
		cmocka_unit_test(test_csv),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
