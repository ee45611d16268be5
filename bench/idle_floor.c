/* bench/idle_floor: the floor under an idle node daemon's memory (issue #19,
 * item 6: an idle fedc-node at most 8 MB of RSS). It links only what any
 * MQTT-over-TLS client of this design needs (Paho's async client, OpenSSL,
 * libc) and holds one TLS MQTT connection with a client certificate and a
 * password, as fedc-node does, until it is killed. bench/idle_rss.sh --floor
 * measures it as it measures the nodes.
 *
 *   bench_idle_floor NODE_DIR
 *
 * NODE_DIR is a node bundle from fedc-admin add-node (node.ini's broker
 * section: url, ca.pem, client.pem, client.key, username = the node id,
 * broker.password). */
#include <MQTTAsync.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int connected, failed;

static void on_connect(void *ctx, MQTTAsync_successData *data)
{
	(void)ctx;
	(void)data;
	connected = 1;
}

static void on_failure(void *ctx, MQTTAsync_failureData *data)
{
	(void)ctx;
	fprintf(stderr, "bench_idle_floor: connection failed: %s\n", data && data->message ? data->message : "?");
	failed = 1;
}

static int on_message(void *ctx, char *topic, int len, MQTTAsync_message *msg)
{
	(void)ctx;
	(void)len;
	MQTTAsync_freeMessage(&msg);
	MQTTAsync_free(topic);
	return 1;
}

/* The value of `key = value` in node.ini, or exit. */
static void ini_value(const char *ini, const char *key, char *out, size_t cap)
{
	char line[512];
	size_t klen = strlen(key);
	FILE *f = fopen(ini, "r");

	if (!f) {
		perror(ini);
		exit(1);
	}
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && strncmp(line + klen, " = ", 3) == 0) {
			snprintf(out, cap, "%s", line + klen + 3);
			out[strcspn(out, "\n")] = '\0';
			fclose(f);
			return;
		}
	}
	fprintf(stderr, "bench_idle_floor: %s has no %s\n", ini, key);
	exit(1);
}

int main(int argc, char **argv)
{
	char ini[512], url[256], user[128], password[256] = "", ca[600], cert[600], key[600], topic[300];
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	MQTTAsync client;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: bench_idle_floor NODE_DIR\n");
		return 2;
	}
	snprintf(ini, sizeof(ini), "%s/node.ini", argv[1]);
	ini_value(ini, "url", url, sizeof(url)); /* [broker] comes before [repository] */
	ini_value(ini, "username", user, sizeof(user));
	snprintf(ca, sizeof(ca), "%s/ca.pem", argv[1]);
	snprintf(cert, sizeof(cert), "%s/client.pem", argv[1]);
	snprintf(key, sizeof(key), "%s/client.key", argv[1]);
	snprintf(topic, sizeof(topic), "%s/broker.password", argv[1]);
	f = fopen(topic, "r");
	if (!f || !fgets(password, sizeof(password), f)) {
		fprintf(stderr, "bench_idle_floor: cannot read %s\n", topic);
		return 1;
	}
	fclose(f);
	password[strcspn(password, "\n")] = '\0';

	/* The broker's plugin wants the client id to be the user name. */
	if (MQTTAsync_create(&client, url, user, MQTTCLIENT_PERSISTENCE_NONE, NULL) != MQTTASYNC_SUCCESS)
		return 1;
	MQTTAsync_setCallbacks(client, NULL, NULL, on_message, NULL);
	ssl.trustStore = ca;
	ssl.keyStore = cert;
	ssl.privateKey = key;
	ssl.enableServerCertAuth = 1;
	ssl.verify = 1;
	opts.ssl = &ssl;
	opts.username = user; /* the node's own account: its ACL lets it read its topics */
	opts.password = password;
	opts.cleansession = 1;
	opts.keepAliveInterval = 30;
	opts.onSuccess = on_connect;
	opts.onFailure = on_failure;
	if (MQTTAsync_connect(client, &opts) != MQTTASYNC_SUCCESS)
		return 1;
	for (int i = 0; i < 200 && !connected && !failed; i++)
		usleep(50000);
	if (!connected)
		return 1;
	puts("connected"); /* bench/idle_rss.sh waits for this line */
	fflush(stdout);
	pause(); /* until killed */
	return 0;
}
