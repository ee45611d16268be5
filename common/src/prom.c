/* The Prometheus text exposition format, version 0.0.4 (fedc/prom.h):
 * https://prometheus.io/docs/instrumenting/exposition_formats/ */
#include "fedc/prom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool name_char(char c, bool first, bool colon)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return true;
	if (c == ':')
		return colon;
	return !first && c >= '0' && c <= '9';
}

static bool valid(const char *name, bool colon)
{
	if (!name || !*name)
		return false;
	for (const char *p = name; *p; p++) {
		if (!name_char(*p, p == name, colon))
			return false;
	}
	return true;
}

bool fedc_prom_name_valid(const char *name)
{
	return valid(name, true);
}

bool fedc_prom_label_name_valid(const char *name)
{
	return valid(name, false) && strncmp(name, "__", 2) != 0;
}

/* Appends `s` escaped: backslash and newline always (as \\ and \n), the
 * double quote too inside a label value (as \"). */
static enum fedc_err append_escaped(struct fedc_buf *b, const char *s, bool quote)
{
	enum fedc_err rc = FEDC_OK;

	for (const char *p = s; !rc && *p; p++) {
		const char *run = p;

		while (*p && *p != '\\' && *p != '\n' && !(quote && *p == '"'))
			p++;
		rc = fedc_buf_append(b, run, (size_t)(p - run));
		if (rc || !*p)
			return rc;
		rc = fedc_buf_append(b, *p == '\n' ? "\\n" : *p == '"' ? "\\\"" : "\\\\", 2);
	}
	return rc;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);

	return n >= m && memcmp(s + n - m, tail, m) == 0;
}

enum fedc_err fedc_prom_family(struct fedc_buf *b, const char *name, enum fedc_prom_type type, const char *help)
{
	enum fedc_err rc;

	if (!fedc_prom_name_valid(name) || (type == FEDC_PROM_COUNTER && !ends_with(name, "_total")))
		return fedc_fail(FEDC_ERR_INVAL, "metric name \"%s\" is not valid here", name ? name : "(null)");
	rc = fedc_buf_printf(b, "# HELP %s ", name);
	if (!rc)
		rc = append_escaped(b, help ? help : "", false);
	if (!rc)
		rc = fedc_buf_printf(b, "\n# TYPE %s %s\n", name, type == FEDC_PROM_COUNTER ? "counter" : "gauge");
	return rc;
}

/* The shortest of %.15g, %.16g, %.17g that reads back as `v`. */
static void format_value(double v, char *out, size_t cap)
{
	if (isnan(v)) {
		snprintf(out, cap, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int digits = 15; digits <= 17; digits++) {
		snprintf(out, cap, "%.*g", digits, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

static enum fedc_err append_labels(struct fedc_buf *b, const struct fedc_prom_label *labels, size_t n)
{
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; !rc && i < n; i++) {
		if (!fedc_prom_label_name_valid(labels[i].name) || !labels[i].value)
			return fedc_fail(FEDC_ERR_INVAL, "label name \"%s\" is not valid",
					 labels[i].name ? labels[i].name : "(null)");
		rc = fedc_buf_printf(b, "%s%s=\"", i ? "," : "{", labels[i].name);
		if (!rc)
			rc = append_escaped(b, labels[i].value, true);
		if (!rc)
			rc = fedc_buf_append(b, "\"", 1);
	}
	if (!rc && n)
		rc = fedc_buf_append(b, "}", 1);
	return rc;
}

enum fedc_err fedc_prom_sample(struct fedc_buf *b, const char *name, const struct fedc_prom_label *labels,
			       size_t n_labels, double value)
{
	char text[32];
	enum fedc_err rc;

	if (!fedc_prom_name_valid(name))
		return fedc_fail(FEDC_ERR_INVAL, "metric name \"%s\" is not valid", name ? name : "(null)");
	format_value(value, text, sizeof(text));
	rc = fedc_buf_append(b, name, strlen(name));
	if (!rc)
		rc = append_labels(b, labels, n_labels);
	if (!rc)
		rc = fedc_buf_printf(b, " %s\n", text);
	return rc;
}

enum fedc_err fedc_prom_single(struct fedc_buf *b, const char *name, enum fedc_prom_type type, const char *help,
			       double value)
{
	enum fedc_err rc = fedc_prom_family(b, name, type, help);

	return rc ? rc : fedc_prom_sample(b, name, NULL, 0, value);
}

enum fedc_err fedc_prom_listen_parse(const char *what, const char *text, char host[FEDC_PROM_HOST_MAX + 1],
				     uint16_t *port)
{
	const char *colon = text ? strrchr(text, ':') : NULL;
	const char *h = text, *h_end = colon;
	unsigned long value = 0;
	char *end = NULL;

	if (!colon || colon == text || !colon[1])
		goto bad;
	if (text[0] == '[') {
		/* [v6]:port: the port's colon is right after the bracket */
		if (colon[-1] != ']' || colon - text < 3)
			goto bad;
		h = text + 1;
		h_end = colon - 1;
	} else if (memchr(text, ':', (size_t)(colon - text))) {
		goto bad; /* a bare IPv6 address: which colon is the port's? */
	}
	if ((size_t)(h_end - h) > FEDC_PROM_HOST_MAX || colon[1] < '0' || colon[1] > '9' ||
	    memchr(h, '[', (size_t)(h_end - h)) || memchr(h, ']', (size_t)(h_end - h)))
		goto bad;
	value = strtoul(colon + 1, &end, 10);
	if (*end || value > 65535)
		goto bad;
	memcpy(host, h, (size_t)(h_end - h));
	host[h_end - h] = '\0';
	*port = (uint16_t)value;
	return FEDC_OK;
bad:
	return fedc_fail(FEDC_ERR_CONFIG,
			 "%s: \"%s\" is not a listen address: give HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464 "
			 "(port 0 to 65535)", what, text ? text : "");
}
