/* Signed envelopes: round trip, every way a signature must fail, the replay
 * guard, and key files that are not what they claim. */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/sign.h"

#define TOPIC "fedc/fed/node/a"

struct fixture {
	char dir[64];
	char trusted[96];
	struct fedc_signer *alice, *mallory;
	struct fedc_keyring *ring;
};

static void write_key(EVP_PKEY *key, const char *path, bool private_part)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	if (private_part)
		assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_PUBKEY(f, key), 1);
	fclose(f);
}

/* A fresh Ed25519 key pair: <dir>/<name>.key, and <dir>/trusted/<name>.pub if trusted. */
static void make_identity(struct fixture *fx, const char *name, bool trusted)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char path[256];

	assert_non_null(key);
	snprintf(path, sizeof(path), "%s/%s.key", fx->dir, name);
	write_key(key, path, true);
	snprintf(path, sizeof(path), "%s/%s.pub", trusted ? fx->trusted : fx->dir, name);
	write_key(key, path, false);
	EVP_PKEY_free(key);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char path[256];

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/fedc-test-sign-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->trusted, sizeof(fx->trusted), "%s/trusted", fx->dir);
	assert_int_equal(mkdir(fx->trusted, 0700), 0);
	make_identity(fx, "alice", true);
	make_identity(fx, "mallory", false);
	snprintf(path, sizeof(path), "%s/alice.key", fx->dir);
	assert_int_equal(fedc_signer_load("alice", path, &fx->alice), FEDC_OK);
	snprintf(path, sizeof(path), "%s/mallory.key", fx->dir);
	/* Mallory claims to be alice, with her own key. */
	assert_int_equal(fedc_signer_load("alice", path, &fx->mallory), FEDC_OK);
	assert_int_equal(fedc_keyring_load_dir(fx->trusted, &fx->ring), FEDC_OK);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	fedc_signer_free(fx->alice);
	fedc_signer_free(fx->mallory);
	fedc_keyring_free(fx->ring);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static void seal(const struct fedc_signer *s, const char *topic, const char *body, void **env, size_t *len)
{
	assert_int_equal(fedc_envelope_seal(s, topic, body, strlen(body), fedc_unix_ms(), env, len), FEDC_OK);
}

static void test_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct fedc_envelope e;
	void *env;
	size_t len;

	assert_int_equal(fedc_keyring_size(fx->ring), 1);
	assert_true(fedc_keyring_has(fx->ring, "alice"));
	seal(fx->alice, TOPIC, "hello", &env, &len);
	assert_true(fedc_envelope_detect(env, len));
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env, len, &e), FEDC_OK);
	assert_string_equal(e.signer, "alice");
	assert_int_equal(e.body_len, 5);
	assert_memory_equal(e.body, "hello", 5);
	assert_int_equal(strlen(e.nonce), FEDC_NONCE_HEXLEN);
	free(env);
}

static void test_wrong_key_or_topic_refused(void **state)
{
	struct fixture *fx = *state;
	struct fedc_envelope e;
	void *env;
	size_t len;

	seal(fx->mallory, TOPIC, "train", &env, &len);
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env, len, &e), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "bad signature"));
	free(env);

	/* Right key, replayed onto another node's topic. */
	seal(fx->alice, TOPIC, "train", &env, &len);
	assert_int_equal(fedc_envelope_open(fx->ring, "fedc/fed/node/b", env, len, &e), FEDC_ERR_AUTH);
	free(env);
}

static void test_unknown_signer_refused(void **state)
{
	struct fixture *fx = *state;
	struct fedc_signer *bob;
	struct fedc_envelope e;
	char path[256];
	void *env;
	size_t len;

	snprintf(path, sizeof(path), "%s/mallory.key", fx->dir);
	assert_int_equal(fedc_signer_load("bob", path, &bob), FEDC_OK);
	seal(bob, TOPIC, "x", &env, &len);
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env, len, &e), FEDC_ERR_AUTH);
	assert_string_equal(e.signer, "bob");
	assert_non_null(strstr(fedc_last_error(), "not trusted"));
	free(env);
	fedc_signer_free(bob);
}

/* Every byte flipped in turn: nothing but the original opens. */
static void test_any_altered_byte_refused(void **state)
{
	struct fixture *fx = *state;
	struct fedc_envelope e;
	uint8_t *env;
	size_t len;

	seal(fx->alice, TOPIC, "{\"command\":\"train\"}", (void **)&env, &len);
	for (size_t i = 0; i < len; i++) {
		env[i] ^= 0x01;
		assert_int_not_equal(fedc_envelope_open(fx->ring, TOPIC, env, len, &e), FEDC_OK);
		env[i] ^= 0x01;
	}
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env, cut, &e), FEDC_ERR_MALFORMED);
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env, len, &e), FEDC_OK);
	free(env);
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

