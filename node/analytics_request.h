/* The node's answer to an `analytics` request (analytics.h): policy checks,
 * the dataset, the computation, the budget, the reply. */
#ifndef FEDC_NODE_ANALYTICS_REQUEST_H
#define FEDC_NODE_ANALYTICS_REQUEST_H

#include "daemon.h"

/* Answers `req` with `analytics-reply`, or `error` whose message says what
 * to change (a bad query, analytics off, no such dataset, a policy or
 * budget refusal). Runs on the calling thread; the request stays the
 * caller's. */
void analytics__answer(struct node_daemon *d, const struct fedc_msg *req);

#endif
