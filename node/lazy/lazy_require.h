/* The node's one way to learn that a library it loads at first use
 * (lazy_lib.h) is missing: before its first call into the library, each
 * reader asks lazy__require() for it, and fails with that error.
 *
 *     rc = lazy__require(LAZY_PNG);
 *     if (rc)
 *             return rc;
 *
 * Asking is needed because a forwarder can only fail as its library fails
 * (NULL from nifti_image_read(), a PNG "error"), which the caller would
 * report as a bad file. Once the library is loaded an ask costs one
 * pthread_once check, no dlopen.
 *
 * Only fedc-node (and unit.test_node_lazy) links node/lazy/; the node's
 * unit tests, the console and the fuzz harnesses link the node's code with
 * the real libraries, which the dynamic loader mapped before main(). There
 * lazy_lib__require is not defined (a weak reference is NULL) and there is
 * nothing to ask: lazy__require() answers FEDC_OK. */
#ifndef FEDC_NODE_LAZY_REQUIRE_H
#define FEDC_NODE_LAZY_REQUIRE_H

#include "fedc/err.h"

enum lazy_library {
	LAZY_Z,       /* zlib: gzip'd IDX files */
	LAZY_PNG,     /* libpng: PNG images */
	LAZY_JPEG,    /* libjpeg: JPEG images */
	LAZY_NIFTI,   /* libnifti2 (with znzlib and zlib): NIfTI volumes */
	LAZY_CSV,     /* libcsv: CSV files */
	LAZY_SECCOMP, /* libseccomp: the plan process's filter */
	LAZY_MHD,     /* libmicrohttpd: the [metrics] listener */
	LAZY__COUNT
};

/* Defined in lazy_lib.c. FEDC_OK once `lib` is loaded (loading it on the
 * first call); otherwise FEDC_ERR_IO, and the detail (fedc_last_error())
 * names the library, what needs it, its package and why it did not load:
 * "cannot load libpng16.so.16, needed for PNG images (install package
 * libpng16-16): libpng16.so.16: cannot open shared object file: No such
 * file or directory". */
FEDC_NODISCARD enum fedc_err lazy_lib__require(enum lazy_library lib) __attribute__((weak));

FEDC_NODISCARD static inline enum fedc_err lazy__require(enum lazy_library lib)
{
	return lazy_lib__require ? lazy_lib__require(lib) : FEDC_OK;
}

#endif
