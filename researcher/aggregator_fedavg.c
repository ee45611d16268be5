/* FedAvg (McMahan et al. 2017): the average of the nodes' parameters
 * weighted by their training sample counts (capped by [aggregator]
 * max_weight: aggregator_weights.c), summed in double in node-id order and
 * rounded to float32 once.
 *
 * FedProx (Li et al. 2020) is the same on this side: its proximal term
 * mu/2 ||w - w_global||^2 acts in the nodes' local training (the `mu` option
 * travels to them as the train request's fedprox_mu). */
#include "aggregator_internal.h"

#include <stdlib.h>
#include <string.h>

static enum fedc_err fedavg_begin(struct aggregator *agg, const struct fedc_params *global)
{
	return aggregator__plain_layouts(agg, global);
}

/* Turns the double sums into the float32 average in place: float j goes to
 * bytes 4j..4j+3, which only overlap doubles already read (indices <= j/2),
 * so no second buffer is needed and memory stays at the accumulator's size.
 * Byte access through memcpy keeps this clear of type-based aliasing. */
static void sums_to_average(double *acc, uint64_t n, double total)
{
	unsigned char *bytes = (unsigned char *)acc;

	for (uint64_t j = 0; j < n; j++) {
		double sum;
		float avg;

		memcpy(&sum, bytes + j * sizeof(double), sizeof(sum));
		avg = (float)(sum / total);
		memcpy(bytes + j * sizeof(float), &avg, sizeof(avg));
	}
}

static enum fedc_err fedavg_compute(struct aggregator *agg, float **result)
{
	double *acc = NULL;
	enum fedc_err rc = aggregator__sum_updates(agg, true, &acc);

	if (rc)
		return rc;
	sums_to_average(acc, agg->update_layout.n_elements, agg->share_total);
	agg->round = acc;
	*result = (float *)(void *)acc;
	return FEDC_OK;
}

static void fedavg_release(struct aggregator *agg)
{
	free(agg->round);
}

const struct agg_ops aggregator__fedavg_ops = {
	.name = "fedavg",
	.secure_sum = AGG_SUM_WEIGHTED,
	.begin = fedavg_begin,
	.compute = fedavg_compute,
	.release_round = fedavg_release,
};

const struct agg_ops aggregator__fedprox_ops = {
	.name = "fedprox",
	.secure_sum = AGG_SUM_WEIGHTED,
	.begin = fedavg_begin,
	.compute = fedavg_compute,
	.release_round = fedavg_release,
};
