/* fedc-researcher: runs federated experiments.
 *
 *   fedc-researcher run EXPERIMENT.ini [--network NETWORK.ini] [--output DIR] [--log-level L]
 *   fedc-researcher resume OUTPUT_DIR [--round N]
 *   fedc-researcher nodes --network FILE
 *   fedc-researcher search --tags T1,T2 --network FILE
 *   fedc-researcher approval PLAN.so --network FILE [--description TEXT]
 *   fedc-researcher plot DIR [--output FILE.svg]
 *   fedc-researcher protocol-doc        print the message schema as Markdown */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "experiment.h"
#include "fedc/log.h"
#include "fedc/message.h"
#include "fedc/repo.h"
#include "job.h"
#include "plan_build.h"
#include "plot.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fedc-researcher COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  run EXPERIMENT.ini [--network NETWORK.ini] [--output DIR]\n"
		"                 [--log-level debug|info|warn|error]\n"
		"                 run an experiment (see docs/researcher-guide.md)\n"
		"  resume OUTPUT_DIR [--round N] [--log-level L]\n"
		"                 continue a stopped experiment from its latest breakpoint\n"
		"                 (or the one after round N), bit for bit\n"
		"  nodes --network FILE [--timeout S]\n"
		"                 list the nodes of the federation and their datasets\n"
		"  search --tags T1,T2 --network FILE [--timeout S]\n"
		"                 list the nodes holding datasets with all these tags\n"
		"  approval PLAN.so --network FILE [--description TEXT] [--timeout S]\n"
		"                 upload a plan and ask every node to register it for approval\n"
		"  (FILE: a network file or an experiment file; its [network] section is used)\n"
		"  plot DIR [--output FILE.svg]\n"
		"                 draw the loss and accuracy curves of the experiment in DIR\n"
		"                 (default: DIR/curves.svg)\n"
		"  protocol-doc   print the message schema as Markdown (docs/protocol.md)\n");
}

