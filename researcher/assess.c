/* Sending the assessment to the nodes and gathering their answers: assess.h. */
#include "assess.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "breakpoint.h"
#include "experiment.h"
#include "fedc/repo.h"
#include "session.h"

#define MAX_TARGETS 1024

struct target {
	struct assess_node node;
	char request_id[FEDC_UUID_STRLEN + 1];
	bool answered;
};

struct assess_run {
	const struct assess_opts *o;
	struct experiment *exp;
	struct breakpoint bp;
	struct session session;
	bool session_open;
	char params_digest[FEDC_SHA256_HEXLEN + 1];
	struct target *targets;
	size_t n_targets;
};

static enum fedc_err set_tags(struct experiment *exp, const char *list)
{
	char copy[FEDC_MAX_TAGS * (FEDC_MAX_TAG_LEN + 1) + 1], *tag, *save = NULL;

	if (strlen(list) >= sizeof(copy))
		return fedc_fail(FEDC_ERR_INVAL, "--dataset-tags: too long");
	snprintf(copy, sizeof(copy), "%s", list);
	exp->n_tags = 0;
	for (tag = strtok_r(copy, ",", &save); tag; tag = strtok_r(NULL, ",", &save)) {
		if (exp->n_tags == FEDC_MAX_TAGS || strlen(tag) > FEDC_MAX_TAG_LEN)
			return fedc_fail(FEDC_ERR_INVAL, "--dataset-tags: at most %d tags of %d characters", FEDC_MAX_TAGS,
					 FEDC_MAX_TAG_LEN);
		snprintf(exp->tags[exp->n_tags++], sizeof(exp->tags[0]), "%s", tag);
	}
	return exp->n_tags ? FEDC_OK : fedc_fail(FEDC_ERR_INVAL, "--dataset-tags: no tag given");
}

/* The run's experiment, from its latest breakpoint, and its model uploaded. */
static enum fedc_err load_run(struct assess_run *r)
{
	const struct assess_opts *o = r->o;
	char bp_dir[BREAKPOINT_PATH_MAX], params[BREAKPOINT_PATH_MAX + 32];
	struct fedc_repo *repo = NULL;
	uint32_t round;
	enum fedc_err rc = breakpoint__latest(o->dir, &round);

	if (rc)
		return fedc_fail(rc, "%s holds no finished round: give the output directory of a run", o->dir);
	rc = breakpoint__load(o->dir, round, &r->bp, bp_dir, sizeof(bp_dir));
	if (!rc)
		rc = experiment__load(r->bp.experiment_path,
				      o->network ? o->network : r->bp.network_path[0] ? r->bp.network_path : NULL, r->exp);
	if (!rc && o->tags)
		rc = set_tags(r->exp, o->tags);
	if (rc)
		return rc;
	if ((size_t)snprintf(params, sizeof(params), "%s/%s.params", o->dir, o->best ? "best" : "global") >=
	    sizeof(params))
		return fedc_fail(FEDC_ERR_INVAL, "DIR: path too long");
	if (access(params, R_OK) != 0)
		return fedc_fail(FEDC_ERR_NOT_FOUND, "no %s%s", params,
				 o->best ? ": the experiment did not set [training] keep_best, or no node scored a model"
					 : "");
	rc = experiment__repo_new(r->exp, &repo);
	if (!rc)
		rc = fedc_repo_put_file(repo, params, NULL, r->params_digest, NULL);
	if (rc)
		rc = fedc_fail(rc, "cannot upload %s: %s", params, fedc_last_error());
	fedc_repo_free(repo);
	return rc;
}

static void on_search_reply(void *ctx, struct fedc_msg *reply)
{
	struct assess_run *r = ctx;

	for (uint32_t i = 0; reply->command == FEDC_CMD_SEARCH_REPLY && i < reply->n_datasets; i++) {
		struct target *t = &r->targets[r->n_targets];

		if (r->n_targets == MAX_TARGETS)
			break;
		memset(t, 0, sizeof(*t));
		snprintf(t->node.node_id, sizeof(t->node.node_id), "%s", reply->node_id);
		snprintf(t->node.dataset_id, sizeof(t->node.dataset_id), "%s", reply->datasets[i].dataset_id);
		r->n_targets++;
	}
	fedc_msg_free(reply);
}

static int compare_targets(const void *a, const void *b)
{
	const struct target *x = a, *y = b;
	int c = strcmp(x->node.node_id, y->node.node_id);

	return c ? c : strcmp(x->node.dataset_id, y->node.dataset_id);
}

static enum fedc_err discover(struct assess_run *r)
{
	struct fedc_msg *req = fedc_msg_new(FEDC_CMD_SEARCH);
	size_t replies = 0;
	enum fedc_err rc;

