/* Per-job session keys: X25519 agreement, HKDF-SHA256 derivation, the HMAC
 * of envelope version 3, and a bounded table of sessions (fedc/session_key.h). */
#include "fedc/session_key.h"

#include "fedc/hash.h"
#include "fedc/id.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "x25519_internal.h"

#define SESSION_INFO "fedc-session-v1"

struct fedc_session_kx {
	EVP_PKEY *key;
	uint8_t pub[FEDC_SESSION_KX_BYTES];
};

/* OpenSSL's reason, if it left one, in the detail message. */
static enum fedc_err ossl_fail(enum fedc_err code, const char *what)
{
	unsigned long e = ERR_get_error();
	char reason[160] = "";

	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	return fedc_fail(code, "%s%s%s", what, e ? ": " : "", reason);
}

enum fedc_err fedc_session_kx_new(struct fedc_session_kx **out)
{
	struct fedc_session_kx *kx;
	size_t len = FEDC_SESSION_KX_BYTES;

	if (!out)
		return fedc_fail(FEDC_ERR_INVAL, "session kx: NULL argument");
	*out = NULL;
	kx = calloc(1, sizeof(*kx));
	if (!kx)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for a session key");
	kx->key = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	if (!kx->key) {
		free(kx);
		return ossl_fail(FEDC_ERR_IO, "X25519 key generation failed");
	}
	if (EVP_PKEY_get_raw_public_key(kx->key, kx->pub, &len) != 1 || len != FEDC_SESSION_KX_BYTES) {
		fedc_session_kx_free(kx);
		return ossl_fail(FEDC_ERR_IO, "cannot read the X25519 public key");
	}
	*out = kx;
	return FEDC_OK;
}

const uint8_t *fedc_session_kx_public(const struct fedc_session_kx *kx)
{
	return kx->pub;
}

void fedc_session_kx_free(struct fedc_session_kx *kx)
{
	if (!kx)
		return;
	EVP_PKEY_free(kx->key); /* OpenSSL wipes the private key */
	free(kx);
}

/* The raw X25519 shared secret (x25519_internal.h). */
static enum fedc_err dh(const struct fedc_session_kx *mine, const uint8_t peer_kx[FEDC_SESSION_KX_BYTES],
			uint8_t shared[32])
{
	return fedc__x25519_shared(mine->key, peer_kx, shared, "session key", "session_kx");
}

/* info = "fedc-session-v1" 0 researcher_id 0 node_id 0 job_id; false if it
 * does not fit (ids are capped far below). */
static bool session_info(const char *researcher_id, const char *node_id, const char *job_id, uint8_t *info,
			 size_t cap, size_t *len)
{
	int n = snprintf((char *)info, cap, "%s%c%s%c%s%c%s", SESSION_INFO, 0, researcher_id, 0, node_id, 0, job_id);

	*len = n > 0 ? (size_t)n : 0;
	return n > 0 && (size_t)n < cap;
}

static bool sha256(const void *data, size_t len, uint8_t md[32])
{
	unsigned int md_len = 0;

	return EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) == 1 && md_len == 32;
}

enum fedc_err fedc_session_derive(const struct fedc_session_kx *mine, const uint8_t peer_kx[FEDC_SESSION_KX_BYTES],
				  enum fedc_session_role role, const char *researcher_id, const char *node_id,
				  const char *job_id, struct fedc_session *out)
{
	uint8_t shared[32], salt[2 * FEDC_SESSION_KX_BYTES], keys[2 * FEDC_SESSION_KEY_BYTES], md[32];
	uint8_t info[sizeof(SESSION_INFO) + 2 * FEDC_MAX_ID_LEN + FEDC_SESSION_JOB_ID_MAX + 4];
	bool researcher = role == FEDC_SESSION_RESEARCHER;
	size_t info_len = 0;
	enum fedc_err rc;

	if (!out)
		return fedc_fail(FEDC_ERR_INVAL, "session derive: NULL argument");
	memset(out, 0, sizeof(*out));
	if (!mine || !peer_kx || !researcher_id || !node_id || !job_id || !fedc_id_valid(researcher_id) ||
	    !fedc_id_valid(node_id) || strlen(job_id) > FEDC_SESSION_JOB_ID_MAX ||
	    !session_info(researcher_id, node_id, job_id, info, sizeof(info), &info_len))
		return fedc_fail(FEDC_ERR_INVAL, "session derive: bad researcher, node or job id");
	/* the researcher's public key first, whichever side derives */
	memcpy(salt, researcher ? mine->pub : peer_kx, FEDC_SESSION_KX_BYTES);
	memcpy(salt + FEDC_SESSION_KX_BYTES, researcher ? peer_kx : mine->pub, FEDC_SESSION_KX_BYTES);
	rc = dh(mine, peer_kx, shared);
	if (!rc)
		rc = fedc_hkdf_sha256(salt, sizeof(salt), shared, sizeof(shared), info, info_len, keys, sizeof(keys));
	if (!rc && !sha256(salt, sizeof(salt), md))
		rc = ossl_fail(FEDC_ERR_IO, "SHA-256 of the session keys failed");
	if (!rc) {
		/* keys = k_researcher_to_node || k_node_to_researcher */
		memcpy(out->send_key, keys + (researcher ? 0 : FEDC_SESSION_KEY_BYTES), FEDC_SESSION_KEY_BYTES);
		memcpy(out->recv_key, keys + (researcher ? FEDC_SESSION_KEY_BYTES : 0), FEDC_SESSION_KEY_BYTES);
		memcpy(out->sid, md, FEDC_SESSION_ID_BYTES);
		snprintf(out->job_id, sizeof(out->job_id), "%s", job_id);
	}
	OPENSSL_cleanse(shared, sizeof(shared));
	OPENSSL_cleanse(keys, sizeof(keys));
	return rc;
}

