/* The console's pages: plain HTML, every database value escaped
 * (html__text). Forms POST with the session's CSRF token. */
#include "console.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "fedc/log.h"
#include "fedc/source_bundle.h"
#include "form.h"
#include "html.h"
#include "preview.h"
#include "privacy.h"
#include "upload.h"

#define OUT(...) do { if (!rc) rc = fedc_buf_printf(&r->body, __VA_ARGS__); } while (0)
#define TEXT(s) do { if (!rc) rc = html__text(&r->body, (s)); } while (0)
#define TIME(t) do { if (!rc) rc = html__time(&r->body, (t)); } while (0)

static enum fedc_err head(struct reply *r, const char *title, const struct session *s)
{
	enum fedc_err rc = FEDC_OK;

	OUT("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width\">"
	    "<title>%s - fedc node console</title>"
	    "<link rel=\"stylesheet\" href=\"/static/console.css\">"
	    "<script src=\"/static/console.js\" defer></script></head><body>\n",
	    title);
	if (s && s->user[0]) {
		OUT("<nav><span class=\"brand\">fedc node console</span>"
		    "<a href=\"/plans\">Plans</a><a href=\"/datasets\">Datasets</a>"
		    "<a href=\"/jobs\">Jobs</a><a href=\"/audit\">Audit log</a>"
		    "<form method=\"post\" action=\"/logout\" class=\"logout\">"
		    "<input type=\"hidden\" name=\"csrf\" value=\"%s\"><span>",
		    s->csrf);
		TEXT(s->user);
		OUT("</span><button type=\"submit\" id=\"logout\">Log out</button></form></nav>\n");
	}
	OUT("<main><h1>%s</h1>\n", title);
	return rc;
}

static enum fedc_err tail(struct reply *r)
{
	return fedc_buf_printf(&r->body, "</main></body></html>\n");
}

static enum fedc_err message_box(struct reply *r, const char *message)
{
	enum fedc_err rc = FEDC_OK;

	if (!message || !message[0])
		return FEDC_OK;
	OUT("<pre class=\"message\" id=\"message\">");
	TEXT(message);
	OUT("</pre>\n");
	return rc;
}

static enum fedc_err csrf_field(struct reply *r, const struct session *s)
{
	return fedc_buf_printf(&r->body, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", s->csrf);
}

enum fedc_err pages__error(struct reply *r, unsigned status, const char *message)
{
	enum fedc_err rc;

	fedc_buf_reset(&r->body);
	r->status = status;
	rc = head(r, "Refused", NULL);
	if (!rc)
		rc = message_box(r, message);
	if (!rc)
		rc = fedc_buf_printf(&r->body, "<p><a href=\"/plans\">Back</a></p>");
	return rc ? rc : tail(r);
}

enum fedc_err pages__login(struct request *q, struct reply *r, struct session *anon, const char *error)
{
	enum fedc_err rc = head(r, "Log in", NULL);

	(void)q;
	if (!rc)
		rc = message_box(r, error);
	OUT("<form method=\"post\" action=\"/login\" class=\"login\">");
	if (!rc)
		rc = csrf_field(r, anon);
	OUT("<label>User <input name=\"user\" id=\"user\" autocomplete=\"username\" required maxlength=\"64\"></label>"
	    "<label>Password <input type=\"password\" name=\"password\" id=\"password\""
	    " autocomplete=\"current-password\" required></label>"
	    "<button type=\"submit\" id=\"login\">Log in</button></form>\n");
	return rc ? rc : tail(r);
}

/* ---- plans ---- */

static enum fedc_err plan_decision_form(struct reply *r, const struct session *s, const struct node_plan *p)
{
	enum fedc_err rc = FEDC_OK;

	OUT("<form method=\"post\" action=\"/plans/decide\" class=\"decide\">");
	if (!rc)
		rc = csrf_field(r, s);
	OUT("<input type=\"hidden\" name=\"digest\" value=\"");
	TEXT(p->digest);
	OUT("\"><input name=\"note\" placeholder=\"note (kept with the decision)\" maxlength=\"%d\">"
	    "<button name=\"decision\" value=\"approve\" class=\"approve\">Approve</button>"
	    "<button name=\"decision\" value=\"reject\" class=\"reject\">Reject</button></form>",
	    FEDC_MAX_TEXT_LEN);
	return rc;
}

/* One shipped file: its name and its text, escaped, in monospace. */
static enum fedc_err source_file(struct reply *r, const struct fedc_source_file *f)
{
	struct fedc_buf text = FEDC_BUF_INIT(FEDC_SOURCE_MAX);
	enum fedc_err rc = fedc_buf_append(&text, f->text, f->len); /* NUL-terminated for html__text */

