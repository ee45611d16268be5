/* The training-plan ABI: what a plan shared object exports and what the node
 * hands it. A plan is C source compiled into a shared object against this
 * header alone; it exports one symbol, FEDC_PLAN_SYMBOL, of type struct
 * fedc_plan. The plan never opens files or sockets: the node loads the data
 * and passes in-memory views. See docs/plan-api.md.
 *
 * Every function returns 0 on success and a negative value on failure. */
#ifndef FEDC_PLAN_H
#define FEDC_PLAN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* How the ABI grows: struct fedc_plan and the structs it is handed only gain
 * fields at their end, and each addition bumps FEDC_PLAN_ABI_VERSION. A plan
 * records the version it was built against (FEDC_PLAN_DEFINE does), a node
 * or researcher runs plans of ABI 1 up to its own and reads only the fields
 * of the plan's version, and refuses a newer plan ("plan built for ABI N,
 * this node supports up to M"): it cannot know what the newer fields mean.
 * docs/plan-api.md "ABI versions". */
#define FEDC_PLAN_ABI_VERSION 4u
#define FEDC_PLAN_SYMBOL "fedc_plan"
#define FEDC_PLAN_MAX_DIMS 8
#define FEDC_PLAN_MAX_METRICS 16
#define FEDC_PLAN_METRIC_NAME_LEN 64

/* Optional second export: `const uint32_t fedc_plan_features`, a mask of
 * what the plan supports beyond the ABI's basics. A plan without it has
 * none of them. */
#define FEDC_PLAN_FEATURES_SYMBOL "fedc_plan_features"
#define FEDC_PLAN_FEATURE_SCAFFOLD 1u /* applies fedc_train_args.scaffold_correction */
/* In a plan's source: FEDC_PLAN_FEATURES(FEDC_PLAN_FEATURE_SCAFFOLD); */
#define FEDC_PLAN_FEATURES(mask) \
	__attribute__((visibility("default"))) const uint32_t fedc_plan_features = (mask)

enum fedc_dtype { FEDC_DTYPE_F32 = 1 };

/* A named tensor: `data` holds the product of `shape` elements of `dtype`,
 * little-endian, row-major. Who owns `name` and `data` is said by the function
 * that hands the tensor over. */
struct fedc_tensor {
	const char *name;
	uint32_t dtype; /* enum fedc_dtype */
	uint32_t ndim;
	uint64_t shape[FEDC_PLAN_MAX_DIMS];
	const void *data;
};

/* Model arguments from the experiment file ([model] section): name = number. */
struct fedc_arg {
	const char *name;
	double value;
};
struct fedc_args {
	const struct fedc_arg *items;
	size_t count;
};

/* A dataset view: `n_samples` rows of `n_features` float features, row-major,
 * and one float target per row (a class index for classification, a value
 * for regression). The memory belongs to the node; inside the plan's process
 * it is a private copy the plan may modify (prepare() does). */
/* ABI 3: the columns of a table, as the node found them at registration
 * (`fedc-node dataset add`), for a plan that preprocesses them (the SDK's
 * fedc/nn/table.h: imputation, one-hot encoding). Owned by the node. */
enum fedc_column_type {
	FEDC_COLUMN_NUMERIC = 1,     /* x holds the value, NAN where the cell was missing */
	FEDC_COLUMN_CATEGORICAL = 2, /* x holds the index in `categories`, NAN where missing */
	FEDC_COLUMN_TEXT = 3,        /* too many distinct values to be a category: x holds NAN */
};
struct fedc_column {
	const char *name;              /* from the header; "c<K>" (K from 0) without one */
	uint32_t type;                 /* enum fedc_column_type */
	uint32_t n_categories;         /* CATEGORICAL: distinct values seen, sorted by strcmp */
	const char *const *categories;
	uint64_t n_missing;            /* cells "", "NA", "NaN" (any case) at registration */
};
struct fedc_table_schema {
	uint32_t n_columns;            /* the last n_columns features of each row */
	const struct fedc_column *columns;
};

/* A dataset view: `n_samples` rows of `n_features` float features, row-major,
 * and `label_width` float targets per row (1 before ABI 3: a class index for
 * classification, a value for regression). The memory belongs to the node;
 * inside the plan's process it is a private copy the plan may modify
 * (prepare() does). The node fills the ABI 3 fields for plans of ABI 3 and
 * later; a plan of ABI 1 or 2 is refused data that needs them (a sample
 * shape with label_width > 1, or a table with non-numeric columns). */
