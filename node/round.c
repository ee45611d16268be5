/* The round worker: download, verify approval, train in the sandbox, upload,
 * reply. One round at a time; requests queue in arrival order. */
#define _GNU_SOURCE /* memfd_create */
#include "round.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "assess.h"
#include "dataset.h"
#include "fedc/clock.h"
#include "fedc/crash.h"
#include "fedc/fs.h"
#include "fedc/inline_params.h"
#include "fedc/log.h"
#include "job_log.h"
#include "plan_digest.h"
#include "plan_requests.h"
#include "round_privacy.h"
#include "sandbox.h"
#include "local_params.h"
#include "node_metrics.h"
#include "scaffold_client.h"
#include "secagg_client.h"

#define SEEN_IDS 1024            /* request ids remembered for deduplication */
/* How long a masking node waits for the others' shares after training:
 * the researcher ends the wait sooner with `abort`. */
#define SECAGG_SHARES_WAIT_MS (10 * 60 * 1000)
#define SCALARS_PER_SECOND 4     /* live progress messages per round, at most */

struct pending {
	struct fedc_msg *msg;
	struct pending *next;
};

struct round_worker {
	struct node_daemon *d;
	/* What the worker does with each request: run_round, or
	 * run_plan_request. */
	enum fedc_err (*run)(struct round_worker *w, const struct fedc_msg *req);
	struct node_db *db;      /* the worker thread's own handle, opened at its first request */
	struct fedc_repo *repo;  /* the worker thread's own handle */
	struct sandbox *sandbox; /* the plan process kept between a job's rounds; NULL in the plan worker */
	struct plan_store_memo plan_memo; /* the kept plan last found intact (plan_store.h) */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct pending *head, *tail;
	bool stopping;
	volatile int cancel;     /* read by sandbox__run while a plan runs */
	char seen[SEEN_IDS][FEDC_UUID_STRLEN + 1];
	size_t seen_next;
};

