/* The node's configuration file (INI). Every key is documented with its
 * default in docs/node-admin.md. */
#ifndef FEDC_NODE_CONFIG_H
#define FEDC_NODE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/hash.h"
#include "fedc/limits.h"
#include "fedc/log.h"
#include "db.h"

struct node_config {
	char path[NODE_PATH_MAX];              /* the file it was read from */
	char node_id[FEDC_MAX_ID_LEN + 1];     /* [node] id */
	char federation[FEDC_MAX_FED_LEN + 1]; /* [node] federation */
	char data_dir[NODE_PATH_MAX];          /* [node] data_dir: database, plans, work files */
	char db_path[NODE_PATH_MAX];           /* data_dir/node.db */
	char broker_url[512];                  /* [broker] url */
	char broker_ca_file[NODE_PATH_MAX];    /* [broker] ca_file: verifies the broker (ssl://) */
	char broker_cert_file[NODE_PATH_MAX];  /* [broker] cert_file: this node's client certificate */
	char broker_key_file[NODE_PATH_MAX];   /* [broker] key_file */
	char broker_username[FEDC_MAX_ID_LEN + 1]; /* [broker] username */
	char broker_password_file[NODE_PATH_MAX];  /* [broker] password_file, read at start */
	char repository_url[512];              /* [repository] url */
	char repository_token[512];            /* [repository] token */
	char repository_token_file[NODE_PATH_MAX]; /* [repository] token_file, read at start */
	char repository_ca_file[NODE_PATH_MAX]; /* [repository] ca_file: verifies the repository (https) */
	int64_t repository_timeout_s;          /* [repository] timeout_s */
	bool allow_unapproved_plans;           /* [security] allow_unapproved_plans */
	enum fedc_hash_alg plan_digest;        /* [security] plan_digest: plans are approved by this digest */
	char signing_key[NODE_PATH_MAX];       /* [security] signing_key: signs what the node sends */
	char trusted_keys_dir[NODE_PATH_MAX];  /* [security] trusted_keys_dir: researchers' keys (<id>.pub) */
	int64_t max_clock_skew_s;              /* [security] max_clock_skew_s: replay window */
	bool allow_unsigned_commands;          /* [security] allow_unsigned_commands */
	int64_t train_timeout_s;               /* [limits] train_timeout_s: wall clock per round */
	int64_t cpu_seconds;                   /* [limits] cpu_seconds: CPU time of a plan per round */
	int64_t memory_mb;                     /* [limits] memory_mb: resident memory of a plan (sandbox.h) */
	int64_t plan_process_idle_s;           /* [limits] plan_process_idle_s: a job's plan process kept this long between rounds; 0: one per round */
	int64_t max_blob_mb;                   /* [limits] max_blob_mb: largest download */
	enum fedc_log_level log_level;         /* [log] level */
	char log_file[NODE_PATH_MAX];          /* [log] file, "" = stderr */
};

/* Loads and validates `path`. FEDC_ERR_IO, FEDC_ERR_CONFIG with file, line and
 * key in the detail (fedc_last_error()). Relative data_dir is taken relative
 * to the config file's directory. */
enum fedc_err node_config__load(const char *path, struct node_config *out);

#endif
