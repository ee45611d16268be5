/* Folder datasets: listing and digest (dataset_folder.h). */
#include "dataset_folder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/num.h"

/* The walk's state: the listing grows in `files` (an array of struct
 * folder_file kept in a capped buffer). */
struct walk {
	const char *root;
	char *real_root;       /* realpath of the root, for links */
	struct fedc_buf files;
	struct folder_listing *out;
};

static bool later(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

static enum fedc_err join_path(char *dst, size_t cap, const char *a, const char *b)
{
	int n = b[0] ? snprintf(dst, cap, "%s/%s", a, b) : snprintf(dst, cap, "%s", a);

	if (n < 0 || (size_t)n >= cap)
		return fedc_fail(FEDC_ERR_TOO_BIG, "%s/%s: path too long", a, b);
	return FEDC_OK;
}

static enum fedc_err add_file(struct walk *w, const char *rel, const struct stat *st)
{
	struct folder_file *f = NULL;
	enum fedc_err rc;

	if (w->files.len / sizeof(*f) >= FOLDER_MAX_FILES)
		return fedc_fail(FEDC_ERR_TOO_BIG, "%s: more than %u files", w->root, FOLDER_MAX_FILES);
	rc = fedc_buf_extend(&w->files, sizeof(*f), (void **)&f);
	if (rc)
		return rc;
	f->rel = strdup(rel);
	f->size = (uint64_t)st->st_size;
	f->changed = st->st_ctim;
	return f->rel ? FEDC_OK : FEDC_ERR_NOMEM;
}

/* A link is kept when it leads to a regular file inside the folder: the
 * plan process sees only the folder (confine.h), and a link out of it
 * would be data the operator did not register. */
static enum fedc_err check_link(const struct walk *w, const char *full, struct stat *st)
{
	char *target = realpath(full, NULL);
	size_t n = strlen(w->real_root);
	enum fedc_err rc = FEDC_OK;

	if (!target)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: a symbolic link that leads nowhere (%s)", full, strerror(errno));
	else if (strncmp(target, w->real_root, n) != 0 || target[n] != '/')
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: a symbolic link out of the dataset folder (to %s); copy the file"
			       " in instead", full, target);
	else if (stat(target, st) != 0 || !S_ISREG(st->st_mode))
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: a symbolic link to something other than a regular file", full);
	free(target);
	return rc;
}

static enum fedc_err walk_dir(struct walk *w, const char *rel, int depth);

static enum fedc_err walk_entry(struct walk *w, const char *rel, int depth)
{
	char full[NODE_PATH_MAX];
	struct stat st;
	enum fedc_err rc = join_path(full, sizeof(full), w->root, rel);

	if (rc)
		return rc;
	if (lstat(full, &st) != 0)
		return fedc_fail(FEDC_ERR_IO, "%s: %s", full, strerror(errno));
	if (S_ISLNK(st.st_mode)) {
		rc = check_link(w, full, &st);
		return rc ? rc : add_file(w, rel, &st);
	}
	if (S_ISDIR(st.st_mode))
		return walk_dir(w, rel, depth + 1);
	if (!S_ISREG(st.st_mode))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: not a regular file or a folder (a fifo, socket or device)",
				 full);
	return add_file(w, rel, &st);
}

static enum fedc_err walk_dir(struct walk *w, const char *rel, int depth)
{
	char full[NODE_PATH_MAX], child[NODE_PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d = NULL;
	enum fedc_err rc = join_path(full, sizeof(full), w->root, rel);

	if (!rc && depth > FOLDER_MAX_DEPTH)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: more than %d folder levels", full, FOLDER_MAX_DEPTH);
	if (!rc && (!(d = opendir(full)) || fstat(dirfd(d), &st) != 0))
		rc = fedc_fail(FEDC_ERR_IO, "%s: %s", full, strerror(errno));
	if (!rc && later(st.st_ctim, w->out->newest_dir)) {
		w->out->newest_dir = st.st_ctim;
		snprintf(w->out->newest_dir_rel, sizeof(w->out->newest_dir_rel), "%s", rel[0] ? rel : ".");
	}
	while (!rc) {
		errno = 0;
		e = readdir(d);
		if (!e) {
			if (errno)
				rc = fedc_fail(FEDC_ERR_IO, "%s: %s", full, strerror(errno));
			break;
		}
		if (e->d_name[0] == '.')
			continue; /* ".", "..", and hidden files by convention */
		rc = rel[0] ? join_path(child, sizeof(child), rel, e->d_name)
			    : join_path(child, sizeof(child), e->d_name, "");
		if (!rc)
			rc = walk_entry(w, child, depth);
	}
	if (d)
		closedir(d);
	return rc;
}

static int by_rel(const void *a, const void *b)
{
	return strcmp(((const struct folder_file *)a)->rel, ((const struct folder_file *)b)->rel);
}

enum fedc_err dataset_folder__list(const char *root, struct folder_listing *out)
{
	struct walk w = { .root = root, .files = FEDC_BUF_INIT((size_t)FOLDER_MAX_FILES * sizeof(struct folder_file)),
			  .out = out };
	struct stat st;
	enum fedc_err rc = FEDC_OK;

