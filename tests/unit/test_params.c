/* Parameter files: writer, zero-copy reader, and every way a file can be bad.
 * Corrupt fixtures live in tests/fixtures/params/ (made by make_fixtures.py
 * there); each must be rejected with FEDC_ERR_MALFORMED. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/limits.h"
#include "fedc/params.h"

#define BAD_DIR FEDC_FIXTURES_DIR "/params"
#define VALID_DIR FEDC_FIXTURES_DIR "/params/valid"

static char tmp_dir[] = "/tmp/fedc-test-params-XXXXXX";

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

static void path_in_tmp(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmp_dir, name);
}

/* Reads a whole file into malloc'd memory (NULL for an empty file). */
static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	*len = (size_t)n;
	if (n > 0) {
		buf = malloc((size_t)n);
		assert_non_null(buf);
		assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	}
	fclose(f);
	return buf;
}

static size_t count_dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	}
	closedir(d);
	return n;
}

/* A sample model: a matrix, a vector, a 0-dim scalar, an empty tensor and
 * a 3-d tensor whose size needs a bin16 header. */
static float w_data[3 * 4], b_data[4], s_data[1] = { 42.5f }, c_data[2 * 3 * 50];

static size_t sample_tensors(struct fedc_tensor *t)
{
	for (size_t i = 0; i < 12; i++)
		w_data[i] = (float)i * 0.25f - 1.0f;
	for (size_t i = 0; i < 4; i++)
		b_data[i] = -(float)i;
	for (size_t i = 0; i < 300; i++)
		c_data[i] = (float)i / 7.0f;
	t[0] = (struct fedc_tensor){ "fc.weight", FEDC_DTYPE_F32, 2, { 3, 4 }, w_data };
	t[1] = (struct fedc_tensor){ "fc.bias", FEDC_DTYPE_F32, 1, { 4 }, b_data };
	t[2] = (struct fedc_tensor){ "scale", FEDC_DTYPE_F32, 0, { 0 }, s_data };
	t[3] = (struct fedc_tensor){ "empty", FEDC_DTYPE_F32, 2, { 5, 0 }, NULL };
	t[4] = (struct fedc_tensor){ "conv", FEDC_DTYPE_F32, 3, { 2, 3, 50 }, c_data };
	return 5;
}

static void assert_same_tensors(const struct fedc_tensor *a, size_t na, const struct fedc_params *p)
{
	const struct fedc_tensor *b = fedc_params_tensors(p);

	assert_int_equal(fedc_params_count(p), na);
	for (size_t i = 0; i < na; i++) {
		uint64_t n = fedc_tensor_elements(&a[i]);

		assert_string_equal(a[i].name, b[i].name);
		assert_true(fedc_tensor_same_layout(&a[i], &b[i]));
		if (n)
			assert_memory_equal(a[i].data, b[i].data, n * sizeof(float));
		assert_ptr_equal(fedc_params_find(p, a[i].name), &b[i]);
	}
}

static unsigned char *write_sample_to_memory(size_t *len)
{
	struct fedc_tensor t[5];
	size_t n = sample_tensors(t);
	char path[256];
	unsigned char *buf;

	path_in_tmp(path, sizeof(path), "sample.params");
	assert_int_equal(fedc_params_write_file(path, t, n), FEDC_OK);
	buf = slurp(path, len);
	unlink(path);
	return buf;
}

static void expect_malformed_file(const char *name, const char *detail_part)
{
	struct fedc_params *p = (struct fedc_params *)1;
	char path[512];
	enum fedc_err rc;

	snprintf(path, sizeof(path), "%s/%s", BAD_DIR, name);
	rc = fedc_params_open(path, &p);
	if (rc != FEDC_ERR_MALFORMED)
		fail_msg("%s: expected malformed, got %s (%s)", name, fedc_strerror(rc), fedc_last_error());
	assert_null(p);
	if (detail_part && !strstr(fedc_last_error(), detail_part))
		fail_msg("%s: detail \"%s\" lacks \"%s\"", name, fedc_last_error(), detail_part);
}

