/* Reading and validating an experiment file. */
#include "experiment.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/channel.h"
#include "fedc/config.h"
#include "fedc/id.h"
#include "fedc/fs.h"
#include "fedc/repo.h"
#include "fedc/uuid.h"
#include "install_dirs.h"

static const char *const known_sections[] = { "experiment", "model", "training", "aggregator", "network", NULL };
static const char *const experiment_keys[] = { "name", "tags", "plan", "rounds", "min_nodes", "round_timeout_s",
					       "discovery_timeout_s", "seed", "output_dir", "final_evaluation",
					       "nodes", "fraction", "round_retries", NULL };
static const char *const training_keys[] = { "lr", "epochs", "num_updates", "batch_size", "test_ratio",
					     "fedprox_mu", "optimizer", "test_on_global_updates", "test_on_local_updates",
					     "test_metric", NULL };
static const char *const network_keys[] = { "federation", "researcher_id", "broker_url", "broker_ca_file",
					    "broker_cert_file", "broker_key_file", "broker_username",
					    "broker_password_file", "repository_url", "repository_token",
					    "repository_token_file", "repository_ca_file", "repository_timeout_s",
					    "signing_key", "trusted_keys_dir", "max_clock_skew_s", "allow_unsigned", NULL };

static enum fedc_err copy_str(const struct fedc_config *cfg, const char *section, const char *key, bool required,
			      const char *def, char *dst, size_t cap)
{
	const char *value = NULL;
	enum fedc_err rc = fedc_config_str(cfg, section, key, required, def, &value);

	if (rc)
		return rc;
	if (!value)
		value = "";
	if (strlen(value) >= cap)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [%s] %s: longer than %zu characters", fedc_config_path(cfg),
				 section, key, cap - 1);
	memcpy(dst, value, strlen(value) + 1);
	return FEDC_OK;
}

/* A path of the experiment file, relative to the file's directory. */
static enum fedc_err resolve(const char *exp_path, char *path, size_t cap, const char *key)
{
	char given[EXP_PATH_MAX];
	enum fedc_err rc;

	snprintf(given, sizeof(given), "%s", path);
	rc = fedc_config_resolve(exp_path, given, path, cap);
	if (rc)
		return fedc_fail(rc, "%s: [experiment] %s: path too long", exp_path, key);
	return FEDC_OK;
}

/* `plan`: relative to the experiment file; a bare file name (no '/') that
 * is not there is looked up in the plans directories of this installation
 * (install_dirs.h: $FEDC_PLAN_PATH, then build/plans or PREFIX/lib/fedc/plans
 * beside the executable), so that an example says `plan = logreg.so` and runs
 * from any build or install. */
static enum fedc_err resolve_plan(const char *exp_path, struct experiment *out)
{
	char name[EXP_PATH_MAX], dir[EXP_PATH_MAX];
	enum fedc_err rc;

	snprintf(name, sizeof(name), "%s", out->plan_path);
	rc = resolve(exp_path, out->plan_path, sizeof(out->plan_path), "plan");
	if (rc || strchr(name, '/') || access(out->plan_path, F_OK) == 0)
		return rc;
	if (install_dirs__find(INSTALL_DIRS_PLANS, name, dir, sizeof(dir)) != FEDC_OK)
		return FEDC_OK; /* the missing file is reported where it is opened */
	if ((size_t)snprintf(out->plan_path, sizeof(out->plan_path), "%s/%s", dir, name) >= sizeof(out->plan_path))
		return fedc_fail(FEDC_ERR_INVAL, "%s: [experiment] plan: path too long", exp_path);
	return FEDC_OK;
}

/* "a, b,c" -> tags; each non-empty, without '/', at most FEDC_MAX_TAGS. */
static enum fedc_err parse_tags(const struct fedc_config *cfg, const char *text, struct experiment *out)
{
	char buf[FEDC_MAX_TAGS * (FEDC_MAX_TAG_LEN + 2)];
	char *save = NULL;

