/* The checks a program that loads training plans (the node's plan process,
 * the researcher) makes before it calls one, so that both accept and refuse
 * the same plans with the same words. Plans themselves never include this:
 * they compile against fedc/plan.h alone. */
#ifndef FEDC_PLAN_ABI_H
#define FEDC_PLAN_ABI_H

#include "fedc/err.h"
#include "fedc/plan.h"

/* Whether `plan` (what dlsym() of FEDC_PLAN_SYMBOL gave, NULL allowed) is of
 * an ABI this program runs: abi_version from 1 to FEDC_PLAN_ABI_VERSION.
 * `who` names the program in the message ("node", "researcher"). FEDC_OK;
 * FEDC_ERR_UNSUPPORTED for a plan built for a newer ABI, with the detail
 * "plan built for ABI N, this <who> supports up to M (update the <who> or
 * rebuild the plan against its fedc/plan.h)"; FEDC_ERR_PLAN for NULL or
 * version 0 (not a plan). The detail goes through fedc_fail(). */
FEDC_NODISCARD
enum fedc_err fedc_plan_abi_check(const struct fedc_plan *plan, const char *who);

/* What the plan said of its last failure (its `last_error`, ABI 2), as one
 * line of printable ASCII in `buf` (`cap` bytes, at most FEDC_PLAN_ERROR_LEN
 * of the plan's text read): control characters and bytes outside ASCII
 * become '?'. "" when the plan is of ABI 1, has no last_error, or said
 * nothing. Call it right after the failed call. Returns `buf`. */
const char *fedc_plan_said(const struct fedc_plan *plan, char *buf, size_t cap);

/* The role of each of the `count` tensors get_params() gave for `model`
 * (enum fedc_param_role, fedc/plan.h), into roles[0..count-1]: the plan's
 * param_roles (ABI 3), or every tensor a weight when the plan is older or
 * has none. The node and the researcher read roles through this alone, so
 * both see the same. FEDC_ERR_PLAN (with what the plan said) when
 * param_roles fails or gives a role outside 0..2. */
FEDC_NODISCARD
enum fedc_err fedc_plan_roles(const struct fedc_plan *plan, void *model, uint8_t *roles, size_t count);

#endif
