/* The experiment loop. A round: send `train` to every participant, wait until
 * each answered, failed (error reply, went offline) or the round deadline
 * passed, download the updates as replies arrive, then aggregate what arrived
 * -- in node-id order, so arrival order never changes the result -- if at
 * least min_nodes answered. */
#include "job.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aggregator.h"
#include "fedc/log.h"
#include "fedc/params.h"
#include "fedc/repo.h"
#include "fedc/uuid.h"
#include "history.h"
#include "initial_params.h"
#include "progress.h"
#include "session.h"

#define MAX_PARTICIPANTS 1024

enum part_state { PART_WAITING, PART_ANSWERED, PART_FAILED };

struct participant {
	char node_id[FEDC_MAX_ID_LEN + 1];
	char dataset_id[FEDC_MAX_ID_LEN + 1];
	uint64_t n_samples;
	/* this round */
	char request_id[FEDC_UUID_STRLEN + 1];
	enum part_state state;
	const char *status; /* history status word */
	char reason[FEDC_MAX_TEXT_LEN + 1];
	struct fedc_msg *reply;
	char update_path[EXP_PATH_MAX + 2 * FEDC_MAX_ID_LEN + 64];
};

struct job {
	const struct experiment *exp;
	struct session session;
	struct fedc_repo *repo;
	struct history *history;
	struct aggregator *agg;
	char job_id[FEDC_UUID_STRLEN + 1];
	char plan_digest[FEDC_SHA256_HEXLEN + 1];
	char global_path[EXP_PATH_MAX + 64];
	char global_digest[FEDC_SHA256_HEXLEN + 1];
	char updates_dir[EXP_PATH_MAX + 64];
	struct participant parts[MAX_PARTICIPANTS];
	size_t n_parts;
	struct progress *progress; /* the live view of the round */
};

static struct session *volatile signal_session;
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
	if (signal_session)
		session__interrupt(signal_session);
}

static double now_s(void)
{
	return (double)session__now_ms() / 1000.0;
}

/* ---- discovery ---- */

static int compare_parts(const void *a, const void *b)
{
	return strcmp(((const struct participant *)a)->node_id, ((const struct participant *)b)->node_id);
}

static void add_participant(struct job *j, const struct fedc_msg *reply)
{
	struct participant *p;

	for (size_t i = 0; i < j->n_parts; i++) {
		if (strcmp(j->parts[i].node_id, reply->node_id) == 0)
			return; /* a duplicate delivery */
	}
	if (reply->n_datasets == 0 || j->n_parts >= MAX_PARTICIPANTS)
		return;
	if (reply->n_datasets > 1)
		fedc_info("node %s offers %u matching datasets; using %s", reply->node_id, reply->n_datasets,
			  reply->datasets[0].name);
	p = &j->parts[j->n_parts++];
	memset(p, 0, sizeof(*p));
	snprintf(p->node_id, sizeof(p->node_id), "%s", reply->node_id);
	snprintf(p->dataset_id, sizeof(p->dataset_id), "%s", reply->datasets[0].dataset_id);
	p->n_samples = reply->datasets[0].n_samples;
}

static void on_search_reply(void *ctx, struct fedc_msg *reply)
{
	if (reply->command == FEDC_CMD_SEARCH_REPLY)
		add_participant(ctx, reply);
	else
		fedc_warn("node %s could not search its datasets: %s", reply->node_id, reply->message);
	fedc_msg_free(reply);
}

/* Broadcasts `search` and collects replies until every online node answered
 * or the discovery timeout passes. */
static enum fedc_err discover(struct job *j)
{
	const struct experiment *exp = j->exp;
	struct fedc_msg *req = fedc_msg_new(FEDC_CMD_SEARCH);
	size_t replies = 0;
	enum fedc_err rc;

	if (!req)
		return FEDC_ERR_NOMEM;
	snprintf(req->researcher_id, sizeof(req->researcher_id), "%s", exp->researcher_id);
	fedc_msg_set(req, FEDC_F_RESEARCHER_ID);
	memcpy(req->tags, exp->tags, sizeof(exp->tags));
	req->n_tags = exp->n_tags;
	fedc_msg_set(req, FEDC_F_TAGS);
	rc = session__gather(&j->session, req, FEDC_CMD_SEARCH_REPLY,
			     session__now_ms() + exp->discovery_timeout_s * 1000, on_search_reply, j, &replies);
	fedc_msg_free(req);
	if (rc)
		return rc;
	qsort(j->parts, j->n_parts, sizeof(j->parts[0]), compare_parts);
	if (j->n_parts < exp->min_nodes)
		return fedc_fail(FEDC_ERR_NOT_FOUND,
				 "found %zu node(s) with a dataset tagged as asked (%zu answered the search); "
				 "min_nodes is %u",
				 j->n_parts, replies, exp->min_nodes);
	return FEDC_OK;
}

