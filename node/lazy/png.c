/* libpng, loaded at the first PNG an image folder decodes (lazy_lib.h): an
 * idle node maps neither it nor the zlib it brings. Defines the three
 * functions of libpng's simplified API that node/dataset_image_decode.c
 * calls; a new one used there must be added here, or the linker brings
 * libpng back as a NEEDED library (tests/node/idle_libraries.sh fails).
 *
 * Without the library png_image_begin_read_from_memory() fails with the
 * reason in image->message, as libpng reports its own errors, so the
 * decoder's error names the missing package. */
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
static struct lazy_lib png_lib = LAZY_LIB_INIT("libpng16.so.16", "libpng16-16", symbols, addrs);

int png_image_begin_read_from_memory(png_imagep image, png_const_voidp memory, size_t size)
{
	typedef int (*begin_fn)(png_imagep, png_const_voidp, size_t);

	if (!lazy_lib__load(&png_lib)) {
		snprintf(image->message, sizeof(image->message), "libpng16.so.16 not loaded: install libpng16-16");
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

	if (!lazy_lib__load(&png_lib))
		return 0;
	return ((finish_fn)addrs[FINISH_READ])(image, background, buffer, row_stride, colormap);
}

/* An image that never began holds nothing of libpng's. */
void png_image_free(png_imagep image)
{
	if (png_lib.loaded)
		((void (*)(png_imagep))addrs[IMAGE_FREE])(image);
}
