/* SCAFFOLD on the node (see scaffold_client.h). */
#include "scaffold_client.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/limits.h"

static bool same_shape(const struct fedc_tensor *a, const struct fedc_tensor *b)
{
	return a->ndim == b->ndim && memcmp(a->shape, b->shape, a->ndim * sizeof(a->shape[0])) == 0;
}

static bool has_prefix(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* Tensors [n, 2n) must be prefix + the name of tensor i - n, same shape, f32. */
static enum fedc_err check_pairs(const struct fedc_tensor *t, size_t n, const char *prefix, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		const struct fedc_tensor *m = &t[i], *v = &t[n + i];

		if (m->dtype != FEDC_DTYPE_F32 || v->dtype != FEDC_DTYPE_F32 || !has_prefix(v->name, prefix) ||
		    strcmp(v->name + strlen(prefix), m->name) != 0 || !same_shape(m, v))
			return fedc_fail(FEDC_ERR_MALFORMED, "%s: tensor %zu is \"%s\", expected %s%s (float32, the shape "
							     "of %s)", what, n + i, v->name, prefix, m->name, m->name);
	}
	return FEDC_OK;
}

enum fedc_err scaffold__split(const struct fedc_params *global, size_t *n_model, bool *on)
{
	const struct fedc_tensor *t = fedc_params_tensors(global);
	size_t count = fedc_params_count(global), n = 0;

	while (n < count && !has_prefix(t[n].name, SCAFFOLD_C_PREFIX))
		n++;
	*n_model = n;
	*on = n < count;
	if (!*on)
		return FEDC_OK;
	if (count != 2 * n)
		return fedc_fail(FEDC_ERR_MALFORMED, "global parameters: %zu model tensors but %zu SCAFFOLD ones", n,
				 count - n);
	return check_pairs(t, n, SCAFFOLD_C_PREFIX, "global parameters");
}

/* c_i for tensor i: from the state file, or NULL for zeros. */
static const float *local_variate(const struct fedc_params *state, const struct fedc_tensor *model)
{
	const struct fedc_tensor *t = state ? fedc_params_find(state, model->name) : NULL;

	return t && t->dtype == FEDC_DTYPE_F32 && same_shape(t, model) ? t->data : NULL;
}

enum fedc_err scaffold__begin(const struct fedc_params *global, size_t n_model, const char *state_path,
			      struct scaffold_round *r)
{
	const struct fedc_tensor *t = fedc_params_tensors(global);
	struct fedc_params *state = NULL;
	uint64_t total = 0, at = 0;
	enum fedc_err rc = FEDC_OK;

	memset(r, 0, sizeof(*r));
	r->n = n_model;
	r->x = t;
	r->c = t + n_model;
	if (access(state_path, F_OK) == 0 && ((rc = fedc_params_open(state_path, &state)) != FEDC_OK ||
					      (rc = fedc_params_check_f32(state)) != FEDC_OK)) {
		fedc_params_close(state);
		return fedc_fail(rc, "the node's SCAFFOLD state %s: %s", state_path, fedc_last_error());
	}
	for (size_t i = 0; i < n_model; i++)
		total += fedc_tensor_elements(&t[i]);
	r->correction = calloc(n_model ? n_model : 1, sizeof(*r->correction));
	r->values = malloc((total ? total : 1) * sizeof(float));
	if (!r->correction || !r->values) {
		fedc_params_close(state);
		scaffold__end(r);
		return FEDC_ERR_NOMEM;
	}
	for (size_t i = 0; i < n_model; i++) {
		uint64_t n = fedc_tensor_elements(&t[i]);
		const float *c = r->c[i].data, *ci = local_variate(state, &t[i]);

		r->correction[i] = t[i];
		r->correction[i].data = r->values + at;
		for (uint64_t k = 0; k < n; k++)
			r->values[at + k] = c[k] - (ci ? ci[k] : 0.0f);
		at += n;
	}
	fedc_params_close(state);
	return FEDC_OK;
}

void scaffold__end(struct scaffold_round *r)
{
	free(r->correction);
	free(r->values);
	r->correction = NULL;
	r->values = NULL;
}

