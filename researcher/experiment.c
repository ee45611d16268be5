/* Reading and validating an experiment file. Its [experiment], [training]
 * and [network] sections are described once, by the tables below, which
 * drive loading, the unknown-key check and the reference tables of
 * docs/researcher-guide.md. [model] is free-form (numbers handed to the
 * plan) and [aggregator] is checked against aggregator__option_spec(). */
#include "experiment.h"

#include <limits.h>
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
#include "fedc/repo_s3.h"
#include "fedc/robust_args.h"
#include "fedc/uuid.h"
#include "install_dirs.h"
#include "require.h"

#define DAY_S (24 * 3600)
#define OWNED(name) offsetof(struct experiment, name), 0
#define ARRAY(name) offsetof(struct experiment, name), sizeof(((struct experiment *)0)->name)
#define U32(name) offsetof(struct experiment, name), sizeof(uint32_t)
#define I64(name) offsetof(struct experiment, name), 0
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* [analytics] is read by analytics_request.c (analytics__read_step): a query run before training */
static const char *const known_sections[] = { "experiment", "model", "training", "aggregator", "privacy", "network",
					      "nodes", "analytics", "robustness", NULL };
static const char *const dp_names[] = { "off", "node", NULL };
static const char *const strategy_names[] = { "parallel", "cyclic", NULL };
static const char *const cyclic_order_names[] = { "sorted", "shuffled", NULL };
#define PRIV(name) offsetof(struct experiment, privacy.name)

