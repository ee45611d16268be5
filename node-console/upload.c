/* Uploaded CSV files (see upload.h). */
#define _GNU_SOURCE /* mkstemps */
#include "upload.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const text_fields[] = { "csrf", "name", "tags", "description", "label_column" };

__attribute__((format(printf, 3, 4))) static bool refuse(struct upload *u, unsigned status, const char *fmt, ...)
{
	va_list ap;

	if (!u->status) {
		u->status = status;
		va_start(ap, fmt);
		vsnprintf(u->why, sizeof(u->why), fmt, ap);
		va_end(ap);
	}
	return false;
}

enum fedc_err upload__begin(struct upload *u, const char *dir, const struct session *s)
{
	memset(u, 0, sizeof(*u));
	u->fd = -1;
	u->session = *s;
	if ((size_t)snprintf(u->dir, sizeof(u->dir), "%s", dir) >= sizeof(u->dir))
		return fedc_fail(FEDC_ERR_IO, "%s: path too long", dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return fedc_fail(FEDC_ERR_IO, "cannot make %s for uploads: %s", dir, strerror(errno));
	return FEDC_OK;
}

static bool is_text_field(const char *key)
{
	for (size_t i = 0; i < sizeof(text_fields) / sizeof(text_fields[0]); i++)
		if (strcmp(key, text_fields[i]) == 0)
			return true;
	return false;
}

/* A new part begins: the order and the names are checked here. */
static bool part_begins(struct upload *u, const char *key, const char *filename)
{
	bool file = strcmp(key, "file") == 0;

	if (strlen(key) > FORM_NAME_MAX || (!file && !is_text_field(key)))
		return refuse(u, 400, "The upload form has an unknown field \"%.32s\".", key);
	if (u->fields.n == 0 && strcmp(key, "csrf") != 0)
		return refuse(u, 403, "Refused: the form's security token must come first. Reload the page and try again.");
	if (u->fields.n == 1 && !u->csrf_ok) {
		u->csrf_ok = sessions__csrf_ok(&u->session, form__get(&u->fields, "csrf"));
		if (!u->csrf_ok)
			return refuse(u, 403, "Refused: the form's security token is missing or stale. "
					      "Reload the page and try again.");
	}
	if (file != (filename != NULL))
		return refuse(u, 400, "The field \"%s\" %s.", key, file ? "must be a file" : "cannot be a file");
	if (file && u->have_file)
		return refuse(u, 400, "One file per upload.");
	if (!file && (form__get(&u->fields, key) || u->fields.n == FORM_FIELDS_MAX))
		return refuse(u, 400, "The field \"%s\" is repeated.", key);
	snprintf(u->current, sizeof(u->current), "%s", key);
	return true;
}

static bool open_file(struct upload *u, const char *filename)
{
	if ((size_t)snprintf(u->path, sizeof(u->path), "%s/upload-XXXXXX.csv", u->dir) >= sizeof(u->path))
		return refuse(u, 500, "The upload folder's path is too long.");
	u->fd = mkstemps(u->path, 4);
	if (u->fd < 0) {
		refuse(u, 500, "Cannot write the upload into %s: %s.", u->dir, strerror(errno));
		u->path[0] = '\0';
		return false;
	}
	if (fchmod(u->fd, 0640) != 0) /* the node's group may read it, as the daemon's files */
		return refuse(u, 500, "Cannot set the mode of %s: %s.", u->path, strerror(errno));
	snprintf(u->filename, sizeof(u->filename), "%s", filename);
	u->have_file = true;
	return true;
}

static bool write_file(struct upload *u, const char *data, size_t size)
{
	if (size > UPLOAD_MAX_BYTES - u->bytes)
		return refuse(u, 413, "The file is larger than %llu MiB: copy it to the node machine and add it by path.",
			      (unsigned long long)(UPLOAD_MAX_BYTES >> 20));
	while (size) {
		ssize_t n = write(u->fd, data, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return refuse(u, 500, "Cannot write %s: %s.", u->path, n < 0 ? strerror(errno) : "no space");
		data += n;
		size -= (size_t)n;
		u->bytes += (uint64_t)n;
	}
	return true;
}

/* Text values arrive in pieces too: each is appended to the field's value. */
static bool append_text(struct upload *u, const char *data, size_t size)
{
	struct form_field *f = &u->fields.f[u->fields.n - 1];
	size_t have = strlen(f->value);
	char *grown;

	if (memchr(data, '\0', size))
		return refuse(u, 400, "The field \"%s\" holds a NUL byte.", f->name);
	if (size > FORM_VALUE_MAX - have)
		return refuse(u, 400, "The field \"%s\" is longer than %d bytes.", f->name, FORM_VALUE_MAX);
	grown = realloc(f->value, have + size + 1);
	if (!grown)
		return refuse(u, 500, "Out of memory.");
	memcpy(grown + have, data, size);
	grown[have + size] = '\0';
	f->value = grown;
	return true;
}

static bool add_text_field(struct upload *u, const char *key)
{
	struct form_field *f = &u->fields.f[u->fields.n];

	f->value = calloc(1, 1);
	if (!f->value)
		return refuse(u, 500, "Out of memory.");
	snprintf(f->name, sizeof(f->name), "%s", key);
	u->fields.n++;
	return true;
}

bool upload__body(struct upload *u, size_t size)
{
	if (u->status)
		return false;
	if (u->csrf_ok)
		return true;
	if (u->unverified >= UPLOAD_UNVERIFIED_MAX)
		return refuse(u, 403, "Refused: the form's security token must come first, within %llu KiB. "
				      "Reload the page and try again.",
			      (unsigned long long)(UPLOAD_UNVERIFIED_MAX >> 10));
	u->unverified += size;
	return true;
}

bool upload__part(struct upload *u, const char *key, const char *filename, const char *data, uint64_t off,
		  size_t size)
{
	bool file;

	if (u->status)
		return false;
	if (!key || !key[0])
		return refuse(u, 400, "The upload form has a field without a name.");
	file = strcmp(key, "file") == 0;
	/* A new part: another name, or the same one again from offset 0 once
	 * bytes came (the post processor may announce a part with no bytes,
	 * then send its first bytes at offset 0). */
	if (strcmp(key, u->current) != 0 || (off == 0 && u->part_bytes)) {
		if (off != 0 || !part_begins(u, key, filename))
			return refuse(u, 400, "The upload form is malformed.");
		if (!(file ? open_file(u, filename) : add_text_field(u, key)))
			return false;
		u->part_bytes = 0;
	}
	if (!size)
		return true;
	u->part_bytes += size;
	return file ? write_file(u, data, size) : append_text(u, data, size);
}

bool upload__finish(struct upload *u)
{
	if (u->fd >= 0) {
		if (close(u->fd) != 0 && !u->status)
			refuse(u, 500, "Cannot write %s: %s.", u->path, strerror(errno));
		u->fd = -1;
	}
	if (u->status)
		return false;
	if (!u->csrf_ok && u->fields.n == 1)
		u->csrf_ok = sessions__csrf_ok(&u->session, form__get(&u->fields, "csrf"));
	if (!u->csrf_ok)
		return refuse(u, 403, "Refused: the form's security token is missing or stale. Reload the page and try again.");
	if (!u->have_file)
		return refuse(u, 400, "Choose a CSV file to upload.");
	return true;
}

void upload__free(struct upload *u)
{
	if (u->fd >= 0) {
		close(u->fd);
		u->fd = -1;
	}
	form__free(&u->fields);
}

void upload__discard(struct upload *u)
{
	upload__free(u);
	if (u->path[0])
		unlink(u->path);
	u->path[0] = '\0';
}
