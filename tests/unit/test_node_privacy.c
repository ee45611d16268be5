#define _GNU_SOURCE /* memfd_create */
/* The node's privacy policy and node-level DP (node/privacy.h): rounded
 * counts, each policy refusal and its message, the per-job accountant, the
 * round fingerprint, the noise (its distribution and that the same round
 * gets the same noise), clipping, and the DP rounds kept in sqlite. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "db.h"
#include "fedc/dp.h"
#include "fedc/params.h"
#include "privacy.h"

static const char secret[] = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";

static struct fedc_tensor vec(const char *name, const float *data, uint64_t n)
{
	struct fedc_tensor t = { name, FEDC_DTYPE_F32, 1, { n }, data };

	return t;
}

/* Parameters in a memfd, opened. */
static struct fedc_params *params_of(const struct fedc_tensor *t, size_t n)
{
	struct fedc_params *p = NULL;
	int fd = memfd_create("params", 0);

	assert_true(fd >= 0);
	assert_int_equal(fedc_params_write_fd(fd, t, n), FEDC_OK);
	assert_int_equal(fedc_params_open_fd(fd, &p), FEDC_OK);
	close(fd);
	return p;
}

static struct fedc_msg *dp_request(double noise, double delta)
{
	struct fedc_msg *m = fedc_msg_new(FEDC_CMD_TRAIN);

	assert_non_null(m);
	snprintf(m->job_id, sizeof(m->job_id), "%s", "0b5e3c1e-5d47-4a53-9d57-1f0e2c6f9a11");
	snprintf(m->dataset_id, sizeof(m->dataset_id), "%s", "ds-1");
	snprintf(m->params_digest, sizeof(m->params_digest), "%064d", 7);
	snprintf(m->plan_digest, sizeof(m->plan_digest), "%064d", 9);
	m->round = 3;
	m->seed = 42;
	m->lr = 0.1;
	m->epochs = 1;
	m->dp_noise = noise;
	m->dp_clip = 1.0;
	m->dp_delta = delta;
	m->dp_parties = 1;
	fedc_msg_set(m, FEDC_F_DP_NOISE);
	fedc_msg_set(m, FEDC_F_DP_CLIP);
	fedc_msg_set(m, FEDC_F_DP_DELTA);
	fedc_msg_set(m, FEDC_F_DP_PARTIES);
	return m;
}

static struct privacy_policy default_policy(void)
{
	struct privacy_policy p = { 0, 0, 1e-5, 0, 1, false, false };

	return p;
}

static void test_round_count(void **state)
{
	(void)state;
	assert_int_equal(privacy__round_count(0, 10), 0);
	assert_int_equal(privacy__round_count(1, 10), 10);  /* 0 < n < rounding: rounding, not 0 */
	assert_int_equal(privacy__round_count(9, 10), 10);
	assert_int_equal(privacy__round_count(10, 10), 10);
	assert_int_equal(privacy__round_count(14, 10), 10);
	assert_int_equal(privacy__round_count(15, 10), 20); /* halves up */
	assert_int_equal(privacy__round_count(569, 100), 600);
	assert_int_equal(privacy__round_count(455, 100), 500);
	assert_int_equal(privacy__round_count(449, 100), 400);
	assert_int_equal(privacy__round_count(123, 1), 123);
	/* Never decreasing: a round's count stays within its dataset's. */
	for (uint64_t n = 0; n < 1000; n++)
		assert_true(privacy__round_count(n, 7) <= privacy__round_count(n + 1, 7));
}

static void expect_refusal(const struct privacy_policy *p, const struct fedc_msg *m, const char *words)
{
	assert_int_equal(privacy__check_request(p, m), FEDC_ERR_PRIVACY);
	if (!strstr(fedc_last_error(), words))
		fail_msg("expected \"%s\" in \"%s\"", words, fedc_last_error());
}

