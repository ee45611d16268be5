/* A node's capabilities (see capabilities.h). */
#include "capabilities.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fedc/caps.h"
#include "fedc/plan.h"

#ifndef FEDC_SDK_VERSION
#error "FEDC_SDK_VERSION is set by node/CMakeLists.txt from the project version"
#endif

static void add(struct fedc_msg *msg, const char *name, double value)
{
	/* The table below holds FEDC_MAX_CAPS names (16) at most; a full list
	 * would only drop the last entries, which readers treat as unknown. */
	fedc_ignore(fedc_msg_kv_add(msg->capabilities, &msg->n_capabilities, FEDC_MAX_CAPS, name, value));
}

/* Cores and memory as the kernel reports them now; left out when it does not. */
static void add_machine(struct fedc_msg *msg)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN), pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

	if (cores > 0)
		add(msg, FEDC_CAP_CORES, (double)cores);
	if (pages > 0 && page > 0)
		add(msg, FEDC_CAP_MEMORY_MB, (double)((unsigned long long)pages * (unsigned long long)page >> 20));
}

static void add_kind(struct fedc_msg *msg, const char *kind)
{
	if (!kind[0] || strlen(kind) >= sizeof(msg->dataset_kinds[0]) || msg->n_dataset_kinds >= FEDC_MAX_DATASET_KINDS)
		return;
	for (uint32_t i = 0; i < msg->n_dataset_kinds; i++) {
		if (strcmp(msg->dataset_kinds[i], kind) == 0)
			return;
	}
	strcpy(msg->dataset_kinds[msg->n_dataset_kinds++], kind);
}

void capabilities__describe(const struct node_config *cfg, const struct node_dataset *datasets, size_t n,
			    size_t inline_params, struct fedc_msg *msg)
{
	msg->n_capabilities = 0;
	add(msg, FEDC_CAP_ABI, FEDC_PLAN_ABI_VERSION);
	add_machine(msg);
	add(msg, FEDC_CAP_MAX_RUNTIME_S, (double)cfg->train_timeout_s);
	add(msg, FEDC_CAP_MAX_CPU_S, (double)cfg->cpu_seconds);
	add(msg, FEDC_CAP_MAX_PLAN_MEMORY_MB, (double)cfg->memory_mb);
	add(msg, FEDC_CAP_SECURE_AGGREGATION, 1);
	add(msg, FEDC_CAP_DP, 1);
	add(msg, FEDC_CAP_INLINE_PARAMS, (double)inline_params);
	add(msg, FEDC_CAP_REQUIRE_DP, cfg->require_dp ? 1 : 0);
	add(msg, FEDC_CAP_REQUIRE_SECURE_AGGREGATION, cfg->require_secure_aggregation ? 1 : 0);
	add(msg, FEDC_CAP_MIN_NOISE_MULTIPLIER, cfg->min_noise_multiplier);
	add(msg, FEDC_CAP_MAX_EPSILON, cfg->max_epsilon);
	add(msg, FEDC_CAP_MAX_DELTA, cfg->max_delta);
	add(msg, FEDC_CAP_MIN_SAMPLES, (double)cfg->min_samples);
	add(msg, FEDC_CAP_ENVELOPE, 3); /* last: the one whose loss is harmless (version 1 then) */
	fedc_msg_set(msg, FEDC_F_CAPABILITIES);
	snprintf(msg->sdk_version, sizeof(msg->sdk_version), "%s", FEDC_SDK_VERSION);
	fedc_msg_set(msg, FEDC_F_SDK_VERSION);
	msg->n_dataset_kinds = 0;
	for (size_t i = 0; i < n; i++) {
		if (!datasets[i].test_of[0])
			add_kind(msg, datasets[i].type);
	}
	fedc_msg_set(msg, FEDC_F_DATASET_KINDS);
}
