/* libjpeg-turbo, loaded at the first JPEG an image folder decodes
 * (lazy_lib.h): an idle node does not map it. Defines the eight functions
 * that node/dataset_image_decode.c calls; a new one used there must be added
 * here, or the linker brings libjpeg back as a NEEDED library
 * (tests/node/idle_libraries.sh fails).
 *
 * The decoder asks for the library first (lazy__require(LAZY_JPEG),
 * lazy_require.h). Called without it, jpeg_std_error() fills an error
 * manager of its own whose format_message() gives the reason, and
 * jpeg_CreateDecompress() then fails through the caller's error_exit, the
 * way libjpeg reports every error. The other functions need a
 * decompressor that jpeg_CreateDecompress() made. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "lazy_lib.h"

enum { STD_ERROR, CREATE_DECOMPRESS, DESTROY_DECOMPRESS, MEM_SRC, READ_HEADER, START_DECOMPRESS, READ_SCANLINES,
       FINISH_DECOMPRESS, N_SYMS };

static const char *const symbols[N_SYMS + 1] = {
	"jpeg_std_error",   "jpeg_CreateDecompress", "jpeg_destroy_decompress", "jpeg_mem_src",
	"jpeg_read_header", "jpeg_start_decompress", "jpeg_read_scanlines",	"jpeg_finish_decompress",
	NULL,
};
static void *addrs[N_SYMS];
struct lazy_lib lazy_jpeg__lib = LAZY_LIB_INIT("libjpeg.so.62", "libjpeg62-turbo", "JPEG images", symbols, addrs);

static void unloaded_message(j_common_ptr cinfo, char *buffer)
{
	(void)cinfo;
	snprintf(buffer, JMSG_LENGTH_MAX, "%s", lazy_lib__error(&lazy_jpeg__lib));
}

/* As libjpeg's own error_exit: prints the message and exits, since an
 * error_exit must not return. fedc's decoder replaces it with one that
 * longjmps back to the decode. */
static void unloaded_exit(j_common_ptr cinfo)
{
	char message[JMSG_LENGTH_MAX];

	unloaded_message(cinfo, message);
	fprintf(stderr, "%s\n", message);
	exit(EXIT_FAILURE);
}

struct jpeg_error_mgr *jpeg_std_error(struct jpeg_error_mgr *err)
{
	if (!lazy_lib__load(&lazy_jpeg__lib)) {
		memset(err, 0, sizeof(*err));
		err->format_message = unloaded_message;
		err->error_exit = unloaded_exit;
		return err;
	}
	return ((struct jpeg_error_mgr * (*)(struct jpeg_error_mgr *)) addrs[STD_ERROR])(err);
}

void jpeg_CreateDecompress(j_decompress_ptr cinfo, int version, size_t structsize)
{
	typedef void (*create_fn)(j_decompress_ptr, int, size_t);

	if (!lazy_lib__load(&lazy_jpeg__lib)) {
		cinfo->err->error_exit((j_common_ptr)cinfo);
		return;
	}
	((create_fn)addrs[CREATE_DECOMPRESS])(cinfo, version, structsize);
}

/* Called on every exit of a decode, also when the library never loaded. */
void jpeg_destroy_decompress(j_decompress_ptr cinfo)
{
	if (lazy_jpeg__lib.loaded)
		((void (*)(j_decompress_ptr))addrs[DESTROY_DECOMPRESS])(cinfo);
}

void jpeg_mem_src(j_decompress_ptr cinfo, const unsigned char *inbuffer, unsigned long insize)
{
	((void (*)(j_decompress_ptr, const unsigned char *, unsigned long))addrs[MEM_SRC])(cinfo, inbuffer, insize);
}

int jpeg_read_header(j_decompress_ptr cinfo, boolean require_image)
{
	return ((int (*)(j_decompress_ptr, boolean))addrs[READ_HEADER])(cinfo, require_image);
}

boolean jpeg_start_decompress(j_decompress_ptr cinfo)
{
	return ((boolean(*)(j_decompress_ptr))addrs[START_DECOMPRESS])(cinfo);
}

JDIMENSION jpeg_read_scanlines(j_decompress_ptr cinfo, JSAMPARRAY scanlines, JDIMENSION max_lines)
{
	return ((JDIMENSION(*)(j_decompress_ptr, JSAMPARRAY, JDIMENSION))addrs[READ_SCANLINES])(cinfo, scanlines,
												 max_lines);
}

boolean jpeg_finish_decompress(j_decompress_ptr cinfo)
{
	return ((boolean(*)(j_decompress_ptr))addrs[FINISH_DECOMPRESS])(cinfo);
}
