/* Secure aggregation primitives (fedc/secagg.h): fixed point, masks, X25519,
 * Shamir over GF(2^8), AES-256-GCM for shares, the SecAgg+ graph. The mask's
 * keystream is also rebuilt here with OpenSSL directly from its documented
 * construction, so the code and the header cannot drift apart. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "fedc/err.h"
#include "fedc/hash.h"
#include "fedc/rng.h"
#include "fedc/secagg.h"

/* ------------------------------------------------------------------ */
/* Fixed point                                                        */

/* k parties with random weights and values: the sum of their encodings
 * decodes within the bound of the exact weighted sum (long double holds the
 * sum of these products exactly enough: 64-bit mantissa). */
static void test_encode_sum_within_bound(void **state)
{
	enum { K = 7, N = 1000 };
	static float x[K][N];
	static uint64_t enc[N], sum[N];
	uint64_t w[K];
	double dec[N];
	const double vmax = 4.0;
	uint32_t scale = 0;
	struct fedc_rng r;

	(void)state;
	fedc_rng_seed(&r, 42);
	assert_int_equal(fedc_secagg_choose_scale(K, 5000, vmax, &scale), FEDC_OK);
	assert_true(scale > 20 && scale <= 52);
	memset(sum, 0, sizeof(sum));
	for (int k = 0; k < K; k++) {
		w[k] = 1 + fedc_rng_below(&r, 5000);
		for (int i = 0; i < N; i++)
			x[k][i] = (float)((fedc_rng_uniform(&r) * 2 - 1) * vmax); /* negatives too */
		x[k][0] = (float)-vmax;
		x[k][1] = (float)vmax;
		x[k][2] = 0.0f;
		assert_int_equal(fedc_secagg_encode(x[k], N, w[k], vmax, scale, enc), FEDC_OK);
		for (int i = 0; i < N; i++)
			sum[i] += enc[i];
	}
	fedc_secagg_decode(sum, N, scale, dec);
	for (int i = 0; i < N; i++) {
		long double exact = 0, units;

		for (int k = 0; k < K; k++)
			exact += (long double)w[k] * x[k][i];
		/* The integer sum: within K half units (long double rounds the
		 * exact sum by at most a quarter unit here: 2^61 / 2^63). */
		units = ldexpl(exact, (int)scale);
		assert_true(fabsl((long double)(int64_t)sum[i] - units) <= K * 0.5L + 0.25L);
		/* The decoded double: the bound, plus the int64 -> double rounding. */
		assert_true(fabsl((long double)dec[i] - exact) <=
			    fedc_secagg_error_bound(K, scale) + fabsl(exact) * 0x1p-53L);
	}
	assert_true(dec[0] < 0 && dec[1] > 0);
	assert_float_equal(dec[2], 0.0, 0.0);
	assert_float_equal(fedc_secagg_error_bound(K, 10), 7 * 0.5 / 1024, 0);
}

/* A value that is not a multiple of the step rounds half away from zero,
 * exactly as llround, on both the double path and the exact 128-bit path
 * (weights above 2^29). */
static void test_encode_rounding_and_big_weight(void **state)
{
	const float x[4] = { 0.75f, -0.75f, 1.25f, -0.25f };
	uint64_t out[4];
	const uint64_t big = (UINT64_C(1) << 40) + 1;

	(void)state;
	/* scale 1, weight 1: 1.5 -> 2, -1.5 -> -2, 2.5 -> 3, -0.5 -> -1 */
	assert_int_equal(fedc_secagg_encode(x, 4, 1, 2.0, 1, out), FEDC_OK);
	assert_int_equal((int64_t)out[0], 2);
	assert_int_equal((int64_t)out[1], -2);
	assert_int_equal((int64_t)out[2], 3);
	assert_int_equal((int64_t)out[3], -1);
	/* weight 2^40 + 1, scale 0: 0.75 (2^40 + 1) = 824633720832.75 -> 824633720833 */
	assert_int_equal(fedc_secagg_encode(x, 4, big, 2.0, 0, out), FEDC_OK);
	assert_true(out[0] == UINT64_C(824633720833));
	assert_true(out[1] == (uint64_t)-INT64_C(824633720833));
	/* 1.25 (2^40 + 1) = 1374389534721.25 -> 1374389534721; -0.25 (2^40+1) = -274877906944.25 */
	assert_true(out[2] == UINT64_C(1374389534721));
	assert_true(out[3] == (uint64_t)-INT64_C(274877906944));
	/* scale 3: 0.75 * (2^40 + 1) * 8 = 6597069766662 exactly */
	assert_int_equal(fedc_secagg_encode(x, 1, big, 2.0, 3, out), FEDC_OK);
	assert_true(out[0] == UINT64_C(6597069766662));
}

/* The limit of choose_scale, exactly: 3 parties x weight (2^62-1)/3 x 1.0 is
 * 2^62 - 1 and fits at scale 0, and its encodings sum to exactly that without
 * wrapping; one more unit of weight reaches 2^62 + 2 and is refused. */
