/* The robustness stage (plan_robust.h): FGSM (Goodfellow et al. 2015) and
 * PGD (Madry et al. 2018) under an L-infinity budget, on a copy of the
 * test inputs, scored by the plan's own evaluate(). Runs in the plan
 * process; everything it reports goes into the caller's buffer. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "fedc/plan_abi.h"
#include "plan_report.h"
#include "plan_robust.h"

static const char *const attack_names[FEDC_ROBUST_N_ATTACKS] = { "fgsm", "pgd" };

static enum fedc_err plan_failed(const struct fedc_plan *plan, const char *what)
{
	char said[FEDC_PLAN_ERROR_LEN];

	fedc_plan_said(plan, said, sizeof(said));
	return fedc_fail(FEDC_ERR_PLAN, "robust: the plan's %s failed%s%s", what, said[0] ? ": " : "", said);
}

/* The plan can give input gradients: ABI 4 and the hook set. A plan of an
 * older ABI has no such field: it is read only from ABI 4 on. */
static enum fedc_err plan_supported(const struct fedc_plan *plan)
{
	if (plan->abi_version < 4)
		return fedc_fail(FEDC_ERR_UNSUPPORTED,
				 "robust: plan \"%s\" is built for ABI %u, input gradients came with ABI 4: rebuild it "
				 "against this SDK and set .input_gradient (docs/plan-api.md)",
				 plan->name ? plan->name : "?", plan->abi_version);
	if (!plan->input_gradient)
		return fedc_fail(FEDC_ERR_UNSUPPORTED,
				 "robust: plan \"%s\" has no input_gradient(): set .input_gradient in its "
				 "FEDC_PLAN_DEFINE (the SDK's fedc_net_input_gradient or fedc_seq_input_gradient, "
				 "docs/plan-api.md)",
				 plan->name ? plan->name : "?");
	return FEDC_OK;
}

static float sign_of(float g)
{
	return g > 0.0f ? 1.0f : g < 0.0f ? -1.0f : 0.0f;
}

static float clamp(float v, float lo, float hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* x = x + step sign(g), then into the ball around x0 and the clip range
 * (widened to hold x0 itself). The same float operations for FGSM and a
 * PGD step, so that one PGD step of size eps is FGSM exactly. */
static void step_and_project(const struct fedc_robust_args *a, float step, float eps, const float *x0,
			     const float *g, float *x, size_t len)
{
	for (size_t k = 0; k < len; k++) {
		float v = x[k] + step * sign_of(g[k]);
		float lo = x0[k] - eps, hi = x0[k] + eps;

		v = clamp(v, lo, hi);
		if (a->has_clip_min)
			v = fmaxf(v, fminf((float)a->clip_min, x0[k]));
		if (a->has_clip_max)
			v = fminf(v, fmaxf((float)a->clip_max, x0[k]));
		x[k] = v;
	}
}

enum fedc_err plan_robust__perturb(const struct fedc_plan *plan, void *model, const struct fedc_robust_args *a,
				   enum fedc_robust_attack attack, double eps, const float *x0,
				   struct fedc_data *view, float *grad)
{
	size_t len = view->n_samples * view->n_features;
	uint32_t steps = attack == FEDC_ROBUST_PGD ? a->pgd_steps : 1;
	double step = attack == FEDC_ROBUST_FGSM ? eps
		    : a->pgd_step_size > 0	 ? a->pgd_step_size
						 : 2.5 * eps / (double)a->pgd_steps;

	memcpy(view->x, x0, len * sizeof(float)); /* PGD's deterministic start: x0 itself */
	for (uint32_t t = 0; t < steps; t++) {
		if (plan->input_gradient(model, view, grad) < 0)
			return plan_failed(plan, "input_gradient()");
		step_and_project(a, (float)step, (float)eps, x0, grad, view->x, len);
	}
	return FEDC_OK;
}

/* Appends "mean <prefix>.<metric> <value>" for each metric with a finite
 * value and a name that may travel (plan_report.h's rule) and starts with
 * a letter or '_': after "<eps>." a leading digit would read as part of
 * the epsilon. */
static bool name_ok(const char *name)
{
	return plan_report__name_ok(name, strnlen(name, FEDC_PLAN_METRIC_NAME_LEN)) &&
	       (isalpha((unsigned char)name[0]) || name[0] == '_');
}

static enum fedc_err put_metrics(struct fedc_buf *out, const char *prefix, const struct fedc_metrics *m)
{
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; !rc && i < m->count && i < FEDC_PLAN_MAX_METRICS; i++) {
		const char *name = m->items[i].name;

		if (name_ok(name) && isfinite(m->items[i].value))
			rc = fedc_buf_printf(out, "mean %s.%s %.17g\n", prefix, name, m->items[i].value);
	}
	return rc ? fedc_fail(rc, "robust: the results exceed their buffer (%zu bytes)", out->max) : FEDC_OK;
}

