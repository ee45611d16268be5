/* Running an experiment: discovery, plan and parameter upload, rounds that
 * tolerate failing nodes, FedAvg in canonical node order, history, final
 * evaluation. */
#ifndef FEDC_RESEARCHER_JOB_H
#define FEDC_RESEARCHER_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "experiment.h"

/* Makes exp->output_dir ready for a new run before anything is written there,
 * so that two runs' breakpoints and histories never mix: the breakpoints of
 * an earlier run are removed (the history files start afresh anyway). A
 * directory holding a run of another experiment file that finished a round is
 * refused (FEDC_ERR_EXISTS, the detail says how to resume it or go
 * elsewhere) unless `force`. A run of the same experiment file is replaced,
 * saying so. FEDC_ERR_IO when the breakpoints cannot be removed.
 * FEDC_ERR_CONFIG first, touching nothing, for a [privacy] combination the
 * run refuses (privacy__check_experiment). */
FEDC_NODISCARD
enum fedc_err job__claim_output(const struct experiment *exp, bool force);

/* Runs `exp` to the end. Returns the process exit code: 0 done, 1 failed,
 * 3 stopped by `fedc-researcher stop` (run_control.h) with a breakpoint,
 * 130 interrupted (SIGINT/SIGTERM). The caller holds the output directory's
 * lock (run_control__lock). */
int job__run(const struct experiment *exp);

/* Continues the experiment whose output directory is `output_dir` from its
 * breakpoint after `round` (-1: the latest), bit for bit as if it had not
 * stopped. Same exit codes. */
int job__resume(const char *output_dir, int64_t round);

#endif
