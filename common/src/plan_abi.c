/* Which plans a loader accepts (fedc/plan_abi.h). */
#include "fedc/plan_abi.h"

enum fedc_err fedc_plan_abi_check(const struct fedc_plan *plan, const char *who)
{
	if (!plan)
		return fedc_fail(FEDC_ERR_PLAN, "not a training plan: it exports no \"%s\" symbol", FEDC_PLAN_SYMBOL);
	if (plan->abi_version == 0)
		return fedc_fail(FEDC_ERR_PLAN, "not a training plan: its \"%s\" has ABI version 0", FEDC_PLAN_SYMBOL);
	if (plan->abi_version > FEDC_PLAN_ABI_VERSION)
		return fedc_fail(FEDC_ERR_UNSUPPORTED,
				 "plan built for ABI %u, this %s supports up to %u (update the %s, or rebuild the plan "
				 "against the fedc/plan.h of this version)",
				 plan->abi_version, who, FEDC_PLAN_ABI_VERSION, who);
	return FEDC_OK;
}
