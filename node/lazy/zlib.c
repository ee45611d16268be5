/* zlib, loaded at the first gzip'd IDX file a dataset reads (lazy_lib.h):
 * an idle node does not map it. Defines the four inflate functions and
 * zError() that node/dataset_idx.c calls; a new one used there must be
 * added here, or the linker brings libz back as a NEEDED library
 * (tests/node/idle_libraries.sh fails). libpng and libnifti2 load their own
 * libz as a dependency when they load: the executable exports none of these
 * definitions (libz is not NEEDED), so they bind to the real one.
 *
 * The IDX reader asks for the library first (lazy__require(LAZY_Z),
 * lazy_require.h). Called without it, inflateInit2_() fails with
 * Z_VERSION_ERROR and the reason in strm->msg. */
#include <zlib.h>

#include "lazy_lib.h"

enum { INFLATE_INIT2, INFLATE, INFLATE_END, INFLATE_RESET, ERROR_STRING, N_SYMS };

static const char *const symbols[N_SYMS + 1] = {
	"inflateInit2_", "inflate", "inflateEnd", "inflateReset", "zError", NULL,
};
static void *addrs[N_SYMS];
struct lazy_lib lazy_z__lib = LAZY_LIB_INIT("libz.so.1", "zlib1g", "gzip'd IDX files", symbols, addrs);

int inflateInit2_(z_streamp strm, int windowBits, const char *version, int stream_size)
{
	typedef int (*init_fn)(z_streamp, int, const char *, int);

	if (!lazy_lib__load(&lazy_z__lib)) {
		strm->msg = lazy_z__lib.error; /* set once by the failed load, kept for the process */
		return Z_VERSION_ERROR;
	}
	return ((init_fn)addrs[INFLATE_INIT2])(strm, windowBits, version, stream_size);
}

/* The others take a stream that inflateInit2_ set up: the library is
 * loaded; Z_STREAM_ERROR otherwise, as zlib answers a stream it never set
 * up. */
int inflate(z_streamp strm, int flush)
{
	return lazy_z__lib.loaded ? ((int (*)(z_streamp, int))addrs[INFLATE])(strm, flush) : Z_STREAM_ERROR;
}

int inflateEnd(z_streamp strm)
{
	return lazy_z__lib.loaded ? ((int (*)(z_streamp))addrs[INFLATE_END])(strm) : Z_STREAM_ERROR;
}

int inflateReset(z_streamp strm)
{
	return lazy_z__lib.loaded ? ((int (*)(z_streamp))addrs[INFLATE_RESET])(strm) : Z_STREAM_ERROR;
}

const char *zError(int err)
{
	return lazy_z__lib.loaded ? ((const char *(*)(int))addrs[ERROR_STRING])(err) : lazy_z__lib.error;
}
