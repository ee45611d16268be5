/* One NIfTI volume through libnifti2 (dataset_nifti.h): the header is read
 * and checked first (nifti_image_read without data), so that no allocation
 * is sized from a header this node would refuse; then the data. libnifti2
 * reports its errors by return value (never longjmp or exit); its own
 * messages to stderr are silenced (debug level 0) and ours name the file. */
#include "dataset_nifti.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nifti2_io.h>

#include "lazy/lazy_require.h"

/* The voxel types read, each converted to float. */
static bool type_supported(int datatype)
{
	switch (datatype) {
	case DT_UINT8: case DT_INT8: case DT_INT16: case DT_UINT16: case DT_INT32: case DT_UINT32:
	case DT_INT64: case DT_UINT64: case DT_FLOAT32: case DT_FLOAT64:
		return true;
	default:
		return false;
	}
}

static double voxel(const nifti_image *nim, size_t i)
{
	const void *p = nim->data;

	switch (nim->datatype) {
	case DT_UINT8: return ((const uint8_t *)p)[i];
	case DT_INT8: return ((const int8_t *)p)[i];
	case DT_INT16: return ((const int16_t *)p)[i];
	case DT_UINT16: return ((const uint16_t *)p)[i];
	case DT_INT32: return ((const int32_t *)p)[i];
	case DT_UINT32: return ((const uint32_t *)p)[i];
	case DT_INT64: return (double)((const int64_t *)p)[i];
	case DT_UINT64: return (double)((const uint64_t *)p)[i];
	case DT_FLOAT32: return ((const float *)p)[i];
	default: return ((const double *)p)[i];
	}
}

static enum fedc_err check_header(const nifti_image *nim, const char *name)
{
	if (nim->ndim < 1 || nim->ndim > 4 || (nim->ndim == 4 && nim->nt != 1))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: %lld dimensions; a volume has 3 (or 4 with one time point)", name,
				 (long long)nim->ndim);
	if (nim->nx < 1 || nim->ny < 1 || nim->nz < 1)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: dimensions %lldx%lldx%lld", name, (long long)nim->nx,
				 (long long)nim->ny, (long long)nim->nz);
	if (nim->nx > NIFTI_MAX_VOXELS || nim->ny > NIFTI_MAX_VOXELS || nim->nz > NIFTI_MAX_VOXELS ||
	    (uint64_t)nim->nx * (uint64_t)nim->ny * (uint64_t)nim->nz > NIFTI_MAX_VOXELS || nim->nvox < 1 ||
	    nim->nvox > NIFTI_MAX_VOXELS)
		return fedc_fail(FEDC_ERR_TOO_BIG, "%s: more than %u voxels", name, NIFTI_MAX_VOXELS);
	if ((uint64_t)nim->nx * (uint64_t)nim->ny * (uint64_t)nim->nz != (uint64_t)nim->nvox)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: the voxel count does not match the dimensions", name);
	if (!type_supported(nim->datatype))
		return fedc_fail(FEDC_ERR_UNSUPPORTED, "%s: voxel type %s is not supported (integers or floats)", name,
				 nifti_datatype_string(nim->datatype));
	return FEDC_OK;
}

static enum fedc_err convert(const nifti_image *nim, const char *name, struct nifti_volume *out)
{
	bool scaled = nim->scl_slope != 0 && isfinite(nim->scl_slope) && isfinite(nim->scl_inter);

	out->voxels = malloc((size_t)nim->nvox * sizeof(float));
	if (!out->voxels)
		return FEDC_ERR_NOMEM;
	for (size_t i = 0; i < (size_t)nim->nvox; i++) {
		double v = voxel(nim, i);

		if (scaled)
			v = v * nim->scl_slope + nim->scl_inter;
		if (!isfinite(v) || fabs(v) > 3e38)
			return fedc_fail(FEDC_ERR_MALFORMED, "%s: voxel %zu is %g, not a finite float", name, i, v);
		out->voxels[i] = (float)v;
	}
	out->w = (uint32_t)nim->nx;
	out->h = (uint32_t)nim->ny;
	out->d = (uint32_t)nim->nz;
	return FEDC_OK;
}

enum fedc_err dataset_nifti__read_volume(const char *path, const char *name, struct nifti_volume *out)
{
	nifti_image *nim;
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	rc = lazy__require(LAZY_NIFTI); /* else the read below finds "no file" */
	if (rc)
		return rc;
	nifti_set_debug_level(0);
	nim = nifti_image_read(path, 0);
	if (!nim)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: not a readable NIfTI-1 or NIfTI-2 file", name);
	rc = check_header(nim, name);
	if (!rc && (nifti_image_load(nim) != 0 || !nim->data))
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: the voxel data is truncated or corrupt", name);
	if (!rc)
		rc = convert(nim, name, out);
	nifti_image_free(nim);
	if (rc) {
		free(out->voxels);
		memset(out, 0, sizeof(*out));
	}
	return rc;
}
