/* Researcher runs that survive failures: a researcher killed with SIGKILL
 * mid-upload, mid-round and mid-breakpoint-write resumes to parameters
 * identical, byte for byte, to an uninterrupted run; a damaged breakpoint is
 * refused and the previous one still works; a node slower than the
 * deadline; too few nodes (retries, then a stop with a breakpoint); node
 * sampling; and each aggregator over a short experiment. Real Mosquitto,
 * repository server and three node daemons. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;
static char output[1 << 16];
static const size_t rows[3][2] = { { 0, 100 }, { 100, 180 }, { 280, 289 } };

static int approve(size_t node, const char *plan);

static int setup(void **state)
{
	char csv[512], id[32];

	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(csv, sizeof(csv), "%s/site-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "site-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, rows[i][0], rows[i][1]) ||
		    harness_add_node(&H, id, csv, "bc", harness_plan("logreg")) != (int)i)
			return -1;
		if ((i < 2 && approve(i, "fixtures/identity")) || approve(i, "mlp")) /* site-2 refuses identity */
			return -1;
		if (harness_start_node(&H, i) != 0)
			return -1;
	}
	return 0;
}

static int approve(size_t node, const char *plan)
{
	const char *argv[] = { harness_bin("fedc-node"), "--config", H.nodes[node].config, "plan", "approve",
			       harness_plan(plan), NULL };

	return harness_run(&H, argv, 30, NULL, 0);
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

/* Writes experiment `name` (output in dir/name-out) with `extra` lines in
 * [experiment] and `aggregator` as the [aggregator] section's body. */
static void write_logreg(const char *name, unsigned rounds, const char *extra, const char *aggregator, char *path,
			 size_t cap)
{
	char text[8192];

	snprintf(path, cap, "%s/%s.ini", H.dir, name);
	assert_int_equal(harness_write_experiment(&H, path, harness_plan("logreg"), "bc", rounds, 3, 60,
						  "n_features = 30", extra),
			 0);
	if (aggregator) {
		/* harness_write_experiment ends with [aggregator] name = fedavg and
		 * [network]: replace the former. */
		FILE *f = fopen(path, "r");
		size_t n = fread(text, 1, sizeof(text) - 1, f);
		char *agg, *net, rest[8192];

		fclose(f);
		text[n] = '\0';
		agg = strstr(text, "[aggregator]");
		net = strstr(text, "[network]");
		assert_non_null(agg);
		assert_non_null(net);
		snprintf(rest, sizeof(rest), "%s", net);
		snprintf(agg, sizeof(text) - (size_t)(agg - text), "[aggregator]\n%s\n%s", aggregator, rest);
		f = fopen(path, "w");
		fputs(text, f);
		fclose(f);
	}
}

static int researcher(const char *a, const char *b, const char *c, const char *d)
{
	const char *argv[] = { harness_bin("fedc-researcher"), a, b, c, d, NULL };

	return harness_run(&H, argv, 180, output, sizeof(output));
}

static int run_crashing_at(const char *exp, const char *point)
{
	int rc;

	setenv("FEDC_CRASH_AT", point, 1);
	rc = researcher("run", exp, NULL, NULL);
	unsetenv("FEDC_CRASH_AT");
	return rc;
}

/* The bytes of a file (malloc'd), or NULL. */
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

/* A store emptied, so that the next run uploads every blob again (the
 * repository skips what it holds, and the upload crash point needs a PUT). */
static void empty_repository(void)
{
	char store[512];
	const char *argv[] = { "/bin/rm", "-rf", store, NULL };

	snprintf(store, sizeof(store), "%s/repository/store", H.fed_dir);
	assert_int_not_equal(harness_stop(&H.repo, SIGTERM, 5000), -1);
	assert_int_equal(harness_run(&H, argv, 30, NULL, 0), 0);
	assert_int_equal(harness_start_repository(&H), 0);
}

static void append_line(const char *path, const char *line)
{
	FILE *f = fopen(path, "a");

	assert_non_null(f);
	fputs(line, f);
	assert_int_equal(fclose(f), 0);
}

static void test_resume_after_sigkill_is_bit_for_bit(void **state)
{
	/* Each point is where a SIGKILL lands in a 4-round run of 3 nodes:
	 *   upload-body:4      half-way through uploading round 2's parameters
	 *                      (1: plan, 2: initial parameters, 3: round 1)
	 *   round-reply:5      in round 2, after two of its three replies
	 *   breakpoint-write:3 half-way through writing round 2's breakpoint
	 *                      (1: round 0, 2: round 1)
	 * The first run keeps parameters out of the messages (inline_params_max
	 * = 0): a model this small would ride inline, and the researcher would
	 * upload no round's global (docs/protocol.md, "Parameters inline"). Its
	 * result must still be the reference's, bit for bit. */
	static const char *const points[] = { "upload-body:4", "round-reply:5", "breakpoint-write:3" };
	static const char *const network[] = { "inline_params_max = 0\n", "", "" };
	char reference[512], exp[512], ref_params[600], params[600];

	write_logreg("reference", 4, NULL, NULL, reference, sizeof(reference));
	assert_int_equal(researcher("run", reference, NULL, NULL), 0);
	snprintf(ref_params, sizeof(ref_params), "%s-out/global.params", reference);

	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		char name[32], out_dir[560];

		snprintf(name, sizeof(name), "crash-%zu", i);
		write_logreg(name, 4, NULL, NULL, exp, sizeof(exp));
		append_line(exp, network[i]); /* [network] is the file's last section */
		empty_repository();
		if (run_crashing_at(exp, points[i]) != 128 + SIGKILL)
			fail_msg("the run with FEDC_CRASH_AT=%s was not killed:\n%s", points[i], output);
		snprintf(out_dir, sizeof(out_dir), "%s-out", exp);
		if (researcher("resume", out_dir, NULL, NULL) != 0)
			fail_msg("resume after %s failed:\n%s", points[i], output);
		assert_non_null(strstr(output, "resuming at round"));
		snprintf(params, sizeof(params), "%s/global.params", out_dir);
		assert_same_file(ref_params, params);
	}
}

