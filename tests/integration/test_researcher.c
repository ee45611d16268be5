/* fedc-researcher against a real federation: the nodes, search and
 * approval commands, and their bad arguments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/hash.h"
#include "fedc/message.h"
#include "fedc/repo.h"
#include "harness.h"

static struct harness H;
static char output[1 << 16];
static char network[512];

static int setup(void **state)
{
	static const char *const ids[] = { "clinic-a", "clinic-b", "clinic-c" };
	static const char *const tags[] = { "breast-cancer,tabular", "breast-cancer", "other" };
	char csv[512];

	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(csv, sizeof(csv), "%s/%s.csv", H.dir, ids[i]);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, i * 150, 150) ||
		    harness_add_node(&H, ids[i], csv, tags[i], i == 0 ? harness_plan("logreg") : NULL) != (int)i)
			return -1;
		/* clinic-b's operator approves plans by their SHA3-256 digest */
		if (i == 1) {
			FILE *f = fopen(H.nodes[i].config, "a");

			if (!f || fputs("[security]\nplan_digest = sha3-256\n", f) < 0 || fclose(f) != 0)
				return -1;
		}
		if (harness_start_node(&H, i) != 0)
			return -1;
	}
	/* Any experiment file serves as the network file: its [network] is read. */
	snprintf(network, sizeof(network), "%s/network.ini", H.dir);
	return harness_write_experiment(&H, network, harness_plan("logreg"), "breast-cancer", 1, 1, 30,
					"n_features = 30", NULL);
}

static int teardown(void **state)
{
	harness_cleanup(&H);
	return 0;
}

static size_t occurrences(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *at = strstr(text, needle); at; at = strstr(at + 1, needle))
		n++;
	return n;
}

static int researcher(const char *a, const char *b, const char *c, const char *d, const char *e)
{
	const char *argv[] = { harness_bin("fedc-researcher"), a, b, c, d, e,
			       NULL };

	return harness_run(&H, argv, 60, output, sizeof(output));
}

static void test_nodes_lists_every_node_and_dataset(void **state)
{
	assert_int_equal(researcher("nodes", "--network", network, NULL, NULL), 0);
	assert_non_null(strstr(output, "3 node(s) online"));
	for (const char *const *id = (const char *const[]){ "clinic-a", "clinic-b", "clinic-c", NULL }; *id; id++) {
		if (!strstr(output, *id))
			fail_msg("%s missing from:\n%s", *id, output);
	}
	assert_non_null(strstr(output, " csv     shape 30              150 samples    2 classes  tags: breast-cancer,tabular"));
}

static void test_search_by_tags(void **state)
{
	assert_int_equal(researcher("search", "--tags", "breast-cancer", "--network", network), 0);
	assert_non_null(strstr(output, "2 of 3 node(s) hold datasets tagged breast-cancer"));
	assert_null(strstr(output, "clinic-c"));
	assert_int_equal(researcher("search", "--tags", "breast-cancer,tabular", "--network", network), 0);
	assert_non_null(strstr(output, "1 of 3 node(s)"));
	assert_int_equal(researcher("search", "--tags", "no-such-tag", "--network", network), 0);
	assert_non_null(strstr(output, "0 of 3 node(s)"));
}

static void test_approval_registers_pending(void **state)
{
	char listing[8192];
	const char *argv[] = { harness_bin("fedc-node"), "--config", H.nodes[1].config, "plan", "list", NULL };

	assert_int_equal(researcher("approval", harness_plan("fixtures/identity"), "--network", network,
				    "--description=returns its input"),
			 0);
	assert_non_null(strstr(output, "clinic-b                 pending"));
	assert_non_null(strstr(output, "fedc-node plan approve "));
	assert_int_equal(harness_run(&H, argv, 30, listing, sizeof(listing)), 0);
	assert_non_null(strstr(listing, "pending"));
	assert_non_null(strstr(listing, "identity.so"));
	/* clinic-a's operator approved logreg already: asking again says so */
	assert_int_equal(researcher("approval", harness_plan("logreg"), "--network", network, NULL), 0);
	assert_non_null(strstr(output, "clinic-a                 approved"));
	assert_non_null(strstr(output, "clinic-b                 pending"));
}

