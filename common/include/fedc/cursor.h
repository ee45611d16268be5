/* The one bounds-checked reader for bytes from outside (mosquitto's
 * lib/packet_datatypes.c is the model). Every decoder -- messages
 * (message.c), signed envelopes (sign.c), parameter files (params.c) -- reads
 * through a struct fedc_cursor: each read checks the bytes that remain
 * before it touches them and fails with FEDC_ERR_MALFORMED and a detail
 * naming what was read and the offset; nothing reads past the end. A failed
 * read leaves the cursor where it was.
 *
 * On top of the raw reads, the msgpack forms fedc uses: container and
 * str/bin headers, unsigned integers, skipping one whole object, and a
 * structural check of a whole buffer (fedc_mp_check). Writers do not use
 * this: they go through msgpack-c's packer. */
#ifndef FEDC_CURSOR_H
#define FEDC_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

struct fedc_cursor {
	const uint8_t *start; /* for offsets in details */
	const uint8_t *p;     /* next byte */
	size_t left;          /* bytes from p to the end */
};

void fedc_cursor_init(struct fedc_cursor *c, const void *buf, size_t len);
/* Bytes read so far. */
size_t fedc_cursor_offset(const struct fedc_cursor *c);

/* Takes the next `n` bytes: *out points at them (inside the buffer).
 * MALFORMED: "truncated <what> at offset N: declares n bytes, M remain". */
FEDC_NODISCARD
enum fedc_err fedc_cursor_take(struct fedc_cursor *c, uint64_t n, const char *what, const uint8_t **out);
/* A big-endian unsigned integer of `width` (1 to 8) bytes. MALFORMED. */
FEDC_NODISCARD
enum fedc_err fedc_cursor_be(struct fedc_cursor *c, size_t width, const char *what, uint64_t *out);

/* ---- msgpack ---- */

/* The encodings of one msgpack header kind: fix forms carry the count in
 * the low bits (fix_mask), the others in 1, 2 or 4 following bytes. */
struct fedc_mp_forms {
	uint8_t fix_lo, fix_hi, fix_mask; /* fix_hi < fix_lo: no fix form */
	uint8_t tag8, tag16, tag32;       /* 0: no such form */
};
extern const struct fedc_mp_forms FEDC_MP_MAP, FEDC_MP_ARRAY, FEDC_MP_STR, FEDC_MP_BIN;

/* A header of kind `f`: *count is the entries (maps: pairs), elements or
 * bytes it declares -- not yet checked against what remains, except by
 * fedc_mp_bytes. MALFORMED: "expected <what>, found msgpack type byte 0xNN"
 * or truncated. */
FEDC_NODISCARD
enum fedc_err fedc_mp_header(struct fedc_cursor *c, const struct fedc_mp_forms *f, const char *what,
			     uint32_t *count);
/* A str or bin (per `f`) and its bytes: *p points at them, *len bytes. */
FEDC_NODISCARD
enum fedc_err fedc_mp_bytes(struct fedc_cursor *c, const struct fedc_mp_forms *f, const char *what,
			    const uint8_t **p, uint32_t *len);
/* A non-negative integer, in a uint form or (a foreign writer) a signed form
 * holding a value >= 0. MALFORMED: wrong type, negative, truncated. */
FEDC_NODISCARD
enum fedc_err fedc_mp_uint(struct fedc_cursor *c, const char *what, uint64_t *v);
/* Skips one whole object (containers with everything inside them), nested at
 * most `max_depth` deep; each declared length and count is checked against
 * the bytes that remain. MALFORMED. */
FEDC_NODISCARD
enum fedc_err fedc_mp_skip(struct fedc_cursor *c, int max_depth);
/* Checks that [buf, buf+len) is exactly one msgpack object (fedc_mp_skip,
 * then no trailing bytes). Run before handing bytes to msgpack-c, which
 * allocates an array's elements from its declared count. MALFORMED. */
FEDC_NODISCARD
enum fedc_err fedc_mp_check(const void *buf, size_t len, int max_depth);

#endif
