/* Input gradients (input_grad.h): a forward pass in evaluation mode, the
 * loss's gradient scaled from the mean to the sum over rows, then each
 * layer's adjoint down to the input. Parameter gradients are never written:
 * dense and batch-norm layers are walked back here without them, and a conv
 * layer's backward, which always computes its weight gradient, writes it
 * into scratch memory. */
#include <math.h>
#include <stdlib.h>

#include "fedc/nn/err.h"
#include "fedc/nn/input_grad.h"
#include "fedc/nn/plan_util.h"

#define NET_CHUNK 1024 /* rows per pass through a net, as its evaluation's */
#define SEQ_CHUNK 256  /* rows per pass through a sequential model, as its evaluation's */

/* The view's x, width and targets fit a model of `inputs` inputs, `outputs`
 * outputs of `classes` channels and the loss (as the evaluation loop wants). */
static int view_ok(const struct fedc_data *d, size_t inputs, size_t outputs, size_t classes, enum fedc_loss loss)
{
	size_t w;

	if (!d || !d->x || !d->y || d->n_samples == 0) {
		fedc_plan_error("input gradient: the dataset view is empty or has no targets");
		return FEDC_NN_ERR_DATA;
	}
	if (d->n_features != inputs) {
		fedc_plan_error("input gradient: the data has %zu features per sample, the model takes %zu",
				d->n_features, inputs);
		return FEDC_NN_ERR_DATA;
	}
	w = d->label_width ? d->label_width : 1;
	if (fedc_loss_is_segmentation(loss) ? classes < 2 || classes * w != outputs
					    : w != 1 || (loss != FEDC_LOSS_SOFTMAX_CE && outputs != 1)) {
		fedc_plan_error("input gradient: %zu targets per row do not fit the model's %zu outputs", w, outputs);
		return FEDC_NN_ERR_DATA;
	}
	if (fedc_loss_check_targets(loss, d->y, d->n_samples * w, fedc_loss_is_segmentation(loss) ? classes : outputs)) {
		fedc_plan_error("input gradient: a target is outside what the loss takes");
		return FEDC_NN_ERR_DATA;
	}
	return FEDC_NN_OK;
}

/* dz = d(sum of the chunk's row losses)/dz: the loss's gradient of its
 * mean over the chunk's rows, times the rows. */
static int loss_sum_grad(enum fedc_loss loss, const struct fedc_mat *z, size_t classes, const float *y,
			 struct fedc_mat *dz)
{
	double mean;
	float rows = (float)z->rows;
	int rc = fedc_loss_k(loss, z, classes, y, &mean, dz);

	if (rc)
		return rc;
	for (size_t k = 0; k < fedc_mat_len(dz); k++)
		dz->data[k] *= rows;
	return FEDC_NN_OK;
}

/* dx = (dy through the activation) weight; dy is overwritten with dL/dz. */
static int dense_input_grad(const struct fedc_mat *weight, const struct fedc_mat *y, enum fedc_act act,
			    struct fedc_mat *dy, struct fedc_mat *dx)
{
	int rc = fedc_act_backward(act, y, dy, dy);

	return rc ? rc : fedc_mat_gemm(1.0f, dy, false, weight, false, 0.0f, dx);
}

/* ---- fedc_net ---- */

