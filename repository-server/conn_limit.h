/* How many connections fedc-repository takes at once, and the file
 * descriptors that needs (docs/repository.md, "Connections").
 *
 * Every node keeps its HTTPS connection between rounds (a TLS handshake per
 * round would cost two round trips), so a federation of N nodes holds about
 * N connections, plus the researchers'. A served or uploaded blob holds one
 * more descriptor while its request runs. A limit the process cannot reach
 * would fail at accept() (EMFILE) under load, the client seeing a TLS
 * timeout: so the descriptor limit is raised first (soft up to hard), and a
 * hard limit too low for the asked connections lowers the connection limit,
 * which the server then says in its log. */
#ifndef FEDC_REPOSITORY_CONN_LIMIT_H
#define FEDC_REPOSITORY_CONN_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* Descriptors kept for everything but connections: the listening sockets,
 * the log, the store's directory and index, the metrics listener. */
#define CONN_LIMIT_RESERVED_FDS 64
/* Descriptors per connection: its socket and the blob it serves or takes. */
#define CONN_LIMIT_FDS_PER_CONNECTION 2

struct conn_limit_plan {
	uint64_t fd_soft;      /* the RLIMIT_NOFILE soft limit to set */
	uint64_t connections;  /* the connection limit to give libmicrohttpd */
	bool lowered;          /* `connections` < the asked limit: say so */
};

/* The plan for `wanted` connections under the process's current
 * RLIMIT_NOFILE (`soft`, `hard`; RLIM_INFINITY is UINT64_MAX here). Never
 * lowers the soft limit; at least 1 connection. */
struct conn_limit_plan conn_limit__plan(uint64_t wanted, uint64_t soft, uint64_t hard);

/* Applies conn_limit__plan() to this process: raises its soft
 * RLIMIT_NOFILE as planned and returns the connection limit, logging a
 * warning that names max_connections and the descriptor limit when it had
 * to be lowered. */
uint64_t conn_limit__apply(uint64_t wanted);

#endif
