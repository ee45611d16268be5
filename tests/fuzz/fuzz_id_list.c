/* Fuzz target: fedc-admin add-nodes' list of ids (admin/id_list.h), a file
 * an operator writes.
 *
 * Input: the file's text (a NUL byte ends it, as when it is read).
 * Properties: it is accepted, or refused with FEDC_ERR_INVAL or
 * FEDC_ERR_TOO_BIG and a detail; every accepted id passes fedc_id_valid
 * and lies inside the text; an accepted list is not empty. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fedc/id.h"
#include "id_list.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	const char **ids = NULL;
	size_t n = 0;
	enum fedc_err rc;

	fuzz_require(text != NULL, "the input is copied");
	memcpy(text, data, size);
	text[size] = '\0';
	fedc_clear_error();
	rc = admin__id_list_parse(text, "ids", &ids, &n);
	if (rc) {
		fuzz_require(rc == FEDC_ERR_INVAL || rc == FEDC_ERR_TOO_BIG, "a refusal is INVAL or TOO_BIG");
		fuzz_require(fedc_last_error()[0] != '\0', "a refusal says why");
		fuzz_require(ids == NULL && n == 0, "a refusal hands back nothing");
	} else {
		fuzz_require(n > 0 && n <= ADMIN_ID_LIST_MAX, "1 to ADMIN_ID_LIST_MAX ids");
		for (size_t i = 0; i < n; i++) {
			fuzz_require(ids[i] >= text && ids[i] < text + size, "an id lies in the text");
			fuzz_require(fedc_id_valid(ids[i]), "every id is valid");
		}
	}
	free(ids);
	free(text);
	return 0;
}
