/* IDX image sets: inspection at registration, loading for a round (see
 * dataset_idx.h; the format and the checks are documented in
 * docs/node-admin.md, "IDX image sets"; keep the two in step).
 *
 * An IDX file is a 4-byte magic (0, 0, element type, number of dimensions),
 * the dimensions as big-endian uint32, then the elements, row-major. A set is
 * two files: images (count x rows x columns ...) and labels (count).
 *
 * Each file is read once, through read(2) into a fixed buffer: every byte is
 * fed to SHA-256 as it is stored on disk (images first, then labels, into one
 * context) and, when the file is gzip'd, to inflate(). gzread() would be
 * shorter, but it reads the file itself, and hashing the on-disk bytes would
 * then need a second pass over them. */
#include "dataset_idx.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fedc/hash.h"
#include "lazy/lazy_require.h"

#define IDX_CHUNK (256u << 10)      /* bytes read from disk, or inflated, at a time */
#define IDX_TYPE_UBYTE 0x08
#define IDX_MAX_DIMS 8              /* dimensions, the count included */
#define IDX_MAX_FEATURES (1u << 24) /* values in one sample */
#define IDX_MAX_LABEL 255           /* labels are unsigned bytes */

/* ---- one file: raw or gzip'd bytes in, data bytes out --------------------- */

struct idx_file {
	const char *path;
	const char *role;       /* "images" or "labels", for messages */
	int fd;
	struct fedc_hash *hash; /* fed every byte read from disk */
	unsigned char *in;      /* bytes read from disk, not yet handed on */
	size_t in_len, in_pos;
	bool disk_eof;
	bool gz;
	bool z_ready;           /* zs initialised (inflateEnd due) */
	bool member_end;        /* inflate reached the end of a gzip member */
	z_stream zs;
	uint32_t ndim;
	uint32_t dims[IDX_MAX_DIMS];
	uint64_t header_len;
};

static enum fedc_err disk_fill(struct idx_file *f)
{
	ssize_t n;

	do
		n = read(f->fd, f->in, IDX_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fedc_fail(FEDC_ERR_IO, "%s: read failed: %s", f->path, strerror(errno));
	f->in_len = (size_t)n;
	f->in_pos = 0;
	f->disk_eof = n == 0;
	return n > 0 ? fedc_hash_update(f->hash, f->in, (size_t)n) : FEDC_OK;
}

static enum fedc_err plain_read(struct idx_file *f, unsigned char *buf, size_t want, size_t *got)
{
	enum fedc_err rc = FEDC_OK;

	*got = 0;
	while (!rc && *got < want) {
		size_t take;

		if (f->in_pos == f->in_len) {
			if (f->disk_eof || (rc = disk_fill(f)) != FEDC_OK || f->disk_eof)
				break;
		}
		take = f->in_len - f->in_pos < want - *got ? f->in_len - f->in_pos : want - *got;
		memcpy(buf + *got, f->in + f->in_pos, take);
		f->in_pos += take;
		*got += take;
	}
	return rc;
}

static enum fedc_err gz_corrupt(const struct idx_file *f, int zrc)
{
	/* inflate's window is allocated on the first call: no memory is not
	 * corrupt data (tests/alloc/test_alloc_sweep.c) */
	if (zrc == Z_MEM_ERROR)
		return fedc_fail(FEDC_ERR_NOMEM, "%s: out of memory inflating the gzip data", f->path);
	return fedc_fail(FEDC_ERR_MALFORMED, "%s: corrupt gzip data (%s)", f->path,
			 f->zs.msg ? f->zs.msg : zError(zrc));
}

/* Inflates into buf. Bytes after the end of a gzip member start another
 * member, as gzip itself reads them (`cat a.gz b.gz` is valid gzip); bytes
 * that are not gzip there fail as corrupt. */
static enum fedc_err gz_read(struct idx_file *f, unsigned char *buf, size_t want, size_t *got)
{
	enum fedc_err rc = FEDC_OK;

