/* A growable string for the files fedc-admin writes (see admin.h). */
#include "admin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static enum fedc_err reserve(struct admin_buf *b, size_t extra)
{
	size_t want = b->len + extra + 1, cap = b->cap ? b->cap : 256;
	char *p;

	if (want <= b->cap)
		return FEDC_OK;
	while (cap < want)
		cap *= 2;
	/* Not realloc: the old block may hold a key, and it must be wiped. */
	p = malloc(cap);
	if (!p)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory");
	if (b->data) {
		memcpy(p, b->data, b->len + 1);
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	} else {
		p[0] = '\0';
	}
	b->data = p;
	b->cap = cap;
	return FEDC_OK;
}

enum fedc_err admin__buf_append(struct admin_buf *b, const void *data, size_t len)
{
	enum fedc_err rc = reserve(b, len);

	if (rc)
		return rc;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return FEDC_OK;
}

enum fedc_err admin__buf_printf(struct admin_buf *b, const char *fmt, ...)
{
	enum fedc_err rc;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return fedc_fail(FEDC_ERR_INVAL, "cannot format text");
	rc = reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return FEDC_OK;
}

void admin__buf_free(struct admin_buf *b)
{
	if (b->data) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}
