/* Unit tests of the message schema and its codec (common/src/message.c).
 *
 * - round trips of every command with every field it may carry;
 * - one named negative test per bad-payload case of `bad_cases` (each also
 *   kept as a file under tests/fixtures/messages/<name>.bin);
 * - every file of tests/fixtures/messages/ fed to the decoder: it must be
 *   refused. FEDC_REGENERATE_FIXTURES=1 rewrites the files from `bad_cases`;
 * - brute force over a valid train message: every truncation, single-byte
 *   mutations and random damage must never crash (run it under ASan) and
 *   whatever decodes must encode again. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>

#include "fedc/message.h"

#define FIXTURES FEDC_FIXTURES_DIR "/messages"

static const char REQ_ID[] = "0f8fad5b-d9cb-469f-a165-70867728950e";
static const char JOB_ID[] = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
static const char DIGEST[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
static const char DIGEST2[] = "5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9";

/* ---- building valid messages (written independently of the schema table) ---- */

static bool from_node(enum fedc_cmd c)
{
	switch (c) {
	case FEDC_CMD_PONG: case FEDC_CMD_SEARCH_REPLY: case FEDC_CMD_LIST_REPLY:
	case FEDC_CMD_APPROVAL_REPLY: case FEDC_CMD_PLAN_STATUS_REPLY: case FEDC_CMD_TRAIN_REPLY:
	case FEDC_CMD_SCALAR: case FEDC_CMD_ERROR: case FEDC_CMD_STATUS: case FEDC_CMD_SECAGG_REPLY:
	case FEDC_CMD_ANALYTICS_REPLY:
		return true;
	default:
		return false;
	}
}

#define SETS(m, field, member, value)                                   \
	do {                                                            \
		snprintf((m)->member, sizeof((m)->member), "%s", value); \
		fedc_msg_set(m, field);                                 \
	} while (0)

static void fill_dataset(struct fedc_msg_dataset *d, int i, uint32_t n_tags)
{
	snprintf(d->dataset_id, sizeof(d->dataset_id), "ds-%d", i);
	snprintf(d->name, sizeof(d->name), "Dataset number %d", i);
	snprintf(d->type, sizeof(d->type), "%s", i % 2 ? "idx" : "csv");
	d->n_tags = n_tags;
	for (uint32_t t = 0; t < n_tags; t++)
		snprintf(d->tags[t], sizeof(d->tags[t]), "tag%u", (unsigned)t);
	d->n_samples = 1000u + (uint64_t)i;
	d->n_features = 784;
	d->n_classes = 10;
	if (i % 2) /* the optional shape: some entries say it, others not */
		snprintf(d->shape, sizeof(d->shape), "28x28");
}

static void fill_datasets(struct fedc_msg *m, uint32_t n)
{
	assert_int_equal(fedc_msg_datasets_alloc(m, n), FEDC_OK);
	for (uint32_t i = 0; i < n; i++)
		fill_dataset(&m->datasets[i], (int)i, i % 3);
	fedc_msg_set(m, FEDC_F_DATASETS);
}

static void fill_train(struct fedc_msg *m)
{
	SETS(m, FEDC_F_JOB_ID, job_id, JOB_ID);
	m->round = 3;
	fedc_msg_set(m, FEDC_F_ROUND);
	SETS(m, FEDC_F_DATASET_ID, dataset_id, "fashion-mnist");
	SETS(m, FEDC_F_PLAN_DIGEST, plan_digest, DIGEST);
	SETS(m, FEDC_F_PARAMS_DIGEST, params_digest, DIGEST2);
	assert_int_equal(fedc_msg_kv_add(m->model_args, &m->n_model_args, FEDC_MAX_ARGS, "hidden", 128), FEDC_OK);
	assert_int_equal(fedc_msg_kv_add(m->model_args, &m->n_model_args, FEDC_MAX_ARGS, "dropout", 0.25), FEDC_OK);
	fedc_msg_set(m, FEDC_F_MODEL_ARGS);
	m->lr = 0.05;
	m->epochs = 2;
	m->num_updates = 0;
	m->batch_size = 64;
	m->seed = UINT64_MAX - 7;
	m->test_ratio = 0.2;
	m->fedprox_mu = 0.01;
	m->evaluate_only = false;
	SETS(m, FEDC_F_OPTIMIZER, optimizer, "sgd");
	for (enum fedc_field f = FEDC_F_LR; f <= FEDC_F_FEDPROX_MU; f++)
		fedc_msg_set(m, f);
	fedc_msg_set(m, FEDC_F_EVALUATE_ONLY);
	m->secagg = true;
	m->secagg_scale_bits = 24;
	m->secagg_value_max = 64;
	m->secagg_weight_max = 1u << 20;
	m->secagg_threshold = 3;
	m->secagg_neighbours = 0;
	m->secagg_ring_bits = 32;
	m->dp_clip = 1.5;
	m->dp_noise = 1.1;
	m->dp_delta = 1e-5;
	m->dp_parties = 4;
	for (enum fedc_field f = FEDC_F_SECAGG; f <= FEDC_F_DP_PARTIES; f++)
		fedc_msg_set(m, f);
}

static void fill_secagg(struct fedc_msg *m)
{
	static const uint8_t data[] = { 0x01, 0x00, 0xff, 0x7f };

	SETS(m, FEDC_F_JOB_ID, job_id, JOB_ID);
	m->round = 3;
	fedc_msg_set(m, FEDC_F_ROUND);
	SETS(m, FEDC_F_SECAGG_STEP, secagg_step, m->command == FEDC_CMD_SECAGG ? "keyset" : "keys");
	assert_int_equal(fedc_msg_set_secagg_data(m, data, sizeof(data)), FEDC_OK);
}

static void fill_train_reply(struct fedc_msg *m)
{
	SETS(m, FEDC_F_JOB_ID, job_id, JOB_ID);
	m->round = 3;
	fedc_msg_set(m, FEDC_F_ROUND);
	SETS(m, FEDC_F_DATASET_ID, dataset_id, "fashion-mnist");
	SETS(m, FEDC_F_PARAMS_DIGEST, params_digest, DIGEST2);
	m->n_samples = 48000;
	m->n_test = 12000;
	fedc_msg_set(m, FEDC_F_N_SAMPLES);
	fedc_msg_set(m, FEDC_F_N_TEST);
	assert_int_equal(fedc_msg_kv_add(m->metrics, &m->n_metrics, FEDC_MAX_METRICS, "loss", 0.31), FEDC_OK);
	assert_int_equal(fedc_msg_kv_add(m->metrics, &m->n_metrics, FEDC_MAX_METRICS, "accuracy", 0.89), FEDC_OK);
	assert_int_equal(fedc_msg_kv_add(m->global_metrics, &m->n_global_metrics, FEDC_MAX_METRICS, "loss", 0.7),
			 FEDC_OK);
	fedc_msg_set(m, FEDC_F_METRICS);
	fedc_msg_set(m, FEDC_F_GLOBAL_METRICS);
	m->download_s = 0.125;
	m->train_s = 12.5;
	m->upload_s = 0.0625;
	fedc_msg_set(m, FEDC_F_DOWNLOAD_S);
	fedc_msg_set(m, FEDC_F_TRAIN_S);
	fedc_msg_set(m, FEDC_F_UPLOAD_S);
}

/* What a node advertises (fedc/caps.h): optional in status and the dataset replies. */
static void fill_capabilities(struct fedc_msg *m)
{
	assert_int_equal(fedc_msg_kv_add(m->capabilities, &m->n_capabilities, FEDC_MAX_CAPS, "abi", 3), FEDC_OK);
	assert_int_equal(fedc_msg_kv_add(m->capabilities, &m->n_capabilities, FEDC_MAX_CAPS, "cores", 8), FEDC_OK);
	assert_int_equal(fedc_msg_kv_add(m->capabilities, &m->n_capabilities, FEDC_MAX_CAPS, "min_noise_multiplier", 0.5),
			 FEDC_OK);
	fedc_msg_set(m, FEDC_F_CAPABILITIES);
	m->n_dataset_kinds = 2;
	snprintf(m->dataset_kinds[0], sizeof(m->dataset_kinds[0]), "csv");
	snprintf(m->dataset_kinds[1], sizeof(m->dataset_kinds[1]), "images");
	fedc_msg_set(m, FEDC_F_DATASET_KINDS);
	SETS(m, FEDC_F_SDK_VERSION, sdk_version, "0.1.0");
}

static void fill_command_fields(struct fedc_msg *m)
{
	switch (m->command) {
	case FEDC_CMD_SEARCH:
		m->n_tags = 2;
		snprintf(m->tags[0], sizeof(m->tags[0]), "fashion");
		snprintf(m->tags[1], sizeof(m->tags[1]), "images");
		fedc_msg_set(m, FEDC_F_TAGS);
		break;
	case FEDC_CMD_SEARCH_REPLY:
	case FEDC_CMD_LIST_REPLY:
		fill_datasets(m, 3);
		fill_capabilities(m);
		break;
	case FEDC_CMD_APPROVAL:
		SETS(m, FEDC_F_PLAN_NAME, plan_name, "mlp-784-128-10");
		SETS(m, FEDC_F_DESCRIPTION, description, "An MLP.\nTwo layers, ReLU.");
		/* fall through */
	case FEDC_CMD_PLAN_STATUS:
		SETS(m, FEDC_F_PLAN_DIGEST, plan_digest, DIGEST);
		break;
	case FEDC_CMD_APPROVAL_REPLY:
	case FEDC_CMD_PLAN_STATUS_REPLY:
		SETS(m, FEDC_F_PLAN_DIGEST, plan_digest, DIGEST);
		SETS(m, FEDC_F_PLAN_STATUS, plan_status, "pending");
		break;
	case FEDC_CMD_TRAIN:
		fill_train(m);
		break;
	case FEDC_CMD_TRAIN_REPLY:
		fill_train_reply(m);
		break;
	case FEDC_CMD_SCALAR:
		SETS(m, FEDC_F_JOB_ID, job_id, JOB_ID);
		SETS(m, FEDC_F_NAME, name, "loss");
		m->round = 1;
		m->value = -0.5;
		m->iteration = 1234;
		m->epoch = 2;
		fedc_msg_set(m, FEDC_F_ROUND);
		fedc_msg_set(m, FEDC_F_VALUE);
		fedc_msg_set(m, FEDC_F_ITERATION);
		fedc_msg_set(m, FEDC_F_EPOCH);
		break;
	case FEDC_CMD_ERROR:
		SETS(m, FEDC_F_ERROR_CODE, error_code, "plan-not-approved");
		SETS(m, FEDC_F_MESSAGE, message, "training plan is not approved on node-a");
		SETS(m, FEDC_F_JOB_ID, job_id, JOB_ID);
		m->round = 7;
		fedc_msg_set(m, FEDC_F_ROUND);
		break;
	case FEDC_CMD_STATUS:
		SETS(m, FEDC_F_STATE, state, "online");
		fill_capabilities(m);
		break;
	case FEDC_CMD_SECAGG:
	case FEDC_CMD_SECAGG_REPLY:
		fill_secagg(m);
		break;
	case FEDC_CMD_ANALYTICS:
		m->n_tags = 1;
		snprintf(m->tags[0], sizeof(m->tags[0]), "breast-cancer");
		fedc_msg_set(m, FEDC_F_TAGS);
		SETS(m, FEDC_F_ANALYTICS_QUERY, analytics_query, "columns=c0,c3\nfilter=c1 > 15\ngroup_by=label\n");
		break;
	case FEDC_CMD_ANALYTICS_REPLY:
		SETS(m, FEDC_F_DATASET_ID, dataset_id, "a1b2c3d4-0000-4000-8000-000000000001");
		assert_int_equal(fedc_msg_set_analytics_result(m, "fedc-analytics\t1\n", 17), FEDC_OK);
		break;
	default:
		break;
	}
}

