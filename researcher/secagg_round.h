/* The researcher's side of one round's secure aggregation (docs/privacy.md,
 * "Secure aggregation"): it relays the nodes' signed keys and encrypted
 * shares, adds up the masked vectors as they arrive (mod 2^64 or 2^32, the
 * round's ring, in any order: the sum is exact), asks the survivors for the shares that remove
 * the masks, and hands the aggregator the weighted sum and the total
 * weight. It never holds one node's update in the clear.
 *
 * Sets, as in Bonawitz et al. 2017: U1 the nodes whose keys arrived in time,
 * U2 those of U1 whose shares arrived (the others get `abort`), U3 those of
 * U2 whose masked vector was added, U4 those of U3 that answered `unmask`.
 * For each survivor (U3) t shares of its self-mask seed are needed; for each
 * dropped node (U2 \ U3) t shares of its mask key, from U4. */
#ifndef FEDC_RESEARCHER_SECAGG_ROUND_H
#define FEDC_RESEARCHER_SECAGG_ROUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/buf.h"
#include "fedc/err.h"
#include "fedc/params.h"
#include "fedc/sign.h"

struct secagg_round;

struct secagg_round_cfg {
	const char *job_id;
	uint64_t round;
	uint32_t threshold;   /* Shamir t, as sent in `train` */
	uint32_t neighbours;  /* graph degree (0: complete) */
	uint32_t scale_bits;
	uint32_t ring_bits;   /* 32 or 64 (0 counts as 64), as sent in `train` */
	uint64_t n_values;    /* values of an update (the masked vector has one more: the weight) */
	uint64_t graph_seed;
	const struct fedc_keyring *keys; /* the nodes' public signing keys (may be NULL: not checked here) */
	void *sum; /* (n_values + 1) * 8 bytes for the sum (room for either ring; a 32-bit round uses
		    * half), the caller's, kept across rounds (reused pages cost less than fresh ones
		    * here); NULL: the round allocates its own */
};

/* `ids`: the nodes the round's `train` went to. */
FEDC_NODISCARD
enum fedc_err secagg_round__new(const struct secagg_round_cfg *cfg, const char *const *ids, size_t n,
				struct secagg_round **out);
void secagg_round__free(struct secagg_round *r);

/* The default threshold for `n` selected nodes and degree `neighbours`:
 * a strict majority of a node's neighbourhood (itself included). */
uint32_t secagg_round__default_threshold(size_t n, uint32_t neighbours);

/* A node's `keys` step. FEDC_ERR_MALFORMED / FEDC_ERR_AUTH: refused (the
 * node is then left out). */
FEDC_NODISCARD
enum fedc_err secagg_round__on_keys(struct secagg_round *r, const char *node_id, const void *data, size_t len);
/* Closes U1 and builds the graph over it. FEDC_ERR_NOT_FOUND if fewer than
 * `min` nodes sent keys, or a node's neighbourhood is under the threshold. */
FEDC_NODISCARD
enum fedc_err secagg_round__close_keys(struct secagg_round *r, size_t min);
/* The keyset data for `node_id` (in U1): its neighbours' keys. */
FEDC_NODISCARD
enum fedc_err secagg_round__keyset_for(const struct secagg_round *r, const char *node_id, struct fedc_buf *out);

FEDC_NODISCARD
enum fedc_err secagg_round__on_shares(struct secagg_round *r, const char *node_id, const void *data, size_t len);
/* Closes U2. FEDC_ERR_NOT_FOUND when fewer than `min` nodes sent shares. */
FEDC_NODISCARD
enum fedc_err secagg_round__close_shares(struct secagg_round *r, size_t min);
/* The shares sent to `node_id` (in U2) by the nodes of U2. */
FEDC_NODISCARD
enum fedc_err secagg_round__shares_for(const struct secagg_round *r, const char *node_id, struct fedc_buf *out);

/* Membership, for the caller's messages. */
bool secagg_round__has_keys(const struct secagg_round *r, const char *node_id);
bool secagg_round__has_shares(const struct secagg_round *r, const char *node_id);
bool secagg_round__keys_closed(const struct secagg_round *r);
bool secagg_round__shares_closed(const struct secagg_round *r);

/* Checks a masked vector's layout (one tensor "secagg.masked" of
 * n_values + 1 values, u64 or u32 by the round's ring). Any thread.
 * FEDC_ERR_MALFORMED. */
FEDC_NODISCARD
enum fedc_err secagg_round__check_masked(const struct secagg_round *r, const struct fedc_params *masked);
/* Adds `node_id`'s masked vector (a node of U2, once); takes `masked`
 * (closed whatever the result). */
FEDC_NODISCARD
enum fedc_err secagg_round__add_masked(struct secagg_round *r, const char *node_id, struct fedc_params *masked);
/* Nodes whose masked vector was added. */
size_t secagg_round__n_masked(const struct secagg_round *r);
bool secagg_round__has_masked(const struct secagg_round *r, const char *node_id);

/* The `unmask` request for `node_id` (in U3). */
FEDC_NODISCARD
enum fedc_err secagg_round__unmask_for(const struct secagg_round *r, const char *node_id, struct fedc_buf *out);
FEDC_NODISCARD
enum fedc_err secagg_round__on_unmask(struct secagg_round *r, const char *node_id, const void *data, size_t len);
/* True once every secret can be rebuilt from the answers so far. */
bool secagg_round__can_finish(const struct secagg_round *r);
/* Removes the masks and decodes: *sum gets n_values doubles (malloc'd,
 * caller frees), *weight the total weight, *contributors |U3|.
 * FEDC_ERR_NOT_FOUND (detail: whose secret) when too few shares came. */
FEDC_NODISCARD
enum fedc_err secagg_round__finish(struct secagg_round *r, double **sum, uint64_t *weight, size_t *contributors);

#endif
