/* Where an experiment's `plan` is found (researcher/experiment.c,
 * install_dirs.c): relative to the experiment file; a bare file name not
 * there is looked up in $FEDC_PLAN_PATH, then in the plans directory beside
 * the executable (build/plans for this test binary in build/bin). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "experiment.h"
#include "install_dirs.h"
#include "plan_build.h"
#include "file_check.h"

struct scratch {
	char dir[64];      /* holds the experiment file */
	char plans[80];    /* a plans directory for $FEDC_PLAN_PATH */
	char exp_path[96];
	struct experiment exp;
};

static void touch(const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fclose(f);
}

static enum fedc_err load_with_plan(struct scratch *s, const char *plan)
{
	FILE *f = fopen(s->exp_path, "w");

	assert_non_null(f);
	fprintf(f, "[experiment]\ntags = t\nplan = %s\nrounds = 1\n", plan);
	fclose(f);
	experiment__free(&s->exp); /* what an earlier load of this test kept */
	return experiment__load(s->exp_path, NULL, &s->exp);
}

static int setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	snprintf(s->dir, sizeof(s->dir), "/tmp/fedc-plan-path-XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	snprintf(s->plans, sizeof(s->plans), "%s/plans", s->dir);
	snprintf(s->exp_path, sizeof(s->exp_path), "%s/experiment.ini", s->dir);
	if (mkdir(s->plans, 0755) != 0)
		return -1;
	unsetenv("FEDC_PLAN_PATH");
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct scratch *s = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		return -1;
	unsetenv("FEDC_PLAN_PATH");
	experiment__free(&s->exp);
	free(s);
	return 0;
}

/* No $FEDC_PLAN_PATH: build/plans beside build/bin, where the build put it. */
static void test_bare_name_found_beside_executable(void **state)
{
	struct scratch *s = *state;
	char want[PATH_MAX], got[PATH_MAX];

	assert_int_equal(load_with_plan(s, "logreg.so"), FEDC_OK);
	assert_non_null(realpath(FEDC_PLAN_DIR "/logreg.so", want));
	assert_non_null(realpath(s->exp.plan_path, got));
	assert_string_equal(got, want);
}

static void test_bare_name_found_in_plan_path(void **state)
{
	struct scratch *s = *state;
	char want[160], list[200];

	snprintf(want, sizeof(want), "%s/logreg.so", s->plans);
	touch(want);
	/* a missing directory and an empty entry are skipped */
	snprintf(list, sizeof(list), "/nonexistent::%s", s->plans);
	setenv("FEDC_PLAN_PATH", list, 1);
	assert_int_equal(load_with_plan(s, "logreg.so"), FEDC_OK);
	assert_string_equal(s->exp.plan_path, want);
}

/* A file beside the experiment wins over the plans directories. */
static void test_file_beside_experiment_wins(void **state)
{
	struct scratch *s = *state;
	char beside[160], other[160];

	snprintf(beside, sizeof(beside), "%s/logreg.so", s->dir);
	snprintf(other, sizeof(other), "%s/logreg.so", s->plans);
	touch(beside);
	touch(other);
	setenv("FEDC_PLAN_PATH", s->plans, 1);
	assert_int_equal(load_with_plan(s, "logreg.so"), FEDC_OK);
	assert_string_equal(s->exp.plan_path, beside);
}

/* A path with a directory is taken as written (relative to the file). */
static void test_path_with_directory_not_searched(void **state)
{
	struct scratch *s = *state;
	char want[160], other[160];

	snprintf(other, sizeof(other), "%s/logreg.so", s->plans);
	touch(other);
	setenv("FEDC_PLAN_PATH", s->plans, 1);
	assert_int_equal(load_with_plan(s, "sub/logreg.so"), FEDC_OK);
	snprintf(want, sizeof(want), "%s/sub/logreg.so", s->dir);
	assert_string_equal(s->exp.plan_path, want);
}

/* Found nowhere: left relative to the file, where opening it fails with
 * that path in the message. */
static void test_missing_plan_left_beside_experiment(void **state)
{
	struct scratch *s = *state;
	char want[160];

	setenv("FEDC_PLAN_PATH", s->plans, 1);
	assert_int_equal(load_with_plan(s, "no-such-plan.so"), FEDC_OK);
	snprintf(want, sizeof(want), "%s/no-such-plan.so", s->dir);
	assert_string_equal(s->exp.plan_path, want);
}

