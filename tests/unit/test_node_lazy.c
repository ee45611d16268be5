/* Libraries fedc-node loads at first use (node/lazy/): libcurl and
 * libmicrohttpd, the dataset readers' zlib, libpng, libjpeg, libnifti2 and
 * libcsv, and the plan sandbox's libseccomp. Nothing maps them before a transfer, a
 * listener, a dataset read or a filter needs them, calls go through to the real libraries with their
 * arguments intact (long, pointer, function pointer, curl_off_t; libjpeg's
 * longjmp error path), and a library or symbol that cannot be loaded is a
 * failure that names it and its package. With the test hook
 * FEDC_TEST_MISSING_LIBS each library in turn fails to load, and the
 * node's entry point that needs it fails with an error naming the
 * library, its package and the reason. This executable links the lazy
 * definitions with --as-needed, as fedc-node does (tests/CMakeLists.txt):
 * none of these libraries is among its NEEDED ones. The tests run in
 * order: each checks what is still not loaded (libcurl, libpng and
 * libnifti2 bring zlib with them); the missing-library tests go first, as
 * they fork a child that must not have the library loaded yet. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <microhttpd.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csv_rows.h"
#include "dataset.h"
#include "dataset_idx.h"
#include "dataset_image.h"
#include "dataset_nifti.h"
#include "fedc/repo.h"
#include "lazy/lazy_lib.h"
#include "lazy/lazy_require.h"
#include "node_metrics.h"
#include "seccomp_policy.h"

#define CORPUS FEDC_SOURCE_DIR "/tests/fuzz/corpus/"

static struct lazy_lib probe_curl = LAZY_LIB_INIT("libcurl.so.4", "libcurl4", "a probe", NULL, NULL);
static struct lazy_lib probe_mhd = LAZY_LIB_INIT("libmicrohttpd.so.12", "libmicrohttpd12", "a probe", NULL, NULL);
static struct lazy_lib probe_z = LAZY_LIB_INIT("libz.so.1", "zlib1g", "a probe", NULL, NULL);
static struct lazy_lib probe_png = LAZY_LIB_INIT("libpng16.so.16", "libpng16-16", "a probe", NULL, NULL);
static struct lazy_lib probe_jpeg = LAZY_LIB_INIT("libjpeg.so.62", "libjpeg62-turbo", "a probe", NULL, NULL);
static struct lazy_lib probe_nifti = LAZY_LIB_INIT("libnifti2.so.2", "libnifti2-2", "a probe", NULL, NULL);
static struct lazy_lib probe_seccomp = LAZY_LIB_INIT("libseccomp.so.2", "libseccomp2", "a probe", NULL, NULL);
static struct lazy_lib probe_csv = LAZY_LIB_INIT("libcsv.so.3", "libcsv3", "a probe", NULL, NULL);

struct body {
	char text[256];
	size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
	struct body *b = user;
	size_t len = size * n;

	if (len > sizeof(b->text) - 1 - b->len)
		return 0;
	memcpy(b->text + b->len, data, len);
	b->len += len;
	b->text[b->len] = '\0';
	return len;
}

/* A file of `text`, its path in `path`. */
static void write_file(char *path, size_t cap, const char *text)
{
	int fd;

	snprintf(path, cap, "/tmp/fedc-test-lazy.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* A whole file in memory (the caller frees it). */
static void *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = malloc(1 << 16);

	assert_non_null(f);
	assert_non_null(data);
	*len = fread(data, 1, 1 << 16, f);
	assert_true(*len > 0 && *len < (1 << 16));
	fclose(f);
	return data;
}

/* ---- a library that cannot be loaded (FEDC_TEST_MISSING_LIBS) ---- */

/* One entry point of the node that needs a lazily loaded library. */
typedef enum fedc_err (*entry_fn)(void);

struct outcome {
	enum fedc_err rc;
	char detail[512];
};

/* Runs `entry` in a child process whose FEDC_TEST_MISSING_LIBS is `missing`
 * (the load's outcome sticks for the process: this one keeps its
 * libraries) and hands back its code and fedc_last_error(). */
static void run_with_missing(const char *missing, entry_fn entry, struct outcome *out)
{
	int fds[2], status = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct outcome o;

		memset(&o, 0, sizeof(o));
		close(fds[0]);
		setenv("FEDC_TEST_MISSING_LIBS", missing, 1);
		o.rc = entry();
		snprintf(o.detail, sizeof(o.detail), "%s", fedc_last_error());
		_exit(write(fds[1], &o, sizeof(o)) == (ssize_t)sizeof(o) ? 0 : 1);
	}
	close(fds[1]);
	n = read(fds[0], out, sizeof(*out)); /* less than PIPE_BUF: one write, one read */
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(n, (ssize_t)sizeof(*out));
}

