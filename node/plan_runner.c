/* The plan process (`fedc-node __run-plan ...`): it runs under the limits
 * sandbox.c set, loads the data and the plan once, then serves rounds. Each
 * round is one request on the control socket (fd 3): the round's arguments,
 * NUL-separated, with a memfd for the new parameters attached. For each it
 * evaluates the received parameters, trains, evaluates again, writes the new
 * parameters into that memfd, and reports on fd 4, one line per item:
 *   samples <n_train> <n_test> | global <metric> <value> | local <metric> <value>
 *   scalar <name> <value> <iteration> <epoch> | error <text> | refused <text> | done
 * (plan_report.h says what each means and what the node accepts)
 * An evaluate-only round with --assess (predict, explain: plan_assess.h)
 * writes the assessment's output into that memfd instead of parameters;
 * predict's views are then the whole dataset, in file order.
 * A round ends with `done`; a failed round ends the process (exit code not 0),
 * so that no plan state survives a failure. End of file on fd 3 means no more
 * rounds: the process exits 0.
 * The seccomp filter (seccomp_policy.c) goes on after the dataset is loaded
 * and before the plan is, so that no plan code runs without it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dataset.h"
#include "fedc/clock.h"
#include "fedc/config.h"
#include "fedc/params.h"
#include "fedc/plan_abi.h"
#include "local_params.h"
#include "plan_assess.h"
#include "plan_report.h"
#include "sandbox.h"
#include "scaffold_client.h"
#include "seccomp_policy.h"
#include "split.h"

struct runner_job {
	const char *plan_path;
	int params_fd;               /* this round's global parameters */
	struct node_dataset dataset;
	double test_ratio;
	uint64_t split_seed;
	bool stratified;             /* --split=stratified (split.h) */
	struct node_dataset test_set; /* --test-*: a registered test set, path "" if none */
	struct fedc_data test_data;  /* loaded with the dataset, before the filter */
	struct fedc_train_args train;
	bool evaluate_only;
	bool skip_test_global, skip_test_local;
	const char *scaffold_state;  /* this job's c_i file (read only here) */
	uint32_t plan_features;      /* the plan's fedc_plan_features, 0 if none */
	struct fedc_arg args[32];
	char arg_names[32][FEDC_MAX_NAME_LEN + 1];
	size_t n_args;
	int update_fd;               /* this round's memfd for the new parameters */
	struct plan_assess_args assess; /* --assess: kind "" when the round assesses nothing */
};

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	for (int i = 0; i < n; i++) {
		if (line[i] == '\n')
			line[i] = ' ';
	}
	line[n++] = '\n';
	(void)!write(SANDBOX_REPORT_FD, line, (size_t)n);
}

/* Metric names travel in a space-separated line: only those the node's
 * report parser takes (plan_report.h) are sent. */
static bool metric_name_ok(const char *name)
{
	return plan_report__name_ok(name, strnlen(name, FEDC_PLAN_METRIC_NAME_LEN));
}

/* Streams scalars at most every 50 ms, so that a plan reporting every batch
 * costs no more than a few writes a second. */
static void on_scalar(void *ctx, const char *name, double value, uint64_t iteration, uint32_t epoch)
{
	static int64_t last_ms;
	int64_t now = fedc_now_ms();

	(void)ctx;
	if (!name || !metric_name_ok(name) || now - last_ms < 50)
		return;
	last_ms = now;
	report("scalar %s %.9g %" PRIu64 " %" PRIu32, name, value, iteration, epoch);
}

/* A failed call of the plan, reported with what the plan said of it
 * (fedc_plan_error(), ABI 2). `final`: the plan refused what the job asked
 * (its [model] arguments, the parameters' layout, its data as prepare()
 * sees it), which the same round would meet again, so the report says
 * `refused` and the researcher does not retry. */
static void report_failure(const struct fedc_plan *plan, bool final, const char *what)
{
	char said[FEDC_PLAN_ERROR_LEN];

	fedc_plan_said(plan, said, sizeof(said));
	if (said[0])
		report("%s %s: %s", final ? "refused" : "error", what, said);
	else
		report("%s %s (the plan gave no reason: plans can with fedc_plan_error(), docs/plan-api.md)",
		       final ? "refused" : "error", what);
}

