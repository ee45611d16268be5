/* fedc-repository, black box: the real binary on a free loopback port, raw
 * HTTP(S) requests through libcurl (paths sent as is, bodies of any shape),
 * and the store directory inspected after each refusal. HTTPS with a CA made
 * here (repo_tls_certs.h), the roles of the tokens file and the two
 * namespaces, SIGHUP reloads. Also its command line and config errors (exit
 * 2, message naming the key, or the file and line). */
#define _GNU_SOURCE /* nftw, mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>

#include "fedc/clock.h"
#include "fedc/fs.h"
#include "fedc/hash.h"
#include "file_check.h"
#include "repo_server_harness.h"
#include "repo_tls_certs.h"

#define TOKEN "test-token-123"
#define MiB (1024 * 1024)
/* Principals of the tokens file of tls_server (plus TOKEN as "admin"). */
#define AUTH_ALICE "Bearer alice-researcher-token"
#define AUTH_A "Bearer node-a-token"
#define AUTH_B "Bearer node-b-token"
#define AUTH_ADMIN "Bearer " TOKEN

static struct test_server auth_server; /* token, max_blob_mb = 1, from a config file */
static struct test_server open_server; /* no token */
static struct test_server tls_server;  /* HTTPS, tokens_file + token, max_blob_mb = 4, config file */
static char config_dir[PATH_MAX];
static struct test_pki pki;            /* the CA of tls_server's certificate */

/* ---- a small HTTP client ------------------------------------------------- */

/* BODY_LENGTH_EXPECT: a body announced with "Expect: 100-continue". A server
 * that refuses from the headers answers before any of it is sent; without
 * it, a refusal that closes the connection can race the upload, and the
 * client may see a reset instead of the status. */
enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_LENGTH_EXPECT };

struct reply {
	long status;
	unsigned char *body; /* NUL-terminated, truncated at REPLY_MAX */
	size_t len;
	long long content_length;
	char www_authenticate[128];
	char allow[64];
	char content_type[64];
};

#define REPLY_MAX (4 * MiB)

struct upload_src {
	const unsigned char *data;
	size_t len, pos;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
	struct reply *r = user;
	size_t n = size * nmemb;
	size_t take = n < REPLY_MAX - r->len ? n : REPLY_MAX - r->len;

	memcpy(r->body + r->len, data, take);
	r->len += take;
	r->body[r->len] = '\0';
	return n;
}

static void header_value(const char *line, size_t n, const char *name, char *dst, size_t cap)
{
	size_t nl = strlen(name), vlen;

	if (n <= nl || strncasecmp(line, name, nl) != 0)
		return;
	line += nl;
	n -= nl;
	while (n && *line == ' ') {
		line++;
		n--;
	}
	for (vlen = n; vlen && (line[vlen - 1] == '\r' || line[vlen - 1] == '\n'); vlen--)
		;
	snprintf(dst, cap, "%.*s", (int)vlen, line);
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *user)
{
	struct reply *r = user;
	size_t n = size * nmemb;
	char length[32] = "";

	header_value(line, n, "WWW-Authenticate:", r->www_authenticate, sizeof(r->www_authenticate));
	header_value(line, n, "Allow:", r->allow, sizeof(r->allow));
	header_value(line, n, "Content-Type:", r->content_type, sizeof(r->content_type));
	header_value(line, n, "Content-Length:", length, sizeof(length));
	if (length[0])
		r->content_length = atoll(length);
	return n;
}

static size_t on_upload(char *buf, size_t size, size_t nitems, void *user)
{
	struct upload_src *src = user;
	size_t n = size * nitems;

	if (n > src->len - src->pos)
		n = src->len - src->pos;
	memcpy(buf, src->data + src->pos, n);
	src->pos += n;
	return n;
}

static void reply_free(struct reply *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* How an https request verifies the server. */
struct tls_client {
	const char *ca;   /* CA file; NULL: the system's CAs */
	const char *host; /* host name put in the URL (resolved to 127.0.0.1); NULL: as in s->url */
	bool tls11;       /* offer TLS 1.0-1.1 only */
};

static void set_tls_options(CURL *c, const struct test_server *s, const struct tls_client *tls,
			    const char *path, char *url, size_t cap, struct curl_slist **resolve)
{
	char entry[128];

	snprintf(url, cap, "%s%s", s->url, path);
	if (!tls)
		return;
	if (tls->ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, tls->ca);
	if (tls->host) {
		snprintf(url, cap, "https://%s:%d%s", tls->host, s->port, path);
		snprintf(entry, sizeof(entry), "%s:%d:127.0.0.1", tls->host, s->port);
		*resolve = curl_slist_append(NULL, entry);
		curl_easy_setopt(c, CURLOPT_RESOLVE, *resolve);
	}
	if (tls->tls11) {
		/* SECLEVEL=0 so that OpenSSL itself still offers TLS 1.1: the
		 * refusal must come from the server. */
		curl_easy_setopt(c, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_0 | CURL_SSLVERSION_MAX_TLSv1_1);
		curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, "DEFAULT:@SECLEVEL=0");
	}
}

/* One request to `s` with the path sent exactly as given. `auth` NULL: no
 * Authorization header, else the whole header value. https URLs verify the
 * server as `tls` says. */
static CURLcode http_tls(const struct test_server *s, const struct tls_client *tls, const char *method,
			 const char *path, const char *auth, const void *body, size_t len,
			 enum body_mode mode, struct reply *r)
{
	struct upload_src src = { body, len, 0 };
	struct curl_slist *headers = NULL, *resolve = NULL;
	char url[PATH_MAX], auth_header[256];
	CURL *c = curl_easy_init();
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	r->body = calloc(1, REPLY_MAX + 1);
	r->content_length = -1;
	assert_non_null(c);
	assert_non_null(r->body);
	set_tls_options(c, s, tls, path, url, sizeof(url), &resolve);
	headers = curl_slist_append(headers, mode == BODY_LENGTH_EXPECT ? "Expect: 100-continue" : "Expect:");
	if (auth) {
		snprintf(auth_header, sizeof(auth_header), "Authorization: %s", auth);
		headers = curl_slist_append(headers, auth_header);
	}
	if (mode == BODY_CHUNKED)
		headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (mode != BODY_NONE) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
		curl_easy_setopt(c, CURLOPT_READDATA, &src);
		if (mode == BODY_LENGTH || mode == BODY_LENGTH_EXPECT)
			curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	}
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(headers);
	curl_slist_free_all(resolve);
	curl_easy_cleanup(c);
	return cc;
}

/* The usual request: https servers verified against the test CA. */
static CURLcode http(const struct test_server *s, const char *method, const char *path,
		     const char *auth, const void *body, size_t len, enum body_mode mode,
		     struct reply *r)
{
	const struct tls_client tls = { .ca = pki.ca_path };

	return http_tls(s, &tls, method, path, auth, body, len, mode, r);
}

static const char *bearer(void)
{
	return "Bearer " TOKEN;
}

static void blob_path(const char *hex, char *path, size_t cap)
{
	snprintf(path, cap, "/v1/blobs/sha256/%s", hex);
}

static void update_path(const char *node, const char *hex, char *path, size_t cap)
{
	snprintf(path, cap, "/v1/updates/%s/sha256/%s", node, hex);
}

static void digest_of(const void *data, size_t len, char *hex)
{
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, data, len, hex), FEDC_OK);
}

/* The status of one request; a PUT sends `body`. A refused PUT may end in a
 * transport error after its answer (the server hangs up on the body), so
 * only the status is checked then. */
static long status_of(const struct test_server *s, const char *method, const char *path,
		      const char *auth, const void *body, size_t len)
{
	bool put = strcmp(method, "PUT") == 0;
	struct reply r;
	CURLcode cc = http(s, method, path, auth, body, put ? len : 0, put ? BODY_LENGTH : BODY_NONE, &r);
	long status = r.status;

	if (!put && cc != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(cc));
	reply_free(&r);
	return status;
}

/* Appends one "ROLE ID SHA256HEX" line for `token` to `f`. */
static void token_line(FILE *f, const char *role, const char *id, const char *token)
{
	char hex[65];

	digest_of(token, strlen(token), hex);
	fprintf(f, "%s %s %s\n", role, id, hex);
}

/* tokens.txt in `dir`: researcher alice, nodes a and b. */
static int write_tokens_file(const char *dir, char *path, size_t cap)
{
	FILE *f;

	snprintf(path, cap, "%s/tokens.txt", dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "# ROLE ID SHA256-of-token, written by test_repository_server\n\n");
	token_line(f, "researcher", "alice", AUTH_ALICE + 7);
	token_line(f, "node", "a", AUTH_A + 7);
	fprintf(f, "   # an indented comment\n");
	token_line(f, "node", "b", AUTH_B + 7);
	return fclose(f);
}

/* The HTTPS server: everything from a config file whose relative paths are
 * taken from its own directory. */
