/* Reading and validating the node's INI configuration. */
#include "node_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/channel.h"
#include "fedc/config.h"
#include "fedc/id.h"

static const char *const known_sections[] = { "node", "broker", "repository", "security", "limits",
					       "log", NULL };
static const char *const node_keys[] = { "id", "federation", "data_dir", NULL };
static const char *const broker_keys[] = { "url", "ca_file", "cert_file", "key_file", "username",
					   "password_file", NULL };
static const char *const repository_keys[] = { "url", "token", "token_file", "ca_file", "timeout_s", NULL };
static const char *const security_keys[] = { "allow_unapproved_plans", "plan_digest", "signing_key",
					     "trusted_keys_dir", "max_clock_skew_s", "allow_unsigned_commands",
					     NULL };
static const char *const limits_keys[] = { "train_timeout_s", "cpu_seconds", "memory_mb", "max_blob_mb",
					   "plan_process_idle_s", NULL };
static const char *const log_keys[] = { "level", "file", NULL };

/* Copies a string value into a fixed field, failing (not truncating) if it does not fit. */
static enum fedc_err copy_value(const struct fedc_config *cfg, const char *section, const char *key,
				const char *value, char *dst, size_t cap)
{
	if (strlen(value) >= cap)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [%s] %s: value longer than %zu characters",
				 fedc_config_path(cfg), section, key, cap - 1);
	memcpy(dst, value, strlen(value) + 1);
	return FEDC_OK;
}

static enum fedc_err get_string(const struct fedc_config *cfg, const char *section, const char *key,
				bool required, const char *def, char *dst, size_t cap)
{
	const char *value = NULL;
	enum fedc_err rc = fedc_config_str(cfg, section, key, required, def, &value);

	if (rc)
		return rc;
	return copy_value(cfg, section, key, value ? value : "", dst, cap);
}

/* Ids and the federation become MQTT topic levels: no separators or wildcards. */
/* [security] plan_digest: the algorithm plans are approved by. */
static enum fedc_err read_plan_digest(const struct fedc_config *cfg, struct node_config *out)
{
	const char *name = NULL;
	enum fedc_err rc = fedc_config_str(cfg, "security", "plan_digest", false, "sha256", &name);

	if (!rc && fedc_hash_alg_parse(name, &out->plan_digest) != FEDC_OK)
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [security] plan_digest: \"%s\": expected sha256, sha512, "
				 "sha3-256 or blake2b-512", fedc_config_path(cfg), name);
	return rc;
}

static enum fedc_err check_name(const struct fedc_config *cfg, const char *section, const char *key,
				const char *value)
{
	if (!fedc_id_valid(value))
		return fedc_fail(FEDC_ERR_CONFIG,
				 "%s: [%s] %s: \"%s\" is not an id (1 to %d of A-Z a-z 0-9 . _ -, not starting "
				 "with '.' or '-')",
				 fedc_config_path(cfg), section, key, value, FEDC_MAX_ID_LEN);
	return FEDC_OK;
}

static enum fedc_err resolve_data_dir(const char *config_path, struct node_config *out)
{
	char given[NODE_PATH_MAX];
	enum fedc_err rc;

	/* Absolute, so the daemon and the plan child agree whatever their cwd. */
	snprintf(given, sizeof(given), "%s", out->data_dir);
	rc = fedc_config_resolve(config_path, given, out->data_dir, sizeof(out->data_dir));
	if (!rc && (size_t)snprintf(out->db_path, sizeof(out->db_path), "%s/node.db", out->data_dir) >=
			   sizeof(out->db_path))
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [node] data_dir: path too long", config_path);
	return rc;
}

/* [broker] and [repository] credentials and TLS files; paths relative to the file. */
static enum fedc_err read_transport(const struct fedc_config *cfg, struct node_config *out)
{
	enum fedc_err rc;

	rc = fedc_config_path_key(cfg, "broker", "ca_file", false, out->broker_ca_file, sizeof(out->broker_ca_file));
	if (!rc)
		rc = fedc_config_path_key(cfg, "broker", "cert_file", false, out->broker_cert_file,
					  sizeof(out->broker_cert_file));
	if (!rc)
		rc = fedc_config_path_key(cfg, "broker", "key_file", false, out->broker_key_file,
					  sizeof(out->broker_key_file));
	if (!rc && !out->broker_cert_file[0] != !out->broker_key_file[0])
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [broker] cert_file and key_file go together",
			       fedc_config_path(cfg));
	if (!rc)
		rc = get_string(cfg, "broker", "username", false, "", out->broker_username,
				sizeof(out->broker_username));
	if (!rc)
		rc = fedc_config_path_key(cfg, "broker", "password_file", false, out->broker_password_file,
					  sizeof(out->broker_password_file));
	if (!rc)
		rc = fedc_config_path_key(cfg, "repository", "token_file", false, out->repository_token_file,
					  sizeof(out->repository_token_file));
	if (!rc && out->repository_token[0] && out->repository_token_file[0])
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [repository] token and token_file: give one, not both",
			       fedc_config_path(cfg));
	if (!rc)
		rc = fedc_config_path_key(cfg, "repository", "ca_file", false, out->repository_ca_file,
					  sizeof(out->repository_ca_file));
	return rc;
}

