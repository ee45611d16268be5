/* Client of the blob repository on libcurl (see fedc/repo.h and
 * docs/repository.md). One easy handle per struct fedc_repo, reset between
 * requests: curl_easy_reset() keeps the live connection, so consecutive
 * requests reuse it (keep-alive). Bodies stream between the socket and file
 * descriptors; a blob is never held whole in memory. */
#include "fedc/repo.h"

#include "fedc/clock.h"

#include "fedc/crash.h"
#include "fedc/fs.h"
#include "fedc/repo_s3.h"
#include "fedc/sign.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

/* The two namespaces (docs/repository.md, "Namespaces"). */
#define BLOBS_PATH "/v1/blobs/sha256/"
#define UPDATES_PATH "/v1/updates/"
#define DIGEST_SEGMENT "/sha256/"
/* Bigger socket buffers than curl's 16/64 KiB defaults: with the server's
 * 1 MiB pieces they lift loopback transfers from ~0.7 to 0.8-1.7 GB/s
 * (FIELD-NOTES.md). */
#define DOWNLOAD_BUFFER (1L << 20)
#define UPLOAD_BUFFER (2L << 20)
/* A kept connection is worth minutes: a node's GET of the global and its
 * PUT of the update are a round's training apart, rounds and jobs further
 * still, and a new connection pays TCP's and TLS's round trips and TCP's
 * slow start again (a node's first round at P=1e6 across an 80 ms RTT costs
 * about 17 RTT more than the next: docs/benchmarks.md, "A node's first
 * round"). The repository server keeps an idle connection 600 s; curl would
 * drop it after 118 s by default, so reuse one idle up to a little less
 * than the server's limit (a connection the server closed first, as an S3
 * store with a shorter limit does, is detected and replaced by curl).
 * Keep-alive probes after 60 s idle keep NAT and firewall state (cloud NAT
 * gateways forget an idle flow after 350 s); they carry no HTTP bytes, so
 * the server's idle limit still applies. */
#define CONNECTION_MAX_IDLE_S 570L
#define KEEPALIVE_IDLE_S 60L
/* TLS 1.3 suites in the order we ask for them (setup_tls says why). */
#define TLS13_CIPHERS "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
/* How much of an error response body is kept for the error detail. */
#define ERROR_BODY_MAX 256

struct fedc_repo {
	CURL *curl;
	char *base_url;             /* without trailing '/' */
	struct curl_slist *headers;       /* "Expect:", Authorization (if any) */
	struct curl_slist *probe_headers; /* "Expect: 100-continue", Authorization */
	long timeout_s;
	char *ca_file;              /* NULL: the system's CAs */
	struct fedc_repo_s3 s3;     /* an S3 store (s3.endpoint set), else fedc-repository */
	char errbuf[CURL_ERROR_SIZE];
};

/* One request: where the body comes from and goes to, and what went wrong in
 * a callback (curl only reports that a callback refused). */
