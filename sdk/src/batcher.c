/* Seeded shuffled mini-batches over a struct fedc_data view, and Poisson
 * sampling for DP-SGD. */
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
	b->width = d->label_width ? d->label_width : 1;
	b->batch_size = batch_size < d->n_samples ? batch_size : d->n_samples;
	b->shuffle = shuffle;
	fedc_rng_seed(&b->rng, seed);
	if (!shuffle)
		return FEDC_NN_OK; /* batches are views of consecutive rows */
	b->order = malloc(d->n_samples * sizeof(*b->order));
	b->y = malloc(b->batch_size * b->width * sizeof(*b->y));
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

/* Copies the rows order[from .. from+n) into the batch buffers. */
static void gather(struct fedc_batcher *b, size_t from, size_t n)
{
	const struct fedc_data *d = b->data;
	size_t nf = d->n_features, w = b->width;

	for (size_t k = 0; k < n; k++) {
		size_t row = b->order[from + k];

		memcpy(b->x.data + k * nf, d->x + row * nf, nf * sizeof(float));
		if (d->y && w == 1)
			b->y[k] = d->y[row];
		else if (d->y)
			memcpy(b->y + k * w, d->y + row * w, w * sizeof(float));
	}
}

size_t fedc_batcher_next(struct fedc_batcher *b, struct fedc_mat *x, const float **y, bool *end_of_pass)
{
	const struct fedc_data *d = b->data;
	size_t n = d->n_samples - b->pos < b->batch_size ? d->n_samples - b->pos : b->batch_size;

	if (b->poisson)
		return fedc_batcher_draw(b, x, y, &n, end_of_pass) ? 0 : n;
	if (b->shuffle) {
		gather(b, b->pos, n);
		*x = fedc_mat_view(b->x.data, n, d->n_features);
		*y = d->y ? b->y : NULL;
	} else {
		*x = fedc_mat_view(d->x + b->pos * d->n_features, n, d->n_features);
		*y = d->y ? d->y + b->pos * b->width : NULL;
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

/* The buffers to start with: a quarter and 16 rows above the mean batch
 * size, which is four standard deviations (sqrt(batch)) or more for any
 * batch; a larger draw grows them (fedc_batcher_draw). */
static size_t first_capacity(size_t batch, size_t n)
{
	size_t cap = batch + batch / 4 + 16;

	return cap < n ? cap : n;
}

int fedc_batcher_init_poisson(struct fedc_batcher *b, const struct fedc_data *d, size_t batch_size,
			      uint64_t seed)
{
	int rc = fedc_batcher_init(b, d, batch_size, false, seed);

	if (rc)
		return rc;
	rc = FEDC_NN_ERR_NOMEM;
	b->poisson = true;
	b->threshold = (uint64_t)(fedc_batcher_rate(b) * 9007199254740992.0); /* q 2^53, 2^53 when q is 1 */
	b->per_pass = (d->n_samples + b->batch_size - 1) / b->batch_size;
	b->capacity = first_capacity(b->batch_size, d->n_samples);
	b->order = malloc(d->n_samples * sizeof(*b->order));
	b->y = malloc(b->capacity * b->width * sizeof(*b->y));
	if (!b->order || !b->y)
		goto fail;
	rc = fedc_mat_init(&b->x, b->capacity, d->n_features);
	if (rc)
		goto fail;
	return FEDC_NN_OK;
fail:
	fedc_batcher_release(b);
	return rc;
}

double fedc_batcher_rate(const struct fedc_batcher *b)
{
	return b->data ? (double)b->batch_size / (double)b->data->n_samples : 0.0;
}

/* Makes x and y hold `rows` rows (their contents are not kept). */
static int grow(struct fedc_batcher *b, size_t rows)
{
	struct fedc_mat x;
	float *y = malloc(rows * b->width * sizeof(*y));
	int rc = y ? fedc_mat_init(&x, rows, b->data->n_features) : FEDC_NN_ERR_NOMEM;

	if (rc) {
		free(y);
		return rc;
	}
	fedc_mat_release(&b->x);
	free(b->y);
	b->x = x;
	b->y = y;
	b->capacity = rows;
	return FEDC_NN_OK;
}

int fedc_batcher_draw(struct fedc_batcher *b, struct fedc_mat *x, const float **y, size_t *n, bool *end_of_pass)
{
	const struct fedc_data *d = b->data;
	size_t m = 0;
	int rc;

	if (!b->poisson) {
		*n = fedc_batcher_next(b, x, y, end_of_pass);
		return FEDC_NN_OK;
	}
	/* One draw per row, in row order: the same seed, the same batches. */
	for (size_t i = 0; i < d->n_samples; i++) {
		if ((fedc_rng_next(&b->rng) >> 11) < b->threshold)
			b->order[m++] = (uint32_t)i;
	}
	if (m > b->capacity) {
		rc = grow(b, m > 2 * b->capacity ? m : 2 * b->capacity < d->n_samples ? 2 * b->capacity : d->n_samples);
		if (rc)
			return rc;
	}
	gather(b, 0, m);
	b->drawn = m;
	*x = fedc_mat_view(b->x.data, m, d->n_features);
	*y = d->y ? b->y : NULL;
	*n = m;
	b->pos++;
	if (end_of_pass)
		*end_of_pass = b->pos == b->per_pass;
	if (b->pos == b->per_pass) {
		b->pos = 0;
		b->epoch++;
	}
	return FEDC_NN_OK;
}
