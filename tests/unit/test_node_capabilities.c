/* What a node advertises (node/capabilities.h): its limits and privacy
 * policy from its config, the machine's cores and memory, its plan ABI,
 * and each kind of its datasets once, test sets left out; the result
 * encodes as a status and as a list reply. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capabilities.h"
#include "fedc/caps.h"
#include "fedc/limits.h"
#include "fedc/plan.h"

static double cap(const struct fedc_msg *m, const char *name)
{
	double v = -1;

	if (!fedc_msg_kv_get(m->capabilities, m->n_capabilities, name, &v))
		fail_msg("capability %s missing", name);
	return v;
}

static void dataset(struct node_dataset *d, const char *type, const char *test_of)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->type, sizeof(d->type), "%s", type);
	snprintf(d->test_of, sizeof(d->test_of), "%s", test_of);
}

static void test_describe_from_config_and_datasets(void **state)
{
	struct node_config cfg = { .train_timeout_s = 600, .cpu_seconds = 300, .memory_mb = 2048,
				   .min_noise_multiplier = 0.5, .max_epsilon = 10, .max_delta = 1e-5,
				   .min_samples = 50, .require_dp = true };
	struct node_dataset ds[4];
	struct fedc_msg *m = fedc_msg_new(FEDC_CMD_STATUS);
	void *buf = NULL;
	size_t len;

	(void)state;
	assert_non_null(m);
	dataset(&ds[0], "csv", "");
	dataset(&ds[1], "images", "");
	dataset(&ds[2], "csv", "");
	dataset(&ds[3], "nifti", "some-dataset"); /* a test set: not offered */
	capabilities__describe(&cfg, ds, 4, 12345, m);
	assert_true(cap(m, FEDC_CAP_ABI) == FEDC_PLAN_ABI_VERSION);
	assert_true(cap(m, FEDC_CAP_CORES) >= 1);
	assert_true(cap(m, FEDC_CAP_MEMORY_MB) >= 1);
	assert_true(cap(m, FEDC_CAP_MAX_RUNTIME_S) == 600);
	assert_true(cap(m, FEDC_CAP_MAX_CPU_S) == 300);
	assert_true(cap(m, FEDC_CAP_INLINE_PARAMS) == 12345); /* what the connection carries */
	assert_true(cap(m, FEDC_CAP_MAX_PLAN_MEMORY_MB) == 2048);
	assert_true(cap(m, FEDC_CAP_REQUIRE_DP) == 1);
	assert_true(cap(m, FEDC_CAP_REQUIRE_SECURE_AGGREGATION) == 0);
	assert_true(cap(m, FEDC_CAP_MIN_NOISE_MULTIPLIER) == 0.5);
	assert_true(cap(m, FEDC_CAP_MAX_EPSILON) == 10);
	assert_true(cap(m, FEDC_CAP_MAX_DELTA) == 1e-5);
	assert_true(cap(m, FEDC_CAP_MIN_SAMPLES) == 50);
	assert_true(cap(m, FEDC_CAP_ENVELOPE) == 3); /* it opens version-3 envelopes (and 2, 1) */
	assert_int_equal(m->n_dataset_kinds, 2);
	assert_string_equal(m->dataset_kinds[0], "csv");
	assert_string_equal(m->dataset_kinds[1], "images");
	assert_true(m->sdk_version[0] != '\0');
	assert_true(fedc_msg_has(m, FEDC_F_CAPABILITIES) && fedc_msg_has(m, FEDC_F_DATASET_KINDS) &&
		    fedc_msg_has(m, FEDC_F_SDK_VERSION));
	/* a status needs its own fields too; then it must encode */
	snprintf(m->node_id, sizeof(m->node_id), "node-a");
	snprintf(m->state, sizeof(m->state), "online");
	fedc_msg_set(m, FEDC_F_NODE_ID);
	fedc_msg_set(m, FEDC_F_STATE);
	if (fedc_msg_encode(m, &buf, &len) != FEDC_OK)
		fail_msg("%s", fedc_last_error());
	free(buf);
	fedc_msg_free(m);
}

/* More kinds than the message holds: the first ones are kept, no overflow. */
static void test_describe_caps_the_kinds(void **state)
{
	struct node_config cfg = { .train_timeout_s = 60 };
	struct node_dataset ds[FEDC_MAX_DATASET_KINDS + 3];
	struct fedc_msg *m = fedc_msg_new(FEDC_CMD_LIST_REPLY);
	char kind[16];

	(void)state;
	assert_non_null(m);
	for (size_t i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
		snprintf(kind, sizeof(kind), "kind%zu", i);
		dataset(&ds[i], kind, "");
	}
	capabilities__describe(&cfg, ds, sizeof(ds) / sizeof(ds[0]), FEDC_DEFAULT_INLINE_PARAMS, m);
	assert_int_equal(m->n_dataset_kinds, FEDC_MAX_DATASET_KINDS);
	assert_string_equal(m->dataset_kinds[0], "kind0");
	capabilities__describe(&cfg, NULL, 0, FEDC_DEFAULT_INLINE_PARAMS, m);
	assert_int_equal(m->n_dataset_kinds, 0);
	fedc_msg_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_describe_from_config_and_datasets),
		cmocka_unit_test(test_describe_caps_the_kinds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
