/* CSV datasets: the part of dataset.h's inspect and load that reads them.
 * dataset.c dispatches here on ds->type "csv". The format, the header modes
 * and the "auto" rule are in docs/node-admin.md ("CSV files"). */
#ifndef FEDC_NODE_DATASET_CSV_H
#define FEDC_NODE_DATASET_CSV_H

#include "dataset.h"

/* Reads and validates the whole file ds->path with `opts` (non-NULL), as
 * dataset__inspect describes: on success fills ds->type ("csv"), header (the
 * mode found), label_column, shape, n_samples, n_features, n_classes,
 * label_counts and digest; on failure ds is unchanged. FEDC_ERR_IO,
 * FEDC_ERR_MALFORMED (the detail names the line and column), FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err dataset_csv__inspect(struct node_dataset *ds, const struct dataset_options *opts);

/* Loads a registered CSV set, sized from the registration and hashed while
 * read; FEDC_ERR_DIGEST if the file changed since registration,
 * FEDC_ERR_INVAL for a record whose header mode is still "auto". `out` is
 * zeroed first and left zeroed on failure. */
FEDC_NODISCARD
enum fedc_err dataset_csv__load(const struct node_dataset *ds, struct fedc_data *out);

#endif
