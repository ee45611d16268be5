/* libnifti2 (and its znzlib and zlib), loaded at the first NIfTI volume a
 * dataset reads (lazy_lib.h): an idle node maps none of them. Defines the
 * five functions that node/dataset_nifti_volume.c calls; a new one used
 * there must be added here, or the linker brings libnifti2 back as a
 * NEEDED library (tests/node/idle_libraries.sh fails).
 *
 * The reader asks for the library first (lazy__require(LAZY_NIFTI),
 * lazy_require.h): libnifti2 has no error text to carry the reason.
 * Called without it, nifti_set_debug_level() does nothing and
 * nifti_image_read() finds no image (NULL). The others take an image
 * nifti_image_read() returned. */
#include <nifti2_io.h>

#include "lazy_lib.h"

enum { SET_DEBUG_LEVEL, IMAGE_READ, IMAGE_LOAD, IMAGE_FREE, DATATYPE_STRING, N_SYMS };

static const char *const symbols[N_SYMS + 1] = {
	"nifti_set_debug_level", "nifti_image_read", "nifti_image_load", "nifti_image_free", "nifti_datatype_string",
	NULL,
};
static void *addrs[N_SYMS];
struct lazy_lib lazy_nifti__lib = LAZY_LIB_INIT("libnifti2.so.2", "libnifti2-2", "NIfTI volumes", symbols, addrs);

void nifti_set_debug_level(int level)
{
	if (lazy_lib__load(&lazy_nifti__lib))
		((void (*)(int))addrs[SET_DEBUG_LEVEL])(level);
}

nifti_image *nifti_image_read(const char *hname, int read_data)
{
	if (!lazy_lib__load(&lazy_nifti__lib))
		return NULL;
	return ((nifti_image * (*)(const char *, int)) addrs[IMAGE_READ])(hname, read_data);
}

int nifti_image_load(nifti_image *nim)
{
	return ((int (*)(nifti_image *))addrs[IMAGE_LOAD])(nim);
}

void nifti_image_free(nifti_image *nim)
{
	((void (*)(nifti_image *))addrs[IMAGE_FREE])(nim);
}

char const *nifti_datatype_string(int dt)
{
	return ((char const *(*)(int))addrs[DATATYPE_STRING])(dt);
}
