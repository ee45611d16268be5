/* Parameter files: one msgpack map holding a list of named tensors, float32
 * ("f32") or, for secure aggregation's masked vectors, uint64 ("u64") or
 * uint32 ("u32").
 * The same format carries global parameters, node updates and aggregator
 * state. See docs/protocol.md, "Parameter files".
 *
 *   {"format": "fedc-params", "version": 1,
 *    "tensors": [{"name": str, "dtype": "f32" | "u64" | "u32", "shape": [uint...],
 *                 "pad": bin, "data": bin}, ...]}
 *
 * The writer sizes "pad" so that each "data" payload starts on a 64-byte
 * boundary of the file; the reader maps the file and points each tensor's
 * data into the mapping (no per-element decoding, no copy). A file from
 * another writer whose data is not aligned to its element size (4 or 8 bytes)
 * is still read, by copying that tensor into aligned memory.
 *
 * Most consumers take f32 only (plans, aggregators, SCAFFOLD): they check the
 * dtype of what they open (fedc_params_check_f32) and refuse the rest. */
#ifndef FEDC_PARAMS_H
#define FEDC_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/plan.h"

/* The dtypes of a masked SecAgg vector: uint64 (ring Z_2^64) or uint32 (ring
 * Z_2^32), little-endian, 8 or 4 bytes per element. Not in the plan ABI's
 * enum fedc_dtype (fedc/plan.h) on purpose: plans are never handed these
 * tensors; they share the numbering. */
enum { FEDC_DTYPE_U64 = 2, FEDC_DTYPE_U32 = 3 };

#define FEDC_PARAMS_FORMAT "fedc-params"
#define FEDC_PARAMS_VERSION 1

struct fedc_params; /* opaque: a mapped, validated parameter file */

/* Maps and validates a file. Returns FEDC_ERR_IO, FEDC_ERR_MALFORMED (with a
 * detail saying what is wrong), FEDC_ERR_TOO_BIG, FEDC_ERR_NOMEM. The caller
 * owns *out (fedc_params_close). */
FEDC_NODISCARD
enum fedc_err fedc_params_open(const char *path, struct fedc_params **out);
/* Same from an open fd (a memfd from a plan's child): maps its whole size,
 * or reads it into memory when it holds at most FEDC_DEFAULT_INLINE_PARAMS
 * bytes (as much as an inline update by default, held in memory anyway). */
FEDC_NODISCARD
enum fedc_err fedc_params_open_fd(int fd, struct fedc_params **out);
/* Same over caller memory that must outlive *out (fuzzing, tests). */
FEDC_NODISCARD
enum fedc_err fedc_params_from_buffer(const void *buf, size_t len, struct fedc_params **out);
/* Same, taking `buf` (malloc'd): fedc_params_close frees it, and so does a
 * failure here. For bytes that arrived in memory (an update carried inline in
 * its reply) and need no file. */
FEDC_NODISCARD
enum fedc_err fedc_params_adopt_buffer(void *buf, size_t len, struct fedc_params **out);
void fedc_params_close(struct fedc_params *p);
/* Drops the pages of the mapping this process holds (they count in its
 * resident size) without closing it: data read later is faulted in again
 * from the page cache. For code that keeps many files mapped but reads them
 * one at a time. A small file (under FEDC_PARAMS_RELEASE_MIN bytes) is left
 * alone: its pages cost less to keep than the madvise, a TLB flush on every
 * CPU the process runs on. */
#define FEDC_PARAMS_RELEASE_MIN ((size_t)1 << 20)
void fedc_params_release_pages(const struct fedc_params *p);
/* Same for the whole pages of the mapping inside [data, data + len) only: a
 * reader going through a large tensor releases what it has read as it goes.
 * Anything outside the mapping (an aligned copy, caller memory) is left. */
void fedc_params_release_span(const struct fedc_params *p, const void *data, size_t len);

/* Tensors in file order; names and data point into the mapping (or an aligned
 * copy) and live as long as `p`. */
size_t fedc_params_count(const struct fedc_params *p);
const struct fedc_tensor *fedc_params_tensors(const struct fedc_params *p);
const struct fedc_tensor *fedc_params_find(const struct fedc_params *p, const char *name);

/* Writes tensors (f32, u64 or u32) to `fd` from its current position, streaming (no
 * full copy in memory). Returns FEDC_ERR_IO, FEDC_ERR_INVAL (bad dtype, shape,
 * too many). */
FEDC_NODISCARD
enum fedc_err fedc_params_write_fd(int fd, const struct fedc_tensor *tensors, size_t count);
/* Writes atomically: temp file in the same directory, fsync, rename. */
FEDC_NODISCARD
enum fedc_err fedc_params_write_file(const char *path, const struct fedc_tensor *tensors, size_t count);

/* Writes the data of tensor `tensor`, elements first .. first + n - 1, to
 * `dst` (n * the dtype's size bytes, at most FEDC_PARAMS_FILL_BLOCK).
 * Returns FEDC_OK or the error that stops the write. */
typedef enum fedc_err (*fedc_params_fill_fn)(void *ctx, size_t tensor, uint64_t first, size_t n, void *dst);
#define FEDC_PARAMS_FILL_BLOCK ((size_t)1 << 20)
/* fedc_params_write_file for data computed as it is written: the tensors'
 * data pointers are ignored; `fill` is called for each tensor in order, on
 * consecutive blocks from its first element, each block written before the
 * next is asked for. Memory: one block, whatever the file's size. Returns
 * what fedc_params_write_file does, or the first error of `fill`. */
FEDC_NODISCARD
enum fedc_err fedc_params_write_file_fill(const char *path, const struct fedc_tensor *tensors, size_t count,
					  fedc_params_fill_fn fill, void *ctx);

/* Bytes per element of a dtype (4 for f32 and u32, 8 for u64), 0 for an unknown one. */
size_t fedc_dtype_size(uint32_t dtype);
/* "f32", "u64", "u32", or NULL for an unknown dtype. */
const char *fedc_dtype_name(uint32_t dtype);
/* FEDC_ERR_MALFORMED "tensor X: dtype u64 where f32 is expected" for the first
 * tensor of `p` that is not f32, else FEDC_OK: for every consumer that reads
 * the data as float. */
FEDC_NODISCARD
enum fedc_err fedc_params_check_f32(const struct fedc_params *p);

/* Number of elements (product of the shape; 1 for ndim 0). */
uint64_t fedc_tensor_elements(const struct fedc_tensor *t);
/* True if a and b have the same name, dtype and shape. */
int fedc_tensor_same_layout(const struct fedc_tensor *a, const struct fedc_tensor *b);

#endif
