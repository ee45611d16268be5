/* MQTT transport on Paho MQTT C, async client (see fedc/mqtt.h).
 *
 * Paho runs every callback of every client of the process on one thread, so
 * callbacks here only copy and hand over: arriving messages go into a queue
 * guarded by a mutex, and a byte written to a pipe wakes the owner waiting in
 * fedc_mqtt_next() with poll(). The pipe also makes fedc_mqtt_wake()
 * async-signal-safe. */
#define _GNU_SOURCE /* pipe2 */
#include "fedc/mqtt.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fedc/limits.h"
#include "fedc/clock.h"
#include "fedc/inline_params.h"
#include "fedc/log.h"
#include "fedc/sign.h"
#include "fedc/thread_set.h"
#include "transport_internal.h"

/* A burst of publishes faster than the broker reads them fills the
 * connection's send buffer, and Paho MQTT C (1.3) then retries the partial
 * write only when its receive thread's 1 s poll times out: 300 trains of
 * 40 KB, sent as fast as a MAC allows, stalled a round by a second
 * (docs/benchmarks.md, "Envelope v3"). So at most MQTT_MAX_UNACKED publishes
 * of a client are in flight: the next waits for an acknowledgement (on
 * loopback a fraction of a millisecond), or at most MQTT_ROOM_WAIT_MS, after
 * which it goes anyway (a lost acknowledgement must not stop a client).
 * The count goes down only when Paho reports a publish acknowledged
 * (onSuccess) or failed (onFailure: also each one written, or begun, on a
 * connection that is lost; those not yet written wait for the next).
 * tests/integration/test_mqtt_pacing.c checks the bound, the wait's end and
 * a loss through a relay it can pause and break.
 *
 * Where the socket got a fixed send buffer (fedc__tune_sockets_to: the
 * operator raised net.core.wmem_max for large inline parameters), the bytes
 * in flight are paced too: a publish waits while those already in flight
 * and its own would not fit in the buffer, so that no write is partial. One
 * that fits alone goes when nothing else is in flight; a larger payload is
 * refused (fedc_mqtt_max_payload says how large one may be). */
#define MQTT_MAX_UNACKED 8
#define MQTT_ROOM_WAIT_MS 1000
/* The largest payload through a socket whose buffer the kernel sizes: the
 * protocol's messages with parameters inline up to the default 256 KiB,
 * which 8 in flight never stalled (docs/benchmarks.md, "Publishes paced"). */
#define MQTT_DEFAULT_MAX_PAYLOAD                                                                                     \
	(FEDC_DEFAULT_INLINE_PARAMS + FEDC_MESSAGE_OVERHEAD_BYTES + FEDC_ENVELOPE_OVERHEAD)

/* One publish in flight: its client and its length, for the callbacks
 * (Paho's failure report does not carry the length). */
struct in_flight {
	struct fedc_mqtt *m;
	size_t len;
};

struct queued {
	struct fedc_mqtt_message msg;
	struct queued *next;
};

struct fedc_mqtt {
	MQTTAsync client;
	char *url;
	char **subscriptions;
	size_t n_subscriptions;
	char *status_topic;
	void *will_payload;
	size_t will_len;
	void *online_payload;
	size_t online_len;
	char *username;
	char *password;
	char *ca_file, *cert_file, *key_file;
	char last_failure[256]; /* why the last connection attempt failed */
	bool auth_refused;      /* the broker refused the credentials */
	bool counted;           /* counted in paho_clients (see paho_threads_note) */

	pthread_mutex_t lock;
	struct queued *head, *tail; /* arrived, not yet taken by fedc_mqtt_next */
	size_t queued;
	size_t queued_bytes; /* their payloads: at most queue_max_bytes */
	size_t queue_max_bytes; /* FEDC_MQTT_QUEUE_MAX_BYTES; tests may change it */
	size_t dropped;
	bool connected;
	uint64_t connects; /* successful connections, the first included */
	bool subscribed;
	bool connect_failed;
	int wake_pipe[2]; /* [0] polled by fedc_mqtt_next, [1] written on arrival/wake */
	volatile int woken;
	/* Publishes handed to Paho and not yet acknowledged (the top of this
	 * file says why they are counted), and the signal that one was. */
	size_t unacked;
	size_t unacked_bytes; /* their payloads */
	size_t send_buffer;   /* the socket's fixed send buffer (bytes a write hands over), 0: the kernel's */
	pthread_cond_t acked;
	int room_wait_ms;     /* MQTT_ROOM_WAIT_MS; tests may change it */
	size_t waiting;       /* publishes waiting for room now */
	uint64_t went_anyway; /* publishes that went after room_wait_ms without room */
	uint64_t failed;      /* publishes Paho failed (onFailure), for the test hooks */
	uint64_t losses;      /* connections lost, for the test hooks */
};

