/* Shared by the secagg_*.c files of libfedc (fedc/secagg.h). */
#ifndef FEDC_SECAGG_INTERNAL_H
#define FEDC_SECAGG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

/* OpenSSL 3.0's HKDF refuses an info longer than this. */
#define SECAGG_HKDF_INFO_MAX 1024u

/* HKDF-SHA256 (RFC 5869) with an empty salt: out_len bytes from ikm and info.
 * FEDC_ERR_INVAL for info_len > SECAGG_HKDF_INFO_MAX, FEDC_ERR_NOMEM,
 * FEDC_ERR_IO (OpenSSL, with a detail). */
FEDC_NODISCARD
enum fedc_err secagg__hkdf(const uint8_t *ikm, size_t ikm_len, const void *info, size_t info_len, uint8_t *out,
			   size_t out_len);

#endif