	if (!req)
		return FEDC_ERR_NOMEM;
	snprintf(req->researcher_id, sizeof(req->researcher_id), "%s", r->exp->researcher_id);
	fedc_msg_set(req, FEDC_F_RESEARCHER_ID);
	memcpy(req->tags, r->exp->tags, sizeof(r->exp->tags));
	req->n_tags = r->exp->n_tags;
	fedc_msg_set(req, FEDC_F_TAGS);
	rc = session__gather(&r->session, req, FEDC_CMD_SEARCH_REPLY,
			     session__now_ms() + r->exp->discovery_timeout_s * 1000, on_search_reply, r, &replies);
	fedc_msg_free(req);
	session__print_refusals(&r->session, stderr);
	if (!rc && r->n_targets == 0) {
		char tags[FEDC_MAX_TAGS * (FEDC_MAX_TAG_LEN + 1) + 1] = "";

		for (uint32_t i = 0; i < r->exp->n_tags; i++)
			snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), "%s%s", i ? "," : "", r->exp->tags[i]);
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "no node holds a dataset tagged %s (%zu answered the search); see "
			       "which tags they hold with: fedc-researcher nodes --network %s", tags, replies,
			       session__network_file(r->exp));
	}
	qsort(r->targets, r->n_targets, sizeof(r->targets[0]), compare_targets);
	return rc;
}

static void fill_request(const struct assess_run *r, const struct target *t, struct fedc_msg *m)
{
	static const enum fedc_field fields[] = {
		FEDC_F_JOB_ID, FEDC_F_ROUND, FEDC_F_DATASET_ID, FEDC_F_PLAN_DIGEST, FEDC_F_PARAMS_DIGEST,
		FEDC_F_EVALUATE_ONLY, FEDC_F_ASSESS, FEDC_F_ASSESS_ARGS,
	};

	experiment__fill_train(r->exp, m); /* the run's seed: the same test rows as the run's */
	snprintf(m->job_id, sizeof(m->job_id), "%s", r->bp.job_id);
	m->round = r->bp.round;
	snprintf(m->dataset_id, sizeof(m->dataset_id), "%s", t->node.dataset_id);
	snprintf(m->plan_digest, sizeof(m->plan_digest), "%s", r->bp.plan_digest);
	snprintf(m->params_digest, sizeof(m->params_digest), "%s", r->params_digest);
	m->evaluate_only = true;
	snprintf(m->assess, sizeof(m->assess), "%s", r->o->kind);
	if (strcmp(r->o->kind, "explain") == 0)
		snprintf(m->assess_args, sizeof(m->assess_args), "repeats=%" PRIu32 "\nmetric=%s\n", r->o->repeats,
			 r->o->metric);
	if (strcmp(r->o->kind, "robust") == 0)
		snprintf(m->assess_args, sizeof(m->assess_args), "%s", r->o->robust_args ? r->o->robust_args : "");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		fedc_msg_set(m, fields[i]);
}

static enum fedc_err send_requests(struct assess_run *r)
{
	for (size_t i = 0; i < r->n_targets; i++) {
		struct fedc_msg *m = fedc_msg_new(FEDC_CMD_TRAIN);
		enum fedc_err rc;

		if (!m)
			return FEDC_ERR_NOMEM;
		fill_request(r, &r->targets[i], m);
		snprintf(r->targets[i].request_id, sizeof(r->targets[i].request_id), "%s", m->request_id);
		rc = session__send(&r->session, r->targets[i].node.node_id, m);
		fedc_msg_free(m);
		if (rc)
			return fedc_fail(rc, "cannot send to node %s: %s", r->targets[i].node.node_id, fedc_last_error());
	}
	return FEDC_OK;
}

static struct target *target_of(struct assess_run *r, const char *request_id)
{
	for (size_t i = 0; i < r->n_targets; i++)
		if (!r->targets[i].answered && strcmp(r->targets[i].request_id, request_id) == 0)
			return &r->targets[i];
	return NULL;
}

/* A train-reply's result, decoded; a node whose result is malformed counts
 * as failed, with the reason printed. */
static void take_reply(struct target *t, const struct fedc_msg *msg)
{
	enum fedc_err rc = FEDC_ERR_MALFORMED;

	t->answered = true;
	if (msg->command == FEDC_CMD_ERROR)
		return;
	if (!fedc_msg_has(msg, FEDC_F_ASSESS_RESULT))
		rc = fedc_fail(rc, "the reply carries no assess_result (a node of an older version?)");
	else
		rc = assess_result__decode(msg->assess_result, msg->assess_result_len, &t->node.result);
	if (rc) {
		fprintf(stderr, "node %s: dataset %s: its result is refused: %s\n", t->node.node_id, t->node.dataset_id,
			fedc_last_error());
		assess_result__free(&t->node.result);
		t->answered = false;
		t->request_id[0] = '\0';
		return;
	}
	t->node.n_test = msg->n_test;
}

static enum fedc_err collect(struct assess_run *r)
{
	int64_t deadline = session__now_ms() + (r->o->timeout_s ? r->o->timeout_s : r->exp->round_timeout_s) * 1000;
	size_t waiting = r->n_targets;

