/* Routing and access control of the console (see server.h). Every request
 * goes through handle(): static files are public; /login is reachable with
 * an anonymous session; everything else needs a logged-in session, and
 * every POST the session's CSRF token.
 *
 * Bodies are bounded before anything is authenticated: a POST that can be
 * refused from its headers alone (no session for it, the wrong type, a
 * declared length past the cap) is answered before a byte of its body is
 * read, and libmicrohttpd then closes the connection; a form body is cut at
 * FORM_BODY_MAX, an upload at UPLOAD_UNVERIFIED_MAX until its token is
 * checked and REFUSED_DRAIN_MAX after a refusal. Past those the connection
 * is closed: libmicrohttpd 0.9.75 cannot answer a request whose body is
 * still coming. */
#include "server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "assets.h"
#include "console_metrics.h"
#include "fedc/log.h"
#include "fedc/num.h"
#include "fedc/prom_http.h" /* fedc_mhd_has_body */
#include "form.h"
#include "kdf.h"
#include "upload.h"

#define COOKIE_NAME "fedc_console"
#define COOKIE_ATTRS "; Path=/; Secure; HttpOnly; SameSite=Strict"
#define CONNECTION_LIMIT 64
#define CONNECTION_TIMEOUT_S 30

struct console_server {
	struct console *c;
	struct MHD_Daemon *daemon;
	char dummy_hash[KDF_HASH_BUF]; /* verified against for unknown users: same time as a known one */
};

struct conn_state {
	struct fedc_buf body;
	bool too_big;           /* a form body declared longer than FORM_BODY_MAX */
	bool answered;          /* answered before its body: no more of it is taken */
	/* POST /datasets/upload: the file goes to disk as it comes (upload.h). */
	struct upload *upload;
	struct MHD_PostProcessor *pp;
	unsigned refused;       /* an upload refused before its body: the status */
	const char *refused_why;
	uint64_t drained;       /* bytes of an upload's body read since it was refused */
};

/* ---- responses ---- */

static void security_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
				"form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct reply *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(r->body.len, r->body.data ? r->body.data : (void *)(uintptr_t)"",
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	security_headers(resp);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "Content-Type", r->content_type ? r->content_type : "text/html; charset=utf-8");
	if (r->location)
		MHD_add_response_header(resp, "Location", r->location);
	if (r->cookie[0])
		MHD_add_response_header(resp, "Set-Cookie", r->cookie);
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_asset(struct MHD_Connection *conn, const char *body, size_t len, const char *type)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	security_headers(resp);
	MHD_add_response_header(resp, "Content-Type", type);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void redirect(struct reply *r, const char *to)
{
	r->status = MHD_HTTP_SEE_OTHER;
	r->location = to;
}

static void set_cookie(struct reply *r, const struct session *s)
{
	if (s)
		snprintf(r->cookie, sizeof(r->cookie), COOKIE_NAME "=%s" COOKIE_ATTRS, s->id);
	else
		snprintf(r->cookie, sizeof(r->cookie), COOKIE_NAME "=; Max-Age=0" COOKIE_ATTRS);
}

/* ---- login and logout ---- */

static enum fedc_err login_page(struct request *q, struct reply *r, struct session *s)
{
	if (s && s->user[0]) {
		redirect(r, "/plans");
		return FEDC_OK;
	}
	if (!s) {
		enum fedc_err rc = sessions__start(&q->c->sessions, "", q->now, &s);

		if (rc)
			return rc;
		set_cookie(r, s);
	}
	return pages__login(q, r, s, NULL);
}

static enum fedc_err login(struct console_server *srv, struct request *q, struct reply *r, struct session *anon)
{
	const char *user = form__get(q->form, "user"), *password = form__get(q->form, "password");
	char stored[KDF_HASH_BUF];
	struct session *s = NULL;
	enum fedc_err rc;
	bool known, ok;

