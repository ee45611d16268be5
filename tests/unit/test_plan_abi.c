/* Which plans a loader runs (fedc/plan_abi.h): ABI 1 up to this tree's, and
 * a plan built for a newer ABI refused with both versions named, checked on
 * the fixture plan built against the next ABI (tests/fixtures/plans/future.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "fedc/plan_abi.h"

static const struct fedc_plan *load(const char *name, void **handle)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/fixtures/%s.so", FEDC_PLAN_DIR, name);
	*handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!*handle)
		fail_msg("dlopen %s: %s", path, dlerror());
	return dlsym(*handle, FEDC_PLAN_SYMBOL);
}

static void test_plan_abi_newer_refused(void **state)
{
	char want[160];
	void *handle;
	const struct fedc_plan *plan = load("future", &handle);

	(void)state;
	assert_non_null(plan);
	assert_int_equal(fedc_plan_abi_check(plan, "node"), FEDC_ERR_UNSUPPORTED);
	snprintf(want, sizeof(want), "plan built for ABI %u, this node supports up to %u", FEDC_PLAN_ABI_VERSION + 1,
		 FEDC_PLAN_ABI_VERSION);
	if (strncmp(fedc_last_error(), want, strlen(want)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", fedc_last_error(), want);
	dlclose(handle);
}

static void test_plan_abi_current_and_older_run(void **state)
{
	void *handle;
	const struct fedc_plan *plan = load("identity", &handle);
	struct fedc_plan older = *plan;

	(void)state;
	assert_int_equal(plan->abi_version, FEDC_PLAN_ABI_VERSION); /* FEDC_PLAN_DEFINE wrote it */
	assert_int_equal(fedc_plan_abi_check(plan, "node"), FEDC_OK);
	for (uint32_t v = 1; v <= FEDC_PLAN_ABI_VERSION; v++) {
		older.abi_version = v;
		assert_int_equal(fedc_plan_abi_check(&older, "node"), FEDC_OK);
	}
	dlclose(handle);
}

static void test_plan_abi_not_a_plan(void **state)
{
	struct fedc_plan zero = { 0 };

	(void)state;
	assert_int_equal(fedc_plan_abi_check(NULL, "researcher"), FEDC_ERR_PLAN);
	assert_non_null(strstr(fedc_last_error(), "exports no \"fedc_plan\" symbol"));
	assert_int_equal(fedc_plan_abi_check(&zero, "researcher"), FEDC_ERR_PLAN);
	assert_non_null(strstr(fedc_last_error(), "ABI version 0"));
}

/* What a plan says of its failure (fedc_plan_said): the picky fixture
 * (FEDC_PLAN_ERRORS) names the [model] key it refused; the text comes back
 * as one printable line, cut to the buffer; an ABI 1 plan has no last_error
 * to ask. */
static void test_plan_said_names_the_key(void **state)
{
	struct fedc_arg items[] = { { "hiden", 3 } };
	struct fedc_args args = { items, 1 };
	void *handle, *model = NULL;
	const struct fedc_plan *plan = load("picky", &handle);
	struct fedc_plan older;
	char said[FEDC_PLAN_ERROR_LEN], small[16];

	(void)state;
	assert_non_null(plan);
	assert_non_null(plan->last_error);
	assert_int_not_equal(plan->create(&args, 1, &model), 0);
	assert_string_equal(fedc_plan_said(plan, said, sizeof(said)),
			    "unknown [model] key \"hiden\" (this plan takes refuse_prepare, fail_train)");
	assert_string_equal(fedc_plan_said(plan, small, sizeof(small)), "unknown [model]");
	older = *plan;
	older.abi_version = 1; /* ABI 1 had no last_error: not read */
	assert_string_equal(fedc_plan_said(&older, said, sizeof(said)), "");
	dlclose(handle);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_abi_newer_refused),
		cmocka_unit_test(test_plan_abi_current_and_older_run),
		cmocka_unit_test(test_plan_abi_not_a_plan),
		cmocka_unit_test(test_plan_said_names_the_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
