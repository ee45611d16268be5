/* A table's schema (node/dataset_schema.c): the builder's rules (missing
 * cells, numeric, categorical, text past the limit), the stored text
 * written and read back, and one stored text per way it can be broken. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_schema.h"
#include "db.h"

static void observe(struct schema_builder *b, uint32_t col, const char *cell, bool is_number)
{
	size_t len = strlen(cell);

	assert_int_equal(dataset_schema__observe(b, col, cell, len, dataset_schema__is_missing(cell, len), is_number),
			 FEDC_OK);
}

static void test_missing_spellings(void **state)
{
	(void)state;
	assert_true(dataset_schema__is_missing("", 0));
	assert_true(dataset_schema__is_missing("NA", 2));
	assert_true(dataset_schema__is_missing("na", 2));
	assert_true(dataset_schema__is_missing("NaN", 3));
	assert_true(dataset_schema__is_missing("nan", 3));
	assert_true(dataset_schema__is_missing("NAN", 3));
	assert_false(dataset_schema__is_missing("N/A", 3));
	assert_false(dataset_schema__is_missing("NAB", 3));
	assert_false(dataset_schema__is_missing("0", 1));
	assert_false(dataset_schema__is_missing("none", 4));
}

/* Three columns: numeric with a gap, categorical with a tab and a '%' in a
 * value (escaped in the text), and an unnamed one; written, read back. */
static void test_round_trip(void **state)
{
	struct schema_builder b = { 0 };
	struct fedc_table_schema *s = NULL;
	char text[NODE_SCHEMA_BUF];

	(void)state;
	assert_int_equal(dataset_schema__builder_init(&b, 3), FEDC_OK);
	assert_int_equal(dataset_schema__name(&b, 0, "age", 3), FEDC_OK);
	assert_int_equal(dataset_schema__name(&b, 1, "grade\tband", 10), FEDC_OK);
	observe(&b, 0, "61", true);
	observe(&b, 0, "NA", false);
	observe(&b, 1, "low 5%", false);
	observe(&b, 1, "high", false);
	observe(&b, 1, "1", true);
	observe(&b, 1, "high", false);
	observe(&b, 1, "", false);
	observe(&b, 2, "3", true);
	assert_false(dataset_schema__plain(&b));
	assert_int_equal(dataset_schema__serialize(&b, text, sizeof(text)), FEDC_OK);
	assert_string_equal(text, "fedc-schema 1 3\n"
				  "numeric\t1\tage\n"
				  "categorical\t1\tgrade%09band\t1\thigh\tlow 5%25\n"
				  "numeric\t0\tc2\n");
	dataset_schema__builder_free(&b);

	assert_int_equal(dataset_schema__parse(text, 3, &s), FEDC_OK);
	assert_int_equal(s->n_columns, 3);
	assert_string_equal(s->columns[0].name, "age");
	assert_int_equal(s->columns[0].type, FEDC_COLUMN_NUMERIC);
	assert_int_equal(s->columns[0].n_missing, 1);
	assert_string_equal(s->columns[1].name, "grade\tband");
	assert_int_equal(s->columns[1].type, FEDC_COLUMN_CATEGORICAL);
	assert_int_equal(s->columns[1].n_categories, 3);
	assert_string_equal(s->columns[1].categories[2], "low 5%");
	assert_int_equal(dataset_schema__category_index(&s->columns[1], "high"), 1);
	assert_int_equal(dataset_schema__category_index(&s->columns[1], "low 5%"), 2);
	assert_int_equal(dataset_schema__category_index(&s->columns[1], "medium"), -1);
	assert_string_equal(s->columns[2].name, "c2");
	assert_int_equal(s->columns[2].n_categories, 0);
	dataset_schema__free(s);
}

static void test_plain_table_has_no_text(void **state)
{
	struct schema_builder b = { 0 };
	char text[64] = "x";

	(void)state;
	assert_int_equal(dataset_schema__builder_init(&b, 2), FEDC_OK);
	observe(&b, 0, "1", true);
	observe(&b, 1, "2.5", true);
	assert_true(dataset_schema__plain(&b));
	assert_int_equal(dataset_schema__serialize(&b, text, sizeof(text)), FEDC_OK);
	assert_string_equal(text, "");
	/* A name makes it worth keeping. */
	assert_int_equal(dataset_schema__name(&b, 1, "dose", 4), FEDC_OK);
	assert_false(dataset_schema__plain(&b));
	assert_int_equal(dataset_schema__serialize(&b, text, sizeof(text)), FEDC_OK);
	assert_string_equal(text, "fedc-schema 1 2\nnumeric\t0\tc0\nnumeric\t0\tdose\n");
	dataset_schema__builder_free(&b);
}

/* The 257th distinct value turns a categorical column into text; a numeric
 * column with as many values stays numeric. */
