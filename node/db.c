/* The node's sqlite database: registered datasets and the training-plan
 * approval list (see db.h and docs/node-admin.md).
 *
 * Concurrency: the admin CLI and the daemon open the same file at once.
 * WAL lets readers run beside one writer; every write runs in BEGIN IMMEDIATE
 * so that it takes the write lock up front and, if another process holds it,
 * waits in the busy handler (DB_BUSY_TIMEOUT_MS) instead of failing later
 * with SQLITE_BUSY on a lock upgrade, which no busy handler can resolve.
 * Multi-statement reads run in a plain BEGIN so they see one snapshot.
 *
 * Durability: synchronous=FULL. With WAL, NORMAL may lose the last commits on
 * power loss; here the last commit may be a plan rejection or removal, and
 * losing it would silently re-approve code the admin revoked. Writes are rare
 * admin actions, so one fsync per commit costs nothing that matters. Two
 * records written at every command or round run at NORMAL (sync_relaxed()),
 * where an fsync per commit was a tenth of a node's CPU per round
 * (docs/benchmarks.md, "The nodes' share"): the accepted commands
 * (db__request_remember), where restart_guard.h covers what a power loss could
 * take, and the jobs log (db__job_round_add), a history for the console whose
 * last rows a power loss may take. The next FULL commit syncs them too (the
 * WAL is one file, synced to its end). */
#include "db.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedc/buf.h"
#include "fedc/hash.h"
#include "fedc/num.h"
#include "fedc/source_bundle.h"
#include "fedc/uuid.h"

#define DB_BUSY_TIMEOUT_MS 5000

/* Schema migrations: migrations[v] takes a database from user_version v to
 * v + 1. Append, never edit a released step. */
static const char *const migrations[] = {
	/* 0 -> 1: datasets, their tags, training plans. */
	"CREATE TABLE datasets ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  type TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  description TEXT NOT NULL DEFAULT '',"
	"  n_samples INTEGER NOT NULL CHECK (n_samples >= 0),"
	"  n_features INTEGER NOT NULL CHECK (n_features >= 0),"
	"  n_classes INTEGER NOT NULL CHECK (n_classes >= 0),"
	"  label_column INTEGER NOT NULL,"
	"  header TEXT NOT NULL,"
	"  digest TEXT NOT NULL,"
	"  added_at INTEGER NOT NULL);"
	"CREATE TABLE dataset_tags ("
	"  dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL,"
	"  tag TEXT NOT NULL,"
	"  PRIMARY KEY (dataset_id, tag));"
	"CREATE INDEX dataset_tags_by_tag ON dataset_tags(tag);"
	"CREATE TABLE training_plans ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL DEFAULT '',"
	"  digest TEXT NOT NULL UNIQUE,"
	"  algorithm TEXT NOT NULL DEFAULT 'sha256',"
	"  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),"
	"  requested_by TEXT NOT NULL DEFAULT '',"
	"  requested_at INTEGER NOT NULL,"
	"  decided_at INTEGER NOT NULL DEFAULT 0,"
	"  notes TEXT NOT NULL DEFAULT '',"
	"  path TEXT NOT NULL DEFAULT '');",
	/* 1 -> 2: IDX image sets (a second file: the labels), the shape of one
	 * sample, rows per class. Rows of schema 1 are CSV: their shape is
	 * their feature count; their label counts stay unknown ('') until
	 * `dataset show` counts them. */
	"ALTER TABLE datasets ADD COLUMN labels_path TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE datasets ADD COLUMN shape TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE datasets ADD COLUMN label_counts TEXT NOT NULL DEFAULT '';"
	"UPDATE datasets SET shape = CAST(n_features AS TEXT);",
	/* 2 -> 3: nonces of accepted signed requests, so that a replay is
	 * refused after a restart too (kept while their stamp is fresh). */
	"CREATE TABLE seen_requests ("
	"  signer TEXT NOT NULL,"
	"  nonce TEXT NOT NULL,"
	"  ts INTEGER NOT NULL,"
	"  PRIMARY KEY (signer, nonce)) WITHOUT ROWID;"
	"CREATE INDEX seen_requests_by_ts ON seen_requests(ts);",
	/* 3 -> 4: how a dataset's test rows are chosen (split.h), and a dataset
	 * registered as the test set of another (its id). */
	"ALTER TABLE datasets ADD COLUMN split TEXT NOT NULL DEFAULT 'random'"
	"  CHECK (split IN ('random', 'stratified'));"
	"ALTER TABLE datasets ADD COLUMN test_of TEXT NOT NULL DEFAULT '';",
	/* 4 -> 5: the rounds this node released under node-level DP, per job
	 * (privacy.h): one row per distinct round fingerprint, so that the same
	 * round asked again counts once. */
	"CREATE TABLE dp_rounds ("
	"  job_id TEXT NOT NULL,"
	"  round INTEGER NOT NULL,"
	"  fingerprint TEXT NOT NULL,"
	"  noise REAL NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  PRIMARY KEY (job_id, fingerprint)) WITHOUT ROWID;",
	/* 5 -> 6: what registration was told (`options`: the kind's own
	 * settings, "key=value;..."), and a table's columns as found
	 * (`schema`, see dataset.h). Both '' for the rows before. */
	"ALTER TABLE datasets ADD COLUMN options TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE datasets ADD COLUMN schema TEXT NOT NULL DEFAULT '';",
	/* 6 -> 7: the epsilon analytics queries spent per dataset (analytics.h);
	 * only the node writes it, and only upwards. */
	"CREATE TABLE analytics_budget ("
	"  dataset_id TEXT PRIMARY KEY,"
	"  spent REAL NOT NULL CHECK (spent >= 0),"
	"  queries INTEGER NOT NULL DEFAULT 0,"
	"  updated_at INTEGER NOT NULL) WITHOUT ROWID;",
	/* 7 -> 8: the node console (docs/node-console.md): its accounts
	 * (scrypt hashes), its audit log, and the history of plan decisions
	 * taken there (training_plans keeps only the latest). */
	"CREATE TABLE console_users ("
	"  name TEXT PRIMARY KEY,"
	"  password TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE console_audit ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  user TEXT NOT NULL,"
	"  remote TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  target TEXT NOT NULL DEFAULT '',"
	"  detail TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE plan_decisions ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  digest TEXT NOT NULL,"
	"  decision TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),"
	"  note TEXT NOT NULL DEFAULT '',"
	"  decided_by TEXT NOT NULL);"
	"CREATE INDEX plan_decisions_by_digest ON plan_decisions(digest);"
	/* ... and the rounds the node ran for researchers, one row per
	 * train request (node/job_log.h), for the console's jobs page. */
	"CREATE TABLE job_rounds ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  job_id TEXT NOT NULL,"
	"  researcher_id TEXT NOT NULL,"
	"  dataset_id TEXT NOT NULL,"
	"  plan_digest TEXT NOT NULL,"
	"  round INTEGER NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('train', 'evaluate')),"
	"  result TEXT NOT NULL,"
	"  detail TEXT NOT NULL DEFAULT '',"
	"  n_samples INTEGER NOT NULL DEFAULT 0,"
	"  dp_noise REAL NOT NULL DEFAULT 0,"
	"  seconds REAL NOT NULL DEFAULT 0);"
	"CREATE INDEX job_rounds_by_job ON job_rounds(job_id);",
	/* 8 -> 9: the source a researcher shipped with an `approval` request
	 * (fedc/source_bundle.h), per plan: the checked bundle, or NULL and why
	 * it was refused. Goes with its plan. */
	"CREATE TABLE plan_sources ("
	"  digest TEXT PRIMARY KEY REFERENCES training_plans(digest) ON DELETE CASCADE,"
	"  source_digest TEXT NOT NULL,"
	"  bundle BLOB,"
	"  refused TEXT NOT NULL DEFAULT '',"
	"  received_at INTEGER NOT NULL,"
	"  CHECK ((bundle IS NULL) <> (refused = ''))) WITHOUT ROWID;",
};
#define DB_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define DS_COLUMNS                                                                                    \
	"id, name, type, path, description, n_samples, n_features, n_classes, label_column, header, digest," \
	" added_at, labels_path, shape, label_counts, split, test_of, options, schema"
