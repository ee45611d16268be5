/* fedc-researcher: runs federated experiments. Its commands are the table
 * `commands[]` below: their operands and options, the usage text and the
 * set-up they need all come from it (fedc/cli.h). `fedc-researcher --help`
 * lists them; docs/researcher-guide.md describes them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analytics.h"
#include "assess.h"
#include "run_archive.h"
#include "commands.h"
#include "experiment.h"
#include "export.h"
#include "fedc/cli.h"
#include "fedc/log.h"
#include "fedc/message.h"
#include "fedc/repo.h"
#include "fedc/robust_args.h"
#include "job.h"
#include "plan_build.h"
#include "plot.h"
#include "run_control.h"
#include "status.h"
#include "xval.h"

#define PROG "fedc-researcher"

/* Option keys (fedc_cli_args.value[KEY]). */
enum { K_NETWORK, K_OUTPUT, K_LOG_LEVEL, K_ROUND, K_TAGS, K_DESCRIPTION, K_SOURCE, K_TIMEOUT, K_FORCE, K_JSON, K_WAIT, K_FORMAT, K_BEST, K_DATASET_TAGS, K_REPEATS, K_METRIC,
       K_ATTACKS, K_EPSILONS, K_PGD_STEPS, K_PGD_STEP_SIZE, K_CLIP };

/* What a command needs before it runs (fedc_cli_cmd.flags), done by prepare(). */
enum { NEEDS_LOG = 1, NEEDS_REPO = 2 };

static const struct fedc_cli_opt opt_network = { .key = K_NETWORK, .name = "network", .metavar = "FILE",
	.help = "the network file (or an experiment file: its [network] section is used)", .required = true };
static const struct fedc_cli_opt opt_run_network = { .key = K_NETWORK, .name = "network", .metavar = "FILE",
	.help = "take [network] from this file instead of the experiment file" };
static const struct fedc_cli_opt opt_run_output = { .key = K_OUTPUT, .name = "output", .metavar = "DIR",
	.help = "write results to DIR (default: [experiment] output_dir)" };
static const struct fedc_cli_opt opt_force = { .key = K_FORCE, .name = "force",
	.help = "replace a run of another experiment found in the output directory" };
static const struct fedc_cli_opt opt_log_level = { .key = K_LOG_LEVEL, .name = "log-level", .metavar = "L",
	.help = "debug, info, warn (default) or error" };
static const struct fedc_cli_opt opt_round = { .key = K_ROUND, .name = "round", .metavar = "N",
	.help = "resume from the breakpoint after round N (default: the latest)", .is_int = true, .min = 0,
	.max = UINT32_MAX };
static const struct fedc_cli_opt opt_tags = { .key = K_TAGS, .name = "tags", .metavar = "T1,T2",
	.help = "the tags a dataset must all carry", .required = true };
static const struct fedc_cli_opt opt_description = { .key = K_DESCRIPTION, .name = "description", .metavar = "TEXT",
	.help = "shown to the nodes' operators" };
static const struct fedc_cli_opt opt_source = { .key = K_SOURCE, .name = "source", .metavar = "FILE[,FILE...]",
	.help = "the plan's source files (text, 1 MiB in all), shipped for the nodes' operators to read" };
static const struct fedc_cli_opt opt_timeout = { .key = K_TIMEOUT, .name = "timeout", .metavar = "S",
	.help = "seconds to wait for the nodes' answers (default 10; analytics: [analytics] timeout_s)", .is_int = true, .min = 1, .max = 3600 };
static const struct fedc_cli_opt opt_plot_output = { .key = K_OUTPUT, .name = "output", .metavar = "FILE.svg",
	.help = "where to write the SVG (default: DIR/curves.svg)" };

static const struct fedc_cli_opt opt_json = { .key = K_JSON, .name = "json",
	.help = "print the status document as JSON (for scripts)" };
static const struct fedc_cli_opt opt_nodes_json = { .key = K_JSON, .name = "json",
	.help = "print one JSON document: each node with its datasets and capabilities" };
static const struct fedc_cli_opt opt_wait = { .key = K_WAIT, .name = "wait",
	.help = "return only once the researcher has stopped" };

static const struct fedc_cli_opt opt_format = { .key = K_FORMAT, .name = "format", .metavar = "F",
	.help = "npz (NumPy) or safetensors (PyTorch)", .required = true };
