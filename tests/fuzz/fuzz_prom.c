/* Fuzz target: the Prometheus side of monitoring (fedc/prom.h): the parser
 * of a listen address (`[metrics] listen`, `metrics_listen`: text an
 * operator writes) and the escaping of help texts and label values.
 *
 * Input: the text (NUL bytes end it, as in a config value). Properties: the
 * address is accepted, or refused with FEDC_ERR_CONFIG naming the key; an
 * accepted one has a non-empty host of at most FEDC_PROM_HOST_MAX bytes
 * without brackets, and written back as HOST:PORT ([HOST]:PORT when the
 * host holds a colon) parses to the same. Used as a help text and as a
 * label value, the text gives exactly three lines (HELP, TYPE, sample), and
 * unescaping the label value gives the text back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/prom.h"
#include "fuzz.h"

static void check_listen(const char *text)
{
	char host[FEDC_PROM_HOST_MAX + 1], host2[FEDC_PROM_HOST_MAX + 1], again[FEDC_PROM_HOST_MAX + 16];
	uint16_t port = 0, port2 = 0;
	enum fedc_err rc = fedc_prom_listen_parse("fuzz-key", text, host, &port);

	if (rc) {
		fuzz_require(rc == FEDC_ERR_CONFIG, "a refusal is FEDC_ERR_CONFIG");
		fuzz_require(strstr(fedc_last_error(), "fuzz-key") != NULL, "a refusal names the key");
		return;
	}
	fuzz_require(host[0] != '\0' && strlen(host) <= FEDC_PROM_HOST_MAX, "the host is 1 to 255 bytes");
	fuzz_require(!strchr(host, '[') && !strchr(host, ']'), "no bracket is left in the host");
	snprintf(again, sizeof(again), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
	fuzz_require(fedc_prom_listen_parse("fuzz-key", again, host2, &port2) == FEDC_OK, "written back, it parses");
	fuzz_require(strcmp(host, host2) == 0 && port == port2, "written back, it parses the same");
}

/* Undoes the label escaping of `s` up to its closing quote; NULL if an
 * escape is not one of \\ \" \n or a raw quote or newline shows up. */
static char *unescape_label(const char *s, const char **end)
{
	char *out = malloc(strlen(s) + 1);
	size_t n = 0;

	fuzz_require(out != NULL, "memory");
	for (; *s != '"'; s++) {
		if (!*s || *s == '\n') {
			free(out);
			return NULL;
		}
		if (*s == '\\') {
			s++;
			if (*s != '\\' && *s != '"' && *s != 'n') {
				free(out);
				return NULL;
			}
			out[n++] = *s == 'n' ? '\n' : *s;
		} else {
			out[n++] = *s;
		}
	}
	out[n] = '\0';
	*end = s;
	return out;
}

static void check_escaping(const char *text)
{
	struct fedc_buf b = FEDC_BUF_INIT(1 << 20);
	const struct fedc_prom_label label = { "v", text };
	const char *p, *end = NULL;
	char *back;
	size_t lines = 0;

	fuzz_require(fedc_prom_family(&b, "fuzz_metric", FEDC_PROM_GAUGE, text) == FEDC_OK, "any help is written");
	fuzz_require(fedc_prom_sample(&b, "fuzz_metric", &label, 1, 1) == FEDC_OK, "any label value is written");
	for (p = b.data; *p; p++)
		lines += *p == '\n';
	fuzz_require(lines == 3, "HELP, TYPE and the sample: three lines, whatever the text");
	p = strstr(b.data, "\nfuzz_metric{v=\"");
	fuzz_require(p != NULL, "the sample follows TYPE");
	back = unescape_label(p + strlen("\nfuzz_metric{v=\""), &end);
	fuzz_require(back != NULL, "the label value is escaped as the format says");
	fuzz_require(strcmp(back, text) == 0, "unescaped, the label value is the text");
	fuzz_require(strcmp(end, "\"} 1\n") == 0, "the sample ends with its value");
	free(back);
	fedc_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);

	fuzz_require(text != NULL, "the input is copied");
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_quiet_logs();
	check_listen(text);
	check_escaping(text);
	free(text);
	return 0;
}
