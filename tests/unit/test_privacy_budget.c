/* The researcher's side of privacy (researcher/privacy.h): the [privacy]
 * section of the experiment file, the sampling rate, the round at which the
 * budget stops a run (against fedc_dp_epsilon), the combinations `run`
 * refuses, the train fields and the weights. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiment.h"
#include "fedc/dp.h"
#include "privacy.h"

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fedc-privacy-budget-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Loads an experiment file made of the common part and `privacy`. */
static enum fedc_err load(const char *privacy, const char *aggregator, struct experiment *exp)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/exp.ini", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[experiment]\ntags = t\nplan = plan.so\nrounds = 10\n\n[aggregator]\nmethod = %s\n\n[privacy]\n%s\n",
		aggregator, privacy);
	fclose(f);
	return experiment__load(path, NULL, exp);
}

static void test_privacy_section(void **state)
{
	struct experiment exp;

	(void)state;
	assert_int_equal(load("", "fedavg", &exp), FEDC_OK);
	assert_int_equal(exp.privacy.dp, EXPERIMENT_DP_OFF);
	assert_false(exp.privacy.secure_aggregation);
	assert_true(exp.privacy.dp_clip == 1.0 && exp.privacy.dp_noise_multiplier == 1.0);
	assert_true(exp.privacy.dp_delta == 1e-5 && exp.privacy.epsilon_max == 0);
	assert_true(exp.privacy.secagg_value_max == 1e6);
	assert_int_equal(exp.privacy.secagg_weight_max, 1048576);
	assert_int_equal(exp.privacy.secagg_timeout_s, 60);
	experiment__free(&exp);
	assert_int_equal(load("dp = node\ndp_clip = 0.5\ndp_noise_multiplier = 1.1\ndp_delta = 1e-6\nepsilon_max = 8\n"
			      "secure_aggregation = true\nsecagg_threshold = 3\nsecagg_neighbours = 4\nsecagg_timeout_s = 5\n"
			      "secagg_value_max = 10\nsecagg_weight_max = 77\n",
			      "fedavg", &exp),
			 FEDC_OK);
	assert_int_equal(exp.privacy.dp, EXPERIMENT_DP_NODE);
	assert_true(exp.privacy.dp_clip == 0.5 && exp.privacy.dp_noise_multiplier == 1.1);
	assert_true(exp.privacy.dp_delta == 1e-6 && exp.privacy.epsilon_max == 8);
	assert_true(exp.privacy.secure_aggregation);
	assert_int_equal(exp.privacy.secagg_threshold, 3);
	assert_int_equal(exp.privacy.secagg_neighbours, 4);
	assert_int_equal(exp.privacy.secagg_timeout_s, 5);
	assert_int_equal(exp.privacy.secagg_weight_max, 77);
	assert_true(exp.privacy.secagg_value_max == 10);
	experiment__free(&exp);
	/* errors name the key */
	assert_int_equal(load("dp = laplace\n", "fedavg", &exp), FEDC_ERR_CONFIG);
	assert_non_null(strstr(fedc_last_error(), "[privacy] dp"));
	assert_int_equal(load("dp_clip = 0\n", "fedavg", &exp), FEDC_ERR_CONFIG);
	assert_non_null(strstr(fedc_last_error(), "dp_clip"));
	assert_int_equal(load("dp_delta = 1\n", "fedavg", &exp), FEDC_ERR_CONFIG);
	assert_non_null(strstr(fedc_last_error(), "dp_delta"));
	assert_int_equal(load("epsilon = 3\n", "fedavg", &exp), FEDC_ERR_CONFIG);
	assert_non_null(strstr(fedc_last_error(), "epsilon"));
}

static void test_refused_combinations(void **state)
{
	static const char *const refused[] = { "scaffold", "median", "trimmed_mean", "krum", "multikrum" };
	struct experiment exp;

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(load("dp = node\n", refused[i], &exp), FEDC_OK);
		assert_int_equal(privacy__check_experiment(&exp), FEDC_ERR_CONFIG);
		assert_non_null(strstr(fedc_last_error(), refused[i]));
		assert_non_null(strstr(fedc_last_error(), "dp = node"));
		experiment__free(&exp);
		assert_int_equal(load("dp = off\n", refused[i], &exp), FEDC_OK);
		assert_int_equal(privacy__check_experiment(&exp), FEDC_OK);
		experiment__free(&exp);
	}
	assert_int_equal(load("dp = node\n", "fedavg", &exp), FEDC_OK);
	assert_int_equal(privacy__check_experiment(&exp), FEDC_OK);
	experiment__free(&exp);
}

