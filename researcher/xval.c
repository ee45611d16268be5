/* Cross-site validation (xval.h): keeping the last round's local models,
 * their index, and the stage that has every node evaluate every model. */
#include "xval.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "breakpoint.h"
#include "fedc/fs.h"
#include "fedc/hash.h"
#include "fedc/id.h"
#include "fedc/log.h"
#include "fedc/repo.h"
#include "job_internal.h"
#include "plan_build.h"
#include "progress.h"
#include "run_control.h"
#include "session.h"

#define LOCAL_DIR_MAX (EXP_PATH_MAX + 16)
#define XVAL_PATH_MAX (LOCAL_DIR_MAX + FEDC_MAX_ID_LEN + 32)

/* ---- the index of the local models ---- */

void xval__index_free(struct xval_index *ix)
{
	if (!ix)
		return;
	free(ix->nodes);
	ix->nodes = NULL;
	ix->n = 0;
}

static bool is_digest(const char *s)
{
	return strlen(s) == FEDC_SHA256_HEXLEN && strspn(s, "0123456789abcdef") == FEDC_SHA256_HEXLEN;
}

/* A string member of `obj` into dst[cap]; "" when absent and !required. */
static enum fedc_err string_of(json_t *obj, const char *key, bool required, char *dst, size_t cap, const char *origin,
			       size_t i)
{
	json_t *v = json_object_get(obj, key);

	dst[0] = '\0';
	if (!v && !required)
		return FEDC_OK;
	if (!json_is_string(v) || json_string_length(v) >= cap)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: node %zu: \"%s\" must be a string of at most %zu characters",
				 origin, i, key, cap - 1);
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return FEDC_OK;
}

static enum fedc_err parse_node(json_t *obj, const char *origin, size_t i, struct xval_node *n)
{
	json_t *digest = json_object_get(obj, "digest"), *count = json_object_get(obj, "n_samples");
	enum fedc_err rc;

	if (!json_is_object(obj))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: node %zu is not an object", origin, i);
	rc = string_of(obj, "node_id", true, n->node_id, sizeof(n->node_id), origin, i);
	if (!rc)
		rc = string_of(obj, "dataset_id", true, n->dataset_id, sizeof(n->dataset_id), origin, i);
	if (!rc)
		rc = string_of(obj, "reason", false, n->reason, sizeof(n->reason), origin, i);
	if (!rc && !json_is_null(digest))
		rc = string_of(obj, "digest", true, n->digest, sizeof(n->digest), origin, i);
	if (rc)
		return rc;
	if (!fedc_id_valid(n->node_id) || !fedc_id_valid(n->dataset_id))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: node %zu: \"%s\" / \"%s\" is not a node / dataset id", origin, i,
				 n->node_id, n->dataset_id);
	if (n->digest[0] && !is_digest(n->digest))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: node %s: digest is not a SHA-256 in hex", origin, n->node_id);
	if (!json_is_integer(count) || json_integer_value(count) < 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: node %s: n_samples must be an integer >= 0", origin, n->node_id);
	n->n_samples = (uint64_t)json_integer_value(count);
	return FEDC_OK;
}

static enum fedc_err parse_nodes(json_t *list, const char *origin, struct xval_index *out)
{
	size_t n = json_array_size(list);

	if (!json_is_array(list) || n > XVAL_MAX_NODES)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: \"nodes\" must be an array of at most %u nodes", origin,
				 XVAL_MAX_NODES);
	out->nodes = n ? calloc(n, sizeof(*out->nodes)) : NULL;
	if (n && !out->nodes)
		return FEDC_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		enum fedc_err rc = parse_node(json_array_get(list, i), origin, i, &out->nodes[i]);

		if (rc)
			return rc;
		for (size_t k = 0; k < i; k++) {
			if (strcmp(out->nodes[k].node_id, out->nodes[i].node_id) == 0)
				return fedc_fail(FEDC_ERR_MALFORMED, "%s: node %s is listed twice", origin,
						 out->nodes[i].node_id);
		}
		out->n = i + 1;
	}
	return FEDC_OK;
}

