/* The node's admin CLI: `fedc-node dataset ...` (cli_dataset.c) and
 * `fedc-node plan ...` (cli_plan.c); what both share is in cli.c.
 * See docs/node-admin.md for every command and its output. */
#ifndef FEDC_NODE_CLI_H
#define FEDC_NODE_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "node_config.h"

#define CLI_PROG "fedc-node"

/* What a command works on. The config is loaded (from config_path) when a
 * command first needs it, after its options were checked, so that usage
 * errors and --help never need one. A caller that has a config already sets
 * `loaded` and fills `cfg`. */
struct cli_ctx {
	const char *config_path;
	struct node_config cfg;
	bool loaded;
};

/* Runs one admin command. argv[0] is "dataset" (or "plan"), argv[1] the
 * subcommand, then its options and arguments; argv may be permuted.
 * Results and --help go to stdout, errors to stderr as one line
 * ("fedc-node: dataset add: FILE: line 12, column 7: ..."), followed by the
 * usage for a usage error. The database is cfg.db_path; cfg.data_dir is
 * created (mode 0700) when missing.
 * Returns a process exit code: 0 done (or --help), 1 the operation failed
 * (nothing stored), 2 usage error (unknown option, missing or invalid
 * argument) or a config that does not load. */
int cli__dataset(struct cli_ctx *ctx, int argc, char **argv);
int cli__plan(struct cli_ctx *ctx, int argc, char **argv);

/* ---- shared by cli_dataset.c and cli_plan.c (cli.c) ---- */

/* A subcommand of a group, run with argv[0] = its name. */
struct cli_command {
	const char *name;
	int (*run)(struct cli_ctx *ctx, int argc, char **argv);
};

/* Runs the subcommand argv[1] of `group` from `table`; "-h", "--help" and
 * "help" print `usage` to stdout (exit 0), a missing or unknown subcommand is
 * a usage error (exit 2). */
int cli__dispatch(const char *group, const char *usage, const struct cli_command *table, struct cli_ctx *ctx,
		  int argc, char **argv);

/* "fedc-node: CMD: <message>" then `usage`, on stderr; returns 2. */
int cli__usage_error(const char *usage, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "fedc-node: CMD: <detail recorded by the failed function>" on stderr;
 * returns 2 for a config that does not load, else 1. */
int cli__op_failed(const char *cmd, enum fedc_err rc);

/* getopt_long over argv (argv[0] is the subcommand), "-h" and "--help"
 * included. Unknown options and missing values are reported with `usage`
 * and come back as '?'. */
int cli__next_opt(const char *usage, const char *cmd, int argc, char **argv, const struct option *opts);
/* Reads exactly one positional argument and no option but --help. Returns -1
 * to go on, else an exit code (0 after --help, 2 after a usage error). */
int cli__one_argument(const char *usage, const char *cmd, int argc, char **argv, const char **arg);
/* Reads an optional --json and nothing else: true to go on, else false with
 * the exit code in *code. */
bool cli__parse_json_flag(const char *usage, const char *cmd, int argc, char **argv, bool *json, int *code);

bool cli__has_control(const char *s);
/* A free-text argument that must fit a field of `cap` bytes. */
bool cli__text_ok(const char *s, size_t cap, bool allow_empty);

/* Loads the config if not done yet: FEDC_ERR_CONFIG with a detail. */
FEDC_NODISCARD
enum fedc_err cli__config(struct cli_ctx *ctx);
/* Loads the config, creates data_dir and opens the database. */
FEDC_NODISCARD
enum fedc_err cli__open_db(struct cli_ctx *ctx, struct node_db **db);

/* Output: text from the database may come from a researcher (plan names,
 * notes), so control characters are replaced (print_safe, padded to
 * `width`) or escaped (JSON). Times as "2026-01-02T03:04:05Z", "-" if unset. */
void cli__print_safe(const char *s, int width);
void cli__print_json_string(const char *s);
void cli__format_time(int64_t t, char out[32]);

#endif