static bool has_breakpoint(const char *out_dir, unsigned round)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/breakpoints/round-%06u/breakpoint.json", out_dir, round);
	return access(path, R_OK) == 0;
}

/* breakpoint_every = 2 over 5 rounds: breakpoints after rounds 0, 2, 4 and
 * the last, 5, only. Killed in round 4 (after two of its replies; three a
 * round before), the resumed run starts again after round 2, and ends with
 * the parameters of a run that saved every round, bit for bit. */
static void test_breakpoint_every_k_resumes_bit_for_bit(void **state)
{
	char reference[512], exp[512], ref_params[600], params[600], out_dir[560];

	write_logreg("every-1", 5, NULL, NULL, reference, sizeof(reference));
	assert_int_equal(researcher("run", reference, NULL, NULL), 0);
	snprintf(ref_params, sizeof(ref_params), "%s-out/global.params", reference);

	write_logreg("every-2", 5, "breakpoint_every = 2\n", NULL, exp, sizeof(exp));
	snprintf(out_dir, sizeof(out_dir), "%s-out", exp);
	if (run_crashing_at(exp, "round-reply:11") != 128 + SIGKILL)
		fail_msg("the run with FEDC_CRASH_AT=round-reply:11 was not killed:\n%s", output);
	assert_true(has_breakpoint(out_dir, 0));
	assert_false(has_breakpoint(out_dir, 1));
	assert_true(has_breakpoint(out_dir, 2));
	assert_false(has_breakpoint(out_dir, 3));
	if (researcher("resume", out_dir, NULL, NULL) != 0)
		fail_msg("resume failed:\n%s", output);
	if (!strstr(output, "resuming at round 3"))
		fail_msg("the resume did not start after round 2's breakpoint:\n%s", output);
	assert_true(has_breakpoint(out_dir, 4));
	assert_true(has_breakpoint(out_dir, 5)); /* the last round: always */
	snprintf(params, sizeof(params), "%s/global.params", out_dir);
	assert_same_file(ref_params, params);
}