/* `entry` fails with `code`, naming `soname`, its package and the hook (the
 * reason dlerror() would give). */
static void expect_missing(const char *missing, entry_fn entry, enum fedc_err code, const char *soname,
			   const char *package)
{
	char install[96];
	struct outcome o;

#ifndef FEDC_TEST_HOOKS
	skip(); /* FEDC_TEST_MISSING_LIBS is compiled out */
#endif
	run_with_missing(missing, entry, &o);
	snprintf(install, sizeof(install), "install package %s", package);
	if (o.rc != code || !strstr(o.detail, soname) || !strstr(o.detail, install) ||
	    !strstr(o.detail, "FEDC_TEST_MISSING_LIBS"))
		fail_msg("with %s missing: %s (%d), \"%s\"; expected %s naming %s and \"%s\"", missing,
			 fedc_strerror(o.rc), (int)o.rc, o.detail, fedc_strerror(code), soname, install);
}

static enum fedc_err read_gzip_idx(void)
{
	struct node_dataset *ds = calloc(1, sizeof(*ds));
	struct fedc_data data;
	enum fedc_err rc = ds ? dataset_idx__read_files("tiny", FEDC_FIXTURES_DIR "/idx/tiny-images-idx3-ubyte.gz",
						       FEDC_FIXTURES_DIR "/idx/tiny-labels-idx1-ubyte.gz", ds, &data)
			      : FEDC_ERR_NOMEM;

	free(ds);
	return rc;
}

static enum fedc_err decode_file(const char *path, uint32_t channels)
{
	struct image_pixels px = { 0 };
	size_t len;
	void *bytes = read_whole(path, &len);
	enum fedc_err rc = dataset_image__decode(bytes, len, path, channels, &px);

	free(px.pixels);
	free(bytes);
	return rc;
}

static enum fedc_err decode_png(void)
{
	return decode_file(CORPUS "png/grey8x8.png", 1);
}

static enum fedc_err decode_jpeg(void)
{
	return decode_file(CORPUS "jpeg/rgb9x5.jpg", 3);
}

static enum fedc_err read_nifti(void)
{
	struct nifti_volume vol = { 0 };
	enum fedc_err rc = dataset_nifti__read_volume(CORPUS "nifti/f32-2cube.nii", "f32-2cube.nii", &vol);

	free(vol.voxels);
	return rc;
}

static enum fedc_err no_row(void *ctx, const struct csv_row *row)
{
	(void)ctx, (void)row;
	return FEDC_OK;
}

static enum fedc_err parse_csv(void)
{
	return csv_rows__parse("a,b\n1,2\n", 8, "t.csv", no_row, NULL);
}

/* With the hook the filter is never built; without it, it would be loaded
 * into the child only. */
static enum fedc_err install_filter(void)
{
	return seccomp_policy__install();
}

static enum fedc_err start_metrics(void)
{
	struct node_config cfg;
	struct node_metrics_server *srv = NULL;
	char listen[] = "127.0.0.1:0";
	enum fedc_err rc;

	memset(&cfg, 0, sizeof(cfg));
	cfg.metrics_listen = listen;
	rc = node_metrics__start(&cfg, NULL, &srv);
	node_metrics__stop(srv);
	return rc;
}

/* The repository client is shared code (the researcher links the real
 * libcurl): its error carries curl_easy_strerror(), which the lazy libcurl
 * fills with the loader's. */
static enum fedc_err ask_repository(void)
{
	struct fedc_repo *repo = NULL;
	bool exists = false;
	enum fedc_err rc = fedc_repo_new("http://127.0.0.1:9", NULL, 5, &repo);

