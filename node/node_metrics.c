/* The node daemon's metrics (node_metrics.h, docs/monitoring.md). */
#include "node_metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "fedc/fs.h"
#include "fedc/log.h"
#include "fedc/prom.h"
#include "fedc/prom_http.h"
#include "fedc/repo.h"
#include "lazy/lazy_require.h"

enum round_result { RESULT_DONE, RESULT_FAILED, RESULT_REFUSED, N_RESULTS };

static const char *const result_names[N_RESULTS] = { "done", "failed", "refused" };

struct node_metrics_server {
	const struct node_config *cfg;
	struct fedc_mqtt *mqtt;
	struct node_db *db; /* opened by the first scrape, used by the server's one thread only */
	struct fedc_prom_http *http;
};

static struct {
	struct fedc_prom_counter rounds[2][N_RESULTS]; /* [evaluate_only][result] */
	struct fedc_prom_counter round_errors[FEDC_ERR__COUNT];
	struct fedc_prom_counter plan_cpu_ms;
	struct fedc_prom_counter plan_rounds;
	struct fedc_prom_gauge plan_peak_bytes;      /* the most any plan process reached */
	struct fedc_prom_gauge plan_last_peak_bytes; /* that of the last round's process */
	struct fedc_prom_counter commands_refused[FEDC_ERR__COUNT];
	struct fedc_prom_gauge start_time_s;
} counters;

/* Whether anyone can read the plan processes' peaks: the /proc read behind
 * them costs more than the rest of a small round's bookkeeping, so it is
 * made only when [metrics] listen serves it. */
static atomic_bool peaks_served;

/* A round the node's policy turned down, as opposed to one that failed:
 * retrying cannot help, asking differently may. */
static bool is_refusal(enum fedc_err rc)
{
	return rc == FEDC_ERR_UNAPPROVED || rc == FEDC_ERR_PRIVACY || rc == FEDC_ERR_AUTH;
}

void node_metrics__round_end(enum fedc_err rc, bool evaluate_only)
{
	enum round_result r = rc == FEDC_OK ? RESULT_DONE : is_refusal(rc) ? RESULT_REFUSED : RESULT_FAILED;

	fedc_prom_add(&counters.rounds[evaluate_only ? 1 : 0][r], 1);
	if (rc > 0 && rc < FEDC_ERR__COUNT)
		fedc_prom_add(&counters.round_errors[rc], 1);
}

/* VmHWM of /proc/PID/status, in bytes; 0 when it cannot be read. */
static int64_t peak_resident_bytes(pid_t pid)
{
	char path[64], line[256];
	long long kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmHWM: %lld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb > 0 ? (int64_t)kb * 1024 : 0;
}

void node_metrics__plan_round(pid_t pid, int64_t cpu_ms)
{
	int64_t peak;

	fedc_prom_add(&counters.plan_rounds, 1);
	if (cpu_ms > 0)
		fedc_prom_add(&counters.plan_cpu_ms, (uint64_t)cpu_ms);
	if (!atomic_load_explicit(&peaks_served, memory_order_relaxed))
		return;
	peak = peak_resident_bytes(pid);
	fedc_prom_gauge_set(&counters.plan_last_peak_bytes, peak);
	fedc_prom_gauge_max(&counters.plan_peak_bytes, peak);
}

void node_metrics__command_refused(enum fedc_err code)
{
	if (code > 0 && code < FEDC_ERR__COUNT)
		fedc_prom_add(&counters.commands_refused[code], 1);
}

static enum fedc_err render_rounds(struct fedc_buf *out)
{
	static const char rounds[] = "fedc_node_rounds_total", errors[] = "fedc_node_round_errors_total";
	enum fedc_err rc = fedc_prom_family(out, rounds, FEDC_PROM_COUNTER,
					    "Rounds ended, by kind (train, evaluate) and result (done: replied; "
					    "refused: by the node's policy; failed: anything else).");

