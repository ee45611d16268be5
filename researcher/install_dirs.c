/* The installation's directories, from the executable's path (see install_dirs.h). */
#include "install_dirs.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Relative to the executable's directory; the build sets both
 * (researcher/CMakeLists.txt). Without them only the override is read. */
#ifndef FEDC_SDK_PC_DIRS
#define FEDC_SDK_PC_DIRS ""
#endif
#ifndef FEDC_PLAN_DIRS
#define FEDC_PLAN_DIRS ""
#endif

/* The directory of /proc/self/exe into `out`; "" if it cannot be read. */
static void exe_dir(char *out, size_t cap)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	char *slash;

	out[0] = '\0';
	if (n <= 0)
		return;
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (!slash || (size_t)(slash - path) >= cap)
		return;
	memcpy(out, path, (size_t)(slash - path));
	out[slash - path] = '\0';
}

/* One directory: `len` bytes at `entry`, under `base` when it is relative
 * and `base` is not NULL. FEDC_OK with `dir` set when it holds `file`. */
static enum fedc_err try_dir(const char *entry, size_t len, const char *base, const char *file, char *dir,
			     size_t cap)
{
	char candidate[PATH_MAX + 256];
	char probe[sizeof(candidate) + 256];
	int n;

	if (len == 0 || len >= PATH_MAX)
		return FEDC_ERR_NOT_FOUND;
	if (base && entry[0] != '/')
		n = snprintf(candidate, sizeof(candidate), "%s/%.*s", base, (int)len, entry);
	else
		n = snprintf(candidate, sizeof(candidate), "%.*s", (int)len, entry);
	if (n < 0 || (size_t)n >= sizeof(candidate))
		return FEDC_ERR_NOT_FOUND;
	n = snprintf(probe, sizeof(probe), "%s/%s", candidate, file);
	if (n < 0 || (size_t)n >= sizeof(probe) || access(probe, R_OK) != 0)
		return FEDC_ERR_NOT_FOUND;
	if ((size_t)n - strlen(file) - 1 >= cap)
		return fedc_fail(FEDC_ERR_TOO_BIG, "%s: path too long", candidate);
	memcpy(dir, candidate, strlen(candidate) + 1);
	return FEDC_OK;
}

/* The first directory of the ':'-separated `list` that holds `file`. */
static enum fedc_err find_in(const char *list, const char *base, const char *file, char *dir, size_t cap)
{
	enum fedc_err rc = FEDC_ERR_NOT_FOUND;

	while (*list && rc == FEDC_ERR_NOT_FOUND) {
		size_t len = strcspn(list, ":");

		rc = try_dir(list, len, base, file, dir, cap);
		list += len;
		if (*list == ':')
			list++;
	}
	return rc;
}

enum fedc_err install_dirs__find(enum install_dirs_kind kind, const char *file, char *dir, size_t cap)
{
	const char *env = getenv(kind == INSTALL_DIRS_SDK_PC ? "FEDC_SDK_PC_PATH" : "FEDC_PLAN_PATH");
	const char *rel = kind == INSTALL_DIRS_SDK_PC ? FEDC_SDK_PC_DIRS : FEDC_PLAN_DIRS;
	char base[PATH_MAX];
	enum fedc_err rc = FEDC_ERR_NOT_FOUND;

	if (env && env[0])
		rc = find_in(env, NULL, file, dir, cap);
	if (rc == FEDC_ERR_NOT_FOUND) {
		exe_dir(base, sizeof(base));
		if (base[0])
			rc = find_in(rel, base, file, dir, cap);
	}
	return rc;
}
