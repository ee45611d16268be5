/* A multi-layer perceptron over the dense layers: parameters in a paramset,
 * activation buffers reused across batches. */
#include <stdio.h>
#include <string.h>

#include "fedc/nn/err.h"
#include "fedc/nn/net.h"

static bool cfg_ok(const struct fedc_net_cfg *c)
{
	if (!c || c->n_inputs == 0 || c->n_layers == 0 || c->n_layers > FEDC_NET_MAX_LAYERS)
		return false;
	if (c->hidden_act > FEDC_ACT_SIGMOID || c->init > FEDC_INIT_XAVIER)
		return false;
	for (size_t i = 0; i < c->n_layers; i++) {
		if (c->sizes[i] == 0)
			return false;
	}
	return true;
}

static int add_layer(struct fedc_net *net, size_t i, size_t in, size_t out, struct fedc_rng *rng)
{
	struct fedc_net_layer *l = &net->layers[i];
	char name[FEDC_PARAM_NAME_LEN];
	int rc;

	snprintf(name, sizeof(name), "dense%zu.weight", i);
	rc = fedc_paramset_add(&net->params, name, out, in, 2, true, &l->weight);
	snprintf(name, sizeof(name), "dense%zu.bias", i);
	if (!rc)
		rc = fedc_paramset_add(&net->params, name, 1, out, 1, true, &l->bias);
	if (!rc)
		fedc_dense_init(&net->params.items[l->weight].value, &net->params.items[l->bias].value,
				net->cfg.init, rng);
	return rc;
}

int fedc_net_init(struct fedc_net *net, const struct fedc_net_cfg *cfg)
{
	struct fedc_rng rng;
	int rc = FEDC_NN_OK;

	memset(net, 0, sizeof(*net));
	if (!cfg_ok(cfg))
		return FEDC_NN_ERR_INVAL;
	net->cfg = *cfg;
	fedc_rng_seed(&rng, cfg->seed);
	for (size_t i = 0; !rc && i < cfg->n_layers; i++)
		rc = add_layer(net, i, i ? cfg->sizes[i - 1] : cfg->n_inputs, cfg->sizes[i], &rng);
	if (rc)
		fedc_net_release(net);
	return rc;
}

static void release_buffers(struct fedc_net *net)
{
	for (size_t i = 0; i < FEDC_NET_MAX_LAYERS; i++) {
		fedc_mat_release(&net->layers[i].out);
		fedc_mat_release(&net->layers[i].delta);
	}
	net->capacity = 0;
}

void fedc_net_release(struct fedc_net *net)
{
	release_buffers(net);
	fedc_paramset_release(&net->params);
}

int fedc_net_reserve(struct fedc_net *net, size_t rows)
{
	int rc = FEDC_NN_OK;

	if (rows <= net->capacity)
		return FEDC_NN_OK;
	release_buffers(net);
	for (size_t i = 0; !rc && i < net->cfg.n_layers; i++) {
		rc = fedc_mat_init(&net->layers[i].out, rows, net->cfg.sizes[i]);
		if (!rc)
			rc = fedc_mat_init(&net->layers[i].delta, rows, net->cfg.sizes[i]);
	}
	if (rc)
		release_buffers(net);
	else
		net->capacity = rows;
	return rc;
}

static enum fedc_act layer_act(const struct fedc_net *net, size_t i)
{
	return i + 1 < net->cfg.n_layers ? net->cfg.hidden_act : FEDC_ACT_NONE;
}

int fedc_net_forward(struct fedc_net *net, const struct fedc_mat *x, struct fedc_mat *out)
{
	struct fedc_mat in = *x, y = { 0, 0, NULL };
	int rc;

	if (x->cols != net->cfg.n_inputs || x->rows == 0)
		return FEDC_NN_ERR_SHAPE;
	rc = fedc_net_reserve(net, x->rows);
	for (size_t i = 0; !rc && i < net->cfg.n_layers; i++) {
		struct fedc_param *w = &net->params.items[net->layers[i].weight];
		struct fedc_param *b = &net->params.items[net->layers[i].bias];

		y = fedc_mat_top(&net->layers[i].out, x->rows);
		rc = fedc_dense_forward(&in, &w->value, &b->value, layer_act(net, i), &y);
		in = y;
	}
	if (!rc)
		*out = y;
	return rc;
}

int fedc_net_backward(struct fedc_net *net, const struct fedc_mat *x, const struct fedc_mat *dout)
{
	size_t n = x->rows, last = net->cfg.n_layers - 1;
	struct fedc_mat dy = fedc_mat_top(&net->layers[last].delta, n);
	int rc = FEDC_NN_OK;

	if (n > net->capacity || dout->rows != n || dout->cols != fedc_net_outputs(net))
		return FEDC_NN_ERR_SHAPE;
	fedc_mat_copy(&dy, dout); /* no-op when dout is the delta buffer */
	for (size_t i = last + 1; !rc && i-- > 0;) {
		struct fedc_param *w = &net->params.items[net->layers[i].weight];
		struct fedc_param *b = &net->params.items[net->layers[i].bias];
		struct fedc_mat in = i ? fedc_mat_top(&net->layers[i - 1].out, n) : *x;
		struct fedc_mat y = fedc_mat_top(&net->layers[i].out, n);
		struct fedc_mat dx = i ? fedc_mat_top(&net->layers[i - 1].delta, n) : (struct fedc_mat){ 0 };

		dy = fedc_mat_top(&net->layers[i].delta, n);
		/* The first layer needs no gradient for its input: skip that product. */
		rc = fedc_dense_backward(&in, &w->value, &y, layer_act(net, i), &dy, &w->grad, &b->grad,
					 i ? &dx : NULL);
	}
	return rc;
}

int fedc_net_step(struct fedc_net *net, enum fedc_loss loss_kind, const struct fedc_mat *x, const float *y,
		  double *loss, size_t *correct)
{
	struct fedc_mat out, dout;
	int rc = fedc_net_forward(net, x, &out);

	if (rc)
		return rc;
	if (correct)
		*correct = fedc_loss_correct(loss_kind, &out, y);
	dout = fedc_mat_top(&net->layers[net->cfg.n_layers - 1].delta, x->rows);
	rc = fedc_loss(loss_kind, &out, y, loss, &dout);
	if (!rc)
		rc = fedc_net_backward(net, x, &dout);
	return rc;
}
