/* TCP_NODELAY for every TCP connection the process opens.
 *
 * A QoS 1 request/reply over loopback takes 88 ms with Nagle's algorithm on
 * (it meets the peer's delayed ACK) and about 0.1 ms without (FIELD-NOTES.md).
 * Paho MQTT C has no option and no socket hook for it, so this file defines
 * connect(): linked into the executable, it takes precedence over libc's for
 * Paho's shared library too, sets TCP_NODELAY on TCP sockets and forwards to
 * the next connect() in the lookup order. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "transport_internal.h"

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

static connect_fn next_connect(void)
{
	static connect_fn next;
	connect_fn fn = __atomic_load_n(&next, __ATOMIC_ACQUIRE);

	if (!fn) {
		fn = (connect_fn)dlsym(RTLD_NEXT, "connect");
		__atomic_store_n(&next, fn, __ATOMIC_RELEASE);
	}
	return fn;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	connect_fn fn = next_connect();

	if (addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)) {
		int type = 0, one = 1;
		socklen_t type_len = sizeof(type);

		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0 && type == SOCK_STREAM)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	return fn(fd, addr, len);
}

bool fedc__nodelay_linked(void)
{
	return true;
}
