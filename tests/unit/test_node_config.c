/* node_config__load: the node's INI file read through its table. Every bad
 * file is refused at load with an error naming the file, the line (when the
 * key is there) and the key. */
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
#include "node_config.h"

#define GOOD_HEAD "[node]\nid = n1\ndata_dir = data\n[broker]\nurl = tcp://127.0.0.1:1883\n"
#define GOOD_REPO "[repository]\nurl = http://127.0.0.1:8080\n"

struct fixture {
	char dir[64];
	char path[128];
	struct node_config cfg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/fedc-test-node-config-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/node.ini", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	node_config__free(&f->cfg);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_file(const struct fixture *f, const char *text)
{
	FILE *out = fopen(f->path, "w");

	assert_non_null(out);
	assert_true(fputs(text, out) >= 0);
	assert_int_equal(fclose(out), 0);
}

/* Loads `text`, expects FEDC_ERR_CONFIG and every one of the `n` words in the message. */
static void expect_refused(struct fixture *f, const char *text, size_t n, const char *const *words)
{
	write_file(f, text);
	assert_int_equal(node_config__load(f->path, &f->cfg), FEDC_ERR_CONFIG);
	for (size_t i = 0; i < n; i++) {
		if (!strstr(fedc_last_error(), words[i]))
			fail_msg("\"%s\" not in \"%s\"", words[i], fedc_last_error());
	}
	/* a refused file leaves nothing to free */
	assert_null(f->cfg.path);
	assert_null(f->cfg.data_dir);
}

static void test_good_file(void **state)
{
	struct fixture *f = *state;
	char expect[256];

	write_file(f, GOOD_HEAD "ca_file = ca.pem\n" GOOD_REPO "timeout_s = 45\n[limits]\nmemory_mb = 512\n"
			    "[log]\nlevel = debug\nfile = /var/log/node.log\n[security]\nplan_digest = sha512\n");
	assert_int_equal(node_config__load(f->path, &f->cfg), FEDC_OK);
	assert_string_equal(f->cfg.path, f->path);
	assert_string_equal(f->cfg.node_id, "n1");
	assert_string_equal(f->cfg.federation, "default");
	snprintf(expect, sizeof(expect), "%s/data", f->dir);
	assert_string_equal(f->cfg.data_dir, expect);
	snprintf(expect, sizeof(expect), "%s/data/node.db", f->dir);
	assert_string_equal(f->cfg.db_path, expect);
	snprintf(expect, sizeof(expect), "%s/ca.pem", f->dir);
	assert_string_equal(f->cfg.broker_ca_file, expect);
	assert_string_equal(f->cfg.broker_cert_file, "");
	assert_string_equal(f->cfg.repository_url, "http://127.0.0.1:8080");
	assert_string_equal(f->cfg.repository_token, "");
	assert_int_equal(f->cfg.repository_timeout_s, 45);
	assert_int_equal(f->cfg.memory_mb, 512);
	assert_int_equal(f->cfg.train_timeout_s, 600);
	assert_int_equal(f->cfg.plan_process_idle_s, 300);
	assert_int_equal(f->cfg.max_clock_skew_s, 300);
	assert_false(f->cfg.allow_unapproved_plans);
	assert_int_equal(f->cfg.plan_digest, FEDC_HASH_SHA512);
	assert_int_equal(f->cfg.log_level, FEDC_LOG_DEBUG);
	assert_string_equal(f->cfg.log_file, "/var/log/node.log");
	/* the struct holds its strings, not 4 KiB arrays */
	assert_true(sizeof(struct node_config) < 1024);
}

static void test_unknown_key(void **state)
{
	const char *const words[] = { "node.ini:8:", "[repository]", "tokn", "unknown key" };

	expect_refused(*state, GOOD_HEAD GOOD_REPO "tokn = x\n", 4, words);
}

static void test_unknown_section(void **state)
{
	const char *const words[] = { "node.ini:9:", "[limit]", "unknown section" };

	expect_refused(*state, GOOD_HEAD GOOD_REPO "[limit]\nmemory_mb = 1\n", 3, words);
}

static void test_bad_id_ward_7(void **state)
{
	const char *const words[] = { "node.ini:2:", "[node] id", "\"ward 7\" is not an id" };

	expect_refused(*state, "[node]\nid = ward 7\ndata_dir = d\n[broker]\nurl = tcp://h:1\n" GOOD_REPO, 3, words);
}

static void test_bad_federation(void **state)
{
	const char *const words[] = { "[node] federation", "\"a/b\"" };

	expect_refused(*state, "[node]\nid = n1\nfederation = a/b\ndata_dir = d\n[broker]\nurl = tcp://h:1\n" GOOD_REPO, 2,
		       words);
}

static void test_bad_integer(void **state)
{
	const char *const words[] = { "node.ini:9:", "[limits] train_timeout_s", "expected an integer", "\"10m\"" };

	expect_refused(*state, GOOD_HEAD GOOD_REPO "[limits]\ntrain_timeout_s = 10m\n", 4, words);
}

static void test_integer_out_of_range(void **state)
{
	const char *const words[] = { "node.ini:9:", "[limits] memory_mb", "64..1048576", "\"63\"" };

	expect_refused(*state, GOOD_HEAD GOOD_REPO "[limits]\nmemory_mb = 63\n", 4, words);
}

static void test_bad_choice(void **state)
{
	const char *const words[] = { "[log] level", "debug, info, warn or error", "\"loud\"" };

	expect_refused(*state, GOOD_HEAD GOOD_REPO "[log]\nlevel = loud\n", 3, words);
}

static void test_missing_required_key(void **state)
{
	const char *const words[] = { "node.ini", "[repository] url", "required key is missing" };
	const char *const words_id[] = { "[node] id", "required key is missing" };

	expect_refused(*state, GOOD_HEAD "[repository]\ntoken = t\n", 3, words);
	expect_refused(*state, "[node]\ndata_dir = d\n[broker]\nurl = tcp://h:1\n" GOOD_REPO, 2, words_id);
}

/* The rules between broker and repository keys (shared with the researcher's
 * [network] section through FEDC_CONFIG_TRANSPORT_KEYS). */
static void test_transport_pairs(void **state)
{
	const char *const cert[] = { "[broker] cert_file and key_file go together" };
	const char *const token[] = { "[repository] token and token_file: give one, not both" };

	expect_refused(*state, GOOD_HEAD "cert_file = c.pem\n" GOOD_REPO, 1, cert);
	expect_refused(*state, GOOD_HEAD GOOD_REPO "token = t\ntoken_file = t.txt\n", 1, token);
}

/* The repository URL is checked when the file loads: an S3 bucket loads, a
 * typo in it is refused with the key and the rule. */
static void test_repository_url(void **state)
{
	struct fixture *f = *state;
	const char *const scheme[] = { "node.ini", "[repository] url", "expected http://host:port" };
	const char *const bucket[] = { "[repository] url", "bucket name must be 3 to 63" };

	write_file(f, GOOD_HEAD "[repository]\nurl = s3://store.example:7480/fedc-blobs?region=eu-west-1\n");
	assert_int_equal(node_config__load(f->path, &f->cfg), FEDC_OK);
	assert_string_equal(f->cfg.repository_url, "s3://store.example:7480/fedc-blobs?region=eu-west-1");
	node_config__free(&f->cfg);
	expect_refused(f, GOOD_HEAD "[repository]\nurl = ftp://host/\n", 3, scheme);
	expect_refused(f, GOOD_HEAD "[repository]\nurl = s3://host:7480/Fedc_Blobs\n", 2, bucket);
}

/* What `fedc-node init` writes loads back, with the values it was given. */
static void test_metrics_listen(void **state)
{
	struct fixture *f = *state;
	const char *const words[] = { "node.ini", "[metrics] listen", "\"0.0.0.0\"", "HOST:PORT" };
	const char *const port[] = { "[metrics] listen", "\"127.0.0.1:99999\"" };

	write_file(f, GOOD_HEAD GOOD_REPO);
	assert_int_equal(node_config__load(f->path, &f->cfg), FEDC_OK);
	assert_string_equal(f->cfg.metrics_listen, ""); /* off by default */
	node_config__free(&f->cfg);
	write_file(f, GOOD_HEAD GOOD_REPO "[metrics]\nlisten = [::1]:9465\n");
	assert_int_equal(node_config__load(f->path, &f->cfg), FEDC_OK);
	assert_string_equal(f->cfg.metrics_listen, "[::1]:9465");
	node_config__free(&f->cfg);
	expect_refused(f, GOOD_HEAD GOOD_REPO "[metrics]\nlisten = 0.0.0.0\n", 4, words);
	expect_refused(f, GOOD_HEAD GOOD_REPO "[metrics]\nlisten = 127.0.0.1:99999\n", 2, port);
}

/* [console] metrics_listen: the console's own listener, checked the same way. */
static void test_console_metrics_listen(void **state)
{
	struct fixture *f = *state;
	const char *const words[] = { "node.ini", "[console] metrics_listen", "\"localhost\"", "HOST:PORT" };

	write_file(f, GOOD_HEAD GOOD_REPO);
	assert_int_equal(node_config__load(f->path, &f->cfg), FEDC_OK);
	assert_string_equal(f->cfg.console_metrics_listen, ""); /* off by default */
	node_config__free(&f->cfg);
	write_file(f, GOOD_HEAD GOOD_REPO "[console]\nmetrics_listen = 127.0.0.1:9466\n");
	assert_int_equal(node_config__load(f->path, &f->cfg), FEDC_OK);
	assert_string_equal(f->cfg.console_metrics_listen, "127.0.0.1:9466");
	node_config__free(&f->cfg);
	expect_refused(f, GOOD_HEAD GOOD_REPO "[console]\nmetrics_listen = localhost\n", 4, words);
}

static void test_template_loads_back(void **state)
{
	struct fixture *f = *state;
	FILE *out = fopen(f->path, "w");

	assert_non_null(out);
	assert_int_equal(node_config__write_template(out, "hospital-7", "fed1", "var", "ssl://broker:8883",
						     "https://repo:8443", "secret"),
			 FEDC_OK);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(node_config__load(f->path, &f->cfg), FEDC_OK);
	assert_string_equal(f->cfg.node_id, "hospital-7");
	assert_string_equal(f->cfg.federation, "fed1");
	assert_string_equal(f->cfg.broker_url, "ssl://broker:8883");
	assert_string_equal(f->cfg.repository_url, "https://repo:8443");
	assert_string_equal(f->cfg.repository_token, "secret");
	assert_int_equal(f->cfg.cpu_seconds, 3600);
	assert_int_equal(f->cfg.log_level, FEDC_LOG_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_section, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_id_ward_7, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_federation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_integer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_integer_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_choice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repository_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_required_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_pairs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_template_loads_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_listen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_metrics_listen, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
