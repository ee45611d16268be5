/* Looking in on a run and stopping it (researcher/status.h, run_control.h):
 * `status` of a live run while a node is held (SIGSTOP) mid-round, `run`
 * refused in a directory in use, `stop` ending the run after the round with
 * a breakpoint that `resume` continues to parameters identical, byte for
 * byte, to a run never stopped; `status` and `stop` of a finished run, of a
 * killed one (SIGKILL through a crash point) and of a directory holding no
 * run; keep_best's best.params, the model the history scores best, also
 * after a kill and resume; export of a run's models, loaded by NumPy and
 * PyTorch; an archive of a run with its MANIFEST checked and no secret
 * inside (its per-node round logs included: more in test_node_logs.c). Real Mosquitto, repository server and three node
 * daemons. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fedc/hash.h"
#include "fedc/params.h"
#include "harness.h"

static struct harness H;
static char output[1 << 16];
static const size_t rows[3][2] = { { 0, 100 }, { 100, 180 }, { 280, 289 } };

static int setup(void **state)
{
	char csv[512], id[32];

	(void)state;
	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(csv, sizeof(csv), "%s/site-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "site-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, rows[i][0], rows[i][1]) ||
		    harness_add_node(&H, id, csv, "bc", harness_plan("logreg")) != (int)i || harness_start_node(&H, i))
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

static int researcher(const char *a, const char *b, const char *c)
{
	const char *argv[] = { harness_bin("fedc-researcher"), a, b, c, NULL };

	return harness_run(&H, argv, 180, output, sizeof(output));
}

static void write_logreg(const char *name, unsigned rounds, char *path, size_t cap)
{
	snprintf(path, cap, "%s/%s.ini", H.dir, name);
	assert_int_equal(harness_write_experiment(&H, path, harness_plan("logreg"), "bc", rounds, 3, 60,
						  "n_features = 30", NULL),
			 0);
}

/* OUTPUT_DIR/status.json parsed, or NULL while there is none. */
static json_t *status_doc(const char *out_dir)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/status.json", out_dir);
	return json_load_file(path, 0, NULL);
}

/* The state of `node` in the status document, or "". */
static const char *node_state(const json_t *doc, const char *node)
{
	const json_t *n;
	size_t i;

	json_array_foreach(json_object_get(doc, "nodes"), i, n) {
		if (strcmp(json_string_value(json_object_get(n, "node_id")), node) == 0)
			return json_string_value(json_object_get(n, "state"));
	}
	return "";
}

static void pause_briefly(void)
{
	const struct timespec tick = { 0, 20 * 1000 * 1000 };

	nanosleep(&tick, NULL);
}

/* Waits up to 10 s until the status file shows the two other nodes replied
 * and `held` still training: their replies came within a second of the
 * write for the requests, so this is the change held back (status.h) and
 * written when due, with no event after it. */
static void wait_for_deferred_status(const char *out_dir, size_t held)
{
	for (int i = 0; i < 500; i++) {
		json_t *doc = status_doc(out_dir);
		bool seen = doc && strcmp(node_state(doc, H.nodes[held].id), "training") == 0;

		for (size_t k = 0; seen && k < 3; k++)
			seen = k == held || strcmp(node_state(doc, H.nodes[k].id), "replied") == 0;
		json_decref(doc);
		if (seen)
			return;
		pause_briefly();
	}
	fail_msg("status.json never showed the other nodes' replies while %s was held", H.nodes[held].id);
}

/* Waits until the status file shows `node` training in a round (and holds
 * it there with SIGSTOP: its reply cannot come until SIGCONT); the round. */
static long hold_node_in_a_round(const char *out_dir, struct harness_proc *run, size_t node)
{
	long round = -1;

	while (round < 0) {
		json_t *doc = status_doc(out_dir);
		int st;

		assert_int_equal(waitpid(run->pid, &st, WNOHANG), 0); /* the run goes on */
		if (doc && strcmp(node_state(doc, H.nodes[node].id), "training") == 0) {
			kill(H.nodes[node].proc.pid, SIGSTOP);
			round = (long)json_integer_value(json_object_get(doc, "round"));
		}
		json_decref(doc);
		pause_briefly();
	}
	return round;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		*len = buf ? fread(buf, 1, (size_t)n, f) : 0;
	}
	fclose(f);
	return buf;
}

