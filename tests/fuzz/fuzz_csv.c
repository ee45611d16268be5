/* Fuzz target: the node's CSV dataset reader (node/dataset.h).
 *
 * The input is written to a file in the harness's temp directory and
 * inspected as at registration, under several header modes and label
 * options. What inspects must then load (dataset__load reads the file again
 * against the registration) into finite features and labels that agree with
 * what inspection reported: class labels below n_classes, per-class counts
 * that add up to the rows, and features that follow the schema (a finite
 * number, NAN only where the column had missing cells or is text, a
 * categorical cell an index below its column's category count). The stored
 * schema must parse back, and a load without it (as in the plan's process)
 * must find the same view. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dataset.h"
#include "dataset_schema.h"
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

/* One feature against its column: the schema's promise. */
static void check_feature(const struct fedc_table_schema *schema, size_t j, float v)
{
	const struct fedc_column *c;

	if (!schema) {
		fuzz_require(isfinite(v), "features of a plain table must be finite");
		return;
	}
	fuzz_require(schema->n_columns > j, "the schema describes every feature");
	c = &schema->columns[j];
	if (isnan(v)) {
		fuzz_require(c->n_missing > 0 || c->type == FEDC_COLUMN_TEXT, "NAN only in a column with missing cells");
		return;
	}
	fuzz_require(isfinite(v) && c->type != FEDC_COLUMN_TEXT, "a text column holds NAN only");
	if (c->type == FEDC_COLUMN_CATEGORICAL)
		fuzz_require(v >= 0 && v < (float)c->n_categories && v == floorf(v),
			     "a categorical feature is an index below its category count");
}

static void check_loaded(const struct node_dataset *ds, const struct fedc_data *data)
{
	fuzz_require(data->n_samples == ds->n_samples && data->n_features == ds->n_features &&
		     data->n_classes == ds->n_classes, "load must give the registered shape");
	fuzz_require((ds->schema[0] != '\0') == (data->schema != NULL), "a schema exactly when one was stored");
	for (size_t i = 0; i < data->n_samples * data->n_features; i++)
		check_feature(data->schema, i % data->n_features, data->x[i]);
	for (size_t i = 0; i < data->n_samples; i++) {
		float y = data->y[i];

		fuzz_require(isfinite(y), "labels must be finite");
		if (ds->n_classes)
			fuzz_require(y >= 0 && y < (float)ds->n_classes && y == floorf(y),
				     "a class label must be an index below n_classes");
	}
}

/* The plan's process loads a record without its schema: the same view. */
static void check_load_without_schema(struct node_dataset *ds, const struct fedc_data *with)
{
	static char saved[NODE_SCHEMA_BUF];
	struct fedc_data data;
	size_t n = with->n_samples * with->n_features;

	memcpy(saved, ds->schema, sizeof(saved));
	ds->schema[0] = '\0';
	fuzz_require(dataset__load(ds, &data) == FEDC_OK, "a file that inspects must load without its stored schema");
	fuzz_require((data.schema != NULL) == (with->schema != NULL), "the same schema is found again");
	fuzz_require(memcmp(data.x, with->x, n * sizeof(float)) == 0 || n == 0, "the same features (NAN bits too)");
	dataset__free_data(&data);
	memcpy(ds->schema, saved, sizeof(saved));
}

static void try_variant(const char *path, const struct dataset_options *opts, const char *options)
{
	static struct node_dataset ds; /* 12 KiB: kept off the stack */
	struct fedc_data data;

	memset(&ds, 0, sizeof(ds));
	snprintf(ds.name, sizeof(ds.name), "fuzz");
	snprintf(ds.path, sizeof(ds.path), "%s", path);
	snprintf(ds.options, sizeof(ds.options), "%s", options);
	if (dataset__inspect(&ds, opts) != FEDC_OK)
		return;
	fuzz_require(ds.n_samples > 0 && ds.n_features > 0, "an inspected set has rows and features");
	fuzz_require(opts->regression ? ds.n_classes == 0 : ds.n_classes > 0,
		     "n_classes is 0 exactly for regression");
	check_label_counts(&ds);
	fuzz_require(dataset__load(&ds, &data) == FEDC_OK, "a file that inspects must load");
	check_loaded(&ds, &data);
	check_load_without_schema(&ds, &data);
	dataset__free_data(&data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PATH_MAX];

	fuzz_write_file("data.csv", data, size, path);
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		try_variant(path, &variants[i], "");
	/* A label written as text (--label-classes). */
	try_variant(path, &variants[0], "label_classes=B,M,0,1");
	return 0;
}
