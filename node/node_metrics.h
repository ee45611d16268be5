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

/* A round ended with `rc` (FEDC_OK: its reply was sent). `evaluate_only`:
 * an evaluation round, which trains nothing. */
void node_metrics__round_end(enum fedc_err rc, bool evaluate_only);

/* The plan process `pid` finished a round using `cpu_ms` of CPU time; its
 * peak resident memory is read from /proc (VmHWM) once node_metrics__start
 * serves the metrics, and not before: nobody could read it. */
void node_metrics__plan_round(pid_t pid, int64_t cpu_ms);

/* A command was refused before it ran (bad signature, replay, stale,
 * malformed): `code` as in the refusal's error reply. */
void node_metrics__command_refused(enum fedc_err code);

/* The /metrics endpoint of the daemon. */
struct node_metrics_server;

/* Serves /metrics on cfg->metrics_listen; *out NULL (and FEDC_OK) when it
 * is not set. A scrape reads, besides the counters, the broker connection
 * `mqtt` (may be NULL), the database (datasets) and data_dir (disk use):
 * `cfg` and `mqtt` must outlive the server. Errors of fedc_prom_http_start,
 * FEDC_ERR_NOMEM, FEDC_ERR_IO (libmicrohttpd cannot be loaded,
 * lazy/lazy_require.h). Stop with node_metrics__stop. */
FEDC_NODISCARD
enum fedc_err node_metrics__start(const struct node_config *cfg, struct fedc_mqtt *mqtt,
				  struct node_metrics_server **out);

/* The bound port (useful with port 0). */
uint16_t node_metrics__port(const struct node_metrics_server *srv);

/* Stops serving (after a scrape in progress) and frees; NULL is fine. */
void node_metrics__stop(struct node_metrics_server *srv);

#endif
