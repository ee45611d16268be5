/* Fuzz target: the secure-aggregation step decoders (fedc/secagg_wire.h) and
 * the researcher's round state machine that outside bytes reach through them
 * (researcher/secagg_round.c).
 *
 * Input: one selector byte, then the `data` of a `secagg` / `secagg-reply`
 * message. The selector's low 2 bits pick the decoder: 0 keys, 1 sealed
 * shares, 2 share requests (no share), 3 share answers (with share). Beyond
 * "no crash, no leak": a refusal is FEDC_ERR_MALFORMED; what decodes has at
 * most `cap` entries, valid ids, kind 0 or 1 and (answers) x > 0; it
 * decodes with cap = its count and not with one less; put_* of it decodes
 * to the same entries and encodes again to the same bytes.
 *
 * Then every input drives one researcher round over three fixed nodes
 * (sorted: ROUND_IDS), n_values 8, no keyring (signatures are not checked):
 * the data goes to on_keys, on_shares and on_unmask of each node in turn;
 * a node the data did not satisfy gets a valid step from the harness, so
 * that each stage is reached whatever the bytes. Selector bits 2-3 pick a
 * node (1-3) that sends no shares, bits 4-5 one that sends no masked
 * vector, bit 6 threshold 3 instead of 2. Checked: every step that the
 * harness builds right is accepted, what the researcher sends decodes, and
 * can_finish() agrees with finish(). */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/buf.h"
#include "fedc/id.h"
#include "fedc/log.h"
#include "fedc/params.h"
#include "fedc/secagg_wire.h"
#include "fuzz.h"
#include "secagg_round.h"

/* Room for whatever a decoder may be asked for: a neighbourhood of 255. */
#define CAP (FEDC_SECAGG_MAX_NEIGHBOURS + 1)
#define N_NODES 3
#define N_VALUES 8
#define JOB_ID "6f1c2a4e-9d3b-4c5a-8e7f-0a1b2c3d4e5f"

/* Sorted, as the round keeps them: index = rank. */
static const char *const ROUND_IDS[N_NODES] = { "fuzz-a", "fuzz-b", "fuzz-c" };

enum form { FORM_KEYS, FORM_SEALED, FORM_REQUEST, FORM_ANSWER };

/* Decoded entries, two sets (input and round trip); static: 255 keys are
 * about 50 KiB. */
static union entries {
	struct fedc_secagg_keys keys[CAP];
	struct fedc_secagg_sealed sealed[CAP];
	struct fedc_secagg_share shares[CAP];
} first, second;

/* The masked vector every node sends: a parameter file in memory, written
 * once (fedc_params_from_buffer needs memory that outlives each use). */
static uint8_t *masked_file;
static size_t masked_len;

static void free_masked(void)
{
	free(masked_file);
	masked_file = NULL;
}

static void init_once(void)
{
	uint64_t v[N_VALUES + 1];
	struct fedc_tensor t = { .name = "secagg.masked", .dtype = FEDC_DTYPE_U64, .ndim = 1,
				 .shape = { N_VALUES + 1 }, .data = v };
	char path[PATH_MAX];
	FILE *f;
	long size = 0;

	if (masked_file)
		return;
	fuzz_quiet_logs();
	for (size_t i = 0; i < N_VALUES; i++)
		v[i] = (uint64_t)(i + 1) * UINT64_C(0x9E3779B97F4A7C15);
	v[N_VALUES] = 10; /* the weight */
	fuzz_write_file("masked.params", "", 0, path);
	fuzz_require(fedc_params_write_file(path, &t, 1) == FEDC_OK, "cannot write the masked vector");
	f = fopen(path, "rb");
	fuzz_require(f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0,
		     "cannot read the masked vector back");
	masked_len = (size_t)size;
	masked_file = malloc(masked_len);
	fuzz_require(masked_file && fread(masked_file, 1, masked_len, f) == masked_len,
		     "cannot read the masked vector back");
	fclose(f);
	atexit(free_masked);
}

