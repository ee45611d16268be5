/* HTTP request handling of fedc-repository on libmicrohttpd (see server.h).
 *
 * Who may do what is auth.c's business, in which namespace a blob is visible
 * visibility.c's, and the bytes themselves store.c's; this file routes,
 * answers and streams.
 *
 * MHD calls on_request() several times per request: once when the headers
 * are in (we route and authorize, and a PUT opens its upload), once per piece
 * of body (streamed into the store, hashed on the way), and once when the
 * request is complete (we verify, publish and answer).
 *
 * When to answer matters: MHD closes the connection after any response
 * queued before the request is complete, even one without a body. So
 * requests without a body are answered at the last call, which keeps the
 * connection alive for the client's next request (HEAD then PUT, GET after
 * GET). Refusals of a request that carries a body (401 or 413 on a PUT) are
 * answered at once: MHD then drops the body unread and closes. */
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "auth.h"
#include "conn_limit.h"
#include "download_turns.h"
#include "fedc/hash.h"
#include "fedc/id.h"
#include "fedc/log.h"
#include "fedc/params.h"
#include "fedc/prom_http.h"
#include "guard.h"
#include "metrics.h"
#include "quota.h"
#include "fedc/sign.h"
#include "tls.h"
#include "visibility.h"

#define BLOBS_PREFIX "/v1/blobs/sha256/"
#define UPDATES_PREFIX "/v1/updates/"
#define DIGEST_SEGMENT "/sha256/"

/* Worker threads: each blocks on disk writes and fsync, so a few more than
 * the 2 cores keep the sockets moving. */
#define THREAD_POOL_SIZE 4
/* The connection limit is max_connections (conn_limit.h): 128 fixed slots
 * held a federation of 300 nodes to 124 answers a round, the others timing
 * out in their TLS handshake behind the kept-alive connections.
 * An idle connection is kept 10 minutes: a node's GET of the global and its
 * PUT of the update are a round's training apart, and a new connection
 * costs the TCP and TLS round trips and TCP's slow start again (at 4 MB
 * across 80 ms, about 17 round trips: docs/benchmarks.md, "A node's first
 * round"). The clients (common/src/repo.c) reuse one idle up to 570 s. Who
 * may hold a connection that long is bounded: without a valid token a
 * connection lives 10 s (guard.h), so only participants keep idle slots. */
#define CONNECTION_TIMEOUT_S 600
/* Unauthenticated connections (guard.h): each gets this long from its
 * accept to present a valid token (a TLS handshake and a request's headers
 * take a few round trips: well under a second across a continent), and at
 * most half the slots are theirs, so authenticated clients always find some. */
#define UNTRUSTED_DEADLINE_MS 10000
#define GUARD_TICK_MS 250
/* Each connection's memory pool. MHD hands upload data in pieces no larger
 * than this: over plain HTTP 1 MiB instead of the 32 KiB default gave
 * 1.5-2.4x upload speed (FIELD-NOTES.md). But MHD 0.9.75 zeroes the whole
 * pool after every request of a kept-alive connection (MHD_pool_reset), so
 * 1 MiB costs a 1 MiB memset per request: 10% of all the CPU of a round of
 * 32 nodes with small models. Under TLS a read returns at most one 16 KiB
 * record, so a bigger pool buys nothing there: 64 KiB moves 1e7-parameter
 * blobs as fast as 1 MiB did and took the N=32, P=1e4 round from 49 to 43 ms. */
#define CONNECTION_MEMORY_LIMIT_PLAIN ((size_t)1 << 20)
#define CONNECTION_MEMORY_LIMIT_TLS ((size_t)1 << 16)
/* Past the size limit a chunked body is read and dropped, so that the client
 * still gets a clean 413; past this much more we drop the connection. */
#define DRAIN_MAX ((uint64_t)16 << 20)
#define LOG_PATH_MAX 160
/* Under TLS a download cannot go through sendfile(). MHD 0.9.75 then reads
 * an fd response 4 KiB at a time (MHD_FILE_READ_BLOCK_SIZE), one TLS record
 * and one poll round each: 0.55-0.65 GB/s on loopback. Our own reader with
 * 64 KiB blocks gave 1.0-1.3 GB/s (256 KiB and 1 MiB: no better). */
#define TLS_READ_BLOCK ((size_t)64 << 10)

