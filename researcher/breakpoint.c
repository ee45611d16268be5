/* Breakpoints (see breakpoint.h). */
#include "breakpoint.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/crash.h"
#include "fedc/fs.h"
#include "fedc/num.h"

#define STATE_FILE "breakpoint.json"
#define GLOBAL_FILE "global.params"
#define AGGREGATOR_FILE "aggregator.state"

static const char *const history_names[HISTORY_FILES] = { "history.jsonl", "rounds.csv", "nodes.csv" };

static enum fedc_err path_in(char *out, size_t cap, const char *dir, const char *name)
{
	if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap)
		return fedc_fail(FEDC_ERR_INVAL, "path too long: %s/%s", dir, name);
	return FEDC_OK;
}

static enum fedc_err round_dir(char *out, size_t cap, const char *output_dir, const char *prefix, uint32_t round,
			       const char *suffix)
{
	if ((size_t)snprintf(out, cap, "%s/breakpoints/%sround-%06" PRIu32 "%s", output_dir, prefix, round, suffix) >=
	    cap)
		return fedc_fail(FEDC_ERR_INVAL, "output directory path too long");
	return FEDC_OK;
}

/* ---- saving ---- */

/* "0012": one digit per tensor (enum fedc_param_role). */
static json_t *roles_to_json(const struct breakpoint *bp)
{
	char text[FEDC_MAX_TENSORS + 1];

	for (size_t i = 0; i < bp->n_roles; i++)
		text[i] = (char)('0' + bp->roles[i]);
	text[bp->n_roles] = '\0';
	return json_string(text);
}

/* keep_best's choice: the value as JSON writes it (17 digits) reads back
 * to the same double, so a resumed run compares exactly as the first did. */
static json_t *best_to_json(const struct best_model *best)
{
	return json_pack("{s:I, s:f}", "round", (json_int_t)best->round, "value", best->value);
}

static json_t *to_json(const struct breakpoint *bp)
{
	json_t *history = json_object(), *rng = json_array(), *root;

	for (size_t i = 0; i < HISTORY_FILES; i++)
		json_object_set_new(history, history_names[i], json_integer((json_int_t)bp->history_sizes[i]));
	/* u64 as strings: JSON numbers lose bits above 2^53 in many readers */
	for (size_t i = 0; i < 4; i++) {
		char text[24];

		snprintf(text, sizeof(text), "%" PRIu64, bp->rng[i]);
		json_array_append_new(rng, json_string(text));
	}
	root = json_pack("{s:i, s:i, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:b, s:s}", "format",
			 BREAKPOINT_FORMAT, "round", (json_int_t)bp->round, "rounds", (json_int_t)bp->rounds, "job_id",
			 bp->job_id, "plan_digest", bp->plan_digest, "global_digest", bp->global_digest,
			 "experiment_path", bp->experiment_path, "experiment_digest", bp->experiment_digest,
			 "network_path", bp->network_path, "network_digest", bp->network_digest, "rng", rng,
			 "history_sizes", history, "has_aggregator_state", bp->has_aggregator_state, "aggregator_digest",
			 bp->aggregator_digest);
	if (root)
		json_object_set_new(root, "param_roles", roles_to_json(bp));
	if (root && bp->best.have)
		json_object_set_new(root, "best", best_to_json(&bp->best));
	return root;
}

/* Removes a directory left half-built by a crash (files only, no subdirs). */
static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[BREAKPOINT_PATH_MAX + 300];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
			(void)unlink(path);
	}
	closedir(d);
	(void)rmdir(dir);
}

static enum fedc_err write_state(const char *dir, const struct breakpoint *bp)
{
	char path[BREAKPOINT_PATH_MAX + 300];
	json_t *root = to_json(bp);
	char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	enum fedc_err rc = text ? path_in(path, sizeof(path), dir, STATE_FILE) : FEDC_ERR_NOMEM;

	if (!rc)
		rc = fedc_write_atomic(path, text, strlen(text));
	free(text);
	json_decref(root);
	return rc;
}

static enum fedc_err put_file(const char *dir, const char *name, const char *src)
{
	char path[BREAKPOINT_PATH_MAX + 300];
	enum fedc_err rc = path_in(path, sizeof(path), dir, name);

	return rc ? rc : fedc_link_or_copy(src, path);
}

