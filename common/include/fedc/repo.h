/* Client of the blob repository (docs/repository.md), on libcurl, over HTTP
 * or HTTPS. Two namespaces of one content-addressed store:
 *
 *   /v1/blobs/sha256/<hex>              published blobs (plans, global
 *                                       parameters): researchers write,
 *                                       researchers and nodes read
 *   /v1/updates/<node>/sha256/<hex>     a node's updates: that node writes,
 *                                       it and researchers read
 *   PUT  body = blob; 201 stored, 200 already there;  GET 200 + body, 404;
 *   HEAD 200, 404 (a blob is found only in a namespace it was put in).
 *
 * Every request carries "Authorization: Bearer <token>" when a token is set.
 *
 * Or an S3-compatible object store (fedc/repo_s3.h): URL
 * s3://host:port/bucket (https) or s3+http://host:port/bucket, the token is
 * the participant's "ACCESS_KEY:SECRET_KEY", requests are signed with AWS
 * Signature Version 4, keys are blobs/sha256/<hex> and
 * updates/<node>/sha256/<hex>. The same calls, checks and error codes: S3's
 * 403 (AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch) is
 * FEDC_ERR_AUTH, 404 FEDC_ERR_NOT_FOUND, a body that does not hash to its
 * digest FEDC_ERR_DIGEST; the detail names S3's error code.
 * Transfers stream from and to file descriptors: a blob is never held whole in
 * memory. Downloads are hashed while they stream and refused on a mismatch.
 * https URLs always verify the server's certificate and host name.
 * A handle is used by one thread at a time; it keeps its connection alive.
 *
 * Errors of every request: FEDC_ERR_AUTH (401 "unauthorized": missing or bad
 * token; 403 "forbidden": the token's principal may not do this there),
 * FEDC_ERR_NET (connection refused or dropped, TLS handshake or certificate
 * verification failed: the detail names the URL and curl's reason),
 * FEDC_ERR_TIMEOUT, FEDC_ERR_HTTP (any other status), FEDC_ERR_INVAL (bad
 * digest or node id), FEDC_ERR_NOMEM. */
#ifndef FEDC_REPO_H
#define FEDC_REPO_H

#include <stdbool.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/hash.h"

struct fedc_repo; /* opaque */

/* Whether `url` is a repository URL fedc_repo_new() takes (http, https or
 * S3; for S3 also host, port, bucket name and region), for configuration
 * files, checked before any credentials are read. FEDC_ERR_INVAL with the
 * reason. */
FEDC_NODISCARD
enum fedc_err fedc_repo_check_url(const char *url);

/* Process-wide set-up (curl_global_init); call once from main before threads. */
FEDC_NODISCARD
enum fedc_err fedc_repo_global_init(void);

/* `base_url` like "http://127.0.0.1:8080" (no trailing path needed), or an
 * S3 URL (above: then `token` is required, "ACCESS_KEY:SECRET_KEY"); `token`
 * may be NULL or ""; `timeout_s` bounds each request (connect + transfer
 * stall: a transfer that moves nothing for that long fails). Copies its
 * arguments. Returns FEDC_ERR_INVAL, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err fedc_repo_new(const char *base_url, const char *token, long timeout_s,
			    struct fedc_repo **out);
void fedc_repo_free(struct fedc_repo *repo);

/* Body bytes every repository client of this process has downloaded and
 * uploaded since it started, retries and failed transfers included (for
 * monitoring). Thread-safe. */
void fedc_repo_traffic(uint64_t *downloaded, uint64_t *uploaded);

/* Verifies https servers against the CA certificate(s) in PEM file `ca_file`
 * alone (a federation's own CA), instead of the system's CAs; NULL or ""
 * goes back to the system's. The path is copied and checked now: FEDC_ERR_IO
 * (missing, unreadable, not a regular file), FEDC_ERR_NOMEM. Verification is
 * never turned off. */
FEDC_NODISCARD
enum fedc_err fedc_repo_set_ca_file(struct fedc_repo *repo, const char *ca_file);

/* *exists = whether the blob is published (/v1/blobs). On S3, a HEAD the
 * store refuses (403) also reads as absent: to a participant the bucket
 * policy does not let list the bucket (nodes), a missing key looks the same;
 * the PUT or GET that follows gets the final answer. */
FEDC_NODISCARD
enum fedc_err fedc_repo_has(struct fedc_repo *repo, const char *sha256_hex, bool *exists);

/* Publishes (/v1/blobs) the file at `path` (or the whole content of `fd`,
 * from offset 0) whose SHA-256 is `sha256_hex` (NULL: computed first). HEAD
 * first: a blob already published is not sent again. Writes the digest into
 * `out_hex` (65 bytes, may be NULL) and whether bytes were sent into
 * *uploaded (may be NULL). Errors as above, plus FEDC_ERR_IO, FEDC_ERR_TOO_BIG
 * (413), FEDC_ERR_DIGEST (400: the server hashed something else). */
FEDC_NODISCARD
enum fedc_err fedc_repo_put_file(struct fedc_repo *repo, const char *path, const char *sha256_hex,
				 char *out_hex, bool *uploaded);
FEDC_NODISCARD
enum fedc_err fedc_repo_put_fd(struct fedc_repo *repo, int fd, const char *sha256_hex,
			       char *out_hex, bool *uploaded);

/* Downloads a published blob into `dest_path`, atomically (temp file beside
 * it, fsync, rename) and only if its SHA-256 matches. FEDC_ERR_NOT_FOUND
 * (404), FEDC_ERR_DIGEST, FEDC_ERR_TOO_BIG (over `max_bytes`, 0 = no cap),
 * FEDC_ERR_IO, plus the errors above. Nothing is left at dest_path on
 * failure. */
FEDC_NODISCARD
enum fedc_err fedc_repo_get_file(struct fedc_repo *repo, const char *sha256_hex, const char *dest_path,
				 uint64_t max_bytes);

/* The same for the updates of node `node_id` (/v1/updates/<node_id>): only
 * that node may put them; it and researchers may get them. `node_id` is
 * required (FEDC_ERR_INVAL when NULL or not a participant id). An update is
 * PUT without a HEAD first (*uploaded is then true even when the store had
 * it: the server keeps one copy). */
FEDC_NODISCARD
enum fedc_err fedc_repo_put_update_file(struct fedc_repo *repo, const char *node_id, const char *path,
					const char *sha256_hex, char *out_hex, bool *uploaded);
FEDC_NODISCARD
enum fedc_err fedc_repo_put_update_fd(struct fedc_repo *repo, const char *node_id, int fd,
				      const char *sha256_hex, char *out_hex, bool *uploaded);
FEDC_NODISCARD
enum fedc_err fedc_repo_get_update_file(struct fedc_repo *repo, const char *node_id, const char *sha256_hex,
					const char *dest_path, uint64_t max_bytes);

/* Downloads into `fd` (from its current offset) with the same checks, but
 * no temp file, fsync or rename: for scratch copies (a memfd, a work file)
 * whose caller discards them on failure, where durability buys nothing. */
FEDC_NODISCARD
enum fedc_err fedc_repo_get_fd(struct fedc_repo *repo, const char *sha256_hex, int fd, uint64_t max_bytes);
FEDC_NODISCARD
enum fedc_err fedc_repo_get_update_fd(struct fedc_repo *repo, const char *node_id, const char *sha256_hex, int fd,
				      uint64_t max_bytes);

#endif