/* A message of `cmd` with every field it may carry, optional ones included. */
static struct fedc_msg *full_msg(enum fedc_cmd cmd)
{
	struct fedc_msg *m = fedc_msg_new(cmd);

	assert_non_null(m);
	memcpy(m->request_id, REQ_ID, sizeof(REQ_ID));
	if (cmd != FEDC_CMD_STATUS)
		SETS(m, FEDC_F_RESEARCHER_ID, researcher_id, "researcher-1");
	if (from_node(cmd))
		SETS(m, FEDC_F_NODE_ID, node_id, "node-a");
	fill_command_fields(m);
	return m;
}

static size_t encode_full(enum fedc_cmd cmd, char **out)
{
	struct fedc_msg *m = full_msg(cmd);
	void *buf = NULL;
	size_t len = 0;

	assert_int_equal(fedc_msg_encode(m, &buf, &len), FEDC_OK);
	fedc_msg_free(m);
	*out = buf;
	return len;
}

/* Equal messages: the same bytes (decode zeroes the struct and pads strings
 * with NULs) apart from where the datasets live, and the same datasets. */
static void assert_msg_equal(const struct fedc_msg *a, const struct fedc_msg *b)
{
	struct fedc_msg *x = malloc(sizeof(*x)), *y = malloc(sizeof(*y));

	assert_non_null(x);
	assert_non_null(y);
	memcpy(x, a, sizeof(*x));
	memcpy(y, b, sizeof(*y));
	assert_int_equal(a->n_datasets, b->n_datasets);
	if (a->n_datasets)
		assert_memory_equal(a->datasets, b->datasets, a->n_datasets * sizeof(*a->datasets));
	x->datasets = y->datasets = NULL;
	assert_int_equal(a->secagg_data_len, b->secagg_data_len);
	if (a->secagg_data_len)
		assert_memory_equal(a->secagg_data, b->secagg_data, a->secagg_data_len);
	x->secagg_data = y->secagg_data = NULL;
	assert_int_equal(a->analytics_result_len, b->analytics_result_len);
	if (a->analytics_result_len)
		assert_memory_equal(a->analytics_result, b->analytics_result, a->analytics_result_len);
	x->analytics_result = y->analytics_result = NULL;
	assert_memory_equal(x, y, sizeof(*x));
	free(x);
	free(y);
}

static struct fedc_msg *decode_new(const void *buf, size_t len, enum fedc_err *rc)
{
	struct fedc_msg *m = malloc(sizeof(*m)); /* not zeroed: decode must not need it */

	assert_non_null(m);
	*rc = fedc_msg_decode(buf, len, m);
	return m;
}

/* ---- building bad payloads ---- */

/* Appends raw bytes behind a packer's back (the packer writes to `sb`). */
static void put_raw(msgpack_sbuffer *sb, const char *raw, size_t len)
{
	assert_int_equal(msgpack_sbuffer_write(sb, raw, len), 0);
}

/* The full message of `cmd` re-packed with `key` replaced by the value that
 * `raw` or `value` writes (appended if absent), or removed if neither is set;
 * `extra` raw key+value bytes become one more entry. */
static size_t repack_msg(const struct fedc_msg *base, const char *key, const char *raw, size_t rawlen,
			 void (*value)(msgpack_packer *), const char *extra, size_t extra_len, char **out)
{
	void *enc;
	size_t enc_len, off = 0;
	msgpack_zone zone;
	msgpack_object obj;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	bool replace = raw || value, found = false;
	uint32_t n;

	assert_int_equal(fedc_msg_encode(base, &enc, &enc_len), FEDC_OK);
	msgpack_zone_init(&zone, 2048);
	assert_int_equal(msgpack_unpack(enc, enc_len, &off, &zone, &obj), MSGPACK_UNPACK_SUCCESS);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	n = obj.via.map.size + (extra ? 1 : 0);
	for (uint32_t i = 0; key && i < obj.via.map.size; i++) {
		const msgpack_object_str *k = &obj.via.map.ptr[i].key.via.str;

		found |= k->size == strlen(key) && memcmp(k->ptr, key, k->size) == 0;
	}
	n += key && !found && replace ? 1 : 0;
	n -= key && found && !replace ? 1 : 0;
	msgpack_pack_map(&pk, n);
	for (uint32_t i = 0; i < obj.via.map.size; i++) {
		const msgpack_object_kv *e = &obj.via.map.ptr[i];
		bool match = key && e->key.via.str.size == strlen(key) &&
			     memcmp(e->key.via.str.ptr, key, e->key.via.str.size) == 0;

		if (match && !replace)
			continue;
		msgpack_pack_object(&pk, e->key);
		if (!match)
			msgpack_pack_object(&pk, e->val);
		else if (raw)
			put_raw(&sb, raw, rawlen);
		else
			value(&pk);
	}
	if (key && !found && replace) {
		msgpack_pack_str(&pk, strlen(key));
		msgpack_pack_str_body(&pk, key, strlen(key));
		if (raw)
			put_raw(&sb, raw, rawlen);
		else
			value(&pk);
	}
	if (extra)
		put_raw(&sb, extra, extra_len);
	msgpack_zone_destroy(&zone);
	free(enc);
	*out = sb.data;
	return sb.size;
}

static size_t repack(enum fedc_cmd cmd, const char *key, const char *raw, size_t rawlen,
		     void (*value)(msgpack_packer *), const char *extra, size_t extra_len, char **out)
{
	struct fedc_msg *m = full_msg(cmd);
	size_t len = repack_msg(m, key, raw, rawlen, value, extra, extra_len, out);

	fedc_msg_free(m);
	return len;
}

struct bad_case;
typedef size_t (*build_fn)(const struct bad_case *c, char **out);

struct bad_case {
	const char *name;       /* test name and fixture file name */
	build_fn build;
	enum fedc_cmd cmd;      /* the valid message it starts from */
	const char *key;        /* field to replace, add or remove */
	const char *raw;        /* raw msgpack bytes (value, entry, or whole payload) */
	size_t rawlen;
	void (*value)(msgpack_packer *pk);
	enum fedc_err expect;
	const char *detail;     /* must appear in fedc_last_error() */
	bool no_fixture;        /* too large to keep as a file */
};

static size_t build_field(const struct bad_case *c, char **out)
{
	return repack(c->cmd, c->key, c->raw, c->rawlen, c->value, NULL, 0, out);
}

static size_t build_extra(const struct bad_case *c, char **out)
{
	return repack(c->cmd, NULL, NULL, 0, NULL, c->raw, c->rawlen, out);
}

static size_t build_raw(const struct bad_case *c, char **out)
{
	*out = malloc(c->rawlen + 1);
	assert_non_null(*out);
	memcpy(*out, c->raw, c->rawlen);
	return c->rawlen;
}

static size_t build_trailing(const struct bad_case *c, char **out)
{
	char *enc;
	size_t len = encode_full(c->cmd, &enc);

	*out = realloc(enc, len + c->rawlen);
	assert_non_null(*out);
	memcpy(*out + len, c->raw, c->rawlen);
	return len + c->rawlen;
}

static size_t build_truncated(const struct bad_case *c, char **out)
{
	return encode_full(c->cmd, out) / 2;
}

static size_t build_random(const struct bad_case *c, char **out)
{
	uint32_t x = 0x2545f491u;
	size_t len = 200;

	*out = malloc(len);
	assert_non_null(*out);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		(*out)[i] = (char)(x >> 24);
	}
	return len;
}

static size_t build_deep(const struct bad_case *c, char **out)
{
	size_t depth = 1000;

	*out = malloc(depth + 1);
	assert_non_null(*out);
	memset(*out, 0x91, depth); /* [[[[ ... 1 ]]]] */
	(*out)[depth] = 0x01;
	return depth + 1;
}

static size_t build_oversize(const struct bad_case *c, char **out)
{
	size_t len = FEDC_MAX_MESSAGE_BYTES + 1;

	*out = calloc(1, len);
	assert_non_null(*out);
	(*out)[0] = (char)0xc6; /* bin32 holding the rest: valid msgpack, too big */
	(*out)[1] = 0;
	(*out)[2] = 0;
	(*out)[3] = (char)((len - 5) >> 8);
	(*out)[4] = (char)((len - 5) & 0xff);
	return len;
}

/* Train with epochs and num_updates both 0 and no evaluate_only. */
static size_t build_no_work(const struct bad_case *c, char **out)
{
	struct fedc_msg *m = full_msg(FEDC_CMD_TRAIN);
	size_t len;

	fedc_msg_unset(m, FEDC_F_EVALUATE_ONLY);
	len = repack_msg(m, "epochs", "\x00", 1, NULL, NULL, 0, out);
	fedc_msg_free(m);
	return len;
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

static void pack_repeat(msgpack_packer *pk, char ch, size_t n)
{
	char buf[2048];

	assert_true(n <= sizeof(buf));
	memset(buf, ch, n);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, buf, n);
}

static void v_long_id(msgpack_packer *pk) { pack_repeat(pk, 'a', FEDC_MAX_ID_LEN + 1); }
static void v_long_text(msgpack_packer *pk) { pack_repeat(pk, 'x', FEDC_MAX_TEXT_LEN + 1); }
static void v_bad_uuid(msgpack_packer *pk) { pack_cstr(pk, "0f8fad5b-d9cb-469f-a165-70867728950g"); }
static void v_short_digest(msgpack_packer *pk) { pack_repeat(pk, 'a', 63); }
static void v_upper_digest(msgpack_packer *pk) { pack_repeat(pk, 'A', 64); }
static void v_sha512_params(msgpack_packer *pk) { pack_repeat(pk, 'a', 128); }

