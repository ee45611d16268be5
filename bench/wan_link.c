/* bench_wan_link: a wide-area link between two network namespaces, for
 * bench/wan.sh. The kernel here has no sch_netem, so this program is the
 * link: it creates a TUN device in each namespace and carries every IP
 * packet from one to the other after RTT/2 (up to WAKE_SLACK_NS later,
 * never sooner), paced to a rate if one is given
 * (each direction serialises its packets at that rate, then delays them).
 * With a rate, packets waiting to be sent form a tail-drop queue of
 * `limit` packets (a router's buffer before the slow link; at 100 Mbit/s
 * the default 1000 is 120 ms); packets on the way (the delay) are not in
 * it, unlike netem's limit, which would cap a long fast link's throughput.
 * Packets, not bytes of a TCP stream, are delayed, so TCP's handshakes,
 * slow start and acknowledgement clocking see the link as they would a real
 * one.
 *
 * Offload (the default; --no-offload turns it off): the TUN devices carry a
 * virtio-net header and accept TSO, so a sending stack hands the relay a TCP
 * super-packet of up to 64 KB (many MTU-sized segments, cut by the receiving
 * stack, never on the link) in one read, and the relay writes it whole: one
 * read and one write per up to 45 segments instead of per segment, which
 * left the relay, not the modelled link, the bottleneck at megabytes a
 * round. The MTU, and so TCP's segment size and congestion window in
 * segments, stay those of the link. Rate pacing counts the bytes of the
 * segments the super-packet stands for (headers included); its segments
 * arrive together, when the last of them would (at 100 Mbit/s a 64 KB
 * super-packet is 5.2 ms of serialisation; the sender's TSO autosizing
 * keeps super-packets to about 1 ms of its pacing rate). The counters count
 * segments, as a wire would.
 *
 *   bench_wan_link --server-netns NS --nodes-netns NS --rtt-ms MS
 *                  [--rate-mbit R] [--limit PACKETS] [--dev NAME] [--counters FILE]
 *                  [--no-offload]
 *
 * The devices (default name "wan0") exist while the program runs; the
 * caller gives them addresses and brings them up (bench/wan.sh). With
 * --counters the program keeps struct wan_link_shared (wan_link.h) current
 * in FILE. It stops on SIGINT or SIGTERM; exit status 2 on a bad argument,
 * 1 when it cannot set the link up. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "wan_link.h"

#define MAX_PACKET 65536 /* an IP packet, or a TSO super-packet (64 KB at most without BIG TCP) */
#define VNET_HDR_LEN sizeof(struct virtio_net_hdr)
#define FLOW_SLOTS 65536 /* a power of two */
#define MAX_LIMIT 100000
#define MAX_IN_FLIGHT 200000 /* packets held in all, per direction: a bound on memory (about 300 MB) */
#define READ_BATCH 64        /* packets read before due ones are written out again */
#define WAKE_SLACK_NS 250000 /* 0.25 ms: see run() */

struct packet {
	struct packet *next;
	uint64_t release_ns;
	uint64_t segments, wire_bytes; /* what it stands for on the wire: wire_size() */
	size_t len;                    /* of data: the virtio-net header too, with offload */
	unsigned char data[];
};

/* One direction: packets read from `in`, written to `out` when due. */
struct lane {
	int in, out;
	struct packet *head, *tail;
	size_t queued;         /* held: waiting to be sent or on the way */
	uint64_t link_free_ns; /* when the last queued packet is fully sent */
};

/* The last direction data went on one TCP connection. Collisions replace
 * the slot's flow: with tens of connections among 65536 slots that is rare,
 * and costs a miscount of one turnaround, never a wrong forward. */
struct flow {
	uint64_t key;
	unsigned char last_dir; /* 0 none yet, else enum wan_dir + 1 */
};

struct link {
	uint64_t delay_ns, rate_bps;
	size_t limit;
	size_t hdr_len; /* bytes before the IP packet in a read: VNET_HDR_LEN with offload, else 0 */
	struct lane lane[2];
	struct wan_link_shared *shared;
	struct flow *flows;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void bump(uint64_t *counter, uint64_t by)
{
	__atomic_store_n(counter, *counter + by, __ATOMIC_RELAXED);
}

/* Makes TUN device `fd` carry a virtio-net header and take TCP
 * super-packets (TSO, and checksums left to the receiver). 0, or -1 with a
 * message. */
static int tun_offload(int fd, const char *dev)
{
	int hdr = (int)VNET_HDR_LEN;

	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) != 0 ||
	    ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) != 0) {
		fprintf(stderr, "bench_wan_link: TUN device %s: no TCP segmentation offload: %s (try --no-offload)\n",
			dev, strerror(errno));
		return -1;
	}
	return 0;
}