struct fedc_data {
	size_t n_samples;
	size_t n_features;
	float *x;
	float *y;
	uint32_t n_classes; /* 0 for regression */
	/* ---- ABI 3 ---- */
	/* The shape of one sample's leading features, channels first: [C, H, W]
	 * for images, [C, D, H, W] for volumes; sample_ndim 0 for a plain row.
	 * The product of sample_shape is at most n_features; the features
	 * after it, if any, are the table `schema` describes (a volume's
	 * demographics). */
	uint32_t sample_ndim;
	uint64_t sample_shape[FEDC_PLAN_MAX_DIMS];
	/* Targets per row: 1 (0 reads as 1), or a mask's voxel count for
	 * segmentation (y is [n_samples, label_width], each a class index). */
	size_t label_width;
	/* The columns of the trailing table features, or NULL when every
	 * feature is numeric without missing values and needs no description. */
	const struct fedc_table_schema *schema;
};

/* Training arguments from the experiment file ([training] section). */
struct fedc_train_args {
	double lr;
	uint32_t epochs;      /* full passes over the training view ... */
	uint32_t num_updates; /* ... unless this is > 0: that many mini-batch steps */
	uint32_t batch_size;
	uint64_t seed;        /* seeds shuffling; differs per node and round */
	double fedprox_mu;    /* FedProx proximal term, 0 = off */
	const char *optimizer; /* "sgd" */
	/* SCAFFOLD (only for plans with FEDC_PLAN_FEATURE_SCAFFOLD; NULL/0 when
	 * off): c - c_i for each parameter tensor, with the names and shapes of
	 * get_params(), to add to every gradient step. Appended to ABI 1: plans
	 * built before these fields never read them. */
	const struct fedc_tensor *scaffold_correction;
	size_t n_scaffold_correction;
};

/* Metrics the plan reports back, e.g. {"loss", 0.31}, {"accuracy", 0.94}. */
struct fedc_metric {
	char name[FEDC_PLAN_METRIC_NAME_LEN];
	double value;
};
struct fedc_metrics {
	size_t count;
	struct fedc_metric items[FEDC_PLAN_MAX_METRICS];
};

/* Called by the plan while it trains, to stream a metric (throttled by the node). */
struct fedc_reporter {
	void *ctx;
	void (*scalar)(void *ctx, const char *name, double value, uint64_t iteration, uint32_t epoch);
};

struct fedc_plan {
	uint32_t abi_version; /* FEDC_PLAN_ABI_VERSION when built (FEDC_PLAN_DEFINE fills it) */
	const char *name;

	/* Builds a model from the model arguments; `seed` seeds initialisation. */
	int (*create)(const struct fedc_args *model_args, uint64_t seed, void **model);
	/* Optional (may be NULL): fits preprocessing on `train` (e.g. feature
	 * standardization) and applies it in place to both views. */
	int (*prepare)(void *model, struct fedc_data *train, struct fedc_data *test);
	/* Points *tensors at the model's parameters (owned by the model, valid until
	 * the next call on it). */
	int (*get_params)(void *model, const struct fedc_tensor **tensors, size_t *count);
	/* Copies parameters in; fails if names, dtypes or shapes differ. */
	int (*set_params)(void *model, const struct fedc_tensor *tensors, size_t count);
	/* Trains on `train`; fills `out` with at least "loss" (mean of the last epoch). */
	int (*train)(void *model, const struct fedc_data *train, const struct fedc_train_args *args,
		     const struct fedc_reporter *reporter, struct fedc_metrics *out);
	/* Evaluates on `test`; fills `out` (e.g. "loss", "accuracy"). */
	int (*evaluate)(void *model, const struct fedc_data *test, struct fedc_metrics *out);
	void (*destroy)(void *model);

	/* ABI 2. Optional (may be NULL): why the plan's last failed call
	 * failed, one line for the researcher (`unknown [model] key "hiden"`),
	 * or NULL or "" when it did not say. The node and the researcher call
	 * it right after a function returned failure and show the text with
	 * the failure; a plan records it with fedc_plan_error() and sets
	 * `.last_error = fedc_plan_last_error`. */
	const char *(*last_error)(void);

