/* Parameter files (layout in fedc/params.h and docs/protocol.md).
 *
 * Writer: small msgpack pieces (map and array headers, names, shapes, the
 * "pad" bin and the header of the "data" bin) are packed into a fixed buffer
 * with msgpack_packer, then the tensor bytes are written straight from the
 * caller's memory: no copy of the file is ever built. "pad" is sized so that
 * each data payload starts on a 64-byte boundary of the stream.
 *
 * Reader: the whole file is mapped read-only and walked by the bounds-checked
 * cursor (fedc/cursor.h) over the msgpack subset the format uses (map, str, uint, array,
 * bin). msgpack_unpack is not used on purpose: it would decode the big bins
 * into a zone, while here tensors point into the mapping. Only the names are
 * copied (they must be NUL-terminated), and the data of a tensor from a
 * foreign writer that is not 4-byte aligned. */
#include "fedc/params.h"

#include "fedc/cursor.h"
#include "fedc/fs.h"
#include "fedc/limits.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/limits.h"

/* Tensor bytes are handed out as they lie in the file: little-endian. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "fedc parameter files are little-endian; a big-endian host needs byte swapping here"
#endif

_Static_assert(FEDC_MAX_DIMS <= FEDC_PLAN_MAX_DIMS, "struct fedc_tensor must hold FEDC_MAX_DIMS");

#define PARAMS_ALIGN 64u     /* data payloads start on this file offset multiple */
#define PARAMS_READ_MAX ((size_t)FEDC_DEFAULT_INLINE_PARAMS) /* open_small() */
#define MSGPACK_BIN_MAX 0xffffffffull /* a bin's length is a uint32 */

/* ------------------------------------------------------------------ */
/* Tensors                                                            */

uint64_t fedc_tensor_elements(const struct fedc_tensor *t)
{
	uint64_t n = 1;

	/* UINT64_MAX marks a tensor that cannot be valid, so that a caller
	 * sizing memory from it fails its own caps instead of wrapping. */
	if (!t || t->ndim > FEDC_PLAN_MAX_DIMS)
		return UINT64_MAX;
	for (uint32_t i = 0; i < t->ndim; i++) {
		if (t->shape[i] && n > UINT64_MAX / t->shape[i])
			return UINT64_MAX;
		n *= t->shape[i];
	}
	return n;
}

int fedc_tensor_same_layout(const struct fedc_tensor *a, const struct fedc_tensor *b)
{
	if (!a || !b || !a->name || !b->name)
		return 0;
	if (a->dtype != b->dtype || a->ndim != b->ndim || a->ndim > FEDC_PLAN_MAX_DIMS)
		return 0;
	if (strcmp(a->name, b->name) != 0)
		return 0;
	for (uint32_t i = 0; i < a->ndim; i++) {
		if (a->shape[i] != b->shape[i])
			return 0;
	}
	return 1;
}

size_t fedc_dtype_size(uint32_t dtype)
{
	return dtype == FEDC_DTYPE_F32 || dtype == FEDC_DTYPE_U32 ? 4 : dtype == FEDC_DTYPE_U64 ? 8 : 0;
}

const char *fedc_dtype_name(uint32_t dtype)
{
	switch (dtype) {
	case FEDC_DTYPE_F32:
		return "f32";
	case FEDC_DTYPE_U64:
		return "u64";
	case FEDC_DTYPE_U32:
		return "u32";
	default:
		return NULL;
	}
}

enum fedc_err fedc_params_check_f32(const struct fedc_params *p)
{
	const struct fedc_tensor *t = fedc_params_tensors(p);

	for (size_t i = 0; i < fedc_params_count(p); i++) {
		if (t[i].dtype != FEDC_DTYPE_F32) {
			const char *name = fedc_dtype_name(t[i].dtype);

			return fedc_fail(FEDC_ERR_MALFORMED, "tensor %s: dtype %s where f32 is expected", t[i].name,
					 name ? name : "unknown");
		}
	}
	return FEDC_OK;
}

/* Byte size of a tensor's data, or an error if the dtype is unknown or the
 * shape overflows the format's limits (a single bin holds at most 4 GiB - 1). */
static bool tensor_data_bytes(const struct fedc_tensor *t, uint64_t *bytes)
{
	uint64_t n = fedc_tensor_elements(t);
	size_t size = fedc_dtype_size(t->dtype);

	if (size == 0 || n == UINT64_MAX || n > MSGPACK_BIN_MAX / size)
		return false;
	*bytes = n * size;
	return true;
}

static int cmp_name_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finds a duplicate among `n` NUL-terminated names: sorting beats the
 * quadratic scan at FEDC_MAX_TENSORS. Returns NULL if all differ; sets
 * *nomem if the scratch array could not be allocated. */