static void test_category_limit(void **state)
{
	struct schema_builder b = { 0 };
	struct fedc_table_schema *s = NULL;
	char text[NODE_SCHEMA_BUF], cell[16];

	(void)state;
	assert_int_equal(dataset_schema__builder_init(&b, 3), FEDC_OK);
	for (unsigned i = 0; i < SCHEMA_MAX_CATEGORIES + 1; i++) {
		snprintf(cell, sizeof(cell), "v%u", i);
		observe(&b, 0, cell, false);
		snprintf(cell, sizeof(cell), "%u", i);
		observe(&b, 1, cell, true);
		if (i < SCHEMA_MAX_CATEGORIES) {
			snprintf(cell, sizeof(cell), "w%u", i);
			observe(&b, 2, cell, false);
		}
	}
	assert_int_equal(dataset_schema__serialize(&b, text, sizeof(text)), FEDC_OK);
	dataset_schema__builder_free(&b);
	assert_int_equal(dataset_schema__parse(text, 3, &s), FEDC_OK);
	assert_int_equal(s->columns[0].type, FEDC_COLUMN_TEXT);
	assert_int_equal(s->columns[1].type, FEDC_COLUMN_NUMERIC);
	assert_int_equal(s->columns[2].type, FEDC_COLUMN_CATEGORICAL);
	assert_int_equal(s->columns[2].n_categories, SCHEMA_MAX_CATEGORIES);
	dataset_schema__free(s);
}

/* Categories that do not fit the record: refused, naming the column. */
static void test_too_big_for_the_record(void **state)
{
	struct schema_builder b = { 0 };
	char text[512], cell[64];

	(void)state;
	assert_int_equal(dataset_schema__builder_init(&b, 1), FEDC_OK);
	assert_int_equal(dataset_schema__name(&b, 0, "diagnosis text", 14), FEDC_OK);
	for (unsigned i = 0; i < 40; i++) {
		snprintf(cell, sizeof(cell), "a rather long category number %u", i);
		observe(&b, 0, cell, false);
	}
	assert_int_equal(dataset_schema__serialize(&b, text, sizeof(text)), FEDC_ERR_TOO_BIG);
	assert_string_equal(text, "");
	assert_non_null(strstr(fedc_last_error(), "column \"diagnosis text\" has 40 categories"));
	dataset_schema__builder_free(&b);
}

static void expect_bad(const char *text, uint32_t n, const char *fragment)
{
	struct fedc_table_schema *s = (void *)1;

	assert_int_equal(dataset_schema__parse(text, n, &s), FEDC_ERR_MALFORMED);
	assert_null(s);
	if (!strstr(fedc_last_error(), fragment))
		print_error("\"%s\": got \"%s\", wanted \"%s\"\n", text, fedc_last_error(), fragment);
	assert_non_null(strstr(fedc_last_error(), fragment));
}

static void test_parse_refuses_broken_text(void **state)
{
	(void)state;
	expect_bad("", 1, "cannot be described");
	expect_bad("fedc-schema 2 1\nnumeric\t0\ta\n", 1, "not a schema of 1 columns");
	expect_bad("fedc-schema 1 2\nnumeric\t0\ta\n", 1, "not a schema of 1 columns");
	expect_bad("fedc-schema 1 2\nnumeric\t0\ta\n", 2, "line 3: the type");
	expect_bad("fedc-schema 1 1\nnumeric\t0\ta\nnumeric\t0\tb\n", 1, "more columns");
	expect_bad("fedc-schema 1 1\nnumber\t0\ta\n", 1, "the type is not");
	expect_bad("fedc-schema 1 1\nnumeric\t-1\ta\n", 1, "missing count");
	expect_bad("fedc-schema 1 1\nnumeric\t99999999999999999999\ta\n", 1, "missing count");
	expect_bad("fedc-schema 1 1\nnumeric\t0\t\n", 1, "without a name");
	expect_bad("fedc-schema 1 1\nnumeric\t0\ta", 1, "does not end");
	expect_bad("fedc-schema 1 1\nnumeric\t0\ta\tx\n", 1, "only with one");
	expect_bad("fedc-schema 1 1\ncategorical\t0\ta\n", 1, "only with one");
	expect_bad("fedc-schema 1 1\ncategorical\t0\ta\tM\tF\n", 1, "strictly increasing");
	expect_bad("fedc-schema 1 1\ncategorical\t0\ta\tF\tF\n", 1, "strictly increasing");
	expect_bad("fedc-schema 1 1\ncategorical\t0\ta%4\tF\n", 1, "escape");
	expect_bad("fedc-schema 1 1\ncategorical\t0\ta%00\tF\n", 1, "escape");
	expect_bad("fedc-schema 1 1\ncategorical\t0\ta%zz\tF\n", 1, "escape");
	expect_bad("fedc-schema 1 1\nnumeric", 1, "the type");
	expect_bad("fedc-schema 1 1\nnumeric\t0", 1, "field is missing");
}

static void test_parse_refuses_too_many_categories(void **state)
{
	char *text = malloc(SCHEMA_MAX_CATEGORIES * 8 + 64);
	size_t used;

	(void)state;
	assert_non_null(text);
	used = (size_t)sprintf(text, "fedc-schema 1 1\ncategorical\t0\ta");
	for (unsigned i = 0; i <= SCHEMA_MAX_CATEGORIES; i++)
		used += (size_t)sprintf(text + used, "\t%04u", i);
	strcpy(text + used, "\n");
	expect_bad(text, 1, "too many categories");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_spellings),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_plain_table_has_no_text),
		cmocka_unit_test(test_category_limit),
		cmocka_unit_test(test_too_big_for_the_record),
		cmocka_unit_test(test_parse_refuses_broken_text),
		cmocka_unit_test(test_parse_refuses_too_many_categories),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
