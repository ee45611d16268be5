/* keep_best (researcher/best.h): which way each metric improves, ties and
 * unknown scores, and best.params copied from a breakpoint, refused when the
 * breakpoint's file is damaged. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "file_check.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "best.h"
#include "breakpoint.h"
#include "fedc/hash.h"

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fedc-best-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Whether the file `path` holds exactly `text`. */
static bool file_equals(const char *path, const char *text)
{
	char buf[256];
	size_t n = file_text(path, buf, sizeof(buf));

	return n == strlen(text) && memcmp(buf, text, n) == 0;
}

static void test_direction_of_each_metric(void **state)
{
	(void)state;
	assert_true(best__minimised("loss"));
	assert_true(best__minimised("test_loss"));
	assert_true(best__minimised("mse"));
	assert_true(best__minimised("rmse"));
	assert_true(best__minimised("mae"));
	assert_false(best__minimised("accuracy"));
	assert_false(best__minimised("r2"));
	assert_false(best__minimised("f1"));
	assert_false(best__minimised("mse_ratio")); /* only the names themselves */
	assert_false(best__minimised("los"));
}

static void test_improves(void **state)
{
	struct best_model none = { 0 }, at = { true, 3, 0.5 };

	(void)state;
	assert_true(best__improves("loss", 9.0, &none));
	assert_false(best__improves("loss", NAN, &none)); /* no node scored it */
	assert_false(best__improves("loss", INFINITY, &none));
	assert_true(best__improves("loss", 0.4, &at));
	assert_false(best__improves("loss", 0.6, &at));
	assert_false(best__improves("loss", 0.5, &at)); /* a tie keeps the earlier model */
	assert_true(best__improves("accuracy", 0.6, &at));
	assert_false(best__improves("accuracy", 0.4, &at));
	assert_false(best__improves("accuracy", 0.5, &at));
}

static void save_round(uint32_t round, const char *content)
{
	struct breakpoint *bp = calloc(1, sizeof(*bp));
	char global[128];

	assert_non_null(bp);
	snprintf(global, sizeof(global), "%s/global.params", dir);
	(void)unlink(global);
	assert_int_equal(file_write(global, content), 0);
	bp->round = round;
	bp->rounds = 5;
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, global, bp->global_digest), FEDC_OK);
	assert_int_equal(breakpoint__save(dir, bp, global, NULL), FEDC_OK);
	free(bp);
}

static void test_install_copies_the_breakpoint_model(void **state)
{
	char best[128], params[128];

	(void)state;
	save_round(0, "initial");
	save_round(1, "after one");
	snprintf(best, sizeof(best), "%s/best.params", dir);
	assert_int_equal(best__install(dir, 0), FEDC_OK);
	assert_true(file_equals(best, "initial"));
	assert_int_equal(best__install(dir, 1), FEDC_OK);
	assert_true(file_equals(best, "after one"));

	assert_int_equal(best__install(dir, 4), FEDC_ERR_NOT_FOUND);
	assert_true(file_equals(best, "after one")); /* untouched */
	snprintf(params, sizeof(params), "%s/breakpoints/round-000000/global.params", dir);
	assert_int_equal(truncate(params, 3), 0);
	assert_int_equal(best__install(dir, 0), FEDC_ERR_DIGEST);
	assert_non_null(strstr(fedc_last_error(), "keep_best: cannot keep the model after round 0"));
	assert_true(file_equals(best, "after one"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direction_of_each_metric),
		cmocka_unit_test(test_improves),
		cmocka_unit_test_setup_teardown(test_install_copies_the_breakpoint_model, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
