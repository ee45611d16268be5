#define _GNU_SOURCE /* memfd_create */
/* A node's side of secure aggregation: see secagg_client.h and
 * docs/privacy.md for the protocol, fedc/secagg.h for the primitives. */
#include "secagg_client.h"

#include <dirent.h>

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fedc/buf.h"
#include "fedc/clock.h"
#include "fedc/fs.h"
#include "fedc/log.h"
#include "fedc/params.h"
#include "fedc/secagg.h"
#include "fedc/secagg_wire.h"

#define MASK_BLOCK (1u << 16) /* values masked per pass: 512 KiB of u64 */

struct peer {
	struct fedc_secagg_keys keys;
	bool sent_shares;             /* in the `shares` the researcher forwarded: this node masks with it */
	uint8_t x;                    /* Shamir x of the shares it sent this node */
	uint8_t b_share[32], s_share[32];
	uint8_t in_key[32];           /* decrypts what it sends this node (agreed with the key that encrypts
				       * what this node sends it: one X25519 for both) */
};

struct secagg_client {
	const char *node_id;
	const struct fedc_signer *signer;
	const char *peer_keys_dir;
	struct fedc_keyring *peers_keyring; /* owned; NULL without peer_keys_dir */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* the session */
	bool active, got_keyset, got_shares, answered, aborted;
	char job_id[FEDC_UUID_STRLEN + 1];
	char researcher_id[FEDC_MAX_ID_LEN + 1];
	char request_id[FEDC_UUID_STRLEN + 1]; /* the train's */
	uint64_t round;
	uint32_t threshold;
	uint8_t c_sk[32], c_pk[32], s_sk[32], s_pk[32], b[32];
	struct fedc_secagg_private *c_key, *s_key; /* c_sk, s_sk set up once for the session's agreements */
	uint8_t own_x, own_b_share[32], own_s_share[32];
	struct peer *peers; /* n_peers, sorted by id (bytewise) */
	size_t n_peers;
	/* kept across rounds (the round worker's only): fresh pages cost a
	 * fault in the host on this VM (docs/benchmarks.md), so the masked
	 * vector and the file it goes out in are rewritten in place */
	void *vec;          /* uint64_t or uint32_t values, by the round's ring */
	size_t vec_bytes;   /* bytes vec holds */
	int masked_fd;      /* memfd, or -1 before the first round */
};

/* Reads the peers' keys (mu held, or before the client is shared). */
static enum fedc_err load_peers(struct secagg_client *c)
{
	struct fedc_keyring *fresh = NULL;
	enum fedc_err rc;

	if (!c->peer_keys_dir || !c->peer_keys_dir[0])
		return FEDC_OK;
	rc = fedc_keyring_load_dir(c->peer_keys_dir, &fresh);
	if (rc)
		return fedc_fail(FEDC_ERR_CONFIG, "[security] peer_keys_dir %s: %s", c->peer_keys_dir, fedc_last_error());
	fedc_keyring_free(c->peers_keyring);
	c->peers_keyring = fresh;
	return FEDC_OK;
}

/* The peers' keys are read at the first secure-aggregation step, not at
 * start: a federation of N nodes gives each node N - 1 of them, and parsing
 * 1000 PEM keys took 0.2 s of CPU and a few hundred KiB of heap per node,
 * for a feature a plain round never uses. At start the directory is only
 * checked, so that a wrong path is still reported then. */
static enum fedc_err check_peers_dir(const char *dir)
{
	DIR *d;

	if (!dir || !dir[0])
		return FEDC_OK;
	d = opendir(dir);
	if (!d)
		return fedc_fail(FEDC_ERR_CONFIG, "[security] peer_keys_dir %s: %s", dir, strerror(errno));
	closedir(d);
	return FEDC_OK;
}

enum fedc_err secagg_client__new(const char *node_id, const struct fedc_signer *signer, const char *peer_keys_dir,
				 struct secagg_client **out)
{
	struct secagg_client *c = calloc(1, sizeof(*c));
	enum fedc_err rc;

