/* `fedc-researcher plot DIR`: renders an experiment's learning curves (loss
 * and accuracy per round, read from DIR/rounds.csv and DIR/nodes.csv) as a
 * self-contained SVG file; and heatmaps (cross-site validation, xval.h). */
#ifndef FEDC_RESEARCHER_PLOT_H
#define FEDC_RESEARCHER_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "fedc/err.h"

/* Writes the curves of the experiment in `dir` to `out_path` (atomically).
 * FEDC_ERR_IO (a file missing or unwritable), FEDC_ERR_MALFORMED (a history
 * file that is not what fedc-researcher writes; the detail names file and
 * line), FEDC_ERR_NOT_FOUND (no finished training round to plot). */
FEDC_NODISCARD
enum fedc_err plot__render(const char *dir, const char *out_path);

/* One heatmap: n_rows x n_cols values, row by row; NaN is an empty cell
 * (drawn grey, marked "-"). Colours run from the worst value of the map
 * (light) to the best (dark); `lower_better` says which end is best. */
struct plot_heatmap {
	const char *title;
	size_t n_rows, n_cols;
	const char *const *row_labels;
	const char *const *col_labels;
	const double *values;
	bool lower_better;
};

/* Draws `n` heatmaps one below the other into `out_path` (atomically), with
 * `caption` under them all. FEDC_ERR_IO, FEDC_ERR_INVAL (nothing to draw). */
FEDC_NODISCARD
enum fedc_err plot__heatmaps(const char *out_path, const struct plot_heatmap *maps, size_t n, const char *caption);

#endif
