/* Fuzz target: the repository server's request handling (repository-server/).
 *
 * One server per process, started on 127.0.0.1 port 0 over a store in the
 * harness's temp directory, with a 1 MiB blob limit and three principals
 * whose tokens the dictionary and the seeds carry: the `token` setting
 * (FUZZ_TOKEN, researcher "admin") and, in a tokens file, researcher
 * "alice" and node "fuzz-node". Two blobs are stored first, and published
 * as updates of "fuzz-node" too, so that GET, HEAD and PUT find something
 * in both namespaces. The fuzzer cannot add others (a new blob needs a body
 * whose SHA-256 is the path), so every input meets the same store.
 *
 * Each input is sent as the raw bytes of one connection: write, shut the
 * writing side, read the answer until the server closes, close. Then a HEAD
 * of a stored blob must still get "200": a request that wedges the server is
 * a finding even when nothing crashes.
 *
 * Written against server.h and the fields of struct server_config it needs;
 * the rest of the config stays zero, which means "off" for what is added. */
#define _GNU_SOURCE /* memfd_create */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fedc/hash.h"
#include "fedc/params.h"
#include "fuzz.h"
#include "server.h"
#include "store.h"

#define FUZZ_TOKEN "fuzz-token"
#define FUZZ_ALICE_TOKEN "alice-token"
#define FUZZ_NODE_TOKEN "node-token"
/* A blob stored at start; its digest is in the seeds (HEAD, GET, PUT). */
#define FUZZ_BLOB "fedc fuzz blob\n"
/* Seconds a read may wait: the server answers loopback requests in
 * milliseconds, and gives up on a request cut short when we shut down. */
#define RECV_TIMEOUT_S 2
#define CONNECT_TRIES 50

static struct server_config cfg;
static struct store *store;
static struct server *srv;
static char probe[256];
static size_t probe_len;
static bool verbose; /* FEDC_FUZZ_VERBOSE set: print each answer's status line */

static void stop_server(void)
{
	server__stop(srv);
	store__close(store);
	srv = NULL;
	store = NULL;
}

static void put_blob(const char *body, char *hex)
{
	struct store_upload *up = NULL;
	bool created = false;

	fuzz_require(fedc_hash_buffer(FEDC_HASH_SHA256, body, strlen(body), hex) == FEDC_OK, "hash failed");
	fuzz_require(store__upload_begin(store, hex, &up) == FEDC_OK &&
		     store__upload_write(up, body, strlen(body)) == FEDC_OK &&
		     store__upload_commit(up, &created) == FEDC_OK, "cannot store a blob");
}

/* The tokens file (repository-server/auth.h): role, id, SHA-256 of the token. */
static void write_tokens_file(char *path)
{
	char alice[FEDC_SHA256_HEXLEN + 1], node[FEDC_SHA256_HEXLEN + 1], text[256];
	int n;

	fuzz_require(fedc_hash_buffer(FEDC_HASH_SHA256, FUZZ_ALICE_TOKEN, strlen(FUZZ_ALICE_TOKEN), alice) ==
		     FEDC_OK && fedc_hash_buffer(FEDC_HASH_SHA256, FUZZ_NODE_TOKEN, strlen(FUZZ_NODE_TOKEN), node) ==
		     FEDC_OK, "hash failed");
	n = snprintf(text, sizeof(text), "# role id sha256(token)\nresearcher alice %s\nnode fuzz-node %s\n", alice,
		     node);
	fuzz_require(n > 0 && (size_t)n < sizeof(text), "tokens file too long");
	fuzz_write_file("tokens", text, (size_t)n, path);
}

static void pause_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A connected socket with send and receive timeouts. Connecting is retried
 * a little: millions of short connections can briefly run out of ports. */
static int dial(void)
{
	struct timeval tv = { RECV_TIMEOUT_S, 0 };
	struct sockaddr_in addr;
	int fd = -1;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(server__port(srv));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < CONNECT_TRIES; i++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		fuzz_require(fd >= 0, "socket failed");
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return fd;
		close(fd);
		pause_ms(20);
	}
	fuzz_require(false, "cannot connect to the server");
	return -1;
}

/* Sends the bytes (stopping if the server hangs up first, as it may after
 * an early answer), ends the request, and reads the answer until the server
 * closes or goes quiet. Returns the first bytes of the answer in `head`. */