/* Paho's threads serve every client of the process and stop when the last
 * client is destroyed; the last fedc_mqtt_close() waits for them to be gone
 * (fedc/thread_set.h says why). */
static pthread_mutex_t paho_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t paho_clients;
static struct fedc_thread_set paho_threads;

/* Called once a client has started connecting: the threads that appeared
 * since *before are Paho's (it starts them in its first connect). */
static void paho_threads_note(const struct fedc_thread_set *before)
{
	struct fedc_thread_set now = {0};

	pthread_mutex_lock(&paho_lock);
	paho_clients++;
	if (before->tids && fedc_thread_set_snapshot(&now) == FEDC_OK) {
		fedc_thread_set_subtract(&now, before);
		if (now.n && !paho_threads.n) {
			paho_threads = now;
			now.tids = NULL;
		}
	}
	pthread_mutex_unlock(&paho_lock);
	fedc_thread_set_free(&now);
}

/* Called after MQTTAsync_destroy(). */
static void paho_threads_release(void)
{
	pthread_mutex_lock(&paho_lock);
	if (paho_clients && --paho_clients == 0) {
		if (!fedc_thread_set_wait_gone(&paho_threads, 1000))
			fedc_log(FEDC_LOG_DEBUG, "mqtt: Paho's threads were still running 1 s after the last client closed");
		fedc_thread_set_free(&paho_threads);
	}
	pthread_mutex_unlock(&paho_lock);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Optional file names: NULL and "" both mean none. */
static bool dup_optional(const char *s, char **out)
{
	*out = s && s[0] ? strdup(s) : NULL;
	return !(s && s[0]) || *out;
}

static void *dup_bytes(const void *p, size_t len)
{
	void *copy;

	if (!p || !len)
		return NULL;
	copy = malloc(len);
	if (copy)
		memcpy(copy, p, len);
	return copy;
}

/* Messages of megabytes (parameters inline past the default) arrive and
 * leave in fresh buffers of that size, and glibc hands each back to the
 * kernel when it is freed (its heap trimming): every next one faults its
 * pages in again, about a sixth of a node's CPU at P=1e6 (docs/benchmarks.md,
 * "Models up to 8 MiB inline"). From the first such message on, the process
 * allocates buffers under 16 MiB from its heap and keeps up to 64 MiB of
 * freed memory there. Not before: a process that only ever sees small
 * messages (the default) keeps glibc's own policy, which measured about a
 * tenth faster at P=1e4 (two pairs of runs, not analysed further), and an
 * idle node's memory stays as it was. */
static void keep_large_buffers(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);
	(void)mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
}

static pthread_once_t large_buffers_once = PTHREAD_ONCE_INIT;

static void note_message_size(size_t len)
{
	if (len > MQTT_DEFAULT_MAX_PAYLOAD)
		(void)pthread_once(&large_buffers_once, keep_large_buffers);
}

static void notify(struct fedc_mqtt *m)
{
	char byte = 1;

	/* A full pipe already wakes the reader: EAGAIN is fine. */
	(void)!write(m->wake_pipe[1], &byte, 1);
}

/* ---- Paho callbacks (Paho's thread: copy, hand over, return) ---- */

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *message)
{
	struct fedc_mqtt *m = ctx;
	struct queued *q = calloc(1, sizeof(*q));
	size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);

	if (q) {
		q->msg.topic = malloc(tlen + 1);
		q->msg.len = message->payloadlen > 0 ? (size_t)message->payloadlen : 0;
		q->msg.payload = malloc(q->msg.len ? q->msg.len : 1);
		q->msg.retained = message->retained != 0;
	}
	if (!q || !q->msg.topic || !q->msg.payload) {
		fedc_error("mqtt: out of memory, message on %.*s dropped", (int)tlen, topic);
		if (q) {
			free(q->msg.topic);
			free(q->msg.payload);
			free(q);
		}
		goto out;
	}
	note_message_size(q->msg.len);
	memcpy(q->msg.topic, topic, tlen);
	q->msg.topic[tlen] = '\0';
	if (q->msg.len)
		memcpy(q->msg.payload, message->payload, q->msg.len);

	pthread_mutex_lock(&m->lock);
	if (m->queued >= FEDC_MQTT_QUEUE_MAX || q->msg.len > m->queue_max_bytes ||
	    m->queued_bytes > m->queue_max_bytes - q->msg.len) {
		size_t max_bytes = m->queue_max_bytes;

		m->dropped++;
		pthread_mutex_unlock(&m->lock);
		fedc_warn("mqtt: receive queue full (%d messages or %zu bytes at most), %zu-byte message on %s dropped",
			  FEDC_MQTT_QUEUE_MAX, max_bytes, q->msg.len, q->msg.topic);
		fedc_mqtt_message_free(&q->msg);
		goto out;
	}
	if (m->tail)
		m->tail->next = q;
	else
		m->head = q;
	m->tail = q;
	m->queued++;
	m->queued_bytes += q->msg.len;
	pthread_mutex_unlock(&m->lock);
	notify(m);
