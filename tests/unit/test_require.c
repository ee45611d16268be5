/* [nodes] require: the parser accepts the documented forms and refuses
 * bad ones with a detail naming the term; matching compares what a node
 * advertises and says why a node fails. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/caps.h"
#include "require.h"
#include "selection.h"

/* A search reply from `node` offering one dataset of `kind`, advertising
 * `cores`, `memory_mb`, abi 3 and, if `secagg_policy`, that it requires
 * secure aggregation. */
static struct fedc_msg *reply_of(const char *node, const char *kind, double cores, double memory_mb,
				 bool secagg_policy)
{
	struct fedc_msg *m = fedc_msg_new(FEDC_CMD_SEARCH_REPLY);

	assert_non_null(m);
	snprintf(m->node_id, sizeof(m->node_id), "%s", node);
	assert_int_equal(fedc_msg_datasets_alloc(m, 1), FEDC_OK);
	snprintf(m->datasets[0].type, sizeof(m->datasets[0].type), "%s", kind);
	assert_int_equal(fedc_msg_kv_add(m->capabilities, &m->n_capabilities, FEDC_MAX_CAPS, FEDC_CAP_CORES, cores),
			 FEDC_OK);
	assert_int_equal(fedc_msg_kv_add(m->capabilities, &m->n_capabilities, FEDC_MAX_CAPS, FEDC_CAP_MEMORY_MB,
					 memory_mb),
			 FEDC_OK);
	assert_int_equal(fedc_msg_kv_add(m->capabilities, &m->n_capabilities, FEDC_MAX_CAPS, FEDC_CAP_ABI, 3), FEDC_OK);
	assert_int_equal(fedc_msg_kv_add(m->capabilities, &m->n_capabilities, FEDC_MAX_CAPS,
					 FEDC_CAP_REQUIRE_SECURE_AGGREGATION, secagg_policy ? 1 : 0),
			 FEDC_OK);
	fedc_msg_set(m, FEDC_F_CAPABILITIES);
	return m;
}

static void test_parse_the_documented_example(void **state)
{
	struct require r;
	char text[512];

	(void)state;
	assert_int_equal(require__parse("cores >= 4, dataset_kind = images, abi >= 3, memory_mb >= 2048, "
					"require_secure_aggregation",
					&r),
			 FEDC_OK);
	assert_int_equal(r.n_terms, 5);
	assert_string_equal(r.terms[0].name, "cores");
	assert_int_equal(r.terms[0].op, REQUIRE_GE);
	assert_true(r.terms[0].value == 4);
	assert_string_equal(r.terms[1].kind, "images");
	assert_int_equal(r.terms[1].op, REQUIRE_EQ);
	assert_int_equal(r.terms[4].op, REQUIRE_TRUE);
	require__format(&r, text, sizeof(text));
	assert_string_equal(text, "cores >= 4, dataset_kind = images, abi >= 3, memory_mb >= 2048, "
				  "require_secure_aggregation");
}

static void test_parse_every_operator(void **state)
{
	static const struct {
		const char *text;
		enum require_op op;
	} cases[] = {
		{ "cores>=2", REQUIRE_GE }, { "cores<=2", REQUIRE_LE }, { "cores>2", REQUIRE_GT },
		{ "cores<2", REQUIRE_LT },  { "cores=2", REQUIRE_EQ },  { "cores==2", REQUIRE_EQ },
		{ "cores != 2", REQUIRE_NE },
	};
	struct require r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(require__parse(cases[i].text, &r), FEDC_OK);
		assert_int_equal(r.n_terms, 1);
		assert_int_equal(r.terms[0].op, cases[i].op);
		assert_true(r.terms[0].value == 2);
	}
}

static void test_parse_empty_is_no_terms(void **state)
{
	struct require r;

	(void)state;
	assert_int_equal(require__parse(NULL, &r), FEDC_OK);
	assert_int_equal(r.n_terms, 0);
	assert_int_equal(require__parse("  \t ", &r), FEDC_OK);
	assert_int_equal(r.n_terms, 0);
}

/* Each bad text fails with FEDC_ERR_CONFIG and a detail holding `says`. */
static void test_parse_bad_expressions(void **state)
{
	static const struct {
		const char *text, *says;
	} cases[] = {
		{ "corse >= 4", "unknown capability \"corse\"" },
		{ "cores >= four", "\"four\" is not a number" },
		{ "cores >=", "\"\" is not a number" },
		{ ">= 4", "no capability before the operator" },
		{ "cores => 4", "one operator per term" },
		{ "cores >= 4 >= 5", "one operator per term" },
		{ "cores ! 4", "unknown operator" },
		{ "cores >= 4,, abi >= 3", "an empty term" },
		{ "cores >= 4,", "an empty term" },
		{ "dataset_kind >= images", "compared with = or != only" },
		{ "dataset_kind = Images!", "one operator per term" },
		{ "dataset_kind = Images", "is not a dataset kind" },
		{ "dataset_kind", "give the kind" },
		{ "cores >= inf", "is not a number" },
		{ "cores >= 1e999", "is not a number" },
		{ "cores 4", "unknown capability \"cores 4\"" },
	};
	struct require r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(require__parse(cases[i].text, &r), FEDC_ERR_CONFIG);
		if (!strstr(fedc_last_error(), cases[i].says))
			fail_msg("\"%s\": detail \"%s\" lacks \"%s\"", cases[i].text, fedc_last_error(), cases[i].says);
		assert_int_equal(r.n_terms, 0);
	}
}

