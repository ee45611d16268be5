/* Rate limit of the replies to refused requests (refusal_limit.h). */
#include "refusal_limit.h"

#include <stdio.h>
#include <string.h>

bool refusal_limit__allow(struct refusal_limit *rl, const char *signer, int64_t now_ms)
{
	size_t slot = 0;
	bool found = false;

	if (now_ms - rl->second_start_ms >= 1000 || now_ms < rl->second_start_ms) {
		rl->second_start_ms = now_ms;
		rl->in_second = 0;
	}
	for (size_t i = 0; i < REFUSAL_SIGNERS && !found; i++) {
		if (rl->recent[i].used && strcmp(rl->recent[i].signer, signer) == 0) {
			slot = i;
			found = true;
		} else if (!rl->recent[i].used ||
			   (rl->recent[slot].used && rl->recent[i].used_ms < rl->recent[slot].used_ms)) {
			slot = i; /* a free slot, else the least recent: taken if the signer is new */
		}
	}
	if (rl->in_second >= REFUSAL_MAX_PER_SECOND)
		return false;
	if (!found) {
		memset(&rl->recent[slot], 0, sizeof(rl->recent[slot]));
		rl->recent[slot].used = true;
		rl->recent[slot].tokens = REFUSAL_SIGNER_BURST;
		rl->recent[slot].refilled_ms = now_ms;
		snprintf(rl->recent[slot].signer, sizeof(rl->recent[slot].signer), "%s", signer);
	} else if (now_ms < rl->recent[slot].refilled_ms) {
		rl->recent[slot].refilled_ms = now_ms; /* the clock went back */
	}
	while (rl->recent[slot].tokens < REFUSAL_SIGNER_BURST &&
	       now_ms - rl->recent[slot].refilled_ms >= REFUSAL_SIGNER_INTERVAL_MS) {
		rl->recent[slot].tokens++;
		rl->recent[slot].refilled_ms += REFUSAL_SIGNER_INTERVAL_MS;
	}
	if (rl->recent[slot].tokens == REFUSAL_SIGNER_BURST)
		rl->recent[slot].refilled_ms = now_ms; /* a full bucket does not bank time */
	rl->recent[slot].used_ms = now_ms;
	if (rl->recent[slot].tokens == 0)
		return false;
	rl->recent[slot].tokens--;
	rl->in_second++;
	return true;
}