struct server {
	struct MHD_Daemon *daemon;
	struct guard *guard;
	struct quota *quota;
	struct store *store;
	struct visibility *vis;
	struct auth *auth;
	struct tls_pem pem; /* cert NULL: plain HTTP */
	uint64_t max_blob_bytes;
	uint64_t max_connections; /* after conn_limit__apply */
	uint16_t port;
	struct repo_metrics metrics;
	struct fedc_prom_http *prom; /* metrics_listen; NULL: off */
	struct download_turns *turns; /* downloads_at_once; NULL: off */
};

enum req_kind { REQ_GET, REQ_HEAD, REQ_PUT, REQ_OTHER };

/* What the headers decided. */
enum req_action { ACT_SERVE, ACT_PUT, ACT_REFUSE };

/* State of one request, from its headers to its completion callback. */
struct request {
	struct server *srv;
	enum req_kind kind;
	char method[16];             /* for the log */
	char path[LOG_PATH_MAX];     /* for the log, printable and truncated */
	char hex[FEDC_SHA256_HEXLEN + 1];
	char node[AUTH_ID_MAX + 1];  /* "": /v1/blobs; else /v1/updates/<node> */
	struct principal who;        /* once authenticated */
	enum req_action action;
	unsigned refuse_status;      /* ACT_REFUSE: the answer ... */
	const char *refuse_name;     /* ... its error name (static string) */
	char refuse_why[288];        /* ... and why */
	struct store_upload *up;     /* PUT: the upload in progress */
	uint64_t bytes_in, bytes_out;
	uint64_t drained;            /* body bytes read and dropped */
	unsigned status;             /* 0 until a response is queued */
	const char *error_name;      /* of an error answer (static string), for the metrics */
	bool too_big;                /* the body went past the limit */
	bool write_failed;           /* the store could not take the body */
	struct download_ticket turn; /* its place in the download turns */
};

/* ---- responses ---------------------------------------------------------- */

/* Copies `s` into a JSON string body, escaping what JSON requires. */
static void json_escape(const char *s, char *dst, size_t cap)
{
	size_t n = 0;

	for (; *s && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			dst[n++] = '\\';
			dst[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", c);
		} else {
			dst[n++] = (char)c;
		}
	}
	dst[n] = '\0';
}

static enum MHD_Result queue(struct request *req, struct MHD_Connection *conn, unsigned status,
			     struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES)
		req->status = status;
	return ret;
}

/* `body` is not const only because libmicrohttpd 0.9.75 (Debian 12) takes a
 * void * even to copy (MHD_create_response_from_buffer_copy came later). */
static struct MHD_Response *json_response(char *body)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	if (resp)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return resp;
}