/* keep_best takes its model from a breakpoint: it needs one every round. */
static void test_breakpoint_every_with_keep_best_refused(void **state)
{
	char exp[512];

	write_logreg("every-best", 2, "breakpoint_every = 2\n[training]\nkeep_best = accuracy\n", NULL, exp,
		     sizeof(exp));
	assert_int_equal(researcher("run", exp, NULL, NULL), 2); /* the experiment file */
	if (!strstr(output, "keep_best = accuracy needs [experiment] breakpoint_every = 1"))
		fail_msg("keep_best with breakpoint_every = 2 was not refused by name:\n%s", output);
}

/* Files of `dir` whose name starts with `prefix`. */
static int count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

/* Killed while writing round 0's aggregator state (the second file written
 * atomically, after the initial parameters): resume finds no breakpoint, and
 * no half-written .aggregator.state.XXXXXX stays behind. */
static void test_killed_writing_state_leaves_no_temp_file(void **state)
{
	char exp[512], out_dir[560];

	write_logreg("killed-state", 2, NULL, NULL, exp, sizeof(exp));
	if (run_crashing_at(exp, "atomic-commit:2") != 128 + SIGKILL)
		fail_msg("the run with FEDC_CRASH_AT=atomic-commit:2 was not killed:\n%s", output);
	snprintf(out_dir, sizeof(out_dir), "%s-out", exp);
	if (researcher("resume", out_dir, NULL, NULL) != 1 || !strstr(output, "no breakpoints"))
		fail_msg("resume did not say there is no breakpoint:\n%s", output);
	/* the kill landed on the state: parameters written, state not */
	assert_int_equal(count_prefixed(out_dir, "global.params"), 1);
	assert_int_equal(count_prefixed(out_dir, "aggregator.state"), 0);
	assert_int_equal(count_prefixed(out_dir, ".aggregator.state."), 0);
	assert_int_equal(count_prefixed(out_dir, "."), 2); /* "." and ".." alone */
}

/* A resume killed while it puts the breakpoint's parameters back as
 * global.params (its first atomic commit) leaves the file there as it was and
 * no temporary file; the next resume finishes. */
static void test_resume_killed_restoring_params_leaves_old_file(void **state)
{
	static const char junk[] = "not the breakpoint's parameters";
	char exp[512], out_dir[560], params[600];
	size_t len = 0;
	char *text;
	FILE *f;
	int rc;

	write_logreg("killed-restore", 3, NULL, NULL, exp, sizeof(exp));
	/* killed in round 2, after its first reply: breakpoints of rounds 0 and 1 */
	assert_int_equal(run_crashing_at(exp, "round-reply:4"), 128 + SIGKILL);
	snprintf(out_dir, sizeof(out_dir), "%s-out", exp);
	snprintf(params, sizeof(params), "%s/global.params", out_dir);
	/* a new file: the old one is a link of the breakpoint's */
	assert_int_equal(unlink(params), 0);
	f = fopen(params, "w");
	assert_non_null(f);
	fputs(junk, f);
	assert_int_equal(fclose(f), 0);

	setenv("FEDC_CRASH_AT", "atomic-commit:1", 1);
	rc = researcher("resume", out_dir, NULL, NULL);
	unsetenv("FEDC_CRASH_AT");
	if (rc != 128 + SIGKILL)
		fail_msg("the resume with FEDC_CRASH_AT=atomic-commit:1 was not killed:\n%s", output);
	text = slurp(params, &len);
	assert_non_null(text);
	if (len != strlen(junk) || memcmp(text, junk, len) != 0)
		fail_msg("global.params was replaced before the resume was killed (%zu bytes)", len);
	free(text);
	assert_int_equal(count_prefixed(out_dir, "global.params"), 1);
	assert_int_equal(count_prefixed(out_dir, ".global.params."), 0);

	if (researcher("resume", out_dir, NULL, NULL) != 0)
		fail_msg("resume after the killed resume failed:\n%s", output);
	assert_non_null(strstr(output, "resuming at round 2"));
}

