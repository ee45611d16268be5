/* The repository client (common/src/repo.c) against the REAL fedc-repository
 * on a free loopback port: round trips of multi-MB blobs, skipped re-uploads,
 * every error code of fedc/repo.h, and that a failed download leaves nothing
 * at its destination. Over HTTPS too (a CA made here, repo_tls_certs.h), with
 * the roles of a tokens file and the updates namespace. */
#define _GNU_SOURCE /* memfd_create, nftw, mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

#include "fedc/hash.h"
#include "fedc/repo.h"
#include "repo_server_harness.h"
#include "repo_tls_certs.h"

#define TOKEN "client-test-token"
#define TOKEN_ALICE "alice-researcher-token"
#define TOKEN_A "node-a-token"
#define TOKEN_B "node-b-token"
#define MiB (1024 * 1024)

static struct test_server server;          /* token, max_blob_mb = 64 */
static struct test_server small_server;    /* no token, max_blob_mb = 1 */
static struct test_server tls_server;      /* HTTPS, tokens file: researcher alice, nodes a, b */
static struct test_server misnamed_server; /* HTTPS, certificate for another host name */
static char work_dir[PATH_MAX];            /* files to upload, download destinations */
static struct test_pki pki;                /* the CA of both HTTPS servers */

/* ---- helpers ------------------------------------------------------------ */

static struct fedc_repo *client(const struct test_server *s, const char *token)
{
	struct fedc_repo *repo = NULL;

	assert_int_equal(fedc_repo_new(s->url, token, 10, &repo), FEDC_OK);
	assert_non_null(repo);
	return repo;
}

/* Writes `len` pseudo-random bytes to <work_dir>/<name>; returns the digest. */
static void make_file(const char *name, size_t len, uint64_t seed, char *path, size_t cap, char *hex)
{
	unsigned char *data = malloc(len ? len : 1);

	assert_non_null(data);
	harness_fill(data, len, seed);
	assert_int_equal(harness_write_file(work_dir, name, data, len, path, cap), 0);
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, data, len, hex), FEDC_OK);
	free(data);
}

/* Writes a parameter file of about `approx` bytes (what the repository
 * takes as an update) to <work_dir>/<name>; returns the digest. */
static void make_params_file(const char *name, size_t approx, uint64_t seed, char *path, size_t cap, char *hex)
{
	size_t len = 0;
	unsigned char *data = harness_params_blob(approx / sizeof(float), seed, &len);

	assert_non_null(data);
	assert_int_equal(harness_write_file(work_dir, name, data, len, path, cap), 0);
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, data, len, hex), FEDC_OK);
	free(data);
}

static void dest_path(const char *name, char *path, size_t cap)
{
	assert_true((size_t)snprintf(path, cap, "%s/%s", work_dir, name) < cap);
	(void)unlink(path);
}

static bool exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/* Files in work_dir whose name starts with `prefix`: temp files of a failed
 * download must not survive it. */