static void exchange(const uint8_t *data, size_t size, char *head, size_t head_cap)
{
	int fd = dial();
	size_t done = 0, got = 0;
	char buf[4096];
	ssize_t n;

	while (done < size) {
		n = send(fd, data + done, size - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	(void)shutdown(fd, SHUT_WR);
	while ((n = recv(fd, buf, sizeof(buf), 0)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (got + 1 < head_cap) {
			size_t take = (size_t)n < head_cap - 1 - got ? (size_t)n : head_cap - 1 - got;

			memcpy(head + got, buf, take);
			got += take;
		}
	}
	head[got] = '\0';
	close(fd);
}

/* A small parameter file (one float32 tensor of `n` values): the content
 * the server takes as an update. The caller frees *out. */
static void params_body(size_t n, uint8_t **out, size_t *len)
{
	static const float values[4] = { 1, 2, 3, 4 };
	struct fedc_tensor t = { .name = "w", .dtype = FEDC_DTYPE_F32, .ndim = 1, .shape = { n }, .data = values };
	int fd = memfd_create("params", MFD_CLOEXEC);
	off_t size;

	fuzz_require(fd >= 0 && n <= 4 && fedc_params_write_fd(fd, &t, 1) == FEDC_OK, "cannot write parameters");
	size = lseek(fd, 0, SEEK_END);
	*out = malloc((size_t)size);
	fuzz_require(size > 0 && *out && pread(fd, *out, (size_t)size, 0) == size, "cannot read parameters");
	*len = (size_t)size;
	close(fd);
}

/* Publishes two parameter files as updates of "fuzz-node", through the
 * server (it keeps who may see an update, and takes only parameter files
 * there): otherwise the first input that does it would change what later
 * inputs see. */
static void publish_updates(void)
{
	char hex[FEDC_SHA256_HEXLEN + 1], req[1024], head[32];

	for (size_t n = 1; n <= 2; n++) {
		uint8_t *body = NULL;
		size_t len = 0;
		int h;

		params_body(n, &body, &len);
		fuzz_require(fedc_hash_buffer(FEDC_HASH_SHA256, body, len, hex) == FEDC_OK, "hash failed");
		h = snprintf(req, sizeof(req), "PUT /v1/updates/fuzz-node/sha256/%s HTTP/1.1\r\nHost: fuzz\r\n"
			     "Authorization: Bearer " FUZZ_NODE_TOKEN "\r\nContent-Length: %zu\r\n\r\n", hex, len);
		fuzz_require(h > 0 && (size_t)h + len < sizeof(req), "request too long");
		memcpy(req + h, body, len);
		exchange((const uint8_t *)req, (size_t)h + len, head, sizeof(head));
		fuzz_require(strncmp(head, "HTTP/1.1 20", 11) == 0, "cannot publish an update");
		free(body);
	}
}

static void init_once(void)
{
	char hex[FEDC_SHA256_HEXLEN + 1];
	int n;

	if (srv)
		return;
	fuzz_quiet_logs();
	verbose = getenv("FEDC_FUZZ_VERBOSE") != NULL;
	/* The server's own main() ignores it too: a peer that hangs up must
	 * be an error code (sendfile to a closed socket raises SIGPIPE). */
	signal(SIGPIPE, SIG_IGN);
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1");
	cfg.port = 0;
	n = snprintf(cfg.store_dir, sizeof(cfg.store_dir), "%s/store", fuzz_tmpdir());
	fuzz_require(n > 0 && (size_t)n < sizeof(cfg.store_dir), "store path too long");
	snprintf(cfg.token, sizeof(cfg.token), "%s", FUZZ_TOKEN);
	write_tokens_file(cfg.tokens_file);
	cfg.max_blob_mb = 1;
	cfg.max_blob_bytes = 1u << 20;
	cfg.log_level = FEDC_LOG_ERROR;
	fuzz_require(store__open(cfg.store_dir, &store) == FEDC_OK, "cannot open the store");
	put_blob("", hex);
	put_blob(FUZZ_BLOB, hex);
	n = snprintf(probe, sizeof(probe), "HEAD /v1/blobs/sha256/%s HTTP/1.1\r\nHost: fuzz\r\n"
		     "Authorization: Bearer " FUZZ_TOKEN "\r\nConnection: close\r\n\r\n", hex);
	fuzz_require(n > 0 && (size_t)n < sizeof(probe), "probe too long");
	probe_len = (size_t)n;
	fuzz_require(server__start(&cfg, store, &srv) == FEDC_OK, "cannot start the server");
	atexit(stop_server);
	publish_updates();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char head[32];

	init_once();
	exchange(data, size, head, sizeof(head));
	if (verbose)
		fprintf(stderr, "answer: %.*s\n", (int)strcspn(head, "\r\n"), head);
	exchange((const uint8_t *)probe, probe_len, head, sizeof(head));
	fuzz_require(strncmp(head, "HTTP/1.1 200 ", 13) == 0, "the server must still serve a stored blob");
	return 0;
}
