/* Lower-case hex (fedc/hash.h): what digests, nonces and tokens are written
 * in. Decoding takes exactly the digits encoding writes, and nothing else. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fedc/hash.h"

static void test_encode_then_decode(void **state)
{
	const uint8_t raw[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	uint8_t back[sizeof(raw)];
	char hex[2 * sizeof(raw) + 1];

	(void)state;
	fedc_hex_encode(raw, sizeof(raw), hex);
	assert_string_equal(hex, "00017f80abff");
	assert_true(fedc_hex_decode(hex, back, sizeof(back)));
	assert_memory_equal(back, raw, sizeof(raw));
	fedc_hex_encode(raw, 0, hex);
	assert_string_equal(hex, "");
}

static void test_decode_refuses_what_encode_never_writes(void **state)
{
	uint8_t raw[3];

	(void)state;
	assert_false(fedc_hex_decode("00ABff", raw, 3));   /* upper case */
	assert_false(fedc_hex_decode("00abf", raw, 3));    /* short */
	assert_false(fedc_hex_decode("00abff00", raw, 3)); /* long */
	assert_false(fedc_hex_decode("00abfg", raw, 3));   /* not a digit */
	assert_false(fedc_hex_decode("00 bff", raw, 3));
	assert_false(fedc_hex_decode(NULL, raw, 3));
	assert_true(fedc_hex_decode("", raw, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_then_decode),
		cmocka_unit_test(test_decode_refuses_what_encode_never_writes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