/* clang-format off */
static const struct fedc_config_key experiment_keys[] = {
	{ "experiment", "name", FEDC_CONFIG_STR, false, "experiment", 0, 0, 0, 0, NULL, ARRAY(name),
	  "A label.", NULL },
	{ "experiment", "tags", FEDC_CONFIG_STR, true, NULL, 0, 0, 0, 0, NULL, FEDC_CONFIG_UNSTORED, 0,
	  "Comma-separated, at most 16 of 64 characters; a node takes part with a dataset that carries *all* of them.", NULL },
	{ "experiment", "plan", FEDC_CONFIG_PATH, true, NULL, 0, 0, 0, 0, NULL, OWNED(plan_path),
	  "The training plan (relative to the experiment file; a file name alone that is not there is looked up in `$FEDC_PLAN_PATH`, then in the plans directory of this build or install: `build/plans/`, `PREFIX/lib/fedc/plans/`): a shared object built against `fedc/plan.h`, or a C source file (`.c`) that `fedc-researcher` compiles against the plan SDK (`${FEDC_CC:-cc} -O2 -shared -fPIC $(pkg-config --cflags --libs fedcplan)`, the `fedcplan.pc` in `$FEDC_SDK_PC_PATH` if set, else the one beside the executable, of the build tree or of the install) into `output_dir/plan.so`; compiler messages are shown on failure and kept in `plan.so.log`. The same source compiles to the same bytes, so nodes approve `plan.so` once. `resume` reuses the compiled file.", NULL },
	{ "experiment", "rounds", FEDC_CONFIG_INT, true, NULL, 1, 1000000, 0, 0, NULL, U32(rounds),
	  "Number of training rounds.", NULL },
	{ "experiment", "min_nodes", FEDC_CONFIG_INT, false, "1", 1, 100000, 0, 0, NULL, U32(min_nodes),
	  "Fewest nodes with matching data to start, and fewest usable updates for a round to count.", NULL },
	{ "experiment", "round_timeout_s", FEDC_CONFIG_INT, false, "600", 1, 7 * DAY_S, 0, 0, NULL, I64(round_timeout_s),
	  "A selected node that has not answered by then is recorded as `timeout`.", NULL },
	{ "experiment", "discovery_timeout_s", FEDC_CONFIG_INT, false, "5", 1, 3600, 0, 0, NULL,
	  I64(discovery_timeout_s), "How long the search may wait; it ends as soon as every online node answered.", NULL },
	{ "experiment", "seed", FEDC_CONFIG_INT, false, "0", 0, INT64_MAX, 0, 0, NULL, I64(seed),
	  "Seeds the initial model and every node's shuffling (derived per round and node, with a secret of the node's own unless it sets secret_training_seed = false).", NULL },
	{ "experiment", "output_dir", FEDC_CONFIG_PATH, false, "fedc-output", 0, 0, 0, 0, NULL, OWNED(output_dir),
	  "Where the history and parameters go (created; `--output` overrides).", NULL },
	{ "experiment", "final_evaluation", FEDC_CONFIG_BOOL, false, "true", 0, 0, 0, 0, NULL, I64(final_evaluation),
	  "After the last round, ask every node to evaluate the final model.", NULL },
	{ "experiment", "nodes", FEDC_CONFIG_STR, false, NULL, 0, 0, 0, 0, NULL, FEDC_CONFIG_UNSTORED, 0,
	  "Comma-separated node ids: only these take part (each still needs a dataset with the tags). Empty: all.", NULL },
	{ "experiment", "fraction", FEDC_CONFIG_DOUBLE, false, "1.0", 0, 0, 1e-9, 1.0, NULL, I64(fraction),
	  "Share of the nodes that train each round (0 < f ≤ 1): `max(min_nodes, ceil(f × n))` of the nodes online, sampled with the experiment's seed; 1.0 sends every round to every node.", NULL },
	{ "experiment", "round_retries", FEDC_CONFIG_INT, false, "2", 0, 1000, 0, 0, NULL, U32(round_retries),
	  "A round with fewer than `min_nodes` usable updates is run again (same round number, same seeds) up to this many times; then the experiment stops, leaving its breakpoint to resume from.", NULL },
	{ "experiment", "breakpoint_every", FEDC_CONFIG_INT, false, "1", 1, 1000000, 0, 0, NULL, U32(breakpoint_every),
	  "Save a breakpoint after every k-th round (and always after the last round, and before a `fedc-researcher stop` or an `epsilon_max` stop takes effect). Each breakpoint costs the researcher a few files and fsyncs (docs/benchmarks.md, \"Central CPU per node-round\"); with k > 1 a run killed or failed mid-way resumes from the last one saved and trains up to k rounds again, with the same result bit for bit. Not with `keep_best` (it takes the best model from its round's breakpoint).", NULL },
	{ "experiment", "strategy", FEDC_CONFIG_ENUM, false, "parallel", 0, 0, 0, 0, strategy_names, ARRAY(strategy_name),
	  "`parallel`: every node of a round trains the global model and the `[aggregator]` combines their updates. `cyclic`: the model passes from node to node within a round (node 2 trains what node 1 returned ...) and the last node's model is the round's result; a node that fails is skipped and the chain goes on from the last good model; `round_timeout_s` applies to each node's turn and `min_nodes` counts the nodes that trained. Not with secure aggregation, node-level DP, `keep_best`, or an aggregator other than `fedavg`/`fedprox` (docs/researcher-guide.md, \"Cyclic training\").", NULL },
	{ "experiment", "cyclic_order", FEDC_CONFIG_ENUM, false, "sorted", 0, 0, 0, 0, cyclic_order_names,
	  ARRAY(cyclic_order_name),
	  "With `strategy = cyclic`: `sorted` passes the model in node-id order every round; `shuffled` in an order drawn afresh each round from `seed` and the round number (a resumed run draws the same).", NULL },
};

