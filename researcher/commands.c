/* nodes, search, approval (see commands.h). */
#define _GNU_SOURCE /* memfd_create */
#include "commands.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fedc/caps.h"
#include "fedc/fs.h"
#include "fedc/log.h"
#include "fedc/repo.h"
#include "fedc/source_bundle.h"
#include "plan_build.h"
#include "session.h"

#define MAX_REPLIES SESSION_MAX_NODES

struct replies {
	struct fedc_msg *items[MAX_REPLIES];
	size_t n;
};

static void keep_reply(void *ctx, struct fedc_msg *reply)
{
	struct replies *r = ctx;

	if (r->n < MAX_REPLIES)
		r->items[r->n++] = reply;
	else
		fedc_msg_free(reply);
}

static int by_node(const void *a, const void *b)
{
	return strcmp((*(struct fedc_msg *const *)a)->node_id, (*(struct fedc_msg *const *)b)->node_id);
}

static void free_replies(struct replies *r)
{
	for (size_t i = 0; i < r->n; i++)
		fedc_msg_free(r->items[i]);
	r->n = 0;
}

/* What each command holds: its session, its request, the replies. */
struct exchange {
	struct session *session;
	struct replies *replies;
	struct fedc_msg *req;
};

/* Allocates the exchange and a request of `cmd` from this researcher.
 * false (after freeing what was made) when memory runs out. */
static bool exchange_new(struct exchange *x, const struct experiment *net, enum fedc_cmd cmd)
{
	x->session = calloc(1, sizeof(*x->session));
	x->replies = calloc(1, sizeof(*x->replies));
	x->req = fedc_msg_new(cmd);
	if (!x->session || !x->replies || !x->req) {
		free(x->session);
		free(x->replies);
		fedc_msg_free(x->req);
		fprintf(stderr, "fedc-researcher: out of memory\n");
		return false;
	}
	snprintf(x->req->researcher_id, sizeof(x->req->researcher_id), "%s", net->researcher_id);
	fedc_msg_set(x->req, FEDC_F_RESEARCHER_ID);
	return true;
}

static void exchange_free(struct exchange *x)
{
	session__close(x->session);
	free_replies(x->replies);
	fedc_msg_free(x->req);
	free(x->replies);
	free(x->session);
}

/* Opens a session, sends `req` to all nodes and gathers the replies sorted by
 * node id. 0, or 1 after printing why. */
static int ask_all(struct session *s, const struct experiment *net, const struct fedc_msg *req,
		   enum fedc_cmd reply_cmd, int timeout_s, struct replies *out)
{
	size_t n = 0;
	enum fedc_err rc = session__open(s, net);

	if (!rc)
		rc = session__gather(s, req, reply_cmd, session__now_ms() + (int64_t)timeout_s * 1000, keep_reply, out,
				     &n);
	if (rc) {
		fprintf(stderr, "fedc-researcher: %s: %s\n", fedc_strerror(rc), fedc_last_error());
		if (session__print_unreachable(stderr, rc, net))
			fprintf(stderr, "Give another with --network FILE.\n");
		return 1;
	}
	qsort(out->items, out->n, sizeof(out->items[0]), by_node);
	return 0;
}

/* One dataset: its kind and one sample's shape (a node that does not say
 * the shape, one of an older version, has its feature count shown). */
static void print_dataset(const struct fedc_msg_dataset *d)
{
	char shape[sizeof(d->shape)];

	if (d->shape[0])
		snprintf(shape, sizeof(shape), "%s", d->shape);
	else
		snprintf(shape, sizeof(shape), "%" PRIu64, d->n_features);
	printf("    %-20s %-7s shape %-10s %8" PRIu64 " samples", d->name, d->type, shape, d->n_samples);
	if (d->n_classes)
		printf(" %4" PRIu32 " classes", d->n_classes);
	printf("  tags:");
	for (uint32_t t = 0; t < d->n_tags; t++)
		printf("%s%s", t ? "," : " ", d->tags[t]);
	printf("  id %s\n", d->dataset_id);
}

/* A node's datasets; a node that refused is told with the others that
 * refused for the same reason (session__print_refusals). */
static void print_node(const struct fedc_msg *reply)
{
	if (reply->command == FEDC_CMD_ERROR)
		return;
	printf("%-24s %u dataset(s)\n", reply->node_id, reply->n_datasets);
	for (uint32_t d = 0; d < reply->n_datasets; d++)
		print_dataset(&reply->datasets[d]);
}

