/* Settings of fedc-repository: command-line flags first, then the INI file for
 * whatever the flags left open, then the defaults. Every error names the flag,
 * or the file, line and key, so that an operator can fix it without reading
 * code. */
#include "server_config.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/config.h"

#define SECTION "repository"

/* Values given on the command line (NULL: not given); they point into argv. */
struct overrides {
	const char *config;
	const char *listen;
	const char *port;
	const char *store;
	const char *token;
	const char *max_blob_mb;
	const char *log_level;
	const char *log_file;
	const char *port_file;
	const char *tokens_file;
	const char *tls_cert;
	const char *tls_key;
};

static const char *const known_sections[] = { SECTION, NULL };
static const char *const known_keys[] = {
	"listen",	"port",	       "store_dir", "token",    "tokens_file", "tls_cert_file",
	"tls_key_file", "max_blob_mb", "log_level", "log_file", NULL,
};

void server_config__usage(FILE *to)
{
	fprintf(to,
		"usage: fedc-repository [--config FILE] [options]\n"
		"\n"
		"Content-addressed blob store: PUT/GET/HEAD /v1/blobs/sha256/<hex> (published)\n"
		"and /v1/updates/<node id>/sha256/<hex> (a node's updates).\n"
		"Flags override the keys of the [repository] section of FILE:\n"
		"  --config FILE        INI file with a [repository] section\n"
		"  --listen ADDR        listen address           (listen, default 127.0.0.1)\n"
		"  --port N             TCP port, 0 = any free   (port, default 8080)\n"
		"  --store DIR          blob store directory     (store_dir, required)\n"
		"  --token TOKEN        researcher \"admin\" token  (token, default none)\n"
		"  --tokens-file FILE   ROLE ID SHA256 lines     (tokens_file, default none;\n"
		"                       re-read on SIGHUP)\n"
		"  --tls-cert FILE      PEM certificate: HTTPS   (tls_cert_file, default none)\n"
		"  --tls-key FILE       PEM key of --tls-cert    (tls_key_file, default none)\n"
		"  --max-blob-mb N      largest blob in MiB      (max_blob_mb, default 2048)\n"
		"  --log-level LEVEL    debug|info|warn|error    (log_level, default info)\n"
		"  --log-file PATH      append logs to PATH      (log_file, default stderr)\n"
		"  --port-file PATH     write the bound port to PATH once listening\n"
		"  -h, --help           this text\n"
		"Exit status: 0 after SIGINT/SIGTERM, 1 on a runtime failure, 2 on a bad\n"
		"command line, configuration, tokens file or TLS file.\n");
}

/* Stores the value of option `index` of the long option table. */
static void set_override(struct overrides *ov, int index, const char *value)
{
	const char **slots[] = { &ov->config,	 &ov->listen,	 &ov->port,	 &ov->store,
				 &ov->token,	 &ov->max_blob_mb, &ov->log_level, &ov->log_file,
				 &ov->port_file, &ov->tokens_file, &ov->tls_cert, &ov->tls_key };

	*slots[index] = value;
}

