/* MQTT transport on Paho MQTT C (async client), with the fixes of
 * FIELD-NOTES.md: TCP_NODELAY on every TCP socket of the process, explicit
 * MQTT 3.1.1, no persistence files, automatic reconnect with backoff,
 * subscriptions restored and the "online" status republished after each
 * reconnect.
 *
 * Messages arriving on Paho's thread are copied into a bounded queue that the
 * owner drains with fedc_mqtt_next() on its own thread, so a slow consumer
 * never stalls Paho. Topics are built by the fedc_topic_* helpers. */
#ifndef FEDC_MQTT_H
#define FEDC_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

/* Messages waiting in fedc_mqtt_next: at most this many, and at most
 * FEDC_MQTT_QUEUE_MAX_BYTES of payload (fedc/limits.h); more are dropped
 * and logged. */
#define FEDC_MQTT_QUEUE_MAX 4096

struct fedc_mqtt; /* opaque */

struct fedc_mqtt_options {
	const char *url;        /* "tcp://127.0.0.1:1883" */
	const char *client_id;  /* unique per connection */
	const char *username;   /* may be NULL */
	const char *password;   /* may be NULL */
	/* TLS, for "ssl://" URLs: the CA that signed the broker's certificate
	 * (verified, host name included) and this client's certificate and key
	 * (brokers that require one). NULL or "" when unused. */
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	/* Topics to subscribe at QoS 1 (restored after each reconnect). */
	const char *const *subscriptions;
	size_t n_subscriptions;
	/* Optional last will (retained, QoS 1), and the payload published retained
	 * on the same topic after each (re)connection. */
	const char *status_topic;
	const void *will_payload;
	size_t will_len;
	const void *online_payload;
	size_t online_len;
	int connect_timeout_s;  /* first connection: give up after this long */
	/* Give up at once when the broker refuses the credentials (CLIs), rather
	 * than retrying until the timeout (daemons: the operator may be
	 * reloading the broker's password file). */
	bool fail_fast_on_refusal;
};

/* A received message; the caller frees it with fedc_mqtt_message_free(). */
struct fedc_mqtt_message {
	char *topic;
	void *payload;
	size_t len;
	bool retained;
};

/* Connects (waiting up to connect_timeout_s for the first connection and
 * subscriptions). Copies everything in `opts`. Failures are retried until
 * the timeout: FEDC_ERR_TIMEOUT with the last reason (TLS errors included);
 * a refusal of the credentials is FEDC_ERR_AUTH, at once with
 * fail_fast_on_refusal. FEDC_ERR_MQTT, FEDC_ERR_INVAL, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err fedc_mqtt_connect(const struct fedc_mqtt_options *opts, struct fedc_mqtt **out);

/* Publishes at QoS 1. Returns once Paho has queued the message: one made
 * while the link is down is delivered after the reconnect; one already in
 * flight when the connection is lost (sent, not yet acknowledged) is
 * dropped with the clean session and logged, and the protocol's timeouts
 * cover it. With MQTT_MAX_UNACKED (8) in flight, or on a fixed send buffer
 * without room for its bytes, it first waits for an acknowledgement, at
 * most 1 s (common/src/mqtt.c). FEDC_ERR_MQTT, FEDC_ERR_TOO_BIG: payloads
 * are limited to fedc_mqtt_max_payload(). */
FEDC_NODISCARD
enum fedc_err fedc_mqtt_publish(struct fedc_mqtt *m, const char *topic, const void *payload,
				size_t len, bool retained);

/* The largest payload fedc_mqtt_publish takes on this connection: what
 * its socket's fixed send buffer holds, at most FEDC_ENVELOPE_MAX_BYTES
 * (fedc/sign.h: a message of up to FEDC_MAX_MESSAGE_BYTES in its envelope);
 * where the kernel sizes the buffer (net.core.wmem_max not raised), a
 * message with parameters inline up to FEDC_DEFAULT_INLINE_PARAMS. Known
 * once connected; may change at a reconnection. Thread-safe. */