static void test_malformed_envelopes(void **state)
{
	struct fixture *fx = *state;
	struct fedc_envelope e;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, "\xc1", 1, &e), FEDC_ERR_MALFORMED);
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, "", 0, &e), FEDC_ERR_MALFORMED);
	assert_false(fedc_envelope_detect("\x93\x01\x02\x03", 4));
	/* A plain message (a map without sig/body) is not an envelope. */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	pack_str(&pk, "command");
	pack_str(&pk, "ping");
	pack_str(&pk, "body");
	msgpack_pack_bin(&pk, 0);
	assert_false(fedc_envelope_detect(sb.data, sb.size));
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, sb.data, sb.size, &e), FEDC_ERR_MALFORMED);
	msgpack_sbuffer_destroy(&sb);
	/* The right keys with the wrong types. */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 6);
	pack_str(&pk, "v");
	msgpack_pack_uint8(&pk, 1);
	pack_str(&pk, "signer");
	msgpack_pack_int(&pk, 7);
	pack_str(&pk, "ts");
	msgpack_pack_int(&pk, -1);
	pack_str(&pk, "nonce");
	pack_str(&pk, "short");
	pack_str(&pk, "body");
	pack_str(&pk, "not bin");
	pack_str(&pk, "sig");
	msgpack_pack_bin(&pk, 3);
	msgpack_pack_bin_body(&pk, "abc", 3);
	assert_true(fedc_envelope_detect(sb.data, sb.size));
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, sb.data, sb.size, &e), FEDC_ERR_MALFORMED);
	msgpack_sbuffer_destroy(&sb);
}

/* A header that declares billions of entries is refused before msgpack-c
 * allocates for them. */
static void test_lying_counts_refused(void **state)
{
	struct fixture *fx = *state;
	static const unsigned char huge_array[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01 };
	static const unsigned char huge_map[] = { 0x81, 0xa3, 's', 'i', 'g', 0xdf, 0xff, 0xff, 0xff, 0xff };
	struct fedc_envelope e;

	assert_false(fedc_envelope_detect(huge_array, sizeof(huge_array)));
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, huge_array, sizeof(huge_array), &e), FEDC_ERR_MALFORMED);
	assert_false(fedc_envelope_detect(huge_map, sizeof(huge_map)));
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, huge_map, sizeof(huge_map), &e), FEDC_ERR_MALFORMED);
}

static void test_too_big_body_refused(void **state)
{
	struct fixture *fx = *state;
	size_t big = FEDC_MAX_MESSAGE_BYTES + 1;
	char *body = calloc(1, big);
	void *env = NULL;
	size_t len;

	assert_int_equal(fedc_envelope_seal(fx->alice, TOPIC, body, big, fedc_unix_ms(), &env, &len),
			 FEDC_ERR_TOO_BIG);
	assert_null(env);
	free(body);
}

/* ---- version 2: an attachment signed through its SHA-256 ---- */

static void attachment(struct fedc_attachment *att, uint8_t *data, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(seed + i * 7);
	att->data = data;
	att->len = len;
	assert_int_equal(EVP_Digest(data, len, att->sha256, NULL, EVP_sha256(), NULL), 1);
}

static void seal_v2(const struct fedc_signer *s, const char *topic, const char *body,
		    const struct fedc_attachment *att, uint8_t **env, size_t *len)
{
	assert_int_equal(fedc_envelope_seal_v2(s, topic, body, strlen(body), att, fedc_unix_ms(), (void **)env, len),
			 FEDC_OK);
}

/* Where the attached bytes sit in the envelope. */
static size_t att_offset(const uint8_t *env, size_t len, const struct fedc_attachment *att)
{
	const uint8_t *at = memmem(env, len, att->data, att->len);

	assert_non_null(at);
	return (size_t)(at - env);
}

