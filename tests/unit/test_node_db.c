/* The node database (node/db.c): schema migration (a fresh file, and a file
 * of schema 1 holding a dataset), datasets with tags, CSV and IDX, the plan
 * approval list, and two writers on one file at the same time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "fedc/source_bundle.h"

#define DIGEST_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIGEST_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DIGEST_C "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct fixture {
	char dir[64];
	char path[128];
	struct node_db *db;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/fedc-test-db-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/node.db", f->dir);
	if (db__open(f->path, &f->db) != FEDC_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	db__close(f->db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* One integer from a raw SQL query, bypassing db.c. */
static long long raw_int(const char *path, const char *sql)
{
	sqlite3 *conn = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	assert_int_equal(sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(conn, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(conn);
	return v;
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *conn = NULL;

	assert_int_equal(sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(conn, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(conn);
}

/* Runs `sql` on a new database file. */
static void raw_exec_new(const char *path, const char *sql)
{
	sqlite3 *conn = NULL;

	assert_int_equal(sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(conn, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(conn);
}

static void make_dataset(struct node_dataset *ds, const char *name, const char *tags_csv)
{
	char copy[256];
	char *save = NULL;

	memset(ds, 0, sizeof(*ds));
	snprintf(ds->name, sizeof(ds->name), "%s", name);
	snprintf(ds->type, sizeof(ds->type), "csv");
	snprintf(ds->path, sizeof(ds->path), "/data/%s.csv", name);
	snprintf(ds->description, sizeof(ds->description), "about %s", name);
	snprintf(ds->header, sizeof(ds->header), "counts");
	snprintf(ds->digest, sizeof(ds->digest), DIGEST_C);
	ds->n_samples = 569;
	ds->n_features = 30;
	ds->n_classes = 2;
	ds->label_column = 30;
	snprintf(ds->shape, sizeof(ds->shape), "30");
	snprintf(ds->label_counts, sizeof(ds->label_counts), "212,357");
	snprintf(ds->split, sizeof(ds->split), "random");
	snprintf(copy, sizeof(copy), "%s", tags_csv);
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		snprintf(ds->tags[ds->n_tags++], sizeof(ds->tags[0]), "%s", t);
}

/* ---- schema ---- */

static void test_open_sets_wal_and_schema_version(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 9);
	db__close(f->db);
	f->db = NULL;
	assert_int_equal(db__open(f->path, &f->db), FEDC_OK); /* reopening migrates nothing */
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 9);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE name = 'dataset_tags'"), 1);
	{
		sqlite3 *conn = NULL;
		sqlite3_stmt *st = NULL;

		assert_int_equal(sqlite3_open(f->path, &conn), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(conn, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
		sqlite3_finalize(st);
		sqlite3_close(conn);
	}
}

static void test_newer_schema_is_refused(void **state)
{
	struct fixture *f = *state;
	struct node_db *db = NULL;

	raw_exec(f->path, "PRAGMA user_version = 99");
	assert_int_equal(db__open(f->path, &db), FEDC_ERR_DB);
	assert_null(db);
	assert_non_null(strstr(fedc_last_error(), "newer"));
	assert_non_null(strstr(fedc_last_error(), f->path));
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 99); /* left alone */
}

/* A database written by fedc-node before IDX support (schema 1, as its
 * migration created it) keeps its dataset and gains the new columns. */
static void test_migrate_schema_1_keeps_datasets(void **state)
{
	struct fixture *f = *state;
	struct node_dataset got, idx;
	char path[160];

	snprintf(path, sizeof(path), "%s/old.db", f->dir);
	raw_exec_new(path,
		     "CREATE TABLE datasets (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, type TEXT NOT NULL,"
		     " path TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',"
		     " n_samples INTEGER NOT NULL CHECK (n_samples >= 0), n_features INTEGER NOT NULL CHECK"
		     " (n_features >= 0), n_classes INTEGER NOT NULL CHECK (n_classes >= 0), label_column INTEGER"
		     " NOT NULL, header TEXT NOT NULL, digest TEXT NOT NULL, added_at INTEGER NOT NULL);"
		     "CREATE TABLE dataset_tags (dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,"
		     " position INTEGER NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (dataset_id, tag));"
		     "CREATE INDEX dataset_tags_by_tag ON dataset_tags(tag);"
		     "CREATE TABLE training_plans (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '',"
		     " digest TEXT NOT NULL UNIQUE, algorithm TEXT NOT NULL DEFAULT 'sha256', status TEXT NOT NULL"
		     " CHECK (status IN ('pending', 'approved', 'rejected')), requested_by TEXT NOT NULL DEFAULT '',"
		     " requested_at INTEGER NOT NULL, decided_at INTEGER NOT NULL DEFAULT 0, notes TEXT NOT NULL"
		     " DEFAULT '', path TEXT NOT NULL DEFAULT '');"
		     "INSERT INTO datasets VALUES ('0b9a7c1e-0000-4000-8000-000000000001', 'breast', 'csv',"
		     " '/data/breast.csv', 'old', 569, 30, 2, 30, 'counts', '" DIGEST_C "', 1700000000);"
		     "INSERT INTO dataset_tags VALUES ('0b9a7c1e-0000-4000-8000-000000000001', 0, 'cancer');"
		     "INSERT INTO training_plans (name, digest, status, requested_at) VALUES ('old', '" DIGEST_A "',"
		     " 'pending', 1700000000);"
		     "PRAGMA user_version = 1;");
	db__close(f->db);
	f->db = NULL;
	assert_int_equal(db__open(path, &f->db), FEDC_OK);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 9);
	assert_int_equal(db__dataset_get(f->db, "breast", &got), FEDC_OK);
	assert_string_equal(got.type, "csv");
	assert_string_equal(got.shape, "30");   /* filled in from n_features */
	assert_string_equal(got.labels_path, "");
	assert_string_equal(got.label_counts, ""); /* unknown until counted */
	assert_int_equal(got.n_samples, 569);
	assert_string_equal(got.tags[0], "cancer");
	/* and the migrated file takes an IDX set */
	make_dataset(&idx, "fmnist", "images");
	snprintf(idx.type, sizeof(idx.type), "idx");
	assert_int_equal(db__dataset_add(f->db, &idx), FEDC_OK);
	/* and a plan of then takes the source of a later request (schema 9) */
	assert_int_equal(db__plan_source_put(f->db, DIGEST_A, DIGEST_B, "FEDCSRC1", 8, NULL), FEDC_OK);
}

static void test_open_not_a_database(void **state)
{
	struct fixture *f = *state;
	struct node_db *db = NULL;
	char path[160];
	FILE *out;

	snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
	out = fopen(path, "w");
	assert_non_null(out);
	for (int i = 0; i < 200; i++)
		fputs("this is not an sqlite file. ", out);
	fclose(out);
	assert_int_equal(db__open(path, &db), FEDC_ERR_DB);
	assert_non_null(strstr(fedc_last_error(), path));
	snprintf(path, sizeof(path), "%s/missing/dir/node.db", f->dir);
	assert_int_equal(db__open(path, &db), FEDC_ERR_DB);
	assert_null(db);
}

/* ---- datasets ---- */

static void test_dataset_add_get_list(void **state)
{
	struct fixture *f = *state;
	struct node_dataset a, b, c, got;
	struct node_dataset *all = NULL;
	size_t n = 0;

	make_dataset(&a, "breast", "cancer,tabular,site-a");
	make_dataset(&b, "fmnist", "images");
	/* an IDX set: two files, a shape, no CSV header */
	snprintf(b.type, sizeof(b.type), "idx");
	snprintf(b.path, sizeof(b.path), "/data/train-images-idx3-ubyte.gz");
	snprintf(b.labels_path, sizeof(b.labels_path), "/data/train-labels-idx1-ubyte.gz");
	snprintf(b.shape, sizeof(b.shape), "28x28");
	snprintf(b.label_counts, sizeof(b.label_counts), "6000,6000,6000,6000,6000,6000,6000,6000,6000,6000");
	memset(b.header, 0, sizeof(b.header));
	b.label_column = -1;
	b.n_samples = 60000;
	b.n_features = 784;
	b.n_classes = 10;
	assert_int_equal(db__dataset_add(f->db, &a), FEDC_OK);
	assert_int_equal(db__dataset_add(f->db, &b), FEDC_OK);
	assert_int_equal(strlen(a.id), 36);
	assert_true(a.added_at > 0);
	assert_string_not_equal(a.id, b.id);

	assert_int_equal(db__dataset_get(f->db, a.id, &got), FEDC_OK);
	assert_memory_equal(&got, &a, sizeof(got)); /* every field round-trips */
	assert_int_equal(db__dataset_get(f->db, "breast", &got), FEDC_OK);
	assert_string_equal(got.id, a.id);
	assert_int_equal(got.n_tags, 3);
	assert_string_equal(got.tags[2], "site-a"); /* tags keep their order */
	assert_int_equal(db__dataset_get(f->db, "nope", &got), FEDC_ERR_NOT_FOUND);
	assert_int_equal(db__dataset_get(f->db, "fmnist", &got), FEDC_OK);
	assert_memory_equal(&got, &b, sizeof(got));
	/* a dataset named like another's id: the id wins, the name still finds it */
	make_dataset(&c, a.id, "confusing");
	assert_int_equal(db__dataset_add(f->db, &c), FEDC_OK);
	assert_int_equal(db__dataset_get(f->db, a.id, &got), FEDC_OK);
	assert_string_equal(got.name, "breast");
	assert_int_equal(db__dataset_get(f->db, c.id, &got), FEDC_OK);
	assert_string_equal(got.name, a.id);

	assert_int_equal(db__dataset_list(f->db, &all, &n), FEDC_OK);
	assert_int_equal(n, 3);
	free(all);
}

static void test_dataset_search_by_tags(void **state)
{
	struct fixture *f = *state;
	struct node_dataset a, b, c;
	struct node_dataset *found = NULL;
	const char tags[3][FEDC_MAX_TAG_LEN + 1] = { "tabular", "cancer", "site-a" };
	const char other[1][FEDC_MAX_TAG_LEN + 1] = { "images" };
	size_t n = 0;

	make_dataset(&a, "breast", "cancer,tabular,site-a");
	make_dataset(&b, "iris", "tabular");
	make_dataset(&c, "breast-b", "cancer,tabular");
	assert_int_equal(db__dataset_add(f->db, &a), FEDC_OK);
	assert_int_equal(db__dataset_add(f->db, &b), FEDC_OK);
	assert_int_equal(db__dataset_add(f->db, &c), FEDC_OK);

	assert_int_equal(db__dataset_search(f->db, tags, 1, &found, &n), FEDC_OK);
	assert_int_equal(n, 3);
	free(found);
	assert_int_equal(db__dataset_search(f->db, tags, 2, &found, &n), FEDC_OK);
	assert_int_equal(n, 2);
	free(found);
	assert_int_equal(db__dataset_search(f->db, tags, 3, &found, &n), FEDC_OK);
	assert_int_equal(n, 1);
	assert_string_equal(found[0].name, "breast");
	free(found);
	assert_int_equal(db__dataset_search(f->db, other, 1, &found, &n), FEDC_OK);
	assert_int_equal(n, 0);
	assert_null(found);
	assert_int_equal(db__dataset_search(f->db, tags, 0, &found, &n), FEDC_ERR_INVAL);
}

/* A test set is found from its dataset's side, whole, and only there. */
static void test_dataset_test_set(void **state)
{
	struct fixture *f = *state;
	struct node_dataset a, other, t, got;

	make_dataset(&a, "breast", "cancer");
	make_dataset(&other, "iris", "tabular");
	assert_int_equal(db__dataset_add(f->db, &a), FEDC_OK);
	assert_int_equal(db__dataset_add(f->db, &other), FEDC_OK);
	assert_int_equal(db__dataset_test_set(f->db, a.id, &got), FEDC_ERR_NOT_FOUND);
	make_dataset(&t, "breast-test", "cancer,test");
	snprintf(t.test_of, sizeof(t.test_of), "%s", a.id);
	assert_int_equal(db__dataset_add(f->db, &t), FEDC_OK);
	assert_int_equal(db__dataset_test_set(f->db, a.id, &got), FEDC_OK);
	assert_memory_equal(&got, &t, sizeof(got));
	assert_int_equal(db__dataset_test_set(f->db, other.id, &got), FEDC_ERR_NOT_FOUND);
	assert_int_equal(db__dataset_test_set(f->db, t.id, &got), FEDC_ERR_NOT_FOUND);
}

static void test_dataset_remove_cascades_tags(void **state)
{
	struct fixture *f = *state;
	struct node_dataset a, b, got;

	make_dataset(&a, "breast", "cancer,tabular");
	make_dataset(&b, "iris", "tabular");
	assert_int_equal(db__dataset_add(f->db, &a), FEDC_OK);
	assert_int_equal(db__dataset_add(f->db, &b), FEDC_OK);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM dataset_tags"), 3);
	assert_int_equal(db__dataset_remove(f->db, "breast"), FEDC_OK);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM dataset_tags"), 1);
	assert_int_equal(db__dataset_get(f->db, a.id, &got), FEDC_ERR_NOT_FOUND);
	assert_int_equal(db__dataset_remove(f->db, "breast"), FEDC_ERR_NOT_FOUND);
	assert_int_equal(db__dataset_remove(f->db, b.id), FEDC_OK);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM dataset_tags"), 0);
}

static void test_dataset_duplicate_name(void **state)
{
	struct fixture *f = *state;
	struct node_dataset a, again;

	make_dataset(&a, "breast", "cancer");
	make_dataset(&again, "breast", "other,tags");
	assert_int_equal(db__dataset_add(f->db, &a), FEDC_OK);
	assert_int_equal(db__dataset_add(f->db, &again), FEDC_ERR_EXISTS);
	assert_non_null(strstr(fedc_last_error(), "breast"));
	/* Nothing of the refused one was kept (its tags were rolled back too). */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM datasets"), 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM dataset_tags"), 1);
}

static void test_dataset_bad_tags(void **state)
{
	struct fixture *f = *state;
	struct node_dataset a;

	make_dataset(&a, "breast", "cancer,cancer");
	assert_int_equal(db__dataset_add(f->db, &a), FEDC_ERR_INVAL);
	make_dataset(&a, "breast", "cancer");
	snprintf(a.tags[0], sizeof(a.tags[0]), "bad\ttag");
	assert_int_equal(db__dataset_add(f->db, &a), FEDC_ERR_INVAL);
	make_dataset(&a, "", "cancer");
	assert_int_equal(db__dataset_add(f->db, &a), FEDC_ERR_INVAL);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM datasets"), 0);
}

/* ---- plans ---- */

static void make_plan(struct node_plan *p, const char *digest, const char *name, const char *by)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->digest, sizeof(p->digest), "%s", digest);
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->algorithm, sizeof(p->algorithm), "sha256");
	snprintf(p->requested_by, sizeof(p->requested_by), "%s", by);
}

