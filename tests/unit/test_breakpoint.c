/* Breakpoints: saved atomically, found, loaded back exactly (tensor roles
 * too; format 1 ones still load), and refused with a clear error when
 * damaged, while the previous one still loads. The
 * history files continue from a breakpoint's lengths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "file_check.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "breakpoint.h"
#include "fedc/hash.h"
#include "history.h"

static char dir[64];

static int make_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/fedc-bp-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The file `path` holds `text`. */
static void write_file(const char *path, const char *text)
{
	assert_int_equal(file_write(path, text), 0);
}

/* Writes global.params (any bytes do: breakpoints do not parse it) and a
 * breakpoint for `round` over it. */
static void save_round(uint32_t round, struct breakpoint *bp)
{
	char global[128], agg[128], text[64];

	snprintf(global, sizeof(global), "%s/global.params", dir);
	snprintf(agg, sizeof(agg), "%s/agg.state", dir);
	snprintf(text, sizeof(text), "parameters after round %u\n", round);
	/* replaced by rename, as fedc writes parameter files */
	(void)unlink(global);
	(void)unlink(agg);
	write_file(global, text);
	write_file(agg, "moments");
	memset(bp, 0, sizeof(*bp));
	bp->round = round;
	bp->rounds = 10;
	snprintf(bp->job_id, sizeof(bp->job_id), "0f8e2a54-1111-4c2d-8e3f-123456789abc");
	memset(bp->plan_digest, 'a', FEDC_SHA256_HEXLEN);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, global, bp->global_digest), FEDC_OK);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, agg, bp->aggregator_digest), FEDC_OK);
	bp->has_aggregator_state = true;
	snprintf(bp->experiment_path, sizeof(bp->experiment_path), "/home/r/exp.ini");
	memset(bp->experiment_digest, 'b', FEDC_SHA256_HEXLEN);
	bp->rng[0] = UINT64_MAX;
	bp->rng[3] = 42;
	bp->history_sizes[1] = 1234;
	bp->n_roles = 4; /* weight, buffer, local, weight */
	bp->roles[1] = 1;
	bp->roles[2] = 2;
	assert_int_equal(breakpoint__save(dir, bp, global, agg), FEDC_OK);
}

static void test_save_latest_load(void **state)
{
	struct breakpoint saved, loaded;
	char bp_dir[BREAKPOINT_PATH_MAX];
	uint32_t latest = 0;

	assert_int_equal(breakpoint__latest(dir, &latest), FEDC_ERR_NOT_FOUND);
	save_round(1, &saved);
	save_round(2, &saved);
	assert_int_equal(breakpoint__latest(dir, &latest), FEDC_OK);
	assert_int_equal(latest, 2);
	assert_int_equal(breakpoint__load(dir, 2, &loaded, bp_dir, sizeof(bp_dir)), FEDC_OK);
	assert_memory_equal(&loaded, &saved, sizeof(saved));
	assert_non_null(strstr(bp_dir, "/breakpoints/round-000002"));
	/* round 1 kept its own parameters: the link survived the replacement */
	assert_int_equal(breakpoint__load(dir, 1, &loaded, bp_dir, sizeof(bp_dir)), FEDC_OK);
	assert_int_equal(loaded.round, 1);
	assert_int_equal(breakpoint__load(dir, 7, &loaded, bp_dir, sizeof(bp_dir)), FEDC_ERR_NOT_FOUND);
}

static void test_half_written_breakpoint_ignored(void **state)
{
	struct breakpoint bp;
	char tmp[128];
	uint32_t latest;

	save_round(1, &bp);
	/* a crash in the middle of saving round 2 leaves only this */
	snprintf(tmp, sizeof(tmp), "%s/breakpoints/.round-000002.tmp", dir);
	assert_int_equal(mkdir(tmp, 0755), 0);
	assert_int_equal(breakpoint__latest(dir, &latest), FEDC_OK);
	assert_int_equal(latest, 1);
	save_round(2, &bp); /* and the next save cleans it up */
	assert_int_not_equal(access(tmp, F_OK), 0);
}

/* Only "round-" and six digits name a round: not a sign, not a space. */
static void test_odd_names_not_rounds(void **state)
{
	static const char *const names[] = {"round-+00009", "round- 00009", "round-00009x", "round-0000-9"};
	struct breakpoint bp;
	char path[128];
	uint32_t latest;

	save_round(1, &bp);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/breakpoints/%s", dir, names[i]);
		assert_int_equal(mkdir(path, 0755), 0);
	}
	assert_int_equal(breakpoint__latest(dir, &latest), FEDC_OK);
	assert_int_equal(latest, 1);
}

