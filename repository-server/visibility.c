/* Namespace markers of the blob store (see visibility.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "visibility.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "fedc/hash.h"
#include "fedc/store_layout.h"

/* Room under PATH_MAX for "/updates/<64>/<2>/<64>" and temp suffixes. */
#define ROOT_MAX (PATH_MAX - 256)

struct visibility {
	char root[ROOT_MAX];
	char published[ROOT_MAX + 16]; /* <root>/published */
	char updates[ROOT_MAX + 16];   /* <root>/updates */
};

/* Creates directory `path` if missing; a new entry is made durable by an
 * fsync of `parent`, so that a marker below it survives a crash. */
static enum fedc_err make_dir_durable(const char *parent, const char *path)
{
	struct stat sb;

	if (mkdir(path, 0700) == 0)
		return fedc_fsync_dir(parent);
	if (errno == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return FEDC_OK;
	return fedc_fail(FEDC_ERR_IO, "%s: cannot create directory: %s", path,
			 errno == EEXIST ? "exists and is not a directory" : strerror(errno));
}

/* ---- migration of a store older than namespaces ------------------------- */

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

/* Marks every blob of one <root>/sha256/<2 hex> directory in `into`. */
static enum fedc_err mark_fanout_dir(const char *blobs, const char *fan, const char *into)
{
	char dir[PATH_MAX], marker_dir[PATH_MAX], marker[PATH_MAX + 320];
	struct dirent *de;
	enum fedc_err rc = FEDC_OK;
	DIR *d;
	int n = 0;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", blobs, fan) >= sizeof(dir) ||
	    (size_t)snprintf(marker_dir, sizeof(marker_dir), "%s/%s", into, fan) >= sizeof(marker_dir))
		return fedc_fail(FEDC_ERR_IO, "%s: path too long", blobs);
	d = opendir(dir);
	if (!d)
		return fedc_fail(FEDC_ERR_IO, "%s: %s", dir, strerror(errno));
	while (!rc && (de = readdir(d)) != NULL) {
		if (!fedc_hex_valid(de->d_name, FEDC_SHA256_HEXLEN) || strncmp(de->d_name, fan, 2) != 0)
			continue; /* not a blob name */
		if (n++ == 0)
			rc = make_dir_durable(into, marker_dir);
		snprintf(marker, sizeof(marker), "%s/%s", marker_dir, de->d_name);
		if (!rc)
			rc = fedc_write_atomic(marker, "", 0);
	}
	closedir(d);
	return rc;
}

/* Builds <root>/published.new with a marker per stored blob, then renames it
 * to <root>/published: a crash in between leaves no published/ directory,
 * and the next start begins again. */
static enum fedc_err migrate(const struct visibility *v)
{
	char blobs[PATH_MAX], staging[PATH_MAX];
	struct dirent *de;
	enum fedc_err rc;
	DIR *d;

	snprintf(blobs, sizeof(blobs), "%s/" FEDC_STORE_BLOBS_DIR, v->root);
	snprintf(staging, sizeof(staging), "%s.new", v->published);
	(void)nftw(staging, remove_entry, 8, FTW_DEPTH | FTW_PHYS); /* an earlier attempt */
	rc = make_dir_durable(v->root, staging);
	if (rc)
		return rc;
	d = opendir(blobs);
	while (!rc && d && (de = readdir(d)) != NULL) {
		if (strlen(de->d_name) == 2 && fedc_hex_valid(de->d_name, 2))
			rc = mark_fanout_dir(blobs, de->d_name, staging);
	}
	if (d)
		closedir(d);
	else if (errno != ENOENT)
		rc = fedc_fail(FEDC_ERR_IO, "%s: %s", blobs, strerror(errno));
	if (!rc && rename(staging, v->published) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "rename %s -> %s: %s", staging, v->published, strerror(errno));
	if (!rc)
		rc = fedc_fsync_dir(v->root);
	return rc;
}

/* ---- API ---------------------------------------------------------------- */

enum fedc_err visibility__open(const char *root, struct visibility **out)
{
	struct visibility *v = NULL;
	struct stat sb;
	enum fedc_err rc = FEDC_OK;

	*out = NULL;
	if (!root[0] || strlen(root) >= ROOT_MAX)
		return fedc_fail(FEDC_ERR_INVAL, "store directory \"%s\": empty or too long", root);
	v = calloc(1, sizeof(*v));
	if (!v)
		return FEDC_ERR_NOMEM;
	snprintf(v->root, sizeof(v->root), "%s", root);
	snprintf(v->published, sizeof(v->published), "%s/" FEDC_STORE_PUBLISHED_DIR, root);
	snprintf(v->updates, sizeof(v->updates), "%s/" FEDC_STORE_UPDATES_DIR, root);
	if (stat(v->published, &sb) != 0)
		rc = errno == ENOENT ? migrate(v)
				     : fedc_fail(FEDC_ERR_IO, "%s: %s", v->published, strerror(errno));
	if (!rc)
		rc = make_dir_durable(v->root, v->updates);
	if (rc)
		free(v);
	else
		*out = v;
	return rc;
}

void visibility__close(struct visibility *v)
{
	free(v);
}

/* `path` up to its last '/': the directory that holds it. */
static void parent_of(const char *path, char *buf, size_t cap)
{
	const char *slash = strrchr(path, '/');
	size_t len = slash ? (size_t)(slash - path) : 0;

	snprintf(buf, cap, "%.*s", (int)len, path);
}

enum fedc_err visibility__has(struct visibility *v, const char *node, const char *hex, bool *visible)
{
	char path[PATH_MAX + 80];

	(void)fedc_store_marker_path(v->root, node, hex, path, sizeof(path)); /* fits: see ROOT_MAX */
	*visible = access(path, F_OK) == 0;
	if (!*visible && errno != ENOENT && errno != ENOTDIR)
		return fedc_fail(FEDC_ERR_IO, "%s: %s", path, strerror(errno));
	return FEDC_OK;
}

enum fedc_err visibility__add(struct visibility *v, const char *node, const char *hex, bool *added)
{
	char dir[PATH_MAX + 80], fan[PATH_MAX + 80], path[PATH_MAX + 80];
	enum fedc_err rc = FEDC_OK;

	if (added)
		*added = false;
	(void)fedc_store_marker_path(v->root, node, hex, path, sizeof(path)); /* fits: see ROOT_MAX */
	parent_of(path, fan, sizeof(fan));  /* <namespace>/<2 hex> */
	parent_of(fan, dir, sizeof(dir));   /* the namespace's directory */
	if (access(path, F_OK) == 0)
		return FEDC_OK; /* whoever wrote it made it durable before answering */
	if (added)
		*added = true;
	if (node)
		rc = make_dir_durable(v->updates, dir);
	if (!rc)
		rc = make_dir_durable(dir, fan);
	/* Temp file, fsync, rename, fsync of the directory: a marker is there
	 * or not, never half-made. */
	if (!rc)
		rc = fedc_write_atomic(path, "", 0);
	return rc;
}
