/* Throughput of the secure aggregation kernels (fedc/secagg.h): mask
 * expansion (fedc_secagg_mask: AES-128-CTR keystream added to a uint64
 * vector) on 1e6 and 1e7 elements, and fixed-point encoding
 * (fedc_secagg_encode) on the double path (weight <= 2^29) and the exact
 * 128-bit path (larger weights); the same in the 32-bit ring
 * (fedc_secagg_mask_32, fedc_secagg_encode_32). For the choice of cipher, the raw keystream
 * rate of AES-128-CTR and ChaCha20 through OpenSSL EVP, 16 KiB at a time as
 * the mask does.
 *
 * Output, one line per measure, the best of several repetitions:
 *   <kernel> n=<elements> GB_per_s=<bytes of its elements> params_per_s=<elements per second>
 * and first the cost of one fedc_secagg_mask_at call on 4096 elements
 * (key derivation and cipher set-up included), as streaming makes many.
 * Usage: bench_secagg_mask [--reps R] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "fedc/err.h"
#include "fedc/secagg.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void report_bytes(const char *kernel, size_t n, size_t elem, double best)
{
	printf("%-22s n=%-9zu GB_per_s=%.2f params_per_s=%.3g\n", kernel, n, (double)(n * elem) / best / 1e9,
	       (double)n / best);
}

static void report(const char *kernel, size_t n, double best)
{
	report_bytes(kernel, n, 8, best);
}

/* Masking n words of the 64-bit ring, or of the 32-bit one (`bits` 32). */
static int bench_mask(size_t n, int reps, unsigned bits)
{
	const size_t word = bits == 32 ? sizeof(uint32_t) : sizeof(uint64_t);
	void *v = calloc(n, word);
	uint8_t seed[32] = { 1, 2, 3 };
	double best = 1e30;

	if (!v)
		return 1;
	for (int r = 0; r < reps; r++) {
		double t0 = now(), t;
		int sign = r % 2 ? -1 : 1;

		if (bits == 32 ? fedc_secagg_mask_32(v, n, seed, sign) : fedc_secagg_mask(v, n, seed, sign)) {
			fprintf(stderr, "mask: %s\n", fedc_last_error());
			free(v);
			return 1;
		}
		t = now() - t0;
		if (t < best)
			best = t;
	}
	report_bytes(bits == 32 ? "mask_32" : "mask", n, word, best);
	free(v);
	return 0;
}

/* The fixed cost of one call (HKDF, cipher set-up): many calls on a small
 * block, as a caller streaming a file block by block makes. */
static int bench_mask_calls(size_t n, int calls)
{
	uint64_t *v = calloc(n, sizeof(*v));
	uint8_t seed[32] = { 4, 5, 6 };
	double t0, t;

	if (!v)
		return 1;
	t0 = now();
	for (int c = 0; c < calls; c++) {
		if (fedc_secagg_mask_at(v, n, (uint64_t)c * n, seed, 1)) {
			fprintf(stderr, "mask_at: %s\n", fedc_last_error());
			free(v);
			return 1;
		}
	}
	t = now() - t0;
	printf("%-22s n=%-9zu us_per_call=%.2f GB_per_s=%.2f\n", "mask_at(small blocks)", n, t / calls * 1e6,
	       (double)n * 8 * calls / t / 1e9);
	free(v);
	return 0;
}

static int bench_encode(size_t n, int reps, uint64_t weight, const char *label)
{
	float *x = malloc(n * sizeof(*x));
	uint64_t *out = malloc(n * sizeof(*out));
	double best = 1e30;
	uint32_t scale = 0;
	int rc = 1;

	if (!x || !out || fedc_secagg_choose_scale(32, weight, 10.0, &scale))
		goto out;
	for (size_t i = 0; i < n; i++)
		x[i] = (float)((double)(i % 2001) / 100.0 - 10.0);
	for (int r = 0; r < reps; r++) {
		double t0 = now();

		if (fedc_secagg_encode(x, n, weight, 10.0, scale, out)) {
			fprintf(stderr, "encode: %s\n", fedc_last_error());
			goto out;
		}
		double t = now() - t0;

		if (t < best)
			best = t;
	}
	report(label, n, best);
	rc = 0;
out:
	free(x);
	free(out);
	return rc;
}

/* encode_32 with 8 parties, weight <= 100, |value| <= 1: scale 20. */
static int bench_encode_32(size_t n, int reps)
{
	float *x = malloc(n * sizeof(*x));
	uint32_t *out = malloc(n * sizeof(*out));
	double best = 1e30;
	uint32_t scale = 0;
	int rc = 1;

	if (!x || !out || fedc_secagg_choose_scale_32(8, 100, 1.0, &scale))
		goto out;
	for (size_t i = 0; i < n; i++)
		x[i] = (float)((double)(i % 2001) / 1000.0 - 1.0);
	for (int r = 0; r < reps; r++) {
		double t0 = now();

		if (fedc_secagg_encode_32(x, n, 100, 1.0, scale, out)) {
			fprintf(stderr, "encode_32: %s\n", fedc_last_error());
			goto out;
		}
		double t = now() - t0;

		if (t < best)
			best = t;
	}
	report_bytes("encode_32(w=100)", n, 4, best);
	rc = 0;
out:
	free(x);
	free(out);
	return rc;
}

/* Raw keystream of one cipher, 16 KiB per EVP call. */
static int bench_keystream(const EVP_CIPHER *cipher, const char *label, size_t n, int reps)
{
	static const uint8_t zeros[16384];
	static uint8_t ks[16384];
	uint8_t key[32] = { 7 }, iv[16] = { 0 };
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	double best = 1e30;
	int outl = 0;

	if (!ctx)
		return 1;
	for (int r = 0; r < reps; r++) {
		double t0 = now();

		if (EVP_EncryptInit_ex(ctx, cipher, NULL, key, iv) != 1)
			break;
		for (size_t done = 0; done < n * 8; done += sizeof(ks))
			EVP_EncryptUpdate(ctx, ks, &outl, zeros, (int)sizeof(ks));
		double t = now() - t0;

		if (t < best)
			best = t;
	}
	EVP_CIPHER_CTX_free(ctx);
	report(label, n, best);
	return 0;
}

int main(int argc, char **argv)
{
	const size_t sizes[] = { 1000000, 10000000 };
	int reps = 5, rc = 0;

	if (argc == 3 && strcmp(argv[1], "--reps") == 0)
		reps = atoi(argv[2]) > 0 ? atoi(argv[2]) : 5;
	rc |= bench_mask_calls(4096, 2000);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		rc |= bench_mask(sizes[i], reps, 64);
		rc |= bench_encode(sizes[i], reps, 1000, "encode(w=1000)");
		rc |= bench_encode(sizes[i], reps, UINT64_C(1) << 40, "encode(w=2^40,exact)");
		rc |= bench_mask(sizes[i], reps, 32);
		rc |= bench_encode_32(sizes[i], reps);
	}
	rc |= bench_keystream(EVP_aes_128_ctr(), "keystream aes-128-ctr", 10000000, reps);
	rc |= bench_keystream(EVP_chacha20(), "keystream chacha20", 10000000, reps);
	return rc;
}
