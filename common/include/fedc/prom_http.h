/* A small HTTP server for Prometheus scrapes (libmicrohttpd): GET or HEAD
 * /metrics answers 200 with what `render` writes (fedc/prom.h); any other
 * path is 404, any other method on /metrics 405, a request with a body 400.
 * It never asks for credentials and serves nothing but the counters, so it
 * belongs on loopback or a monitoring network (docs/monitoring.md).
 *
 * Lives in its own library, fedc_prom_http, so that only the programs that
 * serve metrics link libmicrohttpd. */
#ifndef FEDC_PROM_HTTP_H
#define FEDC_PROM_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "fedc/buf.h"
#include "fedc/err.h"

/* Writes the whole exposition into `out` (empty on entry). Called on the
 * server's one thread, one scrape at a time; a non-zero return answers 500
 * and logs fedc_last_error(). */
typedef enum fedc_err (*fedc_prom_render_fn)(void *ctx, struct fedc_buf *out);

struct fedc_prom_http;

/* Listens on `listen` ("HOST:PORT", fedc_prom_listen_parse; `what` names the
 * config key in errors). FEDC_ERR_CONFIG (bad address), FEDC_ERR_NET (cannot
 * resolve or bind, with the reason), FEDC_ERR_NOMEM. The caller frees *out
 * with fedc_prom_http_stop; `ctx` must outlive it. */
FEDC_NODISCARD
enum fedc_err fedc_prom_http_start(const char *what, const char *listen, fedc_prom_render_fn render, void *ctx,
				   struct fedc_prom_http **out);

/* The bound port (useful with port 0). */
uint16_t fedc_prom_http_port(const struct fedc_prom_http *srv);

/* Stops serving (waits for a scrape in progress) and frees; NULL is fine. */
void fedc_prom_http_stop(struct fedc_prom_http *srv);

/* Whether a body follows the request's headers (a Content-Length other than
 * 0, or chunked): libmicrohttpd cannot answer in the middle of one, so the
 * servers refuse such requests at their first call. Shared by this server
 * and the repository's. */
struct MHD_Connection;
bool fedc_mhd_has_body(struct MHD_Connection *conn);

#endif
