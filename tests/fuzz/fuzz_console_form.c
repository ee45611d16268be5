/* Fuzz target: what a browser sends the node console
 * (node-console/form.h): a form body and a Cookie header.
 *
 * Input: the bytes, used as a POST body and, up to the first NUL, as a
 * Cookie header. Properties: a body is accepted or refused with
 * FEDC_ERR_MALFORMED and a detail; an accepted one has at most
 * FORM_FIELDS_MAX fields with non-empty, distinct names, values of at most
 * FORM_VALUE_MAX bytes and no control character but tab and newline, and
 * every field is found by its name; a cookie found fits its buffer. */
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "fuzz.h"

static void check_form(const struct form *f)
{
	fuzz_require(f->n <= FORM_FIELDS_MAX, "at most FORM_FIELDS_MAX fields");
	for (size_t i = 0; i < f->n; i++) {
		const char *v = f->f[i].value;

		fuzz_require(f->f[i].name[0] != '\0', "a field has a name");
		fuzz_require(form__get(f, f->f[i].name) == v, "a field is found by its name, once");
		fuzz_require(strlen(v) <= FORM_VALUE_MAX, "a value fits its cap");
		for (const char *p = v; *p; p++)
			fuzz_require((unsigned char)*p >= 0x20 || *p == '\t' || *p == '\n' || *p == '\r',
				     "no control character in a value");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct form f;
	char *text = malloc(size + 1), cookie[80];
	enum fedc_err rc;

	fuzz_require(text != NULL, "input copied");
	memcpy(text, data, size);
	text[size] = '\0';
	rc = form__parse(text, size, &f);
	fuzz_require(rc == FEDC_OK || rc == FEDC_ERR_MALFORMED || rc == FEDC_ERR_NOMEM, "accepted or refused");
	if (rc == FEDC_OK)
		check_form(&f);
	else if (rc == FEDC_ERR_MALFORMED)
		fuzz_require(fedc_last_error()[0] != '\0', "a refusal says why");
	form__free(&f);
	if (form__cookie(text, "fedc_console", cookie, sizeof(cookie)))
		fuzz_require(strlen(cookie) < sizeof(cookie), "a cookie fits its buffer");
	free(text);
	return 0;
}