#define PLAN_COLUMNS "id, name, digest, algorithm, status, requested_by, requested_at, decided_at, notes, path"

enum stmt_id {
	ST_BEGIN_READ,
	ST_BEGIN_WRITE,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_DS_INSERT,
	ST_TAG_INSERT,
	ST_DS_BY_ID,
	ST_DS_BY_NAME,
	ST_DS_TAGS,
	ST_DS_DELETE,
	ST_DS_LIST,
	ST_DS_TEST_OF,
	ST_PLAN_INSERT,
	ST_PLAN_FILL_PATH,
	ST_PLAN_GET,
	ST_PLAN_DECIDE,
	ST_PLAN_DELETE,
	ST_PLAN_LIST,
	ST_SOURCE_PUT,
	ST_SOURCE_GET,
	ST_SEEN_INSERT,
	ST_SEEN_PRUNE,
	ST_SEEN_LIST,
	ST_DP_INSERT,
	ST_DP_LIST,
	ST_BUDGET_GET,
	ST_BUDGET_ADD,
	ST_JOB_ROUND_INSERT,
	ST_SYNC_NORMAL,
	ST_SYNC_FULL,
	ST__COUNT
};

/* Prepared at a handle's first use of each (prepared()), kept until
 * db__close, reset after every use. */
static const char *const stmt_sql[ST__COUNT] = {
	[ST_BEGIN_READ] = "BEGIN",
	[ST_BEGIN_WRITE] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_DS_INSERT] = "INSERT INTO datasets (" DS_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
			 " ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
	[ST_TAG_INSERT] = "INSERT INTO dataset_tags (dataset_id, position, tag) VALUES (?1, ?2, ?3)",
	/* An id wins over a name when a name happens to equal another dataset's id. */
	/* two lookups, each on its unique index: "id = ?1 OR name = ?1" ordered
	 * to prefer the id made sqlite build a temporary b-tree every call */
	[ST_DS_BY_ID] = "SELECT " DS_COLUMNS " FROM datasets WHERE id = ?1",
	[ST_DS_BY_NAME] = "SELECT " DS_COLUMNS " FROM datasets WHERE name = ?1",
	[ST_DS_TAGS] = "SELECT tag FROM dataset_tags WHERE dataset_id = ?1 ORDER BY position",
	[ST_DS_DELETE] = "DELETE FROM datasets WHERE id = ?1",
	[ST_DS_LIST] = "SELECT " DS_COLUMNS " FROM datasets ORDER BY added_at, name",
	[ST_DS_TEST_OF] = "SELECT " DS_COLUMNS " FROM datasets WHERE test_of = ?1 LIMIT 1", /* one at most: cli_dataset.c */
	[ST_PLAN_INSERT] = "INSERT INTO training_plans (name, digest, algorithm, status, requested_by, requested_at,"
			   " decided_at, notes, path) VALUES (?1, ?2, ?3, 'pending', ?4, ?5, 0, ?6, ?7)"
			   " ON CONFLICT (digest) DO NOTHING",
	[ST_PLAN_FILL_PATH] = "UPDATE training_plans SET path = ?2 WHERE digest = ?1 AND path = ''",
	[ST_PLAN_GET] = "SELECT " PLAN_COLUMNS " FROM training_plans WHERE digest = ?1",
	/* NULL name or notes keep what is stored. */
	[ST_PLAN_DECIDE] = "UPDATE training_plans SET status = ?2, decided_at = ?3,"
			   " name = coalesce(?4, name), notes = coalesce(?5, notes) WHERE digest = ?1",
	[ST_PLAN_DELETE] = "DELETE FROM training_plans WHERE digest = ?1",
	[ST_PLAN_LIST] = "SELECT " PLAN_COLUMNS " FROM training_plans ORDER BY requested_at, id",
	/* The latest request's source replaces an earlier one: same plan, a
	 * researcher shipping (perhaps better) source again. */
	[ST_SOURCE_PUT] = "INSERT INTO plan_sources (digest, source_digest, bundle, refused, received_at)"
			  " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (digest) DO UPDATE SET"
			  " source_digest = ?2, bundle = ?3, refused = ?4, received_at = ?5",
	[ST_SOURCE_GET] = "SELECT source_digest, bundle, refused, received_at FROM plan_sources WHERE digest = ?1",
	[ST_SEEN_INSERT] = "INSERT INTO seen_requests (signer, nonce, ts) VALUES (?1, ?2, ?3)",
	[ST_SEEN_PRUNE] = "DELETE FROM seen_requests WHERE ts < ?1",
	[ST_SEEN_LIST] = "SELECT signer, nonce, ts FROM seen_requests WHERE ts >= ?1",
	[ST_JOB_ROUND_INSERT] = "INSERT INTO job_rounds (at, job_id, researcher_id, dataset_id, plan_digest, round, kind,"
				" result, detail, n_samples, dp_noise, seconds)"
				" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
	[ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
	[ST_DP_INSERT] = "INSERT INTO dp_rounds (job_id, round, fingerprint, noise, at) VALUES (?1, ?2, ?3, ?4, ?5)"
			 " ON CONFLICT (job_id, fingerprint) DO NOTHING",
	[ST_DP_LIST] = "SELECT noise FROM dp_rounds WHERE job_id = ?1 AND fingerprint <> ?2 ORDER BY round, fingerprint",
	[ST_BUDGET_GET] = "SELECT spent FROM analytics_budget WHERE dataset_id = ?1",
	[ST_BUDGET_ADD] = "INSERT INTO analytics_budget (dataset_id, spent, queries, updated_at) VALUES (?1, ?2, 1, ?3)"
			  " ON CONFLICT (dataset_id) DO UPDATE SET spent = spent + ?2, queries = queries + 1,"
			  " updated_at = ?3",
};

struct node_db {
	sqlite3 *conn;
	char path[NODE_PATH_MAX];
	sqlite3_stmt *st[ST__COUNT]; /* NULL until first used */
};

static const char *const status_names[] = {
	[NODE_PLAN_PENDING] = "pending",
	[NODE_PLAN_APPROVED] = "approved",
	[NODE_PLAN_REJECTED] = "rejected",
};

const char *db__plan_status_name(enum node_plan_status status)
{
	if ((unsigned)status > NODE_PLAN_REJECTED)
		return "unknown";
	return status_names[status];
}

/* ---- small helpers -------------------------------------------------------- */

static enum fedc_err db_fail(struct node_db *db, const char *what)
{
	return fedc_fail(FEDC_ERR_DB, "%s: %s: %s", db->path, what, sqlite3_errmsg(db->conn));
}

/* True if `s` is NUL-terminated within `cap` bytes: fixed fields filled by a
 * caller are checked before they reach sqlite. */
