/* What a node's sample count may buy it. FedAvg weights each update by the
 * training sample count its node claims; a rogue node that claims 2^64 - 616
 * samples makes its update the model (issue "Nothing gets past the walls":
 * accuracy fell from 0.96 to 0.31). Two walls, docs/security.md "Rogue
 * nodes": a claim must fit the dataset the node offered in `search`
 * (aggregator__check_claim, before the update is fetched), and no node may
 * hold more than [aggregator] max_weight of the total (aggregator__cap_weights,
 * at finish()). */
#include "aggregator_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum fedc_err aggregator__check_claim(uint64_t n_samples, uint64_t registered)
{
	if (n_samples == 0)
		return fedc_fail(FEDC_ERR_INVAL, "it claims 0 training samples");
	if (n_samples > registered)
		return fedc_fail(FEDC_ERR_INVAL,
				 "it claims %" PRIu64 " training samples, more than the %" PRIu64
				 " rows of the dataset it offered in search",
				 n_samples, registered);
	return FEDC_OK;
}

/* Water-filling. With the k largest weights capped at T and R the sum of the
 * others, T = c * (k * T + R) gives T = c * R / (1 - c * k). Every weight
 * above that T must be capped too; capping more only lowers T (each newly
 * capped w > T_k gives T_k+1 < T_k), so all of them are taken at once and
 * the loop ends within n passes with the one consistent level. With
 * max_weight * n <= 1 every node ends capped: no level fits, and equal
 * weights are the closest to the cap. */
void aggregator__cap_weights(const uint64_t *w, size_t n, double max_weight, double *out)
{
	double level = 0;
	size_t capped = 0;
	bool changed = true;

	for (size_t i = 0; i < n; i++)
		out[i] = (double)w[i];
	if (!(max_weight < 1.0) || n == 0)
		return;
	while (changed) {
		double rest = 0;

		if (max_weight * (double)capped >= 1.0)
			break; /* no level fits: equal weights below */
		for (size_t i = 0; i < n; i++) {
			if (out[i] >= 0)
				rest += out[i];
		}
		level = max_weight * rest / (1.0 - max_weight * (double)capped);
		changed = false;
		for (size_t i = 0; i < n; i++) {
			if (out[i] >= 0 && out[i] > level) {
				out[i] = -1; /* capped: marked, set to the level below */
				capped++;
				changed = true;
			}
		}
	}
	if (capped == n || max_weight * (double)capped >= 1.0) {
		for (size_t i = 0; i < n; i++)
			out[i] = 1.0;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (out[i] < 0)
			out[i] = level;
	}
}

enum fedc_err aggregator__share_weights(struct aggregator *agg)
{
	const struct aggregator_option_spec *spec;
	double cap = 1.0, *shares = NULL;
	uint64_t *claims = NULL;
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; (spec = aggregator__option_spec(i)); i++) {
		if (strcmp(spec->key, "max_weight") == 0 && aggregator__option_applies(agg->ops->name, spec))
			cap = agg->opts.max_weight;
	}
	rc = aggregator__alloc(agg->n_updates, sizeof(*claims), &claims);
	if (!rc)
		rc = aggregator__alloc(agg->n_updates, sizeof(*shares), &shares);
	if (rc)
		goto out;
	for (size_t k = 0; k < agg->n_updates; k++)
		claims[k] = agg->updates[k].weight;
	aggregator__cap_weights(claims, agg->n_updates, cap, shares);
	agg->share_total = 0;
	for (size_t k = 0; k < agg->n_updates; k++) { /* node-id order: the same sum every time */
		agg->updates[k].share = shares[k];
		agg->share_total += shares[k];
	}
out:
	free(claims);
	free(shares);
	return rc;
}
