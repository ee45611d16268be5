/* Error codes shared by every fedc module.
 *
 * Functions return enum fedc_err (0 = success) and hand results back through
 * out-parameters. Where a caller needs more than the code (a file, a line, a
 * key, a peer's message), the failing function also records a detail string
 * with fedc_fail(); fedc_last_error() returns it for the calling thread. */
#ifndef FEDC_ERR_H
#define FEDC_ERR_H

/* On the declaration of every function that returns enum fedc_err: a caller
 * that drops the code gets a warning (an error under FEDC_WERROR), so that no
 * failure goes unseen by accident. Where dropping one is right, pass it to
 * fedc_ignore() below and say why at the call. */
#define FEDC_NODISCARD __attribute__((warn_unused_result))

enum fedc_err {
	FEDC_OK = 0,
	FEDC_ERR_NOMEM,       /* allocation failed */
	FEDC_ERR_INVAL,       /* bad argument from the caller */
	FEDC_ERR_MALFORMED,   /* bytes from outside do not follow the format */
	FEDC_ERR_IO,          /* read, write, open, rename ... failed */
	FEDC_ERR_NOT_FOUND,   /* no such blob, dataset, plan, key ... */
	FEDC_ERR_EXISTS,      /* already there */
	FEDC_ERR_TOO_BIG,     /* over a size limit */
	FEDC_ERR_DIGEST,      /* content does not match its digest */
	FEDC_ERR_AUTH,        /* missing or wrong credentials */
	FEDC_ERR_TIMEOUT,     /* a deadline passed */
	FEDC_ERR_NET,         /* connection failed or dropped */
	FEDC_ERR_HTTP,        /* unexpected HTTP status */
	FEDC_ERR_DB,          /* sqlite error */
	FEDC_ERR_CONFIG,      /* missing or bad configuration */
	FEDC_ERR_UNAPPROVED,  /* training plan not approved on this node */
	FEDC_ERR_PLAN,        /* training plan failed or broke its contract */
	FEDC_ERR_MQTT,        /* broker refused or failed */
	FEDC_ERR_UNSUPPORTED, /* valid but not supported by this version */
	FEDC_ERR_INTERRUPTED, /* stopped by a signal */
	FEDC_ERR_PRIVACY,     /* refused by the node's privacy policy (docs/privacy.md) */
	FEDC_ERR__COUNT
};

/* Short, stable, lower-case name of a code ("malformed", "timeout" ...), used
 * in logs and in `error` replies. Never NULL. */
const char *fedc_strerror(enum fedc_err code);

/* Records a printf-style detail for the calling thread and returns `code`, so
 * that a function can write `rc = fedc_fail(FEDC_ERR_CONFIG, "%s:%d: ...", ...)`.
 * The detail replaces any earlier one. */
FEDC_NODISCARD
enum fedc_err fedc_fail(enum fedc_err code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The detail recorded by the last fedc_fail() of this thread, or "" if none.
 * Valid until the next fedc_fail() of the same thread. */
const char *fedc_last_error(void);

/* Forgets the detail of this thread. */
void fedc_clear_error(void);

/* Drops a code on purpose: for best-effort work whose failure changes nothing
 * for the caller (cleanup on a path that already failed, a removal of what
 * may not exist). A cast to (void) does not silence warn_unused_result in
 * GCC; a call of this does, and it can be searched for. Every call says in a
 * comment why ignoring is right there. */
static inline void fedc_ignore(enum fedc_err rc)
{
	(void)rc;
}

#endif
