/* The round worker's privacy steps (round_privacy.h). */
#define _GNU_SOURCE /* memfd_create */
#include "round_privacy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "fedc/fs.h"
#include "fedc/log.h"

void round_privacy__policy(const struct node_config *cfg, struct privacy_policy *out)
{
	out->min_noise_multiplier = cfg->min_noise_multiplier;
	out->max_epsilon = cfg->max_epsilon;
	out->max_delta = cfg->max_delta;
	out->min_samples = cfg->min_samples > 0 ? (uint64_t)cfg->min_samples : 0;
	out->count_rounding = cfg->count_rounding > 1 ? (uint64_t)cfg->count_rounding : 1;
	out->require_dp = cfg->require_dp;
	out->require_secure_aggregation = cfg->require_secure_aggregation;
}

enum fedc_err round_privacy__admit(const struct node_daemon *d, struct node_db *db, const struct fedc_msg *req,
				   struct round_privacy *rp)
{
	struct privacy_policy policy;
	double *noises = NULL;
	size_t n = 0;
	enum fedc_err rc;

	memset(rp, 0, sizeof(*rp));
	round_privacy__policy(d->cfg, &policy);
	rc = privacy__check_request(&policy, req);
	if (rc || req->evaluate_only || !privacy__dp_on(req))
		return rc;
	rp->dp = true;
	rc = privacy__fingerprint(req, rp->fingerprint);
	if (!rc)
		rc = db__dp_rounds(db, req->job_id, rp->fingerprint, &noises, &n);
	if (!rc) {
		double *all = realloc(noises, (n + 1) * sizeof(*all));

		if (!all) {
			rc = FEDC_ERR_NOMEM;
		} else {
			noises = all;
			noises[n++] = req->dp_noise; /* this round's own */
			rc = privacy__check_budget(&policy, noises, n, req->dp_delta, &rp->epsilon);
		}
	}
	free(noises);
	return rc;
}

enum fedc_err round_privacy__map_global(struct round_privacy *rp, int params_fd)
{
	enum fedc_err rc;

	if (!rp->dp)
		return FEDC_OK;
	rc = fedc_params_open_fd(params_fd, &rp->global);
	if (rc)
		return fedc_fail(rc, "node-level DP: the global parameters: %s", fedc_last_error());
	return FEDC_OK;
}

enum fedc_err round_privacy__release(const struct node_daemon *d, struct node_db *db, const struct fedc_msg *req,
				     struct round_privacy *rp, uint64_t n_train, int *update_fd)
{
	struct privacy_policy policy;
	struct fedc_params *update = NULL;
	struct privacy_dp_report report;
	uint8_t key[PRIVACY_KEY_LEN];
	int fd = -1;
	enum fedc_err rc;

	round_privacy__policy(d->cfg, &policy);
	rc = privacy__check_samples(&policy, n_train);
	if (rc || !rp->dp)
		return rc;
	rc = privacy__noise_key(d->dp_secret, d->dp_secret_len, rp->fingerprint, key);
	if (!rc)
		rc = fedc_params_open_fd(*update_fd, &update);
	if (!rc) {
		fd = memfd_create("fedc-dp-update", MFD_CLOEXEC);
		if (fd < 0)
			rc = fedc_fail(FEDC_ERR_IO, "cannot create a memfd for the DP update: %s", strerror(errno));
	}
	if (!rc)
		rc = privacy__apply_dp(rp->global, update, req->dp_clip,
				       req->dp_noise * req->dp_clip / sqrt((double)req->dp_parties), key, fd, &report);
	explicit_bzero(key, sizeof(key));
	if (!rc)
		rc = fedc_fd_cut_here(fd, "the DP update");
	if (!rc)
		rc = fedc_fd_rewind(fd, "the DP update");
	/* Recorded before it leaves: a crash after this over-counts, never under. */
	if (!rc)
		rc = db__dp_round_add(db, req->job_id, req->round, rp->fingerprint, req->dp_noise);
	fedc_params_close(update);
	if (rc) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	fedc_info("round: job %s round %" PRIu64 ": node-level DP: change norm %.4g clipped to %.4g (x%.4g), noise "
		  "std %.4g on %" PRIu64 " values; epsilon %.4g for this job (delta %g)",
		  req->job_id, req->round, report.norm, req->dp_clip, report.scale, report.noise_std, report.values,
		  rp->epsilon, req->dp_delta);
	close(*update_fd);
	*update_fd = fd;
	return FEDC_OK;
}

void round_privacy__reply(const struct node_daemon *d, const struct round_privacy *rp, struct fedc_msg *reply)
{
	uint64_t rounding = d->cfg->count_rounding > 1 ? (uint64_t)d->cfg->count_rounding : 1;

	reply->n_samples = privacy__round_count(reply->n_samples, rounding);
	reply->n_test = privacy__round_count(reply->n_test, rounding);
	/* A full metrics list keeps its own: the figure is in the node's log. */
	if (rp && rp->dp)
		fedc_ignore(fedc_msg_kv_add(reply->metrics, &reply->n_metrics, FEDC_MAX_METRICS, "dp_epsilon",
					    rp->epsilon));
}

void round_privacy__end(struct round_privacy *rp)
{
	fedc_params_close(rp->global);
	rp->global = NULL;
}

enum fedc_err round_privacy__load_secret(const struct node_config *cfg, uint8_t *secret, size_t cap, size_t *len)
{
	char path[NODE_PATH_MAX];
	uint8_t fresh[32];
	ssize_t got;
	int fd = -1;
	enum fedc_err rc = FEDC_OK;

	*len = 0;
	if (cfg->signing_key[0])
		snprintf(path, sizeof(path), "%s", cfg->signing_key);
	else if ((size_t)snprintf(path, sizeof(path), "%s/dp-noise.key", cfg->data_dir) >= sizeof(path))
		return fedc_fail(FEDC_ERR_CONFIG, "data_dir path too long");
	if (!cfg->signing_key[0] && access(path, F_OK) != 0) {
		if (RAND_bytes(fresh, sizeof(fresh)) != 1)
			return fedc_fail(FEDC_ERR_IO, "cannot draw the DP noise secret (OpenSSL)");
		rc = fedc_write_atomic_mode(path, fresh, sizeof(fresh), 0600);
		explicit_bzero(fresh, sizeof(fresh));
		if (rc)
			return rc;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "cannot read %s (the DP noise secret): %s", path, strerror(errno));
	got = read(fd, secret, cap);
	close(fd);
	if (got <= 0 || (size_t)got >= cap)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: empty, unreadable or over %zu bytes (the DP noise secret)", path,
				 cap - 1);
	*len = (size_t)got;
	return FEDC_OK;
}