out:
	MQTTAsync_freeMessage(&message);
	MQTTAsync_free(topic);
	return 1;
}

static void on_connection_lost(void *ctx, char *cause)
{
	struct fedc_mqtt *m = ctx;

	pthread_mutex_lock(&m->lock);
	m->connected = false;
	m->subscribed = false;
	m->losses++;
	/* The count of publishes in flight is left alone: Paho has already
	 * failed each one it had written, or begun to write, on this
	 * connection (its clean session drops them, onFailure, before this
	 * callback); the others, and those made since, wait in its queue for
	 * the next connection. Zeroing it here also forgot the publishes a
	 * waiting fedc_mqtt_publish made between those onFailure calls and
	 * this one: more than MQTT_MAX_UNACKED in flight
	 * (tests/integration/test_mqtt_pacing.c). */
	pthread_mutex_unlock(&m->lock);
	fedc_warn("mqtt: connection to %s lost (%s); reconnecting", m->url, cause ? cause : "no cause given");
}

static void on_subscribed(void *ctx, MQTTAsync_successData *data)
{
	struct fedc_mqtt *m = ctx;

	pthread_mutex_lock(&m->lock);
	m->subscribed = true;
	pthread_mutex_unlock(&m->lock);
	notify(m);
}

static void on_subscribe_failed(void *ctx, MQTTAsync_failureData *data)
{
	struct fedc_mqtt *m = ctx;

	fedc_error("mqtt: subscription refused by %s (code %d)", m->url, data ? data->code : 0);
}

static void publish_online(struct fedc_mqtt *m)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	int rc;

	if (!m->status_topic || !m->online_payload)
		return;
	msg.payload = m->online_payload;
	msg.payloadlen = (int)m->online_len;
	msg.qos = 1;
	msg.retained = 1;
	rc = MQTTAsync_sendMessage(m->client, m->status_topic, &msg, NULL);
	if (rc != MQTTASYNC_SUCCESS)
		fedc_warn("mqtt: could not publish status on %s (code %d)", m->status_topic, rc);
}

/* Called after the first connection and after every automatic reconnection:
 * the session is clean, so subscriptions and the retained status are
 * restored here. */
static void on_connected(void *ctx, char *cause)
{
	struct fedc_mqtt *m = ctx;
	MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
	char host[256], port[16];
	size_t send_buffer = 0;
	int *qos = NULL;
	int rc;

	/* Before anything is subscribed or published on this connection. */
	if (!fedc__split_url(m->url, host, sizeof(host), port, sizeof(port)) ||
	    fedc__tune_sockets_to(host, port, &send_buffer) == 0)
		fedc_warn("mqtt: could not set TCP_NODELAY on the connection to %s: requests may wait for "
			  "delayed ACKs (tens of ms)", m->url);
	pthread_mutex_lock(&m->lock);
	m->send_buffer = send_buffer;
	m->connected = true;
	m->connects++;
	pthread_mutex_unlock(&m->lock);
	fedc_info("mqtt: connected to %s", m->url);
	if (m->n_subscriptions) {
		qos = calloc(m->n_subscriptions, sizeof(*qos));
		if (!qos) {
			fedc_error("mqtt: out of memory while subscribing");
			return;
		}
		for (size_t i = 0; i < m->n_subscriptions; i++)
			qos[i] = 1;
		opts.onSuccess = on_subscribed;
		opts.onFailure = on_subscribe_failed;
		opts.context = m;
		rc = MQTTAsync_subscribeMany(m->client, (int)m->n_subscriptions, m->subscriptions, qos, &opts);
		if (rc != MQTTASYNC_SUCCESS)
			fedc_error("mqtt: subscribe failed (code %d)", rc);
		free(qos);
	} else {
		on_subscribed(m, NULL);
	}
	publish_online(m);
	notify(m);
}

