/* Seeded shuffled mini-batches over a struct fedc_data view. */
#include <stdlib.h>
#include <string.h>

#include "fedc/nn/batcher.h"
#include "fedc/nn/err.h"

int fedc_batcher_init(struct fedc_batcher *b, const struct fedc_data *d, size_t batch_size, bool shuffle,
		      uint64_t seed)
{
	int rc = FEDC_NN_ERR_NOMEM;

	memset(b, 0, sizeof(*b));
	if (!d || !d->x || d->n_samples == 0 || d->n_features == 0 || batch_size == 0 ||
	    d->n_samples > UINT32_MAX)
		return FEDC_NN_ERR_INVAL;
	b->data = d;
	b->batch_size = batch_size < d->n_samples ? batch_size : d->n_samples;
	b->shuffle = shuffle;
	fedc_rng_seed(&b->rng, seed);
	if (!shuffle)
		return FEDC_NN_OK; /* batches are views of consecutive rows */
	b->order = malloc(d->n_samples * sizeof(*b->order));
	b->y = malloc(b->batch_size * sizeof(*b->y));
	if (!b->order || !b->y)
		goto fail;
	rc = fedc_mat_init(&b->x, b->batch_size, d->n_features);
	if (rc)
		goto fail;
	for (size_t i = 0; i < d->n_samples; i++)
		b->order[i] = (uint32_t)i;
	fedc_rng_shuffle(&b->rng, b->order, d->n_samples);
	return FEDC_NN_OK;
fail:
	fedc_batcher_release(b);
	return rc;
}

void fedc_batcher_release(struct fedc_batcher *b)
{
	free(b->order);
	free(b->y);
	fedc_mat_release(&b->x);
	b->order = NULL;
	b->y = NULL;
}

/* Copies the rows order[pos .. pos+n) into the batch buffers. */
static void gather(struct fedc_batcher *b, size_t n)
{
	const struct fedc_data *d = b->data;
	size_t nf = d->n_features;

	for (size_t k = 0; k < n; k++) {
		size_t row = b->order[b->pos + k];

		memcpy(b->x.data + k * nf, d->x + row * nf, nf * sizeof(float));
		if (d->y)
			b->y[k] = d->y[row];
	}
}

size_t fedc_batcher_next(struct fedc_batcher *b, struct fedc_mat *x, const float **y, bool *end_of_pass)
{
	const struct fedc_data *d = b->data;
	size_t n = d->n_samples - b->pos < b->batch_size ? d->n_samples - b->pos : b->batch_size;

	if (b->shuffle) {
		gather(b, n);
		*x = fedc_mat_view(b->x.data, n, d->n_features);
		*y = d->y ? b->y : NULL;
	} else {
		*x = fedc_mat_view(d->x + b->pos * d->n_features, n, d->n_features);
		*y = d->y ? d->y + b->pos : NULL;
	}
	b->pos += n;
	if (end_of_pass)
		*end_of_pass = b->pos == d->n_samples;
	if (b->pos == d->n_samples) {
		b->pos = 0;
		b->epoch++;
		if (b->shuffle)
			fedc_rng_shuffle(&b->rng, b->order, d->n_samples);
	}
	return n;
}