static void test_damaged_breakpoint_refused_previous_works(void **state)
{
	struct breakpoint bp;
	char path[256], bp_dir[BREAKPOINT_PATH_MAX];

	save_round(1, &bp);
	save_round(2, &bp);
	/* truncated parameters */
	snprintf(path, sizeof(path), "%s/breakpoints/round-000002/global.params", dir);
	assert_int_equal(truncate(path, 5), 0);
	assert_int_equal(breakpoint__load(dir, 2, &bp, bp_dir, sizeof(bp_dir)), FEDC_ERR_DIGEST);
	assert_non_null(strstr(fedc_last_error(), "round-000002/global.params is damaged or truncated"));
	assert_int_equal(breakpoint__load(dir, 1, &bp, bp_dir, sizeof(bp_dir)), FEDC_OK);

	/* truncated state file */
	save_round(3, &bp);
	snprintf(path, sizeof(path), "%s/breakpoints/round-000003/breakpoint.json", dir);
	assert_int_equal(truncate(path, 40), 0);
	assert_int_equal(breakpoint__load(dir, 3, &bp, bp_dir, sizeof(bp_dir)), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "breakpoint.json: damaged or truncated"));

	/* a state file from elsewhere */
	write_file(path, "{\"format\": 99}");
	assert_int_equal(breakpoint__load(dir, 3, &bp, bp_dir, sizeof(bp_dir)), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "format 99"));
	write_file(path, "{\"format\": 1, \"round\": \"three\"}");
	assert_int_equal(breakpoint__load(dir, 3, &bp, bp_dir, sizeof(bp_dir)), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "\"round\""));
	/* a negative number in a string is not wrapped round to 1 */
	write_file(path, "{\"format\": 1, \"round\": \"-4294967295\"}");
	assert_int_equal(breakpoint__load(dir, 3, &bp, bp_dir, sizeof(bp_dir)), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "\"round\""));

	/* a damaged aggregator state */
	save_round(4, &bp);
	snprintf(path, sizeof(path), "%s/breakpoints/round-000004/aggregator.state", dir);
	(void)unlink(path); /* a hard link: writing in place would change every round's */
	write_file(path, "other moments");
	assert_int_equal(breakpoint__load(dir, 4, &bp, bp_dir, sizeof(bp_dir)), FEDC_ERR_DIGEST);
	assert_int_equal(breakpoint__load(dir, 1, &bp, bp_dir, sizeof(bp_dir)), FEDC_OK);
}

/* Sets `key` of round 1's breakpoint.json to `value` (NULL: removes it). */
static void edit_state(const char *key, json_t *value)
{
	char path[256];
	json_t *root;

	snprintf(path, sizeof(path), "%s/breakpoints/round-000001/breakpoint.json", dir);
	root = json_load_file(path, 0, NULL);
	assert_non_null(root);
	if (value)
		json_object_set_new(root, key, value);
	else
		json_object_del(root, key);
	assert_int_equal(json_dump_file(root, path, 0), 0);
	json_decref(root);
}

/* Format 2 keeps the tensors' roles; a format 1 breakpoint (before roles)
 * still loads, all weights; roles that are not digits 0-2 are refused. */
static void test_roles_kept_and_format_1_loads(void **state)
{
	static const uint8_t roles[4] = { 0, 1, 2, 0 };
	struct breakpoint bp, loaded;
	char bp_dir[BREAKPOINT_PATH_MAX];

	save_round(1, &bp);
	assert_int_equal(breakpoint__load(dir, 1, &loaded, bp_dir, sizeof(bp_dir)), FEDC_OK);
	assert_int_equal(loaded.n_roles, 4);
	assert_memory_equal(loaded.roles, roles, sizeof(roles));
	edit_state("param_roles", json_string("0130"));
	assert_int_equal(breakpoint__load(dir, 1, &loaded, bp_dir, sizeof(bp_dir)), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "\"param_roles\""));
	edit_state("param_roles", NULL);
	assert_int_equal(breakpoint__load(dir, 1, &loaded, bp_dir, sizeof(bp_dir)), FEDC_ERR_MALFORMED);
	edit_state("format", json_integer(1));
	assert_int_equal(breakpoint__load(dir, 1, &loaded, bp_dir, sizeof(bp_dir)), FEDC_OK);
	assert_int_equal(loaded.n_roles, 0);
	assert_int_equal(loaded.round, 1);
}

