#define _GNU_SOURCE /* memfd_create */
/* FedBN's local tensors on the node (local_params.h): the plan process puts
 * the node's own values back over the global ones (none yet: the global
 * ones), names the copies the update carries last; the node cuts them off
 * before anything leaves and saves them, with or without SCAFFOLD's c_i. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fedc/params.h"
#include "fedc/plan.h"
#include "local_params.h"
#include "privacy.h"
#include "scaffold_client.h"

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fedc-local-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
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

/* The model "w" [2] (weight), "bn" [2] (local), "mean" [1] (buffer). */
static int three_roles(void *model, uint8_t *roles, size_t count)
{
	(void)model;
	if (count != 3)
		return -1;
	roles[0] = FEDC_PARAM_WEIGHT;
	roles[1] = FEDC_PARAM_LOCAL;
	roles[2] = FEDC_PARAM_BUFFER;
	return 0;
}

static const struct fedc_plan plan = { .abi_version = 3, .param_roles = three_roles };
static const float gw[] = { 1, 2 }, gbn[] = { 3, 4 }, gmean[] = { 5 };

static void global_tensors(struct fedc_tensor t[3])
{
	t[0] = vec("w", gw, 2);
	t[1] = vec("bn", gbn, 2);
	t[2] = vec("mean", gmean, 1);
}

/* First round: no state file, the global values; a saved "local.bn" is put
 * back over bn only; a saved value of another shape is not used. */
static void test_begin_puts_own_values_back(void **state)
{
	static const float own_bn[] = { 30, 40 }, own_w[] = { 10, 20 }, other[] = { 1, 2, 3 };
	struct fedc_tensor g[3], saved[2] = { vec("local.bn", own_bn, 2), vec("local.w", own_w, 2) };
	struct fedc_tensor misshaped = vec("local.bn", other, 3);
	struct local_params lp;
	char path[128];
	int model = 0;

	(void)state;
	global_tensors(g);
	path_of(path, sizeof(path), "state.params");
	assert_int_equal(local_params__begin(&plan, &model, g, 3, path, &lp), FEDC_OK);
	assert_int_equal(lp.n_local, 1);
	assert_ptr_equal(lp.tensors[1].data, gbn); /* no state yet */
	local_params__end(&lp);

	assert_int_equal(fedc_params_write_file(path, saved, 2), FEDC_OK);
	assert_int_equal(local_params__begin(&plan, &model, g, 3, path, &lp), FEDC_OK);
	assert_memory_equal(lp.tensors[1].data, own_bn, sizeof(own_bn));
	assert_ptr_equal(lp.tensors[0].data, gw); /* w is a weight: "local.w" is not used */
	assert_ptr_equal(lp.tensors[2].data, gmean);
	assert_string_equal(lp.tensors[1].name, "bn");
	local_params__end(&lp);

	assert_int_equal(fedc_params_write_file(path, &misshaped, 1), FEDC_OK);
	assert_int_equal(local_params__begin(&plan, &model, g, 3, path, &lp), FEDC_OK);
	assert_ptr_equal(lp.tensors[1].data, gbn);
	local_params__end(&lp);

	/* a state file that is not one */
	{
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs("not parameters", f);
		fclose(f);
	}
	assert_int_equal(local_params__begin(&plan, &model, g, 3, path, &lp), FEDC_ERR_MALFORMED);
	local_params__end(&lp);
}

/* A plan without param_roles (or older than ABI 3) has no local tensor: no
 * state file is read, the update carries nothing more. */
static void test_no_roles_nothing_local(void **state)
{
	const struct fedc_plan old = { .abi_version = 2 };
	struct fedc_tensor g[3];
	const struct fedc_tensor *extra = NULL;
	size_t n_extra = 9;
	struct local_params lp;
	int model = 0;

	(void)state;
	global_tensors(g);
	assert_int_equal(local_params__begin(&old, &model, g, 3, "/nonexistent/state", &lp), FEDC_OK);
	assert_int_equal(lp.n_local, 0);
	assert_int_equal(local_params__extra(&lp, g, &extra, &n_extra), FEDC_OK);
	assert_int_equal(n_extra, 0);
	local_params__end(&lp);
}

