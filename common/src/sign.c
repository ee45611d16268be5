/* Ed25519 signatures on MQTT payloads (see fedc/sign.h). */
#define _GNU_SOURCE /* memmem */
#include "fedc/sign.h"

#include "fedc/buf.h"
#include "fedc/cursor.h"
#include "fedc/hash.h"
#include "fedc/message.h"
#include "fedc/session_key.h"

#include <dirent.h>
#include <errno.h>
#include <msgpack.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_LEN 64
#define SIGNING_CONTEXT_V1 "fedc-envelope-v1"
#define SIGNING_CONTEXT_V2 "fedc-envelope-v2" /* same length as v1's */
#define SIGNING_CONTEXT_V3 "fedc-envelope-v3" /* MAC'd, not signed */

struct fedc_signer {
	char id[FEDC_MAX_ID_LEN + 1];
	EVP_PKEY *key;
};

struct trusted_key {
	char id[FEDC_MAX_ID_LEN + 1];
	EVP_PKEY *key;
};

struct fedc_keyring {
	struct trusted_key *keys; /* n entries, kept in mem */
	size_t n;
	struct fedc_buf mem;      /* capped at FEDC_MAX_TRUSTED_KEYS entries */
};

/* ---- keys ---- */

static bool is_ed25519(const EVP_PKEY *key)
{
	return key && EVP_PKEY_get_id(key) == EVP_PKEY_ED25519;
}

enum fedc_err fedc_signer_load(const char *id, const char *key_path, struct fedc_signer **out)
{
	struct fedc_signer *s;
	FILE *f;

	if (!id || !key_path || !out || !fedc_id_valid(id))
		return fedc_fail(FEDC_ERR_INVAL, "signer: bad participant id \"%s\"", id ? id : "(null)");
	f = fopen(key_path, "r");
	if (!f)
		return fedc_fail(FEDC_ERR_IO, "cannot read signing key %s: %s", key_path, strerror(errno));
	s = calloc(1, sizeof(*s));
	if (!s) {
		fclose(f);
		return FEDC_ERR_NOMEM;
	}
	s->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!is_ed25519(s->key)) {
		fedc_signer_free(s);
		return fedc_fail(FEDC_ERR_CONFIG, "%s: not an Ed25519 private key in PEM (PKCS#8)", key_path);
	}
	snprintf(s->id, sizeof(s->id), "%s", id);
	*out = s;
	return FEDC_OK;
}

const char *fedc_signer_id(const struct fedc_signer *s)
{
	return s->id;
}

void fedc_signer_free(struct fedc_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	free(s);
}

static enum fedc_err keyring_add(struct fedc_keyring *k, const char *id, EVP_PKEY *key)
{
	struct trusted_key *t;
	void *slot = NULL;
	enum fedc_err rc = fedc_buf_extend(&k->mem, sizeof(*t), &slot);

	if (rc)
		return rc;
	t = slot;
	snprintf(t->id, sizeof(t->id), "%s", id);
	t->key = key;
	k->keys = (struct trusted_key *)k->mem.data;
	k->n++;
	return FEDC_OK;
}

/* Largest key file read: a PEM public key is about 113 bytes. */
#define KEY_FILE_MAX 4096
/* An Ed25519 SubjectPublicKeyInfo (RFC 8410) is these 12 bytes, then the
 * 32-byte key. */
static const unsigned char ED25519_SPKI_PREFIX[12] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
						       0x2b, 0x65, 0x70, 0x03, 0x21, 0x00 };

/* The common case, fast: "-----BEGIN PUBLIC KEY-----", base64 of exactly
 * an Ed25519 SubjectPublicKeyInfo, "-----END PUBLIC KEY-----". OpenSSL 3's
 * PEM decoder chain took 0.3-0.5 ms a key, which made every researcher
 * command wait 0.3-0.5 s for a federation of 1000 nodes before it sent
 * anything; the raw key goes in EVP_PKEY_new_raw_public_key() instead.
 * NULL for anything else (the caller then asks OpenSSL's PEM reader). */
static EVP_PKEY *ed25519_from_pem(const char *text, size_t len)
{
	static const char begin[] = "-----BEGIN PUBLIC KEY-----", end[] = "-----END PUBLIC KEY-----";
	char b64[128];
	unsigned char der[96];
	size_t n = 0;
	const char *p, *stop;
	int der_len;

	if (len < sizeof(begin) || memcmp(text, begin, sizeof(begin) - 1) != 0)
		return NULL;
	p = text + sizeof(begin) - 1;
	stop = memmem(p, len - (size_t)(p - text), end, sizeof(end) - 1);
	if (!stop)
		return NULL;
	for (; p < stop; p++) { /* the base64 without its line breaks */
		if (*p == '\n' || *p == '\r')
			continue;
		if (n + 1 >= sizeof(b64))
			return NULL;
		b64[n++] = *p;
	}
	if (n != 60) /* 44 bytes in base64 */
		return NULL;
	der_len = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)n);
	/* 60 characters decode to 45 bytes, the last from the one '=' pad */
	if (der_len != 45 || b64[59] != '=' || b64[58] == '=' ||
	    memcmp(der, ED25519_SPKI_PREFIX, sizeof(ED25519_SPKI_PREFIX)) != 0)
		return NULL;
	return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der + sizeof(ED25519_SPKI_PREFIX), 32);
}

