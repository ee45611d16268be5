/* Per-job session keys (fedc/session_key.h): both sides derive the same
 * session, every bound input changes it, low-order peer keys are refused,
 * and the table evicts the least recently used session. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "fedc/session_key.h"

#define JOB "00000000-0000-4000-8000-000000000001"

struct pair {
	struct fedc_session_kx *r, *n;
	struct fedc_session rs, ns; /* the researcher's and the node's view */
};

static void agree(struct pair *p, const char *job)
{
	assert_int_equal(fedc_session_kx_new(&p->r), FEDC_OK);
	assert_int_equal(fedc_session_kx_new(&p->n), FEDC_OK);
	assert_int_equal(fedc_session_derive(p->r, fedc_session_kx_public(p->n), FEDC_SESSION_RESEARCHER, "r1", "n1", job,
					     &p->rs),
			 FEDC_OK);
	assert_int_equal(fedc_session_derive(p->n, fedc_session_kx_public(p->r), FEDC_SESSION_NODE, "r1", "n1", job,
					     &p->ns),
			 FEDC_OK);
}

static void pair_free(struct pair *p)
{
	fedc_session_kx_free(p->r);
	fedc_session_kx_free(p->n);
}

static void test_both_sides_agree(void **state)
{
	struct pair p;

	(void)state;
	agree(&p, JOB);
	assert_memory_equal(p.rs.sid, p.ns.sid, FEDC_SESSION_ID_BYTES);
	assert_memory_equal(p.rs.send_key, p.ns.recv_key, FEDC_SESSION_KEY_BYTES);
	assert_memory_equal(p.rs.recv_key, p.ns.send_key, FEDC_SESSION_KEY_BYTES);
	/* one key per direction */
	assert_memory_not_equal(p.rs.send_key, p.rs.recv_key, FEDC_SESSION_KEY_BYTES);
	assert_string_equal(p.rs.job_id, JOB);
	assert_string_equal(p.ns.job_id, JOB);
	pair_free(&p);
}

/* Researcher, node and job ids are bound into the keys (not the sid, which
 * names the key exchange): the same exchange under another id disagrees. */
static void test_ids_bound(void **state)
{
	static const char *const ids[][3] = { { "r2", "n1", JOB }, { "r1", "n2", JOB }, { "r1", "n1", "other-job" } };
	struct fedc_session other;
	struct pair p;

	(void)state;
	agree(&p, JOB);
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		assert_int_equal(fedc_session_derive(p.n, fedc_session_kx_public(p.r), FEDC_SESSION_NODE, ids[i][0], ids[i][1],
						     ids[i][2], &other),
				 FEDC_OK);
		assert_memory_equal(other.sid, p.rs.sid, FEDC_SESSION_ID_BYTES);
		assert_memory_not_equal(other.recv_key, p.rs.send_key, FEDC_SESSION_KEY_BYTES);
		assert_memory_not_equal(other.send_key, p.rs.recv_key, FEDC_SESSION_KEY_BYTES);
	}
	pair_free(&p);
}

/* Two runs of the same job agree on different sessions. */
static void test_fresh_per_exchange(void **state)
{
	struct pair a, b;

	(void)state;
	agree(&a, JOB);
	agree(&b, JOB);
	assert_memory_not_equal(a.rs.sid, b.rs.sid, FEDC_SESSION_ID_BYTES);
	assert_memory_not_equal(a.rs.send_key, b.rs.send_key, FEDC_SESSION_KEY_BYTES);
	pair_free(&a);
	pair_free(&b);
}

/* Peer keys whose shared secret is all zero (the identity and small-order
 * points of Curve25519, RFC 7748 section 6.1) are refused. */