size_t fedc_mqtt_max_payload(struct fedc_mqtt *m);
/* The largest parameter file that rides inline in a message on this
 * connection (fedc_inline_params_fit of fedc_mqtt_max_payload). */
size_t fedc_mqtt_max_inline_params(struct fedc_mqtt *m);
/* The same for a connection not made yet, from this machine's settings
 * (net.core.wmem_max, tcp_wmem): what the connection will carry unless the
 * kernel then refuses the fixed send buffer. For what a client announces
 * before it connects (a node's online status). */
size_t fedc_mqtt_expected_max_inline_params(void);

/* Waits up to `timeout_ms` (0: poll, -1: forever) for the next message.
 * FEDC_OK with *out set, FEDC_ERR_TIMEOUT, or FEDC_ERR_INTERRUPTED after
 * fedc_mqtt_wake(). */
FEDC_NODISCARD
enum fedc_err fedc_mqtt_next(struct fedc_mqtt *m, int timeout_ms, struct fedc_mqtt_message **out);
/* Makes a waiting (or the next) fedc_mqtt_next return FEDC_ERR_INTERRUPTED;
 * async-signal-safe. */
void fedc_mqtt_wake(struct fedc_mqtt *m);
void fedc_mqtt_message_free(struct fedc_mqtt_message *msg);

/* True while connected to the broker. */
bool fedc_mqtt_connected(struct fedc_mqtt *m);
/* How many times the connection was made again after a loss (for
 * monitoring). Thread-safe. */
uint64_t fedc_mqtt_reconnects(struct fedc_mqtt *m);

#ifdef FEDC_TEST_HOOKS
/* Test hooks (builds with FEDC_TEST_HOOKS only): the pacing of
 * fedc_mqtt_publish (at most 8 publishes in flight, common/src/mqtt.c), read
 * in one snapshot, and how long a publish waits for room (1000 ms unless a
 * test changes it). tests/integration/test_mqtt_pacing.c uses them. */
struct fedc_mqtt_pacing {
	size_t unacked;       /* handed to Paho, not yet acknowledged or failed */
	size_t unacked_bytes; /* their payloads */
	size_t dropped;       /* arrived messages dropped: the receive queue was full */
	size_t waiting;       /* publishes waiting for room now */
	uint64_t went_anyway; /* publishes that went without room after the wait */
	uint64_t failed;      /* publishes Paho reported failed (onFailure) */
	uint64_t losses;      /* connections lost (reported after those failures) */
};
void fedc_mqtt_test_pacing(struct fedc_mqtt *m, struct fedc_mqtt_pacing *out);
void fedc_mqtt_test_set_room_wait(struct fedc_mqtt *m, int ms);
/* As if the socket had a fixed send buffer of `bytes` (0: the kernel's). */
void fedc_mqtt_test_set_send_buffer(struct fedc_mqtt *m, size_t bytes);
/* The receive queue's cap in bytes (FEDC_MQTT_QUEUE_MAX_BYTES unless changed). */
void fedc_mqtt_test_set_queue_bytes(struct fedc_mqtt *m, size_t bytes);
#endif

/* Publishes `final_payload` retained on the status topic if given (a clean
 * "offline"), disconnects and frees. */
void fedc_mqtt_close(struct fedc_mqtt *m, const void *final_payload, size_t final_len);

/* Topic builders: write into `buf` (FEDC_MAX_TOPIC_LEN+1). Return FEDC_ERR_INVAL
 * if a name is empty, holds '/', '+', '#' or is too long. */
FEDC_NODISCARD
enum fedc_err fedc_topic_nodes(char *buf, const char *fed);
FEDC_NODISCARD
enum fedc_err fedc_topic_node(char *buf, const char *fed, const char *node_id);
FEDC_NODISCARD
enum fedc_err fedc_topic_researcher(char *buf, const char *fed, const char *researcher_id);
FEDC_NODISCARD
enum fedc_err fedc_topic_status(char *buf, const char *fed, const char *node_id);
/* The wildcard "fedc/<fed>/status/+" */
FEDC_NODISCARD
enum fedc_err fedc_topic_status_all(char *buf, const char *fed);

#endif
