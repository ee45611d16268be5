/* Fuzz target: the plan source bundle decoder (fedc/source_bundle.h), which
 * the node runs on bytes a researcher uploaded.
 *
 * A bundle that decodes must be what the researcher's packer would write:
 * its files, written out under their names and packed again, give back the
 * same bytes exactly; and every name and text lies inside the input. */
#include <limits.h>
#include <string.h>

#include "fedc/source_bundle.h"
#include "fuzz.h"

static void check_inside(const uint8_t *data, size_t size, const struct fedc_source_file *f)
{
	const uint8_t *t = (const uint8_t *)f->text;

	fuzz_require(f->len == 0 || (t >= data && t + f->len <= data + size), "a text must lie inside the input");
	fuzz_require(f->name[0] && f->name[0] != '.' && !strchr(f->name, '/'), "a name must be a plain file name");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fedc_source_bundle files;
	static char paths[FEDC_SOURCE_MAX_FILES][PATH_MAX];
	const char *list[FEDC_SOURCE_MAX_FILES];
	struct fedc_buf again = FEDC_BUF_INIT(FEDC_SOURCE_MAX);

	fuzz_quiet_logs();
	if (fedc_source_decode(data, size, &files) != FEDC_OK) {
		fuzz_require(files.n == 0, "a refused bundle has no files");
		return 0;
	}
	fuzz_require(files.n >= 1 && files.n <= FEDC_SOURCE_MAX_FILES, "1 to 64 files");
	for (size_t i = 0; i < files.n; i++) {
		check_inside(data, size, &files.files[i]);
		fuzz_write_file(files.files[i].name, files.files[i].text, files.files[i].len, paths[i]);
		list[i] = paths[i];
	}
	fuzz_require(fedc_source_pack(list, files.n, &again) == FEDC_OK, "a decoded bundle's files must pack");
	fuzz_require(again.len == size && memcmp(again.data, data, size) == 0, "packing again gives the same bytes");
	fedc_buf_free(&again);
	return 0;
}
