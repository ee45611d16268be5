/* examples/messy-csv end to end on a real stack: Mosquitto, fedc-repository
 * and fedc-node daemons holding the breast-cancer data as make_data.sh
 * writes it (named columns, missing cells, a categorical size_band, quoted
 * notes with commas). The nodes register the files and record their
 * columns; `search` shows each dataset's kind and shape; the plan imputes,
 * standardizes and one-hot encodes (fedc/nn/table.h) and learns the task; a
 * ragged file is refused at registration, a band the experiment does not
 * list is refused by the plan with a line the researcher shows. */
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

#define N_GOOD 3
static struct harness H;
static char output[1 << 16];
static char network[512];

/* A copy of `src` with every "large" band on its first data rows turned
 * into "huge", a band the experiment's list lacks. */
static int write_odd_bands(const char *src, const char *dst)
{
	char line[8192];
	FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
	int changed = 0, rc = in && out ? 0 : -1;

	while (!rc && fgets(line, sizeof(line), in)) {
		char *at = strstr(line, ",large,");

		if (at && changed < 5) {
			fprintf(out, "%.*s,huge,%s", (int)(at - line), line, at + strlen(",large,"));
			changed++;
		} else {
			fputs(line, out);
		}
	}
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		rc = -1;
	return rc || changed == 0 ? -1 : 0;
}

static int setup(void **state)
{
	char data[400], csv[512], odd[512], id[32];
	const char *make[] = { "/bin/sh", FEDC_SOURCE_DIR "/examples/messy-csv/make_data.sh", data, "3", "42", NULL };

	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	snprintf(data, sizeof(data), "%s/messy", H.dir);
	if (harness_run(&H, make, 30, output, sizeof(output)) != 0) {
		fprintf(stderr, "make_data.sh failed: %s\n", output);
		return -1;
	}
	for (size_t i = 0; i < N_GOOD; i++) {
		snprintf(csv, sizeof(csv), "%s/node-%zu.csv", data, i);
		snprintf(id, sizeof(id), "clinic-%zu", i);
		if (harness_add_node(&H, id, csv, "messy-breast", harness_plan("messy-csv")) != (int)i ||
		    harness_start_node(&H, i) != 0)
			return -1;
	}
	snprintf(odd, sizeof(odd), "%s/odd-bands.csv", data);
	snprintf(csv, sizeof(csv), "%s/node-0.csv", data);
	if (write_odd_bands(csv, odd) || harness_add_node(&H, "odd-clinic", odd, "messy-odd", harness_plan("messy-csv")) !=
					    N_GOOD || harness_start_node(&H, N_GOOD) != 0)
		return -1;
	snprintf(network, sizeof(network), "%s/network.ini", H.dir);
	return harness_write_experiment(&H, network, harness_plan("messy-csv"), "messy-breast", 1, 1, 30, "", NULL);
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

static int researcher(const char *const *args, int timeout_s)
{
	const char *argv[16] = { harness_bin("fedc-researcher") };
	size_t n = 1;

	for (; args[n - 1] && n < 15; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	return harness_run(&H, argv, timeout_s, output, sizeof(output));
}

/* The node's record of a file: its columns and their missing cells. */
static void test_registration_records_the_columns(void **state)
{
	const char *argv[] = { harness_bin("fedc-node"), "--config", H.nodes[0].config, "dataset", "show",
			       "clinic-0", NULL };

	assert_int_equal(harness_run(&H, argv, 30, output, sizeof(output)), 0);
	assert_non_null(strstr(output, "columns:      32 features"));
	assert_non_null(strstr(output, "size_band                categorical"));
	assert_non_null(strstr(output, "large, medium, small"));
	assert_non_null(strstr(output, "note                     categorical"));
	assert_non_null(strstr(output, "referred by GP, lump found"));
	assert_non_null(strstr(output, "label counts: 0="));
}

/* search answers with each dataset's kind and one sample's shape. */
static void test_search_shows_kind_and_shape(void **state)
{
	const char *args[] = { "search", "--tags", "messy-breast", "--network", network, NULL };

	assert_int_equal(researcher(args, 60), 0);
	assert_non_null(strstr(output, "3 of 4 node(s) hold datasets tagged messy-breast"));
	for (size_t i = 0; i < N_GOOD; i++) {
		char want[128];

		snprintf(want, sizeof(want), "clinic-%zu             csv     shape 32      ", i);
		if (!strstr(output, want))
			fail_msg("\"%s\" missing from:\n%s", want, output);
	}
}

/* A row with a cell too few is refused at registration, naming its line. */
static void test_ragged_csv_refused(void **state)
{
	char path[512];
	const char *argv[] = { harness_bin("fedc-node"), "--config", H.nodes[0].config, "dataset", "add", "--name",
			       "ragged", "--tags", "x", "--file", path, NULL };
	FILE *f;

	snprintf(path, sizeof(path), "%s/ragged.csv", H.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("age,\"note, free\",size_band,y\n61,\"a, b\",small,1\n47,\"c\nd\",large,0\n52,\"e\",1\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(harness_run(&H, argv, 30, output, sizeof(output)), 1);
	if (!strstr(output, "ragged.csv: line 5, column 4: missing cell: the row has 3 columns, expected 4"))
		fail_msg("unexpected refusal:\n%s", output);
}

/* Ten rounds on the three clinics learn the task through the gaps. */
static void test_messy_tables_train(void **state)
{
	char exp[512];
	const char *args[] = { "run", exp, NULL };
	int rc;

	snprintf(exp, sizeof(exp), "%s/messy.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("messy-csv"), "messy-breast", 10, 3, 60,
						  "n_classes = 2", NULL), 0);
	rc = researcher(args, 400);
	if (rc != 0)
		fprintf(stderr, "%s\n", output);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(output, "round   10/10"));
	assert_non_null(strstr(output, "nodes 3/3"));
	fprintf(stderr, "messy-csv: final test accuracy %.3f\n", harness_final_accuracy(output));
	assert_true(harness_final_accuracy(output) > 0.9);
}

/* A band outside the experiment's list: the plan refuses the round and
 * says which band and which list. */
static void test_unknown_category_refused(void **state)
{
	char exp[512];
	const char *args[] = { "run", exp, NULL };

	snprintf(exp, sizeof(exp), "%s/odd.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("messy-csv"), "messy-odd", 1, 1, 30,
						  "n_classes = 2", NULL), 0);
	assert_int_not_equal(researcher(args, 120), 0);
	if (!strstr(output, "column \"size_band\": category \"huge\" is not in the experiment's list (small, medium, large)"))
		fail_msg("the refusal does not name the category:\n%s", output);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registration_records_the_columns),
		cmocka_unit_test(test_search_shows_kind_and_shape),
		cmocka_unit_test(test_ragged_csv_refused),
		cmocka_unit_test(test_messy_tables_train),
		cmocka_unit_test(test_unknown_category_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