static int leftovers(const char *prefix)
{
	DIR *dir = opendir(work_dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	closedir(dir);
	return n;
}

static void stored_path(const struct test_server *s, const char *hex, char *path, size_t cap)
{
	snprintf(path, cap, "%s/sha256/%.2s/%s", s->store, hex, hex);
}

/* ---- fixtures ----------------------------------------------------------- */

static bool token_line(FILE *f, const char *role, const char *id, const char *token)
{
	char hex[65];

	if (fedc_hash_buffer(FEDC_HASH_SHA256, token, strlen(token), hex) != FEDC_OK)
		return false;
	return fprintf(f, "%s %s %s\n", role, id, hex) > 0;
}

static int write_tokens_file(char *path, size_t cap)
{
	FILE *f;
	bool ok;

	snprintf(path, cap, "%.4000s/tokens.txt", work_dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	ok = token_line(f, "researcher", "alice", TOKEN_ALICE) && token_line(f, "node", "a", TOKEN_A) &&
	     token_line(f, "node", "b", TOKEN_B);
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* An HTTPS server with the certificate `name` (for `san`) and the tokens
 * file; its url becomes https://. */
static int start_tls_server(struct test_server *s, const char *name, const char *san)
{
	char cert[PATH_MAX], key[PATH_MAX], tokens[PATH_MAX];
	const char *args[] = { "--tls-cert", cert, "--tls-key", key, "--tokens-file", tokens,
			       "--max-blob-mb", "128", NULL };

	if (pki_make_server(&pki, work_dir, name, san, cert, key) != 0 ||
	    write_tokens_file(tokens, sizeof(tokens)) != 0 || test_server_start(s, args) != 0)
		return -1;
	snprintf(s->url, sizeof(s->url), "https://127.0.0.1:%d", s->port);
	return 0;
}

static int group_setup(void **state)
{
	const char *main_args[] = { "--token", TOKEN, "--max-blob-mb", "64", NULL };
	const char *small_args[] = { "--max-blob-mb", "1", NULL };

	(void)state;
	if (fedc_repo_global_init() != FEDC_OK)
		return -1;
	if (harness_mkdtemp(work_dir, sizeof(work_dir)) != 0)
		return -1;
	if (test_server_start(&server, main_args) != 0)
		return -1;
	if (test_server_start(&small_server, small_args) != 0)
		return -1;
	if (pki_make_ca(&pki, work_dir, "test-ca") != 0)
		return -1;
	if (start_tls_server(&tls_server, "repository", "IP:127.0.0.1,DNS:localhost") != 0)
		return -1;
	return start_tls_server(&misnamed_server, "misnamed", "DNS:elsewhere.example");
}

static int group_teardown(void **state)
{
	int codes[4];

	(void)state;
	/* All must stop cleanly on SIGTERM (exit 0; under ASan, no leak). */
	codes[0] = test_server_destroy(&server);
	codes[1] = test_server_destroy(&small_server);
	codes[2] = test_server_destroy(&tls_server);
	codes[3] = test_server_destroy(&misnamed_server);
	pki_free(&pki);
	harness_rmdtemp(work_dir);
	for (int i = 0; i < 4; i++) {
		if (codes[i] != 0)
			return -1;
	}
	return 0;
}

/* ---- round trips -------------------------------------------------------- */

static void test_put_get_roundtrip_multi_mb(void **state)
{
	const size_t len = 12 * MiB + 12345;
	char src[PATH_MAX], dst[PATH_MAX], hex[65], out_hex[65] = "", got[65];
	struct fedc_repo *repo = client(&server, TOKEN);
	bool uploaded = false, present = false;
	struct stat sb;

	(void)state;
	make_file("big.bin", len, 11, src, sizeof(src), hex);
	assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_OK);
	assert_false(present);

	assert_int_equal(fedc_repo_put_file(repo, src, NULL, out_hex, &uploaded), FEDC_OK);
	assert_true(uploaded);
	assert_string_equal(out_hex, hex);
	assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_OK);
	assert_true(present);

	dest_path("big.out", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_file(repo, hex, dst, 0), FEDC_OK);
	assert_int_equal(stat(dst, &sb), 0);
	assert_int_equal(sb.st_size, (off_t)len);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, dst, got), FEDC_OK);
	assert_string_equal(got, hex);
	assert_int_equal(leftovers("big.out."), 0);

	/* A cap at the exact size passes. */
	dest_path("big.out2", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_file(repo, hex, dst, len), FEDC_OK);
	fedc_repo_free(repo);
}

static void test_second_put_is_skipped(void **state)
{
	char src[PATH_MAX], hex[65], out_hex[65];
	struct fedc_repo *repo = client(&server, TOKEN);
	bool uploaded = true;

	(void)state;
	make_file("twice.bin", 3 * MiB, 12, src, sizeof(src), hex);
	assert_int_equal(fedc_repo_put_file(repo, src, hex, out_hex, &uploaded), FEDC_OK);
	assert_true(uploaded);
	assert_int_equal(fedc_repo_put_file(repo, src, hex, out_hex, &uploaded), FEDC_OK);
	assert_false(uploaded);
	assert_string_equal(out_hex, hex);
	/* Without the digest too, and through a second handle. */
	fedc_repo_free(repo);
	repo = client(&server, TOKEN);
	uploaded = true;
	assert_int_equal(fedc_repo_put_file(repo, src, NULL, NULL, &uploaded), FEDC_OK);
	assert_false(uploaded);
	fedc_repo_free(repo);
}

