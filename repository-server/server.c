/* HTTP request handling of fedc-repository on libmicrohttpd (see server.h).
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

#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "fedc/hash.h"
#include "fedc/log.h"

#define BLOB_PREFIX "/v1/blobs/sha256/"

/* Worker threads: each blocks on disk writes and fsync, so a few more than
 * the 2 cores keep the sockets moving. */
#define THREAD_POOL_SIZE 4
#define CONNECTION_LIMIT 128
#define CONNECTION_TIMEOUT_S 60
/* MHD hands upload data in pieces no larger than this: 1 MiB instead of the
 * 32 KiB default gave 1.5-2.4x upload speed (FIELD-NOTES.md). */
#define CONNECTION_MEMORY_LIMIT ((size_t)1 << 20)
/* Past the size limit a chunked body is read and dropped, so that the client
 * still gets a clean 413; past this much more we drop the connection. */
#define DRAIN_MAX ((uint64_t)16 << 20)
#define LOG_PATH_MAX 160

struct server {
	struct MHD_Daemon *daemon;
	struct store *store;
	uint64_t max_blob_bytes;
	bool auth;
	char token_digest[FEDC_SHA256_HEXLEN + 1];
	uint16_t port;
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
	enum req_action action;
	unsigned refuse_status;      /* ACT_REFUSE: the answer ... */
	const char *refuse_name;     /* ... its error name (static string) */
	const char *refuse_why;      /* ... and why (static string) */
	struct store_upload *up;     /* PUT: the upload in progress */
	uint64_t bytes_in, bytes_out;
	uint64_t drained;            /* body bytes read and dropped */
	unsigned status;             /* 0 until a response is queued */
	bool too_big;                /* the body went past the limit */
	bool write_failed;           /* the store could not take the body */
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

static struct MHD_Response *json_response(const char *body)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
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

/* The only path served: the prefix, then exactly 64 lower-case hex digits.
 * MHD has already percent-decoded `url`, so "%2e%2e" arrives as ".." and is
 * refused like any other non-hex byte. */
static bool parse_blob_path(const char *url, char *hex)
{
	const size_t plen = strlen(BLOB_PREFIX);

	if (strncmp(url, BLOB_PREFIX, plen) != 0 || !fedc_hex_valid(url + plen, FEDC_SHA256_HEXLEN))
		return false;
	memcpy(hex, url + plen, FEDC_SHA256_HEXLEN + 1);
	return true;
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

static bool authorized(const struct server *srv, struct MHD_Connection *conn)
{
	char digest[FEDC_SHA256_HEXLEN + 1];
	const char *h;

	if (!srv->auth)
		return true;
	h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	for (h += 7; *h == ' '; h++)
		;
	if (fedc_hash_buffer(FEDC_HASH_SHA256, h, strlen(h), digest) != FEDC_OK)
		return false;
	/* Digests of equal length, compared in constant time: the timing tells
	 * neither the token's length nor how much of a guess matched. */
	return CRYPTO_memcmp(digest, srv->token_digest, FEDC_SHA256_HEXLEN) == 0;
}

/* ---- GET and HEAD ------------------------------------------------------- */

static enum MHD_Result serve_blob(struct request *req, struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	char etag[FEDC_SHA256_HEXLEN + 3];
	uint64_t size = 0;
	enum fedc_err rc;
	int fd = -1;

	rc = store__open_blob(req->srv->store, req->hex, &fd, &size);
	if (rc == FEDC_ERR_NOT_FOUND)
		return reply_error(req, conn, MHD_HTTP_NOT_FOUND, "not-found", "no blob with this digest");
	if (rc) {
		fedc_error("GET %s: %s", req->hex, fedc_last_error());
		return reply_error(req, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				   "storage failure (see the server log)");
	}
	/* MHD sends from the fd (sendfile where it can) and closes it; for
	 * HEAD it sends the headers only, Content-Length included. */
	resp = MHD_create_response_from_fd64(size, fd);
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

static enum MHD_Result begin_put(struct request *req, struct MHD_Connection *conn)
{
	const char *length;
	uint64_t declared = 0;
	enum fedc_err rc;

	length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length && parse_u64(length, &declared) && declared > req->srv->max_blob_bytes)
		return reply_error(req, conn, MHD_HTTP_CONTENT_TOO_LARGE, "too-big",
				   "Content-Length is over the server's max_blob_mb");
	rc = store__upload_begin(req->srv->store, req->hex, &req->up);
	if (rc) {
		fedc_error("PUT %s: %s", req->hex, fedc_last_error());
		return reply_error(req, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				   "storage failure (see the server log)");
	}
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
		fedc_error("PUT %s: %s", req->hex, fedc_last_error());
		req->write_failed = true;
		store__upload_abort(req->up);
		req->up = NULL;
	}
	return MHD_YES;
}

static enum MHD_Result finish_put(struct request *req, struct MHD_Connection *conn)
{
	char body[160];
	bool created = false;
	enum fedc_err rc;

