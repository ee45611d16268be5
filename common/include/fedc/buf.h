/* A growable byte buffer with a cap (curl's dynbuf is the model): the one
 * way fedc grows memory it does not know the size of in advance -- text it
 * builds, files it reads whole, lists it collects.
 *
 * Every append is checked against `max`, the most bytes the buffer may ever
 * hold, chosen per use: a buffer filled from outside cannot grow without
 * bound. The content is always followed by a NUL byte (not counted in len),
 * so text can be used as a C string. A failed append leaves the buffer as it
 * was. A "secret" buffer wipes every block it lets go of (on growth, reset
 * and free), for keys, passwords and tokens.
 *
 *   struct fedc_buf b = FEDC_BUF_INIT(1 << 20);
 *   rc = fedc_buf_printf(&b, "port %d\n", port);
 *   ... b.data, b.len ...
 *   fedc_buf_free(&b); */
#ifndef FEDC_BUF_H
#define FEDC_BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "fedc/err.h"

struct fedc_buf {
	char *data;  /* len bytes and a NUL; NULL before the first append */
	size_t len;
	size_t cap;  /* bytes allocated (len + 1 at least once allocated) */
	size_t max;  /* the most bytes len may reach */
	bool secret; /* wipe released memory */
};

#define FEDC_BUF_INIT(max_bytes) { NULL, 0, 0, (max_bytes), false }
#define FEDC_BUF_SECRET_INIT(max_bytes) { NULL, 0, 0, (max_bytes), true }

void fedc_buf_init(struct fedc_buf *b, size_t max);

/* Appends `len` bytes. FEDC_ERR_TOO_BIG past max, FEDC_ERR_NOMEM; both
 * leave the buffer unchanged. Appending 0 bytes allocates, so that data is
 * a string afterwards. */
FEDC_NODISCARD
enum fedc_err fedc_buf_append(struct fedc_buf *b, const void *data, size_t len);
/* Appends formatted text; FEDC_ERR_TOO_BIG, FEDC_ERR_NOMEM, FEDC_ERR_INVAL
 * (a format error). */
FEDC_NODISCARD
enum fedc_err fedc_buf_printf(struct fedc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `len` zero bytes and points *at at them: room for one more element
 * of an array kept in the buffer (memory from malloc is aligned for any
 * type). The pointer, and data, change with the next growth. */
FEDC_NODISCARD
enum fedc_err fedc_buf_extend(struct fedc_buf *b, size_t len, void **at);
/* Empties the buffer, keeping its memory (wiped first if secret). */
void fedc_buf_reset(struct fedc_buf *b);
/* Frees the memory (wiped first if secret); the buffer is empty and usable. */
void fedc_buf_free(struct fedc_buf *b);

#endif
