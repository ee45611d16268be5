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
#include "fedc/robust_args.h"

#define PLAN_ROBUST_BATCH_FLOATS (1u << 20) /* inputs per input_gradient() call: bounds memory */

/* Perturbs rows [0, n) of `view` (a copy the caller owns: view->x is
 * overwritten) from the clean inputs x0 [n * n_features], by `attack` at
 * `eps`: FGSM x0 + eps sign(g(x0)); PGD from x0, pgd_steps steps of
 * x + step sign(g(x)) each projected on [x0 - eps, x0 + eps]. Both then
 * kept within [clip_min, clip_max] when given, except that a clean value
 * already outside that range stays where it was (eps 0 changes nothing).
 * grad holds n * n_features floats of scratch. FEDC_OK, FEDC_ERR_PLAN
 * (input_gradient() failed: said with what the plan said). */
FEDC_NODISCARD
enum fedc_err plan_robust__perturb(const struct fedc_plan *plan, void *model, const struct fedc_robust_args *a,
				   enum fedc_robust_attack attack, double eps, const float *x0,
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
				    const struct fedc_robust_args *a, size_t batch_floats, struct fedc_buf *result);

#endif
