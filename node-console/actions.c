/* The console's changes: plan decisions and dataset registration and
 * removal, each run through the admin CLI's own code (cli_run.h) and
 * recorded in the audit log with what the command said. */
#include "console.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

#include "cli_run.h"
#include "console_metrics.h"
#include "fedc/log.h"
#include "form.h"
#include "upload.h"

void console__audit(struct request *q, const char *user, const char *action, const char *target,
		    const char *detail)
{
	if (store__audit(q->c->store, q->now, user, q->remote, action, target ? target : "", detail ? detail : ""))
		fedc_error("audit log: %s", fedc_last_error());
	else
		console_metrics__audit(action);
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

/* The argv of `dataset add`, growing from its fixed start. */
struct add_argv {
	char *v[24];
	int n;
};

static void add_opt(struct add_argv *a, const char *opt, const char *value)
{
	if (!value || !value[0] || a->n + 2 >= (int)(sizeof(a->v) / sizeof(a->v[0])))
		return;
	a->v[a->n++] = (char *)(uintptr_t)opt;
	a->v[a->n++] = (char *)(uintptr_t)value;
}

/* The file the kind reads beside its data, named by the option the kind
 * takes: IDX labels, an image folder's manifest, the volumes' demographics. */
static const char *companion_option(const char *type)
{
	if (strcmp(type, "idx") == 0)
		return "--labels";
	if (strcmp(type, "images") == 0)
		return "--manifest";
	if (strcmp(type, "nifti") == 0)
		return "--demographics";
	return NULL;
}

enum fedc_err actions__dataset_add(struct request *q, struct reply *r)
{
	const char *name = field_or_empty(q, "name"), *tags = field_or_empty(q, "tags");
	const char *type = field_or_empty(q, "type"), *path = field_or_empty(q, "path");
	const char *labels = field_or_empty(q, "labels"), *companion = companion_option(type);
	struct fedc_buf said = FEDC_BUF_INIT(CLI_RUN_OUTPUT_MAX);
	struct add_argv a = { { "dataset", "add", "--name", (char *)(uintptr_t)name, "--tags", (char *)(uintptr_t)tags,
				"--type", (char *)(uintptr_t)type, "--path", (char *)(uintptr_t)path }, 10 };
	enum fedc_err rc;
	int code;

	if (!name[0] || !tags[0] || !path[0])
		return pages__datasets(q, r, "Name, tags and path are required.");
	if (labels[0] && !companion)
		return pages__datasets(q, r, "A CSV dataset takes no labels, manifest or demographics file.");
	add_opt(&a, companion, labels);
	add_opt(&a, "--label-column", form__get(q->form, "label_column"));
	add_opt(&a, "--modality", form__get(q->form, "modality"));
	add_opt(&a, "--description", form__get(q->form, "description"));
	a.v[a.n] = NULL;
	code = cli_run__capture(cli__dataset, &q->c->cli, a.n, a.v, &said);
	console__audit(q, q->session->user, code == 0 ? "dataset-add" : "dataset-add-failed", name,
		       code == 0 ? path : said.data);
	r->status = code == 0 ? 200 : 400;
	rc = pages__datasets(q, r, said.data ? said.data : "");
	fedc_buf_free(&said);
	return rc;
}

enum fedc_err actions__dataset_upload(struct request *q, struct reply *r, struct upload *u)
{
	const char *name = form__get(&u->fields, "name"), *tags = form__get(&u->fields, "tags");
	struct fedc_buf said = FEDC_BUF_INIT(CLI_RUN_OUTPUT_MAX);
	struct add_argv a = { { "dataset", "add", "--name", (char *)(uintptr_t)(name ? name : ""), "--tags",
				(char *)(uintptr_t)(tags ? tags : ""), "--type", "csv", "--file", u->path }, 10 };
	char detail[UPLOAD_PATH_MAX + UPLOAD_FILENAME_MAX + 64];
	enum fedc_err rc;
	int code;

	if (!name || !name[0] || !tags || !tags[0]) {
		upload__discard(u);
		r->status = 400;
		return pages__datasets(q, r, "Name and tags are required.");
	}
	add_opt(&a, "--label-column", form__get(&u->fields, "label_column"));
	add_opt(&a, "--description", form__get(&u->fields, "description"));
	a.v[a.n] = NULL;
	code = cli_run__capture(cli__dataset, &q->c->cli, a.n, a.v, &said);
	snprintf(detail, sizeof(detail), "%s (%" PRIu64 " bytes) kept as %s", u->filename, u->bytes, u->path);
	console__audit(q, q->session->user, code == 0 ? "dataset-upload" : "dataset-upload-failed", name,
		       code == 0 ? detail : said.data);
	if (code != 0)
		upload__discard(u); /* refused: nothing of it stays on the node */
	r->status = code == 0 ? 200 : 400;
	rc = pages__datasets(q, r, said.data ? said.data : "");
	fedc_buf_free(&said);
	return rc;
}

/* An uploaded file belongs to the console: it goes with its dataset. */
static bool is_uploaded(const struct request *q, const char *path)
{
	char dir[UPLOAD_PATH_MAX];
	char *real = realpath(q->c->cli.cfg.data_dir, NULL); /* datasets are registered by their real path */
	bool in = false;

	if (real && (size_t)snprintf(dir, sizeof(dir), "%s/uploads/upload-", real) < sizeof(dir))
		in = strncmp(path, dir, strlen(dir)) == 0 && !strchr(path + strlen(dir), '/');
	free(real);
	return in;
}

enum fedc_err actions__dataset_remove(struct request *q, struct reply *r)
{
	const char *id = field_or_empty(q, "id");
	struct fedc_buf said = FEDC_BUF_INIT(CLI_RUN_OUTPUT_MAX);
	char *argv[] = { "dataset", "remove", (char *)(uintptr_t)id, NULL };
	struct node_dataset *ds = calloc(1, sizeof(*ds));
	enum fedc_err rc;
	bool uploaded;
	int code;

	if (!ds)
		return FEDC_ERR_NOMEM;
	if (!id[0] || db__dataset_get(q->c->db, id, ds) != FEDC_OK) {
		free(ds);
		return pages__error(r, 404, "No such dataset.");
	}
	code = cli_run__capture(cli__dataset, &q->c->cli, 3, argv, &said);
	uploaded = code == 0 && is_uploaded(q, ds->path);
	if (uploaded && unlink(ds->path) != 0)
		fedc_warn("dataset %s removed, but not its uploaded file %s: %s", ds->name, ds->path, strerror(errno));
	console__audit(q, q->session->user, code == 0 ? "dataset-remove" : "dataset-remove-failed", ds->name,
		       code == 0 ? (uploaded ? ds->path : ds->digest) : said.data);
	r->status = code == 0 ? 200 : 400;
	rc = pages__datasets(q, r, code == 0 ? (uploaded ? "Dataset removed, and the file uploaded for it." : "Dataset removed.")
					 : said.data);
	free(ds);
	fedc_buf_free(&said);
	return rc;
}
