/* Crash-safe file-system steps (see fs.h). */
#include "fedc/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/log.h"

enum fedc_err fedc_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	if (!path || !*path || strlen(path) >= sizeof(buf))
		return fedc_fail(FEDC_ERR_INVAL, "directory path empty or too long");
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return fedc_fail(FEDC_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return fedc_fail(FEDC_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
	return FEDC_OK;
}

enum fedc_err fedc_fd_rewind(int fd, const char *what)
{
	if (lseek(fd, 0, SEEK_SET) != 0)
		return fedc_fail(FEDC_ERR_IO, "%s: cannot rewind: %s", what, strerror(errno));
	return FEDC_OK;
}

enum fedc_err fedc_fd_cut_here(int fd, const char *what)
{
	off_t at = lseek(fd, 0, SEEK_CUR);

	/* Not O_TRUNC or ftruncate(0) first: truncation frees the pages (and
	 * ext4 flushes a file truncated to zero when it is closed). */
	if (at < 0 || ftruncate(fd, at) != 0)
		return fedc_fail(FEDC_ERR_IO, "%s: cannot cut to size: %s", what, strerror(errno));
	return FEDC_OK;
}

void fedc_drop_cached(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

enum fedc_err fedc_fsync_dir(const char *dir)
{
	enum fedc_err rc = FEDC_OK;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "cannot open directory %s: %s", dir, strerror(errno));
	if (fsync(fd) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot fsync directory %s: %s", dir, strerror(errno));
	close(fd);
	return rc;
}

/* The directory part of `path` ("." when it has none). */
static void dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, cap, ".");
	else if (slash == path)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

enum fedc_err fedc_write_all(int fd, const void *data, size_t len, const char *what)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fedc_fail(FEDC_ERR_IO, "cannot write %s: %s", what, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return FEDC_OK;
}

enum fedc_err fedc_write_atomic(const char *path, const void *data, size_t len)
{
	return fedc_write_atomic_mode(path, data, len, 0644);
}

enum fedc_err fedc_write_atomic_mode(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	enum fedc_err rc;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
		return fedc_fail(FEDC_ERR_INVAL, "path too long: %s", path);
	fd = mkstemp(tmp); /* 0600 from birth: a secret is never readable by others */
	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "cannot create a temporary file for %s: %s", path, strerror(errno));
	rc = fedc_write_all(fd, data, len, tmp);
	if (!rc && fchmod(fd, mode) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot chmod %s: %s", tmp, strerror(errno));
	if (!rc && fsync(fd) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot fsync %s: %s", tmp, strerror(errno));
	if (close(fd) != 0 && !rc)
		rc = fedc_fail(FEDC_ERR_IO, "cannot close %s: %s", tmp, strerror(errno));
	if (!rc && rename(tmp, path) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
	if (rc) {
		(void)unlink(tmp);
		return rc;
	}
	dir_of(path, dir, sizeof(dir));
	return fedc_fsync_dir(dir);
}

static enum fedc_err copy_file(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1;
	enum fedc_err rc = FEDC_OK;
	struct stat st;
	off_t offset = 0;

	if (in < 0 || fstat(in, &st) != 0) {
		rc = fedc_fail(FEDC_ERR_IO, "cannot read %s: %s", src, strerror(errno));
		goto out;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		rc = fedc_fail(FEDC_ERR_IO, "cannot create %s: %s", dst, strerror(errno));
		goto out;
	}
	while (!rc && offset < st.st_size) {
		ssize_t n = sendfile(out, in, &offset, (size_t)(st.st_size - offset));

		if (n <= 0 && errno != EINTR)
			rc = fedc_fail(FEDC_ERR_IO, "cannot copy %s to %s: %s", src, dst, n == 0 ? "file shrank" : strerror(errno));
	}
	if (!rc && fsync(out) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot fsync %s: %s", dst, strerror(errno));
out:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) != 0 && !rc)
		rc = fedc_fail(FEDC_ERR_IO, "cannot close %s: %s", dst, strerror(errno));
	return rc;
}

enum fedc_err fedc_link_or_copy(const char *src, const char *dst)
{
	(void)unlink(dst);
	if (link(src, dst) == 0)
		return FEDC_OK;
	if (errno != EXDEV && errno != EPERM && errno != EMLINK)
		return fedc_fail(FEDC_ERR_IO, "cannot link %s to %s: %s", src, dst, strerror(errno));
	return copy_file(src, dst);
}

enum fedc_err fedc_read_secret(const char *path, char *buf, size_t cap)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && (st.st_mode & 077))
		fedc_warn("%s holds a secret but others than its owner may read it (chmod 600)", path);
	n = read(fd, buf, cap);
	close(fd);
	if (n < 0)
		return fedc_fail(FEDC_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	if ((size_t)n >= cap)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: longer than %zu bytes", path, cap - 1);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	if (n == 0 || memchr(buf, '\0', (size_t)n))
		return fedc_fail(FEDC_ERR_CONFIG, "%s: empty, or not text", path);
	return FEDC_OK;
}