static void test_v2_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct fedc_attachment att;
	struct fedc_envelope e;
	uint8_t data[1000], *env;
	size_t len;

	attachment(&att, data, sizeof(data), 3);
	seal_v2(fx->alice, TOPIC, "train", &att, &env, &len);
	assert_true(fedc_envelope_detect(env, len));
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env, len, &e), FEDC_OK);
	assert_int_equal(e.version, 2);
	assert_string_equal(e.signer, "alice");
	assert_int_equal(e.body_len, 5);
	assert_memory_equal(e.body, "train", 5);
	assert_true(e.has_att);
	assert_int_equal(e.att_len, sizeof(data));
	assert_memory_equal(e.att, data, sizeof(data));
	assert_memory_equal(e.att_sha256, att.sha256, FEDC_SHA256_BYTES);
	free(env);

	/* without an attachment */
	seal_v2(fx->alice, TOPIC, "ping", NULL, &env, &len);
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env, len, &e), FEDC_OK);
	assert_int_equal(e.version, 2);
	assert_false(e.has_att);
	assert_null(e.att);
	assert_memory_equal(e.body, "ping", 4);
	free(env);

	/* an empty attachment is still one */
	attachment(&att, data, 0, 0);
	seal_v2(fx->alice, TOPIC, "train", &att, &env, &len);
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env, len, &e), FEDC_OK);
	assert_true(e.has_att);
	assert_int_equal(e.att_len, 0);
	free(env);

	/* version 1 still opens, and says so */
	seal(fx->alice, TOPIC, "hello", (void **)&env, &len);
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env, len, &e), FEDC_OK);
	assert_int_equal(e.version, 1);
	assert_false(e.has_att);
	free(env);
}

/* Every byte of header, body, signature and attachment flipped in turn:
 * nothing but the original opens, and a changed attachment is named. */
static void test_v2_any_altered_byte_refused(void **state)
{
	struct fixture *fx = *state;
	struct fedc_attachment att;
	struct fedc_envelope e;
	uint8_t data[200], *env;
	size_t len, at;

	attachment(&att, data, sizeof(data), 9);
	seal_v2(fx->alice, TOPIC, "{\"command\":\"train\"}", &att, &env, &len);
	at = att_offset(env, len, &att);
	for (size_t i = 0; i < len; i++) {
		env[i] ^= 0x01;
		enum fedc_err rc = fedc_envelope_open(fx->ring, TOPIC, env, len, &e);

		assert_int_not_equal(rc, FEDC_OK);
		if (i >= at && i < at + att.len) {
			assert_int_equal(rc, FEDC_ERR_AUTH);
			assert_non_null(strstr(fedc_last_error(), "attachment"));
		}
		env[i] ^= 0x01;
	}
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env, cut, &e), FEDC_ERR_MALFORMED);
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env, len, &e), FEDC_OK);
	free(env);
}

/* The attachment of one envelope (alone, or with its digest) in another. */
static void test_v2_swapped_attachment_refused(void **state)
{
	struct fixture *fx = *state;
	struct fedc_attachment a, b;
	struct fedc_envelope e;
	uint8_t data_a[300], data_b[300], *env_a, *env_b;
	size_t len_a, len_b, at_a, at_b;
	uint8_t *dig_a, *dig_b;

	attachment(&a, data_a, sizeof(data_a), 1);
	attachment(&b, data_b, sizeof(data_b), 2);
	seal_v2(fx->alice, TOPIC, "train", &a, &env_a, &len_a);
	seal_v2(fx->alice, TOPIC, "train", &b, &env_b, &len_b);
	assert_int_equal(len_a, len_b);
	at_a = att_offset(env_a, len_a, &a);
	at_b = att_offset(env_b, len_b, &b);
	dig_a = memmem(env_a, len_a, a.sha256, FEDC_SHA256_BYTES);
	dig_b = memmem(env_b, len_b, b.sha256, FEDC_SHA256_BYTES);
	assert_non_null(dig_a);
	assert_non_null(dig_b);
	memcpy(env_a + at_a, env_b + at_b, sizeof(data_b));
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env_a, len_a, &e), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "attachment"));
	/* with its digest too: the signature covered the other digest */
	memcpy(dig_a, dig_b, FEDC_SHA256_BYTES);
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env_a, len_a, &e), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "bad signature"));
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env_b, len_b, &e), FEDC_OK);
	free(env_a);
	free(env_b);
}

static void test_v2_other_topic_or_key_refused(void **state)
{
	struct fixture *fx = *state;
	struct fedc_attachment att;
	struct fedc_envelope e;
	uint8_t data[64], *env;
	size_t len;

	attachment(&att, data, sizeof(data), 5);
	seal_v2(fx->alice, TOPIC, "train", &att, &env, &len);
	assert_int_equal(fedc_envelope_open(fx->ring, "fedc/fed/node/b", env, len, &e), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "bad signature"));
	free(env);
	seal_v2(fx->mallory, TOPIC, "train", &att, &env, &len);
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env, len, &e), FEDC_ERR_AUTH);
	free(env);
}

/* A sender that names the wrong digest for its attachment is refused by
 * every receiver. */
