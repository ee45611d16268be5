/* fedc-node-console's metrics (console_metrics.h, docs/monitoring.md). */
#include "console_metrics.h"

#include <stdlib.h>
#include <string.h>

#include "fedc/log.h"
#include "fedc/prom.h"
#include "fedc/prom_http.h"
#include "node_config.h"

/* Page labels: a fixed list, so that a scanner probing paths cannot grow
 * the exposition. */
enum page {
	PAGE_PLANS, PAGE_PLAN_SOURCE, PAGE_PLAN_DECIDE, PAGE_DATASETS, PAGE_DATASET_SHOW, PAGE_DATASET_PICTURE,
	PAGE_DATASET_ADD, PAGE_DATASET_REMOVE, PAGE_DATASET_UPLOAD, PAGE_JOBS, PAGE_AUDIT, PAGE_LOGIN, PAGE_LOGOUT,
	PAGE_ASSET, PAGE_OTHER, N_PAGES
};
static const char *const page_labels[N_PAGES] = {
	"plans",	  "plan_source", "plan_decide", "datasets", "dataset_show", "dataset_picture", "dataset_add",
	"dataset_remove", "dataset_upload", "jobs",	"audit",	"login",	"logout",	   "asset",
	"other",
};

/* Every URL the console answers (server.c's routes), and its page. */
static const struct {
	const char *url;
	enum page page;
} routes[] = {
	{ "/", PAGE_PLANS },
	{ "/plans", PAGE_PLANS },
	{ "/plans/source", PAGE_PLAN_SOURCE },
	{ "/plans/decide", PAGE_PLAN_DECIDE },
	{ "/datasets", PAGE_DATASETS },
	{ "/datasets/show", PAGE_DATASET_SHOW },
	{ "/datasets/picture", PAGE_DATASET_PICTURE },
	{ "/datasets/add", PAGE_DATASET_ADD },
	{ "/datasets/remove", PAGE_DATASET_REMOVE },
	{ "/datasets/upload", PAGE_DATASET_UPLOAD },
	{ "/jobs", PAGE_JOBS },
	{ "/audit", PAGE_AUDIT },
	{ "/login", PAGE_LOGIN },
	{ "/logout", PAGE_LOGOUT },
};

enum { N_CLASSES = 5 };

enum login_result { LOGIN_OK, LOGIN_REFUSED, LOGIN_THROTTLED, N_LOGIN };
static const char *const login_labels[N_LOGIN] = { "ok", "refused", "throttled" };

static struct {
	struct fedc_prom_counter requests[N_PAGES][N_CLASSES];
	struct fedc_prom_counter logins[N_LOGIN];
	struct fedc_prom_counter csrf_refused;
	struct fedc_prom_gauge sessions;
	struct fedc_prom_counter uploads, upload_bytes, uploads_refused;
	struct fedc_prom_counter datasets_added, datasets_removed;
	struct fedc_prom_counter plans_approved, plans_rejected;
	struct fedc_prom_counter audit_records;
} counters;

struct console_metrics_server {
	struct fedc_prom_http *http;
};

void console_metrics__request(const char *url, bool asset, unsigned status)
{
	enum page page = asset ? PAGE_ASSET : PAGE_OTHER;
	unsigned cls = status / 100;

	for (size_t i = 0; !asset && i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(url, routes[i].url) == 0)
			page = routes[i].page;
	if (cls < 1 || cls > N_CLASSES)
		cls = N_CLASSES; /* not an HTTP status: counted with the server errors */
	fedc_prom_add(&counters.requests[page][cls - 1], 1);
}

void console_metrics__audit(const char *action)
{
	static const struct {
		const char *action;
		struct fedc_prom_counter *counter;
	} counted[] = {
		{ "login", &counters.logins[LOGIN_OK] },
		{ "login-failed", &counters.logins[LOGIN_REFUSED] },
		{ "login-throttled", &counters.logins[LOGIN_THROTTLED] },
		{ "csrf-refused", &counters.csrf_refused },
		{ "dataset-add", &counters.datasets_added },
		{ "dataset-upload", &counters.datasets_added },
		{ "dataset-remove", &counters.datasets_removed },
		{ "plan-approve", &counters.plans_approved },
		{ "plan-reject", &counters.plans_rejected },
	};

	fedc_prom_add(&counters.audit_records, 1);
	for (size_t i = 0; i < sizeof(counted) / sizeof(counted[0]); i++)
		if (strcmp(action, counted[i].action) == 0)
			fedc_prom_add(counted[i].counter, 1);
}

void console_metrics__upload_done(uint64_t bytes)
{
	fedc_prom_add(&counters.uploads, 1);
	fedc_prom_add(&counters.upload_bytes, bytes);
}

void console_metrics__upload_refused(void)
{
	fedc_prom_add(&counters.uploads_refused, 1);
}

void console_metrics__sessions(int64_t n)
{
	fedc_prom_gauge_set(&counters.sessions, n);
}

static enum fedc_err render_requests(struct fedc_buf *out)
{
	static const char name[] = "fedc_console_requests_total";
	static const char *const classes[N_CLASSES] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
	enum fedc_err rc = fedc_prom_family(out, name, FEDC_PROM_COUNTER,
					    "Requests answered, by page and the class of their status.");

