/* The sequential model: building layers from a spec, their parameters, and
 * the forward and backward passes over them. Training and evaluation are
 * train.c's loop, through struct fedc_model. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/nn/err.h"
#include "fedc/nn/plan_util.h"
#include "fedc/nn/seq.h"

#define EVAL_ROWS 256          /* rows per evaluation pass: bounds im2col's buffer */
#define RNG_STREAM 0x5eb1d0e7u /* mixed into the seed: dropout draws differ from the batch order's */

static const char *kind_name(enum fedc_layer_kind k)
{
	switch (k) {
	case FEDC_LAYER_CONV: return "conv";
	case FEDC_LAYER_POOL: return "pool";
	case FEDC_LAYER_GLOBAL_AVGPOOL: return "gap";
	case FEDC_LAYER_BATCHNORM: return "bn";
	case FEDC_LAYER_DROPOUT: return "dropout";
	case FEDC_LAYER_FLATTEN: return "flatten";
	case FEDC_LAYER_DENSE: return "dense";
	case FEDC_LAYER_ACT: return "act";
	}
	return "?";
}

static struct fedc_vol flat(size_t n)
{
	struct fedc_vol v = { n, 1, 1, 1 };
	return v;
}

/* Adds "<kind><i>.<what>" to the params; *index gets its position. */
static int add_param(struct fedc_seq *s, size_t i, const char *what, unsigned ndim, const size_t *shape,
		     bool trainable, uint8_t role, size_t *index)
{
	char name[FEDC_PARAM_NAME_LEN];
	int rc;

	snprintf(name, sizeof(name), "%s%zu.%s", kind_name(s->layers[i].spec.kind), i, what);
	rc = fedc_paramset_add_shaped(&s->params, name, ndim, shape, trainable, index);
	if (!rc)
		s->params.items[*index].role = role;
	else if (rc == FEDC_NN_ERR_FULL)
		fedc_plan_error("layer %zu: the model has more than %d parameter tensors", i, FEDC_PARAMSET_MAX);
	return rc;
}

static int build_conv(struct fedc_seq *s, size_t i)
{
	struct fedc_seq_layer *l = &s->layers[i];
	const struct fedc_window *w = &l->spec.win;
	bool is_2d = w->k[0] == 1 && l->in.d == 1;
	size_t shape5[5] = { l->spec.units, l->in.c, w->k[0], w->k[1], w->k[2] };
	size_t shape4[4] = { l->spec.units, l->in.c, w->k[1], w->k[2] };
	int rc;

	if (l->spec.units == 0) {
		fedc_plan_error("layer %zu (conv): no output channels", i);
		return FEDC_NN_ERR_INVAL;
	}
	rc = fedc_conv_init(&l->conv, &l->in, l->spec.units, w);
	if (rc) {
		fedc_plan_error("layer %zu (conv): a %zux%zux%zu window, stride %zu, padding %zu, does not fit its "
				"input [%zu, %zu, %zu, %zu] (padding must be below the kernel)",
				i, w->k[0], w->k[1], w->k[2], w->stride[2], w->pad[2], l->in.c, l->in.d, l->in.h, l->in.w);
		return rc;
	}
	l->out = l->conv.out;
	rc = add_param(s, i, "weight", is_2d ? 4 : 5, is_2d ? shape4 : shape5, true, FEDC_PARAM_WEIGHT, &l->weight);
	if (!rc)
		rc = add_param(s, i, "bias", 1, &l->spec.units, true, FEDC_PARAM_WEIGHT, &l->bias);
	return rc;
}

static int build_pool(struct fedc_seq *s, size_t i)
{
	struct fedc_seq_layer *l = &s->layers[i];
	const struct fedc_window *w = &l->spec.win;
	int rc = l->spec.kind == FEDC_LAYER_GLOBAL_AVGPOOL ? fedc_pool_init_global(&l->pool, &l->in)
							      : fedc_pool_init(&l->pool, l->spec.pool, &l->in, w);

	if (rc)
		fedc_plan_error("layer %zu (pool): a %zux%zux%zu window, stride %zu, padding %zu, does not fit its "
				"input [%zu, %zu, %zu, %zu]",
				i, w->k[0], w->k[1], w->k[2], w->stride[2], w->pad[2], l->in.c, l->in.d, l->in.h, l->in.w);
	l->out = l->pool.out;
	return rc;
}

