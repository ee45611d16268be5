/* Fuzz target: the NIfTI volume reader of medical-volume folders
 * (node/dataset_nifti.h, dataset_nifti__read_volume through libnifti2).
 *
 * The input is one file, written as input.nii (libnifti2 tells NIfTI-1 from
 * NIfTI-2 by the header, and gzip by the first bytes whatever the name). A
 * success must hand back a volume within NIFTI_MAX_VOXELS whose every voxel
 * is finite (the harness reads them all, so that ASan sees an overrun); a
 * failure must leave no voxels. The corpus (corpus/nifti) holds small
 * NIfTI-1 and NIfTI-2 files, plain and gzip'd. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "dataset_nifti.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PATH_MAX];
	struct nifti_volume v;
	enum fedc_err rc;

	fuzz_write_file("input.nii", data, size, path);
	rc = dataset_nifti__read_volume(path, "input", &v);
	fuzz_require(rc == FEDC_OK || !v.voxels, "voxels left after a failure");
	if (rc == FEDC_OK) {
		size_t n = (size_t)v.d * v.h * v.w;

		fuzz_require(n >= 1 && n <= NIFTI_MAX_VOXELS, "a volume past the cap");
		for (size_t i = 0; i < n; i++)
			fuzz_require(isfinite(v.voxels[i]), "a voxel that is not finite");
		free(v.voxels);
	}
	return 0;
}
