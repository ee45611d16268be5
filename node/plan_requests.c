/* The researcher's requests about training plans, `approval` and
 * `training-plan-status` (docs/protocol.md). Both may download the plan, so
 * they run on the plan-request worker (round.h), not on the daemon's main
 * thread: a slow download must not stall pings, searches and lists. */
#define _GNU_SOURCE /* memfd_create */
#include "plan_requests.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "fedc/log.h"
#include "fedc/source_bundle.h"
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
	enum fedc_err rc = daemon__fetch_plan(d, repo, req->plan_digest, NULL, path, sizeof(path));

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

/* Reads the whole of `fd` (from offset 0) into b. */
static enum fedc_err read_back(int fd, struct fedc_buf *b)
{
	char chunk[16384];
	enum fedc_err rc = fedc_fd_rewind(fd, "plan source");
	ssize_t n;

	while (!rc && (n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		rc = n < 0 ? fedc_fail(FEDC_ERR_IO, "plan source: read: %s", strerror(errno))
			   : fedc_buf_append(b, chunk, (size_t)n);
	}
	return rc;
}

/* Downloads the source bundle `sha256` (digest-checked by the repository
 * client, capped at FEDC_SOURCE_MAX) into b and checks its layout. */
static enum fedc_err fetch_source(struct fedc_repo *repo, const char *sha256, struct fedc_buf *b)
{
	static _Thread_local struct fedc_source_bundle files; /* 9 KiB: off the worker's stack */
	int fd = memfd_create("fedc-plan-source", MFD_CLOEXEC);
	enum fedc_err rc = fd < 0 ? fedc_fail(FEDC_ERR_IO, "memfd_create: %s", strerror(errno)) : FEDC_OK;

	if (!rc)
		rc = fedc_repo_get_fd(repo, sha256, fd, FEDC_SOURCE_MAX);
	if (rc == FEDC_ERR_TOO_BIG)
		rc = fedc_fail(rc, "over %u bytes, the most a source bundle may hold", FEDC_SOURCE_MAX);
	if (!rc)
		rc = read_back(fd, b);
	if (!rc)
		rc = fedc_source_decode(b->data, b->len, &files);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Keeps the source shipped with a pending plan, or why it was refused: a
 * bad or missing bundle does not cost the researcher the request (the
 * steward sees the reason instead of the source). */
static void keep_source(struct node_db *db, struct fedc_repo *repo, const char *plan_digest, const char *sha256)
{
	struct fedc_buf bundle = FEDC_BUF_INIT(FEDC_SOURCE_MAX);
	char refused[FEDC_MAX_TEXT_LEN + 1] = "";
	enum fedc_err rc = fetch_source(repo, sha256, &bundle);

	if (rc) {
		snprintf(refused, sizeof(refused), "%s: %s", fedc_strerror(rc), fedc_last_error());
		fedc_warn("plan %s: the source %s shipped with it is refused: %s", plan_digest, sha256, refused);
	}
	rc = db__plan_source_put(db, plan_digest, sha256, rc ? NULL : bundle.data, rc ? 0 : bundle.len,
				 rc ? refused : NULL);
	if (rc)
		fedc_warn("plan %s: cannot keep its source: %s", plan_digest, fedc_last_error());
	fedc_buf_free(&bundle);
}

/* `approval`: keep a copy of the plan and register it as pending, for the
 * operator to review with `fedc-node plan show|approve|reject`. */
static enum fedc_err approval(struct node_daemon *d, struct node_db *db, struct fedc_repo *repo,
			      const struct fedc_msg *req)
{
	struct node_plan plan = { 0 }, stored;
	enum fedc_err rc;

	rc = daemon__fetch_plan(d, repo, req->plan_digest, NULL, plan.path, sizeof(plan.path));
	if (rc)
		return daemon__send_error(d, req, rc, "%s", fedc_last_error());
	/* Known already (perhaps under an earlier plan_digest setting): say so. */
	rc = plan_digest__find(db, plan.path, req->plan_digest, &stored);
	if (rc == FEDC_OK) {
		if (stored.status == NODE_PLAN_PENDING && fedc_msg_has(req, FEDC_F_SOURCE_DIGEST))
			keep_source(db, repo, stored.digest, req->source_digest);
		return reply_plan_status(d, req, FEDC_CMD_APPROVAL_REPLY, db__plan_status_name(stored.status));
	}
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
	if (stored.status == NODE_PLAN_PENDING && fedc_msg_has(req, FEDC_F_SOURCE_DIGEST))
		keep_source(db, repo, stored.digest, req->source_digest);
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
