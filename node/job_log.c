/* Recording the rounds the node ran (see job_log.h). */
#include "job_log.h"

#include <stdio.h>

#include "fedc/log.h"

void job_log__round(struct node_db *db, const struct fedc_msg *req, enum fedc_err rc, uint64_t n_samples,
		    double seconds)
{
	char detail[FEDC_MAX_TEXT_LEN + 1];
	struct node_job_round r = {
		.job_id = req->job_id, .researcher_id = req->researcher_id, .dataset_id = req->dataset_id,
		.plan_digest = req->plan_digest, .round = req->round, .evaluate_only = req->evaluate_only,
		.result = rc ? fedc_strerror(rc) : "ok", .detail = detail, .n_samples = rc ? 0 : n_samples,
		.dp_noise = req->dp_noise, .seconds = seconds,
	};

	/* Copied first: recording may overwrite the thread's last error. */
	snprintf(detail, sizeof(detail), "%s", rc ? fedc_last_error() : "");
	if (db__job_round_add(db, &r))
		fedc_warn("round: job %s round %llu not recorded in the jobs table: %s", req->job_id,
			  (unsigned long long)req->round, fedc_last_error());
	if (rc)
		fedc_ignore(fedc_fail(rc, "%s", detail));
}
