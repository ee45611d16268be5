/* Plan SDK: the seeded PRNG and shuffle, mini-batches over a data view,
 * matrices, parameter exchange through the ABI, arguments and metrics. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/nn.h"

static void iota(uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (uint32_t)i;
}

static void test_rng_seeded(void **state)
{
	struct fedc_rng a, b, c;

	fedc_rng_seed(&a, 42), fedc_rng_seed(&b, 42), fedc_rng_seed(&c, 43);
	for (int i = 0; i < 100; i++) {
		uint64_t x = fedc_rng_next(&a);

		assert_true(x == fedc_rng_next(&b));
		assert_true(x != fedc_rng_next(&c));
	}
	/* The stream is fixed forever: plans on other machines must agree. */
	fedc_rng_seed(&a, 0);
	assert_true(fedc_rng_next(&a) == UINT64_C(0x99ec5f36cb75f2b4));
	for (int i = 0; i < 1000; i++) {
		double u = fedc_rng_uniform(&a);

		assert_true(u >= 0.0 && u < 1.0);
		assert_true(fedc_rng_below(&a, 7) < 7);
	}
}

static void test_shuffle_is_seeded_permutation(void **state)
{
	enum { N = 1000 };
	uint32_t *a = malloc(N * sizeof(*a)), *b = malloc(N * sizeof(*b)), *c = malloc(N * sizeof(*c));
	bool seen[N] = { false };
	struct fedc_rng ra, rb, rc;
	size_t moved = 0;

	iota(a, N), iota(b, N), iota(c, N);
	fedc_rng_seed(&ra, 9), fedc_rng_seed(&rb, 9), fedc_rng_seed(&rc, 10);
	fedc_rng_shuffle(&ra, a, N), fedc_rng_shuffle(&rb, b, N), fedc_rng_shuffle(&rc, c, N);
	assert_memory_equal(a, b, N * sizeof(*a));
	assert_memory_not_equal(a, c, N * sizeof(*a));
	for (size_t i = 0; i < N; i++) {
		assert_true(a[i] < N);
		assert_false(seen[a[i]]);
		seen[a[i]] = true;
		moved += a[i] != i;
	}
	assert_true(moved > N / 2);
	free(a), free(b), free(c);
}

/* 10 rows, x = row index, y = 100 + row index. */
static void toy_data(struct fedc_data *d, float *x, float *y)
{
	for (size_t i = 0; i < 10; i++) {
		x[2 * i] = (float)i, x[2 * i + 1] = -(float)i;
		y[i] = 100.0f + (float)i;
	}
	*d = (struct fedc_data){ .n_samples = 10, .n_features = 2, .x = x, .y = y, .n_classes = 0 };
}

/* Each pass covers every row once, in a new seeded order; rows and targets
 * stay paired; the last batch is short. */
static void test_batcher_passes(void **state)
{
	float x[20], y[10];
	struct fedc_data d;
	struct fedc_batcher b, b2;
	uint32_t order[2][10];

	toy_data(&d, x, y);
	assert_int_equal(fedc_batcher_init(&b, &d, 4, true, 5), 0);
	assert_int_equal(fedc_batcher_init(&b2, &d, 4, true, 5), 0);
	for (int pass = 0; pass < 2; pass++) {
		bool seen[10] = { false }, end = false;
		size_t got = 0, sizes[3];

		for (int k = 0; k < 3; k++) {
			struct fedc_mat bx, bx2;
			const float *by, *by2;

			sizes[k] = fedc_batcher_next(&b, &bx, &by, &end);
			assert_int_equal(fedc_batcher_next(&b2, &bx2, &by2, NULL), sizes[k]);
			assert_memory_equal(bx.data, bx2.data, sizes[k] * 2 * sizeof(float));
			for (size_t r = 0; r < sizes[k]; r++) {
				size_t row = (size_t)bx.data[2 * r];

				assert_float_equal(bx.data[2 * r + 1], -(float)row, 0);
				assert_float_equal(by[r], 100.0f + (float)row, 0);
				assert_false(seen[row]);
				seen[row] = true;
				order[pass][got++] = (uint32_t)row;
			}
			assert_int_equal(end, k == 2);
		}
		assert_int_equal(got, 10);
		assert_int_equal(sizes[2], 2);
		assert_int_equal(b.epoch, pass + 1);
	}
	assert_memory_not_equal(order[0], order[1], sizeof(order[0]));
	fedc_batcher_release(&b), fedc_batcher_release(&b2);
}