static bool field_ok(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

/* Sets *st to statement `id`, prepared at its first use on this handle.
 * Preparing all 26 at open cost each connection about 100 KB of heap, and
 * sqlite code pages, for statements most processes never run: an idle
 * node daemon runs a handful, a CLI command one or two (docs/benchmarks.md,
 * "Idle node RSS"). The schema is migrated before any
 * statement is prepared, so a failure here is sqlite's (out of memory, a
 * file damaged since): FEDC_ERR_DB naming the statement, *st NULL. */
static enum fedc_err prepared(struct node_db *db, enum stmt_id id, sqlite3_stmt **st)
{
	*st = db->st[id];
	if (*st)
		return FEDC_OK;
	if (sqlite3_prepare_v3(db->conn, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &db->st[id], NULL) !=
	    SQLITE_OK) {
		db->st[id] = NULL;
		return db_fail(db, stmt_sql[id]);
	}
	*st = db->st[id];
	return FEDC_OK;
}

/* Resets a statement after use; NULL (one that could not be prepared) is
 * left alone, so error paths can finish whatever they hold. */
static void finish(sqlite3_stmt *st)
{
	if (!st)
		return;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Binds values one after the other and keeps the first failure, so a row of
 * binds reads as a list and is checked once. */
struct binder {
	sqlite3_stmt *st;
	int rc;
};

static void bind_text(struct binder *b, int i, const char *v)
{
	if (b->rc == SQLITE_OK)
		b->rc = v ? sqlite3_bind_text(b->st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(b->st, i);
}

static void bind_int(struct binder *b, int i, int64_t v)
{
	if (b->rc == SQLITE_OK)
		b->rc = sqlite3_bind_int64(b->st, i, v);
}

/* Runs a statement that returns no row and resets it. */
static enum fedc_err step_done(struct node_db *db, enum stmt_id id, const char *what)
{
	sqlite3_stmt *st = NULL;
	enum fedc_err rc = prepared(db, id, &st);

	if (!rc && sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(db, what);
	finish(st);
	return rc;
}

/* Opens a transaction. ROLLBACK is prepared first: an error path inside
 * the transaction must be able to end it (rollback() cannot fail). */
static enum fedc_err begin(struct node_db *db, bool write)
{
	sqlite3_stmt *st = NULL;
	enum fedc_err rc = prepared(db, ST_ROLLBACK, &st);

	if (!rc)
		rc = step_done(db, write ? ST_BEGIN_WRITE : ST_BEGIN_READ, write ? "BEGIN IMMEDIATE" : "BEGIN");
	return rc;
}

static enum fedc_err commit(struct node_db *db)
{
	return step_done(db, ST_COMMIT, "COMMIT");
}

/* Commits at synchronous = NORMAL (relaxed) skip their fsync; FULL is
 * every other write's (see the top of this file). Per connection, not per
 * transaction: sqlite has no other switch, and re-prepares a PRAGMA at
 * every step (about 0.03 ms of a node's round for the four). */
static enum fedc_err sync_relaxed(struct node_db *db, bool relaxed)
{
	return step_done(db, relaxed ? ST_SYNC_NORMAL : ST_SYNC_FULL, "PRAGMA synchronous");
}

/* Back to FULL after a relaxed write, whatever happened: a failure here
 * turns a successful write's result into FEDC_ERR_DB. */
static enum fedc_err sync_restore(struct node_db *db, enum fedc_err rc)
{
	enum fedc_err back = sync_relaxed(db, false);

	return rc ? rc : back;
}

/* Rolls back the open transaction, if any; used on error paths, where the
 * first error is the one worth reporting, so its own result is not. Only
 * a transaction opened by begin() is open here, so ST_ROLLBACK is
 * prepared. */
static void rollback(struct node_db *db)
{
	if (!sqlite3_get_autocommit(db->conn) && db->st[ST_ROLLBACK]) {
		sqlite3_step(db->st[ST_ROLLBACK]);
		finish(db->st[ST_ROLLBACK]);
	}
}

/* Ends a transaction: commits on success, rolls back otherwise. */
static enum fedc_err end_tx(struct node_db *db, enum fedc_err rc)
{
	if (!rc)
		rc = commit(db);
	if (rc)
		rollback(db);
	return rc;
}

/* Copies text column `col` into dst[cap], refusing (not truncating) a value
 * that does not fit: the row was not written by this code. */
static enum fedc_err copy_col(struct node_db *db, sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	const unsigned char *text = sqlite3_column_text(st, col);
	size_t len = (size_t)sqlite3_column_bytes(st, col);

	if (!text) {
		dst[0] = '\0';
		return FEDC_OK;
	}
	if (len >= cap || memchr(text, '\0', len))
		return fedc_fail(FEDC_ERR_DB, "%s: column %s holds a value longer than %zu bytes", db->path,
				 sqlite3_column_name(st, col), cap - 1);
	memcpy(dst, text, len);
	dst[len] = '\0';
	return FEDC_OK;
}

static enum fedc_err int_col(struct node_db *db, sqlite3_stmt *st, int col, int64_t min, int64_t max,
			     int64_t *out)
{
	int64_t v = sqlite3_column_int64(st, col);

	if (v < min || v > max)
		return fedc_fail(FEDC_ERR_DB, "%s: column %s holds %" PRId64 ", out of range", db->path,
				 sqlite3_column_name(st, col), v);
	*out = v;
	return FEDC_OK;
}

/* ---- open, migrate, close ------------------------------------------------- */

/* Runs a PRAGMA that returns one row and copies its first column. */
static enum fedc_err pragma_text(struct node_db *db, const char *sql, char *out, size_t cap)
{
	sqlite3_stmt *st = NULL;
	enum fedc_err rc = FEDC_OK;

	if (sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, sql);
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = db_fail(db, sql);
		goto out;
	}
	rc = copy_col(db, st, 0, out, cap);
out:
	sqlite3_finalize(st);
	return rc;
}

static enum fedc_err exec(struct node_db *db, const char *sql, const char *what)
{
	if (sqlite3_exec(db->conn, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, what);
	return FEDC_OK;
}

/* Runs `sql` (a PRAGMA returning one row) until it does not answer
 * SQLITE_BUSY, within the busy timeout. */
static int pragma_retry(struct node_db *db, sqlite3_stmt *st)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	int src;

	for (int waited_ms = 0;; waited_ms += 10) {
		src = sqlite3_step(st);
		if ((src & 0xff) != SQLITE_BUSY || waited_ms >= DB_BUSY_TIMEOUT_MS)
			return src;
		sqlite3_reset(st);
		nanosleep(&pause, NULL);
	}
}

/* Switches the file to WAL. The mode is a property of the file, so after the
 * first open this only reads it. The switch itself needs exclusive access and
 * sqlite does not run the busy handler for it: two processes opening a fresh
 * file at once would see "database is locked", hence the retry loop. */
static enum fedc_err set_wal(struct node_db *db)
{
	char mode[32];
	sqlite3_stmt *st = NULL;
	enum fedc_err rc = pragma_text(db, "PRAGMA journal_mode", mode, sizeof(mode));

	if (rc || strcmp(mode, "wal") == 0)
		return rc;
	if (sqlite3_prepare_v2(db->conn, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, "PRAGMA journal_mode");
		goto out;
	}
	if (pragma_retry(db, st) != SQLITE_ROW) {
		rc = db_fail(db, "PRAGMA journal_mode = WAL");
		goto out;
	}
	rc = copy_col(db, st, 0, mode, sizeof(mode));
	if (!rc && strcmp(mode, "wal") != 0)
		rc = fedc_fail(FEDC_ERR_DB, "%s: cannot switch to WAL mode (journal mode stays \"%s\")", db->path,
			       mode);
out:
	sqlite3_finalize(st);
	return rc;
}

static enum fedc_err configure(struct node_db *db)
{
	char value[32];
	enum fedc_err rc;

	sqlite3_extended_result_codes(db->conn, 1);
	sqlite3_busy_timeout(db->conn, DB_BUSY_TIMEOUT_MS);
	rc = exec(db, "PRAGMA foreign_keys = ON", "PRAGMA foreign_keys");
	if (!rc)
		rc = pragma_text(db, "PRAGMA foreign_keys", value, sizeof(value));
	if (!rc && strcmp(value, "1") != 0)
		rc = fedc_fail(FEDC_ERR_DB, "%s: this sqlite does not enforce foreign keys", db->path);
	if (!rc)
		rc = set_wal(db);
	if (!rc)
		rc = exec(db, "PRAGMA synchronous = FULL", "PRAGMA synchronous");
	return rc;
}

static enum fedc_err read_version(struct node_db *db, long *version)
{
	char value[32];
	enum fedc_err rc = pragma_text(db, "PRAGMA user_version", value, sizeof(value));
	int64_t v;

	if (rc)
		return rc;
	/* Read as any integer, so that a too-new version is named as such. */
	if (fedc_num_parse_i64(value, INT64_MIN, INT64_MAX, &v) != FEDC_OK)
		return fedc_fail(FEDC_ERR_DB, "%s: PRAGMA user_version gave \"%s\", not an integer", db->path,
				 value);
	*version = (long)v;
	if (v > DB_SCHEMA_VERSION || v < 0)
		return fedc_fail(FEDC_ERR_DB,
				 "%s: schema version %ld was written by a newer fedc-node (this one knows up to %d);"
				 " upgrade fedc-node or use another data_dir",
				 db->path, (long)v, DB_SCHEMA_VERSION);
	return FEDC_OK;
}

/* Brings the schema to DB_SCHEMA_VERSION inside one write transaction, so two
 * processes opening a fresh file at once migrate it exactly once. A current
 * schema is recognised without the write lock: every CLI command opens the
 * database, and a read-only one should not queue behind the daemon. */
static enum fedc_err migrate(struct node_db *db)
{
	char sql[64];
	long version;
	enum fedc_err rc = read_version(db, &version);

	if (rc || version == DB_SCHEMA_VERSION)
		return rc;
	rc = exec(db, "BEGIN IMMEDIATE", "BEGIN IMMEDIATE (migration)");
	if (rc)
		return rc;
	rc = read_version(db, &version); /* another process may have migrated meanwhile */
	for (; !rc && version < DB_SCHEMA_VERSION; version++)
		rc = exec(db, migrations[version], "schema migration");
	if (!rc) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", DB_SCHEMA_VERSION);
		rc = exec(db, sql, "PRAGMA user_version");
	}
	if (!rc)
		rc = exec(db, "COMMIT", "COMMIT (migration)");
	if (rc && !sqlite3_get_autocommit(db->conn))
		sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

enum fedc_err db__open(const char *path, struct node_db **out)
{
	struct node_db *db = NULL;
	enum fedc_err rc;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

	*out = NULL;
	if (!path || !path[0] || strlen(path) >= NODE_PATH_MAX)
		return fedc_fail(FEDC_ERR_INVAL, "database path empty or too long");
	db = calloc(1, sizeof(*db));
	if (!db)
		return FEDC_ERR_NOMEM;
	memcpy(db->path, path, strlen(path) + 1);
	/* On failure sqlite still hands back a handle carrying the message. */
	if (sqlite3_open_v2(path, &db->conn, flags, NULL) != SQLITE_OK) {
		rc = db->conn ? db_fail(db, "open")
			      : fedc_fail(FEDC_ERR_NOMEM, "%s: sqlite cannot allocate a handle", path);
		goto out;
	}
	rc = configure(db);
	if (!rc)
		rc = migrate(db);
out:
	if (rc)
		db__close(db);
	else
		*out = db;
	return rc;
}

void db__close(struct node_db *db)
{
	if (!db)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(db->st[i]); /* NULL (never used) is a no-op */
	sqlite3_close(db->conn);
	free(db);
}

size_t db__prepared_count(const struct node_db *db)
{
	size_t n = 0;

	for (int i = 0; i < ST__COUNT; i++)
		n += db->st[i] != NULL;
	return n;
}

/* ---- datasets ------------------------------------------------------------- */

/* Tags go through CLI lists ("a,b") and MQTT search requests: non-empty,
 * bounded, no commas or control characters, no duplicates. */
static enum fedc_err check_tags(const struct node_dataset *ds)
{
	if (ds->n_tags > FEDC_MAX_TAGS)
		return fedc_fail(FEDC_ERR_INVAL, "dataset \"%s\": %u tags, at most %d", ds->name, ds->n_tags,
				 FEDC_MAX_TAGS);
	for (uint32_t i = 0; i < ds->n_tags; i++) {
		const char *t = ds->tags[i];

		if (!field_ok(t, sizeof(ds->tags[i])) || !t[0])
			return fedc_fail(FEDC_ERR_INVAL, "dataset \"%s\": tag %u is empty or too long", ds->name, i + 1);
		for (const char *c = t; *c; c++) {
			if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == ',')
				return fedc_fail(FEDC_ERR_INVAL, "tag \"%s\": commas and control characters are not allowed",
						 t);
		}
		for (uint32_t j = 0; j < i; j++) {
			if (strcmp(ds->tags[j], t) == 0)
				return fedc_fail(FEDC_ERR_INVAL, "tag \"%s\" given twice", t);
		}
	}
	return FEDC_OK;
}

static enum fedc_err check_dataset(const struct node_dataset *ds)
{
	if (!field_ok(ds->name, sizeof(ds->name)) || !ds->name[0])
		return fedc_fail(FEDC_ERR_INVAL, "dataset name empty or longer than %d bytes", FEDC_MAX_NAME_LEN);
	if (!field_ok(ds->type, sizeof(ds->type)) || !field_ok(ds->path, sizeof(ds->path)) ||
	    !field_ok(ds->description, sizeof(ds->description)) || !field_ok(ds->header, sizeof(ds->header)) ||
	    !field_ok(ds->digest, sizeof(ds->digest)) || !field_ok(ds->labels_path, sizeof(ds->labels_path)) ||
	    !field_ok(ds->shape, sizeof(ds->shape)) || !field_ok(ds->label_counts, sizeof(ds->label_counts)) ||
	    !field_ok(ds->test_of, sizeof(ds->test_of)) || !field_ok(ds->options, sizeof(ds->options)) ||
	    !field_ok(ds->schema, sizeof(ds->schema)))
		return fedc_fail(FEDC_ERR_INVAL, "dataset \"%s\": a text field is not terminated", ds->name);
	if (ds->n_samples > INT64_MAX || ds->n_features > INT64_MAX)
		return fedc_fail(FEDC_ERR_INVAL, "dataset \"%s\": sample or feature count out of range", ds->name);
	return check_tags(ds);
}

static enum fedc_err insert_dataset(struct node_db *db, const struct node_dataset *ds)
{
	struct binder b = { NULL, SQLITE_OK };
	enum fedc_err rc = prepared(db, ST_DS_INSERT, &b.st);
	int src;

	if (rc)
		return rc;
	bind_text(&b, 1, ds->id);
	bind_text(&b, 2, ds->name);
	bind_text(&b, 3, ds->type);
	bind_text(&b, 4, ds->path);
	bind_text(&b, 5, ds->description);
	bind_int(&b, 6, (int64_t)ds->n_samples);
	bind_int(&b, 7, (int64_t)ds->n_features);
	bind_int(&b, 8, ds->n_classes);
	bind_int(&b, 9, ds->label_column);
	bind_text(&b, 10, ds->header);
	bind_text(&b, 11, ds->digest);
	bind_int(&b, 12, ds->added_at);
	bind_text(&b, 13, ds->labels_path);
	bind_text(&b, 14, ds->shape);
	bind_text(&b, 15, ds->label_counts);
	bind_text(&b, 16, ds->split[0] ? ds->split : "random");
	bind_text(&b, 17, ds->test_of);
	bind_text(&b, 18, ds->options);
	bind_text(&b, 19, ds->schema);
	if (b.rc != SQLITE_OK) {
		rc = db_fail(db, "bind dataset");
		goto out;
	}
	src = sqlite3_step(b.st);
	if (src == SQLITE_CONSTRAINT_UNIQUE || src == SQLITE_CONSTRAINT_PRIMARYKEY)
		rc = fedc_fail(FEDC_ERR_EXISTS, "a dataset named \"%s\" already exists", ds->name);
	else if (src != SQLITE_DONE)
		rc = db_fail(db, "insert dataset");
out:
	finish(b.st);
	return rc;
}

static enum fedc_err insert_tags(struct node_db *db, const struct node_dataset *ds)
{
	enum fedc_err rc = FEDC_OK;

	for (uint32_t i = 0; i < ds->n_tags && !rc; i++) {
		struct binder b = { NULL, SQLITE_OK };

		rc = prepared(db, ST_TAG_INSERT, &b.st);
		if (rc)
			break;
		bind_text(&b, 1, ds->id);
		bind_int(&b, 2, i);
		bind_text(&b, 3, ds->tags[i]);
		if (b.rc != SQLITE_OK) {
			rc = db_fail(db, "bind tag");
			finish(b.st);
		} else {
			rc = step_done(db, ST_TAG_INSERT, "insert tag");
		}
	}
	return rc;
}

enum fedc_err db__dataset_add(struct node_db *db, struct node_dataset *ds)
{
	enum fedc_err rc = check_dataset(ds);

	if (rc)
		return rc;
	fedc_uuid_new(ds->id);
	ds->added_at = (int64_t)time(NULL);
	rc = begin(db, true);
	if (rc)
		return rc;
	rc = insert_dataset(db, ds);
	if (!rc)
		rc = insert_tags(db, ds);
	return end_tx(db, rc);
}

/* Fills out->tags from dataset_tags. */
static enum fedc_err read_tags(struct node_db *db, struct node_dataset *out)
{
	sqlite3_stmt *st = NULL;
	enum fedc_err rc = prepared(db, ST_DS_TAGS, &st);
	int src;

	out->n_tags = 0;
	if (rc)
		return rc;
	if (sqlite3_bind_text(st, 1, out->id, -1, SQLITE_STATIC) != SQLITE_OK) {
		rc = db_fail(db, "bind tags");
		goto out;
	}
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->n_tags == FEDC_MAX_TAGS) {
			rc = fedc_fail(FEDC_ERR_DB, "%s: dataset %s has more than %d tags", db->path, out->id,
				       FEDC_MAX_TAGS);
			goto out;
		}
		rc = copy_col(db, st, 0, out->tags[out->n_tags], sizeof(out->tags[0]));
		if (rc)
			goto out;
		out->n_tags++;
	}
	if (src != SQLITE_DONE)
		rc = db_fail(db, "read tags");
out:
	finish(st);
	return rc;
}