/* Secure aggregation gives the aggregator a sum: what needs the updates one
 * by one is refused at run, each with what to do instead. */
static void test_secure_aggregation_refusals(void **state)
{
	static const char *const refused[] = { "median", "trimmed_mean", "krum", "multikrum", "normbounded" };
	static const char *const taken[] = { "fedavg", "fedprox", "scaffold", "fedadam", "fedyogi", "fedadagrad" };
	struct experiment exp;

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(load("secure_aggregation = on\n", refused[i], &exp), FEDC_OK);
		assert_int_equal(privacy__check_experiment(&exp), FEDC_ERR_CONFIG);
		assert_non_null(strstr(fedc_last_error(), refused[i]));
		assert_non_null(strstr(fedc_last_error(), "only their sum"));
		experiment__free(&exp);
	}
	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		assert_int_equal(load("secure_aggregation = on\n", taken[i], &exp), FEDC_OK);
		assert_int_equal(privacy__check_experiment(&exp), FEDC_OK);
		experiment__free(&exp);
	}
	assert_int_equal(load("secure_aggregation = on\n", "fedavg\nmax_weight = 0.5", &exp), FEDC_OK);
	assert_int_equal(privacy__check_experiment(&exp), FEDC_ERR_CONFIG);
	assert_non_null(strstr(fedc_last_error(), "max_weight"));
	experiment__free(&exp);
	assert_int_equal(load("secure_aggregation = on\nsecagg_neighbours = 5\n", "fedavg", &exp), FEDC_OK);
	assert_int_equal(privacy__check_experiment(&exp), FEDC_ERR_CONFIG);
	assert_non_null(strstr(fedc_last_error(), "even degree"));
	experiment__free(&exp);
	assert_int_equal(load("secure_aggregation = on\nsecagg_threshold = 1\n", "fedavg", &exp), FEDC_OK);
	assert_int_equal(privacy__check_experiment(&exp), FEDC_ERR_CONFIG);
	experiment__free(&exp);
	assert_int_equal(load("dp = node\ndp_noise_multiplier = 0\n", "fedavg", &exp), FEDC_OK);
	assert_int_equal(privacy__check_experiment(&exp), FEDC_ERR_CONFIG);
	assert_non_null(strstr(fedc_last_error(), "infinite"));
	experiment__free(&exp);
}

static void test_sampling_rate(void **state)
{
	struct experiment exp;

	(void)state;
	memset(&exp, 0, sizeof(exp));
	exp.fraction = 1.0;
	exp.min_nodes = 1;
	assert_true(privacy__sampling_rate(&exp, 10) == 1.0);
	exp.fraction = 0.3;
	assert_int_equal(privacy__selected(&exp, 10), 3);
	assert_true(fabs(privacy__sampling_rate(&exp, 10) - 0.3) < 1e-15);
	exp.fraction = 0.25; /* ceil(2.5) = 3 */
	assert_int_equal(privacy__selected(&exp, 10), 3);
	exp.fraction = 0.05;
	exp.min_nodes = 2; /* min_nodes wins */
	assert_true(fabs(privacy__sampling_rate(&exp, 10) - 0.2) < 1e-15);
	exp.min_nodes = 20; /* at most every node */
	assert_true(privacy__sampling_rate(&exp, 10) == 1.0);
	assert_true(privacy__sampling_rate(&exp, 0) == 1.0);
}

