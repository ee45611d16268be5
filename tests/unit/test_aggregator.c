/* Aggregators: FedAvg against hand-computed averages, determinism, and the
 * updates it must refuse without accumulating anything. */
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

static struct aggregator *begun_fedavg(void)
{
	struct aggregator *agg = NULL;
	struct fedc_params *global = model_params("global", &global_values);

	assert_int_equal(aggregator__new("fedavg", &agg), FEDC_OK);
	assert_int_equal(aggregator__begin(agg, global), FEDC_OK);
	fedc_params_close(global); /* begin() keeps its own copy of the layout */
	return agg;
}

static void add_model(struct aggregator *agg, const struct model_values *v, uint64_t n)
{
	struct fedc_params *p = model_params("update", v);

	assert_int_equal(aggregator__add(agg, p, n), FEDC_OK);
	fedc_params_close(p);
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

/* Same inputs in the same canonical order: the same bytes. */
static void test_fedavg_bit_identical(void **state)
{
	char path_a[256], path_b[256];
	unsigned char *a, *b;
	size_t len_a, len_b;

	for (int run = 0; run < 2; run++) {
		struct aggregator *agg = begun_fedavg();

		add_model(agg, &u1, 1000003);
		add_model(agg, &u2, 7);
		add_model(agg, &u3, 123456789);
		out_path(run ? path_b : path_a, sizeof(path_a), run ? "b.params" : "a.params");
		assert_int_equal(aggregator__finish(agg, run ? path_b : path_a), FEDC_OK);
		aggregator__free(agg);
	}
	a = slurp(path_a, &len_a);
	b = slurp(path_b, &len_b);
	assert_int_equal(len_a, len_b);
	assert_memory_equal(a, b, len_a);
	free(a);
	free(b);
}

/* Every refused update leaves the sum as it was: the final average is the
 * one of the accepted updates alone. */
static void test_fedavg_layout_mismatch_rejected(void **state)
{
	struct aggregator *agg = begun_fedavg();
	struct fedc_tensor t[4], swapped[3];
	struct fedc_params *p;
	char path[256];
	float extra = 1.0f;

	add_model(agg, &u1, 1);
	model_tensors(&u2, t);

	t[0].shape[1] = 1; /* w [2, 1] */
	p = params_of("shape", t, 3);
	assert_int_equal(aggregator__add(agg, p, 5), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "\"w\""));
	fedc_params_close(p);
	t[0].shape[1] = 2;

	t[1].name = "bias";
	p = params_of("name", t, 3);
	assert_int_equal(aggregator__add(agg, p, 5), FEDC_ERR_MALFORMED);
	fedc_params_close(p);
	t[1].name = "b";

	p = params_of("fewer", t, 2);
	assert_int_equal(aggregator__add(agg, p, 5), FEDC_ERR_MALFORMED);
	fedc_params_close(p);

	t[3] = (struct fedc_tensor){ "d", FEDC_DTYPE_F32, 0, { 0 }, &extra };
	p = params_of("more", t, 4);
	assert_int_equal(aggregator__add(agg, p, 5), FEDC_ERR_MALFORMED);
	fedc_params_close(p);

	swapped[0] = t[1];
	swapped[1] = t[0];
	swapped[2] = t[2];
	p = params_of("order", swapped, 3);
	assert_int_equal(aggregator__add(agg, p, 5), FEDC_ERR_MALFORMED);
	fedc_params_close(p);

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
	struct fedc_params *p;
	char path[256];

	add_model(agg, &u1, 1);
	/* The bad value sits in the last tensor, after tensors that are fine:
	 * they must not have been accumulated either. */
	bad.c[0] = NAN;
	p = model_params("nan", &bad);
	assert_int_equal(aggregator__add(agg, p, 2), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "NaN"));
	fedc_params_close(p);
	bad.c[0] = u2.c[0];
	bad.w[3] = -INFINITY;
	p = model_params("inf", &bad);
	assert_int_equal(aggregator__add(agg, p, 2), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "infinity"));
	fedc_params_close(p);

	add_model(agg, &u2, 2);
	add_model(agg, &u3, 3);
	out_path(path, sizeof(path), "after-nan.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	assert_weighted_123(path);
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
	struct fedc_params *p = model_params("u1", &u1);

	assert_int_equal(aggregator__add(agg, p, 0), FEDC_ERR_INVAL);
	fedc_params_close(p);
	aggregator__free(agg);
}

static void test_unknown_aggregator(void **state)
{
	struct aggregator *agg = (struct aggregator *)1;

	assert_int_equal(aggregator__new("fedmedian", &agg), FEDC_ERR_CONFIG);
	assert_null(agg);
	assert_non_null(strstr(fedc_last_error(), "unknown aggregator"));
	assert_int_equal(aggregator__new("FedAvg ", &agg), FEDC_ERR_CONFIG);
	assert_int_equal(aggregator__new(NULL, &agg), FEDC_ERR_CONFIG);
}

static void test_add_before_begin(void **state)
{
	struct aggregator *agg = NULL;
	struct fedc_params *p = model_params("u1", &u1);
	char path[256];

	out_path(path, sizeof(path), "early.params");
	assert_int_equal(aggregator__new("fedavg", &agg), FEDC_OK);
	assert_int_equal(aggregator__add(agg, p, 1), FEDC_ERR_INVAL);
	assert_int_equal(aggregator__finish(agg, path), FEDC_ERR_INVAL);
	fedc_params_close(p);
	aggregator__free(agg);
}

/* begin() forgets the earlier round, even one with updates. */
static void test_begin_starts_afresh(void **state)
{
	struct aggregator *agg = begun_fedavg();
	struct fedc_params *global = model_params("global", &global_values);
	char path[256];

	add_model(agg, &u2, 50);
	assert_int_equal(aggregator__begin(agg, global), FEDC_OK);
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

/* A failed write can be retried; the round takes no update after finish. */
static void test_finish_retry_after_io_error(void **state)
{
	struct aggregator *agg = begun_fedavg();
	struct fedc_params *p = model_params("u1", &u1);
	char path[256];

	add_model(agg, &u1, 1);
	add_model(agg, &u2, 2);
	add_model(agg, &u3, 3);
	out_path(path, sizeof(path), "missing-dir/x.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_ERR_IO);
	assert_int_equal(aggregator__add(agg, p, 1), FEDC_ERR_INVAL);
	out_path(path, sizeof(path), "retry.params");
	assert_int_equal(aggregator__finish(agg, path), FEDC_OK);
	assert_weighted_123(path);
	fedc_params_close(p);
	aggregator__free(agg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fedavg_weighted_average),
		cmocka_unit_test(test_fedavg_single_update_is_identity),
		cmocka_unit_test(test_fedavg_bit_identical),
		cmocka_unit_test(test_fedavg_layout_mismatch_rejected),
		cmocka_unit_test(test_fedavg_nan_rejected),
		cmocka_unit_test(test_fedavg_no_updates),
		cmocka_unit_test(test_fedavg_zero_samples_rejected),
		cmocka_unit_test(test_unknown_aggregator),
		cmocka_unit_test(test_add_before_begin),
		cmocka_unit_test(test_begin_starts_afresh),
		cmocka_unit_test(test_finish_retry_after_io_error),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
