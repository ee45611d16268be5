/* The live view of a round: which nodes are training, their latest reported
 * value (loss) and counters, who answered and who failed. On a terminal it
 * is one line redrawn in place; otherwise plain lines, at most one per node
 * per second, so that logs stay readable. */
#ifndef FEDC_RESEARCHER_PROGRESS_H
#define FEDC_RESEARCHER_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fedc/err.h"

struct progress;

/* `out` is where lines go (stdout); `tty` whether to redraw in place
 * (progress__is_tty(out) tells for a real stream). */
FEDC_NODISCARD
enum fedc_err progress__new(FILE *out, bool tty, struct progress **out_progress);
void progress__free(struct progress *pg);
bool progress__is_tty(FILE *out);

/* Starts a round over `n` nodes (their ids are copied). Round rounds + 1 is
 * the final evaluation, and shows as such (not as "round 4/3"). */
FEDC_NODISCARD
enum fedc_err progress__round_begin(struct progress *pg, uint32_t round, uint32_t rounds,
				    const char *const *node_ids, size_t n);
/* Node-level DP: the experiment's epsilon after the round, shown beside the
 * round's label from the next round_begin on; NaN (the default) shows none. */
void progress__set_epsilon(struct progress *pg, double epsilon);
/* A `scalar` a node streamed; `now_ms` is the caller's monotonic clock. */
void progress__scalar(struct progress *pg, int64_t now_ms, const char *node_id, const char *name, double value,
		      uint64_t iteration, uint32_t epoch);
void progress__answered(struct progress *pg, int64_t now_ms, const char *node_id);
void progress__failed(struct progress *pg, int64_t now_ms, const char *node_id);
/* Clears the live line (terminal) before the round's summary is printed. */
void progress__round_end(struct progress *pg);

#endif