static void test_choose_scale_exact_limit(void **state)
{
	const uint64_t w = ((UINT64_C(1) << 62) - 1) / 3;
	const float one[1] = { 1.0f }, minus[1] = { -1.0f };
	uint64_t e[1], sum = 0, nsum = 0;
	uint32_t scale = 99;

	(void)state;
	assert_true(w * 3 == (UINT64_C(1) << 62) - 1);
	assert_int_equal(fedc_secagg_choose_scale(3, w, 1.0, &scale), FEDC_OK);
	assert_int_equal(scale, 0);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(fedc_secagg_encode(one, 1, w, 1.0, scale, e), FEDC_OK);
		sum += e[0];
		assert_int_equal(fedc_secagg_encode(minus, 1, w, 1.0, scale, e), FEDC_OK);
		nsum += e[0];
	}
	assert_true(sum == (UINT64_C(1) << 62) - 1);
	assert_true((int64_t)nsum == -(int64_t)((UINT64_C(1) << 62) - 1));
	scale = 99;
	assert_int_equal(fedc_secagg_choose_scale(3, w + 1, 1.0, &scale), FEDC_ERR_INVAL);
	assert_int_equal(scale, 99);
	assert_non_null(strstr(fedc_last_error(), "2^62"));

	/* With room: 10 x 1000 x 5 = 50000 < 2^16, so 2^46 fits and 2^47 does not. */
	assert_int_equal(fedc_secagg_choose_scale(10, 1000, 5.0, &scale), FEDC_OK);
	assert_int_equal(scale, 46);
	assert_true(50000.0 * ldexp(1, 46) < 0x1p62 && 50000.0 * ldexp(1, 47) >= 0x1p62);
	/* A power of two exactly at the limit is refused (strict <): 2^62 / 2^s. */
	assert_int_equal(fedc_secagg_choose_scale(1, 1, 0x1p12, &scale), FEDC_OK);
	assert_int_equal(scale, 49);
	assert_int_equal(fedc_secagg_choose_scale(1, 1, nextafter(0x1p12, 0), &scale), FEDC_OK);
	assert_int_equal(scale, 50);
	/* Tiny values cap at 52. */
	assert_int_equal(fedc_secagg_choose_scale(1, 1, 1e-6, &scale), FEDC_OK);
	assert_int_equal(scale, 52);
	/* The widest product: 2^32-1 parties x 2^64-1 weight. */
	assert_int_equal(fedc_secagg_choose_scale(UINT32_MAX, UINT64_MAX, 1.0, &scale), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_choose_scale(UINT32_MAX, 1, 1.0, &scale), FEDC_OK);
	assert_int_equal(scale, 30);
}

static void test_choose_scale_bad_arguments(void **state)
{
	uint32_t scale = 0;

	(void)state;
	assert_int_equal(fedc_secagg_choose_scale(0, 1, 1.0, &scale), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_choose_scale(1, 0, 1.0, &scale), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_choose_scale(1, 1, 0.0, &scale), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_choose_scale(1, 1, -1.0, &scale), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_choose_scale(1, 1, INFINITY, &scale), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_choose_scale(1, 1, NAN, &scale), FEDC_ERR_INVAL);
}

static void test_encode_out_of_range_index(void **state)
{
	float x[6] = { 0.5f, -1.0f, 1.0f, 0.0f, 1.0001f, 0.0f };
	uint64_t out[6];

	(void)state;
	assert_int_equal(fedc_secagg_encode(x, 6, 3, 1.0, 20, out), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "element 4"));
	x[4] = 0.0f;
	x[5] = NAN;
	assert_int_equal(fedc_secagg_encode(x, 6, 3, 1.0, 20, out), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "element 5"));
	x[5] = -INFINITY;
	assert_int_equal(fedc_secagg_encode(x, 6, UINT64_C(1) << 33, 1.0, 20, out), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "element 5"));
	x[5] = 0.0f;
	assert_int_equal(fedc_secagg_encode(x, 6, 3, 1.0, 20, out), FEDC_OK);
	/* scale beyond 52, one term beyond 2^62 */
	assert_int_equal(fedc_secagg_encode(x, 6, 3, 1.0, 53, out), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_encode(x, 6, UINT64_C(1) << 40, 1.0, 22, out), FEDC_ERR_INVAL);
}

/* ------------------------------------------------------------------ */
/* Fixed point in Z_2^32                                              */

/* As test_encode_sum_within_bound, in 32 bits: 7 parties with weights up to
 * 100 and values up to 4; the int32 sum is within 7 half units of the exact
 * weighted sum, the decoded one within the bound; every 32-bit encoding is
 * the low half of the 64-bit one at the same scale. */
static void test_encode_32_sum_within_bound(void **state)
{
	enum { K = 7, N = 1000 };
	static float x[K][N];
	static uint32_t enc[N], sum[N];
	static uint64_t enc64[N];
	uint64_t w[K];
	double dec[N];
	const double vmax = 4.0;
	uint32_t scale = 0;
	struct fedc_rng r;

	(void)state;
	fedc_rng_seed(&r, 43);
	/* 7 x 100 x 4 = 2800 < 2^12: 2800 x 2^18 < 2^30 <= 2800 x 2^19 */
	assert_int_equal(fedc_secagg_choose_scale_32(K, 100, vmax, &scale), FEDC_OK);
	assert_int_equal(scale, 18);
	memset(sum, 0, sizeof(sum));
	for (int k = 0; k < K; k++) {
		w[k] = 1 + fedc_rng_below(&r, 100);
		for (int i = 0; i < N; i++)
			x[k][i] = (float)((fedc_rng_uniform(&r) * 2 - 1) * vmax);
		x[k][0] = (float)-vmax;
		x[k][1] = (float)vmax;
		x[k][2] = 0.0f;
		assert_int_equal(fedc_secagg_encode_32(x[k], N, w[k], vmax, scale, enc), FEDC_OK);
		assert_int_equal(fedc_secagg_encode(x[k], N, w[k], vmax, scale, enc64), FEDC_OK);
		for (int i = 0; i < N; i++) {
			assert_true(enc[i] == (uint32_t)enc64[i]);
			sum[i] += enc[i];
		}
	}
	fedc_secagg_decode_32(sum, N, scale, dec);
	for (int i = 0; i < N; i++) {
		double exact = 0;
		int32_t s = (int32_t)sum[i];

		for (int k = 0; k < K; k++)
			exact += (double)w[k] * x[k][i]; /* exact: below 2^53 units */
		assert_true(fabs((double)s - ldexp(exact, (int)scale)) <= K * 0.5);
		assert_true(fabs(dec[i] - exact) <= fedc_secagg_error_bound(K, scale));
	}
	assert_true(dec[0] < 0 && dec[1] > 0);
	assert_float_equal(dec[2], 0.0, 0.0);
	/* all weights at 100, all values at -4: the most negative sum still decodes */
	for (int k = 0; k < K; k++) {
		assert_int_equal(fedc_secagg_encode_32(x[k], 1, 100, vmax, scale, enc), FEDC_OK);
		sum[k] = enc[0];
	}
	{
		uint32_t t = 0;
		double d;

		for (int k = 0; k < K; k++)
			t += sum[k];
		fedc_secagg_decode_32(&t, 1, scale, &d);
		assert_float_equal(d, -2800.0, 0.0);
	}
}