	while (waiting > 0) {
		struct fedc_msg *msg = NULL;
		struct target *t;
		enum fedc_err rc = session__next(&r->session, deadline, &msg);

		if (rc == FEDC_ERR_TIMEOUT)
			break;
		if (rc)
			return rc;
		if ((msg->command == FEDC_CMD_TRAIN_REPLY || msg->command == FEDC_CMD_ERROR) &&
		    (t = target_of(r, msg->request_id))) {
			if (msg->command == FEDC_CMD_ERROR)
				session__note_refusal(&r->session, msg);
			take_reply(t, msg);
			waiting--;
		}
		fedc_msg_free(msg);
	}
	session__print_refusals(&r->session, stderr);
	if (waiting)
		fprintf(stderr, "%zu dataset(s) did not answer in time\n", waiting);
	return FEDC_OK;
}

/* The answers combined; the nodes that failed are left out. */
static int report(struct assess_run *r)
{
	struct assess_node *nodes = calloc(r->n_targets ? r->n_targets : 1, sizeof(*nodes));
	struct assess_result total = { 0 };
	size_t n = 0;
	int code = 1;

	for (size_t i = 0; nodes && i < r->n_targets; i++) {
		if (!r->targets[i].answered || r->targets[i].node.result.n == 0)
			continue;
		if (assess_result__add(&total, &r->targets[i].node.result, r->targets[i].node.n_test) != FEDC_OK) {
			fprintf(stderr, "node %s: %s\n", r->targets[i].node.node_id, fedc_last_error());
			goto out;
		}
		nodes[n++] = r->targets[i].node;
	}
	assess_result__finish(&total);
	if (n == 0)
		fprintf(stderr, "fedc-researcher: %s: no node answered with a result (see above)\n", r->o->kind);
	else if (strcmp(r->o->kind, "predict") == 0)
		code = assess_report__predict(r->o->dir, nodes, n, &total, stdout);
	else if (strcmp(r->o->kind, "robust") == 0)
		code = assess_report__robust(r->o->dir, nodes, n, &total, stdout);
	else
		code = assess_report__explain(r->o->dir, r->o->metric, nodes, n, &total, stdout);
out:
	assess_result__free(&total);
	free(nodes);
	return code;
}

int assess__run(const struct assess_opts *o)
{
	struct assess_run r = { .o = o };
	enum fedc_err rc;
	int code = 1;

	r.exp = calloc(1, sizeof(*r.exp));
	r.targets = calloc(MAX_TARGETS, sizeof(*r.targets));
	rc = r.exp && r.targets ? load_run(&r) : FEDC_ERR_NOMEM;
	if (!rc)
		rc = session__open(&r.session, r.exp);
	r.session_open = rc == FEDC_OK;
	if (!rc)
		rc = discover(&r);
	if (!rc)
		rc = send_requests(&r);
	if (!rc)
		rc = collect(&r);
	if (rc)
		fprintf(stderr, "fedc-researcher: %s: %s\n", o->kind, fedc_last_error());
	else
		code = report(&r);
	if (r.session_open)
		session__close(&r.session);
	for (size_t i = 0; r.targets && i < r.n_targets; i++)
		assess_result__free(&r.targets[i].node.result);
	free(r.targets);
	if (r.exp)
		experiment__free(r.exp);
	free(r.exp);
	return code;
}

/* The command line of `fedc-researcher robust` that asks for `args` again
 * (`key = value` lines as read from [robustness]). */
static void print_retry(const char *dir, const char *network, const char *args)
{
	const char *clip_min = NULL, *clip_max = NULL;
	char copy[FEDC_MAX_ASSESS_ARGS + 1], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", args ? args : "");
	fprintf(stderr, "  fedc-researcher robust %s%s%s", dir, network ? " --network " : "", network ? network : "");
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '='), *key = line, *value;

		if (!eq)
			continue;
		value = eq + 1 + strspn(eq + 1, " ");
		while (eq > key && eq[-1] == ' ')
			eq--;
		*eq = '\0';
		if (strcmp(key, "clip_min") == 0) {
			clip_min = value;
		} else if (strcmp(key, "clip_max") == 0) {
			clip_max = value;
		} else {
			fprintf(stderr, " --");
			for (const char *p = key; *p; p++)
				fputc(*p == '_' ? '-' : *p, stderr);
			fprintf(stderr, " '%s'", value);
		}
	}
	if (clip_min || clip_max) /* --clip takes both; a missing one is as far as the parser allows */
		fprintf(stderr, " --clip '%s,%s'", clip_min ? clip_min : "-1e6", clip_max ? clip_max : "1e6");
	fputc('\n', stderr);
}

void assess__after_run(const char *dir, const char *network, const char *robust_args)
{
	struct assess_opts o = { .kind = "robust", .dir = dir, .network = network, .robust_args = robust_args };

	fflush(stdout);
	printf("robustness stage ([robustness]): the final model under attack at the nodes\n");
	fflush(stdout);
	if (assess__run(&o) == 0)
		return;
	fflush(stdout);
	fprintf(stderr, "fedc-researcher: the robustness stage failed (see above); the training is done. To try the "
			"stage again:\n");
	print_retry(dir, network, robust_args);
}
