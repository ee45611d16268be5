/* Table-driven subcommands (see fedc/cli.h). */
#include "fedc/cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "fedc/config.h"

#define MAX_OPTS 24 /* options in one command's table */
#define WRAP 78     /* synopsis lines wrap before this column */
#define OPT_BASE 256 /* getopt value of option i of a table: OPT_BASE + i */

static size_t count_opts(const struct fedc_cli_cmd *cmd)
{
	size_t n = 0;

	while (cmd->opts && cmd->opts[n])
		n++;
	return n;
}

/* Writes one word of a synopsis, wrapping under `indent` past WRAP. */
static void word(FILE *out, const char *text, size_t *col, size_t indent)
{
	size_t len = strlen(text);

	if (*col + 1 + len > WRAP && *col > indent) {
		fprintf(out, "\n%*s", (int)indent, "");
		*col = indent;
	} else {
		fputc(' ', out);
		(*col)++;
	}
	fputs(text, out);
	*col += len;
}

/* "name OPERANDS --req X [--opt Y] [--flag]" starting at column `col`. */
static void synopsis(FILE *out, const struct fedc_cli_cmd *cmd, size_t col, size_t indent)
{
	char buf[128];

	fputs(cmd->name, out);
	col += strlen(cmd->name);
	if (cmd->operands)
		word(out, cmd->operands, &col, indent);
	for (size_t i = 0; cmd->opts && cmd->opts[i]; i++) {
		const struct fedc_cli_opt *o = cmd->opts[i];

		snprintf(buf, sizeof(buf), "%s--%s%s%s%s", o->required ? "" : "[", o->name, o->metavar ? " " : "",
			 o->metavar ? o->metavar : "", o->required ? "" : "]");
		word(out, buf, &col, indent);
	}
	fputc('\n', out);
}

/* Each line of `text` indented by `indent`. */
static void indented(FILE *out, const char *text, size_t indent)
{
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text) : strlen(text);

		fprintf(out, "%*s%.*s\n", (int)indent, "", (int)len, text);
		text += len + (nl != NULL);
	}
}

void fedc_cli_usage(const struct fedc_cli_prog *prog, FILE *out)
{
	fprintf(out, "usage: %s COMMAND [ARGS]\n       %s COMMAND --help   (the command's options)\n\ncommands:\n",
		prog->name, prog->name);
	for (const struct fedc_cli_cmd *c = prog->cmds; c->name; c++) {
		fputs("  ", out);
		synopsis(out, c, 2, 6);
		indented(out, c->summary, 6);
	}
	if (prog->footer) {
		fputc('\n', out);
		prog->footer(out);
	}
}

void fedc_cli_cmd_usage(const struct fedc_cli_prog *prog, const struct fedc_cli_cmd *cmd, FILE *out)
{
	char left[96];

	fprintf(out, "usage: %s ", prog->name);
	synopsis(out, cmd, 8 + strlen(prog->name), 8);
	fputc('\n', out);
	indented(out, cmd->summary, 0);
	fprintf(out, "\noptions:\n");
	for (size_t i = 0; cmd->opts && cmd->opts[i]; i++) {
		const struct fedc_cli_opt *o = cmd->opts[i];

		if (o->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name, o->metavar ? " " : "",
				 o->metavar ? o->metavar : "");
		else
			snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar ? " " : "",
				 o->metavar ? o->metavar : "");
		fprintf(out, "  %-22s %s", left, o->help);
		if (o->is_int)
			fprintf(out, " (%" PRId64 "..%" PRId64 ")", o->min, o->max);
		fprintf(out, "%s\n", o->required ? " (required)" : "");
	}
	fprintf(out, "  %-22s %s\n", "-h, --help", "print this help and exit");
}

int fedc_cli_usage_error(const struct fedc_cli_prog *prog, const struct fedc_cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s%s%s: ", prog->name, cmd ? " " : "", cmd ? cmd->name : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n\n", stderr);
	if (cmd)
		fedc_cli_cmd_usage(prog, cmd, stderr);
	else
		fedc_cli_usage(prog, stderr);
	return 2;
}

