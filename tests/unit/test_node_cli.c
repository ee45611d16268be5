/* The admin CLI (node/cli.c), driven through cli__dataset and cli__plan
 * with a temporary data dir: exit codes, what lands in the database, and
 * that failures store nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "db.h"
#include "fedc/hash.h"
#include "fedc/uuid.h"

#define CSV_DIR FEDC_FIXTURES_DIR "/csv/"
#define BREAST FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv"
#define IDX_DIR FEDC_FIXTURES_DIR "/idx/"
#define TINY_IMAGES IDX_DIR "tiny-images-idx3-ubyte.gz"
#define TINY_LABELS IDX_DIR "tiny-labels-idx1-ubyte.gz"
#define OUT_CAP (64 * 1024)

struct fixture {
	char root[64];
	char data_dir[128], db_path[160]; /* what ctx.cfg's strings point at */
	struct cli_ctx ctx; /* config given, not loaded from a file */
	char out[OUT_CAP]; /* stdout of the last run */
	char err[OUT_CAP]; /* stderr of the last run */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "/tmp/fedc-test-cli-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	/* data_dir does not exist yet: the CLI creates it. */
	snprintf(f->data_dir, sizeof(f->data_dir), "%s/var/node", f->root);
	snprintf(f->db_path, sizeof(f->db_path), "%s/var/node/node.db", f->root);
	f->ctx.cfg.data_dir = f->data_dir;
	f->ctx.cfg.db_path = f->db_path;
	snprintf(f->ctx.cfg.node_id, sizeof(f->ctx.cfg.node_id), "node-test");
	f->ctx.cfg.max_blob_mb = 16;
	f->ctx.loaded = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static int temp_fd(struct fixture *f)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/capture-XXXXXX", f->root);
	fd = mkstemp(path);
	if (fd >= 0)
		unlink(path);
	return fd;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void slurp(int fd, char *buf)
{
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, OUT_CAP - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

/* Runs a command with stdout and stderr captured into f->out and f->err.
 * Arguments are copied: getopt may permute them. */
static int run(struct fixture *f, int (*cmd)(struct cli_ctx *, int, char **), ...)
{
	char *argv[32];
	int argc = 0, code, saved_out, saved_err;
	int out_fd = temp_fd(f);
	int err_fd = temp_fd(f);
	va_list ap;
	const char *a;

	assert_true(out_fd >= 0 && err_fd >= 0);
	va_start(ap, cmd);
	while ((a = va_arg(ap, const char *)) != NULL && argc < 31)
		argv[argc++] = strdup(a);
	va_end(ap);
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	dup2(out_fd, 1);
	dup2(err_fd, 2);
	code = cmd(&f->ctx, argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	slurp(out_fd, f->out);
	slurp(err_fd, f->err);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return code;
}

#define DATASET(f, ...) run((f), cli__dataset, "dataset", __VA_ARGS__, (const char *)NULL)
#define PLAN(f, ...) run((f), cli__plan, "plan", __VA_ARGS__, (const char *)NULL)

static size_t count_datasets(struct fixture *f)
{
	struct node_db *db = NULL;
	struct node_dataset *all = NULL;
	size_t n = 0;

	assert_int_equal(db__open(f->ctx.cfg.db_path, &db), FEDC_OK);
	assert_int_equal(db__dataset_list(db, &all, &n), FEDC_OK);
	free(all);
	db__close(db);
	return n;
}

static void get_plan(struct fixture *f, const char *digest, enum fedc_err want, struct node_plan *out)
{
	struct node_db *db = NULL;

	assert_int_equal(db__open(f->ctx.cfg.db_path, &db), FEDC_OK);
	assert_int_equal(db__plan_get(db, digest, out), want);
	db__close(db);
}

static void add_breast(struct fixture *f)
{
	int code = DATASET(f, "add", "--name", "breast", "--tags", "cancer, tabular", "--file", BREAST,
			   "--description", "Wisconsin diagnostic");

	if (code != 0)
		print_error("dataset add: %s\n", f->err);
	assert_int_equal(code, 0);
}

/* ---- dataset ---- */

static void test_dataset_add_stores_and_prints_id(void **state)
{
	struct fixture *f = *state;
	struct node_db *db = NULL;
	struct node_dataset ds;
	struct stat st;
	char id[64];

	add_breast(f);
	assert_int_equal(sscanf(f->out, "%63s", id), 1);
	assert_true(fedc_uuid_valid(id));
	assert_int_equal(stat(f->ctx.cfg.data_dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	assert_int_equal(db__open(f->ctx.cfg.db_path, &db), FEDC_OK);
	assert_int_equal(db__dataset_get(db, id, &ds), FEDC_OK);
	db__close(db);
	assert_string_equal(ds.name, "breast");
	assert_int_equal(ds.n_tags, 2);
	assert_string_equal(ds.tags[1], "tabular"); /* trimmed */
	assert_int_equal(ds.n_samples, 569);
	assert_int_equal(ds.n_features, 30);
	assert_int_equal(ds.n_classes, 2);
	assert_string_equal(ds.header, "counts");
	assert_string_equal(ds.description, "Wisconsin diagnostic");
	assert_int_equal(ds.path[0], '/');
}

static void test_dataset_add_relative_path_stored_absolute(void **state)
{
	struct fixture *f = *state;
	struct node_db *db = NULL;
	struct node_dataset ds;
	char cwd[4096];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(CSV_DIR), 0);
	assert_int_equal(DATASET(f, "add", "--name", "iris", "--tags", "flowers", "--file", "./names_header.csv"), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(db__open(f->ctx.cfg.db_path, &db), FEDC_OK);
	assert_int_equal(db__dataset_get(db, "iris", &ds), FEDC_OK);
	db__close(db);
	assert_non_null(strstr(ds.path, "/tests/fixtures/csv/names_header.csv"));
	assert_int_equal(ds.path[0], '/');
}

static void test_dataset_add_broken_file_stores_nothing(void **state)
{
	struct fixture *f = *state;

	add_breast(f);
	assert_int_equal(DATASET(f, "add", "--name", "bad", "--tags", "x", "--file", CSV_DIR "ragged_row.csv"), 1);
	assert_non_null(strstr(f->err, "fedc-node: dataset add: "));
	assert_non_null(strstr(f->err, "line 4, column 4: missing cell"));
	assert_int_equal(count_lines(f->err), 1);
	assert_string_equal(f->out, "");
	assert_int_equal(DATASET(f, "add", "--name", "gone", "--tags", "x", "--file", CSV_DIR "missing.csv"), 1);
	assert_non_null(strstr(f->err, "missing.csv"));
	assert_int_equal(count_datasets(f), 1);
}

static void test_dataset_add_duplicate_name(void **state)
{
	struct fixture *f = *state;

	add_breast(f);
	assert_int_equal(DATASET(f, "add", "--name", "breast", "--tags", "x", "--file", CSV_DIR "no_header.csv"), 1);
	assert_non_null(strstr(f->err, "already exists"));
	assert_int_equal(count_datasets(f), 1);
}

static void test_dataset_add_options(void **state)
{
	struct fixture *f = *state;
	struct node_db *db = NULL;
	struct node_dataset ds;

	assert_int_equal(DATASET(f, "add", "--name", "mid", "--tags", "t", "--file", CSV_DIR "label_middle.csv",
				 "--header", "names", "--label-column", "1"),
			 0);
	assert_int_equal(DATASET(f, "add", "--regression", "--name", "prices", "--tags", "t", "--file",
				 CSV_DIR "regression.csv"),
			 0);
	assert_int_equal(db__open(f->ctx.cfg.db_path, &db), FEDC_OK);
	assert_int_equal(db__dataset_get(db, "mid", &ds), FEDC_OK);
	assert_int_equal(ds.label_column, 1);
	assert_int_equal(ds.n_classes, 2);
	assert_int_equal(db__dataset_get(db, "prices", &ds), FEDC_OK);
	assert_int_equal(ds.n_classes, 0);
	db__close(db);
	/* The wrong label column gives classes without rows: a warning, not a refusal. */
	assert_int_equal(DATASET(f, "add", "--name", "oops", "--tags", "t", "--file", CSV_DIR "label_middle.csv"), 0);
	assert_non_null(strstr(f->err, "warning: only 4 of 161 classes"));
}

/* --split is stored with the dataset (the child splits accordingly); a
 * regression set cannot be stratified. */
static void test_dataset_add_split(void **state)
{
	struct fixture *f = *state;
	struct node_db *db = NULL;
	struct node_dataset ds;

	assert_int_equal(DATASET(f, "add", "--name", "strat", "--tags", "t", "--file", BREAST, "--split", "stratified"),
			 0);
	assert_int_equal(DATASET(f, "add", "--name", "plain", "--tags", "t", "--file", BREAST), 0);
	assert_int_equal(DATASET(f, "add", "--name", "x", "--tags", "t", "--file", BREAST, "--split", "evenly"), 2);
	assert_int_equal(DATASET(f, "add", "--regression", "--name", "prices", "--tags", "t", "--file",
				 CSV_DIR "regression.csv", "--split", "stratified"),
			 1);
	assert_non_null(strstr(f->err, "needs class labels"));
	assert_int_equal(db__open(f->ctx.cfg.db_path, &db), FEDC_OK);
	assert_int_equal(db__dataset_get(db, "strat", &ds), FEDC_OK);
	assert_string_equal(ds.split, "stratified");
	assert_int_equal(db__dataset_get(db, "plain", &ds), FEDC_OK);
	assert_string_equal(ds.split, "random");
	assert_int_equal(db__dataset_get(db, "prices", &ds), FEDC_ERR_NOT_FOUND);
	db__close(db);
	assert_int_equal(DATASET(f, "show", "strat"), 0);
	assert_non_null(strstr(f->out, "split:        stratified"));
}

/* --test-of: linked to its dataset, tags taken from it, one per dataset, of
 * the same kind; the dataset stays while its test set does. */
static void test_dataset_add_test_of(void **state)
{
	struct fixture *f = *state;
	struct node_db *db = NULL;
	struct node_dataset parent, ts;

	assert_int_equal(DATASET(f, "add", "--name", "breast", "--tags", "bc,tabular", "--file", BREAST), 0);
	assert_int_equal(DATASET(f, "add", "--name", "nope", "--file", BREAST, "--test-of", "missing"), 1);
	assert_non_null(strstr(f->err, "no such dataset"));
	assert_int_equal(DATASET(f, "add", "--name", "wide", "--file", CSV_DIR "label_middle.csv", "--header",
				 "names", "--label-column", "1", "--test-of", "breast"),
			 1);
	assert_non_null(strstr(f->err, "features here"));
	assert_int_equal(DATASET(f, "add", "--name", "x", "--file", BREAST, "--test-of", "breast", "--split",
				 "random"),
			 2);
	assert_int_equal(DATASET(f, "add", "--name", "held-out", "--file", BREAST, "--test-of", "breast"), 0);
	assert_int_equal(DATASET(f, "add", "--name", "second", "--file", BREAST, "--test-of", "breast"), 1);
	assert_non_null(strstr(f->err, "has a test set already"));
	assert_int_equal(DATASET(f, "add", "--name", "nested", "--file", BREAST, "--test-of", "held-out"), 1);
	assert_non_null(strstr(f->err, "itself a test set"));
	assert_int_equal(db__open(f->ctx.cfg.db_path, &db), FEDC_OK);
	assert_int_equal(db__dataset_get(db, "breast", &parent), FEDC_OK);
	assert_int_equal(db__dataset_get(db, "held-out", &ts), FEDC_OK);
	assert_string_equal(ts.test_of, parent.id);
	assert_int_equal(ts.n_tags, 2);
	assert_string_equal(ts.tags[1], "tabular");
	db__close(db);
	assert_int_equal(DATASET(f, "show", "breast"), 0);
	assert_non_null(strstr(f->out, "test set:     held-out"));
	assert_int_equal(DATASET(f, "remove", "breast"), 1);
	assert_non_null(strstr(f->err, "remove that one first"));
	assert_int_equal(DATASET(f, "remove", "held-out"), 0);
	assert_int_equal(DATASET(f, "remove", "breast"), 0);
}

static void test_dataset_usage_errors(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(DATASET(f, "add", "--name", "x", "--tags", "t"), 2); /* no --file */
	assert_non_null(strstr(f->err, "required"));
	assert_non_null(strstr(f->err, "usage:"));
	assert_int_equal(DATASET(f, "add", "--bogus"), 2);
	assert_non_null(strstr(f->err, "unknown option \"--bogus\""));
	assert_int_equal(DATASET(f, "add", "--file", BREAST, "--tags", "t", "--name"), 2);
	assert_non_null(strstr(f->err, "needs a value"));
	assert_int_equal(DATASET(f, "add", "--name", "x", "--tags", "t", "--file", BREAST, "--header", "maybe"), 2);
	assert_int_equal(DATASET(f, "add", "--name", "x", "--tags", "t", "--file", BREAST, "--label-column", "2x"), 2);
	assert_int_equal(DATASET(f, "add", "--name", "x", "--tags", "a,,b", "--file", BREAST), 2);
	assert_int_equal(DATASET(f, "add", "--name", "x", "--tags", "t", "--file", BREAST, "--type", "idx"), 2);
	assert_non_null(strstr(f->err, "--type idx needs --labels"));
	assert_int_equal(DATASET(f, "add", "--name", "x", "--tags", "t", "--file", BREAST, "--type", "parquet"), 2);
	assert_int_equal(DATASET(f, "add", "--name", "x", "--tags", "t", "--file", BREAST, "--labels", TINY_LABELS), 2);
	assert_non_null(strstr(f->err, "add --type idx"));
	assert_int_equal(DATASET(f, "add", "--type", "idx", "--name", "x", "--tags", "t", "--file", TINY_IMAGES,
				 "--labels", TINY_LABELS, "--header", "none"),
			 2);
	assert_non_null(strstr(f->err, "for CSV files"));
	assert_int_equal(DATASET(f, "add", "--type", "idx", "--name", "x", "--tags", "t", "--file", TINY_IMAGES,
				 "--labels"),
			 2);
	assert_int_equal(DATASET(f, "add", "--name", "x", "--tags", "t", "--file", BREAST, "extra"), 2);
	assert_int_equal(DATASET(f, "frobnicate"), 2);
	assert_int_equal(run(f, cli__dataset, "dataset", (const char *)NULL), 2);
	assert_int_equal(DATASET(f, "show"), 2);
	assert_int_equal(DATASET(f, "list", "--jsn"), 2);
	assert_int_equal(DATASET(f, "--help"), 0);
	assert_non_null(strstr(f->out, "usage:"));
	assert_int_equal(DATASET(f, "add", "--help"), 0);
	/* Nothing was stored, and a usage error does not even create the database. */
	assert_int_equal(access(f->ctx.cfg.db_path, F_OK), -1);
}

static void test_dataset_list_show_remove(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(DATASET(f, "list"), 0);
	assert_non_null(strstr(f->out, "no datasets"));
	add_breast(f);
	assert_int_equal(DATASET(f, "list"), 0);
	assert_non_null(strstr(f->out, "breast"));
	assert_non_null(strstr(f->out, "cancer,tabular"));
	assert_non_null(strstr(f->out, "569"));
	assert_int_equal(DATASET(f, "list", "--json"), 0);
	assert_int_equal(f->out[0], '[');
	assert_non_null(strstr(f->out, "\"name\":\"breast\""));
	assert_non_null(strstr(f->out, "\"tags\":[\"cancer\",\"tabular\"]"));
	assert_non_null(strstr(f->out, "\"n_samples\":569"));

	assert_non_null(strstr(f->out, "\"shape\":\"30\""));
	assert_non_null(strstr(f->out, "\"label_counts\":[212,357]"));
	assert_int_equal(DATASET(f, "list"), 0);
	assert_non_null(strstr(f->out, "LABEL COUNTS"));
	assert_non_null(strstr(f->out, "0=212 1=357"));

	assert_int_equal(DATASET(f, "show", "breast"), 0);
	assert_non_null(strstr(f->out, "shape:        30\n"));
	assert_non_null(strstr(f->out, "label counts: 0=212 1=357"));
	assert_non_null(strstr(f->out, "sha256:"));
	assert_int_equal(DATASET(f, "show", "nope"), 1);
	assert_non_null(strstr(f->err, "no dataset"));

	assert_int_equal(DATASET(f, "remove", "breast"), 0);
	assert_int_equal(count_datasets(f), 0);
	assert_int_equal(DATASET(f, "remove", "breast"), 1);
	assert_int_equal(access(BREAST, R_OK), 0); /* the data file itself stays */
}

/* A table with quoted text, missing cells and categorical columns: add
 * sums up its columns, show lists them, list --json gives them whole. */
static void test_dataset_messy_table_columns(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(DATASET(f, "add", "--name", "messy", "--tags", "t", "--file", CSV_DIR "quoted_messy.csv"), 0);
	assert_non_null(strstr(f->err, "columns: 2 numeric, 2 categorical, 0 text; 3 with missing cells"));
	assert_int_equal(DATASET(f, "show", "messy"), 0);
	assert_non_null(strstr(f->out, "columns:      4 features"));
	assert_non_null(strstr(f->out, "sex              categorical         0  F, M, m\n"));
	assert_non_null(strstr(f->out, "score            numeric             2  -\n"));
	assert_int_equal(DATASET(f, "list", "--json"), 0);
	assert_non_null(strstr(f->out, "{\"name\":\"note, free text\",\"type\":\"categorical\",\"missing\":1,"
				       "\"categories\":[\"plain\",\"said \\\"fine\\\", then left\",\"two\\u000d\\u000alines\"]}"));
	add_breast(f);
	assert_non_null(strstr(f->err, "columns: 30 numeric, no missing cells"));
	assert_int_equal(DATASET(f, "show", "breast"), 0);
	assert_non_null(strstr(f->out, "columns:      30 numeric features, no missing cells\n"));
	assert_int_equal(DATASET(f, "list", "--json"), 0);
	assert_non_null(strstr(f->out, "\"test_of\":\"\",\"columns\":null}"));
}

/* --label-classes: a label written as text; show names the classes. */
static void test_dataset_add_label_classes(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(DATASET(f, "add", "--name", "diag", "--tags", "t", "--file", CSV_DIR "text_label.csv"), 1);
	assert_non_null(strstr(f->err, "--label-classes"));
	assert_int_equal(DATASET(f, "add", "--name", "diag", "--tags", "t", "--file", CSV_DIR "text_label.csv",
				 "--label-classes", "B,M, M "), 0);
	assert_int_equal(DATASET(f, "show", "diag"), 0);
	assert_non_null(strstr(f->out, "classes:      3\n"));
	assert_non_null(strstr(f->out, "label classes: 0=B 1=M 2= M \n"));
	assert_non_null(strstr(f->out, "label counts: 0=1 1=1 2=1"));
	assert_int_equal(DATASET(f, "add", "--name", "r", "--tags", "t", "--file", CSV_DIR "text_label.csv",
				 "--label-classes", "B,M", "--regression"), 2);
	assert_non_null(strstr(f->err, "a --regression target has none"));
	assert_int_equal(DATASET(f, "add", "--name", "r", "--tags", "t", "--file", CSV_DIR "text_label.csv",
				 "--label-classes", "B;x=1"), 2);
	assert_non_null(strstr(f->err, "without ';', '='"));
	assert_int_equal(DATASET(f, "add", "--name", "r", "--tags", "t", "--file", CSV_DIR "text_label.csv",
				 "--label-classes", "B,,M"), 2);
	assert_int_equal(count_datasets(f), 1);
}

static void test_dataset_show_changed_file(void **state)
{
	struct fixture *f = *state;
	char path[256];
	FILE *out;

	snprintf(path, sizeof(path), "%s/data.csv", f->root);
	out = fopen(path, "w");
	assert_non_null(out);
	fputs("1,2,0\n3,4,1\n", out);
	fclose(out);
	assert_int_equal(DATASET(f, "add", "--name", "d", "--tags", "t", "--file", path), 0);
	out = fopen(path, "a");
	assert_non_null(out);
	fputs("5,6,1\n", out);
	fclose(out);
	assert_int_equal(DATASET(f, "show", "d"), 1);
	assert_non_null(strstr(f->out, "name:         d")); /* the record is still shown */
	assert_non_null(strstr(f->err, "changed since"));
}

/* ---- dataset: IDX image sets ---- */

static void add_tiny_idx(struct fixture *f, const char *name, const char *images, const char *labels)
{
	int code = DATASET(f, "add", "--type", "idx", "--name", name, "--tags", "images,tiny", "--file", images,
			   "--labels", labels);

	if (code != 0)
		print_error("dataset add: %s\n", f->err);
	assert_int_equal(code, 0);
}

static void test_dataset_add_idx(void **state)
{
	struct fixture *f = *state;
	struct node_db *db = NULL;
	struct node_dataset ds;
	char cwd[4096];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(IDX_DIR), 0); /* relative paths are stored absolute */
	add_tiny_idx(f, "tiny", "tiny-images-idx3-ubyte.gz", "./tiny-labels-idx1-ubyte.gz");
	assert_int_equal(chdir(cwd), 0);
	assert_non_null(strstr(f->err, "registered \"tiny\": 5 images of 4x3 (12 features), 3 classes"));
	assert_int_equal(db__open(f->ctx.cfg.db_path, &db), FEDC_OK);
	assert_int_equal(db__dataset_get(db, "tiny", &ds), FEDC_OK);
	db__close(db);
	assert_string_equal(ds.type, "idx");
	assert_string_equal(ds.path, TINY_IMAGES);
	assert_string_equal(ds.labels_path, TINY_LABELS);
	assert_string_equal(ds.shape, "4x3");
	assert_string_equal(ds.label_counts, "1,1,3");
	assert_int_equal(ds.n_samples, 5);
	assert_int_equal(ds.n_features, 12);
	assert_int_equal(ds.n_classes, 3);

	assert_int_equal(DATASET(f, "list"), 0);
	assert_non_null(strstr(f->out, "idx   4x3"));
	assert_non_null(strstr(f->out, "0=1 1=1 2=3"));
	assert_int_equal(DATASET(f, "list", "--json"), 0);
	assert_non_null(strstr(f->out, "\"type\":\"idx\""));
	assert_non_null(strstr(f->out, "\"labels_path\":\"" TINY_LABELS "\""));
	assert_non_null(strstr(f->out, "\"shape\":\"4x3\""));
	assert_non_null(strstr(f->out, "\"label_counts\":[1,1,3]"));
	assert_int_equal(DATASET(f, "show", "tiny"), 0);
	assert_non_null(strstr(f->out, "images:       " TINY_IMAGES "\n"));
	assert_non_null(strstr(f->out, "labels:       " TINY_LABELS "\n"));
	assert_non_null(strstr(f->out, "shape:        4x3\n"));
	assert_non_null(strstr(f->out, "label counts: 0=1 1=1 2=3\n"));
	assert_null(strstr(f->out, "label column:")); /* CSV only */
}

/* Every broken pair fails with one line naming the file, and stores nothing. */
static void test_dataset_add_idx_broken_stores_nothing(void **state)
{
	static const struct {
		const char *images, *labels, *says;
	} bad[] = {
		{ IDX_DIR "missing-images", TINY_LABELS, "missing-images: No such file" },
		{ IDX_DIR "bad-magic-images", TINY_LABELS, "bad-magic-images: not an IDX file" },
		{ IDX_DIR "truncated-images-idx3-ubyte", TINY_LABELS, "should hold 76 bytes; it holds 46" },
		{ TINY_IMAGES, IDX_DIR "four-labels-idx1-ubyte", "holds 4 labels" },
		{ IDX_DIR "corrupt-images-idx3-ubyte.gz", TINY_LABELS, "corrupt gzip data" },
		{ IDX_DIR "empty", TINY_LABELS, "empty: empty file" },
		{ IDX_DIR "zero-images-idx3-ubyte.gz", IDX_DIR "zero-labels-idx1-ubyte", "announces 0 images" },
		{ TINY_LABELS, TINY_IMAGES, "tiny-labels-idx1-ubyte.gz: has 1 dimension" },
		{ IDX_DIR "float-images-idx3", TINY_LABELS, "not supported" },
	};

	struct fixture *f = *state;

	add_tiny_idx(f, "good", TINY_IMAGES, TINY_LABELS);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int code = DATASET(f, "add", "--type", "idx", "--name", "bad", "--tags", "t", "--file", bad[i].images,
				   "--labels", bad[i].labels);

		if (code != 1 || !strstr(f->err, bad[i].says))
			print_error("%s: exit %d, stderr %s", bad[i].images, code, f->err);
		assert_int_equal(code, 1);
		assert_non_null(strstr(f->err, "fedc-node: dataset add: "));
		assert_non_null(strstr(f->err, bad[i].says));
		assert_int_equal(count_lines(f->err), 1);
		assert_string_equal(f->out, "");
	}
	assert_int_equal(count_datasets(f), 1);
}

static void test_dataset_show_changed_idx(void **state)
{
	struct fixture *f = *state;
	char images[256], labels[256], cmd[1024];
	FILE *out;

	snprintf(images, sizeof(images), "%s/images", f->root);
	snprintf(labels, sizeof(labels), "%s/labels", f->root);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && cp '%s' '%s'", TINY_IMAGES, images,
		 IDX_DIR "tiny-labels-idx1-ubyte", labels);
	assert_int_equal(system(cmd), 0);
	add_tiny_idx(f, "tiny", images, labels);
	assert_int_equal(DATASET(f, "show", "tiny"), 0);
	out = fopen(labels, "r+b");
	assert_non_null(out);
	fseek(out, 12, SEEK_SET);
	fputc(0, out); /* the last label, 2 -> 0 */
	fclose(out);
	assert_int_equal(DATASET(f, "show", "tiny"), 1);
	assert_non_null(strstr(f->out, "name:         tiny"));
	assert_non_null(strstr(f->err, "changed since dataset \"tiny\" was registered"));
}

/* ---- plan ---- */

static void write_plan_file(struct fixture *f, const char *content, char *path, size_t cap, char *digest)
{
	FILE *out;

	snprintf(path, cap, "%s/logreg.so", f->root);
	out = fopen(path, "w");
	assert_non_null(out);
	fputs(content, out);
	fclose(out);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, path, digest), FEDC_OK);
}

