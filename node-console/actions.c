/* The console's changes: plan decisions and dataset registration and
 * removal, each run through the admin CLI's own code (cli_run.h) and
 * recorded in the audit log with what the command said. */
#include "console.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "fedc/log.h"
#include "form.h"

void console__audit(struct request *q, const char *user, const char *action, const char *target,
		    const char *detail)
{
	if (store__audit(q->c->store, q->now, user, q->remote, action, target ? target : "", detail ? detail : ""))
		fedc_error("audit log: %s", fedc_last_error());
}

/* 64 or 128 hex digits: a digest, never a file name (`plan approve` also
 * takes a FILE, which the console must not let a browser name). */
static bool is_digest(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len != 64 && len != 128)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static const char *field_or_empty(const struct request *q, const char *name)
{
	const char *v = form__get(q->form, name);

	return v ? v : "";
}

enum fedc_err actions__plan_decide(struct request *q, struct reply *r)
{
	const char *digest = form__get(q->form, "digest"), *decision = form__get(q->form, "decision");
	const char *note = field_or_empty(q, "note");
	struct fedc_buf said = FEDC_BUF_INIT(CLI_RUN_OUTPUT_MAX);
	bool approve = decision && strcmp(decision, "approve") == 0;
	char *argv[] = { "plan", approve ? "approve" : "reject", (char *)(uintptr_t)digest, "--notes", (char *)(uintptr_t)note, NULL };
	struct node_plan plan;
	enum fedc_err rc;
	int code;

	if (!is_digest(digest) || !decision || (!approve && strcmp(decision, "reject") != 0))
		return pages__error(r, 400, "The form needs a plan digest and a decision (approve or reject).");
	if (db__plan_get(q->c->db, digest, &plan) != FEDC_OK)
		return pages__error(r, 404, "No such plan on this node.");
	code = cli_run__capture(cli__plan, &q->c->cli, 5, argv, &said);
	console__audit(q, q->session->user, code == 0 ? (approve ? "plan-approve" : "plan-reject") : "plan-decision-failed",
		       digest, code == 0 ? note : said.data);
	if (code == 0 && store__decision(q->c->store, q->now, digest, approve ? "approved" : "rejected", note,
					 q->session->user))
		fedc_error("decision history: %s", fedc_last_error());
	r->status = code == 0 ? 200 : 400;
	rc = pages__plans(q, r, code == 0 ? (approve ? "Plan approved." : "Plan rejected.")
					 : (said.data ? said.data : "The decision was refused."));
	fedc_buf_free(&said);
	return rc;
}

enum fedc_err actions__dataset_add(struct request *q, struct reply *r)
{
	const char *name = field_or_empty(q, "name"), *tags = field_or_empty(q, "tags");
	const char *type = field_or_empty(q, "type"), *path = field_or_empty(q, "path");
	const char *labels = field_or_empty(q, "labels"), *description = field_or_empty(q, "description");
	struct fedc_buf said = FEDC_BUF_INIT(CLI_RUN_OUTPUT_MAX);
	char *argv[16] = { "dataset", "add", "--name", (char *)(uintptr_t)name, "--tags", (char *)(uintptr_t)tags, "--type",
			   (char *)(uintptr_t)type, "--path", (char *)(uintptr_t)path };
	int argc = 10, code;
	enum fedc_err rc;

	if (!name[0] || !tags[0] || !path[0])
		return pages__datasets(q, r, "Name, tags and path are required.");
	if (labels[0]) {
		argv[argc++] = "--labels";
		argv[argc++] = (char *)(uintptr_t)labels;
	}
	if (description[0]) {
		argv[argc++] = "--description";
		argv[argc++] = (char *)(uintptr_t)description;
	}
	code = cli_run__capture(cli__dataset, &q->c->cli, argc, argv, &said);
	console__audit(q, q->session->user, code == 0 ? "dataset-add" : "dataset-add-failed", name,
		       code == 0 ? path : said.data);
	r->status = code == 0 ? 200 : 400;
	rc = pages__datasets(q, r, said.data ? said.data : "");
	fedc_buf_free(&said);
	return rc;
}

enum fedc_err actions__dataset_remove(struct request *q, struct reply *r)
{
	const char *id = field_or_empty(q, "id");
	struct fedc_buf said = FEDC_BUF_INIT(CLI_RUN_OUTPUT_MAX);
	char *argv[] = { "dataset", "remove", (char *)(uintptr_t)id, NULL };
	struct node_dataset *ds = calloc(1, sizeof(*ds));
	enum fedc_err rc;
	int code;

	if (!ds)
		return FEDC_ERR_NOMEM;
	if (!id[0] || db__dataset_get(q->c->db, id, ds) != FEDC_OK) {
		free(ds);
		return pages__error(r, 404, "No such dataset.");
	}
	code = cli_run__capture(cli__dataset, &q->c->cli, 3, argv, &said);
	console__audit(q, q->session->user, code == 0 ? "dataset-remove" : "dataset-remove-failed", ds->name,
		       code == 0 ? ds->digest : said.data);
	r->status = code == 0 ? 200 : 400;
	rc = pages__datasets(q, r, code == 0 ? "Dataset removed." : said.data);
	free(ds);
	fedc_buf_free(&said);
	return rc;
}
