/* The `analytics` command (analytics.h): read the query, ask the nodes,
 * combine, report. */
#include "analytics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiment.h"
#include "fedc/fs.h"
#include "session.h"

struct gathered {
	struct analytics_combined *combined;
	size_t answered, refused, bad;
};

/* Takes each reply as it comes: errors are noted by the session (and printed
 * with the others of the same reason), a bad result is reported and left out. */
static void on_reply(void *ctx, struct fedc_msg *reply)
{
	struct gathered *g = ctx;

	if (reply->command == FEDC_CMD_ERROR) {
		g->refused++;
	} else if (analytics__combine(g->combined, reply->node_id, reply->dataset_id, reply->analytics_result,
				      reply->analytics_result_len) != FEDC_OK) {
		fprintf(stderr, "fedc-researcher: analytics: the answer of node %s is left out: %s\n", reply->node_id,
			fedc_last_error());
		g->bad++;
	} else {
		g->answered++;
	}
	fedc_msg_free(reply);
}

static bool set_tags(struct fedc_msg *req, const char *tags)
{
	char buf[1024], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", tags);
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		if (req->n_tags >= FEDC_MAX_TAGS || strlen(t) > FEDC_MAX_TAG_LEN)
			return false;
		strcpy(req->tags[req->n_tags++], t);
	}
	fedc_msg_set(req, FEDC_F_TAGS);
	return req->n_tags > 0;
}

/* Sends the query and combines what comes back. 0, or 1 after saying why. */
static int ask(const struct experiment *net, const struct analytics_request *r, struct gathered *g, int timeout_s)
{
	struct session *s = calloc(1, sizeof(*s));
	struct fedc_msg *req = fedc_msg_new(FEDC_CMD_ANALYTICS);
	size_t n = 0;
	enum fedc_err rc = s && req ? FEDC_OK : fedc_fail(FEDC_ERR_NOMEM, "out of memory");
	int code = 1;

	if (!rc && !set_tags(req, r->tags))
		rc = fedc_fail(FEDC_ERR_CONFIG, "[analytics] dataset_tags = %s: give 1 to %d tags of at most %d "
			       "characters, separated by commas", r->tags, FEDC_MAX_TAGS, FEDC_MAX_TAG_LEN);
	if (!rc) {
		snprintf(req->researcher_id, sizeof(req->researcher_id), "%s", net->researcher_id);
		snprintf(req->analytics_query, sizeof(req->analytics_query), "%s", r->wire);
		fedc_msg_set(req, FEDC_F_RESEARCHER_ID);
		fedc_msg_set(req, FEDC_F_ANALYTICS_QUERY);
		rc = session__open(s, net);
	}
	if (!rc)
		rc = session__gather(s, req, FEDC_CMD_ANALYTICS_REPLY, session__now_ms() + (int64_t)timeout_s * 1000,
				     on_reply, g, &n);
	if (rc) {
		fprintf(stderr, "fedc-researcher: analytics: %s: %s\n", fedc_strerror(rc), fedc_last_error());
		if (session__print_unreachable(stderr, rc, net))
			fprintf(stderr, "Give another with --network FILE.\n");
	} else {
		session__print_refusals(s, stderr);
		if (g->answered < session__online_count(s))
			fprintf(stderr, "fedc-researcher: analytics: %zu of %zu online node(s) answered\n", g->answered,
				session__online_count(s));
		code = 0;
	}
	if (s)
		session__close(s);
	free(s);
	fedc_msg_free(req);
	return code;
}

static int report(struct analytics_combined *c, const char *dir)
{
	char csv[4200], json[4200];
	enum fedc_err rc = fedc_mkdir_p(dir, 0755);

	analytics__combined_sort(c);
	snprintf(csv, sizeof(csv), "%s/analytics.csv", dir);
	snprintf(json, sizeof(json), "%s/analytics.json", dir);
	analytics__print_table(c, stdout);
	if (!rc)
		rc = analytics__write_csv(c, csv);
	if (!rc)
		rc = analytics__write_json(c, json);
	if (rc) {
		fprintf(stderr, "fedc-researcher: analytics: %s\n", fedc_last_error());
		return 1;
	}
	printf("wrote %s and %s\n", csv, json);
	return 0;
}