/* decode_32 reads two's complement: 0x80000000 is -2^31, 0xffffffff is -1. */
static void test_decode_32_twos_complement(void **state)
{
	const uint32_t s[4] = { 0x80000000u, 0xffffffffu, 0x7fffffffu, 3u };
	double d[4];

	(void)state;
	fedc_secagg_decode_32(s, 4, 1, d);
	assert_float_equal(d[0], -0x1p30, 0.0);
	assert_float_equal(d[1], -0.5, 0.0);
	assert_float_equal(d[2], 0x7fffffff * 0.5, 0.0);
	assert_float_equal(d[3], 1.5, 0.0);
	fedc_secagg_decode_32(s, 1, 99, d); /* scale past 52 counts as 52 */
	assert_float_equal(d[0], -0x1p-21, 0.0);
}

/* The limit of choose_scale_32, exactly: 3 parties x weight (2^30-1)/3 x 1.0
 * is 2^30 - 1 and fits at scale 0, and its encodings sum to exactly that;
 * one more unit of weight is refused. */
static void test_choose_scale_32_exact_limit(void **state)
{
	const uint64_t w = ((UINT64_C(1) << 30) - 1) / 3;
	const float one[1] = { 1.0f }, minus[1] = { -1.0f }, sixteen[1] = { 16.0f };
	uint32_t e[1], sum = 0, nsum = 0;
	uint32_t scale = 99;

	(void)state;
	assert_true(w * 3 == (UINT64_C(1) << 30) - 1);
	assert_int_equal(fedc_secagg_choose_scale_32(3, w, 1.0, &scale), FEDC_OK);
	assert_int_equal(scale, 0);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(fedc_secagg_encode_32(one, 1, w, 1.0, scale, e), FEDC_OK);
		sum += e[0];
		assert_int_equal(fedc_secagg_encode_32(minus, 1, w, 1.0, scale, e), FEDC_OK);
		nsum += e[0];
	}
	assert_true(sum == (UINT32_C(1) << 30) - 1);
	assert_true((int32_t)nsum == -(int32_t)((UINT32_C(1) << 30) - 1));
	scale = 99;
	assert_int_equal(fedc_secagg_choose_scale_32(3, w + 1, 1.0, &scale), FEDC_ERR_INVAL);
	assert_int_equal(scale, 99);
	assert_non_null(strstr(fedc_last_error(), "2^30"));
	assert_non_null(strstr(fedc_last_error(), "32 bits"));

	/* With room: 10 x 1000 x 5 = 50000: 2^14 fits, 2^15 does not. */
	assert_int_equal(fedc_secagg_choose_scale_32(10, 1000, 5.0, &scale), FEDC_OK);
	assert_int_equal(scale, 14);
	assert_true(50000.0 * ldexp(1, 14) < 0x1p30 && 50000.0 * ldexp(1, 15) >= 0x1p30);
	/* 8 nodes, weight 1, |value| <= 16: 2^7 x 2^22 < 2^30 (docs/privacy.md) */
	assert_int_equal(fedc_secagg_choose_scale_32(8, 1, 16.0, &scale), FEDC_OK);
	assert_int_equal(scale, 22);
	/* A power of two exactly at the limit is refused (strict <). */
	assert_int_equal(fedc_secagg_choose_scale_32(1, 1, 0x1p12, &scale), FEDC_OK);
	assert_int_equal(scale, 17);
	assert_int_equal(fedc_secagg_choose_scale_32(1, 1, nextafter(0x1p12, 0), &scale), FEDC_OK);
	assert_int_equal(scale, 18);
	/* 1e-6 > 2^-20: scale 49; tiny values cap at 52. */
	assert_int_equal(fedc_secagg_choose_scale_32(1, 1, 1e-6, &scale), FEDC_OK);
	assert_int_equal(scale, 49);
	assert_int_equal(fedc_secagg_choose_scale_32(1, 1, 1e-9, &scale), FEDC_OK);
	assert_int_equal(scale, 52);
	/* 2^32 - 1 parties never fit; 2^29 parties fit at scale 0 */
	assert_int_equal(fedc_secagg_choose_scale_32(UINT32_MAX, 1, 1.0, &scale), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_choose_scale_32(1u << 29, 1, 1.0, &scale), FEDC_OK);
	assert_int_equal(scale, 0);
	/* the same bad arguments as in 64 bits */
	assert_int_equal(fedc_secagg_choose_scale_32(0, 1, 1.0, &scale), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_choose_scale_32(1, 0, 1.0, &scale), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_choose_scale_32(1, 1, NAN, &scale), FEDC_ERR_INVAL);
	/* encode_32 refuses one term at 2^30 that encode (64) takes */
	assert_int_equal(fedc_secagg_encode_32(sixteen, 1, 1, 16.0, 26, e), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "2^30"));
	assert_int_equal(fedc_secagg_encode_32(sixteen, 1, 1, 16.0, 25, e), FEDC_OK);
	assert_true(e[0] == UINT32_C(1) << 29);
	assert_int_equal(fedc_secagg_encode_32(sixteen, 1, 1, 16.0, 53, e), FEDC_ERR_INVAL);
	/* the exact path (weight above 2^29), rounding half away from zero */
	{
		const float q[2] = { 0.75f, -0.25f };
		const uint64_t big = (UINT64_C(1) << 29) + 1;
		uint32_t o[2];

		assert_int_equal(fedc_secagg_encode_32(q, 2, big, 1.0, 0, o), FEDC_OK);
		assert_true(o[0] == 402653185u);            /* 0.75 (2^29 + 1) = 402653184.75 */
		assert_true((int32_t)o[1] == -134217728);   /* -0.25 (2^29 + 1) = -134217728.25 */
	}
}

/* ------------------------------------------------------------------ */
/* Masks                                                              */