/* A key file's whole text (at most KEY_FILE_MAX bytes) as a key: the fast
 * path above, else OpenSSL's PEM reader (whatever it takes, as before). */
static EVP_PKEY *read_public_key(FILE *f)
{
	char text[KEY_FILE_MAX];
	size_t len = fread(text, 1, sizeof(text), f);
	EVP_PKEY *key;
	BIO *bio;

	if (ferror(f) || len == sizeof(text))
		return NULL;
	key = ed25519_from_pem(text, len);
	if (key)
		return key;
	bio = BIO_new_mem_buf(text, (int)len);
	key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	return key;
}

/* Loads one "<id>.pub" file of the keyring directory. */
static enum fedc_err load_public_key(struct fedc_keyring *k, const char *dir, const char *name)
{
	char path[4096], id[FEDC_MAX_ID_LEN + 1];
	size_t idlen = strlen(name) - 4;
	EVP_PKEY *key;
	FILE *f;
	enum fedc_err rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return fedc_fail(FEDC_ERR_CONFIG, "%s/%s: path too long", dir, name);
	if (idlen > FEDC_MAX_ID_LEN)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: the file name must be <participant id>.pub", path);
	memcpy(id, name, idlen);
	id[idlen] = '\0';
	if (!fedc_id_valid(id))
		return fedc_fail(FEDC_ERR_CONFIG, "%s: \"%s\" is not a participant id (1-64 of A-Z a-z 0-9 . _ -)",
				 path, id);
	f = fopen(path, "r");
	if (!f)
		return fedc_fail(FEDC_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	key = read_public_key(f);
	fclose(f);
	if (!is_ed25519(key)) {
		EVP_PKEY_free(key);
		return fedc_fail(FEDC_ERR_CONFIG, "%s: not an Ed25519 public key in PEM", path);
	}
	rc = keyring_add(k, id, key);
	if (rc)
		EVP_PKEY_free(key);
	return rc;
}

static bool ends_with_pub(const char *name)
{
	size_t len = strlen(name);

	return len > 4 && strcmp(name + len - 4, ".pub") == 0;
}

enum fedc_err fedc_keyring_load_dir(const char *dir, struct fedc_keyring **out)
{
	struct fedc_keyring *k;
	struct dirent *e;
	DIR *d;
	enum fedc_err rc = FEDC_OK;

