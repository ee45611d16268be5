/* The researcher's side of one round's secure aggregation: secagg_round.h. */
#include "secagg_round.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/limits.h"
#include "fedc/secagg.h"
#include "fedc/secagg_wire.h"

struct sa_node {
	char id[FEDC_MAX_ID_LEN + 1];
	bool has_keys, has_shares, masked, answered;
	struct fedc_secagg_keys keys;
	size_t *nbr;                      /* indices into nodes[], ascending (so by id) */
	size_t n_nbr;
	struct fedc_secagg_sealed *sealed; /* what it sent each neighbour, n_sealed */
	size_t n_sealed;
	struct fedc_secagg_share *answers; /* its unmask answers, n_answers */
	size_t n_answers;
};

struct secagg_round {
	struct secagg_round_cfg cfg;
	char job_id[FEDC_UUID_STRLEN + 1];
	struct sa_node *nodes; /* n, sorted by id */
	size_t n;
	bool keys_closed, shares_closed;
	/* cfg.n_values + 1 words: sum64 (mod 2^64) or sum32 (mod 2^32), by
	 * cfg.ring_bits; the other is NULL */
	uint64_t *sum64;
	uint32_t *sum32;
	bool own_sum;          /* allocated here (cfg.sum was NULL) */
	size_t n_masked;
};

static int compare_nodes(const void *a, const void *b)
{
	return strcmp(((const struct sa_node *)a)->id, ((const struct sa_node *)b)->id);
}

static struct sa_node *find(const struct secagg_round *r, const char *id)
{
	struct sa_node key;

	snprintf(key.id, sizeof(key.id), "%s", id);
	return bsearch(&key, r->nodes, r->n, sizeof(*r->nodes), compare_nodes);
}

uint32_t secagg_round__default_threshold(size_t n, uint32_t neighbours)
{
	size_t degree = neighbours == 0 || neighbours >= n ? (n ? n - 1 : 0) : neighbours;

	return (uint32_t)((degree + 1) / 2 + 1);
}

enum fedc_err secagg_round__new(const struct secagg_round_cfg *cfg, const char *const *ids, size_t n,
				struct secagg_round **out)
{
	struct secagg_round *r = calloc(1, sizeof(*r));
	enum fedc_err rc = FEDC_OK;
	void *sum = NULL;
	size_t word;

	if (!r)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for secure aggregation");
	r->cfg = *cfg;
	snprintf(r->job_id, sizeof(r->job_id), "%s", cfg->job_id);
	r->cfg.job_id = r->job_id;
	if (r->cfg.ring_bits == 0)
		r->cfg.ring_bits = 64;
	word = r->cfg.ring_bits == 32 ? sizeof(uint32_t) : sizeof(uint64_t);
	r->nodes = calloc(n ? n : 1, sizeof(*r->nodes));
	if (r->cfg.ring_bits != 32 && r->cfg.ring_bits != 64)
		rc = fedc_fail(FEDC_ERR_INVAL, "secure aggregation in a ring of %u bits (32 or 64)", r->cfg.ring_bits);
	if (!rc && cfg->n_values >= SIZE_MAX / sizeof(uint64_t) - 1)
		rc = fedc_fail(FEDC_ERR_TOO_BIG, "a model of %" PRIu64 " values", cfg->n_values);
	if (!rc && cfg->sum) {
		sum = cfg->sum;
		memset(sum, 0, ((size_t)cfg->n_values + 1) * word);
	} else if (!rc) {
		sum = calloc((size_t)cfg->n_values + 1, word);
		r->own_sum = true;
	}
	if (word == sizeof(uint32_t))
		r->sum32 = sum;
	else
		r->sum64 = sum;
	if (!rc && (!r->nodes || !sum))
		rc = fedc_fail(FEDC_ERR_NOMEM, "out of memory for secure aggregation");
	for (size_t i = 0; !rc && i < n; i++)
		snprintf(r->nodes[i].id, sizeof(r->nodes[i].id), "%s", ids[i]);
	if (!rc) {
		r->n = n;
		qsort(r->nodes, n, sizeof(*r->nodes), compare_nodes);
		*out = r;
		return FEDC_OK;
	}
	secagg_round__free(r);
	return rc;
}