static void test_plan_approve_file_keeps_a_copy(void **state)
{
	struct fixture *f = *state;
	char path[256], digest[FEDC_SHA256_HEXLEN + 1], kept_digest[FEDC_SHA256_HEXLEN + 1], kept[512];
	struct node_plan p;

	write_plan_file(f, "\177ELF pretend shared object", path, sizeof(path), digest);
	assert_int_equal(PLAN(f, "approve", path, "--notes", "reviewed"), 0);
	assert_non_null(strstr(f->out, digest));
	get_plan(f, digest, FEDC_OK, &p);
	assert_int_equal(p.status, NODE_PLAN_APPROVED);
	assert_string_equal(p.name, "logreg.so");
	assert_string_equal(p.notes, "reviewed");
	assert_string_equal(p.requested_by, "admin");
	snprintf(kept, sizeof(kept), "%s/var/node/plans/%s.so", f->root, digest);
	assert_string_equal(p.path, kept);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, kept, kept_digest), FEDC_OK);
	assert_string_equal(kept_digest, digest);

	assert_int_equal(PLAN(f, "show", digest), 0);
	assert_non_null(strstr(f->out, "approved"));
	assert_non_null(strstr(f->out, kept));
	assert_int_equal(PLAN(f, "remove", digest), 0);
	assert_int_equal(access(kept, F_OK), -1);
	get_plan(f, digest, FEDC_ERR_NOT_FOUND, &p);
	assert_int_equal(PLAN(f, "remove", digest), 1);
	assert_int_equal(access(path, F_OK), 0); /* the operator's own file stays */
}

