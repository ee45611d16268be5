/* One researcher per output directory, and a way to ask it to stop.
 *
 *   OUTPUT_DIR/researcher.lock  held with flock(LOCK_EX) by the researcher
 *                               running there (run or resume), for as long
 *                               as it runs; holds its pid as text. The
 *                               kernel drops the lock when the process ends,
 *                               however it ends, so "live" never rests on a
 *                               pid that another process may have taken.
 *   OUTPUT_DIR/stop.request     written by `fedc-researcher stop` while the
 *                               lock is held; the researcher looks for it
 *                               before each round and stops there, its
 *                               breakpoint saved. Removed when a researcher
 *                               takes the lock and when it ends, so that a
 *                               request never outlives the run it was for.
 * docs/researcher-guide.md ("Looking in on a run") describes the commands. */
#ifndef FEDC_RESEARCHER_RUN_CONTROL_H
#define FEDC_RESEARCHER_RUN_CONTROL_H

#include <stdbool.h>
#include <sys/types.h>

#include "fedc/err.h"

/* Takes the lock of `output_dir` for the rest of this process's life and
 * clears a stale stop request; `create`: make the directory if missing (run),
 * else FEDC_ERR_NOT_FOUND (resume). FEDC_ERR_EXISTS when another researcher
 * holds it (the detail names its pid and the status and stop commands),
 * FEDC_ERR_IO otherwise. */
FEDC_NODISCARD
enum fedc_err run_control__lock(const char *output_dir, bool create);

/* Whether a researcher holds the lock of `output_dir` now; *pid gets the pid
 * it wrote (or the last one that ran there when none does, 0 if unknown). */
bool run_control__live(const char *output_dir, pid_t *pid);

/* Asks the researcher running in `output_dir` to stop before its next round.
 * FEDC_ERR_NOT_FOUND when none runs there (nothing written), FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err run_control__request_stop(const char *output_dir);

/* For the researcher holding the lock: whether a stop was asked for. */
bool run_control__stop_requested(const char *output_dir);

/* For the researcher holding the lock, as it ends: drops a stop request that
 * came too late to act on. */
void run_control__end(const char *output_dir);

#endif
