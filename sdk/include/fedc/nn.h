/* libfedcplan: the training-plan SDK. Everything a plan needs to build,
 * train and evaluate a dense network or a CNN in a few dozen lines: float32
 * matrices on CBLAS, dense, convolution, pooling, batch-norm and dropout
 * layers, a sequential model, image augmentation, losses, clinical metrics,
 * optimizers, seeded mini-batches over the node's data view, and a training
 * loop with FedProx and SCAFFOLD.
 *
 * It links only libc, libm and OpenBLAS: nothing of the node. A plan builds with
 *   cc -shared -fPIC plan.c $(pkg-config --cflags --libs fedcplan) -o plan.so
 * See docs/plan-api.md ("The SDK"). */
#ifndef FEDC_NN_H
#define FEDC_NN_H

#include "fedc/plan.h"
#include "fedc/nn/err.h"
#include "fedc/nn/rng.h"
#include "fedc/nn/mat.h"
#include "fedc/nn/layers.h"
#include "fedc/nn/loss.h"
#include "fedc/nn/paramset.h"
#include "fedc/nn/optim.h"
#include "fedc/nn/batcher.h"
#include "fedc/nn/net.h"
#include "fedc/nn/conv.h"
#include "fedc/nn/norm.h"
#include "fedc/nn/augment.h"
#include "fedc/nn/metrics.h"
#include "fedc/nn/train.h"
#include "fedc/nn/seq.h"
#include "fedc/nn/input_grad.h"
#include "fedc/nn/plan_util.h"

#endif
