/* Buffers and local tensors (aggregator_roles.c): for every method, a BUFFER
 * or LOCAL tensor ends at the nodes' sample-weighted mean, bit for bit,
 * round after round, while the weights come out exactly as the method gives
 * them on a model of the weights alone; moments and control variates over
 * buffers never move; secure sums give the same means; bad roles are
 * refused. */
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
#include "fedc/plan.h"

static char tmp_dir[] = "/tmp/fedc-test-aggregator-roles-XXXXXX";

static const char *const all_methods[] = { "fedavg", "fedprox", "fedadam", "fedyogi", "fedadagrad", "scaffold",
					   "median", "trimmed_mean", "krum", "multikrum", "normbounded" };
#define N_METHODS (sizeof(all_methods) / sizeof(all_methods[0]))

/* The model: "w" [2] a weight, "mean" [2] a buffer, "bn" [1] local. */
static const uint8_t roles[3] = { FEDC_PARAM_WEIGHT, FEDC_PARAM_BUFFER, FEDC_PARAM_LOCAL };

struct node_values {
	const char *id;
	float w[2], mean[2], bn[1], dc[2];
	uint64_t n;
};

/* Five nodes, in reverse node-id order (the order they arrive); e is far
 * from the others in every tensor, with most of the samples. */
static const struct node_values nodes[5] = {
	{ "e", { 10, 10 }, { 100, -50 }, { 7 }, { 1, -1 }, 5 },
	{ "d", { 2, 2 }, { 4, 0 }, { 3.5f }, { 0.5f, 0 }, 1 },
	{ "c", { 0, 3 }, { 2, 2 }, { 2.5f }, { 0, 2 }, 3 },
	{ "b", { 1, 0 }, { 3, 1 }, { 1.5f }, { -1, 1 }, 2 },
	{ "a", { 0, 0 }, { 1, 2 }, { 0.5f }, { 2, 0.25f }, 1 },
};

/* Round r (1, 2) moves every value by (r - 1) / 4. */
static float at_round(float v, int round)
{
	return v + 0.25f * (float)(round - 1);
}

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmp_dir, name);
}

static void finish_to(struct aggregator *agg, const char *name)
{
	char path[256];

	path_of(path, sizeof(path), name);
	if (aggregator__finish(agg, path) != FEDC_OK)
		fail_msg("finish %s: %s", name, fedc_last_error());
}

static struct fedc_params *open_file(const char *name)
{
	struct fedc_params *p = NULL;
	char path[256];

	path_of(path, sizeof(path), name);
	if (fedc_params_open(path, &p) != FEDC_OK)
		fail_msg("%s: %s", path, fedc_last_error());
	return p;
}

static void write_file(const char *name, const struct fedc_tensor *t, size_t n)
{
	char path[256];

	path_of(path, sizeof(path), name);
	if (fedc_params_write_file(path, t, n) != FEDC_OK)
		fail_msg("%s: %s", path, fedc_last_error());
}

/* A node's update: the model tensors (all, or "w" alone when !full), then
 * SCAFFOLD's "scaffold.dc." ones when `scaffold`. */
static struct fedc_params *node_update(const struct node_values *v, int round, bool full, bool scaffold)
{
	float w[2] = { at_round(v->w[0], round), at_round(v->w[1], round) };
	float mean[2] = { at_round(v->mean[0], round), at_round(v->mean[1], round) };
	float bn[1] = { at_round(v->bn[0], round) };
	struct fedc_tensor t[6];
	size_t n = 0, model;
	char name[64];

	t[n++] = (struct fedc_tensor){ "w", FEDC_DTYPE_F32, 1, { 2 }, w };
	if (full) {
		t[n++] = (struct fedc_tensor){ "mean", FEDC_DTYPE_F32, 1, { 2 }, mean };
		t[n++] = (struct fedc_tensor){ "bn", FEDC_DTYPE_F32, 1, { 1 }, bn };
	}
	model = n;
	for (size_t i = 0; scaffold && i < model; i++) {
		static const char *const dc_names[3] = { "scaffold.dc.w", "scaffold.dc.mean", "scaffold.dc.bn" };

		t[n] = t[i];
		t[n].name = dc_names[i];
		t[n].data = i == 0 ? v->dc : i == 1 ? v->dc : v->dc + 1;
		n++;
	}
	snprintf(name, sizeof(name), "update-%s-%d-%d", v->id, round, full);
	write_file(name, t, n);
	return open_file(name);
}

