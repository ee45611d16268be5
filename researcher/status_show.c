/* `fedc-researcher status DIR`: the status file read back (see status.h),
 * with whether a researcher still holds the directory. The file is read as
 * outside input: any field may be missing or of another type, and shows as
 * unknown then. */
#include "status.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "breakpoint.h"
#include "run_control.h"

#define STATUS_MAX_BYTES (64u << 20) /* 1024 nodes with 16 metrics each is well under a MB */

static const char *text_of(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

/* A number, NaN when missing or not a number. */
static double number_of(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Control characters of `s` as '?': the document's text goes to a terminal,
 * and a damaged or forged file must not send it escape sequences. */
static char *cleaned(const char *s, char *buf, size_t cap)
{
	size_t i = 0;

	for (; s[i] && i + 1 < cap; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

/* Cleans every string value of the document in place (keys are cleaned
 * where printed). */
static void clean_strings(json_t *v, int depth)
{
	const char *key;
	json_t *item;
	size_t i;

	if (depth > 8) /* the status document is 4 deep; deeper is not printed */
		return;
	if (json_is_string(v)) {
		char *buf = malloc(json_string_length(v) + 1);

		if (buf && memchr(json_string_value(v), '\0', json_string_length(v)) == NULL)
			json_string_set(v, cleaned(json_string_value(v), buf, json_string_length(v) + 1));
		else if (buf)
			json_string_set(v, "?");
		free(buf);
	} else if (json_is_object(v)) {
		json_object_foreach(v, key, item)
			clean_strings(item, depth + 1);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			clean_strings(item, depth + 1);
	}
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What became of the run: the document's state, or "killed" when it says
 * running and no researcher holds the directory any more. */
static const char *condition(const json_t *doc, bool live)
{
	const char *state = text_of(doc, "state");

	if (strcmp(state, "running") == 0)
		return live ? "running" : "killed";
	return state[0] ? state : "unknown";
}

/* Seconds left: the rounds still to run at the mean round time, less what
 * the current round has already taken. NaN before a round was timed. */
static double eta_of(const json_t *doc, double now)
{
	double mean = number_of(doc, "mean_round_s"), round = number_of(doc, "round"),
	       rounds = number_of(doc, "rounds"), begun = number_of(doc, "round_started_at"), left;

	if (isnan(mean) || isnan(round) || isnan(rounds))
		return NAN;
	if (strcmp(text_of(doc, "phase"), "train") != 0)
		return strcmp(text_of(doc, "phase"), "evaluate") == 0 ? 0 : NAN;
	left = mean * (rounds - round + 1) - (isnan(begun) ? 0 : now - begun);
	return left > 0 ? left : 0;
}

/* The status file is outside input: a time that is not a number of
 * seconds a run can take (negative, or over ten years) reads as unknown
 * rather than overflow the conversions below. */
#define STATUS_MAX_SECONDS (10.0 * 365 * 24 * 3600)

static void print_seconds(FILE *out, const char *label, double s)
{
	if (!(s >= 0 && s <= STATUS_MAX_SECONDS)) {
		fprintf(out, "%s unknown", label);
		return;
	}
	if (s >= 3600)
		fprintf(out, "%s %dh%02dm", label, (int)(s / 3600), (int)fmod(s / 60, 60));
	else if (s >= 60)
		fprintf(out, "%s %dm%02ds", label, (int)(s / 60), (int)fmod(s, 60));
	else
		fprintf(out, "%s %.1fs", label, s);
}

static void print_metrics(FILE *out, const char *label, json_t *obj)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj) || json_object_size(obj) == 0)
		return;
	fprintf(out, " %s", label);
	json_object_foreach(obj, key, v) {
		char name[64];

		if (json_is_number(v))
			fprintf(out, " %s %.4f", cleaned(key, name, sizeof(name)), json_number_value(v));
	}
}

static void print_nodes(FILE *out, const json_t *doc)
{
	const json_t *nodes = json_object_get(doc, "nodes"), *n;
	size_t i;

	json_array_foreach(nodes, i, n) {
		const json_t *last = json_object_get(n, "last");
		const char *reason = text_of(n, "reason");

		fprintf(out, "  node %-20s %-12s", text_of(n, "node_id"), text_of(n, "state"));
		if (reason[0])
			fprintf(out, " %s: %s", text_of(n, "status"), reason);
		if (json_is_object(last)) {
			fprintf(out, " | round %.0f", number_of(last, "round"));
			print_metrics(out, "local", json_object_get(last, "metrics"));
			print_metrics(out, "global model", json_object_get(last, "global_metrics"));
		}
		fprintf(out, "\n");
	}
}

static void print_last_round(FILE *out, const json_t *doc)
{
	const json_t *lr = json_object_get(doc, "last_round"), *best = json_object_get(doc, "best");

	if (json_is_object(lr)) {
		if (strcmp(text_of(lr, "kind"), "evaluate") == 0)
			fprintf(out, "final evaluation: nodes %.0f/%.0f", number_of(lr, "answered"), number_of(lr, "selected"));
		else
			fprintf(out, "last round %.0f: nodes %.0f/%.0f  train loss %.4f", number_of(lr, "round"),
			       number_of(lr, "answered"), number_of(lr, "selected"), number_of(lr, "train_loss"));
		fprintf(out, "  model sent: loss %.4f  %s %.4f  %.2f s\n", number_of(lr, "global_loss"), text_of(lr, "metric"),
		       number_of(lr, "metric_value"), number_of(lr, "seconds"));
	}
	if (json_is_object(best))
		fprintf(out, "best model: the one after round %.0f, %s %.4f (best.params)\n", number_of(best, "round"),
		       text_of(best, "metric"), number_of(best, "value"));
}

static void print_text(FILE *out, const char *output_dir, const json_t *doc, const char *cond, pid_t pid, double elapsed,
		       double eta)
{
	const char *message = text_of(doc, "message");
	double eps = number_of(doc, "epsilon");

	fprintf(out, "job %s in %s\n", text_of(doc, "job_id"), output_dir);
	fprintf(out, "%s", cond);
	if (strcmp(cond, "running") == 0)
		fprintf(out, " (pid %ld)", (long)pid);
	else if (strcmp(cond, "killed") == 0)
		fprintf(out, ": the researcher (pid %.0f) ended without finishing (killed or crashed)",
		       number_of(doc, "pid"));
	if (message[0])
		fprintf(out, ": %s", message);
	if (number_of(doc, "round") > number_of(doc, "rounds")) /* the final evaluation's number */
		fprintf(out, "\nround %.0f/%.0f, final evaluation (%s)  ", number_of(doc, "rounds"), number_of(doc, "rounds"),
		       text_of(doc, "phase"));
	else
		fprintf(out, "\nround %.0f/%.0f (%s)  ", number_of(doc, "round"), number_of(doc, "rounds"),
		       text_of(doc, "phase"));
	print_seconds(out, "elapsed", elapsed);
	if (strcmp(cond, "running") == 0)
		print_seconds(out, "  left about", eta);
	if (!isnan(eps))
		fprintf(out, "  epsilon %.4f (delta %g)", eps, number_of(doc, "delta"));
	fprintf(out, "\n");
	print_last_round(out, doc);
	print_nodes(out, doc);
	if (strcmp(cond, "killed") == 0 || strcmp(cond, "interrupted") == 0 || strcmp(cond, "stopped") == 0)
		fprintf(out, "continue it with: fedc-researcher resume %s\n", output_dir);
}

static int print_json(FILE *out, FILE *err, json_t *doc, const char *cond, bool live, double elapsed, double eta)
{
	char *text;

	json_object_set_new(doc, "live", json_boolean(live));
	json_object_set_new(doc, "condition", json_string(cond));
	json_object_set_new(doc, "elapsed_s", isnan(elapsed) ? json_null() : json_real(elapsed));
	json_object_set_new(doc, "eta_s", isnan(eta) ? json_null() : json_real(eta));
	text = json_dumps(doc, JSON_INDENT(2));
	if (!text) {
		fprintf(err, "fedc-researcher: status: out of memory\n");
		return 1;
	}
	fprintf(out, "%s\n", text);
	free(text);
	return 0;
}

/* Why there is nothing to show, and what to do. */
static int no_status(const char *output_dir, const char *path, bool missing, const char *why)
{
	uint32_t latest;

	if (missing && breakpoint__latest(output_dir, &latest) == FEDC_OK)
		fprintf(stderr, "fedc-researcher: status: %s has breakpoints (up to round %u) but no %s: the run was "
				"made by an older researcher; see its history.jsonl\n",
			output_dir, latest, STATUS_FILE);
	else if (missing)
		fprintf(stderr, "fedc-researcher: status: %s holds no run (no %s): give the output directory of "
				"`fedc-researcher run` ([experiment] output_dir or --output)\n",
			output_dir, STATUS_FILE);
	else
		fprintf(stderr, "fedc-researcher: status: %s: %s\n", path, why);
	return 1;
}

/* The document in `text`, or NULL with why in `why`. */
static json_t *parse_document(const char *text, size_t len, char *why, size_t cap)
{
	json_error_t err = { 0 };
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);

	if (!doc) {
		snprintf(why, cap, "%s (line %d)", err.text, err.line);
		return NULL;
	}
	if (!json_is_object(doc) || number_of(doc, "format") != STATUS_FORMAT) {
		snprintf(why, cap, "not a status document of format %d", STATUS_FORMAT);
		json_decref(doc);
		return NULL;
	}
	clean_strings(doc, 0);
	return doc;
}

int status__print(const char *text, size_t len, const char *output_dir, bool live, pid_t pid, double now, bool json,
		  FILE *out, FILE *err)
{
	char why[256];
	json_t *doc = parse_document(text, len, why, sizeof(why));
	const char *cond;
	double elapsed, eta;
	int code = 0;

	if (!doc) {
		fprintf(err, "fedc-researcher: status: %s/" STATUS_FILE " is damaged: %s; the run's records are "
				"history.jsonl and breakpoints/\n",
			output_dir, why);
		return 1;
	}
	cond = condition(doc, live);
	elapsed = (live ? now : number_of(doc, "updated_at")) - number_of(doc, "started_at");
	eta = strcmp(cond, "running") == 0 ? eta_of(doc, now) : 0;
	if (json)
		code = print_json(out, err, doc, cond, live, elapsed, eta);
	else
		print_text(out, output_dir, doc, cond, pid, elapsed, eta);
	json_decref(doc);
	return code;
}

/* The status file's bytes (at most STATUS_MAX_BYTES) into *text (malloc'd). */
static int read_status(const char *output_dir, const char *path, char **text, size_t *len)
{
	struct stat st;
	FILE *f;

	*text = NULL;
	if (stat(path, &st) != 0)
		return no_status(output_dir, path, errno == ENOENT, strerror(errno));
	if (st.st_size > STATUS_MAX_BYTES)
		return no_status(output_dir, path, false, "larger than any status file");
	f = fopen(path, "rb");
	*text = f ? malloc((size_t)st.st_size + 1) : NULL;
	*len = *text ? fread(*text, 1, (size_t)st.st_size, f) : 0;
	if (f)
		fclose(f);
	if (!*text)
		return no_status(output_dir, path, false, f ? "out of memory" : strerror(errno));
	return 0;
}

int status__show(const char *output_dir, bool json)
{
	char path[4200], *text = NULL;
	size_t len = 0;
	pid_t pid = 0;
	bool live;
	int code;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", output_dir, STATUS_FILE) >= sizeof(path)) {
		fprintf(stderr, "fedc-researcher: status: path too long: %s\n", output_dir);
		return 1;
	}
	code = read_status(output_dir, path, &text, &len);
	if (code)
		return code;
	live = run_control__live(output_dir, &pid);
	code = status__print(text, len, output_dir, live, pid, wall_now(), json, stdout, stderr);
	free(text);
	return code;
}
