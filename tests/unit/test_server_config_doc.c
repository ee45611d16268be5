/* docs/repository.md's reference table of repository.ini is the
 * repository loader's table (config_doc.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "config_doc.h"
#include "server_config.h"

static void test_repository_doc_matches_table(void **state)
{
	(void)state;
	check(FEDC_SOURCE_DIR "/docs/repository.md", "repository", server_config__write_markdown);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repository_doc_matches_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
