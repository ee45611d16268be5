/* The experiment file's node selection, retry and test keys: defaults, good
 * values, and a clear error naming the key for each bad one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiment.h"

static char path[64];

static enum fedc_err load(const char *experiment_lines, const char *training_lines, struct experiment *exp)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "[experiment]\ntags = t\nplan = plan.so\nrounds = 2\n%s\n[training]\n%s\n", experiment_lines,
		training_lines);
	fclose(f);
	return experiment__load(path, NULL, exp);
}

static int make_file(void **state)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/fedc-exp-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	*state = calloc(1, sizeof(struct experiment));
	return *state ? 0 : -1;
}

static int remove_file(void **state)
{
	experiment__free(*state);
	free(*state);
	return unlink(path);
}

static void test_defaults(void **state)
{
	struct experiment *exp = *state;

	assert_int_equal(load("", "", exp), FEDC_OK);
	assert_int_equal(exp->n_nodes, 0);
	assert_true(exp->fraction == 1.0);
	assert_int_equal(exp->round_retries, 2);
	assert_true(exp->test_on_global && exp->test_on_local);
	assert_string_equal(exp->test_metric, "accuracy");
}

static void test_good_values(void **state)
{
	struct experiment *exp = *state;

	assert_int_equal(load("nodes = h-1, h-2,h-3\nfraction = 0.25\nround_retries = 0",
			      "test_on_global_updates = false\ntest_on_local_updates = no\ntest_metric = r2", exp),
			 FEDC_OK);
	assert_int_equal(exp->n_nodes, 3);
	assert_string_equal(exp->nodes[2], "h-3");
	assert_true(exp->fraction == 0.25);
	assert_int_equal(exp->round_retries, 0);
	assert_false(exp->test_on_global || exp->test_on_local);
	assert_string_equal(exp->test_metric, "r2");
}

static void expect_error(struct experiment *exp, const char *experiment_lines, const char *training_lines,
			 const char *key)
{
	assert_int_equal(load(experiment_lines, training_lines, exp), FEDC_ERR_CONFIG);
	if (!strstr(fedc_last_error(), key))
		fail_msg("\"%s\" not in \"%s\"", key, fedc_last_error());
}

static void test_bad_values(void **state)
{
	struct experiment *exp = *state;

	expect_error(exp, "fraction = 0", "", "fraction");
	expect_error(exp, "fraction = 1.5", "", "fraction");
	expect_error(exp, "fraction = half", "", "fraction");
	expect_error(exp, "round_retries = -1", "", "round_retries");
	expect_error(exp, "nodes = a/b", "", "nodes");
	expect_error(exp, "nodes = node+1", "", "nodes");
	expect_error(exp, "", "test_on_global_updates = maybe", "test_on_global_updates");
	expect_error(exp, "", "test_on_local_updates = 2", "test_on_local_updates");
	expect_error(exp, "", "test_metrc = loss", "test_metrc");
}

/* [robustness]: absent, off; its keys become the stage's key = value lines,
 * checked by the nodes' parser; unknown keys and bad values are refused. */
static void test_robustness_section(void **state)
{
	struct experiment *exp = *state;

	assert_int_equal(load("", "", exp), FEDC_OK);
	assert_false(exp->robustness);
	experiment__free(exp);
	assert_int_equal(load("", "[robustness]\nattacks = fgsm\nepsilons = 0.1, 0.5\nclip_min = 0\nclip_max = 1", exp),
			 FEDC_OK);
	assert_true(exp->robustness);
	assert_string_equal(exp->robust_args, "attacks = fgsm\nepsilons = 0.1, 0.5\nclip_min = 0\nclip_max = 1\n");
	experiment__free(exp);
	expect_error(exp, "", "[robustness]\nsteps = 3", "steps");
	expect_error(exp, "", "[robustness]\nepsilons = 0.1, -1", "[robustness] robust: epsilons");
	expect_error(exp, "", "[robustness]\nattacks = fgsm, cw", "unknown attack \"cw\"");
	expect_error(exp, "", "[robustness]\npgd_steps = 0", "pgd_steps");
	expect_error(exp, "", "[robustness]\nclip_min = 1\nclip_max = 0", "clip_min");
}

/* [network] credentials: secrets come from their files (without the
 * newline), paths are taken relative to the file, and every bad value is
 * refused naming its key. */