static void test_damaged_breakpoint_refused_previous_works(void **state)
{
	char exp[512], out_dir[560], path[700], reference[600];

	write_logreg("damaged", 3, NULL, NULL, exp, sizeof(exp));
	empty_repository();
	/* killed in round 3: breakpoints of rounds 0, 1 and 2 exist */
	assert_int_equal(run_crashing_at(exp, "round-reply:7"), 128 + SIGKILL);
	snprintf(out_dir, sizeof(out_dir), "%s-out", exp);
	snprintf(path, sizeof(path), "%s/breakpoints/round-000002/global.params", out_dir);
	assert_int_equal(truncate(path, 10), 0);

	assert_int_equal(researcher("resume", out_dir, NULL, NULL), 1);
	assert_non_null(strstr(output, "round-000002/global.params is damaged or truncated"));
	assert_non_null(strstr(output, "--round 1"));
	assert_int_equal(researcher("resume", out_dir, "--round", "1"), 0);

	/* the same as a run never interrupted */
	write_logreg("undamaged", 3, NULL, NULL, exp, sizeof(exp));
	assert_int_equal(researcher("run", exp, NULL, NULL), 0);
	snprintf(reference, sizeof(reference), "%s-out/global.params", exp);
	snprintf(path, sizeof(path), "%s/global.params", out_dir);
	assert_same_file(reference, path);

	/* nothing to resume from, and a round that has no breakpoint */
	assert_int_equal(researcher("resume", H.dir, NULL, NULL), 1);
	assert_non_null(strstr(output, "no breakpoints"));
	assert_int_equal(researcher("resume", out_dir, "--round", "99"), 1);
	assert_non_null(strstr(output, "no breakpoint for round 99"));
	assert_int_equal(researcher("resume", out_dir, "--round", "two"), 2);
}

/* site-2 has not approved the identity plan: with min_nodes = 3 every
 * attempt of round 1 falls short; the run retries, then stops, pointing at
 * the breakpoint to resume from. */
static void test_too_few_nodes_retries_then_stops(void **state)
{
	char exp[512], bp[700];

	snprintf(exp, sizeof(exp), "%s/too-few.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/identity"), "bc", 2, 3, 10, "",
						  "round_retries = 1"),
			 0);
	assert_int_equal(researcher("run", exp, NULL, NULL), 1);
	assert_non_null(strstr(output, "round 1: 2 update(s) usable, min_nodes is 3; retrying (1 of 1)"));
	assert_non_null(strstr(output, "2 time(s); the experiment stops"));
	assert_non_null(strstr(output, "fedc-researcher resume"));
	assert_non_null(strstr(output, "node site-2 error: plan-not-approved"));
	snprintf(bp, sizeof(bp), "%s-out/breakpoints/round-000000/breakpoint.json", exp);
	assert_int_equal(access(bp, R_OK), 0);
}

/* site-0 trains on 80 rows, site-1 on 144: only site-0 sleeps past the 3 s
 * deadline (site-2 refuses the identity plan). The round goes on with
 * site-1, on time. */
static void test_node_slower_than_deadline(void **state)
{
	char exp[512], nodes_csv[700];

	snprintf(exp, sizeof(exp), "%s/slow-identity.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/identity"), "bc", 1, 1, 3,
						  "sleep_ms = 6000\nslow_below_samples = 100", "final_evaluation = false"),
			 0);
	assert_int_equal(researcher("run", exp, NULL, NULL), 0);
	assert_non_null(strstr(output, "node site-0 timeout: no reply within round_timeout_s = 3 s"));
	assert_non_null(strstr(output, "nodes 1/3"));
	snprintf(nodes_csv, sizeof(nodes_csv), "%s-out/nodes.csv", exp);
	assert_true(harness_file_contains(nodes_csv, "site-0,"));
	assert_true(harness_file_contains(nodes_csv, ",timeout,"));
}

/* site-0 (80 rows) sends an update holding a NaN: the researcher's fetcher
 * refuses it, the round goes on with site-1 (site-2 refuses the plan). */
