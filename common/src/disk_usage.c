/* fedc_disk_usage (fedc/fs.h): what a store or a data directory takes on
 * disk, for monitoring (docs/monitoring.md). */
#include "fedc/fs.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Deep enough for any tree fedc writes (the store is 3 levels deep). */
#define MAX_DEPTH 32

struct usage {
	uint64_t bytes, files;
	dev_t dev;
};

/* Depth first, one directory fd open per level. An entry that vanishes
 * between readdir and fstatat (a temp file renamed away) is skipped. */
static enum fedc_err walk(int dir_fd, const char *path, struct usage *u, int depth)
{
	DIR *d = fdopendir(dir_fd);
	struct dirent *e;
	enum fedc_err rc = FEDC_OK;

	if (!d) {
		close(dir_fd);
		return fedc_fail(FEDC_ERR_IO, "%s: %s", path, strerror(errno));
	}
	while (!rc && (e = readdir(d))) {
		struct stat st;
		int fd;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* removed since readdir: a temp file that went */
		u->bytes += (uint64_t)st.st_blocks * 512;
		if (S_ISREG(st.st_mode))
			u->files++;
		if (!S_ISDIR(st.st_mode) || st.st_dev != u->dev || depth >= MAX_DEPTH)
			continue;
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			rc = walk(fd, path, u, depth + 1);
	}
	closedir(d);
	return rc;
}

enum fedc_err fedc_disk_usage(const char *dir, uint64_t *bytes, uint64_t *files)
{
	struct usage u = { 0, 0, 0 };
	struct stat st;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	enum fedc_err rc;

	*bytes = *files = 0;
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = fedc_fail(FEDC_ERR_IO, "%s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	u.dev = st.st_dev;
	u.bytes = (uint64_t)st.st_blocks * 512;
	rc = walk(fd, dir, &u, 0);
	if (!rc) {
		*bytes = u.bytes;
		*files = u.files;
	}
	return rc;
}
