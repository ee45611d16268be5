/* The MQTT message schema and its validating msgpack codec.
 *
 * Every payload is one msgpack map carrying protocol_version, command,
 * request_id and the sender's id (researcher_id or node_id). Which other fields
 * a command carries, their msgpack types, whether they are required and their
 * bounds are fixed by one schema table in message.c; encoding and decoding
 * both follow it, and docs/protocol.md is generated from it
 * (`fedc-researcher protocol-doc`). Decoding rejects, with FEDC_ERR_MALFORMED
 * and a detail naming the field: bytes that are not msgpack or not one map,
 * an unknown or missing command, an unknown field for that command, a missing
 * required field, a wrong type, a string or list over its bound, a number out
 * of its range, a wrong protocol version, and trailing bytes. */
#ifndef FEDC_MESSAGE_H
#define FEDC_MESSAGE_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/limits.h"
#include "fedc/session_key.h"
#include "fedc/uuid.h"

enum fedc_cmd {
	FEDC_CMD_NONE = 0,
	FEDC_CMD_PING,              /* researcher -> nodes */
	FEDC_CMD_PONG,              /* node -> researcher */
	FEDC_CMD_SEARCH,            /* researcher -> nodes: datasets carrying all `tags` */
	FEDC_CMD_SEARCH_REPLY,      /* node -> researcher, sent even with zero datasets */
	FEDC_CMD_LIST,              /* researcher -> nodes: all datasets */
	FEDC_CMD_LIST_REPLY,
	FEDC_CMD_APPROVAL,          /* researcher -> nodes: register plan_digest as pending */
	FEDC_CMD_APPROVAL_REPLY,
	FEDC_CMD_PLAN_STATUS,       /* "training-plan-status" */
	FEDC_CMD_PLAN_STATUS_REPLY, /* "training-plan-status-reply" */
	FEDC_CMD_TRAIN,             /* researcher -> one node */
	FEDC_CMD_TRAIN_REPLY,
	FEDC_CMD_SCALAR,            /* node -> researcher, during a round */
	FEDC_CMD_ERROR,             /* node -> researcher, answers any request */
	FEDC_CMD_STATUS,            /* node -> status topic (retained), and its last will */
	FEDC_CMD_SECAGG,            /* researcher -> one node: a secure-aggregation step */
	FEDC_CMD_SECAGG_REPLY,      /* node -> researcher: its part of a secure-aggregation step */
	FEDC_CMD_ANALYTICS,         /* researcher -> nodes: statistics of datasets carrying all `tags` */
	FEDC_CMD_ANALYTICS_REPLY,   /* node -> researcher: its partial results */
	FEDC_CMD__COUNT
};

/* One bit per field of struct fedc_msg, for `present` (as many 64-bit words
 * as the fields need: the protocol is not capped at 64 fields). */