static void test_plan_register_approve_reject(void **state)
{
	struct fixture *f = *state;
	struct node_plan p, stored, got;

	make_plan(&p, DIGEST_A, "logreg", "researcher-1");
	assert_int_equal(db__plan_register(f->db, &p, &stored), FEDC_OK);
	assert_int_equal(stored.status, NODE_PLAN_PENDING);
	assert_string_equal(stored.requested_by, "researcher-1");
	assert_true(stored.requested_at > 0);
	assert_int_equal(stored.decided_at, 0);

	assert_int_equal(db__plan_set_status(f->db, DIGEST_A, NODE_PLAN_APPROVED, NULL, "reviewed by dpo"),
			 FEDC_OK);
	assert_int_equal(db__plan_get(f->db, DIGEST_A, &got), FEDC_OK);
	assert_int_equal(got.status, NODE_PLAN_APPROVED);
	assert_string_equal(got.name, "logreg"); /* NULL name keeps it */
	assert_string_equal(got.notes, "reviewed by dpo");
	assert_true(got.decided_at > 0);
	assert_string_equal(db__plan_status_name(got.status), "approved");

	assert_int_equal(db__plan_set_status(f->db, DIGEST_A, NODE_PLAN_REJECTED, "logreg-v1", NULL), FEDC_OK);
	assert_int_equal(db__plan_get(f->db, DIGEST_A, &got), FEDC_OK);
	assert_int_equal(got.status, NODE_PLAN_REJECTED);
	assert_string_equal(got.name, "logreg-v1");
	assert_string_equal(got.notes, "reviewed by dpo"); /* NULL notes keep them */
	assert_int_equal(db__plan_get(f->db, DIGEST_B, &got), FEDC_ERR_NOT_FOUND);
}