static int setup(void **state)
{
	return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Writer and round trip                                              */

static void test_round_trip(void **state)
{
	struct fedc_tensor t[5];
	size_t n = sample_tensors(t);
	struct fedc_params *p = NULL;
	char path[256];

	path_in_tmp(path, sizeof(path), "round.params");
	assert_int_equal(fedc_params_write_file(path, t, n), FEDC_OK);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	assert_same_tensors(t, n, p);
	assert_int_equal(fedc_tensor_elements(&fedc_params_tensors(p)[2]), 1); /* the 0-dim scalar */
	assert_int_equal(fedc_tensor_elements(&fedc_params_tensors(p)[3]), 0);
	assert_null(fedc_params_find(p, "nope"));
	assert_null(fedc_params_find(p, "fc"));
	fedc_params_close(p);
	/* Only the final file remains: no temp file left behind. */
	assert_int_equal(count_dir_entries(tmp_dir), 1);
	unlink(path);
}

/* fedc_params_write_file_fill: the fill function's blocks, in order, make
 * the same bytes as fedc_params_write_file over the same data, for a tensor
 * of several blocks (and a partial last one), a scalar and an empty one. */
struct fill_source {
	const struct fedc_tensor *t;
	size_t calls;
	int fail_at; /* the call that fails (0: none) */
	uint64_t next[4]; /* per tensor: the element the next block must start at */
};

static enum fedc_err fill_from(void *ctx, size_t tensor, uint64_t first, size_t n, void *dst)
{
	struct fill_source *src = ctx;
	const size_t size = fedc_dtype_size(src->t[tensor].dtype);

	assert_true(n > 0 && n * size <= FEDC_PARAMS_FILL_BLOCK);
	assert_int_equal(first, src->next[tensor]); /* consecutive blocks */
	src->next[tensor] = first + n;
	if ((int)++src->calls == src->fail_at)
		return fedc_fail(FEDC_ERR_IO, "fill failed on purpose");
	memcpy(dst, (const char *)src->t[tensor].data + first * size, n * size);
	return FEDC_OK;
}

static void test_write_file_fill_same_bytes(void **state)
{
	enum { BIG = 2 * (FEDC_PARAMS_FILL_BLOCK / 4) + 7 };
	static float big[BIG];
	static const float one = 2.5f;
	const struct fedc_tensor t[3] = { { "big", FEDC_DTYPE_F32, 1, { BIG }, big },
					  { "one", FEDC_DTYPE_F32, 0, { 0 }, &one },
					  { "none", FEDC_DTYPE_F32, 1, { 0 }, NULL } };
	struct fedc_tensor no_data[3];
	struct fill_source src = { t, 0, 0, { 0 } };
	char a[256], b[256];
	unsigned char *da, *db;
	size_t la, lb;

	(void)state;
	for (size_t j = 0; j < BIG; j++)
		big[j] = (float)j * 0.5f - 3.0f;
	memcpy(no_data, t, sizeof(t));
	for (size_t i = 0; i < 3; i++)
		no_data[i].data = NULL; /* ignored: the data comes from fill */
	path_in_tmp(a, sizeof(a), "plain.params");
	path_in_tmp(b, sizeof(b), "filled.params");
	assert_int_equal(fedc_params_write_file(a, t, 3), FEDC_OK);
	assert_int_equal(fedc_params_write_file_fill(b, no_data, 3, fill_from, &src), FEDC_OK);
	assert_int_equal(src.calls, 3 + 1); /* big in 2 full blocks and a partial one, the scalar */
	da = slurp(a, &la);
	db = slurp(b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(da, db, la);
	free(da);
	free(db);
	unlink(a);
	unlink(b);
}

/* A fill error stops the write, leaves no file (nor the old one replaced)
 * and comes back as it was; no fill function is refused. */
static void test_write_file_fill_error(void **state)
{
	static float v[FEDC_PARAMS_FILL_BLOCK / 4 + 1];
	const struct fedc_tensor t = { "v", FEDC_DTYPE_F32, 1, { FEDC_PARAMS_FILL_BLOCK / 4 + 1 }, v };
	struct fill_source src = { &t, 0, 2, { 0 } };
	char path[256];

	(void)state;
	path_in_tmp(path, sizeof(path), "fill-fails.params");
	assert_int_equal(fedc_params_write_file_fill(path, &t, 1, fill_from, &src), FEDC_ERR_IO);
	assert_non_null(strstr(fedc_last_error(), "on purpose"));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(fedc_params_write_file_fill(path, &t, 1, NULL, NULL), FEDC_ERR_INVAL);
	assert_int_equal(count_dir_entries(tmp_dir), 0);
}

/* Pages released (fewer resident) and the data still there when read again. */
static void test_release_pages_keeps_data(void **state)
{
	struct fedc_tensor t[5];
	size_t n = sample_tensors(t);
	struct fedc_params *p = NULL;
	char path[256];

	path_in_tmp(path, sizeof(path), "released.params");
	assert_int_equal(fedc_params_write_file(path, t, n), FEDC_OK);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	assert_same_tensors(t, n, p);
	fedc_params_release_pages(p);
	assert_same_tensors(t, n, p);
	fedc_params_release_pages(NULL);
	fedc_params_close(p);
	unlink(path);
}

/* Resident pages of this process, from /proc/self/statm. */
static long resident_pages(void)
{
	long size = 0, resident = -1;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &resident) != 2)
			resident = -1;
		fclose(f);
	}
	return resident;
}

/* A span of a large file is released (the process holds fewer pages) and
 * reads back the same; a small file keeps its pages (the madvise would cost
 * more), and a span outside the mapping is left alone. */
static void test_release_span(void **state)
{
	const size_t big_n = (2 * FEDC_PARAMS_RELEASE_MIN) / sizeof(float);
	float *values = malloc(big_n * sizeof(float)), sum = 0, small_values[16];
	struct fedc_tensor big = { "big", FEDC_DTYPE_F32, 1, { big_n }, values };
	struct fedc_tensor small = { "small", FEDC_DTYPE_F32, 1, { 16 }, small_values };
	struct fedc_params *p = NULL, *q = NULL;
	char path[256], small_path[256];
	long before, after;

	assert_non_null(values);
	for (size_t i = 0; i < big_n; i++)
		values[i] = (float)(i % 1000);
	for (size_t i = 0; i < 16; i++)
		small_values[i] = (float)i;
	path_in_tmp(path, sizeof(path), "span-big.params");
	path_in_tmp(small_path, sizeof(small_path), "span-small.params");
	assert_int_equal(fedc_params_write_file(path, &big, 1), FEDC_OK);
	assert_int_equal(fedc_params_write_file(small_path, &small, 1), FEDC_OK);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	assert_int_equal(fedc_params_open(small_path, &q), FEDC_OK);
	const float *mapped = fedc_params_tensors(p)[0].data;

	for (size_t i = 0; i < big_n; i++)
		sum += mapped[i];
	before = resident_pages();
	fedc_params_release_span(p, mapped, big_n * sizeof(float));
	after = resident_pages();
	assert_true(before > 0 && after > 0);
	assert_true(before - after >= (long)(FEDC_PARAMS_RELEASE_MIN / (size_t)sysconf(_SC_PAGESIZE)));
	assert_memory_equal(mapped, values, big_n * sizeof(float));
	fedc_params_release_span(q, fedc_params_tensors(q)[0].data, sizeof(small_values));
	fedc_params_release_span(p, small_values, sizeof(small_values)); /* not in the mapping */
	assert_memory_equal(fedc_params_tensors(q)[0].data, small_values, sizeof(small_values));
	assert_true(sum > 0);
	fedc_params_close(q);
	fedc_params_close(p);
	free(values);
	unlink(path);
	unlink(small_path);
}

