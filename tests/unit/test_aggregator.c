/* Aggregators: every method against results computed by hand (derivations
 * in the comments), state across rounds and its file, determinism whatever
 * the arrival order, the updates they must refuse without keeping anything,
 * and the [aggregator] section of the experiment file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aggregator.h"
#include "experiment.h"
#include "fedc/params.h"

static char tmp_dir[] = "/tmp/fedc-test-aggregator-XXXXXX";

/* The model: "w" [2, 2], "b" [1], "c" [1]. */
struct model_values {
	float w[4];
	float b[1];
	float c[1];
};

static const struct model_values global_values = { { 0, 0, 0, 0 }, { 0 }, { 0 } };
static const struct model_values u1 = { { 1, 2, 3, 4 }, { 3 }, { 0.1f } };
static const struct model_values u2 = { { 4, 5, 6, 7 }, { 0 }, { 0.2f } };
static const struct model_values u3 = { { 0.5f, 1, -2, 10 }, { 1 }, { 0.3f } };

static size_t model_tensors(const struct model_values *v, struct fedc_tensor *t)
{
	t[0] = (struct fedc_tensor){ "w", FEDC_DTYPE_F32, 2, { 2, 2 }, v->w };
	t[1] = (struct fedc_tensor){ "b", FEDC_DTYPE_F32, 1, { 1 }, v->b };
	t[2] = (struct fedc_tensor){ "c", FEDC_DTYPE_F32, 1, { 1 }, v->c };
	return 3;
}

/* Writes tensors to <tmp>/<name> and opens them. */
static struct fedc_params *params_of(const char *name, const struct fedc_tensor *t, size_t n)
{
	struct fedc_params *p = NULL;
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
	assert_int_equal(fedc_params_write_file(path, t, n), FEDC_OK);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	return p;
}

static struct fedc_params *model_params(const char *name, const struct model_values *v)
{
	struct fedc_tensor t[3];
	size_t n = model_tensors(v, t);

	return params_of(name, t, n);
}

static void out_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmp_dir, name);
}

#define N_NODES 8 /* nodes of the experiment in begin(): room for every test's updates */

static struct aggregator *begun(const char *method, const struct aggregator_options *opts)
{
	struct aggregator *agg = NULL;
	struct fedc_params *global = model_params("global", &global_values);

	assert_int_equal(aggregator__new(method, opts, &agg), FEDC_OK);
	assert_int_equal(aggregator__begin(agg, global, N_NODES), FEDC_OK);
	fedc_params_close(global); /* begin() keeps its own copy of the layout */
	return agg;
}

static struct aggregator *begun_fedavg(void)
{
	return begun("fedavg", NULL);
}

/* Each update gets a file of its own: the aggregator keeps it mapped. */
static struct fedc_params *model_update(const char *node, const struct model_values *v)
{
	char name[64];

	snprintf(name, sizeof(name), "update-%s", node);
	return model_params(name, v);
}

static void add_model_as(struct aggregator *agg, const char *node, const struct model_values *v, uint64_t n)
{
	assert_int_equal(aggregator__add(agg, node, model_update(node, v), n), FEDC_OK);
}

/* u1, u2, u3 come from nodes n1, n2, n3. */
static void add_model(struct aggregator *agg, const struct model_values *v, uint64_t n)
{
	add_model_as(agg, v == &u1 ? "n1" : v == &u2 ? "n2" : "n3", v, n);
}

/* The expected average of u1, u2, u3 with weights 1, 2, 3. */
static void assert_weighted_123(const char *path)
{
	struct fedc_params *p = NULL;
	const float *w, *b, *c;
	/* Same operations in the same order as the aggregator: sums in double,
	 * one division, one rounding to float. */
	double csum = 0.0;
	float c_expected;

	csum += 1.0 * (double)u1.c[0];
	csum += 2.0 * (double)u2.c[0];
	csum += 3.0 * (double)u3.c[0];
	c_expected = (float)(csum / 6.0);

	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	assert_int_equal(fedc_params_count(p), 3);
	w = fedc_params_find(p, "w")->data;
	b = fedc_params_find(p, "b")->data;
	c = fedc_params_find(p, "c")->data;
	/* (1*[1,2,3,4] + 2*[4,5,6,7] + 3*[0.5,1,-2,10]) / 6 = [10.5,15,9,48] / 6 */
	assert_true(w[0] == 1.75f && w[1] == 2.5f && w[2] == 1.5f && w[3] == 8.0f);
	assert_true(b[0] == 1.0f); /* (3 + 0 + 3) / 6 */
	assert_true(c[0] == c_expected);
	assert_true(fabsf(c[0] - (0.1f + 0.4f + 0.9f) / 6.0f) < 1e-7f);
	fedc_params_close(p);
}

