/* Fault injection for tests: named points in the code where a process can be
 * made to die by SIGKILL, as a power cut or the OOM killer would kill it.
 *
 * Compiled in only when the build has FEDC_TEST_HOOKS (the CMake option of
 * that name, which scripts/setup.sh, the test suite's build, turns on and a
 * plain configure leaves off). Without it fedc_crash_point() is a macro that
 * compiles to nothing: a released binary neither reads FEDC_CRASH_AT nor
 * holds the string (tests/hooks checks that).
 *
 * With it, inert unless the environment variable FEDC_CRASH_AT is set, to
 * "NAME" (die at the first pass through point NAME) or "NAME:N" (at the N-th
 * pass). The points: "upload-body" (half-way through sending a blob to the
 * repository, or a node's update about to leave inline in its reply), "round-reply" (the researcher, after a node's train reply was
 * handled), "breakpoint-write" (the researcher, with a breakpoint half
 * written). */
#ifndef FEDC_CRASH_H
#define FEDC_CRASH_H

#ifdef FEDC_TEST_HOOKS
void fedc_crash_point(const char *name);
#else
#define fedc_crash_point(name) ((void)0)
#endif

#endif
