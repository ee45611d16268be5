/* Small text files read whole (the tokens file, PEM files), with a size cap so
 * that a wrong path (a disk image, /dev/zero) is refused, not read. */
#ifndef FEDC_REPOSITORY_TEXTFILE_H
#define FEDC_REPOSITORY_TEXTFILE_H

#include <stddef.h>

#include "fedc/err.h"

/* Reads the regular file `path` into a NUL-terminated buffer (*out, owned by
 * the caller). `what` names the setting in messages ("tokens_file").
 * FEDC_ERR_CONFIG (cannot open or read it, not a regular file, over `max`
 * bytes, a NUL byte: the file a setting names is part of the configuration,
 * so the daemon refuses to start with exit status 2), FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err textfile__read(const char *what, const char *path, size_t max, char **out);

#endif