int fedc_net_input_gradient(struct fedc_net *net, const struct fedc_data *d, enum fedc_loss loss, float *grad)
{
	size_t last, nf;
	int rc;

	if (!net || !grad)
		return FEDC_NN_ERR_INVAL;
	last = net->cfg.n_layers - 1;
	nf = net->cfg.n_inputs;
	rc = view_ok(d, nf, fedc_net_outputs(net), fedc_net_outputs(net), loss);
	for (size_t lo = 0; !rc && lo < d->n_samples; lo += NET_CHUNK) {
		size_t n = d->n_samples - lo < NET_CHUNK ? d->n_samples - lo : NET_CHUNK;
		struct fedc_mat x = fedc_mat_view(d->x + lo * nf, n, nf), z, dz;

		rc = fedc_net_forward(net, &x, &z);
		dz = fedc_mat_top(&net->layers[last].delta, n);
		if (!rc)
			rc = loss_sum_grad(loss, &z, z.cols, d->y + lo, &dz);
		for (size_t i = last + 1; !rc && i-- > 0;) {
			struct fedc_mat y = fedc_mat_top(&net->layers[i].out, n);
			struct fedc_mat dy = fedc_mat_top(&net->layers[i].delta, n);
			struct fedc_mat dx = i ? fedc_mat_top(&net->layers[i - 1].delta, n)
					       : fedc_mat_view(grad + lo * nf, n, nf);
			enum fedc_act act = i < last ? net->cfg.hidden_act : FEDC_ACT_NONE;

			rc = dense_input_grad(&net->params.items[net->layers[i].weight].value, &y, act, &dy, &dx);
		}
	}
	return rc;
}

/* ---- fedc_seq ---- */

/* Where a conv layer's backward puts the weight and bias gradients it
 * cannot skip: big enough for the largest conv layer. */
struct scratch {
	struct fedc_mat dweight, dbias;
};

static int scratch_init(struct scratch *sc, const struct fedc_seq *s)
{
	size_t w = 0, b = 0;
	int rc = FEDC_NN_OK;

	for (size_t i = 0; i < s->cfg.n_layers; i++) {
		const struct fedc_seq_layer *l = &s->layers[i];

		if (l->spec.kind == FEDC_LAYER_CONV) {
			size_t len = fedc_mat_len(&s->params.items[l->weight].value);

			w = len > w ? len : w;
			b = l->spec.units > b ? l->spec.units : b;
		}
	}
	*sc = (struct scratch){ { 0, 0, NULL }, { 0, 0, NULL } };
	if (w)
		rc = fedc_mat_init(&sc->dweight, 1, w);
	if (!rc && b)
		rc = fedc_mat_init(&sc->dbias, 1, b);
	return rc;
}

static void scratch_release(struct scratch *sc)
{
	fedc_mat_release(&sc->dweight);
	fedc_mat_release(&sc->dbias);
}

/* Evaluation-mode batch norm: y = act(w (x - mean) / sqrt(var + eps) + b)
 * with constant statistics, so dx = dz w / sqrt(var + eps) per channel. */
static int batchnorm_input_grad(const struct fedc_seq *s, const struct fedc_seq_layer *l, const struct fedc_mat *y,
				struct fedc_mat *dy, struct fedc_mat *dx)
{
	const float *w = s->params.items[l->weight].value.data, *var = s->params.items[l->running_var].value.data;
	size_t sp = l->in.d * l->in.h * l->in.w;
	int rc = fedc_act_backward(l->spec.act, y, dy, dy);

	for (size_t ch = 0; !rc && ch < l->in.c; ch++) {
		float scale = (float)((double)w[ch] / sqrt((double)var[ch] + l->bn.eps));

		for (size_t i = 0; i < dy->rows; i++) {
			const float *g = dy->data + i * dy->cols + ch * sp;
			float *out = dx->data + i * dx->cols + ch * sp;

			for (size_t k = 0; k < sp; k++)
				out[k] = scale * g[k];
		}
	}
	return rc;
}

/* A conv layer's adjoint; its weight and bias gradients go to scratch. */
static int conv_input_grad(struct fedc_seq *s, struct fedc_seq_layer *l, const struct fedc_mat *in,
			   const struct fedc_mat *y, struct fedc_mat *dy, struct fedc_mat *dx, struct scratch *sc)
{
	const struct fedc_mat *weight = &s->params.items[l->weight].value;
	struct fedc_mat dw = fedc_mat_view(sc->dweight.data, weight->rows, weight->cols);
	struct fedc_mat db = fedc_mat_view(sc->dbias.data, 1, l->spec.units);

	return fedc_conv_backward(&l->conv, in, weight, y, l->spec.act, dy, &dw, &db, dx);
}