static void test_plan_register_keeps_status(void **state)
{
	struct fixture *f = *state;
	struct node_plan p, stored;

	make_plan(&p, DIGEST_A, "logreg", "researcher-1");
	assert_int_equal(db__plan_register(f->db, &p, NULL), FEDC_OK);
	assert_int_equal(db__plan_set_status(f->db, DIGEST_A, NODE_PLAN_APPROVED, NULL, NULL), FEDC_OK);
	/* A researcher asking again must not reset the decision, nor rename it. */
	make_plan(&p, DIGEST_A, "renamed", "researcher-2");
	snprintf(p.path, sizeof(p.path), "/var/lib/fedc/plans/" DIGEST_A ".so");
	assert_int_equal(db__plan_register(f->db, &p, &stored), FEDC_OK);
	assert_int_equal(stored.status, NODE_PLAN_APPROVED);
	assert_string_equal(stored.name, "logreg");
	assert_string_equal(stored.requested_by, "researcher-1");
	assert_string_equal(stored.path, p.path); /* only a missing path is filled in */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM training_plans"), 1);
}

static void test_plan_set_status_unknown_digest(void **state)
{
	struct fixture *f = *state;
	struct node_plan got;

	assert_int_equal(db__plan_set_status(f->db, DIGEST_B, NODE_PLAN_APPROVED, "manual", "approved ahead"),
			 FEDC_OK);
	assert_int_equal(db__plan_get(f->db, DIGEST_B, &got), FEDC_OK);
	assert_int_equal(got.status, NODE_PLAN_APPROVED);
	assert_string_equal(got.requested_by, "admin");
	assert_string_equal(got.algorithm, "sha256");
	assert_int_equal(db__plan_set_status(f->db, "ABC", NODE_PLAN_APPROVED, NULL, NULL), FEDC_ERR_INVAL);
	assert_int_equal(db__plan_set_status(f->db, DIGEST_B "0", NODE_PLAN_APPROVED, NULL, NULL), FEDC_ERR_INVAL);
}

