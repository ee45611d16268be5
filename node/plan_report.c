/* The strict reader of the plan process's report (plan_report.h). */
#include "plan_report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/config.h"

#define MAX_FIELDS 5 /* scalar NAME VALUE ITERATION EPOCH */
#define FIELD_MAX 64 /* longest number or name a field may hold, with its NUL */

void plan_report__init(struct plan_report *r, uint64_t max_rows,
		       void (*on_scalar)(void *ctx, const char *name, double value, uint64_t iteration,
					 uint32_t epoch),
		       void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->max_rows = max_rows;
	r->on_scalar = on_scalar;
	r->ctx = ctx;
}

static enum fedc_err refuse(struct plan_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static enum fedc_err refuse(struct plan_report *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->violation, sizeof(r->violation), fmt, ap);
	va_end(ap);
	return FEDC_ERR_MALFORMED;
}

bool plan_report__name_ok(const char *name, size_t len)
{
	if (len == 0 || len >= FEDC_PLAN_METRIC_NAME_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* One space-separated field, copied out NUL-terminated. */
struct field {
	char text[FIELD_MAX];
	size_t len;
};

/* Splits `line` at single spaces into at most MAX_FIELDS fields of less
 * than FIELD_MAX bytes. False on an empty field (two spaces, a space at
 * either end), too many fields or one too long. */
static bool split_fields(const char *line, size_t len, struct field *f, size_t *count)
{
	size_t start = 0, n = 0;

	for (size_t i = 0; i <= len; i++) {
		size_t flen;

		if (i < len && line[i] != ' ')
			continue;
		flen = i - start;
		if (flen == 0 || flen >= FIELD_MAX || n >= MAX_FIELDS)
			return false;
		memcpy(f[n].text, line + start, flen);
		f[n].text[flen] = '\0';
		f[n].len = flen;
		n++;
		start = i + 1;
	}
	*count = n;
	return true;
}

/* A count: decimal digits only (no sign, no space), at most `max`. */
static bool parse_count(const struct field *f, uint64_t max, uint64_t *out)
{
	int64_t v;

	if (f->len == 0 || f->text[0] < '0' || f->text[0] > '9' || max > INT64_MAX)
		return false;
	if (!fedc_parse_int(f->text, 0, (int64_t)max, &v))
		return false;
	*out = (uint64_t)v;
	return true;
}

/* A finite decimal number: what "%.17g" writes, and no "nan", "inf" or
 * hexadecimal float. */
static bool parse_value(const struct field *f, double *out)
{
	char *end = NULL;
	double v;

	for (size_t i = 0; i < f->len; i++) {
		char c = f->text[i];

		if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'))
			return false;
	}
	errno = 0;
	v = strtod(f->text, &end);
	if (end == f->text || *end || !isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
		return false;
	*out = v;
	return true;
}

static enum fedc_err take_samples(struct plan_report *r, const struct field *f, size_t n)
{
	uint64_t train, test;

	if (n != 3)
		return refuse(r, "a `samples` line needs two counts");
	if (!parse_count(&f[1], r->max_rows, &train) || !parse_count(&f[2], r->max_rows, &test))
		return refuse(r, "`samples` counts must be whole numbers from 0 to the dataset's %" PRIu64 " rows",
			      r->max_rows);
	if (train + test > r->max_rows)
		return refuse(r, "`samples` claims %" PRIu64 " training and %" PRIu64
				 " test rows, more than the dataset's %" PRIu64,
			      train, test, r->max_rows);
	if (r->has_samples)
		return refuse(r, "a second `samples` line");
	r->has_samples = true;
	r->n_train = train;
	r->n_test = test;
	return FEDC_OK;
}

static enum fedc_err take_metric(struct plan_report *r, struct fedc_metrics *m, const char *kind,
				 const struct field *f, size_t n)
{
	double value;

	if (n != 3)
		return refuse(r, "a `%s` line needs a name and a value", kind);
	if (!plan_report__name_ok(f[1].text, f[1].len))
		return refuse(r, "a `%s` metric name must be 1 to %d of A-Z a-z 0-9 _ . -", kind,
			      FEDC_PLAN_METRIC_NAME_LEN - 1);
	if (!parse_value(&f[2], &value))
		return refuse(r, "`%s %s` is not a finite number", kind, f[1].text);
	for (size_t i = 0; i < m->count; i++) {
		if (strcmp(m->items[i].name, f[1].text) == 0)
			return refuse(r, "a second `%s %s` line", kind, f[1].text);
	}
	if (m->count >= FEDC_PLAN_MAX_METRICS)
		return refuse(r, "more than %d `%s` metrics", FEDC_PLAN_MAX_METRICS, kind);
	memcpy(m->items[m->count].name, f[1].text, f[1].len + 1);
	m->items[m->count].value = value;
	m->count++;
	return FEDC_OK;
}

static enum fedc_err take_scalar(struct plan_report *r, const struct field *f, size_t n)
{
	uint64_t iteration, epoch;
	double value;

	if (n != 5)
		return refuse(r, "a `scalar` line needs a name, a value, an iteration and an epoch");
	if (!plan_report__name_ok(f[1].text, f[1].len))
		return refuse(r, "a `scalar` name must be 1 to %d of A-Z a-z 0-9 _ . -", FEDC_PLAN_METRIC_NAME_LEN - 1);
	if (!parse_value(&f[2], &value))
		return refuse(r, "`scalar %s` is not a finite number", f[1].text);
	if (!parse_count(&f[3], INT64_MAX, &iteration) || !parse_count(&f[4], UINT32_MAX, &epoch))
		return refuse(r, "`scalar %s` has a bad iteration or epoch", f[1].text);
	if (r->on_scalar)
		r->on_scalar(r->ctx, f[1].text, value, iteration, (uint32_t)epoch);
	return FEDC_OK;
}

/* `error TEXT` or `refused TEXT`: kept for the error reply, made printable
 * ASCII. */
static enum fedc_err take_error(struct plan_report *r, const char *text, size_t len, bool final)
{
	size_t n = len < sizeof(r->error) - 1 ? len : sizeof(r->error) - 1;

	if (r->error[0])
		return refuse(r, "a second `error` or `refused` line");
	if (len == 0)
		return refuse(r, "an `error` or `refused` line without text");
	r->final = final;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];

		r->error[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	r->error[n] = '\0';
	return FEDC_OK;
}

enum fedc_err plan_report__line(struct plan_report *r, const char *line, size_t len)
{
	struct field f[MAX_FIELDS];
	size_t n = 0;

	if (r->violation[0])
		return FEDC_ERR_MALFORMED;
	if (r->done)
		return refuse(r, "a line after `done`");
	if (len > PLAN_REPORT_LINE_MAX)
		return refuse(r, "a line longer than %d bytes", PLAN_REPORT_LINE_MAX);
	if (memchr(line, '\0', len))
		return refuse(r, "a NUL byte in a line");
	if (len > 6 && memcmp(line, "error ", 6) == 0)
		return take_error(r, line + 6, len - 6, false);
	if (len > 8 && memcmp(line, "refused ", 8) == 0)
		return take_error(r, line + 8, len - 8, true);
	if ((len == 5 && memcmp(line, "error", 5) == 0) || (len == 7 && memcmp(line, "refused", 7) == 0))
		return take_error(r, "", 0, false);
	if (!split_fields(line, len, f, &n))
		return refuse(r, "a line that is not fields separated by single spaces");
	if (strcmp(f[0].text, "done") == 0) {
		if (n != 1)
			return refuse(r, "`done` takes nothing after it");
		if (r->error[0])
			return refuse(r, "`done` after an `error` or `refused` line");
		if (!r->has_samples)
			return refuse(r, "`done` before any `samples` line");
		r->done = true;
		return FEDC_OK;
	}
	if (strcmp(f[0].text, "samples") == 0)
		return take_samples(r, f, n);
	if (strcmp(f[0].text, "global") == 0)
		return take_metric(r, &r->global_metrics, "global", f, n);
	if (strcmp(f[0].text, "local") == 0)
		return take_metric(r, &r->local_metrics, "local", f, n);
	if (strcmp(f[0].text, "scalar") == 0)
		return take_scalar(r, f, n);
	return refuse(r, "an unknown line kind `%.32s`", f[0].text);
}

enum fedc_err plan_report__feed(struct plan_report *r, const char *data, size_t n, size_t *used)
{
	enum fedc_err rc = FEDC_OK;
	size_t i = 0;

	for (; i < n && !rc && !r->done; i++) {
		if (data[i] != '\n') {
			if (r->line_len >= PLAN_REPORT_LINE_MAX)
				rc = refuse(r, "a line longer than %d bytes", PLAN_REPORT_LINE_MAX);
			else
				r->line[r->line_len++] = data[i];
			continue;
		}
		rc = plan_report__line(r, r->line, r->line_len);
		r->line_len = 0;
	}
	if (used)
		*used = i;
	return rc;
}