	if (!rc)
		rc = fedc_repo_has(repo, "0000000000000000000000000000000000000000000000000000000000000000", &exists);
	fedc_repo_free(repo);
	return rc;
}

/* This executable links node/lazy/: the readers' asks reach it. */
static void test_require_linked(void **state)
{
	(void)state;
	assert_non_null((void *)(uintptr_t)lazy_lib__require);
	assert_int_equal(lazy_lib__require(LAZY__COUNT), FEDC_ERR_INVAL);
}

static void test_missing_zlib_fails_gzip_idx(void **state)
{
	(void)state;
	expect_missing("libz.so.1", read_gzip_idx, FEDC_ERR_IO, "libz.so.1", "zlib1g");
}

/* The hook takes a list, and only whole names in it. */
static void test_missing_libpng_fails_png(void **state)
{
	struct outcome o;

	(void)state;
	expect_missing("libfedc-other.so.1,libpng16.so.16", decode_png, FEDC_ERR_IO, "libpng16.so.16", "libpng16-16");
	run_with_missing("libpng16.so.1,libpng16.so.166", decode_png, &o);
	assert_int_equal(o.rc, FEDC_OK);
}

static void test_missing_libjpeg_fails_jpeg(void **state)
{
	(void)state;
	expect_missing("libjpeg.so.62", decode_jpeg, FEDC_ERR_IO, "libjpeg.so.62", "libjpeg62-turbo");
}

/* Not "not a readable NIfTI-1 or NIfTI-2 file". */
static void test_missing_libnifti2_fails_volume(void **state)
{
	(void)state;
	expect_missing("libnifti2.so.2", read_nifti, FEDC_ERR_IO, "libnifti2.so.2", "libnifti2-2");
}

static void test_missing_libcsv_fails_csv(void **state)
{
	(void)state;
	expect_missing("libcsv.so.3", parse_csv, FEDC_ERR_IO, "libcsv.so.3", "libcsv3");
}

static void test_missing_libseccomp_fails_sandbox(void **state)
{
	(void)state;
	expect_missing("libseccomp.so.2", install_filter, FEDC_ERR_IO, "libseccomp.so.2", "libseccomp2");
}

/* Not "cannot listen on ... (in use ...)". */
static void test_missing_libmicrohttpd_fails_metrics(void **state)
{
	(void)state;
	expect_missing("libmicrohttpd.so.12", start_metrics, FEDC_ERR_IO, "libmicrohttpd.so.12", "libmicrohttpd12");
}

static void test_missing_libcurl_fails_transfer(void **state)
{
	(void)state;
	expect_missing("libcurl.so.4", ask_repository, FEDC_ERR_IO, "libcurl.so.4", "libcurl4");
}

/* First: nothing has loaded zlib yet. A gzip'd IDX pair loads it, and
 * nothing else; a corrupt gzip stream fails through the lazy inflate. */
static void test_zlib_loaded_at_first_gzip_idx(void **state)
{
	struct node_dataset *ds = calloc(1, sizeof(*ds));
	struct fedc_data data;

	(void)state;
	assert_non_null(ds);
	assert_false(lazy_lib__is_loaded(&probe_z));
	assert_int_equal(dataset_idx__read_files("tiny", FEDC_FIXTURES_DIR "/idx/tiny-images-idx3-ubyte.gz",
						 FEDC_FIXTURES_DIR "/idx/tiny-labels-idx1-ubyte.gz", ds, &data),
			 FEDC_OK);
	assert_true(lazy_lib__is_loaded(&probe_z));
	assert_int_equal(data.n_samples, 5);
	assert_int_equal(data.n_features, 12);
	dataset__free_data(&data);
	assert_int_equal(dataset_idx__read_files("corrupt", FEDC_FIXTURES_DIR "/idx/corrupt-images-idx3-ubyte.gz",
						 FEDC_FIXTURES_DIR "/idx/tiny-labels-idx1-ubyte.gz", ds, &data),
			 FEDC_ERR_MALFORMED);
	assert_false(lazy_lib__is_loaded(&probe_png));
	assert_false(lazy_lib__is_loaded(&probe_jpeg));
	assert_false(lazy_lib__is_loaded(&probe_nifti));
	free(ds);
}