struct xfer {
	CURL *curl;
	/* upload source */
	int in_fd;
	uint64_t in_size, in_off;
	/* download sink (status 200 only) */
	int out_fd;
	struct fedc_hash *hash;
	uint64_t out_bytes, max_bytes;
	/* anything else the server sent: kept for the error detail */
	char body[ERROR_BODY_MAX];
	size_t body_len;
	enum fedc_err cb_rc;
	CURLcode cc; /* what curl_easy_perform() said */
	bool s3;     /* the answer is an S3 store's (status_error) */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init_once(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

enum fedc_err fedc_repo_global_init(void)
{
	pthread_once(&global_once, global_init_once);
	if (global_rc != CURLE_OK)
		return fedc_fail(FEDC_ERR_NOMEM, "curl_global_init: %s", curl_easy_strerror(global_rc));
	return FEDC_OK;
}

/* ---- handle ------------------------------------------------------------- */

/* The token goes into a header: no spaces or control characters that could
 * split or fold it. */
static bool token_valid(const char *token)
{
	for (const char *p = token; *p; p++) {
		if (*p < 0x21 || *p > 0x7e)
			return false;
	}
	return true;
}

/* A header list: `expect`, then the Authorization header when a token is set. */
static struct curl_slist *header_list(const char *expect, const char *token)
{
	struct curl_slist *list = curl_slist_append(NULL, expect), *grown;
	char *auth = NULL;
	size_t len;

	if (!list || !token || !token[0])
		return list;
	len = strlen("Authorization: Bearer ") + strlen(token) + 1;
	auth = malloc(len);
	grown = NULL;
	if (auth) {
		snprintf(auth, len, "Authorization: Bearer %s", token);
		grown = curl_slist_append(list, auth);
		free(auth);
	}
	if (!grown)
		curl_slist_free_all(list);
	return grown;
}

static enum fedc_err build_headers(struct fedc_repo *repo, const char *token)
{
	/* No "Expect: 100-continue" on requests: it costs a round trip per
	 * upload. Only the probe of explain_put_failure() asks for it. */
	repo->headers = header_list("Expect:", token);
	repo->probe_headers = header_list("Expect: 100-continue", token);
	return repo->headers && repo->probe_headers ? FEDC_OK : FEDC_ERR_NOMEM;
}

enum fedc_err fedc_repo_check_url(const char *url)
{
	if (fedc_repo_s3_is_url(url))
		return fedc_repo_s3_check_url(url);
	if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return fedc_fail(FEDC_ERR_INVAL, "repository URL \"%s\": expected http://host:port, or "
						 "s3://host:port/bucket for an S3 store",
				 url ? url : "(null)");
	return FEDC_OK;
}

/* An S3 store: requests go to the bucket's endpoint, signed with the
 * credentials the token holds, and carry no bearer token. */
static enum fedc_err new_s3(const char *url, const char *credentials, long timeout_s, struct fedc_repo **out)
{
	struct fedc_repo_s3 s3;
	enum fedc_err rc = fedc_repo_s3_parse(url, credentials, &s3);

	if (!rc)
		rc = fedc_repo_new(s3.endpoint, NULL, timeout_s, out);
	if (rc) {
		fedc_repo_s3_clear(&s3);
		return rc;
	}
	(*out)->s3 = s3;
	return FEDC_OK;
}

enum fedc_err fedc_repo_new(const char *base_url, const char *token, long timeout_s,
			    struct fedc_repo **out)
{
	struct fedc_repo *repo = NULL;
	enum fedc_err rc = FEDC_OK;
	size_t len;

	*out = NULL;
	if (fedc_repo_s3_is_url(base_url))
		return new_s3(base_url, token, timeout_s, out);
	rc = fedc_repo_check_url(base_url);
	if (rc)
		return rc;
	if (token && !token_valid(token))
		return fedc_fail(FEDC_ERR_INVAL, "repository token: only visible ASCII characters allowed");
	if (timeout_s <= 0)
		return fedc_fail(FEDC_ERR_INVAL, "repository timeout must be positive, got %ld", timeout_s);
	repo = calloc(1, sizeof(*repo));
	if (!repo)
		return FEDC_ERR_NOMEM;
	repo->timeout_s = timeout_s;
	repo->base_url = strdup(base_url);
	if (!repo->base_url) {
		rc = FEDC_ERR_NOMEM;
		goto out;
	}
	for (len = strlen(repo->base_url); len > 0 && repo->base_url[len - 1] == '/'; len--)
		repo->base_url[len - 1] = '\0';
	rc = build_headers(repo, token);
	if (rc)
		goto out;
	repo->curl = curl_easy_init();
	if (!repo->curl)
		rc = FEDC_ERR_NOMEM;
out:
	if (rc)
		fedc_repo_free(repo);
	else
		*out = repo;
	return rc;
}

void fedc_repo_free(struct fedc_repo *repo)
{
	if (!repo)
		return;
	if (repo->curl)
		curl_easy_cleanup(repo->curl);
	curl_slist_free_all(repo->headers);
	curl_slist_free_all(repo->probe_headers);
	free(repo->base_url);
	free(repo->ca_file);
	fedc_repo_s3_clear(&repo->s3);
	free(repo);
}

enum fedc_err fedc_repo_set_ca_file(struct fedc_repo *repo, const char *ca_file)
{
	char *copy = NULL;
	struct stat sb;

	if (ca_file && ca_file[0]) {
		/* Checked now so that a wrong path is reported as such, not as a
		 * failed TLS handshake at the first request. */
		if (stat(ca_file, &sb) != 0 || access(ca_file, R_OK) != 0)
			return fedc_fail(FEDC_ERR_IO, "repository CA file %s: %s", ca_file, strerror(errno));
		if (!S_ISREG(sb.st_mode))
			return fedc_fail(FEDC_ERR_IO, "repository CA file %s: not a regular file", ca_file);
		copy = strdup(ca_file);
		if (!copy)
			return FEDC_ERR_NOMEM;
	}
	free(repo->ca_file);
	repo->ca_file = copy;
	return FEDC_OK;
}

/* ---- callbacks ---------------------------------------------------------- */

static long response_status(CURL *curl)
{
	long status = 0;

	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

static void keep_body(struct xfer *x, const char *data, size_t len)
{
	size_t room = sizeof(x->body) - 1 - x->body_len;
	size_t n = len < room ? len : room;

	memcpy(x->body + x->body_len, data, n);
	x->body_len += n;
	x->body[x->body_len] = '\0';
}

/* Always installed: without it curl writes bodies to stdout. A 200 body of a
 * download goes to the temp file (hashed, capped); anything else is kept, a
 * little of it, for the error message. */
static size_t on_write(char *data, size_t size, size_t nmemb, void *user)
{
	struct xfer *x = user;
	size_t len = size * nmemb;

	if (x->out_fd < 0 || response_status(x->curl) != 200) {
		keep_body(x, data, len);
		return len;
	}
	if (x->max_bytes && x->out_bytes + len > x->max_bytes) {
		x->cb_rc = fedc_fail(FEDC_ERR_TOO_BIG, "blob is larger than %llu bytes",
				     (unsigned long long)x->max_bytes);
		return 0; /* anything but len aborts the transfer */
	}
	x->cb_rc = fedc_hash_update(x->hash, data, len);
	if (!x->cb_rc)
		x->cb_rc = fedc_write_all(x->out_fd, data, len, "the download's temp file");
	if (x->cb_rc)
		return 0;
	x->out_bytes += len;
	return len;
}

/* pread, not read: works on memfds and leaves the caller's offset alone. */
static size_t on_read(char *buf, size_t size, size_t nitems, void *user)
{
	struct xfer *x = user;
	uint64_t left = x->in_size - x->in_off;
	size_t want = size * nitems;
	ssize_t n;

	if (x->in_fd < 0)
		return CURL_READFUNC_ABORT; /* a probe: never sends the body */
	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	do
		n = pread(x->in_fd, buf, want, (off_t)x->in_off);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		x->cb_rc = fedc_fail(FEDC_ERR_IO, "reading the blob: %s",
				     n < 0 ? strerror(errno) : "file shrank during upload");
		return CURL_READFUNC_ABORT;
	}
	if (x->in_off < x->in_size / 2 && x->in_off + (uint64_t)n >= x->in_size / 2)
		fedc_crash_point("upload-body");
	x->in_off += (uint64_t)n;
	return (size_t)n;
}

/* curl rewinds the body when it must send it again (a reused connection the
 * server had closed). */
static int on_seek(void *user, curl_off_t offset, int origin)
{
	struct xfer *x = user;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->in_size)
		return CURL_SEEKFUNC_CANTSEEK;
	x->in_off = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

/* ---- requests ----------------------------------------------------------- */

/* For https URLs (plain http ignores these). Verification of the peer and
 * of the host name stays on whatever the CA: they are what makes TLS more
 * than encryption. With a CA file, only that CA is trusted (a federation's
 * private CA), not the system's as well. */
static CURLcode setup_tls(struct fedc_repo *repo)
{
	CURL *c = repo->curl;
	CURLcode cc;

	cc = curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	if (!cc)
		cc = curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (!cc)
		cc = curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	/* TLS 1.3's standard suites, AES-128-GCM first: it moves parameters 35%
	 * faster than AES-256-GCM (docs/security.md). A curl that refuses the
	 * option keeps its own order. */
	if (!cc)
		(void)curl_easy_setopt(c, CURLOPT_TLS13_CIPHERS, TLS13_CIPHERS);
	if (!cc && repo->ca_file)
		cc = curl_easy_setopt(c, CURLOPT_CAINFO, repo->ca_file);
	if (!cc && repo->ca_file)
		cc = curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	return cc;
}

/* An option libcurl refused: for want of memory, or, in fedc-node (which
 * loads libcurl at the first request, node/lazy/curl.c), because libcurl
 * cannot be loaded: curl_easy_strerror() then names it and its package. */
static enum fedc_err setup_failed(const char *url, const char *what, CURLcode cc)
{
	return fedc_fail(cc == CURLE_OUT_OF_MEMORY ? FEDC_ERR_NOMEM : FEDC_ERR_IO, "%s: cannot set up %s: %s", url, what,
			 curl_easy_strerror(cc));
}

/* Options every request shares, after a reset that keeps the connection. */
static enum fedc_err setup(struct fedc_repo *repo, struct xfer *x, const char *url)
{
	CURL *c = repo->curl;
	CURLcode cc;

	curl_easy_reset(c);
	repo->errbuf[0] = '\0';
	x->curl = c;
	/* "Moves nothing for timeout_s" fails (low-speed limit of 1 byte/s);
	 * a long but live transfer does not. */
	if ((cc = curl_easy_setopt(c, CURLOPT_URL, url)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, repo->headers)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, repo->errbuf)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, repo->timeout_s)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, repo->timeout_s)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https")) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_WRITEDATA, x)) != CURLE_OK)
		return setup_failed(url, "the request", cc);
	cc = setup_tls(repo);
	if (cc != CURLE_OK)
		return setup_failed(url, "TLS", cc);
	x->s3 = repo->s3.endpoint != NULL;
	if (x->s3) {
		enum fedc_err rc = fedc_repo_s3_prepare(&repo->s3, c, repo->headers, url, false);

		if (rc)
			return rc;
	}
	/* Tuning only: a curl that refuses a size or an age keeps its default. */
	(void)curl_easy_setopt(c, CURLOPT_BUFFERSIZE, DOWNLOAD_BUFFER);
	(void)curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER);
	(void)curl_easy_setopt(c, CURLOPT_MAXAGE_CONN, CONNECTION_MAX_IDLE_S);
	(void)curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	(void)curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, KEEPALIVE_IDLE_S);
	(void)curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, KEEPALIVE_IDLE_S);
	return FEDC_OK;
}

