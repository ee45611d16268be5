/* server_config__parse: fedc-repository's [repository] file and its flags,
 * read through one table. Bad files are refused naming the file, line and
 * key; bad flags naming the flag. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/err.h"
#include "server_config.h"
#include "../test_argv.h"

struct fixture {
	char dir[64];
	char path[128];
	struct server_config cfg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/fedc-test-server-config-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/repo.ini", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Writes `text` to the fixture's file and parses `--config FILE` then `extra` flags. */
static enum fedc_err parse(struct fixture *f, const char *text, const char *const *extra)
{
	const char *argv[16] = { "fedc-repository", "--config", f->path };
	char **parse_argv;
	int argc = 3;
	bool help = true;
	FILE *out = fopen(f->path, "w");
	enum fedc_err rc;

	assert_non_null(out);
	assert_true(fputs(text, out) >= 0);
	assert_int_equal(fclose(out), 0);
	for (size_t i = 0; extra && extra[i]; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	parse_argv = test_argv_dup(argv); /* getopt takes char *const argv[] */
	assert_non_null(parse_argv);
	rc = server_config__parse(argc, parse_argv, &f->cfg, &help);
	test_argv_free(parse_argv);
	assert_false(help);
	return rc;
}

static void expect_refused(struct fixture *f, const char *text, const char *const *extra, size_t n,
			   const char *const *words)
{
	assert_int_equal(parse(f, text, extra), FEDC_ERR_CONFIG);
	for (size_t i = 0; i < n; i++) {
		if (!strstr(fedc_last_error(), words[i]))
			fail_msg("\"%s\" not in \"%s\"", words[i], fedc_last_error());
	}
}

static void test_good_file_and_flags(void **state)
{
	struct fixture *f = *state;
	const char *const flags[] = { "--port", "9000", "--log-file", "rel.log", NULL };
	char expect[256];

	assert_int_equal(parse(f, "[repository]\nstore_dir = blobs\nport = 7000\nlog_level = warn\n"
				  "max_blob_mb = 16\n",
			       flags),
			 FEDC_OK);
	snprintf(expect, sizeof(expect), "%s/blobs", f->dir);
	assert_string_equal(f->cfg.store_dir, expect); /* relative to the file */
	assert_string_equal(f->cfg.log_file, "rel.log"); /* a flag: as given */
	assert_int_equal(f->cfg.port, 9000);             /* the flag wins */
	assert_string_equal(f->cfg.listen, "127.0.0.1");
	assert_int_equal(f->cfg.log_level, FEDC_LOG_WARN);
	assert_int_equal(f->cfg.max_blob_mb, 16);
	assert_int_equal(f->cfg.max_blob_bytes, 16u << 20);
	assert_string_equal(f->cfg.token, "");
	assert_string_equal(f->cfg.config_path, f->path);
}

static void test_unknown_key(void **state)
{
	const char *const words[] = { "repo.ini:3:", "[repository] colour", "unknown key" };

	expect_refused(*state, "[repository]\nstore_dir = s\ncolour = red\n", NULL, 3, words);
}

static void test_unknown_section(void **state)
{
	const char *const words[] = { "repo.ini:2:", "[repositroy]", "unknown section" };

	expect_refused(*state, "[repositroy]\nstore_dir = s\n", NULL, 3, words);
}

static void test_bad_integer(void **state)
{
	const char *const words[] = { "repo.ini:3:", "[repository] port", "expected an integer", "\"80a\"" };
	const char *const flag_words[] = { "--max-blob-mb", "expected an integer", "\"many\"" };
	const char *const flags[] = { "--max-blob-mb", "many", NULL };

	expect_refused(*state, "[repository]\nstore_dir = s\nport = 80a\n", NULL, 4, words);
	expect_refused(*state, "[repository]\nstore_dir = s\n", flags, 3, flag_words);
}

static void test_integer_out_of_range(void **state)
{
	const char *const words[] = { "repo.ini:3:", "[repository] max_blob_mb", "1..1048576", "\"0\"" };

	expect_refused(*state, "[repository]\nstore_dir = s\nmax_blob_mb = 0\n", NULL, 4, words);
}

static void test_missing_required_key(void **state)
{
	const char *const words[] = { "repo.ini", "[repository] store_dir", "required key is missing" };

	expect_refused(*state, "[repository]\nport = 0\n", NULL, 3, words);
}

static void test_bad_choice_and_token(void **state)
{
	const char *const level[] = { "repo.ini:3:", "log_level", "debug, info, warn or error", "\"loud\"" };
	const char *const token[] = { "token", "visible ASCII" };

	expect_refused(*state, "[repository]\nstore_dir = s\nlog_level = loud\n", NULL, 4, level);
	expect_refused(*state, "[repository]\nstore_dir = s\ntoken = two words\n", NULL, 2, token);
}

static void test_metrics_listen(void **state)
{
	struct fixture *f = *state;
	const char *const flag[] = { "--metrics-listen", "[::1]:9464", NULL };
	const char *const file_words[] = { "metrics_listen", "\"9464\"", "HOST:PORT" };
	const char *const flag_words[] = { "--metrics-listen", "65536", "HOST:PORT" };
	const char *const bad_flag[] = { "--metrics-listen", "127.0.0.1:65536", NULL };

	assert_int_equal(parse(f, "[repository]\nstore_dir = s\n", NULL), FEDC_OK);
	assert_string_equal(f->cfg.metrics_listen, ""); /* off by default */
	assert_int_equal(parse(f, "[repository]\nstore_dir = s\nmetrics_listen = 127.0.0.1:9464\n", flag), FEDC_OK);
	assert_string_equal(f->cfg.metrics_listen, "[::1]:9464"); /* the flag wins */
	expect_refused(f, "[repository]\nstore_dir = s\nmetrics_listen = 9464\n", NULL, 3, file_words);
	expect_refused(f, "[repository]\nstore_dir = s\n", bad_flag, 3, flag_words);
}

/* Empty flag values: refused for a required key, a number or a choice. */
static void test_empty_flags(void **state)
{
	struct fixture *f = *state;
	const char *const store[] = { "--store", "", NULL };
	const char *const store_words[] = { "--store", "must not be empty" };
	const char *const port[] = { "--port", "", NULL };
	const char *const level[] = { "--log-level", "", NULL };
	const char *const port_words[] = { "--port", "expected an integer" };
	const char *const level_words[] = { "--log-level", "expected debug, info, warn or error" };

	expect_refused(f, "[repository]\nstore_dir = s\n", store, 2, store_words);
	expect_refused(f, "[repository]\nstore_dir = s\nport = 7\n", port, 2, port_words);
	expect_refused(f, "[repository]\nstore_dir = s\n", level, 2, level_words);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_file_and_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_section, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_integer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_integer_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_required_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_choice_and_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_listen, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