static void test_refused_update(void **state)
{
	char exp[512], nodes_csv[700];

	snprintf(exp, sizeof(exp), "%s/nan-identity.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/identity"), "bc", 2, 1, 30,
						  "nan_below_samples = 100", "final_evaluation = false"),
			 0);
	if (researcher("run", exp, NULL, NULL) != 0)
		fail_msg("%s", output);
	assert_non_null(strstr(output, "node site-0 rejected: its update was refused: update tensor \"values\" "
				       "holds NaN at index 0"));
	assert_non_null(strstr(output, "round    2/2     nodes 1/3"));
	snprintf(nodes_csv, sizeof(nodes_csv), "%s-out/nodes.csv", exp);
	assert_true(harness_file_contains(nodes_csv, ",rejected,"));
}

/* A node keeps a round's two memfds while it keeps a plan process and
 * rewrites them in place. A job with a small model right after one with a
 * big model must still send updates cut to their own size: a tail left
 * from the big one would make the researcher refuse them (trailing bytes). */
static void test_small_model_after_big_one(void **state)
{
	char big[512], small[512];

	snprintf(big, sizeof(big), "%s/big-identity.ini", H.dir);
	snprintf(small, sizeof(small), "%s/small-identity.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, big, harness_plan("fixtures/identity"), "bc", 1, 2, 30,
						  "n_params = 200000", "final_evaluation = false"),
			 0);
	assert_int_equal(harness_write_experiment(&H, small, harness_plan("fixtures/identity"), "bc", 2, 2, 30,
						  "n_params = 10", "final_evaluation = false"),
			 0);
	if (researcher("run", big, NULL, NULL) != 0)
		fail_msg("%s", output);
	assert_non_null(strstr(output, "round    1/1     nodes 2/3"));
	if (researcher("run", small, NULL, NULL) != 0)
		fail_msg("%s", output);
	assert_non_null(strstr(output, "round    2/2     nodes 2/3"));
	assert_null(strstr(output, "rejected"));
}

static void test_fraction_samples_nodes(void **state)
{
	char exp[512], rounds_csv[700];

	snprintf(exp, sizeof(exp), "%s/fraction.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "bc", 3, 1, 60, "n_features = 30",
						  "fraction = 0.5\nfinal_evaluation = false"),
			 0);
	assert_int_equal(researcher("run", exp, NULL, NULL), 0);
	/* ceil(0.5 * 3) = 2 nodes a round */
	assert_non_null(strstr(output, "round    1/3     nodes 2/2"));
	assert_non_null(strstr(output, "round    3/3     nodes 2/2"));
	snprintf(rounds_csv, sizeof(rounds_csv), "%s-out/rounds.csv", exp);
	assert_true(harness_file_contains(rounds_csv, "\n3,train,2,2,"));
}

/* test_on_global_updates / test_on_local_updates off: the nodes skip those
 * evaluations; test_metric chooses what the round line shows. */
static void test_test_flags_and_metric(void **state)
{
	char exp[512], history[700];

	snprintf(exp, sizeof(exp), "%s/flags.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "bc", 2, 3, 60, "n_features = 30",
						  "final_evaluation = false"),
			 0);
	{
		FILE *f = fopen(exp, "a");

		assert_non_null(f);
		fputs("[training]\ntest_on_global_updates = false\ntest_on_local_updates = false\ntest_metric = loss\n", f);
		fclose(f);
	}
	if (researcher("run", exp, NULL, NULL) != 0)
		fail_msg("%s", output);
	/* nothing was evaluated: the metric of the model sent is unknown */
	assert_non_null(strstr(output, "loss of the model sent nan"));
	snprintf(history, sizeof(history), "%s-out/history.jsonl", exp);
	assert_false(harness_file_contains(history, "test_accuracy"));
	assert_true(harness_file_contains(history, "\"global_metrics\":{}"));
}

/* Points an experiment written by write_logreg at the MLP plan (on the SDK),
 * a small one for the breast-cancer data. */