void secagg_round__free(struct secagg_round *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->nodes[i].nbr);
		free(r->nodes[i].sealed);
		if (r->nodes[i].answers)
			OPENSSL_cleanse(r->nodes[i].answers, r->nodes[i].n_answers * sizeof(*r->nodes[i].answers));
		free(r->nodes[i].answers);
	}
	free(r->nodes);
	if (r->own_sum) {
		free(r->sum64);
		free(r->sum32);
	}
	free(r);
}

bool secagg_round__has_keys(const struct secagg_round *r, const char *id)
{
	const struct sa_node *v = find(r, id);

	return v && v->has_keys;
}

bool secagg_round__has_shares(const struct secagg_round *r, const char *id)
{
	const struct sa_node *v = find(r, id);

	return v && v->has_shares;
}

bool secagg_round__has_masked(const struct secagg_round *r, const char *id)
{
	const struct sa_node *v = find(r, id);

	return v && v->masked;
}

bool secagg_round__keys_closed(const struct secagg_round *r)
{
	return r->keys_closed;
}

bool secagg_round__shares_closed(const struct secagg_round *r)
{
	return r->shares_closed;
}

size_t secagg_round__n_masked(const struct secagg_round *r)
{
	return r->n_masked;
}

/* ---- keys ---- */

enum fedc_err secagg_round__on_keys(struct secagg_round *r, const char *node_id, const void *data, size_t len)
{
	struct sa_node *v = find(r, node_id);
	struct fedc_secagg_keys k;
	uint8_t signed_bytes[FEDC_SECAGG_SIGNED_MAX];
	size_t n = 0;
	enum fedc_err rc;

	if (!v || v->has_keys || r->keys_closed)
		return fedc_fail(FEDC_ERR_INVAL, "keys from %s: %s", node_id,
				 !v ? "not a node of this round" : v->has_keys ? "sent twice" : "too late");
	rc = fedc_secagg_get_keys(data, len, &k, 1, &n);
	if (!rc && (n != 1 || strcmp(k.node_id, node_id) != 0))
		rc = fedc_fail(FEDC_ERR_MALFORMED, "keys from %s: not one entry of its own", node_id);
	/* A bad signature would make every other node refuse the keyset: it is
	 * left out here rather than spoil the round. */
	if (!rc && r->cfg.keys)
		rc = fedc_keyring_verify(r->cfg.keys, node_id, signed_bytes,
					 fedc_secagg_keys_signed(r->job_id, r->cfg.round, &k, signed_bytes), k.sig);
	if (rc)
		return rc;
	v->keys = k;
	v->has_keys = true;
	return FEDC_OK;
}

/* x of node index w in the neighbourhood of o (o and its neighbours,
 * ascending): its rank plus one. */
static uint8_t x_in(const struct secagg_round *r, size_t o, size_t w)
{
	const struct sa_node *v = &r->nodes[o];
	size_t rank = o < w;

	for (size_t i = 0; i < v->n_nbr; i++)
		rank += v->nbr[i] < w;
	return (uint8_t)(rank + 1);
}

enum fedc_err secagg_round__close_keys(struct secagg_round *r, size_t min)
{
	size_t *u1 = calloc(r->n ? r->n : 1, sizeof(*u1)), n1 = 0;
	uint32_t *out = calloc(r->n ? r->n : 1, sizeof(*out));
	enum fedc_err rc = u1 && out ? FEDC_OK : fedc_fail(FEDC_ERR_NOMEM, "out of memory for the graph");

