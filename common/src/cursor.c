/* The bounds-checked reader (fedc/cursor.h). */
#include "fedc/cursor.h"

#include <inttypes.h>
#include <stdbool.h>

/* Deepest nesting fedc_mp_skip can follow (callers pass less). */
#define MP_MAX_DEPTH 32

const struct fedc_mp_forms FEDC_MP_MAP = { 0x80, 0x8f, 0x0f, 0, 0xde, 0xdf };
const struct fedc_mp_forms FEDC_MP_ARRAY = { 0x90, 0x9f, 0x0f, 0, 0xdc, 0xdd };
const struct fedc_mp_forms FEDC_MP_STR = { 0xa0, 0xbf, 0x1f, 0xd9, 0xda, 0xdb };
const struct fedc_mp_forms FEDC_MP_BIN = { 1, 0, 0, 0xc4, 0xc5, 0xc6 };

void fedc_cursor_init(struct fedc_cursor *c, const void *buf, size_t len)
{
	c->start = buf;
	c->p = buf;
	c->left = buf ? len : 0;
}

size_t fedc_cursor_offset(const struct fedc_cursor *c)
{
	return (size_t)(c->p - c->start);
}

enum fedc_err fedc_cursor_take(struct fedc_cursor *c, uint64_t n, const char *what, const uint8_t **out)
{
	if (n > c->left)
		return fedc_fail(FEDC_ERR_MALFORMED, "truncated %s at offset %zu: declares %" PRIu64 " bytes, %zu remain",
				 what, fedc_cursor_offset(c), n, c->left);
	*out = c->p;
	c->p += n;
	c->left -= (size_t)n;
	return FEDC_OK;
}

enum fedc_err fedc_cursor_be(struct fedc_cursor *c, size_t width, const char *what, uint64_t *out)
{
	const uint8_t *p = NULL;
	enum fedc_err rc;
	uint64_t v = 0;

	if (width == 0 || width > 8)
		return fedc_fail(FEDC_ERR_INVAL, "cursor: integer width %zu", width);
	rc = fedc_cursor_take(c, width, what, &p);
	if (rc)
		return rc;
	for (size_t i = 0; i < width; i++)
		v = v << 8 | p[i];
	*out = v;
	return FEDC_OK;
}

/* Back to `at` bytes from the start, after a read that must not count. */
static void rewind_to(struct fedc_cursor *c, size_t at)
{
	size_t read = fedc_cursor_offset(c) - at;

	c->p -= read;
	c->left += read;
}

enum fedc_err fedc_mp_header(struct fedc_cursor *c, const struct fedc_mp_forms *f, const char *what,
			     uint32_t *count)
{
	size_t at = fedc_cursor_offset(c);
	uint64_t tag = 0, v = 0;
	enum fedc_err rc = fedc_cursor_be(c, 1, what, &tag);

	if (rc)
		return rc;
	if (f->fix_lo <= f->fix_hi && tag >= f->fix_lo && tag <= f->fix_hi)
		v = tag & f->fix_mask;
	else if (f->tag8 && tag == f->tag8)
		rc = fedc_cursor_be(c, 1, what, &v);
	else if (tag == f->tag16)
		rc = fedc_cursor_be(c, 2, what, &v);
	else if (tag == f->tag32)
		rc = fedc_cursor_be(c, 4, what, &v);
	else
		rc = fedc_fail(FEDC_ERR_MALFORMED, "expected %s, found msgpack type byte 0x%02x at offset %zu", what,
			       (unsigned)tag, at);
	if (rc) {
		rewind_to(c, at);
		return rc;
	}
	*count = (uint32_t)v;
	return FEDC_OK;
}

enum fedc_err fedc_mp_bytes(struct fedc_cursor *c, const struct fedc_mp_forms *f, const char *what,
			    const uint8_t **p, uint32_t *len)
{
	size_t at = fedc_cursor_offset(c);
	enum fedc_err rc = fedc_mp_header(c, f, what, len);

	if (!rc)
		rc = fedc_cursor_take(c, *len, what, p);
	if (rc)
		rewind_to(c, at);
	return rc;
}

enum fedc_err fedc_mp_uint(struct fedc_cursor *c, const char *what, uint64_t *v)
{
	size_t at = fedc_cursor_offset(c);
	uint64_t tag = 0;
	enum fedc_err rc = fedc_cursor_be(c, 1, what, &tag);

	if (rc)
		return rc;
	if (tag <= 0x7f) {
		*v = tag;
		return FEDC_OK;
	}
	if (tag >= 0xcc && tag <= 0xd3) { /* uint 8..64, then int 8..64 */
		size_t width = (size_t)1 << ((tag - 0xcc) & 3);
		uint64_t x = 0;

		rc = fedc_cursor_be(c, width, what, &x);
		if (!rc && tag >= 0xd0 && (x >> (8 * width - 1)) & 1)
			rc = fedc_fail(FEDC_ERR_MALFORMED, "%s is negative (offset %zu)", what, at);
		if (!rc)
			*v = x;
	} else {
		rc = fedc_fail(FEDC_ERR_MALFORMED,
			       "expected %s (an unsigned integer), found msgpack type byte 0x%02x at offset %zu", what,
			       (unsigned)tag, at);
	}
	if (rc)
		rewind_to(c, at);
	return rc;
}

