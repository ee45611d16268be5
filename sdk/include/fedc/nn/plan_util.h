/* Small helpers for a plan's entry points: model arguments and metrics. */
#ifndef FEDC_NN_PLAN_UTIL_H
#define FEDC_NN_PLAN_UTIL_H

#include <stdint.h>

#include "fedc/plan.h"

/* Reads model argument `name` as an integer in [lo, hi]. Returns 1 if read,
 * 0 if absent (*out untouched), FEDC_NN_ERR_INVAL if out of range, not
 * integral or given twice. Each refusal also records why with
 * fedc_plan_error() (fedc/plan.h), which the node and the researcher show
 * when the plan's `.last_error = fedc_plan_last_error`. */
int fedc_arg_uint(const struct fedc_args *args, const char *name, uint32_t lo, uint32_t hi, uint32_t *out);
/* Same for a finite real in [lo, hi]. */
int fedc_arg_double(const struct fedc_args *args, const char *name, double lo, double hi, double *out);
/* 0 if every argument's name is in the NULL-terminated `known`, else
 * FEDC_NN_ERR_INVAL: a typo ("hiden") fails loudly instead of being ignored,
 * and fedc_plan_error() says `unknown [model] key "hiden" (this plan takes
 * ...)`. */
int fedc_args_check(const struct fedc_args *args, const char *const *known);

/* Sets metric `name` (replacing one of the same name); drops it silently if
 * the table is full. */
void fedc_metrics_put(struct fedc_metrics *m, const char *name, double value);
/* The value of metric `name`, or NaN. */
double fedc_metrics_get(const struct fedc_metrics *m, const char *name);

#endif