static const char *find_duplicate_name(const char *(*name_at)(const void *, size_t), const void *ctx,
				       size_t n, bool *nomem)
{
	const char **sorted = NULL;
	const char *dup = NULL;

	*nomem = false;
	if (n < 2)
		return NULL;
	sorted = malloc(n * sizeof(*sorted));
	if (!sorted) {
		*nomem = true;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = name_at(ctx, i);
	qsort(sorted, n, sizeof(*sorted), cmp_name_ptr);
	for (size_t i = 1; i < n && !dup; i++) {
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			dup = sorted[i];
	}
	free(sorted);
	return dup;
}

static const char *tensor_name_at(const void *ctx, size_t i)
{
	return ((const struct fedc_tensor *)ctx)[i].name;
}

/* ------------------------------------------------------------------ */
/* Writer                                                             */

/* The small pieces of one tensor's header go through this buffer: a name
 * (<= FEDC_MAX_NAME_LEN), a shape (<= 8 x 9 bytes), keys, a pad of < 64
 * bytes and a bin header fit well within it. */
struct piece_buf {
	unsigned char data[512];
	size_t len;
};

static int piece_append(void *ctx, const char *buf, size_t len)
{
	struct piece_buf *pb = ctx;

	if (len > sizeof(pb->data) - pb->len)
		return -1;
	memcpy(pb->data + pb->len, buf, len);
	pb->len += len;
	return 0;
}

static enum fedc_err write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		/* Bounded chunks: some kernels and FUSE filesystems cap single writes. */
		size_t chunk = len < (1u << 30) ? len : (1u << 30);
		ssize_t n = write(fd, p, chunk);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fedc_fail(FEDC_ERR_IO, "cannot write parameters: %s",
					 n < 0 ? strerror(errno) : "short write");
		p += n;
		len -= (size_t)n;
	}
	return FEDC_OK;
}

/* Writes the piece buffer, advancing the stream offset. */
static enum fedc_err flush_pieces(int fd, struct piece_buf *pb, uint64_t *offset)
{
	enum fedc_err rc = write_all(fd, pb->data, pb->len);

	if (rc == FEDC_OK)
		*offset += pb->len;
	pb->len = 0;
	return rc;
}

static size_t bin_header_len(uint64_t len)
{
	return len < 256 ? 2 : len < 65536 ? 3 : 5;
}