static void test_v2_wrong_digest_refused(void **state)
{
	struct fixture *fx = *state;
	struct fedc_attachment att;
	struct fedc_envelope e;
	uint8_t data[64], *env;
	size_t len;

	attachment(&att, data, sizeof(data), 5);
	att.sha256[0] ^= 0x80;
	seal_v2(fx->alice, TOPIC, "train", &att, &env, &len);
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env, len, &e), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "attachment"));
	free(env);
}

static void pack_bin_field(msgpack_packer *pk, const char *key, const void *data, size_t len)
{
	pack_str(pk, key);
	msgpack_pack_bin(pk, len);
	msgpack_pack_bin_body(pk, data, len);
}

/* The authenticator fields an envelope built by hand carries. */
enum { A_SIG = 1, A_SID = 2, A_MAC = 4 };

/* An envelope of version `v` with `att` and/or `att_sha256` as asked, and
 * the authenticator fields `auth` (junk values of the right sizes). */
static void pack_envelope_auth(msgpack_sbuffer *sb, unsigned v, bool with_att, bool with_digest, unsigned auth)
{
	static const uint8_t sig[64], digest[32], sid[16], mac[32];
	msgpack_packer pk;
	unsigned n = 5u + (with_att ? 1u : 0u) + (with_digest ? 1u : 0u);

	for (unsigned bit = 1; bit <= A_MAC; bit <<= 1)
		n += (auth & bit) ? 1u : 0u;
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	pack_str(&pk, "v");
	msgpack_pack_uint8(&pk, (uint8_t)v);
	pack_str(&pk, "signer");
	pack_str(&pk, "alice");
	pack_str(&pk, "ts");
	msgpack_pack_uint64(&pk, 1);
	pack_str(&pk, "nonce");
	pack_str(&pk, "0123456789abcdef0123456789abcdef");
	pack_bin_field(&pk, "body", "x", 1);
	if (auth & A_SIG)
		pack_bin_field(&pk, "sig", sig, sizeof(sig));
	if (auth & A_SID)
		pack_bin_field(&pk, "sid", sid, sizeof(sid));
	if (auth & A_MAC)
		pack_bin_field(&pk, "mac", mac, sizeof(mac));
	if (with_att)
		pack_bin_field(&pk, "att", "abc", 3);
	if (with_digest)
		pack_bin_field(&pk, "att_sha256", digest, sizeof(digest));
}

static void pack_envelope(msgpack_sbuffer *sb, unsigned v, bool with_att, bool with_digest)
{
	pack_envelope_auth(sb, v, with_att, with_digest, A_SIG);
}

/* v1 has no attachment, v2's two fields go together, a signed version 3
 * lacks its session fields, no version 4. */
static void test_v2_field_rules(void **state)
{
	static const struct {
		unsigned v;
		bool att, digest;
		const char *why;
	} cases[] = {
		{ 1, true, true, "version 1" }, { 1, true, false, "version 1" }, { 2, true, false, "together" },
		{ 2, false, true, "together" }, { 3, false, false, "sid, mac" }, { 4, false, false, "field 0" },
	};
	struct fixture *fx = *state;
	struct fedc_envelope e;
	msgpack_sbuffer sb;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pack_envelope(&sb, cases[i].v, cases[i].att, cases[i].digest);
		assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, sb.data, sb.size, &e), FEDC_ERR_MALFORMED);
		assert_non_null(strstr(fedc_last_error(), cases[i].why));
		msgpack_sbuffer_destroy(&sb);
	}
	/* well formed: then it is the (junk) signature that fails */
	pack_envelope(&sb, 2, true, true);
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, sb.data, sb.size, &e), FEDC_ERR_AUTH);
	msgpack_sbuffer_destroy(&sb);
}

/* The largest body and attachment, from the longest id, fit in
 * FEDC_ENVELOPE_MAX_BYTES (versions 2 and 3) (hence in the broker's max_packet_size); one byte
 * more, or an attachment over FEDC_MAX_INLINE_PARAMS, is refused. */