static int build_batchnorm(struct fedc_seq *s, size_t i)
{
	struct fedc_seq_layer *l = &s->layers[i];
	double m = l->spec.momentum > 0 ? l->spec.momentum : 0.1, eps = l->spec.eps > 0 ? l->spec.eps : 1e-5;
	uint8_t weight_role = l->spec.local ? FEDC_PARAM_LOCAL : FEDC_PARAM_WEIGHT;
	uint8_t buffer_role = l->spec.local ? FEDC_PARAM_LOCAL : FEDC_PARAM_BUFFER;
	int rc = fedc_batchnorm_init(&l->bn, &l->in, m, eps);

	if (rc) {
		fedc_plan_error("layer %zu (batch norm): momentum %g must be in (0, 1], eps %g above 0", i, m, eps);
		return rc;
	}
	l->out = l->in;
	rc = add_param(s, i, "weight", 1, &l->in.c, true, weight_role, &l->weight);
	if (!rc)
		rc = add_param(s, i, "bias", 1, &l->in.c, true, weight_role, &l->bias);
	if (!rc)
		rc = add_param(s, i, "running_mean", 1, &l->in.c, false, buffer_role, &l->running_mean);
	if (!rc)
		rc = add_param(s, i, "running_var", 1, &l->in.c, false, buffer_role, &l->running_var);
	return rc;
}

static int build_dense(struct fedc_seq *s, size_t i)
{
	struct fedc_seq_layer *l = &s->layers[i];
	size_t shape[2] = { l->spec.units, fedc_vol_len(&l->in) };
	int rc;

	if (l->spec.units == 0) {
		fedc_plan_error("layer %zu (dense): no outputs", i);
		return FEDC_NN_ERR_INVAL;
	}
	l->out = flat(l->spec.units);
	rc = add_param(s, i, "weight", 2, shape, true, FEDC_PARAM_WEIGHT, &l->weight);
	if (!rc)
		rc = add_param(s, i, "bias", 1, &l->spec.units, true, FEDC_PARAM_WEIGHT, &l->bias);
	return rc;
}

static int build_layer(struct fedc_seq *s, size_t i)
{
	struct fedc_seq_layer *l = &s->layers[i];
	int rc;

	if (l->spec.act > FEDC_ACT_SIGMOID) {
		fedc_plan_error("layer %zu: unknown activation %d", i, (int)l->spec.act);
		return FEDC_NN_ERR_INVAL;
	}
	switch (l->spec.kind) {
	case FEDC_LAYER_CONV: return build_conv(s, i);
	case FEDC_LAYER_POOL:
	case FEDC_LAYER_GLOBAL_AVGPOOL: return build_pool(s, i);
	case FEDC_LAYER_BATCHNORM: return build_batchnorm(s, i);
	case FEDC_LAYER_DENSE: return build_dense(s, i);
	case FEDC_LAYER_DROPOUT:
		l->out = l->in;
		rc = fedc_dropout_init(&l->drop, fedc_vol_len(&l->in), l->spec.rate);
		if (rc)
			fedc_plan_error("layer %zu (dropout): rate %g must be in [0, 1)", i, l->spec.rate);
		return rc;
	case FEDC_LAYER_FLATTEN: l->out = flat(fedc_vol_len(&l->in)); return FEDC_NN_OK;
	case FEDC_LAYER_ACT: l->out = l->in; return FEDC_NN_OK;
	}
	fedc_plan_error("layer %zu: unknown kind %d", i, (int)l->spec.kind);
	return FEDC_NN_ERR_INVAL;
}

/* He-uniform when a ReLU follows the layer's product, else Xavier. */
static enum fedc_init init_for(const struct fedc_seq *s, size_t i)
{
	const struct fedc_layer_spec *next = i + 1 < s->cfg.n_layers ? &s->layers[i + 1].spec : NULL;
	bool relu = s->layers[i].spec.act == FEDC_ACT_RELU ||
		    (next && (next->kind == FEDC_LAYER_BATCHNORM || next->kind == FEDC_LAYER_ACT) &&
		     next->act == FEDC_ACT_RELU);

	return relu ? FEDC_INIT_HE : FEDC_INIT_XAVIER;
}

