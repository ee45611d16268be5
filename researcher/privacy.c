/* The experiment's side of privacy (privacy.h). */
#include "privacy.h"

#include <math.h>
#include <string.h>

#include "fedc/dp.h"

enum fedc_err privacy__check_experiment(const struct experiment *exp)
{
	static const char *const robust[] = { "median", "trimmed_mean", "krum", "multikrum" };
	const char *method = exp->aggregator;

	if (!privacy__dp_on(exp))
		return FEDC_OK;
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
	size_t k;

	if (exp->fraction >= 1.0 || available == 0)
		return available;
	k = (size_t)ceil(exp->fraction * (double)available);
	k = k < exp->min_nodes ? exp->min_nodes : k;
	return k > available ? available : k;
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
	m->dp_parties = exp->privacy.secure_aggregation && n_selected > 0 ? n_selected : 1;
	fedc_msg_set(m, FEDC_F_DP_CLIP);
	fedc_msg_set(m, FEDC_F_DP_NOISE);
	fedc_msg_set(m, FEDC_F_DP_DELTA);
	fedc_msg_set(m, FEDC_F_DP_PARTIES);
}

uint64_t privacy__weight(const struct experiment *exp, uint64_t n_samples)
{
	return privacy__dp_on(exp) ? 1 : n_samples;
}
