/* bench_round --wan: the stack split across a link (bench/wan.sh). The
 * bench runs in the server's namespace with the broker, the repository and
 * the researcher; the nodes start in the nodes' namespace and reach the
 * server at its address on the link. */
#ifndef FEDC_BENCH_WAN_STACK_H
#define FEDC_BENCH_WAN_STACK_H

#include "harness.h"
#include "wan_link.h"

struct wan_stack {
	char nodes_netns[128];
	char server_addr[16]; /* dotted IPv4 */
	int own_netns, nodes_netns_fd;
	void *map;                          /* the relay's counters, mapped read only */
	const struct wan_link_shared *link; /* the same */
};

/* Parses "NODES_NETNS,SERVER_ADDR,COUNTERS_FILE" (what bench/wan.sh passes),
 * opens the namespace and maps the counters. 0, or -1 with a message. */
int wan_stack_open(struct wan_stack *w, const char *spec);
void wan_stack_close(struct wan_stack *w);

/* Provisions h's federation again for the server's address (the harness
 * provisions for 127.0.0.1, which the nodes' namespace cannot reach; the
 * certificates must name the address the nodes dial), then starts the
 * broker and the repository on it and connects the status observer. */
int wan_stack_start(struct wan_stack *w, struct harness *h);

/* Starts node i in the nodes' namespace and waits until it is online. */
int wan_stack_start_node(struct wan_stack *w, struct harness *h, size_t i);

/* A snapshot of the relay's counters. */
void wan_stack_sample(const struct wan_stack *w, struct wan_link_shared *out);

#endif