static void v_too_many_tags(msgpack_packer *pk)
{
	msgpack_pack_array(pk, FEDC_MAX_TAGS + 1);
	for (int i = 0; i <= FEDC_MAX_TAGS; i++)
		pack_cstr(pk, "t");
}

static void v_long_tag(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 1);
	pack_repeat(pk, 't', FEDC_MAX_TAG_LEN + 1);
}

/* The 7 required keys of a dataset entry, after a map header of the caller's. */
static void pack_dataset_map_body(msgpack_packer *pk)
{
	const char *keys[] = { "dataset_id", "name", "type", "tags", "n_samples", "n_features", "n_classes" };

	for (int i = 0; i < 7; i++) {
		pack_cstr(pk, keys[i]);
		if (i < 3)
			pack_cstr(pk, i == 2 ? "csv" : "x");
		else if (i == 3)
			msgpack_pack_array(pk, 0);
		else
			msgpack_pack_uint64(pk, 5);
	}
}

static void pack_dataset_map(msgpack_packer *pk, const char *skip, const char *extra_key)
{
	const char *keys[] = { "dataset_id", "name", "type", "tags", "n_samples", "n_features", "n_classes" };
	uint32_t n = 7u - (skip ? 1u : 0u) + (extra_key ? 1u : 0u);

	msgpack_pack_map(pk, n);
	for (int i = 0; i < 7; i++) {
		if (skip && strcmp(skip, keys[i]) == 0)
			continue;
		pack_cstr(pk, keys[i]);
		if (i < 3)
			pack_cstr(pk, i == 2 ? "csv" : "x");
		else if (i == 3)
			msgpack_pack_array(pk, 0);
		else
			msgpack_pack_uint64(pk, 5);
	}
	if (extra_key) {
		pack_cstr(pk, extra_key);
		msgpack_pack_uint64(pk, 1);
	}
}

static void v_too_many_datasets(msgpack_packer *pk)
{
	msgpack_pack_array(pk, FEDC_MAX_DATASETS + 1);
	for (int i = 0; i <= FEDC_MAX_DATASETS; i++)
		pack_dataset_map(pk, NULL, NULL);
}

static void v_dataset_missing_field(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 1);
	pack_dataset_map(pk, "n_classes", NULL);
}

static void v_dataset_unknown_field(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 1);
	pack_dataset_map(pk, "n_classes", "owner"); /* 7 entries, one unknown */
}

static void v_dataset_bad_shape(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 8);
	pack_dataset_map_body(pk);
	pack_cstr(pk, "shape");
	pack_cstr(pk, "28X28!");
}

static void v_dataset_not_map(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 1);
	pack_cstr(pk, "ds-1");
}

static void v_too_many_capabilities(msgpack_packer *pk)
{
	char name[16];

	msgpack_pack_map(pk, FEDC_MAX_CAPS + 1);
	for (int i = 0; i <= FEDC_MAX_CAPS; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		pack_cstr(pk, name);
		msgpack_pack_double(pk, i);
	}
}

static void v_too_many_args(msgpack_packer *pk)
{
	char name[16];

	msgpack_pack_map(pk, FEDC_MAX_ARGS + 1);
	for (int i = 0; i <= FEDC_MAX_ARGS; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		pack_cstr(pk, name);
		msgpack_pack_double(pk, i);
	}
}

#define RAW(s) .raw = s, .rawlen = sizeof(s) - 1
#define FIELD(n, c, k, ...) { .name = n, .build = build_field, .cmd = c, .key = k, __VA_ARGS__ }
#define MAL .expect = FEDC_ERR_MALFORMED

/* Not const: cmocka hands each case to its test as a void * (initial_state). */
/* A bin one byte over the inline parameter cap. */
static void pack_params_over_cap(msgpack_packer *pk)
{
	size_t n = FEDC_MAX_INLINE_PARAMS + 1;
	char *zeros = calloc(1, n);

	assert_non_null(zeros);
	msgpack_pack_bin(pk, n);
	msgpack_pack_bin_body(pk, zeros, n);
	free(zeros);
}

static void pack_inline_max_over_cap(msgpack_packer *pk)
{
	msgpack_pack_uint64(pk, FEDC_MAX_INLINE_PARAMS + 1ull);
}

/* A train-reply carrying its update inline but no digest to check it by. */
static size_t build_params_without_digest(const struct bad_case *c, char **out)
{
	return repack(FEDC_CMD_TRAIN_REPLY, "params_digest", NULL, 0, NULL, c->raw, c->rawlen, out);
}

