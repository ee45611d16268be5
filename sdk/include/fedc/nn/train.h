/* The training loop a plan's train() and evaluate() call: seeded shuffled
 * mini-batches, an optimizer, FedProx and SCAFFOLD, throttled reporting,
 * and DP-SGD (fedc/nn/dpsgd.h). */
#ifndef FEDC_NN_TRAIN_H
#define FEDC_NN_TRAIN_H

#include <stdbool.h>
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

/* What the loop needs of a model, so that one loop trains every kind the
 * SDK has: fedc_net_model() and fedc_seq_model() (seq.h) fill one. */
struct fedc_model {
	void *impl;
	struct fedc_paramset *params;
	size_t n_inputs;  /* features per row */
	size_t n_outputs; /* outputs per row */
	size_t classes;   /* output channels: n_outputs, or K of a segmentation's [K, V] */
	int (*reserve)(void *impl, size_t rows);
	int (*forward)(void *impl, const struct fedc_mat *x, struct fedc_mat *out);
	int (*step)(void *impl, enum fedc_loss kind, const struct fedc_mat *x, const float *y, double *loss,
		    size_t *correct);
	void (*set_training)(void *impl, bool training); /* NULL: no mode */
	struct fedc_net *dense; /* DP-SGD's per-sample gradients need a fedc_net; NULL refuses DP-SGD */
	size_t eval_rows;       /* rows per forward pass in evaluation (0: 1024): bounds its buffers */
};

/* The loop behind fedc_net_train and fedc_seq_train, same contract. */
int fedc_model_train(const struct fedc_model *m, const struct fedc_data *d, const struct fedc_train_cfg *cfg,
		     struct fedc_metrics *out);
/* Fills out with "loss" over d and, for classification, "accuracy"; with
 * `clinical`, also (metrics.h) "auc", "f1", "sensitivity", "specificity"
 * (binary: of class 1; more classes: their macro mean, AUC left out), and
 * for the segmentation losses "dice" (foreground classes, macro). A figure
 * that is NaN (a class absent from d) is left out. */
int fedc_model_evaluate(const struct fedc_model *m, const struct fedc_data *d, enum fedc_loss loss, bool clinical,
			struct fedc_metrics *out);
/* A plan's predict() (ABI 4, fedc/plan.h): each row's outputs into
 * out[i * width ...], in evaluation mode, parameters unchanged. `width`
 * must be fedc_plan_output_width(d): softmax probabilities of the n_outputs
 * classes (FEDC_LOSS_SOFTMAX_CE), 1 - p and p of a one-output sigmoid
 * (FEDC_LOSS_BCE: width 2), or the values themselves (FEDC_LOSS_MSE).
 * Segmentation losses and several targets per row are refused
 * (FEDC_NN_ERR_SHAPE, with fedc_plan_error). */
int fedc_model_predict(const struct fedc_model *m, const struct fedc_data *d, enum fedc_loss loss, float *out,
		       size_t width);
/* The generic model over a net. */
struct fedc_model fedc_net_model(struct fedc_net *net);

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
/* fedc_model_predict over the net. */
int fedc_net_predict(struct fedc_net *net, const struct fedc_data *d, enum fedc_loss loss, float *out, size_t width);

#endif
