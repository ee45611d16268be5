/* `fedc-node plan approve|reject|list|show|remove` (docs/node-admin.md,
 * "Training plans"). `plan source` prints what a researcher shipped
 * with an `approval` (fedc/source_bundle.h). Files approved here are kept in the plan store
 * (plan_store.h), where the daemon looks for them. */
#include "cli.h"

#include <ctype.h>
#include <inttypes.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/hash.h"
#include "fedc/source_bundle.h"
#include "plan_digest.h"
#include "plan_store.h"

enum { OPT_NAME = 256, OPT_NOTES };

static const char plan_usage[] =
	"usage: " CLI_PROG " plan approve FILE|DIGEST [--name N] [--notes T]\n"
	"       " CLI_PROG " plan reject FILE|DIGEST [--name N] [--notes T]\n"
	"       " CLI_PROG " plan list [--json]\n"
	"       " CLI_PROG " plan show DIGEST\n"
	"       " CLI_PROG " plan source DIGEST\n"
	"       " CLI_PROG " plan remove DIGEST\n"
	"A DIGEST is 64 or 128 hex digits; such an argument is always taken as a digest, never\n"
	"as a file of that name. Any other argument of approve or reject is a FILE: to name a\n"
	"file whose name looks like a digest, give it as a path (./NAME).\n";

/* ---- plan commands -------------------------------------------------------- */

/* A digest argument: 64 (SHA-256, SHA3-256) or 128 (SHA-512, BLAKE2b-512)
 * hex digits, either case; stored lower-case. */
static bool parse_digest(const char *arg, char out[FEDC_HASH_MAX_HEXLEN + 1])
{
	size_t len = strlen(arg);

	if (len != 64 && len != FEDC_HASH_MAX_HEXLEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)arg[i]))
			return false;
		out[i] = (char)tolower((unsigned char)arg[i]);
	}
	out[len] = '\0';
	return true;
}

/* The digest a plan file is (or would be) listed under: its entry's if it
 * has one, whatever the algorithm, else the configured algorithm's. */
static enum fedc_err file_digest(const struct node_config *cfg, struct node_db *db, const char *path,
				 struct node_plan *plan)
{
	enum fedc_err rc = plan_digest__find(db, path, NULL, plan);

	if (rc == FEDC_ERR_NOT_FOUND)
		rc = plan_digest__fill(cfg->plan_digest, path, plan);
	return rc;
}

static bool is_regular_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* What the argument of approve or reject names. A digest first, whatever
 * files exist: a file named like a digest (dropped into the working
 * directory, say) must never decide which plan gets approved, and the
 * console passes digests only. True with `*file` set, or false after
 * saying why on stderr. */
static bool decide_target(const char *cmd, const char *arg, char digest[FEDC_HASH_MAX_HEXLEN + 1], bool *file)
{
	*file = !parse_digest(arg, digest);
	if (!*file) {
		if (is_regular_file(arg))
			fprintf(stderr,
				CLI_PROG ": %s: note: \"%s\" is taken as a digest, not as the file of that name "
					 "(to use the file, give it as ./%s)\n",
				cmd, arg, arg);
		return true;
	}
	if (is_regular_file(arg))
		return true;
	fprintf(stderr,
		CLI_PROG ": %s: \"%s\" is neither an existing file nor a digest (64 or 128 hex digits): %s\n", cmd,
		arg, access(arg, F_OK) == 0 ? "not a regular file" : strerror(errno));
	return false;
}

struct decide_args {
	const char *target, *name, *notes;
};

static int parse_decide(const char *cmd, int argc, char **argv, struct decide_args *a)
{
	static const struct option options[] = {
		{ "name", required_argument, NULL, OPT_NAME }, { "notes", required_argument, NULL, OPT_NOTES },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = cli__next_opt(plan_usage, cmd, argc, argv, options)) != -1) {
		switch (opt) {
		case OPT_NAME: a->name = optarg; break;
		case OPT_NOTES: a->notes = optarg; break;
		case 'h': fputs(plan_usage, stdout); return 0;
		default: return 2;
		}
	}
	if (argc - optind != 1)
		return cli__usage_error(plan_usage, cmd, "expected one FILE or DIGEST");
	a->target = argv[optind];
	if (a->name && !cli__text_ok(a->name, FEDC_MAX_NAME_LEN + 1, false))
		return cli__usage_error(plan_usage, cmd, "--name: 1 to %d characters, no control characters",
				   FEDC_MAX_NAME_LEN);
	if (a->notes && !cli__text_ok(a->notes, FEDC_MAX_TEXT_LEN + 1, true))
		return cli__usage_error(plan_usage, cmd, "--notes: at most %d characters, no control characters",
				   FEDC_MAX_TEXT_LEN);
	return -1;
}

