/* Batch normalization and inverted dropout. Channel sums go in double: a
 * channel of a batch holds n * D*H*W values. */
#include <math.h>
#include <string.h>

#include "fedc/nn/err.h"
#include "fedc/nn/norm.h"

static size_t spatial(const struct fedc_vol *v)
{
	return v->d * v->h * v->w;
}

int fedc_batchnorm_init(struct fedc_batchnorm *b, const struct fedc_vol *vol, double momentum, double eps)
{
	memset(b, 0, sizeof(*b));
	if (!vol || fedc_vol_len(vol) == 0 || !(momentum > 0.0 && momentum <= 1.0) || !(eps > 0.0) || !isfinite(eps))
		return FEDC_NN_ERR_INVAL;
	b->vol = *vol;
	b->momentum = momentum;
	b->eps = eps;
	return FEDC_NN_OK;
}

void fedc_batchnorm_release(struct fedc_batchnorm *b)
{
	fedc_mat_release(&b->xhat);
	fedc_mat_release(&b->stats);
	b->capacity = 0;
}

int fedc_batchnorm_reserve(struct fedc_batchnorm *b, size_t rows)
{
	int rc;

	if (rows <= b->capacity)
		return FEDC_NN_OK;
	fedc_batchnorm_release(b);
	rc = fedc_mat_init(&b->xhat, rows, fedc_vol_len(&b->vol));
	if (!rc)
		rc = fedc_mat_init(&b->stats, 2, b->vol.c);
	if (rc)
		fedc_batchnorm_release(b);
	else
		b->capacity = rows;
	return rc;
}

void fedc_batchnorm_init_params(struct fedc_mat *weight, struct fedc_mat *bias, struct fedc_mat *running_mean,
				struct fedc_mat *running_var)
{
	fedc_mat_fill(weight, 1.0f);
	fedc_mat_fill(bias, 0.0f);
	fedc_mat_fill(running_mean, 0.0f);
	fedc_mat_fill(running_var, 1.0f);
}

static bool channel_vec(const struct fedc_mat *m, size_t c)
{
	return m->rows == 1 && m->cols == c;
}

static bool batch_ok(const struct fedc_batchnorm *b, const struct fedc_mat *m)
{
	return m->cols == fedc_vol_len(&b->vol) && m->rows > 0;
}

/* Mean and biased variance of channel ch over the batch. */
static void channel_stats(const struct fedc_batchnorm *b, const struct fedc_mat *x, size_t ch, double *mean,
			  double *var)
{
	size_t s = spatial(&b->vol), count = x->rows * s;
	double sum = 0.0, sq = 0.0;

	for (size_t i = 0; i < x->rows; i++) {
		const float *v = x->data + i * x->cols + ch * s;

		for (size_t k = 0; k < s; k++)
			sum += v[k];
	}
	*mean = sum / (double)count;
	for (size_t i = 0; i < x->rows; i++) {
		const float *v = x->data + i * x->cols + ch * s;

		for (size_t k = 0; k < s; k++) {
			double d = v[k] - *mean;

			sq += d * d;
		}
	}
	*var = sq / (double)count;
}

/* y = w * (x - mean) * invstd + bias on channel ch, xhat kept when given. */
static void channel_apply(const struct fedc_batchnorm *b, const struct fedc_mat *x, size_t ch, float mean,
			  float invstd, float w, float bias, float *xhat, struct fedc_mat *y)
{
	size_t s = spatial(&b->vol);

	for (size_t i = 0; i < x->rows; i++) {
		const float *v = x->data + i * x->cols + ch * s;
		float *out = y->data + i * y->cols + ch * s;
		float *h = xhat ? xhat + i * x->cols + ch * s : NULL;

		for (size_t k = 0; k < s; k++) {
			float z = (v[k] - mean) * invstd;

			if (h)
				h[k] = z;
			out[k] = w * z + bias;
		}
	}
}

int fedc_batchnorm_forward(struct fedc_batchnorm *b, bool training, const struct fedc_mat *x,
			   const struct fedc_mat *weight, const struct fedc_mat *bias, struct fedc_mat *running_mean,
			   struct fedc_mat *running_var, enum fedc_act act, struct fedc_mat *y)
{
	size_t c = b->vol.c, count = x->rows * spatial(&b->vol);

	if (!batch_ok(b, x) || y->rows != x->rows || y->cols != x->cols || !channel_vec(weight, c) ||
	    !channel_vec(bias, c) || !channel_vec(running_mean, c) || !channel_vec(running_var, c))
		return FEDC_NN_ERR_SHAPE;
	if (training && (x->rows > b->capacity || count < 2))
		return FEDC_NN_ERR_SHAPE;
	for (size_t ch = 0; ch < c; ch++) {
		double mean = running_mean->data[ch], var = running_var->data[ch], invstd;
		double m = b->momentum;

		if (training) {
			channel_stats(b, x, ch, &mean, &var);
			running_mean->data[ch] = (float)((1.0 - m) * running_mean->data[ch] + m * mean);
			running_var->data[ch] = (float)((1.0 - m) * running_var->data[ch] +
							m * var * (double)count / (double)(count - 1));
		}
		invstd = 1.0 / sqrt(var + b->eps);
		if (training) {
			b->stats.data[ch] = (float)mean;
			b->stats.data[c + ch] = (float)invstd;
		}
		channel_apply(b, x, ch, (float)mean, (float)invstd, weight->data[ch], bias->data[ch],
			      training ? b->xhat.data : NULL, y);
	}
	return act == FEDC_ACT_NONE ? FEDC_NN_OK : fedc_act_forward(act, y, y);
}