static const struct fedc_cli_opt opt_best = { .key = K_BEST, .name = "best",
	.help = "the best model (keep_best: DIR/best.params) rather than the last" };
static const struct fedc_cli_opt opt_export_output = { .key = K_OUTPUT, .name = "output", .metavar = "FILE",
	.help = "where to write it (default: DIR/global.F or DIR/best.F)", .short_name = 'o' };

static const struct fedc_cli_opt opt_archive_output = { .key = K_OUTPUT, .name = "output", .metavar = "FILE",
	.help = "where to write it (default: DIR.tar.gz, beside DIR)", .short_name = 'o' };

static const struct fedc_cli_opt opt_analytics_network = { .key = K_NETWORK, .name = "network", .metavar = "FILE",
	.help = "take [network] from this file instead of QUERY.ini" };
static const struct fedc_cli_opt opt_analytics_output = { .key = K_OUTPUT, .name = "output", .metavar = "DIR",
	.help = "write analytics.csv and analytics.json to DIR (default: [analytics] output_dir)", .short_name = 'o' };
static const struct fedc_cli_opt opt_dataset_tags = { .key = K_DATASET_TAGS, .name = "dataset-tags",
	.metavar = "T1,T2", .help = "predict on the datasets carrying all these tags (default: the experiment's)" };
static const struct fedc_cli_opt opt_assess_network = { .key = K_NETWORK, .name = "network", .metavar = "FILE",
	.help = "take [network] from this file instead of the run's" };
static const struct fedc_cli_opt opt_assess_timeout = { .key = K_TIMEOUT, .name = "timeout", .metavar = "S",
	.help = "seconds to wait for the nodes (default: the experiment's round_timeout_s)", .is_int = true,
	.min = 1, .max = 86400 };
static const struct fedc_cli_opt opt_repeats = { .key = K_REPEATS, .name = "repeats", .metavar = "N",
	.help = "shuffles of each feature, averaged (default 5)", .is_int = true, .min = 1, .max = 100 };
static const struct fedc_cli_opt opt_metric = { .key = K_METRIC, .name = "metric", .metavar = "NAME",
	.help = "the evaluate() metric whose drop is the importance (default accuracy)" };
static const struct fedc_cli_opt opt_attacks = { .key = K_ATTACKS, .name = "attacks", .metavar = "A1,A2",
	.help = "fgsm, pgd or both (default fgsm,pgd)" };
static const struct fedc_cli_opt opt_epsilons = { .key = K_EPSILONS, .name = "epsilons", .metavar = "E1,E2",
	.help = "1 to 16 L-infinity radii, each >= 0 (default 0.01,0.05,0.1)" };
static const struct fedc_cli_opt opt_pgd_steps = { .key = K_PGD_STEPS, .name = "pgd-steps", .metavar = "N",
	.help = "PGD steps, 1 to 1000 (default 10)" };
static const struct fedc_cli_opt opt_pgd_step_size = { .key = K_PGD_STEP_SIZE, .name = "pgd-step-size",
	.metavar = "S", .help = "the PGD step, > 0 (default 2.5 * epsilon / steps)" };
static const struct fedc_cli_opt opt_clip = { .key = K_CLIP, .name = "clip", .metavar = "MIN,MAX",
	.help = "keep perturbed inputs within [MIN, MAX] (e.g. 0,1 for pixels)" };
static const struct fedc_cli_prog prog;

/* An experiment file's [analytics] (analytics.h): *step is the query to run
 * before training (NULL: none). 0 to go on, else the exit code. */
static int read_analytics_step(const char *path, struct analytics_request **step)
{
	enum analytics_part part;

	*step = NULL;
	if (analytics__part_of(path, &part) != FEDC_OK) {
		fprintf(stderr, PROG ": %s\n", fedc_last_error());
		return 2;
	}
	if (part != ANALYTICS_BEFORE_TRAINING)
		return 0;
	*step = calloc(1, sizeof(**step));
	if (!*step || analytics__read_step(path, *step) != FEDC_OK) {
		fprintf(stderr, PROG ": %s\n", *step ? fedc_last_error() : "out of memory");
		free(*step);
		*step = NULL;
		return 2;
	}
	return 0;
}