static const struct fedc_config_key training_keys[] = {
	{ "training", "lr", FEDC_CONFIG_DOUBLE, false, "0.01", 0, 0, 0, 1e6, NULL, I64(lr),
	  "Learning rate.", NULL },
	{ "training", "epochs", FEDC_CONFIG_INT, false, "1", 0, 1000000, 0, 0, NULL, U32(epochs),
	  "Local passes over the node's training rows per round.", NULL },
	{ "training", "num_updates", FEDC_CONFIG_INT, false, "0", 0, 1000000000, 0, 0, NULL, U32(num_updates),
	  "If > 0, that many mini-batch steps instead of epochs (`epochs` and `num_updates` may not both be 0).", NULL },
	{ "training", "batch_size", FEDC_CONFIG_INT, false, "32", 1, 1000000, 0, 0, NULL, U32(batch_size),
	  "Mini-batch size.", NULL },
	{ "training", "test_ratio", FEDC_CONFIG_DOUBLE, false, "0.2", 0, 0, 0, 0.95, NULL, I64(test_ratio),
	  "Share of each node's rows held out for evaluation (chosen by `seed` and the data; the same rows in every round).", NULL },
	{ "training", "fedprox_mu", FEDC_CONFIG_DOUBLE, false, "0", 0, 0, 0, 1e6, NULL, I64(fedprox_mu),
	  "FedProx proximal term, sent to the plan.", NULL },
	{ "training", "optimizer", FEDC_CONFIG_STR, false, "sgd", 0, 0, 0, 0, NULL, ARRAY(optimizer),
	  "Sent to the plan.", NULL },
	{ "training", "test_on_global_updates", FEDC_CONFIG_BOOL, false, "true", 0, 0, 0, 0, NULL, I64(test_on_global),
	  "Each node evaluates the parameters it receives on its test rows before training (the \"of the model sent\" figures).", NULL },
	{ "training", "test_on_local_updates", FEDC_CONFIG_BOOL, false, "true", 0, 0, 0, 0, NULL, I64(test_on_local),
	  "Each node evaluates its trained parameters on its test rows (`test_*` metrics in the history).", NULL },
	{ "training", "test_metric", FEDC_CONFIG_STR, false, "accuracy", 0, 0, 0, 0, NULL, ARRAY(test_metric),
	  "The metric of the plan's `evaluate()` the round and final lines show (e.g. `loss`, `mse`, `r2`); the history keeps every metric.", NULL },
	{ "training", "keep_best", FEDC_CONFIG_STR, false, NULL, 0, 0, 0, 0, NULL, ARRAY(keep_best),
	  "A metric of the plan's `evaluate()`: keep the global model that scored best on it (sample-weighted over the nodes' test rows) as `best.params` beside the last one. `loss`, names ending in `loss`, `mse`, `mae` and `rmse` are minimised, others maximised. Needs `test_on_global_updates`. Empty: off.", NULL },
	{ "training", "cross_site_validation", FEDC_CONFIG_BOOL, false, "false", 0, 0, 0, 0, NULL, I64(cross_site),
	  "Keep each node's model of the last round (`local/`) and, after the final evaluation, have every node evaluate the global model and each node's local model on its test rows: the matrix goes to `xval.json`, `history.jsonl` and `xval.svg` (docs/researcher-guide.md, \"Cross-site validation\"; `fedc-researcher xval DIR` does it again). Not with secure aggregation.", NULL },
};

static const struct fedc_config_key privacy_keys[] = {
	{ "privacy", "secure_aggregation", FEDC_CONFIG_BOOL, false, "false", 0, 0, 0, 0, NULL, PRIV(secure_aggregation), 0,
	  "Nodes send their updates masked, and the researcher learns only their sum (docs/privacy.md, \"Secure aggregation\").", NULL },
	{ "privacy", "secagg_value_max", FEDC_CONFIG_DOUBLE, false, "1e6", 0, 0, 1e-9, 1e12, NULL, PRIV(secagg_value_max), 0,
	  "Largest absolute value in an update a node may encode under secure aggregation; a node past it fails the round.", NULL },
	{ "privacy", "secagg_weight_max", FEDC_CONFIG_INT, false, "1048576", 1, 1099511627776, 0, 0, NULL,
	  PRIV(secagg_weight_max), 0, "Largest weight (training samples) a node may encode under secure aggregation.", NULL },
	{ "privacy", "secagg_threshold", FEDC_CONFIG_INT, false, "0", 0, 255, 0, 0, NULL, PRIV(secagg_threshold), 0,
	  "Shares of a node's secrets that rebuild them (Shamir t). `0`: a strict majority of each node's neighbourhood.", NULL },
	{ "privacy", "secagg_neighbours", FEDC_CONFIG_INT, false, "0", 0, 254, 0, 0, NULL, PRIV(secagg_neighbours), 0,
	  "SecAgg+: each node masks with this many others. `0`: with every other node.", NULL },
	{ "privacy", "secagg_timeout_s", FEDC_CONFIG_INT, false, "60", 1, 7 * DAY_S, 0, 0, NULL, PRIV(secagg_timeout_s), 0,
	  "How long the researcher waits for each step of secure aggregation (keys, shares, unmasking).", NULL },
	{ "privacy", "dp", FEDC_CONFIG_ENUM, false, "off", 0, 0, 0, 0, dp_names, PRIV(dp_name),
	  sizeof(((struct experiment *)0)->privacy.dp_name),
	  "`node`: node-level differential privacy: each node clips its update's change to `dp_clip` and adds Gaussian noise (its own policy may demand more); every update then weighs 1 in the average. `off`: none.", NULL },
	{ "privacy", "dp_clip", FEDC_CONFIG_DOUBLE, false, "1.0", 0, 0, 1e-9, 1e9, NULL, PRIV(dp_clip), 0,
	  "L2 bound on each node's change of the parameters in a round (> 0).", NULL },
	{ "privacy", "dp_noise_multiplier", FEDC_CONFIG_DOUBLE, false, "1.0", 0, 0, 0, 1000, NULL, PRIV(dp_noise_multiplier), 0,
	  "Standard deviation of the noise of the round's sum, in units of `dp_clip` (≥ 0). With secure aggregation the nodes share it out; without, each node adds all of it.", NULL },
	{ "privacy", "dp_delta", FEDC_CONFIG_DOUBLE, false, "1e-5", 0, 0, 1e-300, 0.999999, NULL, PRIV(dp_delta), 0,
	  "The delta of the (epsilon, delta) guarantee, in (0, 1); nodes refuse one above their `max_delta`.", NULL },
	{ "privacy", "epsilon_max", FEDC_CONFIG_DOUBLE, false, "0", 0, 0, 0, 1e6, NULL, PRIV(epsilon_max), 0,
	  "Privacy budget: the run stops cleanly (breakpoint, final evaluation, exit 0) before the round that would take epsilon past it. `0`: no budget.", NULL },
};

