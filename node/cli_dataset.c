/* `fedc-node dataset add|list|show|remove` (docs/node-admin.md, "Datasets"). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_schema.h"
#include "dataset.h"
#include "dataset_folder.h"
#include "fedc/config.h"

enum { OPT_NAME = 256, OPT_TAGS, OPT_FILE, OPT_DESCRIPTION, OPT_TYPE, OPT_HEADER, OPT_LABEL, OPT_REGRESSION,
       OPT_LABELS, OPT_SPLIT, OPT_TEST_OF, OPT_PATH, OPT_MANIFEST, OPT_SIZE, OPT_CHANNELS, OPT_NORMALIZE,
       OPT_MODALITY, OPT_DEMOGRAPHICS, OPT_SUBJECT_COLUMN, OPT_MASK, OPT_FEATURES,
       OPT_LABEL_CLASSES };

static const char dataset_usage[] =
	"usage: " CLI_PROG " dataset add --name N --tags T1[,T2...] --file PATH [--description D] [--type csv]\n"
	"                         [--header auto|counts|names|none] [--label-column K] [--regression]\n"
	"                         [--label-classes NAME0,NAME1,...]   (a label written as text: class k = NAMEk)\n"
	"       " CLI_PROG " dataset add --type idx --name N --tags T1[,T2...] --file IMAGES --labels LABELS\n"
	"                         [--description D]   (IDX files plain or gzip'd, e.g. train-images-idx3-ubyte.gz)\n"
	"       " CLI_PROG " dataset add --type images --name N --tags T1[,T2...] --path DIR [--manifest FILE]\n"
	"                         [--size HxW] [--channels 1|3] [--normalize unit|MEAN,STD[,...]] [--description D]\n"
	"                         (PNG/JPEG; labels from class sub-folders DIR/CLASS/FILE or from FILE: file,label)\n"
	"       " CLI_PROG " dataset add --type nifti --name N --tags T1[,T2...] --path DIR --modality MOD\n"
	"                         --demographics FILE --label-column NAME | --mask MOD2 [--demographics FILE]\n"
	"                         [--subject-column NAME] [--features A,B...] [--size DxHxW] [--normalize zscore|none]\n"
	"                         (volumes DIR/SUBJECT/MOD.nii[.gz]; a CSV row per subject)\n"
	"         either also:    [--split random|stratified]   (how test rows are held out; default random)\n"
	"                         [--test-of ID|NAME]   (register as the test set of that dataset; --tags optional)\n"
	"       " CLI_PROG " dataset list [--json]\n"
	"       " CLI_PROG " dataset show ID|NAME\n"
	"       " CLI_PROG " dataset remove ID|NAME\n";

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
			if (cli__has_control(ds->tags[ds->n_tags])) {
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

/* --label-classes B,M: a CSV label written as text, class k being the k-th
 * name; kept in ds->options as "label_classes=B,M" (dataset_csv.c reads it).
 * Returns false with a message. */
static bool set_label_classes(const char *list, bool regression, struct node_dataset *ds, char *why, size_t why_cap)
{
	int n = snprintf(ds->options, sizeof(ds->options), "label_classes=%s", list);

	if (regression)
		snprintf(why, why_cap, "--label-classes names classes: a --regression target has none");
	else if (n < 0 || (size_t)n >= sizeof(ds->options))
		snprintf(why, why_cap, "--label-classes: the list is longer than %zu characters",
			 sizeof(ds->options) - sizeof("label_classes="));
	else if (!list[0] || strstr(list, ",,") || list[0] == ',' || list[strlen(list) - 1] == ',' ||
		 strpbrk(list, ";=") || cli__has_control(list))
		snprintf(why, why_cap, "--label-classes \"%s\": comma-separated names, none empty, without ';', '=' or"
			 " control characters", list);
	else
		return true;
	ds->options[0] = '\0';
	return false;
}

/* ---- the folder kinds' options ---------------------------------------------- */