static void test_put_fd_from_memfd(void **state)
{
	const size_t len = 2 * MiB + 7;
	unsigned char *data = malloc(len);
	char hex[65], out_hex[65], dst[PATH_MAX], got[65];
	struct fedc_repo *repo = client(&server, TOKEN);
	bool uploaded = false;
	int fd;

	(void)state;
	assert_non_null(data);
	harness_fill(data, len, 13);
	fd = memfd_create("blob", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	/* The file offset is at the end: the client must read with pread. */
	assert_int_equal(fedc_repo_put_fd(repo, fd, NULL, out_hex, &uploaded), FEDC_OK);
	assert_true(uploaded);
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, data, len, hex), FEDC_OK);
	assert_string_equal(out_hex, hex);
	dest_path("memfd.out", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_file(repo, hex, dst, 0), FEDC_OK);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, dst, got), FEDC_OK);
	assert_string_equal(got, hex);
	close(fd);
	free(data);
	fedc_repo_free(repo);
}

static void test_empty_blob_roundtrip(void **state)
{
	char src[PATH_MAX], dst[PATH_MAX], hex[65];
	struct fedc_repo *repo = client(&server, TOKEN);
	struct stat sb;
	bool uploaded = false;

	(void)state;
	make_file("empty.bin", 0, 0, src, sizeof(src), hex);
	assert_int_equal(fedc_repo_put_file(repo, src, NULL, NULL, &uploaded), FEDC_OK);
	dest_path("empty.out", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_file(repo, hex, dst, 0), FEDC_OK);
	assert_int_equal(stat(dst, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	fedc_repo_free(repo);
}

/* ---- errors ------------------------------------------------------------- */

static void test_get_unknown_blob_not_found(void **state)
{
	char dst[PATH_MAX], hex[65];
	struct fedc_repo *repo = client(&server, TOKEN);
	bool present = true;

	(void)state;
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, "nope", 4, hex), FEDC_OK);
	assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_OK);
	assert_false(present);
	dest_path("unknown.out", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_file(repo, hex, dst, 0), FEDC_ERR_NOT_FOUND);
	assert_non_null(strstr(fedc_last_error(), "404"));
	assert_false(exists(dst));
	assert_int_equal(leftovers("unknown.out"), 0);
	fedc_repo_free(repo);
}

static void test_get_corrupt_blob_digest_mismatch(void **state)
{
	char src[PATH_MAX], dst[PATH_MAX], stored[PATH_MAX + 128], hex[65];
	struct fedc_repo *repo = client(&server, TOKEN);
	unsigned char byte;
	int fd;

	(void)state;
	make_file("corrupt.bin", MiB + 3, 14, src, sizeof(src), hex);
	assert_int_equal(fedc_repo_put_file(repo, src, hex, NULL, NULL), FEDC_OK);
	/* Rot one byte on the server's disk. */
	stored_path(&server, hex, stored, sizeof(stored));
	fd = open(stored, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, 1000), 1);
	byte ^= 0x40;
	assert_int_equal(pwrite(fd, &byte, 1, 1000), 1);
	close(fd);

	dest_path("corrupt.out", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_file(repo, hex, dst, 0), FEDC_ERR_DIGEST);
	assert_false(exists(dst));
	assert_int_equal(leftovers("corrupt.out"), 0);
	fedc_repo_free(repo);
}

static void test_get_over_max_bytes(void **state)
{
	char src[PATH_MAX], dst[PATH_MAX], hex[65];
	struct fedc_repo *repo = client(&server, TOKEN);

	(void)state;
	make_file("capped.bin", 2 * MiB, 15, src, sizeof(src), hex);
	assert_int_equal(fedc_repo_put_file(repo, src, hex, NULL, NULL), FEDC_OK);
	dest_path("capped.out", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_file(repo, hex, dst, 2 * MiB - 1), FEDC_ERR_TOO_BIG);
	assert_false(exists(dst));
	assert_int_equal(leftovers("capped.out"), 0);
	/* The handle still works afterwards. */
	assert_int_equal(fedc_repo_get_file(repo, hex, dst, 2 * MiB), FEDC_OK);
	fedc_repo_free(repo);
}

static void test_put_over_server_limit_too_big(void **state)
{
	char src[PATH_MAX], hex[65], stored[PATH_MAX + 128];
	struct fedc_repo *repo = client(&small_server, NULL);
	bool uploaded = true, present = true;

	(void)state;
	/* Big enough that the server's early 413 and hang-up often reach curl
	 * while it is still sending (the answer is then recovered by a probe):
	 * the caller must see FEDC_ERR_TOO_BIG every time. */
	make_file("toobig.bin", 24 * MiB, 16, src, sizeof(src), hex);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(fedc_repo_put_file(repo, src, hex, NULL, &uploaded), FEDC_ERR_TOO_BIG);
		assert_non_null(strstr(fedc_last_error(), "413"));
		assert_false(uploaded);
	}
	assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_OK);
	assert_false(present);
	stored_path(&small_server, hex, stored, sizeof(stored));
	assert_false(exists(stored));
	fedc_repo_free(repo);
}

