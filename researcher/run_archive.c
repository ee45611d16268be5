/* The archive of a run (see archive.h). */
#include "run_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "breakpoint.h"
#include "fedc/buf.h"
#include "fedc/fs.h"
#include "fedc/hash.h"
#include "node_log.h"

#define REMOVED "REMOVED"
#define INI_MAX ((size_t)1 << 20)      /* an experiment or network file */
#define MANIFEST_MAX ((size_t)1 << 20)
#define CHUNK ((size_t)1 << 16)

static const char *const run_files[] = { "history.jsonl", "rounds.csv", "nodes.csv", "status.json",
					 "global.params", BEST_FILE, "analytics.csv", "analytics.json" };

struct archive_out {
	FILE *notes;                /* what was left out, and why */
	struct archive *a;
	struct archive_entry *e;
	char top[NAME_MAX + 1];     /* the members' directory */
	struct fedc_buf manifest;
};

/* ---- redaction ---- */

static bool contains(const char *key, size_t len, const char *word)
{
	size_t n = strlen(word);

	for (size_t i = 0; i + n <= len; i++) {
		if (strncasecmp(key + i, word, n) == 0)
			return true;
	}
	return false;
}

static bool ends_with(const char *key, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && strncasecmp(key + len - n, suffix, n) == 0;
}

/* Whether the value of `key` is a secret itself (not the path of one). */
static bool secret_key(const char *key, size_t len)
{
	if (ends_with(key, len, "_file") || ends_with(key, len, "_dir"))
		return false;
	return contains(key, len, "token") || contains(key, len, "password") || contains(key, len, "secret");
}

/* One line: "key = value" with a secret key keeps "key = REMOVED"; so does
 * one commented out ("# key = value"): an old token is still a token. */
static enum fedc_err redact_line(const char *line, size_t len, struct fedc_buf *out)
{
	const char *eq = memchr(line, '=', len);
	size_t start = strspn(line, " \t"), end;

	if (start < len && (line[start] == '#' || line[start] == ';'))
		start += 1 + strspn(line + start + 1, " \t");
	if (!eq || (size_t)(eq - line) < start || line[start] == '[')
		return fedc_buf_append(out, line, len);
	end = (size_t)(eq - line);
	while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	if (!secret_key(line + start, end - start))
		return fedc_buf_append(out, line, len);
	return fedc_buf_printf(out, "%.*s= " REMOVED "%s", (int)(eq - line), line,
			       len && line[len - 1] == '\n' ? "\n" : "");
}

enum fedc_err run_archive__redact_ini(const char *in, size_t len, struct fedc_buf *out)
{
	enum fedc_err rc = FEDC_OK;

	while (!rc && len > 0) {
		const char *nl = memchr(in, '\n', len);
		size_t n = nl ? (size_t)(nl - in) + 1 : len;

		rc = redact_line(in, n, out);
		in += n;
		len -= n;
	}
	return rc;
}

/* ---- members ---- */

static enum fedc_err archive_fail(struct archive *a, const char *what)
{
	return fedc_fail(FEDC_ERR_IO, "%s: %s", what, archive_error_string(a) ? archive_error_string(a) : "failed");
}

static enum fedc_err begin_member(struct archive_out *out, const char *name, int64_t size, time_t mtime)
{
	char path[NAME_MAX + 300];

	snprintf(path, sizeof(path), "%s/%s", out->top, name);
	archive_entry_clear(out->e);
	archive_entry_set_pathname(out->e, path);
	archive_entry_set_filetype(out->e, AE_IFREG);
	archive_entry_set_perm(out->e, 0644);
	archive_entry_set_size(out->e, size);
	archive_entry_set_mtime(out->e, mtime, 0);
	if (archive_write_header(out->a, out->e) != ARCHIVE_OK)
		return archive_fail(out->a, path);
	return FEDC_OK;
}

static enum fedc_err put(struct archive_out *out, const void *data, size_t len, struct fedc_hash *h, const char *name)
{
	const char *p = data;

	if (h && fedc_hash_update(h, data, len) != FEDC_OK)
		return FEDC_ERR_NOMEM;
	while (len > 0) {
		la_ssize_t n = archive_write_data(out->a, p, len);

		if (n <= 0)
			return archive_fail(out->a, name);
		p += n;
		len -= (size_t)n;
	}
	return FEDC_OK;
}