/* --manifest, --size, --channels, --normalize (images), --modality,
 * --demographics, --subject-column, --mask, --features and --label-column
 * NAME (nifti): gathered as "key=value;..." for ds->options, which the
 * kind's inspect checks (dataset_image.h, dataset_nifti.h). The manifest or
 * demographics file goes to ds->labels_path instead. */
struct folder_args {
	const char *manifest;   /* --manifest or --demographics */
	char options[NODE_OPTIONS_BUF];
	const char *first; /* the first folder option given, for messages */
	const char *images_only, *nifti_only; /* the first given of each kind's own options */
};

/* Takes one folder option; false if `opt` is not one. */
static bool folder_option(struct folder_args *f, int opt, const char *value)
{
	enum { BOTH, IMAGES, NIFTI };
	static const struct { int opt; const char *key, *flag; int kind; } keys[] = {
		{ OPT_SIZE, "size", "--size", BOTH }, { OPT_CHANNELS, "channels", "--channels", IMAGES },
		{ OPT_NORMALIZE, "normalize", "--normalize", BOTH }, { OPT_MANIFEST, NULL, "--manifest", IMAGES },
		{ OPT_MODALITY, "modality", "--modality", NIFTI }, { OPT_DEMOGRAPHICS, NULL, "--demographics", NIFTI },
		{ OPT_SUBJECT_COLUMN, "subject_column", "--subject-column", NIFTI }, { OPT_MASK, "mask", "--mask", NIFTI },
		{ OPT_FEATURES, "features", "--features", NIFTI }, { OPT_LABEL, "label_column", "--label-column", NIFTI },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t used = strlen(f->options);

		if (keys[i].opt != opt)
			continue;
		f->first = f->first ? f->first : keys[i].flag;
		if (keys[i].kind == IMAGES && !f->images_only)
			f->images_only = keys[i].flag;
		if (keys[i].kind == NIFTI && !f->nifti_only)
			f->nifti_only = keys[i].flag;
		if (!keys[i].key)
			f->manifest = value;
		else if (strchr(value, ';') || strchr(value, '='))
			snprintf(f->options + used, sizeof(f->options) - used, "%s%s=?", used ? ";" : "", keys[i].key);
		else
			snprintf(f->options + used, sizeof(f->options) - used, "%s%s=%s", used ? ";" : "", keys[i].key, value);
		return true;
	}
	return false;
}

/* ---- dataset commands ----------------------------------------------------- */

struct add_args {
	const char *name, *tags, *file, *labels, *description;
	const char *split, *test_of;
	const char *label_text; /* --label-column as given */
	bool csv_options; /* --header, --label-column, --regression or --label-classes given */
	const char *label_classes;
	struct dataset_options opts;
	struct folder_args folder;
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
		{ "split", required_argument, NULL, OPT_SPLIT }, { "test-of", required_argument, NULL, OPT_TEST_OF },
		{ "label-classes", required_argument, NULL, OPT_LABEL_CLASSES },
		{ "path", required_argument, NULL, OPT_PATH }, { "manifest", required_argument, NULL, OPT_MANIFEST },
		{ "size", required_argument, NULL, OPT_SIZE }, { "channels", required_argument, NULL, OPT_CHANNELS },
		{ "normalize", required_argument, NULL, OPT_NORMALIZE }, { "modality", required_argument, NULL, OPT_MODALITY },
		{ "demographics", required_argument, NULL, OPT_DEMOGRAPHICS },
		{ "subject-column", required_argument, NULL, OPT_SUBJECT_COLUMN }, { "mask", required_argument, NULL, OPT_MASK },
		{ "features", required_argument, NULL, OPT_FEATURES },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *cmd = "dataset add";
	int64_t label;
	int opt;

