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

#endif
