/* Client of the blob repository (docs/protocol.md, "Repository"), on libcurl.
 *
 *   PUT  /v1/blobs/sha256/<hex>   body = blob; 201 stored, 200 already there
 *   GET  /v1/blobs/sha256/<hex>   200 + body, 404
 *   HEAD /v1/blobs/sha256/<hex>   200, 404
 * Every request carries "Authorization: Bearer <token>" when a token is set.
 * Transfers stream from and to file descriptors: a blob is never held whole in
 * memory. Downloads are hashed while they stream and refused on a mismatch.
 * A handle is used by one thread at a time; it keeps its connection alive. */
#ifndef FEDC_REPO_H
#define FEDC_REPO_H

#include <stdbool.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/hash.h"

struct fedc_repo; /* opaque */

/* Process-wide set-up (curl_global_init); call once from main before threads. */
enum fedc_err fedc_repo_global_init(void);

/* `base_url` like "http://127.0.0.1:8080" (no trailing path needed); `token`
 * may be NULL or ""; `timeout_s` bounds each request (connect + transfer
 * stall: a transfer that moves nothing for that long fails). Copies its
 * arguments. Returns FEDC_ERR_INVAL, FEDC_ERR_NOMEM. */
enum fedc_err fedc_repo_new(const char *base_url, const char *token, long timeout_s,
			    struct fedc_repo **out);
void fedc_repo_free(struct fedc_repo *repo);

/* *exists = whether the repository holds the blob. FEDC_ERR_AUTH (401/403),
 * FEDC_ERR_NET, FEDC_ERR_TIMEOUT, FEDC_ERR_HTTP. */
enum fedc_err fedc_repo_has(struct fedc_repo *repo, const char *sha256_hex, bool *exists);

/* Uploads the file at `path` (or the whole content of `fd`, from offset 0)
 * whose SHA-256 is `sha256_hex` (NULL: computed first). HEAD first: a blob
 * the repository has is not sent again. Writes the digest into `out_hex`
 * (65 bytes, may be NULL) and whether bytes were sent into *uploaded (may be
 * NULL). Errors as fedc_repo_has, plus FEDC_ERR_IO, FEDC_ERR_TOO_BIG (413),
 * FEDC_ERR_DIGEST (400: the server hashed something else). */
enum fedc_err fedc_repo_put_file(struct fedc_repo *repo, const char *path, const char *sha256_hex,
				 char *out_hex, bool *uploaded);
enum fedc_err fedc_repo_put_fd(struct fedc_repo *repo, int fd, const char *sha256_hex,
			       char *out_hex, bool *uploaded);

/* Downloads a blob into `dest_path`, atomically (temp file beside it, fsync,
 * rename) and only if its SHA-256 matches. FEDC_ERR_NOT_FOUND (404),
 * FEDC_ERR_DIGEST, FEDC_ERR_TOO_BIG (over `max_bytes`, 0 = no cap), plus the
 * errors of fedc_repo_has. Nothing is left at dest_path on failure. */
enum fedc_err fedc_repo_get_file(struct fedc_repo *repo, const char *sha256_hex, const char *dest_path,
				 uint64_t max_bytes);

#endif
