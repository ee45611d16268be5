/* The seccomp filter of a plan's child process (docs/security.md).
 *
 * An allow list: the calls training needs pass; the calls that would let a
 * plan reach beyond its round (network sockets, running programs, creating
 * processes, writing to the file system, signalling or tracing other
 * processes, raising its limits, memory and IPC that its limits would not
 * see, clearing its parent-death signal, administration) raise SIGSYS, and
 * the handler writes one report line naming the call ("error sandbox: the
 * plan called socket() ...") to SANDBOX_REPORT_FD and ends the process with
 * SECCOMP_POLICY_EXIT_CODE; every other call fails with ENOSYS.
 *
 * The file is not named seccomp.h on purpose: node/ is on the include path,
 * and <seccomp.h> must keep meaning libseccomp's header. */
#ifndef FEDC_NODE_SECCOMP_POLICY_H
#define FEDC_NODE_SECCOMP_POLICY_H

#include "fedc/err.h"

#define SECCOMP_POLICY_EXIT_CODE 125

/* Installs the SIGSYS handler and loads the filter into every thread of the
 * calling process; it holds for the rest of the process's life and for
 * anything it might start. FEDC_OK, or FEDC_ERR_UNSUPPORTED / FEDC_ERR_NOMEM /
 * FEDC_ERR_IO (also: libseccomp cannot be loaded, lazy/lazy_require.h) with
 * the reason in fedc_last_error(): the caller must then not run the plan. */
FEDC_NODISCARD
enum fedc_err seccomp_policy__install(void);

#endif