static void test_plan_list_and_remove(void **state)
{
	struct fixture *f = *state;
	struct node_plan p, got;
	struct node_plan *all = NULL;
	size_t n = 0;

	make_plan(&p, DIGEST_A, "a", "r1");
	assert_int_equal(db__plan_register(f->db, &p, NULL), FEDC_OK);
	make_plan(&p, DIGEST_B, "b", "r1");
	assert_int_equal(db__plan_register(f->db, &p, NULL), FEDC_OK);
	assert_int_equal(db__plan_set_status(f->db, DIGEST_C, NODE_PLAN_REJECTED, "c", NULL), FEDC_OK);
	assert_int_equal(db__plan_list(f->db, &all, &n), FEDC_OK);
	assert_int_equal(n, 3);
	free(all);

	assert_int_equal(db__plan_remove(f->db, DIGEST_A), FEDC_OK);
	assert_int_equal(db__plan_get(f->db, DIGEST_A, &got), FEDC_ERR_NOT_FOUND);
	assert_int_equal(db__plan_remove(f->db, DIGEST_A), FEDC_ERR_NOT_FOUND);
	assert_int_equal(db__plan_list(f->db, &all, &n), FEDC_OK);
	assert_int_equal(n, 2);
	free(all);
}

static void test_plan_bad_digest(void **state)
{
	struct fixture *f = *state;
	struct node_plan p;

	make_plan(&p, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "upper", "r1");
	assert_int_equal(db__plan_register(f->db, &p, NULL), FEDC_ERR_INVAL);
	make_plan(&p, DIGEST_A, "x", "r1");
	snprintf(p.algorithm, sizeof(p.algorithm), "md5");
	assert_int_equal(db__plan_register(f->db, &p, NULL), FEDC_ERR_INVAL);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM training_plans"), 0);
}

