/* fedc-admin: provisions a secure federation (docs/provisioning.md).
 *
 *   fedc-admin init DIR [--federation NAME] [--host H] [--broker-port P]
 *                       [--repository-port P] [--days N]
 *   fedc-admin add-node DIR ID
 *   fedc-admin add-researcher DIR ID
 *   fedc-admin list DIR
 *
 * Exit status: 0 done, 1 the operation failed, 2 bad command line. Results go
 * to stdout, one error line to stderr. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "fedc/config.h"

#define PROG "fedc-admin"

enum { OPT_FEDERATION = 256, OPT_HOST, OPT_BROKER_PORT, OPT_REPOSITORY_PORT, OPT_DAYS };

static void usage(FILE *out)
{
	fprintf(out,
		"usage: " PROG " init DIR [--federation NAME] [--host H] [--broker-port P]\n"
		"                       [--repository-port P] [--days N]\n"
		"       " PROG " add-node DIR ID\n"
		"       " PROG " add-researcher DIR ID\n"
		"       " PROG " list DIR\n"
		"\n"
		"init makes a CA and the broker's and the repository's configuration and\n"
		"certificates in DIR (defaults: federation \"%s\", host %s, broker port %d,\n"
		"repository port %d, certificates valid %d days). add-node and add-researcher\n"
		"enrol a participant and write its bundle to DIR/nodes/ID or DIR/researchers/ID.\n"
		"Ids: 1 to %d of A-Z a-z 0-9 . _ -, not starting with '.' or '-'.\n"
		"See docs/provisioning.md.\n",
		ADMIN_DEFAULT_FEDERATION, ADMIN_DEFAULT_HOST, ADMIN_DEFAULT_BROKER_PORT, ADMIN_DEFAULT_REPOSITORY_PORT,
		ADMIN_DEFAULT_DAYS, FEDC_MAX_ID_LEN);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '" PROG " --help'.\n");
	return 2;
}

/* A bad argument found deep down (FEDC_ERR_INVAL) is still a usage error. */
static int failed(const char *cmd, enum fedc_err rc)
{
	const char *detail = fedc_last_error();

	fprintf(stderr, PROG ": %s: %s\n", cmd, detail[0] ? detail : fedc_strerror(rc));
	return rc == FEDC_ERR_INVAL ? 2 : 1;
}

/* A whole decimal number in [min, max] into an int field. */
static bool parse_int(const char *s, int min, int max, int *out)
{
	int64_t v;

	if (!fedc_parse_int(s, min, max, &v))
		return false;
	*out = (int)v;
	return true;
}

/* Copies an option's value into a fixed field. */
static bool set_field(char *field, size_t cap, const char *value)
{
	return (size_t)snprintf(field, cap, "%s", value) < cap;
}

static int init_option(struct admin_fed *fed, int opt, const char *arg)
{
	switch (opt) {
	case OPT_FEDERATION:
		return set_field(fed->name, sizeof(fed->name), arg) ? 0 : usage_error("--federation: too long: %s", arg);
	case OPT_HOST:
		return set_field(fed->host, sizeof(fed->host), arg) ? 0 : usage_error("--host: too long: %s", arg);
	case OPT_BROKER_PORT:
		return parse_int(arg, 1, 65535, &fed->broker_port) ? 0 : usage_error("--broker-port: not a port: %s", arg);
	case OPT_REPOSITORY_PORT:
		return parse_int(arg, 1, 65535, &fed->repository_port)
			       ? 0 : usage_error("--repository-port: not a port: %s", arg);
	case OPT_DAYS:
		return parse_int(arg, 1, ADMIN_CA_DAYS, &fed->days) ? 0 : usage_error("--days: expected 1..%d, got %s", ADMIN_CA_DAYS, arg);
	default:
		return usage_error("init: bad option");
	}
}