static size_t file_size(const char *name)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	return (size_t)st.st_size;
}

static void test_history_continues_from_sizes(void **state)
{
	struct round_record rr = { 1, "train", 2, 2, 0.5, 0.6, 0.7, 0.1, "abc", 0 };
	uint64_t sizes[HISTORY_FILES], later[HISTORY_FILES];
	struct history *h = NULL;

	assert_int_equal(history__open(dir, &h), FEDC_OK);
	assert_int_equal(history__round(h, &rr), FEDC_OK);
	assert_int_equal(history__sync(h, sizes), FEDC_OK);
	rr.round = 2;
	assert_int_equal(history__round(h, &rr), FEDC_OK); /* a round the crash lost */
	assert_int_equal(history__sync(h, later), FEDC_OK);
	history__close(h);
	assert_true(later[1] > sizes[1]);

	assert_int_equal(history__reopen(dir, sizes, &h), FEDC_OK);
	assert_int_equal(file_size("rounds.csv"), sizes[1]);
	assert_int_equal(file_size("history.jsonl"), sizes[0]);
	assert_int_equal(history__round(h, &rr), FEDC_OK);
	history__close(h);
	assert_int_equal(file_size("rounds.csv"), later[1]);

	/* a history shorter than the breakpoint says cannot be continued */
	sizes[1] = later[1] + 100;
	assert_int_equal(history__reopen(dir, sizes, &h), FEDC_ERR_IO);
	assert_non_null(strstr(fedc_last_error(), "shorter than the breakpoint"));
}

/* keep_best's choice comes back as the same double (a resumed run compares
 * exactly as the first did); none saved, none loaded. */
static void test_best_kept_exactly(void **state)
{
	struct breakpoint saved, loaded;
	char global[128], agg[128], bp_dir[BREAKPOINT_PATH_MAX];

	save_round(3, &saved);
	assert_int_equal(breakpoint__load(dir, 3, &loaded, bp_dir, sizeof(bp_dir)), FEDC_OK);
	assert_false(loaded.best.have);
	saved.best = (struct best_model){ true, 2, 0.1 + 0.2 };
	snprintf(global, sizeof(global), "%s/global.params", dir);
	snprintf(agg, sizeof(agg), "%s/agg.state", dir);
	assert_int_equal(breakpoint__save(dir, &saved, global, agg), FEDC_OK);
	assert_int_equal(breakpoint__load(dir, 3, &loaded, bp_dir, sizeof(bp_dir)), FEDC_OK);
	assert_true(loaded.best.have);
	assert_int_equal(loaded.best.round, 2);
	assert_true(loaded.best.value == 0.1 + 0.2);
	assert_memory_equal(&loaded, &saved, sizeof(saved));
}

/* A "best" that names a round after the breakpoint's, or no number. */
static void test_bad_best_refused(void **state)
{
	static const char *const bad[] = { "{\"round\": 4, \"value\": 1}", "{\"round\": 1, \"value\": \"1\"}",
					   "{\"round\": -1, \"value\": 1}", "[1, 2]" };
	struct breakpoint bp;
	char path[256], bp_dir[BREAKPOINT_PATH_MAX];

	save_round(3, &bp);
	snprintf(path, sizeof(path), "%s/breakpoints/round-000003/breakpoint.json", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *root = json_load_file(path, 0, NULL);

		assert_non_null(root);
		json_object_set_new(root, "best", json_loads(bad[i], JSON_DECODE_ANY, NULL));
		assert_int_equal(json_dump_file(root, path, 0), 0);
		json_decref(root);
		assert_int_equal(breakpoint__load(dir, 3, &bp, bp_dir, sizeof(bp_dir)), FEDC_ERR_MALFORMED);
		assert_non_null(strstr(fedc_last_error(), "\"round\""));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_save_latest_load, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_half_written_breakpoint_ignored, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_odd_names_not_rounds, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_damaged_breakpoint_refused_previous_works, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_history_continues_from_sizes, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_roles_kept_and_format_1_loads, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_best_kept_exactly, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_bad_best_refused, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
