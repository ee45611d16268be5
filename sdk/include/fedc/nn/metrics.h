/* Metrics clinicians read: AUC, F1, sensitivity, specificity, Dice.
 *
 * Classification figures come from a confusion matrix, filled one
 * (truth, prediction) pair at a time, so that an evaluation over many
 * batches (or many voxels) needs no storage beyond k x k counts. AUC needs
 * every score: it sorts them. */
#ifndef FEDC_NN_METRICS_H
#define FEDC_NN_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Area under the ROC curve of `score` for binary labels (label >= 0.5 is
 * positive), exact: the Mann-Whitney statistic from ranks by sorting, tied
 * scores sharing their mean rank (so a tie counts one half). *auc is NaN
 * when one class is absent. Returns 0, FEDC_NN_ERR_INVAL (n == 0 or a NULL
 * or NaN input) or FEDC_NN_ERR_NOMEM (it sorts a copy). */
int fedc_auc(const float *score, const float *label, size_t n, double *auc);

struct fedc_confusion {
	size_t k;         /* classes */
	uint64_t *counts; /* [k * k]: counts[truth * k + predicted] */
};

/* k >= 2. Returns 0, FEDC_NN_ERR_INVAL or FEDC_NN_ERR_NOMEM. */
int fedc_confusion_init(struct fedc_confusion *c, size_t k);
void fedc_confusion_release(struct fedc_confusion *c);
void fedc_confusion_clear(struct fedc_confusion *c);
/* Counts one pair; a class index >= k is ignored. */
void fedc_confusion_add(struct fedc_confusion *c, size_t truth, size_t predicted);

/* One class against the rest. A figure whose denominator is zero is NaN:
 * sensitivity (recall) TP / (TP + FN) of a class with no true samples,
 * specificity TN / (TN + FP), precision TP / (TP + FP), and
 * F1 = 2 TP / (2 TP + FP + FN) of a class neither present nor predicted
 * (a class predicted but absent has F1 0). */
struct fedc_class_scores {
	double sensitivity, specificity, precision, f1;
};
void fedc_confusion_class(const struct fedc_confusion *c, size_t cls, struct fedc_class_scores *s);
/* k == 2: class 1's figures (class 1 is "positive"). k > 2: the macro mean
 * of each figure over the classes, skipping the NaN ones (a class that a
 * node's data lacks does not count as a failure); NaN if all are. */
void fedc_confusion_summary(const struct fedc_confusion *c, struct fedc_class_scores *s);
/* Dice score of segmentation, voxel counts in c: 2 |P n G| / (|P| + |G|)
 * per foreground class 1..k-1 (class 0 is the background), macro mean over
 * the classes present in truth or prediction; NaN if none is. */
double fedc_confusion_dice(const struct fedc_confusion *c);

#endif