/* Unshuffled batches are views of consecutive rows. */
static void test_batcher_sequential_views(void **state)
{
	float x[20], y[10];
	struct fedc_data d;
	struct fedc_batcher b;
	struct fedc_mat bx;
	const float *by;

	toy_data(&d, x, y);
	assert_int_equal(fedc_batcher_init(&b, &d, 6, false, 0), 0);
	assert_int_equal(fedc_batcher_next(&b, &bx, &by, NULL), 6);
	assert_ptr_equal(bx.data, x);
	assert_int_equal(fedc_batcher_next(&b, &bx, &by, NULL), 4);
	assert_ptr_equal(bx.data, x + 12);
	assert_ptr_equal(by, y + 6);
	fedc_batcher_release(&b);
	assert_int_equal(fedc_batcher_init(&b, &d, 0, true, 0), FEDC_NN_ERR_INVAL);
	d.n_samples = 0;
	assert_int_equal(fedc_batcher_init(&b, &d, 4, true, 0), FEDC_NN_ERR_INVAL);
}

static void test_mat_aligned_and_gemm(void **state)
{
	struct fedc_mat a, b, c;

	assert_int_equal(fedc_mat_init(&a, 2, 3), 0);
	assert_int_equal(fedc_mat_init(&b, 3, 2), 0);
	assert_int_equal(fedc_mat_init(&c, 2, 2), 0);
	assert_int_equal((uintptr_t)a.data % FEDC_MAT_ALIGN, 0);
	for (int i = 0; i < 6; i++)
		a.data[i] = (float)(i + 1), b.data[i] = (float)(i + 1);
	/* [1 2 3; 4 5 6] [1 2; 3 4; 5 6] = [22 28; 49 64] */
	assert_int_equal(fedc_mat_gemm(1, &a, false, &b, false, 0, &c), 0);
	assert_float_equal(c.data[0], 22, 0), assert_float_equal(c.data[3], 64, 0);
	/* a a^T = [14 32; 32 77] */
	assert_int_equal(fedc_mat_gemm(1, &a, false, &a, true, 0, &c), 0);
	assert_float_equal(c.data[1], 32, 0), assert_float_equal(c.data[3], 77, 0);
	assert_int_equal(fedc_mat_gemm(1, &a, false, &a, false, 0, &c), FEDC_NN_ERR_SHAPE);
	fedc_mat_release(&c);
	assert_int_equal(fedc_mat_init(&c, 0, 2), FEDC_NN_ERR_INVAL);
	assert_int_equal(fedc_mat_init(&c, SIZE_MAX / 2, 4), FEDC_NN_ERR_INVAL);
	fedc_mat_release(&a), fedc_mat_release(&b), fedc_mat_release(&c);
}

static void two_tensors(struct fedc_paramset *p)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(fedc_paramset_add(p, "dense0.weight", 2, 3, 2, true, NULL), 0);
	assert_int_equal(fedc_paramset_add(p, "dense0.bias", 1, 2, 1, true, NULL), 0);
}

