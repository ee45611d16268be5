/* Parameters inline (docs/protocol.md, "Parameters inline") on the real
 * stack: two fedc-node daemons on breast-cancer shards, TLS, signed
 * messages. A small model's global parameters ride in `train` and the
 * updates in `train-reply`; a model over the threshold goes through the
 * repository as before, and a 2 MB one rides inline under a raised
 * inline_params_max where the machine's sockets allow it. Bytes that do not hash to the digest their message
 * names are refused at both ends, and an inline update over the size the
 * researcher allowed is refused with the limit named. The node that lies
 * is played by this test with a provisioned node's credentials and key, as
 * in test_rogue_node. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/src/transport_internal.h"
#include "fedc/caps.h"
#include "fedc/hash.h"
#include "fedc/inline_params.h"
#include "harness_scripted.h"

static struct harness H;
static char output[1 << 18];

#define N_HONEST 2

static int setup(void **state)
{
	char csv[512], id[32];

	(void)state;
	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < N_HONEST; i++) {
		snprintf(csv, sizeof(csv), "%s/site-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "site-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, 150 * i, 150) ||
		    harness_add_node(&H, id, csv, "breast-cancer", harness_plan("logreg")) != (int)i ||
		    harness_start_node(&H, i) != 0)
			return -1;
	}
	for (size_t i = 0; i < N_HONEST; i++) {
		const char *argv[] = { harness_bin("fedc-node"), "--config", H.nodes[i].config, "plan", "approve",
				       harness_plan("fixtures/identity"), NULL };

		if (harness_run(&H, argv, 30, output, sizeof(output)) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

/* Writes H.dir/<name>.ini: `plan` over the nodes tagged breast-cancer,
 * `rounds` rounds, `min_nodes`, the [model] lines `model` and the
 * [network] line `network` (may be ""). Each file gets a seed of its own:
 * runs are deterministic, and an experiment repeating an earlier one's
 * models would find them in the repository already (unless a test sets
 * next_seed back on purpose). */
static unsigned next_seed = 7;
static void write_experiment(char *exp, size_t cap, const char *name, const char *plan, unsigned rounds,
			     unsigned min_nodes, const char *model, const char *network)
{
	FILE *f;

	snprintf(exp, cap, "%s/%s.ini", H.dir, name);
	f = fopen(exp, "w");
	assert_non_null(f);
	fprintf(f,
		"[experiment]\nname = %s\ntags = breast-cancer\nplan = %s\nrounds = %u\nmin_nodes = %u\n"
		"round_timeout_s = 60\ndiscovery_timeout_s = 5\nseed = %u\noutput_dir = %s-out\nfinal_evaluation = false\n"
		"[model]\n%s\n[training]\nlr = 0.1\nepochs = 2\nbatch_size = 32\ntest_ratio = 0.2\n"
		"[aggregator]\nmethod = fedavg\n%s%s\n",
		name, plan, rounds, min_nodes, next_seed++, exp, model, harness_network_section(&H), network);
	assert_int_equal(fclose(f), 0);
}

