/* bench/envelope: what one signed train-reply carrying its update inline
 * costs the sender and the receiver, with the update in the body of a
 * version-1 envelope or as a version-2 envelope's attachment, signed with
 * Ed25519, or as the attachment of a version-3 envelope, MAC'd under a
 * per-job session (fedc/sign.h, fedc/session_key.h; docs/benchmarks.md,
 * "Central CPU per node-round").
 *
 *   bench_envelope [ITERATIONS]          default 2000, per size and version
 *
 * Both sides run through the channel as the node and the researcher do:
 * send = fedc_channel_wrap (encode, seal); receive = fedc_channel_accept
 * (open, decode, replay check) and, for v1, the SHA-256 check of the params
 * against params_digest that the consumer makes (fedc_inline_params_check);
 * v2 and v3 need none (the attachment was hashed in the open). Sizes: 40 KB (the
 * N=32, P=1e4 round of bench_round) and 256 KB (FEDC_DEFAULT_INLINE_PARAMS).
 * Prints microseconds per message, the median of 5 runs of ITERATIONS. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fedc/channel.h"
#include "fedc/hash.h"
#include "fedc/inline_params.h"

#define RUNS 5

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_envelope: %s: %s\n", what, fedc_last_error());
	exit(1);
}

static void write_pem(EVP_PKEY *key, const char *path, bool private_part)
{
	FILE *f = fopen(path, "w");

	if (!f || (private_part ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(f, key)) != 1)
		die(path);
	fclose(f);
}

/* dir/<id>.key, and dir/<trusted_by>/<id>.pub */
static void make_key(const char *dir, const char *id, const char *trusted_by)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char path[512];

	if (!key)
		die("Ed25519 key generation");
	snprintf(path, sizeof(path), "%s/%s.key", dir, id);
	write_pem(key, path, true);
	snprintf(path, sizeof(path), "%s/%s", dir, trusted_by);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/%s.pub", dir, trusted_by, id);
	write_pem(key, path, false);
	EVP_PKEY_free(key);
}

static void open_channel(struct fedc_channel *ch, const char *dir, const char *id, const char *trusted)
{
	char key[512], ring[512];

	snprintf(key, sizeof(key), "%s/%s.key", dir, id);
	snprintf(ring, sizeof(ring), "%s/%s", dir, trusted);
	if (fedc_channel_init(ch, id, key, ring, 300, false) != FEDC_OK)
		die("channel");
}

/* A train-reply from n1 carrying `len` bytes of parameters. */
static struct fedc_msg *train_reply(size_t len)
{
	static const enum fedc_field fields[] = {
		FEDC_F_RESEARCHER_ID, FEDC_F_NODE_ID, FEDC_F_JOB_ID, FEDC_F_ROUND, FEDC_F_DATASET_ID,
		FEDC_F_N_SAMPLES, FEDC_F_N_TEST, FEDC_F_METRICS, FEDC_F_GLOBAL_METRICS, FEDC_F_DOWNLOAD_S,
		FEDC_F_TRAIN_S, FEDC_F_UPLOAD_S, FEDC_F_PARAMS_DIGEST,
	};
	struct fedc_msg *m = fedc_msg_new(FEDC_CMD_TRAIN_REPLY);
	uint8_t *params = malloc(len);

	if (!m || !params)
		die("out of memory");
	for (size_t i = 0; i < len; i++)
		params[i] = (uint8_t)(i * 31 + 7);
	snprintf(m->researcher_id, sizeof(m->researcher_id), "r1");
	snprintf(m->node_id, sizeof(m->node_id), "n1");
	snprintf(m->job_id, sizeof(m->job_id), "00000000-0000-4000-8000-000000000001");
	snprintf(m->dataset_id, sizeof(m->dataset_id), "d1");
	m->round = 1;
	m->n_samples = 100;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		fedc_msg_set(m, fields[i]);
	if (fedc_hash_buffer(FEDC_HASH_SHA256, params, len, m->params_digest) != FEDC_OK ||
	    fedc_msg_set_params(m, params, len) != FEDC_OK)
		die("the message");
	free(params);
	return m;
}

/* The researcher's lookup: its one session, with n1. */
static const struct fedc_session *find_session(void *ctx, const char *signer, const uint8_t sid[FEDC_SESSION_ID_BYTES])
{
	const struct fedc_session *s = ctx;

	return strcmp(signer, "n1") == 0 && memcmp(sid, s->sid, FEDC_SESSION_ID_BYTES) == 0 ? s : NULL;
}