int fedc_batchnorm_backward(struct fedc_batchnorm *b, const struct fedc_mat *weight, const struct fedc_mat *y,
			    enum fedc_act act, struct fedc_mat *dy, struct fedc_mat *dweight, struct fedc_mat *dbias,
			    struct fedc_mat *dx)
{
	size_t c = b->vol.c, s = spatial(&b->vol), n = y->rows;
	double count = (double)(n * s);
	int rc;

	if (!batch_ok(b, y) || n > b->capacity || dy->rows != n || dy->cols != y->cols || !channel_vec(weight, c) ||
	    !channel_vec(dweight, c) || !channel_vec(dbias, c) || (dx && (dx->rows != n || dx->cols != y->cols)))
		return FEDC_NN_ERR_SHAPE;
	rc = fedc_act_backward(act, y, dy, dy);
	for (size_t ch = 0; !rc && ch < c; ch++) {
		double sum = 0.0, dot = 0.0;
		float scale, mean_dz, mean_dot;

		for (size_t i = 0; i < n; i++) {
			const float *g = dy->data + i * dy->cols + ch * s, *h = b->xhat.data + i * dy->cols + ch * s;

			for (size_t k = 0; k < s; k++) {
				sum += g[k];
				dot += (double)g[k] * h[k];
			}
		}
		dbias->data[ch] = (float)sum;
		dweight->data[ch] = (float)dot;
		if (!dx)
			continue;
		/* dx = w invstd (dz - mean(dz) - xhat mean(dz xhat)) */
		scale = weight->data[ch] * b->stats.data[c + ch];
		mean_dz = (float)(sum / count);
		mean_dot = (float)(dot / count);
		for (size_t i = 0; i < n; i++) {
			const float *g = dy->data + i * dy->cols + ch * s, *h = b->xhat.data + i * dy->cols + ch * s;
			float *out = dx->data + i * dx->cols + ch * s;

			for (size_t k = 0; k < s; k++)
				out[k] = scale * (g[k] - mean_dz - h[k] * mean_dot);
		}
	}
	return rc;
}

int fedc_dropout_init(struct fedc_dropout *d, size_t len, double p)
{
	memset(d, 0, sizeof(*d));
	if (len == 0 || !(p >= 0.0 && p < 1.0))
		return FEDC_NN_ERR_INVAL;
	d->len = len;
	d->p = p;
	return FEDC_NN_OK;
}

void fedc_dropout_release(struct fedc_dropout *d)
{
	fedc_mat_release(&d->mask);
	d->capacity = 0;
}

int fedc_dropout_reserve(struct fedc_dropout *d, size_t rows)
{
	int rc;

	if (rows <= d->capacity)
		return FEDC_NN_OK;
	fedc_dropout_release(d);
	rc = fedc_mat_init(&d->mask, rows, d->len);
	if (!rc)
		d->capacity = rows;
	return rc;
}

int fedc_dropout_forward(struct fedc_dropout *d, bool training, struct fedc_rng *rng, const struct fedc_mat *x,
			 struct fedc_mat *y)
{
	size_t total = fedc_mat_len(x);
	float keep = (float)(1.0 / (1.0 - d->p));

	if (x->cols != d->len || y->rows != x->rows || y->cols != x->cols || (training && x->rows > d->capacity))
		return FEDC_NN_ERR_SHAPE;
	if (!training || d->p == 0.0) {
		if (training)
			fedc_mat_fill(&(struct fedc_mat){ x->rows, x->cols, d->mask.data }, 1.0f);
		return fedc_mat_copy(y, x);
	}
	for (size_t k = 0; k < total; k++) {
		float m = fedc_rng_uniform(rng) < d->p ? 0.0f : keep;

		d->mask.data[k] = m;
		y->data[k] = x->data[k] * m;
	}
	return FEDC_NN_OK;
}

int fedc_dropout_backward(struct fedc_dropout *d, const struct fedc_mat *dy, struct fedc_mat *dx)
{
	size_t total = fedc_mat_len(dy);

	if (dy->cols != d->len || dy->rows > d->capacity || dx->rows != dy->rows || dx->cols != dy->cols)
		return FEDC_NN_ERR_SHAPE;
	for (size_t k = 0; k < total; k++)
		dx->data[k] = dy->data[k] * d->mask.data[k];
	return FEDC_NN_OK;
}