	if (req->too_big)
		return reply_error(req, conn, MHD_HTTP_CONTENT_TOO_LARGE, "too-big",
				   "body is over the server's max_blob_mb");
	if (req->write_failed)
		return reply_error(req, conn, MHD_HTTP_INSUFFICIENT_STORAGE, "insufficient-storage",
				   "the store could not write the blob (see the server log)");
	rc = store__upload_commit(req->up, &created);
	req->up = NULL;
	if (rc == FEDC_ERR_DIGEST)
		return reply_error(req, conn, MHD_HTTP_BAD_REQUEST, "digest-mismatch", fedc_last_error());
	if (rc) {
		fedc_error("PUT %s: %s", req->hex, fedc_last_error());
		return reply_error(req, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				   "storage failure (see the server log)");
	}
	snprintf(body, sizeof(body), "{\"digest\":\"sha256:%s\",\"size\":%llu}\n", req->hex,
		 (unsigned long long)req->bytes_in);
	return queue(req, conn, created ? MHD_HTTP_CREATED : MHD_HTTP_OK, json_response(body));
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
	req->refuse_why = why;
}

/* Path first (404), then method (405), then credentials (401). */
static void decide(struct request *req, struct MHD_Connection *conn, const char *url,
		   const char *method)
{
	if (!parse_blob_path(url, req->hex))
		refuse(req, MHD_HTTP_NOT_FOUND, "not-found",
		       "blobs live at /v1/blobs/sha256/<64 lower-case hex digits>");
	else if (!parse_method(method, &req->kind))
		refuse(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method-not-allowed", "use GET, HEAD or PUT");
	else if (!authorized(req->srv, conn))
		refuse(req, MHD_HTTP_UNAUTHORIZED, "unauthorized", "missing or wrong bearer token");
	else
		req->action = req->kind == REQ_PUT ? ACT_PUT : ACT_SERVE;
}

/* Whether a body follows the headers (a non-zero Content-Length, or chunked). */
static bool has_body(struct MHD_Connection *conn)
{
	const char *length;

	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		return true;
	length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	return length && strcmp(length, "0") != 0;
}

/* First call for a request: the headers are in, no body read yet. */
static enum MHD_Result on_headers(struct request *req, struct MHD_Connection *conn, const char *url,
				  const char *method)
{
	decide(req, conn, url, method);
	if (req->action == ACT_PUT)
		return begin_put(req, conn);
	if (req->action == ACT_REFUSE && has_body(conn))
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

/* Runs once per request, however it ended: one log line, and an upload cut
 * short (client gone, timeout) loses its temp file here. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *req = *req_cls;
	char peer[64];

	if (!req)
		return;
	store__upload_abort(req->up);
	client_address(conn, peer, sizeof(peer));
	fedc_log(toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? FEDC_LOG_INFO : FEDC_LOG_WARN,
		 "%s %s %s %u in=%llu out=%llu%s", peer, req->method, req->path, req->status,
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
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;

	if (addr->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	return MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)addr,
				MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)THREAD_POOL_SIZE,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY_LIMIT,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
				MHD_OPTION_END);
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
	srv->auth = cfg->token[0] != '\0';
	if (srv->auth) {
		rc = fedc_hash_buffer(FEDC_HASH_SHA256, cfg->token, strlen(cfg->token), srv->token_digest);
		if (rc)
			goto out;
	}
	rc = resolve_listen(cfg->listen, cfg->port, &addr);
	if (rc)
		goto out;
	srv->daemon = start_daemon(srv, cfg, &addr);
	if (!srv->daemon) {
		rc = fedc_fail(FEDC_ERR_NET, "cannot listen on %s port %d (see the message above)",
			       cfg->listen, cfg->port);
		goto out;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : (uint16_t)cfg->port;
out:
	if (rc) {
		free(srv);
		srv = NULL;
	}
	*out = srv;
	return rc;
}

uint16_t server__port(const struct server *srv)
{
	return srv->port;
}

void server__stop(struct server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->daemon);
	free(srv);
}