static struct bad_case bad_cases[] = {
	/* not a message at all */
	{ "test_decode_empty_payload", build_raw, RAW(""), MAL, .detail = "empty" },
	{ "test_decode_not_msgpack", build_raw, RAW("\xc1\xc1\xc1\xc1"), MAL, .detail = "not msgpack" },
	{ "test_decode_random_bytes", build_random, MAL },
	{ "test_decode_truncated_payload", build_truncated, FEDC_CMD_TRAIN, MAL, .detail = "truncated" },
	{ "test_decode_truncated_map_header", build_raw, RAW("\xde\x00"), MAL, .detail = "truncated" },
	{ "test_decode_not_a_map_array", build_raw, RAW("\x93\x01\x02\x03"), MAL, .detail = "array, expected a map" },
	{ "test_decode_not_a_map_string", build_raw, RAW("\xa4ping"), MAL, .detail = "string, expected a map" },
	{ "test_decode_not_a_map_nil", build_raw, RAW("\xc0"), MAL, .detail = "nil, expected a map" },
	{ "test_decode_trailing_bytes", build_trailing, FEDC_CMD_PING, RAW("\xc0"), MAL, .detail = "trailing" },
	{ "test_decode_two_messages", build_trailing, FEDC_CMD_PING, RAW("\x80"), MAL, .detail = "trailing" },
	{ "test_decode_deeply_nested_arrays", build_deep, MAL, .detail = "nesting deeper" },
	{ "test_decode_huge_array_header", build_raw, RAW("\xdd\xff\xff\xff\xff\x01\x02"), MAL,
	  .detail = "declares 4294967295 objects" },
	{ "test_decode_huge_map_header", build_raw, RAW("\xdf\x7f\xff\xff\xff\xa1\x61"), MAL, .detail = "truncated" },
	{ "test_decode_huge_str_length", build_raw, RAW("\x81\xdb\xff\xff\xff\xf0\x61\x62"), MAL,
	  .detail = "declares 4294967280 bytes" },
	{ "test_decode_huge_bin_length", build_raw, RAW("\xc6\x7f\xff\xff\xff\x00"), MAL, .detail = "truncated" },
	{ "test_decode_map_shorter_than_declared", build_raw, RAW("\x83\xa7\x63ommand\xa4ping"), MAL,
	  .detail = "truncated" },
	{ "test_decode_empty_map", build_raw, RAW("\x80"), MAL, .detail = "\"command\": missing" },
	{ "test_decode_oversize_payload", build_oversize, .expect = FEDC_ERR_TOO_BIG, .detail = "limit",
	  .no_fixture = true },
	/* parameters inline */
	FIELD("test_decode_params_over_cap", FEDC_CMD_TRAIN, "params", .value = pack_params_over_cap, MAL,
	      .detail = "\"params\"", .no_fixture = true),
	FIELD("test_decode_params_not_bin", FEDC_CMD_TRAIN, "params", RAW("\xa3" "abc"), MAL, .detail = "\"params\""),
	FIELD("test_decode_inline_params_max_over_cap", FEDC_CMD_TRAIN, "inline_params_max",
	      .value = pack_inline_max_over_cap, MAL, .detail = "\"inline_params_max\""),
	FIELD("test_decode_inline_params_max_in_reply", FEDC_CMD_TRAIN_REPLY, "inline_params_max", RAW("\x01"), MAL,
	      .detail = "not allowed"),
	{ "test_decode_params_without_digest", build_params_without_digest, FEDC_CMD_TRAIN_REPLY,
	  RAW("\xa6params\xc4\x02\x01\x02"), MAL, .detail = "only with params_digest" },
	/* map structure */
	{ "test_decode_non_string_key", build_extra, FEDC_CMD_PING, RAW("\x01\x01"), MAL, .detail = "not a string" },
	{ "test_decode_duplicate_key", build_extra, FEDC_CMD_TRAIN, RAW("\xa5round\x01"), MAL,
	  .detail = "\"round\": duplicate" },
	{ "test_decode_duplicate_command", build_extra, FEDC_CMD_PING, RAW("\xa7\x63ommand\xa4ping"), MAL,
	  .detail = "\"command\": duplicate" },
	{ "test_decode_unknown_field", build_extra, FEDC_CMD_PING, RAW("\xa3\x66oo\x01"), MAL,
	  .detail = "\"foo\": unknown field" },
	{ "test_decode_field_not_allowed_for_command", build_extra, FEDC_CMD_PING,
	  RAW("\xa2lr\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a"), MAL, .detail = "\"lr\": not allowed in \"ping\"" },
	{ "test_decode_node_id_in_request", build_extra, FEDC_CMD_SEARCH, RAW("\xa7node_id\xa1n"), MAL,
	  .detail = "\"node_id\": not allowed in \"search\"" },
	/* command */
	FIELD("test_decode_missing_command", FEDC_CMD_PING, "command", MAL, .detail = "\"command\": missing"),
	FIELD("test_decode_unknown_command", FEDC_CMD_PING, "command", RAW("\xa4jump"), MAL,
	      .detail = "unknown command \"jump\""),
	FIELD("test_decode_command_prefix", FEDC_CMD_PING, "command", RAW("\xa5pingx"), MAL,
	      .detail = "unknown command"),
	FIELD("test_decode_command_not_string", FEDC_CMD_PING, "command", RAW("\x01"), MAL,
	      .detail = "\"command\": expected string, got unsigned integer"),
	/* common fields */
	FIELD("test_decode_wrong_protocol_version", FEDC_CMD_PING, "protocol_version", RAW("\x02"), MAL,
	      .detail = "\"protocol_version\": must be 1, got 2"),
	FIELD("test_decode_missing_protocol_version", FEDC_CMD_PING, "protocol_version", MAL,
	      .detail = "\"protocol_version\": missing"),
	FIELD("test_decode_missing_request_id", FEDC_CMD_LIST, "request_id", MAL, .detail = "\"request_id\": missing"),
	FIELD("test_decode_bad_uuid", FEDC_CMD_PING, "request_id", .value = v_bad_uuid, MAL,
	      .detail = "\"request_id\": not a UUID"),
	FIELD("test_decode_missing_researcher_id", FEDC_CMD_TRAIN, "researcher_id", MAL,
	      .detail = "\"researcher_id\": missing"),
	FIELD("test_decode_missing_node_id", FEDC_CMD_PONG, "node_id", MAL, .detail = "\"node_id\": missing"),
	FIELD("test_decode_oversized_string", FEDC_CMD_PING, "researcher_id", .value = v_long_id, MAL,
	      .detail = "\"researcher_id\": string of 65 bytes, at most 64"),
	FIELD("test_decode_oversized_text", FEDC_CMD_ERROR, "message", .value = v_long_text, MAL,
	      .detail = "\"message\": string of 1025 bytes"),
	FIELD("test_decode_empty_id", FEDC_CMD_PONG, "node_id", RAW("\xa0"), MAL, .detail = "\"node_id\": not an id"),
	FIELD("test_decode_id_with_topic_wildcard", FEDC_CMD_PING, "researcher_id", RAW("\xa3r/#"), MAL,
	      .detail = "\"researcher_id\": not an id"),
	FIELD("test_decode_embedded_nul", FEDC_CMD_PONG, "node_id", RAW("\xa3n\x00x"), MAL,
	      .detail = "\"node_id\": string holds a NUL"),
	FIELD("test_decode_bin_for_string", FEDC_CMD_PONG, "node_id", RAW("\xc4\x01n"), MAL,
	      .detail = "\"node_id\": expected string, got binary"),
	FIELD("test_decode_map_for_string", FEDC_CMD_PONG, "node_id", RAW("\x80"), MAL,
	      .detail = "\"node_id\": expected string, got map"),
	/* numbers */
	FIELD("test_decode_string_for_uint", FEDC_CMD_TRAIN, "round", RAW("\xa5hello"), MAL,
	      .detail = "\"round\": expected unsigned integer, got string"),
	FIELD("test_decode_negative_for_uint", FEDC_CMD_TRAIN, "round", RAW("\xff"), MAL,
	      .detail = "\"round\": expected unsigned integer, got negative integer"),
	FIELD("test_decode_float_for_uint", FEDC_CMD_TRAIN, "epochs", RAW("\xcb\x3f\xf0\0\0\0\0\0\0"), MAL,
	      .detail = "\"epochs\": expected unsigned integer, got float64"),
	FIELD("test_decode_round_out_of_range", FEDC_CMD_TRAIN, "round", RAW("\xce\x00\x0f\x42\x41"), MAL,
	      .detail = "\"round\": 1000001 is outside"),
	FIELD("test_decode_batch_size_zero", FEDC_CMD_TRAIN, "batch_size", RAW("\x00"), MAL,
	      .detail = "\"batch_size\": 0 is outside 1.."),
	FIELD("test_decode_nan_double", FEDC_CMD_TRAIN, "lr", RAW("\xcb\x7f\xf8\0\0\0\0\0\0"), MAL,
	      .detail = "\"lr\": not a finite number"),
	FIELD("test_decode_nan_float32", FEDC_CMD_TRAIN, "fedprox_mu", RAW("\xca\x7f\xc0\x00\x00"), MAL,
	      .detail = "\"fedprox_mu\": not a finite number"),
	FIELD("test_decode_infinite_double", FEDC_CMD_TRAIN_REPLY, "train_s", RAW("\xcb\x7f\xf0\0\0\0\0\0\0"), MAL,
	      .detail = "\"train_s\": not a finite number"),
	FIELD("test_decode_negative_lr", FEDC_CMD_TRAIN, "lr", RAW("\xcb\xbf\xf0\0\0\0\0\0\0"), MAL,
	      .detail = "\"lr\": -1 is below 0"),
	FIELD("test_decode_test_ratio_one", FEDC_CMD_TRAIN, "test_ratio", RAW("\x01"), MAL,
	      .detail = "\"test_ratio\": 1 is not below 1"),
	FIELD("test_decode_string_for_double", FEDC_CMD_SCALAR, "value", RAW("\xa1x"), MAL,
	      .detail = "\"value\": expected number, got string"),
	FIELD("test_decode_int_for_bool", FEDC_CMD_TRAIN, "evaluate_only", RAW("\x01"), MAL,
	      .detail = "\"evaluate_only\": expected boolean"),
	FIELD("test_decode_ext_for_uint", FEDC_CMD_TRAIN, "round", RAW("\xd4\x01\x00"), MAL,
	      .detail = "\"round\": expected unsigned integer, got ext"),
	FIELD("test_decode_empty_ext", FEDC_CMD_TRAIN, "round", RAW("\xc7\x00\x05"), MAL, .detail = NULL),
	FIELD("test_decode_nested_value", FEDC_CMD_TRAIN, "round", RAW("\x91\x91\x91\x01"), MAL,
	      .detail = "\"round\": expected unsigned integer, got array"),
	FIELD("test_decode_epoch_over_32_bits", FEDC_CMD_SCALAR, "epoch", RAW("\xcf\0\0\0\x01\0\0\0\0"), MAL,
	      .detail = "\"epoch\": 4294967296 is outside"),
	{ "test_decode_train_without_epochs_or_updates", build_no_work, FEDC_CMD_TRAIN, MAL,
	  .detail = "epochs or num_updates must be > 0" },
	/* digests and enumerations */
	FIELD("test_decode_bad_digest_length", FEDC_CMD_TRAIN, "plan_digest", .value = v_short_digest, MAL,
	      .detail = "\"plan_digest\": not 64 or 128 lower-case hex digits"),
	FIELD("test_decode_bad_digest_upper_case", FEDC_CMD_APPROVAL, "plan_digest", .value = v_upper_digest, MAL,
	      .detail = "\"plan_digest\": not 64 or 128"),
	FIELD("test_decode_params_digest_not_sha256", FEDC_CMD_TRAIN, "params_digest", .value = v_sha512_params, MAL,
	      .detail = "\"params_digest\": not 64 lower-case hex digits"),
	FIELD("test_decode_bad_plan_status", FEDC_CMD_APPROVAL_REPLY, "plan_status", RAW("\xa5maybe"), MAL,
	      .detail = "\"plan_status\": not one of"),
	FIELD("test_decode_bad_state", FEDC_CMD_STATUS, "state", RAW("\xa4\x61way"), MAL,
	      .detail = "\"state\": not one of"),
	FIELD("test_decode_bad_optimizer_token", FEDC_CMD_TRAIN, "optimizer", RAW("\xa3SGD"), MAL,
	      .detail = "\"optimizer\": holds a character outside"),
	/* lists */
	FIELD("test_decode_missing_tags", FEDC_CMD_SEARCH, "tags", MAL, .detail = "\"tags\": missing"),
	FIELD("test_decode_empty_tags", FEDC_CMD_SEARCH, "tags", RAW("\x90"), MAL,
	      .detail = "\"tags\": 0 entries, expected 1..16"),
	FIELD("test_decode_too_many_tags", FEDC_CMD_SEARCH, "tags", .value = v_too_many_tags, MAL,
	      .detail = "\"tags\": 17 entries, at most 16"),
	FIELD("test_decode_oversized_tag", FEDC_CMD_SEARCH, "tags", .value = v_long_tag, MAL,
	      .detail = "\"tags[0]\": string of 65 bytes"),
	FIELD("test_decode_tags_not_array", FEDC_CMD_SEARCH, "tags", RAW("\xa3\x61\x62\x63"), MAL,
	      .detail = "\"tags\": expected array, got string"),
	FIELD("test_decode_tag_not_string", FEDC_CMD_SEARCH, "tags", RAW("\x92\xa1t\x05"), MAL,
	      .detail = "\"tags[1]\": expected string"),
	FIELD("test_decode_too_many_datasets", FEDC_CMD_LIST_REPLY, "datasets", .value = v_too_many_datasets, MAL,
	      .detail = "\"datasets\": 65 entries, at most 64"),
	FIELD("test_decode_huge_datasets_count", FEDC_CMD_LIST_REPLY, "datasets", RAW("\xdd\x00\x01\x00\x00\x80"),
	      MAL, .detail = "truncated"),
	FIELD("test_decode_dataset_missing_field", FEDC_CMD_SEARCH_REPLY, "datasets",
	      .value = v_dataset_missing_field, MAL, .detail = "\"datasets[0].n_classes\": missing"),
	FIELD("test_decode_dataset_unknown_field", FEDC_CMD_SEARCH_REPLY, "datasets",
	      .value = v_dataset_unknown_field, MAL, .detail = "\"datasets[0].owner\": unknown field"),
	FIELD("test_decode_dataset_bad_shape", FEDC_CMD_SEARCH_REPLY, "datasets", .value = v_dataset_bad_shape, MAL,
	      .detail = "\"datasets[0].shape\""),
	FIELD("test_decode_dataset_not_map", FEDC_CMD_SEARCH_REPLY, "datasets", .value = v_dataset_not_map, MAL,
	      .detail = "\"datasets[0]\": expected map, got string"),
	FIELD("test_decode_too_many_model_args", FEDC_CMD_TRAIN, "model_args", .value = v_too_many_args, MAL,
	      .detail = "\"model_args\": 33 entries, at most 32"),
	FIELD("test_decode_too_many_capabilities", FEDC_CMD_STATUS, "capabilities", .value = v_too_many_capabilities,
	      MAL, .detail = "\"capabilities\": 17 entries, at most 16"),
	FIELD("test_decode_capability_not_number", FEDC_CMD_LIST_REPLY, "capabilities", RAW("\x81\xa5\x63ores\xa1\x38"),
	      MAL, .detail = "\"capabilities.cores\": expected number, got string"),
	FIELD("test_decode_dataset_kind_not_token", FEDC_CMD_STATUS, "dataset_kinds", RAW("\x91\xa6Images"), MAL,
	      .detail = "\"dataset_kinds[0]\": holds a character outside"),
	FIELD("test_decode_capabilities_not_map", FEDC_CMD_SEARCH_REPLY, "capabilities", RAW("\x91\x01"), MAL,
	      .detail = "\"capabilities\": expected map, got array"),
	FIELD("test_decode_model_arg_not_number", FEDC_CMD_TRAIN, "model_args", RAW("\x81\xa6hidden\xa3\x31\x32\x38"),
	      MAL, .detail = "\"model_args.hidden\": expected number, got string"),
	FIELD("test_decode_model_arg_duplicate_name", FEDC_CMD_TRAIN, "model_args",
	      RAW("\x82\xa1h\x01\xa1h\x02"), MAL, .detail = "\"model_args.h\": duplicate name"),
	FIELD("test_decode_model_arg_key_not_string", FEDC_CMD_TRAIN, "model_args", RAW("\x81\x01\x01"), MAL,
	      .detail = "\"model_args[0]\": expected string, got unsigned integer"),
	FIELD("test_decode_metric_nan", FEDC_CMD_TRAIN_REPLY, "metrics", RAW("\x81\xa4loss\xca\x7f\xc0\x00\x00"), MAL,
	      .detail = "\"metrics.loss\": not a finite number"),
	FIELD("test_decode_missing_global_metrics", FEDC_CMD_TRAIN_REPLY, "global_metrics", MAL,
	      .detail = "\"global_metrics\": missing"),
};
#define N_BAD_CASES (sizeof(bad_cases) / sizeof(bad_cases[0]))