	r->keys_closed = true;
	for (size_t i = 0; !rc && i < r->n; i++)
		if (r->nodes[i].has_keys)
			u1[n1++] = i;
	if (!rc && (n1 < min || n1 < 2))
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "secure aggregation: keys from %zu node(s), at least %zu needed", n1,
			       min < 2 ? 2 : min);
	for (size_t i = 0; !rc && i < n1; i++) {
		struct sa_node *v = &r->nodes[u1[i]];
		uint32_t k = r->cfg.neighbours == 0 ? (uint32_t)n1 : r->cfg.neighbours, count = 0;

		fedc_secagg_neighbours((uint32_t)n1, k, r->cfg.graph_seed, (uint32_t)i, out, &count);
		if (count > FEDC_SECAGG_MAX_NEIGHBOURS || count + 1 < r->cfg.threshold) {
			rc = fedc_fail(FEDC_ERR_NOT_FOUND, "secure aggregation: node %s has %u neighbours, the threshold "
				       "is %u", v->id, count, r->cfg.threshold);
			break;
		}
		v->nbr = calloc(count ? count : 1, sizeof(*v->nbr));
		if (!v->nbr) {
			rc = fedc_fail(FEDC_ERR_NOMEM, "out of memory for the graph");
			break;
		}
		for (uint32_t j = 0; j < count; j++)
			v->nbr[j] = u1[out[j]];
		v->n_nbr = count;
	}
	free(u1);
	free(out);
	return rc;
}

enum fedc_err secagg_round__keyset_for(const struct secagg_round *r, const char *node_id, struct fedc_buf *out)
{
	const struct sa_node *v = find(r, node_id);
	struct fedc_secagg_keys *keys;
	enum fedc_err rc;

	if (!v || !v->has_keys || !r->keys_closed)
		return fedc_fail(FEDC_ERR_INVAL, "no keyset for %s", node_id);
	keys = calloc(v->n_nbr ? v->n_nbr : 1, sizeof(*keys));
	if (!keys)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for a keyset");
	for (size_t i = 0; i < v->n_nbr; i++)
		keys[i] = r->nodes[v->nbr[i]].keys;
	rc = fedc_secagg_put_keys(out, keys, v->n_nbr);
	free(keys);
	return rc;
}

/* ---- shares ---- */

enum fedc_err secagg_round__on_shares(struct secagg_round *r, const char *node_id, const void *data, size_t len)
{
	struct sa_node *v = find(r, node_id);
	struct fedc_secagg_sealed *in;
	size_t n = 0;
	enum fedc_err rc;

	if (!v || !v->n_nbr || v->has_shares || r->shares_closed)
		return fedc_fail(FEDC_ERR_INVAL, "shares from %s: %s", node_id,
				 !v || !v->n_nbr ? "not in the keyset" : v->has_shares ? "sent twice" : "too late");
	in = calloc(v->n_nbr, sizeof(*in));
	if (!in)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for shares");
	rc = fedc_secagg_get_sealed(data, len, in, v->n_nbr, &n);
	/* One share for each neighbour, in its order. */
	if (!rc && n != v->n_nbr)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "shares from %s: %zu, it has %zu neighbours", node_id, n, v->n_nbr);
	for (size_t i = 0; !rc && i < n; i++)
		if (strcmp(in[i].node_id, r->nodes[v->nbr[i]].id) != 0)
			rc = fedc_fail(FEDC_ERR_MALFORMED, "shares from %s: entry %zu is for %s, expected %s", node_id,
				       i, in[i].node_id, r->nodes[v->nbr[i]].id);
	if (rc) {
		free(in);
		return rc;
	}
	v->sealed = in;
	v->n_sealed = n;
	v->has_shares = true;
	return FEDC_OK;
}

enum fedc_err secagg_round__close_shares(struct secagg_round *r, size_t min)
{
	size_t n2 = 0;

