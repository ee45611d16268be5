/* Private to common/src: TCP_NODELAY on the MQTT connection (nodelay.c). */
#ifndef FEDC_TRANSPORT_INTERNAL_H
#define FEDC_TRANSPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Sets TCP_NODELAY on this process's TCP (AF_INET/AF_INET6, SOCK_STREAM)
 * sockets connected to `host`:`port`, and on no other socket; returns how
 * many it set. Best effort: 0 when the name does not resolve. */
int fedc__nodelay_to(const char *host, const char *port);

/* Splits an MQTT URL ("tcp://h:1883", "ssl://[::1]:8883", "ssl://h") into
 * host and port (the scheme's default when absent). False if it does not
 * fit or has no "://". */
bool fedc__split_url(const char *url, char *host, size_t host_cap, char *port, size_t port_cap);

#endif