static void fill_seed(uint8_t seed[32], uint8_t v)
{
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)(v + i * 7);
}

static void test_mask_add_then_subtract(void **state)
{
	enum { N = 100003 };
	uint64_t *x = malloc(N * sizeof(*x)), *v = malloc(N * sizeof(*v));
	uint8_t seed[32];
	size_t changed = 0;

	(void)state;
	assert_non_null(x);
	assert_non_null(v);
	fill_seed(seed, 1);
	for (size_t i = 0; i < N; i++)
		x[i] = v[i] = i * 0x9e3779b97f4a7c15ull;
	assert_int_equal(fedc_secagg_mask(v, N, seed, +1), FEDC_OK);
	for (size_t i = 0; i < N; i++)
		changed += v[i] != x[i];
	assert_true(changed > N - 10);
	assert_int_equal(fedc_secagg_mask(v, N, seed, -1), FEDC_OK);
	assert_memory_equal(v, x, N * sizeof(*x));
	assert_int_equal(fedc_secagg_mask(v, N, seed, 0), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_mask_at(v, 2, UINT64_MAX, seed, 1), FEDC_ERR_INVAL);
	free(x);
	free(v);
}

/* mask_at from an odd offset (and across chunk boundaries) is the matching
 * slice of the whole mask. */
static void test_mask_at_offset_slice(void **state)
{
	enum { N = 10000 };
	static uint64_t full[N], part[N];
	const size_t offsets[] = { 0, 1, 7, 2047, 2048, 2049, 4097, 9999 };
	uint8_t seed[32];

	(void)state;
	fill_seed(seed, 9);
	memset(full, 0, sizeof(full));
	assert_int_equal(fedc_secagg_mask(full, N, seed, 1), FEDC_OK);
	for (size_t o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
		size_t off = offsets[o], len = N - off;

		memset(part, 0, sizeof(part));
		assert_int_equal(fedc_secagg_mask_at(part, len, off, seed, 1), FEDC_OK);
		assert_memory_equal(part, full + off, len * sizeof(uint64_t));
	}
	/* block by block, odd sizes, as a streaming caller does */
	memset(part, 0, sizeof(part));
	for (size_t at = 0; at < N;) {
		size_t len = at + 333 < N ? 333 : N - at;

		assert_int_equal(fedc_secagg_mask_at(part + at, len, at, seed, 1), FEDC_OK);
		at += len;
	}
	assert_memory_equal(part, full, sizeof(full));
}

/* SecAgg's pairwise masks: u adds PRG(s_uv) for v > u and subtracts it for
 * v < u; summed over the 5 parties they cancel exactly. */
static void test_pairwise_masks_cancel(void **state)
{
	enum { P = 5, N = 4099 };
	static uint64_t v[P][N], x[P][N];
	uint8_t seeds[P][P][32];

	(void)state;
	for (int u = 0; u < P; u++) {
		for (int w = u + 1; w < P; w++) {
			fill_seed(seeds[u][w], (uint8_t)(u * 16 + w));
			memcpy(seeds[w][u], seeds[u][w], 32);
		}
		for (int i = 0; i < N; i++)
			x[u][i] = v[u][i] = (uint64_t)(u + 1) * 1000 + (uint64_t)i;
	}
	for (int u = 0; u < P; u++) {
		for (int w = 0; w < P; w++) {
			if (w != u)
				assert_int_equal(fedc_secagg_mask(v[u], N, seeds[u][w], w > u ? 1 : -1), FEDC_OK);
		}
	}
	for (int i = 0; i < N; i++) {
		uint64_t s = 0, e = 0;

		for (int u = 0; u < P; u++) {
			s += v[u][i];
			e += x[u][i];
		}
		assert_true(s == e);
		assert_true(v[0][i] != x[0][i] || v[1][i] != x[1][i]);
	}
}

/* Pinned once from the OpenSSL command line (independent of this code):
 *   K=$(openssl kdf -keylen 16 -kdfopt digest:SHA256 -kdfopt hexkey:<64 zeros> \
 *        -kdfopt info:"fedc secagg prg" HKDF | tr -d :)      # CD33DDED...263AC03B
 *   head -c 16 /dev/zero | openssl enc -aes-128-ctr -K $K -iv <32 zeros> | od -A n -t x8
 * which prints the two little-endian words below. */
static void test_mask_known_answer(void **state)
{
	uint8_t seed[32] = { 0 };
	uint64_t v[2] = { 0, 0 }, w[3] = { 0, 0, 5 };

	(void)state;
	assert_int_equal(fedc_secagg_mask(v, 2, seed, 1), FEDC_OK);
	assert_true(v[0] == UINT64_C(0xb5c46fd4c069742e));
	assert_true(v[1] == UINT64_C(0xf00107cd67138138));
	assert_int_equal(fedc_secagg_mask(w, 2, seed, -1), FEDC_OK);
	assert_true(w[0] == 0 - UINT64_C(0xb5c46fd4c069742e));
	assert_true(w[2] == 5); /* nothing past n */
}

/* The documented construction, rebuilt with OpenSSL directly, far into the
 * stream (counter block 2^40 + 3, word 1). */
static void test_mask_matches_construction(void **state)
{
	uint8_t seed[32], key[16], iv[16] = { 0 }, zero[32] = { 0 }, ks[32];
	const uint64_t block = (UINT64_C(1) << 40) + 3;
	uint64_t v[3] = { 0, 0, 0 }, want[4];
	size_t keylen = sizeof(key);
	EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int outl = 0;

	(void)state;
	fill_seed(seed, 77);
	assert_non_null(kctx);
	assert_non_null(c);
	assert_int_equal(EVP_PKEY_derive_init(kctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_hkdf_md(kctx, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_CTX_set1_hkdf_key(kctx, seed, 32), 1);
	assert_int_equal(EVP_PKEY_CTX_add1_hkdf_info(kctx, (const unsigned char *)"fedc secagg prg", 15), 1);
	assert_int_equal(EVP_PKEY_derive(kctx, key, &keylen), 1);
	for (int i = 0; i < 8; i++)
		iv[15 - i] = (uint8_t)(block >> (8 * i));
	assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, key, iv), 1);
	assert_int_equal(EVP_EncryptUpdate(c, ks, &outl, zero, 32), 1);
	memcpy(want, ks, 32);
	assert_int_equal(fedc_secagg_mask_at(v, 3, 2 * block + 1, seed, 1), FEDC_OK);
	assert_true(v[0] == want[1] && v[1] == want[2] && v[2] == want[3]);
	EVP_CIPHER_CTX_free(c);
	EVP_PKEY_CTX_free(kctx);
}