void fedc_session_wipe(struct fedc_session *s)
{
	if (s)
		OPENSSL_cleanse(s, sizeof(*s));
}

enum fedc_err fedc_session_mac(const uint8_t key[FEDC_SESSION_KEY_BYTES], const void *data, size_t len,
			       uint8_t mac[FEDC_SESSION_MAC_BYTES])
{
	unsigned int mac_len = 0;

	if (!HMAC(EVP_sha256(), key, FEDC_SESSION_KEY_BYTES, data, len, mac, &mac_len) ||
	    mac_len != FEDC_SESSION_MAC_BYTES) {
		OPENSSL_cleanse(mac, FEDC_SESSION_MAC_BYTES);
		return ossl_fail(FEDC_ERR_IO, "HMAC-SHA256 failed");
	}
	return FEDC_OK;
}

/* ---- the table ---- */

struct table_entry {
	char peer[FEDC_MAX_ID_LEN + 1];
	struct fedc_session s;
	uint64_t last_used; /* 0: free slot */
};

struct fedc_session_table {
	struct table_entry *e;
	size_t capacity, count;
	uint64_t clock; /* ticks at each put and find: the LRU order */
};

#define SESSION_TABLE_MAX 65536u

enum fedc_err fedc_session_table_new(size_t capacity, struct fedc_session_table **out)
{
	struct fedc_session_table *t;

	if (!out || capacity == 0 || capacity > SESSION_TABLE_MAX)
		return fedc_fail(FEDC_ERR_INVAL, "session table: capacity %zu (1..%u allowed)", capacity,
				 SESSION_TABLE_MAX);
	t = calloc(1, sizeof(*t));
	if (t)
		t->e = calloc(capacity, sizeof(*t->e));
	if (!t || !t->e) {
		free(t);
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for a session table");
	}
	t->capacity = capacity;
	*out = t;
	return FEDC_OK;
}

void fedc_session_table_free(struct fedc_session_table *t)
{
	if (!t)
		return;
	OPENSSL_cleanse(t->e, t->capacity * sizeof(*t->e));
	free(t->e);
	free(t);
}

static void entry_drop(struct fedc_session_table *t, struct table_entry *e)
{
	OPENSSL_cleanse(e, sizeof(*e));
	t->count--;
}

/* A linear scan: the table is small (a node's few hundred researchers' jobs)
 * and is searched once per train. */
static struct table_entry *entry_find(struct fedc_session_table *t, const char *peer_id,
				      const uint8_t sid[FEDC_SESSION_ID_BYTES])
{
	for (size_t i = 0; i < t->capacity; i++) {
		struct table_entry *e = &t->e[i];

		if (e->last_used && memcmp(e->s.sid, sid, FEDC_SESSION_ID_BYTES) == 0 && strcmp(e->peer, peer_id) == 0)
			return e;
	}
	return NULL;
}

/* A free slot, or the least recently used one emptied. */
static struct table_entry *entry_free_slot(struct fedc_session_table *t)
{
	struct table_entry *oldest = &t->e[0];

	for (size_t i = 0; i < t->capacity; i++) {
		if (!t->e[i].last_used)
			return &t->e[i];
		if (t->e[i].last_used < oldest->last_used)
			oldest = &t->e[i];
	}
	entry_drop(t, oldest);
	return oldest;
}

enum fedc_err fedc_session_table_put(struct fedc_session_table *t, const char *peer_id, const struct fedc_session *s)
{
	struct table_entry *e;

	if (!t || !peer_id || !s || !fedc_id_valid(peer_id))
		return fedc_fail(FEDC_ERR_INVAL, "session table: bad argument");
	e = entry_find(t, peer_id, s->sid);
	if (!e) {
		e = entry_free_slot(t);
		t->count++;
	}
	snprintf(e->peer, sizeof(e->peer), "%s", peer_id);
	e->s = *s;
	e->last_used = ++t->clock;
	return FEDC_OK;
}

const struct fedc_session *fedc_session_table_find(struct fedc_session_table *t, const char *peer_id,
						   const uint8_t sid[FEDC_SESSION_ID_BYTES])
{
	struct table_entry *e = t && peer_id && sid ? entry_find(t, peer_id, sid) : NULL;

	if (!e)
		return NULL;
	e->last_used = ++t->clock;
	return &e->s;
}

size_t fedc_session_table_drop(struct fedc_session_table *t, const char *peer_id)
{
	size_t dropped = 0;

	for (size_t i = 0; t && i < t->capacity; i++) {
		if (t->e[i].last_used && (!peer_id || strcmp(t->e[i].peer, peer_id) == 0)) {
			entry_drop(t, &t->e[i]);
			dropped++;
		}
	}
	return dropped;
}

size_t fedc_session_table_count(const struct fedc_session_table *t)
{
	return t ? t->count : 0;
}