static void run_bad_case(void **state)
{
	const struct bad_case *c = *state;
	char *buf = NULL;
	size_t len = c->build(c, &buf);
	enum fedc_err rc;
	struct fedc_msg *m;

	m = decode_new(buf, len, &rc);
	if (rc != c->expect || (c->detail && !strstr(fedc_last_error(), c->detail)))
		print_error("%s: got %s \"%s\", expected %s with \"%s\"\n", c->name, fedc_strerror(rc),
			    fedc_last_error(), fedc_strerror(c->expect), c->detail ? c->detail : "");
	assert_int_equal(rc, c->expect);
	if (c->detail)
		assert_non_null(strstr(fedc_last_error(), c->detail));
	fedc_msg_free(m);
	free(buf);
}

/* ---- fixtures ---- */

static void write_fixture(const struct bad_case *c)
{
	char path[512], *buf = NULL;
	size_t len;
	FILE *f;

	if (c->no_fixture)
		return;
	len = c->build(c, &buf);
	snprintf(path, sizeof(path), "%s/%s.bin", FIXTURES, c->name + strlen("test_decode_"));
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(buf);
}

static size_t read_file(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	size_t cap = FEDC_MAX_MESSAGE_BYTES + 16, len;

	assert_non_null(f);
	*out = malloc(cap);
	assert_non_null(*out);
	len = fread(*out, 1, cap, f);
	fclose(f);
	return len;
}

/* Every file under tests/fixtures/messages/ must be refused; every case that
 * should have a file has one. */
static void test_decode_fixture_files(void **state)
{
	const char *regen = getenv("FEDC_REGENERATE_FIXTURES");
	char path[512], *buf;
	struct dirent *de;
	size_t n = 0, len;
	DIR *dir;

	if (regen && strcmp(regen, "1") == 0)
		for (size_t i = 0; i < N_BAD_CASES; i++)
			write_fixture(&bad_cases[i]);
	dir = opendir(FIXTURES);
	assert_non_null(dir);
	while ((de = readdir(dir))) {
		size_t nl = strlen(de->d_name);
		struct fedc_msg *m;
		enum fedc_err rc;

		if (nl < 5 || strcmp(de->d_name + nl - 4, ".bin") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", FIXTURES, de->d_name);
		len = read_file(path, &buf);
		m = decode_new(buf, len, &rc);
		if (rc != FEDC_ERR_MALFORMED && rc != FEDC_ERR_TOO_BIG)
			print_error("%s was accepted (%s)\n", path, fedc_strerror(rc));
		assert_true(rc == FEDC_ERR_MALFORMED || rc == FEDC_ERR_TOO_BIG);
		assert_true(fedc_last_error()[0] != '\0');
		fedc_msg_free(m);
		free(buf);
		n++;
	}
	closedir(dir);
	for (size_t i = 0; i < N_BAD_CASES; i++) {
		FILE *f;

		if (bad_cases[i].no_fixture)
			continue;
		snprintf(path, sizeof(path), "%s/%s.bin", FIXTURES, bad_cases[i].name + strlen("test_decode_"));
		f = fopen(path, "rb");
		if (!f)
			print_error("missing fixture %s: run with FEDC_REGENERATE_FIXTURES=1\n", path);
		assert_non_null(f);
		fclose(f);
	}
	assert_true(n >= 10);
}

/* ---- round trips and positive cases ---- */

/* The message is sized to its content: the datasets of a reply take the
 * room of those it holds, not of 64, and the present set has a bit for every
 * field (none shared, the last one included). */
static void test_message_sized_to_content(void **state)
{
	struct fedc_msg *m = full_msg(FEDC_CMD_LIST_REPLY), *d;
	void *buf = NULL;
	size_t len;
	enum fedc_err rc;

	/* was 96376 bytes, 84 KiB of them the 64 inline datasets; since then
	 * the capabilities (about 1.1 KiB), the analytics query (2 KiB), the
	 * inline parameters' pointer and the plan source's digest (20,504 bytes) */
	assert_true(sizeof(struct fedc_msg) < 21 * 1024);
	assert_true(FEDC_MSG_PRESENT_WORDS * 64 >= FEDC_F__COUNT);
	fill_datasets(m, 2);
	assert_int_equal(fedc_msg_encode(m, &buf, &len), FEDC_OK);
	d = decode_new(buf, len, &rc);
	assert_int_equal(rc, FEDC_OK);
	assert_int_equal(d->n_datasets, 2);
	assert_non_null(d->datasets);
	assert_true(malloc_usable_size(d->datasets) < 3 * sizeof(*d->datasets));
	assert_string_equal(d->datasets[1].dataset_id, m->datasets[1].dataset_id);
	assert_int_equal(fedc_msg_datasets_alloc(d, FEDC_MAX_DATASETS + 1), FEDC_ERR_TOO_BIG);
	assert_int_equal(d->n_datasets, 2); /* unchanged */
	fedc_msg_clear(d);
	assert_null(d->datasets);
	assert_false(fedc_msg_has(d, FEDC_F_DATASETS));
	for (int f = 0; f < FEDC_F__COUNT; f++) {
		fedc_msg_set(d, (enum fedc_field)f);
		for (int g = 0; g < FEDC_F__COUNT; g++)
			assert_int_equal(fedc_msg_has(d, (enum fedc_field)g), g <= f);
	}
	fedc_msg_unset(d, FEDC_F_STATE);
	assert_false(fedc_msg_has(d, FEDC_F_STATE));
	assert_true(fedc_msg_has(d, FEDC_F_MESSAGE));
	free(buf);
	fedc_msg_free(d);
	fedc_msg_free(m);
}

static void test_round_trip_every_command(void **state)
{
	for (int c = FEDC_CMD_NONE + 1; c < FEDC_CMD__COUNT; c++) {
		struct fedc_msg *m = full_msg((enum fedc_cmd)c), *d;
		void *buf = NULL, *buf2 = NULL;
		size_t len, len2;
		enum fedc_err rc;

		rc = fedc_msg_encode(m, &buf, &len);
		if (rc)
			print_error("%s: %s\n", fedc_cmd_name((enum fedc_cmd)c), fedc_last_error());
		assert_int_equal(rc, FEDC_OK);
		d = decode_new(buf, len, &rc);
		if (rc)
			print_error("%s: %s\n", fedc_cmd_name((enum fedc_cmd)c), fedc_last_error());
		assert_int_equal(rc, FEDC_OK);
		assert_int_equal(d->command, c);
		assert_memory_equal(d->present, m->present, sizeof(m->present));
		assert_msg_equal(d, m);
		assert_int_equal(fedc_msg_encode(d, &buf2, &len2), FEDC_OK);
		assert_int_equal(len2, len);
		assert_memory_equal(buf2, buf, len);
		free(buf);
		free(buf2);
		fedc_msg_free(m);
		fedc_msg_free(d);
	}
}

static void test_round_trip_values(void **state)
{
	struct fedc_msg *m = full_msg(FEDC_CMD_TRAIN), *d;
	void *buf;
	size_t len;
	enum fedc_err rc;
	double v;

	assert_int_equal(fedc_msg_encode(m, &buf, &len), FEDC_OK);
	d = decode_new(buf, len, &rc);
	assert_int_equal(rc, FEDC_OK);
	assert_string_equal(d->request_id, REQ_ID);
	assert_string_equal(d->researcher_id, "researcher-1");
	assert_string_equal(d->plan_digest, DIGEST);
	assert_true(d->seed == UINT64_MAX - 7);
	assert_true(d->lr == 0.05);
	assert_true(fedc_msg_kv_get(d->model_args, d->n_model_args, "dropout", &v));
	assert_true(v == 0.25);
	assert_true(fedc_msg_has(d, FEDC_F_EVALUATE_ONLY));
	assert_false(fedc_msg_has(d, FEDC_F_NODE_ID));
	free(buf);
	fedc_msg_free(d);
	fedc_msg_free(m);
}

static void test_decode_empty_dataset_list(void **state)
{
	struct fedc_msg *m = full_msg(FEDC_CMD_SEARCH_REPLY), *d;
	void *buf;
	size_t len;
	enum fedc_err rc;

	m->n_datasets = 0;
	assert_int_equal(fedc_msg_encode(m, &buf, &len), FEDC_OK);
	d = decode_new(buf, len, &rc);
	assert_int_equal(rc, FEDC_OK);
	assert_true(fedc_msg_has(d, FEDC_F_DATASETS));
	assert_int_equal(d->n_datasets, 0);
	free(buf);
	fedc_msg_free(d);
	fedc_msg_free(m);
}

/* A dataset entry's shape is optional: an entry without it (an older
 * node's) decodes with shape "", one with it keeps it, a bad one is refused
 * both ways. */
static void test_dataset_shape_optional(void **state)
{
	struct fedc_msg *m = full_msg(FEDC_CMD_SEARCH_REPLY), *d;
	void *buf = NULL;
	size_t len;
	enum fedc_err rc;

	fill_datasets(m, 2);
	assert_string_equal(m->datasets[0].shape, "");
	snprintf(m->datasets[1].shape, sizeof(m->datasets[1].shape), "1x28x28");
	assert_int_equal(fedc_msg_encode(m, &buf, &len), FEDC_OK);
	d = decode_new(buf, len, &rc);
	assert_int_equal(rc, FEDC_OK);
	assert_string_equal(d->datasets[0].shape, "");
	assert_string_equal(d->datasets[1].shape, "1x28x28");
	free(buf);
	fedc_msg_free(d);
	snprintf(m->datasets[1].shape, sizeof(m->datasets[1].shape), "28 x 28");
	assert_int_equal(fedc_msg_encode(m, &buf, &len), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "datasets[1].shape"));
	fedc_msg_free(m);
}

