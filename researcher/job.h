/* Running an experiment: discovery, plan and parameter upload, rounds that
 * tolerate failing nodes, FedAvg in canonical node order, history, final
 * evaluation. */
#ifndef FEDC_RESEARCHER_JOB_H
#define FEDC_RESEARCHER_JOB_H

#include <stdint.h>

#include "experiment.h"

/* Runs `exp` to the end. Returns the process exit code: 0 done, 1 failed,
 * 130 interrupted (SIGINT/SIGTERM). */
int job__run(const struct experiment *exp);

/* Continues the experiment whose output directory is `output_dir` from its
 * breakpoint after `round` (-1: the latest), bit for bit as if it had not
 * stopped. Same exit codes. */
int job__resume(const char *output_dir, int64_t round);

#endif
