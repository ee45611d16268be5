/* The aggregator object: methods and options, the round (updates kept
 * mapped and folded in node-id order), and the state across rounds with its
 * file. The methods themselves are in aggregator_<method>.c; see
 * aggregator_internal.h for who does what. */
#include "aggregator_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fedc/fs.h"

/* ------------------------------------------------------------------ */
/* Methods and options                                                */

static const struct agg_ops *const all_ops[] = {
	&aggregator__fedavg_ops,	&aggregator__fedprox_ops, &aggregator__scaffold_ops,
	&aggregator__fedadam_ops,	&aggregator__fedyogi_ops, &aggregator__fedadagrad_ops,
	&aggregator__median_ops,	&aggregator__trimmed_mean_ops, &aggregator__krum_ops,
	&aggregator__multikrum_ops,	&aggregator__normbounded_ops,
};

#define N_OPS (sizeof(all_ops) / sizeof(all_ops[0]))

#define OPT(field) offsetof(struct aggregator_options, field)
#define SERVER_OPT "fedadam,fedyogi,fedadagrad"

/* The methods that weight updates by their sample counts: the ones
 * max_weight caps. */
#define WEIGHTED "fedavg,fedprox," SERVER_OPT ",normbounded"

static const struct aggregator_option_spec option_specs[] = {
	{ "server_lr", 0, 1e6, true, false, false, OPT(server_lr), SERVER_OPT ",scaffold" },
	{ "beta1", 0, 1, false, true, false, OPT(beta1), SERVER_OPT },
	{ "beta2", 0, 1, false, true, false, OPT(beta2), "fedadam,fedyogi" },
	{ "tau", 0, 1e6, true, false, false, OPT(tau), SERVER_OPT },
	{ "beta", 0, 0.5, false, true, false, OPT(beta), "trimmed_mean" },
	{ "mu", 0, 1e6, false, false, false, OPT(mu), "fedprox" },
	{ "max_weight", 0, 1, true, false, false, OPT(max_weight), WEIGHTED },
	{ "f", 0, 1000, false, false, true, OPT(f), "krum,multikrum" },
	{ "m", 0, 100000, false, false, true, OPT(m), "multikrum" },
	{ "clip_norm", 0, 1e30, true, false, false, OPT(clip_norm), "normbounded" },
};

#define N_SPECS (sizeof(option_specs) / sizeof(option_specs[0]))

static const struct agg_ops *find_ops(const char *method)
{
	for (size_t i = 0; method && i < N_OPS; i++) {
		if (strcmp(method, all_ops[i]->name) == 0)
			return all_ops[i];
	}
	return NULL;
}

const struct aggregator_option_spec *aggregator__option_spec(size_t index)
{
	return index < N_SPECS ? &option_specs[index] : NULL;
}

bool aggregator__method_known(const char *method)
{
	return find_ops(method) != NULL;
}

const char *aggregator__method_list(void)
{
	return "fedavg, fedprox, scaffold, fedadam, fedyogi, fedadagrad, median, trimmed_mean, krum, multikrum, "
	       "normbounded";
}

/* Whole-token match in the comma-separated list, so that "fedadam" does not
 * pass for "fedadamw" or the reverse. */
