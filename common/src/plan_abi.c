/* Which plans a loader accepts (fedc/plan_abi.h). */
#include "fedc/plan_abi.h"

#include <string.h>

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

const char *fedc_plan_said(const struct fedc_plan *plan, char *buf, size_t cap)
{
	const char *text = NULL;
	size_t n = 0;

	if (cap == 0)
		return buf;
	if (plan && plan->abi_version >= 2 && plan->last_error)
		text = plan->last_error();
	if (text) {
		n = strnlen(text, FEDC_PLAN_ERROR_LEN);
		if (n > cap - 1)
			n = cap - 1;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)text[i];

			buf[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
		}
	}
	buf[n] = '\0';
	return buf;
}

enum fedc_err fedc_plan_roles(const struct fedc_plan *plan, void *model, uint8_t *roles, size_t count)
{
	char said[FEDC_PLAN_ERROR_LEN];

	if (count)
		memset(roles, FEDC_PARAM_WEIGHT, count);
	if (!plan || plan->abi_version < 3 || !plan->param_roles || count == 0)
		return FEDC_OK;
	if (plan->param_roles(model, roles, count) != 0) {
		fedc_plan_said(plan, said, sizeof(said));
		return fedc_fail(FEDC_ERR_PLAN, "the plan's param_roles() failed for its %zu tensors%s%s", count,
				 said[0] ? ": " : "", said);
	}
	for (size_t i = 0; i < count; i++) {
		if (roles[i] > FEDC_PARAM_LOCAL)
			return fedc_fail(FEDC_ERR_PLAN, "the plan's param_roles() gave tensor %zu role %u; roles are 0 "
					 "(weight), 1 (buffer) and 2 (local)", i, roles[i]);
	}
	return FEDC_OK;
}