static void test_put_wrong_digest_refused(void **state)
{
	char src[PATH_MAX], hex[65], other[65];
	struct fedc_repo *repo = client(&server, TOKEN);
	bool uploaded = true, present = true;

	(void)state;
	make_file("liar.bin", 100000, 17, src, sizeof(src), hex);
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, "something else", 14, other), FEDC_OK);
	assert_int_equal(fedc_repo_put_file(repo, src, other, NULL, &uploaded), FEDC_ERR_DIGEST);
	assert_false(uploaded);
	assert_int_equal(fedc_repo_has(repo, other, &present), FEDC_OK);
	assert_false(present);
	fedc_repo_free(repo);
}

static void test_auth_missing_or_wrong_token(void **state)
{
	static const char *const tokens[] = { NULL, "", "wrong-token" };
	char src[PATH_MAX], dst[PATH_MAX], hex[65];
	bool present, uploaded;

	(void)state;
	make_file("auth.bin", 5000, 18, src, sizeof(src), hex);
	dest_path("auth.out", dst, sizeof(dst));
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		struct fedc_repo *repo = client(&server, tokens[i]);

		assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_ERR_AUTH);
		assert_int_equal(fedc_repo_put_file(repo, src, hex, NULL, &uploaded), FEDC_ERR_AUTH);
		assert_int_equal(fedc_repo_get_file(repo, hex, dst, 0), FEDC_ERR_AUTH);
		assert_non_null(strstr(fedc_last_error(), "401"));
		assert_false(exists(dst));
		fedc_repo_free(repo);
	}
}

static void test_bad_arguments(void **state)
{
	struct fedc_repo *repo = NULL;
	char dst[PATH_MAX];
	bool present;

	(void)state;
	assert_int_equal(fedc_repo_new("ftp://host", NULL, 10, &repo), FEDC_ERR_INVAL);
	assert_int_equal(fedc_repo_new(server.url, "bad token", 10, &repo), FEDC_ERR_INVAL);
	assert_int_equal(fedc_repo_new(server.url, "tok\r\nX-Evil: 1", 10, &repo), FEDC_ERR_INVAL);
	assert_int_equal(fedc_repo_new(server.url, NULL, 0, &repo), FEDC_ERR_INVAL);
	assert_null(repo);
	repo = client(&server, TOKEN);
	assert_int_equal(fedc_repo_has(repo, "../../etc/passwd", &present), FEDC_ERR_INVAL);
	assert_int_equal(fedc_repo_has(repo, "ABCDEF", &present), FEDC_ERR_INVAL);
	dest_path("bad.out", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_file(repo, "0123", dst, 0), FEDC_ERR_INVAL);
	assert_int_equal(fedc_repo_put_file(repo, "/nonexistent/file", NULL, NULL, NULL), FEDC_ERR_IO);
	assert_int_equal(fedc_repo_put_file(repo, work_dir, NULL, NULL, NULL), FEDC_ERR_IO);
	fedc_repo_free(repo);
}

static void test_base_url_with_trailing_slash(void **state)
{
	char url[128], hex[65];
	struct fedc_repo *repo = NULL;
	bool present = true;

	(void)state;
	snprintf(url, sizeof(url), "%s/", small_server.url);
	assert_int_equal(fedc_repo_new(url, NULL, 10, &repo), FEDC_OK);
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, "slash", 5, hex), FEDC_OK);
	assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_OK);
	assert_false(present);
	fedc_repo_free(repo);
}

static void test_connection_refused_is_net(void **state)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(addr);
	char url[64], hex[65];
	struct fedc_repo *repo = NULL;
	bool present;
	int fd;

	(void)state;
	/* A port that was free a moment ago and has no listener now. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));
	assert_int_equal(fedc_repo_new(url, NULL, 5, &repo), FEDC_OK);
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, "x", 1, hex), FEDC_OK);
	assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_ERR_NET);
	fedc_repo_free(repo);
}

/* A listener that appears on `port` after 600 ms and answers one request
 * 404: a repository restarting. */
struct late_listener {
	uint16_t port;
	pthread_t thread;
};