/* One capability as the table shows it: "-" when the node does not say. */
static void cap_cell(const struct fedc_msg *m, const char *name, char *out, size_t cap)
{
	double v;

	if (fedc_msg_has(m, FEDC_F_CAPABILITIES) && fedc_msg_kv_get(m->capabilities, m->n_capabilities, name, &v))
		snprintf(out, cap, "%.15g", v);
	else
		snprintf(out, cap, "-");
}

/* The privacy policy a node enforces, in words: what it refuses. */
static void policy_cell(const struct fedc_msg *m, char *out, size_t cap)
{
	double v;
	size_t used = 0;

	out[0] = '\0';
	if (fedc_msg_kv_get(m->capabilities, m->n_capabilities, FEDC_CAP_REQUIRE_DP, &v) && v != 0)
		used += (size_t)snprintf(out + used, cap - used, "dp required, ");
	if (used < cap && fedc_msg_kv_get(m->capabilities, m->n_capabilities, FEDC_CAP_REQUIRE_SECURE_AGGREGATION, &v) &&
	    v != 0)
		used += (size_t)snprintf(out + used, cap - used, "secagg required, ");
	if (used < cap && fedc_msg_kv_get(m->capabilities, m->n_capabilities, FEDC_CAP_MIN_NOISE_MULTIPLIER, &v) && v > 0)
		used += (size_t)snprintf(out + used, cap - used, "noise >= %g, ", v);
	if (used < cap && fedc_msg_kv_get(m->capabilities, m->n_capabilities, FEDC_CAP_MAX_EPSILON, &v) && v > 0)
		used += (size_t)snprintf(out + used, cap - used, "epsilon <= %g, ", v);
	if (used < cap && fedc_msg_kv_get(m->capabilities, m->n_capabilities, FEDC_CAP_MIN_SAMPLES, &v) && v > 0)
		used += (size_t)snprintf(out + used, cap - used, "samples >= %g, ", v);
	if (used >= 2 && used < cap)
		out[used - 2] = '\0';
	else if (!out[0] || used >= cap)
		snprintf(out, cap, "%s", used >= cap ? "(too long)" : "-");
}

static void print_capability_row(const struct fedc_msg *m)
{
	static const char *const names[] = { FEDC_CAP_ABI, FEDC_CAP_CORES, FEDC_CAP_MEMORY_MB, FEDC_CAP_MAX_RUNTIME_S,
					     FEDC_CAP_MAX_CPU_S, FEDC_CAP_MAX_PLAN_MEMORY_MB };
	char cell[32], kinds[FEDC_MAX_DATASET_KINDS * FEDC_SHORT_BUF + 2] = "", policy[160];
	size_t used = 0;

	printf("%-24s", m->node_id);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		cap_cell(m, names[i], cell, sizeof(cell));
		printf(" %*s", i == 0 ? 3 : 9, cell);
	}
	printf(" %-7s", m->sdk_version[0] ? m->sdk_version : "-");
	for (uint32_t k = 0; k < m->n_dataset_kinds && used < sizeof(kinds); k++)
		used += (size_t)snprintf(kinds + used, sizeof(kinds) - used, "%s%s", k ? "," : "", m->dataset_kinds[k]);
	policy_cell(m, policy, sizeof(policy));
	printf(" %-14s %s\n", kinds[0] ? kinds : "-", policy);
}

static bool answered(const struct replies *r, const char *node_id)
{
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->items[i]->node_id, node_id) == 0)
			return true;
	}
	return false;
}

/* Whether a reply lists the node: it answered, and (`with_datasets`, for
 * search) holds a matching dataset. */
static bool listed(const struct fedc_msg *m, bool with_datasets)
{
	return m->command != FEDC_CMD_ERROR && (!with_datasets || m->n_datasets > 0);
}

/* What each node listed advertises (fedc/caps.h); "-" where a node (of an
 * older version) does not say. */
static void print_capabilities(const struct replies *r, bool with_datasets)
{
	printf("\n%-24s %3s %9s %9s %9s %9s %9s %-7s %-14s %s\n", "capabilities", "abi", "cores", "memory_mb",
	       "runtime_s", "cpu_s", "plan_mb", "sdk", "kinds", "privacy policy");
	for (size_t i = 0; i < r->n; i++) {
		if (listed(r->items[i], with_datasets))
			print_capability_row(r->items[i]);
	}
}

/* ---- nodes --json ---- */

