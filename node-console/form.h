/* Decoding what a browser sends: an application/x-www-form-urlencoded body
 * and the Cookie header. Both are outside input: sizes are capped, a
 * malformed escape or a control character is refused, and a repeated field
 * is refused rather than silently taking the first or the last. */
#ifndef FEDC_CONSOLE_FORM_H
#define FEDC_CONSOLE_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "fedc/err.h"

#define FORM_BODY_MAX 16384 /* bytes of a POST body */
#define FORM_FIELDS_MAX 16
#define FORM_NAME_MAX 32    /* bytes of a decoded field name */
#define FORM_VALUE_MAX 4096 /* bytes of a decoded value */

struct form_field {
	char name[FORM_NAME_MAX + 1];
	char *value; /* decoded, NUL-terminated, owned by the form */
};

struct form {
	size_t n;
	struct form_field f[FORM_FIELDS_MAX];
};

/* Decodes `len` bytes of `body` into *out ('+' is a space, %XX a byte).
 * FEDC_ERR_MALFORMED (detail says why: too big, too many fields, a bad
 * escape, a control character other than newline and tab in a value, a NUL,
 * an empty or repeated name), FEDC_ERR_NOMEM. *out is freed with
 * form__free() whatever the result. */
FEDC_NODISCARD
enum fedc_err form__parse(const char *body, size_t len, struct form *out);
void form__free(struct form *form);

/* The value of `name`, or NULL when the form has no such field. */
const char *form__get(const struct form *form, const char *name);

/* Copies the value of cookie `name` from a Cookie header ("a=1; b=2") into
 * out (cap bytes). False when absent or when it does not fit. */
bool form__cookie(const char *header, const char *name, char *out, size_t cap);

#endif