static const struct fedc_config_key nodes_keys[] = {
	{ "nodes", "require", FEDC_CONFIG_STR, false, NULL, 0, 0, 0, 0, NULL, FEDC_CONFIG_UNSTORED, 0,
	  "Capabilities a node must advertise to take part, all of them: comma-separated `NAME OP VALUE` (OP one of `>= <= > < = !=`) or `NAME` alone (advertised and not 0), e.g. `cores >= 4, dataset_kind = images, abi >= 3, memory_mb >= 2048, secure_aggregation`. Names: `abi`, `cores`, `memory_mb`, `max_runtime_s`, `max_cpu_s`, `max_plan_memory_mb`, `secure_aggregation`, `dp`, `require_dp`, `require_secure_aggregation`, `min_noise_multiplier`, `max_epsilon`, `max_delta`, `min_samples`, `dataset_kind` (docs/protocol.md, Capabilities). The run shows why each node left out was left out. Empty: every node.", NULL },
};

/* [robustness]: the values go to the nodes as they are written, checked by
 * the parser the nodes use (read_robustness), so the types here document. */
static const struct fedc_config_key robustness_keys[] = {
	{ "robustness", "attacks", FEDC_CONFIG_STR, false, "fgsm, pgd", 0, 0, 0, 0, NULL, FEDC_CONFIG_UNSTORED, 0,
	  "The attacks, comma-separated: `fgsm` (one step of epsilon along the sign of the input gradient), `pgd` (`pgd_steps` such steps, each projected back into the ball). A section with any key runs the stage after training (docs/researcher-guide.md, \"Robustness under attack\").", NULL },
	{ "robustness", "epsilons", FEDC_CONFIG_STR, false, "0.01, 0.05, 0.1", 0, 0, 0, 0, NULL, FEDC_CONFIG_UNSTORED, 0,
	  "1 to 16 distinct L-infinity radii, each from 0 to 1e6, in the units of the inputs as the plan sees them (after its `prepare()`).", NULL },
	{ "robustness", "pgd_steps", FEDC_CONFIG_INT, false, "10", 1, 1000, 0, 0, NULL, FEDC_CONFIG_UNSTORED, 0,
	  "PGD steps; each costs one gradient pass over the test rows.", NULL },
	{ "robustness", "pgd_step_size", FEDC_CONFIG_DOUBLE, false, NULL, 0, 0, 0, 1e6, NULL, FEDC_CONFIG_UNSTORED, 0,
	  "The PGD step, above 0. Empty: 2.5 × epsilon / `pgd_steps` for each epsilon.", NULL },
	{ "robustness", "clip_min", FEDC_CONFIG_STR, false, NULL, 0, 0, 0, 0, NULL, FEDC_CONFIG_UNSTORED, 0,
	  "A number: the lower bound of every perturbed input (e.g. 0 for pixels); a clean value below it stays where it is. Empty: none.", NULL },
	{ "robustness", "clip_max", FEDC_CONFIG_STR, false, NULL, 0, 0, 0, 0, NULL, FEDC_CONFIG_UNSTORED, 0,
	  "A number: the upper bound, above `clip_min`. Empty: none.", NULL },
};

