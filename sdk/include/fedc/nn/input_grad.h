/* Gradients of the loss with respect to a model's inputs, for a plan's
 * input_gradient() (fedc/plan.h, ABI 4): the node perturbs test inputs
 * along them to measure robustness (FGSM, PGD; docs/researcher-guide.md).
 *
 * Both functions run the model in evaluation mode (no dropout, batch norm
 * from its running statistics), whatever mode it was in, and leave it in
 * the mode they found. They change no parameter, no running statistic and
 * no parameter gradient (an optimizer's state is untouched); they only
 * reuse the model's activation buffers, as a forward pass does.
 *
 * grad gets d/dx of the sum over rows of each row's loss: the loss is the
 * one evaluate() averages (fedc_model_evaluate), times n_samples. Row i's
 * part, grad[i * n_features .. (i + 1) * n_features - 1], is then that
 * row's own gradient, independent of the other rows, for every loss but
 * soft Dice, whose value couples the rows of a chunk of rows (its gradient
 * is that of the chunk's Dice loss times the chunk's rows).
 *
 * Rows go through the model in chunks (the model's evaluation chunk), so
 * memory stays bounded whatever n_samples. Returns 0, FEDC_NN_ERR_INVAL
 * (NULL), FEDC_NN_ERR_DATA (an empty view, a width or target that does not
 * fit the model or the loss: said with fedc_plan_error()), FEDC_NN_ERR_SHAPE
 * or FEDC_NN_ERR_NOMEM. */
#ifndef FEDC_NN_INPUT_GRAD_H
#define FEDC_NN_INPUT_GRAD_H

#include "fedc/plan.h"
#include "fedc/nn/loss.h"
#include "fedc/nn/net.h"
#include "fedc/nn/seq.h"

/* A fedc_net (dense layers; the MLP, linear and logistic regressions). */
int fedc_net_input_gradient(struct fedc_net *net, const struct fedc_data *d, enum fedc_loss loss, float *grad);
/* A sequential model: conv, pooling, batch norm, dropout, flatten, dense
 * and activation layers, backward down to the input. */
int fedc_seq_input_gradient(struct fedc_seq *s, const struct fedc_data *d, enum fedc_loss loss, float *grad);

#endif