static int cmd_run(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	struct experiment *exp = NULL;
	struct analytics_request *step = NULL;
	const char *output = a->value[K_OUTPUT];
	enum analytics_part part = ANALYTICS_NONE;
	int code = 1;

	/* [analytics] without [experiment]: the file is a query, run as such
	 * (a file analytics__part_of refuses is told by read_analytics_step) */
	if (analytics__part_of(a->operand[0], &part) == FEDC_OK && part == ANALYTICS_ALONE)
		return analytics__run(a->operand[0], a->value[K_NETWORK], output, 0);
	code = read_analytics_step(a->operand[0], &step);
	if (code)
		return code;
	code = 1;
	exp = calloc(1, sizeof(*exp));
	if (!exp) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	if (experiment__load(a->operand[0], a->value[K_NETWORK], exp) != FEDC_OK) {
		fprintf(stderr, PROG ": %s\n", fedc_last_error());
		code = 2; /* a bad experiment file, like a bad command line */
		goto out;
	}
	if (output && fedc_config_set_string(&exp->output_dir, output) != FEDC_OK) {
		fprintf(stderr, PROG ": --output: out of memory\n");
		goto out;
	}
	/* before the plan is compiled into the directory: one researcher per directory */
	if (run_control__lock(exp->output_dir, true) != FEDC_OK ||
	    job__claim_output(exp, a->value[K_FORCE] != NULL) != FEDC_OK) {
		fprintf(stderr, PROG ": %s\n", fedc_last_error());
		goto out;
	}
	if (!step && analytics__drop_results(exp->output_dir) != FEDC_OK) {
		fprintf(stderr, PROG ": %s\n", fedc_last_error());
		goto out;
	}
	if (step && analytics__run_step(step, exp, exp->output_dir) != 0) {
		fprintf(stderr, PROG ": the [analytics] step failed, so training did not start: change what is said "
				"above, or remove [analytics] from %s\n", a->operand[0]);
		goto out;
	}
	if (plan_build__prepare(exp, false) != FEDC_OK) {
		fprintf(stderr, PROG ": %s\n", fedc_last_error());
		goto out;
	}
	code = job__run(exp);
	/* job__run has closed its session: the stage's own may connect with the same client id */
	if (code == 0 && exp->robustness)
		assess__after_run(exp->output_dir, a->value[K_NETWORK], exp->robust_args);
out:
	experiment__free(exp);
	free(exp);
	free(step);
	return code;
}

static int cmd_resume(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	enum fedc_err rc = run_control__lock(a->operand[0], false);

	(void)cmd;
	/* a directory that is not there: resume says what to do instead */
	if (rc && rc != FEDC_ERR_NOT_FOUND) {
		fprintf(stderr, PROG ": resume: %s\n", fedc_last_error());
		return 1;
	}
	return job__resume(a->operand[0], a->value[K_ROUND] ? a->num[K_ROUND] : -1);
}

static int cmd_status(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	(void)cmd;
	return status__show(a->operand[0], a->value[K_JSON] != NULL);
}

/* Polls (ten times a second) until no researcher holds `dir`. */
static void wait_until_ended(const char *dir)
{
	const struct timespec tick = { 0, 100 * 1000 * 1000 };
	pid_t pid;

	while (run_control__live(dir, &pid))
		nanosleep(&tick, NULL);
}

static int cmd_stop(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	const char *dir = a->operand[0];
	pid_t pid;

	(void)cmd;
	if (run_control__request_stop(dir) != FEDC_OK) {
		fprintf(stderr, PROG ": stop: %s; nothing to stop. What became of the run:\n", fedc_last_error());
		fflush(stderr);
		(void)status__show(dir, false);
		return 1;
	}
	(void)run_control__live(dir, &pid);
	printf("asked the researcher in %s (pid %ld) to stop after its current round; it saves a breakpoint, "
	       "and\n  fedc-researcher resume %s\ncontinues the run\n", dir, (long)pid, dir);
	fflush(stdout);
	if (a->value[K_WAIT]) {
		wait_until_ended(dir);
		return status__show(dir, false);
	}
	return 0;
}

/* nodes, search and approval: the network file, then the command. */
static int cmd_federation(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	struct experiment *net = calloc(1, sizeof(*net));
	int timeout_s = a->value[K_TIMEOUT] ? (int)a->num[K_TIMEOUT] : 10;
	int code = 1;

	if (!net) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	if (experiment__load_network(a->value[K_NETWORK], net) != FEDC_OK)
		fprintf(stderr, PROG ": %s\n", fedc_last_error());
	else if (strcmp(cmd->name, "nodes") == 0)
		code = commands__nodes(net, timeout_s, a->value[K_JSON] != NULL);
	else if (strcmp(cmd->name, "search") == 0)
		code = commands__search(net, a->value[K_TAGS], timeout_s);
	else
		code = commands__approval(net, a->operand[0], a->value[K_DESCRIPTION], a->value[K_SOURCE], timeout_s);
	experiment__free(net);
	free(net);
	return code;
}