/* A PNG loads libpng only, a JPEG libjpeg; pixels come back as decoded,
 * and a truncated JPEG fails through libjpeg's longjmp into the decoder. */
static void test_image_libraries_loaded_at_first_decode(void **state)
{
	struct image_pixels px;
	size_t len;
	void *png = read_whole(CORPUS "png/grey8x8.png", &len);
	void *jpeg;

	(void)state;
	assert_false(lazy_lib__is_loaded(&probe_png));
	assert_int_equal(dataset_image__decode(png, len, "grey8x8.png", 1, &px), FEDC_OK);
	assert_true(lazy_lib__is_loaded(&probe_png));
	assert_false(lazy_lib__is_loaded(&probe_jpeg));
	assert_int_equal(px.width, 8);
	assert_int_equal(px.height, 8);
	free(px.pixels);
	free(png);

	jpeg = read_whole(CORPUS "jpeg/rgb9x5.jpg", &len);
	assert_int_equal(dataset_image__decode(jpeg, len, "rgb9x5.jpg", 3, &px), FEDC_OK);
	assert_true(lazy_lib__is_loaded(&probe_jpeg));
	assert_int_equal(px.width, 9);
	assert_int_equal(px.height, 5);
	assert_int_equal(px.channels, 3);
	free(px.pixels);
	free(jpeg);
	jpeg = read_whole(CORPUS "jpeg/truncated.jpg", &len);
	assert_int_equal(dataset_image__decode(jpeg, len, "truncated.jpg", 1, &px), FEDC_ERR_MALFORMED);
	assert_null(px.pixels);
	free(jpeg);
	assert_false(lazy_lib__is_loaded(&probe_nifti));
}

/* A NIfTI-1 file and a gzip'd one (through znzlib's own zlib) load
 * libnifti2; its voxels come back. */
static void test_nifti_loaded_at_first_volume(void **state)
{
	struct nifti_volume vol;

	(void)state;
	assert_false(lazy_lib__is_loaded(&probe_nifti));
	assert_int_equal(dataset_nifti__read_volume(CORPUS "nifti/f32-2cube.nii", "f32-2cube.nii", &vol), FEDC_OK);
	assert_true(lazy_lib__is_loaded(&probe_nifti));
	assert_int_equal(vol.d * vol.h * vol.w, 8);
	free(vol.voxels);
	assert_int_equal(dataset_nifti__read_volume(CORPUS "nifti/seg16.nii.gz", "seg16.nii.gz", &vol), FEDC_OK);
	assert_non_null(vol.voxels);
	free(vol.voxels);
	assert_int_equal(dataset_nifti__read_volume(CORPUS "png/grey8x8.png", "grey8x8.png", &vol),
			 FEDC_ERR_MALFORMED);
}

struct csv_seen {
	unsigned rows, cells;
	char last[16];
};

static enum fedc_err count_row(void *ctx, const struct csv_row *row)
{
	struct csv_seen *seen = ctx;
	size_t len;
	const char *cell = csv_rows__cell(row, row->n - 1, &len);

	seen->rows++;
	seen->cells += row->n;
	snprintf(seen->last, sizeof(seen->last), "%s", cell);
	return FEDC_OK;
}

/* CSV text loads libcsv; rows and cells come back through the callbacks
 * (function pointers and their data), quoting intact; bad quoting is
 * named with its line through the lazy csv_error and csv_strerror. */
static void test_csv_loaded_at_first_parse(void **state)
{
	static const char text[] = "a,b\n1,\"x,y\"\n";
	static const char bad[] = "a,b\n1,\"x\"y\n";
	struct csv_seen seen = { 0 };

	(void)state;
	assert_false(lazy_lib__is_loaded(&probe_csv));
	assert_int_equal(csv_rows__parse(text, sizeof(text) - 1, "t.csv", count_row, &seen), FEDC_OK);
	assert_true(lazy_lib__is_loaded(&probe_csv));
	assert_int_equal(seen.rows, 2);
	assert_int_equal(seen.cells, 4);
	assert_string_equal(seen.last, "x,y");
	assert_int_equal(csv_rows__parse(bad, sizeof(bad) - 1, "bad.csv", count_row, &seen), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "bad.csv: line 2"));
}

