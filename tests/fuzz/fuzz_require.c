/* Fuzz target: the parser of an experiment's [nodes] require
 * (researcher/require.h), text a user writes, and the matching of what it
 * parsed against a node's capabilities.
 *
 * Input: the text (NUL bytes end it, as in a config value). Properties: it
 * is accepted, or refused with FEDC_ERR_CONFIG and a detail; an accepted
 * text has at most REQUIRE_MAX_TERMS terms, each naming a known capability;
 * written back and parsed again it gives the same terms (the format is
 * stable); matching it against a node says why whenever the node fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/caps.h"
#include "fuzz.h"
#include "require.h"

static bool known(const char *name)
{
	for (size_t i = 0; require__names[i]; i++) {
		if (strcmp(require__names[i], name) == 0)
			return true;
	}
	return false;
}

static void check_match(const struct require *r)
{
	struct fedc_msg *node = fedc_msg_new(FEDC_CMD_SEARCH_REPLY);
	char why[512];

	fuzz_require(node != NULL, "a message is allocated");
	fuzz_require(fedc_msg_datasets_alloc(node, 1) == FEDC_OK, "a dataset is allocated");
	snprintf(node->datasets[0].type, sizeof(node->datasets[0].type), "images");
	fuzz_require(fedc_msg_kv_add(node->capabilities, &node->n_capabilities, FEDC_MAX_CAPS, FEDC_CAP_CORES, 4) ==
			     FEDC_OK,
		     "a capability is added");
	fedc_msg_set(node, FEDC_F_CAPABILITIES);
	if (!require__met(r, node, why, sizeof(why)))
		fuzz_require(why[0] != '\0', "a node left out is told why");
	fedc_msg_free(node);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), again[REQUIRE_MAX_TEXT * 4];
	struct require r, r2;

	fuzz_require(text != NULL, "the input is copied");
	memcpy(text, data, size);
	text[size] = '\0';
	if (require__parse(text, &r) != FEDC_OK) {
		fuzz_require(fedc_last_error()[0] != '\0', "a refusal says why");
		fuzz_require(r.n_terms == 0, "a refused text leaves no terms");
		free(text);
		return 0;
	}
	fuzz_require(r.n_terms <= REQUIRE_MAX_TERMS, "at most REQUIRE_MAX_TERMS terms");
	for (size_t i = 0; i < r.n_terms; i++)
		fuzz_require(known(r.terms[i].name), "every term names a known capability");
	require__format(&r, again, sizeof(again));
	if (strlen(again) <= REQUIRE_MAX_TEXT) {
		fuzz_require(require__parse(again, &r2) == FEDC_OK, "the written-back text parses");
		fuzz_require(r2.n_terms == r.n_terms, "the written-back text has the same terms");
		for (size_t i = 0; i < r.n_terms; i++)
			fuzz_require(strcmp(r.terms[i].name, r2.terms[i].name) == 0 && r.terms[i].op == r2.terms[i].op &&
					     strcmp(r.terms[i].kind, r2.terms[i].kind) == 0,
				     "the written-back terms are the same");
	}
	check_match(&r);
	free(text);
	return 0;
}
