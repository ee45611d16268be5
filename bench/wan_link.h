/* The figures the WAN relay (bench/wan_link.c) shares with bench_round
 * --wan: a small file the relay maps and keeps current, the bench maps read
 * only and samples at round boundaries. Both sides are built from this tree
 * on one machine, so the layout is the C struct itself; the magic guards
 * against a wrong path, not a foreign writer. Every counter only grows;
 * read each with __atomic_load_n (the relay stores with __atomic_store_n). */
#ifndef FEDC_BENCH_WAN_LINK_H
#define FEDC_BENCH_WAN_LINK_H

#include <stdint.h>

#define WAN_LINK_MAGIC 0x6b6e6c7763646566ull /* "fedcwlnk" */

/* Direction on the link: UP from the nodes' namespace to the server's. */
enum wan_dir { WAN_UP = 0, WAN_DOWN = 1 };

struct wan_link_dir_counts {
	uint64_t packets;      /* forwarded */
	uint64_t bytes;        /* IP bytes forwarded */
	uint64_t drops;        /* not forwarded: the queue before the rate was full */
};

struct wan_link_shared {
	uint64_t magic;
	uint64_t pid;          /* the relay's process: its CPU is the link's cost, not the stack's */
	uint64_t delay_us;     /* one way, each direction: RTT / 2 */
	uint64_t rate_bps;     /* per direction; 0: no limit */
	/* A data-carrying TCP segment whose connection last carried data the
	 * other way: a request answered, or an answer followed by the next
	 * request. Two make one exchange (a round trip, whether or not
	 * anything waited on it: MQTT acknowledgements count too). */
	uint64_t turnarounds;
	uint64_t connections;  /* TCP connections opened from the nodes' side (SYN) */
	struct wan_link_dir_counts dir[2];
};

#endif
