/* keep_best (see best.h). */
#include "best.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breakpoint.h"
#include "fedc/fs.h"

bool best__minimised(const char *metric)
{
	static const char *const lower[] = { "mse", "mae", "rmse" };
	size_t n = strlen(metric);

	if (n >= 4 && strcmp(metric + n - 4, "loss") == 0)
		return true;
	for (size_t i = 0; i < sizeof(lower) / sizeof(lower[0]); i++) {
		if (strcmp(metric, lower[i]) == 0)
			return true;
	}
	return false;
}

bool best__improves(const char *metric, double value, const struct best_model *current)
{
	if (!isfinite(value))
		return false;
	if (!current->have)
		return true;
	return best__minimised(metric) ? value < current->value : value > current->value;
}

enum fedc_err best__install(const char *output_dir, uint32_t round)
{
	struct breakpoint *bp = calloc(1, sizeof(*bp));
	char dir[BREAKPOINT_PATH_MAX], src[BREAKPOINT_PATH_MAX + 32], dst[BREAKPOINT_PATH_MAX + 32];
	enum fedc_err rc = bp ? FEDC_OK : FEDC_ERR_NOMEM;

	if (!rc)
		rc = breakpoint__load(output_dir, round, bp, dir, sizeof(dir)); /* checks the file's digest */
	if (!rc && ((size_t)snprintf(src, sizeof(src), "%s/global.params", dir) >= sizeof(src) ||
		    (size_t)snprintf(dst, sizeof(dst), "%s/" BEST_FILE, output_dir) >= sizeof(dst)))
		rc = fedc_fail(FEDC_ERR_INVAL, "output directory path too long: %s", output_dir);
	if (!rc)
		rc = fedc_copy_atomic(src, dst, 0644);
	free(bp);
	if (rc)
		return fedc_fail(rc, "keep_best: cannot keep the model after round %u as %s/" BEST_FILE ": %s", round,
				 output_dir, fedc_last_error());
	return FEDC_OK;
}
