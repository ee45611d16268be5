/* `fedc-researcher analytics QUERY.ini` (docs/researcher-guide.md,
 * "Federated analytics"): sends the query of QUERY.ini's [analytics]
 * section to every node, combines their partial results exactly (counts,
 * sums, sums of squares, min, max and histogram counts add up over nodes;
 * means, variances and quantiles are derived from the totals), prints a
 * table and writes analytics.csv and analytics.json. */
#ifndef FEDC_RESEARCHER_ANALYTICS_H
#define FEDC_RESEARCHER_ANALYTICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fedc/err.h"
#include "fedc/limits.h"
#include "fedc/message.h"

struct experiment;

#define ANALYTICS_MAX_COLS 32
#define ANALYTICS_MAX_BIN_EDGES 65
#define ANALYTICS_MAX_QUANTILES 16
#define ANALYTICS_MAX_CELLS 4096  /* groups x columns kept */
#define ANALYTICS_NAME_LEN 256

enum analytics_stat {
	STAT_COUNT = 1 << 0, STAT_SUM = 1 << 1, STAT_MEAN = 1 << 2, STAT_VAR = 1 << 3, STAT_STD = 1 << 4,
	STAT_MIN = 1 << 5, STAT_MAX = 1 << 6, STAT_HISTOGRAM = 1 << 7, STAT_QUANTILES = 1 << 8,
};

struct analytics_request_col {
	char name[ANALYTICS_NAME_LEN];
	uint32_t n_edges;
	double edges[ANALYTICS_MAX_BIN_EDGES];
};

/* QUERY.ini's [analytics] section, checked as far as the researcher can (the
 * nodes check columns and the filter against their data). */
struct analytics_request {
	char tags[1024];
	unsigned stats;
	uint32_t n_quantiles;
	double quantiles[ANALYTICS_MAX_QUANTILES];
	uint32_t n_columns;
	struct analytics_request_col columns[ANALYTICS_MAX_COLS];
	char output_dir[4096];
	bool output_dir_set;           /* written in the file (not the default) */
	int64_t timeout_s;             /* timeout_s: how long the nodes' answers are waited for */
	char wire[FEDC_MAX_ANALYTICS_QUERY + 1]; /* the `query` field sent */
};

/* Reads [analytics] of `path` (keys: docs/researcher-guide.md).
 * FEDC_ERR_CONFIG naming the file, key and what to write; FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err analytics__read_request(const char *path, struct analytics_request *out);

/* ---- combining ---- */

struct analytics_total {
	char group[ANALYTICS_NAME_LEN];
	uint32_t column;               /* index into the request's columns */
	double count, sum, sumsq, min, max;
	bool has_minmax;               /* every contributing node released min and max */
	bool has_sum, has_sumsq;       /* ... and the sum, the sum of squares */
	double bins[ANALYTICS_MAX_BIN_EDGES - 1];
	double var_count, var_sum, var_sumsq, var_bin; /* summed noise variances */
	uint32_t n_nodes;              /* nodes that contributed */
	uint32_t n_suppressed;         /* nodes that suppressed it */
};

struct analytics_node_info {
	char node_id[FEDC_MAX_ID_LEN + 1];
	char dataset_id[FEDC_MAX_ID_LEN + 1];
	char noise[16];
	double epsilon, remaining;
};

struct analytics_combined {
	const struct analytics_request *req;
	size_t n_totals;
	struct analytics_total *totals;   /* ANALYTICS_MAX_CELLS slots */
	size_t n_nodes;
	struct analytics_node_info nodes[64];
};

FEDC_NODISCARD
enum fedc_err analytics__combined_init(struct analytics_combined *c, const struct analytics_request *req);
void analytics__combined_free(struct analytics_combined *c);

/* Adds one node's `result` text (outside bytes: every line, field and
 * number is checked; a column or bin count that does not match the request
 * is refused). On failure nothing of it is added. FEDC_ERR_MALFORMED naming
 * the line, FEDC_ERR_TOO_BIG past ANALYTICS_MAX_CELLS. */
FEDC_NODISCARD
enum fedc_err analytics__combine(struct analytics_combined *c, const char *node_id, const char *dataset_id,
				 const uint8_t *text, size_t len);

/* Orders the totals by group, then column as asked; the nodes by id. */
void analytics__combined_sort(struct analytics_combined *c);

/* Derived values of a total: NAN when they cannot be had (no rows, one row
 * for the variance). The variance is the sample variance (n - 1). */
double analytics__mean(const struct analytics_total *t);
double analytics__variance(const struct analytics_total *t);
/* Quantile `q` in [0, 1] from the histogram, linear within a bin; NAN
 * without bins or with no count in them. */
double analytics__quantile(const struct analytics_total *t, const struct analytics_request_col *col, double q);

/* ---- reporting ---- */

void analytics__print_table(const struct analytics_combined *c, FILE *out);
FEDC_NODISCARD
enum fedc_err analytics__write_csv(const struct analytics_combined *c, const char *path);
FEDC_NODISCARD
enum fedc_err analytics__write_json(const struct analytics_combined *c, const char *path);

/* The command: returns the exit code (0; 1 after printing why; 2 for a bad
 * QUERY.ini). `network_path` NULL: QUERY.ini's own [network]; `output_dir`
 * NULL: [analytics] output_dir; `timeout_s` 0: [analytics] timeout_s. */
int analytics__run(const char *query_path, const char *network_path, const char *output_dir, int timeout_s);

/* ---- [analytics] in an experiment file (`fedc-researcher run`) ---- */

enum analytics_part {
	ANALYTICS_NONE,            /* no [analytics]: training only */
	ANALYTICS_ALONE,           /* [analytics] and no [experiment]: the query is the run */
	ANALYTICS_BEFORE_TRAINING, /* both: the query runs first, its results in the run's output_dir */
};

/* Which of the above the file `path` is. FEDC_ERR_IO / FEDC_ERR_CONFIG
 * (unreadable, not INI) with the detail. */
FEDC_NODISCARD
enum fedc_err analytics__part_of(const char *path, enum analytics_part *out);

/* ANALYTICS_BEFORE_TRAINING: reads and checks [analytics] of `path` before
 * anything runs, so a bad key stops the run before the output directory is
 * touched; refuses `output_dir` there (the results go to the run's). */
FEDC_NODISCARD
enum fedc_err analytics__read_step(const char *path, struct analytics_request *out);

/* A run without [analytics] in `output_dir`: removes the analytics.csv and
 * analytics.json an earlier run's step left there, so that they are not
 * taken (or archived) as this run's. FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err analytics__drop_results(const char *output_dir);

/* Runs the query `r` over the federation of `net` and writes analytics.csv
 * and analytics.json into `output_dir`. The exit code, as analytics__run. */
int analytics__run_step(const struct analytics_request *r, const struct experiment *net, const char *output_dir);

#endif
