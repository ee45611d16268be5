/* The robustness stage, run in the node's plan process: the final model's
 * evaluate() metrics on test inputs perturbed by FGSM and PGD within an
 * L-infinity ball of each epsilon, along the plan's input_gradient() (ABI 4).
 * docs/researcher-guide.md, "Robustness under attack", describes the
 * arguments and what is reported. */
#ifndef FEDC_NODE_PLAN_ROBUST_H
#define FEDC_NODE_PLAN_ROBUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/buf.h"
#include "fedc/err.h"
#include "fedc/plan.h"

#define PLAN_ROBUST_MAX_ARGS_LEN 4096  /* bytes of the args text */
#define PLAN_ROBUST_MAX_EPSILONS 16
#define PLAN_ROBUST_MAX_EPSILON 1e6    /* far beyond any useful ball; keeps x + eps finite */
#define PLAN_ROBUST_MAX_STEPS 1000     /* PGD steps: each costs one input_gradient() */
#define PLAN_ROBUST_BATCH_FLOATS (1u << 20) /* inputs per input_gradient() call: bounds memory */

enum plan_robust_attack {
	PLAN_ROBUST_FGSM = 0,
	PLAN_ROBUST_PGD,
	PLAN_ROBUST_N_ATTACKS
};

struct plan_robust_args {
	bool attack[PLAN_ROBUST_N_ATTACKS]; /* which to run; in this order */
	size_t n_epsilons;
	double epsilons[PLAN_ROBUST_MAX_EPSILONS];
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
enum fedc_err plan_robust__parse_args(const char *text, struct plan_robust_args *out);

/* Perturbs rows [0, n) of `view` (a copy the caller owns: view->x is
 * overwritten) from the clean inputs x0 [n * n_features], by `attack` at
 * `eps`: FGSM x0 + eps sign(g(x0)); PGD from x0, pgd_steps steps of
 * x + step sign(g(x)) each projected on [x0 - eps, x0 + eps]. Both then
 * kept within [clip_min, clip_max] when given, except that a clean value
 * already outside that range stays where it was (eps 0 changes nothing).
 * grad holds n * n_features floats of scratch. FEDC_OK, FEDC_ERR_PLAN
 * (input_gradient() failed: said with what the plan said). */
FEDC_NODISCARD
enum fedc_err plan_robust__perturb(const struct fedc_plan *plan, void *model, const struct plan_robust_args *a,
				   enum plan_robust_attack attack, double eps, const float *x0,
				   struct fedc_data *view, float *grad);

/* Runs the stage: the plan's evaluate() on `test` as it is, then on a
 * perturbed copy for each attack and epsilon (input gradients in batches of
 * at most PLAN_ROBUST_BATCH_FLOATS inputs), and appends to `result` one line
 * per metric:
 *   mean robust.clean.<metric> <value>
 *   mean robust.<attack>.<eps>.<metric> <value>     (eps as %g)
 * `model` holds the final parameters; `test` is the prepared test view
 * (left unchanged). Returns FEDC_OK, FEDC_ERR_INVAL (bad args, or an empty
 * test view), FEDC_ERR_UNSUPPORTED (a plan of ABI < 4 or without
 * input_gradient: the detail says how to fix it), FEDC_ERR_PLAN (a call of
 * the plan failed), FEDC_ERR_NOMEM or FEDC_ERR_TOO_BIG (result's cap). */
FEDC_NODISCARD
enum fedc_err plan_robust__run(const struct fedc_plan *plan, void *model, const struct fedc_data *test,
			       const char *args, struct fedc_buf *result);
/* plan_robust__run with parsed arguments and at most `batch_floats` inputs
 * per input_gradient() call (tests use small batches). */
FEDC_NODISCARD
enum fedc_err plan_robust__run_with(const struct fedc_plan *plan, void *model, const struct fedc_data *test,
				    const struct plan_robust_args *a, size_t batch_floats, struct fedc_buf *result);

#endif