static bool is_tls_failure(CURLcode cc)
{
	return cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_PEER_FAILED_VERIFICATION ||
	       cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM ||
	       cc == CURLE_SSL_CIPHER || cc == CURLE_SSL_ISSUER_ERROR ||
	       cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH || cc == CURLE_SSL_INVALIDCERTSTATUS;
}

static enum fedc_err curl_error(const struct fedc_repo *repo, const char *method, const char *url,
				CURLcode cc)
{
	const char *why = repo->errbuf[0] ? repo->errbuf : curl_easy_strerror(cc);

	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return fedc_fail(FEDC_ERR_TIMEOUT, "%s %s: %s", method, url, why);
	case CURLE_OUT_OF_MEMORY:
		return FEDC_ERR_NOMEM;
	case CURLE_FILESIZE_EXCEEDED:
		return fedc_fail(FEDC_ERR_TOO_BIG, "%s %s: %s", method, url, why);
	case CURLE_PEER_FAILED_VERIFICATION:
		return fedc_fail(FEDC_ERR_NET,
				 "%s %s: TLS: the server's certificate is not trusted: %s (is the CA file "
				 "the one that signed it, and the URL's host among its names?)",
				 method, url, why);
	case CURLE_GOT_NOTHING:
		/* What a TLS-only server does with a plain HTTP request. */
		return fedc_fail(FEDC_ERR_NET, "%s %s: %s%s", method, url, why,
				 strncmp(url, "http://", 7) == 0 ? " (an HTTPS server? then use https://)" : "");
	default:
		if (is_tls_failure(cc))
			return fedc_fail(FEDC_ERR_NET, "%s %s: TLS: %s", method, url, why);
		return fedc_fail(FEDC_ERR_NET, "%s %s: %s", method, url, why);
	}
}