	if (!sessions__login_allowed(&q->c->sessions, q->remote, q->now)) {
		console__audit(q, user ? user : "-", "login-throttled", "", "too many failed logins from this address");
		r->status = MHD_HTTP_TOO_MANY_REQUESTS;
		return pages__login(q, r, anon, "Too many failed logins from this address: wait a few minutes.");
	}
	if (!user || !password || strlen(user) > SESSION_USER_MAX)
		return pages__error(r, MHD_HTTP_BAD_REQUEST, "The login form needs a user and a password.");
	known = store__user_password(q->c->store, user, stored, sizeof(stored)) == FEDC_OK;
	ok = kdf__verify(password, known ? stored : srv->dummy_hash) && known;
	if (!ok) {
		sessions__login_failed(&q->c->sessions, q->remote, q->now);
		console__audit(q, user, "login-failed", "", known ? "wrong password" : "unknown user");
		r->status = MHD_HTTP_UNAUTHORIZED;
		return pages__login(q, r, anon, "Wrong user name or password.");
	}
	sessions__login_succeeded(&q->c->sessions, q->remote);
	sessions__end(anon); /* a new id after login: a planted cookie gains nothing */
	rc = sessions__start(&q->c->sessions, user, q->now, &s);
	if (rc)
		return rc;
	console__audit(q, user, "login", "", "");
	set_cookie(r, s);
	redirect(r, "/plans");
	return FEDC_OK;
}

static enum fedc_err logout(struct request *q, struct reply *r)
{
	console__audit(q, q->session->user, "logout", "", "");
	sessions__end(q->session);
	set_cookie(r, NULL);
	redirect(r, "/login");
	return FEDC_OK;
}

/* ---- routing ---- */

static bool is(const char *a, const char *b)
{
	return strlen(a) == strlen(b) && strcmp(a, b) == 0;
}

static enum fedc_err route_get(struct request *q, struct reply *r, const char *url)
{
	if (is(url, "/") || is(url, "/plans"))
		return pages__plans(q, r, NULL);
	if (is(url, "/plans/source"))
		return pages__plan_source(q, r);
	if (is(url, "/datasets"))
		return pages__datasets(q, r, NULL);
	if (is(url, "/datasets/show"))
		return pages__dataset_show(q, r);
	if (is(url, "/datasets/picture"))
		return pages__dataset_picture(q, r);
	if (is(url, "/jobs"))
		return pages__jobs(q, r);
	if (is(url, "/audit"))
		return pages__audit(q, r);
	return pages__error(r, MHD_HTTP_NOT_FOUND, "No such page.");
}

static enum fedc_err route_post(struct request *q, struct reply *r, const char *url)
{
	if (is(url, "/plans/decide"))
		return actions__plan_decide(q, r);
	if (is(url, "/datasets/add"))
		return actions__dataset_add(q, r);
	if (is(url, "/datasets/remove"))
		return actions__dataset_remove(q, r);
	if (is(url, "/logout"))
		return logout(q, r);
	return pages__error(r, MHD_HTTP_NOT_FOUND, "No such action.");
}

static bool account_exists(struct request *q, const char *user)
{
	char stored[KDF_HASH_BUF];

	return store__user_password(q->c->store, user, stored, sizeof(stored)) != FEDC_ERR_NOT_FOUND;
}

/* Checks of a POST before any handler: a form body, and the token of the
 * session it claims. */
static bool post_allowed(struct request *q, struct reply *r, struct session *s, const char *url)
{
	if (sessions__csrf_ok(s, form__get(q->form, "csrf")))
		return true;
	console__audit(q, s && s->user[0] ? s->user : "-", "csrf-refused", url, "POST without the session's token");
	(void)pages__error(r, MHD_HTTP_FORBIDDEN,
			   "Refused: the form's security token is missing or stale. Reload the page and try again.");
	return false;
}