	if (!dir || !out)
		return fedc_fail(FEDC_ERR_INVAL, "keyring: NULL argument");
	d = opendir(dir);
	if (!d)
		return fedc_fail(FEDC_ERR_IO, "cannot open the trusted keys directory %s: %s", dir, strerror(errno));
	k = calloc(1, sizeof(*k));
	if (!k) {
		closedir(d);
		return FEDC_ERR_NOMEM;
	}
	fedc_buf_init(&k->mem, FEDC_MAX_TRUSTED_KEYS * sizeof(struct trusted_key));
	while (!rc && (e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.' && ends_with_pub(e->d_name))
			rc = load_public_key(k, dir, e->d_name);
	}
	closedir(d);
	if (rc) {
		fedc_keyring_free(k);
		return rc;
	}
	*out = k;
	return FEDC_OK;
}

size_t fedc_keyring_size(const struct fedc_keyring *k)
{
	return k ? k->n : 0;
}

static EVP_PKEY *keyring_find(const struct fedc_keyring *k, const char *id)
{
	for (size_t i = 0; k && i < k->n; i++) {
		if (strcmp(k->keys[i].id, id) == 0)
			return k->keys[i].key;
	}
	return NULL;
}

bool fedc_keyring_has(const struct fedc_keyring *k, const char *id)
{
	return keyring_find(k, id) != NULL;
}

void fedc_keyring_free(struct fedc_keyring *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++)
		EVP_PKEY_free(k->keys[i].key);
	fedc_buf_free(&k->mem);
	free(k);
}

/* ---- the signed bytes ---- */

/* What the signature (v3: the MAC) covers besides the body (see fedc/sign.h). */
struct signed_header {
	unsigned version;           /* 1, 2 or 3 */
	const char *topic, *signer, *nonce;
	int64_t ts;
	const uint8_t *sid;         /* v3: the session's id */
	const uint8_t *att_sha256;  /* v2, v3: the attachment's digest; NULL: none */
};

/* v2's attachment field: a presence byte, then the digest or 32 zero bytes. */
#define ATT_FIELD_LEN (1 + FEDC_SHA256_BYTES)

static const char *signing_context(unsigned version)
{
	return version == 3 ? SIGNING_CONTEXT_V3 : version == 2 ? SIGNING_CONTEXT_V2 : SIGNING_CONTEXT_V1;
}

/* Builds the byte string the signature or MAC covers (see fedc/sign.h). */
static uint8_t *signed_bytes(const struct signed_header *h, const uint8_t *body, size_t body_len, size_t *out_len)
{
	const char *context = signing_context(h->version);
	size_t ctx_len = strlen(context) + 1, topic_len = strlen(h->topic) + 1, signer_len = strlen(h->signer) + 1;
	size_t nonce_len = strlen(h->nonce) + 1, att_len = h->version >= 2 ? ATT_FIELD_LEN : 0;
	size_t sid_len = h->version == 3 ? FEDC_SESSION_ID_BYTES : 0;
	size_t len = ctx_len + topic_len + signer_len + 8 + nonce_len + sid_len + att_len + body_len;
	uint8_t *buf = malloc(len), *p = buf;

	if (!buf)
		return NULL;
	memcpy(p, context, ctx_len);
	p += ctx_len;
	memcpy(p, h->topic, topic_len);
	p += topic_len;
	memcpy(p, h->signer, signer_len);
	p += signer_len;
	for (int i = 7; i >= 0; i--)
		*p++ = (uint8_t)((uint64_t)h->ts >> (8 * i));
	memcpy(p, h->nonce, nonce_len);
	p += nonce_len;
	if (sid_len) {
		memcpy(p, h->sid, sid_len);
		p += sid_len;
	}
	if (att_len) {
		*p++ = h->att_sha256 ? 1 : 0;
		if (h->att_sha256)
			memcpy(p, h->att_sha256, FEDC_SHA256_BYTES);
		else
			memset(p, 0, FEDC_SHA256_BYTES);
		p += FEDC_SHA256_BYTES;
	}
	if (body_len)
		memcpy(p, body, body_len);
	*out_len = len;
	return buf;
}

static bool ed25519_sign(EVP_PKEY *key, const uint8_t *data, size_t len, uint8_t sig[SIG_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t sig_len = SIG_LEN;
	bool ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
		  EVP_DigestSign(ctx, sig, &sig_len, data, len) == 1 && sig_len == SIG_LEN;

	EVP_MD_CTX_free(ctx);
	return ok;
}

static bool ed25519_verify(EVP_PKEY *key, const uint8_t *data, size_t len, const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && sig_len == SIG_LEN && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
		  EVP_DigestVerify(ctx, sig, sig_len, data, len) == 1;

	EVP_MD_CTX_free(ctx);
	return ok;
}

/* ---- sealing ---- */

static void new_nonce(char out[FEDC_NONCE_HEXLEN + 1])
{
	uint8_t raw[FEDC_NONCE_HEXLEN / 2];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		abort(); /* no randomness: nothing safe can be signed */
	fedc_hex_encode(raw, sizeof(raw), out);
}

static int pack_key(msgpack_packer *pk, const char *key)
{
	size_t len = strlen(key);

	return msgpack_pack_str(pk, len) || msgpack_pack_str_body(pk, key, len);
}

static int pack_string(msgpack_packer *pk, const char *key, const char *value)
{
	size_t len = strlen(value);

	return pack_key(pk, key) || msgpack_pack_str(pk, len) || msgpack_pack_str_body(pk, value, len);
}

static int pack_bin(msgpack_packer *pk, const char *key, const void *data, size_t len)
{
	return pack_key(pk, key) || msgpack_pack_bin(pk, len) || msgpack_pack_bin_body(pk, data, len);
}

/* The authenticator of an envelope: an Ed25519 signature (v1, v2) or the
 * session's id and MAC (v3). */
struct envelope_auth {
	uint8_t sig[SIG_LEN];
	uint8_t mac[FEDC_SESSION_MAC_BYTES];
	const uint8_t *sid; /* v3 */
};

/* The envelope map around an already computed signature or MAC. */
static enum fedc_err pack_envelope(const struct signed_header *h, const void *body, size_t body_len,
				   const struct fedc_attachment *att, const struct envelope_auth *auth, void **out,
				   size_t *out_len)
{
	bool v3 = h->version == 3;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int err;

	msgpack_sbuffer_init(&sb);
	/* Sized at once: with an attachment of up to 8 MiB, growing by doubling
	 * would copy it about twice over into fresh pages. The keys, the
	 * header's strings and the MAC or signature take well under 1 KiB. */
	sb.alloc = body_len + (att ? att->len : 0) + 1024;
	sb.data = malloc(sb.alloc);
	if (!sb.data)
		msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	err = msgpack_pack_map(&pk, (att ? 8u : 6u) + (v3 ? 1u : 0u)) || pack_key(&pk, "v") ||
	      msgpack_pack_uint8(&pk, (uint8_t)h->version) || pack_string(&pk, "signer", h->signer) ||
	      pack_key(&pk, "ts") || msgpack_pack_int64(&pk, h->ts) || pack_string(&pk, "nonce", h->nonce) ||
	      pack_bin(&pk, "body", body, body_len);
	if (!err)
		err = v3 ? pack_bin(&pk, "sid", auth->sid, FEDC_SESSION_ID_BYTES) ||
				   pack_bin(&pk, "mac", auth->mac, FEDC_SESSION_MAC_BYTES)
			 : pack_bin(&pk, "sig", auth->sig, SIG_LEN);
	if (!err && att)
		err = pack_bin(&pk, "att", att->data, att->len) ||
		      pack_bin(&pk, "att_sha256", att->sha256, FEDC_SHA256_BYTES);
	if (err) {
		msgpack_sbuffer_destroy(&sb);
		return FEDC_ERR_NOMEM;
	}
	*out = sb.data; /* sbuffer memory is malloc'd: the caller frees it */
	*out_len = sb.size;
	return FEDC_OK;
}

/* Who authenticates a sealed envelope: an Ed25519 key (v1, v2) or a
 * session's send key (v3). */
struct sealer {
	const char *id;
	const struct fedc_signer *signer;   /* v1, v2 */
	const struct fedc_session *session; /* v3 */
};

static enum fedc_err check_seal_args(const struct sealer *who, const char *topic, const void *body, size_t body_len,
				     const struct fedc_attachment *att, int64_t now_unix_ms, void **out,
				     size_t *out_len)
{
	size_t att_len = att ? att->len : 0;

	if (!who->id || !topic || (!body && body_len) || (att && !att->data && att->len) || !out || !out_len)
		return fedc_fail(FEDC_ERR_INVAL, "fedc_envelope_seal: NULL argument");
	if (!fedc_id_valid(who->id))
		return fedc_fail(FEDC_ERR_INVAL, "fedc_envelope_seal: bad signer id \"%s\"", who->id);
	if (now_unix_ms < 0) /* open() reads the stamp as unsigned: it would refuse it */
		return fedc_fail(FEDC_ERR_INVAL, "fedc_envelope_seal: negative time stamp");
	if (att_len > FEDC_MAX_INLINE_PARAMS)
		return fedc_fail(FEDC_ERR_TOO_BIG, "attachment of %zu bytes is over the %u-byte limit", att_len,
				 FEDC_MAX_INLINE_PARAMS);
	if (body_len > FEDC_MAX_MESSAGE_BYTES - att_len) /* the two share the message's limit */
		return fedc_fail(FEDC_ERR_TOO_BIG, "message of %zu bytes (%zu attached) is over the %u-byte limit",
				 body_len + att_len, att_len, FEDC_MAX_MESSAGE_BYTES);
	return FEDC_OK;
}

static enum fedc_err seal(const struct sealer *who, unsigned version, const char *topic, const void *body,
			  size_t body_len, const struct fedc_attachment *att, int64_t now_unix_ms, void **out,
			  size_t *out_len)
{
	char nonce[FEDC_NONCE_HEXLEN + 1];
	struct envelope_auth auth = { .sid = who->session ? who->session->sid : NULL };
	struct signed_header h = { .version = version, .topic = topic, .signer = who->id, .nonce = nonce,
				   .ts = now_unix_ms, .sid = auth.sid, .att_sha256 = att ? att->sha256 : NULL };
	enum fedc_err rc = check_seal_args(who, topic, body, body_len, att, now_unix_ms, out, out_len);
	uint8_t *to_sign;
	size_t sign_len;

	if (rc)
		return rc;
	new_nonce(nonce);
	to_sign = signed_bytes(&h, body, body_len, &sign_len);
	if (!to_sign)
		return FEDC_ERR_NOMEM;
	if (version == 3)
		rc = fedc_session_mac(who->session->send_key, to_sign, sign_len, auth.mac);
	else if (!ed25519_sign(who->signer->key, to_sign, sign_len, auth.sig))
		rc = fedc_fail(FEDC_ERR_INVAL, "Ed25519 signing failed");
	free(to_sign);
	if (!rc)
		rc = pack_envelope(&h, body, body_len, att, &auth, out, out_len);
	OPENSSL_cleanse(auth.mac, sizeof(auth.mac)); /* packed already; nothing to keep */
	return rc;
}

enum fedc_err fedc_envelope_seal(const struct fedc_signer *s, const char *topic, const void *body,
				 size_t body_len, int64_t now_unix_ms, void **out, size_t *out_len)
{
	struct sealer who = { .id = s ? s->id : NULL, .signer = s };

	return seal(&who, 1, topic, body, body_len, NULL, now_unix_ms, out, out_len);
}

enum fedc_err fedc_envelope_seal_v2(const struct fedc_signer *s, const char *topic, const void *body,
				    size_t body_len, const struct fedc_attachment *att, int64_t now_unix_ms,
				    void **out, size_t *out_len)
{
	struct sealer who = { .id = s ? s->id : NULL, .signer = s };

	return seal(&who, 2, topic, body, body_len, att, now_unix_ms, out, out_len);
}

enum fedc_err fedc_envelope_seal_v3(const char *sender_id, const struct fedc_session *session, const char *topic,
				    const void *body, size_t body_len, const struct fedc_attachment *att,
				    int64_t now_unix_ms, void **out, size_t *out_len)
{
	struct sealer who = { .id = session ? sender_id : NULL, .session = session };

	return seal(&who, 3, topic, body, body_len, att, now_unix_ms, out, out_len);
}

/* ---- opening ---- */

/* Envelope fields, one bit each in the set of those seen. */
enum envelope_field {
	F_V = 1, F_SIGNER = 2, F_TS = 4, F_NONCE = 8, F_BODY = 16, F_BASE = 31, /* every version */
	F_SIG = 32,                     /* v1, v2 */
	F_ATT = 64, F_ATT_SHA256 = 128, /* v2, v3: together or not at all */
	F_SID = 256, F_MAC = 512        /* v3 */
};

static unsigned field_bit(const uint8_t *key, uint32_t len)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = { { "v", F_V }, { "signer", F_SIGNER }, { "ts", F_TS },
		      { "nonce", F_NONCE }, { "body", F_BODY }, { "sig", F_SIG },
		      { "att", F_ATT }, { "att_sha256", F_ATT_SHA256 },
		      { "sid", F_SID }, { "mac", F_MAC } };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (len == strlen(names[i].name) && memcmp(key, names[i].name, len) == 0) /* length first */
			return names[i].bit;
	}
	return 0;
}

