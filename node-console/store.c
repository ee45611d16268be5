/* The console's tables (see store.h). */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_BUSY_TIMEOUT_MS 5000 /* as node/db.c */
#define STORE_COLS_MAX 12

struct store {
	sqlite3 *conn;
	char path[4096];
};

static const char *const query_sql[STORE__QUERIES] = {
	[STORE_USERS] = "SELECT name, created_at FROM console_users ORDER BY name",
	[STORE_AUDIT] = "SELECT at, user, remote, action, target, detail FROM console_audit ORDER BY id DESC LIMIT 500",
	[STORE_DECISIONS] = "SELECT at, digest, decision, note, decided_by FROM plan_decisions ORDER BY id DESC LIMIT 500",
	[STORE_JOBS] = "SELECT j.job_id, j.researcher_id, COALESCE(d.name, j.dataset_id), j.plan_digest, COUNT(*),"
		       " SUM(j.result = 'ok'), MIN(j.at), MAX(j.at),"
		       " (SELECT k.result || CASE k.detail WHEN '' THEN '' ELSE ': ' || k.detail END FROM job_rounds k"
		       "  WHERE k.job_id = j.job_id ORDER BY k.id DESC LIMIT 1),"
		       " (SELECT k.n_samples FROM job_rounds k WHERE k.job_id = j.job_id ORDER BY k.id DESC LIMIT 1)"
		       " FROM job_rounds j LEFT JOIN datasets d ON d.id = j.dataset_id"
		       " GROUP BY j.job_id, j.researcher_id, j.dataset_id, j.plan_digest ORDER BY MAX(j.at) DESC LIMIT 500",
	[STORE_ANALYTICS] = "SELECT dataset_id, spent, queries, updated_at FROM analytics_budget ORDER BY dataset_id",
};

static enum fedc_err db_fail(struct store *st, const char *what)
{
	return fedc_fail(FEDC_ERR_DB, "%s: %s: %s", st->path, what, sqlite3_errmsg(st->conn));
}

enum fedc_err store__open(const char *path, struct store **out)
{
	struct store *st = calloc(1, sizeof(*st));
	enum fedc_err rc = FEDC_OK;

	*out = NULL;
	if (!st)
		return FEDC_ERR_NOMEM;
	snprintf(st->path, sizeof(st->path), "%s", path);
	if (sqlite3_open_v2(path, &st->conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rc = st->conn ? db_fail(st, "open") : FEDC_ERR_NOMEM;
		goto out;
	}
	sqlite3_busy_timeout(st->conn, STORE_BUSY_TIMEOUT_MS);
	if (sqlite3_exec(st->conn, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", NULL, NULL, NULL) !=
	    SQLITE_OK)
		rc = db_fail(st, "PRAGMA");
out:
	if (rc)
		store__close(st);
	else
		*out = st;
	return rc;
}

void store__close(struct store *st)
{
	if (!st)
		return;
	sqlite3_close(st->conn);
	free(st);
}

/* Runs one write statement with text and integer arguments ("t" / "i" in
 * `types`), in sqlite's implicit transaction. *changes gets the rows
 * written. SQLITE_CONSTRAINT comes back as FEDC_ERR_EXISTS. */
static enum fedc_err write1(struct store *st, const char *sql, const char *types, const void *const *args,
			    int *changes)
{
	sqlite3_stmt *stmt = NULL;
	enum fedc_err rc = FEDC_OK;
	int src;

	if (sqlite3_prepare_v2(st->conn, sql, -1, &stmt, NULL) != SQLITE_OK)
		return db_fail(st, sql);
	for (int i = 0; types[i]; i++) {
		if (types[i] == 't')
			sqlite3_bind_text(stmt, i + 1, args[i], -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(stmt, i + 1, *(const int64_t *)args[i]);
	}
	src = sqlite3_step(stmt);
	if (src == SQLITE_CONSTRAINT || (src & 0xff) == SQLITE_CONSTRAINT)
		rc = fedc_fail(FEDC_ERR_EXISTS, "%s: already there", st->path);
	else if (src != SQLITE_DONE)
		rc = db_fail(st, sql);
	if (changes)
		*changes = sqlite3_changes(st->conn);
	sqlite3_finalize(stmt);
	return rc;
}

enum fedc_err store__user_add(struct store *st, const char *name, const char *password_hash, int64_t now)
{
	const void *args[] = { name, password_hash, &now };
	enum fedc_err rc = write1(st, "INSERT INTO console_users (name, password, created_at) VALUES (?1, ?2, ?3)",
				  "tti", args, NULL);

	if (rc == FEDC_ERR_EXISTS)
		rc = fedc_fail(FEDC_ERR_EXISTS, "user \"%s\" exists already", name);
	return rc;
}

enum fedc_err store__user_remove(struct store *st, const char *name)
{
	const void *args[] = { name };
	int changes = 0;
	enum fedc_err rc = write1(st, "DELETE FROM console_users WHERE name = ?1", "t", args, &changes);

	if (!rc && changes == 0)
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "no user \"%s\"", name);
	return rc;
}

enum fedc_err store__user_password(struct store *st, const char *name, char *out, size_t cap)
{
	sqlite3_stmt *stmt = NULL;
	enum fedc_err rc = FEDC_OK;
	int src;

	if (sqlite3_prepare_v2(st->conn, "SELECT password FROM console_users WHERE name = ?1", -1, &stmt, NULL) !=
	    SQLITE_OK)
		return db_fail(st, "select user");
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	src = sqlite3_step(stmt);
	if (src == SQLITE_DONE)
		rc = FEDC_ERR_NOT_FOUND;
	else if (src != SQLITE_ROW)
		rc = db_fail(st, "select user");
	else if ((size_t)sqlite3_column_bytes(stmt, 0) >= cap)
		rc = fedc_fail(FEDC_ERR_DB, "%s: the password hash of \"%s\" is too long", st->path, name);
	else
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return rc;
}

enum fedc_err store__audit(struct store *st, int64_t now, const char *user, const char *remote, const char *action,
			   const char *target, const char *detail)
{
	const void *args[] = { &now, user, remote, action, target, detail };

	return write1(st,
		      "INSERT INTO console_audit (at, user, remote, action, target, detail)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
		      "ittttt", args, NULL);
}

enum fedc_err store__decision(struct store *st, int64_t now, const char *digest, const char *decision,
			      const char *note, const char *by)
{
	const void *args[] = { &now, digest, decision, note, by };

	return write1(st,
		      "INSERT INTO plan_decisions (at, digest, decision, note, decided_by) VALUES (?1, ?2, ?3, ?4, ?5)",
		      "itttt", args, NULL);
}

enum fedc_err store__each(struct store *st, enum store_query q, store_row_fn fn, void *ctx)
{
	sqlite3_stmt *stmt = NULL;
	const char *cols[STORE_COLS_MAX];
	enum fedc_err rc = FEDC_OK;
	int src = SQLITE_DONE, n;

	if (sqlite3_prepare_v2(st->conn, query_sql[q], -1, &stmt, NULL) != SQLITE_OK)
		return db_fail(st, query_sql[q]);
	n = sqlite3_column_count(stmt);
	while (!rc && (src = sqlite3_step(stmt)) == SQLITE_ROW) {
		for (int i = 0; i < n && i < STORE_COLS_MAX; i++) {
			const unsigned char *t = sqlite3_column_text(stmt, i);

			cols[i] = t ? (const char *)t : "";
		}
		rc = fn(ctx, cols, n);
	}
	if (!rc && src != SQLITE_DONE)
		rc = db_fail(st, query_sql[q]);
	sqlite3_finalize(stmt);
	return rc;
}