static enum fedc_err handle(struct console_server *srv, struct request *q, struct reply *r, const char *url,
			    bool post, struct session *s)
{
	if (!post && is(url, "/login"))
		return login_page(q, r, s);
	if (post && !post_allowed(q, r, s, url))
		return FEDC_OK;
	if (post && is(url, "/login"))
		return login(srv, q, r, s);
	if (s && s->user[0] && !account_exists(q, s->user))
		sessions__end(s); /* removed with `user remove`: its sessions end here */
	if (!s || !s->id[0] || !s->user[0]) {
		if (post)
			return pages__error(r, MHD_HTTP_FORBIDDEN, "Log in first.");
		redirect(r, "/login");
		return FEDC_OK;
	}
	q->session = s;
	return post ? route_post(q, r, url) : route_get(q, r, url);
}

static void client_address(struct MHD_Connection *conn, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, cap, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)cap);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)cap);
}

/* ---- uploads ---- */

#define UPLOAD_URL "/datasets/upload"
#define UPLOAD_PP_BUFFER 65536
/* Read after an upload is refused in its body, so that a small forged form
 * still gets its answer page; past them the connection is closed. */
#define REFUSED_DRAIN_MAX ((uint64_t)64 << 10)

static bool is_multipart(struct MHD_Connection *conn)
{
	const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *want = "multipart/form-data";

	return type && strncasecmp(type, want, strlen(want)) == 0 && type[strlen(want)] == ';';
}

static struct session *cookie_session(struct console_server *srv, struct MHD_Connection *conn, int64_t now)
{
	char cookie[SESSION_TOKEN_HEX + 1];

	if (!form__cookie(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE), COOKIE_NAME,
			  cookie, sizeof(cookie)))
		return NULL;
	return sessions__find(&srv->c->sessions, cookie, now);
}

static enum MHD_Result on_upload_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
				      const char *content_type, const char *transfer_encoding, const char *data,
				      uint64_t off, size_t size)
{
	(void)kind;
	(void)content_type;
	(void)transfer_encoding;
	return upload__part(cls, key, filename, data, off, size) ? MHD_YES : MHD_NO;
}

/* Before the body of an upload: only a logged-in session may send one, as
 * multipart/form-data; anything else is refused (st->refused) and answered
 * before a byte of the body is read. */
static void upload_start(struct console_server *srv, struct MHD_Connection *conn, struct conn_state *st)
{
	struct session *s = cookie_session(srv, conn, (int64_t)time(NULL));
	char dir[UPLOAD_PATH_MAX];

	st->refused = MHD_HTTP_FORBIDDEN;
	st->refused_why = "Log in first.";
	if (!s || !s->user[0])
		return;
	st->refused = MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
	st->refused_why = "Refused: an upload is sent as multipart/form-data.";
	if (!is_multipart(conn))
		return;
	st->refused = MHD_HTTP_INTERNAL_SERVER_ERROR;
	st->refused_why = "The upload could not start; the console's log says why.";
	snprintf(dir, sizeof(dir), "%s/uploads", srv->c->cli.cfg.data_dir);
	st->upload = calloc(1, sizeof(*st->upload));
	if (!st->upload || upload__begin(st->upload, dir, s)) {
		fedc_error("upload: %s", st->upload ? fedc_last_error() : "out of memory");
		free(st->upload);
		st->upload = NULL;
		return;
	}
	st->pp = MHD_create_post_processor(conn, UPLOAD_PP_BUFFER, on_upload_part, st->upload);
	if (!st->pp) {
		st->refused = MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
		st->refused_why = "Refused: the multipart body has no boundary.";
		upload__discard(st->upload);
		free(st->upload);
		st->upload = NULL;
		return;
	}
	st->refused = 0;
}

/* An upload refused (u->status set): audited when its token was the
 * reason, and counted. */
static void upload_refusal(struct request *q, const struct upload *u)
{
	if (u->status == MHD_HTTP_FORBIDDEN)
		console__audit(q, u->session.user, "csrf-refused", UPLOAD_URL, u->why);
	console_metrics__upload_refused();
}

