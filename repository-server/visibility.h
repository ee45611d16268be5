/* In which namespaces a stored blob is visible (docs/repository.md,
 * "Namespaces"). The bytes are stored once (store.h); an empty marker file
 * records that a principal entitled to write a namespace has put the blob
 * there:
 *
 *   <root>/published/<2 hex>/<64 hex>             under /v1/blobs
 *   <root>/updates/<node id>/<2 hex>/<64 hex>     under /v1/updates/<node id>
 *
 * A marker is only written after its blob is published, and durably (file
 * and directories fsync'ed): a visible blob is always complete and verified.
 * Thread-safe. */
#ifndef FEDC_REPOSITORY_VISIBILITY_H
#define FEDC_REPOSITORY_VISIBILITY_H

#include <stdbool.h>

#include "fedc/err.h"

struct visibility; /* opaque */

/* Opens the marker tree of the store at `root` (creating it). A store made
 * before namespaces existed (no published/ directory) has all its blobs
 * marked published first, in one atomic step, so that nothing that was
 * served before disappears. FEDC_ERR_IO, FEDC_ERR_NOMEM, FEDC_ERR_INVAL. */
FEDC_NODISCARD
enum fedc_err visibility__open(const char *root, struct visibility **out);
void visibility__close(struct visibility *v);

/* `node` NULL: the published namespace; else the updates of that node (an ID
 * checked by fedc_id_valid()). `hex`: 64 lower-case hex, checked by the
 * caller. *visible: whether the marker exists. FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err visibility__has(struct visibility *v, const char *node, const char *hex, bool *visible);

/* Writes the marker (no-op if present, but made durable either way).
 * *added (may be NULL): whether this call made it, i.e. the blob is new to
 * the namespace. FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err visibility__add(struct visibility *v, const char *node, const char *hex, bool *added);

#endif
