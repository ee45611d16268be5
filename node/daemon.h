/* The node daemon (`fedc-node start`): answers requests from researchers over
 * MQTT and hands training rounds to the round worker (round.h). */
#ifndef FEDC_NODE_DAEMON_H
#define FEDC_NODE_DAEMON_H

#include <signal.h>
#include <stdarg.h>

#include "db.h"
#include "fedc/channel.h"
#include "fedc/message.h"
#include "fedc/mqtt.h"
#include "fedc/repo.h"
#include "node_config.h"
#include "plan_store.h"
#include "refusal_limit.h"

struct round_worker;
struct secagg_client;

struct node_daemon {
	const struct node_config *cfg;
	struct fedc_mqtt *mqtt;
	struct fedc_channel channel; /* signs what goes out, checks what comes in */
	struct node_db *db;       /* the main thread's handle */
	struct round_worker *worker;      /* `train`, one round at a time */
	struct round_worker *plan_worker; /* `approval`, `training-plan-status`: they may download a plan */
	char plans_dir[NODE_PATH_MAX];      /* the plan store (plan_store.h), absolute */
	char scaffold_dir[NODE_PATH_MAX];   /* SCAFFOLD's c_i per job and dataset */
	char broker_password[256];          /* from [broker] password_file */
	char repository_token[512];         /* [repository] token, or read from token_file */
	uint8_t dp_secret[4096];            /* keys node-level DP noise (round_privacy.h) */
	size_t dp_secret_len;
	uint64_t train_seed_key;            /* XORed into args->seed: [privacy] secret_training_seed (privacy.h) */
	int64_t not_before_ms;              /* commands stamped earlier are refused (restart_guard.h) */
	struct refusal_limit refusals;      /* replies to refused requests (main thread only) */
	struct secagg_client *secagg;       /* this node's side of secure aggregation */
	/* Per-job sessions with researchers (fedc/session_key.h), by
	 * (researcher, sid); main thread only. NULL when commands are not signed. */
	struct fedc_session_table *sessions;
};

/* Runs until SIGINT or SIGTERM (SIGHUP reloads trusted_keys_dir); returns
 * the process exit code. */
int daemon__run(const struct node_config *cfg);

/* Publishes `msg` to the reply topic of msg->researcher_id. Thread-safe. */
FEDC_NODISCARD
enum fedc_err daemon__send(struct node_daemon *d, const struct fedc_msg *msg);

/* Replies `error` to `request` with a code and a message for people. */
FEDC_NODISCARD
enum fedc_err daemon__send_error(struct node_daemon *d, const struct fedc_msg *request, enum fedc_err code,
				 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The largest parameter file this node's MQTT connection carries inside a
 * message (fedc_mqtt_max_payload less the rest of the message):
 * FEDC_DEFAULT_INLINE_PARAMS unless net.core.wmem_max was raised
 * (docs/deployment.md, "Models up to 8 MiB inline"). Thread-safe. */
size_t daemon__inline_params_max(const struct node_daemon *d);

/* A repository client with this node's token and CA (one per thread). */
FEDC_NODISCARD
enum fedc_err daemon__repo_new(const struct node_daemon *d, struct fedc_repo **out);

/* Makes sure the plan with `digest` (SHA-256) is in the plan store
 * (plan_store__fetch, capped at max_blob_mb, with `memo`, NULL for none),
 * downloading it with `repo` if missing or altered; `path` receives its kept
 * path. */
FEDC_NODISCARD
enum fedc_err daemon__fetch_plan(struct node_daemon *d, struct fedc_repo *repo, const char *digest,
				 struct plan_store_memo *memo, char *path, size_t cap);

#endif
