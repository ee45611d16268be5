/* The bounds-checked cursor (fedc/cursor.h): every read checks what
 * remains, fails with MALFORMED and leaves the cursor where it was; a
 * structure cut at any byte is refused; and nothing reads past the end --
 * the bytes under test end exactly at an inaccessible page, so one byte read
 * too far would crash the test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fedc/cursor.h"

/* Two pages: the second is PROT_NONE; copies put bytes right before it. */
static uint8_t *pages;
static size_t page;

static int map_guard(void **state)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	pages = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages == MAP_FAILED)
		return -1;
	return mprotect(pages + page, page, PROT_NONE);
}

static int unmap_guard(void **state)
{
	return munmap(pages, 2 * page);
}

/* `len` bytes of `src` placed so that the next byte is unreadable. */
static const uint8_t *at_edge(const void *src, size_t len)
{
	assert_true(len <= page);
	memcpy(pages + page - len, src, len);
	return pages + page - len;
}

static void test_take_and_be(void **state)
{
	static const uint8_t bytes[] = { 0x01, 0x02, 0x03, 0x04, 0x05 };
	const uint8_t *buf = at_edge(bytes, sizeof(bytes)), *p = NULL;
	struct fedc_cursor c;
	uint64_t v = 0;

	fedc_cursor_init(&c, buf, sizeof(bytes));
	assert_int_equal(fedc_cursor_be(&c, 2, "a short", &v), FEDC_OK);
	assert_int_equal(v, 0x0102);
	assert_int_equal(fedc_cursor_offset(&c), 2);
	/* 4 bytes wanted, 3 left: refused, cursor unchanged */
	assert_int_equal(fedc_cursor_be(&c, 4, "a long", &v), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "truncated a long at offset 2: declares 4 bytes, 3 remain"));
	assert_int_equal(fedc_cursor_offset(&c), 2);
	assert_int_equal(c.left, 3);
	assert_int_equal(fedc_cursor_take(&c, UINT64_MAX, "data", &p), FEDC_ERR_MALFORMED);
	assert_int_equal(fedc_cursor_take(&c, 3, "data", &p), FEDC_OK);
	assert_ptr_equal(p, buf + 2);
	assert_int_equal(c.left, 0);
	assert_int_equal(fedc_cursor_take(&c, 1, "more", &p), FEDC_ERR_MALFORMED);
	assert_int_equal(fedc_cursor_take(&c, 0, "nothing", &p), FEDC_OK);
	assert_int_equal(fedc_cursor_be(&c, 9, "too wide", &v), FEDC_ERR_INVAL);
}

static void test_msgpack_forms(void **state)
{
	/* fixmap 1, str8 "ab", bin16 2 bytes, uint32, int8 -1, int16 5, array16 of 3 */
	static const uint8_t bytes[] = { 0x81, 0xd9, 0x02, 'a', 'b', 0xc5, 0x00, 0x02, 0xee, 0xff,
					 0xce, 0x00, 0x01, 0x00, 0x00, 0xd0, 0xff, 0xd1, 0x00, 0x05,
					 0xdc, 0x00, 0x03 };
	const uint8_t *buf = at_edge(bytes, sizeof(bytes)), *p = NULL;
	struct fedc_cursor c;
	uint32_t n = 0;
	uint64_t v = 0;

	fedc_cursor_init(&c, buf, sizeof(bytes));
	/* a map is not an array: refused, cursor unchanged */
	assert_int_equal(fedc_mp_header(&c, &FEDC_MP_ARRAY, "an array", &n), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "expected an array, found msgpack type byte 0x81 at offset 0"));
	assert_int_equal(fedc_cursor_offset(&c), 0);
	assert_int_equal(fedc_mp_header(&c, &FEDC_MP_MAP, "a map", &n), FEDC_OK);
	assert_int_equal(n, 1);
	assert_int_equal(fedc_mp_bytes(&c, &FEDC_MP_STR, "a key", &p, &n), FEDC_OK);
	assert_int_equal(n, 2);
	assert_memory_equal(p, "ab", 2);
	assert_int_equal(fedc_mp_uint(&c, "a number", &v), FEDC_ERR_MALFORMED); /* a bin */
	assert_int_equal(fedc_mp_bytes(&c, &FEDC_MP_BIN, "a blob", &p, &n), FEDC_OK);
	assert_int_equal(n, 2);
	assert_int_equal(p[1], 0xff);
	assert_int_equal(fedc_mp_uint(&c, "a number", &v), FEDC_OK);
	assert_int_equal(v, 65536);
	assert_int_equal(fedc_mp_uint(&c, "a count", &v), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "a count is negative"));
	assert_int_equal(fedc_cursor_offset(&c), 15); /* unchanged by the refusal */
	assert_int_equal(fedc_cursor_take(&c, 2, "skip", &p), FEDC_OK);
	assert_int_equal(fedc_mp_uint(&c, "a signed positive", &v), FEDC_OK);
	assert_int_equal(v, 5);
	assert_int_equal(fedc_mp_header(&c, &FEDC_MP_ARRAY, "an array", &n), FEDC_OK);
	assert_int_equal(n, 3); /* declared: the caller checks what follows */
	assert_int_equal(c.left, 0);
}

