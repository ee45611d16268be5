/* docs/protocol.md must document the schema that the code enforces: the text
 * between its GENERATED SCHEMA markers must equal what
 * fedc_msg_schema_markdown() writes from the table in common/src/message.c.
 *
 * With FEDC_REGENERATE_DOCS=1 in the environment the test rewrites that
 * section in place (atomically) instead of failing:
 *   FEDC_REGENERATE_DOCS=1 ctest --test-dir <build> -R protocol_doc */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "doc_section.h"
#include "fedc/message.h"

#define DOC_PATH FEDC_SOURCE_DIR "/docs/protocol.md"
#define BEGIN_MARK "<!-- BEGIN GENERATED SCHEMA -->\n"
#define END_MARK "<!-- END GENERATED SCHEMA -->"

static void test_protocol_doc_matches_schema(void **state)
{
	char *generated = NULL;
	size_t gen_len = 0;
	FILE *f = open_memstream(&generated, &gen_len);

	(void)state;
	assert_non_null(f);
	assert_int_equal(fedc_msg_schema_markdown(f), FEDC_OK);
	assert_int_equal(fclose(f), 0);
	doc_section_check(DOC_PATH, BEGIN_MARK, END_MARK, generated, gen_len,
			  "FEDC_REGENERATE_DOCS=1 ctest --test-dir <build dir> -R protocol_doc");
	free(generated);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocol_doc_matches_schema),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
