#define _GNU_SOURCE /* memfd_create */
/* SCAFFOLD on the node: the correction c - c_i, the update's dc and the new
 * c_i, against numbers worked out by hand; malformed global parameters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fedc/params.h"
#include "scaffold_client.h"

static char dir[64];

static int make_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/fedc-scaffold-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct fedc_tensor vec(const char *name, const float *data, uint64_t n)
{
	struct fedc_tensor t = { name, FEDC_DTYPE_F32, 1, { n }, data };

	return t;
}

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static void test_round_math(void **state)
{
	/* x = (1, 2), c = (0.5, -0.5), c_i = (0.25, 0.25); K = 4 steps, lr = 0.5:
	 * correction = c - c_i = (0.25, -0.75)
	 * y = (0, 4): dc = -c + (x - y) / (K lr) = (-0.5 + 1/2, 0.5 - 2/2) = (0, -0.5)
	 * c_i+ = c_i + dc = (0.25, -0.25) */
	static const float x[] = { 1, 2 }, c[] = { 0.5f, -0.5f }, ci[] = { 0.25f, 0.25f }, y[] = { 0, 4 };
	struct fedc_tensor global[] = { vec("w", x, 2), vec("scaffold.c.w", c, 2) }, state_t = vec("w", ci, 2);
	struct fedc_tensor trained = vec("w", y, 2);
	char gpath[128], before[128], after[128];
	struct fedc_params *g = NULL, *upd = NULL, *next = NULL;
	struct scaffold_round r;
	size_t n = 0;
	bool on = false;
	int fd = memfd_create("update", 0);
	const float *dc, *ci_next;

	path_of(gpath, sizeof(gpath), "global.params");
	path_of(before, sizeof(before), "ci.r1.params");
	path_of(after, sizeof(after), "ci.r2.params");
	assert_int_equal(fedc_params_write_file(gpath, global, 2), FEDC_OK);
	assert_int_equal(fedc_params_write_file(before, &state_t, 1), FEDC_OK);
	assert_int_equal(fedc_params_open(gpath, &g), FEDC_OK);
	assert_int_equal(scaffold__split(g, &n, &on), FEDC_OK);
	assert_int_equal(n, 1);
	assert_true(on);
	assert_int_equal(scaffold__begin(g, n, before, &r), FEDC_OK);
	assert_true(((const float *)r.correction[0].data)[0] == 0.25f);
	assert_true(((const float *)r.correction[0].data)[1] == -0.75f);

	assert_true(fd >= 0);
	assert_int_equal(scaffold__write_update(fd, &r, &trained, 4, 0.5, NULL, 0), FEDC_OK);
	assert_int_equal(fedc_params_open_fd(fd, &upd), FEDC_OK);
	assert_int_equal(fedc_params_count(upd), 2);
	assert_string_equal(fedc_params_tensors(upd)[1].name, "scaffold.dc.w");
	dc = fedc_params_tensors(upd)[1].data;
	assert_true(dc[0] == 0.0f && dc[1] == -0.5f);

	assert_int_equal(scaffold__save_state(fd, before, after, NULL, 0), FEDC_OK);
	assert_int_equal(fedc_params_open(after, &next), FEDC_OK);
	ci_next = fedc_params_find(next, "w")->data;
	assert_true(ci_next[0] == 0.25f && ci_next[1] == -0.25f);

	/* no c_i yet (the node's first round of the job): zeros */
	scaffold__end(&r);
	path_of(before, sizeof(before), "missing.params");
	assert_int_equal(scaffold__begin(g, n, before, &r), FEDC_OK);
	assert_true(((const float *)r.correction[0].data)[1] == -0.5f);
	/* a step count of 0 cannot be divided by */
	assert_int_equal(scaffold__write_update(fd, &r, &trained, 0, 0.5, NULL, 0), FEDC_ERR_PLAN);
	scaffold__end(&r);
	fedc_params_close(next);
	fedc_params_close(upd);
	fedc_params_close(g);
	close(fd);
}

static void test_not_scaffold_and_malformed(void **state)
{
	static const float a[] = { 1, 2 }, b[] = { 3 };
	struct fedc_tensor plain[] = { vec("w", a, 2), vec("b", b, 1) };
	struct fedc_tensor wrong_shape[] = { vec("w", a, 2), vec("scaffold.c.w", b, 1) };
	struct fedc_tensor wrong_name[] = { vec("w", a, 2), vec("b", b, 1), vec("scaffold.c.b", b, 1),
					    vec("scaffold.c.w", a, 2) };
	char path[128];
	struct fedc_params *p = NULL;
	size_t n;
	bool on;

	path_of(path, sizeof(path), "g.params");
	assert_int_equal(fedc_params_write_file(path, plain, 2), FEDC_OK);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	assert_int_equal(scaffold__split(p, &n, &on), FEDC_OK);
	assert_false(on);
	assert_int_equal(n, 2);
	fedc_params_close(p);

	assert_int_equal(fedc_params_write_file(path, wrong_shape, 2), FEDC_OK);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	assert_int_equal(scaffold__split(p, &n, &on), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "expected scaffold.c.w"));
	fedc_params_close(p);

	assert_int_equal(fedc_params_write_file(path, wrong_name, 4), FEDC_OK);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	assert_int_equal(scaffold__split(p, &n, &on), FEDC_ERR_MALFORMED);
	fedc_params_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_math, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_not_scaffold_and_malformed, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