/* The first global parameters: w (0.5, -0.5), buffers 0 (SCAFFOLD: no c yet). */
static void write_first_global(const char *name, bool full)
{
	float w[2] = { 0.5f, -0.5f }, zeros[2] = { 0, 0 };
	struct fedc_tensor t[3] = {
		{ "w", FEDC_DTYPE_F32, 1, { 2 }, w },
		{ "mean", FEDC_DTYPE_F32, 1, { 2 }, zeros },
		{ "bn", FEDC_DTYPE_F32, 1, { 1 }, zeros },
	};

	write_file(name, t, full ? 3 : 1);
}

/* Tensor `tensor` of file `name` into out[0..n-1]. */
static void read_tensor(const char *name, const char *tensor, float *out, size_t n)
{
	struct fedc_params *p = open_file(name);
	const struct fedc_tensor *t = fedc_params_tensors(p);
	bool found = false;

	for (size_t i = 0; i < fedc_params_count(p); i++) {
		if (strcmp(t[i].name, tensor) == 0) {
			assert_int_equal(fedc_tensor_elements(&t[i]), n);
			memcpy(out, t[i].data, n * sizeof(float));
			found = true;
		}
	}
	assert_true(found);
	fedc_params_close(p);
}

/* The sample-weighted mean of one buffer value over the nodes, as FedAvg
 * computes it: shares summed in double in node-id order (a .. e), one
 * division, one rounding. */
static float weighted_mean(size_t tensor, size_t j, int round)
{
	double sum = 0, total = 0;

	for (size_t k = 5; k-- > 0;) { /* nodes[] is in reverse node-id order */
		const float *x = tensor == 1 ? nodes[k].mean : nodes[k].bn;

		sum += (double)nodes[k].n * (double)at_round(x[j], round);
		total += (double)nodes[k].n;
	}
	return (float)(sum / total);
}

static void options_for(const char *method, struct aggregator_options *o)
{
	aggregator__default_options(method, o);
	o->clip_norm = 2; /* normbounded clips some changes */
}

/* Two rounds of `method` on the full model (with roles) or on "w" alone;
 * the globals go to "<tag>-x1" and "<tag>-x2". */
static void run_two_rounds(const char *method, bool full, const char *tag)
{
	const bool scaffold = strcmp(method, "scaffold") == 0;
	struct aggregator_options o;
	struct aggregator *agg = NULL;
	char global[64], out[64];

	options_for(method, &o);
	assert_int_equal(aggregator__new(method, &o, &agg), FEDC_OK);
	if (full)
		assert_int_equal(aggregator__set_roles(agg, roles, 3), FEDC_OK);
	snprintf(global, sizeof(global), "%s-x0", tag);
	write_first_global(global, full);
	for (int round = 1; round <= 2; round++) {
		struct fedc_params *g = open_file(global);

		assert_int_equal(aggregator__begin(agg, g, 5), FEDC_OK);
		fedc_params_close(g);
		for (size_t k = 0; k < 5; k++)
			assert_int_equal(aggregator__add(agg, nodes[k].id, node_update(&nodes[k], round, full, scaffold),
							 nodes[k].n),
					 FEDC_OK);
		snprintf(out, sizeof(out), "%s-x%d", tag, round);
		finish_to(agg, out);
		snprintf(global, sizeof(global), "%s", out);
	}
	aggregator__free(agg);
}

static void assert_buffers_are_means(const char *file, int round)
{
	float mean[2], bn[1];

	read_tensor(file, "mean", mean, 2);
	read_tensor(file, "bn", bn, 1);
	assert_true(mean[0] == weighted_mean(1, 0, round));
	assert_true(mean[1] == weighted_mean(1, 1, round));
	assert_true(bn[0] == weighted_mean(2, 0, round));
}

/* Every method: buffers at the weighted means (bit for bit) in both rounds;
 * the weights exactly as on the model of the weights alone. */
static void test_buffers_are_weighted_means_for_every_method(void **state)
{
	(void)state;
	for (size_t m = 0; m < N_METHODS; m++) {
		float w_full[2], w_alone[2];
		char full[64], alone[64];

		run_two_rounds(all_methods[m], true, "full");
		run_two_rounds(all_methods[m], false, "alone");
		for (int round = 1; round <= 2; round++) {
			snprintf(full, sizeof(full), "full-x%d", round);
			snprintf(alone, sizeof(alone), "alone-x%d", round);
			assert_buffers_are_means(full, round);
			read_tensor(full, "w", w_full, 2);
			read_tensor(alone, "w", w_alone, 2);
			if (memcmp(w_full, w_alone, sizeof(w_full)) != 0)
				fail_msg("%s round %d: w (%g, %g) with buffers, (%g, %g) alone", all_methods[m], round,
					 (double)w_full[0], (double)w_full[1], (double)w_alone[0], (double)w_alone[1]);
		}
	}
}