/* Reads the current row of a DS_COLUMNS select, then its tags. */
static enum fedc_err read_dataset(struct node_db *db, sqlite3_stmt *st, struct node_dataset *out)
{
	int64_t n_samples = 0, n_features = 0, n_classes = 0, label = 0;
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	rc = copy_col(db, st, 0, out->id, sizeof(out->id));
	if (!rc)
		rc = copy_col(db, st, 1, out->name, sizeof(out->name));
	if (!rc)
		rc = copy_col(db, st, 2, out->type, sizeof(out->type));
	if (!rc)
		rc = copy_col(db, st, 3, out->path, sizeof(out->path));
	if (!rc)
		rc = copy_col(db, st, 4, out->description, sizeof(out->description));
	if (!rc)
		rc = int_col(db, st, 5, 0, INT64_MAX, &n_samples);
	if (!rc)
		rc = int_col(db, st, 6, 0, INT64_MAX, &n_features);
	if (!rc)
		rc = int_col(db, st, 7, 0, UINT32_MAX, &n_classes);
	if (!rc)
		rc = int_col(db, st, 8, INT32_MIN, INT32_MAX, &label);
	if (!rc)
		rc = copy_col(db, st, 9, out->header, sizeof(out->header));
	if (!rc)
		rc = copy_col(db, st, 10, out->digest, sizeof(out->digest));
	if (!rc)
		rc = int_col(db, st, 11, INT64_MIN, INT64_MAX, &out->added_at);
	if (!rc)
		rc = copy_col(db, st, 12, out->labels_path, sizeof(out->labels_path));
	if (!rc)
		rc = copy_col(db, st, 13, out->shape, sizeof(out->shape));
	if (!rc)
		rc = copy_col(db, st, 14, out->label_counts, sizeof(out->label_counts));
	if (!rc)
		rc = copy_col(db, st, 15, out->split, sizeof(out->split));
	if (!rc)
		rc = copy_col(db, st, 16, out->test_of, sizeof(out->test_of));
	if (!rc)
		rc = copy_col(db, st, 17, out->options, sizeof(out->options));
	if (!rc)
		rc = copy_col(db, st, 18, out->schema, sizeof(out->schema));
	if (rc)
		return rc;
	out->n_samples = (uint64_t)n_samples;
	out->n_features = (uint64_t)n_features;
	out->n_classes = (uint32_t)n_classes;
	out->label_column = (int32_t)label;
	return read_tags(db, out);
}

