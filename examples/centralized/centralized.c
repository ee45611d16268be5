/* fedc-centralized: trains an experiment's plan centrally, on one CSV (or IDX
 * set) holding all the data, as the baseline a federated run is judged by.
 *
 *   fedc-centralized [options] EXPERIMENT.ini DATA
 *
 * It runs what a node runs for a round, with the node's own code, once:
 * - the experiment file is read by the researcher's loader (plan, [model],
 *   [training], seed), and the initial parameters are built by the
 *   researcher's initial__params(), so they are the ones a federated run
 *   starts from;
 * - the data is inspected and loaded by the node's dataset code
 *   (dataset__inspect here, dataset__load in the child), never parsed again;
 * - the round itself is the node's sandbox__run() and plan runner: this
 *   binary re-executes itself as `fedc-centralized __run-plan ...`, which
 *   enters plan_runner__main() just as `fedc-node __run-plan` does, so the
 *   train/test split (split_data in node/plan_runner.c), prepare(),
 *   evaluate(), train() and the sandbox are the node's, byte for byte;
 * - the round trains rounds x epochs (or rounds x num_updates) in one go;
 * - with --test (and --test-labels for IDX), that file is the data's test
 *   set, as `fedc-node dataset add --test-of` registers one: all of DATA is
 *   trained on and the test metrics are the test set's (test_ratio plays no
 *   part), e.g. Fashion-MNIST's 60000 training images against t10k.
 *
 * Seeds are the node's (round__split_seed, round__train_seed): the test rows
 * are the ones a node holding the same file keeps out; the training seed is
 * the one node --node-id (default "centralized") would get in round 1 with
 * `[privacy] secret_training_seed = false` (a node's secret key otherwise
 * changes its seed, and no outside tool can know it). With rounds = 1 and
 * the node's id, the run repeats that node's round 1.
 *
 * Output (stdout), one "<kind> <name> <value>" line each, values in %.17g:
 *   samples <n_train> <n_test>
 *   initial <metric> <value>   the initial parameters on the test rows
 *   train <metric> <value>     what train() reported (training rows)
 *   test <metric> <value>      the trained parameters on the test rows
 * Exit codes: 0, 1 (the run failed), 2 (usage). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas_env.h"
#include "dataset.h"
#include "experiment.h"
#include "fedc/fs.h"
#include "fedc/log.h"
#include "initial_params.h"
#include "plan_build.h"
#include "round.h"
#include "sandbox.h"

#define DEFAULT_TIMEOUT_S (24 * 3600)
#define DEFAULT_MEMORY_MB 4096 /* the node's default [limits] memory_mb */

struct options {
	const char *experiment;
	const char *data;
	const char *node_id;
	const char *output;
	struct dataset_options data_opts;
	const char *labels;      /* IDX: the labels file */
	const char *test, *test_labels; /* a test set (and its IDX labels), or NULL */
	int64_t timeout_s;
};

/* ---- arguments ---- */

