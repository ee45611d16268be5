/* Optimizers over a paramset: SGD with momentum, and Adam, with the same
 * update rules as torch.optim.SGD and torch.optim.Adam.
 *
 * The federated gradient terms (FedProx's mu (w - w_global), SCAFFOLD's
 * c - c_i) and weight decay are added to the gradient by the step itself,
 * in one sweep, and only when they are on. */
#ifndef FEDC_NN_OPTIM_H
#define FEDC_NN_OPTIM_H

#include <stdint.h>

#include "fedc/plan.h"
#include "fedc/nn/paramset.h"

enum fedc_optim_kind {
	FEDC_OPTIM_SGD = 0,
	FEDC_OPTIM_ADAM,
};

struct fedc_optim_cfg {
	enum fedc_optim_kind kind;
	double lr;
	double momentum;     /* SGD: v = momentum v + g; w -= lr v (0 = plain SGD) */
	double beta1, beta2; /* Adam moments */
	double eps;          /* Adam: added to sqrt of the corrected second moment */
	double weight_decay; /* L2: adds weight_decay * w to the gradient, 0 = off */
};

/* Terms added to every trainable gradient before the update. */
struct fedc_grad_terms {
	double prox_mu;                         /* FedProx: + mu (w - anchor); 0 = off */
	const struct fedc_paramset *anchor;     /* w_global, same layout as the params */
	const struct fedc_paramset *correction; /* SCAFFOLD: + (c - c_i); NULL = off */
};

/* Defaults: plain SGD, or Adam with betas (0.9, 0.999) and eps 1e-8. */
void fedc_optim_defaults(struct fedc_optim_cfg *cfg, enum fedc_optim_kind kind, double lr);
/* From the [training] section: optimizer "sgd" (or empty), "sgdm" (SGD with
 * momentum 0.9) or "adam", and lr. Returns 0 or FEDC_NN_ERR_INVAL. */
int fedc_optim_from_args(struct fedc_optim_cfg *cfg, const struct fedc_train_args *args);

struct fedc_optim {
	struct fedc_optim_cfg cfg;
	uint64_t t;                   /* steps taken (Adam's bias correction) */
	struct fedc_paramset m, v;    /* momentum / first moment, second moment */
};

/* Allocates the state for `params` (zero). Returns 0, INVAL or NOMEM. */
int fedc_optim_init(struct fedc_optim *o, const struct fedc_optim_cfg *cfg, const struct fedc_paramset *params);
void fedc_optim_release(struct fedc_optim *o);
/* One update of every trainable tensor from its gradient (plus `terms`,
 * which may be NULL). */
void fedc_optim_step(struct fedc_optim *o, struct fedc_paramset *params, const struct fedc_grad_terms *terms);

/* The FedProx penalty mu/2 ||w - anchor||^2 over the trainable tensors, and
 * (if add_grad) its gradient mu (w - anchor) added to each grad. Standalone
 * form of what fedc_optim_step() fuses, for tests and custom loops. */
double fedc_fedprox(struct fedc_paramset *params, const struct fedc_paramset *anchor, double mu, bool add_grad);

#endif
