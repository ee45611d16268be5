/* The S3 backend of the repository client (fedc/repo.h; docs/repository.md,
 * "S3 backend"): what differs when the repository is an S3-compatible object
 * store (Ceph RADOS Gateway, MinIO, AWS S3) instead of fedc-repository. The
 * requests, streaming, hashing and checks stay those of repo.c; this module
 * only maps the URL and the keys, signs (AWS Signature Version 4, by libcurl)
 * and reads S3's error answers.
 *
 *   repository URL   s3://HOST[:PORT]/BUCKET[?region=REGION]      over https
 *                    s3+https://...  (the same), s3+http://...    plain http
 *   requests go to   http(s)://HOST[:PORT]/BUCKET/KEY  (path-style: no DNS
 *                    name per bucket needed)
 *   keys             blobs/sha256/<hex>             published blobs
 *                    updates/<node>/sha256/<hex>    a node's updates
 *   credentials      the repository token is "ACCESS_KEY:SECRET_KEY", the
 *                    participant's own S3 user
 *
 * A PUT carries x-amz-content-sha256 = the blob's digest (the key's last
 * segment): it is signed, and the store refuses a body that does not hash to
 * it (400 XAmzContentSHA256Mismatch), as fedc-repository refuses a body that
 * does not match its digest. The store does not check that the key names that
 * digest: downloads are hashed and refused on a mismatch, as always. */
#ifndef FEDC_REPO_S3_H
#define FEDC_REPO_S3_H

#include <stdbool.h>
#include <stddef.h>

#include "fedc/err.h"

/* The key prefixes of the two namespaces, also what bucket policies name
 * (fedc-admin s3-policy). */
#define FEDC_REPO_S3_BLOBS_PREFIX "blobs/sha256/"
#define FEDC_REPO_S3_UPDATES_PREFIX "updates/"
#define FEDC_REPO_S3_DEFAULT_REGION "us-east-1"
/* Longest parts we accept: S3's own limits (bucket 63) or generous ones. */
#define FEDC_REPO_S3_MAX_BUCKET 63
#define FEDC_REPO_S3_MAX_REGION 32
#define FEDC_REPO_S3_MAX_ACCESS_KEY 128
#define FEDC_REPO_S3_MAX_CODE 64

/* A parsed S3 location and the credentials that sign for it. */
struct fedc_repo_s3 {
	char *endpoint; /* "https://host:port/bucket": the base of every object URL */
	char *sigv4;    /* "aws:amz:<region>:s3", for CURLOPT_AWS_SIGV4 */
	char *userpwd;  /* "ACCESS_KEY:SECRET_KEY", for CURLOPT_USERPWD */
	void *headers;  /* the current request's header list (struct curl_slist) */
};

/* Whether `name` follows S3's bucket naming rules as this backend needs
 * them: 3 to 63 of a-z 0-9 . -, starting and ending with a letter or digit. */
bool fedc_repo_s3_bucket_valid(const char *name);

/* Whether `url` names an S3 repository (starts with "s3:" or "s3+"). */
bool fedc_repo_s3_is_url(const char *url);

/* Parses `url` (forms above) and `credentials` into *out (zeroed first; free
 * with fedc_repo_s3_clear). FEDC_ERR_INVAL with a detail naming what to
 * change: unknown scheme, empty host, bad port, a bucket name S3 would refuse
 * (3-63 of a-z 0-9 . -, starting and ending with a letter or digit), a path
 * after the bucket, an unknown query, missing or malformed credentials.
 * FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err fedc_repo_s3_parse(const char *url, const char *credentials, struct fedc_repo_s3 *out);
void fedc_repo_s3_clear(struct fedc_repo_s3 *s3);
/* The URL checks of fedc_repo_s3_parse alone (for config files, read before
 * the credentials). FEDC_ERR_INVAL. */
FEDC_NODISCARD
enum fedc_err fedc_repo_s3_check_url(const char *url);

/* Sets on curl handle `curl` (a CURL *) what an S3 request needs: SigV4
 * signing with the credentials, and the header list `base` (a struct
 * curl_slist *, may be NULL) plus x-amz-content-sha256: for a PUT the digest
 * that ends `url` (the key names the content), else the digest of an empty
 * body. The list is owned by s3 until the next call or fedc_repo_s3_clear.
 * FEDC_ERR_INVAL (a PUT URL that does not end in a digest), FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err fedc_repo_s3_prepare(struct fedc_repo_s3 *s3, void *curl, const void *base, const char *url,
				   bool is_put);

/* The <Code> of an S3 error answer (<Error><Code>AccessDenied</Code>...),
 * from the first `len` bytes of `body` (need not be NUL-terminated), into
 * code[cap]; FEDC_ERR_MALFORMED if there is none, or it is empty, longer
 * than FEDC_REPO_S3_MAX_CODE or not made of letters and digits. */
FEDC_NODISCARD
enum fedc_err fedc_repo_s3_error_code(const char *body, size_t len, char *code, size_t cap);

/* What an unwanted status of an S3 request means, given the <Code> of its
 * answer ("" if none): the fedc error (FEDC_ERR_AUTH for 403 and 401,
 * FEDC_ERR_NOT_FOUND for 404, FEDC_ERR_DIGEST for a body that did not match
 * its digest, FEDC_ERR_TOO_BIG, else FEDC_ERR_HTTP) and, in *hint, a short
 * explanation for people ("" when the code says it all). */
enum fedc_err fedc_repo_s3_status(long status, const char *method, const char *code, const char **hint);

#endif