/* [security]: message signatures. */
static enum fedc_err read_signing(const struct fedc_config *cfg, struct node_config *out)
{
	enum fedc_err rc;

	rc = fedc_config_path_key(cfg, "security", "signing_key", false, out->signing_key, sizeof(out->signing_key));
	if (!rc)
		rc = fedc_config_path_key(cfg, "security", "trusted_keys_dir", false, out->trusted_keys_dir,
					  sizeof(out->trusted_keys_dir));
	if (!rc)
		rc = fedc_config_int(cfg, "security", "max_clock_skew_s", false, FEDC_DEFAULT_CLOCK_SKEW_S, 1, 86400,
				     &out->max_clock_skew_s);
	if (!rc)
		rc = fedc_config_bool(cfg, "security", "allow_unsigned_commands", false, false,
				      &out->allow_unsigned_commands);
	return rc;
}

static enum fedc_err check_all_keys(const struct fedc_config *cfg)
{
	enum fedc_err rc = fedc_config_check_sections(cfg, known_sections);

	if (!rc)
		rc = fedc_config_check_keys(cfg, "node", node_keys);
	if (!rc)
		rc = fedc_config_check_keys(cfg, "broker", broker_keys);
	if (!rc)
		rc = fedc_config_check_keys(cfg, "repository", repository_keys);
	if (!rc)
		rc = fedc_config_check_keys(cfg, "security", security_keys);
	if (!rc)
		rc = fedc_config_check_keys(cfg, "limits", limits_keys);
	if (!rc)
		rc = fedc_config_check_keys(cfg, "log", log_keys);
	return rc;
}

static enum fedc_err read_values(const struct fedc_config *cfg, struct node_config *out)
{
	const char *level = NULL;
	enum fedc_err rc;

	rc = get_string(cfg, "node", "id", true, NULL, out->node_id, sizeof(out->node_id));
	if (!rc)
		rc = check_name(cfg, "node", "id", out->node_id);
	if (!rc)
		rc = get_string(cfg, "node", "federation", false, "default", out->federation,
				sizeof(out->federation));
	if (!rc)
		rc = check_name(cfg, "node", "federation", out->federation);
	if (!rc)
		rc = get_string(cfg, "node", "data_dir", true, NULL, out->data_dir, sizeof(out->data_dir));
	if (!rc)
		rc = get_string(cfg, "broker", "url", true, NULL, out->broker_url, sizeof(out->broker_url));
	if (!rc)
		rc = get_string(cfg, "repository", "url", true, NULL, out->repository_url,
				sizeof(out->repository_url));
	if (!rc)
		rc = get_string(cfg, "repository", "token", false, "", out->repository_token,
				sizeof(out->repository_token));
	if (!rc)
		rc = fedc_config_int(cfg, "repository", "timeout_s", false, 30, 1, 3600,
				     &out->repository_timeout_s);
	if (!rc)
		rc = fedc_config_bool(cfg, "security", "allow_unapproved_plans", false, false,
				      &out->allow_unapproved_plans);
	if (!rc)
		rc = read_plan_digest(cfg, out);
	if (!rc)
		rc = read_transport(cfg, out);
	if (!rc)
		rc = read_signing(cfg, out);
	if (!rc)
		rc = fedc_config_int(cfg, "limits", "train_timeout_s", false, 600, 1, 7 * 24 * 3600,
				     &out->train_timeout_s);
	if (!rc)
		rc = fedc_config_int(cfg, "limits", "cpu_seconds", false, 3600, 1, 7 * 24 * 3600,
				     &out->cpu_seconds);
	if (!rc)
		rc = fedc_config_int(cfg, "limits", "memory_mb", false, 4096, 64, 1 << 20, &out->memory_mb);
	if (!rc)
		rc = fedc_config_int(cfg, "limits", "plan_process_idle_s", false, 300, 0, 7 * 24 * 3600,
				     &out->plan_process_idle_s);
	if (!rc)
		rc = fedc_config_int(cfg, "limits", "max_blob_mb", false, 2048, 1, 1 << 20, &out->max_blob_mb);
	if (!rc)
		rc = fedc_config_str(cfg, "log", "level", false, "info", &level);
	if (!rc && fedc_log_level_parse(level, &out->log_level) != 0)
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [log] level: expected debug, info, warn or error, got \"%s\"",
			       fedc_config_path(cfg), level);
	if (!rc)
		rc = get_string(cfg, "log", "file", false, "", out->log_file, sizeof(out->log_file));
	return rc;
}

enum fedc_err node_config__load(const char *path, struct node_config *out)
{
	struct fedc_config *cfg = NULL;
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	if (strlen(path) >= sizeof(out->path))
		return fedc_fail(FEDC_ERR_CONFIG, "config path too long");
	memcpy(out->path, path, strlen(path) + 1);
	rc = fedc_config_load(path, &cfg);
	if (rc)
		goto out;
	rc = check_all_keys(cfg);
	if (rc)
		goto out;
	rc = read_values(cfg, out);
	if (rc)
		goto out;
	rc = resolve_data_dir(path, out);
out:
	fedc_config_free(cfg);
	return rc;
}