/* An S3 store's refusal: its error <Code> and what that means. */
static enum fedc_err s3_status_error(const char *method, const char *url, long status, const struct xfer *x)
{
	char code[FEDC_REPO_S3_MAX_CODE + 1];
	const char *hint;
	enum fedc_err rc;

	if (fedc_repo_s3_error_code(x->body, x->body_len, code, sizeof(code)) != FEDC_OK)
		code[0] = '\0'; /* HEAD answers carry no body */
	rc = fedc_repo_s3_status(status, method, code, &hint);
	return fedc_fail(rc, "%s %s: HTTP %ld%s%s%s%s", method, url, status, code[0] ? " " : "", code,
			 hint[0] ? ": " : "", hint);
}

/* Maps an unwanted status to the header's codes; `x->body` says why. */
static enum fedc_err status_error(const char *method, const char *url, long status,
				  const struct xfer *x)
{
	size_t len = x->body_len;
	const char *what = "";
	enum fedc_err code;

	if (x->s3)
		return s3_status_error(method, url, status, x);
	switch (status) {
	case 401:
		code = FEDC_ERR_AUTH;
		what = " unauthorized (missing or bad token)";
		break;
	case 403:
		/* The token is good; its principal may not do this here. */
		code = FEDC_ERR_AUTH;
		what = " forbidden";
		break;
	case 404:
		code = FEDC_ERR_NOT_FOUND;
		break;
	case 413:
		code = FEDC_ERR_TOO_BIG;
		break;
	case 400:
		code = strcmp(method, "PUT") == 0 ? FEDC_ERR_DIGEST : FEDC_ERR_HTTP;
		break;
	default:
		code = FEDC_ERR_HTTP;
		break;
	}
	while (len > 0 && strchr(" \r\n", x->body[len - 1]))
		len--; /* the detail stays on one line */
	/* HEAD answers carry no body: then the status and its name only. */
	return fedc_fail(code, "%s %s: HTTP %ld%s%s%.*s", method, url, status, what,
			 len ? (what[0] ? ": " : " ") : "", (int)len, x->body);
}