	for (size_t p = 0; !rc && p < N_PAGES; p++) {
		for (size_t c = 0; !rc && c < N_CLASSES; c++) {
			const struct fedc_prom_label labels[] = { { "page", page_labels[p] }, { "code", classes[c] } };

			rc = fedc_prom_sample(out, name, labels, 2, (double)fedc_prom_get(&counters.requests[p][c]));
		}
	}
	return rc;
}

static enum fedc_err render_logins(struct fedc_buf *out)
{
	static const char name[] = "fedc_console_logins_total";
	enum fedc_err rc = fedc_prom_family(out, name, FEDC_PROM_COUNTER,
					    "Login attempts, by result (ok; refused: wrong user or password; "
					    "throttled: too many failures from the address).");

	for (int i = 0; !rc && i < N_LOGIN; i++) {
		const struct fedc_prom_label label = { "result", login_labels[i] };

		rc = fedc_prom_sample(out, name, &label, 1, (double)fedc_prom_get(&counters.logins[i]));
	}
	if (!rc)
		rc = fedc_prom_single(out, "fedc_console_csrf_refused_total", FEDC_PROM_COUNTER,
				      "POSTs refused for a missing or stale CSRF token.",
				      (double)fedc_prom_get(&counters.csrf_refused));
	if (!rc)
		rc = fedc_prom_single(out, "fedc_console_sessions", FEDC_PROM_GAUGE,
				      "Logged-in sessions alive, as of the last request.",
				      (double)fedc_prom_gauge_get(&counters.sessions));
	return rc;
}

static enum fedc_err render_actions(struct fedc_buf *out)
{
	static const char decisions[] = "fedc_console_plan_decisions_total";
	enum fedc_err rc;

	rc = fedc_prom_single(out, "fedc_console_uploads_total", FEDC_PROM_COUNTER,
			      "Uploaded files registered as datasets.", (double)fedc_prom_get(&counters.uploads));
	if (!rc)
		rc = fedc_prom_single(out, "fedc_console_upload_bytes_total", FEDC_PROM_COUNTER,
				      "Bytes of the uploaded files registered as datasets.",
				      (double)fedc_prom_get(&counters.upload_bytes));
	if (!rc)
		rc = fedc_prom_single(out, "fedc_console_uploads_refused_total", FEDC_PROM_COUNTER,
				      "Uploads turned away (not logged in, not multipart, malformed, CSRF, "
				      "refused by dataset add).",
				      (double)fedc_prom_get(&counters.uploads_refused));
	if (!rc)
		rc = fedc_prom_single(out, "fedc_console_datasets_added_total", FEDC_PROM_COUNTER,
				      "Datasets registered through the console (uploads included).",
				      (double)fedc_prom_get(&counters.datasets_added));
	if (!rc)
		rc = fedc_prom_single(out, "fedc_console_datasets_removed_total", FEDC_PROM_COUNTER,
				      "Datasets removed through the console.",
				      (double)fedc_prom_get(&counters.datasets_removed));
	if (!rc)
		rc = fedc_prom_family(out, decisions, FEDC_PROM_COUNTER, "Plan decisions made, by decision.");
	if (!rc)
		rc = fedc_prom_sample(out, decisions, &(struct fedc_prom_label){ "decision", "approve" }, 1,
				      (double)fedc_prom_get(&counters.plans_approved));
	if (!rc)
		rc = fedc_prom_sample(out, decisions, &(struct fedc_prom_label){ "decision", "reject" }, 1,
				      (double)fedc_prom_get(&counters.plans_rejected));
	if (!rc)
		rc = fedc_prom_single(out, "fedc_console_audit_records_total", FEDC_PROM_COUNTER,
				      "Records written to the console's audit log by the server.",
				      (double)fedc_prom_get(&counters.audit_records));
	return rc;
}

/* The listener's render (fedc/prom_http.h), on its one thread. */
static enum fedc_err render(void *ctx, struct fedc_buf *out)
{
	enum fedc_err rc = render_requests(out);

	(void)ctx;
	if (!rc)
		rc = render_logins(out);
	if (!rc)
		rc = render_actions(out);
	return rc;
}

enum fedc_err console_metrics__start(const struct node_config *cfg, struct console_metrics_server **out)
{
	struct console_metrics_server *srv;
	enum fedc_err rc;

	*out = NULL;
	if (!cfg->console_metrics_listen || !cfg->console_metrics_listen[0])
		return FEDC_OK;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return FEDC_ERR_NOMEM;
	rc = fedc_prom_http_start("[console] metrics_listen", cfg->console_metrics_listen, render, srv, &srv->http);
	if (rc) {
		free(srv);
		return rc;
	}
	fedc_info("metrics: serving /metrics on %s (port %u)", cfg->console_metrics_listen,
		  (unsigned)fedc_prom_http_port(srv->http));
	*out = srv;
	return FEDC_OK;
}

void console_metrics__stop(struct console_metrics_server *srv)
{
	if (!srv)
		return;
	fedc_prom_http_stop(srv->http);
	free(srv);
}
