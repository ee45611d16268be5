/* INI files through libinih, kept as a list of (section, key, value, line)
 * so that every error can name the file, the line and the key. */
#include "fedc/config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libgen.h>
#include <limits.h>
#include <unistd.h>

#include "fedc/buf.h"
#include "fedc/id.h"
#include "fedc/limits.h"

/* Keys in one config file: every table has well under a hundred, and a key
 * outside its table is an error anyway. */
#define CONFIG_MAX_ENTRIES 4096u

struct config_entry {
	char *section;
	char *key;
	char *value;
	int line;
};

struct fedc_config {
	char *path;
	struct fedc_buf entry_buf;     /* count entries, at most CONFIG_MAX_ENTRIES */
	struct config_entry *entries;  /* entry_buf.data, as the array it holds */
	size_t count;
	enum fedc_err error; /* first error met while parsing */
};

/* A reader for ini_parse_stream that counts lines, because the handler of
 * Debian's inih gets no line number. */
struct line_reader {
	FILE *file;        /* reading a file ... */
	const char *text;  /* ... or a string */
	int line;
};

static char *reader_next(char *str, int num, void *stream)
{
	struct line_reader *r = stream;
	size_t n = 0;

	if (r->file) {
		if (!fgets(str, num, r->file))
			return NULL;
	} else {
		if (!*r->text)
			return NULL;
		while (r->text[n] && r->text[n] != '\n' && n + 2 < (size_t)num)
			n++;
		if (r->text[n] == '\n')
			n++;
		memcpy(str, r->text, n);
		str[n] = '\0';
		r->text += n;
	}
	r->line++;
	return str;
}

struct parse_ctx {
	struct fedc_config *cfg;
	struct line_reader *reader;
};

static const struct config_entry *find_entry(const struct fedc_config *cfg, const char *section,
					     const char *key)
{
	for (size_t i = 0; i < cfg->count; i++) {
		if (strcmp(cfg->entries[i].section, section) == 0 && strcmp(cfg->entries[i].key, key) == 0)
			return &cfg->entries[i];
	}
	return NULL;
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct parse_ctx *ctx = user;
	struct fedc_config *cfg = ctx->cfg;
	const struct config_entry *dup;
	struct config_entry *e;
	void *at;

	if (cfg->error)
		return 0;
	dup = find_entry(cfg, section, key);
	if (dup) {
		cfg->error = fedc_fail(FEDC_ERR_CONFIG, "%s:%d: [%s] %s: key given twice (first on line %d)",
				       cfg->path, ctx->reader->line, section, key, dup->line);
		return 0;
	}
	cfg->error = fedc_buf_extend(&cfg->entry_buf, sizeof(*e), &at);
	if (cfg->error == FEDC_ERR_TOO_BIG)
		cfg->error = fedc_fail(FEDC_ERR_CONFIG, "%s:%d: more than %u keys", cfg->path, ctx->reader->line,
				       CONFIG_MAX_ENTRIES);
	if (cfg->error)
		return 0;
	cfg->entries = (struct config_entry *)(void *)cfg->entry_buf.data; /* it may have moved */
	e = at;
	e->section = strdup(section);
	e->key = strdup(key);
	e->value = strdup(value);
	e->line = ctx->reader->line;
	cfg->count++;
	if (!e->section || !e->key || !e->value) {
		cfg->error = FEDC_ERR_NOMEM;
		return 0;
	}
	return 1;
}

static enum fedc_err parse_stream(struct line_reader *reader, const char *name, struct fedc_config **out)
{
	struct fedc_config *cfg = calloc(1, sizeof(*cfg));
	struct parse_ctx ctx = { cfg, reader };
	enum fedc_err rc = FEDC_OK;
	int bad_line;

