/* The MQTT message schema and its validating msgpack codec (docs/protocol.md).
 *
 * Two tables are the protocol: `message__fields` (wire name, msgpack type, where the
 * value lives in struct fedc_msg, bounds, meaning) and `message__cmds` (wire name,
 * route, required and optional fields, meaning). The encoder, the decoder and
 * the Markdown writer (message_doc.c, through message_schema.h) all read them;
 * nothing else knows a field's bounds.
 *
 * Values are checked by one set of validators that work on struct fedc_msg
 * (check_field), so encode and decode accept exactly the same messages: the
 * decoder first moves a value into the struct (after checking its msgpack type
 * and its length), then validates it there.
 *
 * Decoding untrusted bytes happens in three steps:
 *   1. fedc_msgpack_check() walks the bytes with the bounds-checked cursor
 *      (fedc/cursor.h): one complete object, no trailing bytes, nesting depth
 *      capped, and every declared array/map/str length checked against the
 *      bytes that remain.
 *      msgpack-c allocates an array's elements from its declared count, so
 *      without this step a 5-byte payload could ask for 100 GB.
 *   2. msgpack_unpack() into a zone: its allocations are now bounded by the
 *      (capped) input length.
 *   3. the schema walk (decode_top): keys, command, types, bounds, required. */
#include "fedc/message.h"

#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/cursor.h"
#include "fedc/hash.h"
#include "fedc/id.h"
#include "message_schema.h"

/* Bounds that only the protocol needs (the shared caps are in limits.h). */
#define MSG_MAX_ROUND 1000000u        /* rounds in one job */
#define MSG_MAX_EPOCHS 1000000u       /* the plan ABI holds epochs in 32 bits */
#define MSG_MAX_BATCH 1000000u
#define MSG_KEY_SHOWN 40              /* bytes of a peer's unknown key quoted in errors */
#define MSG_PATH_LEN 192              /* "global_metrics.<128-byte name>" and the like */


/* ---- the schema ---- */

#define MSG_MEMBER_SIZE(st, m) sizeof(((st *)0)->m)

#define UINT_F(st, wire, m, lo, hi, doc_)                                                  \
	{ .name = wire, .type = FT_UINT, .off = offsetof(st, m), .size = MSG_MEMBER_SIZE(st, m), \
	  .umin = (lo), .umax = (hi), .doc = doc_ }
#define DOUBLE_F(wire, m, lo, hi, open, doc_)                                                \
	{ .name = wire, .type = FT_DOUBLE, .off = offsetof(struct fedc_msg, m), .dmin = (lo),  \
	  .dmax = (hi), .dmax_open = (open), .doc = doc_ }
#define STR_F(st, wire, m, ck, doc_)                                                       \
	{ .name = wire, .type = FT_STR, .check = ck, .off = offsetof(st, m),                 \
	  .size = MSG_MEMBER_SIZE(st, m), .doc = doc_ }
#define CHOICE_F(wire, m, list, doc_)                                                        \
	{ .name = wire, .type = FT_STR, .check = CK_CHOICE, .off = offsetof(struct fedc_msg, m), \
	  .size = MSG_MEMBER_SIZE(struct fedc_msg, m), .choices = list, .doc = doc_ }
#define TAGS_F(st, wire, m, n, lo, doc_)                                                   \
	{ .name = wire, .type = FT_TAGS, .check = CK_NAME, .off = offsetof(st, m),           \
	  .size = MSG_MEMBER_SIZE(st, m[0]), .count_off = offsetof(st, n), .min_items = (lo), \
	  .max_items = FEDC_MAX_TAGS, .doc = doc_ }
#define KVS_F(wire, m, n, max, doc_)                                                         \
	{ .name = wire, .type = FT_KVS, .check = CK_NAME, .off = offsetof(struct fedc_msg, m),   \
	  .size = MSG_MEMBER_SIZE(struct fedc_msg_kv, name), .count_off = offsetof(struct fedc_msg, n), \
	  .max_items = (max), .doc = doc_ }

#define M struct fedc_msg
#define D struct fedc_msg_dataset

static const char *const plan_statuses[] = { "approved", "pending", "rejected", "unknown", NULL };
static const char *const states[] = { "online", "offline", NULL };
static const char *const secagg_steps[] = { "keys", "keyset", "shares", "unmask", "abort", NULL };
/* The kinds of assessment a node runs (node/assess.h); "robust" is reserved for the next. */
static const char *const assess_kinds[] = { "predict", "explain", "robust", NULL };

