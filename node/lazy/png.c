/* libpng, loaded at the first PNG an image folder decodes (lazy_lib.h): an
 * idle node maps neither it nor the zlib it brings. Defines the three
 * functions of libpng's simplified API that node/dataset_image_decode.c
 * calls; a new one used there must be added here, or the linker brings
 * libpng back as a NEEDED library (tests/node/idle_libraries.sh fails).
 *
 * The decoder asks for the library first (lazy__require(LAZY_PNG),
 * lazy_require.h). Called without it, png_image_begin_read_from_memory()
 * fails as libpng fails, with the reason in image->message. */
#include <png.h>
#include <stdio.h>

#include "lazy_lib.h"

enum { BEGIN_READ_FROM_MEMORY, FINISH_READ, IMAGE_FREE, N_SYMS };

static const char *const symbols[N_SYMS + 1] = {
	"png_image_begin_read_from_memory",
	"png_image_finish_read",
	"png_image_free",
	NULL,
};
static void *addrs[N_SYMS];
struct lazy_lib lazy_png__lib = LAZY_LIB_INIT("libpng16.so.16", "libpng16-16", "PNG images", symbols, addrs);

int png_image_begin_read_from_memory(png_imagep image, png_const_voidp memory, size_t size)
{
	typedef int (*begin_fn)(png_imagep, png_const_voidp, size_t);

	if (!lazy_lib__load(&lazy_png__lib)) {
		snprintf(image->message, sizeof(image->message), "%s", lazy_lib__error(&lazy_png__lib));
		image->warning_or_error = PNG_IMAGE_ERROR;
		return 0;
	}
	return ((begin_fn)addrs[BEGIN_READ_FROM_MEMORY])(image, memory, size);
}

/* Only reached after a successful begin, so the library is loaded. */
int png_image_finish_read(png_imagep image, png_const_colorp background, void *buffer, png_int_32 row_stride,
			  void *colormap)
{
	typedef int (*finish_fn)(png_imagep, png_const_colorp, void *, png_int_32, void *);

	if (!lazy_lib__load(&lazy_png__lib))
		return 0;
	return ((finish_fn)addrs[FINISH_READ])(image, background, buffer, row_stride, colormap);
}

/* An image that never began holds nothing of libpng's. */
void png_image_free(png_imagep image)
{
	if (lazy_png__lib.loaded)
		((void (*)(png_imagep))addrs[IMAGE_FREE])(image);
}