static int usage(FILE *f)
{
	fprintf(f,
		"usage: fedc-centralized [options] EXPERIMENT.ini DATA\n"
		"Trains the experiment's plan on DATA alone for rounds x epochs, with the node's data\n"
		"loading, train/test split and plan runner, and prints the test metrics.\n"
		"  --regression            the target is a real value (as fedc-node dataset add)\n"
		"  --header MODE           auto (default), counts, names, none\n"
		"  --label-column K        column of the target (default -1: the last)\n"
		"  --type csv|idx          dataset type (default csv); idx needs --labels FILE\n"
		"  --labels FILE           IDX labels file\n"
		"  --test FILE             train on all of DATA and test on FILE (same type and options)\n"
		"  --test-labels FILE      the test set's IDX labels file\n"
		"  --node-id ID            train with the seed node ID gets in round 1 (default centralized)\n"
		"  --output FILE           write the trained parameters (parameter file format)\n"
		"  --timeout S             wall-clock limit of the training, seconds (default 86400)\n");
	return 2;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_REGRESSION = 256, OPT_HEADER, OPT_LABEL_COLUMN, OPT_TYPE, OPT_LABELS, OPT_NODE_ID, OPT_OUTPUT,
	       OPT_TIMEOUT, OPT_TEST, OPT_TEST_LABELS, OPT_HELP };
	static const struct option options[] = {
		{ "regression", no_argument, NULL, OPT_REGRESSION }, { "header", required_argument, NULL, OPT_HEADER },
		{ "label-column", required_argument, NULL, OPT_LABEL_COLUMN },
		{ "type", required_argument, NULL, OPT_TYPE }, { "labels", required_argument, NULL, OPT_LABELS },
		{ "node-id", required_argument, NULL, OPT_NODE_ID }, { "output", required_argument, NULL, OPT_OUTPUT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT }, { "help", no_argument, NULL, OPT_HELP },
		{ "test", required_argument, NULL, OPT_TEST }, { "test-labels", required_argument, NULL, OPT_TEST_LABELS },
		{ NULL, 0, NULL, 0 },
	};
	char *end = NULL;
	long v;
	int opt;

	*o = (struct options){ .node_id = "centralized", .timeout_s = DEFAULT_TIMEOUT_S };
	o->data_opts = (struct dataset_options){ .type = "csv", .header = "auto", .label_column = -1 };
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_REGRESSION: o->data_opts.regression = true; break;
		case OPT_HEADER: o->data_opts.header = optarg; break;
		case OPT_TYPE: o->data_opts.type = optarg; break;
		case OPT_LABELS: o->labels = optarg; break;
		case OPT_TEST: o->test = optarg; break;
		case OPT_TEST_LABELS: o->test_labels = optarg; break;
		case OPT_NODE_ID: o->node_id = optarg; break;
		case OPT_OUTPUT: o->output = optarg; break;
		case OPT_LABEL_COLUMN:
		case OPT_TIMEOUT:
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < (opt == OPT_TIMEOUT ? 1 : -1) || v > INT32_MAX)
				return usage(stderr);
			if (opt == OPT_TIMEOUT)
				o->timeout_s = v;
			else
				o->data_opts.label_column = (int)v;
			break;
		case OPT_HELP: usage(stdout); return 1;
		default: return usage(stderr);
		}
	}
	if (argc - optind != 2 || !o->node_id[0] || (o->test_labels && !o->test))
		return usage(stderr);
	o->experiment = argv[optind];
	o->data = argv[optind + 1];
	return 0;
}

/* ---- the run ---- */

/* A dataset (`data`, IDX `labels` or NULL) as `fedc-node dataset add` would
 * register it, named `name`. */
static enum fedc_err inspect_data(const struct options *o, const char *name, const char *data, const char *labels,
				  struct node_dataset *ds)
{
	memset(ds, 0, sizeof(*ds));
	snprintf(ds->name, sizeof(ds->name), "%s", name);
	if (!realpath(data, ds->path))
		return fedc_fail(FEDC_ERR_IO, "%s: %s", data, strerror(errno));
	if (labels && !realpath(labels, ds->labels_path))
		return fedc_fail(FEDC_ERR_IO, "%s: %s", labels, strerror(errno));
	return dataset__inspect(ds, &o->data_opts);
}

/* rounds x per_round, refusing what the plan ABI's uint32 cannot hold. */
static enum fedc_err total(uint32_t rounds, uint32_t per_round, const char *what, uint32_t *out)
{
	uint64_t t = (uint64_t)rounds * per_round;

	if (t > UINT32_MAX)
		return fedc_fail(FEDC_ERR_INVAL, "%" PRIu32 " rounds x %" PRIu32 " %s is too many", rounds, per_round,
				 what);
	*out = (uint32_t)t;
	return FEDC_OK;
}