/* What the scalar callback needs to stream progress for the current round. */
struct scalar_ctx {
	struct round_worker *w;
	const struct fedc_msg *request;
	double last_sent;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t fnv1a(const char *text)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *p = text; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t mix(uint64_t a, uint64_t b)
{
	uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t round__split_seed(uint64_t seed, const char *data_digest)
{
	return mix(seed, fnv1a(data_digest));
}

uint64_t round__train_seed(uint64_t seed, uint64_t round, const char *node_id)
{
	return mix(mix(seed, round), fnv1a(node_id));
}

static void on_scalar(void *ctx, const char *name, double value, uint64_t iteration, uint32_t epoch)
{
	struct scalar_ctx *sc = ctx;
	struct fedc_msg *msg;
	double now = now_s();

	if (now - sc->last_sent < 1.0 / SCALARS_PER_SECOND)
		return;
	msg = fedc_msg_reply(sc->request, FEDC_CMD_SCALAR, sc->w->d->cfg->node_id);
	if (!msg)
		return;
	sc->last_sent = now;
	snprintf(msg->job_id, sizeof(msg->job_id), "%s", sc->request->job_id);
	msg->round = sc->request->round;
	snprintf(msg->name, sizeof(msg->name), "%s", name);
	msg->value = value;
	msg->iteration = iteration;
	msg->epoch = epoch;
	fedc_msg_set(msg, FEDC_F_JOB_ID);
	fedc_msg_set(msg, FEDC_F_ROUND);
	fedc_msg_set(msg, FEDC_F_NAME);
	fedc_msg_set(msg, FEDC_F_VALUE);
	fedc_msg_set(msg, FEDC_F_ITERATION);
	fedc_msg_set(msg, FEDC_F_EPOCH);
	/* A lost progress report costs nothing but a line of the researcher's
	 * live view; daemon__send logs it. */
	fedc_ignore(daemon__send(sc->w->d, msg));
	fedc_msg_free(msg);
}

/* Refuses the plan at `plan_path` unless its digest is approved here (or the
 * operator allowed any plan), with a reply that says how to approve it. */
static enum fedc_err check_approval(struct round_worker *w, const struct fedc_msg *req, const char *plan_path)
{
	struct node_plan plan;
	enum fedc_err rc = plan_digest__find(w->db, plan_path, req->plan_digest, &plan);
	const char *status;

	if (rc == FEDC_OK && plan.status == NODE_PLAN_APPROVED)
		return FEDC_OK;
	if (rc != FEDC_OK && rc != FEDC_ERR_NOT_FOUND)
		return rc;
	if (w->d->cfg->allow_unapproved_plans) {
		fedc_warn("round: running plan %s WITHOUT approval (allow_unapproved_plans = true)",
			  req->plan_digest);
		return FEDC_OK;
	}
	status = rc == FEDC_OK ? db__plan_status_name(plan.status) : "unknown";
	if (rc != FEDC_OK && plan_digest__fill(w->d->cfg->plan_digest, plan_path, &plan) != FEDC_OK)
		return FEDC_ERR_IO;
	return fedc_fail(FEDC_ERR_UNAPPROVED,
			 "training plan %s is not approved on node %s (status: %s); its operator can approve it "
			 "with: fedc-node plan approve %s%s",
			 req->plan_digest, w->d->cfg->node_id, status, plan.digest,
			 rc == FEDC_OK ? "" : " (send an `approval` request first to register it)");
}

/* fedc_msg_kv_add cannot fail here: a plan's report holds at most as many
 * metrics as a reply, with names shorter than a reply's (asserted below). */
_Static_assert(FEDC_PLAN_MAX_METRICS <= FEDC_MAX_METRICS, "a reply holds every metric of a plan");
_Static_assert(FEDC_PLAN_METRIC_NAME_LEN <= FEDC_MAX_NAME_LEN + 1, "a reply holds every metric name");

static void fill_reply_metrics(struct fedc_msg *reply, const struct sandbox_result *res)
{
	for (size_t i = 0; i < res->local_metrics.count; i++)
		fedc_ignore(fedc_msg_kv_add(reply->metrics, &reply->n_metrics, FEDC_MAX_METRICS,
					    res->local_metrics.items[i].name, res->local_metrics.items[i].value));
	for (size_t i = 0; i < res->global_metrics.count; i++)
		fedc_ignore(fedc_msg_kv_add(reply->global_metrics, &reply->n_global_metrics, FEDC_MAX_METRICS,
					    res->global_metrics.items[i].name, res->global_metrics.items[i].value));
	fedc_msg_set(reply, FEDC_F_METRICS);
	fedc_msg_set(reply, FEDC_F_GLOBAL_METRICS);
}

/* The update as it leaves the node: its digest, and its bytes when it rides
 * in the reply (docs/protocol.md, "Parameters inline"). */
struct update_out {
	char digest[FEDC_SHA256_HEXLEN + 1];
	uint8_t *inline_bytes; /* owned; NULL: uploaded to the repository */
	size_t inline_len;
};

static enum fedc_err send_train_reply(struct round_worker *w, const struct fedc_msg *req,
				      const struct sandbox_result *res, const struct update_out *update,
				      const double times[3], const struct round_privacy *rp,
				      const struct fedc_buf *assessed)
{
	struct fedc_msg *reply = fedc_msg_reply(req, FEDC_CMD_TRAIN_REPLY, w->d->cfg->node_id);
	enum fedc_err rc = FEDC_OK;

	if (!reply)
		return FEDC_ERR_NOMEM;
	reply->params_attached = req->params_attached; /* v2 only to a researcher that sent v2 */
	/* Under the train's session (v3), or with this node's half of the
	 * session that a signed train offered (daemon.c, agree_session). */
	reply->via_session = req->via_session;
	if (req->via_session)
		reply->session = req->session;
	else if (fedc_msg_has(req, FEDC_F_SESSION_KX))
		rc = fedc_msg_set_session_kx(reply, req->session_kx);
	if (!rc && update && update->inline_bytes)
		rc = fedc_msg_borrow_params(reply, update->inline_bytes, update->inline_len); /* freed after it */
	if (!rc && assessed->len)
		rc = fedc_msg_set_assess_result(reply, assessed->data, assessed->len);
	if (rc) {
		fedc_msg_free(reply);
		return rc;
	}
	snprintf(reply->job_id, sizeof(reply->job_id), "%s", req->job_id);
	snprintf(reply->dataset_id, sizeof(reply->dataset_id), "%s", req->dataset_id);
	reply->round = req->round;
	/* With secure aggregation the count travels inside the masked vector. */
	reply->n_samples = req->secagg ? 0 : res->n_train;
	reply->n_test = res->n_test;
	reply->download_s = times[0];
	reply->train_s = times[1];
	reply->upload_s = times[2];
	fedc_msg_set(reply, FEDC_F_JOB_ID);
	fedc_msg_set(reply, FEDC_F_DATASET_ID);
	fedc_msg_set(reply, FEDC_F_ROUND);
	fedc_msg_set(reply, FEDC_F_N_SAMPLES);
	fedc_msg_set(reply, FEDC_F_N_TEST);
	fedc_msg_set(reply, FEDC_F_DOWNLOAD_S);
	fedc_msg_set(reply, FEDC_F_TRAIN_S);
	fedc_msg_set(reply, FEDC_F_UPLOAD_S);
	if (update) {
		snprintf(reply->params_digest, sizeof(reply->params_digest), "%s", update->digest);
		fedc_msg_set(reply, FEDC_F_PARAMS_DIGEST);
	}
	fill_reply_metrics(reply, res);
	round_privacy__reply(w->d, rp, reply);
	rc = daemon__send(w->d, reply);
	fedc_msg_free(reply);
	return rc;
}

static void fill_job(const struct fedc_msg *req, const struct node_dataset *ds, const char *plan_path,
		     int params_fd, const struct fedc_args *args, const struct node_daemon *d,
		     struct sandbox_job *job)
{
	const struct node_config *cfg = d->cfg;

	memset(job, 0, sizeof(*job));
	job->plan_path = plan_path;
	job->params_fd = params_fd;
	job->dataset = ds;
	job->stratified = strcmp(ds->split, "stratified") == 0;
	job->test_ratio = req->test_ratio;
	/* Everything follows from the experiment seed, so a run is reproducible:
	 * the held-out rows depend on the seed and the data's content (the same
	 * rows in every round), the shuffling also on the round and the node,
	 * and on the node's secret key (secret_training_seed): the researcher
	 * then cannot regenerate the plan's randomness, DP-SGD noise included,
	 * while a resumed experiment still repeats bit for bit. */
	job->split_seed = round__split_seed(req->seed, ds->digest);
	job->model_args = args;
	job->train_args.lr = req->lr;
	job->train_args.epochs = (uint32_t)req->epochs;
	job->train_args.num_updates = (uint32_t)req->num_updates;
	job->train_args.batch_size = (uint32_t)(req->batch_size ? req->batch_size : 32);
	job->train_args.seed = round__train_seed(req->seed, req->round, cfg->node_id);
	if (cfg->secret_training_seed)
		job->train_args.seed ^= d->train_seed_key;
	job->train_args.fedprox_mu = req->fedprox_mu;
	job->train_args.optimizer = req->optimizer[0] ? req->optimizer : "sgd";
	job->evaluate_only = req->evaluate_only;
	job->skip_test_global = fedc_msg_has(req, FEDC_F_TEST_ON_GLOBAL) && !req->test_on_global;
	job->skip_test_local = fedc_msg_has(req, FEDC_F_TEST_ON_LOCAL) && !req->test_on_local;
	/* A plan process serves one researcher's job on one dataset with one plan. */
	job->keep_process = cfg->plan_process_idle_s > 0;
	job->timeout_s = cfg->train_timeout_s;
	job->cpu_seconds = cfg->cpu_seconds;
	job->memory_mb = cfg->memory_mb;
}

/* Downloads what the round needs: the plan (kept by digest), which must be
 * approved, and the global parameters, into the sandbox's memfd: they live
 * for one round, so a file and its fsync would buy nothing. Parameters the
 * request carries inline are checked against params_digest instead of
 * downloaded (by the channel already when they came as an attachment). */
static enum fedc_err fetch_inputs(struct round_worker *w, const struct fedc_msg *req, char *plan_path,
				  size_t plan_cap, int *params_fd)
{
	enum fedc_err rc = daemon__fetch_plan(w->d, w->repo, req->plan_digest, &w->plan_memo, plan_path, plan_cap);

	if (!rc)
		rc = check_approval(w, req, plan_path);
	if (rc)
		return rc;
	*params_fd = sandbox__global_memfd(w->sandbox);
	if (*params_fd < 0)
		return FEDC_ERR_IO;
	if (fedc_msg_has(req, FEDC_F_PARAMS)) {
		/* an attachment was checked against params_digest when it was opened */
		rc = req->params_attached ? FEDC_OK
					  : fedc_inline_params_check(req->params, req->params_len, req->params_digest,
								     "the global parameters");
		return rc ? rc : fedc_inline_params_write_fd(*params_fd, req->params, req->params_len,
							       "the global parameters");
	}
	rc = fedc_repo_get_fd(w->repo, req->params_digest, *params_fd, (uint64_t)w->d->cfg->max_blob_mb << 20);
	if (rc)
		return fedc_fail(rc, "cannot download the global parameters %s: %s", req->params_digest,
				 fedc_last_error());
	return fedc_fd_cut_here(*params_fd, "the global parameters");
}

/* SCAFFOLD's c_i, one file per job, dataset and round it was reached in:
 * round r reads the latest of an earlier round and writes its own, so a
 * round run again (a retry, a resumed researcher) starts from the same c_i. */
struct scaffold_files {
	char read[NODE_PATH_MAX], write[NODE_PATH_MAX];
};

static enum fedc_err scaffold_files(struct round_worker *w, const struct fedc_msg *req, struct scaffold_files *f)
{
	char prefix[2 * FEDC_MAX_ID_LEN + 8];
	uint64_t best = 0;
	struct dirent *e;
	DIR *dir;

	snprintf(prefix, sizeof(prefix), "%s__%s.r", req->job_id, req->dataset_id);
	if ((size_t)snprintf(f->write, sizeof(f->write), "%s/%s%" PRIu64 ".params", w->d->scaffold_dir, prefix,
			     req->round) >= sizeof(f->write))
		return fedc_fail(FEDC_ERR_CONFIG, "data_dir path too long");
	/* none yet: a file that does not exist, which reads as zeros */
	if ((size_t)snprintf(f->read, sizeof(f->read), "%s/%s0.params", w->d->scaffold_dir, prefix) >= sizeof(f->read))
		return fedc_fail(FEDC_ERR_CONFIG, "data_dir path too long");
	dir = opendir(w->d->scaffold_dir);
	while (dir && (e = readdir(dir))) {
		unsigned long long r;
		char tail[16];

		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
		    sscanf(e->d_name + strlen(prefix), "%llu%15s", &r, tail) == 2 && strcmp(tail, ".params") == 0 &&
		    r < req->round && r >= best &&
		    (size_t)snprintf(f->read, sizeof(f->read), "%s/%s", w->d->scaffold_dir, e->d_name) < sizeof(f->read))
			best = r;
	}
	if (dir)
		closedir(dir);
	return FEDC_OK;
}

/* Sends the update on its way: inside the reply when the researcher allows it
 * and it fits (never a masked one: secure aggregation keeps the repository
 * path, whose per-node access the protocol's unmask step relies on), else
 * uploaded to the repository. The store de-duplicates by content, so the
 * PUT needs no HEAD before it. */
static enum fedc_err send_update(struct round_worker *w, const struct fedc_msg *req, int fd, struct update_out *out)
{
	size_t max = req->secagg ? 0 : (size_t)req->inline_params_max, own = daemon__inline_params_max(w->d);
	enum fedc_err rc = FEDC_ERR_TOO_BIG;