enum fedc_field {
	FEDC_F_PROTOCOL_VERSION, FEDC_F_COMMAND, FEDC_F_REQUEST_ID,
	FEDC_F_RESEARCHER_ID, FEDC_F_NODE_ID,
	FEDC_F_TAGS, FEDC_F_DATASETS,
	FEDC_F_PLAN_DIGEST, FEDC_F_PLAN_NAME, FEDC_F_PLAN_STATUS, FEDC_F_DESCRIPTION, FEDC_F_SOURCE_DIGEST,
	FEDC_F_JOB_ID, FEDC_F_ROUND, FEDC_F_DATASET_ID, FEDC_F_PARAMS_DIGEST,
	FEDC_F_MODEL_ARGS, FEDC_F_LR, FEDC_F_EPOCHS, FEDC_F_NUM_UPDATES, FEDC_F_BATCH_SIZE,
	FEDC_F_SEED, FEDC_F_TEST_RATIO, FEDC_F_FEDPROX_MU, FEDC_F_OPTIMIZER, FEDC_F_EVALUATE_ONLY,
	FEDC_F_TEST_ON_GLOBAL, FEDC_F_TEST_ON_LOCAL,
	FEDC_F_SECAGG, FEDC_F_SECAGG_SCALE_BITS, FEDC_F_SECAGG_VALUE_MAX, FEDC_F_SECAGG_WEIGHT_MAX,
	FEDC_F_SECAGG_THRESHOLD, FEDC_F_SECAGG_NEIGHBOURS, FEDC_F_SECAGG_RING_BITS,
	FEDC_F_DP_CLIP, FEDC_F_DP_NOISE, FEDC_F_DP_DELTA, FEDC_F_DP_PARTIES,
	FEDC_F_SECAGG_STEP, FEDC_F_SECAGG_DATA,
	FEDC_F_N_SAMPLES, FEDC_F_N_TEST, FEDC_F_METRICS, FEDC_F_GLOBAL_METRICS,
	FEDC_F_DOWNLOAD_S, FEDC_F_TRAIN_S, FEDC_F_UPLOAD_S,
	FEDC_F_NAME, FEDC_F_VALUE, FEDC_F_ITERATION, FEDC_F_EPOCH,
	FEDC_F_ERROR_CODE, FEDC_F_MESSAGE,
	FEDC_F_STATE,
	/* capabilities (docs/protocol.md "Capabilities"), in status and dataset replies */
	FEDC_F_CAPABILITIES, FEDC_F_DATASET_KINDS, FEDC_F_SDK_VERSION,
	FEDC_F_ANALYTICS_QUERY, FEDC_F_ANALYTICS_RESULT,
	/* using the final model at the nodes (docs/researcher-guide.md, "Predicting with the final model") */
	FEDC_F_ASSESS, FEDC_F_ASSESS_ARGS, FEDC_F_ASSESS_RESULT,
	/* parameters inline (docs/protocol.md, "Parameters inline") */
	FEDC_F_PARAMS, FEDC_F_INLINE_PARAMS_MAX,
	/* per-job session keys (docs/protocol.md, "Envelope version 3") */
	FEDC_F_SESSION_KX,
	FEDC_F__COUNT
};

#define FEDC_MSG_PRESENT_WORDS ((FEDC_F__COUNT + 63) / 64)

#define FEDC_DIGEST_BUF 129 /* hex digest (up to 128) + NUL */
#define FEDC_SHORT_BUF 33   /* short enum-like strings + NUL */
#define FEDC_MAX_ANALYTICS_QUERY 2047              /* bytes of an analytics query */
#define FEDC_MAX_ANALYTICS_RESULT (48u * 1024u)    /* bytes of a node's analytics partials */
#define FEDC_MAX_ASSESS_ARGS 2047                  /* bytes of an assessment's key=value lines */
#define FEDC_MAX_ASSESS_RESULT (48u * 1024u)       /* bytes of a node's assessment lines */

/* A dataset as described in search and list replies. */
struct fedc_msg_dataset {
	char dataset_id[FEDC_MAX_ID_LEN + 1];
	char name[FEDC_MAX_NAME_LEN + 1];
	char type[FEDC_SHORT_BUF];            /* "csv", "idx" */
	uint32_t n_tags;
	char tags[FEDC_MAX_TAGS][FEDC_MAX_TAG_LEN + 1];
	uint64_t n_samples;
	uint64_t n_features;
	uint32_t n_classes;
	/* Optional (absent: ""): one sample's shape, "30" (a table's features),
	 * "28x28" (IDX), "1x28x28" (images, channels first). */
	char shape[FEDC_SHORT_BUF * 3];
};

/* A named number: model arguments, metrics. */
struct fedc_msg_kv {
	char name[FEDC_MAX_NAME_LEN + 1];
	double value;
};

/* A decoded (or to-be-encoded) message. Which fields mean something is said by
 * `present` (fedc_msg_set / fedc_msg_has); the command's schema says which
 * must be there. Strings are NUL-terminated and within their bound. The
 * datasets of a search or list reply, up to 64 of 1.3 KiB each, are
 * allocated to their number (fedc_msg_datasets_alloc; decode does it), so
 * the struct itself is about 12 KiB: still allocate it rather than put it on
 * a small stack. It owns `datasets`: release it with fedc_msg_free or
 * fedc_msg_clear, never free() alone, and do not copy it by value. */
struct fedc_msg {
	uint64_t present[FEDC_MSG_PRESENT_WORDS];
	uint64_t protocol_version;
	enum fedc_cmd command;
	char request_id[FEDC_UUID_STRLEN + 1];
	char researcher_id[FEDC_MAX_ID_LEN + 1];
	char node_id[FEDC_MAX_ID_LEN + 1];