static void test_round_trip_zero_tensors(void **state)
{
	struct fedc_params *p = NULL;
	char path[256];

	path_in_tmp(path, sizeof(path), "none.params");
	assert_int_equal(fedc_params_write_file(path, NULL, 0), FEDC_OK);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	assert_int_equal(fedc_params_count(p), 0);
	fedc_params_close(p);
	unlink(path);
}

static void test_round_trip_long_names(void **state)
{
	char names[3][FEDC_MAX_NAME_LEN + 1];
	float v[100] = { 1.0f };
	struct fedc_tensor t[3];
	struct fedc_params *p = NULL;
	size_t len;
	unsigned char *buf;
	char path[256];

	/* Name lengths around the str8/fixstr boundaries move the padding. */
	for (size_t i = 0; i < 3; i++) {
		size_t n = i == 0 ? 31 : i == 1 ? 32 : FEDC_MAX_NAME_LEN;

		memset(names[i], 'a' + (int)i, n);
		names[i][n] = '\0';
		t[i] = (struct fedc_tensor){ names[i], FEDC_DTYPE_F32, 1, { 33 * (i + 1) }, v };
	}
	path_in_tmp(path, sizeof(path), "long.params");
	assert_int_equal(fedc_params_write_file(path, t, 3), FEDC_OK);
	buf = slurp(path, &len);
	assert_int_equal(fedc_params_from_buffer(buf, len, &p), FEDC_OK);
	assert_same_tensors(t, 3, p);
	fedc_params_close(p);
	free(buf);
	unlink(path);
}

/* The parameters own an adopted buffer: they read it in place and free it on
 * close (LSan in the sanitizer build finds a leak otherwise). */
static void test_adopt_buffer_owned_until_close(void **state)
{
	float v[4] = { 1, 2, 3, 4 };
	struct fedc_tensor t = { "w", FEDC_DTYPE_F32, 1, { 4 }, v };
	struct fedc_params *p = NULL;
	size_t len;
	unsigned char *buf;
	char path[256];

	(void)state;
	path_in_tmp(path, sizeof(path), "adopt.params");
	assert_int_equal(fedc_params_write_file(path, &t, 1), FEDC_OK);
	buf = slurp(path, &len);
	assert_int_equal(fedc_params_adopt_buffer(buf, len, &p), FEDC_OK);
	assert_same_tensors(&t, 1, p);
	fedc_params_close(p);
	unlink(path);
}

/* A malformed buffer is refused and freed: the caller gave it away. */
static void test_adopt_buffer_malformed_freed(void **state)
{
	struct fedc_params *p = NULL;
	unsigned char *buf = malloc(16);

	(void)state;
	assert_non_null(buf);
	memset(buf, 0xc1, 16); /* 0xc1: never used in msgpack */
	assert_int_equal(fedc_params_adopt_buffer(buf, 16, &p), FEDC_ERR_MALFORMED);
	assert_null(p);
}

static void test_write_empty_name_rejected(void **state)
{
	float v = 1.0f;
	struct fedc_tensor t = { "", FEDC_DTYPE_F32, 0, { 0 }, &v };
	char path[256];

	path_in_tmp(path, sizeof(path), "empty-name.params");
	assert_int_equal(fedc_params_write_file(path, &t, 1), FEDC_ERR_INVAL);
	t.name = NULL;
	assert_int_equal(fedc_params_write_file(path, &t, 1), FEDC_ERR_INVAL);
	/* Nothing was created, not even the temp file. */
	assert_int_equal(count_dir_entries(tmp_dir), 0);
}

static void test_write_bad_tensors_rejected(void **state)
{
	float v[2] = { 1.0f, 2.0f };
	char long_name[FEDC_MAX_NAME_LEN + 2];
	struct fedc_tensor t[2] = {
		{ "a", FEDC_DTYPE_F32, 1, { 2 }, v },
		{ "b", FEDC_DTYPE_F32, 1, { 2 }, v },
	};
	char path[256];

	path_in_tmp(path, sizeof(path), "bad.params");
	t[1].dtype = 7;
	assert_int_equal(fedc_params_write_file(path, t, 2), FEDC_ERR_INVAL);
	t[1].dtype = FEDC_DTYPE_F32;
	t[1].ndim = FEDC_MAX_DIMS + 1;
	assert_int_equal(fedc_params_write_file(path, t, 2), FEDC_ERR_INVAL);
	t[1].ndim = 1;
	t[1].data = NULL;
	assert_int_equal(fedc_params_write_file(path, t, 2), FEDC_ERR_INVAL);
	t[1].data = v;
	t[1].name = "a";
	assert_int_equal(fedc_params_write_file(path, t, 2), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "\"a\""));
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	t[1].name = long_name;
	assert_int_equal(fedc_params_write_file(path, t, 2), FEDC_ERR_INVAL);
	t[1].name = "b";
	t[1].ndim = 2;
	t[1].shape[0] = 1ull << 40;
	t[1].shape[1] = 1ull << 40;
	assert_int_equal(fedc_params_write_file(path, t, 2), FEDC_ERR_INVAL);
	assert_int_equal(fedc_params_write_fd(-1, t, FEDC_MAX_TENSORS + 1), FEDC_ERR_INVAL);
	assert_int_equal(count_dir_entries(tmp_dir), 0);
}

static void test_write_file_missing_dir(void **state)
{
	float v = 1.0f;
	struct fedc_tensor t = { "a", FEDC_DTYPE_F32, 0, { 0 }, &v };
	char path[256];

	path_in_tmp(path, sizeof(path), "no/such/dir/x.params");
	assert_int_equal(fedc_params_write_file(path, &t, 1), FEDC_ERR_IO);
	assert_int_equal(fedc_params_write_fd(-1, &t, 1), FEDC_ERR_IO);
}