enum fedc_err xval__index_parse(const char *text, size_t len, const char *origin, struct xval_index *out)
{
	json_error_t err;
	json_t *root = len <= XVAL_INDEX_MAX ? json_loadb(text, len, JSON_REJECT_DUPLICATES, &err) : NULL;
	json_t *job, *round;
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	if (!root)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: %s", origin,
				 len > XVAL_INDEX_MAX ? "larger than the index of a run can be" : err.text);
	job = json_object_get(root, "job_id");
	round = json_object_get(root, "round");
	if (!json_is_string(job) || json_string_length(job) != FEDC_UUID_STRLEN || !json_is_integer(round) ||
	    json_integer_value(round) < 0 || json_integer_value(round) > UINT32_MAX)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: needs \"job_id\" (a UUID) and \"round\" (an integer)", origin);
	else
		rc = parse_nodes(json_object_get(root, "nodes"), origin, out);
	if (!rc) {
		memcpy(out->job_id, json_string_value(job), FEDC_UUID_STRLEN + 1);
		out->round = (uint32_t)json_integer_value(round);
	}
	json_decref(root);
	if (rc)
		xval__index_free(out);
	return rc;
}

/* Reads DIR/local/index.json, at most XVAL_INDEX_MAX bytes. */
static enum fedc_err index_read(const char *dir, struct xval_index *out)
{
	char path[XVAL_PATH_MAX];
	char *text = malloc(XVAL_INDEX_MAX + 1);
	FILE *f = NULL;
	size_t len = 0;
	enum fedc_err rc = FEDC_OK;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/" XVAL_INDEX, dir);
	if (!text)
		return FEDC_ERR_NOMEM;
	f = fopen(path, "r");
	if (!f && errno == ENOENT)
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "%s has no local models (%s is missing): the run did not set "
						   "[training] cross_site_validation = true, which keeps each node's model "
						   "of the last round. Run the experiment again with it",
			       dir, path);
	else if (!f)
		rc = fedc_fail(FEDC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	if (!rc) {
		len = fread(text, 1, XVAL_INDEX_MAX + 1, f);
		if (ferror(f))
			rc = fedc_fail(FEDC_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	}
	if (f)
		fclose(f);
	if (!rc)
		rc = xval__index_parse(text, len, path, out);
	free(text);
	return rc;
}

static json_t *node_json(const struct participant *p, const char *digest, const char *reason)
{
	return json_pack("{s:s, s:s, s:I, s:o, s:s}", "node_id", p->node_id, "dataset_id", p->dataset_id, "n_samples",
			 (json_int_t)p->n_samples, "digest", digest[0] ? json_string(digest) : json_null(), "reason",
			 reason);
}

/* Keeps p's update as DIR/local/<node>.params; *digest its SHA-256. */
static enum fedc_err keep_one(const struct participant *p, const char *local_dir, char *digest)
{
	char dst[XVAL_PATH_MAX];
	enum fedc_err rc;

	snprintf(dst, sizeof(dst), "%s/%s.params", local_dir, p->node_id);
	rc = fedc_copy_atomic(p->update_path, dst, 0644);
	if (!rc)
		rc = fedc_hash_file(FEDC_HASH_SHA256, dst, digest);
	if (rc)
		return fedc_fail(rc, "cannot keep the local model of %s as %s: %s", p->node_id, dst, fedc_last_error());
	if (strcmp(digest, p->reply->params_digest) != 0)
		return fedc_fail(FEDC_ERR_DIGEST, "%s: SHA-256 %.12s..., but node %s sent %.12s...", dst, digest,
				 p->node_id, p->reply->params_digest);
	return FEDC_OK;
}

/* Why p has no local model of `round`; an old file of it goes. */
static void no_local(const struct participant *p, const char *local_dir, uint32_t round, char *reason, size_t cap)
{
	char path[XVAL_PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s.params", local_dir, p->node_id);
	(void)unlink(path);
	if (p->state == PART_FAILED)
		snprintf(reason, cap, "round %u: %s: %s", round, p->status, p->reason);
	else
		snprintf(reason, cap, "not selected for round %u", round);
}

enum fedc_err xval__keep_locals(struct job *j, uint32_t round)
{
	char local_dir[LOCAL_DIR_MAX], path[XVAL_PATH_MAX];
	json_t *root = json_pack("{s:s, s:I, s:[]}", "job_id", j->job_id, "round", (json_int_t)round, "nodes");
	json_t *nodes = json_object_get(root, "nodes");
	char *text = NULL;
	enum fedc_err rc;

	snprintf(local_dir, sizeof(local_dir), "%s/local", j->exp->output_dir);
	snprintf(path, sizeof(path), "%s/" XVAL_INDEX, j->exp->output_dir);
	rc = root ? fedc_mkdir_p(local_dir, 0755) : FEDC_ERR_NOMEM;
	for (size_t i = 0; !rc && i < j->n_parts; i++) {
		const struct participant *p = &j->parts[i];
		char digest[FEDC_SHA256_HEXLEN + 1] = "", reason[FEDC_MAX_TEXT_LEN + 64] = "";

		if (p->state == PART_ANSWERED && p->update_path[0] && p->reply)
			rc = keep_one(p, local_dir, digest);
		else
			no_local(p, local_dir, round, reason, sizeof(reason));
		if (!rc && json_array_append_new(nodes, node_json(p, digest, reason)) != 0)
			rc = FEDC_ERR_NOMEM;
	}
	if (!rc)
		text = json_dumps(root, JSON_INDENT(2));
	if (!rc && !text)
		rc = FEDC_ERR_NOMEM;
	if (!rc)
		rc = fedc_write_atomic(path, text, strlen(text));
	free(text);
	json_decref(root);
	return rc;
}

/* ---- the matrix ---- */

enum fedc_err xval__matrix_new(size_t n_models, size_t n_nodes, struct xval_matrix *m)
{
	memset(m, 0, sizeof(*m));
	m->n_models = n_models;
	m->n_nodes = n_nodes;
	m->models = calloc(n_models, sizeof(*m->models));
	m->model_digests = calloc(n_models, sizeof(*m->model_digests));
	m->nodes = calloc(n_nodes ? n_nodes : 1, sizeof(*m->nodes));
	m->cells = calloc(n_models * n_nodes > 0 ? n_models * n_nodes : 1, sizeof(*m->cells));
	if (m->models && m->model_digests && m->nodes && m->cells)
		return FEDC_OK;
	xval__matrix_free(m);
	return FEDC_ERR_NOMEM;
}

void xval__matrix_free(struct xval_matrix *m)
{
	free(m->models);
	free(m->model_digests);
	free(m->nodes);
	free(m->cells);
	memset(m, 0, sizeof(*m));
}

struct xval_cell *xval__cell(const struct xval_matrix *m, size_t row, size_t col)
{
	return &m->cells[row * m->n_nodes + col];
}

/* ---- the stage ---- */

/* Uploads the model file `path`, whose SHA-256 must be `expected` (NULL:
 * any), and makes it the parameters the next requests name. */
static enum fedc_err upload_model(struct job *j, const char *path, const char *expected)
{
	char digest[FEDC_SHA256_HEXLEN + 1];
	enum fedc_err rc = fedc_hash_file(FEDC_HASH_SHA256, path, digest);

	if (rc)
		return fedc_fail(rc, "cannot read %s: %s", path, fedc_last_error());
	if (expected && strcmp(digest, expected) != 0)
		return fedc_fail(FEDC_ERR_DIGEST, "%s changed since the run kept it (SHA-256 %.12s..., %s says %.12s...)",
				 path, digest, XVAL_INDEX, expected);
	rc = fedc_repo_put_file(j->repo, path, digest, NULL, NULL);
	if (rc)
		return fedc_fail(rc, "cannot upload %s: %s", path, fedc_last_error());
	memcpy(j->global_digest, digest, sizeof(digest));
	return FEDC_OK;
}

/* One row: every participant evaluates the uploaded model; its cells. */
static enum fedc_err evaluate_row(struct job *j, struct xval_matrix *m, size_t row)
{
	const char *ids[JOB_MAX_PARTICIPANTS];
	uint32_t round = j->exp->rounds + 1; /* the final evaluation's: the nodes read the same state */
	size_t answered = 0;
	enum fedc_err rc;

	for (size_t i = 0; i < j->n_parts; i++) {
		j->parts[i].selected = true;
		j->parts[i].step = 0;
		ids[i] = j->parts[i].node_id;
	}
	rc = progress__round_begin(j->progress, round, j->exp->rounds, ids, j->n_parts);
	for (size_t i = 0; !rc && i < j->n_parts; i++)
		rc = job__send_train(j, &j->parts[i], round, true);
	if (!rc)
		rc = job__collect(j, true);
	progress__round_end(j->progress);
	for (size_t i = 0; !rc && i < j->n_parts; i++) {
		const struct participant *p = &j->parts[i];
		struct xval_cell *c = xval__cell(m, row, i);

		snprintf(c->status, sizeof(c->status), "%s", p->status ? p->status : "error");
		c->ok = p->state == PART_ANSWERED && p->reply;
		if (!c->ok) {
			snprintf(c->reason, sizeof(c->reason), "%s", p->reason);
			continue;
		}
		answered++;
		c->n_test = p->reply->n_test;
		c->n_metrics = p->reply->n_global_metrics;
		memcpy(c->metrics, p->reply->global_metrics, sizeof(c->metrics));
	}
	if (!rc)
		printf("cross-site validation: %s%s evaluated by %zu of %zu node(s)\n", row ? "the local model of " : "",
		       row ? m->models[row] : "the global model", answered, j->n_parts);
	fflush(stdout);
	return rc;
}

/* Rows: the global model, then every node of the index with a local model;
 * columns: the job's participants. */
static enum fedc_err build_matrix(const struct job *j, const struct xval_index *ix, struct xval_matrix *m)
{
	size_t n_models = 1;
	enum fedc_err rc;

	for (size_t i = 0; i < ix->n; i++)
		n_models += ix->nodes[i].digest[0] != '\0';
	rc = xval__matrix_new(n_models, j->n_parts, m);
	if (rc)
		return rc;
	memcpy(m->job_id, ix->job_id, sizeof(m->job_id));
	m->round = ix->round;
	snprintf(m->models[0], sizeof(m->models[0]), "global");
	for (size_t i = 0, r = 1; i < ix->n; i++) {
		if (!ix->nodes[i].digest[0])
			continue;
		memcpy(m->models[r], ix->nodes[i].node_id, sizeof(m->models[r]));
		memcpy(m->model_digests[r++], ix->nodes[i].digest, sizeof(m->model_digests[0]));
	}
	for (size_t i = 0; i < j->n_parts; i++)
		memcpy(m->nodes[i], j->parts[i].node_id, sizeof(m->nodes[i]));
	return FEDC_OK;
}

/* Says which nodes of the run have no local model, and why. */
static void print_missing(const struct xval_index *ix)
{
	for (size_t i = 0; i < ix->n; i++) {
		if (!ix->nodes[i].digest[0])
			printf("cross-site validation: no local model of %s (%s)\n", ix->nodes[i].node_id,
			       ix->nodes[i].reason);
	}
}

static enum fedc_err run_rows(struct job *j, struct xval_matrix *m)
{
	char path[XVAL_PATH_MAX];
	enum fedc_err rc = FEDC_OK;

	for (size_t row = 0; !rc && row < m->n_models; row++) {
		if (row == 0)
			snprintf(path, sizeof(path), "%s", j->global_path);
		else
			snprintf(path, sizeof(path), "%s/local/%s.params", j->exp->output_dir, m->models[row]);
		rc = upload_model(j, path, row ? m->model_digests[row] : NULL);
		if (!rc)
			memcpy(m->model_digests[row], j->global_digest, sizeof(m->model_digests[row]));
		if (!rc)
			rc = evaluate_row(j, m, row);
	}
	return rc;
}

enum fedc_err xval__stage(struct job *j)
{
	char saved[FEDC_SHA256_HEXLEN + 1];
	struct xval_index ix;
	struct xval_matrix m;
	enum fedc_err rc = index_read(j->exp->output_dir, &ix);

	if (rc)
		return rc;
	memcpy(saved, j->global_digest, sizeof(saved));
	rc = build_matrix(j, &ix, &m);
	if (!rc) {
		print_missing(&ix);
		rc = run_rows(j, &m);
		memcpy(j->global_digest, saved, sizeof(saved));
		if (!rc) {
			xval__print(&m, stdout);
			rc = xval__write(&m, j->exp->output_dir, j->history);
		}
		xval__matrix_free(&m);
	}
	xval__index_free(&ix);
	return rc;
}

enum fedc_err xval__after_run(struct job *j)
{
	enum fedc_err rc = xval__stage(j);

	if (!rc || rc == FEDC_ERR_INTERRUPTED)
		return rc;
	fflush(stdout);
	fprintf(stderr, "fedc-researcher: cross-site validation failed: %s\n(the training is done; to try the "
			"validation again: fedc-researcher xval %s)\n", fedc_last_error(), j->shown_dir);
	return FEDC_OK;
}

/* ---- fedc-researcher xval DIR ---- */

static struct session *volatile signal_session;

static void on_signal(int sig)
{
	(void)sig;
	if (signal_session)
		session__interrupt(signal_session);
}

static void install_signals(struct session *s)
{
	struct sigaction sa = { 0 };

	signal_session = s;
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The experiment of the run in `dir` as its latest breakpoint names it. */
static enum fedc_err load_run(const char *dir, const char *network, struct breakpoint *bp, struct experiment *exp)
{
	char bp_dir[BREAKPOINT_PATH_MAX];
	uint32_t latest = 0;
	enum fedc_err rc = breakpoint__latest(dir, &latest);

	if (rc == FEDC_ERR_NOT_FOUND)
		return fedc_fail(rc, "%s holds no run (no breakpoints): give the output directory of a finished run", dir);
	if (!rc)
		rc = breakpoint__load(dir, latest, bp, bp_dir, sizeof(bp_dir));
	if (!rc)
		rc = experiment__load(bp->experiment_path,
				      network ? network : bp->network_path[0] ? bp->network_path : NULL, exp);
	if (!rc && exp->privacy.secure_aggregation)
		rc = fedc_fail(FEDC_ERR_CONFIG, "the run in %s used secure aggregation ([privacy] secure_aggregation = "
						"true in %s): its nodes sent only masked updates, so there is no node's "
						"own model to validate; cross-site validation needs a run without it",
			       dir, bp->experiment_path);
	if (!rc)
		rc = fedc_config_set_string(&exp->output_dir, dir);
	return rc;
}

/* The job of the finished run: its id, plan and nodes (the index's). */
static enum fedc_err prepare_job(struct job *j, const struct breakpoint *bp, const struct xval_index *ix)
{
	char digest[FEDC_SHA256_HEXLEN + 1];
	enum fedc_err rc;

	if (strcmp(ix->job_id, bp->job_id) != 0)
		return fedc_fail(FEDC_ERR_INVAL, "%s/" XVAL_INDEX " is of job %s, the run's breakpoints of job %s: it "
						 "was left by an earlier run. Run the experiment again",
				 j->exp->output_dir, ix->job_id, bp->job_id);
	memcpy(j->job_id, bp->job_id, sizeof(j->job_id));
	memcpy(j->plan_digest, bp->plan_digest, sizeof(j->plan_digest));
	snprintf(j->global_path, sizeof(j->global_path), "%s/global.params", j->exp->output_dir);
	for (size_t i = 0; i < ix->n; i++) {
		struct participant *p = &j->parts[j->n_parts++];

		memcpy(p->node_id, ix->nodes[i].node_id, sizeof(p->node_id));
		memcpy(p->dataset_id, ix->nodes[i].dataset_id, sizeof(p->dataset_id));
		p->n_samples = ix->nodes[i].n_samples;
	}
	rc = progress__new(stdout, progress__is_tty(stdout), &j->progress);
	if (!rc)
		rc = experiment__repo_new(j->exp, &j->repo);
	if (!rc)
		rc = fedc_repo_put_file(j->repo, j->exp->plan_path, NULL, digest, NULL);
	if (!rc && strcmp(digest, bp->plan_digest) != 0)
		rc = fedc_fail(FEDC_ERR_DIGEST, "the plan %s changed since the run (SHA-256 %.12s..., was %.12s...)",
			       j->exp->plan_path, digest, bp->plan_digest);
	if (!rc)
		rc = session__open(&j->session, j->exp);
	return rc;
}

static void end_job(struct job *j)
{
	signal_session = NULL;
	session__close(&j->session);
	for (size_t i = 0; i < j->n_parts; i++)
		job__reset_part(&j->parts[i]);
	fedc_repo_free(j->repo);
	progress__free(j->progress);
}

static enum fedc_err validate_run(const char *dir, const char *network, struct breakpoint *bp,
				  struct experiment *exp, struct job *j)
{
	struct xval_index ix = { 0 };
	enum fedc_err rc = load_run(dir, network, bp, exp);

	if (!rc)
		rc = index_read(dir, &ix);
	if (!rc)
		rc = plan_build__prepare(exp, true);
	j->exp = exp;
	if (!rc)
		rc = prepare_job(j, bp, &ix);
	xval__index_free(&ix);
	if (!rc) {
		install_signals(&j->session);
		rc = xval__stage(j);
	}
	end_job(j);
	return rc;
}

int xval__command(const char *dir, const char *network)
{
	struct breakpoint *bp = calloc(1, sizeof(*bp));
	struct experiment *exp = calloc(1, sizeof(*exp));
	struct job *j = calloc(1, sizeof(*j));
	enum fedc_err rc = bp && exp && j ? FEDC_OK : FEDC_ERR_NOMEM;
	bool locked = false;

	if (!rc)
		rc = run_control__lock(dir, false);
	if (rc == FEDC_ERR_NOT_FOUND)
		rc = fedc_fail(rc, "%s: no such directory: give the output directory of a finished run", dir);
	locked = !rc;
	if (!rc)
		rc = validate_run(dir, network, bp, exp, j);
	if (locked)
		run_control__end(dir);
	if (rc)
		fprintf(stderr, "fedc-researcher: xval: %s\n", rc == FEDC_ERR_NOMEM ? "out of memory" : fedc_last_error());
	experiment__free(exp);
	free(exp);
	free(j);
	free(bp);
	return rc == FEDC_ERR_INTERRUPTED ? 130 : rc ? 1 : 0;
}