/* The job fill_job() in node/round.c would build, but for all the rounds at once. */
static enum fedc_err fill_job(const struct options *o, const struct experiment *exp, const struct node_dataset *ds,
			      const char *params_path, const struct fedc_args *model_args, struct sandbox_job *job)
{
	struct fedc_train_args *t = &job->train_args;
	enum fedc_err rc;

	memset(job, 0, sizeof(*job));
	job->plan_path = exp->plan_path;
	job->params_fd = open(params_path, O_RDONLY | O_CLOEXEC);
	if (job->params_fd < 0)
		return fedc_fail(FEDC_ERR_IO, "%s: %s", params_path, strerror(errno));
	job->dataset = ds;
	job->test_ratio = exp->test_ratio;
	job->split_seed = round__split_seed(exp->seed, ds->digest);
	job->model_args = model_args;
	t->lr = exp->lr;
	rc = total(exp->rounds, exp->epochs, "epochs", &t->epochs);
	if (!rc)
		rc = total(exp->rounds, exp->num_updates, "updates", &t->num_updates);
	t->batch_size = exp->batch_size ? exp->batch_size : 32;
	t->seed = round__train_seed(exp->seed, 1, o->node_id);
	/* The proximal term pulls towards the parameters a round started from:
	 * a federated device with no centralized counterpart. */
	t->fedprox_mu = 0.0;
	t->optimizer = exp->optimizer[0] ? exp->optimizer : "sgd";
	job->timeout_s = o->timeout_s;
	job->cpu_seconds = o->timeout_s;
	job->memory_mb = DEFAULT_MEMORY_MB;
	return rc;
}

/* Prints the metrics whose name starts with `prefix` (stripped), or, with
 * `prefix` NULL, all of them. */
static void print_metrics(const char *kind, const struct fedc_metrics *m, const char *prefix, bool with_prefix)
{
	size_t plen = prefix ? strlen(prefix) : 0;

	for (size_t i = 0; i < m->count; i++) {
		const char *name = m->items[i].name;
		bool has = !prefix || strncmp(name, prefix, plen) == 0;

		if (has == with_prefix)
			printf("%s %s %.17g\n", kind, name + (with_prefix ? plen : 0), m->items[i].value);
	}
}

/* Copies the memfd the child wrote the parameters into to `path`. */
static enum fedc_err save_params(int fd, const char *path)
{
	char buf[1 << 16];
	enum fedc_err rc = FEDC_OK;
	ssize_t n;
	int out;

	if (lseek(fd, 0, SEEK_SET) != 0)
		return fedc_fail(FEDC_ERR_IO, "cannot rewind the parameters: %s", strerror(errno));
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		return fedc_fail(FEDC_ERR_IO, "%s: %s", path, strerror(errno));
	while (!rc && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		rc = n < 0 ? fedc_fail(FEDC_ERR_IO, "cannot read the parameters: %s", strerror(errno))
			   : fedc_write_all(out, buf, (size_t)n, path);
	}
	if (close(out) != 0 && !rc)
		rc = fedc_fail(FEDC_ERR_IO, "%s: %s", path, strerror(errno));
	return rc;
}

static enum fedc_err run(const struct options *o, const char *work_dir)
{
	struct experiment *exp = calloc(1, sizeof(*exp));
	struct node_dataset *ds = calloc(1, sizeof(*ds)), *test = calloc(1, sizeof(*test));
	struct sandbox_result *res = calloc(1, sizeof(*res));
	struct fedc_arg args[FEDC_MAX_ARGS];
	struct fedc_args model_args = { args, 0 };
	struct sandbox_job job = { .params_fd = -1 };
	struct sandbox *sandbox;
	char params_path[PATH_MAX] = "";
	enum fedc_err rc;