/* Indexed by enum fedc_field; this order is the order of the encoded map. */
const struct field_spec message__fields[FEDC_F__COUNT] = {
	[FEDC_F_PROTOCOL_VERSION] = UINT_F(M, "protocol_version", protocol_version, FEDC_PROTOCOL_VERSION,
					   FEDC_PROTOCOL_VERSION,
					   "Version of this protocol; a receiver rejects any other."),
	[FEDC_F_COMMAND] = { .name = "command", .type = FT_CMD, .off = offsetof(M, command),
			     .doc = "The message type: one of the commands of this section." },
	[FEDC_F_REQUEST_ID] = STR_F(M, "request_id", request_id, CK_UUID,
				    "Fresh for each request (and each status). Whatever a node sends in "
				    "answer (reply, scalar, error) carries the request_id it answers."),
	[FEDC_F_RESEARCHER_ID] = STR_F(M, "researcher_id", researcher_id, CK_ID,
				       "The researcher that sent the request; in a node's message, the "
				       "researcher it answers (copied from the request)."),
	[FEDC_F_NODE_ID] = STR_F(M, "node_id", node_id, CK_ID, "The node that sent the message."),
	[FEDC_F_TAGS] = TAGS_F(M, "tags", tags, n_tags, 1,
			       "Wanted datasets carry every one of these tags."),
	[FEDC_F_DATASETS] = { .name = "datasets", .type = FT_DATASETS, .off = offsetof(M, datasets),
			      .count_off = offsetof(M, n_datasets), .max_items = FEDC_MAX_DATASETS,
			      .doc = "The node's matching (search) or registered (list) datasets; an "
				     "empty array when it has none. Entries: see Dataset entries." },
	[FEDC_F_PLAN_DIGEST] = STR_F(M, "plan_digest", plan_digest, CK_DIGEST,
				     "Digest of the training plan (the compiled shared object). Nodes "
				     "approve, fetch and run plans by SHA-256 (64 digits), the plan's "
				     "repository address; 128 digits are reserved for other approval hashes."),
	[FEDC_F_PLAN_NAME] = STR_F(M, "plan_name", plan_name, CK_NAME,
				   "Name of the plan, shown to the node's operator."),
	[FEDC_F_PLAN_STATUS] = CHOICE_F("plan_status", plan_status, plan_statuses,
					"The plan's status on that node (`unknown`: never registered there)."),
	[FEDC_F_DESCRIPTION] = STR_F(M, "description", description, CK_TEXT,
				     "Free text for the node's operator."),
	[FEDC_F_SOURCE_DIGEST] = STR_F(M, "source_digest", source_digest, CK_SHA256,
				       "SHA-256 (repository address) of the plan's source code, packed as a "
				       "source bundle (fedc/source_bundle.h), for the node's operator to read. "
				       "Nothing proves the compiled plan was built from it."),
	[FEDC_F_JOB_ID] = STR_F(M, "job_id", job_id, CK_UUID, "The experiment (job) the round belongs to."),
	[FEDC_F_ROUND] = UINT_F(M, "round", round, 0, MSG_MAX_ROUND, "Round number within the job."),
	[FEDC_F_DATASET_ID] = STR_F(M, "dataset_id", dataset_id, CK_ID,
				    "The node's dataset to train on (train), or that was used (train-reply)."),
	[FEDC_F_PARAMS_DIGEST] = STR_F(M, "params_digest", params_digest, CK_SHA256,
				       "SHA-256 (repository address) of a parameter file: in train the "
				       "global parameters to start from, in train-reply the node's update."),
	[FEDC_F_MODEL_ARGS] = KVS_F("model_args", model_args, n_model_args, FEDC_MAX_ARGS,
				    "Named numbers handed to the plan's create() (layer sizes ...)."),
	[FEDC_F_LR] = DOUBLE_F("lr", lr, 0, INFINITY, false, "Learning rate of the local optimizer."),
	[FEDC_F_EPOCHS] = UINT_F(M, "epochs", epochs, 0, MSG_MAX_EPOCHS,
				 "Full passes over the local training split (when num_updates is 0)."),
	[FEDC_F_NUM_UPDATES] = UINT_F(M, "num_updates", num_updates, 0, UINT32_MAX,
				      "Mini-batch steps; when > 0 it replaces epochs."),
	[FEDC_F_BATCH_SIZE] = UINT_F(M, "batch_size", batch_size, 1, MSG_MAX_BATCH, "Mini-batch size."),
	[FEDC_F_SEED] = UINT_F(M, "seed", seed, 0, UINT64_MAX,
			       "The experiment seed; the node derives the held-out split (seed, data digest) and the training seed (seed, round, node id, and by default a secret key of the node: docs/node-admin.md, secret_training_seed) from it."),
	[FEDC_F_TEST_RATIO] = DOUBLE_F("test_ratio", test_ratio, 0, 1, true,
				       "Fraction of the dataset held out for local testing (0: none)."),
	[FEDC_F_FEDPROX_MU] = DOUBLE_F("fedprox_mu", fedprox_mu, 0, INFINITY, false,
				       "FedProx proximal term (0: plain local training)."),
	[FEDC_F_OPTIMIZER] = STR_F(M, "optimizer", optimizer, CK_TOKEN,
				   "Local optimizer of the plan SDK (`sgd`)."),
	[FEDC_F_EVALUATE_ONLY] = { .name = "evaluate_only", .type = FT_BOOL, .off = offsetof(M, evaluate_only),
				   .doc = "True: only evaluate the global parameters; nothing is trained "
					  "or uploaded (absent: false)." },
	[FEDC_F_TEST_ON_GLOBAL] = { .name = "test_on_global", .type = FT_BOOL, .off = offsetof(M, test_on_global),
				    .doc = "Evaluate the received global parameters on the test rows before "
					   "training (absent: true)." },
	[FEDC_F_TEST_ON_LOCAL] = { .name = "test_on_local", .type = FT_BOOL, .off = offsetof(M, test_on_local),
				   .doc = "Evaluate the locally trained parameters on the test rows (absent: "
					  "true)." },
	[FEDC_F_SECAGG] = { .name = "secure_aggregation", .type = FT_BOOL, .off = offsetof(M, secagg),
			    .doc = "True: the update goes masked, through the secure-aggregation steps "
				   "(`secagg`, docs/privacy.md); the reply's `n_samples` is then 0 and the "
				   "count travels inside the masked vector (absent: false)." },
	[FEDC_F_SECAGG_SCALE_BITS] = UINT_F(M, "secagg_scale_bits", secagg_scale_bits, 0, 52,
					    "Fixed point of the masked vector: a value v of weight w is encoded "
					    "as round(w v 2^scale_bits) mod 2^secagg_ring_bits."),
	[FEDC_F_SECAGG_VALUE_MAX] = DOUBLE_F("secagg_value_max", secagg_value_max, 0x1p-30, 0x1p40, false,
					     "Largest |value| a node may encode; a node whose update "
					     "exceeds it fails the round."),
	[FEDC_F_SECAGG_WEIGHT_MAX] = UINT_F(M, "secagg_weight_max", secagg_weight_max, 1, UINT64_C(1) << 40,
					    "Largest weight (training samples) a node may encode."),
	[FEDC_F_SECAGG_THRESHOLD] = UINT_F(M, "secagg_threshold", secagg_threshold, 2, 255,
					   "Shares of a node's secrets that rebuild them (Shamir t)."),
	[FEDC_F_SECAGG_NEIGHBOURS] = UINT_F(M, "secagg_neighbours", secagg_neighbours, 0, 254,
					    "SecAgg+ graph degree: each node masks with this many others "
					    "(0: with every other node)."),
	[FEDC_F_SECAGG_RING_BITS] = UINT_F(M, "secagg_ring_bits", secagg_ring_bits, 32, 64,
					   "The ring of the masked vector: 32 (a `u32` tensor) or 64 (`u64`); "
					   "no other value (absent: 64)."),
	[FEDC_F_DP_CLIP] = DOUBLE_F("dp_clip", dp_clip, 0x1p-30, 0x1p30, false,
				    "Node-level differential privacy: the node clips its update's change "
				    "to this L2 norm."),
	[FEDC_F_DP_NOISE] = DOUBLE_F("dp_noise", dp_noise, 0, 1000, false,
				     "Noise multiplier of the round's sum: the sum carries Gaussian noise of "
				     "standard deviation dp_noise * dp_clip."),
	[FEDC_F_DP_DELTA] = DOUBLE_F("dp_delta", dp_delta, 0, 1, true,
				     "The delta of the (epsilon, delta) guarantee the node checks against "
				     "its policy."),
	[FEDC_F_DP_PARTIES] = UINT_F(M, "dp_parties", dp_parties, 1, 100000,
				     "The noise is split among this many nodes: each adds standard "
				     "deviation dp_noise * dp_clip / sqrt(dp_parties)."),
	[FEDC_F_SECAGG_STEP] = CHOICE_F("step", secagg_step, secagg_steps,
					"Which secure-aggregation step: `keys`, `keyset`, `shares`, "
					"`unmask` or `abort` (docs/privacy.md)."),
	[FEDC_F_SECAGG_DATA] = { .name = "data", .type = FT_BIN, .off = offsetof(M, secagg_data),
				 .count_off = offsetof(M, secagg_data_len), .max_items = FEDC_MAX_SECAGG_DATA,
				 .doc = "The step's contents, in the secure-aggregation encoding "
					"(docs/privacy.md, \"Messages\")." },
	[FEDC_F_N_SAMPLES] = UINT_F(M, "n_samples", n_samples, 0, UINT64_MAX,
				    "Training samples used: the weight of the update in FedAvg."),
	[FEDC_F_N_TEST] = UINT_F(M, "n_test", n_test, 0, UINT64_MAX, "Samples in the held-out test split."),
	[FEDC_F_METRICS] = KVS_F("metrics", metrics, n_metrics, FEDC_MAX_METRICS,
				 "Metrics of the local model after training (loss, accuracy ...); with node-level "
				 "differential privacy also `dp_epsilon`, the node's own epsilon for the job so far."),
	[FEDC_F_GLOBAL_METRICS] = KVS_F("global_metrics", global_metrics, n_global_metrics, FEDC_MAX_METRICS,
					"Metrics of the received global parameters, before training."),
	[FEDC_F_DOWNLOAD_S] = DOUBLE_F("download_s", download_s, 0, INFINITY, false,
				       "Seconds spent fetching the plan and the parameters."),
	[FEDC_F_TRAIN_S] = DOUBLE_F("train_s", train_s, 0, INFINITY, false,
				    "Seconds spent training and evaluating (the sandboxed child)."),
	[FEDC_F_UPLOAD_S] = DOUBLE_F("upload_s", upload_s, 0, INFINITY, false,
				     "Seconds spent uploading the update."),
	[FEDC_F_NAME] = STR_F(M, "name", name, CK_NAME, "Metric name."),
	[FEDC_F_VALUE] = DOUBLE_F("value", value, -INFINITY, INFINITY, false, "Metric value."),
	[FEDC_F_ITERATION] = UINT_F(M, "iteration", iteration, 0, UINT64_MAX,
				    "Mini-batch step within the round."),
	[FEDC_F_EPOCH] = UINT_F(M, "epoch", epoch, 0, UINT32_MAX, "Epoch within the round."),
	[FEDC_F_ERROR_CODE] = STR_F(M, "error_code", error_code, CK_TOKEN,
				    "fedc error name (`malformed`, `plan-not-approved`, `timeout` ...)."),
	[FEDC_F_MESSAGE] = STR_F(M, "message", message, CK_TEXT, "What went wrong, for people."),
	[FEDC_F_STATE] = CHOICE_F("state", state, states,
				  "`online` (published retained on connection) or `offline` (clean "
				  "exit, or the broker's last will)."),
	[FEDC_F_CAPABILITIES] = KVS_F("capabilities", capabilities, n_capabilities, FEDC_MAX_CAPS,
				      "What the node can do and the limits it enforces, by name (see "
				      "Capabilities): `abi`, `cores`, `memory_mb`, `max_runtime_s`, "
				      "`require_dp` ... A researcher ignores names it does not know."),
	[FEDC_F_DATASET_KINDS] = { .name = "dataset_kinds", .type = FT_TAGS, .check = CK_TOKEN,
				   .off = offsetof(M, dataset_kinds), .size = MSG_MEMBER_SIZE(M, dataset_kinds[0]),
				   .count_off = offsetof(M, n_dataset_kinds), .max_items = FEDC_MAX_DATASET_KINDS,
				   .doc = "The kinds of the datasets the node holds (`csv`, `idx`, "
					  "`images` ...), each once; may be empty." },
	[FEDC_F_SDK_VERSION] = STR_F(M, "sdk_version", sdk_version, CK_TOKEN,
				     "The version of the plan SDK the node was built with (`0.1.0`)."),
	[FEDC_F_ANALYTICS_QUERY] = STR_F(M, "query", analytics_query, CK_TEXT,
					 "The analytics query: `key=value` lines (`columns`, `filter`, `group_by`, "
					 "`epsilon`, `release`, `bins.COLUMN`, `bounds.COLUMN`; docs/researcher-guide.md, "
					 "\"Federated analytics\"). The node checks it against its dataset and policy."),
	[FEDC_F_ANALYTICS_RESULT] = { .name = "result", .type = FT_BIN, .off = offsetof(M, analytics_result),
				      .count_off = offsetof(M, analytics_result_len),
				      .max_items = FEDC_MAX_ANALYTICS_RESULT,
				      .doc = "The node's partial results as tab-separated text lines: the "
					     "version, `noise`, a `scale` per column, then one `cell` per group and "
					     "column (count, sum, sum of squares, min, max, histogram counts) or "
					     "`suppressed` with the reason (docs/protocol.md, \"Analytics\")." },
	[FEDC_F_ASSESS] = CHOICE_F("assess", assess, assess_kinds,
				   "Only with `evaluate_only` true: what to compute with the received "
				   "parameters besides the metrics, `predict` (every row of the dataset: the "
				   "node writes the predictions to a file of its own and answers aggregate "
				   "counts), `explain` (permutation feature importance on the test rows) or "
				   "`robust` (the metrics under FGSM and PGD perturbation of the test rows)."),
	[FEDC_F_ASSESS_ARGS] = STR_F(M, "assess_args", assess_args, CK_TEXT,
				     "`key=value` lines for the `assess` kind (`repeats`, `metric`, `bins`; for "
				     "`robust` `attacks`, `epsilons`, `pgd_steps`, `pgd_step_size`, `clip_min`, "
				     "`clip_max`; "
				     "docs/researcher-guide.md). Only with `assess`."),
	[FEDC_F_ASSESS_RESULT] = { .name = "assess_result", .type = FT_BIN, .off = offsetof(M, assess_result),
				   .count_off = offsetof(M, assess_result_len), .max_items = FEDC_MAX_ASSESS_RESULT,
				   .doc = "Answers `assess`: text lines `count NAME N` (integers the researcher "
					  "sums over nodes), `sum NAME X` (reals summed), `mean NAME X` (reals "
					  "averaged weighted by `n_test`), `text NAME VALUE` (a per-node value "
					  "such as the predictions file); docs/protocol.md, \"Assessments\"." },
	[FEDC_F_PARAMS] = { .name = "params", .type = FT_BIN, .off = offsetof(M, params),
			    .count_off = offsetof(M, params_len), .max_items = FEDC_MAX_INLINE_PARAMS,
			    .doc = "The parameter file whose SHA-256 is `params_digest`, carried inline "
				   "instead of through the repository (docs/protocol.md, \"Parameters "
				   "inline\"): in train the global parameters, in train-reply the update. "
				   "The receiver hashes it and refuses a mismatch." },
	[FEDC_F_INLINE_PARAMS_MAX] = UINT_F(M, "inline_params_max", inline_params_max, 0, FEDC_MAX_INLINE_PARAMS,
					    "The node may carry its update inline in train-reply when the "
					    "file is at most this many bytes; absent or 0: through the "
					    "repository."),
	[FEDC_F_SESSION_KX] = { .name = "session_kx", .type = FT_BIN, .off = offsetof(M, session_kx),
				.count_off = offsetof(M, session_kx_len), .max_items = FEDC_SESSION_KX_BYTES,
				.doc = "32 bytes: the sender's ephemeral X25519 public key for a per-job "
				       "session, only in a signed (not MAC'd) message: a researcher offers it "
				       "in train to a node whose `envelope` capability is 3 or more, the node "
				       "answers with its own in train-reply; then that job's train and "
				       "train-reply travel in envelope version 3 (docs/protocol.md, \"Envelope "
				       "version 3\")." },
};

