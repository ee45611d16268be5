/* The experiment file (INI) that `fedc-researcher run` takes. Every key is
 * documented with its default in docs/researcher-guide.md. Relative paths are
 * taken relative to the experiment file's directory. */
#ifndef FEDC_RESEARCHER_EXPERIMENT_H
#define FEDC_RESEARCHER_EXPERIMENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "aggregator.h"
#include "fedc/config.h" /* fedc_config_set_string() for the owned strings */
#include "fedc/err.h"
#include "fedc/limits.h"
#include "fedc/message.h"
#include "require.h"

#define EXP_PATH_MAX 4096 /* longest path the researcher builds from these (job.c) */

/* [privacy] (docs/privacy.md): secure aggregation (the secagg_* keys) and
 * node-level differential privacy (dp ...). */
enum experiment_dp { EXPERIMENT_DP_OFF, EXPERIMENT_DP_NODE };

struct experiment_privacy {
	bool secure_aggregation;
	double secagg_value_max;
	int64_t secagg_weight_max;
	int64_t secagg_threshold;      /* 0: a strict majority of each node's neighbourhood */
	int64_t secagg_neighbours;     /* 0: every other node */
	int64_t secagg_timeout_s;      /* the researcher's wait for each step */
	char dp_name[FEDC_SHORT_BUF];  /* "off" or "node", as written */
	enum experiment_dp dp;
	double dp_clip;
	double dp_noise_multiplier;
	double dp_delta;
	double epsilon_max;            /* 0: no budget */
};

/* Strings marked (owned) are allocated and owned by the struct (free them
 * with experiment__free) and never NULL after a successful load: an absent
 * optional key is "". The tables in experiment.c describe every key once. */
struct experiment {
	char *path;                      /* (owned) */
	char *network_path;              /* (owned) "" when [network] is in the experiment file */
	/* [experiment] */
	char name[FEDC_MAX_NAME_LEN + 1];
	uint32_t n_tags;
	char tags[FEDC_MAX_TAGS][FEDC_MAX_TAG_LEN + 1];
	char *plan_path;                 /* (owned) */
	uint32_t rounds;
	uint32_t min_nodes;
	int64_t round_timeout_s;
	int64_t discovery_timeout_s;
	uint64_t seed;
	char *output_dir;                /* (owned) */
	bool final_evaluation;
	/* node selection: only these node ids (all that match when n_nodes is 0),
	 * and the fraction of them sampled each round */
	uint32_t n_nodes;
	char nodes[FEDC_MAX_DATASETS][FEDC_MAX_ID_LEN + 1];
	double fraction;
	struct require require;        /* [nodes] require: what a node must advertise (require.h) */
	uint32_t round_retries;        /* attempts after a round with too few updates */
	uint32_t breakpoint_every;     /* a breakpoint after every k-th round (and the last) */
	/* how a round trains (job_cyclic.h): "parallel" (every node on the
	 * global model, then aggregated) or "cyclic" (a chain, node after node) */
	char strategy_name[FEDC_SHORT_BUF];
	bool cyclic;
	char cyclic_order_name[FEDC_SHORT_BUF]; /* "sorted" (node ids) or "shuffled" (per round, from seed) */
	bool cyclic_shuffled;
	/* [model]: every key is a number handed to the plan */
	uint32_t n_model_args;
	struct fedc_msg_kv model_args[FEDC_MAX_ARGS];
	/* [training] */
	double lr;
	uint32_t epochs;
	uint32_t num_updates;
	uint32_t batch_size;
	double test_ratio;
	double fedprox_mu;
	char optimizer[FEDC_SHORT_BUF];
	bool test_on_global;       /* nodes test the model they receive, before training */
	bool test_on_local;        /* nodes test their trained model */
	char test_metric[FEDC_MAX_NAME_LEN + 1]; /* the metric the round line shows */
	char keep_best[FEDC_MAX_NAME_LEN + 1];   /* "" or the metric best.params is kept by (best.h) */
	bool cross_site;           /* cross_site_validation: keep the final local models, validate them (xval.h) */
	/* [robustness]: the stage run after training (assess.h, kind robust) */
	bool robustness;           /* the section has a key */
	char robust_args[FEDC_MAX_ASSESS_ARGS + 1]; /* its keys as `key = value` lines, checked */
	/* [aggregator]: the method (key `method`, or `name`) and its options */
	char aggregator[FEDC_SHORT_BUF];
	struct aggregator_options aggregator_options;
	struct experiment_privacy privacy; /* [privacy] */
	/* [network] */
	char federation[FEDC_MAX_FED_LEN + 1];
	char researcher_id[FEDC_MAX_ID_LEN + 1];
	char *broker_url;          /* (owned) */
	char *broker_ca_file;      /* (owned) verifies the broker (ssl://) */
	char *broker_cert_file;    /* (owned) this researcher's client certificate */
	char *broker_key_file;     /* (owned) */
	char *broker_username;     /* (owned) */
	char *broker_password_file; /* (owned) */
	char *broker_password;     /* (owned) read from broker_password_file */
	char *repository_url;      /* (owned) */
	char *repository_token;    /* (owned) repository_token, or read from repository_token_file */
	char *repository_token_file; /* (owned) */
	char *repository_ca_file;  /* (owned) */
	int64_t repository_timeout_s;
	char *repository_store_dir; /* (owned) "": updates downloaded; else read in place (fetcher.c) */
	char *signing_key;         /* (owned) signs every command */
	char *trusted_keys_dir;    /* (owned) nodes' public keys (<node id>.pub) */
	int64_t max_clock_skew_s;
	bool allow_unsigned;       /* closed test networks only */
	int64_t inline_params_max; /* parameter files up to this ride inside train / train-reply */
};