/* The dataset statement `which` (ST_DS_BY_ID, ST_DS_BY_NAME, ST_DS_TEST_OF)
 * finds first for `key`, inside the caller's transaction; a bare
 * FEDC_ERR_NOT_FOUND (the caller says what was missing). */
static enum fedc_err fetch_dataset_by(struct node_db *db, enum stmt_id which, const char *key,
				      struct node_dataset *out)
{
	sqlite3_stmt *st = NULL;
	enum fedc_err rc = prepared(db, which, &st);
	int src;

	if (rc)
		return rc;
	if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK) {
		rc = db_fail(db, "bind dataset key");
		goto out;
	}
	src = sqlite3_step(st);
	if (src == SQLITE_DONE)
		rc = FEDC_ERR_NOT_FOUND;
	else if (src != SQLITE_ROW)
		rc = db_fail(db, "get dataset");
	else
		rc = read_dataset(db, st, out);
out:
	finish(st);
	return rc;
}

/* Looks a dataset up by id, else by name, inside the caller's transaction:
 * an id wins over another dataset named like it. */
static enum fedc_err fetch_dataset(struct node_db *db, const char *id_or_name, struct node_dataset *out)
{
	enum fedc_err rc = fetch_dataset_by(db, ST_DS_BY_ID, id_or_name, out);

	if (rc == FEDC_ERR_NOT_FOUND)
		rc = fetch_dataset_by(db, ST_DS_BY_NAME, id_or_name, out);
	if (rc == FEDC_ERR_NOT_FOUND)
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "no dataset with id or name \"%s\"", id_or_name);
	return rc;
}

enum fedc_err db__dataset_get(struct node_db *db, const char *id_or_name, struct node_dataset *out)
{
	enum fedc_err rc = begin(db, false);

	if (rc)
		return rc;
	rc = fetch_dataset(db, id_or_name, out);
	return end_tx(db, rc);
}

enum fedc_err db__dataset_test_set(struct node_db *db, const char *id, struct node_dataset *out)
{
	enum fedc_err rc = begin(db, false);

	if (!rc)
		rc = fetch_dataset_by(db, ST_DS_TEST_OF, id, out);
	if (rc == FEDC_ERR_NOT_FOUND)
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "dataset %s has no test set", id);
	return end_tx(db, rc);
}

enum fedc_err db__dataset_remove(struct node_db *db, const char *id_or_name)
{
	struct node_dataset *ds = malloc(sizeof(*ds)); /* about 10 KiB: keep it off small thread stacks */
	sqlite3_stmt *st = NULL;
	enum fedc_err rc;

	if (!ds)
		return FEDC_ERR_NOMEM;
	rc = begin(db, true);
	if (rc)
		goto out;
	rc = fetch_dataset(db, id_or_name, ds);
	if (!rc)
		rc = prepared(db, ST_DS_DELETE, &st);
	if (!rc && sqlite3_bind_text(st, 1, ds->id, -1, SQLITE_STATIC) != SQLITE_OK)
		rc = db_fail(db, "bind dataset id");
	if (!rc)
		rc = step_done(db, ST_DS_DELETE, "delete dataset"); /* tags go by ON DELETE CASCADE */
	rc = end_tx(db, rc);
out:
	finish(st);
	free(ds);
	return rc;
}

/* Rows a list may return: the tables are ours, filled by the admin, but a
 * damaged or hostile file must not make a list grow without bound. */
#define DB_MAX_LIST_ROWS 100000

/* Reads every dataset, inside the caller's transaction. */
static enum fedc_err fetch_all_datasets(struct node_db *db, struct node_dataset **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct fedc_buf mem = FEDC_BUF_INIT(DB_MAX_LIST_ROWS * sizeof(struct node_dataset));
	size_t count = 0;
	enum fedc_err rc = prepared(db, ST_DS_LIST, &st);
	int src = SQLITE_DONE;

	while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
		void *slot = NULL;

		rc = fedc_buf_extend(&mem, sizeof(struct node_dataset), &slot);
		if (!rc)
			rc = read_dataset(db, st, slot);
		if (rc)
			goto out;
		count++;
	}
	if (!rc && src != SQLITE_DONE)
		rc = db_fail(db, "list datasets");
out:
	finish(st);
	if (rc) {
		fedc_buf_free(&mem);
		count = 0;
	}
	*out = (struct node_dataset *)mem.data; /* malloc'd: the caller frees it */
	*n = count;
	return rc;
}

enum fedc_err db__dataset_list(struct node_db *db, struct node_dataset **out, size_t *n)
{
	enum fedc_err rc;

	*out = NULL;
	*n = 0;
	rc = begin(db, false);
	if (rc)
		return rc;
	rc = fetch_all_datasets(db, out, n);
	return end_tx(db, rc);
}

static bool has_tag(const struct node_dataset *ds, const char *tag)
{
	for (uint32_t i = 0; i < ds->n_tags; i++) {
		if (strcmp(ds->tags[i], tag) == 0)
			return true;
	}
	return false;
}