/* The map inside `datasets`; every entry is required. */
const struct field_spec message__dataset_fields[] = {
	STR_F(D, "dataset_id", dataset_id, CK_ID, "The node's id of the dataset."),
	STR_F(D, "name", name, CK_NAME, "Its name."),
	STR_F(D, "type", type, CK_TOKEN, "The dataset's kind: `csv`, `idx` (and the kinds later nodes add)."),
	TAGS_F(D, "tags", tags, n_tags, 0, "Its tags."),
	UINT_F(D, "n_samples", n_samples, 0, UINT64_MAX, "Rows (samples)."),
	UINT_F(D, "n_features", n_features, 0, UINT64_MAX, "Features per sample."),
	UINT_F(D, "n_classes", n_classes, 0, UINT32_MAX, "Classes of the target (0: regression)."),
	{ .name = "shape", .type = FT_STR, .check = CK_TOKEN, .off = offsetof(D, shape), .size = MSG_MEMBER_SIZE(D, shape),
	  .optional = true,
	  .doc = "One sample's shape: `30` (a table's features), `28x28` (IDX), `1x28x28` (images, channels "
		 "first)." },
};
const size_t message__n_dataset_fields = sizeof(message__dataset_fields) / sizeof(message__dataset_fields[0]);
#define N_DATASET_FIELDS (sizeof(message__dataset_fields) / sizeof(message__dataset_fields[0]))

#undef M
#undef D

#define REQ(x) [FEDC_F_##x] = USE_REQUIRED
#define OPT(x) [FEDC_F_##x] = USE_OPTIONAL
#define BASE_FIELDS REQ(PROTOCOL_VERSION), REQ(COMMAND), REQ(REQUEST_ID)
#define FROM_RESEARCHER BASE_FIELDS, REQ(RESEARCHER_ID)
#define FROM_NODE BASE_FIELDS, REQ(NODE_ID), REQ(RESEARCHER_ID)
/* A node's capabilities: optional, so that a node of an older version still decodes. */
#define CAPS_FIELDS OPT(CAPABILITIES), OPT(DATASET_KINDS), OPT(SDK_VERSION)
#define TO_NODES "researcher → every node (`fedc/<fed>/nodes`) or one node (`fedc/<fed>/node/<node_id>`)"
#define TO_RESEARCHER "node → researcher (`fedc/<fed>/researcher/<researcher_id>`)"

const struct cmd_spec message__cmds[FEDC_CMD__COUNT] = {
	[FEDC_CMD_PING] = { "ping", TO_NODES, { FROM_RESEARCHER },
			    "Liveness probe: every node that receives it answers `pong`." },
	[FEDC_CMD_PONG] = { "pong", TO_RESEARCHER, { FROM_NODE }, "Answers `ping`." },
	[FEDC_CMD_SEARCH] = { "search", TO_NODES, { FROM_RESEARCHER, REQ(TAGS) },
			      "Asks for the datasets that carry all the given tags." },
	[FEDC_CMD_SEARCH_REPLY] = { "search-reply", TO_RESEARCHER, { FROM_NODE, REQ(DATASETS), CAPS_FIELDS },
				    "Answers `search`, always: with an empty `datasets` when nothing "
				    "matches, so the researcher never waits for a silent node." },
	[FEDC_CMD_LIST] = { "list", TO_NODES, { FROM_RESEARCHER },
			    "Asks for every dataset the nodes hold." },
	[FEDC_CMD_LIST_REPLY] = { "list-reply", TO_RESEARCHER, { FROM_NODE, REQ(DATASETS), CAPS_FIELDS },
				  "Answers `list`, always, even with no dataset." },
	[FEDC_CMD_APPROVAL] = { "approval", TO_NODES,
				{ FROM_RESEARCHER, REQ(PLAN_DIGEST), REQ(PLAN_NAME), OPT(DESCRIPTION), OPT(SOURCE_DIGEST) },
				"Asks nodes to register a training plan (already uploaded to the "
				"repository) as pending, for their operators to approve or reject." },
	[FEDC_CMD_APPROVAL_REPLY] = { "approval-reply", TO_RESEARCHER,
				      { FROM_NODE, REQ(PLAN_DIGEST), REQ(PLAN_STATUS) },
				      "Answers `approval` with the plan's status on the node after "
				      "the request (`pending`, or the operator's earlier decision)." },
	[FEDC_CMD_PLAN_STATUS] = { "training-plan-status", TO_NODES, { FROM_RESEARCHER, REQ(PLAN_DIGEST) },
				   "Asks for a plan's approval status." },
	[FEDC_CMD_PLAN_STATUS_REPLY] = { "training-plan-status-reply", TO_RESEARCHER,
					 { FROM_NODE, REQ(PLAN_DIGEST), REQ(PLAN_STATUS) },
					 "Answers `training-plan-status`." },
	[FEDC_CMD_TRAIN] = { "train",
			     "researcher → one node (`fedc/<fed>/node/<node_id>`)",
			     { FROM_RESEARCHER, REQ(JOB_ID), REQ(ROUND), REQ(DATASET_ID), REQ(PLAN_DIGEST),
			       REQ(PARAMS_DIGEST), REQ(MODEL_ARGS), REQ(LR), REQ(EPOCHS), REQ(NUM_UPDATES),
			       REQ(BATCH_SIZE), REQ(SEED), REQ(TEST_RATIO), REQ(FEDPROX_MU), REQ(OPTIMIZER),
			       OPT(EVALUATE_ONLY), OPT(TEST_ON_GLOBAL), OPT(TEST_ON_LOCAL), OPT(SECAGG),
			       OPT(SECAGG_SCALE_BITS), OPT(SECAGG_VALUE_MAX), OPT(SECAGG_WEIGHT_MAX),
			       OPT(SECAGG_THRESHOLD), OPT(SECAGG_NEIGHBOURS), OPT(SECAGG_RING_BITS),
			       OPT(DP_CLIP), OPT(DP_NOISE), OPT(DP_DELTA), OPT(DP_PARTIES), OPT(ASSESS),
			       OPT(ASSESS_ARGS), OPT(PARAMS), OPT(INLINE_PARAMS_MAX), OPT(SESSION_KX) },
			     "Runs one round on one dataset: fetch the plan from the repository and the "
			     "global parameters from `params` or else the repository, check the plan is "
			     "approved, train, upload the update (or carry it in the reply's `params`), "
			     "answer `train-reply` (or `error`). Unless `evaluate_only` is true, `epochs` "
			     "or `num_updates` must be > 0. With `secure_aggregation` true, every "
			     "`secagg_*` field but `secagg_ring_bits` is required; `dp_noise` > 0 "
			     "requires `dp_clip`, `dp_delta` and `dp_parties`; `assess` requires "
			     "`evaluate_only` true, and `assess_args` requires `assess`." },
	[FEDC_CMD_TRAIN_REPLY] = { "train-reply", TO_RESEARCHER,
				   { FROM_NODE, REQ(JOB_ID), REQ(ROUND), REQ(DATASET_ID), REQ(N_SAMPLES),
				     REQ(N_TEST), REQ(METRICS), REQ(GLOBAL_METRICS), REQ(DOWNLOAD_S),
				     REQ(TRAIN_S), REQ(UPLOAD_S), OPT(PARAMS_DIGEST), OPT(ASSESS_RESULT),
				     OPT(PARAMS), OPT(SESSION_KX) },
				   "Answers `train`: the update's digest (absent when the request had "
				   "`evaluate_only`), sample counts, metrics and timings; with `assess`, "
				   "its `assess_result`. `params` (the update itself) requires "
				   "`params_digest`." },
	[FEDC_CMD_SCALAR] = { "scalar", TO_RESEARCHER,
			      { FROM_NODE, REQ(JOB_ID), REQ(ROUND), REQ(NAME), REQ(VALUE), REQ(ITERATION),
				REQ(EPOCH) },
			      "A metric streamed while a round trains (throttled by the node); "
			      "`request_id` is the train request's." },
	[FEDC_CMD_ERROR] = { "error", TO_RESEARCHER,
			     { FROM_NODE, REQ(ERROR_CODE), REQ(MESSAGE), OPT(JOB_ID), OPT(ROUND) },
			     "Answers any request the node could not serve, including one that failed "
			     "validation when its `researcher_id` and `request_id` could be read; "
			     "`job_id` and `round` are set when it answers `train`." },
	[FEDC_CMD_STATUS] = { "status",
			      "node → `fedc/<fed>/status/<node_id>`, retained; `offline` is also the node's last will",
			      { BASE_FIELDS, REQ(NODE_ID), REQ(STATE), CAPS_FIELDS },
			      "A node's liveness; `request_id` is fresh for each one. Researchers subscribe to "
			      "`fedc/<fed>/status/+`." },
	[FEDC_CMD_SECAGG] = { "secagg", "researcher → one node (`fedc/<fed>/node/<node_id>`)",
			      { FROM_RESEARCHER, REQ(JOB_ID), REQ(ROUND), REQ(SECAGG_STEP), REQ(SECAGG_DATA) },
			      "A step of a round's secure aggregation, to one node: the signed keys of "
			      "the others (`keyset`), the encrypted shares sent to it (`shares`), the "
			      "survivors whose shares are wanted (`unmask`), or the end of its part "
			      "(`abort`). docs/privacy.md describes the steps and `data`." },
	[FEDC_CMD_SECAGG_REPLY] = { "secagg-reply", TO_RESEARCHER,
				    { FROM_NODE, REQ(JOB_ID), REQ(ROUND), REQ(SECAGG_STEP), REQ(SECAGG_DATA) },
				    "A node's part of a secure-aggregation step: its signed keys "
				    "(`keys`, answering `train`), its encrypted shares (`shares`, "
				    "answering `keyset`), the shares asked for (`unmask`)." },
	[FEDC_CMD_ANALYTICS] = { "analytics", TO_NODES, { FROM_RESEARCHER, REQ(TAGS), REQ(ANALYTICS_QUERY) },
				 "Statistics of the node's CSV dataset carrying all `tags` (the first registered "
				 "when several do), computed by the node itself under its [analytics] policy: no "
				 "plan runs. Answered by `analytics-reply`, or `error` (a bad query, a policy or "
				 "budget refusal) whose message says what to change." },
	[FEDC_CMD_ANALYTICS_REPLY] = { "analytics-reply", TO_RESEARCHER,
				       { FROM_NODE, REQ(DATASET_ID), REQ(ANALYTICS_RESULT) },
				       "Answers `analytics`: the partial results of one dataset, which the "
				       "researcher combines exactly over the nodes." },
};