static void use_mlp(const char *path)
{
	char text[4096], out[4200], *plan, *eol, *model;
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	plan = strstr(text, "plan = ");
	model = strstr(text, "n_features = 30\n");
	assert_non_null(plan);
	assert_non_null(model);
	eol = strchr(plan, '\n');
	*plan = '\0';
	*model = '\0';
	snprintf(out, sizeof(out), "%splan = %s%.*sn_features = 30\nn_classes = 2\nhidden = 8\n%s", text,
		 harness_plan("mlp"), (int)(model - eol), eol, model + strlen("n_features = 30\n"));
	f = fopen(path, "w");
	fputs(out, f);
	fclose(f);
}

/* SCAFFOLD end to end: the MLP plan applies the correction; nodes keep c_i
 * per round, so a researcher killed mid-round resumes to the same bytes; a
 * plan without the feature is refused with the reason. */
static void test_scaffold(void **state)
{
	char exp[512], ref[600], params[600], out_dir[560];

	write_logreg("scaffold-ref", 3, NULL, "method = scaffold", exp, sizeof(exp));
	use_mlp(exp);
	if (researcher("run", exp, NULL, NULL) != 0)
		fail_msg("%s", output);
	assert_non_null(strstr(output, "round    3/3     nodes 3/3"));
	snprintf(ref, sizeof(ref), "%s-out/global.params", exp);

	write_logreg("scaffold-crash", 3, NULL, "method = scaffold", exp, sizeof(exp));
	use_mlp(exp);
	assert_int_equal(run_crashing_at(exp, "round-reply:5"), 128 + SIGKILL);
	snprintf(out_dir, sizeof(out_dir), "%s-out", exp);
	if (researcher("resume", out_dir, NULL, NULL) != 0)
		fail_msg("%s", output);
	snprintf(params, sizeof(params), "%s/global.params", out_dir);
	assert_same_file(ref, params);

	/* logreg does not apply the correction: refused, saying why */
	write_logreg("scaffold-logreg", 1, "round_retries = 0", "method = scaffold", exp, sizeof(exp));
	if (researcher("run", exp, NULL, NULL) != 1 || !strstr(output, "does not apply its correction"))
		fail_msg("a plan without SCAFFOLD was not refused with the reason:\n%s", output);
}

static void test_each_aggregator(void **state)
{
	static const char *const methods[] = {
		"method = fedavg",
		"method = fedprox\nmu = 0.01",
		"method = fedadam\nserver_lr = 0.05",
		"method = fedyogi\nserver_lr = 0.05",
		"method = fedadagrad\nserver_lr = 0.05",
		"method = median",
		"method = trimmed_mean\nbeta = 0.34",
	};
	char exp[512], name[32];

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		snprintf(name, sizeof(name), "agg-%zu", i);
		write_logreg(name, 3, NULL, methods[i], exp, sizeof(exp));
		if (researcher("run", exp, NULL, NULL) != 0)
			fail_msg("%s failed:\n%s", methods[i], output);
		assert_non_null(strstr(output, "round    3/3     nodes 3/3"));
		assert_non_null(strstr(output, "final evaluation"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resume_after_sigkill_is_bit_for_bit),
		cmocka_unit_test(test_breakpoint_every_k_resumes_bit_for_bit),
		cmocka_unit_test(test_breakpoint_every_with_keep_best_refused),
		cmocka_unit_test(test_killed_writing_state_leaves_no_temp_file),
		cmocka_unit_test(test_resume_killed_restoring_params_leaves_old_file),
		cmocka_unit_test(test_damaged_breakpoint_refused_previous_works),
		cmocka_unit_test(test_too_few_nodes_retries_then_stops),
		cmocka_unit_test(test_node_slower_than_deadline),
		cmocka_unit_test(test_refused_update),
		cmocka_unit_test(test_small_model_after_big_one),
		cmocka_unit_test(test_fraction_samples_nodes),
		cmocka_unit_test(test_test_flags_and_metric),
		cmocka_unit_test(test_scaffold),
		cmocka_unit_test(test_each_aggregator),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