	OUT("<details class=\"source-file\" open><summary>");
	TEXT(f->name);
	OUT(" (%" PRIu32 " bytes)</summary><pre><code>", f->len);
	TEXT(text.data);
	OUT("</code></pre></details>");
	fedc_buf_free(&text);
	return rc;
}

/* The list's note on the plan's source: a link to its page, or why there
 * is none. */
static enum fedc_err plan_source_note(struct reply *r, struct node_db *db, const struct node_plan *p)
{
	struct node_plan_source src;
	enum fedc_err rc = db__plan_source_get(db, p->digest, &src);

	if (rc == FEDC_ERR_NOT_FOUND)
		return fedc_buf_printf(&r->body, "; no source shipped");
	if (rc)
		return rc;
	if (!src.has_bundle) {
		OUT("; <span class=\"source-refused\">source refused: ");
		TEXT(src.refused);
		OUT("</span>");
	} else {
		OUT("; <a class=\"source-link\" href=\"/plans/source?id=");
		TEXT(p->digest);
		OUT("\">read the source shipped with it</a>");
	}
	fedc_buf_free(&src.bundle);
	return rc;
}

/* What came with a researcher's `approval` request: the plan's name, its
 * digest and an optional description (kept in the plan's notes while it is
 * pending), the compiled plan the node fetched from the repository, and its
 * source when the researcher shipped it (docs/protocol.md, `approval`). */
static enum fedc_err plan_shipped(struct reply *r, struct node_db *db, const struct node_plan *p)
{
	struct stat st;
	enum fedc_err rc = FEDC_OK;

	OUT("<span class=\"description\">");
	TEXT(p->notes[0] ? p->notes : "(no description)");
	OUT("</span><br><span class=\"shipped\">");
	if (p->path[0] && stat(p->path, &st) == 0)
		OUT("compiled plan, %lld bytes", (long long)st.st_size);
	else
		OUT("compiled plan not kept on this node");
	if (!rc)
		rc = plan_source_note(r, db, p);
	OUT("</span>");
	return rc;
}

static enum fedc_err plan_row(struct reply *r, const struct session *s, struct node_db *db, const struct node_plan *p,
			      bool pending)
{
	enum fedc_err rc = FEDC_OK;

	OUT("<tr><td>");
	TEXT(p->name[0] ? p->name : "(unnamed)");
	OUT("</td><td class=\"digest\">");
	TEXT(p->digest);
	OUT("</td><td>");
	TEXT(p->requested_by);
	OUT("</td><td>");
	TIME(p->requested_at);
	OUT("</td><td>");
	if (pending) {
		if (!rc)
			rc = plan_shipped(r, db, p);
		OUT("</td><td>");
		if (!rc)
			rc = plan_decision_form(r, s, p);
	} else {
		TEXT(db__plan_status_name(p->status));
		OUT(" ");
		TIME(p->decided_at);
		OUT("</td><td>");
		TEXT(p->notes);
	}
	OUT("</td></tr>\n");
	return rc;
}

static enum fedc_err plan_table(struct reply *r, const struct session *s, struct node_db *db,
				const struct node_plan *all, size_t n, bool pending)
{
	enum fedc_err rc = FEDC_OK;
	size_t shown = 0;

	OUT("<table id=\"%s\"><tr><th>Name</th><th>Digest</th><th>Asked by</th><th>Asked at</th>%s</tr>\n",
	    pending ? "pending" : "decided",
	    pending ? "<th>Researcher's description; what was shipped</th><th>Decision</th>" : "<th>Status</th><th>Note</th>");
	for (size_t i = 0; i < n && !rc; i++) {
		if ((all[i].status == NODE_PLAN_PENDING) != pending)
			continue;
		rc = plan_row(r, s, db, &all[i], pending);
		shown++;
	}
	OUT("</table>\n");
	if (!shown)
		OUT("<p class=\"empty\">None.</p>\n");
	return rc;
}

struct rows_ctx {
	struct reply *r;
	size_t n;
};

static enum fedc_err decision_row(void *ctx, const char *const *col, int n)
{
	struct rows_ctx *x = ctx;
	struct reply *r = x->r;
	enum fedc_err rc = FEDC_OK;

