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
#include <stdlib.h>
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

/* param_roles, made up in place: the model pointer says what it does. */
static int fake_roles(void *model, uint8_t *roles, size_t count)
{
	const char *what = model;

	if (strcmp(what, "fail") == 0)
		return -1;
	for (size_t i = 0; i < count; i++)
		roles[i] = strcmp(what, "bad") == 0 ? 7 : (uint8_t)(i % 3);
	return 0;
}

/* Roles: the plan's for ABI 3; all weights for an older plan or one without
 * param_roles; a failure or a role outside 0..2 is the plan's fault. */
static void test_plan_roles(void **state)
{
	struct fedc_plan plan = { .abi_version = 3, .param_roles = fake_roles };
	uint8_t roles[4];
	char good[] = "good", bad[] = "bad", fail[] = "fail";

	(void)state;
	assert_int_equal(fedc_plan_roles(&plan, good, roles, 4), FEDC_OK);
	assert_memory_equal(roles, ((const uint8_t[4]){ 0, 1, 2, 0 }), 4);
	assert_int_equal(fedc_plan_roles(&plan, bad, roles, 4), FEDC_ERR_PLAN);
	assert_non_null(strstr(fedc_last_error(), "role 7"));
	assert_int_equal(fedc_plan_roles(&plan, fail, roles, 4), FEDC_ERR_PLAN);
	assert_non_null(strstr(fedc_last_error(), "param_roles() failed"));
	plan.abi_version = 2; /* the field is not there: never read */
	assert_int_equal(fedc_plan_roles(&plan, good, roles, 4), FEDC_OK);
	assert_memory_equal(roles, ((const uint8_t[4]){ 0, 0, 0, 0 }), 4);
	plan.abi_version = 3;
	plan.param_roles = NULL;
	assert_int_equal(fedc_plan_roles(&plan, good, roles, 4), FEDC_OK);
	assert_memory_equal(roles, ((const uint8_t[4]){ 0, 0, 0, 0 }), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_abi_newer_refused),
		cmocka_unit_test(test_plan_abi_current_and_older_run),
		cmocka_unit_test(test_plan_abi_not_a_plan),
		cmocka_unit_test(test_plan_said_names_the_key),
		cmocka_unit_test(test_plan_roles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
