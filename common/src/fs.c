/* Crash-safe file-system steps (see fs.h). */
/* O_TMPFILE */
#define _GNU_SOURCE
#include "fedc/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fedc/crash.h"
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

enum fedc_err fedc_read_all_at_zero(int fd, void *buf, size_t len, const char *what)
{
	char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fedc_fail(FEDC_ERR_IO, "cannot read %s: %s", what,
					 n < 0 ? strerror(errno) : "the file shrank while read");
		done += (size_t)n;
	}
	return FEDC_OK;
}

/* ---- atomic replacement ---- */

/* Whether O_TMPFILE files can be given a name: linkat() through
 * /proc/self/fd needs /proc (AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH). */
static bool can_name_tmpfile(void)
{
	return access("/proc/self/fd", X_OK) == 0;
}

/* "<dir>/.<base>." followed by `suffix`, into dst (PATH_MAX). False if it
 * does not fit. */
static bool temp_name(char *dst, const char *dir, const char *base, const char *suffix)
{
	return (size_t)snprintf(dst, PATH_MAX, "%s/.%s.%s", dir, base, suffix) < PATH_MAX;
}

enum fedc_err fedc_atomic_begin(struct fedc_atomic_file *af, const char *path, mode_t mode)
{
	char dir[PATH_MAX];
	const char *base;

	af->fd = -1;
	af->mode = mode;
	af->path[0] = af->tmp[0] = '\0';
	if (!path || !*path)
		return fedc_fail(FEDC_ERR_INVAL, "no file name to write");
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (!*base)
		return fedc_fail(FEDC_ERR_INVAL, "%s names a directory, not a file", path);
	dir_of(path, dir, sizeof(dir));
	/* The name checked here is the longest the temporary file may take. */
	if (strlen(path) >= sizeof(af->path) || !temp_name(af->tmp, dir, base, "XXXXXX"))
		return fedc_fail(FEDC_ERR_INVAL, "path too long: %s", path);
	memcpy(af->path, path, strlen(path) + 1);
	if (can_name_tmpfile()) {
		/* O_RDWR, as mkstemp: a writer may read back what it wrote (the
		 * repository checks an update before it commits it). */
		af->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (af->fd >= 0) {
			af->tmp[0] = '\0';
			return FEDC_OK;
		}
		/* Not supported by this file system: a named file instead. */
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
			goto fail;
	}
	af->fd = mkstemp(af->tmp); /* 0600 from its creation */
	if (af->fd >= 0)
		return FEDC_OK;
fail:
	af->tmp[0] = '\0';
	return fedc_fail(FEDC_ERR_IO, "cannot create a temporary file for %s: %s", path, strerror(errno));
}

/* Gives the unnamed O_TMPFILE file a name beside af->path, trying a few
 * random ones (a name taken is EEXIST; anything else is final). */
static enum fedc_err name_tmpfile(struct fedc_atomic_file *af)
{
	static atomic_uint counter;
	char dir[PATH_MAX], proc[64], suffix[32];
	const char *base = strrchr(af->path, '/') ? strrchr(af->path, '/') + 1 : af->path;
	struct timespec ts;

	dir_of(af->path, dir, sizeof(dir));
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", af->fd);
	for (int attempt = 0; attempt < 32; attempt++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		/* six characters, as the mkstemp names: begin checked that length */
		snprintf(suffix, sizeof(suffix), "%06x",
			 (unsigned)((unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec ^
				    atomic_fetch_add(&counter, 1) * 40503u) & 0xffffffu);
		if (!temp_name(af->tmp, dir, base, suffix))
			break;
		if (linkat(AT_FDCWD, proc, AT_FDCWD, af->tmp, AT_SYMLINK_FOLLOW) == 0)
			return FEDC_OK;
		if (errno != EEXIST)
			break;
	}
	af->tmp[0] = '\0';
	return fedc_fail(FEDC_ERR_IO, "cannot name the temporary file of %s: %s", af->path, strerror(errno));
}

enum fedc_err fedc_atomic_commit(struct fedc_atomic_file *af)
{
	char dir[PATH_MAX];
	enum fedc_err rc = FEDC_OK;
	const char *what = af->tmp[0] ? af->tmp : af->path;