/* A filter loads libseccomp; rules go through with their arguments (the
 * filter is built and released, never loaded into this process). */
static void test_seccomp_loaded_by_init(void **state)
{
	const struct scmp_arg_cmp fd_is_1 = SCMP_A0(SCMP_CMP_EQ, 1);
	scmp_filter_ctx ctx;

	(void)state;
	assert_false(lazy_lib__is_loaded(&probe_seccomp));
	assert_int_equal(seccomp_syscall_resolve_name("read"), __NR_SCMP_ERROR); /* nothing without a filter */
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	assert_non_null(ctx);
	assert_true(lazy_lib__is_loaded(&probe_seccomp));
	assert_int_equal(seccomp_syscall_resolve_name("read"), 0); /* x86-64 */
	assert_int_equal(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1), 0);
	assert_int_equal(seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(1), seccomp_syscall_resolve_name("write"), 1,
						&fd_is_1),
			 0);
	/* The filter's own default action as a rule's: refused */
	assert_true(seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, seccomp_syscall_resolve_name("write"), 0, NULL) < 0);
	seccomp_release(ctx);
}

/* Everything before the first setopt leaves libcurl out of the process. */
static void test_curl_not_loaded_until_first_setopt(void **state)
{
	struct curl_slist *list;
	CURL *h;

	(void)state;
	assert_false(lazy_lib__is_loaded(&probe_curl));
	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	h = curl_easy_init();
	assert_non_null(h);
	list = curl_slist_append(NULL, "Expect:");
	assert_non_null(list);
	assert_ptr_equal(curl_slist_append(list, "Authorization: Bearer t"), list);
	assert_string_equal(list->data, "Expect:");
	assert_string_equal(list->next->data, "Authorization: Bearer t");
	assert_null(list->next->next);
	curl_easy_reset(h);
	assert_false(lazy_lib__is_loaded(&probe_curl));

	assert_int_equal(curl_easy_setopt(h, CURLOPT_HTTPHEADER, list), CURLE_OK);
	assert_true(lazy_lib__is_loaded(&probe_curl));
	curl_easy_cleanup(h);
	curl_slist_free_all(list);
	curl_easy_cleanup(curl_easy_init()); /* a handle that never had a real one */
}

/* A file:// transfer: the URL (a string), the write callback (a function
 * pointer) and its data (a pointer), a long, getinfo's out-pointer. */
static void test_curl_transfer_through_lazy_handle(void **state)
{
	char path[64], url[96];
	struct body body = { .len = 0 };
	curl_off_t got = 0;
	CURL *h = curl_easy_init();

	(void)state;
	write_file(path, sizeof(path), "twelve bytes");
	snprintf(url, sizeof(url), "file://%s", path);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_URL, url), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEDATA, &body), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L), CURLE_OK);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	assert_string_equal(body.text, "twelve bytes");
	assert_int_equal(curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &got), CURLE_OK);
	assert_int_equal(got, 12);
	curl_easy_cleanup(h);
	unlink(path);
}

/* A curl_off_t option arrives as its value: resuming at byte 7 gets the
 * last 5 bytes. An option number past the last is refused, not guessed. */
static void test_curl_off_t_option(void **state)
{
	char path[64], url[96];
	struct body body = { .len = 0 };
	CURL *h = curl_easy_init();

	(void)state;
	write_file(path, sizeof(path), "twelve bytes");
	snprintf(url, sizeof(url), "file://%s", path);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_URL, url), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEDATA, &body), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)7), CURLE_OK);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	assert_string_equal(body.text, "bytes");
	assert_int_equal(curl_easy_setopt(h, (CURLoption)CURLOPT_LASTENTRY, 1L), CURLE_UNKNOWN_OPTION);
	assert_string_equal(curl_easy_strerror(CURLE_UNKNOWN_OPTION), "An unknown option was passed in to libcurl");
	curl_easy_cleanup(h);
	unlink(path);
}

