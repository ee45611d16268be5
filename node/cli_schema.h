/* The columns of a table dataset as `fedc-node dataset add / show / list
 * --json` print them (the schema registration found: dataset_schema.h). */
#ifndef FEDC_NODE_CLI_SCHEMA_H
#define FEDC_NODE_CLI_SCHEMA_H

#include <stdio.h>

#include "db.h"

/* One line for `dataset add`: "columns: 3 numeric (2 with missing cells),
 * 1 categorical, 0 text" on `out`. Nothing for a dataset that is not a
 * table. */
void cli_schema__print_summary(FILE *out, const struct node_dataset *ds);

/* `dataset show`: a text label's classes (--label-classes), then a table
 * of the columns (number, name, type, missing cells, categories), or one
 * line when every column is numeric with no missing cell (such a table
 * stores no names). */
void cli_schema__print_table(const struct node_dataset *ds);

/* `dataset list --json` and `show --json`: `,"columns":[{"name":...,
 * "type":...,"missing":N,"categories":[...]}]`, or `,"columns":null` when
 * the dataset stores none (not a table, or all numeric without gaps). */
void cli_schema__print_json(const struct node_dataset *ds);

#endif