static json_t *dataset_json(const struct fedc_msg_dataset *d)
{
	json_t *tags = json_array();

	for (uint32_t t = 0; tags && t < d->n_tags; t++)
		json_array_append_new(tags, json_string(d->tags[t]));
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "dataset_id", d->dataset_id, "name", d->name,
			 "type", d->type, "shape", d->shape, "n_samples", (json_int_t)d->n_samples, "n_features",
			 (json_int_t)d->n_features, "n_classes", (json_int_t)d->n_classes, "tags",
			 tags ? tags : json_array());
}

/* A node that answered: its datasets and what it advertises ("capabilities"
 * null and "sdk_version" "" for a node of a version before capabilities). */
static json_t *answer_json(const struct fedc_msg *m)
{
	json_t *obj = json_pack("{s:s, s:b, s:b}", "node_id", m->node_id, "online", 1, "answered", 1);
	json_t *datasets = json_array(), *kinds = json_array(), *caps = NULL;

	if (m->command == FEDC_CMD_ERROR && obj)
		json_object_set_new(obj, "refused", json_sprintf("%s: %s", m->error_code, m->message));
	for (uint32_t d = 0; datasets && d < m->n_datasets; d++)
		json_array_append_new(datasets, dataset_json(&m->datasets[d]));
	for (uint32_t k = 0; kinds && k < m->n_dataset_kinds; k++)
		json_array_append_new(kinds, json_string(m->dataset_kinds[k]));
	if (fedc_msg_has(m, FEDC_F_CAPABILITIES)) {
		caps = json_object();
		for (uint32_t c = 0; caps && c < m->n_capabilities; c++)
			json_object_set_new(caps, m->capabilities[c].name, json_real(m->capabilities[c].value));
	}
	json_object_set_new(obj, "datasets", datasets ? datasets : json_array());
	json_object_set_new(obj, "capabilities", caps ? caps : json_null());
	json_object_set_new(obj, "sdk_version", json_string(m->sdk_version));
	json_object_set_new(obj, "dataset_kinds", kinds ? kinds : json_array());
	return obj;
}

/* One object: the federation and one entry per node, those that answered
 * in node-id order, then those seen that did not. 0, or 1 if out of memory. */