static bool cmd_valid(enum fedc_cmd cmd)
{
	return cmd > FEDC_CMD_NONE && cmd < FEDC_CMD__COUNT;
}

/* ---- small public helpers ---- */

const char *fedc_cmd_name(enum fedc_cmd cmd)
{
	return cmd_valid(cmd) ? message__cmds[cmd].name : NULL;
}

bool fedc_cmd_from_node(enum fedc_cmd cmd)
{
	return cmd_valid(cmd) && message__cmds[cmd].use[FEDC_F_NODE_ID] == USE_REQUIRED;
}

/* Compares lengths before contents: "ping" must not match "pingx". */
static enum fedc_cmd cmd_lookup(const char *name, size_t len)
{
	for (int c = FEDC_CMD_NONE + 1; c < FEDC_CMD__COUNT; c++)
		if (strlen(message__cmds[c].name) == len && memcmp(message__cmds[c].name, name, len) == 0)
			return (enum fedc_cmd)c;
	return FEDC_CMD_NONE;
}

enum fedc_cmd fedc_cmd_parse(const char *name)
{
	return name ? cmd_lookup(name, strlen(name)) : FEDC_CMD_NONE;
}

struct fedc_msg *fedc_msg_new(enum fedc_cmd cmd)
{
	struct fedc_msg *msg;

	if (!cmd_valid(cmd))
		return NULL;
	msg = calloc(1, sizeof(*msg));
	if (!msg)
		return NULL;
	msg->protocol_version = FEDC_PROTOCOL_VERSION;
	msg->command = cmd;
	fedc_uuid_new(msg->request_id);
	fedc_msg_set(msg, FEDC_F_PROTOCOL_VERSION);
	fedc_msg_set(msg, FEDC_F_COMMAND);
	fedc_msg_set(msg, FEDC_F_REQUEST_ID);
	return msg;
}

/* Frees the params if the message owns them, and forgets them. */
static void drop_params(struct fedc_msg *msg)
{
	if (!msg->params_borrowed)
		free(msg->params);
	msg->params = NULL;
	msg->params_len = 0;
	msg->params_borrowed = false;
}

void fedc_msg_clear(struct fedc_msg *msg)
{
	free(msg->datasets);
	free(msg->secagg_data);
	free(msg->analytics_result);
	free(msg->assess_result);
	drop_params(msg);
	free(msg->session_kx);
	fedc_session_wipe(&msg->session);
	memset(msg, 0, sizeof(*msg));
}

void fedc_msg_free(struct fedc_msg *msg)
{
	if (!msg)
		return;
	free(msg->datasets);
	free(msg->secagg_data);
	free(msg->analytics_result);
	free(msg->assess_result);
	drop_params(msg);
	free(msg->session_kx);
	fedc_session_wipe(&msg->session);
	free(msg);
}

enum fedc_err fedc_msg_set_secagg_data(struct fedc_msg *msg, const void *data, size_t len)
{
	uint8_t *copy;

	if (len > FEDC_MAX_SECAGG_DATA)
		return fedc_fail(FEDC_ERR_TOO_BIG, "%zu bytes of secure-aggregation data: a message holds at most %u",
				 len, FEDC_MAX_SECAGG_DATA);
	copy = malloc(len ? len : 1);
	if (!copy)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for %zu bytes of secure-aggregation data", len);
	if (len)
		memcpy(copy, data, len);
	free(msg->secagg_data);
	msg->secagg_data = copy;
	msg->secagg_data_len = (uint32_t)len;
	fedc_msg_set(msg, FEDC_F_SECAGG_DATA);
	return FEDC_OK;
}

enum fedc_err fedc_msg_set_session_kx(struct fedc_msg *msg, const uint8_t kx[FEDC_SESSION_KX_BYTES])
{
	uint8_t *copy = malloc(FEDC_SESSION_KX_BYTES);

	if (!copy)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for a session key");
	memcpy(copy, kx, FEDC_SESSION_KX_BYTES);
	free(msg->session_kx);
	msg->session_kx = copy;
	msg->session_kx_len = FEDC_SESSION_KX_BYTES;
	fedc_msg_set(msg, FEDC_F_SESSION_KX);
	return FEDC_OK;
}

enum fedc_err fedc_msg_set_params(struct fedc_msg *msg, const void *data, size_t len)
{
	uint8_t *copy;

	if (len > FEDC_MAX_INLINE_PARAMS)
		return fedc_fail(FEDC_ERR_TOO_BIG, "a parameter file of %zu bytes: a message carries at most %u inline",
				 len, FEDC_MAX_INLINE_PARAMS);
	copy = malloc(len ? len : 1);
	if (!copy)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for %zu bytes of parameters", len);
	if (len)
		memcpy(copy, data, len);
	drop_params(msg);
	msg->params = copy;
	msg->params_len = (uint32_t)len;
	fedc_msg_set(msg, FEDC_F_PARAMS);
	return FEDC_OK;
}

enum fedc_err fedc_msg_borrow_params(struct fedc_msg *msg, const void *data, size_t len)
{
	if (len > FEDC_MAX_INLINE_PARAMS)
		return fedc_fail(FEDC_ERR_TOO_BIG, "a parameter file of %zu bytes: a message carries at most %u inline",
				 len, FEDC_MAX_INLINE_PARAMS);
	drop_params(msg);
	msg->params = (uint8_t *)(uintptr_t)data; /* never written through, never freed: params_borrowed */
	msg->params_len = (uint32_t)len;
	msg->params_borrowed = true;
	fedc_msg_set(msg, FEDC_F_PARAMS);
	return FEDC_OK;
}

uint8_t *fedc_msg_take_params(struct fedc_msg *msg, size_t *len)
{
	uint8_t *p = fedc_msg_has(msg, FEDC_F_PARAMS) ? msg->params : NULL;

	*len = p ? msg->params_len : 0;
	if (p && msg->params_borrowed) { /* the caller gets bytes of its own */
		p = malloc(*len ? *len : 1);
		if (p && *len)
			memcpy(p, msg->params, *len);
		*len = p ? *len : 0;
	} else if (p) {
		msg->params = NULL; /* handed over */
	}
	drop_params(msg);
	fedc_msg_unset(msg, FEDC_F_PARAMS);
	return p;
}

enum fedc_err fedc_msg_set_analytics_result(struct fedc_msg *msg, const void *data, size_t len)
{
	uint8_t *copy;

	if (len > FEDC_MAX_ANALYTICS_RESULT)
		return fedc_fail(FEDC_ERR_TOO_BIG, "%zu bytes of analytics results: a message holds at most %u (ask for "
				 "fewer columns, groups or bins)", len, FEDC_MAX_ANALYTICS_RESULT);
	copy = malloc(len ? len : 1);
	if (!copy)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for %zu bytes of analytics results", len);
	if (len)
		memcpy(copy, data, len);
	free(msg->analytics_result);
	msg->analytics_result = copy;
	msg->analytics_result_len = (uint32_t)len;
	fedc_msg_set(msg, FEDC_F_ANALYTICS_RESULT);
	return FEDC_OK;
}

enum fedc_err fedc_msg_set_assess_result(struct fedc_msg *msg, const void *data, size_t len)
{
	uint8_t *copy;

	if (len > FEDC_MAX_ASSESS_RESULT)
		return fedc_fail(FEDC_ERR_TOO_BIG, "%zu bytes of assessment results: a message holds at most %u (ask for "
				 "fewer bins)", len, FEDC_MAX_ASSESS_RESULT);
	copy = malloc(len ? len : 1);
	if (!copy)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for %zu bytes of assessment results", len);
	if (len)
		memcpy(copy, data, len);
	free(msg->assess_result);
	msg->assess_result = copy;
	msg->assess_result_len = (uint32_t)len;
	fedc_msg_set(msg, FEDC_F_ASSESS_RESULT);
	return FEDC_OK;
}

