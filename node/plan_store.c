/* The kept copies of training plans (plan_store.h). */
#include "plan_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "db.h"
#include "fedc/hash.h"

enum fedc_err plan_store__open(const char *data_dir, char *dir, size_t cap)
{
	struct stat st;
	char *abs = NULL;
	enum fedc_err rc = FEDC_OK;

	if ((size_t)snprintf(dir, cap, "%s/plans", data_dir) >= cap)
		return fedc_fail(FEDC_ERR_CONFIG, "data_dir path too long");
	rc = fedc_mkdir_p(dir, 0700);
	if (!rc && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
		rc = fedc_fail(FEDC_ERR_IO, "%s is not a directory", dir);
	if (rc)
		return rc;
	abs = realpath(dir, NULL);
	if (!abs)
		rc = fedc_fail(FEDC_ERR_IO, "%s: %s", dir, strerror(errno));
	else if ((size_t)snprintf(dir, cap, "%s", abs) >= cap)
		rc = fedc_fail(FEDC_ERR_CONFIG, "data_dir path too long");
	free(abs);
	return rc;
}

enum fedc_err plan_store__path(const char *dir, const char *sha256, char *out, size_t cap)
{
	if (!fedc_hex_valid(sha256, FEDC_SHA256_HEXLEN))
		return fedc_fail(FEDC_ERR_INVAL, "plan digest is not a SHA-256 hex digest");
	if ((size_t)snprintf(out, cap, "%s/%s.so", dir, sha256) >= cap)
		return fedc_fail(FEDC_ERR_INVAL, "plan path too long");
	return FEDC_OK;
}

/* Streams src into out_fd, hashing what it copies. */
static enum fedc_err copy_hashing(int src, int out_fd, const char *src_path, const char *out_path,
				  uint64_t max_bytes, char *digest)
{
	enum { CHUNK = 1 << 16 };
	struct fedc_hash *h = NULL;
	char *buf = malloc(CHUNK);
	uint64_t total = 0;
	enum fedc_err rc = buf ? fedc_hash_new(FEDC_HASH_SHA256, &h) : FEDC_ERR_NOMEM;

	while (!rc) {
		ssize_t n = read(src, buf, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = fedc_fail(FEDC_ERR_IO, "%s: read failed: %s", src_path, strerror(errno));
		if (n <= 0)
			break;
		total += (uint64_t)n;
		if (total > max_bytes)
			rc = fedc_fail(FEDC_ERR_TOO_BIG, "%s: larger than max_blob_mb", src_path);
		if (!rc)
			rc = fedc_hash_update(h, buf, (size_t)n);
		if (!rc)
			rc = fedc_write_all(out_fd, buf, (size_t)n, out_path);
	}
	if (!rc)
		rc = fedc_hash_final(h, digest);
	fedc_hash_free(h);
	free(buf);
	return rc;
}

enum fedc_err plan_store__keep(const char *dir, const char *src_path, uint64_t max_bytes, char *sha256,
			       char *final_path, size_t cap)
{
	char first[FEDC_SHA256_HEXLEN + 1];
	struct fedc_atomic_file af = { .fd = -1 };
	struct stat st;
	enum fedc_err rc = FEDC_OK;
	int src = open(src_path, O_RDONLY | O_CLOEXEC);

	if (src < 0 || fstat(src, &st) != 0) {
		rc = fedc_fail(FEDC_ERR_IO, "%s: %s", src_path, strerror(errno));
		goto out;
	}
	if ((uint64_t)st.st_size > max_bytes) {
		rc = fedc_fail(FEDC_ERR_TOO_BIG, "%s: larger than max_blob_mb", src_path);
		goto out;
	}
	/* The kept copy is named by its digest, and a fedc_atomic_file is begun
	 * with its final name: hash first, then copy hashing again, and keep the
	 * copy only if both agree (the source did not change in between). */
	rc = fedc_hash_fd(FEDC_HASH_SHA256, src, first);
	if (rc == FEDC_ERR_IO)
		rc = fedc_fail(rc, "%s: read failed", src_path);
	if (!rc)
		rc = plan_store__path(dir, first, final_path, cap);
	if (!rc)
		rc = fedc_atomic_begin(&af, final_path, 0600);
	if (!rc)
		rc = copy_hashing(src, af.fd, src_path, final_path, max_bytes, sha256);
	if (!rc && strcmp(first, sha256) != 0)
		rc = fedc_fail(FEDC_ERR_DIGEST, "%s changed while it was being copied; approve it again", src_path);
	if (rc)
		fedc_atomic_abort(&af);
	else
		rc = fedc_atomic_commit(&af);
out:
	if (src >= 0)
		close(src);
	return rc;
}

/* Seconds a kept copy's ctime must lie in the past for memo to vouch for
 * it: well past the file system's timestamp granularity. */
#define MEMO_SETTLED_S 2

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static bool memo_vouches(const struct plan_store_memo *memo, const char *sha256, const struct stat *st)
{
	return memo && strcmp(memo->sha256, sha256) == 0 && memo->dev == st->st_dev && memo->ino == st->st_ino &&
	       memo->size == st->st_size && same_time(&memo->mtime, &st->st_mtim) &&
	       same_time(&memo->ctime, &st->st_ctim);
}

/* Remembers the copy that `st` (taken before it was hashed) describes, unless
 * it changed too recently to tell a later change by its ctime. */
static void memo_keep(struct plan_store_memo *memo, const char *sha256, const struct stat *st)
{
	struct timespec now;

	if (!memo)
		return;
	if (clock_gettime(CLOCK_REALTIME, &now) != 0 || st->st_ctim.tv_sec > now.tv_sec - MEMO_SETTLED_S)
		return;
	snprintf(memo->sha256, sizeof(memo->sha256), "%s", sha256);
	memo->dev = st->st_dev;
	memo->ino = st->st_ino;
	memo->size = st->st_size;
	memo->mtime = st->st_mtim;
	memo->ctime = st->st_ctim;
}

enum fedc_err plan_store__fetch(const char *dir, struct fedc_repo *repo, const char *sha256, uint64_t max_bytes,
				struct plan_store_memo *memo, char *path, size_t cap)
{
	char have[FEDC_SHA256_HEXLEN + 1];
	struct stat st;
	enum fedc_err rc = plan_store__path(dir, sha256, path, cap);

	if (rc)
		return rc;
	/* A kept copy is used only if it still hashes to the approved digest
	 * (or has not changed since it did). */
	if (stat(path, &st) == 0) {
		if (memo_vouches(memo, sha256, &st))
			return FEDC_OK;
		if (memo)
			memset(memo, 0, sizeof(*memo));
		if (fedc_hash_file(FEDC_HASH_SHA256, path, have) == FEDC_OK && strcmp(have, sha256) == 0) {
			memo_keep(memo, sha256, &st);
			return FEDC_OK;
		}
	}
	rc = fedc_repo_get_file(repo, sha256, path, max_bytes);
	if (rc)
		return fedc_fail(rc, "cannot download training plan %s: %s", sha256, fedc_last_error());
	return FEDC_OK;
}

enum fedc_err plan_store__remove(const char *dir, const char *path)
{
	size_t dir_len = strlen(dir);
	char digest[FEDC_SHA256_HEXLEN + 1];
	const char *name;

	if (strncmp(path, dir, dir_len) != 0 || path[dir_len] != '/')
		return FEDC_OK; /* not a file of the store */
	name = path + dir_len + 1;
	if (strlen(name) != FEDC_SHA256_HEXLEN + 3 || strcmp(name + FEDC_SHA256_HEXLEN, ".so") != 0)
		return FEDC_OK;
	memcpy(digest, name, FEDC_SHA256_HEXLEN);
	digest[FEDC_SHA256_HEXLEN] = '\0';
	if (!fedc_hex_valid(digest, FEDC_SHA256_HEXLEN))
		return FEDC_OK;
	if (unlink(path) != 0 && errno != ENOENT)
		return fedc_fail(FEDC_ERR_IO, "cannot delete %s: %s", path, strerror(errno));
	return FEDC_OK;
}