/* ---- one round ---- */

static void fill_train(const struct job *j, const struct participant *p, uint32_t round,
		       bool evaluate_only, struct fedc_msg *m)
{
	const struct experiment *exp = j->exp;
	static const enum fedc_field fields[] = {
		FEDC_F_RESEARCHER_ID, FEDC_F_JOB_ID, FEDC_F_ROUND, FEDC_F_DATASET_ID, FEDC_F_PLAN_DIGEST,
		FEDC_F_PARAMS_DIGEST, FEDC_F_MODEL_ARGS, FEDC_F_LR, FEDC_F_EPOCHS, FEDC_F_NUM_UPDATES,
		FEDC_F_BATCH_SIZE, FEDC_F_SEED, FEDC_F_TEST_RATIO, FEDC_F_FEDPROX_MU, FEDC_F_OPTIMIZER,
		FEDC_F_EVALUATE_ONLY,
	};

	snprintf(m->researcher_id, sizeof(m->researcher_id), "%s", exp->researcher_id);
	snprintf(m->job_id, sizeof(m->job_id), "%s", j->job_id);
	m->round = round;
	snprintf(m->dataset_id, sizeof(m->dataset_id), "%s", p->dataset_id);
	snprintf(m->plan_digest, sizeof(m->plan_digest), "%s", j->plan_digest);
	snprintf(m->params_digest, sizeof(m->params_digest), "%s", j->global_digest);
	memcpy(m->model_args, exp->model_args, sizeof(exp->model_args));
	m->n_model_args = exp->n_model_args;
	m->lr = exp->lr;
	m->epochs = exp->epochs;
	m->num_updates = exp->num_updates;
	m->batch_size = exp->batch_size;
	m->seed = exp->seed; /* the node derives its per-round and split seeds from it */
	m->test_ratio = exp->test_ratio;
	m->fedprox_mu = exp->fedprox_mu;
	snprintf(m->optimizer, sizeof(m->optimizer), "%s", exp->optimizer);
	m->evaluate_only = evaluate_only;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		fedc_msg_set(m, fields[i]);
}

