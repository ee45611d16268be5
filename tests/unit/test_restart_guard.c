/* The restart guard (node/restart_guard.c): a node that has not run on this
 * boot yet refuses commands stamped before its start; on the same boot it
 * refuses none; the boot id it keeps follows the machine's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "restart_guard.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/fedc-test-guard-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/boot_id", dir);
	unlink(path);
	return rmdir(dir);
}

static void keep_boot_id(const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/boot_id", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void test_first_start_then_same_boot(void **state)
{
	int64_t not_before = -1;

	assert_int_equal(restart_guard__not_before(dir, 1000, &not_before), FEDC_OK);
	assert_int_equal(not_before, 1000); /* no boot id kept yet: as after a restart */
	assert_int_equal(restart_guard__not_before(dir, 2000, &not_before), FEDC_OK);
	assert_int_equal(not_before, 0); /* same boot: the records are whole */
}

static void test_other_boot_id_means_restart(void **state)
{
	int64_t not_before = -1;

	keep_boot_id("00000000-0000-0000-0000-000000000000\n");
	assert_int_equal(restart_guard__not_before(dir, 3000, &not_before), FEDC_OK);
	assert_int_equal(not_before, 3000);
	/* and the machine's boot id is kept from then on */
	assert_int_equal(restart_guard__not_before(dir, 4000, &not_before), FEDC_OK);
	assert_int_equal(not_before, 0);
}

static void test_unwritable_data_dir(void **state)
{
	int64_t not_before = -1;

	assert_int_equal(restart_guard__not_before("/nonexistent/fedc", 5000, &not_before), FEDC_ERR_IO);
	assert_int_equal(not_before, 5000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_start_then_same_boot),
		cmocka_unit_test(test_other_boot_id_means_restart),
		cmocka_unit_test(test_unwritable_data_dir),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