/* clinic-b lists plans by SHA3-256: the plan registered by `approval` is
 * approved by that digest, and a round runs on it. */
static void test_approval_by_sha3_digest(void **state)
{
	char digest[FEDC_HASH_MAX_HEXLEN + 1], exp[512];
	const char *approve[] = { harness_bin("fedc-node"), "--config", H.nodes[1].config, "plan", "approve", digest,
				  NULL };

	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA3_256, harness_plan("fixtures/identity"), digest), FEDC_OK);
	assert_int_equal(researcher("approval", harness_plan("fixtures/identity"), "--network", network, NULL), 0);
	assert_int_equal(harness_run(&H, approve, 30, output, sizeof(output)), 0);
	snprintf(exp, sizeof(exp), "%s/sha3.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("fixtures/identity"), "breast-cancer", 1, 1, 30,
						  "", "nodes = clinic-b"),
			 0);
	assert_int_equal(researcher("run", exp, NULL, NULL, NULL), 0);
	assert_non_null(strstr(output, "round    1/1     nodes 1/1"));
}

static int node_cli(size_t i, const char *cmd, const char *arg, char *out, size_t cap)
{
	const char *argv[] = { harness_bin("fedc-node"), "--config", H.nodes[i].config, "plan", cmd, arg, NULL };

	return harness_run(&H, argv, 30, out, cap);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* `approval --source`: the files go through the repository as one bundle;
 * clinic-c keeps it with the pending plan, `plan list|show` say it came and
 * `plan source` prints it. A binary file is refused by the researcher. */
static void test_approval_ships_source(void **state)
{
	char digest[FEDC_HASH_MAX_HEXLEN + 1], sources[1100], plan_c[512], util_h[512], listing[8192];

	snprintf(plan_c, sizeof(plan_c), "%s/plan.c", H.dir);
	snprintf(util_h, sizeof(util_h), "%s/util.h", H.dir);
	write_text(plan_c, "#include \"util.h\"\n/* <script>alert(1)</script> & co */\nint create(void) { return N; }\n");
	write_text(util_h, "#define N 3\n");
	snprintf(sources, sizeof(sources), "--source=%s,%s", plan_c, util_h);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, harness_plan("linreg"), digest), FEDC_OK);
	if (researcher("approval", harness_plan("linreg"), "--network", network, sources) != 0)
		fail_msg("%s", output);
	assert_non_null(strstr(output, "clinic-c                 pending"));
	assert_non_null(strstr(output, "source "));

	assert_int_equal(node_cli(2, "list", NULL, listing, sizeof(listing)), 0);
	if (!strstr(listing, "SOURCE") || !strstr(listing, "pending   yes"))
		fail_msg("%s", listing);
	assert_int_equal(node_cli(2, "show", digest, listing, sizeof(listing)), 0);
	assert_non_null(strstr(listing, "source:       shipped"));
	assert_int_equal(node_cli(2, "source", digest, listing, sizeof(listing)), 0);
	if (!strstr(listing, "nothing proves the plan was built from it") || !strstr(listing, "# ==> plan.c (") ||
	    !strstr(listing, "/* <script>alert(1)</script> & co */\nint create(void)") ||
	    !strstr(listing, "# ==> util.h (12 bytes) <==\n#define N 3\n"))
		fail_msg("%s", listing);

	/* a plan that came without source says so */
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, harness_plan("fixtures/identity"), digest), FEDC_OK);
	assert_int_equal(node_cli(2, "source", digest, listing, sizeof(listing)), 1);
	assert_non_null(strstr(listing, "no source was shipped"));

	/* a compiled file is not source: the researcher refuses it, naming it
	 * (the head of an ELF file: a real plan may pass 1 MiB, refused for that) */
	snprintf(plan_c, sizeof(plan_c), "%s/helper.so", H.dir);
	write_text(plan_c, "\x7f" "ELF\x02\x01\x01");
	snprintf(sources, sizeof(sources), "--source=%s", plan_c);
	assert_int_equal(researcher("approval", harness_plan("logreg-dpsgd"), "--network", network, sources), 1);
	if (!strstr(output, "cannot ship the source") || !strstr(output, "helper.so") || !strstr(output, "is not text"))
		fail_msg("%s", output);
}