static void assert_same_file(const char *a, const char *b)
{
	size_t la = 0, lb = 0;
	char *x = slurp(a, &la), *y = slurp(b, &lb);

	assert_non_null(x);
	assert_non_null(y);
	if (la != lb || memcmp(x, y, la) != 0)
		fail_msg("%s and %s differ (%zu and %zu bytes)", a, b, la, lb);
	free(x);
	free(y);
}

static void test_status_then_stop_then_resume_is_bit_for_bit(void **state)
{
	char exp[512], ref[512], out_dir[560], params[600], ref_params[600], bp[700];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	struct harness_proc run = { 0 };
	long held;
	int st = 0;

	(void)state;
	write_logreg("stopped", 8, exp, sizeof(exp));
	snprintf(out_dir, sizeof(out_dir), "%s-out", exp);
	assert_int_equal(harness_spawn(&H, &run, "stopped-run", argv), 0);
	held = hold_node_in_a_round(out_dir, &run, 0);
	assert_in_range(held, 1, 6);
	wait_for_deferred_status(out_dir, 0);

	/* live: the round it is in, the node held still training */
	assert_int_equal(researcher("status", out_dir, NULL), 0);
	if (!strstr(output, "running (pid") || !strstr(output, "site-0") || !strstr(output, "training"))
		fail_msg("status of the live run:\n%s", output);
	assert_int_equal(researcher("status", out_dir, "--json"), 0);
	assert_non_null(strstr(output, "\"condition\": \"running\""));
	assert_non_null(strstr(output, "\"live\": true"));

	/* one researcher per directory */
	assert_int_equal(researcher("run", exp, NULL), 1);
	if (!strstr(output, "in use by a researcher still running there"))
		fail_msg("a second run in the directory was not refused:\n%s", output);

	assert_int_equal(researcher("stop", out_dir, NULL), 0);
	assert_non_null(strstr(output, "to stop after its current round"));
	kill(H.nodes[0].proc.pid, SIGCONT);
	assert_int_equal(waitpid(run.pid, &st, 0), run.pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 3);

	/* the round held (or, had its reply been on its way, the next) ended with a breakpoint */
	assert_int_equal(researcher("status", out_dir, NULL), 0);
	if (!strstr(output, "stopped: by fedc-researcher stop, after round") || !strstr(output, "fedc-researcher resume"))
		fail_msg("status of the stopped run:\n%s", output);
	snprintf(bp, sizeof(bp), "%s/breakpoints/round-%06ld/breakpoint.json", out_dir, held);
	assert_int_equal(access(bp, R_OK), 0);
	snprintf(bp, sizeof(bp), "%s/breakpoints/round-000008", out_dir);
	assert_int_not_equal(access(bp, F_OK), 0);
	snprintf(bp, sizeof(bp), "%s/stop.request", out_dir);
	assert_int_not_equal(access(bp, F_OK), 0); /* used up */

	/* stopping it again: nothing runs there */
	assert_int_equal(researcher("stop", out_dir, NULL), 1);
	assert_non_null(strstr(output, "no researcher is running in"));
	assert_non_null(strstr(output, "stopped"));

	assert_int_equal(researcher("resume", out_dir, NULL), 0);
	assert_int_equal(researcher("status", out_dir, "--json"), 0);
	assert_non_null(strstr(output, "\"condition\": \"finished\""));
	assert_non_null(strstr(output, "\"round\": 9")); /* the final evaluation */

	write_logreg("never-stopped", 8, ref, sizeof(ref));
	assert_int_equal(researcher("run", ref, NULL), 0);
	snprintf(ref_params, sizeof(ref_params), "%s-out/global.params", ref);
	snprintf(params, sizeof(params), "%s/global.params", out_dir);
	assert_same_file(ref_params, params);

	/* a finished run: nothing to stop */
	assert_int_equal(researcher("stop", out_dir, NULL), 1);
	assert_non_null(strstr(output, "finished"));
}

static void test_status_of_killed_run(void **state)
{
	char exp[512], out_dir[560];
	int rc;

	(void)state;
	write_logreg("killed", 4, exp, sizeof(exp));
	snprintf(out_dir, sizeof(out_dir), "%s-out", exp);
	setenv("FEDC_CRASH_AT", "round-reply:5", 1); /* in round 2 */
	rc = researcher("run", exp, NULL);
	unsetenv("FEDC_CRASH_AT");
	assert_int_equal(rc, 128 + SIGKILL);

	assert_int_equal(researcher("status", out_dir, NULL), 0);
	if (!strstr(output, "killed: the researcher (pid") || !strstr(output, "round 2/4") ||
	    !strstr(output, "fedc-researcher resume"))
		fail_msg("status of the killed run:\n%s", output);
	assert_int_equal(researcher("status", out_dir, "--json"), 0);
	assert_non_null(strstr(output, "\"condition\": \"killed\""));
	assert_non_null(strstr(output, "\"live\": false"));
	assert_int_equal(researcher("stop", out_dir, NULL), 1);
	assert_non_null(strstr(output, "killed"));
	assert_int_equal(researcher("resume", out_dir, NULL), 0); /* the lock went with the process */
}

