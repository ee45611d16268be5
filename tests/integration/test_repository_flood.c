/* Nobody who merely reaches the repository's port can block it
 * (docs/security.md, repository-server/guard.h). While an experiment runs,
 * an attacker without a token opens 200 connections that send nothing and
 * 20 that trickle a request one byte at a time (slowloris), from other
 * loopback addresses, and reconnects whatever the server closes. Before the
 * guard, the 128 connection slots were theirs and the nodes' downloads
 * timed out. Now the experiment's rounds finish, and no attacker connection
 * lives past its deadline. Real Mosquitto, repository and node daemons. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fedc/clock.h"
#include "harness.h"

#define FLOOD_CONNECTIONS 200
#define SLOW_CONNECTIONS 20
#define SLOW_BYTE_EVERY_MS 1000
#define DEADLINE_MS 10000 /* UNTRUSTED_DEADLINE_MS in repository-server/server.c */

static struct harness H;
static char output[1 << 16];

struct attacker {
	pthread_t thread;
	atomic_bool stop;
	atomic_int_fast64_t longest_slow_ms; /* the longest a trickling connection lived */
	atomic_int closed_by_server;
	atomic_int open_now;
};

static struct attacker A;

static int setup(void **state)
{
	static const char *const ids[] = { "h1", "h2", "h3" };
	char csv[512];

	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_status_observer(&H))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(csv, sizeof(csv), "%s/%s.csv", H.dir, ids[i]);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, i * 100, 100) ||
		    harness_add_node(&H, ids[i], csv, "flood", harness_plan("fixtures/identity")) != (int)i ||
		    harness_start_node(&H, i) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

/* A non-blocking TCP connection to the repository from 127.0.0.<2..9>. */
static int attack_connect(unsigned n)
{
	struct sockaddr_in src = { .sin_family = AF_INET }, dst = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	src.sin_addr.s_addr = htonl(0x7f000002u + (n % 8));
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst.sin_port = htons((uint16_t)H.repo_port);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
	    (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 && errno != EINPROGRESS)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* True if the server has closed `fd` (EOF or reset). */
static bool closed_by_peer(int fd)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN);
}

static void *attack_main(void *arg)
{
	int fds[FLOOD_CONNECTIONS + SLOW_CONNECTIONS];
	int64_t opened[FLOOD_CONNECTIONS + SLOW_CONNECTIONS], last_byte = 0;
	const size_t n = FLOOD_CONNECTIONS + SLOW_CONNECTIONS;
	static const char request[] = "GET /v1/blobs/sha256/0000 HTTP/1.1\r\nHost: x\r\n";
	size_t sent = 0;

	(void)arg;
	for (size_t i = 0; i < n; i++) {
		fds[i] = attack_connect((unsigned)i);
		opened[i] = fedc_now_ms();
	}
	while (!atomic_load(&A.stop)) {
		int64_t now = fedc_now_ms();
		bool trickle = now - last_byte >= SLOW_BYTE_EVERY_MS;
		int open_now = 0;

		for (size_t i = 0; i < n; i++) {
			bool slow = i >= FLOOD_CONNECTIONS;

			if (fds[i] >= 0 && closed_by_peer(fds[i])) {
				if (slow && now - opened[i] > atomic_load(&A.longest_slow_ms))
					atomic_store(&A.longest_slow_ms, now - opened[i]);
				close(fds[i]);
				fds[i] = -1;
				atomic_fetch_add(&A.closed_by_server, 1);
			}
			if (fds[i] < 0) { /* the attacker comes back */
				fds[i] = attack_connect((unsigned)i);
				opened[i] = now;
			}
			if (fds[i] >= 0 && slow && trickle)
				(void)send(fds[i], request + (sent % (sizeof(request) - 1)), 1, MSG_NOSIGNAL);
			open_now += fds[i] >= 0;
		}
		if (trickle) {
			sent++;
			last_byte = now;
		}
		atomic_store(&A.open_now, open_now);
		usleep(50000);
	}
	for (size_t i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		if (i >= FLOOD_CONNECTIONS && fedc_now_ms() - opened[i] > atomic_load(&A.longest_slow_ms))
			atomic_store(&A.longest_slow_ms, fedc_now_ms() - opened[i]);
		close(fds[i]);
	}
	return NULL;
}

static void test_experiment_runs_through_a_flood(void **state)
{
	char exp[512];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	int rc;

	assert_int_equal(pthread_create(&A.thread, NULL, attack_main, NULL), 0);
	sleep(1); /* the slots are taken before the experiment starts */
	snprintf(exp, sizeof(exp), "%s/flood.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/identity"), "flood", 3, 3, 30,
						  "n_params = 1000", "round_retries = 0"),
			 0);
	rc = harness_run(&H, argv, 120, output, sizeof(output));
	/* keep the pressure until every trickling connection had its deadline */
	sleep(DEADLINE_MS / 1000 + 2);
	atomic_store(&A.stop, true);
	pthread_join(A.thread, NULL);
	if (rc != 0)
		fail_msg("the experiment did not finish under the flood:\n%s", output);
	/* the server closed attacker connections, and none that trickled lived
	 * much past the deadline (one reaper tick and one attacker poll) */
	assert_true(atomic_load(&A.closed_by_server) > 0);
	if (atomic_load(&A.longest_slow_ms) > DEADLINE_MS + 1500)
		fail_msg("a slowloris connection lived %lld ms", (long long)atomic_load(&A.longest_slow_ms));
	assert_true(harness_file_contains(H.repo.log, "closed unauthenticated connections"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_experiment_runs_through_a_flood),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
