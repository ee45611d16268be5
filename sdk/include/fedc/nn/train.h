/* The training loop a plan's train() and evaluate() call: seeded shuffled
 * mini-batches, an optimizer, FedProx and SCAFFOLD, throttled reporting,
 * and DP-SGD (fedc/nn/dpsgd.h). */
#ifndef FEDC_NN_TRAIN_H
#define FEDC_NN_TRAIN_H

#include <stdint.h>

#include "fedc/plan.h"
#include "fedc/nn/dpsgd.h"
#include "fedc/nn/net.h"
#include "fedc/nn/optim.h"

/* SCAFFOLD (Karimireddy et al. 2020) control variates, each a paramset with
 * the layout of the net's params (fedc_paramset_init_like). During training
 * every gradient gets + (c - c_i). After K steps with learning rate lr,
 * "option II": c_i+ = c_i - c + (x_global - x_local) / (K lr), written into
 * c_local; delta_c (may be NULL) gets c_i+ - c_i. */
struct fedc_scaffold {
	const struct fedc_paramset *c; /* server control variate */
	struct fedc_paramset *c_local; /* this client's c_i, replaced by c_i+ */
	struct fedc_paramset *delta_c; /* out: c_i+ - c_i, or NULL */
};

struct fedc_train_cfg {
	const struct fedc_train_args *args;    /* lr, epochs or num_updates, batch_size, seed, fedprox_mu, optimizer */
	enum fedc_loss loss;
	const struct fedc_optim_cfg *optim;    /* NULL: fedc_optim_from_args(args) */
	const struct fedc_reporter *reporter;  /* NULL: no streaming */
	uint32_t report_every;                 /* steps between "loss" reports, 0: once per pass */
	double report_min_interval_s;          /* and at most this often (0: no limit); the last always goes */
	struct fedc_scaffold *scaffold;        /* NULL: off */
	struct fedc_paramset *delta_x;         /* out, may be NULL: x_local - x_global (net layout) */
	/* NULL: off. Else DP-SGD: clipped per-sample gradients and Gaussian
	 * noise at every step (with FedProx allowed, SCAFFOLD refused), and
	 * "dp_epsilon" in the metrics. */
	const struct fedc_dpsgd_cfg *dpsgd;
};

/* Trains the net on d. Fills out with "loss" and, for classification,
 * "accuracy" (training figures over the last pass, or over the steps of an
 * unfinished one), plus "num_updates" and "num_samples", and with DP-SGD
 * "dp_epsilon": the epsilon, at cfg->dpsgd->delta, of this call's steps alone
 * (one round of one node; rounds compose, see docs/plan-api.md). Returns 0,
 * FEDC_NN_ERR_INVAL (bad arguments, said with fedc_plan_error() for DP-SGD),
 * FEDC_NN_ERR_DATA (bad view), FEDC_NN_ERR_DIVERGED, FEDC_NN_ERR_NOMEM. */
int fedc_net_train(struct fedc_net *net, const struct fedc_data *d, const struct fedc_train_cfg *cfg,
		   struct fedc_metrics *out);
/* Fills out with "loss" and, for classification, "accuracy" over d. */
int fedc_net_evaluate(struct fedc_net *net, const struct fedc_data *d, enum fedc_loss loss,
		      struct fedc_metrics *out);

#endif