/* ---- the decoders ---- */

static enum fedc_err decode(enum form form, const uint8_t *p, size_t len, union entries *out, size_t cap,
			    size_t *n)
{
	switch (form) {
	case FORM_KEYS:
		return fedc_secagg_get_keys(p, len, out->keys, cap, n);
	case FORM_SEALED:
		return fedc_secagg_get_sealed(p, len, out->sealed, cap, n);
	default:
		return fedc_secagg_get_shares(p, len, out->shares, cap, n, form == FORM_ANSWER);
	}
}

static enum fedc_err encode(enum form form, const union entries *in, size_t n, struct fedc_buf *out)
{
	switch (form) {
	case FORM_KEYS:
		return fedc_secagg_put_keys(out, in->keys, n);
	case FORM_SEALED:
		return fedc_secagg_put_sealed(out, in->sealed, n);
	default:
		return fedc_secagg_put_shares(out, in->shares, n, form == FORM_ANSWER);
	}
}

static const char *entry_id(enum form form, const union entries *e, size_t i)
{
	return form == FORM_KEYS ? e->keys[i].node_id : form == FORM_SEALED ? e->sealed[i].node_id
									     : e->shares[i].node_id;
}

/* Field by field: the bytes after an id's NUL are whatever was there. */
static bool same_entry(enum form form, const union entries *a, const union entries *b, size_t i)
{
	if (strcmp(entry_id(form, a, i), entry_id(form, b, i)) != 0)
		return false;
	switch (form) {
	case FORM_KEYS:
		return memcmp(a->keys[i].c_pk, b->keys[i].c_pk, FEDC_SECAGG_PK_BYTES) == 0 &&
		       memcmp(a->keys[i].s_pk, b->keys[i].s_pk, FEDC_SECAGG_PK_BYTES) == 0 &&
		       memcmp(a->keys[i].sig, b->keys[i].sig, FEDC_SECAGG_SIG_BYTES) == 0;
	case FORM_SEALED:
		return memcmp(a->sealed[i].ct, b->sealed[i].ct, FEDC_SECAGG_SEALED_BYTES) == 0;
	case FORM_REQUEST:
		return a->shares[i].kind == b->shares[i].kind;
	default:
		return a->shares[i].kind == b->shares[i].kind && a->shares[i].x == b->shares[i].x &&
		       memcmp(a->shares[i].share, b->shares[i].share, FEDC_SECAGG_PK_BYTES) == 0;
	}
}

static void check_decoder(enum form form, const uint8_t *p, size_t len)
{
	struct fedc_buf enc1 = FEDC_BUF_INIT(FEDC_MAX_SECAGG_DATA), enc2 = FEDC_BUF_INIT(FEDC_MAX_SECAGG_DATA);
	size_t n = 0, n2 = 0;
	enum fedc_err rc = decode(form, p, len, &first, CAP, &n);

	fuzz_require(rc == FEDC_OK || rc == FEDC_ERR_MALFORMED, "a decoder refuses with FEDC_ERR_MALFORMED only");
	if (rc)
		return;
	fuzz_require(n <= CAP, "no more entries than the cap");
	for (size_t i = 0; i < n; i++) {
		fuzz_require(fedc_id_valid(entry_id(form, &first, i)), "every id is valid");
		if (form == FORM_REQUEST || form == FORM_ANSWER)
			fuzz_require(first.shares[i].kind <= FEDC_SECAGG_KIND_S, "kind is 0 or 1");
		if (form == FORM_REQUEST)
			fuzz_require(first.shares[i].x == 0, "a request carries no x");
		if (form == FORM_ANSWER)
			fuzz_require(first.shares[i].x > 0, "an answer's x is 1..255");
	}
	/* The cap is exact: n entries fit n, not n - 1. */
	fuzz_require(decode(form, p, len, &second, n, &n2) == FEDC_OK && n2 == n, "decodes with cap = its count");
	if (n > 0)
		fuzz_require(decode(form, p, len, &second, n - 1, &n2) == FEDC_ERR_MALFORMED,
			     "refused with cap = its count - 1");
	/* Round trip through the encoder. */
	fuzz_require(encode(form, &first, n, &enc1) == FEDC_OK, "what decodes encodes");
	fuzz_require(decode(form, (const uint8_t *)enc1.data, enc1.len, &second, CAP, &n2) == FEDC_OK && n2 == n,
		     "what encodes decodes, to as many entries");
	for (size_t i = 0; i < n; i++)
		fuzz_require(same_entry(form, &first, &second, i), "decode(encode(x)) has the same entries as x");
	fuzz_require(encode(form, &second, n2, &enc2) == FEDC_OK && enc2.len == enc1.len &&
			     memcmp(enc1.data, enc2.data, enc1.len) == 0,
		     "re-encoding gives the same bytes");
	fedc_buf_free(&enc1);
	fedc_buf_free(&enc2);
}