/* A str value into dst: false if it does not fit or holds a NUL. */
static bool copy_str(struct fedc_cursor *c, char *dst, size_t cap)
{
	const uint8_t *p = NULL;
	uint32_t len = 0;

	if (fedc_mp_bytes(c, &FEDC_MP_STR, "a string", &p, &len) != FEDC_OK || len >= cap || memchr(p, 0, len))
		return false;
	memcpy(dst, p, len);
	dst[len] = '\0';
	return true;
}

/* A bin value: false if it is not one. */
static bool read_bin(struct fedc_cursor *c, const uint8_t **data, size_t *len)
{
	const uint8_t *p = NULL;
	uint32_t n = 0;
	bool ok = fedc_mp_bytes(c, &FEDC_MP_BIN, "a binary", &p, &n) == FEDC_OK;

	*data = ok ? p : NULL;
	*len = ok ? n : 0;
	return ok;
}

/* A bin value of exactly `want` bytes. */
static bool read_fixed_bin(struct fedc_cursor *c, size_t want, const uint8_t **data)
{
	size_t len = 0;
	bool ok = read_bin(c, data, &len) && len == want;

	if (!ok)
		*data = NULL;
	return ok;
}

/* What authenticates an envelope as read (pointers into the payload). */
struct raw_auth {
	const uint8_t *sig, *mac, *att_sha256;
	size_t sig_len;
};

