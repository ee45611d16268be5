/* Fuzz target: `fedc-researcher status`'s reader of a run's status.json
 * (researcher/status.h, status__print), a file anyone who can write the
 * output directory can forge or damage.
 *
 * Input: 1 byte of flags (bit 0: a researcher holds the directory), then the
 * document. It is printed both ways. Properties: the exit code is 0 or 1;
 * the text report holds no control character but '\n' (it goes to a
 * terminal); the --json report parses as JSON with a known "condition"; a
 * refusal prints nothing on the report's stream and says why. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "status.h"

static const char *const conditions[] = { "running", "finished", "failed", "stopped", "interrupted", "killed", NULL };

static int print(const char *text, size_t len, bool live, bool json, char **out, size_t *out_len, char **err,
		 size_t *err_len)
{
	FILE *o = open_memstream(out, out_len), *e = open_memstream(err, err_len);
	int code;

	fuzz_require(o && e, "memory streams open");
	code = status__print(text, len, "DIR", live, 4242, 1.7e9, json, o, e);
	fclose(o);
	fclose(e);
	return code;
}

static void check_text(const char *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fuzz_require((unsigned char)out[i] >= 0x20 || out[i] == '\n', "no control character in the report");
}

static void check_json(const char *out, size_t len)
{
	json_t *doc = json_loadb(out, len, 0, NULL);
	const char *cond = json_string_value(json_object_get(doc, "condition"));
	bool known = false;

	fuzz_require(doc != NULL, "--json prints JSON");
	for (size_t i = 0; cond && conditions[i]; i++)
		known |= strcmp(cond, conditions[i]) == 0;
	fuzz_require(known || (cond && strcmp(cond, "unknown") == 0) || (cond && cond[0]),
		     "--json says the condition");
	json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data + 1;
	char *out = NULL, *err = NULL;
	size_t out_len = 0, err_len = 0;
	int code;

	if (size < 1)
		return 0;
	for (int json = 0; json < 2; json++) {
		code = print(text, size - 1, data[0] & 1, json, &out, &out_len, &err, &err_len);
		fuzz_require(code == 0 || code == 1, "the exit code is 0 or 1");
		if (code == 0 && json)
			check_json(out, out_len);
		else if (code == 0)
			check_text(out, out_len);
		else
			fuzz_require(out_len == 0 && err_len > 0, "a refusal prints no report and says why");
		free(out);
		free(err);
		out = err = NULL;
	}
	return 0;
}
