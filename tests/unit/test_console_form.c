/* node-console/form.c: form bodies and cookies, the bad cases first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

static enum fedc_err parse(const char *body, struct form *f)
{
	return form__parse(body, strlen(body), f);
}

static void test_decodes_fields(void **state)
{
	struct form f;

	(void)state;
	assert_int_equal(parse("user=steward&note=ok+for%20cohort%0AA&empty=&flag", &f), FEDC_OK);
	assert_int_equal(f.n, 4);
	assert_string_equal(form__get(&f, "user"), "steward");
	assert_string_equal(form__get(&f, "note"), "ok for cohort\nA");
	assert_string_equal(form__get(&f, "empty"), "");
	assert_string_equal(form__get(&f, "flag"), "");
	assert_null(form__get(&f, "use")); /* a prefix is not the name */
	assert_null(form__get(&f, "users"));
	form__free(&f);
}

static void test_empty_body(void **state)
{
	struct form f;

	(void)state;
	assert_int_equal(parse("", &f), FEDC_OK);
	assert_int_equal(f.n, 0);
	assert_int_equal(parse("&&", &f), FEDC_OK);
	assert_int_equal(f.n, 0);
	form__free(&f);
}

static void expect_refused(const char *body, const char *why)
{
	struct form f;

	assert_int_equal(parse(body, &f), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), why));
	form__free(&f);
}

static void test_bad_escape_refused(void **state)
{
	(void)state;
	expect_refused("a=%zz", "hex digits");
	expect_refused("a=%4", "hex digits");
	expect_refused("a=%", "hex digits");
}

static void test_control_character_refused(void **state)
{
	(void)state;
	expect_refused("a=%00", "control character");
	expect_refused("a=%1b[31m", "control character");
	expect_refused("na%0Ame=1", "control character");
}

static void test_repeated_field_refused(void **state)
{
	(void)state;
	expect_refused("csrf=1&csrf=2", "repeated");
}

static void test_nameless_field_refused(void **state)
{
	(void)state;
	expect_refused("=value", "no name");
}

static void test_sizes_capped(void **state)
{
	char *big = malloc(FORM_BODY_MAX + 16);
	struct form f;

	(void)state;
	memset(big, 'a', FORM_BODY_MAX + 1);
	big[0] = 'v';
	big[1] = '=';
	big[FORM_BODY_MAX + 1] = '\0';
	assert_int_equal(form__parse(big, FORM_BODY_MAX + 1, &f), FEDC_ERR_MALFORMED); /* body */
	big[FORM_VALUE_MAX + 3] = '\0';
	expect_refused(big, "longer than"); /* one value */
	memset(big, 'n', FORM_NAME_MAX + 1);
	strcpy(big + FORM_NAME_MAX + 1, "=1");
	expect_refused(big, "longer than"); /* one name */
	big[0] = '\0';
	for (int i = 0; i <= FORM_FIELDS_MAX; i++)
		sprintf(big + strlen(big), "f%d=1&", i);
	expect_refused(big, "more than");
	free(big);
}

static void test_cookie(void **state)
{
	char v[16];

	(void)state;
	assert_true(form__cookie("a=1; fedc_console=abc; b=2", "fedc_console", v, sizeof(v)));
	assert_string_equal(v, "abc");
	assert_true(form__cookie("fedc_console=", "fedc_console", v, sizeof(v)));
	assert_string_equal(v, "");
	assert_false(form__cookie("xfedc_console=abc", "fedc_console", v, sizeof(v)));
	assert_false(form__cookie("fedc_consolex=abc", "fedc_console", v, sizeof(v)));
	assert_false(form__cookie("fedc_console=0123456789abcdef0", "fedc_console", v, sizeof(v))); /* too long */
	assert_false(form__cookie(NULL, "fedc_console", v, sizeof(v)));
	assert_false(form__cookie("", "fedc_console", v, sizeof(v)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decodes_fields),
		cmocka_unit_test(test_empty_body),
		cmocka_unit_test(test_bad_escape_refused),
		cmocka_unit_test(test_control_character_refused),
		cmocka_unit_test(test_repeated_field_refused),
		cmocka_unit_test(test_nameless_field_refused),
		cmocka_unit_test(test_sizes_capped),
		cmocka_unit_test(test_cookie),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
