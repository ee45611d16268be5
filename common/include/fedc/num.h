/* Integers from text: command-line flags, config values, file names, JSON
 * strings. The one parser for all of them, so that every place refuses the
 * same things: an empty string, a sign where none is allowed, leading or
 * trailing characters (spaces included), a value that does not fit 64 bits
 * (never wrapped: "4294967297" is not 1) and a value outside [min, max].
 * Only decimal digits, with an optional '-' for the signed variants. */
#ifndef FEDC_NUM_H
#define FEDC_NUM_H

#include <stdbool.h>
#include <stdint.h>

#include "fedc/err.h"

/* Parses the whole of `s` into *out (left untouched on failure). Returns
 * FEDC_OK or FEDC_ERR_INVAL (NULL, empty, junk, overflow, out of range); they
 * record no detail: use fedc_num_arg_* for a message. */
FEDC_NODISCARD
enum fedc_err fedc_num_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
FEDC_NODISCARD
enum fedc_err fedc_num_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* The same, with a detail naming `what` (a flag, a key, a file) on failure:
 *   --timeout: expected an integer in 1..86400, got "4294967297"
 * FEDC_ERR_INVAL. */
FEDC_NODISCARD
enum fedc_err fedc_num_arg_i64(const char *what, const char *s, int64_t min, int64_t max,
			       int64_t *out);
FEDC_NODISCARD
enum fedc_err fedc_num_arg_u64(const char *what, const char *s, uint64_t min, uint64_t max,
			       uint64_t *out);

/* fedc_num_parse_i64 as a boolean (kept for its many callers; config.h
 * includes this header). */
bool fedc_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* A whole string as a finite double (strtod's syntax, nothing after it):
 * false for "", trailing text, an overflow, "nan" or "inf". */
bool fedc_parse_double(const char *s, double *out);

#endif
