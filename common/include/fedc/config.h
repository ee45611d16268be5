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
#include <stdio.h>

#include "fedc/err.h"
#include "fedc/num.h"

struct fedc_config; /* opaque */

/* Parses `path`. Returns FEDC_ERR_IO (unreadable), FEDC_ERR_CONFIG (syntax
 * error, duplicate key; detail has file:line), FEDC_ERR_NOMEM. The caller owns
 * *out and frees it with fedc_config_free(). */
FEDC_NODISCARD
enum fedc_err fedc_config_load(const char *path, struct fedc_config **out);
/* Same, from a string; `name` stands for the file name in messages. */
FEDC_NODISCARD
enum fedc_err fedc_config_parse(const char *text, const char *name, struct fedc_config **out);
void fedc_config_free(struct fedc_config *cfg);

const char *fedc_config_path(const struct fedc_config *cfg);
bool fedc_config_has(const struct fedc_config *cfg, const char *section, const char *key);

/* Typed getters. `required` true: a missing key is FEDC_ERR_CONFIG; false: *out
 * gets `def`. A present value that does not parse or is out of [min, max] is
 * FEDC_ERR_CONFIG with file:line and key in the detail. Strings returned are
 * owned by cfg. Empty strings count as missing for required keys. */
FEDC_NODISCARD
enum fedc_err fedc_config_str(const struct fedc_config *cfg, const char *section, const char *key,
			      bool required, const char *def, const char **out);
FEDC_NODISCARD
enum fedc_err fedc_config_int(const struct fedc_config *cfg, const char *section, const char *key,
			      bool required, int64_t def, int64_t min, int64_t max, int64_t *out);
FEDC_NODISCARD
enum fedc_err fedc_config_double(const struct fedc_config *cfg, const char *section, const char *key,
				 bool required, double def, double min, double max, double *out);
FEDC_NODISCARD
enum fedc_err fedc_config_bool(const struct fedc_config *cfg, const char *section, const char *key,
			       bool required, bool def, bool *out);

/* Fails with FEDC_ERR_CONFIG naming the first key of `section` that is not in
 * the NULL-terminated list `known`, or the first section not in
 * `known_sections` (NULL-terminated) when that list is given. Catches typos. */
FEDC_NODISCARD
enum fedc_err fedc_config_check_keys(const struct fedc_config *cfg, const char *section,
				     const char *const *known);
FEDC_NODISCARD
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
FEDC_NODISCARD
enum fedc_err fedc_config_resolve(const char *config_path, const char *value, char *dst, size_t cap);

/* ---- Config files described by tables ------------------------------------
 *
 * Each config file is described once by an array of struct fedc_config_key
 * (model: redis's static_configs[]). The one table drives loading (type,
 * default, range, required), the unknown-key check, the template a command
 * writes (fedc_config_write_template) and the reference table in docs/
 * (fedc_config_write_markdown, checked by tests/unit/test_config_doc.c). */

enum fedc_config_type {
	FEDC_CONFIG_STR,    /* text; stored as char * (owned) or char[cap] */
	FEDC_CONFIG_PATH,   /* a path; a relative one is taken relative to the file's directory */
	FEDC_CONFIG_ID,     /* an id (fedc_id_valid); stored like STR */
	FEDC_CONFIG_INT,    /* through fedc_parse_int, in [min, max]; int64_t, or uint32_t when cap is 4 */
	FEDC_CONFIG_DOUBLE, /* double, finite, in [dmin, dmax] */
	FEDC_CONFIG_BOOL,   /* bool: true/false, yes/no, on/off, 1/0 */
	FEDC_CONFIG_ENUM,   /* one of `choices`; stored like STR, the owner converts it */
};

/* `offset` of a key whose value the owner reads itself (it is still checked,
 * documented and written into templates). */
#define FEDC_CONFIG_UNSTORED ((size_t)-1)

struct fedc_config_key {
	const char *section;
	const char *key;
	enum fedc_config_type type;
	bool required;            /* missing or empty: an error naming the key */
	const char *def;          /* the default, written as in the file; NULL or "": none */
	int64_t min, max;         /* INT */
	double dmin, dmax;        /* DOUBLE */
	const char *const *choices; /* ENUM: NULL-terminated */
	size_t offset;            /* where the value goes in the owner's struct, or FEDC_CONFIG_UNSTORED */
	size_t cap;               /* STR, PATH, ID, ENUM: 0 = a char * the struct owns; else a char[cap].
				   * INT: 0 = int64_t; 4 = uint32_t (then 0 <= min, max <= UINT32_MAX) */
	const char *help;         /* one sentence for docs and templates */
	const char *flag;         /* the command-line flag that overrides it, or NULL */
};

/* Checks that every key of the file is in `table` (or in a section listed in
 * `other_sections`, whose keys the owner checks). Sections neither in the
 * table nor in `other_sections` are an error, unless `other_sections` is NULL
 * (then only the table's sections are checked). FEDC_ERR_CONFIG naming the
 * file, line and key. */
FEDC_NODISCARD
enum fedc_err fedc_config_check_table(const struct fedc_config *cfg, const struct fedc_config_key *table,
				      size_t n, const char *const *other_sections);

/* Reads one key into `out` + k->offset: `given` (a command-line value, taken
 * as is) if not NULL, else the file's value (cfg may be NULL: no file), else
 * the default. Every error names the key (and the file and line when the value
 * came from the file; `given_name`, e.g. "--port", when it came from there).
 * FEDC_ERR_CONFIG, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err fedc_config_read_key(const struct fedc_config *cfg, const struct fedc_config_key *k,
				   const char *given, const char *given_name, void *out);
/* fedc_config_read_key for every key of the table, from the file. */
FEDC_NODISCARD
enum fedc_err fedc_config_read_table(const struct fedc_config *cfg, const struct fedc_config_key *table,
				     size_t n, void *out);