/* Length prefix width of str/bin/ext/array/map formats by type byte, else 0. */
static size_t prefix_width(uint8_t b)
{
	static const uint8_t widths[32] = {
		/* c0..cf */ 0, 0, 0, 0, 1, 2, 4, 1, 2, 4, 0, 0, 0, 0, 0, 0,
		/* d0..df */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 2, 4, 2, 4,
	};

	return b >= 0xc0 && b <= 0xdf ? widths[b - 0xc0] : 0;
}

/* Payload bytes of fixed-size formats (numbers, fixext with its type byte). */
static size_t fixed_payload(uint8_t b)
{
	static const uint8_t sizes[32] = {
		/* c0..cf */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 8, 1, 2, 4, 8,
		/* d0..df */ 1, 2, 4, 8, 2, 3, 5, 9, 17, 0, 0, 0, 0, 0, 0, 0,
	};

	return b >= 0xc0 && b <= 0xdf ? sizes[b - 0xc0] : 0;
}

/* Reads one object header (and skips the payload of a scalar); sets
 * *children to the objects that follow inside it (arrays n, maps 2n). */
static enum fedc_err skip_header(struct fedc_cursor *c, uint64_t *children)
{
	size_t at = fedc_cursor_offset(c);
	const uint8_t *skipped;
	uint64_t b = 0, n = 0;
	enum fedc_err rc = fedc_cursor_be(c, 1, "object", &b);

	*children = 0;
	if (rc)
		return rc;
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return FEDC_OK;
	if (b <= 0x8f || b == 0xde || b == 0xdf) {
		if (b <= 0x8f)
			n = b & 0x0f;
		else if (fedc_cursor_be(c, prefix_width((uint8_t)b), "map header", &n))
			return fedc_fail(FEDC_ERR_MALFORMED, "truncated: map header at offset %zu", at);
		*children = 2 * n;
		return FEDC_OK;
	}
	if (b <= 0x9f || b == 0xdc || b == 0xdd) {
		if (b <= 0x9f)
			n = b & 0x0f;
		else if (fedc_cursor_be(c, prefix_width((uint8_t)b), "array header", &n))
			return fedc_fail(FEDC_ERR_MALFORMED, "truncated: array header at offset %zu", at);
		*children = n;
		return FEDC_OK;
	}
	if (b <= 0xbf)
		return fedc_cursor_take(c, b & 0x1f, "string", &skipped);
	if (b == 0xc1)
		return fedc_fail(FEDC_ERR_MALFORMED, "not msgpack: byte 0xc1 at offset %zu is never used", at);
	if (prefix_width((uint8_t)b)) { /* str, bin, ext 8/16/32 */
		if (fedc_cursor_be(c, prefix_width((uint8_t)b), "length", &n))
			return fedc_fail(FEDC_ERR_MALFORMED, "truncated: length at offset %zu", at);
		if (b >= 0xc7 && b <= 0xc9)
			n += 1; /* ext type byte */
		return fedc_cursor_take(c, n, b >= 0xd9 ? "string" : b <= 0xc6 ? "binary" : "ext", &skipped);
	}
	return fedc_cursor_take(c, fixed_payload((uint8_t)b), "number", &skipped);
}

enum fedc_err fedc_mp_skip(struct fedc_cursor *c, int max_depth)
{
	uint64_t pending[MP_MAX_DEPTH + 1]; /* objects still to read at each level */
	size_t start = fedc_cursor_offset(c);
	int depth = 0;
	enum fedc_err rc = FEDC_OK;

	if (max_depth < 0 || max_depth > MP_MAX_DEPTH)
		return fedc_fail(FEDC_ERR_INVAL, "cursor: nesting limit %d", max_depth);
	pending[0] = 1;
	while (rc == FEDC_OK && depth >= 0) {
		uint64_t children;
		size_t at = fedc_cursor_offset(c);

		if (pending[depth] == 0) {
			depth--;
			continue;
		}
		if (c->left == 0) {
			rc = fedc_fail(FEDC_ERR_MALFORMED, "truncated: input ends at offset %zu inside an object", at);
			break;
		}
		pending[depth]--;
		rc = skip_header(c, &children);
		if (rc || children == 0)
			continue;
		/* Each object takes at least one byte: a count past what remains is a
		 * lie, and must not reach an allocator. */
		if (children > c->left)
			rc = fedc_fail(FEDC_ERR_MALFORMED, "truncated: container at offset %zu declares %" PRIu64
				       " objects, %zu bytes remain", at, children, c->left);
		else if (depth == max_depth)
			rc = fedc_fail(FEDC_ERR_MALFORMED, "nesting deeper than %d levels at offset %zu", max_depth, at);
		else
			pending[++depth] = children;
	}
	if (rc)
		rewind_to(c, start);
	return rc;
}

enum fedc_err fedc_mp_check(const void *buf, size_t len, int max_depth)
{
	struct fedc_cursor c;
	enum fedc_err rc;

	if (!buf || len == 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "empty: no msgpack object");
	fedc_cursor_init(&c, buf, len);
	rc = fedc_mp_skip(&c, max_depth);
	if (rc == FEDC_OK && c.left)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%zu trailing bytes after the message (offset %zu)", c.left,
			       fedc_cursor_offset(&c));
	return rc;
}
