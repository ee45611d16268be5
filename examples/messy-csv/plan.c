/* Logistic regression on a messy table, as a fedc training plan on the SDK
 * (see README.md): the breast-cancer data as make_data.sh writes it, with
 * named columns, missing cells, a categorical column and quoted text.
 *
 * The plan names the columns it uses (fedc/nn/table.h): the 30 numeric
 * features, each with its missing cells filled by the median of the node's
 * training rows and standardized; size_band, one-hot against the
 * experiment's list (small, medium, large), a missing cell filled by the most
 * frequent band. The note column (free text) is not used. That is
 * 30 + 3 = 33 inputs to a net of one dense layer with two outputs (softmax
 * cross-entropy: logistic regression over the two classes).
 *
 * A node whose table lacks a column, holds a band outside the list, or has
 * a text column where a number belongs refuses the round with a line that
 * says so (fedc_plan_error), which the researcher shows.
 *
 * Model arguments ([model]): none required; n_classes (2) and threads (1).
 * Parameters: dense0.weight [2, 33], dense0.bias [2], float32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/nn.h"
#include "fedc/nn/table.h"

#define N_NUMERIC 30

static const char *const bands[] = { "small", "medium", "large", NULL };
static const char *const base[10] = { "radius", "texture", "perimeter", "area", "smoothness",
				       "compactness", "concavity", "concave_points", "symmetry", "fractal_dimension" };
static const char *const kinds[3] = { "mean", "se", "worst" };
static const char *const known_args[] = { "n_classes", "threads", NULL };

struct model {
	struct fedc_net net;
	struct fedc_table table;
	char names[N_NUMERIC][32];
	struct fedc_table_col cols[N_NUMERIC + 1];
};

/* The columns: "radius_mean" ... "fractal_dimension_worst", then size_band. */
static void build_spec(struct model *m)
{
	for (size_t i = 0; i < N_NUMERIC; i++) {
		snprintf(m->names[i], sizeof(m->names[i]), "%s_%s", base[i % 10], kinds[i / 10]);
		m->cols[i] = (struct fedc_table_col){ .name = m->names[i], .impute = FEDC_IMPUTE_MEDIAN,
						      .standardize = true };
	}
	m->cols[N_NUMERIC] = (struct fedc_table_col){ .name = "size_band", .impute = FEDC_IMPUTE_MOST_FREQUENT,
						      .categories = bands };
}

static void model_destroy(void *p)
{
	struct model *m = p;

	if (!m)
		return;
	fedc_net_release(&m->net);
	fedc_table_release(&m->table);
	free(m);
}

static int model_create(const struct fedc_args *args, uint64_t seed, void **out)
{
	uint32_t n_classes = 2, threads = 1;
	struct model *m = NULL;
	int rc;

	if (!out)
		return FEDC_NN_ERR_INVAL;
	*out = NULL;
	if (fedc_args_check(args, known_args) || fedc_arg_uint(args, "n_classes", 2, 2, &n_classes) < 0 ||
	    fedc_arg_uint(args, "threads", 1, 64, &threads) < 0)
		return FEDC_NN_ERR_INVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return FEDC_NN_ERR_NOMEM;
	build_spec(m);
	rc = fedc_table_init(&m->table, m->cols, N_NUMERIC + 1);
	if (!rc)
		rc = fedc_net_init(&m->net, &(struct fedc_net_cfg){ .n_inputs = fedc_table_width(&m->table),
								    .n_layers = 1, .sizes = { n_classes },
								    .init = FEDC_INIT_XAVIER, .seed = seed });
	if (rc) {
		model_destroy(m);
		return rc;
	}
	fedc_nn_set_threads((int)threads);
	*out = m;
	return FEDC_NN_OK;
}

static int model_get_params(void *p, const struct fedc_tensor **tensors, size_t *count)
{
	struct model *m = p;

	return m ? fedc_paramset_get(&m->net.params, tensors, count) : FEDC_NN_ERR_INVAL;
}

static int model_set_params(void *p, const struct fedc_tensor *tensors, size_t count)
{
	struct model *m = p;

	return m ? fedc_paramset_set(&m->net.params, tensors, count) : FEDC_NN_ERR_INVAL;
}

/* Fits the imputation and the standardization on the node's training rows;
 * the views stay as the node gave them (train and evaluate encode them). */
static int model_prepare(void *p, struct fedc_data *train, struct fedc_data *test)
{
	struct model *m = p;

	(void)test;
	return m ? fedc_table_fit(&m->table, train) : FEDC_NN_ERR_INVAL;
}

static int model_train(void *p, const struct fedc_data *train, const struct fedc_train_args *args,
		       const struct fedc_reporter *reporter, struct fedc_metrics *out)
{
	struct model *m = p;
	struct fedc_train_cfg cfg = { .args = args, .loss = FEDC_LOSS_SOFTMAX_CE, .reporter = reporter,
				      .report_every = 20, .report_min_interval_s = 0.5 };
	struct fedc_data enc;
	int rc;

	if (!m)
		return FEDC_NN_ERR_INVAL;
	rc = fedc_table_encode(&m->table, train, &enc);
	if (!rc)
		rc = fedc_net_train(&m->net, &enc, &cfg, out);
	fedc_table_data_free(&enc);
	return rc;
}

static int model_evaluate(void *p, const struct fedc_data *test, struct fedc_metrics *out)
{
	struct model *m = p;
	struct fedc_data enc;
	int rc;

	if (!m)
		return FEDC_NN_ERR_INVAL;
	rc = fedc_table_encode(&m->table, test, &enc);
	if (!rc)
		rc = fedc_net_evaluate(&m->net, &enc, FEDC_LOSS_SOFTMAX_CE, out);
	fedc_table_data_free(&enc);
	return rc;
}

/* Each row's class probabilities (ABI 4), on the encoded table. */
static int model_predict(void *p, const struct fedc_data *data, float *out, size_t width)
{
	struct model *m = p;
	struct fedc_data enc;
	int rc;

	if (!m)
		return FEDC_NN_ERR_INVAL;
	rc = fedc_table_encode(&m->table, data, &enc);
	if (!rc)
		rc = fedc_net_predict(&m->net, &enc, FEDC_LOSS_SOFTMAX_CE, out, width);
	fedc_table_data_free(&enc);
	return rc;
}

FEDC_PLAN_DEFINE(
	.name = "messy-csv",
	.create = model_create,
	.prepare = model_prepare,
	.get_params = model_get_params,
	.set_params = model_set_params,
	.train = model_train,
	.evaluate = model_evaluate,
	.destroy = model_destroy,
	.last_error = fedc_plan_last_error,
	.predict = model_predict);

/* The SDK's training loop applies the node's SCAFFOLD correction. */
FEDC_PLAN_FEATURES(FEDC_PLAN_FEATURE_SCAFFOLD);
