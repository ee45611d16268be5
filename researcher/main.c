/* fedc-researcher: runs federated experiments.
 *
 *   fedc-researcher run EXPERIMENT.ini [--network NETWORK.ini] [--output DIR] [--log-level L]
 *   fedc-researcher plot DIR [--output FILE.svg]
 *   fedc-researcher protocol-doc        print the message schema as Markdown */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiment.h"
#include "fedc/log.h"
#include "fedc/message.h"
#include "fedc/repo.h"
#include "job.h"
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
	if (output && (size_t)snprintf(exp->output_dir, sizeof(exp->output_dir), "%s", output) >=
			      sizeof(exp->output_dir)) {
		fprintf(stderr, "fedc-researcher: --output: path too long\n");
		goto out;
	}
	if (fedc_repo_global_init() != FEDC_OK) {
		fprintf(stderr, "fedc-researcher: cannot initialise libcurl\n");
		code = 1;
		goto out;
	}
	code = job__run(exp);
out:
	free(exp);
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
	if (strcmp(argv[1], "plot") == 0)
		return cmd_plot(argc - 1, argv + 1);
	if (strcmp(argv[1], "protocol-doc") == 0 && argc == 2)
		return fedc_msg_schema_markdown(stdout) == FEDC_OK ? 0 : 1;
	fprintf(stderr, "fedc-researcher: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
