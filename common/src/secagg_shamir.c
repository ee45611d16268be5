/* Shamir secret sharing over GF(2^8) (fedc/secagg.h), byte by byte.
 *
 * The field is GF(2)[x] / (x^8 + x^4 + x^3 + x + 1), AES's. Multiplication is
 * a shift-and-add loop whose reduction is a mask, not a branch or a table
 * lookup, so its timing does not depend on the bytes (log/exp tables would
 * leak secret bytes through the cache). Inversion is a^254 by the same
 * multiplication. Secrets are 32-byte seeds and keys, so the quadratic cost
 * (n * t multiplications per byte) stays small: 255 shares of 32 bytes with
 * t = 128 take about a million multiplications. */
#include "fedc/secagg.h"

#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

static uint8_t gf_mul(uint8_t a, uint8_t b)
{
	unsigned r = 0, x = a, y = b;

	for (int i = 0; i < 8; i++) {
		r ^= x & (0u - (y & 1u));          /* add x when the low bit of y is set */
		x = (x << 1) ^ (0x11bu & (0u - (x >> 7))); /* x *= X, reduced */
		y >>= 1;
	}
	return (uint8_t)r;
}

/* a^254 = a^-1 for a != 0 (and 0 for 0): square-and-multiply over the fixed
 * exponent 11111110b. */
static uint8_t gf_inv(uint8_t a)
{
	uint8_t a2 = gf_mul(a, a), r = a2; /* a^2 */

	for (int i = 0; i < 6; i++) { /* r = a^(2+4+...+128) */
		a2 = gf_mul(a2, a2);
		r = gf_mul(r, a2);
	}
	return r;
}

enum fedc_err fedc_secagg_shamir_split(const uint8_t *secret, size_t len, unsigned t, unsigned n, uint8_t *shares)
{
	uint8_t coef[FEDC_SECAGG_MAX_SHARES]; /* coefficients 1 .. t-1 of one byte's polynomial */
	enum fedc_err rc = FEDC_OK;

	if (t < 2 || t > n || n > FEDC_SECAGG_MAX_SHARES)
		return fedc_fail(FEDC_ERR_INVAL, "shamir: %u-of-%u sharing (need 2 <= t <= n <= %d)", t, n,
				 FEDC_SECAGG_MAX_SHARES);
	if (len && (!secret || !shares))
		return fedc_fail(FEDC_ERR_INVAL, "shamir: NULL secret or shares");
	for (size_t b = 0; b < len; b++) {
		if (RAND_bytes(coef, (int)(t - 1)) != 1) {
			rc = fedc_fail(FEDC_ERR_IO, "shamir: the random generator failed");
			goto out;
		}
		for (unsigned k = 0; k < n; k++) {
			uint8_t x = (uint8_t)(k + 1), y = 0;

			/* Horner from the highest coefficient down to the secret. */
			for (unsigned c = t - 1; c >= 1; c--)
				y = gf_mul((uint8_t)(y ^ coef[c - 1]), x);
			shares[(size_t)k * len + b] = (uint8_t)(y ^ secret[b]);
		}
	}
out:
	OPENSSL_cleanse(coef, sizeof(coef));
	if (rc && len && shares)
		OPENSSL_cleanse(shares, (size_t)n * len);
	return rc;
}

enum fedc_err fedc_secagg_shamir_combine(const uint8_t *xs, const uint8_t *const *shares, unsigned count, size_t len,
					 uint8_t *secret)
{
	uint8_t lambda[FEDC_SECAGG_MAX_SHARES];
	bool seen[256] = { false };

	if (count < 2 || count > FEDC_SECAGG_MAX_SHARES || !xs || !shares || (len && !secret))
		return fedc_fail(FEDC_ERR_INVAL, "shamir: combine of %u shares (need 2 to %d)", count,
				 FEDC_SECAGG_MAX_SHARES);
	for (unsigned j = 0; j < count; j++) {
		if (xs[j] == 0)
			return fedc_fail(FEDC_ERR_INVAL, "shamir: share %u has x = 0", j);
		if (seen[xs[j]])
			return fedc_fail(FEDC_ERR_INVAL, "shamir: x = %u appears twice", xs[j]);
		if (len && !shares[j])
			return fedc_fail(FEDC_ERR_INVAL, "shamir: share %u is NULL", j);
		seen[xs[j]] = true;
	}
	/* Lagrange basis at 0: lambda_j = prod_{m != j} x_m / (x_m - x_j), and
	 * subtraction is xor in characteristic 2. */
	for (unsigned j = 0; j < count; j++) {
		uint8_t num = 1, den = 1;

		for (unsigned m = 0; m < count; m++) {
			if (m == j)
				continue;
			num = gf_mul(num, xs[m]);
			den = gf_mul(den, (uint8_t)(xs[m] ^ xs[j]));
		}
		lambda[j] = gf_mul(num, gf_inv(den));
	}
	for (size_t b = 0; b < len; b++) {
		uint8_t s = 0;

		for (unsigned j = 0; j < count; j++)
			s ^= gf_mul(lambda[j], shares[j][b]);
		secret[b] = s;
	}
	return FEDC_OK;
}
