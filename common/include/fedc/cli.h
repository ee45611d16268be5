/* Command-line programs made of subcommands (fedc-researcher, fedc-admin),
 * each described once in a table: its operands, its options with their help
 * text and, for integers, their range. The table drives the parsing, the
 * errors and the usage text (git's commands[] in git.c and parse-options are
 * the model), so that every command behaves the same:
 *
 *   PROG --help | -h | help          usage of the program, stdout, exit 0
 *   PROG CMD --help | -h             usage of the command, stdout, exit 0,
 *   PROG help CMD                    before anything is loaded
 *   a wrong command, flag, value     one error line, then the usage, on
 *   or number of operands            stderr, exit 2
 *
 * Integer options go through fedc_parse_int (fedc/config.h) in their range;
 * the error names the flag: `--timeout: expected an integer in 1..3600, got
 * "4294967297"`. Exit codes: 0 done, 1 the operation failed, 2 bad command
 * line. */
#ifndef FEDC_CLI_H
#define FEDC_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Options are stored by `key`, a small number the program picks (an enum):
 * the same key may be used by several commands' tables. */
#define FEDC_CLI_MAX_KEYS 24
#define FEDC_CLI_MAX_OPERANDS 4

struct fedc_cli_opt {
	int key;             /* 0 .. FEDC_CLI_MAX_KEYS-1 */
	const char *name;    /* long name without "--" */
	const char *metavar; /* its value in the usage ("FILE"); NULL: a flag without value */
	const char *help;    /* one line */
	bool required;
	bool is_int;         /* parsed with fedc_parse_int in [min, max] */
	int64_t min, max;
	char short_name;     /* 0, or a letter that also spells it ('o': -o FILE); never 'h' */
};

/* What a command line said, by option key. */
struct fedc_cli_args {
	const char *value[FEDC_CLI_MAX_KEYS]; /* NULL if not given; "" for a flag given */
	int64_t num[FEDC_CLI_MAX_KEYS];       /* is_int options that were given */
	const char *operand[FEDC_CLI_MAX_OPERANDS];
	size_t n_operands;
};

struct fedc_cli_cmd {
	const char *name;
	const char *operands;          /* synopsis of the operands ("DIR ID"), or NULL */
	unsigned min_operands, max_operands;
	const char *summary;           /* what it does; may hold several lines */
	const struct fedc_cli_opt *const *opts; /* NULL-terminated, or NULL */
	unsigned flags;                /* the program's own (e.g. which set-up it needs) */
	/* Returns the exit code. */
	int (*run)(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *args);
};

struct fedc_cli_prog {
	const char *name;             /* "fedc-researcher" */
	const struct fedc_cli_cmd *cmds; /* terminated by an entry with name NULL */
	/* Prints what follows the list of commands in the program's usage (NULL: nothing). */
	void (*footer)(FILE *out);
	/* Runs after a command line parsed and before the command (NULL: none):
	 * the set-up commands share. 0 to go on, else the exit code. */
	int (*prepare)(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *args);
};

/* Parses argv (argv[1] the command), then runs the command. Returns the
 * process exit code. */
int fedc_cli_main(const struct fedc_cli_prog *prog, int argc, char **argv);

/* The program's usage: every command's synopsis and summary. */
void fedc_cli_usage(const struct fedc_cli_prog *prog, FILE *out);
/* One command's usage: synopsis, summary, options. */
void fedc_cli_cmd_usage(const struct fedc_cli_prog *prog, const struct fedc_cli_cmd *cmd, FILE *out);

/* Prints "PROG CMD: <message>" and the command's usage (or the program's,
 * when cmd is NULL) to stderr; returns 2, the exit code of a bad command line.
 * For checks the table cannot express (a value out of a list). */
int fedc_cli_usage_error(const struct fedc_cli_prog *prog, const struct fedc_cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
