/* The secure-aggregation steps' data (fedc/secagg_wire.h): a small msgpack
 * writer for the few forms used, and decoders over the bounds-checked cursor. */
#include "fedc/secagg_wire.h"

#include <string.h>

#include "fedc/cursor.h"
#include "fedc/id.h"

/* ---- writing ---- */

static enum fedc_err put_u8(struct fedc_buf *out, uint8_t v)
{
	return fedc_buf_append(out, &v, 1);
}

/* An array header of n (< 2^16) entries. */
static enum fedc_err put_array(struct fedc_buf *out, size_t n)
{
	uint8_t h[3] = { 0xdc, (uint8_t)(n >> 8), (uint8_t)n };

	if (n < 16)
		return put_u8(out, (uint8_t)(0x90 | n));
	return fedc_buf_append(out, h, sizeof(h));
}

static enum fedc_err put_str(struct fedc_buf *out, const char *s)
{
	size_t len = strlen(s);
	uint8_t h[2] = { 0xd9, (uint8_t)len }; /* ids are at most 64 bytes */
	enum fedc_err rc = len < 32 ? put_u8(out, (uint8_t)(0xa0 | len)) : fedc_buf_append(out, h, sizeof(h));

	return rc ? rc : fedc_buf_append(out, s, len);
}

static enum fedc_err put_bin(struct fedc_buf *out, const uint8_t *p, size_t len)
{
	uint8_t h[2] = { 0xc4, (uint8_t)len }; /* every blob here is under 256 bytes */
	enum fedc_err rc = fedc_buf_append(out, h, sizeof(h));

	return rc ? rc : fedc_buf_append(out, p, len);
}

static enum fedc_err too_big(enum fedc_err rc, const struct fedc_buf *out)
{
	if (rc == FEDC_OK && out->len > FEDC_MAX_SECAGG_DATA)
		return fedc_fail(FEDC_ERR_TOO_BIG, "secure-aggregation data of %zu bytes: at most %u fit a message",
				 out->len, FEDC_MAX_SECAGG_DATA);
	return rc;
}

enum fedc_err fedc_secagg_put_keys(struct fedc_buf *out, const struct fedc_secagg_keys *k, size_t n)
{
	enum fedc_err rc = put_array(out, n);

	for (size_t i = 0; !rc && i < n; i++) {
		rc = put_array(out, 4);
		if (!rc)
			rc = put_str(out, k[i].node_id);
		if (!rc)
			rc = put_bin(out, k[i].c_pk, sizeof(k[i].c_pk));
		if (!rc)
			rc = put_bin(out, k[i].s_pk, sizeof(k[i].s_pk));
		if (!rc)
			rc = put_bin(out, k[i].sig, sizeof(k[i].sig));
	}
	return too_big(rc, out);
}

enum fedc_err fedc_secagg_put_sealed(struct fedc_buf *out, const struct fedc_secagg_sealed *s, size_t n)
{
	enum fedc_err rc = put_array(out, n);

	for (size_t i = 0; !rc && i < n; i++) {
		rc = put_array(out, 2);
		if (!rc)
			rc = put_str(out, s[i].node_id);
		if (!rc)
			rc = put_bin(out, s[i].ct, sizeof(s[i].ct));
	}
	return too_big(rc, out);
}

enum fedc_err fedc_secagg_put_shares(struct fedc_buf *out, const struct fedc_secagg_share *s, size_t n,
				     bool with_share)
{
	enum fedc_err rc = put_array(out, n);

	for (size_t i = 0; !rc && i < n; i++) {
		rc = put_array(out, with_share ? 4 : 2);
		if (!rc)
			rc = put_str(out, s[i].node_id);
		if (!rc)
			rc = put_u8(out, s[i].kind); /* a positive fixint */
		if (!rc && with_share)
			rc = put_u8(out, s[i].x <= 0x7f ? s[i].x : 0xcc);
		if (!rc && with_share && s[i].x > 0x7f)
			rc = put_u8(out, s[i].x);
		if (!rc && with_share)
			rc = put_bin(out, s[i].share, sizeof(s[i].share));
	}
	return too_big(rc, out);
}

