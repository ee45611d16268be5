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
#include <string.h>
#include <unistd.h>

#include "fedc/message.h"

#define DOC_PATH FEDC_SOURCE_DIR "/docs/protocol.md"
#define BEGIN_MARK "<!-- BEGIN GENERATED SCHEMA -->\n"
#define END_MARK "<!-- END GENERATED SCHEMA -->"
#define DOC_MAX (4u << 20)

static char *read_doc(size_t *len)
{
	FILE *f = fopen(DOC_PATH, "rb");
	char *buf = malloc(DOC_MAX + 1);

	if (!f)
		print_error("cannot open %s\n", DOC_PATH);
	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, DOC_MAX, f);
	assert_true(*len < DOC_MAX);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static char *generate(size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	assert_non_null(f);
	assert_int_equal(fedc_msg_schema_markdown(f), FEDC_OK);
	assert_int_equal(fclose(f), 0);
	return text;
}

/* Writes the document with `generated` between the markers: a temp file
 * beside it, then rename, so an interrupted run leaves the old file whole. */
static void rewrite(const char *doc, const char *body, const char *end, const char *generated, size_t gen_len)
{
	const char *tmp = DOC_PATH ".tmp";
	FILE *f = fopen(tmp, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(doc, 1, (size_t)(body - doc), f), (size_t)(body - doc));
	assert_int_equal(fwrite(generated, 1, gen_len, f), gen_len);
	assert_true(fputs(end, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, DOC_PATH), 0);
	print_message("rewrote the generated schema section of %s\n", DOC_PATH);
}

static void test_protocol_doc_matches_schema(void **state)
{
	size_t doc_len, gen_len, cur_len;
	char *doc = read_doc(&doc_len), *generated = generate(&gen_len);
	char *begin = strstr(doc, BEGIN_MARK), *body, *end;
	const char *regen = getenv("FEDC_REGENERATE_DOCS");

	if (!begin)
		print_error("%s lacks the line %s", DOC_PATH, BEGIN_MARK);
	assert_non_null(begin);
	body = begin + strlen(BEGIN_MARK);
	end = strstr(body, END_MARK);
	if (!end)
		print_error("%s lacks the line %s after the BEGIN marker\n", DOC_PATH, END_MARK);
	assert_non_null(end);
	cur_len = (size_t)(end - body);
	if (regen && strcmp(regen, "1") == 0) {
		if (cur_len != gen_len || memcmp(body, generated, gen_len) != 0)
			rewrite(doc, body, end, generated, gen_len);
	} else if (cur_len != gen_len || memcmp(body, generated, gen_len) != 0) {
		size_t i = 0, line = 1;

		while (i < cur_len && i < gen_len && body[i] == generated[i])
			line += body[i++] == '\n';
		print_error("docs/protocol.md is out of date with the schema in common/src/message.c "
			    "(first difference at line %zu of the generated section).\n"
			    "Regenerate it with: FEDC_REGENERATE_DOCS=1 ctest --test-dir <build dir> -R protocol_doc\n",
			    line);
		fail();
	}
	free(generated);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocol_doc_matches_schema),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