static void init_params(struct fedc_seq *s)
{
	struct fedc_rng rng;

	fedc_rng_seed(&rng, s->cfg.seed);
	for (size_t i = 0; i < s->cfg.n_layers; i++) {
		struct fedc_seq_layer *l = &s->layers[i];
		struct fedc_param *p = s->params.items;

		if (l->spec.kind == FEDC_LAYER_CONV || l->spec.kind == FEDC_LAYER_DENSE)
			fedc_dense_init(&p[l->weight].value, &p[l->bias].value, init_for(s, i), &rng);
		else if (l->spec.kind == FEDC_LAYER_BATCHNORM)
			fedc_batchnorm_init_params(&p[l->weight].value, &p[l->bias].value, &p[l->running_mean].value,
						   &p[l->running_var].value);
	}
}

int fedc_seq_init(struct fedc_seq *s, const struct fedc_seq_cfg *cfg)
{
	struct fedc_vol v;
	int rc = FEDC_NN_OK;

	memset(s, 0, sizeof(*s));
	if (!cfg || cfg->n_layers == 0 || cfg->n_layers > FEDC_SEQ_MAX_LAYERS || fedc_vol_len(&cfg->input) == 0) {
		fedc_plan_error("a sequential model needs 1 to %d layers and a non-empty input shape",
				FEDC_SEQ_MAX_LAYERS);
		return FEDC_NN_ERR_INVAL;
	}
	s->cfg = *cfg;
	v = cfg->input;
	for (size_t i = 0; !rc && i < cfg->n_layers; i++) {
		s->layers[i].spec = cfg->layers[i];
		s->layers[i].in = v;
		rc = build_layer(s, i);
		v = s->layers[i].out;
	}
	if (rc) {
		fedc_seq_release(s);
		return rc;
	}
	init_params(s);
	fedc_seq_seed(s, cfg->seed);
	return FEDC_NN_OK;
}

static void release_buffers(struct fedc_seq *s)
{
	for (size_t i = 0; i < FEDC_SEQ_MAX_LAYERS; i++) {
		struct fedc_seq_layer *l = &s->layers[i];

		fedc_mat_release(&l->out_buf);
		fedc_mat_release(&l->delta);
		fedc_conv_release(&l->conv);
		fedc_pool_release(&l->pool);
		fedc_batchnorm_release(&l->bn);
		fedc_dropout_release(&l->drop);
	}
	fedc_mat_release(&s->augmented);
	s->capacity = 0;
}

void fedc_seq_release(struct fedc_seq *s)
{
	for (size_t i = 0; i < FEDC_SEQ_MAX_THREADS - 1; i++) {
		if (s->workers[i])
			fedc_seq_release(s->workers[i]);
		free(s->workers[i]);
		s->workers[i] = NULL;
	}
	release_buffers(s);
	fedc_paramset_release(&s->params);
}

size_t fedc_seq_inputs(const struct fedc_seq *s)
{
	return fedc_vol_len(&s->cfg.input);
}

struct fedc_vol fedc_seq_output_vol(const struct fedc_seq *s)
{
	return s->layers[s->cfg.n_layers - 1].out;
}

size_t fedc_seq_outputs(const struct fedc_seq *s)
{
	struct fedc_vol v = fedc_seq_output_vol(s);

	return fedc_vol_len(&v);
}

static int reserve_layer(struct fedc_seq_layer *l, size_t rows)
{
	int rc = fedc_mat_init(&l->out_buf, rows, fedc_vol_len(&l->out));

	if (!rc)
		rc = fedc_mat_init(&l->delta, rows, fedc_vol_len(&l->out));
	if (rc)
		return rc;
	switch (l->spec.kind) {
	case FEDC_LAYER_CONV: return fedc_conv_reserve(&l->conv, rows);
	case FEDC_LAYER_POOL:
	case FEDC_LAYER_GLOBAL_AVGPOOL: return fedc_pool_reserve(&l->pool, rows);
	case FEDC_LAYER_BATCHNORM: return fedc_batchnorm_reserve(&l->bn, rows);
	case FEDC_LAYER_DROPOUT: return fedc_dropout_reserve(&l->drop, rows);
	default: return FEDC_NN_OK;
	}
}

int fedc_seq_reserve(struct fedc_seq *s, size_t rows)
{
	int rc = FEDC_NN_OK;

	if (rows <= s->capacity)
		return FEDC_NN_OK;
	release_buffers(s);
	for (size_t i = 0; !rc && i < s->cfg.n_layers; i++)
		rc = reserve_layer(&s->layers[i], rows);
	if (!rc && fedc_augment_on(&s->cfg.augment))
		rc = fedc_mat_init(&s->augmented, rows, fedc_seq_inputs(s));
	if (rc)
		release_buffers(s);
	else
		s->capacity = rows;
	return rc;
}