/* Loads `path`; the [network] section comes from `network_path` instead when
 * that is not NULL. Whatever *out held is overwritten, not freed. FEDC_ERR_IO,
 * FEDC_ERR_CONFIG with file, line and key in the detail (unknown keys and bad
 * values included), FEDC_ERR_NOMEM. On failure *out holds nothing to free;
 * on success free it with experiment__free(). */
FEDC_NODISCARD
enum fedc_err experiment__load(const char *path, const char *network_path, struct experiment *out);
/* Loads only the [network] section of `path` (a network file, or an
 * experiment file), for commands that talk to the federation without running
 * an experiment. Other sections are not read. */
FEDC_NODISCARD
enum fedc_err experiment__load_network(const char *path, struct experiment *out);
/* Frees the owned strings of *exp (safe on a zeroed struct, and twice); NULL
 * is allowed. */
void experiment__free(struct experiment *exp);

/* Sets, present bits included, the fields of a `train` request that come
 * from the experiment alone: researcher_id, model_args, lr, epochs,
 * num_updates, batch_size, seed (the node derives its per-round and split
 * seeds from it, so an assessment sees the run's test rows), test_ratio,
 * fedprox_mu and optimizer. The job's rounds and the assessments of a
 * finished run (assess.c) both build their requests on it. */
void experiment__fill_train(const struct experiment *exp, struct fedc_msg *m);
/* (An owned string is replaced with fedc_config_set_string().) */

/* The reference tables of docs/researcher-guide.md, one per section
 * ("experiment", "training", "privacy", "nodes", "network", "robustness"; tests/unit/test_config_doc.c).
 * FEDC_ERR_IO if a write fails, FEDC_ERR_INVAL for an unknown section. */
FEDC_NODISCARD
enum fedc_err experiment__write_markdown(FILE *to, const char *section);

/* A repository client with the experiment's URL, token and CA. */
struct fedc_repo;
FEDC_NODISCARD
enum fedc_err experiment__repo_new(const struct experiment *exp, struct fedc_repo **out);

#endif