/* ---- reading ---- */

static enum fedc_err entry_fail(size_t i, const char *what)
{
	return fedc_fail(FEDC_ERR_MALFORMED, "secure-aggregation entry %zu: %s: %s", i, what, fedc_last_error());
}

static enum fedc_err get_entries(struct fedc_cursor *c, size_t cap, size_t *n)
{
	uint32_t count;
	enum fedc_err rc = fedc_mp_header(c, &FEDC_MP_ARRAY, "the entries (array)", &count);

	if (rc)
		return rc;
	if (count > cap)
		return fedc_fail(FEDC_ERR_MALFORMED, "secure-aggregation data: %u entries, at most %zu expected", count,
				 cap);
	*n = count;
	return FEDC_OK;
}

static enum fedc_err get_entry(struct fedc_cursor *c, uint32_t fields, size_t i)
{
	uint32_t count;
	enum fedc_err rc = fedc_mp_header(c, &FEDC_MP_ARRAY, "an entry (array)", &count);

	if (rc)
		return entry_fail(i, "not an array");
	if (count != fields)
		return fedc_fail(FEDC_ERR_MALFORMED, "secure-aggregation entry %zu: %u fields, expected %u", i, count,
				 fields);
	return FEDC_OK;
}

static enum fedc_err get_id(struct fedc_cursor *c, char out[FEDC_MAX_ID_LEN + 1], size_t i)
{
	const uint8_t *p;
	uint32_t len;

	if (fedc_mp_bytes(c, &FEDC_MP_STR, "a node id (str)", &p, &len))
		return entry_fail(i, "node id");
	if (len == 0 || len > FEDC_MAX_ID_LEN)
		return fedc_fail(FEDC_ERR_MALFORMED, "secure-aggregation entry %zu: node id of %u bytes", i, len);
	memcpy(out, p, len);
	out[len] = '\0';
	if (strlen(out) != len || !fedc_id_valid(out))
		return fedc_fail(FEDC_ERR_MALFORMED, "secure-aggregation entry %zu: not a valid node id", i);
	return FEDC_OK;
}

static enum fedc_err get_fixed(struct fedc_cursor *c, uint8_t *out, uint32_t want, const char *what, size_t i)
{
	const uint8_t *p;
	uint32_t len;

	if (fedc_mp_bytes(c, &FEDC_MP_BIN, what, &p, &len))
		return entry_fail(i, what);
	if (len != want)
		return fedc_fail(FEDC_ERR_MALFORMED, "secure-aggregation entry %zu: %s of %u bytes, expected %u", i,
				 what, len, want);
	memcpy(out, p, len);
	return FEDC_OK;
}

static enum fedc_err get_small(struct fedc_cursor *c, uint64_t max, const char *what, size_t i, uint8_t *out)
{
	uint64_t v;

	if (fedc_mp_uint(c, what, &v))
		return entry_fail(i, what);
	if (v > max)
		return fedc_fail(FEDC_ERR_MALFORMED, "secure-aggregation entry %zu: %s %llu out of range", i, what,
				 (unsigned long long)v);
	*out = (uint8_t)v;
	return FEDC_OK;
}

static enum fedc_err get_end(const struct fedc_cursor *c)
{
	return c->left ? fedc_fail(FEDC_ERR_MALFORMED, "secure-aggregation data: %zu trailing bytes", c->left)
		       : FEDC_OK;
}

enum fedc_err fedc_secagg_get_keys(const void *data, size_t len, struct fedc_secagg_keys *out, size_t cap,
				   size_t *n)
{
	struct fedc_cursor c;
	enum fedc_err rc;

	fedc_cursor_init(&c, data, len);
	rc = get_entries(&c, cap, n);
	for (size_t i = 0; !rc && i < *n; i++) {
		rc = get_entry(&c, 4, i);
		if (!rc)
			rc = get_id(&c, out[i].node_id, i);
		if (!rc)
			rc = get_fixed(&c, out[i].c_pk, FEDC_SECAGG_PK_BYTES, "c_pk", i);
		if (!rc)
			rc = get_fixed(&c, out[i].s_pk, FEDC_SECAGG_PK_BYTES, "s_pk", i);
		if (!rc)
			rc = get_fixed(&c, out[i].sig, FEDC_SECAGG_SIG_BYTES, "signature", i);
	}
	return rc ? rc : get_end(&c);
}

