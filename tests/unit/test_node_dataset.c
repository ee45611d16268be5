/* Datasets (node/dataset.c, node/dataset_csv.c, node/dataset_idx.c). CSV:
 * the real breast-cancer file, the header modes, quoting, missing cells and
 * categorical columns (the schema registration records and a load follows),
 * and one fixture per way a file can be broken, each checked for its error
 * code and for the line and column its message names. IDX: tiny image sets plain and gzip'd, Fashion-MNIST when
 * installed, and one fixture per way a pair of files can be broken
 * (tests/fixtures/idx/, written by make_fixtures.py there). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "dataset_schema.h"
#include "fedc/hash.h"

#define CSV_DIR FEDC_FIXTURES_DIR "/csv/"
#define BREAST FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv"
#define IDX_DIR FEDC_FIXTURES_DIR "/idx/"
#define TINY_IMAGES IDX_DIR "tiny-images-idx3-ubyte"
#define TINY_LABELS IDX_DIR "tiny-labels-idx1-ubyte"
#define FMNIST_DIR "/usr/share/datasets/fashion-mnist/"

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
		assert_string_equal(ds.shape, "30");
		assert_string_equal(ds.label_counts, "212,357");
		assert_string_equal(ds.labels_path, "");
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
	assert_string_equal(ds.label_counts, "");
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
	assert_string_equal(ds.label_counts, "2,2,0");
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

/* A text cell makes its column categorical (it used to be refused): the
 * column's categories are its distinct cells, sorted, and a load gives each
 * cell its index there. */
static void test_text_cell_makes_a_categorical_column(void **state)
{
	struct node_dataset ds;
	struct fedc_data data;
	const struct fedc_column *c7;

	assert_int_equal(inspect(CSV_DIR "non_numeric.csv", AUTO, &ds), FEDC_OK);
	assert_int_equal(ds.n_samples, 14);
	assert_int_equal(ds.n_features, 7);
	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	assert_non_null(data.schema);
	assert_int_equal(data.schema->n_columns, 7);
	assert_int_equal(data.schema->columns[0].type, FEDC_COLUMN_NUMERIC);
	c7 = &data.schema->columns[6];
	assert_string_equal(c7->name, "c7");
	assert_int_equal(c7->type, FEDC_COLUMN_CATEGORICAL);
	/* "10" .. "16", "18", "19", "20", "7", "8", "9", "abc": sorted as strings */
	assert_int_equal(c7->n_categories, 14);
	assert_string_equal(c7->categories[0], "10");
	assert_string_equal(c7->categories[10], "7");
	assert_string_equal(c7->categories[13], "abc");
	assert_true(data.x[6] == 10.0f);          /* row 1's "7" */
	assert_true(data.x[10 * 7 + 6] == 13.0f); /* line 12's "abc" */
	dataset__free_data(&data);
	assert_null(data.schema);
}

/* Empty, NA and NaN cells are missing: counted at registration, NAN in x. */
static void test_missing_cells(void **state)
{
	struct node_dataset ds;
	struct fedc_data data;

	assert_int_equal(inspect(CSV_DIR "empty_cell.csv", AUTO, &ds), FEDC_OK);
	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	assert_non_null(data.schema);
	assert_int_equal(data.schema->columns[0].n_missing, 0);
	assert_int_equal(data.schema->columns[1].n_missing, 1);
	assert_int_equal(data.schema->columns[1].type, FEDC_COLUMN_NUMERIC);
	assert_true(data.x[1] == 2.0f && isnan(data.x[3]));
	dataset__free_data(&data);
	assert_int_equal(inspect(CSV_DIR "nan_cell.csv", AUTO, &ds), FEDC_OK);
	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	assert_int_equal(data.schema->columns[1].n_missing, 1);
	assert_true(isnan(data.x[5]));
	dataset__free_data(&data);
}

/* Quoted cells with commas, doubled quotes and a CR LF inside, CR LF line
 * ends, missing cells of every spelling, a categorical column. */