	memset(out, 0, sizeof(*out));
	if (stat(root, &st) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "%s: %s", root, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		rc = fedc_fail(FEDC_ERR_IO, "%s: not a folder", root);
	if (!rc && !(w.real_root = realpath(root, NULL)))
		rc = fedc_fail(FEDC_ERR_IO, "%s: %s", root, strerror(errno));
	if (!rc)
		rc = walk_dir(&w, "", 0);
	out->files = (struct folder_file *)w.files.data; /* freed by the caller, also on failure */
	out->n = w.files.len / sizeof(struct folder_file);
	w.files.data = NULL;
	if (!rc && out->n) /* an empty folder has no array at all */
		qsort(out->files, out->n, sizeof(*out->files), by_rel);
	free(w.real_root);
	return rc;
}

void dataset_folder__free(struct folder_listing *l)
{
	for (size_t i = 0; l && i < l->n; i++)
		free(l->files[i].rel);
	if (l) {
		free(l->files);
		memset(l, 0, sizeof(*l));
	}
}

/* ---- reading with the digest ---- */

static enum fedc_err read_whole(const char *path, size_t max, struct fedc_buf *out)
{
	int fd = -1;
	enum fedc_err rc = dataset__open_regular(path, &fd);

	fedc_buf_reset(out);
	if (!rc)
		rc = fedc_buf_append(out, "", 0);
	while (!rc) {
		char chunk[65536];
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = fedc_fail(FEDC_ERR_IO, "%s: %s", path, strerror(errno));
		else if (n == 0)
			break;
		else if (out->len + (size_t)n > max)
			rc = fedc_fail(FEDC_ERR_TOO_BIG, "%s: larger than %zu bytes, the most one file may have", path, max);
		else
			rc = fedc_buf_append(out, chunk, (size_t)n);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static enum fedc_err hash_named(struct fedc_hash *h, const char *name, const struct fedc_buf *content)
{
	uint8_t size[8];
	uint64_t len = content->len;
	enum fedc_err rc;

	for (int i = 0; i < 8; i++)
		size[i] = (uint8_t)(len >> (8 * i));
	rc = fedc_hash_update(h, name, strlen(name) + 1);
	if (!rc)
		rc = fedc_hash_update(h, size, sizeof(size));
	if (!rc && content->len)
		rc = fedc_hash_update(h, content->data, content->len);
	return rc;
}

enum fedc_err dataset_folder__read(const char *root, const struct folder_file *f, size_t max, struct fedc_hash *h,
				   struct fedc_buf *out)
{
	char full[NODE_PATH_MAX];
	enum fedc_err rc = join_path(full, sizeof(full), root, f->rel);

	if (!rc)
		rc = read_whole(full, max, out);
	if (!rc)
		rc = hash_named(h, f->rel, out);
	return rc;
}

enum fedc_err dataset_folder__read_extra(const char *path, size_t max, struct fedc_hash *h, struct fedc_buf *out)
{
	enum fedc_err rc = read_whole(path, max, out);

	return rc ? rc : hash_named(h, "+extra", out);
}

/* ---- naming what changed ---- */

static bool since_registration(struct timespec t, struct timespec since)
{
	return later(t, since);
}

void dataset_folder__format_time(struct timespec t, char *out, size_t cap)
{
	snprintf(out, cap, "%lld.%09ld", (long long)t.tv_sec, (long)t.tv_nsec);
}

bool dataset_folder__parse_time(const char *text, struct timespec *out)
{
	const char *dot = strchr(text, '.');
	char sec[24];
	int64_t s, ns;

	if (!dot || (size_t)(dot - text) >= sizeof(sec) || strlen(dot + 1) != 9)
		return false;
	memcpy(sec, text, (size_t)(dot - text));
	sec[dot - text] = '\0';
	if (!fedc_parse_int(sec, 0, INT64_MAX, &s) || !fedc_parse_int(dot + 1, 0, 999999999, &ns))
		return false;
	out->tv_sec = (time_t)s;
	out->tv_nsec = (long)ns;
	return true;
}

enum fedc_err dataset_folder__changed(const struct node_dataset *ds, const struct folder_listing *l, const char *extra,
				      struct timespec since, const char *now_digest)
{
	char why[2 * NODE_PATH_MAX + 160];
	size_t named = 0, used;
	struct stat st;

	used = (size_t)snprintf(why, sizeof(why), "folder %s: SHA-256 now %.12s..., was %.12s...", ds->path, now_digest,
				ds->digest);
	for (size_t i = 0; i < l->n && used < sizeof(why); i++) {
		if (!since_registration(l->files[i].changed, since))
			continue;
		used += (size_t)snprintf(why + used, sizeof(why) - used, "%s %s", named ? "," : "; changed or added:",
					 l->files[i].rel);
		named++;
		if (named == 5 && used < sizeof(why)) {
			used += (size_t)snprintf(why + used, sizeof(why) - used, " ...");
			break;
		}
	}
	if (extra && extra[0] && stat(extra, &st) == 0 && since_registration(st.st_ctim, since) && used < sizeof(why)) {
		used += (size_t)snprintf(why + used, sizeof(why) - used, "; changed: %s", extra);
		named++;
	}
	if (!named && since_registration(l->newest_dir, since) && used < sizeof(why))
		snprintf(why + used, sizeof(why) - used, "; a file was removed or renamed in %s", l->newest_dir_rel);
	return dataset__changed(ds, NULL, why);
}

bool dataset_folder__option(const char *options, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = options;

	while (p && *p) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
			if (len - klen - 1 >= cap)
				return false;
			memcpy(out, p + klen + 1, len - klen - 1);
			out[len - klen - 1] = '\0';
			return true;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

bool dataset_folder__parse_dims(const char *text, uint32_t n, uint32_t max, uint32_t *dims)
{
	const char *p = text;

	for (uint32_t i = 0; i < n; i++) {
		size_t len = strspn(p, "0123456789");
		char digits[12];
		int64_t v;

		if (len == 0 || len >= sizeof(digits) || p[len] != (i + 1 < n ? 'x' : '\0'))
			return false;
		memcpy(digits, p, len);
		digits[len] = '\0';
		if (!fedc_parse_int(digits, 1, max, &v))
			return false;
		dims[i] = (uint32_t)v;
		p += len + 1;
	}
	return true;
}
