/* FedBN's local tensors on the node (see local_params.h). */
#define _GNU_SOURCE /* memfd_create */
#include "local_params.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "fedc/plan_abi.h"

static bool has_prefix(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* ---- the plan process ---- */

/* The node's own value of `model` tensor: "local.<name>" in the state file,
 * float32 and shaped alike, or NULL. */
static const void *saved_value(const struct fedc_params *state, const struct fedc_tensor *model)
{
	char name[FEDC_MAX_NAME_LEN + sizeof(LOCAL_PARAMS_PREFIX)];
	const struct fedc_tensor *t;

	if (!state)
		return NULL;
	snprintf(name, sizeof(name), LOCAL_PARAMS_PREFIX "%s", model->name);
	t = fedc_params_find(state, name);
	if (!t || t->dtype != FEDC_DTYPE_F32 || t->ndim != model->ndim ||
	    memcmp(t->shape, model->shape, model->ndim * sizeof(model->shape[0])) != 0)
		return NULL;
	return t->data;
}

static enum fedc_err open_state(const char *path, struct fedc_params **out)
{
	enum fedc_err rc;

	*out = NULL;
	if (!path || !path[0] || access(path, F_OK) != 0)
		return FEDC_OK; /* the job's first round on this node */
	rc = fedc_params_open(path, out);
	if (!rc)
		rc = fedc_params_check_f32(*out);
	if (rc)
		return fedc_fail(FEDC_ERR_MALFORMED, "the node's state for this job %s: %s", path, fedc_last_error());
	return FEDC_OK;
}

enum fedc_err local_params__begin(const struct fedc_plan *plan, void *model, const struct fedc_tensor *global,
				  size_t n, const char *state_path, struct local_params *r)
{
	enum fedc_err rc;

	memset(r, 0, sizeof(*r));
	r->n = n;
	r->roles = calloc(n ? n : 1, 1);
	r->tensors = calloc(n ? n : 1, sizeof(*r->tensors));
	if (!r->roles || !r->tensors)
		return FEDC_ERR_NOMEM;
	memcpy(r->tensors, global, n * sizeof(*global));
	rc = fedc_plan_roles(plan, model, r->roles, n);
	for (size_t i = 0; !rc && i < n; i++)
		r->n_local += r->roles[i] == FEDC_PARAM_LOCAL;
	if (rc || r->n_local == 0)
		return rc;
	rc = open_state(state_path, &r->state);
	for (size_t i = 0; !rc && r->state && i < n; i++) {
		const void *own = r->roles[i] == FEDC_PARAM_LOCAL ? saved_value(r->state, &global[i]) : NULL;

		if (own)
			r->tensors[i].data = own;
	}
	return rc;
}

void local_params__end(struct local_params *r)
{
	free(r->roles);
	free(r->tensors);
	free(r->extra);
	free(r->names);
	fedc_params_close(r->state);
	memset(r, 0, sizeof(*r));
}

enum fedc_err local_params__extra(struct local_params *r, const struct fedc_tensor *y,
				  const struct fedc_tensor **extra, size_t *n_extra)
{
	size_t k = 0;

	*extra = NULL;
	*n_extra = 0;
	if (r->n_local == 0)
		return FEDC_OK;
	if (!r->extra) {
		r->extra = calloc(r->n_local, sizeof(*r->extra));
		r->names = calloc(r->n_local, sizeof(*r->names));
		if (!r->extra || !r->names)
			return FEDC_ERR_NOMEM;
	}
	for (size_t i = 0; i < r->n; i++) {
		if (r->roles[i] != FEDC_PARAM_LOCAL)
			continue;
		if ((size_t)snprintf(r->names[k], sizeof(r->names[k]), LOCAL_PARAMS_PREFIX "%s", y[i].name) >=
		    sizeof(r->names[k]))
			return fedc_fail(FEDC_ERR_TOO_BIG, "local tensor \"%s\": its name is too long to keep on the node "
					 "(at most %zu characters)", y[i].name,
					 (size_t)FEDC_MAX_NAME_LEN - strlen(LOCAL_PARAMS_PREFIX));
		r->extra[k] = y[i];
		r->extra[k].name = r->names[k];
		k++;
	}
	*extra = r->extra;
	*n_extra = k;
	return FEDC_OK;
}

enum fedc_err local_params__write(int fd, const struct fedc_tensor *y, size_t count, const struct fedc_tensor *extra,
				  size_t n_extra)
{
	struct fedc_tensor *all;
	enum fedc_err rc;

	if (n_extra == 0)
		return fedc_params_write_fd(fd, y, count);
	all = calloc(count + n_extra, sizeof(*all));
	if (!all)
		return FEDC_ERR_NOMEM;
	memcpy(all, y, count * sizeof(*all));
	memcpy(all + count, extra, n_extra * sizeof(*all));
	rc = fedc_params_write_fd(fd, all, count + n_extra);
	free(all);
	return rc;
}

/* ---- the node ---- */

void local_kept__free(struct local_kept *kept)
{
	free(kept->tensors);
	free(kept->names);
	free(kept->values);
	memset(kept, 0, sizeof(*kept));
}

/* Copies the trailing `n` tensors of `t` (from `first`) into `kept`. */
static enum fedc_err keep_copies(const struct fedc_tensor *t, size_t first, size_t n, struct local_kept *kept)
{
	uint64_t total = 0, at = 0;

	for (size_t i = first; i < first + n; i++) {
		if (t[i].dtype != FEDC_DTYPE_F32)
			return fedc_fail(FEDC_ERR_MALFORMED, "the update's local tensor \"%s\" is not float32", t[i].name);
		total += fedc_tensor_elements(&t[i]);
	}
	kept->tensors = calloc(n, sizeof(*kept->tensors));
	kept->names = calloc(n, sizeof(*kept->names));
	kept->values = malloc((total ? total : 1) * sizeof(float));
	if (!kept->tensors || !kept->names || !kept->values)
		return FEDC_ERR_NOMEM;
	for (size_t k = 0; k < n; k++) {
		const struct fedc_tensor *src = &t[first + k];
		uint64_t count = fedc_tensor_elements(src);

		snprintf(kept->names[k], sizeof(kept->names[k]), "%s", src->name);
		memcpy(kept->values + at, src->data, (size_t)count * sizeof(float));
		kept->tensors[k] = *src;
		kept->tensors[k].name = kept->names[k];
		kept->tensors[k].data = kept->values + at;
		at += count;
	}
	kept->n = n;
	return FEDC_OK;
}

/* The first `n` tensors of `t` into a new memfd, rewound. */
static enum fedc_err rewrite(const struct fedc_tensor *t, size_t n, int *out_fd)
{
	int fd = memfd_create("fedc-update", MFD_CLOEXEC);
	enum fedc_err rc;

	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "cannot create a memfd for the update: %s", strerror(errno));
	rc = fedc_params_write_fd(fd, t, n);
	if (!rc)
		rc = fedc_fd_cut_here(fd, "the update");
	if (!rc)
		rc = fedc_fd_rewind(fd, "the update");
	if (rc) {
		close(fd);
		return rc;
	}
	*out_fd = fd;
	return FEDC_OK;
}

