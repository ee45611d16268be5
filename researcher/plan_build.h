/* Training plans given as C source: `plan = model.c` in the experiment file.
 * fedc-researcher compiles the file against the plan SDK (pkg-config
 * fedcplan) into OUTPUT_DIR/plan.so, and the experiment uses that. */
#ifndef FEDC_RESEARCHER_PLAN_BUILD_H
#define FEDC_RESEARCHER_PLAN_BUILD_H

#include <stdbool.h>
#include <stddef.h>

#include "fedc/err.h"

/* True if `path` names C source (ends in ".c"). */
bool plan_build__is_source(const char *path);

/* Compiles `source` into `out_so`. The compiler writes into a fresh private
 * directory beside `out_so`, and the result replaces `out_so` through a
 * fedc_atomic_file (fedc/fs.h): on any failure `out_so` is the old file and
 * nothing of the build is left but the log. The compiler is $FEDC_CC or cc;
 * its messages go to `out_so`.log and, on failure, into the error detail.
 * FEDC_ERR_PLAN on a compile error, FEDC_ERR_INVAL (path too long),
 * FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err plan_build__compile(const char *source, const char *out_so);

/* For an experiment whose plan is source: compiles it into
 * output_dir/plan.so (or, with `reuse`, takes the one already there) and
 * points exp->plan_path at it. Nothing to do for a shared object. */
struct experiment;
FEDC_NODISCARD
enum fedc_err plan_build__prepare(struct experiment *exp, bool reuse);

#endif
