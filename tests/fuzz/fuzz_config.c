/* Fuzz target: fedc_config_parse() and the typed getters (fedc/config.h).
 *
 * The API cannot list sections, so the harness finds candidate section
 * names in the input itself ("[name]" at the start of a line, as inih reads
 * them) and adds "" for keys before any section. A name it gets wrong only
 * costs coverage. For every key fedc_config_entry() yields, the getters must
 * agree with it, and check_keys() over the keys it yielded must pass. */
#include <stdlib.h>
#include <string.h>

#include "fedc/config.h"
#include "fuzz.h"

#define MAX_SECTIONS 32
#define MAX_SECTION_LEN 64
#define MAX_KEYS 256

struct sections {
	unsigned n;
	char name[MAX_SECTIONS][MAX_SECTION_LEN];
};

static void add_section(struct sections *s, const char *p, size_t len)
{
	if (s->n == MAX_SECTIONS || len >= MAX_SECTION_LEN)
		return;
	for (unsigned i = 0; i < s->n; i++) {
		if (strlen(s->name[i]) == len && memcmp(s->name[i], p, len) == 0)
			return;
	}
	memcpy(s->name[s->n], p, len);
	s->name[s->n][len] = '\0';
	s->n++;
}

/* "[name]" after optional blanks at the start of a line. */
static void section_on_line(const char *line, struct sections *s)
{
	const char *end;

	while (*line == ' ' || *line == '\t')
		line++;
	if (*line != '[')
		return;
	end = strpbrk(line + 1, "]\n");
	if (end && *end == ']')
		add_section(s, line + 1, (size_t)(end - line - 1));
}

static void find_sections(const char *text, struct sections *s)
{
	add_section(s, "", 0);
	for (const char *line = text; line; ) {
		section_on_line(line, s);
		line = strchr(line, '\n');
		if (line)
			line++;
	}
}

/* Every getter on one key; the string getter must hand back the entry's own
 * value, and a number read must be within the bounds asked for. */
static void exercise_key(const struct fedc_config *cfg, const char *section, const char *key,
			 const char *value)
{
	const char *s = NULL;
	int64_t i = 0;
	double d = 0;
	bool b = false;
	enum fedc_err rc;

	fuzz_require(fedc_config_has(cfg, section, key), "has() must see a key entry() yields");
	rc = fedc_config_str(cfg, section, key, true, NULL, &s);
	fuzz_require(value[0] ? rc == FEDC_OK && s == value : rc == FEDC_ERR_CONFIG,
		     "str() must return the entry's value, and refuse an empty required one");
	if (fedc_config_int(cfg, section, key, false, 7, -1000, 1000, &i) == FEDC_OK)
		fuzz_require(i >= -1000 && i <= 1000, "int() must stay within its bounds");
	/* any answer is right for any text: this call is only looked at for crashes */
	fedc_ignore(fedc_config_int(cfg, section, key, true, 0, INT64_MIN, INT64_MAX, &i));
	if (fedc_config_double(cfg, section, key, false, 0.5, -1.0, 1.0, &d) == FEDC_OK)
		fuzz_require(d >= -1.0 && d <= 1.0, "double() must stay within its bounds");
	fedc_ignore(fedc_config_bool(cfg, section, key, false, true, &b)); /* as above */
}

/* Walks one section's keys. */
static void exercise_section(const struct fedc_config *cfg, const char *section)
{
	const char *known[MAX_KEYS + 1];
	const char *none[] = { NULL };
	const char *key, *value;
	unsigned n = 0;

	while (fedc_config_entry(cfg, section, n, &key, &value)) {
		exercise_key(cfg, section, key, value);
		if (n < MAX_KEYS)
			known[n] = key;
		n++;
	}
	if (n <= MAX_KEYS) {
		known[n] = NULL;
		fuzz_require(fedc_config_check_keys(cfg, section, known) == FEDC_OK,
			     "check_keys() must accept the keys entry() yields");
	}
	fuzz_require((fedc_config_check_keys(cfg, section, none) == FEDC_OK) == (n == 0),
		     "check_keys() with no known key must refuse any key");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sections found;
	struct fedc_config *cfg = NULL;
	const char *names[MAX_SECTIONS + 1];
	const char *unused = NULL;
	char *text = malloc(size + 1);

	fuzz_require(text != NULL, "out of memory");
	memcpy(text, data, size);
	text[size] = '\0';
	if (fedc_config_parse(text, "fuzz.ini", &cfg) == FEDC_OK) {
		fuzz_require(strcmp(fedc_config_path(cfg), "fuzz.ini") == 0, "path() must be the name given");
		memset(&found, 0, sizeof(found));
		find_sections(text, &found);
		for (unsigned i = 0; i < found.n; i++) {
			names[i] = found.name[i];
			exercise_section(cfg, found.name[i]);
		}
		names[found.n] = NULL;
		fedc_ignore(fedc_config_check_sections(cfg, names)); /* as above */
		fuzz_require(fedc_config_str(cfg, "no such section", "no such key", false, "d", &unused) ==
			     FEDC_OK && strcmp(unused, "d") == 0, "a missing optional key must give its default");
	}
	fedc_config_free(cfg);
	free(text);
	return 0;
}