	/* discovery */
	uint32_t n_tags;
	char tags[FEDC_MAX_TAGS][FEDC_MAX_TAG_LEN + 1];
	uint32_t n_datasets;
	struct fedc_msg_dataset *datasets;   /* n_datasets entries, owned by the message */

	/* training plans */
	char plan_digest[FEDC_DIGEST_BUF];
	char plan_name[FEDC_MAX_NAME_LEN + 1];
	char plan_status[FEDC_SHORT_BUF];     /* approved, pending, rejected, unknown */
	char description[FEDC_MAX_TEXT_LEN + 1];
	char source_digest[FEDC_DIGEST_BUF];  /* approval: the plan's source bundle, SHA-256 */

	/* train request */
	char job_id[FEDC_UUID_STRLEN + 1];
	uint64_t round;
	char dataset_id[FEDC_MAX_ID_LEN + 1];
	char params_digest[FEDC_DIGEST_BUF]; /* request: global params; reply: the update */
	uint32_t n_model_args;
	struct fedc_msg_kv model_args[FEDC_MAX_ARGS];
	double lr;
	uint64_t epochs;
	uint64_t num_updates;
	uint64_t batch_size;
	uint64_t seed;
	double test_ratio;
	double fedprox_mu;
	char optimizer[FEDC_SHORT_BUF];
	bool evaluate_only;                  /* evaluate the global params, do not train */
	bool test_on_global;                 /* evaluate the received params before training */
	bool test_on_local;                  /* evaluate the trained params on the test rows */
	/* privacy (docs/privacy.md) */
	bool secagg;                         /* secure aggregation of the update */
	uint64_t secagg_scale_bits;          /* fixed point: values times 2^scale_bits */
	double secagg_value_max;             /* bound on |value| a node may encode */
	uint64_t secagg_weight_max;          /* bound on the weight (sample count) a node may encode */
	uint64_t secagg_threshold;           /* shares that rebuild a node's secrets */
	uint64_t secagg_neighbours;          /* SecAgg+ graph degree (0: everyone) */
	uint64_t secagg_ring_bits;           /* the masked vector's ring: 32 or 64 (absent: 64) */
	double dp_clip;                      /* node-level DP: L2 bound on the update's change */
	double dp_noise;                     /* noise multiplier of the round's sum */
	double dp_delta;                     /* the delta the node's accountant uses */
	uint64_t dp_parties;                 /* the noise is split among this many nodes */
	char secagg_step[FEDC_SHORT_BUF];    /* keys, keyset, shares, unmask, abort */
	uint8_t *secagg_data;                /* owned; secagg_data_len bytes (common/src/secagg_wire.c) */
	uint32_t secagg_data_len;

	/* train reply */
	uint64_t n_samples;                  /* training samples used (FedAvg weight) */
	uint64_t n_test;
	uint32_t n_metrics;                  /* after local training */
	struct fedc_msg_kv metrics[FEDC_MAX_METRICS];
	uint32_t n_global_metrics;           /* of the received global params, before training */
	struct fedc_msg_kv global_metrics[FEDC_MAX_METRICS];
	double download_s, train_s, upload_s;

	/* scalar */
	char name[FEDC_MAX_NAME_LEN + 1];
	double value;
	uint64_t iteration;
	uint64_t epoch;

	/* error */
	char error_code[FEDC_SHORT_BUF];     /* fedc_strerror() name */
	char message[FEDC_MAX_TEXT_LEN + 1];

	/* status */
	char state[FEDC_SHORT_BUF];          /* "online", "offline" */

