/* TCP_NODELAY and the send buffer of the MQTT connection
 * (common/src/nodelay.c), without replacing libc's connect(): only TCP
 * sockets whose peer is the broker's address get them; a TCP socket to
 * another port, a UDP socket to the same port and a UNIX socket stay as they
 * were. */
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
#include "fedc/limits.h"
#include "fedc/sign.h"

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
	size_t send_buffer = 1;
	char port[16];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	assert_int_equal(nodelay(tcp), 0); /* the kernel's default: Nagle on */
	assert_int_equal(nodelay(tcp_other), 0);
	snprintf(port, sizeof(port), "%d", broker_port);

	assert_int_equal(fedc__tune_sockets_to("127.0.0.1", port, &send_buffer), 1);
	assert_int_equal(nodelay(tcp), 1);
	assert_int_equal(nodelay(tcp_other), 0); /* another peer */
	assert_int_equal(nodelay(udp), -1);      /* not TCP: nothing to set, nothing set */
	assert_int_equal(nodelay(pair[0]), -1);
	assert_int_equal(nodelay(pair[1]), -1);
	assert_int_equal(fedc__tune_sockets_to("no-such-host.invalid", port, &send_buffer), 0);
	assert_int_equal(send_buffer, 0);

	close(pair[0]);
	close(pair[1]);
	close(udp);
	close(tcp_other);
	close(tcp);
	close(other);
	close(broker);
}

/* SO_SNDBUF of a socket as the kernel reports it (doubled). */
static int send_buffer_of(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len), 0);
	return v;
}

/* The buffer asked for: one message of the protocol, at most wmem_max;
 * none where the kernel's own growth goes as far (a stock kernel). */
static void test_send_buffer_wanted(void **state)
{
	size_t message = FEDC_ENVELOPE_MAX_BYTES + FEDC_MAX_TOPIC_LEN + 1024u;

	(void)state;
	assert_int_equal(fedc__send_buffer_wanted(212992, 4194304), 0);   /* stock */
	assert_int_equal(fedc__send_buffer_wanted(2097152, 4194304), 0);  /* 2 x 2 MiB: no larger */
	assert_int_equal(fedc__send_buffer_wanted(4194304, 4194304), 4194304);
	assert_int_equal(fedc__send_buffer_wanted(64u << 20, 4194304), message);
	assert_int_equal(fedc__send_buffer_wanted(0, 0), 0);
	assert_int_equal(fedc__send_buffer_wanted(4194304, 0), 0); /* tcp_wmem unreadable: leave the kernel's */
}

/* On this machine's kernel: the broker's socket gets the buffer asked for
 * (or keeps the kernel's, reported as 0), and the other peer's is left. */
static void test_send_buffer_set_on_broker_socket_only(void **state)
{
	int broker_port, other_port;
	int broker = listener(&broker_port), other = listener(&other_port);
	int tcp = connected(SOCK_STREAM, broker_port), tcp_other = connected(SOCK_STREAM, other_port);
	int before = send_buffer_of(tcp_other);
	size_t send_buffer = 1;
	char port[16];

	(void)state;
	snprintf(port, sizeof(port), "%d", broker_port);
	assert_int_equal(fedc__tune_sockets_to("127.0.0.1", port, &send_buffer), 1);
	if (send_buffer) /* wmem_max raised here: three quarters of the kernel's (doubled) figure */
		assert_int_equal(send_buffer, (size_t)send_buffer_of(tcp) / 4 * 3);
	else
		assert_int_equal(send_buffer_of(tcp), before);
	assert_int_equal(send_buffer_of(tcp_other), before);
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
		cmocka_unit_test(test_send_buffer_wanted),
		cmocka_unit_test(test_send_buffer_set_on_broker_socket_only),
		cmocka_unit_test(test_split_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
