/* The table-driven command line (fedc/cli.h), in-process: what a table
 * accepts and hands to the command, and the exit code and stream of every
 * refusal. The real programs' tables are tested through their binaries
 * (tests/unit/test_admin.c, tests/integration/test_researcher.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/cli.h"

enum { K_NAME, K_COUNT, K_FLAG, K_OUT };

static const struct fedc_cli_opt opt_name = { .key = K_NAME, .name = "name", .metavar = "N", .help = "a name",
					      .required = true };
static const struct fedc_cli_opt opt_count = { .key = K_COUNT, .name = "count", .metavar = "C", .help = "a count",
					       .is_int = true, .min = -5, .max = 4096 };
static const struct fedc_cli_opt opt_flag = { .key = K_FLAG, .name = "flag", .help = "a flag", .short_name = 'f' };
static const struct fedc_cli_opt opt_out = { .key = K_OUT, .name = "output", .metavar = "FILE", .help = "where",
					     .short_name = 'o' };

static struct fedc_cli_args seen;
static int runs;

static int run(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	(void)cmd;
	seen = *a;
	runs++;
	return 0;
}

static const struct fedc_cli_cmd cmds[] = {
	{ "make", "DIR [MORE]", 1, 2, "make things", (const struct fedc_cli_opt *const[]){ &opt_name, &opt_count,
											     &opt_flag, &opt_out, NULL },
	  0, run },
	{ "show", NULL, 0, 0, "show things", NULL, 0, run },
	{ NULL, NULL, 0, 0, NULL, NULL, 0, NULL },
};
static const struct fedc_cli_prog prog = { "prog", cmds, NULL, NULL };

/* Runs `args` (space-separated; no quoting) with stdout and stderr captured. */
static int cli(const char *args, char *out, char *err, size_t cap)
{
	static char buf[512]; /* what the parsed arguments point into, checked after the call */
	char *argv[32], *save = NULL;
	int argc = 0, code, saved[2];
	FILE *files[2] = { tmpfile(), tmpfile() };

	snprintf(buf, sizeof(buf), "prog %s", args);
	for (char *t = strtok_r(buf, " ", &save); t && argc < 31; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < 2; i++) {
		saved[i] = dup(i + 1);
		dup2(fileno(files[i]), i + 1);
	}
	code = fedc_cli_main(&prog, argc, argv);
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < 2; i++) {
		char *dst = i ? err : out;
		size_t n;

		dup2(saved[i], i + 1);
		close(saved[i]);
		rewind(files[i]);
		n = fread(dst, 1, cap - 1, files[i]);
		dst[n] = '\0';
		fclose(files[i]);
	}
	return code;
}

static void test_parses_what_the_table_says(void **state)
{
	char out[4096], err[4096];

	runs = 0;
	assert_int_equal(cli("make d1 --name x --count=-5 --flag d2", out, err, sizeof(out)), 0);
	assert_int_equal(runs, 1);
	assert_string_equal(seen.value[K_NAME], "x");
	assert_int_equal(seen.num[K_COUNT], -5);
	assert_string_equal(seen.value[K_FLAG], "");
	assert_int_equal(seen.n_operands, 2);
	assert_string_equal(seen.operand[0], "d1");
	assert_string_equal(seen.operand[1], "d2");
	assert_int_equal(cli("make --name y d1", out, err, sizeof(out)), 0);
	assert_null(seen.value[K_COUNT]);
	assert_null(seen.value[K_FLAG]);
	assert_int_equal(cli("show", out, err, sizeof(out)), 0);
	assert_int_equal(runs, 3);
	/* a short name spells the same option */
	assert_int_equal(cli("make d -o f.txt --name z -f", out, err, sizeof(out)), 0);
	assert_string_equal(seen.value[K_OUT], "f.txt");
	assert_string_equal(seen.value[K_FLAG], "");
	assert_int_equal(cli("make d -of2 --name z", out, err, sizeof(out)), 0);
	assert_string_equal(seen.value[K_OUT], "f2");
	assert_int_equal(cli("make d --output f3 --name z", out, err, sizeof(out)), 0);
	assert_string_equal(seen.value[K_OUT], "f3");
}

static void test_help_at_every_level(void **state)
{
	static const char *const forms[] = { "--help", "-h", "help", "make --help", "make -h", "help make",
					     "make --bogus-later-is-not-read --help" };
	char out[4096], err[4096];

	runs = 0;
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(cli(forms[i], out, err, sizeof(out)), 0);
		assert_string_equal(err, "");
		assert_non_null(strstr(out, i < 3 ? "usage: prog COMMAND" : "usage: prog make DIR [MORE] --name N"));
	}
	/* the command's usage comes from its table */
	assert_int_equal(cli("make --help", out, err, sizeof(out)), 0);
	assert_non_null(strstr(out, "[--count C]"));
	assert_non_null(strstr(out, "a count (-5..4096)"));
	assert_non_null(strstr(out, "a name (required)"));
	assert_non_null(strstr(out, "-o, --output FILE"));
	/* an unknown option before --help is an error */
	assert_int_equal(cli(forms[6], out, err, sizeof(out)), 2);
	assert_int_equal(runs, 0);
}

static void test_refusals_exit_2_with_usage_on_stderr(void **state)
{
	static const char *const cases[][2] = {
		{ "make d --name x --count 4097", "prog make: --count: expected an integer in -5..4096, got \"4097\"" },
		{ "make d --name x --count 4294967297", "got \"4294967297\"" },
		{ "make d --name x --count 99999999999999999999", "got \"99999999999999999999\"" },
		{ "make d --name x --count 1x", "got \"1x\"" },
		{ "make d --name x --count=", "got \"\"" },
		{ "make d --name x --count", "prog make: --count needs a value" },
		{ "make d --name x --flag=1", "unknown option --flag=1" },
		{ "make d --name x -q", "unknown option -q" },
		{ "make d --name x -o", "prog make: -o needs a value" },
		{ "make d --name x --nope", "unknown option --nope" },
		{ "make d", "--name N is required" },
		{ "make --name x", "expected DIR [MORE]" },
		{ "make a b c --name x", "expected DIR [MORE]" },
		{ "show extra", "takes no operand, got \"extra\"" },
		{ "frob", "prog: unknown command \"frob\"" },
		{ "help frob", "prog: unknown command \"frob\"" },
		{ "", "prog: which command?" },
	};
	char out[4096], err[4096];

	runs = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cli(cases[i][0], out, err, sizeof(out)) != 2 || !strstr(err, cases[i][1]) || !strstr(err, "usage: ") ||
		    out[0])
			fail_msg("\"%s\": stdout \"%s\", stderr \"%s\"; expected \"%s\"", cases[i][0], out, err,
				 cases[i][1]);
	}
	assert_int_equal(runs, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parses_what_the_table_says),
		cmocka_unit_test(test_help_at_every_level),
		cmocka_unit_test(test_refusals_exit_2_with_usage_on_stderr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