	/* capabilities: optional in status, search-reply and list-reply; a node
	 * of an older version leaves them out (fedc/caps.h names the entries) */
	uint32_t n_capabilities;
	struct fedc_msg_kv capabilities[FEDC_MAX_CAPS];
	uint32_t n_dataset_kinds;            /* the kinds of dataset the node holds */
	char dataset_kinds[FEDC_MAX_DATASET_KINDS][FEDC_SHORT_BUF];
	char sdk_version[FEDC_SHORT_BUF];    /* "0.1.0": the plan SDK the node was built with */
	/* analytics (docs/researcher-guide.md, "Federated analytics") */
	char analytics_query[FEDC_MAX_ANALYTICS_QUERY + 1]; /* key=value lines (node/analytics_query.h) */
	uint8_t *analytics_result;           /* owned; analytics_result_len bytes of text (node/analytics.h) */
	uint32_t analytics_result_len;
	/* assessing the final model in an evaluate_only train (node/assess.h) */
	char assess[FEDC_SHORT_BUF];         /* "predict", "explain" (node/assess.h lists the kinds) */
	char assess_args[FEDC_MAX_ASSESS_ARGS + 1]; /* key=value lines for that kind */
	uint8_t *assess_result;              /* owned; assess_result_len bytes of text lines */
	uint32_t assess_result_len;
	/* parameters inline: the parameter file whose SHA-256 is params_digest,
	 * carried in the message instead of the repository; the receiver hashes
	 * it and refuses a mismatch (it is also covered by the signature) */
	uint8_t *params;                     /* owned unless params_borrowed; params_len bytes */
	uint32_t params_len;
	bool params_borrowed;                /* fedc_msg_borrow_params: the caller's bytes, not freed here */
	uint64_t inline_params_max;          /* train: the node may answer its update inline up to this */
	/* Not a field: how the message travels (fedc/channel.h). Outgoing: seal
	 * it in a version-2 envelope, `params` as the attachment. Incoming: it
	 * came so, and `params` (if any) already matched params_digest there. */
	bool params_attached;
	/* per-job session agreement (fedc/session_key.h): an X25519 public key,
	 * FEDC_SESSION_KX_BYTES, in a signed train or train-reply */
	uint8_t *session_kx;                 /* owned; session_kx_len bytes */
	uint32_t session_kx_len;
	/* Not fields: the per-job session the message travels under (fedc/
	 * channel.h). Outgoing: seal it in a version-3 envelope with `session`.
	 * Incoming: it came so, and `session` is a copy of the receiver's
	 * session that authenticated it. fedc_msg_clear and fedc_msg_free wipe
	 * the keys. */
	bool via_session;
	struct fedc_session session;
};

/* "ping", "search-reply", "training-plan-status" ...; NULL if out of range. */
const char *fedc_cmd_name(enum fedc_cmd cmd);
/* FEDC_CMD_NONE if unknown. */
enum fedc_cmd fedc_cmd_parse(const char *name);
/* Checks that `buf` is exactly one msgpack object whose declared lengths and
 * counts all fit in the bytes present, nested at most 8 deep. Call it before
 * msgpack_unpack_next() on outside bytes: msgpack-c allocates from declared
 * counts (a 5-byte array header can ask for 96 GB). FEDC_ERR_MALFORMED. */
FEDC_NODISCARD
enum fedc_err fedc_msgpack_check(const void *buf, size_t len);

/* True for what nodes send (replies, scalars, errors, status): their sender
 * is `node_id`; the others come from `researcher_id`. */
bool fedc_cmd_from_node(enum fedc_cmd cmd);

/* Allocates a zeroed message with command, protocol_version and a fresh
 * request_id set (present bits too). Returns NULL on out-of-memory. */
struct fedc_msg *fedc_msg_new(enum fedc_cmd cmd);
/* Frees the message and what it owns (NULL allowed). */
void fedc_msg_free(struct fedc_msg *msg);
/* Frees what the message owns and zeroes it, ready for reuse. */
void fedc_msg_clear(struct fedc_msg *msg);
/* Gives the message room for `n` zeroed datasets (replacing any it had) and
 * sets n_datasets. FEDC_ERR_TOO_BIG past FEDC_MAX_DATASETS, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err fedc_msg_datasets_alloc(struct fedc_msg *msg, uint32_t n);
/* Copies `len` bytes into the message's secagg_data (replacing any) and marks
 * the field present. FEDC_ERR_TOO_BIG past FEDC_MAX_SECAGG_DATA, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err fedc_msg_set_secagg_data(struct fedc_msg *msg, const void *data, size_t len);

/* Copies `len` bytes into the message's analytics_result (replacing any) and
 * marks it present. FEDC_ERR_TOO_BIG past FEDC_MAX_ANALYTICS_RESULT,
 * FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err fedc_msg_set_analytics_result(struct fedc_msg *msg, const void *data, size_t len);

/* Copies `len` bytes into the message's assess_result (replacing any) and
 * marks it present. FEDC_ERR_TOO_BIG past FEDC_MAX_ASSESS_RESULT,
 * FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err fedc_msg_set_assess_result(struct fedc_msg *msg, const void *data, size_t len);

/* Copies `len` bytes (a parameter file) into the message's params (replacing
 * any) and marks it present. FEDC_ERR_TOO_BIG past FEDC_MAX_INLINE_PARAMS,
 * FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err fedc_msg_set_params(struct fedc_msg *msg, const void *data, size_t len);
/* Points the message's params at the caller's `len` bytes (replacing any)
 * without copying them, and marks it present: for a parameter file of up to
 * 8 MiB that goes out in several messages, or once, while the caller keeps
 * it. The bytes must outlive the message (or the next set/borrow); the
 * message never frees them, and fedc_msg_take_params hands out a copy.
 * FEDC_ERR_TOO_BIG past FEDC_MAX_INLINE_PARAMS. */
