/* TCP_NODELAY on the MQTT connection (common/src/nodelay.c), without
 * replacing libc's connect(): only TCP sockets whose peer is the broker's
 * address get it; a TCP socket to another port, a UDP socket to the same
 * port and a UNIX socket stay as they were. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/src/transport_internal.h"

/* A loopback TCP listener on a free port; its port into *port. */
static int listener(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static int connected(int type, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, type, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* TCP_NODELAY of a socket: 1, 0, or -1 when the option does not apply. */
static int nodelay(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) != 0)
		return -1;
	return v != 0;
}

static void test_only_the_broker_tcp_socket(void **state)
{
	int broker_port, other_port, pair[2];
	int broker = listener(&broker_port), other = listener(&other_port);
	int tcp = connected(SOCK_STREAM, broker_port), tcp_other = connected(SOCK_STREAM, other_port);
	int udp = connected(SOCK_DGRAM, broker_port);
	char port[16];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	assert_int_equal(nodelay(tcp), 0); /* the kernel's default: Nagle on */
	assert_int_equal(nodelay(tcp_other), 0);
	snprintf(port, sizeof(port), "%d", broker_port);

	assert_int_equal(fedc__nodelay_to("127.0.0.1", port), 1);
	assert_int_equal(nodelay(tcp), 1);
	assert_int_equal(nodelay(tcp_other), 0); /* another peer */
	assert_int_equal(nodelay(udp), -1);      /* not TCP: nothing to set, nothing set */
	assert_int_equal(nodelay(pair[0]), -1);
	assert_int_equal(nodelay(pair[1]), -1);
	assert_int_equal(fedc__nodelay_to("no-such-host.invalid", port), 0);

	close(pair[0]);
	close(pair[1]);
	close(udp);
	close(tcp_other);
	close(tcp);
	close(other);
	close(broker);
}

static void test_split_url(void **state)
{
	char host[64], port[8];

	assert_true(fedc__split_url("tcp://127.0.0.1:1883", host, sizeof(host), port, sizeof(port)));
	assert_string_equal(host, "127.0.0.1");
	assert_string_equal(port, "1883");
	assert_true(fedc__split_url("ssl://broker.example.org", host, sizeof(host), port, sizeof(port)));
	assert_string_equal(host, "broker.example.org");
	assert_string_equal(port, "8883");
	assert_true(fedc__split_url("ssl://[::1]:18883", host, sizeof(host), port, sizeof(port)));
	assert_string_equal(host, "::1");
	assert_string_equal(port, "18883");
	assert_true(fedc__split_url("tcp://[::1]", host, sizeof(host), port, sizeof(port)));
	assert_string_equal(port, "1883");
	assert_false(fedc__split_url("127.0.0.1:1883", host, sizeof(host), port, sizeof(port)));
	assert_false(fedc__split_url("tcp://:1883", host, sizeof(host), port, sizeof(port)));
	assert_false(fedc__split_url("tcp://h:", host, sizeof(host), port, sizeof(port)));
	assert_false(fedc__split_url("tcp://h:123456789", host, sizeof(host), port, sizeof(port)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_the_broker_tcp_socket),
		cmocka_unit_test(test_split_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