/* n1's and r1's views of one session, agreed as a train and its reply do. */
static void agree(struct fedc_session *node_view, struct fedc_session *researcher_view)
{
	struct fedc_session_kx *r = NULL, *n = NULL;

	if (fedc_session_kx_new(&r) || fedc_session_kx_new(&n) ||
	    fedc_session_derive(n, fedc_session_kx_public(r), FEDC_SESSION_NODE, "r1", "n1",
				"00000000-0000-4000-8000-000000000001", node_view) ||
	    fedc_session_derive(r, fedc_session_kx_public(n), FEDC_SESSION_RESEARCHER, "r1", "n1",
				"00000000-0000-4000-8000-000000000001", researcher_view))
		die("session agreement");
	fedc_session_kx_free(r);
	fedc_session_kx_free(n);
}

struct timing {
	double send_us, receive_us;
};

/* One run: `n` messages sent and received; microseconds per message. */
static struct timing run(struct fedc_channel *node, struct fedc_channel *researcher, const struct fedc_msg *msg,
			 const struct fedc_session *session, int n)
{
	struct timing t = { 0, 0 };

	for (int i = 0; i < n; i++) {
		struct fedc_msg got;
		struct fedc_origin origin;
		void *buf = NULL;
		size_t len = 0;
		double t0 = now_us(), t1;

		if (fedc_channel_wrap_session(node, "fedc/f/researcher/r1", msg, session, &buf, &len) != FEDC_OK)
			die("wrap");
		t1 = now_us();
		if (fedc_channel_accept(researcher, "fedc/f/researcher/r1", buf, len, &got, &origin) != FEDC_OK)
			die("accept");
		if (!got.params_attached &&
		    fedc_inline_params_check(got.params, got.params_len, got.params_digest, "the update") != FEDC_OK)
			die("the consumer's check");
		t.send_us += t1 - t0;
		t.receive_us += now_us() - t1;
		fedc_msg_clear(&got);
		free(buf);
	}
	t.send_us /= n;
	t.receive_us /= n;
	return t;
}

static int by_total(const void *a, const void *b)
{
	const struct timing *x = a, *y = b;
	double dx = x->send_us + x->receive_us, dy = y->send_us + y->receive_us;

	return (dx > dy) - (dx < dy);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 40 * 1000, FEDC_DEFAULT_INLINE_PARAMS };
	char dir[] = "/tmp/fedc-bench-envelope-XXXXXX", cmd[128];
	struct fedc_channel node, researcher;
	struct fedc_session node_view, researcher_view;
	int n = argc > 1 ? atoi(argv[1]) : 2000;

	if (n <= 0 || n > 2000) { /* the replay guard holds 65536 nonces: 2 sizes x 3 versions x 5 runs */
		fprintf(stderr, "usage: bench_envelope [ITERATIONS 1..2000]\n");
		return 2;
	}
	if (!mkdtemp(dir))
		die("mkdtemp");
	make_key(dir, "n1", "trusted-by-r1");
	make_key(dir, "r1", "trusted-by-n1");
	open_channel(&node, dir, "n1", "trusted-by-n1");
	open_channel(&researcher, dir, "r1", "trusted-by-r1");
	agree(&node_view, &researcher_view);
	researcher.sessions = (struct fedc_session_lookup){ find_session, &researcher_view };
	printf("%-9s %-8s %10s %12s %10s\n", "params", "envelope", "send us", "receive us", "total us");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct fedc_msg *msg = train_reply(sizes[s]);

		for (int version = 1; version <= 3; version++) {
			struct timing runs[RUNS];

			msg->params_attached = version >= 2;
			for (int r = 0; r < RUNS; r++)
				runs[r] = run(&node, &researcher, msg, version == 3 ? &node_view : NULL, n);
			qsort(runs, RUNS, sizeof(runs[0]), by_total);
			printf("%-9zu v%-7d %10.1f %12.1f %10.1f\n", sizes[s], version, runs[RUNS / 2].send_us,
			       runs[RUNS / 2].receive_us, runs[RUNS / 2].send_us + runs[RUNS / 2].receive_us);
		}
		fedc_msg_free(msg);
	}
	fedc_session_wipe(&node_view);
	fedc_session_wipe(&researcher_view);
	fedc_channel_free(&node);
	fedc_channel_free(&researcher);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