static int cmd_run(int argc, char **argv)
{
	static const struct option options[] = {
		{ "network", required_argument, NULL, 'n' }, { "log-level", required_argument, NULL, 'l' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	enum fedc_log_level level = FEDC_LOG_WARN;
	const char *network = NULL, *output = NULL;
	struct experiment *exp = NULL;
	int opt, code = 2;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == 'n') {
			network = optarg;
		} else if (opt == 'o') {
			output = optarg;
		} else if (opt == 'l' && fedc_log_level_parse(optarg, &level) == 0) {
			continue;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	fedc_log_init("researcher", level, 2);
	exp = calloc(1, sizeof(*exp));
	if (!exp)
		return 1;
	if (experiment__load(argv[optind], network, exp) != FEDC_OK) {
		fprintf(stderr, "fedc-researcher: %s\n", fedc_last_error());
		goto out;
	}
	if (output && fedc_config_set_string(&exp->output_dir, output) != FEDC_OK) {
		fprintf(stderr, "fedc-researcher: --output: out of memory\n");
		goto out;
	}
	if (fedc_repo_global_init() != FEDC_OK) {
		fprintf(stderr, "fedc-researcher: cannot initialise libcurl\n");
		code = 1;
		goto out;
	}
	if (plan_build__prepare(exp, false) != FEDC_OK) {
		fprintf(stderr, "fedc-researcher: %s\n", fedc_last_error());
		code = 1;
		goto out;
	}
	code = job__run(exp);
out:
	experiment__free(exp);
	free(exp);
	return code;
}

static int cmd_resume(int argc, char **argv)
{
	static const struct option options[] = {
		{ "round", required_argument, NULL, 'r' }, { "log-level", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	enum fedc_log_level level = FEDC_LOG_WARN;
	int64_t round = -1;
	char *end;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == 'r') {
			round = strtoll(optarg, &end, 10);
			if (*end || end == optarg || round < 0 || round > UINT32_MAX) {
				fprintf(stderr, "fedc-researcher: resume: --round \"%s\": expected a round number\n", optarg);
				return 2;
			}
		} else if (opt != 'l' || fedc_log_level_parse(optarg, &level) != 0) {
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	fedc_log_init("researcher", level, 2);
	if (fedc_repo_global_init() != FEDC_OK) {
		fprintf(stderr, "fedc-researcher: cannot initialise libcurl\n");
		return 1;
	}
	return job__resume(argv[optind], round);
}

/* Options of the federation commands (nodes, search, approval). */
struct federation_args {
	const char *network, *tags, *description, *plan;
	int timeout_s;
};

static bool parse_federation_args(int argc, char **argv, bool wants_plan, struct federation_args *a)
{
	static const struct option options[] = {
		{ "network", required_argument, NULL, 'n' }, { "tags", required_argument, NULL, 't' },
		{ "description", required_argument, NULL, 'd' }, { "timeout", required_argument, NULL, 'T' },
		{ "log-level", required_argument, NULL, 'l' }, { NULL, 0, NULL, 0 },
	};
	enum fedc_log_level level = FEDC_LOG_WARN;
	char *end;
	int opt;

	memset(a, 0, sizeof(*a));
	a->timeout_s = 10;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == 'n') {
			a->network = optarg;
		} else if (opt == 't') {
			a->tags = optarg;
		} else if (opt == 'd') {
			a->description = optarg;
		} else if (opt == 'T') {
			a->timeout_s = (int)strtol(optarg, &end, 10);
			if (*end || a->timeout_s < 1 || a->timeout_s > 3600) {
				fprintf(stderr, "fedc-researcher: --timeout \"%s\": expected 1 to 3600 seconds\n", optarg);
				return false;
			}
		} else if (opt != 'l' || fedc_log_level_parse(optarg, &level) != 0) {
			return false;
		}
	}
	fedc_log_init("researcher", level, 2);
	if (wants_plan && optind < argc)
		a->plan = argv[optind++];
	if (optind != argc || !a->network || (wants_plan && !a->plan)) {
		fprintf(stderr, "fedc-researcher: %s\n", !a->network ? "--network FILE is required" : "wrong arguments");
		return false;
	}
	return true;
}

static int cmd_federation(const char *name, int argc, char **argv)
{
	bool approval = strcmp(name, "approval") == 0;
	struct experiment *net = calloc(1, sizeof(*net));
	struct federation_args a;
	int code = 2;

	if (!net || !parse_federation_args(argc, argv, approval, &a)) {
		usage(stderr);
		goto out;
	}
	if (strcmp(name, "search") == 0 && !a.tags) {
		fprintf(stderr, "fedc-researcher: search: --tags is required\n");
		goto out;
	}
	code = 1;
	if (experiment__load_network(a.network, net) != FEDC_OK) {
		fprintf(stderr, "fedc-researcher: %s\n", fedc_last_error());
		goto out;
	}
	if (fedc_repo_global_init() != FEDC_OK)
		goto out;
	if (strcmp(name, "nodes") == 0)
		code = commands__nodes(net, a.timeout_s);
	else if (strcmp(name, "search") == 0)
		code = commands__search(net, a.tags, a.timeout_s);
	else
		code = commands__approval(net, a.plan, a.description, a.timeout_s);
out:
	experiment__free(net);
	free(net);
	return code;
}

static int cmd_plot(int argc, char **argv)
{
	static const struct option options[] = { { "output", required_argument, NULL, 'o' }, { NULL, 0, NULL, 0 } };
	const char *output = NULL;
	char path[4200];
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt != 'o') {
			usage(stderr);
			return 2;
		}
		output = optarg;
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	if (!output) {
		snprintf(path, sizeof(path), "%s/curves.svg", argv[optind]);
		output = path;
	}
	if (plot__render(argv[optind], output) != FEDC_OK) {
		fprintf(stderr, "fedc-researcher: plot: %s\n", fedc_last_error());
		return 1;
	}
	printf("wrote %s\n", output);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "nodes") == 0 || strcmp(argv[1], "search") == 0 || strcmp(argv[1], "approval") == 0)
		return cmd_federation(argv[1], argc - 1, argv + 1);
	if (strcmp(argv[1], "resume") == 0)
		return cmd_resume(argc - 1, argv + 1);
	if (strcmp(argv[1], "plot") == 0)
		return cmd_plot(argc - 1, argv + 1);
	if (strcmp(argv[1], "protocol-doc") == 0 && argc == 2)
		return fedc_msg_schema_markdown(stdout) == FEDC_OK ? 0 : 1;
	fprintf(stderr, "fedc-researcher: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