	if (strlen(text) >= sizeof(buf))
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [experiment] tags: too long", fedc_config_path(cfg));
	snprintf(buf, sizeof(buf), "%s", text);
	out->n_tags = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t len;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		len = strlen(tok);
		while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
			tok[--len] = '\0';
		if (!len)
			continue;
		if (len > FEDC_MAX_TAG_LEN || out->n_tags >= FEDC_MAX_TAGS)
			return fedc_fail(FEDC_ERR_CONFIG, "%s: [experiment] tags: at most %d tags of %d characters",
					 fedc_config_path(cfg), FEDC_MAX_TAGS, FEDC_MAX_TAG_LEN);
		memcpy(out->tags[out->n_tags++], tok, len + 1);
	}
	if (!out->n_tags)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [experiment] tags: at least one tag is required",
				 fedc_config_path(cfg));
	return FEDC_OK;
}

/* "a, b" -> node ids, each a valid id, at most FEDC_MAX_DATASETS. */
static enum fedc_err parse_nodes(const struct fedc_config *cfg, const char *text, struct experiment *out)
{
	char buf[FEDC_MAX_DATASETS * (FEDC_MAX_ID_LEN + 2)], *save = NULL;

	if (strlen(text) >= sizeof(buf))
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [experiment] nodes: too long", fedc_config_path(cfg));
	snprintf(buf, sizeof(buf), "%s", text);
	for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (!fedc_id_valid(tok) || out->n_nodes >= FEDC_MAX_DATASETS)
			return fedc_fail(FEDC_ERR_CONFIG, "%s: [experiment] nodes: \"%s\" is not a node id (or too many)",
					 fedc_config_path(cfg), tok);
		memcpy(out->nodes[out->n_nodes++], tok, strlen(tok) + 1);
	}
	return FEDC_OK;
}

static enum fedc_err read_selection(const struct fedc_config *cfg, struct experiment *out)
{
	const char *nodes = NULL;
	int64_t v;
	enum fedc_err rc = fedc_config_str(cfg, "experiment", "nodes", false, "", &nodes);

	if (!rc && nodes)
		rc = parse_nodes(cfg, nodes, out);
	if (!rc)
		rc = fedc_config_double(cfg, "experiment", "fraction", false, 1.0, 1e-9, 1.0, &out->fraction);
	if (!rc && !(rc = fedc_config_int(cfg, "experiment", "round_retries", false, 2, 0, 1000, &v)))
		out->round_retries = (uint32_t)v;
	return rc;
}

static enum fedc_err read_experiment(const struct fedc_config *cfg, struct experiment *out)
{
	const char *tags = NULL;
	int64_t v;
	enum fedc_err rc;

	rc = copy_str(cfg, "experiment", "name", false, "experiment", out->name, sizeof(out->name));
	if (!rc)
		rc = fedc_config_str(cfg, "experiment", "tags", true, NULL, &tags);
	if (!rc)
		rc = parse_tags(cfg, tags, out);
	if (!rc)
		rc = copy_str(cfg, "experiment", "plan", true, NULL, out->plan_path, sizeof(out->plan_path));
	if (!rc && !(rc = fedc_config_int(cfg, "experiment", "rounds", true, 0, 1, 1000000, &v)))
		out->rounds = (uint32_t)v;
	if (!rc && !(rc = fedc_config_int(cfg, "experiment", "min_nodes", false, 1, 1, 100000, &v)))
		out->min_nodes = (uint32_t)v;
	if (!rc)
		rc = fedc_config_int(cfg, "experiment", "round_timeout_s", false, 600, 1, 7 * 24 * 3600,
				     &out->round_timeout_s);
	if (!rc)
		rc = fedc_config_int(cfg, "experiment", "discovery_timeout_s", false, 5, 1, 3600,
				     &out->discovery_timeout_s);
	if (!rc && !(rc = fedc_config_int(cfg, "experiment", "seed", false, 0, 0, INT64_MAX, &v)))
		out->seed = (uint64_t)v;
	if (!rc)
		rc = copy_str(cfg, "experiment", "output_dir", false, "fedc-output", out->output_dir,
			      sizeof(out->output_dir));
	if (!rc)
		rc = fedc_config_bool(cfg, "experiment", "final_evaluation", false, true, &out->final_evaluation);
	if (!rc)
		rc = read_selection(cfg, out);
	return rc;
}

static enum fedc_err read_model(const struct fedc_config *cfg, struct experiment *out)
{
	const char *key, *value;
	enum fedc_err rc = FEDC_OK;

