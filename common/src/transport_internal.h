/* Private to common/src: TCP_NODELAY and the send buffer of the MQTT
 * connection (nodelay.c). */
#ifndef FEDC_TRANSPORT_INTERNAL_H
#define FEDC_TRANSPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sets TCP_NODELAY on this process's TCP (AF_INET/AF_INET6, SOCK_STREAM)
 * sockets connected to `host`:`port`, and on no other socket; returns how
 * many it set. Best effort: 0 when the name does not resolve. Where
 * net.core.wmem_max allows a fixed send buffer larger than the kernel's own
 * growth (fedc__send_buffer_wanted), those sockets get one, and
 * *send_buffer is the bytes one write can then hand over (the smallest over
 * the sockets); 0 when their buffers are left to the kernel. */
int fedc__tune_sockets_to(const char *host, const char *port, size_t *send_buffer);

/* The SO_SNDBUF to ask for, given net.core.wmem_max and tcp_wmem's maximum:
 * enough for one message of the protocol (at most wmem_max), or 0 when a
 * fixed buffer would be no larger than what the kernel grows by itself
 * (2 x wmem_max <= tcp_wmem's maximum: a stock kernel), or either figure
 * could not be read (0). */
size_t fedc__send_buffer_wanted(uint64_t wmem_max, uint64_t tcp_wmem_max);

/* The *send_buffer fedc__tune_sockets_to gives a connection made now, from
 * this machine's settings alone (no socket): what a node advertises before
 * its first connection. 0 where the kernel sizes the buffers. */
size_t fedc__send_buffer_expected(void);

/* Splits an MQTT URL ("tcp://h:1883", "ssl://[::1]:8883", "ssl://h") into
 * host and port (the scheme's default when absent). False if it does not
 * fit or has no "://". */
bool fedc__split_url(const char *url, char *host, size_t host_cap, char *port, size_t port_cap);

#endif
