/* Mini-batches over the node's struct fedc_data view, in a seeded shuffled
 * order that is redrawn at every pass. Rows are gathered into one aligned
 * buffer allocated once, so that a batch costs no allocation.
 *
 * Or, for DP-SGD (fedc/nn/dpsgd.h), Poisson sampling: every batch is drawn
 * afresh, each row taking part independently with probability q. */
#ifndef FEDC_NN_BATCHER_H
#define FEDC_NN_BATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/plan.h"
#include "fedc/nn/mat.h"
#include "fedc/nn/rng.h"

struct fedc_batcher {
	const struct fedc_data *data;
	size_t batch_size;
	bool shuffle;
	struct fedc_rng rng;
	uint32_t *order;  /* permutation of the rows for this pass */
	size_t pos;       /* next position in order */
	uint32_t epoch;   /* passes completed */
	struct fedc_mat x; /* [batch_size, n_features] gathered rows */
	float *y;          /* [batch_size, width] gathered targets (if data->y) */
	size_t width;      /* targets per row: data->label_width, 0 read as 1 */
	/* Poisson sampling (fedc_batcher_init_poisson) only: */
	bool poisson;
	uint64_t threshold; /* a row takes part when the top 53 bits of a draw are below it: q 2^53 */
	size_t capacity;    /* rows x and y hold; grown when a draw needs more */
	size_t drawn;       /* rows of the last batch, listed at order[0 .. drawn) */
	size_t per_pass;    /* batches that make a pass: ceil(n_samples / batch_size) */
};

/* Without `shuffle` batches are views of consecutive rows and copy nothing.
 * Returns 0, FEDC_NN_ERR_INVAL (empty view, zero batch, over 2^32 rows) or
 * FEDC_NN_ERR_NOMEM. */
int fedc_batcher_init(struct fedc_batcher *b, const struct fedc_data *d, size_t batch_size, bool shuffle,
		      uint64_t seed);
void fedc_batcher_release(struct fedc_batcher *b);
/* The next batch: *x gets a view of its rows and *y of its targets (NULL if
 * the data has none), valid until the next call. Returns its row count (the
 * last batch of a pass may be short). *end_of_pass (may be NULL) is set when
 * the batch ends a pass; the next call then starts a new, reshuffled pass. */
size_t fedc_batcher_next(struct fedc_batcher *b, struct fedc_mat *x, const float **y, bool *end_of_pass);

/* Poisson sampling: q = batch_size / n_samples (1 if batch_size >= n_samples),
 * seeded by `seed`. Every batch is an independent draw whose size varies, 0
 * included; a "pass" is ceil(n_samples / batch_size) batches (for
 * end_of_pass and epoch). Returns fedc_batcher_init's codes. */
int fedc_batcher_init_poisson(struct fedc_batcher *b, const struct fedc_data *d, size_t batch_size,
			      uint64_t seed);
/* The next batch of either kind, as fedc_batcher_next, its row count in *n.
 * A Poisson batch larger than any before grows the buffers: hence the code,
 * 0 or FEDC_NN_ERR_NOMEM. (fedc_batcher_next on a Poisson batcher gives 0
 * rows when that growth fails; use this function for it.) */
int fedc_batcher_draw(struct fedc_batcher *b, struct fedc_mat *x, const float **y, size_t *n, bool *end_of_pass);
/* A Poisson batcher's sampling rate q. */
double fedc_batcher_rate(const struct fedc_batcher *b);

#endif