/* MQTT 3.1.1 CONNACK return codes 4 and 5: the broker read our credentials
 * and said no. */
#define CONNACK_BAD_CREDENTIALS 4
#define CONNACK_NOT_AUTHORIZED 5

static void on_connect_failed(void *ctx, MQTTAsync_failureData *data)
{
	struct fedc_mqtt *m = ctx;
	int code = data ? data->code : 0;

	pthread_mutex_lock(&m->lock);
	m->connect_failed = true;
	m->auth_refused = code == CONNACK_BAD_CREDENTIALS || code == CONNACK_NOT_AUTHORIZED;
	if (m->auth_refused)
		snprintf(m->last_failure, sizeof(m->last_failure), "%s",
			 code == CONNACK_BAD_CREDENTIALS ? "bad user name or password" : "not authorized");
	else if (data && data->message)
		snprintf(m->last_failure, sizeof(m->last_failure), "%s (code %d)", data->message, code);
	else if (!m->last_failure[0])
		snprintf(m->last_failure, sizeof(m->last_failure), "code %d", code);
	pthread_mutex_unlock(&m->lock);
	notify(m);
}

/* OpenSSL's reasons (certificate verify failed, ...), from Paho's thread. */
static int on_ssl_error(const char *str, size_t len, void *ctx)
{
	struct fedc_mqtt *m = ctx;

	while (len && (str[len - 1] == '\n' || str[len - 1] == '\r'))
		len--;
	pthread_mutex_lock(&m->lock);
	snprintf(m->last_failure, sizeof(m->last_failure), "TLS: %.*s", (int)len, str);
	pthread_mutex_unlock(&m->lock);
	fedc_debug("mqtt: %s: TLS: %.*s", m->url, (int)len, str);
	return 0;
}

/* ---- set-up ---- */

static enum fedc_err copy_options(struct fedc_mqtt *m, const struct fedc_mqtt_options *opts)
{
	m->url = strdup(opts->url);
	m->status_topic = dup_or_null(opts->status_topic);
	m->username = dup_or_null(opts->username);
	m->password = dup_or_null(opts->password);
	m->will_payload = dup_bytes(opts->will_payload, opts->will_len);
	m->will_len = m->will_payload ? opts->will_len : 0;
	m->online_payload = dup_bytes(opts->online_payload, opts->online_len);
	m->online_len = m->online_payload ? opts->online_len : 0;
	if (!m->url || (opts->status_topic && !m->status_topic) || (opts->username && !m->username) ||
	    (opts->password && !m->password) || !dup_optional(opts->ca_file, &m->ca_file) ||
	    !dup_optional(opts->cert_file, &m->cert_file) || !dup_optional(opts->key_file, &m->key_file))
		return FEDC_ERR_NOMEM;
	if (!m->cert_file != !m->key_file)
		return fedc_fail(FEDC_ERR_INVAL, "mqtt: a client certificate needs its key, and a key its certificate");
	if (opts->n_subscriptions) {
		m->subscriptions = calloc(opts->n_subscriptions, sizeof(char *));
		if (!m->subscriptions)
			return FEDC_ERR_NOMEM;
		m->n_subscriptions = opts->n_subscriptions;
		for (size_t i = 0; i < opts->n_subscriptions; i++) {
			m->subscriptions[i] = strdup(opts->subscriptions[i]);
			if (!m->subscriptions[i])
				return FEDC_ERR_NOMEM;
		}
	}
	return FEDC_OK;
}

static enum fedc_err create_client(struct fedc_mqtt *m, const char *client_id)
{
	MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
	int rc;

	create.MQTTVersion = MQTTVERSION_3_1_1;
	/* Publishes made while the link is down wait in Paho's buffer. */
	create.sendWhileDisconnected = 1;
	create.maxBufferedMessages = 1000;
	rc = MQTTAsync_createWithOptions(&m->client, m->url, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
					 &create);
	if (rc != MQTTASYNC_SUCCESS)
		return fedc_fail(FEDC_ERR_INVAL, "mqtt: cannot create a client for \"%s\" (code %d)", m->url, rc);
	rc = MQTTAsync_setCallbacks(m->client, m, on_connection_lost, on_message, NULL);
	if (rc == MQTTASYNC_SUCCESS)
		rc = MQTTAsync_setConnected(m->client, m, on_connected);
	if (rc != MQTTASYNC_SUCCESS)
		return fedc_fail(FEDC_ERR_MQTT, "mqtt: cannot set callbacks (code %d)", rc);
	return FEDC_OK;
}