static void test_write_file_replaces_atomically(void **state)
{
	float v1 = 1.0f, v2 = 2.0f;
	struct fedc_tensor t = { "a", FEDC_DTYPE_F32, 0, { 0 }, &v1 };
	struct fedc_params *p = NULL;
	char path[256];

	path_in_tmp(path, sizeof(path), "replace.params");
	assert_int_equal(fedc_params_write_file(path, &t, 1), FEDC_OK);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	t.data = &v2;
	assert_int_equal(fedc_params_write_file(path, &t, 1), FEDC_OK);
	/* The old mapping still shows the old file; a new open the new one. */
	assert_true(*(const float *)fedc_params_tensors(p)[0].data == 1.0f);
	fedc_params_close(p);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	assert_true(*(const float *)fedc_params_tensors(p)[0].data == 2.0f);
	fedc_params_close(p);
	assert_int_equal(count_dir_entries(tmp_dir), 1);
	unlink(path);
}

/* msgpack-c, an independent decoder, sees the documented layout. */
static void test_written_file_is_msgpack(void **state)
{
	msgpack_unpacked u;
	size_t len, off = 0;
	unsigned char *buf = write_sample_to_memory(&len);
	msgpack_object_map *top, *t0;
	msgpack_object_kv *kv;

	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, (const char *)buf, len, &off), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(off, len);
	assert_int_equal(u.data.type, MSGPACK_OBJECT_MAP);
	top = &u.data.via.map;
	assert_int_equal(top->size, 3);
	kv = &top->ptr[0];
	assert_memory_equal(kv->key.via.str.ptr, "format", 6);
	assert_int_equal(kv->val.via.str.size, strlen(FEDC_PARAMS_FORMAT));
	assert_memory_equal(kv->val.via.str.ptr, FEDC_PARAMS_FORMAT, strlen(FEDC_PARAMS_FORMAT));
	assert_int_equal(top->ptr[1].val.via.u64, FEDC_PARAMS_VERSION);
	assert_int_equal(top->ptr[2].val.type, MSGPACK_OBJECT_ARRAY);
	assert_int_equal(top->ptr[2].val.via.array.size, 5);
	t0 = &top->ptr[2].val.via.array.ptr[0].via.map;
	assert_int_equal(t0->size, 5);
	assert_int_equal(t0->ptr[4].val.type, MSGPACK_OBJECT_BIN);
	assert_int_equal(t0->ptr[4].val.via.bin.size, 12 * sizeof(float));
	assert_memory_equal(t0->ptr[4].val.via.bin.ptr, w_data, sizeof(w_data));
	msgpack_unpacked_destroy(&u);
	free(buf);
}

/* ------------------------------------------------------------------ */
/* Zero copy and alignment                                            */

static void test_data_aligned_64(void **state)
{
	struct fedc_tensor t[5];
	size_t n = sample_tensors(t);
	struct fedc_params *p = NULL;
	char path[256];

	path_in_tmp(path, sizeof(path), "aligned.params");
	assert_int_equal(fedc_params_write_file(path, t, n), FEDC_OK);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	/* The mapping starts on a page: 64-byte file offsets give 64-byte pointers. */
	for (size_t i = 0; i < n; i++)
		assert_int_equal((uintptr_t)fedc_params_tensors(p)[i].data % 64, 0);
	fedc_params_close(p);
	unlink(path);
}

static void test_zero_copy_points_into_buffer(void **state)
{
	size_t len;
	unsigned char *file = write_sample_to_memory(&len);
	unsigned char *buf = aligned_alloc(64, (len + 63) / 64 * 64);
	struct fedc_params *p = NULL;

	assert_non_null(buf);
	memcpy(buf, file, len);
	assert_int_equal(fedc_params_from_buffer(buf, len, &p), FEDC_OK);
	for (size_t i = 0; i < fedc_params_count(p); i++) {
		const unsigned char *d = fedc_params_tensors(p)[i].data;

		assert_true(d >= buf && d <= buf + len);
		assert_int_equal((size_t)(d - buf) % 64, 0);
	}
	fedc_params_close(p);
	free(buf);
	free(file);
}

static void test_open_fd(void **state)
{
	struct fedc_tensor t[5];
	size_t n = sample_tensors(t);
	struct fedc_params *p = NULL;
	FILE *f = tmpfile();

	off_t end;

	assert_non_null(f);
	assert_int_equal(fedc_params_write_fd(fileno(f), t, n), FEDC_OK);
	end = lseek(fileno(f), 0, SEEK_CUR);
	assert_int_equal(fedc_params_open_fd(fileno(f), &p), FEDC_OK); /* small: read, not mapped */
	assert_int_equal(lseek(fileno(f), 0, SEEK_CUR), end);         /* from offset 0, position kept */
	fclose(f); /* the parameters outlive the descriptor */
	assert_same_tensors(t, n, p);
	fedc_params_close(p);
}

/* Over FEDC_DEFAULT_INLINE_PARAMS a file is mapped: the same tensors. */
static void test_open_fd_large(void **state)
{
	enum { COUNT = (1 << 20) / sizeof(float) + 1000 };
	float *values = malloc(COUNT * sizeof(float));
	uint64_t shape[1] = { COUNT };
	struct fedc_tensor t = { .name = "big", .dtype = FEDC_DTYPE_F32, .ndim = 1, .data = values };
	struct fedc_params *p = NULL;
	FILE *f = tmpfile();

	(void)state;
	assert_non_null(values);
	assert_non_null(f);
	for (size_t i = 0; i < COUNT; i++)
		values[i] = (float)i * 0.5f;
	memcpy(t.shape, shape, sizeof(shape));
	assert_int_equal(fedc_params_write_fd(fileno(f), &t, 1), FEDC_OK);
	assert_true(lseek(fileno(f), 0, SEEK_END) > (off_t)FEDC_DEFAULT_INLINE_PARAMS);
	assert_int_equal(fedc_params_open_fd(fileno(f), &p), FEDC_OK);
	fclose(f); /* the mapping outlives the descriptor */
	assert_same_tensors(&t, 1, p);
	fedc_params_close(p);
	free(values);
}