static void report_metrics(const char *kind, const struct fedc_metrics *m)
{
	for (size_t i = 0; i < m->count && i < FEDC_PLAN_MAX_METRICS; i++) {
		if (metric_name_ok(m->items[i].name))
			report("%s %s %.17g", kind, m->items[i].name, m->items[i].value);
	}
}

/* ---- arguments ---- */

/* A whole number in [min, max] into *out, of whatever unsigned width: the
 * one integer parser (fedc_parse_int), so that "-1", "12x" or a value past
 * the field's width is refused rather than wrapped or cut. */
static bool parse_uint(const char *s, int64_t max, uint64_t *out)
{
	int64_t v;

	if (!fedc_parse_int(s, 0, max, &v))
		return false;
	*out = (uint64_t)v;
	return true;
}

/* A seed: all 64 bits, which the parent writes as a signed number (two's
 * complement, sandbox.c) so that fedc_parse_int takes every value. */
static bool parse_seed(const char *s, uint64_t *out)
{
	int64_t v;

	if (!fedc_parse_int(s, INT64_MIN, INT64_MAX, &v))
		return false;
	*out = (uint64_t)v;
	return true;
}

static bool copy_field(char *dst, size_t cap, const char *src)
{
	if (strlen(src) >= cap)
		return false;
	memcpy(dst, src, strlen(src) + 1);
	return true;
}

static bool add_model_arg(struct runner_job *job, const char *spec)
{
	const char *eq = strchr(spec, '=');
	size_t len = eq ? (size_t)(eq - spec) : 0;

	if (!eq || len == 0 || len > FEDC_MAX_NAME_LEN || job->n_args >= 32)
		return false;
	memcpy(job->arg_names[job->n_args], spec, len);
	job->arg_names[job->n_args][len] = '\0';
	job->args[job->n_args].name = job->arg_names[job->n_args];
	if (!fedc_parse_double(eq + 1, &job->args[job->n_args].value))
		return false;
	job->n_args++;
	return true;
}