/* ---- the researcher's round ---- */

/* Deterministic filler for blobs: distinct per node and purpose. */
static void fill(uint8_t *p, size_t len, unsigned node, unsigned purpose)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + node * 31 + purpose * 101 + 9);
}

static int index_of(const char *id)
{
	for (int i = 0; i < N_NODES; i++)
		if (strcmp(id, ROUND_IDS[i]) == 0)
			return i;
	return -1;
}

/* A node's view of the round, from what the researcher sent it. */
struct view {
	bool in_keyset;
	size_t n_nbr;
	int nbr[N_NODES]; /* indices into ROUND_IDS, ascending */
};

static void valid_keys(unsigned node, struct fedc_buf *out)
{
	struct fedc_secagg_keys k;

	memset(&k, 0, sizeof(k));
	snprintf(k.node_id, sizeof(k.node_id), "%s", ROUND_IDS[node]);
	fill(k.c_pk, sizeof(k.c_pk), node, 1);
	fill(k.s_pk, sizeof(k.s_pk), node, 2);
	fill(k.sig, sizeof(k.sig), node, 3);
	fuzz_require(fedc_secagg_put_keys(out, &k, 1) == FEDC_OK, "cannot encode keys");
}

static void valid_sealed(unsigned node, const struct view *v, struct fedc_buf *out)
{
	struct fedc_secagg_sealed s[N_NODES];

	memset(s, 0, sizeof(s));
	for (size_t i = 0; i < v->n_nbr; i++) {
		snprintf(s[i].node_id, sizeof(s[i].node_id), "%s", ROUND_IDS[v->nbr[i]]);
		fill(s[i].ct, sizeof(s[i].ct), node, 4 + (unsigned)v->nbr[i]);
	}
	fuzz_require(fedc_secagg_put_sealed(out, s, v->n_nbr) == FEDC_OK, "cannot encode sealed shares");
}

/* x of `me` in the neighbourhood of `owner` (owner and its neighbours,
 * ascending): its rank plus one. */
static uint8_t x_of(const struct view *views, int owner, int me)
{
	const struct view *o = &views[owner];
	unsigned rank = owner < me;

	for (size_t i = 0; i < o->n_nbr; i++)
		rank += o->nbr[i] < me;
	return (uint8_t)(rank + 1);
}

/* Answers an unmask request as the protocol says (the shares themselves are
 * filler: the sum comes out wrong, which is no concern here). */
static void valid_answer(unsigned node, const struct view *views, const struct fedc_secagg_share *req, size_t n,
			 struct fedc_buf *out)
{
	struct fedc_secagg_share a[N_NODES + 1];
	size_t m = 0;

