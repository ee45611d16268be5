/* fedc-admin: provisions a secure federation (docs/provisioning.md). Its
 * commands are the table `commands[]` below, which drives the parsing and
 * the usage text (fedc/cli.h): `fedc-admin --help`, `fedc-admin init --help`.
 *
 * Exit status: 0 done, 1 the operation failed, 2 bad command line. Results go
 * to stdout, one error line to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "fedc/cli.h"
#include "id_list.h"
#include "fedc/config.h"

#define PROG "fedc-admin"
#define STR_(x) #x
#define STR(x) STR_(x)

/* Option keys (fedc_cli_args.value[KEY]). */
enum { K_FEDERATION, K_HOST, K_BROKER_PORT, K_REPOSITORY_PORT, K_DAYS, K_BROKER };

static const struct fedc_cli_opt opt_federation = { .key = K_FEDERATION, .name = "federation", .metavar = "NAME",
	.help = "the federation's name (default \"" ADMIN_DEFAULT_FEDERATION "\")" };
static const struct fedc_cli_opt opt_host = { .key = K_HOST, .name = "host", .metavar = "H",
	.help = "the host participants reach (default " ADMIN_DEFAULT_HOST ")" };
static const struct fedc_cli_opt opt_broker_port = { .key = K_BROKER_PORT, .name = "broker-port", .metavar = "P",
	.help = "the broker's TLS port (default " STR(ADMIN_DEFAULT_BROKER_PORT) ")", .is_int = true, .min = 1,
	.max = 65535 };
static const struct fedc_cli_opt opt_repository_port = { .key = K_REPOSITORY_PORT, .name = "repository-port",
	.metavar = "P", .help = "the repository's HTTPS port (default " STR(ADMIN_DEFAULT_REPOSITORY_PORT) ")",
	.is_int = true, .min = 1, .max = 65535 };
static const struct fedc_cli_opt opt_days = { .key = K_DAYS, .name = "days", .metavar = "N",
	.help = "validity of the certificates in days (default " STR(ADMIN_DEFAULT_DAYS) ")", .is_int = true,
	.min = 1, .max = ADMIN_CA_DAYS };

static const struct fedc_cli_opt opt_broker = { .key = K_BROKER, .name = "broker", .metavar = "KIND",
	.help = "mosquitto (default) or rabbitmq: the MQTT broker whose files DIR/broker gets" };

static const struct fedc_cli_prog prog;

/* How to make the running broker and repository take new credentials. */
static void print_reload(const struct admin_fed *fed, const char *revoked_id)
{
	if (fed->broker == ADMIN_BROKER_MOSQUITTO) {
		printf("Send SIGHUP to a running mosquitto and fedc-repository so that they reload\n"
		       "passwd, acl and tokens:  kill -HUP <mosquitto pid> <fedc-repository pid>\n");
		return;
	}
	printf("Load the new definitions into RabbitMQ and reload the repository's tokens:\n"
	       "  rabbitmqctl import_definitions %s/broker/definitions.json\n", fed->dir);
	if (revoked_id)
		printf("  rabbitmqctl delete_user %s   (an import never deletes a user)\n", revoked_id);
	printf("  kill -HUP <fedc-repository pid>\n");
}

static void footer(FILE *out)
{
	fprintf(out, "Ids: 1 to %d of A-Z a-z 0-9 . _ -, not starting with '.' or '-'.\n"
		     "See docs/provisioning.md.\n", FEDC_MAX_ID_LEN);
}

/* A bad argument found deep down (FEDC_ERR_INVAL) is still a usage error. */
static int failed(const char *cmd, enum fedc_err rc)
{
	const char *detail = fedc_last_error();

	fprintf(stderr, PROG ": %s: %s\n", cmd, detail[0] ? detail : fedc_strerror(rc));
	return rc == FEDC_ERR_INVAL ? 2 : 1;
}

/* Copies an option's value into a fixed field. */
static bool set_field(char *field, size_t cap, const char *value)
{
	return (size_t)snprintf(field, cap, "%s", value) < cap;
}

