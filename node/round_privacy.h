/* The round worker's privacy steps (privacy.h holds the policy and the
 * mechanism; this file ties them to a round): admit the request, map the
 * global parameters, then clip, noise and record the update before it is
 * uploaded, and round the counts of the reply. round.c calls one function
 * per step, so that the round itself stays readable. */
#ifndef FEDC_NODE_ROUND_PRIVACY_H
#define FEDC_NODE_ROUND_PRIVACY_H

#include <stdbool.h>

#include "daemon.h"
#include "privacy.h"

struct round_privacy {
	bool dp;                                /* this round applies node-level DP */
	char fingerprint[FEDC_SHA256_HEXLEN + 1];
	double epsilon;                         /* this node's figure for the job after the round */
	struct fedc_params *global;             /* mapped before the plan runs (its memfd may go after) */
};

/* The policy of the node's config. */
void round_privacy__policy(const struct node_config *cfg, struct privacy_policy *out);

/* Before anything is downloaded: the policy's checks, and for a DP round
 * the node's budget for the job. FEDC_ERR_PRIVACY (the detail names the key
 * and values), FEDC_ERR_DB, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err round_privacy__admit(const struct node_daemon *d, struct node_db *db, const struct fedc_msg *req,
				   struct round_privacy *rp);
/* For a DP round, maps the global parameters in `params_fd` (nothing
 * otherwise). */
FEDC_NODISCARD
enum fedc_err round_privacy__map_global(struct round_privacy *rp, int params_fd);
/* After the plan: min_samples, then for a DP round the mechanism, whose
 * result replaces *update_fd (a new memfd; the old one is closed), and the
 * round recorded for the job. */
FEDC_NODISCARD
enum fedc_err round_privacy__release(const struct node_daemon *d, struct node_db *db, const struct fedc_msg *req,
				     struct round_privacy *rp, uint64_t n_train, int *update_fd);
/* The reply's counts rounded to count_rounding, and "dp_epsilon" in its
 * metrics for a DP round. */
void round_privacy__reply(const struct node_daemon *d, const struct round_privacy *rp, struct fedc_msg *reply);
void round_privacy__end(struct round_privacy *rp);

/* The node secret the noise key derives from, for daemon.c: the bytes of the
 * signing key file, or else of data_dir/dp-noise.key (32 random bytes made
 * on first use, mode 0600). FEDC_ERR_IO, FEDC_ERR_CONFIG. */
FEDC_NODISCARD
enum fedc_err round_privacy__load_secret(const struct node_config *cfg, uint8_t *secret, size_t cap, size_t *len);

#endif