	if (af->fd < 0)
		return fedc_fail(FEDC_ERR_INVAL, "%s: no file being written", af->path);
	if (fchmod(af->fd, af->mode) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot chmod %s: %s", what, strerror(errno));
	if (!rc && fsync(af->fd) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot fsync %s: %s", what, strerror(errno));
	if (!rc)
		fedc_crash_point("atomic-commit");
	if (!rc && !af->tmp[0])
		rc = name_tmpfile(af);
	if (close(af->fd) != 0 && !rc)
		rc = fedc_fail(FEDC_ERR_IO, "cannot close %s: %s", what, strerror(errno));
	af->fd = -1;
	if (!rc && rename(af->tmp, af->path) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot rename %s to %s: %s", af->tmp, af->path, strerror(errno));
	if (rc) {
		fedc_atomic_abort(af);
		return rc;
	}
	af->tmp[0] = '\0';
	dir_of(af->path, dir, sizeof(dir));
	return fedc_fsync_dir(dir);
}

void fedc_atomic_abort(struct fedc_atomic_file *af)
{
	if (af->fd >= 0)
		close(af->fd);
	af->fd = -1;
	if (af->tmp[0])
		(void)unlink(af->tmp);
	af->tmp[0] = '\0';
}

enum fedc_err fedc_write_atomic(const char *path, const void *data, size_t len)
{
	return fedc_write_atomic_mode(path, data, len, 0644);
}

enum fedc_err fedc_write_atomic_mode(const char *path, const void *data, size_t len, mode_t mode)
{
	struct fedc_atomic_file af;
	enum fedc_err rc = fedc_atomic_begin(&af, path, mode);

	if (!rc)
		rc = fedc_write_all(af.fd, data, len, path);
	if (rc) {
		fedc_atomic_abort(&af);
		return rc;
	}
	return fedc_atomic_commit(&af);
}

/* Copies all of `src` into `out` (named `dst` in errors); no fsync. */
static enum fedc_err copy_into(int out, const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	enum fedc_err rc = FEDC_OK;
	struct stat st;
	off_t offset = 0;

	if (in < 0 || fstat(in, &st) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot read %s: %s", src, strerror(errno));
	while (!rc && offset < st.st_size) {
		ssize_t n = sendfile(out, in, &offset, (size_t)(st.st_size - offset));

		if (n <= 0 && errno != EINTR)
			rc = fedc_fail(FEDC_ERR_IO, "cannot copy %s to %s: %s", src, dst, n == 0 ? "file shrank" : strerror(errno));
	}
	if (in >= 0)
		close(in);
	return rc;
}

static enum fedc_err copy_file(const char *src, const char *dst)
{
	enum fedc_err rc = FEDC_OK;
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (out < 0)
		return fedc_fail(FEDC_ERR_IO, "cannot create %s: %s", dst, strerror(errno));
	rc = copy_into(out, src, dst);
	if (!rc && fsync(out) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot fsync %s: %s", dst, strerror(errno));
	if (close(out) != 0 && !rc)
		rc = fedc_fail(FEDC_ERR_IO, "cannot close %s: %s", dst, strerror(errno));
	return rc;
}

enum fedc_err fedc_copy_atomic(const char *src, const char *dst, mode_t mode)
{
	struct fedc_atomic_file af;
	enum fedc_err rc = fedc_atomic_begin(&af, dst, mode);

	if (!rc)
		rc = copy_into(af.fd, src, dst);
	if (rc) {
		fedc_atomic_abort(&af);
		return rc;
	}
	return fedc_atomic_commit(&af);
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
