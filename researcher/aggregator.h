/* Aggregators: combine node updates into the next global parameters.
 *
 * The caller adds updates in canonical order (sorted by node id), so that the
 * same inputs give bit-identical results whatever order replies arrived in.
 * FedAvg-family aggregators keep O(model size) memory: one accumulator,
 * whatever the number of nodes; updates are mapped files read in place. */
#ifndef FEDC_RESEARCHER_AGGREGATOR_H
#define FEDC_RESEARCHER_AGGREGATOR_H

#include <stdint.h>

#include "fedc/err.h"
#include "fedc/params.h"

struct aggregator; /* opaque */

/* Names accepted in the experiment file's [aggregator] name. */
enum fedc_err aggregator__new(const char *name, struct aggregator **out);
void aggregator__free(struct aggregator *agg);

/* Starts a round over the layout of `global` (the parameters the nodes were
 * sent). Forgets any earlier round. */
enum fedc_err aggregator__begin(struct aggregator *agg, const struct fedc_params *global);
/* Adds one node's update with its weight (training sample count, > 0).
 * FEDC_ERR_MALFORMED (detail says which tensor) if the update's tensors differ
 * in names, dtypes or shapes from the round's layout, or hold a NaN or
 * infinity; nothing is accumulated then. */
enum fedc_err aggregator__add(struct aggregator *agg, const struct fedc_params *update, uint64_t n_samples);
/* Writes the aggregated parameters to `out_path` atomically.
 * FEDC_ERR_INVAL if no update was added. */
enum fedc_err aggregator__finish(struct aggregator *agg, const char *out_path);

#endif
