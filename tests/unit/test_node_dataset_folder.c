/* Folder datasets, the common part (node/dataset_folder.c): the listing's
 * order and what it refuses, the digest's reading, the option helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset_folder.h"

static char tmp_dir[64];

static int make_tmp(void **state)
{
	(void)state;
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/fedc-test-folder-XXXXXX");
	return mkdtemp(tmp_dir) ? 0 : -1;
}

static int drop_tmp(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void dir(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void expect_refused(enum fedc_err code, const char *fragment)
{
	struct folder_listing l;
	enum fedc_err rc = dataset_folder__list(tmp_dir, &l);

	if (rc != code || !strstr(fedc_last_error(), fragment))
		print_error("got %s \"%s\", wanted %s with \"%s\"\n", fedc_strerror(rc), fedc_last_error(),
			    fedc_strerror(code), fragment);
	assert_int_equal(rc, code);
	assert_non_null(strstr(fedc_last_error(), fragment));
	dataset_folder__free(&l);
}

/* Recursive, byte-wise by relative path, hidden names skipped, sizes kept. */
static void test_list_sorted_recursive(void **state)
{
	static const char *const want[] = { "B.png", "a/c/deep.png", "a/x.png", "a/y.png", "b/z.png" };
	struct folder_listing l;

	(void)state;
	dir("a");
	dir("a/c");
	dir("b");
	dir(".git");
	put("b/z.png", "zz");
	put("a/y.png", "y");
	put("a/x.png", "xxx");
	put("B.png", "");
	put("a/c/deep.png", "d");
	put(".hidden", "h");
	put(".git/config", "c");
	assert_int_equal(dataset_folder__list(tmp_dir, &l), FEDC_OK);
	assert_int_equal(l.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(l.files[i].rel, want[i]);
	assert_int_equal(l.files[2].size, 3);
	dataset_folder__free(&l);
}

/* A link to a file inside is a file; out of the folder, to a folder, or
 * dangling it is refused, naming it. */
static void test_list_links(void **state)
{
	char target[512], link[512];
	struct folder_listing l;

	(void)state;
	dir("a");
	put("a/real.png", "r");
	snprintf(target, sizeof(target), "%s/a/real.png", tmp_dir);
	snprintf(link, sizeof(link), "%s/a/alias.png", tmp_dir);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(dataset_folder__list(tmp_dir, &l), FEDC_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.files[0].rel, "a/alias.png");
	dataset_folder__free(&l);

	snprintf(link, sizeof(link), "%s/a/out.png", tmp_dir);
	assert_int_equal(symlink("/etc/hostname", link), 0);
	expect_refused(FEDC_ERR_MALFORMED, "a/out.png: a symbolic link out of the dataset folder");
	assert_int_equal(unlink(link), 0);

	snprintf(target, sizeof(target), "%s/a", tmp_dir);
	snprintf(link, sizeof(link), "%s/loop", tmp_dir);
	assert_int_equal(symlink(target, link), 0);
	expect_refused(FEDC_ERR_MALFORMED, "loop: a symbolic link to something other than a regular file");
	assert_int_equal(unlink(link), 0);

	assert_int_equal(symlink("/nonexistent/x", link), 0);
	expect_refused(FEDC_ERR_MALFORMED, "loop: a symbolic link that leads nowhere");
}

static void test_list_special_file_refused(void **state)
{
	char fifo[512];

	(void)state;
	snprintf(fifo, sizeof(fifo), "%s/pipe.png", tmp_dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	expect_refused(FEDC_ERR_MALFORMED, "pipe.png: not a regular file or a folder");
}

static void test_list_not_a_folder(void **state)
{
	struct folder_listing l;
	char path[512];

	(void)state;
	put("file", "x");
	snprintf(path, sizeof(path), "%s/file", tmp_dir);
	assert_int_equal(dataset_folder__list(path, &l), FEDC_ERR_IO);
	assert_non_null(strstr(fedc_last_error(), "not a folder"));
	dataset_folder__free(&l);
	snprintf(path, sizeof(path), "%s/missing", tmp_dir);
	assert_int_equal(dataset_folder__list(path, &l), FEDC_ERR_IO);
	dataset_folder__free(&l);
}

/* The digest covers name, size and bytes: renaming a file or moving bytes
 * between two files changes it. */
static void digest_of(const char *a_name, const char *a, const char *b_name, const char *b, char *hex)
{
	struct fedc_buf buf = FEDC_BUF_INIT(1024);
	struct fedc_hash *h = NULL;
	struct folder_file fa = { (char *)(uintptr_t)a_name, 0, { 0, 0 } }, fb = { (char *)(uintptr_t)b_name, 0, { 0, 0 } };

	put(a_name, a);
	put(b_name, b);
	assert_int_equal(fedc_hash_new(FEDC_HASH_SHA256, &h), FEDC_OK);
	assert_int_equal(dataset_folder__read(tmp_dir, &fa, 1024, h, &buf), FEDC_OK);
	assert_int_equal(dataset_folder__read(tmp_dir, &fb, 1024, h, &buf), FEDC_OK);
	assert_string_equal(buf.data, b);
	assert_int_equal(fedc_hash_final(h, hex), FEDC_OK);
	fedc_hash_free(h);
	fedc_buf_free(&buf);
}

static void test_digest_covers_names_and_boundaries(void **state)
{
	char one[FEDC_HASH_MAX_HEXLEN + 1], two[FEDC_HASH_MAX_HEXLEN + 1], three[FEDC_HASH_MAX_HEXLEN + 1];
	char again[FEDC_HASH_MAX_HEXLEN + 1];

	(void)state;
	digest_of("p", "ab", "q", "c", one);
	digest_of("p", "a", "q", "bc", two);
	digest_of("p", "ab", "r", "c", three);
	digest_of("p", "ab", "q", "c", again);
	assert_string_not_equal(one, two);
	assert_string_not_equal(one, three);
	assert_string_equal(one, again);
}

static void test_read_caps_size(void **state)
{
	struct fedc_buf buf = FEDC_BUF_INIT(1024);
	struct fedc_hash *h = NULL;
	struct folder_file f = { (char *)(uintptr_t)"big", 0, { 0, 0 } };

	(void)state;
	put("big", "0123456789");
	assert_int_equal(fedc_hash_new(FEDC_HASH_SHA256, &h), FEDC_OK);
	assert_int_equal(dataset_folder__read(tmp_dir, &f, 9, h, &buf), FEDC_ERR_TOO_BIG);
	assert_non_null(strstr(fedc_last_error(), "/big: larger than 9 bytes"));
	fedc_hash_free(h);
	fedc_buf_free(&buf);
}

static void test_options_and_dims(void **state)
{
	char v[16];
	uint32_t d[3];
	struct timespec t = { 1700000000, 5 }, back;

	(void)state;
	assert_true(dataset_folder__option("size=28x28;channels=3", "channels", v, sizeof(v)));
	assert_string_equal(v, "3");
	assert_true(dataset_folder__option("size=28x28;channels=3", "size", v, sizeof(v)));
	assert_string_equal(v, "28x28");
	assert_false(dataset_folder__option("sizes=1;x=2", "size", v, sizeof(v)));
	assert_false(dataset_folder__option("size=0123456789abcdefgh", "size", v, sizeof(v)));
	assert_true(dataset_folder__parse_dims("16x8x4", 3, 100, d));
	assert_int_equal(d[0] * 100 + d[1] * 10 + d[2], 1684);
	assert_false(dataset_folder__parse_dims("16x8", 3, 100, d));
	assert_false(dataset_folder__parse_dims("16x8x4x", 3, 100, d));
	assert_false(dataset_folder__parse_dims("16x0x4", 3, 100, d));
	assert_false(dataset_folder__parse_dims("16x-8x4", 3, 100, d));
	assert_false(dataset_folder__parse_dims("101x1", 2, 100, d));
	{
		char text[32];

		dataset_folder__format_time(t, text, sizeof(text));
		assert_string_equal(text, "1700000000.000000005");
	}
	assert_true(dataset_folder__parse_time("1700000000.000000005", &back));
	assert_int_equal(back.tv_sec, t.tv_sec);
	assert_int_equal(back.tv_nsec, 5);
	assert_false(dataset_folder__parse_time("1700000000.5", &back));
	assert_false(dataset_folder__parse_time("x.000000005", &back));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list_sorted_recursive, make_tmp, drop_tmp),
		cmocka_unit_test_setup_teardown(test_list_links, make_tmp, drop_tmp),
		cmocka_unit_test_setup_teardown(test_list_special_file_refused, make_tmp, drop_tmp),
		cmocka_unit_test_setup_teardown(test_list_not_a_folder, make_tmp, drop_tmp),
		cmocka_unit_test_setup_teardown(test_digest_covers_names_and_boundaries, make_tmp, drop_tmp),
		cmocka_unit_test_setup_teardown(test_read_caps_size, make_tmp, drop_tmp),
		cmocka_unit_test(test_options_and_dims),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