/* A foreign writer (no pad) leaves data unaligned: it is copied. */
static void test_foreign_unaligned_copied(void **state)
{
	struct fedc_params *p = NULL;
	const struct fedc_tensor *w, *b;
	unsigned char *file;
	size_t len;

	file = slurp(VALID_DIR "/foreign_no_pad.bin", &len);
	assert_int_equal(fedc_params_from_buffer(file, len, &p), FEDC_OK);
	w = fedc_params_find(p, "w");
	b = fedc_params_find(p, "b");
	assert_non_null(w);
	assert_non_null(b);
	assert_true((const unsigned char *)w->data < file || (const unsigned char *)w->data >= file + len);
	assert_int_equal((uintptr_t)w->data % 4, 0);
	assert_int_equal((uintptr_t)b->data % 4, 0);
	assert_true(((const float *)w->data)[0] == 1.0f && ((const float *)w->data)[1] == 1.0f);
	assert_int_equal(b->ndim, 0);
	assert_true(((const float *)b->data)[0] == 1.0f);
	fedc_params_close(p);
	free(file);

	/* The same through a mapped file. */
	assert_int_equal(fedc_params_open(VALID_DIR "/foreign_no_pad.bin", &p), FEDC_OK);
	assert_true(((const float *)fedc_params_find(p, "w")->data)[1] == 1.0f);
	fedc_params_close(p);
}

static void test_foreign_key_order(void **state)
{
	struct fedc_params *p = NULL;
	const float *v;

	assert_int_equal(fedc_params_open(VALID_DIR "/foreign_key_order.bin", &p), FEDC_OK);
	assert_int_equal(fedc_params_count(p), 1);
	assert_string_equal(fedc_params_tensors(p)[0].name, "v");
	v = fedc_params_tensors(p)[0].data;
	assert_true(v[0] == 1.5f && v[1] == -2.0f && v[2] == 3.25f);
	fedc_params_close(p);
}

/* ------------------------------------------------------------------ */
/* Rejections, each named after its case                              */

static void test_open_truncated_bin(void **state)
{
	expect_malformed_file("truncated_bin.bin", "truncated the data");
}

static void test_open_shape_mismatch(void **state)
{
	expect_malformed_file("shape_mismatch.bin", "tensor 0 \"w\": shape holds 3");
}

static void test_open_wrong_format(void **state)
{
	expect_malformed_file("wrong_format.bin", "format \"fedc-parms\"");
	expect_malformed_file("format_prefix.bin", "format");
}

static void test_open_wrong_version(void **state)
{
	expect_malformed_file("wrong_version.bin", "version 2");
}

static void test_open_trailing_bytes(void **state)
{
	expect_malformed_file("trailing_bytes.bin", "1 trailing bytes");
}

static void test_open_huge_declared_length(void **state)
{
	expect_malformed_file("huge_declared_length.bin", "declares 4294967295 bytes");
	expect_malformed_file("huge_tensor_count.bin", "tensors");
	expect_malformed_file("huge_map_count.bin", NULL);
}

static void test_open_duplicate_name(void **state)
{
	expect_malformed_file("duplicate_name.bin", "two tensors are named \"w\"");
}

static void test_open_empty_file(void **state)
{
	struct fedc_params *p = NULL;

	expect_malformed_file("empty_file.bin", "empty");
	assert_int_equal(fedc_params_from_buffer(NULL, 0, &p), FEDC_ERR_MALFORMED);
	assert_int_equal(fedc_params_from_buffer("", 0, &p), FEDC_ERR_MALFORMED);
}

static void test_open_unknown_key(void **state)
{
	expect_malformed_file("unknown_top_key.bin", "unknown key \"comment\"");
	expect_malformed_file("unknown_tensor_key.bin", "unknown key \"scale\"");
}

static void test_open_too_many_dims(void **state)
{
	expect_malformed_file("shape_too_many_dims.bin", "9 dimensions");
}

static void test_open_shape_overflow(void **state)
{
	expect_malformed_file("shape_overflow.bin", "overflows");
}

static void test_open_bad_dtype(void **state)
{
	expect_malformed_file("bad_dtype.bin", "dtype \"f64\"");
	expect_malformed_file("dtype_prefix.bin", "dtype \"f3\"");
}

static void test_open_bad_names(void **state)
{
	expect_malformed_file("name_empty.bin", "empty name");
	expect_malformed_file("name_too_long.bin", "name of 129 bytes");
	expect_malformed_file("name_with_nul.bin", "NUL");
}

static void test_open_missing_file(void **state)
{
	struct fedc_params *p = NULL;

	assert_int_equal(fedc_params_open(BAD_DIR "/no-such-file.bin", &p), FEDC_ERR_IO);
	assert_null(p);
	assert_int_equal(fedc_params_open(BAD_DIR, &p), FEDC_ERR_IO); /* a directory */
}

/* Every fixture file must be refused, by open and by from_buffer alike. */
static void test_all_bad_fixtures_rejected(void **state)
{
	DIR *d = opendir(BAD_DIR);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		struct fedc_params *p = NULL;
		unsigned char *buf;
		char path[512];
		enum fedc_err rc;

		if (len < 5 || strcmp(e->d_name + len - 4, ".bin") != 0)
			continue;
		expect_malformed_file(e->d_name, NULL);
		snprintf(path, sizeof(path), "%s/%s", BAD_DIR, e->d_name);
		buf = slurp(path, &len);
		rc = fedc_params_from_buffer(buf, len, &p);
		if (rc != FEDC_ERR_MALFORMED)
			fail_msg("%s: from_buffer gave %s", e->d_name, fedc_strerror(rc));
		free(buf);
		n++;
	}
	closedir(d);
	assert_true(n >= 40);
}