static enum fedc_err note(struct archive_out *out, const char *hex, const char *name)
{
	return fedc_buf_printf(&out->manifest, "%s  %s\n", hex, name);
}

/* A member from memory. */
static enum fedc_err add_bytes(struct archive_out *out, const char *name, const void *data, size_t len, bool listed)
{
	char hex[FEDC_SHA256_HEXLEN + 1];
	enum fedc_err rc = begin_member(out, name, (int64_t)len, time(NULL));

	if (!rc)
		rc = put(out, data, len, NULL, name);
	if (!rc && listed)
		rc = fedc_hash_buffer(FEDC_HASH_SHA256, data, len, hex);
	if (!rc && listed)
		rc = note(out, hex, name);
	return rc;
}

/* A member from the file `path`, streamed and hashed on the way. */
static enum fedc_err add_file(struct archive_out *out, const char *name, const char *path)
{
	char buf[CHUNK], hex[FEDC_SHA256_HEXLEN + 1];
	struct fedc_hash *h = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint64_t left;
	enum fedc_err rc;

	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = fedc_fail(FEDC_ERR_IO, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	rc = fedc_hash_new(FEDC_HASH_SHA256, &h);
	if (!rc)
		rc = begin_member(out, name, (int64_t)st.st_size, st.st_mtime);
	for (left = (uint64_t)st.st_size; !rc && left > 0;) {
		ssize_t n = read(fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));

		if (n <= 0) /* shorter than it was a moment ago: the tar header is written */
			rc = fedc_fail(FEDC_ERR_IO, "cannot read %s: %s", path, n ? strerror(errno) : "it shrank");
		else
			rc = put(out, buf, (size_t)n, h, name);
		left -= n > 0 ? (uint64_t)n : 0;
	}
	if (!rc)
		rc = fedc_hash_final(h, hex);
	if (!rc)
		rc = note(out, hex, name);
out:
	fedc_hash_free(h);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* An experiment or network file with its secrets replaced. */
static enum fedc_err add_redacted(struct archive_out *out, const char *name, const char *path)
{
	struct fedc_buf text = FEDC_BUF_SECRET_INIT(INI_MAX), clean = FEDC_BUF_INIT(INI_MAX + 4096);
	char buf[CHUNK];
	FILE *f = fopen(path, "r");
	enum fedc_err rc = f ? FEDC_OK : fedc_fail(FEDC_ERR_NOT_FOUND, "cannot read %s, the run's %s: %s", path, name,
						   strerror(errno));
	size_t n;

	while (!rc && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		rc = fedc_buf_append(&text, buf, n);
	if (!rc)
		rc = run_archive__redact_ini(text.data ? text.data : "", text.len, &clean);
	if (!rc)
		rc = add_bytes(out, name, clean.data ? clean.data : "", clean.len, true);
	if (f)
		fclose(f);
	fedc_buf_free(&text);
	fedc_buf_free(&clean);
	return rc;
}

/* The run's own files that exist, then its plots. */
static enum fedc_err add_run_files(struct archive_out *out, const char *dir)
{
	char path[PATH_MAX];
	enum fedc_err rc = FEDC_OK;
	struct dirent *de;
	DIR *d;

	for (size_t i = 0; !rc && i < sizeof(run_files) / sizeof(run_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, run_files[i]);
		if (access(path, F_OK) == 0)
			rc = add_file(out, run_files[i], path);
	}
	d = rc ? NULL : opendir(dir);
	if (!rc && !d)
		return fedc_fail(FEDC_ERR_IO, "cannot list %s: %s", dir, strerror(errno));
	while (!rc && (de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len > 4 && strcmp(de->d_name + len - 4, ".svg") == 0 && de->d_name[0] != '.' &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < sizeof(path))
			rc = add_file(out, de->d_name, path);
	}
	if (d)
		closedir(d);
	return rc;
}

static int log_entry(const struct dirent *de)
{
	size_t len = strlen(de->d_name);

	return len > 6 && de->d_name[0] != '.' && strcmp(de->d_name + len - 6, ".jsonl") == 0;
}

/* The per-node round logs (node_log.h), in node-id order. A run of a
 * version before them has none: archived without, said on notes. */
static enum fedc_err add_node_logs(struct archive_out *out, const char *dir)
{
	char logs[PATH_MAX], path[PATH_MAX + NAME_MAX + 2], name[sizeof(NODE_LOG_DIR) + NAME_MAX + 1];
	struct dirent **list = NULL;
	enum fedc_err rc = FEDC_OK;
	int n;