/* Doubles accept float32 and integers; uints accept any positive width. */
static void test_decode_number_widths(void **state)
{
	struct { const char *key; const char *raw; size_t len; double want; } cases[] = {
		{ "lr", "\xca\x3f\x00\x00\x00", 5, 0.5 },     /* float32 0.5 */
		{ "lr", "\x01", 1, 1.0 },                     /* fixint */
		{ "fedprox_mu", "\xcd\x01\x00", 3, 256.0 },   /* uint16 */
		{ "test_ratio", "\x00", 1, 0.0 },
	};
	char *buf;
	size_t len;
	enum fedc_err rc;
	struct fedc_msg *d;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = repack(FEDC_CMD_TRAIN, cases[i].key, cases[i].raw, cases[i].len, NULL, NULL, 0, &buf);
		d = decode_new(buf, len, &rc);
		assert_int_equal(rc, FEDC_OK);
		if (strcmp(cases[i].key, "lr") == 0)
			assert_true(d->lr == cases[i].want);
		else if (strcmp(cases[i].key, "fedprox_mu") == 0)
			assert_true(d->fedprox_mu == cases[i].want);
		else
			assert_true(d->test_ratio == cases[i].want);
		fedc_msg_free(d);
		free(buf);
	}
	/* a negative integer is a valid double where the range allows it */
	len = repack(FEDC_CMD_SCALAR, "value", "\xd0\x9c", 2, NULL, NULL, 0, &buf);
	d = decode_new(buf, len, &rc);
	assert_int_equal(rc, FEDC_OK);
	assert_true(d->value == -100.0);
	fedc_msg_free(d);
	free(buf);
	/* uint64 round as uint64 wire width */
	len = repack(FEDC_CMD_TRAIN, "round", "\xcf\0\0\0\0\0\0\0\x05", 9, NULL, NULL, 0, &buf);
	d = decode_new(buf, len, &rc);
	assert_int_equal(rc, FEDC_OK);
	assert_int_equal(d->round, 5);
	fedc_msg_free(d);
	free(buf);
}

/* Every field of every command is removed in turn: removing a required one
 * must be refused naming it, removing an optional one must be accepted. */
static void test_decode_missing_each_required_field(void **state)
{
	static const char *const optional[] = { "description", "evaluate_only", "params_digest@train-reply",
						"job_id@error", "round@error", "secure_aggregation", "dp_noise",
						"secagg_ring_bits", "capabilities", "dataset_kinds", "sdk_version", NULL };

	for (int c = FEDC_CMD_NONE + 1; c < FEDC_CMD__COUNT; c++) {
		char *enc, *buf, key[64], tag[96];
		size_t len = encode_full((enum fedc_cmd)c, &enc), off = 0, blen;
		msgpack_zone zone;
		msgpack_object obj;

		msgpack_zone_init(&zone, 2048);
		assert_int_equal(msgpack_unpack(enc, len, &off, &zone, &obj), MSGPACK_UNPACK_SUCCESS);
		for (uint32_t i = 0; i < obj.via.map.size; i++) {
			const msgpack_object_str *k = &obj.via.map.ptr[i].key.via.str;
			bool is_optional = false;
			struct fedc_msg *d;
			enum fedc_err rc;

			snprintf(key, sizeof(key), "%.*s", (int)k->size, k->ptr);
			snprintf(tag, sizeof(tag), "%s@%s", key, fedc_cmd_name((enum fedc_cmd)c));
			for (int o = 0; optional[o]; o++)
				is_optional |= strcmp(optional[o], key) == 0 || strcmp(optional[o], tag) == 0;
			if (strcmp(key, "evaluate_only") == 0)
				is_optional = true;
			blen = repack((enum fedc_cmd)c, key, NULL, 0, NULL, NULL, 0, &buf);
			d = decode_new(buf, blen, &rc);
			if (is_optional != (rc == FEDC_OK))
				print_error("%s without %s: %s %s\n", fedc_cmd_name((enum fedc_cmd)c), key,
					    fedc_strerror(rc), fedc_last_error());
			assert_int_equal(rc, is_optional ? FEDC_OK : FEDC_ERR_MALFORMED);
			if (!is_optional) {
				char want[96];

				snprintf(want, sizeof(want), "\"%s\": missing", key);
				assert_non_null(strstr(fedc_last_error(), want));
			}
			fedc_msg_free(d);
			free(buf);
		}
		msgpack_zone_destroy(&zone);
		free(enc);
	}
}

/* ---- encoding refuses what decoding would refuse ---- */

static void expect_encode(struct fedc_msg *m, enum fedc_err want, const char *detail)
{
	void *buf = (void *)1;
	size_t len = 1;
	enum fedc_err rc = fedc_msg_encode(m, &buf, &len);

	if (rc != want)
		print_error("encode: %s %s\n", fedc_strerror(rc), fedc_last_error());
	assert_int_equal(rc, want);
	if (detail)
		assert_non_null(strstr(fedc_last_error(), detail));
	if (rc == FEDC_OK)
		free(buf);
	else
		assert_null(buf);
}

static void test_encode_rejects_invalid(void **state)
{
	struct fedc_msg *m = full_msg(FEDC_CMD_TRAIN);

	fedc_msg_unset(m, FEDC_F_ROUND);
	expect_encode(m, FEDC_ERR_INVAL, "\"round\": missing");
	fedc_msg_set(m, FEDC_F_ROUND);
	fedc_msg_set(m, FEDC_F_NODE_ID);
	expect_encode(m, FEDC_ERR_INVAL, "\"node_id\": not allowed in \"train\"");
	fedc_msg_unset(m, FEDC_F_NODE_ID);
	m->lr = NAN;
	expect_encode(m, FEDC_ERR_INVAL, "\"lr\": not a finite number");
	m->lr = 0.1;
	memset(m->dataset_id, 'x', sizeof(m->dataset_id)); /* not terminated */
	expect_encode(m, FEDC_ERR_INVAL, "\"dataset_id\": not NUL-terminated");
	snprintf(m->dataset_id, sizeof(m->dataset_id), "a+b");
	expect_encode(m, FEDC_ERR_INVAL, "\"dataset_id\": not an id");
	snprintf(m->dataset_id, sizeof(m->dataset_id), "ok");
	m->n_model_args = FEDC_MAX_ARGS + 1;
	expect_encode(m, FEDC_ERR_INVAL, "\"model_args\": 33 entries");
	m->n_model_args = 2;
	m->epochs = 0;
	expect_encode(m, FEDC_ERR_INVAL, "epochs or num_updates");
	m->evaluate_only = true;
	expect_encode(m, FEDC_OK, NULL);
	m->command = FEDC_CMD__COUNT;
	expect_encode(m, FEDC_ERR_INVAL, "unknown command");
	fedc_msg_free(m);
	assert_int_equal(fedc_msg_encode(NULL, NULL, NULL), FEDC_ERR_INVAL);
}

/* assess only in an evaluate-only train, assess_args only with assess, a
 * kind the schema lists; assess_result travels in a train-reply. */
static void test_train_assess_needs_evaluate_only(void **state)
{
	struct fedc_msg *m = full_msg(FEDC_CMD_TRAIN), *r = full_msg(FEDC_CMD_TRAIN_REPLY), *d;
	static const char lines[] = "count rows 569\ntext predictions /p.csv\n";
	void *buf = NULL;
	size_t len = 0;
	enum fedc_err rc;

	(void)state;
	SETS(m, FEDC_F_ASSESS, assess, "predict");
	expect_encode(m, FEDC_ERR_INVAL, "\"assess\": only with evaluate_only true");
	m->evaluate_only = true;
	m->secagg = false;
	m->dp_noise = 0;
	expect_encode(m, FEDC_OK, NULL);
	strcpy(m->assess, "robust");
	expect_encode(m, FEDC_OK, NULL);
	strcpy(m->assess, "attack"); /* not a kind */
	expect_encode(m, FEDC_ERR_INVAL, "assess");
	strcpy(m->assess, "explain");
	SETS(m, FEDC_F_ASSESS_ARGS, assess_args, "repeats=3\nmetric=loss\n");
	expect_encode(m, FEDC_OK, NULL);
	fedc_msg_unset(m, FEDC_F_ASSESS);
	expect_encode(m, FEDC_ERR_INVAL, "\"assess_args\": only with assess");
	assert_int_equal(fedc_msg_set_assess_result(r, lines, sizeof(lines) - 1), FEDC_OK);
	assert_int_equal(fedc_msg_encode(r, &buf, &len), FEDC_OK);
	d = decode_new(buf, len, &rc);
	assert_int_equal(rc, FEDC_OK);
	assert_int_equal(d->assess_result_len, sizeof(lines) - 1);
	assert_memory_equal(d->assess_result, lines, sizeof(lines) - 1);
	fedc_msg_free(d);
	free(buf);
	assert_int_equal(fedc_msg_set_assess_result(r, lines, FEDC_MAX_ASSESS_RESULT + 1), FEDC_ERR_TOO_BIG);
	fedc_msg_free(r);
	fedc_msg_free(m);
}

/* secagg_ring_bits is 32 or 64, nothing between; absent it stays absent
 * (the node then masks in 64 bits, as before the field existed). */
static void test_train_secagg_ring_bits_32_or_64(void **state)
{
	struct fedc_msg *m = full_msg(FEDC_CMD_TRAIN), *d;
	void *buf = NULL;
	size_t len = 0;
	char *raw = NULL;
	size_t raw_len;
	enum fedc_err rc;

	(void)state;
	m->secagg_ring_bits = 48;
	expect_encode(m, FEDC_ERR_INVAL, "\"secagg_ring_bits\": must be 32 or 64");
	m->secagg_ring_bits = 16;
	expect_encode(m, FEDC_ERR_INVAL, "\"secagg_ring_bits\": 16 is outside 32..64");
	m->secagg_ring_bits = 64;
	expect_encode(m, FEDC_OK, NULL);
	/* decoding refuses it too */
	m->secagg_ring_bits = 32;
	raw_len = repack_msg(m, "secagg_ring_bits", "\x30", 1, NULL, NULL, 0, &raw); /* fixint 48 */
	d = decode_new(raw, raw_len, &rc);
	assert_int_equal(rc, FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "must be 32 or 64"));
	fedc_msg_free(d);
	free(raw);
	/* absent: decoded as absent */
	fedc_msg_unset(m, FEDC_F_SECAGG_RING_BITS);
	assert_int_equal(fedc_msg_encode(m, &buf, &len), FEDC_OK);
	d = decode_new(buf, len, &rc);
	assert_int_equal(rc, FEDC_OK);
	assert_false(fedc_msg_has(d, FEDC_F_SECAGG_RING_BITS));
	assert_true(fedc_msg_has(d, FEDC_F_SECAGG_SCALE_BITS));
	fedc_msg_free(d);
	free(buf);
	fedc_msg_free(m);
}

