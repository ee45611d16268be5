/* libcurl, loaded at the first transfer (lazy_lib.h). Defines the libcurl
 * functions that fedc's repository client (common/src/repo.c) calls; a new
 * one used there must be added here, or the linker brings libcurl back as a
 * NEEDED library (and the real function would be handed a handle of this
 * file): tests/node/idle_libraries.sh fails then.
 *
 * Nothing loads libcurl before a transfer needs it:
 * - curl_global_init() only records its flags; the real one runs when the
 *   library loads (libcurl 7.84 and later initialise thread-safely, and the
 *   load runs once under pthread_once);
 * - curl_easy_init() returns a handle of this file, which gets its real
 *   libcurl handle at the first call that needs one (setopt, perform,
 *   getinfo). The daemon creates its repository client at start-up, long
 *   before the first round. Callers only pass the handle back to these
 *   functions; no callback fedc sets receives it;
 * - curl_slist_append() and curl_slist_free_all() build the list here:
 *   struct curl_slist is public, and libcurl only reads a header list
 *   (CURLOPT_HTTPHEADER: the application owns it).
 *
 * Unlike the other libraries of node/lazy/, libcurl is not asked for
 * through lazy_require.h: its caller is shared code (common/src/repo.c,
 * which the researcher links with the real libcurl) and the first transfer
 * is the first use. Without the library every call answers
 * CURLE_FAILED_INIT and curl_easy_strerror() gives the loader's error, which
 * the repository client's error carries (FEDC_ERR_IO, "URL: cannot set up
 * the request: cannot load libcurl.so.4, ..."), as lazy__require() would. */
#define CURL_DISABLE_TYPECHECK /* curl.h's checking macros would rename the definitions below */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lazy_lib.h"

enum { GLOBAL_INIT, EASY_INIT, EASY_SETOPT, EASY_PERFORM, EASY_GETINFO, EASY_RESET, EASY_CLEANUP, EASY_STRERROR, N_SYMS };

static const char *const symbols[N_SYMS + 1] = {
	"curl_global_init", "curl_easy_init",  "curl_easy_setopt",  "curl_easy_perform",
	"curl_easy_getinfo", "curl_easy_reset", "curl_easy_cleanup", "curl_easy_strerror", NULL,
};
static void *addrs[N_SYMS];
static struct lazy_lib curl_lib =
	LAZY_LIB_INIT("libcurl.so.4", "libcurl4", "the repository's transfers", symbols, addrs);

static long global_flags = CURL_GLOBAL_DEFAULT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/* The handle callers hold. */
struct lazy_handle {
	CURL *real; /* NULL until a call needs it */
};

/* Loads libcurl and runs its global initialisation, once: called once per
 * handle, so the lock costs nothing. */
static bool load_curl(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	CURLcode rc;

	if (!lazy_lib__load(&curl_lib))
		return false;
	pthread_mutex_lock(&lock);
	if (global_rc != CURLE_OK)
		global_rc = ((CURLcode(*)(long))addrs[GLOBAL_INIT])(global_flags);
	rc = global_rc;
	pthread_mutex_unlock(&lock);
	return rc == CURLE_OK;
}

/* The real handle of `h`, created (and libcurl loaded) on the first call. */
static CURL *real_handle(CURL *h)
{
	struct lazy_handle *l = h;

	if (!l->real && load_curl())
		l->real = ((CURL * (*)(void)) addrs[EASY_INIT])();
	return l->real;
}

/* Recorded for the load; libcurl is not touched here. */
CURLcode curl_global_init(long flags)
{
	global_flags = flags;
	return CURLE_OK;
}

CURL *curl_easy_init(void)
{
	return calloc(1, sizeof(struct lazy_handle));
}

/* The option's number says the type of its argument (curl.h, CURLOPTTYPE_*),
 * as libcurl itself reads it: long, a data pointer, a function pointer,
 * curl_off_t, or a struct curl_blob pointer. */
CURLcode curl_easy_setopt(CURL *h, CURLoption option, ...)
{
	typedef CURLcode (*setopt_fn)(CURL *, CURLoption, ...);
	setopt_fn setopt;
	CURL *real = real_handle(h);
	CURLcode cc;
	va_list ap;

	if (!real)
		return CURLE_FAILED_INIT;
	setopt = (setopt_fn)addrs[EASY_SETOPT];
	va_start(ap, option);
	if (option < CURLOPTTYPE_OBJECTPOINT)
		cc = setopt(real, option, va_arg(ap, long));
	else if (option < CURLOPTTYPE_FUNCTIONPOINT)
		cc = setopt(real, option, va_arg(ap, void *));
	else if (option < CURLOPTTYPE_OFF_T)
		cc = setopt(real, option, va_arg(ap, void (*)(void)));
	else if (option < CURLOPTTYPE_BLOB)
		cc = setopt(real, option, va_arg(ap, curl_off_t));
	else if (option < CURLOPT_LASTENTRY)
		cc = setopt(real, option, va_arg(ap, void *));
	else
		cc = CURLE_UNKNOWN_OPTION;
	va_end(ap);
	return cc;
}

CURLcode curl_easy_perform(CURL *h)
{
	CURL *real = real_handle(h);

	return real ? ((CURLcode(*)(CURL *))addrs[EASY_PERFORM])(real) : CURLE_FAILED_INIT;
}

/* Every CURLINFO_* takes one pointer to where the value goes. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	CURL *real = real_handle(h);
	CURLcode cc = CURLE_FAILED_INIT;
	va_list ap;

	va_start(ap, info);
	if (real)
		cc = ((CURLcode(*)(CURL *, CURLINFO, ...))addrs[EASY_GETINFO])(real, info, va_arg(ap, void *));
	va_end(ap);
	return cc;
}

/* A handle that never had a real one has nothing to reset. */
void curl_easy_reset(CURL *h)
{
	struct lazy_handle *l = h;

	if (l->real)
		((void (*)(CURL *))addrs[EASY_RESET])(l->real);
}

void curl_easy_cleanup(CURL *h)
{
	struct lazy_handle *l = h;

	if (!l)
		return;
	if (l->real)
		((void (*)(CURL *))addrs[EASY_CLEANUP])(l->real);
	free(l);
}

/* When libcurl could not be loaded, every call above said
 * CURLE_FAILED_INIT: the text then says why, and which package to install. */
const char *curl_easy_strerror(CURLcode code)
{
	if (!curl_lib.loaded)
		return curl_lib.error[0] ? curl_lib.error : "libcurl not loaded";
	return ((const char *(*)(CURLcode))addrs[EASY_STRERROR])(code);
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *data)
{
	struct curl_slist *item = malloc(sizeof(*item)), *last = list;

	if (!item)
		return NULL;
	item->data = strdup(data);
	item->next = NULL;
	if (!item->data) {
		free(item);
		return NULL;
	}
	if (!list)
		return item;
	while (last->next)
		last = last->next;
	last->next = item;
	return list;
}

void curl_slist_free_all(struct curl_slist *list)
{
	while (list) {
		struct curl_slist *next = list->next;

		free(list->data);
		free(list);
		list = next;
	}
}
