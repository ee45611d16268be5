/* fedc-repository's metrics (metrics.h, docs/monitoring.md). */
#include "metrics.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "fedc/fs.h"

static const char *const method_names[REPO_N_METHODS] = { "GET", "HEAD", "PUT", "other" };
static const char *const class_names[REPO_N_CLASSES] = { "1xx", "2xx", "3xx", "4xx", "5xx", "none" };
static const char *const refusal_names[REPO_N_REFUSALS] = { "auth", "forbidden", "quota", "too_big", "guard" };

/* By the error name of the answer (server.c's reply_error): 507 is also a
 * store that could not write, which is a failure, not a refusal. */
static int refusal_of(const char *error)
{
	static const char *const errors[] = { "unauthorized", "forbidden", "quota-exceeded", "too-big" };
	static const int reasons[] = { REPO_REFUSED_AUTH, REPO_REFUSED_FORBIDDEN, REPO_REFUSED_QUOTA,
				       REPO_REFUSED_TOO_BIG };

	for (size_t i = 0; error && i < sizeof(errors) / sizeof(errors[0]); i++) {
		if (strcmp(error, errors[i]) == 0)
			return reasons[i];
	}
	return -1;
}

void repo_metrics__request(struct repo_metrics *m, enum repo_method method, unsigned status, const char *error,
			   uint64_t bytes_in, uint64_t bytes_out)
{
	size_t cls = status >= 100 && status < 600 ? status / 100 - 1 : REPO_N_CLASSES - 1;
	int refusal = refusal_of(error);

	fedc_prom_add(&m->requests[method][cls], 1);
	fedc_prom_add(&m->bytes_in, bytes_in);
	fedc_prom_add(&m->bytes_out, bytes_out);
	if (refusal >= 0)
		fedc_prom_add(&m->refused[refusal], 1);
}

static enum fedc_err render_requests(struct repo_metrics *m, struct fedc_buf *out)
{
	static const char name[] = "fedc_repository_requests_total";
	enum fedc_err rc = fedc_prom_family(out, name, FEDC_PROM_COUNTER,
					    "HTTP requests finished, by method and status class (none: no answer sent).");

	for (size_t i = 0; !rc && i < REPO_N_METHODS; i++) {
		for (size_t j = 0; !rc && j < REPO_N_CLASSES; j++) {
			const struct fedc_prom_label labels[] = { { "method", method_names[i] },
								  { "code", class_names[j] } };

			rc = fedc_prom_sample(out, name, labels, 2, (double)fedc_prom_get(&m->requests[i][j]));
		}
	}
	return rc;
}

static enum fedc_err render_refusals(struct repo_metrics *m, uint64_t guard_closed, struct fedc_buf *out)
{
	static const char name[] = "fedc_repository_refused_total";
	enum fedc_err rc = fedc_prom_family(out, name, FEDC_PROM_COUNTER,
					    "Requests or connections turned away, by reason.");

	for (size_t i = 0; !rc && i < REPO_N_REFUSALS; i++) {
		const struct fedc_prom_label label = { "reason", refusal_names[i] };

		uint64_t n = i == REPO_REFUSED_GUARD ? guard_closed : fedc_prom_get(&m->refused[i]);

		rc = fedc_prom_sample(out, name, &label, 1, (double)n);
	}
	return rc;
}

static enum fedc_err render_store(const char *store_root, struct fedc_buf *out)
{
	char blobs[PATH_MAX];
	uint64_t bytes = 0, files = 0, blob_bytes = 0, n_blobs = 0;
	enum fedc_err rc;

	snprintf(blobs, sizeof(blobs), "%s/sha256", store_root);
	rc = fedc_disk_usage(store_root, &bytes, &files);
	if (!rc)
		rc = fedc_disk_usage(blobs, &blob_bytes, &n_blobs);
	if (!rc)
		rc = fedc_prom_single(out, "fedc_repository_store_disk_bytes", FEDC_PROM_GAUGE,
				      "Disk space the store directory takes (blobs, index, temporary files).",
				      (double)bytes);
	if (!rc)
		rc = fedc_prom_single(out, "fedc_repository_blobs", FEDC_PROM_GAUGE, "Blobs in the store.",
				      (double)n_blobs);
	return rc;
}

enum fedc_err repo_metrics__render(struct repo_metrics *m, uint64_t guard_closed, size_t downloads_waiting,
				   const char *store_root, struct fedc_buf *out)
{
	enum fedc_err rc = render_requests(m, out);

	if (!rc)
		rc = fedc_prom_single(out, "fedc_repository_received_bytes_total", FEDC_PROM_COUNTER,
				      "Request body bytes received.", (double)fedc_prom_get(&m->bytes_in));
	if (!rc)
		rc = fedc_prom_single(out, "fedc_repository_sent_bytes_total", FEDC_PROM_COUNTER,
				      "Blob bytes of the answers to GET (counted when an answer is queued).", (double)fedc_prom_get(&m->bytes_out));
	if (!rc)
		rc = fedc_prom_single(out, "fedc_repository_connections_total", FEDC_PROM_COUNTER,
				      "Connections accepted.", (double)fedc_prom_get(&m->connections));
	if (!rc)
		rc = fedc_prom_single(out, "fedc_repository_open_connections", FEDC_PROM_GAUGE,
				      "Connections open now.", (double)fedc_prom_gauge_get(&m->open_connections));
	if (!rc)
		rc = fedc_prom_single(out, "fedc_repository_downloads_waiting", FEDC_PROM_GAUGE,
				      "Downloads waiting their turn now (downloads_at_once).", (double)downloads_waiting);
	if (!rc)
		rc = render_refusals(m, guard_closed, out);
	if (!rc)
		rc = render_store(store_root, out);
	return rc;
}
