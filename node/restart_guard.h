/* What keeps the replay guard whole across a machine restart.
 *
 * A node records every accepted nonce (table seen_requests) so that a
 * captured command replayed later is refused, also after the daemon
 * restarts. Those records are committed without an fsync (one per command
 * cost a tenth of a small-model round): a commit reaches the operating
 * system at once, so a crash or kill of the daemon loses none, but a power
 * loss or a kernel crash can lose the last ones. Either means the machine
 * restarts, with a new boot id: a daemon that finds the boot id changed
 * since it last ran refuses every command stamped before its own start.
 * Every command whose record may have been lost is such a command. */
#ifndef FEDC_NODE_RESTART_GUARD_H
#define FEDC_NODE_RESTART_GUARD_H

#include <stdint.h>

#include "fedc/err.h"

/* Compares the machine's boot id with the one kept in `data_dir`/boot_id
 * (and keeps the new one). *not_before_ms is 0 when the machine has not
 * restarted since, else `now_ms`: commands stamped before it are to be
 * refused. An unreadable boot id counts as a restart. FEDC_ERR_IO when the
 * boot id cannot be kept. */
FEDC_NODISCARD
enum fedc_err restart_guard__not_before(const char *data_dir, int64_t now_ms, int64_t *not_before_ms);

#endif