static void test_policy_refusals(void **state)
{
	struct privacy_policy p = default_policy();
	struct fedc_msg *m = dp_request(0.5, 1e-5);
	struct fedc_msg *plain = fedc_msg_new(FEDC_CMD_TRAIN);

	(void)state;
	assert_int_equal(privacy__check_request(&p, m), FEDC_OK);
	p.min_noise_multiplier = 1.0;
	expect_refusal(&p, m, "dp_noise 0.5 below this node's min_noise_multiplier 1");
	m->dp_noise = 1.0;
	assert_int_equal(privacy__check_request(&p, m), FEDC_OK);
	m->dp_delta = 1e-3;
	expect_refusal(&p, m, "dp_delta 0.001 above this node's max_delta 1e-05");
	m->dp_delta = 1e-5;
	/* require_dp: a round without noise is refused, an evaluation is not */
	p.require_dp = true;
	expect_refusal(&p, plain, "require_dp = true");
	plain->evaluate_only = true;
	assert_int_equal(privacy__check_request(&p, plain), FEDC_OK);
	plain->evaluate_only = false;
	p.require_dp = false;
	assert_int_equal(privacy__check_request(&p, plain), FEDC_OK);
	/* require_secure_aggregation */
	p.require_secure_aggregation = true;
	expect_refusal(&p, m, "require_secure_aggregation = true");
	m->secagg = true;
	fedc_msg_set(m, FEDC_F_SECAGG);
	assert_int_equal(privacy__check_request(&p, m), FEDC_OK);
	/* DP without its other fields */
	fedc_msg_unset(m, FEDC_F_DP_CLIP);
	expect_refusal(&p, m, "without dp_clip");
	/* min_samples */
	p.min_samples = 100;
	assert_int_equal(privacy__check_samples(&p, 100), FEDC_OK);
	assert_int_equal(privacy__check_samples(&p, 99), FEDC_ERR_PRIVACY);
	assert_non_null(strstr(fedc_last_error(), "99 training rows below this node's min_samples 100"));
	fedc_msg_free(m);
	fedc_msg_free(plain);
}

static void test_budget(void **state)
{
	struct privacy_policy p = default_policy();
	double sigmas[20], eps, ref;

	(void)state;
	for (size_t i = 0; i < 20; i++)
		sigmas[i] = 1.5;
	/* n equal rounds: exactly the common accountant at q = 1 */
	for (size_t n = 1; n <= 20; n += 19) {
		assert_int_equal(privacy__epsilon(sigmas, n, 1e-5, &eps), FEDC_OK);
		assert_int_equal(fedc_dp_epsilon(1.0, 1.5, n, 1e-5, &ref, NULL), FEDC_OK);
		assert_true(fabs(eps - ref) < 1e-12);
	}
	assert_int_equal(privacy__epsilon(sigmas, 0, 1e-5, &eps), FEDC_OK);
	assert_true(eps == 0);
	/* a round with less noise costs more than one with more */
	sigmas[1] = 0.8;
	assert_int_equal(privacy__epsilon(sigmas, 2, 1e-5, &eps), FEDC_OK);
	assert_int_equal(fedc_dp_epsilon(1.0, 1.5, 2, 1e-5, &ref, NULL), FEDC_OK);
	assert_true(eps > ref);
	sigmas[1] = 1.5;
	/* max_epsilon: the first round count past it is refused */
	assert_int_equal(fedc_dp_epsilon(1.0, 1.5, 5, 1e-5, &ref, NULL), FEDC_OK);
	p.max_epsilon = ref + 1e-9;
	assert_int_equal(privacy__check_budget(&p, sigmas, 5, 1e-5, &eps), FEDC_OK);
	assert_int_equal(privacy__check_budget(&p, sigmas, 6, 1e-5, &eps), FEDC_ERR_PRIVACY);
	assert_non_null(strstr(fedc_last_error(), "above this node's max_epsilon"));
	p.max_epsilon = 0; /* no limit */
	assert_int_equal(privacy__check_budget(&p, sigmas, 20, 1e-5, &eps), FEDC_OK);
}

