/* keep_best ([training] keep_best = METRIC): the global model that scored
 * best on METRIC, kept as OUTPUT_DIR/best.params beside global.params.
 *
 * The nodes score each global model on their test rows when it reaches them
 * (test_on_global_updates): the model after round r is scored at the start of
 * round r + 1, and the final one by the final evaluation. The score is the
 * sample-weighted mean over the nodes that answered, the figure the round
 * line shows. A model is "after round r" (0: the initial one); its file is
 * the breakpoint's, breakpoints/round-r/global.params, so best.params is a
 * copy of that, and the choice survives a resume: the breakpoint records it
 * and resume copies the same file again. */
#ifndef FEDC_RESEARCHER_BEST_H
#define FEDC_RESEARCHER_BEST_H

#include <stdbool.h>
#include <stdint.h>

#include "fedc/err.h"

#define BEST_FILE "best.params"

struct best_model {
	bool have;
	uint32_t round; /* the model after this round */
	double value;   /* its score */
};

/* Whether lower is better for `metric`: "loss", names ending in "loss",
 * "mse", "mae" and "rmse". Every other metric is maximised. */
bool best__minimised(const char *metric);

/* Whether `value` (finite) beats `current` on `metric`; ties keep the
 * earlier model. */
bool best__improves(const char *metric, double value, const struct best_model *current);

/* Makes OUTPUT_DIR/best.params a copy of the global model after `round`
 * (its breakpoint, checked against its digest), replaced atomically.
 * FEDC_ERR_NOT_FOUND, FEDC_ERR_DIGEST, FEDC_ERR_IO with a detail. */
FEDC_NODISCARD
enum fedc_err best__install(const char *output_dir, uint32_t round);

#endif
