/* The node's privacy policy and node-level DP (privacy.h, docs/privacy.md). */
#include "privacy.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fedc/dp.h"

#define NOISE_SALT "fedc-dp-noise-v1"
#define TRAIN_SEED_SALT "fedc training seed"
#define NOISE_BLOCK 4096 /* keystream bytes drawn at a time */

uint64_t privacy__round_count(uint64_t n, uint64_t rounding)
{
	uint64_t q;

	if (rounding <= 1 || n == 0)
		return n;
	if (n < rounding)
		return rounding;
	q = n / rounding + (n % rounding >= rounding - rounding / 2 ? 1 : 0); /* halves up */
	return q > UINT64_MAX / rounding ? UINT64_MAX / rounding * rounding : q * rounding;
}

bool privacy__dp_on(const struct fedc_msg *req)
{
	return fedc_msg_has(req, FEDC_F_DP_NOISE) && req->dp_noise > 0;
}

enum fedc_err privacy__check_request(const struct privacy_policy *p, const struct fedc_msg *req)
{
	bool secagg = fedc_msg_has(req, FEDC_F_SECAGG) && req->secagg;

	if (req->evaluate_only)
		return FEDC_OK; /* nothing trained, nothing released but test metrics */
	if (p->require_secure_aggregation && !secagg)
		return fedc_fail(FEDC_ERR_PRIVACY, "this node requires secure aggregation ([privacy] "
						   "require_secure_aggregation = true) and the round does not ask for it");
	if (!privacy__dp_on(req)) {
		if (p->require_dp)
			return fedc_fail(FEDC_ERR_PRIVACY, "this node requires node-level differential privacy ([privacy] "
							   "require_dp = true, min_noise_multiplier %g) and the round has no "
							   "dp_noise",
					 p->min_noise_multiplier);
		return FEDC_OK;
	}
	if (!fedc_msg_has(req, FEDC_F_DP_CLIP) || !fedc_msg_has(req, FEDC_F_DP_DELTA) ||
	    !fedc_msg_has(req, FEDC_F_DP_PARTIES) || !(req->dp_clip > 0) || !(req->dp_delta > 0) || req->dp_parties < 1)
		return fedc_fail(FEDC_ERR_PRIVACY, "dp_noise %g without dp_clip > 0, dp_delta > 0 and dp_parties >= 1",
				 req->dp_noise);
	if (req->dp_noise < p->min_noise_multiplier)
		return fedc_fail(FEDC_ERR_PRIVACY, "dp_noise %g below this node's min_noise_multiplier %g", req->dp_noise,
				 p->min_noise_multiplier);
	if (req->dp_delta > p->max_delta)
		return fedc_fail(FEDC_ERR_PRIVACY, "dp_delta %g above this node's max_delta %g", req->dp_delta,
				 p->max_delta);
	return FEDC_OK;
}

enum fedc_err privacy__epsilon(const double *sigmas, size_t n, double delta, double *epsilon)
{
	double best = INFINITY;

	*epsilon = 0;
	if (!(delta > 0 && delta < 1))
		return fedc_fail(FEDC_ERR_INVAL, "dp: delta %g outside (0, 1)", delta);
	for (size_t k = 0; k < n; k++) {
		if (!(sigmas[k] >= 0))
			return fedc_fail(FEDC_ERR_INVAL, "dp: noise multiplier %g", sigmas[k]);
	}
	if (n == 0)
		return FEDC_OK;
	/* The same orders and conversion as fedc_dp_epsilon (Balle et al. 2020,
	 * Proposition 12), over the sum of each round's RDP. */
	for (size_t i = 0; i < FEDC_DP_N_ORDERS; i++) {
		double a = fedc_dp_order(i), rdp = 0, eps;

		for (size_t k = 0; k < n; k++)
			rdp += fedc_dp_rdp_step(1.0, sigmas[k], a);
		eps = rdp - (log(delta) + log(a)) / (a - 1) + log((a - 1) / a);
		if (!isnan(eps) && eps < best)
			best = eps;
	}
	*epsilon = best;
	return FEDC_OK;
}

enum fedc_err privacy__check_budget(const struct privacy_policy *p, const double *sigmas, size_t n, double delta,
				    double *epsilon)
{
	enum fedc_err rc = privacy__epsilon(sigmas, n, delta, epsilon);

	if (rc)
		return fedc_fail(FEDC_ERR_PRIVACY, "%s", fedc_last_error());
	if (p->max_epsilon > 0 && *epsilon > p->max_epsilon)
		return fedc_fail(FEDC_ERR_PRIVACY, "epsilon %.4g after this round (%zu round(s) of this job, delta %g) above "
						   "this node's max_epsilon %g",
				 *epsilon, n, delta, p->max_epsilon);
	return FEDC_OK;
}

enum fedc_err privacy__check_samples(const struct privacy_policy *p, uint64_t n_train)
{
	if (n_train < p->min_samples)
		return fedc_fail(FEDC_ERR_PRIVACY, "%" PRIu64 " training rows below this node's min_samples %" PRIu64,
				 n_train, p->min_samples);
	return FEDC_OK;
}