/* Counts the lines of node i's log that contain `needle`. */
static int node_log_count(size_t i, const char *needle)
{
	char line[4096];
	FILE *f = fopen(H.nodes[i].proc.log, "r");
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* Counts the occurrences of `needle` in `text`. */
static int text_count(const char *text, const char *needle)
{
	int n = 0;

	for (const char *at = text; (at = strstr(at, needle)); at++)
		n++;
	return n;
}

/* Runs the experiment file `exp` to its end, logging at `level`; its output
 * is in `output`. */
static void run_ok_at(const char *exp, const char *level)
{
	const char *argv[] = { harness_bin("fedc-researcher"), "run", "--log-level", level, exp, NULL };
	int rc = harness_run(&H, argv, 120, output, sizeof(output));

	if (rc != 0)
		fprintf(stderr, "%s\n", output);
	assert_int_equal(rc, 0);
}

static void run_ok(const char *exp)
{
	run_ok_at(exp, "info");
}

/* Logistic regression on 30 features (31 float32, far under 256 KiB): the
 * global goes inline to both nodes, both updates come back inline, as an
 * envelope's attachment: round 1 signed (version 2, agreeing a per-job
 * session: the nodes advertise envelope = 3), rounds 2 and 3 MAC'd under it
 * (version 3); and the model still learns. */
static void test_small_model_inline(void **state)
{
	char exp[512];
	int v2[N_HONEST], v3[N_HONEST];

	(void)state;
	for (size_t i = 0; i < N_HONEST; i++) {
		v2[i] = node_log_count(i, "global inline, update inline, envelope v2");
		v3[i] = node_log_count(i, "global inline, update inline, envelope v3");
	}
	write_experiment(exp, sizeof(exp), "small", harness_plan("logreg"), 3, N_HONEST, "n_features = 30", "");
	run_ok(exp);
	assert_non_null(strstr(output, "round    3/3"));
	for (size_t i = 0; i < N_HONEST; i++) {
		assert_int_equal(node_log_count(i, "global inline, update inline, envelope v2") - v2[i], 1);
		assert_int_equal(node_log_count(i, "global inline, update inline, envelope v3") - v3[i], 2);
		assert_int_equal(node_log_count(i, "update to the repository"), 0);
	}
}

/* 100 000 float32 (400 KB) are over the default threshold: both ways go
 * through the repository, as before; so does a small model when the
 * experiment sets inline_params_max = 0. */
static void test_large_model_through_repository(void **state)
{
	char exp[512];
	int before[N_HONEST];

	(void)state;
	for (size_t i = 0; i < N_HONEST; i++)
		before[i] = node_log_count(i, "global from the repository, update to the repository");
	write_experiment(exp, sizeof(exp), "large", harness_plan("fixtures/identity"), 2, N_HONEST,
			 "n_params = 100000\nupload_step = 1e-6", "");
	run_ok(exp);
	write_experiment(exp, sizeof(exp), "off", harness_plan("logreg"), 1, N_HONEST, "n_features = 30",
			 "inline_params_max = 0\n");
	run_ok(exp);
	for (size_t i = 0; i < N_HONEST; i++)
		assert_int_equal(node_log_count(i, "global from the repository, update to the repository") - before[i],
				 3);
}

/* ---- the node that tampers with its inline update ---- */

#define MALLORY "mallory"

struct mallory {
	size_t oversize;  /* > 0: answer with this many bytes; 0: the global with one byte flipped */
	bool no_inline;   /* plays a node of an earlier version: no inline_params capability */
	int fetched;      /* no_inline: trains whose global it could GET from the repository */
	bool envelope2;   /* plays an honest node of the previous version: envelope = 2, no sessions */
	int trains;       /* envelope2: the trains it answered */
};

static void mallory_advertise_inline(struct fedc_msg *reply)
{
	assert_int_equal(fedc_msg_kv_add(reply->capabilities, &reply->n_capabilities, FEDC_MAX_CAPS,
					 FEDC_CAP_INLINE_PARAMS, FEDC_MAX_INLINE_PARAMS), FEDC_OK);
	fedc_msg_set(reply, FEDC_F_CAPABILITIES);
}

/* A node without inline parameters: it gets neither the global nor leave to
 * answer inline, and the global it is named is in the repository. It then
 * answers without an update (refused; the round goes on). */
static void mallory_fetch_global(struct mallory *m, const struct fedc_msg *req, struct fedc_msg *reply)
{
	char bundle[512], path[600];
	struct fedc_repo *repo = NULL;

	assert_false(fedc_msg_has(req, FEDC_F_PARAMS));
	assert_false(fedc_msg_has(req, FEDC_F_INLINE_PARAMS_MAX));
	assert_false(req->params_attached); /* nor version-2 envelopes */
	snprintf(bundle, sizeof(bundle), "%s/nodes/%s", H.fed_dir, MALLORY);
	snprintf(path, sizeof(path), "%s/mallory-global.params", H.dir);
	assert_int_equal(harness_repo_as(&H, bundle, &repo), 0);
	if (fedc_repo_get_file(repo, req->params_digest, path, 0) == FEDC_OK)
		m->fetched++;
	else
		fprintf(stderr, "mallory: GET %s: %s\n", req->params_digest, fedc_last_error());
	fedc_repo_free(repo);
	harness_scripted_train_fields(req, reply);
	fedc_msg_unset(reply, FEDC_F_PARAMS_DIGEST);
}

/* Its update: the global it got inline, with one byte flipped, under the
 * global's digest; or `oversize` bytes under a digest that matches them. */
static void mallory_train_reply(const struct mallory *m, const struct fedc_msg *req, struct fedc_msg *reply)
{
	uint8_t *bytes;

	assert_true(fedc_msg_has(req, FEDC_F_PARAMS)); /* it advertised inline parameters */
	assert_true(req->inline_params_max > 0);
	assert_false(req->params_attached); /* but not envelope = 2: a version-1 envelope */
	if (m->oversize) {
		bytes = calloc(1, m->oversize);
		assert_non_null(bytes);
		assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, bytes, m->oversize, reply->params_digest), FEDC_OK);
		assert_int_equal(fedc_msg_set_params(reply, bytes, m->oversize), FEDC_OK);
		free(bytes);
	} else {
		assert_int_equal(fedc_msg_set_params(reply, req->params, req->params_len), FEDC_OK);
		reply->params[reply->params_len - 1] ^= 0x01;
		snprintf(reply->params_digest, sizeof(reply->params_digest), "%s", req->params_digest);
	}
	harness_scripted_train_fields(req, reply);
	reply->n_samples = 80;
	reply->n_test = 20;
}

