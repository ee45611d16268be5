/* How often a node answers refused requests. A refused request (unknown
 * key, bad signature, replay, malformed) gets an `error` reply so that its
 * researcher can see why; but whoever can publish on the node's topics could
 * then make the node publish as fast as they send. So a signer (the name the
 * envelope claims; "" for unsigned messages) gets at most REFUSAL_SIGNER_BURST
 * such replies at once, then one more per REFUSAL_SIGNER_INTERVAL_MS (a token
 * bucket), and all signers together at most REFUSAL_MAX_PER_SECOND per
 * second, however many names a flood makes up.
 * Refusals over the limit are still logged. docs/security.md ("Refused
 * requests"). */
#ifndef FEDC_NODE_REFUSAL_LIMIT_H
#define FEDC_NODE_REFUSAL_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "fedc/message.h"

#define REFUSAL_SIGNER_BURST 5
#define REFUSAL_SIGNER_INTERVAL_MS 10000
#define REFUSAL_MAX_PER_SECOND 5
#define REFUSAL_SIGNERS 128 /* signers remembered; the least recent is forgotten first */

struct refusal_limit {
	struct {
		char signer[FEDC_MAX_ID_LEN + 1];
		int64_t refilled_ms; /* when its last token came back */
		int64_t used_ms;     /* its last reply, to forget the least recent */
		unsigned tokens;
		bool used;
	} recent[REFUSAL_SIGNERS];
	int64_t second_start_ms;
	unsigned in_second;
};

/* True if a reply to a refused request from `signer` may go out at `now_ms`
 * (and counts it); false if it must be dropped. Zero-initialise the struct
 * before the first call. */
bool refusal_limit__allow(struct refusal_limit *rl, const char *signer, int64_t now_ms);

#endif
