/* Load-on-first-use of a shared library (lazy_lib.h). */
#include "lazy_lib.h"

#include <dlfcn.h>
#include <stdio.h>

#include "fedc/log.h"

/* pthread_once() takes no argument: the library being loaded is handed over
 * in a thread-local, set by lazy_lib__load() just before. */
static _Thread_local struct lazy_lib *loading;

static void load_once(void)
{
	struct lazy_lib *lib = loading;
	void *handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	size_t i;

	if (!handle) {
		snprintf(lib->error, sizeof(lib->error), "cannot load %s (package %s): %s", lib->soname, lib->package,
			 dlerror());
		fedc_error("%s", lib->error);
		return;
	}
	for (i = 0; lib->symbols[i]; i++) {
		lib->addrs[i] = dlsym(handle, lib->symbols[i]);
		if (!lib->addrs[i]) {
			snprintf(lib->error, sizeof(lib->error), "%s has no %s (package %s too old?)", lib->soname,
				 lib->symbols[i], lib->package);
			fedc_error("%s", lib->error);
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

bool lazy_lib__is_loaded(struct lazy_lib *lib)
{
	void *handle = dlopen(lib->soname, RTLD_NOW | RTLD_NOLOAD);

	if (!handle)
		return false;
	dlclose(handle); /* drops the reference RTLD_NOLOAD took */
	return true;
}
