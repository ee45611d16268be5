/* The S3 backend of the repository client: URL and key mapping, SigV4
 * options, S3 error answers (see fedc/repo_s3.h and docs/repository.md). */
#define _GNU_SOURCE /* memmem */
#include "fedc/repo_s3.h"

#include "fedc/hash.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SHA-256 of nothing: the payload digest of GET and HEAD. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define CONTENT_SHA256_HEADER "x-amz-content-sha256: "

bool fedc_repo_s3_is_url(const char *url)
{
	return url && (strncmp(url, "s3:", 3) == 0 || strncmp(url, "s3+", 3) == 0);
}

/* The scheme's length and the http scheme it maps to, or 0. */
static size_t scheme(const char *url, const char **http)
{
	static const struct {
		const char *s3, *http;
	} schemes[] = { { "s3://", "https" }, { "s3+https://", "https" }, { "s3+http://", "http" } };

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i].s3);

		if (strncmp(url, schemes[i].s3, n) == 0) {
			*http = schemes[i].http;
			return n;
		}
	}
	return 0;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* S3's bucket naming rules (the part every S3 implementation shares). */
static bool bucket_valid(const char *b, size_t n)
{
	if (n < 3 || n > FEDC_REPO_S3_MAX_BUCKET || !is_lower_alnum(b[0]) || !is_lower_alnum(b[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_lower_alnum(b[i]) && b[i] != '-' && b[i] != '.')
			return false;
	}
	return true;
}

bool fedc_repo_s3_bucket_valid(const char *name)
{
	return name && bucket_valid(name, strlen(name));
}

/* host[:port]: no user info, path or anything curl would read otherwise;
 * an IPv6 literal in brackets is fine. */
static bool authority_valid(const char *a, size_t n)
{
	const char *colon = NULL;

	if (n == 0 || n > 260)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (a[i] <= 0x20 || a[i] >= 0x7f || strchr("@?#/\\", a[i]))
			return false;
	}
	if (a[0] == '[') {
		const char *close = memchr(a, ']', n);

		if (!close)
			return false;
		colon = (size_t)(close - a) + 1 < n ? close + 1 : NULL;
		if (colon && *colon != ':')
			return false;
	} else {
		colon = memchr(a, ':', n);
	}
	if (colon) {
		size_t digits = n - (size_t)(colon - a) - 1;
		long port = 0;

		if (colon == a || digits == 0 || digits > 5)
			return false;
		for (size_t i = 1; i <= digits; i++) {
			if (colon[i] < '0' || colon[i] > '9')
				return false;
			port = port * 10 + (colon[i] - '0');
		}
		if (port < 1 || port > 65535)
			return false;
	}
	return true;
}

/* "?region=NAME" or nothing: the region goes into the signature's scope. */
static enum fedc_err parse_query(const char *url, const char *q, char *region)
{
	size_t n;

	if (!q || !*q)
		return FEDC_OK;
	if (strncmp(q, "?region=", 8) != 0)
		return fedc_fail(FEDC_ERR_INVAL, "repository URL %s: the only query understood is ?region=NAME", url);
	q += 8;
	n = strlen(q);
	if (n == 0 || n > FEDC_REPO_S3_MAX_REGION)
		return fedc_fail(FEDC_ERR_INVAL, "repository URL %s: region must be 1 to %d characters", url,
				 FEDC_REPO_S3_MAX_REGION);
	for (size_t i = 0; i < n; i++) {
		if (!is_lower_alnum(q[i]) && q[i] != '-')
			return fedc_fail(FEDC_ERR_INVAL, "repository URL %s: region: only a-z 0-9 -", url);
	}
	memcpy(region, q, n + 1);
	return FEDC_OK;
}

/* "ACCESS_KEY:SECRET_KEY": curl splits CURLOPT_USERPWD at the first ':', so
 * the access key has none (it is letters and digits); the secret goes into
 * no header, only into the HMAC, but stays visible ASCII like any token. */
static enum fedc_err credentials_valid(const char *cred)
{
	const char *colon = cred ? strchr(cred, ':') : NULL;
	size_t access;

	if (!colon)
		return fedc_fail(FEDC_ERR_INVAL, "S3 repository: the token must be ACCESS_KEY:SECRET_KEY (the "
						 "participant's S3 keys), got %s",
				 cred && cred[0] ? "no ':'" : "none");
	access = (size_t)(colon - cred);
	if (access == 0 || access > FEDC_REPO_S3_MAX_ACCESS_KEY || !colon[1])
		return fedc_fail(FEDC_ERR_INVAL, "S3 repository token: ACCESS_KEY (1 to %d characters) and "
						 "SECRET_KEY must both be given",
				 FEDC_REPO_S3_MAX_ACCESS_KEY);
	for (size_t i = 0; i < access; i++) {
		if (!is_alnum(cred[i]))
			return fedc_fail(FEDC_ERR_INVAL, "S3 repository token: the access key is letters and digits");
	}
	for (const char *p = colon + 1; *p; p++) {
		if (*p < 0x21 || *p > 0x7e)
			return fedc_fail(FEDC_ERR_INVAL, "S3 repository token: the secret key is visible ASCII only");
	}
	return FEDC_OK;
}

