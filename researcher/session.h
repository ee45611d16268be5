/* The researcher's MQTT session: sends requests to one node or to all,
 * receives replies on its own topic, and follows every node's retained
 * status (online/offline, including last wills). */
#ifndef FEDC_RESEARCHER_SESSION_H
#define FEDC_RESEARCHER_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "experiment.h"
#include "fedc/channel.h"
#include "fedc/message.h"
#include "fedc/mqtt.h"

#define SESSION_MAX_NODES 1024

/* The `error` replies nodes sent to this researcher, one entry per distinct
 * reason with the nodes that gave it, so that the user reads each reason once
 * (`nodes a, b refused: ...` for a request turned away, `node c failed: ...`
 * for one taken that failed) rather than once per node and round. */
#define SESSION_MAX_REASONS 8
#define SESSION_NODE_LIST 256

struct session_refusal {
	char reason[FEDC_MAX_TEXT_LEN + 1];
	char nodes[SESSION_NODE_LIST]; /* "a, b, c", cut with " ..." */
	size_t n_nodes;                /* distinct nodes */
	bool refused;                  /* turned the request away (else: took it and failed) */
};

/* A node is online if its last status said so, or if no status of it came
 * and it answered a request: RabbitMQ's MQTT plugin (3.10) hands retained
 * messages only to subscriptions of their exact topic, so a researcher on it
 * sees no retained status through "status/+" (docs/deployment.md). */
struct session_node {
	char id[FEDC_MAX_ID_LEN + 1];
	bool online;
	bool status_known; /* a status of it arrived */
};

struct session {
	const struct experiment *exp;
	struct fedc_mqtt *mqtt;
	struct fedc_channel channel; /* signs commands, checks replies */
	char reply_topic[FEDC_MAX_TOPIC_LEN + 1];
	char nodes_topic[FEDC_MAX_TOPIC_LEN + 1];
	struct session_node nodes[SESSION_MAX_NODES];
	size_t n_nodes;
	struct session_refusal refusals[SESSION_MAX_REASONS];
	size_t n_refusals;
	size_t n_refused;       /* error replies noted, all reasons */
	size_t n_unkept;        /* of them, those whose reason found no place */
};

/* Connects and subscribes, then gives retained statuses a moment to arrive. */
FEDC_NODISCARD
enum fedc_err session__open(struct session *s, const struct experiment *exp);
void session__close(struct session *s);

/* Publishes to one node's topic, or to every node when node_id is NULL. */
FEDC_NODISCARD
enum fedc_err session__send(struct session *s, const char *node_id, const struct fedc_msg *msg);

/* Waits until `deadline_ms` (monotonic clock, see session__now_ms) for the
 * next valid message: a reply addressed to this researcher, or a node's status
 * (also recorded in the node table). Invalid payloads are logged and skipped.
 * FEDC_OK with *out (caller frees), FEDC_ERR_TIMEOUT, FEDC_ERR_INTERRUPTED
 * (session__interrupt, e.g. from a SIGINT handler). */
FEDC_NODISCARD
enum fedc_err session__next(struct session *s, int64_t deadline_ms, struct fedc_msg **out);
void session__interrupt(struct session *s);

/* Sends `req` to every node and hands each reply to it (same request id,
 * command `reply_cmd` or `error`, the latter also noted as a refusal:
 * session__print_refusals) to `on_reply`, which takes ownership, until
 * every node online has answered or `deadline_ms` passes. Returns FEDC_OK
 * (also on the deadline) with *replies set, or the error that stopped it. */
typedef void (*session_reply_fn)(void *ctx, struct fedc_msg *reply);
FEDC_NODISCARD
enum fedc_err session__gather(struct session *s, const struct fedc_msg *req, enum fedc_cmd reply_cmd,
			      int64_t deadline_ms, session_reply_fn on_reply, void *ctx, size_t *replies);

/* Notes an `error` reply (the caller keeps it). Reasons past
 * SESSION_MAX_REASONS are counted, not kept. */
void session__note_refusal(struct session *s, const struct fedc_msg *error);
/* Prints the refusals noted since the last call, one line per reason, with
 * what to do where the reason is known (a key the nodes do not trust yet),
 * then forgets them. Prints nothing when there were none. */
void session__print_refusals(struct session *s, FILE *out);

/* The file the [network] section came from (the network file, or the
 * experiment file that holds it), for the commands a message suggests. */
const char *session__network_file(const struct experiment *exp);
/* After a failure to reach the broker or the repository (FEDC_ERR_NET,
 * FEDC_ERR_MQTT; returns false, printing nothing, for other codes): names
 * the network file that pointed there and asks whether it is the right one.
 * The caller adds how to give another. */
bool session__print_unreachable(FILE *out, enum fedc_err rc, const struct experiment *exp);

/* Whether `node_id` is online (struct session_node). */
bool session__online(const struct session *s, const char *node_id);
/* How many nodes are online (struct session_node). */
size_t session__online_count(const struct session *s);
int64_t session__now_ms(void);

#endif
