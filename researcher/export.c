/* Export of a parameter file as .npz or .safetensors (see export.h). */
#include "export.h"

#include <archive.h>
#include <archive_entry.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/limits.h"
#include "fedc/fs.h"
#include "fedc/params.h"

#define NPY_ALIGN 64        /* NumPy aligns the data after its header to 64 bytes */
#define SAFETENSORS_ALIGN 8
#define ZIP_EPOCH 315532800 /* 1980-01-01, the earliest zip time: the same model gives the same file */
#define WRITE_CHUNK ((size_t)1 << 20)

enum fedc_err export__parse_format(const char *name, enum export_format *out)
{
	if (strcmp(name, "npz") == 0)
		*out = EXPORT_NPZ;
	else if (strcmp(name, "safetensors") == 0)
		*out = EXPORT_SAFETENSORS;
	else
		return fedc_fail(FEDC_ERR_INVAL, "--format: expected npz or safetensors, got \"%s\"", name);
	return FEDC_OK;
}

const char *export__extension(enum export_format format)
{
	return format == EXPORT_NPZ ? "npz" : "safetensors";
}

/* Whether `name` can be a file name inside a zip and a key in both formats. */
static enum fedc_err check_name(const char *name, enum export_format format)
{
	const char *part = name;

	if (format == EXPORT_SAFETENSORS && strcmp(name, "__metadata__") == 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "tensor \"__metadata__\": a name safetensors reserves");
	for (const char *c = name; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\')
			return fedc_fail(FEDC_ERR_MALFORMED, "tensor \"%s\": a control character or backslash in its "
							     "name", name);
	}
	for (;;) { /* components between '/' */
		size_t len = strcspn(part, "/");

		if (len == 0 || (len == 2 && strncmp(part, "..", 2) == 0) || (len == 1 && part[0] == '.'))
			return fedc_fail(FEDC_ERR_MALFORMED, "tensor \"%s\": an empty, \".\" or \"..\" part in its "
							     "name cannot be a file in an archive", name);
		if (!part[len])
			return FEDC_OK;
		part += len + 1;
	}
}

static enum fedc_err check_names(const struct fedc_params *p, enum export_format format)
{
	const struct fedc_tensor *t = fedc_params_tensors(p);
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; !rc && i < fedc_params_count(p); i++)
		rc = check_name(t[i].name, format);
	return rc;
}

static size_t data_bytes(const struct fedc_tensor *t)
{
	return (size_t)fedc_tensor_elements(t) * fedc_dtype_size(t->dtype);
}

/* ---- npz ---- */

static const char *npy_descr(uint32_t dtype)
{
	return dtype == FEDC_DTYPE_F32 ? "<f4" : dtype == FEDC_DTYPE_U64 ? "<u8" : "<u4";
}

/* The .npy header (magic, version 1.0, length, dict, padding, '\n') of `t`
 * into `out`; its length. */
static size_t npy_header(const struct fedc_tensor *t, char *out, size_t cap)
{
	char shape[FEDC_PLAN_MAX_DIMS * 24 + 8];
	size_t used = 0, dict, total;

	for (uint32_t d = 0; d < t->ndim; d++)
		used += (size_t)snprintf(shape + used, sizeof(shape) - used, "%" PRIu64 "%s", t->shape[d],
					 t->ndim == 1 || d + 1 < t->ndim ? "," : "");
	shape[used] = '\0';
	dict = (size_t)snprintf(out + 10, cap - 10, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
				npy_descr(t->dtype), shape);
	total = (10 + dict + 1 + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
	memcpy(out, "\x93NUMPY\x01\x00", 8);
	out[8] = (char)((total - 10) & 0xff);
	out[9] = (char)((total - 10) >> 8);
	memset(out + 10 + dict, ' ', total - 10 - dict - 1);
	out[total - 1] = '\n';
	return total;
}

static enum fedc_err archive_error(struct archive *a, const char *what)
{
	return fedc_fail(FEDC_ERR_IO, "%s: %s", what, archive_error_string(a) ? archive_error_string(a) : "failed");
}

/* archive_write_data may take less than it is given: write it all. */
static enum fedc_err archive_write_all(struct archive *a, const void *data, size_t len, const char *what)
{
	const char *p = data;

	while (len > 0) {
		la_ssize_t n = archive_write_data(a, p, len < WRITE_CHUNK ? len : WRITE_CHUNK);

		if (n <= 0)
			return archive_error(a, what);
		p += n;
		len -= (size_t)n;
	}
	return FEDC_OK;
}

static enum fedc_err npz_member(struct archive *a, struct archive_entry *e, const struct fedc_tensor *t)
{
	char header[1024], path[FEDC_MAX_NAME_LEN + 8];
	size_t hlen = npy_header(t, header, sizeof(header)), len = data_bytes(t);
	enum fedc_err rc;

	if ((size_t)snprintf(path, sizeof(path), "%s.npy", t->name) >= sizeof(path))
		return fedc_fail(FEDC_ERR_MALFORMED, "tensor \"%.40s...\": name too long", t->name);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)(hlen + len));
	archive_entry_set_mtime(e, ZIP_EPOCH, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		return archive_error(a, path);
	rc = archive_write_all(a, header, hlen, path);
	if (!rc)
		rc = archive_write_all(a, t->data, len, path);
	return rc;
}