	*out = NULL;
	if (!cfg)
		return FEDC_ERR_NOMEM;
	fedc_buf_init(&cfg->entry_buf, CONFIG_MAX_ENTRIES * sizeof(struct config_entry));
	cfg->path = strdup(name);
	if (!cfg->path) {
		rc = FEDC_ERR_NOMEM;
		goto out;
	}
	bad_line = ini_parse_stream(reader_next, reader, on_entry, &ctx);
	if (cfg->error) {
		rc = cfg->error;
	} else if (bad_line > 0) {
		rc = fedc_fail(FEDC_ERR_CONFIG,
			       "%s:%d: syntax error (expected [section], key = value, or a ; comment)",
			       name, bad_line);
	} else if (bad_line < 0) {
		rc = FEDC_ERR_NOMEM;
	}
out:
	if (rc)
		fedc_config_free(cfg);
	else
		*out = cfg;
	return rc;
}

enum fedc_err fedc_config_load(const char *path, struct fedc_config **out)
{
	struct line_reader reader = { 0 };
	enum fedc_err rc;

	*out = NULL;
	reader.file = fopen(path, "r");
	if (!reader.file)
		return fedc_fail(FEDC_ERR_IO, "%s: cannot open config: %s", path, strerror(errno));
	rc = parse_stream(&reader, path, out);
	fclose(reader.file);
	return rc;
}

enum fedc_err fedc_config_parse(const char *text, const char *name, struct fedc_config **out)
{
	struct line_reader reader = { .text = text };

	return parse_stream(&reader, name, out);
}

void fedc_config_free(struct fedc_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->count; i++) {
		free(cfg->entries[i].section);
		free(cfg->entries[i].key);
		free(cfg->entries[i].value);
	}
	fedc_buf_free(&cfg->entry_buf);
	free(cfg->path);
	free(cfg);
}

const char *fedc_config_path(const struct fedc_config *cfg)
{
	return cfg->path;
}

bool fedc_config_has(const struct fedc_config *cfg, const char *section, const char *key)
{
	return find_entry(cfg, section, key) != NULL;
}

static enum fedc_err parse_bool(const char *value, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0 || strcasecmp(value, no[i]) == 0) {
			*out = strcasecmp(value, yes[i]) == 0;
			return FEDC_OK;
		}
	}
	return FEDC_ERR_CONFIG;
}

static bool parse_double(const char *value, double min, double max, double *out)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(value, &end);
	if (errno || end == value || *end || !isfinite(v) || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Finds the key; a missing (or empty) required key is an error. *found tells
 * whether the caller has a value to convert. */
static enum fedc_err lookup(const struct fedc_config *cfg, const char *section, const char *key,
			    bool required, const struct config_entry **found)
{
	const struct config_entry *e = find_entry(cfg, section, key);

	*found = NULL;
	if (e && e->value[0]) {
		*found = e;
		return FEDC_OK;
	}
	if (required)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [%s] %s: required key is missing", cfg->path,
				 section, key);
	return FEDC_OK;
}

enum fedc_err fedc_config_str(const struct fedc_config *cfg, const char *section, const char *key,
			      bool required, const char *def, const char **out)
{
	const struct config_entry *e;
	enum fedc_err rc = lookup(cfg, section, key, required, &e);

	if (rc)
		return rc;
	*out = e ? e->value : def;
	return FEDC_OK;
}

enum fedc_err fedc_config_int(const struct fedc_config *cfg, const char *section, const char *key,
			      bool required, int64_t def, int64_t min, int64_t max, int64_t *out)
{
	const struct config_entry *e;
	enum fedc_err rc = lookup(cfg, section, key, required, &e);
	int64_t v;

	if (rc)
		return rc;
	if (!e) {
		*out = def;
		return FEDC_OK;
	}
	if (!fedc_parse_int(e->value, min, max, &v))
		return fedc_fail(FEDC_ERR_CONFIG,
				 "%s:%d: [%s] %s: expected an integer in %lld..%lld, got \"%s\"", cfg->path,
				 e->line, section, key, (long long)min, (long long)max, e->value);
	*out = v;
	return FEDC_OK;
}

enum fedc_err fedc_config_double(const struct fedc_config *cfg, const char *section, const char *key,
				 bool required, double def, double min, double max, double *out)
{
	const struct config_entry *e;
	enum fedc_err rc = lookup(cfg, section, key, required, &e);

	if (rc)
		return rc;
	if (!e) {
		*out = def;
		return FEDC_OK;
	}
	if (!parse_double(e->value, min, max, out))
		return fedc_fail(FEDC_ERR_CONFIG, "%s:%d: [%s] %s: expected a number in %g..%g, got \"%s\"",
				 cfg->path, e->line, section, key, min, max, e->value);
	return FEDC_OK;
}