static void test_budget_stop_round(void **state)
{
	struct experiment exp;
	double eps[8], after;
	bool stops;

	(void)state;
	memset(&exp, 0, sizeof(exp));
	exp.privacy.dp = EXPERIMENT_DP_NODE;
	exp.privacy.dp_noise_multiplier = 1.1;
	exp.privacy.dp_delta = 1e-5;
	for (uint64_t r = 1; r < 8; r++)
		assert_int_equal(fedc_dp_epsilon(0.5, 1.1, r, 1e-5, &eps[r], NULL), FEDC_OK);
	/* a budget between epsilon after 4 and after 5 rounds: rounds 1-4 run, 5 stops */
	exp.privacy.epsilon_max = (eps[4] + eps[5]) / 2;
	for (uint32_t r = 1; r <= 4; r++) {
		assert_int_equal(privacy__budget_stops(&exp, 0.5, r, &stops, &after), FEDC_OK);
		assert_false(stops);
		assert_true(after == eps[r]);
	}
	assert_int_equal(privacy__budget_stops(&exp, 0.5, 5, &stops, &after), FEDC_OK);
	assert_true(stops);
	assert_true(after == eps[5]);
	/* exactly at the budget still runs */
	exp.privacy.epsilon_max = eps[3];
	assert_int_equal(privacy__budget_stops(&exp, 0.5, 3, &stops, &after), FEDC_OK);
	assert_false(stops);
	/* no budget, or no DP: never stops */
	exp.privacy.epsilon_max = 0;
	assert_int_equal(privacy__budget_stops(&exp, 0.5, 7, &stops, &after), FEDC_OK);
	assert_false(stops);
	exp.privacy.epsilon_max = 1e-9;
	exp.privacy.dp = EXPERIMENT_DP_OFF;
	assert_int_equal(privacy__budget_stops(&exp, 0.5, 7, &stops, &after), FEDC_OK);
	assert_false(stops);
	assert_true(isnan(after));
	/* a lower q spends less */
	exp.privacy.dp = EXPERIMENT_DP_NODE;
	assert_int_equal(privacy__epsilon(&exp, 0.1, 5, &after), FEDC_OK);
	assert_true(after < eps[5]);
	assert_int_equal(privacy__epsilon(&exp, 0.5, 0, &after), FEDC_OK);
	assert_true(after == 0);
}

static void test_train_fields_and_weight(void **state)
{
	struct experiment exp;
	struct fedc_msg *m = fedc_msg_new(FEDC_CMD_TRAIN);

	(void)state;
	memset(&exp, 0, sizeof(exp));
	exp.privacy.dp_clip = 0.7;
	exp.privacy.dp_noise_multiplier = 1.3;
	exp.privacy.dp_delta = 1e-6;
	privacy__fill_train(&exp, 5, false, m);
	assert_false(fedc_msg_has(m, FEDC_F_DP_NOISE)); /* dp off */
	assert_int_equal(privacy__weight(&exp, 123), 123);
	exp.privacy.dp = EXPERIMENT_DP_NODE;
	assert_int_equal(privacy__weight(&exp, 123), 1);
	privacy__fill_train(&exp, 5, true, m);
	assert_false(fedc_msg_has(m, FEDC_F_DP_NOISE)); /* an evaluation */
	privacy__fill_train(&exp, 5, false, m);
	assert_true(fedc_msg_has(m, FEDC_F_DP_NOISE) && fedc_msg_has(m, FEDC_F_DP_CLIP) &&
		    fedc_msg_has(m, FEDC_F_DP_DELTA) && fedc_msg_has(m, FEDC_F_DP_PARTIES));
	assert_true(m->dp_clip == 0.7 && m->dp_noise == 1.3 && m->dp_delta == 1e-6);
	assert_int_equal(m->dp_parties, 1); /* local DP: each node adds all of the noise */
	exp.privacy.secure_aggregation = true;
	exp.min_nodes = 3;
	privacy__fill_train(&exp, 5, false, m);
	assert_int_equal(m->dp_parties, 3); /* shared out over min_nodes: any unmasked sum has them all */
	privacy__fill_train(&exp, 2, false, m);
	assert_int_equal(m->dp_parties, 2); /* never more than the nodes selected */
	fedc_msg_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_privacy_section),
		cmocka_unit_test(test_refused_combinations),
		cmocka_unit_test(test_secure_aggregation_refusals),
		cmocka_unit_test(test_sampling_rate),
		cmocka_unit_test(test_budget_stop_round),
		cmocka_unit_test(test_train_fields_and_weight),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
