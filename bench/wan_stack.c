/* bench_round --wan (see wan_stack.h). */
#define _GNU_SOURCE
#include "wan_stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int wan_stack_open(struct wan_stack *w, const char *spec)
{
	char copy[512], path[300], *netns, *addr, *counters, *rest = copy;
	struct in_addr probe;
	int fd;
	void *map;

	memset(w, 0, sizeof(*w));
	w->own_netns = w->nodes_netns_fd = -1;
	snprintf(copy, sizeof(copy), "%s", spec);
	netns = strsep(&rest, ",");
	addr = strsep(&rest, ",");
	counters = rest;
	if (!netns || !addr || !counters || !*netns || strlen(netns) >= sizeof(w->nodes_netns) ||
	    strlen(addr) >= sizeof(w->server_addr) || inet_pton(AF_INET, addr, &probe) != 1) {
		fprintf(stderr, "bench: --wan=NODES_NETNS,SERVER_IPV4,COUNTERS_FILE expected, got \"%s\"\n", spec);
		return -1;
	}
	snprintf(w->nodes_netns, sizeof(w->nodes_netns), "%s", netns);
	snprintf(w->server_addr, sizeof(w->server_addr), "%s", addr);
	snprintf(path, sizeof(path), "/var/run/netns/%s", netns);
	w->own_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	w->nodes_netns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (w->own_netns < 0 || w->nodes_netns_fd < 0) {
		fprintf(stderr, "bench: --wan: no network namespace %s: %s\n", netns, strerror(errno));
		return -1;
	}
	fd = open(counters, O_RDONLY | O_CLOEXEC);
	map = fd >= 0 ? mmap(NULL, sizeof(*w->link), PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (fd >= 0)
		close(fd);
	if (map == MAP_FAILED || __atomic_load_n(&((const struct wan_link_shared *)map)->magic, __ATOMIC_ACQUIRE) !=
					 WAN_LINK_MAGIC) {
		fprintf(stderr, "bench: --wan: %s is not the counters file of a running bench_wan_link\n", counters);
		if (map != MAP_FAILED)
			munmap(map, sizeof(*w->link));
		return -1;
	}
	w->map = map;
	w->link = map;
	return 0;
}

void wan_stack_close(struct wan_stack *w)
{
	if (w->map)
		munmap(w->map, sizeof(*w->link));
	if (w->own_netns >= 0)
		close(w->own_netns);
	if (w->nodes_netns_fd >= 0)
		close(w->nodes_netns_fd);
	w->map = NULL;
	w->link = NULL;
	w->own_netns = w->nodes_netns_fd = -1;
}

static int admin(struct harness *h, const char *const *argv)
{
	char out[4096];
	int rc = harness_run(h, argv, 60, out, sizeof(out));

	if (rc != 0)
		fprintf(stderr, "bench: %s %s failed (%d): %s\n", argv[0], argv[1], rc, out);
	return rc;
}

static int reprovision(struct wan_stack *w, struct harness *h)
{
	char broker_port[16], repo_port[16];
	const char *rm[] = { "/bin/rm", "-rf", h->fed_dir, NULL };
	const char *init[] = { harness_bin("fedc-admin"), "init", h->fed_dir, "--federation", h->federation,
			       "--host", w->server_addr, "--broker-port", broker_port, "--repository-port",
			       repo_port, NULL };
	const char *researcher[] = { harness_bin("fedc-admin"), "add-researcher", h->fed_dir, h->researcher_id,
				     NULL };

	snprintf(broker_port, sizeof(broker_port), "%d", h->broker_port);
	snprintf(repo_port, sizeof(repo_port), "%d", h->repo_port);
	snprintf(h->broker_url, sizeof(h->broker_url), "ssl://%s:%d", w->server_addr, h->broker_port);
	snprintf(h->repo_url, sizeof(h->repo_url), "https://%s:%d", w->server_addr, h->repo_port);
	if (admin(h, rm) || admin(h, init) || admin(h, researcher))
		return -1;
	return harness_reload_trust(h);
}

/* Waits until something accepts on addr:port (the harness's own wait
 * dials 127.0.0.1, where these servers do not listen). */
static int wait_listening(const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timespec pause = { 0, 20000000 };

	inet_pton(AF_INET, addr, &sa.sin_addr);
	for (int tries = 0; tries < 500; tries++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

		if (fd >= 0)
			close(fd);
		if (ok)
			return 0;
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, "bench: nothing listens on %s:%d after 10 s\n", addr, port);
	return -1;
}

int wan_stack_start(struct wan_stack *w, struct harness *h)
{
	char broker_conf[600], repo_conf[600];
	const char *broker[] = { FEDC_MOSQUITTO, "-c", broker_conf, NULL };
	const char *repo[HARNESS_REPOSITORY_ARGV];

	if (reprovision(w, h) != 0)
		return -1;
	snprintf(broker_conf, sizeof(broker_conf), "%s/broker/mosquitto.conf", h->fed_dir);
	snprintf(repo_conf, sizeof(repo_conf), "%s/repository/repository.ini", h->fed_dir);
	harness_repository_argv(h, repo_conf, repo);
	if (harness_spawn(h, &h->broker, "mosquitto", broker) != 0 ||
	    wait_listening(w->server_addr, h->broker_port) != 0 || harness_spawn(h, &h->repo, "repository", repo) != 0 ||
	    wait_listening(w->server_addr, h->repo_port) != 0)
		return -1;
	return harness_connect_status_observer(h);
}

int wan_stack_start_node(struct wan_stack *w, struct harness *h, size_t i)
{
	int rc;

	/* Only this thread moves (the observer's MQTT threads stay where
	 * they are); the forked node inherits the namespace of this thread. */
	if (setns(w->nodes_netns_fd, CLONE_NEWNET) != 0) {
		fprintf(stderr, "bench: cannot enter %s: %s\n", w->nodes_netns, strerror(errno));
		return -1;
	}
	rc = harness_spawn_node(h, i);
	if (setns(w->own_netns, CLONE_NEWNET) != 0) {
		fprintf(stderr, "bench: cannot return from %s: %s\n", w->nodes_netns, strerror(errno));
		return -1;
	}
	return rc == 0 ? harness_wait_online(h, h->nodes[i].id, 20000) : -1;
}

void wan_stack_sample(const struct wan_stack *w, struct wan_link_shared *out)
{
	const struct wan_link_shared *s = w->link;

	out->magic = s->magic;
	out->pid = s->pid;
	out->delay_us = __atomic_load_n(&s->delay_us, __ATOMIC_RELAXED);
	out->rate_bps = __atomic_load_n(&s->rate_bps, __ATOMIC_RELAXED);
	out->turnarounds = __atomic_load_n(&s->turnarounds, __ATOMIC_RELAXED);
	out->connections = __atomic_load_n(&s->connections, __ATOMIC_RELAXED);
	for (int d = 0; d < 2; d++) {
		out->dir[d].packets = __atomic_load_n(&s->dir[d].packets, __ATOMIC_RELAXED);
		out->dir[d].bytes = __atomic_load_n(&s->dir[d].bytes, __ATOMIC_RELAXED);
		out->dir[d].drops = __atomic_load_n(&s->dir[d].drops, __ATOMIC_RELAXED);
	}
}
