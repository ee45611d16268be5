/* INI configuration files (libinih underneath), with typed, validated getters.
 *
 * Every error names the file, the line (when the key is present) and the key:
 *   node.ini:7: [node] port: expected an integer in 1..65535, got "80a"
 *   node.ini: [node] broker_url: required key is missing
 * Sections and keys are case-sensitive. A key given twice is an error. */
#ifndef FEDC_CONFIG_H
#define FEDC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/num.h"

struct fedc_config; /* opaque */

/* Parses `path`. Returns FEDC_ERR_IO (unreadable), FEDC_ERR_CONFIG (syntax
 * error, duplicate key; detail has file:line), FEDC_ERR_NOMEM. The caller owns
 * *out and frees it with fedc_config_free(). */
enum fedc_err fedc_config_load(const char *path, struct fedc_config **out);
/* Same, from a string; `name` stands for the file name in messages. */
enum fedc_err fedc_config_parse(const char *text, const char *name, struct fedc_config **out);
void fedc_config_free(struct fedc_config *cfg);

const char *fedc_config_path(const struct fedc_config *cfg);
bool fedc_config_has(const struct fedc_config *cfg, const char *section, const char *key);

/* Typed getters. `required` true: a missing key is FEDC_ERR_CONFIG; false: *out
 * gets `def`. A present value that does not parse or is out of [min, max] is
 * FEDC_ERR_CONFIG with file:line and key in the detail. Strings returned are
 * owned by cfg. Empty strings count as missing for required keys. */
enum fedc_err fedc_config_str(const struct fedc_config *cfg, const char *section, const char *key,
			      bool required, const char *def, const char **out);
enum fedc_err fedc_config_int(const struct fedc_config *cfg, const char *section, const char *key,
			      bool required, int64_t def, int64_t min, int64_t max, int64_t *out);
enum fedc_err fedc_config_double(const struct fedc_config *cfg, const char *section, const char *key,
				 bool required, double def, double min, double max, double *out);
enum fedc_err fedc_config_bool(const struct fedc_config *cfg, const char *section, const char *key,
			       bool required, bool def, bool *out);

/* Fails with FEDC_ERR_CONFIG naming the first key of `section` that is not in
 * the NULL-terminated list `known`, or the first section not in
 * `known_sections` (NULL-terminated) when that list is given. Catches typos. */
enum fedc_err fedc_config_check_keys(const struct fedc_config *cfg, const char *section,
				     const char *const *known);
enum fedc_err fedc_config_check_sections(const struct fedc_config *cfg,
					 const char *const *known_sections);

/* Iterates over the keys of one section in file order: returns false past the
 * end. *key and *value are owned by cfg. */
bool fedc_config_entry(const struct fedc_config *cfg, const char *section, unsigned index,
		       const char **key, const char **value);

/* fedc_parse_int (config values and command-line flags alike) lives in
 * fedc/num.h, included above. */

/* Makes `value`, a path written in the file at `config_path`, absolute: a
 * relative one is taken relative to the file's directory (so a config works
 * whatever the working directory). "" stays "". FEDC_ERR_CONFIG if too long. */
enum fedc_err fedc_config_resolve(const char *config_path, const char *value, char *dst, size_t cap);
/* A path-valued key, resolved as fedc_config_resolve does ("" if absent and
 * not required). */
enum fedc_err fedc_config_path_key(const struct fedc_config *cfg, const char *section, const char *key,
				   bool required, char *dst, size_t cap);

#endif