static bool uses_tls(const char *url)
{
	return strncmp(url, "ssl://", 6) == 0 || strncmp(url, "mqtts://", 8) == 0;
}

static enum fedc_err start_connect(struct fedc_mqtt *m)
{
	MQTTAsync_connectOptions conn = MQTTAsync_connectOptions_initializer;
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	int rc;

	conn.MQTTVersion = MQTTVERSION_3_1_1;
	conn.keepAliveInterval = 10;
	conn.cleansession = 1;
	conn.connectTimeout = 5;
	conn.automaticReconnect = 1;
	/* Paho doubles the wait after each failed attempt up to the maximum: a
	 * broker back after a restart is found again within 2 s (with 16, the
	 * nodes took up to 30-40 s). */
	conn.minRetryInterval = 1;
	conn.maxRetryInterval = 2;
	conn.username = m->username;
	conn.password = m->password;
	conn.onFailure = on_connect_failed;
	conn.context = m;
	if (uses_tls(m->url)) {
		/* The broker's certificate is checked against the CA, host name
		 * included; nothing here can turn that off. */
		ssl.trustStore = m->ca_file;
		ssl.keyStore = m->cert_file;
		ssl.privateKey = m->key_file;
		ssl.enableServerCertAuth = 1;
		ssl.verify = 1;
		ssl.sslVersion = MQTT_SSL_VERSION_DEFAULT; /* OpenSSL's minimum: TLS 1.2 on Debian */
		ssl.ssl_error_cb = on_ssl_error;
		ssl.ssl_error_context = m;
		conn.ssl = &ssl;
	}
	if (m->status_topic && m->will_payload) {
		will.topicName = m->status_topic;
		will.message = NULL;
		will.payload.data = m->will_payload;
		will.payload.len = (int)m->will_len;
		will.qos = 1;
		will.retained = 1;
		conn.will = &will;
	}
	pthread_mutex_lock(&m->lock);
	m->connect_failed = false;
	pthread_mutex_unlock(&m->lock);
	rc = MQTTAsync_connect(m->client, &conn);
	if (rc != MQTTASYNC_SUCCESS)
		return fedc_fail(FEDC_ERR_MQTT, "mqtt: connect to %s failed to start (code %d)", m->url, rc);
	return FEDC_OK;
}

/* Drains the wake pipe so that poll() blocks again. */
static void drain_pipe(struct fedc_mqtt *m)
{
	char buf[64];

	while (read(m->wake_pipe[0], buf, sizeof(buf)) > 0)
		;
}

/* Waits for the first connection and its subscriptions, retrying a refused
 * connection every second (Paho reconnects by itself only after a first
 * success) until `timeout_s` has passed. */
static enum fedc_err wait_connected(struct fedc_mqtt *m, int timeout_s, bool fail_fast_on_refusal)
{
	int64_t deadline = fedc_now_ms() + (int64_t)timeout_s * 1000;
	int64_t retry_at = 0;
	enum fedc_err rc = FEDC_OK;

	for (;;) {
		struct pollfd pfd = { .fd = m->wake_pipe[0], .events = POLLIN };
		bool ready, failed, auth_refused;
		char why[256];
		int64_t now = fedc_now_ms();

		pthread_mutex_lock(&m->lock);
		ready = m->connected && m->subscribed;
		failed = m->connect_failed;
		auth_refused = m->auth_refused;
		snprintf(why, sizeof(why), "%s", m->last_failure[0] ? m->last_failure : "no answer");
		pthread_mutex_unlock(&m->lock);
		if (ready)
			return FEDC_OK;
		if (auth_refused && (fail_fast_on_refusal || now >= deadline))
			return fedc_fail(FEDC_ERR_AUTH, "mqtt: %s refused this client: %s", m->url, why);
		if (now >= deadline)
			return fedc_fail(FEDC_ERR_TIMEOUT, "mqtt: no connection to %s within %d s (last: %s)", m->url,
					 timeout_s, why);
		if (failed && retry_at == 0) {
			retry_at = now + 1000;
			if (auth_refused)
				fedc_error("mqtt: %s refused this client (%s); retrying", m->url, why);
		}
		if (retry_at && now >= retry_at) {
			retry_at = 0;
			rc = start_connect(m);
			if (rc)
				return rc;
		}
		(void)poll(&pfd, 1, 100);
		drain_pipe(m);
	}
}

/* A publish's wait for room is measured on the monotonic clock: on the
 * wall clock, a step back (NTP, an operator) would hold it that much longer. */