static enum fedc_err parse_flags(int argc, char **argv, struct overrides *ov, bool *help)
{
	/* Same order as the slots of set_override(). */
	static const struct option options[] = {
		{ "config", required_argument, NULL, 0 },      { "listen", required_argument, NULL, 0 },
		{ "port", required_argument, NULL, 0 },	       { "store", required_argument, NULL, 0 },
		{ "token", required_argument, NULL, 0 },       { "max-blob-mb", required_argument, NULL, 0 },
		{ "log-level", required_argument, NULL, 0 },   { "log-file", required_argument, NULL, 0 },
		{ "port-file", required_argument, NULL, 0 },   { "tokens-file", required_argument, NULL, 0 },
		{ "tls-cert", required_argument, NULL, 0 },    { "tls-key", required_argument, NULL, 0 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int index, c;

	opterr = 0; /* we report errors ourselves, naming the flag */
	optind = 1;
	for (;;) {
		index = -1;
		c = getopt_long(argc, argv, ":h", options, &index);
		if (c == -1)
			break;
		if (c == 'h') {
			*help = true;
			return FEDC_OK;
		}
		if (c == ':')
			return fedc_fail(FEDC_ERR_CONFIG, "option %s needs a value", argv[optind - 1]);
		if (c != 0 || index < 0)
			return fedc_fail(FEDC_ERR_CONFIG, "unknown option \"%s\"", argv[optind - 1]);
		set_override(ov, index, optarg);
	}
	if (optind < argc)
		return fedc_fail(FEDC_ERR_CONFIG, "unexpected argument \"%s\"", argv[optind]);
	return FEDC_OK;
}

static enum fedc_err copy_checked(const char *what, const char *value, char *dst, size_t cap)
{
	size_t len = strlen(value);

	if (len >= cap)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: value longer than %zu characters", what, cap - 1);
	memcpy(dst, value, len + 1);
	return FEDC_OK;
}

/* String setting: the flag if given, else the file's key, else `def`. Paths
 * from the file are resolved against the file's directory when `is_path`. */
static enum fedc_err get_str(const struct fedc_config *cfg, const char *flag_value, const char *flag,
			     const char *key, bool required, const char *def, bool is_path, char *dst,
			     size_t cap)
{
	const char *value = NULL;
	char what[128];
	enum fedc_err rc;

	if (flag_value) {
		snprintf(what, sizeof(what), "%s", flag);
		if (required && !flag_value[0])
			return fedc_fail(FEDC_ERR_CONFIG, "%s: must not be empty", flag);
		return copy_checked(what, flag_value, dst, cap);
	}
	if (!cfg) {
		if (required)
			return fedc_fail(FEDC_ERR_CONFIG,
					 "[%s] %s: required key is missing (give %s or --config FILE)",
					 SECTION, key, flag);
		return copy_checked(flag, def, dst, cap);
	}
	rc = fedc_config_str(cfg, SECTION, key, required, def, &value);
	if (rc)
		return rc;
	snprintf(what, sizeof(what), "%s: [%s] %s", fedc_config_path(cfg), SECTION, key);
	if (!is_path)
		return copy_checked(what, value, dst, cap);
	/* Relative to the file's own directory, so that a config works whatever
	 * the daemon's working directory. */
	if (fedc_config_resolve(fedc_config_path(cfg), value, dst, cap) != FEDC_OK)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: value longer than %zu characters", what, cap - 1);
	return FEDC_OK;
}

static enum fedc_err parse_int_flag(const char *flag, const char *value, int64_t min, int64_t max,
				    int64_t *out)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(value, &end, 10);
	if (errno || end == value || *end || v < min || v > max)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: expected an integer in %lld..%lld, got \"%s\"", flag,
				 (long long)min, (long long)max, value);
	*out = v;
	return FEDC_OK;
}

static enum fedc_err get_int(const struct fedc_config *cfg, const char *flag_value, const char *flag,
			     const char *key, int64_t def, int64_t min, int64_t max, int64_t *out)
{
	if (flag_value)
		return parse_int_flag(flag, flag_value, min, max, out);
	if (!cfg) {
		*out = def;
		return FEDC_OK;
	}
	return fedc_config_int(cfg, SECTION, key, false, def, min, max, out);
}

/* The token travels in an HTTP header: visible ASCII only, so that it can be
 * neither split nor folded. */
static enum fedc_err check_token(const char *token)
{
	for (const char *p = token; *p; p++) {
		if (*p < 0x21 || *p > 0x7e)
			return fedc_fail(FEDC_ERR_CONFIG,
					 "token: only visible ASCII characters are allowed (no spaces)");
	}
	return FEDC_OK;
}

static enum fedc_err get_log_level(const struct fedc_config *cfg, const struct overrides *ov,
				   struct server_config *out)
{
	char level[32];
	enum fedc_err rc;