enum fedc_err fedc_msg_datasets_alloc(struct fedc_msg *msg, uint32_t n)
{
	struct fedc_msg_dataset *ds;

	if (n > FEDC_MAX_DATASETS)
		return fedc_fail(FEDC_ERR_TOO_BIG, "%u datasets: a message holds at most %d", n, FEDC_MAX_DATASETS);
	ds = calloc(n ? n : 1, sizeof(*ds));
	if (!ds)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for %u datasets", n);
	free(msg->datasets);
	msg->datasets = ds;
	msg->n_datasets = n;
	return FEDC_OK;
}

void fedc_msg_set(struct fedc_msg *msg, enum fedc_field field)
{
	if ((unsigned)field < FEDC_F__COUNT)
		msg->present[field / 64] |= 1ull << (field % 64);
}

void fedc_msg_unset(struct fedc_msg *msg, enum fedc_field field)
{
	if ((unsigned)field < FEDC_F__COUNT)
		msg->present[field / 64] &= ~(1ull << (field % 64));
}

bool fedc_msg_has(const struct fedc_msg *msg, enum fedc_field field)
{
	return (unsigned)field < FEDC_F__COUNT && (msg->present[field / 64] >> (field % 64) & 1u);
}

/* A node id that does not fit is left unset: encoding then fails naming it. */
struct fedc_msg *fedc_msg_reply(const struct fedc_msg *request, enum fedc_cmd cmd, const char *node_id)
{
	struct fedc_msg *reply = fedc_msg_new(cmd);

	if (!reply)
		return NULL;
	memcpy(reply->request_id, request->request_id, sizeof(reply->request_id));
	reply->request_id[FEDC_UUID_STRLEN] = '\0';
	if (fedc_msg_has(request, FEDC_F_RESEARCHER_ID)) {
		memcpy(reply->researcher_id, request->researcher_id, sizeof(reply->researcher_id));
		reply->researcher_id[FEDC_MAX_ID_LEN] = '\0';
		fedc_msg_set(reply, FEDC_F_RESEARCHER_ID);
	}
	if (node_id && strlen(node_id) < sizeof(reply->node_id)) {
		memcpy(reply->node_id, node_id, strlen(node_id) + 1);
		fedc_msg_set(reply, FEDC_F_NODE_ID);
	}
	return reply;
}

/* Adding a name already in the list replaces its value: the wire form is a
 * map, whose keys must be unique. Non-finite values are refused (INVAL) like
 * everywhere in the protocol, so a diverged loss is dropped, not the reply. */
enum fedc_err fedc_msg_kv_add(struct fedc_msg_kv *list, uint32_t *count, uint32_t max, const char *name,
			      double value)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len > FEDC_MAX_NAME_LEN)
		return fedc_fail(FEDC_ERR_INVAL, "metric or argument name must be 1..%d bytes",
				 FEDC_MAX_NAME_LEN);
	if (!isfinite(value))
		return fedc_fail(FEDC_ERR_INVAL, "\"%s\": value is not a finite number", name);
	for (uint32_t i = 0; i < *count; i++) {
		if (strcmp(list[i].name, name) == 0) {
			list[i].value = value;
			return FEDC_OK;
		}
	}
	if (*count >= max)
		return fedc_fail(FEDC_ERR_TOO_BIG, "\"%s\": list is full (%" PRIu32 " entries)", name, max);
	memcpy(list[*count].name, name, len + 1);
	list[*count].value = value;
	(*count)++;
	return FEDC_OK;
}

bool fedc_msg_kv_get(const struct fedc_msg_kv *list, uint32_t count, const char *name, double *value)
{
	for (uint32_t i = 0; i < count; i++) {
		if (strcmp(list[i].name, name) == 0) {
			if (value)
				*value = list[i].value;
			return true;
		}
	}
	return false;
}

/* ---- value validation, shared by encode (INVAL) and decode (MALFORMED) ---- */

static enum fedc_err field_fail(enum fedc_err code, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum fedc_err field_fail(enum fedc_err code, const char *path, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return fedc_fail(code, "field \"%s\": %s", path, why);
}

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool choice_valid(const char *s, const char *const *choices)
{
	for (size_t i = 0; choices[i]; i++)
		if (strcmp(s, choices[i]) == 0)
			return true;
	return false;
}

/* Returns what is wrong with `s` (already NUL-terminated within its array),
 * or NULL if it is acceptable. */
static const char *string_problem(enum fcheck check, const char *s, const char *const *choices)
{
	size_t len = strlen(s);

	switch (check) {
	case CK_TEXT:
		return NULL;
	case CK_UUID:
		return fedc_uuid_valid(s) ? NULL : "not a UUID (8-4-4-4-12 hex digits)";
	case CK_SHA256:
		return fedc_hex_valid(s, FEDC_SHA256_HEXLEN) ? NULL : "not 64 lower-case hex digits";
	case CK_DIGEST:
		return fedc_hex_valid(s, FEDC_SHA256_HEXLEN) || fedc_hex_valid(s, FEDC_HASH_MAX_HEXLEN)
			       ? NULL
			       : "not 64 or 128 lower-case hex digits";
	case CK_CHOICE:
		return choice_valid(s, choices) ? NULL : "not one of the allowed values";
	case CK_ID:
		return fedc_id_valid(s) ? NULL : "not an id (1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.' or '-')";
	default:
		break;
	}
	if (len == 0)
		return "empty";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (check == CK_TOKEN && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
					   c == '_' || c == '-'))
			return "holds a character outside a-z 0-9 . _ -";
		if (is_control(c))
			return "holds a control character";
	}
	return NULL;
}

/* Strings handed to the encoder may not be terminated; decoded ones are. */
static enum fedc_err check_string(const char *s, size_t size, enum fcheck check, const char *const *choices,
				  const char *path, enum fedc_err code)
{
	const char *problem;

	if (strnlen(s, size) == size)
		return field_fail(code, path, "not NUL-terminated within %zu bytes", size);
	problem = string_problem(check, s, choices);
	if (problem)
		return field_fail(code, path, "%s", problem);
	return FEDC_OK;
}

static uint64_t load_uint(const struct field_spec *f, const void *base)
{
	const char *p = (const char *)base + f->off;

	return f->size == sizeof(uint32_t) ? *(const uint32_t *)p : *(const uint64_t *)p;
}

static void store_uint(const struct field_spec *f, void *base, uint64_t v)
{
	char *p = (char *)base + f->off;

	if (f->size == sizeof(uint32_t))
		*(uint32_t *)p = (uint32_t)v; /* range-checked by the caller */
	else
		*(uint64_t *)p = v;
}

static enum fedc_err check_uint_range(const struct field_spec *f, uint64_t v, const char *path,
				      enum fedc_err code)
{
	if (f->umin == f->umax && v != f->umin)
		return field_fail(code, path, "must be %" PRIu64 ", got %" PRIu64, f->umin, v);
	if (v < f->umin || v > f->umax)
		return field_fail(code, path, "%" PRIu64 " is outside %" PRIu64 "..%" PRIu64, v, f->umin, f->umax);
	return FEDC_OK;
}

static enum fedc_err check_double(const struct field_spec *f, double v, const char *path, enum fedc_err code)
{
	if (!isfinite(v))
		return field_fail(code, path, "not a finite number");
	if (v < f->dmin)
		return field_fail(code, path, "%g is below %g", v, f->dmin);
	if (f->dmax_open ? v >= f->dmax : v > f->dmax)
		return field_fail(code, path, "%g is %s %g", v, f->dmax_open ? "not below" : "above", f->dmax);
	return FEDC_OK;
}

static uint32_t load_count(const struct field_spec *f, const void *base)
{
	return *(const uint32_t *)((const char *)base + f->count_off);
}

static enum fedc_err check_count(const struct field_spec *f, uint32_t n, const char *path, enum fedc_err code)
{
	if (n < f->min_items || n > f->max_items)
		return field_fail(code, path, "%" PRIu32 " entries, expected %" PRIu32 "..%" PRIu32, n,
				  f->min_items, f->max_items);
	return FEDC_OK;
}

static enum fedc_err check_tags(const struct field_spec *f, const void *base, const char *path, enum fedc_err code)
{
	const char *tags = (const char *)base + f->off;
	uint32_t n = load_count(f, base);
	char sub[MSG_PATH_LEN];
	enum fedc_err rc = check_count(f, n, path, code);

	for (uint32_t i = 0; rc == FEDC_OK && i < n; i++) {
		snprintf(sub, sizeof(sub), "%s[%" PRIu32 "]", path, i);
		rc = check_string(tags + (size_t)i * f->size, f->size, f->check, NULL, sub, code);
	}
	return rc;
}

static enum fedc_err check_kvs(const struct field_spec *f, const void *base, const char *path, enum fedc_err code)
{
	const struct fedc_msg_kv *kv = (const struct fedc_msg_kv *)((const char *)base + f->off);
	uint32_t n = load_count(f, base);
	char sub[MSG_PATH_LEN];
	enum fedc_err rc = check_count(f, n, path, code);

	for (uint32_t i = 0; rc == FEDC_OK && i < n; i++) {
		snprintf(sub, sizeof(sub), "%s[%" PRIu32 "]", path, i);
		rc = check_string(kv[i].name, sizeof(kv[i].name), f->check, NULL, sub, code);
		if (rc)
			break;
		snprintf(sub, sizeof(sub), "%s.%s", path, kv[i].name);
		rc = check_double(&message__fields[FEDC_F_VALUE], kv[i].value, sub, code);
		for (uint32_t j = 0; rc == FEDC_OK && j < i; j++)
			if (strcmp(kv[i].name, kv[j].name) == 0)
				rc = field_fail(code, sub, "duplicate name");
	}
	return rc;
}

