/* The node's side of an assessment: assess.h. */
#include "assess.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "fedc/num.h"
#include "plan_assess.h"

#define PROB_SLACK 1e-3 /* float32 rounding in a plan's softmax */
#define HEAD_BYTES 24   /* plan_assess.h: magic, rows, width, n_classes */

/* ---- the request ---- */

static enum fedc_err set_arg(struct assess_request *a, const char *key, const char *value)
{
	uint64_t u;

	if (strcmp(a->kind, "predict") == 0 && strcmp(key, "bins") == 0) {
		if (fedc_num_parse_u64(value, 2, ASSESS_MAX_BINS, &u) != FEDC_OK)
			return fedc_fail(FEDC_ERR_INVAL, "assess_args: bins=%s: a whole number from 2 to %d", value,
					 ASSESS_MAX_BINS);
		a->bins = (uint32_t)u;
		return FEDC_OK;
	}
	if (strcmp(a->kind, "explain") == 0 && strcmp(key, "repeats") == 0) {
		if (fedc_num_parse_u64(value, 1, PLAN_ASSESS_MAX_REPEATS, &u) != FEDC_OK)
			return fedc_fail(FEDC_ERR_INVAL, "assess_args: repeats=%s: a whole number from 1 to %d", value,
					 PLAN_ASSESS_MAX_REPEATS);
		a->repeats = (uint32_t)u;
		return FEDC_OK;
	}
	if (strcmp(a->kind, "explain") == 0 && strcmp(key, "metric") == 0) {
		size_t n = strlen(value);

		for (size_t i = 0; i < n; i++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", value[i]))
				n = 0;
		if (n == 0 || n >= sizeof(a->metric))
			return fedc_fail(FEDC_ERR_INVAL, "assess_args: metric=%s: a metric name of [A-Za-z0-9_.-]", value);
		memcpy(a->metric, value, n + 1);
		return FEDC_OK;
	}
	return fedc_fail(FEDC_ERR_INVAL, "assess_args: unknown key \"%s\" for %s", key, a->kind);
}

/* The robust stage's arguments are checked here, before any plan runs, by
 * the parser the plan process uses again: a refusal names the key. */
static enum fedc_err parse_robust(const struct fedc_msg *req, struct assess_request *out)
{
	struct fedc_robust_args parsed;
	const char *text = fedc_msg_has(req, FEDC_F_ASSESS_ARGS) ? req->assess_args : "";
	enum fedc_err rc = fedc_robust_args_parse(text, &parsed);

	if (rc)
		return fedc_fail(rc, "assess_args: %s", fedc_last_error());
	snprintf(out->args, sizeof(out->args), "%s", text);
	return FEDC_OK;
}

enum fedc_err assess__parse(const struct fedc_msg *req, struct assess_request *out)
{
	char args[FEDC_MAX_ASSESS_ARGS + 1], *line, *save = NULL;
	enum fedc_err rc = FEDC_OK;

	memset(out, 0, sizeof(*out));
	if (!fedc_msg_has(req, FEDC_F_ASSESS))
		return FEDC_OK;
	snprintf(out->kind, sizeof(out->kind), "%s", req->assess);
	if (strcmp(out->kind, "robust") == 0)
		return parse_robust(req, out);
	out->bins = ASSESS_DEFAULT_BINS;
	out->repeats = ASSESS_DEFAULT_REPEATS;
	snprintf(out->metric, sizeof(out->metric), "accuracy");
	snprintf(args, sizeof(args), "%s", fedc_msg_has(req, FEDC_F_ASSESS_ARGS) ? req->assess_args : "");
	for (line = strtok_r(args, "\n", &save); !rc && line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			return fedc_fail(FEDC_ERR_INVAL, "assess_args: \"%.40s\" is not key=value", line);
		*eq = '\0';
		rc = set_arg(out, line, eq + 1);
	}
	return rc;
}

/* ---- reading what the plan process wrote ---- */

static enum fedc_err read_output(int fd, size_t max, char **data, size_t *len)
{
	struct stat st;
	size_t got = 0;

