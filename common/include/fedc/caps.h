/* The names of the capabilities a node advertises in the `capabilities` map
 * of its status, search-reply and list-reply (docs/protocol.md,
 * "Capabilities"), shared by the node that fills them and the researcher
 * that reads them ([nodes] require). Every value is a number; a yes/no is 1
 * or 0. A node leaves out what it cannot tell; a researcher ignores names it
 * does not know, so a later version may add names without breaking this one. */
#ifndef FEDC_CAPS_H
#define FEDC_CAPS_H

#define FEDC_CAP_ABI "abi"                     /* newest plan ABI it runs (it runs 1 to this) */
#define FEDC_CAP_CORES "cores"                 /* online processors */
#define FEDC_CAP_MEMORY_MB "memory_mb"         /* physical memory */
#define FEDC_CAP_MAX_RUNTIME_S "max_runtime_s" /* [limits] train_timeout_s: wall clock per round */
#define FEDC_CAP_MAX_CPU_S "max_cpu_s"         /* [limits] cpu_seconds: a plan's CPU time per round */
#define FEDC_CAP_MAX_PLAN_MEMORY_MB "max_plan_memory_mb" /* [limits] memory_mb: a plan's memory */
#define FEDC_CAP_SECURE_AGGREGATION "secure_aggregation" /* 1: it takes part in secure aggregation */
#define FEDC_CAP_DP "dp"                       /* 1: it runs node-level differential privacy */
/* Largest parameter file it takes and sends inside train / train-reply
 * (docs/protocol.md, "Parameters inline"); absent: only through the repository. */
#define FEDC_CAP_INLINE_PARAMS "inline_params"
/* Newest envelope version it opens (fedc/sign.h); absent: 1. A researcher
 * sends a version-2 train (parameters as the envelope's attachment) only to
 * a node that says 2 or more, and offers a per-job session (session_kx, then
 * version-3 envelopes) only to a node that says 3 or more. */
#define FEDC_CAP_ENVELOPE "envelope"
/* Its [privacy] policy (node/privacy.h): what it refuses. */
#define FEDC_CAP_REQUIRE_DP "require_dp"
#define FEDC_CAP_REQUIRE_SECURE_AGGREGATION "require_secure_aggregation"
#define FEDC_CAP_MIN_NOISE_MULTIPLIER "min_noise_multiplier"
#define FEDC_CAP_MAX_EPSILON "max_epsilon"     /* 0: no limit */
#define FEDC_CAP_MAX_DELTA "max_delta"
#define FEDC_CAP_MIN_SAMPLES "min_samples"

#endif
