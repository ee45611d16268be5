/* A provisioned node played by the test itself (see harness_scripted.h). */
#include "harness_scripted.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "fedc/message.h"

int harness_scripted_status(struct harness_scripted_node *n, const char *state)
{
	struct fedc_msg *msg = fedc_msg_new(FEDC_CMD_STATUS);
	int rc;

	if (!msg)
		return -1;
	snprintf(msg->node_id, sizeof(msg->node_id), "%s", n->id);
	snprintf(msg->state, sizeof(msg->state), "%s", state);
	fedc_msg_set(msg, FEDC_F_NODE_ID);
	fedc_msg_set(msg, FEDC_F_STATE);
	rc = fedc_channel_publish(&n->channel, n->mqtt, n->status_topic, msg, true) == FEDC_OK ? 0 : -1;
	fedc_msg_free(msg);
	return rc;
}

int harness_scripted_connect(struct harness *h, struct harness_scripted_node *n, const char *id)
{
	char bundle[512], key[600], trusted[600], broadcast[FEDC_MAX_TOPIC_LEN + 1], own[FEDC_MAX_TOPIC_LEN + 1];
	const char *subs[] = { broadcast, own };

	memset(n, 0, sizeof(*n));
	n->h = h;
	snprintf(n->id, sizeof(n->id), "%s", id);
	snprintf(bundle, sizeof(bundle), "%s/nodes/%s", h->fed_dir, id);
	snprintf(key, sizeof(key), "%s/signing.key", bundle);
	snprintf(trusted, sizeof(trusted), "%s/trusted", bundle);
	if (fedc_channel_init(&n->channel, id, key, trusted, 300, false) != FEDC_OK ||
	    fedc_topic_nodes(broadcast, h->federation) != FEDC_OK || fedc_topic_node(own, h->federation, id) != FEDC_OK ||
	    fedc_topic_status(n->status_topic, h->federation, id) != FEDC_OK ||
	    harness_connect_as(h, bundle, id, id, subs, 2, &n->mqtt) != 0)
		return -1;
	return harness_scripted_status(n, "online");
}

/* Sends the answer to one request, if the test gives one. */
static void answer_one(struct harness_scripted_node *n, const struct fedc_msg *req, harness_scripted_answer answer,
		       void *ctx)
{
	char topic[FEDC_MAX_TOPIC_LEN + 1];
	enum fedc_cmd kind;
	struct fedc_msg *reply;

	if (req->command == FEDC_CMD_SEARCH)
		kind = FEDC_CMD_SEARCH_REPLY;
	else if (req->command == FEDC_CMD_TRAIN)
		kind = FEDC_CMD_TRAIN_REPLY;
	else
		return;
	reply = fedc_msg_reply(req, kind, n->id);
	assert_non_null(reply);
	if (answer(ctx, req, reply)) {
		assert_int_equal(fedc_topic_researcher(topic, n->h->federation, req->researcher_id), FEDC_OK);
		if (fedc_channel_publish(&n->channel, n->mqtt, topic, reply, false) != FEDC_OK)
			fail_msg("%s's reply was not sent: %s", n->id, fedc_last_error());
	}
	fedc_msg_free(reply);
}

int harness_scripted_serve(struct harness_scripted_node *n, pid_t pid, int timeout_s, harness_scripted_answer answer,
			   void *ctx)
{
	struct fedc_msg *req = calloc(1, sizeof(*req));
	time_t t0 = time(NULL);
	int status = -1;

	assert_non_null(req);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		struct fedc_mqtt_message *m = NULL;
		struct fedc_origin origin;

		status = -1;
		if (time(NULL) - t0 >= timeout_s)
			break;
		if (fedc_mqtt_next(n->mqtt, 200, &m) != FEDC_OK)
			continue;
		if (fedc_channel_accept(&n->channel, m->topic, m->payload, m->len, req, &origin) == FEDC_OK)
			answer_one(n, req, answer, ctx);
		fedc_msg_clear(req);
		fedc_mqtt_message_free(m);
	}
	fedc_msg_free(req);
	return status;
}

void harness_scripted_close(struct harness_scripted_node *n)
{
	if (n->mqtt && harness_scripted_status(n, "offline") != 0)
		fprintf(stderr, "%s: its offline status was not sent: %s\n", n->id, fedc_last_error());
	fedc_mqtt_close(n->mqtt, NULL, 0);
	n->mqtt = NULL;
	fedc_channel_free(&n->channel);
}

void harness_scripted_dataset(struct fedc_msg *reply, const char *dataset_id, uint64_t rows)
{
	struct fedc_msg_dataset *d;

	assert_int_equal(fedc_msg_datasets_alloc(reply, 1), FEDC_OK);
	d = &reply->datasets[0];
	snprintf(d->dataset_id, sizeof(d->dataset_id), "%s", dataset_id);
	snprintf(d->name, sizeof(d->name), "%s", dataset_id);
	snprintf(d->type, sizeof(d->type), "csv");
	d->n_tags = 1;
	snprintf(d->tags[0], sizeof(d->tags[0]), "breast-cancer");
	d->n_samples = rows;
	d->n_features = 30;
	d->n_classes = 2;
	fedc_msg_set(reply, FEDC_F_DATASETS);
}

void harness_scripted_train_fields(const struct fedc_msg *req, struct fedc_msg *reply)
{
	static const enum fedc_field fields[] = {
		FEDC_F_JOB_ID, FEDC_F_DATASET_ID, FEDC_F_PARAMS_DIGEST, FEDC_F_ROUND, FEDC_F_N_SAMPLES, FEDC_F_N_TEST,
		FEDC_F_METRICS, FEDC_F_GLOBAL_METRICS, FEDC_F_DOWNLOAD_S, FEDC_F_TRAIN_S, FEDC_F_UPLOAD_S,
	};

	snprintf(reply->job_id, sizeof(reply->job_id), "%s", req->job_id);
	snprintf(reply->dataset_id, sizeof(reply->dataset_id), "%s", req->dataset_id);
	reply->round = req->round;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		fedc_msg_set(reply, fields[i]);
}