static bool parse_option(struct runner_job *job, int opt, const char *v)
{
	uint64_t u;
	int64_t i;

	switch (opt) {
	case 'p': job->plan_path = v; return true;
	case 'd': return copy_field(job->dataset.path, sizeof(job->dataset.path), v);
	case 'D': return copy_field(job->dataset.digest, sizeof(job->dataset.digest), v);
	case 't': return copy_field(job->dataset.type, sizeof(job->dataset.type), v);
	case 'h': return copy_field(job->dataset.header, sizeof(job->dataset.header), v);
	case 'l': if (!fedc_parse_int(v, -1, INT32_MAX, &i)) return false; job->dataset.label_column = (int32_t)i; return true;
	case 'c': if (!parse_uint(v, UINT32_MAX, &u)) return false; job->dataset.n_classes = (uint32_t)u; return true;
	case 'N': return parse_uint(v, INT64_MAX, &job->dataset.n_samples);
	case 'F': return parse_uint(v, INT64_MAX, &job->dataset.n_features);
	case 'n': return copy_field(job->dataset.name, sizeof(job->dataset.name), v);
	case 'y': return copy_field(job->dataset.labels_path, sizeof(job->dataset.labels_path), v);
	case 'O': return copy_field(job->dataset.options, sizeof(job->dataset.options), v);
	case 'x': if (strcmp(v, "stratified") && strcmp(v, "random")) return false;
		  job->stratified = strcmp(v, "stratified") == 0; return true;
	case 1000: return copy_field(job->test_set.path, sizeof(job->test_set.path), v);
	case 1001: return copy_field(job->test_set.digest, sizeof(job->test_set.digest), v);
	case 1002: return copy_field(job->test_set.type, sizeof(job->test_set.type), v);
	case 1003: return copy_field(job->test_set.header, sizeof(job->test_set.header), v);
	case 1004: if (!fedc_parse_int(v, -1, INT32_MAX, &i)) return false; job->test_set.label_column = (int32_t)i; return true;
	case 1005: if (!parse_uint(v, UINT32_MAX, &u)) return false; job->test_set.n_classes = (uint32_t)u; return true;
	case 1006: return parse_uint(v, INT64_MAX, &job->test_set.n_samples);
	case 1007: return parse_uint(v, INT64_MAX, &job->test_set.n_features);
	case 1008: return copy_field(job->test_set.name, sizeof(job->test_set.name), v);
	case 1009: return copy_field(job->test_set.labels_path, sizeof(job->test_set.labels_path), v);
	case 1010: return copy_field(job->test_set.options, sizeof(job->test_set.options), v);
	case 'r': return fedc_parse_double(v, &job->test_ratio);
	case 's': return parse_seed(v, &job->split_seed);
	case 'S': return parse_seed(v, &job->train.seed);
	case 'L': return fedc_parse_double(v, &job->train.lr);
	case 'e': if (!parse_uint(v, UINT32_MAX, &u)) return false; job->train.epochs = (uint32_t)u; return true;
	case 'u': if (!parse_uint(v, UINT32_MAX, &u)) return false; job->train.num_updates = (uint32_t)u; return true;
	case 'b': if (!parse_uint(v, UINT32_MAX, &u)) return false; job->train.batch_size = (uint32_t)u; return true;
	case 'm': return fedc_parse_double(v, &job->train.fedprox_mu);
	case 'o': job->train.optimizer = v; return true;
	case 'E': job->evaluate_only = true; return true;
	case 'G': job->skip_test_global = true; return true;
	case 'C': job->scaffold_state = v; return true;
	case 'T': job->skip_test_local = true; return true;
	case 'a': return add_model_arg(job, v);
	case 1100: return copy_field(job->assess.kind, sizeof(job->assess.kind), v);
	case 1101: if (!parse_uint(v, PLAN_ASSESS_MAX_REPEATS, &u) || u == 0) return false;
		   job->assess.repeats = (uint32_t)u; return true;
	case 1102: return copy_field(job->assess.metric, sizeof(job->assess.metric), v);
	case 1103: return parse_seed(v, &job->assess.seed);
	case 1104: job->assess.args = v; return true; /* in the request buffer, alive for the round */
	default: return false;
	}
}

/* Parses options into `job`: the process's arguments at start, then each
 * round's. Returns false on an unknown or malformed option. */