void fedc_seq_set_training(struct fedc_seq *s, bool training)
{
	s->training = training;
}

void fedc_seq_seed(struct fedc_seq *s, uint64_t seed)
{
	fedc_rng_seed(&s->rng, seed ^ RNG_STREAM);
}

static int layer_forward(struct fedc_seq *s, struct fedc_seq_layer *l, const struct fedc_mat *in, struct fedc_mat *y)
{
	struct fedc_param *p = s->params.items;

	switch (l->spec.kind) {
	case FEDC_LAYER_CONV:
		return fedc_conv_forward(&l->conv, in, &p[l->weight].value, &p[l->bias].value, l->spec.act, y);
	case FEDC_LAYER_POOL:
	case FEDC_LAYER_GLOBAL_AVGPOOL: return fedc_pool_forward(&l->pool, in, y);
	case FEDC_LAYER_BATCHNORM:
		return fedc_batchnorm_forward(&l->bn, s->training, in, &p[l->weight].value, &p[l->bias].value,
					      &p[l->running_mean].value, &p[l->running_var].value, l->spec.act, y);
	case FEDC_LAYER_DROPOUT: return fedc_dropout_forward(&l->drop, s->training, &s->rng, in, y);
	case FEDC_LAYER_FLATTEN: return fedc_mat_copy(y, in);
	case FEDC_LAYER_DENSE:
		return fedc_dense_forward(in, &p[l->weight].value, &p[l->bias].value, l->spec.act, y);
	case FEDC_LAYER_ACT: return fedc_act_forward(l->spec.act, in, y);
	}
	return FEDC_NN_ERR_INVAL;
}

int fedc_seq_forward(struct fedc_seq *s, const struct fedc_mat *x, struct fedc_mat *out)
{
	struct fedc_mat in = *x, y = { 0, 0, NULL };
	int rc;

	if (x->cols != fedc_seq_inputs(s) || x->rows == 0)
		return FEDC_NN_ERR_SHAPE;
	rc = fedc_seq_reserve(s, x->rows);
	for (size_t i = 0; !rc && i < s->cfg.n_layers; i++) {
		y = fedc_mat_top(&s->layers[i].out_buf, x->rows);
		rc = layer_forward(s, &s->layers[i], &in, &y);
		in = y;
	}
	if (!rc)
		*out = y;
	return rc;
}

/* dy: dL/d(this layer's output), may be overwritten; dx: dL/d(its input)
 * or NULL (the first layer: its input needs no gradient). */
static int layer_backward(struct fedc_seq *s, struct fedc_seq_layer *l, const struct fedc_mat *in,
			  const struct fedc_mat *y, struct fedc_mat *dy, struct fedc_mat *dx)
{
	struct fedc_param *p = s->params.items;

	switch (l->spec.kind) {
	case FEDC_LAYER_CONV:
		return fedc_conv_backward(&l->conv, in, &p[l->weight].value, y, l->spec.act, dy, &p[l->weight].grad,
					  &p[l->bias].grad, dx);
	case FEDC_LAYER_POOL:
	case FEDC_LAYER_GLOBAL_AVGPOOL: return dx ? fedc_pool_backward(&l->pool, dy, dx) : FEDC_NN_OK;
	case FEDC_LAYER_BATCHNORM:
		return fedc_batchnorm_backward(&l->bn, &p[l->weight].value, y, l->spec.act, dy, &p[l->weight].grad,
					       &p[l->bias].grad, dx);
	case FEDC_LAYER_DROPOUT: return dx ? fedc_dropout_backward(&l->drop, dy, dx) : FEDC_NN_OK;
	case FEDC_LAYER_FLATTEN: return dx ? fedc_mat_copy(dx, dy) : FEDC_NN_OK;
	case FEDC_LAYER_DENSE:
		return fedc_dense_backward(in, &p[l->weight].value, y, l->spec.act, dy, &p[l->weight].grad,
					   &p[l->bias].grad, dx);
	case FEDC_LAYER_ACT: return dx ? fedc_act_backward(l->spec.act, y, dy, dx) : FEDC_NN_OK;
	}
	return FEDC_NN_ERR_INVAL;
}