/* `approval plan.c`: compiled as `run` would, and that file shipped as its
 * source. */
static void test_approval_of_source_compiles_and_ships_it(void **state)
{
	char digest[FEDC_HASH_MAX_HEXLEN + 1], listing[8192];
	const char *at;

	if (researcher("approval", FEDC_SOURCE_DIR "/examples/mlp/plan.c", "--network", network, NULL) != 0)
		fail_msg("%s", output);
	assert_non_null(strstr(output, "compiling "));
	at = strstr(output, "plan plan.so (");
	assert_non_null(at);
	assert_int_equal(sscanf(at, "plan plan.so (%64[0-9a-f])", digest), 1);
	assert_non_null(strstr(output, "examples/mlp/plan.c)"));
	assert_non_null(strstr(output, "clinic-c                 pending"));
	assert_int_equal(node_cli(2, "source", digest, listing, sizeof(listing)), 0);
	assert_non_null(strstr(listing, "# ==> plan.c ("));
	/* a source that does not compile: said, nothing sent */
	assert_int_equal(researcher("approval", "/nonexistent/plan.c", "--network", network, NULL), 1);
	assert_non_null(strstr(output, "cannot read the plan source /nonexistent/plan.c"));
}

/* A bundle that is not one (here a path for a name), sent by a researcher
 * that does not use fedc-researcher: clinic-c still records the request,
 * without source, and says why. */