static enum fedc_err write_npz(const struct fedc_params *p, int fd)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	const struct fedc_tensor *t = fedc_params_tensors(p);
	enum fedc_err rc = a && e ? FEDC_OK : FEDC_ERR_NOMEM;

	if (!rc && (archive_write_set_format_zip(a) != ARCHIVE_OK ||
		    archive_write_set_options(a, "zip:compression=store") != ARCHIVE_OK ||
		    archive_write_open_fd(a, fd) != ARCHIVE_OK))
		rc = archive_error(a, "npz");
	for (size_t i = 0; !rc && i < fedc_params_count(p); i++)
		rc = npz_member(a, e, &t[i]);
	if (!rc && archive_write_close(a) != ARCHIVE_OK)
		rc = archive_error(a, "npz");
	archive_entry_free(e);
	if (a)
		archive_write_free(a);
	return rc;
}

/* ---- safetensors ---- */

static const char *safetensors_dtype(uint32_t dtype)
{
	return dtype == FEDC_DTYPE_F32 ? "F32" : dtype == FEDC_DTYPE_U64 ? "U64" : "U32";
}

static json_t *safetensors_header(const struct fedc_params *p)
{
	const struct fedc_tensor *t = fedc_params_tensors(p);
	json_t *root = json_object(), *meta = json_pack("{s:s, s:s}", "format", "pt", "written_by", "fedc-researcher");
	uint64_t offset = 0;

	if (!root || !meta) {
		json_decref(root);
		json_decref(meta);
		return NULL;
	}
	json_object_set_new(root, "__metadata__", meta);
	for (size_t i = 0; i < fedc_params_count(p); i++) {
		json_t *shape = json_array();
		uint64_t end = offset + data_bytes(&t[i]);

		for (uint32_t d = 0; shape && d < t[i].ndim; d++)
			json_array_append_new(shape, json_integer((json_int_t)t[i].shape[d]));
		if (!shape || json_object_set_new(root, t[i].name,
						  json_pack("{s:s, s:o, s:[I,I]}", "dtype", safetensors_dtype(t[i].dtype),
							    "shape", shape, "data_offsets", (json_int_t)offset,
							    (json_int_t)end)) != 0) {
			json_decref(root);
			return NULL;
		}
		offset = end;
	}
	return root;
}

static enum fedc_err write_safetensors(const struct fedc_params *p, int fd)
{
	const struct fedc_tensor *t = fedc_params_tensors(p);
	json_t *header = safetensors_header(p);
	char *text = header ? json_dumps(header, JSON_COMPACT) : NULL;
	size_t len = text ? strlen(text) : 0, padded = (len + SAFETENSORS_ALIGN - 1) / SAFETENSORS_ALIGN * SAFETENSORS_ALIGN;
	uint8_t prefix[8];
	char *block = text ? malloc(padded) : NULL;
	enum fedc_err rc = block ? FEDC_OK : FEDC_ERR_NOMEM;

	if (!rc) {
		memcpy(block, text, len);
		memset(block + len, ' ', padded - len);
		for (size_t i = 0; i < 8; i++)
			prefix[i] = (uint8_t)((uint64_t)padded >> (8 * i));
		rc = fedc_write_all(fd, prefix, sizeof(prefix), "safetensors");
	}
	if (!rc)
		rc = fedc_write_all(fd, block, padded, "safetensors");
	for (size_t i = 0; !rc && i < fedc_params_count(p); i++)
		rc = fedc_write_all(fd, t[i].data, data_bytes(&t[i]), "safetensors");
	free(block);
	free(text);
	json_decref(header);
	return rc;
}

enum fedc_err export__write(const char *params_path, enum export_format format, const char *out_path)
{
	struct fedc_params *p = NULL;
	struct fedc_atomic_file af = { .fd = -1 };
	enum fedc_err rc = fedc_params_open(params_path, &p);

	if (rc)
		return fedc_fail(rc, "%s: %s", params_path, fedc_last_error());
	rc = check_names(p, format);
	if (!rc)
		rc = fedc_atomic_begin(&af, out_path, 0644);
	if (!rc)
		rc = format == EXPORT_NPZ ? write_npz(p, af.fd) : write_safetensors(p, af.fd);
	rc = rc ? (fedc_atomic_abort(&af), rc) : fedc_atomic_commit(&af);
	fedc_params_close(p);
	return rc;
}
