/* Checks a generated section of a document in docs/: the text between
 * `begin` and `end` marker lines must equal `generated`. With
 * FEDC_REGENERATE_DOCS=1 in the environment the section is rewritten in
 * place (a temp file, then rename) instead of failing. For unit tests only
 * (cmocka asserts). */
#ifndef FEDC_TEST_DOC_SECTION_H
#define FEDC_TEST_DOC_SECTION_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOC_SECTION_MAX (4u << 20)

static char *doc_section_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(DOC_SECTION_MAX + 1);

	if (!f)
		print_error("cannot open %s\n", path);
	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, DOC_SECTION_MAX, f);
	assert_true(*len < DOC_SECTION_MAX);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void doc_section_rewrite(const char *path, const char *doc, const char *body, const char *end,
				const char *generated, size_t gen_len)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(doc, 1, (size_t)(body - doc), f), (size_t)(body - doc));
	assert_int_equal(fwrite(generated, 1, gen_len, f), gen_len);
	assert_true(fputs(end, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
	print_message("rewrote a generated section of %s\n", path);
}

/* `begin` includes its newline; `hint` says how to regenerate. */
static void doc_section_check(const char *path, const char *begin_mark, const char *end_mark,
			      const char *generated, size_t gen_len, const char *hint)
{
	size_t doc_len, cur_len;
	char *doc = doc_section_read(path, &doc_len);
	char *begin = strstr(doc, begin_mark), *body, *end;
	const char *regen = getenv("FEDC_REGENERATE_DOCS");

	if (!begin)
		print_error("%s lacks the line %s", path, begin_mark);
	assert_non_null(begin);
	body = begin + strlen(begin_mark);
	end = strstr(body, end_mark);
	if (!end)
		print_error("%s lacks the line %s after the BEGIN marker\n", path, end_mark);
	assert_non_null(end);
	cur_len = (size_t)(end - body);
	if (cur_len != gen_len || memcmp(body, generated, gen_len) != 0) {
		size_t i = 0, line = 1;

		if (regen && strcmp(regen, "1") == 0) {
			doc_section_rewrite(path, doc, body, end, generated, gen_len);
		} else {
			while (i < cur_len && i < gen_len && body[i] == generated[i])
				line += body[i++] == '\n';
			print_error("%s is out of date (first difference at line %zu of the section after %s).\n"
				    "Regenerate it with: %s\n",
				    path, line, begin_mark, hint);
			fail();
		}
	}
	free(doc);
}

#endif
