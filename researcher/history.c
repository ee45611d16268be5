/* History files: JSON lines through jansson, and two CSV files. */
#include "history.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_kv.h"

struct history {
	FILE *jsonl;
	FILE *rounds_csv;
	FILE *nodes_csv;
};

static const char *const file_names[HISTORY_FILES] = { "history.jsonl", "rounds.csv", "nodes.csv" };
static const char *const headers[HISTORY_FILES] = {
	"",
	"round,kind,selected,answered,train_loss,global_loss,global_accuracy,seconds,params_digest,epsilon\n",
	"round,kind,node_id,dataset_id,status,n_samples,n_test,train_loss,test_loss,test_accuracy,global_loss,"
	"global_accuracy,download_s,train_s,upload_s,reason\n",
};

/* Opens `dir/name` for appending into *out; with sizes, first cut it back to
 * `size` bytes (what a breakpoint recorded), else start it with `header`.
 * FEDC_OK, or FEDC_ERR_IO with a detail (*out NULL). */
static enum fedc_err open_in(const char *dir, size_t i, const uint64_t *sizes, FILE **out)
{
	char path[4200];
	struct stat st;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, file_names[i]);
	if (sizes && (stat(path, &st) != 0 || (uint64_t)st.st_size < sizes[i]))
		return fedc_fail(FEDC_ERR_IO, "%s: shorter than the breakpoint recorded (%" PRIu64 " bytes); the history "
					      "cannot be continued", path, sizes[i]);
	if (sizes && truncate(path, (off_t)sizes[i]) != 0)
		return fedc_fail(FEDC_ERR_IO, "cannot cut %s back to the breakpoint: %s", path, strerror(errno));
	*out = fopen(path, sizes ? "a" : "w");
	if (!*out)
		return fedc_fail(FEDC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	if (!sizes)
		fputs(headers[i], *out);
	return FEDC_OK;
}

static enum fedc_err open_all(const char *dir, const uint64_t *sizes, struct history **out)
{
	struct history *h = calloc(1, sizeof(*h));
	enum fedc_err rc;

	*out = NULL;
	if (!h)
		return FEDC_ERR_NOMEM;
	rc = open_in(dir, 0, sizes, &h->jsonl);
	if (!rc)
		rc = open_in(dir, 1, sizes, &h->rounds_csv);
	if (!rc)
		rc = open_in(dir, 2, sizes, &h->nodes_csv);
	if (rc) {
		history__close(h);
		return rc;
	}
	*out = h;
	return FEDC_OK;
}

enum fedc_err history__open(const char *dir, struct history **out)
{
	return open_all(dir, NULL, out);
}

enum fedc_err history__reopen(const char *dir, const uint64_t sizes[HISTORY_FILES], struct history **out)
{
	return open_all(dir, sizes, out);
}

enum fedc_err history__sync(struct history *h, uint64_t sizes[HISTORY_FILES])
{
	FILE *files[HISTORY_FILES] = { h->jsonl, h->rounds_csv, h->nodes_csv };

	for (size_t i = 0; i < HISTORY_FILES; i++) {
		long at;

		if (fflush(files[i]) != 0 || fsync(fileno(files[i])) != 0 || (at = ftell(files[i])) < 0)
			return fedc_fail(FEDC_ERR_IO, "cannot sync %s: %s", file_names[i], strerror(errno));
		sizes[i] = (uint64_t)at;
	}
	return FEDC_OK;
}

static double metric(const struct fedc_msg_kv *list, uint32_t n, const char *name)
{
	double v;

	return fedc_msg_kv_get(list, n, name, &v) ? v : NAN;
}

/* Appends obj as a line; `flush` hands it to the kernel now. */
static enum fedc_err write_json(FILE *f, json_t *obj, bool flush)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	enum fedc_err rc = FEDC_OK;

	if (!text || fprintf(f, "%s\n", text) < 0 || (flush && fflush(f) != 0))
		rc = fedc_fail(FEDC_ERR_IO, "cannot write the history");
	free(text);
	json_decref(obj);
	return rc;
}

/* CSV cell for a number: empty when unknown. */
static void csv_number(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, ",%.9g", v);
	else
		fputs(",", f);
}

/* Quotes a CSV text cell (reasons may hold commas and quotes). */
static void csv_text(FILE *f, const char *s)
{
	fputs(",\"", f);
	for (; s && *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s == '\n' ? ' ' : *s, f);
	}
	fputc('"', f);
}

