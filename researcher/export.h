/* `fedc-researcher export`: a parameter file (the final or the best global
 * model) in a format NumPy and PyTorch load directly.
 *
 *   npz          a zip archive (stored, not compressed; written with
 *                libarchive) of one NAME.npy per tensor, NumPy's format 1.0:
 *                "\x93NUMPY" 1 0, a little-endian u16 header length, a
 *                Python dict literal {'descr': '<f4', 'fortran_order':
 *                False, 'shape': (...), } padded with spaces to a multiple
 *                of 64 bytes and ended by '\n', then the data in C order.
 *                np.load(FILE)[NAME].
 *   safetensors  a little-endian u64 header length N, N bytes of JSON
 *                {NAME: {"dtype": "F32", "shape": [...], "data_offsets":
 *                [BEGIN, END]}, ..., "__metadata__": {...}} padded with
 *                spaces to a multiple of 8, then the tensors' bytes, in file
 *                order, back to back (offsets count from the end of the
 *                header). safetensors.torch.load_file(FILE).
 * Data is little-endian, as in the parameter file; dtypes f32, u32, u64.
 * Tensor names become file names in the zip: a name that is empty, starts
 * with '/', has an empty or ".." component, or holds a control character is
 * refused, as is "__metadata__" for safetensors. */
#ifndef FEDC_RESEARCHER_EXPORT_H
#define FEDC_RESEARCHER_EXPORT_H

#include "fedc/err.h"

enum export_format { EXPORT_NPZ, EXPORT_SAFETENSORS };

/* "npz" or "safetensors"; FEDC_ERR_INVAL with a detail naming both. */
FEDC_NODISCARD
enum fedc_err export__parse_format(const char *name, enum export_format *out);
/* The file extension of a format, without the dot. */
const char *export__extension(enum export_format format);

/* Writes the tensors of the parameter file `params_path` to `out_path` in
 * `format`, replaced atomically (a failure leaves no partial file).
 * FEDC_ERR_IO, FEDC_ERR_MALFORMED (the parameter file, or a tensor name the
 * format cannot hold), FEDC_ERR_NOMEM, each with a detail. */
FEDC_NODISCARD
enum fedc_err export__write(const char *params_path, enum export_format format, const char *out_path);

#endif
