/* Fault injection for tests: named points in the code where a process can be
 * made to die by SIGKILL, as a power cut or the OOM killer would kill it.
 * Inert unless the environment variable FEDC_CRASH_AT is set, to "NAME" (die
 * at the first pass through point NAME) or "NAME:N" (at the N-th pass). The
 * points: "upload-body" (half-way through sending a blob to the repository),
 * "round-reply" (the researcher, after a node's train reply was handled),
 * "breakpoint-write" (the researcher, with a breakpoint half written). */
#ifndef FEDC_CRASH_H
#define FEDC_CRASH_H

void fedc_crash_point(const char *name);

#endif