	f->zs.next_out = buf;
	f->zs.avail_out = (uInt)want;
	while (!rc && f->zs.avail_out > 0) {
		int zrc;

		if (f->in_pos == f->in_len) {
			if (f->disk_eof || (rc = disk_fill(f)) != FEDC_OK || f->disk_eof)
				break;
		}
		if (f->member_end && inflateReset(&f->zs) != Z_OK) {
			rc = gz_corrupt(f, Z_STREAM_ERROR);
			break;
		}
		f->member_end = false;
		f->zs.next_in = f->in + f->in_pos;
		f->zs.avail_in = (uInt)(f->in_len - f->in_pos);
		zrc = inflate(&f->zs, Z_NO_FLUSH);
		f->in_pos = f->in_len - f->zs.avail_in;
		if (zrc == Z_STREAM_END)
			f->member_end = true;
		else if (zrc != Z_OK && zrc != Z_BUF_ERROR)
			rc = gz_corrupt(f, zrc);
	}
	*got = want - f->zs.avail_out;
	if (!rc && *got < want && !f->member_end)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: the gzip data ends early: the file is truncated", f->path);
	return rc;
}

/* Reads up to `want` data bytes; fewer only at the end of the data. */
static enum fedc_err file_read(struct idx_file *f, unsigned char *buf, size_t want, size_t *got)
{
	return f->gz ? gz_read(f, buf, want, got) : plain_read(f, buf, want, got);
}

/* Opens a regular file and decides from its first two bytes (1f 8b) whether
 * it is gzip'd. */
static enum fedc_err file_open(struct idx_file *f, const char *path, const char *role, struct fedc_hash *hash)
{
	enum fedc_err rc;

	memset(f, 0, sizeof(*f));
	f->path = path;
	f->role = role;
	f->hash = hash;
	f->fd = -1;
	rc = dataset__open_regular(path, &f->fd);
	if (rc)
		return rc;
	f->in = malloc(IDX_CHUNK);
	if (!f->in)
		return FEDC_ERR_NOMEM;
	rc = disk_fill(f);
	if (rc || f->in_len < 2 || f->in[0] != 0x1f || f->in[1] != 0x8b)
		return rc;
	f->gz = true;
	rc = lazy__require(LAZY_Z);
	if (rc)
		return rc;
	if (inflateInit2(&f->zs, 16 + MAX_WBITS) != Z_OK) /* 16: gzip wrapper only */
		return fedc_fail(FEDC_ERR_NOMEM, "%s: cannot inflate: %s", path, f->zs.msg ? f->zs.msg : "out of memory");
	f->z_ready = true;
	return FEDC_OK;
}

static void file_close(struct idx_file *f)
{
	if (f->z_ready)
		inflateEnd(&f->zs);
	if (f->fd >= 0)
		close(f->fd);
	free(f->in);
	f->fd = -1;
	f->in = NULL;
	f->z_ready = false;
}

/* ---- the header ----------------------------------------------------------- */

static const char *type_name(uint8_t type)
{
	switch (type) {
	case 0x09: return "signed byte";
	case 0x0B: return "16-bit integer";
	case 0x0C: return "32-bit integer";
	case 0x0D: return "32-bit float";
	case 0x0E: return "64-bit float";
	default: return NULL;
	}
}

static enum fedc_err check_magic(const struct idx_file *f, const unsigned char *m, size_t got)
{
	const char *after = f->gz ? " (after gunzip)" : "";
	const char *name;

	if (got == 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: empty file%s", f->path,
				 f->gz ? " (nothing after gunzip)" : "");
	if (got < 4 || m[0] != 0 || m[1] != 0)
		return fedc_fail(FEDC_ERR_MALFORMED,
				 "%s: not an IDX file: it starts with %02x %02x %02x %02x%s; an IDX file starts"
				 " with 00 00, an element type and a dimension count", f->path, m[0],
				 got > 1 ? m[1] : 0, got > 2 ? m[2] : 0, got > 3 ? m[3] : 0, after);
	if (m[2] != IDX_TYPE_UBYTE) {
		name = type_name(m[2]);
		if (name)
			return fedc_fail(FEDC_ERR_UNSUPPORTED, "%s: element type 0x%02X (%s) is not supported; %s"
					 " must be unsigned bytes (0x08)", f->path, m[2], name, f->role);
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: unknown IDX element type 0x%02X (expected 0x08, unsigned"
				 " byte)", f->path, m[2]);
	}
	if (m[3] == 0 || m[3] > IDX_MAX_DIMS)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: %u dimensions in the header (1 to %d expected)", f->path,
				 (unsigned)m[3], IDX_MAX_DIMS);
	return FEDC_OK;
}