/* A bin that declares more than is there is refused before anything is
 * read, the header included. */
static void test_declared_length_past_end(void **state)
{
	static const uint8_t bytes[] = { 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00 };
	const uint8_t *buf = at_edge(bytes, sizeof(bytes)), *p = NULL;
	struct fedc_cursor c;
	uint32_t n = 0;

	fedc_cursor_init(&c, buf, sizeof(bytes));
	assert_int_equal(fedc_mp_bytes(&c, &FEDC_MP_BIN, "the data", &p, &n), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "declares 4294967295 bytes, 1 remain"));
	assert_int_equal(fedc_cursor_offset(&c), 0);
	assert_int_equal(fedc_mp_check(buf, sizeof(bytes), 8), FEDC_ERR_MALFORMED);
}

/* A document with every form fedc decoders meet. */
static size_t sample(msgpack_sbuffer *sb)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	msgpack_pack_str_with_body(&pk, "name", 4);
	msgpack_pack_str_with_body(&pk, "a string of more than thirty-one bytes", 38);
	msgpack_pack_str_with_body(&pk, "data", 4);
	msgpack_pack_bin_with_body(&pk, "\x00\x01\x02\x03\x04\x05\x06\x07", 8);
	msgpack_pack_str_with_body(&pk, "n", 1);
	msgpack_pack_uint64(&pk, 1ull << 40);
	msgpack_pack_str_with_body(&pk, "list", 4);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint16(&pk, 300);
	msgpack_pack_float(&pk, 1.5f);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_int8(&pk, -3);
	msgpack_pack_nil(&pk);
	return sb->size;
}

/* Reads the sample with the typed reads, as a decoder would. */
static enum fedc_err read_sample(const uint8_t *buf, size_t len)
{
	const uint8_t *p = NULL;
	struct fedc_cursor c;
	uint32_t n = 0;
	uint64_t v = 0;
	enum fedc_err rc;

	fedc_cursor_init(&c, buf, len);
	rc = fedc_mp_header(&c, &FEDC_MP_MAP, "map", &n);
	for (int i = 0; !rc && i < 3; i++) {
		rc = fedc_mp_bytes(&c, &FEDC_MP_STR, "key", &p, &n);
		if (!rc && i == 0)
			rc = fedc_mp_bytes(&c, &FEDC_MP_STR, "name", &p, &n);
		else if (!rc && i == 1)
			rc = fedc_mp_bytes(&c, &FEDC_MP_BIN, "data", &p, &n);
		else if (!rc)
			rc = fedc_mp_uint(&c, "n", &v);
	}
	if (!rc)
		rc = fedc_mp_bytes(&c, &FEDC_MP_STR, "key", &p, &n);
	if (!rc)
		rc = fedc_mp_skip(&c, 4);
	if (!rc && c.left)
		rc = FEDC_ERR_MALFORMED;
	return rc;
}

static void test_truncated_at_every_byte(void **state)
{
	msgpack_sbuffer sb;
	size_t len = sample(&sb);

	assert_int_equal(fedc_mp_check(at_edge(sb.data, len), len, 8), FEDC_OK);
	assert_int_equal(read_sample(at_edge(sb.data, len), len), FEDC_OK);
	for (size_t cut = 0; cut < len; cut++) {
		const uint8_t *buf = at_edge(sb.data, cut);

		if (fedc_mp_check(buf, cut, 8) != FEDC_ERR_MALFORMED)
			fail_msg("check accepted the sample cut at byte %zu of %zu", cut, len);
		if (read_sample(buf, cut) != FEDC_ERR_MALFORMED)
			fail_msg("the reads accepted the sample cut at byte %zu of %zu", cut, len);
	}
	msgpack_sbuffer_destroy(&sb);
}

static void test_check_whole_object(void **state)
{
	static const uint8_t trailing[] = { 0x80, 0xc0 };
	static const uint8_t unused[] = { 0xc1 };
	static const uint8_t lying_array[] = { 0xdd, 0x7f, 0xff, 0xff, 0xff, 0x01 };
	uint8_t deep[12];

	assert_int_equal(fedc_mp_check(at_edge(trailing, 2), 2, 8), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "1 trailing bytes"));
	assert_int_equal(fedc_mp_check(at_edge(unused, 1), 1, 8), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "0xc1"));
	assert_int_equal(fedc_mp_check(at_edge(lying_array, 6), 6, 8), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "declares 2147483647 objects"));
	assert_int_equal(fedc_mp_check(NULL, 0, 8), FEDC_ERR_MALFORMED);
	/* arrays of one array ...: 11 levels, then a nil */
	memset(deep, 0x91, sizeof(deep));
	deep[11] = 0xc0;
	assert_int_equal(fedc_mp_check(at_edge(deep, 12), 12, 11), FEDC_OK);
	assert_int_equal(fedc_mp_check(at_edge(deep, 12), 12, 8), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "nesting deeper than 8 levels"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_and_be),
		cmocka_unit_test(test_msgpack_forms),
		cmocka_unit_test(test_declared_length_past_end),
		cmocka_unit_test(test_truncated_at_every_byte),
		cmocka_unit_test(test_check_whole_object),
	};

	return cmocka_run_group_tests(tests, map_guard, unmap_guard);
}