	while ((opt = cli__next_opt(dataset_usage, cmd, argc, argv, options)) != -1) {
		/* --label-column is a column index for CSV, a column name for nifti:
		 * which one is known only once --type is, after the loop. */
		if (opt == OPT_LABEL)
			a->label_text = optarg;
		if (opt != OPT_LABEL && folder_option(&a->folder, opt, optarg))
			continue;
		switch (opt) {
		case OPT_NAME: a->name = optarg; break;
		case OPT_TAGS: a->tags = optarg; break;
		case OPT_FILE: case OPT_PATH: a->file = optarg; break;
		case OPT_DESCRIPTION: a->description = optarg; break;
		case OPT_TYPE: a->opts.type = optarg; break;
		case OPT_LABELS: a->labels = optarg; break;
		case OPT_SPLIT: a->split = optarg; break;
		case OPT_TEST_OF: a->test_of = optarg; break;
		case OPT_HEADER: a->opts.header = optarg; a->csv_options = true; break;
		case OPT_REGRESSION: a->opts.regression = true; a->csv_options = true; break;
		case OPT_LABEL_CLASSES: a->label_classes = optarg; a->csv_options = true; break;
		case OPT_LABEL: a->csv_options = true; break;
		case 'h': fputs(dataset_usage, stdout); return 0;
		default: return 2;
		}
	}
	if (optind != argc)
		return cli__usage_error(dataset_usage, cmd, "unexpected argument \"%s\"", argv[optind]);
	if (a->label_text && strcmp(a->opts.type, "nifti") == 0) {
		a->csv_options = false;
		(void)folder_option(&a->folder, OPT_LABEL, a->label_text);
	} else if (a->label_text) {
		if (!fedc_parse_int(a->label_text, -1, INT32_MAX, &label))
			return cli__usage_error(dataset_usage, cmd, "--label-column \"%s\": expected -1 (last) or a"
						" column index from 0", a->label_text);
		a->opts.label_column = (int)label;
	}
	if (!a->name || (!a->tags && !a->test_of) || !a->file)
		return cli__usage_error(dataset_usage, cmd, "--name, --tags and --file (or --path) are required (--tags"
					" may be left out with --test-of)");
	return -1;
}

static bool is_folder_type(const char *type)
{
	return strcmp(type, "images") == 0 || strcmp(type, "nifti") == 0;
}

