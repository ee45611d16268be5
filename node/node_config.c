/* Reading and validating the node's INI configuration. The table below is the
 * one description of the file: docs/node-admin.md's reference and the
 * template of `fedc-node init` are written from it. */
#include "node_config.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/channel.h"
#include "fedc/config.h"
#include "fedc/prom.h"
#include "fedc/repo.h"

#define DAY_S (24 * 3600)
#define FIELD(name) offsetof(struct node_config, name)
#define ID_FIELD(name) FIELD(name), sizeof(((struct node_config *)0)->name)

static const char *const digest_names[] = { "sha256", "sha512", "sha3-256", "blake2b-512", NULL };
static const char *const noise_names[] = { "none", "laplace", "gaussian", NULL };
static const char *const level_names[] = { "debug", "info", "warn", "error", NULL };

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define CLOCK_SKEW_DEFAULT STRINGIFY(FEDC_DEFAULT_CLOCK_SKEW_S)

/* clang-format off */
static const struct fedc_config_key node_keys[] = {
	{ "node", "id", FEDC_CONFIG_ID, true, NULL, 0, 0, 0, 0, NULL, ID_FIELD(node_id),
	  "This node's id, unique in the federation: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with `.` or `-` (docs/protocol.md, Identifiers); it is an MQTT topic level.", NULL },
	{ "node", "federation", FEDC_CONFIG_ID, false, "default", 0, 0, 0, 0, NULL, ID_FIELD(federation),
	  "Federation name: nodes and researchers of one federation share the topics `fedc/<federation>/...`. An id, like `id`.", NULL },
	{ "node", "data_dir", FEDC_CONFIG_PATH, true, NULL, 0, 0, 0, 0, NULL, FIELD(data_dir), 0,
	  "Directory of the node's own files (database, kept plans, SCAFFOLD state). A relative path is taken relative to the config file's directory. Created with mode 0700 when missing.", NULL },
	FEDC_CONFIG_TRANSPORT_KEYS(struct node_config, "broker", "", "repository", "", "node", true, NULL, NULL, "30"),
	{ "security", "allow_unapproved_plans", FEDC_CONFIG_BOOL, false, "false", 0, 0, 0, 0, NULL,
	  FIELD(allow_unapproved_plans), 0,
	  "`true` runs **any** plan the node is sent, approved or not. For demos on public data only; never on patient data. The daemon logs a warning at start when it is on.", NULL },
	{ "security", "plan_digest", FEDC_CONFIG_ENUM, false, "sha256", 0, 0, 0, 0, digest_names,
	  FEDC_CONFIG_UNSTORED, 0,
	  "The digest plans are listed and approved by (OpenSSL). The protocol and the repository name plans by SHA-256; the node hashes each plan file it receives with its own algorithm and looks that up. Entries keep the algorithm they were registered with, so changing this later does not forget earlier decisions; `plan approve DIGEST` takes 64 or 128 hex digits.", NULL },
	{ "security", "signing_key", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, FIELD(signing_key), 0,
	  "This node's Ed25519 private key (PEM): it signs every reply, scalar, error and status.", NULL },
	{ "security", "trusted_keys_dir", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, FIELD(trusted_keys_dir), 0,
	  "Directory of `<researcher id>.pub`: only commands signed by these researchers are run (docs/security.md). Without it the daemon refuses to start, unless `allow_unsigned_commands` is on.", NULL },
	{ "security", "peer_keys_dir", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, FIELD(peer_keys_dir), 0,
	  "Directory of the other nodes' public signing keys (`<node id>.pub`), which secure aggregation checks the nodes' key signatures against; written by fedc-admin as `peers/`.", NULL },
	{ "security", "max_clock_skew_s", FEDC_CONFIG_INT, false, CLOCK_SKEW_DEFAULT, 1, 86400, 0, 0, NULL,
	  FIELD(max_clock_skew_s), 0,
	  "A command stamped further than this from the node's clock is refused as stale; keep clocks in sync (NTP).", NULL },
	{ "security", "allow_unsigned_commands", FEDC_CONFIG_BOOL, false, "false", 0, 0, 0, 0, NULL,
	  FIELD(allow_unsigned_commands), 0,
	  "`true` also runs unsigned commands: anyone who can publish on the node's topic commands it. Closed test networks only; warned at every start.", NULL },
	{ "limits", "train_timeout_s", FEDC_CONFIG_INT, false, "600", 1, 7 * DAY_S, 0, 0, NULL, FIELD(train_timeout_s), 0,
	  "Wall-clock limit of one training round; the plan's process is killed past it.", NULL },
	{ "limits", "cpu_seconds", FEDC_CONFIG_INT, false, "3600", 1, 7 * DAY_S, 0, 0, NULL, FIELD(cpu_seconds), 0,
	  "CPU-time limit of one round in the plan's process, all its threads together: the daemon reads the process's CPU clock every 50 ms and kills it past this.", NULL },
	{ "limits", "memory_mb", FEDC_CONFIG_INT, false, "4096", 64, 1 << 20, 0, 0, NULL, FIELD(memory_mb), 0,
	  "Memory limit of the plan's process, in MiB: the daemon watches its resident memory every 50 ms and kills it past this. Its address space is also capped (RLIMIT_AS) at 2 × `memory_mb` + 256 MiB, so that allocating faster than the watch cannot take the machine.", NULL },
	{ "limits", "plan_process_idle_s", FEDC_CONFIG_INT, false, "300", 0, 7 * DAY_S, 0, 0, NULL,
	  FIELD(plan_process_idle_s), 0,
	  "How long the plan process of a job (loaded plan and dataset, stopped between rounds) is kept waiting for the job's next round, in seconds. While it waits it holds the memory of its last round (its heap keeps what the plan freed, so that the next round does not fault fresh pages in). `0`: a fresh process for every round, which loads the data every time.", NULL },
	{ "limits", "max_blob_mb", FEDC_CONFIG_INT, false, "2048", 1, 1 << 20, 0, 0, NULL, FIELD(max_blob_mb), 0,
	  "Largest plan or parameter file the node downloads, and the largest plan file `plan approve` copies, in MiB.", NULL },
	{ "privacy", "min_noise_multiplier", FEDC_CONFIG_DOUBLE, false, "0", 0, 0, 0, 1000, NULL,
	  FIELD(min_noise_multiplier), 0,
	  "A round whose `dp_noise` (noise multiplier of node-level differential privacy) is below this is refused with `privacy-policy`. With `require_dp` off, a round without DP (no `dp_noise`, or 0) is still run.", NULL },
	{ "privacy", "max_epsilon", FEDC_CONFIG_DOUBLE, false, "0", 0, 0, 0, 1e6, NULL, FIELD(max_epsilon), 0,
	  "A DP round is refused when the epsilon this node would have spent on its job after it (RDP accountant, sampling rate 1: every round this node trained for the job counts) passes this. `0`: no limit.", NULL },
	{ "privacy", "max_delta", FEDC_CONFIG_DOUBLE, false, "1e-5", 0, 0, 1e-300, 0.5, NULL, FIELD(max_delta), 0,
	  "A DP round whose `dp_delta` is above this is refused.", NULL },
	{ "privacy", "min_samples", FEDC_CONFIG_INT, false, "0", 0, INT64_MAX, 0, 0, NULL, FIELD(min_samples), 0,
	  "A round whose training rows (after the test rows are held out) are fewer than this is refused, before anything is uploaded. `0`: no minimum.", NULL },
	{ "privacy", "count_rounding", FEDC_CONFIG_INT, false, "1", 1, 1000000000, 0, 0, NULL, FIELD(count_rounding), 0,
	  "Sample counts this node sends (`n_samples`, `n_test` of `train-reply`; `n_samples` of each dataset in `search` and `list` replies) are rounded to the nearest multiple of this; a count between 0 and it is sent as it, so that a small dataset still takes part. `1`: exact counts.", NULL },
	{ "privacy", "require_dp", FEDC_CONFIG_BOOL, false, "false", 0, 0, 0, 0, NULL, FIELD(require_dp), 0,
	  "`true` refuses every training round without node-level DP (`dp_noise` absent or 0, or below `min_noise_multiplier`). Evaluation requests are still answered.", NULL },
	{ "privacy", "require_secure_aggregation", FEDC_CONFIG_BOOL, false, "false", 0, 0, 0, 0, NULL,
	  FIELD(require_secure_aggregation), 0,
	  "`true` refuses every training round that does not ask for secure aggregation (`secure_aggregation` true).", NULL },
	{ "privacy", "secret_training_seed", FEDC_CONFIG_BOOL, false, "true", 0, 0, 0, 0, NULL,
	  FIELD(secret_training_seed), 0,
	  "`true`: the node mixes a secret of its own into the seed its plans train with (`args->seed`: shuffling, dropout, DP-SGD noise and sampling), so that no researcher can predict them; a resumed experiment still repeats bit for bit, since the secret is the node's own and fixed (docs/plan-api.md, \"Differential privacy (DP-SGD)\"). `false`: the seed is mix(seed, round, node id), which anyone who knows the experiment, as `fedc-centralized` does, reproduces; DP-SGD noise then protects nothing from the researcher.", NULL },
	{ "analytics", "enabled", FEDC_CONFIG_BOOL, false, "false", 0, 0, 0, 0, NULL, FIELD(analytics_enabled), 0,
	  "`true` answers `analytics` queries (counts, sums, means, variances, min, max, histograms) over this node's CSV datasets, under the policy below (docs/privacy.md, \"Analytics\"); `false` refuses them.", NULL },
	{ "analytics", "min_count", FEDC_CONFIG_INT, false, "10", 1, INT64_MAX, 0, 0, NULL, FIELD(analytics_min_count), 0,
	  "A cell (a column within a group) over fewer rows than this is not released: the reply marks it suppressed.", NULL },
	{ "analytics", "noise", FEDC_CONFIG_ENUM, false, "laplace", 0, 0, 0, 0, noise_names, ID_FIELD(analytics_noise),
	  "Noise added to every released count, sum, sum of squares and histogram bin: `laplace`, `gaussian` (at `delta`) or `none` (exact values, min and max released, no budget spent). Under noise min and max are withheld and values are clipped to their column's bounds.", NULL },
	{ "analytics", "max_epsilon_per_query", FEDC_CONFIG_DOUBLE, false, "1", 0, 0, 1e-6, 100, NULL,
	  FIELD(analytics_max_epsilon), 0,
	  "The most epsilon one query may spend; a query that asks for more is refused, one that asks for nothing spends this.", NULL },
	{ "analytics", "budget", FEDC_CONFIG_DOUBLE, false, "10", 0, 0, 0, 1e6, NULL, FIELD(analytics_budget), 0,
	  "Total epsilon analytics queries may spend on one dataset, kept in the node's database; a query past it is refused with what is left.", NULL },
	{ "analytics", "delta", FEDC_CONFIG_DOUBLE, false, "1e-6", 0, 0, 1e-300, 0.5, NULL, FIELD(analytics_delta), 0,
	  "The delta of `gaussian` noise (standard deviation sensitivity * sqrt(2 ln(1.25/delta)) / epsilon).", NULL },
	{ "analytics", "bounds", FEDC_CONFIG_STR, false, "", 0, 0, 0, 0, NULL, FIELD(analytics_bounds), 0,
	  "Declared ranges of columns, `COLUMN:LO:HI` separated by commas (e.g. `c0:0:40, c2:0:200`): under noise values are clipped to them and the noise is scaled to them; they win over a query's `bounds.COLUMN`.", NULL },
	{ "metrics", "listen", FEDC_CONFIG_STR, false, NULL, 0, 0, 0, 0, NULL, FIELD(metrics_listen), 0,
	  "`HOST:PORT` (e.g. `127.0.0.1:9465`, `[::1]:9465`) of a plain-HTTP listener serving Prometheus metrics at `/metrics` (docs/monitoring.md): counts and sizes only, no data, no credentials asked, so keep it on loopback or a monitoring network. Empty: no listener.", NULL },
	{ "console", "listen", FEDC_CONFIG_STR, false, "127.0.0.1", 0, 0, 0, 0, NULL, FIELD(console_listen), 0,
	  "Address `fedc-node-console` listens on (IPv4 or IPv6 literal). The default serves this machine only; put a hospital-network address here to serve the data steward's desk, never a public one.", NULL },
	{ "console", "port", FEDC_CONFIG_INT, false, "8443", 1, 65535, 0, 0, NULL, FIELD(console_port), 0,
	  "TCP port of the console (HTTPS).", NULL },
	{ "console", "tls_cert_file", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, FIELD(console_tls_cert_file), 0,
	  "The console's HTTPS certificate (PEM, chain allowed). Required to serve: the console speaks HTTPS only.", NULL },
	{ "console", "tls_key_file", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, FIELD(console_tls_key_file), 0,
	  "The private key of `tls_cert_file` (PEM, not encrypted; keep it mode 0600).", NULL },
	{ "console", "session_idle_s", FEDC_CONFIG_INT, false, "900", 60, 86400, 0, 0, NULL, FIELD(console_session_idle_s), 0,
	  "A console session ends after this many seconds without a request; the user logs in again.", NULL },
	{ "console", "metrics_listen", FEDC_CONFIG_STR, false, NULL, 0, 0, 0, 0, NULL, FIELD(console_metrics_listen), 0,
	  "`HOST:PORT` (e.g. `127.0.0.1:9466`) of a plain-HTTP listener on which `fedc-node-console` serves its Prometheus metrics at `/metrics` (docs/monitoring.md): counts only, no names, no credentials asked, so keep it on loopback or a monitoring network. Empty: no listener.", NULL },
	{ "log", "level", FEDC_CONFIG_ENUM, false, "info", 0, 0, 0, 0, level_names, FEDC_CONFIG_UNSTORED, 0,
	  "The least severe messages logged.", NULL },
	{ "log", "file", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, FIELD(log_file), 0,
	  "Log file (appended to, mode 0600); a relative path is taken relative to the config file's directory; empty logs to stderr.", NULL },
};
/* clang-format on */