/* A small JSON body that says why: {"error": "<name>", "detail": "<why>"}. */
static enum MHD_Result reply_error(struct request *req, struct MHD_Connection *conn, unsigned status,
				   const char *name, const char *why)
{
	char escaped[512], body[700];
	struct MHD_Response *resp;

	req->error_name = name;
	json_escape(why, escaped, sizeof(escaped));
	snprintf(body, sizeof(body), "{\"error\":\"%s\",\"detail\":\"%s\"}\n", name, escaped);
	resp = json_response(body);
	if (resp && status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"fedc\"");
	if (resp && status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, PUT");
	return queue(req, conn, status, resp);
}

/* ---- parsing ------------------------------------------------------------ */

/* The two paths served, exactly:
 *   /v1/blobs/sha256/<hex>              node = ""
 *   /v1/updates/<node>/sha256/<hex>     node = a participant ID
 * with <hex> 64 lower-case hex digits. MHD has already percent-decoded `url`,
 * so "%2e%2e" arrives as ".." and is refused like any other bad segment; no
 * byte of the path reaches the file system unchecked. */
static bool parse_path(const char *url, char *node, char *hex)
{
	const char *p, *slash;

	node[0] = '\0';
	if (strncmp(url, BLOBS_PREFIX, strlen(BLOBS_PREFIX)) == 0) {
		p = url + strlen(BLOBS_PREFIX);
	} else if (strncmp(url, UPDATES_PREFIX, strlen(UPDATES_PREFIX)) == 0) {
		p = url + strlen(UPDATES_PREFIX);
		slash = strchr(p, '/');
		if (!slash || slash - p > AUTH_ID_MAX ||
		    strncmp(slash, DIGEST_SEGMENT, strlen(DIGEST_SEGMENT)) != 0)
			return false;
		memcpy(node, p, (size_t)(slash - p));
		node[slash - p] = '\0';
		/* A participant ID, so never "." or "..": it names a
		 * directory of the store. */
		if (!fedc_id_valid(node))
			return false;
		p = slash + strlen(DIGEST_SEGMENT);
	} else {
		return false;
	}
	if (!fedc_hex_valid(p, FEDC_SHA256_HEXLEN))
		return false;
	memcpy(hex, p, FEDC_SHA256_HEXLEN + 1);
	return true;
}

/* The namespace of the request, as visibility.h and auth.h take it. */
static const char *request_ns(const struct request *req)
{
	return req->node[0] ? req->node : NULL;
}

static bool parse_method(const char *method, enum req_kind *kind)
{
	/* strcmp compares whole strings: "G" or "GETX" do not pass as "GET". */
	if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
		*kind = REQ_GET;
	else if (strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
		*kind = REQ_HEAD;
	else if (strcmp(method, MHD_HTTP_METHOD_PUT) == 0)
		*kind = REQ_PUT;
	else
		*kind = REQ_OTHER;
	return *kind != REQ_OTHER;
}

/* Digits only, no sign, no overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

/* ---- GET and HEAD ------------------------------------------------------- */

/* Under TLS: fills `buf` from the blob's fd (see TLS_READ_BLOCK). */
static ssize_t read_blob(void *cls, uint64_t pos, char *buf, size_t max)
{
	int fd = (int)(intptr_t)cls;
	ssize_t n;

	do
		n = pread(fd, buf, max, (off_t)pos);
	while (n < 0 && errno == EINTR);
	/* 0 before the announced size: the file shrank, which a stored blob
	 * never does. Either way the connection must end short of the size. */
	return n > 0 ? n : (ssize_t)MHD_CONTENT_READER_END_WITH_ERROR;
}

static void close_blob(void *cls)
{
	close((int)(intptr_t)cls);
}

/* A response that streams the blob from `fd` and closes it. Plain HTTP goes
 * through sendfile(); TLS needs the bytes in user space to encrypt them, and
 * MHD's own fd reader would fetch them 4 KiB at a time (TLS_READ_BLOCK).
 * NULL if out of memory (the caller still owns fd then). */
static struct MHD_Response *blob_response(const struct server *srv, int fd, uint64_t size)
{
	if (!srv->pem.cert)
		return MHD_create_response_from_fd64(size, fd);
	return MHD_create_response_from_callback(size, TLS_READ_BLOCK, read_blob, (void *)(intptr_t)fd,
						 close_blob);
}

static enum MHD_Result storage_failure(struct request *req, struct MHD_Connection *conn)
{
	fedc_error("%s %s: %s", req->method, req->path, fedc_last_error());
	return reply_error(req, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
			   "storage failure (see the server log)");
}

static enum MHD_Result serve_blob(struct request *req, struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	char etag[FEDC_SHA256_HEXLEN + 3];
	uint64_t size = 0;
	bool visible = false;
	enum fedc_err rc;
	int fd = -1;

	/* Stored is not enough: the blob must have been put in this namespace
	 * by someone entitled to. */
	rc = visibility__has(req->srv->vis, request_ns(req), req->hex, &visible);
	if (!rc && !visible)
		rc = FEDC_ERR_NOT_FOUND;
	if (!rc)
		rc = store__open_blob(req->srv->store, req->hex, &fd, &size);
	if (rc == FEDC_ERR_NOT_FOUND)
		return reply_error(req, conn, MHD_HTTP_NOT_FOUND, "not-found", "no blob with this digest here");
	if (rc)
		return storage_failure(req, conn);
	/* A researcher's downloads (the updates, on its own side of the
	 * federation's links) do not wait behind the nodes'. */
	if (req->kind == REQ_GET && req->who.role != AUTH_ROLE_RESEARCHER &&
	    !download_turns__take(req->srv->turns, conn, size, &req->turn)) {
		close(fd);
		fedc_debug("%s %s waits its turn (%zu waiting)", req->method, req->path,
			   download_turns__waiting(req->srv->turns));
		return MHD_YES; /* suspended: called again when the turn is its own */
	}
	/* MHD closes the fd; for HEAD it sends the headers only, Content-Length
	 * included. */
	resp = blob_response(req->srv, fd, size);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	snprintf(etag, sizeof(etag), "\"%s\"", req->hex);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	/* Content-addressed: the bytes behind a name never change. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "max-age=31536000, immutable");
	if (req->kind == REQ_GET)
		req->bytes_out = size;
	return queue(req, conn, MHD_HTTP_OK, resp);
}

/* ---- PUT ---------------------------------------------------------------- */

/* Whether an update of `bytes` more would take its node past the quota
 * (quota.h), to refuse an announced body before it is read (finish_put
 * takes the bytes for good). An update the namespace already shows adds
 * nothing. */
static bool over_quota(struct request *req, uint64_t bytes)
{
	bool visible = false;

	if (!req->node[0] || quota__allows(req->srv->quota, req->node, bytes))
		return false;
	return visibility__has(req->srv->vis, req->node, req->hex, &visible) != FEDC_OK || !visible;
}

static enum MHD_Result refuse_over_quota(struct request *req, struct MHD_Connection *conn)
{
	char why[200];

	snprintf(why, sizeof(why), "node %s holds %llu MiB of updates, its quota is %llu MiB (node_quota_mb)",
		 req->node, (unsigned long long)(quota__used(req->srv->quota, req->node) >> 20),
		 (unsigned long long)(quota__limit(req->srv->quota) >> 20));
	return reply_error(req, conn, MHD_HTTP_INSUFFICIENT_STORAGE, "quota-exceeded", why);
}

static enum MHD_Result begin_put(struct request *req, struct MHD_Connection *conn)
{
	const char *length;
	uint64_t declared = 0;
	enum fedc_err rc;

	length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length && parse_u64(length, &declared) && declared > req->srv->max_blob_bytes)
		return reply_error(req, conn, MHD_HTTP_CONTENT_TOO_LARGE, "too-big",
				   "Content-Length is over the server's max_blob_mb");
	if (length && over_quota(req, declared))
		return refuse_over_quota(req, conn);
	rc = store__upload_begin(req->srv->store, req->hex, &req->up);
	if (rc)
		return storage_failure(req, conn);
	return MHD_YES; /* the body comes in the next calls */
}

/* Takes one piece of body. Returns MHD_NO to drop the connection. */
static enum MHD_Result absorb(struct request *req, const char *data, size_t len)
{
	const uint64_t max = req->srv->max_blob_bytes;

	req->bytes_in += len;
	if (req->action != ACT_PUT) {
		/* A body nobody asked for (GET with a body): drop it. */
		req->drained += len;
		return req->drained > DRAIN_MAX ? MHD_NO : MHD_YES;
	}
	if (!req->too_big && !req->write_failed && req->bytes_in > max) {
		req->too_big = true;
		store__upload_abort(req->up); /* removes the temp file now */
		req->up = NULL;
	}
	if (req->too_big || req->write_failed) {
		/* MHD cannot answer in the middle of a body: read and drop the
		 * rest, answer at its end, but not forever. */
		req->drained += len;
		return req->drained > DRAIN_MAX ? MHD_NO : MHD_YES;
	}
	if (store__upload_write(req->up, data, len) != FEDC_OK) {
		fedc_error("%s %s: %s", req->method, req->path, fedc_last_error());
		req->write_failed = true;
		store__upload_abort(req->up);
		req->up = NULL;
	}
	return MHD_YES;
}

/* An update must be a parameter file (docs/protocol.md, "Parameter files"),
 * validated as the researcher will (header, tensors, sizes), so that a node
 * cannot use its namespace to store anything else. Read from the upload's
 * temp file before it is committed, so that a refused body leaves nothing
 * in the store; or from the stored blob when the store had the bytes
 * already. FEDC_ERR_MALFORMED / _TOO_BIG with the reason in
 * req->refuse_why; FEDC_ERR_IO (a storage failure). */
static enum fedc_err check_parameters(struct request *req)
{
	struct fedc_params *params = NULL;
	uint64_t size = 0;
	int own = -1, fd = store__upload_fd(req->up);
	enum fedc_err rc = FEDC_OK;

	if (fd < 0) {
		rc = store__open_blob(req->srv->store, req->hex, &own, &size);
		fd = own;
	}
	if (!rc)
		rc = fedc_params_open_fd(fd, &params);
	if (rc == FEDC_ERR_MALFORMED || rc == FEDC_ERR_TOO_BIG)
		snprintf(req->refuse_why, sizeof(req->refuse_why), "an update must be a fedc parameter file: %s",
			 fedc_last_error());
	fedc_params_close(params);
	if (own >= 0)
		close(own);
	return rc;
}

/* Checks, stores and makes visible the upload; *added: the blob is new to
 * its namespace. */
static enum MHD_Result store_put(struct request *req, struct MHD_Connection *conn, bool *added)
{
	char body[160];
	bool stored = false;
	enum fedc_err rc;

	if (req->too_big)
		return reply_error(req, conn, MHD_HTTP_CONTENT_TOO_LARGE, "too-big",
				   "body is over the server's max_blob_mb");
	if (req->write_failed)
		return reply_error(req, conn, MHD_HTTP_INSUFFICIENT_STORAGE, "insufficient-storage",
				   "the store could not write the blob (see the server log)");
	if (req->node[0]) {
		rc = check_parameters(req);
		if (rc == FEDC_ERR_MALFORMED || rc == FEDC_ERR_TOO_BIG) {
			store__upload_abort(req->up); /* nothing of it is kept */
			req->up = NULL;
			return reply_error(req, conn, MHD_HTTP_UNPROCESSABLE_CONTENT, "not-parameters",
					   req->refuse_why);
		}
		if (rc)
			return storage_failure(req, conn);
	}
	rc = store__upload_commit(req->up, &stored);
	req->up = NULL;
	if (rc == FEDC_ERR_DIGEST)
		return reply_error(req, conn, MHD_HTTP_BAD_REQUEST, "digest-mismatch", fedc_last_error());
	/* The blob is published (durably) before it becomes visible. 201 says
	 * the blob is new to this namespace, 200 that it was there already:
	 * whether the store held the bytes for another namespace is not said
	 * (that would tell one node what another uploaded). */
	if (!rc)
		rc = visibility__add(req->srv->vis, request_ns(req), req->hex, added);
	if (rc) {
		*added = false;
		return storage_failure(req, conn);
	}
	snprintf(body, sizeof(body), "{\"digest\":\"sha256:%s\",\"size\":%llu}\n", req->hex,
		 (unsigned long long)req->bytes_in);
	return queue(req, conn, *added ? MHD_HTTP_CREATED : MHD_HTTP_OK, json_response(body));
}

/* An update takes its bytes of the node's quota before it is stored, in one
 * locked check-and-add (so that parallel uploads of one node cannot all pass
 * the check), and gives them back unless it became new to the namespace. An
 * update the namespace already shows costs nothing. */
static enum MHD_Result finish_put(struct request *req, struct MHD_Connection *conn)
{
	bool visible = false, reserved = false, added = false;
	enum MHD_Result ret;

	if (req->node[0] && !req->too_big && !req->write_failed &&
	    (visibility__has(req->srv->vis, req->node, req->hex, &visible) != FEDC_OK || !visible)) {
		if (!quota__reserve(req->srv->quota, req->node, req->bytes_in)) {
			store__upload_abort(req->up);
			req->up = NULL;
			return refuse_over_quota(req, conn);
		}
		reserved = true;
	}
	ret = store_put(req, conn, &added);
	if (reserved && !added)
		quota__release(req->srv->quota, req->node, req->bytes_in);
	return ret;
}

/* ---- dispatch ----------------------------------------------------------- */

static void copy_printable(const char *src, char *dst, size_t cap)
{
	size_t n = 0;

	for (; *src && n + 4 < cap; src++)
		dst[n++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
	if (*src) {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
}

static struct request *request_new(struct server *srv, const char *method, const char *url)
{
	struct request *req = calloc(1, sizeof(*req));

	if (!req)
		return NULL;
	req->srv = srv;
	copy_printable(method, req->method, sizeof(req->method));
	copy_printable(url, req->path, sizeof(req->path));
	return req;
}

static void refuse(struct request *req, unsigned status, const char *name, const char *why)
{
	req->action = ACT_REFUSE;
	req->refuse_status = status;
	req->refuse_name = name;
	snprintf(req->refuse_why, sizeof(req->refuse_why), "%s", why);
}

/* 403: says which rule refused, without echoing anything secret. */
static void forbid(struct request *req)
{
	char why[sizeof(req->refuse_why)];

	if (req->who.role == AUTH_ROLE_NODE && !req->node[0])
		snprintf(why, sizeof(why), "node %s may read /v1/blobs but not publish there; "
			 "its updates go to /v1/updates/%s/", req->who.id, req->who.id);
	else if (req->who.role == AUTH_ROLE_NODE)
		snprintf(why, sizeof(why), "node %s may not access the updates of node %s",
			 req->who.id, req->node);
	else
		snprintf(why, sizeof(why), "only node %s writes its updates", req->node);
	refuse(req, MHD_HTTP_FORBIDDEN, "forbidden", why);
}

/* Path first (404), then method (405), then credentials (401), then
 * permission (403). */
static void decide(struct request *req, struct MHD_Connection *conn, const char *url,
		   const char *method)
{
	const char *authz;

	if (!parse_path(url, req->node, req->hex)) {
		refuse(req, MHD_HTTP_NOT_FOUND, "not-found",
		       "blobs live at /v1/blobs/sha256/<hex> and /v1/updates/<node id>/sha256/<hex>, "
		       "<hex> = 64 lower-case hex digits");
		return;
	}
	if (!parse_method(method, &req->kind)) {
		refuse(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method-not-allowed", "use GET, HEAD or PUT");
		return;
	}
	authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!auth__authenticate(req->srv->auth, authz, &req->who)) {
		refuse(req, MHD_HTTP_UNAUTHORIZED, "unauthorized", "missing or wrong bearer token");
		return;
	}
	/* A participant: its connection is no longer on the clock (guard.h). */
	guard__trust(req->srv->guard, conn);
	if (!auth__may(&req->who, req->kind == REQ_PUT, request_ns(req)))
		forbid(req);
	else
		req->action = req->kind == REQ_PUT ? ACT_PUT : ACT_SERVE;
}


/* First call for a request: the headers are in, no body read yet. */
static enum MHD_Result on_headers(struct request *req, struct MHD_Connection *conn, const char *url,
				  const char *method)
{
	decide(req, conn, url, method);
	if (req->action == ACT_PUT)
		return begin_put(req, conn);
	if (req->action == ACT_REFUSE && fedc_mhd_has_body(conn))
		return reply_error(req, conn, req->refuse_status, req->refuse_name, req->refuse_why);
	return MHD_YES; /* answered when complete, see the top of this file */
}

/* Last call: the whole request is in. */
static enum MHD_Result on_complete(struct request *req, struct MHD_Connection *conn)
{
	switch (req->action) {
	case ACT_PUT:
		return finish_put(req, conn);
	case ACT_REFUSE:
		return reply_error(req, conn, req->refuse_status, req->refuse_name, req->refuse_why);
	case ACT_SERVE:
	default:
		return serve_blob(req, conn);
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct request *req = *req_cls;
	enum MHD_Result ret;

	if (!req) {
		req = request_new(cls, method, url);
		if (!req)
			return MHD_NO;
		*req_cls = req;
		return on_headers(req, conn, url, method);
	}
	if (*upload_data_size) {
		ret = absorb(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return ret;
	}
	return on_complete(req, conn);
}

static void client_address(struct MHD_Connection *conn, char *buf, size_t cap)
{
	const union MHD_ConnectionInfo *info;

	snprintf(buf, cap, "-");
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!info || !info->client_addr)
		return;
	(void)getnameinfo(info->client_addr,
			  info->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								   : sizeof(struct sockaddr_in),
			  buf, (socklen_t)cap, NULL, 0, NI_NUMERICHOST);
}

static enum repo_method metrics_method(const char *method)
{
	if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
		return REPO_METHOD_GET;
	if (strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
		return REPO_METHOD_HEAD;
	if (strcmp(method, MHD_HTTP_METHOD_PUT) == 0)
		return REPO_METHOD_PUT;
	return REPO_METHOD_OTHER;
}

/* Runs once per request, however it ended: one log line, the metrics, and
 * an upload cut short (client gone, timeout) loses its temp file here. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *req = *req_cls;
	char peer[64], who[AUTH_ID_MAX + 16];

	if (!req)
		return;
	download_turns__end(req->srv->turns, &req->turn);
	store__upload_abort(req->up);
	repo_metrics__request(&req->srv->metrics, metrics_method(req->method), req->status, req->error_name,
			      req->bytes_in, req->bytes_out);
	client_address(conn, peer, sizeof(peer));
	auth__describe(&req->who, who, sizeof(who));
	fedc_log(toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? FEDC_LOG_INFO : FEDC_LOG_WARN,
		 "%s %s %s %s %u in=%llu out=%llu%s", peer, who, req->method, req->path, req->status,
		 (unsigned long long)req->bytes_in, (unsigned long long)req->bytes_out,
		 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
	free(req);
	*req_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t len;

	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	if (len && line[len - 1] == '\n')
		line[len - 1] = '\0';
	fedc_warn("microhttpd: %s", line);
}

/* Accepted sockets send at once: with Nagle's algorithm on, a TLS server
 * flight that goes out in two writes waits for the client's ACK of the
 * first (delayed by up to 40 ms, or a round trip across a WAN), which made
 * a handshake cost two round trips instead of one (issue #19). */
static void set_nodelay(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	int one = 1;

	if (info && info->connect_fd >= 0 &&
	    setsockopt(info->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 && errno != ENOTSUP &&
	    errno != EOPNOTSUPP)
		fedc_debug("TCP_NODELAY on an accepted socket: %s", strerror(errno));
}

/* With download turns, a response's last write must be near its delivery:
 * otherwise the kernel takes a 4 MB response into the socket's send buffer
 * at once, the request ends, the next takes its turn, and all of them cross
 * the link together as without turns. The socket is writable again only
 * once fewer than DOWNLOAD_TURNS_NOTSENT_LOWAT bytes wait to be sent: the
 * next download starts while the last bytes of this one are in flight. */
static void set_notsent_lowat(const struct server *srv, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	int lowat = (int)DOWNLOAD_TURNS_NOTSENT_LOWAT;

	if (srv->turns && info && info->connect_fd >= 0 &&
	    setsockopt(info->connect_fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat)) != 0)
		fedc_debug("TCP_NOTSENT_LOWAT on an accepted socket: %s", strerror(errno));
}

/* Counts connections, then hands the event to the guard (guard.h). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct server *srv = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		set_nodelay(conn);
		set_notsent_lowat(srv, conn);
		fedc_prom_add(&srv->metrics.connections, 1);
		fedc_prom_gauge_add(&srv->metrics.open_connections, 1);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		fedc_prom_gauge_add(&srv->metrics.open_connections, -1);
	}
	guard__on_connection(srv->guard, conn, socket_context, code);
}

/* The scrape of metrics_listen (fedc/prom_http.h). */
static enum fedc_err render_metrics(void *ctx, struct fedc_buf *out)
{
	struct server *srv = ctx;

	return repo_metrics__render(&srv->metrics, guard__closed(srv->guard), download_turns__waiting(srv->turns),
				    store__root(srv->store), out);
}

/* ---- start and stop ----------------------------------------------------- */

static enum fedc_err resolve_listen(const char *host, int port, struct sockaddr_storage *addr)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	char name[256];
	size_t len = strlen(host);
	int err;

	/* Accept "[::1]" as well as "::1". */
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof(name))
		snprintf(name, sizeof(name), "%.*s", (int)(len - 2), host + 1);
	else
		snprintf(name, sizeof(name), "%s", host);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	err = getaddrinfo(name, NULL, &hints, &res);
	if (err)
		return fedc_fail(FEDC_ERR_NET, "listen address \"%s\": %s", host, gai_strerror(err));
	memset(addr, 0, sizeof(*addr));
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (addr->ss_family == AF_INET6)
		((struct sockaddr_in6 *)addr)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)addr)->sin_port = htons((uint16_t)port);
	return FEDC_OK;
}

static struct MHD_Daemon *start_daemon(struct server *srv, const struct server_config *cfg,
				       struct sockaddr_storage *addr)
{
	/* poll(), not epoll: with epoll and a thread pool, libmicrohttpd 0.9.75
	 * missed about one client in three that hung up in the middle of an
	 * upload, keeping its temp file until the connection timeout. poll()
	 * never missed one (150 of 150) and moves blobs as fast on loopback. */
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG |
			     (srv->turns ? MHD_ALLOW_SUSPEND_RESUME : 0);
	/* HTTPS only when a certificate is configured: the server then speaks
	 * nothing else on its port. */
	struct MHD_OptionItem tls_options[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, srv->pem.cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, srv->pem.key },
		{ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES },
		{ MHD_OPTION_END, 0, NULL },
	};
	const size_t n_tls = sizeof(tls_options) / sizeof(tls_options[0]) - 1;

	if (addr->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (srv->pem.cert)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)addr,
				MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)THREAD_POOL_SIZE,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)srv->max_connections,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				srv->pem.cert ? CONNECTION_MEMORY_LIMIT_TLS : CONNECTION_MEMORY_LIMIT_PLAIN,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
				MHD_OPTION_ARRAY, srv->pem.cert ? tls_options : tls_options + n_tls,
				MHD_OPTION_END);
}

