/* Load-on-first-use of a shared library (lazy_lib.h, lazy_require.h). */
#include "lazy_lib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lazy_require.h"

/* pthread_once() takes no argument: the library being loaded is handed over
 * in a thread-local, set by lazy_lib__load() just before. */
static _Thread_local struct lazy_lib *loading;

#ifdef FEDC_TEST_HOOKS
/* True when FEDC_TEST_MISSING_LIBS lists `soname` (lazy_lib.h). */
static bool made_missing(const char *soname)
{
	const char *p = getenv("FEDC_TEST_MISSING_LIBS");
	size_t len = strlen(soname);

	while (p && *p) {
		size_t n = strcspn(p, ",");

		if (n == len && memcmp(p, soname, n) == 0)
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}
#endif

/* dlopen(), or NULL with the reason in *why. */
static void *open_library(const char *soname, const char **why)
{
	void *handle;

#ifdef FEDC_TEST_HOOKS
	if (made_missing(soname)) {
		*why = "listed in FEDC_TEST_MISSING_LIBS (a test hook)";
		return NULL;
	}
#endif
	handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!handle)
		*why = dlerror();
	return handle;
}

static void load_once(void)
{
	struct lazy_lib *lib = loading;
	const char *why = NULL;
	void *handle = open_library(lib->soname, &why);
	size_t i;

	if (!handle) {
		snprintf(lib->error, sizeof(lib->error), "cannot load %s, needed for %s (install package %s): %s",
			 lib->soname, lib->what, lib->package, why ? why : "unknown reason");
		return;
	}
	for (i = 0; lib->symbols[i]; i++) {
		lib->addrs[i] = dlsym(handle, lib->symbols[i]);
		if (!lib->addrs[i]) {
			snprintf(lib->error, sizeof(lib->error),
				 "%s, needed for %s, has no %s (package %s too old? install a newer one)", lib->soname,
				 lib->what, lib->symbols[i], lib->package);
			return; /* the handle stays open: dlclose() of a half-used library buys nothing */
		}
	}
	lib->loaded = true;
}

bool lazy_lib__load(struct lazy_lib *lib)
{
	loading = lib;
	pthread_once(&lib->once, load_once);
	loading = NULL;
	return lib->loaded;
}

const char *lazy_lib__error(const struct lazy_lib *lib)
{
	return lib->error;
}

enum fedc_err lazy_lib__require(enum lazy_library which)
{
	static struct lazy_lib *const libs[LAZY__COUNT] = {
		[LAZY_Z] = &lazy_z__lib,	   [LAZY_PNG] = &lazy_png__lib, [LAZY_JPEG] = &lazy_jpeg__lib,
		[LAZY_NIFTI] = &lazy_nifti__lib, [LAZY_CSV] = &lazy_csv__lib, [LAZY_SECCOMP] = &lazy_seccomp__lib,
		[LAZY_MHD] = &lazy_mhd__lib,
	};
	struct lazy_lib *lib = (unsigned)which < LAZY__COUNT ? libs[which] : NULL;

	if (!lib)
		return fedc_fail(FEDC_ERR_INVAL, "no lazily loaded library number %d", (int)which);
	return lazy_lib__load(lib) ? FEDC_OK : fedc_fail(FEDC_ERR_IO, "%s", lib->error);
}

bool lazy_lib__is_loaded(struct lazy_lib *lib)
{
	void *handle = dlopen(lib->soname, RTLD_NOW | RTLD_NOLOAD);

	if (!handle)
		return false;
	dlclose(handle); /* drops the reference RTLD_NOLOAD took */
	return true;
}
