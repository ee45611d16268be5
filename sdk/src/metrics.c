/* AUC by ranks, and the confusion-matrix figures. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/nn/err.h"
#include "fedc/nn/metrics.h"

struct scored {
	float score;
	bool positive;
};

static int by_score(const void *a, const void *b)
{
	float x = ((const struct scored *)a)->score, y = ((const struct scored *)b)->score;

	return (x > y) - (x < y);
}

/* Mann-Whitney: AUC = (R+ - P (P + 1) / 2) / (P N), R+ the sum of the
 * positives' ranks (from 1), a run of tied scores sharing its mean rank. */
int fedc_auc(const float *score, const float *label, size_t n, double *auc)
{
	struct scored *s;
	double rank_sum = 0.0, pos = 0.0, neg;

	if (!score || !label || !auc || n == 0)
		return FEDC_NN_ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		if (isnan(score[i]) || isnan(label[i]))
			return FEDC_NN_ERR_INVAL;
	}
	s = malloc(n * sizeof(*s));
	if (!s)
		return FEDC_NN_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		s[i].score = score[i];
		s[i].positive = label[i] >= 0.5f;
		pos += s[i].positive;
	}
	qsort(s, n, sizeof(*s), by_score);
	for (size_t i = 0; i < n;) {
		size_t j = i, tied_pos = 0;

		while (j < n && s[j].score == s[i].score)
			tied_pos += s[j++].positive;
		/* ranks i+1 .. j share (i + 1 + j) / 2 */
		rank_sum += (double)tied_pos * (double)(i + 1 + j) / 2.0;
		i = j;
	}
	free(s);
	neg = (double)n - pos;
	*auc = pos == 0.0 || neg == 0.0 ? NAN : (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg);
	return FEDC_NN_OK;
}

int fedc_confusion_init(struct fedc_confusion *c, size_t k)
{
	memset(c, 0, sizeof(*c));
	if (k < 2 || k > 65536)
		return FEDC_NN_ERR_INVAL;
	c->counts = calloc(k * k, sizeof(*c->counts));
	if (!c->counts)
		return FEDC_NN_ERR_NOMEM;
	c->k = k;
	return FEDC_NN_OK;
}

void fedc_confusion_release(struct fedc_confusion *c)
{
	free(c->counts);
	memset(c, 0, sizeof(*c));
}

void fedc_confusion_clear(struct fedc_confusion *c)
{
	if (c->counts)
		memset(c->counts, 0, c->k * c->k * sizeof(*c->counts));
}

void fedc_confusion_add(struct fedc_confusion *c, size_t truth, size_t predicted)
{
	if (truth < c->k && predicted < c->k)
		c->counts[truth * c->k + predicted]++;
}

static double ratio(double num, double den)
{
	return den > 0.0 ? num / den : NAN;
}

void fedc_confusion_class(const struct fedc_confusion *c, size_t cls, struct fedc_class_scores *s)
{
	double tp = 0.0, fn = 0.0, fp = 0.0, total = 0.0, tn;

	for (size_t t = 0; t < c->k; t++) {
		for (size_t p = 0; p < c->k; p++) {
			double v = (double)c->counts[t * c->k + p];

			total += v;
			tp += t == cls && p == cls ? v : 0.0;
			fn += t == cls && p != cls ? v : 0.0;
			fp += t != cls && p == cls ? v : 0.0;
		}
	}
	tn = total - tp - fn - fp;
	s->sensitivity = ratio(tp, tp + fn);
	s->specificity = ratio(tn, tn + fp);
	s->precision = ratio(tp, tp + fp);
	s->f1 = ratio(2.0 * tp, 2.0 * tp + fp + fn);
}

/* Adds v to *sum and counts it, unless it is NaN. */
static void mean_add(double v, double *sum, size_t *n)
{
	if (!isnan(v)) {
		*sum += v;
		(*n)++;
	}
}

void fedc_confusion_summary(const struct fedc_confusion *c, struct fedc_class_scores *s)
{
	double sum[4] = { 0.0, 0.0, 0.0, 0.0 };
	size_t n[4] = { 0, 0, 0, 0 };

	if (c->k == 2) {
		fedc_confusion_class(c, 1, s);
		return;
	}
	for (size_t cls = 0; cls < c->k; cls++) {
		struct fedc_class_scores one;

		fedc_confusion_class(c, cls, &one);
		mean_add(one.sensitivity, &sum[0], &n[0]);
		mean_add(one.specificity, &sum[1], &n[1]);
		mean_add(one.precision, &sum[2], &n[2]);
		mean_add(one.f1, &sum[3], &n[3]);
	}
	s->sensitivity = ratio(sum[0], (double)n[0]);
	s->specificity = ratio(sum[1], (double)n[1]);
	s->precision = ratio(sum[2], (double)n[2]);
	s->f1 = ratio(sum[3], (double)n[3]);
}

double fedc_confusion_dice(const struct fedc_confusion *c)
{
	double sum = 0.0;
	size_t n = 0;

	for (size_t cls = 1; cls < c->k; cls++) {
		struct fedc_class_scores one;

		fedc_confusion_class(c, cls, &one);
		mean_add(one.f1, &sum, &n); /* Dice of a class is its F1 over voxels */
	}
	return ratio(sum, (double)n);
}