static enum fedc_err check_field(const struct field_spec *f, const void *base, const char *path,
				 enum fedc_err code);

/* An optional key of a dataset entry that is not there: an empty string. */
static bool dataset_field_absent(const struct field_spec *f, const struct fedc_msg_dataset *ds)
{
	return f->optional && f->type == FT_STR && ((const char *)ds + f->off)[0] == '\0';
}

static enum fedc_err check_datasets(const struct field_spec *f, const void *base, const char *path,
				    enum fedc_err code)
{
	const struct fedc_msg_dataset *ds = ((const struct fedc_msg *)base)->datasets;
	uint32_t n = load_count(f, base);
	char sub[MSG_PATH_LEN];
	enum fedc_err rc = check_count(f, n, path, code);

	if (rc == FEDC_OK && n > 0 && !ds)
		rc = field_fail(code, path, "%" PRIu32 " entries counted, none allocated (fedc_msg_datasets_alloc)", n);
	for (uint32_t i = 0; rc == FEDC_OK && i < n; i++) {
		for (size_t k = 0; rc == FEDC_OK && k < N_DATASET_FIELDS; k++) {
			if (dataset_field_absent(&message__dataset_fields[k], &ds[i]))
				continue;
			snprintf(sub, sizeof(sub), "%s[%" PRIu32 "].%s", path, i, message__dataset_fields[k].name);
			rc = check_field(&message__dataset_fields[k], &ds[i], sub, code);
		}
	}
	return rc;
}

/* Validates the value of `f` stored in `base` (a struct fedc_msg or a
 * struct fedc_msg_dataset). `code` is what a violation returns. */
static enum fedc_err check_field(const struct field_spec *f, const void *base, const char *path,
				 enum fedc_err code)
{
	const char *p = (const char *)base + f->off;

	switch (f->type) {
	case FT_UINT:
		return check_uint_range(f, load_uint(f, base), path, code);
	case FT_DOUBLE:
		return check_double(f, *(const double *)p, path, code);
	case FT_BOOL:
		return FEDC_OK;
	case FT_STR:
		return check_string(p, f->size, f->check, f->choices, path, code);
	case FT_CMD:
		return cmd_valid(*(const enum fedc_cmd *)p) ? FEDC_OK : field_fail(code, path, "unknown command");
	case FT_TAGS:
		return check_tags(f, base, path, code);
	case FT_KVS:
		return check_kvs(f, base, path, code);
	case FT_DATASETS:
		return check_datasets(f, base, path, code);
	case FT_BIN:
		if (load_count(f, base) > f->max_items)
			return field_fail(code, path, "%" PRIu32 " bytes, at most %" PRIu32 " allowed",
					  load_count(f, base), f->max_items);
		if (load_count(f, base) > 0 && !*(uint8_t *const *)p)
			return field_fail(code, path, "bytes counted, none allocated");
		return FEDC_OK;
	}
	return field_fail(code, path, "no such field type");
}

/* Rules that tie fields together (also written in the commands' docs). */
/* The fields `needs` that a train must carry when `why` holds. */
static enum fedc_err check_needs(const struct fedc_msg *msg, const enum fedc_field *needs, size_t n, const char *why,
				 enum fedc_err code)
{
	for (size_t i = 0; i < n; i++)
		if (!fedc_msg_has(msg, needs[i]))
			return field_fail(code, message__fields[needs[i]].name, "missing (required when %s)", why);
	return FEDC_OK;
}

static enum fedc_err check_cross(const struct fedc_msg *msg, enum fedc_err code)
{
	static const enum fedc_field secagg_needs[] = { FEDC_F_SECAGG_SCALE_BITS, FEDC_F_SECAGG_VALUE_MAX,
							FEDC_F_SECAGG_WEIGHT_MAX, FEDC_F_SECAGG_THRESHOLD,
							FEDC_F_SECAGG_NEIGHBOURS };
	static const enum fedc_field dp_needs[] = { FEDC_F_DP_CLIP, FEDC_F_DP_DELTA, FEDC_F_DP_PARTIES };
	bool evaluate_only = fedc_msg_has(msg, FEDC_F_EVALUATE_ONLY) && msg->evaluate_only;
	enum fedc_err rc = FEDC_OK;

	if (msg->command == FEDC_CMD_TRAIN_REPLY && fedc_msg_has(msg, FEDC_F_PARAMS) &&
	    !fedc_msg_has(msg, FEDC_F_PARAMS_DIGEST))
		return field_fail(code, "params", "only with params_digest (the digest it is checked against)");
	if (fedc_msg_has(msg, FEDC_F_SESSION_KX) && msg->session_kx_len != FEDC_SESSION_KX_BYTES)
		return field_fail(code, "session_kx", "must be %u bytes (an X25519 public key)", FEDC_SESSION_KX_BYTES);
	if (msg->command != FEDC_CMD_TRAIN)
		return FEDC_OK;
	if (!evaluate_only && msg->epochs == 0 && msg->num_updates == 0)
		return field_fail(code, "epochs", "epochs or num_updates must be > 0 unless evaluate_only is true");
	if (fedc_msg_has(msg, FEDC_F_SECAGG) && msg->secagg)
		rc = check_needs(msg, secagg_needs, sizeof(secagg_needs) / sizeof(secagg_needs[0]),
				 "secure_aggregation is true", code);
	if (!rc && fedc_msg_has(msg, FEDC_F_SECAGG_RING_BITS) && msg->secagg_ring_bits != 32 &&
	    msg->secagg_ring_bits != 64)
		rc = field_fail(code, "secagg_ring_bits", "must be 32 or 64");
	if (!rc && fedc_msg_has(msg, FEDC_F_ASSESS) && !evaluate_only)
		rc = field_fail(code, "assess", "only with evaluate_only true (an assessment trains nothing)");
	if (!rc && fedc_msg_has(msg, FEDC_F_ASSESS_ARGS) && !fedc_msg_has(msg, FEDC_F_ASSESS))
		rc = field_fail(code, "assess_args", "only with assess");
	if (!rc && fedc_msg_has(msg, FEDC_F_DP_NOISE) && msg->dp_noise > 0) {
		rc = check_needs(msg, dp_needs, sizeof(dp_needs) / sizeof(dp_needs[0]), "dp_noise > 0", code);
		if (!rc && msg->dp_delta <= 0)
			rc = field_fail(code, "dp_delta", "must be > 0 when dp_noise > 0");
	}
	return rc;
}

/* Every required field present, nothing the command does not carry, every
 * present value within bounds. */
static enum fedc_err check_message(const struct fedc_msg *msg, enum fedc_err code)
{
	const struct cmd_spec *c;
	enum fedc_err rc = FEDC_OK;

	if (!cmd_valid(msg->command))
		return fedc_fail(code, "field \"command\": unknown command %d", (int)msg->command);
	c = &message__cmds[msg->command];
	for (int i = 0; rc == FEDC_OK && i < FEDC_F__COUNT; i++) {
		if (!fedc_msg_has(msg, (enum fedc_field)i)) {
			if (c->use[i] == USE_REQUIRED)
				rc = field_fail(code, message__fields[i].name, "missing (required in \"%s\")", c->name);
			continue;
		}
		if (c->use[i] == USE_NONE)
			rc = field_fail(code, message__fields[i].name, "not allowed in \"%s\"", c->name);
		else
			rc = check_field(&message__fields[i], msg, message__fields[i].name, code);
	}
	if (rc == FEDC_OK)
		rc = check_cross(msg, code);
	return rc;
}

/* ---- encoding ---- */

static int pack_cstr(msgpack_packer *pk, const char *s)
{
	size_t len = strlen(s);

	if (msgpack_pack_str(pk, len))
		return -1;
	return msgpack_pack_str_body(pk, s, len);
}

static int pack_value(msgpack_packer *pk, const struct field_spec *f, const void *base);

static int pack_dataset(msgpack_packer *pk, const struct fedc_msg_dataset *ds)
{
	uint32_t present = 0;
	int r;

	for (size_t k = 0; k < N_DATASET_FIELDS; k++)
		present += !dataset_field_absent(&message__dataset_fields[k], ds);
	r = msgpack_pack_map(pk, present);
	for (size_t k = 0; r == 0 && k < N_DATASET_FIELDS; k++) {
		if (dataset_field_absent(&message__dataset_fields[k], ds))
			continue;
		r = pack_cstr(pk, message__dataset_fields[k].name);
		if (r == 0)
			r = pack_value(pk, &message__dataset_fields[k], ds);
	}
	return r;
}

static int pack_list(msgpack_packer *pk, const struct field_spec *f, const void *base)
{
	const char *p = (const char *)base + f->off;
	uint32_t n = load_count(f, base);
	int r;

	if (f->type == FT_KVS) {
		const struct fedc_msg_kv *kv = (const struct fedc_msg_kv *)p;

		r = msgpack_pack_map(pk, n);
		for (uint32_t i = 0; r == 0 && i < n; i++) {
			r = pack_cstr(pk, kv[i].name);
			if (r == 0)
				r = msgpack_pack_double(pk, kv[i].value);
		}
		return r;
	}
	r = msgpack_pack_array(pk, n);
	for (uint32_t i = 0; r == 0 && i < n; i++)
		r = f->type == FT_TAGS ? pack_cstr(pk, p + (size_t)i * f->size)
				       : pack_dataset(pk, &((const struct fedc_msg *)base)->datasets[i]);
	return r;
}