static void init_acked(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

enum fedc_err fedc_mqtt_connect(const struct fedc_mqtt_options *opts, struct fedc_mqtt **out)
{
	struct fedc_mqtt *m = NULL;
	struct fedc_thread_set before = {0};
	enum fedc_err rc;

	*out = NULL;
	if (!opts || !opts->url || !opts->client_id || !opts->client_id[0])
		return fedc_fail(FEDC_ERR_INVAL, "mqtt: url and client id are required");
	m = calloc(1, sizeof(*m));
	if (!m)
		return FEDC_ERR_NOMEM;
	m->wake_pipe[0] = m->wake_pipe[1] = -1;
	pthread_mutex_init(&m->lock, NULL);
	init_acked(&m->acked);
	m->room_wait_ms = MQTT_ROOM_WAIT_MS;
	m->queue_max_bytes = FEDC_MQTT_QUEUE_MAX_BYTES;
	if (pipe2(m->wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		rc = fedc_fail(FEDC_ERR_IO, "mqtt: pipe: %s", strerror(errno));
		goto out;
	}
	rc = copy_options(m, opts);
	if (rc)
		goto out;
	(void)fedc_thread_set_snapshot(&before); /* none: nothing to wait for at close */
	rc = create_client(m, opts->client_id);
	if (rc)
		goto out;
	m->counted = true;
	rc = start_connect(m);
	paho_threads_note(&before);
	if (rc)
		goto out;
	rc = wait_connected(m, opts->connect_timeout_s > 0 ? opts->connect_timeout_s : 10, opts->fail_fast_on_refusal);
out:
	fedc_thread_set_free(&before);
	if (rc) {
		fedc_mqtt_close(m, NULL, 0);
		return rc;
	}
	*out = m;
	return FEDC_OK;
}

/* A publish is no longer in flight: acknowledged, failed by Paho
 * (`failed`), or refused by MQTTAsync_send. Frees `f`. */
static void count_done(struct in_flight *f, bool failed)
{
	struct fedc_mqtt *m = f->m;

	pthread_mutex_lock(&m->lock);
	if (failed)
		m->failed++;
	if (m->unacked)
		m->unacked--;
	m->unacked_bytes -= f->len < m->unacked_bytes ? f->len : m->unacked_bytes;
	pthread_cond_signal(&m->acked);
	pthread_mutex_unlock(&m->lock);
	free(f);
}

static void on_published(void *ctx, MQTTAsync_successData *data)
{
	(void)data;
	count_done(ctx, false);
}

/* Paho fails a publish when the connection it went out on is lost before
 * its PUBACK (the clean session drops it; it is not sent again), or when the
 * client is destroyed with it queued. */
static void on_publish_failed(void *ctx, MQTTAsync_failureData *data)
{
	struct in_flight *f = ctx;

	fedc_warn("mqtt: a publish to %s was not delivered: connection lost or client closed (code %d)", f->m->url,
		  data ? data->code : 0);
	count_done(f, true);
}

/* Whether a publish of `len` bytes must wait (m->lock held): 8 in flight,
 * or, on a fixed send buffer, bytes in flight that leave no room for it. */
static bool no_room(const struct fedc_mqtt *m, size_t len)
{
	return m->unacked >= MQTT_MAX_UNACKED ||
	       (m->send_buffer && m->unacked && m->unacked_bytes + len > m->send_buffer);
}

static void wait_for_room(struct fedc_mqtt *m, size_t len)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	pthread_mutex_lock(&m->lock);
	fedc_timespec_add_ms(&until, m->room_wait_ms);
	if (no_room(m, len)) {
		m->waiting++;
		while (no_room(m, len) && pthread_cond_timedwait(&m->acked, &m->lock, &until) == 0)
			;
		m->waiting--;
		if (no_room(m, len))
			m->went_anyway++;
	}
	m->unacked++;
	m->unacked_bytes += len;
	pthread_mutex_unlock(&m->lock);
}

/* The largest payload on a connection whose fixed send buffer holds
 * `send_buffer` bytes (0: the kernel sizes it). */
static size_t max_payload_on(size_t send_buffer)
{
	size_t max = send_buffer > MQTT_DEFAULT_MAX_PAYLOAD ? send_buffer : MQTT_DEFAULT_MAX_PAYLOAD;

	return max < FEDC_ENVELOPE_MAX_BYTES ? max : FEDC_ENVELOPE_MAX_BYTES;
}

size_t fedc_mqtt_max_payload(struct fedc_mqtt *m)
{
	size_t send_buffer;

	pthread_mutex_lock(&m->lock);
	send_buffer = m->send_buffer;
	pthread_mutex_unlock(&m->lock);
	return max_payload_on(send_buffer);
}

size_t fedc_mqtt_max_inline_params(struct fedc_mqtt *m)
{
	return fedc_inline_params_fit(fedc_mqtt_max_payload(m));
}

size_t fedc_mqtt_expected_max_inline_params(void)
{
	return fedc_inline_params_fit(max_payload_on(fedc__send_buffer_expected()));
}

enum fedc_err fedc_mqtt_publish(struct fedc_mqtt *m, const char *topic, const void *payload, size_t len,
				bool retained)
{
	MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
	size_t max = fedc_mqtt_max_payload(m);
	struct in_flight *f;
	int rc;

	if (len > max)
		return fedc_fail(FEDC_ERR_TOO_BIG, "mqtt: %zu-byte payload over the %zu-byte limit of this connection "
				 "(docs/deployment.md, \"Models up to 8 MiB inline\")", len, max);
	note_message_size(len);
	f = malloc(sizeof(*f));
	if (!f)
		return FEDC_ERR_NOMEM;
	*f = (struct in_flight){ .m = m, .len = len };
	wait_for_room(m, len);
	opts.onSuccess = on_published;
	opts.onFailure = on_publish_failed;
	opts.context = f;
	/* MQTTAsync_send, not _sendMessage: it takes the payload as const (and copies it). */
	rc = MQTTAsync_send(m->client, topic, (int)len, payload, 1, retained ? 1 : 0, &opts);
	if (rc != MQTTASYNC_SUCCESS) {
		count_done(f, false);
		return fedc_fail(FEDC_ERR_MQTT, "mqtt: publish on %s failed (code %d)", topic, rc);
	}
	return FEDC_OK;
}

static struct fedc_mqtt_message *take(struct fedc_mqtt *m)
{
	struct queued *q;

	pthread_mutex_lock(&m->lock);
	q = m->head;
	if (q) {
		m->head = q->next;
		if (!m->head)
			m->tail = NULL;
		m->queued--;
		m->queued_bytes -= q->msg.len;
	}
	pthread_mutex_unlock(&m->lock);
	/* msg is the first member: the caller frees the whole node through it. */
	return q ? &q->msg : NULL;
}

enum fedc_err fedc_mqtt_next(struct fedc_mqtt *m, int timeout_ms, struct fedc_mqtt_message **out)
{
	int64_t deadline = timeout_ms < 0 ? -1 : fedc_now_ms() + timeout_ms;

	*out = NULL;
	for (;;) {
		struct pollfd pfd = { .fd = m->wake_pipe[0], .events = POLLIN };
		int wait_ms;

		if (m->woken) {
			m->woken = 0;
			return FEDC_ERR_INTERRUPTED;
		}
		*out = take(m);
		if (*out)
			return FEDC_OK;
		if (deadline < 0) {
			wait_ms = -1;
		} else {
			int64_t left = deadline - fedc_now_ms();

			if (left <= 0)
				return FEDC_ERR_TIMEOUT;
			wait_ms = left > 1000000 ? 1000000 : (int)left;
		}
		if (poll(&pfd, 1, wait_ms) > 0)
			drain_pipe(m);
	}
}

void fedc_mqtt_wake(struct fedc_mqtt *m)
{
	m->woken = 1;
	notify(m);
}

void fedc_mqtt_message_free(struct fedc_mqtt_message *msg)
{
	if (!msg)
		return;
	free(msg->topic);
	free(msg->payload);
	free((struct queued *)msg);
}

uint64_t fedc_mqtt_reconnects(struct fedc_mqtt *m)
{
	uint64_t connects;

	pthread_mutex_lock(&m->lock);
	connects = m->connects;
	pthread_mutex_unlock(&m->lock);
	return connects > 1 ? connects - 1 : 0;
}

bool fedc_mqtt_connected(struct fedc_mqtt *m)
{
	bool connected;

	pthread_mutex_lock(&m->lock);
	connected = m->connected;
	pthread_mutex_unlock(&m->lock);
	return connected;
}

#ifdef FEDC_TEST_HOOKS
void fedc_mqtt_test_pacing(struct fedc_mqtt *m, struct fedc_mqtt_pacing *out)
{
	pthread_mutex_lock(&m->lock);
	out->unacked = m->unacked;
	out->unacked_bytes = m->unacked_bytes;
	out->dropped = m->dropped;
	out->waiting = m->waiting;
	out->went_anyway = m->went_anyway;
	out->failed = m->failed;
	out->losses = m->losses;
	pthread_mutex_unlock(&m->lock);
}

void fedc_mqtt_test_set_room_wait(struct fedc_mqtt *m, int ms)
{
	pthread_mutex_lock(&m->lock);
	m->room_wait_ms = ms;
	pthread_mutex_unlock(&m->lock);
}

void fedc_mqtt_test_set_send_buffer(struct fedc_mqtt *m, size_t bytes)
{
	pthread_mutex_lock(&m->lock);
	m->send_buffer = bytes;
	pthread_mutex_unlock(&m->lock);
}

void fedc_mqtt_test_set_queue_bytes(struct fedc_mqtt *m, size_t bytes)
{
	pthread_mutex_lock(&m->lock);
	m->queue_max_bytes = bytes;
	pthread_mutex_unlock(&m->lock);
}
#endif

static void publish_final(struct fedc_mqtt *m, const void *payload, size_t len)
{
	MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;

	if (!m->status_topic || !fedc_mqtt_connected(m))
		return;
	/* QoS 1, retained; MQTTAsync_send takes the payload as const. */
	if (MQTTAsync_send(m->client, m->status_topic, (int)len, payload, 1, 1, &opts) == MQTTASYNC_SUCCESS)
		(void)MQTTAsync_waitForCompletion(m->client, opts.token, 2000);
}

void fedc_mqtt_close(struct fedc_mqtt *m, const void *final_payload, size_t final_len)
{
	struct fedc_mqtt_message *msg;

	if (!m)
		return;
	if (m->client) {
		MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;

		if (final_payload)
			publish_final(m, final_payload, final_len);
		opts.timeout = 1000;
		if (MQTTAsync_isConnected(m->client))
			(void)MQTTAsync_disconnect(m->client, &opts);
		/* Give the disconnect a moment to go out before the client goes away. */
		for (int i = 0; i < 50 && MQTTAsync_isConnected(m->client); i++)
			usleep(10000);
		MQTTAsync_destroy(&m->client);
	}
	if (m->counted)
		paho_threads_release();
	while ((msg = take(m)))
		fedc_mqtt_message_free(msg);
	for (size_t i = 0; i < m->n_subscriptions; i++)
		free(m->subscriptions[i]);
	free(m->subscriptions);
	free(m->url);
	free(m->status_topic);
	free(m->username);
	free(m->password);
	free(m->ca_file);
	free(m->cert_file);
	free(m->key_file);
	free(m->will_payload);
	free(m->online_payload);
	if (m->wake_pipe[0] >= 0)
		close(m->wake_pipe[0]);
	if (m->wake_pipe[1] >= 0)
		close(m->wake_pipe[1]);
	pthread_cond_destroy(&m->acked);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* ---- topics ---- */

static bool topic_level_ok(const char *name)
{
	size_t len = name ? strlen(name) : 0;

	return len > 0 && len <= FEDC_MAX_ID_LEN && !strpbrk(name, "/+#");
}

static enum fedc_err build_topic(char *buf, const char *fed, const char *kind, const char *name)
{
	int n;

	if (!topic_level_ok(fed) || (name && !topic_level_ok(name)))
		return fedc_fail(FEDC_ERR_INVAL, "bad topic level (empty, too long, or holds '/', '+', '#')");
	if (name)
		n = snprintf(buf, FEDC_MAX_TOPIC_LEN + 1, "fedc/%s/%s/%s", fed, kind, name);
	else
		n = snprintf(buf, FEDC_MAX_TOPIC_LEN + 1, "fedc/%s/%s", fed, kind);
	if (n < 0 || n > FEDC_MAX_TOPIC_LEN)
		return fedc_fail(FEDC_ERR_INVAL, "topic too long");
	return FEDC_OK;
}

enum fedc_err fedc_topic_nodes(char *buf, const char *fed)
{
	return build_topic(buf, fed, "nodes", NULL);
}

enum fedc_err fedc_topic_node(char *buf, const char *fed, const char *node_id)
{
	return build_topic(buf, fed, "node", node_id);
}

enum fedc_err fedc_topic_researcher(char *buf, const char *fed, const char *researcher_id)
{
	return build_topic(buf, fed, "researcher", researcher_id);
}

enum fedc_err fedc_topic_status(char *buf, const char *fed, const char *node_id)
{
	return build_topic(buf, fed, "status", node_id);
}

enum fedc_err fedc_topic_status_all(char *buf, const char *fed)
{
	enum fedc_err rc = build_topic(buf, fed, "status", NULL);

	if (!rc && strlen(buf) + 2 <= FEDC_MAX_TOPIC_LEN)
		strcat(buf, "/+");
	return rc;
}
