/* Shared by the fuzz harnesses (docs/fuzzing.md).
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput(). With clang and
 * -DFEDC_FUZZ=ON it is linked with libFuzzer; otherwise with replay_main.c,
 * which feeds it every file of its corpus and regressions directories, so
 * that a plain `ctest -L fuzz` replays what fuzzing found.
 *
 * Contract of a harness: deterministic, no leaks, no output on success, and
 * files only inside fuzz_tmpdir(). A broken property calls fuzz_require(),
 * which aborts: libFuzzer then saves the input as a crash. */
#ifndef FEDC_FUZZ_H
#define FEDC_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with `what` on stderr when `ok` is false. */
void fuzz_require(bool ok, const char *what);

/* A private directory made once per process (under $TMPDIR or /tmp) and
 * removed with everything in it at exit. Aborts if it cannot be made. */
const char *fuzz_tmpdir(void);

/* Writes `len` bytes to <fuzz_tmpdir()>/<name>, replacing the file, and puts
 * its path in `path` (PATH_MAX bytes). Aborts on failure: a harness that
 * cannot write its input would silently test nothing. */
void fuzz_write_file(const char *name, const void *data, size_t len, char *path);

/* Keeps the library's logging to errors only, so that a run of millions of
 * inputs does not drown its own report. */
void fuzz_quiet_logs(void);

#endif