/* Runs the request. FEDC_OK when the server answered (any status: *status);
 * otherwise the callback's error, or the transport's. A server that answers
 * an upload early (413, 401, 403) and hangs up may make curl report a send error:
 * the status it did read wins. */
/* A refused connection means nothing was sent: the server is down or
 * restarting. It is tried again after 0.1, 0.2, 0.4 ... s, for at most
 * timeout_s (6.3 s at the most) in all, so that a repository restart does
 * not fail a round. */
static CURLcode perform_retrying_refusals(struct fedc_repo *repo)
{
	int64_t deadline = fedc_now_ms() + (repo->timeout_s < 6 ? repo->timeout_s : 6) * 1000;
	long pause_ms = 100;
	CURLcode cc;

	while ((cc = curl_easy_perform(repo->curl)) == CURLE_COULDNT_CONNECT && fedc_now_ms() + pause_ms < deadline) {
		struct timespec ts = { .tv_sec = pause_ms / 1000, .tv_nsec = (pause_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
		pause_ms *= 2;
	}
	return cc;
}

/* Bytes moved by every client of this process (fedc_repo_traffic). */
static atomic_uint_least64_t traffic_down, traffic_up;

static void count_traffic(CURL *curl)
{
	curl_off_t down = 0, up = 0;

	if (curl_easy_getinfo(curl, CURLINFO_SIZE_DOWNLOAD_T, &down) == CURLE_OK && down > 0)
		atomic_fetch_add_explicit(&traffic_down, (uint64_t)down, memory_order_relaxed);
	if (curl_easy_getinfo(curl, CURLINFO_SIZE_UPLOAD_T, &up) == CURLE_OK && up > 0)
		atomic_fetch_add_explicit(&traffic_up, (uint64_t)up, memory_order_relaxed);
}

void fedc_repo_traffic(uint64_t *downloaded, uint64_t *uploaded)
{
	*downloaded = atomic_load_explicit(&traffic_down, memory_order_relaxed);
	*uploaded = atomic_load_explicit(&traffic_up, memory_order_relaxed);
}

static enum fedc_err perform(struct fedc_repo *repo, struct xfer *x, const char *method,
			     const char *url, long *status)
{
	CURLcode cc = perform_retrying_refusals(repo);

	count_traffic(repo->curl);
	x->cc = cc;
	*status = response_status(repo->curl);
	if (cc == CURLE_OK)
		return FEDC_OK;
	if (x->cb_rc)
		return x->cb_rc;
	if (*status >= 400 && (cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR))
		return FEDC_OK;
	return curl_error(repo, method, url, cc);
}

/* The URL of blob `hex` in a namespace: `node` NULL for the published
 * blobs, else that node's updates. On S3 the same layout under the bucket,
 * without the "/v1" (fedc/repo_s3.h). */
static enum fedc_err object_url(const struct fedc_repo *repo, const char *node, const char *hex,
				char **url)
{
	const char *blobs = repo->s3.endpoint ? "/" FEDC_REPO_S3_BLOBS_PREFIX : BLOBS_PATH;
	const char *updates = repo->s3.endpoint ? "/" FEDC_REPO_S3_UPDATES_PREFIX : UPDATES_PATH;
	size_t len;

	*url = NULL;
	if (!fedc_hex_valid(hex, FEDC_SHA256_HEXLEN))
		return fedc_fail(FEDC_ERR_INVAL, "\"%.80s\" is not a SHA-256 digest (64 lower-case hex digits)",
				 hex ? hex : "(null)");
	if (node && !fedc_id_valid(node))
		return fedc_fail(FEDC_ERR_INVAL, "\"%.80s\" is not a node id", node);
	len = strlen(repo->base_url) + strlen(UPDATES_PATH) + (node ? strlen(node) : 0) +
	      strlen(DIGEST_SEGMENT) + strlen(BLOBS_PATH) + FEDC_SHA256_HEXLEN + 1;
	*url = malloc(len);
	if (!*url)
		return FEDC_ERR_NOMEM;
	if (node)
		snprintf(*url, len, "%s%s%s" DIGEST_SEGMENT "%s", repo->base_url, updates, node, hex);
	else
		snprintf(*url, len, "%s%s%s", repo->base_url, blobs, hex);
	return FEDC_OK;
}

static void xfer_init(struct xfer *x)
{
	memset(x, 0, sizeof(*x));
	x->in_fd = -1;
	x->out_fd = -1;
}

/* ---- HEAD --------------------------------------------------------------- */

static enum fedc_err has_at(struct fedc_repo *repo, const char *node, const char *sha256_hex,
			    bool *exists)
{
	struct xfer x;
	char *url = NULL;
	long status = 0;
	enum fedc_err rc;

	*exists = false;
	xfer_init(&x);
	rc = object_url(repo, node, sha256_hex, &url);
	if (rc)
		goto out;
	rc = setup(repo, &x, url);
	if (rc)
		goto out;
	curl_easy_setopt(repo->curl, CURLOPT_NOBODY, 1L);
	rc = perform(repo, &x, "HEAD", url, &status);
	if (rc)
		goto out;
	/* On S3 a participant that may not list the bucket gets 403 for a
	 * missing key: absent as far as it can tell (a PUT that follows gets
	 * the final answer). */
	if (status == 200)
		*exists = true;
	else if (status != 404 && !(x.s3 && status == 403))
		rc = status_error("HEAD", url, status, &x);
out:
	free(url);
	return rc;
}

enum fedc_err fedc_repo_has(struct fedc_repo *repo, const char *sha256_hex, bool *exists)
{
	return has_at(repo, NULL, sha256_hex, exists);
}

/* ---- PUT ---------------------------------------------------------------- */

/* Sends a PUT whose body comes from x (in_fd, in_size). */
static enum fedc_err send_put(struct fedc_repo *repo, struct xfer *x, const char *url,
			      struct curl_slist *headers, long *status)
{
	CURL *c = repo->curl;
	enum fedc_err rc = setup(repo, x, url);

	if (rc)
		return rc;
	if (repo->s3.endpoint) /* the same headers, plus the signed digest */
		rc = fedc_repo_s3_prepare(&repo->s3, c, headers, url, true);
	else
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	if (rc)
		return rc;
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L); /* PUT */
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(c, CURLOPT_READDATA, x);
	curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
	curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->in_size);
	return perform(repo, x, "PUT", url, status);
}

