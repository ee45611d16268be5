/* Libraries fedc-node loads at first use (node/lazy/): libcurl and
 * libmicrohttpd, the dataset readers' zlib, libpng, libjpeg, libnifti2 and
 * libcsv, and the plan sandbox's libseccomp. Nothing maps them before a transfer, a
 * listener, a dataset read or a filter needs them, calls go through to the real libraries with their
 * arguments intact (long, pointer, function pointer, curl_off_t; libjpeg's
 * longjmp error path), and a library or symbol that cannot be loaded is a
 * failure that names it and its package. This executable links the lazy
 * definitions with --as-needed, as fedc-node does (tests/CMakeLists.txt):
 * none of these libraries is among its NEEDED ones. The tests run in
 * order: each checks what is still not loaded (libcurl, libpng and
 * libnifti2 bring zlib with them). */
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
#include <unistd.h>

#include "csv_rows.h"
#include "dataset.h"
#include "dataset_idx.h"
#include "dataset_image.h"
#include "dataset_nifti.h"
#include "lazy/lazy_lib.h"

#define CORPUS FEDC_SOURCE_DIR "/tests/fuzz/corpus/"

static struct lazy_lib probe_curl = LAZY_LIB_INIT("libcurl.so.4", "libcurl4", NULL, NULL);
static struct lazy_lib probe_mhd = LAZY_LIB_INIT("libmicrohttpd.so.12", "libmicrohttpd12", NULL, NULL);
static struct lazy_lib probe_z = LAZY_LIB_INIT("libz.so.1", "zlib1g", NULL, NULL);
static struct lazy_lib probe_png = LAZY_LIB_INIT("libpng16.so.16", "libpng16-16", NULL, NULL);
static struct lazy_lib probe_jpeg = LAZY_LIB_INIT("libjpeg.so.62", "libjpeg62-turbo", NULL, NULL);
static struct lazy_lib probe_nifti = LAZY_LIB_INIT("libnifti2.so.2", "libnifti2-2", NULL, NULL);
static struct lazy_lib probe_seccomp = LAZY_LIB_INIT("libseccomp.so.2", "libseccomp2", NULL, NULL);
static struct lazy_lib probe_csv = LAZY_LIB_INIT("libcsv.so.3", "libcsv3", NULL, NULL);

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
	static struct lazy_lib lib = LAZY_LIB_INIT("libfedc-no-such-library.so.9", "fedc-no-such-package", symbols, addrs);

	(void)state;
	assert_false(lazy_lib__load(&lib));
	assert_non_null(strstr(lazy_lib__error(&lib), "libfedc-no-such-library.so.9"));
	assert_non_null(strstr(lazy_lib__error(&lib), "package fedc-no-such-package"));
	assert_false(lazy_lib__load(&lib)); /* the first outcome stands */
	assert_false(lazy_lib__is_loaded(&lib));
}

static void test_missing_symbol_named(void **state)
{
	static const char *const symbols[] = { "zlibVersion", "fedc_no_such_symbol", NULL };
	static void *addrs[2];
	static struct lazy_lib lib = LAZY_LIB_INIT("libz.so.1", "zlib1g", symbols, addrs);

	(void)state;
	assert_false(lazy_lib__load(&lib));
	assert_non_null(addrs[0]);
	assert_non_null(strstr(lazy_lib__error(&lib), "has no fedc_no_such_symbol"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
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