	(void)n;
	OUT("<tr><td>");
	TIME(strtoll(col[0], NULL, 10));
	for (int i = 1; i < 5; i++) {
		OUT("</td><td%s>", i == 1 ? " class=\"digest\"" : "");
		TEXT(col[i]);
	}
	OUT("</td></tr>\n");
	x->n++;
	return rc;
}

enum fedc_err pages__plans(struct request *q, struct reply *r, const char *message)
{
	struct node_plan *all = NULL;
	struct rows_ctx x = { r, 0 };
	size_t n = 0;
	enum fedc_err rc = db__plan_list(q->c->db, &all, &n);

	if (!rc)
		rc = head(r, "Plans", q->session);
	if (!rc)
		rc = message_box(r, message);
	OUT("<h2>Waiting for a decision</h2>\n"
	    "<p>Training plans researchers asked this node to run. A request carries the plan's name, its digest and the"
	    " researcher's description; the node fetched the compiled plan from the repository, and the plan's source"
	    " when the researcher shipped it. Read the source before approving; but the node cannot prove that the"
	    " compiled plan was built from that source: approve a plan whose researcher you trust to have"
	    " built it so, or rebuild it from the source yourself and compare digests.</p>\n");
	if (!rc)
		rc = plan_table(r, q->session, q->c->db, all, n, true);
	OUT("<h2>Decided</h2>\n");
	if (!rc)
		rc = plan_table(r, q->session, q->c->db, all, n, false);
	OUT("<h2>Decision history (this console)</h2>\n<table id=\"history\"><tr><th>When</th><th>Digest</th>"
	    "<th>Decision</th><th>Note</th><th>By</th></tr>\n");
	if (!rc)
		rc = store__each(q->c->store, STORE_DECISIONS, decision_row, &x);
	OUT("</table>\n");
	free(all);
	return rc ? rc : tail(r);
}

static enum fedc_err source_page(struct reply *r, const struct node_plan *p, const struct node_plan_source *src,
				 const struct fedc_source_bundle *files)
{
	enum fedc_err rc = FEDC_OK;

	OUT("<p>Plan <b>");
	TEXT(p->name[0] ? p->name : "(unnamed)");
	OUT("</b>, digest <span class=\"digest\">");
	TEXT(p->digest);
	OUT("</span>, asked by ");
	TEXT(p->requested_by);
	OUT(" at ");
	TIME(p->requested_at);
	OUT(". Source bundle <span class=\"digest\">");
	TEXT(src->source_digest);
	OUT("</span>, %zu file%s.</p>\n<p class=\"warning\">The node cannot prove that the compiled plan was built"
	    " from this source. Approve it only if you trust the researcher to have built it so, or rebuild it"
	    " yourself and compare digests.</p>\n<p><a href=\"/plans\">Back to the plans</a></p>\n",
	    files->n, files->n == 1 ? "" : "s");
	for (size_t i = 0; i < files->n && !rc; i++)
		rc = source_file(r, &files->files[i]);
	return rc;
}

/* GET /plans/source?id=DIGEST: every file shipped with the plan, escaped. A
 * bundle whose page would pass PAGE_MAX (1 MiB of text escapes to at most
 * 6) is left to `fedc-node plan source`. */
enum fedc_err pages__plan_source(struct request *q, struct reply *r)
{
	static _Thread_local struct fedc_source_bundle files; /* 9 KiB: off the handler's stack */
	struct node_plan_source src = { .has_bundle = false };
	struct node_plan *p = calloc(1, sizeof(*p));
	enum fedc_err rc = p ? FEDC_OK : FEDC_ERR_NOMEM;
	const char *id = q->query_id ? q->query_id : "";