static int start_tls_server(void)
{
	static const char ini[] = "[repository]\n"
				  "listen = 127.0.0.1\n"
				  "token = " TOKEN "\n"
				  "tokens_file = tokens.txt\n"
				  "tls_cert_file = server.pem\n"
				  "tls_key_file = server.key\n"
				  "max_blob_mb = 4\n"
				  "log_level = debug\n";
	char dir[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], tokens[PATH_MAX], config[PATH_MAX + 32];
	const char *args[] = { "--config", config, NULL };

	snprintf(dir, sizeof(dir), "%.4000s/tls", config_dir);
	if (mkdir(dir, 0700) != 0 || pki_make_ca(&pki, config_dir, "test-ca") != 0 ||
	    pki_make_server(&pki, dir, "server", "IP:127.0.0.1,DNS:localhost", cert, key) != 0 ||
	    write_tokens_file(dir, tokens, sizeof(tokens)) != 0 ||
	    harness_write_file(dir, "repository.ini", ini, strlen(ini), config, sizeof(config)) != 0)
		return -1;
	if (test_server_start(&tls_server, args) != 0)
		return -1;
	snprintf(tls_server.url, sizeof(tls_server.url), "https://127.0.0.1:%d", tls_server.port);
	return 0;
}

/* Blobs in the store: a refused request must leave this unchanged. */
static int stored_count(const struct test_server *s)
{
	char dir[PATH_MAX + 16];

	snprintf(dir, sizeof(dir), "%s/sha256", s->store);
	return harness_count_files(dir);
}

static int hidden_files;

static int count_hidden(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	if (flag == FTW_F && path[ftw->base] == '.')
		hidden_files++;
	return 0;
}

/* Files of uploads in progress: descriptors the server holds on files in
 * the store that have no name (fedc_atomic_file's O_TMPFILE, "#123
 * (deleted)" in /proc), plus named temporary files (".<hex>.XXXXXX", where
 * O_TMPFILE is missing). */
static int upload_files(const struct test_server *s)
{
	char dir[PATH_MAX + 16], fd_path[PATH_MAX + 300], target[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int count = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)s->pid);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		ssize_t n;

		snprintf(fd_path, sizeof(fd_path), "%s/%s", dir, de->d_name);
		n = readlink(fd_path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, s->store, strlen(s->store)) == 0 && strstr(target, " (deleted)"))
			count++;
	}
	closedir(d);
	snprintf(dir, sizeof(dir), "%s/sha256", s->store);
	hidden_files = 0;
	(void)nftw(dir, count_hidden, 16, FTW_PHYS);
	return count + hidden_files;
}

static void assert_tmp_empty(const struct test_server *s)
{
	assert_int_equal(upload_files(s), 0);
}

/* ---- fixtures ----------------------------------------------------------- */

static int group_setup(void **state)
{
	static const char ini[] = "; written by test_repository_server\n"
				  "[repository]\n"
				  "listen = 127.0.0.1\n"
				  "port = 8080\n" /* --port 0 overrides it */
				  "token = " TOKEN "\n"
				  "max_blob_mb = 1\n"
				  "log_level = debug\n";
	char config[PATH_MAX + 32];
	const char *auth_args[] = { "--config", config, NULL };

	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (harness_mkdtemp(config_dir, sizeof(config_dir)) != 0 ||
	    harness_write_file(config_dir, "repository.ini", ini, strlen(ini), config, sizeof(config)) != 0)
		return -1;
	if (test_server_start(&auth_server, auth_args) != 0)
		return -1;
	if (test_server_start(&open_server, NULL) != 0)
		return -1;
	return start_tls_server();
}

static int group_teardown(void **state)
{
	int code_a, code_b, code_c;

	(void)state;
	/* All must stop cleanly on SIGTERM (exit 0; under ASan, no leak). */
	code_a = test_server_destroy(&auth_server);
	code_b = test_server_destroy(&open_server);
	code_c = test_server_destroy(&tls_server);
	pki_free(&pki);
	curl_global_cleanup();
	return code_a == 0 && code_b == 0 && code_c == 0 ? 0 : -1;
}

/* ---- the API ------------------------------------------------------------ */

