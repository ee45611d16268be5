/* Sample-level differential privacy for the training loop: DP-SGD (Abadi et
 * al. 2016, "Deep Learning with Differential Privacy"). See docs/plan-api.md,
 * "Differential privacy (DP-SGD)".
 *
 * At every step each row's own gradient (over all the net's trainable
 * parameters) is clipped to L2 norm clip_norm, the clipped gradients are
 * summed, Gaussian noise of standard deviation noise_multiplier * clip_norm is
 * added to every coordinate of the sum, and the result is divided by the
 * expected batch size; the optimizer then steps as usual.
 *
 * Per-sample gradients of the SDK's dense nets are not materialised: a dense
 * layer's per-sample weight gradient is the outer product dz_s a_s^T, whose
 * norm is |dz_s| |a_s|, so one backward pass gives every row's norm, and the
 * clipped sum is sum_s c_s dz_s a_s^T = (diag(c) dZ)^T A, one product per
 * layer as in plain training ("ghost clipping", Goodfellow 2015; Lee and
 * Kifer 2021). fedc_dpsgd_sample_grad() materialises one for the tests. */
#ifndef FEDC_NN_DPSGD_H
#define FEDC_NN_DPSGD_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/nn/loss.h"
#include "fedc/nn/net.h"
#include "fedc/nn/paramset.h"
#include "fedc/nn/rng.h"

enum fedc_dpsgd_sampling {
	/* Every row takes part in a step independently with probability
	 * q = batch_size / n_rows: what the accountant assumes. */
	FEDC_DPSGD_POISSON = 0,
	/* Fixed-size batches of a shuffled pass, as plain training does. The
	 * epsilon reported then is the usual approximation (the accountant's
	 * bound is proven for Poisson sampling only). */
	FEDC_DPSGD_SHUFFLE,
};

struct fedc_dpsgd_cfg {
	double clip_norm;        /* C > 0: each row's gradient is scaled to norm <= C */
	double noise_multiplier; /* sigma >= 0: noise N(0, (sigma C)^2) per coordinate of the sum */
	enum fedc_dpsgd_sampling sampling;
	double delta;            /* in (0, 1): the delta of the reported "dp_epsilon" */
};

/* 0, or FEDC_NN_ERR_INVAL with the reason in fedc_plan_error(). */
int fedc_dpsgd_check(const struct fedc_dpsgd_cfg *cfg);

/* A standard normal draw from r: Box-Muller in Marsaglia's polar form, in
 * double, from 53-bit uniforms. */
double fedc_dpsgd_gaussian(struct fedc_rng *r);

/* The state of DP-SGD over a run: its configuration, the noise generator and
 * the per-row buffers (grown to the largest batch seen). */
struct fedc_dpsgd {
	struct fedc_dpsgd_cfg cfg;
	struct fedc_rng noise;
	size_t capacity;
	double *norm2; /* [capacity]: squared norm of each row's gradient */
	float *scale;  /* [capacity]: min(1, C / norm) of each row */
};

/* Checks cfg and seeds the noise from `seed` (the training seed), on a stream
 * of its own. Returns 0, FEDC_NN_ERR_INVAL or FEDC_NN_ERR_NOMEM. */
int fedc_dpsgd_init(struct fedc_dpsgd *dp, const struct fedc_dpsgd_cfg *cfg, uint64_t seed);
void fedc_dpsgd_release(struct fedc_dpsgd *dp);

/* Forward pass of x [n, n_inputs] and backward pass of every row's own loss:
 * afterwards each layer's delta buffer holds, row by row, the gradient of that
 * row's loss with respect to the layer's pre-activation, and dp->norm2[s] the
 * squared L2 norm of row s's gradient over all trainable parameters. The
 * parameters' grad buffers are left alone. *loss gets the batch's mean loss,
 * *correct (may be NULL) the rows predicted right. n must be > 0. Returns 0,
 * FEDC_NN_ERR_SHAPE, FEDC_NN_ERR_DATA or FEDC_NN_ERR_NOMEM. */
int fedc_dpsgd_per_sample(struct fedc_dpsgd *dp, struct fedc_net *net, enum fedc_loss loss_kind,
			  const struct fedc_mat *x, const float *y, double *loss, size_t *correct);

/* After fedc_dpsgd_per_sample(x): writes row s's own gradient into the grad
 * buffers of `out` (a paramset laid out like net->params, e.g. a second net of
 * the same configuration). For tests: training never materialises it. */
int fedc_dpsgd_sample_grad(const struct fedc_net *net, const struct fedc_mat *x, size_t s,
			   struct fedc_paramset *out);

/* One DP-SGD gradient: fills the grad buffers of net->params with
 * (sum over rows of clip(g_s) + N(0, (sigma C)^2)) / expected_batch.
 * x may have no rows (a Poisson draw can be empty): the gradient is then the
 * noise alone and *loss is 0. *loss and *correct as fedc_dpsgd_per_sample.
 * Returns its codes, or FEDC_NN_ERR_INVAL for expected_batch <= 0. */
int fedc_dpsgd_grad(struct fedc_dpsgd *dp, struct fedc_net *net, enum fedc_loss loss_kind, const struct fedc_mat *x,
		    const float *y, double expected_batch, double *loss, size_t *correct);

/* The (epsilon, delta) of `steps` steps at sampling rate q with cfg's noise
 * multiplier and delta: libfedc's RDP accountant (fedc/dp.h), compiled into
 * the SDK. Returns 0 or FEDC_NN_ERR_INVAL. */
int fedc_dpsgd_epsilon(const struct fedc_dpsgd_cfg *cfg, double q, uint64_t steps, double *epsilon);

#endif