/* Every strict prefix of a valid file is refused; no prefix crashes. */
static void test_truncations_rejected(void **state)
{
	size_t len;
	unsigned char *file = write_sample_to_memory(&len);

	for (size_t cut = 0; cut < len; cut++) {
		/* A fresh buffer of exactly `cut` bytes, so that ASan sees overreads. */
		unsigned char *buf = malloc(cut ? cut : 1);
		struct fedc_params *p = NULL;

		assert_non_null(buf);
		memcpy(buf, file, cut);
		if (fedc_params_from_buffer(buf, cut, &p) != FEDC_ERR_MALFORMED)
			fail_msg("prefix of %zu bytes of %zu not refused", cut, len);
		free(buf);
	}
	free(file);
}

/* Flipping bytes anywhere never crashes; whatever is accepted is consistent. */
static void test_mutations_never_crash(void **state)
{
	static const unsigned char flips[] = { 0x01, 0x02, 0x10, 0x20, 0x40, 0x80, 0xff };
	size_t len, accepted = 0;
	unsigned char *file = write_sample_to_memory(&len);
	unsigned char *buf = malloc(len);

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < sizeof(flips); k++) {
			struct fedc_params *p = NULL;
			enum fedc_err rc;

			memcpy(buf, file, len);
			buf[i] ^= flips[k];
			rc = fedc_params_from_buffer(buf, len, &p);
			if (rc == FEDC_OK) {
				accepted++; /* e.g. a changed pad byte or data value */
				for (size_t t = 0; t < fedc_params_count(p); t++) {
					const struct fedc_tensor *x = &fedc_params_tensors(p)[t];
					uint64_t n = fedc_tensor_elements(x);

					assert_true(n * 4 <= len);
					if (n)
						assert_non_null(x->data);
					assert_int_equal((uintptr_t)x->data % 4, 0);
				}
				fedc_params_close(p);
			} else {
				assert_int_equal(rc, FEDC_ERR_MALFORMED);
			}
		}
	}
	assert_true(accepted > 0);
	free(buf);
	free(file);
}

/* ------------------------------------------------------------------ */
/* u64 tensors (SecAgg's masked vectors)                              */

static uint64_t u64_data[3 * 5];

static void fill_u64(void)
{
	for (size_t i = 0; i < 15; i++)
		u64_data[i] = UINT64_C(0x9e3779b97f4a7c15) * (i + 1); /* every byte in use, high bit too */
	u64_data[0] = UINT64_MAX;
	u64_data[1] = 0;
}

/* The first "str" of 3 bytes in buf (memmem is a GNU extension). */
static unsigned char *find3(unsigned char *buf, size_t len, const char *str)
{
	for (size_t i = 0; i + 3 <= len; i++) {
		if (memcmp(buf + i, str, 3) == 0)
			return buf + i;
	}
	return NULL;
}

static unsigned char *write_to_memory(const struct fedc_tensor *t, size_t n, size_t *len)
{
	char path[256];
	unsigned char *buf;

	path_in_tmp(path, sizeof(path), "mem.params");
	assert_int_equal(fedc_params_write_file(path, t, n), FEDC_OK);
	buf = slurp(path, len);
	unlink(path);
	return buf;
}

static void test_round_trip_u64(void **state)
{
	struct fedc_tensor t = { "masked.w", FEDC_DTYPE_U64, 2, { 3, 5 }, u64_data };
	struct fedc_params *p = NULL;
	const struct fedc_tensor *back;
	char path[256];

	fill_u64();
	path_in_tmp(path, sizeof(path), "u64.params");
	assert_int_equal(fedc_params_write_file(path, &t, 1), FEDC_OK);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	back = fedc_params_find(p, "masked.w");
	assert_non_null(back);
	assert_int_equal(back->dtype, FEDC_DTYPE_U64);
	assert_true(fedc_tensor_same_layout(&t, back));
	assert_int_equal((uintptr_t)back->data % 64, 0); /* zero-copy, 64-aligned in the mapping */
	assert_memory_equal(back->data, u64_data, sizeof(u64_data));
	assert_int_equal(fedc_params_check_f32(p), FEDC_ERR_MALFORMED);
	assert_string_equal(fedc_last_error(), "tensor masked.w: dtype u64 where f32 is expected");
	fedc_params_close(p);
	unlink(path);
	assert_int_equal(fedc_dtype_size(FEDC_DTYPE_U64), 8);
	assert_int_equal(fedc_dtype_size(FEDC_DTYPE_F32), 4);
	assert_int_equal(fedc_dtype_size(7), 0);
	assert_string_equal(fedc_dtype_name(FEDC_DTYPE_U64), "u64");
	assert_null(fedc_dtype_name(0));
}

/* f32 and u64 tensors in one file, each 64-aligned; check_f32 names the first
 * u64 one; a file of f32 only passes it. */
static void test_round_trip_mixed_f32_u64(void **state)
{
	struct fedc_tensor t[7];
	size_t n = sample_tensors(t);
	struct fedc_params *p = NULL;
	unsigned char *file;
	size_t len;

	fill_u64();
	t[n++] = (struct fedc_tensor){ "mask.a", FEDC_DTYPE_U64, 1, { 15 }, u64_data };
	t[n++] = (struct fedc_tensor){ "mask.s", FEDC_DTYPE_U64, 0, { 0 }, u64_data + 3 };
	file = write_to_memory(t, n, &len);
	assert_int_equal(fedc_params_from_buffer(file, len, &p), FEDC_OK);
	assert_int_equal(fedc_params_count(p), n);
	for (size_t i = 0; i < n; i++) {
		const struct fedc_tensor *b = &fedc_params_tensors(p)[i];
		uint64_t bytes = fedc_tensor_elements(&t[i]) * fedc_dtype_size(t[i].dtype);

		assert_true(fedc_tensor_same_layout(&t[i], b));
		if (bytes) {
			assert_memory_equal(b->data, t[i].data, bytes);
			assert_int_equal((size_t)((const unsigned char *)b->data - file) % 64, 0);
		}
	}
	assert_int_equal(fedc_params_check_f32(p), FEDC_ERR_MALFORMED);
	assert_string_equal(fedc_last_error(), "tensor mask.a: dtype u64 where f32 is expected");
	fedc_params_close(p);
	free(file);

	file = write_to_memory(t, n - 2, &len);
	assert_int_equal(fedc_params_from_buffer(file, len, &p), FEDC_OK);
	assert_int_equal(fedc_params_check_f32(p), FEDC_OK);
	fedc_params_close(p);
	free(file);
}