static int memfd_with(const struct fedc_tensor *t, size_t n)
{
	int fd = memfd_create("test-update", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fedc_params_write_fd(fd, t, n), FEDC_OK);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* The update as the plan process writes it (trained tensors, then the local
 * copies): the node keeps the copies, the update loses them, and the saved
 * state holds them for the next round. */
static void test_take_and_save(void **state)
{
	static const float yw[] = { 1.5f, 2.5f }, ybn[] = { 3.5f, 4.5f }, ymean[] = { 5.5f };
	struct fedc_tensor y[3] = { vec("w", yw, 2), vec("bn", ybn, 2), vec("mean", ymean, 1) };
	struct fedc_tensor g[3], all[4];
	const struct fedc_tensor *extra = NULL;
	size_t n_extra = 0;
	struct local_params lp;
	struct local_kept kept;
	struct fedc_params *p = NULL;
	char before[128], after[128];
	int model = 0, fd, old_fd;

	(void)state;
	global_tensors(g);
	path_of(before, sizeof(before), "job.r0.params");
	path_of(after, sizeof(after), "job.r1.params");
	assert_int_equal(local_params__begin(&plan, &model, g, 3, before, &lp), FEDC_OK);
	assert_int_equal(local_params__extra(&lp, y, &extra, &n_extra), FEDC_OK);
	assert_int_equal(n_extra, 1);
	assert_string_equal(extra[0].name, "local.bn");
	assert_ptr_equal(extra[0].data, ybn);
	memcpy(all, y, sizeof(y));
	all[3] = extra[0];
	fd = old_fd = memfd_with(all, 4);
	local_params__end(&lp);

	assert_int_equal(local_params__take(&fd, &kept), FEDC_OK);
	assert_int_not_equal(fd, old_fd);
	assert_int_equal(kept.n, 1);
	assert_string_equal(kept.tensors[0].name, "local.bn");
	assert_memory_equal(kept.tensors[0].data, ybn, sizeof(ybn));
	assert_int_equal(fedc_params_open_fd(fd, &p), FEDC_OK);
	assert_int_equal(fedc_params_count(p), 3); /* the update still carries bn itself */
	assert_string_equal(fedc_params_tensors(p)[1].name, "bn");
	fedc_params_close(p);

	/* no SCAFFOLD: the state file holds the local tensors alone */
	assert_int_equal(scaffold__save_state(fd, before, after, kept.tensors, kept.n), FEDC_OK);
	assert_int_equal(fedc_params_open(after, &p), FEDC_OK);
	assert_int_equal(fedc_params_count(p), 1);
	assert_memory_equal(fedc_params_find(p, "local.bn")->data, ybn, sizeof(ybn));
	fedc_params_close(p);
	local_kept__free(&kept);

	/* the next round puts them back */
	assert_int_equal(local_params__begin(&plan, &model, g, 3, after, &lp), FEDC_OK);
	assert_memory_equal(lp.tensors[1].data, ybn, sizeof(ybn));
	local_params__end(&lp);

	/* an update without local tensors is left as it is */
	old_fd = fd;
	assert_int_equal(local_params__take(&fd, &kept), FEDC_OK);
	assert_int_equal(fd, old_fd);
	assert_int_equal(kept.n, 0);
	close(fd);
}

/* With SCAFFOLD the state file holds c_i and the local tensors. */
static void test_save_with_scaffold(void **state)
{
	static const float x[] = { 1, 2 }, c[] = { 0, 0 }, y[] = { 0, 4 }, bn[] = { 7, 8 };
	struct fedc_tensor global[] = { vec("w", x, 2), vec("scaffold.c.w", c, 2) }, trained = vec("w", y, 2);
	struct fedc_tensor local = vec("local.bn", bn, 2);
	struct fedc_params *g = NULL, *next = NULL;
	struct scaffold_round r;
	char gpath[128], before[128], after[128];
	int fd = memfd_create("test-update", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	path_of(gpath, sizeof(gpath), "g.params");
	path_of(before, sizeof(before), "none.params");
	path_of(after, sizeof(after), "sc.params");
	assert_int_equal(fedc_params_write_file(gpath, global, 2), FEDC_OK);
	assert_int_equal(fedc_params_open(gpath, &g), FEDC_OK);
	assert_int_equal(scaffold__begin(g, 1, before, &r), FEDC_OK);
	assert_int_equal(scaffold__write_update(fd, &r, &trained, 4, 0.5, &local, 1), FEDC_OK);
	scaffold__end(&r);
	{
		struct local_kept kept;

		assert_int_equal(local_params__take(&fd, &kept), FEDC_OK);
		assert_int_equal(kept.n, 1);
		assert_int_equal(scaffold__save_state(fd, before, after, kept.tensors, kept.n), FEDC_OK);
		local_kept__free(&kept);
	}
	assert_int_equal(fedc_params_open(after, &next), FEDC_OK);
	assert_int_equal(fedc_params_count(next), 2);
	assert_non_null(fedc_params_find(next, "w"));
	assert_memory_equal(fedc_params_find(next, "local.bn")->data, bn, sizeof(bn));
	fedc_params_close(next);
	fedc_params_close(g);
	close(fd);
}

/* A "local." tensor before the others is not the runner's layout: refused,
 * the update left alone. */
static void test_take_refuses_local_in_the_middle(void **state)
{
	static const float v[] = { 1, 2 };
	struct fedc_tensor t[2] = { vec("local.bn", v, 2), vec("w", v, 2) };
	struct local_kept kept;
	int fd = memfd_with(t, 2), old_fd = fd;

	(void)state;
	assert_int_equal(local_params__take(&fd, &kept), FEDC_ERR_MALFORMED);
	assert_int_equal(fd, old_fd);
	assert_non_null(strstr(fedc_last_error(), "local.bn"));
	close(fd);
}

/* Node-level DP (docs/privacy.md): the local copies are cut off before DP
 * (left in, DP refuses them: it cannot bound a tensor the global parameters
 * lack); buffers are inside the clipped, noised change: a feature mean that
 * moved by 1000 goes out scaled to the clip with the rest, never raw. */
static void test_dp_bounds_buffers_and_never_sees_local_copies(void **state)
{
	static const float zeros[] = { 0, 0 }, yw[] = { 0.1f, 0.1f }, ymean[] = { 1000, -500 }, ybn[] = { 3, 4 };
	struct fedc_tensor g[3] = { vec("w", zeros, 2), vec("mean", zeros, 2), vec("bn", zeros, 2) };
	struct fedc_tensor u[4] = { vec("w", yw, 2), vec("mean", ymean, 2), vec("bn", ybn, 2), vec("local.bn", ybn, 2) };
	struct fedc_params *gp = NULL, *up = NULL, *out = NULL;
	struct privacy_dp_report rep;
	struct local_kept kept;
	uint8_t key[PRIVACY_KEY_LEN];
	char gpath[128];
	const float *mean;
	int fd = memfd_with(u, 4), dp_fd = memfd_create("dp", MFD_CLOEXEC);

	(void)state;
	path_of(gpath, sizeof(gpath), "g.params");
	assert_int_equal(fedc_params_write_file(gpath, g, 3), FEDC_OK);
	assert_int_equal(fedc_params_open(gpath, &gp), FEDC_OK);
	assert_int_equal(privacy__noise_key("secret", 6, "f", key), FEDC_OK);
	assert_int_equal(fedc_params_open_fd(fd, &up), FEDC_OK);
	assert_int_equal(privacy__apply_dp(gp, up, 1.0, 0.0, key, dp_fd, &rep), FEDC_ERR_PRIVACY);
	assert_non_null(strstr(fedc_last_error(), "local.bn"));
	fedc_params_close(up);

	assert_int_equal(local_params__take(&fd, &kept), FEDC_OK);
	assert_int_equal(fedc_params_open_fd(fd, &up), FEDC_OK);
	assert_int_equal(privacy__apply_dp(gp, up, 1.0, 0.0, key, dp_fd, &rep), FEDC_OK);
	assert_true(rep.norm > 1000);
	assert_int_equal(lseek(dp_fd, 0, SEEK_SET), 0);
	assert_int_equal(fedc_params_open_fd(dp_fd, &out), FEDC_OK);
	mean = fedc_params_find(out, "mean")->data;
	assert_true(fabs(mean[0]) <= 1.0 && fabs(mean[1]) <= 1.0);
	assert_true(mean[0] > 0.5); /* the direction kept: mostly the mean's change */
	fedc_params_close(out);
	fedc_params_close(up);
	fedc_params_close(gp);
	local_kept__free(&kept);
	close(fd);
	close(dp_fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_begin_puts_own_values_back, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_no_roles_nothing_local, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_take_and_save, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_save_with_scaffold, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_take_refuses_local_in_the_middle, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_dp_bounds_buffers_and_never_sees_local_copies, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
