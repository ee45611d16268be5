/* TCP_NODELAY on the MQTT connection.
 *
 * A QoS 1 request/reply over loopback takes 88 ms with Nagle's algorithm on
 * (it meets the peer's delayed ACK) and about 0.1 ms without (FIELD-NOTES.md).
 * The broker side is mosquitto's `set_tcp_nodelay true`. Paho MQTT C opens
 * its socket itself and has no option and no socket hook for it, so once a
 * connection is up (its connected callback, before anything is subscribed or
 * published) this looks the socket up among the process's descriptors: the
 * TCP sockets whose peer is the broker's address and port. Nothing of libc
 * is replaced; a UNIX or UDP socket, or a TCP one to another peer, is never
 * touched. */
#define _GNU_SOURCE
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fedc/num.h"
#include "transport_internal.h"

/* Descriptors looked at when /proc is not mounted. */
#define NODELAY_MAX_FD_SCAN 4096

static bool same_peer(const struct sockaddr_storage *peer, const struct addrinfo *ai)
{
	if (peer->ss_family != ai->ai_family)
		return false;
	if (ai->ai_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)peer, *b = (const void *)ai->ai_addr;

		return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	if (ai->ai_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)peer, *b = (const void *)ai->ai_addr;

		return a->sin6_port == b->sin6_port && memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
	}
	return false;
}

/* Sets TCP_NODELAY on `fd` if it is a TCP socket connected to one of
 * `addrs`; returns whether it did. */
static bool nodelay_if_peer(int fd, const struct addrinfo *addrs)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	int type = 0, one = 1;
	socklen_t type_len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_STREAM)
		return false; /* not a socket, or not a stream one */
	if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
		return false; /* UNIX socket pairs have a peer too: the family test below drops them */
	for (const struct addrinfo *ai = addrs; ai; ai = ai->ai_next) {
		if (same_peer(&peer, ai))
			return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0;
	}
	return false;
}

int fedc__nodelay_to(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *addrs = NULL;
	struct dirent *e;
	DIR *d;
	int done = 0;

	if (!host || !port || getaddrinfo(host, port, &hints, &addrs) != 0)
		return 0;
	d = opendir("/proc/self/fd");
	if (d) {
		while ((e = readdir(d)) != NULL) {
			int64_t fd;

			if (fedc_num_parse_i64(e->d_name, 0, INT32_MAX, &fd) == FEDC_OK && fd != dirfd(d))
				done += nodelay_if_peer((int)fd, addrs);
		}
		closedir(d);
	} else {
		for (int fd = 0; fd < NODELAY_MAX_FD_SCAN; fd++)
			done += nodelay_if_peer(fd, addrs);
	}
	freeaddrinfo(addrs);
	return done;
}

bool fedc__split_url(const char *url, char *host, size_t host_cap, char *port, size_t port_cap)
{
	const char *p = strstr(url, "://"), *end, *colon;
	bool tls;
	size_t n;

	if (!p)
		return false;
	tls = strncmp(url, "ssl://", 6) == 0 || strncmp(url, "mqtts://", 8) == 0;
	p += 3;
	if (*p == '[') { /* [v6 address]:port */
		end = strchr(p, ']');
		if (!end)
			return false;
		p++;
		colon = end[1] == ':' ? end + 1 : NULL;
	} else {
		colon = strrchr(p, ':');
		end = colon ? colon : p + strcspn(p, "/");
	}
	n = (size_t)(end - p);
	if (n == 0 || n >= host_cap)
		return false;
	memcpy(host, p, n);
	host[n] = '\0';
	n = colon ? strcspn(colon + 1, "/") : 0;
	if (colon && (n == 0 || n >= port_cap))
		return false;
	if (colon) {
		memcpy(port, colon + 1, n);
		port[n] = '\0';
	} else {
		snprintf(port, port_cap, "%s", tls ? "8883" : "1883");
	}
	return true;
}