	if (!rc && (db__plan_get(q->c->db, id, p) != FEDC_OK || db__plan_source_get(q->c->db, id, &src) != FEDC_OK)) {
		free(p);
		return pages__error(r, 404, "No source was shipped with that plan.");
	}
	if (!rc && !src.has_bundle)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "refused when it came: %s", src.refused);
	else if (!rc)
		rc = fedc_source_decode(src.bundle.data, src.bundle.len, &files);
	if (!rc)
		rc = head(r, "Plan source", q->session);
	if (!rc)
		rc = source_page(r, p, &src, &files);
	if (rc == FEDC_ERR_TOO_BIG || rc == FEDC_ERR_MALFORMED) {
		char why[FEDC_MAX_TEXT_LEN + 200];

		snprintf(why, sizeof(why), "%s: read it with\n  fedc-node plan source %s",
			 rc == FEDC_ERR_TOO_BIG ? "This source is too large for one page" : fedc_last_error(), p->digest);
		rc = pages__error(r, rc == FEDC_ERR_TOO_BIG ? 200 : 422, why);
	} else if (!rc) {
		rc = tail(r);
	}
	fedc_buf_free(&src.bundle);
	free(p);
	return rc;
}

/* ---- datasets ---- */

static enum fedc_err dataset_row(struct reply *r, const struct session *s, const struct node_dataset *d)
{
	enum fedc_err rc = FEDC_OK;

	OUT("<tr><td><a href=\"/datasets/show?id=");
	TEXT(d->id);
	OUT("\">");
	TEXT(d->name);
	OUT("</a></td><td>");
	TEXT(d->type);
	OUT("</td><td>%" PRIu64 "</td><td>", d->n_samples);
	TEXT(d->shape);
	OUT("</td><td>%u</td><td>", d->n_classes);
	for (uint32_t t = 0; t < d->n_tags && !rc; t++) {
		OUT("%s", t ? ", " : "");
		TEXT(d->tags[t]);
	}
	OUT("</td><td>");
	TIME(d->added_at);
	OUT("</td><td><form method=\"post\" action=\"/datasets/remove\" class=\"remove\">");
	if (!rc)
		rc = csrf_field(r, s);
	OUT("<input type=\"hidden\" name=\"id\" value=\"");
	TEXT(d->id);
	OUT("\"><button type=\"submit\" data-confirm=\"Remove this dataset from the node?\">Remove</button>"
	    "</form></td></tr>\n");
	return rc;
}

/* Upload: multipart, the CSRF token first (upload.h checks it before a
 * byte of the file is written). */
static enum fedc_err dataset_upload_form(struct reply *r, const struct session *s)
{
	enum fedc_err rc = FEDC_OK;

	OUT("<h2>Upload a CSV file</h2>\n<p>The file is kept in the node's state directory (<code>data_dir/uploads</code>)"
	    " and registered as <code>fedc-node dataset add --type csv</code> would; at most %llu MiB (a larger"
	    " one: copy it to this machine and add it by path). Removing the dataset removes the file.</p>\n"
	    "<form method=\"post\" action=\"/datasets/upload\" enctype=\"multipart/form-data\" class=\"add\">",
	    (unsigned long long)(UPLOAD_MAX_BYTES >> 20));
	if (!rc)
		rc = csrf_field(r, s);
	OUT("<label>Name <input name=\"name\" id=\"up-name\" required maxlength=\"%d\"></label>"
	    "<label>Tags <input name=\"tags\" id=\"up-tags\" required placeholder=\"comma-separated\"></label>"
	    "<label>Label column <input name=\"label_column\" id=\"up-label-column\" placeholder=\"last\"></label>"
	    "<label>Description <input name=\"description\" id=\"up-description\" size=\"40\"></label>"
	    "<label>CSV file <input type=\"file\" name=\"file\" id=\"up-file\" accept=\".csv,text/csv\" required></label>"
	    "<button type=\"submit\" id=\"up-add\">Upload and add</button></form>\n",
	    FEDC_MAX_NAME_LEN);
	return rc;
}

static enum fedc_err dataset_add_form(struct reply *r, const struct session *s)
{
	enum fedc_err rc = FEDC_OK;