/* A file of the wrong kind is the likely mistake (the two paths swapped). */
static enum fedc_err check_role(const struct idx_file *f)
{
	bool images = strcmp(f->role, "images") == 0;

	if (images && f->ndim < 2)
		return fedc_fail(FEDC_ERR_MALFORMED,
				 "%s: has 1 dimension, like a labels file; an images file has the count then"
				 " the shape of one image (idx3: count x rows x columns): were the images and"
				 " labels files swapped?", f->path);
	if (!images && f->ndim != 1)
		return fedc_fail(FEDC_ERR_MALFORMED,
				 "%s: has %u dimensions, like an images file; a labels file has one (the count): were"
				 " the images and labels files swapped?", f->path, f->ndim);
	if (f->dims[0] == 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: the header announces 0 %s: nothing to train on", f->path,
				 f->role);
	for (uint32_t d = 1; d < f->ndim; d++) {
		if (f->dims[d] == 0)
			return fedc_fail(FEDC_ERR_MALFORMED, "%s: dimension %u of the header is 0", f->path, d + 1);
	}
	return FEDC_OK;
}

static enum fedc_err read_header(struct idx_file *f, unsigned char *buf)
{
	size_t got = 0;
	enum fedc_err rc = file_read(f, buf, 4, &got);

	if (!rc)
		rc = check_magic(f, buf, got);
	if (rc)
		return rc;
	f->ndim = buf[3];
	f->header_len = 4 + 4ull * f->ndim;
	rc = file_read(f, buf, 4 * f->ndim, &got);
	if (!rc && got < 4 * f->ndim)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: truncated header: it announces %u dimensions (%" PRIu64
			       " header bytes), the file ends after %zu", f->path, f->ndim, f->header_len, 4 + got);
	for (uint32_t d = 0; !rc && d < f->ndim; d++)
		f->dims[d] = (uint32_t)buf[4 * d] << 24 | (uint32_t)buf[4 * d + 1] << 16 |
			     (uint32_t)buf[4 * d + 2] << 8 | buf[4 * d + 3];
	return rc ? rc : check_role(f);
}

/* Values per sample, and the shape of one sample as "28x28". */
static enum fedc_err sample_shape(const struct idx_file *f, uint64_t *features, char *shape, size_t cap)
{
	uint64_t n = 1;
	size_t used = 0;

	shape[0] = '\0';
	for (uint32_t d = 1; d < f->ndim; d++) {
		n *= f->dims[d];
		if (n > IDX_MAX_FEATURES)
			return fedc_fail(FEDC_ERR_TOO_BIG, "%s: one image has more than %u values", f->path,
					 IDX_MAX_FEATURES);
		used += (size_t)snprintf(shape + used, cap - used, "%s%" PRIu32, d > 1 ? "x" : "", f->dims[d]);
	}
	*features = n;
	return FEDC_OK;
}

/* ---- the data ------------------------------------------------------------- */

/* Receives the data bytes [offset, offset + n) of a file. */
typedef enum fedc_err (*idx_sink)(void *ctx, const unsigned char *p, size_t n, uint64_t offset);

static enum fedc_err size_mismatch(const struct idx_file *f, uint64_t expected, uint64_t actual)
{
	char shape[NODE_SHAPE_BUF] = "";
	uint64_t features = 1;

	if (f->ndim > 1)
		(void)sample_shape(f, &features, shape, sizeof(shape));
	return fedc_fail(FEDC_ERR_MALFORMED,
			 "%s: %s: the header announces %" PRIu32 " %s%s%s, so the file should hold %" PRIu64
			 " bytes%s; it holds %" PRIu64, f->path, actual < expected ? "truncated" : "too long",
			 f->dims[0], f->role, shape[0] ? " of " : "", shape, expected, f->gz ? " after gunzip" : "",
			 actual);
}

/* Reads exactly `expected` data bytes through `sink`, then checks that
 * nothing follows; a wrong size is reported with both sizes in full, so the
 * rest of a too long file is read (and counted) too. */