static void test_status_of_no_run(void **state)
{
	char path[600];
	FILE *f;

	(void)state;
	assert_int_equal(researcher("status", H.dir, NULL), 1);
	assert_non_null(strstr(output, "holds no run (no status.json)"));
	assert_int_equal(researcher("stop", H.dir, NULL), 1);
	assert_non_null(strstr(output, "no researcher is running in"));

	snprintf(path, sizeof(path), "%s/status.json", H.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"format\": 1, \"state\": 7, \"nodes\": {\"x\": [", f);
	fclose(f);
	assert_int_equal(researcher("status", H.dir, NULL), 1);
	assert_non_null(strstr(output, "status.json is damaged"));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"format\": 1, \"state\": 7, \"round\": \"x\", \"nodes\": {\"x\": []}, \"last_round\": [1]}", f);
	fclose(f);
	assert_int_equal(researcher("status", H.dir, NULL), 0); /* wrong types show as unknown */
	assert_non_null(strstr(output, "unknown"));
	unlink(path);
}

/* Adds `line` to the [training] section of experiment file `path`. */
static void add_training_line(const char *path, const char *line)
{
	size_t len = 0;
	char *text = slurp(path, &len), *at;
	FILE *f;

	assert_non_null(text);
	text[len] = '\0';
	at = strstr(text, "[training]\n");
	assert_non_null(at);
	at += strlen("[training]\n");
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%.*s%s\n%s", (int)(at - text), text, line, at);
	assert_int_equal(fclose(f), 0);
	free(text);
}

/* From history.jsonl's round records alone: the round whose model scored
 * best on `field` (round r's figure scores the model after r - 1, the final
 * evaluation's the model after the last round), first on ties. */
static long best_model_by_history(const char *out_dir, const char *field, bool lower, unsigned rounds)
{
	char path[700], line[1 << 14];
	long best_round = -1;
	double best = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/history.jsonl", out_dir);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		json_t *rec = json_loads(line, 0, NULL), *v = json_object_get(rec, field);
		const char *type = json_string_value(json_object_get(rec, "type"));
		const char *kind = json_string_value(json_object_get(rec, "kind"));

		if (type && strcmp(type, "round") == 0 && json_is_number(v)) {
			long round = (long)json_integer_value(json_object_get(rec, "round"));
			long model = strcmp(kind, "evaluate") == 0 ? (long)rounds : round - 1;
			double x = json_number_value(v);

			if (best_round < 0 || (lower ? x < best : x > best)) {
				best = x;
				best_round = model;
			}
		}
		json_decref(rec);
	}
	fclose(f);
	return best_round;
}

static void assert_best_is_round(const char *out_dir, long round)
{
	char best[700], bp[700];

	snprintf(best, sizeof(best), "%s/best.params", out_dir);
	snprintf(bp, sizeof(bp), "%s/breakpoints/round-%06ld/global.params", out_dir, round);
	assert_same_file(best, bp);
}

