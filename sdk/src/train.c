/* The training loop behind a plan's train() and evaluate(). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedc/nn/batcher.h"
#include "fedc/nn/err.h"
#include "fedc/nn/metrics.h"
#include "fedc/nn/plan_util.h"
#include "fedc/nn/train.h"

#define EVAL_CHUNK 1024 /* rows per forward pass in evaluate: bounds its buffers */

/* What the loop carries between steps. */
struct run {
	struct fedc_optim optim;
	struct fedc_batcher batcher;
	struct fedc_paramset global;     /* x_global: FedProx anchor, SCAFFOLD, delta_x */
	struct fedc_paramset correction; /* c - c_i */
	struct fedc_grad_terms terms;
	uint64_t steps, max_steps;
	double window_loss;   /* summed over the rows of the current pass */
	size_t window_correct, window_seen;
	double result_loss, result_accuracy;
	double last_report_s;
	struct fedc_dpsgd dp;  /* when cfg->dpsgd */
	double expected_batch; /* DP-SGD's divisor */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool args_ok(const struct fedc_train_args *a)
{
	return a && a->batch_size > 0 && (a->epochs > 0 || a->num_updates > 0) && isfinite(a->fedprox_mu) &&
	       a->fedprox_mu >= 0;
}

static size_t label_width(const struct fedc_data *d)
{
	return d->label_width ? d->label_width : 1;
}

/* The view fits the model and its targets fit the loss. */
static int data_check(const struct fedc_model *m, const struct fedc_data *d, enum fedc_loss loss)
{
	size_t k = m->n_outputs, w;

	if (!d || !d->x || d->n_samples == 0 || d->n_features != m->n_inputs)
		return FEDC_NN_ERR_DATA;
	w = label_width(d);
	if (fedc_loss_is_segmentation(loss)) {
		/* label_width targets per row, one per voxel of `classes` channels */
		if (m->classes < 2 || m->classes * w != k) {
			fedc_plan_error("segmentation: the model gives %zu outputs per sample, the data %zu voxels "
					"(label_width) of %zu classes",
					k, w, m->classes);
			return FEDC_NN_ERR_SHAPE;
		}
		return fedc_loss_check_targets(loss, d->y, d->n_samples * w, m->classes);
	}
	/* A view carries one target per row: BCE and MSE need one output. */
	if (w != 1 || (loss != FEDC_LOSS_SOFTMAX_CE && k != 1))
		return FEDC_NN_ERR_SHAPE;
	return fedc_loss_check_targets(loss, d->y, d->n_samples, k);
}

static bool is_classification(enum fedc_loss loss)
{
	return loss == FEDC_LOSS_SOFTMAX_CE || loss == FEDC_LOSS_BCE;
}

/* c - c_i, computed once: it is constant during local training. */
static int scaffold_prepare(struct run *r, const struct fedc_model *m, const struct fedc_scaffold *s)
{
	const struct fedc_paramset *params = m->params;
	int rc;

	if (!s->c || !s->c_local || !fedc_paramset_same_layout(params, s->c) ||
	    !fedc_paramset_same_layout(params, s->c_local) ||
	    (s->delta_c && !fedc_paramset_same_layout(params, s->delta_c)))
		return FEDC_NN_ERR_SHAPE;
	rc = fedc_paramset_init_like(&r->correction, params);
	for (size_t k = 0; !rc && k < params->count; k++) {
		struct fedc_mat *c = &r->correction.items[k].value;

		fedc_mat_copy(c, &s->c->items[k].value);
		fedc_mat_axpy(-1.0f, &s->c_local->items[k].value, c);
	}
	if (!rc)
		r->terms.correction = &r->correction;
	return rc;
}

/* The node's SCAFFOLD: it keeps c and c_i and hands over c - c_i. */
static int correction_from_args(struct run *r, const struct fedc_model *m, const struct fedc_train_args *a)
{
	int rc = fedc_paramset_init_like(&r->correction, m->params);

	if (!rc)
		rc = fedc_paramset_set(&r->correction, a->scaffold_correction, a->n_scaffold_correction);
	if (!rc)
		r->terms.correction = &r->correction;
	return rc;
}

/* DP-SGD's batcher and state. FedProx is allowed: its term mu (w - w_global)
 * is computed from the parameters (already the output of noisy steps) and
 * the public global model, and added after the noise, so it is
 * post-processing. SCAFFOLD is refused: its correction carries state of this
 * node across rounds, which this loop cannot account for. */
static int dpsgd_init(struct run *r, const struct fedc_model *m, const struct fedc_data *d,
		      const struct fedc_train_cfg *cfg)
{
	const struct fedc_train_args *a = cfg->args;
	int rc;

	if (!m->dense) {
		fedc_plan_error("dpsgd: DP-SGD's per-sample gradients are implemented for dense nets (fedc_net) only");
		return FEDC_NN_ERR_INVAL;
	}
	if (cfg->scaffold || a->scaffold_correction) {
		fedc_plan_error("dpsgd: SCAFFOLD with DP-SGD is not supported (its control variates are not "
				"accounted for); run DP-SGD with fedavg or fedprox");
		return FEDC_NN_ERR_INVAL;
	}
	rc = fedc_dpsgd_init(&r->dp, cfg->dpsgd, a->seed);
	if (!rc && cfg->dpsgd->sampling == FEDC_DPSGD_POISSON)
		rc = fedc_batcher_init_poisson(&r->batcher, d, a->batch_size, a->seed);
	else if (!rc)
		rc = fedc_batcher_init(&r->batcher, d, a->batch_size, true, a->seed);
	/* The expected batch: q n under Poisson, the fixed size under shuffling
	 * (also for the short last batch of a pass); batch_size capped at n. */
	r->expected_batch = (double)r->batcher.batch_size;
	return rc;
}

static int run_init(struct run *r, const struct fedc_model *m, const struct fedc_data *d,
		    const struct fedc_train_cfg *cfg)
{
	const struct fedc_train_args *a = cfg->args;
	size_t per_pass = (d->n_samples + a->batch_size - 1) / a->batch_size;
	struct fedc_optim_cfg oc;
	int rc = FEDC_NN_OK;

	if (cfg->optim)
		oc = *cfg->optim;
	else
		rc = fedc_optim_from_args(&oc, a);
	if (!rc)
		rc = fedc_optim_init(&r->optim, &oc, m->params);
	if (!rc && (a->fedprox_mu > 0 || cfg->scaffold || cfg->delta_x)) {
		rc = fedc_paramset_init_like(&r->global, m->params);
		if (!rc)
			rc = fedc_paramset_copy(&r->global, m->params);
		r->terms.prox_mu = a->fedprox_mu;
		r->terms.anchor = &r->global;
	}
	if (!rc && cfg->scaffold)
		rc = scaffold_prepare(r, m, cfg->scaffold);
	else if (!rc && a->scaffold_correction)
		rc = correction_from_args(r, m, a);
	if (!rc && cfg->dpsgd)
		rc = dpsgd_init(r, m, d, cfg);
	else if (!rc)
		rc = fedc_batcher_init(&r->batcher, d, a->batch_size, true, a->seed);
	if (!rc)
		rc = m->reserve(m->impl, r->batcher.batch_size);
	r->max_steps = a->num_updates ? a->num_updates : (uint64_t)a->epochs * per_pass;
	r->last_report_s = -INFINITY;
	return rc;
}

static void run_release(struct run *r)
{
	fedc_optim_release(&r->optim);
	fedc_batcher_release(&r->batcher);
	fedc_paramset_release(&r->global);
	fedc_paramset_release(&r->correction);
	fedc_dpsgd_release(&r->dp);
}

/* Streams the loss of the current pass so far, every report_every steps
 * (or at the end of each pass) and no more often than the interval; the
 * last step always reports. */
static void maybe_report(struct run *r, const struct fedc_train_cfg *cfg, bool end_of_pass, uint32_t epoch)
{
	const struct fedc_reporter *rep = cfg->reporter;
	bool last = r->steps == r->max_steps;
	bool due = cfg->report_every ? r->steps % cfg->report_every == 0 : end_of_pass;
	double t;

	if (!rep || !rep->scalar || !(due || last) || r->window_seen == 0)
		return;
	t = now_s();
	if (!last && t - r->last_report_s < cfg->report_min_interval_s)
		return;
	r->last_report_s = t;
	rep->scalar(rep->ctx, "loss", r->window_loss / (double)r->window_seen, r->steps, epoch);
}

/* The batch's gradient into the net's grads, plain or DP-SGD's. */
static int step_grad(struct run *r, const struct fedc_model *m, const struct fedc_train_cfg *cfg, size_t *n,
		     double *loss, size_t *correct, bool *end_of_pass)
{
	struct fedc_mat x;
	const float *y;
	int rc;

	if (!cfg->dpsgd) {
		*n = fedc_batcher_next(&r->batcher, &x, &y, end_of_pass);
		return m->step(m->impl, cfg->loss, &x, y, loss, correct);
	}
	rc = fedc_batcher_draw(&r->batcher, &x, &y, n, end_of_pass);
	if (!rc)
		rc = fedc_dpsgd_grad(&r->dp, m->dense, cfg->loss, &x, y, r->expected_batch, loss, correct);
	return rc;
}

static int train_step(struct run *r, const struct fedc_model *m, const struct fedc_train_cfg *cfg)
{
	bool end_of_pass = false;
	uint32_t epoch = r->batcher.epoch + 1; /* the pass this batch belongs to, from 1 */
	size_t n = 0, correct = 0;
	double loss = 0.0;
	int rc = step_grad(r, m, cfg, &n, &loss, &correct, &end_of_pass);

	if (rc)
		return rc;
	if (!isfinite(loss))
		return FEDC_NN_ERR_DIVERGED;
	fedc_optim_step(&r->optim, m->params, &r->terms);
	r->steps++;
	r->window_loss += loss * (double)n;
	r->window_correct += correct;
	r->window_seen += n;
	maybe_report(r, cfg, end_of_pass, epoch);
	/* The figures returned are those of the last pass, or of the steps of
	 * the unfinished one the run stopped in. */
	/* (A pass of Poisson draws can be all empty: then the figures stay.) */
	if ((end_of_pass || r->steps == r->max_steps) && r->window_seen) {
		r->result_loss = r->window_loss / (double)r->window_seen;
		r->result_accuracy = (double)r->window_correct / (double)r->window_seen;
	}
	if (end_of_pass)
		r->window_loss = 0.0, r->window_correct = r->window_seen = 0;
	return FEDC_NN_OK;
}

/* SCAFFOLD option II, after K steps at learning rate lr:
 * c_i+ = c_i - c + (x_global - x_local) / (K lr); delta_c = c_i+ - c_i. */
static void scaffold_finish(const struct run *r, const struct fedc_paramset *params, struct fedc_scaffold *s,
			    double lr)
{
	float inv_klr = (float)(1.0 / ((double)r->steps * lr));

	for (size_t k = 0; k < params->count; k++) {
		const float *xg = r->global.items[k].value.data, *xl = params->items[k].value.data;
		const float *c = s->c->items[k].value.data;
		float *ci = s->c_local->items[k].value.data;
		float *dc = s->delta_c ? s->delta_c->items[k].value.data : NULL;
		size_t n = fedc_mat_len(&params->items[k].value);

		if (!params->items[k].trainable)
			continue; /* never stepped: its control variates stay */
		for (size_t i = 0; i < n; i++) {
			float next = ci[i] - c[i] + (xg[i] - xl[i]) * inv_klr;

			if (dc)
				dc[i] = next - ci[i];
			ci[i] = next;
		}
	}
}

static int delta_x_fill(const struct run *r, const struct fedc_paramset *params, struct fedc_paramset *dx)
{
	if (!fedc_paramset_same_layout(params, dx))
		return FEDC_NN_ERR_SHAPE;
	for (size_t k = 0; k < params->count; k++) {
		fedc_mat_copy(&dx->items[k].value, &params->items[k].value);
		fedc_mat_axpy(-1.0f, &r->global.items[k].value, &dx->items[k].value);
	}
	return FEDC_NN_OK;
}

static int put_results(const struct run *r, const struct fedc_train_cfg *cfg, struct fedc_metrics *out)
{
	double epsilon = 0.0;
	int rc = FEDC_NN_OK;

	fedc_metrics_put(out, "loss", r->result_loss);
	if (is_classification(cfg->loss))
		fedc_metrics_put(out, "accuracy", r->result_accuracy);
	fedc_metrics_put(out, "num_updates", (double)r->steps);
	fedc_metrics_put(out, "num_samples", (double)r->batcher.data->n_samples);
	if (cfg->dpsgd) {
		rc = fedc_dpsgd_epsilon(cfg->dpsgd, fedc_batcher_rate(&r->batcher), r->steps, &epsilon);
		if (!rc)
			fedc_metrics_put(out, "dp_epsilon", epsilon);
	}
	return rc;
}

int fedc_model_train(const struct fedc_model *m, const struct fedc_data *d, const struct fedc_train_cfg *cfg,
		     struct fedc_metrics *out)
{
	struct run r;
	int rc;