	*data = NULL;
	if (fstat(fd, &st) != 0)
		return fedc_fail(FEDC_ERR_IO, "cannot read the plan's output: %s", strerror(errno));
	if ((uint64_t)st.st_size > max)
		return fedc_fail(FEDC_ERR_PLAN, "the plan process wrote %jd bytes, more than the %zu expected",
				 (intmax_t)st.st_size, max);
	*len = (size_t)st.st_size;
	*data = malloc(*len + 1);
	if (!*data)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for the plan's output");
	while (got < *len) {
		ssize_t n = pread(fd, *data + got, *len - got, (off_t)got);

		if (n <= 0)
			return fedc_fail(FEDC_ERR_IO, "cannot read the plan's output: %s", n ? strerror(errno) : "short");
		got += (size_t)n;
	}
	(*data)[*len] = '\0';
	return FEDC_OK;
}

/* ---- predict ---- */

struct predict_stats {
	uint32_t classes, bins, width;
	uint64_t rows;
	uint64_t *cm;          /* classes x classes: true, predicted */
	uint64_t *pos, *neg;   /* classes x bins */
	uint64_t *cal, *ok;    /* bins */
	double *conf;          /* bins */
	double abs_err, sq_err, sum_y, sum_y2;
};

static uint32_t bin_of(double p, uint32_t bins)
{
	uint32_t b = (uint32_t)(p * bins);

	return b >= bins ? bins - 1 : b;
}

/* Checks one row (label, outputs) and counts it; the argmax is the
 * predicted class (the first of equals). */
static enum fedc_err take_row(struct predict_stats *s, uint64_t r, float label, const float *p, uint32_t *predicted)
{
	double total = 0;
	uint32_t best = 0, y;

	for (uint32_t k = 0; k < s->width; k++)
		if (!isfinite(p[k]))
			return fedc_fail(FEDC_ERR_PLAN, "row %" PRIu64 ": the plan's predict() wrote a value that is not finite", r);
	if (!isfinite(label))
		return fedc_fail(FEDC_ERR_PLAN, "row %" PRIu64 ": the label is not finite", r);
	if (s->classes == 0) {
		double e = (double)p[0] - label;

		s->abs_err += fabs(e);
		s->sq_err += e * e;
		s->sum_y += label;
		s->sum_y2 += (double)label * label;
		return FEDC_OK;
	}
	if (label < 0 || label >= (float)s->classes || label != floorf(label))
		return fedc_fail(FEDC_ERR_PLAN, "row %" PRIu64 ": label %g is not a class index below %" PRIu32, r,
				 (double)label, s->classes);
	y = (uint32_t)label;
	for (uint32_t k = 0; k < s->width; k++) {
		if (p[k] < -PROB_SLACK || p[k] > 1 + PROB_SLACK)
			return fedc_fail(FEDC_ERR_PLAN, "row %" PRIu64 ": the plan's predict() wrote probability %g", r,
					 (double)p[k]);
		total += p[k];
		if (p[k] > p[best])
			best = k;
	}
	if (fabs(total - 1) > PROB_SLACK * s->width)
		return fedc_fail(FEDC_ERR_PLAN, "row %" PRIu64 ": the plan's predict() wrote probabilities summing to %g, "
				 "not 1", r, total);
	s->cm[(size_t)y * s->classes + best]++;
	for (uint32_t k = 0; k < s->classes; k++)
		(k == y ? s->pos : s->neg)[(size_t)k * s->bins + bin_of(p[k], s->bins)]++;
	s->cal[bin_of(p[best], s->bins)]++;
	s->conf[bin_of(p[best], s->bins)] += p[best];
	s->ok[bin_of(p[best], s->bins)] += best == y;
	*predicted = best;
	return FEDC_OK;
}

static enum fedc_err csv_row(FILE *f, uint64_t r, float label, const float *p, uint32_t width, uint32_t classes,
			     uint32_t predicted)
{
	fprintf(f, "%" PRIu64 ",%.9g,", r, (double)label);
	if (classes)
		fprintf(f, "%" PRIu32, predicted);
	else
		fprintf(f, "%.9g", (double)p[0]);
	for (uint32_t k = 0; classes && k < width; k++)
		fprintf(f, ",%.9g", (double)p[k]); /* every float32 exactly */
	return fputc('\n', f) == EOF ? fedc_fail(FEDC_ERR_IO, "cannot write the predictions file") : FEDC_OK;
}

static enum fedc_err predictions_path(const char *data_dir, const struct fedc_msg *req, char *path, size_t cap)
{
	char dir[NODE_PATH_MAX];
	enum fedc_err rc;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/predictions", data_dir) >= sizeof(dir) ||
	    (size_t)snprintf(path, cap, "%s/%s__%s.csv", dir, req->job_id, req->dataset_id) >= cap)
		return fedc_fail(FEDC_ERR_CONFIG, "data_dir path too long for the predictions file");
	rc = fedc_mkdir_p(dir, 0700);
	return rc ? fedc_fail(rc, "cannot create %s: %s", dir, fedc_last_error()) : FEDC_OK;
}

