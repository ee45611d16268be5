/* How much each node keeps in its updates namespace (docs/repository.md,
 * "Quotas"). A node may only write its own updates, but without a limit one
 * node could fill the disk the whole federation shares. The server counts,
 * per node, the bytes of the distinct blobs visible in /v1/updates/<node>
 * (counted once however often it is put), from the markers on disk at start
 * and from each new marker after. Without a limit nothing is counted. Thread-safe. */
#ifndef FEDC_REPOSITORY_QUOTA_H
#define FEDC_REPOSITORY_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

#include "fedc/err.h"
#include "store.h"

struct quota; /* opaque */

/* Counts what every node holds in the store opened at `st` (its markers under
 * <root>/updates/). `limit_bytes` 0: no limit (still counted). FEDC_ERR_NOMEM,
 * FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err quota__open(struct store *st, uint64_t limit_bytes, struct quota **out);
void quota__free(struct quota *q);

/* True if node `node` may add `more` bytes. */
bool quota__allows(struct quota *q, const char *node, uint64_t more);
/* Takes `bytes` of the quota of `node` if they fit (checked and counted
 * under one lock); false if they do not, or without memory. */
bool quota__reserve(struct quota *q, const char *node, uint64_t bytes);
/* Gives back what quota__reserve() took (the upload did not add a blob). */
void quota__release(struct quota *q, const char *node, uint64_t bytes);
/* What `node` holds now, in bytes. */
uint64_t quota__used(struct quota *q, const char *node);
/* The limit (0: none). */
uint64_t quota__limit(const struct quota *q);

#endif