/* The default name of a plan given as a file: its base name. */
static void default_name(const char *path, char *out, size_t cap)
{
	char copy[NODE_PATH_MAX];

	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(out, cap, "%.*s", FEDC_MAX_NAME_LEN, basename(copy));
}

/* approve FILE: keep a copy, register it with its path, then approve. */
static enum fedc_err approve_file(const struct node_config *cfg, struct node_db *db, const struct decide_args *a,
				  char *digest)
{
	struct node_plan *plan = calloc(1, sizeof(*plan));
	char dir[NODE_PATH_MAX];
	enum fedc_err rc = plan ? FEDC_OK : FEDC_ERR_NOMEM;

	if (!rc)
		rc = plan_store__open(cfg->data_dir, dir, sizeof(dir));
	if (!rc)
		rc = plan_store__keep(dir, a->target, (uint64_t)cfg->max_blob_mb << 20, digest, plan->path,
				      sizeof(plan->path));
	if (!rc) {
		char kept[sizeof(plan->path)];

		memcpy(kept, plan->path, sizeof(kept));
		rc = file_digest(cfg, db, kept, plan);
		memcpy(plan->path, kept, sizeof(kept));
	}
	if (rc)
		goto out;
	if (a->name)
		snprintf(plan->name, sizeof(plan->name), "%s", a->name);
	else
		default_name(a->target, plan->name, sizeof(plan->name));
	memcpy(digest, plan->digest, sizeof(plan->digest));
	snprintf(plan->requested_by, sizeof(plan->requested_by), "admin");
	rc = db__plan_register(db, plan, NULL);
	if (!rc)
		rc = db__plan_set_status(db, digest, NODE_PLAN_APPROVED, plan->name, a->notes);
out:
	free(plan);
	return rc;
}

static int plan_decide(struct cli_ctx *ctx, int argc, char **argv, enum node_plan_status status)
{
	const char *cmd = status == NODE_PLAN_APPROVED ? "plan approve" : "plan reject";
	struct decide_args a = { NULL, NULL, NULL };
	char digest[FEDC_HASH_MAX_HEXLEN + 1];
	struct node_db *db = NULL;
	bool file;
	enum fedc_err rc;
	int code = parse_decide(cmd, argc, argv, &a);

	if (code >= 0)
		return code;
	if (!decide_target(cmd, a.target, digest, &file))
		return 1;
	rc = cli__open_db(ctx, &db);
	if (!rc && file && status == NODE_PLAN_APPROVED) {
		rc = approve_file(&ctx->cfg, db, &a, digest);
	} else if (!rc) {
		/* A rejected file is only hashed: there is no reason to keep it. */
		struct node_plan listed;

		if (file && !(rc = file_digest(&ctx->cfg, db, a.target, &listed)))
			memcpy(digest, listed.digest, sizeof(listed.digest));
		if (!rc)
			rc = db__plan_set_status(db, digest, status, a.name, a.notes);
	}
	if (rc) {
		code = cli__op_failed(cmd, rc);
		goto out;
	}
	printf("%s %s\n", db__plan_status_name(status), digest);
	code = 0;
out:
	db__close(db);
	return code;
}

/* What came as the plan's source: "yes", "refused" or "no" ("?" when the
 * database cannot say: the listing goes on). */
static const char *source_state(struct node_db *db, const char *digest)
{
	struct node_plan_source src;
	enum fedc_err rc = db__plan_source_get(db, digest, &src);

	if (rc)
		return rc == FEDC_ERR_NOT_FOUND ? "no" : "?";
	fedc_buf_free(&src.bundle);
	return src.has_bundle ? "yes" : "refused";
}