static int check_add(const struct add_args *a, struct node_dataset *ds)
{
	const char *cmd = "dataset add";
	const char *header = a->opts.header;
	char why[160];

	if (!cli__text_ok(a->name, sizeof(ds->name), false))
		return cli__usage_error(dataset_usage, cmd, "--name: 1 to %d characters, no control characters",
				   FEDC_MAX_NAME_LEN);
	if (a->description && !cli__text_ok(a->description, sizeof(ds->description), true))
		return cli__usage_error(dataset_usage, cmd, "--description: at most %d characters, no control characters",
				   FEDC_MAX_TEXT_LEN);
	if (strcmp(a->opts.type, "csv") != 0 && strcmp(a->opts.type, "idx") != 0 && !is_folder_type(a->opts.type))
		return cli__usage_error(dataset_usage, cmd, "--type \"%s\": expected csv, idx, images or nifti", a->opts.type);
	if (is_folder_type(a->opts.type) && (a->csv_options || a->labels))
		return cli__usage_error(dataset_usage, cmd, "--header, --label-column, --regression and --labels are not "
				   "for --type %s", a->opts.type);
	if (!is_folder_type(a->opts.type) && a->folder.first)
		return cli__usage_error(dataset_usage, cmd, "%s is for --type images or nifti", a->folder.first);
	if (strcmp(a->opts.type, "images") == 0 && a->folder.nifti_only)
		return cli__usage_error(dataset_usage, cmd, "%s is for --type nifti", a->folder.nifti_only);
	if (strcmp(a->opts.type, "nifti") == 0 && a->folder.images_only)
		return cli__usage_error(dataset_usage, cmd, "%s is for --type images", a->folder.images_only);
	if (strstr(a->folder.options, "=?"))
		return cli__usage_error(dataset_usage, cmd, "the values of --size, --channels and --normalize hold no ';' "
				   "or '='");
	if (strcmp(a->opts.type, "idx") == 0 && !a->labels)
		return cli__usage_error(dataset_usage, cmd, "--type idx needs --labels LABELS (the labels file)");
	if (strcmp(a->opts.type, "idx") == 0 && a->csv_options)
		return cli__usage_error(dataset_usage, cmd, "--header, --label-column, --regression and --label-classes"
				   " are for CSV files, not --type idx");
	if (strcmp(a->opts.type, "csv") == 0 && a->labels)
		return cli__usage_error(dataset_usage, cmd, "--labels is for IDX image sets: add --type idx");
	if (strcmp(header, "auto") && strcmp(header, "counts") && strcmp(header, "names") && strcmp(header, "none"))
		return cli__usage_error(dataset_usage, cmd, "--header \"%s\": expected auto, counts, names or none", header);
	if (a->split && strcmp(a->split, "random") != 0 && strcmp(a->split, "stratified") != 0)
		return cli__usage_error(dataset_usage, cmd, "--split \"%s\": expected random or stratified", a->split);
	if (a->split && a->test_of)
		return cli__usage_error(dataset_usage, cmd, "--split and --test-of do not go together: a test set is "
					"used whole, never split");
	if (a->test_of && !cli__text_ok(a->test_of, sizeof(ds->name), false))
		return cli__usage_error(dataset_usage, cmd, "--test-of: a dataset id or name");
	if (a->tags && !parse_tags(a->tags, ds, why, sizeof(why)))
		return cli__usage_error(dataset_usage, cmd, "%s", why);
	if (a->label_classes && !set_label_classes(a->label_classes, a->opts.regression, ds, why, sizeof(why)))
		return cli__usage_error(dataset_usage, cmd, "%s", why);
	snprintf(ds->split, sizeof(ds->split), "%s", a->split ? a->split : "random");
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
		fprintf(stderr, CLI_PROG ": dataset add: %s: %s\n", file, strerror(errno));
		return 1;
	}
	if (strlen(abs) < cap) {
		memcpy(dst, abs, strlen(abs) + 1);
		rc = -1;
	} else {
		fprintf(stderr, CLI_PROG ": dataset add: %s: path too long\n", file);
	}
	free(abs);
	return rc;
}

static bool is_idx(const struct node_dataset *ds)
{
	return strcmp(ds->type, "idx") == 0;
}

static bool is_folder(const struct node_dataset *ds)
{
	return is_folder_type(ds->type);
}