static void test_v2_largest_fits(void **state)
{
	struct fixture *fx = *state;
	char id[FEDC_MAX_ID_LEN + 1], path[512];
	size_t att_len = FEDC_MAX_INLINE_PARAMS, body_len = FEDC_MAX_MESSAGE_BYTES - FEDC_MAX_INLINE_PARAMS, len;
	uint8_t *data = malloc(att_len + 1), *body = calloc(1, body_len + 1);
	struct fedc_keyring *ring;
	struct fedc_signer *longest;
	struct fedc_attachment att;
	struct fedc_envelope e;
	void *env = NULL;

	memset(id, 'x', FEDC_MAX_ID_LEN);
	id[FEDC_MAX_ID_LEN] = '\0';
	make_identity(fx, id, true);
	snprintf(path, sizeof(path), "%s/%s.key", fx->dir, id);
	assert_int_equal(fedc_signer_load(id, path, &longest), FEDC_OK);
	assert_int_equal(fedc_keyring_load_dir(fx->trusted, &ring), FEDC_OK);
	attachment(&att, data, att_len, 7);
	assert_int_equal(fedc_envelope_seal_v2(longest, TOPIC, body, body_len, &att, INT64_MAX, &env, &len), FEDC_OK);
	assert_true(len <= FEDC_ENVELOPE_MAX_BYTES);
	assert_int_equal(fedc_envelope_open(ring, TOPIC, env, len, &e), FEDC_OK);
	free(env);
	env = NULL;
	{ /* version 3 is smaller still: sid and mac instead of sig */
		struct fedc_session session;

		memset(&session, 7, sizeof(session));
		session.job_id[0] = '\0';
		assert_int_equal(fedc_envelope_seal_v3(id, &session, TOPIC, body, body_len, &att, INT64_MAX, &env, &len),
				 FEDC_OK);
		assert_true(len <= FEDC_ENVELOPE_MAX_BYTES);
		free(env);
		env = NULL;
	}
	assert_int_equal(fedc_envelope_seal_v2(longest, TOPIC, body, body_len + 1, &att, 0, &env, &len),
			 FEDC_ERR_TOO_BIG);
	att.len = att_len + 1;
	assert_int_equal(fedc_envelope_seal_v2(longest, TOPIC, body, 0, &att, 0, &env, &len), FEDC_ERR_TOO_BIG);
	assert_null(env);
	fedc_signer_free(longest);
	fedc_keyring_free(ring);
	free(data);
	free(body);
}

/* ---- version 3: MAC'd under a session ---- */

/* alice (the researcher) and her node agree on a session for one job. */
struct v3_pair {
	struct fedc_session_kx *r, *n;
	struct fedc_session rs, ns; /* alice's view, the node's view */
};

static void v3_agree(struct v3_pair *p)
{
	assert_int_equal(fedc_session_kx_new(&p->r), FEDC_OK);
	assert_int_equal(fedc_session_kx_new(&p->n), FEDC_OK);
	assert_int_equal(fedc_session_derive(p->r, fedc_session_kx_public(p->n), FEDC_SESSION_RESEARCHER, "alice", "a",
					     "job-1", &p->rs),
			 FEDC_OK);
	assert_int_equal(fedc_session_derive(p->n, fedc_session_kx_public(p->r), FEDC_SESSION_NODE, "alice", "a",
					     "job-1", &p->ns),
			 FEDC_OK);
}

static void v3_free(struct v3_pair *p)
{
	fedc_session_kx_free(p->r);
	fedc_session_kx_free(p->n);
}

/* The node's lookup: the one session in ctx, for alice under its sid. */
static const struct fedc_session *find_alice(void *ctx, const char *signer, const uint8_t sid[FEDC_SESSION_ID_BYTES])
{
	const struct fedc_session *s = ctx;

	return strcmp(signer, "alice") == 0 && memcmp(s->sid, sid, FEDC_SESSION_ID_BYTES) == 0 ? s : NULL;
}

static void seal_v3(const struct fedc_session *s, const char *topic, const char *body,
		    const struct fedc_attachment *att, uint8_t **env, size_t *len)
{
	assert_int_equal(fedc_envelope_seal_v3("alice", s, topic, body, strlen(body), att, fedc_unix_ms(), (void **)env,
					       len),
			 FEDC_OK);
}