static void *listen_late(void *arg)
{
	struct late_listener *l = arg;
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				    .sin_port = htons(l->port) };
	static const char answer[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	char buf[4096];
	int one = 1, fd, conn;

	usleep(600000);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 4) != 0) {
		close(fd);
		return NULL;
	}
	conn = accept(fd, NULL, NULL);
	if (conn >= 0) {
		(void)!read(conn, buf, sizeof(buf));
		(void)!write(conn, answer, sizeof(answer) - 1);
		close(conn);
	}
	close(fd);
	return NULL;
}

static void test_refused_connection_retried_briefly(void **state)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(addr);
	struct late_listener late;
	struct fedc_repo *repo = NULL;
	char url[64], hex[65];
	bool present = true;
	int fd;

	(void)state;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
	close(fd);
	late.port = ntohs(addr.sin_port);
	assert_int_equal(pthread_create(&late.thread, NULL, listen_late, &late), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)late.port);
	assert_int_equal(fedc_repo_new(url, NULL, 10, &repo), FEDC_OK);
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, "x", 1, hex), FEDC_OK);
	assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_OK);
	assert_false(present);
	fedc_repo_free(repo);
	pthread_join(late.thread, NULL);
}

static void test_silent_server_times_out(void **state)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(addr);
	char url[64], hex[65], dst[PATH_MAX];
	struct fedc_repo *repo = NULL;
	bool present;
	int fd;

	(void)state;
	/* Listens (the kernel completes the handshake) but never answers. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));
	assert_int_equal(fedc_repo_new(url, NULL, 1, &repo), FEDC_OK);
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, "x", 1, hex), FEDC_OK);
	assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_ERR_TIMEOUT);
	dest_path("silent.out", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_file(repo, hex, dst, 0), FEDC_ERR_TIMEOUT);
	assert_false(exists(dst));
	assert_int_equal(leftovers("silent.out"), 0);
	fedc_repo_free(repo);
	close(fd);
}

/* ---- HTTPS and namespaces ------------------------------------------------- */

/* A client of tls_server for `token`, verifying against the test CA. */
static struct fedc_repo *tls_client(const char *token)
{
	struct fedc_repo *repo = client(&tls_server, token);

	assert_int_equal(fedc_repo_set_ca_file(repo, pki.ca_path), FEDC_OK);
	return repo;
}

static void test_tls_big_roundtrip_streams(void **state)
{
	const size_t len = 40 * MiB + 321;
	char src[PATH_MAX], dst[PATH_MAX], hex[65], got[65];
	struct fedc_repo *alice = tls_client(TOKEN_ALICE), *a = tls_client(TOKEN_A);
	bool uploaded = false;
	struct stat sb;

	(void)state;
	make_file("tls-big.bin", len, 30, src, sizeof(src), hex);
	assert_int_equal(fedc_repo_put_file(alice, src, hex, NULL, &uploaded), FEDC_OK);
	assert_true(uploaded);
	dest_path("tls-big.out", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_file(a, hex, dst, 0), FEDC_OK);
	assert_int_equal(stat(dst, &sb), 0);
	assert_int_equal(sb.st_size, (off_t)len);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, dst, got), FEDC_OK);
	assert_string_equal(got, hex);
	assert_int_equal(leftovers("tls-big.out."), 0);
	(void)unlink(dst);
	(void)unlink(src);
	fedc_repo_free(alice);
	fedc_repo_free(a);
}

static void test_tls_without_the_ca_refused(void **state)
{
	struct fedc_repo *repo = client(&tls_server, TOKEN_ALICE);
	struct test_pki other;
	char hex[65];
	bool present = true;

	(void)state;
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, "ca", 2, hex), FEDC_OK);
	/* The system's CAs do not know the test CA. */
	assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_ERR_NET);
	assert_non_null(strstr(fedc_last_error(), tls_server.url));
	assert_non_null(strstr(fedc_last_error(), "certificate"));
	/* Nor does another CA. */
	assert_int_equal(pki_make_ca(&other, work_dir, "other-ca"), 0);
	assert_int_equal(fedc_repo_set_ca_file(repo, other.ca_path), FEDC_OK);
	assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_ERR_NET);
	assert_non_null(strstr(fedc_last_error(), "TLS"));
	/* The right one works, and NULL goes back to the system's. */
	assert_int_equal(fedc_repo_set_ca_file(repo, pki.ca_path), FEDC_OK);
	assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_OK);
	assert_false(present);
	assert_int_equal(fedc_repo_set_ca_file(repo, NULL), FEDC_OK);
	assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_ERR_NET);
	pki_free(&other);
	fedc_repo_free(repo);
}