/* Writes the CSV through an atomic file (a crash leaves no half file) while
 * checking and counting every row. */
static enum fedc_err write_predictions(struct predict_stats *s, const float *v, const char *path)
{
	struct fedc_atomic_file af;
	enum fedc_err rc = fedc_atomic_begin(&af, path, 0600);
	FILE *f = NULL;
	int fd = -1;

	if (!rc && ((fd = dup(af.fd)) < 0 || !(f = fdopen(fd, "w"))))
		rc = fedc_fail(FEDC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	if (!rc)
		fprintf(f, "row,label,predicted");
	for (uint32_t k = 0; !rc && s->classes && k < s->width; k++)
		fprintf(f, ",p%" PRIu32, k);
	if (!rc)
		fputc('\n', f);
	for (uint64_t r = 0; !rc && r < s->rows; r++) {
		const float *row = v + r * (s->width + 1);
		uint32_t predicted = 0;

		rc = take_row(s, r, row[0], row + 1, &predicted);
		if (!rc)
			rc = csv_row(f, r, row[0], row + 1, s->width, s->classes, predicted);
	}
	if (f && fclose(f) != 0 && !rc)
		rc = fedc_fail(FEDC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	if (!f && fd >= 0)
		close(fd);
	if (rc)
		fedc_atomic_abort(&af);
	return rc ? rc : fedc_atomic_commit(&af);
}

static enum fedc_err count_line(struct fedc_buf *out, const char *name, uint64_t n)
{
	return n ? fedc_buf_printf(out, "count %s %" PRIu64 "\n", name, n) : FEDC_OK;
}

static enum fedc_err predict_lines(const struct predict_stats *s, const char *path, struct fedc_buf *out)
{
	char name[64];
	enum fedc_err rc = fedc_buf_printf(out, "count rows %" PRIu64 "\ntext predictions %s\n", s->rows, path);

	if (s->classes == 0) {
		if (!rc)
			rc = fedc_buf_printf(out, "sum abs_err %.17g\nsum sq_err %.17g\nsum y %.17g\nsum y2 %.17g\n",
					     s->abs_err, s->sq_err, s->sum_y, s->sum_y2);
		return rc;
	}
	for (uint32_t t = 0; !rc && t < s->classes; t++)
		for (uint32_t p = 0; !rc && p < s->classes; p++) {
			snprintf(name, sizeof(name), "cm.%" PRIu32 ".%" PRIu32, t, p);
			rc = count_line(out, name, s->cm[(size_t)t * s->classes + p]);
		}
	for (uint32_t c = 0; !rc && c < s->classes; c++)
		for (uint32_t b = 0; !rc && b < s->bins; b++) {
			snprintf(name, sizeof(name), "pos.%" PRIu32 ".%" PRIu32, c, b);
			rc = count_line(out, name, s->pos[(size_t)c * s->bins + b]);
			snprintf(name, sizeof(name), "neg.%" PRIu32 ".%" PRIu32, c, b);
			if (!rc)
				rc = count_line(out, name, s->neg[(size_t)c * s->bins + b]);
		}
	for (uint32_t b = 0; !rc && b < s->bins; b++) {
		if (!s->cal[b])
			continue;
		rc = fedc_buf_printf(out, "count cal.%" PRIu32 " %" PRIu64 "\nsum conf.%" PRIu32 " %.17g\n", b, s->cal[b],
				     b, s->conf[b]);
		snprintf(name, sizeof(name), "ok.%" PRIu32, b);
		if (!rc)
			rc = count_line(out, name, s->ok[b]);
	}
	if (!rc)
		rc = fedc_buf_printf(out, "text bins %" PRIu32 "\ntext classes %" PRIu32 "\n", s->bins, s->classes);
	return rc;
}

static enum fedc_err check_head(const char *data, size_t len, const struct node_dataset *ds, struct predict_stats *s)
{
	uint64_t rows;
	uint32_t width, classes;

	if (len < HEAD_BYTES || memcmp(data, PLAN_ASSESS_MAGIC, 8) != 0)
		return fedc_fail(FEDC_ERR_PLAN, "the plan process's predictions lack their header");
	memcpy(&rows, data + 8, 8);
	memcpy(&width, data + 16, 4);
	memcpy(&classes, data + 20, 4);
	if (rows != ds->n_samples || classes != ds->n_classes || width != (classes >= 2 ? classes : 1u) ||
	    (len - HEAD_BYTES) / 4 / (width + 1u) != rows || (len - HEAD_BYTES) % (4u * (width + 1u)) != 0)
		return fedc_fail(FEDC_ERR_PLAN, "the plan process's predictions (%" PRIu64 " rows of %" PRIu32
				 " outputs) do not fit the dataset (%" PRIu64 " rows, %" PRIu32 " classes)", rows, width,
				 ds->n_samples, ds->n_classes);
	s->rows = rows;
	s->width = width;
	s->classes = classes >= 2 ? classes : 0;
	return FEDC_OK;
}

static enum fedc_err finish_predict(const struct assess_request *a, const struct fedc_msg *req, const char *data_dir,
				    const struct node_dataset *ds, int fd, struct fedc_buf *out)
{
	struct predict_stats s = { .bins = a->bins };
	size_t c = ds->n_classes, max = HEAD_BYTES + (size_t)ds->n_samples * 4u * (c >= 2 ? c + 1 : 2);
	char path[NODE_PATH_MAX + 2 * FEDC_MAX_ID_LEN + 32], *data = NULL;
	size_t len = 0;
	float *values = NULL;
	enum fedc_err rc = read_output(fd, max, &data, &len);

	if (!rc)
		rc = check_head(data, len, ds, &s);
	if (!rc && s.classes) {
		s.cm = calloc((size_t)s.classes * s.classes, sizeof(*s.cm));
		s.pos = calloc((size_t)s.classes * s.bins, sizeof(*s.pos));
		s.neg = calloc((size_t)s.classes * s.bins, sizeof(*s.neg));
		s.cal = calloc(s.bins, sizeof(*s.cal));
		s.ok = calloc(s.bins, sizeof(*s.ok));
		s.conf = calloc(s.bins, sizeof(*s.conf));
		if (!s.cm || !s.pos || !s.neg || !s.cal || !s.ok || !s.conf)
			rc = fedc_fail(FEDC_ERR_NOMEM, "out of memory for the prediction statistics");
	}
	if (!rc && !(values = malloc(len - HEAD_BYTES + 1)))
		rc = fedc_fail(FEDC_ERR_NOMEM, "out of memory for the predictions");
	if (!rc) {
		memcpy(values, data + HEAD_BYTES, len - HEAD_BYTES); /* aligned for float reads */
		rc = predictions_path(data_dir, req, path, sizeof(path));
	}
	if (!rc)
		rc = write_predictions(&s, values, path);
	if (!rc)
		rc = predict_lines(&s, path, out);
	free(values);
	free(data);
	free(s.cm);
	free(s.pos);
	free(s.neg);
	free(s.cal);
	free(s.ok);
	free(s.conf);
	return rc;
}

/* ---- explain ---- */

/* `feature K IMPORTANCE NAME`: K counts up from 0, NAME printable. */
static enum fedc_err explain_line(char *line, uint64_t want, struct fedc_buf *out)
{
	char *save = NULL, *k = strtok_r(line + 8, " ", &save), *v = k ? strtok_r(NULL, " ", &save) : NULL;
	const char *name = v ? save : NULL; /* the rest of the line: a name may hold spaces */
	uint64_t idx;
	double imp;

	if (!v || fedc_num_parse_u64(k, 0, UINT32_MAX, &idx) != FEDC_OK || idx != want || !fedc_parse_double(v, &imp) ||
	    !name || !*name || strlen(name) >= FEDC_PLAN_METRIC_NAME_LEN)
		return fedc_fail(FEDC_ERR_PLAN, "the plan process's importance line %" PRIu64 " is malformed", want);
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return fedc_fail(FEDC_ERR_PLAN, "feature %" PRIu64 "'s name holds a control character", want);
	return fedc_buf_printf(out, "mean imp.%" PRIu64 " %.17g\ntext name.%" PRIu64 " %s\n", idx, imp, idx, name);
}

static enum fedc_err finish_explain(const struct node_dataset *ds, int fd, struct fedc_buf *out)
{
	char *data = NULL, *line, *save = NULL;
	size_t len = 0;
	uint64_t k = 0;
	double base;
	enum fedc_err rc = read_output(fd, 64u * 1024u, &data, &len);

	if (!rc && (len == 0 || data[len - 1] != '\n' || memchr(data, '\0', len)))
		rc = fedc_fail(FEDC_ERR_PLAN, "the plan process's importances are not text lines");
	line = rc ? NULL : strtok_r(data, "\n", &save);
	if (!rc && (!line || strncmp(line, "base ", 5) != 0 || !fedc_parse_double(line + 5, &base)))
		rc = fedc_fail(FEDC_ERR_PLAN, "the plan process's importances lack their base line");
	if (!rc)
		rc = fedc_buf_printf(out, "mean base %.17g\n", base);
	while (!rc && (line = strtok_r(NULL, "\n", &save))) {
		if (strncmp(line, "feature ", 8) != 0)
			rc = fedc_fail(FEDC_ERR_PLAN, "the plan process wrote an unknown importance line");
		else
			rc = explain_line(line, k++, out);
	}
	if (!rc && k != ds->n_features)
		rc = fedc_fail(FEDC_ERR_PLAN, "the plan process gave %" PRIu64 " importances for %" PRIu64 " features", k,
			       ds->n_features);
	free(data);
	return rc;
}

/* ---- robust ---- */

static bool robust_name_ok(const char *name, size_t n)
{
	if (n <= 7 || n > ASSESS_ROBUST_NAME_MAX || strncmp(name, "robust.", 7) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", name[i]))
			return false;
	return true;
}

/* One line, without its '\n': `mean robust.NAME VALUE`. */
static enum fedc_err robust_line(char *line, size_t number, struct fedc_buf *out)
{
	char *name, *value = NULL;
	double v;

	/* the prefix first: a line shorter than it ends before line + 5 */
	if (strncmp(line, "mean ", 5) == 0)
		value = strchr(name = line + 5, ' ');
	if (!value)
		return fedc_fail(FEDC_ERR_PLAN, "robust: line %zu of the plan process is not `mean robust.NAME VALUE`",
				 number);
	*value++ = '\0';
	if (!robust_name_ok(name, strlen(name)))
		return fedc_fail(FEDC_ERR_PLAN, "robust: line %zu of the plan process: a name that is not robust. and up "
				 "to %d of [A-Za-z0-9_.-]", number, ASSESS_ROBUST_NAME_MAX);
	if (!fedc_parse_double(value, &v) || !isfinite(v))
		return fedc_fail(FEDC_ERR_PLAN, "robust: line %zu of the plan process: %s has no finite value", number,
				 name);
	return fedc_buf_printf(out, "mean %s %.17g\n", name, v);
}

enum fedc_err assess__robust_lines(const char *data, size_t len, struct fedc_buf *out)
{
	char *copy, *line, *next;
	size_t number = 0;
	enum fedc_err rc = FEDC_OK;

	if (len == 0)
		return fedc_fail(FEDC_ERR_PLAN, "robust: the plan's evaluate() reported no metric to compare (a finite "
				 "value whose name starts with a letter or '_')");
	if (data[len - 1] != '\n' || memchr(data, '\0', len))
		return fedc_fail(FEDC_ERR_PLAN, "robust: the plan process's results are not text lines");
	copy = malloc(len + 1);
	if (!copy)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for the robust results");
	memcpy(copy, data, len);
	copy[len] = '\0';
	for (line = copy; !rc && *line; line = next) {
		next = strchr(line, '\n'); /* there is one: the text ends with it */
		*next++ = '\0';
		if (++number > ASSESS_ROBUST_MAX_LINES)
			rc = fedc_fail(FEDC_ERR_PLAN, "robust: the plan process wrote more than %d result lines",
				       ASSESS_ROBUST_MAX_LINES);
		else
			rc = robust_line(line, number, out);
	}
	free(copy);
	return rc;
}

static enum fedc_err finish_robust(int fd, struct fedc_buf *out)
{
	char *data = NULL;
	size_t len = 0;
	enum fedc_err rc = read_output(fd, FEDC_MAX_ASSESS_RESULT, &data, &len);

	if (!rc)
		rc = assess__robust_lines(data, len, out);
	free(data);
	return rc;
}

enum fedc_err assess__finish(const struct assess_request *a, const struct fedc_msg *req, const char *data_dir,
			     const struct node_dataset *ds, int fd, struct fedc_buf *out)
{
	enum fedc_err rc;

	if (strcmp(a->kind, "predict") == 0)
		rc = finish_predict(a, req, data_dir, ds, fd, out);
	else if (strcmp(a->kind, "robust") == 0)
		rc = finish_robust(fd, out);
	else
		rc = finish_explain(ds, fd, out);
	if (rc == FEDC_ERR_TOO_BIG)
		rc = fedc_fail(rc, "the %s results pass the %u bytes a reply holds (%s)", a->kind, FEDC_MAX_ASSESS_RESULT,
			       a->kind[0] == 'p'   ? "ask for fewer bins"
			       : a->kind[0] == 'r' ? "ask for fewer epsilons or attacks"
						   : "shorter column names would fit");
	return rc;
}