	out->n_model_args = 0;
	for (unsigned i = 0; fedc_config_entry(cfg, "model", i, &key, &value); i++) {
		double number;

		if (strlen(key) > FEDC_MAX_NAME_LEN || out->n_model_args >= FEDC_MAX_ARGS)
			return fedc_fail(FEDC_ERR_CONFIG, "%s: [model] %s: at most %d keys of %d characters",
					 fedc_config_path(cfg), key, FEDC_MAX_ARGS, FEDC_MAX_NAME_LEN);
		rc = fedc_config_double(cfg, "model", key, true, 0, -1e300, 1e300, &number);
		if (rc)
			return rc;
		snprintf(out->model_args[out->n_model_args].name, sizeof(out->model_args[0].name), "%s", key);
		out->model_args[out->n_model_args++].value = number;
	}
	return FEDC_OK;
}

static enum fedc_err read_training(const struct fedc_config *cfg, struct experiment *out)
{
	int64_t v;
	enum fedc_err rc;

	rc = fedc_config_double(cfg, "training", "lr", false, 0.01, 0, 1e6, &out->lr);
	if (!rc && !(rc = fedc_config_int(cfg, "training", "epochs", false, 1, 0, 1000000, &v)))
		out->epochs = (uint32_t)v;
	if (!rc && !(rc = fedc_config_int(cfg, "training", "num_updates", false, 0, 0, 1000000000, &v)))
		out->num_updates = (uint32_t)v;
	if (!rc && !(rc = fedc_config_int(cfg, "training", "batch_size", false, 32, 1, 1000000, &v)))
		out->batch_size = (uint32_t)v;
	if (!rc)
		rc = fedc_config_double(cfg, "training", "test_ratio", false, 0.2, 0, 0.95, &out->test_ratio);
	if (!rc)
		rc = fedc_config_double(cfg, "training", "fedprox_mu", false, 0, 0, 1e6, &out->fedprox_mu);
	if (!rc)
		rc = copy_str(cfg, "training", "optimizer", false, "sgd", out->optimizer, sizeof(out->optimizer));
	if (!rc)
		rc = fedc_config_bool(cfg, "training", "test_on_global_updates", false, true, &out->test_on_global);
	if (!rc)
		rc = fedc_config_bool(cfg, "training", "test_on_local_updates", false, true, &out->test_on_local);
	if (!rc)
		rc = copy_str(cfg, "training", "test_metric", false, "accuracy", out->test_metric,
			      sizeof(out->test_metric));
	if (!rc && out->epochs == 0 && out->num_updates == 0)
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [training] epochs and num_updates are both 0: nothing to train",
			       fedc_config_path(cfg));
	return rc;
}

/* A secret kept in its own file, named by `key` (a path). */
static enum fedc_err read_secret_key(const struct fedc_config *cfg, const char *key, char *dst, size_t cap)
{
	char path[EXP_PATH_MAX];
	enum fedc_err rc = fedc_config_path_key(cfg, "network", key, false, path, sizeof(path));

	if (!rc && path[0])
		rc = fedc_read_secret(path, dst, cap);
	if (rc)
		rc = fedc_fail(rc, "%s: [network] %s: %s", fedc_config_path(cfg), key, fedc_last_error());
	return rc;
}

/* TLS files, credentials and signing keys; paths relative to the file. */
static enum fedc_err read_network_security(const struct fedc_config *cfg, struct experiment *out)
{
	static const struct {
		const char *key;
		size_t offset;
	} paths[] = {
		{ "broker_ca_file", offsetof(struct experiment, broker_ca_file) },
		{ "broker_cert_file", offsetof(struct experiment, broker_cert_file) },
		{ "broker_key_file", offsetof(struct experiment, broker_key_file) },
		{ "repository_ca_file", offsetof(struct experiment, repository_ca_file) },
		{ "signing_key", offsetof(struct experiment, signing_key) },
		{ "trusted_keys_dir", offsetof(struct experiment, trusted_keys_dir) },
	};
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; !rc && i < sizeof(paths) / sizeof(paths[0]); i++)
		rc = fedc_config_path_key(cfg, "network", paths[i].key, false, (char *)out + paths[i].offset,
					  EXP_PATH_MAX);
	if (!rc && !out->broker_cert_file[0] != !out->broker_key_file[0])
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [network] broker_cert_file and broker_key_file go together",
			       fedc_config_path(cfg));
	if (!rc)
		rc = copy_str(cfg, "network", "broker_username", false, "", out->broker_username,
			      sizeof(out->broker_username));
	if (!rc)
		rc = read_secret_key(cfg, "broker_password_file", out->broker_password, sizeof(out->broker_password));
	if (!rc && out->repository_token[0] && fedc_config_has(cfg, "network", "repository_token_file"))
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [network] repository_token and repository_token_file: give one",
			       fedc_config_path(cfg));
	if (!rc)
		rc = read_secret_key(cfg, "repository_token_file", out->repository_token,
				     sizeof(out->repository_token));
	if (!rc)
		rc = fedc_config_int(cfg, "network", "max_clock_skew_s", false, FEDC_DEFAULT_CLOCK_SKEW_S, 1, 86400,
				     &out->max_clock_skew_s);
	if (!rc)
		rc = fedc_config_bool(cfg, "network", "allow_unsigned", false, false, &out->allow_unsigned);
	return rc;
}

