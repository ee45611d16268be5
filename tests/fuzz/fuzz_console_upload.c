/* Fuzz target: the parts of an upload to the node console
 * (node-console/upload.h), in any order, as libmicrohttpd's post processor
 * could hand them over from a browser's (or an attacker's) multipart body.
 *
 * Input: a sequence of events, each two bytes then data:
 *   byte 0: bits 0-2 the field (csrf, name, tags, description, label_column,
 *           file, path, ""), bit 3 a file name given, bit 4 the data is the
 *           session's CSRF token (else the next bytes), bits 5-6 the offset
 *           (0, the field's bytes so far, 1, a large one);
 *   byte 1: how many data bytes follow (0 to 255).
 * Properties: an accepted upload had the session's token as its first field,
 * exactly one file whose size on disk is what was counted, and only the
 * allowed text fields, each once, within their cap; a refused one has a
 * status and a reason, and once refused stays refused; nothing written
 * before the token was accepted, and no more than UPLOAD_UNVERIFIED_MAX
 * body bytes (plus one piece) taken before it; after discard no file is
 * left. Each event's bytes, with its two, count as raw body (upload__body). */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "upload.h"

static const char *const keys[] = { "csrf", "name", "tags", "description", "label_column", "file", "path", "" };

static int files_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void check_accepted(const struct upload *u, const struct session *s)
{
	struct stat st;

	fuzz_require(u->fields.n >= 1 && strcmp(u->fields.f[0].name, "csrf") == 0, "the token came first");
	fuzz_require(strcmp(u->fields.f[0].value, s->csrf) == 0, "and it is the session's");
	fuzz_require(u->have_file && stat(u->path, &st) == 0 && (uint64_t)st.st_size == u->bytes,
		     "one file, of the size counted");
	for (size_t i = 0; i < u->fields.n; i++) {
		const char *name = u->fields.f[i].name;

		fuzz_require(strcmp(name, "file") != 0 && strcmp(name, "path") != 0 && name[0],
			     "only the allowed text fields");
		fuzz_require(form__get(&u->fields, name) == u->fields.f[i].value, "each once");
		fuzz_require(strlen(u->fields.f[i].value) <= FORM_VALUE_MAX, "within its cap");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sessions all;
	static struct session *s;
	static char dir[4096];
	struct upload u;
	uint64_t so_far[8] = { 0 };
	bool refused = false;
	size_t i = 0;

	if (!s) {
		sessions__init(&all, 900);
		fuzz_require(sessions__start(&all, "steward", 1, &s) == FEDC_OK, "a session");
		snprintf(dir, sizeof(dir), "%s/uploads", fuzz_tmpdir());
	}
	fuzz_require(upload__begin(&u, dir, s) == FEDC_OK, "upload begins");
	while (i + 2 <= size) {
		uint8_t op = data[i], n = data[i + 1];
		unsigned k = op & 7, mode = (op >> 5) & 3;
		const char *bytes = (const char *)data + i + 2;
		size_t len = n <= size - i - 2 ? n : size - i - 2;
		uint64_t off = mode == 0 ? 0 : mode == 1 ? so_far[k] : mode == 2 ? 1 : UPLOAD_MAX_BYTES;
		bool ok;

		i += 2 + len;
		if (op & 0x10) {
			bytes = s->csrf;
			len = strlen(s->csrf);
		}
		ok = upload__body(&u, 2 + len);
		ok = upload__part(&u, keys[k], (op & 8) ? "x.csv" : NULL, bytes, off, len) && ok;
		fuzz_require(!refused || !ok, "once refused, stays refused");
		fuzz_require(ok || (u.status >= 400 && u.why[0]), "a refusal has a status and a reason");
		if (!u.csrf_ok) {
			fuzz_require(files_in(dir) == 0, "nothing written before the token is accepted");
			fuzz_require(u.unverified <= UPLOAD_UNVERIFIED_MAX + 257, "the body before the token is capped");
		}
		refused = !ok;
		so_far[k] += len;
	}
	if (upload__finish(&u))
		check_accepted(&u, s);
	else
		fuzz_require(u.status >= 400 && u.why[0], "a refused upload says why");
	upload__discard(&u);
	fuzz_require(files_in(dir) == 0, "nothing left after discard");
	return 0;
}