	r->shares_closed = true;
	for (size_t i = 0; i < r->n; i++)
		n2 += r->nodes[i].has_shares;
	if (n2 < min || n2 < 2)
		return fedc_fail(FEDC_ERR_NOT_FOUND, "secure aggregation: shares from %zu node(s), at least %zu needed",
				 n2, min < 2 ? 2 : min);
	return FEDC_OK;
}

enum fedc_err secagg_round__shares_for(const struct secagg_round *r, const char *node_id, struct fedc_buf *out)
{
	const struct sa_node *v = find(r, node_id);
	struct fedc_secagg_sealed *fwd;
	size_t n = 0, me;
	enum fedc_err rc;

	if (!v || !v->has_shares || !r->shares_closed)
		return fedc_fail(FEDC_ERR_INVAL, "no shares for %s", node_id);
	me = (size_t)(v - r->nodes);
	fwd = calloc(v->n_nbr ? v->n_nbr : 1, sizeof(*fwd));
	if (!fwd)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for shares");
	for (size_t i = 0; i < v->n_nbr; i++) {
		const struct sa_node *u = &r->nodes[v->nbr[i]];

		if (!u->has_shares)
			continue;
		for (size_t j = 0; j < u->n_nbr; j++) {
			if (u->nbr[j] != me)
				continue;
			snprintf(fwd[n].node_id, sizeof(fwd[n].node_id), "%s", u->id);
			memcpy(fwd[n].ct, u->sealed[j].ct, sizeof(fwd[n].ct));
			n++;
		}
	}
	rc = fedc_secagg_put_sealed(out, fwd, n);
	free(fwd);
	return rc;
}

/* ---- masked vectors ---- */

enum fedc_err secagg_round__check_masked(const struct secagg_round *r, const struct fedc_params *masked)
{
	const struct fedc_tensor *t = fedc_params_tensors(masked);
	const uint32_t dtype = r->sum32 ? FEDC_DTYPE_U32 : FEDC_DTYPE_U64;

	if (fedc_params_count(masked) != 1 || strcmp(t[0].name, "secagg.masked") != 0 || t[0].dtype != dtype ||
	    t[0].ndim != 1 || t[0].shape[0] != r->cfg.n_values + 1)
		return fedc_fail(FEDC_ERR_MALFORMED, "not a masked vector of %" PRIu64 " values (one %s tensor "
				 "\"secagg.masked\")", r->cfg.n_values + 1, fedc_dtype_name(dtype));
	return FEDC_OK;
}

enum fedc_err secagg_round__add_masked(struct secagg_round *r, const char *node_id, struct fedc_params *masked)
{
	struct sa_node *v = find(r, node_id);
	enum fedc_err rc = secagg_round__check_masked(r, masked);

	if (!rc && (!v || !v->has_shares || v->masked || !r->shares_closed))
		rc = fedc_fail(FEDC_ERR_INVAL, "masked vector from %s: %s", node_id,
			       v && v->masked ? "sent twice" : "its shares were not forwarded");
	if (!rc && r->sum32) {
		const uint32_t *x = fedc_params_tensors(masked)[0].data;
		const size_t n = (size_t)r->cfg.n_values + 1;

		for (size_t i = 0; i < n; i++)
			r->sum32[i] += x[i];
	} else if (!rc) {
		const uint64_t *x = fedc_params_tensors(masked)[0].data;
		const size_t n = (size_t)r->cfg.n_values + 1;

		for (size_t i = 0; i < n; i++)
			r->sum64[i] += x[i];
	}
	if (!rc) {
		v->masked = true;
		r->n_masked++;
	}
	fedc_params_close(masked);
	return rc;
}

/* ---- unmasking ---- */

enum fedc_err secagg_round__unmask_for(const struct secagg_round *r, const char *node_id, struct fedc_buf *out)
{
	const struct sa_node *v = find(r, node_id);
	struct fedc_secagg_share *want;
	size_t n = 0;
	enum fedc_err rc;