bool aggregator__option_applies(const char *method, const struct aggregator_option_spec *spec)
{
	size_t len = method ? strlen(method) : 0;

	for (const char *p = spec->methods; len && *p;) {
		size_t n = strcspn(p, ",");

		if (n == len && strncmp(p, method, len) == 0)
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

void aggregator__default_options(const char *method, struct aggregator_options *o)
{
	/* Reddi et al. 2021 tune the server step per task; 0.1 is a common
	 * starting point with beta1 0.9, beta2 0.99, tau 1e-3. SCAFFOLD's
	 * global step is 1 in Karimireddy et al. (plain averaging). */
	o->server_lr = method && strcmp(method, "scaffold") == 0 ? 1.0 : 0.1;
	o->beta1 = 0.9;
	o->beta2 = 0.99;
	o->tau = 1e-3;
	o->beta = 0.1;
	o->mu = 0.01;
	o->max_weight = 1.0; /* no cap */
	o->f = 1;
	o->m = 0; /* n - f */
	o->clip_norm = 1.0;
}

static bool in_range(const struct aggregator_option_spec *s, double v)
{
	if (!isfinite(v) || v < s->min || v > s->max || (s->whole && v != floor(v)))
		return false;
	return !(s->min_open && v == s->min) && !(s->max_open && v == s->max);
}

enum fedc_err aggregator__check_options(const char *method, const struct aggregator_options *o)
{
	for (size_t i = 0; i < N_SPECS; i++) {
		const struct aggregator_option_spec *s = &option_specs[i];
		double v;

		if (!aggregator__option_applies(method, s))
			continue;
		memcpy(&v, (const char *)o + s->offset, sizeof(v));
		if (!in_range(s, v))
			return fedc_fail(FEDC_ERR_CONFIG, "[aggregator] %s: expected a %s in %c%g, %g%c, got %g",
					 s->key, s->whole ? "whole number" : "number", s->min_open ? '(' : '[', s->min,
					 s->max, s->max_open ? ')' : ']', v);
	}
	return FEDC_OK;
}

/* ------------------------------------------------------------------ */
/* Layouts                                                            */

void aggregator__layout_free(struct agg_layout *l)
{
	for (size_t i = 0; l->names && i < l->count; i++)
		free(l->names[i]); /* allocated by layout_push */
	free(l->names);
	free(l->tensors);
	free(l->offsets);
	memset(l, 0, sizeof(*l));
}

enum fedc_err aggregator__layout_init(struct agg_layout *l, size_t capacity)
{
	memset(l, 0, sizeof(*l));
	l->tensors = calloc(capacity ? capacity : 1, sizeof(*l->tensors));
	l->offsets = calloc(capacity ? capacity : 1, sizeof(*l->offsets));
	l->names = calloc(capacity ? capacity : 1, sizeof(*l->names));
	if (!l->tensors || !l->offsets || !l->names) {
		aggregator__layout_free(l);
		return FEDC_ERR_NOMEM;
	}
	return FEDC_OK;
}

/* The caller sized the layout (layout_init) for every push. */
enum fedc_err aggregator__layout_push(struct agg_layout *l, const struct fedc_tensor *t, const char *prefix)
{
	size_t plen = strlen(prefix), nlen = strlen(t->name);
	char *name;

	if (plen + nlen > FEDC_MAX_NAME_LEN)
		return fedc_fail(FEDC_ERR_TOO_BIG, "tensor name \"%s%s\" is longer than %d characters", prefix,
				 t->name, FEDC_MAX_NAME_LEN);
	name = malloc(plen + nlen + 1);
	if (!name)
		return FEDC_ERR_NOMEM;
	memcpy(name, prefix, plen);
	memcpy(name + plen, t->name, nlen + 1);
	l->tensors[l->count] = *t;
	l->names[l->count] = name;
	l->tensors[l->count].name = name;
	l->tensors[l->count].data = NULL;
	l->offsets[l->count] = l->n_elements;
	/* A validated parameter file caps this sum at FEDC_MAX_PARAMS_BYTES / 4. */
	l->n_elements += fedc_tensor_elements(t);
	l->count++;
	return FEDC_OK;
}

enum fedc_err aggregator__layout_append(struct agg_layout *l, const struct agg_layout *src, const char *prefix)
{
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; !rc && i < src->count; i++)
		rc = aggregator__layout_push(l, &src->tensors[i], prefix);
	return rc;
}

enum fedc_err aggregator__layout_of(struct agg_layout *l, const struct fedc_tensor *t, size_t count,
				    const char *prefix)
{
	enum fedc_err rc = aggregator__layout_init(l, count);

	for (size_t i = 0; !rc && i < count; i++)
		rc = aggregator__layout_push(l, &t[i], prefix);
	return rc;
}

bool aggregator__layout_equal(const struct agg_layout *a, const struct agg_layout *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		if (!fedc_tensor_same_layout(&a->tensors[i], &b->tensors[i]))
			return false;
	}
	return true;
}

enum fedc_err aggregator__plain_layouts(struct aggregator *agg, const struct fedc_params *global)
{
	const struct fedc_tensor *t = fedc_params_tensors(global);
	size_t n = fedc_params_count(global);
	enum fedc_err rc;