/* ---- concurrency ---- */

#define ROWS_PER_WRITER 100

struct writer {
	const char *path;
	int id;
	int failures;
	char first_error[256];
};

/* Each writer has its own handle, as the CLI and the daemon do. */
static void write_rows(struct writer *w)
{
	struct node_db *db = NULL;
	enum fedc_err rc = db__open(w->path, &db);

	for (int i = 0; !rc && i < ROWS_PER_WRITER; i++) {
		struct node_dataset ds;
		char name[64], digest[65];
		struct node_plan got;

		snprintf(name, sizeof(name), "w%d-%d", w->id, i);
		make_dataset(&ds, name, "tabular,load");
		snprintf(digest, sizeof(digest), "%02x%062d", w->id, i);
		rc = db__dataset_add(db, &ds);
		if (!rc)
			rc = db__plan_set_status(db, digest, NODE_PLAN_APPROVED, name, NULL);
		if (!rc)
			rc = db__plan_get(db, digest, &got); /* reads between the other's writes */
		if (rc) {
			w->failures++;
			snprintf(w->first_error, sizeof(w->first_error), "%s: %s", fedc_strerror(rc), fedc_last_error());
		}
	}
	if (rc && !w->failures) {
		w->failures++;
		snprintf(w->first_error, sizeof(w->first_error), "open: %s", fedc_last_error());
	}
	db__close(db);
}