static void test_v3_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct v3_pair p;
	struct fedc_session_lookup node = { find_alice, NULL };
	struct fedc_attachment att;
	struct fedc_envelope e;
	uint8_t data[500], *env;
	size_t len;

	v3_agree(&p);
	node.ctx = &p.ns;
	attachment(&att, data, sizeof(data), 4);
	seal_v3(&p.rs, TOPIC, "train", &att, &env, &len);
	assert_true(fedc_envelope_detect(env, len));
	assert_null(memmem(env, len, "\xa3sig", 4)); /* no signature in it */
	assert_int_equal(fedc_envelope_open_sessions(fx->ring, &node, TOPIC, env, len, &e), FEDC_OK);
	assert_int_equal(e.version, 3);
	assert_ptr_equal(e.session, &p.ns);
	assert_memory_equal(e.sid, p.ns.sid, FEDC_SESSION_ID_BYTES);
	assert_string_equal(e.signer, "alice");
	assert_memory_equal(e.body, "train", 5);
	assert_true(e.has_att);
	assert_memory_equal(e.att, data, sizeof(data));
	assert_memory_equal(e.att_sha256, att.sha256, FEDC_SHA256_BYTES);
	/* a receiver that holds no sessions: a distinct code, so it can ask for
	 * a new agreement */
	assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, env, len, &e), FEDC_ERR_NOT_FOUND);
	assert_non_null(strstr(fedc_last_error(), "unknown session"));
	assert_null(e.session);
	free(env);
	/* without an attachment; signed versions still open with a lookup */
	seal_v3(&p.rs, TOPIC, "ping", NULL, &env, &len);
	assert_int_equal(fedc_envelope_open_sessions(fx->ring, &node, TOPIC, env, len, &e), FEDC_OK);
	assert_false(e.has_att);
	free(env);
	seal_v2(fx->alice, TOPIC, "ping", NULL, &env, &len);
	assert_int_equal(fedc_envelope_open_sessions(fx->ring, &node, TOPIC, env, len, &e), FEDC_OK);
	assert_int_equal(e.version, 2);
	assert_null(e.session);
	free(env);
	v3_free(&p);
}

/* Every byte flipped in turn (header, sid, MAC, body, attachment, digest):
 * nothing but the original opens; a flipped sid names no session. */
static void test_v3_any_altered_byte_refused(void **state)
{
	struct fixture *fx = *state;
	struct v3_pair p;
	struct fedc_session_lookup node = { find_alice, NULL };
	struct fedc_attachment att;
	struct fedc_envelope e;
	uint8_t data[100], *env, *sid;
	size_t len;

	v3_agree(&p);
	node.ctx = &p.ns;
	attachment(&att, data, sizeof(data), 8);
	seal_v3(&p.rs, TOPIC, "{\"command\":\"train\"}", &att, &env, &len);
	sid = memmem(env, len, p.rs.sid, FEDC_SESSION_ID_BYTES);
	assert_non_null(sid);
	for (size_t i = 0; i < len; i++) {
		enum fedc_err rc;

		env[i] ^= 0x01;
		rc = fedc_envelope_open_sessions(fx->ring, &node, TOPIC, env, len, &e);
		assert_int_not_equal(rc, FEDC_OK);
		if (env + i >= sid && env + i < sid + FEDC_SESSION_ID_BYTES)
			assert_int_equal(rc, FEDC_ERR_NOT_FOUND);
		env[i] ^= 0x01;
	}
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(fedc_envelope_open_sessions(fx->ring, &node, TOPIC, env, cut, &e), FEDC_ERR_MALFORMED);
	assert_int_equal(fedc_envelope_open_sessions(fx->ring, &node, TOPIC, env, len, &e), FEDC_OK);
	free(env);
	v3_free(&p);
}

/* Another topic, the other direction's key (a node's own message reflected
 * back to it), another session under the right sid, a signer not trusted
 * (any more): all refused. */
static void test_v3_wrong_key_topic_or_signer_refused(void **state)
{
	struct fixture *fx = *state;
	struct v3_pair p, q;
	struct fedc_session_lookup node = { find_alice, NULL };
	struct fedc_session forged;
	struct fedc_envelope e;
	uint8_t *env;
	size_t len;

	v3_agree(&p);
	v3_agree(&q);
	node.ctx = &p.ns;
	seal_v3(&p.rs, TOPIC, "train", NULL, &env, &len);
	assert_int_equal(fedc_envelope_open_sessions(fx->ring, &node, "fedc/fed/node/b", env, len, &e), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "bad MAC"));
	free(env);
	/* the node's send key used as if it were alice's */
	seal_v3(&p.ns, TOPIC, "train", NULL, &env, &len);
	assert_int_equal(fedc_envelope_open_sessions(fx->ring, &node, TOPIC, env, len, &e), FEDC_ERR_AUTH);
	free(env);
	/* a session of another exchange, claiming this one's sid */
	forged = q.rs;
	memcpy(forged.sid, p.rs.sid, FEDC_SESSION_ID_BYTES);
	seal_v3(&forged, TOPIC, "train", NULL, &env, &len);
	assert_int_equal(fedc_envelope_open_sessions(fx->ring, &node, TOPIC, env, len, &e), FEDC_ERR_AUTH);
	free(env);
	/* bob holds a session but no trusted key: refused before any MAC */
	assert_int_equal(fedc_envelope_seal_v3("bob", &p.rs, TOPIC, "x", 1, NULL, fedc_unix_ms(), (void **)&env, &len),
			 FEDC_OK);
	assert_int_equal(fedc_envelope_open_sessions(fx->ring, &node, TOPIC, env, len, &e), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "not trusted"));
	free(env);
	assert_int_equal(fedc_envelope_seal_v3("not an id", &p.rs, TOPIC, "x", 1, NULL, 0, (void **)&env, &len),
			 FEDC_ERR_INVAL);
	assert_int_equal(fedc_envelope_seal_v3("alice", NULL, TOPIC, "x", 1, NULL, 0, (void **)&env, &len),
			 FEDC_ERR_INVAL);
	v3_free(&p);
	v3_free(&q);
}

