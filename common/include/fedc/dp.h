/* The differential-privacy accountant (docs/privacy.md, "The accountant").
 *
 * Rényi differential privacy (RDP, Mironov 2017) of the sampled Gaussian
 * mechanism: each step, a record takes part with probability q and what is
 * released has Gaussian noise of standard deviation sigma times the
 * sensitivity (Mironov, Talwar, Zhang 2019, "Rényi Differential Privacy of
 * the Sampled Gaussian Mechanism"). RDP adds up over steps; it is turned into
 * (epsilon, delta) with the conversion of Balle et al. 2020 ("Hypothesis
 * testing interpretations and Rényi differential privacy"), minimised over a
 * grid of orders. The same orders and conversion as Opacus (its
 * accountants/analysis/rdp.py), against whose values the tests check. */
#ifndef FEDC_DP_H
#define FEDC_DP_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

/* The orders the accountant tries: 1.1, 1.2, ..., 10.9, then 12, 13, ..., 63. */
#define FEDC_DP_N_ORDERS 151
double fedc_dp_order(size_t i);

/* RDP at `order` (> 1) of one step of the sampled Gaussian mechanism with
 * sampling rate `q` in [0, 1] and noise multiplier `sigma` >= 0. 0 when q is
 * 0, infinity when sigma is 0. */
double fedc_dp_rdp_step(double q, double sigma, double order);

/* (epsilon, delta) after `steps` steps: the smallest epsilon over the
 * orders, and the order that gave it (may be NULL). FEDC_ERR_INVAL for q
 * outside [0, 1], sigma < 0 or delta outside (0, 1). */
FEDC_NODISCARD
enum fedc_err fedc_dp_epsilon(double q, double sigma, uint64_t steps, double delta, double *epsilon,
			      double *best_order);

#endif