/* Filters the full list in C: a node holds tens of datasets, and this keeps
 * one prepared statement whatever the number of tags asked for. Tags match
 * exactly (case-sensitive). At least one tag is required: an empty search is
 * what `list` is for, and "all of no tags" matching everything would surprise. */
enum fedc_err db__dataset_search(struct node_db *db, const char (*tags)[FEDC_MAX_TAG_LEN + 1],
				 uint32_t n_tags, struct node_dataset **out, size_t *n)
{
	struct node_dataset *all = NULL;
	size_t count = 0, kept = 0;
	enum fedc_err rc;

	*out = NULL;
	*n = 0;
	if (n_tags == 0 || n_tags > FEDC_MAX_TAGS)
		return fedc_fail(FEDC_ERR_INVAL, "search needs 1 to %d tags, got %u", FEDC_MAX_TAGS, n_tags);
	rc = db__dataset_list(db, &all, &count);
	if (rc)
		return rc;
	for (size_t i = 0; i < count; i++) {
		bool match = true;

		for (uint32_t t = 0; t < n_tags && match; t++)
			match = field_ok(tags[t], sizeof(tags[t])) && has_tag(&all[i], tags[t]);
		if (match && kept != i) /* no self-assignment: it compiles to an overlapping memcpy */
			all[kept] = all[i];
		kept += match;
	}
	if (kept == 0) {
		free(all);
		all = NULL;
	}
	*out = all;
	*n = kept;
	return FEDC_OK;
}

/* ---- training plans ------------------------------------------------------- */

static enum fedc_err parse_status(struct node_db *db, const char *text, enum node_plan_status *out)
{
	for (int i = NODE_PLAN_PENDING; i <= NODE_PLAN_REJECTED; i++) {
		if (strcmp(text, status_names[i]) == 0) {
			*out = (enum node_plan_status)i;
			return FEDC_OK;
		}
	}
	return fedc_fail(FEDC_ERR_DB, "%s: unknown plan status \"%s\"", db->path, text);
}

static enum fedc_err read_plan(struct node_db *db, sqlite3_stmt *st, struct node_plan *out)
{
	char status[FEDC_SHORT_BUF];
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	rc = int_col(db, st, 0, INT64_MIN, INT64_MAX, &out->id);
	if (!rc)
		rc = copy_col(db, st, 1, out->name, sizeof(out->name));
	if (!rc)
		rc = copy_col(db, st, 2, out->digest, sizeof(out->digest));
	if (!rc)
		rc = copy_col(db, st, 3, out->algorithm, sizeof(out->algorithm));
	if (!rc)
		rc = copy_col(db, st, 4, status, sizeof(status));
	if (!rc)
		rc = parse_status(db, status, &out->status);
	if (!rc)
		rc = copy_col(db, st, 5, out->requested_by, sizeof(out->requested_by));
	if (!rc)
		rc = int_col(db, st, 6, INT64_MIN, INT64_MAX, &out->requested_at);
	if (!rc)
		rc = int_col(db, st, 7, INT64_MIN, INT64_MAX, &out->decided_at);
	if (!rc)
		rc = copy_col(db, st, 8, out->notes, sizeof(out->notes));
	if (!rc)
		rc = copy_col(db, st, 9, out->path, sizeof(out->path));
	return rc;
}

/* A digest must be the lower-case hex of a known algorithm: it is compared
 * as a string against what the node computes. */
static enum fedc_err check_digest(const char *digest, const char *algorithm)
{
	enum fedc_hash_alg alg = FEDC_HASH_SHA256;

	if (algorithm && algorithm[0] && fedc_hash_alg_parse(algorithm, &alg) != FEDC_OK)
		return fedc_fail(FEDC_ERR_INVAL, "unknown digest algorithm \"%s\"", algorithm);
	if (!digest || !fedc_hex_valid(digest, fedc_hash_hexlen(alg)))
		return fedc_fail(FEDC_ERR_INVAL, "\"%.140s\" is not a %s digest (%zu lower-case hex digits)",
				 digest ? digest : "", fedc_hash_alg_name(alg), fedc_hash_hexlen(alg));
	return FEDC_OK;
}

static enum fedc_err fetch_plan(struct node_db *db, const char *digest, struct node_plan *out)
{
	sqlite3_stmt *st = NULL;
	enum fedc_err rc = prepared(db, ST_PLAN_GET, &st);
	int src;

	if (rc)
		return rc;
	if (sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC) != SQLITE_OK) {
		rc = db_fail(db, "bind digest");
		goto out;
	}
	src = sqlite3_step(st);
	if (src == SQLITE_DONE)
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "no training plan with digest %s", digest);
	else if (src != SQLITE_ROW)
		rc = db_fail(db, "get plan");
	else
		rc = read_plan(db, st, out);
out:
	finish(st);
	return rc;
}

enum fedc_err db__plan_get(struct node_db *db, const char *digest, struct node_plan *out)
{
	enum fedc_err rc = begin(db, false);

	if (rc)
		return rc;
	rc = fetch_plan(db, digest, out);
	return end_tx(db, rc);
}

/* Adds a pending row unless the digest is known (ON CONFLICT DO NOTHING). */
static enum fedc_err insert_plan(struct node_db *db, const char *digest, const char *algorithm, const char *name,
				 const char *requested_by, int64_t requested_at, const char *notes,
				 const char *path)
{
	struct binder b = { NULL, SQLITE_OK };
	enum fedc_err rc = prepared(db, ST_PLAN_INSERT, &b.st);

	if (rc)
		return rc;
	bind_text(&b, 1, name ? name : "");
	bind_text(&b, 2, digest);
	bind_text(&b, 3, algorithm && algorithm[0] ? algorithm : "sha256");
	bind_text(&b, 4, requested_by && requested_by[0] ? requested_by : "admin");
	bind_int(&b, 5, requested_at ? requested_at : (int64_t)time(NULL));
	bind_text(&b, 6, notes ? notes : "");
	bind_text(&b, 7, path ? path : "");
	if (b.rc != SQLITE_OK) {
		finish(b.st);
		return db_fail(db, "bind plan");
	}
	return step_done(db, ST_PLAN_INSERT, "insert plan");
}

static enum fedc_err check_plan(const struct node_plan *plan)
{
	if (!field_ok(plan->name, sizeof(plan->name)) || !field_ok(plan->algorithm, sizeof(plan->algorithm)) ||
	    !field_ok(plan->digest, sizeof(plan->digest)) ||
	    !field_ok(plan->requested_by, sizeof(plan->requested_by)) ||
	    !field_ok(plan->notes, sizeof(plan->notes)) || !field_ok(plan->path, sizeof(plan->path)))
		return fedc_fail(FEDC_ERR_INVAL, "training plan: a text field is not terminated");
	return check_digest(plan->digest, plan->algorithm);
}

/* A known digest keeps its status, name and notes: a researcher asking again
 * must not reset an admin's decision. Only a missing file location is filled
 * in, since the file is the same content by its digest. */
enum fedc_err db__plan_register(struct node_db *db, const struct node_plan *plan, struct node_plan *out)
{
	struct binder b = { NULL, SQLITE_OK };
	struct node_plan stored;
	enum fedc_err rc = check_plan(plan);

	if (rc)
		return rc;
	rc = begin(db, true);
	if (rc)
		return rc;
	rc = insert_plan(db, plan->digest, plan->algorithm, plan->name, plan->requested_by, plan->requested_at,
			 plan->notes, plan->path);
	if (!rc && plan->path[0])
		rc = prepared(db, ST_PLAN_FILL_PATH, &b.st);
	if (!rc && plan->path[0]) {
		bind_text(&b, 1, plan->digest);
		bind_text(&b, 2, plan->path);
		rc = b.rc == SQLITE_OK ? step_done(db, ST_PLAN_FILL_PATH, "set plan path") : db_fail(db, "bind path");
	}
	if (!rc)
		rc = fetch_plan(db, plan->digest, &stored);
	rc = end_tx(db, rc);
	finish(b.st);
	if (!rc && out)
		*out = stored;
	return rc;
}