static bool parse_options(int argc, char **argv, struct runner_job *job)
{
	static const struct option options[] = {
		{ "plan", required_argument, NULL, 'p' },
		{ "data", required_argument, NULL, 'd' }, { "data-digest", required_argument, NULL, 'D' },
		{ "data-type", required_argument, NULL, 't' }, { "data-header", required_argument, NULL, 'h' },
		{ "label-column", required_argument, NULL, 'l' }, { "n-classes", required_argument, NULL, 'c' },
		{ "test-ratio", required_argument, NULL, 'r' }, { "split-seed", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' }, { "lr", required_argument, NULL, 'L' },
		{ "epochs", required_argument, NULL, 'e' }, { "num-updates", required_argument, NULL, 'u' },
		{ "batch-size", required_argument, NULL, 'b' }, { "fedprox-mu", required_argument, NULL, 'm' },
		{ "optimizer", required_argument, NULL, 'o' }, { "evaluate-only", no_argument, NULL, 'E' },
		{ "no-test-global", no_argument, NULL, 'G' }, { "no-test-local", no_argument, NULL, 'T' },
		{ "scaffold-state", required_argument, NULL, 'C' },
		{ "arg", required_argument, NULL, 'a' }, { "n-samples", required_argument, NULL, 'N' },
		{ "n-features", required_argument, NULL, 'F' }, { "data-name", required_argument, NULL, 'n' },
		{ "data-labels", required_argument, NULL, 'y' }, { "split", required_argument, NULL, 'x' },
		{ "test-data", required_argument, NULL, 1000 }, { "test-data-digest", required_argument, NULL, 1001 },
		{ "test-data-type", required_argument, NULL, 1002 }, { "test-data-header", required_argument, NULL, 1003 },
		{ "test-label-column", required_argument, NULL, 1004 }, { "test-n-classes", required_argument, NULL, 1005 },
		{ "test-n-samples", required_argument, NULL, 1006 }, { "test-n-features", required_argument, NULL, 1007 },
		{ "test-data-name", required_argument, NULL, 1008 }, { "test-data-labels", required_argument, NULL, 1009 },
		{ "data-options", required_argument, NULL, 'O' }, { "test-data-options", required_argument, NULL, 1010 },
		{ "assess", required_argument, NULL, 1100 }, { "assess-repeats", required_argument, NULL, 1101 },
		{ "assess-metric", required_argument, NULL, 1102 }, { "assess-seed", required_argument, NULL, 1103 },
		{ "assess-args", required_argument, NULL, 1104 },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 0; /* glibc: start over, as for a new argv */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (!parse_option(job, opt, optarg)) {
			report("error bad runner argument for option %c", opt);
			return false;
		}
	}
	return optind == argc;
}

/* A round's options: a dozen fixed ones and up to 32 model arguments. */
#define MAX_ROUND_ARGS 64

/* Forgets the previous round's arguments before the next one's. */
static void clear_round(struct runner_job *job)
{
	memset(&job->train, 0, sizeof(job->train));
	job->evaluate_only = false;
	job->skip_test_global = false;
	job->skip_test_local = false;
	job->scaffold_state = NULL;
	job->n_args = 0;
	memset(&job->assess, 0, sizeof(job->assess));
	job->params_fd = -1;
	job->update_fd = -1;
}

/* The two files attached to a request: the global parameters and the
 * memfd for the new ones. False unless exactly those (the process then
 * ends, closing whatever came). */
static bool attached_fds(struct msghdr *msg, struct runner_job *job)
{
	struct cmsghdr *c = CMSG_FIRSTHDR(msg);
	int fds[2];

	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(fds)))
		return false;
	memcpy(fds, CMSG_DATA(c), sizeof(fds));
	job->params_fd = fds[0];
	job->update_fd = fds[1];
	return true;
}

/* Waits for the next round's request and parses it into `job`, keeping its
 * text in `buf`. Returns 1 for a round, 0 when the parent has no more, -1
 * when the request is malformed (reported). */
