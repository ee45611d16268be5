/* The robustness stage's arguments (FGSM, PGD: docs/researcher-guide.md,
 * "Robustness under attack"): key = value lines a researcher sends in
 * `assess_args` and a node reads as outside input. One parser, so that the
 * researcher refuses before sending exactly what the nodes would refuse. */
#ifndef FEDC_ROBUST_ARGS_H
#define FEDC_ROBUST_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

#define FEDC_ROBUST_MAX_ARGS_LEN 4096  /* bytes of the args text */
#define FEDC_ROBUST_MAX_EPSILONS 16
#define FEDC_ROBUST_MAX_EPSILON 1e6    /* far beyond any useful ball; keeps x + eps finite */
#define FEDC_ROBUST_MAX_STEPS 1000     /* PGD steps: each costs one input_gradient() */

enum fedc_robust_attack {
	FEDC_ROBUST_FGSM = 0,
	FEDC_ROBUST_PGD,
	FEDC_ROBUST_N_ATTACKS
};

struct fedc_robust_args {
	bool attack[FEDC_ROBUST_N_ATTACKS]; /* which to run; in this order */
	size_t n_epsilons;
	double epsilons[FEDC_ROBUST_MAX_EPSILONS];
	uint32_t pgd_steps;     /* default 10 */
	double pgd_step_size;   /* 0: 2.5 * eps / pgd_steps for each eps */
	bool has_clip_min, has_clip_max;
	double clip_min, clip_max;
};

/* Parses `text`, key = value lines (blank lines allowed; spaces around
 * keys, values and commas ignored):
 *   attacks = fgsm, pgd              (default both)
 *   epsilons = 0.01, 0.05, 0.1       (default these; 1 to 16, each >= 0, distinct)
 *   pgd_steps = 10                   (1 to 1000)
 *   pgd_step_size = 0.0025           (> 0; default 2.5 * eps / pgd_steps)
 *   clip_min = 0, clip_max = 1       (optional bounds of the inputs)
 * NULL or "" gives the defaults. FEDC_OK or FEDC_ERR_INVAL with a detail
 * naming the key and what to change (fedc_last_error()). */
FEDC_NODISCARD
enum fedc_err fedc_robust_args_parse(const char *text, struct fedc_robust_args *out);

#endif
