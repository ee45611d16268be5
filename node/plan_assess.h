/* Assessments of the received model inside the plan process (plan_runner.c),
 * after the plan loaded the parameters and prepared the data. What they
 * write into the round's memfd is read by the node (assess.h), which treats
 * it as untrusted: plan code ran in this process.
 *
 *   predict  the plan's predict() (ABI 4) on every row of the dataset; the
 *            memfd gets PLAN_ASSESS_MAGIC, u64 rows, u32 width, u32
 *            n_classes, then per row the label and `width` outputs, all
 *            float32, little-endian.
 *   explain  permutation importance with evaluate() (any ABI) on the test
 *            rows: text lines `base VALUE`, then `feature K IMPORTANCE NAME`
 *            for each feature K, importance = how much the metric worsens
 *            when column K is shuffled across the rows, averaged over
 *            `repeats` seeded shuffles.
 *   robust   FGSM and PGD on the test rows (plan_robust.h): text lines
 *            `mean robust.clean.M V`, `mean robust.A.EPS.M V`. */
#ifndef FEDC_NODE_PLAN_ASSESS_H
#define FEDC_NODE_PLAN_ASSESS_H

#include <stdbool.h>
#include <stdint.h>

#include "fedc/plan.h"

#define PLAN_ASSESS_MAGIC "fedcprd1" /* 8 bytes */
#define PLAN_ASSESS_MAX_FEATURES 512 /* explain: more features (images) are refused */
#define PLAN_ASSESS_MAX_REPEATS 100

struct plan_assess_args {
	char kind[16];       /* "predict", "explain" or "robust" */
	uint32_t repeats;    /* explain */
	char metric[FEDC_PLAN_METRIC_NAME_LEN]; /* explain: what evaluate() reports */
	uint64_t seed;       /* explain: seeds the shuffles */
	const char *args;    /* robust: its key = value lines (NULL: the defaults); borrowed */
};

/* Runs the assessment on `data` (the whole dataset for predict, the test
 * rows for explain and robust), writing to `out_fd`. 0 on success; otherwise `why`
 * says what failed and *final whether the same request would fail again
 * (a plan without predict or input_gradient, data the assessment does not
 * take, arguments refused). */
int plan_assess__run(const struct plan_assess_args *a, const struct fedc_plan *plan, void *model,
		     struct fedc_data *data, int out_fd, char *why, size_t cap, bool *final);

#endif