static void test_put_get_head_roundtrip(void **state)
{
	const size_t len = 300 * 1000;
	unsigned char *blob = malloc(len);
	char hex[65], path[128], stored[PATH_MAX + 128];
	struct reply r;
	struct stat sb;

	(void)state;
	assert_non_null(blob);
	harness_fill(blob, len, 1);
	digest_of(blob, len, hex);
	blob_path(hex, path, sizeof(path));

	assert_int_equal(http(&auth_server, "PUT", path, bearer(), blob, len, BODY_LENGTH, &r), CURLE_OK);
	assert_int_equal(r.status, 201);
	assert_non_null(strstr((char *)r.body, hex));
	reply_free(&r);
	snprintf(stored, sizeof(stored), "%s/sha256/%.2s/%s", auth_server.store, hex, hex);
	assert_int_equal(stat(stored, &sb), 0);
	assert_int_equal(sb.st_size, (off_t)len);

	/* Again: already there. */
	assert_int_equal(http(&auth_server, "PUT", path, bearer(), blob, len, BODY_LENGTH, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	reply_free(&r);

	assert_int_equal(http(&auth_server, "HEAD", path, bearer(), NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.content_length, (long long)len);
	assert_int_equal(r.len, 0);
	reply_free(&r);

	assert_int_equal(http(&auth_server, "GET", path, bearer(), NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/octet-stream");
	assert_int_equal(r.len, len);
	assert_memory_equal(r.body, blob, len);
	reply_free(&r);
	assert_tmp_empty(&auth_server);
	free(blob);
}

static void test_put_empty_blob(void **state)
{
	char hex[65], path[128];
	struct reply r;

	(void)state;
	digest_of("", 0, hex);
	blob_path(hex, path, sizeof(path));
	assert_int_equal(http(&open_server, "PUT", path, NULL, "", 0, BODY_LENGTH, &r), CURLE_OK);
	assert_true(r.status == 201 || r.status == 200);
	reply_free(&r);
	assert_int_equal(http(&open_server, "GET", path, NULL, NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	reply_free(&r);
}

static void test_put_digest_mismatch_stores_nothing(void **state)
{
	unsigned char blob[5000];
	char hex[65], path[128];
	struct reply r;

	int before = stored_count(&open_server);

	(void)state;
	harness_fill(blob, sizeof(blob), 2);
	digest_of(blob, sizeof(blob), hex);
	blob[100] ^= 1; /* the body is no longer what the name says */
	blob_path(hex, path, sizeof(path));
	assert_int_equal(http(&open_server, "PUT", path, NULL, blob, sizeof(blob), BODY_LENGTH, &r),
			 CURLE_OK);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr((char *)r.body, "digest"));
	reply_free(&r);
	/* Chunked as well. */
	assert_int_equal(http(&open_server, "PUT", path, NULL, blob, sizeof(blob), BODY_CHUNKED, &r),
			 CURLE_OK);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	assert_int_equal(http(&open_server, "HEAD", path, NULL, NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	assert_int_equal(stored_count(&open_server), before);
	assert_tmp_empty(&open_server);
}

static void test_put_wrong_body_for_stored_blob(void **state)
{
	unsigned char blob[3000], other[3000];
	char hex[65], path[128];
	struct reply r;

	(void)state;
	harness_fill(blob, sizeof(blob), 3);
	harness_fill(other, sizeof(other), 4);
	digest_of(blob, sizeof(blob), hex);
	blob_path(hex, path, sizeof(path));
	assert_int_equal(http(&open_server, "PUT", path, NULL, blob, sizeof(blob), BODY_LENGTH, &r),
			 CURLE_OK);
	assert_int_equal(r.status, 201);
	reply_free(&r);
	/* The store has it, but a different body under its name is still refused. */
	assert_int_equal(http(&open_server, "PUT", path, NULL, other, sizeof(other), BODY_LENGTH, &r),
			 CURLE_OK);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	assert_int_equal(http(&open_server, "GET", path, NULL, NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, blob, sizeof(blob));
	reply_free(&r);
}

static void put_over_limit(enum body_mode mode)
{
	const size_t len = 1 * MiB + 1; /* the auth server's limit is 1 MiB */
	unsigned char *blob = malloc(len);
	char hex[65], path[128];
	struct reply r;
	int before = stored_count(&auth_server);
	CURLcode cc;

	assert_non_null(blob);
	harness_fill(blob, len, 5 + (uint64_t)mode);
	digest_of(blob, len, hex);
	blob_path(hex, path, sizeof(path));
	cc = http(&auth_server, "PUT", path, bearer(), blob, len, mode, &r);
	if (mode == BODY_LENGTH && (cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR)) {
		/* Refused from its headers, the connection closed while the client
		 * was still sending: a reset may reach it before the 413 (see
		 * BODY_LENGTH_EXPECT, which always gets the status). */
		assert_true(r.status == 0 || r.status == 413);
	} else {
		assert_int_equal(cc, CURLE_OK);
		assert_int_equal(r.status, 413);
		assert_non_null(strstr((char *)r.body, "too-big"));
	}
	reply_free(&r);
	assert_int_equal(http(&auth_server, "HEAD", path, bearer(), NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	assert_int_equal(stored_count(&auth_server), before);
	assert_tmp_empty(&auth_server);
	free(blob);
}

static void test_put_over_limit_content_length(void **state)
{
	(void)state;
	put_over_limit(BODY_LENGTH);
}

static void test_put_over_limit_chunked(void **state)
{
	(void)state;
	put_over_limit(BODY_CHUNKED);
}

/* Announced with "Expect: 100-continue": refused before any of the body is
 * sent, so the client always reads the 413. */
static void test_put_over_limit_announced(void **state)
{
	(void)state;
	put_over_limit(BODY_LENGTH_EXPECT);
}

static void test_put_at_limit_accepted(void **state)
{
	const size_t len = 1 * MiB;
	unsigned char *blob = malloc(len);
	char hex[65], path[128];
	struct reply r;

	(void)state;
	assert_non_null(blob);
	harness_fill(blob, len, 7);
	digest_of(blob, len, hex);
	blob_path(hex, path, sizeof(path));
	assert_int_equal(http(&auth_server, "PUT", path, bearer(), blob, len, BODY_CHUNKED, &r), CURLE_OK);
	assert_int_equal(r.status, 201);
	reply_free(&r);
	free(blob);
}

/* Raw socket: half an upload, then the client vanishes. */
static void test_put_client_gone_mid_body_leaves_nothing(void **state)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	unsigned char chunk[64 * 1024];
	char hex[65], head[512];
	int before = stored_count(&open_server);
	int fd, n, waited;

	(void)state;
	harness_fill(chunk, sizeof(chunk), 9);
	digest_of("whatever", 8, hex);
	addr.sin_port = htons((uint16_t)open_server.port);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	n = snprintf(head, sizeof(head),
		     "PUT /v1/blobs/sha256/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n", hex);
	assert_int_equal(write(fd, head, (size_t)n), n);
	for (int i = 0; i < 4; i++)
		assert_int_equal(write(fd, chunk, sizeof(chunk)), (ssize_t)sizeof(chunk));
	/* The temp file exists while the upload is open ... */
	for (waited = 0; upload_files(&open_server) == 0 && waited < 5000; waited += 20)
		harness_sleep_ms(20);
	assert_int_equal(upload_files(&open_server), 1);
	close(fd);
	/* ... and is gone once the server notices the client left. */
	for (waited = 0; upload_files(&open_server) != 0 && waited < 5000; waited += 20)
		harness_sleep_ms(20);
	if (upload_files(&open_server) != 0) {
		harness_print_file(open_server.log);
		fail_msg("the upload's temp file outlived its client");
	}
	assert_int_equal(stored_count(&open_server), before);
}

/* ---- access ------------------------------------------------------------- */

static void test_auth_missing_or_wrong_token(void **state)
{
	static const char *const bad[] = {
		NULL,				/* no header */
		"Bearer wrong-token",		/* wrong */
		"Bearer " TOKEN "x",		/* right prefix, longer */
		"Bearer test-token-12",		/* a prefix of the right one */
		"Bearer ",			/* empty */
		"Basic dGVzdDp0ZXN0",		/* another scheme */
		TOKEN,				/* no scheme */
	};
	static const char *const methods[] = { "GET", "HEAD", "PUT" };
	unsigned char blob[1000];
	char hex[65], path[128];
	struct reply r;
	int before = stored_count(&auth_server);

	(void)state;
	harness_fill(blob, sizeof(blob), 8);
	digest_of(blob, sizeof(blob), hex);
	blob_path(hex, path, sizeof(path));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (size_t m = 0; m < 3; m++) {
			bool put = strcmp(methods[m], "PUT") == 0;

			http(&auth_server, methods[m], path, bad[i], blob, put ? sizeof(blob) : 0,
			     put ? BODY_LENGTH : BODY_NONE, &r);
			assert_int_equal(r.status, 401);
			assert_true(strncmp(r.www_authenticate, "Bearer", 6) == 0);
			reply_free(&r);
		}
	}
	assert_int_equal(http(&auth_server, "HEAD", path, bearer(), NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 404); /* none of the PUTs stored anything */
	reply_free(&r);
	/* The scheme name is case-insensitive (RFC 7235). */
	assert_int_equal(http(&auth_server, "HEAD", path, "bearer " TOKEN, NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	assert_int_equal(stored_count(&auth_server), before);
	assert_tmp_empty(&auth_server);
}

static void test_no_token_configured_means_open(void **state)
{
	char hex[65], path[128];
	struct reply r;

	(void)state;
	digest_of("open", 4, hex);
	blob_path(hex, path, sizeof(path));
	assert_int_equal(http(&open_server, "PUT", path, NULL, "open", 4, BODY_LENGTH, &r), CURLE_OK);
	assert_int_equal(r.status, 201);
	reply_free(&r);
	assert_int_equal(http(&open_server, "GET", path, "Bearer anything", NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal((char *)r.body, "open");
	reply_free(&r);
}

static void test_paths_outside_the_api_are_404(void **state)
{
	char upper[128], short_hex[128], long_hex[128], trailing[128], sha512[128], dotdot[256];
	char hex[65], path[128];
	const char *paths[] = {
		"/",
		"/etc/passwd",
		"/v1/blobs/sha256/../../x",
		"/v1/blobs/sha256/../../../../../../etc/passwd",
		"/v1/blobs/sha256/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
		"/v1/blobs/sha256/..%2f..%2f..%2f..%2fetc%2fpasswd",
		"/v1/blobs/sha256/",
		"/v1/blobs/sha256",
		"/v1/blobs/",
		upper, short_hex, long_hex, trailing, sha512, dotdot,
	};
	struct reply r;
	int before;

	(void)state;
	/* A blob that exists, so that a lax parser would have something to serve. */
	digest_of("x", 1, hex);
	blob_path(hex, path, sizeof(path));
	assert_int_equal(http(&auth_server, "PUT", path, bearer(), "x", 1, BODY_LENGTH, &r), CURLE_OK);
	reply_free(&r);
	before = stored_count(&auth_server);
	snprintf(upper, sizeof(upper), "/v1/blobs/sha256/%s", hex);
	for (char *p = upper + strlen("/v1/blobs/sha256/"); *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
	snprintf(short_hex, sizeof(short_hex), "/v1/blobs/sha256/%.63s", hex);
	snprintf(long_hex, sizeof(long_hex), "/v1/blobs/sha256/%s0", hex);
	snprintf(trailing, sizeof(trailing), "/v1/blobs/sha256/%s/", hex);
	snprintf(sha512, sizeof(sha512), "/v1/blobs/sha512/%s", hex);
	snprintf(dotdot, sizeof(dotdot), "/v1/blobs/sha256/%s/../../../../etc/passwd", hex);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		for (int head = 0; head < 2; head++) {
			http(&auth_server, head ? "HEAD" : "GET", paths[i], bearer(), NULL, 0, BODY_NONE, &r);
			if (r.status != 404 && r.status != 400)
				fail_msg("%s %s answered %ld", head ? "HEAD" : "GET", paths[i], r.status);
			assert_null(strstr((char *)r.body, "root:"));
			reply_free(&r);
		}
		http(&auth_server, "PUT", paths[i], bearer(), "x", 1, BODY_LENGTH, &r);
		if (r.status != 404 && r.status != 400)
			fail_msg("PUT %s answered %ld", paths[i], r.status);
		reply_free(&r);
	}
	assert_int_equal(stored_count(&auth_server), before);
	assert_tmp_empty(&auth_server);
}

static void test_other_methods_are_405(void **state)
{
	static const char *const methods[] = { "DELETE", "POST", "PATCH", "OPTIONS" };
	char hex[65], path[128];
	struct reply r;

	(void)state;
	digest_of("m", 1, hex);
	blob_path(hex, path, sizeof(path));
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		assert_int_equal(http(&auth_server, methods[i], path, bearer(), NULL, 0, BODY_NONE, &r),
				 CURLE_OK);
		assert_int_equal(r.status, 405);
		assert_non_null(strstr(r.allow, "GET"));
		reply_free(&r);
	}
}

static void test_unknown_blob_is_404(void **state)
{
	char hex[65], path[128];
	struct reply r;

	(void)state;
	digest_of("never stored", 12, hex);
	blob_path(hex, path, sizeof(path));
	assert_int_equal(http(&auth_server, "GET", path, bearer(), NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.content_type, "application/json");
	reply_free(&r);
	assert_int_equal(http(&auth_server, "HEAD", path, bearer(), NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 404);
	reply_free(&r);
}

static void test_requests_are_logged(void **state)
{
	char log[64 * 1024];
	FILE *f;
	size_t n;

	(void)state;
	f = fopen(auth_server.log, "r");
	assert_non_null(f);
	n = fread(log, 1, sizeof(log) - 1, f);
	fclose(f);
	log[n] = '\0';
	/* method, path, status, bytes: one line per request */
	assert_non_null(strstr(log, "PUT /v1/blobs/sha256/"));
	assert_non_null(strstr(log, " 201 in="));
	assert_non_null(strstr(log, " 401 "));
}

/* ---- HTTPS ---------------------------------------------------------------- */

static void test_tls_roundtrip(void **state)
{
	const size_t len = 2 * MiB + 5;
	unsigned char *blob = malloc(len);
	const struct tls_client by_name = { .ca = pki.ca_path, .host = "localhost" };
	char hex[65], path[128];
	struct reply r;

	(void)state;
	assert_non_null(blob);
	harness_fill(blob, len, 40);
	digest_of(blob, len, hex);
	blob_path(hex, path, sizeof(path));
	assert_int_equal(http(&tls_server, "PUT", path, AUTH_ALICE, blob, len, BODY_LENGTH, &r), CURLE_OK);
	assert_int_equal(r.status, 201);
	reply_free(&r);
	assert_int_equal(http(&tls_server, "HEAD", path, AUTH_ALICE, NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.content_length, (long long)len);
	reply_free(&r);
	/* Downloads stream from the file under TLS too (no sendfile there). */
	assert_int_equal(http(&tls_server, "GET", path, AUTH_A, NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, len);
	assert_memory_equal(r.body, blob, len);
	reply_free(&r);
	/* The other name of the certificate. */
	assert_int_equal(http_tls(&tls_server, &by_name, "GET", path, AUTH_B, NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, len);
	reply_free(&r);
	assert_tmp_empty(&tls_server);
	free(blob);
}

static void test_tls_untrusted_ca_refused(void **state)
{
	const struct tls_client system_cas = { 0 };
	struct tls_client other_ca = { 0 };
	struct test_pki other;
	char hex[65], path[128];
	struct reply r;

	(void)state;
	digest_of("tls", 3, hex);
	blob_path(hex, path, sizeof(path));
	assert_int_equal(http_tls(&tls_server, &system_cas, "HEAD", path, AUTH_ALICE, NULL, 0, BODY_NONE, &r),
			 CURLE_PEER_FAILED_VERIFICATION);
	assert_int_equal(r.status, 0);
	reply_free(&r);
	assert_int_equal(pki_make_ca(&other, config_dir, "other-ca"), 0);
	other_ca.ca = other.ca_path;
	assert_int_equal(http_tls(&tls_server, &other_ca, "HEAD", path, AUTH_ALICE, NULL, 0, BODY_NONE, &r),
			 CURLE_PEER_FAILED_VERIFICATION);
	reply_free(&r);
	pki_free(&other);
}

static void test_tls_wrong_hostname_refused(void **state)
{
	const struct tls_client wrong = { .ca = pki.ca_path, .host = "elsewhere.example" };
	char hex[65], path[128];
	struct reply r;

	(void)state;
	digest_of("tls", 3, hex);
	blob_path(hex, path, sizeof(path));
	/* The right server and CA, but a name the certificate does not carry. */
	assert_int_equal(http_tls(&tls_server, &wrong, "HEAD", path, AUTH_ALICE, NULL, 0, BODY_NONE, &r),
			 CURLE_PEER_FAILED_VERIFICATION);
	assert_int_equal(r.status, 0);
	reply_free(&r);
}

static void test_tls_plain_http_refused(void **state)
{
	struct test_server plain = tls_server;
	char hex[65], path[128];
	struct reply r;
	CURLcode cc;

	(void)state;
	digest_of("tls", 3, hex);
	blob_path(hex, path, sizeof(path));
	snprintf(plain.url, sizeof(plain.url), "http://127.0.0.1:%d", tls_server.port);
	/* An HTTPS-only port: no HTTP answer at all, the connection just ends. */
	cc = http(&plain, "GET", path, AUTH_ALICE, NULL, 0, BODY_NONE, &r);
	assert_int_not_equal(cc, CURLE_OK);
	assert_int_equal(r.status, 0);
	reply_free(&r);
	cc = http(&plain, "PUT", path, AUTH_ALICE, "tls", 3, BODY_LENGTH, &r);
	assert_int_not_equal(cc, CURLE_OK);
	reply_free(&r);
	/* ... and the server is none the worse for it. */
	assert_int_equal(status_of(&tls_server, "HEAD", path, AUTH_ALICE, NULL, 0), 404);
}

static void test_tls_before_1_2_refused(void **state)
{
	const struct tls_client old = { .ca = pki.ca_path, .tls11 = true };
	char hex[65], path[128];
	struct reply r;

	(void)state;
	digest_of("tls", 3, hex);
	blob_path(hex, path, sizeof(path));
	assert_int_not_equal(http_tls(&tls_server, &old, "HEAD", path, AUTH_ALICE, NULL, 0, BODY_NONE, &r),
			     CURLE_OK);
	assert_int_equal(r.status, 0);
	reply_free(&r);
}

static void test_tls_over_limit_is_413(void **state)
{
	const size_t len = 4 * MiB + 1; /* tls_server's limit is 4 MiB */
	unsigned char *blob = malloc(len);
	char hex[65], path[128];
	struct reply r;

	(void)state;
	assert_non_null(blob);
	harness_fill(blob, len, 41);
	digest_of(blob, len, hex);
	blob_path(hex, path, sizeof(path));
	http(&tls_server, "PUT", path, AUTH_ALICE, blob, len, BODY_CHUNKED, &r);
	assert_int_equal(r.status, 413);
	reply_free(&r);
	assert_int_equal(status_of(&tls_server, "HEAD", path, AUTH_ALICE, NULL, 0), 404);
	assert_tmp_empty(&tls_server);
	free(blob);
}

/* ---- roles and namespaces ------------------------------------------------ */

static void test_node_reads_published_blobs(void **state)
{
	char hex[65], path[128];

	(void)state;
	digest_of("plan v1", 7, hex);
	blob_path(hex, path, sizeof(path));
	assert_int_equal(status_of(&tls_server, "PUT", path, AUTH_ALICE, "plan v1", 7), 201);
	assert_int_equal(status_of(&tls_server, "HEAD", path, AUTH_A, NULL, 0), 200);
	assert_int_equal(status_of(&tls_server, "GET", path, AUTH_B, NULL, 0), 200);
	/* The `token` setting is a researcher too. */
	assert_int_equal(status_of(&tls_server, "GET", path, AUTH_ADMIN, NULL, 0), 200);
}

static void test_node_cannot_publish(void **state)
{
	char hex[65], path[128];
	int before = stored_count(&tls_server);
	struct reply r;

	(void)state;
	digest_of("node's own plan", 15, hex);
	blob_path(hex, path, sizeof(path));
	http(&tls_server, "PUT", path, AUTH_A, "node's own plan", 15, BODY_LENGTH, &r);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr((char *)r.body, "\"error\":\"forbidden\""));
	assert_string_equal(r.content_type, "application/json");
	reply_free(&r);
	assert_int_equal(status_of(&tls_server, "HEAD", path, AUTH_ALICE, NULL, 0), 404);
	assert_int_equal(stored_count(&tls_server), before);
	assert_tmp_empty(&tls_server);
}

static void test_node_own_updates(void **state)
{
	size_t len = 0;
	unsigned char *blob = harness_params_blob(25000, 42, &len);
	char hex[65], path[160];
	struct reply r;

	(void)state;
	assert_non_null(blob);
	digest_of(blob, len, hex);
	update_path("a", hex, path, sizeof(path));
	assert_int_equal(status_of(&tls_server, "HEAD", path, AUTH_A, NULL, 0), 404);
	assert_int_equal(status_of(&tls_server, "PUT", path, AUTH_A, blob, len), 201);
	assert_int_equal(status_of(&tls_server, "PUT", path, AUTH_A, blob, len), 200);
	assert_int_equal(status_of(&tls_server, "HEAD", path, AUTH_A, NULL, 0), 200);
	assert_int_equal(http(&tls_server, "GET", path, AUTH_A, NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, len);
	assert_memory_equal(r.body, blob, len);
	reply_free(&r);
	free(blob);
}

static void test_node_cannot_touch_other_updates(void **state)
{
	char hex[65], path[160];
	struct reply r;
	size_t len = 0;
	unsigned char *upd = harness_update_blob("update of a", &len);

	(void)state;
	assert_non_null(upd);
	digest_of(upd, len, hex);
	update_path("a", hex, path, sizeof(path));
	assert_int_equal(status_of(&tls_server, "PUT", path, AUTH_A, upd, len), 201);
	assert_int_equal(http(&tls_server, "GET", path, AUTH_B, NULL, 0, BODY_NONE, &r), CURLE_OK);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr((char *)r.body, "forbidden"));
	reply_free(&r);
	assert_int_equal(status_of(&tls_server, "HEAD", path, AUTH_B, NULL, 0), 403);
	assert_int_equal(status_of(&tls_server, "PUT", path, AUTH_B, upd, len), 403);
	/* Unknown or not: b learns nothing of what a has. */
	digest_of("never stored", 12, hex);
	update_path("a", hex, path, sizeof(path));
	assert_int_equal(status_of(&tls_server, "HEAD", path, AUTH_B, NULL, 0), 403);
	free(upd);
}

static void test_researcher_reads_every_update_writes_none(void **state)
{
	char hex[65], path[160];
	size_t len = 0;
	unsigned char *upd = harness_update_blob("update of b", &len);

	(void)state;
	assert_non_null(upd);
	digest_of(upd, len, hex);
	update_path("b", hex, path, sizeof(path));
	assert_int_equal(status_of(&tls_server, "PUT", path, AUTH_B, upd, len), 201);
	free(upd);
	assert_int_equal(status_of(&tls_server, "GET", path, AUTH_ALICE, NULL, 0), 200);
	assert_int_equal(status_of(&tls_server, "HEAD", path, AUTH_ADMIN, NULL, 0), 200);
	/* An update is only ever written by its node. */
	digest_of("forged update", 13, hex);
	update_path("b", hex, path, sizeof(path));
	assert_int_equal(status_of(&tls_server, "PUT", path, AUTH_ALICE, "forged update", 13), 403);
	assert_int_equal(status_of(&tls_server, "HEAD", path, AUTH_ALICE, NULL, 0), 404);
}

static void test_stored_blob_visible_only_where_put(void **state)
{
	char hex[65], blobs[128], of_a[160], of_b[160], marker[PATH_MAX + 256];
	int before;
	struct stat sb;
	size_t len = 0;
	unsigned char *shared = harness_update_blob("shared bytes", &len);

	(void)state;
	assert_non_null(shared);
	digest_of(shared, len, hex);
	blob_path(hex, blobs, sizeof(blobs));
	update_path("a", hex, of_a, sizeof(of_a));
	update_path("b", hex, of_b, sizeof(of_b));
	assert_int_equal(status_of(&tls_server, "PUT", of_a, AUTH_A, shared, len), 201);
	before = stored_count(&tls_server);
	/* On disk, but never published: 404 for everybody. */
	assert_int_equal(status_of(&tls_server, "HEAD", blobs, AUTH_ALICE, NULL, 0), 404);
	assert_int_equal(status_of(&tls_server, "GET", blobs, AUTH_A, NULL, 0), 404);
	assert_int_equal(status_of(&tls_server, "HEAD", of_b, AUTH_B, NULL, 0), 404);
	/* A researcher publishes the same bytes: hashed, nothing new stored,
	 * and 201 as for bytes the store never had (new to this namespace). */
	assert_int_equal(status_of(&tls_server, "PUT", blobs, AUTH_ALICE, shared, len), 201);
	assert_int_equal(status_of(&tls_server, "GET", blobs, AUTH_B, NULL, 0), 200);
	/* Still hashed when stored: wrong bytes under that name are refused. */
	assert_int_equal(status_of(&tls_server, "PUT", of_b, AUTH_B, "shared bytez", 12), 400);
	assert_int_equal(status_of(&tls_server, "HEAD", of_b, AUTH_B, NULL, 0), 404);
	/* b learns nothing of what a stored: 201, as for new bytes, then 200. */
	assert_int_equal(status_of(&tls_server, "PUT", of_b, AUTH_B, shared, len), 201);
	assert_int_equal(status_of(&tls_server, "PUT", of_b, AUTH_B, shared, len), 200);
	assert_int_equal(status_of(&tls_server, "HEAD", of_b, AUTH_B, NULL, 0), 200);
	assert_int_equal(stored_count(&tls_server), before);
	free(shared);
	snprintf(marker, sizeof(marker), "%s/updates/b/%.2s/%s", tls_server.store, hex, hex);
	assert_int_equal(stat(marker, &sb), 0);
	snprintf(marker, sizeof(marker), "%s/published/%.2s/%s", tls_server.store, hex, hex);
	assert_int_equal(stat(marker, &sb), 0);
}

/* A node's namespace holds parameter files only: anything else is refused
 * with 422 and saying why, and stays invisible. */
static void test_update_that_is_not_parameters_refused(void **state)
{
	static const char junk[] = "a film, a database dump, anything but parameters";
	size_t len = 0;
	unsigned char *upd = harness_update_blob("valid", &len);
	char hex[65], path[160];
	struct reply r;

	int before = stored_count(&tls_server);

	(void)state;
	assert_non_null(upd);
	digest_of(junk, sizeof(junk), hex);
	update_path("a", hex, path, sizeof(path));
	assert_int_equal(http(&tls_server, "PUT", path, AUTH_A, junk, sizeof(junk), BODY_LENGTH, &r), CURLE_OK);
	assert_int_equal(r.status, 422);
	assert_non_null(strstr((char *)r.body, "not-parameters"));
	reply_free(&r);
	assert_int_equal(status_of(&tls_server, "HEAD", path, AUTH_A, NULL, 0), 404);
	/* nothing of it was kept: refused bodies cannot fill the disk */
	assert_int_equal(stored_count(&tls_server), before);
	assert_tmp_empty(&tls_server);
	/* cut short: a parameter file missing its last byte */
	digest_of(upd, len - 1, hex);
	update_path("a", hex, path, sizeof(path));
	assert_int_equal(status_of(&tls_server, "PUT", path, AUTH_A, upd, len - 1), 422);
	/* the whole file is taken */
	digest_of(upd, len, hex);
	update_path("a", hex, path, sizeof(path));
	assert_int_equal(status_of(&tls_server, "PUT", path, AUTH_A, upd, len), 201);
	free(upd);
}

static void test_checks_order_with_roles(void **state)
{
	const size_t len = 4 * MiB + 1; /* over tls_server's limit */
	unsigned char *blob = calloc(1, len);
	char hex[65], blobs[128], of_a[160], bad[160];
	struct reply r;

	(void)state;
	digest_of("order", 5, hex);
	blob_path(hex, blobs, sizeof(blobs));
	update_path("a", hex, of_a, sizeof(of_a));
	update_path("..", hex, bad, sizeof(bad));
	assert_int_equal(status_of(&tls_server, "GET", bad, NULL, NULL, 0), 404);     /* path */
	assert_int_equal(status_of(&tls_server, "DELETE", of_a, NULL, NULL, 0), 405); /* method */
	assert_int_equal(status_of(&tls_server, "GET", of_a, NULL, NULL, 0), 401);    /* token */
	assert_int_equal(status_of(&tls_server, "GET", of_a, "Bearer node-c-token", NULL, 0), 401);
	/* 403 before 400: a node's PUT of a wrong body on /v1/blobs. */
	assert_int_equal(status_of(&tls_server, "PUT", blobs, AUTH_A, "not order", 9), 403);
	/* 403 before 413: refused from the headers, whatever the size. */
	assert_non_null(blob);
	http(&tls_server, "PUT", of_a, AUTH_B, blob, len, BODY_LENGTH_EXPECT, &r);
	assert_int_equal(r.status, 403);
	reply_free(&r);
	http(&tls_server, "PUT", of_a, AUTH_A, blob, len, BODY_LENGTH_EXPECT, &r);
	assert_int_equal(r.status, 413);
	reply_free(&r);
	assert_tmp_empty(&tls_server);
	free(blob);
}

static void test_token_prefix_or_extension_refused(void **state)
{
	static const char *const bad[] = {
		"Bearer node-a-toke", "Bearer node-a-tokenx", "Bearer node-a-token ", "Bearer NODE-A-TOKEN",
	};
	char hex[65], path[160];

	(void)state;
	digest_of("ct", 2, hex);
	update_path("a", hex, path, sizeof(path));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long st = status_of(&tls_server, "HEAD", path, bad[i], NULL, 0);

		if (st != 401)
			fail_msg("\"%s\" answered %ld", bad[i], st);
	}
	assert_int_equal(status_of(&tls_server, "HEAD", path, AUTH_A, NULL, 0), 404);
}

static void test_update_paths_malformed_are_404(void **state)
{
	char hex[65], paths[9][200];
	char long_id[80];
	int before = stored_count(&tls_server);

	(void)state;
	digest_of("p", 1, hex);
	memset(long_id, 'n', 65);
	long_id[65] = '\0';
	snprintf(paths[0], sizeof(paths[0]), "/v1/updates/../sha256/%s", hex);
	snprintf(paths[1], sizeof(paths[1]), "/v1/updates//sha256/%s", hex);
	snprintf(paths[2], sizeof(paths[2]), "/v1/updates/.hidden/sha256/%s", hex);
	snprintf(paths[3], sizeof(paths[3]), "/v1/updates/%s/sha256/%s", long_id, hex);
	snprintf(paths[4], sizeof(paths[4]), "/v1/updates/a%%2fb/sha256/%s", hex);
	snprintf(paths[5], sizeof(paths[5]), "/v1/updates/a/sha512/%s", hex);
	snprintf(paths[6], sizeof(paths[6]), "/v1/updates/a/sha256/%s/", hex);
	snprintf(paths[7], sizeof(paths[7]), "/v1/updates/a/b/sha256/%s", hex);
	snprintf(paths[8], sizeof(paths[8]), "/v1/updates/a%%20b/sha256/%s", hex);
	for (size_t i = 0; i < 9; i++) {
		struct reply r;

		http(&tls_server, "GET", paths[i], AUTH_ALICE, NULL, 0, BODY_NONE, &r);
		if (r.status != 404 && r.status != 400)
			fail_msg("GET %s answered %ld", paths[i], r.status);
		reply_free(&r);
		http(&tls_server, "PUT", paths[i], AUTH_A, "p", 1, BODY_LENGTH, &r);
		if (r.status != 404 && r.status != 400)
			fail_msg("PUT %s answered %ld", paths[i], r.status);
		reply_free(&r);
	}
	assert_int_equal(stored_count(&tls_server), before);
	assert_tmp_empty(&tls_server);
}

static void test_open_store_serves_both_namespaces(void **state)
{
	char hex[65], blobs[128], of_x[160];
	size_t len = 0;
	unsigned char *upd = harness_update_blob("open update", &len);

	(void)state;
	assert_non_null(upd);
	digest_of(upd, len, hex);
	blob_path(hex, blobs, sizeof(blobs));
	update_path("x", hex, of_x, sizeof(of_x));
	assert_int_equal(status_of(&open_server, "PUT", of_x, NULL, upd, len), 201);
	assert_int_equal(status_of(&open_server, "GET", of_x, NULL, NULL, 0), 200);
	/* Markers still apply without auth. */
	assert_int_equal(status_of(&open_server, "HEAD", blobs, NULL, NULL, 0), 404);
	assert_int_equal(status_of(&open_server, "PUT", blobs, NULL, upd, len), 201);
	assert_int_equal(status_of(&open_server, "HEAD", blobs, NULL, NULL, 0), 200);
	free(upd);
}

static bool log_contains(const struct test_server *s, const char *needle)
{
	static char log[256 * 1024];
	FILE *f = fopen(s->log, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(log, 1, sizeof(log) - 1, f);
	fclose(f);
	log[n] = '\0';
	return strstr(log, needle) != NULL;
}

/* The log line of a request is written once it is over, a moment after the
 * client has its answer: wait for it (5 s at most). */
static bool wait_for_log(const struct test_server *s, const char *needle)
{
	for (int waited = 0; !log_contains(s, needle) && waited < 5000; waited += 20)
		harness_sleep_ms(20);
	return log_contains(s, needle);
}

static void test_requests_log_the_principal(void **state)
{
	char hex[65], path[160], line[300];
	size_t len = 0;
	unsigned char *upd = harness_update_blob("logged", &len);

	(void)state;
	assert_non_null(upd);
	digest_of(upd, len, hex);
	update_path("b", hex, path, sizeof(path));
	assert_int_equal(status_of(&tls_server, "PUT", path, AUTH_B, upd, len), 201);
	free(upd);
	assert_int_equal(status_of(&tls_server, "GET", path, AUTH_A, NULL, 0), 403);
	assert_int_equal(status_of(&tls_server, "GET", path, NULL, NULL, 0), 401);
	snprintf(line, sizeof(line), "127.0.0.1 node:b PUT %s 201", path);
	assert_true(wait_for_log(&tls_server, line));
	snprintf(line, sizeof(line), "127.0.0.1 node:a GET %s 403", path);
	assert_true(wait_for_log(&tls_server, line));
	/* No token, no principal. */
	snprintf(line, sizeof(line), "127.0.0.1 - GET %s 401", path);
	assert_true(wait_for_log(&tls_server, line));
	assert_true(wait_for_log(&tls_server, " researcher:alice "));
}

/* One node cannot fill the disk: past node_quota_mb of distinct updates its
 * PUTs are refused (507 quota-exceeded), whether the body's length is
 * announced or not; an update it already has costs nothing; other nodes are
 * not affected; and a restarted server counts what is on disk. */
static void test_node_quota(void **state)
{
	char dir[PATH_MAX], tokens[PATH_MAX], store[PATH_MAX + 16], hex[3][65], path[3][160];
	const char *args[] = { "--store", store, "--tokens-file", tokens, "--node-quota-mb", "1", NULL };
	unsigned char *blob[3];
	size_t len[3];
	struct test_server s;
	struct reply r;

	(void)state;
	assert_int_equal(harness_mkdtemp(dir, sizeof(dir)), 0);
	assert_int_equal(write_tokens_file(dir, tokens, sizeof(tokens)), 0);
	snprintf(store, sizeof(store), "%s/store", dir);
	for (int i = 0; i < 3; i++) {
		blob[i] = harness_params_blob(i < 2 ? 150000 : 1000, 100 + (uint64_t)i, &len[i]); /* 600 KB, 600 KB, 4 KB */
		assert_non_null(blob[i]);
		digest_of(blob[i], len[i], hex[i]);
		update_path(i < 2 ? "a" : "b", hex[i], path[i], sizeof(path[i]));
	}
	assert_int_equal(test_server_start(&s, args), 0);
	assert_int_equal(status_of(&s, "PUT", path[0], AUTH_A, blob[0], len[0]), 201);
	assert_int_equal(status_of(&s, "PUT", path[0], AUTH_A, blob[0], len[0]), 200); /* nothing more */
	assert_int_equal(http(&s, "PUT", path[1], AUTH_A, blob[1], len[1], BODY_LENGTH_EXPECT, &r), CURLE_OK);
	assert_int_equal(r.status, 507);
	assert_non_null(strstr((char *)r.body, "quota-exceeded"));
	reply_free(&r);
	assert_int_equal(http(&s, "PUT", path[1], AUTH_A, blob[1], len[1], BODY_CHUNKED, &r), CURLE_OK);
	assert_int_equal(r.status, 507);
	reply_free(&r);
	assert_int_equal(status_of(&s, "HEAD", path[1], AUTH_A, NULL, 0), 404);
	assert_int_equal(status_of(&s, "PUT", path[2], AUTH_B, blob[2], len[2]), 201); /* b has its own */
	assert_int_equal(test_server_destroy(&s), 0);
	/* the next server counts a's 600 KB from the store */
	assert_int_equal(test_server_start(&s, args), 0);
	assert_int_equal(status_of(&s, "PUT", path[1], AUTH_A, blob[1], len[1]), 507);
	assert_int_equal(test_server_destroy(&s), 0);
	for (int i = 0; i < 3; i++)
		free(blob[i]);
	harness_rmdtemp(dir);
}

static void test_legacy_store_blobs_stay_published(void **state)
{
	char dir[PATH_MAX], store[PATH_MAX + 16], fan[PATH_MAX + 32], file[PATH_MAX + 128];
	char hex[65], blobs[128], of_a[160];
	const char *args[] = { "--store", store, NULL };
	struct test_server s;

	(void)state;
	/* A store written before namespaces existed: blobs, no published/. */
	assert_int_equal(harness_mkdtemp(dir, sizeof(dir)), 0);
	digest_of("legacy", 6, hex);
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(fan, sizeof(fan), "%s/sha256/%.2s", store, hex);
	assert_int_equal(fedc_mkdir_p(fan, 0700), FEDC_OK);
	snprintf(file, sizeof(file), "%s/%s", fan, hex);
	assert_int_equal(fedc_write_atomic(file, "legacy", 6), FEDC_OK);
	assert_int_equal(test_server_start(&s, args), 0);
	blob_path(hex, blobs, sizeof(blobs));
	update_path("a", hex, of_a, sizeof(of_a));
	assert_int_equal(status_of(&s, "GET", blobs, NULL, NULL, 0), 200);
	assert_int_equal(status_of(&s, "GET", of_a, NULL, NULL, 0), 404);
	assert_int_equal(test_server_destroy(&s), 0);
	harness_rmdtemp(dir);
}

/* ---- downloads in turn -------------------------------------------------- */

/* 32 MiB: more than the socket buffers of both ends hold, so a download to a
 * client that stops reading cannot end. */
#define TURN_BLOB_BYTES ((size_t)32 << 20)

/* A raw GET of `hex` from `s` on a fresh connection with a small receive
 * buffer; the socket. */
static int raw_get(const struct test_server *s, const char *hex)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char head[256];
	int fd = socket(AF_INET, SOCK_STREAM, 0), small = 16 * 1024, n;

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	addr.sin_port = htons((uint16_t)s->port);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	n = snprintf(head, sizeof(head), "GET /v1/blobs/sha256/%s HTTP/1.1\r\nHost: x\r\n\r\n", hex);
	assert_int_equal(write(fd, head, (size_t)n), n);
	return fd;
}

static bool readable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* Reads the response on `fd` (its status line checked) and its body, up
 * to TURN_BLOB_BYTES (the connection stays open: keep-alive); the body's
 * length. */
static size_t read_response(int fd)
{
	static char buf[256 * 1024];
	size_t got = 0, body = 0;
	const char *end = NULL;
	ssize_t n;

	while (!end && got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
		got += (size_t)n;
		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	assert_non_null(end);
	assert_memory_equal(buf, "HTTP/1.1 200", 12);
	body = got - (size_t)(end + 4 - buf);
	while (body < TURN_BLOB_BYTES && (n = read(fd, buf, sizeof(buf))) > 0)
		body += (size_t)n;
	return body;
}

/* A server with --downloads-at-once `at_once` (and --download-wait-max-s
 * `wait_s`) and a 32 MiB blob in it; its digest. */
static void start_turns_server(struct test_server *s, const char *at_once, const char *wait_s, char hex[65])
{
	const char *args[] = { "--downloads-at-once", at_once, "--download-wait-max-s", wait_s, "--log-level", "debug",
			       NULL };
	unsigned char *blob = malloc(TURN_BLOB_BYTES);
	char path[128];
	struct reply r;

	assert_non_null(blob);
	harness_fill(blob, TURN_BLOB_BYTES, 77);
	digest_of(blob, TURN_BLOB_BYTES, hex);
	blob_path(hex, path, sizeof(path));
	assert_int_equal(test_server_start(s, args), 0);
	assert_int_equal(http(s, "PUT", path, NULL, blob, TURN_BLOB_BYTES, BODY_LENGTH, &r), CURLE_OK);
	assert_int_equal(r.status, 201);
	reply_free(&r);
	free(blob);
}

/* With downloads_at_once = 1, a second download of 1 MiB or more waits,
 * not even its headers sent, until the first has been sent; then it is
 * served whole. With 0 (the open server) it starts at once. */
static void test_downloads_in_turn(void **state)
{
	struct test_server s;
	char hex[65];
	int first, second;

	(void)state;
	start_turns_server(&s, "1", "20", hex);
	first = raw_get(&s, hex);
	assert_true(readable_within(first, 5000)); /* its turn: sending */
	second = raw_get(&s, hex);
	assert_false(readable_within(second, 1000));
	assert_true(wait_for_log(&s, "waits its turn (1 waiting)"));
	assert_int_equal(read_response(first), TURN_BLOB_BYTES);
	close(first);
	assert_true(readable_within(second, 5000));
	assert_int_equal(read_response(second), TURN_BLOB_BYTES);
	close(second);
	assert_int_equal(test_server_destroy(&s), 0);

	start_turns_server(&s, "0", "20", hex);
	first = raw_get(&s, hex);
	assert_true(readable_within(first, 5000));
	second = raw_get(&s, hex);
	assert_true(readable_within(second, 5000)); /* no turns: both at once */
	assert_false(log_contains(&s, "waits its turn"));
	assert_int_equal(read_response(second), TURN_BLOB_BYTES);
	assert_int_equal(read_response(first), TURN_BLOB_BYTES);
	close(first);
	close(second);
	assert_int_equal(test_server_destroy(&s), 0);
}

/* A download waits at most download_wait_max_s for its turn (so that a
 * node's transfer does not stall into its own timeout), then is sent beside
 * the one holding the turn, and says so in the log. */
static void test_download_waits_at_most_its_longest(void **state)
{
	struct test_server s;
	char hex[65];
	int64_t queued;
	int first, second;

	(void)state;
	start_turns_server(&s, "1", "1", hex);
	first = raw_get(&s, hex);
	assert_true(readable_within(first, 5000));
	second = raw_get(&s, hex);
	queued = fedc_now_ms();
	assert_false(readable_within(second, 300));
	assert_true(readable_within(second, 5000)); /* after its 1 s, the first still stalled */
	assert_true(fedc_now_ms() - queued >= 900);
	/* said once the waiter is resumed: it may be served first */
	assert_true(wait_for_log(&s, "1 download(s) waited 1000 ms for a turn: sent beside the others"));
	assert_int_equal(read_response(second), TURN_BLOB_BYTES);
	assert_int_equal(read_response(first), TURN_BLOB_BYTES);
	close(first);
	close(second);
	assert_int_equal(test_server_destroy(&s), 0);
}

/* A download waiting its turn does not keep the server from stopping (the
 * waiting connection is resumed first: libmicrohttpd aborts when stopped
 * with one suspended), and a client that leaves while it waits gives its
 * place up: the turn goes on to the next. */
static void test_waiting_download_and_stop(void **state)
{
	struct test_server s;
	char hex[65];
	int first, gone, third;

	(void)state;
	start_turns_server(&s, "1", "20", hex);
	first = raw_get(&s, hex);
	assert_true(readable_within(first, 5000));
	gone = raw_get(&s, hex);
	third = raw_get(&s, hex);
	assert_false(readable_within(third, 500));
	close(gone);
	assert_int_equal(read_response(first), TURN_BLOB_BYTES);
	close(first);
	assert_true(readable_within(third, 5000));
	/* third is sending, stalled; one more waits behind it */
	first = raw_get(&s, hex);
	assert_false(readable_within(first, 500));
	assert_int_equal(test_server_stop(&s), 0); /* exit 0 on SIGTERM, in time */
	close(first);
	close(third);
	test_server_destroy(&s);
}

/* ---- process: signals, flags, config ------------------------------------ */

static void test_sigterm_stops_cleanly(void **state)
{
	struct test_server s;

	(void)state;
	assert_int_equal(test_server_start(&s, NULL), 0);
	assert_int_equal(test_server_stop(&s), 0);
	test_server_destroy(&s);
}

/* The port file is written through a fedc_atomic_file: a "port.tmp" planted
 * beside it (a symlink to another file) is neither followed nor needed. */
static void test_port_file_planted_tmp_not_followed(void **state)
{
	char d[PATH_MAX], store[PATH_MAX + 16], port[PATH_MAX + 16], tmp[PATH_MAX + 16], victim[PATH_MAX + 16],
		log[PATH_MAX + 16], text[64];
	char *argv[] = { (char *)HARNESS_REPOSITORY_BIN, "--store", store, "--port", "0", "--port-file", port, NULL };
	struct test_server s;
	int got = 0;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(harness_mkdtemp(d, sizeof(d)), 0);
	snprintf(store, sizeof(store), "%s/store", d);
	snprintf(port, sizeof(port), "%s/port", d);
	snprintf(tmp, sizeof(tmp), "%s/port.tmp", d);
	snprintf(victim, sizeof(victim), "%s/victim", d);
	snprintf(log, sizeof(log), "%s/server.log", d);
	assert_int_equal(harness_write_file(d, "victim", "precious", 8, victim, sizeof(victim)), 0);
	assert_int_equal(symlink(victim, tmp), 0);
	s.pid = fork();
	assert_true(s.pid >= 0);
	if (s.pid == 0)
		harness_exec(argv, log);
	for (int waited = 0; waited < 10000 && got <= 0; waited += 20) {
		got = harness_read_port(port);
		if (got <= 0)
			harness_sleep_ms(20);
	}
	assert_int_equal(test_server_stop(&s), 0);
	if (got <= 0)
		harness_print_file(log);
	assert_true(got > 0);
	file_text(victim, text, sizeof(text));
	assert_string_equal(text, "precious");
	harness_rmdtemp(d);
}

/* A port file whose name leaves no room for a temporary name beside it:
 * the server stops with the error, and the old file is intact with nothing
 * left beside it. */
static void test_port_file_failure_leaves_old_file(void **state)
{
	char d[PATH_MAX], store[PATH_MAX + 16], port[PATH_MAX + 300], name[256], out[8192], text[64];
	const char *args[] = { "--store", store, "--port", "0", "--port-file", port, NULL };
	int code;

	(void)state;
	memset(name, 'p', 250);
	name[250] = '\0';
	assert_int_equal(harness_mkdtemp(d, sizeof(d)), 0);
	snprintf(store, sizeof(store), "%s/store", d);
	snprintf(port, sizeof(port), "%s/%s", d, name);
	assert_int_equal(harness_write_file(d, name, "old", 3, port, sizeof(port)), 0);
	code = harness_run_repository(args, out, sizeof(out));
	if (code != 1)
		fail_msg("expected exit 1, got %d; output:\n%s", code, out);
	assert_non_null(strstr(out, "--port-file"));
	file_text(port, text, sizeof(text));
	assert_string_equal(text, "old");
	assert_int_equal(dir_entries(d), 2); /* store/ and the port file */
	harness_rmdtemp(d);
}

/* Runs the server with `args`, expects exit 2 and every `needles` in its output. */
static void expect_usage_error(const char *const *args, const char *const *needles)
{
	char out[8192];
	int code = harness_run_repository(args, out, sizeof(out));

	if (code != 2)
		fail_msg("expected exit 2, got %d; output:\n%s", code, out);
	for (size_t i = 0; needles[i]; i++) {
		if (!strstr(out, needles[i]))
			fail_msg("output lacks \"%s\":\n%s", needles[i], out);
	}
}

static void config_error(const char *ini, const char *const *needles)
{
	char path[PATH_MAX + 32];
	const char *args[] = { "--config", path, NULL };

	assert_int_equal(harness_write_file(config_dir, "bad.ini", ini, strlen(ini), path, sizeof(path)), 0);
	expect_usage_error(args, needles);
}

static void test_config_missing_store_dir(void **state)
{
	(void)state;
	config_error("[repository]\nport = 0\n", (const char *const[]){ "bad.ini", "store_dir", NULL });
	/* No config and no --store either. */
	expect_usage_error((const char *const[]){ "--port", "0", NULL },
			   (const char *const[]){ "store_dir", NULL });
}

static void test_config_bad_port(void **state)
{
	(void)state;
	config_error("[repository]\nstore_dir = store\nport = 99999\n",
		     (const char *const[]){ "bad.ini:3", "port", "99999", NULL });
	config_error("[repository]\nstore_dir = store\nport = 80a\n",
		     (const char *const[]){ "bad.ini:3", "port", NULL });
}

static void test_config_bad_values(void **state)
{
	(void)state;
	config_error("[repository]\nport = 0\nstore_dir = store\nmax_blob_mb = 0\n",
		     (const char *const[]){ "bad.ini:4", "max_blob_mb", NULL });
	config_error("[repository]\nport = 0\nstore_dir = store\nlog_level = loud\n",
		     (const char *const[]){ "log_level", "loud", NULL });
	config_error("[repository]\nport = 0\nstore_dir = store\ntoken = two words\n",
		     (const char *const[]){ "token", NULL });
	config_error("[repository]\nport = 0\nstore_dir = store\ndownload_wait_max_s = 0\n",
		     (const char *const[]){ "bad.ini:4", "download_wait_max_s", "1..3600", NULL });
}

static void test_config_unknown_key_and_section(void **state)
{
	(void)state;
	config_error("[repository]\nport = 0\nstore_dir = store\ncolour = red\n",
		     (const char *const[]){ "bad.ini:4", "colour", NULL });
	config_error("[repositroy]\nport = 0\nstore_dir = store\n",
		     (const char *const[]){ "bad.ini:2", "repositroy", NULL });
	config_error("[repository]\nthis is not ini\n", (const char *const[]){ "bad.ini:2", NULL });
}

static void test_flags_bad(void **state)
{
	(void)state;
	expect_usage_error((const char *const[]){ "--store", "/tmp/x", "--port", "abc", NULL },
			   (const char *const[]){ "--port", "abc", NULL });
	expect_usage_error((const char *const[]){ "--store", "/tmp/x", "--max-blob-mb", "-5", NULL },
			   (const char *const[]){ "--max-blob-mb", NULL });
	expect_usage_error((const char *const[]){ "--store", "/tmp/x", "--downloads-at-once", "-1", NULL },
			   (const char *const[]){ "--downloads-at-once", NULL });
	expect_usage_error((const char *const[]){ "--store", "/tmp/x", "--download-wait-max-s", "soon", NULL },
			   (const char *const[]){ "--download-wait-max-s", "soon", NULL });
	expect_usage_error((const char *const[]){ "--store", "/tmp/x", "--bogus", NULL },
			   (const char *const[]){ "--bogus", NULL });
	expect_usage_error((const char *const[]){ "--store", NULL }, (const char *const[]){ "--store", NULL });
	expect_usage_error((const char *const[]){ "--config", "/nonexistent/repo.ini", NULL },
			   (const char *const[]){ "/nonexistent/repo.ini", NULL });
}

/* ---- tokens file and TLS files ------------------------------------------- */

/* Starting with a tokens file of `content` (NULL: a missing file) must fail
 * with exit 2 and `needle` in the output. */
static void tokens_error(const char *content, const char *needle)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], store[PATH_MAX + 16];
	const char *args[] = { "--store", store, "--port", "0", "--tokens-file", path, NULL };
	const char *needles[] = { needle, NULL };

	assert_int_equal(harness_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(store, sizeof(store), "%s/store", dir);
	if (content)
		assert_int_equal(harness_write_file(dir, "tokens.txt", content, strlen(content), path,
						    sizeof(path)), 0);
	else
		snprintf(path, sizeof(path), "%s/missing.txt", dir);
	expect_usage_error(args, needles);
	harness_rmdtemp(dir);
}

static void test_tokens_file_malformed_refused(void **state)
{
	char hex[65], text[512];

	(void)state;
	digest_of("t", 1, hex);
	snprintf(text, sizeof(text), "# ok\nnode a %s\nadmin b %s\n", hex, hex);
	tokens_error(text, "tokens.txt:3: role \"admin\"");
	snprintf(text, sizeof(text), "\n\nnode a\n");
	tokens_error(text, "tokens.txt:3: expected 3 fields");
	snprintf(text, sizeof(text), "node a %s extra\n", hex);
	tokens_error(text, "tokens.txt:1: expected 3 fields");
	snprintf(text, sizeof(text), "node ../x %s\n", hex);
	tokens_error(text, "tokens.txt:1: id");
	snprintf(text, sizeof(text), "node a my-secret-token\n");
	tokens_error(text, "tokens.txt:1: expected the SHA-256");
	snprintf(text, sizeof(text), "node a %.63sA\n", hex);
	tokens_error(text, "tokens.txt:1: expected the SHA-256");
	snprintf(text, sizeof(text), "node a %s\nresearcher r %s\n", hex, hex);
	tokens_error(text, "tokens.txt:2: same token as line 1");
	/* A missing file too (exit 2, named). */
	tokens_error(NULL, "missing.txt");
}

static void test_tls_files_checked(void **state)
{
	char dir[PATH_MAX], store[PATH_MAX + 16], cert[PATH_MAX], key[PATH_MAX];
	char cert2[PATH_MAX], key2[PATH_MAX], junk[PATH_MAX + 32];

	(void)state;
	assert_int_equal(harness_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(store, sizeof(store), "%s/store", dir);
	assert_int_equal(pki_make_server(&pki, dir, "one", "IP:127.0.0.1", cert, key), 0);
	assert_int_equal(pki_make_server(&pki, dir, "two", "IP:127.0.0.1", cert2, key2), 0);
	assert_int_equal(harness_write_file(dir, "junk.pem", "not pem\n", 8, junk, sizeof(junk)), 0);
	expect_usage_error((const char *const[]){ "--store", store, "--tls-cert", cert, NULL },
			   (const char *const[]){ "tls_cert_file and tls_key_file", NULL });
	expect_usage_error((const char *const[]){ "--store", store, "--tls-cert", cert, "--tls-key", key2, NULL },
			   (const char *const[]){ key2, "is not the key of", NULL });
	expect_usage_error((const char *const[]){ "--store", store, "--tls-cert", junk, "--tls-key", key, NULL },
			   (const char *const[]){ junk, "no PEM certificate", NULL });
	expect_usage_error((const char *const[]){ "--store", store, "--tls-cert", cert, "--tls-key", junk, NULL },
			   (const char *const[]){ junk, "no PEM private key", NULL });
	config_error("[repository]\nstore_dir = store\ntls_key_file = k.pem\n",
		     (const char *const[]){ "bad.ini", "go together", NULL });
	harness_rmdtemp(dir);
}

/* Waits up to 5 s for HEAD `path` with `auth` to answer `want`. */
static void wait_for_status(const struct test_server *s, const char *path, const char *auth, long want)
{
	long got = 0;

	for (int waited = 0; waited < 5000; waited += 20) {
		got = status_of(s, "HEAD", path, auth, NULL, 0);
		if (got == want)
			return;
		harness_sleep_ms(20);
	}
	harness_print_file(s->log);
	fail_msg("HEAD %s: %ld, expected %ld", path, got, want);
}

static void test_tokens_file_reloaded_on_sighup(void **state)
{
	char dir[PATH_MAX], tokens[PATH_MAX], hex[65], path[160];
	const char *args[] = { "--tokens-file", tokens, NULL };
	struct test_server s;
	FILE *f;

	(void)state;
	assert_int_equal(harness_mkdtemp(dir, sizeof(dir)), 0);
	assert_int_equal(write_tokens_file(dir, tokens, sizeof(tokens)), 0);
	assert_int_equal(test_server_start(&s, args), 0);
	digest_of("hup", 3, hex);
	update_path("c", hex, path, sizeof(path));
	assert_int_equal(status_of(&s, "HEAD", path, "Bearer node-c-token", NULL, 0), 401);

	/* Node c joins, node a leaves. */
	f = fopen(tokens, "w");
	assert_non_null(f);
	token_line(f, "researcher", "alice", AUTH_ALICE + 7);
	token_line(f, "node", "c", "node-c-token");
	assert_int_equal(fclose(f), 0);
	assert_int_equal(kill(s.pid, SIGHUP), 0);
	wait_for_status(&s, path, "Bearer node-c-token", 404);
	assert_int_equal(status_of(&s, "HEAD", path, AUTH_A, NULL, 0), 401);

	/* A broken file changes nothing, and says why. */
	f = fopen(tokens, "w");
	assert_non_null(f);
	fprintf(f, "node c\n");
	assert_int_equal(fclose(f), 0);
	assert_int_equal(kill(s.pid, SIGHUP), 0);
	assert_true(wait_for_log(&s, "tokens.txt:1: expected 3 fields"));
	assert_int_equal(status_of(&s, "HEAD", path, "Bearer node-c-token", NULL, 0), 404);
	assert_int_equal(test_server_destroy(&s), 0);
	harness_rmdtemp(dir);
}

static void test_help_exits_zero(void **state)
{
	char out[8192];

	(void)state;
	assert_int_equal(harness_run_repository((const char *const[]){ "--help", NULL }, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "--port-file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_head_roundtrip),
		cmocka_unit_test(test_downloads_in_turn),
		cmocka_unit_test(test_waiting_download_and_stop),
		cmocka_unit_test(test_download_waits_at_most_its_longest),
		cmocka_unit_test(test_put_empty_blob),
		cmocka_unit_test(test_put_digest_mismatch_stores_nothing),
		cmocka_unit_test(test_put_wrong_body_for_stored_blob),
		cmocka_unit_test(test_put_over_limit_content_length),
		cmocka_unit_test(test_put_over_limit_chunked),
		cmocka_unit_test(test_put_over_limit_announced),
		cmocka_unit_test(test_put_at_limit_accepted),
		cmocka_unit_test(test_put_client_gone_mid_body_leaves_nothing),
		cmocka_unit_test(test_auth_missing_or_wrong_token),
		cmocka_unit_test(test_no_token_configured_means_open),
		cmocka_unit_test(test_paths_outside_the_api_are_404),
		cmocka_unit_test(test_other_methods_are_405),
		cmocka_unit_test(test_unknown_blob_is_404),
		cmocka_unit_test(test_requests_are_logged),
		cmocka_unit_test(test_tls_roundtrip),
		cmocka_unit_test(test_tls_untrusted_ca_refused),
		cmocka_unit_test(test_tls_wrong_hostname_refused),
		cmocka_unit_test(test_tls_plain_http_refused),
		cmocka_unit_test(test_tls_before_1_2_refused),
		cmocka_unit_test(test_tls_over_limit_is_413),
		cmocka_unit_test(test_node_reads_published_blobs),
		cmocka_unit_test(test_node_cannot_publish),
		cmocka_unit_test(test_node_own_updates),
		cmocka_unit_test(test_node_cannot_touch_other_updates),
		cmocka_unit_test(test_researcher_reads_every_update_writes_none),
		cmocka_unit_test(test_stored_blob_visible_only_where_put),
		cmocka_unit_test(test_checks_order_with_roles),
		cmocka_unit_test(test_token_prefix_or_extension_refused),
		cmocka_unit_test(test_update_paths_malformed_are_404),
		cmocka_unit_test(test_update_that_is_not_parameters_refused),
		cmocka_unit_test(test_node_quota),
		cmocka_unit_test(test_open_store_serves_both_namespaces),
		cmocka_unit_test(test_requests_log_the_principal),
		cmocka_unit_test(test_legacy_store_blobs_stay_published),
		cmocka_unit_test(test_sigterm_stops_cleanly),
		cmocka_unit_test(test_port_file_planted_tmp_not_followed),
		cmocka_unit_test(test_port_file_failure_leaves_old_file),
		cmocka_unit_test(test_config_missing_store_dir),
		cmocka_unit_test(test_config_bad_port),
		cmocka_unit_test(test_config_bad_values),
		cmocka_unit_test(test_config_unknown_key_and_section),
		cmocka_unit_test(test_flags_bad),
		cmocka_unit_test(test_tokens_file_malformed_refused),
		cmocka_unit_test(test_tls_files_checked),
		cmocka_unit_test(test_tokens_file_reloaded_on_sighup),
		cmocka_unit_test(test_help_exits_zero),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