static int cmd_init(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	struct admin_fed fed = { .name = ADMIN_DEFAULT_FEDERATION, .host = ADMIN_DEFAULT_HOST,
				 .broker_port = ADMIN_DEFAULT_BROKER_PORT,
				 .repository_port = ADMIN_DEFAULT_REPOSITORY_PORT, .days = ADMIN_DEFAULT_DAYS };
	enum fedc_err rc;

	if (a->value[K_FEDERATION] && !set_field(fed.name, sizeof(fed.name), a->value[K_FEDERATION]))
		return fedc_cli_usage_error(&prog, cmd, "--federation: too long: %s", a->value[K_FEDERATION]);
	if (a->value[K_HOST] && !set_field(fed.host, sizeof(fed.host), a->value[K_HOST]))
		return fedc_cli_usage_error(&prog, cmd, "--host: too long: %s", a->value[K_HOST]);
	if (a->value[K_BROKER_PORT])
		fed.broker_port = (int)a->num[K_BROKER_PORT];
	if (a->value[K_REPOSITORY_PORT])
		fed.repository_port = (int)a->num[K_REPOSITORY_PORT];
	if (a->value[K_DAYS])
		fed.days = (int)a->num[K_DAYS];
	if (a->value[K_BROKER] && !admin__broker_parse(a->value[K_BROKER], &fed.broker))
		return fedc_cli_usage_error(&prog, cmd, "--broker: expected mosquitto or rabbitmq, got \"%s\"",
					    a->value[K_BROKER]);
	if (!set_field(fed.dir, sizeof(fed.dir), a->operand[0]) || !a->operand[0][0])
		return fedc_cli_usage_error(&prog, cmd, "bad DIR \"%s\"", a->operand[0]);
	rc = admin__init(&fed);
	if (rc)
		return failed("init", rc);
	printf("federation \"%s\" made in %s\n", fed.name, fed.dir);
	if (fed.broker == ADMIN_BROKER_RABBITMQ)
		printf("  broker:     RABBITMQ_CONFIG_FILE=%s/broker/rabbitmq.conf \\\n"
		       "              RABBITMQ_ENABLED_PLUGINS_FILE=%s/broker/enabled_plugins rabbitmq-server\n",
		       fed.dir, fed.dir);
	else
		printf("  broker:     mosquitto -c %s/broker/mosquitto.conf\n", fed.dir);
	printf("  repository: fedc-repository --config %s/repository/repository.ini\n"
	       "  keep %s/ca/ca.key secret and offline if you can; add participants with\n"
	       "  " PROG " add-node %s ID / add-researcher %s ID\n",
	       fed.dir, fed.dir, fed.dir, fed.dir);
	return 0;
}

static int cmd_add(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	enum admin_role role = strcmp(cmd->name, "add-node") == 0 ? ADMIN_ROLE_NODE : ADMIN_ROLE_RESEARCHER;
	const char *dir = a->operand[0], *id = a->operand[1];
	struct admin_fed fed;
	char bundle[PATH_MAX];
	enum fedc_err rc;

	if (!fedc_id_valid(id))
		return fedc_cli_usage_error(&prog, cmd, "bad id \"%s\": 1 to %d of A-Z a-z 0-9 . _ -, not starting "
						    "with '.' or '-'", id, FEDC_MAX_ID_LEN);
	rc = admin__load(dir, &fed);
	if (!rc)
		rc = admin__add(&fed, role, id);
	if (!rc)
		rc = admin__bundle_dir(&fed, role, id, bundle);
	if (rc)
		return failed(cmd->name, rc);
	printf("%s \"%s\" added to federation \"%s\"; its bundle: %s\n"
	       "Copy that directory to the %s's machine (keep it secret: it holds keys).\n",
	       admin__role_name(role), id, fed.name, bundle, admin__role_name(role));
	print_reload(&fed, NULL);
	printf("Bundles copied out earlier get %s's public key only by hand: see docs/provisioning.md.\n", id);
	return 0;
}

/* add-nodes DIR FILE: many nodes in one change (admin__add_many). */
static int cmd_add_nodes(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	struct fedc_buf text = FEDC_BUF_INIT(0);
	const char *dir = a->operand[0], *file = a->operand[1];
	const char **ids = NULL;
	size_t n = 0;
	struct admin_fed fed;
	enum fedc_err rc;

	/* 100000 ids of at most 64 characters, with room for comments */
	rc = admin__read_file(file, (size_t)ADMIN_ID_LIST_MAX * 80, &text);
	if (!rc)
		rc = admin__id_list_parse(text.data, file, &ids, &n);
	if (!rc)
		rc = admin__load(dir, &fed);
	if (!rc)
		rc = admin__add_many(&fed, ADMIN_ROLE_NODE, ids, n);
	free(ids);
	fedc_buf_free(&text);
	if (rc)
		return failed(cmd->name, rc);
	printf("%zu nodes added to federation \"%s\"; their bundles: %s/nodes/<id>\n"
	       "Copy each directory to its node's machine (keep it secret: it holds keys).\n"
	       "Send SIGHUP to a running mosquitto and fedc-repository so that they reload\n"
	       "passwd, acl and tokens:  kill -HUP <mosquitto pid> <fedc-repository pid>\n",
	       n, fed.name, fed.dir);
	return 0;
}