FEDC_NODISCARD
enum fedc_err fedc_msg_borrow_params(struct fedc_msg *msg, const void *data, size_t len);
/* Copies an X25519 public key into `session_kx` and marks it present.
 * FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err fedc_msg_set_session_kx(struct fedc_msg *msg, const uint8_t kx[FEDC_SESSION_KX_BYTES]);
/* Hands the message's inline params to the caller (who frees them) and
 * marks the field absent; NULL and *len 0 when it had none (or, for
 * borrowed ones, no memory for their copy). */
uint8_t *fedc_msg_take_params(struct fedc_msg *msg, size_t *len);

/* Marks a field present after the caller filled it, or absent again. */
void fedc_msg_set(struct fedc_msg *msg, enum fedc_field field);
void fedc_msg_unset(struct fedc_msg *msg, enum fedc_field field);
bool fedc_msg_has(const struct fedc_msg *msg, enum fedc_field field);

/* Encodes per the schema: every present field of the command, in schema order.
 * Fails with FEDC_ERR_INVAL (detail names the field) if a required field is
 * missing, a present field is not allowed for this command, or a value breaks
 * its bounds; FEDC_ERR_TOO_BIG past FEDC_MAX_MESSAGE_BYTES. On success *buf is
 * malloc'd and owned by the caller. */
FEDC_NODISCARD
enum fedc_err fedc_msg_encode(const struct fedc_msg *msg, void **buf, size_t *len);
/* fedc_msg_encode, leaving `params` out (it travels beside the message as an
 * envelope's attachment, fedc/sign.h). */
FEDC_NODISCARD
enum fedc_err fedc_msg_encode_without_params(const struct fedc_msg *msg, void **buf, size_t *len);

/* Decodes and validates `len` bytes into *msg, which is overwritten: pass a
 * fresh one (zeroed or not) or one emptied by fedc_msg_clear, since what it
 * owned is not freed. Never reads past `len`; never allocates from a peer's
 * count. On failure *msg is cleared. Returns FEDC_OK,
 * FEDC_ERR_MALFORMED or FEDC_ERR_TOO_BIG with a detail naming the field. */
FEDC_NODISCARD
enum fedc_err fedc_msg_decode(const void *buf, size_t len, struct fedc_msg *msg);

/* Convenience for replies: allocates a message of `cmd` answering `request`
 * (same request_id; researcher_id copied), with node_id set. NULL on OOM. */
struct fedc_msg *fedc_msg_reply(const struct fedc_msg *request, enum fedc_cmd cmd, const char *node_id);

/* Appends to a kv list field (model_args, metrics, global_metrics); returns
 * FEDC_ERR_TOO_BIG when full, FEDC_ERR_INVAL for a name over its bound. */
FEDC_NODISCARD
enum fedc_err fedc_msg_kv_add(struct fedc_msg_kv *list, uint32_t *count, uint32_t max,
			      const char *name, double value);
/* Looks a name up in a kv list; returns false if absent. */
bool fedc_msg_kv_get(const struct fedc_msg_kv *list, uint32_t count, const char *name, double *value);

/* Writes the Markdown description of every command and field (the
 * "Messages" part of docs/protocol.md) to `out`. Returns FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err fedc_msg_schema_markdown(FILE *out);

#endif
