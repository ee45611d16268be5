/* strategy = cyclic (researcher/job_cyclic.h): the experiment keys, the
 * combinations a chain refuses (each with its reason and what to change),
 * and the chain order -- sorted, or shuffled per round from the seed. */
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
#include "job_cyclic.h"

static char path[64];

/* Loads an experiment with `experiment_lines` in [experiment] and `rest`
 * (whole sections) after it. */
static enum fedc_err load(const char *experiment_lines, const char *rest, struct experiment *exp)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "[experiment]\ntags = t\nplan = plan.so\nrounds = 2\n%s\n%s\n", experiment_lines, rest);
	fclose(f);
	return experiment__load(path, NULL, exp);
}

static int make_file(void **state)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/fedc-cyc-XXXXXX");
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

static void test_strategy_defaults_to_parallel(void **state)
{
	struct experiment *exp = *state;

	assert_int_equal(load("", "", exp), FEDC_OK);
	assert_false(exp->cyclic);
	assert_string_equal(exp->strategy_name, "parallel");
	assert_int_equal(job_cyclic__check(exp, path), FEDC_OK);
	experiment__free(exp);
}

static void test_cyclic_keys(void **state)
{
	struct experiment *exp = *state;

	assert_int_equal(load("strategy = cyclic", "", exp), FEDC_OK);
	assert_true(exp->cyclic);
	assert_false(exp->cyclic_shuffled);
	assert_int_equal(job_cyclic__check(exp, path), FEDC_OK);
	experiment__free(exp);
	assert_int_equal(load("strategy = cyclic\ncyclic_order = shuffled", "[aggregator]\nmethod = fedprox\n", exp),
			 FEDC_OK);
	assert_true(exp->cyclic_shuffled);
	assert_int_equal(job_cyclic__check(exp, path), FEDC_OK);
	experiment__free(exp);
}

/* examples/logreg/cyclic.ini: a chain in shuffled order that the check takes. */
static void test_example_experiment_loads(void **state)
{
	struct experiment *exp = *state;

	assert_int_equal(experiment__load(FEDC_SOURCE_DIR "/examples/logreg/cyclic.ini", NULL, exp), FEDC_OK);
	assert_true(exp->cyclic && exp->cyclic_shuffled);
	assert_int_equal(job_cyclic__check(exp, exp->path), FEDC_OK);
}

static void expect_load_error(struct experiment *exp, const char *lines, const char *needle)
{
	assert_int_equal(load(lines, "", exp), FEDC_ERR_CONFIG);
	if (!strstr(fedc_last_error(), needle))
		fail_msg("error \"%s\" does not say \"%s\"", fedc_last_error(), needle);
}

static void test_bad_strategy_values(void **state)
{
	expect_load_error(*state, "strategy = round-robin", "strategy");
	expect_load_error(*state, "strategy = cyclic\ncyclic_order = random", "cyclic_order");
	expect_load_error(*state, "cyclic_order = shuffled", "only with strategy = cyclic");
}

/* Loads a cyclic experiment with `rest` and expects the check to refuse it
 * naming `needle` and saying what to change. */
static void expect_refused(struct experiment *exp, const char *rest, const char *needle)
{
	assert_int_equal(load("strategy = cyclic", rest, exp), FEDC_OK);
	assert_int_equal(job_cyclic__check(exp, path), FEDC_ERR_CONFIG);
	if (!strstr(fedc_last_error(), needle) || !strstr(fedc_last_error(), "strategy = parallel"))
		fail_msg("refusal \"%s\" does not say \"%s\" and how to go on", fedc_last_error(), needle);
	experiment__free(exp);
}

static void test_cyclic_refuses_secure_aggregation(void **state)
{
	expect_refused(*state, "[privacy]\nsecure_aggregation = true\n", "secure_aggregation");
}

static void test_cyclic_refuses_node_dp(void **state)
{
	expect_refused(*state, "[privacy]\ndp = node\n", "dp = node");
}

static void test_cyclic_refuses_keep_best(void **state)
{
	expect_refused(*state, "[training]\nkeep_best = accuracy\n", "keep_best");
}

static void test_cyclic_refuses_other_aggregators(void **state)
{
	expect_refused(*state, "[aggregator]\nmethod = scaffold\n", "control variates");
	expect_refused(*state, "[aggregator]\nmethod = fedadam\n", "server optimizer");
	expect_refused(*state, "[aggregator]\nmethod = fedyogi\n", "server optimizer");
	expect_refused(*state, "[aggregator]\nmethod = median\n", "robust aggregator");
	expect_refused(*state, "[aggregator]\nmethod = krum\n", "robust aggregator");
}

static void test_sorted_order_is_node_id_order(void **state)
{
	uint32_t idx[5] = { 0, 1, 2, 3, 4 };

	(void)state;
	job_cyclic__order(7, 3, false, idx, 5);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(idx[i], i);
}

/* A permutation, the same for the same (seed, round), and not the same
 * every round. */
static void test_shuffled_order_per_round(void **state)
{
	uint32_t a[6], b[6];
	size_t rounds_unsorted = 0, rounds_differing = 0;

	(void)state;
	for (uint32_t round = 1; round <= 20; round++) {
		bool seen[6] = { false }, sorted = true, same_as_other_seed = true;

		for (uint32_t i = 0; i < 6; i++)
			a[i] = b[i] = i;
		job_cyclic__order(7, round, true, a, 6);
		for (uint32_t i = 0; i < 6; i++) {
			assert_true(a[i] < 6 && !seen[a[i]]);
			seen[a[i]] = true;
			sorted = sorted && a[i] == i;
		}
		rounds_unsorted += !sorted;
		memcpy(b, a, sizeof(b));
		for (uint32_t i = 0; i < 6; i++)
			a[i] = i;
		job_cyclic__order(7, round, true, a, 6);
		assert_memory_equal(a, b, sizeof(a)); /* what a resumed run draws */
		for (uint32_t i = 0; i < 6; i++)
			a[i] = i;
		job_cyclic__order(8, round, true, a, 6);
		for (uint32_t i = 0; i < 6; i++)
			same_as_other_seed = same_as_other_seed && a[i] == b[i];
		rounds_differing += !same_as_other_seed;
	}
	assert_true(rounds_unsorted >= 15); /* 1 in 720 of the draws is sorted */
	assert_true(rounds_differing >= 15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_strategy_defaults_to_parallel, make_file, remove_file),
		cmocka_unit_test_setup_teardown(test_cyclic_keys, make_file, remove_file),
		cmocka_unit_test_setup_teardown(test_example_experiment_loads, make_file, remove_file),
		cmocka_unit_test_setup_teardown(test_bad_strategy_values, make_file, remove_file),
		cmocka_unit_test_setup_teardown(test_cyclic_refuses_secure_aggregation, make_file, remove_file),
		cmocka_unit_test_setup_teardown(test_cyclic_refuses_node_dp, make_file, remove_file),
		cmocka_unit_test_setup_teardown(test_cyclic_refuses_keep_best, make_file, remove_file),
		cmocka_unit_test_setup_teardown(test_cyclic_refuses_other_aggregators, make_file, remove_file),
		cmocka_unit_test(test_sorted_order_is_node_id_order),
		cmocka_unit_test(test_shuffled_order_per_round),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