enum fedc_err fedc_config_bool(const struct fedc_config *cfg, const char *section, const char *key,
			       bool required, bool def, bool *out)
{
	const struct config_entry *e;
	enum fedc_err rc = lookup(cfg, section, key, required, &e);

	if (rc)
		return rc;
	if (!e) {
		*out = def;
		return FEDC_OK;
	}
	if (parse_bool(e->value, out))
		return fedc_fail(FEDC_ERR_CONFIG, "%s:%d: [%s] %s: expected true or false, got \"%s\"", cfg->path,
				 e->line, section, key, e->value);
	return FEDC_OK;
}

static bool in_list(const char *name, const char *const *list)
{
	for (size_t i = 0; list[i]; i++) {
		if (strcmp(name, list[i]) == 0)
			return true;
	}
	return false;
}

enum fedc_err fedc_config_check_keys(const struct fedc_config *cfg, const char *section,
				     const char *const *known)
{
	for (size_t i = 0; i < cfg->count; i++) {
		const struct config_entry *e = &cfg->entries[i];

		if (strcmp(e->section, section) == 0 && !in_list(e->key, known))
			return fedc_fail(FEDC_ERR_CONFIG, "%s:%d: [%s] %s: unknown key", cfg->path, e->line,
					 section, e->key);
	}
	return FEDC_OK;
}

enum fedc_err fedc_config_check_sections(const struct fedc_config *cfg,
					 const char *const *known_sections)
{
	for (size_t i = 0; i < cfg->count; i++) {
		const struct config_entry *e = &cfg->entries[i];

		if (!in_list(e->section, known_sections))
			return fedc_fail(FEDC_ERR_CONFIG, "%s:%d: [%s]: unknown section", cfg->path, e->line,
					 e->section);
	}
	return FEDC_OK;
}

bool fedc_config_entry(const struct fedc_config *cfg, const char *section, unsigned index,
		       const char **key, const char **value)
{
	unsigned seen = 0;

	for (size_t i = 0; i < cfg->count; i++) {
		if (strcmp(cfg->entries[i].section, section) != 0)
			continue;
		if (seen++ == index) {
			*key = cfg->entries[i].key;
			*value = cfg->entries[i].value;
			return true;
		}
	}
	return false;
}

enum fedc_err fedc_config_resolve(const char *config_path, const char *value, char *dst, size_t cap)
{
	char dir_buf[PATH_MAX], cwd[PATH_MAX];
	const char *dir;
	int n;

	if (value[0] == '\0' || value[0] == '/') {
		n = snprintf(dst, cap, "%s", value);
	} else {
		snprintf(dir_buf, sizeof(dir_buf), "%s", config_path);
		dir = dirname(dir_buf);
		if (dir[0] != '/' && getcwd(cwd, sizeof(cwd)))
			n = snprintf(dst, cap, "%s/%s/%s", cwd, dir, value);
		else
			n = snprintf(dst, cap, "%s/%s", dir, value);
	}
	if (n < 0 || (size_t)n >= cap)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: path \"%s\" too long", config_path, value);
	return FEDC_OK;
}

/* ---- Tables -------------------------------------------------------------- */

static bool table_has_section(const struct fedc_config_key *table, size_t n, const char *section)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(table[i].section, section) == 0)
			return true;
	}
	return false;
}

static bool table_has_key(const struct fedc_config_key *table, size_t n, const char *section, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(table[i].section, section) == 0 && strcmp(table[i].key, key) == 0)
			return true;
	}
	return false;
}