static void test_approval_bad_source_bundle_refused(void **state)
{
	static const char bad[] = "FEDCSRC1\x00\x01\x09../evil.c\x00\x00\x00\x01x";
	char plan[FEDC_HASH_MAX_HEXLEN + 1], source[FEDC_HASH_MAX_HEXLEN + 1], path[512], listing[8192];
	struct fedc_msg *msg = fedc_msg_new(FEDC_CMD_APPROVAL), *reply = calloc(1, sizeof(*reply));
	struct fedc_repo *repo = NULL;
	FILE *f;

	assert_non_null(msg);
	assert_non_null(reply);
	snprintf(path, sizeof(path), "%s/bad.bundle", H.dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(bad, 1, sizeof(bad) - 1, f), sizeof(bad) - 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(harness_repo_new(&H, &repo), 0);
	assert_int_equal(fedc_repo_put_file(repo, harness_plan("logreg-dpsgd"), NULL, plan, NULL), FEDC_OK);
	assert_int_equal(fedc_repo_put_file(repo, path, NULL, source, NULL), FEDC_OK);
	fedc_repo_free(repo);

	snprintf(msg->plan_digest, sizeof(msg->plan_digest), "%s", plan);
	snprintf(msg->plan_name, sizeof(msg->plan_name), "logreg-dpsgd.so");
	snprintf(msg->source_digest, sizeof(msg->source_digest), "%s", source);
	fedc_msg_set(msg, FEDC_F_PLAN_DIGEST);
	fedc_msg_set(msg, FEDC_F_PLAN_NAME);
	fedc_msg_set(msg, FEDC_F_SOURCE_DIGEST);
	assert_int_equal(harness_send(&H, "clinic-c", msg), 0);
	for (;;) {
		void *payload = NULL;
		size_t len = 0;

		assert_int_equal(harness_next_reply(&H, 20000, &payload, &len), 0);
		fedc_msg_clear(reply); /* earlier replies (lists) own their datasets */
		assert_int_equal(fedc_msg_decode(payload, len, reply), FEDC_OK);
		free(payload);
		if (reply->command == FEDC_CMD_APPROVAL_REPLY && strcmp(reply->plan_digest, plan) == 0)
			break;
	}
	assert_string_equal(reply->plan_status, "pending");
	assert_int_equal(node_cli(2, "source", plan, listing, sizeof(listing)), 1);
	if (!strstr(listing, "was refused") || !strstr(listing, "its name is not"))
		fail_msg("%s", listing);
	assert_int_equal(node_cli(2, "show", plan, listing, sizeof(listing)), 0);
	assert_non_null(strstr(listing, "shipped but refused"));
	fedc_msg_free(msg);
	fedc_msg_free(reply);
}

/* `plan = plan.c`: the researcher compiles it against the SDK into
 * OUTPUT_DIR/plan.so; an operator approves that file; the plan trains. */
static void test_plan_from_source(void **state)
{
	char exp[512], so[600], bad[512];
	const char *approve[] = { harness_bin("fedc-node"), "--config", H.nodes[0].config, "plan", "approve", so,
				  NULL };
	FILE *f;

	snprintf(exp, sizeof(exp), "%s/source.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, FEDC_SOURCE_DIR "/examples/mlp/plan.c", "breast-cancer", 2, 1,
						  30, "n_features = 30\nn_classes = 2\nhidden = 16",
						  "nodes = clinic-a\nround_retries = 0"),
			 0);
	/* not approved anywhere yet: compiled, then refused */
	assert_int_equal(researcher("run", exp, NULL, NULL, NULL), 1);
	assert_non_null(strstr(output, "compiling "));
	assert_non_null(strstr(output, "plan-not-approved"));
	snprintf(so, sizeof(so), "%s-out/plan.so", exp);
	assert_int_equal(harness_run(&H, approve, 30, NULL, 0), 0);
	/* compiled again, to the same bytes, and now it trains */
	if (researcher("run", exp, NULL, NULL, NULL) != 0)
		fail_msg("%s", output);
	assert_non_null(strstr(output, "round    2/2     nodes 1/1"));

	snprintf(bad, sizeof(bad), "%s/broken.c", H.dir);
	f = fopen(bad, "w");
	assert_non_null(f);
	fputs("#include \"fedc/nn.h\"\nint this is not C;\n", f);
	fclose(f);
	/* (another experiment file, hence another output directory: source.ini-out holds a finished run) */
	snprintf(exp, sizeof(exp), "%s/broken.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, bad, "breast-cancer", 1, 1, 30, "", NULL), 0);
	assert_int_equal(researcher("run", exp, NULL, NULL, NULL), 1);
	assert_non_null(strstr(output, "cannot compile the plan"));
	assert_non_null(strstr(output, "broken.c:2"));
}

static void test_bad_arguments(void **state)
{
	assert_int_equal(researcher("nodes", NULL, NULL, NULL, NULL), 2);
	assert_non_null(strstr(output, "--network FILE is required"));
	assert_int_equal(researcher("search", "--network", network, NULL, NULL), 2);
	assert_non_null(strstr(output, "--tags T1,T2 is required"));
	assert_int_equal(researcher("nodes", "--network", "/nonexistent.ini", NULL, NULL), 1);
	assert_non_null(strstr(output, "/nonexistent.ini"));
	assert_int_equal(researcher("nodes", "--network", network, "--timeout", "zero"), 2);
	assert_non_null(strstr(output, "--timeout: expected an integer in 1..3600, got \"zero\""));
	assert_int_equal(researcher("approval", "/nonexistent.so", "--network", network, NULL), 1);
	assert_non_null(strstr(output, "cannot upload /nonexistent.so"));
	assert_int_equal(researcher("approval", "--network", network, NULL, NULL), 2);
	assert_int_equal(researcher("search", "--tags", ",,,", "--network", network), 1);
	assert_non_null(strstr(output, "give 1 to"));
}

/* Runs `fedc-researcher ARGS` through the shell with only one stream kept
 * in `output`: stdout (fd 1) or stderr (fd 2). */
static int researcher_stream(int fd, const char *args)
{
	char cmd[2048];
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };

	snprintf(cmd, sizeof(cmd), "exec %s %s %s", harness_bin("fedc-researcher"), args,
		 fd == 1 ? "2>/dev/null" : "2>&1 >/dev/null");
	return harness_run(&H, argv, 60, output, sizeof(output));
}

static const char *const commands[] = { "run", "resume", "nodes", "search", "approval", "plot", "protocol-doc" };
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* --help / -h / help at every level: the usage on stdout, nothing on
 * stderr, exit 0, and no config or network file needed. */
