/* A node's side of secure aggregation (node/secagg_client.c), three nodes in
 * one process with the researcher's part played by hand through the wire
 * format: a whole round gives the weighted sum exactly once the self masks
 * are removed; and what protects a node from a researcher that does not
 * follow the protocol -- a substituted key, a threshold that is not a
 * majority, steps out of order, a second unmask request, asking for a node's
 * own mask key, too few survivors -- is refused. */
#define _GNU_SOURCE /* memfd_create, mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/buf.h"
#include "fedc/message.h"
#include "fedc/params.h"
#include "fedc/secagg.h"
#include "fedc/secagg_wire.h"
#include "fedc/sign.h"
#include "secagg_client.h"

#define N 3
#define VALUES 5
#define JOB "6f1c2a3b-0d4e-4f5a-8b6c-7d8e9f0a1b2c"
#define ROUND 4
#define SCALE 30

static const char *const ids[N] = { "node-a", "node-b", "node-c" };

struct fixture {
	char dir[64], peers[N][96];
	struct fedc_signer *signer[N];
	struct secagg_client *client[N];
	struct fedc_msg *train[N];
	struct fedc_secagg_keys keys[N];
};

static struct fixture fx;

static void write_key(EVP_PKEY *key, const char *path, bool private_part)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(private_part ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(f, key),
			 1);
	fclose(f);
}