/* The training seed key: HKDF-SHA256 over the node's secret, salt "fedc
 * training seed", first 8 bytes little-endian. The expected values come from
 * an independent HKDF (Python's hmac, RFC 5869): a change of derivation would
 * change every node's training seeds, and a resumed experiment would no
 * longer repeat. */
static void test_train_seed_key(void **state)
{
	static const char other[] = "another node";
	uint64_t k1 = 0, k1b = 0, k2 = 0;

	(void)state;
	assert_int_equal(privacy__train_seed_key(secret, strlen(secret), &k1), FEDC_OK);
	assert_int_equal(privacy__train_seed_key(secret, strlen(secret), &k1b), FEDC_OK);
	assert_int_equal(privacy__train_seed_key(other, strlen(other), &k2), FEDC_OK);
	assert_true(k1 == k1b); /* fixed for a fixed secret */
	assert_true(k1 != k2);  /* another node's secret, another key */
	assert_true(k1 == 0xf1bc87058c821006ull);
	assert_true(k2 == 0xa1943d550fbfe771ull);
	assert_int_equal(privacy__train_seed_key(secret, 0, &k1), FEDC_ERR_INVAL);
	assert_true(k1 == 0);
}

static void draw(const char *fingerprint, double *z, size_t n)
{
	uint8_t key[PRIVACY_KEY_LEN];
	struct privacy_noise *noise = NULL;

	assert_int_equal(privacy__noise_key(secret, strlen(secret), fingerprint, key), FEDC_OK);
	assert_int_equal(privacy__noise_new(key, &noise), FEDC_OK);
	assert_int_equal(privacy__noise_fill(noise, z, n), FEDC_OK);
	privacy__noise_free(noise);
}

static void test_noise_same_round_same_noise(void **state)
{
	struct fedc_msg *m = dp_request(1.0, 1e-5);
	char f1[FEDC_SHA256_HEXLEN + 1], f1b[FEDC_SHA256_HEXLEN + 1], f2[FEDC_SHA256_HEXLEN + 1];
	char other_job[FEDC_SHA256_HEXLEN + 1];
	double a[64], b[64], c[64];

	(void)state;
	assert_int_equal(privacy__fingerprint(m, f1), FEDC_OK);
	assert_int_equal(privacy__fingerprint(m, f1b), FEDC_OK);
	assert_string_equal(f1, f1b);
	m->round = 4;
	assert_int_equal(privacy__fingerprint(m, f2), FEDC_OK);
	assert_string_not_equal(f1, f2);
	m->round = 3;
	snprintf(m->job_id, sizeof(m->job_id), "%s", "1b5e3c1e-5d47-4a53-9d57-1f0e2c6f9a11");
	assert_int_equal(privacy__fingerprint(m, other_job), FEDC_OK);
	assert_string_not_equal(f1, other_job);
	draw(f1, a, 64);
	draw(f1b, b, 64);
	draw(f2, c, 64);
	assert_memory_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, c, sizeof(a));
	/* another node (another secret), same round: other noise */
	{
		uint8_t k1[PRIVACY_KEY_LEN], k2[PRIVACY_KEY_LEN];

		assert_int_equal(privacy__noise_key(secret, strlen(secret), f1, k1), FEDC_OK);
		assert_int_equal(privacy__noise_key("another node", 12, f1, k2), FEDC_OK);
		assert_memory_not_equal(k1, k2, sizeof(k1));
		assert_int_equal(privacy__noise_key("", 0, f1, k2), FEDC_ERR_INVAL);
	}
	fedc_msg_free(m);
}

