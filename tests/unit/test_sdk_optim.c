/* Plan SDK: optimizer steps against numbers worked out by hand, with the
 * FedProx and SCAFFOLD gradient terms, and the argument parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "fedc/nn.h"

/* One trainable scalar "w" = w0. */
static void scalar_set(struct fedc_paramset *p, float w0)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(fedc_paramset_add(p, "w", 1, 1, 1, true, NULL), 0);
	p->items[0].value.data[0] = w0;
}

static float step(struct fedc_optim *o, struct fedc_paramset *p, float g, const struct fedc_grad_terms *t)
{
	p->items[0].grad.data[0] = g;
	fedc_optim_step(o, p, t);
	return p->items[0].value.data[0];
}

static void test_sgd_plain(void **state)
{
	struct fedc_paramset p;
	struct fedc_optim_cfg cfg;
	struct fedc_optim o;

	scalar_set(&p, 1.0f);
	fedc_optim_defaults(&cfg, FEDC_OPTIM_SGD, 0.1);
	assert_int_equal(fedc_optim_init(&o, &cfg, &p), 0);
	assert_float_equal(step(&o, &p, 0.5f, NULL), 0.95, 1e-7); /* 1 - 0.1 * 0.5 */
	assert_float_equal(step(&o, &p, -1.0f, NULL), 1.05, 1e-7);
	fedc_optim_release(&o), fedc_paramset_release(&p);
}

/* torch.optim.SGD: v = 0.9 v + g; w -= lr v. Gradient 0.5 twice, lr 0.1:
 * v1 = 0.5, w1 = 0.95; v2 = 0.45 + 0.5 = 0.95, w2 = 0.95 - 0.095 = 0.855. */
static void test_sgd_momentum(void **state)
{
	struct fedc_paramset p;
	struct fedc_optim_cfg cfg;
	struct fedc_optim o;

	scalar_set(&p, 1.0f);
	fedc_optim_defaults(&cfg, FEDC_OPTIM_SGD, 0.1);
	cfg.momentum = 0.9;
	assert_int_equal(fedc_optim_init(&o, &cfg, &p), 0);
	assert_float_equal(step(&o, &p, 0.5f, NULL), 0.95, 1e-7);
	assert_float_equal(step(&o, &p, 0.5f, NULL), 0.855, 1e-6);
	fedc_optim_release(&o), fedc_paramset_release(&p);
}

/* torch.optim.Adam, lr 0.1, betas (0.9, 0.999), eps 1e-8, w0 = 1.
 * Step 1, g = 0.5: m = 0.05, v = 0.00025, m^ = 0.5, v^ = 0.25,
 *   w = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.900000002.
 * Step 2, g = -0.2: m = 0.045 - 0.02 = 0.025, v = 0.00024975 + 0.00004 =
 *   0.00028975, m^ = 0.025 / 0.19 = 0.1315789, v^ = 0.00028975 / 0.001999
 *   = 0.1449475, w = 0.9 - 0.1 * 0.1315789 / 0.3807197 = 0.8654394. */
static void test_adam_two_steps(void **state)
{
	struct fedc_paramset p;
	struct fedc_optim_cfg cfg;
	struct fedc_optim o;

	scalar_set(&p, 1.0f);
	fedc_optim_defaults(&cfg, FEDC_OPTIM_ADAM, 0.1);
	assert_int_equal(fedc_optim_init(&o, &cfg, &p), 0);
	assert_float_equal(step(&o, &p, 0.5f, NULL), 0.900000002, 1e-6);
	assert_float_equal(o.m.items[0].value.data[0], 0.05, 1e-7);
	assert_float_equal(o.v.items[0].value.data[0], 0.00025, 1e-9);
	assert_float_equal(step(&o, &p, -0.2f, NULL), 0.8654394, 1e-6);
	fedc_optim_release(&o), fedc_paramset_release(&p);
}

/* FedProx adds mu (w - anchor): w = 1, anchor 0.6, mu 0.5, g 0.5 ->
 * g' = 0.5 + 0.2 = 0.7, w = 1 - 0.1 * 0.7 = 0.93. SCAFFOLD adds c - c_i
 * = 0.3 on top: g' = 1.0, w = 0.9. */
static void test_step_with_fedprox_and_scaffold_terms(void **state)
{
	struct fedc_paramset p, anchor = { 0 }, corr = { 0 };
	struct fedc_optim_cfg cfg;
	struct fedc_optim o;
	struct fedc_grad_terms t = { .prox_mu = 0.5, .anchor = &anchor };

	scalar_set(&p, 1.0f);
	assert_int_equal(fedc_paramset_init_like(&anchor, &p), 0);
	assert_int_equal(fedc_paramset_init_like(&corr, &p), 0);
	anchor.items[0].value.data[0] = 0.6f;
	fedc_optim_defaults(&cfg, FEDC_OPTIM_SGD, 0.1);
	assert_int_equal(fedc_optim_init(&o, &cfg, &p), 0);
	assert_float_equal(step(&o, &p, 0.5f, &t), 0.93, 1e-6);
	p.items[0].value.data[0] = 1.0f;
	corr.items[0].value.data[0] = 0.3f;
	t.correction = &corr;
	assert_float_equal(step(&o, &p, 0.5f, &t), 0.9, 1e-6);
	fedc_optim_release(&o), fedc_paramset_release(&p);
	fedc_paramset_release(&anchor), fedc_paramset_release(&corr);
}

