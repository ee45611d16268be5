/* The reference tables of the config files in docs/ are generated from the
 * tables the loaders use: the text between a doc's GENERATED CONFIG markers
 * must equal what the loader's write_markdown function writes.
 *
 * With FEDC_REGENERATE_DOCS=1 in the environment the test rewrites those
 * sections in place instead of failing (this is the generator):
 *   FEDC_REGENERATE_DOCS=1 ctest --test-dir <build> -R config_doc */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "doc_section.h"
#include "experiment.h"
#include "node_config.h"
#include "server_config.h"

#define HINT "FEDC_REGENERATE_DOCS=1 ctest --test-dir <build dir> -R config_doc"

static void check(const char *doc, const char *name, enum fedc_err (*write)(FILE *))
{
	char begin[128], end[128], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(write(f), FEDC_OK);
	assert_int_equal(fclose(f), 0);
	snprintf(begin, sizeof(begin), "<!-- BEGIN GENERATED CONFIG %s -->\n", name);
	snprintf(end, sizeof(end), "<!-- END GENERATED CONFIG %s -->", name);
	doc_section_check(doc, begin, end, text, len, HINT);
	free(text);
}

static void test_node_admin_doc_matches_table(void **state)
{
	(void)state;
	check(FEDC_SOURCE_DIR "/docs/node-admin.md", "node", node_config__write_markdown);
}

static void test_repository_doc_matches_table(void **state)
{
	(void)state;
	check(FEDC_SOURCE_DIR "/docs/repository.md", "repository", server_config__write_markdown);
}

static enum fedc_err write_experiment(FILE *to)
{
	return experiment__write_markdown(to, "experiment");
}

static enum fedc_err write_training(FILE *to)
{
	return experiment__write_markdown(to, "training");
}

static enum fedc_err write_network(FILE *to)
{
	return experiment__write_markdown(to, "network");
}

static void test_researcher_guide_matches_tables(void **state)
{
	(void)state;
	check(FEDC_SOURCE_DIR "/docs/researcher-guide.md", "experiment", write_experiment);
	check(FEDC_SOURCE_DIR "/docs/researcher-guide.md", "training", write_training);
	check(FEDC_SOURCE_DIR "/docs/researcher-guide.md", "network", write_network);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_admin_doc_matches_table),
		cmocka_unit_test(test_repository_doc_matches_table),
		cmocka_unit_test(test_researcher_guide_matches_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