static void plan_json(const struct node_plan *p, const char *source)
{
	char requested[32], decided[32];

	cli__format_time(p->requested_at, requested);
	cli__format_time(p->decided_at, decided);
	printf("{\"digest\":");
	cli__print_json_string(p->digest);
	printf(",\"algorithm\":");
	cli__print_json_string(p->algorithm);
	printf(",\"name\":");
	cli__print_json_string(p->name);
	printf(",\"status\":\"%s\",\"requested_by\":", db__plan_status_name(p->status));
	cli__print_json_string(p->requested_by);
	printf(",\"requested_at\":");
	cli__print_json_string(requested);
	printf(",\"decided_at\":");
	cli__print_json_string(p->decided_at ? decided : "");
	printf(",\"notes\":");
	cli__print_json_string(p->notes);
	printf(",\"path\":");
	cli__print_json_string(p->path);
	printf(",\"source\":\"%s\"}", source);
}

static void list_plans_table(struct node_db *db, const struct node_plan *all, size_t n)
{
	int name_w = 4, by_w = 12;

	for (size_t i = 0; i < n; i++) {
		name_w = (int)strlen(all[i].name) > name_w ? (int)strlen(all[i].name) : name_w;
		by_w = (int)strlen(all[i].requested_by) > by_w ? (int)strlen(all[i].requested_by) : by_w;
	}
	printf("%-64s  %-8s  %-7s  %-*s  %-*s  %-20s\n", "DIGEST (SHA-256)", "STATUS", "SOURCE", name_w, "NAME",
	       by_w, "REQUESTED_BY", "DECIDED");
	for (size_t i = 0; i < n; i++) {
		char decided[32];

		cli__format_time(all[i].decided_at, decided);
		printf("%-64s  %-8s  %-7s  ", all[i].digest, db__plan_status_name(all[i].status),
		       source_state(db, all[i].digest));
		cli__print_safe(all[i].name, name_w);
		printf("  ");
		cli__print_safe(all[i].requested_by, by_w);
		printf("  %s\n", decided);
	}
}

static int plan_list(struct cli_ctx *ctx, int argc, char **argv)
{
	struct node_plan *all = NULL;
	struct node_db *db = NULL;
	size_t n = 0;
	bool json;
	int code = 0;
	enum fedc_err rc;

	if (!cli__parse_json_flag(plan_usage, "plan list", argc, argv, &json, &code))
		return code;
	rc = cli__open_db(ctx, &db);
	if (!rc)
		rc = db__plan_list(db, &all, &n);
	if (rc) {
		code = cli__op_failed("plan list", rc);
		goto out;
	}
	if (json) {
		printf("[");
		for (size_t i = 0; i < n; i++) {
			printf(i ? ",\n " : "");
			plan_json(&all[i], source_state(db, all[i].digest));
		}
		printf("]\n");
	} else if (n == 0) {
		printf("no training plans registered\n");
	} else {
		list_plans_table(db, all, n);
	}
out:
	free(all);
	db__close(db);
	return code;
}

static void print_plan(struct node_db *db, const struct node_plan *p)
{
	const char *source = source_state(db, p->digest);

	char requested[32], decided[32];

	cli__format_time(p->requested_at, requested);
	cli__format_time(p->decided_at, decided);
	printf("digest:       %s\nalgorithm:    ", p->digest);
	cli__print_safe(p->algorithm, 0);
	printf("\nstatus:       %s\nname:         ", db__plan_status_name(p->status));
	cli__print_safe(p->name, 0);
	printf("\nrequested by: ");
	cli__print_safe(p->requested_by, 0);
	printf("\nrequested at: %s\ndecided at:   %s\nnotes:        ", requested, decided);
	cli__print_safe(p->notes, 0);
	printf("\nfile:         ");
	cli__print_safe(p->path[0] ? p->path : "-", 0);
	printf("\nsource:       %s\n",
	       strcmp(source, "yes") == 0       ? "shipped (read it: " CLI_PROG " plan source DIGEST)"
	       : strcmp(source, "refused") == 0 ? "shipped but refused (" CLI_PROG " plan source DIGEST says why)"
	       : strcmp(source, "no") == 0      ? "none shipped"
						: "unknown (" CLI_PROG " plan source DIGEST says why)");
}

/* Deletes the kept copy of a removed plan: plan_store__remove deletes only
 * a file of the store, never another path read from the database. */
static void remove_kept_copy(const struct node_config *cfg, const struct node_plan *p)
{
	char dir[NODE_PATH_MAX];

	if (p->path[0] && (plan_store__open(cfg->data_dir, dir, sizeof(dir)) != FEDC_OK ||
			   plan_store__remove(dir, p->path) != FEDC_OK))
		fprintf(stderr, CLI_PROG ": plan remove: warning: %s\n", fedc_last_error());
}