/* ---- the round's fingerprint and noise key ---- */

static enum fedc_err hash_text(struct fedc_hash *h, const char *text)
{
	return fedc_hash_update(h, text, strlen(text) + 1); /* with its NUL: fields cannot run together */
}

enum fedc_err privacy__fingerprint(const struct fedc_msg *req, char hex[FEDC_SHA256_HEXLEN + 1])
{
	struct fedc_hash *h = NULL;
	char num[512];
	enum fedc_err rc = fedc_hash_new(FEDC_HASH_SHA256, &h);

	if (rc)
		return rc;
	/* %a prints doubles exactly. */
	snprintf(num, sizeof(num), "%" PRIu64 "|%" PRIu64 "|%a|%" PRIu64 "|%" PRIu64 "|%" PRIu64 "|%a|%a|%a|%a|%" PRIu64,
		 req->round, req->seed, req->lr, req->epochs, req->num_updates, req->batch_size, req->test_ratio,
		 req->fedprox_mu, req->dp_clip, req->dp_noise, req->dp_parties);
	rc = hash_text(h, "fedc-dp-round-v1");
	if (!rc)
		rc = hash_text(h, req->job_id);
	if (!rc)
		rc = hash_text(h, req->dataset_id);
	if (!rc)
		rc = hash_text(h, req->params_digest);
	if (!rc)
		rc = hash_text(h, req->plan_digest);
	if (!rc)
		rc = hash_text(h, req->optimizer);
	if (!rc)
		rc = hash_text(h, num);
	for (uint32_t i = 0; !rc && i < req->n_model_args; i++) {
		snprintf(num, sizeof(num), "%a", req->model_args[i].value);
		rc = hash_text(h, req->model_args[i].name);
		if (!rc)
			rc = hash_text(h, num);
	}
	if (!rc)
		rc = fedc_hash_final(h, hex);
	fedc_hash_free(h);
	return rc;
}

enum fedc_err privacy__noise_key(const void *secret, size_t secret_len, const char *fingerprint,
				 uint8_t key[PRIVACY_KEY_LEN])
{
	if (!secret || secret_len == 0)
		return fedc_fail(FEDC_ERR_INVAL, "dp: no node secret to key the noise with");
	return fedc_hkdf_sha256(NOISE_SALT, strlen(NOISE_SALT), secret, secret_len, fingerprint, strlen(fingerprint),
				key, PRIVACY_KEY_LEN);
}

enum fedc_err privacy__train_seed_key(const void *secret, size_t secret_len, uint64_t *out)
{
	uint8_t key[8];
	enum fedc_err rc;

	*out = 0;
	if (!secret || secret_len == 0)
		return fedc_fail(FEDC_ERR_INVAL, "no node secret to key the training seed with");
	rc = fedc_hkdf_sha256(TRAIN_SEED_SALT, strlen(TRAIN_SEED_SALT), secret, secret_len, NULL, 0, key, sizeof(key));
	for (size_t i = 0; !rc && i < sizeof(key); i++)
		*out |= (uint64_t)key[i] << (8 * i);
	explicit_bzero(key, sizeof(key));
	return rc;
}

struct privacy_noise {
	EVP_CIPHER_CTX *ctx;
	uint8_t zeros[NOISE_BLOCK], block[NOISE_BLOCK];
	size_t used; /* bytes of block already taken */
	bool have_spare;
	double spare;
};

enum fedc_err privacy__noise_new(const uint8_t key[PRIVACY_KEY_LEN], struct privacy_noise **out)
{
	static const uint8_t iv[16] = { 0 }; /* counter 0, nonce 0: each key serves one round */
	struct privacy_noise *n = calloc(1, sizeof(*n));

	*out = NULL;
	if (!n)
		return FEDC_ERR_NOMEM;
	n->ctx = EVP_CIPHER_CTX_new();
	if (!n->ctx || EVP_EncryptInit_ex(n->ctx, EVP_chacha20(), NULL, key, iv) != 1) {
		privacy__noise_free(n);
		return fedc_fail(FEDC_ERR_IO, "dp: cannot start ChaCha20 (OpenSSL)");
	}
	n->used = NOISE_BLOCK;
	*out = n;
	return FEDC_OK;
}

void privacy__noise_free(struct privacy_noise *n)
{
	if (!n)
		return;
	EVP_CIPHER_CTX_free(n->ctx);
	explicit_bzero(n->block, sizeof(n->block));
	free(n);
}

static enum fedc_err next_u64(struct privacy_noise *n, uint64_t *v)
{
	int len = 0;