	memset(&r, 0, sizeof(r));
	if (!m || !m->params || !cfg || !out || !args_ok(cfg->args))
		return FEDC_NN_ERR_INVAL;
	rc = data_check(m, d, cfg->loss);
	if (!rc)
		rc = run_init(&r, m, d, cfg);
	if (!rc && m->set_training)
		m->set_training(m->impl, true);
	while (!rc && r.steps < r.max_steps)
		rc = train_step(&r, m, cfg);
	if (m->set_training)
		m->set_training(m->impl, false);
	if (!rc && cfg->scaffold)
		scaffold_finish(&r, m->params, cfg->scaffold, r.optim.cfg.lr);
	if (!rc && cfg->delta_x)
		rc = delta_x_fill(&r, m->params, cfg->delta_x);
	if (!rc) {
		out->count = 0;
		rc = put_results(&r, cfg, out);
	}
	run_release(&r);
	return rc;
}

/* What evaluation adds up over the chunks. */
struct tally {
	double loss;
	size_t correct;
	struct fedc_confusion confusion; /* clinical only */
	float *scores;                   /* binary AUC: one score per row */
};

static int tally_init(struct tally *t, const struct fedc_model *m, const struct fedc_data *d, enum fedc_loss loss,
		      bool clinical)
{
	size_t k = fedc_loss_is_segmentation(loss) ? m->classes : loss == FEDC_LOSS_BCE ? 2 : m->n_outputs;
	int rc;

	memset(t, 0, sizeof(*t));
	if (!clinical || !(is_classification(loss) || fedc_loss_is_segmentation(loss)))
		return FEDC_NN_OK;
	rc = fedc_confusion_init(&t->confusion, k);
	if (!rc && k == 2 && !fedc_loss_is_segmentation(loss)) {
		t->scores = malloc(d->n_samples * sizeof(*t->scores));
		rc = t->scores ? FEDC_NN_OK : FEDC_NN_ERR_NOMEM;
	}
	return rc;
}

static void tally_release(struct tally *t)
{
	fedc_confusion_release(&t->confusion);
	free(t->scores);
}

static size_t argmax_strided(const float *v, size_t k, size_t stride)
{
	size_t best = 0;

	for (size_t c = 1; c < k; c++)
		best = v[c * stride] > v[best * stride] ? c : best;
	return best;
}

/* Confusion counts and AUC scores of one chunk of outputs z, rows from `first`. */
static void tally_chunk(struct tally *t, enum fedc_loss loss, const struct fedc_model *m, const struct fedc_mat *z,
			const float *y, size_t first)
{
	if (!t->confusion.counts)
		return;
	for (size_t i = 0; i < z->rows; i++) {
		const float *row = z->data + i * z->cols;

		if (fedc_loss_is_segmentation(loss)) {
			size_t v_len = z->cols / m->classes;

			for (size_t v = 0; v < v_len; v++)
				fedc_confusion_add(&t->confusion, (size_t)y[i * v_len + v],
						   argmax_strided(row + v, m->classes, v_len));
		} else if (loss == FEDC_LOSS_BCE) {
			fedc_confusion_add(&t->confusion, y[i] >= 0.5f, row[0] >= 0.0f);
			t->scores[first + i] = row[0];
		} else {
			fedc_confusion_add(&t->confusion, (size_t)y[i], argmax_strided(row, z->cols, 1));
			if (t->scores) /* softmax p1 is monotone in z1 - z0 */
				t->scores[first + i] = row[1] - row[0];
		}
	}
}

static void put_if_number(struct fedc_metrics *out, const char *name, double v)
{
	if (!isnan(v))
		fedc_metrics_put(out, name, v);
}

static int tally_put(const struct tally *t, const struct fedc_data *d, enum fedc_loss loss, struct fedc_metrics *out)
{
	struct fedc_class_scores s;
	double auc = NAN;
	int rc = FEDC_NN_OK;

	if (!t->confusion.counts)
		return FEDC_NN_OK;
	if (fedc_loss_is_segmentation(loss)) {
		put_if_number(out, "dice", fedc_confusion_dice(&t->confusion));
		return FEDC_NN_OK;
	}
	if (t->scores)
		rc = fedc_auc(t->scores, d->y, d->n_samples, &auc);
	put_if_number(out, "auc", auc);
	fedc_confusion_summary(&t->confusion, &s);
	put_if_number(out, "f1", s.f1);
	put_if_number(out, "sensitivity", s.sensitivity);
	put_if_number(out, "specificity", s.specificity);
	return rc;
}

int fedc_model_evaluate(const struct fedc_model *m, const struct fedc_data *d, enum fedc_loss loss, bool clinical,
			struct fedc_metrics *out)
{
	struct fedc_batcher b = { 0 };
	struct tally t;
	int rc;

