/* fedc-repository, black box: the real binary on a free loopback port, raw
 * HTTP requests through libcurl (paths sent as is, bodies of any shape), and
 * the store directory inspected after each refusal. Also its command line and
 * config errors (exit 2, message naming the key). */
#define _GNU_SOURCE /* nftw, mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>

#include "fedc/hash.h"
#include "repo_server_harness.h"

#define TOKEN "test-token-123"
#define MiB (1024 * 1024)

static struct test_server auth_server; /* token, max_blob_mb = 1, from a config file */
static struct test_server open_server; /* no token */
static char config_dir[PATH_MAX];

/* ---- a small HTTP client ------------------------------------------------- */

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };

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

/* One request to `s` with the path sent exactly as given. `token` NULL: no
 * Authorization header; `auth` overrides the whole header value. */
static CURLcode http(const struct test_server *s, const char *method, const char *path,
		     const char *auth, const void *body, size_t len, enum body_mode mode,
		     struct reply *r)
{
	struct upload_src src = { body, len, 0 };
	struct curl_slist *headers = NULL;
	char url[PATH_MAX], auth_header[256];
	CURL *c = curl_easy_init();
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	r->body = calloc(1, REPLY_MAX + 1);
	r->content_length = -1;
	assert_non_null(c);
	assert_non_null(r->body);
	snprintf(url, sizeof(url), "%s%s", s->url, path);
	headers = curl_slist_append(headers, "Expect:");
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
		if (mode == BODY_LENGTH)
			curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	}
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
	return cc;
}

static const char *bearer(void)
{
	return "Bearer " TOKEN;
}

static void blob_path(const char *hex, char *path, size_t cap)
{
	snprintf(path, cap, "/v1/blobs/sha256/%s", hex);
}

static void digest_of(const void *data, size_t len, char *hex)
{
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, data, len, hex), FEDC_OK);
}

/* Blobs in the store: a refused request must leave this unchanged. */
static int stored_count(const struct test_server *s)
{
	char dir[PATH_MAX + 16];

	snprintf(dir, sizeof(dir), "%s/sha256", s->store);
	return harness_count_files(dir);
}

static void assert_tmp_empty(const struct test_server *s)
{
	char dir[PATH_MAX + 16];

	snprintf(dir, sizeof(dir), "%s/tmp", s->store);
	assert_int_equal(harness_count_files(dir), 0);
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
	return test_server_start(&open_server, NULL);
}

static int group_teardown(void **state)
{
	int code_a, code_b;

	(void)state;
	/* Both must stop cleanly on SIGTERM (exit 0; under ASan, no leak). */
	code_a = test_server_destroy(&auth_server);
	code_b = test_server_destroy(&open_server);
	curl_global_cleanup();
	return code_a == 0 && code_b == 0 ? 0 : -1;
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

	assert_non_null(blob);
	harness_fill(blob, len, 5 + (uint64_t)mode);
	digest_of(blob, len, hex);
	blob_path(hex, path, sizeof(path));
	http(&auth_server, "PUT", path, bearer(), blob, len, mode, &r);
	assert_int_equal(r.status, 413);
	assert_non_null(strstr((char *)r.body, "too-big"));
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
	char hex[65], head[512], tmp_dir[PATH_MAX + 16];
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
	snprintf(tmp_dir, sizeof(tmp_dir), "%s/tmp", open_server.store);
	for (waited = 0; harness_count_files(tmp_dir) == 0 && waited < 5000; waited += 20)
		harness_sleep_ms(20);
	assert_int_equal(harness_count_files(tmp_dir), 1);
	close(fd);
	/* ... and is gone once the server notices the client left. */
	for (waited = 0; harness_count_files(tmp_dir) != 0 && waited < 5000; waited += 20)
		harness_sleep_ms(20);
	if (harness_count_files(tmp_dir) != 0) {
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

/* ---- process: signals, flags, config ------------------------------------ */

static void test_sigterm_stops_cleanly(void **state)
{
	struct test_server s;

	(void)state;
	assert_int_equal(test_server_start(&s, NULL), 0);
	assert_int_equal(test_server_stop(&s), 0);
	test_server_destroy(&s);
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
	expect_usage_error((const char *const[]){ "--store", "/tmp/x", "--bogus", NULL },
			   (const char *const[]){ "--bogus", NULL });
	expect_usage_error((const char *const[]){ "--store", NULL }, (const char *const[]){ "--store", NULL });
	expect_usage_error((const char *const[]){ "--config", "/nonexistent/repo.ini", NULL },
			   (const char *const[]){ "/nonexistent/repo.ini", NULL });
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
		cmocka_unit_test(test_put_empty_blob),
		cmocka_unit_test(test_put_digest_mismatch_stores_nothing),
		cmocka_unit_test(test_put_wrong_body_for_stored_blob),
		cmocka_unit_test(test_put_over_limit_content_length),
		cmocka_unit_test(test_put_over_limit_chunked),
		cmocka_unit_test(test_put_at_limit_accepted),
		cmocka_unit_test(test_put_client_gone_mid_body_leaves_nothing),
		cmocka_unit_test(test_auth_missing_or_wrong_token),
		cmocka_unit_test(test_no_token_configured_means_open),
		cmocka_unit_test(test_paths_outside_the_api_are_404),
		cmocka_unit_test(test_other_methods_are_405),
		cmocka_unit_test(test_unknown_blob_is_404),
		cmocka_unit_test(test_requests_are_logged),
		cmocka_unit_test(test_sigterm_stops_cleanly),
		cmocka_unit_test(test_config_missing_store_dir),
		cmocka_unit_test(test_config_bad_port),
		cmocka_unit_test(test_config_bad_values),
		cmocka_unit_test(test_config_unknown_key_and_section),
		cmocka_unit_test(test_flags_bad),
		cmocka_unit_test(test_help_exits_zero),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
