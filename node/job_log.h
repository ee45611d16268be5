/* The node's record of the rounds it ran for researchers (table
 * job_rounds, schema 8): which researcher's job, on which dataset, with
 * which plan, when, with what result. Read by the node console's jobs page
 * (docs/node-console.md). */
#ifndef FEDC_NODE_JOB_LOG_H
#define FEDC_NODE_JOB_LOG_H

#include <stdint.h>

#include "db.h"
#include "fedc/message.h"

/* Records train request `req` that ended with `rc` (its detail is
 * fedc_last_error()), after `seconds`, having trained on n_samples rows
 * (0 when it failed). Never fails the round: a failure to record is logged
 * and fedc_last_error() is left as it was. */
void job_log__round(struct node_db *db, const struct fedc_msg *req, enum fedc_err rc, uint64_t n_samples,
		    double seconds);

#endif