static void test_help_at_every_level(void **state)
{
	char args[256], want[128];

	for (const char *const *h = (const char *const[]){ "--help", "-h", "help", NULL }; *h; h++) {
		assert_int_equal(researcher_stream(1, *h), 0);
		assert_non_null(strstr(output, "usage: fedc-researcher COMMAND"));
		for (size_t i = 0; i < N_COMMANDS; i++)
			assert_non_null(strstr(output, commands[i]));
		assert_int_equal(researcher_stream(2, *h), 0);
		assert_string_equal(output, "");
	}
	for (size_t i = 0; i < N_COMMANDS; i++) {
		snprintf(want, sizeof(want), "usage: fedc-researcher %s", commands[i]);
		static const char *const forms[][2] = { { "", " --help" }, { "", " -h" }, { "help ", "" } };

		for (size_t f = 0; f < 3; f++) {
			snprintf(args, sizeof(args), "%s%s%s", forms[f][0], commands[i], forms[f][1]);
			if (researcher_stream(1, args) != 0 || !strstr(output, want) || !strstr(output, "--help"))
				fail_msg("fedc-researcher %s: stdout \"%s\"", args, output);
			assert_int_equal(researcher_stream(2, args), 0);
			assert_string_equal(output, "");
		}
	}
	/* the options come from the command's table, integer ranges included */
	assert_int_equal(researcher_stream(1, "nodes --help"), 0);
	assert_non_null(strstr(output, "--timeout S"));
	assert_non_null(strstr(output, "(1..3600)"));
	/* --help wins over a missing experiment file */
	assert_int_equal(researcher_stream(1, "run /nonexistent.ini --help"), 0);
}

/* A wrong flag, a missing value, a number out of range: one line that names
 * the flag, then the command's usage, all on stderr; exit 2. */
static void test_bad_flags_and_numbers(void **state)
{
	char args[1024], want[128];
	/* command line: [0] NETWORK [1]; the message expected */
	static const char *const bad_numbers[][3] = {
		{ "nodes --network ", " --timeout 4294967297", "--timeout: expected an integer in 1..3600, got \"4294967297\"" },
		{ "search --tags a --network ", " --timeout 0", "--timeout: expected an integer in 1..3600, got \"0\"" },
		{ "approval x.so --network ", " --timeout=-5", "--timeout: expected an integer in 1..3600, got \"-5\"" },
		{ "nodes --network ", " --timeout 10s", "--timeout: expected an integer in 1..3600, got \"10s\"" },
		{ "resume ", " --round 4294967296", "--round: expected an integer in 0..4294967295, got \"4294967296\"" },
		{ "resume ", " --round -1", "--round: expected an integer in 0..4294967295, got \"-1\"" },
		{ "nodes --network ", " --log-level loud", "--log-level: expected debug, info, warn or error, got \"loud\"" },
		{ "nodes --network ", " --timeout", "--timeout needs a value" },
		{ "protocol-doc ", "", "takes no operand" },
		{ "run ", " extra.ini", "expected EXPERIMENT.ini" },
	};

	for (size_t i = 0; i < N_COMMANDS; i++) {
		snprintf(args, sizeof(args), "%s --bogus", commands[i]);
		snprintf(want, sizeof(want), "usage: fedc-researcher %s", commands[i]);
		assert_int_equal(researcher_stream(2, args), 2);
		if (!strstr(output, "unknown option --bogus"))
			fail_msg("%s: stderr \"%s\"", args, output);
		assert_non_null(strstr(output, want));
		assert_int_equal(researcher_stream(1, args), 2);
		assert_string_equal(output, "");
	}
	for (size_t i = 0; i < sizeof(bad_numbers) / sizeof(bad_numbers[0]); i++) {
		snprintf(args, sizeof(args), "%s%s%s", bad_numbers[i][0], network, bad_numbers[i][1]);
		if (researcher_stream(2, args) != 2 || !strstr(output, bad_numbers[i][2]) ||
		    !strstr(output, "usage: fedc-researcher "))
			fail_msg("fedc-researcher %s: stderr \"%s\"; expected \"%s\"", args, output, bad_numbers[i][2]);
	}
	assert_int_equal(researcher_stream(2, "frobnicate"), 2);
	assert_non_null(strstr(output, "unknown command \"frobnicate\""));
	assert_non_null(strstr(output, "usage: fedc-researcher COMMAND"));
	assert_int_equal(researcher_stream(2, ""), 2);
}

