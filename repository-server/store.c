/* Content-addressed blob files with atomic publication (see store.h). */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "fedc/hash.h"
#include "fedc/store_layout.h"

#define TMP_PREFIX "upload-"
/* Room left under PATH_MAX for "/sha256/ab/<64 hex>" and the temp names. */
#define ROOT_MAX (PATH_MAX - 160)

struct store {
	char root[ROOT_MAX];
	char blobs[ROOT_MAX + 8]; /* <root>/sha256 */
	char tmp[ROOT_MAX + 8];   /* <root>/tmp: uploads of versions before fedc_atomic_file */
};

struct store_upload {
	struct store *st;
	char hex[FEDC_SHA256_HEXLEN + 1];
	struct fedc_atomic_file file; /* fd -1 when only hashing (the blob is already stored) */
	struct fedc_hash *hash;
};

static enum fedc_err make_dir(const char *path)
{
	struct stat sb;

	if (mkdir(path, 0700) == 0)
		return FEDC_OK;
	if (errno == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return FEDC_OK;
	return fedc_fail(FEDC_ERR_IO, "%s: cannot create directory: %s", path,
			 errno == EEXIST ? "exists and is not a directory" : strerror(errno));
}

/* Leftovers of uploads cut short by a crash in a version that kept uploads
 * in <root>/tmp: never visible as blobs, but they take space. Only names it
 * created are touched. (Uploads are now fedc_atomic_files beside their blob:
 * unnamed until published, so a crash leaves nothing to sweep.) */
static void remove_stale_uploads(const struct store *st)
{
	DIR *dir = opendir(st->tmp);
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
			(void)unlinkat(dirfd(dir), de->d_name, 0);
	}
	closedir(dir);
}

enum fedc_err store__open(const char *root, struct store **out)
{
	struct store *st = NULL;
	enum fedc_err rc;

	*out = NULL;
	if (!root[0] || strlen(root) >= ROOT_MAX)
		return fedc_fail(FEDC_ERR_INVAL, "store directory \"%s\": empty or too long", root);
	st = calloc(1, sizeof(*st));
	if (!st)
		return FEDC_ERR_NOMEM;
	snprintf(st->root, sizeof(st->root), "%s", root);
	snprintf(st->blobs, sizeof(st->blobs), "%s/" FEDC_STORE_BLOBS_DIR, root);
	snprintf(st->tmp, sizeof(st->tmp), "%s/tmp", root);
	rc = make_dir(st->root);
	if (!rc)
		rc = make_dir(st->blobs);
	if (!rc && access(st->blobs, W_OK) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "%s: not writable: %s", st->blobs, strerror(errno));
	if (rc) {
		free(st);
		return rc;
	}
	remove_stale_uploads(st);
	*out = st;
	return FEDC_OK;
}

void store__close(struct store *st)
{
	free(st);
}

const char *store__root(const struct store *st)
{
	return st->root;
}

/* The root fits in ROOT_MAX, so a blob's path fits in PATH_MAX. */
static void blob_path(const struct store *st, const char *hex, char *buf, size_t cap)
{
	(void)fedc_store_blob_path(st->root, hex, buf, cap);
}

enum fedc_err store__open_blob(struct store *st, const char *hex, int *fd, uint64_t *size)
{
	char path[PATH_MAX];
	struct stat sb;
	int f;

	*fd = -1;
	blob_path(st, hex, path, sizeof(path));
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0 && errno == ENOENT)
		return FEDC_ERR_NOT_FOUND;
	if (f < 0)
		return fedc_fail(FEDC_ERR_IO, "%s: %s", path, strerror(errno));
	if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(f);
		return fedc_fail(FEDC_ERR_IO, "%s: not a regular file", path);
	}
	*fd = f;
	*size = (uint64_t)sb.st_size;
	return FEDC_OK;
}

/* Creates sha256/<first 2 hex>/ (and makes its entry durable) if needed. */
static enum fedc_err make_fanout_dir(const struct store *st, const char *hex)
{
	char dir[PATH_MAX];
	char *slash;

	blob_path(st, hex, dir, sizeof(dir));
	slash = strrchr(dir, '/');
	*slash = '\0'; /* sha256/<first 2 hex> */
	if (mkdir(dir, 0700) == 0)
		return fedc_fsync_dir(st->blobs);
	if (errno != EEXIST)
		return fedc_fail(FEDC_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
	return FEDC_OK;
}

enum fedc_err store__upload_begin(struct store *st, const char *hex, struct store_upload **out)
{
	struct store_upload *up = NULL;
	char path[PATH_MAX];
	enum fedc_err rc;

	*out = NULL;
	up = calloc(1, sizeof(*up));
	if (!up)
		return FEDC_ERR_NOMEM;
	up->st = st;
	up->file.fd = -1;
	memcpy(up->hex, hex, FEDC_SHA256_HEXLEN + 1);
	rc = fedc_hash_new(FEDC_HASH_SHA256, &up->hash);
	if (rc)
		goto out;
	blob_path(st, hex, path, sizeof(path));
	if (access(path, F_OK) == 0)
		goto out; /* already stored: hash only */
	rc = make_fanout_dir(st, hex);
	if (!rc)
		rc = fedc_atomic_begin(&up->file, path, 0600);
out:
	if (rc)
		store__upload_abort(up);
	else
		*out = up;
	return rc;
}

enum fedc_err store__upload_write(struct store_upload *up, const void *data, size_t len)
{
	const char *p = data;
	enum fedc_err rc = fedc_hash_update(up->hash, data, len);

	if (!rc && up->file.fd >= 0)
		rc = fedc_write_all(up->file.fd, p, len, up->file.path);
	return rc;
}

int store__upload_fd(const struct store_upload *up)
{
	return up ? up->file.fd : -1;
}

enum fedc_err store__upload_commit(struct store_upload *up, bool *created)
{
	char got[FEDC_SHA256_HEXLEN + 1];
	enum fedc_err rc;

	*created = false;
	rc = fedc_hash_final(up->hash, got);
	if (rc)
		goto out;
	if (memcmp(got, up->hex, FEDC_SHA256_HEXLEN) != 0) {
		rc = fedc_fail(FEDC_ERR_DIGEST, "body has SHA-256 %s, not %s", got, up->hex);
		goto out;
	}
	if (up->file.fd < 0)
		goto out; /* already stored and the body matched */
	/* Another upload of the same blob may have won the race: its file is
	 * identical, so ours is dropped. */
	if (access(up->file.path, F_OK) == 0)
		goto out;
	rc = fedc_atomic_commit(&up->file);
	*created = rc == FEDC_OK;
out:
	store__upload_abort(up);
	return rc;
}

void store__upload_abort(struct store_upload *up)
{
	if (!up)
		return;
	fedc_atomic_abort(&up->file);
	fedc_hash_free(up->hash);
	free(up);
}
