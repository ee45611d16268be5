/* Previews of a registered dataset for its page in the console: the first
 * rows of a CSV file as its cells, and pictures as PNG: a few files of an
 * image folder (decoded as the node decodes them for a round), and the
 * middle axial slice of the first subjects' volumes of a NIfTI set.
 *
 * Everything is read through the node's own readers (csv_rows.h,
 * dataset_folder.h, dataset_image__decode, dataset_nifti__read_volume), from
 * the files as they are now: a preview does not check the registration's
 * digest (a round does, at load), and it reads only what it shows, never
 * the whole set. docs/node-console.md, "Datasets". */
#ifndef FEDC_CONSOLE_PREVIEW_H
#define FEDC_CONSOLE_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "fedc/buf.h"

#define PREVIEW_ROWS 10        /* rows of a CSV file shown */
#define PREVIEW_COLS 24        /* cells of a row shown; the rest are counted */
#define PREVIEW_IMAGES 4       /* pictures on a dataset's page */
#define PREVIEW_SIDE 192u      /* a picture's larger side at most, in pixels */
#define PREVIEW_PNG_MAX ((size_t)1 << 20)

/* Called with each of the first PREVIEW_ROWS rows of a CSV dataset's file,
 * as written (a header line is a row): at most PREVIEW_COLS cells, `total`
 * the row's own count. The cells are the file's bytes, to be escaped. */
typedef enum fedc_err (*preview_row_fn)(void *ctx, uint32_t total, uint32_t n, const char *const *cells);

/* FEDC_ERR_UNSUPPORTED for a kind other than csv; the reader's errors
 * (FEDC_ERR_IO, FEDC_ERR_MALFORMED naming the line, FEDC_ERR_TOO_BIG); what
 * fn returned. */
FEDC_NODISCARD
enum fedc_err preview__rows(const struct node_dataset *ds, preview_row_fn fn, void *ctx);

/* The files the pictures of `ds` come from, relative to ds->path, the
 * first PREVIEW_IMAGES in the folder's listing order: image files (kind
 * images), <subject>/<modality>.nii[.gz] (kind nifti). *n is 0 for the
 * other kinds. names[i] holds up to NODE_PATH_MAX bytes. FEDC_ERR_IO,
 * FEDC_ERR_MALFORMED, FEDC_ERR_NOMEM from the listing (dataset_folder.h). */
FEDC_NODISCARD
enum fedc_err preview__sources(const struct node_dataset *ds, char names[PREVIEW_IMAGES][NODE_PATH_MAX], size_t *n);

/* The PNG of picture `index` (< the *n of preview__sources) into `png`
 * (reset first): the image as decoded with the dataset's channels, or the
 * volume's middle slice (z = depth / 2) stretched from its lowest to its
 * highest value, y upwards; scaled down (nearest pixel) to PREVIEW_SIDE.
 * FEDC_ERR_NOT_FOUND past the last one; the decoders' errors, naming the
 * file; FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err preview__png(const struct node_dataset *ds, size_t index, struct fedc_buf *png);

#endif