	snprintf(logs, sizeof(logs), "%s/" NODE_LOG_DIR, dir);
	n = scandir(logs, &list, log_entry, alphasort);
	if (n < 0 && errno == ENOENT) {
		fprintf(out->notes, "archive: %s has no per-node round logs (" NODE_LOG_DIR "/): a run of a fedc "
				    "before them; archived without\n", dir);
		return FEDC_OK;
	}
	if (n < 0)
		return fedc_fail(FEDC_ERR_IO, "cannot list %s: %s", logs, strerror(errno));
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", logs, list[i]->d_name);
		snprintf(name, sizeof(name), NODE_LOG_DIR "/%s", list[i]->d_name);
		if (!rc)
			rc = add_file(out, name, path);
		free(list[i]);
	}
	free(list);
	return rc;
}

/* An input file of the run: left out, saying so, when it is gone; said
 * when it changed since the run. */
static enum fedc_err add_input(struct archive_out *out, const char *name, const char *path, const char *digest)
{
	char now[FEDC_SHA256_HEXLEN + 1];

	if (access(path, F_OK) != 0) {
		fprintf(out->notes, "archive: %s left out: the run's %s is gone (%s)\n", name, path, strerror(errno));
		return FEDC_OK;
	}
	if (fedc_hash_file(FEDC_HASH_SHA256, path, now) == FEDC_OK && strcmp(now, digest) != 0)
		fprintf(out->notes, "archive: %s changed since the run; archived as it is now\n", path);
	return add_redacted(out, name, path);
}

/* The experiment and network files the run's latest breakpoint names. */
static enum fedc_err add_inputs(struct archive_out *out, const char *dir)
{
	struct breakpoint *bp = calloc(1, sizeof(*bp));
	char bp_dir[BREAKPOINT_PATH_MAX];
	uint32_t latest;
	enum fedc_err rc = bp ? breakpoint__latest(dir, &latest) : FEDC_ERR_NOMEM;

	if (rc == FEDC_ERR_NOT_FOUND)
		rc = fedc_fail(rc, "%s: no run to archive (%s)", dir, fedc_last_error());
	if (!rc)
		rc = breakpoint__load(dir, latest, bp, bp_dir, sizeof(bp_dir));
	if (!rc)
		rc = add_input(out, "experiment.ini", bp->experiment_path, bp->experiment_digest);
	if (!rc && bp->network_path[0])
		rc = add_input(out, "network.ini", bp->network_path, bp->network_digest);
	free(bp);
	return rc;
}

static enum fedc_err open_out(struct archive_out *out, const char *dir, int fd)
{
	char real[PATH_MAX];

	if (!realpath(dir, real))
		return fedc_fail(FEDC_ERR_NOT_FOUND, "%s: %s", dir, strerror(errno));
	snprintf(out->top, sizeof(out->top), "%s", basename(real));
	out->a = archive_write_new();
	out->e = archive_entry_new();
	if (!out->a || !out->e)
		return FEDC_ERR_NOMEM;
	if (archive_write_add_filter_gzip(out->a) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(out->a) != ARCHIVE_OK || archive_write_open_fd(out->a, fd) != ARCHIVE_OK)
		return archive_fail(out->a, "tar.gz");
	return FEDC_OK;
}

enum fedc_err run_archive__write(const char *output_dir, const char *out_path, FILE *notes)
{
	struct archive_out out = { .notes = notes, .manifest = FEDC_BUF_INIT(MANIFEST_MAX) };
	struct fedc_atomic_file af = { .fd = -1 };
	enum fedc_err rc = fedc_atomic_begin(&af, out_path, 0644);

	if (!rc)
		rc = open_out(&out, output_dir, af.fd);
	if (!rc)
		rc = add_inputs(&out, output_dir);
	if (!rc)
		rc = add_run_files(&out, output_dir);
	if (!rc)
		rc = add_node_logs(&out, output_dir);
	if (!rc)
		rc = add_bytes(&out, "MANIFEST", out.manifest.data, out.manifest.len, false);
	if (!rc && archive_write_close(out.a) != ARCHIVE_OK)
		rc = archive_fail(out.a, out_path);
	rc = rc ? (fedc_atomic_abort(&af), rc) : fedc_atomic_commit(&af);
	if (out.a)
		archive_write_free(out.a);
	archive_entry_free(out.e);
	fedc_buf_free(&out.manifest);
	return rc;
}