/* Frees the char * values the table's keys stored in `out` and sets them to
 * NULL (safe on a zeroed struct, and twice). */
void fedc_config_free_table(const struct fedc_config_key *table, size_t n, void *out);

/* Replaces the owned string *field with a copy of `value` (the old one is
 * freed). FEDC_ERR_NOMEM leaves *field as it was. */
FEDC_NODISCARD
enum fedc_err fedc_config_set_string(char **field, const char *value);

/* A (section, key, value) that a template writes instead of the default. */
struct fedc_config_value {
	const char *section, *key, *value;
};

/* Writes an INI file with every key of the table, section by section, each
 * after a comment with its help text: the value from `given` (n_given
 * entries) if there, else its default; a key with neither is written
 * commented out. `title` is the first comment line. FEDC_ERR_IO if a write
 * fails. */
FEDC_NODISCARD
enum fedc_err fedc_config_write_template(FILE *to, const char *title, const struct fedc_config_key *table,
					 size_t n, const struct fedc_config_value *given, size_t n_given);

/* Writes the table as Markdown, one table per section: key, type and range,
 * default, meaning. The docs hold this text between generated markers.
 * FEDC_ERR_IO if a write fails. */
FEDC_NODISCARD
enum fedc_err fedc_config_write_markdown(FILE *to, const struct fedc_config_key *table, size_t n);

/* The broker and repository keys that the node ([broker] url ..., [repository]
 * url ...) and the researcher ([network] broker_url ..., repository_url ...)
 * share: the same rows, named by section and key prefix, in one place. `type`
 * is the owner's struct, which has the char * fields broker_url,
 * broker_ca_file, broker_cert_file, broker_key_file, broker_username,
 * broker_password_file, repository_url, repository_token,
 * repository_token_file, repository_ca_file and the int64_t
 * repository_timeout_s. `who` ("node") goes into the help texts; with
 * `urls_required` false the URLs default to `broker_def` and `repo_def`.
 * Check the rules between these keys with fedc_config_check_transport(). */
#define FEDC_CONFIG_TRANSPORT_KEYS(type, bsec, bpre, rsec, rpre, who, urls_required, broker_def, repo_def, timeout_def) \
	{ bsec, bpre "url", FEDC_CONFIG_STR, urls_required, broker_def, 0, 0, 0, 0, NULL, offsetof(type, broker_url), 0, \
	  "MQTT broker: `ssl://host:8883` (TLS), or `tcp://host:1883` on a closed test network.", NULL }, \
	{ bsec, bpre "ca_file", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, offsetof(type, broker_ca_file), 0, \
	  "CA certificate that signed the broker's certificate; the broker's certificate and host name are " \
	  "always verified.", NULL }, \
	{ bsec, bpre "cert_file", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, offsetof(type, broker_cert_file), 0, \
	  "This " who "'s client certificate (PEM), given with `" bpre "key_file`.", NULL }, \
	{ bsec, bpre "key_file", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, offsetof(type, broker_key_file), 0, \
	  "The key of `" bpre "cert_file` (both or neither).", NULL }, \
	{ bsec, bpre "username", FEDC_CONFIG_STR, false, NULL, 0, 0, 0, 0, NULL, offsetof(type, broker_username), 0, \
	  "User name at the broker (fedc-admin: the " who " id).", NULL }, \
	{ bsec, bpre "password_file", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, \
	  offsetof(type, broker_password_file), 0, "File holding the broker password (mode 0600).", NULL }, \
	{ rsec, rpre "url", FEDC_CONFIG_STR, urls_required, repo_def, 0, 0, 0, 0, NULL, offsetof(type, repository_url), 0, \
	  "Blob repository (`fedc-repository`): `https://host:8443`, or `http://` on a closed test network; or an " \
	  "S3 bucket: `s3://host:port/bucket` (https; `s3+http://` on a closed test network; `?region=NAME` if " \
	  "the store checks it), see docs/repository.md.", NULL }, \
	{ rsec, rpre "token", FEDC_CONFIG_STR, false, NULL, 0, 0, 0, 0, NULL, offsetof(type, repository_token), 0, \
	  "This " who "'s bearer token itself, instead of `" rpre "token_file` (not both); keep the file mode " \
	  "0600 then. For an S3 bucket: this " who "'s S3 keys, `ACCESS_KEY:SECRET_KEY`.", NULL }, \
	{ rsec, rpre "token_file", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, \
	  offsetof(type, repository_token_file), 0, \
	  "File holding this " who "'s bearer token (mode 0600); for an S3 bucket, its `ACCESS_KEY:SECRET_KEY`.", \
	  NULL }, \
	{ rsec, rpre "ca_file", FEDC_CONFIG_PATH, false, NULL, 0, 0, 0, 0, NULL, offsetof(type, repository_ca_file), 0, \
	  "CA certificate that signed the repository's certificate.", NULL }, \
	{ rsec, rpre "timeout_s", FEDC_CONFIG_INT, false, timeout_def, 1, 3600, 0, 0, NULL, \
	  offsetof(type, repository_timeout_s), 0, \
	  "Timeout of one repository request (a transfer that stalls this long fails), in seconds.", NULL }

/* The rules between the keys of FEDC_CONFIG_TRANSPORT_KEYS, given their loaded
 * values: cert_file and key_file go together, token and token_file exclude
 * each other. FEDC_ERR_CONFIG naming the file and both keys. */
FEDC_NODISCARD
enum fedc_err fedc_config_check_transport(const struct fedc_config *cfg, const char *bsec, const char *bpre,
					  const char *rsec, const char *rpre, const char *cert_file,
					  const char *key_file, const char *token, const char *token_file);

#endif