	for (int kind = 0; !rc && kind < 2; kind++) {
		for (int r = 0; !rc && r < N_RESULTS; r++) {
			const struct fedc_prom_label labels[] = { { "kind", kind ? "evaluate" : "train" },
								  { "result", result_names[r] } };

			rc = fedc_prom_sample(out, rounds, labels, 2, (double)fedc_prom_get(&counters.rounds[kind][r]));
		}
	}
	if (!rc)
		rc = fedc_prom_family(out, errors, FEDC_PROM_COUNTER,
				      "Rounds failed or refused, by error code (as in the error reply).");
	for (int code = 1; !rc && code < FEDC_ERR__COUNT; code++) {
		const struct fedc_prom_label label = { "code", fedc_strerror((enum fedc_err)code) };

		rc = fedc_prom_sample(out, errors, &label, 1, (double)fedc_prom_get(&counters.round_errors[code]));
	}
	return rc;
}

static enum fedc_err render_plan(struct fedc_buf *out)
{
	enum fedc_err rc;

	rc = fedc_prom_single(out, "fedc_node_plan_rounds_total", FEDC_PROM_COUNTER,
			      "Rounds a plan process finished (reported its results).",
			      (double)fedc_prom_get(&counters.plan_rounds));
	if (!rc)
		rc = fedc_prom_single(out, "fedc_node_plan_cpu_seconds_total", FEDC_PROM_COUNTER,
				      "CPU time of plan processes over the rounds they finished, all threads.",
				      (double)fedc_prom_get(&counters.plan_cpu_ms) / 1000.0);
	if (!rc)
		rc = fedc_prom_single(out, "fedc_node_plan_peak_memory_bytes", FEDC_PROM_GAUGE,
				      "Largest peak resident memory (VmHWM) of any plan process since start.",
				      (double)fedc_prom_gauge_get(&counters.plan_peak_bytes));
	if (!rc)
		rc = fedc_prom_single(out, "fedc_node_plan_last_peak_memory_bytes", FEDC_PROM_GAUGE,
				      "Peak resident memory of the plan process of the last finished round.",
				      (double)fedc_prom_gauge_get(&counters.plan_last_peak_bytes));
	return rc;
}

static enum fedc_err render_commands_and_traffic(struct fedc_buf *out)
{
	static const char refused[] = "fedc_node_commands_refused_total";
	uint64_t down = 0, up = 0;
	enum fedc_err rc;

	rc = fedc_prom_family(out, refused, FEDC_PROM_COUNTER,
			      "Commands refused before they ran, by error code: unauthorized (signature, untrusted key, "
			      "replay, stale), malformed, and any other that occurred.");
	for (int code = 1; !rc && code < FEDC_ERR__COUNT; code++) {
		const struct fedc_prom_label label = { "code", fedc_strerror((enum fedc_err)code) };
		uint64_t n = fedc_prom_get(&counters.commands_refused[code]);

		/* auth and malformed always, so that a dashboard finds them at 0 */
		if (n || code == FEDC_ERR_AUTH || code == FEDC_ERR_MALFORMED)
			rc = fedc_prom_sample(out, refused, &label, 1, (double)n);
	}
	fedc_repo_traffic(&down, &up);
	if (!rc)
		rc = fedc_prom_single(out, "fedc_node_downloaded_bytes_total", FEDC_PROM_COUNTER,
				      "Bytes downloaded from the repository (plans, global parameters).", (double)down);
	if (!rc)
		rc = fedc_prom_single(out, "fedc_node_uploaded_bytes_total", FEDC_PROM_COUNTER,
				      "Bytes uploaded to the repository (updates).", (double)up);
	return rc;
}

static enum fedc_err render_broker(const struct node_metrics_server *src, struct fedc_buf *out)
{
	enum fedc_err rc;