	if (max > own) /* what this node's connection carries now (a reconnection may change it) */
		max = own;
	if (max > 0)
		rc = fedc_inline_params_read_fd(fd, max, &out->inline_bytes, &out->inline_len, out->digest);
	if (rc == FEDC_OK)
		fedc_crash_point("upload-body"); /* the update on its way, as half-way through a PUT */
	if (rc != FEDC_ERR_TOO_BIG)
		return rc ? fedc_fail(rc, "the update: %s", fedc_last_error()) : FEDC_OK;
	rc = fedc_repo_put_update_fd(w->repo, w->d->cfg->node_id, fd, NULL, out->digest, NULL);
	return rc ? fedc_fail(rc, "cannot upload the update: %s", fedc_last_error()) : FEDC_OK;
}

/* Secure aggregation: the keys go out before anything else, so that the
 * key and share steps run while the plan trains. */
static enum fedc_err start_secagg(struct round_worker *w, const struct fedc_msg *req)
{
	struct fedc_msg *keys = NULL;
	enum fedc_err rc = secagg_client__begin(w->d->secagg, req, &keys);

	if (!rc)
		rc = daemon__send(w->d, keys);
	fedc_msg_free(keys);
	if (!rc)
		fedc_crash_point("secagg-keys");
	return rc ? fedc_fail(rc, "secure aggregation: %s", fedc_last_error()) : FEDC_OK;
}

/* The update, masked, in the secure-aggregation client's memfd (*out_fd,
 * not the caller's to close). Its weight is the training count, or 1 when
 * the experiment asks every node to weigh the same (secagg_weight_max 1:
 * SCAFFOLD, differential privacy) -- 0 either way for a node that trained
 * on no row, which then adds nothing to the sum. */
static enum fedc_err mask_update(struct round_worker *w, const struct fedc_msg *req,
				 const struct sandbox_result *res, int *out_fd)
{
	uint64_t weight = req->secagg_weight_max == 1 && res->n_train > 1 ? 1 : res->n_train;
	enum fedc_err rc = secagg_client__mask(w->d->secagg, req, res->params_fd, weight, SECAGG_SHARES_WAIT_MS,
					       &w->cancel, out_fd);

	if (!rc)
		fedc_crash_point("secagg-masked");
	return rc ? fedc_fail(rc, "secure aggregation: %s", fedc_last_error()) : FEDC_OK;
}

static enum fedc_err run_round(struct round_worker *w, const struct fedc_msg *req)
{
	char plan_path[NODE_PATH_MAX];
	struct update_out update = { .inline_bytes = NULL };
	int params_fd = -1, masked_fd = -1;
	struct fedc_arg args[FEDC_MAX_ARGS];
	struct fedc_args model_args = { args, req->n_model_args };
	struct scalar_ctx sc = { w, req, 0 };
	struct sandbox_result res;
	struct sandbox_job job;
	struct node_dataset ds, test_set;
	struct scaffold_files scaffold;
	struct round_privacy rp = { 0 };
	struct local_kept kept = { 0 };
	struct assess_request assess;
	struct fedc_buf assessed;
	bool has_test_set = false;
	char session[2 * FEDC_MAX_ID_LEN + 2];
	double t0 = now_s(), times[3] = { 0, 0, 0 };
	enum fedc_err rc;

