/* Running an experiment: discovery, plan and parameter upload, rounds that
 * tolerate failing nodes, FedAvg in canonical node order, history, final
 * evaluation. */
#ifndef FEDC_RESEARCHER_JOB_H
#define FEDC_RESEARCHER_JOB_H

#include "experiment.h"

/* Runs `exp` to the end. Returns the process exit code: 0 done, 1 failed,
 * 130 interrupted (SIGINT/SIGTERM). */
int job__run(const struct experiment *exp);

#endif