/* u32 (secure aggregation's masked vectors in Z_2^32) beside f32 and u64 in
 * one file: each comes back with its dtype and bytes, 64-aligned in the
 * mapping; check_f32 names it; its dtype read as u64 claims twice its bytes. */
static void test_round_trip_u32(void **state)
{
	uint32_t u32_data[15];
	struct fedc_tensor t[3] = {
		{ "w", FEDC_DTYPE_F32, 1, { 3 }, c_data },
		{ "secagg.masked", FEDC_DTYPE_U32, 1, { 15 }, u32_data },
		{ "m64", FEDC_DTYPE_U64, 1, { 2 }, u64_data },
	};
	struct fedc_params *p = NULL;
	const struct fedc_tensor *back;
	unsigned char *file, *dt;
	size_t len;

	fill_u64();
	for (size_t i = 0; i < 15; i++)
		u32_data[i] = (uint32_t)(UINT32_C(0x9e3779b9) * (i + 1));
	u32_data[0] = UINT32_MAX;
	u32_data[1] = 0;
	file = write_to_memory(t, 3, &len);
	assert_int_equal(fedc_params_from_buffer(file, len, &p), FEDC_OK);
	assert_int_equal(fedc_params_count(p), 3);
	for (size_t i = 0; i < 3; i++) {
		const struct fedc_tensor *b = &fedc_params_tensors(p)[i];

		assert_true(fedc_tensor_same_layout(&t[i], b));
		assert_memory_equal(b->data, t[i].data, fedc_tensor_elements(&t[i]) * fedc_dtype_size(t[i].dtype));
		assert_int_equal((size_t)((const unsigned char *)b->data - file) % 64, 0);
	}
	back = fedc_params_find(p, "secagg.masked");
	assert_non_null(back);
	assert_int_equal(back->dtype, FEDC_DTYPE_U32);
	assert_int_equal(fedc_params_check_f32(p), FEDC_ERR_MALFORMED);
	assert_string_equal(fedc_last_error(), "tensor secagg.masked: dtype u32 where f32 is expected");
	fedc_params_close(p);
	free(file);

	file = write_to_memory(&t[1], 1, &len);
	dt = find3(file, len, "u32");
	assert_non_null(dt);
	memcpy(dt, "u64", 3);
	assert_int_equal(fedc_params_from_buffer(file, len, &p), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "shape holds 15 u64 values (120 bytes) but data has 60 bytes"));
	memcpy(dt, "u31", 3);
	assert_int_equal(fedc_params_from_buffer(file, len, &p), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "dtype \"u31\""));
	free(file);
	assert_int_equal(fedc_dtype_size(FEDC_DTYPE_U32), 4);
	assert_string_equal(fedc_dtype_name(FEDC_DTYPE_U32), "u32");
	assert_null(fedc_dtype_name(4));
	assert_int_equal(fedc_dtype_size(4), 0);
}

/* The data bin of a u64 tensor cut short, every prefix of a u64 file, and the
 * dtype swapped (u64 data read as f32 holds twice the bytes; the reverse
 * half): all refused as malformed. */
static void test_open_truncated_u64_bin(void **state)
{
	struct fedc_tensor t = { "m", FEDC_DTYPE_U64, 1, { 15 }, u64_data };
	struct fedc_tensor f = { "m", FEDC_DTYPE_F32, 1, { 15 }, c_data };
	struct fedc_params *p = NULL;
	unsigned char *file, *buf, *dt;
	size_t len;

	fill_u64();
	file = write_to_memory(&t, 1, &len);
	/* shorter by one element, the bin header unchanged: the bin is truncated */
	assert_int_equal(fedc_params_from_buffer(file, len - 8, &p), FEDC_ERR_MALFORMED);
	assert_null(p);
	for (size_t cut = 0; cut < len; cut++) {
		buf = malloc(cut ? cut : 1);
		assert_non_null(buf);
		memcpy(buf, file, cut);
		if (fedc_params_from_buffer(buf, cut, &p) != FEDC_ERR_MALFORMED)
			fail_msg("prefix of %zu bytes of %zu not refused", cut, len);
		free(buf);
	}
	dt = find3(file, len, "u64");
	assert_non_null(dt);
	memcpy(dt, "f32", 3);
	assert_int_equal(fedc_params_from_buffer(file, len, &p), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "shape holds 15 f32 values (60 bytes) but data has 120 bytes"));
	free(file);

	file = write_to_memory(&f, 1, &len);
	dt = find3(file, len, "f32");
	assert_non_null(dt);
	memcpy(dt, "u64", 3);
	assert_int_equal(fedc_params_from_buffer(file, len, &p), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "shape holds 15 u64 values (120 bytes) but data has 60 bytes"));
	memcpy(dt, "u63", 3);
	assert_int_equal(fedc_params_from_buffer(file, len, &p), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "dtype \"u63\""));
	free(file);
}

/* A foreign writer's u64 data 4 bytes off an 8-byte boundary is copied into
 * aligned memory (uint64 loads need it). */
