/* fedc-partition's writers (output.h). */
#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "fedc/fs.h"

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Writes through zlib ("T": plain bytes through the same writer), which
 * writes gzip headers without a time stamp: same rows, same bytes. */
static enum fedc_err write_idx_body(gzFile gz, const struct output_idx *in, bool labels, const uint32_t *rows,
				    size_t n)
{
	const struct fedc_data *d = in->data;
	size_t width = labels ? 1 : d->n_features;
	unsigned char header[4 + 4 * (OUTPUT_MAX_DIMS + 1)], *row = malloc(width);
	size_t header_len = 4 + 4 * (size_t)(labels ? 1 : in->ndim + 1);
	enum fedc_err rc = FEDC_ERR_IO;

	if (!row)
		return FEDC_ERR_NOMEM;
	header[0] = header[1] = 0;
	header[2] = 0x08; /* unsigned bytes */
	header[3] = (unsigned char)(labels ? 1 : in->ndim + 1);
	put_be32(header + 4, (uint32_t)n);
	for (uint32_t i = 0; !labels && i < in->ndim; i++)
		put_be32(header + 8 + 4 * i, in->dims[i]);
	if (gzwrite(gz, header, (unsigned)header_len) != (int)header_len)
		goto out;
	for (size_t r = 0; r < n; r++) {
		const float *x = labels ? d->y + rows[r] : d->x + (size_t)rows[r] * width;

		for (size_t i = 0; i < width; i++)
			row[i] = (unsigned char)lrintf(labels ? x[i] : x[i] * 255.0f);
		if (gzwrite(gz, row, (unsigned)width) != (int)width)
			goto out;
	}
	rc = 0;
out:
	free(row);
	return rc;
}

static enum fedc_err write_idx_file(const struct output_idx *in, const char *path, bool labels,
				    const uint32_t *rows, size_t n)
{
	struct fedc_atomic_file af;
	gzFile gz = NULL;
	int fd;
	enum fedc_err rc = fedc_atomic_begin(&af, path, 0644);

	if (rc)
		return rc;
	errno = 0;
	fd = dup(af.fd);
	if (fd < 0 || !(gz = gzdopen(fd, in->plain ? "wbT" : "wb6"))) {
		if (fd >= 0)
			close(fd);
		rc = FEDC_ERR_IO;
		goto out;
	}
	gzbuffer(gz, 256u << 10);
	rc = write_idx_body(gz, in, labels, rows, n);
	if (gzclose(gz) != Z_OK && !rc)
		rc = FEDC_ERR_IO;
out:
	if (rc) {
		fedc_atomic_abort(&af);
		return rc == FEDC_ERR_NOMEM ? rc
					    : fedc_fail(rc, "%s: write failed: %s", path,
							errno ? strerror(errno) : "zlib error");
	}
	return fedc_atomic_commit(&af);
}

enum fedc_err output__idx(const struct output_idx *in, const char *dir, const char *name, const uint32_t *rows,
			  size_t n)
{
	const char *gz = in->plain ? "" : ".gz";
	char path[4200];
	enum fedc_err rc;

	snprintf(path, sizeof(path), "%s/%s-images-idx%" PRIu32 "-ubyte%s", dir, name, in->ndim + 1, gz);
	rc = write_idx_file(in, path, false, rows, n);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/%s-labels-idx1-ubyte%s", dir, name, gz);
	return write_idx_file(in, path, true, rows, n);
}

/* The header line, with the row count of a counts header ("569,30,...")
 * replaced by n. */
static void write_header(FILE *f, const struct output_csv *in, size_t n)
{
	const char *rest = in->header;

	if (!in->header_counts) {
		fprintf(f, "%s\n", in->header);
		return;
	}
	rest += strcspn(rest, ",");
	fprintf(f, "%zu%s\n", n, rest);
}

enum fedc_err output__csv(const struct output_csv *in, const char *dir, const char *name, const uint32_t *rows,
			  size_t n)
{
	struct fedc_atomic_file af;
	char path[4200];
	FILE *f = NULL;
	int fd;
	enum fedc_err rc;

	snprintf(path, sizeof(path), "%s/%s.csv", dir, name);
	rc = fedc_atomic_begin(&af, path, 0644);
	if (rc)
		return rc;
	errno = 0;
	fd = dup(af.fd);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		goto io;
	}
	if (in->header)
		write_header(f, in, n);
	for (size_t r = 0; r < n; r++)
		fprintf(f, "%s\n", in->lines[rows[r]]);
	if (ferror(f) | fclose(f))
		goto io;
	return fedc_atomic_commit(&af);
io:
	fedc_atomic_abort(&af);
	return fedc_fail(FEDC_ERR_IO, "%s: write failed: %s", path, errno ? strerror(errno) : "stdio error");
}