/* dx = dL/d(the layer's input) from dy = dL/d(its output y) (overwritten),
 * after an evaluation-mode forward pass that took `in`. */
static int layer_input_grad(struct fedc_seq *s, struct fedc_seq_layer *l, const struct fedc_mat *in,
			    const struct fedc_mat *y, struct fedc_mat *dy, struct fedc_mat *dx, struct scratch *sc)
{
	switch (l->spec.kind) {
	case FEDC_LAYER_CONV: return conv_input_grad(s, l, in, y, dy, dx, sc);
	case FEDC_LAYER_POOL:
	case FEDC_LAYER_GLOBAL_AVGPOOL: return fedc_pool_backward(&l->pool, dy, dx);
	case FEDC_LAYER_BATCHNORM: return batchnorm_input_grad(s, l, y, dy, dx);
	case FEDC_LAYER_DROPOUT: /* the identity in evaluation */
	case FEDC_LAYER_FLATTEN: return fedc_mat_copy(dx, dy);
	case FEDC_LAYER_DENSE: return dense_input_grad(&s->params.items[l->weight].value, y, l->spec.act, dy, dx);
	case FEDC_LAYER_ACT: return fedc_act_backward(l->spec.act, y, dy, dx);
	}
	return FEDC_NN_ERR_INVAL;
}

/* One chunk of rows x [n, inputs], its targets y, into grad [n, inputs]. */
static int seq_chunk(struct fedc_seq *s, enum fedc_loss loss, const struct fedc_mat *x, const float *y,
		     float *grad, struct scratch *sc)
{
	size_t n = x->rows, last = s->cfg.n_layers - 1;
	struct fedc_mat z, dz = { 0, 0, NULL };
	int rc = fedc_seq_forward(s, x, &z);

	if (!rc) {
		dz = fedc_mat_top(&s->layers[last].delta, n);
		rc = loss_sum_grad(loss, &z, fedc_seq_output_vol(s).c, y, &dz);
	}
	for (size_t i = last + 1; !rc && i-- > 0;) {
		struct fedc_seq_layer *l = &s->layers[i];
		struct fedc_mat in = i ? fedc_mat_top(&s->layers[i - 1].out_buf, n) : *x;
		struct fedc_mat out = fedc_mat_top(&l->out_buf, n), dy = fedc_mat_top(&l->delta, n);
		struct fedc_mat dx = i ? fedc_mat_top(&s->layers[i - 1].delta, n) : fedc_mat_view(grad, n, x->cols);

		rc = layer_input_grad(s, l, &in, &out, &dy, &dx, sc);
	}
	return rc;
}

int fedc_seq_input_gradient(struct fedc_seq *s, const struct fedc_data *d, enum fedc_loss loss, float *grad)
{
	struct scratch sc = { { 0, 0, NULL }, { 0, 0, NULL } };
	bool training;
	size_t nf, w;
	int rc;

	if (!s || !grad)
		return FEDC_NN_ERR_INVAL;
	rc = fedc_seq_check_data(s, d);
	if (rc)
		return rc;
	rc = view_ok(d, fedc_seq_inputs(s), fedc_seq_outputs(s), fedc_seq_output_vol(s).c, loss);
	if (!rc)
		rc = scratch_init(&sc, s);
	training = s->training;
	s->training = false;
	nf = fedc_seq_inputs(s);
	w = d->label_width ? d->label_width : 1;
	for (size_t lo = 0; !rc && lo < d->n_samples; lo += SEQ_CHUNK) {
		size_t n = d->n_samples - lo < SEQ_CHUNK ? d->n_samples - lo : SEQ_CHUNK;
		struct fedc_mat x = fedc_mat_view(d->x + lo * nf, n, nf);

		rc = seq_chunk(s, loss, &x, d->y + lo * w, grad + lo * nf, &sc);
	}
	s->training = training;
	scratch_release(&sc);
	return rc;
}