#define N_KEYS (sizeof(node_keys) / sizeof(node_keys[0]))

void node_config__free(struct node_config *cfg)
{
	fedc_config_free_table(node_keys, N_KEYS, cfg);
	free(cfg->path);
	free(cfg->db_path);
	cfg->path = NULL;
	cfg->db_path = NULL;
}

/* The ENUM keys, already checked against their choices by the table. */
static enum fedc_err read_enums(const struct fedc_config *cfg, struct node_config *out)
{
	const char *digest = NULL, *level = NULL;
	enum fedc_err rc = fedc_config_str(cfg, "security", "plan_digest", false, "sha256", &digest);

	if (!rc)
		rc = fedc_config_str(cfg, "log", "level", false, "info", &level);
	if (!rc && (fedc_hash_alg_parse(digest, &out->plan_digest) != FEDC_OK ||
		    fedc_log_level_parse(level, &out->log_level) != 0))
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [security] plan_digest or [log] level: not understood",
			       fedc_config_path(cfg));
	return rc;
}

/* [metrics] listen and [console] metrics_listen: HOST:PORT, checked at load so that `fedc-node check`
 * and the start report a typo with the file's name. */
static enum fedc_err check_metrics_listen(const struct fedc_config *cfg, const char *key, const char *text)
{
	char host[FEDC_PROM_HOST_MAX + 1], what[PATH_MAX + 48];
	uint16_t port = 0;

