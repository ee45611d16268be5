/* fedc-node: the node daemon and its admin CLI.
 *
 *   fedc-node [--config FILE] init [--id ID] [--federation F] [--broker URL]
 *                                 [--repository URL] [--token T] [--data-dir D]
 *   fedc-node [--config FILE] dataset add|list|show|remove ...
 *   fedc-node [--config FILE] plan list|show|source|approve|reject|remove ...
 *   fedc-node [--config FILE] start
 *
 * The config file defaults to $FEDC_NODE_CONFIG, then ./node.ini. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "daemon.h"
#include "fedc/log.h"
#include "fedc/repo.h"
#include "fedc/uuid.h"
#include "node_config.h"
#include "sandbox.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fedc-node [--config FILE] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  init [--id ID] [--federation F] [--broker URL] [--repository URL] [--token T] [--data-dir D]\n"
		"                          write a new config file (node id generated unless given)\n"
		"  dataset add|list|show|remove ...   manage the datasets this node offers\n"
		"  plan list|show|source|approve|reject|remove ...   manage the training-plan approval list\n"
		"  start                   run the daemon (until SIGINT or SIGTERM; SIGHUP reloads trusted keys)\n"
		"\n"
		"Every command takes --help (no config needed): fedc-node dataset add --help ...\n"
		"The config file is --config, else $FEDC_NODE_CONFIG, else ./node.ini.\n"
		"See docs/node-admin.md.\n");
}

static const char *config_path(const char *given)
{
	const char *env = getenv("FEDC_NODE_CONFIG");

	if (given)
		return given;
	return env && env[0] ? env : "node.ini";
}

struct init_values {
	const char *id, *federation, *broker, *repository, *token, *data_dir;
};

static int write_config(const char *path, const struct init_values *v)
{
	char id[FEDC_UUID_STRLEN + 1];
	enum fedc_err rc;
	FILE *f;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0) {
		fprintf(stderr, "fedc-node: init: %s: %s%s\n", path, strerror(errno),
			errno == EEXIST ? " (refusing to overwrite an existing config)" : "");
		return 1;
	}
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return 1;
	}
	if (!v->id)
		fedc_uuid_new(id);
	rc = node_config__write_template(f, v->id ? v->id : id, v->federation, v->data_dir, v->broker,
					 v->repository, v->token);
	if (fclose(f) != 0 || rc) {
		fprintf(stderr, "fedc-node: init: %s: write failed\n", path);
		return 1;
	}
	printf("wrote %s (node id %s)\n", path, v->id ? v->id : id);
	return 0;
}

static int cmd_init(const char *path, int argc, char **argv)
{
	static const struct option options[] = {
		{ "id", required_argument, NULL, 'i' }, { "federation", required_argument, NULL, 'f' },
		{ "broker", required_argument, NULL, 'b' }, { "repository", required_argument, NULL, 'r' },
		{ "token", required_argument, NULL, 't' }, { "data-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct init_values v = { NULL, "default", "tcp://127.0.0.1:1883", "http://127.0.0.1:8080", "", "data" };
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'i': v.id = optarg; break;
		case 'f': v.federation = optarg; break;
		case 'b': v.broker = optarg; break;
		case 'r': v.repository = optarg; break;
		case 't': v.token = optarg; break;
		case 'd': v.data_dir = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return write_config(path, &v);
}

static int open_log(const struct node_config *cfg)
{
	int fd = 2;

	if (cfg->log_file[0]) {
		fd = open(cfg->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0) {
			fprintf(stderr, "fedc-node: cannot open log file %s: %s\n", cfg->log_file, strerror(errno));
			return -1;
		}
	}
	/* Several nodes often share one terminal: name this one on each line. */
	char component[32];

	snprintf(component, sizeof(component), "node %.24s", cfg->node_id);
	fedc_log_init(component, cfg->log_level, fd);
	return 0;
}

static const char start_usage[] = "usage: fedc-node [--config FILE] start\n"
				  "runs the daemon until SIGINT or SIGTERM (docs/node-admin.md)\n";

static int cmd_start(const char *path, int argc, char **argv)
{
	struct node_config cfg;
	int code;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(start_usage, stdout);
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "fedc-node: start: unexpected argument \"%s\"\n%s", argv[1], start_usage);
		return 2;
	}
	if (node_config__load(path, &cfg) != FEDC_OK) {
		fprintf(stderr, "fedc-node: %s\n", fedc_last_error());
		return 2;
	}
	if (open_log(&cfg) != 0) {
		code = 1;
	} else if (fedc_repo_global_init() != FEDC_OK) {
		fprintf(stderr, "fedc-node: cannot initialise libcurl\n");
		code = 1;
	} else {
		code = daemon__run(&cfg);
	}
	node_config__free(&cfg);
	return code;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct cli_ctx ctx = { 0 };
	const char *given = NULL;
	int opt;

	/* The sandboxed child of a round (sandbox.c) re-enters here. */
	if (argc >= 2 && strcmp(argv[1], "__run-plan") == 0)
		return plan_runner__main(argc - 1, argv + 1);
	while ((opt = getopt_long(argc, argv, "+c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c': given = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	argc -= optind;
	argv += optind;
	if (strcmp(argv[0], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[0], "init") == 0)
		return cmd_init(config_path(given), argc, argv);
	/* dataset and plan load the config themselves, once their options
	 * passed: usage and --help need none. */
	ctx.config_path = config_path(given);
	if (strcmp(argv[0], "dataset") == 0 || strcmp(argv[0], "plan") == 0) {
		int code = strcmp(argv[0], "dataset") == 0 ? cli__dataset(&ctx, argc, argv) : cli__plan(&ctx, argc, argv);

		if (ctx.loaded)
			node_config__free(&ctx.cfg);
		return code;
	}
	if (strcmp(argv[0], "start") != 0) {
		fprintf(stderr, "fedc-node: unknown command \"%s\"\n", argv[0]);
		usage(stderr);
		return 2;
	}
	return cmd_start(ctx.config_path, argc, argv);
}
