/* Per-node round logs (node_log.h). */
#include "node_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/buf.h"
#include "fedc/fs.h"
#include "fedc/id.h"
#include "json_kv.h"

struct kept_scalar {
	char node_id[FEDC_MAX_ID_LEN + 1];
	char name[FEDC_MAX_NAME_LEN + 1];
	double value;
	uint64_t iteration, epoch;
};

struct node_log {
	char dir[PATH_MAX];            /* OUTPUT_DIR/nodes */
	size_t n_scalars;
	uint64_t dropped;              /* scalars past NODE_LOG_MAX_SCALARS this round */
	struct kept_scalar scalars[NODE_LOG_MAX_SCALARS];
};

static bool is_log_name(const char *name)
{
	size_t len = strlen(name);

	return len > 6 && name[0] != '.' && strcmp(name + len - 6, ".jsonl") == 0;
}

/* Calls `each` on every log in `dir` until it fails. */
static enum fedc_err for_each_log(const char *dir, enum fedc_err (*each)(const char *path, void *ctx), void *ctx)
{
	char path[PATH_MAX + NAME_MAX + 2];
	enum fedc_err rc = FEDC_OK;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return fedc_fail(FEDC_ERR_IO, "cannot list %s: %s", dir, strerror(errno));
	while (!rc && (de = readdir(d))) {
		if (is_log_name(de->d_name)) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			rc = each(path, ctx);
		}
	}
	closedir(d);
	return rc;
}

static enum fedc_err remove_log(const char *path, void *ctx)
{
	(void)ctx;
	if (unlink(path) != 0 && errno != ENOENT)
		return fedc_fail(FEDC_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
	return FEDC_OK;
}

/* The round of one record; false for a line that is not one of ours (a
 * record cut short by a crash): it goes with the rounds after the breakpoint. */
static bool line_round(const char *line, size_t len, uint32_t *round)
{
	json_t *obj = json_loadb(line, len, 0, NULL);
	json_t *r = json_object_get(obj, "round");
	bool ok = json_is_integer(r) && json_integer_value(r) >= 0 && json_integer_value(r) <= UINT32_MAX;

	if (ok)
		*round = (uint32_t)json_integer_value(r);
	json_decref(obj);
	return ok;
}

enum fedc_err node_log__keep(const char *text, size_t len, uint32_t last, struct fedc_buf *out)
{
	enum fedc_err rc = FEDC_OK;
	uint32_t round;

	while (!rc && len > 0) {
		const char *nl = memchr(text, '\n', len);
		size_t n = nl ? (size_t)(nl - text) + 1 : len;

		if (nl && n <= NODE_LOG_LINE_MAX && line_round(text, n, &round) && round <= last)
			rc = fedc_buf_append(out, text, n);
		text += n;
		len -= n;
	}
	return rc;
}

/* Rewrites `path` with the records of rounds up to *(uint32_t *)ctx. */
static enum fedc_err trim_log(const char *path, void *ctx)
{
	struct fedc_buf text = FEDC_BUF_INIT(NODE_LOG_MAX_BYTES), kept = FEDC_BUF_INIT(NODE_LOG_MAX_BYTES);
	char chunk[1 << 16];
	size_t n;
	FILE *f = fopen(path, "r");
	enum fedc_err rc = f ? FEDC_OK : fedc_fail(FEDC_ERR_IO, "cannot read %s: %s", path, strerror(errno));

	while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc = fedc_buf_append(&text, chunk, n);
	if (!rc && ferror(f))
		rc = fedc_fail(FEDC_ERR_IO, "cannot read %s", path);
	if (rc == FEDC_ERR_TOO_BIG)
		rc = fedc_fail(rc, "%s: over %zu bytes: not a node log of fedc's", path, NODE_LOG_MAX_BYTES);
	if (!rc)
		rc = node_log__keep(text.data ? text.data : "", text.len, *(const uint32_t *)ctx, &kept);
	if (!rc)
		rc = fedc_write_atomic(path, kept.data ? kept.data : "", kept.len);
	if (f)
		fclose(f);
	fedc_buf_free(&text);
	fedc_buf_free(&kept);
	return rc;
}

static enum fedc_err open_dir(const char *output_dir, struct node_log **out)
{
	struct node_log *log = calloc(1, sizeof(*log));
	enum fedc_err rc;

