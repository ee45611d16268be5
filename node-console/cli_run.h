/* Runs a `fedc-node dataset ...` or `fedc-node plan ...` command in this
 * process, so that the console adds, removes, approves and rejects through
 * exactly the code the admin CLI uses (node/cli_dataset.c, cli_plan.c),
 * with its checks and its messages. What the command prints (stdout and
 * stderr) is captured for the page. Not thread-safe (getopt, fd 1 and 2):
 * the console serves from one thread. */
#ifndef FEDC_CONSOLE_CLI_RUN_H
#define FEDC_CONSOLE_CLI_RUN_H

#include "cli.h"
#include "fedc/buf.h"

#define CLI_RUN_OUTPUT_MAX 8192

typedef int (*cli_group_fn)(struct cli_ctx *ctx, int argc, char **argv);

/* Returns the command's exit code (0 done, 1 failed, 2 refused usage), or
 * -1 when the output could not be captured (the command did not run).
 * *out gets what it printed, NUL-terminated, at most CLI_RUN_OUTPUT_MAX. */
int cli_run__capture(cli_group_fn group, struct cli_ctx *ctx, int argc, char **argv, struct fedc_buf *out);

#endif