enum fedc_err history__node(struct history *h, const struct node_record *rec)
{
	const struct fedc_msg *r = rec->reply;
	json_t *obj = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s}", "type", "node", "round", (json_int_t)rec->round,
				"kind", rec->kind, "node_id", rec->node_id, "dataset_id",
				rec->dataset_id ? rec->dataset_id : "", "status", rec->status, "reason",
				rec->reason ? rec->reason : "");

	if (obj && rec->step)
		json_object_set_new(obj, "step", json_integer((json_int_t)rec->step));
	if (obj && r)
		json_kv__add_reply(obj, r);
	fprintf(h->nodes_csv, "%u,%s,%s,%s,%s", rec->round, rec->kind, rec->node_id,
		rec->dataset_id ? rec->dataset_id : "", rec->status);
	if (r) {
		fprintf(h->nodes_csv, ",%llu,%llu", (unsigned long long)r->n_samples, (unsigned long long)r->n_test);
		csv_number(h->nodes_csv, metric(r->metrics, r->n_metrics, "loss"));
		csv_number(h->nodes_csv, metric(r->metrics, r->n_metrics, "test_loss"));
		csv_number(h->nodes_csv, metric(r->metrics, r->n_metrics, "test_accuracy"));
		csv_number(h->nodes_csv, metric(r->global_metrics, r->n_global_metrics, "loss"));
		csv_number(h->nodes_csv, metric(r->global_metrics, r->n_global_metrics, "accuracy"));
		csv_number(h->nodes_csv, r->download_s);
		csv_number(h->nodes_csv, r->train_s);
		csv_number(h->nodes_csv, r->upload_s);
	} else {
		fputs(",,,,,,,,,,", h->nodes_csv);
	}
	csv_text(h->nodes_csv, rec->reason);
	fputc('\n', h->nodes_csv);
	return write_json(h->jsonl, obj, false); /* flushed with the round's record (history.h) */
}

enum fedc_err history__round(struct history *h, const struct round_record *rec)
{
	json_t *obj = json_pack("{s:s, s:I, s:s, s:I, s:I, s:o, s:o, s:o, s:f, s:s}", "type", "round", "round",
				(json_int_t)rec->round, "kind", rec->kind, "selected", (json_int_t)rec->selected,
				"answered", (json_int_t)rec->answered, "train_loss", json_kv__number(rec->train_loss),
				"global_loss", json_kv__number(rec->global_loss), "global_accuracy",
				json_kv__number(rec->global_accuracy), "seconds", rec->seconds, "params_digest",
				rec->params_digest ? rec->params_digest : "");

	fprintf(h->rounds_csv, "%u,%s,%u,%u", rec->round, rec->kind, rec->selected, rec->answered);
	csv_number(h->rounds_csv, rec->train_loss);
	csv_number(h->rounds_csv, rec->global_loss);
	csv_number(h->rounds_csv, rec->global_accuracy);
	csv_number(h->rounds_csv, rec->seconds);
	fprintf(h->rounds_csv, ",%s", rec->params_digest ? rec->params_digest : "");
	csv_number(h->rounds_csv, rec->epsilon);
	fputc('\n', h->rounds_csv);
	if (obj)
		json_object_set_new(obj, "epsilon", json_kv__number(rec->epsilon));
	fflush(h->rounds_csv);
	fflush(h->nodes_csv);
	return write_json(h->jsonl, obj, true);
}

enum fedc_err history__best(struct history *h, uint32_t round, const char *metric, uint32_t model_round,
			    double value)
{
	return write_json(h->jsonl, json_pack("{s:s, s:I, s:s, s:I, s:f, s:s}", "type", "best", "round",
					      (json_int_t)round, "metric", metric, "model_round",
					      (json_int_t)model_round, "value", value, "file", "best.params"), true);
}

enum fedc_err history__append(struct history *h, const char *dir, const char *json)
{
	char path[4200];
	FILE *f = h ? h->jsonl : NULL;
	bool ok;

	if (!f) {
		snprintf(path, sizeof(path), "%s/%s", dir, file_names[0]);
		f = fopen(path, "r+"); /* not "a": the run's history, never a new file */
		if (!f || fseek(f, 0, SEEK_END) != 0) {
			if (f)
				fclose(f);
			return fedc_fail(FEDC_ERR_IO, "cannot append to %s: %s", path, strerror(errno));
		}
	}
	ok = fprintf(f, "%s\n", json) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (!h && fclose(f) != 0)
		ok = false;
	if (!ok)
		return fedc_fail(FEDC_ERR_IO, "cannot write the history (%s): %s", file_names[0], strerror(errno));
	return FEDC_OK;
}

void history__close(struct history *h)
{
	if (!h)
		return;
	if (h->jsonl)
		fclose(h->jsonl);
	if (h->rounds_csv)
		fclose(h->rounds_csv);
	if (h->nodes_csv)
		fclose(h->nodes_csv);
	free(h);
}