static void fail_part(struct participant *p, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_part(struct participant *p, const char *status, const char *fmt, ...)
{
	va_list ap;

	p->state = PART_FAILED;
	p->status = status;
	va_start(ap, fmt);
	vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
	va_end(ap);
}

static void reset_part(struct participant *p)
{
	fedc_msg_free(p->reply);
	p->reply = NULL;
	p->state = PART_WAITING;
	p->status = "waiting";
	p->reason[0] = '\0';
	p->update_path[0] = '\0';
	p->request_id[0] = '\0';
}

static enum fedc_err send_requests(struct job *j, uint32_t round, bool evaluate_only)
{
	for (size_t i = 0; i < j->n_parts; i++) {
		struct participant *p = &j->parts[i];
		struct fedc_msg *m = fedc_msg_new(FEDC_CMD_TRAIN);
		enum fedc_err rc;

		if (!m)
			return FEDC_ERR_NOMEM;
		reset_part(p);
		fill_train(j, p, round, evaluate_only, m);
		snprintf(p->request_id, sizeof(p->request_id), "%s", m->request_id);
		if (!session__online(&j->session, p->node_id)) {
			fail_part(p, "offline", "node is offline");
			fedc_msg_free(m);
			continue;
		}
		rc = session__send(&j->session, p->node_id, m);
		if (rc)
			fail_part(p, "error", "cannot send train: %s", fedc_last_error());
		fedc_msg_free(m);
	}
	return FEDC_OK;
}

static struct participant *find_by_request(struct job *j, const char *request_id)
{
	for (size_t i = 0; i < j->n_parts; i++) {
		if (strcmp(j->parts[i].request_id, request_id) == 0)
			return &j->parts[i];
	}
	return NULL;
}

/* A train-reply: download the update now, while other nodes still train. */
static void on_train_reply(struct job *j, struct participant *p, struct fedc_msg *msg, bool evaluate_only)
{
	enum fedc_err rc;

	if (strcmp(msg->node_id, p->node_id) != 0 || strcmp(msg->job_id, j->job_id) != 0) {
		fedc_warn("reply for %s came from %s for job %s: ignored", p->node_id, msg->node_id, msg->job_id);
		fedc_msg_free(msg);
		return;
	}
	p->reply = msg;
	if (!evaluate_only) {
		if (!fedc_msg_has(msg, FEDC_F_PARAMS_DIGEST) || msg->n_samples == 0) {
			fail_part(p, "rejected", "reply without an update or with 0 training samples");
			return;
		}
		char path[sizeof(p->update_path)]; /* built aside: p lives inside j */

		if ((size_t)snprintf(path, sizeof(path), "%s/%s.params", j->updates_dir, p->node_id) >= sizeof(path)) {
			fail_part(p, "error", "update path too long");
			return;
		}
		memcpy(p->update_path, path, sizeof(path));
		rc = fedc_repo_get_file(j->repo, msg->params_digest, p->update_path, 0);
		if (rc) {
			fail_part(p, "error", "cannot download its update: %s", fedc_last_error());
			p->update_path[0] = '\0';
			return;
		}
	}
	p->state = PART_ANSWERED;
	p->status = "answered";
}

/* Tells the live view what became of `p`. */
static void show_outcome(struct job *j, const struct participant *p)
{
	if (p->state == PART_ANSWERED)
		progress__answered(j->progress, session__now_ms(), p->node_id);
	else if (p->state == PART_FAILED)
		progress__failed(j->progress, session__now_ms(), p->node_id);
}

static void handle_event(struct job *j, struct fedc_msg *msg, bool evaluate_only)
{
	struct participant *p;

	if (msg->command == FEDC_CMD_STATUS) {
		for (size_t i = 0; i < j->n_parts; i++) {
			p = &j->parts[i];
			if (p->state == PART_WAITING && strcmp(p->node_id, msg->node_id) == 0 &&
			    strcmp(msg->state, "online") != 0) {
				fail_part(p, "offline", "node went offline during the round");
				show_outcome(j, p);
			}
		}
		fedc_msg_free(msg);
		return;
	}
	p = find_by_request(j, msg->request_id);
	if (!p || p->state != PART_WAITING) {
		fedc_info("late or unknown %s from %s (request %s) ignored", fedc_cmd_name(msg->command), msg->node_id,
			  msg->request_id);
		fedc_msg_free(msg);
		return;
	}
	if (msg->command == FEDC_CMD_SCALAR) {
		progress__scalar(j->progress, session__now_ms(), p->node_id, msg->name, msg->value, msg->iteration,
				 msg->epoch);
		fedc_msg_free(msg);
	} else if (msg->command == FEDC_CMD_ERROR) {
		fail_part(p, "error", "%s: %s", msg->error_code, msg->message);
		show_outcome(j, p);
		fedc_msg_free(msg);
	} else if (msg->command == FEDC_CMD_TRAIN_REPLY) {
		on_train_reply(j, p, msg, evaluate_only);
		show_outcome(j, p);
	} else {
		fedc_warn("unexpected %s from %s ignored", fedc_cmd_name(msg->command), msg->node_id);
		fedc_msg_free(msg);
	}
}

static size_t count_state(const struct job *j, enum part_state state)
{
	size_t n = 0;

	for (size_t i = 0; i < j->n_parts; i++)
		n += j->parts[i].state == state;
	return n;
}

/* Waits for every participant's outcome, or the round deadline. */
static enum fedc_err collect(struct job *j, bool evaluate_only)
{
	int64_t deadline = session__now_ms() + j->exp->round_timeout_s * 1000;

	while (count_state(j, PART_WAITING) > 0) {
		struct fedc_msg *msg = NULL;
		enum fedc_err rc = session__next(&j->session, deadline, &msg);

		if (rc == FEDC_ERR_TIMEOUT)
			break;
		if (rc)
			return rc;
		handle_event(j, msg, evaluate_only);
	}
	for (size_t i = 0; i < j->n_parts; i++) {
		if (j->parts[i].state == PART_WAITING)
			fail_part(&j->parts[i], "timeout", "no reply within round_timeout_s = %" PRId64 " s",
				  j->exp->round_timeout_s);
	}
	return FEDC_OK;
}

/* ---- aggregation ---- */

/* Adds the answered updates in node-id order (parts are sorted). */
static enum fedc_err aggregate(struct job *j, size_t *added)
{
	struct fedc_params *global = NULL;
	enum fedc_err rc;

	*added = 0;
	rc = fedc_params_open(j->global_path, &global);
	if (!rc)
		rc = aggregator__begin(j->agg, global, (uint32_t)j->n_parts);
	for (size_t i = 0; !rc && i < j->n_parts; i++) {
		struct participant *p = &j->parts[i];
		enum fedc_err add_rc;

		if (p->state != PART_ANSWERED)
			continue;
		/* The aggregator keeps the update mapped: unlinking it is safe. */
		add_rc = aggregator__add_file(j->agg, p->node_id, p->update_path, p->reply->n_samples);
		if (add_rc)
			fail_part(p, "rejected", "its update was refused: %s", fedc_last_error());
		else
			(*added)++;
		(void)unlink(p->update_path);
	}
	if (!rc && *added >= j->exp->min_nodes)
		rc = aggregator__finish(j->agg, j->global_path);
	fedc_params_close(global);
	return rc;
}

/* ---- reporting ---- */

struct round_means {
	double train_loss, global_loss, global_accuracy;
};

static double weighted(const struct job *j, bool global, const char *name)
{
	double sum = 0, weight = 0, v;

	for (size_t i = 0; i < j->n_parts; i++) {
		const struct fedc_msg *r = j->parts[i].reply;
		double w;

		if (!r || j->parts[i].state != PART_ANSWERED)
			continue;
		w = (double)(global ? r->n_test : r->n_samples);
		if (global ? !fedc_msg_kv_get(r->global_metrics, r->n_global_metrics, name, &v)
			   : !fedc_msg_kv_get(r->metrics, r->n_metrics, name, &v))
			continue;
		sum += w * v;
		weight += w;
	}
	return weight > 0 ? sum / weight : NAN;
}

static void record_round(struct job *j, uint32_t round, bool evaluate_only, double seconds)
{
	const char *kind = evaluate_only ? "evaluate" : "train";
	struct round_record rr = { round, kind, (uint32_t)j->n_parts, (uint32_t)count_state(j, PART_ANSWERED),
				   weighted(j, false, "loss"), weighted(j, true, "loss"),
				   weighted(j, true, "accuracy"), seconds, evaluate_only ? "" : j->global_digest };

	progress__round_end(j->progress);
	for (size_t i = 0; i < j->n_parts; i++) {
		const struct participant *p = &j->parts[i];
		struct node_record nr = { round, kind, p->node_id, p->dataset_id, p->status, p->reason, p->reply };

		(void)history__node(j->history, &nr);
		if (p->state == PART_FAILED)
			printf("  node %s %s: %s\n", p->node_id, p->status, p->reason);
	}
	(void)history__round(j->history, &rr);
	if (evaluate_only)
		printf("final evaluation   nodes %u/%u  test loss %.4f  test accuracy %.4f\n", rr.answered, rr.selected,
		       rr.global_loss, rr.global_accuracy);
	else
		printf("round %4u/%-4u  nodes %u/%u  train loss %.4f  accuracy of the model sent %.4f  %.2f s\n", round,
		       j->exp->rounds, rr.answered, rr.selected, rr.train_loss, rr.global_accuracy, seconds);
	fflush(stdout);
}

/* ---- the experiment ---- */

static enum fedc_err upload_global(struct job *j)
{
	enum fedc_err rc = fedc_repo_put_file(j->repo, j->global_path, NULL, j->global_digest, NULL);

	if (rc)
		return fedc_fail(rc, "cannot upload the global parameters: %s", fedc_last_error());
	return FEDC_OK;
}

static enum fedc_err begin_progress(struct job *j, uint32_t round)
{
	const char *ids[MAX_PARTICIPANTS];

	for (size_t i = 0; i < j->n_parts; i++)
		ids[i] = j->parts[i].node_id;
	return progress__round_begin(j->progress, round, j->exp->rounds, ids, j->n_parts);
}

static enum fedc_err run_round(struct job *j, uint32_t round, bool evaluate_only)
{
	double t0 = now_s();
	size_t added = 0;
	enum fedc_err rc;

	rc = begin_progress(j, round);
	if (!rc)
		rc = send_requests(j, round, evaluate_only);
	if (!rc)
		rc = collect(j, evaluate_only);
	if (!rc && !evaluate_only)
		rc = aggregate(j, &added);
	if (rc)
		return rc;
	if (!evaluate_only && added >= j->exp->min_nodes)
		rc = upload_global(j);
	record_round(j, round, evaluate_only, now_s() - t0);
	if (rc)
		return rc;
	if (!evaluate_only && added < j->exp->min_nodes)
		return fedc_fail(FEDC_ERR_NOT_FOUND, "round %u: %zu update(s) usable, min_nodes is %u; stopping", round,
				 added, j->exp->min_nodes);
	return FEDC_OK;
}

/* mkdir -p */
static enum fedc_err make_dir(const char *path)
{
	char buf[EXP_PATH_MAX + 64];

	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
		return fedc_fail(FEDC_ERR_IO, "path too long: %s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return fedc_fail(FEDC_ERR_IO, "cannot create %s: %s", buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return fedc_fail(FEDC_ERR_IO, "cannot create %s: %s", path, strerror(errno));
	return FEDC_OK;
}

static enum fedc_err prepare(struct job *j)
{
	const struct experiment *exp = j->exp;
	enum fedc_err rc;

	fedc_uuid_new(j->job_id);
	snprintf(j->global_path, sizeof(j->global_path), "%s/global.params", exp->output_dir);
	snprintf(j->updates_dir, sizeof(j->updates_dir), "%s/updates", exp->output_dir);
	rc = progress__new(stdout, progress__is_tty(stdout), &j->progress);
	if (!rc)
		rc = make_dir(exp->output_dir);
	if (!rc)
		rc = make_dir(j->updates_dir);
	if (!rc)
		rc = aggregator__new(exp->aggregator, &exp->aggregator_options, &j->agg);
	if (!rc)
		rc = history__open(exp->output_dir, &j->history);
	if (!rc)
		rc = fedc_repo_new(exp->repository_url, exp->repository_token, exp->repository_timeout_s, &j->repo);
	if (!rc)
		rc = initial__params(exp, j->global_path);
	if (!rc)
		rc = fedc_repo_put_file(j->repo, exp->plan_path, NULL, j->plan_digest, NULL);
	if (!rc)
		rc = upload_global(j);
	return rc;
}

static enum fedc_err run_all(struct job *j)
{
	const struct experiment *exp = j->exp;
	enum fedc_err rc;

	rc = session__open(&j->session, exp);
	if (rc)
		return rc;
	signal_session = &j->session;
	rc = discover(j);
	if (rc)
		return rc;
	printf("job %s: %zu node(s), plan %.12s, %u round(s)\n", j->job_id, j->n_parts, j->plan_digest, exp->rounds);
	for (size_t i = 0; i < j->n_parts; i++)
		printf("  node %s  dataset %s  %" PRIu64 " samples\n", j->parts[i].node_id, j->parts[i].dataset_id,
		       j->parts[i].n_samples);
	for (uint32_t round = 1; !rc && round <= exp->rounds; round++)
		rc = run_round(j, round, false);
	if (!rc && exp->final_evaluation)
		rc = run_round(j, exp->rounds + 1, true);
	return rc;
}

static void cleanup(struct job *j)
{
	signal_session = NULL;
	session__close(&j->session);
	for (size_t i = 0; i < j->n_parts; i++)
		reset_part(&j->parts[i]);
	(void)rmdir(j->updates_dir);
	aggregator__free(j->agg);
	history__close(j->history);
	fedc_repo_free(j->repo);
	progress__free(j->progress);
}

static void install_signals(void)
{
	struct sigaction sa = { 0 };

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int job__run(const struct experiment *exp)
{
	struct job *j = calloc(1, sizeof(*j));
	enum fedc_err rc;
	int code;

	if (!j)
		return 1;
	j->exp = exp;
	install_signals();
	rc = prepare(j);
	if (!rc)
		rc = run_all(j);
	if (rc == FEDC_ERR_INTERRUPTED || interrupted) {
		fprintf(stderr, "fedc-researcher: interrupted; the last global parameters are in %s\n", j->global_path);
		code = 130;
	} else if (rc) {
		fprintf(stderr, "fedc-researcher: %s: %s\n", fedc_strerror(rc), fedc_last_error());
		code = 1;
	} else {
		printf("done: final parameters in %s, history in %s/history.jsonl\n", j->global_path, exp->output_dir);
		code = 0;
	}
	cleanup(j);
	free(j);
	return code;
}