	if (!exp || !ds || !test || !res) {
		rc = FEDC_ERR_NOMEM;
		goto out;
	}
	res->params_fd = -1;
	rc = experiment__load(o->experiment, NULL, exp);
	if (rc)
		goto out;
	/* A plan given as source is compiled as the researcher would, but into
	 * the work directory rather than the experiment's output. */
	rc = fedc_config_set_string(&exp->output_dir, work_dir);
	if (!rc)
		rc = plan_build__prepare(exp, false);
	if (!rc)
		rc = inspect_data(o, "centralized", o->data, o->labels, ds);
	if (!rc && o->test)
		rc = inspect_data(o, "centralized-test", o->test, o->test_labels, test);
	if (!rc) {
		snprintf(params_path, sizeof(params_path), "%s/initial.params", work_dir);
		/* One site trains it all: roles change nothing here. */
		uint8_t roles[FEDC_MAX_TENSORS];
		size_t n_roles = 0;

		rc = initial__params(exp, params_path, roles, &n_roles);
	}
	for (uint32_t i = 0; i < exp->n_model_args; i++)
		args[i] = (struct fedc_arg){ exp->model_args[i].name, exp->model_args[i].value };
	model_args.count = exp->n_model_args;
	if (!rc)
		rc = fill_job(o, exp, ds, params_path, &model_args, &job);
	if (rc)
		goto out;
	job.test_dataset = o->test ? test : NULL;
	if (exp->fedprox_mu > 0)
		fprintf(stderr, "fedc-centralized: fedprox_mu = %g ignored (no rounds to anchor it)\n",
			exp->fedprox_mu);
	fprintf(stderr,
		"fedc-centralized: %s on %s (%" PRIu64 " rows): %" PRIu32 " %s (%" PRIu32 " rounds x %" PRIu32
		"), lr %g, batch %" PRIu32 ", optimizer %s, seed %" PRIu64 "\n",
		exp->plan_path, ds->path, ds->n_samples, job.train_args.num_updates ? job.train_args.num_updates
										   : job.train_args.epochs,
		job.train_args.num_updates ? "updates" : "epochs", exp->rounds,
		exp->num_updates ? exp->num_updates : exp->epochs, exp->lr, job.train_args.batch_size,
		job.train_args.optimizer, exp->seed);
	sandbox = sandbox__new();
	rc = sandbox ? sandbox__run(sandbox, &job, NULL, res) : FEDC_ERR_NOMEM;
	sandbox__free(sandbox);
	if (rc) {
		rc = fedc_fail(rc, "%s", res->error);
		goto out;
	}
	printf("samples %" PRIu64 " %" PRIu64 "\n", res->n_train, res->n_test);
	print_metrics("initial", &res->global_metrics, NULL, true);
	print_metrics("train", &res->local_metrics, "test_", false);
	print_metrics("test", &res->local_metrics, "test_", true);
	fflush(stdout);
	if (o->output)
		rc = save_params(res->params_fd, o->output);
out:
	if (res && res->params_fd >= 0)
		close(res->params_fd);
	if (job.params_fd >= 0)
		close(job.params_fd);
	if (params_path[0])
		(void)unlink(params_path);
	free(res);
	free(test);
	free(ds);
	experiment__free(exp);
	free(exp);
	return rc;
}

/* Removes what the work directory may hold (the initial parameters, a
 * compiled plan and its log), then the directory. */
static void remove_work_dir(const char *dir)
{
	static const char *const names[] = { "initial.params", "plan.so", "plan.so.log" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
}

int main(int argc, char **argv)
{
	char work_dir[] = "/tmp/fedc-centralized.XXXXXX";
	struct options o;
	enum fedc_err rc;
	int code;

	/* The sandboxed child of the round (node/sandbox.c execs /proc/self/exe). */
	if (argc >= 2 && strcmp(argv[1], "__run-plan") == 0)
		return plan_runner__main(argc - 1, argv + 1);
	code = parse_args(argc, argv, &o);
	if (code)
		return code == 1 ? 0 : code;
	fedc_log_init("centralized", FEDC_LOG_WARN, 2);
	blas_env__choose(); /* as the node chooses: the same kernels, the same bits */
	if (!mkdtemp(work_dir)) {
		fprintf(stderr, "fedc-centralized: cannot create a work directory: %s\n", strerror(errno));
		return 1;
	}
	rc = run(&o, work_dir);
	remove_work_dir(work_dir);
	if (rc) {
		fprintf(stderr, "fedc-centralized: %s\n", fedc_last_error());
		return 1;
	}
	return 0;
}
