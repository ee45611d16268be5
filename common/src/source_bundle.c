/* The plan source bundle (fedc/source_bundle.h): one decoder of outside
 * bytes, read through the bounds-checked cursor, and the packer the
 * researcher uses, which checks its result with the same decoder. */
#include "fedc/source_bundle.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/cursor.h"

#define MAGIC_LEN (sizeof(FEDC_SOURCE_MAGIC) - 1)

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
	       c == '_' || c == '+' || c == '-';
}

/* 1..FEDC_SOURCE_NAME_MAX name characters, not starting with '.': no path,
 * no "..", no hidden file. */
static bool name_ok(const uint8_t *p, size_t len)
{
	if (len == 0 || len > FEDC_SOURCE_NAME_MAX || p[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char(p[i]))
			return false;
	return true;
}

/* The length of the UTF-8 sequence at p (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF), 0 if it is not one. */
static size_t utf8_seq(const uint8_t *p, size_t left)
{
	size_t n;
	uint8_t lo = 0x80, hi = 0xBF;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		n = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		n = 3;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xE0)
		lo = 0xA0;
	else if (p[0] == 0xED)
		hi = 0x9F;
	else if (p[0] == 0xF0)
		lo = 0x90;
	else if (p[0] == 0xF4)
		hi = 0x8F;
	if (left < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

/* A control character a person cannot see but a terminal or an editor
 * obeys: C0 and DEL other than tab, newline, carriage return and form feed;
 * C1 (U+0080..U+009F); the bidirectional overrides and isolates
 * (U+202A..U+202E, U+2066..U+2069), with which "Trojan Source" shows a
 * reviewer code in another order than the compiler reads it. */
static bool hidden_control(const uint8_t *p, size_t n)
{
	if (n == 1)
		return (p[0] < 0x20 || p[0] == 0x7F) && p[0] != '\t' && p[0] != '\n' && p[0] != '\r' && p[0] != '\f';
	if (n == 2)
		return p[0] == 0xC2 && p[1] < 0xA0;
	return n == 3 && p[0] == 0xE2 &&
	       ((p[1] == 0x80 && p[2] >= 0xAA && p[2] <= 0xAE) || (p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9));
}

/* Text a person reads: UTF-8 without hidden controls. *bad: offset of the
 * first byte that is not. */
static bool text_ok(const uint8_t *p, size_t len, size_t *bad)
{
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(p + i, len - i);

		if (n == 0 || hidden_control(p + i, n)) {
			*bad = i;
			return false;
		}
		i += n;
	}
	return true;
}

static enum fedc_err decode_file(struct fedc_cursor *c, size_t index, struct fedc_source_bundle *out)
{
	struct fedc_source_file *f = &out->files[index];
	const uint8_t *name, *text;
	uint64_t name_len, text_len;
	size_t bad;
	enum fedc_err rc = fedc_cursor_be(c, 1, "source file name length", &name_len);

	if (!rc)
		rc = fedc_cursor_take(c, name_len, "source file name", &name);
	if (rc)
		return rc;
	if (!name_ok(name, (size_t)name_len))
		return fedc_fail(FEDC_ERR_MALFORMED,
				 "source file %zu: its name is not 1 to %d of A-Z a-z 0-9 . _ + - (not starting with '.')",
				 index + 1, FEDC_SOURCE_NAME_MAX);
	memcpy(f->name, name, (size_t)name_len);
	f->name[name_len] = '\0';
	for (size_t i = 0; i < index; i++)
		if (strcmp(out->files[i].name, f->name) == 0)
			return fedc_fail(FEDC_ERR_MALFORMED, "source file %s: named twice", f->name);
	rc = fedc_cursor_be(c, 4, "source file length", &text_len);
	if (!rc)
		rc = fedc_cursor_take(c, text_len, "source file text", &text);
	if (rc)
		return fedc_fail(rc, "source file %s: %s", f->name, fedc_last_error());
	if (!text_ok(text, (size_t)text_len, &bad))
		return fedc_fail(FEDC_ERR_MALFORMED,
				 "source file %s: byte %zu (0x%02x) is not text (UTF-8 without control or bidirectional-override characters)",
				 f->name, bad, text[bad]);
	f->text = (const char *)text;
	f->len = (uint32_t)text_len;
	return FEDC_OK;
}

enum fedc_err fedc_source_decode(const void *bytes, size_t len, struct fedc_source_bundle *out)
{
	struct fedc_cursor c;
	const uint8_t *magic;
	uint64_t count;
	enum fedc_err rc;

	out->n = 0;
	if (len > FEDC_SOURCE_MAX)
		return fedc_fail(FEDC_ERR_TOO_BIG, "source bundle of %zu bytes: at most %u", len, FEDC_SOURCE_MAX);
	fedc_cursor_init(&c, bytes, len);
	rc = fedc_cursor_take(&c, MAGIC_LEN, "source bundle header", &magic);
	if (!rc && memcmp(magic, FEDC_SOURCE_MAGIC, MAGIC_LEN) != 0)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "not a source bundle (no \"" FEDC_SOURCE_MAGIC "\" header)");
	if (!rc)
		rc = fedc_cursor_be(&c, 2, "source file count", &count);
	if (!rc && (count == 0 || count > FEDC_SOURCE_MAX_FILES))
		rc = fedc_fail(FEDC_ERR_MALFORMED, "source bundle of %llu files: 1 to %d", (unsigned long long)count,
			       FEDC_SOURCE_MAX_FILES);
	for (size_t i = 0; !rc && i < count; i++)
		rc = decode_file(&c, i, out);
	if (!rc && c.left != 0)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "source bundle: %zu bytes after the last file", c.left);
	out->n = rc ? 0 : (size_t)count;
	return rc;
}