static enum fedc_err read_body(struct idx_file *f, uint64_t expected, unsigned char *buf, idx_sink sink,
			       void *ctx)
{
	uint64_t done = 0, extra = 0;
	size_t got = 0;
	enum fedc_err rc = FEDC_OK;

	while (!rc && done < expected) {
		size_t want = expected - done < IDX_CHUNK ? (size_t)(expected - done) : IDX_CHUNK;

		rc = file_read(f, buf, want, &got);
		if (!rc && got && sink)
			rc = sink(ctx, buf, got, done);
		done += got;
		if (got < want)
			break;
	}
	while (!rc && done == expected) {
		rc = file_read(f, buf, IDX_CHUNK, &got);
		extra += got;
		if (got < IDX_CHUNK)
			break;
	}
	if (!rc && (done != expected || extra))
		rc = size_mismatch(f, f->header_len + expected, f->header_len + done + extra);
	return rc;
}

/* ---- both files ----------------------------------------------------------- */

struct idx_pass {
	const struct node_dataset *want; /* load: the registration; inspect: NULL */
	struct fedc_data *fill;          /* load: buffers sized from the registration */
	struct fedc_hash *hash;
	unsigned char *buf;              /* IDX_CHUNK bytes of data */
	uint64_t n_samples, n_features;
	char shape[NODE_SHAPE_BUF];
	uint64_t counts[IDX_MAX_LABEL + 1];
	uint32_t max_label;
	float scale[256];                /* pixel -> pixel / 255 */
};

static enum fedc_err sink_pixels(void *ctx, const unsigned char *p, size_t n, uint64_t offset)
{
	struct idx_pass *pass = ctx;
	float *x = pass->fill->x + offset;

	for (size_t i = 0; i < n; i++)
		x[i] = pass->scale[p[i]];
	return FEDC_OK;
}

static enum fedc_err sink_labels(void *ctx, const unsigned char *p, size_t n, uint64_t offset)
{
	struct idx_pass *pass = ctx;
	float *y = pass->fill ? pass->fill->y + offset : NULL;

	for (size_t i = 0; i < n; i++) {
		pass->counts[p[i]]++;
		if (p[i] > pass->max_label)
			pass->max_label = p[i];
		if (y)
			y[i] = (float)p[i];
	}
	return FEDC_OK;
}

/* A registered images file whose header no longer matches is refused
 * before its data is read: the buffers were sized from the registration.
 * (The labels count is checked against the images count, hence against the
 * registration too.) */
static enum fedc_err check_registered(const struct idx_pass *pass, const char *path)
{
	char why[160];

	if (!pass->want || (pass->n_samples == pass->want->n_samples && pass->n_features == pass->want->n_features))
		return FEDC_OK;
	snprintf(why, sizeof(why), "its header now announces %" PRIu64 " images of %" PRIu64 " values, registered %"
		 PRIu64 " of %" PRIu64, pass->n_samples, pass->n_features, pass->want->n_samples,
		 pass->want->n_features);
	return dataset__changed(pass->want, path, why);
}

static enum fedc_err scan_images(struct idx_pass *pass, const char *path)
{
	struct idx_file f;
	enum fedc_err rc = file_open(&f, path, "images", pass->hash);

	if (!rc)
		rc = read_header(&f, pass->buf);
	if (!rc)
		rc = sample_shape(&f, &pass->n_features, pass->shape, sizeof(pass->shape));
	pass->n_samples = f.dims[0];
	if (!rc)
		rc = check_registered(pass, path);
	if (!rc)
		rc = read_body(&f, pass->n_samples * pass->n_features, pass->buf, pass->fill ? sink_pixels : NULL,
			       pass);
	file_close(&f);
	return rc;
}

static enum fedc_err scan_labels(struct idx_pass *pass, const char *path, const char *images_path)
{
	struct idx_file f;
	enum fedc_err rc = file_open(&f, path, "labels", pass->hash);

	if (!rc)
		rc = read_header(&f, pass->buf);
	if (!rc && f.dims[0] != pass->n_samples)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s holds %" PRIu64 " images but %s holds %" PRIu32
			       " labels: the counts must be equal", images_path, pass->n_samples, path, f.dims[0]);
	if (!rc)
		rc = read_body(&f, pass->n_samples, pass->buf, sink_labels, pass);
	file_close(&f);
	return rc;
}

/* Reads the images, then the labels, into one SHA-256 context. */
static enum fedc_err scan_both(const struct node_dataset *ds, struct idx_pass *pass, char *digest)
{
	enum fedc_err rc = FEDC_OK;

