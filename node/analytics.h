/* Federated analytics at the node (docs/researcher-guide.md, "Federated
 * analytics"; docs/privacy.md, "Analytics").
 *
 * An `analytics` request names datasets by tags and carries a query
 * (analytics_query.h). The node computes, in its own process (no plan
 * runs), per group of `group_by` and per asked column, over the rows that
 * pass the filter and whose cell is present: the count, sum, sum of squares,
 * min, max and the histogram over the asked edges. Its [analytics] policy
 * then decides what leaves: a cell over fewer than min_count rows is
 * suppressed; under noise (Laplace or Gaussian) values are clipped to the
 * column's bounds (the node's own win over the query's), count, sum, sum of
 * squares and each bin get noise scaled to their sensitivity and to an equal
 * share of the query's epsilon, min and max are withheld, and the epsilon is
 * charged to the dataset's budget in the node's database before anything is
 * released.
 *
 * Columns are the table's (the schema's names, or c0, c1, ... for a file
 * without names) and `label`, the target. A categorical column is grouped
 * and filtered by its category names. */
#ifndef FEDC_NODE_ANALYTICS_H
#define FEDC_NODE_ANALYTICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/buf.h"
#include "fedc/err.h"
#include "fedc/message.h"
#include "fedc/plan.h"
#include "analytics_filter.h"
#include "analytics_query.h"

enum analytics_noise { ANALYTICS_NOISE_NONE, ANALYTICS_NOISE_LAPLACE, ANALYTICS_NOISE_GAUSSIAN };

/* The [analytics] section of node.ini. */
struct analytics_policy {
	uint64_t min_count;
	enum analytics_noise noise;
	double max_epsilon;  /* per query */
	double budget;       /* per dataset */
	double delta;        /* gaussian */
	const char *bounds;  /* "COL:LO:HI, ..." or "" */
};

/* "none", "laplace", "gaussian" -> the enum; false for another name. */
bool analytics__noise_parse(const char *name, enum analytics_noise *out);

/* One group's statistics of one asked column. */
struct analytics_cell {
	double count, sum, sumsq, min, max;
	double bins[ANALYTICS_MAX_EDGES - 1];
	bool suppressed;
};

/* Noise standard deviations per released value of a column (0 without noise). */
struct analytics_scale {
	double count, sum, sumsq, bin;
	double lo, hi;       /* the clipping range (noise only) */
};

/* What a query computed: n_groups x q->n_columns cells, row-major by group. */
struct analytics_result {
	const struct analytics_query *query;
	uint32_t n_groups;
	char **group_names;  /* n_groups strings; "*" when there is no group_by */
	struct analytics_cell *cells;
	struct analytics_scale scales[ANALYTICS_MAX_COLUMNS];
	enum analytics_noise noise;
	double epsilon;      /* what the query spends (0 without noise) */
	double remaining;    /* the dataset's budget left after it */
};

/* The dataset's columns as the filter and query see them: one per feature
 * (row index = feature index) and `label` (index n_features). *names holds
 * the generated names; free both with analytics__columns_free. FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err analytics__columns(const struct fedc_data *data, struct analytics_col **cols, size_t *n_cols,
				 char ***names);
void analytics__columns_free(struct analytics_col *cols, size_t n_cols, char **names);

/* Exact statistics of `q` over `data` (clipped to the bounds when the
 * policy adds noise) with min_count applied, and the noise scales and
 * epsilon the policy asks for (noise itself is analytics__add_noise).
 * FEDC_ERR_INVAL naming what to change: an unknown column, a bad filter, a
 * group_by that is not categorical, a column without bounds under noise, an
 * epsilon above max_epsilon_per_query. FEDC_ERR_NOMEM. Free with
 * analytics__result_free (also after a failure). */
FEDC_NODISCARD
enum fedc_err analytics__compute(const struct fedc_data *data, const struct analytics_query *q,
				 const struct analytics_policy *p, struct analytics_result *out);
void analytics__result_free(struct analytics_result *r);

/* Adds the noise of r->scales to every released value: Laplace or Gaussian
 * from ChaCha20 under a fresh key from OpenSSL's CSPRNG (privacy.h).
 * FEDC_ERR_IO (OpenSSL), FEDC_ERR_NOMEM. Nothing to do without noise. */
FEDC_NODISCARD
enum fedc_err analytics__add_noise(struct analytics_result *r);

/* Writes the reply's `result` text (docs/protocol.md, "Analytics") into
 * `out` (capped at FEDC_MAX_ANALYTICS_RESULT: FEDC_ERR_TOO_BIG naming what
 * to ask for less of). */
FEDC_NODISCARD
enum fedc_err analytics__format(const struct analytics_result *r, struct fedc_buf *out);

#endif