	rc = aggregator__layout_of(&agg->model, t, n, "");
	if (!rc)
		rc = aggregator__layout_of(&agg->update_layout, t, n, "");
	if (!rc)
		rc = aggregator__layout_of(&agg->out_layout, t, n, "");
	return rc;
}

/* Asks for transparent huge pages over the 2 MiB pages wholly inside a large
 * vector, before anything touches it (a fresh calloc from mmap is not
 * written). In a virtual machine each 4 KiB page fault is dear: the sum of
 * 2 x 1e7 values took 240 ms with 4 KiB pages, 26 ms with huge ones. Only
 * advice: where THP is off, nothing changes. */
static void advise_huge_pages(void *p, size_t bytes)
{
	const uintptr_t huge = (uintptr_t)2 << 20;
	uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1), end = ((uintptr_t)p + bytes) & ~(huge - 1);

	if (bytes >= 2 * huge && end > start)
		(void)madvise((void *)start, end - start, MADV_HUGEPAGE);
}

enum fedc_err aggregator__alloc(uint64_t n, size_t size, void *out_ptr)
{
	void *p;

	if (n > SIZE_MAX / size)
		return fedc_fail(FEDC_ERR_TOO_BIG, "a vector of %llu values does not fit in memory",
				 (unsigned long long)n);
	p = calloc(n ? (size_t)n : 1, size);
	if (!p)
		return fedc_fail(FEDC_ERR_NOMEM, "no memory for a vector of %llu values", (unsigned long long)n);
	advise_huge_pages(p, (size_t)n * size);
	memcpy(out_ptr, &p, sizeof(p));
	return FEDC_OK;
}

void aggregator__flatten(const struct agg_layout *l, const struct fedc_tensor *t, float *dst)
{
	for (size_t i = 0; i < l->count; i++)
		memcpy(dst + l->offsets[i], t[i].data, (size_t)fedc_tensor_elements(&t[i]) * sizeof(float));
}

/* ------------------------------------------------------------------ */
/* Updates                                                            */

/* Values checked between two releases of their pages (4 MiB). */
#define CHECK_BLOCK (1u << 20)

/* FEDC_ERR_MALFORMED naming the first value of x[j0..j1-1] that is not finite. */
static enum fedc_err not_finite(const struct fedc_tensor *t, uint64_t j0, uint64_t j1)
{
	const float *x = t->data;
	uint64_t j = j0;

	while (j + 1 < j1 && isfinite(x[j]))
		j++;
	return fedc_fail(FEDC_ERR_MALFORMED, "update tensor \"%s\" holds %s at index %llu", t->name,
			 isnan(x[j]) ? "NaN" : "an infinity", (unsigned long long)j);
}

/* Checks that `update` has the expected layout and only finite values,
 * before anything of it is kept. */
static enum fedc_err layout_check(const struct agg_layout *l, const struct fedc_params *update)
{
	const struct fedc_tensor *t = fedc_params_tensors(update);
	size_t count = fedc_params_count(update);

	if (count != l->count)
		return fedc_fail(FEDC_ERR_MALFORMED, "update has %zu tensors, %zu expected", count, l->count);
	for (size_t i = 0; i < count; i++) {
		if (!fedc_tensor_same_layout(&t[i], &l->tensors[i]))
			return fedc_fail(FEDC_ERR_MALFORMED,
					 "update tensor %zu \"%s\" differs from expected tensor \"%s\" "
					 "(name, dtype, shape or order)",
					 i, t[i].name, l->tensors[i].name);
	}
	for (size_t i = 0; i < count; i++) {
		const float *x = t[i].data;
		uint64_t n = fedc_tensor_elements(&t[i]);

		for (uint64_t j0 = 0; j0 < n; j0 += CHECK_BLOCK) {
			uint64_t j1 = n - j0 < CHECK_BLOCK ? n : j0 + CHECK_BLOCK;

			if (!aggregator__all_finite(x + j0, (size_t)(j1 - j0)))
				return not_finite(&t[i], j0, j1);
			/* read once here, again at finish(): no need to keep it resident */
			fedc_params_release_span(update, x + j0, (size_t)(j1 - j0) * sizeof(float));
		}
	}
	return FEDC_OK;
}

