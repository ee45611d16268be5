/* fedc-node-console's Prometheus metrics (docs/monitoring.md, "The node
 * console's metrics"), served on [console] metrics_listen through
 * fedc/prom_http.h, as the node daemon's are. The counters are atomic
 * (fedc/prom.h): the console's request thread writes them while the
 * metrics listener's thread reads them. */
#ifndef FEDC_CONSOLE_METRICS_H
#define FEDC_CONSOLE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "fedc/err.h"

struct node_config;
struct console_metrics_server;

/* A request answered with `status`: `url` is mapped to a page label from a
 * fixed list (anything else counts as "other"); `asset` for the static files. */
void console_metrics__request(const char *url, bool asset, unsigned status);

/* An audit record was written: `action` as in the audit log. Logins,
 * CSRF refusals, uploads, dataset and plan decisions are counted from it. */
void console_metrics__audit(const char *action);

/* An upload the console took (its file's bytes) or turned away. */
void console_metrics__upload_done(uint64_t bytes);
void console_metrics__upload_refused(void);

/* Logged-in sessions alive now, set after every request. */
void console_metrics__sessions(int64_t n);

/* Serves /metrics on cfg->console_metrics_listen; *out NULL (and FEDC_OK)
 * when it is empty. Errors as fedc_prom_http_start. */
FEDC_NODISCARD
enum fedc_err console_metrics__start(const struct node_config *cfg, struct console_metrics_server **out);
void console_metrics__stop(struct console_metrics_server *srv);

#endif