static void test_tls_wrong_hostname_refused(void **state)
{
	struct fedc_repo *repo = client(&misnamed_server, NULL);
	char hex[65], dst[PATH_MAX];
	bool present = true;

	(void)state;
	/* Signed by the right CA, but for another name than 127.0.0.1. */
	assert_int_equal(fedc_repo_set_ca_file(repo, pki.ca_path), FEDC_OK);
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, "name", 4, hex), FEDC_OK);
	assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_ERR_NET);
	assert_non_null(strstr(fedc_last_error(), misnamed_server.url));
	dest_path("misnamed.out", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_file(repo, hex, dst, 0), FEDC_ERR_NET);
	assert_int_equal(leftovers("misnamed.out"), 0);
	fedc_repo_free(repo);
}

static void test_tls_plain_http_to_https_port(void **state)
{
	char url[64], hex[65];
	struct fedc_repo *repo = NULL;
	bool present = true;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", tls_server.port);
	assert_int_equal(fedc_repo_new(url, TOKEN_ALICE, 5, &repo), FEDC_OK);
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, "plain", 5, hex), FEDC_OK);
	assert_int_equal(fedc_repo_has(repo, hex, &present), FEDC_ERR_NET);
	assert_non_null(strstr(fedc_last_error(), "https://"));
	fedc_repo_free(repo);
}

static void test_set_ca_file_bad_path(void **state)
{
	struct fedc_repo *repo = client(&tls_server, NULL);

	(void)state;
	assert_int_equal(fedc_repo_set_ca_file(repo, "/nonexistent/ca.pem"), FEDC_ERR_IO);
	assert_non_null(strstr(fedc_last_error(), "/nonexistent/ca.pem"));
	assert_int_equal(fedc_repo_set_ca_file(repo, work_dir), FEDC_ERR_IO);
	assert_int_equal(fedc_repo_set_ca_file(repo, ""), FEDC_OK);
	fedc_repo_free(repo);
}

static void test_update_roundtrip(void **state)
{
	char src[PATH_MAX], dst[PATH_MAX], hex[65], out_hex[65] = "", got[65];
	struct fedc_repo *a = tls_client(TOKEN_A), *alice = tls_client(TOKEN_ALICE);
	bool uploaded = false;

	(void)state;
	make_params_file("update-a.bin", 3 * MiB + 1, 31, src, sizeof(src), hex);
	assert_int_equal(fedc_repo_put_update_file(a, "a", src, NULL, out_hex, &uploaded), FEDC_OK);
	assert_true(uploaded);
	assert_string_equal(out_hex, hex);
	/* No HEAD before an update's PUT: sent again, and the store keeps one copy. */
	assert_int_equal(fedc_repo_put_update_file(a, "a", src, hex, NULL, &uploaded), FEDC_OK);
	assert_true(uploaded);
	/* The node reads its own update back; a researcher reads it too. */
	dest_path("update-a.node", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_update_file(a, "a", hex, dst, 0), FEDC_OK);
	dest_path("update-a.researcher", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_update_file(alice, "a", hex, dst, 0), FEDC_OK);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, dst, got), FEDC_OK);
	assert_string_equal(got, hex);
	/* Not published: the blob functions do not find it. */
	dest_path("update-a.blob", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_file(alice, hex, dst, 0), FEDC_ERR_NOT_FOUND);
	assert_false(exists(dst));
	fedc_repo_free(a);
	fedc_repo_free(alice);
}

static void test_update_fd_from_memfd(void **state)
{
	size_t len = 0;
	unsigned char *data = harness_params_blob((MiB + 9) / sizeof(float), 32, &len);
	char hex[65], out_hex[65], dst[PATH_MAX];
	struct fedc_repo *b = tls_client(TOKEN_B);
	bool uploaded = false;
	int fd;

	(void)state;
	assert_non_null(data);
	fd = memfd_create("update", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fedc_repo_put_update_fd(b, "b", fd, NULL, out_hex, &uploaded), FEDC_OK);
	assert_true(uploaded);
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, data, len, hex), FEDC_OK);
	assert_string_equal(out_hex, hex);
	dest_path("update-b.out", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_update_file(b, "b", hex, dst, len), FEDC_OK);
	close(fd);
	free(data);
	fedc_repo_free(b);
}