enum fedc_err fedc_config_check_table(const struct fedc_config *cfg, const struct fedc_config_key *table,
				      size_t n, const char *const *other_sections)
{
	for (size_t i = 0; i < cfg->count; i++) {
		const struct config_entry *e = &cfg->entries[i];

		if (table_has_section(table, n, e->section)) {
			if (!table_has_key(table, n, e->section, e->key))
				return fedc_fail(FEDC_ERR_CONFIG, "%s:%d: [%s] %s: unknown key", cfg->path, e->line,
						 e->section, e->key);
		} else if (other_sections && !in_list(e->section, other_sections)) {
			return fedc_fail(FEDC_ERR_CONFIG, "%s:%d: [%s]: unknown section", cfg->path, e->line,
					 e->section);
		}
	}
	return FEDC_OK;
}

static const char *type_name(enum fedc_config_type type)
{
	switch (type) {
	case FEDC_CONFIG_STR: return "text";
	case FEDC_CONFIG_PATH: return "path";
	case FEDC_CONFIG_ID: return "id";
	case FEDC_CONFIG_INT: return "integer";
	case FEDC_CONFIG_DOUBLE: return "number";
	case FEDC_CONFIG_BOOL: return "boolean";
	case FEDC_CONFIG_ENUM: return "one of";
	}
	return "?";
}

static bool is_string_type(enum fedc_config_type type)
{
	return type == FEDC_CONFIG_STR || type == FEDC_CONFIG_PATH || type == FEDC_CONFIG_ID ||
	       type == FEDC_CONFIG_ENUM;
}

enum fedc_err fedc_config_set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return FEDC_ERR_NOMEM;
	free(*field);
	*field = copy;
	return FEDC_OK;
}

static enum fedc_err store_string(const struct fedc_config_key *k, const char *where, const char *value, void *out)
{
	char *field = (char *)out + k->offset;

	if (k->cap == 0)
		return fedc_config_set_string((char **)(void *)field, value);
	if (strlen(value) >= k->cap)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: longer than %zu characters", where, k->cap - 1);
	memcpy(field, value, strlen(value) + 1);
	return FEDC_OK;
}