enum fedc_err breakpoint__save(const char *output_dir, const struct breakpoint *bp, const char *global_path,
			       const char *aggregator_state_path)
{
	char tmp[BREAKPOINT_PATH_MAX], final[BREAKPOINT_PATH_MAX], parent[BREAKPOINT_PATH_MAX];
	enum fedc_err rc;

	rc = round_dir(tmp, sizeof(tmp), output_dir, ".", bp->round, ".tmp");
	if (!rc)
		rc = round_dir(final, sizeof(final), output_dir, "", bp->round, "");
	if (!rc)
		rc = path_in(parent, sizeof(parent), output_dir, "breakpoints");
	if (rc)
		return rc;
	remove_tree(tmp);
	rc = fedc_mkdir_p(tmp, 0755);
	if (!rc)
		rc = put_file(tmp, GLOBAL_FILE, global_path);
	if (!rc && bp->has_aggregator_state)
		rc = put_file(tmp, AGGREGATOR_FILE, aggregator_state_path);
	fedc_crash_point("breakpoint-write");
	if (!rc)
		rc = write_state(tmp, bp); /* fsyncs the directory too */
	if (rc)
		return rc;
	remove_tree(final); /* a round redone after a resume replaces its old breakpoint */
	if (rename(tmp, final) != 0)
		return fedc_fail(FEDC_ERR_IO, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
	return fedc_fsync_dir(parent);
}

/* ---- finding and loading ---- */

enum fedc_err breakpoint__latest(const char *output_dir, uint32_t *round)
{
	char dir[BREAKPOINT_PATH_MAX];
	enum fedc_err rc = path_in(dir, sizeof(dir), output_dir, "breakpoints");
	struct dirent *e;
	bool found = false;
	DIR *d;

	if (rc)
		return rc;
	d = opendir(dir);
	if (!d)
		return fedc_fail(FEDC_ERR_NOT_FOUND, "%s: no breakpoints (%s)", output_dir, strerror(errno));
	*round = 0;
	while ((e = readdir(d))) {
		uint64_t r;

		/* Exactly "round-" and six digits: one being written
		 * (".round-000003.tmp") and anything else is not a round. */
		if (strlen(e->d_name) == 12 && strncmp(e->d_name, "round-", 6) == 0 &&
		    fedc_num_parse_u64(e->d_name + 6, 0, 999999, &r) == FEDC_OK) {
			*round = r > *round ? (uint32_t)r : *round;
			found = true;
		}
	}
	closedir(d);
	if (!found)
		return fedc_fail(FEDC_ERR_NOT_FOUND, "%s: no breakpoints yet (none of its rounds finished)", output_dir);
	return FEDC_OK;
}

static enum fedc_err get_string(json_t *root, const char *key, char *out, size_t cap, const char *path)
{
	const char *v = json_string_value(json_object_get(root, key));

	if (!v || strlen(v) >= cap)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: \"%s\" missing, not a string, or too long", path, key);
	memcpy(out, v, strlen(v) + 1);
	return FEDC_OK;
}

static enum fedc_err get_u64(json_t *value, uint64_t *out, const char *key, const char *path)
{
	if (json_is_integer(value) && json_integer_value(value) >= 0) {
		*out = (uint64_t)json_integer_value(value);
		return FEDC_OK;
	}
	if (json_is_string(value) && fedc_num_parse_u64(json_string_value(value), 0, UINT64_MAX, out) == FEDC_OK)
		return FEDC_OK;
	return fedc_fail(FEDC_ERR_MALFORMED, "%s: \"%s\" is not a non-negative integer", path, key);
}

static enum fedc_err get_u32(json_t *root, const char *key, uint32_t *out, const char *path)
{
	uint64_t v;
	enum fedc_err rc = get_u64(json_object_get(root, key), &v, key, path);

	if (!rc && v > UINT32_MAX)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: \"%s\" out of range", path, key);
	if (!rc)
		*out = (uint32_t)v;
	return rc;
}

/* Format 2's "param_roles"; format 1 has none (all weights). */
static enum fedc_err roles_from_json(json_t *root, uint32_t format, struct breakpoint *bp, const char *path)
{
	const char *text = json_string_value(json_object_get(root, "param_roles"));
	size_t n;

	bp->n_roles = 0;
	if (format < 2)
		return FEDC_OK;
	n = text ? strlen(text) : 0;
	if (!text || n > FEDC_MAX_TENSORS || strspn(text, "012") != n)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: \"param_roles\" is not a string of at most %d digits 0, 1 "
				 "or 2", path, FEDC_MAX_TENSORS);
	for (size_t i = 0; i < n; i++)
		bp->roles[i] = (uint8_t)(text[i] - '0');
	bp->n_roles = n;
	return FEDC_OK;
}

/* "best" is optional (absent: keep_best off, or nothing scored yet). */
static enum fedc_err best_from_json(json_t *root, struct breakpoint *bp, const char *path)
{
	json_t *best = json_object_get(root, "best"), *value = json_object_get(best, "value");
	enum fedc_err rc;

	memset(&bp->best, 0, sizeof(bp->best));
	if (!best)
		return FEDC_OK;
	rc = get_u32(best, "round", &bp->best.round, path);
	if (!rc && (!json_is_number(value) || !isfinite(json_number_value(value)) || bp->best.round > bp->round))
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: \"best\" is not {\"round\" up to %" PRIu32 ", \"value\": a "
				 "number}", path, bp->round);
	if (rc)
		return rc;
	bp->best.value = json_number_value(value);
	bp->best.have = true;
	return FEDC_OK;
}

static enum fedc_err from_json(json_t *root, struct breakpoint *bp, const char *path)
{
	json_t *rng = json_object_get(root, "rng"), *history = json_object_get(root, "history_sizes");
	uint32_t format = 0;
	enum fedc_err rc = get_u32(root, "format", &format, path);