	OUT("<h2>Add a file or folder by path</h2>\n<p>A file or folder already on this machine, readable by the node"
	    " (a folder of images or of subjects' volumes, an IDX pair, a CSV file), registered with"
	    " <code>fedc-node dataset add</code>.</p>\n<form method=\"post\" action=\"/datasets/add\" class=\"add\">");
	if (!rc)
		rc = csrf_field(r, s);
	OUT("<label>Name <input name=\"name\" id=\"ds-name\" required maxlength=\"%d\"></label>"
	    "<label>Tags <input name=\"tags\" id=\"ds-tags\" required placeholder=\"comma-separated\"></label>"
	    "<label>Kind <select name=\"type\" id=\"ds-type\"><option>csv</option><option>idx</option>"
	    "<option>images</option><option>nifti</option></select></label>"
	    "<label>Path on this machine <input name=\"path\" id=\"ds-path\" required size=\"50\"></label>"
	    "<label>Labels (idx), manifest (images) or demographics (nifti) file"
	    " <input name=\"labels\" id=\"ds-labels\" size=\"40\"></label>"
	    "<label>Label column (csv: its number; nifti: its name) <input name=\"label_column\" id=\"ds-label-column\"></label>"
	    "<label>Modality (nifti: the volume file's name) <input name=\"modality\" id=\"ds-modality\"></label>"
	    "<label>Description <input name=\"description\" id=\"ds-description\" size=\"40\"></label>"
	    "<button type=\"submit\" id=\"ds-add\">Add</button></form>\n",
	    FEDC_MAX_NAME_LEN);
	return rc;
}

enum fedc_err pages__datasets(struct request *q, struct reply *r, const char *message)
{
	struct node_dataset *all = NULL;
	size_t n = 0;
	enum fedc_err rc = db__dataset_list(q->c->db, &all, &n);

	if (!rc)
		rc = head(r, "Datasets", q->session);
	if (!rc)
		rc = message_box(r, message);
	OUT("<input id=\"filter\" placeholder=\"filter\" data-table=\"datasets\">"
	    "<table id=\"datasets\"><tr><th>Name</th><th>Kind</th><th>Rows</th><th>Sample</th><th>Classes</th>"
	    "<th>Tags</th><th>Added</th><th></th></tr>\n");
	for (size_t i = 0; i < n && !rc; i++)
		rc = dataset_row(r, q->session, &all[i]);
	OUT("</table>\n");
	if (!n)
		OUT("<p class=\"empty\">No dataset registered.</p>\n");
	if (!rc)
		rc = dataset_upload_form(r, q->session);
	if (!rc)
		rc = dataset_add_form(r, q->session);
	free(all);
	return rc ? rc : tail(r);
}

static enum fedc_err field(struct reply *r, const char *name, const char *value)
{
	enum fedc_err rc = FEDC_OK;

	OUT("<tr><th>%s</th><td>", name);
	TEXT(value);
	OUT("</td></tr>\n");
	return rc;
}

/* One row of a CSV file's first rows (preview__rows). */
static enum fedc_err preview_row(void *ctx, uint32_t total, uint32_t n, const char *const *cells)
{
	struct reply *r = ctx;
	enum fedc_err rc = FEDC_OK;

	OUT("<tr>");
	for (uint32_t i = 0; i < n; i++) {
		OUT("<td>");
		TEXT(cells[i]);
		OUT("</td>");
	}
	if (total > n)
		OUT("<td class=\"more\">%" PRIu32 " more</td>", total - n);
	OUT("</tr>\n");
	return rc;
}

static enum fedc_err preview_failed(struct reply *r, const char *what)
{
	enum fedc_err rc = FEDC_OK;

	OUT("<p class=\"message\" id=\"preview-error\">%s: ", what);
	TEXT(fedc_last_error());
	OUT("</p>\n");
	return rc;
}

/* The first rows of a table, or a few pictures: what the steward can
 * check against what the dataset should hold (preview.h). */
static enum fedc_err preview_section(struct reply *r, const struct node_dataset *d)
{
	char names[PREVIEW_IMAGES][NODE_PATH_MAX];
	size_t n = 0;
	enum fedc_err rc = FEDC_OK, prc;

	if (strcmp(d->type, "csv") == 0) {
		size_t mark;

		OUT("<h2>First rows of the file</h2>\n<div class=\"scroll\"><table id=\"preview\">\n");
		mark = r->body.len;
		prc = rc ? rc : preview__rows(d, preview_row, r);
		OUT("</table></div>\n");
		if (!rc && prc == FEDC_ERR_NOMEM)
			rc = prc;
		else if (!rc && prc && r->body.len > mark)
			rc = preview_failed(r, "The file cannot be read past these rows");
		else if (!rc && prc)
			rc = preview_failed(r, "The file cannot be read");
		return rc;
	}
	if (strcmp(d->type, "images") != 0 && strcmp(d->type, "nifti") != 0)
		return fedc_buf_printf(&r->body, "<p class=\"empty\">No preview for this kind.</p>\n");
	OUT("<h2>%s</h2>\n", strcmp(d->type, "nifti") == 0 ? "Middle slice of the first subjects' volumes"
							      : "The first images, as decoded");
	prc = rc ? rc : preview__sources(d, names, &n);
	if (!rc && prc)
		return prc == FEDC_ERR_NOMEM ? prc : preview_failed(r, "The folder cannot be listed");
	OUT("<div class=\"pictures\" id=\"pictures\">");
	for (size_t i = 0; i < n && !rc; i++) {
		OUT("<figure><img src=\"/datasets/picture?id=");
		TEXT(d->id);
		OUT("&amp;n=%zu\" alt=\"", i);
		TEXT(names[i]);
		OUT("\"><figcaption>");
		TEXT(names[i]);
		OUT("</figcaption></figure>");
	}
	OUT("</div>\n");
	return rc;
}

