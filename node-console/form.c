/* Form bodies and cookies (see form.h). */
#include "form.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s[0..len) into out (room for cap bytes and a NUL). */
static enum fedc_err decode(const char *s, size_t len, char *out, size_t cap, bool is_name)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '+')
			c = ' ';
		else if (c == '%') {
			int hi = i + 2 < len ? hex_digit(s[i + 1]) : -1;
			int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;

			if (lo < 0)
				return fedc_fail(FEDC_ERR_MALFORMED, "a %% in the form is not followed by two hex digits");
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == 0 || (c < 0x20 && (is_name || (c != '\n' && c != '\r' && c != '\t'))) || c == 0x7f)
			return fedc_fail(FEDC_ERR_MALFORMED, "the form holds a control character");
		if (o == cap)
			return fedc_fail(FEDC_ERR_MALFORMED, "a form %s is longer than %zu bytes",
					 is_name ? "field name" : "value", cap);
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return FEDC_OK;
}

static enum fedc_err add_field(struct form *form, const char *pair, size_t len)
{
	const char *eq = memchr(pair, '=', len);
	size_t name_len = eq ? (size_t)(eq - pair) : len;
	struct form_field *f;
	enum fedc_err rc;

	if (form->n == FORM_FIELDS_MAX)
		return fedc_fail(FEDC_ERR_MALFORMED, "the form has more than %d fields", FORM_FIELDS_MAX);
	f = &form->f[form->n];
	rc = decode(pair, name_len, f->name, FORM_NAME_MAX, true);
	if (!rc && !f->name[0])
		rc = fedc_fail(FEDC_ERR_MALFORMED, "a form field has no name");
	if (!rc && form__get(form, f->name))
		rc = fedc_fail(FEDC_ERR_MALFORMED, "the form field \"%s\" is repeated", f->name);
	if (rc)
		return rc;
	f->value = malloc(FORM_VALUE_MAX + 1);
	if (!f->value)
		return FEDC_ERR_NOMEM;
	form->n++; /* owned from here, freed by form__free */
	f->value[0] = '\0';
	if (!eq)
		return FEDC_OK;
	return decode(eq + 1, len - name_len - 1, f->value, FORM_VALUE_MAX, false);
}

enum fedc_err form__parse(const char *body, size_t len, struct form *out)
{
	enum fedc_err rc = FEDC_OK;
	size_t start = 0;

	memset(out, 0, sizeof(*out));
	if (len > FORM_BODY_MAX)
		return fedc_fail(FEDC_ERR_MALFORMED, "the form is larger than %d bytes", FORM_BODY_MAX);
	for (size_t i = 0; i <= len && !rc; i++) {
		if (i < len && body[i] != '&')
			continue;
		if (i > start)
			rc = add_field(out, body + start, i - start);
		start = i + 1;
	}
	return rc;
}

void form__free(struct form *form)
{
	for (size_t i = 0; i < form->n; i++)
		free(form->f[i].value);
	form->n = 0;
}

const char *form__get(const struct form *form, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < form->n; i++)
		if (strlen(form->f[i].name) == len && memcmp(form->f[i].name, name, len) == 0)
			return form->f[i].value;
	return NULL;
}

bool form__cookie(const char *header, const char *name, char *out, size_t cap)
{
	size_t name_len = strlen(name);
	const char *p = header;

	while (p && *p) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		while (len && *p == ' ') {
			p++;
			len--;
		}
		if (len > name_len && p[name_len] == '=' && memcmp(p, name, name_len) == 0) {
			if (len - name_len - 1 >= cap)
				return false;
			memcpy(out, p + name_len + 1, len - name_len - 1);
			out[len - name_len - 1] = '\0';
			return true;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}
