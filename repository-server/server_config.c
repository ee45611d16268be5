/* Settings of fedc-repository: command-line flags first, then the INI file for
 * whatever the flags left open, then the defaults. The table below is the one
 * description of the keys and their flags. Every error names the flag, or the
 * file, line and key, so that an operator can fix it without reading code. */
#include "server_config.h"

#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/config.h"
#include "fedc/prom.h"

#define SECTION "repository"
#define FIELD(name) offsetof(struct server_config, name), sizeof(((struct server_config *)0)->name)
#define NUMBER(name) offsetof(struct server_config, name), 0

static const char *const level_names[] = { "debug", "info", "warn", "error", NULL };

/* clang-format off */
static const struct fedc_config_key repo_keys[] = {
	{ SECTION, "listen", FEDC_CONFIG_STR, false, "127.0.0.1", 0, 0, 0, 0, NULL, FIELD(listen),
	  "Address or host name to bind (IPv6 as `::1` or `[::1]`).", "--listen" },
	{ SECTION, "port", FEDC_CONFIG_INT, false, "8080", 0, 65535, 0, 0, NULL, NUMBER(port),
	  "TCP port; `0` picks a free one.", "--port" },
	{ SECTION, "store_dir", FEDC_CONFIG_PATH, true, NULL, 0, 0, 0, 0, NULL, FIELD(store_dir),
	  "The store; created if missing (its parent must exist).", "--store" },
	{ SECTION, "tokens_file", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, FIELD(tokens_file),
	  "Principals, `ROLE ID SHA256HEX` per line; re-read on SIGHUP.", "--tokens-file" },
	{ SECTION, "token", FEDC_CONFIG_STR, false, NULL, 0, 0, 0, 0, NULL, FIELD(token),
	  "Bearer token of a researcher named `admin` (visible ASCII, no spaces).", "--token" },
	{ SECTION, "tls_cert_file", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, FIELD(tls_cert_file),
	  "PEM certificate (chain): serve HTTPS only. Empty: plain HTTP.", "--tls-cert" },
	{ SECTION, "tls_key_file", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, FIELD(tls_key_file),
	  "PEM private key of `tls_cert_file` (unencrypted); both or neither.", "--tls-key" },
	{ SECTION, "max_blob_mb", FEDC_CONFIG_INT, false, "2048", 1, SERVER_CONFIG_MAX_BLOB_MB_MAX, 0, 0, NULL,
	  NUMBER(max_blob_mb), "Largest blob, in MiB.", "--max-blob-mb" },
	{ SECTION, "node_quota_mb", FEDC_CONFIG_INT, false, "20480", 0, SERVER_CONFIG_MAX_BLOB_MB_MAX * 1024, 0, 0,
	  NULL, NUMBER(node_quota_mb),
	  "Most MiB of distinct updates one node may keep in its namespace (`0`: no limit); past it a PUT is "
	  "refused with 507 `quota-exceeded`.", "--node-quota-mb" },
	{ SECTION, "max_connections", FEDC_CONFIG_INT, false, "4096", 16, SERVER_CONFIG_MAX_CONNECTIONS_MAX, 0, 0,
	  NULL, NUMBER(max_connections),
	  "Connections at once (each node keeps one between rounds; a researcher uses a few). The server raises "
	  "its file descriptor limit to fit (soft up to hard: 2 per connection and 64); a hard limit below that "
	  "lowers this, with a warning in the log.", "--max-connections" },
	{ SECTION, "downloads_at_once", FEDC_CONFIG_INT, false, "0", 0, SERVER_CONFIG_MAX_CONNECTIONS_MAX, 0, 0,
	  NULL, NUMBER(downloads_at_once),
	  "Nodes' downloads of 1 MiB or more sent at once; the others wait their turn, in order of arrival "
	  "(docs/repository.md, \"Downloads in turn\"). `1` or `2` where the server's uplink limits a round: the first "
	  "nodes train and upload while the others download. `0`: all at once.", "--downloads-at-once" },
	{ SECTION, "download_wait_max_s", FEDC_CONFIG_INT, false, "20", 1, 3600, 0, 0, NULL, NUMBER(download_wait_max_s),
	  "With `downloads_at_once`: the longest a download waits for its turn, then it is sent beside the others. "
	  "Keep it under the nodes' `[repository] timeout_s` (30 by default): a download that gets no byte that "
	  "long fails.", "--download-wait-max-s" },
	{ SECTION, "metrics_listen", FEDC_CONFIG_STR, false, NULL, 0, 0, 0, 0, NULL, FIELD(metrics_listen),
	  "`HOST:PORT` of a separate plain-HTTP listener serving Prometheus metrics at `/metrics`, without "
	  "tokens (docs/monitoring.md); keep it on loopback or a monitoring network. Empty: off.", "--metrics-listen" },
	{ SECTION, "log_level", FEDC_CONFIG_ENUM, false, "info", 0, 0, 0, 0, level_names, FEDC_CONFIG_UNSTORED, 0,
	  "The least severe messages logged.", "--log-level" },
	{ SECTION, "log_file", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, FIELD(log_file),
	  "Append log lines to this file; empty: stderr.", "--log-file" },
};
/* clang-format on */

#define N_KEYS (sizeof(repo_keys) / sizeof(repo_keys[0]))
/* Flags that are not keys, after the keys' flags in the option table. */
enum { OPT_CONFIG = N_KEYS, OPT_PORT_FILE, OPT_HELP, N_OPTIONS };