static enum fedc_err check_add(const struct aggregator *agg, const char *node_id, uint64_t n_samples)
{
	const char *name = agg->ops->name;

	if (!agg->in_round)
		return fedc_fail(FEDC_ERR_INVAL, "%s: add() before begin()", name);
	if (agg->computed)
		return fedc_fail(FEDC_ERR_INVAL, "%s: add() after finish(); begin a new round", name);
	if (!node_id || !node_id[0] || strlen(node_id) > FEDC_MAX_ID_LEN)
		return fedc_fail(FEDC_ERR_INVAL, "%s: a node id of 1..%d characters is required", name,
				 FEDC_MAX_ID_LEN);
	if (n_samples == 0)
		return fedc_fail(FEDC_ERR_INVAL, "%s: an update with 0 training samples", name);
	if (n_samples > UINT64_MAX - agg->total_weight)
		return fedc_fail(FEDC_ERR_INVAL, "%s: sample counts overflow", name);
	if (agg->n_updates >= agg->n_nodes)
		return fedc_fail(FEDC_ERR_INVAL, "%s: more updates than the %u node(s) of the experiment", name,
				 agg->n_nodes);
	for (size_t k = 0; k < agg->n_updates; k++) {
		if (strcmp(agg->updates[k].node_id, node_id) == 0)
			return fedc_fail(FEDC_ERR_INVAL, "%s: node %s already sent its update", name, node_id);
	}
	return FEDC_OK;
}

static enum fedc_err push_update(struct aggregator *agg, const char *node_id, struct fedc_params *update,
				 uint64_t n_samples)
{
	struct agg_update *u;
	void *slot = NULL;
	enum fedc_err rc = fedc_buf_extend(&agg->update_mem, sizeof(*u), &slot);

	if (rc)
		return rc;
	agg->updates = (struct agg_update *)agg->update_mem.data;
	agg->n_updates++;
	u = slot;
	snprintf(u->node_id, sizeof(u->node_id), "%s", node_id);
	u->params = update;
	u->weight = n_samples;
	agg->total_weight += n_samples;
	return FEDC_OK;
}

static void close_updates(struct aggregator *agg)
{
	for (size_t k = 0; k < agg->n_updates; k++)
		fedc_params_close(agg->updates[k].params);
	fedc_buf_free(&agg->update_mem);
	agg->updates = NULL;
	agg->n_updates = 0;
	agg->total_weight = 0;
}

static int compare_updates(const void *a, const void *b)
{
	return strcmp(((const struct agg_update *)a)->node_id, ((const struct agg_update *)b)->node_id);
}

/* ------------------------------------------------------------------ */
/* The round                                                          */

static void end_round(struct aggregator *agg)
{
	if (agg->round)
		agg->ops->release_round(agg);
	agg->round = NULL;
	close_updates(agg);
	aggregator__layout_free(&agg->model);
	aggregator__layout_free(&agg->update_layout);
	aggregator__layout_free(&agg->out_layout);
	agg->result = NULL;
	aggregator__roles_free(agg);
	agg->in_round = agg->computed = agg->committed = false;
	agg->n_nodes = 0;
	free(agg->secure_sum);
	agg->secure_sum = NULL;
	agg->secure_weight = 0;
	agg->secure_count = 0;
	free(agg->written_path);
	agg->written_path = NULL;
}

bool aggregator__secure_sum_kind(const char *method, bool *weighted)
{
	const struct agg_ops *ops = find_ops(method);

	if (weighted)
		*weighted = ops && ops->secure_sum == AGG_SUM_WEIGHTED;
	return ops && ops->secure_sum != AGG_SUM_NONE;
}

enum fedc_err aggregator__add_sum(struct aggregator *agg, double *sum, uint64_t total_weight, size_t contributors)
{
	enum fedc_err rc = FEDC_OK;