static void test_keep_best_keeps_the_model_the_history_scores_best(void **state)
{
	static const struct { const char *metric, *field; bool lower; } cases[] = {
		{ "loss", "global_loss", true },
		{ "accuracy", "global_accuracy", false },
	};
	char exp[512], out_dir[560], line[64], killed[512], killed_dir[560], a[700], b[700];
	long expected;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		snprintf(line, sizeof(line), "keep_best = %s", cases[i].metric);
		write_logreg(cases[i].metric, 6, exp, sizeof(exp));
		add_training_line(exp, line);
		snprintf(out_dir, sizeof(out_dir), "%s-out", exp);
		if (researcher("run", exp, NULL) != 0)
			fail_msg("keep_best = %s run failed:\n%s", cases[i].metric, output);
		expected = best_model_by_history(out_dir, cases[i].field, cases[i].lower, 6);
		assert_in_range(expected, 0, 6);
		snprintf(line, sizeof(line), "best model: the one after round %ld, %s", expected, cases[i].metric);
		if (!strstr(output, line))
			fail_msg("no \"%s\" in the summary:\n%s", line, output);
		assert_best_is_round(out_dir, expected);
		assert_int_equal(researcher("status", out_dir, NULL), 0);
		snprintf(line, sizeof(line), "best model: the one after round %ld, %s", expected, cases[i].metric);
		if (!strstr(output, line))
			fail_msg("no \"%s\" in the status:\n%s", line, output);
	}

	/* killed in round 4 and resumed: the same best.params as the run above (accuracy) */
	write_logreg("best-killed", 6, killed, sizeof(killed));
	add_training_line(killed, "keep_best = accuracy");
	snprintf(killed_dir, sizeof(killed_dir), "%s-out", killed);
	setenv("FEDC_CRASH_AT", "round-reply:11", 1);
	assert_int_equal(researcher("run", killed, NULL), 128 + SIGKILL);
	unsetenv("FEDC_CRASH_AT");
	assert_int_equal(researcher("resume", killed_dir, NULL), 0);
	snprintf(a, sizeof(a), "%s/best.params", out_dir);
	snprintf(b, sizeof(b), "%s/best.params", killed_dir);
	assert_same_file(a, b);
	snprintf(a, sizeof(a), "%s/global.params", out_dir);
	snprintf(b, sizeof(b), "%s/global.params", killed_dir);
	assert_same_file(a, b);
}

static void test_keep_best_needs_scores_of_the_global_model(void **state)
{
	char exp[512];

	(void)state;
	write_logreg("best-unscored", 2, exp, sizeof(exp));
	add_training_line(exp, "keep_best = loss\ntest_on_global_updates = false");
	assert_int_equal(researcher("run", exp, NULL), 2);
	assert_non_null(strstr(output, "keep_best = loss needs test_on_global_updates = true"));
}

/* EXPECTED.json and EXPECTED.bin for check_export.py, from the parameter
 * file as fedc reads it. */
static void write_expected(const char *params, const char *json_path, const char *bin_path)
{
	struct fedc_params *p = NULL;
	FILE *js = fopen(json_path, "w"), *bin = fopen(bin_path, "wb");
	size_t offset = 0;

	assert_non_null(js);
	assert_non_null(bin);
	assert_int_equal(fedc_params_open(params, &p), FEDC_OK);
	fputs("[", js);
	for (size_t i = 0; i < fedc_params_count(p); i++) {
		const struct fedc_tensor *t = &fedc_params_tensors(p)[i];
		size_t n = (size_t)fedc_tensor_elements(t) * fedc_dtype_size(t->dtype);

		fprintf(js, "%s{\"name\": \"%s\", \"dtype\": \"%s\", \"shape\": [", i ? ", " : "", t->name,
			fedc_dtype_name(t->dtype));
		for (uint32_t d = 0; d < t->ndim; d++)
			fprintf(js, "%s%llu", d ? ", " : "", (unsigned long long)t->shape[d]);
		fprintf(js, "], \"offset\": %zu, \"nbytes\": %zu}", offset, n);
		assert_int_equal(fwrite(t->data, 1, n, bin), n);
		offset += n;
	}
	fputs("]\n", js);
	fedc_params_close(p);
	assert_int_equal(fclose(js), 0);
	assert_int_equal(fclose(bin), 0);
}

/* A real run's final and best models exported both ways: NumPy and PyTorch
 * load every value of the parameter files. */