static enum MHD_Result echo_header(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				   const char *version, const char *upload_data, size_t *upload_data_size,
				   void **con_cls)
{
	const char *value = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Echo");
	static const char missing[] = "none";
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)cls, (void)url, (void)method, (void)version, (void)upload_data, (void)upload_data_size, (void)con_cls;
	if (!value)
		value = missing;
	r = MHD_create_response_from_buffer(strlen(value), (void *)(uintptr_t)value, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	(void)MHD_add_response_header(r, "X-Lazy", "yes");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
	if (size * n >= 12 && strncmp(data, "X-Lazy: yes", 11) == 0)
		*(int *)user = 1;
	return size * n;
}

/* The listener loads libmicrohttpd; a request gets a header looked up and
 * a response built, headed and queued through the lazy definitions. */
static void test_mhd_loaded_by_start(void **state)
{
	struct body body = { .len = 0 };
	struct curl_slist *headers = curl_slist_append(NULL, "X-Echo: lazy");
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *daemon;
	int saw_header = 0;
	char url[64];
	CURL *h;

	(void)state;
	assert_false(lazy_lib__is_loaded(&probe_mhd));
	daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, echo_header, NULL,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)4, MHD_OPTION_END);
	assert_non_null(daemon);
	assert_true(lazy_lib__is_loaded(&probe_mhd));
	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	assert_true(info->port > 0);

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)info->port);
	h = curl_easy_init();
	assert_int_equal(curl_easy_setopt(h, CURLOPT_URL, url), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEDATA, &body), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_HEADERDATA, &saw_header), CURLE_OK);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	assert_string_equal(body.text, "lazy");
	assert_true(saw_header);
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	MHD_stop_daemon(daemon);
}

static void test_missing_library_named_with_package(void **state)
{
	static const char *const symbols[] = { "anything", NULL };
	static void *addrs[1];
	static struct lazy_lib lib = LAZY_LIB_INIT("libfedc-no-such-library.so.9", "fedc-no-such-package", "a test", symbols, addrs);

	(void)state;
	assert_false(lazy_lib__load(&lib));
	assert_non_null(strstr(lazy_lib__error(&lib), "libfedc-no-such-library.so.9"));
	assert_non_null(strstr(lazy_lib__error(&lib), "install package fedc-no-such-package"));
	assert_non_null(strstr(lazy_lib__error(&lib), "needed for a test"));
	assert_false(lazy_lib__load(&lib)); /* the first outcome stands */
	assert_false(lazy_lib__is_loaded(&lib));
}

static void test_missing_symbol_named(void **state)
{
	static const char *const symbols[] = { "zlibVersion", "fedc_no_such_symbol", NULL };
	static void *addrs[2];
	static struct lazy_lib lib = LAZY_LIB_INIT("libz.so.1", "zlib1g", "a test", symbols, addrs);

	(void)state;
	assert_false(lazy_lib__load(&lib));
	assert_non_null(addrs[0]);
	assert_non_null(strstr(lazy_lib__error(&lib), "has no fedc_no_such_symbol"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_require_linked),
		cmocka_unit_test(test_missing_zlib_fails_gzip_idx),
		cmocka_unit_test(test_missing_libpng_fails_png),
		cmocka_unit_test(test_missing_libjpeg_fails_jpeg),
		cmocka_unit_test(test_missing_libnifti2_fails_volume),
		cmocka_unit_test(test_missing_libcsv_fails_csv),
		cmocka_unit_test(test_missing_libseccomp_fails_sandbox),
		cmocka_unit_test(test_missing_libmicrohttpd_fails_metrics),
		cmocka_unit_test(test_missing_libcurl_fails_transfer),
		cmocka_unit_test(test_zlib_loaded_at_first_gzip_idx),
		cmocka_unit_test(test_image_libraries_loaded_at_first_decode),
		cmocka_unit_test(test_nifti_loaded_at_first_volume),
		cmocka_unit_test(test_seccomp_loaded_by_init),
		cmocka_unit_test(test_csv_loaded_at_first_parse),
		cmocka_unit_test(test_curl_not_loaded_until_first_setopt),
		cmocka_unit_test(test_curl_transfer_through_lazy_handle),
		cmocka_unit_test(test_curl_off_t_option),
		cmocka_unit_test(test_mhd_loaded_by_start),
		cmocka_unit_test(test_missing_library_named_with_package),
		cmocka_unit_test(test_missing_symbol_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