/* A researcher enrolled after the nodes started: the nodes do not trust its
 * key yet and refuse its requests with an `error` reply. `search` and `run`
 * say which nodes refused and why, once per reason, and what to do. */
static void test_untrusted_researcher_told_why(void **state)
{
	char late_ini[512], saved_id[sizeof(H.researcher_id)], saved_dir[sizeof(H.researcher_dir)];
	const char *add[] = { harness_bin("fedc-admin"), "add-researcher", H.fed_dir, "late", NULL };

	assert_int_equal(harness_run(&H, add, 60, output, sizeof(output)), 0);
	harness_reload_credentials(&H);
	/* its network file: the harness writes the test researcher's, so swap in "late" */
	memcpy(saved_id, H.researcher_id, sizeof(saved_id));
	memcpy(saved_dir, H.researcher_dir, sizeof(saved_dir));
	snprintf(H.researcher_id, sizeof(H.researcher_id), "late");
	snprintf(H.researcher_dir, sizeof(H.researcher_dir), "%s/researchers/late", H.fed_dir);
	snprintf(late_ini, sizeof(late_ini), "%s/late.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, late_ini, harness_plan("logreg"), "breast-cancer", 1, 1, 30,
						  "n_features = 30", NULL),
			 0);
	memcpy(H.researcher_id, saved_id, sizeof(saved_id));
	memcpy(H.researcher_dir, saved_dir, sizeof(saved_dir));

	/* search: the three refusals as one line, with what to do, and the count */
	assert_int_equal(researcher("search", "--tags", "breast-cancer", "--network", late_ini), 0);
	if (!strstr(output, "nodes clinic-a, clinic-b, clinic-c refused: signed by \"late\", whose key is not "
			    "trusted here"))
		fail_msg("%s", output);
	assert_non_null(strstr(output, "DIR/keys/late.pub"));
	assert_non_null(strstr(output, "0 of 3 node(s) hold datasets tagged breast-cancer (3 refused the search)"));
	assert_int_equal(occurrences(output, "not trusted here"), 1);
	/* run: the same, then why the run cannot start */
	assert_int_equal(researcher("run", late_ini, NULL, NULL, NULL), 1);
	assert_non_null(strstr(output, "nodes clinic-a, clinic-b, clinic-c refused: signed by \"late\""));
	assert_non_null(strstr(output, "DIR/keys/late.pub"));
	assert_non_null(strstr(output, "3 of them refused it"));
	assert_int_equal(occurrences(output, "not trusted here"), 1);
	/* nodes: likewise */
	assert_int_equal(researcher("nodes", "--network", late_ini, NULL, NULL), 0);
	assert_non_null(strstr(output, "nodes clinic-a, clinic-b, clinic-c refused: signed by \"late\""));
}

/* A search that finds nothing says which tags it searched and how to see
 * what exists. */
static void test_search_nothing_found_points_the_way(void **state)
{
	assert_int_equal(researcher("search", "--tags", "no-such-tag,tabular", "--network", network), 0);
	assert_non_null(strstr(output, "0 of 3 node(s) hold datasets tagged no-such-tag,tabular\n"));
	assert_non_null(strstr(output, "no dataset carries all of the tags no-such-tag,tabular"));
	assert_non_null(strstr(output, "fedc-researcher nodes --network "));
	assert_null(strstr(output, "refused"));
}

/* Nothing listens where the network file puts the repository: the run says
 * so and points at --network. */
static void test_repository_refused_suggests_network(void **state)
{
	char exp[512], saved[sizeof(H.repo_url)];

	memcpy(saved, H.repo_url, sizeof(saved));
	snprintf(H.repo_url, sizeof(H.repo_url), "https://127.0.0.1:1");
	snprintf(exp, sizeof(exp), "%s/norepo.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "breast-cancer", 1, 1, 30,
						  "n_features = 30", NULL),
			 0);
	memcpy(H.repo_url, saved, sizeof(saved));
	assert_int_equal(researcher("run", exp, NULL, NULL, NULL), 1);
	if (!strstr(output, "https://127.0.0.1:1") || !strstr(output, "cannot reach the broker or the repository") ||
	    !strstr(output, "--network NETWORK.ini"))
		fail_msg("%s", output);
	/* approval uploads the plan first: the same hint */
	assert_int_equal(researcher("approval", harness_plan("logreg"), "--network", exp, NULL), 1);
	if (!strstr(output, "cannot reach the broker or the repository named in the [network] section of ") ||
	    !strstr(output, "norepo.ini") || !strstr(output, "Give another with --network FILE."))
		fail_msg("%s", output);
}

