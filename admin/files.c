/* File steps of fedc-admin that common/fs.h does not cover: secrets that are
 * 0600 from birth, bounded reads, and cleanup of a staged bundle. */
#define _GNU_SOURCE /* syncfs */
#include "admin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "fedc/fs.h"
#include "fedc/hash.h"

enum fedc_err admin__path(char *out, const char *a, const char *b)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", a, b);

	if (n < 0 || n >= PATH_MAX)
		return fedc_fail(FEDC_ERR_INVAL, "path too long: %s/%s", a, b);
	return FEDC_OK;
}

bool admin__exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

enum fedc_err admin__write_secret(const char *path, const void *data, size_t len)
{
	return fedc_write_atomic_mode(path, data, len, 0600);
}

enum fedc_err admin__read_file(const char *path, size_t max, struct fedc_buf *out)
{
	enum fedc_err rc = FEDC_OK;
	char chunk[4096];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return fedc_fail(errno == ENOENT ? FEDC_ERR_NOT_FOUND : FEDC_ERR_IO, "cannot open %s: %s", path,
				 strerror(errno));
	out->max = max; /* out is empty (admin.h): every append is checked against it */
	while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		rc = fedc_buf_append(out, chunk, n);
		if (rc == FEDC_ERR_TOO_BIG)
			rc = fedc_fail(FEDC_ERR_TOO_BIG, "%s: larger than %zu bytes", path, max);
	}
	if (!rc && ferror(f))
		rc = fedc_fail(FEDC_ERR_IO, "cannot read %s", path);
	if (!rc && !out->data)
		rc = fedc_buf_append(out, "", 0); /* empty file: still a string */
	fclose(f);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return rc;
}

enum fedc_err admin__copy_public(const char *src, const char *dst)
{
	struct fedc_buf b = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	enum fedc_err rc = admin__read_file(src, 1u << 20, &b);

	if (!rc)
		rc = fedc_write_atomic(dst, b.data, b.len);
	fedc_buf_free(&b);
	return rc;
}

/* `tmp` = `path` + `suffix`; FEDC_ERR_INVAL if too long. */
static enum fedc_err side_path(char *tmp, const char *path, const char *suffix)
{
	int n = snprintf(tmp, PATH_MAX, "%s%s", path, suffix);

	return n < 0 || n >= PATH_MAX ? fedc_fail(FEDC_ERR_INVAL, "path too long: %s", path) : FEDC_OK;
}

static enum fedc_err rename_over(const char *tmp, const char *dst)
{
	int e;

	if (rename(tmp, dst) == 0)
		return FEDC_OK;
	e = errno;
	(void)unlink(tmp);
	return fedc_fail(FEDC_ERR_IO, "cannot rename %s to %s: %s", tmp, dst, strerror(e));
}

enum fedc_err admin__write_staged(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	enum fedc_err rc = side_path(tmp, path, ".staged-tmp");
	const char *p = data;
	int fd = -1;

	if (!rc && (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)) < 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
	if (!rc && fchmod(fd, mode) != 0) /* O_TRUNC kept an older file's mode */
		rc = fedc_fail(FEDC_ERR_IO, "cannot chmod %s: %s", tmp, strerror(errno));
	while (!rc && len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = fedc_fail(FEDC_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
		else {
			p += w;
			len -= (size_t)w;
		}
	}
	if (fd >= 0 && close(fd) != 0 && !rc)
		rc = fedc_fail(FEDC_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
	if (!rc)
		rc = rename_over(tmp, path);
	else if (fd >= 0)
		(void)unlink(tmp);
	return rc;
}

enum fedc_err admin__link_public(const char *src, const char *dst)
{
	char tmp[PATH_MAX];
	struct stat a, b;
	enum fedc_err rc;

	/* A fresh bundle has no such file: one link, no rename. */
	if (link(src, dst) == 0)
		return FEDC_OK;
	if (errno == EXDEV || errno == EPERM || errno == EMLINK || errno == ENOTSUP)
		return admin__copy_public(src, dst);
	if (errno != EEXIST)
		return fedc_fail(FEDC_ERR_IO, "cannot link %s to %s: %s", src, dst, strerror(errno));
	/* Already this very file (a rerun): rename() of one link over another
	 * of the same file does nothing and would leave the temporary one. */
	if (stat(src, &a) == 0 && lstat(dst, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return FEDC_OK;
	rc = side_path(tmp, dst, ".link-tmp"); /* replace it atomically */
	if (rc)
		return rc;
	(void)unlink(tmp); /* left by an interrupted run */
	if (link(src, tmp) != 0)
		return fedc_fail(FEDC_ERR_IO, "cannot link %s to %s: %s", src, tmp, strerror(errno));
	return rename_over(tmp, dst);
}

enum fedc_err admin__sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	enum fedc_err rc = FEDC_OK;

	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "cannot open %s: %s", dir, strerror(errno));
	if (syncfs(fd) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot flush the file system of %s: %s", dir, strerror(errno));
	close(fd);
	return rc;
}

void admin__rmtree(const char *path)
{
	char child[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (lstat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		(void)unlink(path);
		return;
	}
	d = opendir(path);
	if (d) {
		while ((e = readdir(d)) != NULL) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (admin__path(child, path, e->d_name) == FEDC_OK)
				admin__rmtree(child);
		}
		closedir(d);
	}
	(void)rmdir(path);
}

enum fedc_err admin__lock(const char *dir, int *fd)
{
	*fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return fedc_fail(errno == ENOENT ? FEDC_ERR_NOT_FOUND : FEDC_ERR_IO, "cannot open %s: %s", dir,
				 strerror(errno));
	if (flock(*fd, LOCK_EX) != 0) {
		int e = errno;

		close(*fd);
		*fd = -1;
		return fedc_fail(FEDC_ERR_IO, "cannot lock %s: %s", dir, strerror(e));
	}
	return FEDC_OK;
}

enum fedc_err admin__random_hex(char *hex, size_t nbytes)
{
	unsigned char raw[64];

	if (nbytes > sizeof(raw))
		return fedc_fail(FEDC_ERR_INVAL, "too many random bytes asked");
	if (RAND_bytes(raw, (int)nbytes) != 1)
		return admin__ssl_fail(FEDC_ERR_IO, "random bytes");
	fedc_hex_encode(raw, nbytes, hex);
	OPENSSL_cleanse(raw, sizeof(raw));
	return FEDC_OK;
}
