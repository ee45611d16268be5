/* The node's admin CLI (docs/node-admin.md). It works on the same database
 * as the running daemon; db.c makes that safe. Each command parses its
 * options, checks them all before touching anything, and prints one result
 * (stdout) or one error line (stderr). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dataset.h"
#include "db.h"
#include "fedc/config.h"
#include "fedc/fs.h"
#include "fedc/hash.h"
#include "plan_digest.h"

#define PROG "fedc-node"

enum { OPT_NAME = 256, OPT_TAGS, OPT_FILE, OPT_DESCRIPTION, OPT_TYPE, OPT_HEADER, OPT_LABEL, OPT_REGRESSION,
       OPT_JSON, OPT_NOTES, OPT_LABELS };

static const char dataset_usage[] =
	"usage: " PROG " dataset add --name N --tags T1[,T2...] --file PATH [--description D] [--type csv]\n"
	"                         [--header auto|counts|names|none] [--label-column K] [--regression]\n"
	"       " PROG " dataset add --type idx --name N --tags T1[,T2...] --file IMAGES --labels LABELS\n"
	"                         [--description D]   (IDX files plain or gzip'd, e.g. train-images-idx3-ubyte.gz)\n"
	"       " PROG " dataset list [--json]\n"
	"       " PROG " dataset show ID|NAME\n"
	"       " PROG " dataset remove ID|NAME\n";

static const char plan_usage[] =
	"usage: " PROG " plan approve FILE|DIGEST [--name N] [--notes T]\n"
	"       " PROG " plan reject FILE|DIGEST [--name N] [--notes T]\n"
	"       " PROG " plan list [--json]\n"
	"       " PROG " plan show DIGEST\n"
	"       " PROG " plan remove DIGEST\n";

/* ---- messages ------------------------------------------------------------- */

static int usage_error(const char *usage, const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int usage_error(const char *usage, const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage);
	return 2;
}

/* Reports a failed operation with the detail its function recorded. */
static int op_failed(const char *cmd, enum fedc_err rc)
{
	const char *detail = fedc_last_error();

	fprintf(stderr, PROG ": %s: %s\n", cmd, detail[0] ? detail : fedc_strerror(rc));
	return 1;
}

/* Text in the database may come from a researcher (plan names, notes):
 * control characters are replaced so that a listing cannot drive the
 * operator's terminal. */