int fedc_seq_backward(struct fedc_seq *s, const struct fedc_mat *x, const struct fedc_mat *dout)
{
	size_t n = x->rows, last = s->cfg.n_layers - 1;
	struct fedc_mat dy = fedc_mat_top(&s->layers[last].delta, n);
	int rc = FEDC_NN_OK;

	if (n == 0 || n > s->capacity || dout->rows != n || dout->cols != fedc_seq_outputs(s) ||
	    x->cols != fedc_seq_inputs(s))
		return FEDC_NN_ERR_SHAPE;
	fedc_mat_copy(&dy, dout); /* no-op when dout is the delta buffer */
	for (size_t i = last + 1; !rc && i-- > 0;) {
		struct fedc_seq_layer *l = &s->layers[i];
		struct fedc_mat in = i ? fedc_mat_top(&s->layers[i - 1].out_buf, n) : *x;
		struct fedc_mat y = fedc_mat_top(&l->out_buf, n);
		struct fedc_mat dx = i ? fedc_mat_top(&s->layers[i - 1].delta, n) : (struct fedc_mat){ 0 };

		dy = fedc_mat_top(&l->delta, n);
		rc = layer_backward(s, l, &in, &y, &dy, i ? &dx : NULL);
	}
	return rc;
}

/* One batch on this model alone: fedc_seq_step's contract. */
static int step_rows(struct fedc_seq *s, enum fedc_loss loss, const struct fedc_mat *x, const float *y,
		     double *loss_out, size_t *correct)
{
	struct fedc_mat in = *x, out, dout;
	int rc = fedc_seq_reserve(s, x->rows);

	if (!rc && s->training && fedc_augment_on(&s->cfg.augment)) {
		in = fedc_mat_top(&s->augmented, x->rows);
		rc = fedc_augment_batch(&s->cfg.augment, &s->cfg.input, x, &in, &s->rng);
	}
	if (!rc)
		rc = fedc_seq_forward(s, &in, &out);
	if (rc)
		return rc;
	if (correct)
		*correct = fedc_loss_correct(loss, &out, y);
	dout = fedc_mat_top(&s->layers[s->cfg.n_layers - 1].delta, x->rows);
	rc = fedc_loss_k(loss, &out, fedc_seq_output_vol(s).c, y, loss_out, &dout);
	if (!rc)
		rc = fedc_seq_backward(s, &in, &dout);
	return rc;
}

void fedc_seq_set_threads(struct fedc_seq *s, unsigned threads)
{
	s->threads = threads >= 1 && threads <= FEDC_SEQ_MAX_THREADS ? threads : 1;
	if (s->threads > 1)
		fedc_nn_set_threads(1);
}

/* Whether splitting the batch leaves the step's result the same sum: no
 * batch statistics, no random draws, one target (or one per output) a row. */
static bool splittable(const struct fedc_seq *s, enum fedc_loss loss)
{
	if (fedc_loss_is_segmentation(loss) || fedc_augment_on(&s->cfg.augment))
		return false;
	for (size_t i = 0; i < s->cfg.n_layers; i++) {
		enum fedc_layer_kind k = s->layers[i].spec.kind;

		if (k == FEDC_LAYER_BATCHNORM || k == FEDC_LAYER_DROPOUT)
			return false;
	}
	return true;
}

/* One part of a split batch and what its step returned. */
struct part {
	struct fedc_seq *model;
	enum fedc_loss loss;
	struct fedc_mat x;
	const float *y;
	double loss_out;
	size_t correct;
	int rc;
};

static void *part_run(void *arg)
{
	struct part *p = arg;

	p->rc = step_rows(p->model, p->loss, &p->x, p->y, &p->loss_out, &p->correct);
	return NULL;
}

/* Makes workers[0 .. n-2] exist, training, holding s's current values. */
static int ready_workers(struct fedc_seq *s, size_t n)
{
	int rc = FEDC_NN_OK;

	for (size_t i = 0; !rc && i + 1 < n; i++) {
		if (!s->workers[i]) {
			s->workers[i] = calloc(1, sizeof(*s->workers[i]));
			if (!s->workers[i])
				return FEDC_NN_ERR_NOMEM;
			rc = fedc_seq_init(s->workers[i], &s->cfg);
			if (rc) {
				free(s->workers[i]);
				s->workers[i] = NULL;
				return rc;
			}
		}
		s->workers[i]->training = s->training;
		rc = fedc_paramset_copy(&s->workers[i]->params, &s->params);
	}
	return rc;
}