/* A node that opens envelopes up to version 2 only: every train comes
 * signed (v2, the global attached), never with a session_kx nor MAC'd; it
 * answers honestly the same way, the global as its update. */
static void honest_v2_train_reply(struct mallory *m, const struct fedc_msg *req, struct fedc_msg *reply)
{
	assert_true(req->params_attached);
	assert_false(req->via_session);
	assert_false(fedc_msg_has(req, FEDC_F_SESSION_KX));
	assert_true(fedc_msg_has(req, FEDC_F_PARAMS));
	assert_int_equal(fedc_msg_set_params(reply, req->params, req->params_len), FEDC_OK);
	snprintf(reply->params_digest, sizeof(reply->params_digest), "%s", req->params_digest);
	reply->params_attached = true;
	harness_scripted_train_fields(req, reply);
	reply->n_samples = 80;
	reply->n_test = 20;
	m->trains++;
}

static bool mallory_answer(void *ctx, const struct fedc_msg *req, struct fedc_msg *reply)
{
	struct mallory *m = ctx;

	if (req->command == FEDC_CMD_SEARCH) {
		harness_scripted_dataset(reply, "mallory-data", 100);
		if (!m->no_inline)
			mallory_advertise_inline(reply);
		if (m->envelope2)
			assert_int_equal(fedc_msg_kv_add(reply->capabilities, &reply->n_capabilities, FEDC_MAX_CAPS,
							 FEDC_CAP_ENVELOPE, 2),
					 FEDC_OK);
	} else if (m->envelope2) {
		honest_v2_train_reply(m, req, reply);
	} else if (m->no_inline) {
		mallory_fetch_global(m, req, reply);
	} else {
		mallory_train_reply(m, req, reply);
	}
	return true;
}

/* Runs `exp` with mallory answering; returns her round record's reason
 * from history.jsonl (static), after checking the rounds went on with the
 * honest nodes. */
static const char *run_mallory(const char *exp, struct mallory *mp, size_t answered)
{
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	static char line[8192], found[8192];
	char history[600];
	struct mallory m = *mp;
	struct harness_scripted_node node;
	struct harness_proc researcher = { 0 };
	int status, rounds = 0;
	FILE *f;

	found[0] = '\0';
	assert_int_equal(harness_scripted_connect(&H, &node, MALLORY), 0);
	assert_int_equal(harness_spawn(&H, &researcher, "researcher-mallory", argv), 0);
	status = harness_scripted_serve(&node, researcher.pid, 120, mallory_answer, &m);
	if (status == -1)
		(void)harness_stop(&researcher, SIGTERM, 5000);
	harness_scripted_close(&node);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the researcher did not finish cleanly (status %d); its log: %s", status, researcher.log);
	snprintf(history, sizeof(history), "%s-out/history.jsonl", exp);
	f = fopen(history, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "\"type\":\"round\"") && harness_json_int(line, "answered") == (int)answered)
			rounds++;
		if (strstr(line, "\"node_id\":\"" MALLORY "\"") && strstr(line, "\"status\":\"rejected\""))
			snprintf(found, sizeof(found), "%s", line);
	}
	fclose(f);
	assert_int_equal(rounds, 2); /* each round aggregated the honest nodes */
	*mp = m;
	return found;
}