static void test_plan_approve_pending_digest(void **state)
{
	struct fixture *f = *state;
	const char *digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct node_db *db = NULL;
	struct node_plan p = { 0 };

	/* As the daemon does on an `approval` request. */
	snprintf(p.digest, sizeof(p.digest), "%s", digest);
	snprintf(p.name, sizeof(p.name), "from-researcher");
	snprintf(p.requested_by, sizeof(p.requested_by), "researcher-7");
	assert_int_equal(PLAN(f, "list"), 0); /* creates the database */
	assert_int_equal(db__open(f->ctx.cfg.db_path, &db), FEDC_OK);
	assert_int_equal(db__plan_register(db, &p, NULL), FEDC_OK);
	db__close(db);

	assert_int_equal(PLAN(f, "approve", "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"), 0);
	get_plan(f, digest, FEDC_OK, &p);
	assert_int_equal(p.status, NODE_PLAN_APPROVED);
	assert_string_equal(p.requested_by, "researcher-7");
	assert_string_equal(p.name, "from-researcher");
	assert_int_equal(PLAN(f, "reject", digest, "--notes", "changed my mind"), 0);
	get_plan(f, digest, FEDC_OK, &p);
	assert_int_equal(p.status, NODE_PLAN_REJECTED);
	assert_string_equal(p.notes, "changed my mind");

	assert_int_equal(PLAN(f, "list"), 0);
	assert_non_null(strstr(f->out, digest));
	assert_non_null(strstr(f->out, "rejected"));
	assert_int_equal(PLAN(f, "list", "--json"), 0);
	assert_non_null(strstr(f->out, "\"status\":\"rejected\""));
	assert_non_null(strstr(f->out, "\"requested_by\":\"researcher-7\""));
}