/* Opens a TUN device called `dev` inside namespace `netns` (with `offload`:
 * see tun_offload()), then returns to this process's namespace. -1 with a
 * message on failure. */
static int tun_in_netns(const char *netns, const char *dev, bool offload)
{
	char path[300];
	struct ifreq ifr = { .ifr_flags = (short)(IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0)) };
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), target, fd = -1;

	snprintf(path, sizeof(path), "/var/run/netns/%s", netns);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || target < 0) {
		fprintf(stderr, "bench_wan_link: no network namespace %s (%s): create it with ip netns add\n", netns,
			strerror(errno));
		goto out;
	}
	if (setns(target, CLONE_NEWNET) != 0) {
		fprintf(stderr, "bench_wan_link: cannot enter %s: %s (run as root)\n", netns, strerror(errno));
		goto out;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) != 0) {
		fprintf(stderr, "bench_wan_link: cannot create TUN device %s in %s: %s\n", dev, netns, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	} else if (offload && tun_offload(fd, dev) != 0) {
		close(fd);
		fd = -1;
	}
	if (setns(self, CLONE_NEWNET) != 0) {
		fprintf(stderr, "bench_wan_link: cannot return to its own namespace: %s\n", strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
out:
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	return fd;
}

/* The link's counters: in FILE if given (mapped shared), else in memory. */
static struct wan_link_shared *open_counters(const char *path)
{
	struct wan_link_shared *s;
	int fd;

	if (!path)
		return calloc(1, sizeof(*s));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, sizeof(*s)) != 0) {
		fprintf(stderr, "bench_wan_link: --counters %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (s == MAP_FAILED) {
		fprintf(stderr, "bench_wan_link: --counters %s: %s\n", path, strerror(errno));
		return NULL;
	}
	return s;
}

/* Counts a turnaround when a data-carrying TCP segment goes the other way
 * from its connection's last one (IPv4 only: the bench's link is IPv4). */
static void note_tcp(struct link *l, enum wan_dir dir, const unsigned char *p, size_t len)
{
	size_t ihl, doff, ip_len;
	uint64_t key;
	uint32_t node_addr, server_addr;
	uint16_t node_port, server_port;
	struct flow *f;
	unsigned char flags;

	if (len < 20 || p[0] >> 4 != 4 || p[9] != 6)
		return;
	ihl = (size_t)(p[0] & 15) * 4;
	ip_len = (size_t)p[2] << 8 | p[3];
	if (ihl < 20 || ip_len > len || ip_len < ihl + 20)
		return;
	doff = (size_t)(p[ihl + 12] >> 4) * 4;
	flags = p[ihl + 13];
	if (doff < 20 || ihl + doff > ip_len)
		return;
	/* the connection's key, the same both ways: nodes' end first */
	memcpy(dir == WAN_UP ? &node_addr : &server_addr, p + 12, 4);
	memcpy(dir == WAN_UP ? &server_addr : &node_addr, p + 16, 4);
	memcpy(dir == WAN_UP ? &node_port : &server_port, p + ihl, 2);
	memcpy(dir == WAN_UP ? &server_port : &node_port, p + ihl + 2, 2);
	key = ((uint64_t)node_addr * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)server_addr << 32 | node_port) ^
	      ((uint64_t)server_port << 48);
	f = &l->flows[(key ^ key >> 29) & (FLOW_SLOTS - 1)];
	if ((flags & 0x02) && !(flags & 0x10)) { /* SYN without ACK: a new connection */
		if (dir == WAN_UP)
			bump(&l->shared->connections, 1);
		f->key = key;
		f->last_dir = 0;
		return;
	}
	if (ip_len == ihl + doff)
		return; /* no data: an acknowledgement, a FIN */
	if (f->key != key) {
		f->key = key;
		f->last_dir = 0;
	}
	if (f->last_dir && f->last_dir != dir + 1)
		bump(&l->shared->turnarounds, 1);
	f->last_dir = (unsigned char)(dir + 1);
}

/* What IP packet `ip` (`len` bytes) stands for on the wire: itself, or,
 * a TSO super-packet (`vnet` says so), the segments of at most gso_size
 * payload bytes the receiver will cut it into, each with a copy of its IP
 * and TCP headers. A super-packet whose headers do not parse counts as one
 * packet of its size (the receiving stack drops it anyway). */
