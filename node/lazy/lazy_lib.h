/* Shared libraries the node daemon maps only when it first needs them
 * (issue #19, item 6: an idle node at most 8 MB of RSS; docs/benchmarks.md,
 * "Idle node RSS"). An idle node talks only MQTT; libcurl (and the GnuTLS,
 * Kerberos, LDAP, SSH ... it links) is needed at the first repository
 * request, libmicrohttpd only with [metrics] listen. On this kernel each
 * library a process touches costs nearly its whole size in RSS.
 *
 * curl.c and mhd.c define the functions of those libraries that fedc calls
 * and forward them to the real ones, loaded with dlopen() at the first
 * call that needs them. They are linked into the fedc-node executable only
 * (node/CMakeLists.txt links it with --as-needed, so libcurl and
 * libmicrohttpd are no longer NEEDED entries); the researcher and the
 * repository link the libraries as before.
 *
 * A library that cannot be loaded (a package removed, a broken install)
 * fails the operation that needed it with an error naming the library,
 * its package and dlerror()'s reason: the node's code asks for the library
 * first, through lazy_require.h, rather than reading a forwarder's failure
 * as a bad file. */
#ifndef FEDC_NODE_LAZY_LIB_H
#define FEDC_NODE_LAZY_LIB_H

#include <pthread.h>
#include <stdbool.h>

#include "fedc/err.h"

/* One library: its soname, the Debian package that ships it and what the
 * node needs it for (both for the error message), the symbols to resolve
 * and where to put them. Define it with LAZY_LIB_INIT (tests/package/
 * package.sh reads the package from there); lazy_lib__load() fills `addrs`
 * once. */
struct lazy_lib {
	const char *soname;
	const char *package;
	const char *what;           /* "PNG images": what cannot work without it */
	const char *const *symbols; /* NULL-terminated */
	void **addrs;               /* one per symbol, same order */
	pthread_once_t once;
	bool loaded;
	char error[320]; /* why it failed to load, when it did */
};

#define LAZY_LIB_INIT(soname, package, what, symbols, addrs)                                                \
	{ (soname), (package), (what), (symbols), (addrs), PTHREAD_ONCE_INIT, false, "" }

/* The libraries lazy_require.h hands out, one per file of node/lazy/
 * (libcurl's caller is shared code: see curl.c). */
extern struct lazy_lib lazy_z__lib, lazy_png__lib, lazy_jpeg__lib, lazy_nifti__lib, lazy_csv__lib, lazy_seccomp__lib,
	lazy_mhd__lib;

/* Loads the library and resolves every symbol, the first time it is called
 * (thread-safe; later calls return the first outcome, at the cost of one
 * pthread_once check). True when all resolved. On failure
 * lazy_lib__error() says what failed and which package to install; it is
 * not logged here: lazy__require() hands it to the caller, whose error it
 * becomes (a round's, `dataset add`'s, the daemon's at start). The library
 * stays loaded until the process exits.
 *
 * Test hook (only in a build with FEDC_TEST_HOOKS, compiled out
 * otherwise): a soname listed in the environment variable
 * FEDC_TEST_MISSING_LIBS (comma-separated) fails to load as if it were
 * not installed, so that tests can reach these errors. */
bool lazy_lib__load(struct lazy_lib *lib);

/* Why the last load failed ("" if it did not fail or was not tried). */
const char *lazy_lib__error(const struct lazy_lib *lib);

/* True when `lib` is already loaded (no load is attempted): what the tests
 * check to prove a library stays out of an idle process. */
bool lazy_lib__is_loaded(struct lazy_lib *lib);

#endif