	snprintf(what, sizeof(what), "%s: %s", fedc_config_path(cfg), key);
	return fedc_prom_listen_parse(what, text, host, &port);
}

static enum fedc_err set_db_path(struct node_config *out)
{
	size_t len = strlen(out->data_dir) + sizeof("/node.db");

	out->db_path = malloc(len);
	if (!out->db_path)
		return FEDC_ERR_NOMEM;
	snprintf(out->db_path, len, "%s/node.db", out->data_dir);
	return FEDC_OK;
}

enum fedc_err node_config__load(const char *path, struct node_config *out)
{
	struct fedc_config *cfg = NULL;
	static const char *const no_other_sections[] = { NULL };
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	rc = fedc_config_set_string(&out->path, path);
	if (!rc)
		rc = fedc_config_load(path, &cfg);
	if (!rc)
		rc = fedc_config_check_table(cfg, node_keys, N_KEYS, no_other_sections);
	if (!rc)
		rc = fedc_config_read_table(cfg, node_keys, N_KEYS, out);
	if (!rc)
		rc = read_enums(cfg, out);
	if (!rc)
		rc = fedc_config_check_transport(cfg, "broker", "", "repository", "", out->broker_cert_file,
						 out->broker_key_file, out->repository_token, out->repository_token_file);
	if (!rc && out->metrics_listen && out->metrics_listen[0])
		rc = check_metrics_listen(cfg, "[metrics] listen", out->metrics_listen);
	if (!rc && out->console_metrics_listen && out->console_metrics_listen[0])
		rc = check_metrics_listen(cfg, "[console] metrics_listen", out->console_metrics_listen);
	/* a typo in the URL shows at start, not at the first round */
	if (!rc && fedc_repo_check_url(out->repository_url) != FEDC_OK)
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [repository] url: %s", path, fedc_last_error());
	if (!rc)
		rc = set_db_path(out);
	if (rc)
		node_config__free(out);
	fedc_config_free(cfg);
	return rc;
}

enum fedc_err node_config__write_template(FILE *to, const char *id, const char *federation, const char *data_dir,
					  const char *broker_url, const char *repository_url, const char *token)
{
	const struct fedc_config_value given[] = {
		{ "node", "id", id },
		{ "node", "federation", federation },
		{ "node", "data_dir", data_dir },
		{ "broker", "url", broker_url },
		{ "repository", "url", repository_url },
		{ "repository", "token", token },
	};

	return fedc_config_write_template(to, "fedc node configuration (docs/node-admin.md lists every key)",
					  node_keys, N_KEYS, given, sizeof(given) / sizeof(given[0]));
}

enum fedc_err node_config__write_markdown(FILE *to)
{
	return fedc_config_write_markdown(to, node_keys, N_KEYS);
}