static void test_noise_is_standard_normal(void **state)
{
	const size_t n = 100000;
	double *z = malloc(n * sizeof(*z)), sum = 0, sq = 0, mean, sd;
	size_t within1 = 0;

	(void)state;
	assert_non_null(z);
	draw("0123", z, n);
	for (size_t i = 0; i < n; i++) {
		sum += z[i];
		sq += z[i] * z[i];
		within1 += fabs(z[i]) < 1.0;
	}
	mean = sum / (double)n;
	sd = sqrt(sq / (double)n - mean * mean);
	assert_true(fabs(mean) < 0.02);
	assert_true(fabs(sd - 1.0) < 0.03);
	/* 68.27 % within one standard deviation */
	assert_true(fabs((double)within1 / (double)n - 0.6827) < 0.01);
	free(z);
}

/* The mechanism's result, as floats. */
static float *apply(const struct fedc_tensor *g, const struct fedc_tensor *u, size_t n, double clip, double std,
		    const char *fingerprint, struct privacy_dp_report *rep, struct fedc_params **out)
{
	struct fedc_params *gp = params_of(g, n), *up = params_of(u, n);
	uint8_t key[PRIVACY_KEY_LEN];
	int fd = memfd_create("dp", 0);

	assert_int_equal(privacy__noise_key(secret, strlen(secret), fingerprint, key), FEDC_OK);
	assert_int_equal(privacy__apply_dp(gp, up, clip, std, key, fd, rep), FEDC_OK);
	assert_int_equal(fedc_params_open_fd(fd, out), FEDC_OK);
	close(fd);
	fedc_params_close(gp);
	fedc_params_close(up);
	return (float *)(uintptr_t)fedc_params_tensors(*out)[0].data;
}

static void test_clipping_keeps_direction(void **state)
{
	/* change (3, 4 | 12) has norm 13; clip 1.3 scales it by 0.1 */
	static const float g1[] = { 1, 1 }, g2[] = { 0 }, u1[] = { 4, 5 }, u2[] = { 12 };
	struct fedc_tensor g[] = { vec("a", g1, 2), vec("b", g2, 1) }, u[] = { vec("a", u1, 2), vec("b", u2, 1) };
	struct fedc_params *out = NULL;
	struct privacy_dp_report rep;
	const float *a, *b;
	double d0, d1, d2, norm;

	(void)state;
	a = apply(g, u, 2, 1.3, 0.0, "f", &rep, &out);
	b = fedc_params_tensors(out)[1].data;
	assert_int_equal(fedc_params_count(out), 2);
	assert_string_equal(fedc_params_tensors(out)[1].name, "b");
	d0 = a[0] - 1.0;
	d1 = a[1] - 1.0;
	d2 = b[0];
	norm = sqrt(d0 * d0 + d1 * d1 + d2 * d2);
	assert_true(fabs(rep.norm - 13.0) < 1e-9);
	assert_true(norm <= 1.3 + 1e-6);
	assert_true(fabs(norm - 1.3) < 1e-5);
	/* same direction: each coordinate is 0.1 of the original change */
	assert_true(fabs(d0 - 0.3) < 1e-6 && fabs(d1 - 0.4) < 1e-6 && fabs(d2 - 1.2) < 1e-6);
	fedc_params_close(out);
	/* a change within the bound is left as it is */
	a = apply(g, u, 2, 100.0, 0.0, "f", &rep, &out);
	assert_true(a[0] == 4.0f && a[1] == 5.0f && rep.scale == 1.0);
	fedc_params_close(out);
}