/* The weights do move away from the plain mean (the methods are not all
 * FedAvg in disguise): FedAdam's w after round 1 differs from the weighted
 * mean of the nodes' w, while its buffers do not. */
static void test_server_optimizer_moves_weights_not_buffers(void **state)
{
	float w[2], mean_w = 0;
	double sum = 0;

	(void)state;
	run_two_rounds("fedadam", true, "adam");
	read_tensor("adam-x1", "w", w, 2);
	for (size_t k = 5; k-- > 0;)
		sum += (double)nodes[k].n * (double)nodes[k].w[0];
	mean_w = (float)(sum / 12.0);
	assert_true(fabsf(w[0] - mean_w) > 1.0f); /* a server step of ~0.1 from 0.5 */
	assert_buffers_are_means("adam-x1", 1);
}

/* FedAdam's saved moments over the buffers stay at their first values (m 0,
 * v tau^2) after two rounds; over w they moved. */
static void test_fedopt_state_over_buffers_stays(void **state)
{
	struct aggregator *agg = NULL;
	struct aggregator_options o;
	float m_mean[2], v_mean[2], v_bn[1], m_w[2];
	char path[256];

	(void)state;
	options_for("fedadam", &o);
	assert_int_equal(aggregator__new("fedadam", &o, &agg), FEDC_OK);
	assert_int_equal(aggregator__set_roles(agg, roles, 3), FEDC_OK);
	write_first_global("st-x0", true);
	for (int round = 1; round <= 2; round++) {
		char in[32], out[32];
		struct fedc_params *g;

		snprintf(in, sizeof(in), "st-x%d", round - 1);
		snprintf(out, sizeof(out), "st-x%d", round);
		g = open_file(in);
		assert_int_equal(aggregator__begin(agg, g, 5), FEDC_OK);
		fedc_params_close(g);
		for (size_t k = 0; k < 5; k++)
			assert_int_equal(aggregator__add(agg, nodes[k].id, node_update(&nodes[k], round, true, false),
							 nodes[k].n),
					 FEDC_OK);
		finish_to(agg, out);
	}
	path_of(path, sizeof(path), "st-state");
	assert_int_equal(aggregator__save_state(agg, path), FEDC_OK);
	aggregator__free(agg);
	read_tensor("st-state", "m.mean", m_mean, 2);
	read_tensor("st-state", "v.mean", v_mean, 2);
	read_tensor("st-state", "v.bn", v_bn, 1);
	read_tensor("st-state", "m.w", m_w, 2);
	assert_true(m_mean[0] == 0 && m_mean[1] == 0);
	assert_true(v_mean[0] == (float)(o.tau * o.tau) && v_bn[0] == (float)(o.tau * o.tau));
	assert_true(m_w[0] != 0 && m_w[1] != 0);
}

/* SCAFFOLD: the control variate over buffers stays 0 in the result; over w
 * it moves. */
static void test_scaffold_control_variate_over_buffers_stays(void **state)
{
	float c_mean[2], c_bn[1], c_w[2];

	(void)state;
	run_two_rounds("scaffold", true, "sc");
	read_tensor("sc-x2", "scaffold.c.mean", c_mean, 2);
	read_tensor("sc-x2", "scaffold.c.bn", c_bn, 1);
	read_tensor("sc-x2", "scaffold.c.w", c_w, 2);
	assert_true(c_mean[0] == 0 && c_mean[1] == 0 && c_bn[0] == 0);
	assert_true(c_w[0] != 0);
}

/* A secure sum (weighted for FedAvg and FedAdam, plain for SCAFFOLD) gives
 * the buffers the mean out of the sum. */
