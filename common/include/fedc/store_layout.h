/* Where fedc-repository keeps its blobs and namespace markers under its
 * `store_dir`, in one place: the repository writes this layout, and a
 * researcher on the repository's own machine reads node updates from it in
 * place (`[network] repository_store_dir`; docs/repository.md, "Updates read
 * in place").
 *
 *   <root>/sha256/<2 hex>/<64 hex>              a blob's bytes, complete and
 *                                               checked once it has this name
 *   <root>/published/<2 hex>/<64 hex>           empty marker: visible under /v1/blobs
 *   <root>/updates/<node id>/<2 hex>/<64 hex>   empty marker: visible under /v1/updates/<node id>
 *
 * A marker is written only after its blob has its name. */
#ifndef FEDC_STORE_LAYOUT_H
#define FEDC_STORE_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>

#define FEDC_STORE_BLOBS_DIR "sha256"
#define FEDC_STORE_PUBLISHED_DIR "published"
#define FEDC_STORE_UPDATES_DIR "updates"

/* Writes into `buf` (`cap` bytes) the path of blob `hex` (64 lower-case hex
 * digits, checked by the caller) under `root`. False when it does not fit. */
bool fedc_store_blob_path(const char *root, const char *hex, char *buf, size_t cap);

/* The same for the marker of `hex` in the namespace of `node` (an id checked
 * by the caller), or of the published blobs when `node` is NULL. */
bool fedc_store_marker_path(const char *root, const char *node, const char *hex, char *buf, size_t cap);

#endif