/* The masked vector says nothing linear about the input: the correlation
 * between 1e5 inputs and their masked values (both read as signed int64 /
 * 2^63) is below 0.02, while the inputs span the whole range. */
static void test_masked_uncorrelated(void **state)
{
	enum { N = 100000 };
	uint64_t *x = malloc(N * sizeof(*x)), *v = malloc(N * sizeof(*v));
	double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, r;
	uint8_t seed[32];
	struct fedc_rng rng;

	(void)state;
	assert_non_null(x);
	assert_non_null(v);
	fill_seed(seed, 3);
	fedc_rng_seed(&rng, 7);
	for (size_t i = 0; i < N; i++)
		x[i] = v[i] = (uint64_t)(int64_t)((fedc_rng_uniform(&rng) * 2 - 1) * 0x1p62) + i * 1000;
	assert_int_equal(fedc_secagg_mask(v, N, seed, 1), FEDC_OK);
	for (size_t i = 0; i < N; i++) {
		double a = (double)(int64_t)x[i] * 0x1p-63, b = (double)(int64_t)v[i] * 0x1p-63;

		sx += a;
		sy += b;
		sxx += a * a;
		syy += b * b;
		sxy += a * b;
	}
	r = (sxy - sx * sy / N) / sqrt((sxx - sx * sx / N) * (syy - sy * sy / N));
	assert_true(fabs(r) < 0.02);
	/* the masked values look uniform: mean near 0, variance near 1/3 */
	assert_true(fabs(sy / N) < 0.01);
	assert_true(fabs(syy / N - 1.0 / 3) < 0.01);
	free(x);
	free(v);
}

/* ------------------------------------------------------------------ */
/* Masks in Z_2^32                                                    */

static void test_mask_32_add_then_subtract(void **state)
{
	enum { N = 100003 };
	uint32_t *x = malloc(N * sizeof(*x)), *v = malloc(N * sizeof(*v));
	uint8_t seed[32];
	size_t changed = 0;

	(void)state;
	assert_non_null(x);
	assert_non_null(v);
	fill_seed(seed, 1);
	for (size_t i = 0; i < N; i++)
		x[i] = v[i] = (uint32_t)(i * 0x9e3779b9u);
	assert_int_equal(fedc_secagg_mask_32(v, N, seed, +1), FEDC_OK);
	for (size_t i = 0; i < N; i++)
		changed += v[i] != x[i];
	assert_true(changed > N - 10);
	assert_int_equal(fedc_secagg_mask_32(v, N, seed, -1), FEDC_OK);
	assert_memory_equal(v, x, N * sizeof(*x));
	assert_int_equal(fedc_secagg_mask_32(v, N, seed, 0), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_mask_at_32(v, 2, UINT64_MAX, seed, 1), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_mask_32(NULL, 2, seed, 1), FEDC_ERR_INVAL);
	free(x);
	free(v);
}

/* The keystream read as little-endian uint32 words: word 2i is the low half
 * of the 64-bit mask's word i, word 2i+1 its high half (the pinned answer of
 * test_mask_known_answer), and the same holds far into the stream. */
static void test_mask_32_same_keystream(void **state)
{
	enum { N = 9001 };
	static uint64_t v64[N];
	static uint32_t v32[2 * N];
	uint8_t seed[32] = { 0 };
	uint32_t w[5] = { 0, 0, 0, 0, 7 };

	(void)state;
	assert_int_equal(fedc_secagg_mask_32(w, 4, seed, 1), FEDC_OK);
	assert_true(w[0] == 0xc069742eu && w[1] == 0xb5c46fd4u);
	assert_true(w[2] == 0x67138138u && w[3] == 0xf00107cdu);
	assert_true(w[4] == 7); /* nothing past n */
	fill_seed(seed, 21);
	memset(v64, 0, sizeof(v64));
	memset(v32, 0, sizeof(v32));
	assert_int_equal(fedc_secagg_mask(v64, N, seed, 1), FEDC_OK);
	assert_int_equal(fedc_secagg_mask_32(v32, 2 * N, seed, 1), FEDC_OK);
	for (size_t i = 0; i < N; i++)
		assert_true(v32[2 * i] == (uint32_t)v64[i] && v32[2 * i + 1] == (uint32_t)(v64[i] >> 32));
	/* far into the stream: counter block 2^40 + 3 holds words 4 (2^40 + 3) .. + 3 */
	{
		const uint64_t block = (UINT64_C(1) << 40) + 3;
		uint64_t a[2] = { 0, 0 };
		uint32_t b[3] = { 0, 0, 0 };

		assert_int_equal(fedc_secagg_mask_at(a, 2, 2 * block, seed, 1), FEDC_OK);
		assert_int_equal(fedc_secagg_mask_at_32(b, 3, 4 * block + 1, seed, 1), FEDC_OK);
		assert_true(b[0] == (uint32_t)(a[0] >> 32) && b[1] == (uint32_t)a[1] &&
			    b[2] == (uint32_t)(a[1] >> 32));
	}
}

/* mask_at_32 from any offset (not a multiple of 4, across the 4096-word
 * chunks) is the matching slice of the whole mask; block by block too. */