	if (!v || !v->masked)
		return fedc_fail(FEDC_ERR_INVAL, "no unmask request for %s", node_id);
	want = calloc(v->n_nbr + 1, sizeof(*want));
	if (!want)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for an unmask request");
	snprintf(want[n].node_id, sizeof(want[n].node_id), "%s", v->id);
	want[n++].kind = FEDC_SECAGG_KIND_B;
	for (size_t i = 0; i < v->n_nbr; i++) {
		const struct sa_node *u = &r->nodes[v->nbr[i]];

		if (!u->has_shares)
			continue;
		snprintf(want[n].node_id, sizeof(want[n].node_id), "%s", u->id);
		want[n++].kind = u->masked ? FEDC_SECAGG_KIND_B : FEDC_SECAGG_KIND_S;
	}
	rc = fedc_secagg_put_shares(out, want, n, false);
	free(want);
	return rc;
}

enum fedc_err secagg_round__on_unmask(struct secagg_round *r, const char *node_id, const void *data, size_t len)
{
	struct sa_node *v = find(r, node_id);
	struct fedc_secagg_share *in;
	size_t n = 0;
	enum fedc_err rc;

	if (!v || !v->masked || v->answered)
		return fedc_fail(FEDC_ERR_INVAL, "unmask answer from %s: %s", node_id,
				 v && v->answered ? "sent twice" : "not asked");
	in = calloc(v->n_nbr + 1, sizeof(*in));
	if (!in)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for shares");
	rc = fedc_secagg_get_shares(data, len, in, v->n_nbr + 1, &n, true);
	if (rc) {
		free(in);
		return rc;
	}
	v->answers = in;
	v->n_answers = n;
	v->answered = true;
	return FEDC_OK;
}

/* Up to t shares of `owner`'s secret of `kind` from the answers, each at the
 * x it must have; returns how many were found. */
static unsigned gather(const struct secagg_round *r, size_t owner, uint8_t kind, uint8_t *xs,
		       const uint8_t **shares)
{
	const struct sa_node *o = &r->nodes[owner];
	unsigned found = 0;

	/* the owner, then its neighbours: no one else holds its shares */
	for (size_t k = 0; k <= o->n_nbr && found < r->cfg.threshold; k++) {
		const size_t w = k == 0 ? owner : o->nbr[k - 1];
		const struct sa_node *a = &r->nodes[w];

		for (size_t i = 0; a->answered && i < a->n_answers; i++) {
			const struct fedc_secagg_share *s = &a->answers[i];

			if (s->kind != kind || strcmp(s->node_id, o->id) != 0 || s->x != x_in(r, owner, w))
				continue;
			xs[found] = s->x;
			shares[found++] = s->share;
			break;
		}
	}
	return found;
}

/* Whose secrets the sum needs: every survivor's seed, and the mask key of
 * every dropped node with a surviving neighbour. */
static bool needs(const struct secagg_round *r, size_t i, uint8_t *kind)
{
	const struct sa_node *v = &r->nodes[i];

	if (!v->has_shares)
		return false;
	*kind = v->masked ? FEDC_SECAGG_KIND_B : FEDC_SECAGG_KIND_S;
	if (v->masked)
		return true;
	for (size_t j = 0; j < v->n_nbr; j++)
		if (r->nodes[v->nbr[j]].masked)
			return true;
	return false;
}

bool secagg_round__can_finish(const struct secagg_round *r)
{
	uint8_t xs[256], kind;
	const uint8_t *shares[256];

	for (size_t i = 0; i < r->n; i++)
		if (needs(r, i, &kind) && gather(r, i, kind, xs, shares) < r->cfg.threshold)
			return false;
	return r->n_masked > 0;
}

/* sum -= PRG(seed) (sign < 0) or += (sign > 0), in the round's ring. */
static enum fedc_err mask_sum(struct secagg_round *r, const uint8_t seed[32], int sign)
{
	const size_t n = (size_t)r->cfg.n_values + 1;

