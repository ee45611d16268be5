/* The console's tables in the node's sqlite database (schema 8, node/db.c):
 * console_users, console_audit, plan_decisions. A second connection beside
 * the node's own (node/db.h, opened first so that it migrates): WAL, foreign
 * keys, the same busy timeout as the node, every write in BEGIN IMMEDIATE
 * (one statement: sqlite's implicit transaction). Rows come back as text to
 * a callback; values are the database's, to be escaped by the caller. */
#ifndef FEDC_CONSOLE_STORE_H
#define FEDC_CONSOLE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

struct store; /* opaque */

/* The queries pages read. */
enum store_query {
	STORE_USERS,           /* name, created_at */
	STORE_AUDIT,           /* at, user, remote, action, target, detail; newest first, 500 */
	STORE_DECISIONS,       /* at, digest, decision, note, decided_by; newest first, 500 */
	STORE_JOBS,            /* job_id, researcher, dataset, plan digest, rounds, rounds ok, first at, last at,
				* last result, last round's samples (job_rounds; newest first, 500) */
	STORE_ANALYTICS,       /* dataset_id, spent, queries, updated_at */
	STORE__QUERIES,
};

/* Opens `path` (which db__open has brought to schema 8 or later).
 * FEDC_ERR_DB naming the file. */
FEDC_NODISCARD
enum fedc_err store__open(const char *path, struct store **out);
void store__close(struct store *st);

/* FEDC_ERR_EXISTS when the name is taken; FEDC_ERR_DB. */
FEDC_NODISCARD
enum fedc_err store__user_add(struct store *st, const char *name, const char *password_hash, int64_t now);
/* FEDC_ERR_NOT_FOUND; FEDC_ERR_DB. */
FEDC_NODISCARD
enum fedc_err store__user_remove(struct store *st, const char *name);
/* The stored hash of `name` (cap bytes): FEDC_ERR_NOT_FOUND; FEDC_ERR_DB. */
FEDC_NODISCARD
enum fedc_err store__user_password(struct store *st, const char *name, char *out, size_t cap);

/* One audit row: who (a user, or "-" before login) from where did what to
 * what. FEDC_ERR_DB. */
FEDC_NODISCARD
enum fedc_err store__audit(struct store *st, int64_t now, const char *user, const char *remote, const char *action,
			   const char *target, const char *detail);

/* One plan decision taken in the console (its history; training_plans
 * keeps only the latest). FEDC_ERR_DB. */
FEDC_NODISCARD
enum fedc_err store__decision(struct store *st, int64_t now, const char *digest, const char *decision,
			      const char *note, const char *by);

/* Hands every row of `q` to fn (columns as text, "" for NULL). FEDC_ERR_DB;
 * fn's non-zero result stops the walk and is returned. */
typedef enum fedc_err (*store_row_fn)(void *ctx, const char *const *cols, int n);
FEDC_NODISCARD
enum fedc_err store__each(struct store *st, enum store_query q, store_row_fn fn, void *ctx);

#endif
