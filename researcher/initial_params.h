/* The first global parameters of an experiment: the researcher loads its own
 * plan, builds the model from the [model] arguments and the experiment seed,
 * and writes its parameters. */
#ifndef FEDC_RESEARCHER_INITIAL_PARAMS_H
#define FEDC_RESEARCHER_INITIAL_PARAMS_H

#include "experiment.h"

/* FEDC_ERR_PLAN (cannot load, wrong ABI, create or get_params failed) with a
 * detail, FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err initial__params(const struct experiment *exp, const char *out_path);

#endif