static int pack_cstr(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

/* Checks what the reader will check, so that we never write a file that
 * fedc_params_open refuses. */
static enum fedc_err validate_for_write(const struct fedc_tensor *tensors, size_t count, bool need_data)
{
	uint64_t total = 0, bytes = 0;
	const char *dup;
	bool nomem;

	if (count && !tensors)
		return fedc_fail(FEDC_ERR_INVAL, "parameters: NULL tensor array");
	if (count > FEDC_MAX_TENSORS)
		return fedc_fail(FEDC_ERR_INVAL, "parameters: %zu tensors (at most %d)", count, FEDC_MAX_TENSORS);
	for (size_t i = 0; i < count; i++) {
		const struct fedc_tensor *t = &tensors[i];
		size_t name_len = t->name ? strlen(t->name) : 0;

		if (name_len == 0 || name_len > FEDC_MAX_NAME_LEN)
			return fedc_fail(FEDC_ERR_INVAL, "tensor %zu: name is %s", i,
					 name_len ? "too long" : "missing or empty");
		if (!fedc_dtype_name(t->dtype))
			return fedc_fail(FEDC_ERR_INVAL, "tensor %zu \"%s\": dtype %u is not f32, u64 or u32", i,
					 t->name, t->dtype);
		if (t->ndim > FEDC_MAX_DIMS)
			return fedc_fail(FEDC_ERR_INVAL, "tensor %zu \"%s\": %u dimensions (at most %d)", i,
					 t->name, t->ndim, FEDC_MAX_DIMS);
		if (!tensor_data_bytes(t, &bytes))
			return fedc_fail(FEDC_ERR_INVAL, "tensor %zu \"%s\": shape too large", i, t->name);
		if (need_data && bytes && !t->data)
			return fedc_fail(FEDC_ERR_INVAL, "tensor %zu \"%s\": NULL data", i, t->name);
		total += bytes + PARAMS_ALIGN + 512; /* data + pad + header: a bound */
		if (total > FEDC_MAX_PARAMS_BYTES)
			return fedc_fail(FEDC_ERR_INVAL, "parameters: larger than %llu bytes",
					 (unsigned long long)FEDC_MAX_PARAMS_BYTES);
	}
	dup = find_duplicate_name(tensor_name_at, tensors, count, &nomem);
	if (nomem)
		return FEDC_ERR_NOMEM;
	if (dup)
		return fedc_fail(FEDC_ERR_INVAL, "parameters: two tensors are named \"%s\"", dup);
	return FEDC_OK;
}

/* Packs one tensor's map up to the header of its "data" bin, with the pad
 * that puts the data on a PARAMS_ALIGN boundary given the stream offset. */
static int pack_tensor_header(msgpack_packer *pk, struct piece_buf *pb, uint64_t offset,
			      const struct fedc_tensor *t, uint64_t bytes)
{
	static const unsigned char zeros[PARAMS_ALIGN];
	uint64_t data_start;
	size_t pad;

	if (msgpack_pack_map(pk, 5) || pack_cstr(pk, "name") || pack_cstr(pk, t->name) ||
	    pack_cstr(pk, "dtype") || pack_cstr(pk, fedc_dtype_name(t->dtype)) || pack_cstr(pk, "shape") ||
	    msgpack_pack_array(pk, t->ndim))
		return -1;
	for (uint32_t d = 0; d < t->ndim; d++) {
		if (msgpack_pack_uint64(pk, t->shape[d]))
			return -1;
	}
	if (pack_cstr(pk, "pad"))
		return -1;
	/* Where the data would start with an empty pad: pad bin header (2 bytes:
	 * the pad stays < 64, so bin8), "data" key (5), data bin header. */
	data_start = offset + pb->len + 2 + 5 + bin_header_len(bytes);
	pad = (PARAMS_ALIGN - data_start % PARAMS_ALIGN) % PARAMS_ALIGN;
	if (msgpack_pack_bin(pk, pad) || msgpack_pack_bin_body(pk, zeros, pad) || pack_cstr(pk, "data") ||
	    msgpack_pack_bin(pk, (size_t)bytes))
		return -1;
	return 0;
}

/* Tensor i's data: from its pointer, or from `fill` in blocks of at most
 * FILL_BLOCK_BYTES through `block`. */
static enum fedc_err write_data(int fd, const struct fedc_tensor *t, size_t i, uint64_t bytes,
				fedc_params_fill_fn fill, void *ctx, void *block)
{
	const size_t size = fedc_dtype_size(t->dtype), per_block = FEDC_PARAMS_FILL_BLOCK / size;
	const uint64_t n = bytes / size;
	enum fedc_err rc = FEDC_OK;

	if (!fill)
		return write_all(fd, t->data, (size_t)bytes);
	for (uint64_t first = 0; !rc && first < n; first += per_block) {
		size_t len = (size_t)(n - first < per_block ? n - first : per_block);

		rc = fill(ctx, i, first, len, block);
		if (!rc)
			rc = write_all(fd, block, len * size);
	}
	return rc;
}

static enum fedc_err write_stream(int fd, const struct fedc_tensor *tensors, size_t count,
				  fedc_params_fill_fn fill, void *ctx)
{
	struct piece_buf pb = { .len = 0 };
	msgpack_packer pk;
	uint64_t offset = 0; /* from where this stream started: the reader maps from there */
	uint64_t bytes = 0;
	void *block = NULL;
	enum fedc_err rc;

	rc = validate_for_write(tensors, count, fill == NULL);
	if (rc)
		goto out;
	if (fill && !(block = malloc(FEDC_PARAMS_FILL_BLOCK))) {
		rc = FEDC_ERR_NOMEM;
		goto out;
	}
	msgpack_packer_init(&pk, &pb, piece_append);
	if (msgpack_pack_map(&pk, 3) || pack_cstr(&pk, "format") || pack_cstr(&pk, FEDC_PARAMS_FORMAT) ||
	    pack_cstr(&pk, "version") || msgpack_pack_uint32(&pk, FEDC_PARAMS_VERSION) ||
	    pack_cstr(&pk, "tensors") || msgpack_pack_array(&pk, count)) {
		rc = fedc_fail(FEDC_ERR_INVAL, "parameters: header does not fit");
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		tensor_data_bytes(&tensors[i], &bytes); /* validated above */
		if (pack_tensor_header(&pk, &pb, offset, &tensors[i], bytes)) {
			rc = fedc_fail(FEDC_ERR_INVAL, "tensor %zu: header does not fit", i);
			goto out;
		}
		rc = flush_pieces(fd, &pb, &offset);
		if (rc)
			goto out;
		if ((offset % PARAMS_ALIGN) != 0) {
			/* A broken pad computation would still give a valid file; say so loudly. */
			rc = fedc_fail(FEDC_ERR_INVAL, "tensor %zu: internal error: data offset %llu unaligned",
				       i, (unsigned long long)offset);
			goto out;
		}
		rc = write_data(fd, &tensors[i], i, bytes, fill, ctx, block);
		if (rc)
			goto out;
		offset += bytes;
	}
	rc = flush_pieces(fd, &pb, &offset); /* the header alone when count == 0 */
out:
	free(block);
	return rc;
}

enum fedc_err fedc_params_write_fd(int fd, const struct fedc_tensor *tensors, size_t count)
{
	return write_stream(fd, tensors, count, NULL, NULL);
}

static enum fedc_err write_file(const char *path, const struct fedc_tensor *tensors, size_t count,
				fedc_params_fill_fn fill, void *ctx)
{
	struct fedc_atomic_file af;
	enum fedc_err rc;

	if (!path || !*path)
		return fedc_fail(FEDC_ERR_INVAL, "parameters: no output path");
	/* Parameters are not secret: the usual mode. */
	rc = fedc_atomic_begin(&af, path, 0644);
	if (!rc)
		rc = write_stream(af.fd, tensors, count, fill, ctx);
	if (rc) {
		fedc_atomic_abort(&af);
		return rc;
	}
	return fedc_atomic_commit(&af);
}

enum fedc_err fedc_params_write_file(const char *path, const struct fedc_tensor *tensors, size_t count)
{
	return write_file(path, tensors, count, NULL, NULL);
}

enum fedc_err fedc_params_write_file_fill(const char *path, const struct fedc_tensor *tensors, size_t count,
					  fedc_params_fill_fn fill, void *ctx)
{
	if (!fill)
		return fedc_fail(FEDC_ERR_INVAL, "parameters: no fill function");
	return write_file(path, tensors, count, fill, ctx);
}

/* ------------------------------------------------------------------ */
/* Reader: a bounds-checked cursor over the msgpack subset            */

struct fedc_params {
	void *map;             /* the mapping, or NULL for from_buffer */
	size_t map_len;
	size_t count;
	struct fedc_tensor *tensors;
	char *names;           /* every name, NUL-terminated, one after the other */
	void **copies;         /* aligned copies of unaligned tensors (count entries, mostly NULL) */
	void *owned;           /* fedc_params_adopt_buffer's bytes, freed on close */
};

/* Where a name and data lie in the input, until the names are copied out. */
struct raw_tensor {
	const uint8_t *name;
	uint32_t name_len;
	const uint8_t *data;
	uint32_t data_len;
};

struct reader {
	struct fedc_cursor c;
	char where[FEDC_MAX_NAME_LEN + 48]; /* "tensor 3 \"fc.weight\"", for details */
};

/* Records a detail naming the place in the file and returns MALFORMED. */
__attribute__((format(printf, 2, 3)))
static enum fedc_err bad(const struct reader *r, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return fedc_fail(FEDC_ERR_MALFORMED, "parameter file: %s: %s (offset %zu)", r->where, what,
			 fedc_cursor_offset(&r->c));
}

/* Every read goes through the cursor (fedc/cursor.h); a failure gets the
 * place in the file in front of the cursor's detail. */
static enum fedc_err placed(const struct reader *r, enum fedc_err rc)
{
	if (rc)
		return fedc_fail(rc, "parameter file: %s: %s", r->where, fedc_last_error());
	return FEDC_OK;
}

static enum fedc_err read_header(struct reader *r, const struct fedc_mp_forms *f, const char *what,
				 uint32_t *count)
{
	return placed(r, fedc_mp_header(&r->c, f, what, count));
}

static enum fedc_err read_bytes(struct reader *r, const struct fedc_mp_forms *f, const char *what,
				const uint8_t **p, uint32_t *len)
{
	return placed(r, fedc_mp_bytes(&r->c, f, what, p, len));
}

/* A non-negative integer. The format writes uint forms; a foreign writer
 * may use the signed ones for the same values, which is harmless. */
static enum fedc_err read_uint(struct reader *r, const char *what, uint64_t *v)
{
	return placed(r, fedc_mp_uint(&r->c, what, v));
}

static bool bytes_equal(const uint8_t *p, uint32_t len, const char *s)
{
	size_t n = strlen(s);

	return len == n && memcmp(p, s, n) == 0; /* length first: "f3" must not pass as "f32" */
}

/* Reads a map key and returns its index in `keys`; an unknown key or one
 * already seen (bit in *seen) is rejected. */
static enum fedc_err read_key(struct reader *r, const char *const *keys, size_t n_keys, unsigned *seen,
			      size_t *index)
{
	const uint8_t *p = NULL;
	uint32_t len = 0;
	enum fedc_err rc = read_bytes(r, &FEDC_MP_STR, "a map key (str)", &p, &len);

	if (rc)
		return rc;
	for (size_t i = 0; i < n_keys; i++) {
		if (!bytes_equal(p, len, keys[i]))
			continue;
		if (*seen & (1u << i))
			return bad(r, "key \"%s\" appears twice", keys[i]);
		*seen |= 1u << i;
		*index = i;
		return FEDC_OK;
	}
	return bad(r, "unknown key \"%.*s\"", (int)(len < 64 ? len : 64), (const char *)p);
}

/* Every key whose bit is in `required` must have been seen. */
static enum fedc_err check_required(const struct reader *r, const char *const *keys, size_t n_keys,
				    unsigned required, unsigned seen)
{
	for (size_t i = 0; i < n_keys; i++) {
		if ((required & (1u << i)) && !(seen & (1u << i)))
			return bad(r, "missing key \"%s\"", keys[i]);
	}
	return FEDC_OK;
}

static void set_where_name(struct reader *r, size_t index, const uint8_t *name, uint32_t len)
{
	int n = snprintf(r->where, sizeof(r->where), "tensor %zu \"", index);

	/* The name is still unchecked bytes: show printable ASCII only. */
	for (uint32_t i = 0; i < len && (size_t)n + 2 < sizeof(r->where); i++)
		r->where[n++] = (name[i] >= 0x20 && name[i] < 0x7f) ? (char)name[i] : '?';
	r->where[n++] = '"';
	r->where[n] = '\0';
}

static enum fedc_err parse_name(struct reader *r, size_t index, struct raw_tensor *raw)
{
	enum fedc_err rc = read_bytes(r, &FEDC_MP_STR, "the name (str)", &raw->name, &raw->name_len);

	if (rc)
		return rc;
	set_where_name(r, index, raw->name, raw->name_len);
	if (raw->name_len == 0)
		return bad(r, "empty name");
	if (raw->name_len > FEDC_MAX_NAME_LEN)
		return bad(r, "name of %u bytes (at most %d)", raw->name_len, FEDC_MAX_NAME_LEN);
	if (memchr(raw->name, '\0', raw->name_len))
		return bad(r, "name holds a NUL byte");
	return FEDC_OK;
}

static enum fedc_err parse_dtype(struct reader *r, struct fedc_tensor *t)
{
	const uint8_t *p = NULL;
	uint32_t len = 0;
	enum fedc_err rc = read_bytes(r, &FEDC_MP_STR, "the dtype (str)", &p, &len);

	if (rc)
		return rc;
	if (bytes_equal(p, len, "f32"))
		t->dtype = FEDC_DTYPE_F32;
	else if (bytes_equal(p, len, "u64"))
		t->dtype = FEDC_DTYPE_U64;
	else if (bytes_equal(p, len, "u32"))
		t->dtype = FEDC_DTYPE_U32;
	else
		return bad(r, "dtype \"%.*s\" is not \"f32\", \"u64\" or \"u32\"", (int)(len < 16 ? len : 16),
			   (const char *)p);
	return FEDC_OK;
}

static enum fedc_err parse_shape(struct reader *r, struct fedc_tensor *t)
{
	uint32_t ndim = 0;
	enum fedc_err rc = read_header(r, &FEDC_MP_ARRAY, "the shape (array)", &ndim);

	if (rc)
		return rc;
	if (ndim > FEDC_MAX_DIMS)
		return bad(r, "%u dimensions (at most %d)", ndim, FEDC_MAX_DIMS);
	t->ndim = ndim;
	for (uint32_t d = 0; d < ndim; d++) {
		rc = read_uint(r, "a dimension", &t->shape[d]);
		if (rc)
			return rc;
	}
	return FEDC_OK;
}

enum tensor_key { TK_NAME, TK_DTYPE, TK_SHAPE, TK_PAD, TK_DATA, TK__COUNT };
static const char *const tensor_keys[TK__COUNT] = { "name", "dtype", "shape", "pad", "data" };

static enum fedc_err parse_tensor_field(struct reader *r, size_t index, size_t key, struct fedc_tensor *t,
					struct raw_tensor *raw)
{
	const uint8_t *pad = NULL;
	uint32_t pad_len = 0;

	switch (key) {
	case TK_NAME:
		return parse_name(r, index, raw);
	case TK_DTYPE:
		return parse_dtype(r, t);
	case TK_SHAPE:
		return parse_shape(r, t);
	case TK_PAD:
		return read_bytes(r, &FEDC_MP_BIN, "the pad (bin)", &pad, &pad_len);
	default:
		return read_bytes(r, &FEDC_MP_BIN, "the data (bin)", &raw->data, &raw->data_len);
	}
}

/* One tensor map. Keys in any order; "pad" is optional (a foreign writer
 * need not align), the others are required. */
static enum fedc_err parse_tensor(struct reader *r, size_t index, struct fedc_tensor *t, struct raw_tensor *raw)
{
	const unsigned required = (1u << TK__COUNT) - 1 - (1u << TK_PAD);
	unsigned seen = 0;
	uint32_t n_keys = 0;
	size_t key = 0;
	uint64_t bytes;
	enum fedc_err rc;

	snprintf(r->where, sizeof(r->where), "tensor %zu", index);
	rc = read_header(r, &FEDC_MP_MAP, "a tensor (map)", &n_keys);
	for (uint32_t k = 0; rc == FEDC_OK && k < n_keys; k++) {
		rc = read_key(r, tensor_keys, TK__COUNT, &seen, &key);
		if (rc == FEDC_OK)
			rc = parse_tensor_field(r, index, key, t, raw);
	}
	if (rc == FEDC_OK)
		rc = check_required(r, tensor_keys, TK__COUNT, required, seen);
	if (rc)
		return rc;
	if (!tensor_data_bytes(t, &bytes))
		return bad(r, "shape overflows (more than 4 GiB of data)");
	if (bytes != raw->data_len)
		return bad(r, "shape holds %llu %s values (%llu bytes) but data has %u bytes",
			   (unsigned long long)(bytes / fedc_dtype_size(t->dtype)), fedc_dtype_name(t->dtype),
			   (unsigned long long)bytes, raw->data_len);
	return FEDC_OK;
}

static enum fedc_err parse_tensors(struct reader *r, struct fedc_params *p, struct raw_tensor **raws)
{
	uint32_t n = 0;
	enum fedc_err rc = read_header(r, &FEDC_MP_ARRAY, "the tensor list (array)", &n);

	if (rc)
		return rc;
	if (n > FEDC_MAX_TENSORS)
		return bad(r, "%u tensors (at most %d)", n, FEDC_MAX_TENSORS);
	/* Cap before allocating: each tensor takes well over one byte. */
	if (n > r->c.left)
		return bad(r, "%u tensors declared, only %zu bytes left", n, r->c.left);
	if (n) {
		p->tensors = calloc(n, sizeof(*p->tensors));
		*raws = calloc(n, sizeof(**raws));
		if (!p->tensors || !*raws)
			return FEDC_ERR_NOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		rc = parse_tensor(r, i, &p->tensors[i], &(*raws)[i]);
		if (rc)
			return rc;
		p->count = i + 1;
	}
	snprintf(r->where, sizeof(r->where), "header");
	return FEDC_OK;
}

enum top_key { TOP_FORMAT, TOP_VERSION, TOP_TENSORS, TOP__COUNT };
static const char *const top_keys[TOP__COUNT] = { "format", "version", "tensors" };

static enum fedc_err parse_top_field(struct reader *r, size_t key, struct fedc_params *p,
				     struct raw_tensor **raws)
{
	const uint8_t *s = NULL;
	uint32_t len = 0;
	uint64_t version = 0;
	enum fedc_err rc;

	switch (key) {
	case TOP_FORMAT:
		rc = read_bytes(r, &FEDC_MP_STR, "the format name (str)", &s, &len);
		if (rc == FEDC_OK && !bytes_equal(s, len, FEDC_PARAMS_FORMAT))
			rc = bad(r, "format \"%.*s\" is not \"%s\"", (int)(len < 32 ? len : 32), (const char *)s,
				 FEDC_PARAMS_FORMAT);
		return rc;
	case TOP_VERSION:
		rc = read_uint(r, "the version", &version);
		if (rc == FEDC_OK && version != FEDC_PARAMS_VERSION)
			rc = bad(r, "version %llu is not supported (this build reads version %d)",
				 (unsigned long long)version, FEDC_PARAMS_VERSION);
		return rc;
	default:
		return parse_tensors(r, p, raws);
	}
}

/* Gives each tensor a NUL-terminated copy of its name and checks that they
 * differ. */
static enum fedc_err copy_names(struct fedc_params *p, const struct raw_tensor *raws)
{
	size_t total = 0, at = 0;
	const char *dup;
	bool nomem;

	for (size_t i = 0; i < p->count; i++)
		total += raws[i].name_len + 1; /* <= FEDC_MAX_TENSORS * 129 */
	p->names = malloc(total ? total : 1);
	if (!p->names)
		return FEDC_ERR_NOMEM;
	for (size_t i = 0; i < p->count; i++) {
		memcpy(p->names + at, raws[i].name, raws[i].name_len);
		p->names[at + raws[i].name_len] = '\0';
		p->tensors[i].name = p->names + at;
		at += raws[i].name_len + 1;
	}
	dup = find_duplicate_name(tensor_name_at, p->tensors, p->count, &nomem);
	if (nomem)
		return FEDC_ERR_NOMEM;
	if (dup)
		return fedc_fail(FEDC_ERR_MALFORMED, "parameter file: two tensors are named \"%s\"", dup);
	return FEDC_OK;
}

/* Points each tensor at its data; a payload that is not aligned to its
 * element size (4 bytes for f32 and u32, 8 for u64: a foreign writer without "pad")
 * is copied, since element loads need it. */
static enum fedc_err place_data(struct fedc_params *p, const struct raw_tensor *raws)
{
	for (size_t i = 0; i < p->count; i++) {
		size_t len = raws[i].data_len;
		void *copy;

		if (((uintptr_t)raws[i].data % fedc_dtype_size(p->tensors[i].dtype)) == 0) {
			p->tensors[i].data = raws[i].data;
			continue;
		}
		if (!p->copies) {
			p->copies = calloc(p->count, sizeof(*p->copies));
			if (!p->copies)
				return FEDC_ERR_NOMEM;
		}
		/* aligned_alloc wants a multiple of the alignment. */
		copy = aligned_alloc(PARAMS_ALIGN, (len + PARAMS_ALIGN - 1) / PARAMS_ALIGN * PARAMS_ALIGN);
		if (!copy)
			return FEDC_ERR_NOMEM;
		memcpy(copy, raws[i].data, len);
		p->copies[i] = copy;
		p->tensors[i].data = copy;
	}
	return FEDC_OK;
}

static enum fedc_err parse(const uint8_t *buf, size_t len, struct fedc_params *p)
{
	struct reader r;
	struct raw_tensor *raws = NULL;
	unsigned seen = 0;
	uint32_t n_keys = 0;
	size_t key = 0;
	enum fedc_err rc;

	fedc_cursor_init(&r.c, buf, len);
	snprintf(r.where, sizeof(r.where), "header");
	if (len == 0) {
		rc = bad(&r, "empty file");
		goto out;
	}
	rc = read_header(&r, &FEDC_MP_MAP, "the top-level map", &n_keys);
	for (uint32_t k = 0; rc == FEDC_OK && k < n_keys; k++) {
		rc = read_key(&r, top_keys, TOP__COUNT, &seen, &key);
		if (rc == FEDC_OK)
			rc = parse_top_field(&r, key, p, &raws);
	}
	if (rc)
		goto out;
	rc = check_required(&r, top_keys, TOP__COUNT, (1u << TOP__COUNT) - 1, seen);
	if (rc)
		goto out;
	if (r.c.left != 0) {
		rc = bad(&r, "%zu trailing bytes after the parameters", r.c.left);
		goto out;
	}
	rc = copy_names(p, raws);
	if (rc)
		goto out;
	rc = place_data(p, raws);
out:
	free(raws);
	return rc;
}

void fedc_params_release_pages(const struct fedc_params *p)
{
	if (p && p->map && p->map_len >= FEDC_PARAMS_RELEASE_MIN)
		(void)madvise(p->map, p->map_len, MADV_DONTNEED);
}

void fedc_params_release_span(const struct fedc_params *p, const void *data, size_t len)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), start, end;
	uintptr_t map_start = p && p->map ? (uintptr_t)p->map : 0, map_end = map_start + (p ? p->map_len : 0);

	if (!map_start || p->map_len < FEDC_PARAMS_RELEASE_MIN || (uintptr_t)data < map_start ||
	    (uintptr_t)data + len > map_end)
		return;
	start = ((uintptr_t)data + page - 1) / page * page; /* pages wholly inside the span */
	end = ((uintptr_t)data + len) / page * page;
	if (end > start)
		(void)madvise((void *)start, end - start, MADV_DONTNEED);
}