	if (!ds->labels_path[0])
		return fedc_fail(FEDC_ERR_INVAL, "dataset \"%s\": an IDX set needs a labels file", ds->name);
	for (int i = 0; i < 256; i++)
		pass->scale[i] = (float)i / 255.0f;
	pass->buf = malloc(IDX_CHUNK);
	if (!pass->buf)
		return FEDC_ERR_NOMEM;
	rc = fedc_hash_new(FEDC_HASH_SHA256, &pass->hash);
	if (!rc)
		rc = scan_images(pass, ds->path);
	if (!rc)
		rc = scan_labels(pass, ds->labels_path, ds->path);
	if (!rc)
		rc = fedc_hash_final(pass->hash, digest);
	fedc_hash_free(pass->hash);
	free(pass->buf);
	pass->hash = NULL;
	pass->buf = NULL;
	return rc;
}

enum fedc_err dataset_idx__inspect(struct node_dataset *ds)
{
	struct idx_pass *pass = calloc(1, sizeof(*pass));
	char digest[FEDC_HASH_MAX_HEXLEN + 1];
	enum fedc_err rc = pass ? scan_both(ds, pass, digest) : FEDC_ERR_NOMEM;

	if (rc)
		goto out;
	/* The caller's record changes only on success. */
	snprintf(ds->type, sizeof(ds->type), "idx");
	ds->header[0] = '\0';
	ds->label_column = -1;
	snprintf(ds->shape, sizeof(ds->shape), "%s", pass->shape);
	snprintf(ds->digest, sizeof(ds->digest), "%s", digest);
	ds->n_samples = pass->n_samples;
	ds->n_features = pass->n_features;
	ds->n_classes = pass->max_label + 1;
	if (!dataset__format_label_counts(pass->counts, ds->n_classes, ds->label_counts, sizeof(ds->label_counts)))
		ds->label_counts[0] = '\0';
out:
	free(pass);
	return rc;
}

enum fedc_err dataset_idx__load(const struct node_dataset *ds, struct fedc_data *out)
{
	struct idx_pass *pass = calloc(1, sizeof(*pass));
	char digest[FEDC_HASH_MAX_HEXLEN + 1] = "?";
	char why[80], detail[FEDC_MAX_TEXT_LEN];
	enum fedc_err rc = pass ? FEDC_OK : FEDC_ERR_NOMEM;

	memset(out, 0, sizeof(*out));
	if (!rc)
		rc = dataset__alloc_data(out, ds->n_samples, ds->n_features);
	if (rc)
		goto out;
	out->n_samples = (size_t)ds->n_samples;
	out->n_features = (size_t)ds->n_features;
	out->n_classes = ds->n_classes;
	pass->want = ds;
	pass->fill = out;
	rc = scan_both(ds, pass, digest);
	if (!rc && strcmp(digest, ds->digest) != 0) {
		snprintf(why, sizeof(why), "SHA-256 now %.12s..., was %.12s...", digest, ds->digest);
		rc = dataset__changed(ds, ds->path, why);
	} else if (rc == FEDC_ERR_MALFORMED || rc == FEDC_ERR_UNSUPPORTED || rc == FEDC_ERR_TOO_BIG) {
		/* Both files passed at registration: whatever is wrong now is a change. */
		snprintf(detail, sizeof(detail), "%s", fedc_last_error());
		rc = dataset__changed(ds, NULL, detail);
	}
out:
	if (rc)
		dataset__free_data(out);
	free(pass);
	return rc;
}

enum fedc_err dataset_idx__read_files(const char *name, const char *images, const char *labels,
				      struct node_dataset *ds, struct fedc_data *out)
{
	enum fedc_err rc;

	memset(ds, 0, sizeof(*ds));
	snprintf(ds->name, sizeof(ds->name), "%s", name);
	if ((size_t)snprintf(ds->path, sizeof(ds->path), "%s", images) >= sizeof(ds->path) ||
	    (size_t)snprintf(ds->labels_path, sizeof(ds->labels_path), "%s", labels) >= sizeof(ds->labels_path))
		return fedc_fail(FEDC_ERR_INVAL, "path too long: %s or %s", images, labels);
	rc = dataset_idx__inspect(ds);
	return rc ? rc : dataset_idx__load(ds, out);
}
