/* Connection and descriptor limits of fedc-repository (see conn_limit.h). */
#include "conn_limit.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "fedc/log.h"

struct conn_limit_plan conn_limit__plan(uint64_t wanted, uint64_t soft, uint64_t hard)
{
	struct conn_limit_plan p = { .fd_soft = soft, .connections = wanted ? wanted : 1 };
	uint64_t need = CONN_LIMIT_RESERVED_FDS;

	/* need = reserved + per-connection fds, saturating */
	if (p.connections > (UINT64_MAX - need) / CONN_LIMIT_FDS_PER_CONNECTION)
		need = UINT64_MAX;
	else
		need += p.connections * CONN_LIMIT_FDS_PER_CONNECTION;
	if (need > soft)
		p.fd_soft = need < hard ? need : hard;
	if (need > p.fd_soft) {
		uint64_t room = p.fd_soft > CONN_LIMIT_RESERVED_FDS ? p.fd_soft - CONN_LIMIT_RESERVED_FDS : 0;

		p.connections = room / CONN_LIMIT_FDS_PER_CONNECTION;
		if (p.connections == 0)
			p.connections = 1;
		p.lowered = true;
	}
	return p;
}

static uint64_t as_u64(rlim_t v)
{
	return v == RLIM_INFINITY ? UINT64_MAX : (uint64_t)v;
}

uint64_t conn_limit__apply(uint64_t wanted)
{
	struct rlimit rl;
	struct conn_limit_plan p;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		fedc_warn("cannot read the file descriptor limit (%s): keeping max_connections = %llu",
			  strerror(errno), (unsigned long long)wanted);
		return wanted;
	}
	p = conn_limit__plan(wanted, as_u64(rl.rlim_cur), as_u64(rl.rlim_max));
	if (p.fd_soft != as_u64(rl.rlim_cur)) {
		rl.rlim_cur = p.fd_soft == UINT64_MAX ? RLIM_INFINITY : (rlim_t)p.fd_soft;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			fedc_warn("cannot raise the file descriptor limit to %llu (%s)",
				  (unsigned long long)p.fd_soft, strerror(errno));
			p = conn_limit__plan(wanted, as_u64(rl.rlim_cur), as_u64(rl.rlim_cur));
		}
	}
	if (p.lowered)
		fedc_warn("max_connections = %llu needs %llu file descriptors, and this process may open %llu (its "
			  "hard RLIMIT_NOFILE): taking %llu connections at once. Raise the limit (systemd "
			  "LimitNOFILE=, ulimit -n) or lower max_connections",
			  (unsigned long long)wanted,
			  (unsigned long long)(CONN_LIMIT_RESERVED_FDS + wanted * CONN_LIMIT_FDS_PER_CONNECTION),
			  (unsigned long long)p.fd_soft, (unsigned long long)p.connections);
	return p.connections;
}
