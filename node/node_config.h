/* The node's configuration file (INI). Its keys are described once, by the
 * table in node_config.c, which drives loading, the unknown-key check, the
 * template `fedc-node init` writes and the reference in docs/node-admin.md. */
#ifndef FEDC_NODE_CONFIG_H
#define FEDC_NODE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fedc/err.h"
#include "fedc/hash.h"
#include "fedc/limits.h"
#include "fedc/log.h"
#include "db.h"

/* Strings are owned by the struct (node_config__free) and never NULL after a
 * successful load: an absent optional key is "". */
struct node_config {
	char *path;                            /* the file it was read from */
	char node_id[FEDC_MAX_ID_LEN + 1];     /* [node] id */
	char federation[FEDC_MAX_FED_LEN + 1]; /* [node] federation */
	char *data_dir;                        /* [node] data_dir: database, plans, work files */
	char *db_path;                         /* data_dir/node.db */
	char *broker_url;                      /* [broker] url */
	char *broker_ca_file;                  /* [broker] ca_file: verifies the broker (ssl://) */
	char *broker_cert_file;                /* [broker] cert_file: this node's client certificate */
	char *broker_key_file;                 /* [broker] key_file */
	char *broker_username;                 /* [broker] username */
	char *broker_password_file;            /* [broker] password_file, read at start */
	char *repository_url;                  /* [repository] url */
	char *repository_token;                /* [repository] token */
	char *repository_token_file;           /* [repository] token_file, read at start */
	char *repository_ca_file;              /* [repository] ca_file: verifies the repository (https) */
	int64_t repository_timeout_s;          /* [repository] timeout_s */
	bool allow_unapproved_plans;           /* [security] allow_unapproved_plans */
	enum fedc_hash_alg plan_digest;        /* [security] plan_digest: plans are approved by this digest */
	char *signing_key;                     /* [security] signing_key: signs what the node sends */
	char *trusted_keys_dir;                /* [security] trusted_keys_dir: researchers' keys (<id>.pub) */
	char *peer_keys_dir;                   /* [security] peer_keys_dir: the other nodes' keys (<id>.pub) */
	int64_t max_clock_skew_s;              /* [security] max_clock_skew_s: replay window */
	bool allow_unsigned_commands;          /* [security] allow_unsigned_commands */
	int64_t train_timeout_s;               /* [limits] train_timeout_s: wall clock per round */
	int64_t cpu_seconds;                   /* [limits] cpu_seconds: CPU time of a plan per round */
	int64_t memory_mb;                     /* [limits] memory_mb: resident memory of a plan (sandbox.h) */
	int64_t plan_process_idle_s;           /* [limits] plan_process_idle_s: a job's plan process kept this long between rounds; 0: one per round */
	int64_t max_blob_mb;                   /* [limits] max_blob_mb: largest download */
	/* [privacy]: the node's policy (privacy.h, docs/privacy.md) */
	double min_noise_multiplier;           /* refuse dp_noise below this */
	double max_epsilon;                    /* refuse a round past this epsilon for its job; 0: no limit */
	double max_delta;                      /* refuse a dp_delta above this */
	int64_t min_samples;                   /* refuse a round over fewer training rows */
	int64_t count_rounding;                /* counts sent out are rounded to a multiple of this */
	bool require_dp;                       /* refuse rounds without node-level DP */
	bool require_secure_aggregation;       /* refuse rounds without secure aggregation */
	bool secret_training_seed;             /* mix the node's secret into args->seed (daemon.h train_seed_key) */
	/* [analytics]: the node's policy for analytics queries (analytics.h) */
	bool analytics_enabled;                /* answer analytics queries at all */
	int64_t analytics_min_count;           /* a cell over fewer rows is suppressed */
	char analytics_noise[16];              /* none, laplace, gaussian */
	double analytics_max_epsilon;          /* per query */
	double analytics_budget;               /* per dataset, over all queries */
	double analytics_delta;                /* gaussian */
	char *analytics_bounds;                /* "COL:LO:HI, ...": clipping ranges the query cannot widen */
	/* [console]: fedc-node-console (docs/node-console.md); the daemon ignores them */
	char *console_listen;                  /* address the console listens on */
	int64_t console_port;
	char *console_tls_cert_file;           /* its HTTPS certificate (PEM) */
	char *console_tls_key_file;            /* and key */
	int64_t console_session_idle_s;        /* a session ends after this long without a request */
	char *console_metrics_listen;          /* HOST:PORT of the console's /metrics, "" = off */
	enum fedc_log_level log_level;         /* [log] level */
	char *metrics_listen;                  /* [metrics] listen: HOST:PORT of /metrics, "" = off */
	char *log_file;                        /* [log] file, "" = stderr */
};

/* Loads and validates `path` into *out (whatever *out held is overwritten,
 * not freed). FEDC_ERR_IO, FEDC_ERR_CONFIG with file, line and key in the
 * detail (fedc_last_error()), FEDC_ERR_NOMEM. Relative paths are taken
 * relative to the config file's directory. On failure *out holds nothing to
 * free; on success free it with node_config__free(). */
FEDC_NODISCARD
enum fedc_err node_config__load(const char *path, struct node_config *out);
/* Frees the strings of a loaded config (safe on a zeroed one, and twice). */
void node_config__free(struct node_config *cfg);

/* Writes a new config file for `fedc-node init`: every key with its help
 * text and default, and the values given (id and federation are ids; token
 * may be ""). FEDC_ERR_IO if a write fails. */
FEDC_NODISCARD
enum fedc_err node_config__write_template(FILE *to, const char *id, const char *federation, const char *data_dir,
					  const char *broker_url, const char *repository_url, const char *token);
/* The reference tables of docs/node-admin.md (tests/unit/test_config_doc.c). */
FEDC_NODISCARD
enum fedc_err node_config__write_markdown(FILE *to);

#endif