/* "http(s)://" + `n` bytes of "host:port/bucket". */
static char *endpoint_of(const char *http, const char *authority, size_t n)
{
	size_t len = strlen(http) + strlen("://") + n + 1;
	char *s = malloc(len);

	if (s)
		snprintf(s, len, "%s://%.*s", http, (int)n, authority);
	return s;
}

static char *sigv4_of(const char *region)
{
	size_t len = strlen("aws:amz::s3") + strlen(region) + 1;
	char *s = malloc(len);

	if (s)
		snprintf(s, len, "aws:amz:%s:s3", region);
	return s;
}

/* Where an S3 URL points: the http scheme, "host:port/bucket" and the region. */
struct location {
	const char *http;
	const char *authority; /* "host:port/bucket", auth_len bytes */
	size_t auth_len;
	char region[FEDC_REPO_S3_MAX_REGION + 1];
};

static enum fedc_err parse_location(const char *url, struct location *loc)
{
	const char *slash, *bucket, *end;
	size_t skip = url ? scheme(url, &loc->http) : 0;

	snprintf(loc->region, sizeof(loc->region), "%s", FEDC_REPO_S3_DEFAULT_REGION);
	if (!skip)
		return fedc_fail(FEDC_ERR_INVAL, "repository URL %s: expected s3://host:port/bucket (https) or "
						 "s3+http://host:port/bucket",
				 url ? url : "(null)");
	loc->authority = url + skip;
	slash = strchr(loc->authority, '/');
	if (!slash || !authority_valid(loc->authority, (size_t)(slash - loc->authority)))
		return fedc_fail(FEDC_ERR_INVAL, "repository URL %s: expected host[:port] then /bucket", url);
	bucket = slash + 1;
	end = bucket + strcspn(bucket, "/?");
	if (!bucket_valid(bucket, (size_t)(end - bucket)))
		return fedc_fail(FEDC_ERR_INVAL, "repository URL %s: the bucket name must be 3 to %d of a-z 0-9 . -, "
						 "starting and ending with a letter or digit",
				 url, FEDC_REPO_S3_MAX_BUCKET);
	if (*end == '/' && end[1] != '\0' && end[1] != '?')
		return fedc_fail(FEDC_ERR_INVAL, "repository URL %s: nothing may follow the bucket (keys are "
						 "fedc's: blobs/, updates/)",
				 url);
	loc->auth_len = (size_t)(end - loc->authority);
	return parse_query(url, strchr(end, '?'), loc->region);
}

enum fedc_err fedc_repo_s3_check_url(const char *url)
{
	struct location loc;

	return parse_location(url, &loc);
}

enum fedc_err fedc_repo_s3_parse(const char *url, const char *credentials, struct fedc_repo_s3 *out)
{
	struct location loc;
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	rc = parse_location(url, &loc);
	if (!rc)
		rc = credentials_valid(credentials);
	if (rc)
		return rc;
	out->endpoint = endpoint_of(loc.http, loc.authority, loc.auth_len);
	out->sigv4 = sigv4_of(loc.region);
	out->userpwd = strdup(credentials);
	if (!out->endpoint || !out->sigv4 || !out->userpwd) {
		fedc_repo_s3_clear(out);
		return FEDC_ERR_NOMEM;
	}
	return FEDC_OK;
}

void fedc_repo_s3_clear(struct fedc_repo_s3 *s3)
{
	if (!s3)
		return;
	free(s3->endpoint);
	free(s3->sigv4);
	if (s3->userpwd) /* a secret: not left behind in freed memory */
		memset(s3->userpwd, 0, strlen(s3->userpwd));
	free(s3->userpwd);
	curl_slist_free_all(s3->headers);
	memset(s3, 0, sizeof(*s3));
}

/* A copy of `base` plus the payload digest header. Header removals
 * ("Expect:") are left out: curl 7.88 signs them as empty headers it then
 * does not send, and the store's signature check fails. So PUTs carry curl's
 * own "Expect: 100-continue": a round trip more per upload, but a refusal
 * (403) comes before the body is sent. */
