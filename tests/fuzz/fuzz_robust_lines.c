/* Fuzz target: the node's check of the robustness stage's output of the
 * plan process (node/assess.h, assess__robust_lines), text that plan code
 * wrote, so untrusted.
 *
 * Input: the bytes the plan process wrote into its memfd.
 * Properties: accepted, or refused with FEDC_ERR_PLAN / FEDC_ERR_TOO_BIG
 * and a detail; what is accepted is at most ASSESS_ROBUST_MAX_LINES lines,
 * each `mean robust.NAME VALUE\n` with a short printable name, and is
 * accepted again unchanged when checked a second time. */
#include <string.h>

#include "assess.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fedc_buf out, again;
	size_t lines = 0;
	enum fedc_err rc;

	fedc_buf_init(&out, FEDC_MAX_ASSESS_RESULT);
	fedc_clear_error();
	rc = assess__robust_lines((const char *)data, size, &out);
	if (rc) {
		fuzz_require(rc == FEDC_ERR_PLAN || rc == FEDC_ERR_TOO_BIG, "a refusal is PLAN or TOO_BIG");
		fuzz_require(fedc_last_error()[0] != '\0', "a refusal says why");
		fedc_buf_free(&out);
		return 0;
	}
	fuzz_require(out.len > 0 && out.data[out.len - 1] == '\n', "whole lines");
	for (size_t i = 0; i < out.len; i++) {
		fuzz_require(out.data[i] == '\n' || (out.data[i] >= 0x20 && out.data[i] < 0x7f), "printable");
		lines += out.data[i] == '\n';
	}
	fuzz_require(lines >= 1 && lines <= ASSESS_ROBUST_MAX_LINES, "a bounded count of lines");
	fuzz_require(strncmp(out.data, "mean robust.", 12) == 0, "mean lines of robust. names");
	fedc_buf_init(&again, FEDC_MAX_ASSESS_RESULT);
	fuzz_require(assess__robust_lines(out.data, out.len, &again) == FEDC_OK, "the output is accepted again");
	fuzz_require(again.len == out.len && memcmp(again.data, out.data, out.len) == 0, "and kept as it is");
	fedc_buf_free(&again);
	fedc_buf_free(&out);
	return 0;
}
