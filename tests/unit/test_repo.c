/* The repository client (common/src/repo.c) against the REAL fedc-repository
 * on a free loopback port: round trips of multi-MB blobs, skipped re-uploads,
 * every error code of fedc/repo.h, and that a failed download leaves nothing
 * at its destination. */
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

#define TOKEN "client-test-token"
#define MiB (1024 * 1024)

static struct test_server server;       /* token, max_blob_mb = 64 */
static struct test_server small_server; /* no token, max_blob_mb = 1 */
static char work_dir[PATH_MAX];         /* files to upload, download destinations */

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
	return test_server_start(&small_server, small_args);
}

static int group_teardown(void **state)
{
	int code_a, code_b;

	(void)state;
	/* Both must stop cleanly on SIGTERM (exit 0; under ASan, no leak). */
	code_a = test_server_destroy(&server);
	code_b = test_server_destroy(&small_server);
	harness_rmdtemp(work_dir);
	return code_a == 0 && code_b == 0 ? 0 : -1;
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
		cmocka_unit_test(test_silent_server_times_out),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
