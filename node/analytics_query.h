/* An analytics request as the node reads it (docs/protocol.md, `analytics`):
 * the message's `query` text, one `key=value` per line:
 *   columns=c0,c1            the columns to describe (required)
 *   filter=c0 > 15           a row filter (analytics_filter.h)
 *   group_by=label           a categorical column (or the label) to split by
 *   bins.c0=10,15,20,25      histogram edges of a column, increasing
 *   bounds.c0=0,40           the range values are clipped to under noise
 *   epsilon=0.5              what the query may spend (at most the node's
 *                            [analytics] max_epsilon_per_query)
 *   release=count,sum        the figures wanted besides histograms: count
 *                            always, sum and sumsq (sum of squares) when
 *                            listed; absent: all. Under noise each figure
 *                            left out leaves more epsilon to the others.
 * The text comes from the researcher: every failure names the key and what
 * to write instead (FEDC_ERR_INVAL). */
#ifndef FEDC_NODE_ANALYTICS_QUERY_H
#define FEDC_NODE_ANALYTICS_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/limits.h"
#include "analytics_filter.h"

#define ANALYTICS_QUERY_MAX 4096     /* bytes of query text */
#define ANALYTICS_MAX_COLUMNS 32
#define ANALYTICS_MAX_EDGES 65       /* 64 bins */
#define ANALYTICS_NAME_MAX 128

struct analytics_column_query {
	char name[ANALYTICS_NAME_MAX + 1];
	uint32_t n_edges;                /* 0: no histogram */
	double edges[ANALYTICS_MAX_EDGES];
	bool has_bounds;
	double lo, hi;
};

struct analytics_query {
	uint32_t n_columns;
	struct analytics_column_query columns[ANALYTICS_MAX_COLUMNS];
	char filter[ANALYTICS_FILTER_MAX + 1];
	char group_by[ANALYTICS_NAME_MAX + 1]; /* "" for none */
	bool has_epsilon;
	double epsilon;
	bool release_sum, release_sumsq; /* both true unless `release` leaves them out */
};

FEDC_NODISCARD
enum fedc_err analytics_query__parse(const char *text, struct analytics_query *out);

/* "LO,HI" with LO < HI, both finite. */
FEDC_NODISCARD
enum fedc_err analytics_query__parse_range(const char *what, const char *text, double *lo, double *hi);

#endif