	if (!c)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for the secure-aggregation client");
	c->node_id = node_id;
	c->signer = signer;
	c->peer_keys_dir = peer_keys_dir;
	c->masked_fd = -1;
	rc = check_peers_dir(peer_keys_dir);
	if (rc) {
		free(c);
		return rc;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	*out = c;
	return FEDC_OK;
}

/* Wipes the session's secrets (mu held). */
static void end_session(struct secagg_client *c)
{
	if (c->peers)
		OPENSSL_cleanse(c->peers, c->n_peers * sizeof(*c->peers));
	free(c->peers);
	c->peers = NULL;
	c->n_peers = 0;
	OPENSSL_cleanse(c->c_sk, sizeof(c->c_sk));
	OPENSSL_cleanse(c->s_sk, sizeof(c->s_sk));
	OPENSSL_cleanse(c->b, sizeof(c->b));
	OPENSSL_cleanse(c->own_b_share, sizeof(c->own_b_share));
	OPENSSL_cleanse(c->own_s_share, sizeof(c->own_s_share));
	fedc_secagg_private_free(c->c_key);
	fedc_secagg_private_free(c->s_key);
	c->c_key = c->s_key = NULL;
	c->active = c->got_keyset = c->got_shares = c->answered = c->aborted = false;
}

void secagg_client__free(struct secagg_client *c)
{
	if (!c)
		return;
	end_session(c);
	fedc_keyring_free(c->peers_keyring);
	free(c->vec);
	if (c->masked_fd >= 0)
		close(c->masked_fd);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void secagg_client__reload_peers(struct secagg_client *c)
{
	pthread_mutex_lock(&c->mu);
	/* Not read yet: the first secure round reads them. */
	if (c->peers_keyring && load_peers(c))
		fedc_error("SIGHUP: %s; the keys in use are kept", fedc_last_error());
	else if (c->peers_keyring)
		fedc_info("SIGHUP: %zu peers' keys read from %s", fedc_keyring_size(c->peers_keyring), c->peer_keys_dir);
	pthread_mutex_unlock(&c->mu);
}

static struct fedc_msg *new_reply(const struct fedc_msg *req, const char *node_id, const char *job_id,
				  uint64_t round, const char *step, const struct fedc_buf *data)
{
	struct fedc_msg *m = fedc_msg_reply(req, FEDC_CMD_SECAGG_REPLY, node_id);

	if (!m)
		return NULL;
	memcpy(m->job_id, job_id, FEDC_UUID_STRLEN + 1);
	m->round = round;
	snprintf(m->secagg_step, sizeof(m->secagg_step), "%s", step);
	fedc_msg_set(m, FEDC_F_JOB_ID);
	fedc_msg_set(m, FEDC_F_ROUND);
	fedc_msg_set(m, FEDC_F_SECAGG_STEP);
	if (fedc_msg_set_secagg_data(m, data->data, data->len)) {
		fedc_msg_free(m);
		return NULL;
	}
	return m;
}

enum fedc_err secagg_client__begin(struct secagg_client *c, const struct fedc_msg *req, struct fedc_msg **keys)
{
	struct fedc_secagg_keys k;
	struct fedc_buf data = FEDC_BUF_INIT(FEDC_MAX_SECAGG_DATA);
	uint8_t signed_bytes[FEDC_SECAGG_SIGNED_MAX];
	enum fedc_err rc;

	*keys = NULL;
	if (!c->signer)
		return fedc_fail(FEDC_ERR_CONFIG, "secure aggregation needs this node's [security] signing_key: the "
				 "other nodes check its keys against it");
	pthread_mutex_lock(&c->mu);
	end_session(c);
	memcpy(c->job_id, req->job_id, sizeof(c->job_id));
	memcpy(c->researcher_id, req->researcher_id, sizeof(c->researcher_id));
	memcpy(c->request_id, req->request_id, sizeof(c->request_id));
	c->round = req->round;
	c->threshold = (uint32_t)req->secagg_threshold;
	rc = fedc_secagg_keypair(c->c_sk, c->c_pk);
	if (!rc)
		rc = fedc_secagg_keypair(c->s_sk, c->s_pk);
	if (!rc)
		rc = fedc_secagg_private_new(c->c_sk, &c->c_key);
	if (!rc)
		rc = fedc_secagg_private_new(c->s_sk, &c->s_key);
	if (!rc && RAND_bytes(c->b, sizeof(c->b)) != 1)
		rc = fedc_fail(FEDC_ERR_INVAL, "no random bytes for the self-mask seed");
	if (rc)
		goto out;
	memset(&k, 0, sizeof(k));
	snprintf(k.node_id, sizeof(k.node_id), "%s", c->node_id);
	memcpy(k.c_pk, c->c_pk, sizeof(k.c_pk));
	memcpy(k.s_pk, c->s_pk, sizeof(k.s_pk));
	rc = fedc_sign(c->signer, signed_bytes, fedc_secagg_keys_signed(c->job_id, c->round, &k, signed_bytes),
		       k.sig);
	if (!rc)
		rc = fedc_secagg_put_keys(&data, &k, 1);
	if (rc)
		goto out;
	*keys = new_reply(req, c->node_id, c->job_id, c->round, "keys", &data);
	if (!*keys) {
		rc = fedc_fail(FEDC_ERR_NOMEM, "out of memory for the secure-aggregation keys");
		goto out;
	}
	c->active = true;
out:
	if (rc)
		end_session(c);
	pthread_mutex_unlock(&c->mu);
	fedc_buf_free(&data);
	return rc;
}

static int compare_peers(const void *a, const void *b)
{
	return strcmp(((const struct peer *)a)->keys.node_id, ((const struct peer *)b)->keys.node_id);
}

static struct peer *find_peer(struct secagg_client *c, const char *id)
{
	struct peer key;

	snprintf(key.keys.node_id, sizeof(key.keys.node_id), "%s", id);
	return bsearch(&key, c->peers, c->n_peers, sizeof(*c->peers), compare_peers);
}

/* The neighbours' keys, each signature checked; the neighbourhood sorted. */
static enum fedc_err take_keyset(struct secagg_client *c, const struct fedc_msg *req)
{
	struct fedc_secagg_keys *keys = calloc(FEDC_SECAGG_MAX_NEIGHBOURS, sizeof(*keys));
	uint8_t signed_bytes[FEDC_SECAGG_SIGNED_MAX];
	size_t n = 0;
	enum fedc_err rc = keys ? FEDC_OK : fedc_fail(FEDC_ERR_NOMEM, "out of memory for a keyset");

	if (!rc)
		rc = fedc_secagg_get_keys(req->secagg_data, req->secagg_data_len, keys, FEDC_SECAGG_MAX_NEIGHBOURS, &n);
	if (!rc && !c->peers_keyring && c->peer_keys_dir && c->peer_keys_dir[0])
		rc = load_peers(c); /* the first secure round since start */
	if (!rc && !c->peers_keyring)
		rc = fedc_fail(FEDC_ERR_CONFIG, "secure aggregation needs the other nodes' public keys: set "
			       "[security] peer_keys_dir (docs/provisioning.md)");
	/* a node enrolled after this one started: its key may be new on disk */
	for (size_t i = 0; !rc && i < n; i++) {
		if (!fedc_keyring_has(c->peers_keyring, keys[i].node_id)) {
			rc = load_peers(c);
			break;
		}
	}
	for (size_t i = 0; !rc && i < n; i++) {
		if (strcmp(keys[i].node_id, c->node_id) == 0) {
			rc = fedc_fail(FEDC_ERR_MALFORMED, "the keyset lists this node among its neighbours");
			break;
		}
		rc = fedc_keyring_verify(c->peers_keyring, keys[i].node_id, signed_bytes,
					 fedc_secagg_keys_signed(c->job_id, c->round, &keys[i], signed_bytes),
					 keys[i].sig);
		if (rc)
			rc = fedc_fail(FEDC_ERR_AUTH, "keyset: the keys of node %s: %s", keys[i].node_id,
				       fedc_last_error());
	}
	/* t must be a strict majority of the neighbourhood (this node included):
	 * then a researcher that tells some nodes "dropped" and others "alive"
	 * cannot collect t shares of both a node's secrets. */
	if (!rc && (n + 1 < c->threshold || 2 * (size_t)c->threshold <= n + 1))
		rc = fedc_fail(FEDC_ERR_INVAL, "keyset of %zu neighbours: threshold %" PRIu32 " is not a strict majority "
			       "of the %zu nodes it covers", n, c->threshold, n + 1);
	if (!rc) {
		c->peers = calloc(n ? n : 1, sizeof(*c->peers));
		if (!c->peers)
			rc = fedc_fail(FEDC_ERR_NOMEM, "out of memory for a keyset");
	}
	for (size_t i = 0; !rc && i < n; i++)
		c->peers[i].keys = keys[i];
	if (!rc) {
		c->n_peers = n;
		qsort(c->peers, n, sizeof(*c->peers), compare_peers);
		for (size_t i = 1; !rc && i < n; i++)
			if (strcmp(c->peers[i - 1].keys.node_id, c->peers[i].keys.node_id) == 0)
				rc = fedc_fail(FEDC_ERR_MALFORMED, "keyset lists node %s twice", c->peers[i].keys.node_id);
	}
	free(keys);
	return rc;
}

/* The keys of this round's shares between this node and peer p: *out
 * encrypts what this node sends p, p->in_key decrypts what p sends it; one
 * message each way, so a zero nonce is safe. aad gets the outgoing one's
 * context. */
static enum fedc_err share_keys(struct secagg_client *c, struct peer *p, uint8_t out[32], uint8_t *aad,
				size_t *aad_len)
{
	uint8_t in_info[FEDC_SECAGG_CONTEXT_MAX];
	size_t in_len = fedc_secagg_context("fedc secagg share", c->job_id, c->round, p->keys.node_id, c->node_id,
					    in_info);

	*aad_len = fedc_secagg_context("fedc secagg share", c->job_id, c->round, c->node_id, p->keys.node_id, aad);
	return fedc_secagg_agree_with(c->c_key, p->keys.c_pk, aad, *aad_len, out, in_info, in_len, p->in_key);
}

/* x of each member of the neighbourhood: its rank among the sorted ids of
 * the peers and this node, plus one. */
static uint8_t x_of(const struct secagg_client *c, const char *id)
{
	size_t rank = 0;

	for (size_t i = 0; i < c->n_peers; i++)
		rank += strcmp(c->peers[i].keys.node_id, id) < 0;
	rank += strcmp(c->node_id, id) < 0;
	return (uint8_t)(rank + 1);
}

static enum fedc_err make_shares(struct secagg_client *c, struct fedc_buf *data)
{
	const size_t members = c->n_peers + 1;
	uint8_t *b_shares = malloc(members * 32), *s_shares = malloc(members * 32);
	struct fedc_secagg_sealed *out = calloc(c->n_peers ? c->n_peers : 1, sizeof(*out));
	uint8_t plain[FEDC_SECAGG_SHARE_PLAIN], key[32], aad[FEDC_SECAGG_CONTEXT_MAX];
	size_t aad_len;
	enum fedc_err rc = b_shares && s_shares && out ? FEDC_OK
						       : fedc_fail(FEDC_ERR_NOMEM, "out of memory for the shares");

	if (!rc)
		rc = fedc_secagg_shamir_split(c->b, 32, c->threshold, (unsigned)members, b_shares);
	if (!rc)
		rc = fedc_secagg_shamir_split(c->s_sk, 32, c->threshold, (unsigned)members, s_shares);
	if (!rc) {
		c->own_x = x_of(c, c->node_id);
		memcpy(c->own_b_share, b_shares + (size_t)(c->own_x - 1) * 32, 32);
		memcpy(c->own_s_share, s_shares + (size_t)(c->own_x - 1) * 32, 32);
	}
	for (size_t i = 0; !rc && i < c->n_peers; i++) {
		const struct fedc_secagg_keys *v = &c->peers[i].keys;
		uint8_t x = x_of(c, v->node_id);


		plain[0] = x;
		memcpy(plain + 1, b_shares + (size_t)(x - 1) * 32, 32);
		memcpy(plain + 33, s_shares + (size_t)(x - 1) * 32, 32);
		snprintf(out[i].node_id, sizeof(out[i].node_id), "%s", v->node_id);
		rc = share_keys(c, &c->peers[i], key, aad, &aad_len);
		if (!rc)
			rc = fedc_secagg_seal(key, aad, aad_len, plain, sizeof(plain), out[i].ct);
	}
	if (!rc)
		rc = fedc_secagg_put_sealed(data, out, c->n_peers);
	OPENSSL_cleanse(plain, sizeof(plain));
	OPENSSL_cleanse(key, sizeof(key));
	if (b_shares)
		OPENSSL_cleanse(b_shares, members * 32);
	if (s_shares)
		OPENSSL_cleanse(s_shares, members * 32);
	free(b_shares);
	free(s_shares);
	free(out);
	return rc;
}

static enum fedc_err take_shares(struct secagg_client *c, const struct fedc_msg *req)
{
	struct fedc_secagg_sealed *in = calloc(FEDC_SECAGG_MAX_NEIGHBOURS, sizeof(*in));
	uint8_t plain[FEDC_SECAGG_SHARE_PLAIN], aad[FEDC_SECAGG_CONTEXT_MAX];
	size_t n = 0, aad_len, senders = 0;
	enum fedc_err rc = in ? FEDC_OK : fedc_fail(FEDC_ERR_NOMEM, "out of memory for shares");

	if (!rc)
		rc = fedc_secagg_get_sealed(req->secagg_data, req->secagg_data_len, in, FEDC_SECAGG_MAX_NEIGHBOURS, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		struct peer *p = find_peer(c, in[i].node_id);

		if (!p || p->sent_shares) {
			rc = fedc_fail(FEDC_ERR_MALFORMED, "shares: node %s is %s", in[i].node_id,
				       p ? "listed twice" : "not a neighbour in this round");
			break;
		}
		aad_len = fedc_secagg_context("fedc secagg share", c->job_id, c->round, p->keys.node_id, c->node_id,
					      aad);
		rc = fedc_secagg_open(p->in_key, aad, aad_len, in[i].ct, sizeof(in[i].ct), plain);
		if (rc) {
			rc = fedc_fail(FEDC_ERR_AUTH, "shares: the share from node %s does not decrypt", in[i].node_id);
			break;
		}
		if (plain[0] == 0) {
			rc = fedc_fail(FEDC_ERR_MALFORMED, "shares: node %s sent a share at x 0", in[i].node_id);
			break;
		}
		/* x is this node's place in the sender's neighbourhood, which
		 * (SecAgg+) need not be this node's own */
		p->sent_shares = true;
		p->x = plain[0];
		memcpy(p->b_share, plain + 1, 32);
		memcpy(p->s_share, plain + 33, 32);
		senders++;
	}
	/* This node and the senders are all that can answer for its secrets. */
	if (!rc && senders + 1 < c->threshold)
		rc = fedc_fail(FEDC_ERR_INVAL, "shares from %zu neighbours: fewer than the threshold %" PRIu32
			       " with this node", senders, c->threshold);
	OPENSSL_cleanse(plain, sizeof(plain));
	free(in);
	return rc;
}

static enum fedc_err answer_unmask(struct secagg_client *c, const struct fedc_msg *req, struct fedc_buf *data)
{
	struct fedc_secagg_share *want = calloc(FEDC_SECAGG_MAX_NEIGHBOURS + 1, sizeof(*want));
	size_t n = 0, alive = 0;
	enum fedc_err rc = want ? FEDC_OK : fedc_fail(FEDC_ERR_NOMEM, "out of memory for an unmask request");

	if (!rc)
		rc = fedc_secagg_get_shares(req->secagg_data, req->secagg_data_len, want,
					    FEDC_SECAGG_MAX_NEIGHBOURS + 1, &n, false);
	/* Each node named once: b of a survivor or s of a dropped one, never both. */
	for (size_t i = 0; !rc && i < n; i++) {
		const bool self = strcmp(want[i].node_id, c->node_id) == 0;
		const struct peer *p = self ? NULL : find_peer(c, want[i].node_id);

		for (size_t j = 0; !rc && j < i; j++)
			if (strcmp(want[j].node_id, want[i].node_id) == 0)
				rc = fedc_fail(FEDC_ERR_MALFORMED, "unmask names node %s twice", want[i].node_id);
		if (!rc && !self && (!p || !p->sent_shares))
			rc = fedc_fail(FEDC_ERR_MALFORMED, "unmask names node %s, whose shares this node does not hold",
				       want[i].node_id);
		if (!rc && self && want[i].kind != FEDC_SECAGG_KIND_B)
			rc = fedc_fail(FEDC_ERR_MALFORMED, "unmask asks for this node's own mask key");
		if (rc)
			break;
		alive += want[i].kind == FEDC_SECAGG_KIND_B;
		want[i].x = self ? c->own_x : p->x;
		memcpy(want[i].share,
		       self ? c->own_b_share : want[i].kind == FEDC_SECAGG_KIND_B ? p->b_share : p->s_share, 32);
	}
	/* SecAgg's check: fewer survivors than t would let the researcher learn
	 * an individual sum. */
	if (!rc && alive < c->threshold)
		rc = fedc_fail(FEDC_ERR_INVAL, "unmask with %zu survivors in this node's neighbourhood: fewer than the "
			       "threshold %" PRIu32, alive, c->threshold);
	if (!rc)
		rc = fedc_secagg_put_shares(data, want, n, true);
	if (want)
		OPENSSL_cleanse(want, (FEDC_SECAGG_MAX_NEIGHBOURS + 1) * sizeof(*want));
	free(want);
	return rc;
}

static enum fedc_err check_session(const struct secagg_client *c, const struct fedc_msg *req)
{
	if (!c->active || strcmp(req->job_id, c->job_id) != 0 || req->round != c->round ||
	    strcmp(req->researcher_id, c->researcher_id) != 0)
		return fedc_fail(FEDC_ERR_INVAL, "no secure-aggregation session for job %s round %" PRIu64
			       " of researcher %s on this node", req->job_id, req->round, req->researcher_id);
	return FEDC_OK;
}

enum fedc_err secagg_client__handle(struct secagg_client *c, const struct fedc_msg *req, struct fedc_msg **reply)
{
	struct fedc_buf data = FEDC_BUF_INIT(FEDC_MAX_SECAGG_DATA);
	const char *step = req->secagg_step;
	enum fedc_err rc;

	*reply = NULL;
	pthread_mutex_lock(&c->mu);
	rc = check_session(c, req);
	if (rc)
		goto out;
	if (strcmp(step, "abort") == 0) {
		end_session(c);
		c->aborted = true;
		pthread_cond_broadcast(&c->cv);
		goto out;
	}
	if (strcmp(step, "keyset") == 0 && !c->got_keyset) {
		rc = take_keyset(c, req);
		if (!rc)
			rc = make_shares(c, &data);
		if (!rc) {
			c->got_keyset = true;
			*reply = new_reply(req, c->node_id, c->job_id, c->round, "shares", &data);
		}
	} else if (strcmp(step, "shares") == 0 && c->got_keyset && !c->got_shares) {
		rc = take_shares(c, req);
		c->got_shares = rc == FEDC_OK;
		pthread_cond_broadcast(&c->cv);
	} else if (strcmp(step, "unmask") == 0 && c->got_shares && !c->answered) {
		rc = answer_unmask(c, req, &data);
		c->answered = rc == FEDC_OK; /* never a second answer, whatever it asks */
		if (!rc)
			*reply = new_reply(req, c->node_id, c->job_id, c->round, "unmask", &data);
	} else {
		rc = fedc_fail(FEDC_ERR_INVAL, "secure-aggregation step \"%s\" out of order (or repeated)", step);
	}
	if (!rc && (strcmp(step, "keyset") == 0 || strcmp(step, "unmask") == 0) && !*reply)
		rc = fedc_fail(FEDC_ERR_NOMEM, "out of memory for a secure-aggregation reply");
	if (rc && strcmp(step, "unmask") != 0) {
		/* A session that went wrong before masking cannot take part any more. */
		end_session(c);
		c->aborted = true;
		pthread_cond_broadcast(&c->cv);
	}
out:
	pthread_mutex_unlock(&c->mu);
	fedc_buf_free(&data);
	return rc;
}

void secagg_client__preempt(struct secagg_client *c, const struct fedc_msg *train)
{
	pthread_mutex_lock(&c->mu);
	if (c->active && !c->got_shares && strcmp(train->request_id, c->request_id) != 0 &&
	    strcmp(train->researcher_id, c->researcher_id) == 0 && strcmp(train->job_id, c->job_id) == 0) {
		fedc_info("secure aggregation: job %s round %" PRIu64 " given up: its researcher sent round %" PRIu64
			  " again or moved on", c->job_id, c->round, train->round);
		end_session(c);
		c->aborted = true;
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
}

/* ---- masking ---- */

static enum fedc_err wait_for_shares(struct secagg_client *c, int64_t timeout_ms, const volatile int *cancel)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	for (;;) {
		if (c->got_shares)
			return FEDC_OK;
		if (c->aborted || !c->active)
			return fedc_fail(FEDC_ERR_INTERRUPTED, "the researcher ended this node's part of the secure "
				       "aggregation before its shares arrived");
		if (timeout_ms <= 0)
			return fedc_fail(FEDC_ERR_TIMEOUT, "no secure-aggregation shares from the researcher in time");
		if (cancel && *cancel)
			return fedc_fail(FEDC_ERR_INTERRUPTED, "stopping");
		/* 200 ms steps: the cancel flag is polled */
		fedc_timespec_add_ms(&until, 200);
		pthread_cond_timedwait(&c->cv, &c->mu, &until);
		timeout_ms -= 200;
	}
}

/* The ring the request asks for: 32 or 64 bits (absent: 64, as before the
 * field existed; the decoder refuses any other value). */
static unsigned ring_bits(const struct fedc_msg *req)
{
	return fedc_msg_has(req, FEDC_F_SECAGG_RING_BITS) && req->secagg_ring_bits == 32 ? 32u : 64u;
}

/* Encodes every tensor (all f32) into v[0..total-1] and the weight after,
 * as uint64_t or, in the 32-bit ring, uint32_t values. */
static enum fedc_err encode_update(const struct fedc_params *p, const struct fedc_msg *req, uint64_t weight,
				   void *v, uint64_t total)
{
	const struct fedc_tensor *t = fedc_params_tensors(p);
	const bool r32 = ring_bits(req) == 32;
	uint64_t at = 0;
	enum fedc_err rc = FEDC_OK;

	if (weight > req->secagg_weight_max)
		return fedc_fail(FEDC_ERR_INVAL, "weight %" PRIu64 " over secagg_weight_max %" PRIu64, weight,
				 req->secagg_weight_max);
	/* The weights' sum decodes as a non-negative int32: the researcher
	 * chose the ring with parties * weight_max < 2^31. */
	if (r32 && weight > INT32_MAX)
		return fedc_fail(FEDC_ERR_INVAL, "weight %" PRIu64 " does not fit the 32-bit ring", weight);
	for (size_t i = 0; !rc && i < fedc_params_count(p); i++) {
		uint64_t n = fedc_tensor_elements(&t[i]);

		if (t[i].dtype != FEDC_DTYPE_F32)
			return fedc_fail(FEDC_ERR_INVAL, "tensor %s is not f32", t[i].name);
		if (r32)
			rc = fedc_secagg_encode_32(t[i].data, (size_t)n, weight, req->secagg_value_max,
						   (uint32_t)req->secagg_scale_bits, (uint32_t *)v + at);
		else
			rc = fedc_secagg_encode(t[i].data, (size_t)n, weight, req->secagg_value_max,
						(uint32_t)req->secagg_scale_bits, (uint64_t *)v + at);
		if (rc)
			rc = fedc_fail(rc, "tensor %s: %s (secagg_value_max %g)", t[i].name, fedc_last_error(),
				       req->secagg_value_max);
		at += n;
	}
	if (!rc && at != total)
		rc = fedc_fail(FEDC_ERR_INVAL, "update of %" PRIu64 " values, expected %" PRIu64, at, total);
	if (r32)
		((uint32_t *)v)[total] = (uint32_t)weight;
	else
		((uint64_t *)v)[total] = weight;
	return rc;
}

static uint64_t count_values(const struct fedc_params *p)
{
	uint64_t n = 0;

	for (size_t i = 0; i < fedc_params_count(p); i++)
		n += fedc_tensor_elements(&fedc_params_tensors(p)[i]);
	return n;
}

/* v += PRG(b) + sum over the neighbours that sent shares of +-PRG(s_uv):
 * + when this node's id sorts first. */
static enum fedc_err mask(void *v, size_t n, bool r32, const uint8_t seed[32], int sign)
{
	return r32 ? fedc_secagg_mask_32(v, n, seed, sign) : fedc_secagg_mask(v, n, seed, sign);
}

static enum fedc_err add_masks(struct secagg_client *c, void *v, size_t n, bool r32)
{
	uint8_t seed[32], info[FEDC_SECAGG_CONTEXT_MAX];
	enum fedc_err rc = mask(v, n, r32, c->b, +1);

	for (size_t i = 0; !rc && i < c->n_peers; i++) {
		const struct peer *p = &c->peers[i];
		const bool first = strcmp(c->node_id, p->keys.node_id) < 0;
		size_t len;

		if (!p->sent_shares)
			continue;
		len = fedc_secagg_context("fedc secagg mask", c->job_id, c->round,
					  first ? c->node_id : p->keys.node_id, first ? p->keys.node_id : c->node_id,
					  info);
		rc = fedc_secagg_agree_with(c->s_key, p->keys.s_pk, info, len, seed, NULL, 0, NULL);
		if (!rc)
			rc = mask(v, n, r32, seed, first ? +1 : -1);
	}
	OPENSSL_cleanse(seed, sizeof(seed));
	return rc;
}

/* The masked vector's room for n values of `size` bytes, grown (never
 * shrunk) across rounds. */
static enum fedc_err reserve(struct secagg_client *c, uint64_t n, size_t size)
{
	void *grown;

	if (n >= SIZE_MAX / size)
		return fedc_fail(FEDC_ERR_TOO_BIG, "update of %" PRIu64 " values", n);
	if ((size_t)n * size <= c->vec_bytes)
		return FEDC_OK;
	grown = realloc(c->vec, (size_t)n * size);
	if (!grown)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for the masked update");
	c->vec = grown;
	c->vec_bytes = (size_t)n * size;
	return FEDC_OK;
}

/* The masked vector as a parameter file in the kept memfd, from its start. */
static enum fedc_err write_masked(struct secagg_client *c, uint64_t n, bool r32)
{
	struct fedc_tensor masked = { "secagg.masked", r32 ? FEDC_DTYPE_U32 : FEDC_DTYPE_U64, 1, { n }, c->vec };
	enum fedc_err rc = FEDC_OK;

	if (c->masked_fd < 0) {
		c->masked_fd = memfd_create("fedc-masked-update", MFD_CLOEXEC);
		if (c->masked_fd < 0)
			return fedc_fail(FEDC_ERR_IO, "memfd for the masked update: %s", strerror(errno));
	}
	rc = fedc_fd_rewind(c->masked_fd, "the masked update");
	if (!rc)
		rc = fedc_params_write_fd(c->masked_fd, &masked, 1);
	if (!rc)
		rc = fedc_fd_cut_here(c->masked_fd, "the masked update");
	return rc;
}

enum fedc_err secagg_client__mask(struct secagg_client *c, const struct fedc_msg *req, int update_fd,
				  uint64_t weight, int64_t timeout_ms, const volatile int *cancel, int *out_fd)
{
	struct fedc_params *update = NULL;
	const bool r32 = ring_bits(req) == 32;
	uint64_t total = 0;
	enum fedc_err rc = fedc_params_open_fd(update_fd, &update);

	*out_fd = -1;
	if (rc)
		return fedc_fail(rc, "the update: %s", fedc_last_error());
	total = count_values(update);
	rc = reserve(c, total + 1, r32 ? sizeof(uint32_t) : sizeof(uint64_t));
	if (!rc)
		rc = encode_update(update, req, weight, c->vec, total);
	fedc_params_close(update);
	pthread_mutex_lock(&c->mu);
	if (!rc)
		rc = check_session(c, req);
	if (!rc)
		rc = wait_for_shares(c, timeout_ms, cancel);
	if (!rc)
		rc = add_masks(c, c->vec, (size_t)(total + 1), r32);
	pthread_mutex_unlock(&c->mu);
	if (!rc)
		rc = write_masked(c, total + 1, r32);
	if (!rc)
		*out_fd = c->masked_fd;
	return rc;
}