static int cmd_rotate(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	const char *dir = a->operand[0], *id = a->operand[1];
	struct admin_registry reg = { 0 };
	const struct admin_participant *p;
	struct admin_fed fed;
	char bundle[PATH_MAX];
	enum fedc_err rc;

	if (!fedc_id_valid(id))
		return fedc_cli_usage_error(&prog, cmd, "bad id \"%s\"", id);
	rc = admin__load(dir, &fed);
	if (!rc)
		rc = admin__rotate(&fed, id);
	if (!rc)
		rc = admin__registry_load(&fed, &reg);
	if (!rc && !(p = admin__registry_find(&reg, id)))
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "\"%s\" vanished from the registry", id);
	if (!rc)
		rc = admin__bundle_dir(&fed, p->role, id, bundle);
	if (rc) {
		admin__registry_free(&reg);
		return failed(cmd->name, rc);
	}
	printf("%s \"%s\" has new credentials: certificate, broker password, repository token and\n"
	       "signing key, in %s (its ini, trusted/, peers/ and data are kept).\n",
	       admin__role_name(p->role), id, bundle);
	if (fed.broker == ADMIN_BROKER_MOSQUITTO) {
		printf("1. Reload the servers: kill -HUP <mosquitto pid> <fedc-repository pid>; the old password\n"
		       "   and token stop working, and mosquitto reads the new CRL (%s/ca/crl.pem), which\n"
		       "   revokes the old certificate.\n",
		       fed.dir);
	} else {
		printf("1. Reload the servers: the old password and token stop working, and RabbitMQ refuses\n"
		       "   the old certificate once it has the new CRL (copy %s/broker/crls/ to the broker).\n",
		       fed.dir);
		print_reload(&fed, NULL);
	}
	printf("2. Copy the new credential files of that directory to the %s's machine and restart it.\n",
	       admin__role_name(p->role));
	if (p->role == ADMIN_ROLE_NODE)
		printf("3. The researchers still in %s have its new public key in trusted/, the other nodes in\n"
		       "   peers/; give copies handed out earlier %s/keys/%s.pub as trusted/%s.pub (a\n"
		       "   researcher's) or peers/%s.pub (a node's).\n",
		       fed.dir, fed.dir, id, id, id);
	else
		printf("3. The nodes still in %s have its new public key in trusted/; give copies handed out\n"
		       "   earlier %s/keys/%s.pub as trusted/%s.pub and send each node SIGHUP.\n",
		       fed.dir, fed.dir, id, id);
	admin__registry_free(&reg);
	return 0;
}

/* revoke and remove. */
static int cmd_revoke(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	bool remove = strcmp(cmd->name, "remove") == 0;
	const char *dir = a->operand[0], *id = a->operand[1];
	struct admin_fed fed;
	enum fedc_err rc;

	if (!fedc_id_valid(id))
		return fedc_cli_usage_error(&prog, cmd, "bad id \"%s\"", id);
	rc = admin__load(dir, &fed);
	if (!rc)
		rc = admin__revoke(&fed, id, remove);
	if (rc)
		return failed(cmd->name, rc);
	printf("\"%s\" %s federation \"%s\": its certificate is on %s/ca/crl.pem, its password, ACL\n"
	       "block and repository token are gone, and the bundles in %s no longer hold its key.\n",
	       id, remove ? "is removed from" : "is revoked in", fed.name, fed.dir, fed.dir);
	if (fed.broker == ADMIN_BROKER_MOSQUITTO) {
		printf("1. Reload the servers: kill -HUP <mosquitto pid> <fedc-repository pid> (mosquitto reads\n"
		       "   passwd, acl and the CRL again, the repository its tokens).\n");
	} else {
		printf("1. ");
		print_reload(&fed, id);
	}
	printf("2. Delete trusted/%s.pub (and a node's peers/%s.pub) from the copies handed out earlier,\n"
	       "   and send SIGHUP to the nodes.\n"
	       "%s",
	       id, id,
	       remove ? "Its bundle, key and record are deleted.\n"
		      : "Its bundle and key stay, on record in revoked (`list` shows it); remove deletes them.\n");
	return 0;
}

