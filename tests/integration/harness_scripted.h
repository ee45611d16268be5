/* A provisioned node played by the test itself (integration tests).
 *
 * It connects with the node's own broker credentials and signing key, as
 * fedc-admin provisioned them, so the researcher treats it as any node; the
 * test decides every answer: a rogue node, a node of an earlier version. */
#ifndef FEDC_TEST_HARNESS_SCRIPTED_H
#define FEDC_TEST_HARNESS_SCRIPTED_H

#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

struct harness_scripted_node {
	struct harness *h;
	char id[64];
	struct fedc_mqtt *mqtt;
	struct fedc_channel channel;
	char status_topic[FEDC_MAX_TOPIC_LEN + 1];
};

/* What a test's node says to one accepted request: fill `reply` (made by
 * fedc_msg_reply with the right command) and return true to send it, false
 * to stay silent. Called for search and train requests only. */
typedef bool (*harness_scripted_answer)(void *ctx, const struct fedc_msg *req, struct fedc_msg *reply);

/* Connects as node `id` of h's federation (provisioned with harness_add_node,
 * not started), subscribed to the broadcast and its own topic, and publishes
 * its signed retained status "online". 0 on success. */
int harness_scripted_connect(struct harness *h, struct harness_scripted_node *n, const char *id);
/* Publishes its signed retained status `state`. 0 on success. */
int harness_scripted_status(struct harness_scripted_node *n, const char *state);
/* Answers every accepted request with `answer` until process `pid` exits or
 * timeout_s passes. Returns the wait status, or -1 if the process is still
 * running (the caller stops it). */
int harness_scripted_serve(struct harness_scripted_node *n, pid_t pid, int timeout_s, harness_scripted_answer answer,
			   void *ctx);
/* Says "offline", disconnects and frees. */
void harness_scripted_close(struct harness_scripted_node *n);

/* Fills a search reply with one CSV dataset `dataset_id` tagged
 * breast-cancer, of `rows` rows, 30 features and 2 classes. */
void harness_scripted_dataset(struct fedc_msg *reply, const char *dataset_id, uint64_t rows);
/* Copies job, dataset and round from a train request into its reply and
 * marks the fields a train reply carries (the caller sets n_samples,
 * n_test, params_digest and what else it sends). */
void harness_scripted_train_fields(const struct fedc_msg *req, struct fedc_msg *reply);

#endif
