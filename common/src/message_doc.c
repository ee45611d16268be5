/* The Markdown description of the message schema (the generated "Messages"
 * section of docs/protocol.md), written from the tables in message.c. */
#include "fedc/message.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "message_schema.h"

/* The fields every message carries, listed once in the docs. */
static bool is_base_field(int i)
{
	return i == FEDC_F_PROTOCOL_VERSION || i == FEDC_F_COMMAND || i == FEDC_F_REQUEST_ID;
}

/* ---- Markdown ---- */

static const char *wire_type(const struct field_spec *f)
{
	switch (f->type) {
	case FT_UINT: return "uint";
	case FT_DOUBLE: return "float64 (float32, int accepted)";
	case FT_BOOL: return "bool";
	case FT_STR:
	case FT_CMD: return "str";
	case FT_TAGS: return "array of str";
	case FT_KVS: return "map str → float64";
	case FT_DATASETS: return "array of map";
	case FT_BIN: return "bin";
	}
	return "?";
}

static void md_string_bounds(FILE *out, const struct field_spec *f, size_t size)
{
	switch (f->check) {
	case CK_TEXT:
		fprintf(out, "0..%zu bytes", size - 1);
		break;
	case CK_NAME:
		fprintf(out, "1..%zu bytes, no control characters", size - 1);
		break;
	case CK_ID:
		fprintf(out, "1..%zu bytes, no control characters, no `/` `+` `#`", size - 1);
		break;
	case CK_TOKEN:
		fprintf(out, "1..%zu bytes of `a-z 0-9 . _ -`", size - 1);
		break;
	case CK_UUID:
		fputs("UUID, 36 characters (8-4-4-4-12 hex)", out);
		break;
	case CK_SHA256:
		fputs("64 lower-case hex digits", out);
		break;
	case CK_DIGEST:
		fputs("64 or 128 lower-case hex digits", out);
		break;
	case CK_CHOICE:
		fputs("one of", out);
		for (size_t i = 0; f->choices[i]; i++)
			fprintf(out, "%s `%s`", i ? "," : "", f->choices[i]);
		break;
	}
}

static void md_bounds(FILE *out, const struct field_spec *f)
{
	switch (f->type) {
	case FT_UINT:
		if (f->umin == f->umax)
			fprintf(out, "= %" PRIu64, f->umin);
		else
			fprintf(out, "%" PRIu64 "..%" PRIu64, f->umin, f->umax);
		break;
	case FT_DOUBLE:
		fputs("finite", out);
		if (isfinite(f->dmin) && isfinite(f->dmax))
			fprintf(out, ", %g ≤ v %s %g", f->dmin, f->dmax_open ? "<" : "≤", f->dmax);
		else if (isfinite(f->dmin))
			fprintf(out, ", ≥ %g", f->dmin);
		break;
	case FT_BOOL:
		fputs("-", out);
		break;
	case FT_STR:
		md_string_bounds(out, f, f->size);
		break;
	case FT_CMD:
		fputs("a command name of this section", out);
		break;
	case FT_TAGS:
		fprintf(out, "%" PRIu32 "..%" PRIu32 " strings of ", f->min_items, f->max_items);
		md_string_bounds(out, f, f->size);
		break;
	case FT_KVS:
		fprintf(out, "0..%" PRIu32 " entries; names ", f->max_items);
		md_string_bounds(out, f, f->size);
		fputs(", unique; finite values", out);
		break;
	case FT_DATASETS:
		fprintf(out, "0..%" PRIu32 " entries", f->max_items);
		break;
	case FT_BIN:
		fprintf(out, "0..%" PRIu32 " bytes", f->max_items);
		break;
	}
}

static void md_row(FILE *out, const struct field_spec *f, const char *presence)
{
	fprintf(out, "| `%s` | %s | %s | ", f->name, wire_type(f), presence);
	md_bounds(out, f);
	fprintf(out, " | %s |\n", f->doc);
}

static void md_field_list(FILE *out, const struct cmd_spec *c, enum field_use use)
{
	bool first = true;

	for (int i = 0; i < FEDC_F__COUNT; i++) {
		if (c->use[i] != use || is_base_field(i))
			continue;
		fprintf(out, "%s`%s`", first ? "" : ", ", message__fields[i].name);
		first = false;
	}
	if (first)
		fputs("-", out);
}

static void md_summary(FILE *out)
{
	fputs("Every message also carries `protocol_version`, `command` and `request_id`.\n\n"
	      "| command | route | required fields | optional fields |\n| --- | --- | --- | --- |\n", out);
	for (int c = FEDC_CMD_NONE + 1; c < FEDC_CMD__COUNT; c++) {
		fprintf(out, "| `%s` | %s | ", message__cmds[c].name, message__cmds[c].route);
		md_field_list(out, &message__cmds[c], USE_REQUIRED);
		fputs(" | ", out);
		md_field_list(out, &message__cmds[c], USE_OPTIONAL);
		fputs(" |\n", out);
	}
}

static void md_command(FILE *out, const struct cmd_spec *c)
{
	fprintf(out, "\n### `%s`\n\n%s\n\nRoute: %s.\n\n", c->name, c->doc, c->route);
	fputs("| field | msgpack type | presence | bounds | meaning |\n| --- | --- | --- | --- | --- |\n", out);
	for (int i = 0; i < FEDC_F__COUNT; i++) {
		if (c->use[i] != USE_NONE)
			md_row(out, &message__fields[i], c->use[i] == USE_REQUIRED ? "required" : "optional");
	}
}

enum fedc_err fedc_msg_schema_markdown(FILE *out)
{
	if (!out)
		return fedc_fail(FEDC_ERR_INVAL, "fedc_msg_schema_markdown: NULL stream");
	fprintf(out, "Generated from the schema table in `common/src/message.c` (protocol version %d). "
		     "A receiver rejects a message with an unknown command, a missing required field, "
		     "a field its command does not carry, a wrong msgpack type or a value out of bounds. "
		     "Bounds `a..b` are inclusive; string bounds count bytes.\n\n",
		FEDC_PROTOCOL_VERSION);
	md_summary(out);
	for (int c = FEDC_CMD_NONE + 1; c < FEDC_CMD__COUNT; c++)
		md_command(out, &message__cmds[c]);
	fputs("\n### Dataset entries\n\nEach entry of `datasets` is a map of these keys: the required ones "
	      "always, an optional one when the node knows it.\n\n| field | msgpack type | presence | bounds | meaning |\n"
	      "| --- | --- | --- | --- | --- |\n", out);
	for (size_t k = 0; k < message__n_dataset_fields; k++)
		md_row(out, &message__dataset_fields[k], message__dataset_fields[k].optional ? "optional" : "required");
	if (fflush(out) != 0 || ferror(out))
		return fedc_fail(FEDC_ERR_IO, "cannot write the schema: write error");
	return FEDC_OK;
}