static void test_plan_reject_file(void **state)
{
	struct fixture *f = *state;
	char path[256], digest[FEDC_SHA256_HEXLEN + 1], kept[512];
	struct node_plan p;

	write_plan_file(f, "some other plan", path, sizeof(path), digest);
	assert_int_equal(PLAN(f, "reject", path, "--name", "nope"), 0);
	get_plan(f, digest, FEDC_OK, &p);
	assert_int_equal(p.status, NODE_PLAN_REJECTED);
	assert_string_equal(p.name, "nope");
	snprintf(kept, sizeof(kept), "%s/var/node/plans/%s.so", f->root, digest);
	assert_int_equal(access(kept, F_OK), -1); /* a rejected plan is not kept */
}

/* A file in the working directory named like a digest does not shadow the
 * digest: `plan approve DIGEST` decides that digest (and says the file was
 * not read); the file is approved only when named as a path (./NAME). */
static void test_plan_digest_shadowed_by_file(void **state)
{
	struct fixture *f = *state;
	const char *asked = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char path[256], named[320], dot[80], file_digest[FEDC_SHA256_HEXLEN + 1], kept[512], cwd[4096];
	struct node_plan p;

	write_plan_file(f, "\177ELF a plan planted under a digest's name", path, sizeof(path), file_digest);
	snprintf(named, sizeof(named), "%s/%s", f->root, asked);
	assert_int_equal(rename(path, named), 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->root), 0);
	for (int reject = 0; reject < 2; reject++) {
		int code = PLAN(f, reject ? "reject" : "approve", asked);

		assert_int_equal(code, 0);
		assert_non_null(strstr(f->out, asked));
		assert_null(strstr(f->out, file_digest));
		assert_non_null(strstr(f->err, "taken as a digest, not as the file of that name"));
		get_plan(f, asked, FEDC_OK, &p);
		assert_int_equal(p.status, reject ? NODE_PLAN_REJECTED : NODE_PLAN_APPROVED);
		assert_string_equal(p.path, ""); /* nothing read, nothing kept */
		get_plan(f, file_digest, FEDC_ERR_NOT_FOUND, &p);
	}
	snprintf(kept, sizeof(kept), "%s/var/node/plans/%s.so", f->root, file_digest);
	assert_int_equal(access(kept, F_OK), -1);
	snprintf(dot, sizeof(dot), "./%s", asked);
	assert_int_equal(PLAN(f, "approve", dot), 0); /* as a path: the file */
	assert_int_equal(chdir(cwd), 0);
	assert_non_null(strstr(f->out, file_digest));
	get_plan(f, file_digest, FEDC_OK, &p);
	assert_int_equal(p.status, NODE_PLAN_APPROVED);
	assert_string_equal(p.path, kept);
	get_plan(f, asked, FEDC_OK, &p);
	assert_int_equal(p.status, NODE_PLAN_REJECTED); /* untouched */
	assert_int_equal(PLAN(f, "--help"), 0);
	assert_non_null(strstr(f->out, "always taken as a digest"));
}