void fedc_params_close(struct fedc_params *p)
{
	if (!p)
		return;
	if (p->copies) {
		for (size_t i = 0; i < p->count; i++)
			free(p->copies[i]);
		free(p->copies);
	}
	if (p->map)
		munmap(p->map, p->map_len);
	free(p->owned);
	free(p->names);
	free(p->tensors);
	free(p);
}

enum fedc_err fedc_params_from_buffer(const void *buf, size_t len, struct fedc_params **out)
{
	struct fedc_params *p = NULL;
	enum fedc_err rc;

	if (!out)
		return FEDC_ERR_INVAL;
	*out = NULL;
	if (!buf && len)
		return fedc_fail(FEDC_ERR_INVAL, "parameters: NULL buffer");
	if (len > FEDC_MAX_PARAMS_BYTES)
		return fedc_fail(FEDC_ERR_TOO_BIG, "parameter file of %zu bytes (at most %llu)", len,
				 (unsigned long long)FEDC_MAX_PARAMS_BYTES);
	p = calloc(1, sizeof(*p));
	if (!p)
		return FEDC_ERR_NOMEM;
	rc = parse(buf, len, p);
	if (rc)
		goto out;
	*out = p;
	p = NULL;
out:
	fedc_params_close(p);
	return rc;
}

