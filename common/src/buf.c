/* The capped growable buffer (fedc/buf.h). */
#include "fedc/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* Smallest allocation: most buffers hold a line or a small file. */
#define BUF_MIN_CAP 64

void fedc_buf_init(struct fedc_buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
	b->secret = false;
}

/* Makes room for `extra` more bytes and the NUL. Not realloc for a secret
 * buffer: the old block would be freed unwiped. */
static enum fedc_err reserve(struct fedc_buf *b, size_t extra)
{
	size_t want, cap;
	char *p;

	if (extra > b->max - b->len || b->len + extra == SIZE_MAX) /* len <= max always holds */
		return fedc_fail(FEDC_ERR_TOO_BIG, "buffer: %zu more bytes would pass its limit of %zu",
				 extra, b->max);
	want = b->len + extra + 1;
	if (want <= b->cap)
		return FEDC_OK;
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	if (b->max < SIZE_MAX && cap > b->max + 1)
		cap = b->max + 1; /* never more than the limit needs */
	if (!b->secret) {
		p = realloc(b->data, cap);
		if (!p)
			return fedc_fail(FEDC_ERR_NOMEM, "buffer: cannot grow to %zu bytes", cap);
	} else {
		p = malloc(cap);
		if (!p)
			return fedc_fail(FEDC_ERR_NOMEM, "buffer: cannot grow to %zu bytes", cap);
		if (b->data) {
			memcpy(p, b->data, b->len + 1);
			OPENSSL_cleanse(b->data, b->cap);
			free(b->data);
		}
	}
	if (!b->data)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
	return FEDC_OK;
}

enum fedc_err fedc_buf_append(struct fedc_buf *b, const void *data, size_t len)
{
	enum fedc_err rc = reserve(b, len);

	if (rc)
		return rc;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return FEDC_OK;
}

enum fedc_err fedc_buf_extend(struct fedc_buf *b, size_t len, void **at)
{
	enum fedc_err rc = reserve(b, len);

	if (rc)
		return rc;
	*at = b->data + b->len;
	memset(*at, 0, len);
	b->len += len;
	b->data[b->len] = '\0';
	return FEDC_OK;
}

enum fedc_err fedc_buf_printf(struct fedc_buf *b, const char *fmt, ...)
{
	enum fedc_err rc;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return fedc_fail(FEDC_ERR_INVAL, "buffer: cannot format text");
	rc = reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return FEDC_OK;
}

void fedc_buf_reset(struct fedc_buf *b)
{
	if (b->data && b->secret)
		OPENSSL_cleanse(b->data, b->cap);
	if (b->data)
		b->data[0] = '\0';
	b->len = 0;
}

void fedc_buf_free(struct fedc_buf *b)
{
	if (b->data && b->secret)
		OPENSSL_cleanse(b->data, b->cap);
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