static int setup(void **state)
{
	return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */

static void test_fedavg_weighted_average(void **state)
{
	struct aggregator *agg = begun_fedavg();
	char path[256];

	add_model(agg, &u1, 1);
	add_model(agg, &u2, 2);
	add_model(agg, &u3, 3);
	out_path(path, sizeof(path), "avg.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	assert_weighted_123(path);
	aggregator__free(agg);
}

static void test_fedavg_single_update_is_identity(void **state)
{
	struct aggregator *agg = begun_fedavg();
	struct fedc_params *p = NULL;
	char path[256];

	add_model(agg, &u3, 17);
	out_path(path, sizeof(path), "one.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	assert_memory_equal(fedc_params_find(p, "w")->data, u3.w, sizeof(u3.w));
	assert_memory_equal(fedc_params_find(p, "c")->data, u3.c, sizeof(u3.c));
	fedc_params_close(p);
	aggregator__free(agg);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	buf = malloc(*len);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

static void assert_same_files(const char *path_a, const char *path_b)
{
	unsigned char *a, *b;
	size_t len_a, len_b;

	a = slurp(path_a, &len_a);
	b = slurp(path_b, &len_b);
	assert_int_equal(len_a, len_b);
	assert_memory_equal(a, b, len_a);
	free(a);
	free(b);
}

/* Same inputs in the same canonical order: the same bytes. */
static void test_fedavg_bit_identical(void **state)
{
	char path_a[256], path_b[256];

	for (int run = 0; run < 2; run++) {
		struct aggregator *agg = begun_fedavg();

		add_model(agg, &u1, 1000003);
		add_model(agg, &u2, 7);
		add_model(agg, &u3, 123456789);
		out_path(run ? path_b : path_a, sizeof(path_a), run ? "b.params" : "a.params");
		assert_int_equal(aggregator__finish(agg, run ? path_b : path_a), FEDC_OK);
		aggregator__free(agg);
	}
	assert_same_files(path_a, path_b);
}

/* Every refused update leaves the round as it was: the final average is the
 * one of the accepted updates alone. */
static void test_fedavg_layout_mismatch_rejected(void **state)
{
	struct aggregator *agg = begun_fedavg();
	struct fedc_tensor t[4], swapped[3];
	char path[256];
	float extra = 1.0f;

	add_model(agg, &u1, 1);
	model_tensors(&u2, t);

	t[0].shape[1] = 1; /* w [2, 1] */
	assert_int_equal(aggregator__add(agg, "x1", params_of("shape", t, 3), 5), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "\"w\""));
	t[0].shape[1] = 2;

	t[1].name = "bias";
	assert_int_equal(aggregator__add(agg, "x2", params_of("name", t, 3), 5), FEDC_ERR_MALFORMED);
	t[1].name = "b";

	assert_int_equal(aggregator__add(agg, "x3", params_of("fewer", t, 2), 5), FEDC_ERR_MALFORMED);

	t[3] = (struct fedc_tensor){ "d", FEDC_DTYPE_F32, 0, { 0 }, &extra };
	assert_int_equal(aggregator__add(agg, "x4", params_of("more", t, 4), 5), FEDC_ERR_MALFORMED);

	swapped[0] = t[1];
	swapped[1] = t[0];
	swapped[2] = t[2];
	assert_int_equal(aggregator__add(agg, "x5", params_of("order", swapped, 3), 5), FEDC_ERR_MALFORMED);

	add_model(agg, &u2, 2);
	add_model(agg, &u3, 3);
	out_path(path, sizeof(path), "after-mismatch.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	assert_weighted_123(path);
	aggregator__free(agg);
}

static void test_fedavg_nan_rejected(void **state)
{
	struct aggregator *agg = begun_fedavg();
	struct model_values bad = u2;
	char path[256];

	add_model(agg, &u1, 1);
	/* The bad value sits in the last tensor, after tensors that are fine:
	 * they must not have been kept either. */
	bad.c[0] = NAN;
	assert_int_equal(aggregator__add(agg, "bad1", model_update("bad1", &bad), 2), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "NaN"));
	bad.c[0] = u2.c[0];
	bad.w[3] = -INFINITY;
	assert_int_equal(aggregator__add(agg, "bad2", model_update("bad2", &bad), 2), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "\"w\" holds an infinity at index 3"));

	add_model(agg, &u2, 2);
	add_model(agg, &u3, 3);
	out_path(path, sizeof(path), "after-nan.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	assert_weighted_123(path);
	aggregator__free(agg);
}

/* check_update() and add_checked(), the halves of add() the researcher's
 * fetcher threads use: the same refusals, the same result. */
static void test_check_then_add_checked(void **state)
{
	struct aggregator *agg = NULL;
	struct model_values bad = u2;
	struct fedc_params *p;
	char path[256];

	(void)state;
	assert_int_equal(aggregator__new("fedavg", NULL, &agg), FEDC_OK);
	p = model_update("early", &u1);
	assert_int_equal(aggregator__check_update(agg, p), FEDC_ERR_INVAL); /* before begin() */
	fedc_params_close(p);
	aggregator__free(agg);

	agg = begun_fedavg();
	bad.b[0] = NAN;
	p = model_update("bad", &bad);
	assert_int_equal(aggregator__check_update(agg, p), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "NaN"));
	fedc_params_close(p);
	p = model_update("n1", &u1);
	assert_int_equal(aggregator__check_update(agg, p), FEDC_OK);
	assert_int_equal(aggregator__add_checked(agg, "n1", p, 1), FEDC_OK);
	p = model_update("n1-again", &u1);
	assert_int_equal(aggregator__check_update(agg, p), FEDC_OK);
	assert_int_equal(aggregator__add_checked(agg, "n1", p, 1), FEDC_ERR_INVAL); /* closed it */
	add_model(agg, &u3, 3);
	p = model_update("n2", &u2);
	assert_int_equal(aggregator__check_update(agg, p), FEDC_OK);
	assert_int_equal(aggregator__add_checked(agg, "n2", p, 2), FEDC_OK);
	out_path(path, sizeof(path), "checked.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	assert_weighted_123(path);
	aggregator__free(agg);
}

/* A model big enough for the sum to be shared out between threads, in
 * chunks, with a tensor whose size is no multiple of anything: the result is
 * bit for bit the plain loop's (sums in double in node-id order, one
 * division, one rounding). */
static void test_fedavg_large_model_matches_plain_loop(void **state)
{
	enum { BIG = 600007, SMALL = 5, NODES = 3 };
	static float values[NODES][BIG + SMALL];
	const uint64_t weights[NODES] = { 7, 1, 12 };
	struct aggregator *agg = NULL;
	struct fedc_params *global, *out = NULL;
	struct fedc_tensor t[2] = { { "big", FEDC_DTYPE_F32, 1, { BIG }, NULL },
				    { "small", FEDC_DTYPE_F32, 1, { SMALL }, NULL } };
	const float *big, *small;
	char path[256], name[32];

	(void)state;
	for (size_t k = 0; k < NODES; k++) {
		for (size_t j = 0; j < BIG + SMALL; j++)
			values[k][j] = (float)((double)((j * 2654435761u + k * 40503u) % 100003u) / 997.0 - 50.0);
	}
	t[0].data = values[0];
	t[1].data = values[0] + BIG;
	global = params_of("big-global", t, 2);
	assert_int_equal(aggregator__new("fedavg", NULL, &agg), FEDC_OK);
	assert_int_equal(aggregator__begin(agg, global, N_NODES), FEDC_OK);
	fedc_params_close(global);
	for (size_t k = NODES; k-- > 0;) { /* added in reverse: finish() sorts */
		snprintf(name, sizeof(name), "big-n%zu", k);
		t[0].data = values[k];
		t[1].data = values[k] + BIG;
		assert_int_equal(aggregator__add(agg, name, params_of(name, t, 2), weights[k]), FEDC_OK);
	}
	out_path(path, sizeof(path), "big.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	aggregator__free(agg);
	assert_int_equal(fedc_params_open(path, &out), FEDC_OK);
	big = fedc_params_find(out, "big")->data;
	small = fedc_params_find(out, "small")->data;
	for (size_t j = 0; j < BIG + SMALL; j++) {
		double sum = 0.0;
		float expected;

		for (size_t k = 0; k < NODES; k++)
			sum += (double)weights[k] * (double)values[k][j];
		expected = (float)(sum / 20.0);
		if ((j < BIG ? big[j] : small[j - BIG]) != expected)
			fail_msg("value %zu: %.9g, the plain loop gives %.9g", j, (double)(j < BIG ? big[j] : small[j - BIG]),
				 (double)expected);
	}
	fedc_params_close(out);
}

/* The streamed methods (FedOpt, SCAFFOLD) over a model of several writer
 * blocks (FEDC_PARAMS_FILL_BLOCK is 256 Ki floats) and two tensors, against
 * plain loops doing the same operations: every block lands on its own
 * coordinates of x, the moments and c. */
enum { SBIG = 300007, SSMALL = 5, SN = SBIG + SSMALL, SNODES = 3 };

static float stream_value(size_t k, size_t j)
{
	return (float)((double)((j * 2654435761u + k * 40503u) % 100003u) / 997.0 - 50.0);
}

/* Two tensors named `big` and `small` over v (SBIG + SSMALL values). */
static void big_small(struct fedc_tensor *t, const float *v, const char *big, const char *small)
{
	t[0] = (struct fedc_tensor){ big, FEDC_DTYPE_F32, 1, { SBIG }, v };
	t[1] = (struct fedc_tensor){ small, FEDC_DTYPE_F32, 1, { SSMALL }, v + SBIG };
}

static const float *tensor_data(const struct fedc_params *p, const char *name)
{
	const struct fedc_tensor *t = fedc_params_find(p, name);

	assert_non_null(t);
	return t->data;
}

static void test_fedadam_large_model_matches_plain_loop(void **state)
{
	static float x[SN], y[SNODES][SN];
	const uint64_t weights[SNODES] = { 7, 1, 12 };
	struct aggregator_options o;
	struct aggregator *agg = NULL;
	struct fedc_params *out = NULL;
	struct fedc_tensor t[2];
	char path[256], name[32];

	(void)state;
	for (size_t j = 0; j < SN; j++) {
		x[j] = stream_value(9, j) / 10.0f;
		for (size_t k = 0; k < SNODES; k++)
			y[k][j] = stream_value(k, j);
	}
	aggregator__default_options("fedadam", &o);
	assert_int_equal(aggregator__new("fedadam", &o, &agg), FEDC_OK);
	big_small(t, x, "big", "small");
	out = params_of("adam-global", t, 2);
	assert_int_equal(aggregator__begin(agg, out, N_NODES), FEDC_OK);
	fedc_params_close(out);
	for (size_t k = SNODES; k-- > 0;) {
		snprintf(name, sizeof(name), "adam-n%zu", k);
		big_small(t, y[k], "big", "small");
		assert_int_equal(aggregator__add(agg, name, params_of(name, t, 2), weights[k]), FEDC_OK);
	}
	out_path(path, sizeof(path), "adam-big.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	aggregator__free(agg);
	assert_int_equal(fedc_params_open(path, &out), FEDC_OK);
	for (size_t j = 0; j < SN; j++) {
		const float got = j < SBIG ? tensor_data(out, "big")[j] : tensor_data(out, "small")[j - SBIG];
		const float v0 = (float)(o.tau * o.tau);
		double sum = 0.0, delta;
		float m, v, expected;

		for (size_t k = 0; k < SNODES; k++)
			sum += (double)weights[k] * (double)y[k][j];
		delta = sum / 20.0 - (double)x[j];
		m = (float)(o.beta1 * 0.0 + (1.0 - o.beta1) * delta);
		v = (float)(o.beta2 * (double)v0 + (1.0 - o.beta2) * (delta * delta));
		expected = (float)((double)x[j] + o.server_lr * (double)m / (sqrt((double)v) + o.tau));
		if (got != expected)
			fail_msg("value %zu: %.9g, the plain loop gives %.9g", j, (double)got, (double)expected);
	}
	fedc_params_close(out);
}

static void test_scaffold_large_model_matches_plain_loop(void **state)
{
	static float x[SN], y[SNODES][2 * SN];
	const char *names[4] = { "big", "small", "scaffold.dc.big", "scaffold.dc.small" };
	struct aggregator *agg = NULL;
	struct fedc_params *out = NULL;
	struct fedc_tensor t[4];
	char path[256], name[32];

	(void)state;
	for (size_t j = 0; j < SN; j++) {
		x[j] = stream_value(7, j);
		for (size_t k = 0; k < SNODES; k++) {
			y[k][j] = stream_value(k, j);
			y[k][SN + j] = stream_value(k + 3, j) / 100.0f;
		}
	}
	assert_int_equal(aggregator__new("scaffold", NULL, &agg), FEDC_OK);
	big_small(t, x, "big", "small");
	out = params_of("sc-big-global", t, 2);
	assert_int_equal(aggregator__begin(agg, out, N_NODES), FEDC_OK);
	fedc_params_close(out);
	for (size_t k = SNODES; k-- > 0;) {
		snprintf(name, sizeof(name), "sc-big-n%zu", k);
		big_small(t, y[k], names[0], names[1]);
		big_small(t + 2, y[k] + SN, names[2], names[3]);
		assert_int_equal(aggregator__add(agg, name, params_of(name, t, 4), 10 + k), FEDC_OK);
	}
	out_path(path, sizeof(path), "sc-big.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	aggregator__free(agg);
	assert_int_equal(fedc_params_open(path, &out), FEDC_OK);
	for (size_t j = 0; j < SN; j++) {
		const bool big = j < SBIG;
		const size_t at = big ? j : j - SBIG;
		const float got_x = tensor_data(out, big ? "big" : "small")[at];
		const float got_c = tensor_data(out, big ? "scaffold.c.big" : "scaffold.c.small")[at];
		double sum_y = 0.0, sum_dc = 0.0;

		for (size_t k = 0; k < SNODES; k++) {
			sum_y += 1.0 * (double)y[k][j];
			sum_dc += 1.0 * (double)y[k][SN + j];
		}
		/* server_lr 1: x + (mean - x); c from 0 by sum / N */
		if (got_x != (float)((double)x[j] + 1.0 * (sum_y / SNODES - (double)x[j])) ||
		    got_c != (float)(0.0 + sum_dc / N_NODES))
			fail_msg("value %zu: x %.9g, c %.9g differ from the plain loop", j, (double)got_x, (double)got_c);
	}
	fedc_params_close(out);
}

/* Once written, a streamed result is what a later finish() gives again,
 * to another file too: the updates are gone by then. */
static void test_finish_again_to_another_file(void **state)
{
	struct aggregator *agg = begun("fedadam", NULL);
	char a[256], b[256];

	(void)state;
	add_model(agg, &u1, 1);
	add_model(agg, &u2, 2);
	out_path(a, sizeof(a), "again-a.params");
	out_path(b, sizeof(b), "again-b.params");
	assert_int_equal(aggregator__finish(agg, a), FEDC_OK);
	assert_int_equal(aggregator__finish(agg, b), FEDC_OK);
	assert_int_equal(aggregator__rounds(agg), 1);
	assert_same_files(a, b);
	aggregator__free(agg);
}

/* The finite scan goes by blocks of 1 Mi values: a NaN in a later block,
 * and the last value of a block, are found and named. */
static void test_nan_in_a_later_block_named(void **state)
{
	enum { LONG = (3 << 20) + 17 };
	static const uint64_t at[] = { 2000001, (2u << 20) - 1, LONG - 1 };
	static float values[LONG];
	struct fedc_tensor t = { "long", FEDC_DTYPE_F32, 1, { LONG }, values };
	struct aggregator *agg = NULL;
	struct fedc_params *global = params_of("long-global", &t, 1);
	char want[64];

	(void)state;
	assert_int_equal(aggregator__new("fedavg", NULL, &agg), FEDC_OK);
	assert_int_equal(aggregator__begin(agg, global, N_NODES), FEDC_OK);
	fedc_params_close(global);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		values[at[i]] = NAN;
		assert_int_equal(aggregator__add(agg, "n1", params_of("long-n1", &t, 1), 1), FEDC_ERR_MALFORMED);
		snprintf(want, sizeof(want), "holds NaN at index %llu", (unsigned long long)at[i]);
		assert_non_null(strstr(fedc_last_error(), want));
		values[at[i]] = 0;
	}
	assert_int_equal(aggregator__add(agg, "n1", params_of("long-n1", &t, 1), 1), FEDC_OK);
	aggregator__free(agg);
}

static void test_fedavg_no_updates(void **state)
{
	struct aggregator *agg = begun_fedavg();
	char path[256];

	out_path(path, sizeof(path), "none.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_ERR_INVAL);
	assert_int_equal(access(path, F_OK), -1);
	aggregator__free(agg);
}

static void test_fedavg_zero_samples_rejected(void **state)
{
	struct aggregator *agg = begun_fedavg();

	assert_int_equal(aggregator__add(agg, "n1", model_update("n1", &u1), 0), FEDC_ERR_INVAL);
	aggregator__free(agg);
}

/* A node counts once; no more updates than nodes; a node id is required. */
static void test_add_duplicate_node_and_too_many(void **state)
{
	struct aggregator *agg = NULL;
	struct fedc_params *global = model_params("global", &global_values);
	char path[256];

	assert_int_equal(aggregator__new("fedavg", NULL, &agg), FEDC_OK);
	assert_int_equal(aggregator__begin(agg, global, 3), FEDC_OK);
	add_model(agg, &u1, 1);
	assert_int_equal(aggregator__add(agg, "n1", model_update("n1-again", &u2), 2), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "n1"));
	assert_int_equal(aggregator__add(agg, "", model_update("anon", &u2), 2), FEDC_ERR_INVAL);
	assert_int_equal(aggregator__add(agg, NULL, model_update("anon", &u2), 2), FEDC_ERR_INVAL);
	add_model(agg, &u2, 2);
	add_model(agg, &u3, 3);
	assert_int_equal(aggregator__add(agg, "n4", model_update("n4", &u1), 1), FEDC_ERR_INVAL);
	out_path(path, sizeof(path), "dup.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	assert_weighted_123(path);
	assert_int_equal(aggregator__begin(agg, global, 0), FEDC_ERR_INVAL);
	fedc_params_close(global);
	aggregator__free(agg);
}

static void test_unknown_aggregator(void **state)
{
	struct aggregator *agg = (struct aggregator *)1;

	assert_int_equal(aggregator__new("fedmedian", NULL, &agg), FEDC_ERR_CONFIG);
	assert_null(agg);
	assert_non_null(strstr(fedc_last_error(), "unknown aggregator"));
	assert_int_equal(aggregator__new("FedAvg ", NULL, &agg), FEDC_ERR_CONFIG);
	assert_int_equal(aggregator__new("fedadamw", NULL, &agg), FEDC_ERR_CONFIG);
	assert_int_equal(aggregator__new(NULL, NULL, &agg), FEDC_ERR_CONFIG);
}

static void test_add_before_begin(void **state)
{
	struct aggregator *agg = NULL;
	char path[256];

	out_path(path, sizeof(path), "early.params");
	assert_int_equal(aggregator__new("fedavg", NULL, &agg), FEDC_OK);
	assert_int_equal(aggregator__add(agg, "n1", model_update("n1", &u1), 1), FEDC_ERR_INVAL);
	assert_int_equal(aggregator__finish(agg, path), FEDC_ERR_INVAL);
	aggregator__free(agg);
}

/* begin() forgets the earlier round, even one with updates. */
static void test_begin_starts_afresh(void **state)
{
	struct aggregator *agg = begun_fedavg();
	struct fedc_params *global = model_params("global", &global_values);
	char path[256];

	add_model(agg, &u2, 50);
	assert_int_equal(aggregator__begin(agg, global, N_NODES), FEDC_OK);
	fedc_params_close(global);
	out_path(path, sizeof(path), "fresh.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_ERR_INVAL);
	add_model(agg, &u1, 1);
	add_model(agg, &u2, 2);
	add_model(agg, &u3, 3);
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	assert_weighted_123(path);
	aggregator__free(agg);
}

/* A failed write can be retried; the round takes no update after finish;
 * the round counts once. */
static void test_finish_retry_after_io_error(void **state)
{
	struct aggregator *agg = begun_fedavg();
	char path[256];

	add_model(agg, &u1, 1);
	add_model(agg, &u2, 2);
	add_model(agg, &u3, 3);
	out_path(path, sizeof(path), "missing-dir/x.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_ERR_IO);
	assert_int_equal(aggregator__rounds(agg), 0);
	assert_int_equal(aggregator__add(agg, "n4", model_update("n4", &u1), 1), FEDC_ERR_INVAL);
	out_path(path, sizeof(path), "retry.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	assert_weighted_123(path);
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	assert_int_equal(aggregator__rounds(agg), 1);
	aggregator__free(agg);
}

/* FedProx is FedAvg on the server (its mu acts in the nodes' training). */
static void test_fedprox_is_fedavg_on_server(void **state)
{
	struct aggregator_options o;
	struct aggregator *agg;
	char path[256];

	aggregator__default_options("fedprox", &o);
	o.mu = 0.5;
	agg = begun("fedprox", &o);
	add_model(agg, &u3, 3);
	add_model(agg, &u1, 1);
	add_model(agg, &u2, 2);
	out_path(path, sizeof(path), "fedprox.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	assert_weighted_123(path);
	aggregator__free(agg);
}

/* ------------------------------------------------------------------ */
/* A one-tensor model "w" [2] for the server optimizers and SCAFFOLD.   */

static struct fedc_params *tiny_params(const char *name, const float w[2])
{
	struct fedc_tensor t = { "w", FEDC_DTYPE_F32, 1, { 2 }, w };

	return params_of(name, &t, 1);
}

static void add_tiny(struct aggregator *agg, const char *node, float w0, float w1, uint64_t n)
{
	const float w[2] = { w0, w1 };
	char name[64];

	snprintf(name, sizeof(name), "tiny-%s", node);
	assert_int_equal(aggregator__add(agg, node, tiny_params(name, w), n), FEDC_OK);
}

/* Begins a round on the parameters in file `global_file` (under tmp). */
static void begin_on_file(struct aggregator *agg, const char *global_file, uint32_t n_nodes)
{
	struct fedc_params *global = NULL;
	char path[256];

	out_path(path, sizeof(path), global_file);
	assert_int_equal(fedc_params_open(path, &global), FEDC_OK);
	assert_int_equal(aggregator__begin(agg, global, n_nodes), FEDC_OK);
	fedc_params_close(global);
}

static void finish_to(struct aggregator *agg, const char *file)
{
	char path[256];

	out_path(path, sizeof(path), file);
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
}

/* Reads tensor `name` of file `file` (under tmp) into out[n]. */
static void read_tensor(const char *file, const char *name, float *out, size_t n)
{
	struct fedc_params *p = NULL;
	const struct fedc_tensor *t;
	char path[256];

	out_path(path, sizeof(path), file);
	assert_int_equal(fedc_params_open(path, &p), FEDC_OK);
	t = fedc_params_find(p, name);
	assert_non_null(t);
	assert_int_equal(fedc_tensor_elements(t), n);
	memcpy(out, t->data, n * sizeof(float));
	fedc_params_close(p);
}

static void write_tiny_global(const char *file, float w0, float w1)
{
	const float w[2] = { w0, w1 };

	fedc_params_close(tiny_params(file, w));
}

/* Options of the optimizer tests: numbers that keep the hand work short. */
static struct aggregator_options fedopt_options(const char *method)
{
	struct aggregator_options o;

	aggregator__default_options(method, &o);
	o.server_lr = 0.5;
	o.beta1 = 0.5;
	o.beta2 = 0.75;
	o.tau = 0.5;
	return o;
}

/* Round 1 from x = [1, -2]: node a [-1, 2] with 1 sample, node b [1, -2]
 * with 3: weighted mean [(-1 + 3) / 4, (2 - 6) / 4] = [0.5, -1], so
 * delta = mean - x = [-0.5, 1]. Round 2 from the result x1: node c alone
 * [0.375, 0]. Start: m = 0, v = tau^2 = 0.25. */
static void run_fedopt_rounds(const char *method, float x1[2], float x2[2])
{
	struct aggregator_options o = fedopt_options(method);
	struct aggregator *agg = NULL;

	assert_int_equal(aggregator__new(method, &o, &agg), FEDC_OK);
	write_tiny_global("opt-global", 1.0f, -2.0f);
	begin_on_file(agg, "opt-global", 3);
	add_tiny(agg, "b", 1.0f, -2.0f, 3); /* arrival order does not matter */
	add_tiny(agg, "a", -1.0f, 2.0f, 1);
	finish_to(agg, "opt-x1");
	read_tensor("opt-x1", "w", x1, 2);
	begin_on_file(agg, "opt-x1", 3);
	add_tiny(agg, "c", 0.375f, 0.0f, 5);
	finish_to(agg, "opt-x2");
	read_tensor("opt-x2", "w", x2, 2);
	assert_int_equal(aggregator__rounds(agg), 2);
	aggregator__free(agg);
}

#define assert_near(a, b) assert_true(fabs((double)(a) - (b)) < 2e-6)

/* Two rounds of run_fedopt_rounds given as secure sums (what secure
 * aggregation hands over): the same results, bit for bit. */
static void run_rounds_as_sums(const char *method, float x1[2], float x2[2])
{
	struct aggregator_options o = fedopt_options(method);
	struct aggregator *agg = NULL;
	double *sum = malloc(2 * sizeof(double));

	assert_non_null(sum);
	assert_int_equal(aggregator__new(method, &o, &agg), FEDC_OK);
	write_tiny_global("sum-global", 1.0f, -2.0f);
	begin_on_file(agg, "sum-global", 3);
	assert_int_equal(aggregator__update_values(agg), 2);
	sum[0] = 1.0 * -1.0 + 3.0 * 1.0; /* node-id order, as the plain path sums */
	sum[1] = 1.0 * 2.0 + 3.0 * -2.0;
	assert_int_equal(aggregator__add_sum(agg, sum, 4, 2), FEDC_OK);
	finish_to(agg, "sum-x1");
	read_tensor("sum-x1", "w", x1, 2);
	begin_on_file(agg, "sum-x1", 3);
	sum = malloc(2 * sizeof(double));
	assert_non_null(sum);
	sum[0] = 5.0 * 0.375;
	sum[1] = 0.0;
	assert_int_equal(aggregator__add_sum(agg, sum, 5, 1), FEDC_OK);
	finish_to(agg, "sum-x2");
	read_tensor("sum-x2", "w", x2, 2);
	aggregator__free(agg);
}

static void test_secure_sum_equals_updates(void **state)
{
	static const char *const methods[] = { "fedavg", "fedprox", "fedadam", "fedyogi", "fedadagrad" };

	(void)state;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		float a1[2], a2[2], b1[2], b2[2];

		run_fedopt_rounds(methods[i], a1, a2);
		run_rounds_as_sums(methods[i], b1, b2);
		assert_memory_equal(a1, b1, sizeof(a1));
		assert_memory_equal(a2, b2, sizeof(a2));
	}
}

/* What cannot take a sum, and sums that cannot be right, are refused; the
 * sum is freed whatever happens. */
static void test_secure_sum_refusals(void **state)
{
	static const char *const single[] = { "median", "trimmed_mean", "krum", "multikrum", "normbounded" };
	struct aggregator *agg = NULL;
	bool weighted = true;

	(void)state;
	for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
		assert_false(aggregator__secure_sum_kind(single[i], NULL));
		assert_int_equal(aggregator__new(single[i], NULL, &agg), FEDC_OK);
		write_tiny_global("ref-global", 1.0f, -2.0f);
		begin_on_file(agg, "ref-global", 3);
		assert_int_equal(aggregator__add_sum(agg, calloc(2, sizeof(double)), 2, 2), FEDC_ERR_INVAL);
		aggregator__free(agg);
	}
	assert_true(aggregator__secure_sum_kind("scaffold", &weighted));
	assert_false(weighted);
	assert_true(aggregator__secure_sum_kind("fedavg", &weighted));
	assert_true(weighted);
	assert_int_equal(aggregator__new("fedavg", NULL, &agg), FEDC_OK);
	begin_on_file(agg, "ref-global", 3);
	assert_int_equal(aggregator__add_sum(agg, calloc(2, sizeof(double)), 0, 2), FEDC_ERR_INVAL); /* no weight */
	assert_int_equal(aggregator__add_sum(agg, calloc(2, sizeof(double)), 2, 4), FEDC_ERR_INVAL); /* > n_nodes */
	{
		double *nan_sum = calloc(2, sizeof(double));

		assert_non_null(nan_sum);
		nan_sum[1] = NAN;
		assert_int_equal(aggregator__add_sum(agg, nan_sum, 2, 2), FEDC_ERR_MALFORMED);
	}
	add_tiny(agg, "a", 1.0f, 1.0f, 1);
	assert_int_equal(aggregator__add_sum(agg, calloc(2, sizeof(double)), 2, 2), FEDC_ERR_INVAL); /* beside an update */
	aggregator__free(agg);
	assert_int_equal(aggregator__new("scaffold", NULL, &agg), FEDC_OK);
	begin_on_file(agg, "ref-global", 3);
	/* an unweighted sum's weight is its count */
	assert_int_equal(aggregator__add_sum(agg, calloc(4, sizeof(double)), 7, 2), FEDC_ERR_MALFORMED);
	aggregator__free(agg);
}

static void test_fedadam_two_rounds(void **state)
{
	float x1[2], x2[2];

	run_fedopt_rounds("fedadam", x1, x2);
	/* Round 1: m = 0.5 * 0 + 0.5 * delta = [-0.25, 0.5]
	 *          v = 0.75 * 0.25 + 0.25 * delta^2 = [0.1875 + 0.0625, 0.1875 + 0.25] = [0.25, 0.4375]
	 *          x = x + 0.5 * m / (sqrt(v) + 0.5)
	 *            = [1 + 0.5 * -0.25 / 1, -2 + 0.25 / (0.6614378 + 0.5)] = [0.875, -1.7847496] */
	assert_true(x1[0] == 0.875f);
	assert_near(x1[1], -1.7847496);
	/* Round 2: delta = [0.375 - 0.875, 0 + 1.7847496] = [-0.5, 1.7847496]
	 *          m = 0.5 * m + 0.5 * delta = [-0.375, 0.25 + 0.8923748] = [-0.375, 1.1423748]
	 *          v = 0.75 * v + 0.25 * delta^2 = [0.25, 0.328125 + 0.7963327] = [0.25, 1.1244577]
	 *          x = [0.875 - 0.5 * 0.375 / 1, -1.7847496 + 0.5 * 1.1423748 / (1.0603856 + 0.5)]
	 *            = [0.6875, -1.7847496 + 0.3660510] = [0.6875, -1.4186986] */
	assert_true(x2[0] == 0.6875f);
	assert_near(x2[1], -1.4186986);
}

static void test_fedyogi_two_rounds(void **state)
{
	float x1[2], x2[2];

	run_fedopt_rounds("fedyogi", x1, x2);
	/* Round 1: m = [-0.25, 0.5]
	 *          v = v - 0.25 * delta^2 * sign(v - delta^2):
	 *            [0.25 - 0.0625 * sign(0.25 - 0.25), 0.25 - 0.25 * sign(0.25 - 1)] = [0.25, 0.5]
	 *          x = [1 - 0.5 * 0.25 / 1, -2 + 0.25 / (0.7071068 + 0.5)] = [0.875, -1.7928932] */
	assert_true(x1[0] == 0.875f);
	assert_near(x1[1], -1.7928932);
	/* Round 2: delta = [-0.5, 1.7928932], delta^2 = [0.25, 3.2144661]
	 *          m = [-0.375, 0.25 + 0.8964466] = [-0.375, 1.1464466]
	 *          v = [0.25 (sign 0), 0.5 + 0.25 * 3.2144661] = [0.25, 1.3036165]
	 *          x = [0.6875, -1.7928932 + 0.5 * 1.1464466 / (1.1417603 + 0.5)]
	 *            = [0.6875, -1.7928932 + 0.3491517] = [0.6875, -1.4437416] */
	assert_true(x2[0] == 0.6875f);
	assert_near(x2[1], -1.4437416);
}

static void test_fedadagrad_two_rounds(void **state)
{
	float x1[2], x2[2];

	run_fedopt_rounds("fedadagrad", x1, x2);
	/* Round 1: m = [-0.25, 0.5]; v = v + delta^2 = [0.5, 1.25]
	 *          x = [1 - 0.125 / (0.7071068 + 0.5), -2 + 0.25 / (1.1180340 + 0.5)]
	 *            = [1 - 0.1035534, -2 + 0.1545085] = [0.8964466, -1.8454915] */
	assert_near(x1[0], 0.8964466);
	assert_near(x1[1], -1.8454915);
	/* Round 2: delta = [0.375 - 0.8964466, 1.8454915] = [-0.5214466, 1.8454915]
	 *          m = [-0.125 - 0.2607233, 0.25 + 0.9227458] = [-0.3857233, 1.1727458]
	 *          v = [0.5 + 0.2719066, 1.25 + 3.4058390] = [0.7719066, 4.6558390]
	 *          x = [0.8964466 - 0.5 * 0.3857233 / (0.8785822 + 0.5),
	 *               -1.8454915 + 0.5 * 1.1727458 / (2.1577393 + 0.5)]
	 *            = [0.8964466 - 0.1398986, -1.8454915 + 0.2206284] = [0.7565480, -1.6248632] */
	assert_near(x2[0], 0.7565480);
	assert_near(x2[1], -1.6248632);
}

/* ------------------------------------------------------------------ */
/* SCAFFOLD                                                           */

static void add_scaffold(struct aggregator *agg, const char *node, const float w[2], const float dc[2],
			 uint64_t n)
{
	struct fedc_tensor t[2] = {
		{ "w", FEDC_DTYPE_F32, 1, { 2 }, w },
		{ "scaffold.dc.w", FEDC_DTYPE_F32, 1, { 2 }, dc },
	};
	char name[64];

	snprintf(name, sizeof(name), "scaffold-%s", node);
	assert_int_equal(aggregator__add(agg, node, params_of(name, t, 2), n), FEDC_OK);
}

static void assert_pair(const float got[2], float a, float b)
{
	assert_true(got[0] == a && got[1] == b);
}

/* N = 4 nodes, server_lr 0.5. Round 1 from x = [1, 2], c = 0 (no
 * "scaffold.c.w" yet): node a y = [2, 2], dc = [0.5, -1]; node b y = [4, 0],
 * dc = [1.5, 1]; sample counts 10 and 30 do not weigh in.
 *   x = x + 0.5 * (mean y - x) = [1 + 0.5 * (3 - 1), 2 + 0.5 * (1 - 2)] = [2, 1.5]
 *   c = c + (2/4) * mean dc = 0.5 * [1, 0] = [0.5, 0]
 * Round 2 from that file: node c alone, y = [3, 3], dc = [1, 1]:
 *   x = [2 + 0.5 * (3 - 2), 1.5 + 0.5 * (3 - 1.5)] = [2.5, 2.25]
 *   c = [0.5, 0] + (1/4) * [1, 1] = [0.75, 0.25] */
static void test_scaffold_two_rounds(void **state)
{
	struct aggregator_options o;
	struct aggregator *agg = NULL;
	float x[2], c[2];

	aggregator__default_options("scaffold", &o);
	assert_true(o.server_lr == 1.0);
	o.server_lr = 0.5;
	assert_int_equal(aggregator__new("scaffold", &o, &agg), FEDC_OK);
	write_tiny_global("sc-global", 1.0f, 2.0f);
	begin_on_file(agg, "sc-global", 4);
	add_scaffold(agg, "b", (const float[]){ 4, 0 }, (const float[]){ 1.5f, 1 }, 30);
	add_scaffold(agg, "a", (const float[]){ 2, 2 }, (const float[]){ 0.5f, -1 }, 10);
	finish_to(agg, "sc-x1");
	read_tensor("sc-x1", "w", x, 2);
	read_tensor("sc-x1", "scaffold.c.w", c, 2);
	assert_pair(x, 2.0f, 1.5f);
	assert_pair(c, 0.5f, 0.0f);

	begin_on_file(agg, "sc-x1", 4);
	add_scaffold(agg, "c", (const float[]){ 3, 3 }, (const float[]){ 1, 1 }, 1);
	finish_to(agg, "sc-x2");
	read_tensor("sc-x2", "w", x, 2);
	read_tensor("sc-x2", "scaffold.c.w", c, 2);
	assert_pair(x, 2.5f, 2.25f);
	assert_pair(c, 0.75f, 0.25f);
	aggregator__free(agg);
}

/* Without a saved state, c comes from the global parameters' "scaffold.c.w"
 * (here as round 1 above wrote them): round 2 then gives the same as above. */
static void test_scaffold_takes_c_from_global(void **state)
{
	const float w[2] = { 2.0f, 1.5f }, c1[2] = { 0.5f, 0.0f };
	const struct fedc_tensor g[2] = {
		{ "w", FEDC_DTYPE_F32, 1, { 2 }, w },
		{ "scaffold.c.w", FEDC_DTYPE_F32, 1, { 2 }, c1 },
	};
	struct aggregator_options o;
	struct aggregator *agg = NULL;
	float x[2], c[2];

	aggregator__default_options("scaffold", &o);
	o.server_lr = 0.5;
	assert_int_equal(aggregator__new("scaffold", &o, &agg), FEDC_OK);
	fedc_params_close(params_of("sc-x1-by-hand", g, 2));
	begin_on_file(agg, "sc-x1-by-hand", 4);
	add_scaffold(agg, "c", (const float[]){ 3, 3 }, (const float[]){ 1, 1 }, 1);
	finish_to(agg, "sc-x2-fresh");
	read_tensor("sc-x2-fresh", "w", x, 2);
	read_tensor("sc-x2-fresh", "scaffold.c.w", c, 2);
	assert_pair(x, 2.5f, 2.25f);
	assert_pair(c, 0.75f, 0.25f);
	aggregator__free(agg);
}

static void test_scaffold_convention_enforced(void **state)
{
	const float w[2] = { 1, 2 }, other[3] = { 0, 0, 0 };
	struct fedc_tensor bad_global[2] = {
		{ "w", FEDC_DTYPE_F32, 1, { 2 }, w },
		{ "scaffold.c.q", FEDC_DTYPE_F32, 1, { 2 }, w },
	};
	struct fedc_tensor short_c[2] = {
		{ "w", FEDC_DTYPE_F32, 1, { 2 }, w },
		{ "scaffold.c.w", FEDC_DTYPE_F32, 1, { 3 }, other },
	};
	struct aggregator *agg = NULL;
	struct fedc_params *p;

	assert_int_equal(aggregator__new("scaffold", NULL, &agg), FEDC_OK);
	p = params_of("sc-bad-global", bad_global, 2);
	assert_int_equal(aggregator__begin(agg, p, 2), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "scaffold.c.q"));
	fedc_params_close(p);
	p = params_of("sc-short-c", short_c, 2);
	assert_int_equal(aggregator__begin(agg, p, 2), FEDC_ERR_MALFORMED);
	fedc_params_close(p);

	/* An update without its control-variate delta is refused. */
	write_tiny_global("sc-global-2", 1.0f, 2.0f);
	begin_on_file(agg, "sc-global-2", 2);
	assert_int_equal(aggregator__add(agg, "a", tiny_params("sc-no-dc", w), 1), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "1 tensors, 2 expected"));
	aggregator__free(agg);
}

/* ------------------------------------------------------------------ */
/* Median and trimmed mean: model "w" [3].                             */

static const float r_a[3] = { 1, 5, -1 }, r_b[3] = { 2, -100, 0 }, r_c[3] = { 1000, 6, 3 },
		   r_d[3] = { 3, 7, 1e6f }, r_e[3] = { 4, 8, -1e6f }, r_f[3] = { 5, 9, 2 };

static void add_row(struct aggregator *agg, const char *node, const float v[3], uint64_t n)
{
	struct fedc_tensor t = { "w", FEDC_DTYPE_F32, 1, { 3 }, v };
	char name[64];

	snprintf(name, sizeof(name), "row-%s", node);
	assert_int_equal(aggregator__add(agg, node, params_of(name, &t, 1), n), FEDC_OK);
}

/* Aggregates the first `n` of r_a .. r_f (nodes "a" ..), in reverse order. */
static void robust(const char *method, double beta, size_t n, float out[3])
{
	const float *rows[] = { r_a, r_b, r_c, r_d, r_e, r_f };
	const float zero[3] = { 0, 0, 0 };
	struct fedc_tensor g = { "w", FEDC_DTYPE_F32, 1, { 3 }, zero };
	struct aggregator_options o;
	struct aggregator *agg = NULL;
	struct fedc_params *global;

	aggregator__default_options(method, &o);
	o.beta = beta;
	assert_int_equal(aggregator__new(method, &o, &agg), FEDC_OK);
	global = params_of("row-global", &g, 1);
	assert_int_equal(aggregator__begin(agg, global, 6), FEDC_OK);
	fedc_params_close(global);
	for (size_t i = n; i-- > 0;) {
		char node[2] = { (char)('a' + i), '\0' };

		add_row(agg, node, rows[i], i == 1 ? 100 : 1); /* b's weight is ignored */
	}
	finish_to(agg, "robust.params");
	read_tensor("robust.params", "w", out, 3);
	aggregator__free(agg);
}

static void assert_triple(const float got[3], float a, float b, float c)
{
	assert_true(got[0] == a && got[1] == b && got[2] == c);
}

static void test_median_odd_even_outliers(void **state)
{
	float out[3];

	/* a, b, c per coordinate: {1, 2, 1000} {5, -100, 6} {-1, 0, 3}: middles 2, 5, 0;
	 * the outliers 1000 and -100 (and b's 100 samples) change nothing. */
	robust("median", 0, 3, out);
	assert_triple(out, 2.0f, 5.0f, 0.0f);
	/* With d: sorted {1, 2, 3, 1000} {-100, 5, 6, 7} {-1, 0, 3, 1e6}:
	 * means of the two middles (2 + 3) / 2, (5 + 6) / 2, (0 + 3) / 2. */
	robust("median", 0, 4, out);
	assert_triple(out, 2.5f, 5.5f, 1.5f);
	/* One update: itself. */
	robust("median", 0, 1, out);
	assert_triple(out, 1.0f, 5.0f, -1.0f);
}

static void test_trimmed_mean_odd_even_outliers(void **state)
{
	float out[3];

	/* 5 updates, beta 0.2: floor(0.2 * 5) = 1 off each end. Sorted
	 * {1, 2, 3, 4, 1000} {-100, 5, 6, 7, 8} {-1e6, -1, 0, 3, 1e6}:
	 * (2 + 3 + 4) / 3 = 3, (5 + 6 + 7) / 3 = 6, (-1 + 0 + 3) / 3 = 2/3. */
	robust("trimmed_mean", 0.2, 5, out);
	assert_triple(out, 3.0f, 6.0f, (float)(2.0 / 3.0));
	/* 6 updates, beta 0.2: floor(1.2) = 1. Sorted {1, 2, 3, 4, 5, 1000}
	 * {-100, 5, 6, 7, 8, 9} {-1e6, -1, 0, 2, 3, 1e6}: (2 + 3 + 4 + 5) / 4 = 3.5,
	 * (5 + 6 + 7 + 8) / 4 = 6.5, (-1 + 0 + 2 + 3) / 4 = 1. */
	robust("trimmed_mean", 0.2, 6, out);
	assert_triple(out, 3.5f, 6.5f, 1.0f);
	/* 4 updates, beta 0.1: floor(0.4) = 0, the plain (unweighted) mean:
	 * 1006 / 4 = 251.5, -82 / 4 = -20.5, 1000002 / 4 = 250000.5. */
	robust("trimmed_mean", 0.1, 4, out);
	assert_triple(out, 251.5f, -20.5f, 250000.5f);
	/* 4 updates, beta 0.3: floor(1.2) = 1, the middle two: the median. */
	robust("trimmed_mean", 0.3, 4, out);
	assert_triple(out, 2.5f, 5.5f, 1.5f);
}

/* ------------------------------------------------------------------ */
/* Determinism: every method, updates arriving in two different orders. */

static void run_in_order(const char *method, const int order[3], const char *file)
{
	const struct model_values *vals[3] = { &u1, &u2, &u3 };
	const uint64_t weights[3] = { 1000003, 7, 123456789 };
	struct aggregator *agg = begun(method, NULL);

	for (int k = 0; k < 3; k++)
		add_model(agg, vals[order[k]], weights[order[k]]);
	finish_to(agg, file);
	aggregator__free(agg);
}

static void test_arrival_order_does_not_matter(void **state)
{
	static const char *const methods[] = { "fedavg",       "fedprox", "fedadam",   "fedyogi",    "fedadagrad",
					       "median",       "trimmed_mean", "krum",    "multikrum", "normbounded" };
	static const int forward[3] = { 0, 1, 2 }, shuffled[3] = { 2, 0, 1 };
	char a[256], b[256];

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		run_in_order(methods[i], forward, "order-a");
		run_in_order(methods[i], shuffled, "order-b");
		out_path(a, sizeof(a), "order-a");
		out_path(b, sizeof(b), "order-b");
		assert_same_files(a, b);
	}
}

static void run_scaffold_in_order(bool reverse, const char *file)
{
	static const float w[3][2] = { { 0.1f, 1e7f }, { 0.7f, -3 }, { 1e-3f, 0.3f } };
	struct aggregator *agg = NULL;

	assert_int_equal(aggregator__new("scaffold", NULL, &agg), FEDC_OK);
	write_tiny_global("sco-global", 1.0f, 2.0f);
	begin_on_file(agg, "sco-global", 3);
	for (int k = 0; k < 3; k++) {
		int i = reverse ? 2 - k : k;
		char node[8];

		snprintf(node, sizeof(node), "n%d", i);
		add_scaffold(agg, node, w[i], w[2 - i], 1);
	}
	finish_to(agg, file);
	aggregator__free(agg);
}

static void test_scaffold_arrival_order_does_not_matter(void **state)
{
	char a[256], b[256];

	run_scaffold_in_order(false, "sco-a");
	run_scaffold_in_order(true, "sco-b");
	out_path(a, sizeof(a), "sco-a");
	out_path(b, sizeof(b), "sco-b");
	assert_same_files(a, b);
}

/* ------------------------------------------------------------------ */
/* State across rounds                                                */

/* A run of two rounds, and a run that stops after round 1, saves, and
 * continues in a new aggregator from the file: the same bytes. */
static void resume_matches(const char *method)
{
	struct aggregator_options o = fedopt_options(method);
	struct aggregator *a = NULL, *b = NULL, *c = NULL;
	char s1[256], s1_again[256], s2a[256], s2b[256], x2a[256], x2b[256];

	out_path(s1, sizeof(s1), "state-1");
	out_path(s1_again, sizeof(s1_again), "state-1-again");
	out_path(s2a, sizeof(s2a), "state-2a");
	out_path(s2b, sizeof(s2b), "state-2b");
	out_path(x2a, sizeof(x2a), "res-x2a");
	out_path(x2b, sizeof(x2b), "res-x2b");
	assert_int_equal(aggregator__new(method, &o, &a), FEDC_OK);
	assert_int_equal(aggregator__new(method, &o, &b), FEDC_OK);
	assert_int_equal(aggregator__new(method, &o, &c), FEDC_OK);
	write_tiny_global("res-global", 1.0f, -2.0f);
	begin_on_file(a, "res-global", 3);
	add_tiny(a, "a", -1.0f, 2.0f, 1);
	add_tiny(a, "b", 1.0f, -2.0f, 3);
	finish_to(a, "res-x1");
	assert_int_equal(aggregator__save_state(a, s1), FEDC_OK);

	/* The file round-trips byte for byte. */
	assert_int_equal(aggregator__load_state(c, s1), FEDC_OK);
	assert_int_equal(aggregator__rounds(c), 1);
	assert_int_equal(aggregator__save_state(c, s1_again), FEDC_OK);
	assert_same_files(s1, s1_again);

	assert_int_equal(aggregator__load_state(b, s1), FEDC_OK);
	begin_on_file(a, "res-x1", 3);
	begin_on_file(b, "res-x1", 3);
	/* Not inside a round. */
	assert_int_equal(aggregator__load_state(b, s1), FEDC_ERR_INVAL);
	add_tiny(a, "c", 0.375f, 0.1f, 5);
	add_tiny(b, "c", 0.375f, 0.1f, 5);
	assert_int_equal(aggregator__finish(a, x2a), FEDC_OK);
	assert_int_equal(aggregator__finish(b, x2b), FEDC_OK);
	assert_same_files(x2a, x2b);
	assert_int_equal(aggregator__save_state(a, s2a), FEDC_OK);
	assert_int_equal(aggregator__save_state(b, s2b), FEDC_OK);
	assert_same_files(s2a, s2b);
	assert_int_equal(aggregator__rounds(b), 2);
	aggregator__free(a);
	aggregator__free(b);
	aggregator__free(c);
}

static void test_state_resume_fedadam(void **state)
{
	resume_matches("fedadam");
}

static void test_state_resume_fedyogi(void **state)
{
	resume_matches("fedyogi");
}

static void test_state_resume_fedadagrad(void **state)
{
	resume_matches("fedadagrad");
}

static void test_state_resume_scaffold(void **state)
{
	struct aggregator *a = NULL, *b = NULL;
	char s1[256];
	float x[2], c[2];

	out_path(s1, sizeof(s1), "sc-state-1");
	assert_int_equal(aggregator__new("scaffold", NULL, &a), FEDC_OK);
	assert_int_equal(aggregator__new("scaffold", NULL, &b), FEDC_OK);
	write_tiny_global("scr-global", 1.0f, 2.0f);
	begin_on_file(a, "scr-global", 4);
	add_scaffold(a, "a", (const float[]){ 2, 2 }, (const float[]){ 0.5f, -1 }, 10);
	add_scaffold(a, "b", (const float[]){ 4, 0 }, (const float[]){ 1.5f, 1 }, 30);
	finish_to(a, "scr-x1"); /* c = [0.5, 0] as in test_scaffold_two_rounds */
	assert_int_equal(aggregator__save_state(a, s1), FEDC_OK);
	read_tensor("sc-state-1", "c.w", c, 2);
	assert_pair(c, 0.5f, 0.0f);
	assert_int_equal(aggregator__load_state(b, s1), FEDC_OK);
	/* The state's c wins over the (initial, c-less) global it is given. */
	begin_on_file(b, "scr-global", 4);
	add_scaffold(b, "c", (const float[]){ 3, 3 }, (const float[]){ 1, 1 }, 1);
	finish_to(b, "scr-x2");
	read_tensor("scr-x2", "w", x, 2);
	read_tensor("scr-x2", "scaffold.c.w", c, 2);
	assert_pair(x, 3.0f, 3.0f); /* server_lr 1: the mean of one update */
	assert_pair(c, 0.75f, 0.25f);
	aggregator__free(a);
	aggregator__free(b);
}

/* Methods without state still keep the round count; a state saved before
 * any round loads into a fresh aggregator. */
static void test_state_round_count_and_empty(void **state)
{
	struct aggregator *agg = begun_fedavg(), *fresh = NULL, *adam = NULL;
	char s[256], empty[256];

	out_path(s, sizeof(s), "avg-state");
	out_path(empty, sizeof(empty), "adam-empty-state");
	add_model(agg, &u1, 1);
	finish_to(agg, "avg-x1");
	assert_int_equal(aggregator__save_state(agg, s), FEDC_OK);
	assert_int_equal(aggregator__new("fedavg", NULL, &fresh), FEDC_OK);
	assert_int_equal(aggregator__load_state(fresh, s), FEDC_OK);
	assert_int_equal(aggregator__rounds(fresh), 1);

	assert_int_equal(aggregator__new("fedadam", NULL, &adam), FEDC_OK);
	assert_int_equal(aggregator__save_state(adam, empty), FEDC_OK);
	assert_int_equal(aggregator__load_state(adam, empty), FEDC_OK);
	assert_int_equal(aggregator__rounds(adam), 0);
	aggregator__free(agg);
	aggregator__free(fresh);
	aggregator__free(adam);
}

static void test_state_load_rejects_wrong_files(void **state)
{
	struct aggregator *adam = NULL, *yogi = NULL;
	struct fedc_params *global;
	char adam_state[256], path[256];
	const float nan_w[2] = { NAN, 0 };
	const float bad_round = 1.5f;
	struct fedc_tensor bad[1] = { { "aggregator.fedyogi", FEDC_DTYPE_F32, 0, { 0 }, &bad_round } };

	resume_matches("fedadam"); /* leaves state-2a: a fedadam state over "w" [2] */
	out_path(adam_state, sizeof(adam_state), "state-2a");
	assert_int_equal(aggregator__new("fedyogi", NULL, &yogi), FEDC_OK);
	assert_int_equal(aggregator__load_state(yogi, adam_state), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "fedadam, not fedyogi"));

	/* A parameter file that is not a state; a fractional round count. */
	out_path(path, sizeof(path), "global");
	fedc_params_close(model_params("global", &global_values));
	assert_int_equal(aggregator__load_state(yogi, path), FEDC_ERR_MALFORMED);
	fedc_params_close(params_of("bad-round", bad, 1));
	out_path(path, sizeof(path), "bad-round");
	assert_int_equal(aggregator__load_state(yogi, path), FEDC_ERR_MALFORMED);
	bad[0].ndim = 1; /* shape [0]: no value at all */
	fedc_params_close(params_of("empty-round", bad, 1));
	out_path(path, sizeof(path), "empty-round");
	assert_int_equal(aggregator__load_state(yogi, path), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "not a scalar round count"));
	bad[0].ndim = 0;
	/* Vectors that do not pair up, and a NaN moment. */
	{
		struct fedc_tensor t[3] = { bad[0], { "m.w", FEDC_DTYPE_F32, 1, { 2 }, nan_w },
					    { "v.w", FEDC_DTYPE_F32, 1, { 2 }, nan_w } };
		const float one = 1.0f;

		t[0].data = &one;
		fedc_params_close(params_of("yogi-odd", t, 2));
		out_path(path, sizeof(path), "yogi-odd");
		assert_int_equal(aggregator__load_state(yogi, path), FEDC_ERR_MALFORMED);
		fedc_params_close(params_of("yogi-nan", t, 3));
		out_path(path, sizeof(path), "yogi-nan");
		assert_int_equal(aggregator__load_state(yogi, path), FEDC_ERR_MALFORMED);
		assert_non_null(strstr(fedc_last_error(), "not finite"));
	}
	assert_int_equal(aggregator__rounds(yogi), 0); /* nothing of them was taken */

	/* A state over "w" [2] does not fit the three-tensor model. */
	assert_int_equal(aggregator__new("fedadam", NULL, &adam), FEDC_OK);
	assert_int_equal(aggregator__load_state(adam, adam_state), FEDC_OK);
	global = model_params("global", &global_values);
	assert_int_equal(aggregator__begin(adam, global, 3), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "aggregator state"));
	fedc_params_close(global);
	aggregator__free(adam);
	aggregator__free(yogi);
}

/* ------------------------------------------------------------------ */
/* Options                                                            */

static void expect_bad_option(const char *method, size_t offset, double value, const char *key)
{
	struct aggregator_options o;
	struct aggregator *agg = (struct aggregator *)1;

	aggregator__default_options(method, &o);
	memcpy((char *)&o + offset, &value, sizeof(value));
	assert_int_equal(aggregator__new(method, &o, &agg), FEDC_ERR_CONFIG);
	assert_null(agg);
	assert_non_null(strstr(fedc_last_error(), key));
}

#define OPT(field) offsetof(struct aggregator_options, field)

static void test_bad_options(void **state)
{
	struct aggregator_options o;
	struct aggregator *agg = NULL;

	expect_bad_option("fedadam", OPT(beta1), 1.0, "beta1");
	expect_bad_option("fedadam", OPT(beta2), -0.1, "beta2");
	expect_bad_option("fedyogi", OPT(tau), 0.0, "tau");
	expect_bad_option("fedadagrad", OPT(server_lr), 0.0, "server_lr");
	expect_bad_option("scaffold", OPT(server_lr), NAN, "server_lr");
	expect_bad_option("trimmed_mean", OPT(beta), 0.5, "beta");
	expect_bad_option("fedprox", OPT(mu), -1.0, "mu");
	expect_bad_option("fedavg", OPT(max_weight), 0.0, "max_weight");
	expect_bad_option("krum", OPT(f), 0.5, "f");
	expect_bad_option("multikrum", OPT(m), -1.0, "m");
	expect_bad_option("normbounded", OPT(clip_norm), 0.0, "clip_norm");
	/* An option a method does not take is not its concern. */
	aggregator__default_options("fedavg", &o);
	o.beta1 = 7;
	assert_int_equal(aggregator__new("fedavg", &o, &agg), FEDC_OK);
	aggregator__free(agg);
}

/* ------------------------------------------------------------------ */
/* The [aggregator] section of the experiment file                     */

static enum fedc_err load_experiment(const char *training, const char *aggregator, struct experiment *exp)
{
	char path[256];
	FILE *f;

	out_path(path, sizeof(path), "exp.ini");
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[experiment]\ntags = t\nplan = plan.so\nrounds = 2\n[training]\n%s\n[aggregator]\n%s\n", training,
		aggregator);
	fclose(f);
	experiment__free(exp); /* what an earlier load of this test kept */
	return experiment__load(path, NULL, exp);
}

static void expect_config_error(const char *training, const char *aggregator, const char *detail)
{
	struct experiment *exp = calloc(1, sizeof(*exp));

	assert_non_null(exp);
	assert_int_equal(load_experiment(training, aggregator, exp), FEDC_ERR_CONFIG);
	if (!strstr(fedc_last_error(), detail))
		fail_msg("\"%s\" not in \"%s\"", detail, fedc_last_error());
	experiment__free(exp);
	free(exp);
}

static void test_experiment_aggregator_section(void **state)
{
	struct experiment *exp = calloc(1, sizeof(*exp));

	assert_non_null(exp);
	assert_int_equal(load_experiment("", "", exp), FEDC_OK);
	assert_string_equal(exp->aggregator, "fedavg");
	assert_int_equal(load_experiment("", "name = median", exp), FEDC_OK); /* the older key */
	assert_string_equal(exp->aggregator, "median");
	assert_int_equal(load_experiment("", "method = fedyogi\nserver_lr = 0.3\ntau = 1e-4", exp), FEDC_OK);
	assert_string_equal(exp->aggregator, "fedyogi");
	assert_true(exp->aggregator_options.server_lr == 0.3 && exp->aggregator_options.tau == 1e-4);
	assert_true(exp->aggregator_options.beta1 == 0.9 && exp->aggregator_options.beta2 == 0.99);
	assert_int_equal(load_experiment("", "method = trimmed_mean\nbeta = 0.25", exp), FEDC_OK);
	assert_true(exp->aggregator_options.beta == 0.25);
	assert_int_equal(load_experiment("", "method = scaffold", exp), FEDC_OK);
	assert_true(exp->aggregator_options.server_lr == 1.0);
	experiment__free(exp);
	free(exp);
}

/* FedProx's mu is what the nodes get as fedprox_mu. */
static void test_experiment_fedprox_mu(void **state)
{
	struct experiment *exp = calloc(1, sizeof(*exp));

	assert_non_null(exp);
	assert_int_equal(load_experiment("", "method = fedprox\nmu = 0.1", exp), FEDC_OK);
	assert_true(exp->fedprox_mu == 0.1 && exp->aggregator_options.mu == 0.1);
	assert_int_equal(load_experiment("", "method = fedprox", exp), FEDC_OK);
	assert_true(exp->fedprox_mu == 0.01); /* the default */
	assert_int_equal(load_experiment("fedprox_mu = 0.3", "method = fedprox", exp), FEDC_OK);
	assert_true(exp->fedprox_mu == 0.3 && exp->aggregator_options.mu == 0.3);
	assert_int_equal(load_experiment("fedprox_mu = 0.3", "method = fedavg", exp), FEDC_OK);
	assert_true(exp->fedprox_mu == 0.3); /* a proximal term with FedAvg, as before */
	experiment__free(exp);
	free(exp);
}

static void test_experiment_bad_aggregator(void **state)
{
	expect_config_error("", "method = fedmedian", "[aggregator] method: unknown method \"fedmedian\"");
	expect_config_error("", "method = fedadam\nbetta1 = 0.5", "exp.ini:9: [aggregator] betta1: unknown key");
	expect_config_error("", "method = fedadam\nbeta1 = 2", "exp.ini:9: [aggregator] beta1: expected a number");
	expect_config_error("", "method = fedadam\nbeta1 = 1", "[aggregator] beta1: expected a number in [0, 1)");
	expect_config_error("", "method = fedadam\ntau = 0", "[aggregator] tau");
	expect_config_error("", "method = fedadam\nserver_lr = fast", "[aggregator] server_lr");
	expect_config_error("", "method = fedadagrad\nbeta2 = 0.9", "[aggregator] beta2: not an option of method fedadagrad");
	expect_config_error("", "method = fedavg\nbeta = 0.1", "[aggregator] beta: not an option of method fedavg");
	expect_config_error("", "method = median\nbeta = 0.1", "[aggregator] beta: not an option");
	expect_config_error("", "method = trimmed_mean\nbeta = 0.5", "[aggregator] beta");
	expect_config_error("", "method = fedavg\nmu = 0.1", "[aggregator] mu: not an option");
	expect_config_error("", "method = fedprox\nmu = -1", "[aggregator] mu");
	expect_config_error("fedprox_mu = 0.1", "method = fedprox\nmu = 0.1", "[aggregator] mu: [training] fedprox_mu");
	expect_config_error("", "name = fedavg\nmethod = fedavg", "[aggregator] name");
}

/* ------------------------------------------------------------------ */
/* Rogue sample counts: the claim check and max_weight                 */

static void expect_claim_refused(uint64_t claimed, uint64_t registered, const char *detail)
{
	assert_int_equal(aggregator__check_claim(claimed, registered), FEDC_ERR_INVAL);
	if (!strstr(fedc_last_error(), detail))
		fail_msg("\"%s\" not in \"%s\"", detail, fedc_last_error());
}

static void test_claim_checked_against_search(void **state)
{
	(void)state;
	/* The rogue node: 18446744073709551000 samples from 455 rows. */
	expect_claim_refused(18446744073709551000ull, 455,
			     "claims 18446744073709551000 training samples, more than the 455 rows");
	expect_claim_refused(456, 455, "more than the 455 rows");
	expect_claim_refused(0, 455, "claims 0 training samples");
	expect_claim_refused(1, 0, "more than the 0 rows");
	assert_int_equal(aggregator__check_claim(455, 455), FEDC_OK);
	assert_int_equal(aggregator__check_claim(1, 455), FEDC_OK);
}

static void assert_weights(const uint64_t *w, size_t n, double cap, const double *want)
{
	double got[8];

	aggregator__cap_weights(w, n, cap, got);
	for (size_t i = 0; i < n; i++) {
		if (fabs(got[i] - want[i]) > 1e-9 * want[i])
			fail_msg("weight %zu: %.17g, expected %.17g", i, got[i], want[i]);
	}
}

static void test_cap_weights(void **state)
{
	const uint64_t rogue[5] = { 1, 1, 18446744073709551000ull, 1, 1 };
	const uint64_t w3[3] = { 60, 10, 30 };
	/* One node capped: with R = 4 the others' sum, T = 0.5 * 4 / (1 - 0.5) = 4,
	 * so it holds 4 / 8 = 0.5 of the total. */
	const double rogue_half[5] = { 1, 1, 4, 1, 1 };
	/* 0.4 of {60, 10, 30}: T0 = 0.4 * 100 = 40 caps 60; T1 = 0.4 * 40 / 0.6 =
	 * 26.7 caps 30; T2 = 0.4 * 10 / (1 - 0.8) = 20 caps no more: {20, 10, 20},
	 * shares 0.4, 0.2, 0.4. */
	const double w3_cap[3] = { 20, 10, 20 };
	const double w3_same[3] = { 60, 10, 30 };
	const double w3_equal[3] = { 1, 1, 1 };

	(void)state;
	assert_weights(rogue, 5, 0.5, rogue_half);
	assert_weights(w3, 3, 0.4, w3_cap);
	assert_weights(w3, 3, 1.0, w3_same); /* the default: no cap */
	assert_weights(w3, 3, 0.6, w3_same); /* 60 is 0.6 of 100: within the cap */
	/* 0.3 x 3 nodes < 1: no level fits, equal weights are the closest. */
	assert_weights(w3, 3, 0.3, w3_equal);
}

/* One round of `method` with options `o` from the global "w" (g0, g1) over
 * the updates u[0..n-1], added in that order; the result's "w" to out. */
struct tiny_update {
	const char *node;
	float w0, w1;
	uint64_t n_samples;
};

static void run_tiny(const char *method, const struct aggregator_options *o, float g0, float g1,
		     const struct tiny_update *u, size_t n, float out[2])
{
	const float g[2] = { g0, g1 };
	struct aggregator *agg = NULL;
	struct fedc_params *global = tiny_params("tiny-global", g);

	assert_int_equal(aggregator__new(method, o, &agg), FEDC_OK);
	assert_int_equal(aggregator__begin(agg, global, (uint32_t)n), FEDC_OK);
	fedc_params_close(global);
	for (size_t i = 0; i < n; i++)
		add_tiny(agg, u[i].node, u[i].w0, u[i].w1, u[i].n_samples);
	finish_to(agg, "tiny-out.params");
	read_tensor("tiny-out.params", "w", out, 2);
	aggregator__free(agg);
}

/* FedAvg with max_weight 0.5: a node claiming 10^19 samples for (3, 3)
 * against two of 1 sample with (1, 1) gets weight 2 (above): (1 + 1 + 2 * 3)
 * / 4 = 2. Uncapped, its (3, 3) would be the model. */
static void test_fedavg_max_weight(void **state)
{
	static const struct tiny_update u[3] = {
		{ "rogue", 3, 3, 10000000000000000000ull }, { "a", 1, 1, 1 }, { "b", 1, 1, 1 }
	};
	struct aggregator_options o;
	float out[2];

	(void)state;
	aggregator__default_options("fedavg", &o);
	o.max_weight = 0.5;
	run_tiny("fedavg", &o, 0, 0, u, 3, out);
	assert_true(out[0] == 2.0f && out[1] == 2.0f);
}

static void test_experiment_max_weight(void **state)
{
	struct experiment *exp = calloc(1, sizeof(*exp));

	(void)state;
	assert_non_null(exp);
	assert_int_equal(load_experiment("", "", exp), FEDC_OK);
	assert_true(exp->aggregator_options.max_weight == 1.0);
	assert_int_equal(load_experiment("", "method = fedavg\nmax_weight = 0.5", exp), FEDC_OK);
	assert_true(exp->aggregator_options.max_weight == 0.5);
	assert_int_equal(load_experiment("", "method = fedadam\nmax_weight = 0.25", exp), FEDC_OK);
	assert_true(exp->aggregator_options.max_weight == 0.25);
	experiment__free(exp);
	free(exp);
	expect_config_error("", "method = fedavg\nmax_weight = 0", "[aggregator] max_weight: expected a number in (0, 1]");
	expect_config_error("", "method = fedavg\nmax_weight = 1.5", "[aggregator] max_weight");
	expect_config_error("", "method = median\nmax_weight = 0.5", "[aggregator] max_weight: not an option of method median");
}

/* ------------------------------------------------------------------ */
/* Krum, multi-Krum, norm-bounded FedAvg                               */

/* Five nodes on "w" [2]: a (0, 0), b (1, 0), c (0, 3), d (2, 2) and the
 * outlier e (10, 10), which claims 10^6 samples (ignored by Krum). */
static void run_five(const char *method, const struct aggregator_options *o, float out[2])
{
	/* arrival in reverse node-id order */
	static const struct tiny_update u[5] = {
		{ "e", 10, 10, 1000000 }, { "d", 2, 2, 1 }, { "c", 0, 3, 1 }, { "b", 1, 0, 1 }, { "a", 0, 0, 1 }
	};

	run_tiny(method, o, 1, 1, u, 5, out);
}

static void test_krum_and_multikrum(void **state)
{
	struct aggregator_options o;
	float out[2];

	(void)state;
	/* f = 1: each scored on its n - f - 2 = 2 closest. Squared distances:
	 * a {1 b, 8 d, 9 c, 200 e} 9; b {1 a, 5 d, 10 c, 181 e} 6;
	 * c {5 d, 9 a, 10 b, 149 e} 14; d {5 b, 5 c, 8 a, 128 e} 10;
	 * e {128, 149, 181, 200} 277. Krum: b. */
	aggregator__default_options("krum", &o);
	run_five("krum", &o, out);
	assert_true(out[0] == 1.0f && out[1] == 0.0f);
	/* multi-Krum, m = 0: the n - f = 4 best, b a d c, averaged: (3/4, 5/4). */
	aggregator__default_options("multikrum", &o);
	run_five("multikrum", &o, out);
	assert_true(out[0] == 0.75f && out[1] == 1.25f);
	/* m = 2: b and a: (0.5, 0). */
	o.m = 2;
	run_five("multikrum", &o, out);
	assert_true(out[0] == 0.5f && out[1] == 0.0f);
	/* f = 2: n - f - 2 = 1 closest: a 1, b 1, c 5, d 5, e 128; the tie
	 * between a and b goes to a (node-id order). */
	aggregator__default_options("krum", &o);
	o.f = 2;
	run_five("krum", &o, out);
	assert_true(out[0] == 0.0f && out[1] == 0.0f);
}

/* Global (1, 1); changes a (3, 4) norm 5, b (0, 1) norm 1, c (30, 40) norm 50
 * with 2 samples. clip_norm 5 leaves a and b, makes c's (3, 4): weighted
 * mean (3 + 0 + 2 * 3, 4 + 1 + 2 * 4) / 4 = (2.25, 3.25), plus the global:
 * (3.25, 4.25). */
static void test_normbounded_clips_changes(void **state)
{
	static const struct tiny_update u[3] = { { "c", 31, 41, 2 }, { "a", 4, 5, 1 }, { "b", 1, 2, 1 } };
	struct aggregator_options o;
	float out[2];

	(void)state;
	aggregator__default_options("normbounded", &o);
	o.clip_norm = 5;
	run_tiny("normbounded", &o, 1, 1, u, 3, out);
	assert_true(out[0] == 3.25f && out[1] == 4.25f);
	/* Twice the bound: no change is clipped, plain FedAvg:
	 * (4 + 1 + 2 * 31, 5 + 2 + 2 * 41) / 4 = (16.75, 22.25). */
	o.clip_norm = 100;
	run_tiny("normbounded", &o, 1, 1, u, 3, out);
	assert_true(out[0] == 16.75f && out[1] == 22.25f);
}

static void test_experiment_krum_options(void **state)
{
	struct experiment *exp = calloc(1, sizeof(*exp));

	(void)state;
	assert_non_null(exp);
	assert_int_equal(load_experiment("", "method = multikrum\nf = 2\nm = 3", exp), FEDC_OK);
	assert_true(exp->aggregator_options.f == 2 && exp->aggregator_options.m == 3);
	assert_int_equal(load_experiment("", "method = normbounded\nclip_norm = 2.5\nmax_weight = 0.5", exp), FEDC_OK);
	assert_true(exp->aggregator_options.clip_norm == 2.5 && exp->aggregator_options.max_weight == 0.5);
	experiment__free(exp);
	free(exp);
	expect_config_error("", "method = krum\nm = 2", "[aggregator] m: not an option of method krum");
	expect_config_error("", "method = multikrum\nf = 1.5", "[aggregator] f: expected a whole number");
	expect_config_error("", "method = normbounded\nclip_norm = 0", "[aggregator] clip_norm");
	expect_config_error("", "method = krum\nmax_weight = 0.5", "[aggregator] max_weight: not an option");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fedavg_weighted_average),
		cmocka_unit_test(test_fedavg_single_update_is_identity),
		cmocka_unit_test(test_fedavg_bit_identical),
		cmocka_unit_test(test_fedavg_layout_mismatch_rejected),
		cmocka_unit_test(test_fedavg_nan_rejected),
		cmocka_unit_test(test_check_then_add_checked),
		cmocka_unit_test(test_fedavg_large_model_matches_plain_loop),
		cmocka_unit_test(test_fedadam_large_model_matches_plain_loop),
		cmocka_unit_test(test_scaffold_large_model_matches_plain_loop),
		cmocka_unit_test(test_finish_again_to_another_file),
		cmocka_unit_test(test_nan_in_a_later_block_named),
		cmocka_unit_test(test_fedavg_no_updates),
		cmocka_unit_test(test_fedavg_zero_samples_rejected),
		cmocka_unit_test(test_add_duplicate_node_and_too_many),
		cmocka_unit_test(test_unknown_aggregator),
		cmocka_unit_test(test_add_before_begin),
		cmocka_unit_test(test_begin_starts_afresh),
		cmocka_unit_test(test_finish_retry_after_io_error),
		cmocka_unit_test(test_fedprox_is_fedavg_on_server),
		cmocka_unit_test(test_fedadam_two_rounds),
		cmocka_unit_test(test_secure_sum_equals_updates),
		cmocka_unit_test(test_secure_sum_refusals),
		cmocka_unit_test(test_fedyogi_two_rounds),
		cmocka_unit_test(test_fedadagrad_two_rounds),
		cmocka_unit_test(test_scaffold_two_rounds),
		cmocka_unit_test(test_scaffold_takes_c_from_global),
		cmocka_unit_test(test_scaffold_convention_enforced),
		cmocka_unit_test(test_median_odd_even_outliers),
		cmocka_unit_test(test_trimmed_mean_odd_even_outliers),
		cmocka_unit_test(test_arrival_order_does_not_matter),
		cmocka_unit_test(test_scaffold_arrival_order_does_not_matter),
		cmocka_unit_test(test_state_resume_fedadam),
		cmocka_unit_test(test_state_resume_fedyogi),
		cmocka_unit_test(test_state_resume_fedadagrad),
		cmocka_unit_test(test_state_resume_scaffold),
		cmocka_unit_test(test_state_round_count_and_empty),
		cmocka_unit_test(test_state_load_rejects_wrong_files),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_experiment_aggregator_section),
		cmocka_unit_test(test_experiment_fedprox_mu),
		cmocka_unit_test(test_experiment_bad_aggregator),
		cmocka_unit_test(test_claim_checked_against_search),
		cmocka_unit_test(test_cap_weights),
		cmocka_unit_test(test_fedavg_max_weight),
		cmocka_unit_test(test_experiment_max_weight),
		cmocka_unit_test(test_krum_and_multikrum),
		cmocka_unit_test(test_normbounded_clips_changes),
		cmocka_unit_test(test_experiment_krum_options),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