static const struct fedc_cli_cmd *find_cmd(const struct fedc_cli_prog *prog, const char *name)
{
	for (const struct fedc_cli_cmd *c = prog->cmds; c->name; c++) {
		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

/* A short option's letter as the getopt value of its table entry; any other
 * value unchanged. */
static int short_to_index(const struct fedc_cli_cmd *cmd, size_t n, int opt)
{
	for (size_t i = 0; opt > 0 && opt < OPT_BASE && opt != '?' && i < n; i++) {
		if (cmd->opts[i]->short_name == opt)
			return OPT_BASE + (int)i;
	}
	return opt;
}

/* Parses argv (argv[0] is the command's name) into *a. Returns -1 when the
 * command should run, else the exit code (0 after --help). */
static int parse(const struct fedc_cli_prog *prog, const struct fedc_cli_cmd *cmd, int argc, char **argv,
		 struct fedc_cli_args *a)
{
	struct option longopts[MAX_OPTS + 2];
	char shorts[3 * MAX_OPTS + 4] = ":h";
	size_t n = count_opts(cmd), used = 2;
	int opt;

	if (n > MAX_OPTS) /* a bug in the table, caught by the tests */
		return fedc_cli_usage_error(prog, cmd, "too many options in its table");
	for (size_t i = 0; i < n; i++) {
		const struct fedc_cli_opt *o = cmd->opts[i];

		longopts[i] = (struct option){ o->name, o->metavar ? required_argument : no_argument, NULL,
					       OPT_BASE + (int)i };
		if (o->short_name) {
			shorts[used++] = o->short_name;
			if (o->metavar)
				shorts[used++] = ':';
		}
	}
	shorts[used] = '\0';
	longopts[n] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[n + 1] = (struct option){ NULL, 0, NULL, 0 };
	memset(a, 0, sizeof(*a));
	opterr = 0;
	optind = 0; /* full re-initialisation of GNU getopt */
	/* ':' first: a missing value is told apart from an unknown option. GNU
	 * getopt permutes, so options may follow the operands. */
	while ((opt = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
		const struct fedc_cli_opt *o;

		if (opt == 'h') {
			fedc_cli_cmd_usage(prog, cmd, stdout);
			return 0;
		}
		/* optopt: the option's value for a long one missing its value, the
		 * letter for an unknown short one, 0 for an unknown long one. */
		if (opt == ':' && optopt >= OPT_BASE && optopt < OPT_BASE + (int)n)
			return fedc_cli_usage_error(prog, cmd, "--%s needs a value",
						    cmd->opts[optopt - OPT_BASE]->name);
		if (opt == ':')
			return fedc_cli_usage_error(prog, cmd, "-%c needs a value", optopt);
		opt = short_to_index(cmd, n, opt);
		if (opt == '?' && optopt > 0 && optopt < OPT_BASE && strncmp(argv[optind - 1], "--", 2) != 0)
			return fedc_cli_usage_error(prog, cmd, "unknown option -%c", optopt);
		if (opt < OPT_BASE || opt >= OPT_BASE + (int)n)
			return fedc_cli_usage_error(prog, cmd, "unknown option %s", argv[optind - 1]);
		o = cmd->opts[opt - OPT_BASE];
		if (o->key < 0 || o->key >= FEDC_CLI_MAX_KEYS)
			return fedc_cli_usage_error(prog, cmd, "--%s: key out of range", o->name); /* a bug */
		a->value[o->key] = optarg ? optarg : "";
		if (o->is_int && !fedc_parse_int(optarg, o->min, o->max, &a->num[o->key]))
			return fedc_cli_usage_error(prog, cmd, "--%s: expected an integer in %" PRId64 "..%" PRId64
						    ", got \"%s\"", o->name, o->min, o->max, optarg);
	}
	for (size_t i = 0; i < n; i++) {
		const struct fedc_cli_opt *o = cmd->opts[i];

		if (o->required && !a->value[o->key])
			return fedc_cli_usage_error(prog, cmd, "--%s%s%s is required", o->name, o->metavar ? " " : "",
						    o->metavar ? o->metavar : "");
	}
	if ((unsigned)(argc - optind) < cmd->min_operands || (unsigned)(argc - optind) > cmd->max_operands) {
		if (cmd->max_operands == 0)
			return fedc_cli_usage_error(prog, cmd, "takes no operand, got \"%s\"", argv[optind]);
		return fedc_cli_usage_error(prog, cmd, "expected %s", cmd->operands);
	}
	for (int i = optind; i < argc && a->n_operands < FEDC_CLI_MAX_OPERANDS; i++)
		a->operand[a->n_operands++] = argv[i];
	return -1;
}

int fedc_cli_main(const struct fedc_cli_prog *prog, int argc, char **argv)
{
	const struct fedc_cli_cmd *cmd;
	struct fedc_cli_args args;
	int code;

	if (argc < 2)
		return fedc_cli_usage_error(prog, NULL, "which command?");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		if (argc == 2 || strcmp(argv[1], "help") != 0) {
			fedc_cli_usage(prog, stdout);
			return 0;
		}
		cmd = find_cmd(prog, argv[2]);
		if (!cmd)
			return fedc_cli_usage_error(prog, NULL, "unknown command \"%s\"", argv[2]);
		fedc_cli_cmd_usage(prog, cmd, stdout);
		return 0;
	}
	cmd = find_cmd(prog, argv[1]);
	if (!cmd)
		return fedc_cli_usage_error(prog, NULL, "unknown command \"%s\"", argv[1]);
	code = parse(prog, cmd, argc - 1, argv + 1, &args);
	if (code >= 0)
		return code;
	if (prog->prepare && (code = prog->prepare(cmd, &args)) != 0)
		return code;
	return cmd->run(cmd, &args);
}