enum fedc_err scaffold__write_update(int fd, const struct scaffold_round *r, const struct fedc_tensor *y,
				     uint64_t steps, double lr, const struct fedc_tensor *extra, size_t n_extra)
{
	struct fedc_tensor *out = calloc(2 * r->n + n_extra + 1, sizeof(*out));
	char (*names)[FEDC_MAX_NAME_LEN + 16] = calloc(r->n + 1, sizeof(*names));
	double scale = 1.0 / ((double)steps * lr);
	uint64_t total = 0, at = 0;
	enum fedc_err rc;
	float *buf;

	for (size_t i = 0; i < r->n; i++)
		total += fedc_tensor_elements(&r->x[i]);
	buf = malloc((total ? total : 1) * sizeof(float));
	if (!out || !names || !buf || steps == 0 || !(lr > 0) || !isfinite(scale)) {
		rc = !out || !names || !buf ? FEDC_ERR_NOMEM
					    : fedc_fail(FEDC_ERR_PLAN, "SCAFFOLD needs the plan's step count "
								       "(num_updates > 0) and lr > 0");
		goto out;
	}
	for (size_t i = 0; i < r->n; i++) {
		const float *x = r->x[i].data, *yi = y[i].data, *c = r->c[i].data;
		uint64_t n = fedc_tensor_elements(&r->x[i]);

		for (uint64_t k = 0; k < n; k++)
			buf[at + k] = (float)(-(double)c[k] + ((double)x[k] - (double)yi[k]) * scale);
		out[i] = y[i];
		snprintf(names[i], sizeof(names[i]), SCAFFOLD_DC_PREFIX "%s", y[i].name);
		out[r->n + i] = y[i];
		out[r->n + i].name = names[i];
		out[r->n + i].data = buf + at;
		at += n;
	}
	if (n_extra)
		memcpy(out + 2 * r->n, extra, n_extra * sizeof(*extra));
	rc = fedc_params_write_fd(fd, out, 2 * r->n + n_extra);
out:
	free(out);
	free(names);
	free(buf);
	return rc;
}

enum fedc_err scaffold__save_state(int update_fd, const char *before_path, const char *after_path,
				   const struct fedc_tensor *extra, size_t n_extra)
{
	struct fedc_params *update = NULL, *state = NULL;
	struct fedc_tensor *next = NULL;
	float *buf = NULL;
	size_t n = 0;
	bool on = false;
	uint64_t total = 0, at = 0;
	enum fedc_err rc = fedc_params_open_fd(update_fd, &update);

	if (!rc) {
		const struct fedc_tensor *t = fedc_params_tensors(update);

		/* the update is y then dc: split it as the global parameters */
		while (n < fedc_params_count(update) && !has_prefix(t[n].name, SCAFFOLD_DC_PREFIX))
			n++;
		on = n < fedc_params_count(update);
	}
	if (rc || (!on && n_extra == 0))
		goto out;
	if (!on)
		n = 0; /* no c_i: the extra tensors alone */
	if (on)
		rc = check_pairs(fedc_params_tensors(update), n, SCAFFOLD_DC_PREFIX, "the update");
	if (!rc && access(before_path, F_OK) == 0)
		rc = fedc_params_open(before_path, &state);
	if (!rc && state)
		rc = fedc_params_check_f32(state);
	for (size_t i = 0; !rc && i < n; i++)
		total += fedc_tensor_elements(&fedc_params_tensors(update)[i]);
	next = calloc(n + n_extra + 1, sizeof(*next));
	buf = malloc((total ? total : 1) * sizeof(float));
	if (!rc && (!next || !buf))
		rc = FEDC_ERR_NOMEM;
	for (size_t i = 0; !rc && i < n; i++) {
		const struct fedc_tensor *y = &fedc_params_tensors(update)[i];
		const float *dc = fedc_params_tensors(update)[n + i].data, *ci = local_variate(state, y);
		uint64_t count = fedc_tensor_elements(y);

		for (uint64_t k = 0; k < count; k++)
			buf[at + k] = (ci ? ci[k] : 0.0f) + dc[k];
		next[i] = *y;
		next[i].data = buf + at;
		at += count;
	}
	if (!rc && n_extra)
		memcpy(next + n, extra, n_extra * sizeof(*extra));
	if (!rc)
		rc = fedc_params_write_file(after_path, next, n + n_extra);
out:
	if (rc)
		rc = fedc_fail(rc, "cannot save the node's state for this job (SCAFFOLD, local tensors) %s: %s",
			       after_path, fedc_last_error());
	free(next);
	free(buf);
	fedc_params_close(state);
	fedc_params_close(update);
	return rc;
}