static void test_mask_at_32_offset_slice(void **state)
{
	enum { N = 20000 };
	static uint32_t full[N], part[N];
	const size_t offsets[] = { 0, 1, 2, 3, 5, 4095, 4096, 4097, 8191, 8194, 19999 };
	uint8_t seed[32];

	(void)state;
	fill_seed(seed, 9);
	memset(full, 0, sizeof(full));
	assert_int_equal(fedc_secagg_mask_32(full, N, seed, 1), FEDC_OK);
	for (size_t o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
		size_t off = offsets[o], len = N - off;

		memset(part, 0, sizeof(part));
		assert_int_equal(fedc_secagg_mask_at_32(part, len, off, seed, 1), FEDC_OK);
		assert_memory_equal(part, full + off, len * sizeof(uint32_t));
	}
	memset(part, 0, sizeof(part));
	for (size_t at = 0; at < N;) {
		size_t len = at + 333 < N ? 333 : N - at;

		assert_int_equal(fedc_secagg_mask_at_32(part + at, len, at, seed, -1), FEDC_OK);
		at += len;
	}
	for (size_t i = 0; i < N; i++)
		assert_true(part[i] == 0u - full[i]);
}

/* Pairwise masks and self masks in 32 bits: five parties encode, mask
 * (+PRG(s_uv) for v > u, -PRG for v < u, +PRG(b_u)); the sum minus the self
 * masks is the sum of the encodings, which decodes within the bound. */
static void test_pairwise_masks_32_cancel(void **state)
{
	enum { P = 5, N = 4099 };
	static uint32_t v[P][N], sum[N];
	static float x[P][N];
	uint8_t seeds[P][P][32], b[P][32];
	uint32_t scale = 0;
	double dec[N];

	(void)state;
	assert_int_equal(fedc_secagg_choose_scale_32(P, 1, 8.0, &scale), FEDC_OK);
	assert_int_equal(scale, 24); /* 5 x 8 = 40 < 2^6 */
	for (int u = 0; u < P; u++) {
		for (int w = u + 1; w < P; w++) {
			fill_seed(seeds[u][w], (uint8_t)(u * 16 + w));
			memcpy(seeds[w][u], seeds[u][w], 32);
		}
		fill_seed(b[u], (uint8_t)(200 + u));
		for (int i = 0; i < N; i++)
			x[u][i] = (float)(((i * 37 + u * 11) % 161) - 80) / 10.0f; /* -8 .. 8 */
		assert_int_equal(fedc_secagg_encode_32(x[u], N, 1, 8.0, scale, v[u]), FEDC_OK);
		assert_int_equal(fedc_secagg_mask_32(v[u], N, b[u], 1), FEDC_OK);
		for (int w = 0; w < P; w++)
			if (w != u)
				assert_int_equal(fedc_secagg_mask_32(v[u], N, seeds[u][w], w > u ? 1 : -1), FEDC_OK);
	}
	memset(sum, 0, sizeof(sum));
	for (int u = 0; u < P; u++)
		for (int i = 0; i < N; i++)
			sum[i] += v[u][i];
	for (int u = 0; u < P; u++)
		assert_int_equal(fedc_secagg_mask_32(sum, N, b[u], -1), FEDC_OK);
	fedc_secagg_decode_32(sum, N, scale, dec);
	for (int i = 0; i < N; i++) {
		double exact = 0;

		for (int u = 0; u < P; u++)
			exact += x[u][i];
		assert_true(fabs(dec[i] - exact) <= fedc_secagg_error_bound(P, scale));
	}
}

/* ------------------------------------------------------------------ */
/* X25519                                                             */

static void test_agree_symmetric(void **state)
{
	uint8_t a_sk[32], a_pk[32], b_sk[32], b_pk[32], ab[32], ba[32], other[32];
	const char info[] = "job 1 round 2 masks node-a node-b", info2[] = "job 1 round 2 shares node-a node-b";

	(void)state;
	assert_int_equal(fedc_secagg_keypair(a_sk, a_pk), FEDC_OK);
	assert_int_equal(fedc_secagg_keypair(b_sk, b_pk), FEDC_OK);
	assert_memory_not_equal(a_pk, b_pk, 32);
	assert_int_equal(fedc_secagg_agree(a_sk, b_pk, info, sizeof(info) - 1, ab), FEDC_OK);
	assert_int_equal(fedc_secagg_agree(b_sk, a_pk, info, sizeof(info) - 1, ba), FEDC_OK);
	assert_memory_equal(ab, ba, 32);
	assert_int_equal(fedc_secagg_agree(a_sk, b_pk, info2, sizeof(info2) - 1, other), FEDC_OK);
	assert_memory_not_equal(ab, other, 32);
	assert_int_equal(fedc_secagg_agree(a_sk, b_pk, NULL, 0, other), FEDC_OK);
	assert_memory_not_equal(ab, other, 32);
	assert_int_equal(fedc_secagg_agree(a_sk, a_pk, info, sizeof(info) - 1, other), FEDC_OK);
	assert_memory_not_equal(ab, other, 32);
}

static void test_agree_low_order_refused(void **state)
{
	uint8_t sk[32], pk[32], zero_pk[32] = { 0 }, one_pk[32] = { 1 }, out[32];

	(void)state;
	assert_int_equal(fedc_secagg_keypair(sk, pk), FEDC_OK);
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(fedc_secagg_agree(sk, zero_pk, "x", 1, out), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "low-order"));
	assert_memory_equal(out, zero_pk, 32); /* wiped */
	assert_int_equal(fedc_secagg_agree(sk, one_pk, "x", 1, out), FEDC_ERR_INVAL);
}

/* ------------------------------------------------------------------ */
/* Shamir                                                             */

static void test_shamir_every_subset(void **state)
{
	enum { T = 3, N = 5, LEN = 32 };
	uint8_t secret[LEN], shares[N * LEN], got[LEN];

	(void)state;
	for (int i = 0; i < LEN; i++)
		secret[i] = (uint8_t)(i * 37 + 11);
	secret[0] = 0;
	secret[1] = 0xff;
	assert_int_equal(fedc_secagg_shamir_split(secret, LEN, T, N, shares), FEDC_OK);
	/* every subset of 3 or more shares (in any order) recovers */
	for (unsigned mask = 0; mask < (1u << N); mask++) {
		uint8_t xs[N];
		const uint8_t *sh[N];
		unsigned c = 0;

		for (unsigned k = N; k-- > 0;) {
			if (mask & (1u << k)) {
				xs[c] = (uint8_t)(k + 1);
				sh[c++] = shares + k * LEN;
			}
		}
		if (c < 2)
			continue;
		assert_int_equal(fedc_secagg_shamir_combine(xs, sh, c, LEN, got), FEDC_OK);
		if (c >= T)
			assert_memory_equal(got, secret, LEN);
		else
			assert_memory_not_equal(got, secret, LEN); /* 2^-256 to fail by chance */
	}
}

