/* Image folders (`fedc-node dataset add --type images`): PNG and JPEG files
 * under one folder, labelled by sub-folder or by a manifest, brought to one
 * size and channel count and normalized as registered. dataset.c dispatches
 * here on ds->type "images"; the listing and digest are dataset_folder.h's.
 * docs/node-admin.md, "Image folders". */
#ifndef FEDC_NODE_DATASET_IMAGE_H
#define FEDC_NODE_DATASET_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

#define IMAGE_MAX_SIDE 16384u            /* pixels per side of a decoded file */
#define IMAGE_MAX_PIXELS (1u << 26)      /* pixels of a decoded file */
#define IMAGE_MAX_FILE_BYTES (64u << 20) /* bytes of one image file */
#define IMAGE_MAX_MANIFEST_BYTES (256u << 20)

/* Decoded pixels: height rows of width pixels of `channels` bytes each
 * (grey, or red, green, blue), row-major. `pixels` is malloc'd. */
struct image_pixels {
	uint32_t width, height, channels;
	uint8_t *pixels;
};

/* Decodes a PNG or JPEG file (told apart by its first bytes) held in
 * memory, converting to `channels` (1: grey, 3: RGB; colour to grey by the
 * libraries' luma weights, an alpha channel dropped). `name` goes in the
 * messages. FEDC_ERR_MALFORMED: neither format, corrupt or truncated data
 * (a JPEG warning such as "premature end of data" counts as corrupt);
 * FEDC_ERR_TOO_BIG: past IMAGE_MAX_SIDE or IMAGE_MAX_PIXELS;
 * FEDC_ERR_UNSUPPORTED: a JPEG colour space that cannot be converted (CMYK);
 * FEDC_ERR_NOMEM. Never aborts: libpng's and libjpeg's errors come back here.
 * On failure out->pixels is NULL. */
FEDC_NODISCARD
enum fedc_err dataset_image__decode(const void *data, size_t len, const char *name, uint32_t channels,
				    struct image_pixels *out);

/* Inspects the folder ds->path with the kind's options `kind_options`
 * ("size=HxW;channels=1|3;normalize=unit|MEAN,STD..."; each may be absent)
 * and, when ds->labels_path is not "", the manifest there (lines
 * "file,label", file relative to the folder, label a class index from 0; an
 * optional header line). Labels otherwise come from the sub-folders: the
 * k-th sub-folder holding images, in byte-wise order, is class k. Every
 * file is read and decoded. On success fills ds->type ("images"), header
 * (""), label_column (-1), shape ("CxHxW"), options (canonical, with the
 * default size filled in), n_samples, n_features, n_classes, label_counts
 * and digest; on failure ds is unchanged. Errors name the file: a file that
 * is not .png/.jpg/.jpeg, a corrupt one, an image of another size when no
 * size was given, a file at the top with sub-folder labels, a manifest row
 * naming no file, a file the manifest does not name. */
FEDC_NODISCARD
enum fedc_err dataset_image__inspect(struct node_dataset *ds, const char *kind_options);

/* Loads a registered image folder: x is [n, C*H*W] floats, channels first;
 * y the class index; sample_ndim 3, sample_shape {C, H, W}. FEDC_ERR_DIGEST
 * (dataset_folder__changed) if a file changed, was added or removed. */
FEDC_NODISCARD
enum fedc_err dataset_image__load(const struct node_dataset *ds, struct fedc_data *out);

#endif