	if (!m || !out)
		return FEDC_NN_ERR_INVAL;
	rc = data_check(m, d, loss);
	if (rc)
		return rc;
	if (m->set_training)
		m->set_training(m->impl, false);
	rc = tally_init(&t, m, d, loss, clinical);
	if (!rc)
		rc = fedc_batcher_init(&b, d, m->eval_rows ? m->eval_rows : EVAL_CHUNK, false, 0);
	for (size_t seen = 0; !rc && seen < d->n_samples;) {
		struct fedc_mat x, z;
		const float *y;
		double l = 0.0;
		size_t n = fedc_batcher_next(&b, &x, &y, NULL);

		rc = m->forward(m->impl, &x, &z);
		if (!rc)
			rc = fedc_loss_k(loss, &z, m->classes, y, &l, NULL);
		if (!rc) {
			t.correct += fedc_loss_correct(loss, &z, y);
			tally_chunk(&t, loss, m, &z, y, seen);
		}
		t.loss += l * (double)n;
		seen += n;
	}
	fedc_batcher_release(&b);
	if (!rc) {
		out->count = 0;
		fedc_metrics_put(out, "loss", t.loss / (double)d->n_samples);
		if (is_classification(loss))
			fedc_metrics_put(out, "accuracy", (double)t.correct / (double)d->n_samples);
		rc = tally_put(&t, d, loss, out);
	}
	tally_release(&t);
	return rc;
}

/* Row i's outputs for predict(): the softmax of the logits, 1 - p and p of
 * a sigmoid, or the values as they are (regression). */
static void predict_row(enum fedc_loss loss, const float *z, size_t k, float *out)
{
	double max = z[0], total = 0;

	if (loss == FEDC_LOSS_BCE) {
		double p = 1.0 / (1.0 + exp(-(double)z[0]));

		out[0] = (float)(1.0 - p);
		out[1] = (float)p;
		return;
	}
	if (loss != FEDC_LOSS_SOFTMAX_CE) {
		memcpy(out, z, k * sizeof(float));
		return;
	}
	for (size_t j = 1; j < k; j++)
		max = z[j] > max ? z[j] : max;
	for (size_t j = 0; j < k; j++)
		total += exp((double)z[j] - max);
	for (size_t j = 0; j < k; j++)
		out[j] = (float)(exp((double)z[j] - max) / total);
}

int fedc_model_predict(const struct fedc_model *m, const struct fedc_data *d, enum fedc_loss loss, float *out,
		       size_t width)
{
	size_t want = loss == FEDC_LOSS_BCE ? 2 : m ? m->n_outputs : 0;
	struct fedc_batcher b = { 0 };
	int rc;

	if (!m || !out || !d || !d->x || d->n_samples == 0 || d->n_features != m->n_inputs)
		return FEDC_NN_ERR_DATA;
	if (fedc_loss_is_segmentation(loss) || label_width(d) != 1) {
		fedc_plan_error("predict: one target per row only (not segmentation masks)");
		return FEDC_NN_ERR_SHAPE;
	}
	if (width != want || (loss == FEDC_LOSS_BCE && m->n_outputs != 1)) {
		fedc_plan_error("predict: the node asks for %zu outputs per row, the model gives %zu", width, want);
		return FEDC_NN_ERR_SHAPE;
	}
	if (m->set_training)
		m->set_training(m->impl, false);
	rc = fedc_batcher_init(&b, d, m->eval_rows ? m->eval_rows : EVAL_CHUNK, false, 0);
	for (size_t seen = 0; !rc && seen < d->n_samples;) {
		struct fedc_mat x, z;
		const float *y;
		size_t n = fedc_batcher_next(&b, &x, &y, NULL);

		rc = m->forward(m->impl, &x, &z);
		for (size_t i = 0; !rc && i < n; i++)
			predict_row(loss, z.data + i * z.cols, z.cols, out + (seen + i) * width);
		seen += n;
	}
	fedc_batcher_release(&b);
	return rc;
}

int fedc_net_predict(struct fedc_net *net, const struct fedc_data *d, enum fedc_loss loss, float *out, size_t width)
{
	struct fedc_model m;

	if (!net)
		return FEDC_NN_ERR_INVAL;
	m = fedc_net_model(net);
	return fedc_model_predict(&m, d, loss, out, width);
}

static int net_reserve(void *impl, size_t rows)
{
	return fedc_net_reserve(impl, rows);
}

static int net_forward(void *impl, const struct fedc_mat *x, struct fedc_mat *out)
{
	return fedc_net_forward(impl, x, out);
}

static int net_step(void *impl, enum fedc_loss kind, const struct fedc_mat *x, const float *y, double *loss,
		    size_t *correct)
{
	return fedc_net_step(impl, kind, x, y, loss, correct);
}

struct fedc_model fedc_net_model(struct fedc_net *net)
{
	struct fedc_model m = {
		.impl = net,
		.params = &net->params,
		.n_inputs = net->cfg.n_inputs,
		.n_outputs = fedc_net_outputs(net),
		.classes = fedc_net_outputs(net),
		.reserve = net_reserve,
		.forward = net_forward,
		.step = net_step,
		.dense = net,
	};
	return m;
}

int fedc_net_train(struct fedc_net *net, const struct fedc_data *d, const struct fedc_train_cfg *cfg,
		   struct fedc_metrics *out)
{
	struct fedc_model m;

	if (!net)
		return FEDC_NN_ERR_INVAL;
	m = fedc_net_model(net);
	return fedc_model_train(&m, d, cfg, out);
}

int fedc_net_evaluate(struct fedc_net *net, const struct fedc_data *d, enum fedc_loss loss,
		      struct fedc_metrics *out)
{
	struct fedc_model m;

	if (!net)
		return FEDC_NN_ERR_INVAL;
	m = fedc_net_model(net);
	return fedc_model_evaluate(&m, d, loss, false, out);
}