enum fedc_err db__plan_set_status(struct node_db *db, const char *digest, enum node_plan_status status,
				  const char *name, const char *notes)
{
	struct binder b = { NULL, SQLITE_OK };
	/* Any algorithm's length: the entry, found by its digest, has its own. */
	enum fedc_err rc = check_digest(digest, digest && strlen(digest) == FEDC_HASH_MAX_HEXLEN ? "sha512" : "sha256");

	if (rc)
		return rc;
	if ((unsigned)status > NODE_PLAN_REJECTED)
		return fedc_fail(FEDC_ERR_INVAL, "unknown plan status %d", (int)status);
	if ((name && strlen(name) > FEDC_MAX_NAME_LEN) || (notes && strlen(notes) > FEDC_MAX_TEXT_LEN))
		return fedc_fail(FEDC_ERR_INVAL, "plan name or notes too long (at most %d and %d bytes)",
				 FEDC_MAX_NAME_LEN, FEDC_MAX_TEXT_LEN);
	rc = begin(db, true);
	if (rc)
		return rc;
	rc = insert_plan(db, digest, "sha256", name, "admin", 0, notes, "");
	if (!rc)
		rc = prepared(db, ST_PLAN_DECIDE, &b.st);
	if (!rc) {
		bind_text(&b, 1, digest);
		bind_text(&b, 2, status_names[status]);
		bind_int(&b, 3, (int64_t)time(NULL));
		bind_text(&b, 4, name && name[0] ? name : NULL);
		bind_text(&b, 5, notes);
		rc = b.rc == SQLITE_OK ? step_done(db, ST_PLAN_DECIDE, "update plan status")
				       : db_fail(db, "bind plan status");
	}
	rc = end_tx(db, rc);
	finish(b.st);
	return rc;
}

enum fedc_err db__plan_remove(struct node_db *db, const char *digest)
{
	sqlite3_stmt *st = NULL;
	enum fedc_err rc = begin(db, true);

	if (rc)
		return rc;
	rc = prepared(db, ST_PLAN_DELETE, &st);
	if (!rc && sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC) != SQLITE_OK) {
		rc = db_fail(db, "bind digest");
		finish(st);
	} else if (!rc) {
		rc = step_done(db, ST_PLAN_DELETE, "delete plan");
	}
	if (!rc && sqlite3_changes(db->conn) == 0)
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "no training plan with digest %s", digest);
	return end_tx(db, rc);
}

enum fedc_err db__plan_list(struct node_db *db, struct node_plan **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct fedc_buf mem = FEDC_BUF_INIT(DB_MAX_LIST_ROWS * sizeof(struct node_plan));
	size_t count = 0;
	enum fedc_err rc;
	int src = SQLITE_DONE;

	*out = NULL;
	*n = 0;
	rc = begin(db, false);
	if (rc)
		return rc;
	rc = prepared(db, ST_PLAN_LIST, &st);
	while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
		void *slot = NULL;

		rc = fedc_buf_extend(&mem, sizeof(struct node_plan), &slot);
		if (!rc)
			rc = read_plan(db, st, slot);
		if (rc)
			break;
		count++;
	}
	if (!rc && src != SQLITE_DONE)
		rc = db_fail(db, "list plans");
	finish(st);
	rc = end_tx(db, rc);
	if (rc) {
		fedc_buf_free(&mem);
		return rc;
	}
	*out = (struct node_plan *)mem.data; /* malloc'd: the caller frees it */
	*n = count;
	return FEDC_OK;
}

/* ---- plan sources ---------------------------------------------------------- */

enum fedc_err db__plan_source_put(struct node_db *db, const char *digest, const char *source_digest,
				  const void *bundle, size_t len, const char *refused)
{
	struct binder b = { NULL, SQLITE_OK };
	enum fedc_err rc;

	if (!digest || !source_digest || (bundle == NULL) == (refused == NULL || !refused[0]) ||
	    len > FEDC_SOURCE_MAX)
		return fedc_fail(FEDC_ERR_INVAL, "plan source: give a bundle of at most %u bytes or why it was refused",
				 FEDC_SOURCE_MAX);
	rc = begin(db, true);
	if (rc)
		return rc;
	rc = prepared(db, ST_SOURCE_PUT, &b.st);
	if (rc)
		return end_tx(db, rc);
	bind_text(&b, 1, digest);
	bind_text(&b, 2, source_digest);
	if (b.rc == SQLITE_OK)
		b.rc = bundle ? sqlite3_bind_blob(b.st, 3, bundle, (int)len, SQLITE_STATIC) : sqlite3_bind_null(b.st, 3);
	bind_text(&b, 4, bundle ? "" : refused);
	bind_int(&b, 5, (int64_t)time(NULL));
	if (b.rc != SQLITE_OK) {
		finish(b.st);
		rc = db_fail(db, "bind plan source");
	} else {
		rc = step_done(db, ST_SOURCE_PUT, "store plan source");
	}
	if (rc == FEDC_ERR_DB && sqlite3_extended_errcode(db->conn) == SQLITE_CONSTRAINT_FOREIGNKEY)
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "no training plan with digest %s", digest);
	return end_tx(db, rc);
}

static enum fedc_err read_source(struct node_db *db, sqlite3_stmt *st, struct node_plan_source *out)
{
	const void *blob = sqlite3_column_blob(st, 1);
	int len = sqlite3_column_bytes(st, 1);
	enum fedc_err rc = copy_col(db, st, 0, out->source_digest, sizeof(out->source_digest));

	if (!rc)
		rc = copy_col(db, st, 2, out->refused, sizeof(out->refused));
	if (!rc)
		rc = int_col(db, st, 3, 0, INT64_MAX, &out->received_at);
	out->has_bundle = sqlite3_column_type(st, 1) != SQLITE_NULL;
	if (!rc && out->has_bundle)
		rc = fedc_buf_append(&out->bundle, blob ? blob : "", (size_t)len);
	return rc;
}

enum fedc_err db__plan_source_get(struct node_db *db, const char *digest, struct node_plan_source *out)
{
	sqlite3_stmt *st = NULL;
	enum fedc_err rc;
	int src;

	memset(out, 0, sizeof(*out));
	fedc_buf_init(&out->bundle, FEDC_SOURCE_MAX);
	rc = begin(db, false);
	if (rc)
		return rc;
	rc = prepared(db, ST_SOURCE_GET, &st);
	if (!rc && sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC) != SQLITE_OK) {
		rc = db_fail(db, "bind digest");
	} else if (!rc) {
		src = sqlite3_step(st);
		if (src == SQLITE_DONE)
			rc = fedc_fail(FEDC_ERR_NOT_FOUND, "no source was shipped with plan %s", digest);
		else if (src != SQLITE_ROW)
			rc = db_fail(db, "get plan source");
		else
			rc = read_source(db, st, out);
	}
	finish(st);
	rc = end_tx(db, rc);
	if (rc)
		fedc_buf_free(&out->bundle);
	return rc;
}

/* ---- seen requests (replay protection) ------------------------------------ */

static enum fedc_err remember(struct node_db *db, const char *signer, const char *nonce, int64_t ts_ms,
			      int64_t forget_before_ms)
{
	struct binder b = { NULL, SQLITE_OK };
	sqlite3_stmt *prune = NULL;
	enum fedc_err rc = begin(db, true);
	int src;

	if (rc)
		return rc;
	rc = prepared(db, ST_SEEN_PRUNE, &prune);
	if (!rc)
		rc = prepared(db, ST_SEEN_INSERT, &b.st);
	if (rc)
		return end_tx(db, rc);
	if (sqlite3_bind_int64(prune, 1, forget_before_ms) != SQLITE_OK)
		rc = db_fail(db, "bind");
	else
		rc = step_done(db, ST_SEEN_PRUNE, "forget old requests");
	bind_text(&b, 1, signer);
	bind_text(&b, 2, nonce);
	bind_int(&b, 3, ts_ms);
	if (!rc && b.rc != SQLITE_OK)
		rc = db_fail(db, "bind request");
	if (!rc) {
		src = sqlite3_step(b.st);
		if ((src & 0xff) == SQLITE_CONSTRAINT) /* extended codes are on */
			rc = fedc_fail(FEDC_ERR_EXISTS, "replayed: request %s from %s was already accepted", nonce,
				       signer);
		else if (src != SQLITE_DONE)
			rc = db_fail(db, "remember request");
	}
	finish(b.st);
	return end_tx(db, rc);
}