static void *writer_thread(void *arg)
{
	write_rows(arg);
	return NULL;
}

static void test_concurrent_writers_threads(void **state)
{
	struct fixture *f = *state;
	struct writer w[2] = { { f->path, 1, 0, "" }, { f->path, 2, 0, "" } };
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer_thread, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < 2; i++) {
		if (w[i].failures)
			print_error("writer %d: %d failures, first: %s\n", i + 1, w[i].failures, w[i].first_error);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM datasets"), 2 * ROWS_PER_WRITER);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM dataset_tags"), 4 * ROWS_PER_WRITER);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM training_plans"), 2 * ROWS_PER_WRITER);
}

/* Two processes, as the admin CLI beside the running daemon; the file is
 * fresh, so both also race to migrate it. */
static void test_concurrent_writers_processes(void **state)
{
	struct fixture *f = *state;
	char path[160];
	pid_t pid;
	int status = 0;
	struct writer parent;

	snprintf(path, sizeof(path), "%s/fresh.db", f->dir);
	parent = (struct writer){ path, 3, 0, "" };
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct writer child = { path, 4, 0, "" };

		write_rows(&child);
		if (child.failures)
			fprintf(stderr, "child writer: %s\n", child.first_error);
		_exit(child.failures ? 1 : 0);
	}
	write_rows(&parent);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (parent.failures)
		print_error("parent writer: %s\n", parent.first_error);
	assert_int_equal(parent.failures, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM datasets"), 2 * ROWS_PER_WRITER);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 9);
}

/* ---- seen requests ---- */

struct seen {
	int count;
	char last[64];
};

