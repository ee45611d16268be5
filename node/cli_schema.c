/* The columns of a table dataset, printed for the operator (cli_schema.h). */
#include "cli_schema.h"

#include <inttypes.h>
#include <string.h>

#include "cli.h"
#include "dataset_schema.h"

#define SHOWN_CATEGORIES_WIDTH 60 /* bytes of a category list on one line of `show` */

static bool is_table(const struct node_dataset *ds)
{
	return strcmp(ds->type, "csv") == 0;
}

/* The parsed schema, or NULL for none (or one that does not parse: the
 * record is shown anyway, and a load says what is wrong). */
static struct fedc_table_schema *schema_of(const struct node_dataset *ds)
{
	struct fedc_table_schema *s = NULL;

	if (!is_table(ds) || !ds->schema[0] || ds->n_features == 0 || ds->n_features > UINT32_MAX)
		return NULL;
	if (dataset_schema__parse(ds->schema, (uint32_t)ds->n_features, &s) != FEDC_OK)
		return NULL;
	return s;
}

void cli_schema__print_summary(FILE *out, const struct node_dataset *ds)
{
	struct fedc_table_schema *s = schema_of(ds);
	uint32_t by_type[4] = { 0 }, gaps = 0;

	if (!is_table(ds))
		return;
	if (!s) {
		fprintf(out, "  columns: %" PRIu64 " numeric, no missing cells\n", ds->n_features);
		return;
	}
	for (uint32_t i = 0; i < s->n_columns; i++) {
		by_type[s->columns[i].type & 3]++;
		gaps += s->columns[i].n_missing > 0;
	}
	fprintf(out, "  columns: %" PRIu32 " numeric, %" PRIu32 " categorical, %" PRIu32 " text;"
		" %" PRIu32 " with missing cells (fedc-node dataset show %s lists them)\n",
		by_type[FEDC_COLUMN_NUMERIC], by_type[FEDC_COLUMN_CATEGORICAL], by_type[FEDC_COLUMN_TEXT], gaps,
		ds->name);
	dataset_schema__free(s);
}

/* "F, M, m", cut to SHOWN_CATEGORIES_WIDTH with "... (N in all)". */
static void print_categories(const struct fedc_column *c)
{
	size_t used = 0;

	for (uint32_t k = 0; k < c->n_categories; k++) {
		size_t len = strlen(c->categories[k]);

		if (used + len + 2 > SHOWN_CATEGORIES_WIDTH) {
			printf("%s... (%" PRIu32 " in all)", k ? ", " : "", c->n_categories);
			return;
		}
		printf("%s", k ? ", " : "");
		cli__print_safe(c->categories[k], 0);
		used += len + 2;
	}
	if (c->n_categories == 0)
		printf("-");
}

/* "label classes: 0=B 1=M" for a text label (--label-classes). */
static void print_label_classes(const struct node_dataset *ds)
{
	const char *list = strstr(ds->options, "label_classes=");
	unsigned k = 0;

	if (!list || (list != ds->options && list[-1] != ';'))
		return;
	list += strlen("label_classes=");
	printf("label classes:");
	while (*list && *list != ';') {
		size_t len = strcspn(list, ",;");

		printf(" %u=%.*s", k++, (int)len, list);
		list += len + (list[len] == ',');
	}
	printf("\n");
}

void cli_schema__print_table(const struct node_dataset *ds)
{
	struct fedc_table_schema *s = schema_of(ds);
	int name_w = 4;

	if (!is_table(ds))
		return;
	print_label_classes(ds);
	if (!s) {
		printf("columns:      %" PRIu64 " numeric features, no missing cells\n", ds->n_features);
		return;
	}
	for (uint32_t i = 0; i < s->n_columns; i++)
		name_w = (int)strlen(s->columns[i].name) > name_w ? (int)strlen(s->columns[i].name) : name_w;
	name_w = name_w > 32 ? 32 : name_w;
	printf("columns:      %" PRIu32 " features (the label column apart)\n", s->n_columns);
	printf("  %4s  %-*s  %-11s  %8s  %s\n", "#", name_w, "NAME", "TYPE", "MISSING", "CATEGORIES");
	for (uint32_t i = 0; i < s->n_columns; i++) {
		const struct fedc_column *c = &s->columns[i];

		printf("  %4" PRIu32 "  ", i);
		cli__print_safe(c->name, name_w);
		printf("  %-11s  %8" PRIu64 "  ", dataset_schema__type_name(c->type), c->n_missing);
		print_categories(c);
		printf("\n");
	}
	dataset_schema__free(s);
}

void cli_schema__print_json(const struct node_dataset *ds)
{
	struct fedc_table_schema *s = schema_of(ds);

	printf(",\"columns\":");
	if (!s) {
		printf("null");
		return;
	}
	for (uint32_t i = 0; i < s->n_columns; i++) {
		const struct fedc_column *c = &s->columns[i];

		printf("%s{\"name\":", i ? "," : "[");
		cli__print_json_string(c->name);
		printf(",\"type\":\"%s\",\"missing\":%" PRIu64 ",\"categories\":[", dataset_schema__type_name(c->type),
		       c->n_missing);
		for (uint32_t k = 0; k < c->n_categories; k++) {
			printf(k ? "," : "");
			cli__print_json_string(c->categories[k]);
		}
		printf("]}");
	}
	printf("]");
	dataset_schema__free(s);
}
