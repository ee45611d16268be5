/* libmicrohttpd, loaded when the metrics listener starts (lazy_lib.h): only
 * a node with [metrics] listen maps it. Defines the functions of it that
 * fedc's scrape endpoint (common/http/prom_http.c) calls; a new one used
 * there must be added here, or the linker brings libmicrohttpd back as a
 * NEEDED library and tests/node/idle_libraries.sh fails.
 *
 * The metrics listener asks for the library first (lazy__require(LAZY_MHD),
 * lazy_require.h, in node_metrics.c), since a failed MHD_start_daemon()
 * says nothing of why. Called without it, MHD_start_daemon() starts
 * nothing (NULL). Every other function works on a daemon, a connection or
 * a response that only exists once it started, so the library is there
 * when they run (without it they do nothing and return failure). */
#include <microhttpd.h>
#include <stdarg.h>

#include "lazy_lib.h"

enum { START_DAEMON_VA, STOP_DAEMON, GET_DAEMON_INFO, LOOKUP_VALUE, QUEUE_RESPONSE, CREATE_RESPONSE, ADD_HEADER,
       DESTROY_RESPONSE, N_SYMS };

static const char *const symbols[N_SYMS + 1] = {
	"MHD_start_daemon_va",	       "MHD_stop_daemon",	  "MHD_get_daemon_info",
	"MHD_lookup_connection_value", "MHD_queue_response",	  "MHD_create_response_from_buffer",
	"MHD_add_response_header",     "MHD_destroy_response", NULL,
};
static void *addrs[N_SYMS];
struct lazy_lib lazy_mhd__lib =
	LAZY_LIB_INIT("libmicrohttpd.so.12", "libmicrohttpd12", "the [metrics] listener", symbols, addrs);

/* The address of symbol `i`, or NULL while the library is not loaded. */
static void *sym(int i)
{
	return lazy_mhd__lib.loaded ? addrs[i] : NULL;
}

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc, void *apc_cls,
				    MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
	typedef struct MHD_Daemon *(*start_fn)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *,
					       MHD_AccessHandlerCallback, void *, va_list);
	struct MHD_Daemon *daemon;
	va_list ap;

	if (!lazy_lib__load(&lazy_mhd__lib))
		return NULL;
	va_start(ap, dh_cls);
	daemon = ((start_fn)addrs[START_DAEMON_VA])(flags, port, apc, apc_cls, dh, dh_cls, ap);
	va_end(ap);
	return daemon;
}

void MHD_stop_daemon(struct MHD_Daemon *daemon)
{
	void (*stop)(struct MHD_Daemon *) = (void (*)(struct MHD_Daemon *))sym(STOP_DAEMON);

	if (stop)
		stop(daemon);
}

/* fedc asks only for types that take no further argument (the bound port). */
const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *daemon, enum MHD_DaemonInfoType type, ...)
{
	typedef const union MHD_DaemonInfo *(*info_fn)(struct MHD_Daemon *, enum MHD_DaemonInfoType, ...);
	info_fn info = (info_fn)sym(GET_DAEMON_INFO);

	return info ? info(daemon, type) : NULL;
}

const char *MHD_lookup_connection_value(struct MHD_Connection *conn, enum MHD_ValueKind kind, const char *key)
{
	typedef const char *(*lookup_fn)(struct MHD_Connection *, enum MHD_ValueKind, const char *);
	lookup_fn lookup = (lookup_fn)sym(LOOKUP_VALUE);

	return lookup ? lookup(conn, kind, key) : NULL;
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *conn, unsigned int status, struct MHD_Response *response)
{
	typedef enum MHD_Result (*queue_fn)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
	queue_fn queue = (queue_fn)sym(QUEUE_RESPONSE);

	return queue ? queue(conn, status, response) : MHD_NO;
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode)
{
	typedef struct MHD_Response *(*create_fn)(size_t, void *, enum MHD_ResponseMemoryMode);
	create_fn create = (create_fn)sym(CREATE_RESPONSE);

	return create ? create(size, buffer, mode) : NULL;
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *response, const char *header, const char *content)
{
	typedef enum MHD_Result (*add_fn)(struct MHD_Response *, const char *, const char *);
	add_fn add = (add_fn)sym(ADD_HEADER);

	return add ? add(response, header, content) : MHD_NO;
}

void MHD_destroy_response(struct MHD_Response *response)
{
	void (*destroy)(struct MHD_Response *) = (void (*)(struct MHD_Response *))sym(DESTROY_RESPONSE);

	if (destroy)
		destroy(response);
}