/* s's gradients become the batch's: the parts' gradients (each the mean
 * over its rows) weighted by their share of the rows, summed part by part. */
static void reduce_grads(struct fedc_seq *s, const struct part *parts, size_t n_parts, size_t rows)
{
	for (size_t j = 0; j < s->params.count; j++) {
		struct fedc_mat *g = &s->params.items[j].grad;
		size_t len = g->rows * g->cols;
		float w0 = (float)((double)parts[0].x.rows / (double)rows);

		if (!s->params.items[j].trainable)
			continue;
		for (size_t e = 0; e < len; e++)
			g->data[e] *= w0;
		for (size_t i = 1; i < n_parts; i++) {
			const float *gi = parts[i].model->params.items[j].grad.data;
			float wi = (float)((double)parts[i].x.rows / (double)rows);

			for (size_t e = 0; e < len; e++)
				g->data[e] += wi * gi[e];
		}
	}
}

/* The batch in n_parts contiguous parts, part 0 on this thread. */
static int split_step(struct fedc_seq *s, enum fedc_loss loss, const struct fedc_mat *x, const float *y,
		      size_t n_parts, double *loss_out, size_t *correct)
{
	struct part parts[FEDC_SEQ_MAX_THREADS];
	pthread_t tid[FEDC_SEQ_MAX_THREADS];
	size_t y_stride = loss == FEDC_LOSS_MSE ? fedc_seq_outputs(s) : 1, started = 1;
	double sum = 0;
	int rc = ready_workers(s, n_parts);

	for (size_t i = 0; !rc && i < n_parts; i++) {
		size_t lo = x->rows * i / n_parts, hi = x->rows * (i + 1) / n_parts;

		parts[i] = (struct part){ .model = i ? s->workers[i - 1] : s, .loss = loss,
					  .x = { hi - lo, x->cols, x->data + lo * x->cols }, .y = y + lo * y_stride };
	}
	for (size_t i = 1; !rc && i < n_parts; i++) {
		if (pthread_create(&tid[i], NULL, part_run, &parts[i]))
			rc = FEDC_NN_ERR_NOMEM;
		else
			started++;
	}
	if (!rc)
		part_run(&parts[0]);
	for (size_t i = 1; i < started; i++)
		pthread_join(tid[i], NULL);
	for (size_t i = 0; !rc && i < n_parts; i++)
		rc = parts[i].rc;
	if (rc)
		return rc;
	reduce_grads(s, parts, n_parts, x->rows);
	if (correct)
		*correct = 0;
	for (size_t i = 0; i < n_parts; i++) {
		sum += parts[i].loss_out * (double)parts[i].x.rows;
		if (correct)
			*correct += parts[i].correct;
	}
	if (loss_out)
		*loss_out = sum / (double)x->rows;
	return FEDC_NN_OK;
}

int fedc_seq_step(struct fedc_seq *s, enum fedc_loss loss, const struct fedc_mat *x, const float *y,
		  double *loss_out, size_t *correct)
{
	size_t t = s->threads > 1 ? s->threads : 1;

	if (t > 1 && s->training && x->rows >= 2 * t && splittable(s, loss))
		return split_step(s, loss, x, y, t, loss_out, correct);
	return step_rows(s, loss, x, y, loss_out, correct);
}

/* The data's sample shape as a volume: [F], [C, L], [C, H, W] or [C, D, H, W]. */
static bool data_vol(const struct fedc_data *d, struct fedc_vol *v)
{
	const uint64_t *sh = d->sample_shape;

	switch (d->sample_ndim) {
	case 1: *v = (struct fedc_vol){ sh[0], 1, 1, 1 }; return true;
	case 2: *v = (struct fedc_vol){ sh[0], 1, 1, sh[1] }; return true;
	case 3: *v = (struct fedc_vol){ sh[0], 1, sh[1], sh[2] }; return true;
	case 4: *v = (struct fedc_vol){ sh[0], sh[1], sh[2], sh[3] }; return true;
	default: return false;
	}
}