_Static_assert(FEDC_DEFAULT_INLINE_PARAMS == 262144 && FEDC_MAX_INLINE_PARAMS == 8388608,
	       "inline_params_max's default and doc say 262144, its largest 8388608");

static const struct fedc_config_key network_keys[] = {
	{ "network", "federation", FEDC_CONFIG_ID, false, "default", 0, 0, 0, 0, NULL, ARRAY(federation),
	  "The `<fed>` of every topic; nodes must use the same. An id (docs/protocol.md, Identifiers).", NULL },
	{ "network", "researcher_id", FEDC_CONFIG_ID, false, NULL, 0, 0, 0, 0, NULL, ARRAY(researcher_id),
	  "This researcher's id; replies come to `fedc/<fed>/researcher/<id>`. Empty: `researcher-` and 8 random hex digits.", NULL },
	FEDC_CONFIG_TRANSPORT_KEYS(struct experiment, "network", "broker_", "network", "repository_", "researcher", false,
				   "tcp://127.0.0.1:1883", "http://127.0.0.1:8080", "60"),
	{ "network", "repository_store_dir", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL,
	  OWNED(repository_store_dir),
	  "The `store_dir` of the `fedc-repository` of `repository_url` when it runs on this machine and this user "
	  "may read it (a run checks that at its start): node updates are then read from the store in place "
	  "(checked against their SHA-256, as a download is) instead of downloaded through TLS, and fall back to a "
	  "download when one is not there. "
	  "Not with an S3 bucket; with `cross_site_validation`, which keeps the last round's updates in the run's "
	  "directory, updates are still downloaded (docs/repository.md, \"Updates read in place\").",
	  NULL },
	{ "network", "signing_key", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, OWNED(signing_key),
	  "This researcher's Ed25519 private key: every command is signed with it.", NULL },
	{ "network", "trusted_keys_dir", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, OWNED(trusted_keys_dir),
	  "`<node id>.pub` of every node: replies that do not verify are dropped.", NULL },
	{ "network", "max_clock_skew_s", FEDC_CONFIG_INT, false, STRINGIFY(FEDC_DEFAULT_CLOCK_SKEW_S), 1, 86400, 0, 0,
	  NULL, I64(max_clock_skew_s), "Replies stamped further than this from our clock are dropped.", NULL },
	{ "network", "inline_params_max", FEDC_CONFIG_INT, false, "262144", 0,
	  FEDC_MAX_INLINE_PARAMS, 0, 0, NULL, I64(inline_params_max),
	  "Parameter files (the global model, a node's update) of at most this many bytes travel inside the signed "
	  "`train` and `train-reply` messages, checked against their SHA-256, instead of through the repository: a "
	  "round then costs one round trip per node. Larger ones, and updates under secure aggregation, use the "
	  "repository. At most 8388608 (the broker's `max_packet_size` that fedc-admin sets leaves room for it); "
	  "over 262144 only where `net.core.wmem_max` lets the MQTT sockets hold such a message, and a round's "
	  "replies together at most 256 MiB (docs/deployment.md, \"Models up to 8 MiB inline\"); 0: always the "
	  "repository (docs/protocol.md, \"Parameters inline\").", NULL },
	{ "network", "allow_unsigned", FEDC_CONFIG_BOOL, false, "false", 0, 0, 0, 0, NULL, I64(allow_unsigned),
	  "Run without keys (nodes must then allow unsigned commands): closed test networks only.", NULL },
};
/* clang-format on */

#define COUNT(table) (sizeof(table) / sizeof((table)[0]))

void experiment__free(struct experiment *exp)
{
	if (!exp)
		return;
	fedc_config_free_table(experiment_keys, COUNT(experiment_keys), exp);
	fedc_config_free_table(network_keys, COUNT(network_keys), exp);
	free(exp->path);
	free(exp->network_path);
	free(exp->broker_password);
	exp->path = exp->network_path = exp->broker_password = NULL;
}