/* v3 takes sid and mac and no sig; v1 and v2 the reverse. */
static void test_v3_field_rules(void **state)
{
	static const struct {
		unsigned v, auth;
		enum fedc_err rc;
		const char *why;
	} cases[] = {
		{ 3, A_SID, FEDC_ERR_MALFORMED, "sid, mac" },
		{ 3, A_MAC, FEDC_ERR_MALFORMED, "sid, mac" },
		{ 3, A_SID | A_MAC | A_SIG, FEDC_ERR_MALFORMED, "sid and mac only" },
		{ 2, A_SIG | A_MAC, FEDC_ERR_MALFORMED, "sig only" },
		{ 1, A_SIG | A_SID, FEDC_ERR_MALFORMED, "sig only" },
		{ 2, A_SID | A_MAC, FEDC_ERR_MALFORMED, "missing" },
		{ 3, A_SID | A_MAC, FEDC_ERR_NOT_FOUND, "unknown session" }, /* well formed */
	};
	struct fixture *fx = *state;
	struct fedc_envelope e;
	msgpack_sbuffer sb;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pack_envelope_auth(&sb, cases[i].v, false, false, cases[i].auth);
		assert_int_equal(fedc_envelope_open(fx->ring, TOPIC, sb.data, sb.size, &e), cases[i].rc);
		assert_non_null(strstr(fedc_last_error(), cases[i].why));
		msgpack_sbuffer_destroy(&sb);
	}
}

static void test_replay_guard(void **state)
{
	struct fedc_replay_guard *g;
	int64_t now = 1700000000000;
	char nonce[FEDC_NONCE_HEXLEN + 1];

	(void)state;
	assert_int_equal(fedc_replay_guard_new(300000, 4, &g), FEDC_OK);
	assert_int_equal(fedc_replay_check(g, "alice", "n1", now, now), FEDC_OK);
	assert_int_equal(fedc_replay_check(g, "alice", "n1", now, now + 10), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "replayed"));
	/* Same nonce from another signer is another message. */
	assert_int_equal(fedc_replay_check(g, "bob", "n1", now, now), FEDC_OK);
	assert_int_equal(fedc_replay_check(g, "alice", "old", now - 300001, now), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "stale"));
	assert_int_equal(fedc_replay_check(g, "alice", "future", now + 300001, now), FEDC_ERR_AUTH);
	assert_int_equal(fedc_replay_check(g, "alice", "n2", now, now), FEDC_OK);
	assert_int_equal(fedc_replay_check(g, "alice", "n3", now, now), FEDC_OK);
	/* Four live nonces: a fifth is a flood... */
	assert_int_equal(fedc_replay_check(g, "alice", "n4", now, now), FEDC_ERR_TOO_BIG);
	/* ...until the first ones age out of the window: then room is made. */
	assert_int_equal(fedc_replay_check(g, "alice", "n5", now + 300001, now + 300001 + 299999), FEDC_OK);
	/* A nonce remembered from storage is refused after a restart. */
	fedc_replay_guard_free(g);
	assert_int_equal(fedc_replay_guard_new(300000, 1024, &g), FEDC_OK);
	snprintf(nonce, sizeof(nonce), "%032d", 7);
	fedc_replay_remember(g, "alice", nonce, now - 1000, now);
	assert_int_equal(fedc_replay_check(g, "alice", nonce, now - 1000, now), FEDC_ERR_AUTH);
	fedc_replay_guard_free(g);
}

