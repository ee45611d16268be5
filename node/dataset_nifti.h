/* Medical volumes (`fedc-node dataset add --type nifti`): one folder per
 * subject holding NIfTI-1 or NIfTI-2 volumes (.nii or .nii.gz, read by
 * libnifti2), in the manner of Fed-BioMed's MedicalFolderDataset:
 *
 *   DIR/<subject>/<modality>.nii.gz   (e.g. DIR/sub-01/T1.nii.gz, DIR/sub-01/seg.nii.gz)
 *
 * joined by subject id to a demographics CSV. dataset.c dispatches here on
 * ds->type "nifti"; the listing and digest are dataset_folder.h's (the
 * demographics file is the extra file). docs/node-admin.md, "Medical
 * volumes". */
#ifndef FEDC_NODE_DATASET_NIFTI_H
#define FEDC_NODE_DATASET_NIFTI_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

#define NIFTI_MAX_VOXELS (1u << 26)          /* voxels of one volume */
#define NIFTI_MAX_FILE_BYTES (1024u << 20)   /* bytes of one file */
#define NIFTI_MAX_TABLE_BYTES (64u << 20)    /* the demographics CSV */
#define NIFTI_MAX_FEATURES 64                /* --features columns */
#define NIFTI_MAX_CLASSES 65536u

/* One volume as floats, [D][H][W] row-major (W = the file's x axis, the
 * fastest in NIfTI; H = y; D = z), scaled by the file's scl_slope and
 * scl_inter when the slope is not 0. `voxels` is malloc'd. */
struct nifti_volume {
	uint32_t d, h, w;
	float *voxels;
};

/* Reads the NIfTI file `path` (`name` in messages). A 3-D volume, or 4-D
 * with one time point; integer or float voxels (not complex or RGB); every
 * value finite. FEDC_ERR_MALFORMED: not NIfTI, a corrupt or truncated file
 * or gzip stream, other dimensions, a value not finite; FEDC_ERR_TOO_BIG:
 * more than NIFTI_MAX_VOXELS; FEDC_ERR_UNSUPPORTED: the voxel type;
 * FEDC_ERR_NOMEM. On failure out->voxels is NULL. */
FEDC_NODISCARD
enum fedc_err dataset_nifti__read_volume(const char *path, const char *name, struct nifti_volume *out);

/* Inspects the folder ds->path with the kind's options `kind_options`
 * ("modality=T1;label_column=NAME|mask=MODALITY;subject_column=NAME;
 * size=DxHxW;normalize=zscore|none;features=a,b") and the demographics
 * CSV ds->labels_path ("" for none: then labels must come from a mask).
 * On success fills ds->type ("nifti"), header (""), label_column (-1),
 * shape ("1xDxHxW"), options (canonical, with the rows of the table that
 * have no subject folder counted as skipped_rows), n_samples, n_features
 * (D*H*W, plus one per feature column), n_classes, label_counts (subjects
 * per class, or voxels per class for a mask) and digest; on failure ds is
 * unchanged. Errors name the subject, file, line or column. */
FEDC_NODISCARD
enum fedc_err dataset_nifti__inspect(struct node_dataset *ds, const char *kind_options);

/* Loads a registered set: x is [n, D*H*W (+ features)] floats, y one class
 * per subject or, with a mask, D*H*W classes (label_width); sample_ndim 4,
 * sample_shape {1, D, H, W}. FEDC_ERR_DIGEST (dataset_folder__changed) if a
 * file or the table changed, was added or removed. */
FEDC_NODISCARD
enum fedc_err dataset_nifti__load(const struct node_dataset *ds, struct fedc_data *out);

#endif
