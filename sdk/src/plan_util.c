/* Model arguments and metrics for a plan's entry points. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fedc/nn/err.h"
#include "fedc/nn/plan_util.h"

/* fedc_plan_error() and fedc_plan_last_error() (fedc/plan.h), once for
 * every plan on the SDK. */
FEDC_PLAN_ERRORS;

/* The value of `name`: 1 found once, 0 absent, INVAL if given twice. */
static int find(const struct fedc_args *args, const char *name, double *value)
{
	int found = 0;

	for (size_t i = 0; args && args->items && i < args->count; i++) {
		if (!args->items[i].name || strcmp(args->items[i].name, name) != 0)
			continue;
		if (found) {
			fedc_plan_error("[model] %s is given twice", name);
			return FEDC_NN_ERR_INVAL;
		}
		*value = args->items[i].value;
		found = 1;
	}
	return found;
}

int fedc_arg_double(const struct fedc_args *args, const char *name, double lo, double hi, double *out)
{
	double v = 0.0;
	int rc = find(args, name, &v);

	if (rc != 1)
		return rc;
	if (!isfinite(v) || v < lo || v > hi) {
		fedc_plan_error("[model] %s = %.17g: must be from %.17g to %.17g", name, v, lo, hi);
		return FEDC_NN_ERR_INVAL;
	}
	*out = v;
	return 1;
}

int fedc_arg_uint(const struct fedc_args *args, const char *name, uint32_t lo, uint32_t hi, uint32_t *out)
{
	double v = 0.0;
	int rc = fedc_arg_double(args, name, lo, hi, &v);

	if (rc != 1)
		return rc;
	if (v != floor(v)) {
		fedc_plan_error("[model] %s = %.17g: must be a whole number from %u to %u", name, v, lo, hi);
		return FEDC_NN_ERR_INVAL;
	}
	*out = (uint32_t)v;
	return 1;
}

/* `unknown [model] key "hiden" (this plan takes n_features, hidden, ...)`. */
static void unknown_key(const char *name, const char *const *known)
{
	char list[160];
	size_t used = 0;

	list[0] = '\0';
	for (size_t k = 0; known[k] && used < sizeof(list); k++) {
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", k ? ", " : "", known[k]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
	fedc_plan_error("unknown [model] key \"%.64s\" (this plan takes %s)", name ? name : "(none)", list);
}

int fedc_args_check(const struct fedc_args *args, const char *const *known)
{
	if (!args || args->count == 0)
		return FEDC_NN_OK;
	if (!args->items)
		return FEDC_NN_ERR_INVAL;
	for (size_t i = 0; i < args->count; i++) {
		const char *name = args->items[i].name;
		size_t k = 0;

		while (name && known[k] && strcmp(known[k], name) != 0)
			k++;
		if (!name || !known[k]) {
			unknown_key(name, known);
			return FEDC_NN_ERR_INVAL;
		}
	}
	return FEDC_NN_OK;
}

void fedc_metrics_put(struct fedc_metrics *m, const char *name, double value)
{
	size_t i = 0;

	while (i < m->count && strcmp(m->items[i].name, name) != 0)
		i++;
	if (i == FEDC_PLAN_MAX_METRICS)
		return;
	if (i == m->count) {
		memset(m->items[i].name, 0, sizeof(m->items[i].name));
		strncpy(m->items[i].name, name, sizeof(m->items[i].name) - 1);
		m->count++;
	}
	m->items[i].value = value;
}

double fedc_metrics_get(const struct fedc_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->count; i++) {
		if (strcmp(m->items[i].name, name) == 0)
			return m->items[i].value;
	}
	return NAN;
}
