/* The node's sqlite database: registered datasets and the training-plan
 * approval list. WAL, foreign keys on, busy timeout, schema version in
 * PRAGMA user_version. The admin CLI and the running daemon open the same
 * file at the same time. One handle per thread. */
#ifndef FEDC_NODE_DB_H
#define FEDC_NODE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/buf.h"
#include "fedc/err.h"
#include "fedc/limits.h"
#include "fedc/message.h"

#define NODE_PATH_MAX 4096
#define NODE_SHAPE_BUF 96          /* "28x28": up to 7 dimensions of 10 digits */
#define NODE_LABEL_COUNTS_BUF 2048 /* "212,357": rows per class, in class order */
#define NODE_OPTIONS_BUF 1024      /* "size=28x28;channels=1": the kind's registration options */
#define NODE_SCHEMA_BUF 16384      /* a table's columns, serialized (dataset.h) */

struct node_db; /* opaque */

struct node_dataset {
	char id[FEDC_MAX_ID_LEN + 1];          /* UUID given at registration */
	char name[FEDC_MAX_NAME_LEN + 1];
	uint32_t n_tags;
	char tags[FEDC_MAX_TAGS][FEDC_MAX_TAG_LEN + 1];
	char type[FEDC_SHORT_BUF];             /* "csv" or "idx" */
	char path[NODE_PATH_MAX];              /* absolute path of the data (IDX: images) file */
	char labels_path[NODE_PATH_MAX];       /* IDX: absolute path of the labels file; "" for CSV */
	char shape[NODE_SHAPE_BUF];            /* one sample: "28x28" (IDX), "30" (CSV features) */
	char description[FEDC_MAX_TEXT_LEN + 1];
	uint64_t n_samples;
	uint64_t n_features;
	uint32_t n_classes;                    /* 0 for a regression target */
	int32_t label_column;                  /* CSV: column index of the target; -1 for IDX */
	char header[FEDC_SHORT_BUF];           /* CSV header kind: "counts", "names", "none"; "" for IDX */
	/* Rows per class at registration, comma-separated in class order
	 * ("212,357"); "" for regression, for rows registered before schema 2,
	 * and when the list does not fit (dataset show counts them anyway). */
	char label_counts[NODE_LABEL_COUNTS_BUF];
	/* SHA-256 at registration of the file as stored on disk; for IDX, of the
	 * images file's bytes followed by the labels file's bytes. */
	char digest[FEDC_DIGEST_BUF];
	int64_t added_at;                      /* unix seconds */
	char split[FEDC_SHORT_BUF];            /* how test rows are held out: "random" or "stratified" (split.h) */
	char test_of[FEDC_MAX_ID_LEN + 1];     /* id of the dataset this is the test set of; "" if none */
	/* Schema 6. The options registration was given that the kind keeps
	 * ("key=value;..."; the image and volume kinds' size, channels,
	 * normalization, label source), and a table's columns as found
	 * (names, types, categories, missing counts; dataset.h). "" when the
	 * kind has none. */
	char options[NODE_OPTIONS_BUF];
	char schema[NODE_SCHEMA_BUF];
};

enum node_plan_status { NODE_PLAN_PENDING, NODE_PLAN_APPROVED, NODE_PLAN_REJECTED };

struct node_plan {
	int64_t id;
	char name[FEDC_MAX_NAME_LEN + 1];
	char digest[FEDC_DIGEST_BUF];          /* hex digest of the shared object */
	char algorithm[FEDC_SHORT_BUF];        /* "sha256" */
	enum node_plan_status status;
	char requested_by[FEDC_MAX_ID_LEN + 1]; /* researcher id, or "admin" */
	int64_t requested_at;
	int64_t decided_at;                    /* 0 while pending */
	char notes[FEDC_MAX_TEXT_LEN + 1];
	char path[NODE_PATH_MAX];              /* where the file is kept, "" if not kept */
};

/* Opens (creating if needed) the database at `path` and migrates its schema.
 * FEDC_ERR_DB with a detail naming the file. Caller owns *out. */
FEDC_NODISCARD
enum fedc_err db__open(const char *path, struct node_db **out);
void db__close(struct node_db *db);

/* How many of the handle's statements are prepared: each is prepared at its
 * first use, none by db__open (an idle daemon keeps few; docs/benchmarks.md,
 * "Idle node RSS"). For the tests. */
size_t db__prepared_count(const struct node_db *db);

/* Datasets. add: fills ds->id (UUID) and ds->added_at; FEDC_ERR_EXISTS if the
 * name is taken. get/remove take an id or a name; FEDC_ERR_NOT_FOUND. list and
 * search hand back a malloc'd array the caller frees (may be NULL when *n==0);
 * search returns datasets that carry every one of `tags`. */
FEDC_NODISCARD
enum fedc_err db__dataset_add(struct node_db *db, struct node_dataset *ds);
FEDC_NODISCARD
enum fedc_err db__dataset_get(struct node_db *db, const char *id_or_name, struct node_dataset *out);
/* The test set of dataset `id` (`dataset add --test-of`, docs/node-admin.md
 * "Train and test rows": the test set's record names its dataset in
 * test_of), or FEDC_ERR_NOT_FOUND. */
enum fedc_err db__dataset_test_set(struct node_db *db, const char *id, struct node_dataset *out);
FEDC_NODISCARD
enum fedc_err db__dataset_remove(struct node_db *db, const char *id_or_name);
FEDC_NODISCARD
enum fedc_err db__dataset_list(struct node_db *db, struct node_dataset **out, size_t *n);
FEDC_NODISCARD
enum fedc_err db__dataset_search(struct node_db *db, const char (*tags)[FEDC_MAX_TAG_LEN + 1],
				 uint32_t n_tags, struct node_dataset **out, size_t *n);

