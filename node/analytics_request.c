/* `analytics` at the node (analytics_request.h). */
#include "analytics_request.h"

#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "dataset.h"
#include "fedc/log.h"

/* The first registered CSV dataset carrying all the request's tags (a test
 * set is part of its dataset, not one of its own). */
static enum fedc_err find_dataset(struct node_daemon *d, const struct fedc_msg *req, struct node_dataset *out)
{
	struct node_dataset *found = NULL;
	size_t n = 0;
	enum fedc_err rc = db__dataset_search(d->db, req->tags, req->n_tags, &found, &n);

	if (rc)
		return rc;
	rc = fedc_fail(FEDC_ERR_NOT_FOUND, "no CSV dataset of this node carries all the tags asked for: "
			   "`fedc-researcher nodes` lists every dataset and its tags");
	for (size_t i = 0; i < n; i++) {
		if (!found[i].test_of[0] && strcmp(found[i].type, "csv") == 0) {
			*out = found[i];
			rc = FEDC_OK;
			break;
		}
	}
	free(found);
	return rc;
}

static enum fedc_err policy_of(const struct node_config *cfg, struct analytics_policy *p)
{
	p->min_count = (uint64_t)cfg->analytics_min_count;
	p->max_epsilon = cfg->analytics_max_epsilon;
	p->budget = cfg->analytics_budget;
	p->delta = cfg->analytics_delta;
	p->bounds = cfg->analytics_bounds ? cfg->analytics_bounds : "";
	if (!analytics__noise_parse(cfg->analytics_noise, &p->noise))
		return fedc_fail(FEDC_ERR_CONFIG, "[analytics] noise = %s: not none, laplace or gaussian",
				 cfg->analytics_noise);
	return FEDC_OK;
}

/* Charges the epsilon (noise) or reads what is left (none). */
static enum fedc_err charge(struct node_daemon *d, const char *dataset_id, const struct analytics_policy *p,
			    struct analytics_result *r)
{
	double spent = 0;
	enum fedc_err rc;

	if (r->noise != ANALYTICS_NOISE_NONE)
		return db__analytics_charge(d->db, dataset_id, r->epsilon, p->budget, &r->remaining);
	rc = db__analytics_spent(d->db, dataset_id, &spent);
	r->remaining = p->budget - spent > 0 ? p->budget - spent : 0;
	return rc;
}

/* Computes and sends; any failure comes back with its detail recorded. */
static enum fedc_err answer(struct node_daemon *d, const struct fedc_msg *req, struct analytics_query *q,
			    struct node_dataset *ds)
{
	struct analytics_policy policy;
	struct analytics_result result = { 0 };
	struct fedc_data data = { 0 };
	struct fedc_buf text = FEDC_BUF_INIT(FEDC_MAX_ANALYTICS_RESULT);
	struct fedc_msg *reply = NULL;
	enum fedc_err rc = policy_of(d->cfg, &policy);

	if (!rc)
		rc = analytics_query__parse(req->analytics_query, q);
	if (!rc)
		rc = find_dataset(d, req, ds);
	if (!rc)
		rc = dataset__load(ds, &data);
	if (!rc)
		rc = analytics__compute(&data, q, &policy, &result);
	if (!rc)
		rc = charge(d, ds->id, &policy, &result);
	if (!rc)
		rc = analytics__add_noise(&result);
	if (!rc)
		rc = analytics__format(&result, &text);
	if (!rc) {
		reply = fedc_msg_reply(req, FEDC_CMD_ANALYTICS_REPLY, d->cfg->node_id);
		rc = reply ? fedc_msg_set_analytics_result(reply, text.data, text.len) : FEDC_ERR_NOMEM;
	}
	if (!rc) {
		snprintf(reply->dataset_id, sizeof(reply->dataset_id), "%s", ds->id);
		fedc_msg_set(reply, FEDC_F_DATASET_ID);
		fedc_info("analytics for %s on dataset %s: epsilon %g spent, %g left", req->researcher_id, ds->name,
			  result.epsilon, result.remaining);
		fedc_ignore(daemon__send(d, reply)); /* a failed send is logged; the researcher's timeout covers it */
	}
	fedc_msg_free(reply);
	fedc_buf_free(&text);
	analytics__result_free(&result);
	dataset__free_data(&data);
	return rc;
}

void analytics__answer(struct node_daemon *d, const struct fedc_msg *req)
{
	struct analytics_query *q = malloc(sizeof(*q));
	struct node_dataset *ds = malloc(sizeof(*ds));
	enum fedc_err rc;

	if (!d->cfg->analytics_enabled)
		rc = fedc_fail(FEDC_ERR_PRIVACY, "this node does not answer analytics queries ([analytics] enabled is "
			       "false): ask its operator to enable them");
	else if (!q || !ds)
		rc = fedc_fail(FEDC_ERR_NOMEM, "out of memory for the query");
	else
		rc = answer(d, req, q, ds);
	if (rc) {
		fedc_warn("analytics from %s refused: %s", req->researcher_id, fedc_last_error());
		fedc_ignore(daemon__send_error(d, req, rc, "analytics: %s", fedc_last_error()));
	}
	free(q);
	free(ds);
}