enum fedc_err fedc_params_adopt_buffer(void *buf, size_t len, struct fedc_params **out)
{
	enum fedc_err rc = fedc_params_from_buffer(buf, len, out);

	if (rc)
		free(buf);
	else
		(*out)->owned = buf;
	return rc;
}

/* A small file (PARAMS_READ_MAX) is read into memory rather than mapped: in
 * a process with several threads, mapping and unmapping a file of a few
 * pages costs more than copying it (the unmap flushes the TLB of every CPU
 * the process runs on; a node's round opened its 40 KB update three times).
 * The limit is the largest parameter file that travels inline by default,
 * which the researcher holds in memory anyway: larger ones stay mapped, so that the
 * aggregator's many open updates stay page cache the kernel can reclaim.
 * Read from offset 0 with pread, as the mapping did, leaving the file
 * position alone. */
static enum fedc_err open_small(int fd, size_t len, struct fedc_params **out)
{
	/* aligned as the writer aligns tensor data in the file (PARAMS_ALIGN), so
	 * that the tensors stay in place as they do in a page-aligned mapping */
	uint8_t *buf = aligned_alloc(PARAMS_ALIGN, (len + PARAMS_ALIGN - 1) / PARAMS_ALIGN * PARAMS_ALIGN);
	enum fedc_err rc;