static void test_quoted_messy_table(void **state)
{
	static const float want[4][4] = {
		{ 61, 0, 1, 0.5f }, { 47, 1, 2, NAN }, { NAN, 0, 0, 1.5f }, { 55, 2, NAN, NAN },
	};
	struct node_dataset ds;
	struct fedc_data data;
	const struct fedc_column *col;

	assert_int_equal(inspect(CSV_DIR "quoted_messy.csv", AUTO, &ds), FEDC_OK);
	assert_string_equal(ds.header, "names");
	assert_int_equal(ds.n_samples, 4);
	assert_int_equal(ds.n_features, 4);
	assert_string_equal(ds.label_counts, "2,2");
	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	col = data.schema->columns;
	assert_string_equal(col[0].name, "age");
	assert_int_equal(col[0].n_missing, 1);
	assert_string_equal(col[1].name, "sex");
	assert_int_equal(col[1].type, FEDC_COLUMN_CATEGORICAL);
	assert_int_equal(col[1].n_categories, 3);
	assert_string_equal(col[1].categories[0], "F");
	assert_string_equal(col[1].categories[1], "M");
	assert_string_equal(col[1].categories[2], "m");
	assert_string_equal(col[2].name, "note, free text");
	assert_int_equal(col[2].n_categories, 3);
	assert_string_equal(col[2].categories[0], "plain");
	assert_string_equal(col[2].categories[1], "said \"fine\", then left");
	assert_string_equal(col[2].categories[2], "two\r\nlines");
	assert_int_equal(col[2].n_missing, 1);
	assert_int_equal(col[3].type, FEDC_COLUMN_NUMERIC);
	assert_int_equal(col[3].n_missing, 2);
	for (int i = 0; i < 4; i++) {
		for (int j = 0; j < 4; j++)
			assert_true(isnan(want[i][j]) ? isnan(data.x[i * 4 + j]) : data.x[i * 4 + j] == want[i][j]);
	}
	assert_true(data.y[0] == 1.0f && data.y[3] == 0.0f);
	dataset__free_data(&data);
}

/* The plan's process gets the record without its schema: the load finds
 * the same one in the (unchanged) file. */
static void test_load_without_stored_schema(void **state)
{
	struct node_dataset ds;
	struct fedc_data a, b;

	assert_int_equal(inspect(CSV_DIR "quoted_messy.csv", AUTO, &ds), FEDC_OK);
	assert_int_equal(dataset__load(&ds, &a), FEDC_OK);
	ds.schema[0] = '\0';
	assert_int_equal(dataset__load(&ds, &b), FEDC_OK);
	assert_non_null(b.schema);
	assert_int_equal(b.schema->columns[1].n_categories, 3);
	assert_memory_equal(a.x, b.x, 16 * sizeof(float));
	dataset__free_data(&a);
	dataset__free_data(&b);
	/* Names alone make one: a plan finds a clean table's columns by name. */
	assert_int_equal(inspect(CSV_DIR "names_header.csv", AUTO, &ds), FEDC_OK);
	assert_non_null(strstr(ds.schema, "numeric\t0\t"));
	ds.schema[0] = '\0';
	assert_int_equal(dataset__load(&ds, &a), FEDC_OK);
	assert_non_null(a.schema);
	assert_int_equal(a.schema->columns[0].type, FEDC_COLUMN_NUMERIC);
	assert_int_equal(a.schema->columns[0].n_missing, 0);
	dataset__free_data(&a);
	/* A table of numbers without gaps or names needs none. */
	assert_int_equal(inspect(BREAST, AUTO, &ds), FEDC_OK);
	assert_string_equal(ds.schema, "");
	assert_int_equal(dataset__load(&ds, &a), FEDC_OK);
	assert_null(a.schema);
	dataset__free_data(&a);
}