/* With momentum the SCAFFOLD correction goes on the weights after the step,
 * not through the momentum buffer (which would scale it by 1 / (1 - 0.9)):
 * lr 0.1, momentum 0.9, g 0.5 twice, c - c_i = 0.3. Step 1: v = 0.5,
 * w = 1 - 0.05 - 0.03 = 0.92. Step 2: v = 0.45 + 0.5 = 0.95 (no correction
 * in it), w = 0.92 - 0.095 - 0.03 = 0.795. Through the buffer it would have
 * been v2 = 0.9 * 0.8 + 0.8 = 1.52, w2 = 0.92 - 0.152 = 0.768. */
static void test_scaffold_correction_with_momentum(void **state)
{
	struct fedc_paramset p, corr = { 0 };
	struct fedc_optim_cfg cfg;
	struct fedc_optim o;
	struct fedc_grad_terms t = { .correction = &corr };

	scalar_set(&p, 1.0f);
	assert_int_equal(fedc_paramset_init_like(&corr, &p), 0);
	corr.items[0].value.data[0] = 0.3f;
	fedc_optim_defaults(&cfg, FEDC_OPTIM_SGD, 0.1);
	cfg.momentum = 0.9;
	assert_int_equal(fedc_optim_init(&o, &cfg, &p), 0);
	assert_float_equal(step(&o, &p, 0.5f, &t), 0.92, 1e-6);
	assert_float_equal(o.m.items[0].value.data[0], 0.5, 1e-7);
	assert_float_equal(step(&o, &p, 0.5f, &t), 0.795, 1e-6);
	assert_float_equal(o.m.items[0].value.data[0], 0.95, 1e-6);
	fedc_optim_release(&o), fedc_paramset_release(&p), fedc_paramset_release(&corr);
}

/* Weight decay adds wd w: w = 2, wd 0.1, g 0 -> w = 2 - 0.1 * 0.2 = 1.98. */
static void test_weight_decay(void **state)
{
	struct fedc_paramset p;
	struct fedc_optim_cfg cfg;
	struct fedc_optim o;

	scalar_set(&p, 2.0f);
	fedc_optim_defaults(&cfg, FEDC_OPTIM_SGD, 0.1);
	cfg.weight_decay = 0.1;
	assert_int_equal(fedc_optim_init(&o, &cfg, &p), 0);
	assert_float_equal(step(&o, &p, 0.0f, NULL), 1.98, 1e-6);
	fedc_optim_release(&o), fedc_paramset_release(&p);
}

/* A non-trainable tensor (e.g. standardization statistics) is left alone. */
static void test_step_skips_frozen(void **state)
{
	struct fedc_paramset p = { 0 };
	struct fedc_optim_cfg cfg;
	struct fedc_optim o;

	assert_int_equal(fedc_paramset_add(&p, "stat", 1, 2, 1, false, NULL), 0);
	assert_int_equal(fedc_paramset_add(&p, "w", 1, 2, 1, true, NULL), 0);
	fedc_mat_fill(&p.items[0].value, 3.0f);
	fedc_mat_fill(&p.items[1].grad, 1.0f);
	fedc_optim_defaults(&cfg, FEDC_OPTIM_ADAM, 0.1);
	assert_int_equal(fedc_optim_init(&o, &cfg, &p), 0);
	fedc_optim_step(&o, &p, NULL);
	assert_float_equal(p.items[0].value.data[1], 3.0, 0);
	assert_float_equal(p.items[1].value.data[1], -0.1, 1e-6);
	fedc_optim_release(&o), fedc_paramset_release(&p);
}

static void test_optim_from_args(void **state)
{
	struct fedc_train_args a = { .lr = 0.01, .epochs = 1, .batch_size = 8 };
	struct fedc_optim_cfg cfg;

	assert_int_equal(fedc_optim_from_args(&cfg, &a), 0);
	assert_int_equal(cfg.kind, FEDC_OPTIM_SGD);
	assert_float_equal(cfg.momentum, 0, 0);
	a.optimizer = "sgdm";
	assert_int_equal(fedc_optim_from_args(&cfg, &a), 0);
	assert_float_equal(cfg.momentum, 0.9, 0);
	a.optimizer = "adam";
	assert_int_equal(fedc_optim_from_args(&cfg, &a), 0);
	assert_int_equal(cfg.kind, FEDC_OPTIM_ADAM);
	a.optimizer = "adamw";
	assert_int_equal(fedc_optim_from_args(&cfg, &a), FEDC_NN_ERR_INVAL);
	a.optimizer = "sgd";
	a.lr = -1;
	assert_int_equal(fedc_optim_from_args(&cfg, &a), FEDC_NN_ERR_INVAL);
	a.lr = NAN;
	assert_int_equal(fedc_optim_from_args(&cfg, &a), FEDC_NN_ERR_INVAL);
}

static void test_optim_rejects_bad_config(void **state)
{
	struct fedc_paramset p;
	struct fedc_optim_cfg cfg;
	struct fedc_optim o;

	scalar_set(&p, 1.0f);
	fedc_optim_defaults(&cfg, FEDC_OPTIM_SGD, 0.1);
	cfg.momentum = 1.0;
	assert_int_equal(fedc_optim_init(&o, &cfg, &p), FEDC_NN_ERR_INVAL);
	fedc_optim_defaults(&cfg, FEDC_OPTIM_ADAM, 0.1);
	cfg.eps = 0;
	assert_int_equal(fedc_optim_init(&o, &cfg, &p), FEDC_NN_ERR_INVAL);
	fedc_paramset_release(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sgd_plain),
		cmocka_unit_test(test_sgd_momentum),
		cmocka_unit_test(test_adam_two_steps),
		cmocka_unit_test(test_step_with_fedprox_and_scaffold_terms),
		cmocka_unit_test(test_scaffold_correction_with_momentum),
		cmocka_unit_test(test_weight_decay),
		cmocka_unit_test(test_step_skips_frozen),
		cmocka_unit_test(test_optim_from_args),
		cmocka_unit_test(test_optim_rejects_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
