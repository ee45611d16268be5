/* `fedc-researcher plot DIR`: renders an experiment's learning curves (loss
 * and accuracy per round, read from DIR/rounds.csv and DIR/nodes.csv) as a
 * self-contained SVG file. */
#ifndef FEDC_RESEARCHER_PLOT_H
#define FEDC_RESEARCHER_PLOT_H

#include "fedc/err.h"

/* Writes the curves of the experiment in `dir` to `out_path` (atomically).
 * FEDC_ERR_IO (a file missing or unwritable), FEDC_ERR_MALFORMED (a history
 * file that is not what fedc-researcher writes; the detail names file and
 * line), FEDC_ERR_NOT_FOUND (no finished training round to plot). */
FEDC_NODISCARD
enum fedc_err plot__render(const char *dir, const char *out_path);

#endif
