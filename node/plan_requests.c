/* The researcher's requests about training plans, `approval` and
 * `training-plan-status` (docs/protocol.md). Both may download the plan, so
 * they run on the plan-request worker (round.h), not on the daemon's main
 * thread: a slow download must not stall pings, searches and lists. */
#include "plan_requests.h"

#include <stdio.h>
#include <string.h>

#include "fedc/log.h"
#include "plan_digest.h"

static enum fedc_err reply_plan_status(struct node_daemon *d, const struct fedc_msg *req, enum fedc_cmd cmd,
				       const char *status)
{
	struct fedc_msg *reply = fedc_msg_reply(req, cmd, d->cfg->node_id);
	enum fedc_err rc;

	if (!reply)
		return FEDC_ERR_NOMEM;
	snprintf(reply->plan_digest, sizeof(reply->plan_digest), "%s", req->plan_digest);
	snprintf(reply->plan_status, sizeof(reply->plan_status), "%s", status);
	fedc_msg_set(reply, FEDC_F_PLAN_DIGEST);
	fedc_msg_set(reply, FEDC_F_PLAN_STATUS);
	rc = daemon__send(d, reply);
	fedc_msg_free(reply);
	return rc;
}

/* The status of the plan the researcher names by SHA-256: the node looks it
 * up by its own digest of the file (plan_digest.h), fetching it if needed. */
static enum fedc_err plan_status(struct node_daemon *d, struct node_db *db, struct fedc_repo *repo,
				 const struct fedc_msg *req)
{
	struct node_plan plan;
	char path[NODE_PATH_MAX];
	enum fedc_err rc = daemon__fetch_plan(d, repo, req->plan_digest, path, sizeof(path));

	if (rc == FEDC_ERR_NOT_FOUND)
		return reply_plan_status(d, req, FEDC_CMD_PLAN_STATUS_REPLY, "unknown");
	if (!rc)
		rc = plan_digest__find(db, path, req->plan_digest, &plan);
	if (rc == FEDC_ERR_NOT_FOUND)
		return reply_plan_status(d, req, FEDC_CMD_PLAN_STATUS_REPLY, "unknown");
	if (rc)
		return daemon__send_error(d, req, rc, "cannot read the plan list: %s", fedc_last_error());
	return reply_plan_status(d, req, FEDC_CMD_PLAN_STATUS_REPLY, db__plan_status_name(plan.status));
}

/* `approval`: keep a copy of the plan and register it as pending, for the
 * operator to review with `fedc-node plan show|approve|reject`. */
static enum fedc_err approval(struct node_daemon *d, struct node_db *db, struct fedc_repo *repo,
			      const struct fedc_msg *req)
{
	struct node_plan plan = { 0 }, stored;
	enum fedc_err rc;

	rc = daemon__fetch_plan(d, repo, req->plan_digest, plan.path, sizeof(plan.path));
	if (rc)
		return daemon__send_error(d, req, rc, "%s", fedc_last_error());
	/* Known already (perhaps under an earlier plan_digest setting): say so. */
	rc = plan_digest__find(db, plan.path, req->plan_digest, &stored);
	if (rc == FEDC_OK)
		return reply_plan_status(d, req, FEDC_CMD_APPROVAL_REPLY, db__plan_status_name(stored.status));
	if (rc == FEDC_ERR_NOT_FOUND)
		rc = plan_digest__fill(d->cfg->plan_digest, plan.path, &plan);
	if (rc)
		return daemon__send_error(d, req, rc, "%s", fedc_last_error());
	snprintf(plan.name, sizeof(plan.name), "%s", req->plan_name);
	snprintf(plan.requested_by, sizeof(plan.requested_by), "%s", req->researcher_id);
	if (fedc_msg_has(req, FEDC_F_DESCRIPTION))
		snprintf(plan.notes, sizeof(plan.notes), "%s", req->description);
	rc = db__plan_register(db, &plan, &stored);
	if (rc)
		return daemon__send_error(d, req, rc, "cannot register the plan: %s", fedc_last_error());
	fedc_info("plan %s (%s) registered as %s at the request of %s", plan.digest, plan.name,
		  db__plan_status_name(stored.status), req->researcher_id);
	return reply_plan_status(d, req, FEDC_CMD_APPROVAL_REPLY, db__plan_status_name(stored.status));
}

enum fedc_err plan_requests__answer(struct node_daemon *d, struct node_db *db, struct fedc_repo *repo,
				    const struct fedc_msg *req)
{
	if (req->command == FEDC_CMD_APPROVAL)
		return approval(d, db, repo, req);
	if (req->command == FEDC_CMD_PLAN_STATUS)
		return plan_status(d, db, repo, req);
	return daemon__send_error(d, req, FEDC_ERR_UNSUPPORTED, "not a request about a training plan");
}
