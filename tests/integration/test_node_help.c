/* The real fedc-node binary at every level of its command line: --help
 * (and -h, help) prints usage to stdout and exits 0 without any config; a
 * wrong flag or command prints usage to stderr and exits 2; an integer flag
 * that does not parse is named in the error. No broker, no repository: the
 * binary runs in an empty directory with a config path that does not exist. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "../test_argv.h"

#define CAP (1 << 16)

static char dir[64];
static char missing_config[128];
static char out[CAP], err[CAP];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fedc-test-help-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(missing_config, sizeof(missing_config), "%s/no-such-node.ini", dir);
	return unsetenv("FEDC_NODE_CONFIG");
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void slurp(const char *path, char *buf)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, CAP - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* Runs fedc-node with `args` (NULL-terminated) in the empty directory,
 * stdout and stderr captured apart; returns the exit code. */
static int run_node(const char *const *args)
{
	char out_path[128], err_path[128];
	const char *argv[32];
	char **copy;
	int argc = 0, status = 0;
	pid_t pid;

	argv[argc++] = harness_bin("fedc-node");
	for (; *args && argc < 31; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;
	copy = test_argv_dup(argv);
	assert_non_null(copy);
	snprintf(out_path, sizeof(out_path), "%s/stdout", dir);
	snprintf(err_path, sizeof(err_path), "%s/stderr", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || chdir(dir) != 0)
			_exit(127);
		execv(copy[0], copy);
		_exit(127);
	}
	test_argv_free(copy);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	slurp(out_path, out);
	slurp(err_path, err);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void expect_help(const char *const *args)
{
	int code = run_node(args);

	if (code != 0 || !strstr(out, "usage:") || err[0])
		fail_msg("fedc-node %s %s %s: exit %d, stdout \"%.200s\", stderr \"%.200s\"", args[0],
			 args[1] ? args[1] : "", args[1] && args[2] ? args[2] : "", code, out, err);
}

static void expect_usage_error(const char *const *args)
{
	int code = run_node(args);

	if (code != 2 || out[0] || !strstr(err, "usage:"))
		fail_msg("fedc-node %s %s: exit %d, stdout \"%.200s\", stderr \"%.200s\"", args[0] ? args[0] : "",
			 args[0] && args[1] ? args[1] : "", code, out, err);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Every level, with and without --config naming a file that does not exist. */
static void test_help_at_every_level_without_config(void **state)
{
	(void)state;
	expect_help(ARGS("--help"));
	expect_help(ARGS("-h"));
	expect_help(ARGS("help"));
	expect_help(ARGS("--config", missing_config, "--help"));
	expect_help(ARGS("init", "--help"));
	expect_help(ARGS("start", "--help"));
	expect_help(ARGS("--config", missing_config, "start", "-h"));
	expect_help(ARGS("dataset", "--help"));
	expect_help(ARGS("dataset", "help"));
	expect_help(ARGS("--config", missing_config, "dataset", "-h"));
	expect_help(ARGS("dataset", "add", "--help"));
	expect_help(ARGS("dataset", "list", "--help"));
	expect_help(ARGS("dataset", "show", "--help"));
	expect_help(ARGS("dataset", "remove", "-h"));
	expect_help(ARGS("plan", "--help"));
	expect_help(ARGS("--config", missing_config, "plan", "help"));
	expect_help(ARGS("plan", "approve", "--help"));
	expect_help(ARGS("plan", "reject", "--help"));
	expect_help(ARGS("plan", "list", "--help"));
	expect_help(ARGS("plan", "show", "--help"));
	expect_help(ARGS("plan", "remove", "-h"));
	assert_non_null(strstr(out, "plan remove DIGEST"));
}

static void test_wrong_flags_usage_on_stderr_exit_2(void **state)
{
	(void)state;
	expect_usage_error((const char *const[]){ NULL });
	expect_usage_error(ARGS("--bogus"));
	expect_usage_error(ARGS("frobnicate"));
	expect_usage_error(ARGS("init", "--bogus"));
	expect_usage_error(ARGS("start", "--bogus"));
	expect_usage_error(ARGS("start", "now"));
	expect_usage_error(ARGS("dataset"));
	expect_usage_error(ARGS("dataset", "--bogus"));
	expect_usage_error(ARGS("dataset", "frobnicate"));
	expect_usage_error(ARGS("dataset", "add", "--bogus"));
	expect_usage_error(ARGS("dataset", "list", "--jsn"));
	expect_usage_error(ARGS("plan", "show"));
	expect_usage_error(ARGS("plan", "approve", "--colour", "x"));
	expect_usage_error(ARGS("plan", "list", "extra"));
}

/* Options are checked before the config is read, and an integer flag that
 * does not parse is named. */
static void test_integer_flag_named(void **state)
{
	(void)state;
	expect_usage_error(ARGS("--config", missing_config, "dataset", "add", "--name", "x", "--tags", "t", "--file",
				"x.csv", "--label-column", "2x"));
	assert_non_null(strstr(err, "--label-column \"2x\""));
	expect_usage_error(ARGS("dataset", "add", "--name", "x", "--tags", "t", "--file", "x.csv", "--label-column",
				"99999999999"));
	assert_non_null(strstr(err, "--label-column"));
}

/* A command that needs the config says which file it could not read. */
static void test_missing_config_named(void **state)
{
	(void)state;
	assert_int_equal(run_node(ARGS("--config", missing_config, "dataset", "list")), 2);
	assert_non_null(strstr(err, missing_config));
	assert_int_equal(run_node(ARGS("--config", missing_config, "start")), 2);
	assert_non_null(strstr(err, missing_config));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_at_every_level_without_config),
		cmocka_unit_test(test_wrong_flags_usage_on_stderr_exit_2),
		cmocka_unit_test(test_integer_flag_named),
		cmocka_unit_test(test_missing_config_named),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
