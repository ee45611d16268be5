/* Parameter files carried inside MQTT messages (docs/protocol.md, "Parameters
 * inline"): the `params` field of train (the global parameters) and of
 * train-reply (the update). The message names the file by the same SHA-256
 * the repository would address it by, so a receiver checks the bytes exactly
 * as a download is checked, and the plan, the aggregator and the history see
 * the same digest whichever way the bytes came. */
#ifndef FEDC_INLINE_PARAMS_H
#define FEDC_INLINE_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

/* The largest parameter file that rides inline in a message whose whole
 * payload may be `max_payload` bytes (fedc_mqtt_max_payload): that less the
 * rest of the message and its envelope, at most FEDC_MAX_INLINE_PARAMS. */
size_t fedc_inline_params_fit(size_t max_payload);

/* Checks that `len` bytes at `data` hash (SHA-256) to `digest`; `what` names
 * them in the error ("the global parameters"). FEDC_ERR_DIGEST on a
 * mismatch, FEDC_ERR_NOMEM / FEDC_ERR_IO from the hash. */
FEDC_NODISCARD
enum fedc_err fedc_inline_params_check(const void *data, size_t len, const char *digest, const char *what);

/* Reads the whole of `fd` (from offset 0, its file position untouched) into a
 * malloc'd *out of *len bytes, and its SHA-256 into `hex` (65 bytes), when it
 * holds at most `max` bytes. FEDC_ERR_TOO_BIG when it holds more (nothing is
 * read: the caller takes the repository path), FEDC_ERR_IO, FEDC_ERR_NOMEM.
 * On success the caller owns *out. */
FEDC_NODISCARD
enum fedc_err fedc_inline_params_read_fd(int fd, size_t max, uint8_t **out, size_t *len, char *hex);

/* Writes `len` bytes into `fd` from offset 0 and cuts it there (a scratch
 * file or memfd rewritten in place); `what` names it. FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err fedc_inline_params_write_fd(int fd, const void *data, size_t len, const char *what);

#endif