enum fedc_err experiment__write_markdown(FILE *to, const char *section)
{
	if (strcmp(section, "experiment") == 0)
		return fedc_config_write_markdown(to, experiment_keys, COUNT(experiment_keys));
	if (strcmp(section, "training") == 0)
		return fedc_config_write_markdown(to, training_keys, COUNT(training_keys));
	if (strcmp(section, "network") == 0)
		return fedc_config_write_markdown(to, network_keys, COUNT(network_keys));
	if (strcmp(section, "privacy") == 0)
		return fedc_config_write_markdown(to, privacy_keys, COUNT(privacy_keys));
	if (strcmp(section, "nodes") == 0)
		return fedc_config_write_markdown(to, nodes_keys, COUNT(nodes_keys));
	if (strcmp(section, "robustness") == 0)
		return fedc_config_write_markdown(to, robustness_keys, COUNT(robustness_keys));
	return fedc_fail(FEDC_ERR_INVAL, "no table for section \"%s\"", section);
}

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

/* `plan` is relative to the experiment file (the table resolved it); a bare
 * file name (no '/') that is not there is looked up in the plans
 * directories of this installation (install_dirs.h: $FEDC_PLAN_PATH, then
 * build/plans or PREFIX/lib/fedc/plans beside the executable), so that an
 * example says `plan = logreg.so` and runs from any build or install. */
static enum fedc_err find_plan(const struct fedc_config *cfg, struct experiment *out)
{
	char dir[PATH_MAX], path[PATH_MAX + FEDC_MAX_NAME_LEN];
	const char *given = NULL;

	if (fedc_config_str(cfg, "experiment", "plan", true, NULL, &given) != FEDC_OK || strchr(given, '/') ||
	    access(out->plan_path, F_OK) == 0)
		return FEDC_OK;
	if (install_dirs__find(INSTALL_DIRS_PLANS, given, dir, sizeof(dir)) != FEDC_OK)
		return FEDC_OK; /* the missing file is reported where it is opened */
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, given) >= sizeof(path))
		return fedc_fail(FEDC_ERR_INVAL, "%s: [experiment] plan: path too long", fedc_config_path(cfg));
	return fedc_config_set_string(&out->plan_path, path);
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

/* [nodes] require (require.h). */
static enum fedc_err read_nodes(const struct fedc_config *cfg, struct experiment *out)
{
	const char *text = NULL;
	enum fedc_err rc = fedc_config_str(cfg, "nodes", "require", false, "", &text);

	if (!rc && require__parse(text, &out->require) != FEDC_OK) {
		char detail[FEDC_MAX_TEXT_LEN];

		snprintf(detail, sizeof(detail), "%s", fedc_last_error());
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [nodes] require: %s", fedc_config_path(cfg), detail);
	}
	return rc;
}

/* [experiment]: the table, then the two lists it cannot parse. */
static enum fedc_err read_experiment(const struct fedc_config *cfg, struct experiment *out)
{
	const char *tags = NULL, *nodes = NULL;
	enum fedc_err rc = fedc_config_read_table(cfg, experiment_keys, COUNT(experiment_keys), out);

	if (!rc)
		rc = fedc_config_str(cfg, "experiment", "tags", true, NULL, &tags);
	if (!rc)
		rc = parse_tags(cfg, tags, out);
	if (!rc)
		rc = fedc_config_str(cfg, "experiment", "nodes", false, "", &nodes);
	if (!rc && nodes)
		rc = parse_nodes(cfg, nodes, out);
	out->cyclic = strcmp(out->strategy_name, "cyclic") == 0;
	out->cyclic_shuffled = strcmp(out->cyclic_order_name, "shuffled") == 0;
	if (!rc && !out->cyclic && fedc_config_has(cfg, "experiment", "cyclic_order"))
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [experiment] cyclic_order: only with strategy = cyclic",
			       fedc_config_path(cfg));
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
	enum fedc_err rc = fedc_config_read_table(cfg, training_keys, COUNT(training_keys), out);

	if (!rc && out->epochs == 0 && out->num_updates == 0)
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [training] epochs and num_updates are both 0: nothing to train",
			       fedc_config_path(cfg));
	if (!rc && out->keep_best[0] && out->breakpoint_every > 1)
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [training] keep_best = %s needs [experiment] breakpoint_every = 1 "
					       "(the best model is taken from its round's breakpoint); remove one of them",
			       fedc_config_path(cfg), out->keep_best);
	if (!rc && out->keep_best[0] && !out->test_on_global)
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [training] keep_best = %s needs test_on_global_updates = true (the "
					       "nodes score each global model on their test rows when it reaches them)",
			       fedc_config_path(cfg), out->keep_best);
	return rc;
}

