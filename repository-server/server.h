/* The HTTP(S) side of fedc-repository, on libmicrohttpd (docs/repository.md):
 *
 *   PUT  <ns>/sha256/<hex>   201 stored, 200 already stored (now visible in
 *                            <ns>), 400 digest mismatch, 413 too big
 *   GET  <ns>/sha256/<hex>   200 + body (streamed from the file), 404
 *   HEAD <ns>/sha256/<hex>   200, 404
 * with <ns> = /v1/blobs (published) or /v1/updates/<node id> (one node's
 * updates). Any other path 404; other methods 405; 401 without a known
 * bearer token when auth is configured; 403 when the principal's role may
 * not do this in <ns>. HTTPS only when the config names a certificate.
 * Requests are served by an internal thread pool; bodies stream both ways. */
#ifndef FEDC_REPOSITORY_SERVER_H
#define FEDC_REPOSITORY_SERVER_H

#include <stdint.h>

#include "fedc/err.h"
#include "server_config.h"
#include "store.h"

struct server; /* opaque */

/* Loads the principals (token, tokens_file) and the TLS files, opens the
 * namespace markers of `store`, binds and starts serving. `cfg` and `store`
 * must outlive the server. FEDC_ERR_CONFIG (missing or malformed tokens
 * file, bad TLS files: the detail names the file, and the line),
 * FEDC_ERR_IO (marker tree not creatable), FEDC_ERR_NET (cannot resolve or bind:
 * detail says which), FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err server__start(const struct server_config *cfg, struct store *store, struct server **out);

/* Re-reads the tokens file (SIGHUP). Requests in flight finish with the set
 * they started with. On failure the current set stays and the error is
 * returned as by server__start(). *principals (may be NULL): how many are in
 * force afterwards. */
FEDC_NODISCARD
enum fedc_err server__reload(struct server *srv, size_t *principals);

/* The TCP port actually bound (useful with port 0). */
uint16_t server__port(const struct server *srv);

/* Stops accepting, waits for the worker threads, frees. NULL is allowed. */
void server__stop(struct server *srv);

#endif
