/* `approval` and `training-plan-status`, answered off the main thread. */
#ifndef FEDC_NODE_PLAN_REQUESTS_H
#define FEDC_NODE_PLAN_REQUESTS_H

#include "daemon.h"

/* Answers `req` (an `approval` or a `training-plan-status`) with the
 * calling thread's own database and repository handles: fetches the plan
 * into the plan store if needed, looks it up by the node's digest
 * (plan_digest.h), registers it as pending for an `approval`, and replies
 * `approval-reply` / `training-plan-status-reply` or `error`. Returns the
 * result of sending the reply. Another command: an `error` reply,
 * FEDC_ERR_UNSUPPORTED. */
FEDC_NODISCARD
enum fedc_err plan_requests__answer(struct node_daemon *d, struct node_db *db, struct fedc_repo *repo,
				    const struct fedc_msg *req);

#endif