static void test_key_files(void **state)
{
	struct fixture *fx = *state;
	struct fedc_signer *s = NULL;
	struct fedc_keyring *k = NULL;
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/missing.key", fx->dir);
	assert_int_equal(fedc_signer_load("alice", path, &s), FEDC_ERR_IO);
	snprintf(path, sizeof(path), "%s/trusted/alice.pub", fx->dir);
	/* A public key is not a private key. */
	assert_int_equal(fedc_signer_load("alice", path, &s), FEDC_ERR_CONFIG);
	snprintf(path, sizeof(path), "%s/alice.key", fx->dir);
	assert_int_equal(fedc_signer_load("a/b", path, &s), FEDC_ERR_INVAL);
	/* Junk named .pub in a keyring directory is refused by name. */
	snprintf(path, sizeof(path), "%s/trusted/junk.pub", fx->dir);
	f = fopen(path, "w");
	fputs("not a key\n", f);
	fclose(f);
	assert_int_equal(fedc_keyring_load_dir(fx->trusted, &k), FEDC_ERR_CONFIG);
	assert_non_null(strstr(fedc_last_error(), "junk.pub"));
	unlink(path);
	snprintf(path, sizeof(path), "%s/nope", fx->dir);
	assert_int_equal(fedc_keyring_load_dir(path, &k), FEDC_ERR_IO);
	assert_null(k);
}

/* Writes `text` as <trusted>/<name>.pub. */
static void put_pub(const struct fixture *fx, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.pub", fx->trusted, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* The keyring reads the usual PEM of an Ed25519 key without OpenSSL's PEM
 * decoder (fast path), other layouts of it through that decoder, and
 * refuses lookalikes: the same signatures check out whichever path read
 * the key. */
static void test_key_file_layouts(void **state)
{
	struct fixture *fx = *state;
	char path[256], pem[512], spaced[520], *crlf = NULL;
	struct fedc_keyring *k = NULL;
	struct fedc_envelope env;
	FILE *f;
	size_t len, n = 0;
	void *sealed = NULL;
	size_t sealed_len = 0;

	snprintf(path, sizeof(path), "%s/alice.pub", fx->trusted);
	f = fopen(path, "r");
	assert_non_null(f);
	len = fread(pem, 1, sizeof(pem) - 1, f);
	fclose(f);
	pem[len] = '\0';
	/* the same key with CRLF line ends, and with blank lines around */
	crlf = calloc(1, 2 * len + 1);
	assert_non_null(crlf);
	for (size_t i = 0; i < len; i++) {
		if (pem[i] == '\n')
			crlf[n++] = '\r';
		crlf[n++] = pem[i];
	}
	put_pub(fx, "alice-crlf", crlf);
	free(crlf);
	snprintf(spaced, sizeof(spaced), "\n%s\n", pem);
	put_pub(fx, "alice-spaced", spaced);
	assert_int_equal(fedc_keyring_load_dir(fx->trusted, &k), FEDC_OK);
	assert_int_equal(fedc_keyring_size(k), 3);
	seal(fx->alice, TOPIC, "hello", &sealed, &sealed_len);
	assert_int_equal(fedc_envelope_open(k, TOPIC, sealed, sealed_len, &env), FEDC_OK);
	free(sealed);
	fedc_keyring_free(k);
	k = NULL;
	/* a key of another kind in the same PEM frame (an X25519 key: same
	 * length, other algorithm), and a truncated one, are refused */
	put_pub(fx, "alice-spaced", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VuAyEAJW/fYDZMkSrT0K04MTyC90m5tET3N5sDUblCP68+zEA=\n"
				    "-----END PUBLIC KEY-----\n");
	assert_int_equal(fedc_keyring_load_dir(fx->trusted, &k), FEDC_ERR_CONFIG);
	assert_non_null(strstr(fedc_last_error(), "alice-spaced.pub"));
	put_pub(fx, "alice-spaced", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJW/fYDZMkSrT0K04MTyC90m5tET3N5sDUb\n"
				    "-----END PUBLIC KEY-----\n");
	assert_int_equal(fedc_keyring_load_dir(fx->trusted, &k), FEDC_ERR_CONFIG);
	assert_null(k);
}

static void test_participant_ids(void **state)
{
	(void)state;
	assert_true(fedc_id_valid("hospital-a"));
	assert_true(fedc_id_valid("R_1.x"));
	assert_false(fedc_id_valid(""));
	assert_false(fedc_id_valid("-a"));
	assert_false(fedc_id_valid(".a"));
	assert_false(fedc_id_valid("a/b"));
	assert_false(fedc_id_valid("a b"));
	assert_false(fedc_id_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key_or_topic_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_signer_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_any_altered_byte_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_envelopes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lying_counts_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_big_body_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_any_altered_byte_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_swapped_attachment_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_other_topic_or_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_wrong_digest_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_field_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_largest_fits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v3_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v3_any_altered_byte_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v3_wrong_key_topic_or_signer_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v3_field_rules, setup, teardown),
		cmocka_unit_test(test_replay_guard),
		cmocka_unit_test_setup_teardown(test_key_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_file_layouts, setup, teardown),
		cmocka_unit_test(test_participant_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
