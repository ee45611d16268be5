/* The scrape endpoint (fedc/prom_http.h) on libmicrohttpd. */
#include "fedc/prom_http.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "fedc/log.h"
#include "fedc/prom.h"

#define METRICS_PATH "/metrics"
/* Prometheus scrapes every 15 s or so, one connection at a time; a few
 * more allow for a person with curl. */
#define CONNECTION_LIMIT 16
#define CONNECTION_TIMEOUT_S 10
/* The exposition of the node or the repository is a few KiB. */
#define EXPOSITION_MAX ((size_t)4 << 20)

struct fedc_prom_http {
	struct MHD_Daemon *daemon;
	fedc_prom_render_fn render;
	void *ctx;
	uint16_t port;
};

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text,
				  const char *content_type, const char *allow)
{
	/* libmicrohttpd 0.9.75 takes a void * even to copy (MUST_COPY): it
	 * never writes through it. */
	union {
		const char *in;
		void *out;
	} copied = { text };
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(text), copied.out, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result serve_metrics(struct fedc_prom_http *srv, struct MHD_Connection *conn)
{
	struct fedc_buf body = FEDC_BUF_INIT(EXPOSITION_MAX);
	enum MHD_Result ret;

	if (srv->render(srv->ctx, &body) != FEDC_OK || !body.data) {
		fedc_error("metrics: cannot render: %s", fedc_last_error());
		fedc_buf_free(&body);
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render the metrics (see the log)\n",
				  "text/plain", NULL);
	}
	ret = reply_text(conn, MHD_HTTP_OK, body.data, FEDC_PROM_CONTENT_TYPE, NULL);
	fedc_buf_free(&body);
	return ret;
}

bool fedc_mhd_has_body(struct MHD_Connection *conn)
{
	const char *length;

	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		return true;
	length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	return length && strcmp(length, "0") != 0;
}

/* A request without a body is answered at its last call, which keeps the
 * connection alive for the next scrape. One with a body is refused at its
 * first (MHD cannot answer in the middle of a body): MHD then drops the body
 * and closes. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	static int seen;
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0, head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

	(void)version;
	(void)upload_data;
	if (!*req_cls) {
		*req_cls = &seen;
		if (fedc_mhd_has_body(conn))
			return reply_text(conn, MHD_HTTP_BAD_REQUEST, "a scrape has no body\n", "text/plain", NULL);
		return MHD_YES;
	}
	if (*upload_data_size)
		return MHD_NO; /* a body after all (not announced): drop the connection */
	if (strcmp(url, METRICS_PATH) != 0)
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "only " METRICS_PATH " is served here\n", "text/plain", NULL);
	if (!get && !head)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n", "text/plain", "GET, HEAD");
	return serve_metrics(cls, conn);
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t len;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	if (len && line[len - 1] == '\n')
		line[len - 1] = '\0';
	fedc_warn("metrics: microhttpd: %s", line);
}

static enum fedc_err resolve(const char *what, const char *host, uint16_t port, struct sockaddr_storage *addr)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	int err;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	err = getaddrinfo(host, NULL, &hints, &res);
	if (err)
		return fedc_fail(FEDC_ERR_NET, "%s: cannot resolve \"%s\": %s", what, host, gai_strerror(err));
	memset(addr, 0, sizeof(*addr));
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (addr->ss_family == AF_INET6)
		((struct sockaddr_in6 *)addr)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)addr)->sin_port = htons(port);
	return FEDC_OK;
}

enum fedc_err fedc_prom_http_start(const char *what, const char *listen, fedc_prom_render_fn render, void *ctx,
				   struct fedc_prom_http **out)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
	char host[FEDC_PROM_HOST_MAX + 1];
	struct sockaddr_storage addr;
	const union MHD_DaemonInfo *info;
	struct fedc_prom_http *srv = NULL;
	uint16_t port = 0;
	enum fedc_err rc;

	*out = NULL;
	rc = fedc_prom_listen_parse(what, listen, host, &port);
	if (!rc)
		rc = resolve(what, host, port, &addr);
	if (rc)
		return rc;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return FEDC_ERR_NOMEM;
	srv->render = render;
	srv->ctx = ctx;
	if (addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* One thread: scrapes are rare and small, and render() may then keep
	 * per-thread handles (a database connection) without locks. */
	srv->daemon = MHD_start_daemon(flags, port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
				       NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
				       (unsigned int)CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
				       (unsigned int)CONNECTION_TIMEOUT_S, MHD_OPTION_END);
	if (!srv->daemon) {
		free(srv);
		return fedc_fail(FEDC_ERR_NET, "%s: cannot listen on %s (in use, or not an address of this host?)", what,
				 listen);
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : port;
	*out = srv;
	return FEDC_OK;
}

uint16_t fedc_prom_http_port(const struct fedc_prom_http *srv)
{
	return srv->port;
}

void fedc_prom_http_stop(struct fedc_prom_http *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->daemon);
	free(srv);
}
