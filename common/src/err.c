/* Error names and the per-thread error detail. */
#include "fedc/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const err_names[FEDC_ERR__COUNT] = {
	[FEDC_OK] = "ok",
	[FEDC_ERR_NOMEM] = "out-of-memory",
	[FEDC_ERR_INVAL] = "invalid-argument",
	[FEDC_ERR_MALFORMED] = "malformed",
	[FEDC_ERR_IO] = "io",
	[FEDC_ERR_NOT_FOUND] = "not-found",
	[FEDC_ERR_EXISTS] = "exists",
	[FEDC_ERR_TOO_BIG] = "too-big",
	[FEDC_ERR_DIGEST] = "digest-mismatch",
	[FEDC_ERR_AUTH] = "unauthorized",
	[FEDC_ERR_TIMEOUT] = "timeout",
	[FEDC_ERR_NET] = "network",
	[FEDC_ERR_HTTP] = "http",
	[FEDC_ERR_DB] = "database",
	[FEDC_ERR_CONFIG] = "config",
	[FEDC_ERR_UNAPPROVED] = "plan-not-approved",
	[FEDC_ERR_PLAN] = "plan-failed",
	[FEDC_ERR_MQTT] = "mqtt",
	[FEDC_ERR_UNSUPPORTED] = "unsupported",
	[FEDC_ERR_INTERRUPTED] = "interrupted",
	[FEDC_ERR_PRIVACY] = "privacy-policy",
};

/* Thread-local so that the node's threads do not overwrite each other's detail. */
static _Thread_local char last_detail[1024];

const char *fedc_strerror(enum fedc_err code)
{
	if ((unsigned)code >= FEDC_ERR__COUNT)
		return "unknown-error";
	return err_names[code];
}

/* Formats aside first: callers often wrap the previous detail, passing
 * fedc_last_error() itself as an argument. */
enum fedc_err fedc_fail(enum fedc_err code, const char *fmt, ...)
{
	char detail[sizeof(last_detail)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	memcpy(last_detail, detail, sizeof(detail));
	return code;
}

const char *fedc_last_error(void)
{
	return last_detail;
}

void fedc_clear_error(void)
{
	last_detail[0] = '\0';
}
