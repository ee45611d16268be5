/* Building the initial global parameters from the plan. */
#include "initial_params.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/limits.h"
#include "fedc/params.h"
#include "fedc/plan_abi.h"

/* SCAFFOLD's global parameters carry the server's control variate c after
 * the model (see aggregator.h); it starts at zero. Its presence is also what
 * tells the nodes to run SCAFFOLD. */
static enum fedc_err write_with_zero_variate(const char *path, const struct fedc_tensor *model, size_t count)
{
	struct fedc_tensor *all = calloc(2 * count + 1, sizeof(*all));
	char (*names)[FEDC_MAX_NAME_LEN + 16] = calloc(count + 1, sizeof(*names));
	uint64_t largest = 1;
	float *zeros;
	enum fedc_err rc;

	for (size_t i = 0; i < count; i++)
		largest = fedc_tensor_elements(&model[i]) > largest ? fedc_tensor_elements(&model[i]) : largest;
	zeros = calloc(largest, sizeof(float));
	if (!all || !names || !zeros) {
		rc = FEDC_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		all[i] = model[i];
		all[count + i] = model[i];
		snprintf(names[i], sizeof(names[i]), "scaffold.c.%s", model[i].name);
		all[count + i].name = names[i];
		all[count + i].data = zeros;
	}
	rc = fedc_params_write_file(path, all, 2 * count);
out:
	free(all);
	free(names);
	free(zeros);
	return rc;
}

enum fedc_err initial__params(const struct experiment *exp, const char *out_path, uint8_t *roles, size_t *n_roles)
{
	struct fedc_arg args[FEDC_MAX_ARGS];
	struct fedc_args model_args = { args, exp->n_model_args };
	const struct fedc_plan *plan;
	const struct fedc_tensor *tensors = NULL;
	size_t count = 0;
	void *handle, *model = NULL;
	char said[FEDC_PLAN_ERROR_LEN];
	enum fedc_err rc = FEDC_OK;

	handle = dlopen(exp->plan_path, RTLD_NOW | RTLD_LOCAL);
	if (!handle)
		return fedc_fail(FEDC_ERR_PLAN, "cannot load plan %s: %s", exp->plan_path, dlerror());
	plan = dlsym(handle, FEDC_PLAN_SYMBOL);
	if (fedc_plan_abi_check(plan, "researcher") != FEDC_OK) {
		rc = fedc_fail(FEDC_ERR_PLAN, "%s: %s", exp->plan_path, fedc_last_error());
		goto out;
	}
	if (!plan->create || !plan->get_params || !plan->destroy) {
		rc = fedc_fail(FEDC_ERR_PLAN, "%s: not a fedc plan of ABI %u (symbol \"%s\")", exp->plan_path,
			       FEDC_PLAN_ABI_VERSION, FEDC_PLAN_SYMBOL);
		goto out;
	}
	for (uint32_t i = 0; i < exp->n_model_args; i++)
		args[i] = (struct fedc_arg){ exp->model_args[i].name, exp->model_args[i].value };
	if (plan->create(&model_args, exp->seed, &model) != 0 || !model) {
		fedc_plan_said(plan, said, sizeof(said));
		rc = fedc_fail(FEDC_ERR_PLAN, "the plan's create() refused the [model] arguments of %s%s%s", exp->path,
			       said[0] ? ": " : "", said);
		goto out;
	}
	if (plan->get_params(model, &tensors, &count) != 0) {
		rc = fedc_fail(FEDC_ERR_PLAN, "the plan's get_params() failed");
		goto out;
	}
	*n_roles = 0;
	if (count > FEDC_MAX_TENSORS) {
		rc = fedc_fail(FEDC_ERR_TOO_BIG, "the plan's model has %zu tensors, more than the %d of a parameter "
			       "file", count, FEDC_MAX_TENSORS);
		goto out;
	}
	rc = fedc_plan_roles(plan, model, roles, count);
	if (rc)
		goto out;
	*n_roles = count;
	rc = strcmp(exp->aggregator, "scaffold") == 0 ? write_with_zero_variate(out_path, tensors, count)
						       : fedc_params_write_file(out_path, tensors, count);
out:
	if (model)
		plan->destroy(model);
	dlclose(handle);
	return rc;
}