/* One field's value into `out` or `raw`; false if it is of the wrong type or
 * out of range. */
static bool read_field(struct fedc_cursor *c, unsigned bit, struct fedc_envelope *out, struct raw_auth *raw)
{
	const uint8_t *sid = NULL;
	uint64_t u = 0;
	bool ok;

	switch (bit) {
	case F_V:
		ok = fedc_mp_uint(c, "v", &u) == FEDC_OK && u >= 1 && u <= 3;
		out->version = ok ? (unsigned)u : 0;
		return ok;
	case F_SIGNER:
		return copy_str(c, out->signer, sizeof(out->signer));
	case F_TS:
		ok = fedc_mp_uint(c, "ts", &u) == FEDC_OK && u <= (uint64_t)INT64_MAX;
		out->ts_ms = ok ? (int64_t)u : 0;
		return ok;
	case F_NONCE:
		return copy_str(c, out->nonce, sizeof(out->nonce)) && strlen(out->nonce) == FEDC_NONCE_HEXLEN;
	case F_BODY:
		return read_bin(c, &out->body, &out->body_len);
	case F_SIG:
		return read_bin(c, &raw->sig, &raw->sig_len);
	case F_ATT:
		return read_bin(c, &out->att, &out->att_len) && out->att_len <= FEDC_MAX_INLINE_PARAMS;
	case F_ATT_SHA256:
		return read_fixed_bin(c, FEDC_SHA256_BYTES, &raw->att_sha256);
	case F_SID:
		ok = read_fixed_bin(c, FEDC_SESSION_ID_BYTES, &sid);
		if (ok)
			memcpy(out->sid, sid, FEDC_SESSION_ID_BYTES);
		return ok;
	default: /* F_MAC */
		return read_fixed_bin(c, FEDC_SESSION_MAC_BYTES, &raw->mac);
	}
}

