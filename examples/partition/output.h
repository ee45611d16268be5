/* fedc-partition's writers: one party's rows as an IDX pair (images and
 * labels, gzip'd or plain) or as a CSV file, each replaced atomically
 * (fedc_atomic_*), so a run that fails leaves no half-written party. */
#ifndef FEDC_EXAMPLES_PARTITION_OUTPUT_H
#define FEDC_EXAMPLES_PARTITION_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/plan.h"

#define OUTPUT_MAX_DIMS 7 /* dimensions of one image (IDX: 8 with the count) */

/* An IDX input as loaded by the node's reader: x = pixel / 255, y = label. */
struct output_idx {
	const struct fedc_data *data;
	uint32_t dims[OUTPUT_MAX_DIMS], ndim;
	bool plain; /* uncompressed, no .gz */
};

/* A CSV input: its data lines as read (without line ends) and its header
 * line, NULL if it has none. */
struct output_csv {
	char **lines;
	size_t n_lines;
	const char *header;
	bool header_counts; /* "n_rows,n_features,...": n_rows is rewritten per party */
};

/* DIR/NAME-images-idx<d>-ubyte[.gz] and DIR/NAME-labels-idx1-ubyte[.gz] from
 * rows[0..n) of in->data. FEDC_ERR_IO (the detail names the file),
 * FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err output__idx(const struct output_idx *in, const char *dir, const char *name, const uint32_t *rows,
			  size_t n);

/* DIR/NAME.csv: the header (n_rows replaced by n under header_counts), then
 * lines rows[0..n), each ended by LF. FEDC_ERR_IO, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err output__csv(const struct output_csv *in, const char *dir, const char *name, const uint32_t *rows,
			  size_t n);

#endif