/* Asks, combines and reports: the exit code. */
static int query(const struct analytics_request *r, const struct experiment *net, const char *output_dir,
		 int timeout_s)
{
	struct analytics_combined combined = { 0 };
	struct gathered g = { .combined = &combined };
	int code = 1;

	if (analytics__combined_init(&combined, r) != FEDC_OK) {
		fprintf(stderr, "fedc-researcher: analytics: %s\n", fedc_last_error());
		return 1;
	}
	code = ask(net, r, &g, timeout_s);
	if (code == 0 && g.answered == 0) {
		fprintf(stderr, "fedc-researcher: analytics: no node answered with results%s\n",
			g.refused ? " (their refusals are above: change what they say)" : "");
		code = 1;
	}
	if (code == 0)
		code = report(&combined, output_dir);
	analytics__combined_free(&combined);
	return code;
}

int analytics__run(const char *query_path, const char *network_path, const char *output_dir, int timeout_s)
{
	struct analytics_request *r = calloc(1, sizeof(*r));
	struct experiment *net = calloc(1, sizeof(*net));
	int code = 1;

	if (!r || !net) {
		fprintf(stderr, "fedc-researcher: out of memory\n");
		goto out;
	}
	if (analytics__read_request(query_path, r) != FEDC_OK ||
	    experiment__load_network(network_path ? network_path : query_path, net) != FEDC_OK) {
		fprintf(stderr, "fedc-researcher: analytics: %s\n", fedc_last_error());
		code = 2;
		goto out;
	}
	code = query(r, net, output_dir ? output_dir : r->output_dir, timeout_s > 0 ? timeout_s : (int)r->timeout_s);
	experiment__free(net);
out:
	free(net);
	free(r);
	return code;
}

/* ---- [analytics] in an experiment file ---- */

static const char *const training_sections[] = { "model", "training", "aggregator", "privacy", "nodes", NULL };

static bool has_section(const struct fedc_config *cfg, const char *section)
{
	const char *key, *value;

	return fedc_config_entry(cfg, section, 0, &key, &value);
}

enum fedc_err analytics__part_of(const char *path, enum analytics_part *out)
{
	struct fedc_config *cfg = NULL;
	enum fedc_err rc = fedc_config_load(path, &cfg);

	*out = ANALYTICS_NONE;
	if (!rc && has_section(cfg, "analytics"))
		*out = has_section(cfg, "experiment") ? ANALYTICS_BEFORE_TRAINING : ANALYTICS_ALONE;
	/* A query with training sections but no [experiment] is a training
	 * experiment missing its head, not a query: say so rather than train nothing. */
	for (size_t i = 0; !rc && *out == ANALYTICS_ALONE && training_sections[i]; i++) {
		if (has_section(cfg, training_sections[i]))
			rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [%s] but no [experiment]: add [experiment] (tags, plan, "
				       "rounds) to train after the [analytics] query, or remove [%s] to run the query "
				       "alone", path, training_sections[i], training_sections[i]);
	}
	fedc_config_free(cfg);
	return rc;
}

enum fedc_err analytics__read_step(const char *path, struct analytics_request *out)
{
	enum fedc_err rc = analytics__read_request(path, out);

	if (!rc && out->output_dir_set)
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [analytics] output_dir: with [experiment] the results go to the "
			       "run's output directory ([experiment] output_dir or --output): remove the key", path);
	return rc;
}

enum fedc_err analytics__drop_results(const char *output_dir)
{
	static const char *const names[] = { "analytics.csv", "analytics.json" };
	char path[4200];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", output_dir, names[i]) >= sizeof(path))
			return fedc_fail(FEDC_ERR_IO, "%s: path too long", output_dir);
		if (unlink(path) != 0 && errno != ENOENT)
			return fedc_fail(FEDC_ERR_IO, "cannot remove %s, an earlier run's: %s", path, strerror(errno));
	}
	return FEDC_OK;
}

int analytics__run_step(const struct analytics_request *r, const struct experiment *net, const char *output_dir)
{
	printf("analytics before training (%s)\n", r->tags);
	return query(r, net, output_dir, (int)r->timeout_s);
}