static void wire_size(const struct virtio_net_hdr *vnet, const unsigned char *ip, size_t len,
		      uint64_t *segments, uint64_t *bytes)
{
	size_t l3 = 0, l4;
	unsigned gso = vnet ? vnet->gso_size : 0;

	*segments = 1;
	*bytes = len;
	if (!vnet || (vnet->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_NONE || gso == 0 || len < 1)
		return;
	if (ip[0] >> 4 == 4)
		l3 = (size_t)(ip[0] & 15) * 4;
	else if (ip[0] >> 4 == 6)
		l3 = 40; /* the stack's TSO packets here carry no extension headers */
	if (l3 < 20 || len < l3 + 20)
		return;
	l4 = (size_t)(ip[l3 + 12] >> 4) * 4;
	if (l4 < 20 || len <= l3 + l4)
		return;
	*segments = (len - l3 - l4 + gso - 1) / gso;
	*bytes = len + (*segments - 1) * (l3 + l4);
}

/* Queues one packet (`len` bytes read from the device: a virtio-net header
 * first with offload) on lane `dir`: it leaves the sender's end once the
 * packets before it have (at rate_bps), and arrives delay_ns later. */
static void enqueue(struct link *l, enum wan_dir dir, const unsigned char *data, size_t len, uint64_t now)
{
	struct lane *lane = &l->lane[dir];
	struct packet *p;
	struct virtio_net_hdr vnet = { 0 };
	uint64_t start = lane->link_free_ns > now ? lane->link_free_ns : now;
	/* what waits to be sent, as packets of the largest IPv4 size on the link */
	double backlog = l->rate_bps ? (double)(start - now) * 1e-9 * (double)l->rate_bps / (8.0 * 1500) : 0;

	if (len <= l->hdr_len)
		return; /* nothing after the header: not a packet */
	if (l->hdr_len)
		memcpy(&vnet, data, sizeof(vnet));
	if (backlog >= (double)l->limit || lane->queued >= MAX_IN_FLIGHT || !(p = malloc(sizeof(*p) + len))) {
		bump(&l->shared->dir[dir].drops, 1);
		return;
	}
	note_tcp(l, dir, data + l->hdr_len, len - l->hdr_len);
	wire_size(l->hdr_len ? &vnet : NULL, data + l->hdr_len, len - l->hdr_len, &p->segments, &p->wire_bytes);
	if (l->rate_bps)
		start += (uint64_t)((double)p->wire_bytes * 8 * 1e9 / (double)l->rate_bps);
	lane->link_free_ns = start;
	p->release_ns = start + l->delay_ns;
	p->len = len;
	p->next = NULL;
	memcpy(p->data, data, len);
	if (lane->tail)
		lane->tail->next = p;
	else
		lane->head = p;
	lane->tail = p;
	lane->queued++;
}

/* Reads up to READ_BATCH packets of lane `dir`'s device into the queue
 * (a bounded batch: with no delay, due packets go out between batches). */
static void take_in(struct link *l, enum wan_dir dir)
{
	static unsigned char buf[VNET_HDR_LEN + MAX_PACKET];
	ssize_t n;

	for (int i = 0; i < READ_BATCH && (n = read(l->lane[dir].in, buf, sizeof(buf))) > 0; i++)
		enqueue(l, dir, buf, (size_t)n, now_ns());
}

/* Writes the due packets of lane `dir` out; the next release time, or 0. */
static uint64_t release_due(struct link *l, enum wan_dir dir, uint64_t now)
{
	struct lane *lane = &l->lane[dir];

	while (lane->head && lane->head->release_ns <= now) {
		struct packet *p = lane->head;

		/* A full device queue drops the packet, as a wire would. */
		if (write(lane->out, p->data, p->len) == (ssize_t)p->len) {
			bump(&l->shared->dir[dir].packets, p->segments);
			bump(&l->shared->dir[dir].bytes, p->wire_bytes);
		} else {
			bump(&l->shared->dir[dir].drops, p->segments);
		}
		lane->head = p->next;
		if (!lane->head)
			lane->tail = NULL;
		lane->queued--;
		free(p);
	}
	return lane->head ? lane->head->release_ns : 0;
}

static int run(struct link *l)
{
	struct pollfd fds[2] = { { .fd = l->lane[WAN_UP].in, .events = POLLIN },
				 { .fd = l->lane[WAN_DOWN].in, .events = POLLIN } };

	while (!stopping) {
		uint64_t now = now_ns(), next = 0;
		struct timespec wait = { 1, 0 };

		for (int d = 0; d < 2; d++) {
			uint64_t due = release_due(l, (enum wan_dir)d, now);

			if (due && (!next || due < next))
				next = due;
		}
		if (next) {
			/* Sleep a little past the next release, so that a wake-up
			 * sends the packets due by then together: paced at 100
			 * Mbit/s one 1500-byte packet is 120 us, and a wake-up per
			 * packet cost more CPU than the forwarding. Packets arrive at
			 * most WAKE_SLACK_NS late, never early. */
			uint64_t left = (next > now ? next - now : 0) + WAKE_SLACK_NS;

			wait.tv_sec = (time_t)(left / 1000000000u);
			wait.tv_nsec = (long)(left % 1000000000u);
		}
		if (ppoll(fds, 2, &wait, NULL) < 0 && errno != EINTR) {
			perror("bench_wan_link: ppoll");
			return 1;
		}
		for (int d = 0; d < 2; d++) {
			if (fds[d].revents & POLLIN)
				take_in(l, (enum wan_dir)d);
		}
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_wan_link --server-netns NS --nodes-netns NS --rtt-ms MS [--rate-mbit R]\n"
			"                      [--limit PACKETS] [--dev NAME] [--counters FILE] [--no-offload]\n");
}

/* A number in [min, max] from option `name`'s value, or -1 with a message. */
static double number(const char *name, const char *value, double min, double max)
{
	char *end;
	double v = value ? strtod(value, &end) : 0;

	if (!value || end == value || *end || !(v >= min && v <= max)) {
		fprintf(stderr, "bench_wan_link: %s: expected a number from %g to %g, got \"%s\"\n", name, min, max,
			value ? value : "");
		return -1;
	}
	return v;
}

struct options {
	const char *server_netns, *nodes_netns, *dev, *counters;
	double rtt_ms, rate_mbit, limit;
	bool offload;
};

static int parse(int argc, char **argv, struct options *o)
{
	*o = (struct options){ .dev = "wan0", .rtt_ms = -1, .limit = 1000, .offload = true };
	for (int i = 1; i < argc; i += 2) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(k, "--no-offload")) {
			o->offload = false;
			i--; /* a flag: no value */
		} else if (!strcmp(k, "--server-netns") && v)
			o->server_netns = v;
		else if (!strcmp(k, "--nodes-netns") && v)
			o->nodes_netns = v;
		else if (!strcmp(k, "--dev") && v && strlen(v) < IFNAMSIZ)
			o->dev = v;
		else if (!strcmp(k, "--counters") && v)
			o->counters = v;
		else if (!strcmp(k, "--rtt-ms"))
			o->rtt_ms = number(k, v, 0, 10000);
		else if (!strcmp(k, "--rate-mbit"))
			o->rate_mbit = number(k, v, 0, 100000);
		else if (!strcmp(k, "--limit"))
			o->limit = number(k, v, 1, MAX_LIMIT);
		else {
			fprintf(stderr, "bench_wan_link: unknown option or missing value: %s\n", k);
			return -1;
		}
		if (o->rate_mbit < 0 || o->limit < 0)
			return -1;
	}
	if (!o->server_netns || !o->nodes_netns || o->rtt_ms < 0) {
		fprintf(stderr, "bench_wan_link: --server-netns, --nodes-netns and --rtt-ms are required\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	struct link l = { 0 };
	int up, down, rc = 1;

	if (parse(argc, argv, &o) != 0) {
		usage();
		return 2;
	}
	l.delay_ns = (uint64_t)(o.rtt_ms * 1e6 / 2);
	l.rate_bps = (uint64_t)(o.rate_mbit * 1e6);
	l.limit = (size_t)o.limit;
	l.hdr_len = o.offload ? VNET_HDR_LEN : 0;
	l.flows = calloc(FLOW_SLOTS, sizeof(*l.flows));
	l.shared = open_counters(o.counters);
	up = tun_in_netns(o.nodes_netns, o.dev, o.offload);
	down = up >= 0 ? tun_in_netns(o.server_netns, o.dev, o.offload) : -1;
	if (!l.flows || !l.shared || up < 0 || down < 0)
		return 1; /* exits: the kernel takes back what was opened */
	l.shared->pid = (uint64_t)getpid();
	l.shared->delay_us = l.delay_ns / 1000;
	l.shared->rate_bps = l.rate_bps;
	__atomic_store_n(&l.shared->magic, WAN_LINK_MAGIC, __ATOMIC_RELEASE);
	l.lane[WAN_UP] = (struct lane){ .in = up, .out = down };
	l.lane[WAN_DOWN] = (struct lane){ .in = down, .out = up };
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr,
		"bench_wan_link: %s <-> %s, RTT %g ms, rate %g Mbit/s (0: no limit), queue %zu packets, offload %s\n",
		o.nodes_netns, o.server_netns, o.rtt_ms, o.rate_mbit, l.limit, o.offload ? "on" : "off");
	rc = run(&l);
	for (int d = 0; d < 2; d++) {
		while (l.lane[d].head) {
			struct packet *p = l.lane[d].head;

			l.lane[d].head = p->next;
			free(p);
		}
	}
	close(up);
	close(down);
	free(l.flows);
	if (o.counters)
		munmap(l.shared, sizeof(*l.shared));
	else
		free(l.shared);
	return rc;
}