	rc = fedc_prom_single(out, "fedc_node_broker_connected", FEDC_PROM_GAUGE,
			      "1 while the MQTT connection to the broker is up, else 0.",
			      src->mqtt && fedc_mqtt_connected(src->mqtt) ? 1 : 0);
	if (!rc)
		rc = fedc_prom_single(out, "fedc_node_broker_reconnects_total", FEDC_PROM_COUNTER,
				      "Times the connection to the broker was made again after a loss.",
				      src->mqtt ? (double)fedc_mqtt_reconnects(src->mqtt) : 0);
	return rc;
}

/* Read at each scrape: a scrape every 15 s costs one small query and one
 * walk of data_dir. */
static enum fedc_err render_storage(struct node_metrics_server *src, struct fedc_buf *out)
{
	struct node_dataset *all = NULL;
	uint64_t bytes = 0, files = 0;
	size_t n = 0;
	enum fedc_err rc = FEDC_OK;

	if (!src->db)
		rc = db__open(src->cfg->db_path, &src->db);
	if (!rc)
		rc = db__dataset_list(src->db, &all, &n);
	free(all);
	if (!rc)
		rc = fedc_disk_usage(src->cfg->data_dir, &bytes, &files);
	if (!rc)
		rc = fedc_prom_single(out, "fedc_node_datasets", FEDC_PROM_GAUGE,
				      "Datasets registered on the node (test sets included).", (double)n);
	if (!rc)
		rc = fedc_prom_single(out, "fedc_node_data_dir_disk_bytes", FEDC_PROM_GAUGE,
				      "Disk space data_dir takes (database, kept plans, SCAFFOLD state).", (double)bytes);
	return rc;
}

/* The server's render (fedc/prom_http.h), on its one thread. */
static enum fedc_err render(void *ctx, struct fedc_buf *out)
{
	struct node_metrics_server *src = ctx;
	enum fedc_err rc = render_rounds(out);

	if (!rc)
		rc = render_plan(out);
	if (!rc)
		rc = render_commands_and_traffic(out);
	if (!rc)
		rc = render_broker(src, out);
	if (!rc)
		rc = render_storage(src, out);
	if (!rc)
		rc = fedc_prom_single(out, "fedc_node_start_time_seconds", FEDC_PROM_GAUGE,
				      "When the daemon started, in seconds since the Unix epoch.",
				      (double)fedc_prom_gauge_get(&counters.start_time_s));
	return rc;
}

enum fedc_err node_metrics__start(const struct node_config *cfg, struct fedc_mqtt *mqtt,
				  struct node_metrics_server **out)
{
	struct node_metrics_server *srv = NULL;
	enum fedc_err rc;

	*out = NULL;
	fedc_prom_gauge_set(&counters.start_time_s, (int64_t)time(NULL));
	if (!cfg->metrics_listen || !cfg->metrics_listen[0])
		return FEDC_OK;
	rc = lazy__require(LAZY_MHD); /* else the listener fails as if its address were taken */
	if (rc)
		return rc;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return FEDC_ERR_NOMEM;
	srv->cfg = cfg;
	srv->mqtt = mqtt;
	rc = fedc_prom_http_start("[metrics] listen", cfg->metrics_listen, render, srv, &srv->http);
	if (rc) {
		free(srv);
		return rc;
	}
	atomic_store_explicit(&peaks_served, true, memory_order_relaxed);
	fedc_info("metrics: serving /metrics on %s (port %u)", cfg->metrics_listen,
		  (unsigned)fedc_prom_http_port(srv->http));
	*out = srv;
	return FEDC_OK;
}

uint16_t node_metrics__port(const struct node_metrics_server *srv)
{
	return fedc_prom_http_port(srv->http);
}

void node_metrics__stop(struct node_metrics_server *srv)
{
	if (!srv)
		return;
	fedc_prom_http_stop(srv->http); /* no scrape runs after this */
	db__close(srv->db);
	free(srv);
}