/* [security] plan_digest = blake2b-512: plans are listed by that digest;
 * an entry keeps its algorithm when the setting changes later. */
static void test_plan_digest_algorithms(void **state)
{
	struct fixture *f = *state;
	char path[256], sha256[FEDC_SHA256_HEXLEN + 1], blake[FEDC_HASH_MAX_HEXLEN + 1], sha512[FEDC_HASH_MAX_HEXLEN + 1];
	struct node_plan p;

	write_plan_file(f, "\177ELF a plan approved by BLAKE2b", path, sizeof(path), sha256);
	assert_int_equal(fedc_hash_file(FEDC_HASH_BLAKE2B_512, path, blake), FEDC_OK);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA512, path, sha512), FEDC_OK);
	f->ctx.cfg.plan_digest = FEDC_HASH_BLAKE2B_512;
	if (PLAN(f, "approve", path) != 0)
		fail_msg("%s", f->err);
	assert_non_null(strstr(f->out, blake));
	get_plan(f, blake, FEDC_OK, &p);
	assert_string_equal(p.algorithm, "blake2b-512");
	assert_int_equal(p.status, NODE_PLAN_APPROVED);
	get_plan(f, sha256, FEDC_ERR_NOT_FOUND, &p);
	assert_int_equal(PLAN(f, "show", blake), 0);
	assert_non_null(strstr(f->out, "blake2b-512"));

	/* the operator switches to SHA-512: the entry is still found by its file */
	f->ctx.cfg.plan_digest = FEDC_HASH_SHA512;
	assert_int_equal(PLAN(f, "reject", path), 0);
	get_plan(f, blake, FEDC_OK, &p);
	assert_int_equal(p.status, NODE_PLAN_REJECTED);
	get_plan(f, sha512, FEDC_ERR_NOT_FOUND, &p);
	assert_int_equal(PLAN(f, "show", "abcd"), 2);
	assert_non_null(strstr(f->err, "64 or 128 hex digits"));
}

