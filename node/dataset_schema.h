/* A table's columns as found at registration (the "schema" of a CSV
 * dataset): for each feature column its name, its type (numeric,
 * categorical, text), the categories seen and how many cells were missing.
 *
 * Registration gathers them with a builder while the file is read, stores
 * them in the node's record as text (node_dataset.schema), and a load turns
 * that text back into the struct fedc_table_schema of plan.h that the plan
 * gets. The rules (what is missing, when a column is categorical) and the
 * stored format are in docs/node-admin.md ("Columns and missing cells").
 *
 * Stored format, one line per feature column after a first line:
 *   fedc-schema 1 N
 *   TYPE \t N_MISSING \t NAME [\t CATEGORY]... \n
 * TYPE is numeric, categorical or text; categories are sorted by strcmp;
 * bytes below 0x20, 0x7f and '%' in a name or category are written %XX. */
#ifndef FEDC_NODE_DATASET_SCHEMA_H
#define FEDC_NODE_DATASET_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/plan.h"

/* A column with more distinct values than this is text, not categorical. */
#define SCHEMA_MAX_CATEGORIES 256u
/* Longest column name or category kept (bytes); longer cells are text. */
#define SCHEMA_MAX_VALUE_LEN 256u

/* True for the cells that stand for a missing value: "" (after the reader's
 * trimming), "NA" and "NaN" in any case. */
bool dataset_schema__is_missing(const char *cell, size_t len);

/* ---- gathering at registration ---- */

struct schema_col {
	char *name;          /* malloc'd; NULL until named ("c<K>" is given then) */
	bool non_numeric;    /* a present cell did not parse as a number */
	bool many;           /* more distinct values than SCHEMA_MAX_CATEGORIES (or too long) */
	uint64_t n_missing;
	uint32_t n_values;   /* distinct present cells so far, sorted by strcmp */
	char **values;       /* SCHEMA_MAX_CATEGORIES slots once one is seen */
};

struct schema_builder {
	uint32_t n_columns;
	struct schema_col *cols;
	bool named;          /* a column was given a name (a names header) */
};

/* Room for `n_columns` columns, unnamed. FEDC_ERR_NOMEM. Free with
 * dataset_schema__builder_free (also after a failed init). */
FEDC_NODISCARD
enum fedc_err dataset_schema__builder_init(struct schema_builder *b, uint32_t n_columns);
void dataset_schema__builder_free(struct schema_builder *b);

/* Names column `col` (a copy of [name, name+len)). FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err dataset_schema__name(struct schema_builder *b, uint32_t col, const char *name, size_t len);

/* Records one cell of column `col`: missing, or present and (`is_number`)
 * parsed as a number or not. FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err dataset_schema__observe(struct schema_builder *b, uint32_t col, const char *cell, size_t len,
				      bool missing, bool is_number);

/* True when every column is numeric without a missing cell and none has a
 * name: a table that needs no schema (stored as "", loaded as data->schema
 * NULL). Names alone make a schema, so that a plan can find its columns by
 * name in a clean table too; a plan of ABI 1 or 2 still takes such data. */
bool dataset_schema__plain(const struct schema_builder *b);

/* Writes the stored form into out[cap] ("" for a plain table).
 * FEDC_ERR_TOO_BIG (the detail names the widest column) if it does not fit;
 * out is then "". */
FEDC_NODISCARD
enum fedc_err dataset_schema__serialize(const struct schema_builder *b, char *out, size_t cap);

/* ---- reading the stored form ---- */

/* Parses stored text of exactly `n_columns` columns into one allocation
 * (*out, freed with dataset_schema__free). Checks every bound: the header,
 * each type, count and escape, categories strictly sorted and at most
 * SCHEMA_MAX_CATEGORIES. FEDC_ERR_MALFORMED naming what is wrong,
 * FEDC_ERR_NOMEM. "" is not a schema here (the caller knows a plain table). */
FEDC_NODISCARD
enum fedc_err dataset_schema__parse(const char *text, uint32_t n_columns, struct fedc_table_schema **out);
void dataset_schema__free(const struct fedc_table_schema *schema);

/* The index of `cell` in a categorical column's categories, or -1. */
int64_t dataset_schema__category_index(const struct fedc_column *col, const char *cell);

/* The type's name: "numeric", "categorical", "text" ("?" for another). */
const char *dataset_schema__type_name(uint32_t type);

#endif