/* Past SCHEMA_MAX_CATEGORIES distinct values a column is text: NAN in x. */
static void test_many_values_make_a_text_column(void **state)
{
	size_t cap = 300 * 32;
	char *text = malloc(cap), path[256];
	size_t used = 0;
	struct node_dataset ds;
	struct fedc_data data;

	assert_non_null(text);
	used += (size_t)snprintf(text, cap, "id,size,y\n");
	for (int i = 0; i < 300; i++)
		used += (size_t)snprintf(text + used, cap - used, "p%03d,%s,%d\n", i, i % 2 ? "small" : "large", i % 2);
	write_tmp("text.csv", text, path, sizeof(path));
	free(text);
	assert_int_equal(inspect(path, AUTO, &ds), FEDC_OK);
	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	assert_int_equal(data.schema->columns[0].type, FEDC_COLUMN_TEXT);
	assert_int_equal(data.schema->columns[0].n_categories, 0);
	assert_int_equal(data.schema->columns[1].type, FEDC_COLUMN_CATEGORICAL);
	assert_true(isnan(data.x[0]) && data.x[1] == 0.0f && data.x[3] == 1.0f); /* large, small */
	dataset__free_data(&data);
}

/* A category that was not there at registration means the file changed. */
static void test_load_refuses_new_category(void **state)
{
	char path[256];
	struct node_dataset ds;
	struct fedc_data data;
	char schema[NODE_SCHEMA_BUF];

	write_tmp("cat.csv", "size,y\nsmall,0\nlarge,1\n", path, sizeof(path));
	assert_int_equal(inspect(path, AUTO, &ds), FEDC_OK);
	memcpy(schema, ds.schema, sizeof(schema));
	write_tmp("cat.csv", "size,y\nsmall,0\nhuge!,1\n", path, sizeof(path));
	assert_int_equal(dataset__load(&ds, &data), FEDC_ERR_DIGEST);
	assert_non_null(strstr(fedc_last_error(), "changed since"));
	assert_null(data.x);
	assert_null(data.schema);
}

/* Categories that do not fit the node's record (16 KiB) are refused at
 * registration, naming the column; nothing is stored. */
static void test_schema_too_big_for_the_record(void **state)
{
	size_t cap = 250 * 128;
	char *text = malloc(cap), path[256];
	size_t used = 0;

	assert_non_null(text);
	used += (size_t)snprintf(text, cap, "id,diagnosis text,y\n");
	for (int i = 0; i < 200; i++)
		used += (size_t)snprintf(text + used, cap - used, "%d,\"a long free-text diagnosis, written by hand at"
					 " the bedside, number %03d of many such notes\",%d\n", i, i, i % 2);
	write_tmp("wide.csv", text, path, sizeof(path));
	free(text);
	expect_failure(path, AUTO, FEDC_ERR_TOO_BIG, "column \"diagnosis text\" has 200 categories", "16384-byte");
}

static enum fedc_err inspect_with_options(const char *path, struct opts_given o, const char *options,
					  struct node_dataset *ds)
{
	struct dataset_options opts = { "csv", o.header ? o.header : "auto", o.label_column, o.regression };

	memset(ds, 0, sizeof(*ds));
	snprintf(ds->path, sizeof(ds->path), "%s", path);
	snprintf(ds->name, sizeof(ds->name), "test");
	snprintf(ds->options, sizeof(ds->options), "%s", options);
	fedc_clear_error();
	return dataset__inspect(ds, &opts);
}

/* A label written as text, with its classes named at registration
 * (--label-classes B,M: class 0 is B). A quoted " M " is not M. */
static void test_text_label_with_classes(void **state)
{
	char path[256];
	struct node_dataset ds;
	struct fedc_data data;
	struct opts_given regression = { "auto", -1, true };

	write_tmp("text_label.csv", "a,b,diagnosis\n1,2,M\n3,4,B\n5,6,M\n", path, sizeof(path));
	assert_int_equal(inspect_with_options(path, AUTO, "label_classes=B,M", &ds), FEDC_OK);
	assert_int_equal(ds.n_classes, 2);
	assert_string_equal(ds.label_counts, "1,2");
	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	assert_true(data.y[0] == 1.0f && data.y[1] == 0.0f && data.y[2] == 1.0f);
	dataset__free_data(&data);
	/* Other options around it; a class no row has. */
	assert_int_equal(inspect_with_options(path, AUTO, "x=1;label_classes=B,M,U;y=2", &ds), FEDC_OK);
	assert_int_equal(ds.n_classes, 3);
	assert_string_equal(ds.label_counts, "1,2,0");

	assert_int_equal(inspect_with_options(CSV_DIR "text_label.csv", AUTO, "label_classes=B,M", &ds),
			 FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "line 4, column 3: label \" M \" is not one of the classes"));
	assert_int_equal(inspect_with_options(path, AUTO, "", &ds), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "line 2, column 3: label \"M\" is not a class index"));
	assert_non_null(strstr(fedc_last_error(), "--label-classes"));
	assert_int_equal(inspect_with_options(path, regression, "label_classes=B,M", &ds), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "regression"));
	assert_int_equal(inspect_with_options(path, AUTO, "label_classes=B,M,B", &ds), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "\"B\" is named twice"));
	assert_int_equal(inspect_with_options(path, AUTO, "label_classes=B,,M", &ds), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "none empty"));
	assert_int_equal(ds.n_samples, 0);
}

