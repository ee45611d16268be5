/* The reference tables of the config files in docs/ are generated from the
 * tables the loaders use: the text between a doc's GENERATED CONFIG markers
 * must equal what the loader's write_markdown function writes. One test per
 * part (test_node_config_doc, test_experiment_config_doc,
 * test_server_config_doc), as each links only the part it tests.
 *
 * With FEDC_REGENERATE_DOCS=1 in the environment the tests rewrite those
 * sections in place instead of failing (this is the generator):
 *   FEDC_REGENERATE_DOCS=1 ctest --test-dir <build> -R config_doc
 * Header-only: include it once per test file, after cmocka.h. */
#ifndef FEDC_TEST_CONFIG_DOC_H
#define FEDC_TEST_CONFIG_DOC_H

#include <stdio.h>
#include <stdlib.h>

#include "doc_section.h"
#include "fedc/err.h"

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

#endif