/* A secret kept in the file `path` (already resolved) replaces *dst; nothing
 * to do when `path` is "". */
static enum fedc_err read_secret(const struct fedc_config *cfg, const char *key, const char *path, char **dst)
{
	char secret[512];
	enum fedc_err rc;

	if (!path[0])
		return FEDC_OK;
	rc = fedc_read_secret(path, secret, sizeof(secret));
	if (rc)
		return fedc_fail(rc, "%s: [network] %s: %s", fedc_config_path(cfg), key, fedc_last_error());
	return fedc_config_set_string(dst, secret);
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

/* repository_store_dir goes only with a fedc-repository (an S3 bucket has no
 * store to read); whether this user can read it is checked where it is used,
 * when a run starts (fetcher.c), not by every command that loads [network]. */
static enum fedc_err check_store_dir(const struct fedc_config *cfg, const struct experiment *out)
{
	if (fedc_repo_s3_is_url(out->repository_url))
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [network] repository_store_dir: only with a fedc-repository "
				 "(repository_url https:// or http://), not an S3 bucket", fedc_config_path(cfg));
	return FEDC_OK;
}

/* [network]: the table, the secrets it names, and the rules between keys. */
static enum fedc_err read_network(const struct fedc_config *cfg, struct experiment *out)
{
	char uuid[FEDC_UUID_STRLEN + 1];
	enum fedc_err rc = fedc_config_check_table(cfg, network_keys, COUNT(network_keys), NULL);

	if (!rc)
		rc = fedc_config_read_table(cfg, network_keys, COUNT(network_keys), out);
	if (!rc && !out->researcher_id[0]) {
		fedc_uuid_new(uuid);
		snprintf(out->researcher_id, sizeof(out->researcher_id), "researcher-%.8s", uuid);
	}
	if (!rc)
		rc = fedc_config_check_transport(cfg, "network", "broker_", "network", "repository_", out->broker_cert_file,
						 out->broker_key_file, out->repository_token, out->repository_token_file);
	/* a typo in the URL shows now, not after the search */
	if (!rc && out->repository_url && out->repository_url[0] && fedc_repo_check_url(out->repository_url) != FEDC_OK)
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [network] repository_url: %s", fedc_config_path(cfg),
			       fedc_last_error());
	if (!rc)
		rc = fedc_config_set_string(&out->broker_password, "");
	if (!rc)
		rc = read_secret(cfg, "broker_password_file", out->broker_password_file, &out->broker_password);
	if (!rc)
		rc = read_secret(cfg, "repository_token_file", out->repository_token_file, &out->repository_token);
	if (!rc && out->repository_store_dir && out->repository_store_dir[0])
		rc = check_store_dir(cfg, out);
	return rc;
}

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

/* [privacy]: the table; dp_clip > 0 is the open end of its range. */
static enum fedc_err read_privacy(const struct fedc_config *cfg, struct experiment *out)
{
	enum fedc_err rc = fedc_config_read_table(cfg, privacy_keys, COUNT(privacy_keys), out);

	if (rc)
		return rc;
	out->privacy.dp = strcmp(out->privacy.dp_name, "node") == 0 ? EXPERIMENT_DP_NODE : EXPERIMENT_DP_OFF;
	return FEDC_OK;
}

/* [robustness]: its keys (known: check_keys) copied as `key = value` lines
 * and checked by the nodes' parser, whose message names the key. */
static enum fedc_err read_robustness(const struct fedc_config *cfg, struct experiment *out)
{
	const char *key, *value;
	size_t used = 0;
	struct fedc_robust_args parsed;

	for (unsigned i = 0; fedc_config_entry(cfg, "robustness", i, &key, &value); i++) {
		int n = snprintf(out->robust_args + used, sizeof(out->robust_args) - used, "%s = %s\n", key, value);

		if (n < 0 || (size_t)n >= sizeof(out->robust_args) - used)
			return fedc_fail(FEDC_ERR_CONFIG, "%s: [robustness]: the keys pass %zu bytes: give fewer epsilons",
					 fedc_config_path(cfg), sizeof(out->robust_args) - 1);
		used += (size_t)n;
		out->robustness = true;
	}
	if (out->robustness && fedc_robust_args_parse(out->robust_args, &parsed) != FEDC_OK) {
		char detail[512];

		snprintf(detail, sizeof(detail), "%s", fedc_last_error());
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [robustness] %s", fedc_config_path(cfg), detail);
	}
	return FEDC_OK;
}