/* fedcplan.pc of this build: build/fedcplan.pc, beside build/bin. */
static void test_sdk_pc_found_beside_executable(void **state)
{
	char dir[PATH_MAX], got[PATH_MAX], want[PATH_MAX];

	(void)state;
	unsetenv("FEDC_SDK_PC_PATH");
	assert_int_equal(install_dirs__find(INSTALL_DIRS_SDK_PC, "fedcplan.pc", dir, sizeof(dir)), FEDC_OK);
	assert_non_null(realpath(dir, got));
	assert_non_null(realpath(FEDC_BIN_DIR "/..", want));
	assert_string_equal(got, want);
	setenv("FEDC_SDK_PC_PATH", "/nonexistent", 1);
	assert_int_equal(install_dirs__find(INSTALL_DIRS_SDK_PC, "fedcplan.pc", dir, sizeof(dir)), FEDC_OK);
	assert_int_equal(install_dirs__find(INSTALL_DIRS_SDK_PC, "nothing.pc", dir, sizeof(dir)),
			 FEDC_ERR_NOT_FOUND);
	unsetenv("FEDC_SDK_PC_PATH");
}

static void test_dir_too_small(void **state)
{
	char dir[4];

	(void)state;
	assert_int_equal(install_dirs__find(INSTALL_DIRS_PLANS, "logreg.so", dir, sizeof(dir)), FEDC_ERR_TOO_BIG);
}

/* ---- compiling a plan from source (plan_build.c) ---- */

static void write_text(const char *dir, const char *name, const char *text)
{
	assert_int_equal(file_put_text(dir, name, text), 0);
}

static void assert_text(const char *dir, const char *name, const char *want)
{
	char path[512], got[64];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	file_text(path, got, sizeof(got));
	assert_string_equal(got, want);
}

/* A "plan.so.tmp" planted beside the output (a symlink to another file) is
 * neither followed nor needed: the compiler writes into a fresh private
 * directory, and plan.so is replaced through a fedc_atomic_file. */
static void test_compile_planted_tmp_not_followed(void **state)
{
	struct scratch *s = *state;
	char src[128], out[128], victim[128], planted[128], magic[4] = { 0 };
	struct stat st;
	FILE *f;

	snprintf(src, sizeof(src), "%s/plan.c", s->dir);
	snprintf(out, sizeof(out), "%s/plan.so", s->dir);
	snprintf(victim, sizeof(victim), "%s/victim", s->dir);
	snprintf(planted, sizeof(planted), "%s/plan.so.tmp", s->dir);
	write_text(s->dir, "plan.c", "int fedc_test_value = 7;\n");
	write_text(s->dir, "victim", "precious");
	assert_int_equal(symlink(victim, planted), 0);
	if (plan_build__compile(src, out) != FEDC_OK)
		fail_msg("%s", fedc_last_error());
	assert_text(s->dir, "victim", "precious");
	assert_int_equal(lstat(out, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	f = fopen(out, "rb");
	assert_non_null(f);
	assert_int_equal(fread(magic, 1, 4, f), 4);
	fclose(f);
	assert_memory_equal(magic, "\177ELF", 4);
	/* plans/, plan.c, victim, its link, plan.so, plan.so.log */
	assert_int_equal(dir_entries(s->dir), 6);
}

/* A plan that does not compile leaves the plan.so built before, the log, and
 * nothing of the build. */
static void test_compile_error_leaves_old_plan(void **state)
{
	struct scratch *s = *state;
	char src[128], out[128];

	snprintf(src, sizeof(src), "%s/plan.c", s->dir);
	snprintf(out, sizeof(out), "%s/plan.so", s->dir);
	write_text(s->dir, "plan.c", "this is not C\n");
	write_text(s->dir, "plan.so", "old plan");
	assert_int_equal(plan_build__compile(src, out), FEDC_ERR_PLAN);
	assert_non_null(strstr(fedc_last_error(), "cannot compile the plan"));
	assert_text(s->dir, "plan.so", "old plan");
	assert_int_equal(dir_entries(s->dir), 4); /* plans/, plan.c, plan.so, plan.so.log */
}

/* An output name of 250 bytes: the compiler's output is fine, but no
 * temporary name fits beside it, so replacing it fails -- and leaves the old
 * file and nothing of the build. */
static void test_compile_output_name_too_long_leaves_old_plan(void **state)
{
	struct scratch *s = *state;
	char src[128], name[256], out[512];

	memset(name, 'p', 250);
	name[250] = '\0';
	snprintf(src, sizeof(src), "%s/plan.c", s->dir);
	snprintf(out, sizeof(out), "%s/%s", s->dir, name);
	write_text(s->dir, "plan.c", "int fedc_test_value = 7;\n");
	write_text(s->dir, name, "old plan");
	assert_int_equal(plan_build__compile(src, out), FEDC_ERR_IO);
	assert_text(s->dir, name, "old plan");
	assert_int_equal(dir_entries(s->dir), 4); /* plans/, plan.c, the old file, its .log */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bare_name_found_beside_executable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bare_name_found_in_plan_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_beside_experiment_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_with_directory_not_searched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_plan_left_beside_experiment, setup, teardown),
		cmocka_unit_test(test_sdk_pc_found_beside_executable),
		cmocka_unit_test(test_dir_too_small),
		cmocka_unit_test_setup_teardown(test_compile_planted_tmp_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compile_error_leaves_old_plan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compile_output_name_too_long_leaves_old_plan, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