/* Each node: a signing key, and a peers/ directory with the others' keys. */
static int setup(void **state)
{
	char path[256];

	(void)state;
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/fedc-secagg-client-XXXXXX");
	if (!mkdtemp(fx.dir))
		return -1;
	for (int i = 0; i < N; i++) {
		snprintf(fx.peers[i], sizeof(fx.peers[i]), "%s/peers-%d", fx.dir, i);
		if (mkdir(fx.peers[i], 0700) != 0)
			return -1;
	}
	for (int i = 0; i < N; i++) {
		EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

		if (!key)
			return -1;
		snprintf(path, sizeof(path), "%s/%s.key", fx.dir, ids[i]);
		write_key(key, path, true);
		for (int j = 0; j < N; j++) {
			if (j == i)
				continue;
			snprintf(path, sizeof(path), "%s/%s.pub", fx.peers[j], ids[i]);
			write_key(key, path, false);
		}
		EVP_PKEY_free(key);
		snprintf(path, sizeof(path), "%s/%s.key", fx.dir, ids[i]);
		if (fedc_signer_load(ids[i], path, &fx.signer[i]) != FEDC_OK)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	for (int i = 0; i < N; i++)
		fedc_signer_free(fx.signer[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx.dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct fedc_msg *train_for(int i, uint32_t threshold)
{
	struct fedc_msg *m = fedc_msg_new(FEDC_CMD_TRAIN);

	assert_non_null(m);
	snprintf(m->researcher_id, sizeof(m->researcher_id), "researcher");
	snprintf(m->job_id, sizeof(m->job_id), "%s", JOB);
	m->round = ROUND;
	m->secagg = true;
	m->secagg_scale_bits = SCALE;
	m->secagg_value_max = 8;
	m->secagg_weight_max = 1000;
	m->secagg_threshold = threshold;
	m->secagg_neighbours = 0;
	(void)i;
	return m;
}

/* Every node begins the round (fresh clients) and its keys are decoded. */
static void begin_all(uint32_t threshold)
{
	for (int i = 0; i < N; i++) {
		struct fedc_msg *keys = NULL;
		size_t n = 0;

		assert_int_equal(secagg_client__new(ids[i], fx.signer[i], fx.peers[i], &fx.client[i]), FEDC_OK);
		fx.train[i] = train_for(i, threshold);
		assert_int_equal(secagg_client__begin(fx.client[i], fx.train[i], &keys), FEDC_OK);
		assert_string_equal(keys->secagg_step, "keys");
		assert_int_equal(fedc_secagg_get_keys(keys->secagg_data, keys->secagg_data_len, &fx.keys[i], 1, &n),
				 FEDC_OK);
		assert_int_equal(n, 1);
		assert_string_equal(fx.keys[i].node_id, ids[i]);
		fedc_msg_free(keys);
	}
}

static void end_all(void)
{
	for (int i = 0; i < N; i++) {
		secagg_client__free(fx.client[i]);
		fedc_msg_free(fx.train[i]);
		fx.client[i] = NULL;
		fx.train[i] = NULL;
	}
}

/* A researcher's `secagg` step to node i, with `data`. */
static struct fedc_msg *step_for(int i, const char *step, const struct fedc_buf *data)
{
	struct fedc_msg *m = fedc_msg_new(FEDC_CMD_SECAGG);

	assert_non_null(m);
	memcpy(m->request_id, fx.train[i]->request_id, sizeof(m->request_id));
	snprintf(m->researcher_id, sizeof(m->researcher_id), "researcher");
	snprintf(m->job_id, sizeof(m->job_id), "%s", JOB);
	m->round = ROUND;
	snprintf(m->secagg_step, sizeof(m->secagg_step), "%s", step);
	assert_int_equal(fedc_msg_set_secagg_data(m, data ? data->data : "", data ? data->len : 0), FEDC_OK);
	return m;
}

/* Sends node i a step; returns the client's result, *reply its answer. */
static enum fedc_err send_step(int i, const char *step, const struct fedc_buf *data, struct fedc_msg **reply)
{
	struct fedc_msg *m = step_for(i, step, data);
	enum fedc_err rc = secagg_client__handle(fx.client[i], m, reply);

	fedc_msg_free(m);
	return rc;
}

/* The keyset of node i: the others' keys (one of them changed if `tamper`). */
static void keyset_for(int i, bool tamper, struct fedc_buf *out)
{
	struct fedc_secagg_keys k[N];
	size_t n = 0;

	for (int j = 0; j < N; j++)
		if (j != i)
			k[n++] = fx.keys[j];
	if (tamper)
		k[0].c_pk[0] ^= 1; /* a researcher's substitute key: the signature no longer holds */
	assert_int_equal(fedc_secagg_put_keys(out, k, n), FEDC_OK);
}

/* The whole exchange up to the shares: keysets out, sealed shares routed
 * back to their recipients. */
static void exchange_shares(void)
{
	struct fedc_secagg_sealed sealed[N][N];
	size_t n_sealed[N];

	for (int i = 0; i < N; i++) {
		struct fedc_buf ks = FEDC_BUF_INIT(FEDC_MAX_SECAGG_DATA);
		struct fedc_msg *reply = NULL;

		keyset_for(i, false, &ks);
		assert_int_equal(send_step(i, "keyset", &ks, &reply), FEDC_OK);
		assert_non_null(reply);
		assert_string_equal(reply->secagg_step, "shares");
		assert_int_equal(fedc_secagg_get_sealed(reply->secagg_data, reply->secagg_data_len, sealed[i], N,
							&n_sealed[i]),
				 FEDC_OK);
		assert_int_equal(n_sealed[i], N - 1);
		fedc_msg_free(reply);
		fedc_buf_free(&ks);
	}
	for (int to = 0; to < N; to++) {
		struct fedc_secagg_sealed fwd[N];
		struct fedc_buf data = FEDC_BUF_INIT(FEDC_MAX_SECAGG_DATA);
		struct fedc_msg *reply = NULL;
		size_t n = 0;

		for (int from = 0; from < N; from++)
			for (size_t k = 0; from != to && k < n_sealed[from]; k++)
				if (strcmp(sealed[from][k].node_id, ids[to]) == 0) {
					fwd[n] = sealed[from][k];
					snprintf(fwd[n].node_id, sizeof(fwd[n].node_id), "%s", ids[from]);
					n++;
				}
		assert_int_equal(fedc_secagg_put_sealed(&data, fwd, n), FEDC_OK);
		assert_int_equal(send_step(to, "shares", &data, &reply), FEDC_OK);
		assert_null(reply);
		fedc_buf_free(&data);
	}
}

/* Node i's update: VALUES float32 values in one tensor, in a memfd. */
static int update_fd(int i, float *values)
{
	struct fedc_tensor t = { "w", FEDC_DTYPE_F32, 1, { VALUES }, values };
	int fd = memfd_create("update", 0);

	for (int k = 0; k < VALUES; k++)
		values[k] = (float)(0.25 * (i + 1) - 0.125 * k);
	assert_true(fd >= 0);
	assert_int_equal(fedc_params_write_fd(fd, &t, 1), FEDC_OK);
	return fd;
}

/* The unmask request for node i: every node's self-mask share (all survived). */
static void unmask_request(struct fedc_buf *out)
{
	struct fedc_secagg_share want[N];

	memset(want, 0, sizeof(want));
	for (int j = 0; j < N; j++) {
		snprintf(want[j].node_id, sizeof(want[j].node_id), "%s", ids[j]);
		want[j].kind = FEDC_SECAGG_KIND_B;
	}
	assert_int_equal(fedc_secagg_put_shares(out, want, N, false), FEDC_OK);
}

static void test_round_gives_the_weighted_sum(void **state)
{
	static const uint64_t weight[N] = { 100, 70, 60 };
	uint64_t sum[VALUES + 1] = { 0 };
	float values[N][VALUES];
	struct fedc_secagg_share answers[N][N];
	double want[VALUES] = { 0 }, got[VALUES];

	(void)state;
	begin_all(2); /* a strict majority of 3 */
	exchange_shares();
	for (int i = 0; i < N; i++) {
		int in = update_fd(i, values[i]), out = -1;
		struct fedc_params *p = NULL;
		const uint64_t *v;

		assert_int_equal(secagg_client__mask(fx.client[i], fx.train[i], in, weight[i], 1000, NULL, &out),
				 FEDC_OK);
		assert_int_equal(fedc_params_open_fd(out, &p), FEDC_OK);
		assert_int_equal(fedc_params_count(p), 1);
		assert_int_equal(fedc_params_tensors(p)[0].dtype, FEDC_DTYPE_U64);
		assert_int_equal(fedc_tensor_elements(&fedc_params_tensors(p)[0]), VALUES + 1);
		v = fedc_params_tensors(p)[0].data;
		for (int k = 0; k <= VALUES; k++)
			sum[k] += v[k];
		assert_true(v[VALUES] != weight[i]); /* the weight too is masked */
		fedc_params_close(p);
		close(in);
		for (int k = 0; k < VALUES; k++)
			want[k] += (double)weight[i] * values[i][k];
	}
	/* every node answers; each one's self-mask seed comes back from any 2 */
	for (int i = 0; i < N; i++) {
		struct fedc_buf req = FEDC_BUF_INIT(FEDC_MAX_SECAGG_DATA);
		struct fedc_msg *reply = NULL;
		size_t n = 0;

		unmask_request(&req);
		assert_int_equal(send_step(i, "unmask", &req, &reply), FEDC_OK);
		assert_int_equal(fedc_secagg_get_shares(reply->secagg_data, reply->secagg_data_len, answers[i], N, &n,
							true),
				 FEDC_OK);
		assert_int_equal(n, N);
		fedc_msg_free(reply);
		/* a second request is never answered, whatever it asks */
		assert_int_equal(send_step(i, "unmask", &req, &reply), FEDC_ERR_INVAL);
		fedc_buf_free(&req);
	}
	for (int owner = 0; owner < N; owner++) {
		uint8_t xs[2], seed[32];
		const uint8_t *shares[2];

		for (int w = 0; w < 2; w++) { /* answers of nodes (owner+1) and (owner+2): not the owner's own */
			const struct fedc_secagg_share *s = &answers[(owner + 1 + w) % N][owner];

			assert_string_equal(s->node_id, ids[owner]);
			xs[w] = s->x;
			shares[w] = s->share;
		}
		assert_int_equal(fedc_secagg_shamir_combine(xs, shares, 2, 32, seed), FEDC_OK);
		assert_int_equal(fedc_secagg_mask(sum, VALUES + 1, seed, -1), FEDC_OK);
	}
	/* the pairwise masks cancelled, the self masks are out: the weighted sum */
	assert_int_equal(sum[VALUES], weight[0] + weight[1] + weight[2]);
	fedc_secagg_decode(sum, VALUES, SCALE, got);
	for (int k = 0; k < VALUES; k++)
		assert_true(fabs(got[k] - want[k]) <= fedc_secagg_error_bound(N, SCALE));
	end_all();
}

static void test_substituted_key_refused(void **state)
{
	struct fedc_buf ks = FEDC_BUF_INIT(FEDC_MAX_SECAGG_DATA);
	struct fedc_msg *reply = NULL;

	(void)state;
	begin_all(2);
	keyset_for(0, true, &ks);
	assert_int_equal(send_step(0, "keyset", &ks, &reply), FEDC_ERR_AUTH);
	assert_null(reply);
	assert_non_null(strstr(fedc_last_error(), "does not verify"));
	fedc_buf_free(&ks);
	end_all();
}

static void test_threshold_must_be_a_majority(void **state)
{
	struct fedc_buf ks = FEDC_BUF_INIT(FEDC_MAX_SECAGG_DATA);
	struct fedc_msg *reply = NULL;

	(void)state;
	begin_all(1 + 0); /* t = 1 of 3: anyone could rebuild anyone's secrets */
	keyset_for(0, false, &ks);
	assert_int_equal(send_step(0, "keyset", &ks, &reply), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "strict majority"));
	fedc_buf_free(&ks);
	end_all();
}

static void test_steps_out_of_order_refused(void **state)
{
	struct fedc_buf empty = FEDC_BUF_INIT(64), ks = FEDC_BUF_INIT(FEDC_MAX_SECAGG_DATA);
	struct fedc_msg *reply = NULL;
	float values[VALUES];
	int in, out = -1;

	(void)state;
	begin_all(2);
	assert_int_equal(fedc_secagg_put_sealed(&empty, NULL, 0), FEDC_OK);
	assert_int_equal(send_step(0, "shares", &empty, &reply), FEDC_ERR_INVAL); /* before the keyset */
	end_all();
	begin_all(2); /* the failed step ended node 0's session: fresh ones */
	unmask_request(&ks);
	assert_int_equal(send_step(1, "unmask", &ks, &reply), FEDC_ERR_INVAL); /* before any share */
	fedc_buf_reset(&ks);
	/* no shares yet: masking waits and gives up */
	in = update_fd(2, values);
	assert_int_equal(secagg_client__mask(fx.client[2], fx.train[2], in, 10, 0, NULL, &out), FEDC_ERR_TIMEOUT);
	/* abort: the node's part is over, a waiting mask ends at once */
	assert_int_equal(send_step(2, "abort", NULL, &reply), FEDC_OK);
	assert_int_equal(secagg_client__mask(fx.client[2], fx.train[2], in, 10, 60000, NULL, &out), FEDC_ERR_INVAL);
	close(in);
	/* another request id of the same job: the waiting session ends */
	{
		struct fedc_msg *again = train_for(0, 2);

		secagg_client__preempt(fx.client[0], again);
		keyset_for(0, false, &ks);
		assert_int_equal(send_step(0, "keyset", &ks, &reply), FEDC_ERR_INVAL);
		fedc_msg_free(again);
	}
	fedc_buf_free(&ks);
	fedc_buf_free(&empty);
	end_all();
}

static void test_unmask_requests_that_would_reveal(void **state)
{
	struct fedc_secagg_share want[N];
	struct fedc_buf req = FEDC_BUF_INIT(FEDC_MAX_SECAGG_DATA);
	struct fedc_msg *reply = NULL;

	(void)state;
	begin_all(2);
	exchange_shares();
	memset(want, 0, sizeof(want));
	/* this node's own mask key */
	snprintf(want[0].node_id, sizeof(want[0].node_id), "%s", ids[0]);
	want[0].kind = FEDC_SECAGG_KIND_S;
	assert_int_equal(fedc_secagg_put_shares(&req, want, 1, false), FEDC_OK);
	assert_int_equal(send_step(0, "unmask", &req, &reply), FEDC_ERR_MALFORMED);
	/* both shares of one node: it is named twice */
	fedc_buf_reset(&req);
	snprintf(want[0].node_id, sizeof(want[0].node_id), "%s", ids[1]);
	want[0].kind = FEDC_SECAGG_KIND_B;
	want[1] = want[0];
	want[1].kind = FEDC_SECAGG_KIND_S;
	assert_int_equal(fedc_secagg_put_shares(&req, want, 2, false), FEDC_OK);
	assert_int_equal(send_step(0, "unmask", &req, &reply), FEDC_ERR_MALFORMED);
	/* one survivor (t = 2): its sum would be one node's update */
	fedc_buf_reset(&req);
	snprintf(want[0].node_id, sizeof(want[0].node_id), "%s", ids[0]);
	want[0].kind = FEDC_SECAGG_KIND_B;
	snprintf(want[1].node_id, sizeof(want[1].node_id), "%s", ids[1]);
	want[1].kind = FEDC_SECAGG_KIND_S;
	snprintf(want[2].node_id, sizeof(want[2].node_id), "%s", ids[2]);
	want[2].kind = FEDC_SECAGG_KIND_S;
	assert_int_equal(fedc_secagg_put_shares(&req, want, 3, false), FEDC_OK);
	assert_int_equal(send_step(0, "unmask", &req, &reply), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "fewer than the threshold"));
	assert_null(reply);
	fedc_buf_free(&req);
	end_all();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_gives_the_weighted_sum),
		cmocka_unit_test(test_substituted_key_refused),
		cmocka_unit_test(test_threshold_must_be_a_majority),
		cmocka_unit_test(test_steps_out_of_order_refused),
		cmocka_unit_test(test_unmask_requests_that_would_reveal),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
