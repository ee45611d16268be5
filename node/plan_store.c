/* The kept copies of training plans (plan_store.h). */
#include "plan_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Streams src into tmp_fd, hashing what it copies. */
static enum fedc_err copy_hashing(int src, int tmp_fd, const char *src_path, const char *tmp_path,
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
			rc = fedc_write_all(tmp_fd, buf, (size_t)n, tmp_path);
	}
	if (!rc && fsync(tmp_fd) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "%s: fsync failed: %s", tmp_path, strerror(errno));
	if (!rc)
		rc = fedc_hash_final(h, digest);
	fedc_hash_free(h);
	free(buf);
	return rc;
}

enum fedc_err plan_store__keep(const char *dir, const char *src_path, uint64_t max_bytes, char *sha256,
			       char *final_path, size_t cap)
{
	char tmp[NODE_PATH_MAX];
	int src = -1, tmp_fd = -1;
	bool tmp_exists = false;
	enum fedc_err rc = FEDC_OK;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.approve-XXXXXX", dir) >= sizeof(tmp))
		return fedc_fail(FEDC_ERR_CONFIG, "data_dir path too long");
	src = open(src_path, O_RDONLY | O_CLOEXEC);
	if (src < 0) {
		rc = fedc_fail(FEDC_ERR_IO, "%s: %s", src_path, strerror(errno));
		goto out;
	}
	tmp_fd = mkstemp(tmp);
	if (tmp_fd < 0) {
		rc = fedc_fail(FEDC_ERR_IO, "cannot create a file in %s: %s", dir, strerror(errno));
		goto out;
	}
	tmp_exists = true;
	rc = copy_hashing(src, tmp_fd, src_path, tmp, max_bytes, sha256);
	if (close(tmp_fd) != 0 && !rc)
		rc = fedc_fail(FEDC_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
	tmp_fd = -1;
	if (!rc)
		rc = plan_store__path(dir, sha256, final_path, cap);
	if (!rc && rename(tmp, final_path) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot rename %s to %s: %s", tmp, final_path, strerror(errno));
	if (rc)
		goto out;
	tmp_exists = false;
	fedc_ignore(fedc_fsync_dir(dir)); /* best effort: the rename is already visible */
out:
	if (tmp_fd >= 0)
		close(tmp_fd);
	if (src >= 0)
		close(src);
	if (tmp_exists)
		unlink(tmp);
	return rc;
}

enum fedc_err plan_store__fetch(const char *dir, struct fedc_repo *repo, const char *sha256, uint64_t max_bytes,
				char *path, size_t cap)
{
	char have[FEDC_SHA256_HEXLEN + 1];
	enum fedc_err rc = plan_store__path(dir, sha256, path, cap);

	if (rc)
		return rc;
	/* A kept copy is used only if it still hashes to the approved digest. */
	if (access(path, R_OK) == 0 && fedc_hash_file(FEDC_HASH_SHA256, path, have) == FEDC_OK &&
	    strcmp(have, sha256) == 0)
		return FEDC_OK;
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