static void count_seen(void *ctx, const char *signer, const char *nonce, int64_t ts)
{
	struct seen *s = ctx;

	(void)ts;
	s->count++;
	snprintf(s->last, sizeof(s->last), "%s:%s", signer, nonce);
}

static void test_seen_requests_survive_reopen(void **state)
{
	struct fixture *f = *state;
	struct seen seen = { 0 };

	assert_int_equal(db__request_remember(f->db, "alice", "n1", 1000, 0), FEDC_OK);
	assert_int_equal(db__request_remember(f->db, "alice", "n1", 1000, 0), FEDC_ERR_EXISTS);
	assert_int_equal(db__request_remember(f->db, "bob", "n1", 1000, 0), FEDC_OK);
	db__close(f->db);
	assert_int_equal(db__open(f->path, &f->db), FEDC_OK);
	assert_int_equal(db__request_each(f->db, 0, count_seen, &seen), FEDC_OK);
	assert_int_equal(seen.count, 2);
	/* A later request forgets nonces stamped before the window. */
	assert_int_equal(db__request_remember(f->db, "alice", "n2", 5000, 2000), FEDC_OK);
	seen.count = 0;
	assert_int_equal(db__request_each(f->db, 0, count_seen, &seen), FEDC_OK);
	assert_int_equal(seen.count, 1);
	assert_string_equal(seen.last, "alice:n2");
}

/* ---- statements prepared at first use ---- */

/* Opening prepares nothing; a call prepares what it runs, once: the same
 * call again adds none. */
static void test_statements_prepared_at_first_use(void **state)
{
	struct fixture *f = *state;
	struct seen seen = { 0 };
	size_t after_first;

	assert_int_equal(db__prepared_count(f->db), 0);
	assert_int_equal(db__request_each(f->db, 0, count_seen, &seen), FEDC_OK);
	after_first = db__prepared_count(f->db);
	/* BEGIN, the list, COMMIT, and ROLLBACK that begin() keeps ready */
	assert_int_equal(after_first, 4);
	assert_int_equal(db__request_each(f->db, 0, count_seen, &seen), FEDC_OK);
	assert_int_equal(db__prepared_count(f->db), after_first);
	assert_int_equal(db__request_remember(f->db, "alice", "n1", 1000, 0), FEDC_OK);
	assert_true(db__prepared_count(f->db) > after_first);
}

/* A statement sqlite refuses at its first use (its table dropped behind
 * the handle's back) fails that call with the statement named, ends the
 * transaction, and leaves the other calls working. */
static void test_statement_unpreparable_named_tx_ended(void **state)
{
	struct fixture *f = *state;
	struct seen seen = { 0 };
	struct node_dataset *list = NULL;
	size_t n = 1;

	raw_exec(f->path, "DROP TABLE seen_requests");
	assert_int_equal(db__request_remember(f->db, "alice", "n1", 1000, 0), FEDC_ERR_DB);
	assert_non_null(strstr(fedc_last_error(), "seen_requests"));
	assert_int_equal(db__request_each(f->db, 0, count_seen, &seen), FEDC_ERR_DB);
	assert_non_null(strstr(fedc_last_error(), "SELECT signer, nonce, ts FROM seen_requests"));
	assert_int_equal(seen.count, 0);
	/* No transaction was left open: a write and a read still go through. */
	assert_int_equal(db__plan_set_status(f->db, DIGEST_A, NODE_PLAN_APPROVED, "a", NULL), FEDC_OK);
	assert_int_equal(db__dataset_list(f->db, &list, &n), FEDC_OK);
	assert_int_equal(n, 0);
	free(list);
}

/* ---- job rounds (schema 8, the console's jobs page) ---- */

