/* What the node daemon counts for monitoring, and its /metrics endpoint
 * ([metrics] listen; docs/monitoring.md lists every metric).
 *
 * The counters are process-wide atomics, so that the few places that know
 * an event (round.c at the end of a round, sandbox.c when the plan finishes
 * one, daemon.c when it refuses a command) count it with one call, from any
 * thread, without a handle passed down to them. */
#ifndef FEDC_NODE_METRICS_H
#define FEDC_NODE_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fedc/buf.h"
#include "fedc/err.h"
#include "fedc/mqtt.h"
#include "node_config.h"

struct fedc_prom_http;

/* A round ended with `rc` (FEDC_OK: its reply was sent). `evaluate_only`:
 * an evaluation round, which trains nothing. */
void node_metrics__round_end(enum fedc_err rc, bool evaluate_only);

/* The plan process `pid` finished a round using `cpu_ms` of CPU time; its
 * peak resident memory is read from /proc (VmHWM). */
void node_metrics__plan_round(pid_t pid, int64_t cpu_ms);

/* A command was refused before it ran (bad signature, replay, stale,
 * malformed): `code` as in the refusal's error reply. */
void node_metrics__command_refused(enum fedc_err code);

/* What a scrape reads besides the counters: the broker connection, the
 * database (datasets) and data_dir (disk use). Both must outlive the
 * server. */
struct node_metrics_source {
	const struct node_config *cfg;
	struct fedc_mqtt *mqtt;
};

/* Writes the exposition. FEDC_ERR_IO / FEDC_ERR_DB (data_dir or the
 * database cannot be read), or what fedc_prom_* return. */
FEDC_NODISCARD
enum fedc_err node_metrics__render(const struct node_metrics_source *src, struct fedc_buf *out);

/* Serves /metrics on cfg->metrics_listen; *out NULL (and FEDC_OK) when it
 * is not set. Errors of fedc_prom_http_start. Stop with
 * fedc_prom_http_stop. */
FEDC_NODISCARD
enum fedc_err node_metrics__serve(const struct node_metrics_source *src, struct fedc_prom_http **out);

#endif