/* A refused upload whose body goes on past REFUSED_DRAIN_MAX: recorded as
 * if answered, then its connection is closed (MHD_NO). */
static enum MHD_Result upload_cut(struct console_server *srv, struct MHD_Connection *conn, struct conn_state *st)
{
	char remote[64];
	struct request q = { .c = srv->c, .remote = remote, .now = (int64_t)time(NULL) };

	client_address(conn, remote, sizeof(remote));
	fedc_warn("upload from %s refused (%u: %s); connection closed, the rest of its body unread", remote,
		  st->upload->status, st->upload->why);
	upload_refusal(&q, st->upload);
	console_metrics__request(UPLOAD_URL, false, st->upload->status);
	return MHD_NO;
}

/* A piece of an upload's body, decoded unless the upload is refused. */
static enum MHD_Result upload_feed(struct console_server *srv, struct MHD_Connection *conn, struct conn_state *st,
				   const char *data, size_t size)
{
	struct upload *u = st->upload;

	if (upload__body(u, size) && MHD_post_process(st->pp, data, size) != MHD_YES && !u->status) {
		u->status = MHD_HTTP_BAD_REQUEST;
		snprintf(u->why, sizeof(u->why), "The upload's multipart body is malformed.");
	}
	if (!u->status)
		return MHD_YES;
	st->drained += size;
	return st->drained <= REFUSED_DRAIN_MAX ? MHD_YES : upload_cut(srv, conn, st);
}

/* Frees what an upload holds; its file stays only if `keep`. */
static void upload_end(struct conn_state *st, bool keep)
{
	if (st->pp)
		MHD_destroy_post_processor(st->pp);
	st->pp = NULL;
	if (st->upload) {
		if (keep)
			upload__free(st->upload);
		else
			upload__discard(st->upload);
		free(st->upload);
	}
	st->upload = NULL;
}

/* The body is in: register the file as a dataset, or say why not. */
static enum fedc_err upload_done(struct request *q, struct reply *r, struct conn_state *st, struct session *s)
{
	struct upload *u = st->upload;
	bool complete = MHD_destroy_post_processor(st->pp) == MHD_YES;
	enum fedc_err rc;

	st->pp = NULL;
	if (!complete && !u->status) {
		u->status = MHD_HTTP_BAD_REQUEST;
		snprintf(u->why, sizeof(u->why), "The upload's multipart body is cut short.");
	}
	if (!s || !s->user[0] || !account_exists(q, s->user)) {
		console_metrics__upload_refused();
		return pages__error(r, MHD_HTTP_FORBIDDEN, "Log in first.");
	}
	q->session = s;
	if (!upload__finish(u)) {
		upload_refusal(q, u);
		return pages__error(r, u->status, u->why);
	}
	rc = actions__dataset_upload(q, r, u);
	if (u->path[0]) /* registered; a refused file is discarded, its path cleared */
		console_metrics__upload_done(u->bytes);
	else
		console_metrics__upload_refused();
	upload_end(st, u->path[0] != '\0');
	return rc;
}

static bool is_form_body(struct MHD_Connection *conn)
{
	const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *want = "application/x-www-form-urlencoded";

	return type && strncmp(type, want, strlen(want)) == 0 && (type[strlen(want)] == '\0' || type[strlen(want)] == ';');
}

/* The body length the headers declare; 0 when they declare none (chunked). */
static uint64_t declared_length(struct MHD_Connection *conn)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t n = 0;

	return v && fedc_num_parse_u64(v, 0, UINT64_MAX, &n) == FEDC_OK ? n : 0;
}

/* Whether a form POST to `url` could pass handle()'s checks at all: /login
 * needs a session (an anonymous one), every other action a logged-in one. */
static bool may_post(struct console_server *srv, struct MHD_Connection *conn, const char *url)
{
	struct session *s = cookie_session(srv, conn, (int64_t)time(NULL));

	return s && (s->user[0] || is(url, "/login"));
}

