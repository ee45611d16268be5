/* The researcher's robustness report (researcher/robust_report.c): names
 * parsed and refused, the table's rows and columns, the SVG plot. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "robust_report.h"

struct named {
	const char *name;
	double value;
};

/* What the nodes' combined lines give for the trained logreg. */
static const struct named results[] = {
	{ "robust.clean.loss", 0.0965 },	 { "robust.clean.accuracy", 0.9737 },
	{ "robust.pgd.0.1.loss", 0.2101 },	 { "robust.pgd.0.1.accuracy", 0.9035 },
	{ "robust.fgsm.0.5.loss", 1.662 },	 { "robust.fgsm.0.5.accuracy", 0.4561 },
	{ "robust.fgsm.0.1.loss", 0.2001 },	 { "robust.fgsm.0.1.accuracy", 0.9211 },
	{ "robust.pgd.0.5.accuracy", 0.4035 }, { "robust.fgsm.1e-05.accuracy", 0.9737 },
};

static void fill(struct robust_report *r)
{
	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
		bool taken = false;

		assert_int_equal(robust_report__add(r, results[i].name, results[i].value, &taken), FEDC_OK);
		assert_true(taken);
	}
}

static void test_names_parsed(void **state)
{
	struct robust_report r = ROBUST_REPORT_INIT;
	bool taken = true;

	(void)state;
	fill(&r);
	assert_int_equal(r.n, 10);
	assert_string_equal(r.items[2].attack, "pgd");
	assert_true(r.items[2].eps == 0.1);
	assert_string_equal(r.items[2].metric, "loss");
	assert_true(r.items[9].eps == 1e-5);
	assert_string_equal(r.items[0].attack, "clean");
	/* Whole epsilons, as the node prints 0 and 2 with %g. */
	assert_int_equal(robust_report__add(&r, "robust.fgsm.0.accuracy", 0.97, NULL), FEDC_OK);
	assert_true(r.items[10].eps == 0.0);
	assert_string_equal(r.items[10].metric, "accuracy");
	assert_int_equal(robust_report__add(&r, "robust.pgd.2.auc", 0.1, NULL), FEDC_OK);
	assert_true(r.items[11].eps == 2.0);
	assert_string_equal(r.items[11].metric, "auc");
	assert_int_equal(robust_report__add(&r, "robust.pgd.1e+06.loss", 9.0, NULL), FEDC_OK);
	assert_true(r.items[12].eps == 1e6);
	/* Not ours: left alone, not an error. */
	assert_int_equal(robust_report__add(&r, "accuracy", 0.5, &taken), FEDC_OK);
	assert_false(taken);
	assert_int_equal(robust_report__add(&r, "robustness", 0.5, NULL), FEDC_OK);
	assert_int_equal(r.n, 13);
	robust_report__free(&r);
}

static void expect_malformed(const char *name, double value)
{
	struct robust_report r = ROBUST_REPORT_INIT;

	assert_int_equal(robust_report__add(&r, "robust.clean.loss", 1.0, NULL), FEDC_OK);
	if (robust_report__add(&r, name, value, NULL) != FEDC_ERR_MALFORMED)
		fail_msg("\"%s\" was not refused", name);
	assert_int_equal(r.n, 1);
	robust_report__free(&r);
}

static void test_bad_names_refused(void **state)
{
	(void)state;
	expect_malformed("robust.", 1);
	expect_malformed("robust.fgsm", 1);
	expect_malformed("robust.fgsm.0.1", 1);        /* no metric after the epsilon */
	expect_malformed("robust.fgsm.x.accuracy", 1);  /* not a number */
	expect_malformed("robust.fgsm.-1.accuracy", 1); /* negative */
	expect_malformed("robust.fgsm.inf.accuracy", 1);
	expect_malformed("robust.fgsm.0.1.", 1);
	expect_malformed("robust.FGSM.0.1.loss", 1);
	expect_malformed("robust.averyveryverylongattack.0.1.loss", 1);
	expect_malformed("robust.clean.", 1);
	expect_malformed("robust.clean.a b", 1);
	expect_malformed("robust.fgsm.0.1.loss", NAN);
	expect_malformed("robust.clean.loss", 2.0); /* the same entry twice */
}

