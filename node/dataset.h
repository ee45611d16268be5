/* Dataset files: inspection at registration and loading for a round.
 * The node loads the data; a plan only ever sees the in-memory view. */
#ifndef FEDC_NODE_DATASET_H
#define FEDC_NODE_DATASET_H

#include <stdbool.h>

#include "fedc/err.h"
#include "fedc/plan.h"
#include "db.h"

/* Options given at registration (`fedc-node dataset add`). */
struct dataset_options {
	const char *type;        /* "csv" */
	const char *header;      /* "auto" (default), "counts", "names", "none" */
	int label_column;        /* -1 = last column */
	bool regression;         /* target is a real value, not a class index */
};

/* Reads and validates the whole file at ds->path with `opts`, and fills
 * ds->type, header, label_column, n_samples, n_features, n_classes and digest.
 * A missing or unreadable file, an empty one, a ragged row, a non-numeric
 * cell or a class label that is not a small non-negative integer fails with
 * FEDC_ERR_IO or FEDC_ERR_MALFORMED and a detail naming the line and column. */
enum fedc_err dataset__inspect(struct node_dataset *ds, const struct dataset_options *opts);

/* Loads a registered dataset into `out` (x and y malloc'd; free with
 * dataset__free_data). Refuses (FEDC_ERR_DIGEST) a file whose SHA-256 is no
 * longer ds->digest. */
enum fedc_err dataset__load(const struct node_dataset *ds, struct fedc_data *out);
void dataset__free_data(struct fedc_data *data);

#endif