/* Downloads into a caller's fd (no temp file, no fsync): the content, a
 * digest mismatch, the size cap and an update of another node's namespace. */
static void test_get_into_fd(void **state)
{
	size_t len = 0;
	unsigned char *data = harness_params_blob((MiB + 21) / sizeof(float), 33, &len), *back = malloc(len);
	char hex[65], other[65];
	struct fedc_repo *b = tls_client(TOKEN_B);
	int src = memfd_create("update", MFD_CLOEXEC), dst = memfd_create("copy", MFD_CLOEXEC);

	(void)state;
	assert_non_null(data);
	assert_non_null(back);
	assert_true(src >= 0 && dst >= 0);
	assert_int_equal(write(src, data, len), (ssize_t)len);
	assert_int_equal(fedc_repo_put_update_fd(b, "b", src, NULL, hex, NULL), FEDC_OK);
	assert_int_equal(fedc_repo_get_update_fd(b, "b", hex, dst, len), FEDC_OK);
	assert_int_equal(pread(dst, back, len, 0), (ssize_t)len);
	assert_memory_equal(back, data, len);
	/* over the cap: refused, and the handle still works */
	assert_int_equal(ftruncate(dst, 0), 0);
	assert_int_equal(lseek(dst, 0, SEEK_SET), 0);
	assert_int_equal(fedc_repo_get_update_fd(b, "b", hex, dst, len - 1), FEDC_ERR_TOO_BIG);
	/* a digest the bytes do not have: the server has no such blob */
	memcpy(other, hex, sizeof(other));
	other[0] = other[0] == '0' ? '1' : '0';
	assert_int_equal(fedc_repo_get_update_fd(b, "b", other, dst, 0), FEDC_ERR_NOT_FOUND);
	/* published blobs go through the same code */
	assert_int_equal(fedc_repo_get_fd(b, hex, dst, 0), FEDC_ERR_NOT_FOUND);
	assert_int_equal(fedc_repo_get_update_fd(b, NULL, hex, dst, 0), FEDC_ERR_INVAL);
	close(src);
	close(dst);
	free(data);
	free(back);
	fedc_repo_free(b);
}

static void test_forbidden_is_auth_and_says_so(void **state)
{
	char src[PATH_MAX], dst[PATH_MAX], hex[65];
	struct fedc_repo *a = tls_client(TOKEN_A), *b = tls_client(TOKEN_B), *alice = tls_client(TOKEN_ALICE);
	struct fedc_repo *nobody = tls_client("not-a-token");
	bool uploaded = true;

	(void)state;
	make_params_file("forbidden.bin", 20000, 33, src, sizeof(src), hex);
	assert_int_equal(fedc_repo_put_update_file(a, "a", src, hex, NULL, NULL), FEDC_OK);
	dest_path("forbidden.out", dst, sizeof(dst));
	/* Another node's update. */
	assert_int_equal(fedc_repo_get_update_file(b, "a", hex, dst, 0), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "403 forbidden"));
	assert_false(exists(dst));
	assert_int_equal(leftovers("forbidden.out"), 0);
	assert_int_equal(fedc_repo_put_update_file(b, "a", src, hex, NULL, &uploaded), FEDC_ERR_AUTH);
	assert_false(uploaded);
	/* A node publishing, a researcher writing an update. */
	assert_int_equal(fedc_repo_put_file(a, src, hex, NULL, &uploaded), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "forbidden"));
	assert_int_equal(fedc_repo_put_update_file(alice, "b", src, hex, NULL, NULL), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "forbidden"));
	/* 401 is told apart. */
	assert_int_equal(fedc_repo_get_update_file(nobody, "a", hex, dst, 0), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "401 unauthorized"));
	assert_null(strstr(fedc_last_error(), "forbidden"));
	fedc_repo_free(a);
	fedc_repo_free(b);
	fedc_repo_free(alice);
	fedc_repo_free(nobody);
}

