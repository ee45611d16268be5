/* How a node recognises a training plan: by a digest of its file, in the
 * algorithm its operator chose ([security] plan_digest: SHA-256, SHA-512,
 * SHA3-256 or BLAKE2b-512). The protocol and the repository name plans by
 * SHA-256; the approval list holds the node's own digest, with the
 * algorithm of each entry, so that changing the setting later does not
 * forget earlier decisions. */
#ifndef FEDC_NODE_PLAN_DIGEST_H
#define FEDC_NODE_PLAN_DIGEST_H

#include "db.h"
#include "fedc/hash.h"

/* Finds the plan file at `path` in the approval list, whatever algorithm its
 * entry was registered with. `sha256` is the file's SHA-256 when the caller
 * already verified it (a download by digest), else NULL: it spares hashing
 * the file once more on every round. FEDC_ERR_NOT_FOUND, FEDC_ERR_IO,
 * FEDC_ERR_DB. */
FEDC_NODISCARD
enum fedc_err plan_digest__find(struct node_db *db, const char *path, const char *sha256, struct node_plan *out);

/* Fills plan->digest and plan->algorithm for the file at `path`. */
FEDC_NODISCARD
enum fedc_err plan_digest__fill(enum fedc_hash_alg alg, const char *path, struct node_plan *plan);

#endif