enum fedc_err pages__dataset_picture(struct request *q, struct reply *r)
{
	struct node_dataset *d = calloc(1, sizeof(*d));
	char *end = NULL;
	unsigned long n = q->query_n ? strtoul(q->query_n, &end, 10) : 0;
	enum fedc_err rc;

	if (!d)
		return FEDC_ERR_NOMEM;
	if (!q->query_id || !q->query_n || end == q->query_n || *end || n >= PREVIEW_IMAGES ||
	    db__dataset_get(q->c->db, q->query_id, d) != FEDC_OK) {
		free(d);
		return pages__error(r, 404, "No such picture.");
	}
	rc = preview__png(d, n, &r->body);
	if (rc == FEDC_ERR_NOMEM) {
		free(d);
		return rc;
	}
	if (rc) {
		fedc_warn("dataset %s, picture %lu: %s", d->name, n, fedc_last_error());
		rc = pages__error(r, 404, fedc_last_error());
	} else {
		r->content_type = "image/png";
	}
	free(d);
	return rc;
}

enum fedc_err pages__dataset_show(struct request *q, struct reply *r)
{
	struct node_dataset *d = calloc(1, sizeof(*d));
	char num[64];
	enum fedc_err rc = d ? FEDC_OK : FEDC_ERR_NOMEM;

	if (!rc && (!q->query_id || db__dataset_get(q->c->db, q->query_id, d) != FEDC_OK)) {
		free(d);
		return pages__error(r, 404, "No such dataset.");
	}
	if (!rc)
		rc = head(r, "Dataset", q->session);
	OUT("<table id=\"dataset\">\n");
	if (!rc) {
		rc = field(r, "Name", d->name);
		if (!rc) rc = field(r, "Id", d->id);
		if (!rc) rc = field(r, "Kind", d->type);
		if (!rc) rc = field(r, "Path", d->path);
		if (!rc && d->labels_path[0]) rc = field(r, "Labels", d->labels_path);
		if (!rc) rc = field(r, "Digest (SHA-256 at registration)", d->digest);
		snprintf(num, sizeof(num), "%" PRIu64 " rows, %" PRIu64 " features, %u classes", d->n_samples,
			 d->n_features, d->n_classes);
		if (!rc) rc = field(r, "Size", num);
		if (!rc) rc = field(r, "Sample shape", d->shape);
		if (!rc) rc = field(r, "Rows per class", d->label_counts);
		if (!rc) rc = field(r, "Description", d->description);
		if (!rc) rc = field(r, "Options", d->options);
	}
	OUT("</table>\n<h2>Schema</h2>\n<pre id=\"schema\">");
	TEXT(d->schema[0] ? d->schema : "(no table schema for this kind)");
	OUT("</pre>\n");
	if (!rc)
		rc = preview_section(r, d);
	OUT("<p><a href=\"/datasets\">All datasets</a></p>\n");
	free(d);
	return rc ? rc : tail(r);
}

/* ---- jobs and audit ---- */

struct jobs_ctx {
	struct request *q;
	struct reply *r;
	size_t n;
};

static enum fedc_err job_row(void *ctx, const char *const *col, int n)
{
	struct jobs_ctx *x = ctx;
	struct reply *r = x->r;
	double *noises = NULL, eps = 0;
	size_t k = 0;
	enum fedc_err rc = db__dp_rounds(x->q->c->db, col[0], "", &noises, &k);

