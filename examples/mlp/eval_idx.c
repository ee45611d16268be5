/* fedc-eval-idx: evaluates a parameter file (an experiment's global.params)
 * with its training plan on an IDX image set, e.g. the official
 * Fashion-MNIST t10k test set that no node holds.
 *
 *   fedc-eval-idx --plan PLAN.so --params FILE --images FILE --labels FILE
 *                 [--model NAME=VALUE[,NAME=VALUE...]]
 *
 * The plan is loaded as the researcher loads it (dlopen, ABI check), created
 * with the [model] arguments given by --model (the experiment's, if it set
 * any), handed the parameters, and its evaluate() run on the whole set and
 * on each class. The images are read by the node's IDX reader
 * (node/dataset_idx.c through fedc_node_core): x = pixel / 255, as a node
 * feeds them. A plan with a prepare() step is refused: what prepare() fits
 * stays on each node and is not in the parameter file, so evaluating
 * without it would measure another model.
 *
 * Output (stdout):
 *   images 10000  accuracy 0.8731  loss 0.3620
 *   class 0  images 1000  accuracy 0.8310
 *   ...
 * Exit status: 0 done, 1 failed, 2 bad usage. */
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_idx.h"
#include "fedc/err.h"
#include "fedc/params.h"
#include "fedc/plan_abi.h"

#define EVAL_MAX_ARGS 32
#define EVAL_ARG_NAME 64

struct eval_opts {
	const char *plan, *params, *images, *labels;
	struct fedc_arg args[EVAL_MAX_ARGS];
	char names[EVAL_MAX_ARGS][EVAL_ARG_NAME];
	size_t n_args;
};

static const char *prog = "fedc-eval-idx";

static void usage(FILE *out)
{
	fprintf(out, "usage: fedc-eval-idx --plan PLAN.so --params FILE --images FILE --labels FILE\n"
		     "                     [--model NAME=VALUE[,NAME=VALUE...]]\n"
		     "\n"
		     "Evaluates the parameters with the plan on an IDX image set (plain or gzip'd);\n"
		     "--model gives the plan's [model] arguments as in the experiment file.\n");
}

/* "hidden=128,n_classes=10" -> args. false (message printed) on a bad list. */
static bool parse_model(const char *text, struct eval_opts *o)
{
	const char *p = text;

	while (*p) {
		const char *eq = strchr(p, '='), *comma = strchr(p, ',');
		size_t len = eq ? (size_t)(eq - p) : 0;
		char *end;
		double v;

		if (!comma)
			comma = p + strlen(p);
		if (!eq || eq > comma || len == 0 || len >= EVAL_ARG_NAME) {
			fprintf(stderr, "%s: --model \"%s\": give NAME=VALUE pairs separated by commas\n", prog, text);
			return false;
		}
		if (o->n_args == EVAL_MAX_ARGS) {
			fprintf(stderr, "%s: --model: more than %d arguments\n", prog, EVAL_MAX_ARGS);
			return false;
		}
		errno = 0;
		v = strtod(eq + 1, &end);
		if (errno || end == eq + 1 || end != comma) {
			fprintf(stderr, "%s: --model: \"%.*s\" is not a number\n", prog, (int)(comma - eq - 1), eq + 1);
			return false;
		}
		memcpy(o->names[o->n_args], p, len);
		o->names[o->n_args][len] = '\0';
		o->args[o->n_args] = (struct fedc_arg){ o->names[o->n_args], v };
		o->n_args++;
		p = *comma ? comma + 1 : comma;
	}
	return true;
}

static int parse_args(int argc, char **argv, struct eval_opts *o)
{
	static const struct option longopts[] = {
		{ "plan", required_argument, NULL, 'p' },   { "params", required_argument, NULL, 'w' },
		{ "images", required_argument, NULL, 'i' }, { "labels", required_argument, NULL, 'l' },
		{ "model", required_argument, NULL, 'm' },  { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': o->plan = optarg; break;
		case 'w': o->params = optarg; break;
		case 'i': o->images = optarg; break;
		case 'l': o->labels = optarg; break;
		case 'm':
			if (!parse_model(optarg, o))
				return 2;
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog, argv[optind]);
		return 2;
	}
	if (!o->plan || !o->params || !o->images || !o->labels) {
		fprintf(stderr, "%s: --plan, --params, --images and --labels are required\n", prog);
		usage(stderr);
		return 2;
	}
	return 0;
}

static double metric(const struct fedc_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->count && i < FEDC_PLAN_MAX_METRICS; i++)
		if (strcmp(m->items[i].name, name) == 0)
			return m->items[i].value;
	return -1;
}