static void server_free(struct server *srv)
{
	if (!srv)
		return;
	fedc_prom_http_stop(srv->prom);
	/* libmicrohttpd must not stop with a connection suspended. */
	download_turns__release_all(srv->turns);
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	download_turns__free(srv->turns); /* after the daemon: no request is left */
	guard__free(srv->guard); /* after the daemon: no connection is left */
	quota__free(srv->quota);
	auth__free(srv->auth);
	visibility__close(srv->vis);
	tls__free(&srv->pem);
	free(srv);
}

/* Principals, namespaces and TLS identity, before any socket is opened. */
static enum fedc_err prepare(struct server *srv, const struct server_config *cfg)
{
	uint64_t wanted = cfg->max_connections > 0 ? (uint64_t)cfg->max_connections
						     : SERVER_CONFIG_MAX_CONNECTIONS_DEFAULT;
	struct guard_limits limits = { .deadline_ms = UNTRUSTED_DEADLINE_MS, .tick_ms = GUARD_TICK_MS };
	enum fedc_err rc;

	/* At most half the slots for connections that have not shown a token
	 * yet, so that participants always find some (guard.h). */
	srv->max_connections = conn_limit__apply(wanted);
	limits.max_untrusted = srv->max_connections / 2 ? srv->max_connections / 2 : 1;
	rc = auth__new(cfg->token, cfg->tokens_file, &srv->auth);
	if (!rc)
		rc = guard__new(&limits, &srv->guard);
	if (!rc)
		rc = download_turns__new((unsigned)cfg->downloads_at_once, cfg->download_wait_max_s * 1000, &srv->turns);
	if (!rc)
		rc = quota__open(srv->store, (uint64_t)cfg->node_quota_mb << 20, &srv->quota);
	if (!rc)
		rc = visibility__open(store__root(srv->store), &srv->vis);
	if (!rc && (cfg->tls_cert_file[0] || cfg->tls_key_file[0]))
		rc = tls__load(cfg->tls_cert_file, cfg->tls_key_file, &srv->pem);
	return rc;
}