enum fedc_err experiment__repo_new(const struct experiment *exp, struct fedc_repo **out)
{
	enum fedc_err rc = fedc_repo_new(exp->repository_url, exp->repository_token, exp->repository_timeout_s, out);

	if (!rc && exp->repository_ca_file[0])
		rc = fedc_repo_set_ca_file(*out, exp->repository_ca_file);
	if (rc && *out) {
		fedc_repo_free(*out);
		*out = NULL;
	}
	return rc;
}

static enum fedc_err read_network(const struct fedc_config *cfg, struct experiment *out)
{
	char generated[FEDC_MAX_ID_LEN + 1], uuid[FEDC_UUID_STRLEN + 1];
	enum fedc_err rc;

	fedc_uuid_new(uuid);
	snprintf(generated, sizeof(generated), "researcher-%.8s", uuid);
	rc = fedc_config_check_keys(cfg, "network", network_keys);
	if (!rc)
		rc = copy_str(cfg, "network", "federation", false, "default", out->federation, sizeof(out->federation));
	if (!rc)
		rc = copy_str(cfg, "network", "researcher_id", false, generated, out->researcher_id,
			      sizeof(out->researcher_id));
	if (!rc && (strpbrk(out->researcher_id, "/+#") || strpbrk(out->federation, "/+#")))
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [network] researcher_id and federation must not hold '/', '+', '#'",
			       fedc_config_path(cfg));
	if (!rc)
		rc = copy_str(cfg, "network", "broker_url", false, "tcp://127.0.0.1:1883", out->broker_url,
			      sizeof(out->broker_url));
	if (!rc)
		rc = copy_str(cfg, "network", "repository_url", false, "http://127.0.0.1:8080", out->repository_url,
			      sizeof(out->repository_url));
	if (!rc)
		rc = copy_str(cfg, "network", "repository_token", false, "", out->repository_token,
			      sizeof(out->repository_token));
	if (!rc)
		rc = fedc_config_int(cfg, "network", "repository_timeout_s", false, 60, 1, 3600,
				     &out->repository_timeout_s);
	if (!rc)
		rc = read_network_security(cfg, out);
	return rc;
}

/* [aggregator]: `method` (`name` is its older spelling), then the options
 * of aggregator__option_spec(), each allowed only for the methods that take
 * it so that a misplaced option is an error rather than silently unused. */
static enum fedc_err check_aggregator_keys(const struct fedc_config *cfg)
{
	const char *keys[16] = { "method", "name" };
	const size_t cap = sizeof(keys) / sizeof(keys[0]);
	const struct aggregator_option_spec *s;
	size_t n = 2;

	for (size_t i = 0; (s = aggregator__option_spec(i)) && n + 1 < cap; i++)
		keys[n++] = s->key;
	keys[n] = NULL;
	return fedc_config_check_keys(cfg, "aggregator", keys);
}

static enum fedc_err read_aggregator_method(const struct fedc_config *cfg, struct experiment *out)
{
	const bool has_name = fedc_config_has(cfg, "aggregator", "name");
	const char *key = has_name ? "name" : "method";
	enum fedc_err rc;

	if (has_name && fedc_config_has(cfg, "aggregator", "method"))
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [aggregator] name: an older spelling of method; give only one",
				 fedc_config_path(cfg));
	rc = copy_str(cfg, "aggregator", key, false, "fedavg", out->aggregator, sizeof(out->aggregator));
	if (!rc && !aggregator__method_known(out->aggregator))
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [aggregator] %s: unknown method \"%s\" (known: %s)",
			       fedc_config_path(cfg), key, out->aggregator, aggregator__method_list());
	return rc;
}

