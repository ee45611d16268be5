/* The HTTP side of fedc-repository, on libmicrohttpd (docs/repository.md):
 *
 *   PUT  /v1/blobs/sha256/<hex>   201 stored, 200 already there, 400 digest
 *                                 mismatch, 413 too big
 *   GET  /v1/blobs/sha256/<hex>   200 + body (streamed from the file), 404
 *   HEAD /v1/blobs/sha256/<hex>   200, 404
 *   any other path 404; other methods on a blob path 405; 401 without the
 *   bearer token when one is configured.
 * Requests are served by an internal thread pool; bodies stream both ways. */
#ifndef FEDC_REPOSITORY_SERVER_H
#define FEDC_REPOSITORY_SERVER_H

#include <stdint.h>

#include "fedc/err.h"
#include "server_config.h"
#include "store.h"

struct server; /* opaque */

/* Binds and starts serving. `cfg` and `store` must outlive the server.
 * FEDC_ERR_NET (cannot resolve or bind: detail says which), FEDC_ERR_NOMEM. */
enum fedc_err server__start(const struct server_config *cfg, struct store *store, struct server **out);

/* The TCP port actually bound (useful with port 0). */
uint16_t server__port(const struct server *srv);

/* Stops accepting, waits for the worker threads, frees. NULL is allowed. */
void server__stop(struct server *srv);

#endif