/* ---- packing (the researcher) ---- */

static enum fedc_err append_be(struct fedc_buf *b, uint64_t v, size_t width)
{
	uint8_t bytes[8];

	for (size_t i = 0; i < width; i++)
		bytes[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
	return fedc_buf_append(b, bytes, width);
}

/* Appends the whole file at `path` to b, refusing it past b's cap. */
static enum fedc_err append_file(struct fedc_buf *b, const char *path)
{
	uint8_t chunk[16384];
	enum fedc_err rc = FEDC_OK;
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return fedc_fail(FEDC_ERR_IO, "source %s: %s", path, strerror(errno));
	while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc = fedc_buf_append(b, chunk, n);
	if (!rc && ferror(f))
		rc = fedc_fail(FEDC_ERR_IO, "source %s: read failed", path);
	fclose(f);
	return rc;
}

static enum fedc_err pack_file(struct fedc_buf *b, const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	size_t name_len = strlen(name), len_at;
	enum fedc_err rc;

	if (!name_ok((const uint8_t *)name, name_len))
		return fedc_fail(FEDC_ERR_INVAL,
				 "source %s: a shipped file's name must be 1 to %d of A-Z a-z 0-9 . _ + - (not starting "
				 "with '.'): rename it",
				 path, FEDC_SOURCE_NAME_MAX);
	rc = append_be(b, name_len, 1);
	if (!rc)
		rc = fedc_buf_append(b, name, name_len);
	len_at = b->len;
	if (!rc)
		rc = append_be(b, 0, 4); /* filled in below */
	if (!rc)
		rc = append_file(b, path);
	if (rc == FEDC_ERR_TOO_BIG)
		rc = fedc_fail(rc, "source files: more than %u bytes in all (%s makes it too big)", FEDC_SOURCE_MAX, path);
	if (!rc) {
		size_t text_len = b->len - len_at - 4;

		for (size_t i = 0; i < 4; i++)
			b->data[len_at + i] = (char)(uint8_t)(text_len >> (8 * (3 - i)));
	}
	return rc;
}

enum fedc_err fedc_source_pack(const char *const *paths, size_t n, struct fedc_buf *out)
{
	struct fedc_source_bundle *check = NULL;
	enum fedc_err rc = FEDC_OK;

	fedc_buf_free(out);
	fedc_buf_init(out, FEDC_SOURCE_MAX);
	if (n == 0 || n > FEDC_SOURCE_MAX_FILES)
		return fedc_fail(FEDC_ERR_INVAL, "source: give 1 to %d files (%zu given)", FEDC_SOURCE_MAX_FILES, n);
	rc = fedc_buf_append(out, FEDC_SOURCE_MAGIC, MAGIC_LEN);
	if (!rc)
		rc = append_be(out, n, 2);
	for (size_t i = 0; !rc && i < n; i++)
		rc = pack_file(out, paths[i]);
	check = rc ? NULL : malloc(sizeof(*check));
	if (!rc && !check)
		rc = FEDC_ERR_NOMEM;
	/* The same rules as the node's: a file the node would refuse is refused here, with its path. */
	if (!rc && fedc_source_decode(out->data, out->len, check) != FEDC_OK)
		rc = fedc_fail(FEDC_ERR_INVAL, "%s (a node would refuse it): ship text files under distinct names", fedc_last_error());
	free(check);
	if (rc)
		fedc_buf_free(out);
	return rc;
}