	(void)n;
	if (!rc && k && privacy__epsilon(noises, k, x->q->c->cli.cfg.max_delta, &eps) != FEDC_OK)
		eps = -1;
	free(noises);
	for (int i = 0; i < 4; i++) {
		OUT(i == 0 ? "<tr><td>" : i == 3 ? "</td><td class=\"digest\">" : "</td><td>");
		TEXT(col[i]);
	}
	OUT("</td><td>%s of %s</td><td>", col[5], col[4]);
	TIME(strtoll(col[6], NULL, 10));
	OUT("</td><td>");
	TIME(strtoll(col[7], NULL, 10));
	OUT("</td><td>");
	TEXT(col[8]);
	OUT("</td><td>");
	TEXT(col[9]);
	if (!k)
		OUT("</td><td>no DP round</td></tr>\n");
	else if (eps >= 0)
		OUT("</td><td>%.4g over %zu DP rounds (delta %.3g)</td></tr>\n", eps, k, x->q->c->cli.cfg.max_delta);
	else
		OUT("</td><td>unknown</td></tr>\n");
	x->n++;
	return rc;
}

static enum fedc_err budget_row(void *ctx, const char *const *col, int n)
{
	struct jobs_ctx *x = ctx;
	struct reply *r = x->r;
	enum fedc_err rc = FEDC_OK;

	(void)n;
	for (int i = 0; i < 3; i++) {
		OUT(i ? "</td><td>" : "<tr><td>");
		TEXT(col[i]);
	}
	OUT("</td><td>");
	TIME(strtoll(col[3], NULL, 10));
	OUT("</td></tr>\n");
	return rc;
}

enum fedc_err pages__jobs(struct request *q, struct reply *r)
{
	struct jobs_ctx x = { q, r, 0 };
	enum fedc_err rc = head(r, "Jobs", q->session);

	OUT("<p>The rounds this node ran for researchers, per job (table <code>job_rounds</code>, written by the"
	    " daemon at the end of every train request): who asked, on which dataset, with which plan, how many"
	    " rounds succeeded, the last result, and the privacy cost: the epsilon its rounds under node-level"
	    " differential privacy add up to (RDP accountant, as the daemon's <code>max_epsilon</code> check counts"
	    " it). Below, what analytics queries spent per dataset.</p>\n"
	    "<input id=\"filter\" placeholder=\"filter\" data-table=\"jobs\">"
	    "<table id=\"jobs\"><tr><th>Job</th><th>Researcher</th><th>Dataset</th><th>Plan</th><th>Rounds ok</th>"
	    "<th>First</th><th>Last</th><th>Last result</th><th>Samples</th><th>Privacy cost (epsilon)</th></tr>\n");
	if (!rc)
		rc = store__each(q->c->store, STORE_JOBS, job_row, &x);
	OUT("</table>\n<h2>Analytics budget</h2>\n<table id=\"analytics\"><tr><th>Dataset</th><th>Epsilon spent</th>"
	    "<th>Queries</th><th>Last</th></tr>\n");
	if (!rc)
		rc = store__each(q->c->store, STORE_ANALYTICS, budget_row, &x);
	OUT("</table>\n");
	return rc ? rc : tail(r);
}

static enum fedc_err audit_row(void *ctx, const char *const *col, int n)
{
	struct rows_ctx *x = ctx;
	struct reply *r = x->r;
	enum fedc_err rc = FEDC_OK;

	(void)n;
	OUT("<tr><td>");
	TIME(strtoll(col[0], NULL, 10));
	for (int i = 1; i < 6; i++) {
		OUT("</td><td>");
		TEXT(col[i]);
	}
	OUT("</td></tr>\n");
	x->n++;
	return rc;
}

enum fedc_err pages__audit(struct request *q, struct reply *r)
{
	struct rows_ctx x = { r, 0 };
	enum fedc_err rc = head(r, "Audit log", q->session);

	OUT("<p>Every login, refused login, refused request and change made in this console, newest first"
	    " (the last 500; all are kept in the table <code>console_audit</code>).</p>\n"
	    "<input id=\"filter\" placeholder=\"filter\" data-table=\"audit\">"
	    "<table id=\"audit\"><tr><th>When</th><th>User</th><th>From</th><th>Action</th><th>On</th>"
	    "<th>Detail</th></tr>\n");
	if (!rc)
		rc = store__each(q->c->store, STORE_AUDIT, audit_row, &x);
	OUT("</table>\n");
	return rc ? rc : tail(r);
}
