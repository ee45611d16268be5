/* IDX image sets (MNIST, Fashion-MNIST), plain or gzip'd: the part of
 * dataset.h's inspect and load that reads them. dataset.c dispatches here
 * on ds->type "idx". The format, the checks and the digest are in
 * docs/node-admin.md ("IDX image sets"). */
#ifndef FEDC_NODE_DATASET_IDX_H
#define FEDC_NODE_DATASET_IDX_H

#include "dataset.h"

/* Reads and validates the images file ds->path and the labels file
 * ds->labels_path; on success fills ds->type ("idx"), header (""),
 * label_column (-1), shape ("28x28"), n_samples, n_features, n_classes (largest
 * label + 1), label_counts and digest (SHA-256 of the images file's bytes then
 * the labels file's bytes, as stored on disk). On failure ds is unchanged.
 * FEDC_ERR_IO: missing, unreadable or not a regular file; FEDC_ERR_MALFORMED:
 * not IDX, corrupt gzip, bad dimensions, wrong size, counts that differ;
 * FEDC_ERR_UNSUPPORTED: an element type other than unsigned byte;
 * FEDC_ERR_TOO_BIG: a sample of more than 2^24 values. The detail names the
 * file. */
FEDC_NODISCARD
enum fedc_err dataset_idx__inspect(struct node_dataset *ds);

/* Loads a registered IDX set: x = pixel / 255 as float, row-major
 * n_samples x n_features; y = label. Sized from the registration, each file
 * read once and hashed while read; FEDC_ERR_DIGEST if either file changed
 * since registration. `out` is zeroed first and left zeroed on failure. */
FEDC_NODISCARD
enum fedc_err dataset_idx__load(const struct node_dataset *ds, struct fedc_data *out);

/* An unregistered pair of files, for tools: fills `ds` (named `name`) as
 * inspect does and loads it into `out`. FEDC_ERR_INVAL for a path too long,
 * else as inspect and load. */
FEDC_NODISCARD
enum fedc_err dataset_idx__read_files(const char *name, const char *images, const char *labels,
				      struct node_dataset *ds, struct fedc_data *out);

#endif