static void test_job_round_recorded(void **state)
{
	struct fixture *f = *state;
	struct node_job_round ok = { "job-1", "alice", "ds-1", DIGEST_A, 3, false, "ok", "", 455, 1.1, 0.25 };
	struct node_job_round failed = { "job-1", "alice", "ds-1", DIGEST_A, 4, true, "privacy", "max_epsilon", 0, 0, 0 };

	assert_int_equal(db__job_round_add(f->db, &ok), FEDC_OK);
	assert_int_equal(db__job_round_add(f->db, &failed), FEDC_OK);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM job_rounds WHERE job_id = 'job-1'"), 2);
	assert_int_equal(raw_int(f->path, "SELECT n_samples FROM job_rounds WHERE round = 3 AND kind = 'train'"
				 " AND result = 'ok' AND researcher_id = 'alice' AND dp_noise = 1.1"), 455);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM job_rounds WHERE round = 4 AND kind = 'evaluate'"
				 " AND result = 'privacy' AND detail = 'max_epsilon'"), 1);
}

/* ---- plan sources (schema 9) ---- */

static void test_plan_source_kept_replaced_and_removed_with_plan(void **state)
{
	struct fixture *f = *state;
	struct node_plan p;
	struct node_plan_source got;

	make_plan(&p, DIGEST_A, "logreg", "researcher-1");
	assert_int_equal(db__plan_register(f->db, &p, NULL), FEDC_OK);
	assert_int_equal(db__plan_source_get(f->db, DIGEST_A, &got), FEDC_ERR_NOT_FOUND);
	assert_int_equal(db__plan_source_put(f->db, DIGEST_A, DIGEST_B, "bundle\0bytes", 12, NULL), FEDC_OK);
	assert_int_equal(db__plan_source_get(f->db, DIGEST_A, &got), FEDC_OK);
	assert_true(got.has_bundle);
	assert_string_equal(got.source_digest, DIGEST_B);
	assert_int_equal(got.bundle.len, 12);
	assert_memory_equal(got.bundle.data, "bundle\0bytes", 12);
	fedc_buf_free(&got.bundle);
	/* a later request's refused source replaces it */
	assert_int_equal(db__plan_source_put(f->db, DIGEST_A, DIGEST_C, NULL, 0, "malformed: truncated"), FEDC_OK);
	assert_int_equal(db__plan_source_get(f->db, DIGEST_A, &got), FEDC_OK);
	assert_false(got.has_bundle);
	assert_int_equal(got.bundle.len, 0);
	assert_string_equal(got.source_digest, DIGEST_C);
	assert_string_equal(got.refused, "malformed: truncated");
	fedc_buf_free(&got.bundle);
	assert_int_equal(db__plan_remove(f->db, DIGEST_A), FEDC_OK);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM plan_sources"), 0);
}

static void test_plan_source_unknown_plan(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(db__plan_source_put(f->db, DIGEST_A, DIGEST_B, "x", 1, NULL), FEDC_ERR_NOT_FOUND);
}

static void test_plan_source_bundle_or_reason(void **state)
{
	struct fixture *f = *state;
	struct node_plan p;

	make_plan(&p, DIGEST_A, "logreg", "researcher-1");
	assert_int_equal(db__plan_register(f->db, &p, NULL), FEDC_OK);
	assert_int_equal(db__plan_source_put(f->db, DIGEST_A, DIGEST_B, NULL, 0, NULL), FEDC_ERR_INVAL);
	assert_int_equal(db__plan_source_put(f->db, DIGEST_A, DIGEST_B, NULL, 0, ""), FEDC_ERR_INVAL);
	assert_int_equal(db__plan_source_put(f->db, DIGEST_A, DIGEST_B, "x", 1, "both"), FEDC_ERR_INVAL);
	assert_int_equal(db__plan_source_put(f->db, DIGEST_A, DIGEST_B, "x", FEDC_SOURCE_MAX + 1, NULL),
			 FEDC_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_sets_wal_and_schema_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_round_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_schema_1_keeps_datasets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_not_a_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_add_get_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_search_by_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_test_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_remove_cascades_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_duplicate_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_bad_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_register_approve_reject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_register_keeps_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_set_status_unknown_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_list_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_bad_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seen_requests_survive_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statements_prepared_at_first_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statement_unpreparable_named_tx_ended, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_source_kept_replaced_and_removed_with_plan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_source_unknown_plan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_source_bundle_or_reason, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