	rc = get_str(cfg, ov->log_level, "--log-level", "log_level", false, "info", false, level,
		     sizeof(level));
	if (rc)
		return rc;
	if (fedc_log_level_parse(level, &out->log_level) == 0)
		return FEDC_OK;
	if (ov->log_level)
		return fedc_fail(FEDC_ERR_CONFIG, "--log-level: expected debug, info, warn or error, got \"%s\"",
				 level);
	return fedc_fail(FEDC_ERR_CONFIG, "%s: [%s] log_level: expected debug, info, warn or error, got \"%s\"",
			 fedc_config_path(cfg), SECTION, level);
}

/* Authentication and TLS files. Paths in the config file are relative to
 * its directory, like store_dir. */
static enum fedc_err read_security(const struct fedc_config *cfg, const struct overrides *ov,
				   struct server_config *out)
{
	enum fedc_err rc;

	rc = get_str(cfg, ov->tokens_file, "--tokens-file", "tokens_file", false, "", true,
		     out->tokens_file, sizeof(out->tokens_file));
	if (!rc)
		rc = get_str(cfg, ov->tls_cert, "--tls-cert", "tls_cert_file", false, "", true,
			     out->tls_cert_file, sizeof(out->tls_cert_file));
	if (!rc)
		rc = get_str(cfg, ov->tls_key, "--tls-key", "tls_key_file", false, "", true,
			     out->tls_key_file, sizeof(out->tls_key_file));
	if (!rc && !out->tls_cert_file[0] != !out->tls_key_file[0])
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: tls_cert_file and tls_key_file (--tls-cert, --tls-key) "
				"go together: give both for HTTPS or neither for plain HTTP",
			       cfg ? fedc_config_path(cfg) : "command line");
	return rc;
}

static enum fedc_err read_values(const struct fedc_config *cfg, const struct overrides *ov,
				 struct server_config *out)
{
	int64_t port = 0;
	enum fedc_err rc;

	rc = get_str(cfg, ov->listen, "--listen", "listen", false, "127.0.0.1", false, out->listen,
		     sizeof(out->listen));
	if (!rc)
		rc = get_int(cfg, ov->port, "--port", "port", 8080, 0, 65535, &port);
	if (!rc)
		rc = get_str(cfg, ov->store, "--store", "store_dir", true, NULL, true, out->store_dir,
			     sizeof(out->store_dir));
	if (!rc)
		rc = get_str(cfg, ov->token, "--token", "token", false, "", false, out->token,
			     sizeof(out->token));
	if (!rc)
		rc = check_token(out->token);
	if (!rc)
		rc = get_int(cfg, ov->max_blob_mb, "--max-blob-mb", "max_blob_mb", 2048, 1,
			     SERVER_CONFIG_MAX_BLOB_MB_MAX, &out->max_blob_mb);
	if (!rc)
		rc = get_log_level(cfg, ov, out);
	if (!rc)
		rc = get_str(cfg, ov->log_file, "--log-file", "log_file", false, "", true, out->log_file,
			     sizeof(out->log_file));
	if (!rc)
		rc = read_security(cfg, ov, out);
	if (!rc && ov->port_file)
		rc = copy_checked("--port-file", ov->port_file, out->port_file, sizeof(out->port_file));
	if (!rc && !out->listen[0])
		rc = fedc_fail(FEDC_ERR_CONFIG, "listen: must not be empty");
	out->port = (int)port;
	out->max_blob_bytes = (uint64_t)out->max_blob_mb << 20;
	return rc;
}

enum fedc_err server_config__parse(int argc, char **argv, struct server_config *out, bool *help)
{
	struct overrides ov = { 0 };
	struct fedc_config *cfg = NULL;
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	*help = false;
	rc = parse_flags(argc, argv, &ov, help);
	if (rc || *help)
		goto out;
	if (ov.config) {
		rc = copy_checked("--config", ov.config, out->config_path, sizeof(out->config_path));
		if (!rc)
			rc = fedc_config_load(ov.config, &cfg);
		if (!rc)
			rc = fedc_config_check_sections(cfg, known_sections);
		if (!rc)
			rc = fedc_config_check_keys(cfg, SECTION, known_keys);
		if (rc)
			goto out;
	}
	rc = read_values(cfg, &ov, out);
out:
	fedc_config_free(cfg);
	return rc;
}