static int next_round(struct runner_job *job, char *buf, size_t cap)
{
	union {
		char bytes[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { buf, cap - 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
			      .msg_controllen = sizeof(control.bytes) };
	char *argv[MAX_ROUND_ARGS + 2];
	int argc = 0;
	ssize_t n;

	do
		n = recvmsg(SANDBOX_CONTROL_FD, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	clear_round(job);
	if (n < 0 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !attached_fds(&msg, job)) {
		report("error malformed round request from the node");
		return -1;
	}
	buf[n] = '\0';
	argv[argc++] = "round";
	for (char *p = buf; p < buf + n && argc <= MAX_ROUND_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	if (argc > MAX_ROUND_ARGS || !parse_options(argc, argv, job)) {
		report("error malformed round request from the node");
		return -1;
	}
	return 1;
}

/* ---- the round ---- */

static const struct fedc_plan *load_plan(const char *path, uint32_t *features)
{
	void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	const struct fedc_plan *plan;
	const uint32_t *mask;

	if (!handle) {
		report("error cannot load the plan: %s", dlerror());
		return NULL;
	}
	plan = dlsym(handle, FEDC_PLAN_SYMBOL);
	if (fedc_plan_abi_check(plan, "node") != FEDC_OK) {
		report("refused %s", fedc_last_error());
		return NULL;
	}
	mask = dlsym(handle, FEDC_PLAN_FEATURES_SYMBOL);
	*features = mask ? *mask : 0;
	if (!plan->create || !plan->get_params || !plan->set_params || !plan->train || !plan->evaluate ||
	    !plan->destroy) {
		report("error the plan leaves a required function NULL");
		return NULL;
	}
	return plan;
}

/* The local step count SCAFFOLD needs: the plan's "num_updates" metric. */
static uint64_t reported_steps(const struct fedc_metrics *m)
{
	for (size_t i = 0; i < m->count && i < FEDC_PLAN_MAX_METRICS; i++) {
		if (strcmp(m->items[i].name, "num_updates") == 0 && m->items[i].value > 0)
			return (uint64_t)m->items[i].value;
	}
	return 0;
}

/* The new parameters, with SCAFFOLD's control-variate deltas when `sr`,
 * and the local tensors `lp` names. */
static int write_update(const struct runner_job *job, const struct scaffold_round *sr, struct local_params *lp,
			const struct fedc_tensor *tensors, size_t count, const struct fedc_metrics *train_metrics)
{
	const struct fedc_tensor *extra = NULL;
	size_t n_extra = 0;
	enum fedc_err rc;

	if ((sr && count != sr->n) || count != lp->n) {
		report("error the plan has %zu parameter tensors, the global parameters %zu", count, lp->n);
		return 1;
	}
	rc = local_params__extra(lp, tensors, &extra, &n_extra);
	if (!rc)
		rc = sr ? scaffold__write_update(job->update_fd, sr, tensors, reported_steps(train_metrics),
						 job->train.lr, extra, n_extra)
			: local_params__write(job->update_fd, tensors, count, extra, n_extra);
	if (rc) {
		report("error cannot write the new parameters: %s", fedc_last_error());
		return 1;
	}
	return 0;
}

/* The round's assessment (plan_assess.h), written into the update memfd,
 * which an evaluate-only round leaves empty otherwise. */
static int assess_and_report(const struct runner_job *job, const struct fedc_plan *plan, void *model,
			     struct fedc_data *data)
{
	char why[512];
	bool final;

	if (plan_assess__run(&job->assess, plan, model, data, job->update_fd, why, sizeof(why), &final) == 0)
		return 0;
	report("%s %s", final ? "refused" : "error", why);
	return 1;
}

static int train_and_report(const struct runner_job *job, const struct fedc_plan *plan, void *model,
			    struct fedc_data *train, struct fedc_data *test, const struct scaffold_round *sr,
			    struct local_params *lp)
{
	struct fedc_train_args targs = job->train;
	struct fedc_metrics train_metrics = { 0 };
	struct fedc_reporter reporter = { NULL, on_scalar };
	struct fedc_metrics metrics = { 0 };
	const struct fedc_tensor *tensors = NULL;
	size_t count = 0;

	/* The final evaluation always tests the global parameters. */
	if (test->n_samples && (!job->skip_test_global || job->evaluate_only)) {
		if (plan->evaluate(model, test, &metrics) != 0) {
			report_failure(plan, false, "the plan's evaluate() failed on the received parameters");
			return 1;
		}
		report_metrics("global", &metrics);
	}
	if (job->evaluate_only)
		return job->assess.kind[0] ? assess_and_report(job, plan, model, test) : 0;
	memset(&metrics, 0, sizeof(metrics));
	if (sr) {
		targs.scaffold_correction = sr->correction;
		targs.n_scaffold_correction = sr->n;
	}
	if (plan->train(model, train, &targs, &reporter, &metrics) != 0) {
		report_failure(plan, false, "the plan's train() failed");
		return 1;
	}
	train_metrics = metrics;
	report_metrics("local", &metrics); /* training metrics, e.g. loss */
	if (test->n_samples && !job->skip_test_local) {
		struct fedc_metrics test_metrics = { 0 };

		if (plan->evaluate(model, test, &test_metrics) != 0) {
			report_failure(plan, false, "the plan's evaluate() failed after training");
			return 1;
		}
		for (size_t i = 0; i < test_metrics.count && i < FEDC_PLAN_MAX_METRICS; i++) {
			char name[FEDC_PLAN_METRIC_NAME_LEN];

			snprintf(name, sizeof(name), "test_%.50s", test_metrics.items[i].name);
			if (metric_name_ok(name))
				report("local %s %.17g", name, test_metrics.items[i].value);
		}
	}
	if (plan->get_params(model, &tensors, &count) != 0) {
		report_failure(plan, false, "the plan's get_params() failed");
		return 1;
	}
	return write_update(job, sr, lp, tensors, count, &train_metrics);
}

static int run_round(const struct runner_job *job, const struct fedc_plan *plan, struct fedc_data *all)
{
	struct fedc_args model_args = { job->args, job->n_args };
	struct fedc_data train = { 0 }, test = { 0 };
	struct fedc_params *global = NULL;
	struct scaffold_round sr = { 0 };
	struct local_params lp = { 0 };
	void *model = NULL;
	size_t n_model = 0;
	bool scaffold = false;
	int code = 1;
	enum fedc_err rc;

	rc = fedc_params_open_fd(job->params_fd, &global);
	if (!rc)
		rc = fedc_params_check_f32(global); /* a plan gets float32 tensors only */
	if (!rc)
		rc = scaffold__split(global, &n_model, &scaffold);
	if (rc) {
		report("error the global parameters are unreadable: %s", fedc_last_error());
		goto out;
	}
	if (scaffold && !(job->plan_features & FEDC_PLAN_FEATURE_SCAFFOLD) && !job->evaluate_only) {
		report("refused the experiment uses SCAFFOLD, and this plan does not apply its correction (it does not "
		       "export fedc_plan_features with FEDC_PLAN_FEATURE_SCAFFOLD; plans on the SDK's training loop do)");
		goto out;
	}
	if (scaffold && !job->evaluate_only &&
	    scaffold__begin(global, n_model, job->scaffold_state ? job->scaffold_state : "", &sr) != FEDC_OK) {
		report("error %s", fedc_last_error());
		goto out;
	}
	/* A separately registered test set is the test view whole; else the
	 * rows are split (split.h). Fresh copies: prepare() may change them. */
	if (strcmp(job->assess.kind, "predict") == 0) {
		/* predict runs on every row, in the dataset's order: the test view
		 * is the whole dataset (and so is the train view prepare() fits on) */
		rc = split__copy(all, &train);
		if (!rc)
			rc = split__copy(all, &test);
	} else {
		rc = job->test_data.n_samples ? split__copy(all, &train)
					      : split__rows(all, job->test_ratio, job->split_seed, job->stratified,
							    &train, &test);
		if (!rc && job->test_data.n_samples)
			rc = split__copy(&job->test_data, &test);
	}
	if (rc) {
		report("error out of memory while splitting the dataset");
		goto out;
	}
	/* the report's counts may not exceed the dataset's rows */
	report("samples %zu %zu", job->assess.kind[0] == 'p' ? (size_t)0 : train.n_samples, test.n_samples);
	if (plan->create(&model_args, job->train.seed, &model) != 0 || !model) {
		report_failure(plan, true, "the plan's create() refused the [model] arguments");
		goto out;
	}
	rc = local_params__begin(plan, model, fedc_params_tensors(global), n_model, job->scaffold_state, &lp);
	if (rc) { /* the plan's param_roles refusing is final */
		report("%s %s", rc == FEDC_ERR_PLAN ? "refused" : "error", fedc_last_error());
		goto out;
	}
	if (plan->set_params(model, lp.tensors, n_model) != 0) {
		report_failure(plan, true, "the plan refused the global parameters (names or shapes differ)");
		goto out;
	}
	if (plan->prepare && plan->prepare(model, &train, &test) != 0) {
		report_failure(plan, true, "the plan's prepare() refused this round");
		goto out;
	}
	code = train_and_report(job, plan, model, &train, &test, scaffold && !job->evaluate_only ? &sr : NULL, &lp);
out:
	local_params__end(&lp);
	scaffold__end(&sr);
	if (model)
		plan->destroy(model);
	fedc_params_close(global);
	free(train.x);
	free(train.y);
	free(test.x);
	free(test.y);
	return code;
}

/* A plan built before ABI 3 reads neither sample_shape, label_width nor the
 * schema: it would take a mask's voxels for one target, or a category's
 * index or a missing cell (NAN) for a measurement. Such data is refused it
 * (docs/plan-api.md, "ABI versions"). */
static bool data_fits_plan(const struct fedc_plan *plan, const struct fedc_data *d, const char *which)
{
	const struct fedc_table_schema *schema = d->schema;

	if (plan->abi_version >= 3 || d->n_samples == 0)
		return true;
	if (d->sample_ndim > 0 && d->label_width > 1) {
		report("refused the plan is built for plan ABI %u, and the %s has %zu targets per sample (a segmentation "
		       "mask), which plans read from ABI 3 on: rebuild the plan against this SDK", plan->abi_version, which,
		       d->label_width);
		return false;
	}
	for (uint32_t c = 0; schema && c < schema->n_columns; c++) {
		const struct fedc_column *col = &schema->columns[c];

		if (col->type != FEDC_COLUMN_NUMERIC || col->n_missing > 0) {
			report("refused the plan is built for plan ABI %u, and column \"%s\" of the %s is %s, which plans "
			       "read from ABI 3 on: rebuild the plan against this SDK", plan->abi_version, col->name, which,
			       col->type != FEDC_COLUMN_NUMERIC ? "not numeric" : "missing cells");
			return false;
		}
	}
	return true;
}

/* Serves rounds until the parent closes the control socket or one fails. */
static int serve_rounds(struct runner_job *job, const struct fedc_plan *plan, struct fedc_data *all)
{
	char *request = malloc(SANDBOX_REQUEST_MAX + 1);
	int got, code = 2;

	if (!request) {
		report("error out of memory");
		return 2;
	}
	while ((got = next_round(job, request, SANDBOX_REQUEST_MAX + 1)) > 0) {
		code = run_round(job, plan, all);
		close(job->params_fd);
		close(job->update_fd);
		if (code != 0)
			break;
		report("done");
	}
	if (got == 0)
		code = 0;
	free(request);
	return code;
}

/* A plan allocates its model in create() and frees it in destroy(), every
 * round, and the runner copies the round's rows the same way. glibc serves an
 * allocation over 32 MiB with its own mmap and gives it back at free, and
 * trims its heap's top: every round then faults those pages in fresh, which
 * on this VM costs twice (docs/benchmarks.md, "Fresh pages cost twice"); at
 * P=1e8 the identity plan's create() was the largest single cost of a round.
 * The process serves one job's rounds, so its heap keeps what a round freed
 * for the next: no allocation by mmap, no trimming. Its resident memory
 * between rounds is then its last round's peak, which the node's memory
 * limit already allowed; it is given back when the process ends (the job's
 * end, or plan_process_idle_s). */
static void keep_heap_between_rounds(void)
{
	(void)mallopt(M_MMAP_MAX, 0);
	(void)mallopt(M_TRIM_THRESHOLD, INT_MAX);
}

int plan_runner__main(int argc, char **argv)
{
	struct runner_job *job = calloc(1, sizeof(*job));
	struct fedc_data all = { 0 };
	const struct fedc_plan *plan;
	int code = 2;

	keep_heap_between_rounds();
	if (!job || !parse_options(argc, argv, job) || !job->plan_path || !job->dataset.path[0]) {
		report("error incomplete runner arguments");
		goto out;
	}
	if (dataset__load(&job->dataset, &all) != FEDC_OK) {
		report("error cannot load the dataset: %s", fedc_last_error());
		goto out;
	}
	if (job->test_set.path[0] && dataset__load(&job->test_set, &job->test_data) != FEDC_OK) {
		report("error cannot load the test set \"%s\": %s", job->test_set.name, fedc_last_error());
		goto out;
	}
	/* From here on the process runs plan code (its constructors run inside
	 * dlopen), so the filter goes on first. Everything later only reads
	 * files (the plan, the global parameters) and writes to the channels
	 * the parent gave it. */
	if (seccomp_policy__install() != FEDC_OK) {
		report("error sandbox: %s; the plan was not run", fedc_last_error());
		goto out;
	}
	plan = load_plan(job->plan_path, &job->plan_features);
	if (plan && data_fits_plan(plan, &all, "dataset") && data_fits_plan(plan, &job->test_data, "test set"))
		code = serve_rounds(job, plan, &all);
out:
	dataset__free_data(&all);
	if (job)
		dataset__free_data(&job->test_data);
	free(job);
	return code;
}