static void test_shamir_refusals(void **state)
{
	uint8_t secret[4] = { 1, 2, 3, 4 }, shares[5 * 4], got[4];
	const uint8_t *sh[3] = { shares, shares + 4, shares + 8 };
	const uint8_t dup[3] = { 1, 2, 1 }, zero[3] = { 0, 1, 2 };

	(void)state;
	assert_int_equal(fedc_secagg_shamir_split(secret, 4, 1, 5, shares), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_shamir_split(secret, 4, 6, 5, shares), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_shamir_split(secret, 4, 2, 256, shares), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_shamir_split(secret, 4, 3, 5, shares), FEDC_OK);
	assert_int_equal(fedc_secagg_shamir_combine(dup, sh, 3, 4, got), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "twice"));
	assert_int_equal(fedc_secagg_shamir_combine(zero, sh, 3, 4, got), FEDC_ERR_INVAL);
	assert_int_equal(fedc_secagg_shamir_combine(dup, sh, 1, 4, got), FEDC_ERR_INVAL);
}

/* n = 255 (every nonzero x), t = 128: the last 128 shares recover, and the
 * shares of a fixed secret differ from run to run (fresh coefficients). */
static void test_shamir_255(void **state)
{
	enum { N = 255, T = 128, LEN = 32 };
	static uint8_t shares[N * LEN], shares2[N * LEN];
	uint8_t secret[LEN], got[LEN], xs[T];
	const uint8_t *sh[T];

	(void)state;
	for (int i = 0; i < LEN; i++)
		secret[i] = (uint8_t)(255 - i);
	assert_int_equal(fedc_secagg_shamir_split(secret, LEN, T, N, shares), FEDC_OK);
	for (unsigned j = 0; j < T; j++) {
		xs[j] = (uint8_t)(N - j);
		sh[j] = shares + (size_t)(N - j - 1) * LEN;
	}
	assert_int_equal(fedc_secagg_shamir_combine(xs, sh, T, LEN, got), FEDC_OK);
	assert_memory_equal(got, secret, LEN);
	assert_int_equal(fedc_secagg_shamir_combine(xs, sh, T - 1, LEN, got), FEDC_OK);
	assert_memory_not_equal(got, secret, LEN);
	assert_int_equal(fedc_secagg_shamir_split(secret, LEN, T, N, shares2), FEDC_OK);
	assert_memory_not_equal(shares, shares2, sizeof(shares));
}

/* ------------------------------------------------------------------ */
/* AES-256-GCM                                                        */

static void test_seal_open(void **state)
{
	uint8_t key[32], msg[100], box[100 + FEDC_SECAGG_TAG_BYTES], back[100];
	const char aad[] = "job 1 round 2 from a to b";

	(void)state;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 100; i++)
		msg[i] = (uint8_t)(i ^ 0x5a);
	assert_int_equal(fedc_secagg_seal(key, aad, sizeof(aad), msg, sizeof(msg), box), FEDC_OK);
	assert_memory_not_equal(box, msg, sizeof(msg));
	assert_int_equal(fedc_secagg_open(key, aad, sizeof(aad), box, sizeof(box), back), FEDC_OK);
	assert_memory_equal(back, msg, sizeof(msg));

	box[17] ^= 0x04; /* a ciphertext bit */
	assert_int_equal(fedc_secagg_open(key, aad, sizeof(aad), box, sizeof(box), back), FEDC_ERR_AUTH);
	box[17] ^= 0x04;
	box[100 + 3] ^= 0x80; /* a tag bit */
	assert_int_equal(fedc_secagg_open(key, aad, sizeof(aad), box, sizeof(box), back), FEDC_ERR_AUTH);
	box[100 + 3] ^= 0x80;
	assert_int_equal(fedc_secagg_open(key, "job 1 round 2 from b to a", sizeof(aad), box, sizeof(box), back),
			 FEDC_ERR_AUTH);
	for (int i = 0; i < 100; i++) /* refused: nothing of the plaintext handed out */
		assert_int_equal(back[i], 0);
	key[0] ^= 1;
	assert_int_equal(fedc_secagg_open(key, aad, sizeof(aad), box, sizeof(box), back), FEDC_ERR_AUTH);
	key[0] ^= 1;
	assert_int_equal(fedc_secagg_open(key, aad, sizeof(aad), box, sizeof(box), back), FEDC_OK);
	assert_int_equal(fedc_secagg_open(key, aad, sizeof(aad), box, FEDC_SECAGG_TAG_BYTES - 1, back),
			 FEDC_ERR_MALFORMED);
	/* empty message, no aad: the tag alone */
	assert_int_equal(fedc_secagg_seal(key, NULL, 0, NULL, 0, box), FEDC_OK);
	assert_int_equal(fedc_secagg_open(key, NULL, 0, box, FEDC_SECAGG_TAG_BYTES, NULL), FEDC_OK);
	box[0] ^= 1;
	assert_int_equal(fedc_secagg_open(key, NULL, 0, box, FEDC_SECAGG_TAG_BYTES, NULL), FEDC_ERR_AUTH);
}

/* ------------------------------------------------------------------ */
/* SecAgg+ graph                                                      */

static bool has(const uint32_t *v, uint32_t c, uint32_t x)
{
	for (uint32_t i = 0; i < c; i++) {
		if (v[i] == x)
			return true;
	}
	return false;
}