/* Which fields a version takes: v1 and v2 a signature, v3 a session id and
 * a MAC instead; v1 none of the attachment's, v2 and v3 both or neither. */
static enum fedc_err check_fields(unsigned seen, unsigned version)
{
	unsigned att = seen & (F_ATT | F_ATT_SHA256);
	unsigned auth = version == 3 ? F_SID | F_MAC : F_SIG;

	if ((seen & F_BASE) != F_BASE || (seen & auth) != auth)
		return fedc_fail(FEDC_ERR_MALFORMED, "envelope: a field is missing (v, signer, ts, nonce, body, %s)",
				 version == 3 ? "sid, mac" : "sig");
	if (seen & (F_SIG | F_SID | F_MAC) & ~auth)
		return fedc_fail(FEDC_ERR_MALFORMED, "envelope: version %u is authenticated by %s only", version,
				 version == 3 ? "sid and mac" : "sig");
	if (version == 1 && att)
		return fedc_fail(FEDC_ERR_MALFORMED, "envelope: version 1 has no attachment (att, att_sha256)");
	if (att && att != (F_ATT | F_ATT_SHA256))
		return fedc_fail(FEDC_ERR_MALFORMED, "envelope: att and att_sha256 go together");
	return FEDC_OK;
}

/* Reads the fields through the cursor; each must be present at most once
 * with its type. The bytes were checked whole by fedc_msgpack_check. */
static enum fedc_err read_envelope(const void *payload, size_t len, struct fedc_envelope *out, struct raw_auth *raw)
{
	struct fedc_cursor c;
	unsigned seen = 0;
	uint32_t n = 0;

	fedc_cursor_init(&c, payload, len);
	if (fedc_mp_header(&c, &FEDC_MP_MAP, "a map", &n) != FEDC_OK)
		return fedc_fail(FEDC_ERR_MALFORMED, "envelope: not a msgpack map");
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *key = NULL;
		uint32_t key_len = 0;
		unsigned bit;

		if (fedc_mp_bytes(&c, &FEDC_MP_STR, "a field name", &key, &key_len) != FEDC_OK ||
		    !(bit = field_bit(key, key_len)))
			return fedc_fail(FEDC_ERR_MALFORMED, "envelope: unknown field");
		if (!read_field(&c, bit, out, raw) || (seen & bit))
			return fedc_fail(FEDC_ERR_MALFORMED, "envelope: field %u is repeated, of the wrong type or "
					 "out of range", i);
		seen |= bit;
	}
	if (c.left)
		return fedc_fail(FEDC_ERR_MALFORMED, "envelope: %zu trailing bytes", c.left);
	out->has_att = (seen & F_ATT) != 0;
	return check_fields(seen, out->version);
}

bool fedc_envelope_detect(const void *payload, size_t len)
{
	struct fedc_cursor c;
	unsigned seen = 0;
	uint32_t n = 0;

	if (!payload || len == 0 || len > FEDC_ENVELOPE_MAX_BYTES || fedc_msgpack_check(payload, len) != FEDC_OK)
		return false;
	fedc_cursor_init(&c, payload, len);
	if (fedc_mp_header(&c, &FEDC_MP_MAP, "a map", &n) != FEDC_OK)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *key = NULL;
		uint32_t key_len = 0;

		/* a key that is not a string is skipped like a value */
		if (fedc_mp_bytes(&c, &FEDC_MP_STR, "a key", &key, &key_len) == FEDC_OK)
			seen |= field_bit(key, key_len);
		else if (fedc_mp_skip(&c, FEDC_MSGPACK_MAX_DEPTH) != FEDC_OK)
			return false;
		if (fedc_mp_skip(&c, FEDC_MSGPACK_MAX_DEPTH) != FEDC_OK)
			return false;
	}
	return (seen & F_BODY) && (seen & (F_SIG | F_MAC));
}

/* v1, v2: the Ed25519 signature of the signer's trusted key. */
static enum fedc_err verify_signature(EVP_PKEY *key, const struct signed_header *h, const struct fedc_envelope *e,
				      const struct raw_auth *raw)
{
	uint8_t *data;
	size_t len;
	bool ok;

	data = signed_bytes(h, e->body, e->body_len, &len);
	if (!data)
		return FEDC_ERR_NOMEM;
	ok = ed25519_verify(key, data, len, raw->sig, raw->sig_len);
	free(data);
	if (!ok)
		return fedc_fail(FEDC_ERR_AUTH, "bad signature (claims to be from \"%s\"; forged, altered or sent to "
				 "another topic)", e->signer);
	return FEDC_OK;
}

/* v3: the HMAC with the receive key of the session the sender names. */
static enum fedc_err verify_mac(const struct fedc_session_lookup *sessions, const struct signed_header *h,
				struct fedc_envelope *e, const struct raw_auth *raw)
{
	const struct fedc_session *s = sessions && sessions->find ? sessions->find(sessions->ctx, e->signer, e->sid)
								  : NULL;
	uint8_t mac[FEDC_SESSION_MAC_BYTES], *data;
	size_t len;
	enum fedc_err rc;