/* Values given on the command line (NULL: not given); they point into argv. */
struct overrides {
	const char *key[N_KEYS]; /* by row of repo_keys */
	const char *config;
	const char *port_file;
};

void server_config__usage(FILE *to)
{
	fprintf(to,
		"usage: fedc-repository [--config FILE] [options]\n"
		"\n"
		"Content-addressed blob store: PUT/GET/HEAD /v1/blobs/sha256/<hex> (published)\n"
		"and /v1/updates/<node id>/sha256/<hex> (a node's updates).\n"
		"Flags override the keys of the [repository] section of FILE:\n"
		"  --config FILE        INI file with a [repository] section\n");
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct fedc_config_key *k = &repo_keys[i];

		char flag[64];

		snprintf(flag, sizeof(flag), "%s VALUE", k->flag);
		fprintf(to, "  %-20s key %s, %s%s\n", flag, k->key, k->required ? "required" : "default ",
			k->required ? "" : k->def ? k->def : "none");
	}
	fprintf(to,
		"  --port-file PATH     write the bound port to PATH once listening\n"
		"  -h, --help           this text\n"
		"See docs/repository.md for what each key means.\n"
		"Exit status: 0 after SIGINT/SIGTERM, 1 on a runtime failure, 2 on a bad\n"
		"command line, configuration, tokens file or TLS file.\n");
}

static enum fedc_err parse_flags(int argc, char **argv, struct overrides *ov, bool *help)
{
	struct option options[N_OPTIONS + 1];
	int index, c;

	/* One option per key, named by its flag without the "--". */
	for (size_t i = 0; i < N_KEYS; i++)
		options[i] = (struct option){ repo_keys[i].flag + 2, required_argument, NULL, 0 };
	options[OPT_CONFIG] = (struct option){ "config", required_argument, NULL, 0 };
	options[OPT_PORT_FILE] = (struct option){ "port-file", required_argument, NULL, 0 };
	options[OPT_HELP] = (struct option){ "help", no_argument, NULL, 'h' };
	options[N_OPTIONS] = (struct option){ NULL, 0, NULL, 0 };
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
		if (index == OPT_CONFIG)
			ov->config = optarg;
		else if (index == OPT_PORT_FILE)
			ov->port_file = optarg;
		else
			ov->key[index] = optarg;
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

/* metrics_listen: HOST:PORT, checked now so that a typo stops the start
 * with the key's name rather than at bind time. */
static enum fedc_err check_metrics_listen(const char *text)
{
	char host[FEDC_PROM_HOST_MAX + 1];
	uint16_t port = 0;

	return fedc_prom_listen_parse("metrics_listen (--metrics-listen)", text, host, &port);
}

/* log_level, already checked against its choices by the table. */
static enum fedc_err read_log_level(const struct fedc_config *cfg, const struct overrides *ov,
				    struct server_config *out)
{
	const char *level = "info";
	size_t row = 0;

	while (strcmp(repo_keys[row].key, "log_level") != 0)
		row++;
	if (ov->key[row])
		level = ov->key[row];
	else if (cfg && fedc_config_str(cfg, SECTION, "log_level", false, "info", &level) != FEDC_OK)
		return FEDC_ERR_CONFIG;
	if (fedc_log_level_parse(level, &out->log_level) != 0)
		return fedc_fail(FEDC_ERR_CONFIG, "log_level: \"%s\" not understood", level);
	return FEDC_OK;
}

static enum fedc_err read_values(const struct fedc_config *cfg, const struct overrides *ov,
				 struct server_config *out)
{
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; !rc && i < N_KEYS; i++) {
		const struct fedc_config_key *k = &repo_keys[i];

		if (k->required && !cfg && !ov->key[i])
			rc = fedc_fail(FEDC_ERR_CONFIG, "[%s] %s: required key is missing (give %s or --config FILE)",
				       SECTION, k->key, k->flag);
		else
			rc = fedc_config_read_key(cfg, k, ov->key[i], k->flag, out);
	}
	if (!rc)
		rc = read_log_level(cfg, ov, out);
	if (!rc)
		rc = check_token(out->token);
	if (!rc && !out->tls_cert_file[0] != !out->tls_key_file[0])
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: tls_cert_file and tls_key_file (--tls-cert, --tls-key) "
				"go together: give both for HTTPS or neither for plain HTTP",
			       cfg ? fedc_config_path(cfg) : "command line");
	if (!rc && ov->port_file)
		rc = copy_checked("--port-file", ov->port_file, out->port_file, sizeof(out->port_file));
	if (!rc && !out->listen[0])
		rc = fedc_fail(FEDC_ERR_CONFIG, "listen: must not be empty");
	if (!rc && out->metrics_listen[0])
		rc = check_metrics_listen(out->metrics_listen);
	out->max_blob_bytes = (uint64_t)out->max_blob_mb << 20;
	return rc;
}

enum fedc_err server_config__parse(int argc, char **argv, struct server_config *out, bool *help)
{
	static const char *const no_other_sections[] = { NULL };
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
			rc = fedc_config_check_table(cfg, repo_keys, N_KEYS, no_other_sections);
		if (rc)
			goto out;
	}
	rc = read_values(cfg, &ov, out);
out:
	fedc_config_free(cfg);
	return rc;
}

enum fedc_err server_config__write_markdown(FILE *to)
{
	return fedc_config_write_markdown(to, repo_keys, N_KEYS);
}