static void print_safe(const char *s, int width)
{
	int n = 0;

	for (; *s; s++, n++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
	for (; n < width; n++)
		putchar(' ');
}

static void print_json_string(const char *s)
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

static void format_time(int64_t t, char out[32])
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
static int next_opt(const char *usage, const char *cmd, int argc, char **argv, const struct option *opts)
{
	int opt = getopt_long(argc, argv, ":h", opts, NULL);

	if (opt == '?') {
		if (optopt)
			usage_error(usage, cmd, "unknown option \"-%c\"", optopt);
		else
			usage_error(usage, cmd, "unknown option \"%s\"", argv[optind - 1]);
	} else if (opt == ':') {
		usage_error(usage, cmd, "option \"%s\" needs a value", argv[optind - 1]);
		opt = '?';
	}
	return opt;
}

static bool has_control(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

/* A free-text argument that must fit a field of `cap` bytes. */
static bool text_ok(const char *s, size_t cap, bool allow_empty)
{
	return s && (allow_empty || s[0]) && strlen(s) < cap && !has_control(s);
}

/* "a, b,c" -> tags; duplicates are dropped. Returns false with a message. */
static bool parse_tags(const char *list, struct node_dataset *ds, char *why, size_t why_cap)
{
	const char *p = list;

	ds->n_tags = 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		bool dup = false;

		while (len && isspace((unsigned char)*p)) {
			p++;
			len--;
		}
		while (len && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == 0 || len > FEDC_MAX_TAG_LEN) {
			snprintf(why, why_cap, "--tags \"%s\": each tag must have 1 to %d characters", list,
				 FEDC_MAX_TAG_LEN);
			return false;
		}
		for (uint32_t i = 0; i < ds->n_tags; i++)
			dup = dup || (strlen(ds->tags[i]) == len && memcmp(ds->tags[i], p, len) == 0);
		if (!dup) {
			if (ds->n_tags == FEDC_MAX_TAGS) {
				snprintf(why, why_cap, "--tags: at most %d tags", FEDC_MAX_TAGS);
				return false;
			}
			memcpy(ds->tags[ds->n_tags], p, len);
			ds->tags[ds->n_tags][len] = '\0';
			if (has_control(ds->tags[ds->n_tags])) {
				snprintf(why, why_cap, "--tags: control characters are not allowed");
				return false;
			}
			ds->n_tags++;
		}
		if (!comma)
			return true;
		p = comma + 1;
	}
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

static enum fedc_err open_db(const struct node_config *cfg, struct node_db **db)
{
	enum fedc_err rc = ensure_dir(cfg->data_dir);

	if (!rc)
		rc = db__open(cfg->db_path, db);
	return rc;
}

/* data_dir/plans, created if needed, as an absolute path: the database is
 * read by a daemon whose working directory is not the operator's, and
 * data_dir is relative when the config file was given by a relative path. */
static enum fedc_err plans_dir(const struct node_config *cfg, char *out, size_t cap)
{
	char *abs = NULL;
	enum fedc_err rc = FEDC_OK;

	if ((size_t)snprintf(out, cap, "%s/plans", cfg->data_dir) >= cap)
		return fedc_fail(FEDC_ERR_CONFIG, "data_dir path too long");
	rc = ensure_dir(out);
	if (rc)
		return rc;
	abs = realpath(out, NULL);
	if (!abs)
		rc = fedc_fail(FEDC_ERR_IO, "%s: %s", out, strerror(errno));
	else if ((size_t)snprintf(out, cap, "%s", abs) >= cap)
		rc = fedc_fail(FEDC_ERR_CONFIG, "data_dir path too long");
	free(abs);
	return rc;
}

/* Streams src into tmp_fd, hashing what it copies, so the digest approved is
 * the digest of the kept copy even if src changes meanwhile. */
static enum fedc_err copy_hashing(int src, int tmp_fd, const char *src_path, const char *tmp_path,
				  uint64_t max_bytes, char *digest)
{
	enum { CHUNK = 1 << 16 };
	struct fedc_hash *h = NULL;
	char *buf = malloc(CHUNK);
	uint64_t total = 0;
	enum fedc_err rc = buf ? fedc_hash_new(FEDC_HASH_SHA256, &h) : FEDC_ERR_NOMEM;

	while (!rc) {
		ssize_t n = read(src, buf, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = fedc_fail(FEDC_ERR_IO, "%s: read failed: %s", src_path, strerror(errno));
		if (n <= 0)
			break;
		total += (uint64_t)n;
		if (total > max_bytes)
			rc = fedc_fail(FEDC_ERR_TOO_BIG, "%s: larger than max_blob_mb", src_path);
		if (!rc)
			rc = fedc_hash_update(h, buf, (size_t)n);
		if (!rc)
			rc = fedc_write_all(tmp_fd, buf, (size_t)n, tmp_path);
	}
	if (!rc && fsync(tmp_fd) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "%s: fsync failed: %s", tmp_path, strerror(errno));
	if (!rc)
		rc = fedc_hash_final(h, digest);
	fedc_hash_free(h);
	free(buf);
	return rc;
}

/* Copies a plan into data_dir/plans/<digest>.so atomically (temp file,
 * fsync, rename) and hands back its digest and final path. */
static enum fedc_err keep_plan_copy(const struct node_config *cfg, const char *src_path, char *digest,
				    char *final_path, size_t final_cap)
{
	char dir[NODE_PATH_MAX], tmp[NODE_PATH_MAX];
	int src = -1, tmp_fd = -1;
	bool tmp_exists = false;
	enum fedc_err rc = plans_dir(cfg, dir, sizeof(dir));

	if (!rc && (size_t)snprintf(tmp, sizeof(tmp), "%s/.approve-XXXXXX", dir) >= sizeof(tmp))
		rc = fedc_fail(FEDC_ERR_CONFIG, "data_dir path too long");
	if (rc)
		goto out;
	src = open(src_path, O_RDONLY | O_CLOEXEC);
	if (src < 0) {
		rc = fedc_fail(FEDC_ERR_IO, "%s: %s", src_path, strerror(errno));
		goto out;
	}
	tmp_fd = mkstemp(tmp);
	if (tmp_fd < 0) {
		rc = fedc_fail(FEDC_ERR_IO, "cannot create a file in %s: %s", dir, strerror(errno));
		goto out;
	}
	tmp_exists = true;
	rc = copy_hashing(src, tmp_fd, src_path, tmp, (uint64_t)cfg->max_blob_mb << 20, digest);
	if (close(tmp_fd) != 0 && !rc)
		rc = fedc_fail(FEDC_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
	tmp_fd = -1;
	if (!rc && (size_t)snprintf(final_path, final_cap, "%s/%s.so", dir, digest) >= final_cap)
		rc = fedc_fail(FEDC_ERR_CONFIG, "data_dir path too long");
	if (!rc && rename(tmp, final_path) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot rename %s to %s: %s", tmp, final_path, strerror(errno));
	if (rc)
		goto out;
	tmp_exists = false;
	(void)fedc_fsync_dir(dir); /* best effort: the rename is already visible */
out:
	if (tmp_fd >= 0)
		close(tmp_fd);
	if (src >= 0)
		close(src);
	if (tmp_exists)
		unlink(tmp);
	return rc;
}

/* ---- dataset commands ----------------------------------------------------- */

struct add_args {
	const char *name, *tags, *file, *labels, *description;
	bool csv_options; /* --header, --label-column or --regression given */
	struct dataset_options opts;
};

static int parse_add(int argc, char **argv, struct add_args *a)
{
	static const struct option options[] = {
		{ "name", required_argument, NULL, OPT_NAME }, { "tags", required_argument, NULL, OPT_TAGS },
		{ "file", required_argument, NULL, OPT_FILE },
		{ "description", required_argument, NULL, OPT_DESCRIPTION },
		{ "type", required_argument, NULL, OPT_TYPE }, { "header", required_argument, NULL, OPT_HEADER },
		{ "label-column", required_argument, NULL, OPT_LABEL },
		{ "regression", no_argument, NULL, OPT_REGRESSION }, { "labels", required_argument, NULL, OPT_LABELS },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *cmd = "dataset add";
	int64_t label;
	int opt;

	while ((opt = next_opt(dataset_usage, cmd, argc, argv, options)) != -1) {
		switch (opt) {
		case OPT_NAME: a->name = optarg; break;
		case OPT_TAGS: a->tags = optarg; break;
		case OPT_FILE: a->file = optarg; break;
		case OPT_DESCRIPTION: a->description = optarg; break;
		case OPT_TYPE: a->opts.type = optarg; break;
		case OPT_LABELS: a->labels = optarg; break;
		case OPT_HEADER: a->opts.header = optarg; a->csv_options = true; break;
		case OPT_REGRESSION: a->opts.regression = true; a->csv_options = true; break;
		case OPT_LABEL:
			if (!fedc_parse_int(optarg, -1, INT32_MAX, &label))
				return usage_error(dataset_usage, cmd, "--label-column \"%s\": expected -1 (last) or a"
						   " column index from 0", optarg);
			a->opts.label_column = (int)label;
			a->csv_options = true;
			break;
		case 'h': fputs(dataset_usage, stdout); return 0;
		default: return 2;
		}
	}
	if (optind != argc)
		return usage_error(dataset_usage, cmd, "unexpected argument \"%s\"", argv[optind]);
	if (!a->name || !a->tags || !a->file)
		return usage_error(dataset_usage, cmd, "--name, --tags and --file are required");
	return -1;
}

static int check_add(const struct add_args *a, struct node_dataset *ds)
{
	const char *cmd = "dataset add";
	const char *header = a->opts.header;
	char why[160];

	if (!text_ok(a->name, sizeof(ds->name), false))
		return usage_error(dataset_usage, cmd, "--name: 1 to %d characters, no control characters",
				   FEDC_MAX_NAME_LEN);
	if (a->description && !text_ok(a->description, sizeof(ds->description), true))
		return usage_error(dataset_usage, cmd, "--description: at most %d characters, no control characters",
				   FEDC_MAX_TEXT_LEN);
	if (strcmp(a->opts.type, "csv") != 0 && strcmp(a->opts.type, "idx") != 0)
		return usage_error(dataset_usage, cmd, "--type \"%s\": expected csv or idx", a->opts.type);
	if (strcmp(a->opts.type, "idx") == 0 && !a->labels)
		return usage_error(dataset_usage, cmd, "--type idx needs --labels LABELS (the labels file)");
	if (strcmp(a->opts.type, "idx") == 0 && a->csv_options)
		return usage_error(dataset_usage, cmd, "--header, --label-column and --regression are for CSV files,"
				   " not --type idx");
	if (strcmp(a->opts.type, "csv") == 0 && a->labels)
		return usage_error(dataset_usage, cmd, "--labels is for IDX image sets: add --type idx");
	if (strcmp(header, "auto") && strcmp(header, "counts") && strcmp(header, "names") && strcmp(header, "none"))
		return usage_error(dataset_usage, cmd, "--header \"%s\": expected auto, counts, names or none", header);
	if (!parse_tags(a->tags, ds, why, sizeof(why)))
		return usage_error(dataset_usage, cmd, "%s", why);
	memcpy(ds->name, a->name, strlen(a->name) + 1);
	if (a->description)
		memcpy(ds->description, a->description, strlen(a->description) + 1);
	return -1;
}

/* The database keeps an absolute path: the daemon's working directory is
 * not the operator's. */
static int resolve_file(const char *file, char *dst, size_t cap)
{
	char *abs = realpath(file, NULL);
	int rc = 1;

	if (!abs) {
		fprintf(stderr, PROG ": dataset add: %s: %s\n", file, strerror(errno));
		return 1;
	}
	if (strlen(abs) < cap) {
		memcpy(dst, abs, strlen(abs) + 1);
		rc = -1;
	} else {
		fprintf(stderr, PROG ": dataset add: %s: path too long\n", file);
	}
	free(abs);
	return rc;
}

static bool is_idx(const struct node_dataset *ds)
{
	return strcmp(ds->type, "idx") == 0;
}

static void count_classes(const struct fedc_data *data, uint32_t n_classes, uint64_t *counts)
{
	for (size_t i = 0; i < data->n_samples; i++) {
		if (data->y[i] >= 0 && data->y[i] < (float)n_classes)
			counts[(size_t)data->y[i]]++;
	}
}

/* Rows per class as registered; a list too long to keep in the record
 * (thousands of classes) is counted from the loaded data. */
static bool registered_counts(const struct node_dataset *ds, uint64_t *counts)
{
	struct fedc_data data = { 0 };

	if (dataset__parse_label_counts(ds->label_counts, counts, ds->n_classes))
		return true;
	if (dataset__load(ds, &data) != FEDC_OK)
		return false;
	memset(counts, 0, ds->n_classes * sizeof(*counts));
	count_classes(&data, ds->n_classes, counts);
	dataset__free_data(&data);
	return true;
}

/* A label column picked by mistake (an id, a measurement) shows up as
 * classes without rows. Only a warning: one site may well lack a class. */
static void warn_empty_classes(const struct node_dataset *ds)
{
	uint64_t *counts = NULL;
	uint32_t present = 0;

	if (ds->n_classes < 3)
		return;
	counts = calloc(ds->n_classes, sizeof(*counts));
	if (!counts || !registered_counts(ds, counts))
		goto out;
	for (uint32_t c = 0; c < ds->n_classes; c++)
		present += counts[c] > 0;
	if (present < ds->n_classes && is_idx(ds))
		fprintf(stderr, PROG ": dataset add: warning: only %u of %u classes (0 to %u) have images\n", present,
			ds->n_classes, ds->n_classes - 1);
	else if (present < ds->n_classes)
		fprintf(stderr, PROG ": dataset add: warning: only %u of %u classes (0 to %u) have rows; if column %d"
			" is not the class label, use --label-column K or --regression\n", present, ds->n_classes,
			ds->n_classes - 1, ds->label_column);
out:
	free(counts);
}

static int dataset_add(const struct node_config *cfg, int argc, char **argv)
{
	struct add_args a = { .opts = { "csv", "auto", -1, false } };
	struct node_dataset *ds = calloc(1, sizeof(*ds));
	struct node_db *db = NULL;
	enum fedc_err rc;
	int code;

	if (!ds)
		return op_failed("dataset add", FEDC_ERR_NOMEM);
	code = parse_add(argc, argv, &a);
	if (code < 0)
		code = check_add(&a, ds);
	if (code < 0)
		code = resolve_file(a.file, ds->path, sizeof(ds->path));
	if (code < 0 && a.labels)
		code = resolve_file(a.labels, ds->labels_path, sizeof(ds->labels_path));
	if (code >= 0)
		goto out;
	/* Inspect first: a file that does not pass stores nothing. */
	rc = dataset__inspect(ds, &a.opts);
	if (!rc)
		warn_empty_classes(ds);
	if (!rc)
		rc = open_db(cfg, &db);
	if (!rc)
		rc = db__dataset_add(db, ds);
	if (rc) {
		code = op_failed("dataset add", rc);
		goto out;
	}
	printf("%s\n", ds->id);
	if (is_idx(ds))
		fprintf(stderr, PROG ": dataset add: registered \"%s\": %" PRIu64 " images of %s (%" PRIu64
			" features), %u classes\n", ds->name, ds->n_samples, ds->shape, ds->n_features, ds->n_classes);
	else
		fprintf(stderr, PROG ": dataset add: registered \"%s\": %" PRIu64 " samples, %" PRIu64
			" features, %u classes, header %s, label column %d\n", ds->name, ds->n_samples,
			ds->n_features, ds->n_classes, ds->header, ds->label_column);
	code = 0;
out:
	db__close(db);
	free(ds);
	return code;
}

static void tags_joined(const struct node_dataset *ds, char *out, size_t cap)
{
	size_t used = 0;

	out[0] = '\0';
	for (uint32_t i = 0; i < ds->n_tags && used < cap; i++)
		used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "," : "", ds->tags[i]);
}

/* The registered rows per class as "0=212 1=357", or "-" when unknown
 * (regression, a record of schema 1, a list too long to keep). */
static void print_label_counts(const struct node_dataset *ds)
{
	uint64_t *counts = ds->n_classes ? calloc(ds->n_classes, sizeof(*counts)) : NULL;
	bool known = counts && dataset__parse_label_counts(ds->label_counts, counts, ds->n_classes);

	if (!known)
		printf("-");
	for (uint32_t c = 0; known && c < ds->n_classes; c++)
		printf("%s%u=%" PRIu64, c ? " " : "", c, counts[c]);
	free(counts);
}

static void list_datasets_table(const struct node_dataset *all, size_t n)
{
	char tags[FEDC_MAX_TAGS * (FEDC_MAX_TAG_LEN + 1) + 1];
	int name_w = 4, tags_w = 4, shape_w = 5;

	for (size_t i = 0; i < n; i++) {
		tags_joined(&all[i], tags, sizeof(tags));
		name_w = (int)strlen(all[i].name) > name_w ? (int)strlen(all[i].name) : name_w;
		tags_w = (int)strlen(tags) > tags_w ? (int)strlen(tags) : tags_w;
		shape_w = (int)strlen(all[i].shape) > shape_w ? (int)strlen(all[i].shape) : shape_w;
	}
	printf("%-36s  %-*s  %-*s  %-4s  %-*s  %8s  %8s  %7s  %s\n", "ID", name_w, "NAME", tags_w, "TAGS", "TYPE",
	       shape_w, "SHAPE", "SAMPLES", "FEATURES", "CLASSES", "LABEL COUNTS");
	for (size_t i = 0; i < n; i++) {
		tags_joined(&all[i], tags, sizeof(tags));
		printf("%-36s  ", all[i].id);
		print_safe(all[i].name, name_w);
		printf("  ");
		print_safe(tags, tags_w);
		printf("  %-4s  ", all[i].type);
		print_safe(all[i].shape[0] ? all[i].shape : "-", shape_w);
		printf("  %8" PRIu64 "  %8" PRIu64 "  %7u  ", all[i].n_samples, all[i].n_features, all[i].n_classes);
		print_label_counts(&all[i]);
		printf("\n");
	}
}

/* "label_counts": the registered list, or null when unknown. */
static void label_counts_json(const struct node_dataset *ds)
{
	uint64_t *counts = ds->n_classes ? calloc(ds->n_classes, sizeof(*counts)) : NULL;

	if (!counts || !dataset__parse_label_counts(ds->label_counts, counts, ds->n_classes)) {
		printf("null");
	} else {
		for (uint32_t c = 0; c < ds->n_classes; c++)
			printf("%s%" PRIu64, c ? "," : "[", counts[c]);
		printf("]");
	}
	free(counts);
}

static void dataset_json(const struct node_dataset *ds)
{
	char added[32];

	format_time(ds->added_at, added);
	printf("{\"id\":");
	print_json_string(ds->id);
	printf(",\"name\":");
	print_json_string(ds->name);
	printf(",\"tags\":[");
	for (uint32_t t = 0; t < ds->n_tags; t++) {
		printf(t ? "," : "");
		print_json_string(ds->tags[t]);
	}
	printf("],\"type\":");
	print_json_string(ds->type);
	printf(",\"path\":");
	print_json_string(ds->path);
	printf(",\"labels_path\":");
	print_json_string(ds->labels_path);
	printf(",\"shape\":");
	print_json_string(ds->shape);
	printf(",\"description\":");
	print_json_string(ds->description);
	printf(",\"n_samples\":%" PRIu64 ",\"n_features\":%" PRIu64 ",\"n_classes\":%u,\"label_column\":%d,"
	       "\"header\":", ds->n_samples, ds->n_features, ds->n_classes, ds->label_column);
	print_json_string(ds->header);
	printf(",\"label_counts\":");
	label_counts_json(ds);
	printf(",\"sha256\":");
	print_json_string(ds->digest);
	printf(",\"added_at\":");
	print_json_string(added);
	printf("}");
}

static bool parse_json_flag(const char *usage, const char *cmd, int argc, char **argv, bool *json, int *code)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, OPT_JSON }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int opt;

	*json = false;
	while ((opt = next_opt(usage, cmd, argc, argv, options)) != -1) {
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
		*code = usage_error(usage, cmd, "unexpected argument \"%s\"", argv[optind]);
		return false;
	}
	return true;
}

static int dataset_list(const struct node_config *cfg, int argc, char **argv)
{
	struct node_dataset *all = NULL;
	struct node_db *db = NULL;
	size_t n = 0;
	bool json;
	int code = 0;
	enum fedc_err rc;

	if (!parse_json_flag(dataset_usage, "dataset list", argc, argv, &json, &code))
		return code;
	rc = open_db(cfg, &db);
	if (!rc)
		rc = db__dataset_list(db, &all, &n);
	if (rc) {
		code = op_failed("dataset list", rc);
		goto out;
	}
	if (json) {
		printf("[");
		for (size_t i = 0; i < n; i++) {
			printf(i ? ",\n " : "");
			dataset_json(&all[i]);
		}
		printf("]\n");
	} else if (n == 0) {
		printf("no datasets registered (add one with: " PROG " dataset add)\n");
	} else {
		list_datasets_table(all, n);
	}
out:
	free(all);
	db__close(db);
	return code;
}

/* Reads one positional argument (ID, NAME or DIGEST) and no options. */
static int one_argument(const char *usage, const char *cmd, int argc, char **argv, const char **arg)
{
	static const struct option options[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	int opt;

	while ((opt = next_opt(usage, cmd, argc, argv, options)) != -1) {
		if (opt != 'h')
			return 2;
		fputs(usage, stdout);
		return 0;
	}
	if (argc - optind != 1)
		return usage_error(usage, cmd, "expected exactly one argument");
	*arg = argv[optind];
	return -1;
}

/* Loads the data to show what a round would see: the class balance, or the
 * target's range for regression. */
static enum fedc_err print_labels(const struct node_dataset *ds)
{
	struct fedc_data data = { 0 };
	uint64_t *counts = NULL;
	enum fedc_err rc = dataset__load(ds, &data);

	if (rc)
		return rc;
	if (ds->n_classes == 0) {
		float lo = data.y[0], hi = data.y[0];
		double sum = 0;

		for (size_t i = 0; i < data.n_samples; i++) {
			lo = data.y[i] < lo ? data.y[i] : lo;
			hi = data.y[i] > hi ? data.y[i] : hi;
			sum += data.y[i];
		}
		printf("target:       min %g, mean %g, max %g\n", lo, sum / (double)data.n_samples, hi);
		goto out;
	}
	counts = calloc(ds->n_classes, sizeof(*counts));
	if (!counts) {
		rc = FEDC_ERR_NOMEM;
		goto out;
	}
	count_classes(&data, ds->n_classes, counts);
	printf("label counts:");
	for (uint32_t c = 0; c < ds->n_classes; c++)
		printf(" %u=%" PRIu64, c, counts[c]);
	printf("\n");
out:
	free(counts);
	dataset__free_data(&data);
	return rc;
}

static void print_dataset(const struct node_dataset *ds)
{
	char tags[FEDC_MAX_TAGS * (FEDC_MAX_TAG_LEN + 1) + 1];
	char added[32];

	tags_joined(ds, tags, sizeof(tags));
	format_time(ds->added_at, added);
	printf("id:           %s\nname:         ", ds->id);
	print_safe(ds->name, 0);
	printf("\ntags:         ");
	print_safe(tags, 0);
	printf("\ntype:         %s\n%s", ds->type, is_idx(ds) ? "images:       " : "path:         ");
	print_safe(ds->path, 0);
	if (is_idx(ds)) {
		printf("\nlabels:       ");
		print_safe(ds->labels_path, 0);
	}
	printf("\ndescription:  ");
	print_safe(ds->description, 0);
	printf("\nshape:        ");
	print_safe(ds->shape[0] ? ds->shape : "-", 0);
	printf("\nsamples:      %" PRIu64 "\nfeatures:     %" PRIu64 "\n", ds->n_samples, ds->n_features);
	if (ds->n_classes)
		printf("classes:      %u\n", ds->n_classes);
	else
		printf("classes:      0 (regression target)\n");
	if (!is_idx(ds))
		printf("label column: %d\nheader:       %s\n", ds->label_column, ds->header);
	printf("sha256:       %s%s\nadded:        %s\n", ds->digest,
	       is_idx(ds) ? " (images file, then labels file)" : "", added);
}

static int dataset_show(const struct node_config *cfg, int argc, char **argv)
{
	struct node_dataset *ds = calloc(1, sizeof(*ds));
	struct node_db *db = NULL;
	const char *key = NULL;
	enum fedc_err rc;
	int code;

	if (!ds)
		return op_failed("dataset show", FEDC_ERR_NOMEM);
	code = one_argument(dataset_usage, "dataset show", argc, argv, &key);
	if (code >= 0)
		goto out;
	rc = open_db(cfg, &db);
	if (!rc)
		rc = db__dataset_get(db, key, ds);
	if (rc) {
		code = op_failed("dataset show", rc);
		goto out;
	}
	print_dataset(ds);
	fflush(stdout);
	/* The record is shown either way; a file that no longer loads is an
	 * error the operator must see before the next round hits it. */
	rc = print_labels(ds);
	code = rc ? op_failed("dataset show", rc) : 0;
out:
	db__close(db);
	free(ds);
	return code;
}

static int dataset_remove(const struct node_config *cfg, int argc, char **argv)
{
	struct node_dataset *ds = calloc(1, sizeof(*ds));
	struct node_db *db = NULL;
	const char *key = NULL;
	enum fedc_err rc;
	int code;

	if (!ds)
		return op_failed("dataset remove", FEDC_ERR_NOMEM);
	code = one_argument(dataset_usage, "dataset remove", argc, argv, &key);
	if (code >= 0)
		goto out;
	rc = open_db(cfg, &db);
	if (!rc)
		rc = db__dataset_get(db, key, ds);
	if (!rc)
		rc = db__dataset_remove(db, ds->id);
	if (rc) {
		code = op_failed("dataset remove", rc);
		goto out;
	}
	printf("removed dataset %s (", ds->id);
	print_safe(ds->name, 0);
	printf("); the file %s is left in place\n", ds->path);
	code = 0;
out:
	db__close(db);
	free(ds);
	return code;
}

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

	while ((opt = next_opt(plan_usage, cmd, argc, argv, options)) != -1) {
		switch (opt) {
		case OPT_NAME: a->name = optarg; break;
		case OPT_NOTES: a->notes = optarg; break;
		case 'h': fputs(plan_usage, stdout); return 0;
		default: return 2;
		}
	}
	if (argc - optind != 1)
		return usage_error(plan_usage, cmd, "expected one FILE or DIGEST");
	a->target = argv[optind];
	if (a->name && !text_ok(a->name, FEDC_MAX_NAME_LEN + 1, false))
		return usage_error(plan_usage, cmd, "--name: 1 to %d characters, no control characters",
				   FEDC_MAX_NAME_LEN);
	if (a->notes && !text_ok(a->notes, FEDC_MAX_TEXT_LEN + 1, true))
		return usage_error(plan_usage, cmd, "--notes: at most %d characters, no control characters",
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
	enum fedc_err rc = plan ? FEDC_OK : FEDC_ERR_NOMEM;

	if (!rc)
		rc = keep_plan_copy(cfg, a->target, digest, plan->path, sizeof(plan->path));
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

static int plan_decide(const struct node_config *cfg, int argc, char **argv, enum node_plan_status status)
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
	file = is_regular_file(a.target);
	if (!file && !parse_digest(a.target, digest)) {
		fprintf(stderr, PROG ": %s: \"%s\" is neither an existing file nor a digest (64 or 128 hex digits)\n",
			cmd, a.target);
		return 1;
	}
	rc = open_db(cfg, &db);
	if (!rc && file && status == NODE_PLAN_APPROVED) {
		rc = approve_file(cfg, db, &a, digest);
	} else if (!rc) {
		/* A rejected file is only hashed: there is no reason to keep it. */
		struct node_plan listed;

		if (file && !(rc = file_digest(cfg, db, a.target, &listed)))
			memcpy(digest, listed.digest, sizeof(listed.digest));
		if (!rc)
			rc = db__plan_set_status(db, digest, status, a.name, a.notes);
	}
	if (rc) {
		code = op_failed(cmd, rc);
		goto out;
	}
	printf("%s %s\n", db__plan_status_name(status), digest);
	code = 0;
out:
	db__close(db);
	return code;
}

static void plan_json(const struct node_plan *p)
{
	char requested[32], decided[32];

	format_time(p->requested_at, requested);
	format_time(p->decided_at, decided);
	printf("{\"digest\":");
	print_json_string(p->digest);
	printf(",\"algorithm\":");
	print_json_string(p->algorithm);
	printf(",\"name\":");
	print_json_string(p->name);
	printf(",\"status\":\"%s\",\"requested_by\":", db__plan_status_name(p->status));
	print_json_string(p->requested_by);
	printf(",\"requested_at\":");
	print_json_string(requested);
	printf(",\"decided_at\":");
	print_json_string(p->decided_at ? decided : "");
	printf(",\"notes\":");
	print_json_string(p->notes);
	printf(",\"path\":");
	print_json_string(p->path);
	printf("}");
}

static void list_plans_table(const struct node_plan *all, size_t n)
{
	int name_w = 4, by_w = 12;

	for (size_t i = 0; i < n; i++) {
		name_w = (int)strlen(all[i].name) > name_w ? (int)strlen(all[i].name) : name_w;
		by_w = (int)strlen(all[i].requested_by) > by_w ? (int)strlen(all[i].requested_by) : by_w;
	}
	printf("%-64s  %-8s  %-*s  %-*s  %-20s\n", "DIGEST (SHA-256)", "STATUS", name_w, "NAME", by_w,
	       "REQUESTED_BY", "DECIDED");
	for (size_t i = 0; i < n; i++) {
		char decided[32];

		format_time(all[i].decided_at, decided);
		printf("%-64s  %-8s  ", all[i].digest, db__plan_status_name(all[i].status));
		print_safe(all[i].name, name_w);
		printf("  ");
		print_safe(all[i].requested_by, by_w);
		printf("  %s\n", decided);
	}
}

static int plan_list(const struct node_config *cfg, int argc, char **argv)
{
	struct node_plan *all = NULL;
	struct node_db *db = NULL;
	size_t n = 0;
	bool json;
	int code = 0;
	enum fedc_err rc;

	if (!parse_json_flag(plan_usage, "plan list", argc, argv, &json, &code))
		return code;
	rc = open_db(cfg, &db);
	if (!rc)
		rc = db__plan_list(db, &all, &n);
	if (rc) {
		code = op_failed("plan list", rc);
		goto out;
	}
	if (json) {
		printf("[");
		for (size_t i = 0; i < n; i++) {
			printf(i ? ",\n " : "");
			plan_json(&all[i]);
		}
		printf("]\n");
	} else if (n == 0) {
		printf("no training plans registered\n");
	} else {
		list_plans_table(all, n);
	}
out:
	free(all);
	db__close(db);
	return code;
}

static void print_plan(const struct node_plan *p)
{
	char requested[32], decided[32];

	format_time(p->requested_at, requested);
	format_time(p->decided_at, decided);
	printf("digest:       %s\nalgorithm:    ", p->digest);
	print_safe(p->algorithm, 0);
	printf("\nstatus:       %s\nname:         ", db__plan_status_name(p->status));
	print_safe(p->name, 0);
	printf("\nrequested by: ");
	print_safe(p->requested_by, 0);
	printf("\nrequested at: %s\ndecided at:   %s\nnotes:        ", requested, decided);
	print_safe(p->notes, 0);
	printf("\nfile:         ");
	print_safe(p->path[0] ? p->path : "-", 0);
	printf("\n");
}

/* Deletes the kept copy of a removed plan: only the file this node manages
 * (data_dir/plans/<digest>.so), never a path read from the database. */
static void remove_kept_copy(const struct node_config *cfg, const struct node_plan *p)
{
	char path[NODE_PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/plans/%s.so", cfg->data_dir, p->digest) >= sizeof(path))
		return;
	if (unlink(path) != 0 && errno != ENOENT)
		fprintf(stderr, PROG ": plan remove: warning: cannot delete %s: %s\n", path, strerror(errno));
}

/* show and remove share their shape: one DIGEST, one plan. */
static int plan_one(const struct node_config *cfg, int argc, char **argv, bool remove)
{
	const char *cmd = remove ? "plan remove" : "plan show";
	struct node_plan *p = calloc(1, sizeof(*p));
	char digest[FEDC_HASH_MAX_HEXLEN + 1];
	struct node_db *db = NULL;
	const char *arg = NULL;
	enum fedc_err rc;
	int code;

	if (!p)
		return op_failed(cmd, FEDC_ERR_NOMEM);
	code = one_argument(plan_usage, cmd, argc, argv, &arg);
	if (code < 0 && !parse_digest(arg, digest))
		code = usage_error(plan_usage, cmd, "\"%s\" is not a digest (64 or 128 hex digits)", arg);
	if (code >= 0)
		goto out;
	rc = open_db(cfg, &db);
	if (!rc)
		rc = db__plan_get(db, digest, p);
	if (!rc && remove)
		rc = db__plan_remove(db, digest);
	if (rc) {
		code = op_failed(cmd, rc);
		goto out;
	}
	if (!remove) {
		print_plan(p);
	} else {
		remove_kept_copy(cfg, p);
		printf("removed plan %s\n", digest);
	}
	code = 0;
out:
	db__close(db);
	free(p);
	return code;
}

/* ---- dispatch ------------------------------------------------------------- */

struct subcommand {
	const char *name;
	int (*run)(const struct node_config *cfg, int argc, char **argv);
};

static int plan_approve(const struct node_config *cfg, int argc, char **argv)
{
	return plan_decide(cfg, argc, argv, NODE_PLAN_APPROVED);
}

static int plan_reject(const struct node_config *cfg, int argc, char **argv)
{
	return plan_decide(cfg, argc, argv, NODE_PLAN_REJECTED);
}

static int plan_show(const struct node_config *cfg, int argc, char **argv)
{
	return plan_one(cfg, argc, argv, false);
}

static int plan_remove(const struct node_config *cfg, int argc, char **argv)
{
	return plan_one(cfg, argc, argv, true);
}

static const struct subcommand dataset_commands[] = {
	{ "add", dataset_add }, { "list", dataset_list }, { "show", dataset_show }, { "remove", dataset_remove },
	{ NULL, NULL },
};

static const struct subcommand plan_commands[] = {
	{ "approve", plan_approve }, { "reject", plan_reject }, { "list", plan_list }, { "show", plan_show },
	{ "remove", plan_remove }, { NULL, NULL },
};

/* argv[0] is "dataset" or "plan"; the subcommand's getopt sees argv + 1, so
 * that the subcommand sits where getopt expects a program name. */
static int dispatch(const char *group, const char *usage, const struct subcommand *table,
		    const struct node_config *cfg, int argc, char **argv)
{
	if (argc < 2)
		return usage_error(usage, group, "missing subcommand");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	for (const struct subcommand *s = table; s->name; s++) {
		if (strcmp(argv[1], s->name) == 0) {
			optind = 0; /* full getopt reset: main() parsed its own options */
			opterr = 0; /* next_opt() reports errors in our format */
			return s->run(cfg, argc - 1, argv + 1);
		}
	}
	return usage_error(usage, group, "unknown subcommand \"%s\"", argv[1]);
}

int cli__dataset(const struct node_config *cfg, int argc, char **argv)
{
	return dispatch("dataset", dataset_usage, dataset_commands, cfg, argc, argv);
}

int cli__plan(const struct node_config *cfg, int argc, char **argv)
{
	return dispatch("plan", plan_usage, plan_commands, cfg, argc, argv);
}