enum fedc_err fedc_secagg_get_sealed(const void *data, size_t len, struct fedc_secagg_sealed *out, size_t cap,
				     size_t *n)
{
	struct fedc_cursor c;
	enum fedc_err rc;

	fedc_cursor_init(&c, data, len);
	rc = get_entries(&c, cap, n);
	for (size_t i = 0; !rc && i < *n; i++) {
		rc = get_entry(&c, 2, i);
		if (!rc)
			rc = get_id(&c, out[i].node_id, i);
		if (!rc)
			rc = get_fixed(&c, out[i].ct, FEDC_SECAGG_SEALED_BYTES, "sealed share", i);
	}
	return rc ? rc : get_end(&c);
}

enum fedc_err fedc_secagg_get_shares(const void *data, size_t len, struct fedc_secagg_share *out, size_t cap,
				     size_t *n, bool with_share)
{
	struct fedc_cursor c;
	enum fedc_err rc;

	fedc_cursor_init(&c, data, len);
	rc = get_entries(&c, cap, n);
	for (size_t i = 0; !rc && i < *n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		rc = get_entry(&c, with_share ? 4 : 2, i);
		if (!rc)
			rc = get_id(&c, out[i].node_id, i);
		if (!rc)
			rc = get_small(&c, FEDC_SECAGG_KIND_S, "kind", i, &out[i].kind);
		if (!rc && with_share)
			rc = get_small(&c, 255, "x", i, &out[i].x);
		if (!rc && with_share && out[i].x == 0)
			rc = fedc_fail(FEDC_ERR_MALFORMED, "secure-aggregation entry %zu: share x is 0", i);
		if (!rc && with_share)
			rc = get_fixed(&c, out[i].share, FEDC_SECAGG_PK_BYTES, "share", i);
	}
	return rc ? rc : get_end(&c);
}

/* ---- bound bytes ---- */

static size_t put_raw(uint8_t *out, size_t at, const void *p, size_t len)
{
	memcpy(out + at, p, len);
	return at + len;
}

static size_t put_be64(uint8_t *out, size_t at, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		out[at++] = (uint8_t)(v >> (8 * i));
	return at;
}

static size_t put_id(uint8_t *out, size_t at, const char *id)
{
	size_t len = strnlen(id, FEDC_MAX_ID_LEN);

	out[at++] = (uint8_t)len;
	return put_raw(out, at, id, len);
}

size_t fedc_secagg_keys_signed(const char *job_id, uint64_t round, const struct fedc_secagg_keys *k,
			       uint8_t out[FEDC_SECAGG_SIGNED_MAX])
{
	static const char context[] = "fedc-secagg-keys-v1"; /* with its NUL */
	size_t at = put_raw(out, 0, context, sizeof(context));

	at = put_raw(out, at, job_id, strnlen(job_id, FEDC_UUID_STRLEN));
	at = put_be64(out, at, round);
	at = put_id(out, at, k->node_id);
	at = put_raw(out, at, k->c_pk, sizeof(k->c_pk));
	return put_raw(out, at, k->s_pk, sizeof(k->s_pk));
}

size_t fedc_secagg_context(const char *purpose, const char *job_id, uint64_t round, const char *a, const char *b,
			   uint8_t out[FEDC_SECAGG_CONTEXT_MAX])
{
	size_t at = put_raw(out, 0, purpose, strnlen(purpose, 31) + 1);

	at = put_raw(out, at, job_id, strnlen(job_id, FEDC_UUID_STRLEN));
	at = put_be64(out, at, round);
	at = put_id(out, at, a);
	return put_id(out, at, b);
}