static void test_paramset_abi_round_trip(void **state)
{
	struct fedc_paramset p, q;
	const struct fedc_tensor *t;
	size_t n;
	struct fedc_tensor swapped[2];

	two_tensors(&p), two_tensors(&q);
	for (int i = 0; i < 6; i++)
		p.items[0].value.data[i] = (float)i;
	p.items[1].value.data[1] = 7.0f;
	assert_int_equal(fedc_paramset_get(&p, &t, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(t[0].name, "dense0.weight");
	assert_int_equal(t[0].ndim, 2);
	assert_int_equal(t[0].shape[0], 2), assert_int_equal(t[0].shape[1], 3);
	assert_int_equal(t[1].ndim, 1), assert_int_equal(t[1].shape[0], 2);
	assert_int_equal(t[1].dtype, FEDC_DTYPE_F32);
	swapped[0] = t[1], swapped[1] = t[0]; /* any order */
	assert_int_equal(fedc_paramset_set(&q, swapped, 2), 0);
	assert_memory_equal(q.items[0].value.data, p.items[0].value.data, 6 * sizeof(float));
	assert_float_equal(q.items[1].value.data[1], 7.0f, 0);
	fedc_paramset_release(&p), fedc_paramset_release(&q);
}

/* A mismatch copies nothing. */
static void test_paramset_set_rejects_bad_layout(void **state)
{
	struct fedc_paramset p;
	const struct fedc_tensor *t;
	struct fedc_tensor bad[2];
	size_t n;
	float junk[6] = { 9, 9, 9, 9, 9, 9 };

	two_tensors(&p);
	assert_int_equal(fedc_paramset_get(&p, &t, &n), 0);
	memcpy(bad, t, sizeof(bad));
	bad[0].data = junk;
	bad[1].shape[0] = 3;
	assert_int_equal(fedc_paramset_set(&p, bad, 2), FEDC_NN_ERR_SHAPE);
	assert_float_equal(p.items[0].value.data[0], 0, 0);
	memcpy(bad, t, sizeof(bad));
	bad[1].name = "dense0.weight"; /* twice */
	assert_int_equal(fedc_paramset_set(&p, bad, 2), FEDC_NN_ERR_SHAPE);
	bad[1].name = "dense9.bias";
	assert_int_equal(fedc_paramset_set(&p, bad, 2), FEDC_NN_ERR_INVAL);
	memcpy(bad, t, sizeof(bad));
	bad[0].dtype = 7;
	assert_int_equal(fedc_paramset_set(&p, bad, 2), FEDC_NN_ERR_SHAPE);
	assert_int_equal(fedc_paramset_set(&p, t, 1), FEDC_NN_ERR_SHAPE);
	assert_int_equal(fedc_paramset_add(&p, "dense0.bias", 1, 2, 1, true, NULL), FEDC_NN_ERR_INVAL);
	assert_int_equal(fedc_paramset_add(&p, "v", 2, 2, 1, true, NULL), FEDC_NN_ERR_INVAL);
	fedc_paramset_release(&p);
}

static void test_args_and_metrics(void **state)
{
	const struct fedc_arg items[] = { { "hidden", 64 }, { "lr_scale", 0.5 }, { "frac", 2.5 } };
	const struct fedc_arg twice[] = { { "hidden", 64 }, { "hidden", 32 } };
	const struct fedc_args args = { items, 3 }, dup = { twice, 2 };
	const char *const known[] = { "hidden", "lr_scale", NULL };
	struct fedc_metrics m = { 0 };
	uint32_t u = 1;
	double d = 0;

	assert_int_equal(fedc_arg_uint(&args, "hidden", 1, 1000, &u), 1);
	assert_int_equal(u, 64);
	assert_int_equal(fedc_arg_uint(&args, "absent", 1, 1000, &u), 0);
	assert_int_equal(u, 64);
	assert_int_equal(fedc_arg_uint(&args, "frac", 0, 10, &u), FEDC_NN_ERR_INVAL);
	assert_int_equal(fedc_arg_uint(&args, "hidden", 100, 1000, &u), FEDC_NN_ERR_INVAL);
	assert_int_equal(fedc_arg_double(&args, "lr_scale", 0, 1, &d), 1);
	assert_float_equal(d, 0.5, 0);
	assert_int_equal(fedc_arg_uint(&dup, "hidden", 1, 1000, &u), FEDC_NN_ERR_INVAL);
	assert_int_equal(fedc_args_check(&args, known), FEDC_NN_ERR_INVAL); /* "frac" unknown */
	assert_int_equal(fedc_args_check(&dup, known), 0);
	fedc_metrics_put(&m, "loss", 1.5);
	fedc_metrics_put(&m, "accuracy", 0.5);
	fedc_metrics_put(&m, "loss", 0.25);
	assert_int_equal(m.count, 2);
	assert_float_equal(fedc_metrics_get(&m, "loss"), 0.25, 0);
	assert_true(isnan(fedc_metrics_get(&m, "auc")));
	assert_string_equal(fedc_nn_strerror(FEDC_NN_ERR_SHAPE), "shape mismatch");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_seeded),
		cmocka_unit_test(test_shuffle_is_seeded_permutation),
		cmocka_unit_test(test_batcher_passes),
		cmocka_unit_test(test_batcher_sequential_views),
		cmocka_unit_test(test_mat_aligned_and_gemm),
		cmocka_unit_test(test_paramset_abi_round_trip),
		cmocka_unit_test(test_paramset_set_rejects_bad_layout),
		cmocka_unit_test(test_args_and_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