/* Loads `path` into `cfg` (zeroed, or loaded before: what it held is freed). */
static enum fedc_err reload(const char *path, struct node_config *cfg)
{
	node_config__free(cfg);
	return node_config__load(path, cfg);
}

static void test_plan_digest_config(void **state)
{
	struct fixture *f = *state;
	struct node_config *cfg = calloc(1, sizeof(*cfg));
	char path[128];
	FILE *out;

	snprintf(path, sizeof(path), "%s/node.ini", f->root);
	out = fopen(path, "w");
	assert_non_null(out);
	fprintf(out, "[node]\nid = n1\nfederation = f\ndata_dir = %s/d\n[broker]\nurl = tcp://127.0.0.1:1\n"
		     "[repository]\nurl = http://127.0.0.1:2\n[security]\nplan_digest = sha3-256\n", f->root);
	fclose(out);
	assert_int_equal(reload(path, cfg), FEDC_OK);
	assert_int_equal(cfg->plan_digest, FEDC_HASH_SHA3_256);
	out = fopen(path, "a");
	fputs("[security]\nplan_digest = md5\n", out);
	fclose(out);
	assert_int_equal(reload(path, cfg), FEDC_ERR_CONFIG);
	if (!strstr(fedc_last_error(), "plan_digest"))
		fail_msg("%s", fedc_last_error());
	node_config__free(cfg);
	free(cfg);
}