static int cmd_list(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	struct admin_registry reg = { 0 };
	struct admin_fed fed;
	enum fedc_err rc;

	rc = admin__load(a->operand[0], &fed);
	if (!rc)
		rc = admin__registry_load(&fed, &reg);
	if (rc)
		return failed(cmd->name, rc);
	printf("federation %s: host %s, broker port %d (%s), repository port %d, %zu participant(s)\n", fed.name,
	       fed.host, fed.broker_port, admin__broker_name(fed.broker), fed.repository_port, reg.n);
	for (size_t i = 0; i < reg.n; i++)
		printf("%-10s %s\n", admin__role_name(reg.v[i].role), reg.v[i].id);
	admin__registry_free(&reg);
	rc = admin__revoked_print(&fed, stdout);
	return rc ? failed(cmd->name, rc) : 0;
}

/* The policy to stdout, so that it can go where the operator wants it; the
 * users it names to stderr, as the commands that make them. */
static int cmd_s3_policy(const struct fedc_cli_cmd *cmd, const struct fedc_cli_args *a)
{
	struct fedc_buf policy = FEDC_BUF_INIT(ADMIN_MAX_LIST_BYTES);
	struct admin_registry reg = { 0 };
	struct admin_fed fed;
	enum fedc_err rc;

	rc = admin__load(a->operand[0], &fed);
	if (!rc)
		rc = admin__registry_load(&fed, &reg);
	if (!rc)
		rc = admin__s3_policy(&reg, a->operand[1], &policy);
	if (!rc && fwrite(policy.data, 1, policy.len, stdout) != policy.len)
		rc = fedc_fail(FEDC_ERR_IO, "cannot write the policy to stdout");
	if (!rc) {
		fprintf(stderr, "S3 users this policy names (one per participant, each with its own keys):\n");
		for (size_t i = 0; i < reg.n; i++)
			fprintf(stderr, "  radosgw-admin user create --uid %s --display-name %s\n", reg.v[i].id,
				reg.v[i].id);
	}
	admin__registry_free(&reg);
	fedc_buf_free(&policy);
	return rc ? failed(cmd->name, rc) : 0;
}

static const struct fedc_cli_cmd commands[] = {
	{ "init", "DIR", 1, 1,
	  "make a CA and the broker's and the repository's configuration and\ncertificates in DIR",
	  (const struct fedc_cli_opt *const[]){ &opt_federation, &opt_host, &opt_broker_port, &opt_repository_port,
						&opt_days, &opt_broker, NULL },
	  0, cmd_init },
	{ "add-node", "DIR ID", 2, 2, "enrol a node and write its bundle to DIR/nodes/ID", NULL, 0, cmd_add },
	{ "add-nodes", "DIR FILE", 2, 2,
	  "enrol the nodes FILE lists (one id per line, '#' comments) in one\nchange: bundles in DIR/nodes/<id>; "
	  "nothing changes if one id is bad or taken",
	  NULL, 0, cmd_add_nodes },
	{ "add-researcher", "DIR ID", 2, 2, "enrol a researcher and write its bundle to DIR/researchers/ID", NULL, 0,
	  cmd_add },
	{ "list", "DIR", 1, 1, "list the federation's participants (and the revoked ones on record)", NULL, 0,
	  cmd_list },
	{ "rotate", "DIR ID", 2, 2,
	  "give participant ID a new certificate (the old one goes on the CRL),\nbroker password, repository token "
	  "and signing key, in its bundle",
	  NULL, 0, cmd_rotate },
	{ "revoke", "DIR ID", 2, 2,
	  "revoke participant ID: CRL, password, ACL block, token and trusted key\ngo; its bundle stays, on record",
	  NULL, 0, cmd_revoke },
	{ "remove", "DIR ID", 2, 2, "revoke participant ID, then delete its bundle, key and record", NULL, 0,
	  cmd_revoke },
	{ "s3-policy", "DIR BUCKET", 2, 2,
	  "print the bucket policy (JSON) of a repository kept in S3 bucket BUCKET:\nper-participant access as "
	  "fedc-repository gives it (docs/repository.md)",
	  NULL, 0, cmd_s3_policy },
	{ NULL, NULL, 0, 0, NULL, NULL, 0, NULL },
};

static const struct fedc_cli_prog prog = { PROG, commands, footer, NULL };

int main(int argc, char **argv)
{
	return fedc_cli_main(&prog, argc, argv);
}