static void test_low_order_point_refused(void **state)
{
	static const uint8_t low_order[][FEDC_SESSION_KX_BYTES] = {
		{ 0 },
		{ 1 },
		{ 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
		  0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
	};
	struct fedc_session_kx *me;
	struct fedc_session s;

	(void)state;
	assert_int_equal(fedc_session_kx_new(&me), FEDC_OK);
	for (size_t i = 0; i < sizeof(low_order) / sizeof(low_order[0]); i++) {
		memset(&s, 0xaa, sizeof(s));
		assert_int_equal(fedc_session_derive(me, low_order[i], FEDC_SESSION_NODE, "r1", "n1", JOB, &s),
				 FEDC_ERR_INVAL);
		assert_non_null(strstr(fedc_last_error(), "low-order"));
		for (size_t b = 0; b < FEDC_SESSION_KEY_BYTES; b++)
			assert_int_equal(s.send_key[b] | s.recv_key[b], 0); /* wiped */
	}
	fedc_session_kx_free(me);
}

static void test_bad_ids_refused(void **state)
{
	char long_job[FEDC_SESSION_JOB_ID_MAX + 2];
	struct fedc_session s;
	struct pair p;

	(void)state;
	agree(&p, JOB);
	memset(long_job, 'j', sizeof(long_job) - 1);
	long_job[sizeof(long_job) - 1] = '\0';
	assert_int_equal(fedc_session_derive(p.r, fedc_session_kx_public(p.n), FEDC_SESSION_RESEARCHER, "r 1", "n1", JOB,
					     &s),
			 FEDC_ERR_INVAL);
	assert_int_equal(fedc_session_derive(p.r, fedc_session_kx_public(p.n), FEDC_SESSION_RESEARCHER, "r1", "", JOB, &s),
			 FEDC_ERR_INVAL);
	assert_int_equal(fedc_session_derive(p.r, fedc_session_kx_public(p.n), FEDC_SESSION_RESEARCHER, "r1", "n1",
					     long_job, &s),
			 FEDC_ERR_INVAL);
	assert_int_equal(fedc_session_derive(p.r, NULL, FEDC_SESSION_RESEARCHER, "r1", "n1", JOB, &s), FEDC_ERR_INVAL);
	pair_free(&p);
}

/* HMAC-SHA256 with a 32-byte key of 0x0b over "Hi There", as OpenSSL's
 * command line computes it independently:
 * printf 'Hi There' | openssl dgst -sha256 -mac HMAC -macopt hexkey:0b...0b (32 bytes). */
static void test_mac_known_answer(void **state)
{
	static const uint8_t want[FEDC_SESSION_MAC_BYTES] = {
		0x19, 0x8a, 0x60, 0x7e, 0xb4, 0x4b, 0xfb, 0xc6, 0x99, 0x03, 0xa0, 0xf1, 0xcf, 0x2b, 0xbd, 0xc5,
		0xba, 0x0a, 0xa3, 0xf3, 0xd9, 0xae, 0x3c, 0x1c, 0x7a, 0x3b, 0x16, 0x96, 0xa0, 0xb6, 0x8c, 0xf7,
	};
	uint8_t key[FEDC_SESSION_KEY_BYTES], mac[FEDC_SESSION_MAC_BYTES];

	(void)state;
	memset(key, 0x0b, sizeof(key));
	assert_int_equal(fedc_session_mac(key, "Hi There", 8, mac), FEDC_OK);
	assert_memory_equal(mac, want, sizeof(want));
}

static void session_with(struct fedc_session *s, uint8_t tag)
{
	memset(s, 0, sizeof(*s));
	memset(s->sid, tag, sizeof(s->sid));
	memset(s->recv_key, tag, sizeof(s->recv_key));
	snprintf(s->job_id, sizeof(s->job_id), "job-%u", tag);
}

/* Full: the least recently used goes, and a find counts as a use. */
static void test_table_eviction(void **state)
{
	struct fedc_session_table *t;
	struct fedc_session s;
	uint8_t sid[FEDC_SESSION_ID_BYTES];

	(void)state;
	assert_int_equal(fedc_session_table_new(0, &t), FEDC_ERR_INVAL);
	assert_int_equal(fedc_session_table_new(3, &t), FEDC_OK);
	for (uint8_t i = 1; i <= 3; i++) {
		session_with(&s, i);
		assert_int_equal(fedc_session_table_put(t, "r1", &s), FEDC_OK);
	}
	assert_int_equal(fedc_session_table_count(t), 3);
	memset(sid, 1, sizeof(sid));
	assert_non_null(fedc_session_table_find(t, "r1", sid)); /* 1 is now the newest */
	session_with(&s, 4);
	assert_int_equal(fedc_session_table_put(t, "r1", &s), FEDC_OK);
	assert_int_equal(fedc_session_table_count(t), 3);
	memset(sid, 2, sizeof(sid));
	assert_null(fedc_session_table_find(t, "r1", sid)); /* 2 was the oldest */
	for (uint8_t i = 1; i <= 4; i++) {
		memset(sid, i, sizeof(sid));
		if (i != 2) {
			const struct fedc_session *got = fedc_session_table_find(t, "r1", sid);

			assert_non_null(got);
			assert_int_equal(got->recv_key[0], i);
		}
	}
	/* the same (peer, sid) again replaces, it takes no second slot */
	session_with(&s, 4);
	snprintf(s.job_id, sizeof(s.job_id), "replaced");
	assert_int_equal(fedc_session_table_put(t, "r1", &s), FEDC_OK);
	assert_int_equal(fedc_session_table_count(t), 3);
	memset(sid, 4, sizeof(sid));
	assert_string_equal(fedc_session_table_find(t, "r1", sid)->job_id, "replaced");
	fedc_session_table_free(t);
}

/* Sessions belong to a peer: another peer's sid finds nothing; dropping a
 * peer (its key revoked) leaves the others. */
static void test_table_by_peer(void **state)
{
	struct fedc_session_table *t;
	struct fedc_session s;
	uint8_t sid[FEDC_SESSION_ID_BYTES];

	(void)state;
	assert_int_equal(fedc_session_table_new(8, &t), FEDC_OK);
	session_with(&s, 1);
	assert_int_equal(fedc_session_table_put(t, "r1", &s), FEDC_OK);
	session_with(&s, 2);
	assert_int_equal(fedc_session_table_put(t, "r1", &s), FEDC_OK);
	session_with(&s, 3);
	assert_int_equal(fedc_session_table_put(t, "r2", &s), FEDC_OK);
	assert_int_equal(fedc_session_table_put(t, "not an id", &s), FEDC_ERR_INVAL);
	memset(sid, 3, sizeof(sid));
	assert_null(fedc_session_table_find(t, "r1", sid));
	assert_non_null(fedc_session_table_find(t, "r2", sid));
	assert_int_equal(fedc_session_table_drop(t, "r1"), 2);
	assert_int_equal(fedc_session_table_count(t), 1);
	memset(sid, 1, sizeof(sid));
	assert_null(fedc_session_table_find(t, "r1", sid));
	assert_int_equal(fedc_session_table_drop(t, NULL), 1);
	assert_int_equal(fedc_session_table_count(t), 0);
	fedc_session_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_both_sides_agree),
		cmocka_unit_test(test_ids_bound),
		cmocka_unit_test(test_fresh_per_exchange),
		cmocka_unit_test(test_low_order_point_refused),
		cmocka_unit_test(test_bad_ids_refused),
		cmocka_unit_test(test_mac_known_answer),
		cmocka_unit_test(test_table_eviction),
		cmocka_unit_test(test_table_by_peer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