	if (!agg->in_round || agg->computed || agg->n_updates || agg->secure_sum)
		rc = fedc_fail(FEDC_ERR_INVAL, "%s: a secure sum goes alone into a round that has begun",
			       agg->ops->name);
	else if (agg->ops->secure_sum == AGG_SUM_NONE)
		rc = fedc_fail(FEDC_ERR_INVAL, "%s needs every update on its own: it cannot work over secure "
			       "aggregation", agg->ops->name);
	else if (total_weight == 0 || contributors == 0 || contributors > agg->n_nodes)
		rc = fedc_fail(FEDC_ERR_INVAL, "%s: a secure sum of %zu node(s) and total weight %llu",
			       agg->ops->name, contributors, (unsigned long long)total_weight);
	else if (agg->ops->secure_sum == AGG_SUM_PLAIN && total_weight != contributors)
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: a sum of %zu unweighted updates has total weight %llu",
			       agg->ops->name, contributors, (unsigned long long)total_weight);
	for (uint64_t j = 0; !rc && j < agg->update_layout.n_elements; j++)
		if (!isfinite(sum[j]))
			rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: the secure sum holds a NaN or an infinity",
				       agg->ops->name);
	if (rc) {
		free(sum);
		return rc;
	}
	agg->secure_sum = sum;
	agg->secure_weight = total_weight;
	agg->secure_count = contributors;
	return FEDC_OK;
}

uint64_t aggregator__update_values(const struct aggregator *agg)
{
	return agg->update_layout.n_elements;
}

void aggregator__end_round(struct aggregator *agg)
{
	if (agg)
		end_round(agg);
}

static void state_free(struct agg_state *s)
{
	aggregator__layout_free(&s->layout);
	for (size_t k = 0; k < AGG_MAX_STATE_VECS; k++)
		free(s->vecs[k]);
	memset(s, 0, sizeof(*s));
}

/* The state across rounds follows the model: set up on the first round,
 * checked against it on every later one. */
static enum fedc_err prepare_state(struct aggregator *agg, const struct fedc_params *global)
{
	struct agg_state *s = &agg->state;
	enum fedc_err rc;

	if (agg->ops->n_state_vecs == 0)
		return FEDC_OK;
	if (s->ready) {
		if (!aggregator__layout_equal(&s->layout, &agg->model))
			return fedc_fail(FEDC_ERR_MALFORMED, "%s: the global parameters' tensors differ from the "
					 "aggregator state's (%zu tensors, %llu values)", agg->ops->name,
					 s->layout.count, (unsigned long long)s->layout.n_elements);
		return FEDC_OK;
	}
	rc = aggregator__layout_init(&s->layout, agg->model.count);
	if (!rc)
		rc = aggregator__layout_append(&s->layout, &agg->model, "");
	for (size_t k = 0; !rc && k < agg->ops->n_state_vecs; k++)
		rc = aggregator__alloc(s->layout.n_elements, sizeof(float), &s->vecs[k]);
	if (rc) {
		state_free(s);
		return rc;
	}
	if (agg->ops->init_state)
		agg->ops->init_state(agg, global);
	s->ready = true;
	return FEDC_OK;
}

enum fedc_err aggregator__new(const char *method, const struct aggregator_options *opts,
			      struct aggregator **out)
{
	const struct agg_ops *ops = find_ops(method);
	struct aggregator_options defaults;
	enum fedc_err rc;

	if (!out)
		return FEDC_ERR_INVAL;
	*out = NULL;
	if (!ops)
		return fedc_fail(FEDC_ERR_CONFIG, "unknown aggregator \"%s\" (known: %s)", method ? method : "",
				 aggregator__method_list());
	aggregator__default_options(method, &defaults);
	rc = aggregator__check_options(method, opts ? opts : &defaults);
	if (rc)
		return rc;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return FEDC_ERR_NOMEM;
	(*out)->ops = ops;
	(*out)->opts = opts ? *opts : defaults;
	return FEDC_OK;
}

void aggregator__free(struct aggregator *agg)
{
	if (!agg)
		return;
	end_round(agg);
	state_free(&agg->state);
	free(agg->roles);
	free(agg);
}

enum fedc_err aggregator__begin(struct aggregator *agg, const struct fedc_params *global, uint32_t n_nodes)
{
	enum fedc_err rc;

