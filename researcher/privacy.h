/* The experiment's side of privacy (docs/privacy.md): which combinations a
 * run refuses, the DP fields of `train`, the weight of an update, and the
 * accountant of the experiment with its budget.
 *
 * The accountant treats each round as one step of the sampled Gaussian
 * mechanism at the level of nodes: a node takes part with probability q =
 * selected / available (the sample size the experiment's `fraction` and
 * `min_nodes` give out of the nodes discovered), the sum of the clipped
 * changes has sensitivity dp_clip (every update weighs 1) and carries noise
 * of standard deviation dp_noise_multiplier * dp_clip. */
#ifndef FEDC_RESEARCHER_PRIVACY_H
#define FEDC_RESEARCHER_PRIVACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "experiment.h"
#include "fedc/message.h"

/* Refuses at `run` (before anything is sent) what does not go with node-level
 * DP: SCAFFOLD (its control variates are not clipped) and the robust
 * aggregators median, trimmed_mean, krum and multikrum (they pick or weigh
 * updates by their values: the sum's sensitivity is no longer dp_clip, and
 * the accountant's figure would not hold). FEDC_ERR_CONFIG naming both keys. */
FEDC_NODISCARD
enum fedc_err privacy__check_experiment(const struct experiment *exp);

static inline bool privacy__dp_on(const struct experiment *exp)
{
	return exp->privacy.dp == EXPERIMENT_DP_NODE;
}

/* Nodes selected per round out of `available` (selection.h's formula:
 * max(min_nodes, ceil(fraction * n)), at most n), and q = that / available
 * (1 when available is 0). */
size_t privacy__selected(const struct experiment *exp, size_t available);
double privacy__sampling_rate(const struct experiment *exp, size_t available);

/* Epsilon after `rounds` rounds at sampling rate q: fedc_dp_epsilon(q,
 * dp_noise_multiplier, rounds, dp_delta); 0 for 0 rounds. */
FEDC_NODISCARD
enum fedc_err privacy__epsilon(const struct experiment *exp, double q, uint64_t rounds, double *epsilon);

/* Whether the budget (epsilon_max, 0: none) stops the run before round
 * `round`: true when the epsilon after it would pass epsilon_max; *after
 * gets that epsilon. False when DP is off or there is no budget. */
FEDC_NODISCARD
enum fedc_err privacy__budget_stops(const struct experiment *exp, double q, uint32_t round, bool *stops,
				    double *after);

/* Sets the dp_* fields of a training request when dp = node: dp_parties is
 * the number of nodes selected for the round under secure aggregation (the
 * noise is shared out), else 1 (each node adds all of it). */
void privacy__fill_train(const struct experiment *exp, size_t n_selected, bool evaluate_only, struct fedc_msg *m);

/* The weight of an update in the average: 1 with DP (the sum's sensitivity
 * is then dp_clip), else its sample count. */
uint64_t privacy__weight(const struct experiment *exp, uint64_t n_samples);

#endif
