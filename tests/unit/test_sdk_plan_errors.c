/* The SDK's argument checks say why they refuse (fedc_plan_error(), read
 * back with fedc_plan_last_error()): the unknown key by name with the keys
 * the plan takes, a value out of range or not whole, a key given twice. And
 * the mlp and linreg examples export it as their last_error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "fedc/nn.h"

static const char *const known[] = { "n_features", "hidden", NULL };

static void test_sdk_unknown_key_named(void **state)
{
	struct fedc_arg items[] = { { "n_features", 4 }, { "hiden", 3 } };
	struct fedc_args args = { items, 2 };

	(void)state;
	assert_int_equal(fedc_args_check(&args, known), FEDC_NN_ERR_INVAL);
	assert_string_equal(fedc_plan_last_error(), "unknown [model] key \"hiden\" (this plan takes n_features, hidden)");
}

static void test_sdk_bad_values_named(void **state)
{
	struct fedc_arg items[] = { { "hidden", 1.5 }, { "n_features", 0 }, { "lr", 2 }, { "lr", 3 } };
	struct fedc_args args = { items, 4 };
	uint32_t u = 0;
	double d = 0;

	(void)state;
	assert_int_equal(fedc_arg_uint(&args, "hidden", 1, 4096, &u), FEDC_NN_ERR_INVAL);
	assert_string_equal(fedc_plan_last_error(), "[model] hidden = 1.5: must be a whole number from 1 to 4096");
	assert_int_equal(fedc_arg_uint(&args, "n_features", 1, 10, &u), FEDC_NN_ERR_INVAL);
	assert_string_equal(fedc_plan_last_error(), "[model] n_features = 0: must be from 1 to 10");
	assert_int_equal(fedc_arg_double(&args, "lr", 0, 10, &d), FEDC_NN_ERR_INVAL);
	assert_string_equal(fedc_plan_last_error(), "[model] lr is given twice");
}

static void test_examples_export_last_error(void **state)
{
	static const char *const plans[] = { "mlp", "linreg", "logreg" };

	(void)state;
	for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++) {
		struct fedc_arg items[] = { { "n_features", 4 }, { "hidenn", 3 } };
		struct fedc_args args = { items, 2 };
		char path[512];
		void *so, *model = NULL;
		const struct fedc_plan *plan;

		snprintf(path, sizeof(path), "%s/%s.so", FEDC_PLAN_DIR, plans[i]);
		so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!so)
			fail_msg("dlopen %s: %s", path, dlerror());
		plan = dlsym(so, FEDC_PLAN_SYMBOL);
		assert_non_null(plan);
		assert_int_equal(plan->abi_version, FEDC_PLAN_ABI_VERSION);
		assert_non_null(plan->last_error);
		assert_int_not_equal(plan->create(&args, 1, &model), 0);
		if (!strstr(plan->last_error(), "unknown [model] key \"hidenn\""))
			fail_msg("%s says \"%s\"", plans[i], plan->last_error());
		dlclose(so);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sdk_unknown_key_named),
		cmocka_unit_test(test_sdk_bad_values_named),
		cmocka_unit_test(test_examples_export_last_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
