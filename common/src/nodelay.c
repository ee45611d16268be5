/* TCP_NODELAY and the send buffer of the MQTT connection.
 *
 * A QoS 1 request/reply over loopback takes 88 ms with Nagle's algorithm on
 * (it meets the peer's delayed ACK) and about 0.1 ms without (FIELD-NOTES.md).
 * The broker side is mosquitto's `set_tcp_nodelay true`. Paho MQTT C opens
 * its socket itself and has no option and no socket hook for it, so once a
 * connection is up (its connected callback, before anything is subscribed or
 * published) this looks the socket up among the process's descriptors: the
 * TCP sockets whose peer is the broker's address and port. Nothing of libc
 * is replaced; a UNIX or UDP socket, or a TCP one to another peer, is never
 * touched.
 *
 * The send buffer: Paho finishes a partial write only when its receive
 * thread's poll next wakes, up to a second later (FIELD-NOTES.md), so a
 * message larger than the socket's free send buffer stalls. The kernel grows
 * a TCP send buffer by itself up to tcp_wmem's maximum (4 MiB by default);
 * a fixed SO_SNDBUF may go up to net.core.wmem_max (212992 on a stock
 * kernel, which the kernel doubles for its bookkeeping). Where the operator
 * raised wmem_max so that a fixed buffer beats the kernel's own growth, the
 * socket gets one that holds the protocol's largest message; elsewhere the
 * kernel's growth is left alone, and large inline parameters stay off
 * (docs/deployment.md, "Models up to 8 MiB inline"). */
#define _GNU_SOURCE
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fedc/limits.h"
#include "fedc/num.h"
#include "fedc/sign.h"
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

/* The first number of a /proc/sys file, or 0. `field` picks the n-th
 * (tcp_wmem holds three: min, default, max). */
static uint64_t sysctl_number(const char *path, int field)
{
	FILE *f = fopen(path, "re");
	unsigned long long v = 0;
	int ok = 1;

	if (!f)
		return 0;
	for (int i = 0; ok == 1 && i <= field; i++)
		ok = fscanf(f, "%llu", &v);
	fclose(f);
	return ok == 1 ? (uint64_t)v : 0;
}

size_t fedc__send_buffer_wanted(uint64_t wmem_max, uint64_t tcp_wmem_max)
{
	uint64_t want = FEDC_ENVELOPE_MAX_BYTES + FEDC_MAX_TOPIC_LEN + 1024u; /* one message, its topic, headers */

	if (tcp_wmem_max == 0 || wmem_max * 2 <= tcp_wmem_max)
		return 0; /* unknown, or a fixed buffer would be no larger than the kernel's own growth */
	return (size_t)(want < wmem_max ? want : wmem_max);
}

/* The SO_SNDBUF this machine's settings call for (fedc__send_buffer_wanted). */
static size_t machine_send_buffer_wanted(void)
{
	return fedc__send_buffer_wanted(sysctl_number("/proc/sys/net/core/wmem_max", 0),
					sysctl_number("/proc/sys/net/ipv4/tcp_wmem", 2));
}

/* The room for data in a send buffer the kernel sized `sndbuf`: it counts
 * its own bookkeeping of the queued bytes against it too, so three quarters
 * of it is taken (the bookkeeping of a bulk write's large segments is a few
 * per cent). */
static size_t room_for_data(size_t sndbuf)
{
	return sndbuf / 4 * 3;
}

/* Sets SO_SNDBUF to `want` bytes; the room for data it then has, or 0 if
 * the kernel refused. */
static size_t fix_send_buffer(int fd, size_t want)
{
	int v = (int)want, got = 0;
	socklen_t len = sizeof(got);

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &len) != 0 || got <= 0)
		return 0;
	return room_for_data((size_t)got);
}

size_t fedc__send_buffer_expected(void)
{
	size_t want = machine_send_buffer_wanted();

	/* The kernel doubles what is asked, up to wmem_max, which `want` is within. */
	return want ? room_for_data(want * 2) : 0;
}

/* Sets TCP_NODELAY on `fd` if it is a TCP socket connected to one of
 * `addrs`, and its send buffer to `want` bytes if not 0 (*send_buffer: what
 * it got, the smallest over the sockets); returns whether it did. */
static bool tune_if_peer(int fd, const struct addrinfo *addrs, size_t want, size_t *send_buffer)
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
		size_t got;

		if (!same_peer(&peer, ai))
			continue;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
			return false;
		got = want ? fix_send_buffer(fd, want) : 0;
		if (*send_buffer == SIZE_MAX || got < *send_buffer)
			*send_buffer = got;
		return true;
	}
	return false;
}

int fedc__tune_sockets_to(const char *host, const char *port, size_t *send_buffer)
{
	size_t want = machine_send_buffer_wanted();
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *addrs = NULL;
	struct dirent *e;
	DIR *d;
	int done = 0;

	*send_buffer = SIZE_MAX;
	if (!host || !port || getaddrinfo(host, port, &hints, &addrs) != 0) {
		*send_buffer = 0;
		return 0;
	}
	d = opendir("/proc/self/fd");
	if (d) {
		while ((e = readdir(d)) != NULL) {
			int64_t fd;

			if (fedc_num_parse_i64(e->d_name, 0, INT32_MAX, &fd) == FEDC_OK && fd != dirfd(d))
				done += tune_if_peer((int)fd, addrs, want, send_buffer);
		}
		closedir(d);
	} else {
		for (int fd = 0; fd < NODELAY_MAX_FD_SCAN; fd++)
			done += tune_if_peer(fd, addrs, want, send_buffer);
	}
	freeaddrinfo(addrs);
	if (*send_buffer == SIZE_MAX)
		*send_buffer = 0;
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