static void check_secure_sum(const char *method, bool weighted)
{
	const bool scaffold = strcmp(method, "scaffold") == 0;
	const uint64_t values = scaffold ? 10 : 5;
	struct aggregator *agg = NULL;
	struct fedc_params *g;
	double *sum = calloc(values, sizeof(double));
	double total = 0;
	float mean[2], bn[1];

	assert_non_null(sum);
	assert_int_equal(aggregator__new(method, NULL, &agg), FEDC_OK);
	assert_int_equal(aggregator__set_roles(agg, roles, 3), FEDC_OK);
	write_first_global("ss-x0", true);
	g = open_file("ss-x0");
	assert_int_equal(aggregator__begin(agg, g, 5), FEDC_OK);
	fedc_params_close(g);
	assert_int_equal(aggregator__update_values(agg), values);
	for (size_t k = 5; k-- > 0;) {
		const double w = weighted ? (double)nodes[k].n : 1.0;
		const float *v[3] = { nodes[k].w, nodes[k].mean, nodes[k].bn };

		for (size_t j = 0; j < 5; j++)
			sum[j] += w * (double)(j < 2 ? v[0][j] : j < 4 ? v[1][j - 2] : v[2][0]);
		total += w;
	}
	assert_int_equal(aggregator__add_sum(agg, sum, (uint64_t)total, 5), FEDC_OK);
	finish_to(agg, "ss-x1");
	aggregator__free(agg);
	read_tensor("ss-x1", "mean", mean, 2);
	read_tensor("ss-x1", "bn", bn, 1);
	if (weighted) {
		assert_true(mean[0] == weighted_mean(1, 0, 1) && mean[1] == weighted_mean(1, 1, 1));
		assert_true(bn[0] == weighted_mean(2, 0, 1));
	} else { /* plain: (1 + 3 + 2 + 4 + 100) / 5 */
		assert_true(mean[0] == (float)(110.0 / 5.0));
		assert_true(bn[0] == (float)(15.0 / 5.0));
	}
}

static void test_secure_sum_gives_buffer_means(void **state)
{
	(void)state;
	check_secure_sum("fedavg", true);
	check_secure_sum("fedadam", true);
	check_secure_sum("scaffold", false);
}

static void test_bad_roles_refused(void **state)
{
	static const uint8_t unknown[3] = { 0, 3, 0 };
	struct aggregator *agg = NULL;
	struct fedc_params *g;

	(void)state;
	assert_int_equal(aggregator__new("fedavg", NULL, &agg), FEDC_OK);
	assert_int_equal(aggregator__set_roles(agg, unknown, 3), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "role 3"));
	assert_int_equal(aggregator__set_roles(agg, NULL, 2), FEDC_ERR_INVAL);
	/* two roles for a model of three tensors */
	assert_int_equal(aggregator__set_roles(agg, roles, 2), FEDC_OK);
	write_first_global("bad-x0", true);
	g = open_file("bad-x0");
	assert_int_equal(aggregator__begin(agg, g, 5), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "roles for 2 tensors"));
	/* right count: begins; roles cannot change inside the round */
	assert_int_equal(aggregator__set_roles(agg, roles, 3), FEDC_OK);
	assert_int_equal(aggregator__begin(agg, g, 5), FEDC_OK);
	assert_int_equal(aggregator__set_roles(agg, NULL, 0), FEDC_ERR_INVAL);
	fedc_params_close(g);
	aggregator__free(agg);
}

/* No roles (a plan of ABI < 3, or without param_roles): every tensor is a
 * weight, and FedAdam moves the buffers like weights. */
static void test_no_roles_all_weights(void **state)
{
	struct aggregator *agg = NULL;
	struct fedc_params *g;
	float mean[2];

	(void)state;
	assert_int_equal(aggregator__new("fedadam", NULL, &agg), FEDC_OK);
	write_first_global("none-x0", true);
	g = open_file("none-x0");
	assert_int_equal(aggregator__begin(agg, g, 5), FEDC_OK);
	fedc_params_close(g);
	for (size_t k = 0; k < 5; k++)
		assert_int_equal(aggregator__add(agg, nodes[k].id, node_update(&nodes[k], 1, true, false), nodes[k].n),
				 FEDC_OK);
	finish_to(agg, "none-x1");
	aggregator__free(agg);
	read_tensor("none-x1", "mean", mean, 2);
	assert_true(mean[0] != weighted_mean(1, 0, 1));
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buffers_are_weighted_means_for_every_method),
		cmocka_unit_test(test_server_optimizer_moves_weights_not_buffers),
		cmocka_unit_test(test_fedopt_state_over_buffers_stays),
		cmocka_unit_test(test_scaffold_control_variate_over_buffers_stays),
		cmocka_unit_test(test_secure_sum_gives_buffer_means),
		cmocka_unit_test(test_bad_roles_refused),
		cmocka_unit_test(test_no_roles_all_weights),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
