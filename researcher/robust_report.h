/* The robustness stage's combined results as a table and an SVG plot of a
 * metric (accuracy) against epsilon, one curve per attack. The values come
 * from the nodes' `mean robust.*` result lines, combined (weighted by their
 * test rows) before they reach here; docs/researcher-guide.md, "Robustness
 * under attack", says what they mean. */
#ifndef FEDC_RESEARCHER_ROBUST_REPORT_H
#define FEDC_RESEARCHER_ROBUST_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "fedc/err.h"

#define ROBUST_REPORT_MAX_ENTRIES 2048 /* 2 attacks x 16 epsilons x 16 metrics, with room */
#define ROBUST_REPORT_ATTACK_LEN 16
#define ROBUST_REPORT_METRIC_LEN 64

/* One value: `attack` "clean" (eps 0) or an attack's name, its epsilon,
 * the plan's metric name. */
struct robust_entry {
	char attack[ROBUST_REPORT_ATTACK_LEN];
	double eps;
	char metric[ROBUST_REPORT_METRIC_LEN];
	double value;
};

struct robust_report {
	struct robust_entry *items; /* owned; robust_report__free() */
	size_t n, cap;
};

#define ROBUST_REPORT_INIT { NULL, 0, 0 }

/* Adds the value of result `name`: "robust.clean.<metric>" or
 * "robust.<attack>.<eps>.<metric>". A name outside "robust." is not ours:
 * FEDC_OK and *taken (may be NULL) false. FEDC_ERR_MALFORMED (a robust.
 * name that does not parse, a value not finite, the same entry twice: the
 * detail names it), FEDC_ERR_TOO_BIG (over ROBUST_REPORT_MAX_ENTRIES),
 * FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err robust_report__add(struct robust_report *r, const char *name, double value, bool *taken);

/* One row per attack and epsilon (clean first, then attacks by name,
 * epsilons ascending), one column per metric in the order first met:
 *   attack  epsilon  loss       accuracy
 *   clean   0        0.0965     0.9737
 *   fgsm    0.1      0.2001     0.9211
 * "-" where a node sent no such value. */
void robust_report__print_table(const struct robust_report *r, FILE *out);

/* Writes an SVG of `metric` (e.g. "accuracy") against epsilon, one curve
 * per attack, each starting from the clean value at epsilon 0, and the
 * clean value as a dashed line; atomically, to `path`. FEDC_ERR_NOT_FOUND
 * (no attack value of that metric), FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err robust_report__write_svg(const struct robust_report *r, const char *metric, const char *path);

void robust_report__free(struct robust_report *r);

#endif
