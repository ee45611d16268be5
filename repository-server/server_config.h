/* The repository server's settings: an INI file ([repository] section) and
 * command-line flags that override it key by key. Keys, flags and defaults
 * are described once, by the table in server_config.c, from which the
 * reference in docs/repository.md is generated.
 *
 * A zeroed struct with listen, store_dir and max_blob_bytes filled in is a
 * valid plain-HTTP, open configuration for server__start(): every setting
 * added later is off when empty. */
#ifndef FEDC_REPOSITORY_SERVER_CONFIG_H
#define FEDC_REPOSITORY_SERVER_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fedc/err.h"
#include "fedc/log.h"

#define SERVER_CONFIG_TOKEN_MAX 512
#define SERVER_CONFIG_MAX_BLOB_MB_MAX (1 << 20) /* 1 TiB */
/* Connections at once: every node keeps one open between rounds. */
#define SERVER_CONFIG_MAX_CONNECTIONS_DEFAULT 4096
#define SERVER_CONFIG_MAX_CONNECTIONS_MAX 1000000

struct server_config {
	char config_path[PATH_MAX];     /* --config, "" when none */
	char listen[256];               /* listen / --listen: address or host name */
	int64_t port;                   /* port / --port: 0 = any free port */
	char store_dir[PATH_MAX];       /* store_dir / --store (required) */
	char token[SERVER_CONFIG_TOKEN_MAX]; /* token / --token: "" = none (a researcher "admin") */
	char tokens_file[PATH_MAX];     /* tokens_file / --tokens-file: "" = none */
	char tls_cert_file[PATH_MAX];   /* tls_cert_file / --tls-cert: "" = plain HTTP */
	char tls_key_file[PATH_MAX];    /* tls_key_file / --tls-key: with tls_cert_file */
	int64_t max_blob_mb;            /* max_blob_mb / --max-blob-mb */
	int64_t node_quota_mb;          /* node_quota_mb / --node-quota-mb, 0: none */
	uint64_t max_blob_bytes;        /* the same, in bytes */
	enum fedc_log_level log_level;  /* log_level / --log-level */
	char log_file[PATH_MAX];        /* log_file / --log-file: "" = stderr */
	char metrics_listen[256];       /* metrics_listen / --metrics-listen: "" = off */
	int64_t max_connections;        /* max_connections / --max-connections; 0: the default */
	int64_t downloads_at_once;      /* downloads_at_once / --downloads-at-once; 0: no turns */
	int64_t download_wait_max_s;    /* download_wait_max_s / --download-wait-max-s */
	char port_file[PATH_MAX];       /* --port-file: where to write the bound port */
};

/* Parses argv, then the config file if --config is given. Flags win over the
 * file. Returns FEDC_OK, FEDC_ERR_CONFIG (bad or unknown flag, key or value:
 * the detail names the flag, or the file, line and key) or FEDC_ERR_IO (config
 * file unreadable). *help is set when --help was asked for (nothing else is
 * read then). */
FEDC_NODISCARD
enum fedc_err server_config__parse(int argc, char **argv, struct server_config *out, bool *help);

/* The usage text, for --help and for errors. */
void server_config__usage(FILE *to);

/* The reference table of docs/repository.md (tests/unit/test_config_doc.c).
 * FEDC_ERR_IO if a write fails. */
FEDC_NODISCARD
enum fedc_err server_config__write_markdown(FILE *to);

#endif