static int print_nodes_json(const struct experiment *net, const struct session *s, const struct replies *r)
{
	json_t *doc = json_pack("{s:s, s:I, s:[]}", "federation", net->federation, "online",
				(json_int_t)session__online_count(s), "nodes");
	json_t *nodes = json_object_get(doc, "nodes");
	char *text;

	for (size_t i = 0; nodes && i < r->n; i++)
		json_array_append_new(nodes, answer_json(r->items[i]));
	for (size_t i = 0; nodes && i < s->n_nodes; i++) {
		if (!answered(r, s->nodes[i].id))
			json_array_append_new(nodes, json_pack("{s:s, s:b, s:b}", "node_id", s->nodes[i].id, "online",
								 s->nodes[i].online, "answered", 0));
	}
	text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
	json_decref(doc);
	if (!text) {
		fprintf(stderr, "fedc-researcher: nodes: out of memory\n");
		return 1;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

int commands__nodes(const struct experiment *net, int timeout_s, bool json)
{
	struct exchange x;
	int code;

	if (!exchange_new(&x, net, FEDC_CMD_LIST))
		return 1;
	code = ask_all(x.session, net, x.req, FEDC_CMD_LIST_REPLY, timeout_s, x.replies);
	if (code == 0 && json) {
		code = print_nodes_json(net, x.session, x.replies);
		if (x.session->n_nodes == 0) /* stdout stays one JSON document */
			fprintf(stderr, "fedc-researcher: nodes: no node of federation %s has been seen: are they "
					"started, with this broker and federation?\n", net->federation);
	} else if (code == 0) {
		printf("federation %s: %zu node(s) online\n", net->federation, session__online_count(x.session));
		for (size_t i = 0; i < x.replies->n; i++)
			print_node(x.replies->items[i]);
		for (size_t i = 0; i < x.session->n_nodes; i++) {
			const struct session_node *n = &x.session->nodes[i];

			if (!answered(x.replies, n->id))
				printf("%-24s %s\n", n->id, n->online ? "online, did not answer" : "offline");
		}
		session__print_refusals(x.session, stdout);
		print_capabilities(x.replies, false);
	}
	exchange_free(&x);
	return code;
}

/* "a, b,c" -> the request's tag list. */
static bool set_tags(struct fedc_msg *req, const char *tags)
{
	char buf[1024], *save = NULL;

	if (strlen(tags) >= sizeof(buf))
		return false;
	strcpy(buf, tags);
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		if (req->n_tags >= FEDC_MAX_TAGS || strlen(t) > FEDC_MAX_TAG_LEN)
			return false;
		strcpy(req->tags[req->n_tags++], t);
	}
	fedc_msg_set(req, FEDC_F_TAGS);
	return req->n_tags > 0;
}

int commands__search(const struct experiment *net, const char *tags, int timeout_s)
{
	struct exchange x;
	size_t found = 0;
	int code = 1;

	if (!exchange_new(&x, net, FEDC_CMD_SEARCH))
		return 1;
	if (!set_tags(x.req, tags))
		fprintf(stderr, "fedc-researcher: search: --tags \"%s\": give 1 to %d tags of at most %d characters, "
				"separated by commas\n", tags, FEDC_MAX_TAGS, FEDC_MAX_TAG_LEN);
	else
		code = ask_all(x.session, net, x.req, FEDC_CMD_SEARCH_REPLY, timeout_s, x.replies);
	if (code == 0) {
		size_t refused = x.session->n_refused;

		for (size_t i = 0; i < x.replies->n; i++) {
			const struct fedc_msg *m = x.replies->items[i];

			if (listed(m, true)) {
				print_node(m);
				found++;
			}
		}
		session__print_refusals(x.session, stdout);
		printf("%zu of %zu node(s) hold datasets tagged %s", found, x.replies->n, tags);
		if (refused)
			printf(" (%zu refused the search)", refused);
		printf("\n");
		if (found > 0)
			print_capabilities(x.replies, true);
		if (found == 0 && refused < x.replies->n)
			printf("no dataset carries all of the tags %s; every dataset and its tags:\n"
			       "  fedc-researcher nodes --network %s\n",
			       tags, session__network_file(net));
	}
	exchange_free(&x);
	return code;
}

/* Uploads the plan; fills req's digest and name (the file's base name). */
static int upload_plan(const struct experiment *net, const char *plan_path, struct fedc_msg *req)
{
	struct fedc_repo *repo = NULL;
	const char *base = strrchr(plan_path, '/');
	enum fedc_err rc = experiment__repo_new(net, &repo);

	if (!rc)
		rc = fedc_repo_put_file(repo, plan_path, NULL, req->plan_digest, NULL);
	fedc_repo_free(repo);
	if (rc) {
		fprintf(stderr, "fedc-researcher: approval: cannot upload %s: %s\n", plan_path, fedc_last_error());
		if (session__print_unreachable(stderr, rc, net))
			fprintf(stderr, "Give another with --network FILE.\n");
		return 1;
	}
	snprintf(req->plan_name, sizeof(req->plan_name), "%s", base ? base + 1 : plan_path);
	fedc_msg_set(req, FEDC_F_PLAN_DIGEST);
	fedc_msg_set(req, FEDC_F_PLAN_NAME);
	return 0;
}

/* "a.c,b.h" -> the paths in `list` (pointers into `copy`, strdup'd; the
 * caller frees it). False, with *n unchanged, past FEDC_SOURCE_MAX_FILES. */
static bool split_sources(const char *sources, char **copy, const char **list, size_t *n)
{
	char *save = NULL;

	*copy = strdup(sources);
	if (!*copy)
		return false;
	for (char *t = strtok_r(*copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*n >= FEDC_SOURCE_MAX_FILES)
			return false;
		list[(*n)++] = t;
	}
	return true;
}

/* Packs the files of --source into one bundle (fedc/source_bundle.h),
 * publishes it, and names it in req's source_digest. */
static int upload_source(const struct experiment *net, const char *sources, struct fedc_msg *req)
{
	const char *list[FEDC_SOURCE_MAX_FILES + 1];
	struct fedc_buf bundle = FEDC_BUF_INIT(FEDC_SOURCE_MAX);
	struct fedc_repo *repo = NULL;
	char *copy = NULL;
	size_t n = 0;
	int fd = -1;
	enum fedc_err rc = FEDC_OK;

	if (!split_sources(sources, &copy, list, &n))
		rc = fedc_fail(FEDC_ERR_INVAL, "--source: give 1 to %d files, separated by commas",
			       FEDC_SOURCE_MAX_FILES);
	if (!rc)
		rc = fedc_source_pack(list, n, &bundle);
	if (!rc && (fd = memfd_create("fedc-plan-source", MFD_CLOEXEC)) < 0)
		rc = fedc_fail(FEDC_ERR_IO, "memfd_create: %s", strerror(errno));
	if (!rc)
		rc = fedc_write_all(fd, bundle.data, bundle.len, "plan source bundle");
	if (!rc)
		rc = experiment__repo_new(net, &repo);
	if (!rc)
		rc = fedc_repo_put_fd(repo, fd, NULL, req->source_digest, NULL);
	if (!rc)
		fedc_msg_set(req, FEDC_F_SOURCE_DIGEST);
	else
		fprintf(stderr, "fedc-researcher: approval: cannot ship the source: %s\n", fedc_last_error());
	fedc_repo_free(repo);
	if (fd >= 0)
		close(fd);
	fedc_buf_free(&bundle);
	free(copy);
	return rc ? 1 : 0;
}

static int approval(const struct experiment *net, const char *plan_path, const char *description,
		    const char *sources, int timeout_s);

/* A plan given as C source: compiled as `run` compiles `plan = plan.c`
 * (plan_build.h) into a fresh directory under $TMPDIR, as <stem>.so, whose
 * path goes into `so`. The caller removes it with drop_build once sent; a
 * failed build leaves its log there for the error to point at. */
static int build_plan(const char *source, char *dir, size_t dir_cap, char *so, size_t so_cap)
{
	const char *tmp = getenv("TMPDIR");
	const char *slash = strrchr(source, '/');
	const char *base = slash ? slash + 1 : source;
	enum fedc_err rc = FEDC_OK;

	if ((size_t)snprintf(dir, dir_cap, "%s/fedc-approval-XXXXXX", tmp && tmp[0] ? tmp : "/tmp") >= dir_cap ||
	    (size_t)snprintf(so, so_cap, "%s/%.*s.so", dir, (int)(strlen(base) - 2), base) >= so_cap)
		rc = fedc_fail(FEDC_ERR_INVAL, "path too long: %s", source);
	if (!rc && !mkdtemp(dir))
		rc = fedc_fail(FEDC_ERR_IO, "cannot create a directory under %s: %s", tmp ? tmp : "/tmp", strerror(errno));
	if (!rc) {
		memcpy(so, dir, strlen(dir)); /* mkdtemp filled in the X's */
		printf("compiling %s\n", source);
		fflush(stdout);
		rc = plan_build__compile(source, so);
	}
	if (rc)
		fprintf(stderr, "fedc-researcher: approval: %s\n", fedc_last_error());
	return rc ? 1 : 0;
}

static void drop_build(const char *dir, const char *so)
{
	char log[4200];

	if (!dir[0] || strstr(dir, "XXXXXX"))
		return;
	snprintf(log, sizeof(log), "%s.log", so);
	(void)unlink(so);
	(void)unlink(log);
	(void)rmdir(dir);
}

int commands__approval(const struct experiment *net, const char *plan_path, const char *description,
		       const char *sources, int timeout_s)
{
	char dir[4096] = "", so[4200] = "";
	int code;

	if (plan_build__is_source(plan_path)) {
		code = build_plan(plan_path, dir, sizeof(dir), so, sizeof(so));
		if (code) /* the compiler's log stays where the error says */
			return code;
		sources = sources ? sources : plan_path; /* the source it was built from goes with it */
		plan_path = so;
	}
	code = approval(net, plan_path, description, sources, timeout_s);
	drop_build(dir, so);
	return code;
}

static int approval(const struct experiment *net, const char *plan_path, const char *description,
		    const char *sources, int timeout_s)
{
	struct exchange x;
	int code;

	if (!exchange_new(&x, net, FEDC_CMD_APPROVAL))
		return 1;
	if (description) {
		snprintf(x.req->description, sizeof(x.req->description), "%s", description);
		fedc_msg_set(x.req, FEDC_F_DESCRIPTION);
	}
	code = sources ? upload_source(net, sources, x.req) : 0;
	if (code == 0)
		code = upload_plan(net, plan_path, x.req);
	if (code == 0)
		code = ask_all(x.session, net, x.req, FEDC_CMD_APPROVAL_REPLY, timeout_s, x.replies);
	if (code == 0) {
		printf("plan %s (%s)\n", x.req->plan_name, x.req->plan_digest);
		if (fedc_msg_has(x.req, FEDC_F_SOURCE_DIGEST))
			printf("source %s (%s)\n", x.req->source_digest, sources);
		for (size_t i = 0; i < x.replies->n; i++) {
			const struct fedc_msg *m = x.replies->items[i];

			printf("  %-24s %s\n", m->node_id, m->command == FEDC_CMD_ERROR ? m->message : m->plan_status);
		}
		printf("%zu node(s) answered; their operators approve it with:\n  fedc-node plan approve %s\n"
		       "(a node set to another digest algorithm lists the plan under its own digest: "
		       "fedc-node plan list)\n",
		       x.replies->n, x.req->plan_digest);
	}
	exchange_free(&x);
	return code;
}
