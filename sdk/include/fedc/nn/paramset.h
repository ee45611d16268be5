/* Named parameter tensors of a model, and their exchange through the plan ABI.
 *
 * A paramset owns each tensor's value and, for a trainable one, a gradient
 * of the same shape. fedc_paramset_get() and fedc_paramset_set() are what a
 * plan's get_params and set_params need: they describe the values as
 * struct fedc_tensor (plan.h) and copy checked tensors in. */
#ifndef FEDC_NN_PARAMSET_H
#define FEDC_NN_PARAMSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/plan.h"
#include "fedc/nn/mat.h"

#define FEDC_PARAMSET_MAX 64
#define FEDC_PARAM_MAX_DIMS 5
#define FEDC_PARAM_NAME_LEN 48

struct fedc_param {
	char name[FEDC_PARAM_NAME_LEN];
	unsigned ndim;        /* as the ABI shows it: 1 ([cols], a bias), 2 ([rows, cols]) or up to 5 */
	size_t shape[FEDC_PARAM_MAX_DIMS]; /* as the ABI shows it; value is [shape[0], product of the rest] */
	bool trainable;       /* has a gradient, the optimizer updates it */
	uint8_t role;         /* enum fedc_param_role (plan.h): WEIGHT unless set */
	struct fedc_mat value;
	struct fedc_mat grad; /* empty unless trainable */
};

struct fedc_paramset {
	size_t count;
	struct fedc_param items[FEDC_PARAMSET_MAX];
	struct fedc_tensor views[FEDC_PARAMSET_MAX]; /* what fedc_paramset_get() hands out */
};

/* Adds a zero-filled rows x cols tensor (ndim 1 needs rows == 1). Returns 0,
 * FEDC_NN_ERR_INVAL (bad name or shape, or a name already there),
 * FEDC_NN_ERR_FULL or FEDC_NN_ERR_NOMEM. *index (may be NULL) gets its
 * position, which stays valid for the life of the set. */
int fedc_paramset_add(struct fedc_paramset *p, const char *name, size_t rows, size_t cols, unsigned ndim,
		      bool trainable, size_t *index);
/* Adds a zero-filled tensor of ndim (1 to FEDC_PARAM_MAX_DIMS) dimensions
 * `shape`, held as a [shape[0], product of the rest] matrix (a conv kernel
 * [O, I, kH, kW] is [O, I*kH*kW]; ndim 1 is [1, shape[0]]). Same codes as
 * fedc_paramset_add. */
int fedc_paramset_add_shaped(struct fedc_paramset *p, const char *name, unsigned ndim, const size_t *shape,
			     bool trainable, size_t *index);
/* Adds, for every tensor of src, a zero-filled non-trainable tensor of the
 * same name, shape and role: e.g. SCAFFOLD control variates, or a snapshot. */
int fedc_paramset_init_like(struct fedc_paramset *dst, const struct fedc_paramset *src);
/* Frees every tensor; the set is empty after. */
void fedc_paramset_release(struct fedc_paramset *p);
/* The tensor named `name`, or NULL. */
struct fedc_param *fedc_paramset_find(struct fedc_paramset *p, const char *name);

/* For a plan's param_roles (plan.h): writes each tensor's role, in
 * get_params order. Returns 0, or FEDC_NN_ERR_SHAPE if count is not the
 * set's. */
int fedc_paramset_roles(const struct fedc_paramset *p, uint8_t *roles, size_t count);

/* Copies every value from src (same layout: see fedc_paramset_same_layout). */
int fedc_paramset_copy(struct fedc_paramset *dst, const struct fedc_paramset *src);
bool fedc_paramset_same_layout(const struct fedc_paramset *a, const struct fedc_paramset *b);
/* Sets every gradient to zero. */
void fedc_paramset_zero_grad(struct fedc_paramset *p);

/* For get_params: points *tensors at views of the values (owned by the set,
 * valid until it changes). */
int fedc_paramset_get(struct fedc_paramset *p, const struct fedc_tensor **tensors, size_t *count);
/* For set_params: accepts exactly the set's tensors, in any order, each once,
 * float32 with the same shapes, and copies them in; copies nothing unless all
 * match. Returns 0, FEDC_NN_ERR_INVAL or FEDC_NN_ERR_SHAPE. */
int fedc_paramset_set(struct fedc_paramset *p, const struct fedc_tensor *tensors, size_t count);

#endif