static void test_noise_std_on_update(void **state)
{
	const size_t n = 100000;
	float *gz = calloc(n, sizeof(float)), *uz = calloc(n, sizeof(float));
	struct fedc_tensor g = vec("w", gz, n), u = vec("w", uz, n);
	struct fedc_params *out = NULL, *again = NULL;
	struct privacy_dp_report rep;
	const float *v, *w;
	double sum = 0, sq = 0, mean, sd;
	/* dp_noise 1.2, clip 0.5, 4 parties: std 1.2 * 0.5 / 2 = 0.3 */
	const double std = 1.2 * 0.5 / sqrt(4.0);

	(void)state;
	assert_non_null(gz);
	assert_non_null(uz);
	v = apply(&g, &u, 1, 0.5, std, "round-1", &rep, &out);
	for (size_t i = 0; i < n; i++) {
		sum += v[i];
		sq += (double)v[i] * v[i];
	}
	mean = sum / (double)n;
	sd = sqrt(sq / (double)n - mean * mean);
	assert_true(fabs(sd - std) / std < 0.03);
	assert_true(fabs(mean) < 0.01);
	assert_int_equal(rep.values, n);
	/* same round again: the same bytes */
	w = apply(&g, &u, 1, 0.5, std, "round-1", &rep, &again);
	assert_memory_equal(v, w, n * sizeof(float));
	fedc_params_close(again);
	w = apply(&g, &u, 1, 0.5, std, "round-2", &rep, &again);
	assert_memory_not_equal(v, w, n * sizeof(float));
	fedc_params_close(again);
	fedc_params_close(out);
	free(gz);
	free(uz);
}

static void test_dp_refuses_scaffold_tensors(void **state)
{
	static const float x[] = { 1, 2 }, dc[] = { 0.5f, 0.5f };
	struct fedc_tensor g[] = { vec("w", x, 2) }, u[] = { vec("w", x, 2), vec("scaffold.dc.w", dc, 2) };
	struct fedc_params *gp = params_of(g, 1), *up = params_of(u, 2);
	struct privacy_dp_report rep;
	uint8_t key[PRIVACY_KEY_LEN] = { 0 };
	int fd = memfd_create("dp", 0);

	(void)state;
	assert_int_equal(privacy__apply_dp(gp, up, 1.0, 1.0, key, fd, &rep), FEDC_ERR_PRIVACY);
	assert_non_null(strstr(fedc_last_error(), "scaffold.dc.w"));
	close(fd);
	fedc_params_close(gp);
	fedc_params_close(up);
}

static void test_db_counts_a_round_once(void **state)
{
	char dir[] = "/tmp/fedc-privacy-XXXXXX", path[128], cmd[160];
	struct node_db *db = NULL;
	double *noises = NULL;
	size_t n = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/node.db", dir);
	assert_int_equal(db__open(path, &db), FEDC_OK);
	assert_int_equal(db__dp_round_add(db, "job", 1, "f1", 1.0), FEDC_OK);
	assert_int_equal(db__dp_round_add(db, "job", 1, "f1", 1.0), FEDC_OK); /* the same round asked again */
	assert_int_equal(db__dp_round_add(db, "job", 2, "f2", 2.0), FEDC_OK);
	assert_int_equal(db__dp_round_add(db, "other", 1, "f9", 3.0), FEDC_OK);
	assert_int_equal(db__dp_rounds(db, "job", "", &noises, &n), FEDC_OK);
	assert_int_equal(n, 2);
	assert_true(noises[0] == 1.0 && noises[1] == 2.0);
	free(noises);
	assert_int_equal(db__dp_rounds(db, "job", "f2", &noises, &n), FEDC_OK);
	assert_int_equal(n, 1);
	free(noises);
	assert_int_equal(db__dp_rounds(db, "nobody", "", &noises, &n), FEDC_OK);
	assert_int_equal(n, 0);
	assert_null(noises);
	db__close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_count),
		cmocka_unit_test(test_policy_refusals),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_train_seed_key),
		cmocka_unit_test(test_noise_same_round_same_noise),
		cmocka_unit_test(test_noise_is_standard_normal),
		cmocka_unit_test(test_clipping_keeps_direction),
		cmocka_unit_test(test_noise_std_on_update),
		cmocka_unit_test(test_dp_refuses_scaffold_tensors),
		cmocka_unit_test(test_db_counts_a_round_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