static void test_export_of_a_run(void **state)
{
	char exp[512], out_dir[560], params[700], js[700], bin[700], npz[700], st[700];
	const char *check[] = { FEDC_PYTHON3, FEDC_SOURCE_DIR "/tests/integration/check_export.py", js, bin, npz, st,
				NULL };

	(void)state;
	write_logreg("exported", 3, exp, sizeof(exp));
	add_training_line(exp, "keep_best = loss");
	snprintf(out_dir, sizeof(out_dir), "%s-out", exp);
	assert_int_equal(researcher("run", exp, NULL), 0);
	snprintf(js, sizeof(js), "%s/expected.json", H.dir);
	snprintf(bin, sizeof(bin), "%s/expected.bin", H.dir);
	for (int best = 0; best < 2; best++) {
		const char *which = best ? "best" : "global";
		const char *argv[] = { harness_bin("fedc-researcher"), "export", out_dir, "--format", "npz",
				       best ? "--best" : NULL, NULL };
		const char *argv_st[] = { harness_bin("fedc-researcher"), "export", out_dir, "--format", "safetensors",
					  "-o", st, best ? "--best" : NULL, NULL };

		snprintf(params, sizeof(params), "%s/%s.params", out_dir, which);
		snprintf(npz, sizeof(npz), "%s/%s.npz", out_dir, which);
		snprintf(st, sizeof(st), "%s/model-%s.safetensors", H.dir, which);
		assert_int_equal(harness_run(&H, argv, 60, output, sizeof(output)), 0);
		assert_non_null(strstr(output, npz));
		assert_int_equal(harness_run(&H, argv_st, 60, output, sizeof(output)), 0);
		write_expected(params, js, bin);
		if (harness_run(&H, check, 120, output, sizeof(output)) != 0)
			fail_msg("the %s model's export:\n%s", which, output);
		assert_non_null(strstr(output, "ok 4 tensors"));
	}

	/* a run without keep_best has no best model; an unknown format */
	assert_int_equal(researcher("export", H.dir, "--best"), 2); /* --format is required */
	{
		const char *argv[] = { harness_bin("fedc-researcher"), "export", H.dir, "--format", "npz", "--best",
				       NULL };
		const char *bad[] = { harness_bin("fedc-researcher"), "export", out_dir, "--format", "pickle", NULL };

		assert_int_equal(harness_run(&H, argv, 60, output, sizeof(output)), 1);
		assert_non_null(strstr(output, "did not set [training] keep_best"));
		assert_int_equal(harness_run(&H, bad, 60, output, sizeof(output)), 2);
		assert_non_null(strstr(output, "expected npz or safetensors, got \"pickle\""));
	}
}

/* The bytes of the file `path` as a string (for strstr), or NULL. */
static char *slurp_text(const char *path)
{
	size_t len = 0;
	char *text = slurp(path, &len);

	if (text)
		text[len] = '\0';
	return text;
}

/* The secret in the researcher's bundle file `name`, trimmed. */
static char *bundle_secret(const char *name)
{
	char path[700], *text;

	snprintf(path, sizeof(path), "%s/%s", H.researcher_dir, name);
	text = slurp_text(path);
	assert_non_null(text);
	text[strcspn(text, "\r\n")] = '\0';
	assert_true(strlen(text) >= 8);
	return text;
}

/* Checks every line of MANIFEST ("HEX  NAME") against the unpacked file;
 * the number of lines. */
static size_t check_manifest(const char *unpacked)
{
	char path[2000], line[1200], hex[FEDC_SHA256_HEXLEN + 1];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/MANIFEST", unpacked);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		assert_true(strlen(line) > FEDC_SHA256_HEXLEN + 2);
		assert_memory_equal(line + FEDC_SHA256_HEXLEN, "  ", 2);
		snprintf(path, sizeof(path), "%s/%s", unpacked, line + FEDC_SHA256_HEXLEN + 2);
		assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, path, hex), FEDC_OK);
		if (memcmp(hex, line, FEDC_SHA256_HEXLEN) != 0)
			fail_msg("MANIFEST: %s does not match", path);
		n++;
	}
	fclose(f);
	return n;
}

/* A run whose experiment file holds the repository token itself (and an old
 * one commented out), archived: unpacked with tar, every member is in the
 * MANIFEST with its SHA-256, and no secret of the bundle is in any member. */