/* A server that refuses a PUT from its headers alone (413 over the size
 * limit) answers and hangs up without reading the body. If its reset reaches
 * us while curl is still sending, the answer is lost and curl only reports a
 * send error (about 1 upload in 14 of 8 MB or more, on loopback). So after a
 * transport failure, ask again with "Expect: 100-continue" and no intention
 * of sending: the server answers before any body byte, and a 100 Continue
 * means the refusal was something else. Returns the better error. */
static enum fedc_err explain_put_failure(struct fedc_repo *repo, const char *url, uint64_t size,
					 enum fedc_err rc)
{
	char detail[1024];
	struct xfer probe;
	long status = 0;

	snprintf(detail, sizeof(detail), "%s", fedc_last_error());
	xfer_init(&probe); /* in_fd -1: on_read() aborts instead of sending */
	probe.in_size = size;
	if (send_put(repo, &probe, url, repo->probe_headers, &status) == FEDC_OK && status >= 400)
		return status_error("PUT", url, status, &probe);
	return fedc_fail(rc, "%s", detail);
}

static enum fedc_err upload(struct fedc_repo *repo, int fd, uint64_t size, const char *url)
{
	struct xfer x;
	long status = 0;
	enum fedc_err rc;

	xfer_init(&x);
	x.in_fd = fd;
	x.in_size = size;
	rc = send_put(repo, &x, url, repo->headers, &status);
	if (rc == FEDC_ERR_NET && status == 0 && (x.cc == CURLE_SEND_ERROR || x.cc == CURLE_RECV_ERROR))
		return explain_put_failure(repo, url, size, rc);
	if (!rc && status != 200 && status != 201)
		rc = status_error("PUT", url, status, &x);
	return rc;
}

