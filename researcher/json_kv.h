/* The JSON shapes the researcher's files share (history.jsonl, the node
 * logs, status.json): numbers that may not be finite, and name -> number
 * lists such as a reply's metrics. */
#ifndef FEDC_RESEARCHER_JSON_KV_H
#define FEDC_RESEARCHER_JSON_KV_H

#include <jansson.h>
#include <stdint.h>

#include "fedc/message.h"

/* A JSON real, or null for NAN and infinities (JSON has no such numbers). */
json_t *json_kv__number(double v);

/* {"name": value, ...} of the `n` pairs in order (values through
 * json_kv__number); NULL when out of memory. */
json_t *json_kv__object(const struct fedc_msg_kv *list, uint32_t n);

/* Adds to `obj` what a node's train reply says of its round: n_samples,
 * n_test, metrics, global_metrics, download_s, train_s, upload_s and, when
 * present, params_digest (the history's node records and the node logs
 * carry the same keys). */
void json_kv__add_reply(json_t *obj, const struct fedc_msg *r);

#endif
