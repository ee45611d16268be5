/* Keeps unauthenticated connections from starving authenticated ones
 * (docs/repository.md, "Connections"; docs/security.md).
 *
 * libmicrohttpd gives each connection an idle timeout only, reset by any
 * byte: a client that sends one byte every few seconds, or that connects and
 * never completes TLS, holds a slot for as long as it likes, and 128 of them
 * took every slot. The guard adds what the library lacks:
 *   - a deadline: a connection that has not presented a valid token within
 *     `deadline_ms` of its accept (TLS handshake and headers included) is
 *     closed, however many bytes it trickles;
 *   - a cap on unauthenticated connections at once: past `max_untrusted`, the
 *     oldest of them are closed, so that authenticated clients always find
 *     free slots among the server's connection limit.
 * A connection becomes trusted for the rest of its life once one request on
 * it carried a valid token (guard__trust). Its holder is a participant of
 * the federation; from then on only the idle timeout applies.
 *
 * Mechanism: libmicrohttpd offers no call to close one connection from
 * another thread, so the guard's reaper thread shuts the socket down
 * (shutdown(2), never close(2)): the library then sees the connection fail
 * and closes and frees it on its own thread, as for any client gone. The
 * guard's list lock makes that safe against the fd being reused: an entry
 * leaves the list (MHD_CONNECTION_NOTIFY_CLOSED) before the library closes
 * the fd, and a new connection on the same fd number invalidates any stale
 * entry that still holds it. */
#ifndef FEDC_REPOSITORY_GUARD_H
#define FEDC_REPOSITORY_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "fedc/err.h"

struct guard; /* opaque */

struct guard_limits {
	int64_t deadline_ms;  /* accept to first valid token */
	size_t max_untrusted; /* unauthenticated connections at once */
	int64_t tick_ms;      /* how often the reaper looks */
};

/* Starts the reaper thread. FEDC_ERR_NOMEM, FEDC_ERR_IO (no thread). */
FEDC_NODISCARD
enum fedc_err guard__new(const struct guard_limits *limits, struct guard **out);
/* Stops the reaper and frees. Call after the MHD daemon has stopped (every
 * connection closed). NULL is allowed. */
void guard__free(struct guard *g);

/* The MHD_OPTION_NOTIFY_CONNECTION callback, with the guard as `cls`. */
void guard__on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code);
/* Marks the connection of a request that carried a valid token. */
void guard__trust(struct guard *g, struct MHD_Connection *conn);

/* Connections cut so far for showing no valid token in time or past the
 * untrusted limit (for monitoring). */
uint64_t guard__closed(struct guard *g);

#endif
