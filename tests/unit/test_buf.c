/* The capped growable buffer (fedc/buf.h): every append is checked against
 * the cap, a failed append leaves the buffer as it was, the content is
 * always a C string, and arrays grow in it element by element. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fedc/buf.h"

static void test_append_and_printf(void **state)
{
	struct fedc_buf b = FEDC_BUF_INIT(1000);

	assert_null(b.data);
	assert_int_equal(fedc_buf_append(&b, "", 0), FEDC_OK); /* allocates: a string now */
	assert_string_equal(b.data, "");
	assert_int_equal(fedc_buf_append(&b, "port ", 5), FEDC_OK);
	assert_int_equal(fedc_buf_printf(&b, "%d\n", 8080), FEDC_OK);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "port 8080\n");
	/* past the first block: the content moves whole */
	for (int i = 0; i < 50; i++)
		assert_int_equal(fedc_buf_printf(&b, "%02d", i), FEDC_OK);
	assert_int_equal(b.len, 110);
	assert_memory_equal(b.data + 10, "000102", 6);
	assert_memory_equal(b.data + 106, "4849", 4);
	assert_int_equal(b.data[110], '\0');
	fedc_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	fedc_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

static void test_cap_reached(void **state)
{
	struct fedc_buf b = FEDC_BUF_INIT(10);

	assert_int_equal(fedc_buf_append(&b, "0123456789", 10), FEDC_OK); /* exactly the cap */
	assert_int_equal(fedc_buf_append(&b, "x", 1), FEDC_ERR_TOO_BIG);
	assert_int_equal(fedc_buf_printf(&b, "%s", "y"), FEDC_ERR_TOO_BIG);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "0123456789"); /* unchanged */
	assert_true(b.cap <= 11);                  /* never allocates past what the cap needs */
	fedc_buf_free(&b);

	fedc_buf_init(&b, 4);
	assert_int_equal(fedc_buf_printf(&b, "%s", "hello"), FEDC_ERR_TOO_BIG);
	assert_int_equal(b.len, 0);
	assert_int_equal(fedc_buf_append(&b, "abc", 3), FEDC_OK);
	assert_int_equal(fedc_buf_append(&b, "de", 2), FEDC_ERR_TOO_BIG);
	assert_string_equal(b.data, "abc");
	fedc_buf_free(&b);

	fedc_buf_init(&b, 0); /* a zero cap takes nothing */
	assert_int_equal(fedc_buf_append(&b, "a", 1), FEDC_ERR_TOO_BIG);
	fedc_buf_free(&b);
}

static void test_out_of_memory(void **state)
{
	struct fedc_buf b = FEDC_BUF_INIT(SIZE_MAX);

	assert_int_equal(fedc_buf_append(&b, "ok", 2), FEDC_OK);
	/* no allocator gives this much: NOMEM, content kept (the bytes are never read) */
	assert_int_equal(fedc_buf_append(&b, "", SIZE_MAX / 2), FEDC_ERR_NOMEM);
	assert_int_equal(fedc_buf_append(&b, "", SIZE_MAX - 2), FEDC_ERR_TOO_BIG);
	assert_string_equal(b.data, "ok");
	fedc_buf_free(&b);
}

struct item {
	int id;
	double weight;
};

static void test_array_of_structs(void **state)
{
	struct fedc_buf b = FEDC_BUF_INIT(3 * sizeof(struct item));
	void *slot = NULL;

	for (int i = 0; i < 3; i++) {
		assert_int_equal(fedc_buf_extend(&b, sizeof(struct item), &slot), FEDC_OK);
		assert_int_equal(((struct item *)slot)->id, 0); /* zeroed */
		((struct item *)slot)->id = i + 1;
		((struct item *)slot)->weight = 0.5 * i;
	}
	assert_int_equal(fedc_buf_extend(&b, sizeof(struct item), &slot), FEDC_ERR_TOO_BIG);
	assert_int_equal(b.len, 3 * sizeof(struct item));
	assert_int_equal(((struct item *)b.data)[2].id, 3);
	assert_true(((struct item *)b.data)[1].weight == 0.5);
	fedc_buf_free(&b);
}

static void test_secret_buffer(void **state)
{
	struct fedc_buf b = FEDC_BUF_SECRET_INIT(4096);

	assert_true(b.secret);
	for (int i = 0; i < 100; i++) /* grows several times, copying as it goes */
		assert_int_equal(fedc_buf_printf(&b, "key%03d;", i), FEDC_OK);
	assert_int_equal(b.len, 700);
	assert_memory_equal(b.data + 693, "key099;", 7);
	fedc_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(fedc_buf_append(&b, "k", 1), FEDC_OK);
	assert_string_equal(b.data, "k");
	fedc_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_printf),
		cmocka_unit_test(test_cap_reached),
		cmocka_unit_test(test_out_of_memory),
		cmocka_unit_test(test_array_of_structs),
		cmocka_unit_test(test_secret_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
