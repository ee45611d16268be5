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

struct config_entry {
	char *section;
	char *key;
	char *value;
	int line;
};

struct fedc_config {
	char *path;
	struct config_entry *entries;
	size_t count, cap;
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

	if (cfg->error)
		return 0;
	dup = find_entry(cfg, section, key);
	if (dup) {
		cfg->error = fedc_fail(FEDC_ERR_CONFIG, "%s:%d: [%s] %s: key given twice (first on line %d)",
				       cfg->path, ctx->reader->line, section, key, dup->line);
		return 0;
	}
	if (cfg->count == cfg->cap) {
		size_t cap = cfg->cap ? cfg->cap * 2 : 16;
		struct config_entry *grown = realloc(cfg->entries, cap * sizeof(*grown));

		if (!grown) {
			cfg->error = FEDC_ERR_NOMEM;
			return 0;
		}
		cfg->entries = grown;
		cfg->cap = cap;
	}
	e = &cfg->entries[cfg->count];
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
	free(cfg->entries);
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
	char *end = NULL;
	double v;

	if (rc)
		return rc;
	if (!e) {
		*out = def;
		return FEDC_OK;
	}
	errno = 0;
	v = strtod(e->value, &end);
	if (errno || end == e->value || *end || !isfinite(v) || v < min || v > max)
		return fedc_fail(FEDC_ERR_CONFIG, "%s:%d: [%s] %s: expected a number in %g..%g, got \"%s\"",
				 cfg->path, e->line, section, key, min, max, e->value);
	*out = v;
	return FEDC_OK;
}

enum fedc_err fedc_config_bool(const struct fedc_config *cfg, const char *section, const char *key,
			       bool required, bool def, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	const struct config_entry *e;
	enum fedc_err rc = lookup(cfg, section, key, required, &e);

	if (rc)
		return rc;
	if (!e) {
		*out = def;
		return FEDC_OK;
	}
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(e->value, yes[i]) == 0 || strcasecmp(e->value, no[i]) == 0) {
			*out = strcasecmp(e->value, yes[i]) == 0;
			return FEDC_OK;
		}
	}
	return fedc_fail(FEDC_ERR_CONFIG, "%s:%d: [%s] %s: expected true or false, got \"%s\"", cfg->path,
			 e->line, section, key, e->value);
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

enum fedc_err fedc_config_path_key(const struct fedc_config *cfg, const char *section, const char *key,
				   bool required, char *dst, size_t cap)
{
	const char *value = NULL;
	enum fedc_err rc = fedc_config_str(cfg, section, key, required, "", &value);

	if (!rc && fedc_config_resolve(fedc_config_path(cfg), value ? value : "", dst, cap) != FEDC_OK)
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [%s] %s: path too long", fedc_config_path(cfg), section, key);
	return rc;
}