	memset(a, 0, sizeof(a));
	for (size_t i = 0; i < n && m < N_NODES + 1; i++) {
		int owner = index_of(req[i].node_id);

		fuzz_require(owner >= 0, "an unmask request names a node of the round");
		a[m] = req[i];
		a[m].x = x_of(views, owner, (int)node);
		fill(a[m].share, sizeof(a[m].share), node, 8 + (unsigned)owner * 2 + req[i].kind);
		m++;
	}
	fuzz_require(fedc_secagg_put_shares(out, a, m, true) == FEDC_OK, "cannot encode an unmask answer");
}

static void drive_round(uint8_t sel, const uint8_t *p, size_t len)
{
	struct secagg_round_cfg cfg = {
		.job_id = JOB_ID, .round = 3, .threshold = (sel & 0x40) ? 3 : 2, .neighbours = 0,
		.scale_bits = 16, .n_values = N_VALUES, .graph_seed = 7, .keys = NULL,
	};
	const int no_shares = ((sel >> 2) & 3) - 1, no_masked = ((sel >> 4) & 3) - 1; /* -1: none */
	struct secagg_round *r = NULL;
	struct fedc_buf b = FEDC_BUF_INIT(FEDC_MAX_SECAGG_DATA);
	struct view views[N_NODES];
	size_t n = 0, contributors = 0, n_masked = 0;
	double *sum = NULL;
	uint64_t weight = 0;
	bool can;
	enum fedc_err rc;

	memset(views, 0, sizeof(views));
	fuzz_require(secagg_round__new(&cfg, ROUND_IDS, N_NODES, &r) == FEDC_OK,
		     "cannot start a round");
	/* keys: the input's, else valid ones */
	for (unsigned i = 0; i < N_NODES; i++) {
		rc = secagg_round__on_keys(r, ROUND_IDS[i], p, len);
		fuzz_require((rc == FEDC_OK) == secagg_round__has_keys(r, ROUND_IDS[i]) &&
				     (rc == FEDC_OK || rc == FEDC_ERR_MALFORMED),
			     "keys are taken exactly when on_keys says so, or refused as malformed");
		if (rc != FEDC_OK) {
			fedc_buf_reset(&b);
			valid_keys(i, &b);
			fuzz_require(secagg_round__on_keys(r, ROUND_IDS[i], b.data, b.len) == FEDC_OK,
				     "valid keys are accepted after refused ones");
		}
		fuzz_require(secagg_round__on_keys(r, ROUND_IDS[i], p, len) != FEDC_OK, "keys are taken once");
	}
	fuzz_require(secagg_round__close_keys(r, 2) == FEDC_OK, "three nodes with keys close the keys step");
	/* keysets: what goes out decodes, and names the neighbours */
	for (unsigned i = 0; i < N_NODES; i++) {
		fedc_buf_reset(&b);
		fuzz_require(secagg_round__keyset_for(r, ROUND_IDS[i], &b) == FEDC_OK, "a keyset for each node");
		fuzz_require(fedc_secagg_get_keys(b.data, b.len, first.keys, FEDC_SECAGG_MAX_NEIGHBOURS, &n) ==
				     FEDC_OK && n == N_NODES - 1,
			     "a keyset decodes, to the two others (complete graph)");
		views[i].in_keyset = true;
		views[i].n_nbr = n;
		for (size_t j = 0; j < n; j++) {
			views[i].nbr[j] = index_of(first.keys[j].node_id);
			fuzz_require(views[i].nbr[j] >= 0 && views[i].nbr[j] != (int)i &&
					     (j == 0 || views[i].nbr[j] > views[i].nbr[j - 1]),
				     "a keyset names other nodes of the round, ascending");
		}
	}
	/* shares: the input's, else valid ones, but for the node that drops */
	for (unsigned i = 0; i < N_NODES; i++) {
		rc = secagg_round__on_shares(r, ROUND_IDS[i], p, len);
		fuzz_require((rc == FEDC_OK) == secagg_round__has_shares(r, ROUND_IDS[i]) &&
				     (rc == FEDC_OK || rc == FEDC_ERR_MALFORMED),
			     "shares are taken exactly when on_shares says so, or refused as malformed");
		if (rc != FEDC_OK && (int)i != no_shares) {
			fedc_buf_reset(&b);
			valid_sealed(i, &views[i], &b);
			fuzz_require(secagg_round__on_shares(r, ROUND_IDS[i], b.data, b.len) == FEDC_OK,
				     "valid shares are accepted after refused ones");
		}
	}
	if (secagg_round__close_shares(r, 2) != FEDC_OK)
		goto out; /* the input's shares came from one node only */
	for (unsigned i = 0; i < N_NODES; i++) {
		if (!secagg_round__has_shares(r, ROUND_IDS[i]))
			continue;
		fedc_buf_reset(&b);
		fuzz_require(secagg_round__shares_for(r, ROUND_IDS[i], &b) == FEDC_OK &&
				     fedc_secagg_get_sealed(b.data, b.len, first.sealed, FEDC_SECAGG_MAX_NEIGHBOURS,
							    &n) == FEDC_OK &&
				     n <= N_NODES - 1,
			     "the shares forwarded to a node decode");
	}
	/* masked vectors */
	for (unsigned i = 0; i < N_NODES; i++) {
		struct fedc_params *masked = NULL;

		if (!secagg_round__has_shares(r, ROUND_IDS[i]) || (int)i == no_masked)
			continue;
		fuzz_require(fedc_params_from_buffer(masked_file, masked_len, &masked) == FEDC_OK,
			     "cannot open the masked vector");
		fuzz_require(secagg_round__add_masked(r, ROUND_IDS[i], masked) == FEDC_OK,
			     "a masked vector from a node whose shares went out is added");
		n_masked++;
	}
	fuzz_require(secagg_round__n_masked(r) == n_masked, "every masked vector counted once");
	/* unmask: the input's answers, else valid ones */
	for (unsigned i = 0; i < N_NODES; i++) {
		if (!secagg_round__has_masked(r, ROUND_IDS[i]))
			continue;
		fedc_buf_reset(&b);
		fuzz_require(secagg_round__unmask_for(r, ROUND_IDS[i], &b) == FEDC_OK &&
				     fedc_secagg_get_shares(b.data, b.len, first.shares, N_NODES + 1, &n, false) ==
					     FEDC_OK,
			     "an unmask request decodes");
		rc = secagg_round__on_unmask(r, ROUND_IDS[i], p, len);
		fuzz_require(rc == FEDC_OK || rc == FEDC_ERR_MALFORMED, "an unmask answer is refused as malformed");
		if (rc != FEDC_OK) {
			fedc_buf_reset(&b);
			valid_answer(i, views, first.shares, n, &b);
			fuzz_require(secagg_round__on_unmask(r, ROUND_IDS[i], b.data, b.len) == FEDC_OK,
				     "a valid unmask answer is accepted after a refused one");
		}
		fuzz_require(secagg_round__on_unmask(r, ROUND_IDS[i], p, len) != FEDC_OK, "answers are taken once");
	}
	can = secagg_round__can_finish(r);
	rc = secagg_round__finish(r, &sum, &weight, &contributors);
	if (can)
		fuzz_require(rc != FEDC_ERR_NOT_FOUND, "can_finish: finish finds the shares it needs");
	else
		fuzz_require(rc != FEDC_OK, "cannot finish: finish fails");
	if (rc == FEDC_OK)
		fuzz_require(sum && weight > 0 && contributors == n_masked, "a finished round gives its sum");
out:
	free(sum);
	fedc_buf_free(&b);
	secagg_round__free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	if (size == 0)
		return 0;
	check_decoder((enum form)(data[0] & 3), data + 1, size - 1);
	drive_round(data[0], data + 1, size - 1);
	return 0;
}