/* Returns msgpack's 0 / -1 (out of memory in the sbuffer). */
static int pack_value(msgpack_packer *pk, const struct field_spec *f, const void *base)
{
	const char *p = (const char *)base + f->off;

	switch (f->type) {
	case FT_UINT:
		return msgpack_pack_uint64(pk, load_uint(f, base));
	case FT_DOUBLE:
		return msgpack_pack_double(pk, *(const double *)p);
	case FT_BOOL:
		return *(const bool *)p ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	case FT_STR:
		return pack_cstr(pk, p);
	case FT_CMD:
		return pack_cstr(pk, message__cmds[*(const enum fedc_cmd *)p].name);
	case FT_TAGS:
	case FT_KVS:
	case FT_DATASETS:
		return pack_list(pk, f, base);
	case FT_BIN:
		if (msgpack_pack_bin(pk, load_count(f, base)))
			return -1;
		return msgpack_pack_bin_body(pk, *(uint8_t *const *)p, load_count(f, base));
	}
	return -1;
}

static enum fedc_err pack_message(msgpack_packer *pk, const struct fedc_msg *msg, bool with_params)
{
	uint32_t n = 0;
	int r;

	for (int i = 0; i < FEDC_F__COUNT; i++)
		n += fedc_msg_has(msg, (enum fedc_field)i) && (with_params || i != FEDC_F_PARAMS);
	r = msgpack_pack_map(pk, n);
	for (int i = 0; r == 0 && i < FEDC_F__COUNT; i++) {
		if (!fedc_msg_has(msg, (enum fedc_field)i) || (!with_params && i == FEDC_F_PARAMS))
			continue;
		r = pack_cstr(pk, message__fields[i].name);
		if (r == 0)
			r = pack_value(pk, &message__fields[i], msg);
	}
	return r == 0 ? FEDC_OK : fedc_fail(FEDC_ERR_NOMEM, "out of memory while encoding");
}

static enum fedc_err encode(const struct fedc_msg *msg, bool with_params, void **buf, size_t *len)
{
	msgpack_sbuffer sbuf;
	msgpack_packer pk;
	enum fedc_err rc;

	msgpack_sbuffer_init(&sbuf);
	if (!msg || !buf || !len) {
		rc = fedc_fail(FEDC_ERR_INVAL, "fedc_msg_encode: NULL argument");
		goto out;
	}
	*buf = NULL;
	*len = 0;
	rc = check_message(msg, FEDC_ERR_INVAL);
	if (rc)
		goto out;
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	rc = pack_message(&pk, msg, with_params);
	if (rc)
		goto out;
	if (sbuf.size > FEDC_MAX_MESSAGE_BYTES) {
		rc = fedc_fail(FEDC_ERR_TOO_BIG, "%s message of %zu bytes exceeds the %u-byte limit",
			       message__cmds[msg->command].name, sbuf.size, FEDC_MAX_MESSAGE_BYTES);
		goto out;
	}
	*buf = sbuf.data; /* malloc'd by the sbuffer: the caller frees it */
	*len = sbuf.size;
	sbuf.data = NULL;
out:
	msgpack_sbuffer_destroy(&sbuf);
	return rc;
}

enum fedc_err fedc_msg_encode(const struct fedc_msg *msg, void **buf, size_t *len)
{
	return encode(msg, true, buf, len);
}

enum fedc_err fedc_msg_encode_without_params(const struct fedc_msg *msg, void **buf, size_t *len)
{
	return encode(msg, false, buf, len);
}

/* ---- step 1: structural scan of untrusted bytes ---- */

enum fedc_err fedc_msgpack_check(const void *buf, size_t len)
{
	return fedc_mp_check(buf, len, FEDC_MSGPACK_MAX_DEPTH);
}

/* ---- step 3: the schema walk over the unpacked object ---- */

static const char *type_name(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return "nil";
	case MSGPACK_OBJECT_BOOLEAN: return "boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER: return "unsigned integer";
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative integer";
	case MSGPACK_OBJECT_FLOAT32: return "float32";
	case MSGPACK_OBJECT_FLOAT64: return "float64";
	case MSGPACK_OBJECT_STR: return "string";
	case MSGPACK_OBJECT_BIN: return "binary";
	case MSGPACK_OBJECT_ARRAY: return "array";
	case MSGPACK_OBJECT_MAP: return "map";
	case MSGPACK_OBJECT_EXT: return "ext";
	}
	return "unknown type";
}

static enum fedc_err wrong_type(const char *path, const char *expected, const msgpack_object *o)
{
	return field_fail(FEDC_ERR_MALFORMED, path, "expected %s, got %s", expected, type_name(o));
}

/* A peer's key, printable and short, for error details. */
static void show_key(const msgpack_object_str *k, char *out, size_t cap)
{
	size_t n = k->size < cap - 1 ? k->size : cap - 1;

	for (size_t i = 0; i < n; i++)
		out[i] = is_control((unsigned char)k->ptr[i]) || (unsigned char)k->ptr[i] >= 0x80 ||
				 k->ptr[i] == '"' ? '?' : k->ptr[i];
	out[n] = '\0';
}

static bool key_is(const msgpack_object_str *k, const char *name)
{
	size_t len = strlen(name);

	return k->size == len && memcmp(k->ptr, name, len) == 0;
}

/* Index of the field named `k` in `table`, or -1. */
static int field_index(const struct field_spec *table, size_t count, const msgpack_object_str *k)
{
	for (size_t i = 0; i < count; i++)
		if (key_is(k, table[i].name))
			return (int)i;
	return -1;
}

/* Copies a msgpack str into char[size] after checking its length and that it
 * holds no NUL (which would silently cut it). */
static enum fedc_err copy_str(const msgpack_object *o, char *dst, size_t size, const char *path)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return wrong_type(path, "string", o);
	if (o->via.str.size >= size)
		return field_fail(FEDC_ERR_MALFORMED, path, "string of %" PRIu32 " bytes, at most %zu allowed",
				  o->via.str.size, size - 1);
	if (memchr(o->via.str.ptr, '\0', o->via.str.size))
		return field_fail(FEDC_ERR_MALFORMED, path, "string holds a NUL byte");
	memcpy(dst, o->via.str.ptr, o->via.str.size);
	dst[o->via.str.size] = '\0';
	return FEDC_OK;
}

static enum fedc_err read_double(const msgpack_object *o, double *out, const char *path)
{
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*out = (double)o->via.u64;
		return FEDC_OK;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*out = (double)o->via.i64;
		return FEDC_OK;
	case MSGPACK_OBJECT_FLOAT32: /* msgpack-c widens it into via.f64 */
	case MSGPACK_OBJECT_FLOAT64:
		*out = o->via.f64;
		return FEDC_OK;
	default:
		return wrong_type(path, "number", o);
	}
}

/* A list's element count, checked against the field's maximum before anyone
 * iterates over it. */
static enum fedc_err list_size(const struct field_spec *f, const msgpack_object *o, const char *path,
			       uint32_t *n)
{
	bool is_map = f->type == FT_KVS;

	if (o->type != (is_map ? MSGPACK_OBJECT_MAP : MSGPACK_OBJECT_ARRAY))
		return wrong_type(path, is_map ? "map" : "array", o);
	*n = is_map ? o->via.map.size : o->via.array.size;
	if (*n > f->max_items)
		return field_fail(FEDC_ERR_MALFORMED, path, "%" PRIu32 " entries, at most %" PRIu32 " allowed",
				  *n, f->max_items);
	return FEDC_OK;
}

static enum fedc_err decode_value(const struct field_spec *f, const msgpack_object *o, void *base,
				  const char *path);

static enum fedc_err decode_tags(const struct field_spec *f, const msgpack_object *o, void *base,
				 const char *path)
{
	char *tags = (char *)base + f->off;
	char sub[MSG_PATH_LEN];
	uint32_t n;
	enum fedc_err rc = list_size(f, o, path, &n);

	for (uint32_t i = 0; rc == FEDC_OK && i < n; i++) {
		snprintf(sub, sizeof(sub), "%s[%" PRIu32 "]", path, i);
		rc = copy_str(&o->via.array.ptr[i], tags + (size_t)i * f->size, f->size, sub);
	}
	if (rc == FEDC_OK)
		*(uint32_t *)((char *)base + f->count_off) = n;
	return rc;
}

static enum fedc_err decode_kvs(const struct field_spec *f, const msgpack_object *o, void *base,
				const char *path)
{
	struct fedc_msg_kv *kv = (struct fedc_msg_kv *)((char *)base + f->off);
	char sub[MSG_PATH_LEN];
	uint32_t n;
	enum fedc_err rc = list_size(f, o, path, &n);

	for (uint32_t i = 0; rc == FEDC_OK && i < n; i++) {
		const msgpack_object_kv *e = &o->via.map.ptr[i];

		snprintf(sub, sizeof(sub), "%s[%" PRIu32 "]", path, i);
		rc = copy_str(&e->key, kv[i].name, sizeof(kv[i].name), sub);
		if (rc)
			break;
		snprintf(sub, sizeof(sub), "%s.%s", path, kv[i].name);
		rc = read_double(&e->val, &kv[i].value, sub);
	}
	if (rc == FEDC_OK)
		*(uint32_t *)((char *)base + f->count_off) = n;
	return rc;
}

/* One dataset map: only known keys, each once, all of them. */
/* Field paths are for people: a path too long for the buffer is cut, never
 * overflowed (the return value is checked, which also tells GCC so). */
static void join_path(char *dst, size_t cap, const char *a, const char *b)
{
	if ((size_t)snprintf(dst, cap, "%s.%s", a, b) >= cap)
		dst[cap - 1] = '\0';
}

static enum fedc_err decode_dataset(const msgpack_object *o, struct fedc_msg_dataset *ds, const char *path)
{
	char sub[MSG_PATH_LEN], key[MSG_KEY_SHOWN + 1];
	uint32_t seen = 0;
	enum fedc_err rc = FEDC_OK;