	if (n->used + 8 > NOISE_BLOCK) {
		if (EVP_EncryptUpdate(n->ctx, n->block, &len, n->zeros, NOISE_BLOCK) != 1 || len != NOISE_BLOCK)
			return fedc_fail(FEDC_ERR_IO, "dp: ChaCha20 failed (OpenSSL)");
		n->used = 0;
	}
	*v = 0;
	for (int i = 0; i < 8; i++) /* little-endian, whatever the host */
		*v |= (uint64_t)n->block[n->used + (size_t)i] << (8 * i);
	n->used += 8;
	return FEDC_OK;
}

enum fedc_err privacy__noise_fill(struct privacy_noise *n, double *out, size_t count)
{
	const double two53 = 9007199254740992.0;
	uint64_t a, b;
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; i < count; i++) {
		double u1, u2, r;

		if (n->have_spare) {
			out[i] = n->spare;
			n->have_spare = false;
			continue;
		}
		rc = next_u64(n, &a);
		if (!rc)
			rc = next_u64(n, &b);
		if (rc)
			return rc;
		u1 = ((double)(a >> 11) + 1.0) / two53; /* (0, 1]: log(u1) is finite */
		u2 = (double)(b >> 11) / two53;         /* [0, 1) */
		r = sqrt(-2.0 * log(u1));
		out[i] = r * cos(2.0 * M_PI * u2);
		n->spare = r * sin(2.0 * M_PI * u2);
		n->have_spare = true;
	}
	return rc;
}

/* ---- the mechanism ---- */

static const struct fedc_tensor *global_of(const struct fedc_params *global, const struct fedc_tensor *u)
{
	const struct fedc_tensor *g = fedc_params_find(global, u->name);

	return g && fedc_tensor_same_layout(g, u) && g->dtype == FEDC_DTYPE_F32 ? g : NULL;
}

static void free_values(struct fedc_tensor *out, size_t n)
{
	for (size_t i = 0; out && i < n; i++)
		free((void *)(uintptr_t)out[i].data);
	free(out);
}

enum fedc_err privacy__apply_dp(const struct fedc_params *global, const struct fedc_params *update, double clip,
				double noise_std, const uint8_t key[PRIVACY_KEY_LEN], int out_fd,
				struct privacy_dp_report *report)
{
	size_t n = fedc_params_count(update);
	const struct fedc_tensor *ut = fedc_params_tensors(update);
	struct fedc_tensor *out = calloc(n ? n : 1, sizeof(*out));
	struct privacy_noise *noise = NULL;
	double sum = 0, *z = NULL;
	enum fedc_err rc = FEDC_OK;

	memset(report, 0, sizeof(*report));
	if (!out)
		return FEDC_ERR_NOMEM;
	/* Every tensor must have its global: a change DP does not bound (SCAFFOLD's
	 * scaffold.dc.*) would go out in the clear. */
	for (size_t t = 0; t < n; t++) {
		const struct fedc_tensor *g = global_of(global, &ut[t]);
		const float *uv = ut[t].data, *gv;
		uint64_t count = fedc_tensor_elements(&ut[t]);

		if (!g || ut[t].dtype != FEDC_DTYPE_F32) {
			rc = fedc_fail(FEDC_ERR_PRIVACY, "node-level DP: the update's tensor %s is not in the global "
							 "parameters (with the same shape), so DP cannot bound it; SCAFFOLD "
							 "does not go with dp",
				       ut[t].name);
			goto out;
		}
		gv = g->data;
		for (uint64_t i = 0; i < count; i++) {
			double d = (double)uv[i] - (double)gv[i];

			sum += d * d;
		}
	}
	report->norm = sqrt(sum);
	report->scale = report->norm > clip ? clip / report->norm : 1.0;
	report->noise_std = noise_std;
	rc = privacy__noise_new(key, &noise);
	if (rc)
		goto out;
	z = malloc(NOISE_BLOCK * sizeof(*z));
	if (!z) {
		rc = FEDC_ERR_NOMEM;
		goto out;
	}
	for (size_t t = 0; !rc && t < n; t++) {
		const struct fedc_tensor *g = global_of(global, &ut[t]);
		const float *uv = ut[t].data, *gv = g->data;
		uint64_t count = fedc_tensor_elements(&ut[t]);
		float *v = malloc((count ? count : 1) * sizeof(*v));

		out[t] = ut[t];
		out[t].data = v;
		if (!v) {
			rc = FEDC_ERR_NOMEM;
			break;
		}
		for (uint64_t i = 0; !rc && i < count; i += NOISE_BLOCK) {
			size_t m = count - i < NOISE_BLOCK ? (size_t)(count - i) : NOISE_BLOCK;

			rc = privacy__noise_fill(noise, z, m);
			for (size_t k = 0; !rc && k < m; k++) {
				double d = ((double)uv[i + k] - (double)gv[i + k]) * report->scale;

				v[i + k] = (float)((double)gv[i + k] + d + noise_std * z[k]);
			}
		}
		report->values += count;
	}
	if (!rc)
		rc = fedc_params_write_fd(out_fd, out, n);
out:
	free(z);
	privacy__noise_free(noise);
	free_values(out, n);
	return rc;
}