static void test_too_many_refused(void **state)
{
	struct robust_report r = ROBUST_REPORT_INIT;
	char name[64];

	(void)state;
	for (size_t i = 0; i < ROBUST_REPORT_MAX_ENTRIES; i++) {
		snprintf(name, sizeof(name), "robust.fgsm.%zu.m", i);
		assert_int_equal(robust_report__add(&r, name, 0.5, NULL), FEDC_OK);
	}
	assert_int_equal(robust_report__add(&r, "robust.pgd.1.m", 0.5, NULL), FEDC_ERR_TOO_BIG);
	robust_report__free(&r);
}

static char *table_text(const struct robust_report *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	robust_report__print_table(r, f);
	fclose(f);
	return text;
}

static void test_table(void **state)
{
	struct robust_report r = ROBUST_REPORT_INIT;
	char *text;
	const char *rows[] = { "clean ", "fgsm     1e-05", "fgsm     0.1", "fgsm     0.5", "pgd      0.1", "pgd      0.5" };
	const char *at;

	(void)state;
	fill(&r);
	text = table_text(&r);
	/* Header: the metrics in the order first met. */
	assert_int_equal(strncmp(text, "attack   epsilon    loss         accuracy", 41), 0);
	/* Rows: clean first, then attacks by name, epsilons ascending. */
	at = text;
	for (size_t i = 0; i < 6; i++) {
		const char *next = strstr(at, rows[i]);

		if (!next)
			fail_msg("row \"%s\" missing or out of order in:\n%s", rows[i], text);
		at = next + 1;
	}
	/* pgd 0.5 has no loss: "-". */
	assert_non_null(strstr(text, "pgd      0.5        -            0.4035"));
	assert_non_null(strstr(text, "fgsm     0.1        0.2001       0.9211"));
	free(text);
	robust_report__free(&r);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);

	assert_non_null(f);
	assert_non_null(buf);
	assert_true(fread(buf, 1, (1 << 16) - 1, f) > 0);
	fclose(f);
	return buf;
}

static void test_svg(void **state)
{
	struct robust_report r = ROBUST_REPORT_INIT;
	char dir[] = "/tmp/fedc-robust-report-XXXXXX", path[64];
	char *svg;
	size_t paths = 0;

	(void)state;
	fill(&r);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/robust.svg", dir);
	assert_int_equal(robust_report__write_svg(&r, "accuracy", path), FEDC_OK);
	svg = read_all(path);
	assert_non_null(strstr(svg, "<svg "));
	assert_non_null(strstr(svg, "accuracy under attack"));
	assert_non_null(strstr(svg, "clean 0.9737"));
	assert_non_null(strstr(svg, ">fgsm</text>"));
	assert_non_null(strstr(svg, ">pgd</text>"));
	for (const char *p = svg; (p = strstr(p, "<path ")); p++)
		paths++;
	assert_int_equal(paths, 2); /* one curve per attack */
	/* fgsm: clean at 0, then 1e-05, 0.1, 0.5: four points. */
	assert_non_null(strstr(svg, "<path d='M60.0,"));
	assert_non_null(strstr(svg, "</svg>\n"));
	free(svg);
	/* A metric no attack has. */
	assert_int_equal(robust_report__write_svg(&r, "auc", path), FEDC_ERR_NOT_FOUND);
	assert_non_null(strstr(fedc_last_error(), "auc"));
	unlink(path);
	rmdir(dir);
	robust_report__free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_parsed),
		cmocka_unit_test(test_bad_names_refused),
		cmocka_unit_test(test_too_many_refused),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_svg),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
