/* Plan SDK: AUC, F1, sensitivity, specificity and Dice against values
 * worked out by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "fedc/nn.h"

/* |got - want| <= tol in double (cmocka's assert_float_equal is float). */
#define assert_double_equal(got, want, tol) assert_true(fabs((got) - (want)) <= (tol))

/* Positives {0.35, 0.8, 0.4}, negatives {0.1, 0.4}: of the 6 pairs the
 * positive scores higher in 4, ties in 1 (0.4, 0.4: one half), lower in 1:
 * AUC = 4.5 / 6. */
static void test_auc_with_ties(void **state)
{
	const float score[5] = { 0.1f, 0.4f, 0.35f, 0.8f, 0.4f }, label[5] = { 0, 0, 1, 1, 1 };
	double auc = 0.0;

	assert_int_equal(fedc_auc(score, label, 5, &auc), 0);
	assert_double_equal(auc, 0.75, 1e-12);
}

static void test_auc_all_tied_is_half(void **state)
{
	const float score[4] = { 2, 2, 2, 2 }, label[4] = { 1, 0, 0, 1 };
	double auc = 0.0;

	assert_int_equal(fedc_auc(score, label, 4, &auc), 0);
	assert_double_equal(auc, 0.5, 1e-12);
}

static void test_auc_perfect_and_reversed(void **state)
{
	const float score[4] = { 0.1f, 0.2f, 0.7f, 0.9f }, up[4] = { 0, 0, 1, 1 }, down[4] = { 1, 1, 0, 0 };
	double auc = 0.0;

	assert_int_equal(fedc_auc(score, up, 4, &auc), 0);
	assert_double_equal(auc, 1.0, 1e-12);
	assert_int_equal(fedc_auc(score, down, 4, &auc), 0);
	assert_double_equal(auc, 0.0, 1e-12);
}

static void test_auc_one_class_is_nan(void **state)
{
	const float score[3] = { 0.1f, 0.2f, 0.3f }, label[3] = { 1, 1, 1 }, nan_score[2] = { NAN, 1 };
	double auc = 0.0;

	assert_int_equal(fedc_auc(score, label, 3, &auc), 0);
	assert_true(isnan(auc));
	assert_int_equal(fedc_auc(nan_score, label, 2, &auc), FEDC_NN_ERR_INVAL);
	assert_int_equal(fedc_auc(score, label, 0, &auc), FEDC_NN_ERR_INVAL);
}

static void add_pairs(struct fedc_confusion *c, const size_t (*pairs)[2], size_t n)
{
	for (size_t i = 0; i < n; i++)
		fedc_confusion_add(c, pairs[i][0], pairs[i][1]);
}

/* (truth, predicted): class 2 is neither present nor predicted.
 * class 0: TP 2, FP 1, FN 1 -> F1 4/6, sensitivity 2/3, specificity 1/2
 * class 1: TP 1, FP 1, FN 1 -> F1 2/4, sensitivity 1/2, specificity 2/3
 * class 2: F1 and sensitivity undefined (skipped), specificity 5/5. */
static void test_macro_f1_with_empty_class(void **state)
{
	const size_t pairs[][2] = { { 0, 0 }, { 0, 0 }, { 1, 1 }, { 1, 0 }, { 0, 1 } };
	struct fedc_confusion c;
	struct fedc_class_scores s;

	assert_int_equal(fedc_confusion_init(&c, 3), 0);
	add_pairs(&c, pairs, 5);
	fedc_confusion_class(&c, 2, &s);
	assert_true(isnan(s.f1));
	assert_true(isnan(s.sensitivity));
	assert_double_equal(s.specificity, 1.0, 1e-12);
	fedc_confusion_summary(&c, &s);
	assert_double_equal(s.f1, (4.0 / 6.0 + 0.5) / 2.0, 1e-12);
	assert_double_equal(s.sensitivity, (2.0 / 3.0 + 0.5) / 2.0, 1e-12);
	assert_double_equal(s.specificity, (0.5 + 2.0 / 3.0 + 1.0) / 3.0, 1e-12);
	/* predicted once but never true: F1 0, and it counts */
	fedc_confusion_add(&c, 0, 2);
	fedc_confusion_class(&c, 2, &s);
	assert_double_equal(s.f1, 0.0, 1e-12);
	fedc_confusion_add(&c, 7, 0); /* out of range: ignored */
	fedc_confusion_release(&c);
}

/* Binary: class 1 is positive. TP 3, FN 1, FP 2, TN 4. */
static void test_binary_scores(void **state)
{
	struct fedc_confusion c;
	struct fedc_class_scores s;

	assert_int_equal(fedc_confusion_init(&c, 2), 0);
	for (int i = 0; i < 3; i++)
		fedc_confusion_add(&c, 1, 1);
	fedc_confusion_add(&c, 1, 0);
	fedc_confusion_add(&c, 0, 1), fedc_confusion_add(&c, 0, 1);
	for (int i = 0; i < 4; i++)
		fedc_confusion_add(&c, 0, 0);
	fedc_confusion_summary(&c, &s);
	assert_double_equal(s.sensitivity, 0.75, 1e-12);
	assert_double_equal(s.specificity, 4.0 / 6.0, 1e-12);
	assert_double_equal(s.precision, 0.6, 1e-12);
	assert_double_equal(s.f1, 6.0 / 9.0, 1e-12);
	fedc_confusion_clear(&c);
	fedc_confusion_summary(&c, &s);
	assert_true(isnan(s.f1));
	fedc_confusion_release(&c);
	assert_int_equal(fedc_confusion_init(&c, 1), FEDC_NN_ERR_INVAL);
}

/* Voxels of 3 classes, class 0 background. Class 1: |P n G| 2, |P| 3,
 * |G| 3 -> 4/6; class 2: |P n G| 1, |P| 1, |G| 2 -> 2/3; mean 2/3. */
static void test_dice_score(void **state)
{
	const size_t pairs[][2] = { { 1, 1 }, { 1, 1 }, { 1, 0 }, { 0, 1 }, { 2, 2 }, { 2, 0 }, { 0, 0 } };
	struct fedc_confusion c;

	assert_int_equal(fedc_confusion_init(&c, 3), 0);
	add_pairs(&c, pairs, 7);
	assert_double_equal(fedc_confusion_dice(&c), (4.0 / 6.0 + 2.0 / 3.0) / 2.0, 1e-12);
	fedc_confusion_clear(&c);
	fedc_confusion_add(&c, 0, 0); /* background only: no Dice */
	assert_true(isnan(fedc_confusion_dice(&c)));
	fedc_confusion_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auc_with_ties),
		cmocka_unit_test(test_auc_all_tied_is_half),
		cmocka_unit_test(test_auc_perfect_and_reversed),
		cmocka_unit_test(test_auc_one_class_is_nan),
		cmocka_unit_test(test_macro_f1_with_empty_class),
		cmocka_unit_test(test_binary_scores),
		cmocka_unit_test(test_dice_score),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