	fedc_info("round: job %s round %" PRIu64 " starts for researcher %s", req->job_id, req->round,
		  req->researcher_id);
	res.params_fd = -1;
	fedc_buf_init(&assessed, FEDC_MAX_ASSESS_RESULT);
	rc = assess__parse(req, &assess);
	if (rc)
		goto fail;
	if (req->secagg && !req->evaluate_only) {
		rc = start_secagg(w, req);
		if (rc)
			goto fail;
	}
	rc = scaffold_files(w, req, &scaffold);
	if (!rc)
		rc = db__dataset_get(w->db, req->dataset_id, &ds);
	if (rc) {
		rc = fedc_fail(rc, "dataset %s: %s", req->dataset_id,
			       rc == FEDC_ERR_NOT_FOUND ? "not registered on this node" : fedc_last_error());
		goto fail;
	}
	if (ds.test_of[0]) {
		rc = fedc_fail(FEDC_ERR_INVAL, "dataset %s is registered as the test set of dataset %s: train on that one",
			       req->dataset_id, ds.test_of);
		goto fail;
	}
	rc = db__dataset_test_set(w->db, ds.id, &test_set);
	has_test_set = rc == FEDC_OK;
	if (rc == FEDC_ERR_NOT_FOUND)
		rc = FEDC_OK;
	if (rc)
		goto fail;
	rc = round_privacy__admit(w->d, w->db, req, &rp);
	if (!rc)
		rc = fetch_inputs(w, req, plan_path, sizeof(plan_path), &params_fd);
	if (!rc)
		rc = round_privacy__map_global(&rp, params_fd);
	if (rc)
		goto fail;
	times[0] = now_s() - t0;
	for (uint32_t i = 0; i < req->n_model_args; i++)
		args[i] = (struct fedc_arg){ req->model_args[i].name, req->model_args[i].value };
	fill_job(req, &ds, plan_path, params_fd, &model_args, w->d, &job);
	job.test_dataset = has_test_set ? &test_set : NULL;
	job.on_scalar = on_scalar;
	job.ctx = &sc;
	job.scaffold_state = scaffold.read;
	snprintf(session, sizeof(session), "%s/%s", req->researcher_id, req->job_id);
	job.session = session;
	job.assess_kind = assess.kind;
	job.assess_repeats = assess.repeats;
	job.assess_metric = assess.metric;
	job.assess_seed = job.split_seed;
	job.assess_args = assess.args;
	rc = sandbox__run(w->sandbox, &job, &w->cancel, &res);
	times[1] = now_s() - t0 - times[0];
	if (rc) {
		rc = fedc_fail(rc, "%s", res.error);
		goto fail;
	}