enum fedc_err local_params__take(int *update_fd, struct local_kept *kept)
{
	struct fedc_params *update = NULL;
	const struct fedc_tensor *t;
	size_t count, first;
	int fd = -1;
	enum fedc_err rc;

	memset(kept, 0, sizeof(*kept));
	rc = fedc_params_open_fd(*update_fd, &update);
	if (rc)
		return rc;
	t = fedc_params_tensors(update);
	count = fedc_params_count(update);
	first = count;
	while (first > 0 && has_prefix(t[first - 1].name, LOCAL_PARAMS_PREFIX))
		first--;
	for (size_t i = 0; i < first && !rc; i++) {
		if (has_prefix(t[i].name, LOCAL_PARAMS_PREFIX))
			rc = fedc_fail(FEDC_ERR_MALFORMED, "the update's tensor %zu \"%s\" comes before others: the "
					 "node's local tensors go last", i, t[i].name);
	}
	if (!rc && first < count)
		rc = keep_copies(t, first, count - first, kept);
	if (!rc && first < count)
		rc = rewrite(t, first, &fd);
	fedc_params_close(update);
	if (rc) {
		local_kept__free(kept);
		return rc;
	}
	if (fd >= 0) {
		close(*update_fd);
		*update_fd = fd;
	}
	return FEDC_OK;
}