static struct curl_slist *headers_with_digest(const struct curl_slist *base, const char *hex)
{
	char line[sizeof(CONTENT_SHA256_HEADER) + FEDC_SHA256_HEXLEN];
	struct curl_slist *list = NULL, *grown;

	for (const struct curl_slist *h = base; h; h = h->next) {
		size_t len = strlen(h->data);

		if (len > 0 && h->data[len - 1] == ':')
			continue;
		grown = curl_slist_append(list, h->data);
		if (!grown)
			goto fail;
		list = grown;
	}
	snprintf(line, sizeof(line), CONTENT_SHA256_HEADER "%s", hex);
	grown = curl_slist_append(list, line);
	if (grown)
		return grown;
fail:
	curl_slist_free_all(list);
	return NULL;
}

enum fedc_err fedc_repo_s3_prepare(struct fedc_repo_s3 *s3, void *curl, const void *base, const char *url,
				   bool is_put)
{
	const char *hex = EMPTY_SHA256;
	size_t len = strlen(url);
	struct curl_slist *list;

	if (is_put) {
		hex = len >= FEDC_SHA256_HEXLEN ? url + len - FEDC_SHA256_HEXLEN : "";
		if (!fedc_hex_valid(hex, FEDC_SHA256_HEXLEN))
			return fedc_fail(FEDC_ERR_INVAL, "PUT %s: an S3 key ends in the content's SHA-256", url);
	}
	list = headers_with_digest(base, hex);
	if (!list)
		return FEDC_ERR_NOMEM;
	curl_slist_free_all(s3->headers);
	s3->headers = list;
	if (curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, s3->sigv4) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_USERPWD, s3->userpwd) != CURLE_OK)
		return fedc_fail(FEDC_ERR_NOMEM, "%s: cannot set up S3 signing (libcurl 7.75 or later needed)", url);
	return FEDC_OK;
}

enum fedc_err fedc_repo_s3_error_code(const char *body, size_t len, char *code, size_t cap)
{
	static const char open[] = "<Code>", close[] = "</Code>";
	const char *start = body ? memmem(body, len, open, sizeof(open) - 1) : NULL;
	size_t left, n = 0;

	if (cap)
		code[0] = '\0';
	if (!start)
		return FEDC_ERR_MALFORMED;
	start += sizeof(open) - 1;
	left = len - (size_t)(start - body);
	while (n < left && is_alnum(start[n]))
		n++;
	if (n == 0 || n > FEDC_REPO_S3_MAX_CODE || n >= cap || left - n < sizeof(close) - 1 ||
	    memcmp(start + n, close, sizeof(close) - 1) != 0)
		return FEDC_ERR_MALFORMED;
	memcpy(code, start, n);
	code[n] = '\0';
	return FEDC_OK;
}

static bool is(const char *code, const char *name)
{
	return strcmp(code, name) == 0;
}

enum fedc_err fedc_repo_s3_status(long status, const char *method, const char *code, const char **hint)
{
	bool reading = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	*hint = "";
	if (is(code, "InvalidAccessKeyId")) {
		*hint = "the store knows no such access key: check the token's ACCESS_KEY";
		return FEDC_ERR_AUTH;
	}
	if (is(code, "SignatureDoesNotMatch")) {
		*hint = "the secret key does not match the access key: check the token's SECRET_KEY";
		return FEDC_ERR_AUTH;
	}
	if (is(code, "UserSuspended")) {
		*hint = "the store has suspended this S3 user (a revoked participant?)";
		return FEDC_ERR_AUTH;
	}
	if (is(code, "RequestTimeTooSkewed")) {
		*hint = "this machine's clock is too far from the store's: synchronise it (NTP)";
		return FEDC_ERR_AUTH;
	}
	if (is(code, "XAmzContentSHA256Mismatch") || is(code, "BadDigest")) {
		*hint = "the store hashed the body to another digest";
		return FEDC_ERR_DIGEST;
	}
	if (is(code, "EntityTooLarge") || status == 413)
		return FEDC_ERR_TOO_BIG;
	if (is(code, "NoSuchBucket")) {
		*hint = "the bucket does not exist: create it (docs/deployment.md, \"Repository on object storage\")";
		return FEDC_ERR_NOT_FOUND;
	}
	if (status == 403) {
		/* Without s3:ListBucket (nodes: listing would show other nodes'
		 * updates) S3 answers a read of a missing key with 403 too. */
		*hint = reading ? "forbidden by the bucket policy, or absent (a participant that may not list the "
				  "bucket cannot tell)"
				: "forbidden by the bucket policy";
		return FEDC_ERR_AUTH;
	}
	if (status == 401)
		return FEDC_ERR_AUTH;
	if (status == 404)
		return FEDC_ERR_NOT_FOUND;
	return FEDC_ERR_HTTP;
}
