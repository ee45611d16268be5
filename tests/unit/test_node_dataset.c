/* CSV datasets (node/dataset.c): the real breast-cancer file, the header
 * modes, and one fixture per way a file can be broken, each checked for its
 * error code and for the line and column its message names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "fedc/hash.h"

#define CSV_DIR FEDC_FIXTURES_DIR "/csv/"
#define BREAST FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv"

struct opts_given {
	const char *header;
	int label_column;
	bool regression;
};

static enum fedc_err inspect(const char *path, struct opts_given o, struct node_dataset *ds)
{
	struct dataset_options opts = { "csv", o.header ? o.header : "auto", o.label_column, o.regression };

	memset(ds, 0, sizeof(*ds));
	snprintf(ds->path, sizeof(ds->path), "%s", path);
	snprintf(ds->name, sizeof(ds->name), "test");
	fedc_clear_error();
	return dataset__inspect(ds, &opts);
}

#define AUTO ((struct opts_given){ "auto", -1, false })

/* Checks the code and that the detail carries every given fragment. */
static void expect_failure(const char *file, struct opts_given o, enum fedc_err code, const char *frag1,
			   const char *frag2)
{
	struct node_dataset ds;
	enum fedc_err rc = inspect(file, o, &ds);

	if (rc != code || (frag1 && !strstr(fedc_last_error(), frag1)) || (frag2 && !strstr(fedc_last_error(), frag2)))
		print_error("%s: got %s \"%s\", wanted %s with \"%s\" and \"%s\"\n", file, fedc_strerror(rc),
			    fedc_last_error(), fedc_strerror(code), frag1 ? frag1 : "", frag2 ? frag2 : "");
	assert_int_equal(rc, code);
	if (frag1)
		assert_non_null(strstr(fedc_last_error(), frag1));
	if (frag2)
		assert_non_null(strstr(fedc_last_error(), frag2));
	assert_int_equal(ds.n_samples, 0); /* the record is left as it was */
	assert_string_equal(ds.digest, "");
}

static char tmp_dir[64];

static int make_tmp(void **state)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/fedc-test-dataset-XXXXXX");
	return mkdtemp(tmp_dir) ? 0 : -1;
}

