/* Named parameter tensors and their exchange through the plan ABI. */
#include <stdint.h>
#include <string.h>

#include "fedc/nn/err.h"
#include "fedc/nn/paramset.h"

static bool name_ok(const char *name)
{
	size_t len = name ? strlen(name) : 0;

	return len > 0 && len < FEDC_PARAM_NAME_LEN;
}

/* Adds a tensor held as rows x cols with the ABI shape `shape`. */
static int add(struct fedc_paramset *p, const char *name, unsigned ndim, const size_t *shape, size_t rows,
	       size_t cols, bool trainable, size_t *index)
{
	struct fedc_param *it;
	int rc;

	if (!name_ok(name) || fedc_paramset_find(p, name))
		return FEDC_NN_ERR_INVAL;
	if (p->count >= FEDC_PARAMSET_MAX)
		return FEDC_NN_ERR_FULL;
	it = &p->items[p->count];
	memset(it, 0, sizeof(*it));
	strcpy(it->name, name); /* length checked by name_ok */
	it->ndim = ndim;
	memcpy(it->shape, shape, ndim * sizeof(*shape));
	it->trainable = trainable;
	it->role = FEDC_PARAM_WEIGHT;
	rc = fedc_mat_init(&it->value, rows, cols);
	if (!rc && trainable)
		rc = fedc_mat_init(&it->grad, rows, cols);
	if (rc) {
		fedc_mat_release(&it->value);
		return rc;
	}
	if (index)
		*index = p->count;
	p->count++;
	return FEDC_NN_OK;
}

int fedc_paramset_add(struct fedc_paramset *p, const char *name, size_t rows, size_t cols, unsigned ndim,
		      bool trainable, size_t *index)
{
	size_t shape[2] = { rows, cols };

	if ((ndim != 1 && ndim != 2) || (ndim == 1 && rows != 1))
		return FEDC_NN_ERR_INVAL;
	return add(p, name, ndim, ndim == 1 ? &shape[1] : shape, rows, cols, trainable, index);
}

int fedc_paramset_add_shaped(struct fedc_paramset *p, const char *name, unsigned ndim, const size_t *shape,
			     bool trainable, size_t *index)
{
	size_t rest = 1;

	if (ndim < 1 || ndim > FEDC_PARAM_MAX_DIMS || !shape)
		return FEDC_NN_ERR_INVAL;
	for (unsigned d = 1; d < ndim; d++) {
		if (shape[d] == 0 || rest > SIZE_MAX / shape[d])
			return FEDC_NN_ERR_INVAL;
		rest *= shape[d];
	}
	if (ndim == 1)
		return add(p, name, 1, shape, 1, shape[0], trainable, index);
	return add(p, name, ndim, shape, shape[0], rest, trainable, index);
}

int fedc_paramset_init_like(struct fedc_paramset *dst, const struct fedc_paramset *src)
{
	int rc = FEDC_NN_OK;

	for (size_t i = 0; !rc && i < src->count; i++) {
		const struct fedc_param *s = &src->items[i];

		rc = fedc_paramset_add_shaped(dst, s->name, s->ndim, s->shape, false, NULL);
		if (!rc)
			dst->items[dst->count - 1].role = s->role;
	}
	return rc;
}

void fedc_paramset_release(struct fedc_paramset *p)
{
	for (size_t i = 0; i < p->count; i++) {
		fedc_mat_release(&p->items[i].value);
		fedc_mat_release(&p->items[i].grad);
	}
	p->count = 0;
}

struct fedc_param *fedc_paramset_find(struct fedc_paramset *p, const char *name)
{
	for (size_t i = 0; name && i < p->count; i++) {
		if (strcmp(p->items[i].name, name) == 0)
			return &p->items[i];
	}
	return NULL;
}

bool fedc_paramset_same_layout(const struct fedc_paramset *a, const struct fedc_paramset *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		const struct fedc_mat *x = &a->items[i].value, *y = &b->items[i].value;

		if (x->rows != y->rows || x->cols != y->cols)
			return false;
	}
	return true;
}

int fedc_paramset_copy(struct fedc_paramset *dst, const struct fedc_paramset *src)
{
	if (!fedc_paramset_same_layout(dst, src))
		return FEDC_NN_ERR_SHAPE;
	for (size_t i = 0; i < src->count; i++)
		fedc_mat_copy(&dst->items[i].value, &src->items[i].value);
	return FEDC_NN_OK;
}

int fedc_paramset_roles(const struct fedc_paramset *p, uint8_t *roles, size_t count)
{
	if (!p || !roles || count != p->count)
		return FEDC_NN_ERR_SHAPE;
	for (size_t i = 0; i < count; i++)
		roles[i] = p->items[i].role;
	return FEDC_NN_OK;
}

void fedc_paramset_zero_grad(struct fedc_paramset *p)
{
	for (size_t i = 0; i < p->count; i++) {
		if (p->items[i].trainable)
			fedc_mat_fill(&p->items[i].grad, 0.0f);
	}
}

static void describe(const struct fedc_param *it, struct fedc_tensor *t)
{
	memset(t, 0, sizeof(*t));
	t->name = it->name;
	t->dtype = FEDC_DTYPE_F32;
	t->ndim = it->ndim;
	for (unsigned d = 0; d < it->ndim; d++)
		t->shape[d] = it->shape[d];
	t->data = it->value.data;
}

int fedc_paramset_get(struct fedc_paramset *p, const struct fedc_tensor **tensors, size_t *count)
{
	if (!p || !tensors || !count)
		return FEDC_NN_ERR_INVAL;
	for (size_t i = 0; i < p->count; i++)
		describe(&p->items[i], &p->views[i]);
	*tensors = p->views;
	*count = p->count;
	return FEDC_NN_OK;
}

static bool same_layout(const struct fedc_tensor *a, const struct fedc_tensor *b)
{
	if (a->dtype != b->dtype || a->ndim != b->ndim)
		return false;
	for (uint32_t d = 0; d < a->ndim; d++) {
		if (a->shape[d] != b->shape[d])
			return false;
	}
	return true;
}

/* Matches each incoming tensor to one of ours; fills match[i] with our index. */
static int match_all(struct fedc_paramset *p, const struct fedc_tensor *tensors, size_t count, size_t *match)
{
	bool seen[FEDC_PARAMSET_MAX] = { false };

	for (size_t i = 0; i < count; i++) {
		const struct fedc_tensor *t = &tensors[i];
		struct fedc_param *it = t->name ? fedc_paramset_find(p, t->name) : NULL;
		size_t k;

		if (!it || !t->data)
			return FEDC_NN_ERR_INVAL;
		k = (size_t)(it - p->items);
		if (seen[k] || !same_layout(t, &p->views[k]))
			return FEDC_NN_ERR_SHAPE;
		seen[k] = true;
		match[i] = k;
	}
	return FEDC_NN_OK;
}

int fedc_paramset_set(struct fedc_paramset *p, const struct fedc_tensor *tensors, size_t count)
{
	size_t match[FEDC_PARAMSET_MAX];
	int rc;

	if (!p || (!tensors && count))
		return FEDC_NN_ERR_INVAL;
	if (count != p->count)
		return FEDC_NN_ERR_SHAPE;
	for (size_t i = 0; i < p->count; i++)
		describe(&p->items[i], &p->views[i]);
	rc = match_all(p, tensors, count, match);
	if (rc)
		return rc;
	for (size_t i = 0; i < count; i++) {
		struct fedc_mat *dst = &p->items[match[i]].value;

		memcpy(dst->data, tensors[i].data, fedc_mat_len(dst) * sizeof(float));
	}
	return FEDC_NN_OK;
}
