/* Which nodes train in a round: all of them, or a fraction sampled with the
 * experiment's seeded generator, whose state a breakpoint saves so that a
 * resumed run samples exactly as the uninterrupted one would have. */
#ifndef FEDC_RESEARCHER_SELECTION_H
#define FEDC_RESEARCHER_SELECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "fedc/message.h"
#include "fedc/rng.h"
#include "require.h"

/* Picks max(min_count, ceil(fraction * n)) (at most n) of the `n` indices in
 * `idx` (the eligible participants, ascending) and moves them, ascending, to
 * the front. Returns how many were picked. fraction >= 1 picks all without
 * drawing from the generator. */
size_t selection__sample(struct fedc_rng *r, double fraction, size_t min_count, size_t *idx, size_t n);
/* How many selection__sample picks out of n: max(min_count, ceil(fraction *
 * n)), at most n; n when fraction >= 1. (The DP accountant's sampling rate
 * is this over n.) */
size_t selection__count(double fraction, size_t min_count, size_t n);

/* Whether the node whose search reply is `reply` meets the experiment's
 * [nodes] require (require.h). When it does not, one line saying which
 * term it failed goes to `out` (the user sees why each node is left out). */
bool selection__admits(const struct require *req, const struct fedc_msg *reply, FILE *out);

#endif