static int cmd_plot(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	const char *output = a->value[K_OUTPUT];
	char path[4200];

	(void)cmd;
	if (!output) {
		if ((size_t)snprintf(path, sizeof(path), "%s/curves.svg", a->operand[0]) >= sizeof(path))
			return fedc_cli_usage_error(&prog, cmd, "DIR: path too long");
		output = path;
	}
	if (plot__render(a->operand[0], output) != FEDC_OK) {
		fprintf(stderr, PROG ": plot: %s\n", fedc_last_error());
		return 1;
	}
	printf("wrote %s\n", output);
	return 0;
}

static int cmd_export(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	const char *dir = a->operand[0], *which = a->value[K_BEST] ? "best" : "global", *output = a->value[K_OUTPUT];
	char params[4200], path[4200];
	enum export_format format;

	if (export__parse_format(a->value[K_FORMAT], &format) != FEDC_OK)
		return fedc_cli_usage_error(&prog, cmd, "%s", fedc_last_error());
	if ((size_t)snprintf(params, sizeof(params), "%s/%s.params", dir, which) >= sizeof(params) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s.%s", dir, which, export__extension(format)) >= sizeof(path))
		return fedc_cli_usage_error(&prog, cmd, "DIR: path too long");
	if (access(params, F_OK) != 0) {
		fprintf(stderr, PROG ": export: no %s in %s%s\n", params, dir,
			a->value[K_BEST] ? ": the experiment did not set [training] keep_best, or no node scored a model"
					 : ": give the output directory of a run that finished a round");
		return 1;
	}
	if (export__write(params, format, output ? output : path) != FEDC_OK) {
		fprintf(stderr, PROG ": export: %s\n", fedc_last_error());
		return 1;
	}
	printf("wrote %s\n", output ? output : path);
	return 0;
}

static int cmd_archive(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	const char *dir = a->operand[0], *output = a->value[K_OUTPUT];
	size_t len = strlen(dir);
	char path[4200];

	while (len > 1 && dir[len - 1] == '/')
		len--;
	if (!output && (size_t)snprintf(path, sizeof(path), "%.*s.tar.gz", (int)len, dir) >= sizeof(path))
		return fedc_cli_usage_error(&prog, cmd, "DIR: path too long");
	if (run_archive__write(dir, output ? output : path, stderr) != FEDC_OK) {
		fprintf(stderr, PROG ": archive: %s\n", fedc_last_error());
		return 1;
	}
	printf("wrote %s\n", output ? output : path);
	return 0;
}

static int cmd_analytics(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	(void)cmd;
	return analytics__run(a->operand[0], a->value[K_NETWORK], a->value[K_OUTPUT],
			      a->value[K_TIMEOUT] ? (int)a->num[K_TIMEOUT] : 0);
}

static int cmd_xval(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	(void)cmd;
	return xval__command(a->operand[0], a->value[K_NETWORK]);
}

static int cmd_assess(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	struct assess_opts o = {
		.kind = cmd->name,
		.dir = a->operand[0],
		.tags = a->value[K_DATASET_TAGS],
		.best = a->value[K_BEST] != NULL,
		.network = a->value[K_NETWORK],
		.repeats = a->value[K_REPEATS] ? (uint32_t)a->num[K_REPEATS] : 5,
		.metric = a->value[K_METRIC] ? a->value[K_METRIC] : "accuracy",
		.timeout_s = a->value[K_TIMEOUT] ? (int)a->num[K_TIMEOUT] : 0,
	};

	return assess__run(&o);
}

/* The options of `robust` as the stage's key = value lines; --clip MIN,MAX
 * gives two. FEDC_ERR_INVAL naming the option. */
static enum fedc_err robust_args_of(const struct fedc_cli_args *a, char *text, size_t cap)
{
	static const struct { int key; const char *name; } keys[] = {
		{ K_ATTACKS, "attacks" }, { K_EPSILONS, "epsilons" }, { K_PGD_STEPS, "pgd_steps" },
		{ K_PGD_STEP_SIZE, "pgd_step_size" },
	};
	const char *clip = a->value[K_CLIP], *comma = clip ? strchr(clip, ',') : NULL;
	size_t used = 0;

	text[0] = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = a->value[keys[i].key];

		if (v && (strchr(v, '\n') || strchr(v, '=')))
			return fedc_fail(FEDC_ERR_INVAL, "--%s: one line without '='", keys[i].name);
		if (v)
			used += (size_t)snprintf(text + used, cap - used, "%s = %s\n", keys[i].name, v);
		if (used >= cap)
			return fedc_fail(FEDC_ERR_INVAL, "--%s: too long", keys[i].name);
	}
	if (clip && (!comma || strchr(comma + 1, ',') || strchr(clip, '\n') || strchr(clip, '=')))
		return fedc_fail(FEDC_ERR_INVAL, "--clip: \"%.40s\" is not MIN,MAX (e.g. --clip 0,1)", clip);
	if (clip && (used += (size_t)snprintf(text + used, cap - used, "clip_min = %.*s\nclip_max = %s\n",
					       (int)(comma - clip), clip, comma + 1)) >= cap)
		return fedc_fail(FEDC_ERR_INVAL, "--clip: too long");
	return FEDC_OK;
}

