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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