	if (!buf)
		return FEDC_ERR_NOMEM;
	rc = fedc_read_all_at_zero(fd, buf, len, "the parameter file");
	if (rc) {
		free(buf);
		return rc;
	}
	return fedc_params_adopt_buffer(buf, len, out);
}

enum fedc_err fedc_params_open_fd(int fd, struct fedc_params **out)
{
	struct fedc_params *p = NULL;
	struct stat st;
	void *map;
	enum fedc_err rc;

	if (!out)
		return FEDC_ERR_INVAL;
	*out = NULL;
	if (fstat(fd, &st) != 0)
		return fedc_fail(FEDC_ERR_IO, "cannot stat parameter file: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fedc_fail(FEDC_ERR_IO, "parameter file is not a regular file");
	if (st.st_size == 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "parameter file: empty file");
	if ((uint64_t)st.st_size > FEDC_MAX_PARAMS_BYTES || (uint64_t)st.st_size > SIZE_MAX)
		return fedc_fail(FEDC_ERR_TOO_BIG, "parameter file of %lld bytes (at most %llu)",
				 (long long)st.st_size, (unsigned long long)FEDC_MAX_PARAMS_BYTES);
	if ((size_t)st.st_size <= PARAMS_READ_MAX)
		return open_small(fd, (size_t)st.st_size, out);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return fedc_fail(FEDC_ERR_IO, "cannot map parameter file: %s", strerror(errno));
	p = calloc(1, sizeof(*p));
	if (!p) {
		munmap(map, (size_t)st.st_size);
		return FEDC_ERR_NOMEM;
	}
	p->map = map;
	p->map_len = (size_t)st.st_size;
	rc = parse(map, p->map_len, p);
	if (rc)
		goto out;
	*out = p;
	p = NULL;
out:
	fedc_params_close(p);
	return rc;
}

enum fedc_err fedc_params_open(const char *path, struct fedc_params **out)
{
	enum fedc_err rc;
	char detail[768];
	int fd;

	if (!out || !path)
		return FEDC_ERR_INVAL;
	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	rc = fedc_params_open_fd(fd, out);
	close(fd); /* the mapping outlives the descriptor */
	if (rc && rc != FEDC_ERR_NOMEM) {
		/* Name the file in the detail: copy first, fedc_fail overwrites it. */
		snprintf(detail, sizeof(detail), "%s", fedc_last_error());
		rc = fedc_fail(rc, "%s: %s", path, detail);
	}
	return rc;
}

size_t fedc_params_count(const struct fedc_params *p)
{
	return p ? p->count : 0;
}

const struct fedc_tensor *fedc_params_tensors(const struct fedc_params *p)
{
	return p ? p->tensors : NULL;
}

const struct fedc_tensor *fedc_params_find(const struct fedc_params *p, const char *name)
{
	if (!p || !name)
		return NULL;
	for (size_t i = 0; i < p->count; i++) {
		if (strcmp(p->tensors[i].name, name) == 0)
			return &p->tensors[i];
	}
	return NULL;
}