/* 64 datasets of 16 long tags each do not fit in one payload. */
/* FEDC_MAX_MESSAGE_BYTES (hence the broker's max_packet_size) holds the
 * largest message of the schema: a list-reply with every dataset and tag at
 * its bound, and a train-reply with its update inline, its assessment and
 * every metric at their bounds. */
static void test_encode_largest_fits(void **state)
{
	struct fedc_msg *m = full_msg(FEDC_CMD_LIST_REPLY);
	char name[FEDC_MAX_NAME_LEN + 1];
	uint8_t *big = calloc(1, FEDC_MAX_INLINE_PARAMS);
	void *buf;
	size_t len;

	assert_non_null(big);
	fill_datasets(m, FEDC_MAX_DATASETS);
	for (uint32_t i = 0; i < FEDC_MAX_DATASETS; i++) {
		m->datasets[i].n_tags = FEDC_MAX_TAGS;
		for (uint32_t t = 0; t < FEDC_MAX_TAGS; t++)
			memset(m->datasets[i].tags[t], 'a' + (int)t, FEDC_MAX_TAG_LEN);
	}
	assert_int_equal(fedc_msg_encode(m, &buf, &len), FEDC_OK);
	assert_true(len <= FEDC_MAX_MESSAGE_BYTES);
	free(buf);
	fedc_msg_free(m);

	m = full_msg(FEDC_CMD_TRAIN_REPLY);
	assert_int_equal(fedc_msg_set_params(m, big, FEDC_MAX_INLINE_PARAMS), FEDC_OK);
	memset(big, 'x', FEDC_MAX_ASSESS_RESULT);
	assert_int_equal(fedc_msg_set_assess_result(m, big, FEDC_MAX_ASSESS_RESULT), FEDC_OK);
	m->n_metrics = m->n_global_metrics = 0;
	for (int i = 0; i < FEDC_MAX_METRICS; i++) {
		snprintf(name, sizeof(name), "%0*d", FEDC_MAX_NAME_LEN, i);
		assert_int_equal(fedc_msg_kv_add(m->metrics, &m->n_metrics, FEDC_MAX_METRICS, name, 1e300), FEDC_OK);
		assert_int_equal(fedc_msg_kv_add(m->global_metrics, &m->n_global_metrics, FEDC_MAX_METRICS, name, 1e300),
				 FEDC_OK);
	}
	assert_int_equal(fedc_msg_encode(m, &buf, &len), FEDC_OK);
	assert_true(len <= FEDC_MAX_MESSAGE_BYTES);
	assert_true(len > FEDC_MAX_INLINE_PARAMS + FEDC_MAX_ASSESS_RESULT);
	free(buf);
	free(big);
	fedc_msg_free(m);
}

/* session_kx: 32 bytes in train and train-reply, nothing else, no other
 * size; the key comes back as it went. */
static void test_session_kx(void **state)
{
	const enum fedc_cmd cmds[] = { FEDC_CMD_TRAIN, FEDC_CMD_TRAIN_REPLY };
	uint8_t kx[FEDC_SESSION_KX_BYTES];
	struct fedc_msg *m, *d;
	void *buf = NULL;
	size_t len;
	enum fedc_err rc;

	(void)state;
	for (size_t i = 0; i < sizeof(kx); i++)
		kx[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < 2; i++) {
		m = full_msg(cmds[i]);
		assert_int_equal(fedc_msg_set_session_kx(m, kx), FEDC_OK);
		assert_int_equal(fedc_msg_encode(m, &buf, &len), FEDC_OK);
		d = decode_new(buf, len, &rc);
		assert_int_equal(rc, FEDC_OK);
		assert_true(fedc_msg_has(d, FEDC_F_SESSION_KX));
		assert_int_equal(d->session_kx_len, sizeof(kx));
		assert_memory_equal(d->session_kx, kx, sizeof(kx));
		assert_false(d->via_session); /* not a field: never from the wire */
		free(buf);
		fedc_msg_free(d);
		/* 31 bytes: not an X25519 key */
		m->session_kx_len = FEDC_SESSION_KX_BYTES - 1;
		buf = NULL;
		assert_int_not_equal(fedc_msg_encode(m, &buf, &len), FEDC_OK);
		assert_null(buf);
		assert_non_null(strstr(fedc_last_error(), "session_kx"));
		fedc_msg_free(m);
	}
	m = fedc_msg_new(FEDC_CMD_PING);
	snprintf(m->researcher_id, sizeof(m->researcher_id), "r1");
	fedc_msg_set(m, FEDC_F_RESEARCHER_ID);
	assert_int_equal(fedc_msg_set_session_kx(m, kx), FEDC_OK);
	assert_int_not_equal(fedc_msg_encode(m, &buf, &len), FEDC_OK);
	fedc_msg_free(m);
}

/* A train carrying the global parameters inline and a reply carrying the
 * update: the bytes come back as they went. */
static void test_round_trip_params(void **state)
{
	static const uint8_t bytes[] = { 0x46, 0x45, 0x44, 0x43, 0x00, 0xff, 0x10 };
	const enum fedc_cmd cmds[] = { FEDC_CMD_TRAIN, FEDC_CMD_TRAIN_REPLY };
	struct fedc_msg *m, *d;
	uint8_t *taken;
	size_t len, n;
	void *buf;
	enum fedc_err rc;

	for (size_t i = 0; i < 2; i++) {
		m = full_msg(cmds[i]);
		assert_int_equal(fedc_msg_set_params(m, bytes, sizeof(bytes)), FEDC_OK);
		if (cmds[i] == FEDC_CMD_TRAIN) {
			m->inline_params_max = FEDC_MAX_INLINE_PARAMS;
			fedc_msg_set(m, FEDC_F_INLINE_PARAMS_MAX);
		}
		assert_int_equal(fedc_msg_encode(m, &buf, &len), FEDC_OK);
		d = decode_new(buf, len, &rc);
		assert_int_equal(rc, FEDC_OK);
		assert_true(fedc_msg_has(d, FEDC_F_PARAMS));
		assert_int_equal(d->params_len, sizeof(bytes));
		assert_memory_equal(d->params, bytes, sizeof(bytes));
		assert_true(d->inline_params_max == (cmds[i] == FEDC_CMD_TRAIN ? FEDC_MAX_INLINE_PARAMS : 0));
		taken = fedc_msg_take_params(d, &n);
		assert_non_null(taken);
		assert_int_equal(n, sizeof(bytes));
		assert_false(fedc_msg_has(d, FEDC_F_PARAMS));
		assert_null(fedc_msg_take_params(d, &n));
		assert_int_equal(n, 0);
		free(taken);
		free(buf);
		fedc_msg_free(d);
		fedc_msg_free(m);
	}
}

/* Borrowed params: encoded like copied ones, never freed by the message (the
 * caller's buffer here is a static array: a free of it would be caught by
 * the allocator and by ASan), taken as a copy of their own; replaced by a
 * copy, and over the cap refused. */
static void test_borrowed_params(void **state)
{
	static const uint8_t bytes[] = { 1, 2, 3, 4, 5 };
	struct fedc_msg *m = full_msg(FEDC_CMD_TRAIN_REPLY), *d;
	uint8_t *taken;
	size_t len, n;
	void *buf;
	enum fedc_err rc;

	(void)state;
	assert_int_equal(fedc_msg_borrow_params(m, bytes, sizeof(bytes)), FEDC_OK);
	assert_true(m->params == bytes);
	assert_int_equal(fedc_msg_encode(m, &buf, &len), FEDC_OK);
	d = decode_new(buf, len, &rc);
	assert_int_equal(rc, FEDC_OK);
	assert_memory_equal(d->params, bytes, sizeof(bytes));
	fedc_msg_free(d);
	free(buf);
	taken = fedc_msg_take_params(m, &n);
	assert_non_null(taken);
	assert_true(taken != bytes);
	assert_int_equal(n, sizeof(bytes));
	assert_memory_equal(taken, bytes, sizeof(bytes));
	assert_false(fedc_msg_has(m, FEDC_F_PARAMS));
	free(taken);
	assert_int_equal(fedc_msg_borrow_params(m, bytes, sizeof(bytes)), FEDC_OK);
	assert_int_equal(fedc_msg_set_params(m, bytes, 2), FEDC_OK); /* a copy now: owned, freed below */
	assert_false(m->params_borrowed);
	assert_true(m->params != bytes);
	assert_int_equal(fedc_msg_borrow_params(m, bytes, (size_t)FEDC_MAX_INLINE_PARAMS + 1), FEDC_ERR_TOO_BIG);
	assert_int_equal(fedc_msg_borrow_params(m, bytes, sizeof(bytes)), FEDC_OK);
	fedc_msg_free(m); /* leaves `bytes` alone */
}

/* Over the cap, set_params refuses, and so does encode for bytes put there by hand. */
static void test_params_over_cap_refused(void **state)
{
	struct fedc_msg *m = full_msg(FEDC_CMD_TRAIN_REPLY);
	size_t n = FEDC_MAX_INLINE_PARAMS + 1;
	uint8_t *big = calloc(1, n);

	assert_non_null(big);
	assert_int_equal(fedc_msg_set_params(m, big, n), FEDC_ERR_TOO_BIG);
	assert_non_null(strstr(fedc_last_error(), "at most 8388608"));
	assert_false(fedc_msg_has(m, FEDC_F_PARAMS));
	m->params = big;
	m->params_len = (uint32_t)n;
	fedc_msg_set(m, FEDC_F_PARAMS);
	expect_encode(m, FEDC_ERR_INVAL, "\"params\"");
	fedc_msg_free(m);
}

/* ---- helpers of the API ---- */

static void test_cmd_names(void **state)
{
	for (int c = FEDC_CMD_NONE + 1; c < FEDC_CMD__COUNT; c++) {
		const char *name = fedc_cmd_name((enum fedc_cmd)c);

		assert_non_null(name);
		assert_int_equal(fedc_cmd_parse(name), c);
	}
	assert_string_equal(fedc_cmd_name(FEDC_CMD_PLAN_STATUS), "training-plan-status");
	assert_string_equal(fedc_cmd_name(FEDC_CMD_SEARCH_REPLY), "search-reply");
	assert_null(fedc_cmd_name(FEDC_CMD_NONE));
	assert_null(fedc_cmd_name(FEDC_CMD__COUNT));
	assert_int_equal(fedc_cmd_parse("pin"), FEDC_CMD_NONE);
	assert_int_equal(fedc_cmd_parse("pingx"), FEDC_CMD_NONE);
	assert_int_equal(fedc_cmd_parse("PING"), FEDC_CMD_NONE);
	assert_int_equal(fedc_cmd_parse(NULL), FEDC_CMD_NONE);
}