static enum fedc_err check_keys(const struct fedc_config *cfg)
{
	enum fedc_err rc = fedc_config_check_sections(cfg, known_sections);

	if (!rc)
		rc = fedc_config_check_table(cfg, experiment_keys, COUNT(experiment_keys), NULL);
	if (!rc)
		rc = fedc_config_check_table(cfg, training_keys, COUNT(training_keys), NULL);
	if (!rc)
		rc = fedc_config_check_table(cfg, privacy_keys, COUNT(privacy_keys), NULL);
	if (!rc)
		rc = fedc_config_check_table(cfg, nodes_keys, COUNT(nodes_keys), NULL);
	if (!rc)
		rc = fedc_config_check_table(cfg, robustness_keys, COUNT(robustness_keys), NULL);
	if (!rc)
		rc = check_aggregator_keys(cfg);
	return rc;
}

void experiment__fill_train(const struct experiment *exp, struct fedc_msg *m)
{
	static const enum fedc_field fields[] = {
		FEDC_F_RESEARCHER_ID, FEDC_F_MODEL_ARGS, FEDC_F_LR, FEDC_F_EPOCHS, FEDC_F_NUM_UPDATES,
		FEDC_F_BATCH_SIZE, FEDC_F_SEED, FEDC_F_TEST_RATIO, FEDC_F_FEDPROX_MU, FEDC_F_OPTIMIZER,
	};

	snprintf(m->researcher_id, sizeof(m->researcher_id), "%s", exp->researcher_id);
	memcpy(m->model_args, exp->model_args, sizeof(exp->model_args));
	m->n_model_args = exp->n_model_args;
	m->lr = exp->lr;
	m->epochs = exp->epochs;
	m->num_updates = exp->num_updates;
	m->batch_size = exp->batch_size;
	m->seed = exp->seed;
	m->test_ratio = exp->test_ratio;
	m->fedprox_mu = exp->fedprox_mu;
	snprintf(m->optimizer, sizeof(m->optimizer), "%s", exp->optimizer);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		fedc_msg_set(m, fields[i]);
}

enum fedc_err experiment__load(const char *path, const char *network_path, struct experiment *out)
{
	struct fedc_config *cfg = NULL, *net = NULL;
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	rc = fedc_config_set_string(&out->path, path);
	if (!rc)
		rc = fedc_config_set_string(&out->network_path, network_path ? network_path : "");
	if (!rc)
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
		rc = read_privacy(cfg, out);
	if (!rc && out->cross_site && out->privacy.secure_aggregation)
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [training] cross_site_validation = true does not go with [privacy] "
					       "secure_aggregation = true: the nodes send masked updates, so there is no "
					       "node's own model to validate. Remove one of the two",
			       fedc_config_path(cfg));
	if (!rc)
		rc = read_nodes(cfg, out);
	if (!rc)
		rc = read_robustness(cfg, out);
	if (!rc)
		rc = read_network(net ? net : cfg, out);
	if (!rc)
		rc = find_plan(cfg, out);
	if (rc)
		experiment__free(out);
	fedc_config_free(cfg);
	fedc_config_free(net);
	return rc;
}

enum fedc_err experiment__load_network(const char *path, struct experiment *out)
{
	struct fedc_config *cfg = NULL;
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	rc = fedc_config_set_string(&out->path, path);
	if (!rc)
		rc = fedc_config_set_string(&out->network_path, "");
	/* The other owned strings of a network-only load: "" rather than NULL. */
	if (!rc)
		rc = fedc_config_set_string(&out->plan_path, "");
	if (!rc)
		rc = fedc_config_set_string(&out->output_dir, "");
	if (!rc)
		rc = fedc_config_load(path, &cfg);
	if (!rc)
		rc = read_network(cfg, out); /* absent keys take their documented defaults */
	if (rc)
		experiment__free(out);
	fedc_config_free(cfg);
	return rc;
}