static void test_forbidden_big_upload_over_tls(void **state)
{
	char src[PATH_MAX], hex[65];
	struct fedc_repo *a = tls_client(TOKEN_A);
	bool uploaded = true;

	(void)state;
	/* Refused from the headers: the server answers 403 and hangs up on the
	 * body, which under TLS too may reach curl as a send error first. The
	 * caller must see the 403 every time. */
	make_file("forbidden-big.bin", 24 * MiB, 36, src, sizeof(src), hex);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(fedc_repo_put_file(a, src, hex, NULL, &uploaded), FEDC_ERR_AUTH);
		assert_non_null(strstr(fedc_last_error(), "403 forbidden"));
		assert_false(uploaded);
	}
	(void)unlink(src);
	fedc_repo_free(a);
}

static void test_update_becomes_published_when_researcher_puts_it(void **state)
{
	char src[PATH_MAX], dst[PATH_MAX], hex[65];
	struct fedc_repo *a = tls_client(TOKEN_A), *alice = tls_client(TOKEN_ALICE);
	bool present = true, uploaded = false;

	(void)state;
	make_params_file("promoted.bin", 50000, 34, src, sizeof(src), hex);
	assert_int_equal(fedc_repo_put_update_file(a, "a", src, hex, NULL, NULL), FEDC_OK);
	assert_int_equal(fedc_repo_has(a, hex, &present), FEDC_OK);
	assert_false(present);
	/* HEAD says 404 in /v1/blobs, so the bytes go again; the server
	 * verifies them and only adds the marker. */
	assert_int_equal(fedc_repo_put_file(alice, src, hex, NULL, &uploaded), FEDC_OK);
	assert_true(uploaded);
	assert_int_equal(fedc_repo_has(a, hex, &present), FEDC_OK);
	assert_true(present);
	dest_path("promoted.out", dst, sizeof(dst));
	assert_int_equal(fedc_repo_get_file(a, hex, dst, 0), FEDC_OK);
	fedc_repo_free(a);
	fedc_repo_free(alice);
}

static void test_update_bad_node_id(void **state)
{
	char src[PATH_MAX], dst[PATH_MAX], hex[65];
	struct fedc_repo *a = tls_client(TOKEN_A);

	(void)state;
	make_file("badnode.bin", 10, 35, src, sizeof(src), hex);
	dest_path("badnode.out", dst, sizeof(dst));
	assert_int_equal(fedc_repo_put_update_file(a, NULL, src, hex, NULL, NULL), FEDC_ERR_INVAL);
	assert_int_equal(fedc_repo_put_update_file(a, "", src, hex, NULL, NULL), FEDC_ERR_INVAL);
	assert_int_equal(fedc_repo_put_update_file(a, "..", src, NULL, NULL, NULL), FEDC_ERR_INVAL);
	assert_int_equal(fedc_repo_get_update_file(a, "a/b", hex, dst, 0), FEDC_ERR_INVAL);
	assert_int_equal(fedc_repo_get_update_file(a, NULL, hex, dst, 0), FEDC_ERR_INVAL);
	assert_false(exists(dst));
	fedc_repo_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_roundtrip_multi_mb),
		cmocka_unit_test(test_second_put_is_skipped),
		cmocka_unit_test(test_put_fd_from_memfd),
		cmocka_unit_test(test_empty_blob_roundtrip),
		cmocka_unit_test(test_get_unknown_blob_not_found),
		cmocka_unit_test(test_get_corrupt_blob_digest_mismatch),
		cmocka_unit_test(test_get_over_max_bytes),
		cmocka_unit_test(test_put_over_server_limit_too_big),
		cmocka_unit_test(test_put_wrong_digest_refused),
		cmocka_unit_test(test_auth_missing_or_wrong_token),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_base_url_with_trailing_slash),
		cmocka_unit_test(test_connection_refused_is_net),
		cmocka_unit_test(test_refused_connection_retried_briefly),
		cmocka_unit_test(test_silent_server_times_out),
		cmocka_unit_test(test_tls_big_roundtrip_streams),
		cmocka_unit_test(test_tls_without_the_ca_refused),
		cmocka_unit_test(test_tls_wrong_hostname_refused),
		cmocka_unit_test(test_tls_plain_http_to_https_port),
		cmocka_unit_test(test_set_ca_file_bad_path),
		cmocka_unit_test(test_update_roundtrip),
		cmocka_unit_test(test_update_fd_from_memfd),
cmocka_unit_test(test_get_into_fd),
		cmocka_unit_test(test_forbidden_is_auth_and_says_so),
		cmocka_unit_test(test_forbidden_big_upload_over_tls),
		cmocka_unit_test(test_update_becomes_published_when_researcher_puts_it),
		cmocka_unit_test(test_update_bad_node_id),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
