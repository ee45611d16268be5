/* docs/researcher-guide.md's reference tables of the experiment file are
 * the experiment loader's tables (config_doc.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "config_doc.h"
#include "experiment.h"

static enum fedc_err write_experiment(FILE *to)
{
	return experiment__write_markdown(to, "experiment");
}

static enum fedc_err write_training(FILE *to)
{
	return experiment__write_markdown(to, "training");
}

static enum fedc_err write_privacy(FILE *to)
{
	return experiment__write_markdown(to, "privacy");
}

static enum fedc_err write_nodes(FILE *to)
{
	return experiment__write_markdown(to, "nodes");
}

static enum fedc_err write_network(FILE *to)
{
	return experiment__write_markdown(to, "network");
}

static enum fedc_err write_robustness(FILE *to)
{
	return experiment__write_markdown(to, "robustness");
}

static void test_researcher_guide_matches_tables(void **state)
{
	(void)state;
	check(FEDC_SOURCE_DIR "/docs/researcher-guide.md", "experiment", write_experiment);
	check(FEDC_SOURCE_DIR "/docs/researcher-guide.md", "training", write_training);
	check(FEDC_SOURCE_DIR "/docs/researcher-guide.md", "privacy", write_privacy);
	check(FEDC_SOURCE_DIR "/docs/researcher-guide.md", "nodes", write_nodes);
	check(FEDC_SOURCE_DIR "/docs/researcher-guide.md", "network", write_network);
	check(FEDC_SOURCE_DIR "/docs/researcher-guide.md", "robustness", write_robustness);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_researcher_guide_matches_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