	if (!s)
		return fedc_fail(FEDC_ERR_NOT_FOUND, "unknown session: \"%s\" names a session this receiver does not "
				 "hold (restarted, evicted or dropped)", e->signer);
	data = signed_bytes(h, e->body, e->body_len, &len);
	if (!data)
		return FEDC_ERR_NOMEM;
	rc = fedc_session_mac(s->recv_key, data, len, mac);
	free(data);
	if (!rc && CRYPTO_memcmp(mac, raw->mac, FEDC_SESSION_MAC_BYTES) != 0)
		rc = fedc_fail(FEDC_ERR_AUTH, "bad MAC (claims to be from \"%s\" in a known session; forged, altered or "
			       "sent to another topic)", e->signer);
	OPENSSL_cleanse(mac, sizeof(mac));
	if (!rc)
		e->session = s;
	return rc;
}

static enum fedc_err verify(const struct fedc_keyring *trusted, const struct fedc_session_lookup *sessions,
			    const char *topic, struct fedc_envelope *e, const struct raw_auth *raw)
{
	EVP_PKEY *key = keyring_find(trusted, e->signer);
	struct signed_header h = { .version = e->version, .topic = topic, .signer = e->signer, .nonce = e->nonce,
				   .ts = e->ts_ms, .sid = e->sid, .att_sha256 = raw->att_sha256 };

	/* v3 too: a session outlives no revocation of its peer's key */
	if (!key)
		return fedc_fail(FEDC_ERR_AUTH, "signed by \"%s\", whose key is not trusted here", e->signer);
	return e->version == 3 ? verify_mac(sessions, &h, e, raw) : verify_signature(key, &h, e, raw);
}

/* v2, v3: the attachment must hash to the digest the signature covered; the
 * one pass over its bytes that the receiver makes (out->att_sha256 keeps it). */
static enum fedc_err check_attachment(struct fedc_envelope *e, const uint8_t signed_sha256[FEDC_SHA256_BYTES])
{
	unsigned int md_len = 0;

	if (EVP_Digest(e->att, e->att_len, e->att_sha256, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len != FEDC_SHA256_BYTES)
		return fedc_fail(FEDC_ERR_NOMEM, "SHA-256 of the attachment failed");
	if (CRYPTO_memcmp(e->att_sha256, signed_sha256, FEDC_SHA256_BYTES) != 0)
		return fedc_fail(FEDC_ERR_AUTH, "the attachment (%zu bytes) does not hash to the digest that \"%s\" "
				 "signed: altered or swapped in transit", e->att_len, e->signer);
	return FEDC_OK;
}

enum fedc_err fedc_envelope_open_sessions(const struct fedc_keyring *trusted, const struct fedc_session_lookup *sessions,
					  const char *topic, const void *payload, size_t len, struct fedc_envelope *out)
{
	struct raw_auth raw = { 0 };
	enum fedc_err rc;

	if (!topic || !out || (!payload && len))
		return fedc_fail(FEDC_ERR_INVAL, "fedc_envelope_open: NULL argument");
	memset(out, 0, sizeof(*out));
	if (len == 0 || len > FEDC_ENVELOPE_MAX_BYTES)
		return fedc_fail(FEDC_ERR_MALFORMED, "envelope: %zu bytes (1..%u allowed)", len,
				 FEDC_ENVELOPE_MAX_BYTES);
	rc = fedc_msgpack_check(payload, len);
	if (rc)
		return fedc_fail(rc, "envelope: %s", fedc_last_error());
	rc = read_envelope(payload, len, out, &raw);
	/* body, att, sig and mac point into `payload` */
	if (!rc)
		rc = verify(trusted, sessions, topic, out, &raw);
	if (!rc && out->has_att)
		rc = check_attachment(out, raw.att_sha256);
	if (rc)
		out->session = NULL;
	return rc;
}

enum fedc_err fedc_envelope_open(const struct fedc_keyring *trusted, const char *topic, const void *payload,
				 size_t len, struct fedc_envelope *out)
{
	return fedc_envelope_open_sessions(trusted, NULL, topic, payload, len, out);
}

/* ---- replay guard ---- */

struct seen_nonce {
	uint8_t key[16]; /* SHA-256(signer 0 nonce), truncated */
	int64_t ts;
	bool used;
};

struct fedc_replay_guard {
	int64_t window_ms;
	size_t capacity, n_slots, count;
	struct seen_nonce *slots;
};

enum fedc_err fedc_replay_guard_new(int64_t window_ms, size_t capacity, struct fedc_replay_guard **out)
{
	struct fedc_replay_guard *g;