int fedc_seq_check_data(const struct fedc_seq *s, const struct fedc_data *d)
{
	const struct fedc_vol *in = &s->cfg.input;
	struct fedc_vol v;

	if (!d || !d->x || d->n_samples == 0) {
		fedc_plan_error("the dataset view is empty");
		return FEDC_NN_ERR_DATA;
	}
	if (d->n_features != fedc_seq_inputs(s)) {
		fedc_plan_error("the data has %zu features per sample, the model takes [%zu, %zu, %zu, %zu] = %zu",
				d->n_features, in->c, in->d, in->h, in->w, fedc_seq_inputs(s));
		return FEDC_NN_ERR_DATA;
	}
	if (d->sample_ndim == 0)
		return FEDC_NN_OK;
	if (!data_vol(d, &v) || v.c != in->c || v.d != in->d || v.h != in->h || v.w != in->w) {
		fedc_plan_error("the data's samples have %u dimensions [%llu, ...], the model takes [C=%zu, D=%zu, "
				"H=%zu, W=%zu]: set the model's input shape to the data's",
				(unsigned)d->sample_ndim, (unsigned long long)d->sample_shape[0], in->c, in->d, in->h,
				in->w);
		return FEDC_NN_ERR_DATA;
	}
	return FEDC_NN_OK;
}

static int seq_reserve(void *impl, size_t rows)
{
	return fedc_seq_reserve(impl, rows);
}

static int seq_forward(void *impl, const struct fedc_mat *x, struct fedc_mat *out)
{
	return fedc_seq_forward(impl, x, out);
}

static int seq_step(void *impl, enum fedc_loss kind, const struct fedc_mat *x, const float *y, double *loss,
		    size_t *correct)
{
	return fedc_seq_step(impl, kind, x, y, loss, correct);
}

static void seq_set_training(void *impl, bool training)
{
	fedc_seq_set_training(impl, training);
}

struct fedc_model fedc_seq_model(struct fedc_seq *s)
{
	struct fedc_model m = {
		.impl = s,
		.params = &s->params,
		.n_inputs = fedc_seq_inputs(s),
		.n_outputs = fedc_seq_outputs(s),
		.classes = fedc_seq_output_vol(s).c,
		.reserve = seq_reserve,
		.forward = seq_forward,
		.step = seq_step,
		.set_training = seq_set_training,
		.eval_rows = EVAL_ROWS,
	};
	return m;
}

int fedc_seq_train(struct fedc_seq *s, const struct fedc_data *d, const struct fedc_train_cfg *cfg,
		   struct fedc_metrics *out)
{
	struct fedc_model m;
	int rc;

	if (!s || !cfg || !cfg->args)
		return FEDC_NN_ERR_INVAL;
	rc = fedc_seq_check_data(s, d);
	if (rc)
		return rc;
	fedc_seq_seed(s, cfg->args->seed);
	m = fedc_seq_model(s);
	return fedc_model_train(&m, d, cfg, out);
}

int fedc_seq_evaluate(struct fedc_seq *s, const struct fedc_data *d, enum fedc_loss loss,
		      struct fedc_metrics *out)
{
	struct fedc_model m;
	int rc;

	if (!s)
		return FEDC_NN_ERR_INVAL;
	rc = fedc_seq_check_data(s, d);
	if (rc)
		return rc;
	m = fedc_seq_model(s);
	return fedc_model_evaluate(&m, d, loss, true, out);
}

int fedc_seq_predict(struct fedc_seq *s, const struct fedc_data *d, enum fedc_loss loss, float *out, size_t width)
{
	struct fedc_model m;
	int rc;

	if (!s)
		return FEDC_NN_ERR_INVAL;
	rc = fedc_seq_check_data(s, d);
	if (rc)
		return rc;
	m = fedc_seq_model(s);
	return fedc_model_predict(&m, d, loss, out, width);
}

int fedc_seq_get_params(void *model, const struct fedc_tensor **tensors, size_t *count)
{
	struct fedc_seq *s = model;

	return s ? fedc_paramset_get(&s->params, tensors, count) : FEDC_NN_ERR_INVAL;
}

int fedc_seq_set_params(void *model, const struct fedc_tensor *tensors, size_t count)
{
	struct fedc_seq *s = model;

	return s ? fedc_paramset_set(&s->params, tensors, count) : FEDC_NN_ERR_INVAL;
}

int fedc_seq_param_roles(void *model, uint8_t *roles, size_t count)
{
	const struct fedc_seq *s = model;

	return s ? fedc_paramset_roles(&s->params, roles, count) : FEDC_NN_ERR_INVAL;
}