/* [broker], [repository] and [security] credentials: paths are taken
 * relative to the file, and contradictory or out-of-range keys are refused
 * by name. */
static void test_security_config(void **state)
{
	struct fixture *f = *state;
	struct node_config *cfg = calloc(1, sizeof(*cfg));
	/* extra lines for [broker], [repository] and [security], and the words the error must hold */
	static const char *const bad[][4] = {
		{ "cert_file = c.pem\n", "", "", "cert_file and key_file" },
		{ "", "token = t\ntoken_file = t.txt\n", "", "token and token_file" },
		{ "", "", "max_clock_skew_s = 0\n", "max_clock_skew_s" },
		{ "", "", "allow_unsigned_commands = perhaps\n", "allow_unsigned_commands" },
		{ "", "", "signing_keys = k\n", "signing_keys" },
	};
	char path[128], expect[256];
	FILE *out;

	snprintf(path, sizeof(path), "%s/node.ini", f->root);
	out = fopen(path, "w");
	assert_non_null(out);
	fprintf(out, "[node]\nid = n1\ndata_dir = d\n[broker]\nurl = ssl://127.0.0.1:1\nca_file = ca.pem\n"
		     "cert_file = client.pem\nkey_file = client.key\nusername = n1\npassword_file = pw\n"
		     "[repository]\nurl = https://127.0.0.1:2\ntoken_file = tok\n"
		     "[security]\nsigning_key = signing.key\ntrusted_keys_dir = trusted\n");
	fclose(out);
	assert_int_equal(reload(path, cfg), FEDC_OK);
	snprintf(expect, sizeof(expect), "%s/trusted", f->root);
	assert_string_equal(cfg->trusted_keys_dir, expect);
	snprintf(expect, sizeof(expect), "%s/pw", f->root);
	assert_string_equal(cfg->broker_password_file, expect);
	assert_int_equal(cfg->max_clock_skew_s, 300);
	assert_false(cfg->allow_unsigned_commands);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = fopen(path, "w");
		fprintf(out, "[node]\nid = n1\ndata_dir = d\n[broker]\nurl = tcp://127.0.0.1:1\n%s"
			     "[repository]\nurl = http://127.0.0.1:2\n%s[security]\n%s", bad[i][0], bad[i][1], bad[i][2]);
		fclose(out);
		assert_int_equal(reload(path, cfg), FEDC_ERR_CONFIG);
		if (!strstr(fedc_last_error(), bad[i][3]))
			fail_msg("case %zu: \"%s\" not in \"%s\"", i, bad[i][3], fedc_last_error());
	}
	node_config__free(cfg);
	free(cfg);
}