static void test_parse_too_many_and_too_long(void **state)
{
	char text[REQUIRE_MAX_TEXT + 64] = "";
	struct require r;

	(void)state;
	for (int i = 0; i <= REQUIRE_MAX_TERMS; i++)
		strcat(text, i ? ",cores>=1" : "cores>=1");
	assert_int_equal(require__parse(text, &r), FEDC_ERR_CONFIG);
	assert_non_null(strstr(fedc_last_error(), "more than 16 terms"));
	memset(text, ' ', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(require__parse(text, &r), FEDC_ERR_CONFIG);
	assert_non_null(strstr(fedc_last_error(), "longer than"));
}

static void test_met_and_why_not(void **state)
{
	struct fedc_msg *big = reply_of("big", "images", 8, 16384, true);
	struct fedc_msg *small = reply_of("small", "csv", 2, 1024, false);
	struct require r;
	char why[256];

	(void)state;
	assert_int_equal(require__parse("cores >= 4, dataset_kind = images, abi >= 3, memory_mb >= 2048, "
					"require_secure_aggregation",
					&r),
			 FEDC_OK);
	assert_true(require__met(&r, big, why, sizeof(why)));
	assert_string_equal(why, "");
	assert_false(require__met(&r, small, why, sizeof(why)));
	assert_string_equal(why, "cores is 2, needs cores >= 4");
	assert_int_equal(require__parse("dataset_kind = images", &r), FEDC_OK);
	assert_false(require__met(&r, small, why, sizeof(why)));
	assert_string_equal(why, "its dataset is of kind csv, needs dataset_kind = images");
	assert_int_equal(require__parse("dataset_kind != images", &r), FEDC_OK);
	assert_true(require__met(&r, small, why, sizeof(why)));
	assert_false(require__met(&r, big, why, sizeof(why)));
	assert_int_equal(require__parse("require_secure_aggregation", &r), FEDC_OK);
	assert_false(require__met(&r, small, why, sizeof(why)));
	assert_string_equal(why, "require_secure_aggregation is 0, needs require_secure_aggregation");
	assert_int_equal(require__parse("memory_mb < 2048", &r), FEDC_OK);
	assert_true(require__met(&r, small, why, sizeof(why)));
	assert_false(require__met(&r, big, why, sizeof(why)));
	assert_string_equal(why, "memory_mb is 16384, needs memory_mb < 2048");
	fedc_msg_free(big);
	fedc_msg_free(small);
}

/* A node of an older version sends no capabilities: it meets no term
 * that names one, and the reason says so. */
static void test_node_without_capabilities(void **state)
{
	struct fedc_msg *old = fedc_msg_new(FEDC_CMD_SEARCH_REPLY);
	struct require r;
	char why[256];

	(void)state;
	assert_non_null(old);
	assert_int_equal(require__parse("cores >= 1", &r), FEDC_OK);
	assert_false(require__met(&r, old, why, sizeof(why)));
	assert_string_equal(why, "does not advertise cores (an older fedc-node?), needs cores >= 1");
	assert_int_equal(require__parse("", &r), FEDC_OK);
	assert_true(require__met(&r, old, why, sizeof(why)));
	fedc_msg_free(old);
}

static void test_selection_admits_tells_why(void **state)
{
	struct fedc_msg *small = reply_of("small", "csv", 2, 1024, false);
	struct require r;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	(void)state;
	assert_non_null(out);
	assert_int_equal(require__parse("cores >= 4", &r), FEDC_OK);
	assert_false(selection__admits(&r, small, out));
	assert_int_equal(require__parse("cores >= 2", &r), FEDC_OK);
	assert_true(selection__admits(&r, small, out));
	fclose(out);
	assert_string_equal(text, "node small left out by [nodes] require: cores is 2, needs cores >= 4\n");
	free(text);
	fedc_msg_free(small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_the_documented_example),
		cmocka_unit_test(test_parse_every_operator),
		cmocka_unit_test(test_parse_empty_is_no_terms),
		cmocka_unit_test(test_parse_bad_expressions),
		cmocka_unit_test(test_parse_too_many_and_too_long),
		cmocka_unit_test(test_met_and_why_not),
		cmocka_unit_test(test_node_without_capabilities),
		cmocka_unit_test(test_selection_admits_tells_why),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
