/* Large downloads served a few at a time, in order of arrival
 * (docs/repository.md, "Downloads in turn"; `downloads_at_once`).
 *
 * When a round starts, every node asks for the same global at once. Where
 * the server's uplink is what limits them, TCP shares it fairly: all the
 * downloads end together, at the end of the round's download time, and only
 * then does any node train and send its update, so the link's other
 * direction idles during the downloads and the downloads' direction during
 * the uploads. Served in turn, the first node has its global after a share
 * of that time and trains and uploads while the next ones download: the
 * round takes the downloads' time plus one node's upload, not both sums.
 *
 * Where each node's own link is what limits it, turns would make the nodes
 * wait for nothing: so it is off by default (0), a setting for a server
 * whose uplink is the bottleneck.
 *
 * A request that must wait is suspended (MHD_suspend_connection, from inside
 * its access handler) and queued; the request that ends its download hands
 * its turn to the first in the queue and resumes it, and libmicrohttpd then
 * calls that request's handler again. A waiting connection holds its socket
 * and no blob descriptor; libmicrohttpd does not time it out. */
#ifndef FEDC_REPOSITORY_DOWNLOAD_TURNS_H
#define FEDC_REPOSITORY_DOWNLOAD_TURNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "fedc/err.h"

/* A node's download of at least this many bytes takes a turn; smaller ones
 * (small models' globals, which go inline anyway) do not wait, nor do a
 * researcher's (server.c). */
#define DOWNLOAD_TURNS_MIN_BYTES ((uint64_t)1 << 20)

/* The unsent bytes at which a connection's socket takes more, where turns
 * are on (server.c): a response ends about this much before the last of it
 * is delivered. */
#define DOWNLOAD_TURNS_NOTSENT_LOWAT ((size_t)128 << 10)

struct download_turns; /* opaque */

/* One request's place in the turns; zeroed with the request. */
struct download_ticket {
	bool held;   /* holds a turn: download_turns__end gives it back */
	bool waited; /* waited its longest: sent beside the others */
};

/* `at_once` downloads at a time, a request waiting at most `max_wait_ms`
 * (then it is sent beside the others, so that a node's download does not
 * stall into its own timeout); at_once 0: no turns (*out NULL, every call
 * below then lets everything through). FEDC_ERR_NOMEM, or FEDC_ERR_IO when
 * the thread that ends long waits cannot start. */
FEDC_NODISCARD
enum fedc_err download_turns__new(unsigned at_once, int64_t max_wait_ms, struct download_turns **out);

/* From inside the access handler of a download of `bytes`: true if it may be
 * sent now (ticket->held when it then holds a turn, which
 * download_turns__end must give back); false when it was queued and its
 * connection suspended: the handler returns MHD_YES without a response, and
 * is called again once the turn is its own (ticket->held) or it has waited
 * `max_wait_ms` (ticket->waited). The ticket must live as long as the
 * request. */
bool download_turns__take(struct download_turns *t, struct MHD_Connection *conn, uint64_t bytes,
			  struct download_ticket *ticket);

/* The request of `ticket` has ended, however: a turn it held goes to the
 * first waiting request, which is resumed, or back to the pool. */
void download_turns__end(struct download_turns *t, struct download_ticket *ticket);

/* Requests waiting now (for the log, the metrics and the tests). */
size_t download_turns__waiting(struct download_turns *t);

/* Before the daemon stops: every waiting request is resumed holding a turn
 * (libmicrohttpd must not stop with suspended connections), and later ones
 * no longer wait. */
void download_turns__release_all(struct download_turns *t);

/* After the daemon has stopped: stops the thread, frees. NULL is allowed. */
void download_turns__free(struct download_turns *t);

#endif