/* [limits] plan_process_idle_s: 300 s by default, 0 allowed (a process per
 * round), negative or non-numeric values refused by name. */
static void test_plan_process_idle_config(void **state)
{
	struct fixture *f = *state;
	struct node_config *cfg = calloc(1, sizeof(*cfg));
	static const char *const values[] = { "0", "-1", "soon" };
	char path[128];
	FILE *out;

	snprintf(path, sizeof(path), "%s/node.ini", f->root);
	for (size_t i = 0; i <= sizeof(values) / sizeof(values[0]); i++) {
		out = fopen(path, "w");
		assert_non_null(out);
		fprintf(out, "[node]\nid = n1\ndata_dir = d\n[broker]\nurl = tcp://127.0.0.1:1\n"
			     "[repository]\nurl = http://127.0.0.1:2\n[limits]\n");
		if (i > 0)
			fprintf(out, "plan_process_idle_s = %s\n", values[i - 1]);
		fclose(out);
		if (i <= 1) {
			assert_int_equal(reload(path, cfg), FEDC_OK);
			assert_int_equal(cfg->plan_process_idle_s, i == 0 ? 300 : 0);
		} else {
			assert_int_equal(reload(path, cfg), FEDC_ERR_CONFIG);
			if (!strstr(fedc_last_error(), "plan_process_idle_s"))
				fail_msg("%s", fedc_last_error());
		}
	}
	node_config__free(cfg);
	free(cfg);
}

static void test_plan_approve_too_big_keeps_nothing(void **state)
{
	struct fixture *f = *state;
	char path[256], digest[FEDC_SHA256_HEXLEN + 1], plans[128];
	struct node_plan p;
	DIR *dir;
	struct dirent *e;
	int entries = 0;

	write_plan_file(f, "a plan bigger than the limit", path, sizeof(path), digest);
	f->ctx.cfg.max_blob_mb = 0;
	assert_int_equal(PLAN(f, "approve", path), 1);
	assert_non_null(strstr(f->err, "larger than max_blob_mb"));
	get_plan(f, digest, FEDC_ERR_NOT_FOUND, &p);
	snprintf(plans, sizeof(plans), "%s/var/node/plans", f->root);
	dir = opendir(plans);
	assert_non_null(dir);
	while ((e = readdir(dir)) != NULL)
		entries += e->d_name[0] != '.' || strncmp(e->d_name, ".approve-", 9) == 0;
	closedir(dir);
	assert_int_equal(entries, 0); /* no temp file left behind */
}

static void test_plan_errors(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(PLAN(f, "approve", "/no/such/plan.so"), 1);
	assert_non_null(strstr(f->err, "neither an existing file nor a digest (64 or 128 hex digits)"));
	assert_int_equal(PLAN(f, "approve"), 2);
	assert_int_equal(PLAN(f, "approve", "a", "b"), 2);
	assert_int_equal(PLAN(f, "approve", "--colour", "x"), 2);
	assert_int_equal(PLAN(f, "show", "1234"), 2);
	assert_int_equal(PLAN(f, "show", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), 1);
	assert_non_null(strstr(f->err, "no training plan"));
	assert_int_equal(PLAN(f, "frobnicate"), 2);
	assert_int_equal(PLAN(f, "list", "extra"), 2);
	assert_int_equal(PLAN(f, "--help"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dataset_add_stores_and_prints_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_add_relative_path_stored_absolute, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_add_broken_file_stores_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_add_duplicate_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_add_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_usage_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_list_show_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_add_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_add_test_of, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_messy_table_columns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_add_label_classes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_show_changed_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_add_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_add_idx_broken_stores_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_show_changed_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_approve_file_keeps_a_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_approve_pending_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_reject_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_digest_shadowed_by_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_digest_algorithms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_digest_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_process_idle_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_security_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_approve_too_big_keeps_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
