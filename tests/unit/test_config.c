/* The INI parser (common/src/config.c): its list of keys grows in a capped
 * buffer, so a file of very many keys is refused with its name and line
 * rather than grown without bound. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/buf.h"
#include "fedc/config.h"

/* "[s]\nk0 = 0\nk1 = 1\n..." with `keys` keys. */
static char *many_keys(unsigned keys)
{
	struct fedc_buf b = FEDC_BUF_INIT(1u << 20);

	assert_int_equal(fedc_buf_printf(&b, "[s]\n"), FEDC_OK);
	for (unsigned i = 0; i < keys; i++)
		assert_int_equal(fedc_buf_printf(&b, "k%u = %u\n", i, i), FEDC_OK);
	return b.data; /* the buffer's memory, freed by the caller */
}

/* Past the first allocations: every key is kept and found. */
static void test_many_keys_kept(void **state)
{
	char *text = many_keys(4096);
	struct fedc_config *cfg = NULL;
	int64_t v = 0;

	(void)state;
	assert_int_equal(fedc_config_parse(text, "many.ini", &cfg), FEDC_OK);
	assert_int_equal(fedc_config_int(cfg, "s", "k0", true, 0, 0, 1 << 20, &v), FEDC_OK);
	assert_int_equal(v, 0);
	assert_int_equal(fedc_config_int(cfg, "s", "k4095", true, 0, 0, 1 << 20, &v), FEDC_OK);
	assert_int_equal(v, 4095);
	fedc_config_free(cfg);
	free(text);
}

/* One key more than a config file may hold: refused, naming file and line. */
static void test_too_many_keys_refused(void **state)
{
	char *text = many_keys(4097);
	struct fedc_config *cfg = NULL;

	(void)state;
	assert_int_equal(fedc_config_parse(text, "many.ini", &cfg), FEDC_ERR_CONFIG);
	assert_null(cfg);
	assert_string_equal(fedc_last_error(), "many.ini:4098: more than 4096 keys");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_keys_kept),
		cmocka_unit_test(test_too_many_keys_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