static void test_foreign_unaligned_u64_copied(void **state)
{
	const uint64_t v[2] = { UINT64_C(0x0102030405060708), UINT64_MAX };
	char name[16] = "u";
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct fedc_params *p = NULL;
	const struct fedc_tensor *t;
	unsigned char *buf;
	size_t at = 0;

	/* Lengthen the name until the data lands at 4 mod 8. */
	for (size_t nl = 1; nl < 9; nl++) {
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		memset(name, 'u', nl);
		name[nl] = '\0';
		msgpack_pack_map(&pk, 3);
		msgpack_pack_str_with_body(&pk, "format", 6);
		msgpack_pack_str_with_body(&pk, "fedc-params", 11);
		msgpack_pack_str_with_body(&pk, "version", 7);
		msgpack_pack_uint32(&pk, 1);
		msgpack_pack_str_with_body(&pk, "tensors", 7);
		msgpack_pack_array(&pk, 1);
		msgpack_pack_map(&pk, 4);
		msgpack_pack_str_with_body(&pk, "name", 4);
		msgpack_pack_str_with_body(&pk, name, nl);
		msgpack_pack_str_with_body(&pk, "dtype", 5);
		msgpack_pack_str_with_body(&pk, "u64", 3);
		msgpack_pack_str_with_body(&pk, "shape", 5);
		msgpack_pack_array(&pk, 1);
		msgpack_pack_uint64(&pk, 2);
		msgpack_pack_str_with_body(&pk, "data", 4);
		msgpack_pack_bin_with_body(&pk, v, sizeof(v));
		at = sb.size - sizeof(v);
		if (at % 8 == 4)
			break;
		msgpack_sbuffer_destroy(&sb);
	}
	assert_int_equal(at % 8, 4);
	buf = aligned_alloc(64, (sb.size + 63) / 64 * 64);
	assert_non_null(buf);
	memcpy(buf, sb.data, sb.size);
	assert_int_equal(fedc_params_from_buffer(buf, sb.size, &p), FEDC_OK);
	t = fedc_params_find(p, name);
	assert_non_null(t);
	assert_int_equal(t->dtype, FEDC_DTYPE_U64);
	assert_int_equal((uintptr_t)t->data % 8, 0);
	assert_true((const unsigned char *)t->data < buf || (const unsigned char *)t->data >= buf + sb.size);
	assert_memory_equal(t->data, v, sizeof(v));
	fedc_params_close(p);
	free(buf);
	msgpack_sbuffer_destroy(&sb);
}

/* ------------------------------------------------------------------ */
/* Tensor helpers                                                     */

static void test_tensor_helpers(void **state)
{
	struct fedc_tensor a = { "x", FEDC_DTYPE_F32, 3, { 2, 3, 4 }, NULL };
	struct fedc_tensor b = a;

	assert_int_equal(fedc_tensor_elements(&a), 24);
	b.ndim = 0;
	assert_int_equal(fedc_tensor_elements(&b), 1);
	b.ndim = 2;
	b.shape[0] = UINT64_MAX / 2;
	b.shape[1] = 3;
	assert_true(fedc_tensor_elements(&b) == UINT64_MAX);
	b = a;
	assert_true(fedc_tensor_same_layout(&a, &b));
	b.name = "y";
	assert_false(fedc_tensor_same_layout(&a, &b));
	b = a;
	b.shape[2] = 5;
	assert_false(fedc_tensor_same_layout(&a, &b));
	b = a;
	b.ndim = 2;
	assert_false(fedc_tensor_same_layout(&a, &b));
	b = a;
	b.dtype = 2;
	assert_false(fedc_tensor_same_layout(&a, &b));
	/* Dimensions past ndim do not matter. */
	b = a;
	b.shape[5] = 9;
	assert_true(fedc_tensor_same_layout(&a, &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_release_pages_keeps_data),
		cmocka_unit_test(test_release_span),
		cmocka_unit_test(test_round_trip_zero_tensors),
		cmocka_unit_test(test_round_trip_long_names),
		cmocka_unit_test(test_write_empty_name_rejected),
		cmocka_unit_test(test_write_bad_tensors_rejected),
		cmocka_unit_test(test_write_file_missing_dir),
		cmocka_unit_test(test_write_file_fill_same_bytes),
		cmocka_unit_test(test_write_file_fill_error),
		cmocka_unit_test(test_write_file_replaces_atomically),
		cmocka_unit_test(test_written_file_is_msgpack),
		cmocka_unit_test(test_data_aligned_64),
		cmocka_unit_test(test_zero_copy_points_into_buffer),
		cmocka_unit_test(test_open_fd),
		cmocka_unit_test(test_open_fd_large),
		cmocka_unit_test(test_foreign_unaligned_copied),
		cmocka_unit_test(test_foreign_key_order),
		cmocka_unit_test(test_open_truncated_bin),
		cmocka_unit_test(test_open_shape_mismatch),
		cmocka_unit_test(test_open_wrong_format),
		cmocka_unit_test(test_open_wrong_version),
		cmocka_unit_test(test_open_trailing_bytes),
		cmocka_unit_test(test_open_huge_declared_length),
		cmocka_unit_test(test_open_duplicate_name),
		cmocka_unit_test(test_open_empty_file),
		cmocka_unit_test(test_open_unknown_key),
		cmocka_unit_test(test_open_too_many_dims),
		cmocka_unit_test(test_open_shape_overflow),
		cmocka_unit_test(test_open_bad_dtype),
		cmocka_unit_test(test_open_bad_names),
		cmocka_unit_test(test_open_missing_file),
		cmocka_unit_test(test_all_bad_fixtures_rejected),
		cmocka_unit_test(test_truncations_rejected),
		cmocka_unit_test(test_mutations_never_crash),
		cmocka_unit_test(test_round_trip_u64),
		cmocka_unit_test(test_round_trip_u32),
		cmocka_unit_test(test_round_trip_mixed_f32_u64),
		cmocka_unit_test(test_open_truncated_u64_bin),
		cmocka_unit_test(test_foreign_unaligned_u64_copied),
		cmocka_unit_test(test_tensor_helpers),
		cmocka_unit_test(test_adopt_buffer_owned_until_close),
		cmocka_unit_test(test_adopt_buffer_malformed_freed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
