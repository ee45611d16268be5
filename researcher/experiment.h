/* The experiment file (INI) that `fedc-researcher run` takes. Every key is
 * documented with its default in docs/researcher-guide.md. Relative paths are
 * taken relative to the experiment file's directory. */
#ifndef FEDC_RESEARCHER_EXPERIMENT_H
#define FEDC_RESEARCHER_EXPERIMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "aggregator.h"
#include "fedc/err.h"
#include "fedc/limits.h"
#include "fedc/message.h"

#define EXP_PATH_MAX 4096

struct experiment {
	char path[EXP_PATH_MAX];
	char network_path[EXP_PATH_MAX]; /* "" when [network] is in the experiment file */
	/* [experiment] */
	char name[FEDC_MAX_NAME_LEN + 1];
	uint32_t n_tags;
	char tags[FEDC_MAX_TAGS][FEDC_MAX_TAG_LEN + 1];
	char plan_path[EXP_PATH_MAX];
	uint32_t rounds;
	uint32_t min_nodes;
	int64_t round_timeout_s;
	int64_t discovery_timeout_s;
	uint64_t seed;
	char output_dir[EXP_PATH_MAX];
	bool final_evaluation;
	/* node selection: only these node ids (all that match when n_nodes is 0),
	 * and the fraction of them sampled each round */
	uint32_t n_nodes;
	char nodes[FEDC_MAX_DATASETS][FEDC_MAX_ID_LEN + 1];
	double fraction;
	uint32_t round_retries;        /* attempts after a round with too few updates */
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
	/* [aggregator]: the method (key `method`, or `name`) and its options */
	char aggregator[FEDC_SHORT_BUF];
	struct aggregator_options aggregator_options;
	/* [network] */
	char federation[FEDC_MAX_FED_LEN + 1];
	char researcher_id[FEDC_MAX_ID_LEN + 1];
	char broker_url[512];
	char broker_ca_file[EXP_PATH_MAX];   /* verifies the broker (ssl://) */
	char broker_cert_file[EXP_PATH_MAX]; /* this researcher's client certificate */
	char broker_key_file[EXP_PATH_MAX];
	char broker_username[FEDC_MAX_ID_LEN + 1];
	char broker_password[256];           /* read from broker_password_file */
	char repository_url[512];
	char repository_token[512];          /* repository_token, or read from repository_token_file */
	char repository_ca_file[EXP_PATH_MAX];
	int64_t repository_timeout_s;
	char signing_key[EXP_PATH_MAX];      /* signs every command */
	char trusted_keys_dir[EXP_PATH_MAX]; /* nodes' public keys (<node id>.pub) */
	int64_t max_clock_skew_s;
	bool allow_unsigned;                 /* closed test networks only */
};

/* Loads `path`; the [network] section comes from `network_path` instead when
 * that is not NULL. FEDC_ERR_IO, FEDC_ERR_CONFIG with file, line and key in
 * the detail (unknown keys and bad values included). */
enum fedc_err experiment__load(const char *path, const char *network_path, struct experiment *out);
/* Loads only the [network] section of `path` (a network file, or an
 * experiment file), for commands that talk to the federation without running
 * an experiment. Other sections are not read. */
enum fedc_err experiment__load_network(const char *path, struct experiment *out);

/* A repository client with the experiment's URL, token and CA. */
struct fedc_repo;
enum fedc_err experiment__repo_new(const struct experiment *exp, struct fedc_repo **out);

#endif
