/* Preprocessing of a table's columns for a plan: imputation of missing
 * cells and one-hot encoding against category lists the plan fixes, so that
 * every node turns its rows into the same dense float matrix for the
 * network.
 *
 * The node hands a table's features with their schema (fedc/plan.h, ABI 3:
 * struct fedc_table_schema): a missing cell is NAN, a categorical cell the
 * index of its value in that node's own sorted list of the values it holds.
 * The plan names the columns it uses, in the order of its inputs:
 *
 *   static const char *const sexes[] = { "F", "M", NULL };
 *   const struct fedc_table_col spec[] = {
 *       { .name = "age", .impute = FEDC_IMPUTE_MEDIAN, .standardize = true },
 *       { .name = "sex", .impute = FEDC_IMPUTE_MOST_FREQUENT, .categories = sexes },
 *   };
 *   fedc_table_init(&t, spec, 2);          (create(): fedc_table_width() inputs, here 1 + 2)
 *   fedc_table_fit(&t, train);             (prepare(): fits on the training rows)
 *   fedc_table_encode(&t, view, &enc);     (train(), evaluate(): enc.x is [n, width])
 *   ... fedc_net_train(net, &enc, ...); fedc_table_data_free(&enc);
 *
 * A numeric column gives one input; a categorical column one input per
 * category of its list (one-hot; the list is the plan's, the same at every
 * node, so a node's own category order does not matter). Columns the plan
 * does not name are not used.
 *
 * Everything that does not fit fails with FEDC_NN_ERR_DATA and a line for the
 * researcher through fedc_plan_error(): a column the data lacks, a type
 * that differs from the plan's (numeric against categorical, a text column),
 * a category not in the plan's list:
 *   column "sex": category "X" is not in the experiment's list (F, M)
 * and a missing cell in a column without imputation. Mistakes in the spec
 * itself fail fedc_table_init with FEDC_NN_ERR_INVAL.
 *
 * The statistics fit() finds (each column's fill value, mean and deviation)
 * are the node's data, not weights: fedc_table_stats() gives them as one
 * vector for a plan that keeps them as a buffer tensor. */
#ifndef FEDC_NN_TABLE_H
#define FEDC_NN_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/plan.h"

enum fedc_table_impute {
	FEDC_IMPUTE_NONE = 0,      /* a missing cell is an error */
	FEDC_IMPUTE_MEAN,          /* numeric: the training rows' mean */
	FEDC_IMPUTE_MEDIAN,        /* numeric: their median (mean of the middle two for an even count) */
	FEDC_IMPUTE_MOST_FREQUENT, /* the most frequent value; a tie goes to the smallest value, or
				      to the category first in the plan's list */
	FEDC_IMPUTE_CONSTANT,      /* `constant` (numeric) or `constant_category` (categorical) */
};

/* One column the plan uses. The strings must outlive the table. */
struct fedc_table_col {
	const char *name;                /* as in the dataset's header */
	enum fedc_table_impute impute;
	double constant;                 /* FEDC_IMPUTE_CONSTANT, numeric */
	const char *constant_category;   /* FEDC_IMPUTE_CONSTANT, categorical: one of `categories` */
	const char *const *categories;   /* NULL: a numeric column; else the categories, NULL-terminated */
	bool standardize;                /* numeric: (v - mean) / deviation of the training rows, after imputation */
};

/* What fit() found for one column, in the plan's terms. */
struct fedc_table_fitted {
	float fill;   /* the value for a missing cell (categorical: an index in the plan's list) */
	float mean;   /* standardize: mean and deviation (else 0 and 1) */
	float std;
};

struct fedc_table {
	const struct fedc_table_col *cols;
	size_t n_cols;
	size_t width;                     /* inputs of the encoded matrix */
	bool fitted;
	struct fedc_table_fitted *fit;    /* n_cols */
	/* Scratch of the last bind: each column's feature, and for a
	 * categorical one the plan's index of each of the data's categories. */
	size_t *feature;
	uint32_t **cat_map;
};

/* Checks and keeps the spec: names non-empty and distinct, a categorical
 * column's list non-empty without repeats (at most 65536), an imputation that
 * fits the column's kind (no mean or median of categories; a constant
 * category that is in the list; a finite constant). 0, FEDC_NN_ERR_INVAL
 * (with fedc_plan_error), FEDC_NN_ERR_NOMEM. Release with fedc_table_release
 * (also after a failed init). */
int fedc_table_init(struct fedc_table *t, const struct fedc_table_col *cols, size_t n_cols);
void fedc_table_release(struct fedc_table *t);

/* Inputs of the encoded matrix: 1 per numeric column, the list's length per
 * categorical one. Known from the spec alone, for create(). */
size_t fedc_table_width(const struct fedc_table *t);

/* Fits every column's imputation and standardization on the rows of
 * `train` (they may be refit: a new call replaces the old). 0,
 * FEDC_NN_ERR_DATA (the data does not fit the spec, or a column has no
 * value to fit on), FEDC_NN_ERR_NOMEM. */
int fedc_table_fit(struct fedc_table *t, const struct fedc_data *train);

/* Encodes `view` (train or test, its own schema) with what fit() found into
 * *out: out->x malloc'd [n_samples, width], out->y borrowed from view (the
 * view must outlive it), n_classes and label_width copied, no schema.
 * 0, FEDC_NN_ERR_INVAL (not fitted), FEDC_NN_ERR_DATA, FEDC_NN_ERR_NOMEM;
 * *out is zeroed on failure. Release with fedc_table_data_free. */
int fedc_table_encode(struct fedc_table *t, const struct fedc_data *view, struct fedc_data *out);
void fedc_table_data_free(struct fedc_data *out);

/* The fitted statistics as one vector of 3 * n_cols floats (fill, mean,
 * std per column, in the spec's order), for a plan that keeps them in a
 * buffer tensor; and back (a plan's set_params). NULL / FEDC_NN_ERR_INVAL
 * before fit(). */
const float *fedc_table_stats(const struct fedc_table *t, size_t *count);
int fedc_table_set_stats(struct fedc_table *t, const float *values, size_t count);

#endif
