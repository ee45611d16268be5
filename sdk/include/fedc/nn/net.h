/* A multi-layer perceptron: dense layers with one hidden activation, a
 * linear output layer (the loss applies softmax or sigmoid), its parameters
 * in a paramset named "dense<i>.weight" [out, in] and "dense<i>.bias" [out].
 *
 * A net with one layer is a linear or logistic regression. The activation
 * buffers grow to the largest batch seen (fedc_net_reserve) and are reused,
 * so a training step allocates nothing. A net must not be moved in memory
 * after fedc_net_init(). */
#ifndef FEDC_NN_NET_H
#define FEDC_NN_NET_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/nn/layers.h"
#include "fedc/nn/loss.h"
#include "fedc/nn/paramset.h"

#define FEDC_NET_MAX_LAYERS 8

struct fedc_net_cfg {
	size_t n_inputs;
	size_t n_layers;                   /* dense layers, the last one is the output */
	size_t sizes[FEDC_NET_MAX_LAYERS]; /* outputs of each layer */
	enum fedc_act hidden_act;          /* after every layer but the last */
	enum fedc_init init;
	uint64_t seed;                     /* initialisation */
};

struct fedc_net_layer {
	size_t weight, bias;   /* indices in params */
	struct fedc_mat out;   /* [capacity, size]: outputs, after the activation */
	struct fedc_mat delta; /* [capacity, size]: dL/d(out), then dL/d(pre-activation) */
};

struct fedc_net {
	struct fedc_net_cfg cfg;
	struct fedc_paramset params;
	size_t capacity; /* rows the buffers hold */
	struct fedc_net_layer layers[FEDC_NET_MAX_LAYERS];
};

/* Builds and initialises the net. Returns 0, FEDC_NN_ERR_INVAL or NOMEM; on
 * failure the net is released. */
int fedc_net_init(struct fedc_net *net, const struct fedc_net_cfg *cfg);
void fedc_net_release(struct fedc_net *net);
static inline size_t fedc_net_outputs(const struct fedc_net *net)
{
	return net->cfg.sizes[net->cfg.n_layers - 1];
}
/* Makes the buffers hold at least `rows` rows. */
int fedc_net_reserve(struct fedc_net *net, size_t rows);
/* Forward pass of x [n, n_inputs] (reserving as needed); *out gets a view
 * of the outputs [n, n_outputs], valid until the next pass. */
int fedc_net_forward(struct fedc_net *net, const struct fedc_mat *x, struct fedc_mat *out);
/* Backward pass after fedc_net_forward(x): dout [n, n_outputs] is dL/d(out)
 * and may be the output buffer itself (layers[last].delta). Fills every grad. */
int fedc_net_backward(struct fedc_net *net, const struct fedc_mat *x, const struct fedc_mat *dout);
/* Forward, loss and backward of one batch: *loss gets the mean loss,
 * *correct (may be NULL) the rows predicted right. */
int fedc_net_step(struct fedc_net *net, enum fedc_loss loss_kind, const struct fedc_mat *x, const float *y,
		  double *loss, size_t *correct);

#endif