static void test_neighbours_symmetric_regular(void **state)
{
	enum { NMAX = 40, KMAX = 12 };
	static uint32_t nb[NMAX][KMAX], cnt[NMAX];

	(void)state;
	for (uint32_t n = 1; n <= NMAX; n++) {
		for (uint32_t k = 2; k <= KMAX; k += 2) {
			const uint32_t want = k < n - 1 ? k : n - 1;

			for (uint32_t i = 0; i < n; i++) {
				fedc_secagg_neighbours(n, k, 0x1234567890abcdefull + n, i, nb[i], &cnt[i]);
				assert_int_equal(cnt[i], want);
				for (uint32_t j = 0; j < cnt[i]; j++) {
					assert_true(nb[i][j] < n && nb[i][j] != i);
					if (j)
						assert_true(nb[i][j - 1] < nb[i][j]); /* ascending, distinct */
				}
			}
			for (uint32_t i = 0; i < n; i++) {
				for (uint32_t j = 0; j < cnt[i]; j++)
					assert_true(has(nb[nb[i][j]], cnt[nb[i][j]], i));
			}
		}
	}
}

static void test_neighbours_seeded(void **state)
{
	uint32_t a[8], b[8], c[8], ca = 0, cb = 0, cc = 0, differ = 0;

	(void)state;
	for (uint32_t i = 0; i < 100; i++) {
		fedc_secagg_neighbours(100, 8, 7, i, a, &ca);
		fedc_secagg_neighbours(100, 8, 7, i, b, &cb);
		fedc_secagg_neighbours(100, 8, 8, i, c, &cc);
		assert_int_equal(ca, 8);
		assert_int_equal(cb, 8);
		assert_memory_equal(a, b, sizeof(a));
		differ += memcmp(a, c, sizeof(a)) != 0;
	}
	assert_true(differ > 90); /* another seed, another graph */
	/* not the identity ring: party 50's neighbours are not 46..54 for seed 7 */
	fedc_secagg_neighbours(100, 8, 7, 50, a, &ca);
	assert_false(a[0] == 46 && a[7] == 54);
	/* degenerate cases */
	fedc_secagg_neighbours(1, 4, 7, 0, a, &ca);
	assert_int_equal(ca, 0);
	fedc_secagg_neighbours(10, 4, 7, 10, a, &ca);
	assert_int_equal(ca, 0);
	fedc_secagg_neighbours(100000, 4, 7, 99999, a, &ca);
	assert_int_equal(ca, 4);
}

/* fedc_hkdf_sha256, the one key derivation: RFC 5869's test cases 1 (salt
 * and info) and 3 (neither), and the refusal of an info OpenSSL cannot take. */
static void test_hkdf_rfc5869(void **state)
{
	static const uint8_t salt[13] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c };
	static const uint8_t info[10] = { 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9 };
	static const uint8_t okm1[42] = { 0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f,
					  0x64, 0xd0, 0x36, 0x2f, 0x2a, 0x2d, 0x2d, 0x0a, 0x90, 0xcf, 0x1a,
					  0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56, 0xec, 0xc4, 0xc5, 0xbf, 0x34,
					  0x00, 0x72, 0x08, 0xd5, 0xb8, 0x87, 0x18, 0x58, 0x65 };
	static const uint8_t okm3[42] = { 0x8d, 0xa4, 0xe7, 0x75, 0xa5, 0x63, 0xc1, 0x8f, 0x71, 0x5f, 0x80,
					  0x2a, 0x06, 0x3c, 0x5a, 0x31, 0xb8, 0xa1, 0x1f, 0x5c, 0x5e, 0xe1,
					  0x87, 0x9e, 0xc3, 0x45, 0x4e, 0x5f, 0x3c, 0x73, 0x8d, 0x2d, 0x9d,
					  0x20, 0x13, 0x95, 0xfa, 0xa4, 0xb6, 0x1a, 0x96, 0xc8 };
	uint8_t ikm[22], out[42], big[FEDC_HKDF_INFO_MAX + 1] = { 0 };

	(void)state;
	memset(ikm, 0x0b, sizeof(ikm));
	assert_int_equal(fedc_hkdf_sha256(salt, sizeof(salt), ikm, sizeof(ikm), info, sizeof(info), out, sizeof(out)),
			 FEDC_OK);
	assert_memory_equal(out, okm1, sizeof(out));
	assert_int_equal(fedc_hkdf_sha256(NULL, 0, ikm, sizeof(ikm), NULL, 0, out, sizeof(out)), FEDC_OK);
	assert_memory_equal(out, okm3, sizeof(out));
	assert_int_equal(fedc_hkdf_sha256(NULL, 0, ikm, sizeof(ikm), big, sizeof(big), out, sizeof(out)),
			 FEDC_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_sum_within_bound),
		cmocka_unit_test(test_encode_rounding_and_big_weight),
		cmocka_unit_test(test_choose_scale_exact_limit),
		cmocka_unit_test(test_choose_scale_bad_arguments),
		cmocka_unit_test(test_encode_out_of_range_index),
		cmocka_unit_test(test_encode_32_sum_within_bound),
		cmocka_unit_test(test_decode_32_twos_complement),
		cmocka_unit_test(test_choose_scale_32_exact_limit),
		cmocka_unit_test(test_mask_add_then_subtract),
		cmocka_unit_test(test_mask_at_offset_slice),
		cmocka_unit_test(test_pairwise_masks_cancel),
		cmocka_unit_test(test_mask_known_answer),
		cmocka_unit_test(test_mask_matches_construction),
		cmocka_unit_test(test_masked_uncorrelated),
		cmocka_unit_test(test_mask_32_add_then_subtract),
		cmocka_unit_test(test_mask_32_same_keystream),
		cmocka_unit_test(test_mask_at_32_offset_slice),
		cmocka_unit_test(test_pairwise_masks_32_cancel),
		cmocka_unit_test(test_hkdf_rfc5869),
		cmocka_unit_test(test_agree_symmetric),
		cmocka_unit_test(test_agree_low_order_refused),
		cmocka_unit_test(test_shamir_every_subset),
		cmocka_unit_test(test_shamir_refusals),
		cmocka_unit_test(test_shamir_255),
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_neighbours_symmetric_regular),
		cmocka_unit_test(test_neighbours_seeded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