static enum MHD_Result answer(struct console_server *srv, struct MHD_Connection *conn, const char *url, bool post,
			      struct conn_state *st)
{
	char remote[64], cookie[SESSION_TOKEN_HEX + 1];
	struct form form = { 0 };
	struct request q = { .c = srv->c, .remote = remote, .now = (int64_t)time(NULL) };
	struct reply r = { .status = MHD_HTTP_OK, .body = FEDC_BUF_INIT(PAGE_MAX) };
	struct session *s = NULL;
	enum fedc_err rc = FEDC_OK;
	enum MHD_Result ret;

	client_address(conn, remote, sizeof(remote));
	if (form__cookie(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE), COOKIE_NAME,
			 cookie, sizeof(cookie)))
		s = sessions__find(&srv->c->sessions, cookie, q.now);
	q.query_id = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "id");
	q.query_n = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "n");
	if (post && st->refused) {
		console_metrics__upload_refused();
		rc = pages__error(&r, st->refused, st->refused_why);
	}
	else if (post && st->upload)
		rc = upload_done(&q, &r, st, s);
	else if (post && (st->too_big || !is_form_body(conn)))
		rc = pages__error(&r, st->too_big ? MHD_HTTP_CONTENT_TOO_LARGE : MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
				  "Refused: a form of at most 16 KiB, sent as application/x-www-form-urlencoded.");
	else if (post && form__parse(st->body.data ? st->body.data : "", st->body.len, &form) != FEDC_OK)
		rc = pages__error(&r, MHD_HTTP_BAD_REQUEST, fedc_last_error());
	else {
		q.form = post ? &form : NULL;
		rc = handle(srv, &q, &r, url, post, s);
	}
	if (rc) {
		fedc_error("%s %s: %s", post ? "POST" : "GET", url, fedc_last_error());
		(void)pages__error(&r, MHD_HTTP_INTERNAL_SERVER_ERROR, "The console failed; its log says why.");
	}
	ret = send_reply(conn, &r);
	console_metrics__request(url, false, r.status);
	console_metrics__sessions(sessions__count_logged_in(&srv->c->sessions, q.now));
	form__free(&form);
	fedc_buf_free(&r.body);
	return ret;
}

/* A form body past FORM_BODY_MAX (sent in chunks: a declared length past it
 * is answered 413 before the body): counted as a 413, then the connection
 * is closed, the rest unread. */
static enum MHD_Result form_cut(struct MHD_Connection *conn, const char *url)
{
	char remote[64];

	client_address(conn, remote, sizeof(remote));
	fedc_warn("a form body from %s past %d bytes; connection closed, the rest unread", remote, FORM_BODY_MAX);
	console_metrics__request(url, false, MHD_HTTP_CONTENT_TOO_LARGE);
	return MHD_NO;
}

/* Before the body of a POST (the first call). Refusals that need none of
 * it are answered now, through answer() as any other, with an empty body:
 * no session, or not one that may post here (handle() refuses the missing
 * token, as it would the body's), the wrong type, a declared length past
 * the cap. */
static enum MHD_Result post_start(struct console_server *srv, struct MHD_Connection *conn, const char *url,
				  struct conn_state *st)
{
	if (is(url, UPLOAD_URL)) {
		upload_start(srv, conn, st);
		if (!st->refused)
			return MHD_YES;
	} else {
		st->too_big = declared_length(conn) > FORM_BODY_MAX;
		if (!st->too_big && is_form_body(conn) && may_post(srv, conn, url))
			return MHD_YES;
	}
	st->answered = true;
	return answer(srv, conn, url, true, st);
}

/* A request other than a POST takes no body: one that is not a GET or HEAD
 * (405), or that comes with a body (400), is answered at its first call. */
static enum MHD_Result other_start(struct MHD_Connection *conn, const char *url, const char *method,
				   struct conn_state *st)
{
	bool get = is(method, "GET") || is(method, "HEAD");
	struct reply r = { .body = FEDC_BUF_INIT(PAGE_MAX) };
	enum MHD_Result ret;