/* show and remove share their shape: one DIGEST, one plan. */
static int plan_one(struct cli_ctx *ctx, int argc, char **argv, bool remove)
{
	const char *cmd = remove ? "plan remove" : "plan show";
	struct node_plan *p = calloc(1, sizeof(*p));
	char digest[FEDC_HASH_MAX_HEXLEN + 1];
	struct node_db *db = NULL;
	const char *arg = NULL;
	enum fedc_err rc;
	int code;

	if (!p)
		return cli__op_failed(cmd, FEDC_ERR_NOMEM);
	code = cli__one_argument(plan_usage, cmd, argc, argv, &arg);
	if (code < 0 && !parse_digest(arg, digest))
		code = cli__usage_error(plan_usage, cmd, "\"%s\" is not a digest (64 or 128 hex digits)", arg);
	if (code >= 0)
		goto out;
	rc = cli__open_db(ctx, &db);
	if (!rc)
		rc = db__plan_get(db, digest, p);
	if (!rc && remove)
		rc = db__plan_remove(db, digest);
	if (rc) {
		code = cli__op_failed(cmd, rc);
		goto out;
	}
	if (!remove) {
		print_plan(db, p);
	} else {
		remove_kept_copy(&ctx->cfg, p);
		printf("removed plan %s\n", digest);
	}
	code = 0;
out:
	db__close(db);
	free(p);
	return code;
}

/* Prints every file of a checked bundle, each under a header line. */
static enum fedc_err print_source(const struct node_plan_source *src)
{
	struct fedc_source_bundle *files = malloc(sizeof(*files));
	enum fedc_err rc = files ? fedc_source_decode(src->bundle.data, src->bundle.len, files) : FEDC_ERR_NOMEM;

	printf("# source %s, shipped with the plan; nothing proves the plan was built from it\n",
	       src->source_digest);
	for (size_t i = 0; !rc && i < files->n; i++) {
		const struct fedc_source_file *f = &files->files[i];

		printf("# ==> %s (%" PRIu32 " bytes) <==\n", f->name, f->len);
		fwrite(f->text, 1, f->len, stdout);
		if (f->len && f->text[f->len - 1] != '\n')
			printf("\n");
	}
	free(files);
	return rc;
}

/* `plan source DIGEST`: the source shipped with the plan, or why none is there. */
static int plan_source(struct cli_ctx *ctx, int argc, char **argv)
{
	struct node_plan_source src = { .has_bundle = false };
	char digest[FEDC_HASH_MAX_HEXLEN + 1];
	struct node_db *db = NULL;
	const char *arg = NULL;
	enum fedc_err rc;
	int code = cli__one_argument(plan_usage, "plan source", argc, argv, &arg);

	if (code < 0 && !parse_digest(arg, digest))
		code = cli__usage_error(plan_usage, "plan source", "\"%s\" is not a digest (64 or 128 hex digits)", arg);
	if (code >= 0)
		return code;
	rc = cli__open_db(ctx, &db);
	if (!rc)
		rc = db__plan_source_get(db, digest, &src);
	if (!rc && !src.has_bundle)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "the source %s shipped with plan %s was refused: %s", src.source_digest,
			       digest, src.refused);
	if (!rc)
		rc = print_source(&src);
	code = rc ? cli__op_failed("plan source", rc) : 0;
	fedc_buf_free(&src.bundle);
	db__close(db);
	return code;
}

static int plan_approve(struct cli_ctx *ctx, int argc, char **argv)
{
	return plan_decide(ctx, argc, argv, NODE_PLAN_APPROVED);
}

static int plan_reject(struct cli_ctx *ctx, int argc, char **argv)
{
	return plan_decide(ctx, argc, argv, NODE_PLAN_REJECTED);
}

static int plan_show(struct cli_ctx *ctx, int argc, char **argv)
{
	return plan_one(ctx, argc, argv, false);
}

static int plan_remove(struct cli_ctx *ctx, int argc, char **argv)
{
	return plan_one(ctx, argc, argv, true);
}

static const struct cli_command plan_commands[] = {
	{ "approve", plan_approve }, { "reject", plan_reject }, { "list", plan_list }, { "show", plan_show },
	{ "source", plan_source }, { "remove", plan_remove }, { NULL, NULL },
};

int cli__plan(struct cli_ctx *ctx, int argc, char **argv)
{
	return cli__dispatch("plan", plan_usage, plan_commands, ctx, argc, argv);
}