	/* ABI 3. Optional (may be NULL: every tensor is a weight): what each
	 * tensor get_params() gives is, in its order, one enum fedc_param_role
	 * per tensor written to roles[0..count-1]. The researcher and the node
	 * call it once per model. Buffers (batch-norm running statistics,
	 * feature means and deviations) are averaged by sample count by every
	 * aggregator and never moved by a server optimizer; local tensors
	 * (FedBN's batch-norm layers) stay at each node between rounds: the
	 * node puts its own values back after every set_params(), and the
	 * global model carries their sample-weighted average. */
	int (*param_roles)(void *model, uint8_t *roles, size_t count);

	/* ABI 4. Optional (NULL: the node refuses to `predict` with this
	 * plan): the model's output for each of the data's n_samples rows, in
	 * evaluation mode (no dropout; batch norm from its running
	 * statistics), the parameters unchanged. Row i's outputs go to
	 * out[i * width .. i * width + width - 1], where the caller sets
	 * width = fedc_plan_output_width(data): for a classifier
	 * (n_classes >= 2) the probability of each class, summing to 1 (a
	 * binary model with one sigmoid output writes 1 - p, p); for a
	 * regression (n_classes 0) the predicted values, label_width of them. */
	int (*predict)(void *model, const struct fedc_data *data, float *out, size_t width);

	/* ABI 4. Optional (NULL: no robustness stage with this plan): the
	 * gradient of the loss the plan evaluates with, summed over the
	 * data's rows (so each row's part is that row's own gradient), with
	 * respect to the inputs x, into grad[0 .. n_samples * n_features - 1];
	 * in evaluation mode, the parameters unchanged. The node perturbs
	 * test inputs along it (FGSM, PGD: docs/researcher-guide.md). */
	int (*input_gradient)(void *model, const struct fedc_data *data, float *grad);
};

/* The number of outputs per row predict() writes for `d`: n_classes for a
 * classifier (n_classes >= 2), otherwise label_width (0 reads as 1), times
 * label_width for a classifier of several targets (a mask). */
static inline size_t fedc_plan_output_width(const struct fedc_data *d)
{
	size_t targets = d->label_width ? d->label_width : 1;

	return d->n_classes >= 2 ? (size_t)d->n_classes * targets : targets;
}

enum fedc_param_role {
	FEDC_PARAM_WEIGHT = 0,
	FEDC_PARAM_BUFFER = 1,
	FEDC_PARAM_LOCAL = 2,
};

/* Why a call failed, for the person who runs the experiment: a plan calls
 * fedc_plan_error("[model] hidden = %g: must be from 1 to 4096", v) before
 * returning failure, and exports fedc_plan_last_error() as `.last_error`.
 * printf-style, kept to FEDC_PLAN_ERROR_LEN - 1 bytes. The SDK
 * (libfedcplan) defines both and its argument checks call the first; a plan
 * without the SDK defines them by writing FEDC_PLAN_ERRORS once at file
 * scope (a plan on the SDK must not: they would be defined twice). */
#define FEDC_PLAN_ERROR_LEN 256
__attribute__((visibility("hidden"), format(printf, 1, 2))) void fedc_plan_error(const char *fmt, ...);
__attribute__((visibility("hidden"))) const char *fedc_plan_last_error(void);

#define FEDC_PLAN_ERRORS                                                                               \
	static char fedc_plan_error_text_[FEDC_PLAN_ERROR_LEN];                                       \
	void fedc_plan_error(const char *fmt, ...)                                                     \
	{                                                                                              \
		va_list ap;                                                                            \
		va_start(ap, fmt);                                                                     \
		vsnprintf(fedc_plan_error_text_, sizeof(fedc_plan_error_text_), fmt, ap);              \
		va_end(ap);                                                                            \
	}                                                                                              \
	const char *fedc_plan_last_error(void)                                                         \
	{                                                                                              \
		return fedc_plan_error_text_;                                                          \
	}                                                                                              \
	struct fedc_plan_errors_defined_ /* so that the macro takes a ';' */

/* Defines the plan's export, with the ABI version it is built against, from
 * designated initializers of the other fields:
 *   FEDC_PLAN_DEFINE(.name = "mine", .create = create, ..., .destroy = destroy);
 * The one way to write the export: a plan so built says its version right. */
#define FEDC_PLAN_DEFINE(...)                                                                       \
	__attribute__((visibility("default"))) const struct fedc_plan fedc_plan = {                \
		.abi_version = FEDC_PLAN_ABI_VERSION, __VA_ARGS__                                  \
	}

#endif