	if (get && !fedc_mhd_has_body(conn))
		return MHD_YES;
	st->answered = true;
	if (get)
		(void)pages__error(&r, MHD_HTTP_BAD_REQUEST, "A GET request has no body.");
	else
		(void)pages__error(&r, MHD_HTTP_METHOD_NOT_ALLOWED, "Only GET and POST.");
	ret = send_reply(conn, &r);
	console_metrics__request(url, false, r.status);
	fedc_buf_free(&r.body);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct console_server *srv = cls;
	struct conn_state *st = *con_cls;
	const char *body, *type;
	size_t len;
	bool post = strcmp(method, "POST") == 0;

	(void)version;
	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		fedc_buf_init(&st->body, FORM_BODY_MAX);
		*con_cls = st;
		return post ? post_start(srv, conn, url, st) : other_start(conn, url, method, st);
	}
	if (st->answered)
		return MHD_NO; /* libmicrohttpd reads no body after an answer; never take one */
	len = *upload_size;
	*upload_size = 0;
	if (len && st->upload)
		return upload_feed(srv, conn, st, upload_data, len);
	if (len && fedc_buf_append(&st->body, upload_data, len))
		return form_cut(conn, url);
	if (len)
		return MHD_YES;
	if (!post && assets__get(url, &body, &len, &type)) {
		console_metrics__request(url, true, MHD_HTTP_OK);
		return send_asset(conn, body, len, type);
	}
	return answer(srv, conn, url, post, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct conn_state *st = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (st) {
		upload_end(st, false); /* a connection that ended before its answer */
		fedc_buf_free(&st->body);
		free(st);
		*con_cls = NULL;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	fedc_warn("https: %s", line);
}

/* listen:port as a socket address: an IPv4 or IPv6 literal. */
static enum fedc_err listen_address(const struct node_config *cfg, struct sockaddr_storage *ss, bool *v6)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	*v6 = strchr(cfg->console_listen, ':') != NULL;
	if (!*v6 && inet_pton(AF_INET, cfg->console_listen, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)cfg->console_port);
		return FEDC_OK;
	}
	if (*v6 && inet_pton(AF_INET6, cfg->console_listen, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)cfg->console_port);
		return FEDC_OK;
	}
	return fedc_fail(FEDC_ERR_CONFIG, "%s: [console] listen \"%s\" is not an IPv4 or IPv6 address", cfg->path,
			 cfg->console_listen);
}

enum fedc_err server__start(struct console *c, const struct tls_pem *pem, struct console_server **out)
{
	struct console_server *srv = calloc(1, sizeof(*srv));
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_TLS;
	struct sockaddr_storage ss;
	enum fedc_err rc;
	bool v6;

	*out = NULL;
	if (!srv)
		return FEDC_ERR_NOMEM;
	srv->c = c;
	rc = listen_address(&c->cli.cfg, &ss, &v6);
	if (!rc)
		rc = kdf__hash("no user has this password: it only makes unknown users cost a hash", srv->dummy_hash);
	if (rc)
		goto out;
	srv->daemon = MHD_start_daemon(flags | (v6 ? MHD_USE_IPv6 : 0), (uint16_t)c->cli.cfg.console_port, NULL, NULL,
				       on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				       MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				       MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT,
				       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
				       MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
				       MHD_OPTION_HTTPS_MEM_CERT, pem->cert, MHD_OPTION_HTTPS_MEM_KEY, pem->key,
				       MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES, MHD_OPTION_END);
	if (!srv->daemon)
		rc = fedc_fail(FEDC_ERR_IO, "cannot listen on %s port %lld (in use, or not an address of this machine)",
			       c->cli.cfg.console_listen, (long long)c->cli.cfg.console_port);
out:
	if (rc)
		free(srv);
	else
		*out = srv;
	return rc;
}

void server__stop(struct console_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	free(s);
}