static int cmd_robust(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	char args[FEDC_MAX_ASSESS_ARGS + 1];
	struct fedc_robust_args parsed;
	struct assess_opts o = {
		.kind = "robust",
		.dir = a->operand[0],
		.best = a->value[K_BEST] != NULL,
		.network = a->value[K_NETWORK],
		.robust_args = args,
		.timeout_s = a->value[K_TIMEOUT] ? (int)a->num[K_TIMEOUT] : 0,
	};

	/* checked as the nodes check them, before anything is sent */
	if (robust_args_of(a, args, sizeof(args)) != FEDC_OK || fedc_robust_args_parse(args, &parsed) != FEDC_OK) {
		const char *why = fedc_last_error();

		/* the parser speaks as the nodes do ("robust: epsilons: ..."); the usage line names the command */
		if (strncmp(why, "robust: ", 8) == 0)
			why += 8;
		return fedc_cli_usage_error(&prog, cmd, "%s", why);
	}
	return assess__run(&o);
}

static int cmd_protocol_doc(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	(void)cmd;
	(void)a;
	return fedc_msg_schema_markdown(stdout) == FEDC_OK ? 0 : 1;
}

static const struct fedc_cli_cmd commands[] = {
	{ "run", "EXPERIMENT.ini", 1, 1, "run an experiment (see docs/researcher-guide.md)",
	  (const struct fedc_cli_opt *const[]){ &opt_run_network, &opt_run_output, &opt_force, &opt_log_level,
						NULL },
	  NEEDS_LOG | NEEDS_REPO, cmd_run },
	{ "resume", "OUTPUT_DIR", 1, 1,
	  "continue a stopped experiment from its latest breakpoint (or the one after\nround N), bit for bit",
	  (const struct fedc_cli_opt *const[]){ &opt_round, &opt_log_level, NULL }, NEEDS_LOG | NEEDS_REPO,
	  cmd_resume },
	{ "nodes", NULL, 0, 0, "list the nodes of the federation and their datasets",
	  (const struct fedc_cli_opt *const[]){ &opt_network, &opt_nodes_json, &opt_timeout, &opt_log_level, NULL },
	  NEEDS_LOG | NEEDS_REPO, cmd_federation },
	{ "search", NULL, 0, 0, "list the nodes holding datasets with all these tags, and their capabilities",
	  (const struct fedc_cli_opt *const[]){ &opt_tags, &opt_network, &opt_timeout, &opt_log_level, NULL },
	  NEEDS_LOG | NEEDS_REPO, cmd_federation },
	{ "approval", "PLAN.so|PLAN.c", 1, 1,
	  "upload a plan (compiled first if it is C source, which then goes with it)\nand ask every node to register "
	  "it for approval",
	  (const struct fedc_cli_opt *const[]){ &opt_network, &opt_description, &opt_source, &opt_timeout,
						&opt_log_level, NULL },
	  NEEDS_LOG | NEEDS_REPO, cmd_federation },
	{ "analytics", "QUERY.ini", 1, 1,
	  "federated statistics (count, sum, mean, variance, std, min, max, histograms,\nquantiles) of the "
	  "datasets the query's tags name, combined over the nodes",
	  (const struct fedc_cli_opt *const[]){ &opt_analytics_network, &opt_analytics_output, &opt_timeout,
						&opt_log_level, NULL },
	  NEEDS_LOG, cmd_analytics },
	{ "status", "DIR", 1, 1,
	  "show a run in DIR, running or not: round, nodes, metrics, time left,\nepsilon; whether it finished, "
	  "stopped or was killed",
	  (const struct fedc_cli_opt *const[]){ &opt_json, NULL }, 0, cmd_status },
	{ "stop", "DIR", 1, 1, "end the run in DIR after its current round, with a breakpoint to resume from",
	  (const struct fedc_cli_opt *const[]){ &opt_wait, NULL }, 0, cmd_stop },
	{ "predict", "DIR", 1, 1,
	  "run the final (or best) model of DIR on the nodes' datasets: each node keeps\nits predictions, the "
	  "researcher gets the pooled confusion matrix, AUC, calibration",
	  (const struct fedc_cli_opt *const[]){ &opt_dataset_tags, &opt_best, &opt_assess_network, &opt_assess_timeout,
						&opt_log_level, NULL },
	  NEEDS_LOG, cmd_assess },
	{ "explain", "DIR", 1, 1,
	  "permutation feature importance of the final (or best) model of DIR on the\nnodes' test rows",
	  (const struct fedc_cli_opt *const[]){ &opt_repeats, &opt_metric, &opt_best, &opt_assess_network,
						&opt_assess_timeout, &opt_log_level, NULL },
	  NEEDS_LOG, cmd_assess },
	{ "robust", "DIR", 1, 1,
	  "the final (or best) model of DIR under adversarial perturbation (FGSM, PGD) of\nthe nodes' test rows: "
	  "its metrics at each epsilon",
	  (const struct fedc_cli_opt *const[]){ &opt_attacks, &opt_epsilons, &opt_pgd_steps, &opt_pgd_step_size,
						&opt_clip, &opt_best, &opt_assess_network, &opt_assess_timeout,
						&opt_log_level, NULL },
	  NEEDS_LOG | NEEDS_REPO, cmd_robust },
	{ "export", "DIR", 1, 1, "write the final (or best) model of DIR as .npz or .safetensors",
	  (const struct fedc_cli_opt *const[]){ &opt_format, &opt_best, &opt_export_output, NULL }, 0, cmd_export },
	{ "archive", "DIR", 1, 1,
	  "pack the run in DIR into one .tar.gz: experiment and network files without\ntheir secrets, history, "
	  "plots, final and best parameters, a MANIFEST of SHA-256",
	  (const struct fedc_cli_opt *const[]){ &opt_archive_output, NULL }, 0, cmd_archive },
	{ "plot", "DIR", 1, 1, "draw the loss and accuracy curves of the experiment in DIR",
	  (const struct fedc_cli_opt *const[]){ &opt_plot_output, NULL }, 0, cmd_plot },
	{ "xval", "DIR", 1, 1,
	  "cross-site validation of the finished run in DIR: every node evaluates the\nglobal model and each "
	  "node's own model of the last round (cross_site_validation)",
	  (const struct fedc_cli_opt *const[]){ &opt_run_network, &opt_log_level, NULL }, NEEDS_LOG | NEEDS_REPO,
	  cmd_xval },
	{ "protocol-doc", NULL, 0, 0, "print the message schema as Markdown (docs/protocol.md)", NULL, 0,
	  cmd_protocol_doc },
	{ NULL, NULL, 0, 0, NULL, NULL, 0, NULL },
};

/* The set-up every command that talks to the federation shares: logging to
 * stderr at --log-level, and libcurl. */
static int prepare(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	enum fedc_log_level level = FEDC_LOG_WARN;

	if (cmd->flags & NEEDS_LOG) {
		if (a->value[K_LOG_LEVEL] && fedc_log_level_parse(a->value[K_LOG_LEVEL], &level) != 0)
			return fedc_cli_usage_error(&prog, cmd,
						    "--log-level: expected debug, info, warn or error, got \"%s\"",
						    a->value[K_LOG_LEVEL]);
		fedc_log_init("researcher", level, 2);
	}
	if ((cmd->flags & NEEDS_REPO) && fedc_repo_global_init() != FEDC_OK) {
		fprintf(stderr, PROG ": cannot initialise libcurl\n");
		return 1;
	}
	return 0;
}

static const struct fedc_cli_prog prog = { PROG, commands, NULL, prepare };

int main(int argc, char **argv)
{
	return fedc_cli_main(&prog, argc, argv);
}