	if (!rc && (format < BREAKPOINT_FORMAT_OLDEST || format > BREAKPOINT_FORMAT))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: format %" PRIu32 ", this fedc-researcher reads %d to %d", path,
				 format, BREAKPOINT_FORMAT_OLDEST, BREAKPOINT_FORMAT);
	if (!rc)
		rc = roles_from_json(root, format, bp, path);
	if (!rc) rc = get_u32(root, "round", &bp->round, path);
	if (!rc) rc = get_u32(root, "rounds", &bp->rounds, path);
	if (!rc) rc = get_string(root, "job_id", bp->job_id, sizeof(bp->job_id), path);
	if (!rc) rc = get_string(root, "plan_digest", bp->plan_digest, sizeof(bp->plan_digest), path);
	if (!rc) rc = get_string(root, "global_digest", bp->global_digest, sizeof(bp->global_digest), path);
	if (!rc) rc = get_string(root, "experiment_path", bp->experiment_path, sizeof(bp->experiment_path), path);
	if (!rc) rc = get_string(root, "experiment_digest", bp->experiment_digest, sizeof(bp->experiment_digest), path);
	if (!rc) rc = get_string(root, "network_path", bp->network_path, sizeof(bp->network_path), path);
	if (!rc) rc = get_string(root, "network_digest", bp->network_digest, sizeof(bp->network_digest), path);
	if (!rc) rc = get_string(root, "aggregator_digest", bp->aggregator_digest, sizeof(bp->aggregator_digest), path);
	if (rc)
		return rc;
	bp->has_aggregator_state = json_is_true(json_object_get(root, "has_aggregator_state"));
	if (!json_is_array(rng) || json_array_size(rng) != 4 || !json_is_object(history))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: \"rng\" or \"history_sizes\" malformed", path);
	for (size_t i = 0; !rc && i < 4; i++)
		rc = get_u64(json_array_get(rng, i), &bp->rng[i], "rng", path);
	for (size_t i = 0; !rc && i < HISTORY_FILES; i++)
		rc = get_u64(json_object_get(history, history_names[i]), &bp->history_sizes[i], history_names[i], path);
	if (!rc)
		rc = best_from_json(root, bp, path);
	return rc;
}

static enum fedc_err check_digest(const char *dir, const char *name, const char *expected)
{
	char path[BREAKPOINT_PATH_MAX + 300], actual[FEDC_SHA256_HEXLEN + 1];
	enum fedc_err rc = path_in(path, sizeof(path), dir, name);

	if (!rc)
		rc = fedc_hash_file(FEDC_HASH_SHA256, path, actual);
	if (rc)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: cannot read: %s", path, fedc_last_error());
	if (strcmp(actual, expected) != 0)
		return fedc_fail(FEDC_ERR_DIGEST, "%s is damaged or truncated: SHA-256 %.12s..., the breakpoint recorded %.12s...",
				 path, actual, expected);
	return FEDC_OK;
}

enum fedc_err breakpoint__load(const char *output_dir, uint32_t round, struct breakpoint *bp, char *dir, size_t cap)
{
	char path[BREAKPOINT_PATH_MAX + 300];
	json_error_t jerr;
	json_t *root;
	enum fedc_err rc = round_dir(dir, cap, output_dir, "", round, "");

	memset(bp, 0, sizeof(*bp));
	if (!rc)
		rc = path_in(path, sizeof(path), dir, STATE_FILE);
	if (rc)
		return rc;
	if (access(dir, F_OK) != 0)
		return fedc_fail(FEDC_ERR_NOT_FOUND, "no breakpoint for round %" PRIu32 " in %s/breakpoints", round,
				 output_dir);
	root = json_load_file(path, 0, &jerr);
	if (!root)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: damaged or truncated: %s (line %d)", path, jerr.text, jerr.line);
	rc = from_json(root, bp, path);
	json_decref(root);
	if (!rc && bp->round != round)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: says round %" PRIu32 ", its directory round %" PRIu32, path,
			       bp->round, round);
	if (!rc)
		rc = check_digest(dir, GLOBAL_FILE, bp->global_digest);
	if (!rc && bp->has_aggregator_state)
		rc = check_digest(dir, AGGREGATOR_FILE, bp->aggregator_digest);
	return rc;
}

/* ---- starting afresh ---- */

enum fedc_err breakpoint__remove_all(const char *output_dir)
{
	char dir[BREAKPOINT_PATH_MAX], path[BREAKPOINT_PATH_MAX + 300];
	enum fedc_err rc = path_in(dir, sizeof(dir), output_dir, "breakpoints");
	struct dirent *e;
	DIR *d;

	if (rc)
		return rc;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? FEDC_OK : fedc_fail(FEDC_ERR_IO, "cannot open %s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		if ((strncmp(e->d_name, "round-", 6) == 0 || strncmp(e->d_name, ".round-", 7) == 0) &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
			remove_tree(path);
	}
	closedir(d);
	if (rmdir(dir) != 0)
		return fedc_fail(FEDC_ERR_IO, "cannot remove %s: %s", dir, strerror(errno));
	return FEDC_OK;
}