static void test_msg_new_and_reply(void **state)
{
	struct fedc_msg *req = fedc_msg_new(FEDC_CMD_PING), *req2 = fedc_msg_new(FEDC_CMD_PING), *rep;

	assert_non_null(req);
	assert_true(fedc_uuid_valid(req->request_id));
	assert_string_not_equal(req->request_id, req2->request_id);
	assert_int_equal(req->protocol_version, FEDC_PROTOCOL_VERSION);
	assert_true(fedc_msg_has(req, FEDC_F_PROTOCOL_VERSION));
	assert_true(fedc_msg_has(req, FEDC_F_COMMAND));
	assert_true(fedc_msg_has(req, FEDC_F_REQUEST_ID));
	assert_false(fedc_msg_has(req, FEDC_F_RESEARCHER_ID));
	assert_false(fedc_msg_has(req, FEDC_F__COUNT));
	assert_null(fedc_msg_new(FEDC_CMD_NONE));
	SETS(req, FEDC_F_RESEARCHER_ID, researcher_id, "alice");
	rep = fedc_msg_reply(req, FEDC_CMD_PONG, "node-b");
	assert_non_null(rep);
	assert_int_equal(rep->command, FEDC_CMD_PONG);
	assert_string_equal(rep->request_id, req->request_id);
	assert_string_equal(rep->researcher_id, "alice");
	assert_string_equal(rep->node_id, "node-b");
	expect_encode(rep, FEDC_OK, NULL);
	fedc_msg_free(rep);
	fedc_msg_free(req);
	fedc_msg_free(req2);
}

static void test_kv_add_get(void **state)
{
	struct fedc_msg_kv kv[3];
	uint32_t n = 0;
	char long_name[FEDC_MAX_NAME_LEN + 2];
	double v;

	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(fedc_msg_kv_add(kv, &n, 3, "a", 1), FEDC_OK);
	assert_int_equal(fedc_msg_kv_add(kv, &n, 3, "b", 2), FEDC_OK);
	assert_int_equal(fedc_msg_kv_add(kv, &n, 3, "a", 3), FEDC_OK); /* replaces */
	assert_int_equal(n, 2);
	assert_int_equal(fedc_msg_kv_add(kv, &n, 3, "c", 4), FEDC_OK);
	assert_int_equal(fedc_msg_kv_add(kv, &n, 3, "d", 5), FEDC_ERR_TOO_BIG);
	assert_int_equal(fedc_msg_kv_add(kv, &n, 3, long_name, 5), FEDC_ERR_INVAL);
	assert_int_equal(fedc_msg_kv_add(kv, &n, 3, "", 5), FEDC_ERR_INVAL);
	assert_int_equal(fedc_msg_kv_add(kv, &n, 3, "a", NAN), FEDC_ERR_INVAL);
	assert_int_equal(n, 3);
	assert_true(fedc_msg_kv_get(kv, n, "a", &v));
	assert_true(v == 3);
	assert_false(fedc_msg_kv_get(kv, n, "z", &v));
}

static void test_schema_markdown(void **state)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	assert_non_null(f);
	assert_int_equal(fedc_msg_schema_markdown(f), FEDC_OK);
	fclose(f);
	for (int c = FEDC_CMD_NONE + 1; c < FEDC_CMD__COUNT; c++) {
		char heading[64];

		snprintf(heading, sizeof(heading), "\n### `%s`\n", fedc_cmd_name((enum fedc_cmd)c));
		assert_non_null(strstr(text, heading));
	}
	assert_non_null(strstr(text, "| `round` | uint | required | 0..1000000 |"));
	assert_non_null(strstr(text, "### Dataset entries"));
	free(text);
}

/* ---- brute force (run under ASan) ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Whatever decodes must be a message the encoder accepts, and decode again
 * to the same thing. */
static int check_damaged(struct fedc_msg *d, const char *buf, size_t len)
{
	void *enc;
	size_t elen;
	struct fedc_msg *again;
	enum fedc_err rc;

	fedc_msg_clear(d); /* d is reused: drop what the last decode allocated */
	rc = fedc_msg_decode(buf, len, d);

	assert_true(rc == FEDC_OK || rc == FEDC_ERR_MALFORMED);
	if (rc != FEDC_OK)
		return 0;
	rc = fedc_msg_encode(d, &enc, &elen);
	if (rc)
		print_error("decoded but not encodable: %s\n", fedc_last_error());
	assert_int_equal(rc, FEDC_OK);
	again = decode_new(enc, elen, &rc);
	assert_int_equal(rc, FEDC_OK);
	assert_msg_equal(again, d);
	fedc_msg_free(again);
	free(enc);
	return 1;
}

static void test_decode_brute_force(void **state)
{
	static const unsigned char values[] = { 0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0,
						0xc1, 0xc2, 0xc4, 0xc7, 0xca, 0xcb, 0xcc, 0xcf, 0xd0, 0xd4,
						0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff };
	char *enc, *buf;
	size_t len;
	struct fedc_msg *d = calloc(1, sizeof(*d));
	enum fedc_cmd cmds[] = { FEDC_CMD_TRAIN, FEDC_CMD_SEARCH_REPLY, FEDC_CMD_TRAIN_REPLY };
	int accepted = 0;

	assert_non_null(d);
	for (size_t ci = 0; ci < sizeof(cmds) / sizeof(cmds[0]); ci++) {
		len = encode_full(cmds[ci], &enc);
		buf = malloc(len);
		assert_non_null(buf);
		/* every truncation, each in a buffer of exactly that size (ASan sees overreads) */
		for (size_t cut = 0; cut < len; cut++) {
			char *t = malloc(cut ? cut : 1);

			memcpy(t, enc, cut);
			fedc_msg_clear(d);
			assert_int_not_equal(fedc_msg_decode(t, cut, d), FEDC_OK);
			free(t);
		}
		/* every byte set to every interesting value, and bit flips */
		for (size_t i = 0; i < len; i++) {
			for (size_t v = 0; v < sizeof(values) + 8; v++) {
				unsigned flip = 1u << (v < sizeof(values) ? 0 : v - sizeof(values));
				unsigned char byte = v < sizeof(values) ? (unsigned char)values[v]
									: (unsigned char)((unsigned char)enc[i] ^ flip);

				memcpy(buf, enc, len);
				buf[i] = (char)byte;
				accepted += check_damaged(d, buf, len);
			}
		}
		/* random damage: a few bytes changed, and a random cut */
		for (int iter = 0; iter < 20000; iter++) {
			size_t n = 1 + rng() % 4, cut = len - rng() % 8;

			memcpy(buf, enc, len);
			for (size_t k = 0; k < n; k++)
				buf[rng() % len] = (char)rng();
			accepted += check_damaged(d, buf, iter % 3 ? len : cut);
		}
		free(buf);
		free(enc);
	}
	/* random garbage */
	buf = malloc(512);
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = rng() % 512;

		for (size_t k = 0; k < n; k++)
			buf[k] = (char)rng();
		if (n)
			buf[0] = (char)(0x80 | (rng() & 0x0f)); /* mostly maps, to get past the first check */
		check_damaged(d, buf, n);
	}
	free(buf);
	fedc_msg_free(d);
	/* Some damage leaves a valid message (a changed letter in a name): the
	 * re-encode check above must have run. */
	assert_true(accepted > 100);
}

/* The body of a version-2 envelope: everything but `params` (fedc/channel.h). */
static void test_encode_without_params(void **state)
{
	struct fedc_msg *m = full_msg(FEDC_CMD_TRAIN), *got;
	void *with = NULL, *without = NULL;
	size_t with_len = 0, without_len = 0;
	enum fedc_err rc;

	(void)state;
	assert_int_equal(fedc_msg_set_params(m, "0123456789", 10), FEDC_OK);
	assert_int_equal(fedc_msg_encode(m, &with, &with_len), FEDC_OK);
	assert_int_equal(fedc_msg_encode_without_params(m, &without, &without_len), FEDC_OK);
	assert_true(without_len < with_len);
	got = decode_new(without, without_len, &rc);
	assert_int_equal(rc, FEDC_OK);
	assert_false(fedc_msg_has(got, FEDC_F_PARAMS));
	assert_null(got->params);
	assert_string_equal(got->params_digest, m->params_digest);
	fedc_msg_free(got);
	free(with);
	free(without);
	/* without params to leave out: the same bytes */
	free(fedc_msg_take_params(m, &with_len));
	assert_int_equal(fedc_msg_encode(m, &with, &with_len), FEDC_OK);
	assert_int_equal(fedc_msg_encode_without_params(m, &without, &without_len), FEDC_OK);
	assert_int_equal(with_len, without_len);
	assert_memory_equal(with, without, with_len);
	free(with);
	free(without);
	fedc_msg_free(m);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_message_sized_to_content),
		cmocka_unit_test(test_round_trip_every_command),
		cmocka_unit_test(test_round_trip_values),
		cmocka_unit_test(test_decode_empty_dataset_list),
		cmocka_unit_test(test_dataset_shape_optional),
		cmocka_unit_test(test_decode_number_widths),
		cmocka_unit_test(test_decode_missing_each_required_field),
		cmocka_unit_test(test_encode_rejects_invalid),
		cmocka_unit_test(test_train_secagg_ring_bits_32_or_64),
		cmocka_unit_test(test_train_assess_needs_evaluate_only),
		cmocka_unit_test(test_encode_largest_fits),
		cmocka_unit_test(test_round_trip_params),
		cmocka_unit_test(test_params_over_cap_refused),
		cmocka_unit_test(test_borrowed_params),
		cmocka_unit_test(test_cmd_names),
		cmocka_unit_test(test_msg_new_and_reply),
		cmocka_unit_test(test_kv_add_get),
		cmocka_unit_test(test_schema_markdown),
		cmocka_unit_test(test_decode_fixture_files),
		cmocka_unit_test(test_decode_brute_force),
		cmocka_unit_test(test_encode_without_params),
		cmocka_unit_test(test_session_kx),
	};
	size_t n_fixed = sizeof(fixed) / sizeof(fixed[0]);
	struct CMUnitTest *tests = calloc(n_fixed + N_BAD_CASES, sizeof(*tests));
	int failed;

	if (!tests)
		return 1;
	memcpy(tests, fixed, sizeof(fixed));
	/* One named test per bad payload: test_decode_truncated_payload ... */
	for (size_t i = 0; i < N_BAD_CASES; i++)
		tests[n_fixed + i] = (struct CMUnitTest){ .name = bad_cases[i].name, .test_func = run_bad_case,
							  .initial_state = &bad_cases[i] };
	failed = _cmocka_run_group_tests("message", tests, n_fixed + N_BAD_CASES, NULL, NULL);
	free(tests);
	return failed;
}