/* Writes "a, b or c" for an ENUM's choices. */
static void choices_text(const char *const *choices, char *dst, size_t cap)
{
	size_t used = 0;

	dst[0] = '\0';
	for (size_t i = 0; choices[i] && used < cap; i++) {
		const char *sep = i == 0 ? "" : choices[i + 1] ? ", " : " or ";
		int n = snprintf(dst + used, cap - used, "%s%s", sep, choices[i]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* Converts `value` (never empty) by the key's type into `out`. `where` names
 * the value's origin for messages. */
static enum fedc_err convert(const struct fedc_config_key *k, const char *where, const char *value, void *out)
{
	void *field = (char *)out + k->offset;
	bool stored = k->offset != FEDC_CONFIG_UNSTORED;
	int64_t i;
	double d;
	bool b;

	switch (k->type) {
	case FEDC_CONFIG_INT:
		if (!fedc_parse_int(value, k->min, k->max, &i))
			return fedc_fail(FEDC_ERR_CONFIG, "%s: expected an integer in %lld..%lld, got \"%s\"", where,
					 (long long)k->min, (long long)k->max, value);
		if (stored && k->cap == sizeof(uint32_t)) {
			uint32_t narrow = (uint32_t)i; /* the table's range fits (see config.h) */

			memcpy(field, &narrow, sizeof(narrow));
		} else if (stored) {
			memcpy(field, &i, sizeof(i));
		}
		return FEDC_OK;
	case FEDC_CONFIG_DOUBLE:
		if (!parse_double(value, k->dmin, k->dmax, &d))
			return fedc_fail(FEDC_ERR_CONFIG, "%s: expected a number in %g..%g, got \"%s\"", where, k->dmin,
					 k->dmax, value);
		if (stored)
			memcpy(field, &d, sizeof(d));
		return FEDC_OK;
	case FEDC_CONFIG_BOOL:
		if (parse_bool(value, &b))
			return fedc_fail(FEDC_ERR_CONFIG, "%s: expected true or false, got \"%s\"", where, value);
		if (stored)
			memcpy(field, &b, sizeof(b));
		return FEDC_OK;
	case FEDC_CONFIG_ID:
		if (!fedc_id_valid(value))
			return fedc_fail(FEDC_ERR_CONFIG,
					 "%s: \"%s\" is not an id (1 to %d of A-Z a-z 0-9 . _ -, not starting with '.' or '-')",
					 where, value, FEDC_MAX_ID_LEN);
		break;
	case FEDC_CONFIG_ENUM:
		if (!in_list(value, k->choices)) {
			char list[256];

			choices_text(k->choices, list, sizeof(list));
			return fedc_fail(FEDC_ERR_CONFIG, "%s: expected %s, got \"%s\"", where, list, value);
		}
		break;
	case FEDC_CONFIG_STR:
	case FEDC_CONFIG_PATH:
		break;
	}
	return stored ? store_string(k, where, value, out) : FEDC_OK;
}

/* A value from the file or a default: paths are taken relative to the file. */
static enum fedc_err convert_in_file(const struct fedc_config *cfg, const struct fedc_config_key *k,
				     const char *where, const char *value, void *out)
{
	char resolved[PATH_MAX];

	if (k->type != FEDC_CONFIG_PATH || !cfg || !value[0])
		return convert(k, where, value, out);
	if (fedc_config_resolve(cfg->path, value, resolved, sizeof(resolved)) != FEDC_OK)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: path too long", where);
	return convert(k, where, resolved, out);
}

enum fedc_err fedc_config_read_key(const struct fedc_config *cfg, const struct fedc_config_key *k,
				   const char *given, const char *given_name, void *out)
{
	const struct config_entry *e = cfg ? find_entry(cfg, k->section, k->key) : NULL;
	const char *def = k->def ? k->def : "";
	char where[512];

	if (given) {
		if (k->required && !given[0])
			return fedc_fail(FEDC_ERR_CONFIG, "%s: must not be empty", given_name);
		/* An empty number, boolean or choice is refused by convert(). */
		if (given[0] || !is_string_type(k->type) || k->type == FEDC_CONFIG_ENUM)
			return convert(k, given_name, given, out);
		return k->offset == FEDC_CONFIG_UNSTORED ? FEDC_OK : store_string(k, given_name, "", out);
	}
	if (e && e->value[0]) {
		snprintf(where, sizeof(where), "%s:%d: [%s] %s", cfg->path, e->line, k->section, k->key);
		return convert_in_file(cfg, k, where, e->value, out);
	}
	if (cfg)
		snprintf(where, sizeof(where), "%s: [%s] %s", cfg->path, k->section, k->key);
	else
		snprintf(where, sizeof(where), "[%s] %s", k->section, k->key);
	if (k->required)
		return fedc_fail(FEDC_ERR_CONFIG, "%s: required key is missing", where);
	if (def[0])
		return convert_in_file(cfg, k, where, def, out);
	if (is_string_type(k->type) && k->offset != FEDC_CONFIG_UNSTORED)
		return store_string(k, where, "", out);
	return FEDC_OK; /* a number without a default keeps the struct's zero */
}

enum fedc_err fedc_config_read_table(const struct fedc_config *cfg, const struct fedc_config_key *table,
				     size_t n, void *out)
{
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; !rc && i < n; i++)
		rc = fedc_config_read_key(cfg, &table[i], NULL, NULL, out);
	return rc;
}

void fedc_config_free_table(const struct fedc_config_key *table, size_t n, void *out)
{
	for (size_t i = 0; i < n; i++) {
		char **field;

		if (!is_string_type(table[i].type) || table[i].cap || table[i].offset == FEDC_CONFIG_UNSTORED)
			continue;
		field = (char **)(void *)((char *)out + table[i].offset);
		free(*field);
		*field = NULL;
	}
}

static const char *given_value(const struct fedc_config_key *k, const struct fedc_config_value *given,
			       size_t n_given)
{
	for (size_t i = 0; i < n_given; i++) {
		if (strcmp(given[i].section, k->section) == 0 && strcmp(given[i].key, k->key) == 0)
			return given[i].value;
	}
	return NULL;
}

/* Writes `text` as "; " comment lines of at most about 78 columns (inih
 * reads lines of limited length). */
static void write_comment(FILE *to, const char *text)
{
	const size_t width = 76;

	while (*text) {
		size_t len = strlen(text), cut = len;

		if (len > width) {
			cut = width;
			while (cut > 0 && text[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = width;
		}
		fprintf(to, "; %.*s\n", (int)cut, text);
		text += cut;
		while (*text == ' ')
			text++;
	}
}

enum fedc_err fedc_config_write_template(FILE *to, const char *title, const struct fedc_config_key *table,
					 size_t n, const struct fedc_config_value *given, size_t n_given)
{
	const char *section = NULL;

	fprintf(to, "; %s\n", title);
	for (size_t i = 0; i < n; i++) {
		const struct fedc_config_key *k = &table[i];
		const char *value = given_value(k, given, n_given);

		if (!section || strcmp(section, k->section) != 0) {
			section = k->section;
			fprintf(to, "\n[%s]\n", section);
		}
		if (!value && k->def && k->def[0])
			value = k->def;
		write_comment(to, k->help);
		if (value)
			fprintf(to, "%s = %s\n", k->key, value);
		else
			fprintf(to, ";%s =\n", k->key);
	}
	return ferror(to) ? fedc_fail(FEDC_ERR_IO, "cannot write the config template") : FEDC_OK;
}

/* The "type and range" cell of a key. */
static void describe_type(const struct fedc_config_key *k, char *dst, size_t cap)
{
	char list[256];

	switch (k->type) {
	case FEDC_CONFIG_INT:
		snprintf(dst, cap, "integer, %lld..%lld", (long long)k->min, (long long)k->max);
		break;
	case FEDC_CONFIG_DOUBLE:
		snprintf(dst, cap, "number, %g..%g", k->dmin, k->dmax);
		break;
	case FEDC_CONFIG_ENUM:
		list[0] = '\0';
		for (size_t i = 0, used = 0; k->choices[i] && used < sizeof(list); i++) {
			int n = snprintf(list + used, sizeof(list) - used, "%s`%s`", i ? ", " : "", k->choices[i]);

			used += n > 0 ? (size_t)n : 0;
		}
		snprintf(dst, cap, "%s", list);
		break;
	default:
		snprintf(dst, cap, "%s", type_name(k->type));
		break;
	}
}

enum fedc_err fedc_config_write_markdown(FILE *to, const struct fedc_config_key *table, size_t n)
{
	char type[320], def[160], flag[80];
	bool flags = false;

	for (size_t i = 0; i < n; i++)
		flags = flags || table[i].flag;
	fprintf(to, "| section | key |%s type | default | meaning |\n| --- | --- |%s --- | --- | --- |\n",
		flags ? " flag |" : "", flags ? " --- |" : "");
	for (size_t i = 0; i < n; i++) {
		const struct fedc_config_key *k = &table[i];

		describe_type(k, type, sizeof(type));
		if (k->required)
			snprintf(def, sizeof(def), "*(required)*");
		else if (k->def && k->def[0])
			snprintf(def, sizeof(def), "`%s`", k->def);
		else
			snprintf(def, sizeof(def), "empty");
		if (!flags)
			flag[0] = '\0';
		else if (k->flag)
			snprintf(flag, sizeof(flag), " `%s` |", k->flag);
		else
			snprintf(flag, sizeof(flag), " |");
		fprintf(to, "| `[%s]` | `%s` |%s %s | %s | %s |\n", k->section, k->key, flag, type, def, k->help);
	}
	return ferror(to) ? fedc_fail(FEDC_ERR_IO, "cannot write the config reference") : FEDC_OK;
}

enum fedc_err fedc_config_check_transport(const struct fedc_config *cfg, const char *bsec, const char *bpre,
					  const char *rsec, const char *rpre, const char *cert_file,
					  const char *key_file, const char *token, const char *token_file)
{
	if (!cert_file[0] != !key_file[0])
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [%s] %scert_file and %skey_file go together", cfg->path, bsec,
				 bpre, bpre);
	if (token[0] && token_file[0])
		return fedc_fail(FEDC_ERR_CONFIG, "%s: [%s] %stoken and %stoken_file: give one, not both", cfg->path,
				 rsec, rpre, rpre);
	return FEDC_OK;
}