	if (!agg || !global)
		return FEDC_ERR_INVAL;
	end_round(agg);
	if (n_nodes == 0)
		return fedc_fail(FEDC_ERR_INVAL, "%s: an experiment without nodes", agg->ops->name);
	rc = fedc_params_check_f32(global);
	if (!rc)
		rc = agg->ops->begin(agg, global);
	if (!rc)
		rc = aggregator__check_roles(agg);
	if (!rc)
		rc = prepare_state(agg, global);
	if (rc) {
		end_round(agg);
		return rc;
	}
	agg->n_nodes = n_nodes;
	fedc_buf_init(&agg->update_mem, (size_t)n_nodes * sizeof(struct agg_update));
	agg->in_round = true;
	return FEDC_OK;
}

enum fedc_err aggregator__check_update(const struct aggregator *agg, const struct fedc_params *update)
{
	if (!agg || !update)
		return FEDC_ERR_INVAL;
	if (!agg->in_round)
		return fedc_fail(FEDC_ERR_INVAL, "%s: an update checked before begin()", agg->ops->name);
	/* releases what it has read: it is read again, once, at finish() */
	return layout_check(&agg->update_layout, update);
}

enum fedc_err aggregator__add_checked(struct aggregator *agg, const char *node_id, struct fedc_params *update,
				      uint64_t n_samples)
{
	enum fedc_err rc;

	if (!agg || !update)
		rc = FEDC_ERR_INVAL;
	else
		rc = check_add(agg, node_id, n_samples);
	if (!rc)
		rc = push_update(agg, node_id, update, n_samples);
	if (rc)
		fedc_params_close(update); /* ownership was ours either way */
	return rc;
}

enum fedc_err aggregator__add(struct aggregator *agg, const char *node_id, struct fedc_params *update,
			      uint64_t n_samples)
{
	enum fedc_err rc = agg && update ? aggregator__check_update(agg, update) : FEDC_ERR_INVAL;

	if (rc) {
		fedc_params_close(update);
		return rc;
	}
	return aggregator__add_checked(agg, node_id, update, n_samples);
}

/* Once per round, before any result value: the updates in node-id order
 * (or the secure sum), their shares, the values of the averaged tensors.
 * From then on the round takes no update. */
static enum fedc_err prepare_result(struct aggregator *agg)
{
	enum fedc_err rc = FEDC_OK;

	if (agg->computed)
		return FEDC_OK;
	if (agg->secure_sum) {
		agg->share_total = (double)agg->secure_weight;
		agg->n_contributors = agg->secure_count;
	} else if (agg->n_updates == 0) {
		return fedc_fail(FEDC_ERR_INVAL, "%s: no update to aggregate", agg->ops->name);
	} else {
		qsort(agg->updates, agg->n_updates, sizeof(agg->updates[0]), compare_updates);
		agg->n_contributors = agg->n_updates;
		rc = aggregator__share_weights(agg);
	}
	if (!rc)
		rc = aggregator__roles_before(agg);
	agg->computed = rc == FEDC_OK;
	return rc;
}

/* An in-memory method's result, once; the mappings go right after. */
static enum fedc_err compute_result(struct aggregator *agg)
{
	enum fedc_err rc;

	if (agg->result)
		return FEDC_OK;
	rc = agg->ops->compute(agg, &agg->result);
	if (rc)
		return rc;
	aggregator__roles_after_compute(agg);
	close_updates(agg);
	return FEDC_OK;
}

/* Streams the result (tensors pointing into it) to the file; the result
 * stays in place, so a failed write can be retried. */
static enum fedc_err write_result(const struct aggregator *agg, const char *out_path)
{
	const struct agg_layout *l = &agg->out_layout;
	struct fedc_tensor *out = calloc(l->count ? l->count : 1, sizeof(*out));
	enum fedc_err rc;

	if (!out)
		return FEDC_ERR_NOMEM;
	for (size_t i = 0; i < l->count; i++) {
		out[i] = l->tensors[i];
		out[i].data = agg->result + l->offsets[i];
	}
	rc = fedc_params_write_file(out_path, out, l->count);
	free(out);
	return rc;
}

/* A streamed result is computed again if its write is retried (the updates
 * stay until one succeeds); once written, its file is what a later call
 * copies: the updates are gone and the state may have moved on. */
