/* Where this installation keeps the plan SDK and the compiled plans, found
 * from the executable's own path (/proc/self/exe), so that no path of the
 * build tree is compiled into the program. The build passes the
 * directories relative to the executable's directory: FEDC_SDK_PC_DIRS for
 * fedcplan.pc, FEDC_PLAN_DIRS for the plans, each a ':'-separated list that
 * covers the build tree (bin/ beside plans/ and fedcplan.pc) and an install
 * (bin/ beside lib/pkgconfig/ and lib/fedc/plans/). */
#ifndef FEDC_RESEARCHER_INSTALL_DIRS_H
#define FEDC_RESEARCHER_INSTALL_DIRS_H

#include <stddef.h>

#include "fedc/err.h"

enum install_dirs_kind {
	INSTALL_DIRS_SDK_PC, /* directories holding fedcplan.pc */
	INSTALL_DIRS_PLANS,  /* directories holding compiled plans */
};

/* Finds `file` in the first directory of `kind` that holds it: the
 * ':'-separated directories of the environment variable that overrides the
 * kind (FEDC_SDK_PC_PATH, FEDC_PLAN_PATH) first, then those beside the
 * executable. Writes the directory (not the file) into `dir`.
 * FEDC_ERR_NOT_FOUND if none holds it, FEDC_ERR_TOO_BIG if a path is over
 * `cap`-1 characters. */
FEDC_NODISCARD
enum fedc_err install_dirs__find(enum install_dirs_kind kind, const char *file, char *dir, size_t cap);

#endif