	return r->sum32 ? fedc_secagg_mask_32(r->sum32, n, seed, sign) : fedc_secagg_mask(r->sum64, n, seed, sign);
}

/* Takes the pairwise masks between dropped node d (mask key s_sk) and its
 * surviving neighbours out of the sum. */
static enum fedc_err remove_pair_masks(struct secagg_round *r, size_t d, const uint8_t s_sk[32])
{
	const struct sa_node *v = &r->nodes[d];
	uint8_t info[FEDC_SECAGG_CONTEXT_MAX], seed[32];
	struct fedc_secagg_private *key = NULL;
	enum fedc_err rc = fedc_secagg_private_new(s_sk, &key);

	for (size_t j = 0; !rc && j < v->n_nbr; j++) {
		const struct sa_node *u = &r->nodes[v->nbr[j]];
		const bool u_first = strcmp(u->id, v->id) < 0;
		size_t len;

		if (!u->masked)
			continue;
		len = fedc_secagg_context("fedc secagg mask", r->job_id, r->cfg.round, u_first ? u->id : v->id,
					  u_first ? v->id : u->id, info);
		rc = fedc_secagg_agree_with(key, u->keys.s_pk, info, len, seed, NULL, 0, NULL);
		/* u added +PRG when its id sorts first: take it back out */
		if (!rc)
			rc = mask_sum(r, seed, u_first ? -1 : +1);
	}
	OPENSSL_cleanse(seed, sizeof(seed));
	fedc_secagg_private_free(key);
	return rc;
}

enum fedc_err secagg_round__finish(struct secagg_round *r, double **sum, uint64_t *weight, size_t *contributors)
{
	uint8_t xs[256], secret[32], kind;
	const uint8_t *shares[256];
	enum fedc_err rc = FEDC_OK;
	double *out = NULL;
	uint64_t total = 0;

	*sum = NULL;
	for (size_t i = 0; !rc && i < r->n; i++) {
		unsigned got;

		if (!needs(r, i, &kind))
			continue;
		got = gather(r, i, kind, xs, shares);
		if (got < r->cfg.threshold) {
			rc = fedc_fail(FEDC_ERR_NOT_FOUND, "secure aggregation: %u of the %u shares needed to remove the "
				       "masks of node %s came back", got, r->cfg.threshold, r->nodes[i].id);
			break;
		}
		rc = fedc_secagg_shamir_combine(xs, shares, got, sizeof(secret), secret);
		if (!rc && kind == FEDC_SECAGG_KIND_B)
			rc = mask_sum(r, secret, -1);
		else if (!rc)
			rc = remove_pair_masks(r, i, secret);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	if (!rc) {
		out = malloc((size_t)(r->cfg.n_values ? r->cfg.n_values : 1) * sizeof(*out));
		if (!out)
			rc = fedc_fail(FEDC_ERR_NOMEM, "out of memory for the sum");
	}
	total = r->sum32 ? r->sum32[r->cfg.n_values] : r->sum64[r->cfg.n_values];
	if (!rc && total == 0)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "secure aggregation: the total weight is 0");
	/* In the 32-bit ring the weights add up below 2^31 (parties * weight_max
	 * < 2^31, checked when the ring was chosen): more means a wrong mask
	 * or a node past secagg_weight_max. */
	if (!rc && r->sum32 && total > INT32_MAX)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "secure aggregation: the total weight %" PRIu64 " is over 2^31 "
			       "in the 32-bit ring", total);
	if (rc) {
		free(out);
		return rc;
	}
	if (r->sum32)
		fedc_secagg_decode_32(r->sum32, (size_t)r->cfg.n_values, r->cfg.scale_bits, out);
	else
		fedc_secagg_decode(r->sum64, (size_t)r->cfg.n_values, r->cfg.scale_bits, out);
	*sum = out;
	*weight = total;
	*contributors = r->n_masked;
	return FEDC_OK;
}