	if (assess.kind[0]) {
		rc = assess__finish(&assess, req, w->d->cfg->data_dir, has_test_set && assess.kind[0] != 'p' ? &test_set : &ds,
				    res.params_fd, &assessed);
		if (rc) {
			rc = fedc_fail(rc, "%s: %s", assess.kind, fedc_last_error());
			goto fail;
		}
	}
	if (!req->evaluate_only) {
		/* FedBN's local tensors stay here (local_params.h); then the
		 * node's DP noise, then the masks over the noisy update */
		rc = local_params__take(&res.params_fd, &kept);
		if (rc)
			rc = fedc_fail(rc, "the plan's update: %s", fedc_last_error());
		if (!rc)
			rc = round_privacy__release(w->d, w->db, req, &rp, res.n_train, &res.params_fd);
		if (!rc && req->secagg)
			rc = mask_update(w, req, &res, &masked_fd);
		if (rc)
			goto fail;
		rc = send_update(w, req, masked_fd >= 0 ? masked_fd : res.params_fd, &update);
		if (rc)
			goto fail;
		/* c_i and local tensors advance only with a round that reached the researcher. */
		rc = scaffold__save_state(res.params_fd, scaffold.read, scaffold.write, kept.tensors, kept.n);
		if (rc)
			goto fail;
	}
	times[2] = now_s() - t0 - times[0] - times[1];
	rc = send_train_reply(w, req, &res, req->evaluate_only ? NULL : &update, times, &rp, &assessed);
	if (!rc && req->secagg)
		fedc_crash_point("secagg-replied");
	fedc_info("round: job %s round %" PRIu64 " done for %s: %" PRIu64 " samples, %.3f s; global %s, update %s, "
		  "envelope v%d",
		  req->job_id, req->round, req->researcher_id, res.n_train, now_s() - t0,
		  fedc_msg_has(req, FEDC_F_PARAMS) ? "inline" : "from the repository",
		  req->evaluate_only ? "none" : update.inline_bytes ? "inline" : "to the repository",
		  req->via_session ? 3 : req->params_attached ? 2 : 1);
	goto out;
fail:
	fedc_warn("round: job %s round %" PRIu64 " failed: %s: %s", req->job_id, req->round, fedc_strerror(rc),
		  fedc_last_error());
	/* The round already failed with rc (logged above); a reply that cannot
	 * be sent is logged by daemon__send and ends in the researcher's timeout. */
	fedc_ignore(daemon__send_error(w->d, req, rc, "%s", fedc_last_error()));
out:
	node_metrics__round_end(rc, req->evaluate_only);
	job_log__round(w->db, req, rc, rc ? 0 : res.n_train, now_s() - t0); /* the console's jobs page */
	fedc_buf_free(&assessed);
	free(update.inline_bytes);
	local_kept__free(&kept);
	round_privacy__end(&rp);
	if (res.params_fd >= 0)
		close(res.params_fd);
	return rc; /* masked_fd is the secure-aggregation client's */
}

/* Waits for a request; meanwhile ends the plan process kept from the last
 * round once it has been idle for plan_process_idle_s. */
static void wait_for_request(struct round_worker *w)
{
	int64_t idle_ms = w->d->cfg->plan_process_idle_s * 1000, left;

	while (!w->head && !w->stopping) {
		struct timespec until;

		pthread_mutex_unlock(&w->lock);
		left = sandbox__retire_idle(w->sandbox, idle_ms);
		pthread_mutex_lock(&w->lock);
		if (w->head || w->stopping)
			return;
		if (left < 0) {
			pthread_cond_wait(&w->wake, &w->lock);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		fedc_timespec_add_ms(&until, left + 1000); /* a second past it: the process is idle by then */
		pthread_cond_timedwait(&w->wake, &w->lock, &until);
	}
}

static struct fedc_msg *next_request(struct round_worker *w)
{
	struct pending *p;
	struct fedc_msg *msg = NULL;

	pthread_mutex_lock(&w->lock);
	wait_for_request(w);
	p = w->head;
	if (p && !w->stopping) {
		w->head = p->next;
		if (!w->head)
			w->tail = NULL;
		msg = p->msg;
		free(p);
	}
	pthread_mutex_unlock(&w->lock);
	return msg;
}

/* The worker's database connection, opened at its first request rather
 * than at start: an idle daemon then holds one connection, not three
 * (sqlite's per-connection memory, about 0.33 MB of RSS for the two;
 * docs/benchmarks.md, "Idle node RSS"). The daemon checked the database at
 * start with its own connection. */
static enum fedc_err worker_db(struct round_worker *w)
{
	if (w->db)
		return FEDC_OK;
	return db__open(w->d->cfg->db_path, &w->db);
}

static void *worker_main(void *arg)
{
	struct round_worker *w = arg;
	struct fedc_msg *msg;

	while ((msg = next_request(w))) {
		enum fedc_err rc = worker_db(w);

		if (rc == FEDC_OK)
			(void)w->run(w, msg);
		else /* best effort: daemon__send logs a failure */
			fedc_ignore(daemon__send_error(w->d, msg, rc, "cannot open the node database: %s",
						       fedc_last_error()));
		fedc_msg_free(msg);
	}
	return NULL;
}

static enum fedc_err run_plan_request(struct round_worker *w, const struct fedc_msg *req)
{
	return plan_requests__answer(w->d, w->db, w->repo, req);
}

static enum fedc_err start_worker(struct node_daemon *d, enum fedc_err (*run)(struct round_worker *w,
									 const struct fedc_msg *req),
				  bool sandbox, struct round_worker **out)
{
	struct round_worker *w = calloc(1, sizeof(*w));
	enum fedc_err rc = FEDC_OK;

	*out = NULL;
	if (!w)
		return FEDC_ERR_NOMEM;
	w->d = d;
	w->run = run;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	if (sandbox) {
		w->sandbox = sandbox__new();
		rc = w->sandbox ? FEDC_OK : FEDC_ERR_NOMEM;
	}
	if (!rc)
		rc = daemon__repo_new(d, &w->repo);
	if (!rc && pthread_create(&w->thread, NULL, worker_main, w) != 0)
		rc = fedc_fail(FEDC_ERR_NOMEM, "cannot start a worker thread");
	if (rc) {
		fedc_repo_free(w->repo);
		db__close(w->db);
		sandbox__free(w->sandbox);
		free(w);
		return rc;
	}
	*out = w;
	return FEDC_OK;
}

enum fedc_err round__start(struct node_daemon *d, struct round_worker **out)
{
	return start_worker(d, run_round, true, out);
}

enum fedc_err round__start_plan_worker(struct node_daemon *d, struct round_worker **out)
{
	return start_worker(d, run_plan_request, false, out);
}

static bool seen_before(struct round_worker *w, const char *request_id)
{
	for (size_t i = 0; i < SEEN_IDS; i++) {
		if (strcmp(w->seen[i], request_id) == 0)
			return true;
	}
	snprintf(w->seen[w->seen_next], sizeof(w->seen[0]), "%s", request_id);
	w->seen_next = (w->seen_next + 1) % SEEN_IDS;
	return false;
}

enum fedc_err round__submit(struct round_worker *w, struct fedc_msg *msg)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p) {
		fedc_msg_free(msg);
		return FEDC_ERR_NOMEM;
	}
	pthread_mutex_lock(&w->lock);
	if (seen_before(w, msg->request_id)) {
		pthread_mutex_unlock(&w->lock);
		fedc_info("duplicate %s request %s ignored", fedc_cmd_name(msg->command), msg->request_id);
		fedc_msg_free(msg);
		free(p);
		return FEDC_ERR_EXISTS;
	}
	p->msg = msg;
	if (w->tail)
		w->tail->next = p;
	else
		w->head = p;
	w->tail = p;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	return FEDC_OK;
}

void round__stop(struct round_worker *w)
{
	struct pending *p;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	w->cancel = 1;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	while ((p = w->head)) {
		w->head = p->next;
		/* Best effort while shutting down: daemon__send logs a failure. */
		fedc_ignore(daemon__send_error(w->d, p->msg, FEDC_ERR_INTERRUPTED,
					       "the node is shutting down; request not run"));
		fedc_msg_free(p->msg);
		free(p);
	}
	sandbox__free(w->sandbox);
	fedc_repo_free(w->repo);
	db__close(w->db);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->wake);
	free(w);
}