static void test_archive_without_secrets(void **state)
{
	char exp[512], out_dir[560], tarball[600], unpacked[600], path[900], line[512];
	char *token = bundle_secret("repository.token"), *password = bundle_secret("broker.password");
	char *key = bundle_secret("signing.key");
	const char *plot[] = { harness_bin("fedc-researcher"), "plot", out_dir, NULL };
	const char *pack[] = { harness_bin("fedc-researcher"), "archive", out_dir, "--output", tarball, NULL };
	const char *untar[] = { "/bin/tar", "xzf", tarball, "-C", unpacked, "--strip-components=1", NULL };
	static const char *const members[] = { "experiment.ini", "history.jsonl", "rounds.csv", "nodes.csv",
					       "status.json", "global.params", "best.params", "curves.svg",
					       "nodes/site-0.jsonl", "nodes/site-1.jsonl", "nodes/site-2.jsonl" };

	(void)state;
	write_logreg("archived", 2, exp, sizeof(exp));
	add_training_line(exp, "keep_best = accuracy");
	{ /* the token itself in the file, in place of the token file's line */
		char *text = slurp_text(exp), *at = strstr(text, "repository_token_file = "), *eol;
		FILE *f = fopen(exp, "w");

		assert_non_null(at);
		eol = strchr(at, '\n');
		assert_non_null(eol);
		fprintf(f, "%.*s# repository_token = %s\nrepository_token = %s\n%s", (int)(at - text), text, token, token,
			eol + 1);
		fclose(f);
		free(text);
	}
	snprintf(out_dir, sizeof(out_dir), "%s-out", exp);
	if (researcher("run", exp, NULL) != 0)
		fail_msg("the run with the token in its file failed:\n%s", output);
	assert_int_equal(harness_run(&H, plot, 60, output, sizeof(output)), 0);
	snprintf(tarball, sizeof(tarball), "%s/run.tar.gz", H.dir);
	assert_int_equal(harness_run(&H, pack, 60, output, sizeof(output)), 0);
	snprintf(unpacked, sizeof(unpacked), "%s/unpacked", H.dir);
	assert_int_equal(mkdir(unpacked, 0755), 0);
	assert_int_equal(harness_run(&H, untar, 60, output, sizeof(output)), 0);

	assert_int_equal(check_manifest(unpacked), sizeof(members) / sizeof(members[0]));
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		char *text;

		snprintf(path, sizeof(path), "%s/%s", unpacked, members[i]);
		text = slurp_text(path);
		if (!text)
			fail_msg("%s is not in the archive", members[i]);
		if (strstr(text, token) || strstr(text, password) || strstr(text, key))
			fail_msg("%s holds a secret", members[i]);
		free(text);
	}
	snprintf(path, sizeof(path), "%s/experiment.ini", unpacked);
	snprintf(line, sizeof(line), "\nrepository_token = REMOVED\n");
	assert_true(harness_file_contains(path, line));
	assert_true(harness_file_contains(path, "# repository_token = REMOVED\n"));
	assert_true(harness_file_contains(path, "signing_key = ")); /* paths stay */
	free(token);
	free(password);
	free(key);

	/* nothing to archive */
	assert_int_equal(researcher("archive", H.dir, NULL), 1);
	assert_non_null(strstr(output, "no run to archive"));
}

/* With node-level DP the status gives the epsilon spent: the accountant's
 * figure after the last round, the one history.jsonl records. */
static void test_status_shows_epsilon(void **state)
{
	char exp[512], out_dir[560], path[700], line[1 << 14];
	double recorded = -1;
	json_t *doc;
	FILE *f;

	(void)state;
	snprintf(exp, sizeof(exp), "%s/dp.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "bc", 2, 3, 60, "n_features = 30",
						  "\n[privacy]\ndp = node\ndp_clip = 1.0\ndp_noise_multiplier = 3\n"
						  "dp_delta = 1e-5\n"),
			 0);
	snprintf(out_dir, sizeof(out_dir), "%s-out", exp);
	if (researcher("run", exp, NULL) != 0)
		fail_msg("the DP run failed:\n%s", output);
	snprintf(path, sizeof(path), "%s/history.jsonl", out_dir);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		json_t *rec = json_loads(line, 0, NULL);

		if (json_is_number(json_object_get(rec, "epsilon")))
			recorded = json_number_value(json_object_get(rec, "epsilon"));
		json_decref(rec);
	}
	fclose(f);
	assert_true(recorded > 0);
	doc = status_doc(out_dir);
	assert_non_null(doc);
	assert_true(json_number_value(json_object_get(doc, "epsilon")) == recorded);
	assert_true(json_number_value(json_object_get(doc, "delta")) == 1e-5);
	json_decref(doc);
	assert_int_equal(researcher("status", out_dir, NULL), 0);
	snprintf(line, sizeof(line), "epsilon %.4f (delta 1e-05)", recorded);
	if (!strstr(output, line))
		fail_msg("no \"%s\" in the status:\n%s", line, output);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_then_stop_then_resume_is_bit_for_bit),
		cmocka_unit_test(test_status_of_killed_run),
		cmocka_unit_test(test_status_of_no_run),
		cmocka_unit_test(test_keep_best_keeps_the_model_the_history_scores_best),
		cmocka_unit_test(test_keep_best_needs_scores_of_the_global_model),
		cmocka_unit_test(test_export_of_a_run),
		cmocka_unit_test(test_archive_without_secrets),
		cmocka_unit_test(test_status_shows_epsilon),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