static void test_empty_cell_in_counts_header(void **state)
{
	/* A counts header is still two counts: an empty row count is not one. */
	struct opts_given counts = { "counts", -1, false };
	char path[256];

	write_tmp("counts_empty.csv", ",2\n1,2,0\n", path, sizeof(path));
	expect_failure(path, counts, FEDC_ERR_MALFORMED, "line 1, column 1", "not a row count");
}

static void test_missing_label(void **state)
{
	expect_failure(CSV_DIR "missing_label.csv", AUTO, FEDC_ERR_MALFORMED, "line 3, column 3",
		       "the label is missing");
}

static void test_duplicate_column_names(void **state)
{
	expect_failure(CSV_DIR "duplicate_names.csv", AUTO, FEDC_ERR_MALFORMED, "line 1, columns 1 and 3",
		       "both are named \"a\"");
}

static void test_bad_quoting(void **state)
{
	expect_failure(CSV_DIR "quote_in_cell.csv", AUTO, FEDC_ERR_MALFORMED, "line 3: a quote inside an unquoted cell",
		       "doubled");
	expect_failure(CSV_DIR "unclosed_quote.csv", AUTO, FEDC_ERR_MALFORMED, "line 3: a quoted cell is not closed",
		       NULL);
}

/* A row whose quoted cells span lines is named by the line it starts on. */
static void test_ragged_row_with_quoted_newlines(void **state)
{
	expect_failure(CSV_DIR "ragged_quoted.csv", AUTO, FEDC_ERR_MALFORMED, "line 4, column 3", "missing cell");
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

/* A number that is not finite or overflows a float is a broken numeric
 * cell, not a category ("nan" is a missing cell: test_missing_cells). */
static void test_inf_and_overflow_cells(void **state)
{
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

/* A line of exactly the limit (1 MiB without its end) is read; one byte
 * more is refused, naming the line and the limit. */
static void test_line_at_the_limit(void **state)
{
	size_t n = 1u << 20;
	char *text = malloc(n + 16);
	struct node_dataset ds;
	char path[256];

	assert_non_null(text);
	memcpy(text, "a,b,y\n", 6);
	text[6] = '1';
	memset(text + 7, ' ', n - 5); /* cells are trimmed of spaces */
	memcpy(text + 6 + n - 4, ",2,0\n", 6);
	write_tmp("limit.csv", text, path, sizeof(path));
	assert_int_equal(inspect(path, AUTO, &ds), FEDC_OK);
	assert_int_equal(ds.n_samples, 1);
	memcpy(text + 6 + n - 4, " ,2,0\n", 7);
	write_tmp("limit.csv", text, path, sizeof(path));
	free(text);
	expect_failure(path, AUTO, FEDC_ERR_TOO_BIG, "line 2", "longer than 1048576 bytes");
}

static void test_bad_options(void **state)
{
	struct opts_given label = { "auto", 3, false };
	struct opts_given header = { "maybe", -1, false };
	struct node_dataset ds;
	struct dataset_options parquet = { "parquet", "auto", -1, false };
	struct dataset_options idx = { "idx", "auto", -1, false };

	expect_failure(CSV_DIR "no_header.csv", label, FEDC_ERR_INVAL, "label column 3", NULL);
	expect_failure(CSV_DIR "no_header.csv", header, FEDC_ERR_INVAL, "maybe", NULL);
	memset(&ds, 0, sizeof(ds));
	snprintf(ds.path, sizeof(ds.path), "%s", CSV_DIR "no_header.csv");
	assert_int_equal(dataset__inspect(&ds, &parquet), FEDC_ERR_UNSUPPORTED);
	assert_non_null(strstr(fedc_last_error(), "parquet"));
	/* An IDX set without its labels file. */
	assert_int_equal(dataset__inspect(&ds, &idx), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "labels file"));
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

/* ---- IDX image sets ---- */

static enum fedc_err inspect_idx(const char *images, const char *labels, struct node_dataset *ds)
{
	struct dataset_options opts = { "idx", "auto", -1, false };

	memset(ds, 0, sizeof(*ds));
	snprintf(ds->path, sizeof(ds->path), "%s", images);
	snprintf(ds->labels_path, sizeof(ds->labels_path), "%s", labels);
	snprintf(ds->name, sizeof(ds->name), "test");
	fedc_clear_error();
	return dataset__inspect(ds, &opts);
}

/* Checks the code, the fragments of the detail, and that nothing was filled in. */
static void expect_idx_failure(const char *images, const char *labels, enum fedc_err code, const char *frag1,
			       const char *frag2)
{
	struct node_dataset ds;
	enum fedc_err rc = inspect_idx(images, labels, &ds);

	if (rc != code || (frag1 && !strstr(fedc_last_error(), frag1)) || (frag2 && !strstr(fedc_last_error(), frag2)))
		print_error("%s + %s: got %s \"%s\", wanted %s with \"%s\" and \"%s\"\n", images, labels,
			    fedc_strerror(rc), fedc_last_error(), fedc_strerror(code), frag1 ? frag1 : "",
			    frag2 ? frag2 : "");
	assert_int_equal(rc, code);
	if (frag1)
		assert_non_null(strstr(fedc_last_error(), frag1));
	if (frag2)
		assert_non_null(strstr(fedc_last_error(), frag2));
	assert_int_equal(ds.n_samples, 0);
	assert_string_equal(ds.digest, "");
	assert_string_equal(ds.type, "");
	assert_string_equal(ds.shape, "");
}

/* SHA-256 of one file's bytes followed by another's. */
static void digest_of_pair(const char *a, const char *b, char *hex)
{
	struct fedc_hash *h = NULL;
	char buf[4096];
	const char *paths[2] = { a, b };

	assert_int_equal(fedc_hash_new(FEDC_HASH_SHA256, &h), FEDC_OK);
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(paths[i], "rb");
		size_t n;

		assert_non_null(f);
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			assert_int_equal(fedc_hash_update(h, buf, n), FEDC_OK);
		fclose(f);
	}
	assert_int_equal(fedc_hash_final(h, hex), FEDC_OK);
	fedc_hash_free(h);
}

static void copy_file(const char *from, const char *name, char *path, size_t cap)
{
	char buf[4096];
	size_t n;
	FILE *in = fopen(from, "rb"), *out;

	snprintf(path, cap, "%s/%s", tmp_dir, name);
	out = fopen(path, "wb");
	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

/* The same 5 images of 4x3, plain and gzip'd: the same view, each its own digest. */
static void test_idx_tiny_plain_and_gzip(void **state)
{
	static const char *const images[2] = { TINY_IMAGES, TINY_IMAGES ".gz" };
	static const char *const labels[2] = { TINY_LABELS, TINY_LABELS ".gz" };
	static const float y[5] = { 2, 0, 1, 2, 2 };
	char digest[2][FEDC_DIGEST_BUF];

	for (int i = 0; i < 2; i++) {
		struct node_dataset ds;
		struct fedc_data data;
		char want[FEDC_SHA256_HEXLEN + 1];

		assert_int_equal(inspect_idx(images[i], labels[i], &ds), FEDC_OK);
		assert_string_equal(ds.type, "idx");
		assert_string_equal(ds.shape, "4x3");
		assert_int_equal(ds.n_samples, 5);
		assert_int_equal(ds.n_features, 12);
		assert_int_equal(ds.n_classes, 3);
		assert_int_equal(ds.label_column, -1);
		assert_string_equal(ds.header, "");
		assert_string_equal(ds.label_counts, "1,1,3");
		digest_of_pair(images[i], labels[i], want); /* images bytes then labels bytes, as on disk */
		assert_string_equal(ds.digest, want);
		snprintf(digest[i], sizeof(digest[i]), "%s", ds.digest);

		assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
		assert_int_equal(data.n_samples, 5);
		assert_int_equal(data.n_features, 12);
		assert_int_equal(data.n_classes, 3);
		assert_true(data.x[0] == 0.0f && data.x[1] == 20.0f / 255.0f && data.x[11] == 220.0f / 255.0f);
		assert_true(data.x[12] == 1.0f);                   /* image 1, pixel 0: 255 */
		assert_true(data.x[4 * 12 + 1] == 220.0f / 255.0f); /* image 4 starts at 4 x 12 */
		for (int k = 0; k < 5; k++)
			assert_true(data.y[k] == y[k]);
		dataset__free_data(&data);
	}
	assert_string_not_equal(digest[0], digest[1]);
}

/* The real thing, when dataset-fashion-mnist is installed (the test set:
 * 10,000 images, 1,000 of each class). */
static void test_idx_fashion_mnist(void **state)
{
	struct node_dataset ds;
	struct fedc_data data;
	float lo = 1, hi = 0;

	if (access(FMNIST_DIR "t10k-images-idx3-ubyte.gz", R_OK) != 0) {
		fail_msg(FMNIST_DIR " not installed (apt-get install dataset-fashion-mnist; scripts/setup.sh does)");
	}
	assert_int_equal(inspect_idx(FMNIST_DIR "t10k-images-idx3-ubyte.gz", FMNIST_DIR "t10k-labels-idx1-ubyte.gz",
				     &ds), FEDC_OK);
	assert_string_equal(ds.shape, "28x28");
	assert_int_equal(ds.n_samples, 10000);
	assert_int_equal(ds.n_features, 784);
	assert_int_equal(ds.n_classes, 10);
	assert_string_equal(ds.label_counts, "1000,1000,1000,1000,1000,1000,1000,1000,1000,1000");
	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	for (size_t i = 0; i < data.n_samples * data.n_features; i++) {
		lo = data.x[i] < lo ? data.x[i] : lo;
		hi = data.x[i] > hi ? data.x[i] : hi;
	}
	assert_true(lo == 0.0f && hi == 1.0f);
	assert_true(data.y[0] == 9.0f); /* the first test image is an ankle boot */
	dataset__free_data(&data);
}

static void test_idx_missing_file(void **state)
{
	expect_idx_failure(IDX_DIR "no-such-images", TINY_LABELS, FEDC_ERR_IO, "no-such-images", NULL);
	expect_idx_failure(TINY_IMAGES, IDX_DIR "no-such-labels", FEDC_ERR_IO, "no-such-labels", NULL);
	expect_idx_failure(IDX_DIR, TINY_LABELS, FEDC_ERR_IO, "not a regular file", NULL);
}

static void test_idx_wrong_magic(void **state)
{
	expect_idx_failure(IDX_DIR "bad-magic-images", TINY_LABELS, FEDC_ERR_MALFORMED,
			   "bad-magic-images: not an IDX file", "starts with 50 35 0a 33");
}

static void test_idx_unsupported_element_type(void **state)
{
	expect_idx_failure(IDX_DIR "float-images-idx3", TINY_LABELS, FEDC_ERR_UNSUPPORTED, "0x0D (32-bit float)",
			   "unsigned bytes");
}

static void test_idx_truncated_images(void **state)
{
	expect_idx_failure(IDX_DIR "truncated-images-idx3-ubyte", TINY_LABELS, FEDC_ERR_MALFORMED,
			   "truncated-images-idx3-ubyte: truncated", "should hold 76 bytes; it holds 46");
	expect_idx_failure(IDX_DIR "truncated-images-idx3-ubyte.gz", TINY_LABELS, FEDC_ERR_MALFORMED,
			   "5 images of 4x3", "76 bytes after gunzip; it holds 46");
	expect_idx_failure(IDX_DIR "header-only-images-idx3", TINY_LABELS, FEDC_ERR_MALFORMED, "truncated header",
			   "ends after 10");
	expect_idx_failure(IDX_DIR "extra-bytes-images-idx3-ubyte", TINY_LABELS, FEDC_ERR_MALFORMED, "too long",
			   "should hold 76 bytes; it holds 79");
}

static void test_idx_count_mismatch(void **state)
{
	expect_idx_failure(TINY_IMAGES, IDX_DIR "four-labels-idx1-ubyte", FEDC_ERR_MALFORMED, "holds 5 images but",
			   "four-labels-idx1-ubyte holds 4 labels");
}

static void test_idx_corrupt_gzip(void **state)
{
	expect_idx_failure(IDX_DIR "corrupt-images-idx3-ubyte.gz", TINY_LABELS, FEDC_ERR_MALFORMED,
			   "corrupt-images-idx3-ubyte.gz: corrupt gzip data", NULL);
	expect_idx_failure(IDX_DIR "cut-images-idx3-ubyte.gz", TINY_LABELS, FEDC_ERR_MALFORMED,
			   "cut-images-idx3-ubyte.gz: the gzip data ends early", NULL);
}

static void test_idx_empty_file(void **state)
{
	expect_idx_failure(IDX_DIR "empty", TINY_LABELS, FEDC_ERR_MALFORMED, "empty: empty file", NULL);
	expect_idx_failure(IDX_DIR "empty.gz", TINY_LABELS, FEDC_ERR_MALFORMED, "empty file (nothing after gunzip)",
			   NULL);
	expect_idx_failure(TINY_IMAGES, IDX_DIR "empty", FEDC_ERR_MALFORMED, "empty file", NULL);
}

static void test_idx_zero_images(void **state)
{
	expect_idx_failure(IDX_DIR "zero-images-idx3-ubyte.gz", IDX_DIR "zero-labels-idx1-ubyte", FEDC_ERR_MALFORMED,
			   "announces 0 images", NULL);
}

static void test_idx_labels_given_as_images(void **state)
{
	expect_idx_failure(TINY_LABELS, TINY_IMAGES, FEDC_ERR_MALFORMED, "tiny-labels-idx1-ubyte: has 1 dimension",
			   "swapped");
	expect_idx_failure(TINY_IMAGES, TINY_IMAGES ".gz", FEDC_ERR_MALFORMED, "has 3 dimensions", "swapped");
}

/* Each file is covered by the digest: changing either refuses the load, and a
 * header that no longer matches is refused before the data is read. */
static void test_idx_load_refuses_changed_files(void **state)
{
	char images[256], labels[256];
	struct node_dataset ds;
	struct fedc_data data = { 0 };
	FILE *f;

	copy_file(TINY_IMAGES ".gz", "images.gz", images, sizeof(images));
	copy_file(TINY_LABELS, "labels", labels, sizeof(labels));
	assert_int_equal(inspect_idx(images, labels, &ds), FEDC_OK);
	assert_int_equal(dataset__load(&ds, &data), FEDC_OK);
	dataset__free_data(&data);

	f = fopen(labels, "r+b"); /* label 0 from 2 to 1: same size, same header */
	assert_non_null(f);
	fseek(f, 8, SEEK_SET);
	fputc(1, f);
	fclose(f);
	assert_int_equal(dataset__load(&ds, &data), FEDC_ERR_DIGEST);
	assert_non_null(strstr(fedc_last_error(), "changed since dataset \"test\" was registered"));
	assert_non_null(strstr(fedc_last_error(), "dataset add"));
	assert_null(data.x);
	assert_null(data.y);

	copy_file(TINY_LABELS, "labels", labels, sizeof(labels));
	copy_file(TINY_IMAGES, "images.gz", images, sizeof(images)); /* now plain: other bytes */
	assert_int_equal(dataset__load(&ds, &data), FEDC_ERR_DIGEST);
	copy_file(IDX_DIR "truncated-images-idx3-ubyte", "images.gz", images, sizeof(images));
	assert_int_equal(dataset__load(&ds, &data), FEDC_ERR_DIGEST);
	assert_non_null(strstr(fedc_last_error(), "truncated"));
	copy_file(IDX_DIR "float-images-idx3", "images.gz", images, sizeof(images));
	assert_int_equal(dataset__load(&ds, &data), FEDC_ERR_DIGEST);
	ds.n_samples = 4; /* as if the registration said 4 images: the header disagrees */
	copy_file(TINY_IMAGES ".gz", "images.gz", images, sizeof(images));
	assert_int_equal(dataset__load(&ds, &data), FEDC_ERR_DIGEST);
	assert_non_null(strstr(fedc_last_error(), "now announces 5 images"));
	ds.n_samples = 5;
	unlink(labels);
	assert_int_equal(dataset__load(&ds, &data), FEDC_ERR_IO);
	assert_null(data.x);
}

/* The stored per-class counts: whole decimal numbers through fedc_parse_int,
 * one per class, comma-separated, nothing else; a count past INT64_MAX (which
 * strtoull took) is refused like any other out-of-range integer. */
static void test_label_counts_parse_strict(void **state)
{
	uint64_t c[3];

	(void)state;
	assert_true(dataset__parse_label_counts("212,357", c, 2));
	assert_true(c[0] == 212 && c[1] == 357);
	assert_true(dataset__parse_label_counts("9223372036854775807", c, 1));
	assert_true(c[0] == 9223372036854775807ull);
	assert_false(dataset__parse_label_counts("9223372036854775808", c, 1));
	assert_false(dataset__parse_label_counts("99999999999999999999999", c, 1));
	assert_false(dataset__parse_label_counts("1,2", c, 3));   /* too few */
	assert_false(dataset__parse_label_counts("1,2,3", c, 2)); /* too many */
	assert_false(dataset__parse_label_counts("1,,3", c, 3));
	assert_false(dataset__parse_label_counts("1, 2", c, 2));
	assert_false(dataset__parse_label_counts("+1,2", c, 2));
	assert_false(dataset__parse_label_counts("-1,2", c, 2));
	assert_false(dataset__parse_label_counts("1,2,", c, 2));
	assert_false(dataset__parse_label_counts("", c, 0));
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
		cmocka_unit_test(test_text_cell_makes_a_categorical_column),
		cmocka_unit_test(test_missing_cells),
		cmocka_unit_test(test_quoted_messy_table),
		cmocka_unit_test(test_load_without_stored_schema),
		cmocka_unit_test(test_many_values_make_a_text_column),
		cmocka_unit_test(test_load_refuses_new_category),
		cmocka_unit_test(test_schema_too_big_for_the_record),
		cmocka_unit_test(test_text_label_with_classes),
		cmocka_unit_test(test_empty_cell_in_counts_header),
		cmocka_unit_test(test_missing_label),
		cmocka_unit_test(test_duplicate_column_names),
		cmocka_unit_test(test_bad_quoting),
		cmocka_unit_test(test_ragged_row_with_quoted_newlines),
		cmocka_unit_test(test_counts_header_wrong_row_count),
		cmocka_unit_test(test_bad_labels),
		cmocka_unit_test(test_inf_and_overflow_cells),
		cmocka_unit_test(test_empty_line_inside_data),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_line_at_the_limit),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_load_refuses_changed_file),
		cmocka_unit_test(test_idx_tiny_plain_and_gzip),
		cmocka_unit_test(test_idx_fashion_mnist),
		cmocka_unit_test(test_idx_missing_file),
		cmocka_unit_test(test_idx_wrong_magic),
		cmocka_unit_test(test_idx_unsupported_element_type),
		cmocka_unit_test(test_idx_truncated_images),
		cmocka_unit_test(test_idx_count_mismatch),
		cmocka_unit_test(test_idx_corrupt_gzip),
		cmocka_unit_test(test_idx_empty_file),
		cmocka_unit_test(test_idx_zero_images),
		cmocka_unit_test(test_idx_labels_given_as_images),
		cmocka_unit_test(test_idx_load_refuses_changed_files),
		cmocka_unit_test(test_label_counts_parse_strict),
	};

	return cmocka_run_group_tests(tests, make_tmp, drop_tmp);
}
