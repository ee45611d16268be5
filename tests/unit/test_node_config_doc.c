/* docs/node-admin.md's reference table of node.ini is the node loader's
 * table (config_doc.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "config_doc.h"
#include "node_config.h"

static void test_node_admin_doc_matches_table(void **state)
{
	(void)state;
	check(FEDC_SOURCE_DIR "/docs/node-admin.md", "node", node_config__write_markdown);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_admin_doc_matches_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
