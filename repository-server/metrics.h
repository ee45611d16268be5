/* What fedc-repository counts for monitoring, and its Prometheus exposition
 * (docs/monitoring.md lists every metric). Counters are atomics: the
 * server's worker threads bump them without a lock. */
#ifndef FEDC_REPOSITORY_METRICS_H
#define FEDC_REPOSITORY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/buf.h"
#include "fedc/err.h"
#include "fedc/prom.h"

enum repo_method { REPO_METHOD_GET, REPO_METHOD_HEAD, REPO_METHOD_PUT, REPO_METHOD_OTHER, REPO_N_METHODS };

/* Why a request or a connection was turned away. */
enum repo_refusal {
	REPO_REFUSED_AUTH,      /* 401: no or a wrong token */
	REPO_REFUSED_FORBIDDEN, /* 403: a valid token, not allowed there */
	REPO_REFUSED_QUOTA,     /* 507 quota-exceeded: the node's update quota */
	REPO_REFUSED_TOO_BIG,   /* 413: over max_blob_mb */
	REPO_REFUSED_GUARD,     /* a connection closed for showing no valid token in time (guard.h) */
	REPO_N_REFUSALS
};

/* Status classes 1xx..5xx, and "none": the connection ended before any
 * answer. */
#define REPO_N_CLASSES 6

struct repo_metrics {
	struct fedc_prom_counter requests[REPO_N_METHODS][REPO_N_CLASSES];
	struct fedc_prom_counter bytes_in, bytes_out;      /* request and response bodies */
	struct fedc_prom_counter connections;              /* accepted since start */
	struct fedc_prom_gauge open_connections;
	struct fedc_prom_counter refused[REPO_N_REFUSALS];
};

/* One finished request: `status` 0 when none was sent; `error` the error
 * name of the answer ("unauthorized", "quota-exceeded" ...; NULL for a
 * success), from which a refusal is counted. */
void repo_metrics__request(struct repo_metrics *m, enum repo_method method, unsigned status, const char *error,
			   uint64_t bytes_in, uint64_t bytes_out);

/* Writes the whole exposition: the counters above (refused{reason="guard"}
 * is `guard_closed`, guard.h's count), the downloads waiting their turn now
 * (download_turns.h), then the store's disk use and blob count, walked
 * under `store_root` at each scrape. Errors of fedc_prom_*, or FEDC_ERR_IO
 * (the store cannot be read). */
FEDC_NODISCARD
enum fedc_err repo_metrics__render(struct repo_metrics *m, uint64_t guard_closed, size_t downloads_waiting,
				   const char *store_root, struct fedc_buf *out);

#endif
