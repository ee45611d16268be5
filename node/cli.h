/* The node's admin CLI: `fedc-node dataset ...` and `fedc-node plan ...`.
 * See docs/node-admin.md for every command and its output. */
#ifndef FEDC_NODE_CLI_H
#define FEDC_NODE_CLI_H

#include "node_config.h"

/* Runs one admin command. argv[0] is "dataset" (or "plan"), argv[1] the
 * subcommand, then its options and arguments; argv may be permuted.
 * Results go to stdout, errors to stderr as one line
 * ("fedc-node: dataset add: FILE: line 12, column 7: ..."). The database is
 * cfg->db_path; cfg->data_dir is created (mode 0700) when missing.
 * Returns a process exit code: 0 done, 1 the operation failed (nothing
 * stored), 2 usage error (unknown option, missing or invalid argument). */
int cli__dataset(const struct node_config *cfg, int argc, char **argv);
int cli__plan(const struct node_config *cfg, int argc, char **argv);

#endif
