/* The node's privacy policy and node-level differential privacy
 * (docs/privacy.md, "Node-level differential privacy" and "The node's
 * policy").
 *
 * A `train` request with dp_noise > 0 asks the node to clip its update's
 * change to dp_clip (L2, over every tensor the global parameters also
 * have) and to add Gaussian noise of standard deviation
 * dp_noise * dp_clip / sqrt(dp_parties) to each value. The node applies it
 * itself, after the plan wrote its update and before it is uploaded, so that
 * the researcher cannot weaken it; its policy ([privacy] of node.ini)
 * decides which requests it runs at all.
 *
 * The noise comes from ChaCha20 (OpenSSL EVP) keyed with HKDF-SHA256 over a
 * secret of the node (its signing key file) and the round's fingerprint
 * (privacy__fingerprint): the researcher cannot predict it, and the same
 * round asked again gets the same noise, so a retry or a resumed experiment
 * releases nothing new (and stays bit-identical). */
#ifndef FEDC_NODE_PRIVACY_H
#define FEDC_NODE_PRIVACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/hash.h"
#include "fedc/message.h"
#include "fedc/params.h"

#define PRIVACY_KEY_LEN 32
#define PRIVACY_SECRET_MAX 4096 /* bytes of the node secret the noise key derives from */

/* The [privacy] section of node.ini. */
struct privacy_policy {
	double min_noise_multiplier;
	double max_epsilon;      /* 0: no limit */
	double max_delta;
	uint64_t min_samples;
	uint64_t count_rounding; /* >= 1 */
	bool require_dp;
	bool require_secure_aggregation;
};

/* A count as the node tells it: rounded to the nearest multiple of
 * `rounding` (halves up); 0 < n < rounding gives `rounding` (a small dataset
 * still takes part), 0 stays 0. Never decreasing in n, so that a round's
 * count stays within the dataset's count the researcher checks it against.
 * rounding <= 1: n. */
uint64_t privacy__round_count(uint64_t n, uint64_t rounding);

/* True when the request asks for node-level DP (dp_noise present and > 0). */
bool privacy__dp_on(const struct fedc_msg *req);

/* The policy's checks that need nothing but the request: require_dp,
 * require_secure_aggregation, min_noise_multiplier, max_delta, and the DP
 * fields' presence. Evaluation requests pass. FEDC_ERR_PRIVACY with a
 * message naming the key and both values. */
FEDC_NODISCARD
enum fedc_err privacy__check_request(const struct privacy_policy *p, const struct fedc_msg *req);

/* Epsilon (at `delta`) spent by rounds with the noise multipliers
 * sigmas[0..n), each over the whole of this node's data (sampling rate 1:
 * the node does not trust the researcher's sampling): RDP adds up round by
 * round and is converted as fedc_dp_epsilon does, so that n equal sigmas
 * give exactly fedc_dp_epsilon(1, sigma, n, delta). 0 for n == 0.
 * FEDC_ERR_INVAL for delta outside (0, 1) or a negative sigma. */
FEDC_NODISCARD
enum fedc_err privacy__epsilon(const double *sigmas, size_t n, double delta, double *epsilon);

/* max_epsilon check of a DP round whose job already spent `sigmas[0..n)`
 * (this round's own included by the caller): FEDC_ERR_PRIVACY naming
 * max_epsilon when it would pass it. *epsilon gets the figure. */
FEDC_NODISCARD
enum fedc_err privacy__check_budget(const struct privacy_policy *p, const double *sigmas, size_t n, double delta,
				    double *epsilon);

/* min_samples: FEDC_ERR_PRIVACY when the round trained on fewer rows. */
FEDC_NODISCARD
enum fedc_err privacy__check_samples(const struct privacy_policy *p, uint64_t n_train);

/* SHA-256 (hex) of everything in the request that decides the update:
 * job, round, dataset, global parameters, plan, seed, training and DP
 * arguments. The same round sent again (a retry, a resumed experiment) has
 * the same fingerprint; anything that could change the update changes it.
 * It keys the noise and counts the rounds of a job. */
FEDC_NODISCARD
enum fedc_err privacy__fingerprint(const struct fedc_msg *req, char hex[FEDC_SHA256_HEXLEN + 1]);

/* The noise key: HKDF-SHA256 (salt "fedc-dp-noise-v1") over the node's
 * secret, with the fingerprint as info. FEDC_ERR_INVAL (empty secret),
 * FEDC_ERR_IO (OpenSSL). */
FEDC_NODISCARD
enum fedc_err privacy__noise_key(const void *secret, size_t secret_len, const char *fingerprint,
				 uint8_t key[PRIVACY_KEY_LEN]);

/* The key the node mixes into the seed its plans train with
 * ([privacy] secret_training_seed; round.c fill_job XORs it into
 * round__train_seed): HKDF-SHA256 (salt "fedc training seed") over the
 * node's secret, its first 8 bytes read little-endian. Fixed for a fixed
 * secret, so that a resumed experiment repeats bit for bit, and unknown to
 * the researcher, who could otherwise regenerate the plan's shuffling and
 * DP-SGD noise from (seed, round, node id). A label of its own keeps it
 * apart from the DP noise keys. FEDC_ERR_INVAL (empty secret), FEDC_ERR_IO
 * (OpenSSL). */
FEDC_NODISCARD
enum fedc_err privacy__train_seed_key(const void *secret, size_t secret_len, uint64_t *out);

/* Standard normal values from ChaCha20 keyed with `key` (zero nonce; each
 * key serves one round): Box-Muller over 53-bit uniforms, both values of
 * each pair used. */
struct privacy_noise;
FEDC_NODISCARD
enum fedc_err privacy__noise_new(const uint8_t key[PRIVACY_KEY_LEN], struct privacy_noise **out);
FEDC_NODISCARD
enum fedc_err privacy__noise_fill(struct privacy_noise *n, double *out, size_t count);
void privacy__noise_free(struct privacy_noise *n);

/* What the mechanism did, for the log. */
struct privacy_dp_report {
	double norm;        /* L2 norm of the change before clipping */
	double scale;       /* factor applied to the change (1: not clipped) */
	double noise_std;   /* per value */
	uint64_t values;    /* values noised */
};

/* The mechanism: for every tensor of `update` (float32), delta = update -
 * global (the global tensor of the same name and shape), scaled so that the
 * L2 norm over all of them is at most `clip`, plus Gaussian noise of
 * standard deviation `noise_std` per value from the key; writes global +
 * delta as a parameter file to `out_fd` (from its current position). A
 * tensor of the update that the global parameters do not have (SCAFFOLD's
 * scaffold.dc.*) is FEDC_ERR_PRIVACY: DP does not cover it. FEDC_ERR_NOMEM,
 * FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err privacy__apply_dp(const struct fedc_params *global, const struct fedc_params *update, double clip,
				double noise_std, const uint8_t key[PRIVACY_KEY_LEN], int out_fd,
				struct privacy_dp_report *report);

#endif
