/* What the admin CLI's commands share (cli.h): messages, option parsing,
 * the config loaded on first use, the database, safe output, and the
 * dispatch of a group's subcommands. Each command parses its options,
 * checks them all before touching anything, and prints one result (stdout)
 * or one error line (stderr). */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fedc/fs.h"
#include "fedc/log.h"

/* ---- messages ------------------------------------------------------------- */

int cli__usage_error(const char *usage, const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, CLI_PROG ": %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage);
	return 2;
}

/* Reports a failed operation with the detail its function recorded. */
int cli__op_failed(const char *cmd, enum fedc_err rc)
{
	const char *detail = fedc_last_error();

	fprintf(stderr, CLI_PROG ": %s: %s\n", cmd, detail[0] ? detail : fedc_strerror(rc));
	return rc == FEDC_ERR_CONFIG ? 2 : 1;
}

/* Text in the database may come from a researcher (plan names, notes):
 * control characters are replaced so that a listing cannot drive the
 * operator's terminal. */
void cli__print_safe(const char *s, int width)
{
	int n = 0;

	for (; *s; s++, n++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
	for (; n < width; n++)
		putchar(' ');
}

void cli__print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

void cli__format_time(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || !gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "-");
}

/* ---- options -------------------------------------------------------------- */

/* getopt_long over argv (argv[0] is the subcommand). Unknown options and
 * missing values are reported here and come back as '?'. optind must have
 * been set to 0 before the first call: main() may have run getopt already. */
int cli__next_opt(const char *usage, const char *cmd, int argc, char **argv, const struct option *opts)
{
	int opt = getopt_long(argc, argv, ":h", opts, NULL);

	if (opt == '?') {
		if (optopt)
			cli__usage_error(usage, cmd, "unknown option \"-%c\"", optopt);
		else
			cli__usage_error(usage, cmd, "unknown option \"%s\"", argv[optind - 1]);
	} else if (opt == ':') {
		cli__usage_error(usage, cmd, "option \"%s\" needs a value", argv[optind - 1]);
		opt = '?';
	}
	return opt;
}

bool cli__has_control(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

/* A free-text argument that must fit a field of `cap` bytes. */
bool cli__text_ok(const char *s, size_t cap, bool allow_empty)
{
	return s && (allow_empty || s[0]) && strlen(s) < cap && !cli__has_control(s);
}

/* ---- files and directories ------------------------------------------------ */

/* mkdir -p with mode 0700 for what it creates; existing directories keep
 * their mode (the operator may have chosen it). */
static enum fedc_err ensure_dir(const char *path)
{
	struct stat st;
	enum fedc_err rc = fedc_mkdir_p(path, 0700);

	if (!rc && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)))
		rc = fedc_fail(FEDC_ERR_IO, "%s is not a directory", path);
	return rc;
}

enum fedc_err cli__config(struct cli_ctx *ctx)
{
	if (ctx->loaded)
		return FEDC_OK;
	if (node_config__load(ctx->config_path, &ctx->cfg) != FEDC_OK)
		return FEDC_ERR_CONFIG; /* the detail names the file and the key */
	ctx->loaded = true;
	fedc_log_init("node", ctx->cfg.log_level, 2);
	return FEDC_OK;
}

enum fedc_err cli__open_db(struct cli_ctx *ctx, struct node_db **db)
{
	enum fedc_err rc = cli__config(ctx);

	if (!rc)
		rc = ensure_dir(ctx->cfg.data_dir);
	if (!rc)
		rc = db__open(ctx->cfg.db_path, db);
	return rc;
}

bool cli__parse_json_flag(const char *usage, const char *cmd, int argc, char **argv, bool *json, int *code)
{
	enum { OPT_JSON = 256 };
	static const struct option options[] = {
		{ "json", no_argument, NULL, OPT_JSON }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int opt;

	*json = false;
	while ((opt = cli__next_opt(usage, cmd, argc, argv, options)) != -1) {
		if (opt == OPT_JSON) {
			*json = true;
		} else if (opt == 'h') {
			fputs(usage, stdout);
			*code = 0;
			return false;
		} else {
			*code = 2;
			return false;
		}
	}
	if (optind != argc) {
		*code = cli__usage_error(usage, cmd, "unexpected argument \"%s\"", argv[optind]);
		return false;
	}
	return true;
}

int cli__one_argument(const char *usage, const char *cmd, int argc, char **argv, const char **arg)
{
	static const struct option options[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	int opt;

	while ((opt = cli__next_opt(usage, cmd, argc, argv, options)) != -1) {
		if (opt != 'h')
			return 2;
		fputs(usage, stdout);
		return 0;
	}
	if (argc - optind != 1)
		return cli__usage_error(usage, cmd, "expected exactly one argument");
	*arg = argv[optind];
	return -1;
}

/* argv[0] is "dataset" or "plan"; the subcommand's getopt sees argv + 1, so
 * that the subcommand sits where getopt expects a program name. */
int cli__dispatch(const char *group, const char *usage, const struct cli_command *table, struct cli_ctx *ctx,
		  int argc, char **argv)
{
	if (argc < 2)
		return cli__usage_error(usage, group, "missing subcommand");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	for (const struct cli_command *s = table; s->name; s++) {
		if (strcmp(argv[1], s->name) == 0) {
			optind = 0; /* full getopt reset: main() parsed its own options */
			opterr = 0; /* cli__next_opt() reports errors in our format */
			return s->run(ctx, argc - 1, argv + 1);
		}
	}
	return cli__usage_error(usage, group, "unknown subcommand \"%s\"", argv[1]);
}