static enum fedc_err read_aggregator_option(const struct fedc_config *cfg, const char *method,
					    const struct aggregator_option_spec *spec, struct aggregator_options *o)
{
	double *value = (double *)(void *)((char *)o + spec->offset);

	if (!fedc_config_has(cfg, "aggregator", spec->key))
		return FEDC_OK;
	if (!aggregator__option_applies(method, spec))
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [aggregator] %s: not an option of method %s (only of %s)",
				 fedc_config_path(cfg), spec->key, method, spec->methods);
	return fedc_config_double(cfg, "aggregator", spec->key, true, 0, spec->min, spec->max, value);
}

/* FedProx's mu is the proximal term the nodes get as fedprox_mu: it may be
 * set in either section, not in both. */
static enum fedc_err read_fedprox_mu(const struct fedc_config *cfg, struct experiment *out)
{
	const bool in_training = fedc_config_has(cfg, "training", "fedprox_mu");

	if (strcmp(out->aggregator, "fedprox") != 0)
		return FEDC_OK;
	if (in_training && fedc_config_has(cfg, "aggregator", "mu"))
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [aggregator] mu: [training] fedprox_mu sets it too; give it once",
				 fedc_config_path(cfg));
	if (in_training)
		out->aggregator_options.mu = out->fedprox_mu;
	else
		out->fedprox_mu = out->aggregator_options.mu;
	return FEDC_OK;
}

static enum fedc_err read_aggregator(const struct fedc_config *cfg, struct experiment *out)
{
	struct aggregator_options *o = &out->aggregator_options;
	const struct aggregator_option_spec *spec;
	enum fedc_err rc = read_aggregator_method(cfg, out);

	if (!rc)
		aggregator__default_options(out->aggregator, o);
	for (size_t i = 0; !rc && (spec = aggregator__option_spec(i)); i++)
		rc = read_aggregator_option(cfg, out->aggregator, spec, o);
	/* The open ends of ranges (beta1 < 1, tau > 0 ...) are checked here. */
	if (!rc && aggregator__check_options(out->aggregator, o)) {
		char detail[512];

		snprintf(detail, sizeof(detail), "%s", fedc_last_error());
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: %s", fedc_config_path(cfg), detail);
	}
	if (!rc)
		rc = read_fedprox_mu(cfg, out);
	return rc;
}

static enum fedc_err check_keys(const struct fedc_config *cfg)
{
	enum fedc_err rc = fedc_config_check_sections(cfg, known_sections);

	if (!rc)
		rc = fedc_config_check_keys(cfg, "experiment", experiment_keys);
	if (!rc)
		rc = fedc_config_check_keys(cfg, "training", training_keys);
	if (!rc)
		rc = check_aggregator_keys(cfg);
	return rc;
}

enum fedc_err experiment__load(const char *path, const char *network_path, struct experiment *out)
{
	struct fedc_config *cfg = NULL, *net = NULL;
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	snprintf(out->path, sizeof(out->path), "%s", path);
	snprintf(out->network_path, sizeof(out->network_path), "%s", network_path ? network_path : "");
	rc = fedc_config_load(path, &cfg);
	if (!rc && network_path)
		rc = fedc_config_load(network_path, &net);
	if (!rc)
		rc = check_keys(cfg);
	if (!rc)
		rc = read_experiment(cfg, out);
	if (!rc)
		rc = read_model(cfg, out);
	if (!rc)
		rc = read_training(cfg, out);
	if (!rc)
		rc = read_aggregator(cfg, out);
	if (!rc)
		rc = read_network(net ? net : cfg, out);
	if (!rc)
		rc = resolve_plan(path, out);
	if (!rc)
		rc = resolve(path, out->output_dir, sizeof(out->output_dir), "output_dir");
	fedc_config_free(cfg);
	fedc_config_free(net);
	return rc;
}

enum fedc_err experiment__load_network(const char *path, struct experiment *out)
{
	struct fedc_config *cfg = NULL;
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	snprintf(out->path, sizeof(out->path), "%s", path);
	rc = fedc_config_load(path, &cfg);
	if (!rc)
		rc = read_network(cfg, out); /* absent keys take their documented defaults */
	fedc_config_free(cfg);
	return rc;
}
