/* FedAvg (McMahan et al. 2017): the average of the nodes' parameters
 * weighted by their training sample counts (capped by [aggregator]
 * max_weight: aggregator_weights.c), summed in double in node-id order and
 * rounded to float32 once.
 *
 * FedProx (Li et al. 2020) is the same on this side: its proximal term
 * mu/2 ||w - w_global||^2 acts in the nodes' local training (the `mu` option
 * travels to them as the train request's fedprox_mu). */
#include "aggregator_internal.h"


static enum fedc_err fedavg_begin(struct aggregator *agg, const struct fedc_params *global)
{
	return aggregator__plain_layouts(agg, global);
}

/* The average: each sum divided by the total share and rounded once. */
static void fedavg_block(struct aggregator *agg, size_t t, uint64_t first, size_t n, const double *sums,
			 float *dst)
{
	const double total = agg->share_total;

	(void)t;
	(void)first;
	for (size_t j = 0; j < n; j++)
		dst[j] = (float)(sums[j] / total);
}

const struct agg_ops aggregator__fedavg_ops = {
	.name = "fedavg",
	.secure_sum = AGG_SUM_WEIGHTED,
	.begin = fedavg_begin,
	.compute_block = fedavg_block,
};

const struct agg_ops aggregator__fedprox_ops = {
	.name = "fedprox",
	.secure_sum = AGG_SUM_WEIGHTED,
	.begin = fedavg_begin,
	.compute_block = fedavg_block,
};