enum fedc_err db__request_remember(struct node_db *db, const char *signer, const char *nonce, int64_t ts_ms,
				   int64_t forget_before_ms)
{
	enum fedc_err rc = sync_relaxed(db, true);

	if (!rc)
		rc = remember(db, signer, nonce, ts_ms, forget_before_ms);
	return sync_restore(db, rc);
}

enum fedc_err db__request_each(struct node_db *db, int64_t since_ms, db_request_fn fn, void *ctx)
{
	sqlite3_stmt *st = NULL;
	enum fedc_err rc = begin(db, false);
	int src = SQLITE_DONE;

	if (rc)
		return rc;
	rc = prepared(db, ST_SEEN_LIST, &st);
	if (!rc && sqlite3_bind_int64(st, 1, since_ms) != SQLITE_OK)
		rc = db_fail(db, "bind");
	while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW)
		fn(ctx, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
		   sqlite3_column_int64(st, 2));
	if (!rc && src != SQLITE_DONE)
		rc = db_fail(db, "list seen requests");
	finish(st);
	return end_tx(db, rc);
}

/* ---- node-level DP rounds ------------------------------------------------- */

enum fedc_err db__dp_round_add(struct node_db *db, const char *job_id, uint64_t round, const char *fingerprint,
			       double noise)
{
	struct binder b = { NULL, SQLITE_OK };
	enum fedc_err rc = begin(db, true);

	if (!rc)
		rc = prepared(db, ST_DP_INSERT, &b.st);
	if (rc)
		return end_tx(db, rc);
	bind_text(&b, 1, job_id);
	bind_int(&b, 2, round > INT64_MAX ? INT64_MAX : (int64_t)round);
	bind_text(&b, 3, fingerprint);
	if (b.rc == SQLITE_OK)
		b.rc = sqlite3_bind_double(b.st, 4, noise);
	bind_int(&b, 5, (int64_t)time(NULL));
	if (b.rc != SQLITE_OK) {
		finish(b.st);
		rc = db_fail(db, "bind dp round");
	} else {
		rc = step_done(db, ST_DP_INSERT, "record a dp round");
	}
	return end_tx(db, rc);
}

static enum fedc_err job_round_insert(struct node_db *db, const struct node_job_round *r)
{
	struct binder b = { NULL, SQLITE_OK };
	enum fedc_err rc = begin(db, true);

	if (!rc)
		rc = prepared(db, ST_JOB_ROUND_INSERT, &b.st);
	if (rc)
		return end_tx(db, rc);
	bind_int(&b, 1, (int64_t)time(NULL));
	bind_text(&b, 2, r->job_id);
	bind_text(&b, 3, r->researcher_id);
	bind_text(&b, 4, r->dataset_id);
	bind_text(&b, 5, r->plan_digest);
	bind_int(&b, 6, r->round > INT64_MAX ? INT64_MAX : (int64_t)r->round);
	bind_text(&b, 7, r->evaluate_only ? "evaluate" : "train");
	bind_text(&b, 8, r->result);
	bind_text(&b, 9, r->detail);
	bind_int(&b, 10, r->n_samples > INT64_MAX ? INT64_MAX : (int64_t)r->n_samples);
	if (b.rc == SQLITE_OK)
		b.rc = sqlite3_bind_double(b.st, 11, r->dp_noise);
	if (b.rc == SQLITE_OK)
		b.rc = sqlite3_bind_double(b.st, 12, r->seconds);
	if (b.rc != SQLITE_OK) {
		finish(b.st);
		rc = db_fail(db, "bind job round");
	} else {
		rc = step_done(db, ST_JOB_ROUND_INSERT, "record a job round");
	}
	return end_tx(db, rc);
}

enum fedc_err db__job_round_add(struct node_db *db, const struct node_job_round *r)
{
	enum fedc_err rc = sync_relaxed(db, true);

	if (!rc)
		rc = job_round_insert(db, r);
	return sync_restore(db, rc);
}

enum fedc_err db__dp_rounds(struct node_db *db, const char *job_id, const char *except_fingerprint,
			    double **noises, size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct binder b = { NULL, SQLITE_OK };
	double *list = NULL;
	size_t count = 0, cap = 0;
	enum fedc_err rc;
	int src = SQLITE_DONE;

	*noises = NULL;
	*n = 0;
	rc = prepared(db, ST_DP_LIST, &st);
	if (rc)
		return rc;
	b.st = st;
	bind_text(&b, 1, job_id);
	bind_text(&b, 2, except_fingerprint);
	if (b.rc != SQLITE_OK)
		rc = db_fail(db, "bind");
	while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			size_t grow = cap ? 2 * cap : 16;
			double *bigger = realloc(list, grow * sizeof(*list));

			if (!bigger) {
				rc = FEDC_ERR_NOMEM;
				break;
			}
			list = bigger;
			cap = grow;
		}
		list[count++] = sqlite3_column_double(st, 0);
	}
	if (!rc && src != SQLITE_DONE)
		rc = db_fail(db, "list dp rounds");
	finish(st);
	if (rc) {
		free(list);
		return rc;
	}
	*noises = list;
	*n = count;
	return FEDC_OK;
}

/* Reads the spent epsilon inside the caller's transaction. */
static enum fedc_err budget_spent(struct node_db *db, const char *dataset_id, double *spent)
{
	sqlite3_stmt *st = NULL;
	struct binder b = { NULL, SQLITE_OK };
	enum fedc_err rc;
	int src;

	*spent = 0;
	rc = prepared(db, ST_BUDGET_GET, &st);
	if (rc)
		return rc;
	b.st = st;
	bind_text(&b, 1, dataset_id);
	if (b.rc != SQLITE_OK)
		rc = db_fail(db, "bind analytics budget");
	src = rc ? SQLITE_DONE : sqlite3_step(st);
	if (src == SQLITE_ROW)
		*spent = sqlite3_column_double(st, 0);
	else if (!rc && src != SQLITE_DONE)
		rc = db_fail(db, "read analytics budget");
	finish(st);
	return rc;
}

enum fedc_err db__analytics_charge(struct node_db *db, const char *dataset_id, double epsilon, double budget,
				   double *remaining)
{
	struct binder b = { NULL, SQLITE_OK };
	double spent = 0;
	enum fedc_err rc = begin(db, true);

	if (rc)
		return rc;
	rc = budget_spent(db, dataset_id, &spent);
	*remaining = budget - spent > 0 ? budget - spent : 0;
	if (!rc && spent + epsilon > budget * (1 + 1e-12) && *remaining <= 0)
		rc = fedc_fail(FEDC_ERR_PRIVACY, "dataset %s has spent all of its analytics budget (epsilon %g): no "
			       "query with noise can run on it until the node's operator raises [analytics] budget",
			       dataset_id, budget);
	else if (!rc && spent + epsilon > budget * (1 + 1e-12))
		rc = fedc_fail(FEDC_ERR_PRIVACY, "the query would spend epsilon %g but dataset %s has %g of its analytics "
			       "budget of %g left: ask for epsilon <= %g (or the node's operator raises [analytics] budget)",
			       epsilon, dataset_id, *remaining, budget, *remaining);
	if (!rc)
		rc = prepared(db, ST_BUDGET_ADD, &b.st);
	if (!rc) {
		bind_text(&b, 1, dataset_id);
		if (b.rc == SQLITE_OK)
			b.rc = sqlite3_bind_double(b.st, 2, epsilon);
		bind_int(&b, 3, (int64_t)time(NULL));
		if (b.rc != SQLITE_OK) {
			finish(b.st);
			rc = db_fail(db, "bind analytics budget");
		} else {
			rc = step_done(db, ST_BUDGET_ADD, "charge the analytics budget");
		}
		if (!rc)
			*remaining = budget - spent - epsilon > 0 ? budget - spent - epsilon : 0;
	}
	return end_tx(db, rc);
}

enum fedc_err db__analytics_spent(struct node_db *db, const char *dataset_id, double *spent)
{
	enum fedc_err rc = begin(db, false);

	if (!rc)
		rc = end_tx(db, budget_spent(db, dataset_id, spent));
	return rc;
}