static const char *run_with_mallory(const char *exp, size_t oversize, bool no_inline, int *fetched)
{
	struct mallory m = { .oversize = oversize, .no_inline = no_inline };
	const char *found = run_mallory(exp, &m, N_HONEST);

	if (fetched)
		*fetched = m.fetched;
	return found;
}

/* Waits (5 s at most: the repository logs a request once it is over, a
 * moment after its client has the answer) until the repository's log has
 * `want` lines holding `needle`; the count it has then. */
static int wait_repo_log_count(const char *needle, int want)
{
	int n = (int)harness_lines_containing(H.repo.log, 0, needle);

	for (int waited = 0; n < want && waited < 5000; waited += 20) {
		usleep(20000);
		n = (int)harness_lines_containing(H.repo.log, 0, needle);
	}
	return n;
}

/* [network] repository_store_dir (docs/repository.md, "Updates read in place"):
 * beside the repository, the researcher reads each update from the store in
 * place as soon as its node has uploaded it, asks the repository for none,
 * and ends with the same model, bit for bit, as the same run downloading
 * them (run second: its updates are then stored already, which a download
 * does not mind). */
static void test_updates_read_from_the_store(void **state)
{
	char exp[512], network[600], downloaded[600], in_place[600];
	const char *get_update = "researcher:test-researcher GET /v1/updates/";
	const unsigned seed = next_seed + 1000; /* a model no test ran before */
	int gets = wait_repo_log_count(get_update, 0);

	(void)state;
	next_seed = seed;
	snprintf(network, sizeof(network), "inline_params_max = 0\nrepository_store_dir = %s/repository/store\n",
		 H.fed_dir);
	write_experiment(exp, sizeof(exp), "in-place", harness_plan("logreg"), 2, N_HONEST, "n_features = 30", network);
	run_ok_at(exp, "debug");
	assert_int_equal(text_count(output, "read in place from the repository's store"), 2 * N_HONEST);
	assert_int_equal(text_count(output, "downloading it"), 0);
	next_seed = seed;
	write_experiment(exp, sizeof(exp), "downloaded", harness_plan("logreg"), 2, N_HONEST, "n_features = 30",
			 "inline_params_max = 0\n");
	run_ok(exp);
	/* none during the first run, one per node and round during the second */
	assert_int_equal(wait_repo_log_count(get_update, gets + 2 * N_HONEST), gets + 2 * N_HONEST);
	snprintf(downloaded, sizeof(downloaded), "%s/downloaded.ini-out/global.params", H.dir);
	snprintf(in_place, sizeof(in_place), "%s/in-place.ini-out/global.params", H.dir);
	assert_true(harness_same_file(downloaded, in_place));
}

/* A node of the previous version (envelope = 2) beside nodes of this one:
 * it is never offered a session, gets every train signed in version 2, and
 * its update counts in every round (the others' trains go MAC'd). */
static void test_envelope_v2_node_still_served(void **state)
{
	struct mallory m = { .envelope2 = true };
	char exp[512];
	int v3[N_HONEST];

	(void)state;
	for (size_t i = 0; i < N_HONEST; i++)
		v3[i] = node_log_count(i, "envelope v3");
	write_experiment(exp, sizeof(exp), "older", harness_plan("logreg"), 2, N_HONEST, "n_features = 30", "");
	(void)run_mallory(exp, &m, N_HONEST + 1);
	assert_int_equal(m.trains, 2);
	for (size_t i = 0; i < N_HONEST; i++)
		assert_int_equal(node_log_count(i, "envelope v3") - v3[i], 1); /* round 2 */
}

/* An update whose inline bytes do not hash to the digest it names is
 * refused; the round goes on without it. */
static void test_tampered_inline_update_refused(void **state)
{
	char exp[512];
	const char *record;

	(void)state;
	assert_int_equal(harness_add_node(&H, MALLORY, NULL, NULL, NULL), N_HONEST);
	write_experiment(exp, sizeof(exp), "tampered", harness_plan("logreg"), 2, N_HONEST, "n_features = 30", "");
	record = run_with_mallory(exp, 0, false, NULL);
	if (!strstr(record, "its update was refused") || !strstr(record, "not to the"))
		fail_msg("mallory's round record: %s", record);
}

/* The bytes one write hands over on this machine's MQTT sockets, as
 * common/src/nodelay.c fixes them from net.core.wmem_max; 0 where the
 * kernel sizes them (a stock kernel). */