static enum fedc_err write_streamed(struct aggregator *agg, const char *out_path)
{
	enum fedc_err rc;

	if (agg->written_path)
		return strcmp(agg->written_path, out_path) == 0 ? FEDC_OK
								: fedc_copy_atomic(agg->written_path, out_path, 0644);
	rc = aggregator__stream_result(agg, out_path);
	if (rc)
		return rc;
	agg->written_path = strdup(out_path);
	if (!agg->written_path)
		return FEDC_ERR_NOMEM; /* nothing lost: the next call writes it again */
	close_updates(agg);
	return FEDC_OK;
}

enum fedc_err aggregator__finish(struct aggregator *agg, const char *out_path)
{
	enum fedc_err rc = FEDC_OK;

	if (!agg || !out_path)
		return FEDC_ERR_INVAL;
	if (!agg->in_round)
		return fedc_fail(FEDC_ERR_INVAL, "%s: finish() before begin()", agg->ops->name);
	rc = prepare_result(agg);
	if (!rc && agg->ops->compute_block) {
		rc = write_streamed(agg, out_path);
	} else if (!rc) {
		rc = compute_result(agg);
		if (!rc)
			rc = write_result(agg, out_path);
	}
	if (!rc && !agg->committed) {
		if (agg->ops->commit)
			agg->ops->commit(agg);
		aggregator__roles_after_commit(agg);
		agg->rounds_done++;
		agg->committed = true;
	}
	return rc;
}

uint64_t aggregator__rounds(const struct aggregator *agg)
{
	return agg ? agg->rounds_done : 0;
}

/* ------------------------------------------------------------------ */
/* State file                                                         */

/* The round count travels as one float32: exact up to 2^24 rounds. */
#define MAX_SAVED_ROUNDS (1u << 24)

static void state_header_name(const struct aggregator *agg, char *buf, size_t len)
{
	snprintf(buf, len, "aggregator.%s", agg->ops->name);
}

enum fedc_err aggregator__save_state(const struct aggregator *agg, const char *path)
{
	const struct agg_state *s;
	struct agg_layout all = { 0 };
	char header[64];
	struct fedc_tensor head = { header, FEDC_DTYPE_F32, 0, { 0 }, NULL };
	float rounds;
	size_t nv;
	enum fedc_err rc;

	if (!agg || !path)
		return FEDC_ERR_INVAL;
	s = &agg->state;
	nv = s->ready ? agg->ops->n_state_vecs : 0;
	if (agg->rounds_done > MAX_SAVED_ROUNDS)
		return fedc_fail(FEDC_ERR_TOO_BIG, "%s: more than %u rounds to save", agg->ops->name, MAX_SAVED_ROUNDS);
	rounds = (float)agg->rounds_done;
	state_header_name(agg, header, sizeof(header));
	rc = aggregator__layout_init(&all, 1 + nv * s->layout.count);
	if (!rc)
		rc = aggregator__layout_push(&all, &head, "");
	for (size_t k = 0; !rc && k < nv; k++)
		rc = aggregator__layout_append(&all, &s->layout, agg->ops->state_prefixes[k]);
	if (!rc) {
		/* Tensor 1 + k * count + i is vector k over model tensor i. */
		all.tensors[0].data = &rounds;
		for (size_t k = 0; k < nv; k++) {
			for (size_t i = 0; i < s->layout.count; i++)
				all.tensors[1 + k * s->layout.count + i].data = s->vecs[k] + s->layout.offsets[i];
		}
		rc = fedc_params_write_file(path, all.tensors, all.count);
	}
	aggregator__layout_free(&all);
	return rc;
}

/* Tensor 0: "aggregator.<method>", a scalar whole number of rounds. */
static enum fedc_err read_state_header(const struct aggregator *agg, const struct fedc_params *p,
				       uint64_t *rounds)
{
	const struct fedc_tensor *t = fedc_params_tensors(p);
	char want[64];
	float v = -1;

	state_header_name(agg, want, sizeof(want));
	if (fedc_params_count(p) == 0 || strncmp(t[0].name, "aggregator.", 11) != 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "not an aggregator state file (no \"aggregator.<method>\" first)");
	if (strcmp(t[0].name, want) != 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "the state file is for %s, not %s", t[0].name + 11,
				 agg->ops->name);
	if (t[0].ndim == 0) /* a scalar: one value to read */
		memcpy(&v, t[0].data, sizeof(v));
	if (t[0].ndim != 0 || !(v >= 0 && v <= (float)MAX_SAVED_ROUNDS) || v != floorf(v))
		return fedc_fail(FEDC_ERR_MALFORMED, "state file: \"%s\" is not a scalar round count", want);
	*rounds = (uint64_t)v;
	return FEDC_OK;
}