	if (o->type != MSGPACK_OBJECT_MAP)
		return wrong_type(path, "map", o);
	if (o->via.map.size > N_DATASET_FIELDS)
		return field_fail(FEDC_ERR_MALFORMED, path, "%" PRIu32 " entries, a dataset has %zu fields",
				  o->via.map.size, N_DATASET_FIELDS);
	for (uint32_t i = 0; rc == FEDC_OK && i < o->via.map.size; i++) {
		const msgpack_object_kv *e = &o->via.map.ptr[i];
		int k;

		if (e->key.type != MSGPACK_OBJECT_STR)
			return field_fail(FEDC_ERR_MALFORMED, path, "key #%" PRIu32 " is not a string (got %s)", i,
					  type_name(&e->key));
		k = field_index(message__dataset_fields, N_DATASET_FIELDS, &e->key.via.str);
		show_key(&e->key.via.str, key, sizeof(key));
		join_path(sub, sizeof(sub), path, key);
		if (k < 0)
			return field_fail(FEDC_ERR_MALFORMED, sub, "unknown field");
		if (seen & (1u << k))
			return field_fail(FEDC_ERR_MALFORMED, sub, "duplicate key");
		seen |= 1u << k;
		rc = decode_value(&message__dataset_fields[k], &e->val, ds, sub);
	}
	for (size_t k = 0; rc == FEDC_OK && k < N_DATASET_FIELDS; k++) {
		join_path(sub, sizeof(sub), path, message__dataset_fields[k].name);
		if (!(seen & (1u << k)) && !message__dataset_fields[k].optional)
			rc = field_fail(FEDC_ERR_MALFORMED, sub, "missing");
	}
	return rc;
}

static enum fedc_err decode_datasets(const struct field_spec *f, const msgpack_object *o, void *base,
				     const char *path)
{
	struct fedc_msg *msg = base; /* datasets exist only in a message */
	char sub[MSG_PATH_LEN];
	uint32_t n;
	enum fedc_err rc = list_size(f, o, path, &n);

	/* as many entries as the (bounded, scanned) array holds, no more */
	if (rc == FEDC_OK)
		rc = fedc_msg_datasets_alloc(msg, n);
	for (uint32_t i = 0; rc == FEDC_OK && i < n; i++) {
		snprintf(sub, sizeof(sub), "%s[%" PRIu32 "]", path, i);
		rc = decode_dataset(&o->via.array.ptr[i], &msg->datasets[i], sub);
	}
	return rc;
}

static enum fedc_err decode_uint(const struct field_spec *f, const msgpack_object *o, void *base,
				 const char *path)
{
	enum fedc_err rc;

	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return wrong_type(path, "unsigned integer", o);
	rc = check_uint_range(f, o->via.u64, path, FEDC_ERR_MALFORMED);
	if (rc == FEDC_OK)
		store_uint(f, base, o->via.u64);
	return rc;
}

/* A bin field, copied out of the zone; its length is capped before the copy
 * (and was checked against the payload's bytes by fedc_msgpack_check). */
static enum fedc_err decode_bin(const struct field_spec *f, const msgpack_object *o, void *base,
				const char *path)
{
	uint8_t **dst = (uint8_t **)((char *)base + f->off);

	if (o->type != MSGPACK_OBJECT_BIN)
		return wrong_type(path, "bin", o);
	if (o->via.bin.size > f->max_items)
		return field_fail(FEDC_ERR_MALFORMED, path, "%" PRIu32 " bytes, at most %" PRIu32 " allowed",
				  o->via.bin.size, f->max_items);
	free(*dst);
	*dst = malloc(o->via.bin.size ? o->via.bin.size : 1);
	if (!*dst)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for %s", path);
	if (o->via.bin.size)
		memcpy(*dst, o->via.bin.ptr, o->via.bin.size);
	*(uint32_t *)((char *)base + f->count_off) = o->via.bin.size;
	return FEDC_OK;
}

/* Moves one value into the struct after checking its msgpack type and size;
 * bounds are checked afterwards by check_field. */
static enum fedc_err decode_value(const struct field_spec *f, const msgpack_object *o, void *base,
				  const char *path)
{
	char *p = (char *)base + f->off;

	switch (f->type) {
	case FT_UINT:
		return decode_uint(f, o, base, path);
	case FT_DOUBLE:
		return read_double(o, (double *)p, path);
	case FT_BOOL:
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return wrong_type(path, "boolean", o);
		*(bool *)p = o->via.boolean;
		return FEDC_OK;
	case FT_STR:
		return copy_str(o, p, f->size, path);
	case FT_CMD:
		return FEDC_OK; /* read first, by decode_command */
	case FT_TAGS:
		return decode_tags(f, o, base, path);
	case FT_KVS:
		return decode_kvs(f, o, base, path);
	case FT_DATASETS:
		return decode_datasets(f, o, base, path);
	case FT_BIN:
		return decode_bin(f, o, base, path);
	}
	return field_fail(FEDC_ERR_MALFORMED, path, "no such field type");
}

/* The command decides which keys are allowed, so it is read before them;
 * this pass also refuses any key that is not a string. */
static enum fedc_err decode_command(const msgpack_object *map, struct fedc_msg *msg)
{
	const msgpack_object *cmd = NULL;
	char shown[MSG_KEY_SHOWN + 1];

	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *e = &map->via.map.ptr[i];

		if (e->key.type != MSGPACK_OBJECT_STR)
			return fedc_fail(FEDC_ERR_MALFORMED, "map key #%" PRIu32 " is not a string (got %s)", i,
					 type_name(&e->key));
		if (key_is(&e->key.via.str, "command"))
			cmd = &e->val;
	}
	if (!cmd)
		return field_fail(FEDC_ERR_MALFORMED, "command", "missing");
	if (cmd->type != MSGPACK_OBJECT_STR)
		return wrong_type("command", "string", cmd);
	msg->command = cmd_lookup(cmd->via.str.ptr, cmd->via.str.size);
	if (msg->command == FEDC_CMD_NONE) {
		show_key(&cmd->via.str, shown, sizeof(shown));
		return field_fail(FEDC_ERR_MALFORMED, "command", "unknown command \"%s\"", shown);
	}
	return FEDC_OK;
}

static enum fedc_err decode_entry(const msgpack_object_kv *e, struct fedc_msg *msg)
{
	const struct cmd_spec *c = &message__cmds[msg->command];
	char key[MSG_KEY_SHOWN + 1];
	int k = field_index(message__fields, FEDC_F__COUNT, &e->key.via.str);

	if (k < 0) {
		show_key(&e->key.via.str, key, sizeof(key));
		return field_fail(FEDC_ERR_MALFORMED, key, "unknown field");
	}
	if (fedc_msg_has(msg, (enum fedc_field)k))
		return field_fail(FEDC_ERR_MALFORMED, message__fields[k].name, "duplicate key");
	if (c->use[k] == USE_NONE)
		return field_fail(FEDC_ERR_MALFORMED, message__fields[k].name, "not allowed in \"%s\"", c->name);
	fedc_msg_set(msg, (enum fedc_field)k);
	return decode_value(&message__fields[k], &e->val, msg, message__fields[k].name);
}

static enum fedc_err decode_top(const msgpack_object *o, struct fedc_msg *msg)
{
	enum fedc_err rc;

	if (o->type != MSGPACK_OBJECT_MAP)
		return fedc_fail(FEDC_ERR_MALFORMED, "message is a msgpack %s, expected a map", type_name(o));
	/* Every key is a distinct field name, so a bigger map cannot be valid. */
	if (o->via.map.size > FEDC_F__COUNT)
		return fedc_fail(FEDC_ERR_MALFORMED, "message map has %" PRIu32 " entries, at most %d fields "
				 "exist", o->via.map.size, FEDC_F__COUNT);
	rc = decode_command(o, msg);
	for (uint32_t i = 0; rc == FEDC_OK && i < o->via.map.size; i++)
		rc = decode_entry(&o->via.map.ptr[i], msg);
	if (rc == FEDC_OK)
		rc = check_message(msg, FEDC_ERR_MALFORMED);
	return rc;
}

enum fedc_err fedc_msg_decode(const void *buf, size_t len, struct fedc_msg *msg)
{
	msgpack_zone zone;
	bool zone_ready = false;
	msgpack_object obj;
	size_t off = 0;
	enum fedc_err rc;

	if (!msg || (!buf && len))
		return fedc_fail(FEDC_ERR_INVAL, "fedc_msg_decode: NULL argument");
	memset(msg, 0, sizeof(*msg)); /* from here on *msg is a valid (empty) message */
	if (len > FEDC_MAX_MESSAGE_BYTES) {
		rc = fedc_fail(FEDC_ERR_TOO_BIG, "message of %zu bytes exceeds the %u-byte limit", len,
			       FEDC_MAX_MESSAGE_BYTES);
		goto out;
	}
	if (len == 0) {
		rc = fedc_fail(FEDC_ERR_MALFORMED, "empty message");
		goto out;
	}
	rc = fedc_msgpack_check(buf, len);
	if (rc)
		goto out;
	if (!msgpack_zone_init(&zone, 4096)) {
		rc = fedc_fail(FEDC_ERR_NOMEM, "out of memory decoding a message");
		goto out;
	}
	zone_ready = true;
	switch (msgpack_unpack(buf, len, &off, &zone, &obj)) {
	case MSGPACK_UNPACK_SUCCESS:
		rc = off == len ? decode_top(&obj, msg)
				: fedc_fail(FEDC_ERR_MALFORMED, "trailing bytes after the message");
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		rc = fedc_fail(FEDC_ERR_NOMEM, "out of memory decoding a message");
		break;
	default: /* what the scan lets through but msgpack-c refuses (an empty ext) */
		rc = fedc_fail(FEDC_ERR_MALFORMED, "not msgpack (msgpack-c refused it)");
		break;
	}
out:
	if (zone_ready)
		msgpack_zone_destroy(&zone);
	if (rc && msg)
		fedc_msg_clear(msg); /* no half-decoded message for a careless caller */
	return rc;
}