static size_t machine_send_buffer(void)
{
	unsigned long long wmem_max = 0, tcp_wmem[3] = { 0 };
	FILE *f = fopen("/proc/sys/net/core/wmem_max", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%llu", &wmem_max), 1);
	fclose(f);
	f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%llu %llu %llu", &tcp_wmem[0], &tcp_wmem[1], &tcp_wmem[2]), 3);
	fclose(f);
	return fedc__send_buffer_wanted(wmem_max, tcp_wmem[2]);
}

/* A 2 MB model (500 000 float32) with inline_params_max = 8 MiB, a
 * wide-area setting (docs/deployment.md, "Models up to 8 MiB inline"): where
 * net.core.wmem_max lets the MQTT sockets hold such a message (this
 * machine's kernel: 4 MiB), the global rides in `train` and every update in
 * `train-reply`, through the broker's raised max_packet_size, and the round
 * needs no repository; where it does not (a stock kernel), both go through
 * the repository, as over the default threshold. */
static void test_large_model_inline_where_the_sockets_allow(void **state)
{
	const size_t file_bytes = 500000 * sizeof(float) + 1024; /* the values and at most this much header */
	bool inline_expected = fedc_inline_params_fit(machine_send_buffer()) >= file_bytes;
	const char *inline_line = "global inline, update inline, envelope v";
	const char *repository_line = "global from the repository, update to the repository";
	int inline_before[N_HONEST], repository_before[N_HONEST];
	char exp[512];

	(void)state;
	fprintf(stderr, "this machine's sockets %s a 2 MB message: expecting the %s path\n",
		inline_expected ? "hold" : "do not hold", inline_expected ? "inline" : "repository");
	for (size_t i = 0; i < N_HONEST; i++) {
		inline_before[i] = node_log_count(i, inline_line);
		repository_before[i] = node_log_count(i, repository_line);
	}
	write_experiment(exp, sizeof(exp), "large-inline", harness_plan("fixtures/identity"), 2, N_HONEST,
			 "n_params = 500000\nupload_step = 1e-6", "inline_params_max = 8388608\n");
	run_ok(exp);
	for (size_t i = 0; i < N_HONEST; i++) {
		assert_int_equal(node_log_count(i, inline_line) - inline_before[i], inline_expected ? 2 : 0);
		assert_int_equal(node_log_count(i, repository_line) - repository_before[i], inline_expected ? 0 : 2);
	}
}

/* An inline update larger than the researcher's inline_params_max is
 * refused with the limit named, before anything is hashed or written. */
static void test_oversize_inline_update_refused(void **state)
{
	char exp[512];
	const char *record;

	(void)state;
	write_experiment(exp, sizeof(exp), "oversize", harness_plan("logreg"), 2, N_HONEST, "n_features = 30",
			 "inline_params_max = 4096\n");
	record = run_with_mallory(exp, 5000, false, NULL);
	if (!strstr(record, "its update came inline with 5000 bytes; at most 4096 were allowed"))
		fail_msg("mallory's round record: %s", record);
}

/* A node of an earlier version (no inline_params capability) beside nodes
 * that take the global inline: its requests name a global that is in the
 * repository, although the researcher uploads a small global only when a
 * request needs it, in every round. */
static void test_node_without_inline_gets_global_from_repository(void **state)
{
	char exp[512];
	const char *record;
	int fetched = 0;

	(void)state;
	write_experiment(exp, sizeof(exp), "mixed", harness_plan("logreg"), 2, N_HONEST, "n_features = 30", "");
	record = run_with_mallory(exp, 0, true, &fetched);
	assert_int_equal(fetched, 2);
	if (!strstr(record, "reply without an update"))
		fail_msg("mallory's round record: %s", record);
}

/* Sends site-0 a `train` whose inline global parameters do not hash to its
 * params_digest, in the body (v1) or as a v2 envelope's attachment, and
 * returns the node's error reply (the caller frees it). */
static struct fedc_msg *send_tampered_global(bool attached)
{
	static const enum fedc_field fields[] = {
		FEDC_F_PLAN_DIGEST, FEDC_F_JOB_ID, FEDC_F_ROUND, FEDC_F_DATASET_ID, FEDC_F_PARAMS_DIGEST,
		FEDC_F_MODEL_ARGS, FEDC_F_LR, FEDC_F_EPOCHS, FEDC_F_NUM_UPDATES, FEDC_F_BATCH_SIZE,
		FEDC_F_SEED, FEDC_F_TEST_RATIO, FEDC_F_FEDPROX_MU, FEDC_F_OPTIMIZER,
	};
	static const uint8_t bytes[] = "not the parameters the digest names";
	const char *argv[] = { harness_bin("fedc-node"), "--config", H.nodes[0].config, "dataset", "show", "site-0",
			       NULL };
	struct fedc_msg *msg = fedc_msg_new(FEDC_CMD_TRAIN), *reply = calloc(1, sizeof(*reply));
	struct fedc_repo *repo = NULL;
	const char *id;
	void *payload = NULL;
	size_t len = 0;

	assert_non_null(msg);
	assert_non_null(reply);
	assert_int_equal(harness_run(&H, argv, 30, output, sizeof(output)), 0);
	id = strstr(output, "id:           ");
	assert_non_null(id);
	snprintf(msg->dataset_id, sizeof(msg->dataset_id), "%.36s", id + strlen("id:           "));
	assert_int_equal(harness_repo_new(&H, &repo), 0);
	assert_int_equal(fedc_repo_put_file(repo, harness_plan("logreg"), NULL, msg->plan_digest, NULL), FEDC_OK);
	fedc_repo_free(repo);
	/* the digest of other bytes */
	assert_int_equal(fedc_hash_buffer(FEDC_HASH_SHA256, "x", 1, msg->params_digest), FEDC_OK);
	assert_int_equal(fedc_msg_set_params(msg, bytes, sizeof(bytes)), FEDC_OK);
	snprintf(msg->job_id, sizeof(msg->job_id), "0b9a7c1e-0000-4000-8000-00000000000f");
	snprintf(msg->optimizer, sizeof(msg->optimizer), "sgd");
	assert_int_equal(fedc_msg_kv_add(msg->model_args, &msg->n_model_args, FEDC_MAX_ARGS, "n_features", 30),
			 FEDC_OK);
	msg->round = 1;
	msg->lr = 0.1;
	msg->epochs = 1;
	msg->batch_size = 8;
	msg->test_ratio = 0.2;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		fedc_msg_set(msg, fields[i]);
	msg->params_attached = attached;
	while (harness_next_reply(&H, 200, &payload, &len) == 0) /* earlier tests' leftovers */
		free(payload);
	assert_int_equal(harness_send(&H, "site-0", msg), 0);
	assert_int_equal(harness_next_reply(&H, 10000, &payload, &len), 0);
	assert_int_equal(fedc_msg_decode(payload, len, reply), FEDC_OK);
	assert_int_equal(reply->command, FEDC_CMD_ERROR);
	free(payload);
	fedc_msg_free(msg);
	return reply;
}

/* Refused by the node with the reason; nothing runs. In the body (v1) the
 * node hashes the parameters against params_digest; attached (v2) the
 * envelope signs params_digest, so the attachment does not open. */
static void test_tampered_inline_global_refused(void **state)
{
	struct fedc_msg *reply = send_tampered_global(false);

	(void)state;
	assert_string_equal(reply->error_code, "digest-mismatch");
	if (!strstr(reply->message, "the global parameters carried in the message") ||
	    !strstr(reply->message, "not to the"))
		fail_msg("unexpected error: %s", reply->message);
	fedc_msg_free(reply);
	reply = send_tampered_global(true);
	assert_string_equal(reply->error_code, fedc_strerror(FEDC_ERR_AUTH));
	if (!strstr(reply->message, "the attachment") || !strstr(reply->message, "does not hash"))
		fail_msg("unexpected error: %s", reply->message);
	fedc_msg_free(reply);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_model_inline),
		cmocka_unit_test(test_large_model_through_repository),
		cmocka_unit_test(test_large_model_inline_where_the_sockets_allow),
		cmocka_unit_test(test_tampered_inline_global_refused),
		cmocka_unit_test(test_tampered_inline_update_refused),
		cmocka_unit_test(test_oversize_inline_update_refused),
		cmocka_unit_test(test_node_without_inline_gets_global_from_repository),
		cmocka_unit_test(test_envelope_v2_node_still_served),
		cmocka_unit_test(test_updates_read_from_the_store),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