/* Tensor `t` (vector k over model tensor i) must be named prefix_k + the
 * model tensor's name, shaped like it, and finite. */
static enum fedc_err check_state_tensor(const struct fedc_tensor *t, const char *prefix,
					const struct fedc_tensor *model)
{
	size_t plen = strlen(prefix);
	struct fedc_tensor stripped = *t;
	const float *x = t->data;

	stripped.name = t->name + (strncmp(t->name, prefix, plen) == 0 ? plen : 0);
	if (stripped.name == t->name || !fedc_tensor_same_layout(&stripped, model))
		return fedc_fail(FEDC_ERR_MALFORMED, "state file: tensor \"%s\" should be \"%s%s\" shaped alike",
				 t->name, prefix, model->name);
	for (uint64_t j = 0; j < fedc_tensor_elements(t); j++) {
		if (!isfinite(x[j]))
			return fedc_fail(FEDC_ERR_MALFORMED, "state file: tensor \"%s\" is not finite", t->name);
	}
	return FEDC_OK;
}

/* Builds the state from the vectors after the header: `nv` groups of the
 * same model tensors, each group under its prefix. */
static enum fedc_err read_state_vectors(const struct aggregator *agg, const struct fedc_params *p,
					struct agg_state *s)
{
	const struct fedc_tensor *t = fedc_params_tensors(p) + 1;
	size_t rest = fedc_params_count(p) - 1, nv = agg->ops->n_state_vecs, count;
	enum fedc_err rc;

	if (rest == 0)
		return FEDC_OK; /* saved before any round: nothing to restore */
	if (nv == 0 || rest % nv != 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "state file: %zu tensors after the header do not fit %s", rest,
				 agg->ops->name);
	count = rest / nv;
	rc = aggregator__layout_init(&s->layout, count);
	for (size_t i = 0; !rc && i < count; i++) {
		struct fedc_tensor model = t[i];
		const char *prefix = agg->ops->state_prefixes[0];

		model.name += strncmp(model.name, prefix, strlen(prefix)) == 0 ? strlen(prefix) : 0;
		rc = aggregator__layout_push(&s->layout, &model, "");
	}
	for (size_t k = 0; !rc && k < nv; k++) {
		for (size_t i = 0; !rc && i < count; i++)
			rc = check_state_tensor(&t[k * count + i], agg->ops->state_prefixes[k], &s->layout.tensors[i]);
		if (!rc)
			rc = aggregator__alloc(s->layout.n_elements, sizeof(float), &s->vecs[k]);
		if (!rc)
			aggregator__flatten(&s->layout, t + k * count, s->vecs[k]);
	}
	s->ready = rc == FEDC_OK;
	return rc;
}

enum fedc_err aggregator__load_state(struct aggregator *agg, const char *path)
{
	struct fedc_params *p = NULL;
	struct agg_state loaded = { 0 };
	uint64_t rounds = 0;
	enum fedc_err rc;

	if (!agg || !path)
		return FEDC_ERR_INVAL;
	if (agg->in_round)
		return fedc_fail(FEDC_ERR_INVAL, "%s: load the state between rounds, not inside one", agg->ops->name);
	rc = fedc_params_open(path, &p);
	if (!rc)
		rc = fedc_params_check_f32(p);
	if (!rc)
		rc = read_state_header(agg, p, &rounds);
	if (!rc)
		rc = read_state_vectors(agg, p, &loaded);
	if (!rc) {
		state_free(&agg->state);
		agg->state = loaded;
		agg->rounds_done = rounds;
	} else {
		state_free(&loaded);
	}
	fedc_params_close(p);
	return rc;
}
