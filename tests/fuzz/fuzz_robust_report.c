/* Fuzz target: the researcher's reader of combined robustness results
 * (researcher/robust_report.h): result names as nodes send them.
 *
 * Input: lines, each a result name (the value is the line's number).
 * Properties: a name is taken, left alone (not robust.*) or refused with
 * FEDC_ERR_MALFORMED or FEDC_ERR_TOO_BIG and a detail; every entry taken has
 * a non-empty attack and metric and a finite epsilon >= 0; the table and
 * the plot are written whatever was taken. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "robust_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *save = NULL, path[4096];
	struct robust_report r = ROBUST_REPORT_INIT;
	double value = 0.0;
	FILE *sink;

	fuzz_require(text != NULL, "the input is copied");
	memcpy(text, data, size);
	text[size] = '\0';
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		bool taken = false;
		enum fedc_err rc = robust_report__add(&r, line, value++, &taken);

		fuzz_require(rc == FEDC_OK || rc == FEDC_ERR_MALFORMED || rc == FEDC_ERR_TOO_BIG, "a known code");
		fuzz_require(rc == FEDC_OK || fedc_last_error()[0] != '\0', "a refusal says why");
		fuzz_require(!taken || rc == FEDC_OK, "only an accepted name is taken");
	}
	for (size_t i = 0; i < r.n; i++)
		fuzz_require(r.items[i].attack[0] && r.items[i].metric[0] && isfinite(r.items[i].eps) &&
				     r.items[i].eps >= 0.0,
			     "every entry is whole");
	sink = fopen("/dev/null", "w");
	fuzz_require(sink != NULL, "/dev/null opens");
	robust_report__print_table(&r, sink);
	fclose(sink);
	snprintf(path, sizeof(path), "%s/robust.svg", fuzz_tmpdir());
	if (r.n)
		fuzz_require(robust_report__write_svg(&r, r.items[0].metric, path) != FEDC_ERR_IO, "the plot is written");
	robust_report__free(&r);
	free(text);
	return 0;
}
