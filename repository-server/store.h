/* The on-disk blob store of fedc-repository (docs/repository.md, "Storage").
 *
 *   <root>/sha256/<first 2 hex>/<64 hex>   one file per blob, never modified
 *
 * A blob appears under sha256/ only complete and verified: it is written to a
 * fedc_atomic_file (fedc/fs.h) beside its final name, unnamed while it
 * arrives, hashed, then fsync'ed, renamed into place, and the directory
 * fsync'ed. The functions are safe to call from several threads at
 * once; each upload belongs to one thread at a time. Which namespace a blob is
 * visible in is not the store's business: see visibility.h. */
#ifndef FEDC_REPOSITORY_STORE_H
#define FEDC_REPOSITORY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

struct store;        /* opaque */
struct store_upload; /* opaque: one upload in progress */

/* Opens (creating if needed) the store at `root` and removes upload temp files
 * an older version's crash may have left in <root>/tmp. FEDC_ERR_IO with the path in the detail, FEDC_ERR_NOMEM,
 * FEDC_ERR_INVAL (path too long). The caller frees *out with store__close(). */
FEDC_NODISCARD
enum fedc_err store__open(const char *root, struct store **out);
void store__close(struct store *st);

/* The directory the store was opened on. */
const char *store__root(const struct store *st);

/* Opens blob `hex` (64 lower-case hex, validated by the caller) for reading.
 * FEDC_ERR_NOT_FOUND, FEDC_ERR_IO. The caller owns *fd. */
FEDC_NODISCARD
enum fedc_err store__open_blob(struct store *st, const char *hex, int *fd, uint64_t *size);

/* Starts an upload of blob `hex`. When the store already has the blob, the
 * upload only hashes what it receives (nothing is written) so that the
 * answer can still tell a matching body from a wrong one. FEDC_ERR_IO,
 * FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err store__upload_begin(struct store *st, const char *hex, struct store_upload **out);

/* Appends received bytes. FEDC_ERR_IO (disk full ...). */
FEDC_NODISCARD
enum fedc_err store__upload_write(struct store_upload *up, const void *data, size_t len);

/* The upload's temp file, to read what arrived before committing it (it is
 * complete once the request's body is); -1 when the store already has the
 * blob and the upload only hashes. Borrowed: do not close. */
int store__upload_fd(const struct store_upload *up);

/* Verifies and publishes the upload, then frees it (whatever the result).
 * *created is true when the blob is new, false when the store already had it.
 * FEDC_ERR_DIGEST (what arrived hashes to something else: nothing is kept),
 * FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err store__upload_commit(struct store_upload *up, bool *created);

/* Drops an upload and its temp file. NULL is allowed. */
void store__upload_abort(struct store_upload *up);

#endif