/* The whole of `test` perturbed into adv (a view of the same shape), batch
 * by batch of at most PLAN_ROBUST_BATCH_FLOATS inputs. */
static enum fedc_err perturb_all(const struct fedc_plan *plan, void *model, const struct fedc_robust_args *a,
				 enum fedc_robust_attack attack, double eps, const struct fedc_data *test,
				 struct fedc_data *adv, float *grad, size_t batch_rows)
{
	size_t nf = test->n_features, lw = test->label_width ? test->label_width : 1;
	enum fedc_err rc = FEDC_OK;

	for (size_t lo = 0; !rc && lo < test->n_samples; lo += batch_rows) {
		struct fedc_data b = *test;

		b.n_samples = test->n_samples - lo < batch_rows ? test->n_samples - lo : batch_rows;
		b.x = adv->x + lo * nf;
		b.y = test->y + lo * lw;
		rc = plan_robust__perturb(plan, model, a, attack, eps, test->x + lo * nf, &b, grad);
	}
	return rc;
}

static enum fedc_err evaluate_into(const struct fedc_plan *plan, void *model, const struct fedc_data *d,
				   const char *prefix, struct fedc_buf *out)
{
	struct fedc_metrics m;

	memset(&m, 0, sizeof(m));
	if (plan->evaluate(model, d, &m) < 0)
		return plan_failed(plan, "evaluate()");
	return put_metrics(out, prefix, &m);
}

/* Every attack at every epsilon, each scored on the whole perturbed set. */
static enum fedc_err attack_all(const struct fedc_plan *plan, void *model, const struct fedc_robust_args *a,
				const struct fedc_data *test, struct fedc_data *adv, float *grad, size_t batch_rows,
				struct fedc_buf *out)
{
	enum fedc_err rc = FEDC_OK;

	for (int k = 0; !rc && k < FEDC_ROBUST_N_ATTACKS; k++) {
		for (size_t e = 0; !rc && a->attack[k] && e < a->n_epsilons; e++) {
			char prefix[64];

			snprintf(prefix, sizeof(prefix), "robust.%s.%g", attack_names[k], a->epsilons[e]);
			rc = perturb_all(plan, model, a, (enum fedc_robust_attack)k, a->epsilons[e], test, adv, grad,
					 batch_rows);
			if (!rc)
				rc = evaluate_into(plan, model, adv, prefix, out);
		}
	}
	return rc;
}

enum fedc_err plan_robust__run_with(const struct fedc_plan *plan, void *model, const struct fedc_data *test,
				    const struct fedc_robust_args *a, size_t batch_floats, struct fedc_buf *result)
{
	struct fedc_data adv;
	float *grad = NULL;
	size_t batch_rows, nf;
	enum fedc_err rc;

	if (!plan || !test || !a || !result || batch_floats == 0)
		return fedc_fail(FEDC_ERR_INVAL, "robust: no plan, test view, arguments or result buffer");
	rc = plan_supported(plan);
	if (rc)
		return rc;
	if (test->n_samples == 0 || test->n_features == 0 || !test->x || !test->y)
		return fedc_fail(FEDC_ERR_INVAL, "robust: the test set is empty: give the node a test share "
						 "(test_ratio) or a test set");
	nf = test->n_features;
	batch_rows = nf >= batch_floats ? 1 : batch_floats / nf;
	batch_rows = batch_rows < test->n_samples ? batch_rows : test->n_samples;
	adv = *test;
	adv.x = test->n_samples <= SIZE_MAX / sizeof(float) / nf ? malloc(test->n_samples * nf * sizeof(float)) : NULL;
	grad = malloc(batch_rows * nf * sizeof(float));
	if (!adv.x || !grad)
		rc = fedc_fail(FEDC_ERR_NOMEM, "robust: no memory for a copy of the test set (%zu x %zu)",
			       test->n_samples, nf);
	if (!rc)
		rc = evaluate_into(plan, model, test, "robust.clean", result);
	if (!rc)
		rc = attack_all(plan, model, a, test, &adv, grad, batch_rows, result);
	free(adv.x);
	free(grad);
	return rc;
}

enum fedc_err plan_robust__run(const struct fedc_plan *plan, void *model, const struct fedc_data *test,
			       const char *args, struct fedc_buf *result)
{
	struct fedc_robust_args a;
	enum fedc_err rc = fedc_robust_args_parse(args, &a);

	return rc ? rc : plan_robust__run_with(plan, model, test, &a, PLAN_ROBUST_BATCH_FLOATS, result);
}