/* PUT in a namespace (see object_url()). A published blob (node NULL: plans,
 * global parameters) is looked for with HEAD first, so a large plan already
 * there is not sent again. An update (a node's namespace) is new nearly
 * every time and goes straight out: the HEAD would cost a round trip per
 * node and round, and the store de-duplicates by content anyway. */
static enum fedc_err put_fd_at(struct fedc_repo *repo, const char *node, int fd, const char *sha256_hex,
			       char *out_hex, bool *uploaded)
{
	char hex[FEDC_SHA256_HEXLEN + 1];
	char *url = NULL;
	struct stat sb;
	bool exists = false;
	enum fedc_err rc;

	if (uploaded)
		*uploaded = false;
	if (fstat(fd, &sb) != 0)
		return fedc_fail(FEDC_ERR_IO, "blob to upload: fstat failed: %s", strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return fedc_fail(FEDC_ERR_IO, "blob to upload: not a regular file");
	if (sha256_hex) {
		/* object_url() refuses anything but 64 lower-case hex digits. */
		rc = object_url(repo, node, sha256_hex, &url);
		if (!rc)
			memcpy(hex, sha256_hex, sizeof(hex));
	} else {
		rc = fedc_hash_fd(FEDC_HASH_SHA256, fd, hex);
		if (!rc)
			rc = object_url(repo, node, hex, &url);
	}
	if (rc)
		goto out;
	if (out_hex)
		memcpy(out_hex, hex, sizeof(hex));
	/* Present in this namespace: nothing to send. Stored but not visible
	 * here (404) is sent again: the server hashes it, keeps nothing new
	 * and makes it visible. */
	rc = node ? FEDC_OK : has_at(repo, node, hex, &exists);
	if (rc || exists)
		goto out;
	rc = upload(repo, fd, (uint64_t)sb.st_size, url);
	if (!rc && uploaded)
		*uploaded = true;
out:
	free(url);
	return rc;
}

static enum fedc_err put_file_at(struct fedc_repo *repo, const char *node, const char *path,
				 const char *sha256_hex, char *out_hex, bool *uploaded)
{
	enum fedc_err rc;
	int fd;

	if (uploaded)
		*uploaded = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "%s: %s", path, strerror(errno));
	rc = put_fd_at(repo, node, fd, sha256_hex, out_hex, uploaded);
	close(fd);
	return rc;
}

enum fedc_err fedc_repo_put_fd(struct fedc_repo *repo, int fd, const char *sha256_hex,
			       char *out_hex, bool *uploaded)
{
	return put_fd_at(repo, NULL, fd, sha256_hex, out_hex, uploaded);
}

enum fedc_err fedc_repo_put_file(struct fedc_repo *repo, const char *path, const char *sha256_hex,
				 char *out_hex, bool *uploaded)
{
	return put_file_at(repo, NULL, path, sha256_hex, out_hex, uploaded);
}

/* The update functions take a node id where the blob functions take none:
 * NULL must not fall back to the published namespace. */
static enum fedc_err require_node(const char *node_id)
{
	if (!node_id)
		return fedc_fail(FEDC_ERR_INVAL, "a node id is required to address updates");
	return FEDC_OK;
}

enum fedc_err fedc_repo_put_update_fd(struct fedc_repo *repo, const char *node_id, int fd,
				      const char *sha256_hex, char *out_hex, bool *uploaded)
{
	enum fedc_err rc = require_node(node_id);

	if (uploaded)
		*uploaded = false;
	return rc ? rc : put_fd_at(repo, node_id, fd, sha256_hex, out_hex, uploaded);
}

