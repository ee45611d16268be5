/* Dataset files: inspection at registration and loading for a round.
 * The node loads the data; a plan only ever sees the in-memory view. */
#ifndef FEDC_NODE_DATASET_H
#define FEDC_NODE_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/plan.h"
#include "db.h"

/* Options given at registration (`fedc-node dataset add`). The CSV options
 * (header, label_column, regression) mean nothing to an IDX set. */
struct dataset_options {
	const char *type;        /* "csv", "idx" or "images" */
	const char *header;      /* "auto" (default), "counts", "names", "none" */
	int label_column;        /* -1 = last column */
	bool regression;         /* target is a real value, not a class index */
};

/* Reads and validates the whole dataset with `opts`, and fills ds->type,
 * header, label_column, shape, n_samples, n_features, n_classes, label_counts
 * and digest; on failure ds is left as it was.
 * CSV: the file ds->path. A missing or unreadable file, an empty one, a
 * ragged row, a non-numeric cell or a class label that is not a small
 * non-negative integer fails with FEDC_ERR_IO or FEDC_ERR_MALFORMED and a
 * detail naming the line and column.
 * IDX: images ds->path, labels ds->labels_path (see dataset_idx.h).
 * Images ("images"): the folder ds->path, a manifest ds->labels_path or "",
 * and the kind's options as given in ds->options ("size=28x28;channels=1",
 * each key may be absent), which inspect replaces with the canonical list
 * (dataset_image.h).
 * Another type: FEDC_ERR_UNSUPPORTED. */
FEDC_NODISCARD
enum fedc_err dataset__inspect(struct node_dataset *ds, const struct dataset_options *opts);

/* Loads a registered dataset into `out` (x and y malloc'd; free with
 * dataset__free_data). Refuses (FEDC_ERR_DIGEST) a file whose SHA-256 is no
 * longer ds->digest. */
FEDC_NODISCARD
enum fedc_err dataset__load(const struct node_dataset *ds, struct fedc_data *out);
void dataset__free_data(struct fedc_data *data);

/* Rows per class as stored in ds->label_counts: "212,357" (class 0 first).
 * format: false if `cap` is too small (out is then ""). parse: false unless
 * `text` holds exactly `n` counts. */
bool dataset__format_label_counts(const uint64_t *counts, uint32_t n, char *out, size_t cap);
bool dataset__parse_label_counts(const char *text, uint64_t *counts, uint32_t n);

/* ---- shared by the format readers (dataset.c, dataset_idx.c) ---- */

/* Opens `path` read-only; FEDC_ERR_IO naming it if missing or not a regular file. */
FEDC_NODISCARD
enum fedc_err dataset__open_regular(const char *path, int *fd_out);
/* Allocates out->x (rows x features) and out->y; FEDC_ERR_TOO_BIG, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err dataset__alloc_data(struct fedc_data *out, uint64_t rows, uint64_t features);
/* FEDC_ERR_DIGEST: "PATH: the file changed since dataset ... was registered
 * (WHY); ... register it again". `path` may be NULL when `why` names it. */
FEDC_NODISCARD
enum fedc_err dataset__changed(const struct node_dataset *ds, const char *path, const char *why);

#endif