enum fedc_err server__start(const struct server_config *cfg, struct store *store, struct server **out)
{
	struct sockaddr_storage addr;
	const union MHD_DaemonInfo *info;
	struct server *srv = NULL;
	enum fedc_err rc;

	*out = NULL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return FEDC_ERR_NOMEM;
	srv->store = store;
	srv->max_blob_bytes = cfg->max_blob_bytes;
	rc = prepare(srv, cfg);
	if (!rc)
		rc = resolve_listen(cfg->listen, (int)cfg->port /* 0..65535: the config table's range */, &addr);
	if (rc)
		goto out;
	srv->daemon = start_daemon(srv, cfg, &addr);
	if (!srv->daemon) {
		rc = fedc_fail(FEDC_ERR_NET, "cannot listen on %s port %d (see the message above)",
			       cfg->listen, (int)cfg->port);
		goto out;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : (uint16_t)cfg->port;
	/* A separate listener: scrapes need no participant token, and the
	 * blob port shows nothing but blobs (docs/monitoring.md). */
	if (cfg->metrics_listen[0])
		rc = fedc_prom_http_start("metrics_listen", cfg->metrics_listen, render_metrics, srv, &srv->prom);
	if (srv->prom)
		fedc_info("metrics: serving /metrics on %s (port %u)", cfg->metrics_listen,
			  (unsigned)fedc_prom_http_port(srv->prom));
out:
	if (rc) {
		server_free(srv);
		srv = NULL;
	}
	*out = srv;
	return rc;
}

enum fedc_err server__reload(struct server *srv, size_t *principals)
{
	return auth__reload(srv->auth, principals);
}

uint16_t server__port(const struct server *srv)
{
	return srv->port;
}

void server__stop(struct server *srv)
{
	server_free(srv);
}
