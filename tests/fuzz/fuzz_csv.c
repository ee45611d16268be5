/* Fuzz target: the node's CSV dataset reader (node/dataset.h).
 *
 * The input is written to a file in the harness's temp directory and
 * inspected as at registration, under several header modes and label
 * options. What inspects must then load (dataset__load reads the file again
 * against the registration) into finite features and labels that agree with
 * what inspection reported: class labels below n_classes, per-class counts
 * that add up to the rows. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dataset.h"
#include "fuzz.h"

/* The options `fedc-node dataset add` can be given, a few of each kind. */
static const struct dataset_options variants[] = {
	{ "csv", "auto", -1, false },
	{ "csv", "auto", -1, true },
	{ "csv", "counts", 0, false },
	{ "csv", "names", -1, false },
	{ "csv", "none", 1, true },
};

/* Rows per class as registered must parse back and add up to the rows. */
static void check_label_counts(const struct node_dataset *ds)
{
	static uint64_t counts[65536];
	uint64_t total = 0;

	if (!ds->label_counts[0])
		return;
	fuzz_require(ds->n_classes <= 65536, "at most 65536 classes");
	fuzz_require(dataset__parse_label_counts(ds->label_counts, counts, ds->n_classes),
		     "label_counts must hold one count per class");
	for (uint32_t c = 0; c < ds->n_classes; c++)
		total += counts[c];
	fuzz_require(total == ds->n_samples, "label_counts must add up to n_samples");
}

static void check_loaded(const struct node_dataset *ds, const struct fedc_data *data)
{
	fuzz_require(data->n_samples == ds->n_samples && data->n_features == ds->n_features &&
		     data->n_classes == ds->n_classes, "load must give the registered shape");
	for (size_t i = 0; i < data->n_samples * data->n_features; i++)
		fuzz_require(isfinite(data->x[i]), "features must be finite");
	for (size_t i = 0; i < data->n_samples; i++) {
		float y = data->y[i];

		fuzz_require(isfinite(y), "labels must be finite");
		if (ds->n_classes)
			fuzz_require(y >= 0 && y < (float)ds->n_classes && y == floorf(y),
				     "a class label must be an index below n_classes");
	}
}

static void try_variant(const char *path, const struct dataset_options *opts)
{
	static struct node_dataset ds; /* 12 KiB: kept off the stack */
	struct fedc_data data;

	memset(&ds, 0, sizeof(ds));
	snprintf(ds.name, sizeof(ds.name), "fuzz");
	snprintf(ds.path, sizeof(ds.path), "%s", path);
	if (dataset__inspect(&ds, opts) != FEDC_OK)
		return;
	fuzz_require(ds.n_samples > 0 && ds.n_features > 0, "an inspected set has rows and features");
	fuzz_require(opts->regression ? ds.n_classes == 0 : ds.n_classes > 0,
		     "n_classes is 0 exactly for regression");
	check_label_counts(&ds);
	fuzz_require(dataset__load(&ds, &data) == FEDC_OK, "a file that inspects must load");
	check_loaded(&ds, &data);
	dataset__free_data(&data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PATH_MAX];

	fuzz_write_file("data.csv", data, size, path);
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		try_variant(path, &variants[i]);
	return 0;
}