static int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "federation", required_argument, NULL, OPT_FEDERATION },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "broker-port", required_argument, NULL, OPT_BROKER_PORT },
		{ "repository-port", required_argument, NULL, OPT_REPOSITORY_PORT },
		{ "days", required_argument, NULL, OPT_DAYS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct admin_fed fed = { .name = ADMIN_DEFAULT_FEDERATION, .host = ADMIN_DEFAULT_HOST,
				 .broker_port = ADMIN_DEFAULT_BROKER_PORT,
				 .repository_port = ADMIN_DEFAULT_REPOSITORY_PORT, .days = ADMIN_DEFAULT_DAYS };
	enum fedc_err rc;
	int opt, bad;

	opterr = 0;
	/* Options may follow DIR: GNU getopt permutes. */
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return 0;
		}
		if (opt == '?' || opt == ':')
			return usage_error("init: unknown option or missing value: %s", argv[optind - 1]);
		bad = init_option(&fed, opt, optarg);
		if (bad)
			return bad;
	}
	if (argc - optind != 1)
		return usage_error("init: expected one DIR");
	if (!set_field(fed.dir, sizeof(fed.dir), argv[optind]) || !argv[optind][0])
		return usage_error("init: bad DIR \"%s\"", argv[optind]);
	rc = admin__init(&fed);
	if (rc)
		return failed("init", rc);
	printf("federation \"%s\" made in %s\n"
	       "  broker:     mosquitto -c %s/broker/mosquitto.conf\n"
	       "  repository: fedc-repository --config %s/repository/repository.ini\n"
	       "  keep %s/ca/ca.key secret and offline if you can; add participants with\n"
	       "  " PROG " add-node %s ID / add-researcher %s ID\n",
	       fed.name, fed.dir, fed.dir, fed.dir, fed.dir, fed.dir, fed.dir);
	return 0;
}

static int cmd_add(int argc, char **argv, enum admin_role role)
{
	const char *cmd = argv[0];
	struct admin_fed fed;
	char bundle[PATH_MAX];
	enum fedc_err rc;

	if (argc != 3)
		return usage_error("%s: expected DIR ID", cmd);
	if (!fedc_id_valid(argv[2])) {
		fprintf(stderr, PROG ": %s: bad id \"%s\": 1 to %d of A-Z a-z 0-9 . _ -, not starting with '.' or '-'\n",
			cmd, argv[2], FEDC_MAX_ID_LEN);
		return 2;
	}
	rc = admin__load(argv[1], &fed);
	if (!rc)
		rc = admin__add(&fed, role, argv[2]);
	if (!rc)
		rc = admin__bundle_dir(&fed, role, argv[2], bundle);
	if (rc)
		return failed(cmd, rc);
	printf("%s \"%s\" added to federation \"%s\"; its bundle: %s\n"
	       "Copy that directory to the %s's machine (keep it secret: it holds keys).\n"
	       "Send SIGHUP to a running mosquitto and fedc-repository so that they reload\n"
	       "passwd, acl and tokens:  kill -HUP <mosquitto pid> <fedc-repository pid>\n"
	       "Bundles copied out earlier get %s's public key only by hand: see docs/provisioning.md.\n",
	       admin__role_name(role), argv[2], fed.name, bundle, admin__role_name(role), argv[2]);
	return 0;
}

static int cmd_list(int argc, char **argv)
{
	struct admin_registry reg = { 0 };
	struct admin_fed fed;
	enum fedc_err rc;

	if (argc != 2)
		return usage_error("list: expected DIR");
	rc = admin__load(argv[1], &fed);
	if (!rc)
		rc = admin__registry_load(&fed, &reg);
	if (rc)
		return failed("list", rc);
	printf("federation %s: host %s, broker port %d, repository port %d, %zu participant(s)\n", fed.name,
	       fed.host, fed.broker_port, fed.repository_port, reg.n);
	for (size_t i = 0; i < reg.n; i++)
		printf("%-10s %s\n", admin__role_name(reg.v[i].role), reg.v[i].id);
	admin__registry_free(&reg);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "init"))
		return cmd_init(argc - 1, argv + 1);
	if (!strcmp(cmd, "add-node"))
		return cmd_add(argc - 1, argv + 1, ADMIN_ROLE_NODE);
	if (!strcmp(cmd, "add-researcher"))
		return cmd_add(argc - 1, argv + 1, ADMIN_ROLE_RESEARCHER);
	if (!strcmp(cmd, "list"))
		return cmd_list(argc - 1, argv + 1);
	return usage_error("unknown command \"%s\"", cmd);
}