/* Evaluates class by class on views gathered into `tmp` (sized like `all`). */
static int per_class(const struct fedc_plan *plan, void *model, const struct fedc_data *all, struct fedc_data *tmp)
{
	for (uint32_t c = 0; c < all->n_classes; c++) {
		struct fedc_metrics m = { 0 };
		size_t n = 0;

		for (size_t r = 0; r < all->n_samples; r++) {
			if ((uint32_t)all->y[r] != c)
				continue;
			memcpy(tmp->x + n * all->n_features, all->x + r * all->n_features,
			       all->n_features * sizeof(float));
			tmp->y[n++] = (float)c;
		}
		if (!n)
			continue;
		tmp->n_samples = n;
		if (plan->evaluate(model, tmp, &m) != 0) {
			fprintf(stderr, "%s: the plan's evaluate() failed on class %u\n", prog, c);
			return -1;
		}
		printf("class %u  images %zu  accuracy %.4f\n", c, n, metric(&m, "accuracy"));
	}
	return 0;
}

/* The model's tensors: all but SCAFFOLD's control variates, which a
 * SCAFFOLD run's global.params carries after them (scaffold.c.<tensor>,
 * docs/researcher-guide.md) and a plan does not take. */
static size_t model_tensors(const struct fedc_params *params)
{
	const struct fedc_tensor *t = fedc_params_tensors(params);
	size_t n = fedc_params_count(params);

	for (size_t i = 0; i < n; i++)
		if (strncmp(t[i].name, "scaffold.", 9) == 0)
			return i;
	return n;
}

int main(int argc, char **argv)
{
	struct eval_opts o;
	struct node_dataset *ds = NULL;
	struct fedc_data data = { 0 }, tmp = { 0 };
	struct fedc_params *params = NULL;
	struct fedc_metrics m = { 0 };
	const struct fedc_plan *plan = NULL;
	void *handle = NULL, *model = NULL;
	enum fedc_err err;
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc;
	rc = 1;
	handle = dlopen(o.plan, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		fprintf(stderr, "%s: cannot load the plan: %s\n", prog, dlerror());
		goto out;
	}
	plan = dlsym(handle, FEDC_PLAN_SYMBOL);
	if (fedc_plan_abi_check(plan, "fedc-eval-idx") != FEDC_OK) {
		fprintf(stderr, "%s: %s: %s\n", prog, o.plan, fedc_last_error());
		goto out;
	}
	if (!plan->create || !plan->set_params || !plan->evaluate || !plan->destroy) {
		fprintf(stderr, "%s: %s: not a fedc plan of ABI %u (symbol \"%s\")\n", prog, o.plan,
			FEDC_PLAN_ABI_VERSION, FEDC_PLAN_SYMBOL);
		goto out;
	}
	if (plan->prepare) {
		fprintf(stderr, "%s: %s: the plan has a prepare() step, fitted on each node's data and not part of "
			"the parameters; it cannot be evaluated away from the nodes\n", prog, o.plan);
		goto out;
	}
	err = fedc_params_open(o.params, &params);
	if (err) {
		/* The detail names the file; a bare code does not. */
		if (fedc_last_error()[0])
			fprintf(stderr, "%s: %s\n", prog, fedc_last_error());
		else
			fprintf(stderr, "%s: %s: %s\n", prog, o.params, fedc_strerror(err));
		goto out;
	}
	if (plan->create(&(struct fedc_args){ o.args, o.n_args }, 0, &model) != 0 || !model) {
		fprintf(stderr, "%s: the plan's create() refused the --model arguments\n", prog);
		goto out;
	}
	if (plan->set_params(model, fedc_params_tensors(params), model_tensors(params)) != 0) {
		fprintf(stderr, "%s: %s: the plan refused these parameters (names or shapes differ: were the "
			"--model arguments the experiment's?)\n", prog, o.params);
		goto out;
	}
	ds = calloc(1, sizeof(*ds));
	if (!ds) {
		fprintf(stderr, "%s: out of memory\n", prog);
		goto out;
	}
	err = dataset_idx__read_files("evaluation set", o.images, o.labels, ds, &data);
	if (!err)
		err = dataset__alloc_data(&tmp, ds->n_samples, ds->n_features);
	if (err) {
		fprintf(stderr, "%s: %s\n", prog, fedc_last_error()[0] ? fedc_last_error() : fedc_strerror(err));
		goto out;
	}
	tmp.n_features = data.n_features;
	tmp.n_classes = data.n_classes;
	if (plan->evaluate(model, &data, &m) != 0) {
		fprintf(stderr, "%s: the plan's evaluate() failed on %s (labels beyond the model's classes?)\n", prog,
			o.images);
		goto out;
	}
	printf("images %zu  accuracy %.4f  loss %.4f\n", data.n_samples, metric(&m, "accuracy"), metric(&m, "loss"));
	if (per_class(plan, model, &data, &tmp))
		goto out;
	rc = 0;
out:
	if (model)
		plan->destroy(model);
	dataset__free_data(&tmp);
	dataset__free_data(&data);
	free(ds);
	fedc_params_close(params);
	if (handle)
		dlclose(handle);
	return rc;
}
