/* A plan's source code as the researcher ships it with an `approval`
 * request (docs/protocol.md, "Plan source bundle"): the files are packed into
 * one blob, uploaded to the repository like any other (content addressed),
 * and named by the request's `source_digest`. The node fetches it, checks it
 * with fedc_source_decode and keeps it for its data steward to read.
 *
 * Layout, every integer big-endian:
 *
 *   "FEDCSRC1"                      8 bytes, the format and its version
 *   count                           u16, 1 .. FEDC_SOURCE_MAX_FILES
 *   count times:
 *     name length                   u8, 1 .. FEDC_SOURCE_NAME_MAX
 *     name                          A-Z a-z 0-9 . _ + -, not starting with '.'
 *     text length                   u32
 *     text                          UTF-8; no control characters but tab,
 *                                   newline, carriage return and form feed;
 *                                   no C1 controls, no bidirectional
 *                                   overrides or isolates (Trojan Source)
 *
 * and nothing after the last file; at most FEDC_SOURCE_MAX bytes in all.
 * Names are unique and hold no '/' (a bundle names files, never paths), so
 * nothing that reads a bundle can be led to write outside a directory. */
#ifndef FEDC_SOURCE_BUNDLE_H
#define FEDC_SOURCE_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/buf.h"
#include "fedc/err.h"

#define FEDC_SOURCE_MAGIC "FEDCSRC1"
#define FEDC_SOURCE_MAX (1u << 20) /* bytes of a whole bundle */
#define FEDC_SOURCE_MAX_FILES 64
#define FEDC_SOURCE_NAME_MAX 128

struct fedc_source_file {
	char name[FEDC_SOURCE_NAME_MAX + 1];
	const char *text; /* inside the decoded bytes: not NUL-terminated */
	uint32_t len;
};

struct fedc_source_bundle {
	size_t n;
	struct fedc_source_file files[FEDC_SOURCE_MAX_FILES];
};

/* Checks `len` bytes against the layout above and points out->files at the
 * texts inside `bytes` (which must outlive *out). FEDC_ERR_TOO_BIG over
 * FEDC_SOURCE_MAX; FEDC_ERR_MALFORMED with a detail naming the file and what
 * is wrong (truncated, bad name, duplicate, binary byte, trailing bytes). */
FEDC_NODISCARD
enum fedc_err fedc_source_decode(const void *bytes, size_t len, struct fedc_source_bundle *out);

/* Packs the files at `paths` (n of them), each under its base name, into
 * `out` (emptied first; the caller frees it). The result passes
 * fedc_source_decode. FEDC_ERR_INVAL (no file, too many, a bad or repeated
 * name, a binary file: the detail names the path and what to change),
 * FEDC_ERR_TOO_BIG, FEDC_ERR_IO, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err fedc_source_pack(const char *const *paths, size_t n, struct fedc_buf *out);

#endif
