/* Fuzz target: what `fedc-researcher resume` keeps of a per-node round log
 * (researcher/node_log.h, node_log__keep), a file in the output directory
 * that a crash may have cut short and anyone who can write there can forge.
 *
 * Input: 1 byte, the breakpoint's round (0-255), then the log. Properties:
 * what is kept is whole lines of the input, in their order (each one a
 * line of the input at or after the end of the one before); each ends in
 * '\n' and parses as a JSON object whose "round" is an integer no greater
 * than the breakpoint's; keeping it again keeps all of it. */
#include <jansson.h>
#include <string.h>

#include "fedc/buf.h"
#include "fuzz.h"
#include "node_log.h"

static void check_line(const char *line, size_t len, uint32_t last)
{
	json_t *rec = json_loadb(line, len, 0, NULL);
	json_t *round = json_object_get(rec, "round");

	fuzz_require(len > 0 && line[len - 1] == '\n', "a kept line ends in a newline");
	fuzz_require(json_is_object(rec), "a kept line is a JSON object");
	fuzz_require(json_is_integer(round) && json_integer_value(round) >= 0 &&
			     json_integer_value(round) <= (json_int_t)last,
		     "a kept line's round is at most the breakpoint's");
	json_decref(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fedc_buf kept = FEDC_BUF_INIT(1 << 24), again = FEDC_BUF_INIT(1 << 24);
	const char *text = (const char *)data + 1, *at;
	size_t len, from = 0;
	uint32_t last;

	if (size < 1)
		return 0;
	last = data[0];
	len = size - 1;
	fuzz_require(node_log__keep(text, len, last, &kept) == FEDC_OK, "keeps what fits its buffer");
	for (size_t k = 0; k < kept.len;) {
		const char *line = kept.data + k, *nl = memchr(line, '\n', kept.len - k);
		size_t n = nl ? (size_t)(nl - line) + 1 : kept.len - k;

		check_line(line, n, last);
		at = NULL;
		for (size_t i = from; i + n <= len && !at; i++) {
			if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, line, n) == 0)
				at = text + i;
		}
		fuzz_require(at != NULL, "a kept line is a whole line of the input, in order");
		from = (size_t)(at - text) + n;
		k += n;
	}
	fuzz_require(node_log__keep(kept.data ? kept.data : "", kept.len, last, &again) == FEDC_OK &&
			     again.len == kept.len && (kept.len == 0 || memcmp(again.data, kept.data, kept.len) == 0),
		     "keeping again keeps all");
	fedc_buf_free(&kept);
	fedc_buf_free(&again);
	return 0;
}