static void test_network_security(void **state)
{
	struct experiment *exp = *state;
	char dir[64], net[128], secret[128], expect[256];
	static const char *const bad[][2] = {
		{ "broker_password_file = missing\n", "broker_password_file" },
		{ "broker_password_file = empty\n", "broker_password_file" },
		{ "repository_token = t\nrepository_token_file = pw\n", "repository_token_file" },
		{ "broker_cert_file = c.pem\n", "broker_cert_file and broker_key_file" },
		{ "max_clock_skew_s = 100000\n", "max_clock_skew_s" },
		{ "allow_unsigned = sometimes\n", "allow_unsigned" },
		{ "repository_url = s3://127.0.0.1:9000/bkt\nrepository_store_dir = .\n", "not an S3 bucket" },
	};
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/fedc-net-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(secret, sizeof(secret), "%s/pw", dir);
	f = fopen(secret, "w");
	fputs("s3cret\n", f);
	fclose(f);
	snprintf(secret, sizeof(secret), "%s/empty", dir);
	fclose(fopen(secret, "w"));
	snprintf(net, sizeof(net), "%s/network.ini", dir);
	f = fopen(net, "w");
	fputs("[network]\nresearcher_id = r1\nbroker_password_file = pw\nrepository_token_file = pw\n"
	      "signing_key = signing.key\ntrusted_keys_dir = trusted\n", f);
	fclose(f);
	experiment__free(exp);
	assert_int_equal(experiment__load_network(net, exp), FEDC_OK);
	assert_string_equal(exp->broker_password, "s3cret");
	assert_string_equal(exp->repository_token, "s3cret");
	snprintf(expect, sizeof(expect), "%s/trusted", dir);
	assert_string_equal(exp->trusted_keys_dir, expect);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = fopen(net, "w");
		fprintf(f, "[network]\nresearcher_id = r1\n%s", bad[i][0]);
		fclose(f);
		experiment__free(exp);
		assert_int_not_equal(experiment__load_network(net, exp), FEDC_OK);
		if (!strstr(fedc_last_error(), bad[i][1]))
			fail_msg("case %zu: \"%s\" not in \"%s\"", i, bad[i][1], fedc_last_error());
	}
	snprintf(expect, sizeof(expect), "rm -rf '%s'", dir);
	assert_int_equal(system(expect), 0);
}

/* A whole file of `text`: refused at load, the message holding every word. */
static void expect_refused(struct experiment *exp, const char *text, size_t n, const char *const *words)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(experiment__load(path, NULL, exp), FEDC_ERR_CONFIG);
	for (size_t i = 0; i < n; i++) {
		if (!strstr(fedc_last_error(), words[i]))
			fail_msg("\"%s\" not in \"%s\"", words[i], fedc_last_error());
	}
	assert_null(exp->path); /* nothing left to free */
}

#define HEAD "[experiment]\ntags = t\nplan = plan.so\nrounds = 2\n"

static void test_refused_naming_key(void **state)
{
	struct experiment *exp = *state;
	const char *const ward[] = { ":6: [network] researcher_id", "\"ward 7\" is not an id" };
	const char *const fed[] = { ":6: [network] federation", "\"a/b\"" };
	const char *const unknown[] = { ":5: [experiment] round_timout_s", "unknown key" };
	const char *const section[] = { ":6: [trainig]", "unknown section" };
	const char *const bad_int[] = { ":4: [experiment] rounds", "expected an integer", "\"ten\"" };
	const char *const range[] = { ":4: [experiment] rounds", "1..1000000", "\"0\"" };
	const char *const range_u32[] = { ":6: [training] batch_size", "1..1000000", "\"4294967297\"" };
	const char *const no_plan[] = { "[experiment] plan", "required key is missing" };
	const char *const no_tags[] = { "[experiment] tags", "required key is missing" };

	expect_refused(exp, HEAD "[network]\nresearcher_id = ward 7\n", 2, ward);
	expect_refused(exp, HEAD "[network]\nfederation = a/b\n", 2, fed);
	expect_refused(exp, HEAD "round_timout_s = 5\n", 2, unknown);
	expect_refused(exp, HEAD "[trainig]\nlr = 1\n", 2, section);
	expect_refused(exp, "[experiment]\ntags = t\nplan = plan.so\nrounds = ten\n", 3, bad_int);
	expect_refused(exp, "[experiment]\ntags = t\nplan = plan.so\nrounds = 0\n", 3, range);
	expect_refused(exp, HEAD "[training]\nbatch_size = 4294967297\n", 3, range_u32);
	expect_refused(exp, "[experiment]\ntags = t\nrounds = 2\n", 2, no_plan);
	expect_refused(exp, "[experiment]\nplan = p.so\nrounds = 2\n", 2, no_tags);
}

/* Paths are owned strings, resolved against the file's directory; the
 * struct no longer carries 4 KiB per path. */
static void test_paths_and_size(void **state)
{
	struct experiment *exp = *state;
	char dir[64], expect[128];

	assert_int_equal(load("", "", exp), FEDC_OK);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	snprintf(expect, sizeof(expect), "%s/plan.so", dir);
	assert_string_equal(exp->plan_path, expect);
	snprintf(expect, sizeof(expect), "%s/fedc-output", dir);
	assert_string_equal(exp->output_dir, expect);
	assert_string_equal(exp->path, path);
	assert_string_equal(exp->network_path, "");
	assert_string_equal(exp->broker_url, "tcp://127.0.0.1:1883");
	assert_string_equal(exp->broker_password, "");
	assert_string_equal(exp->signing_key, "");
	assert_int_equal(exp->rounds, 2);
	assert_int_equal(exp->batch_size, 32);
	assert_true(sizeof(struct experiment) < 16 * 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, make_file, remove_file),
		cmocka_unit_test_setup_teardown(test_good_values, make_file, remove_file),
		cmocka_unit_test_setup_teardown(test_bad_values, make_file, remove_file),
		cmocka_unit_test_setup_teardown(test_robustness_section, make_file, remove_file),
		cmocka_unit_test_setup_teardown(test_network_security, make_file, remove_file),
		cmocka_unit_test_setup_teardown(test_refused_naming_key, make_file, remove_file),
		cmocka_unit_test_setup_teardown(test_paths_and_size, make_file, remove_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
