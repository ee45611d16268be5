/* The first global parameters of an experiment: the researcher loads its own
 * plan, builds the model from the [model] arguments and the experiment seed,
 * and writes its parameters. */
#ifndef FEDC_RESEARCHER_INITIAL_PARAMS_H
#define FEDC_RESEARCHER_INITIAL_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "experiment.h"

/* Also writes the role of each model tensor (fedc_plan_roles: all weights
 * for a plan without param_roles) to roles[0..*n_roles-1]; `roles` has room
 * for FEDC_MAX_TENSORS. FEDC_ERR_PLAN (cannot load, wrong ABI, create,
 * get_params or param_roles failed) with a detail, FEDC_ERR_TOO_BIG (more
 * tensors than a parameter file holds), FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err initial__params(const struct experiment *exp, const char *out_path, uint8_t *roles, size_t *n_roles);

#endif
