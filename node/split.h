/* How a node divides a dataset into the rows a plan trains on and the rows
 * it is tested on (docs/plan-api.md, "Train and test rows"; the operator's
 * side in docs/node-admin.md). Runs in the plan process, on the loaded data. */
#ifndef FEDC_NODE_SPLIT_H
#define FEDC_NODE_SPLIT_H

#include <stdbool.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/plan.h"

/* Test rows: floor(n * test_ratio), at least 1 when test_ratio > 0 and n > 1,
 * at most n - 1. Exported for the tests and the docs' arithmetic. */
size_t split__n_test(size_t n, double test_ratio);

/* Splits `all` into fresh copies `train` and `test` (malloc'd, the caller
 * frees x and y; a view may be empty, never NULL). The rows are permuted
 * by `seed` (Fisher-Yates over splitmix64), so the same seed gives the same
 * test rows in every round.
 * Random: the first split__n_test rows of the permutation are the test rows.
 * Stratified (classification only, all->n_classes > 0): the same number of
 * test rows, shared out between the classes in proportion to their rows
 * (largest remainders, ties to the lower class), each class giving its first
 * rows in permuted order; so each class keeps its share in both views, to
 * one row. A regression set (n_classes 0), and one with more than one
 * target per row (label_width > 1: a segmentation mask), is split at random.
 * Both views keep the source's sample_ndim, sample_shape, label_width (y
 * holds label_width targets per row) and schema pointer (owned by the
 * source: it must outlive the views).
 * FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err split__rows(const struct fedc_data *all, double test_ratio, uint64_t seed, bool stratified,
			  struct fedc_data *train, struct fedc_data *test);

/* A fresh copy of `src` into `dst` (the whole dataset as the train view,
 * or a separately registered test set as the test view). FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err split__copy(const struct fedc_data *src, struct fedc_data *dst);

#endif