	*out = NULL;
	if (!log)
		return FEDC_ERR_NOMEM;
	if ((size_t)snprintf(log->dir, sizeof(log->dir), "%s/" NODE_LOG_DIR, output_dir) >= sizeof(log->dir)) {
		free(log);
		return fedc_fail(FEDC_ERR_IO, "%s: path too long", output_dir);
	}
	rc = fedc_mkdir_p(log->dir, 0755);
	if (rc)
		free(log);
	else
		*out = log;
	return rc;
}

enum fedc_err node_log__open(const char *output_dir, struct node_log **out)
{
	enum fedc_err rc = open_dir(output_dir, out);

	if (!rc)
		rc = for_each_log((*out)->dir, remove_log, NULL);
	if (rc) {
		node_log__close(*out);
		*out = NULL;
	}
	return rc;
}

enum fedc_err node_log__reopen(const char *output_dir, uint32_t round, struct node_log **out)
{
	enum fedc_err rc = open_dir(output_dir, out);

	if (!rc)
		rc = for_each_log((*out)->dir, trim_log, &round);
	if (rc) {
		node_log__close(*out);
		*out = NULL;
	}
	return rc;
}

void node_log__scalar(struct node_log *log, const char *node_id, const char *name, double value,
		      uint64_t iteration, uint64_t epoch)
{
	struct kept_scalar *s;

	if (!log)
		return;
	if (log->n_scalars == NODE_LOG_MAX_SCALARS) {
		log->dropped++;
		return;
	}
	s = &log->scalars[log->n_scalars++];
	snprintf(s->node_id, sizeof(s->node_id), "%s", node_id);
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->value = value;
	s->iteration = iteration;
	s->epoch = epoch;
}

/* The node's scalars of this round, in the order they came; NULL for none. */
static json_t *scalars_of(const struct node_log *log, const char *node_id)
{
	json_t *list = NULL;

	for (size_t i = 0; i < log->n_scalars; i++) {
		const struct kept_scalar *s = &log->scalars[i];

		if (strcmp(s->node_id, node_id) != 0)
			continue;
		if (!list)
			list = json_array();
		json_array_append_new(list, json_pack("{s:s, s:I, s:I, s:o}", "name", s->name, "iteration",
						      (json_int_t)s->iteration, "epoch", (json_int_t)s->epoch,
						      "value", json_kv__number(s->value)));
	}
	return list;
}

static const char *state_of(const char *status)
{
	if (strcmp(status, "answered") == 0)
		return "ok";
	return strcmp(status, "error") == 0 ? "refused" : "failed";
}

static json_t *record_json(const struct node_log *log, const struct node_record *rec)
{
	const struct fedc_msg *r = rec->reply;
	json_t *obj = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "round", (json_int_t)rec->round, "kind",
				rec->kind, "node_id", rec->node_id, "dataset_id", rec->dataset_id ? rec->dataset_id : "",
				"state", state_of(rec->status), "status", rec->status, "reason",
				rec->reason ? rec->reason : "");
	json_t *scalars = obj ? scalars_of(log, rec->node_id) : NULL;

	if (obj && rec->step)
		json_object_set_new(obj, "step", json_integer((json_int_t)rec->step));
	if (obj && r)
		json_kv__add_reply(obj, r);
	if (obj && scalars)
		json_object_set_new(obj, "scalars", scalars);
	if (obj && log->dropped)
		json_object_set_new(obj, "scalars_dropped", json_integer((json_int_t)log->dropped));
	return obj;
}

enum fedc_err node_log__record(struct node_log *log, const struct node_record *rec)
{
	char path[PATH_MAX + FEDC_MAX_ID_LEN + 8];
	json_t *obj;
	char *text = NULL;
	size_t len = 0;
	int fd = -1;
	enum fedc_err rc = FEDC_OK;

	if (!log)
		return FEDC_OK;
	if (!fedc_id_valid(rec->node_id))
		return fedc_fail(FEDC_ERR_INVAL, "node id \"%s\" is not a file name", rec->node_id);
	obj = record_json(log, rec);
	text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	snprintf(path, sizeof(path), "%s/%s.jsonl", log->dir, rec->node_id);
	if (text) { /* the line and its newline in one write: open, write, close (no stdio buffer) */
		len = strlen(text);
		text[len] = '\n'; /* over the NUL: the text is a length from here on */
	}
	if (!text)
		rc = FEDC_ERR_NOMEM;
	else if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0)
		rc = fedc_fail(FEDC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	else
		rc = fedc_write_all(fd, text, len + 1, path);
	if (fd >= 0 && close(fd) != 0 && !rc)
		rc = fedc_fail(FEDC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	free(text);
	json_decref(obj);
	return rc;
}

void node_log__round_done(struct node_log *log)
{
	if (log) {
		log->n_scalars = 0;
		log->dropped = 0;
	}
}

void node_log__close(struct node_log *log)
{
	free(log);
}