/* Rows per class; with label_width > 1 (a mask), voxels per class. */
static void count_classes(const struct fedc_data *data, uint32_t n_classes, uint64_t *counts)
{
	size_t n = data->n_samples * (data->label_width ? data->label_width : 1);

	for (size_t i = 0; i < n; i++) {
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
	if (present < ds->n_classes && (is_idx(ds) || is_folder(ds)))
		fprintf(stderr, CLI_PROG ": dataset add: warning: only %u of %u classes (0 to %u) have images\n", present,
			ds->n_classes, ds->n_classes - 1);
	else if (present < ds->n_classes)
		fprintf(stderr, CLI_PROG ": dataset add: warning: only %u of %u classes (0 to %u) have rows; if column %d"
			" is not the class label, use --label-column K or --regression\n", present, ds->n_classes,
			ds->n_classes - 1, ds->label_column);
out:
	free(counts);
}

/* A folder set and its test set: the same kind, sample shape and kind of
 * target (a class per sample, or per voxel from a mask), or the plan would
 * be handed test rows it cannot read like its training rows. */
static enum fedc_err same_folder_kind(const char *key, const struct node_dataset *ds, const struct node_dataset *parent)
{
	bool mask_here = strstr(ds->options, ";mask=") != NULL, mask_there = strstr(parent->options, ";mask=") != NULL;

	if (!is_folder(ds) && !is_folder(parent))
		return FEDC_OK;
	if (strcmp(ds->type, parent->type) != 0 || strcmp(ds->shape, parent->shape) != 0)
		return fedc_fail(FEDC_ERR_INVAL, "--test-of \"%s\": %s of %s here, %s of %s there", key, ds->type, ds->shape,
				 parent->type, parent->shape);
	if (mask_here != mask_there)
		return fedc_fail(FEDC_ERR_INVAL, "--test-of \"%s\": labels from a %s here, from a %s there", key,
				 mask_here ? "mask" : "table column", mask_there ? "mask" : "table column");
	return FEDC_OK;
}

/* The dataset `ds` (inspected) is to be the test set of `key`: that one
 * must exist, be no test set itself, have none yet, and hold the same kind of
 * rows (features; classes, or a regression target). Fills ds->test_of, and
 * the parent's tags when none were given. */
static enum fedc_err link_test_set(struct node_db *db, const char *key, struct node_dataset *ds)
{
	struct node_dataset *parent = calloc(1, sizeof(*parent)), *other = calloc(1, sizeof(*other));
	enum fedc_err rc = parent && other ? db__dataset_get(db, key, parent) : FEDC_ERR_NOMEM;

	if (rc == FEDC_ERR_NOT_FOUND)
		rc = fedc_fail(rc, "--test-of \"%s\": no such dataset on this node", key);
	if (!rc && parent->test_of[0])
		rc = fedc_fail(FEDC_ERR_INVAL, "--test-of \"%s\": that dataset is itself a test set", key);
	if (!rc) {
		rc = db__dataset_test_set(db, parent->id, other);
		if (rc == FEDC_OK)
			rc = fedc_fail(FEDC_ERR_EXISTS, "--test-of \"%s\": it has a test set already, \"%s\" (remove that "
				       "one first)", key, other->name);
		else if (rc == FEDC_ERR_NOT_FOUND)
			rc = FEDC_OK;
	}
	if (!rc)
		rc = same_folder_kind(key, ds, parent);
	if (!rc && ds->n_features != parent->n_features)
		rc = fedc_fail(FEDC_ERR_INVAL, "--test-of \"%s\": %" PRIu64 " features here, %" PRIu64 " there", key,
			       ds->n_features, parent->n_features);
	if (!rc && (ds->n_classes == 0) != (parent->n_classes == 0))
		rc = fedc_fail(FEDC_ERR_INVAL, "--test-of \"%s\": one has class labels, the other a regression target",
			       key);
	if (!rc && ds->n_classes > parent->n_classes)
		rc = fedc_fail(FEDC_ERR_INVAL, "--test-of \"%s\": labels up to %u here, that dataset has %u classes",
			       key, ds->n_classes - 1, parent->n_classes);
	if (!rc) {
		snprintf(ds->test_of, sizeof(ds->test_of), "%s", parent->id);
		if (ds->n_tags == 0) {
			ds->n_tags = parent->n_tags;
			memcpy(ds->tags, parent->tags, sizeof(ds->tags));
		}
	}
	free(other);
	free(parent);
	return rc;
}

/* The summary of a registered folder, and the demographics rows that
 * matched no subject folder (skipped, not refused: a site's table often
 * lists more patients than were imaged). */
static void report_folder(const struct node_dataset *ds)
{
	bool volumes = strcmp(ds->type, "nifti") == 0;
	char skipped[24] = "0";

	fprintf(stderr, CLI_PROG ": dataset add: registered \"%s\": %" PRIu64 " %s of %s (%" PRIu64 " features), %u "
		"classes%s\n", ds->name, ds->n_samples, volumes ? "subjects' volumes" : "images", ds->shape,
		ds->n_features, ds->n_classes, volumes && strstr(ds->options, "mask=") ? " (a class per voxel)" : "");
	if (volumes && dataset_folder__option(ds->options, "skipped_rows", skipped, sizeof(skipped)) &&
	    strcmp(skipped, "0") != 0)
		fprintf(stderr, CLI_PROG ": dataset add: warning: %s rows of %s name no subject folder and were "
			"skipped\n", skipped, ds->labels_path);
}

static int dataset_add(struct cli_ctx *ctx, int argc, char **argv)
{
	struct add_args a = { .opts = { "csv", "auto", -1, false } };
	struct node_dataset *ds = calloc(1, sizeof(*ds));
	struct node_db *db = NULL;
	enum fedc_err rc;
	int code;

	if (!ds)
		return cli__op_failed("dataset add", FEDC_ERR_NOMEM);
	code = parse_add(argc, argv, &a);
	if (code < 0)
		code = check_add(&a, ds);
	if (code < 0)
		code = resolve_file(a.file, ds->path, sizeof(ds->path));
	if (code < 0 && a.labels)
		code = resolve_file(a.labels, ds->labels_path, sizeof(ds->labels_path));
	if (code < 0 && a.folder.manifest)
		code = resolve_file(a.folder.manifest, ds->labels_path, sizeof(ds->labels_path));
	if (code < 0 && a.folder.options[0]) /* a folder kind's; a CSV file's --label-classes are set already */
		memcpy(ds->options, a.folder.options, sizeof(ds->options));
	if (code >= 0)
		goto out;
	/* Inspect first: a file that does not pass stores nothing. */
	rc = dataset__inspect(ds, &a.opts);
	if (!rc && strcmp(ds->split, "stratified") == 0 && ds->n_classes == 0)
		rc = fedc_fail(FEDC_ERR_INVAL, "--split stratified needs class labels; this dataset has a regression "
			       "target");
	if (!rc)
		warn_empty_classes(ds);
	if (!rc)
		rc = cli__open_db(ctx, &db);
	if (!rc && a.test_of)
		rc = link_test_set(db, a.test_of, ds);
	if (!rc)
		rc = db__dataset_add(db, ds);
	if (rc) {
		code = cli__op_failed("dataset add", rc);
		goto out;
	}
	printf("%s\n", ds->id);
	if (is_folder(ds))
		report_folder(ds);
	else if (is_idx(ds))
		fprintf(stderr, CLI_PROG ": dataset add: registered \"%s\": %" PRIu64 " images of %s (%" PRIu64
			" features), %u classes\n", ds->name, ds->n_samples, ds->shape, ds->n_features, ds->n_classes);
	else
		fprintf(stderr, CLI_PROG ": dataset add: registered \"%s\": %" PRIu64 " samples, %" PRIu64
			" features, %u classes, header %s, label column %d\n", ds->name, ds->n_samples,
			ds->n_features, ds->n_classes, ds->header, ds->label_column);
	cli_schema__print_summary(stderr, ds);
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
	int name_w = 4, tags_w = 4, shape_w = 5, type_w = 4;

	for (size_t i = 0; i < n; i++) {
		tags_joined(&all[i], tags, sizeof(tags));
		name_w = (int)strlen(all[i].name) > name_w ? (int)strlen(all[i].name) : name_w;
		tags_w = (int)strlen(tags) > tags_w ? (int)strlen(tags) : tags_w;
		shape_w = (int)strlen(all[i].shape) > shape_w ? (int)strlen(all[i].shape) : shape_w;
		type_w = (int)strlen(all[i].type) > type_w ? (int)strlen(all[i].type) : type_w;
	}
	printf("%-36s  %-*s  %-*s  %-*s  %-*s  %8s  %8s  %7s  %s\n", "ID", name_w, "NAME", tags_w, "TAGS", type_w, "TYPE",
	       shape_w, "SHAPE", "SAMPLES", "FEATURES", "CLASSES", "LABEL COUNTS");
	for (size_t i = 0; i < n; i++) {
		tags_joined(&all[i], tags, sizeof(tags));
		printf("%-36s  ", all[i].id);
		cli__print_safe(all[i].name, name_w);
		printf("  ");
		cli__print_safe(tags, tags_w);
		printf("  %-*s  ", type_w, all[i].type);
		cli__print_safe(all[i].shape[0] ? all[i].shape : "-", shape_w);
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

	cli__format_time(ds->added_at, added);
	printf("{\"id\":");
	cli__print_json_string(ds->id);
	printf(",\"name\":");
	cli__print_json_string(ds->name);
	printf(",\"tags\":[");
	for (uint32_t t = 0; t < ds->n_tags; t++) {
		printf(t ? "," : "");
		cli__print_json_string(ds->tags[t]);
	}
	printf("],\"type\":");
	cli__print_json_string(ds->type);
	printf(",\"path\":");
	cli__print_json_string(ds->path);
	printf(",\"labels_path\":");
	cli__print_json_string(ds->labels_path);
	printf(",\"shape\":");
	cli__print_json_string(ds->shape);
	printf(",\"options\":");
	cli__print_json_string(ds->options);
	printf(",\"description\":");
	cli__print_json_string(ds->description);
	printf(",\"n_samples\":%" PRIu64 ",\"n_features\":%" PRIu64 ",\"n_classes\":%u,\"label_column\":%d,"
	       "\"header\":", ds->n_samples, ds->n_features, ds->n_classes, ds->label_column);
	cli__print_json_string(ds->header);
	printf(",\"label_counts\":");
	label_counts_json(ds);
	printf(",\"sha256\":");
	cli__print_json_string(ds->digest);
	printf(",\"added_at\":");
	cli__print_json_string(added);
	printf(",\"split\":");
	cli__print_json_string(ds->split);
	printf(",\"test_of\":");
	cli__print_json_string(ds->test_of);
	cli_schema__print_json(ds);
	printf("}");
}

static int dataset_list(struct cli_ctx *ctx, int argc, char **argv)
{
	struct node_dataset *all = NULL;
	struct node_db *db = NULL;
	size_t n = 0;
	bool json;
	int code = 0;
	enum fedc_err rc;

	if (!cli__parse_json_flag(dataset_usage, "dataset list", argc, argv, &json, &code))
		return code;
	rc = cli__open_db(ctx, &db);
	if (!rc)
		rc = db__dataset_list(db, &all, &n);
	if (rc) {
		code = cli__op_failed("dataset list", rc);
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
		printf("no datasets registered (add one with: " CLI_PROG " dataset add)\n");
	} else {
		list_datasets_table(all, n);
	}
out:
	free(all);
	db__close(db);
	return code;
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
	cli__format_time(ds->added_at, added);
	printf("id:           %s\nname:         ", ds->id);
	cli__print_safe(ds->name, 0);
	printf("\ntags:         ");
	cli__print_safe(tags, 0);
	printf("\ntype:         %s\n%s", ds->type,
	       is_idx(ds) ? "images:       " : is_folder(ds) ? "folder:       " : "path:         ");
	cli__print_safe(ds->path, 0);
	if (is_idx(ds) || (is_folder(ds) && ds->labels_path[0])) {
		printf(is_idx(ds) ? "\nlabels:       " : strcmp(ds->type, "nifti") == 0 ? "\ndemographics: " : "\nmanifest:     ");
		cli__print_safe(ds->labels_path, 0);
	}
	if (ds->options[0]) {
		printf("\noptions:      ");
		cli__print_safe(ds->options, 0);
	}
	printf("\ndescription:  ");
	cli__print_safe(ds->description, 0);
	printf("\nshape:        ");
	cli__print_safe(ds->shape[0] ? ds->shape : "-", 0);
	printf("\nsamples:      %" PRIu64 "\nfeatures:     %" PRIu64 "\n", ds->n_samples, ds->n_features);
	if (ds->n_classes)
		printf("classes:      %u\n", ds->n_classes);
	else
		printf("classes:      0 (regression target)\n");
	if (!is_idx(ds) && !is_folder(ds))
		printf("label column: %d\nheader:       %s\n", ds->label_column, ds->header);
	cli_schema__print_table(ds);
	printf("sha256:       %s%s\nadded:        %s\n", ds->digest,
	       is_idx(ds) ? " (images file, then labels file)" : is_folder(ds) ? " (every file of the folder)" : "",
	       added);
	if (ds->test_of[0])
		printf("test set of:  %s (used whole as its test rows)\n", ds->test_of);
	else
		printf("split:        %s\n", ds->split);
}

static void print_test_set(struct node_db *db, const struct node_dataset *ds)
{
	struct node_dataset *t = calloc(1, sizeof(*t));

	if (t && db__dataset_test_set(db, ds->id, t) == FEDC_OK) {
		printf("test set:     ");
		cli__print_safe(t->name, 0);
		printf(" (%s, %" PRIu64 " rows; the split is not used)\n", t->id, t->n_samples);
	}
	free(t);
}

/* The shared start of show and remove: the one ID|NAME argument, the
 * database, the dataset. -1 to go on (*db open, ds filled), else an exit
 * code. */
static int load_one(struct cli_ctx *ctx, const char *cmd, int argc, char **argv, struct node_dataset *ds,
		    struct node_db **db)
{
	const char *key = NULL;
	enum fedc_err rc;
	int code = cli__one_argument(dataset_usage, cmd, argc, argv, &key);

	if (code >= 0)
		return code;
	rc = cli__open_db(ctx, db);
	if (!rc)
		rc = db__dataset_get(*db, key, ds);
	return rc ? cli__op_failed(cmd, rc) : -1;
}

static int dataset_show(struct cli_ctx *ctx, int argc, char **argv)
{
	struct node_dataset *ds = calloc(1, sizeof(*ds));
	struct node_db *db = NULL;
	enum fedc_err rc;
	int code;

	if (!ds)
		return cli__op_failed("dataset show", FEDC_ERR_NOMEM);
	code = load_one(ctx, "dataset show", argc, argv, ds, &db);
	if (code >= 0)
		goto out;
	print_dataset(ds);
	if (!ds->test_of[0])
		print_test_set(db, ds);
	fflush(stdout);
	/* The record is shown either way; a file that no longer loads is an
	 * error the operator must see before the next round hits it. */
	rc = print_labels(ds);
	code = rc ? cli__op_failed("dataset show", rc) : 0;
out:
	db__close(db);
	free(ds);
	return code;
}

/* A dataset whose test set is registered stays until that one is removed. */
static enum fedc_err refuse_with_test_set(struct node_db *db, const struct node_dataset *ds)
{
	struct node_dataset *t = calloc(1, sizeof(*t));
	enum fedc_err rc = t ? db__dataset_test_set(db, ds->id, t) : FEDC_ERR_NOMEM;

	if (rc == FEDC_OK)
		rc = fedc_fail(FEDC_ERR_EXISTS, "\"%s\" has a test set, \"%s\": remove that one first", ds->name,
			       t->name);
	else if (rc == FEDC_ERR_NOT_FOUND)
		rc = FEDC_OK;
	free(t);
	return rc;
}

static int dataset_remove(struct cli_ctx *ctx, int argc, char **argv)
{
	struct node_dataset *ds = calloc(1, sizeof(*ds));
	struct node_db *db = NULL;
	enum fedc_err rc;
	int code;

	if (!ds)
		return cli__op_failed("dataset remove", FEDC_ERR_NOMEM);
	code = load_one(ctx, "dataset remove", argc, argv, ds, &db);
	if (code >= 0)
		goto out;
	rc = refuse_with_test_set(db, ds);
	if (!rc)
		rc = db__dataset_remove(db, ds->id);
	if (rc) {
		code = cli__op_failed("dataset remove", rc);
		goto out;
	}
	printf("removed dataset %s (", ds->id);
	cli__print_safe(ds->name, 0);
	printf("); the file %s is left in place\n", ds->path);
	code = 0;
out:
	db__close(db);
	free(ds);
	return code;
}

static const struct cli_command dataset_commands[] = {
	{ "add", dataset_add }, { "list", dataset_list }, { "show", dataset_show }, { "remove", dataset_remove },
	{ NULL, NULL },
};

int cli__dataset(struct cli_ctx *ctx, int argc, char **argv)
{
	return cli__dispatch("dataset", dataset_usage, dataset_commands, ctx, argc, argv);
}