static int drop_tmp(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_tmp(const char *name, const char *text, char *path, size_t cap)
{
	FILE *f;

	snprintf(path, cap, "%s/%s", tmp_dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* ---- the real file ---- */

static void test_breast_cancer_counts_header(void **state)
{
	struct node_dataset ds;
	struct fedc_data data;
	char digest[FEDC_SHA256_HEXLEN + 1];
	size_t ones = 0;

	for (int i = 0; i < 2; i++) {
		struct opts_given o = { i ? "counts" : "auto", -1, false };

		assert_int_equal(inspect(BREAST, o, &ds), FEDC_OK);
		assert_string_equal(ds.header, "counts");
		assert_string_equal(ds.type, "csv");
		assert_int_equal(ds.n_samples, 569);
		assert_int_equal(ds.n_features, 30);
		assert_int_equal(ds.n_classes, 2);
		assert_int_equal(ds.label_column, 30);
	}
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, BREAST, digest), FEDC_OK);
	assert_string_equal(ds.digest, digest);

	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	assert_int_equal(data.n_samples, 569);
	assert_int_equal(data.n_features, 30);
	assert_int_equal(data.n_classes, 2);
	assert_true(data.x[0] == 17.99f && data.x[1] == 10.38f && data.x[29] == 0.1189f);
	assert_true(data.x[30] == 20.57f); /* row 2 starts right after row 1's 30 features */
	assert_true(data.y[0] == 0.0f);
	assert_true(data.y[568] == 1.0f);
	for (size_t i = 0; i < data.n_samples; i++)
		ones += data.y[i] == 1.0f;
	assert_int_equal(ones, 357); /* 212 malignant, 357 benign */
	dataset__free_data(&data);
	assert_null(data.x);
	assert_null(data.y);
}

/* ---- good fixtures ---- */

static void test_names_header(void **state)
{
	struct node_dataset ds;
	struct fedc_data data;

	assert_int_equal(inspect(CSV_DIR "names_header.csv", AUTO, &ds), FEDC_OK);
	assert_string_equal(ds.header, "names");
	assert_int_equal(ds.n_samples, 6);
	assert_int_equal(ds.n_features, 3);
	assert_int_equal(ds.n_classes, 3);
	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	assert_true(data.x[0] == 5.1f && data.x[3] == 4.9f && data.x[17] == 5.1f);
	assert_true(data.y[5] == 2.0f);
	dataset__free_data(&data);
}

static void test_no_header(void **state)
{
	struct node_dataset ds;
	struct fedc_data data;

	assert_int_equal(inspect(CSV_DIR "no_header.csv", AUTO, &ds), FEDC_OK);
	assert_string_equal(ds.header, "none");
	assert_int_equal(ds.n_samples, 5);
	assert_int_equal(ds.n_features, 2);
	assert_int_equal(ds.n_classes, 2);
	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	assert_true(data.x[0] == 0.5f && data.x[8] == 1e-3f && data.x[9] == 200.0f);
	assert_true(data.y[0] == 0.0f && data.y[4] == 1.0f);
	dataset__free_data(&data);
}

static void test_label_column_in_the_middle(void **state)
{
	struct node_dataset ds;
	struct fedc_data data;
	struct opts_given o = { "names", 1, false };

	assert_int_equal(inspect(CSV_DIR "label_middle.csv", o, &ds), FEDC_OK);
	assert_int_equal(ds.label_column, 1);
	assert_int_equal(ds.n_features, 3);
	assert_int_equal(ds.n_classes, 2);
	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	assert_true(data.x[0] == 61.0f && data.x[1] == 27.5f && data.x[2] == 140.0f);
	assert_true(data.y[0] == 1.0f && data.y[1] == 0.0f);
	dataset__free_data(&data);
}

static void test_crlf_line_ends(void **state)
{
	struct node_dataset ds;
	struct fedc_data data;

	assert_int_equal(inspect(CSV_DIR "crlf.csv", AUTO, &ds), FEDC_OK);
	assert_string_equal(ds.header, "names");
	assert_int_equal(ds.n_samples, 3);
	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	assert_true(data.x[5] == 6.0f && data.y[2] == 1.0f);
	dataset__free_data(&data);
}

static void test_regression_target(void **state)
{
	struct node_dataset ds;
	struct fedc_data data;
	struct opts_given o = { "auto", -1, true };

	assert_int_equal(inspect(CSV_DIR "regression.csv", o, &ds), FEDC_OK);
	assert_int_equal(ds.n_classes, 0);
	assert_int_equal(ds.n_samples, 4);
	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	assert_int_equal(data.n_classes, 0);
	assert_true(data.y[0] == 210.25f && data.y[1] == -12.5f && data.y[3] == 1000.0f);
	dataset__free_data(&data);
	/* The same file as a classification target names the first bad label. */
	expect_failure(CSV_DIR "regression.csv", AUTO, FEDC_ERR_MALFORMED, "line 2, column 3",
		       "is not a class index");
}

static void test_counts_header_class_names(void **state)
{
	struct node_dataset ds;

	assert_int_equal(inspect(CSV_DIR "counts_classes.csv", AUTO, &ds), FEDC_OK);
	assert_string_equal(ds.header, "counts");
	assert_int_equal(ds.n_classes, 3); /* named in the header, though class 2 has no row here */
	assert_int_equal(ds.n_samples, 4);
}

static void test_trailing_empty_lines_and_bom(void **state)
{
	struct node_dataset ds;
	struct fedc_data data;

	assert_int_equal(inspect(CSV_DIR "trailing_blank.csv", AUTO, &ds), FEDC_OK);
	assert_int_equal(ds.n_samples, 2);
	assert_int_equal(inspect(CSV_DIR "spaces_bom.csv", AUTO, &ds), FEDC_OK);
	assert_string_equal(ds.header, "names");
	assert_int_equal(ds.n_samples, 2);
	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	assert_true(data.x[2] == 3.0f && data.y[1] == 1.0f);
	dataset__free_data(&data);
}

/* The auto rule: an all-numeric first line as wide as the data is data. */
static void test_auto_numeric_first_line_is_data(void **state)
{
	char path[256];
	struct node_dataset ds;

	write_tmp("numeric.csv", "3,2,0\n1,2,1\n4,5,0\n", path, sizeof(path));
	assert_int_equal(inspect(path, AUTO, &ds), FEDC_OK);
	assert_string_equal(ds.header, "none");
	assert_int_equal(ds.n_samples, 3);
	/* Narrower and consistent with the width below it: a counts header. */
	write_tmp("counts.csv", "2,2\n1,2,1\n4,5,0\n", path, sizeof(path));
	assert_int_equal(inspect(path, AUTO, &ds), FEDC_OK);
	assert_string_equal(ds.header, "counts");
	assert_int_equal(ds.n_samples, 2);
	/* Starts with integers but the widths disagree: column names. */
	write_tmp("names.csv", "1,2,3,label\n1,2,3,1\n", path, sizeof(path));
	assert_int_equal(inspect(path, AUTO, &ds), FEDC_OK);
	assert_string_equal(ds.header, "names");
	/* A single data line, no header. */
	write_tmp("one.csv", "1,2,1", path, sizeof(path));
	assert_int_equal(inspect(path, AUTO, &ds), FEDC_OK);
	assert_string_equal(ds.header, "none");
	assert_int_equal(ds.n_samples, 1);
}

/* ---- broken fixtures ---- */

static void test_missing_file(void **state)
{
	expect_failure(CSV_DIR "no_such_file.csv", AUTO, FEDC_ERR_IO, "no_such_file.csv", NULL);
	expect_failure(CSV_DIR, AUTO, FEDC_ERR_IO, "not a regular file", NULL);
}

static void test_empty_file(void **state)
{
	expect_failure(CSV_DIR "empty.csv", AUTO, FEDC_ERR_MALFORMED, "empty file", NULL);
}

static void test_header_only(void **state)
{
	struct opts_given counts = { "counts", -1, false };

	expect_failure(CSV_DIR "header_only.csv", AUTO, FEDC_ERR_MALFORMED, "line 1 is a header", "no data rows");
	expect_failure(CSV_DIR "counts_header_only.csv", counts, FEDC_ERR_MALFORMED, "no data rows", NULL);
}

static void test_ragged_row(void **state)
{
	struct opts_given counts = { "counts", -1, false };

	expect_failure(CSV_DIR "ragged_row.csv", AUTO, FEDC_ERR_MALFORMED, "line 4, column 4", "missing cell");
	expect_failure(CSV_DIR "extra_cell.csv", AUTO, FEDC_ERR_MALFORMED, "line 3, column 4", "extra cell");
	expect_failure(CSV_DIR "counts_wrong_width.csv", counts, FEDC_ERR_MALFORMED, "line 2, column 4",
		       "declares 3 features");
}

static void test_non_numeric_cell(void **state)
{
	expect_failure(CSV_DIR "non_numeric.csv", AUTO, FEDC_ERR_MALFORMED, "line 12, column 7: \"abc\" is not a number",
		       NULL);
}

static void test_empty_cell(void **state)
{
	expect_failure(CSV_DIR "empty_cell.csv", AUTO, FEDC_ERR_MALFORMED, "line 3, column 2: empty cell", NULL);
}

static void test_counts_header_wrong_row_count(void **state)
{
	expect_failure(CSV_DIR "counts_wrong_rows.csv", AUTO, FEDC_ERR_MALFORMED, "line 1, column 1",
		       "says 5 rows, the file has 4");
}

static void test_bad_labels(void **state)
{
	expect_failure(CSV_DIR "negative_label.csv", AUTO, FEDC_ERR_MALFORMED, "line 3, column 3", "label \"-1\"");
	expect_failure(CSV_DIR "fractional_label.csv", AUTO, FEDC_ERR_MALFORMED, "line 4, column 3", "label \"1.5\"");
	expect_failure(CSV_DIR "label_beyond_classes.csv", AUTO, FEDC_ERR_MALFORMED, "line 4, column 3",
		       "names only 2 classes");
}

static void test_nan_and_inf_cells(void **state)
{
	expect_failure(CSV_DIR "nan_cell.csv", AUTO, FEDC_ERR_MALFORMED, "line 4, column 2", "not a finite number");
	expect_failure(CSV_DIR "inf_cell.csv", AUTO, FEDC_ERR_MALFORMED, "line 2, column 2", "not a finite number");
	expect_failure(CSV_DIR "overflow_cell.csv", AUTO, FEDC_ERR_MALFORMED, "line 3, column 1", "32-bit float");
}

static void test_empty_line_inside_data(void **state)
{
	expect_failure(CSV_DIR "blank_middle.csv", AUTO, FEDC_ERR_MALFORMED, "line 3: empty line", NULL);
}

static void test_nul_byte(void **state)
{
	expect_failure(CSV_DIR "nul_byte.csv", AUTO, FEDC_ERR_MALFORMED, "line 3", "NUL");
}

static void test_line_too_long(void **state)
{
	size_t n = (1u << 20) + 10;
	char *text = malloc(n + 16);
	char path[256];

	assert_non_null(text);
	memcpy(text, "a,b,y\n", 6);
	memset(text + 6, '1', n);
	memcpy(text + 6 + n, ",2,0\n", 6);
	write_tmp("long.csv", text, path, sizeof(path));
	free(text);
	expect_failure(path, AUTO, FEDC_ERR_TOO_BIG, "line 2", "longer than");
}

static void test_bad_options(void **state)
{
	struct opts_given label = { "auto", 3, false };
	struct opts_given header = { "maybe", -1, false };
	struct node_dataset ds;
	struct dataset_options idx = { "idx", "auto", -1, false };

	expect_failure(CSV_DIR "no_header.csv", label, FEDC_ERR_INVAL, "label column 3", NULL);
	expect_failure(CSV_DIR "no_header.csv", header, FEDC_ERR_INVAL, "maybe", NULL);
	memset(&ds, 0, sizeof(ds));
	snprintf(ds.path, sizeof(ds.path), "%s", CSV_DIR "no_header.csv");
	assert_int_equal(dataset__inspect(&ds, &idx), FEDC_ERR_UNSUPPORTED);
}

/* ---- load after registration ---- */

static void test_load_refuses_changed_file(void **state)
{
	char path[256];
	struct node_dataset ds;
	struct fedc_data data = { 0 };
	FILE *f;

	write_tmp("changing.csv", "1,2,0\n3,4,1\n", path, sizeof(path));
	assert_int_equal(inspect(path, AUTO, &ds), FEDC_OK);
	f = fopen(path, "ab");
	assert_non_null(f);
	fputs("5,6,1\n", f);
	fclose(f);
	assert_int_equal(dataset__load(&ds, &data), FEDC_ERR_DIGEST);
	assert_non_null(strstr(fedc_last_error(), "changed since"));
	assert_non_null(strstr(fedc_last_error(), "dataset add"));
	assert_null(data.x);
	assert_null(data.y);
	/* A file that disappeared is an I/O error, not a digest one. */
	unlink(path);
	assert_int_equal(dataset__load(&ds, &data), FEDC_ERR_IO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_breast_cancer_counts_header),
		cmocka_unit_test(test_names_header),
		cmocka_unit_test(test_no_header),
		cmocka_unit_test(test_label_column_in_the_middle),
		cmocka_unit_test(test_crlf_line_ends),
		cmocka_unit_test(test_regression_target),
		cmocka_unit_test(test_counts_header_class_names),
		cmocka_unit_test(test_trailing_empty_lines_and_bom),
		cmocka_unit_test(test_auto_numeric_first_line_is_data),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_header_only),
		cmocka_unit_test(test_ragged_row),
		cmocka_unit_test(test_non_numeric_cell),
		cmocka_unit_test(test_empty_cell),
		cmocka_unit_test(test_counts_header_wrong_row_count),
		cmocka_unit_test(test_bad_labels),
		cmocka_unit_test(test_nan_and_inf_cells),
		cmocka_unit_test(test_empty_line_inside_data),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_load_refuses_changed_file),
	};

	return cmocka_run_group_tests(tests, make_tmp, drop_tmp);
}
