/* Fuzz target: the node's parser of the robustness stage's arguments
 * (fedc/robust_args.h), key = value text a researcher sends.
 *
 * Input: the text (a NUL byte ends it, as in a message's string).
 * Properties: it is accepted, or refused with FEDC_ERR_INVAL and a detail;
 * accepted arguments are within every documented bound. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fedc/robust_args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct fedc_robust_args a;
	enum fedc_err rc;

	fuzz_require(text != NULL, "the input is copied");
	memcpy(text, data, size);
	text[size] = '\0';
	fedc_clear_error();
	rc = fedc_robust_args_parse(text, &a);
	free(text);
	if (rc) {
		fuzz_require(rc == FEDC_ERR_INVAL, "a refusal is FEDC_ERR_INVAL");
		fuzz_require(fedc_last_error()[0] != '\0', "a refusal says why");
		return 0;
	}
	fuzz_require(a.attack[FEDC_ROBUST_FGSM] || a.attack[FEDC_ROBUST_PGD], "at least one attack");
	fuzz_require(a.n_epsilons >= 1 && a.n_epsilons <= FEDC_ROBUST_MAX_EPSILONS, "1 to 16 epsilons");
	for (size_t i = 0; i < a.n_epsilons; i++)
		fuzz_require(a.epsilons[i] >= 0.0 && a.epsilons[i] <= FEDC_ROBUST_MAX_EPSILON, "epsilon in range");
	fuzz_require(a.pgd_steps >= 1 && a.pgd_steps <= FEDC_ROBUST_MAX_STEPS, "steps in range");
	fuzz_require(a.pgd_step_size == 0.0 || (a.pgd_step_size > 0.0 && isfinite(a.pgd_step_size)),
		     "a step size above 0");
	fuzz_require(!a.has_clip_min || isfinite(a.clip_min), "a finite clip_min");
	fuzz_require(!a.has_clip_max || isfinite(a.clip_max), "a finite clip_max");
	fuzz_require(!(a.has_clip_min && a.has_clip_max) || a.clip_min < a.clip_max, "clip_min below clip_max");
	return 0;
}