enum fedc_err fedc_repo_put_update_file(struct fedc_repo *repo, const char *node_id, const char *path,
					const char *sha256_hex, char *out_hex, bool *uploaded)
{
	enum fedc_err rc = require_node(node_id);

	if (uploaded)
		*uploaded = false;
	return rc ? rc : put_file_at(repo, node_id, path, sha256_hex, out_hex, uploaded);
}

/* ---- GET ---------------------------------------------------------------- */

/* Streams the blob into x->out_fd and checks status, size and digest. */
static enum fedc_err download(struct fedc_repo *repo, struct xfer *x, const char *url,
			      const char *hex)
{
	char got[FEDC_SHA256_HEXLEN + 1];
	long status = 0;
	enum fedc_err rc;

	rc = setup(repo, x, url);
	if (rc)
		return rc;
	if (x->max_bytes) /* refuses early when Content-Length says too much */
		curl_easy_setopt(repo->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_bytes);
	rc = perform(repo, x, "GET", url, &status);
	if (rc)
		return rc;
	if (status != 200)
		return status_error("GET", url, status, x);
	rc = fedc_hash_final(x->hash, got);
	if (rc)
		return rc;
	if (memcmp(got, hex, FEDC_SHA256_HEXLEN) != 0)
		return fedc_fail(FEDC_ERR_DIGEST, "GET %s: received %llu bytes with SHA-256 %s", url,
				 (unsigned long long)x->out_bytes, got);
	return FEDC_OK;
}

/* Streams the blob into `fd` (at its offset) and checks it. */
static enum fedc_err get_fd_at(struct fedc_repo *repo, const char *node, const char *sha256_hex, int fd,
			       uint64_t max_bytes)
{
	char *url = NULL;
	struct xfer x;
	enum fedc_err rc;

	xfer_init(&x);
	x.max_bytes = max_bytes;
	x.out_fd = fd;
	rc = object_url(repo, node, sha256_hex, &url);
	if (!rc)
		rc = fedc_hash_new(FEDC_HASH_SHA256, &x.hash);
	if (!rc)
		rc = download(repo, &x, url, sha256_hex);
	fedc_hash_free(x.hash);
	free(url);
	return rc;
}

static enum fedc_err get_file_at(struct fedc_repo *repo, const char *node, const char *sha256_hex,
				 const char *dest_path, uint64_t max_bytes)
{
	struct fedc_atomic_file af = { .fd = -1 };
	char *url = NULL;
	struct xfer x;
	enum fedc_err rc;

	xfer_init(&x);
	x.max_bytes = max_bytes;
	rc = object_url(repo, node, sha256_hex, &url);
	if (!rc)
		rc = fedc_hash_new(FEDC_HASH_SHA256, &x.hash);
	/* Only a verified blob ever appears at dest_path. */
	if (!rc)
		rc = fedc_atomic_begin(&af, dest_path, 0600);
	if (!rc) {
		x.out_fd = af.fd;
		rc = download(repo, &x, url, sha256_hex);
		x.out_fd = -1;
	}
	if (!rc)
		rc = fedc_atomic_commit(&af);
	else
		fedc_atomic_abort(&af);
	fedc_hash_free(x.hash);
	free(url);
	return rc;
}

enum fedc_err fedc_repo_get_file(struct fedc_repo *repo, const char *sha256_hex, const char *dest_path,
				 uint64_t max_bytes)
{
	return get_file_at(repo, NULL, sha256_hex, dest_path, max_bytes);
}

enum fedc_err fedc_repo_get_update_file(struct fedc_repo *repo, const char *node_id, const char *sha256_hex,
					const char *dest_path, uint64_t max_bytes)
{
	enum fedc_err rc = require_node(node_id);

	return rc ? rc : get_file_at(repo, node_id, sha256_hex, dest_path, max_bytes);
}

enum fedc_err fedc_repo_get_fd(struct fedc_repo *repo, const char *sha256_hex, int fd, uint64_t max_bytes)
{
	return get_fd_at(repo, NULL, sha256_hex, fd, max_bytes);
}

enum fedc_err fedc_repo_get_update_fd(struct fedc_repo *repo, const char *node_id, const char *sha256_hex, int fd,
				      uint64_t max_bytes)
{
	enum fedc_err rc = require_node(node_id);

	return rc ? rc : get_fd_at(repo, node_id, sha256_hex, fd, max_bytes);
}
