/* node-console/html.c: escaping of values written into pages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "html.h"

static void check(const char *in, const char *want)
{
	struct fedc_buf b = FEDC_BUF_INIT(1 << 20);

	assert_int_equal(html__text(&b, in), FEDC_OK);
	assert_string_equal(b.data, want);
	fedc_buf_free(&b);
}

static void test_plain_text_unchanged(void **state)
{
	(void)state;
	check("cohort-a 2026", "cohort-a 2026");
	check("", "");
	check("Zürich \xe2\x9c\x93", "Zürich \xe2\x9c\x93"); /* UTF-8 passes */
}

static void test_markup_is_escaped(void **state)
{
	(void)state;
	check("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;");
	check("\"><img src=x onerror=alert(1)>", "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
	check("a'b&c", "a&#39;b&amp;c");
	check("&amp;", "&amp;amp;");
}

static void test_control_characters_dropped(void **state)
{
	(void)state;
	check("a\x01" "b\x1b[31mc\x7f", "ab[31mc");
	check("line\none\ttab\r", "line\none\ttab");
}

static void test_cap_is_kept(void **state)
{
	struct fedc_buf b = FEDC_BUF_INIT(8);

	(void)state;
	assert_int_equal(html__text(&b, "<<<"), FEDC_ERR_TOO_BIG);
	fedc_buf_free(&b);
}

static void test_time(void **state)
{
	struct fedc_buf b = FEDC_BUF_INIT(64);

	(void)state;
	assert_int_equal(html__time(&b, 0), FEDC_OK);
	assert_int_equal(html__time(&b, 1767225600), FEDC_OK);
	assert_string_equal(b.data, "-2026-01-01 00:00:00 UTC");
	fedc_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text_unchanged),
		cmocka_unit_test(test_markup_is_escaped),
		cmocka_unit_test(test_control_characters_dropped),
		cmocka_unit_test(test_cap_is_kept),
		cmocka_unit_test(test_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
