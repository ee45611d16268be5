/* Fuzz target: the researcher's reader of a node's assessment result (the
 * `assess_result` of a `train-reply` to predict or explain,
 * researcher/assess_result.c), outside bytes from any node.
 *
 * Properties: a refused input names a reason and leaves nothing decoded; an
 * accepted one holds distinct, well-formed names and finite reals; adding it
 * twice to a total doubles every count (saturating) and every sum, and
 * leaves every mean unchanged. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "assess_result.h"
#include "fuzz.h"

static void check_decoded(const struct assess_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct assess_value *v = &r->values[i];

		fuzz_require(v->name[0] && strlen(v->name) <= ASSESS_NAME_MAX, "a name of 1 to 63 bytes");
		fuzz_require(v->kind != ASSESS_TEXT || (v->text && v->text[0]), "a text has its value");
		fuzz_require(v->kind == ASSESS_TEXT || v->kind == ASSESS_COUNT || isfinite(v->value), "finite reals");
		for (size_t j = 0; j < i; j++)
			fuzz_require(strcmp(r->values[j].name, v->name) != 0, "each name once");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct assess_result r, total = { 0 };

	if (assess_result__decode(data, size, &r) != FEDC_OK) {
		fuzz_require(fedc_last_error()[0] != '\0', "a refusal says why");
		assess_result__free(&r);
		return 0;
	}
	check_decoded(&r);
	fuzz_require(assess_result__add(&total, &r, 3) == FEDC_OK, "memory");
	fuzz_require(assess_result__add(&total, &r, 3) == FEDC_OK, "the same result adds again");
	assess_result__finish(&total);
	fuzz_require(total.n == r.n, "the same names");
	for (size_t i = 0; i < r.n; i++) {
		const struct assess_value *v = &r.values[i], *t = assess_result__get(&total, v->name);

		fuzz_require(t && t->kind == v->kind, "each name in the total");
		if (v->kind == ASSESS_COUNT)
			fuzz_require(t->count == (v->count > UINT64_MAX / 2 ? UINT64_MAX : 2 * v->count), "counts add up");
		if (v->kind == ASSESS_SUM)
			fuzz_require(t->value == 2 * v->value || isinf(2 * v->value), "sums add up");
		if (v->kind == ASSESS_MEAN)
			fuzz_require(fabs(t->value - v->value) <= 1e-12 * fabs(v->value) || isinf(v->value * 6),
				     "a mean of equal values");
	}
	assess_result__free(&total);
	assess_result__free(&r);
	return 0;
}