/* `resume` of a directory without breakpoints says to `run`. */
static void test_resume_without_breakpoints_suggests_run(void **state)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/never-ran", H.dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(researcher("resume", dir, NULL, NULL, NULL), 1);
	assert_non_null(strstr(output, "nothing to resume"));
	assert_non_null(strstr(output, "fedc-researcher run EXPERIMENT.ini --output "));
}

/* An update that comes inline is checked and aggregated from memory: with
 * the node's scratch file a link to /dev/full, the run still succeeds (it
 * failed with ENOSPC when inline updates were written out first). */
static void test_inline_update_needs_no_scratch_file(void **state)
{
	char exp[512], out[600], updates[700], link[800];

	snprintf(exp, sizeof(exp), "%s/inline-mem.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "breast-cancer", 2, 1, 30,
						  "n_features = 30", "nodes = clinic-a\nround_retries = 0"),
			 0);
	snprintf(out, sizeof(out), "%s-out", exp);
	snprintf(updates, sizeof(updates), "%s/updates", out);
	assert_int_equal(mkdir(out, 0700), 0);
	assert_int_equal(mkdir(updates, 0700), 0);
	snprintf(link, sizeof(link), "%s/clinic-a.params", updates);
	assert_int_equal(symlink("/dev/full", link), 0);
	if (researcher("run", exp, NULL, NULL, NULL) != 0)
		fail_msg("%s", output);
}

/* The researcher's disk fills up while an update downloads (its scratch file
 * is a link to /dev/full: ENOSPC): the round fails, and the run says to free
 * space and resume. inline_params_max = 0 (the [network] section is the
 * file's last) sends the update through the repository and that file: an
 * update that comes inline is read from memory. */
static void test_disk_full_suggests_resume(void **state)
{
	char exp[512], out[600], updates[700], link[800];
	FILE *f;

	snprintf(exp, sizeof(exp), "%s/full.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "breast-cancer", 2, 1, 30,
						  "n_features = 30", "nodes = clinic-a\nround_retries = 0"),
			 0);
	f = fopen(exp, "a");
	assert_non_null(f);
	assert_true(fputs("inline_params_max = 0\n", f) >= 0);
	assert_int_equal(fclose(f), 0);
	snprintf(out, sizeof(out), "%s-out", exp);
	snprintf(updates, sizeof(updates), "%s/updates", out);
	assert_int_equal(mkdir(out, 0700), 0);
	assert_int_equal(mkdir(updates, 0700), 0);
	snprintf(link, sizeof(link), "%s/clinic-a.params", updates);
	assert_int_equal(symlink("/dev/full", link), 0);
	assert_int_equal(researcher("run", exp, NULL, NULL, NULL), 1);
	if (!strstr(output, strerror(ENOSPC)) || !strstr(output, "the disk is full: free some space") ||
	    !strstr(output, "fedc-researcher resume "))
		fail_msg("%s", output);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodes_lists_every_node_and_dataset),
		cmocka_unit_test(test_search_by_tags),
		cmocka_unit_test(test_approval_registers_pending),
		cmocka_unit_test(test_approval_by_sha3_digest),
		cmocka_unit_test(test_approval_ships_source),
		cmocka_unit_test(test_approval_bad_source_bundle_refused),
		cmocka_unit_test(test_approval_of_source_compiles_and_ships_it),
		cmocka_unit_test(test_plan_from_source),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_help_at_every_level),
		cmocka_unit_test(test_bad_flags_and_numbers),
		cmocka_unit_test(test_untrusted_researcher_told_why),
		cmocka_unit_test(test_search_nothing_found_points_the_way),
		cmocka_unit_test(test_repository_refused_suggests_network),
		cmocka_unit_test(test_resume_without_breakpoints_suggests_run),
		cmocka_unit_test(test_disk_full_suggests_resume),
		cmocka_unit_test(test_inline_update_needs_no_scratch_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
