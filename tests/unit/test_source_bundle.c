/* The plan source bundle (fedc/source_bundle.h): what the researcher packs
 * decodes to the same files; the node's decoder refuses bad names, repeated
 * names, binary and hidden-control bytes, wrong counts, trailing bytes, a
 * bundle cut at any byte and one over the size cap. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/source_bundle.h"

static struct fedc_source_bundle out; /* 9 KiB: off the stack */

/* ---- hand-made bundles ---- */

static void put_be(struct fedc_buf *b, uint64_t v, size_t width)
{
	uint8_t bytes[8];

	for (size_t i = 0; i < width; i++)
		bytes[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
	assert_int_equal(fedc_buf_append(b, bytes, width), FEDC_OK);
}

static void start(struct fedc_buf *b, unsigned count)
{
	fedc_buf_init(b, 4u << 20);
	assert_int_equal(fedc_buf_append(b, "FEDCSRC1", 8), FEDC_OK);
	put_be(b, count, 2);
}

static void add(struct fedc_buf *b, const char *name, const void *text, size_t len)
{
	put_be(b, strlen(name), 1);
	assert_int_equal(fedc_buf_append(b, name, strlen(name)), FEDC_OK);
	put_be(b, len, 4);
	assert_int_equal(fedc_buf_append(b, text, len), FEDC_OK);
}

/* A one-file bundle of `name` and `text` (len bytes): what decode says. */
static enum fedc_err decode_one(const char *name, const void *text, size_t len)
{
	struct fedc_buf b;
	enum fedc_err rc;

	start(&b, 1);
	add(&b, name, text, len);
	rc = fedc_source_decode(b.data, b.len, &out);
	fedc_buf_free(&b);
	return rc;
}

static void test_decode_two_files(void **state)
{
	const char *text = "int x;\r\n\tif (a) b(); /* caf\xc3\xa9 \xe2\x82\xac */\f\n";
	struct fedc_buf b;

	(void)state;
	start(&b, 2);
	add(&b, "plan.c", text, strlen(text));
	add(&b, "plan_util-2+x.h", "", 0);
	assert_int_equal(fedc_source_decode(b.data, b.len, &out), FEDC_OK);
	assert_int_equal(out.n, 2);
	assert_string_equal(out.files[0].name, "plan.c");
	assert_int_equal(out.files[0].len, strlen(text));
	assert_memory_equal(out.files[0].text, text, strlen(text));
	assert_string_equal(out.files[1].name, "plan_util-2+x.h");
	assert_int_equal(out.files[1].len, 0);
	fedc_buf_free(&b);
}

static void test_decode_bad_names(void **state)
{
	const char *bad[] = { "../plan.c", "a/b.c", "..", ".hidden", "sp ace.c", "semi;colon", "nul\x01" };
	char long_name[FEDC_SOURCE_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(decode_one(bad[i], "x", 1), FEDC_ERR_MALFORMED);
	assert_int_equal(decode_one("", "x", 1), FEDC_ERR_MALFORMED);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(decode_one(long_name, "x", 1), FEDC_ERR_MALFORMED);
	long_name[FEDC_SOURCE_NAME_MAX] = '\0';
	assert_int_equal(decode_one(long_name, "x", 1), FEDC_OK);
}

static void test_decode_duplicate_name(void **state)
{
	struct fedc_buf b;

	(void)state;
	start(&b, 2);
	add(&b, "plan.c", "a", 1);
	add(&b, "plan.c", "b", 1);
	assert_int_equal(fedc_source_decode(b.data, b.len, &out), FEDC_ERR_MALFORMED);
	assert_int_equal(out.n, 0);
	fedc_buf_free(&b);
}

static void test_decode_binary_bytes(void **state)
{
	static const char *const bad[] = {
		"a\0b",                 /* NUL */
		"\x1b[2J",              /* ESC: a terminal escape */
		"\x7f",                 /* DEL */
		"\xff",                 /* never UTF-8 */
		"\xc0\x80",             /* overlong NUL */
		"\xe0\x80\xaf",         /* overlong '/' */
		"\xed\xa0\x80",         /* a surrogate */
		"\xf4\x90\x80\x80",     /* past U+10FFFF */
		"\xc3",                 /* cut sequence */
		"\xc2\x85",             /* C1 control NEL */
		"x \xe2\x80\xae y",     /* U+202E right-to-left override (Trojan Source) */
		"\xe2\x81\xa6",         /* U+2066 left-to-right isolate */
	};
	static const size_t len[] = { 3, 4, 1, 1, 2, 3, 3, 4, 1, 2, 7, 3 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(decode_one("plan.c", bad[i], len[i]), FEDC_ERR_MALFORMED);
	/* their neighbours that are text */
	assert_int_equal(decode_one("plan.c", "\xc2\xa0\xe2\x80\xa9\xe2\x81\xa5\xf4\x8f\xbf\xbf", 12), FEDC_OK);
}

static void test_decode_truncated_everywhere(void **state)
{
	struct fedc_buf b;

	(void)state;
	start(&b, 2);
	add(&b, "plan.c", "int main;\n", 10);
	add(&b, "b.h", "x", 1);
	for (size_t cut = 0; cut < b.len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees a read past it */

		memcpy(copy, b.data, cut);
		assert_int_equal(fedc_source_decode(copy, cut, &out), FEDC_ERR_MALFORMED);
		free(copy);
	}
	assert_int_equal(fedc_source_decode(b.data, b.len, &out), FEDC_OK);
	fedc_buf_free(&b);
}

static void test_decode_bad_counts_and_trailing_bytes(void **state)
{
	struct fedc_buf b;

	(void)state;
	start(&b, 0);
	assert_int_equal(fedc_source_decode(b.data, b.len, &out), FEDC_ERR_MALFORMED);
	fedc_buf_free(&b);
	start(&b, FEDC_SOURCE_MAX_FILES + 1);
	for (int i = 0; i <= FEDC_SOURCE_MAX_FILES; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d.c", i);
		add(&b, name, "x", 1);
	}
	assert_int_equal(fedc_source_decode(b.data, b.len, &out), FEDC_ERR_MALFORMED);
	fedc_buf_free(&b);
	start(&b, 1);
	add(&b, "plan.c", "x", 1);
	assert_int_equal(fedc_buf_append(&b, "!", 1), FEDC_OK);
	assert_int_equal(fedc_source_decode(b.data, b.len, &out), FEDC_ERR_MALFORMED);
	fedc_buf_free(&b);
	assert_int_equal(fedc_source_decode("FEDCSRC2\x00\x01", 10, &out), FEDC_ERR_MALFORMED);
}

static void test_decode_over_cap(void **state)
{
	size_t len = FEDC_SOURCE_MAX - 8 - 2 - 1 - 6 - 4;
	char *text = malloc(len + 1);
	struct fedc_buf b;

	(void)state;
	memset(text, 'x', len + 1);
	start(&b, 1);
	add(&b, "plan.c", text, len);
	assert_int_equal(b.len, FEDC_SOURCE_MAX);
	assert_int_equal(fedc_source_decode(b.data, b.len, &out), FEDC_OK);
	fedc_buf_free(&b);
	start(&b, 1);
	add(&b, "plan.c", text, len + 1);
	assert_int_equal(fedc_source_decode(b.data, b.len, &out), FEDC_ERR_TOO_BIG);
	fedc_buf_free(&b);
	free(text);
}

/* ---- packing ---- */

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fedc-source-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const void *data, size_t len)
{
	static char paths[4][256];
	static int next;
	char *path = paths[next++ % 4];
	FILE *f;

	snprintf(path, 256, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void test_pack_round_trip(void **state)
{
	const char *paths[2];
	struct fedc_buf b = FEDC_BUF_INIT(1);

	(void)state;
	paths[0] = write_file("plan.c", "#include \"util.h\"\n", 18);
	paths[1] = write_file("util.h", "#define N 3\n", 12);
	assert_int_equal(fedc_source_pack(paths, 2, &b), FEDC_OK);
	assert_int_equal(fedc_source_decode(b.data, b.len, &out), FEDC_OK);
	assert_int_equal(out.n, 2);
	assert_string_equal(out.files[0].name, "plan.c");
	assert_memory_equal(out.files[0].text, "#include \"util.h\"\n", 18);
	assert_string_equal(out.files[1].name, "util.h");
	assert_int_equal(out.files[1].len, 12);
	fedc_buf_free(&b);
}

static void test_pack_refuses(void **state)
{
	const char *paths[2] = { NULL, NULL };
	struct fedc_buf b = FEDC_BUF_INIT(1);
	char *big = malloc(FEDC_SOURCE_MAX);

	(void)state;
	assert_int_equal(fedc_source_pack(paths, 0, &b), FEDC_ERR_INVAL);
	paths[0] = write_file("plan.so", "\x7f" "ELF\x02\x01", 6);
	assert_int_equal(fedc_source_pack(paths, 1, &b), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "plan.so"));
	assert_null(b.data);
	paths[0] = write_file("my plan.c", "x", 1);
	assert_int_equal(fedc_source_pack(paths, 1, &b), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "rename"));
	paths[0] = write_file("a.c", "x", 1);
	paths[1] = paths[0];
	assert_int_equal(fedc_source_pack(paths, 2, &b), FEDC_ERR_INVAL); /* one name twice */
	paths[1] = "/nonexistent/plan.c";
	assert_int_equal(fedc_source_pack(paths, 2, &b), FEDC_ERR_IO);
	memset(big, 'x', FEDC_SOURCE_MAX);
	paths[1] = write_file("big.c", big, FEDC_SOURCE_MAX);
	assert_int_equal(fedc_source_pack(paths, 2, &b), FEDC_ERR_TOO_BIG);
	assert_non_null(strstr(fedc_last_error(), "big.c"));
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_two_files),
		cmocka_unit_test(test_decode_bad_names),
		cmocka_unit_test(test_decode_duplicate_name),
		cmocka_unit_test(test_decode_binary_bytes),
		cmocka_unit_test(test_decode_truncated_everywhere),
		cmocka_unit_test(test_decode_bad_counts_and_trailing_bytes),
		cmocka_unit_test(test_decode_over_cap),
		cmocka_unit_test_setup_teardown(test_pack_round_trip, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_pack_refuses, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