	if (window_ms <= 0 || capacity == 0 || capacity > (1u << 24) || !out)
		return fedc_fail(FEDC_ERR_INVAL, "replay guard: bad window or capacity");
	g = calloc(1, sizeof(*g));
	if (!g)
		return FEDC_ERR_NOMEM;
	g->window_ms = window_ms;
	g->capacity = capacity;
	g->n_slots = capacity * 2; /* load factor at most 1/2: short probes */
	g->slots = calloc(g->n_slots, sizeof(*g->slots));
	if (!g->slots) {
		free(g);
		return FEDC_ERR_NOMEM;
	}
	*out = g;
	return FEDC_OK;
}

void fedc_replay_guard_free(struct fedc_replay_guard *g)
{
	if (!g)
		return;
	free(g->slots);
	free(g);
}

static void nonce_key(const char *signer, const char *nonce, uint8_t key[16])
{
	uint8_t md[32];
	unsigned int md_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	memset(md, 0, sizeof(md));
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(ctx, signer, strlen(signer) + 1);
		EVP_DigestUpdate(ctx, nonce, strlen(nonce));
		EVP_DigestFinal_ex(ctx, md, &md_len);
	}
	EVP_MD_CTX_free(ctx);
	memcpy(key, md, 16);
}

static struct seen_nonce *find_slot(struct fedc_replay_guard *g, const uint8_t key[16])
{
	size_t i;

	memcpy(&i, key, sizeof(i));
	for (i %= g->n_slots;; i = (i + 1) % g->n_slots) {
		if (!g->slots[i].used || memcmp(g->slots[i].key, key, 16) == 0)
			return &g->slots[i];
	}
}

/* Drops the nonces whose stamp can no longer pass the window check. */
static void purge(struct fedc_replay_guard *g, int64_t now)
{
	struct seen_nonce *old = g->slots;
	struct seen_nonce *fresh = calloc(g->n_slots, sizeof(*fresh));

	if (!fresh)
		return; /* keep the full table: callers then refuse, which is safe */
	g->slots = fresh;
	g->count = 0;
	for (size_t i = 0; i < g->n_slots; i++) {
		if (old[i].used && old[i].ts >= now - g->window_ms) {
			*find_slot(g, old[i].key) = old[i];
			g->count++;
		}
	}
	free(old);
}

static enum fedc_err insert(struct fedc_replay_guard *g, const uint8_t key[16], int64_t ts, int64_t now)
{
	struct seen_nonce *slot;

	if (g->count >= g->capacity)
		purge(g, now);
	slot = find_slot(g, key);
	if (slot->used)
		return fedc_fail(FEDC_ERR_AUTH, "replayed: this nonce was already accepted");
	if (g->count >= g->capacity)
		return fedc_fail(FEDC_ERR_TOO_BIG, "replay guard full: %zu messages inside the window", g->count);
	memcpy(slot->key, key, 16);
	slot->ts = ts;
	slot->used = true;
	g->count++;
	return FEDC_OK;
}

enum fedc_err fedc_replay_check(struct fedc_replay_guard *g, const char *signer, const char *nonce,
				int64_t ts_ms, int64_t now_unix_ms)
{
	uint8_t key[16];
	int64_t age = now_unix_ms - ts_ms;

	if (age > g->window_ms || -age > g->window_ms)
		return fedc_fail(FEDC_ERR_AUTH, "stale: stamped %.1f s %s by this clock (window %.0f s)",
				 (double)(age > 0 ? age : -age) / 1000.0, age > 0 ? "ago" : "in the future",
				 (double)g->window_ms / 1000.0);
	nonce_key(signer, nonce, key);
	return insert(g, key, ts_ms, now_unix_ms);
}

void fedc_replay_remember(struct fedc_replay_guard *g, const char *signer, const char *nonce, int64_t ts_ms,
			  int64_t now_unix_ms)
{
	uint8_t key[16];

	if (ts_ms < now_unix_ms - g->window_ms)
		return; /* would be refused as stale anyway */
	nonce_key(signer, nonce, key);
	(void)insert(g, key, ts_ms, now_unix_ms);
}

/* ---- detached signatures ---- */

enum fedc_err fedc_sign(const struct fedc_signer *s, const void *data, size_t len, uint8_t sig[FEDC_SIGNATURE_BYTES])
{
	return ed25519_sign(s->key, data, len, sig) ? FEDC_OK : fedc_fail(FEDC_ERR_INVAL, "Ed25519 signing failed");
}

enum fedc_err fedc_keyring_verify(const struct fedc_keyring *k, const char *id, const void *data, size_t len,
				  const uint8_t sig[FEDC_SIGNATURE_BYTES])
{
	EVP_PKEY *key = keyring_find(k, id);

	if (!key)
		return fedc_fail(FEDC_ERR_NOT_FOUND, "no public key for \"%s\"", id);
	if (!ed25519_verify(key, data, len, sig, FEDC_SIGNATURE_BYTES))
		return fedc_fail(FEDC_ERR_AUTH, "the signature of \"%s\" does not verify", id);
	return FEDC_OK;
}
