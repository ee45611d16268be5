/* The experiment's side of privacy (privacy.h). */
#include "privacy.h"

#include "aggregator.h"
#include "selection.h"

#include <math.h>
#include <string.h>

#include "fedc/dp.h"

/* Secure aggregation hands the aggregator a sum: the methods that need the
 * updates one by one, and a cap on one node's weight, cannot work on it. */
static enum fedc_err check_secure_aggregation(const struct experiment *exp)
{
	const struct experiment_privacy *pv = &exp->privacy;

	if (!pv->secure_aggregation)
		return FEDC_OK;
	if (!aggregator__secure_sum_kind(exp->aggregator, NULL))
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [privacy] secure_aggregation = on does not go with [aggregator] "
				 "name = %s: it looks at each node's update, which secure aggregation hides (the "
				 "researcher learns only their sum); use fedavg, fedprox, scaffold or "
				 "fedadam/fedyogi/fedadagrad", exp->path, exp->aggregator);
	if (exp->aggregator_options.max_weight < 1.0)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [privacy] secure_aggregation = on does not go with [aggregator] "
				 "max_weight = %g: the nodes' weights are inside the masked sum, so none can be capped",
				 exp->path, exp->aggregator_options.max_weight);
	if (pv->secagg_neighbours % 2 != 0)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [privacy] secagg_neighbours = %lld: the SecAgg+ graph needs an "
				 "even degree (each node's neighbours are the k/2 on either side of it on a ring)",
				 exp->path, (long long)pv->secagg_neighbours);
	if (pv->secagg_threshold == 1)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [privacy] secagg_threshold = 1 would let any one node rebuild "
				 "another's secrets: use 0 (a strict majority) or at least 2", exp->path);
	return FEDC_OK;
}

enum fedc_err privacy__check_experiment(const struct experiment *exp)
{
	static const char *const robust[] = { "median", "trimmed_mean", "krum", "multikrum" };
	const char *method = exp->aggregator;
	enum fedc_err rc = check_secure_aggregation(exp);

	if (rc || !privacy__dp_on(exp))
		return rc;
	if (!(exp->privacy.dp_noise_multiplier > 0))
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [privacy] dp = node with dp_noise_multiplier = 0 adds no noise: "
				 "its epsilon is infinite; set dp_noise_multiplier > 0 or dp = off", exp->path);
	if (strcmp(method, "scaffold") == 0)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [privacy] dp = node does not go with [aggregator] method = scaffold: "
						  "the control variates nodes send (scaffold.dc.*) are not clipped, so no "
						  "noise could bound them; use fedavg, fedprox or fedadam/fedyogi/fedadagrad",
				 exp->path);
	for (size_t i = 0; i < sizeof(robust) / sizeof(robust[0]); i++) {
		if (strcmp(method, robust[i]) == 0)
			return fedc_fail(FEDC_ERR_CONFIG, "%s: [privacy] dp = node does not go with [aggregator] method = %s: "
							  "it picks or trims updates by their values, so one node's change "
							  "moves the result by more than dp_clip and the accountant's epsilon "
							  "would not hold (it assumes a sum of clipped updates); use fedavg, "
							  "fedprox or fedadam/fedyogi/fedadagrad",
					 exp->path, method);
	}
	return FEDC_OK;
}

size_t privacy__selected(const struct experiment *exp, size_t available)
{
	return selection__count(exp->fraction, exp->min_nodes, available);
}

double privacy__sampling_rate(const struct experiment *exp, size_t available)
{
	if (available == 0)
		return 1.0;
	return (double)privacy__selected(exp, available) / (double)available;
}

enum fedc_err privacy__epsilon(const struct experiment *exp, double q, uint64_t rounds, double *epsilon)
{
	*epsilon = 0;
	if (rounds == 0)
		return FEDC_OK;
	return fedc_dp_epsilon(q, exp->privacy.dp_noise_multiplier, rounds, exp->privacy.dp_delta, epsilon, NULL);
}

enum fedc_err privacy__budget_stops(const struct experiment *exp, double q, uint32_t round, bool *stops,
				    double *after)
{
	enum fedc_err rc;

	*stops = false;
	*after = NAN;
	if (!privacy__dp_on(exp))
		return FEDC_OK;
	rc = privacy__epsilon(exp, q, round, after);
	if (!rc && exp->privacy.epsilon_max > 0 && *after > exp->privacy.epsilon_max)
		*stops = true;
	return rc;
}

void privacy__fill_train(const struct experiment *exp, size_t n_selected, bool evaluate_only, struct fedc_msg *m)
{
	if (!privacy__dp_on(exp) || evaluate_only)
		return;
	m->dp_clip = exp->privacy.dp_clip;
	m->dp_noise = exp->privacy.dp_noise_multiplier;
	m->dp_delta = exp->privacy.dp_delta;
	/* Under secure aggregation the noise is shared out over min_nodes, not
	 * over the nodes selected: any sum the researcher can unmask adds up
	 * at least min_nodes shares, so it carries at least the full noise
	 * whoever drops out. */
	m->dp_parties = 1;
	if (exp->privacy.secure_aggregation && n_selected > 0)
		m->dp_parties = exp->min_nodes < n_selected ? (exp->min_nodes ? exp->min_nodes : 1) : n_selected;
	fedc_msg_set(m, FEDC_F_DP_CLIP);
	fedc_msg_set(m, FEDC_F_DP_NOISE);
	fedc_msg_set(m, FEDC_F_DP_DELTA);
	fedc_msg_set(m, FEDC_F_DP_PARTIES);
}

uint64_t privacy__weight(const struct experiment *exp, uint64_t n_samples)
{
	return privacy__dp_on(exp) ? 1 : n_samples;
}