/* Training plans, keyed by digest. get: FEDC_ERR_NOT_FOUND if unknown.
 * register: adds a pending plan, or leaves an existing one as it is
 * (returns FEDC_OK either way; *out gets the stored row if non-NULL).
 * set_status: approve or reject (adding the row when unknown), records the
 * time and notes. remove: FEDC_ERR_NOT_FOUND if unknown. */
FEDC_NODISCARD
enum fedc_err db__plan_get(struct node_db *db, const char *digest, struct node_plan *out);
FEDC_NODISCARD
enum fedc_err db__plan_register(struct node_db *db, const struct node_plan *plan, struct node_plan *out);
FEDC_NODISCARD
enum fedc_err db__plan_set_status(struct node_db *db, const char *digest, enum node_plan_status status,
				  const char *name, const char *notes);
FEDC_NODISCARD
enum fedc_err db__plan_remove(struct node_db *db, const char *digest);
FEDC_NODISCARD
enum fedc_err db__plan_list(struct node_db *db, struct node_plan **out, size_t *n);

/* The source shipped with a plan (fedc/source_bundle.h), by the plan's
 * digest on this node: the checked bundle, or why it was refused. */
struct node_plan_source {
	char source_digest[FEDC_DIGEST_BUF]; /* SHA-256 the researcher named */
	bool has_bundle;                     /* false: refused, see `refused` */
	struct fedc_buf bundle;              /* the bundle's bytes; the caller frees it */
	char refused[FEDC_MAX_TEXT_LEN + 1];
	int64_t received_at;
};

/* Stores (or replaces) the source of plan `digest`: `bundle` of `len` bytes
 * (checked by the caller with fedc_source_decode), or NULL and `refused`,
 * the reason. FEDC_ERR_NOT_FOUND when no such plan, FEDC_ERR_INVAL,
 * FEDC_ERR_DB. */
FEDC_NODISCARD
enum fedc_err db__plan_source_put(struct node_db *db, const char *digest, const char *source_digest,
				  const void *bundle, size_t len, const char *refused);
/* FEDC_ERR_NOT_FOUND when no source came with the plan; FEDC_ERR_DB,
 * FEDC_ERR_NOMEM. On success the caller frees out->bundle. */
FEDC_NODISCARD
enum fedc_err db__plan_source_get(struct node_db *db, const char *digest, struct node_plan_source *out);

/* Replay protection that survives restarts: records the nonce of an accepted
 * signed request (FEDC_ERR_EXISTS if it is already there) and forgets those
 * stamped before `forget_before_ms`. Committed without an fsync: a power
 * loss may take the last records (restart_guard.h covers that). */
FEDC_NODISCARD
enum fedc_err db__request_remember(struct node_db *db, const char *signer, const char *nonce, int64_t ts_ms,
				   int64_t forget_before_ms);
/* Hands every remembered nonce stamped at or after `since_ms` to `fn`. */
typedef void (*db_request_fn)(void *ctx, const char *signer, const char *nonce, int64_t ts_ms);
FEDC_NODISCARD
enum fedc_err db__request_each(struct node_db *db, int64_t since_ms, db_request_fn fn, void *ctx);

/* Node-level DP (privacy.h): records that this node released round `round`
 * of `job_id` with noise multiplier `noise`, once per round fingerprint (the
 * same round asked again is not recorded twice); and lists the noise
 * multipliers of the job's recorded rounds, but the one of
 * `except_fingerprint`, in a malloc'd array the caller frees (NULL when
 * *n == 0). FEDC_ERR_DB, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err db__dp_round_add(struct node_db *db, const char *job_id, uint64_t round, const char *fingerprint,
			       double noise);
FEDC_NODISCARD
enum fedc_err db__dp_rounds(struct node_db *db, const char *job_id, const char *except_fingerprint,
			    double **noises, size_t *n);

/* One train request the node ran (node/job_log.h), for the console's jobs
 * page (docs/node-console.md). result: "ok" or the error's name; detail:
 * why it failed. FEDC_ERR_DB. Committed without an fsync, as the requests
 * above: a power loss may take the last rows of this history. */
struct node_job_round {
	const char *job_id, *researcher_id, *dataset_id, *plan_digest;
	uint64_t round;
	bool evaluate_only;
	const char *result, *detail;
	uint64_t n_samples;
	double dp_noise, seconds;
};
FEDC_NODISCARD
enum fedc_err db__job_round_add(struct node_db *db, const struct node_job_round *r);

const char *db__plan_status_name(enum node_plan_status status); /* "pending" ... */

/* Analytics budget (analytics.h): adds `epsilon` to what dataset_id spent,
 * in one write transaction, unless that would pass `budget`: then
 * FEDC_ERR_PRIVACY naming what is left. *remaining gets what is left after
 * (or, refused, before). FEDC_ERR_DB. */
FEDC_NODISCARD
enum fedc_err db__analytics_charge(struct node_db *db, const char *dataset_id, double epsilon, double budget,
				   double *remaining);
/* The epsilon dataset_id's analytics queries spent (0 if none). FEDC_ERR_DB. */
FEDC_NODISCARD
enum fedc_err db__analytics_spent(struct node_db *db, const char *dataset_id, double *spent);

#endif
